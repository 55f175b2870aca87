import type { Command } from 'commander';
import type { Approval, ApprovalState } from '../approvals/approvals.js';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import { tenantOption, withTenant } from './common.js';

const STATES: readonly ApprovalState[] = ['pending', 'approved', 'denied', 'expired'];

function line(a: Approval): string {
  const who = [a.agent, a.human ? `for ${a.human}` : null, a.service ? `via ${a.service}` : null].filter(Boolean).join(' ');
  const end = a.state === 'pending' ? `expires ${a.expires_at}` : `${a.resolved_by ?? 'warden'}: ${a.reason ?? ''}`;
  return `${a.id}\t${a.state}\t${a.role}\t${who}\t${a.action} ${a.resource}\t${end}`;
}

export function registerApprovals(program: Command): void {
  const approvals = program
    .command('approvals')
    .description('human approvals: list pending requests, approve or deny them (every resolution receipted)');

  tenantOption(approvals.command('list'))
    .description('list approvals, newest first (pending ones past expiry are resolved as denied first)')
    .option('--state <state>', `only one state: ${STATES.join(' | ')}`)
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; state?: string; json?: boolean }) => {
      if (opts.state !== undefined && !(STATES as readonly string[]).includes(opts.state)) {
        throw new BadInputError(`--state must be one of ${STATES.join(', ')}`);
      }
      await withTenant(opts, async (w) => {
        const list = await w.approvals.list(opts.tenant, opts.state as ApprovalState | undefined);
        process.stdout.write(opts.json ? JSON.stringify(list, null, 2) + '\n' : list.map(line).join('\n') + (list.length ? '\n' : ''));
      });
    });

  for (const verdict of ['approve', 'deny'] as const) {
    tenantOption(approvals.command(`${verdict} <id>`))
      .description(`${verdict} a pending request as operator --as (who needs the role the policy names; not the requester)`)
      .requiredOption('--as <operator>', 'the operator resolving it (an active operator of the tenant)')
      .requiredOption('--reason <text>', 'why (recorded in the receipt)')
      .action(async (id: string, opts: { data: string; tenant: string; as: string; reason: string }) => {
        await withTenant(opts, async (w) => {
          // The CLI runs with the data directory's full trust; it acts for a named operator, under that operator's roles.
          const op = await w.operators.get(opts.tenant, opts.as);
          if (op.state !== 'active') throw new WardenError('FORBIDDEN', `operator ${op.id} is ${op.state}`);
          let a;
          try {
            w.operators.authorize(op, 'approvals:resolve');
            a = await w.approvals.resolve(opts.tenant, id, { human: op.id, roles: op.roles }, verdict, opts.reason);
          } catch (err) {
            // Refusals are receipted as over HTTP.
            if (err instanceof AuthError) await w.operators.recordDeny(opts.tenant, { human: op.id }, `approval.${verdict}`, `approval:${id}`, err.reason, { via: 'cli' });
            throw err;
          }
          process.stdout.write(`${a.id} ${a.state} by ${op.id}\n`);
        });
      });
  }
}
