/**
 * Who is calling: the credential in `Authorization: Bearer …` (an operator API token, an OIDC
 * token from a configured issuer, or an agent passport) plus, over mTLS, the client
 * certificate's SPIFFE identity. Together they give the actor chain `{human, agent, service}`
 * and the tenant. Every refusal is an AuthError (401/403) with a stable reason; those that
 * carry a parseable identity are receipted and evented by the services that refuse them.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import type { Warden } from '../context.js';
import { AuthError } from '../errors.js';
import { readCaCertificate, spiffeIdFromCertificate, type SpiffeId } from '../identity/ca.js';
import type { OidcVerifier } from '../identity/oidc.js';
import { TOKEN_PREFIX, type Permission } from '../identity/operators.js';
import { actorChainOf, type VerifiedPassport } from '../identity/passports.js';

export interface ActorChain {
  human: string | null;
  agent: string | null;
  service: string | null;
}

/** The verified TLS client certificate of the connection. */
export interface PeerIdentity {
  /** RFC 8705 `x5t#S256` of the certificate. */
  thumbprint: string;
  /** Its Warden SPIFFE identity, when it carries one. */
  spiffe?: SpiffeId;
}

export type Principal =
  | {
      kind: 'operator';
      tenant: string;
      /** How the operator appears in receipts (local id, or `oidc:<provider>:<subject>`). */
      human: string;
      roles: string[];
      via: 'api-token' | 'oidc';
      /** When the credential stops being valid (seconds since the epoch). */
      notAfter: number;
    }
  | { kind: 'agent'; tenant: string; passport: VerifiedPassport };

export interface Caller {
  principal: Principal;
  actor: ActorChain;
  peer: PeerIdentity | undefined;
}

/** `Authorization: Bearer <jwt>` → the token; anything else is a 401 (never parsed further). */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === '') throw new AuthError('missing Authorization header');
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  const m = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/i.exec(header);
  if (!m) throw new AuthError('malformed Authorization header');
  return m[1] as string;
}

/** Operator API tokens are short and fixed-format; anything else after `Bearer wdn_` is malformed. */
const OPERATOR_BEARER = /^Bearer +(wdn_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}) *$/i;

/**
 * `Authorization: Bearer …` → an operator API token (`wdn_` prefix) or a JWT (passport or
 * OIDC). Malformed or oversized headers are a 401 and are never parsed further.
 */
export function bearerCredential(header: string | undefined): { kind: 'operator' | 'jwt'; token: string } {
  if (header === undefined || header === '') throw new AuthError('missing Authorization header');
  if (/^Bearer +wdn_/i.test(header.slice(0, 64))) {
    const m = header.length <= 128 ? OPERATOR_BEARER.exec(header) : null;
    if (!m) throw new AuthError('malformed Authorization header');
    return { kind: 'operator', token: m[1] as string };
  }
  return { kind: 'jwt', token: bearerToken(header) };
}

/**
 * The TLS client certificate of the request's connection, if any (verified by the handshake).
 * Its SPIFFE identity counts only in `trustDomain` (the deployment CA's), when one is known.
 */
export function peerOf(req: FastifyRequest, trustDomain?: string): PeerIdentity | undefined {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined;
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  const thumbprint = createHash('sha256').update(cert.raw).digest('base64url');
  try {
    const spiffe = spiffeIdFromCertificate(cert.raw);
    return trustDomain === undefined || spiffe.trustDomain === trustDomain ? { thumbprint, spiffe } : { thumbprint };
  } catch {
    return { thumbprint };
  }
}

export class RequestAuthenticator {
  /** The deployment CA's trust domain, when this data directory has a CA. */
  readonly #trustDomain: string | undefined;

  constructor(
    private readonly w: Warden,
    private readonly oidc: OidcVerifier | undefined,
  ) {
    try {
      this.#trustDomain = readCaCertificate(w.loaded.dataDir).trustDomain;
    } catch {
      this.#trustDomain = undefined; // no local CA: certificates come from a CA managed elsewhere
    }
  }

