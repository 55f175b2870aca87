/**
 * The one Store conformance suite. Every driver runs exactly these tests; a harness gives it a
 * fresh, empty database per test and raw SQL access (to play a newer Warden).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations.js';
import { openStore, type OpenStoreOptions } from '../../src/store/open.js';
import type {
  StateRecord, EventInsert, AgentRecord, ApiTokenRecord, AppendBuilder, KeyPurpose, KeyRecord, OperatorRecord, Store } from '../../src/store/types.js';
import { chainProblems, chainedRows, oneRow } from './chain.js';
import { spawnAppenders } from './spawn.js';

export interface StoreHarness {
  /** Options that reach this harness's database (also passed to child processes). */
  openOptions: OpenStoreOptions;
  /** Raw SQL on the same database, bypassing the Store. */
  exec(sql: string): Promise<void>;
  /** Deletes the database (file or schema). */
  dispose(): Promise<void>;
}

const T = 'acme';

export function key(kid: string, purpose: KeyPurpose = 'receipt', tenant = T): KeyRecord {
  return {
    tenant, kid, purpose, alg: 'Ed25519',
    public_key: randomBytes(32), wrapped_private_key: randomBytes(60),
    state: 'active', not_before: '2025-01-01T00:00:00Z', not_after: null, revoked_at: null,
    created_at: '2025-01-01T00:00:00.000001Z',
  };
}

export function agent(id: string, extra: Partial<AgentRecord> = {}, tenant = T): AgentRecord {
  return {
    tenant, id, type: 'assistant', owner: 'alice@example.com', roles: ['reader', 'writer'], capabilities: ['tool:search'],
    trust_level: 2, tier: 'process', state: 'active', passports_not_before: null, public_key: null,
    created_at: '2025-01-02T00:00:00.000Z', updated_at: '2025-01-02T00:00:00.000Z', ...extra,
  };
}

export function operator(id: string, extra: Partial<OperatorRecord> = {}, tenant = T): OperatorRecord {
  return {
    tenant, id, display_name: 'Alice Ops', roles: ['admin', 'viewer'], state: 'active',
    created_at: '2025-01-03T00:00:00.000Z', updated_at: '2025-01-03T00:00:00.000Z', ...extra,
  };
}

export function apiToken(tokenId: string, operatorId: string, extra: Partial<ApiTokenRecord> = {}, tenant = T): ApiTokenRecord {
  return {
    token_id: tokenId, tenant, operator_id: operatorId, hash: randomBytes(32),
    created_at: '2025-01-03T00:00:00.000Z', expires_at: '2025-04-03T00:00:00.000Z', revoked_at: null, ...extra,
  };
}

/** Awaits a rejection and checks it is a StoreError with `code`. */
export async function rejection(p: Promise<unknown>, code: string): Promise<StoreError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  return err as StoreError;
}

async function snapshot(s: Store, tenant = T) {
  return { head: await s.head(tenant), receipts: await s.getReceipts(tenant, 0, 1_000_000), keys: await s.listKeys(tenant) };
}

