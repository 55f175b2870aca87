import { openWarden } from '../../src/context.js';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerCa } from '../../src/cli/ca.js';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';
import { WardenError } from '../../src/errors.js';
import {
  caKeyContext,
  caPaths,
  certificateThumbprint,
  initCa,
  issueCertificate,
  parseSpiffeId,
  readCaCertificate,
  spiffeIdFromCertificate,
  type InitCaResult,
} from '../../src/identity/ca.js';

// Imported after ca.js, which provides the Reflect metadata @peculiar/x509 needs.
const x509 = await import('@peculiar/x509');
const crypto = webcrypto as unknown as Crypto;
type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };
type KeyGenParams = Parameters<typeof crypto.subtle.generateKey>[0];
type SignParams = { name: string; hash?: string };

const TD = 'example.org';
const DAY = 86_400_000;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const tmpDirs: string[] = [];

/** A data dir as `warden init` leaves it, as far as the CA is concerned: config + master key. */
function newDataDir(origin = 'test.warden/log'): { dir: string; provider: FileKeyProvider } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ca-'));
  tmpDirs.push(dir);
  writeFileSync(join(dir, 'warden.yaml'), `version: 1\norigin: ${origin}\n`);
  return { dir, provider: FileKeyProvider.open(join(dir, 'master.key'), { create: true }) };
}

/** Gives the data directory its store and the tenant (ca issue refuses unknown tenants). */
async function withTenantStore(dir: string, tenant: string): Promise<void> {
  const w = await openWarden(dir, { create: true });
  try {
    await w.ensureTenant(tenant);
  } finally {
    await w.close();
  }
}

