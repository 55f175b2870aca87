import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { AuthError } from '../../src/errors.js';
import { BUILTIN_ROLES } from '../../src/identity/operators.js';
import { MAX_OIDC_TOKEN_BYTES, OidcVerifier, type OidcProviderConfig } from '../../src/identity/oidc.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = (): number => Math.floor(Date.now() / 1000);
const knownRoles = (r: string): boolean => Object.hasOwn(BUILTIN_ROLES, r);

interface SigningKey { kid: string; alg: 'RS256' | 'ES256'; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A local IdP: serves `keys` as a JWKS at /jwks and counts every request it gets. */
interface Idp {
  base: string;
  jwksUri: string;
  hits: number;
  keys: JWK[];
  /** Replaces the JWKS answer (status, body, redirect…) when set. */
  respond?: (req: IncomingMessage, res: ServerResponse) => void;
  server: Server;
}

const servers: Server[] = [];

async function startIdp(keys: JWK[]): Promise<Idp> {
  const idp = { hits: 0, keys } as Idp;
  idp.server = createServer((req, res) => {
    idp.hits++;
    if (idp.respond) return idp.respond(req, res);
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: idp.keys }));
  });
  servers.push(idp.server);
  await new Promise<void>((ok) => idp.server.listen(0, '127.0.0.1', ok));
  const { port } = idp.server.address() as AddressInfo;
  idp.base = `http://127.0.0.1:${port}`;
  idp.jwksUri = `${idp.base}/jwks`;
  return idp;
}

const ROLE_MAP = { 'warden-admins': 'admin', 'warden-devs': 'developer', 'platform-devs': 'developer', viewers: 'viewer' };

/** One provider, parsed by the real config schema (so defaults apply exactly as in production). */
function provider(idp: Idp, over: Record<string, unknown> = {}): OidcProviderConfig[] {
  const raw = { name: 'corp', issuer: idp.base, jwks_uri: idp.jwksUri, audience: 'warden', role_map: ROLE_MAP, ...over };
  return configSchema.parse({ identity: { oidc: [raw] } }).identity.oidc;
}

function verifier(idp: Idp, over: Record<string, unknown> = {}, clockSkewMs = 60_000): OidcVerifier {
  return new OidcVerifier(provider(idp, over), { clockSkewMs, knownRoles });
}

async function sign(idp: Idp, key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const n = nowS();
  const payload = { iss: idp.base, aud: 'warden', sub: 'alice@example.com', groups: ['warden-admins'], iat: n, exp: n + 300, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

async function refused(p: Promise<unknown>, reason: string, status: 401 | 403 = 401): Promise<AuthError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).reason).toBe(reason);
  expect((err as AuthError).code).toBe(status === 401 ? 'AUTH_FAILED' : 'FORBIDDEN');
  return err as AuthError;
}

let rsa: SigningKey;
let ec: SigningKey;
let idp: Idp;

beforeAll(async () => {
  rsa = await signingKey('rsa-1', 'RS256');
  ec = await signingKey('ec-1', 'ES256');
  idp = await startIdp([rsa.jwk, ec.jwk]);
});
afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
});

