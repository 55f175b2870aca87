/**
 * The internal shape detectors return before the scanner turns matches into findings: a type,
 * a span in the scanned text and a priority used when two detectors claim the same characters.
 */
import type { Severity } from '../../events/security-events.js';

export type DlpCategory = 'secret' | 'pii' | 'honeytoken';

export interface RawMatch {
  type: string;
  category: DlpCategory;
  severity: Severity;
  start: number;
  end: number;
  /**
   * Higher wins an overlap: honeytokens (100) over specific credential formats (80) over
   * secretlint's rules (70) over generic assignments and bearer tokens (50) over PII (30).
   */
  priority: number;
}

export const PRIORITY = { honeytoken: 100, specific: 80, secretlint: 70, generic: 50, pii: 30 } as const;

/**
 * Keeps the highest-priority match wherever matches overlap (ties: the longer one). Output is
 * sorted by start. Sorting is O(k log k); the sweep compares each match with its kept
 * neighbours only, because kept matches never overlap each other.
 */
export function resolveOverlaps(matches: readonly RawMatch[]): RawMatch[] {
  const ranked = [...matches].sort((a, b) => b.priority - a.priority || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: RawMatch[] = []; // sorted by start, non-overlapping
  for (const m of ranked) {
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((kept[mid] as RawMatch).start < m.start) lo = mid + 1;
      else hi = mid;
    }
    const prev = kept[lo - 1];
    const next = kept[lo];
    if ((prev && prev.end > m.start) || (next && next.start < m.end)) continue;
    kept.splice(lo, 0, m);
  }
  return kept;
}
