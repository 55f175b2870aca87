import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { releaseAgent } from '../events/release.js';
import type { AgentRecord } from '../store/types.js';
import { BadInputError } from '../errors.js';
import { tenantOption, withTenant } from './common.js';

/** Repeatable options; `prev` is undefined on the first use when the option has no default. */
export const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function readJsonFile(file: string, flag: string): unknown {
  let text: string;
  try {
    if (statSync(file).size > 1024 * 1024) throw new BadInputError(`${flag}: ${file} is larger than 1 MiB`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadInputError(`${flag}: ${file} is not valid JSON`);
  }
}

function show(a: AgentRecord): string {
  return [
    `id:           ${a.id}`,
    `state:        ${a.state}`,
    `type:         ${a.type}`,
    `owner:        ${a.owner ?? '-'}`,
    `roles:        ${a.roles.join(', ') || '-'}`,
    `capabilities: ${a.capabilities.join(', ') || '-'}`,
    `trust level:  ${a.trust_level}`,
    `tier:         ${a.tier}`,
    `public key:   ${a.public_key ?? '-'}`,
    `created:      ${a.created_at}`,
    `updated:      ${a.updated_at}`,
    ...(a.passports_not_before ? [`passports revoked before: ${a.passports_not_before}`] : []),
  ].join('\n') + '\n';
}

function publicView(a: AgentRecord): Omit<AgentRecord, 'tenant'> {
  const { tenant: _tenant, ...rest } = a;
  return rest;
}

function trustLevel(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,3}$/.test(v)) throw new BadInputError(`--trust-level must be an integer 0-100, got "${v}"`);
  return Number(v);
}