describe('oidc: configuration', () => {
  const base = { name: 'corp', issuer: 'https://idp.example.com', jwks_uri: 'https://idp.example.com/keys', audience: 'warden', role_map: { admins: 'admin' } };
  const issues = (...oidc: Record<string, unknown>[]): string[] => {
    const r = configSchema.safeParse({ identity: { oidc } });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults to no providers; a minimal provider gets safe defaults', () => {
    expect(configSchema.parse({}).identity.oidc).toEqual([]);
    expect(configSchema.parse({ identity: { oidc: [base] } }).identity.oidc[0]).toEqual({
      ...base,
      tenant: 'default',
      subject_claim: 'sub',
      roles_claim: 'groups',
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      cache_max_age: 600_000,
      cooldown: 30_000,
    });
    const p = configSchema.parse({ identity: { oidc: [{ ...base, audience: ['a', 'b'], cooldown: '0ms', cache_max_age: '1h', algorithms: ['PS256', 'ES384'] }] } }).identity.oidc[0];
    expect(p).toMatchObject({ audience: ['a', 'b'], cooldown: 0, cache_max_age: 3_600_000, algorithms: ['PS256', 'ES384'] });
  });

  it('never accepts HMAC or none', () => {
    for (const alg of ['HS256', 'HS512', 'none']) {
      expect(issues({ ...base, algorithms: ['RS256', alg] })).toEqual([expect.stringMatching(/^identity\.oidc\.0\.algorithms\.1: .*HMAC and "none" are never accepted/)]);
    }
    expect(issues({ ...base, algorithms: [] })[0]).toMatch(/^identity\.oidc\.0\.algorithms:/);
  });

  it('requires https, except on loopback', () => {
    expect(issues({ ...base, issuer: 'http://idp.example.com' })).toEqual([expect.stringMatching(/^identity\.oidc\.0\.issuer: expected an https:\/\/ URL/)]);
    expect(issues({ ...base, jwks_uri: 'http://idp.example.com/keys' })).toEqual([expect.stringMatching(/^identity\.oidc\.0\.jwks_uri: expected an https:\/\/ URL/)]);
    expect(issues({ ...base, jwks_uri: 'http://127.0.0.2.nip.io/keys' })[0]).toMatch(/jwks_uri/);
    expect(issues({ ...base, jwks_uri: 'ftp://idp.example.com/keys' })[0]).toMatch(/jwks_uri/);
    expect(issues({ ...base, jwks_uri: 'https://user:pw@idp.example.com/keys' })[0]).toMatch(/jwks_uri/);
    expect(issues({ ...base, issuer: 'idp.example.com' })[0]).toMatch(/issuer/);
    for (const host of ['127.0.0.1:8080', 'localhost', '[::1]:9000']) {
      expect(issues({ ...base, issuer: `http://${host}`, jwks_uri: `http://${host}/jwks` })).toEqual([]);
    }
  });

  it('names must be unique, issuers must be unique', () => {
    const other = { ...base, name: 'other', issuer: 'https://other.example.com' };
    expect(issues(base, { ...other, name: 'corp' })).toEqual(['identity.oidc.1.name: duplicate OIDC provider name "corp"']);
    expect(issues(base, { ...other, issuer: base.issuer })).toEqual(['identity.oidc.1.issuer: duplicate OIDC provider issuer "https://idp.example.com"']);
    expect(issues(base, other)).toEqual([]);
    // The readable form loadConfig reports.
    expect(() => parseConfig({ identity: { oidc: [base, base] } }, 'warden.yaml')).toThrow(/identity\.oidc\.1\.name: duplicate OIDC provider name "corp"/);
  });

  it('checks the other fields', () => {
    expect(issues({ ...base, name: 'Corp' })[0]).toMatch(/^identity\.oidc\.0\.name:/);
    expect(issues({ ...base, role_map: {} })[0]).toMatch(/^identity\.oidc\.0\.role_map: expected at least one/);
    expect(issues({ ...base, role_map: { admins: 'Not A Role' } })[0]).toMatch(/^identity\.oidc\.0\.role_map\.admins:/);
    expect(issues({ ...base, audience: undefined })[0]).toMatch(/^identity\.oidc\.0\.audience:/);
    expect(issues({ ...base, audience: [] })[0]).toMatch(/^identity\.oidc\.0\.audience/);
    expect(issues({ ...base, tenant: 'Bad Tenant' })[0]).toMatch(/^identity\.oidc\.0\.tenant:/);
    expect(issues({ ...base, cooldown: 'soon' })[0]).toMatch(/^identity\.oidc\.0\.cooldown: expected a duration/);
    expect(issues({ ...base, surprise: true })[0]).toMatch(/surprise/);
  });

  it('the verifier refuses role_map targets that are not Warden roles', () => {
    const providers = configSchema.parse({ identity: { oidc: [base, { ...base, name: 'b', issuer: 'https://b.example.com', role_map: { admins: 'admin', ops: 'superuser' } }] } }).identity.oidc;
    expect(() => new OidcVerifier(providers, { clockSkewMs: 0, knownRoles })).toThrow(expect.objectContaining({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^identity\.oidc\[1\]\.role_map\.ops: unknown Warden role "superuser"/) as unknown,
    }));
    // Custom roles count once the caller knows them.
    expect(() => new OidcVerifier(providers, { clockSkewMs: 0, knownRoles: (r) => knownRoles(r) || r === 'superuser' })).not.toThrow();
  });

  it('the verifier refuses HMAC even from a hand-built config that skipped the schema', () => {
    const p = { ...configSchema.parse({ identity: { oidc: [base] } }).identity.oidc[0]!, algorithms: ['HS256'] } as unknown as OidcProviderConfig;
    expect(() => new OidcVerifier([p], { clockSkewMs: 0, knownRoles })).toThrow(/identity\.oidc\[0\]\.algorithms: "HS256" is not accepted/);
  });
});

