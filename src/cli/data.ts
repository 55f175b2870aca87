import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { tenantOption, withWarden } from './common.js';

export function registerData(program: Command): void {
  const data = program.command('data').description('data protection');
  tenantOption(data.command('shred'))
    .description("crypto-shredding: destroy the tenant's data keys; encrypted payload fields become unreadable, the log stays verifiable")
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (opts: { data: string; tenant: string; yes?: boolean }) => {
      if (!opts.yes) throw new BadInputError('crypto-shredding cannot be undone; pass --yes to confirm');
      await withWarden(opts, async (w) => {
        const n = await w.protector.shred(opts.tenant);
        await w.ledger.append(opts.tenant, [{ kind: 'data', action: 'data.shred', resource: `tenant:${opts.tenant}`, payload: { data_keys_destroyed: n } }], { system: true });
        process.stdout.write(`destroyed ${n} data key(s) of tenant ${opts.tenant}\n`);
      });
    });
}
