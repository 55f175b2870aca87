/**
 * The deployment certificate authority for mutual TLS.
 *
 * One self-signed ECDSA P-256 root per data directory issues short-lived leaf certificates
 * whose only identity is a SPIFFE-style URI SAN:
 *
 *   spiffe://<trust-domain>/tenant/<tenant>/agent/<id>     (clientAuth)
 *   spiffe://<trust-domain>/tenant/<tenant>/service/<id>   (clientAuth + serverAuth)
 *
 * Files (never overwritten once created):
 *   <dataDir>/ca/ca.crt           the root certificate, PEM, 0644
 *   <dataDir>/ca/ca.key.sealed    its PKCS#8 private key wrapped by the MasterKeyProvider
 *                                 under the context "warden-ca/v1\n<trust-domain>", 0600
 *
 * P-256 rather than Ed25519: Node's own TLS 1.3 stack handles Ed25519 chains, but browsers,
 * many service meshes/proxies and most HSM/KMS offerings do not, and a CA key is hard to change
 * later. Certificates bind to passports with RFC 8705 `cnf.x5t#S256` (see
 * {@link certificateThumbprint}).
 */
import { X509Certificate as NodeX509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type {
  Pkcs10CertificateRequest as PeculiarCsr,
  X509Certificate as PeculiarCertificate,
} from '@peculiar/x509';
import { TENANT_NAME } from '../config/schema.js';
import type { MasterKeyProvider } from '../crypto/key-provider.js';
import { BadInputError, ConfigError, KeyError, VerificationError, WardenError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load unless a
// Reflect metadata polyfill is present. Warden uses no decorator metadata itself, so a minimal
// WeakMap-backed implementation of the calls tsyringe makes is installed (only when no polyfill
// is loaded already), and the library is imported after it.
// ---------------------------------------------------------------------------------------------
function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  const registry = new WeakMap<object, Map<PropertyKey | undefined, Map<unknown, unknown>>>();
  const table = (target: object, prop: PropertyKey | undefined, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = registry.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      registry.set(target, byProp);
    }
    let t = byProp.get(prop);
    if (!t && create) {
      t = new Map();
      byProp.set(prop, t);
    }
    return t;
  };
  const chain = function* (target: object): Generator<object> {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) yield t;
  };
  R.defineMetadata = (key: unknown, value: unknown, target: object, prop?: PropertyKey): void => {
    table(target, prop, true)?.set(key, value);
  };
  R.hasOwnMetadata = (key: unknown, target: object, prop?: PropertyKey): boolean => table(target, prop, false)?.has(key) ?? false;
  R.getOwnMetadata = (key: unknown, target: object, prop?: PropertyKey): unknown => table(target, prop, false)?.get(key);
  R.hasMetadata = (key: unknown, target: object, prop?: PropertyKey): boolean => {
    for (const t of chain(target)) if (table(t, prop, false)?.has(key)) return true;
    return false;
  };
  R.getMetadata = (key: unknown, target: object, prop?: PropertyKey): unknown => {
    for (const t of chain(target)) {
      const m = table(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
}
installReflectMetadata();
const x509 = await import('@peculiar/x509');

/** Node's WebCrypto, passed explicitly so no global provider state is relied upon. */
const crypto = webcrypto as unknown as Crypto;

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CLOCK_SKEW_MS = 60_000;
const CA_VALIDITY_YEARS = 10;
export const DEFAULT_LEAF_TTL_MS = 24 * 3_600_000;
export const MAX_LEAF_TTL_MS = 30 * 86_400_000;
const MAX_SPIFFE_ID_LENGTH = 2048;
const MAX_PEM_LENGTH = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Names and SPIFFE IDs
// ---------------------------------------------------------------------------------------------

/** Agent and service ids: 1-63 of a-z, 0-9, '_', '.', '-', starting with a letter or digit. */
export const WORKLOAD_ID = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A lower-case DNS-like name: dot-separated labels of a-z, 0-9 and inner '-'. */
const DNS_NAME = new RegExp(`^${DNS_LABEL}(?:\\.${DNS_LABEL})*$`);

export type WorkloadKind = 'agent' | 'service';

export interface SpiffeId {
  /** The URI exactly as validated, e.g. `spiffe://example.org/tenant/acme/agent/bot-1`. */
  uri: string;
  trustDomain: string;
  tenant: string;
  kind: WorkloadKind;
  id: string;
}

/** Quotes untrusted text for an error message: escaped, and cut short. */
function shown(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

export function assertTrustDomain(td: string): void {
  if (typeof td !== 'string' || td.length > 253 || !DNS_NAME.test(td)) {
    throw new BadInputError(
      `invalid trust domain ${shown(String(td))}: expected a lower-case DNS-like name such as "example.org" (labels of a-z, 0-9 and '-')`,
    );
  }
}

function assertTenant(tenant: string): void {
  if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) {
    throw new BadInputError(`invalid tenant name ${shown(String(tenant))}: expected 1-63 of a-z, 0-9, '-', '_' starting with a letter or digit`);
  }
}

function assertWorkloadId(kind: WorkloadKind, id: string): void {
  if (typeof id !== 'string' || !WORKLOAD_ID.test(id)) {
    throw new BadInputError(`invalid ${kind} id ${shown(String(id))}: expected 1-63 of a-z, 0-9, '_', '.', '-' starting with a letter or digit`);
  }
}

function assertKind(kind: string): asserts kind is WorkloadKind {
  if (kind !== 'agent' && kind !== 'service') throw new BadInputError(`invalid workload kind ${shown(String(kind))}: expected "agent" or "service"`);
}

/** Builds (and validates the parts of) a workload's SPIFFE ID. */
export function formatSpiffeId(trustDomain: string, tenant: string, kind: WorkloadKind, id: string): string {
  assertTrustDomain(trustDomain);
  assertTenant(tenant);
  assertKind(kind);
  assertWorkloadId(kind, id);
  return `spiffe://${trustDomain}/tenant/${tenant}/${kind}/${id}`;
}

/**
 * Parses `spiffe://<trust-domain>/tenant/<tenant>/(agent|service)/<id>` strictly: no
 * normalisation, so upper case, percent-encoding, `.`/`..` or empty segments, a port, user info,
 * a query, a fragment, a trailing slash or any extra segment is an error rather than a
 * different identity.
 */
export function parseSpiffeId(uri: string): SpiffeId {
  const expected = 'expected spiffe://<trust-domain>/tenant/<tenant>/agent/<id> or …/service/<id>';
  if (typeof uri !== 'string') throw new BadInputError(`SPIFFE ID must be a string; ${expected}`);
  if (uri.length > MAX_SPIFFE_ID_LENGTH) throw new BadInputError(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_LENGTH} characters`);
  const prefix = 'spiffe://';
  if (!uri.startsWith(prefix)) throw new BadInputError(`${shown(uri)} is not a spiffe:// URI; ${expected}`);
  const parts = uri.slice(prefix.length).split('/');
  const [td, tenantLabel, tenant, kind, id] = parts;
  if (td === undefined || !DNS_NAME.test(td) || td.length > 253) {
    throw new BadInputError(`${shown(uri)}: the trust domain must be a lower-case DNS-like name (no port, user info or upper case)`);
  }
  if (parts.length !== 5 || tenantLabel !== 'tenant' || (kind !== 'agent' && kind !== 'service') || tenant === undefined || id === undefined) {
    throw new BadInputError(`${shown(uri)} has an unexpected shape; ${expected}`);
  }
  if (!TENANT_NAME.test(tenant)) throw new BadInputError(`${shown(uri)}: invalid tenant segment ${shown(tenant)}`);
  if (!WORKLOAD_ID.test(id)) throw new BadInputError(`${shown(uri)}: invalid ${kind} id segment ${shown(id)}`);
  return { uri, trustDomain: td, tenant, kind, id };
}

// ---------------------------------------------------------------------------------------------
// Certificate encodings
// ---------------------------------------------------------------------------------------------

/** A certificate as PEM text, DER bytes, or anything with its DER in `raw` (node's X509Certificate, a TLS peer certificate). */
export type CertificateInput = string | Uint8Array | { raw: Uint8Array };

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----/g;

/** The one PEM block with one of `labels`; anything else (none, several, bad base64) is an error. */
function pemBody(text: string, labels: string[], what: string): Buffer {
  if (text.length > MAX_PEM_LENGTH) throw new BadInputError(`${what} is larger than ${MAX_PEM_LENGTH} bytes`);
  const blocks = [...text.matchAll(PEM_BLOCK)].filter((m) => labels.includes(m[1] as string));
  if (blocks.length !== 1) {
    throw new BadInputError(`${what}: expected exactly one PEM "${labels[0]}" block, found ${blocks.length}`);
  }
  const b64 = (blocks[0]?.[2] ?? '').replace(/\r?\n/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(b64) || b64.length === 0) {
    throw new BadInputError(`${what}: the PEM body is not valid base64`);
  }
  return Buffer.from(b64, 'base64');
}

function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/** Parses a certificate with node (OpenSSL) and returns it; its `raw` is the canonical DER. */
function nodeCertificate(input: CertificateInput): NodeX509Certificate {
  let der: Uint8Array;
  if (typeof input === 'string') der = pemBody(input, ['CERTIFICATE'], 'certificate');
  else if (input instanceof Uint8Array) der = input;
  else if (input && input.raw instanceof Uint8Array) der = input.raw;
  else throw new BadInputError('expected a certificate as PEM text or DER bytes');
  try {
    return new NodeX509Certificate(der);
  } catch (err) {
    throw new BadInputError('not a valid X.509 certificate', { cause: err });
  }
}

/** RFC 8705 `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER. */
export function certificateThumbprint(cert: CertificateInput): string {
  return createHash('sha256').update(nodeCertificate(cert).raw).digest('base64url');
}

/** The URI SANs of a certificate, from its ASN.1 (never from a display string). */
function uriSans(cert: PeculiarCertificate): string[] {
  const sans = cert.extensions.filter((e) => e.type === '2.5.29.17');
  if (sans.length === 0) return [];
  if (sans.length > 1) throw new VerificationError('certificate has more than one subjectAltName extension');
  const ext = new x509.SubjectAlternativeNameExtension(sans[0]?.rawData as ArrayBuffer);
  return ext.names.items.filter((n) => n.type === 'url').map((n) => n.value);
}

function peculiar(input: CertificateInput | PeculiarCertificate): PeculiarCertificate {
  if (input instanceof x509.X509Certificate) return input;
  const raw = nodeCertificate(input).raw;
  try {
    return new x509.X509Certificate(raw);
  } catch (err) {
    throw new BadInputError('not a valid X.509 certificate', { cause: err });
  }
}

/**
 * The workload identity a leaf certificate carries: exactly one URI SAN, a valid Warden SPIFFE
 * ID. This does not verify the certificate's chain — the TLS handshake (or the caller) must.
 */
export function spiffeIdFromCertificate(cert: CertificateInput | PeculiarCertificate): SpiffeId {
  const uris = uriSans(peculiar(cert));
  if (uris.length !== 1) throw new VerificationError(`certificate must carry exactly one URI SAN (a SPIFFE ID), found ${uris.length}`);
  try {
    return parseSpiffeId(uris[0] as string);
  } catch (err) {
    throw new VerificationError(`certificate's URI SAN is not a valid Warden SPIFFE ID: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The CA on disk
// ---------------------------------------------------------------------------------------------

export interface CaPaths {
  dir: string;
  cert: string;
  sealedKey: string;
}

export function caPaths(dataDir: string): CaPaths {
  const dir = join(resolve(dataDir), 'ca');
  return { dir, cert: join(dir, 'ca.crt'), sealedKey: join(dir, 'ca.key.sealed') };
}

/** The master-key wrapping context: binds the sealed key to this purpose and trust domain. */
export function caKeyContext(trustDomain: string): string {
  return `warden-ca/v1\n${trustDomain}`;
}

export interface CaInfo {
  trustDomain: string;
  certPem: string;
  certPath: string;
  sealedKeyPath: string;
  /** SHA-256 fingerprint as colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
  fingerprint256: string;
  /** Base64url SHA-256 of the DER (RFC 8705 `x5t#S256`). */
  fingerprintS256: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

export interface InitCaResult extends CaInfo {
  /** False when the CA already existed and was left untouched. */
  created: boolean;
}

function assertDataDir(dataDir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dataDir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new ConfigError(`no Warden data directory at ${dataDir} (run \`warden init --data ${dataDir}\`)`);
}

/** Reads and checks the CA certificate (no key access): it must be a CA for exactly one trust domain. */
function readCaCertificateAt(paths: CaPaths): { info: CaInfo; cert: PeculiarCertificate } {
  if (!existsSync(paths.cert)) {
    if (existsSync(paths.sealedKey)) {
      throw new KeyError(`incomplete CA in ${paths.dir}: ${paths.sealedKey} exists but ${paths.cert} is missing; restore it from a backup`);
    }
    throw new WardenError('NOT_FOUND', `no CA in ${paths.dir} (run \`warden ca init\`)`);
  }
  const pem = readFileSync(paths.cert, 'utf8');
  let cert: PeculiarCertificate;
  let node: NodeX509Certificate;
  try {
    node = nodeCertificate(pem);
    cert = new x509.X509Certificate(node.raw);
  } catch (err) {
    throw new KeyError(`${paths.cert} is not a readable certificate: ${(err as Error).message}`, { cause: err });
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new KeyError(`${paths.cert} is not a CA certificate (basicConstraints CA:true is missing)`);
  let uris: string[];
  try {
    uris = uriSans(cert);
  } catch (err) {
    throw new KeyError(`${paths.cert}: ${(err as Error).message}`);
  }
  const m = uris.length === 1 ? /^spiffe:\/\/([^/]+)$/.exec(uris[0] as string) : null;
  const trustDomain = m?.[1];
  if (trustDomain === undefined || trustDomain.length > 253 || !DNS_NAME.test(trustDomain)) {
    throw new KeyError(`${paths.cert} does not name its trust domain (expected one URI SAN spiffe://<trust-domain>)`);
  }
  return {
    cert,
    info: {
      trustDomain,
      certPem: toPem(node.raw, 'CERTIFICATE'),
      certPath: paths.cert,
      sealedKeyPath: paths.sealedKey,
      fingerprint256: node.fingerprint256,
      fingerprintS256: createHash('sha256').update(node.raw).digest('base64url'),
      serialNumber: cert.serialNumber,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    },
  };
}

/** The CA certificate and its metadata, without touching the private key (e.g. for `--client-ca`). */
export function readCaCertificate(dataDir: string): CaInfo {
  return readCaCertificateAt(caPaths(dataDir)).info;
}

interface LoadedCa {
  info: CaInfo;
  cert: PeculiarCertificate;
  signingKey: CryptoKey;
}

/** Unseals the CA key, checks it belongs to the certificate and imports it (non-extractable). */
async function loadCa(dataDir: string, provider: MasterKeyProvider): Promise<LoadedCa> {
  const paths = caPaths(dataDir);
  const { info, cert } = readCaCertificateAt(paths);
  let sealed: Buffer;
  try {
    sealed = readFileSync(paths.sealedKey);
  } catch (err) {
    throw new KeyError(`cannot read the CA key ${paths.sealedKey}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let pkcs8: Buffer;
  try {
    pkcs8 = await provider.unwrap(sealed, caKeyContext(info.trustDomain));
  } catch (err) {
    throw new KeyError(`cannot unseal the CA key ${paths.sealedKey} with ${provider.description}: wrong master key, or the file was altered`, {
      cause: err,
    });
  }
  try {
    const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
    if (!spki.equals(Buffer.from(cert.publicKey.rawData))) {
      throw new KeyError(`the CA key in ${paths.sealedKey} does not belong to ${paths.cert}`);
    }
    const copy = new Uint8Array(pkcs8.length);
    copy.set(pkcs8);
    try {
      const signingKey = await crypto.subtle.importKey('pkcs8', copy, ECDSA_P256, false, ['sign']);
      return { info, cert, signingKey };
    } finally {
      copy.fill(0);
    }
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new KeyError(`the CA key in ${paths.sealedKey} is not a usable ECDSA P-256 key`, { cause: err });
  } finally {
    pkcs8.fill(0);
  }
}

export interface InitCaOptions {
  dataDir: string;
  provider: MasterKeyProvider;
  /** Required to create a CA; when the CA exists it must match (or be omitted). */
  trustDomain?: string;
  now?: Date;
}

/**
 * Creates the deployment CA, or returns the existing one untouched (idempotent; a CA is never
 * overwritten). Creation is atomic: both files are written into a private temporary directory
 * that is renamed to `<dataDir>/ca`, so a crash or a concurrent `init` never leaves half a CA.
 * An existing CA is opened with `provider` to prove the master key still unseals it.
 */
export async function initCa(options: InitCaOptions): Promise<InitCaResult> {
  const { dataDir, provider } = options;
  if (options.trustDomain !== undefined) assertTrustDomain(options.trustDomain);
  assertDataDir(dataDir);
  const paths = caPaths(dataDir);

  const existing = async (): Promise<InitCaResult> => {
    const { info } = await loadCa(dataDir, provider);
    if (options.trustDomain !== undefined && options.trustDomain !== info.trustDomain) {
      throw new WardenError(
        'CONFLICT',
        `a CA for trust domain "${info.trustDomain}" already exists in ${paths.dir}; it is never overwritten (requested "${options.trustDomain}")`,
      );
    }
    return { ...info, created: false };
  };
  if (existsSync(paths.cert) || existsSync(paths.sealedKey)) return existing();

  const trustDomain = options.trustDomain;
  if (trustDomain === undefined) throw new BadInputError('a trust domain is required to create the CA (e.g. --trust-domain example.org)');
  const now = options.now ?? new Date();
  const notAfter = new Date(now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);

  const keys = (await crypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as { privateKey: CryptoKey; publicKey: CryptoKey };
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  let sealed: Buffer;
  try {
    sealed = await provider.wrap(pkcs8, caKeyContext(trustDomain));
  } finally {
    pkcs8.fill(0);
  }
  const subject = trustDomain.length <= 64
    ? `CN=Warden CA ${randomBytes(4).toString('hex')}, O=${trustDomain}`
    : `CN=Warden CA ${randomBytes(4).toString('hex')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(16).toString('hex'),
      name: subject,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }], false),
      ],
    },
    crypto,
  );

  const tmp = mkdtempSync(join(resolve(dataDir), '.ca-init-'));
  try {
    const tmpKey = join(tmp, 'ca.key.sealed');
    const tmpCert = join(tmp, 'ca.crt');
    writeFileSync(tmpKey, sealed, { mode: 0o600, flag: 'wx' });
    chmodSync(tmpKey, 0o600);
    writeFileSync(tmpCert, cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
    chmodSync(tmpCert, 0o644);
    chmodSync(tmp, 0o755);
    try {
      renameSync(tmp, paths.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process created the CA first: keep theirs.
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return existing();
      throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { ...readCaCertificateAt(paths).info, created: true };
}

// ---------------------------------------------------------------------------------------------
// Issuing leaf certificates
// ---------------------------------------------------------------------------------------------

export interface IssueCertificateOptions {
  dataDir: string;
  provider: MasterKeyProvider;
  kind: WorkloadKind;
  tenant: string;
  id: string;
  /** Lifetime from now; default 24h, at most 30 days. */
  ttlMs?: number;
  /**
   * A PKCS#10 request: only its public key is used (after its signature is verified); its
   * subject and requested extensions are ignored. Without it a P-256 key pair is generated.
   */
  csrPem?: string;
  /** Services only: extra DNS names for use as a TLS server certificate. */
  dnsNames?: string[];
  /** Services only: extra IP addresses for use as a TLS server certificate. */
  ipAddresses?: string[];
  now?: Date;
}

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM of the generated key; absent when a CSR supplied the public key. */
  keyPem?: string;
  spiffeId: string;
  /** RFC 8705 `x5t#S256` of the certificate (base64url SHA-256 of its DER). */
  fingerprintS256: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** The issuing CA certificate (the trust anchor peers need). */
  caCertPem: string;
}

/** Verifies a CSR's self-signature and returns its SubjectPublicKeyInfo (DER). */
async function publicKeyFromCsr(csrPem: string): Promise<ArrayBuffer> {
  if (typeof csrPem !== 'string') throw new BadInputError('CSR must be PEM text');
  const der = pemBody(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'], 'CSR');
  let csr: PeculiarCsr;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (err) {
    throw new BadInputError('CSR is not a valid PKCS#10 certificate request', { cause: err });
  }
  const spki = csr.publicKey.rawData;
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new BadInputError('CSR carries an unreadable public key', { cause: err });
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const supported =
    (type === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1')) ||
    type === 'ed25519' ||
    (type === 'rsa' && (details.modulusLength ?? 0) >= 2048);
  if (!supported) {
    const what = type === 'ec' ? `EC ${details.namedCurve ?? '?'}` : type === 'rsa' ? `RSA-${details.modulusLength ?? '?'}` : String(type);
    throw new BadInputError(`CSR key type ${what} is not accepted: use ECDSA P-256/P-384, Ed25519 or RSA of at least 2048 bits`);
  }
  let ok: boolean;
  try {
    ok = await csr.verify(crypto);
  } catch (err) {
    throw new BadInputError('CSR signature cannot be verified (unsupported or malformed signature)', { cause: err });
  }
  if (!ok) throw new BadInputError('CSR signature does not verify: the request was not signed by the key it carries');
  return spki;
}

function checkSans(kind: WorkloadKind, dnsNames: string[], ipAddresses: string[]): void {
  if (kind !== 'service' && (dnsNames.length || ipAddresses.length)) {
    throw new BadInputError('DNS names and IP addresses are only for service certificates');
  }
  for (const d of dnsNames) {
    if (typeof d !== 'string' || d.length > 253 || !DNS_NAME.test(d)) throw new BadInputError(`invalid DNS name ${shown(String(d))}: expected a lower-case host name`);
  }
  for (const ip of ipAddresses) {
    if (typeof ip !== 'string' || isIP(ip) === 0) throw new BadInputError(`invalid IP address ${shown(String(ip))}`);
  }
}

/** Issues a leaf certificate for an agent or a service of a tenant, signed by the deployment CA. */
export async function issueCertificate(options: IssueCertificateOptions): Promise<IssuedCertificate> {
  const { dataDir, provider, kind, tenant, id } = options;
  assertKind(kind);
  assertTenant(tenant);
  assertWorkloadId(kind, id);
  const ttlMs = options.ttlMs ?? DEFAULT_LEAF_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < 1000 || ttlMs > MAX_LEAF_TTL_MS) {
    throw new BadInputError(`invalid certificate lifetime ${String(ttlMs)} ms: expected between 1s and 30d`);
  }
  const dnsNames = options.dnsNames ?? [];
  const ipAddresses = options.ipAddresses ?? [];
  checkSans(kind, dnsNames, ipAddresses);
  // Input errors first, so a bad CSR is reported without touching the CA key.
  const csrSpki = options.csrPem !== undefined ? await publicKeyFromCsr(options.csrPem) : undefined;

  assertDataDir(dataDir);
  const ca = await loadCa(dataDir, provider);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const notAfter = new Date(now.getTime() + ttlMs);
  if (now < ca.info.notBefore || now > ca.info.notAfter) {
    throw new KeyError(`the CA certificate is not valid now (valid ${ca.info.notBefore.toISOString()} to ${ca.info.notAfter.toISOString()})`);
  }
  if (notAfter > ca.info.notAfter) {
    throw new KeyError(`the certificate would outlive the CA (which expires ${ca.info.notAfter.toISOString()}); renew the CA or ask for a shorter lifetime`);
  }
  const spiffeId = formatSpiffeId(ca.info.trustDomain, tenant, kind, id);

  let spki: ArrayBuffer | Uint8Array;
  let keyPem: string | undefined;
  if (csrSpki) {
    spki = csrSpki;
  } else {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    keyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  const caSki = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const eku = kind === 'service' ? [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    new x509.SubjectAlternativeNameExtension(
      [
        { type: 'url', value: spiffeId },
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
    ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false)] : []),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      // 128 random bits; the library keeps the DER INTEGER positive.
      serialNumber: randomBytes(16).toString('hex'),
      subject: `CN=${id}, O=${tenant}`,
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: ca.signingKey,
      signingAlgorithm: SIGNING_ALG,
      extensions,
    },
    crypto,
  );
  const der = Buffer.from(cert.rawData);
  return {
    certPem: toPem(der, 'CERTIFICATE'),
    ...(keyPem !== undefined ? { keyPem } : {}),
    spiffeId,
    fingerprintS256: createHash('sha256').update(der).digest('base64url'),
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    caCertPem: ca.info.certPem,
  };
}
