// DLP benchmark: detection quality on Warden's labelled evaluation set (precision, recall, F1,
// false-positive rate per sample type and overall), throughput on ordinary text, and linearity
// on pathological inputs against ordinary text of the same size.
// Usage: npx tsc -p tsconfig.build.json && node bench/dlp.mjs   (or benchDlp(report) from run.mjs)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDlpScanner } from '../dist/firewall/dlp/scanner.js';

const EVAL = new URL('../test/fixtures/firewall/dlp/eval.jsonl', import.meta.url);

/** Deterministic "ordinary" text: prose, code and JSON log lines, about `bytes` long. */
export function ordinaryText(bytes) {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const words = 'the agent reads a file then calls the search tool with a query and summarises the results for the user who asked about quarterly revenue growth in the region'.split(' ');
  const code = [
    'const result = await client.search({ query, limit: 20 });',
    'if (!response.ok) throw new Error(`upstream ${response.status}`);',
    'for (const item of items) total += item.price * item.quantity;',
    'export function parse(input: string): Node[] { return tokenize(input).map(toNode); }',
    'def handler(event, context):\n    return {"statusCode": 200}',
  ];
  const parts = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let line;
    const kind = i % 3;
    if (kind === 0) line = Array.from({ length: 12 + Math.floor(rnd() * 20) }, () => words[Math.floor(rnd() * words.length)]).join(' ') + '.';
    else if (kind === 1) line = code[Math.floor(rnd() * code.length)];
    else {
      line = JSON.stringify({
        ts: `2024-05-${String(1 + (i % 28)).padStart(2, '0')}T10:${String(i % 60).padStart(2, '0')}:00Z`,
        level: ['info', 'warn', 'error'][i % 3],
        msg: 'request served',
        trace_id: Math.floor(rnd() * 2 ** 48).toString(16).padStart(12, '0') + Math.floor(rnd() * 2 ** 48).toString(16).padStart(12, '0'),
        status: [200, 201, 404, 503][i % 4],
        duration_ms: Math.floor(rnd() * 3000),
      });
    }
    parts.push(line);
    size += line.length + 1;
  }
  return parts.join('\n');
}

async function timeIt(fn, minMs = 1000) {
  await fn(); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs || n < 2) {
    await fn();
    n++;
  }
  return (performance.now() - t0) / n;
}

function metrics(tp, fp, fn, tn) {
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const fpr = fp + tn === 0 ? 0 : fp / (fp + tn);
  return { precision, recall, f1, fpr };
}

