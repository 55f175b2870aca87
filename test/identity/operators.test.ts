import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapOperator } from '../../src/cli/serve.js';
import { BUILTIN_ROLES, OperatorRegistry, PERMISSIONS } from '../../src/identity/operators.js';
import { buildServer } from '../../src/server/app.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

let t: TempWarden;
let app: FastifyInstance;
let admin: string;
let viewer: string;
let otherAdmin: string;

interface Rcpt { kind: string; action: string; decision: string | null; reasons: string[]; resource: string; actor: { human: string | null }; payload: Record<string, unknown> }
const receipts = async (tenant = 'default'): Promise<Rcpt[]> => (await exportLines(t.w, tenant)).map((l) => JSON.parse(l) as Rcpt);

interface Res { status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } }
async function call(method: 'GET' | 'POST', url: string, token: string | undefined, payload?: unknown, raw?: string): Promise<Res> {
  const headers: Record<string, string> = {};
  if (raw !== undefined) headers.authorization = raw;
  else if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
  return { status: res.statusCode, body: res.json() };
}

async function expect401(token: string | undefined, raw?: string, message = 'invalid or expired token'): Promise<void> {
  const r = await call('GET', '/v1/whoami', token, undefined, raw);
  expect(r.status, JSON.stringify(r.body)).toBe(401);
  expect(r.body.error).toEqual({ code: 'AUTH_FAILED', message });
}

beforeAll(async () => {
  t = await tempWarden('sqlite', 'identity:\n  roles:\n    auditor: [ledger:read, agents:read]\n');
  await t.w.ensureTenant('other');
  admin = (await t.w.operators.create('default', { id: 'alice', roles: ['admin'] }, { withToken: true })).token?.token as string;
  viewer = (await t.w.operators.create('default', { id: 'vic', roles: ['viewer'] }, { withToken: true })).token?.token as string;
  otherAdmin = (await t.w.operators.create('other', { id: 'olga', roles: ['admin'] }, { withToken: true })).token?.token as string;
  await t.w.agents.create('other', { id: 'secret-bot' });
  app = await buildServer(t.w);
});

afterAll(async () => {
  await app.close();
  await t.cleanup();
});

