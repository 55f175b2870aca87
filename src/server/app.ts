import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Warden } from '../context.js';
import { AuthError, WardenError } from '../errors.js';
import { AGENT_ID, AGENT_TIERS, CLAIM_TOKEN } from '../identity/agents.js';
import { TOKEN_PREFIX, type AuthenticatedOperator, type Permission } from '../identity/operators.js';
import type { AgentRecord } from '../store/types.js';
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

/** Operator API tokens are short and fixed-format; anything else after `Bearer wdn_` is malformed. */
const OPERATOR_BEARER = /^Bearer +(wdn_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}) *$/;

/**
 * `Authorization: Bearer …` → an operator API token (`wdn_` prefix) or a passport JWT.
 * Malformed or oversized headers are a 401 and are never parsed further.
 */
export function bearerCredential(header: string | undefined): { kind: 'operator' | 'passport'; token: string } {
  if (header === undefined || header === '') throw new AuthError('missing Authorization header');
  if (/^Bearer +wdn_/.test(header.slice(0, 64))) {
    const m = header.length <= 128 ? OPERATOR_BEARER.exec(header) : null;
    if (!m) throw new AuthError('malformed Authorization header');
    return { kind: 'operator', token: m[1] as string };
  }
  return { kind: 'passport', token: bearerToken(header) };
}

