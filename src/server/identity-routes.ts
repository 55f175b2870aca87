/**
 * Identity routes: the agent registry and passports (operators, RBAC), token exchange (RFC 8693
 * delegation), agent keys (proof-of-possession renewal, artifact signatures).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Warden } from '../context.js';
import { TENANT_NAME } from '../config/schema.js';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import { coveredBy } from '../identity/scope.js';
import { AGENT_ID, AGENT_TIERS, CLAIM_TOKEN } from '../identity/agents.js';
import { TOKEN_PREFIX } from '../identity/operators.js';
import type { Delegator } from '../identity/passports.js';
import type { AgentRecord } from '../store/types.js';
import type { RequestAuthenticator } from './auth.js';

export function agentView(a: AgentRecord): Omit<AgentRecord, 'tenant'> {
  const { tenant: _tenant, ...rest } = a;
  return rest;
}


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
/** The agent fields an operator sets at creation and may change later. */
const agentFields = {
  type: { type: 'string', pattern: AGENT_ID.source },
  owner: { type: ['string', 'null'], minLength: 1, maxLength: 256 },
  roles: claimList,
  capabilities: claimList,
  trust_level: { type: 'integer', minimum: 0, maximum: 100 },
  tier: { type: 'string', enum: [...AGENT_TIERS] },
} as const;
const createAgentBody = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: AGENT_ID.source }, ...agentFields },
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

const publicKey = { type: ['string', 'null'], pattern: '^[A-Za-z0-9_-]{43}$' } as const;
const updateAgentBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { ...agentFields, public_key: publicKey },
} as const;
const passportResponse = {
  type: 'object',
  properties: { token: { type: 'string' }, jti: { type: 'string' }, expires_at: { type: 'string' }, scope: { type: 'array', items: { type: 'string' } } },
} as const;
const tenantRequired = {
  type: 'object',
  required: ['tenant'],
  additionalProperties: false,
  properties: { tenant: { type: 'string', pattern: TENANT_NAME.source } },
} as const;
const renewBody = {
  type: 'object',
  required: ['agent', 'challenge', 'signature'],
  additionalProperties: false,
  properties: {
    agent: { type: 'string', pattern: AGENT_ID.source },
    challenge: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    signature: { type: 'string', pattern: '^[A-Za-z0-9_-]{86}$' },
    ttl_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
    scope: claimList,
  },
} as const;
const artifactBody = {
  type: 'object',
  required: ['artifact', 'signature'],
  additionalProperties: false,
  properties: { artifact: {}, signature: { type: 'string', maxLength: 128 } },
} as const;

/** RFC 8693 token exchange (§2.1), plus Warden's `agent` parameter (see docs/identity.md). */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TOKEN_TYPES = {
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  access: 'urn:ietf:params:oauth:token-type:access_token',
  id: 'urn:ietf:params:oauth:token-type:id_token',
} as const;
const tokenExchangeBody = {
  type: 'object',
  required: ['grant_type', 'subject_token', 'subject_token_type'],
  additionalProperties: false,
  properties: {
    grant_type: { type: 'string', const: TOKEN_EXCHANGE },
    subject_token: { type: 'string', minLength: 1, maxLength: 8192 },
    subject_token_type: { type: 'string', enum: Object.values(TOKEN_TYPES) },
    actor_token: { type: 'string', minLength: 1, maxLength: 8192 },
    actor_token_type: { type: 'string', enum: [TOKEN_TYPES.jwt, TOKEN_TYPES.access] },
    requested_token_type: { type: 'string', enum: [TOKEN_TYPES.jwt, TOKEN_TYPES.access] },
    audience: { type: 'string', maxLength: 256 },
    scope: { type: 'string', maxLength: 8192 },
    /** Warden extension: the agent to delegate to, when the delegator calls without an actor_token. */
    agent: { type: 'string', pattern: AGENT_ID.source },
    ttl_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
  },
} as const;

interface TokenExchange {
  grant_type: string;
  subject_token: string;
  subject_token_type: string;
  actor_token?: string;
  actor_token_type?: string;
  requested_token_type?: string;
  audience?: string;
  scope?: string;
  agent?: string;
  ttl_seconds?: number;
}

