import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppendBuilder } from '../../src/store/types.js';
import { drivers, exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

interface Rcpt { kind: string; action: string; resource: string; actor: { human: string | null }; reasons: string[]; payload: Record<string, unknown> }
const receipts = async (t: TempWarden): Promise<Rcpt[]> => (await exportLines(t.w)).map((l) => JSON.parse(l) as Rcpt);

describe.each(drivers())('agent registry (%s)', (driver) => {
  let t: TempWarden;
  beforeAll(async () => {
    t = await tempWarden(driver);
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it('creates, lists, shows and updates agents, each change a receipt', async () => {
    const before = (await t.w.store.head('default')).size;
    const a = await t.w.agents.create('default', { id: 'bot-1', roles: ['reader'], capabilities: ['tool:search'], owner: 'alice' }, { actor: { human: 'alice' } });
    expect(a).toMatchObject({ id: 'bot-1', state: 'active', tier: 'process', trust_level: 0, type: 'agent', roles: ['reader'] });
    expect(await t.w.agents.get('default', 'bot-1')).toEqual(a);
    const b = await t.w.agents.update('default', 'bot-1', { roles: ['reader', 'writer'], trust_level: 5, tier: 'container' });
    expect(b).toMatchObject({ roles: ['reader', 'writer'], trust_level: 5, tier: 'container', created_at: a.created_at });
    expect(await t.w.store.getAgent('default', 'bot-1')).toEqual(b);
    const rs = (await receipts(t)).slice(before);
    expect(rs.map((r) => [r.kind, r.action, r.resource])).toEqual([
      ['agent', 'agent.create', 'agent:bot-1'],
      ['agent', 'agent.update', 'agent:bot-1'],
    ]);
    expect(rs[0]?.actor.human).toBe('alice');
    expect(rs[1]?.payload).toMatchObject({ changed: ['roles', 'tier', 'trust_level'], agent: { roles: ['reader', 'writer'] } });
    expect((await t.w.agents.list('default')).map((x) => x.id)).toContain('bot-1');
  });

  it('suspends, resumes, quarantines and deletes; deleted agents are kept but frozen', async () => {
    await t.w.agents.create('default', { id: 'bot.2' });
    expect((await t.w.agents.suspend('default', 'bot.2')).state).toBe('suspended');
    await expect(t.w.agents.suspend('default', 'bot.2')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await t.w.agents.resume('default', 'bot.2')).state).toBe('active');
    expect((await t.w.agents.quarantine('default', 'bot.2', { reason: 'velocity alert' })).state).toBe('quarantined');
    expect((await t.w.agents.delete('default', 'bot.2')).state).toBe('deleted');
    await expect(t.w.agents.resume('default', 'bot.2')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(t.w.agents.update('default', 'bot.2', { roles: ['x'] })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(t.w.agents.create('default', { id: 'bot.2' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await t.w.agents.list('default')).map((x) => x.id)).not.toContain('bot.2');
    expect((await t.w.agents.list('default', { includeDeleted: true })).find((x) => x.id === 'bot.2')?.state).toBe('deleted');
    const actions = (await receipts(t)).filter((r) => r.resource === 'agent:bot.2').map((r) => r.action);
    expect(actions).toEqual(['agent.create', 'agent.suspend', 'agent.resume', 'agent.quarantine', 'agent.delete']);
    expect((await receipts(t)).find((r) => r.action === 'agent.quarantine')?.reasons).toEqual(['velocity alert']);
  });

  it('validates ids and fields and writes nothing for bad input', async () => {
    const before = await t.w.store.head('default');
    for (const id of ['', 'Bot', '-x', 'a b', 'x'.repeat(64), '../x']) {
      await expect(t.w.agents.create('default', { id })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    }
    await expect(t.w.agents.create('default', { id: 'ok', tier: 'vm' })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(t.w.agents.create('default', { id: 'ok', roles: ['has space'] })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(t.w.agents.create('default', { id: 'ok', trust_level: 101 })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(t.w.agents.get('default', 'ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await t.w.store.head('default')).toEqual(before);
  });

  it('commits the agent row and its receipt atomically (a failing transaction writes neither)', async () => {
    const before = await t.w.store.head('default');
    const store = t.w.store;
    const original = store.append.bind(store);
    // Sabotage the transaction after the agent mutation: one more mutation that fails.
    const spy = vi.spyOn(store, 'append').mockImplementationOnce((tenant: string, build: AppendBuilder) =>
      original(tenant, (h) => {
        const plan = build(h);
        return { ...plan, mutations: [...(plan.mutations ?? []), { op: 'updateKey', tenant, kid: 'ghost', state: 'retired' }] };
      }),
    );
    await expect(t.w.agents.create('default', { id: 'atomic' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    spy.mockRestore();
    expect(await store.getAgent('default', 'atomic')).toBeUndefined();
    expect(await store.head('default')).toEqual(before);
    // And the normal path writes both.
    await t.w.agents.create('default', { id: 'atomic' });
    expect(await store.getAgent('default', 'atomic')).toBeDefined();
    expect((await store.head('default')).size).toBe(before.size + 1);
  });

  it('agent receipts are reserved: clients cannot forge them', async () => {
    await expect(t.w.ledger.append('default', [{ kind: 'agent', action: 'agent.create' }])).rejects.toThrow(/reserved/);
    await expect(t.w.ledger.append('default', [{ kind: 'auth', action: 'passport.verify' }])).rejects.toThrow(/reserved/);
  });
});
