/**
 * Over HTTP: OIDC operators, RFC 8693 delegation (scope intersection, act chains, refusals),
 * proof-of-possession renewal with agent keys, artifact signatures, and the security events
 * and receipts every refusal leaves.
 */
import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthAudit } from '../../src/identity/audit.js';
import { artifactMessage, renewalMessage } from '../../src/identity/passports.js';
import { buildServer } from '../../src/server/app.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';

let t: TempWarden;
let app: FastifyInstance;
let idp: Server;
let issuer: string;
let idpKey: CryptoKey;
let admin: string;
let viewer: string;
let otherAdmin: string;
let botKey: { privateKey: KeyObject; publicKey: string };

interface Rcpt { kind: string; action: string; decision: string | null; reasons: string[]; resource: string; actor: Record<string, string | null>; payload: Record<string, unknown> }
const receipts = async (tenant = 'default'): Promise<Rcpt[]> => (await exportLines(t.w, tenant)).map((l) => JSON.parse(l) as Rcpt);
const lastReceipt = async (tenant = 'default'): Promise<Rcpt> => (await receipts(tenant)).at(-1) as Rcpt;

interface Res { status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } }
async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token?: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const res = await app.inject({
    method, url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(payload !== undefined ? { payload: payload as string } : {}),
  });
  return { status: res.statusCode, body: res.json() };
}
const exchange = (body: Record<string, unknown>): Promise<Res> => call('POST', '/v1/token', undefined, { grant_type: EXCHANGE, subject_token_type: ACCESS, ...body });
const oidcToken = (claims: Record<string, unknown> = {}): Promise<string> => {
  const n = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: 'warden', sub: 'carol@example.com', groups: ['warden-admins'], iat: n, exp: n + 300, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'JWT' })
    .sign(idpKey);
};

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  idpKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
  idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((ok) => idp.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  t = await tempWarden('sqlite', [
    'identity:',
    '  oidc:',
    '    - name: corp',
    `      issuer: ${issuer}`,
    `      jwks_uri: ${issuer}/jwks`,
    '      audience: warden',
    '      role_map: { warden-admins: admin, readers: viewer }',
    '  roles:',
    '    keyless: [agents:read, agents:write]',
  ].join('\n') + '\n');
  await t.w.ensureTenant('other');
  admin = (await t.w.operators.create('default', { id: 'alice', roles: ['admin'] }, { withToken: true })).token?.token as string;
  viewer = (await t.w.operators.create('default', { id: 'vic', roles: ['viewer'] }, { withToken: true })).token?.token as string;
  otherAdmin = (await t.w.operators.create('other', { id: 'olga', roles: ['admin'] }, { withToken: true })).token?.token as string;
  await t.w.agents.create('default', { id: 'planner', capabilities: ['tool:search', 'files:read/*', 'email:send'] });
  await t.w.agents.create('default', { id: 'coder', capabilities: ['files:*', 'tool:search'] });
  await t.w.agents.create('other', { id: 'spy', capabilities: ['tool:*'] });
  const k = generateKeyPairSync('ed25519');
  botKey = { privateKey: k.privateKey, publicKey: k.publicKey.export({ format: 'jwk' }).x as string };
  await t.w.agents.create('default', { id: 'keyed', capabilities: ['tool:search'], public_key: botKey.publicKey });
  app = await buildServer(t.w);
});

afterAll(async () => {
  await app.close();
  await t.cleanup();
  await new Promise((ok) => idp.close(ok));
});

