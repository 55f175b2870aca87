/**
 * The Cedar policy engine: compiles a policy text (parse, `@id` and annotation checks, strict
 * validation against the Warden schema) and evaluates decision requests with cedar-wasm.
 *
 * Decisions come from Cedar plus annotations on the determining policies:
 * - a forbid that applies → `deny` (its `@reason`, else its id, is the reason);
 * - no permit applies → `deny` ('no applicable permit');
 * - a determining permit with `@approval("role")` → `require_approval` (that role);
 * - otherwise determining permits with `@obligation("a, b:10")` → `allow_with_conditions`
 *   (the union of their obligations); else `allow`.
 * Fail closed: a Cedar failure, or an evaluation error in a forbid, is a deny
 * ('policy error: …'); an erroring permit simply did not apply (reported in `errors`).
 *
 * Performance: one cedar-wasm call against a large policy set costs milliseconds, so requests
 * are evaluated against a *slice*: the policies whose scope (action, principal, resource
 * constraints) can match the request. Dropping a policy whose scope cannot match never changes
 * Cedar's answer — its scope is false, so it is neither satisfied nor evaluated (no errors) —
 * and test/policy/slicing.test.ts checks that against the whole set on random policies.
 * Slices are preparsed once (slice-cache.ts) and looked up by the request's shape. Entities and
 * context carry only the attributes some policy in the slice names.
 */
import { createHash } from 'node:crypto';
import {
  policySetTextToParts,
  policyToJson,
  statefulIsAuthorized,
  validate,
  type ActionConstraint,
  type AuthorizationAnswer,
  type DetailedError,
  type EntityJson,
  type EntityUidJson,
  type Expr,
  type PolicyJson,
  type PrincipalConstraint,
} from '@cedar-policy/cedar-wasm/nodejs';
import { BadInputError, WardenError } from '../errors.js';
import { jcs } from '../crypto/jcs.js';
import { covers } from '../identity/scope.js';
import { PolicyError } from './errors.js';
import {
  ACTION_IDS,
  ACTION_TYPE,
  ACTIONS,
  ROLE_TYPE,
  SCHEMA_TEXT,
  checkContext,
  isPlainString,
  parseResource,
  uidText,
  type ActionSpec,
  type CedarContextValue,
  type EntityTypeName,
} from './schema.js';
import { sliceCache } from './slice-cache.js';
import { spawnModuleWorker } from '../worker.js';

export const MAX_POLICIES = 10_000;
export const MAX_POLICY_BYTES = 1024 * 1024;
/** Policy ids: what `@id("…")` may hold. */
export const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,127}$/;
const ROLE = /^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,127}$/;
const MAX_LIST = 256;

// ------------------------------------------------------------------ public types

/** Attributes of an agent that is the resource (agent.message, agent.lifecycle). */
export interface TargetAgent {
  type: string;
  tier: string;
  trust_level: number;
  roles: string[];
  capabilities: string[];
  /** The passport's scope; empty = not narrowed (the capabilities apply). */
  scope: string[];
}

/** The acting agent: the same attributes as a target agent, plus who and where it is. */
export interface AgentPrincipal extends TargetAgent {
  kind: 'agent';
  id: string;
  tenant: string;
}

export interface OperatorPrincipal {
  kind: 'operator';
  id: string;
  tenant: string;
  roles: string[];
}


export interface PolicyRequest {
  principal: AgentPrincipal | OperatorPrincipal;
  /** One of the action ids of the schema (tool.call, mcp.request, …). */
  action: string;
  /** e.g. 'tool:send_email' (see schema.ts parseResource). */
  resource: string;
  /** The resource's tenant. */
  tenant: string;
  /** JSON; checked against the action's context type. */
  context: Record<string, unknown>;
  /**
   * For `agent:` resources: the target agent's attributes. Without them the resource entity has
   * only `tenant` and `ref`, and a policy reading another attribute of it errors (a permit then
   * does not apply; a forbid denies).
   */
  target?: TargetAgent;
}

export type DecisionKind = 'allow' | 'deny' | 'allow_with_conditions' | 'require_approval';

export interface PolicyDecision {
  decision: DecisionKind;
  /** The determining policy ids (for a fail-closed deny: the erroring forbids). */
  policies: string[];
  reasons: string[];
  obligations: string[];
  approvalRole?: string;
  /** Evaluation errors, `<policy id>: <message>` (erroring permits included). */
  errors: string[];
}

export interface PolicyInfo {
  id: string;
  effect: 'permit' | 'forbid';
  /** 1-based line of the policy's first character in the text. */
  line: number;
  /** The policy's source text, annotations included. */
  text: string;
  annotations: Readonly<Record<string, string>>;
  approval?: string;
  obligations: readonly string[];
  reason?: string;
}

export interface EvaluateOptions {
  /** false: evaluate against the whole policy set with complete entities (reference mode for tests). */
  slice?: boolean;
}

