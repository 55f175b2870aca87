import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildTrustBundle } from '../ledger/trust.js';
import { tenantOption, withTenant } from './common.js';

export function registerTrust(program: Command): void {
  const trust = program.command('trust').description('trust bundles for offline verification');
  tenantOption(trust.command('export'))
    .description('write the trust bundle: receipt keys with validity windows and checkpoint note keys')
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (opts: { data: string; tenant: string; out?: string }) => {
      await withTenant(opts, async (w) => {
        const text = JSON.stringify(await buildTrustBundle(w.store, opts.tenant), null, 2) + '\n';
        if (opts.out) writeFileSync(opts.out, text);
        else process.stdout.write(text);
      });
    });
}