describe('OIDC operators over HTTP', () => {
  it('a token from the configured issuer authenticates; its groups map to roles; actions are receipted under oidc:<provider>:<sub>', async () => {
    const token = await oidcToken();
    const who = await call('GET', '/v1/whoami', token);
    expect(who.status, JSON.stringify(who.body)).toBe(200);
    expect(who.body).toMatchObject({ tenant: 'default', actor: { human: 'oidc:corp:carol@example.com', agent: null }, operator: { roles: ['admin'], via: 'oidc' } });
    const created = await call('POST', '/v1/agents', token, { id: 'oidc-made' });
    expect(created.status).toBe(201);
    expect(await lastReceipt()).toMatchObject({ action: 'agent.create', actor: { human: 'oidc:corp:carol@example.com' } });
  });

  it('RBAC applies to OIDC roles: a viewer-mapped identity cannot write (403, receipted)', async () => {
    const token = await oidcToken({ sub: 'rita', groups: ['readers'] });
    expect((await call('GET', '/v1/agents', token)).status).toBe(200);
    const r = await call('POST', '/v1/agents', token, { id: 'nope' });
    expect(r.status).toBe(403);
    expect(await lastReceipt()).toMatchObject({ kind: 'auth', decision: 'deny', actor: { human: 'oidc:corp:rita' }, reasons: ['permission agents:write required'] });
  });

  it('a forged or expired OIDC token is 401, receipted in the provider tenant, with a security event', async () => {
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT({ iss: issuer, aud: 'warden', sub: 'mallory', groups: ['warden-admins'], iat: 1, exp: 4_000_000_000 })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .sign(other.privateKey);
    const r = await call('GET', '/v1/agents', forged);
    expect(r.status).toBe(401);
    expect(r.body.error?.message).toBe('signature invalid');
    expect(await lastReceipt()).toMatchObject({ kind: 'auth', action: 'oidc.verify', decision: 'deny', actor: { human: 'unverified:mallory' } });
    const expired = await oidcToken({ iat: 1000, exp: 2000 });
    expect((await call('GET', '/v1/whoami', expired)).status).toBe(401);
    const events = t.w.events.recent('default').filter((e) => e.category === 'auth_failure');
    expect(events.at(-1)).toMatchObject({ tenant: 'default', severity: 'medium', receipt: { tenant: 'default' } });
  });
});

