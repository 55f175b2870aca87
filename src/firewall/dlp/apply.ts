/**
 * Turning findings into an outcome: per finding type (or category), block, redact in place,
 * tokenize reversibly, or only flag. Structure is preserved — a JSON value keeps its shape and
 * only the affected characters of the affected strings change — and the input is never
 * mutated: containers on the path to a change are copied, everything else is shared.
 *
 * Fail closed: a finding without a usable span (e.g. "scan incomplete") cannot be redacted,
 * so if its action is redact or tokenize it blocks instead.
 */
import type { Finding } from '../findings.js';
import { ConfigError } from '../../errors.js';
import type { DlpCategory } from './match.js';
import { PII_KINDS } from './pii.js';
import { redactionFor } from './mask.js';
import { parsePointer } from './segments.js';
import type { Tokenizer } from './tokenize.js';

export type DlpAction = 'block' | 'redact' | 'tokenize' | 'flag';

export interface DlpActionPolicy {
  /** By finding type (`credit_card`, `aws_access_key`, `honeytoken`, …); wins over the category. */
  byType?: Readonly<Record<string, DlpAction>>;
  /** By category: `secret`, `pii`, `honeytoken`. */
  byCategory?: Readonly<Partial<Record<DlpCategory, DlpAction>>>;
  /** When neither matches. Default `redact`. */
  default?: DlpAction;
  /** Required when any action is `tokenize`. */
  tokenizer?: Tokenizer;
}

/** Honeytokens block; secrets are redacted; personal data is flagged (often legitimately sent). */
export const DEFAULT_DLP_POLICY: Readonly<DlpActionPolicy> = {
  byType: { dlp_scan_incomplete: 'block' },
  byCategory: { honeytoken: 'block', secret: 'redact', pii: 'flag' },
  default: 'redact',
};

export interface DlpApplyResult<T> {
  /** The input with redactions and tokens in place (a new value; the input is untouched). */
  output: T;
  /** True when any finding's action is block: the caller must not send `output`. */
  blocked: boolean;
  blockedBy: Finding[];
  flagged: Finding[];
  redacted: number;
  tokenized: number;
}

const PII = new Set<string>(PII_KINDS);

export function categoryOf(f: Finding): DlpCategory {
  if (f.detector === 'honeytoken') return 'honeytoken';
  return PII.has(f.type) ? 'pii' : 'secret';
}

export function actionFor(f: Finding, policy: DlpActionPolicy): DlpAction {
  return policy.byType?.[f.type] ?? DEFAULT_DLP_POLICY.byType?.[f.type] ?? policy.byCategory?.[categoryOf(f)] ?? policy.default ?? 'redact';
}

type Edit = { start: number; end: number; action: 'redact' | 'tokenize'; type: string; finding: Finding };

function rewrite(value: string, edits: Edit[], tokenizer: Tokenizer | undefined): string {
  // Right to left, so earlier offsets stay valid; overlapping edits keep the first (rightmost) one.
  edits.sort((a, b) => b.start - a.start);
  let out = value;
  let floor = Infinity;
  for (const e of edits) {
    if (e.end > floor) continue;
    const original = out.slice(e.start, e.end);
    const replacement = e.action === 'tokenize' ? (tokenizer as Tokenizer).tokenize(original) : redactionFor(e.type, original);
    out = out.slice(0, e.start) + replacement + out.slice(e.end);
    floor = e.start;
  }
  return out;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Applies `policy` to `findings` of `input` (as returned by the scanner for that same input).
 *
 * @example
 * ```ts
 * const { findings } = await scanner.scan(body);
 * const r = applyDlpActions(body, findings, { byType: { credit_card: 'redact' } });
 * if (r.blocked) deny(r.blockedBy); else send(r.output);
 * ```
 */
export function applyDlpActions<T>(input: T, findings: readonly Finding[], policy: DlpActionPolicy = DEFAULT_DLP_POLICY): DlpApplyResult<T> {
  const blockedBy: Finding[] = [];
  const flagged: Finding[] = [];
  const edits = new Map<string, Edit[]>(); // by path ('' for a plain string)
  let redacted = 0;
  let tokenized = 0;
  for (const f of findings) {
    const action = actionFor(f, policy);
    if (action === 'tokenize' && !policy.tokenizer) throw new ConfigError(`the DLP policy tokenizes "${f.type}" but has no tokenizer`);
    if (action === 'flag') flagged.push(f);
    else if (action === 'block' || !f.span) blockedBy.push(f);
    else {
      const key = f.path ?? '';
      const list = edits.get(key) ?? [];
      list.push({ start: f.span.start, end: f.span.end, action, type: f.type, finding: f });
      edits.set(key, list);
      if (action === 'tokenize') tokenized++;
      else redacted++;
    }
  }
  let output: unknown = input;
  if (typeof input === 'string' || typeof input === 'number') {
    const list = edits.get('');
    if (list) output = rewrite(String(input), list, policy.tokenizer);
    for (const [path, other] of edits) if (path !== '') blockedBy.push(...other.map((e) => e.finding));
  } else {
    const copies = new Map<object, object>();
    const root = { v: input as unknown };
    copies.set(root, root);
    for (const [path, list] of edits) {
      // Copy-on-write along the path: the container chain is cloned once, the rest is shared.
      let parent: Record<string, unknown> = root;
      let key = 'v';
      let reachable = true;
      for (const seg of parsePointer(path)) {
        // Own properties only: a path must never walk into a prototype (`/__proto__`, `/constructor`).
        const child = Object.hasOwn(parent, key) ? parent[key] : undefined;
        if (child === null || typeof child !== 'object') {
          reachable = false; // the findings were not made on this input
          break;
        }
        let copy = copies.get(child);
        if (!copy) {
          copy = Array.isArray(child) ? [...(child as unknown[])] : { ...(child as object) };
          copies.set(child, copy);
          copies.set(copy, copy);
          setOwn(parent, key, copy);
        }
        parent = copy as Record<string, unknown>;
        key = seg;
      }
      const current = Object.hasOwn(parent, key) ? parent[key] : undefined;
      if (reachable && (typeof current === 'string' || typeof current === 'number')) setOwn(parent, key, rewrite(String(current), list, policy.tokenizer));
      else blockedBy.push(...list.map((e) => e.finding)); // cannot redact what is not there: fail closed
    }
    output = root.v;
  }
  return { output: output as T, blocked: blockedBy.length > 0, blockedBy, flagged, redacted, tokenized };
}
