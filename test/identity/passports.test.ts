import { createHmac, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../../src/server/app.js';
import { MAX_PASSPORT_BYTES, type PassportClaims } from '../../src/identity/passports.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

let t: TempWarden;
let app: FastifyInstance;

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = (): number => Math.floor(Date.now() / 1000);

async function whoami(token: string | undefined, raw?: string) {
  const headers: Record<string, string> = {};
  if (raw !== undefined) headers.authorization = raw;
  else if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await app.inject({ url: '/v1/whoami', headers });
  return { status: res.statusCode, body: res.json() as { error?: { code: string; message: string } } & Record<string, unknown>, headers: res.headers };
}

async function expectDenied(token: string | undefined, status: number, reason: RegExp | string, raw?: string): Promise<void> {
  const r = await whoami(token, raw);
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error?.code).toBe(status === 401 ? 'AUTH_FAILED' : 'FORBIDDEN');
  if (typeof reason === 'string') expect(r.body.error?.message).toBe(reason);
  else expect(r.body.error?.message).toMatch(reason);
}

async function passportKey(tenant: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: Buffer }> {
  const s = (await t.w.keyring.load(tenant, { refresh: true })).active('passport');
  return { kid: s.kid, privateKey: s.privateKey, publicKey: s.record.public_key };
}

function claims(extra: Partial<Record<keyof PassportClaims, unknown>> = {}): Record<string, unknown> {
  const n = nowS();
  return {
    iss: 'warden', aud: 'warden', sub: 'bot', tenant: 'default', roles: ['reader'], capabilities: ['tool:search'],
    scope: [], tier: 'process', jti: `forged-${Math.random().toString(36).slice(2)}`, iat: n, nbf: n, exp: n + 600, ...extra,
  };
}

async function forge(tenantKey: string, extra: Partial<Record<keyof PassportClaims, unknown>> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const k = await passportKey(tenantKey);
  return new SignJWT(claims(extra)).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: k.kid, ...header }).sign(k.privateKey);
}

const issue = async (agent = 'bot', tenant = 'default', opts: { ttlMs?: number; scope?: string[] } = {}) => (await t.w.passports.issue(tenant, agent, opts)).token;

interface Rcpt { kind: string; action: string; decision: string | null; reasons: string[]; resource: string; actor: { agent: string | null }; payload: Record<string, unknown> }
const receipts = async (tenant = 'default'): Promise<Rcpt[]> => (await exportLines(t.w, tenant)).map((l) => JSON.parse(l) as Rcpt);

beforeAll(async () => {
  t = await tempWarden('sqlite');
  await t.w.ensureTenant('other');
  await t.w.ensureTenant('rot');
  await t.w.agents.create('default', { id: 'bot', roles: ['reader'], capabilities: ['tool:search', 'files:*'], tier: 'process' });
  await t.w.agents.create('other', { id: 'bot', roles: ['admin'] });
  await t.w.agents.create('rot', { id: 'bot' });
  app = await buildServer(t.w);
});
afterAll(async () => {
  await app.close();
  await t.cleanup();
});

