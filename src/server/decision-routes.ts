/**
 * Decision routes: agents ask (`POST /v1/decisions`) and report outcomes; operators resolve
 * approvals, manage policy versions and read receipts with their proofs.
 */
import type { FastifyInstance } from 'fastify';
import { assertApprovalId, type ApprovalState } from '../approvals/approvals.js';
import type { Warden } from '../context.js';
import { AuthError, WardenError } from '../errors.js';
import { DECISION_KIND, assertDecisionId, type DecisionRecordBody, type OutcomeReport } from '../gateway/gateway.js';
import { proveReceipt } from '../ledger/proofs.js';
import { compilePolicyAsync } from '../policy/engine.js';
import { MAX_WHATIF, whatIf } from '../policy/whatif.js';
import type { RequestAuthenticator } from './auth.js';

const ACTION = '^[a-z][a-z0-9_.-]{0,63}$';
const decisionBody = {
  type: 'object',
  required: ['action', 'resource'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', pattern: ACTION },
    resource: { type: 'string', minLength: 3, maxLength: 256 },
    tenant: { type: 'string', maxLength: 63 },
    context: { type: 'object', maxProperties: 64 },
    payload: { type: 'object', maxProperties: 256 },
    sensitive: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 256 } },
    correlation_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
    destinations: { type: 'array', maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 253 } },
    untrusted: {
      type: 'array', maxItems: 16,
      items: {
        type: 'object', required: ['text'], additionalProperties: false,
        properties: { source: { type: 'string', minLength: 1, maxLength: 256 }, text: { type: 'string', maxLength: 262_144 } },
      },
    },
  },
} as const;
const decisionResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    decision: { type: 'string', enum: ['allow', 'deny', 'allow_with_conditions', 'require_approval'] },
    reasons: { type: 'array', items: { type: 'string' } },
    obligations: { type: 'array', items: { type: 'string' } },
    policy_version: { type: ['string', 'null'] },
    risk: { type: 'object', properties: { score: { type: 'number' }, level: { type: 'string' } } },
    approval: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' }, role: { type: 'string' }, expires_at: { type: 'string' } } },
    receipt: { type: ['object', 'null'], properties: { tenant: { type: 'string' }, seq: { type: 'integer' }, id: { type: 'string' } } },
    tainted: { type: 'boolean' },
    firewall: {
      type: 'object',
      properties: {
        findings: {
          type: 'array',
          items: { type: 'object', properties: { detector: { type: 'string' }, type: { type: 'string' }, severity: { type: 'string' }, path: { type: 'string' }, message: { type: 'string' } } },
        },
        payload: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;
const outcomeBody = {
  type: 'object',
  required: ['status'],
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['succeeded', 'failed', 'aborted'] },
    details: { type: 'object', maxProperties: 64 },
    // What the tool returned: scanned (injection taints the session; DLP redacts) and answered in the redacted form.
    result: {
      type: 'object', required: ['texts'], additionalProperties: false,
      properties: { texts: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 4_194_304 } } },
    },
  },
} as const;
const permittedBody = {
  type: 'object',
  required: ['action', 'resources'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', pattern: ACTION },
    resources: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 3, maxLength: 256 } },
    correlation_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
  },
} as const;
const idParam = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
const resolveBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;

const MAX_WAIT_S = 30;
/** Long-polls held open at once per tenant; beyond it a poll answers at once (no waiting). */
const MAX_WAITING_PER_TENANT = 64;

