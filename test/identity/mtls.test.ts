/**
 * Mutual TLS end to end, over a real listening HTTPS server (never app.inject for the TLS
 * paths): the handshake refuses clients without a certificate, below TLS 1.3 or from another
 * CA; a client certificate joins the actor chain, must match the passport's agent and tenant,
 * and certificate-bound passports (RFC 8705 cnf.x5t#S256) need exactly their certificate.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureVersion } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateThumbprint, initCa, issueCertificate, type IssuedCertificate } from '../../src/identity/ca.js';
import { renewalMessage } from '../../src/identity/passports.js';
import { buildServer } from '../../src/server/app.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

const TD = 'example.test';
const SILENT = 'log:\n  level: silent\n';

interface Cred {
  cert: string;
  key: string;
}

let t: TempWarden;
let foreign: TempWarden;
let app: FastifyInstance;
let plain: FastifyInstance;
let port: number;
let caPem: string;
/** Requests that reached the TLS server's routing (a refused handshake never does). */
let reached = 0;
/** Handshake failures as the server saw them. */
const tlsErrors: string[] = [];

let bot: Cred;
let otherBot: Cred;
let gateway: Cred;
let otherTenant: Cred;
let foreignBot: Cred;
let botThumb: string;
let aliceToken: string;

function cred(c: IssuedCertificate): Cred {
  return { cert: c.certPem, key: c.keyPem as string };
}

interface Body {
  [k: string]: unknown;
  error?: { code: string; message: string };
}
interface Res {
  status: number;
  body: Body;
}
interface CallOptions {
  cred?: Cred | undefined;
  token?: string;
  method?: 'GET' | 'POST';
  payload?: unknown;
  maxVersion?: SecureVersion;
}

/** One request on a fresh TLS connection (no agent, so no connection or session reuse). */
function call(path: string, o: CallOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = o.payload === undefined ? undefined : JSON.stringify(o.payload);
    const headers: Record<string, string> = {};
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    if (data !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(data));
    }
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        headers,
        ca: caPem,
        servername: 'localhost',
        agent: false,
        ...(o.cred ? { cert: o.cred.cert, key: o.cred.key } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Body) : {} });
          } catch (err) {
            reject(err as Error);
          }
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.end(data);
  });
}

/**
 * The request must fail at the TLS layer — the client sees a handshake alert or a reset, never
 * an HTTP answer, and the server reports a handshake failure with `serverReason`.
 */
async function expectRefused(o: CallOptions, clientCode: RegExp, serverReason: RegExp): Promise<void> {
  const before = reached;
  const errorsBefore = tlsErrors.length;
  const err = await call('/healthz', o).then(
    (r) => {
      throw new Error(`expected the connection to be refused, got HTTP ${r.status}`);
    },
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  expect(err.code, String(err.message)).toMatch(clientCode);
  expect(reached).toBe(before);
  // The server-side event may trail the client's error by a tick.
  for (let i = 0; i < 50 && tlsErrors.length === errorsBefore; i++) await new Promise((r) => setTimeout(r, 10));
  expect(tlsErrors.slice(errorsBefore), JSON.stringify(tlsErrors)).toEqual([expect.stringMatching(serverReason)]);
}

interface Rcpt {
  seq: number;
  kind: string;
  action: string;
  decision: string | null;
  reasons: string[];
  resource: string;
  actor: { human?: string | null; agent?: string | null; service?: string | null };
  payload: Record<string, unknown>;
}
const receipts = async (tenant = 'default'): Promise<Rcpt[]> => (await exportLines(t.w, tenant)).map((l) => JSON.parse(l) as Rcpt);

/**
 * Runs `attempt` and returns the one `auth` deny receipt it wrote in tenant default (with the
 * given action and reason) and the one security event pointing at it.
 */
async function denial(attempt: () => Promise<void>, action: string, reason: string) {
  const before = (await receipts()).length;
  const eventsBefore = t.w.events.recent('default').length;
  await attempt();
  const fresh = (await receipts()).slice(before);
  const denies = fresh.filter((r) => r.kind === 'auth' && r.action === action && r.decision === 'deny' && r.reasons.includes(reason));
  expect(denies, JSON.stringify(fresh)).toHaveLength(1);
  const receipt = denies[0] as Rcpt;
  const events = t.w.events.recent('default').slice(eventsBefore).filter((e) => e.details.reason === reason);
  expect(events).toHaveLength(1);
  const event = events[0];
  expect(event?.receipt).toEqual({ tenant: 'default', seq: receipt.seq });
  return { receipt, event };
}

function expectError(r: Res, status: number, message: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error).toEqual({ code: status === 403 ? 'FORBIDDEN' : 'AUTH_FAILED', message });
}

