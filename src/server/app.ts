import Fastify, { type FastifyInstance } from 'fastify';
import type { Warden } from '../context.js';
import { WardenError } from '../errors.js';
import { buildTrustBundle } from '../ledger/trust.js';
import { TENANT_NAME } from '../config/schema.js';

/** One error format for every route: `{ error: { code, message } }`. */
function statusFor(err: unknown): number {
  if (!(err instanceof WardenError)) return 500;
  switch (err.code) {
    case 'BAD_INPUT':
    case 'CONFIG_INVALID':
      return 400;
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

  app.get<{ Params: { tenant: string } }>('/v1/ledger/:tenant/checkpoint', { schema: { params: tenantParam } }, async (req, reply) => {
    const cp = await w.checkpointer.checkpoint(req.params.tenant);
    return reply.type('text/plain; charset=utf-8').send(cp.note);
  });

  return app;
}