export function registerDecisionRoutes(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  const waiting = new Map<string, number>();
  /** The caller must be an agent with a passport (operators administer, agents act). */
  const agentCaller = async (req: Parameters<RequestAuthenticator['caller']>[0]) => {
    const c = await authn.caller(req);
    if (c.principal.kind !== 'agent') {
      await w.operators.recordDeny(c.principal.tenant, c.actor, 'decision.request', req.url.split('?')[0] ?? '', 'agent passport required', {}, req.id);
      throw new AuthError('agent passport required', { forbidden: true });
    }
    return { passport: c.principal.passport, actor: c.actor };
  };

  app.post<{ Body: Parameters<Warden['gateway']['decide']>[1] }>(
    '/v1/decisions',
    { schema: { body: decisionBody, response: { 200: decisionResponse } } },
    async (req) => w.gateway.decide(await agentCaller(req), req.body, req.id),
  );

  // Which resources policy could let the calling agent reach (least-privilege listings); decides and receipts nothing.
  app.post<{ Body: { action: string; resources: string[]; correlation_id?: string } }>(
    '/v1/decisions/permitted',
    { schema: { body: permittedBody } },
    async (req) => ({ permitted: await w.gateway.permitted(await agentCaller(req), req.body.action, req.body.resources, req.body.correlation_id ?? req.id) }),
  );

  app.post<{ Params: { id: string }; Body: OutcomeReport }>(
    '/v1/decisions/:id/outcome',
    { schema: { params: idParam, body: outcomeBody } },
    async (req, reply) => reply.status(201).send(await w.gateway.outcome(await agentCaller(req), req.params.id, req.body, req.id)),
  );

  app.get<{ Params: { id: string } }>('/v1/decisions/:id', { schema: { params: idParam } }, async (req) => {
    assertDecisionId(req.params.id);
    const c = await authn.caller(req);
    if (c.principal.kind === 'operator') w.operators.authorize(c.principal, 'decisions:read');
    const rec = await w.store.getRecord(c.principal.tenant, DECISION_KIND, req.params.id);
    if (!rec) throw new WardenError('NOT_FOUND', `no decision ${req.params.id}`);
    const body = JSON.parse(rec.body) as DecisionRecordBody;
    if (c.principal.kind === 'agent' && body.agent !== c.principal.passport.claims.sub) throw new WardenError('NOT_FOUND', `no decision ${req.params.id}`);
    return body;
  });

  // ---- approvals ----

  app.get<{ Querystring: { state?: ApprovalState; limit?: number } }>(
    '/v1/approvals',
    {
      schema: {
        querystring: {
          type: 'object', additionalProperties: false,
          properties: { state: { type: 'string', enum: ['pending', 'approved', 'denied', 'expired'] }, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
    async (req) => {
      const { principal } = await authn.operator(req, 'approvals:read', 'approvals');
      return { approvals: await w.approvals.list(principal.tenant, req.query.state, req.query.limit ?? 100) };
    },
  );

  // The requesting agent polls (or long-polls with ?wait=seconds) its own approval; operators read any.
  app.get<{ Params: { id: string }; Querystring: { wait?: number } }>(
    '/v1/approvals/:id',
    { schema: { params: idParam, querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'integer', minimum: 0, maximum: MAX_WAIT_S } } } } },
    async (req) => {
      assertApprovalId(req.params.id);
      const c = await authn.caller(req);
      if (c.principal.kind === 'operator') w.operators.authorize(c.principal, 'approvals:read');
      const tenant = c.principal.tenant;
      const busy = (waiting.get(tenant) ?? 0) >= MAX_WAITING_PER_TENANT;
      const deadline = Date.now() + (busy ? 0 : (req.query.wait ?? 0)) * 1000;
      waiting.set(tenant, (waiting.get(tenant) ?? 0) + 1);
      try {
        for (;;) {
          const a = await w.approvals.get(tenant, req.params.id);
          if (c.principal.kind === 'agent' && a.agent !== c.principal.passport.claims.sub) throw new WardenError('NOT_FOUND', `no approval ${req.params.id}`);
          if (a.state !== 'pending' || Date.now() >= deadline || req.raw.destroyed) return a;
          await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))));
        }
      } finally {
        const n = (waiting.get(tenant) ?? 1) - 1;
        if (n > 0) waiting.set(tenant, n);
        else waiting.delete(tenant);
      }
    },
  );

  for (const verdict of ['approve', 'deny'] as const) {
    app.post<{ Params: { id: string }; Body: { reason: string } }>(
      `/v1/approvals/:id/${verdict}`,
      { schema: { params: idParam, body: resolveBody } },
      async (req) => {
        const { principal, actor } = await authn.operator(req, 'approvals:resolve', `approval:${req.params.id}`);
        try {
          return await w.approvals.resolve(principal.tenant, req.params.id, principal, verdict, req.body.reason, req.id);
        } catch (err) {
          if (err instanceof AuthError) {
            await w.operators.recordDeny(principal.tenant, actor, `approval.${verdict}`, `approval:${req.params.id}`, err.reason, { approval_id: req.params.id }, req.id);
          }
          throw err;
        }
      },
    );
  }

  // ---- receipts and proofs (operators; their own tenant) ----

  app.get<{ Params: { seq: number } }>(
    '/v1/receipts/:seq',
    { schema: { params: { type: 'object', required: ['seq'], properties: { seq: { type: 'integer', minimum: 0 } } } } },
    async (req, reply) => {
      const { principal } = await authn.operator(req, 'ledger:read', `receipt:${req.params.seq}`);
      const [row] = await w.store.getReceipts(principal.tenant, req.params.seq, 1);
      if (!row) throw new WardenError('NOT_FOUND', `tenant ${principal.tenant} has no receipt ${req.params.seq}`);
      // The leaf exactly as signed: clients verify these bytes.
      return reply.type('application/json; charset=utf-8').send(row.leaf);
    },
  );

  app.get<{ Params: { seq: number } }>(
    '/v1/receipts/:seq/proof',
    { schema: { params: { type: 'object', required: ['seq'], properties: { seq: { type: 'integer', minimum: 0 } } } } },
    async (req, reply) => {
      const { principal } = await authn.operator(req, 'ledger:read', `receipt:${req.params.seq}`);
      const proof = await proveReceipt(w.store, w.checkpointer, principal.tenant, req.params.seq);
      return reply.type('text/plain; charset=utf-8').send(proof);
    },
  );
}

