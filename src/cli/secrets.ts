import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { MAX_SECRET_BYTES, SecretStore } from '../secrets/store.js';
import { tenantOption, withTenant } from './common.js';

/** Where `secrets set` reads the value from; replaceable in tests. */
export interface SecretsIo {
  stdin: AsyncIterable<Buffer | string> & { isTTY?: boolean };
  stdout: { write(text: string): unknown };
}

const defaultIo = (): SecretsIo => ({ stdin: process.stdin, stdout: process.stdout });

/**
 * Reads the value from standard input, never from argv (which `ps`, /proc/PID/cmdline and shell
 * history expose). One trailing newline (`\n` or `\r\n`), as `echo` or a here-string add, is
 * removed; anything else is kept byte for byte.
 */
async function readValue(io: SecretsIo): Promise<Buffer> {
  if (io.stdin.isTTY) {
    throw new BadInputError('pipe the secret value on standard input, e.g. `printf %s "$VALUE" | warden secrets set NAME` or `warden secrets set NAME < file` (it is never taken from arguments)');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const limit = MAX_SECRET_BYTES + 2;
  try {
    for await (const c of io.stdin) {
      const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      total += b.length;
      chunks.push(b);
      if (total > limit) throw new BadInputError(`secret value: larger than ${MAX_SECRET_BYTES} bytes`);
    }
    const all = Buffer.concat(chunks);
    const end = all.length >= 2 && all[all.length - 2] === 0x0d && all[all.length - 1] === 0x0a ? 2 : all.at(-1) === 0x0a ? 1 : 0;
    const value = Buffer.from(all.subarray(0, all.length - end));
    all.fill(0);
    return value;
  } finally {
    for (const b of chunks) b.fill(0);
  }
}

/**
 * `warden secrets set|list|delete`: the tenant's encrypted secrets (docs/secrets.md). Values
 * are read from stdin and never printed; every change is receipted (kind `secret`).
 *
 * @example
 * ```ts
 * const program = new Command();
 * registerSecrets(program);
 * await program.parseAsync(['node', 'warden', 'secrets', 'list', '--data', dir]);
 * ```
 */
export function registerSecrets(program: Command, ioOverride?: SecretsIo): void {
  // process.stdin is only touched when a secrets command runs, not when the CLI starts.
  const ioOf = (): SecretsIo => ioOverride ?? defaultIo();
  const secrets = program
    .command('secrets')
    .description('encrypted secrets injected into sandboxed tools (values read from stdin, never shown; every change receipted)');

  tenantOption(secrets.command('set <name>'))
    .description('create or rotate a secret; the value is read from standard input (one trailing newline is removed)')
    .option('--reason <text>', 'reason recorded in the receipt')
    .action(async (name: string, opts: { data: string; tenant: string; reason?: string }) => {
      // Read before opening the store: a refused TTY or oversized input changes nothing.
      const io = ioOf();
      const value = await readValue(io);
      try {
        await withTenant(opts, async (w) => {
          const store = new SecretStore(w.store, w.ledger, w.protector);
          const r = await store.set(opts.tenant, name, value, { actor: { human: 'cli' }, ...(opts.reason ? { reason: opts.reason } : {}) });
          io.stdout.write(`${r.name} version ${r.version} set (receipt ${r.receipt.id})\n`);
        });
      } finally {
        value.fill(0);
      }
    });

  tenantOption(secrets.command('list'))
    .description('list secret names, versions and times (never values)')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const io = ioOf();
        const list = await new SecretStore(w.store, w.ledger, w.protector).list(opts.tenant);
        io.stdout.write(
          opts.json
            ? JSON.stringify(list, null, 2) + '\n'
            : list.map((s) => `${s.name}\tv${s.version}\t${s.updated_at}`).join('\n') + (list.length ? '\n' : ''),
        );
      });
    });

  tenantOption(secrets.command('delete <name>'))
    .description('delete a secret (tools that request it then fail to start)')
    .option('--reason <text>', 'reason recorded in the receipt')
    .action(async (name: string, opts: { data: string; tenant: string; reason?: string }) => {
      await withTenant(opts, async (w) => {
        const io = ioOf();
        const r = await new SecretStore(w.store, w.ledger, w.protector).delete(opts.tenant, name, {
          actor: { human: 'cli' },
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        io.stdout.write(`${r.name} deleted (was version ${r.version}; receipt ${r.receipt.id})\n`);
      });
    });
}