describe('oidc: valid tokens', () => {
  it('an RS256 token → the identity with mapped roles', async () => {
    const v = verifier(idp);
    const token = await sign(idp, rsa, { groups: ['warden-devs', 'warden-admins', 'platform-devs', 'unrelated'] });
    expect(v.matches(token)).toBe(true);
    const id = await v.verify(token);
    expect(id).toEqual({
      provider: 'corp',
      tenant: 'default',
      subject: 'alice@example.com',
      human: 'oidc:corp:alice@example.com',
      roles: ['admin', 'developer'],
      claims_roles: ['platform-devs', 'warden-admins', 'warden-devs'],
      exp: expect.any(Number) as unknown,
    });
    expect(v.stats.jwksFetches).toBe(1);
    // Keys are cached: more tokens, no more fetches.
    for (let i = 0; i < 5; i++) await v.verify(await sign(idp, rsa, { sub: `user-${i}` }));
    expect(v.stats.jwksFetches).toBe(1);
  });

  it('an ES256 token, a space-separated roles claim, a custom subject claim, tenant and audience list', async () => {
    const v = verifier(idp, { tenant: 'acme', subject_claim: 'email', roles_claim: 'roles', audience: ['other-app', 'warden'] });
    const token = await sign(idp, ec, { email: 'bob@example.com', roles: 'viewers  warden-devs', groups: undefined, aud: ['warden', 'x'] });
    expect(await v.verify(token)).toMatchObject({ tenant: 'acme', subject: 'bob@example.com', human: 'oidc:corp:bob@example.com', roles: ['developer', 'viewer'], claims_roles: ['viewers', 'warden-devs'] });
  });

  it('accepts an at+jwt access token', async () => {
    await expect(verifier(idp).verify(await sign(idp, rsa, {}, { typ: 'at+jwt' }))).resolves.toMatchObject({ roles: ['admin'] });
  });

  it('accepts a token expired within the clock skew, and one not yet valid within it', async () => {
    const v = verifier(idp, {}, 60_000);
    const n = nowS();
    await expect(v.verify(await sign(idp, rsa, { iat: n - 600, exp: n - 30 }))).resolves.toMatchObject({ subject: 'alice@example.com' });
    await expect(v.verify(await sign(idp, rsa, { nbf: n + 30 }))).resolves.toMatchObject({ subject: 'alice@example.com' });
  });
});

