import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Warden } from '../../src/context.js';
import { PolicyError } from '../../src/policy/errors.js';
import { policyVersion } from '../../src/policy/engine.js';
import { POLICY_HEAD_ID, POLICY_HEAD_KIND, POLICY_KIND, PolicyStore } from '../../src/policy/store.js';
import { drivers, exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';
import { pol, req } from './helpers.js';

interface Rcpt { kind: string; action: string; resource: string; policy_version: string | null; actor: { human: string | null }; reasons: string[]; payload: Record<string, unknown> }
const receipts = async (w: Warden): Promise<Rcpt[]> => (await exportLines(w)).map((l) => JSON.parse(l) as Rcpt);

const V1 = pol('search', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");');
const V2 = `${V1}${pol('no-search', 'forbid (principal, action, resource == Warden::Tool::"search") when { context.risk > 50 };')}`;
const V3 = pol('nothing', 'forbid (principal, action == Warden::Action::"tool.call", resource) when { context.risk > 99 };');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(drivers())('policy store (%s)', (driver) => {
  let t: TempWarden;
  let store: PolicyStore;
  beforeAll(async () => {
    t = await tempWarden(driver);
    store = new PolicyStore(t.w.store, t.w.ledger, { refreshMs: 50 });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it('starts without a policy; deploys, receipts and activates a version', async () => {
    expect(await store.active('default')).toBeUndefined();
    expect(await store.head('default')).toBeUndefined();
    const before = (await t.w.store.head('default')).size;
    const r = await store.deploy('default', V1, { actor: { human: 'alice' }, reason: 'first policy' });
    expect(r).toMatchObject({ version: policyVersion(V1), changed: true, previous: null });
    const active = await store.active('default');
    expect(active?.version).toBe(policyVersion(V1));
    expect(active?.policy.evaluate(req()).decision).toBe('allow');
    const rs = (await receipts(t.w)).slice(before);
    expect(rs).toHaveLength(1);
    expect(rs[0]).toMatchObject({
      kind: 'policy', action: 'policy.deploy', resource: `policy:${r.version}`, policy_version: r.version,
      actor: { human: 'alice' }, reasons: ['first policy'], payload: { version: r.version, previous: null, policy_count: 1 },
    });
    const rec = await t.w.store.getRecord('default', POLICY_KIND, r.version);
    expect(JSON.parse(rec?.body ?? '{}')).toMatchObject({ text: V1, created_by: 'alice', policy_count: 1 });
    const head = await t.w.store.getRecord('default', POLICY_HEAD_KIND, POLICY_HEAD_ID);
    expect(JSON.parse(head?.body ?? '{}')).toMatchObject({ version: r.version, previous: null });
  });

  it('deploying the active version again is a no-op; an invalid policy writes nothing', async () => {
    const size = (await t.w.store.head('default')).size;
    expect(await store.deploy('default', V1)).toMatchObject({ changed: false, version: policyVersion(V1) });
    await expect(store.deploy('default', 'permit (principal, action, resource);')).rejects.toBeInstanceOf(PolicyError);
    await expect(store.deploy('default', pol('x', 'permit (principal, action, resource) when { context.nope };'))).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect((await t.w.store.head('default')).size).toBe(size);
    expect((await store.list('default')).length).toBe(1);
  });

  it('deploys a second version, lists and shows versions, resolves prefixes', async () => {
    const r = await store.deploy('default', V2, { actor: { human: 'bob' } });
    expect(r).toMatchObject({ changed: true, previous: policyVersion(V1) });
    expect((await store.active('default'))?.policy.evaluate(req({}, { risk: 80 })).decision).toBe('deny');
    const list = await store.list('default');
    expect(list.map((v) => [v.version, v.active, v.policy_count])).toEqual(expect.arrayContaining([
      [policyVersion(V1), false, 1],
      [policyVersion(V2), true, 2],
    ]));
    expect((await store.get('default', 'active')).text).toBe(V2);
    const hex = policyVersion(V1).slice(7, 19);
    expect((await store.get('default', hex)).version).toBe(policyVersion(V1));
    expect((await store.get('default', `sha256:${hex}`)).text).toBe(V1);
    await expect(store.get('default', 'sha256:' + '0'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.get('default', 'abc')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(store.get('default', 'zzzzzzzz')).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(store.diff(V1, V2)).toEqual({ added: ['no-search'], removed: [], changed: [], unchanged: 1 });
  });

  it('hot-reloads in another process within refreshMs, for deploys and rollbacks', async () => {
    const other = await t.reopen();
    const remote = new PolicyStore(other.store, other.ledger, { refreshMs: 50 });
    expect((await remote.active('default'))?.version).toBe(policyVersion(V2));
    // The other process deploys V3; this one sees it after at most refreshMs.
    await remote.deploy('default', V3, { actor: { human: 'carol' } });
    await sleep(120);
    expect((await store.active('default'))?.version).toBe(policyVersion(V3));
    // This one rolls back; the other sees V2 again.
    const rb = await store.rollback('default', undefined, { actor: { human: 'alice' }, reason: 'V3 too strict' });
    expect(rb).toMatchObject({ version: policyVersion(V2), changed: true, previous: policyVersion(V3) });
    expect((await store.active('default'))?.version).toBe(policyVersion(V2)); // at once in this process
    await sleep(120);
    expect((await remote.active('default'))?.version).toBe(policyVersion(V2));
  });

  it('rolls back to a named version; every change is a policy receipt in order', async () => {
    const before = (await t.w.store.head('default')).size;
    const r = await store.rollback('default', policyVersion(V1).slice(0, 20), { actor: { human: 'alice' } });
    expect(r).toMatchObject({ version: policyVersion(V1), changed: true, previous: policyVersion(V2) });
    expect(await store.rollback('default', policyVersion(V1))).toMatchObject({ changed: false });
    // "previous" toggles: rolling back again returns to V2.
    expect((await store.rollback('default')).version).toBe(policyVersion(V2));
    const rs = (await receipts(t.w)).slice(before);
    expect(rs.map((x) => [x.kind, x.action, x.policy_version])).toEqual([
      ['policy', 'policy.rollback', policyVersion(V1)],
      ['policy', 'policy.rollback', policyVersion(V2)],
    ]);
    const all = (await receipts(t.w)).filter((x) => x.kind === 'policy').map((x) => x.action);
    expect(all).toEqual(['policy.deploy', 'policy.deploy', 'policy.deploy', 'policy.rollback', 'policy.rollback', 'policy.rollback']);
    await expect(store.rollback('default', 'sha256:' + 'f'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rollback needs something to roll back to; tenants are separate', async () => {
    await t.w.ensureTenant('solo');
    await expect(store.rollback('solo')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.deploy('solo', V1);
    await expect(store.rollback('solo')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await store.active('solo'))?.version).toBe(policyVersion(V1));
    expect((await store.list('solo')).length).toBe(1);
    await expect(store.get('solo', policyVersion(V2))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a stored text that does not match its version is refused (fail closed)', async () => {
    await t.w.ensureTenant('tampered');
    const r = await store.deploy('tampered', V1);
    const other = await t.reopen();
    const fresh = new PolicyStore(other.store, other.ledger);
    const rec = await other.store.getRecord('tampered', POLICY_KIND, r.version);
    const body = JSON.parse(rec?.body ?? '{}') as { text: string };
    await other.ledger.append('tampered', [{ kind: 'event', action: 'tamper' }], {
      mutations: [{ op: 'putRecord', record: { ...(rec as NonNullable<typeof rec>), body: JSON.stringify({ ...body, text: V3 }) } }],
    });
    await expect(fresh.active('tampered')).rejects.toMatchObject({ code: 'STORE_ERROR' });
  });

  it('an active version that no longer validates is an error (callers deny), not recompiled per request', async () => {
    await t.w.ensureTenant('stale');
    const stale = pol('old', 'permit (principal, action, resource) when { context.colour == "red" };');
    const version = policyVersion(stale);
    const now = new Date().toISOString();
    await t.w.ledger.append('stale', [{ kind: 'event', action: 'simulate an older schema' }], {
      mutations: [
        { op: 'putRecord', record: { tenant: 'stale', kind: POLICY_KIND, id: version, state: 'stored', created_at: now, updated_at: now, body: JSON.stringify({ text: stale, created_at: now, created_by: null, policy_count: 1 }) } },
        { op: 'putRecord', record: { tenant: 'stale', kind: POLICY_HEAD_KIND, id: POLICY_HEAD_ID, state: 'active', created_at: now, updated_at: now, body: JSON.stringify({ version, previous: null, activated_at: now }) } },
      ],
    });
    const fresh = new PolicyStore(t.w.store, t.w.ledger, { refreshMs: 60_000 });
    const first = await fresh.active('stale').catch((e: unknown) => e);
    expect(first).toBeInstanceOf(PolicyError);
    expect(await fresh.active('stale').catch((e: unknown) => e)).toBe(first); // cached, same error
    // A deploy of a valid version recovers at once.
    await fresh.deploy('stale', V1);
    expect((await fresh.active('stale'))?.version).toBe(policyVersion(V1));
  });
});
