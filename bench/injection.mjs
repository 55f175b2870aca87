// Prompt-injection detector: quality on the labelled evaluation set (overall, per language,
// dev and held-out test splits), throughput on ordinary text, and time on pathological inputs
// against the same size of ordinary text (ratios near 1 and ×2 for ×2 input show linearity).
// Usage: npx tsc -p tsconfig.build.json && node bench/injection.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInjectionDetector } from '../dist/firewall/injection/index.js';

const EVAL = new URL('../test/fixtures/firewall/injection/eval.jsonl', import.meta.url);
const LANGS = ['en', 'es', 'fr', 'de', 'pt', 'it', 'zh', 'ru', 'ja'];

function rng(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff);
}

/** Deterministic English-like prose, `n` characters. */
export function prose(n, seed = 1) {
  const rnd = rng(seed);
  const words = ('the of and to in is that for it as was with be by on not this are or from at which but have an they you were there been one all we their has would when if so what up out them about more into than its time only new some could these two may first then do any like now over such our even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three system request network latency release customer invoice policy').split(' ');
  let s = '';
  while (s.length < n) {
    s += words[rnd() % words.length];
    const r = rnd() % 40;
    s += r === 0 ? '.\n\n' : r < 4 ? '. ' : r < 6 ? ', ' : ' ';
  }
  return s.slice(0, n);
}

/** Deterministic source code (TypeScript, HTML, SQL, shell), `n` characters. */
export function code(n, seed = 2) {
  const rnd = rng(seed);
  const lines = [
    'export async function handle(req: Request): Promise<Response> {',
    '  const url = new URL(req.url); // ignore the fragment, it never reaches the server',
    '  if (!url.searchParams.has("id")) return new Response("missing id", { status: 400 });',
    '  for (let i = 0; i < items.length; i++) total += items[i].price * items[i].quantity;',
    '  const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";',
    '  await db.query("SELECT id, email FROM users WHERE id = $1 AND deleted_at IS NULL", [id]);',
    '  const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";',
    '}',
    '<div class="card"><!-- product card --><img src="/img/p.png" alt="Product photo"></div>',
    'import { readFile } from "node:fs/promises";',
    'curl -sS -X POST "https://api.example.com/v1/items?limit=50&cursor=abc%3D%3D" -H "Authorization: Bearer $TOKEN"',
    '    """Return the previous state; skip rows that failed validation."""',
  ];
  let s = '';
  while (s.length < n) s += lines[rnd() % lines.length] + '\n';
  return s.slice(0, n);
}

function timeOnce(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function throughput(detector, text, ms = 1500) {
  const chunk = 256 * 1024;
  const pieces = [];
  for (let i = 0; i < text.length; i += chunk) pieces.push(text.slice(i, i + chunk));
  for (const p of pieces.slice(0, 2)) detector.scan(p); // warm up
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) for (const p of pieces) { detector.scan(p); bytes += Buffer.byteLength(p); }
  return bytes / 1e6 / ((performance.now() - t0) / 1000);
}

function confusion(detector, rows) {
  const c = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const r of rows) {
    const flagged = detector.scan(r.text).flagged;
    if (r.label === 'injection') c[flagged ? 'tp' : 'fn']++;
    else c[flagged ? 'fp' : 'tn']++;
  }
  const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 1;
  const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  const fpr = c.fp + c.tn ? c.fp / (c.fp + c.tn) : 0;
  return { ...c, precision, recall, f1, fpr };
}

const pct = (x) => `${(100 * x).toFixed(1)}%`.padStart(7);