function agentView(a: AgentRecord): Omit<AgentRecord, 'tenant'> {
  const { tenant: _tenant, ...rest } = a;
  return rest;
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
    passport: { type: 'object', properties: { jti: { type: 'string' }, exp: { type: 'number' }, scope: stringList } },
    operator: { type: 'object', properties: { id: { type: 'string' }, roles: stringList } },
  },
} as const;
const claimList = { type: 'array', maxItems: 64, items: { type: 'string', pattern: CLAIM_TOKEN.source } } as const;
const agentIdParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: AGENT_ID.source } },
} as const;
/** Admin routes act in the operator's own tenant; naming another one is refused. */
const tenantQuery = {
  type: 'object',
  properties: { tenant: { type: 'string', pattern: TENANT_NAME.source } },
  additionalProperties: false,
} as const;
const createAgentBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: AGENT_ID.source },
    type: { type: 'string', pattern: AGENT_ID.source },
    owner: { type: ['string', 'null'], minLength: 1, maxLength: 256 },
    roles: claimList,
    capabilities: claimList,
    trust_level: { type: 'integer', minimum: 0, maximum: 100 },
    tier: { type: 'string', enum: [...AGENT_TIERS] },
  },
} as const;
const reasonBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;
const issueBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ttl_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
    scope: claimList,
  },
} as const;
const revokeBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    jti: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
    agent: { type: 'string', pattern: AGENT_ID.source },
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
    bodyLimit: w.loaded.config.server.body_limit,
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

  /**
   * Authenticates an operator API token and checks `permission` (default deny). A request that
   * names another tenant, or lacks the permission, is refused and receipted as an `auth` deny.
   */
  async function operatorAuth(req: FastifyRequest, permission: Permission, resource: string): Promise<AuthenticatedOperator> {
    const cred = bearerCredential(req.headers.authorization);
    if (cred.kind !== 'operator') throw new AuthError('operator API token required');
    const a = await w.operators.authenticate(cred.token, { correlationId: req.id });
    const actor = { human: a.operator.id };
    const wanted = (req.query as { tenant?: string } | undefined)?.tenant;
    if (wanted !== undefined && wanted !== a.tenant) {
      await w.operators.recordDeny(a.tenant, actor, 'operator.authorize', resource, 'cross_tenant', { permission, requested_tenant: wanted }, req.id);
      throw new AuthError('tenant not accessible', { forbidden: true });
    }
    try {
      w.operators.authorize(a.operator, permission);
    } catch (err) {
      await w.operators.recordDeny(a.tenant, actor, 'operator.authorize', resource, (err as AuthError).reason, { permission }, req.id);
      throw err;
    }
    return a;
  }

  // ---- admin API (operators, RBAC) ----

  app.get<{ Querystring: { tenant?: string } }>('/v1/agents', { schema: { querystring: tenantQuery } }, async (req) => {
    const a = await operatorAuth(req, 'agents:read', 'agents');
    return { agents: (await w.agents.list(a.tenant)).map(agentView) };
  });

  app.post<{ Querystring: { tenant?: string }; Body: { id: string; type?: string; owner?: string | null; roles?: string[]; capabilities?: string[]; trust_level?: number; tier?: string } }>(
    '/v1/agents',
    { schema: { querystring: tenantQuery, body: createAgentBody } },
    async (req, reply) => {
      const a = await operatorAuth(req, 'agents:write', `agent:${req.body.id}`);
      const agent = await w.agents.create(a.tenant, req.body, { actor: { human: a.operator.id } });
      return reply.status(201).send(agentView(agent));
    },
  );

  // A POST without a body is an empty object (the body schemas below are all optional fields).
  const emptyBody = async (req: FastifyRequest): Promise<void> => {
    req.body ??= {};
  };

  for (const t of ['suspend', 'resume', 'quarantine'] as const) {
    app.post<{ Params: { id: string }; Querystring: { tenant?: string }; Body: { reason?: string } | undefined }>(
      `/v1/agents/:id/${t}`,
      { schema: { params: agentIdParam, querystring: tenantQuery, body: reasonBody }, preValidation: emptyBody },
      async (req) => {
        const a = await operatorAuth(req, 'agents:write', `agent:${req.params.id}`);
        const reason = req.body?.reason;
        const agent = await w.agents[t](a.tenant, req.params.id, { actor: { human: a.operator.id }, ...(reason ? { reason } : {}) });
        return agentView(agent);
      },
    );
  }

  app.post<{ Params: { id: string }; Querystring: { tenant?: string }; Body: { ttl_seconds?: number; scope?: string[] } | undefined }>(
    '/v1/agents/:id/passports',
    { schema: { params: agentIdParam, querystring: tenantQuery, body: issueBody }, preValidation: emptyBody },
    async (req, reply) => {
      const a = await operatorAuth(req, 'passports:issue', `agent:${req.params.id}`);
      const p = await w.passports.issue(a.tenant, req.params.id, {
        actor: { human: a.operator.id },
        ...(req.body?.ttl_seconds !== undefined ? { ttlMs: req.body.ttl_seconds * 1000 } : {}),
        ...(req.body?.scope ? { scope: req.body.scope } : {}),
      });
      return reply.status(201).send({ token: p.token, jti: p.jti, expires_at: p.expires_at });
    },
  );

  app.post<{ Querystring: { tenant?: string }; Body: { jti?: string; agent?: string } }>(
    '/v1/passports/revoke',
    { schema: { querystring: tenantQuery, body: revokeBody } },
    async (req) => {
      const resource = req.body.jti !== undefined ? `passport:${req.body.jti}` : `agent:${String(req.body.agent)}`;
      const a = await operatorAuth(req, 'passports:revoke', resource);
      const ctx = { actor: { human: a.operator.id } };
      if (req.body.jti !== undefined) {
        await w.passports.revoke(a.tenant, req.body.jti, ctx);
        return { revoked: { jti: req.body.jti } };
      }
      const agent = await w.passports.revokeAgent(a.tenant, req.body.agent as string, ctx);
      return { revoked: { agent: agent.id, passports_not_before: agent.passports_not_before } };
    },
  );

  // The authenticated actor chain of a passport holder or an operator.
  app.get('/v1/whoami', { schema: { response: { 200: whoamiResponse } } }, async (req) => {
    let token: string;
    try {
      const cred = bearerCredential(req.headers.authorization);
      if (cred.kind === 'operator') {
        const a = await w.operators.authenticate(cred.token, { correlationId: req.id });
        return {
          tenant: a.tenant,
          actor: { human: a.operator.id, agent: null, service: null },
          operator: { id: a.operator.id, roles: a.operator.roles },
        };
      }
      token = cred.token;
    } catch (err) {
      if (err instanceof AuthError && req.headers.authorization?.includes(TOKEN_PREFIX)) throw err;
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
