/**
 * MCP gateway routes: a remote `warden mcp proxy` (with the agent's passport) submits the tool
 * lists it sees for review (pinning, poisoning scan, SchemaPin); operators list pins and approve
 * a blocked tool's new version. In this mode the definitions come from the agent's side: an
 * agent can review only tools it is granted, a review never unblocks a tool or weakens a valid
 * signature, and signing keys are fetched by Warden itself.
 */
import type { FastifyInstance } from 'fastify';
import type { Warden } from '../context.js';
import { AuthError } from '../errors.js';
import { fetchDiscovery } from '../mcp/discovery.js';
import { MAX_TOOLS, type PinState, type ToolDefinition } from '../mcp/pins.js';
import type { RequestAuthenticator } from './auth.js';

const reviewBody = {
  type: 'object',
  required: ['server', 'tools'],
  additionalProperties: false,
  properties: {
    server: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$' },
    tools: { type: 'array', maxItems: MAX_TOOLS, items: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 136 } } } },
    correlation_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' },
    // The signing domain only: Warden fetches its key itself (https://DOMAIN/.well-known/schemapin.json), never from the agent.
    discovery: { type: 'object', required: ['domain'], additionalProperties: false, properties: { domain: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$' } } },
  },
} as const;
const approveBody = {
  type: 'object',
  required: ['server', 'tool'],
  additionalProperties: false,
  properties: { server: { type: 'string', maxLength: 32 }, tool: { type: 'string', maxLength: 136 }, hash: { type: 'string', maxLength: 80 } },
} as const;

export function registerMcpRoutes(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  app.post<{ Body: { server: string; tools: ToolDefinition[]; correlation_id?: string; discovery?: { domain: string } } }>(
    '/v1/mcp/tools/review',
    { schema: { body: reviewBody } },
    async (req) => {
      const c = await authn.caller(req);
      if (c.principal.kind !== 'agent') throw new AuthError('agent passport required', { forbidden: true });
      const tenant = c.principal.tenant;
      const claims = c.principal.passport.claims;
      // The registry's current capabilities, narrowed by the passport's scope: an agent reviews (and may pin) only tools it is granted.
      const grants = { capabilities: (await w.store.getAgent(tenant, claims.sub))?.capabilities ?? [], scope: claims.scope };
      const domain = req.body.discovery?.domain;
      const document = domain ? await fetchDiscovery(domain).catch(() => ({ unavailable: true })) : undefined;
      const tools = await w.pins.review(tenant, req.body.server, req.body.tools, {
        actor: c.actor, correlationId: req.body.correlation_id ?? req.id, grants, ...(domain ? { discovery: { domain, document } } : {}),
      });
      return { tools };
    },
  );

  app.get<{ Querystring: { state?: PinState } }>(
    '/v1/mcp/pins',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['pinned', 'changed', 'poisoned'] }, tenant: { type: 'string' } } } } },
    async (req) => {
      const { principal } = await authn.operator(req, 'policy:read', 'mcp/pins');
      return { pins: await w.pins.list(principal.tenant, req.query.state) };
    },
  );

  app.post<{ Body: { server: string; tool: string; hash?: string } }>(
    '/v1/mcp/pins/approve',
    { schema: { body: approveBody } },
    async (req) => {
      const { principal, actor } = await authn.operator(req, 'policy:write', 'mcp/pins');
      return { pin: await w.pins.approve(principal.tenant, req.body.server, req.body.tool, { id: principal.human, actor }, req.body.hash) };
    },
  );
}
