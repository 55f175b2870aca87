import { randomBytes } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Warden } from '../context.js';
import { BadInputError, WardenError } from '../errors.js';
import { OidcVerifier } from '../identity/oidc.js';
import { buildTrustBundle } from '../ledger/trust.js';
import { TENANT_NAME } from '../config/schema.js';
import { RequestAuthenticator } from './auth.js';
import { registerIdentityRoutes } from './identity-routes.js';
import { registerDecisionRoutes, registerPolicyRoutes, registerWhatIfRoute } from './decision-routes.js';
import { registerMetrics } from './metrics.js';
import { registerEventRoutes } from './event-routes.js';
import { registerMcpRoutes } from './mcp-routes.js';
import { RateLimiter } from '../firewall/rate-limit.js';

export interface ServerOptions {
  /**
   * Serve HTTPS (TLS 1.3 minimum). With `clientCa`, every connection must present a client
   * certificate issued by it (mTLS); passports bound to a certificate then need exactly it.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer };
}

interface SchemaError {
  instancePath: string;
  message?: string;
  params: { additionalProperty?: string; allowedValues?: unknown[]; allowedValue?: unknown; missingProperty?: string };
}

/** A schema violation, said so that the caller can fix it: which field, and what was expected. */
function validationMessage(err: unknown): string | undefined {
  const v = (err as { validation?: SchemaError[]; validationContext?: string }).validation;
  const first = v?.[0];
  if (!first) return undefined;
  const where = `${(err as { validationContext?: string }).validationContext ?? 'body'}${first.instancePath.replace(/\//g, '.')}`;
  const p = first.params;
  if (p.additionalProperty !== undefined) return `${where}: unknown field "${p.additionalProperty}"`;
  if (p.missingProperty !== undefined) return `${where}: missing required field "${p.missingProperty}"`;
  const allowed = p.allowedValues ?? (p.allowedValue !== undefined ? [p.allowedValue] : undefined);
  if (allowed) return `${where}: must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`;
  return `${where}: ${first.message ?? 'invalid'}`;
}

/** RFC 8693 requests are form-encoded; a repeated parameter is malformed (RFC 6749 §3.2). */
function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (Object.prototype.hasOwnProperty.call(out, k)) throw new BadInputError(`parameter "${k}" is repeated`);
    out[k] = v;
  }
  return out;
}

/** One error format for every route: `{ error: { code, message } }`. */
function statusFor(err: unknown): number {
  if (!(err instanceof WardenError)) return 500;
  switch (err.code) {
    case 'BAD_INPUT':
    case 'CONFIG_INVALID':
      return 400;
    case 'AUTH_FAILED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'VERIFICATION_FAILED':
      return 422;
    default:
      return 503;
  }
}

const stringList = { type: 'array', items: { type: 'string' } } as const;
const whoamiResponse = {
  type: 'object',
  required: ['tenant', 'actor'],
  properties: {
    tenant: { type: 'string' },
    actor: {
      type: 'object',
      properties: { human: { type: ['string', 'null'] }, agent: { type: ['string', 'null'] }, service: { type: ['string', 'null'] } },
    },
    agent: { type: 'object', properties: { id: { type: 'string' }, roles: stringList, capabilities: stringList, tier: { type: 'string' } } },
    passport: {
      type: 'object',
      properties: {
        jti: { type: 'string' }, exp: { type: 'number' }, scope: stringList,
        act: { type: 'object', additionalProperties: true },
        cnf: { type: 'object', properties: { 'x5t#S256': { type: 'string' } } },
      },
    },
    operator: { type: 'object', properties: { id: { type: 'string' }, roles: stringList, via: { type: 'string' } } },
    certificate: { type: 'object', properties: { thumbprint: { type: 'string' }, spiffe_id: { type: ['string', 'null'] } } },
  },
} as const;
const jwk = {
  type: 'object',
  properties: { kty: { type: 'string' }, crv: { type: 'string' }, x: { type: 'string' }, kid: { type: 'string' }, use: { type: 'string' }, alg: { type: 'string' } },
} as const;

/**
 * The HTTP API: public transparency endpoints (health, trust bundle, JWKS, checkpoints, metrics),
 * the identity routes (admin API, token exchange, agent keys), the decision gateway, approvals,
 * policy versions and receipts. One error format; every body schema-validated (unknown fields
 * refused); optional TLS 1.3 with required client certificates.
 */
