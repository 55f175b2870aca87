/**
 * English phrase rules. Weights are the evidence of one hit alone: an explicit override of
 * earlier instructions is near-conclusive in untrusted content; a generic "from now on you"
 * is common in benign user prompts and only adds up with other evidence.
 */
import type { Rule } from '../rules.js';

const OVERRIDE_VERB =
  "(?:ignore|ignoring|disregard|forget|override|bypass|skip|neglect|discard|abandon|set aside|cancel|pay no attention to|do not follow|don'?t follow|dont follow|stop following|stop obeying|throw out|ditch)";
const ADJ = '(?:previous|prior|above|earlier|preceding|former|original|initial|old|existing|foregoing|aforementioned|current|given|system|safety|developer|default|hidden|other)';
const VOID_ADJ = '(?:previous|prior|above|earlier|preceding|original|initial|former|system|existing|old)';
const OBJ = '(?:instructions?|prompts?|directions?|guidance|rules?|guidelines?|directives?|commands?|constraints?|context|programming|guardrails?|restrictions?|polic(?:y|ies)|orders|training|system prompt|system messages?)';
const SENSITIVE =
  "(?:conversation|chat|chat history|chat log|conversation history|history|system prompt|prompt|context window|api keys?|credentials|passwords?|secrets?|access tokens?|tokens?|private keys?|ssh keys?|env(?:ironment)? variables|\\.?env file|session cookies?|cookies|user'?s? (?:data|emails?|files|messages|passwords?)|previous messages|memory|personal (?:data|information))";
const DEST = '(?:https?:|www|[a-z0-9]{1,30}@|(?:the|this|that|my|our|following) (?:url|address|endpoint|webhook|server|link|domain|email address|inbox)|attacker|webhook)';
const EXFIL_VERB = '(?:send|post|upload|forward|email|transmit|exfiltrate|leak|submit|deliver|copy|paste|share|relay|report)';