beforeAll(async () => {
  t = await tempWarden('sqlite', SILENT);
  await t.w.ensureTenant('other');
  const provider = t.w.masterKey;
  const ca = await initCa({ dataDir: t.dir, provider, trustDomain: TD });
  caPem = ca.certPem;
  const issue = async (kind: 'agent' | 'service', tenant: string, id: string, dnsNames?: string[]): Promise<IssuedCertificate> =>
    issueCertificate({ dataDir: t.dir, provider, kind, tenant, id, ...(dnsNames ? { dnsNames } : {}) });

  // The server certificate is a service certificate (clientAuth + serverAuth) with a DNS SAN.
  const server = await issue('service', 'default', 'warden', ['localhost']);
  bot = cred(await issue('agent', 'default', 'bot'));
  otherBot = cred(await issue('agent', 'default', 'other-bot'));
  gateway = cred(await issue('service', 'default', 'gateway'));
  otherTenant = cred(await issue('agent', 'other', 'bot'));
  botThumb = certificateThumbprint(bot.cert);

  // The very same SPIFFE identity, but from another deployment's CA.
  foreign = await tempWarden('sqlite', SILENT);
  await initCa({ dataDir: foreign.dir, provider: foreign.w.masterKey, trustDomain: TD });
  foreignBot = cred(await issueCertificate({ dataDir: foreign.dir, provider: foreign.w.masterKey, kind: 'agent', tenant: 'default', id: 'bot' }));

  await t.w.agents.create('default', { id: 'bot', capabilities: ['tool:search'] });
  await t.w.agents.create('default', { id: 'other-bot' });
  aliceToken = (await t.w.operators.create('default', { id: 'alice', roles: ['admin'] }, { withToken: true })).token?.token as string;

  app = await buildServer(t.w, { tls: { cert: server.certPem, key: server.keyPem as string, clientCa: caPem } });
  app.addHook('onRequest', async () => {
    reached++;
  });
  app.server.on('tlsClientError', (err: Error) => tlsErrors.push(err.message));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
  plain = await buildServer(t.w);
});

afterAll(async () => {
  await app?.close();
  await plain?.close();
  await t?.cleanup();
  await foreign?.cleanup();
});

describe('the TLS handshake', () => {
  it('a client with a certificate of the CA is served (control)', async () => {
    const before = reached;
    const r = await call('/healthz', { cred: bot });
    expect(r).toEqual({ status: 200, body: { status: 'ok' } });
    expect(reached).toBe(before + 1);
  });

  it('refuses a client without a certificate', async () => {
    await expectRefused({}, /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET|EPIPE)$/, /peer did not return a certificate/);
  });

  it('refuses a client limited to TLS 1.2', async () => {
    await expectRefused({ cred: bot, maxVersion: 'TLSv1.2' }, /^(EPROTO|ECONNRESET)$/, /unsupported protocol/);
  });

  it('refuses a client certificate from another CA, even with the same SPIFFE identity', async () => {
    // Node's server checks the chain after OpenSSL's handshake and, with rejectUnauthorized,
    // destroys the socket without an alert: the client sees a reset, the server a hang-up.
    await expectRefused({ cred: foreignBot }, /^(ECONNRESET|EPIPE|ERR_SSL_\w+)$/, /socket hang up|certificate|issuer/);
  });
});

