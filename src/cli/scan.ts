import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { createDlpScanner } from '../firewall/dlp/scanner.js';
import type { ScanResult } from '../firewall/findings.js';
import { createInjectionDetector } from '../firewall/injection/index.js';
import { EXIT, readStdin } from './common.js';

/** Largest input scanned as one text (without --jsonl), and largest line with --jsonl. */
const MAX_TEXT_BYTES = 64 * 1024 * 1024;
const MAX_LINE_CHARS = 16 * 1024 * 1024;

type Scan = (text: string) => Promise<ScanResult>;

function scannerFor(kind: string, threshold: number | undefined): Scan {
  if (kind === 'injection') {
    const d = createInjectionDetector(threshold === undefined ? {} : { threshold });
    return async (text) => d.scan(text);
  }
  if (kind === 'dlp') {
    const s = createDlpScanner();
    return async (text) => {
      const r = await s.scan(text);
      return { flagged: r.flagged, score: r.score, findings: r.findings };
    };
  }
  throw new BadInputError(`unknown scanner "${kind}" (expected injection or dlp)`);
}

function lines(file: string | undefined) {
  const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
  return createInterface({ input, crlfDelay: Infinity });
}

export function registerScan(program: Command): void {
  program
    .command('scan <detector> [file]')
    .description('scan text with the firewall: injection (prompt injection) or dlp (secrets, personal data). Reads FILE or standard input (-). Exit 0 clean, 1 flagged, 2 unusable input')
    .option('--jsonl', 'one JSON object a line with a "text" field in; one result a line out, in order: {"flagged", "score", "findings"}')
    .option('--threshold <score>', 'injection: flag from this score (0-1, default 0.5)')
    .addHelpText('after', '\nFindings carry masked excerpts, never the secret itself. DLP here runs without a tenant, so planted honeytokens are not recognised (the gateway does that).')
    .action(async (detector: string, file: string | undefined, opts: { jsonl?: boolean; threshold?: string }) => {
      let threshold: number | undefined;
      if (opts.threshold !== undefined) {
        threshold = Number(opts.threshold);
        if (!(threshold >= 0 && threshold <= 1)) throw new BadInputError('--threshold must be a number from 0 to 1');
      }
      const scan = scannerFor(detector, threshold);
      if (!opts.jsonl) {
        let text: string;
        if (file === undefined || file === '-') {
          text = (await readStdin(MAX_TEXT_BYTES)).toString('utf8');
        } else {
          const { readFile, stat } = await import('node:fs/promises');
          const size = (await stat(file).catch(() => {
            throw new BadInputError(`cannot read ${file}`);
          })).size;
          if (size > MAX_TEXT_BYTES) throw new BadInputError(`${file} is larger than ${MAX_TEXT_BYTES} bytes (use --jsonl for many texts)`);
          text = await readFile(file, 'utf8');
        }
        const r = await scan(text);
        process.stdout.write(`${r.flagged ? 'FLAGGED' : 'clean'}: score ${r.score.toFixed(3)}, ${r.findings.length} finding(s)\n`);
        for (const f of r.findings) {
          process.stdout.write(`  ${f.severity.padEnd(8)} ${f.detector}/${f.type}${f.span ? ` at ${f.span.start}-${f.span.end}` : ''}${f.excerpt ? `  ${JSON.stringify(f.excerpt)}` : ''}  ${f.message}\n`);
        }
        process.exitCode = r.flagged ? EXIT.FAILED : EXIT.OK;
        return;
      }
      // JSON lines: results in input order; a bad line gets an error result (and exit 2 at the end), the rest go on.
      let bad = 0;
      let flagged = 0;
      let n = 0;
      for await (const line of lines(file)) {
        n++;
        if (line.trim() === '') continue;
        let text: unknown;
        try {
          if (line.length > MAX_LINE_CHARS) throw new Error(`longer than ${MAX_LINE_CHARS} characters`);
          text = (JSON.parse(line) as { text?: unknown }).text;
          if (typeof text !== 'string') throw new Error('no "text" string field');
        } catch (err) {
          bad++;
          process.stdout.write(`${JSON.stringify({ flagged: false, score: 0, findings: [], error: `line ${n}: ${(err as Error).message}` })}\n`);
          continue;
        }
        const r = await scan(text);
        if (r.flagged) flagged++;
        if (!process.stdout.write(`${JSON.stringify({ flagged: r.flagged, score: Number(r.score.toFixed(4)), findings: r.findings })}\n`)) {
          await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
      }
      process.exitCode = bad > 0 ? EXIT.USAGE : flagged > 0 ? EXIT.FAILED : EXIT.OK;
    });
}
