/**
 * Agent passports: short-lived EdDSA JWTs signed by the tenant's active `passport` key
 * (ARCHITECTURE.md: never HMAC — verifiers need only the public JWKS).
 *
 * Verification is strict and fails closed: size limit before parsing, `EdDSA` only, the key
 * picked by `kid` among the tenant's passport keys that may still verify (active or retiring;
 * unknown, retired and revoked kids are refused), the token's `tenant` must be the key's
 * tenant, issuer, audience, exp/nbf/iat within the configured skew, the jti not revoked, the
 * agent present and active, and the passport issued after the agent's last wholesale
 * revocation (`passports_not_before`).
 *
 * Verified tokens are cached (key: SHA-256 of the token; bounded, least recently used evicted).
 * A cache hit still re-checks expiry, the jti revocation set, the agent's state and the key's
 * state against in-memory state. That state is updated at once by this process's own
 * revocations and agent changes (and key changes, via the keyring), and other processes'
 * changes are picked up by reloading it at most `refreshMs` (default 1 s) after it was last
 * loaded. A cache miss always reads revocation and agent state from the store.
 */
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { TENANT_NAME } from '../config/schema.js';
import type { Keyring, TenantKeys } from '../crypto/keyring.js';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import type { KeyLifecycle } from '../ledger/keys.js';
import type { Ledger } from '../ledger/ledger.js';
import type { AgentRecord, KeyRecord, Store } from '../store/types.js';
import { AuthAudit } from './audit.js';
import { coveredBy, intersectScope } from './scope.js';
import { jcs } from '../crypto/jcs.js';
import { ed25519Verify, isStrongEd25519PublicKey, publicKeyFromRaw } from '../crypto/ed25519.js';
import { SecurityEvents } from '../events/security-events.js';
import { AGENT_ID, assertAgentId, checkTokens, type AgentRegistry, type ChangeContext } from './agents.js';

/** Tokens larger than this are refused before any parsing. */
export const MAX_PASSPORT_BYTES = 8 * 1024;

export interface PassportOptions {
  issuer: string;
  audience: string;
  /** Default lifetime (ms). */
  ttlMs: number;
  /** Longest lifetime allowed at issuance (ms). */
  maxTtlMs: number;
  /** Tolerated clock skew (ms). */
  clockSkewMs: number;
  /** Verified-token cache entries (default 10 000). */
  cacheSize?: number;
  /** How stale the in-memory revocation/agent/key view may get (default 1000 ms). */
  refreshMs?: number;
}

export interface PassportClaims {
  iss: string;
  aud: string;
  sub: string;
  tenant: string;
  roles: string[];
  capabilities: string[];
  scope: string[];
  tier: string;
  jti: string;
  /** Seconds since the epoch, millisecond precision (RFC 7519 NumericDate allows fractions). */
  iat: number;
  nbf: number;
  exp: number;
  /** Delegation (RFC 8693 §4.1 shape): for whom this agent acts, nearest delegator outermost. */
  act?: ActLink;
  /** RFC 8705 certificate binding: SHA-256 thumbprint (base64url) of the client certificate. */
  cnf?: { 'x5t#S256': string };
}

/**
 * One link of a delegation chain. Warden's profile of RFC 8693's `act`: a passport's `sub` is
 * always the agent that holds it, so the chain names the parties it acts FOR — `sub` is the
 * delegator, a nested `act` whoever delegated to that delegator in turn.
 */
export interface ActLink {
  sub: string;
  typ: 'human' | 'agent' | 'service';
  /** For an agent delegator: the jti of the passport it delegated with (revoking it revokes this). */
  jti?: string;
  act?: ActLink;
}

/** Who delegates in a token exchange, and what they may hand on. */
export interface Delegator {
  typ: ActLink['typ'];
  id: string;
  /** Scope tokens the delegator holds (`*`: anything the agent may do). */
  grants: readonly string[] | '*';
  /** The delegator's own delegation chain (when it is itself a delegated agent). */
  act?: ActLink;
  /** The jti of the delegator's passport (agent delegators). */
  jti?: string;
  /** Seconds since the epoch after which the delegator's own authority ends. */
  notAfter?: number;
}

export interface IssueOptions extends ChangeContext {
  ttlMs?: number;
  scope?: readonly string[];
  act?: ActLink;
  /** Binds the passport to this client certificate (RFC 8705). */
  certThumbprint?: string;
  /** Upper bound for `exp` (seconds since the epoch). */
  notAfter?: number;
  /** Receipt action (default `passport.issue`). */
  action?: 'passport.issue' | 'passport.delegate' | 'passport.renew';
  correlationId?: string;
}