// ------------------------------------------------------------------ parsing

interface ParsedPolicy extends PolicyInfo {
  json: PolicyJson;
}

/** Byte offset → 1-based line and column (Cedar reports byte offsets). */
class LineMap {
  readonly #starts: number[] = [0];
  constructor(text: string) {
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) this.#starts.push(i + 1);
  }
  at(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (this.#starts[lo] as number) + 1 };
  }
}

function describe(e: DetailedError): string {
  const label = e.sourceLocations?.find((l) => l.label)?.label;
  return `${e.message}${label ? ` (${label})` : ''}${e.help ? `; help: ${e.help}` : ''}`;
}

function flatten(errors: readonly DetailedError[]): DetailedError[] {
  return errors.flatMap((e) => [e, ...flatten(e.related ?? [])]);
}

function snippet(text: string): string {
  const body = text.replace(/^(\s*@[A-Za-z_]\w*(\(\s*"(?:[^"\\]|\\.)*"\s*\))?\s*)+/, '').replace(/\s+/g, ' ');
  return body.length > 40 ? `${body.slice(0, 40)}…` : body;
}

export interface ParsedPolicySet {
  version: string;
  text: string;
  policies: ParsedPolicy[];
}

export function policyVersion(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/**
 * Parses a policy text and checks the `@id` and Warden annotations, without schema validation
 * (diffs use this; {@link compilePolicy} adds validation). Throws a PolicyError.
 */
export function parsePolicyText(text: string): ParsedPolicySet {
  if (typeof text !== 'string') throw new BadInputError('policy text: expected a string');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) throw new PolicyError([`the policy text is ${bytes} bytes; at most ${MAX_POLICY_BYTES} (1 MiB) are accepted`]);
  const lines = new LineMap(text);
  const parts = policySetTextToParts(text);
  if (parts.type !== 'success') {
    throw new PolicyError(
      flatten(parts.errors).map((e) => {
        const at = e.sourceLocations?.[0];
        const pos = at ? lines.at(at.start) : undefined;
        return `${pos ? `line ${pos.line}:${pos.col}: ` : ''}${describe(e)}`;
      }),
      'policy does not parse',
    );
  }
  if (parts.policy_templates.length > 0) {
    throw new PolicyError(
      parts.policy_templates.map((t) => `line ${lines.at(Buffer.byteLength(text.slice(0, Math.max(0, text.indexOf(t))))).line}: templates (?principal / ?resource slots) are not supported: ${snippet(t)}`),
    );
  }
  if (parts.policies.length > MAX_POLICIES) throw new PolicyError([`${parts.policies.length} policies; at most ${MAX_POLICIES} are accepted`]);
  const ordered = sourceOrder(text, parts.policies);
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const policies: ParsedPolicy[] = [];
  for (const { part, offset } of ordered) {
    const line = lines.at(offset).line;
    const where = `line ${line}`;
    const j = policyToJson(part);
    if (j.type !== 'success') {
      problems.push(`${where}: ${flatten(j.errors).map(describe).join('; ')}`);
      continue;
    }
    const annotations: Record<string, string> = { ...(j.json.annotations ?? {}) };
    const id = annotations.id;
    if (id === undefined) {
      problems.push(`${where}: policy \`${snippet(part)}\` has no @id("…") annotation (every policy needs a unique id)`);
      continue;
    }
    if (!POLICY_ID.test(id)) {
      problems.push(`${where}: @id(${JSON.stringify(id)}) is not a valid policy id (1-128 of A-Z a-z 0-9 _ . : / @ + -, starting with a letter or digit)`);
      continue;
    }
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(`${where}: duplicate @id(${JSON.stringify(id)}) (first used at line ${first})`);
      continue;
    }
    seen.set(id, line);
    const effect = j.json.effect;
    const info: ParsedPolicy = { id, effect, line, text: part, annotations, obligations: [], json: j.json };
    const bad = (msg: string): void => {
      problems.push(`policy "${id}" (${where}): ${msg}`);
    };
    if (annotations.approval !== undefined) {
      if (effect !== 'permit') bad('@approval only makes sense on a permit');
      else if (!ROLE.test(annotations.approval)) bad(`@approval(${JSON.stringify(annotations.approval)}) must name one role (1-128 of A-Z a-z 0-9 _ . : / @ + -)`);
      else info.approval = annotations.approval;
    }
    if (annotations.obligation !== undefined) {
      const list = [...new Set(annotations.obligation.split(',').map((s) => s.trim()))];
      if (effect !== 'permit') bad('@obligation only makes sense on a permit');
      else if (list.some((o) => !isPlainString(o, 128))) bad(`@obligation(${JSON.stringify(annotations.obligation)}) must be a comma-separated list of non-empty obligations (at most 128 characters each)`);
      else info.obligations = list;
    }
    if (annotations.reason !== undefined) {
      if (!isPlainString(annotations.reason, 1024)) bad('@reason must be 1-1024 characters without control characters');
      else info.reason = annotations.reason;
    }
    policies.push(info);
  }
  if (problems.length > 0) throw new PolicyError(problems);
  return { version: policyVersion(text), text, policies };
}

/**
 * cedar-wasm returns the policies sorted by their internal ids (policy0, policy1, policy10, …,
 * lexicographically); this restores source order (policyN is the N-th policy of the text) and
 * finds each policy's byte offset. Each part is a verbatim slice of the text, so searching for
 * them in order from the end of the previous one always succeeds when the order is right; if
 * it does not, the order is not what Cedar's numbering implies, and nothing may rely on it.
 */
function sourceOrder(text: string, parts: readonly string[]): { part: string; offset: number }[] {
  const internal = parts.map((_, i) => `policy${i}`).sort();
  const byIndex: string[] = new Array<string>(parts.length);
  internal.forEach((name, k) => (byIndex[Number(name.slice(6))] = parts[k] as string));
  let cursor = 0;
  return byIndex.map((part) => {
    const at = text.indexOf(part, cursor);
    if (at < 0) throw new WardenError('INTERNAL', 'cannot map the policies cedar-wasm parsed to their place in the text');
    cursor = at + part.length;
    return { part, offset: Buffer.byteLength(text.slice(0, at), 'utf8') };
  });
}

// ------------------------------------------------------------------ compile

/** Parses, checks annotations and validates against the Warden schema (strict). Throws PolicyError. */
export function compilePolicy(text: string): CompiledPolicy {
  const { parsed, warnings } = checkPolicyText(text);
  return new CompiledPolicy(parsed, warnings);
}

/**
 * Like {@link compilePolicy}, but the expensive part (parsing and validating: about 1 ms per
 * policy) runs on a worker thread for large texts, so a server reloading a 1 000-policy
 * version keeps answering meanwhile. Falls back to compiling inline if no worker can start.
 */
export async function compilePolicyAsync(text: string): Promise<CompiledPolicy> {
  if (typeof text !== 'string' || Buffer.byteLength(text, 'utf8') < ASYNC_COMPILE_BYTES) return compilePolicy(text);
  let result: CompileResult;
  try {
    result = await compileInWorker(text);
  } catch {
    return compilePolicy(text);
  }
  if ('problems' in result) throw new PolicyError(result.problems, result.headline);
  if ('error' in result) throw new WardenError('INTERNAL', result.error);
  return new CompiledPolicy(result.parsed, result.warnings);
}

/** Texts at least this large compile on a worker thread in {@link compilePolicyAsync}. */
export const ASYNC_COMPILE_BYTES = 32 * 1024;

export type CompileResult = { parsed: ParsedPolicySet; warnings: string[] } | { problems: string[]; headline: string } | { error: string };

function compileInWorker(text: string): Promise<CompileResult> {
  return new Promise((resolve, reject) => {
    const worker = spawnModuleWorker(import.meta.url, 'compile-worker');
    let settled = false;
    worker.once('message', (r: CompileResult) => {
      settled = true;
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', (e) => {
      if (!settled) reject(e);
    });
    worker.once('exit', () => {
      if (!settled) reject(new Error('policy compile worker exited'));
    });
    worker.postMessage(text);
  });
}

/** Parses, checks annotations and validates; the pure part of compiling (runs on workers too). */
export function checkPolicyText(text: string): { parsed: ParsedPolicySet; warnings: string[] } {
  const parsed = parsePolicyText(text);
  // Validated as one text (a record of texts costs cedar-wasm a parse per policy, several
  // times slower): Cedar names the policies policy0, policy1, … in source order.
  const lines = new LineMap(text);
  const answer = validate({ schema: SCHEMA_TEXT, policies: { staticPolicies: text }, validationSettings: { mode: 'strict' } });
  if (answer.type !== 'success') {
    throw new PolicyError(flatten(answer.errors).map(describe), 'policy cannot be validated');
  }
  const named = (internal: string): ParsedPolicy | undefined => {
    const m = /^policy(\d+)$/.exec(internal);
    return m ? parsed.policies[Number(m[1])] : undefined;
  };
  const rename = (internal: string, message: string): string => {
    const p = named(internal);
    const m = message.startsWith(`for policy \`${internal}\`, `) ? message.slice(`for policy \`${internal}\`, `.length) : message;
    return p ? m.split(`\`${internal}\``).join(JSON.stringify(p.id)) : m;
  };
  if (answer.validationErrors.length > 0) {
    const problems = answer.validationErrors
      .map((v) => {
        const p = named(v.policyId);
        const loc = v.error.sourceLocations?.[0];
        const line = loc ? lines.at(loc.start).line : (p?.line ?? 0);
        return { line, text: `policy "${p?.id ?? v.policyId}"${line ? ` (line ${line})` : ''}: ${rename(v.policyId, describe(v.error))}` };
      })
      .sort((a, b) => a.line - b.line);
    throw new PolicyError(problems.map((x) => x.text), 'policy fails validation against the Warden schema');
  }
  const warnings = [
    ...answer.validationWarnings.map((w) => `policy "${named(w.policyId)?.id ?? w.policyId}": ${rename(w.policyId, describe(w.error))}`),
    ...answer.otherWarnings.map(describe),
  ];
  return { parsed, warnings };
}

/** Policies added, removed or changed (by `@id`; comments and layout do not count) from `a` to `b`. */
export function diffPolicies(a: string, b: string): { added: string[]; removed: string[]; changed: string[]; unchanged: number } {
  const canon = (t: string): Map<string, string> => {
    const { policies } = parsePolicyText(t);
    return new Map(policies.map((p) => [p.id, jcs(p.json)]));
  };
  const before = canon(a);
  const after = canon(b);
  const added = [...after.keys()].filter((id) => !before.has(id)).sort();
  const removed = [...before.keys()].filter((id) => !after.has(id)).sort();
  const changed = [...after.keys()].filter((id) => before.has(id) && before.get(id) !== after.get(id)).sort();
  const unchanged = [...after.keys()].filter((id) => before.get(id) === after.get(id)).length;
  return { added, removed, changed, unchanged };
}

// ------------------------------------------------------------------ scope analysis (slicing)

interface ScopeInfo {
  op: 'All' | '==' | 'in' | 'is';
  /** Type of the entity named by ==, in or `is … in`. */
  entityType?: string;
  /** Its uid text: the slicing key. */
  key?: string;
  /** The type named by `is`. */
  isType?: string;
}

function uidOf(e: EntityUidJson): { type: string; id: string } {
  return '__entity' in e ? e.__entity : e;
}

function scopeInfo(c: PrincipalConstraint): ScopeInfo {
  switch (c.op) {
    case 'All':
      return { op: 'All' };
    case '==':
    case 'in': {
      if (!('entity' in c)) return { op: 'All' }; // a slot: templates are refused earlier
      const u = uidOf(c.entity);
      return { op: c.op, entityType: u.type, key: uidText(u.type, u.id) };
    }
    case 'is': {
      if (c.in && 'entity' in c.in) {
        const u = uidOf(c.in.entity);
        return { op: 'is', isType: c.entity_type, entityType: u.type, key: uidText(u.type, u.id) };
      }
      return { op: 'is', isType: c.entity_type };
    }
  }
}

/**
 * Whether an entity of type `actual` can satisfy the constraint. Principals (and agents as
 * resources) can be `in` their roles; other resources have no parents, so `in E` means `== E`.
 */
function compatible(s: ScopeInfo, actual: EntityTypeName, hasRoles: boolean): boolean {
  const inOk = (t: string | undefined): boolean => t === undefined || t === actual || (hasRoles && t === ROLE_TYPE);
  switch (s.op) {
    case 'All':
      return true;
    case '==':
      return s.entityType === actual;
    case 'in':
      return inOk(s.entityType);
    case 'is':
      return s.isType === actual && inOk(s.entityType);
  }
}

function actionsOf(c: ActionConstraint): readonly string[] {
  if (c.op === 'All') return ACTION_IDS;
  // The schema has no action groups: `action in [A, B]` holds exactly for A and B.
  const uids = c.op === '==' ? ('entity' in c ? [c.entity] : []) : 'entities' in c ? c.entities : [c.entity];
  return [...new Set(uids.map(uidOf).filter((u) => u.type === ACTION_TYPE).map((u) => u.id))];
}

/** What a policy's conditions read: attribute names, whether they use `in`, whether they use `context` whole. */
interface Reads {
  names: Set<string>;
  usesIn: boolean;
  wholeContext: boolean;
  /** An expression shape this analysis does not know: send everything. */
  unknown: boolean;
}

function scanExpr(e: Expr, r: Reads, attrLeft = false): void {
  if (typeof e !== 'object' || e === null) {
    r.unknown = true;
    return;
  }
  const keys = Object.keys(e);
  if (keys.length !== 1) {
    r.unknown = true;
    return;
  }
  const k = keys[0] as string;
  const v = (e as Record<string, unknown>)[k] as Record<string, unknown> & unknown[];
  const sub = (x: unknown, left = false): void => scanExpr(x as Expr, r, left);
  switch (k) {
    case 'Value':
    case 'Slot':
      return;
    case 'Var':
      if (v === ('context' as unknown) && !attrLeft) r.wholeContext = true;
      return;
    case '.':
      r.names.add(v.attr as unknown as string);
      sub(v.left, true);
      return;
    case 'has': {
      const attr = v.attr as unknown;
      for (const a of Array.isArray(attr) ? attr : [attr]) r.names.add(String(a));
      sub(v.left, true);
      return;
    }
    case '!':
    case 'neg':
    case 'isEmpty':
      sub(v.arg);
      return;
    case 'in':
      r.usesIn = true;
      sub(v.left);
      sub(v.right);
      return;
    case 'is':
      if (v.in !== undefined) {
        r.usesIn = true;
        sub(v.in);
      }
      sub(v.left);
      return;
    case 'like':
      sub(v.left);
      return;
    case 'if-then-else':
      sub(v.if);
      sub(v.then);
      sub(v.else);
      return;
    case 'Set':
      if (!Array.isArray(v)) r.unknown = true;
      else for (const x of v) sub(x);
      return;
    case 'Record':
      for (const x of Object.values(v)) sub(x);
      return;
    case '==': case '!=': case '<': case '<=': case '>': case '>=': case '&&': case '||':
    case '+': case '-': case '*': case 'contains': case 'containsAll': case 'containsAny':
    case 'getTag': case 'hasTag':
      sub(v.left);
      sub(v.right);
      return;
    default:
      // Extension function call: { name: [args] }.
      if (Array.isArray(v)) for (const x of v) sub(x);
      else r.unknown = true;
  }
}

interface IndexedPolicy {
  info: ParsedPolicy;
  /** Slicing key of the resource constraint (checked for policies filed under a principal key). */
  rKey?: string;
  reads: Reads;
}

interface ActionIndex {
  /** Policies with neither a principal nor a resource key. */
  any: number[];
  byPrincipal: Map<string, number[]>;
  byResource: Map<string, number[]>;
  /** Every resource key any policy of this action uses. */
  resourceKeys: Set<string>;
}

interface Slice {
  /** Content address: version + sorted policy ids. */
  key: string;
  ids: number[];
  full: boolean;
  names: Set<string>;
  parents: boolean;
  wholeContext: boolean;
}

const SHAPE_CACHE = 4096;

// ------------------------------------------------------------------ requests

interface Prepared {
  spec: ActionSpec;
  action: string;
  principalUid: { type: string; id: string };
  principalAttrs: Record<string, CedarContextValue>;
  principalRoles: string[];
  resourceUid: { type: string; id: string };
  resourceAttrs: Record<string, CedarContextValue>;
  resourceRoles: string[];
  /** The resource is the principal itself (an agent messaging itself): one entity, the principal's. */
  self: boolean;
  context: Record<string, CedarContextValue>;
}

function str(v: unknown, path: string, max = 256): string {
  if (!isPlainString(v, max)) throw new BadInputError(`${path}: expected 1-${max} characters without control characters`);
  return v;
}

function list(v: unknown, path: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_LIST) throw new BadInputError(`${path}: expected a list of at most ${MAX_LIST} strings`);
  for (const [i, x] of v.entries()) str(x, `${path}[${i}]`);
  return v as string[];
}

