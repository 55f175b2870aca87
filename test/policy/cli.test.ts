/**
 * `warden policy …`: the commands run in-process through commander (the same registration the
 * `warden` binary uses), with stdout captured and errors mapped to exit codes as in main.ts.
 * When dist/cli/main.js registers the command group, a spawned smoke test runs as well.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exitCodeFor } from '../../src/cli/common.js';
import { registerPolicy } from '../../src/cli/policy.js';
import { policyVersion } from '../../src/policy/engine.js';
import { STARTER_POLICY } from '../../src/policy/starter.js';
import { tempWarden, type TempWarden } from '../helpers/warden.js';
import { pol } from './helpers.js';

interface Run { code: number; out: string; err: string }

async function warden(...args: string[]): Promise<Run> {
  const program = new Command().name('warden').exitOverride().configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void err.push(s) });
  registerPolicy(program);
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  const saved = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    await program.parseAsync(['node', 'warden', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else {
      err.push(`warden: ${(e as Error).message}\n`);
      code = exitCodeFor(e);
    }
  } finally {
    so.mockRestore();
    se.mockRestore();
    process.exitCode = saved;
  }
  return { code, out: out.join(''), err: err.join('') };
}

let t: TempWarden;
let file: (name: string, text: string) => string;
const V1 = pol('search', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");');
const V2 = `${V1}${pol('shell', 'forbid (principal, action, resource == Warden::Tool::"shell");', '@reason("no shell")')}`;

beforeAll(async () => {
  t = await tempWarden();
  file = (name, text) => {
    const p = join(t.dir, name);
    writeFileSync(p, text);
    return p;
  };
});
afterAll(async () => {
  await t.cleanup();
});

describe('warden policy (in-process)', () => {
  it('validate: exit 0 with the version, 2 with every problem listed', async () => {
    const ok = await warden('policy', 'validate', file('starter.cedar', STARTER_POLICY));
    expect(ok).toMatchObject({ code: 0, out: `valid: ${STARTER_POLICY.match(/@id\(/g)?.length} policies, version ${policyVersion(STARTER_POLICY)}\n` });
    const json = JSON.parse((await warden('policy', 'validate', join(t.dir, 'starter.cedar'), '--json')).out) as { valid: boolean; policies: string[] };
    expect(json.valid).toBe(true);
    expect(json.policies).toContain('forbid-shell-tools');
    const bad = await warden('policy', 'validate', file('bad.cedar', `${V1}permit (principal, action, resource);\n${pol('x', 'permit (principal, action, resource) when { context.amount > 1 };')}`));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/has no @id/);
    const invalid = await warden('policy', 'validate', file('invalid.cedar', pol('x', 'permit (principal, action == Warden::Action::"tool.call", resource) when { context.amount > 1 };')));
    expect(invalid.code).toBe(2);
    expect(invalid.err).toMatch(/policy "x" \(line 2\): .*context has amount/);
    expect((await warden('policy', 'validate', join(t.dir, 'missing.cedar'))).code).toBe(2);
  });

  it('starter: prints the starter policy, which validates as it is', async () => {
    const r = await warden('policy', 'starter');
    expect(r).toMatchObject({ code: 0, out: STARTER_POLICY });
    expect((await warden('policy', 'validate', file('printed.cedar', r.out))).code).toBe(0);
  });

  it('deploy, list, show, rollback (receipted), on the data directory', async () => {
    const data = ['--data', t.dir];
    const d1 = await warden('policy', 'deploy', file('v1.cedar', V1), ...data, '--reason', 'first');
    expect(d1).toMatchObject({ code: 0, out: `deployed ${policyVersion(V1)} (previous: none)\n` });
    expect((await warden('policy', 'deploy', join(t.dir, 'v1.cedar'), ...data)).out).toBe(`unchanged: ${policyVersion(V1)} is already active\n`);
    expect((await warden('policy', 'deploy', file('v2.cedar', V2), ...data)).code).toBe(0);
    expect((await warden('policy', 'deploy', join(t.dir, 'invalid.cedar'), ...data)).code).toBe(2);
    const list = await warden('policy', 'list', ...data);
    expect(list.out.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(new RegExp(`^\\* ${policyVersion(V2)}\\t.*\\t2 policies\\tcli$`)),
      expect.stringMatching(new RegExp(`^  ${policyVersion(V1)}\\t.*\\t1 policies\\tcli$`)),
    ]);
    expect((await warden('policy', 'show', ...data)).out).toBe(V2);
    expect((await warden('policy', 'show', policyVersion(V1).slice(7, 17), ...data)).out).toBe(V1);
    expect(JSON.parse((await warden('policy', 'show', '--json', ...data)).out)).toMatchObject({ version: policyVersion(V2), active: true });
    const rb = await warden('policy', 'rollback', ...data, '--reason', 'oops');
    expect(rb).toMatchObject({ code: 0, out: `rolled back to ${policyVersion(V1)} (was ${policyVersion(V2)})\n` });
    expect((await warden('policy', 'show', 'nothing', ...data)).code).toBe(2);
    expect((await warden('policy', 'list', ...data, '--tenant', 'ghost')).code).toBe(2);
    const other = await t.reopen();
    const leaves = (await other.store.getReceipts('default', 0, (await other.store.head('default')).size)).map((r) => JSON.parse(r.leaf) as { kind: string; action: string; reasons: string[] });
    expect(leaves.filter((r) => r.kind === 'policy').map((r) => [r.action, r.reasons])).toEqual([
      ['policy.deploy', ['first']],
      ['policy.deploy', []],
      ['policy.rollback', ['oops']],
    ]);
  });

  it('diff: files and stored versions', async () => {
    const data = ['--data', t.dir];
    const d = await warden('policy', 'diff', join(t.dir, 'v1.cedar'), join(t.dir, 'v2.cedar'));
    expect(d).toMatchObject({ code: 0, out: '+ shell\n1 added, 0 removed, 0 changed, 1 unchanged\n' });
    const v = await warden('policy', 'diff', 'active', join(t.dir, 'v2.cedar'), ...data);
    expect(v.out).toBe('+ shell\n1 added, 0 removed, 0 changed, 1 unchanged\n');
    expect(JSON.parse((await warden('policy', 'diff', join(t.dir, 'v2.cedar'), policyVersion(V1), '--json', ...data)).out)).toEqual({ added: [], removed: ['shell'], changed: [], unchanged: 1 });
  });

  it('test: exit 0 when every case passes, 1 when one fails, 2 for a bad file', async () => {
    const cases = file('cases.yaml', [
      'cases:',
      '  - { name: search, principal: { id: bot }, action: tool.call, resource: tool:search, expect: allow }',
      '  - { name: shell, principal: { id: bot }, action: tool.call, resource: tool:shell, expect: deny }',
    ].join('\n'));
    const pass = await warden('policy', 'test', cases, '--policy', join(t.dir, 'v2.cedar'));
    expect(pass).toMatchObject({ code: 0, out: `PASS search\nPASS shell\n2 passed, 0 failed (policy ${policyVersion(V2)})\n` });
    // Against the active policy (V1 after the rollback): shell is not forbidden, but not permitted either.
    expect((await warden('policy', 'test', cases, '--data', t.dir)).code).toBe(0);
    const failing = file('failing.json', JSON.stringify([{ name: 'shell allowed?', principal: { id: 'bot' }, action: 'tool.call', resource: 'tool:shell', expect: 'allow' }]));
    const fail = await warden('policy', 'test', failing, '--policy', join(t.dir, 'v2.cedar'));
    expect(fail.code).toBe(1);
    expect(fail.out).toMatch(/^FAIL shell allowed\?: expected allow, got deny\n {5}got deny; policies shell — no shell\n0 passed, 1 failed/);
    expect(JSON.parse((await warden('policy', 'test', failing, '--policy', join(t.dir, 'v2.cedar'), '--json')).out)).toMatchObject({ passed: 0, failed: 1 });
    expect((await warden('policy', 'test', file('broken.yaml', 'cases: ['), '--policy', join(t.dir, 'v2.cedar'))).code).toBe(2);
    expect((await warden('policy', 'test', cases, '--policy', join(t.dir, 'invalid.cedar'))).code).toBe(2);
  });

  it('whatif: replays stored decisions against a candidate', async () => {
    const other = await t.reopen();
    const request = { principal: { kind: 'agent', id: 'bot', tenant: 'default', type: 'agent', tier: 'process', trust_level: 0, roles: [], capabilities: [], scope: [] }, action: 'tool.call', tenant: 'default', context: { risk: 0, risk_level: 'low', delegated: false } };
    const now = new Date().toISOString();
    const rec = (id: string, resource: string, decision: string, full = true): { op: 'putRecord'; record: { tenant: string; kind: string; id: string; state: string; created_at: string; updated_at: string; body: string } } => ({
      op: 'putRecord',
      record: { tenant: 'default', kind: 'decision', id, state: decision, created_at: now, updated_at: now, body: JSON.stringify({ id, agent: 'bot', request: full ? { ...request, resource } : { action: 'tool.call', resource }, decision, policies: [], policy_version: policyVersion(V1) }) },
    });
    await other.ledger.append('default', [{ kind: 'event', action: 'test.setup' }], {
      mutations: [rec('dec_1', 'tool:search', 'allow'), rec('dec_2', 'tool:shell', 'deny'), rec('dec_3', 'tool:search', 'deny', false)],
    });
    const candidate = file('candidate.cedar', pol('search-off', 'forbid (principal, action, resource == Warden::Tool::"search");') + pol('shell-on', 'permit (principal, action, resource == Warden::Tool::"shell");'));
    const r = await warden('policy', 'whatif', candidate, '--data', t.dir);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^dec_1\t.*\tbot\ttool.call tool:search: allow -> deny; policies search-off/),
      expect.stringMatching(/^dec_2\t.*\tbot\ttool.call tool:shell: deny -> allow; policies shell-on/),
    ]));
    expect(lines[2]).toBe(`2 of 2 decisions would change (1 skipped) with ${policyVersion(readCandidate(candidate))}`);
    expect(JSON.parse((await warden('policy', 'whatif', candidate, '--last', '1', '--json', '--data', t.dir)).out)).toMatchObject({ evaluated: expect.any(Number) });
    expect((await warden('policy', 'whatif', candidate, '--last', 'x', '--data', t.dir)).code).toBe(2);
  });

  it('every subcommand has help', async () => {
    for (const sub of ['validate', 'deploy', 'rollback', 'list', 'show', 'diff', 'test', 'whatif']) {
      const h = await warden('policy', sub, '--help');
      expect(h.code).toBe(0);
    }
  });
});

function readCandidate(path: string): string {
  return readFileSync(path, 'utf8');
}

const CLI = resolve(process.cwd(), 'dist/cli/main.js');
const registered = existsSync(CLI) && /^ {2}policy\b/m.test(spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout);

describe.skipIf(!registered)('warden policy (spawned dist/cli/main.js)', () => {
  it('validates, deploys and tests through the binary', () => {
    const run = (...args: string[]): { status: number | null; stdout: string } => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(run('policy', 'validate', join(t.dir, 'starter.cedar')).status).toBe(0);
    expect(run('policy', 'validate', join(t.dir, 'invalid.cedar')).status).toBe(2);
    expect(run('policy', 'deploy', join(t.dir, 'v2.cedar'), '--data', t.dir).status).toBe(0);
    expect(run('policy', 'test', join(t.dir, 'failing.json'), '--data', t.dir).status).toBe(1);
  });
});