async function evaluate(scanner, samples) {
  const rows = [];
  for (const s of samples) {
    const r = await scanner.scan(s.text);
    rows.push({ ...s, found: r.findings.map((f) => f.type) });
  }
  const count = (pred) => rows.filter(pred).length;
  const overall = metrics(
    count((r) => r.label === 'sensitive' && r.found.length > 0),
    count((r) => r.label === 'clean' && r.found.length > 0),
    count((r) => r.label === 'sensitive' && r.found.length === 0),
    count((r) => r.label === 'clean' && r.found.length === 0),
  );
  // Per detector type: recall over samples of that type; precision and FPR over the samples
  // where the scanner reported that type.
  const perType = new Map();
  const sensitiveTypes = new Set(rows.filter((r) => r.label === 'sensitive').map((r) => r.type));
  const reportedTypes = new Set(rows.flatMap((r) => r.found));
  for (const type of new Set([...sensitiveTypes, ...reportedTypes])) {
    const positives = rows.filter((r) => r.label === 'sensitive' && r.type === type);
    const tp = positives.filter((r) => r.found.length > 0).length;
    const reported = rows.filter((r) => r.found.includes(type));
    const fp = reported.filter((r) => r.label === 'clean').length;
    const clean = rows.filter((r) => r.label === 'clean').length;
    perType.set(type, { n: positives.length, ...metrics(tp, fp, positives.length - tp, clean - fp), reported: reported.length });
  }
  return { overall, perType, missed: rows.filter((r) => (r.label === 'sensitive') !== r.found.length > 0) };
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

export async function benchDlp(report) {
  const samples = readFileSync(EVAL, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const scanner = createDlpScanner();

  // --- quality ---------------------------------------------------------------------------------
  for (const split of ['test', 'all']) {
    const subset = split === 'all' ? samples : samples.filter((s) => s.split === split);
    const { overall, perType, missed } = await evaluate(scanner, subset);
    console.log(`\nDLP evaluation (${split}: ${subset.length} samples)`);
    console.log(`${'type'.padEnd(24)} ${'n'.padStart(4)} ${'precision'.padStart(10)} ${'recall'.padStart(8)} ${'F1'.padStart(7)} ${'FPR'.padStart(7)}`);
    for (const [type, m] of [...perType].sort((a, b) => a[0].localeCompare(b[0]))) {
      console.log(`${type.padEnd(24)} ${String(m.n).padStart(4)} ${pct(m.precision).padStart(10)} ${pct(m.recall).padStart(8)} ${pct(m.f1).padStart(7)} ${pct(m.fpr).padStart(7)}`);
    }
    console.log(`${'overall'.padEnd(24)} ${String(subset.length).padStart(4)} ${pct(overall.precision).padStart(10)} ${pct(overall.recall).padStart(8)} ${pct(overall.f1).padStart(7)} ${pct(overall.fpr).padStart(7)}`);
    for (const m of missed.slice(0, 10)) console.log(`  ${m.label === 'clean' ? 'FP' : 'FN'} ${m.type}: ${JSON.stringify(m.text.slice(0, 80))} → ${m.found.join(',')}`);
    report(`DLP ${split} precision`, overall.precision * 100, '%', undefined, 97);
    report(`DLP ${split} recall`, overall.recall * 100, '%', undefined, 95);
    report(`DLP ${split} F1`, overall.f1 * 100, '%');
    report(`DLP ${split} false-positive rate (×1000)`, overall.fpr * 1000, '‰');
  }

  // --- throughput ------------------------------------------------------------------------------
  const SIZE = 4 * 1024 * 1024;
  const text = ordinaryText(SIZE);
  const mb = text.length / 1024 / 1024;
  const full = await timeIt(() => scanner.scan(text));
  const sync = await timeIt(() => scanner.scanSync(text));
  const linted = (await scanner.scan(text)).stats.charsLinted;
  console.log(`\nsecretlint prefilter passed ${pct(linted / text.length)} of the ordinary text to secretlint`);
  report('DLP throughput, all detectors (1 core)', mb / (full / 1000), 'MB/s', undefined, 20);
  report('DLP throughput, without secretlint (1 core)', mb / (sync / 1000), 'MB/s');
  const json = text.split('\n').map((line, i) => ({ i, line }));
  const jsonMs = await timeIt(() => scanner.scan(json));
  report('DLP throughput, JSON value of 80k strings', mb / (jsonMs / 1000), 'MB/s');

  // --- linearity: pathological vs ordinary text of the same size --------------------------------
  const BIG = 10 * 1024 * 1024;
  const ordinary = ordinaryText(BIG);
  const base = await timeIt(() => scanner.scan(ordinary), 500);
  const cases = {
    'one repeated character': 'a'.repeat(BIG),
    digits: '7'.repeat(BIG),
    'digit groups (card-like)': '4111 '.repeat(BIG / 5),
    'base64-ish run': 'Ab3+'.repeat(BIG / 4),
    '"@" characters': '@'.repeat(BIG),
  };
  for (const [name, input] of Object.entries(cases)) {
    const ms = await timeIt(() => scanner.scan(input), 500);
    report(`DLP 10 MB ${name}: time vs ordinary text`, ms / base, '×', undefined, undefined);
  }
  let deep = { leaf: 'x' };
  for (let i = 0; i < 200_000; i++) deep = { d: deep };
  const deepMs = await timeIt(() => scanner.scan(deep), 500);
  report('DLP 200k-deep JSON: ms (no stack overflow)', deepMs, 'ms');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = (name, value, unit, baseline, target) => {
    const ok = target === undefined ? '' : value >= target ? '  PASS' : '  MISS';
    const shown = Math.abs(value) < 100 ? value.toFixed(2) : Math.round(value).toLocaleString('en-US');
    console.log(`${name.padEnd(56)} ${shown.padStart(10)} ${unit}${target === undefined ? '' : `  target ≥ ${target}`}${ok}`);
  };
  await benchDlp(report);
}