describe('oidc: refused tokens', () => {
  it('no mapped role → 403', async () => {
    const v = verifier(idp);
    await refused(v.verify(await sign(idp, rsa, { groups: ['unrelated', 'WARDEN-ADMINS'] })), 'no Warden role for this identity', 403);
    await refused(v.verify(await sign(idp, rsa, { groups: undefined })), 'no Warden role for this identity', 403);
    await refused(v.verify(await sign(idp, rsa, { groups: [7, { admin: true }] })), 'no Warden role for this identity', 403);
    // Object.prototype members are not role_map entries.
    await refused(v.verify(await sign(idp, rsa, { groups: ['constructor', '__proto__', 'toString', 'hasOwnProperty'] })), 'no Warden role for this identity', 403);
  });

  it('an issuer that is not configured is refused without any fetch', async () => {
    const v = verifier(idp);
    const token = await sign(idp, rsa, { iss: 'https://evil.example.com' });
    expect(v.matches(token)).toBe(false);
    expect(v.tenantOf(token)).toBeUndefined();
    expect(verifier(idp, { tenant: 'acme' }).tenantOf(await sign(idp, rsa))).toBe('acme');
    await refused(v.verify(token), 'issuer not accepted');
    await refused(v.verify(await sign(idp, rsa, { iss: `${idp.base}/` })), 'issuer not accepted'); // compared exactly
    expect(v.stats.jwksFetches).toBe(0);
  });

  it('wrong audience', async () => {
    await refused(verifier(idp).verify(await sign(idp, rsa, { aud: 'another-app' })), 'audience not accepted');
    await refused(verifier(idp).verify(await sign(idp, rsa, { aud: undefined })), 'audience not accepted');
  });

  it('expired beyond the clock skew; nbf and iat in the future', async () => {
    const v = verifier(idp, {}, 60_000);
    const n = nowS();
    await refused(v.verify(await sign(idp, rsa, { iat: n - 600, exp: n - 120 })), 'token expired');
    await refused(v.verify(await sign(idp, rsa, { nbf: n + 120 })), 'token not yet valid');
    await refused(v.verify(await sign(idp, rsa, { iat: n + 120 })), 'token issued in the future');
  });

  it('required claims and the subject', async () => {
    const v = verifier(idp);
    for (const missing of ['exp', 'iat', 'sub']) await refused(v.verify(await sign(idp, rsa, { [missing]: undefined })), 'token claims invalid');
    await refused(v.verify(await sign(idp, rsa, { sub: '' })), 'token subject invalid');
    await refused(v.verify(await sign(idp, rsa, { sub: 'x'.repeat(257) })), 'token subject invalid');
    await refused(v.verify(await sign(idp, rsa, { sub: 'alice\nforged: line' })), 'token subject invalid');
    await refused(v.verify(await sign(idp, rsa, { sub: 42 })), 'token subject invalid');
    await refused(verifier(idp, { subject_claim: 'email' }).verify(await sign(idp, rsa)), 'token claims invalid');
  });

  it('alg none is refused before any key lookup', async () => {
    const v = verifier(idp);
    const n = nowS();
    const claims = { iss: idp.base, aud: 'warden', sub: 'mallory', groups: ['warden-admins'], iat: n, exp: n + 300 };
    for (const alg of ['none', 'None', 'NONE']) {
      const token = `${b64({ alg, typ: 'JWT', kid: rsa.kid })}.${b64(claims)}.`;
      expect(v.matches(token)).toBe(true); // routed to the provider…
      await refused(v.verify(token), 'algorithm not allowed'); // …and refused there
    }
    expect(v.stats.jwksFetches).toBe(0);
  });

  it('HS256 signed with the public key as the HMAC secret (key confusion)', async () => {
    const v = verifier(idp);
    const n = nowS();
    const claims = { iss: idp.base, aud: 'warden', sub: 'mallory', groups: ['warden-admins'], iat: n, exp: n + 300 };
    const pem = await exportSPKI(rsa.publicKey);
    for (const secret of [pem, JSON.stringify(rsa.jwk), rsa.jwk.n as string]) {
      for (const [alg, hash] of [['HS256', 'sha256'], ['HS512', 'sha512']] as const) {
        const input = `${b64({ alg, typ: 'JWT', kid: rsa.kid })}.${b64(claims)}`;
        await refused(v.verify(`${input}.${createHmac(hash, secret).update(input).digest('base64url')}`), 'algorithm not allowed');
      }
    }
    expect(v.stats.jwksFetches).toBe(0);
  });

  it('an allowed JWS algorithm that this provider does not accept', async () => {
    await refused(verifier(idp, { algorithms: ['ES256'] }).verify(await sign(idp, rsa)), 'algorithm not allowed');
  });

  it("another key claiming the IdP's kid, or carrying its own key in the header", async () => {
    const v = verifier(idp);
    const mallory = await signingKey(rsa.kid, 'RS256');
    await refused(v.verify(await sign(idp, mallory)), 'signature invalid');
    // jose never trusts an embedded jwk / jku: the key must come from the configured JWKS.
    const embedded = await signingKey('mallory-1', 'RS256');
    await refused(v.verify(await sign(idp, embedded, {}, { jwk: embedded.jwk, jku: `${idp.base}/evil` })), 'unknown signing key');
  });

  it('refuses other token types (e.g. a logout token)', async () => {
    await refused(verifier(idp).verify(await sign(idp, rsa, {}, { typ: 'logout+jwt' })), 'token type not accepted');
  });

  it('tokens over 8 KiB are refused before parsing or fetching', async () => {
    const v = verifier(idp);
    const before = idp.hits;
    const token = await sign(idp, rsa, { padding: 'x'.repeat(MAX_OIDC_TOKEN_BYTES) });
    expect(v.matches(token)).toBe(false);
    await refused(v.verify(token), 'token too large');
    expect(v.stats.jwksFetches).toBe(0);
    expect(idp.hits).toBe(before);
  });

  it('garbage', async () => {
    const v = verifier(idp);
    for (const t of ['', 'abc', 'a.b.c', `${b64({ alg: 'RS256' })}.not-json.sig`]) {
      expect(v.matches(t)).toBe(false);
      await expect(v.verify(t)).rejects.toBeInstanceOf(AuthError);
    }
    expect(v.stats.jwksFetches).toBe(0);
  });
});

