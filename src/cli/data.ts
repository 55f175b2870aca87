import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { tenantOption, withTenant } from './common.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('data protection');
  tenantOption(data.command('shred'))
    .description("crypto-shredding: destroy the tenant's data keys; encrypted payload fields become unreadable, the log stays verifiable")
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (opts: { data: string; tenant: string; yes?: boolean }) => {
      if (!opts.yes) throw new BadInputError('crypto-shredding cannot be undone; pass --yes to confirm');
      await withTenant(opts, async (w) => {
        // Receipt first: an erasure is never performed without its record in the log.
        const ids = (await w.store.listDataKeys(opts.tenant)).filter((k) => k.wrapped_key !== null).map((k) => k.id);
        await w.ledger.append(opts.tenant, [{ kind: 'data', action: 'data.shred', resource: `tenant:${opts.tenant}`, payload: { data_keys: ids } }], { system: true });
        const n = await w.protector.shred(opts.tenant);
        process.stdout.write(`destroyed ${n} data key(s) of tenant ${opts.tenant}\n`);
      });
    });
}