/** The longest delegation chain accepted (links above the agent). */
export const MAX_DELEGATION_DEPTH = 4;
/** How long an agent's proof-of-possession challenge may be answered. */
export const CHALLENGE_TTL_MS = 60_000;
const MAX_CHALLENGES = 10_000;
/** Domain separation of agent signatures: a renewal proof can never pass for an artifact or a receipt. */
export const RENEWAL_CONTEXT = 'warden-passport-renewal/v1';
export const ARTIFACT_CONTEXT = 'warden-agent-artifact/v1';

/** The message an agent signs to renew its passport. */
export function renewalMessage(tenant: string, agent: string, challenge: string): Buffer {
  return Buffer.from(`${RENEWAL_CONTEXT}\n${tenant}\n${agent}\n${challenge}`, 'utf8');
}

/** The message an agent signs over an artifact (a task, a result): context line + JCS of it. */
export function artifactMessage(artifact: unknown): Buffer {
  return Buffer.from(`${ARTIFACT_CONTEXT}\n${jcs(artifact as never)}`, 'utf8');
}

/** The actor chain `{human, agent, service}` of a verified passport. */
export function actorChainOf(claims: Pick<PassportClaims, 'sub' | 'act'>): { human: string | null; agent: string; service: string | null } {
  let human: string | null = null;
  let service: string | null = null;
  for (let l = claims.act; l; l = l.act) {
    if (l.typ === 'human' && human === null) human = l.sub;
    if (l.typ === 'service' && service === null) service = l.sub;
  }
  return { human, agent: claims.sub, service };
}

function parseAct(v: unknown, depth = 1): ActLink {
  if (depth > MAX_DELEGATION_DEPTH || typeof v !== 'object' || v === null || Array.isArray(v)) throw new AuthError('passport claims invalid');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (typeof o.sub !== 'string' || o.sub.length === 0 || o.sub.length > 256 || !['human', 'agent', 'service'].includes(o.typ as string) ||
    (o.jti !== undefined && (typeof o.jti !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(o.jti))) ||
    keys.some((k) => k !== 'sub' && k !== 'typ' && k !== 'act' && k !== 'jti')) {
    throw new AuthError('passport claims invalid');
  }
  return {
    sub: o.sub, typ: o.typ as ActLink['typ'],
    ...(o.jti !== undefined ? { jti: o.jti as string } : {}),
    ...(o.act !== undefined ? { act: parseAct(o.act, depth + 1) } : {}),
  };
}

function chainDepth(l: ActLink | undefined): number {
  let n = 0;
  for (; l; l = l.act) n++;
  return n;
}

export interface IssuedPassport {
  token: string;
  jti: string;
  kid: string;
  /** RFC 3339 expiry. */
  expires_at: string;
  claims: PassportClaims;
}

export interface VerifiedPassport {
  tenant: string;
  kid: string;
  claims: PassportClaims;
}

interface CacheEntry {
  passport: VerifiedPassport;
}

interface TenantView {
  loadedAt: number;
  /** The keyring snapshot the key view came from; a different one means keys changed. */
  keysFrom: TenantKeys | undefined;
  keys: Map<string, KeyRecord>;
  revoked: Set<string>;
  agents: Map<string, AgentRecord>;
  /** Revocations are reloaded incrementally from here (with an overlap). */
  revokedSince: string | undefined;
  fullReloadAt: number;
}

const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'tenant', 'roles', 'capabilities', 'scope', 'tier', 'jti', 'iat', 'nbf', 'exp'];
/** Revocations committed up to this long after their timestamp are still seen by incremental reloads. */
const REVOCATION_OVERLAP_MS = 60_000;
const FULL_RELOAD_MS = 60_000;

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('base64url');
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** The public JWK of an Ed25519 passport key. */
export function passportJwk(k: KeyRecord): JWK & { kid: string } {
  return { kty: 'OKP', crv: 'Ed25519', x: k.public_key.toString('base64url'), kid: k.kid, use: 'sig', alg: 'EdDSA' };
}

function publicKeyObject(k: KeyRecord): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.public_key.toString('base64url') }, format: 'jwk' });
}