describe('passports: issuance and whoami', () => {
  it('every tenant has a passport key; issued passports are EdDSA JWTs with the required claims', async () => {
    const token = await t.w.passports.issue('default', 'bot', { scope: ['files:read'] });
    const header = decodeProtectedHeader(token.token);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: (await passportKey('default')).kid });
    const c = decodeJwt(token.token);
    expect(c).toMatchObject({ iss: 'warden', aud: 'warden', sub: 'bot', tenant: 'default', roles: ['reader'], capabilities: ['tool:search', 'files:*'], scope: ['files:read'], tier: 'process' });
    expect((c.exp as number) - (c.iat as number)).toBeGreaterThan(14 * 60);
    expect((c.exp as number) - (c.iat as number)).toBeLessThanOrEqual(15 * 60);
    // Issuance is receipted with jti, exp and scope — never the token.
    const r = (await receipts()).find((x) => x.action === 'passport.issue' && x.payload.jti === token.jti);
    expect(r).toMatchObject({ kind: 'agent', resource: 'agent:bot', payload: { jti: token.jti, exp: token.expires_at, scope: ['files:read'] } });
    expect((await exportLines(t.w)).join('\n')).not.toContain(token.token.split('.')[2]);
  });

  it('a valid passport → whoami 200 with the actor chain', async () => {
    const p = await t.w.passports.issue('default', 'bot', { scope: ['files:read'] });
    const r = await whoami(p.token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      tenant: 'default',
      actor: { human: null, agent: 'bot', service: null },
      agent: { id: 'bot', roles: ['reader'], capabilities: ['tool:search', 'files:*'], tier: 'process' },
      passport: { jti: p.jti, exp: p.claims.exp, scope: ['files:read'] },
    });
  });

  it('refuses issuance beyond the max ttl, for unknown or inactive agents', async () => {
    await expect(t.w.passports.issue('default', 'bot', { ttlMs: 2 * 3_600_000 })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(t.w.passports.issue('default', 'ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await t.w.agents.create('default', { id: 'sleepy' });
    await t.w.agents.suspend('default', 'sleepy');
    await expect(t.w.passports.issue('default', 'sleepy')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('serves the public passport keys as a JWKS (all tenants or one)', async () => {
    const all = (await app.inject({ url: '/.well-known/jwks.json' })).json() as { keys: Record<string, string>[] };
    const def = await passportKey('default');
    const other = await passportKey('other');
    expect(all.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([def.kid, other.kid]));
    const one = (await app.inject({ url: '/.well-known/jwks.json?tenant=default' })).json() as { keys: Record<string, string>[] };
    expect(one.keys).toEqual([{ kty: 'OKP', crv: 'Ed25519', x: def.publicKey.toString('base64url'), kid: def.kid, use: 'sig', alg: 'EdDSA' }]);
    expect(JSON.stringify(one)).not.toMatch(/"d"/);
    expect((await app.inject({ url: '/.well-known/jwks.json?tenant=nope' })).statusCode).toBe(404);
  });
});

describe('passports: attacks over HTTP', () => {
  it('alg none', async () => {
    const kid = (await passportKey('default')).kid;
    const token = `${b64({ alg: 'none', typ: 'JWT', kid })}.${b64(claims())}.`;
    await expectDenied(token, 401, 'algorithm not allowed');
  });

  it('HS256 signed with the public key as the secret (key confusion)', async () => {
    const k = await passportKey('default');
    for (const secret of [k.publicKey, Buffer.from(k.publicKey.toString('base64url')), Buffer.from(JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: k.publicKey.toString('base64url') }))]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: k.kid })}.${b64(claims())}`;
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      await expectDenied(token, 401, 'algorithm not allowed');
    }
  });

  it("a token signed by another tenant's key, claiming this tenant", async () => {
    await expectDenied(await forge('other', { tenant: 'default' }), 401, 'unknown signing key');
    // …even when it names this tenant's kid.
    await expectDenied(await forge('other', { tenant: 'default' }, { kid: (await passportKey('default')).kid }), 401, 'signature invalid');
  });

  it('wrong iss, wrong aud', async () => {
    await expectDenied(await forge('default', { iss: 'evil' }), 401, 'issuer not accepted');
    await expectDenied(await forge('default', { aud: 'someone-else' }), 401, 'audience not accepted');
  });

  it('expired, and not yet valid beyond the skew (but within the skew is fine)', async () => {
    const n = nowS();
    await expectDenied(await forge('default', { iat: n - 900, nbf: n - 900, exp: n - 120 }), 401, 'passport expired');
    await expectDenied(await forge('default', { iat: n, nbf: n + 300 }), 401, 'passport not yet valid');
    expect((await whoami(await forge('default', { iat: n, nbf: n + 30 }))).status).toBe(200);
    expect((await whoami(await forge('default', { iat: n - 900, nbf: n - 900, exp: n - 30 }))).status).toBe(200);
    // iat older than the max lifetime (+ skew) is refused even with a far exp
    await expectDenied(await forge('default', { iat: n - 7200, nbf: n - 7200, exp: n + 7200 }), 401, 'passport expired');
  });

  it('kid unknown; missing claims', async () => {
    await expectDenied(await forge('default', {}, { kid: 'pk_00000000deadbeef' }), 401, 'unknown signing key');
    await expectDenied(await forge('default', { scope: undefined }), 401, 'passport claims invalid');
  });

  it('revoked jti (also on a cache hit)', async () => {
    const p = await t.w.passports.issue('default', 'bot');
    expect((await whoami(p.token)).status).toBe(200);
    await t.w.passports.revoke('default', p.jti, { reason: 'leaked' });
    await expectDenied(p.token, 401, 'passport revoked');
    const r = (await receipts()).find((x) => x.action === 'passport.revoke' && x.payload.jti === p.jti);
    expect(r).toMatchObject({ kind: 'agent', reasons: ['leaked'] });
  });

  it('passports of suspended (403), quarantined (403) and deleted (401) agents', async () => {
    for (const [id, change, status, reason] of [
      ['s1', 'suspend', 403, 'agent is suspended'],
      ['q1', 'quarantine', 403, 'agent is quarantined'],
      ['d1', 'delete', 401, 'agent unknown or deleted'],
    ] as const) {
      await t.w.agents.create('default', { id });
      const token = await issue(id);
      expect((await whoami(token)).status).toBe(200);
      await t.w.agents[change]('default', id);
      await expectDenied(token, status, reason);
    }
    // Resumed: valid again.
    await t.w.agents.resume('default', 's1');
    expect((await t.w.passports.verify(await issue('s1'))).claims.sub).toBe('s1');
  });

  it('agent-wide revocation: earlier passports die, later ones work', async () => {
    await t.w.agents.create('default', { id: 'wide' });
    const a = await issue('wide');
    const b = await issue('wide');
    expect((await whoami(a)).status).toBe(200);
    await t.w.passports.revokeAgent('default', 'wide');
    await expectDenied(a, 401, 'passport revoked');
    await expectDenied(b, 401, 'passport revoked');
    expect((await whoami(await issue('wide'))).status).toBe(200);
    expect((await receipts()).some((x) => x.action === 'passport.revoke_all' && x.resource === 'agent:wide')).toBe(true);
  });

  it('a token over 8 KiB is refused before parsing', async () => {
    const big = await forge('default', { roles: Array.from({ length: 800 }, (_, i) => `role-${i}`) });
    expect(big.length).toBeGreaterThan(MAX_PASSPORT_BYTES);
    const before = (await t.w.store.head('default')).size;
    await expectDenied(big, 401, 'passport too large');
    expect((await t.w.store.head('default')).size).toBe(before); // not even parsed for a receipt
  });

  it('malformed or missing Authorization header', async () => {
    const token = await issue();
    await expectDenied(undefined, 401, 'missing Authorization header');
    for (const raw of [`Basic ${token}`, 'Bearer', 'Bearer ', `Bearer ${token} extra`, `bearer${token}`, 'Bearer a.b', 'Bearer %%%.x.y', `Token ${token}`]) {
      await expectDenied(undefined, 401, 'malformed Authorization header', raw);
    }
    const r = await whoami(undefined, 'Bearer x');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it('a revoked passport key: its kid is refused; rotation keeps a retiring key valid', async () => {
    const before = await passportKey('rot');
    const old = await issue('bot', 'rot');
    await t.w.keys.rotate('rot', 'passport');
    const after = await passportKey('rot');
    expect(after.kid).not.toBe(before.kid);
    expect((await t.w.store.getKey('rot', before.kid))?.state).toBe('retiring');
    // Rotation keeps unexpired passports of the retiring key valid, and the JWKS lists both.
    expect((await whoami(old)).status).toBe(200);
    const fresh = await issue('bot', 'rot');
    expect(decodeProtectedHeader(fresh).kid).toBe(after.kid);
    expect((await whoami(fresh)).status).toBe(200);
    const jwks = (await app.inject({ url: '/.well-known/jwks.json?tenant=rot' })).json() as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([before.kid, after.kid].sort());
    // Revoking the retiring key (compromise): its passports die at once, even cached ones.
    await t.w.keys.revoke('rot', before.kid);
    await expectDenied(old, 401, 'signing key revoked');
    expect((await whoami(fresh)).status).toBe(200);
    // An emergency rotation revokes the active key.
    await t.w.keys.rotate('rot', 'passport', { emergency: true });
    await expectDenied(fresh, 401, 'signing key revoked');
    expect((await whoami(await issue('bot', 'rot'))).status).toBe(200);
  });

  it('a failed authentication with a parseable identity is an auth deny receipt in that tenant', async () => {
    const token = await forge('default', { aud: 'nope', sub: 'bot' });
    const before = (await t.w.store.head('default')).size;
    await expectDenied(token, 401, 'audience not accepted');
    const rows = await t.w.store.getReceipts('default', before, 10);
    const rs = rows.map((r) => JSON.parse(r.leaf) as Rcpt);
    expect(rs).toHaveLength(1);
    expect(rs[0]).toMatchObject({ kind: 'auth', action: 'passport.verify', decision: 'deny', reasons: ['audience not accepted'], resource: 'agent:bot', actor: { agent: 'bot' } });
    // …and a security event pointing at that receipt.
    expect(t.w.events.recent('default').at(-1)).toMatchObject({
      category: 'auth_failure', actor: { agent: 'bot' }, receipt: { tenant: 'default', seq: rows[0]?.seq }, details: { reason: 'audience not accepted' },
    });
    // …in the tenant the token names, not elsewhere; unknown tenants write nothing.
    const otherBefore = (await t.w.store.head('other')).size;
    await expectDenied(await forge('other', { tenant: 'other', iss: 'evil' }), 401, 'issuer not accepted');
    expect((await t.w.store.head('other')).size).toBe(otherBefore + 1);
    const defSize = (await t.w.store.head('default')).size;
    await expectDenied(await forge('default', { tenant: 'ghost-tenant' }), 401, 'unknown signing key');
    expect((await t.w.store.head('default')).size).toBe(defSize);
    expect(await t.w.store.getTenant('ghost-tenant')).toBeUndefined();
  });
});

describe('passports: verified-token cache', () => {
  it('the second verification is a cache hit; revoked and expired tokens are still refused on a hit', async () => {
    const spy = vi.spyOn(t.w.passports, 'verifyUncached');
    try {
      const p = await t.w.passports.issue('default', 'bot');
      await t.w.passports.verify(p.token);
      const hits = t.w.passports.stats.hits;
      await t.w.passports.verify(p.token);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(t.w.passports.stats.hits).toBe(hits + 1);

      // Expired while cached: refused on the hit itself (no full verification needed).
      const q = await t.w.passports.issue('default', 'bot');
      await t.w.passports.verify(q.token);
      spy.mockClear();
      const realNow = Date.now();
      const clock = vi.spyOn(Date, 'now').mockReturnValue(realNow + 20 * 60_000);
      try {
        await expect(t.w.passports.verify(q.token)).rejects.toMatchObject({ code: 'AUTH_FAILED', message: 'passport expired' });
      } finally {
        clock.mockRestore();
      }
      expect(spy).not.toHaveBeenCalled();

      // Revoked while cached: refused on the hit.
      const r = await t.w.passports.issue('default', 'bot');
      await t.w.passports.verify(r.token);
      await t.w.passports.verify(r.token);
      spy.mockClear();
      const hitsBefore = t.w.passports.stats.hits;
      await t.w.passports.revoke('default', r.jti);
      await expect(t.w.passports.verify(r.token)).rejects.toMatchObject({ message: 'passport revoked' });
      expect(spy).not.toHaveBeenCalled();
      expect(t.w.passports.stats.hits).toBe(hitsBefore);
    } finally {
      spy.mockRestore();
    }
  });

  it("another process's revocation is seen within the refresh interval", async () => {
    const p = await t.w.passports.issue('default', 'bot');
    await t.w.passports.verify(p.token);
    await t.w.passports.verify(p.token);
    const other = await t.reopen();
    await other.passports.revoke('default', p.jti);
    await new Promise((r) => setTimeout(r, 1100));
    await expect(t.w.passports.verify(p.token)).rejects.toMatchObject({ message: 'passport revoked' });
  });
});
