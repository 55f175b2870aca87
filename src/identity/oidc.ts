/**
 * OIDC operator authentication: operators sign in at an external identity provider (IdP) and
 * present its JWT (an ID token or a JWT access token); Warden verifies it against the IdP's
 * public JWKS and maps a claim (groups, roles) to Warden roles.
 *
 * Verification is strict and fails closed: size limit before parsing, the provider picked by the
 * token's (unverified) `iss` — nothing is fetched for an issuer that is not configured — then a
 * full `jwtVerify` with that provider's issuer, audience and public-key algorithm allowlist
 * (never HMAC, never `none`: the allowlist is checked before any key is looked up, so a forged
 * header cannot trigger a fetch), exp/nbf within the clock skew, and a required subject.
 *
 * JWKS fetching is jose's `createRemoteJWKSet`: keys are cached for `cache_max_age`, an unknown
 * `kid` triggers a refetch (key rotation) but never more often than `cooldown`. On top of that a
 * failed fetch also holds further fetches off for `cooldown`, the response is size-limited and
 * redirects are not followed, so a token flood cannot turn Warden into a load generator against
 * the IdP. An unreachable IdP is a 401, never a 500.
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { WardenConfig } from '../config/schema.js';
import { AuthError, ConfigError } from '../errors.js';
import { readCapped } from '../net/read-capped.js';

/** Tokens larger than this are refused before any parsing. */
export const MAX_OIDC_TOKEN_BYTES = 8 * 1024;
/** A JWKS response larger than this is refused (a handful of keys is a few KiB). */
export const MAX_JWKS_BYTES = 256 * 1024;
/** Per-fetch timeout of the JWKS request. */
export const JWKS_TIMEOUT_MS = 5000;
const MAX_SUBJECT_LENGTH = 256;

/** Public-key algorithms only; kept here too so a hand-built config cannot widen it. */
const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA']);
/** `typ` values of tokens meant for authentication; others (e.g. `logout+jwt`) are refused. */
const ACCEPTED_TYPES: ReadonlySet<string> = new Set(['jwt', 'at+jwt']);

/** One entry of `identity.oidc`, as parsed (durations in milliseconds). */
export type OidcProviderConfig = WardenConfig['identity']['oidc'][number];

export interface OidcVerifierOptions {
  /** Tolerated clock skew (ms) for exp, nbf and iat. */
  clockSkewMs: number;
  /** Whether a Warden role exists (built-in or custom); every role_map target must. */
  knownRoles: (role: string) => boolean;
}

export interface OidcIdentity {
  /** The configured provider name. */
  provider: string;
  tenant: string;
  /** The subject claim's value. */
  subject: string;
  /** `oidc:<provider>:<subject>`: how this operator appears in receipts. */
  human: string;
  /** Mapped Warden roles, deduplicated and sorted. */
  roles: string[];
  /** The raw claim values that mapped to a role, deduplicated and sorted. */
  claims_roles: string[];
  /** Token expiry, seconds since the epoch. */
  exp: number;
}

interface Provider {
  config: OidcProviderConfig;
  roleMap: ReadonlyMap<string, string>;
  getKey: JWTVerifyGetKey;
}

/** The JWKS could not be fetched or used; wraps the cause so it never reaches the client. */
class JwksUnavailable extends Error {
  constructor(cause: unknown) {
    super('JWKS unavailable', { cause });
    this.name = 'JwksUnavailable';
  }
}

/** Maps jose's errors to stable, non-leaking reasons. */
function joseReason(err: unknown): string {
  if (err instanceof JwksUnavailable) return 'identity provider unreachable';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown signing key';
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss': return 'issuer not accepted';
      case 'aud': return 'audience not accepted';
      case 'nbf': return 'token not yet valid';
      case 'iat': return err.reason === 'missing' ? 'token claims invalid' : 'token issued in the future';
      default: return 'token claims invalid';
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature invalid';
  return 'malformed token';
}

/** Reads at most `limit` bytes of a response body; more is an error. */
async function readLimited(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw new Error('JWKS response too large');
  const text = await readCapped(res, limit);
  if (text === undefined) throw new Error('JWKS response too large');
  return text;
}

/** The claim's values: an array of strings, or a space-separated string (OAuth `scope` style). */
function claimValues(v: unknown): string[] {
  if (typeof v === 'string') return v.split(/\s+/).filter((s) => s.length > 0);
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}

function tokenSize(token: string): number {
  return Buffer.byteLength(token);
}

export class OidcVerifier {
  readonly #byIssuer = new Map<string, Provider>();
  readonly #clockSkewMs: number;
  /** JWKS requests actually sent, and how many of them failed. */
  readonly stats = { jwksFetches: 0, jwksFailures: 0 };