function level(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new BadInputError(`${path}: expected an integer`);
  return v;
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new BadInputError(`${path}.${k}: unknown field (expected ${allowed.join(', ')})`);
}

const AGENT_FIELDS = ['kind', 'id', 'tenant', 'type', 'tier', 'trust_level', 'roles', 'capabilities', 'scope'] as const;
const OPERATOR_FIELDS = ['kind', 'id', 'tenant', 'roles'] as const;
const TARGET_FIELDS = ['type', 'tier', 'trust_level', 'roles', 'capabilities', 'scope'] as const;

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadInputError(`${path}: expected an object`);
  return v as Record<string, unknown>;
}

/** Grant coverage as for passports: the scope when it is not empty, else the capabilities. */
function granted(capabilities: readonly string[], scope: readonly string[], ref: string): boolean {
  const grants = scope.length > 0 ? scope : capabilities;
  return grants.some((g) => covers(g, ref));
}

/** Whether an agent's grants cover a resource (what policy sees as `context.granted`); undefined for a malformed resource. */
export function grantedFor(grants: { capabilities: readonly string[]; scope: readonly string[] }, resource: string): boolean | undefined {
  try {
    return granted(grants.capabilities, grants.scope, parseResource(resource).ref);
  } catch {
    return undefined;
  }
}

