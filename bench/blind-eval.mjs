// Evaluation of the firewall detectors on the independent sets in
// test/fixtures/firewall/independent/, written blind to the detectors (its README says how).
// Each set is split by a hash of the text: the `dev` half may be studied to improve the
// detectors; the `test` half must not be looked at, and is the figure to trust.
// Usage: npx tsc -p tsconfig.build.json && node bench/blind-eval.mjs [--show-dev-errors]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInjectionDetector } from '../dist/firewall/injection/index.js';
import { createDlpScanner } from '../dist/firewall/dlp/scanner.js';

const DIR = new URL('../test/fixtures/firewall/independent/', import.meta.url);

export function splitOf(text) {
  return createHash('sha256').update(text, 'utf8').digest()[0] < 128 ? 'dev' : 'test';
}

function load(name) {
  return readFileSync(new URL(name, DIR), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function tally() {
  return { tp: 0, fp: 0, fn: 0, tn: 0 };
}

export function rates(c) {
  const recall = c.tp / Math.max(1, c.tp + c.fn);
  const precision = c.tp / Math.max(1, c.tp + c.fp);
  return { recall, precision, f1: (2 * precision * recall) / Math.max(1e-9, precision + recall), fpr: c.fp / Math.max(1, c.fp + c.tn), n: c.tp + c.fp + c.fn + c.tn };
}

/** Confusion counts per split (and per language for injection); dev errors listed when asked. */
export async function blindEval({ showDevErrors = false } = {}) {
  const detector = createInjectionDetector();
  const injection = { dev: tally(), test: tally(), byLang: {} };
  const devErrors = [];
  for (const r of load('injection.jsonl')) {
    const split = splitOf(r.text);
    const flagged = detector.scan(r.text).flagged;
    const positive = r.label === 'injection';
    const key = positive ? (flagged ? 'tp' : 'fn') : flagged ? 'fp' : 'tn';
    injection[split][key]++;
    if (split === 'test') (injection.byLang[r.lang] ??= tally())[key]++;
    if (showDevErrors && split === 'dev' && (key === 'fn' || key === 'fp')) devErrors.push({ set: 'injection', error: key, lang: r.lang, kind: r.kind, text: r.text });
  }
  const scanner = createDlpScanner();
  const dlp = { dev: tally(), test: tally() };
  for (const r of load('dlp.jsonl')) {
    const split = splitOf(r.text);
    const flagged = (await scanner.scan(r.text)).findings.length > 0;
    const positive = r.label === 'sensitive';
    const key = positive ? (flagged ? 'tp' : 'fn') : flagged ? 'fp' : 'tn';
    dlp[split][key]++;
    if (showDevErrors && split === 'dev' && (key === 'fn' || key === 'fp')) devErrors.push({ set: 'dlp', error: key, type: r.type, text: r.text });
  }
  return { injection, dlp, devErrors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await blindEval({ showDevErrors: process.argv.includes('--show-dev-errors') });
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  for (const [name, set] of [['injection', r.injection], ['dlp', r.dlp]]) {
    for (const split of ['dev', 'test']) {
      const m = rates(set[split]);
      console.log(`${name} ${split.padEnd(4)} n=${m.n}  precision ${pct(m.precision)}  recall ${pct(m.recall)}  F1 ${pct(m.f1)}  FPR ${pct(m.fpr)}`);
    }
  }
  for (const [lang, c] of Object.entries(r.injection.byLang)) {
    const m = rates(c);
    console.log(`  injection test ${lang}: recall ${pct(m.recall)} FPR ${pct(m.fpr)} (n=${m.n})`);
  }
  for (const e of r.devErrors) console.log(JSON.stringify(e));
}
