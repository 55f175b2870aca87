/**
 * The Warden Cedar schema (namespace `Warden`) and the helpers that turn a decision request
 * into Cedar values: resource strings into entity uids, JSON contexts into checked Cedar
 * records. Policies are validated against this schema in strict mode before they are accepted
 * (engine.ts), so a policy can only name entity types, attributes, actions and context fields
 * that exist here.
 *
 * Every resource entity carries `tenant` (the owning tenant) and `ref` (the resource string as
 * requested, e.g. `tool:send_email`), so `resource.tenant == principal.tenant` and
 * `principal.capabilities.contains(resource.ref)` work for every action.
 */
import { BadInputError } from '../errors.js';

export const NAMESPACE = 'Warden';

export type EntityTypeName =
  | 'Warden::Tenant'
  | 'Warden::Role'
  | 'Warden::Agent'
  | 'Warden::Operator'
  | 'Warden::Tool'
  | 'Warden::McpTool'
  | 'Warden::Connector'
  | 'Warden::Dataset';

export const ROLE_TYPE: EntityTypeName = 'Warden::Role';

/** Cedar types a context field can have. */
export type FieldType = 'Long' | 'String' | 'Bool' | 'Set<String>' | 'Firewall';

export interface FieldSpec {
  type: FieldType;
  /** Present in every request (Cedar: not optional; policies read it without `has`). */
  required?: boolean;
  /** Set by Warden itself; a caller-supplied value is refused. */
  computed?: boolean;
  /** Filled in by the engine when absent (Warden-computed signals in policy tests and what-if replays of older decisions). */
  default?: CedarContextValue;
  /** Allowed values of a String field. */
  values?: readonly string[];
  /** Inclusive bounds of a Long field. */
  min?: number;
  max?: number;
  doc: string;
}

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;

/** The firewall's signals (`context.firewall`), computed by Warden from the request's inputs and payload. */
export const FIREWALL_FIELDS: Readonly<Record<string, { type: 'Bool' | 'Long' | 'Set<String>'; doc: string }>> = {
  injection: { type: 'Bool', doc: 'an untrusted input scored at or above the injection threshold' },
  injection_score: { type: 'Long', doc: 'the highest injection score of the untrusted inputs, 0-100' },
  dlp: { type: 'Set<String>', doc: 'types of sensitive data found in the payload (e.g. aws_access_key, credit_card, email)' },
  dlp_block: { type: 'Bool', doc: "a DLP finding whose configured action is block (the gateway denies it whatever policy says)" },
  honeytoken: { type: 'Bool', doc: 'a planted canary credential appeared in the request' },
  egress_allowed: { type: 'Bool', doc: "the destination (http: resource or context.domain) is on the tenant's egress allowlist (false when there is no allowlist); true when the action names no destination" },
  schema_valid: { type: 'Bool', doc: "the payload passed the tool's JSON Schema and argument checks; true when none is configured" },
  findings: { type: 'Long', doc: 'number of firewall findings' },
};

export const NEUTRAL_FIREWALL: Readonly<Record<string, CedarContextValue>> = {
  injection: false, injection_score: 0, dlp: [], dlp_block: false, honeytoken: false, egress_allowed: true, schema_valid: true, findings: 0,
};

