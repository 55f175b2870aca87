import { createWriteStream, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { Json } from '../crypto/jcs.js';
import { BadInputError } from '../errors.js';
import { proveReceipt } from '../ledger/proofs.js';
import { MAX_LINE_BYTES } from '../ledger/verify/log.js';
import { readStdin, tenantOption, withTenant } from './common.js';

/** One `ledger append` reads at most this much input (it is one transaction). */
const MAX_APPEND_BYTES = 256 * 1024 * 1024;

/** Input must be valid UTF-8: a lenient decoder would log U+FFFD in place of what was sent. */
function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BadInputError('input is not valid UTF-8');
  }
}

/** Parses JSONL input strictly: every non-blank line must be one JSON object ≤ 1 MiB. */
export function parseJsonLines(text: string): unknown[] {
  const out: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) throw new BadInputError(`line ${i + 1} is longer than 1 MiB`);
    try {
      out.push(JSON.parse(line));
    } catch {
      throw new BadInputError(`line ${i + 1} is not valid JSON (truncated or garbled?)`);
    }
  });
  return out;
}

function parseSeq(v: string): number {
  if (!/^(0|[1-9]\d{0,15})$/.test(v)) throw new BadInputError(`--seq must be a non-negative integer, got "${v}"`);
  return Number(v);
}

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('the signed, Merkle-tree receipt log');

  tenantOption(ledger.command('append'))
    .description('append events (one JSON object a line) as signed receipts; all-or-nothing per invocation')
    .option('--file <file>', 'read events from this file instead of stdin')
    .action(async (opts: { data: string; tenant: string; file?: string }) => {
      if (opts.file && statSync(opts.file).size > MAX_APPEND_BYTES) throw new BadInputError(`${opts.file} is larger than 256 MiB; split it into several appends`);
      const text = decodeUtf8(opts.file ? readFileSync(opts.file) : await readStdin(MAX_APPEND_BYTES));
      const events = parseJsonLines(text);
      if (events.length === 0) throw new BadInputError('no events to append (expected one JSON object a line)');
      await withTenant(opts, async (w) => {
        const receipts = await w.ledger.append(opts.tenant, events);
        process.stdout.write(receipts.map((r) => JSON.stringify(r)).join('\n') + '\n');
      });
    });

  tenantOption(ledger.command('export'))
    .description('export the log: one receipt a line, each line exactly its JCS leaf input, in seq order')
    .requiredOption('--out <file>', 'output file (.jsonl)')
    .action(async (opts: { data: string; tenant: string; out: string }) => {
      await withTenant(opts, async (w) => {
        const head = await w.store.head(opts.tenant);
        const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
        bar?.start(head.size, 0);
        // Write beside the target and rename at the end: a failed export never leaves half a log.
        const tmp = `${opts.out}.partial`;
        // Exclusive create: a symlink planted at the temporary name is removed, never followed.
        rmSync(tmp, { force: true });
        const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
        try {
          for (let seq = 0; seq < head.size; ) {
            const rows = await w.store.getReceipts(opts.tenant, seq, 5000);
            if (rows.length === 0) throw new BadInputError(`entry ${seq} is missing from the store`);
            for (const row of rows) if (!out.write(row.leaf + '\n')) await once(out, 'drain');
            seq += rows.length;
            bar?.update(seq);
          }
          out.end();
          await once(out, 'finish');
          renameSync(tmp, opts.out);
        } catch (err) {
          out.destroy();
          rmSync(tmp, { force: true });
          throw err;
        } finally {
          bar?.stop();
        }
        process.stderr.write(`exported ${head.size} receipts of tenant ${opts.tenant} to ${opts.out}\n`);
      });
    });

  tenantOption(ledger.command('checkpoint'))
    .description('print the latest signed checkpoint note (signing a fresh one first if entries are newer)')
    .action(async (opts: { data: string; tenant: string }) => {
      await withTenant(opts, async (w) => {
        const cp = await w.checkpointer.checkpoint(opts.tenant);
        process.stdout.write(cp.note);
      });
    });

  tenantOption(ledger.command('proof'))
    .description('print the C2SP tlog-proof of one entry (offline-verifiable with `warden verify --proof`)')
    .requiredOption('--seq <n>', 'entry index')
    .action(async (opts: { data: string; tenant: string; seq: string }) => {
      await withTenant(opts, async (w) => {
        process.stdout.write(await proveReceipt(w.store, w.checkpointer, opts.tenant, parseSeq(opts.seq)));
      });
    });

  tenantOption(ledger.command('show'))
    .description('print one receipt with its sensitive fields decrypted (where the data key still exists)')
    .requiredOption('--seq <n>', 'entry index')
    .action(async (opts: { data: string; tenant: string; seq: string }) => {
      await withTenant(opts, async (w) => {
        const [row] = await w.store.getReceipts(opts.tenant, parseSeq(opts.seq), 1);
        if (!row) throw new BadInputError(`no entry ${opts.seq} in tenant ${opts.tenant}`);
        const receipt = JSON.parse(row.leaf) as { id: string; payload: Record<string, Json> };
        receipt.payload = await w.protector.reveal(opts.tenant, receipt.id, receipt.payload);
        process.stdout.write(JSON.stringify(receipt, null, 2) + '\n');
      });
    });
}
