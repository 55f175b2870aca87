import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BadInputError, WardenError } from '../errors.js';
import { buildEvidence, getIncident } from '../events/evidence.js';
import { INCIDENT_KIND } from '../events/response.js';
import { displayState } from '../events/controls.js';
import { SEVERITIES, SEVERITY_RANK, type Severity } from '../events/security-events.js';
import { buildTimeline } from '../events/timeline.js';
import { timelineHtml, timelineText } from '../events/timeline-format.js';
import type { PersistedEvent } from '../events/event-log.js';
import { tenantOption, withTenant } from './common.js';

function time(v: string | undefined, flag: string): string | undefined {
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new BadInputError(`${flag}: expected an RFC 3339 time such as 2026-11-22T16:00:00Z`);
  return new Date(ms).toISOString();
}

function limitOf(v: string | undefined, max: number): number {
  if (v === undefined) return 100;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new BadInputError(`--limit must be a number from 1 to ${max}`);
  return Number(v);
}

function eventLine(e: PersistedEvent): string {
  const d = e.details;
  const what = e.category === 'alert' ? `${String(d.rule)} ${String(d.subject)}` : [d.action, d.resource, d.decision].filter((x) => typeof x === 'string').join(' ');
  const who = e.actor.agent ?? e.actor.human ?? e.actor.service ?? '-';
  return `${e.cursor}\t${e.ts}\t${e.severity}\t${e.category}\t${who}\t${what}${e.receipt ? `\treceipt #${e.receipt.seq}` : ''}`;
}

/** Writes to a file (mode 0600: evidence and timelines hold sensitive context) or stdout. */
function output(text: string, file: string | undefined): void {
  if (file) {
    writeFileSync(file, text, { mode: 0o600 });
    process.stderr.write(`wrote ${file}\n`);
  } else {
    process.stdout.write(text);
  }
}