function prepare(req: PolicyRequest): Prepared {
  const r = object(req, 'request');
  checkKeys(r, ['principal', 'action', 'resource', 'tenant', 'context', 'target'], 'request');
  const action = r.action;
  if (typeof action !== 'string' || !Object.hasOwn(ACTIONS, action)) {
    throw new BadInputError(`action: expected one of ${ACTION_IDS.join(', ')}`);
  }
  const spec = ACTIONS[action] as ActionSpec;
  const tenant = str(r.tenant, 'tenant');
  const p = object(r.principal, 'principal');
  const kind = spec.principal === 'Warden::Agent' ? 'agent' : 'operator';
  if (p.kind !== kind) throw new BadInputError(`principal.kind: action ${action} is taken by an ${kind}, not ${JSON.stringify(p.kind)}`);
  const pid = str(p.id, 'principal.id');
  const ptenant = str(p.tenant, 'principal.tenant');
  const roles = list(p.roles, 'principal.roles');
  const res = parseResource(r.resource);
  if (res.type !== spec.resource) {
    throw new BadInputError(`resource ${JSON.stringify(r.resource)}: action ${action} applies to ${spec.resource} resources, not ${res.type}`);
  }
  const context = checkContext(action, r.context);
  let principalAttrs: Record<string, CedarContextValue>;
  if (kind === 'agent') {
    checkKeys(p, AGENT_FIELDS, 'principal');
    const capabilities = list(p.capabilities, 'principal.capabilities');
    const scope = list(p.scope, 'principal.scope');
    principalAttrs = {
      tenant: ptenant,
      ref: `agent:${pid}`,
      type: str(p.type, 'principal.type'),
      tier: str(p.tier, 'principal.tier'),
      trust_level: level(p.trust_level, 'principal.trust_level'),
      capabilities,
      scope,
    };
    context.granted = granted(capabilities, scope, res.ref);
  } else {
    checkKeys(p, OPERATOR_FIELDS, 'principal');
    principalAttrs = { tenant: ptenant };
  }
  const resourceAttrs: Record<string, CedarContextValue> = { tenant, ...(res.type === 'Warden::Tenant' ? {} : { ref: res.ref }), ...res.attrs };
  let resourceRoles: string[] = [];
  if (r.target !== undefined) {
    if (res.type !== 'Warden::Agent') throw new BadInputError('target: only for agent: resources');
    const t = object(r.target, 'target');
    checkKeys(t, TARGET_FIELDS, 'target');
    resourceRoles = list(t.roles, 'target.roles');
    Object.assign(resourceAttrs, {
      type: str(t.type, 'target.type'),
      tier: str(t.tier, 'target.tier'),
      trust_level: level(t.trust_level, 'target.trust_level'),
      capabilities: list(t.capabilities, 'target.capabilities'),
      scope: list(t.scope, 'target.scope'),
    });
  }
  const self = res.type === spec.principal && res.id === pid;
  return {
    spec,
    action,
    self,
    principalUid: { type: spec.principal, id: pid },
    principalAttrs,
    principalRoles: roles,
    resourceUid: { type: res.type, id: res.id },
    resourceAttrs,
    resourceRoles: self ? roles : resourceRoles,
    context,
  };
}

