import type { Command } from 'commander';
import { assertTenantName } from '../context.js';
import { BadInputError } from '../errors.js';
import { dataOption, withWarden } from './common.js';

/** A PostgreSQL URL for the config file: well-formed, and without a password in it. */
function checkPgUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BadInputError(`--pg: "${url}" is not a URL (expected postgres://user@host:5432/database)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new BadInputError('--pg: expected a postgres:// URL');
  if (u.password) throw new BadInputError('--pg: keep the password out of the URL (it would be written to warden.yaml); use PGPASSWORD or ~/.pgpass');
}

export function registerInit(program: Command): void {
  dataOption(program.command('init'))
    .description('create the data directory: config, master key, store, tenant "default" and its keys (idempotent)')
    .option('--origin <origin>', 'log origin prefix for checkpoints (tenant logs are <origin>/<tenant>)', 'warden.local/log')
    .option('--pg <url>', 'use PostgreSQL at this URL instead of the embedded SQLite store')
    .action(async (opts: { data: string; origin: string; pg?: string }) => {
      if (opts.pg !== undefined) checkPgUrl(opts.pg);
      await withWarden(
        opts,
        async (w) => {
          const created = await w.ensureTenant('default');
          process.stdout.write(
            `${created ? 'initialised' : 'already initialised'} ${w.loaded.dataDir} (store: ${w.store.driver}, tenant: default)\n`,
          );
        },
        { create: true, origin: opts.origin, ...(opts.pg ? { pgUrl: opts.pg } : {}) },
      );
    });
}

export function registerTenants(program: Command): void {
  const tenants = program.command('tenants').description('tenants: each has its own keys and its own log');
  dataOption(tenants.command('create <name>'))
    .description('create a tenant with fresh keys')
    .action(async (name: string, opts: { data: string }) => {
      assertTenantName(name);
      await withWarden(opts, async (w) => {
        const created = await w.ensureTenant(name);
        process.stdout.write(created ? `created tenant ${name}\n` : `tenant ${name} already exists\n`);
      });
    });
  dataOption(tenants.command('list'))
    .description('list tenants')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; json?: boolean }) => {
      await withWarden(opts, async (w) => {
        const list = await w.store.listTenants();
        if (opts.json) {
          process.stdout.write(JSON.stringify(list, null, 2) + '\n');
          return;
        }
        for (const t of list) {
          const head = await w.store.head(t.name);
          process.stdout.write(`${t.name}\t${t.origin}\t${head.size} receipts\n`);
        }
      });
    });
}