/** The context of every agent action (tool.call, mcp.request, http.egress, agent.message, data.*). */
export const AGENT_CONTEXT: Readonly<Record<string, FieldSpec>> = {
  risk: { type: 'Long', required: true, min: 0, max: 100, doc: 'risk score 0-100 (risk scoring stage)' },
  risk_level: { type: 'String', required: true, values: RISK_LEVELS, doc: 'low | medium | high | critical' },
  delegated: { type: 'Bool', required: true, doc: 'the agent acts on a delegated passport (token exchange)' },
  granted: {
    type: 'Bool',
    required: true,
    computed: true,
    doc: "computed by Warden: the agent's effective grants (its passport scope, or its capabilities when the scope is empty; `*` wildcards as in passports) cover the resource's ref",
  },
  human: { type: 'String', doc: 'the human in the actor chain (OIDC subject), when there is one' },
  service: { type: 'String', doc: 'the service path (mTLS peer), when there is one' },
  amount: { type: 'Long', doc: 'an amount in minor units (cents)' },
  currency: { type: 'String', doc: 'ISO 4217 currency code of amount' },
  domain: { type: 'String', doc: 'a domain the action reaches' },
  method: { type: 'String', doc: 'an HTTP method or RPC verb' },
  path: { type: 'String', doc: 'a path (URL path, file path)' },
  data_class: { type: 'String', doc: 'classification of the data involved (e.g. public, internal, pii, secret)' },
  arguments: { type: 'Set<String>', doc: 'names of the arguments the call carries' },
  target_tenant: { type: 'String', doc: 'the tenant the action is aimed at, when it names one' },
  tool_signature: {
    type: 'String',
    doc: "set by Warden for a pinned MCP tool (mcp.request): its SchemaPin signature status — valid | unsigned | missing | invalid | revoked | key_changed | no_key",
  },
  tainted: {
    type: 'Bool', required: true, default: false,
    doc: 'set by Warden: the session (correlation id) has taken in untrusted content the injection detector flagged',
  },
  firewall: { type: 'Firewall', required: true, default: NEUTRAL_FIREWALL as unknown as CedarContextValue, doc: "set by Warden: the firewall's signals (see Firewall below)" },
};

/** The context of operator actions (agent.lifecycle, admin). */
export const OPERATOR_CONTEXT: Readonly<Record<string, FieldSpec>> = {
  operation: { type: 'String', doc: 'the operation, e.g. suspend, delete, policy.deploy' },
  reason: { type: 'String', doc: 'the reason the operator gave' },
};

export interface ActionSpec {
  principal: 'Warden::Agent' | 'Warden::Operator';
  resource: EntityTypeName;
  context: Readonly<Record<string, FieldSpec>>;
  contextType: 'AgentContext' | 'OperatorContext';
}