describe('oidc: JWKS fetching', () => {
  it('unknown kids: refused, and never more than one fetch per cooldown however many arrive', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const server = await startIdp([rsa.jwk]);
    const v = verifier(server, { cooldown: '30s' });
    const stranger = await signingKey('unknown-kid', 'RS256');
    await refused(v.verify(await sign(server, stranger)), 'unknown signing key');
    expect(server.hits).toBe(1); // the first fetch
    for (let i = 0; i < 20; i++) await refused(v.verify(await sign(server, stranger, { sub: `u${i}` })), 'unknown signing key');
    await Promise.all(Array.from({ length: 20 }, async () => refused(v.verify(await sign(server, stranger)), 'unknown signing key')));
    expect(server.hits).toBe(1);
    // Known keys keep working meanwhile.
    await expect(v.verify(await sign(server, rsa))).resolves.toMatchObject({ roles: ['admin'] });

    // After the cooldown one unknown kid may trigger one refetch, then the cooldown holds again.
    vi.setSystemTime(Date.now() + 31_000);
    for (let i = 0; i < 20; i++) await refused(v.verify(await sign(server, stranger)), 'unknown signing key');
    expect(server.hits).toBe(2);
    expect(v.stats.jwksFetches).toBe(2);
  });

  it('key rotation: a new kid is fetched and accepted (cooldown 0)', async () => {
    const server = await startIdp([rsa.jwk]);
    const v = verifier(server, { cooldown: 0 });
    await v.verify(await sign(server, rsa));
    expect(server.hits).toBe(1);
    const next = await signingKey('rsa-2', 'RS256');
    server.keys = [rsa.jwk, next.jwk];
    await expect(v.verify(await sign(server, next))).resolves.toMatchObject({ roles: ['admin'] });
    expect(server.hits).toBe(2);
    await v.verify(await sign(server, next));
    expect(server.hits).toBe(2);
  });

  it('key rotation with the default cooldown: the new kid is accepted once the cooldown has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const server = await startIdp([rsa.jwk]);
    const v = verifier(server);
    await v.verify(await sign(server, rsa));
    const next = await signingKey('rsa-2', 'RS256');
    server.keys = [next.jwk];
    await refused(v.verify(await sign(server, next)), 'unknown signing key');
    vi.setSystemTime(Date.now() + 30_001);
    await expect(v.verify(await sign(server, next))).resolves.toMatchObject({ roles: ['admin'] });
    expect(server.hits).toBe(2);
  });

  it('a key removed at the IdP stops verifying once the cache expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const server = await startIdp([rsa.jwk, ec.jwk]);
    const v = verifier(server, { cache_max_age: '1m' });
    await v.verify(await sign(server, rsa));
    server.keys = [ec.jwk];
    await v.verify(await sign(server, rsa)); // still cached
    vi.setSystemTime(Date.now() + 61_000);
    await refused(v.verify(await sign(server, rsa)), 'unknown signing key');
    await expect(v.verify(await sign(server, ec))).resolves.toMatchObject({ roles: ['admin'] });
    expect(server.hits).toBe(2);
  });

  it('IdP down → 401 identity provider unreachable, never a 500', async () => {
    const server = await startIdp([rsa.jwk]);
    server.server.closeAllConnections();
    await new Promise((ok) => server.server.close(ok));
    const v = verifier(server, { cooldown: 0 });
    await refused(v.verify(await sign(server, rsa)), 'identity provider unreachable');
    await refused(v.verify(await sign(server, rsa)), 'identity provider unreachable');
    expect(v.stats).toEqual({ jwksFetches: 2, jwksFailures: 2 });
  });

  it('IdP errors are 401s, and a failed fetch also holds further fetches off for the cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const server = await startIdp([rsa.jwk]);
    server.respond = (_req, res) => void res.writeHead(503).end('maintenance');
    const v = verifier(server);
    await refused(v.verify(await sign(server, rsa)), 'identity provider unreachable');
    for (let i = 0; i < 10; i++) await refused(v.verify(await sign(server, rsa)), 'identity provider unreachable');
    expect(server.hits).toBe(1);
    server.respond = undefined;
    vi.setSystemTime(Date.now() + 30_001);
    await expect(v.verify(await sign(server, rsa))).resolves.toMatchObject({ roles: ['admin'] });
    expect(server.hits).toBe(2);
    expect(v.stats).toEqual({ jwksFetches: 2, jwksFailures: 1 });
  });

  it('unusable JWKS answers: not JSON, not a key set, too large, a redirect', async () => {
    const server = await startIdp([rsa.jwk]);
    const answers: ((req: IncomingMessage, res: ServerResponse) => void)[] = [
      (_q, r) => void r.writeHead(200, { 'content-type': 'application/json' }).end('<html>'),
      (_q, r) => void r.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":{}}'),
      (_q, r) => void r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [rsa.jwk], pad: 'x'.repeat(300 * 1024) })),
      (_q, r) => {
        // Chunked, no content-length: the limit must hold while streaming.
        r.writeHead(200, { 'content-type': 'application/json' });
        r.write(`{"keys":[${JSON.stringify(rsa.jwk)}],"pad":"`);
        for (let i = 0; i < 300; i++) r.write('x'.repeat(1024));
        r.end('"}');
      },
      (_q, r) => void r.writeHead(302, { location: '/jwks-elsewhere' }).end(),
    ];
    for (const answer of answers) {
      server.respond = (req, res) => (req.url === '/jwks' ? answer(req, res) : res.writeHead(200).end(JSON.stringify({ keys: [rsa.jwk] })));
      const before = server.hits;
      await refused(verifier(server, { cooldown: 0 }).verify(await sign(server, rsa)), 'identity provider unreachable');
      expect(server.hits).toBe(before + 1); // the redirect is not followed
    }
  });
});