describe('client certificates and passports', () => {
  it("an agent's certificate with its unbound passport: the certificate shows in whoami", async () => {
    const p = await t.w.passports.issue('default', 'bot');
    const r = await call('/v1/whoami', { cred: bot, token: p.token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.actor).toEqual({ human: null, agent: 'bot', service: null });
    expect(r.body.certificate).toEqual({ thumbprint: botThumb, spiffe_id: `spiffe://${TD}/tenant/default/agent/bot` });
    expect((r.body.passport as { cnf?: unknown }).cnf).toBeUndefined();
  });

  it('a certificate-bound passport needs exactly its certificate', async () => {
    const p = await t.w.passports.issue('default', 'bot', { certThumbprint: botThumb });
    expect(p.claims.cnf).toEqual({ 'x5t#S256': botThumb });

    const ok = await call('/v1/whoami', { cred: bot, token: p.token });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((ok.body.passport as { cnf?: unknown }).cnf).toEqual({ 'x5t#S256': botThumb });

    // Another (valid, same-tenant) certificate on the connection.
    const other = 'certificate-bound passport presented with another certificate';
    const { receipt: r1, event: e1 } = await denial(async () => {
      expectError(await call('/v1/whoami', { cred: gateway, token: p.token }), 401, other);
    }, 'passport.verify', other);
    expect(r1).toMatchObject({ resource: 'agent:bot', actor: { agent: 'bot' } });
    expect(e1).toMatchObject({ category: 'auth_failure', tenant: 'default' });

    // No TLS at all: the same passport on a plain-HTTP server.
    const without = 'certificate-bound passport presented without its certificate';
    const { event: e2 } = await denial(async () => {
      const res = await plain.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${p.token}` } });
      expectError({ status: res.statusCode, body: res.json() }, 401, without);
    }, 'passport.verify', without);
    expect(e2).toMatchObject({ category: 'auth_failure', tenant: 'default' });

    // The binding did not spoil the passport for its own certificate.
    expect((await call('/v1/whoami', { cred: bot, token: p.token })).status).toBe(200);
  });

  it("another agent's certificate with a passport is refused (mtls.bind)", async () => {
    const p = await t.w.passports.issue('default', 'bot');
    const reason = "client certificate is not the passport's agent";
    const { receipt, event } = await denial(async () => {
      expectError(await call('/v1/whoami', { cred: otherBot, token: p.token }), 401, reason);
    }, 'mtls.bind', reason);
    expect(receipt).toMatchObject({ resource: 'agent:other-bot', actor: { agent: 'bot' } });
    expect(receipt.payload).toMatchObject({ certificate: `spiffe://${TD}/tenant/default/agent/other-bot`, thumbprint: certificateThumbprint(otherBot.cert) });
    expect(event).toMatchObject({ category: 'auth_failure', severity: 'high' });
  });

  it("an operator token over a service certificate: the service joins the actor chain", async () => {
    const r = await call('/v1/whoami', { cred: gateway, token: aliceToken });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      tenant: 'default',
      actor: { human: 'alice', agent: null, service: 'gateway' },
      operator: { id: 'alice', via: 'api-token' },
      certificate: { thumbprint: certificateThumbprint(gateway.cert), spiffe_id: `spiffe://${TD}/tenant/default/service/gateway` },
    });
  });

  it("a certificate of another tenant with a default-tenant credential is 403 (cross_tenant)", async () => {
    const reason = 'client certificate belongs to another tenant';
    const p = await t.w.passports.issue('default', 'bot');
    const { receipt, event } = await denial(async () => {
      expectError(await call('/v1/whoami', { cred: otherTenant, token: p.token }), 403, reason);
    }, 'mtls.bind', reason);
    expect(receipt.payload).toMatchObject({ certificate: `spiffe://${TD}/tenant/other/agent/bot` });
    expect(event).toMatchObject({ category: 'cross_tenant', severity: 'high' });

    // An operator credential is refused the same way.
    await denial(async () => {
      expectError(await call('/v1/whoami', { cred: otherTenant, token: aliceToken }), 403, reason);
    }, 'mtls.bind', reason);
  });
});

describe('renewal and delegation over mTLS', () => {
  it('a renewal by proof of possession is bound to the certificate it came over; a replay is refused', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'jwk' }).x as string;
    await t.w.agents.update('default', 'bot', { public_key: raw });

    const ch = await call('/v1/agents/bot/challenge?tenant=default', { cred: bot, method: 'POST' });
    expect(ch.status, JSON.stringify(ch.body)).toBe(200);
    const challenge = ch.body.challenge as string;
    const signature = sign(null, renewalMessage('default', 'bot', challenge), privateKey).toString('base64url');
    const proof = { agent: 'bot', challenge, signature };

    const r = await call('/v1/passports/renew?tenant=default', { cred: bot, method: 'POST', payload: proof });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const token = r.body.token as string;
    expect(decodeJwt(token)).toMatchObject({ sub: 'bot', tenant: 'default', cnf: { 'x5t#S256': botThumb } });
    expect((await call('/v1/whoami', { cred: bot, token })).status).toBe(200);
    expectError(await call('/v1/whoami', { cred: gateway, token }), 401, 'certificate-bound passport presented with another certificate');

    // A replay is refused; an unknown challenge proves nothing about the agent, so it is not receipted.
    const before = (await t.w.store.head('default')).size;
    expectError(await call('/v1/passports/renew?tenant=default', { cred: bot, method: 'POST', payload: proof }), 401, 'challenge unknown, expired or already used');
    expect((await t.w.store.head('default')).size).toBe(before);
  });

  it('a delegation through the gateway service records it in the act chain', async () => {
    const r = await call('/v1/token', {
      cred: gateway,
      method: 'POST',
      payload: {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: aliceToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        agent: 'bot',
        scope: 'tool:search',
      },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', scope: 'tool:search' });
    const token = r.body.access_token as string;
    const act = { sub: 'gateway', typ: 'service', act: { sub: 'alice', typ: 'human' } };
    expect(decodeJwt(token).act).toEqual(act);

    const who = await call('/v1/whoami', { cred: bot, token });
    expect(who.status, JSON.stringify(who.body)).toBe(200);
    expect(who.body.actor).toEqual({ human: 'alice', agent: 'bot', service: 'gateway' });
    expect(who.body.passport).toMatchObject({ act, scope: ['tool:search'] });

    const issued = (await receipts()).filter((x) => x.kind === 'agent' && x.action === 'passport.delegate').at(-1);
    expect(issued?.actor).toMatchObject({ human: 'alice', service: 'gateway' });
  });
});