  /** The request's client certificate, with its SPIFFE identity if it is in our trust domain. */
  peer(req: FastifyRequest): PeerIdentity | undefined {
    return peerOf(req, this.#trustDomain);
  }

  /**
   * Authenticates a credential (the Authorization header, or a token given in a body such as
   * RFC 8693's `subject_token`) as seen over `peer`.
   */
  async token(token: string, kind: 'operator' | 'jwt', peer: PeerIdentity | undefined, correlationId: string): Promise<Principal> {
    if (kind === 'operator') {
      const a = await this.w.operators.authenticate(token, { correlationId });
      const notAfter = Math.floor(Date.parse((await this.w.store.getApiToken(a.token_id))?.expires_at ?? '') / 1000);
      return { kind: 'operator', tenant: a.tenant, human: a.operator.id, roles: a.operator.roles, via: 'api-token', notAfter };
    }
    if (this.oidc?.matches(token)) {
      const id = await this.oidc.verify(token).catch(async (err: unknown) => {
        if (err instanceof AuthError) await this.#recordOidcFailure(token, err.reason, correlationId);
        throw err;
      });
      return { kind: 'operator', tenant: id.tenant, human: id.human, roles: id.roles, via: 'oidc', notAfter: id.exp };
    }
    const passport = await this.w.passports.authenticate(token, { correlationId, certThumbprint: peer?.thumbprint });
    return { kind: 'agent', tenant: passport.tenant, passport };
  }

  /** The caller of a request: credential, client certificate and the actor chain they form. */
  async caller(req: FastifyRequest): Promise<Caller> {
    const peer = this.peer(req);
    let cred: { kind: 'operator' | 'jwt'; token: string };
    try {
      cred = bearerCredential(req.headers.authorization);
    } catch (err) {
      // A malformed header may still carry a parseable passport identity worth recording.
      const raw = req.headers.authorization;
      const loose = typeof raw === 'string' && !raw.includes(TOKEN_PREFIX) ? /^\S+\s+(\S+)$/.exec(raw)?.[1] : undefined;
      if (loose && err instanceof AuthError) await this.w.passports.recordFailure(loose, err.reason, req.id);
      throw err;
    }
    const principal = await this.token(cred.token, cred.kind, peer, req.id);
    return { principal, actor: await this.bindPeer(principal, peer, req.id), peer };
  }

  /**
   * An operator allowed `permission` in its own tenant (default deny). Naming another tenant, or
   * lacking the permission, is refused and receipted as an `auth` deny (and evented).
   */
  async operator(
    req: FastifyRequest, permission: Permission, resource: string, options: { deploymentWide?: boolean } = {},
  ): Promise<Caller & { principal: Extract<Principal, { kind: 'operator' }> }> {
    const caller = await this.caller(req);
    const p = caller.principal;
    if (p.kind !== 'operator') {
      await this.w.operators.recordDeny(p.tenant, caller.actor, 'operator.authorize', resource, 'operator credential required', { permission }, req.id);
      throw new AuthError('operator credential required', { forbidden: true });
    }
    const wanted = (req.query as { tenant?: string } | undefined)?.tenant;
    // Deployment admins (the admin role in `events.admin_tenant`) may read across tenants where a route allows it.
    const adminTenant = this.w.loaded.config.events.admin_tenant;
    const deploymentAdmin = options.deploymentWide === true && adminTenant !== undefined && p.tenant === adminTenant && p.roles.includes('admin');
    if (wanted !== undefined && wanted !== p.tenant && !deploymentAdmin) {
      await this.w.operators.recordDeny(p.tenant, caller.actor, 'operator.authorize', resource, 'cross_tenant', { permission, requested_tenant: wanted }, req.id);
      throw new AuthError('tenant not accessible', { forbidden: true });
    }
    try {
      this.w.operators.authorize(p, permission);
    } catch (err) {
      await this.w.operators.recordDeny(p.tenant, caller.actor, 'operator.authorize', resource, (err as AuthError).reason, { permission, via: p.via }, req.id);
      throw err;
    }
    return { ...caller, principal: p };
  }

  /**
   * The actor chain, with the client certificate checked against the credential: an agent
   * certificate must be the passport's own agent, and a service certificate must belong to
   * the caller's tenant.
   */
  async bindPeer(p: Principal, peer: PeerIdentity | undefined, correlationId: string): Promise<ActorChain> {
    const base: ActorChain = p.kind === 'agent' ? actorChainOf(p.passport.claims) : { human: p.human, agent: null, service: null };
    const id = peer?.spiffe;
    if (!id) return base;
    const mismatch = async (reason: string, category: string): Promise<never> => {
      await this.w.audit.deny({
        tenant: p.tenant, actor: base, action: 'mtls.bind', resource: `${id.kind}:${id.id}`, reason,
        payload: { certificate: id.uri, thumbprint: peer.thumbprint }, correlationId, category, severity: 'high',
      });
      throw new AuthError(reason, { forbidden: category === 'cross_tenant' });
    };
    if (id.tenant !== p.tenant) return mismatch('client certificate belongs to another tenant', 'cross_tenant');
    if (id.kind === 'agent') {
      if (p.kind !== 'agent' || p.passport.claims.sub !== id.id) return mismatch("client certificate is not the passport's agent", 'auth_failure');
      return base;
    }
    // A service certificate is the service path the call came through.
    return { ...base, service: base.service ?? id.id };
  }

  /** An OIDC token that failed: receipted in the provider's tenant when its subject is readable. */
  async #recordOidcFailure(token: string, reason: string, correlationId: string): Promise<void> {
    const tenant = this.oidc?.tenantOf(token);
    if (tenant === undefined) return;
    let sub = 'unknown';
    try {
      const c = decodeJwt(token);
      // Unverified and attacker-chosen: kept only when short and printable.
      if (typeof c.sub === 'string' && /^[\x21-\x7e]{1,256}$/.test(c.sub)) sub = c.sub;
    } catch {
      // recorded without a subject
    }
    await this.w.audit.deny({
      tenant, actor: { human: `unverified:${sub}` }, action: 'oidc.verify', resource: 'operator', reason,
      payload: { verified: false }, correlationId, unverified: true,
    });
  }
}