/** Registers the identity routes; `authn` resolves callers (operators, OIDC, passports, mTLS). */
export function registerIdentityRoutes(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  // ---- admin API (operators, RBAC) ----

  app.get<{ Querystring: { tenant?: string } }>('/v1/agents', { schema: { querystring: tenantQuery } }, async (req) => {
    const { principal: a } = await authn.operator(req, 'agents:read', 'agents');
    return { agents: (await w.agents.list(a.tenant)).map(agentView) };
  });

  app.post<{ Querystring: { tenant?: string }; Body: { id: string; type?: string; owner?: string | null; roles?: string[]; capabilities?: string[]; trust_level?: number; tier?: string } }>(
    '/v1/agents',
    { schema: { querystring: tenantQuery, body: createAgentBody } },
    async (req, reply) => {
      const { principal: a } = await authn.operator(req, 'agents:write', `agent:${req.body.id}`);
      const agent = await w.agents.create(a.tenant, req.body, { actor: { human: a.human } });
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
        const { principal: a, actor } = await authn.operator(req, 'agents:write', `agent:${req.params.id}`);
        const reason = req.body?.reason;
        // Lifting a quarantine ends incident response: it needs incidents:write, not only agents:write.
        if (t === 'resume' && (await w.agents.get(a.tenant, req.params.id)).state === 'quarantined') {
          try {
            w.operators.authorize(a, 'incidents:write');
          } catch (err) {
            await w.operators.recordDeny(a.tenant, actor, 'operator.authorize', `agent:${req.params.id}`, (err as AuthError).reason, { permission: 'incidents:write', via: a.via }, req.id);
            throw err;
          }
        }
        const agent = await w.agents[t](a.tenant, req.params.id, { actor: { human: a.human }, ...(reason ? { reason } : {}) });
        return agentView(agent);
      },
    );
  }

  app.post<{ Params: { id: string }; Querystring: { tenant?: string }; Body: { ttl_seconds?: number; scope?: string[] } | undefined }>(
    '/v1/agents/:id/passports',
    { schema: { params: agentIdParam, querystring: tenantQuery, body: issueBody }, preValidation: emptyBody },
    async (req, reply) => {
      const { principal: a } = await authn.operator(req, 'passports:issue', `agent:${req.params.id}`);
      const p = await w.passports.issue(a.tenant, req.params.id, {
        actor: { human: a.human },
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
      const { principal: a } = await authn.operator(req, 'passports:revoke', resource);
      const ctx = { actor: { human: a.human } };
      if (req.body.jti !== undefined) {
        await w.passports.revoke(a.tenant, req.body.jti, ctx);
        return { revoked: { jti: req.body.jti } };
      }
      const agent = await w.passports.revokeAgent(a.tenant, req.body.agent as string, ctx);
      return { revoked: { agent: agent.id, passports_not_before: agent.passports_not_before } };
    },
  );


  app.get<{ Params: { id: string }; Querystring: { tenant?: string } }>(
    '/v1/agents/:id',
    { schema: { params: agentIdParam, querystring: tenantQuery } },
    async (req) => {
      const { principal: a } = await authn.operator(req, 'agents:read', `agent:${req.params.id}`);
      return agentView(await w.agents.get(a.tenant, req.params.id));
    },
  );

  app.patch<{ Params: { id: string }; Querystring: { tenant?: string }; Body: Record<string, unknown> }>(
    '/v1/agents/:id',
    { schema: { params: agentIdParam, querystring: tenantQuery, body: updateAgentBody } },
    async (req) => {
      const { principal: a } = await authn.operator(req, 'agents:write', `agent:${req.params.id}`);
      // A key lets its holder obtain passports: setting one needs the right to issue them.
      if (req.body.public_key !== undefined) await authn.operator(req, 'passports:issue', `agent:${req.params.id}`);
      return agentView(await w.agents.update(a.tenant, req.params.id, req.body, { actor: { human: a.human } }));
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { tenant?: string } }>(
    '/v1/agents/:id',
    { schema: { params: agentIdParam, querystring: tenantQuery } },
    async (req) => {
      const { principal: a } = await authn.operator(req, 'agents:write', `agent:${req.params.id}`);
      return agentView(await w.agents.delete(a.tenant, req.params.id, { actor: { human: a.human } }));
    },
  );

  // ---- agent keys: proof of possession ----

  // Unauthenticated by design: the signed answer is the credential. Answers for any agent id.
  app.post<{ Params: { id: string }; Querystring: { tenant: string } }>(
    '/v1/agents/:id/challenge',
    { schema: { params: agentIdParam, querystring: tenantRequired } },
    async (req) => w.passports.challenge(req.query.tenant, req.params.id),
  );

  app.post<{ Querystring: { tenant: string }; Body: { agent: string; challenge: string; signature: string; ttl_seconds?: number; scope?: string[] } }>(
    '/v1/passports/renew',
    { schema: { querystring: tenantRequired, body: renewBody, response: { 201: passportResponse } } },
    async (req, reply) => {
      const peer = authn.peer(req);
      const id = peer?.spiffe;
      if (peer && id && (id.kind !== 'agent' || id.id !== req.body.agent || id.tenant !== req.query.tenant)) {
        const crossTenant = id.tenant !== req.query.tenant;
        const reason = crossTenant ? 'client certificate belongs to another tenant' : "client certificate is not this agent's";
        await w.audit.deny({
          tenant: req.query.tenant, actor: { agent: req.body.agent }, action: 'mtls.bind', resource: `${id.kind}:${id.id}`, reason,
          payload: { certificate: id.uri, thumbprint: peer.thumbprint }, correlationId: req.id,
          category: crossTenant ? 'cross_tenant' : 'auth_failure', severity: 'high',
        });
        throw new AuthError(reason, { forbidden: crossTenant });
      }
      const p = await w.passports.renew(req.query.tenant, req.body.agent, req.body, {
        correlationId: req.id,
        ...(req.body.scope ? { scope: req.body.scope } : {}),
        ...(req.body.ttl_seconds !== undefined ? { ttlMs: req.body.ttl_seconds * 1000 } : {}),
        // Over mTLS the new passport is bound to the certificate it was renewed with.
        ...(peer ? { certThumbprint: peer.thumbprint } : {}),
      });
      return reply.status(201).send({ token: p.token, jti: p.jti, expires_at: p.expires_at, scope: p.claims.scope });
    },
  );

  app.post<{ Params: { id: string }; Querystring: { tenant?: string }; Body: { artifact: unknown; signature: string } }>(
    '/v1/agents/:id/artifacts/verify',
    { schema: { params: agentIdParam, querystring: tenantQuery, body: artifactBody } },
    async (req) => {
      const { principal: a } = await authn.operator(req, 'agents:read', `agent:${req.params.id}`);
      const r = await w.passports.verifyArtifact(a.tenant, req.params.id, req.body.artifact, req.body.signature);
      return { agent: req.params.id, ...r };
    },
  );

  // ---- delegation: RFC 8693 token exchange ----

  app.post<{ Body: TokenExchange }>(
    '/v1/token',
    { schema: { body: tokenExchangeBody } },
    async (req, reply) => {
      const b = req.body;
      const audience = w.loaded.config.identity.audience;
      if (b.audience !== undefined && b.audience !== audience) throw new BadInputError(`audience must be "${audience}" (the passports this Warden issues)`);
      if ((b.actor_token === undefined) === (b.agent === undefined)) throw new BadInputError('name the agent with either actor_token (its passport) or agent');
      if (b.actor_token !== undefined && b.actor_token_type === undefined) throw new BadInputError('actor_token_type is required with actor_token');
      const peer = authn.peer(req);
      // The delegator: whoever the subject token authenticates.
      const subjectKind = b.subject_token.startsWith(TOKEN_PREFIX) ? 'operator' : 'jwt';
      const subject = await authn.token(b.subject_token, subjectKind, subjectKind === 'jwt' && b.actor_token !== undefined ? undefined : peer, req.id);
      // Without an actor_token the delegator is the caller: its certificate must match it first.
      if (b.actor_token === undefined) await authn.bindPeer(subject, peer, req.id);
      let delegator: Delegator;
      if (subject.kind === 'operator') {
        try {
          w.operators.authorize(subject, 'passports:issue');
        } catch (err) {
          await w.operators.recordDeny(subject.tenant, { human: subject.human }, 'token.exchange', `agent:${b.agent ?? 'actor_token'}`, (err as AuthError).reason, { permission: 'passports:issue' }, req.id);
          throw err;
        }
        delegator = { typ: 'human', id: subject.human, grants: '*', notAfter: subject.notAfter };
      } else {
        // An agent hands on authority only to an agent that takes part: it must present its own passport.
        if (b.actor_token === undefined) {
          const reason = 'an agent delegates only to an agent that presents its own passport (actor_token)';
          await w.audit.deny({
            tenant: subject.tenant, actor: { agent: subject.passport.claims.sub }, action: 'token.exchange', resource: `agent:${b.agent ?? ''}`,
            reason, correlationId: req.id, category: 'privilege_escalation', severity: 'high',
          });
          throw new WardenError('FORBIDDEN', reason);
        }
        const c = subject.passport.claims;
        // What it may hand on: its passport's grants, cut to what the registry allows it now.
        const current = (await w.agents.get(subject.tenant, c.sub)).capabilities;
        const grants = (c.scope.length ? c.scope : c.capabilities).filter((g) => coveredBy(current, g));
        delegator = { typ: 'agent', id: c.sub, jti: c.jti, grants, notAfter: c.exp, ...(c.act ? { act: c.act } : {}) };
      }
      // The agent: its own passport (it is the caller), or named by the delegator.
      let agentId: string;
      let agentTenant: string;
      if (b.actor_token !== undefined) {
        const actor = await w.passports.authenticate(b.actor_token, { correlationId: req.id, certThumbprint: peer?.thumbprint });
        // The agent is the caller: its certificate must be its own, as on every route.
        await authn.bindPeer({ kind: 'agent', tenant: actor.tenant, passport: actor }, peer, req.id);
        agentId = actor.claims.sub;
        agentTenant = actor.tenant;
      } else {
        agentId = b.agent as string;
        agentTenant = subject.tenant;
      }
      if (agentTenant !== subject.tenant) {
        await w.audit.deny({
          tenant: subject.tenant, actor: subject.kind === 'operator' ? { human: subject.human } : { agent: delegator.id },
          action: 'token.exchange', resource: `agent:${agentId}`, reason: 'delegation across tenants', category: 'cross_tenant', severity: 'high',
          payload: { agent_tenant: agentTenant }, correlationId: req.id,
        });
        throw new AuthError('delegation across tenants', { forbidden: true });
      }
      // A service certificate on the connection is the service path the delegation went through.
      if (peer?.spiffe?.kind === 'service' && peer.spiffe.tenant === subject.tenant) {
        const inner = { sub: delegator.id, typ: delegator.typ, ...(delegator.act ? { act: delegator.act } : {}) };
        delegator = { ...delegator, typ: 'service', id: peer.spiffe.id, act: inner };
      }
      const scope = b.scope === undefined ? undefined : b.scope.split(' ').filter((s) => s !== '');
      const p = await w.passports.delegate(agentTenant, agentId, delegator, {
        correlationId: req.id,
        ...(scope ? { scope } : {}),
        ...(b.ttl_seconds !== undefined ? { ttlMs: b.ttl_seconds * 1000 } : {}),
        // Bound to the client certificate of the party that will hold it: the agent calling with its actor_token.
        ...(peer && b.actor_token !== undefined ? { certThumbprint: peer.thumbprint } : {}),
      });
      void reply.header('cache-control', 'no-store');
      return {
        access_token: p.token,
        issued_token_type: TOKEN_TYPES.jwt,
        token_type: 'Bearer',
        expires_in: Math.max(0, p.claims.exp - Math.floor(Date.now() / 1000)),
        scope: p.claims.scope.join(' '),
      };
    },
  );
}