export async function benchInjection(report) {
  const detector = createInjectionDetector();
  const rows = readFileSync(EVAL, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  console.log('\nPrompt-injection detector — evaluation set');
  console.log(`${'split/lang'.padEnd(12)} ${'n'.padStart(4)} ${'inj'.padStart(4)} ${'prec'.padStart(7)} ${'recall'.padStart(7)} ${'F1'.padStart(7)} ${'FPR'.padStart(7)}`);
  const results = {};
  for (const split of ['dev', 'test', 'all']) {
    const inSplit = rows.filter((r) => split === 'all' || r.split === split);
    for (const lang of ['all', ...LANGS]) {
      const sub = inSplit.filter((r) => lang === 'all' || r.lang === lang);
      const m = confusion(detector, sub);
      results[`${split}/${lang}`] = m;
      console.log(`${`${split}/${lang}`.padEnd(12)} ${String(sub.length).padStart(4)} ${String(m.tp + m.fn).padStart(4)} ${pct(m.precision)} ${pct(m.recall)} ${pct(m.f1)} ${pct(m.fpr)}`);
    }
  }
  const test = results['test/all'];
  report('injection: recall, held-out test split', 100 * test.recall, '%', undefined, 90);
  report('injection: false-positive rate, held-out test split', 100 * test.fpr, '%');
  report('injection: F1, held-out test split', 100 * test.f1, '%');

  const P = prose(4 << 20);
  const C = code(4 << 20);
  const proseRate = throughput(detector, P);
  const codeRate = throughput(detector, C);
  report('injection: throughput, English prose (1 core)', proseRate, 'MB/s', undefined, 20);
  report('injection: throughput, source code (1 core)', codeRate, 'MB/s', undefined, 20);

  // Pathological inputs against ordinary prose of the same length, and the same input doubled.
  const MiB = 1 << 20;
  const cases = {
    '10 MB of one character': (n) => 'a'.repeat(n),
    '"a " repeated': (n) => 'a '.repeat(n / 2),
    'deep nesting <div>[(': (n) => '<div>[('.repeat(Math.floor(n / 7)),
    'one long base64 run': (n) => 'QUJD'.repeat(n / 4),
    'hex pairs': (n) => '41'.repeat(n / 2),
    'percent escapes': (n) => '%41'.repeat(Math.floor(n / 3)),
    'trigger-word flood': (n) => 'ignore '.repeat(Math.floor(n / 7)),
    'mixed-script word': (n) => 'аa'.repeat(n / 2),
    'zero-width between letters': (n) => 'a\u200b'.repeat(n / 2),
    'markdown link flood': (n) => '](http://x.example/?d={s}) '.repeat(Math.floor(n / 27)),
  };
  // Scan caps off (16 MiB), so the timings show the scanner itself is linear, not just the cap.
  const uncapped = createInjectionDetector({ maxScanChars: 16 << 20 });
  console.log('\nPathological inputs, scan cap raised to 16 MiB (median of 5): time vs ordinary prose of the same length; ×2 input');
  for (const [name, make] of Object.entries(cases)) {
    const n = name.startsWith('10 MB') ? 10 * 1000 * 1000 : MiB;
    const bad = make(n);
    const bad2 = make(2 * n);
    const ok = prose(bad.length, 9);
    uncapped.scan(bad); uncapped.scan(bad2); uncapped.scan(ok); // warm up: first-call JIT and caches
    const tBad = median(Array.from({ length: 5 }, () => timeOnce(() => uncapped.scan(bad))));
    const tBad2 = median(Array.from({ length: 5 }, () => timeOnce(() => uncapped.scan(bad2))));
    const tOk = median(Array.from({ length: 5 }, () => timeOnce(() => uncapped.scan(ok))));
    console.log(`  ${name.padEnd(28)} ${(bad.length / 1e6).toFixed(2)} MB  ${tBad.toFixed(1).padStart(7)} ms  vs prose ${tOk.toFixed(1).padStart(7)} ms  ratio ${(tBad / tOk).toFixed(2)}  ×2 input → ×${(tBad2 / tBad).toFixed(2)} time`);
    report(`injection: pathological "${name}" vs prose`, tBad / tOk, '× time');
  }
  const capped = timeOnce(() => detector.scan('a'.repeat(10 * 1000 * 1000)));
  console.log(`  default 1 MiB cap: 10 MB of one character scanned in ${capped.toFixed(1)} ms (head + tail only, truncation reported)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = (name, value, unit, _baseline, target) => {
    const ok = target === undefined ? '' : value >= target ? '  PASS' : '  MISS';
    console.log(`${name.padEnd(56)} ${value.toFixed(2).padStart(10)} ${unit}${target === undefined ? '' : `  target ≥ ${target}`}${ok}`);
  };
  await benchInjection(report);
}