/** Claims read WITHOUT verification, only to pick the tenant a deny receipt belongs to. */
export function unverifiedIdentity(token: string): { tenant: string; sub: string } | undefined {
  if (typeof token !== 'string' || Buffer.byteLength(token) > MAX_PASSPORT_BYTES) return undefined;
  try {
    const c = decodeJwt(token);
    if (typeof c.tenant === 'string' && TENANT_NAME.test(c.tenant) && typeof c.sub === 'string' && AGENT_ID.test(c.sub)) {
      return { tenant: c.tenant, sub: c.sub };
    }
  } catch {
    // not a JWT at all
  }
  return undefined;
}

/** Maps jose's errors to stable, non-leaking reasons. */
function joseReason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'passport expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss': return 'issuer not accepted';
      case 'aud': return 'audience not accepted';
      case 'nbf': return 'passport not yet valid';
      case 'iat': return 'passport issued in the future';
      default: return 'passport claims invalid';
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature invalid';
  return 'malformed passport';
}

export class PassportService {
  readonly #cache = new Map<string, CacheEntry>();
  /** Outstanding proof-of-possession challenges: `tenant/agent/challenge` → expiry (ms). */
  readonly #challenges = new Map<string, number>();
  readonly #views = new Map<string, TenantView>();
  readonly #loading = new Map<string, Promise<TenantView>>();
  readonly #cacheSize: number;
  readonly #refreshMs: number;
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly keys: KeyLifecycle,
    private readonly ledger: Ledger,
    private readonly agents: AgentRegistry,
    private readonly options: PassportOptions,
    private readonly audit: AuthAudit = new AuthAudit(store, ledger, new SecurityEvents()),
  ) {
    this.#cacheSize = Math.max(1, options.cacheSize ?? 10_000);
    this.#refreshMs = options.refreshMs ?? 1000;
    // This process's own agent changes take effect on cached passports at once.
    agents.onChange((a) => this.#views.get(a.tenant)?.agents.set(a.id, a));
  }

  // ---------------------------------------------------------------- issuance

  /** Issues a passport for an active agent; the issuance is receipted (never the token). */
  async issue(tenant: string, agentId: string, opts: IssueOptions = {}): Promise<IssuedPassport> {
    assertAgentId(agentId);
    const ttlMs = opts.ttlMs ?? this.options.ttlMs;
    if (!Number.isInteger(ttlMs) || ttlMs < 1000) throw new BadInputError('passport ttl must be at least 1s');
    if (ttlMs > this.options.maxTtlMs) throw new BadInputError(`passport ttl exceeds the configured maximum (identity.passport_max_ttl = ${this.options.maxTtlMs} ms)`);
    const scope = checkTokens('scope', opts.scope ?? []);
    if (opts.certThumbprint !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(opts.certThumbprint)) throw new BadInputError('certificate thumbprint must be a base64url SHA-256 (43 characters)');
    const agent = await this.agents.get(tenant, agentId);
    if (agent.state !== 'active') throw new WardenError('FORBIDDEN', `agent "${agentId}" is ${agent.state}; passports are only issued to active agents`);
    // A passport never carries more than its agent may do.
    const beyond = scope.filter((s) => !coveredBy(agent.capabilities, s));
    if (beyond.length) throw new WardenError('FORBIDDEN', `scope ${beyond.join(', ')} exceeds the capabilities of agent "${agentId}"`);

    let keys = await this.keyring.load(tenant);
    if (!keys.records.some((r) => r.purpose === 'passport' && r.state === 'active')) {
      // A tenant created before passport keys existed gets one on first use.
      await this.keys.ensureKeys(tenant, ['passport']);
      keys = await this.keyring.load(tenant, { refresh: true });
    }
    const signer = keys.active('passport');
    const nowMs = Date.now();
    const expS = Math.min(Math.floor((nowMs + ttlMs) / 1000), opts.notAfter ?? Number.MAX_SAFE_INTEGER);
    if (expS <= Math.floor(nowMs / 1000)) throw new WardenError('FORBIDDEN', "the delegator's own credential has expired");
    const claims: PassportClaims = {
      iss: this.options.issuer,
      aud: this.options.audience,
      sub: agent.id,
      tenant,
      roles: agent.roles,
      capabilities: agent.capabilities,
      scope,
      tier: agent.tier,
      jti: randomBytes(18).toString('base64url'),
      iat: nowMs / 1000,
      nbf: Math.floor(nowMs / 1000),
      exp: expS,
      ...(opts.act ? { act: opts.act } : {}),
      ...(opts.certThumbprint ? { cnf: { 'x5t#S256': opts.certThumbprint } } : {}),
    };
    const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: signer.kid }).sign(signer.privateKey);
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    await this.ledger.append(
      tenant,
      [{
        kind: 'agent',
        action: opts.action ?? 'passport.issue',
        resource: `agent:${agent.id}`,
        decision: null,
        reasons: opts.reason ? [opts.reason] : [],
        actor: opts.actor ?? {},
        ...(opts.correlationId ? { correlation_id: opts.correlationId } : {}),
        payload: {
          jti: claims.jti, kid: signer.kid, exp: expiresAt, scope,
          ...(claims.act ? { act: claims.act as never } : {}),
          ...(claims.cnf ? { cnf: claims.cnf } : {}),
        },
      }],
      { system: true },
    );
    return { token, jti: claims.jti, kid: signer.kid, expires_at: expiresAt, claims };
  }

  // ---------------------------------------------------------------- revocation

  /** Revokes one passport by jti (idempotent). `expiresAt` defaults to now + max ttl. */
  async revoke(tenant: string, jti: string, opts: { expiresAt?: string } & ChangeContext = {}): Promise<void> {
    if (typeof jti !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(jti)) throw new BadInputError('invalid passport id (jti)');
    const now = new Date().toISOString();
    // A passport cannot outlive max ttl (+ skew) from now: the entry is useless after that.
    const expiresAt = opts.expiresAt ?? new Date(Date.now() + this.options.maxTtlMs + this.options.clockSkewMs).toISOString();
    await this.ledger.append(
      tenant,
      [{
        kind: 'agent',
        action: 'passport.revoke',
        resource: `passport:${jti}`,
        decision: null,
        reasons: opts.reason ? [opts.reason] : [],
        actor: opts.actor ?? {},
        payload: { jti },
      }],
      { mutations: [{ op: 'revokePassport', tenant, jti, expires_at: expiresAt, revoked_at: now }], system: true },
    );
    this.#views.get(tenant)?.revoked.add(jti);
  }

  /** Revokes every passport the agent holds now; later issuances are valid again. */
  async revokeAgent(tenant: string, agentId: string, ctx: ChangeContext = {}): Promise<AgentRecord> {
    const { agent } = await this.agents.revokePassports(tenant, agentId, ctx);
    return agent;
  }

  // ---------------------------------------------------------------- verification

  /**
   * Verifies a passport; throws AuthError (401/403) with a stable reason. `certThumbprint` is
   * the SHA-256 thumbprint of the TLS client certificate the request came with, if any: a
   * certificate-bound passport (cnf.x5t#S256) is refused without exactly that certificate.
   */
  async verify(token: string, context: { certThumbprint?: string | undefined } = {}): Promise<VerifiedPassport> {
    const p = await this.#verifyCached(token);
    const bound = p.claims.cnf?.['x5t#S256'];
    if (bound !== undefined) {
      if (context.certThumbprint === undefined) throw new AuthError('certificate-bound passport presented without its certificate');
      if (context.certThumbprint !== bound) throw new AuthError('certificate-bound passport presented with another certificate');
    }
    return p;
  }

  async #verifyCached(token: string): Promise<VerifiedPassport> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('missing passport');
    if (Buffer.byteLength(token) > MAX_PASSPORT_BYTES) throw new AuthError('passport too large');
    const cacheKey = sha256(token);
    const hit = this.#cache.get(cacheKey);
    if (hit) {
      try {
        await this.#recheck(hit.passport);
      } catch (err) {
        this.#cache.delete(cacheKey);
        throw err;
      }
      // Least recently used goes first: move this entry to the end.
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, hit);
      this.stats.hits++;
      return hit.passport;
    }
    this.stats.misses++;
    const passport = await this.verifyUncached(token);
    this.#cache.set(cacheKey, { passport });
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return passport;
  }

  /**
   * Like {@link verify} and records the failure: a failed authentication whose (unverified)
   * claims name an existing tenant and an agent id is receipted in that tenant as an `auth`
   * deny. Claims are decoded without trust only to pick the tenant.
   */
  async authenticate(token: string, context: { correlationId?: string; certThumbprint?: string | undefined } = {}): Promise<VerifiedPassport> {
    try {
      return await this.verify(token, context);
    } catch (err) {
      if (err instanceof AuthError) await this.recordFailure(token, err.reason, context.correlationId);
      throw err;
    }
  }

  /** Writes the `auth` deny receipt for a failure whose identity is parseable; never throws. */
  async recordFailure(token: string, reason: string, correlationId?: string): Promise<boolean> {
    const who = unverifiedIdentity(token);
    if (!who) return false;
    return this.audit.deny({
      tenant: who.tenant,
      actor: { agent: who.sub },
      action: 'passport.verify',
      resource: `agent:${who.sub}`,
      reason,
      payload: { claimed_agent: who.sub, verified: false },
      correlationId,
      unverified: true,
    });
  }

  /** Full verification without the cache (the cache calls this on a miss). */
  async verifyUncached(token: string): Promise<VerifiedPassport> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('missing passport');
    if (Buffer.byteLength(token) > MAX_PASSPORT_BYTES) throw new AuthError('passport too large');
    let header;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new AuthError('malformed passport');
    }
    if (header.alg !== 'EdDSA') throw new AuthError('algorithm not allowed');
    if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 64) throw new AuthError('passport has no usable key id');
    const tenant = unverified.tenant;
    if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) throw new AuthError('malformed passport');
    const view = await this.#view(tenant);
    if (!view) throw new AuthError('unknown signing key');
    const key = view.keys.get(header.kid);
    if (!key || key.purpose !== 'passport') throw new AuthError('unknown signing key');
    this.#checkKey(key);
    if (key.tenant !== tenant) throw new AuthError('signing key does not belong to the passport tenant');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, publicKeyObject(key), {
        algorithms: ['EdDSA'],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: Math.floor(this.options.clockSkewMs / 1000),
        maxTokenAge: Math.ceil((this.options.maxTtlMs + this.options.clockSkewMs) / 1000),
        requiredClaims: REQUIRED_CLAIMS,
        typ: 'JWT',
      }));
    } catch (err) {
      throw new AuthError(joseReason(err));
    }
    const claims = this.#claims(payload);
    if (claims.tenant !== key.tenant) throw new AuthError('signing key does not belong to the passport tenant');
    // Authoritative reads on a miss; the in-memory view serves cache hits.
    if (await this.store.isPassportRevoked(tenant, claims.jti)) {
      view.revoked.add(claims.jti);
      throw new AuthError('passport revoked');
    }
    const agent = await this.store.getAgent(tenant, claims.sub);
    if (agent) view.agents.set(agent.id, agent);
    else view.agents.delete(claims.sub);
    const passport: VerifiedPassport = { tenant, kid: key.kid, claims };
    this.#checkAgent(agent, passport);
    // Every agent the passport acts for must still be live, and its delegating passport unrevoked.
    for (let l = claims.act; l; l = l.act) {
      if (l.typ !== 'agent') continue;
      const delegator = await this.store.getAgent(tenant, l.sub);
      if (delegator) view.agents.set(delegator.id, delegator);
      if (l.jti !== undefined && (await this.store.isPassportRevoked(tenant, l.jti))) {
        view.revoked.add(l.jti);
        throw new AuthError('delegating passport revoked');
      }
      this.#checkDelegator(delegator, passport);
    }
    return passport;
  }

  /** The re-checks of a cache hit: expiry, revocation, agent and key, from memory. */
  async #recheck(p: VerifiedPassport): Promise<void> {
    const nowS = Date.now() / 1000;
    const skewS = Math.floor(this.options.clockSkewMs / 1000);
    if (nowS - skewS >= p.claims.exp) throw new AuthError('passport expired');
    const view = await this.#view(p.tenant);
    if (!view) throw new AuthError('unknown signing key');
    const key = view.keys.get(p.kid);
    if (!key) throw new AuthError('unknown signing key');
    this.#checkKey(key);
    if (view.revoked.has(p.claims.jti)) throw new AuthError('passport revoked');
    this.#checkAgent(view.agents.get(p.claims.sub), p);
    for (let l = p.claims.act; l; l = l.act) {
      if (l.typ !== 'agent') continue;
      if (l.jti !== undefined && view.revoked.has(l.jti)) throw new AuthError('delegating passport revoked');
      this.#checkDelegator(view.agents.get(l.sub), p);
    }
  }

  /** A delegating agent that is gone, not active, or wholly revoked since takes the delegation with it. */
  #checkDelegator(agent: AgentRecord | undefined, p: VerifiedPassport): void {
    if (!agent || agent.state !== 'active') throw new AuthError('delegating agent no longer active', { forbidden: true });
    // The delegating passport predates this one; a wholesale revocation after this one's issue covers it.
    if (agent.passports_not_before !== null && Math.round(p.claims.iat * 1000) < Date.parse(agent.passports_not_before)) {
      throw new AuthError('delegating passport revoked');
    }
  }

  #checkKey(key: KeyRecord): void {
    if (key.state === 'revoked') throw new AuthError('signing key revoked');
    if (key.state !== 'active' && key.state !== 'retiring') throw new AuthError('signing key no longer valid');
  }

  #checkAgent(agent: AgentRecord | undefined, p: VerifiedPassport): void {
    if (!agent || agent.state === 'deleted') throw new AuthError('agent unknown or deleted');
    if (agent.state !== 'active') throw new AuthError(`agent is ${agent.state}`, { forbidden: true });
    if (agent.passports_not_before !== null && Math.round(p.claims.iat * 1000) < Date.parse(agent.passports_not_before)) {
      throw new AuthError('passport revoked');
    }
  }

  #claims(payload: JWTPayload): PassportClaims {
    const p = payload as Record<string, unknown>;
    const ok =
      typeof p.iss === 'string' && typeof p.aud === 'string' && typeof p.sub === 'string' && AGENT_ID.test(p.sub) &&
      typeof p.tenant === 'string' && isStringList(p.roles) && isStringList(p.capabilities) && isStringList(p.scope) &&
      typeof p.tier === 'string' && typeof p.jti === 'string' && p.jti.length > 0 && p.jti.length <= 128 &&
      typeof p.iat === 'number' && typeof p.nbf === 'number' && typeof p.exp === 'number';
    if (!ok) throw new AuthError('passport claims invalid');
    let cnf: PassportClaims['cnf'];
    if (p.cnf !== undefined) {
      const c = p.cnf as Record<string, unknown> | null;
      if (typeof c !== 'object' || c === null || typeof c['x5t#S256'] !== 'string' || Object.keys(c).length !== 1) throw new AuthError('passport claims invalid');
      cnf = { 'x5t#S256': c['x5t#S256'] };
    }
    return {
      iss: p.iss as string, aud: p.aud as string, sub: p.sub as string, tenant: p.tenant as string,
      roles: p.roles as string[], capabilities: p.capabilities as string[], scope: p.scope as string[], tier: p.tier as string,
      jti: p.jti as string, iat: p.iat as number, nbf: p.nbf as number, exp: p.exp as number,
      ...(p.act !== undefined ? { act: parseAct(p.act) } : {}),
      ...(cnf ? { cnf } : {}),
    };
  }

  // ---------------------------------------------------------------- delegation (RFC 8693)

  /**
   * Token exchange: `delegator` hands part of its authority to `agentId`. The passport's scope
   * is what both may do (a request for more is refused as an attempt to widen scope, and
   * receipted and evented as such), its `act` chain records for whom the agent acts, and it
   * never outlives the delegator's own credential.
   */
  async delegate(
    tenant: string,
    agentId: string,
    delegator: Delegator,
    opts: { scope?: readonly string[]; ttlMs?: number; certThumbprint?: string; correlationId?: string } = {},
  ): Promise<IssuedPassport> {
    assertAgentId(agentId);
    const requested = opts.scope === undefined ? undefined : checkTokens('scope', opts.scope);
    const act: ActLink = {
      sub: delegator.id, typ: delegator.typ,
      ...(delegator.jti !== undefined ? { jti: delegator.jti } : {}),
      ...(delegator.act ? { act: delegator.act } : {}),
    };
    // No loops: the agent must not already be anywhere in the chain it would act for.
    for (let l: ActLink | undefined = act; l; l = l.act) {
      if (l.typ === 'agent' && l.sub === agentId) throw new BadInputError('an agent cannot delegate to itself (directly or through a chain)');
    }
    const actor = actorChainOf({ sub: delegator.typ === 'agent' ? delegator.id : '', act: delegator.act });
    const receiptActor = {
      human: delegator.typ === 'human' ? delegator.id : actor.human,
      agent: delegator.typ === 'agent' ? delegator.id : null,
      service: delegator.typ === 'service' ? delegator.id : actor.service,
    };
    const deny = async (reason: string, payload: Record<string, unknown>, category = 'auth_failure', severity: 'medium' | 'high' = 'medium'): Promise<never> => {
      await this.audit.deny({
        tenant, actor: receiptActor, action: 'token.exchange', resource: `agent:${agentId}`, reason, payload,
        correlationId: opts.correlationId, category, severity,
      });
      throw new AuthError(reason, { forbidden: true });
    };
    if (chainDepth(act) > MAX_DELEGATION_DEPTH) await deny('delegation chain too long', { depth: chainDepth(act), max: MAX_DELEGATION_DEPTH });
    const agent = await this.store.getAgent(tenant, agentId);
    if (!agent || agent.state === 'deleted') throw new WardenError('NOT_FOUND', `tenant ${tenant} has no agent "${agentId}"`);
    const { scope, widening } = intersectScope(requested, delegator.grants, agent.capabilities);
    if (widening.length) {
      await deny('delegation would widen scope', { requested: requested ?? [], widening, delegator: delegator.id }, 'privilege_escalation', 'high');
    }
    if (scope.length === 0) throw new WardenError('FORBIDDEN', 'the delegator and the agent have no scope in common');
    return this.issue(tenant, agentId, {
      scope, act, action: 'passport.delegate', actor: receiptActor,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.certThumbprint !== undefined ? { certThumbprint: opts.certThumbprint } : {}),
      ...(delegator.notAfter !== undefined ? { notAfter: delegator.notAfter } : {}),
      ...(opts.correlationId !== undefined ? { correlationId: opts.correlationId } : {}),
    });
  }

  // ---------------------------------------------------------------- agent keys (proof of possession)

  /**
   * A one-time challenge for an agent to sign. Issued for any well-formed agent id, registered
   * or not, so the endpoint does not reveal which agents exist; it fails at redemption instead.
   */
  challenge(tenant: string, agentId: string): { challenge: string; expires_at: string } {
    if (!TENANT_NAME.test(tenant)) throw new BadInputError('invalid tenant name');
    assertAgentId(agentId);
    const now = Date.now();
    for (const [k, exp] of this.#challenges) {
      if (exp > now && this.#challenges.size < MAX_CHALLENGES) break;
      this.#challenges.delete(k); // expired, or the oldest when full (insertion order)
    }
    const challenge = randomBytes(32).toString('base64url');
    this.#challenges.set(`${tenant}/${agentId}/${challenge}`, now + CHALLENGE_TTL_MS);
    return { challenge, expires_at: new Date(now + CHALLENGE_TTL_MS).toISOString() };
  }

  /**
   * Renewal by proof of possession: the agent signs `renewalMessage(tenant, agent, challenge)`
   * with its registered key. A challenge is consumed by the first attempt, right or wrong, so a
   * replayed proof is refused. Every failure is receipted and evented.
   */
  async renew(
    tenant: string,
    agentId: string,
    proof: { challenge: string; signature: string },
    opts: { scope?: readonly string[]; ttlMs?: number; certThumbprint?: string; correlationId?: string } = {},
  ): Promise<IssuedPassport> {
    assertAgentId(agentId);
    const fail = async (reason: string, detail: string, forbidden = false): Promise<never> => {
      await this.audit.deny({
        tenant, actor: { agent: agentId }, action: 'passport.renew', resource: `agent:${agentId}`, reason,
        payload: { detail }, correlationId: opts.correlationId, unverified: true,
      });
      throw new AuthError(reason, { forbidden });
    };
    const slot = `${tenant}/${agentId}/${String(proof.challenge)}`;
    const expires = this.#challenges.get(slot);
    this.#challenges.delete(slot);
    // An unknown challenge proves nothing about the agent: refused without a receipt (else anyone
    // could fill a tenant's log with denials blamed on an agent of their choice).
    if (expires === undefined) throw new AuthError('challenge unknown, expired or already used');
    if (expires <= Date.now()) return fail('challenge unknown, expired or already used', 'challenge expired');
    const agent = await this.store.getAgent(tenant, agentId);
    if (!agent || agent.state === 'deleted') return fail('proof of possession failed', 'agent unknown');
    if (agent.public_key === null) return fail('proof of possession failed', 'agent has no registered key');
    if (!isStrongEd25519PublicKey(Buffer.from(agent.public_key, 'base64url'))) return fail('proof of possession failed', 'registered key is unusable');
    const sig = typeof proof.signature === 'string' && /^[A-Za-z0-9_-]{86}$/.test(proof.signature) ? Buffer.from(proof.signature, 'base64url') : undefined;
    if (!sig || !ed25519Verify(publicKeyFromRaw(Buffer.from(agent.public_key, 'base64url')), renewalMessage(tenant, agentId, proof.challenge), sig)) {
      return fail('proof of possession failed', 'signature does not verify');
    }
    if (agent.state !== 'active') return fail(`agent is ${agent.state}`, `agent is ${agent.state}`, true);
    return this.issue(tenant, agentId, {
      action: 'passport.renew', actor: { agent: agentId },
      ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.certThumbprint !== undefined ? { certThumbprint: opts.certThumbprint } : {}),
      ...(opts.correlationId !== undefined ? { correlationId: opts.correlationId } : {}),
    });
  }

  /** Whether `signature` (base64url) is the agent's registered key's signature over the artifact. */
  async verifyArtifact(
    tenant: string, agentId: string, artifact: unknown, signature: string,
  ): Promise<{ valid: boolean; signature_valid: boolean; agent_state: string; public_key: string }> {
    const agent = await this.agents.get(tenant, agentId);
    if (agent.state === 'deleted') throw new WardenError('NOT_FOUND', `agent "${agentId}" is deleted`);
    if (agent.public_key === null) throw new WardenError('NOT_FOUND', `agent "${agentId}" has no registered key`);
    let message: Buffer;
    try {
      message = artifactMessage(artifact);
    } catch {
      throw new BadInputError('artifact is not representable as canonical JSON (RFC 8785)');
    }
    const sig = typeof signature === 'string' && /^[A-Za-z0-9_-]{86}$/.test(signature) ? Buffer.from(signature, 'base64url') : undefined;
    const raw = Buffer.from(agent.public_key, 'base64url');
    const signatureValid = !!sig && isStrongEd25519PublicKey(raw) && ed25519Verify(publicKeyFromRaw(raw), message, sig);
    // A suspended or quarantined agent's key may be compromised: its signatures do not count.
    return { valid: signatureValid && agent.state === 'active', signature_valid: signatureValid, agent_state: agent.state, public_key: agent.public_key };
  }

  // ---------------------------------------------------------------- in-memory view

  /** The tenant's view, reloaded when older than refreshMs or when this process changed keys. */
  async #view(tenant: string): Promise<TenantView | undefined> {
    const v = this.#views.get(tenant);
    const now = Date.now();
    if (v && now - v.loadedAt < this.#refreshMs && this.keyring.cached(tenant) === v.keysFrom && v.keysFrom !== undefined) return v;
    let loading = this.#loading.get(tenant);
    if (!loading) {
      loading = this.#load(tenant, v).finally(() => this.#loading.delete(tenant));
      this.#loading.set(tenant, loading);
    }
    try {
      return await loading;
    } catch (err) {
      if (err instanceof WardenError && err.code === 'NOT_FOUND') return undefined;
      throw err; // a store fault: the caller fails (closed)
    }
  }

  async #load(tenant: string, prev: TenantView | undefined): Promise<TenantView> {
    const startedAt = Date.now();
    const keys = await this.keyring.load(tenant);
    const full = !prev || startedAt >= prev.fullReloadAt || prev.revokedSince === undefined;
    const since = full ? undefined : prev.revokedSince;
    const [revokedRows, agents] = await Promise.all([
      this.store.listRevokedPassports(tenant, since),
      this.store.listAgents(tenant),
    ]);
    const revoked = full ? new Set<string>() : new Set(prev.revoked);
    for (const r of revokedRows) revoked.add(r.jti);
    if (full) {
      // Entries for passports that have expired anyway are dropped from memory.
      const nowIso = new Date(startedAt - this.options.clockSkewMs).toISOString();
      for (const r of revokedRows) if (r.expires_at < nowIso) revoked.delete(r.jti);
    }
    const view: TenantView = {
      loadedAt: startedAt,
      keysFrom: keys,
      keys: new Map(keys.records.filter((r) => r.purpose === 'passport').map((r) => [r.kid, r])),
      revoked,
      agents: new Map(agents.map((a) => [a.id, a])),
      revokedSince: new Date(startedAt - REVOCATION_OVERLAP_MS).toISOString(),
      fullReloadAt: full ? startedAt + FULL_RELOAD_MS : (prev?.fullReloadAt ?? startedAt),
    };
    this.#views.set(tenant, view);
    return view;
  }

  // ---------------------------------------------------------------- JWKS

  /** Public passport keys that may still verify (active, retiring), as a JWK Set. */
  async jwks(tenant?: string): Promise<{ keys: (JWK & { kid: string })[] }> {
    const tenants = tenant !== undefined ? [tenant] : (await this.store.listTenants()).map((t) => t.name);
    if (tenant !== undefined && !(await this.store.getTenant(tenant))) throw new WardenError('NOT_FOUND', `unknown tenant "${tenant}"`);
    const out: (JWK & { kid: string })[] = [];
    for (const t of tenants) {
      for (const k of await this.store.listKeys(t, 'passport')) {
        if (k.state === 'active' || k.state === 'retiring') out.push(passportJwk(k));
      }
    }
    return { keys: out };
  }
}
