/**
 * Structural rules, language-independent: chat-template control tokens and role markers that
 * only a model's own serving stack should emit. In untrusted content they are an attempt to
 * open a new (fake) system or user turn. Normalisation joins short underscored pieces, so
 * `im_start` may read `imstart`.
 */
import type { Rule } from '../rules.js';

export const STRUCTURAL_RULES: readonly Rule[] = [
  { id: 'tpl.chatml_system', type: 'fake_system', lang: 'any', weight: 0.7, pattern: '<\\|im\\_?start\\|> ?(?:system|developer)' },
  { id: 'tpl.special_token', type: 'chat_template', lang: 'any', weight: 0.45, pattern: '<\\|(?:im\\_?start|im\\_?end|endoftext|eot\\_?id|start\\_?header\\_?id|end\\_?header\\_?id|system|user|assistant|begin\\_?of\\_?text|end\\_?of\\_?turn|eom\\_?id|endofprompt)\\|>' },
  { id: 'tpl.llama_header_system', type: 'fake_system', lang: 'any', weight: 0.7, pattern: '<\\|start\\_?header\\_?id\\|> ?system ?<\\|end\\_?header\\_?id\\|>' },
  { id: 'tpl.inst', type: 'chat_template', lang: 'any', weight: 0.5, pattern: '(?:\\[inst\\]|\\[/inst\\])' },
  { id: 'tpl.sys', type: 'fake_system', lang: 'any', weight: 0.6, pattern: '(?:<<sys>>|<</sys>>)' },
  { id: 'tpl.gemma', type: 'chat_template', lang: 'any', weight: 0.45, pattern: '(?:<start|<end)\\_?of\\_?turn> ?(?:system|user|model)?' },
  { id: 'tpl.hash_system', type: 'fake_system', lang: 'any', weight: 0.5, pattern: '##(?:#|##)? ?(?:system|system prompt|system message|new instructions) ?:' },
  { id: 'tpl.hash_role', type: 'chat_template', lang: 'any', weight: 0.4, pattern: '##(?:#|##)? ?(?:instruction|instructions|human|assistant|user|response) ?:' },
  { id: 'tpl.human_turn', type: 'chat_template', lang: 'any', weight: 0.35, triggers: ['\n\nhuman', '\n\nuser'], pattern: '\n\n(?:human|user) ?:' },
  { id: 'tpl.assistant_turn', type: 'chat_template', lang: 'any', weight: 0.35, triggers: ['\n\nassistant', '\n\nai'], pattern: '\n\n(?:assistant|ai) ?:' },
  { id: 'tpl.system_line', type: 'fake_system', lang: 'any', weight: 0.45, triggers: ['\nsystem'], pattern: '\n(?:system|system prompt|system message) ?: ?[a-z]' },
  { id: 'tpl.system_tag', type: 'fake_system', lang: 'any', weight: 0.5, pattern: '(?:\\[system\\]|\\[system message\\]|<system>|</system>|<system\\_?prompt>|\\{system\\}|\\(system\\):|\\[admin\\]|\\[developer\\]|\\[system (?:note|notice|update|override|instruction)\\]|\\[admin (?:note|notice|update|override|instruction)\\]|\\[developer (?:note|notice|update|override|instruction)\\]|\\[operator (?:note|notice|update|override|instruction)\\])' },
];
