import type { Command } from 'commander';
import { openWarden, type OpenOptions, type Warden } from '../context.js';
import { WardenError } from '../errors.js';

/** Exit codes (docs/cli.md): scripts and auditors depend on them. */
export const EXIT = {
  OK: 0,
  /** Verification failed, or the operation was refused. */
  FAILED: 1,
  /** Unusable input: bad arguments, malformed files, invalid configuration. */
  USAGE: 2,
  /** Storage, key or internal failure. */
  INTERNAL: 3,
} as const;

export interface GlobalOptions {
  data: string;
  tenant: string;
}

export function dataOption(cmd: Command): Command {
  return cmd.option('--data <dir>', 'data directory', './.warden');
}

export function tenantOption(cmd: Command): Command {
  return dataOption(cmd).option('--tenant <name>', 'tenant', 'default');
}

/** Opens the data dir, runs `fn`, and always closes (which signs a covering checkpoint). */
export async function withWarden<T>(opts: { data: string }, fn: (w: Warden) => Promise<T>, open: OpenOptions = {}): Promise<T> {
  const w = await openWarden(opts.data, open);
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof WardenError)) return EXIT.INTERNAL;
  switch (err.code) {
    case 'BAD_INPUT':
    case 'CONFIG_INVALID':
    case 'NOT_FOUND':
    case 'STORE_TOO_NEW': // a data dir this version cannot use is unusable input, not a fault
      return EXIT.USAGE;
    case 'VERIFICATION_FAILED':
    case 'CONFLICT':
      return EXIT.FAILED;
    case 'STORE_ERROR':
    case 'KEY_ERROR':
    case 'INTERNAL':
      return EXIT.INTERNAL;
  }
}

/** Reads all of stdin (for `ledger append` without --file). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