export function runStoreConformance(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`Store conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: Store;
    const opened: Store[] = [];
    const reopen = async () => {
      const s = await openStore(h.openOptions);
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      h = await factory();
      store = await reopen();
      expect(await store.createTenant({ name: T, origin: 'warden.test', created_at: '2025-01-01T00:00:00Z' })).toBe(true);
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await h.dispose();
    });

    describe('tenants', () => {
      it('creates a tenant once and lists tenants in name order', async () => {
        expect(await store.createTenant({ name: 'zeta', origin: 'o1', created_at: '2025-02-01T00:00:00Z' })).toBe(true);
        expect(await store.createTenant({ name: 'zeta', origin: 'o2', created_at: '2025-03-01T00:00:00Z' })).toBe(false);
        expect(await store.createTenant({ name: 'beta', origin: 'o3', created_at: '2025-04-01T00:00:00Z' })).toBe(true);
        expect(await store.getTenant('zeta')).toEqual({ name: 'zeta', origin: 'o1', created_at: '2025-02-01T00:00:00Z' });
        expect(await store.getTenant('nobody')).toBeUndefined();
        expect((await store.listTenants()).map((t) => t.name)).toEqual(['acme', 'beta', 'zeta']);
      });

      it('gives a new tenant an empty head; unknown tenants are NOT_FOUND', async () => {
        expect(await store.head(T)).toEqual({ tenant: T, size: 0, last_leaf_hash: Buffer.alloc(32), key_epoch: 0 });
        await rejection(store.head('nobody'), 'NOT_FOUND');
        let called = false;
        await rejection(store.append('nobody', () => { called = true; return { rows: [] }; }), 'NOT_FOUND');
        expect(called).toBe(false);
      });
    });

    describe('keys', () => {
      it('inserts keys through append mutations and bumps key_epoch per mutation', async () => {
        const k1 = key('k1');
        const k2 = key('k2', 'note');
        const next = await store.append(T, (head) => ({
          rows: chainedRows(head, 1, 'r'),
          mutations: [{ op: 'insertKey', key: k1 }, { op: 'insertKey', key: k2 }],
        }));
        expect(next).toMatchObject({ size: 1, key_epoch: 2 });
        expect(await store.head(T)).toEqual(next);
        expect(await store.getKey(T, 'k1')).toEqual(k1);
        expect(await store.getKey(T, 'nope')).toBeUndefined();
        expect((await store.listKeys(T)).map((k) => k.kid)).toEqual(['k1', 'k2']);
        expect(await store.listKeys(T, 'note')).toEqual([k2]);
        expect(await store.listKeys(T, 'passport')).toEqual([]);
      });

      it('updates keys: omitted fields stay, null clears, each update bumps the epoch', async () => {
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'insertKey', key: key('k1') }] }));
        const upd = (m: Record<string, unknown>): AppendBuilder => () =>
          ({ rows: [], mutations: [{ op: 'updateKey', tenant: T, kid: 'k1', state: 'active', ...m }] });
        await store.append(T, upd({ state: 'retiring', not_after: '2025-06-01T00:00:00Z' }));
        expect(await store.getKey(T, 'k1')).toMatchObject({ state: 'retiring', not_after: '2025-06-01T00:00:00Z', revoked_at: null });
        await store.append(T, upd({ state: 'revoked', revoked_at: '2025-07-01T00:00:00Z' }));
        expect(await store.getKey(T, 'k1')).toMatchObject({ state: 'revoked', not_after: '2025-06-01T00:00:00Z', revoked_at: '2025-07-01T00:00:00Z' });
        const last = await store.append(T, upd({ not_after: null }));
        expect(await store.getKey(T, 'k1')).toMatchObject({ state: 'active', not_after: null, revoked_at: '2025-07-01T00:00:00Z' });
        expect(last).toMatchObject({ size: 0, key_epoch: 4 });
      });

      it('rejects a bad key mutation and writes nothing', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 2, 'a'), mutations: [{ op: 'insertKey', key: key('k1') }] }));
        const before = await snapshot(store);
        const withRows = (mutation: never): AppendBuilder => (head) => ({ rows: chainedRows(head, 2, 'b'), mutations: [mutation] });
        await rejection(store.append(T, withRows({ op: 'updateKey', tenant: T, kid: 'ghost', state: 'retired' } as never)), 'NOT_FOUND');
        await rejection(store.append(T, withRows({ op: 'insertKey', key: key('k1') } as never)), 'CONFLICT');
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        await rejection(store.append(T, withRows({ op: 'insertKey', key: key('kz', 'receipt', 'zeta') } as never)), 'STORE_ERROR');
        expect(await snapshot(store)).toEqual(before);
        expect(await store.listKeys('zeta')).toEqual([]);
      });
    });

    describe('agents and revoked passports', () => {
      it('upserts agents through append mutations without bumping key_epoch', async () => {
        const a = agent('bot-1');
        const b = agent('a.bot_2', { owner: null, roles: [], capabilities: [], state: 'suspended' });
        const next = await store.append(T, (head) => ({ rows: chainedRows(head, 1, 'r'), mutations: [{ op: 'putAgent', agent: a }, { op: 'putAgent', agent: b }] }));
        expect(next).toMatchObject({ size: 1, key_epoch: 0 });
        expect(await store.getAgent(T, 'bot-1')).toEqual(a);
        expect(await store.getAgent(T, 'nope')).toBeUndefined();
        expect(await store.listAgents(T)).toEqual([b, a]);
        const changed = { ...a, roles: ['admin'], state: 'quarantined' as const, passports_not_before: '2025-03-03T03:03:03.333Z', updated_at: '2025-03-03T03:03:03.333Z', public_key: 'A'.repeat(43) };
        await store.append(T, (head) => ({ rows: chainedRows(head, 1, 's'), mutations: [{ op: 'putAgent', agent: changed }] }));
        expect(await store.getAgent(T, 'bot-1')).toEqual(changed);
        expect(await store.listAgents(T)).toHaveLength(2);
        // Mixed batch: only the key mutation bumps the epoch.
        const mixed = await store.append(T, () => ({ rows: [], mutations: [{ op: 'insertKey', key: key('k1', 'passport') }, { op: 'putAgent', agent: agent('c') }] }));
        expect(mixed.key_epoch).toBe(1);
      });

      it('records revoked passports idempotently, per tenant, listable since a time', async () => {
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        const rev = (jti: string, at: string, tenant = T) => ({ op: 'revokePassport' as const, tenant, jti, expires_at: '2025-12-01T00:00:00.000Z', revoked_at: at });
        const head = await store.append(T, (h) => ({ rows: chainedRows(h, 1, 'r'), mutations: [rev('j1', '2025-05-01T00:00:00.000Z'), rev('j2', '2025-06-01T00:00:00.000Z')] }));
        expect(head.key_epoch).toBe(0);
        await store.append(T, () => ({ rows: [], mutations: [rev('j1', '2025-07-01T00:00:00.000Z')] })); // already revoked: kept as first recorded
        await store.append('zeta', () => ({ rows: [], mutations: [rev('j3', '2025-05-01T00:00:00.000Z', 'zeta')] }));
        expect(await store.isPassportRevoked(T, 'j1')).toBe(true);
        expect(await store.isPassportRevoked(T, 'j3')).toBe(false);
        expect(await store.isPassportRevoked('zeta', 'j3')).toBe(true);
        expect(await store.listRevokedPassports(T)).toEqual([
          { tenant: T, jti: 'j1', expires_at: '2025-12-01T00:00:00.000Z', revoked_at: '2025-05-01T00:00:00.000Z' },
          { tenant: T, jti: 'j2', expires_at: '2025-12-01T00:00:00.000Z', revoked_at: '2025-06-01T00:00:00.000Z' },
        ]);
        expect((await store.listRevokedPassports(T, '2025-05-15T00:00:00.000Z')).map((r) => r.jti)).toEqual(['j2']);
      });

      it('rejects agent mutations for another tenant or an unknown one, and writes nothing', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 2, 'a') }));
        const before = await snapshot(store);
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putAgent', agent: agent('x', {}, 'zeta') }] })), 'STORE_ERROR');
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'revokePassport', tenant: 'zeta', jti: 'j', expires_at: 'e', revoked_at: 'r' }] })), 'STORE_ERROR');
        // A failing mutation later in the batch rolls back the agent written before it.
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putAgent', agent: agent('y') }, { op: 'updateKey', tenant: T, kid: 'ghost', state: 'retired' }] })), 'NOT_FOUND');
        expect(await snapshot(store)).toEqual(before);
        expect(await store.listAgents(T)).toEqual([]);
        expect(await store.listAgents('zeta')).toEqual([]);
        expect(await store.listRevokedPassports('zeta')).toEqual([]);
      });
    });

    describe('operators and API tokens', () => {
      it('upserts operators and stores tokens through append mutations without bumping key_epoch', async () => {
        const a = operator('alice');
        const b = operator('bob', { display_name: null, roles: [] });
        const tok1 = apiToken('tok-1', 'alice');
        const tok2 = apiToken('tok-2', 'bob', { created_at: '2025-01-04T00:00:00.000Z' });
        const next = await store.append(T, (head) => ({
          rows: chainedRows(head, 1, 'o'),
          mutations: [{ op: 'putOperator', operator: a }, { op: 'putOperator', operator: b }, { op: 'putApiToken', token: tok1 }, { op: 'putApiToken', token: tok2 }],
        }));
        expect(next).toMatchObject({ size: 1, key_epoch: 0 });
        expect(await store.getOperator(T, 'alice')).toEqual(a);
        expect(await store.getOperator(T, 'nope')).toBeUndefined();
        expect(await store.listOperators(T)).toEqual([a, b]);
        expect(await store.getApiToken('tok-1')).toEqual(tok1);
        expect(await store.getApiToken('nope')).toBeUndefined();
        expect(await store.listApiTokens(T)).toEqual([tok1, tok2]);
        expect(await store.listApiTokens(T, 'bob')).toEqual([tok2]);
        const disabled = { ...a, state: 'disabled' as const, roles: ['viewer'], updated_at: '2025-02-02T00:00:00.000Z' };
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'putOperator', operator: disabled }] }));
        expect(await store.getOperator(T, 'alice')).toEqual(disabled);
        // Revocation keeps the first revocation time.
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'revokeApiToken', tenant: T, token_id: 'tok-1', revoked_at: '2025-02-01T00:00:00.000Z' }] }));
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'revokeApiToken', tenant: T, token_id: 'tok-1', revoked_at: '2025-03-01T00:00:00.000Z' }] }));
        expect(await store.getApiToken('tok-1')).toEqual({ ...tok1, revoked_at: '2025-02-01T00:00:00.000Z' });
        expect((await store.head(T)).key_epoch).toBe(0);
      });

      it('rejects bad operator and token mutations and writes nothing', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 1, 'a'), mutations: [{ op: 'putOperator', operator: operator('alice') }, { op: 'putApiToken', token: apiToken('tok', 'alice') }] }));
        const before = await snapshot(store);
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putOperator', operator: operator('x', {}, 'zeta') }] })), 'STORE_ERROR');
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putApiToken', token: apiToken('t2', 'alice', { hash: Buffer.alloc(5) }) }] })), 'STORE_ERROR');
        // A duplicate token id, a token of an unknown operator, another tenant's token: refused.
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putApiToken', token: apiToken('tok', 'alice') }] })), 'CONFLICT');
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putApiToken', token: apiToken('t3', 'ghost') }] })), 'NOT_FOUND');
        await rejection(store.append('zeta', (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'revokeApiToken', tenant: 'zeta', token_id: 'tok', revoked_at: 'r' }] })), 'NOT_FOUND');
        // A failing mutation later in the batch rolls back the operator written before it.
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'b'), mutations: [{ op: 'putOperator', operator: operator('y') }, { op: 'revokeApiToken', tenant: T, token_id: 'ghost', revoked_at: 'r' }] })), 'NOT_FOUND');
        expect(await snapshot(store)).toEqual(before);
        expect((await store.listOperators(T)).map((o) => o.id)).toEqual(['alice']);
        expect(await store.listOperators('zeta')).toEqual([]);
        expect((await store.getApiToken('tok'))?.revoked_at).toBeNull();
      });
    });

    describe('append continuity', () => {
      const bad: [string, string, AppendBuilder][] = [
        ['starts past the head', 'CONFLICT', (h) => ({ rows: chainedRows({ ...h, size: h.size + 1 }, 2, 'x') })],
        ['restarts at an old seq', 'CONFLICT', (h) => ({ rows: chainedRows({ ...h, size: 1 }, 2, 'x') })],
        ['skips a seq inside the batch', 'CONFLICT', (h) => ({ rows: chainedRows(h, 4, 'x').filter((r) => r.seq !== h.size + 2) })],
        ['repeats a seq inside the batch', 'CONFLICT', (h) => {
          const rows = chainedRows(h, 3, 'x');
          return { rows: [rows[0]!, rows[1]!, { ...rows[2]!, seq: h.size + 1 }] };
        }],
        ['has a leaf_hash of the wrong length', 'STORE_ERROR', (h) => ({ rows: chainedRows(h, 2, 'x').map((r) => ({ ...r, leaf_hash: r.leaf_hash.subarray(0, 31) })) })],
        ['reuses an existing receipt id', 'CONFLICT', (h) => ({ rows: chainedRows(h, 2, 'r') })],
        ['is asynchronous', 'STORE_ERROR', (async (h: Parameters<AppendBuilder>[0]) => ({ rows: chainedRows(h, 1, 'x') })) as unknown as AppendBuilder],
      ];
      it.each(bad)('rejects a batch that %s and writes nothing', async (_what, code, build) => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 3, 'r') }));
        const before = await snapshot(store);
        const withKey: AppendBuilder = (head) => {
          const plan = build(head);
          return { ...plan, mutations: [{ op: 'insertKey', key: key('kx') }] };
        };
        await rejection(store.append(T, withKey), code);
        expect(await snapshot(store)).toEqual(before);
        expect(await store.getKey(T, 'kx')).toBeUndefined();
      });

      it('rethrows a builder error as-is after rolling back, and stays usable', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 3, 'r') }));
        const before = await snapshot(store);
        const boom = new Error('builder says no');
        const err = await store.append(T, () => { throw boom; }).catch((e: unknown) => e);
        expect(err).toBe(boom);
        expect(await snapshot(store)).toEqual(before);
        const next = await store.append(T, oneRow('after'));
        expect(next.size).toBe(4);
        expect(chainProblems(await store.getReceipts(T, 0, 10))).toEqual([]);
      });

      it('returns the head unchanged for an empty plan', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 2, 'r') }));
        const before = await store.head(T);
        expect(await store.append(T, () => ({ rows: [] }))).toEqual(before);
        expect(await store.head(T)).toEqual(before);
      });
    });

    describe('receipts', () => {
      it('pages receipts, finds them by id and returns leaf hash ranges', async () => {
        // 1200 rows in one batch crosses multi-row INSERT boundaries.
        await store.append(T, (head) => ({ rows: chainedRows(head, 1200, 'r') }));
        for (const id of ['s0', 's1', 's2']) await store.append(T, oneRow(id));
        const all = await store.getReceipts(T, 0, 5000);
        expect(all).toHaveLength(1203);
        expect(chainProblems(all)).toEqual([]);
        const pages = [await store.getReceipts(T, 0, 500), await store.getReceipts(T, 500, 500), await store.getReceipts(T, 1000, 500)];
        expect(pages.map((p) => p.length)).toEqual([500, 500, 203]);
        expect(pages.flat()).toEqual(all);
        expect(await store.getReceipts(T, 1203, 10)).toEqual([]);
        expect(await store.getReceipts(T, 5, 0)).toEqual([]);
        expect(await store.getReceipts(T, 7, 2)).toEqual(all.slice(7, 9));
        expect(await store.getReceiptById(T, 'r7')).toEqual(all[7]);
        expect(await store.getReceiptById(T, 's2')).toEqual(all[1202]);
        expect(await store.getReceiptById(T, 'nope')).toBeUndefined();
        expect(await store.getLeafHashes(T, 10, 20)).toEqual(all.slice(10, 20).map((r) => r.leaf_hash));
        expect(await store.getLeafHashes(T, 1200, 9999)).toEqual(all.slice(1200).map((r) => r.leaf_hash));
        expect(await store.getLeafHashes(T, 7, 7)).toEqual([]);
        expect((await store.head(T)).last_leaf_hash).toEqual(all[1202]!.leaf_hash);
        await rejection(store.getReceipts(T, -1, 10), 'STORE_ERROR');
      });

      it('round-trips fields exactly: odd timestamps, null correlation ids', async () => {
        const ts = '2025-03-04T05:06:07.123456789+01:00';
        await store.append(T, (head) => ({ rows: chainedRows(head, 2, 'r').map((r, i) => ({ ...r, ts, correlation_id: i ? null : 'c' })) }));
        const [a, b] = await store.getReceipts(T, 0, 2);
        expect([a?.ts, b?.ts, a?.correlation_id, b?.correlation_id]).toEqual([ts, ts, 'c', null]);
      });

      it("keeps tenants' logs apart", async () => {
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        await store.append(T, (head) => ({ rows: chainedRows(head, 2, 'r') }));
        await store.append('zeta', (head) => ({ rows: chainedRows(head, 3, 'r') })); // same ids, other tenant
        expect((await store.head(T)).size).toBe(2);
        expect((await store.head('zeta')).size).toBe(3);
        expect((await store.getReceiptById('zeta', 'r2'))?.seq).toBe(2);
        expect(await store.getReceiptById(T, 'r2')).toBeUndefined();
      });
    });

    describe('checkpoints', () => {
      const cp = (size: number, root: Buffer, note = `note ${size}`) => ({ tenant: T, size, root_hash: root, note, created_at: '2025-05-05T05:05:05Z' });
      it('stores checkpoints, is idempotent for the same root and refuses a different one', async () => {
        const roots = [randomBytes(32), randomBytes(32), randomBytes(32)];
        await store.putCheckpoint(cp(10, roots[0]!));
        await store.putCheckpoint(cp(30, roots[1]!));
        await store.putCheckpoint(cp(20, roots[2]!));
        expect(await store.latestCheckpoint(T)).toEqual(cp(30, roots[1]!));
        expect(await store.getCheckpoint(T, 20)).toEqual(cp(20, roots[2]!));
        expect(await store.getCheckpoint(T, 25)).toBeUndefined();
        await store.putCheckpoint(cp(10, Buffer.from(roots[0]!), 'another note'));
        await rejection(store.putCheckpoint(cp(10, randomBytes(32))), 'CONFLICT');
        expect(await store.getCheckpoint(T, 10)).toEqual(cp(10, roots[0]!));
        await rejection(store.putCheckpoint({ ...cp(1, roots[0]!), tenant: 'nobody' }), 'NOT_FOUND');
        expect(await store.latestCheckpoint('nobody')).toBeUndefined();
      });
    });

    describe('state records', () => {
      const rec = (id: string, extra: Partial<StateRecord> = {}): StateRecord => ({
        tenant: T, kind: 'approval', id, state: 'pending', created_at: `2025-05-0${id.length}T00:00:00.000Z`,
        updated_at: '2025-05-01T00:00:00.000Z', body: JSON.stringify({ id, note: 'é ✓' }), ...extra,
      });
      it('commits with receipts, upserts by (tenant, kind, id), lists newest first with state and limit', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 1, 'r'), mutations: [{ op: 'putRecord', record: rec('a') }, { op: 'putRecord', record: rec('bb') }] }));
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'putRecord', record: rec('ccc', { kind: 'decision' }) }] }));
        expect(await store.getRecord(T, 'approval', 'a')).toEqual(rec('a'));
        expect(await store.getRecord(T, 'decision', 'a')).toBeUndefined();
        expect((await store.listRecords(T, 'approval')).map((r) => r.id)).toEqual(['bb', 'a']);
        const resolved = rec('a', { state: 'approved', updated_at: '2025-06-01T00:00:00.000Z', body: '{"ok":true}' });
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'putRecord', record: resolved }] }));
        expect(await store.getRecord(T, 'approval', 'a')).toEqual(resolved);
        expect((await store.listRecords(T, 'approval', { state: 'pending' })).map((r) => r.id)).toEqual(['bb']);
        expect(await store.listRecords(T, 'approval', { limit: 1 })).toHaveLength(1);
        await rejection(store.listRecords(T, 'approval', { limit: 0 }), 'STORE_ERROR');
        // expectState: the write happens only from that state, else the whole append is refused.
        const approved = rec('bb', { state: 'approved', body: '{"by":"x"}' });
        await store.append(T, (head) => ({ rows: chainedRows(head, 1, 'e'), mutations: [{ op: 'putRecord', record: approved, expectState: 'pending' }] }));
        const sizeBefore = (await store.head(T)).size;
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'f'), mutations: [{ op: 'putRecord', record: rec('bb', { state: 'denied' }), expectState: 'pending' }] })), 'CONFLICT');
        await rejection(store.append(T, () => ({ rows: [], mutations: [{ op: 'putRecord', record: rec('ghost'), expectState: 'pending' }] })), 'NOT_FOUND');
        expect((await store.getRecord(T, 'approval', 'bb'))?.state).toBe('approved');
        expect((await store.head(T)).size).toBe(sizeBefore);
        // A failed append writes neither its receipts nor its records.
        await rejection(store.append(T, (head) => ({ rows: chainedRows(head, 1, 'z'), mutations: [{ op: 'putRecord', record: rec('dddd') }, { op: 'putRecord', record: rec('x', { tenant: 'zeta' }) }] })), 'STORE_ERROR');
        expect(await store.getRecord(T, 'approval', 'dddd')).toBeUndefined();
      });
    });

    describe('events', () => {
      const ev = (i: number, extra: Partial<EventInsert> = {}): EventInsert => ({
        tenant: T, id: `evt_${i}`, ts: `2025-07-01T00:00:0${i % 10}.000Z`, severity: i % 2 ? 'high' : 'info',
        category: i % 3 ? 'decision' : 'alert', agent: i % 2 ? 'bot' : null, correlation_id: `c${i % 2}`, body: JSON.stringify({ i, note: 'é ✓' }), ...extra,
      });
      it('assigns increasing cursors in insertion order and filters on every field, paging both ways', async () => {
        const first = await store.insertEvents([ev(0), ev(1), ev(2)]);
        const second = await store.insertEvents([ev(3), ev(4, { tenant: 'zeta' })]);
        expect(await store.insertEvents([])).toEqual([]);
        const cursors = [...first, ...second];
        expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
        expect(new Set(cursors).size).toBe(5);
        const all = await store.listEvents({ tenant: T, limit: 100 });
        expect(all.map((e) => e.id)).toEqual(['evt_0', 'evt_1', 'evt_2', 'evt_3']);
        expect(all[1]).toEqual({ ...ev(1), cursor: first[1] });
        expect((await store.listEvents({ limit: 100 })).map((e) => e.id)).toContain('evt_4');
        expect((await store.listEvents({ tenant: T, after: first[1], limit: 100 })).map((e) => e.id)).toEqual(['evt_2', 'evt_3']);
        expect((await store.listEvents({ tenant: T, before: first[2], limit: 100, order: 'desc' })).map((e) => e.id)).toEqual(['evt_1', 'evt_0']);
        expect((await store.listEvents({ tenant: T, severities: ['high'], limit: 100 })).map((e) => e.id)).toEqual(['evt_1', 'evt_3']);
        expect((await store.listEvents({ tenant: T, categories: ['alert'], limit: 100 })).map((e) => e.id)).toEqual(['evt_0', 'evt_3']);
        expect((await store.listEvents({ tenant: T, agent: 'bot', correlation_id: 'c1', limit: 100 })).map((e) => e.id)).toEqual(['evt_1', 'evt_3']);
        expect((await store.listEvents({ tenant: T, since: '2025-07-01T00:00:01.000Z', until: '2025-07-01T00:00:02.000Z', limit: 100 })).map((e) => e.id)).toEqual(['evt_1', 'evt_2']);
        expect(await store.listEvents({ tenant: T, limit: 1, order: 'desc' })).toHaveLength(1);
        // Filter values are bound, never spliced into SQL.
        expect(await store.listEvents({ tenant: "acme' OR '1'='1", limit: 100 })).toEqual([]);
        await rejection(store.listEvents({ tenant: T, limit: 0 }), 'STORE_ERROR');
      });
      it('finds receipts by correlation id in seq order', async () => {
        await store.append(T, (head) => ({ rows: chainedRows(head, 4, 'r').map((r, i) => ({ ...r, correlation_id: i % 2 ? 'odd' : 'even' })) }));
        expect((await store.getReceiptsByCorrelation(T, 'odd', 10)).map((r) => r.seq)).toEqual([1, 3]);
        expect(await store.getReceiptsByCorrelation(T, 'odd', 1)).toHaveLength(1);
        expect(await store.getReceiptsByCorrelation('zeta', 'odd', 10)).toEqual([]);
      });
    });

    describe('data keys', () => {
      it('destroys every wrapped data key of the tenant and only that tenant', async () => {
        await store.createTenant({ name: 'zeta', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
        const dk = (tenant: string, id: string) => ({ tenant, id, wrapped_key: randomBytes(48), created_at: `2025-01-0${id.length}T00:00:00Z`, destroyed_at: null });
        const mine = [dk(T, 'a'), dk(T, 'bb'), dk(T, 'ccc')];
        for (const k of [...mine, dk('zeta', 'a')]) await store.putDataKey(k);
        await rejection(store.putDataKey(dk(T, 'a')), 'CONFLICT');
        expect(await store.listDataKeys(T)).toEqual(mine);
        const zetaBefore = await store.listDataKeys('zeta');
        expect(await store.destroyDataKeys(T, '2025-09-09T09:09:09Z')).toBe(3);
        expect(await store.listDataKeys(T)).toEqual(mine.map((k) => ({ ...k, wrapped_key: null, destroyed_at: '2025-09-09T09:09:09Z' })));
        expect(await store.destroyDataKeys(T, '2026-01-01T00:00:00Z')).toBe(0);
        expect((await store.listDataKeys(T))[0]?.destroyed_at).toBe('2025-09-09T09:09:09Z');
        expect(await store.listDataKeys('zeta')).toEqual(zetaBefore);
      });
    });

    describe('schema', () => {
      it('reports the latest version and keeps data across reopen', async () => {
        expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        const head = await store.append(T, (h0) => ({ rows: chainedRows(h0, 5, 'r') }));
        const again = await reopen();
        expect(await again.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await again.head(T)).toEqual(head);
      });

      it('upgrades a version 1 database: agents and revoked passports appear, data stays', async () => {
        const head = await store.append(T, (h0) => ({ rows: chainedRows(h0, 3, 'r'), mutations: [{ op: 'insertKey', key: key('k1') }] }));
        await h.exec('DROP TABLE api_tokens');
        await h.exec('DROP TABLE operators');
        await h.exec('DROP TABLE revoked_passports');
        await h.exec('DROP TABLE agents');
        await h.exec('DROP TABLE records');
        await h.exec('DROP TABLE events');
        await h.exec('UPDATE schema_meta SET version = 1');
        const upgraded = await reopen();
        expect(await upgraded.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await upgraded.head(T)).toEqual(head);
        expect(await upgraded.listAgents(T)).toEqual([]);
        await upgraded.append(T, () => ({ rows: [], mutations: [{ op: 'putAgent', agent: agent('bot') }, { op: 'revokePassport', tenant: T, jti: 'j', expires_at: 'e', revoked_at: 'r' }] }));
        expect(await upgraded.getAgent(T, 'bot')).toEqual(agent('bot'));
        expect(await upgraded.isPassportRevoked(T, 'j')).toBe(true);
      });

      it('upgrades a version 2 database: operators and API tokens appear, agents stay', async () => {
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'putAgent', agent: agent('bot') }] }));
        await h.exec('DROP TABLE api_tokens');
        await h.exec('DROP TABLE operators');
        await h.exec('ALTER TABLE agents DROP COLUMN public_key');
        await h.exec('DROP TABLE records');
        await h.exec('DROP TABLE events');
        await h.exec('UPDATE schema_meta SET version = 2');
        const upgraded = await reopen();
        expect(await upgraded.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await upgraded.getAgent(T, 'bot')).toEqual(agent('bot'));
        expect(await upgraded.listOperators(T)).toEqual([]);
        await upgraded.append(T, () => ({ rows: [], mutations: [{ op: 'putOperator', operator: operator('alice') }, { op: 'putApiToken', token: apiToken('tok', 'alice') }] }));
        expect(await upgraded.getOperator(T, 'alice')).toEqual(operator('alice'));
        expect(await upgraded.listApiTokens(T, 'alice')).toHaveLength(1);
      });

      it("upgrades a version 3 database: agents gain an empty public key and can store one", async () => {
        await store.append(T, () => ({ rows: [], mutations: [{ op: 'putAgent', agent: agent('bot') }] }));
        await h.exec('ALTER TABLE agents DROP COLUMN public_key');
        await h.exec('DROP TABLE records');
        await h.exec('DROP TABLE events');
        await h.exec('UPDATE schema_meta SET version = 3');
        const upgraded = await reopen();
        expect(await upgraded.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
        expect(await upgraded.getAgent(T, 'bot')).toEqual({ ...agent('bot'), public_key: null });
        const keyed = agent('bot', { public_key: 'B'.repeat(43) });
        await upgraded.append(T, () => ({ rows: [], mutations: [{ op: 'putAgent', agent: keyed }] }));
        expect(await upgraded.getAgent(T, 'bot')).toEqual(keyed);
      });

      it('refuses a database written by a newer Warden', async () => {
        const newer = LATEST_SCHEMA_VERSION + 6;
        await h.exec(`UPDATE schema_meta SET version = ${newer}`);
        const err = await rejection(openStore(h.openOptions), 'STORE_TOO_NEW');
        expect(err.message).toBe(
          `database schema version ${newer} is newer than this Warden (supports up to ${LATEST_SCHEMA_VERSION}); upgrade Warden`,
        );
        expect(await store.schemaVersion()).toBe(newer);
      });
    });

    describe('concurrency', () => {
      it('serialises 8 in-process appenders × 50 appends into one gap-free chain', async () => {
        const stores = [store, await reopen()];
        await Promise.all(Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; i < 50; i++) await stores[w % 2]!.append(T, oneRow(`w${w}-${i}`, `w${w}`));
        }));
        const rows = await store.getReceipts(T, 0, 1000);
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i));
        expect(chainProblems(rows)).toEqual([]);
        expect(new Set(rows.map((r) => r.id)).size).toBe(400);
        expect(await store.head(T)).toMatchObject({ size: 400, last_leaf_hash: rows[399]!.leaf_hash });
      });

      it('serialises appenders in 3 processes into one gap-free chain', async () => {
        const writers = ['p0', 'p1', 'p2'];
        await spawnAppenders(h.openOptions, T, writers, 100);
        const rows = await store.getReceipts(T, 0, 1000);
        expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
        expect(chainProblems(rows)).toEqual([]);
        for (const w of writers) {
          expect(rows.filter((r) => r.correlation_id === w).map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => `${w}-${i}`));
        }
        expect(await store.head(T)).toMatchObject({ size: 300, last_leaf_hash: rows[299]!.leaf_hash });
      }, 120_000);
    });
  });
}