describe('delegation (RFC 8693 token exchange)', () => {
  it('an operator delegates to an agent: scope is what the agent may do, the act chain names the human', async () => {
    const r = await exchange({ subject_token: admin, agent: 'planner', scope: 'tool:search files:read/docs' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ issued_token_type: JWT, token_type: 'Bearer', scope: 'tool:search files:read/docs' });
    const c = decodeJwt(r.body.access_token as string);
    expect(c).toMatchObject({ sub: 'planner', tenant: 'default', scope: ['tool:search', 'files:read/docs'], act: { sub: 'alice', typ: 'human' } });
    const who = await call('GET', '/v1/whoami', r.body.access_token as string);
    expect(who.body).toMatchObject({ actor: { human: 'alice', agent: 'planner', service: null }, passport: { act: { sub: 'alice', typ: 'human' } } });
    expect(await lastReceipt()).toMatchObject({ kind: 'agent', action: 'passport.delegate', actor: { human: 'alice' }, payload: { act: { sub: 'alice', typ: 'human' } } });
  });

  it('form-encoded requests work; repeated parameters are refused', async () => {
    const form = new URLSearchParams({ grant_type: EXCHANGE, subject_token: admin, subject_token_type: ACCESS, agent: 'coder' }).toString();
    const ok = await call('POST', '/v1/token', undefined, form, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    // Nothing requested: everything the agent may do (the human delegator holds `*`).
    expect(ok.body.scope).toBe('files:* tool:search');
    const twice = `${form}&agent=planner`;
    const bad = await call('POST', '/v1/token', undefined, twice, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/repeated/);
  });

  it('a delegation that tries to widen scope is 403, receipted and evented as privilege escalation', async () => {
    const r = await exchange({ subject_token: admin, agent: 'planner', scope: 'tool:search shell:exec' });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({ code: 'FORBIDDEN', message: 'delegation would widen scope' });
    const rc = await lastReceipt();
    expect(rc).toMatchObject({ kind: 'auth', action: 'token.exchange', decision: 'deny', resource: 'agent:planner', payload: { widening: ['shell:exec'] } });
    expect(t.w.events.recent('default').findLast((e) => e.category !== 'alert' && e.category !== 'incident')).toMatchObject({ category: 'privilege_escalation', severity: 'high' });
    expect(t.w.events.recent('default').findLast((e) => e.category === 'alert')).toMatchObject({ details: { rule: 'privilege_escalation' } });
  });

  it('agent-to-agent: the upstream passport bounds the scope, the chain grows, and it cannot be widened', async () => {
    const up = await exchange({ subject_token: admin, agent: 'planner', scope: 'files:read/docs tool:search' });
    const upstream = up.body.access_token as string;
    const coderOwn = (await t.w.passports.issue('default', 'coder')).token;
    // An agent cannot mint a passport for another agent that does not take part.
    const unilateral = await exchange({ subject_token: upstream, subject_token_type: JWT, agent: 'coder' });
    expect(unilateral.status).toBe(403);
    // The coder acts for the planner, who acts for alice: scope ⊆ planner's delegated scope ∩ coder's capabilities.
    const down = await exchange({ subject_token: upstream, subject_token_type: JWT, actor_token: coderOwn, actor_token_type: JWT });
    expect(down.status, JSON.stringify(down.body)).toBe(200);
    const c = decodeJwt(down.body.access_token as string);
    expect(c.scope).toEqual(['files:read/docs', 'tool:search']);
    expect(c.act).toEqual({ sub: 'planner', typ: 'agent', jti: decodeJwt(upstream).jti, act: { sub: 'alice', typ: 'human' } });
    expect(c.exp).toBeLessThanOrEqual(decodeJwt(upstream).exp as number);
    const who = await call('GET', '/v1/whoami', down.body.access_token as string);
    expect(who.body.actor).toEqual({ human: 'alice', agent: 'coder', service: null });
    // files:* is the coder's, but the planner never had it.
    const wider = await exchange({ subject_token: upstream, subject_token_type: JWT, actor_token: coderOwn, actor_token_type: JWT, scope: 'files:*' });
    expect(wider.status).toBe(403);
    expect(wider.body.error?.message).toBe('delegation would widen scope');
    // No loops: the planner cannot be handed its own authority back through the coder.
    const planner = (await t.w.passports.issue('default', 'planner')).token;
    const loop = await exchange({ subject_token: down.body.access_token as string, subject_token_type: JWT, actor_token: planner, actor_token_type: JWT });
    expect(loop.status).toBe(400);
    // Revoking the delegating passport revokes what was delegated with it (also on a cache hit).
    expect((await call('GET', '/v1/whoami', down.body.access_token as string)).status).toBe(200);
    await t.w.passports.revoke('default', decodeJwt(upstream).jti as string);
    const dead = await call('GET', '/v1/whoami', down.body.access_token as string);
    expect(dead.status).toBe(401);
    expect(dead.body.error?.message).toBe('delegating passport revoked');
  });

  it('a delegation dies when the delegating agent is suspended', async () => {
    const up = (await exchange({ subject_token: admin, agent: 'planner', scope: 'tool:search' })).body.access_token as string;
    const coderOwn = (await t.w.passports.issue('default', 'coder')).token;
    const down = (await exchange({ subject_token: up, subject_token_type: JWT, actor_token: coderOwn, actor_token_type: JWT })).body.access_token as string;
    expect((await call('GET', '/v1/whoami', down)).status).toBe(200);
    await t.w.agents.suspend('default', 'planner');
    const r = await call('GET', '/v1/whoami', down);
    expect(r.status).toBe(403);
    expect(r.body.error?.message).toBe('delegating agent no longer active');
    await t.w.agents.resume('default', 'planner');
  });

  it('the agent itself may exchange: its passport as actor_token, the delegator token as subject_token', async () => {
    const own = (await t.w.passports.issue('default', 'coder')).token;
    const r = await exchange({ subject_token: admin, actor_token: own, actor_token_type: JWT, scope: 'tool:search' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(decodeJwt(r.body.access_token as string)).toMatchObject({ sub: 'coder', act: { sub: 'alice' } });
  });

  it('refusals: RBAC, cross-tenant, unknown agent, bad grant, bad or missing subject token', async () => {
    // A viewer may not issue passports, so may not delegate.
    const v = await exchange({ subject_token: viewer, agent: 'planner' });
    expect(v.status).toBe(403);
    expect(await lastReceipt()).toMatchObject({ kind: 'auth', action: 'token.exchange', decision: 'deny', actor: { human: 'vic' } });
    // Another tenant's agent as actor: refused, cross_tenant event.
    const spyPassport = (await t.w.passports.issue('other', 'spy')).token;
    const x = await exchange({ subject_token: admin, actor_token: spyPassport, actor_token_type: JWT });
    expect(x.status).toBe(403);
    expect(x.body.error?.message).toBe('delegation across tenants');
    expect(t.w.events.recent('default').findLast((e) => e.category !== 'alert' && e.category !== 'incident')).toMatchObject({ category: 'cross_tenant', severity: 'high' });
    expect(t.w.events.recent('default').findLast((e) => e.category === 'alert')).toMatchObject({ details: { rule: 'cross_tenant' } });
    // The other tenant's admin cannot delegate to this tenant's agents: its agent id resolves in its own tenant.
    expect((await exchange({ subject_token: otherAdmin, agent: 'planner' })).status).toBe(404);
    expect((await exchange({ subject_token: admin, agent: 'ghost' })).status).toBe(404);
    expect((await exchange({ subject_token: admin, agent: 'planner', grant_type: 'client_credentials' })).status).toBe(400);
    expect((await exchange({ subject_token: admin })).status).toBe(400);
    expect((await exchange({ subject_token: 'wdn_' + 'x'.repeat(16) + '_' + 'y'.repeat(43), agent: 'planner' })).status).toBe(401);
    expect((await exchange({ subject_token: 'not-a-token', agent: 'planner' })).status).toBe(401);
    expect((await exchange({ subject_token: admin, agent: 'planner', audience: 'someone-else' })).status).toBe(400);
  });

  it('a delegated passport never outlives the delegator credential and dies with the agent', async () => {
    const short = (await t.w.passports.issue('default', 'planner', { ttlMs: 5000, scope: ['tool:search'] })).token;
    const coderOwn = (await t.w.passports.issue('default', 'coder')).token;
    const r = await exchange({ subject_token: short, subject_token_type: JWT, actor_token: coderOwn, actor_token_type: JWT, ttl_seconds: 3600 });
    expect(r.status).toBe(200);
    expect(decodeJwt(r.body.access_token as string).exp).toBeLessThanOrEqual(decodeJwt(short).exp as number);
    await t.w.agents.suspend('default', 'coder');
    const who = await call('GET', '/v1/whoami', r.body.access_token as string);
    expect(who.status).toBe(403);
    await t.w.agents.resume('default', 'coder');
  });
});

describe('agent keys: proof-of-possession renewal and artifacts', () => {
  const renew = async (challenge: string, signature: string, agent = 'keyed'): Promise<Res> =>
    call('POST', '/v1/passports/renew?tenant=default', undefined, { agent, challenge, signature });
  const challenge = async (agent = 'keyed'): Promise<string> => (await call('POST', `/v1/agents/${agent}/challenge?tenant=default`)).body.challenge as string;

  it('a signed challenge renews the passport; the challenge is single-use (replay refused)', async () => {
    const ch = await challenge();
    const sig = edSign(null, renewalMessage('default', 'keyed', ch), botKey.privateKey).toString('base64url');
    const r = await renew(ch, sig);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(decodeJwt(r.body.token as string)).toMatchObject({ sub: 'keyed', tenant: 'default' });
    expect(await lastReceipt()).toMatchObject({ kind: 'agent', action: 'passport.renew', actor: { agent: 'keyed' } });
    const before = (await t.w.store.head('default')).size;
    const replay = await renew(ch, sig);
    expect(replay.status).toBe(401);
    expect(replay.body.error?.message).toBe('challenge unknown, expired or already used');
    // An unknown challenge proves nothing about the agent, so it is not receipted (no log flooding).
    expect((await t.w.store.head('default')).size).toBe(before);
  });

  it('a wrong key, a signature over another challenge or context, and an agent without a key all fail', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const ch1 = await challenge();
    expect((await renew(ch1, edSign(null, renewalMessage('default', 'keyed', ch1), other).toString('base64url'))).body.error?.message).toBe('proof of possession failed');
    // The failed attempt consumed the challenge: even the right signature is now refused.
    expect((await renew(ch1, edSign(null, renewalMessage('default', 'keyed', ch1), botKey.privateKey).toString('base64url'))).status).toBe(401);
    const ch2 = await challenge();
    const artifactSig = edSign(null, artifactMessage({ challenge: ch2 }), botKey.privateKey).toString('base64url');
    expect((await renew(ch2, artifactSig)).status).toBe(401);
    const ch3 = await challenge('planner');
    expect((await renew(ch3, edSign(null, renewalMessage('default', 'planner', ch3), botKey.privateKey).toString('base64url'), 'planner')).status).toBe(401);
    // A challenge issued for one agent cannot be redeemed by another.
    const ch4 = await challenge('planner');
    expect((await renew(ch4, edSign(null, renewalMessage('default', 'keyed', ch4), botKey.privateKey).toString('base64url'))).status).toBe(401);
  });

  it('a suspended agent cannot renew even with a valid proof', async () => {
    await t.w.agents.suspend('default', 'keyed');
    const ch = await challenge();
    const r = await renew(ch, edSign(null, renewalMessage('default', 'keyed', ch), botKey.privateKey).toString('base64url'));
    expect(r.status).toBe(403);
    await t.w.agents.resume('default', 'keyed');
  });

  it('operators register keys over HTTP and verify artifacts the agent signed; tampering is detected', async () => {
    const k = generateKeyPairSync('ed25519');
    const pub = k.publicKey.export({ format: 'jwk' }).x as string;
    const set = await call('PATCH', '/v1/agents/coder', admin, { public_key: pub });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.public_key).toBe(pub);
    expect((await call('PATCH', '/v1/agents/coder', admin, { public_key: 'A'.repeat(42) })).status).toBe(400);
    const artifact = { task: 'summarise', result: { ok: true, n: 3 } };
    const signature = edSign(null, artifactMessage(artifact), k.privateKey).toString('base64url');
    const ok = await call('POST', '/v1/agents/coder/artifacts/verify', admin, { artifact, signature });
    expect(ok.body).toMatchObject({ agent: 'coder', valid: true });
    const tampered = await call('POST', '/v1/agents/coder/artifacts/verify', admin, { artifact: { ...artifact, result: { ok: true, n: 4 } }, signature });
    expect(tampered.body).toMatchObject({ valid: false });
    // Key order does not matter (JCS), content does.
    const reordered = await call('POST', '/v1/agents/coder/artifacts/verify', admin, { artifact: { result: { n: 3, ok: true }, task: 'summarise' }, signature });
    expect(reordered.body).toMatchObject({ valid: true });
    expect((await call('POST', '/v1/agents/planner/artifacts/verify', admin, { artifact, signature })).status).toBe(404);
  });
});

describe('hardening', () => {
  it('small-order and non-canonical Ed25519 keys are refused as agent keys (they verify forged signatures)', async () => {
    const weak = [
      '00'.repeat(32), '01' + '00'.repeat(31), 'ec' + 'ff'.repeat(30) + '7f', 'ee' + 'ff'.repeat(30) + 'ff',
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', 'f0' + 'ff'.repeat(30) + '7f',
    ].map((h) => Buffer.from(h, 'hex').toString('base64url'));
    for (const k of weak) {
      const r = await call('PATCH', '/v1/agents/coder', admin, { public_key: k });
      expect(r.status, k).toBe(400);
    }
    await expect(t.w.agents.create('default', { id: 'weak', public_key: weak[0] as string })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it("an artifact of a quarantined agent is not valid, though its signature is; setting a key needs passports:issue", async () => {
    const k = generateKeyPairSync('ed25519');
    await t.w.agents.create('default', { id: 'artist', public_key: k.publicKey.export({ format: 'jwk' }).x as string });
    const artifact = { result: 42 };
    const signature = edSign(null, artifactMessage(artifact), k.privateKey).toString('base64url');
    await t.w.agents.quarantine('default', 'artist');
    const r = await call('POST', '/v1/agents/artist/artifacts/verify', admin, { artifact, signature });
    expect(r.body).toMatchObject({ valid: false, signature_valid: true, agent_state: 'quarantined' });
    // A role that may edit agents but not issue passports cannot plant a key (a key mints passports).
    const editor = (await t.w.operators.create('default', { id: 'eddie', roles: ['keyless'] }, { withToken: true })).token?.token as string;
    expect((await call('PATCH', '/v1/agents/artist', editor, { owner: 'team-a' })).status).toBe(200);
    const plant = await call('PATCH', '/v1/agents/artist', editor, { public_key: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string });
    expect(plant.status).toBe(403);
  });

  it('forged credentials are receipted only up to a per-tenant budget; beyond it one flood event', async () => {
    const audit = new AuthAudit(t.w.store, t.w.ledger, t.w.events, { unverifiedPerMinute: 3 });
    const before = (await t.w.store.head('other')).size;
    for (let i = 0; i < 10; i++) {
      await audit.deny({ tenant: 'other', actor: { agent: 'spy' }, action: 'passport.verify', resource: 'agent:spy', reason: 'signature invalid', unverified: true });
    }
    expect((await t.w.store.head('other')).size).toBe(before + 3);
    expect(audit.suppressed).toBe(7);
    expect(t.w.events.recent('other').filter((e) => e.category === 'auth_failure_flood')).toHaveLength(1);
    // Verified denials are always receipted.
    await audit.deny({ tenant: 'other', actor: { human: 'olga' }, action: 'operator.authorize', resource: 'agents', reason: 'x' });
    expect((await t.w.store.head('other')).size).toBe(before + 4);
  });
});