describe('operator API tokens', () => {
  it('are wdn_<id>_<secret>, shown once and stored only as a SHA-256 hash', async () => {
    const { operator, token } = await t.w.operators.create('default', { id: 'hashcheck', roles: ['viewer'], display_name: 'H' }, { withToken: true });
    expect(operator).toMatchObject({ id: 'hashcheck', roles: ['viewer'], state: 'active' });
    const m = /^wdn_([A-Za-z0-9_-]{16})_([A-Za-z0-9_-]{43})$/.exec(token?.token ?? '');
    expect(m).not.toBeNull();
    const [, tokenId, secret] = m as RegExpExecArray;
    const row = await t.w.store.getApiToken(tokenId as string);
    expect(row?.hash.length).toBe(32);
    expect(row?.operator_id).toBe('hashcheck');
    // Default expiry: 90 days.
    expect(Math.round((Date.parse(row?.expires_at ?? '') - Date.parse(row?.created_at ?? '')) / 86_400_000)).toBe(90);
    // Neither the secret nor the token is anywhere in the database files (main file and WAL).
    for (const f of ['warden.db', 'warden.db-wal']) {
      const p = join(t.dir, f);
      if (!existsSync(p)) continue;
      const bytes = readFileSync(p);
      expect(bytes.includes(Buffer.from(secret as string)), f).toBe(false);
      expect(bytes.includes(Buffer.from(token?.token as string)), f).toBe(false);
    }
    expect((await exportLines(t.w)).some((l) => l.includes(secret as string))).toBe(false);
    // The list never carries a token.
    expect(JSON.stringify(await t.w.operators.listTokens('default', 'hashcheck'))).not.toContain(secret as string);
  });

  it('a valid token authenticates at /v1/whoami', async () => {
    const r = await call('GET', '/v1/whoami', admin);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ tenant: 'default', actor: { human: 'alice', agent: null, service: null }, operator: { id: 'alice', roles: ['admin'], via: 'api-token' } });
    const o = await call('GET', '/v1/whoami', otherAdmin);
    expect(o.body).toMatchObject({ tenant: 'other', operator: { id: 'olga' } });
  });

  it('a wrong secret with a real token id is 401 and receipted as an auth deny', async () => {
    const id = admin.slice(4, 20);
    const forged = `wdn_${id}_${'A'.repeat(43)}`;
    await expect401(forged);
    const deny = (await receipts()).filter((r) => r.kind === 'auth' && r.action === 'operator.authenticate').at(-1);
    expect(deny).toMatchObject({ decision: 'deny', reasons: ['invalid or expired token'], actor: { human: 'alice' } });
    // An unknown token id: same answer.
    await expect401(`wdn_${'B'.repeat(16)}_${'A'.repeat(43)}`);
  });

  it('an expired token is 401', async () => {
    const tok = await t.w.operators.issueToken('default', 'vic', { ttlMs: 1000 });
    expect((await call('GET', '/v1/whoami', tok.token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    await expect401(tok.token);
  });

  it('a revoked token is 401; revocation is receipted', async () => {
    const tok = await t.w.operators.issueToken('default', 'vic');
    expect((await call('GET', '/v1/whoami', tok.token)).status).toBe(200);
    await t.w.operators.revokeToken('default', tok.token_id, { actor: { human: 'alice' } });
    await expect401(tok.token);
    expect((await receipts()).some((r) => r.kind === 'operator' && r.action === 'operator.token.revoke' && JSON.stringify(r.payload).includes(tok.token_id))).toBe(true);
    // Another tenant cannot revoke it.
    await expect(t.w.operators.revokeToken('other', tok.token_id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("a disabled operator's tokens are 401", async () => {
    const { token } = await t.w.operators.create('default', { id: 'dan', roles: ['admin'] }, { withToken: true });
    expect((await call('GET', '/v1/whoami', token?.token)).status).toBe(200);
    await t.w.operators.disable('default', 'dan');
    await expect401(token?.token);
    await expect(t.w.operators.issueToken('default', 'dan')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('malformed or oversized Authorization headers are 401', async () => {
    for (const raw of [
      `Bearer wdn_${'x'.repeat(10_000)}`,
      `Bearer wdn_short`,
      `Bearer ${admin} extra`,
      `Bearer ${admin}=`,
      `Basic ${admin}`,
      `Bearer ${admin.slice(0, -1)}`,
    ]) {
      const r = await call('GET', '/v1/whoami', undefined, undefined, raw);
      expect(r.status, raw.slice(0, 40)).toBe(401);
      expect(r.body.error?.code).toBe('AUTH_FAILED');
    }
    const r = await call('GET', '/v1/agents', undefined, undefined, `Bearer wdn_${'x'.repeat(100_000)}`);
    expect(r.status).toBe(401);
    expect((await call('GET', '/v1/agents', undefined)).status).toBe(401);
  });

  it('every operator change writes an operator receipt', async () => {
    const actions = (await receipts()).filter((r) => r.kind === 'operator').map((r) => r.action);
    for (const a of ['operator.create', 'operator.token.create', 'operator.token.revoke', 'operator.disable']) expect(actions).toContain(a);
    // The kind is reserved for Warden itself.
    await expect(t.w.ledger.append('default', [{ kind: 'operator', action: 'x', resource: 'y', actor: {}, payload: {} }])).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });
});

describe('RBAC', () => {
  it('the permission table: admin has all, unknown roles nothing, custom roles from config', () => {
    const ops = t.w.operators;
    expect([...ops.permissionsOf(['admin'])].sort()).toEqual([...PERMISSIONS].sort());
    expect(ops.permissionsOf(['nope']).size).toBe(0);
    expect([...ops.permissionsOf(['auditor'])].sort()).toEqual(['agents:read', 'ledger:read']);
    expect(ops.permissionsOf(['viewer']).has('agents:write')).toBe(false);
    expect(Object.keys(BUILTIN_ROLES).sort()).toEqual(['admin', 'approver', 'developer', 'operator', 'viewer']);
    expect(() => new OperatorRegistry(t.w.store, t.w.ledger, { tokenTtlMs: 1000, customRoles: { admin: [] } })).toThrow(/built-in/);
    expect(() => new OperatorRegistry(t.w.store, t.w.ledger, { tokenTtlMs: 1000, customRoles: { x: ['agents:fly'] } })).toThrow(/unknown permission/);
  });

  it('unknown roles are refused at creation', async () => {
    await expect(t.w.operators.create('default', { id: 'zed', roles: ['superuser'] })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('a viewer can GET /v1/agents but not POST (403, receipted)', async () => {
    const list = await call('GET', '/v1/agents', viewer);
    expect(list.status).toBe(200);
    expect(Array.isArray(list.body.agents)).toBe(true);
    const r = await call('POST', '/v1/agents', viewer, { id: 'nope-bot' });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'FORBIDDEN', message: 'permission agents:write required' });
    expect(await t.w.store.getAgent('default', 'nope-bot')).toBeUndefined();
    const deny = (await receipts()).filter((x) => x.kind === 'auth' && x.action === 'operator.authorize').at(-1);
    expect(deny).toMatchObject({ decision: 'deny', actor: { human: 'vic' }, resource: 'agent:nope-bot' });
    expect((await call('POST', '/v1/agents/x/passports', viewer, {})).status).toBe(403);
  });

  it('a passport is not an operator credential', async () => {
    await t.w.agents.create('default', { id: 'plain' });
    const p = await t.w.passports.issue('default', 'plain');
    const r = await call('GET', '/v1/agents', p.token);
    // Authenticated, but an agent may not administer: 403, receipted.
    expect(r.status).toBe(403);
    expect(r.body.error?.message).toBe('operator credential required');
  });

  it('an admin creates an agent, issues a passport over HTTP, and the passport authenticates', async () => {
    const created = await call('POST', '/v1/agents', admin, { id: 'web-bot', roles: ['reader'], capabilities: ['tool:search', 'files:read'], tier: 'container' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: 'web-bot', state: 'active', roles: ['reader'], tier: 'container' });
    expect(created.body.tenant).toBeUndefined();
    // Schema validation: unknown fields and bad ids are 400 in the one error format.
    const bad = await call('POST', '/v1/agents', admin, { id: 'Bad Id!' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('BAD_INPUT');
    expect((await call('POST', '/v1/agents', admin, { id: 'x', extra: 1 })).status).toBe(400);
    expect((await call('POST', '/v1/agents', admin, { id: 'web-bot' })).status).toBe(409);

    const issued = await call('POST', '/v1/agents/web-bot/passports', admin, { ttl_seconds: 300, scope: ['files:read'] });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    expect(Object.keys(issued.body).sort()).toEqual(['expires_at', 'jti', 'token']);
    const who = await call('GET', '/v1/whoami', issued.body.token as string);
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ tenant: 'default', actor: { agent: 'web-bot', human: null }, passport: { jti: issued.body.jti, scope: ['files:read'] } });

    const issueReceipt = (await receipts()).find((r) => r.action === 'passport.issue' && r.resource === 'agent:web-bot');
    expect(issueReceipt?.actor.human).toBe('alice');

    // Suspend → the passport stops working; resume → works again.
    expect((await call('POST', '/v1/agents/web-bot/suspend', admin, { reason: 'test' })).body).toMatchObject({ state: 'suspended' });
    expect((await call('GET', '/v1/whoami', issued.body.token as string)).status).toBe(403);
    expect((await call('POST', '/v1/agents/web-bot/resume', admin)).body).toMatchObject({ state: 'active' });
    expect((await call('GET', '/v1/whoami', issued.body.token as string)).status).toBe(200);
    expect((await call('POST', '/v1/agents/web-bot/quarantine', admin, {})).body).toMatchObject({ state: 'quarantined' });
    expect((await call('POST', '/v1/agents/web-bot/resume', admin, {})).status).toBe(200);

    // Revocation by jti.
    const rev = await call('POST', '/v1/passports/revoke', admin, { jti: issued.body.jti });
    expect(rev.status).toBe(200);
    expect((await call('GET', '/v1/whoami', issued.body.token as string)).status).toBe(401);
    const second = await call('POST', '/v1/agents/web-bot/passports', admin, {});
    expect((await call('POST', '/v1/passports/revoke', admin, { agent: 'web-bot' })).status).toBe(200);
    expect((await call('GET', '/v1/whoami', second.body.token as string)).status).toBe(401);
    expect((await call('POST', '/v1/passports/revoke', viewer, { jti: 'abc' })).status).toBe(403);
  });

  it("an operator of one tenant cannot touch another tenant's agents", async () => {
    // By id: the agent does not exist in the operator's tenant.
    expect((await call('POST', '/v1/agents/secret-bot/suspend', admin)).status).toBe(404);
    expect((await call('POST', '/v1/agents/secret-bot/passports', admin, {})).status).toBe(404);
    expect(((await call('GET', '/v1/agents', admin)).body.agents as { id: string }[]).some((a) => a.id === 'secret-bot')).toBe(false);
    // By naming the tenant: 403 and a cross_tenant deny receipt in the operator's tenant.
    const r = await call('POST', '/v1/agents/secret-bot/suspend?tenant=other', admin);
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'FORBIDDEN', message: 'tenant not accessible' });
    expect((await call('GET', '/v1/agents?tenant=other', admin)).status).toBe(403);
    const deny = (await receipts()).filter((x) => x.kind === 'auth' && x.reasons.includes('cross_tenant'));
    expect(deny.length).toBeGreaterThanOrEqual(2);
    expect(deny[0]).toMatchObject({ actor: { human: 'alice' }, decision: 'deny' });
    expect((await t.w.store.getAgent('other', 'secret-bot'))?.state).toBe('active');
    // The other tenant's own admin can.
    expect((await call('POST', '/v1/agents/secret-bot/suspend', otherAdmin)).body).toMatchObject({ state: 'suspended' });
  });
});

describe('serve bootstrap', () => {
  it('prints an admin API token exactly once across two starts', async () => {
    const b = await tempWarden('sqlite');
    try {
      const out: string[] = [];
      const sink = { write: (s: string) => out.push(s) };
      expect(await bootstrapOperator(b.w, sink)).toBe(true);
      // Second "start": a fresh Warden on the same data directory.
      const again = await b.reopen();
      expect(await bootstrapOperator(again, sink)).toBe(false);
      expect(await bootstrapOperator(b.w, sink)).toBe(false);
      const tokens = out.join('').match(/wdn_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}/g) ?? [];
      expect(tokens).toHaveLength(1);
      const ops = await b.w.operators.list('default');
      expect(ops.map((o) => [o.id, o.roles])).toEqual([['admin', ['admin']]]);
      const a = await b.w.operators.authenticate(tokens[0] as string);
      expect(a).toMatchObject({ tenant: 'default', operator: { id: 'admin' } });
    } finally {
      await b.cleanup();
    }
  });
});
