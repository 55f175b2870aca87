/**
 * Phrase rules and the matcher that runs them over a normalised view.
 *
 * Matching is two-stage so ordinary text costs one pass: a single alternation of literal
 * trigger words (the prefilter) finds candidate positions, and only there are the rules that
 * start with that trigger tried, anchored (`y` flag) at the trigger. A rule therefore never
 * scans the text on its own, and the work per candidate is bounded by the rule's length.
 *
 * Rule sources are written against normalised text (lower case, no Latin accents, single
 * spaces) with two shorthands: a space means "an optional whitespace" (spaced-out words are
 * joined by normalisation) and `_` means a short gap of up to 40 characters within the
 * sentence. Rules must not nest quantifiers; a test checks every source.
 */
import type { Severity } from '../../events/security-events.js';

export const LANGS = ['en', 'es', 'fr', 'de', 'pt', 'it', 'zh', 'ru', 'ja'] as const;
export type Lang = (typeof LANGS)[number];

/** Kinds of phrase rule; each is a `Finding.type`. */
export type RuleType =
  | 'instruction_override'
  | 'prompt_leak'
  | 'role_hijack'
  | 'new_instructions'
  | 'fake_system'
  | 'chat_template'
  | 'exfiltration'
  | 'directive'
  // Intent kinds (patterns/intent.ts): weak alone, combined within a window by the detector.
  | 'ai_address'
  | 'secrecy'
  | 'authority_claim'
  | 'tool_abuse'
  | 'safety_bypass'
  | 'sensitive_access'
  | 'user_deception'
  | 'exfil_request';

/** Rule types that only count when several kinds occur close together (see `detector.ts`). */
export const INTENT_TYPES: ReadonlySet<RuleType> = new Set(['ai_address', 'secrecy', 'authority_claim', 'tool_abuse', 'safety_bypass', 'sensitive_access', 'user_deception', 'exfil_request']);

export interface Rule {
  /** Stable id, `<lang>.<what>`, reported in the finding message. */
  id: string;
  type: RuleType;
  lang: Lang | 'any';
  /** Probability-like weight of this evidence alone, combined by noisy-OR. */
  weight: number;
  /**
   * Literal words (normalised) the rule starts with: the prefilter's keys. Derived from the
   * pattern's leading alternation when omitted.
   */
  triggers?: readonly string[];
  /** Pattern source in the shorthand described above, tried at a trigger position. */
  pattern: string;
}

export interface CompiledRule extends Rule {
  re: RegExp;
  /** The same without the word-start look-behind, for text whose words were joined (`i g n o r e`). */
  loose: RegExp;
  severity: Severity;
}

export interface RuleIndex {
  /** Alternation of the ASCII triggers. */
  trigger: RegExp;
  /**
   * Alternation of the other triggers (CJK, Cyrillic). Kept apart because V8 runs a large
   * mixed alternation several times slower even over ASCII text; this one only runs when the
   * text has a non-ASCII character.
   */
  wide: RegExp | undefined;
  byTrigger: Map<string, CompiledRule[]>;
  rules: CompiledRule[];
}

export interface RuleHit {
  rule: CompiledRule;
  /** Offsets in the normalised text. */
  start: number;
  end: number;
}

/** Work counters of one matcher run, and its cap. */
export interface MatchBudget {
  maxAttempts: number;
  attempts: number;
  exhausted: boolean;
}

const NON_ASCII = /[^\p{ASCII}]/u;
const GAP = '[^.!?\\n。！？]{0,40}?';

/** Expand the shorthand: ` ` → `\s?`, `_` → a bounded in-sentence gap. */
export function expandPattern(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    if (ch === '\\') { out += ch + (source[i + 1] ?? ''); i++; continue; }
    if (ch === '[') inClass = true;
    else if (ch === ']') inClass = false;
    if (!inClass && ch === ' ') out += '\\s?';
    else if (!inClass && ch === '_') out += GAP;
    else out += ch;
  }
  return out;
}