export const EN_RULES: readonly Rule[] = [
  { id: 'en.override', type: 'instruction_override', lang: 'en', weight: 0.85, pattern: `${OVERRIDE_VERB} (?:all )?(?:of )?(?:the |your |my |these |those |any |every )?${ADJ} (?:and ${ADJ} )?(?:set of |list of )?${OBJ}\\b` },
  { id: 'en.override_all', type: 'instruction_override', lang: 'en', weight: 0.7, pattern: `${OVERRIDE_VERB} (?:all|any|every)(?: of)? (?:the |your )?(?:instructions|rules|guidelines|directives|prompts|restrictions)\\b` },
  { id: 'en.override_your', type: 'instruction_override', lang: 'en', weight: 0.6, pattern: `${OVERRIDE_VERB} your (?:instructions|rules|guidelines|directives|programming|training|guardrails|restrictions|system prompt)\\b` },
  { id: 'en.override_above', type: 'instruction_override', lang: 'en', weight: 0.75, pattern: `${OVERRIDE_VERB} (?:everything|all|anything|what(?:ever)?) (?:(?:that )?(?:was |you were |i )?(?:said|told|written|stated|given) )?(?:above|before|earlier|previously|prior|so far|until now)` },
  { id: 'en.override_above_and', type: 'instruction_override', lang: 'en', weight: 0.75, pattern: '(?:ignore|disregard|forget) (?:the|all) (?:above|previous|preceding|prior)(?: text| content| message| directions)?(?: and| then|,|\\.|;)' },
  { id: 'en.override_void', type: 'instruction_override', lang: 'en', weight: 0.8, pattern: `${VOID_ADJ} ${OBJ} (?:are|were|have been|is|has been) (?:now )?(?:void|cancell?ed|revoked|invalid|obsolete|null|overridden|superseded|lifted|disabled|no longer (?:valid|apply|applicable|relevant|in effect))` },
  { id: 'en.override_received', type: 'instruction_override', lang: 'en', weight: 0.8, pattern: `${OVERRIDE_VERB} (?:all )?(?:of )?(?:the |your |any |all )?${OBJ} (?:that )?(?:you (?:were given|received|got|have been given|were told)|(?:given|provided|sent) to you|(?:given|provided) (?:earlier|before|previously|above))` },
  { id: 'en.treat_void', type: 'instruction_override', lang: 'en', weight: 0.8, pattern: `(?:treat|consider|regard) (?:all |every |any |the |your )?${ADJ} ${OBJ} as (?:cancell?ed|void|null|obsolete|revoked|invalid|deleted|irrelevant|overridden)` },
  { id: 'en.told_no_longer', type: 'instruction_override', lang: 'en', weight: 0.75, pattern: '(?:whatever|everything|anything|all) (?:that )?you (?:were|have been) (?:told|given|instructed)_(?:no longer (?:matters|applies|counts)|(?:is|are) (?:now )?(?:void|irrelevant|cancell?ed|obsolete))' },
  { id: 'en.override_what_told', type: 'instruction_override', lang: 'en', weight: 0.75, pattern: `${OVERRIDE_VERB} (?:what|everything|anything|whatever|all) (?:that )?you (?:were|have been|got) (?:told|instructed|given|asked)\\b` },
  { id: 'en.override_obj_above', type: 'instruction_override', lang: 'en', weight: 0.75, pattern: `${OVERRIDE_VERB} (?:all )?(?:of )?(?:the |your |any |these )?${OBJ} (?:above|before this|earlier|so far|given above|listed above|from before)\\b` },
  { id: 'en.no_longer_follow', type: 'instruction_override', lang: 'en', weight: 0.7, pattern: "(?:no longer|don'?t|do not|dont) (?:have|need) to (?:follow|obey|comply with|respect|adhere to) (?:your |the |any |openai'?s? |anthropic'?s? |its )?(?:rules|policy|policies|guidelines|instructions|content policy|safety (?:guidelines|rules)|restrictions)" },
  { id: 'en.forget_told', type: 'instruction_override', lang: 'en', weight: 0.7, pattern: 'forget (?:everything|all|anything) (?:you (?:were|have been|know|learned)|that came before|(?:i|we) (?:said|told you))' },

  { id: 'en.leak', type: 'prompt_leak', lang: 'en', weight: 0.75, pattern: '(?:reveal|show|print|display|output|repeat|tell me|give me|share|disclose|leak|dump|expose|write out|spell out|recite|paste|list|return|type out|echo) (?:me )?(?:all )?(?:of )?(?:your|the|its|this) (?:full |entire |complete |exact |original |initial |hidden |secret |internal |verbatim |current )?(?:system|initial|hidden|original|secret|internal|developer|pre ?prompt|base|confidential) ?(?:prompt|instructions|message)' },
  { id: 'en.leak_what', type: 'prompt_leak', lang: 'en', weight: 0.5, triggers: ['what is your', 'what are your', 'what were your', 'what was your', 'whatisyour', 'whatareyour'], pattern: 'what (?:is|are|were|was) your (?:system |initial |original |hidden |secret |full |exact )(?:prompt|instructions)' },
  { id: 'en.leak_above', type: 'prompt_leak', lang: 'en', weight: 0.55, pattern: '(?:repeat|print|output|reproduce|copy|echo) (?:back )?(?:all )?(?:of )?(?:the |everything |all )?(?:text |words |content |lines |instructions )?(?:above|before this|verbatim|preceding this)' },
  { id: 'en.leak_instructions_verbatim', type: 'prompt_leak', lang: 'en', weight: 0.6, pattern: '(?:print|repeat|output|show|reveal) (?:your|the) (?:instructions|prompt|rules) (?:verbatim|word for word|exactly|in full)' },

  { id: 'en.leak_received', type: 'prompt_leak', lang: 'en', weight: 0.65, pattern: '(?:show|print|reveal|tell|repeat|display|list|output|give|write out|dump) (?:me |us )?(?:all )?(?:of )?(?:the |your )?(?:exact |full |original |initial |hidden |secret |internal |confidential |private |underlying )?(?:instructions|prompt|rules|guidelines|directives) (?:that )?(?:you (?:were|have been) given|you received|you got|given to you|you were told|you started with|at the (?:start|beginning))' },
  { id: 'en.as_if_no_rules', type: 'role_hijack', lang: 'en', weight: 0.6, pattern: "as if (?:you (?:had|have|were under) )?(?:no|zero) (?:safety |content |ethical |moral )?(?:rules|restrictions|filters|guidelines|limits|policy|policies|limitations)" },
  { id: 'en.role_now', type: 'role_hijack', lang: 'en', weight: 0.8, pattern: "(?:you are|you're|youre) (?:now |going to be |from now on )(?:dan\\b|stan\\b|an? (?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|unlimited|amoral|unbound|free)|in (?:developer|dan|god|jailbreak|unrestricted|debug|admin|maintenance|root) mode|(?:free|freed|liberated|released) from|no longer (?:bound|restricted|an ai|chatgpt|claude|an assistant|limited)|(?:able|allowed|permitted) to (?:do anything|say anything|ignore))" },
  { id: 'en.role_generic', type: 'role_hijack', lang: 'en', weight: 0.3, pattern: "(?:you are|you're) now (?:a|an|the|my) " },
  { id: 'en.dan', type: 'role_hijack', lang: 'en', weight: 0.8, pattern: 'do anything now\\b' },
  { id: 'en.mode_on', type: 'role_hijack', lang: 'en', weight: 0.75, pattern: '(?:developer|god|jailbreak|dan|unrestricted|unfiltered|evil|admin|sudo|debug) mode (?:is )?(?:now )?(?:enabled|activated|on\\b|engaged|unlocked)' },
  { id: 'en.mode_enable', type: 'role_hijack', lang: 'en', weight: 0.7, pattern: '(?:enable|activate|enter|switch to|turn on) (?:the )?(?:developer|god|jailbreak|dan|unrestricted|unfiltered) mode' },
  { id: 'en.act_as', type: 'role_hijack', lang: 'en', weight: 0.7, pattern: "(?:act as|pretend (?:that )?(?:you are|you're|to be)|roleplay as|behave as|respond as) (?:an? |my )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue|amoral|dan\\b|ai (?:with no|without)|assistant (?:with no|without)|model (?:with no|without))" },
  { id: 'en.no_limits', type: 'role_hijack', lang: 'en', weight: 0.25, pattern: '(?:without any|without|with no|with zero|free (?:of|from)) (?:restrictions|filters|limitations|limits|censorship|ethical (?:guidelines|constraints)|safety (?:guidelines|filters|rules))' },
  { id: 'en.jailbreak', type: 'role_hijack', lang: 'en', weight: 0.25, pattern: 'jailbr(?:eak|oken)' },

  { id: 'en.new_instructions', type: 'new_instructions', lang: 'en', weight: 0.55, pattern: '(?:new|updated|revised|real|actual|true|secret|hidden|additional|override|priority|important|urgent) (?:instructions?|rules|task|directive|system prompt|orders) ?:' },
  { id: 'en.new_task', type: 'new_instructions', lang: 'en', weight: 0.55, pattern: 'your (?:new|real|actual|true|only|primary) (?:task|goal|objective|purpose|instructions?|mission|job) (?:is|are|now is)\\b' },
  { id: 'en.here_new', type: 'new_instructions', lang: 'en', weight: 0.6, pattern: '(?:here are|these are|follow|obey) (?:your|the|my|these) new (?:instructions|rules|orders|directives)' },
  { id: 'en.from_now_on', type: 'new_instructions', lang: 'en', weight: 0.35, pattern: 'from now on,? (?:you (?:are|will|must|shall|should|have to|can|only)|respond|answer|reply|act|behave|always|only|ignore)' },
  { id: 'en.instead', type: 'new_instructions', lang: 'en', weight: 0.3, pattern: 'instead,? (?:you (?:must|should|will) )?(?:(?:only )?(?:say|respond|reply|output|print|write) (?:only )?(?:with )?["\'`]|do the following)' },

  { id: 'en.fake_system', type: 'fake_system', lang: 'en', weight: 0.6, pattern: '(?:system|admin|administrator|developer|root|sudo|operator) (?:override|command|directive)\\b' },
  { id: 'en.this_is_system', type: 'fake_system', lang: 'en', weight: 0.6, pattern: 'this is (?:a|an|the|your) (?:system|admin|administrator|developer|root|openai|anthropic) (?:message|override|instruction|command|notice|prompt)' },
  { id: 'en.system_colon', type: 'fake_system', lang: 'en', weight: 0.4, pattern: '(?:system|admin|developer) (?:message|instruction|notice|prompt|update) ?:' },
  { id: 'en.begin_system', type: 'fake_system', lang: 'en', weight: 0.4, pattern: '(?:begin|start|end) (?:of )?(?:the )?(?:system|admin|new|real) (?:prompt|instructions|message)' },

  { id: 'en.to_the_ai', type: 'directive', lang: 'en', weight: 0.5, pattern: '(?:message|note|instructions?|attention|important|notice|reminder) (?:to|for) (?:the |any |all )?(?:ai|assistant|llm|language model|model|agent|chatbot|bot|gpt|chatgpt|claude|copilot|gemini)s?\\b' },
  { id: 'en.if_ai', type: 'directive', lang: 'en', weight: 0.55, pattern: 'if you are an? (?:ai|llm|language model|ai assistant|large language model|chatbot|automated (?:agent|assistant|system)|assistant|ai agent|bot)\\b' },
  { id: 'en.ai_reading', type: 'directive', lang: 'en', weight: 0.5, pattern: '(?<=(?:ai|llm|assistant|agent|model|bot)s? ?)(?:reading|processing|summari[sz]ing|parsing|analy[sz]ing) this' },
  { id: 'en.dear_ai', type: 'directive', lang: 'en', weight: 0.45, triggers: ['dear', 'hey ai', 'hi ai', 'hello ai', 'hey assistant', 'hi assistant', 'hello assistant', 'hi chatgpt', 'hey chatgpt', 'hello chatgpt', 'hi claude', 'hey claude', 'hello claude', 'hi model', 'hello model', 'hi agent', 'hello agent'], pattern: '(?:dear|hey|hi|hello) (?:ai|assistant|llm|model|agent|chatgpt|claude|gpt|copilot|gemini)\\b(?! (?:team|teams|manager|managers|director|editors?|coach|staff|professor|teacher|lead|group|department|desk|position|role|job)\\b)' },
  { id: 'en.hide_from_user', type: 'secrecy', lang: 'en', weight: 0.4, pattern: "(?:do not|don'?t|dont|never) (?:tell|inform|alert|notify|mention (?:this )?to|reveal (?:this )?to|show|warn|let) (?:the |your )?user" },
  { id: 'en.without_telling', type: 'secrecy', lang: 'en', weight: 0.4, pattern: '(?:without|before) (?:telling|informing|notifying|asking|alerting|warning|consulting) (?:the |your )?user' },
  { id: 'en.keep_secret', type: 'secrecy', lang: 'en', weight: 0.4, pattern: "keep (?:this|these instructions|it) (?:secret|hidden|confidential) from (?:the |your )?user" },
  { id: 'en.assistant_must', type: 'directive', lang: 'en', weight: 0.3, pattern: '(?<=(?:the|this|any|an?) )(?:assistant|model|agent|llm) (?:must|should|will|shall|needs to) (?:now |immediately |instead |always )?(?:ignore|send|forward|call|execute|run|delete|output|respond|reply|say|include|visit|fetch|open)\\b' },

  // Tool poisoning: an MCP tool description that gives the model side tasks.
  { id: 'en.tool_side_task', type: 'directive', lang: 'en', weight: 0.4, triggers: ['before using', 'before calling', 'before invoking', 'before running', 'before this tool', 'when using', 'when calling', 'when invoking', 'when this tool', 'whenever', 'after using', 'after calling', 'each time', 'every time', 'beforeusing', 'whenusing', 'beforecalling', 'whencalling'], pattern: '(?:before|when|whenever|after|each time|every time) (?:using|calling|invoking|running|this tool is (?:used|called|available))(?: this tool)?,? (?:you must |always |first |also |the assistant must )' },
  { id: 'en.sensitive_path', type: 'exfiltration', lang: 'en', weight: 0.3, pattern: '(?:read|cat|open|load|include|attach|pass|send|upload|get) (?:the )?(?:contents? of )?(?:~/\\.ssh|~/\\.aws|id_rsa|id_ed25519|/etc/(?:passwd|shadow)|\\.env\\b|credentials\\.json|\\.npmrc|\\.netrc|\\.git-?credentials)' },
  { id: 'en.important_tag', type: 'fake_system', lang: 'en', weight: 0.3, pattern: '(?:<important>|<instructions?>|<secret>|<hidden>)' },
  { id: 'en.exfil_sensitive', type: 'exfiltration', lang: 'en', weight: 0.75, pattern: `${EXFIL_VERB} (?:me )?(?:all |the |your |this |my |their |any |our )?(?:full |entire |complete |current |previous |whole |stored )?(?:transcript|${SENSITIVE})_(?:to|into|at|via|using|in) ${DEST}` },
  { id: 'en.exfil_generic', type: 'exfil_request', lang: 'en', weight: 0.45, pattern: `${EXFIL_VERB} (?:it|them|this|that|everything|all|the (?:contents?|data|results?|output|files?|information|text|summary|document|answers?|above))_(?:to|into|at|via) ${DEST}` },
  { id: 'en.exfil_secret', type: 'exfiltration', lang: 'en', weight: 0.45, pattern: '(?:send|post|upload|forward|email|transmit|exfiltrate|leak) (?:me )?(?:all |the |your |any )?(?:conversation history|chat history|system prompt|api keys?|credentials|passwords|secrets|private keys?|ssh keys?|environment variables|session cookies?|\\.env)' },
  { id: 'en.exfil_url', type: 'exfiltration', lang: 'en', weight: 0.55, pattern: '(?:append|add|include|insert|embed|encode) (?:the |all |your |this |their )?_(?:to|in|into|as) (?:the |a |this |an )?(?:url|query string|query parameter|link|image (?:url|link|source)|request url|get parameter)' },
  { id: 'en.exfiltrate', type: 'exfiltration', lang: 'en', weight: 0.35, pattern: 'exfiltrat' },
  { id: 'en.render_image', type: 'exfiltration', lang: 'en', weight: 0.2, pattern: '(?:render|display|show|output|include|embed) (?:this |the following |an? |the )?(?:markdown )?image\\b' },
];
