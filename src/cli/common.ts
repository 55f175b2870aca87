import type { Command } from 'commander';
import { assertTenantName, openWarden, type OpenOptions, type Warden } from '../context.js';
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
  let result: T;
  try {
    result = await fn(w);
  } catch (err) {
    // The command's own error is the one to report; closing is best effort.
    await w.close().catch(() => undefined);
    throw err;
  }
  try {
    await w.close();
  } catch (err) {
    // The work is committed (receipts are durable); only the closing checkpoint failed. A
    // non-zero exit here would make scripts retry and duplicate what is already logged.
    process.stderr.write(`warden: warning: committed, but signing the closing checkpoint failed: ${(err as Error).message}\n`);
  }
  return result;
}

/** File-system errors a user can fix (missing file, no permission, a directory given as a file). */
const USER_FS_ERRORS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST', 'EROFS', 'ENAMETOOLONG']);

export function isUserFsError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && USER_FS_ERRORS.has(code) && !(err instanceof WardenError);
}

/**
 * Like {@link withWarden} for commands that act on one tenant: the name is validated and must
 * exist, so a typo is an error (exit 2) rather than an empty answer.
 */
export async function withTenant<T>(opts: { data: string; tenant: string }, fn: (w: Warden) => Promise<T>): Promise<T> {
  assertTenantName(opts.tenant);
  return withWarden(opts, async (w) => {
    if (!(await w.store.getTenant(opts.tenant))) {
      throw new WardenError('NOT_FOUND', `unknown tenant "${opts.tenant}" (see \`warden tenants list\`)`);
    }
    return fn(w);
  });
}

export function exitCodeFor(err: unknown): number {
  if (isUserFsError(err)) return EXIT.USAGE;
  if (!(err instanceof WardenError)) return EXIT.INTERNAL;
  switch (err.code) {
    case 'BAD_INPUT':
    case 'CONFIG_INVALID':
    case 'NOT_FOUND':
    case 'STORE_TOO_NEW': // a data dir this version cannot use is unusable input, not a fault
      return EXIT.USAGE;
    case 'VERIFICATION_FAILED':
    case 'CONFLICT':
    case 'AUTH_FAILED':
    case 'FORBIDDEN':
      return EXIT.FAILED;
    case 'STORE_ERROR':
    case 'KEY_ERROR':
    case 'INTERNAL':
      return EXIT.INTERNAL;
  }
}

/** Reads all of stdin (for `ledger append` without --file). */
export async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of process.stdin) {
    total += (c as Buffer).length;
    if (total > maxBytes) throw new WardenError('BAD_INPUT', `standard input is larger than ${maxBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