function uris(pem: string): string[] {
  const ext = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  return (ext?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
}

function ekus(pem: string): string[] {
  return (new x509.X509Certificate(pem).getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []).map(String).sort();
}

function pkcs8Pem(der: ArrayBuffer): string {
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WardenError);
  expect((err as WardenError).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

interface HandshakeResult {
  /** The client read the server's "ok", i.e. the server accepted the client certificate. */
  ok: boolean;
  protocol?: string | null;
  peer?: tls.DetailedPeerCertificate;
  serverError?: string;
  clientError?: string;
}

/**
 * One mutual-TLS exchange over loopback. The server requires a client certificate chaining to
 * `caPem` (TLS 1.3 minimum); the client verifies the server against `clientCa` (default `caPem`).
 */
async function handshake(o: {
  caPem: string;
  serverCert: string;
  serverKey: string;
  clientCert?: string;
  clientKey?: string;
  clientCa?: string;
}): Promise<HandshakeResult> {
  const result: HandshakeResult = { ok: false };
  const server = tls.createServer(
    { cert: o.serverCert, key: o.serverKey, ca: o.caPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      result.peer = socket.getPeerCertificate(true);
      socket.end('ok');
    },
  );
  server.on('tlsClientError', (err, socket) => {
    // A refused client certificate surfaces as a hang-up; the verification error is on the socket.
    result.serverError = `${err.message}${socket.authorizationError ? `: ${String(socket.authorizationError)}` : ''}`;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: o.clientCa ?? o.caPem,
      minVersion: 'TLSv1.3',
      ...(o.clientCert ? { cert: o.clientCert } : {}),
      ...(o.clientKey ? { key: o.clientKey } : {}),
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => {
      result.protocol = socket.getProtocol();
    });
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('error', (err) => {
      result.clientError = err.message;
    });
    socket.on('close', () => {
      result.ok = data === 'ok';
      done();
    });
  });
  await new Promise<void>((r) => server.close(() => r()));
  return result;
}

let dir: string;
let provider: FileKeyProvider;
let ca: InitCaResult;
/** The CA was created a week ago, so certificates can be issued "in the past" (expired ones). */
const caNow = new Date(Math.floor(Date.now() / 1000) * 1000 - 7 * DAY);
let server: { certPem: string; keyPem: string };

beforeAll(async () => {
  ({ dir, provider } = newDataDir());
  ca = await initCa({ dataDir: dir, provider, trustDomain: TD, now: caNow });
  const s = await issueCertificate({ dataDir: dir, provider, kind: 'service', tenant: 'acme', id: 'warden', ipAddresses: ['127.0.0.1'] });
  server = { certPem: s.certPem, keyPem: s.keyPem as string };
});

afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('initCa', () => {
  it('creates a P-256 root: CA:true pathLen 0, keyCertSign|cRLSign, 10 years, SPIFFE trust domain SAN', () => {
    expect(ca.created).toBe(true);
    expect(ca.trustDomain).toBe(TD);
    expect(ca.certPath).toBe(join(dir, 'ca', 'ca.crt'));
    const cert = new x509.X509Certificate(ca.certPem);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.pathLength).toBe(0);
    expect(bc?.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(ku?.critical).toBe(true);
    expect(uris(ca.certPem)).toEqual([`spiffe://${TD}`]);
    expect(cert.notBefore.getTime()).toBe(caNow.getTime() - 60_000);
    const tenYears = new Date(caNow);
    tenYears.setUTCFullYear(tenYears.getUTCFullYear() + 10);
    expect(cert.notAfter.getTime()).toBe(tenYears.getTime());
    const node = new X509Certificate(ca.certPem);
    expect(node.ca).toBe(true);
    expect(node.publicKey.asymmetricKeyType).toBe('ec');
    expect(node.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(node.verify(node.publicKey)).toBe(true);
    expect(ca.fingerprint256).toBe(node.fingerprint256);
  });

  it('stores the certificate 0644 and the sealed key 0600', () => {
    const p = caPaths(dir);
    expect(readFileSync(p.cert, 'utf8')).toContain('-----BEGIN CERTIFICATE-----');
    expect(statSync(p.cert).mode & 0o777).toBe(0o644);
    expect(statSync(p.sealedKey).mode & 0o777).toBe(0o600);
  });

  it('is idempotent: a second call returns the same CA and touches neither file', async () => {
    const p = caPaths(dir);
    const keyBefore = readFileSync(p.sealedKey);
    const keyMtime = statSync(p.sealedKey).mtimeMs;
    const certMtime = statSync(p.cert).mtimeMs;
    const again = await initCa({ dataDir: dir, provider, trustDomain: TD });
    expect(again.created).toBe(false);
    expect(again.certPem).toBe(ca.certPem);
    expect(again.fingerprintS256).toBe(ca.fingerprintS256);
    const implicit = await initCa({ dataDir: dir, provider });
    expect(implicit.certPem).toBe(ca.certPem);
    expect(readFileSync(p.sealedKey).equals(keyBefore)).toBe(true);
    expect(statSync(p.sealedKey).mtimeMs).toBe(keyMtime);
    expect(statSync(p.cert).mtimeMs).toBe(certMtime);
    expect(readCaCertificate(dir).certPem).toBe(ca.certPem);
  });

  it('never replaces a CA with one for another trust domain', async () => {
    await expectCode(initCa({ dataDir: dir, provider, trustDomain: 'other.example' }), 'CONFLICT', /already exists/);
    expect(readCaCertificate(dir).trustDomain).toBe(TD);
  });

  it('seals the key: the file holds no PEM or PKCS#8 key, and only the master key with the right context opens it', async () => {
    const sealed = readFileSync(caPaths(dir).sealedKey);
    expect(sealed.toString('latin1')).not.toMatch(/PRIVATE KEY|BEGIN/);
    expect(() => createPrivateKey({ key: sealed, format: 'der', type: 'pkcs8' })).toThrow();
    const pkcs8 = await provider.unwrap(sealed, caKeyContext(TD));
    const pub = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
    expect(pub.export({ type: 'spki', format: 'der' }).equals(new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    // The context binds the key to its trust domain.
    await expect(provider.unwrap(sealed, caKeyContext('other.example'))).rejects.toThrow(/decryption failed/);
  });

  it('a different master key cannot unseal the CA key', async () => {
    const other = FileKeyProvider.open(join(newDataDir().dir, 'master.key'));
    await expectCode(issueCertificate({ dataDir: dir, provider: other, kind: 'agent', tenant: 'acme', id: 'bot' }), 'KEY_ERROR', /cannot unseal the CA key/);
    await expectCode(initCa({ dataDir: dir, provider: other, trustDomain: TD }), 'KEY_ERROR', /cannot unseal/);
  });

  it('validates its inputs and needs an existing data dir', async () => {
    const { dir: d, provider: p } = newDataDir();
    await expectCode(initCa({ dataDir: d, provider: p, trustDomain: 'Example.org' }), 'BAD_INPUT', /trust domain/);
    await expectCode(initCa({ dataDir: d, provider: p, trustDomain: 'example.org:443' }), 'BAD_INPUT');
    await expectCode(initCa({ dataDir: d, provider: p, trustDomain: '-bad.example' }), 'BAD_INPUT');
    await expectCode(initCa({ dataDir: d, provider: p }), 'BAD_INPUT', /trust domain is required/);
    await expectCode(initCa({ dataDir: join(d, 'missing'), provider: p, trustDomain: TD }), 'CONFIG_INVALID', /warden init/);
    expect(existsSync(join(d, 'ca'))).toBe(false);
    await expectCode(issueCertificate({ dataDir: d, provider: p, kind: 'agent', tenant: 'acme', id: 'bot' }), 'NOT_FOUND', /warden ca init/);
  });

  it('concurrent inits create one CA', async () => {
    const { dir: d, provider: p } = newDataDir();
    const results = await Promise.all([1, 2, 3, 4].map(() => initCa({ dataDir: d, provider: p, trustDomain: TD })));
    expect(results.filter((r) => r.created).length).toBe(1);
    const onDisk = readCaCertificate(d).certPem;
    // Every caller that lost the race got the winner's CA.
    for (const r of results.filter((x) => !x.created)) expect(r.certPem).toBe(onDisk);
    expect(results.some((r) => r.certPem === onDisk)).toBe(true);
  });
});

describe('issueCertificate', () => {
  it('issues an agent certificate: chains to the CA, exactly one SPIFFE SAN, clientAuth only, digitalSignature', async () => {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const r = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1', now });
    expect(r.spiffeId).toBe(`spiffe://${TD}/tenant/acme/agent/bot-1`);
    expect(r.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(uris(r.certPem)).toEqual([r.spiffeId]);
    expect(ekus(r.certPem)).toEqual([CLIENT_AUTH]);
    const cert = new x509.X509Certificate(r.certPem);
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.notBefore.getTime()).toBe(now.getTime() - 60_000);
    expect(cert.notAfter.getTime()).toBe(now.getTime() + DAY);
    expect(r.notAfter.getTime()).toBe(now.getTime() + DAY);
    // Chain: node (OpenSSL) and @peculiar/x509's chain builder agree.
    const node = new X509Certificate(r.certPem);
    const caNode = new X509Certificate(ca.certPem);
    expect(node.verify(caNode.publicKey)).toBe(true);
    expect(node.checkIssued(caNode)).toBe(true);
    const chain = await new x509.X509ChainBuilder({ certificates: [new x509.X509Certificate(ca.certPem)] }).build(cert, crypto);
    expect(chain.length).toBe(2);
    expect(chain[1]?.equal(new x509.X509Certificate(ca.certPem))).toBe(true);
    expect(await cert.verify({ publicKey: new x509.X509Certificate(ca.certPem).publicKey, date: new Date() }, crypto)).toBe(true);
    // The key returned is the certified one.
    const key = createPrivateKey(r.keyPem as string);
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(node.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(spiffeIdFromCertificate(r.certPem)).toEqual({ uri: r.spiffeId, trustDomain: TD, tenant: 'acme', kind: 'agent', id: 'bot-1' });
    expect(r.caCertPem).toBe(ca.certPem);
  });

  it('issues a service certificate with clientAuth + serverAuth', async () => {
    const r = await issueCertificate({ dataDir: dir, provider, kind: 'service', tenant: 'acme', id: 'billing.api' });
    expect(uris(r.certPem)).toEqual([`spiffe://${TD}/tenant/acme/service/billing.api`]);
    expect(ekus(r.certPem)).toEqual([CLIENT_AUTH, SERVER_AUTH].sort());
    expect(spiffeIdFromCertificate(new X509Certificate(r.certPem)).kind).toBe('service');
  });

  it('uses random 128-bit serial numbers', async () => {
    const a = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    const b = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    expect(a.serialNumber).not.toBe(b.serialNumber);
    for (const s of [a.serialNumber, b.serialNumber]) {
      const bits = BigInt(`0x${s}`).toString(2).length;
      expect(bits).toBeLessThanOrEqual(128);
      expect(bits).toBeGreaterThan(100); // probability of failing: 2^-27
    }
  });

  it('reports the RFC 8705 thumbprint: base64url SHA-256 of the DER, equal to fingerprint256', async () => {
    const r = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    const node = new X509Certificate(r.certPem);
    const expected = Buffer.from(node.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
    expect(r.fingerprintS256).toBe(expected);
    expect(certificateThumbprint(r.certPem)).toBe(expected);
    expect(certificateThumbprint(node.raw)).toBe(expected);
    expect(certificateThumbprint(node)).toBe(expected);
    expect(expected).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(() => certificateThumbprint(r.certPem + r.certPem)).toThrow(/exactly one/);
    expect(() => certificateThumbprint('not a certificate')).toThrow(WardenError);
  });

  it('validates tenant, id, kind, lifetime and SANs', async () => {
    const base = { dataDir: dir, provider, tenant: 'acme', id: 'bot' } as const;
    await expectCode(issueCertificate({ ...base, kind: 'agent', tenant: 'Acme' }), 'BAD_INPUT', /tenant/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', tenant: '../x' }), 'BAD_INPUT', /tenant/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', id: '..' }), 'BAD_INPUT', /agent id/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', id: 'a/b' }), 'BAD_INPUT', /agent id/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', id: '' }), 'BAD_INPUT');
    await expectCode(issueCertificate({ ...base, kind: 'agent', id: 'x'.repeat(64) }), 'BAD_INPUT');
    await expectCode(issueCertificate({ ...base, kind: 'robot' as 'agent' }), 'BAD_INPUT', /kind/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', ttlMs: 31 * DAY }), 'BAD_INPUT', /30d/);
    await expectCode(issueCertificate({ ...base, kind: 'agent', ttlMs: 0 }), 'BAD_INPUT');
    await expectCode(issueCertificate({ ...base, kind: 'agent', ipAddresses: ['127.0.0.1'] }), 'BAD_INPUT', /only for service/);
    await expectCode(issueCertificate({ ...base, kind: 'service', dnsNames: ['Bad_Name'] }), 'BAD_INPUT', /DNS name/);
    await expectCode(issueCertificate({ ...base, kind: 'service', ipAddresses: ['localhost'] }), 'BAD_INPUT', /IP address/);
    const max = await issueCertificate({ ...base, kind: 'agent', ttlMs: 30 * DAY });
    expect(max.notAfter.getTime() - max.notBefore.getTime()).toBe(30 * DAY + 60_000);
  });

  it('refuses to issue before the CA is valid', async () => {
    await expectCode(issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot', now: new Date(caNow.getTime() - DAY) }), 'KEY_ERROR', /not valid now/);
  });
});

describe('CSR path', () => {
  async function csr(
    gen: KeyGenParams,
    sign: SignParams,
    opts: { forgeWith?: CryptoKey } = {},
  ): Promise<{ pem: string; keys: KeyPair }> {
    const keys = (await crypto.subtle.generateKey(gen, true, ['sign', 'verify'])) as KeyPair;
    const req = await x509.Pkcs10CertificateRequestGenerator.create(
      {
        name: 'CN=admin, O=other-tenant',
        keys: { publicKey: keys.publicKey, privateKey: opts.forgeWith ?? keys.privateKey },
        signingAlgorithm: sign,
        // Requested extensions are ignored: the CA decides the identity.
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${TD}/tenant/other/agent/admin` }])],
      },
      crypto,
    );
    return { pem: req.toString('pem'), keys };
  }
  const P256 = { name: 'ECDSA', namedCurve: 'P-256' };
  const ES256 = { name: 'ECDSA', hash: 'SHA-256' };

  it('certifies the CSR key, ignores its subject and requested SANs, returns no key', async () => {
    const { pem, keys } = await csr(P256, ES256);
    const r = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'csr-bot', csrPem: pem });
    expect(r.keyPem).toBeUndefined();
    expect(uris(r.certPem)).toEqual([`spiffe://${TD}/tenant/acme/agent/csr-bot`]);
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
    expect(new X509Certificate(r.certPem).publicKey.export({ type: 'spki', format: 'der' }).equals(spki)).toBe(true);
  });

  it('refuses a CSR signed by another key (no proof of possession)', async () => {
    const other = (await crypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as KeyPair;
    const { pem } = await csr(P256, ES256, { forgeWith: other.privateKey });
    await expectCode(issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'x', csrPem: pem }), 'BAD_INPUT', /signature does not verify/);
  });

  it('refuses a CSR whose signature was tampered with', async () => {
    const { pem } = await csr(P256, ES256);
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(pem).rawData);
    der.writeUInt8((der.at(-1) as number) ^ 0x01, der.length - 1); // the last byte of the signature's s value: still well-formed DER
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expectCode(issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'x', csrPem: tampered }), 'BAD_INPUT', /signature/);
  });

  it('refuses garbage, weak keys and missing PEM blocks', async () => {
    const base = { dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'x' } as const;
    await expectCode(issueCertificate({ ...base, csrPem: 'hello' }), 'BAD_INPUT', /exactly one PEM/);
    await expectCode(issueCertificate({ ...base, csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }), 'BAD_INPUT', /PKCS#10/);
    const rsaParams = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
    const rsa = await csr(rsaParams as KeyGenParams, {
      name: 'RSASSA-PKCS1-v1_5',
    });
    await expectCode(issueCertificate({ ...base, csrPem: rsa.pem }), 'BAD_INPUT', /RSA-1024 is not accepted/);
  });

  it('an Ed25519 CSR key works for a real mTLS handshake under the P-256 CA', async () => {
    const { pem, keys } = await csr({ name: 'Ed25519' }, { name: 'Ed25519' });
    const r = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'ed-bot', csrPem: pem });
    const key = pkcs8Pem(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
    const h = await handshake({ caPem: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem, clientCert: r.certPem, clientKey: key });
    expect(h.ok).toBe(true);
    expect(h.protocol).toBe('TLSv1.3');
    expect(spiffeIdFromCertificate(h.peer as tls.DetailedPeerCertificate).id).toBe('ed-bot');
  });
});

describe('mutual TLS over loopback', () => {
  it('accepts an issued agent certificate; the server reads its SPIFFE ID and thumbprint from the peer', async () => {
    const agent = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    const h = await handshake({ caPem: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem, clientCert: agent.certPem, clientKey: agent.keyPem as string });
    expect(h.serverError).toBeUndefined();
    expect(h.ok).toBe(true);
    expect(h.protocol).toBe('TLSv1.3');
    const peer = h.peer as tls.DetailedPeerCertificate;
    expect(spiffeIdFromCertificate(peer)).toMatchObject({ tenant: 'acme', kind: 'agent', id: 'bot-1', trustDomain: TD });
    expect(certificateThumbprint(peer.raw)).toBe(agent.fingerprintS256);
  });

  it('refuses a client without a certificate', async () => {
    const h = await handshake({ caPem: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem });
    expect(h.ok).toBe(false);
    expect(h.serverError).toMatch(/peer did not return a certificate/);
  });

  it('refuses a self-signed client certificate carrying the same SPIFFE ID', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as KeyPair;
    const self = await x509.X509CertificateGenerator.createSelfSigned(
      {
        name: 'CN=bot-1, O=acme',
        keys,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + DAY),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([CLIENT_AUTH]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${TD}/tenant/acme/agent/bot-1` }]),
        ],
      },
      crypto,
    );
    const h = await handshake({
      caPem: ca.certPem,
      serverCert: server.certPem,
      serverKey: server.keyPem,
      clientCert: self.toString('pem'),
      clientKey: pkcs8Pem(await crypto.subtle.exportKey('pkcs8', keys.privateKey)),
    });
    expect(h.ok).toBe(false);
    expect(h.serverError).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT/);
  });

  it("refuses a certificate from another deployment's CA (same trust domain name)", async () => {
    const other = newDataDir();
    const otherCa = await initCa({ dataDir: other.dir, provider: other.provider, trustDomain: TD });
    const agent = await issueCertificate({ dataDir: other.dir, provider: other.provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    expect(new X509Certificate(agent.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(false);
    expect(otherCa.fingerprintS256).not.toBe(ca.fingerprintS256);
    const h = await handshake({ caPem: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem, clientCert: agent.certPem, clientKey: agent.keyPem as string });
    expect(h.ok).toBe(false);
    expect(h.serverError).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });

  it('refuses an expired issued certificate', async () => {
    const agent = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'old', ttlMs: 3_600_000, now: new Date(Date.now() - 2 * DAY) });
    const h = await handshake({ caPem: ca.certPem, serverCert: server.certPem, serverKey: server.keyPem, clientCert: agent.certPem, clientKey: agent.keyPem as string });
    expect(h.ok).toBe(false);
    expect(h.serverError).toMatch(/CERT_HAS_EXPIRED/);
  });

  it('an agent certificate (clientAuth only) is refused as a TLS server certificate', async () => {
    const agentAsServer = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'srv' });
    const client = await issueCertificate({ dataDir: dir, provider, kind: 'agent', tenant: 'acme', id: 'bot-1' });
    const h = await handshake({
      caPem: ca.certPem,
      serverCert: agentAsServer.certPem,
      serverKey: agentAsServer.keyPem as string,
      clientCert: client.certPem,
      clientKey: client.keyPem as string,
    });
    expect(h.ok).toBe(false);
    expect(h.clientError).toMatch(/unsuitable certificate purpose/);
  });
});

describe('parseSpiffeId', () => {
  it('parses agent and service IDs', () => {
    expect(parseSpiffeId('spiffe://td/tenant/acme/agent/bot-1')).toEqual({ uri: 'spiffe://td/tenant/acme/agent/bot-1', trustDomain: 'td', tenant: 'acme', kind: 'agent', id: 'bot-1' });
    expect(parseSpiffeId('spiffe://prod.example.org/tenant/t_1/service/api.v2')).toMatchObject({ trustDomain: 'prod.example.org', tenant: 't_1', kind: 'service', id: 'api.v2' });
  });

  it.each([
    'spiffe://td/tenant/../agent/x',
    'spiffe://td/tenant/a/agent/',
    'spiffe://td/tenant/a/agent/..',
    'spiffe://td/tenant/a/agent/.',
    'spiffe://td/tenant//agent/x',
    'spiffe://td/tenant/./agent/x',
    'spiffe://td/tenant/a/agent/x/../y',
    'spiffe://td/tenant/a/agent/%2e%2e',
    'spiffe://TD/tenant/a/agent/x',
    'spiffe://Td.example/tenant/a/agent/x',
    'spiffe://td/tenant/A/agent/x',
    'spiffe://td/tenant/a/agent/X',
    'spiffe://td/tenant/a/Agent/x',
    'SPIFFE://td/tenant/a/agent/x',
    'https://td/tenant/a/agent/x',
    'spiffe:/td/tenant/a/agent/x',
    'spiffe://td/tenant/a/agent/x/extra',
    'spiffe://td/tenant/a/agent/x/',
    'spiffe://td/tenant/a/robot/x',
    'spiffe://td/tenants/a/agent/x',
    'spiffe://td/tenant/a/agent',
    'spiffe://td',
    'spiffe://td/',
    'spiffe://td//tenant/a/agent/x',
    'spiffe://td:443/tenant/a/agent/x',
    'spiffe://user@td/tenant/a/agent/x',
    'spiffe://td/tenant/a/agent/x?y=1',
    'spiffe://td/tenant/a/agent/x#frag',
    'spiffe://td./tenant/a/agent/x',
    'spiffe://-td/tenant/a/agent/x',
    'spiffe://td/tenant/a/agent/x\n',
    ' spiffe://td/tenant/a/agent/x',
    'spiffe://td/tenant/a.b/agent/x',
    `spiffe://td/tenant/a/agent/${'x'.repeat(64)}`,
    '',
  ])('rejects %j', (uri) => {
    expect(() => parseSpiffeId(uri)).toThrow(WardenError);
  });

  it('spiffeIdFromCertificate requires exactly one valid URI SAN', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as KeyPair;
    const make = async (names: { type: 'url' | 'dns'; value: string }[]): Promise<string> =>
      (
        await x509.X509CertificateGenerator.createSelfSigned(
          { name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [new x509.SubjectAlternativeNameExtension(names)] },
          crypto,
        )
      ).toString('pem');
    const two = await make([
      { type: 'url', value: `spiffe://${TD}/tenant/a/agent/x` },
      { type: 'url', value: `spiffe://${TD}/tenant/b/agent/y` },
    ]);
    expect(() => spiffeIdFromCertificate(two)).toThrow(/exactly one URI SAN/);
    const dnsOnly = await make([{ type: 'dns', value: 'a.example' }]);
    expect(() => spiffeIdFromCertificate(dnsOnly)).toThrow(/exactly one URI SAN/);
    const traversal = await make([{ type: 'url', value: `spiffe://${TD}/tenant/../agent/x` }]);
    expect(() => spiffeIdFromCertificate(traversal)).toThrow(/not a valid Warden SPIFFE ID/);
    expect(() => spiffeIdFromCertificate(ca.certPem)).toThrow(/not a valid Warden SPIFFE ID/);
  });
});

describe('warden ca (CLI)', () => {
  async function run(...args: string[]): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation(((s: string | Uint8Array) => {
      out += String(s);
      return true;
    }) as typeof process.stdout.write);
    const e = vi.spyOn(process.stderr, 'write').mockImplementation(((s: string | Uint8Array) => {
      err += String(s);
      return true;
    }) as typeof process.stderr.write);
    try {
      const program = new Command().exitOverride();
      registerCa(program);
      await program.parseAsync(['node', 'warden', ...args]);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    return { out, err };
  }

  it('ca init prints the certificate path and fingerprint, defaults the trust domain to the origin host, and is idempotent', async () => {
    const { dir: d } = newDataDir('audit.example/warden');
    const first = await run('ca', 'init', '--data', d);
    const fp = new X509Certificate(readFileSync(join(d, 'ca', 'ca.crt'))).fingerprint256;
    expect(first.out).toContain('created CA for trust domain audit.example');
    expect(first.out).toContain(join(d, 'ca', 'ca.crt'));
    expect(first.out).toContain(fp);
    const second = await run('ca', 'init', '--data', d);
    expect(second.out).toContain('already exists');
    expect(second.out).toContain(fp);
    await expect(run('ca', 'init', '--data', d, '--trust-domain', 'other.example')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(run('ca', 'init', '--data', join(d, 'nope'))).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('ca issue writes a 0600 key file, never prints the key, and never overwrites a key file', async () => {
    const { dir: d } = newDataDir();
    await run('ca', 'init', '--data', d, '--trust-domain', TD);
    await withTenantStore(d, 'acme'); // certificates only for tenants that exist
    await expect(run('ca', 'issue', '--data', d, '--tenant', 'acme', '--agent', 'bot')).rejects.toThrow(/--out-key/);
    await expect(run('ca', 'issue', '--data', d, '--tenant', 'acme', '--agent', 'a', '--service', 'b', '--out-key', join(d, 'k'))).rejects.toThrow(/exactly one/);
    await expect(run('ca', 'issue', '--data', d, '--tenant', 'acme', '--agent', 'a', '--ttl', '31d', '--out-key', join(d, 'k'))).rejects.toThrow(/--ttl/);
    const keyFile = join(d, 'bot.key');
    const certFile = join(d, 'bot.crt');
    const r = await run('ca', 'issue', '--data', d, '--tenant', 'acme', '--agent', 'bot', '--ttl', '1h', '--out-key', keyFile, '--out-cert', certFile);
    expect(r.out + r.err).not.toContain('PRIVATE KEY');
    expect(r.out).toContain(`spiffe://${TD}/tenant/acme/agent/bot`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const cert = readFileSync(certFile, 'utf8');
    expect(uris(cert)).toEqual([`spiffe://${TD}/tenant/acme/agent/bot`]);
    const node = new X509Certificate(cert);
    expect(Date.parse(node.validTo) - Date.parse(node.validFrom)).toBe(3_600_000 + 60_000);
    expect(r.out).toContain(certificateThumbprint(cert));
    expect(createPublicKey(createPrivateKey(readFileSync(keyFile))).export({ type: 'spki', format: 'der' }).equals(node.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    const keyBefore = readFileSync(keyFile);
    await expect(run('ca', 'issue', '--data', d, '--tenant', 'acme', '--agent', 'bot', '--out-key', keyFile)).rejects.toThrow(/never overwritten/);
    expect(readFileSync(keyFile).equals(keyBefore)).toBe(true);
  });

  it('ca issue --csr prints only the certificate on stdout; --out-key is refused with a CSR', async () => {
    const { dir: d } = newDataDir();
    await run('ca', 'init', '--data', d, '--trust-domain', TD);
    await withTenantStore(d, 'acme'); // certificates only for tenants that exist
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = {
      privateKey: await crypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']),
      publicKey: await crypto.subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
    };
    const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=svc', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }, crypto);
    const csrFile = join(d, 'svc.csr');
    writeFileSync(csrFile, req.toString('pem'));
    await expect(run('ca', 'issue', '--data', d, '--tenant', 'acme', '--service', 'svc', '--csr', csrFile, '--out-key', join(d, 'x.key'))).rejects.toThrow(/only for a generated key/);
    const r = await run('ca', 'issue', '--data', d, '--tenant', 'acme', '--service', 'svc', '--csr', csrFile, '--dns', 'svc.acme.internal', '--ip', '127.0.0.1');
    expect(r.out.trim()).toMatch(/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/);
    expect(r.err).toContain(`spiffe://${TD}/tenant/acme/service/svc`);
    expect(new X509Certificate(r.out).subjectAltName).toBe(`URI:spiffe://${TD}/tenant/acme/service/svc, DNS:svc.acme.internal, IP Address:127.0.0.1`);
  });
});
