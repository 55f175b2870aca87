import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { compilePolicy, diffPolicies, MAX_POLICY_BYTES, type CompiledPolicy, type PolicyDecision } from '../policy/engine.js';
import { parsePolicyTests, runPolicyTests } from '../policy/test-runner.js';
import { whatIf } from '../policy/whatif.js';
import { STARTER_POLICY } from '../policy/starter.js';
import { EXIT, tenantOption, withTenant } from './common.js';

type TenantOpts = { data: string; tenant: string };

/** Reads a UTF-8 text file of at most `max` bytes; unreadable files are bad input (exit 2). */
export function readTextFile(file: string, what: string, max = MAX_POLICY_BYTES): string {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new BadInputError(`${what}: ${file} is not a file`);
    if (st.size > max) throw new BadInputError(`${what}: ${file} is larger than ${max} bytes`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function out(s: string): void {
  process.stdout.write(s);
}

function summary(d: PolicyDecision): string {
  const parts: string[] = [d.decision];
  if (d.approvalRole) parts.push(`role ${d.approvalRole}`);
  if (d.obligations.length) parts.push(`obligations ${d.obligations.join(', ')}`);
  if (d.policies.length) parts.push(`policies ${d.policies.join(', ')}`);
  return `${parts.join('; ')} — ${d.reasons.join('; ')}`;
}

// ------------------------------------------------------------------ actions (exported for tests)

export function validateAction(file: string, opts: { json?: boolean }): void {
  const p = compilePolicy(readTextFile(file, 'policy file'));
  for (const w of p.warnings) process.stderr.write(`warden: warning: ${w}\n`);
  out(opts.json
    ? JSON.stringify({ valid: true, version: p.version, policies: p.policies.map((x) => x.id), warnings: p.warnings }, null, 2) + '\n'
    : `valid: ${p.size} ${p.size === 1 ? 'policy' : 'policies'}, version ${p.version}\n`);
}

export async function deployAction(file: string, opts: TenantOpts & { reason?: string }): Promise<void> {
  const text = readTextFile(file, 'policy file');
  await withTenant(opts, async (w) => {
    const r = await w.policies.deploy(opts.tenant, text, { actor: { human: 'cli' }, ...(opts.reason ? { reason: opts.reason } : {}) });
    out(r.changed ? `deployed ${r.version} (previous: ${r.previous ?? 'none'})\n` : `unchanged: ${r.version} is already active\n`);
  });
}

export async function rollbackAction(version: string | undefined, opts: TenantOpts & { reason?: string }): Promise<void> {
  await withTenant(opts, async (w) => {
    const r = await w.policies.rollback(opts.tenant, version, { actor: { human: 'cli' }, ...(opts.reason ? { reason: opts.reason } : {}) });
    out(r.changed ? `rolled back to ${r.version} (was ${r.previous ?? 'none'})\n` : `unchanged: ${r.version} is already active\n`);
  });
}

export async function listAction(opts: TenantOpts & { json?: boolean }): Promise<void> {
  await withTenant(opts, async (w) => {
    const list = await w.policies.list(opts.tenant);
    if (opts.json) out(JSON.stringify(list, null, 2) + '\n');
    else for (const v of list) out(`${v.active ? '*' : ' '} ${v.version}\t${v.created_at}\t${v.policy_count} policies\t${v.created_by ?? '-'}\n`);
  });
}

export async function showAction(version: string | undefined, opts: TenantOpts & { json?: boolean }): Promise<void> {
  await withTenant(opts, async (w) => {
    const v = await w.policies.get(opts.tenant, version ?? 'active');
    out(opts.json ? JSON.stringify(v, null, 2) + '\n' : v.text.endsWith('\n') ? v.text : `${v.text}\n`);
  });
}

/** A and B are policy files, or versions of the tenant (`active`, `sha256:…`, a hex prefix). */
export async function diffAction(a: string, b: string, opts: TenantOpts & { json?: boolean }): Promise<void> {
  const isFile = (x: string): boolean => existsSync(x);
  const texts: Record<string, string> = {};
  for (const x of [a, b]) if (isFile(x)) texts[x] = readTextFile(x, 'policy file');
  if (!isFile(a) || !isFile(b)) {
    await withTenant(opts, async (w) => {
      for (const x of [a, b]) if (!isFile(x)) texts[x] = (await w.policies.get(opts.tenant, x)).text;
    });
  }
  const d = diffPolicies(texts[a] as string, texts[b] as string);
  if (opts.json) {
    out(JSON.stringify(d, null, 2) + '\n');
    return;
  }
  for (const id of d.added) out(`+ ${id}\n`);
  for (const id of d.removed) out(`- ${id}\n`);
  for (const id of d.changed) out(`~ ${id}\n`);
  out(`${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.unchanged} unchanged\n`);
}

/** Returns the exit code: 0 all cases pass, 1 some fail. */
export async function testAction(file: string, opts: TenantOpts & { policy?: string; json?: boolean }): Promise<number> {
  const cases = parsePolicyTests(readTextFile(file, 'test file', 16 * 1024 * 1024), file);
  let policy: CompiledPolicy;
  if (opts.policy) {
    policy = compilePolicy(readTextFile(opts.policy, '--policy'));
  } else {
    policy = await withTenant(opts, async (w) => {
      const active = await w.policies.active(opts.tenant);
      if (!active) throw new BadInputError(`tenant ${opts.tenant} has no policy deployed (use --policy FILE)`);
      return active.policy;
    });
  }
  const r = runPolicyTests(policy, cases);
  if (opts.json) {
    out(JSON.stringify({ version: policy.version, passed: r.passed, failed: r.failed, results: r.results }, null, 2) + '\n');
  } else {
    for (const x of r.results) out(x.pass ? `PASS ${x.name}\n` : `FAIL ${x.name}: ${x.problems.join('; ')}\n     got ${summary(x.decision)}\n`);
    out(`${r.passed} passed, ${r.failed} failed (policy ${policy.version})\n`);
  }
  return r.failed > 0 ? EXIT.FAILED : EXIT.OK;
}

export async function whatifAction(file: string, opts: TenantOpts & { last: string; json?: boolean }): Promise<void> {
  if (!/^\d{1,5}$/.test(opts.last)) throw new BadInputError(`--last must be a number, got "${opts.last}"`);
  const candidate = compilePolicy(readTextFile(file, 'policy file'));
  await withTenant(opts, async (w) => {
    const r = await whatIf(w.store, opts.tenant, candidate, Number(opts.last));
    if (opts.json) {
      out(JSON.stringify({ version: candidate.version, ...r }, null, 2) + '\n');
      return;
    }
    for (const c of r.changes) {
      out(`${c.id}\t${c.at}\t${c.agent ?? '-'}\t${c.action} ${c.resource}: ${c.before.decision} -> ${summary(c.after)}\n`);
    }
    out(`${r.changes.length} of ${r.evaluated} decisions would change (${r.skipped} skipped) with ${candidate.version}\n`);
  });
}

// ------------------------------------------------------------------ registration

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('Cedar policies: validate, deploy, roll back, list, show, diff, test and what-if replay (docs/policy.md)');

  policy
    .command('validate <file>')
    .description('check a policy file: it parses, every policy has a unique @id, annotations are well-formed and it validates against the Warden schema (exit 0 valid, 2 invalid)')
    .option('--json', 'JSON output')
    .action((file: string, opts: { json?: boolean }) => validateAction(file, opts));

  policy
    .command('starter')
    .description('print the starter policy (what `warden serve` deploys on first start): a commented starting point to copy, test and deploy')
    .action(() => {
      process.stdout.write(STARTER_POLICY);
    });

  tenantOption(policy.command('deploy <file>'))
    .description('validate and activate a policy file for the tenant (receipted; deploying the active version again changes nothing)')
    .option('--reason <text>', 'reason recorded in the receipt')
    .action((file: string, opts: TenantOpts & { reason?: string }) => deployAction(file, opts));

  tenantOption(policy.command('rollback [version]'))
    .description('re-activate a stored version (default: the one active before the current one; receipted)')
    .option('--reason <text>', 'reason recorded in the receipt')
    .action((version: string | undefined, opts: TenantOpts & { reason?: string }) => rollbackAction(version, opts));

  tenantOption(policy.command('list'))
    .description('list the stored versions, newest first (* marks the active one)')
    .option('--json', 'JSON output')
    .action((opts: TenantOpts & { json?: boolean }) => listAction(opts));

  tenantOption(policy.command('show [version]'))
    .description('print the text of a version (default: the active one; a unique hex prefix will do)')
    .option('--json', 'JSON output with metadata')
    .action((version: string | undefined, opts: TenantOpts & { json?: boolean }) => showAction(version, opts));

  tenantOption(policy.command('diff <a> <b>'))
    .description('policy ids added, removed and changed from A to B; each is a file or a stored version (active, sha256:…, hex prefix)')
    .option('--json', 'JSON output')
    .action((a: string, b: string, opts: TenantOpts & { json?: boolean }) => diffAction(a, b, opts));

  tenantOption(policy.command('test <file>'))
    .description('run a YAML/JSON file of cases {name?, principal, action, resource, context?, expect, obligations?} against --policy FILE or the active policy (exit 0 all pass, 1 any fails, 2 bad input)')
    .option('--policy <file>', 'policy file to test (default: the tenant\'s active policy)')
    .option('--json', 'JSON output')
    .action(async (file: string, opts: TenantOpts & { policy?: string; json?: boolean }) => {
      process.exitCode = await testAction(file, opts);
    });

  tenantOption(policy.command('whatif <file>'))
    .description('replay the last N decisions against a candidate policy file and list each decision that would change')
    .option('--last <n>', 'how many recent decisions', '100')
    .option('--json', 'JSON output')
    .action((file: string, opts: TenantOpts & { last: string; json?: boolean }) => whatifAction(file, opts));
}
