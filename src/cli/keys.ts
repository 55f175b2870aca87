import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { parseRfc3339 } from '../ledger/verify/trust.js';
import type { KeyPurpose } from '../store/types.js';
import { tenantOption, withTenant } from './common.js';

const PURPOSES: readonly KeyPurpose[] = ['receipt', 'note', 'passport'];

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('tenant signing keys: list, rotate, revoke');

  tenantOption(keys.command('list'))
    .description('list keys with their states and validity windows (never key material)')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const list = (await w.store.listKeys(opts.tenant)).map((k) => ({
          kid: k.kid,
          purpose: k.purpose,
          state: k.state,
          not_before: k.not_before,
          not_after: k.not_after,
          revoked_at: k.revoked_at,
        }));
        if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else for (const k of list) process.stdout.write(`${k.kid}\t${k.purpose}\t${k.state}\t${k.not_before} → ${k.not_after ?? '…'}${k.revoked_at ? `\trevoked ${k.revoked_at}` : ''}\n`);
      });
    });

  tenantOption(keys.command('rotate'))
    .description('rotate a key: the old one retires (or, with --emergency, is revoked now); receipted')
    .option('--purpose <p>', 'receipt | note | passport', 'receipt')
    .option('--emergency', 'the old key is compromised: revoke it now and sign the change with the new key')
    .option('--reason <text>', 'reason recorded in the key receipt')
    .action(async (opts: { data: string; tenant: string; purpose: string; emergency?: boolean; reason?: string }) => {
      if (!PURPOSES.includes(opts.purpose as KeyPurpose)) throw new BadInputError(`--purpose must be one of ${PURPOSES.join(', ')}`);
      await withTenant(opts, async (w) => {
        const r = await w.keys.rotate(opts.tenant, opts.purpose as KeyPurpose, {
          emergency: opts.emergency ?? false,
          ...(opts.reason ? { reason: opts.reason } : {}),
        });
        const payload = r.payload as { old_kid: string; new_key: { kid: string } };
        process.stdout.write(`rotated ${opts.purpose} key ${payload.old_kid} → ${payload.new_key.kid} (receipt seq ${r.seq})\n`);
      });
    });

  tenantOption(keys.command('revoke <kid>'))
    .description('revoke a key (compromise): its signatures at or after --at stop verifying; receipted')
    .option('--at <time>', 'revocation time, RFC 3339 (default now; never in the future)')
    .option('--reason <text>', 'reason recorded in the key receipt')
    .action(async (kid: string, opts: { data: string; tenant: string; at?: string; reason?: string }) => {
      let at: string | undefined;
      if (opts.at !== undefined) {
        const ms = parseRfc3339(opts.at);
        if (ms === undefined) throw new BadInputError(`--at must be an RFC 3339 timestamp, got "${opts.at}"`);
        at = new Date(ms).toISOString();
      }
      await withTenant(opts, async (w) => {
        const r = await w.keys.revoke(opts.tenant, kid, at, opts.reason);
        process.stdout.write(`revoked ${kid} (receipt seq ${r.seq})\n`);
      });
    });
}
