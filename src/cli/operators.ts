import type { Command } from 'commander';
import type { OperatorRecord } from '../store/types.js';
import { collect } from './agents.js';
import { tenantOption, withTenant } from './common.js';

function publicView(o: OperatorRecord): Omit<OperatorRecord, 'tenant'> {
  const { tenant: _tenant, ...rest } = o;
  return rest;
}

export function registerOperators(program: Command): void {
  const operators = program.command('operators').description('operators (humans): create, list, disable, API tokens (every change receipted)');

  tenantOption(operators.command('create'))
    .description('create an operator and print its API token (shown once, never stored)')
    .requiredOption('--id <id>', 'operator id (a-z, 0-9, _ . -)')
    .option('--role <role>', 'role (repeatable): admin, operator, developer, viewer, approver or a custom role (default: viewer)', collect)
    .option('--name <name>', 'display name')
    .action(async (opts: { data: string; tenant: string; id: string; role?: string[]; name?: string }) => {
      await withTenant(opts, async (w) => {
        const { operator, token } = await w.operators.create(
          opts.tenant,
          { id: opts.id, roles: opts.role?.length ? opts.role : ['viewer'], display_name: opts.name ?? null },
          { withToken: true, actor: { human: 'cli' } },
        );
        process.stderr.write(`warden: created operator ${operator.id} (${operator.roles.join(', ')}); API token id ${token?.token_id}, expires ${token?.expires_at}. The token is shown ONCE:\n`);
        process.stdout.write(`${token?.token}\n`);
      });
    });

  tenantOption(operators.command('token <id>'))
    .description('issue another API token for an operator (printed once)')
    .action(async (id: string, opts: { data: string; tenant: string }) => {
      await withTenant(opts, async (w) => {
        const t = await w.operators.issueToken(opts.tenant, id, { actor: { human: 'cli' } });
        process.stderr.write(`warden: API token id ${t.token_id} for ${t.operator_id}, expires ${t.expires_at}. Shown ONCE:\n`);
        process.stdout.write(`${t.token}\n`);
      });
    });

  tenantOption(operators.command('list'))
    .description('list operators and their API tokens (ids only; secrets are never stored)')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const list = await w.operators.list(opts.tenant);
        const tokens = await w.operators.listTokens(opts.tenant);
        if (opts.json) {
          const out = list.map((o) => ({
            ...publicView(o),
            tokens: tokens.filter((t) => t.operator_id === o.id).map((t) => ({ token_id: t.token_id, created_at: t.created_at, expires_at: t.expires_at, revoked_at: t.revoked_at })),
          }));
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        const now = new Date().toISOString();
        for (const o of list) {
          process.stdout.write(`${o.id}\t${o.state}\t${o.roles.join(',')}\t${o.display_name ?? '-'}\n`);
          for (const t of tokens.filter((x) => x.operator_id === o.id)) {
            const st = t.revoked_at ? `revoked ${t.revoked_at}` : t.expires_at <= now ? `expired ${t.expires_at}` : `expires ${t.expires_at}`;
            process.stdout.write(`  token ${t.token_id}\t${st}\n`);
          }
        }
      });
    });

  tenantOption(operators.command('revoke <token-id>'))
    .description('revoke an API token by its id')
    .action(async (tokenId: string, opts: { data: string; tenant: string }) => {
      await withTenant(opts, async (w) => {
        await w.operators.revokeToken(opts.tenant, tokenId, { actor: { human: 'cli' } });
        process.stdout.write(`revoked API token ${tokenId}\n`);
      });
    });

  tenantOption(operators.command('disable <id>'))
    .description('disable an operator (all of its tokens stop working)')
    .action(async (id: string, opts: { data: string; tenant: string }) => {
      await withTenant(opts, async (w) => {
        const o = await w.operators.disable(opts.tenant, id, { actor: { human: 'cli' } });
        process.stdout.write(`operator ${o.id} is ${o.state}\n`);
      });
    });
}