/*
 * POST /v1/token authenticates its tokens from the body, so it binds the CALLER (the agent with
 * its actor_token, else the delegator) to the client certificate itself, as caller() does for
 * every other route.
 */
describe('token exchange checks the client certificate like every other route', () => {
  const exchange = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', scope: 'tool:search' } as const;

  it("a passport of bot as subject_token over other-bot's certificate is refused", async () => {
    await t.w.agents.update('default', 'other-bot', { capabilities: ['tool:search'] });
    const p = await t.w.passports.issue('default', 'bot', { scope: ['tool:search'] });
    const r = await call('/v1/token', {
      cred: otherBot,
      method: 'POST',
      payload: { ...exchange, subject_token: p.token, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', agent: 'other-bot' },
    });
    expectError(r, 401, "client certificate is not the passport's agent");
  });

  it('a default-tenant operator token over a certificate of tenant other is refused (cross_tenant)', async () => {
    const r = await call('/v1/token', {
      cred: otherTenant,
      method: 'POST',
      payload: { ...exchange, subject_token: aliceToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', agent: 'bot' },
    });
    expectError(r, 403, 'client certificate belongs to another tenant');
  });

  it("bot's actor_token over other-bot's certificate is refused (not bound to other-bot's certificate)", async () => {
    const ap = await t.w.passports.issue('default', 'bot');
    const r = await call('/v1/token', {
      cred: otherBot,
      method: 'POST',
      payload: {
        ...exchange, subject_token: aliceToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        actor_token: ap.token, actor_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      },
    });
    expectError(r, 401, "client certificate is not the passport's agent");
  });
});

describe('renewal checks the client certificate', () => {
  it("a certificate of another tenant, or of another agent, is refused before the proof is looked at; both are receipted", async () => {
    const body = { agent: 'bot', challenge: 'A'.repeat(43), signature: 'B'.repeat(86) };
    const cross = await call('/v1/passports/renew?tenant=default', { cred: otherTenant, method: 'POST', payload: body });
    expectError(cross, 403, 'client certificate belongs to another tenant');
    expect(t.w.events.recent('default').at(-1)).toMatchObject({ category: 'cross_tenant', severity: 'high', details: { action: 'mtls.bind' } });
    const wrong = await call('/v1/passports/renew?tenant=default', { cred: otherBot, method: 'POST', payload: body });
    expectError(wrong, 401, "client certificate is not this agent's");
    expect((await receipts()).at(-1)).toMatchObject({ kind: 'auth', action: 'mtls.bind', decision: 'deny', resource: 'agent:other-bot' });
  });
});