  constructor(providers: readonly OidcProviderConfig[], options: OidcVerifierOptions) {
    this.#clockSkewMs = options.clockSkewMs;
    const names = new Set<string>();
    providers.forEach((config, i) => {
      const at = `identity.oidc[${i}]`;
      if (names.has(config.name)) throw new ConfigError(`${at}.name: duplicate OIDC provider name "${config.name}"`);
      if (this.#byIssuer.has(config.issuer)) throw new ConfigError(`${at}.issuer: duplicate OIDC issuer "${config.issuer}"`);
      names.add(config.name);
      if (config.algorithms.length === 0) throw new ConfigError(`${at}.algorithms: expected at least one algorithm`);
      for (const alg of config.algorithms) {
        if (!ALLOWED_ALGORITHMS.has(alg)) throw new ConfigError(`${at}.algorithms: "${alg}" is not accepted (public-key algorithms only)`);
      }
      // A Map, not the record: a claim value such as "constructor" must not find Object.prototype.
      const roleMap = new Map<string, string>();
      for (const [value, role] of Object.entries(config.role_map)) {
        if (!options.knownRoles(role)) throw new ConfigError(`${at}.role_map.${value}: unknown Warden role "${role}"`);
        roleMap.set(value, role);
      }
      if (roleMap.size === 0) throw new ConfigError(`${at}.role_map: expected at least one entry`);
      this.#byIssuer.set(config.issuer, { config, roleMap, getKey: this.#keySource(config) });
    });
  }

  /** The remote key set of one provider, with counted, size-limited fetches and a failure backoff. */
  #keySource(config: OidcProviderConfig): JWTVerifyGetKey {
    let failedAt: number | undefined;
    const fetchJwks: FetchImplementation = async (url, init) => {
      // jose's cooldown only starts after a successful fetch; without this an IdP outage would
      // make every incoming token a request to it.
      if (failedAt !== undefined && Date.now() - failedAt < config.cooldown) throw new Error('JWKS fetch backing off after a failure');
      this.stats.jwksFetches++;
      try {
        const res = await fetch(url, init); // init carries redirect: 'manual' and the timeout signal
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => undefined);
          throw new Error(`JWKS endpoint answered HTTP ${res.status}`);
        }
        const text = await readLimited(res, MAX_JWKS_BYTES);
        const json = JSON.parse(text) as { keys?: unknown };
        if (typeof json !== 'object' || json === null || !Array.isArray(json.keys)) throw new Error('not a JSON Web Key Set');
        failedAt = undefined;
        return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
      } catch (err) {
        failedAt = Date.now();
        this.stats.jwksFailures++;
        throw err;
      }
    };
    const remote = createRemoteJWKSet(new URL(config.jwks_uri), {
      cacheMaxAge: config.cache_max_age,
      cooldownDuration: config.cooldown,
      timeoutDuration: JWKS_TIMEOUT_MS,
      [customFetch]: fetchJwks,
    });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // No key for this kid (after the permitted refetch) is the token's fault; anything
        // else (network, timeout, HTTP status, malformed set) is the provider's.
        if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) throw err;
        throw new JwksUnavailable(err);
      }
    };
  }

  /** The configured provider for the token's UNVERIFIED issuer, if any. */
  #provider(token: string): Provider | undefined {
    if (typeof token !== 'string' || token.length === 0 || tokenSize(token) > MAX_OIDC_TOKEN_BYTES) return undefined;
    try {
      const iss = decodeJwt(token).iss;
      return typeof iss === 'string' ? this.#byIssuer.get(iss) : undefined;
    } catch {
      return undefined; // not a JWT at all
    }
  }

  /** True when the token is a JWT claiming a configured issuer (claims NOT verified: routing only). */
  matches(token: string): boolean {
    return this.#provider(token) !== undefined;
  }

  /** The tenant of the provider the token's UNVERIFIED issuer names: only to file a deny receipt. */
  tenantOf(token: string): string | undefined {
    return this.#provider(token)?.config.tenant;
  }

  /** Verifies an IdP token; throws AuthError (401, or 403 when no Warden role maps) with a stable reason. */
  async verify(token: string): Promise<OidcIdentity> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('missing token');
    if (tokenSize(token) > MAX_OIDC_TOKEN_BYTES) throw new AuthError('token too large');
    let typ: unknown;
    try {
      typ = decodeProtectedHeader(token).typ;
      decodeJwt(token);
    } catch {
      throw new AuthError('malformed token');
    }
    const provider = this.#provider(token);
    if (!provider) throw new AuthError('issuer not accepted');
    if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYPES.has(typ.toLowerCase().replace(/^application\//, '')))) {
      throw new AuthError('token type not accepted');
    }
    const { config } = provider;
    const skewS = Math.floor(this.#clockSkewMs / 1000);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, provider.getKey, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        clockTolerance: skewS,
        requiredClaims: ['exp', 'iat', config.subject_claim],
      }));
    } catch (err) {
      throw new AuthError(joseReason(err), { cause: err });
    }
    // jose checks iat only against maxTokenAge; a token from the future is refused here.
    if (typeof payload.iat !== 'number' || payload.iat > Date.now() / 1000 + skewS) throw new AuthError('token issued in the future');
    if (typeof payload.exp !== 'number') throw new AuthError('token claims invalid');
    const subject = payload[config.subject_claim];
    // Control characters would let a subject forge log lines or receipt fields.
    if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH || /\p{Cc}/u.test(subject)) {
      throw new AuthError('token subject invalid');
    }
    const roles = new Set<string>();
    const matched = new Set<string>();
    for (const value of claimValues(payload[config.roles_claim])) {
      const role = provider.roleMap.get(value);
      if (role !== undefined) {
        roles.add(role);
        matched.add(value);
      }
    }
    if (roles.size === 0) throw new AuthError('no Warden role for this identity', { forbidden: true });
    return {
      provider: config.name,
      tenant: config.tenant,
      subject,
      human: `oidc:${config.name}:${subject}`,
      roles: [...roles].sort(),
      claims_roles: [...matched].sort(),
      exp: payload.exp,
    };
  }
}