export function registerAgents(program: Command): void {
  const agents = program.command('agents').description('agent registry: create, list, show, update, suspend, resume, quarantine, delete (every change receipted)');

  tenantOption(agents.command('create'))
    .description('register an agent')
    .requiredOption('--id <id>', 'agent id (a-z, 0-9, _ . -)')
    .option('--type <type>', 'agent type', 'agent')
    .option('--owner <owner>', 'owner (a person or team)')
    .option('--role <role>', 'role (repeatable)', collect, [])
    .option('--capability <cap>', 'capability (repeatable)', collect, [])
    .option('--trust-level <n>', 'trust level 0-100', '0')
    .option('--tier <tier>', 'sandbox tier: process | container | microvm | docker', 'process')
    .option('--public-key <key>', "the agent's own Ed25519 public key (raw 32 bytes, base64url) for proof-of-possession renewal")
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; id: string; type: string; owner?: string; role: string[]; capability: string[]; trustLevel: string; tier: string; publicKey?: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const a = await w.agents.create(opts.tenant, {
          id: opts.id, type: opts.type, owner: opts.owner ?? null, roles: opts.role, capabilities: opts.capability,
          trust_level: trustLevel(opts.trustLevel) ?? 0, tier: opts.tier, ...(opts.publicKey !== undefined ? { public_key: opts.publicKey } : {}),
        }, { actor: { human: 'cli' } });
        process.stdout.write(opts.json ? JSON.stringify(publicView(a), null, 2) + '\n' : `created agent ${a.id}\n`);
      });
    });

  tenantOption(agents.command('update <id>'))
    .description("change an agent's type, owner, roles, capabilities, trust level or tier")
    .option('--type <type>', 'agent type')
    .option('--owner <owner>', 'owner')
    .option('--role <role>', 'replace the roles (repeatable)', collect, undefined)
    .option('--capability <cap>', 'replace the capabilities (repeatable)', collect, undefined)
    .option('--trust-level <n>', 'trust level 0-100')
    .option('--tier <tier>', 'sandbox tier')
    .option('--public-key <key>', "set the agent's Ed25519 public key (base64url), or `none` to remove it")
    .action(async (id: string, opts: { data: string; tenant: string; type?: string; owner?: string; role?: string[]; capability?: string[]; trustLevel?: string; tier?: string; publicKey?: string }) => {
      const level = trustLevel(opts.trustLevel);
      await withTenant(opts, async (w) => {
        const a = await w.agents.update(opts.tenant, id, {
          ...(opts.type !== undefined ? { type: opts.type } : {}),
          ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
          ...(opts.role !== undefined ? { roles: opts.role } : {}),
          ...(opts.capability !== undefined ? { capabilities: opts.capability } : {}),
          ...(level !== undefined ? { trust_level: level } : {}),
          ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
          ...(opts.publicKey !== undefined ? { public_key: opts.publicKey === 'none' ? null : opts.publicKey } : {}),
        }, { actor: { human: 'cli' } });
        process.stdout.write(`updated agent ${a.id}\n`);
      });
    });

  tenantOption(agents.command('verify-artifact <id>'))
    .description("check an artifact (a JSON file) against the agent's signature; exit 0 valid, 1 invalid")
    .requiredOption('--artifact <file>', 'the artifact, a JSON document')
    .requiredOption('--signature <sig>', "the agent's Ed25519 signature, base64url")
    .action(async (id: string, opts: { data: string; tenant: string; artifact: string; signature: string }) => {
      const artifact = readJsonFile(opts.artifact, '--artifact');
      await withTenant(opts, async (w) => {
        const r = await w.passports.verifyArtifact(opts.tenant, id, artifact, opts.signature);
        if (!r.valid) {
          process.stdout.write(`INVALID: the signature is not agent ${id}'s over this artifact\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`valid: signed by agent ${id} (key ${r.public_key})\n`);
      });
    });

  tenantOption(agents.command('list'))
    .description('list agents (deleted ones with --all)')
    .option('--all', 'include deleted agents')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; all?: boolean; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const list = await w.agents.list(opts.tenant, { includeDeleted: opts.all ?? false });
        if (opts.json) process.stdout.write(JSON.stringify(list.map(publicView), null, 2) + '\n');
        else for (const a of list) process.stdout.write(`${a.id}\t${a.state}\t${a.type}\t${a.roles.join(',') || '-'}\t${a.tier}\n`);
      });
    });

  tenantOption(agents.command('show <id>'))
    .description('show one agent')
    .option('--json', 'JSON output')
    .action(async (id: string, opts: { data: string; tenant: string; json?: boolean }) => {
      await withTenant(opts, async (w) => {
        const a = await w.agents.get(opts.tenant, id);
        process.stdout.write(opts.json ? JSON.stringify(publicView(a), null, 2) + '\n' : show(a));
      });
    });

  for (const [name, description] of [
    ['suspend', 'suspend an agent (its passports stop working until resumed)'],
    ['resume', 'resume a suspended or quarantined agent'],
    ['quarantine', 'quarantine an agent (incident response)'],
    ['delete', 'delete an agent (kept as deleted for the audit trail)'],
  ] as const) {
    tenantOption(agents.command(`${name} <id>`))
      .description(description)
      .option('--reason <text>', 'reason recorded in the receipt')
      .action(async (id: string, opts: { data: string; tenant: string; reason?: string }) => {
        await withTenant(opts, async (w) => {
          const ctx = { actor: { human: 'cli' }, ...(opts.reason ? { reason: opts.reason } : {}) };
          const a = await w.agents[name](opts.tenant, id, ctx);
          process.stdout.write(`agent ${a.id} is ${a.state}\n`);
        });
      });
  }

  tenantOption(agents.command('release <id>'))
    .description('end incident response for an agent: resume it if quarantined, lift its approval requirement, close its circuit breaker (its revoked passports stay revoked)')
    .requiredOption('--reason <text>', 'why (recorded in the receipts)')
    .action(async (id: string, opts: { data: string; tenant: string; reason: string }) => {
      await withTenant(opts, async (w) => {
        const r = await releaseAgent(w, opts.tenant, id, opts.reason, { human: 'cli' });
        process.stdout.write(`agent ${r.agent}: ${r.released.join(', ')}\n`);
      });
    });
}