export async function buildServer(w: Warden, options: ServerOptions = {}): Promise<FastifyInstance> {
  const level = w.loaded.config.log.level;
  const { tls } = options;
  const app = Fastify({
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            minVersion: 'TLSv1.3' as const,
            ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
    logger: level === 'silent' ? false : { level },
    requestTimeout: w.loaded.config.server.request_timeout,
    bodyLimit: w.loaded.config.server.body_limit,
    // Request ids become correlation ids in receipts: unique across restarts and processes,
    // unlike fastify's per-process counter (req-1, req-2, …).
    genReqId: () => `req_${randomBytes(12).toString('base64url')}`,
    // Unknown body fields are refused (400), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });

  // The OpenAPI document is generated from the same JSON schemas that validate each route.
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Warden API', version: '0.1.0', description: 'Zero-trust runtime for AI agent actions.' },
      components: {
        securitySchemes: {
          passport: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (EdDSA agent passport)' },
          operatorToken: { type: 'http', scheme: 'bearer', bearerFormat: 'wdn_<id>_<secret> operator API token' },
        },
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    try {
      done(null, parseForm(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const { config } = w.loaded;
  const oidc = config.identity.oidc.length
    ? new OidcVerifier(config.identity.oidc, { clockSkewMs: config.identity.clock_skew, knownRoles: (r) => w.operators.roleNames().includes(r) })
    : undefined;
  const authn = new RequestAuthenticator(w, oidc);

  // Per client address, before anything else runs (authentication included): a flood costs a 429, not a receipt.
  const perSource = new RateLimiter(config.firewall.rate_limits.source);
  app.addHook('onRequest', async (req, reply) => {
    const wait = perSource.take(req.ip);
    if (wait > 0) {
      await reply.code(429).header('retry-after', String(Math.ceil(wait))).send({ error: { code: 'RATE_LIMITED', message: 'too many requests from this address' } });
    }
  });
  // A server is long-running: detection, incident response and sinks run with it.
  w.startMonitoring();

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.setErrorHandler((err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode && !(err instanceof WardenError) ? ((err as { statusCode: number }).statusCode) : statusFor(err);
    // Internal faults are not described to clients; the code is enough to report them.
    const message = status >= 500 ? 'internal error' : validationMessage(err) ?? (err as Error).message;
    if (status === 401) void reply.header('www-authenticate', 'Bearer realm="warden", error="invalid_token"');
    void reply.status(status).send({ error: { code: err instanceof WardenError ? err.code : status >= 500 ? 'INTERNAL' : 'BAD_INPUT', message } });
  });

  const tenantParam = {
    type: 'object',
    properties: { tenant: { type: 'string', pattern: TENANT_NAME.source } },
  } as const;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    try {
      await w.store.listTenants();
      const failing = [...w.checkpointer.failures.entries()].map(([t, e]) => `${t}: ${e.message}`);
      if (failing.length) return reply.status(503).send({ status: 'degraded', checkpoint_failures: failing });
      return { status: 'ready' };
    } catch {
      return reply.status(503).send({ status: 'unavailable', reason: 'store unreachable' });
    }
  });

  app.get<{ Querystring: { tenant?: string } }>(
    '/.well-known/warden/trust.json',
    { schema: { querystring: { type: 'object', properties: { tenant: { type: 'string', pattern: TENANT_NAME.source } } } } },
    async (req) => buildTrustBundle(w.store, req.query.tenant ?? 'default'),
  );

  // Passport verification keys (active and retiring) of every tenant, or of one.
  app.get<{ Querystring: { tenant?: string } }>(
    '/.well-known/jwks.json',
    {
      schema: {
        querystring: { type: 'object', properties: { tenant: { type: 'string', pattern: TENANT_NAME.source } }, additionalProperties: false },
        response: { 200: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: jwk } } } },
      },
    },
    async (req, reply) => {
      void reply.header('cache-control', 'public, max-age=60');
      return w.passports.jwks(req.query.tenant);
    },
  );

  registerIdentityRoutes(app, w, authn);
  registerDecisionRoutes(app, w, authn);
  registerEventRoutes(app, w, authn);
  registerMcpRoutes(app, w, authn);
  registerPolicyRoutes(app, w, authn);
  registerWhatIfRoute(app, w, authn);
  registerMetrics(app, w);

  // The authenticated actor chain of a passport holder or an operator.
  app.get('/v1/whoami', { schema: { response: { 200: whoamiResponse } } }, async (req) => {
    const { principal: p, actor, peer } = await authn.caller(req);
    const certificate = peer ? { thumbprint: peer.thumbprint, spiffe_id: peer.spiffe?.uri ?? null } : undefined;
    if (p.kind === 'operator') {
      return { tenant: p.tenant, actor, operator: { id: p.human, roles: p.roles, via: p.via }, ...(certificate ? { certificate } : {}) };
    }
    const c = p.passport.claims;
    return {
      tenant: p.tenant,
      actor,
      agent: { id: c.sub, roles: c.roles, capabilities: c.capabilities, tier: c.tier },
      passport: { jti: c.jti, exp: c.exp, scope: c.scope, ...(c.act ? { act: c.act } : {}), ...(c.cnf ? { cnf: c.cnf } : {}) },
      ...(certificate ? { certificate } : {}),
    };
  });

  app.get<{ Params: { tenant: string } }>('/v1/ledger/:tenant/checkpoint', { schema: { params: tenantParam } }, async (req, reply) => {
    const cp = await w.checkpointer.checkpoint(req.params.tenant);
    return reply.type('text/plain; charset=utf-8').send(cp.note);
  });

  // Connection cap: beyond it the kernel-accepted socket is closed at once.
  app.server.maxConnections = config.server.max_connections;
  return app;
}