function pick(all: Record<string, CedarContextValue>, slice: Slice): Record<string, CedarContextValue> {
  if (slice.full) return all;
  const out: Record<string, CedarContextValue> = {};
  for (const k in all) if (slice.names.has(k)) out[k] = all[k] as CedarContextValue;
  return out;
}

function entity(uid: { type: string; id: string }, attrs: Record<string, CedarContextValue>, roles: string[], slice: Slice): EntityJson {
  const parents = slice.full || slice.parents ? roles.map((id) => ({ type: ROLE_TYPE, id })) : [];
  return { uid, attrs: pick(attrs, slice), parents };
}

// ------------------------------------------------------------------ the compiled policy

export class CompiledPolicy {
  readonly version: string;
  readonly text: string;
  /** Policies in source order. */
  readonly policies: readonly PolicyInfo[];
  /** Validator warnings (the policy was accepted). */
  readonly warnings: readonly string[];

  readonly #indexed: IndexedPolicy[];
  readonly #byId: Map<string, IndexedPolicy>;
  readonly #actions = new Map<string, ActionIndex>();
  readonly #shapes = new Map<string, Slice>();
  #whole: Slice | undefined;

  /** Use {@link compilePolicy}. */
  constructor(parsed: ParsedPolicySet, warnings: readonly string[]) {
    this.version = parsed.version;
    this.text = parsed.text;
    this.warnings = warnings;
    this.policies = parsed.policies.map(({ json: _json, ...info }) => Object.freeze(info));
    this.#indexed = parsed.policies.map((info) => {
      const reads: Reads = { names: new Set(), usesIn: false, wholeContext: false, unknown: false };
      for (const c of info.json.conditions) scanExpr(c.body, reads);
      if (info.json.principal.op === 'in' || info.json.resource.op === 'in' || ('in' in info.json.principal && info.json.principal.in) || ('in' in info.json.resource && info.json.resource.in)) {
        reads.usesIn = true;
      }
      return { info, reads };
    });
    this.#byId = new Map(this.#indexed.map((p) => [p.info.id, p]));
    for (const id of ACTION_IDS) this.#actions.set(id, { any: [], byPrincipal: new Map(), byResource: new Map(), resourceKeys: new Set() });
    this.#indexed.forEach((p, i) => {
      const ps = scopeInfo(p.info.json.principal);
      const rs = scopeInfo(p.info.json.resource);
      if (rs.key) p.rKey = rs.key;
      for (const action of actionsOf(p.info.json.action)) {
        const spec = ACTIONS[action];
        const index = this.#actions.get(action);
        if (!spec || !index) continue;
        // A scope that cannot match this action's principal or resource type: never applies.
        if (!compatible(ps, spec.principal, true) || !compatible(rs, spec.resource, spec.resource === 'Warden::Agent')) continue;
        if (rs.key) index.resourceKeys.add(rs.key);
        if (ps.key) push(index.byPrincipal, ps.key, i);
        else if (rs.key) push(index.byResource, rs.key, i);
        else index.any.push(i);
      }
    });
  }

  /** Number of policies. */
  get size(): number {
    return this.#indexed.length;
  }

  policy(id: string): PolicyInfo | undefined {
    return this.#byId.get(id)?.info;
  }

  /** The ids of the policies a request is evaluated against (its slice), in source order. */
  sliceOf(req: PolicyRequest): string[] {
    return this.#slice(prepare(req)).ids.map((i) => (this.#indexed[i] as IndexedPolicy).info.id);
  }

  /**
   * Decides one request. Malformed requests throw BadInputError; everything after that fails
   * closed (a Cedar failure or an erroring forbid is a deny).
   */
  evaluate(req: PolicyRequest, options: EvaluateOptions = {}): PolicyDecision {
    const pr = prepare(req);
    const slice = options.slice === false ? this.#wholeSlice() : this.#slice(pr);
    let answer: AuthorizationAnswer;
    try {
      const pset = sliceCache.acquire(slice.key, () => slice.ids.map((i) => (this.#indexed[i] as IndexedPolicy).info.text).join('\n'));
      if ('error' in pset) return failClosed(`policy error: cannot load policies: ${pset.error}`);
      const entities: EntityJson[] = [entity(pr.principalUid, pr.principalAttrs, pr.principalRoles, slice)];
      if (!pr.self) entities.push(entity(pr.resourceUid, pr.resourceAttrs, pr.resourceRoles, slice));
      answer = statefulIsAuthorized({
        principal: pr.principalUid,
        action: { type: ACTION_TYPE, id: pr.action },
        resource: pr.resourceUid,
        context: slice.full || slice.wholeContext ? pr.context : pick(pr.context, slice),
        entities,
        preparsedPolicySetId: pset.name,
      });
    } catch (err) {
      return failClosed(`policy error: ${(err as Error).message}`);
    }
    return this.#decide(answer, slice);
  }

  #decide(answer: AuthorizationAnswer, slice: Slice): PolicyDecision {
    if (answer.type !== 'success') return failClosed(`policy error: ${flatten(answer.errors).map((e) => e.message).join('; ')}`);
    const { decision } = answer.response;
    // Cedar names the slice's policies policy0, policy1, … in the order of the slice's text.
    const idOf = (internal: string): string | undefined => {
      const m = /^policy(\d+)$/.exec(internal);
      const i = m ? slice.ids[Number(m[1])] : undefined;
      return i === undefined ? undefined : this.#indexed[i]?.info.id;
    };
    const reason: string[] = [];
    const rawErrors: { policyId: string; error: DetailedError }[] = [];
    for (const r of answer.response.diagnostics.reason) {
      const id = idOf(r);
      if (id === undefined) return failClosed(`policy error: Cedar reported an unknown policy ${r}`);
      reason.push(id);
    }
    for (const e of answer.response.diagnostics.errors) {
      const id = idOf(e.policyId);
      if (id === undefined) return failClosed(`policy error: Cedar reported an unknown policy ${e.policyId}`);
      rawErrors.push({ policyId: id, error: e.error });
    }
    rawErrors.sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0));
    const diagnostics = { reason, errors: rawErrors };
    const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
    const info = (id: string): PolicyInfo | undefined => this.#byId.get(id)?.info;
    const determining = [...diagnostics.reason].sort();
    const erroredForbids = diagnostics.errors.filter((e) => info(e.policyId)?.effect !== 'permit');
    const forbids = determining.filter((id) => info(id)?.effect === 'forbid');
    const forbidReasons = forbids.map((id) => info(id)?.reason ?? `forbidden by policy "${id}"`);
    if (erroredForbids.length > 0) {
      // An erroring forbid might have applied: fail closed.
      return {
        decision: 'deny',
        policies: [...new Set([...erroredForbids.map((e) => e.policyId).sort(), ...forbids])],
        reasons: [...erroredForbids.map((e) => `policy error: ${e.policyId}: ${e.error.message}`), ...forbidReasons],
        obligations: [],
        errors,
      };
    }
    if (decision === 'deny') {
      if (forbids.length !== determining.length) return failClosed('policy error: deny determined by a permit');
      return forbids.length > 0
        ? { decision: 'deny', policies: forbids, reasons: forbidReasons, obligations: [], errors }
        : { decision: 'deny', policies: [], reasons: ['no applicable permit'], obligations: [], errors };
    }
    const permits = determining.filter((id) => info(id)?.effect === 'permit');
    if (permits.length === 0 || permits.length !== determining.length) {
      return failClosed('policy error: allow without a determining permit');
    }
    const approvals = permits.filter((id) => info(id)?.approval !== undefined);
    const obligations = [...new Set(permits.flatMap((id) => info(id)?.obligations ?? []))];
    const reasonOf = (id: string): string => {
      const p = info(id) as PolicyInfo;
      if (p.reason) return p.reason;
      return p.approval ? `approval by role "${p.approval}" required by policy "${id}"` : `permitted by policy "${id}"`;
    };
    if (approvals.length > 0) {
      const first = approvals[0] as string;
      return {
        decision: 'require_approval',
        policies: [...approvals, ...permits.filter((id) => !approvals.includes(id))],
        reasons: [...approvals, ...permits.filter((id) => !approvals.includes(id))].map(reasonOf),
        obligations,
        approvalRole: info(first)?.approval as string,
        errors,
      };
    }
    return { decision: obligations.length > 0 ? 'allow_with_conditions' : 'allow', policies: permits, reasons: permits.map(reasonOf), obligations, errors };
  }

  #wholeSlice(): Slice {
    this.#whole ??= {
      key: sliceKey(this.version, this.#indexed.map((p) => p.info.id)),
      ids: this.#indexed.map((_, i) => i),
      full: true,
      names: new Set(),
      parents: true,
      wholeContext: true,
    };
    return this.#whole;
  }

  #slice(pr: Prepared): Slice {
    const index = this.#actions.get(pr.action) as ActionIndex;
    // The request's shape: its action and the principal/resource keys some policy is filed under.
    const pKeys: string[] = [];
    const rKeys: string[] = [];
    if (index.byPrincipal.size > 0) {
      const own = uidText(pr.principalUid.type, pr.principalUid.id);
      if (index.byPrincipal.has(own)) pKeys.push(own);
      for (const role of pr.principalRoles) {
        const k = uidText(ROLE_TYPE, role);
        if (index.byPrincipal.has(k) && !pKeys.includes(k)) pKeys.push(k);
      }
    }
    if (index.resourceKeys.size > 0) {
      const own = uidText(pr.resourceUid.type, pr.resourceUid.id);
      if (index.resourceKeys.has(own)) rKeys.push(own);
      for (const role of pr.resourceRoles) {
        const k = uidText(ROLE_TYPE, role);
        if (index.resourceKeys.has(k) && !rKeys.includes(k)) rKeys.push(k);
      }
    }
    pKeys.sort();
    rKeys.sort();
    const shape = `${pr.action}\u0000${pKeys.join('\u0001')}\u0000${rKeys.join('\u0001')}`;
    const cached = this.#shapes.get(shape);
    if (cached) return cached;
    const ids = [...index.any];
    for (const k of pKeys) {
      for (const i of index.byPrincipal.get(k) ?? []) {
        const rk = (this.#indexed[i] as IndexedPolicy).rKey;
        if (rk === undefined || rKeys.includes(rk)) ids.push(i);
      }
    }
    for (const k of rKeys) for (const i of index.byResource.get(k) ?? []) ids.push(i);
    ids.sort((a, b) => a - b);
    const slice: Slice = { key: '', ids, full: false, names: new Set(), parents: false, wholeContext: false };
    for (const i of ids) {
      const { reads } = this.#indexed[i] as IndexedPolicy;
      for (const n of reads.names) slice.names.add(n);
      slice.parents ||= reads.usesIn;
      slice.wholeContext ||= reads.wholeContext;
      slice.full ||= reads.unknown;
    }
    slice.key = sliceKey(this.version, ids.map((i) => (this.#indexed[i] as IndexedPolicy).info.id));
    if (this.#shapes.size >= SHAPE_CACHE) this.#shapes.delete(this.#shapes.keys().next().value as string);
    this.#shapes.set(shape, slice);
    return slice;
  }
}

function push(m: Map<string, number[]>, k: string, i: number): void {
  const l = m.get(k);
  if (l) l.push(i);
  else m.set(k, [i]);
}

function sliceKey(version: string, ids: string[]): string {
  const h = createHash('sha256').update(version).update('\n');
  for (const id of [...ids].sort()) h.update(id).update('\n');
  return h.digest('base64url');
}

function failClosed(reason: string): PolicyDecision {
  return { decision: 'deny', policies: [], reasons: [reason], obligations: [], errors: [reason] };
}