/** Word start for alphabetic scripts, so `ignore` does not fire inside Italian `signore`. */
function boundary(r: Rule): string {
  const first = r.pattern.replace(/^(?:\(\?:)+/, '').charCodeAt(0);
  if (r.lang === 'ru') return '(?<![а-яё])';
  if (r.lang === 'zh' || r.lang === 'ja') return '';
  return (first >= 0x61 && first <= 0x7a) ? '(?<![a-z0-9])' : '';
}

/**
 * The literal prefixes of a pattern's leading alternatives: `(?:ignorez?|oubli) …` gives
 * `ignore` and `oubli`. A literal stops before a quantified character, a group, a class or a
 * gap. Throws when an alternative has no literal prefix (the rule could never be triggered).
 */
export function deriveTriggers(pattern: string): string[] {
  const body = stripLookbehind(pattern);
  let alternatives: string[];
  if (body.startsWith('(?:')) {
    let depth = 0;
    let end = -1;
    for (let i = 0; i < body.length; i++) {
      const ch = body[i];
      if (ch === '\\') { i++; continue; }
      if (ch === '(') depth++;
      else if (ch === ')' && --depth === 0) { end = i; break; }
    }
    // An optional leading group would let the rule start elsewhere: the trigger would lie.
    const quant = body[end + 1];
    if (quant === '?' || quant === '*' || quant === '{') throw new Error(`pattern starts with an optional group: ${pattern}`);
    const inner = body.slice(3, end);
    alternatives = [];
    let cur = '';
    depth = 0;
    for (let i = 0; i < inner.length; i++) {
      const ch = inner[i] as string;
      if (ch === '\\') { cur += ch + (inner[i + 1] ?? ''); i++; continue; }
      if (ch === '(') depth++;
      if (ch === ')') depth--;
      if (ch === '|' && depth === 0) { alternatives.push(cur); cur = ''; continue; }
      cur += ch;
    }
    alternatives.push(cur);
  } else {
    alternatives = [body];
  }
  return alternatives.flatMap((alt) => {
    if (alt.startsWith('(?:')) return deriveTriggers(alt);
    let lit = '';
    for (let i = 0; i < alt.length; i++) {
      let ch = alt[i] as string;
      let width = 1;
      if (ch === '\\') {
        const next = alt[i + 1] ?? '';
        if (next === 'n') ch = '\n';
        else if (/[a-z0-9]/i.test(next)) break;
        else ch = next;
        width = 2;
      } else if ('()[]{}|?*+.^$_'.includes(ch)) break;
      const after = alt[i + width];
      if (after === '?' || after === '*' || after === '{') break;
      lit += ch;
      i += width - 1;
    }
    // A space in a pattern is optional whitespace: trigger on both spellings.
    lit = lit.trimEnd();
    if (lit.length === 0) throw new Error(`pattern has an alternative without a literal prefix: ${alt}`);
    const joined = lit.replaceAll(' ', '');
    return joined === lit ? [lit] : [lit, joined];
  });
}

/** `(?<!x)abc` → `abc`: a leading look-behind consumes nothing, the trigger follows it. */
function stripLookbehind(pattern: string): string {
  if (!pattern.startsWith('(?<!') && !pattern.startsWith('(?<=')) return pattern;
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') { i++; continue; }
    if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return pattern.slice(i + 1);
  }
  return pattern;
}

function severityOf(weight: number): Severity {
  return weight >= 0.7 ? 'high' : weight >= 0.4 ? 'medium' : 'low';
}

function escapeLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Compile rules into a trigger index. A trigger that extends a shorter one also carries the
 * shorter one's rules, because the alternation reports only the longest literal at a position.
 */
export function buildIndex(rules: readonly Rule[]): RuleIndex {
  const compiled = rules.map((r) => ({
    ...r,
    triggers: r.triggers ?? deriveTriggers(r.pattern),
    re: new RegExp(boundary(r) + expandPattern(r.pattern), 'y'),
    loose: new RegExp(expandPattern(r.pattern), 'y'),
    severity: severityOf(r.weight),
  }));
  const byTrigger = new Map<string, CompiledRule[]>();
  for (const r of compiled) {
    for (const t of r.triggers) {
      // A one-letter ASCII trigger would fire on most text and defeat the prefilter.
      if (t.length < 2 && t.charCodeAt(0) < 0x80) throw new Error(`rule ${r.id}: trigger "${t}" is too short`);
      const list = byTrigger.get(t) ?? [];
      list.push(r);
      byTrigger.set(t, list);
    }
  }
  const triggers = [...byTrigger.keys()].sort((a, b) => b.length - a.length);
  for (const long of triggers) {
    for (const short of triggers) {
      if (short.length < long.length && long.startsWith(short)) {
        const list = byTrigger.get(long) as CompiledRule[];
        for (const r of byTrigger.get(short) ?? []) if (!list.includes(r)) list.push(r);
      }
    }
  }
  const ascii = triggers.filter((t) => !NON_ASCII.test(t));
  const wide = triggers.filter((t) => NON_ASCII.test(t));
  return {
    trigger: new RegExp(ascii.map(escapeLiteral).join('|') || '(?!)', 'g'),
    wide: wide.length > 0 ? new RegExp(wide.map(escapeLiteral).join('|'), 'g') : undefined,
    byTrigger,
    rules: compiled,
  };
}

/**
 * Run the index over `text`. Hits of the same rule that overlap are reported once. When the
 * attempt budget runs out (a flood of trigger words), matching stops and `budget.exhausted`
 * is set: the caller reports that rather than silently passing the rest of the text.
 */
export function matchRules(index: RuleIndex, text: string, budget: MatchBudget, joined?: (at: number) => boolean): RuleHit[] {
  const hits: RuleHit[] = [];
  const lastEnd = new Map<CompiledRule, number>();
  runTriggers(index, index.trigger, text, budget, hits, lastEnd, joined);
  if (index.wide && !budget.exhausted && NON_ASCII.test(text)) {
    lastEnd.clear();
    runTriggers(index, index.wide, text, budget, hits, lastEnd, joined);
  }
  return hits;
}


function runTriggers(index: RuleIndex, trigger: RegExp, text: string, budget: MatchBudget, hits: RuleHit[], lastEnd: Map<CompiledRule, number>, joined?: (at: number) => boolean): void {
  trigger.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = trigger.exec(text)) !== null) {
    const at = m.index;
    for (const rule of index.byTrigger.get(m[0]) ?? []) {
      if (budget.attempts >= budget.maxAttempts) { budget.exhausted = true; return; }
      budget.attempts++;
      if ((lastEnd.get(rule) ?? -1) > at) continue;
      // In spelled-out text the word before was joined on: no word start to require.
      const re = joined?.(at) ? rule.loose : rule.re;
      re.lastIndex = at;
      const r = re.exec(text);
      if (r !== null && r[0].length > 0) {
        hits.push({ rule, start: at, end: at + r[0].length });
        lastEnd.set(rule, at + r[0].length);
      }
    }
    // Triggers can overlap ("system prompt" and "prompt"): resume one character on.
    trigger.lastIndex = at + 1;
  }
}
