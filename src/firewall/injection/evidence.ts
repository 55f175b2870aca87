/**
 * Evidence accumulation and scoring. Each signal type contributes its strongest weight once,
 * and types combine by noisy-OR: score = 1 − Π(1 − wᵢ). Repeating the same phrase a hundred
 * times therefore does not inflate the score, while independent kinds of evidence (an override
 * phrase, hidden in an HTML comment, spelled with Cyrillic letters) reinforce each other.
 */
import type { Severity } from '../../events/security-events.js';
import type { Finding } from '../findings.js';

/** Signal types that are not phrase rules. */
export type StructuralSignal =
  | 'hidden_instruction'
  | 'obfuscated_instruction'
  | 'encoded_instruction'
  | 'ascii_smuggling'
  | 'invisible_characters'
  | 'exfil_link'
  | 'scan_budget_exhausted'
  | 'truncated'
  | 'classifier'
  | 'classifier_unavailable';

/** Weights of the non-phrase signals; see the module comment for how they combine. */
export const SIGNAL_WEIGHTS: Readonly<Record<StructuralSignal, number>> = {
  hidden_instruction: 0.6,
  obfuscated_instruction: 0.4,
  encoded_instruction: 0.45,
  // Tag characters outside emoji flags have no use in ordinary text.
  ascii_smuggling: 0.6,
  invisible_characters: 0.2,
  exfil_link: 0, // per link, see detector.ts
  // A flood of trigger words is itself odd, and a padding attack hides behind it.
  scan_budget_exhausted: 0.35,
  truncated: 0,
  classifier: 0,
  classifier_unavailable: 0,
};

const MAX_EXCERPT = 80;

export class Evidence {
  private readonly weights = new Map<string, number>();
  readonly findings: Finding[] = [];
  private readonly seen = new Set<string>();
  private dropped = 0;

  constructor(private readonly maxFindings: number) {}

  /** Record a signal's weight without a finding (when its finding is already there). */
  signal(type: string, weight: number): void {
    if (weight > (this.weights.get(type) ?? 0)) this.weights.set(type, Math.min(1, weight));
  }

  /** Record a finding; its weight counts under `key` (default: the finding type). */
  add(finding: Finding, weight: number, key: string = finding.type): void {
    this.signal(key, weight);
    const id = `${finding.type}:${finding.span?.start ?? ''}:${finding.span?.end ?? ''}`;
    if (this.seen.has(id)) return;
    if (this.findings.length >= this.maxFindings) { this.dropped++; return; }
    this.seen.add(id);
    this.findings.push(finding);
  }

  /** Noisy-OR over signal types. */
  score(): number {
    let keep = 1;
    for (const w of this.weights.values()) keep *= 1 - w;
    return Math.round((1 - keep) * 1e4) / 1e4;
  }

  /** Findings in text order; a last note when some were dropped for the cap. */
  sorted(): Finding[] {
    const out = [...this.findings].sort((a, b) => (a.span?.start ?? -1) - (b.span?.start ?? -1));
    if (this.dropped > 0) out.push({ detector: 'injection', type: 'findings_truncated', severity: 'info', message: `${this.dropped} more findings not listed.` });
    return out;
  }
}

export function severityFor(weight: number): Severity {
  return weight >= 0.7 ? 'high' : weight >= 0.4 ? 'medium' : weight > 0 ? 'low' : 'info';
}

/**
 * A short excerpt of attacker-controlled text, safe for logs and terminals: control, bidi and
 * invisible characters are shown as `\u{…}` escapes (they would otherwise reorder or hide what
 * an operator reads), and long text is cut with an ellipsis.
 */
export function excerpt(text: string, max = MAX_EXCERPT): string {
  let out = '';
  let n = 0;
  for (const ch of text) {
    if (n >= max) return `${out}…`;
    const cp = ch.codePointAt(0) as number;
    const invisible =
      cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
      (cp >= 0x2060 && cp <= 0x206f) || cp === 0xfeff || cp === 0xad || (cp >= 0xe0000 && cp <= 0xe007f);
    out += invisible ? (cp === 0x0a ? '\\n' : `\\u{${cp.toString(16)}}`) : ch;
    n++;
  }
  return out;
}
