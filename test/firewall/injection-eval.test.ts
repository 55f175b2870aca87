import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createInjectionDetector } from '../../src/firewall/injection/index.js';

interface Sample { text: string; label: 'injection' | 'benign'; lang: string; variant: string; split: 'dev' | 'test' }

const samples: Sample[] = readFileSync(new URL('../fixtures/firewall/injection/eval.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Sample);
const detector = createInjectionDetector();

function metrics(rows: Sample[]): { recall: number; fpr: number; n: number } {
  let tp = 0, fn = 0, fp = 0, tn = 0;
  for (const r of rows) {
    const flagged = detector.scan(r.text).flagged;
    if (r.label === 'injection') {
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
    else tn++;
  }
  return { recall: tp / (tp + fn), fpr: fp / (fp + tn), n: rows.length };
}

describe('evaluation set', () => {
  it('has at least 400 labelled samples in all nine languages, both labels, both splits', () => {
    expect(samples.length).toBeGreaterThanOrEqual(400);
    for (const lang of ['en', 'es', 'fr', 'de', 'pt', 'it', 'zh', 'ru', 'ja']) {
      expect(samples.some((s) => s.lang === lang && s.label === 'injection'), lang).toBe(true);
      expect(samples.some((s) => s.lang === lang && s.label === 'benign'), lang).toBe(true);
    }
    expect(new Set(samples.map((s) => s.split))).toEqual(new Set(['dev', 'test']));
  });
  it('dev split (rules were tuned on it): recall >= 0.9 at FPR <= 0.03', () => {
    const m = metrics(samples.filter((s) => s.split === 'dev'));
    expect(m.recall).toBeGreaterThanOrEqual(0.9);
    expect(m.fpr).toBeLessThanOrEqual(0.03);
  });
  it('held-out test split: FPR <= 0.03 and recall at the measured floor', () => {
    // The target is recall >= 0.90. With the intent rules (patterns/intent.ts) the held-out split
    // measures 0.932 (136/146) at FPR 0 (it was 0.897 before them). The floor is the measured
    // value, so a regression fails. This split comes from the same templates as the dev split;
    // bench/blind-eval.mjs measures the detector on an independent set, which is harder.
    const m = metrics(samples.filter((s) => s.split === 'test'));
    expect(m.fpr).toBeLessThanOrEqual(0.03);
    expect(m.recall).toBeGreaterThanOrEqual(0.93);
  });
});