export function registerEvents(program: Command): void {
  const events = program.command('events').description('security events: decisions, alerts, authentication failures, key and policy changes, incidents');
  tenantOption(events.command('list'))
    .description('list stored events, newest first')
    .option('--severity <level>', `at least this severity: ${SEVERITIES.join(' | ')}`)
    .option('--category <list>', 'only these categories (comma-separated, e.g. alert,cross_tenant)')
    .option('--agent <id>', 'only events about this agent')
    .option('--correlation-id <id>', 'only events of this correlation id')
    .option('--since <time>', 'RFC 3339 lower bound')
    .option('--until <time>', 'RFC 3339 upper bound')
    .option('--limit <n>', 'at most n events (default 100, at most 10000)')
    .option('--json', 'JSON lines output')
    .action(async (opts: { data: string; tenant: string; severity?: string; category?: string; agent?: string; correlationId?: string; since?: string; until?: string; limit?: string; json?: boolean }) => {
      if (opts.severity !== undefined && !(SEVERITIES as readonly string[]).includes(opts.severity)) throw new BadInputError(`--severity must be one of ${SEVERITIES.join(', ')}`);
      const since = time(opts.since, '--since');
      const until = time(opts.until, '--until');
      const limit = limitOf(opts.limit, 10_000);
      await withTenant(opts, async (w) => {
        const list = await w.eventLog.query({
          tenant: opts.tenant, limit, order: 'desc',
          ...(opts.severity ? { severities: SEVERITIES.filter((s) => SEVERITY_RANK[s] >= SEVERITY_RANK[opts.severity as Severity]) } : {}),
          ...(opts.category ? { categories: opts.category.split(',') } : {}),
          ...(opts.agent ? { agent: opts.agent } : {}),
          ...(opts.correlationId ? { correlation_id: opts.correlationId } : {}),
          ...(since ? { since } : {}), ...(until ? { until } : {}),
        });
        process.stdout.write(list.map((e) => (opts.json ? JSON.stringify(e) : eventLine(e))).join('\n') + (list.length ? '\n' : ''));
      });
    });

  tenantOption(program.command('timeline'))
    .description('an incident timeline: receipts and events of one correlation id or agent, in order, each receipt verified')
    .option('--correlation-id <id>', 'the correlation id to follow')
    .option('--agent <id>', 'the agent to follow')
    .option('--since <time>', 'RFC 3339 lower bound')
    .option('--until <time>', 'RFC 3339 upper bound')
    .option('--format <format>', 'text | json | html (one self-contained file)', 'text')
    .option('--limit <n>', 'at most n entries (default 1000, at most 5000)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (opts: { data: string; tenant: string; correlationId?: string; agent?: string; since?: string; until?: string; format: string; limit?: string; output?: string }) => {
      if (!['text', 'json', 'html'].includes(opts.format)) throw new BadInputError('--format must be text, json or html');
      if ((opts.correlationId === undefined) === (opts.agent === undefined)) throw new BadInputError('give exactly one of --correlation-id and --agent');
      const limit = opts.limit === undefined ? 1000 : limitOf(opts.limit, 5000);
      await withTenant(opts, async (w) => {
        const t = await buildTimeline(w, {
          tenant: opts.tenant, correlation_id: opts.correlationId, agent: opts.agent,
          since: time(opts.since, '--since'), until: time(opts.until, '--until'), limit,
        });
        output(opts.format === 'json' ? JSON.stringify(t, null, 2) + '\n' : opts.format === 'html' ? timelineHtml(t) : timelineText(t), opts.output);
      });
    });

  const incidents = program.command('incidents').description('incidents opened by automatic response, and their evidence bundles');
  tenantOption(incidents.command('list'))
    .description('list incidents, newest first')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const rows = await w.store.listRecords(opts.tenant, INCIDENT_KIND, { limit: 1000 });
        const list = rows.map((r) => JSON.parse(r.body) as { id: string; rule: string; subject: string; opened_at: string; actions: { action: string; ok: boolean }[] });
        process.stdout.write(opts.json
          ? JSON.stringify(list.map(({ id, rule, subject, opened_at, actions }) => ({ id, rule, subject, opened_at, actions })), null, 2) + '\n'
          : list.map((i) => `${i.id}\t${i.opened_at}\t${i.rule}\t${i.subject}\t${i.actions.map((a) => `${a.action}${a.ok ? '' : '(failed)'}`).join(',')}`).join('\n') + (list.length ? '\n' : ''));
      });
    });
  tenantOption(incidents.command('show <id>'))
    .description('show one incident (JSON)')
    .action(async (id: string, opts: { data: string; tenant: string }) => {
      await withTenant(opts, async (w) => process.stdout.write(JSON.stringify(await getIncident(w, opts.tenant, id), null, 2) + '\n'));
    });
  tenantOption(incidents.command('evidence <id>'))
    .description('write the evidence bundle of an incident (check it with `warden verify --evidence FILE`)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (id: string, opts: { data: string; tenant: string; output?: string }) => {
      await withTenant(opts, async (w) => output(JSON.stringify(await buildEvidence(w, opts.tenant, id), null, 2) + '\n', opts.output));
    });

  const breakers = program.command('breakers').description('circuit breakers and approval requirements set by incident response');
  tenantOption(breakers.command('list'))
    .description('list breakers and restrictions')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const list = await w.controls.list(opts.tenant);
        process.stdout.write(opts.json
          ? JSON.stringify(list.map((r) => ({ id: r.id, state: displayState(r.state), updated_at: r.updated_at, ...r.parsed })), null, 2) + '\n'
          : list.map((r) => `${r.id}\t${displayState(r.state)}\t${r.updated_at}\t${r.parsed.reason}`).join('\n') + (list.length ? '\n' : ''));
      });
    });
  tenantOption(breakers.command('close <type> <target>'))
    .description('close the circuit breaker on an agent or a tool (type: agent | tool)')
    .requiredOption('--reason <text>', 'why (recorded in the receipt)')
    .option('--as <operator>', 'the operator closing it (recorded in the receipt)')
    .action(async (type: string, target: string, opts: { data: string; tenant: string; reason: string; as?: string }) => {
      if (type !== 'agent' && type !== 'tool') throw new BadInputError('type must be agent or tool');
      await withTenant(opts, async (w) => {
        if (opts.as) {
          const op = await w.operators.get(opts.tenant, opts.as);
          if (op.state !== 'active') throw new WardenError('FORBIDDEN', `operator ${op.id} is ${op.state}`);
          w.operators.authorize(op, 'incidents:write');
        }
        await w.controls.close(opts.tenant, type, target, opts.reason, { human: opts.as ?? 'cli', service: 'warden-cli' });
        process.stdout.write(`closed the circuit breaker on ${type} ${target}\n`);
      });
    });
}