const policyBody = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: { text: { type: 'string', minLength: 1, maxLength: 1024 * 1024 }, reason: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;
const rollbackBody = {
  type: 'object',
  additionalProperties: false,
  properties: { version: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' }, reason: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

/** Policy versions over HTTP: read (`policy:read`), deploy and roll back (`policy:write`), all receipted. */
export function registerPolicyRoutes(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  app.get('/v1/policy', async (req) => {
    const { principal } = await authn.operator(req, 'policy:read', 'policy');
    const active = await w.policies.active(principal.tenant);
    if (!active) throw new WardenError('NOT_FOUND', `tenant ${principal.tenant} has no policy deployed`);
    const v = await w.policies.get(principal.tenant, active.version);
    return { version: active.version, text: v.text };
  });

  app.get('/v1/policy/versions', async (req) => {
    const { principal } = await authn.operator(req, 'policy:read', 'policy');
    return { versions: await w.policies.list(principal.tenant) };
  });

  app.post<{ Body: { text: string; reason?: string } }>('/v1/policy', { schema: { body: policyBody } }, async (req, reply) => {
    const { principal } = await authn.operator(req, 'policy:write', 'policy');
    const r = await w.policies.deploy(principal.tenant, req.body.text, { actor: { human: principal.human }, ...(req.body.reason ? { reason: req.body.reason } : {}) });
    return reply.status(r.changed ? 201 : 200).send(r);
  });

  app.post<{ Body: { version?: string; reason?: string } | undefined }>(
    '/v1/policy/rollback',
    { schema: { body: rollbackBody }, preValidation: async (req) => { req.body ??= {}; } },
    async (req) => {
      const { principal } = await authn.operator(req, 'policy:write', 'policy');
      return w.policies.rollback(principal.tenant, req.body?.version, { actor: { human: principal.human }, ...(req.body?.reason ? { reason: req.body.reason } : {}) });
    },
  );
}

const whatIfBody = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: { text: { type: 'string', minLength: 1, maxLength: 1024 * 1024 }, last: { type: 'integer', minimum: 1, maximum: MAX_WHATIF } },
} as const;

/** What-if replay of a candidate policy against recent decisions (`policy:read`; read-only). */
export function registerWhatIfRoute(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  app.post<{ Body: { text: string; last?: number } }>('/v1/policy/whatif', { schema: { body: whatIfBody } }, async (req) => {
    const { principal } = await authn.operator(req, 'policy:read', 'policy');
    // Compiling a large candidate runs on a worker thread: the server keeps answering.
    return whatIf(w.store, principal.tenant, await compilePolicyAsync(req.body.text), req.body.last ?? 1000);
  });
}