/** Every action id and what it applies to. */
export const ACTIONS: Readonly<Record<string, ActionSpec>> = {
  'tool.call': { principal: 'Warden::Agent', resource: 'Warden::Tool', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'mcp.request': { principal: 'Warden::Agent', resource: 'Warden::McpTool', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'http.egress': { principal: 'Warden::Agent', resource: 'Warden::Connector', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'agent.message': { principal: 'Warden::Agent', resource: 'Warden::Agent', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'data.read': { principal: 'Warden::Agent', resource: 'Warden::Dataset', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'data.write': { principal: 'Warden::Agent', resource: 'Warden::Dataset', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'data.delete': { principal: 'Warden::Agent', resource: 'Warden::Dataset', context: AGENT_CONTEXT, contextType: 'AgentContext' },
  'agent.lifecycle': { principal: 'Warden::Operator', resource: 'Warden::Agent', context: OPERATOR_CONTEXT, contextType: 'OperatorContext' },
  admin: { principal: 'Warden::Operator', resource: 'Warden::Tenant', context: OPERATOR_CONTEXT, contextType: 'OperatorContext' },
};

export const ACTION_IDS: readonly string[] = Object.keys(ACTIONS);
export const ACTION_TYPE = 'Warden::Action';

function recordType(fields: Readonly<Record<string, FieldSpec>>): string {
  const lines = Object.entries(fields).map(([name, f]) => `    ${name}${f.required ? '' : '?'}: ${f.type},`);
  return `{\n${lines.join('\n')}\n  }`;
}

function short(t: string): string {
  return t.slice(NAMESPACE.length + 2);
}

/** The schema in Cedar's schema syntax. */
export const SCHEMA_TEXT: string = `namespace ${NAMESPACE} {
  entity Tenant = { tenant: String };
  entity Role;
  entity Agent in [Role] = {
    tenant: String,
    ref: String,
    type: String,
    tier: String,
    trust_level: Long,
    capabilities: Set<String>,
    scope: Set<String>,
  };
  entity Operator in [Role] = { tenant: String };
  entity Tool = { tenant: String, ref: String, name: String };
  entity McpTool = { tenant: String, ref: String, server: String, name: String };
  entity Connector = { tenant: String, ref: String, host: String };
  entity Dataset = { tenant: String, ref: String, name: String };

  type Firewall = {
${Object.entries(FIREWALL_FIELDS).map(([k, f]) => `    ${k}: ${f.type},`).join('\n')}
  };
  type AgentContext = ${recordType(AGENT_CONTEXT)};
  type OperatorContext = ${recordType(OPERATOR_CONTEXT)};

${Object.entries(ACTIONS)
  .map(([id, a]) => `  action "${id}" appliesTo { principal: [${short(a.principal)}], resource: [${short(a.resource)}], context: ${a.contextType} };`)
  .join('\n')}
}
`;

// ------------------------------------------------------------------ resources

export interface ResourceRef {
  type: EntityTypeName;
  /** The Cedar entity id (the part after the prefix; hosts lower-cased). */
  id: string;
  /** The resource string, normalised (`tool:send_email`). */
  ref: string;
  /** Type-specific attributes besides tenant and ref (name, server, host). */
  attrs: Record<string, string>;
}

export const MAX_RESOURCE = 256;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const HOST = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*|\[[0-9a-f:.]+\])$/;

/** Whether a string is usable as an id or attribute (1-256 characters, no control characters). */
export function isPlainString(v: unknown, max = MAX_RESOURCE): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && !CONTROL.test(v);
}

/**
 * Maps a resource string to its entity: `tool:NAME` → Tool, `mcp:SERVER/TOOL` → McpTool,
 * `http:HOST` → Connector, `agent:ID` → Agent, `data:NAME` → Dataset, `tenant:NAME` → Tenant.
 */
export function parseResource(resource: unknown): ResourceRef {
  if (!isPlainString(resource)) {
    throw new BadInputError(`resource: expected 1-${MAX_RESOURCE} characters without control characters`);
  }
  const colon = resource.indexOf(':');
  const prefix = colon < 0 ? '' : resource.slice(0, colon);
  const rest = colon < 0 ? '' : resource.slice(colon + 1);
  const bad = (why: string): never => {
    throw new BadInputError(`resource ${JSON.stringify(resource)}: ${why}`);
  };
  if (rest.length === 0 && colon >= 0) bad('nothing after the prefix');
  switch (prefix) {
    case 'tool':
      return { type: 'Warden::Tool', id: rest, ref: resource, attrs: { name: rest } };
    case 'mcp': {
      const slash = rest.indexOf('/');
      if (slash <= 0 || slash === rest.length - 1) bad('expected mcp:SERVER/TOOL');
      return { type: 'Warden::McpTool', id: rest, ref: resource, attrs: { server: rest.slice(0, slash), name: rest.slice(slash + 1) } };
    }
    case 'http': {
      // Host names are case-insensitive: a forbid on `evil.example` must not be sidestepped by
      // `EVIL.example` or `evil.example.`; ports, schemes and paths are not part of a connector.
      let host = rest.toLowerCase();
      if (host.endsWith('.') && host.length > 1) host = host.slice(0, -1);
      if (!HOST.test(host)) bad('expected http:HOST (a host name or [IPv6], without scheme, port or path)');
      return { type: 'Warden::Connector', id: host, ref: `http:${host}`, attrs: { host } };
    }
    case 'agent':
      return { type: 'Warden::Agent', id: rest, ref: resource, attrs: {} };
    case 'data':
      return { type: 'Warden::Dataset', id: rest, ref: resource, attrs: { name: rest } };
    case 'tenant':
      return { type: 'Warden::Tenant', id: rest, ref: resource, attrs: {} };
    default:
      return bad('unknown resource prefix (expected tool:, mcp:, http:, agent:, data: or tenant:)');
  }
}

// ------------------------------------------------------------------ contexts

export const MAX_CONTEXT_STRING = 2048;
export const MAX_CONTEXT_SET = 256;

export type CedarContextValue = string | number | boolean | string[] | { [k: string]: CedarContextValue };

/**
 * Checks a caller's context against the action's context type and returns it as Cedar values.
 * Unknown, mistyped, out-of-range or computed fields are refused with a BadInputError naming
 * the field; a missing required field too.
 */
export function checkContext(action: string, context: unknown): Record<string, CedarContextValue> {
  const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!spec) throw new BadInputError(`unknown action ${JSON.stringify(action)} (expected one of ${ACTION_IDS.join(', ')})`);
  if (context === undefined || context === null) context = {};
  if (typeof context !== 'object' || Array.isArray(context)) throw new BadInputError('context: expected an object');
  const out: Record<string, CedarContextValue> = {};
  for (const [name, value] of Object.entries(context as Record<string, unknown>)) {
    const f = Object.hasOwn(spec.context, name) ? spec.context[name] : undefined;
    if (!f) {
      throw new BadInputError(`context.${name}: unknown field for action ${action} (expected ${Object.keys(spec.context).filter((k) => !spec.context[k]?.computed).join(', ')})`);
    }
    if (f.computed) throw new BadInputError(`context.${name}: computed by Warden, not accepted from the caller`);
    if (value === undefined) continue;
    out[name] = checkValue(`context.${name}`, f, value);
  }
  for (const [name, f] of Object.entries(spec.context)) {
    if (f.required && !f.computed && !(name in out)) {
      if (f.default === undefined) throw new BadInputError(`context.${name}: required for action ${action}`);
      out[name] = structuredClone(f.default);
    }
  }
  return out;
}

function checkValue(path: string, f: FieldSpec, v: unknown): CedarContextValue {
  switch (f.type) {
    case 'Long':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new BadInputError(`${path}: expected an integer (Long) within ±(2^53-1)`);
      if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) {
        throw new BadInputError(`${path}: expected ${f.min ?? '…'}-${f.max ?? '…'}, got ${v}`);
      }
      return v;
    case 'Bool':
      if (typeof v !== 'boolean') throw new BadInputError(`${path}: expected a boolean`);
      return v;
    case 'String':
      if (!isPlainString(v, MAX_CONTEXT_STRING)) throw new BadInputError(`${path}: expected a string of 1-${MAX_CONTEXT_STRING} characters without control characters`);
      if (f.values && !f.values.includes(v)) throw new BadInputError(`${path}: expected one of ${f.values.join(', ')}`);
      return v;
    case 'Set<String>': {
      if (!Array.isArray(v) || v.length > MAX_CONTEXT_SET) throw new BadInputError(`${path}: expected a list of at most ${MAX_CONTEXT_SET} strings`);
      for (const x of v) if (!isPlainString(x)) throw new BadInputError(`${path}: expected strings of 1-${MAX_RESOURCE} characters without control characters`);
      return [...new Set(v as string[])];
    }
    case 'Firewall': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadInputError(`${path}: expected an object`);
      const out: Record<string, CedarContextValue> = {};
      for (const [k, spec] of Object.entries(FIREWALL_FIELDS)) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) throw new BadInputError(`${path}.${k}: required`);
        out[k] = checkValue(`${path}.${k}`, { type: spec.type, doc: spec.doc, ...(spec.type === 'Long' ? { min: 0 } : {}) }, x);
      }
      const extra = Object.keys(v).find((k) => !Object.hasOwn(FIREWALL_FIELDS, k));
      if (extra !== undefined) throw new BadInputError(`${path}.${extra}: unknown field`);
      return out;
    }
  }
}

/** Cedar's textual form of an entity uid: `Warden::Tool::"send_email"`. */
export function uidText(type: string, id: string): string {
  return `${type}::${JSON.stringify(id)}`;
}
