import type { AgentPrincipal, OperatorPrincipal, PolicyRequest } from '../../src/policy/engine.js';

export function agent(over: Partial<AgentPrincipal> = {}): AgentPrincipal {
  return { kind: 'agent', id: 'bot', tenant: 'acme', type: 'agent', tier: 'process', trust_level: 50, roles: [], capabilities: [], scope: [], ...over };
}

export function operator(over: Partial<OperatorPrincipal> = {}): OperatorPrincipal {
  return { kind: 'operator', id: 'olive', tenant: 'acme', roles: [], ...over };
}

export const BASE_CONTEXT = { risk: 10, risk_level: 'low', delegated: false };

/** A tool call by `agent()` in tenant acme; override anything. */
export function req(over: Partial<PolicyRequest> = {}, context: Record<string, unknown> = {}): PolicyRequest {
  return { principal: agent(), action: 'tool.call', resource: 'tool:search', tenant: 'acme', context: { ...BASE_CONTEXT, ...context }, ...over };
}

/** `@id("id")` + the policy body. */
export function pol(id: string, body: string, annotations = ''): string {
  return `@id("${id}")${annotations ? ` ${annotations}` : ''}\n${body}\n`;
}
