import Fastify, { type FastifyInstance } from 'fastify';
import type { Warden } from '../context.js';
import { AuthError, WardenError } from '../errors.js';
import { buildTrustBundle } from '../ledger/trust.js';
import { TENANT_NAME } from '../config/schema.js';

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

/** `Authorization: Bearer <jwt>` → the token; anything else is a 401 (never parsed further). */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header === '') throw new AuthError('missing Authorization header');
  const m = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*) *$/.exec(header);
  if (!m) throw new AuthError('malformed Authorization header');
  return m[1] as string;
}

const stringList = { type: 'array', items: { type: 'string' } } as const;
const whoamiResponse = {
  type: 'object',
  required: ['tenant', 'actor', 'agent', 'passport'],
  properties: {
    tenant: { type: 'string' },
    actor: {
      type: 'object',
      properties: { human: { type: ['string', 'null'] }, agent: { type: ['string', 'null'] }, service: { type: ['string', 'null'] } },
    },
    agent: { type: 'object', properties: { id: { type: 'string' }, roles: stringList, capabilities: stringList, tier: { type: 'string' } } },
    passport: { type: 'object', properties: { jti: { type: 'string' }, exp: { type: 'number' }, scope: stringList } },
  },
} as const;
const jwk = {
  type: 'object',
  properties: { kty: { type: 'string' }, crv: { type: 'string' }, x: { type: 'string' }, kid: { type: 'string' }, use: { type: 'string' }, alg: { type: 'string' } },
} as const;

/**
 * The HTTP API. This first version serves what is public by design in a transparency log —
 * health, trust bundles and signed checkpoints. Receipt reads and decisions arrive with
 * authenticated routes (identity and gateway issues).
 */
export async function buildServer(w: Warden): Promise<FastifyInstance> {
  const level = w.loaded.config.log.level;
  const app = Fastify({
    logger: level === 'silent' ? false : { level },
    disableRequestLogging: true,
    bodyLimit: w.loaded.config.server.body_limit,
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.setErrorHandler((err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode && !(err instanceof WardenError) ? ((err as { statusCode: number }).statusCode) : statusFor(err);
    // Internal faults are not described to clients; the code is enough to report them.
    const message = status >= 500 ? 'internal error' : (err as Error).message;
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

  // The authenticated actor chain of a passport holder.
  app.get('/v1/whoami', { schema: { response: { 200: whoamiResponse } } }, async (req) => {
    let token: string;
    try {
      token = bearerToken(req.headers.authorization);
    } catch (err) {
      // A malformed header may still carry a parseable identity worth recording.
      const raw = req.headers.authorization;
      const loose = typeof raw === 'string' ? /^\S+\s+(\S+)$/.exec(raw)?.[1] : undefined;
      if (loose && err instanceof AuthError) await w.passports.recordFailure(loose, err.reason, req.id);
      throw err;
    }
    const p = await w.passports.authenticate(token, { correlationId: req.id });
    return {
      tenant: p.tenant,
      actor: { human: null, agent: p.claims.sub, service: null },
      agent: { id: p.claims.sub, roles: p.claims.roles, capabilities: p.claims.capabilities, tier: p.claims.tier },
      passport: { jti: p.claims.jti, exp: p.claims.exp, scope: p.claims.scope },
    };
  });

  app.get<{ Params: { tenant: string } }>('/v1/ledger/:tenant/checkpoint', { schema: { params: tenantParam } }, async (req, reply) => {
    const cp = await w.checkpointer.checkpoint(req.params.tenant);
    return reply.type('text/plain; charset=utf-8').send(cp.note);
  });

  return app;
}
