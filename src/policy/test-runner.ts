/**
 * Policy unit tests (`warden policy test`): a YAML or JSON file of requests with the decision
 * each must get, run against a compiled policy — for CI, before a deploy.
 *
 * ```yaml
 * cases:
 *   - name: small payments pass
 *     principal: { id: bot, capabilities: [tool:search] }
 *     action: tool.call
 *     resource: tool:payments.send
 *     context: { amount: 500 }
 *     expect: allow
 * ```
 * The file is either such an object or the list itself. Defaults keep cases short: the principal
 * kind follows the action; an agent is `type: agent, tier: process, trust_level: 0` with no roles,
 * capabilities or scope; the tenant is `default`; agent contexts get `risk: 0,
 * risk_level: low, delegated: false` unless the case sets them.
 */
import { parse as parseYaml } from 'yaml';
import { BadInputError } from '../errors.js';
import type { CompiledPolicy, DecisionKind, PolicyDecision, PolicyRequest } from './engine.js';
import { ACTIONS } from './schema.js';

const KINDS: readonly DecisionKind[] = ['allow', 'deny', 'allow_with_conditions', 'require_approval'];
const CASE_FIELDS = ['name', 'principal', 'action', 'resource', 'tenant', 'context', 'target', 'expect', 'obligations', 'approval_role', 'policies'];
export const MAX_TEST_CASES = 10_000;

export interface PolicyTestCase {
  name: string;
  request: PolicyRequest;
  expect: DecisionKind;
  /** When given: exactly these obligations (any order). */
  obligations?: string[];
  /** When given: the approval role. */
  approval_role?: string;
  /** When given: exactly these determining policies (any order). */
  policies?: string[];
}

export interface PolicyTestResult {
  name: string;
  pass: boolean;
  expected: DecisionKind;
  decision: PolicyDecision;
  /** What differed, empty when the case passed. */
  problems: string[];
}

function fail(where: string, msg: string): never {
  throw new BadInputError(`${where}: ${msg}`);
}

function strings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(where, 'expected a list of strings');
  return v as string[];
}

/** Parses a test file (YAML, of which JSON is a subset). Throws BadInputError naming the case. */
export function parsePolicyTests(text: string, source = 'test file'): PolicyTestCase[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new BadInputError(`${source}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const list = Array.isArray(doc) ? doc : typeof doc === 'object' && doc !== null && Array.isArray((doc as { cases?: unknown }).cases) ? (doc as { cases: unknown[] }).cases : undefined;
  if (!list) fail(source, 'expected a list of cases, or an object with a `cases` list');
  if (list.length === 0) fail(source, 'no cases');
  if (list.length > MAX_TEST_CASES) fail(source, `more than ${MAX_TEST_CASES} cases`);
  const names = new Set<string>();
  return list.map((raw, i) => {
    let where = `${source}: case ${i + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(where, 'expected an object');
    const c = raw as Record<string, unknown>;
    const unknown = Object.keys(c).find((k) => !CASE_FIELDS.includes(k));
    if (unknown) fail(where, `unknown field "${unknown}" (expected ${CASE_FIELDS.join(', ')})`);
    if (c.name !== undefined && typeof c.name !== 'string') fail(where, 'name: expected a string');
    const name = (c.name as string | undefined) ?? `case ${i + 1}`;
    if (c.name !== undefined) where = `${source}: case ${i + 1} (${name})`;
    if (names.has(name)) fail(where, `duplicate case name "${name}"`);
    names.add(name);
    if (typeof c.action !== 'string' || !Object.hasOwn(ACTIONS, c.action)) fail(where, `action: expected one of ${Object.keys(ACTIONS).join(', ')}`);
    const spec = ACTIONS[c.action];
    if (!spec) fail(where, 'action: unknown');
    if (typeof c.resource !== 'string') fail(where, 'resource: expected a string such as tool:NAME');
    if (typeof c.expect !== 'string' || !(KINDS as readonly string[]).includes(c.expect)) fail(where, `expect: expected one of ${KINDS.join(', ')}`);
    if (typeof c.principal !== 'object' || c.principal === null || Array.isArray(c.principal)) fail(where, 'principal: expected an object with at least an id');
    if (c.context !== undefined && (typeof c.context !== 'object' || c.context === null || Array.isArray(c.context))) fail(where, 'context: expected an object');
    if (c.tenant !== undefined && typeof c.tenant !== 'string') fail(where, 'tenant: expected a string');
    const p = c.principal as Record<string, unknown>;
    const agent = spec.principal === 'Warden::Agent';
    const tenant = (c.tenant as string | undefined) ?? (typeof p.tenant === 'string' ? p.tenant : 'default');
    const principal = agent
      ? { kind: 'agent', tenant, type: 'agent', tier: 'process', trust_level: 0, roles: [], capabilities: [], scope: [], ...p }
      : { kind: 'operator', tenant, roles: [], ...p };
    const context = agent ? { risk: 0, risk_level: 'low', delegated: false, ...(c.context as object | undefined) } : { ...(c.context as object | undefined) };
    const request = {
      principal, action: c.action, resource: c.resource, tenant, context,
      ...(c.target !== undefined ? { target: c.target } : {}),
    } as unknown as PolicyRequest;
    const out: PolicyTestCase = { name, request, expect: c.expect as DecisionKind };
    if (c.obligations !== undefined) out.obligations = strings(c.obligations, `${where}: obligations`);
    if (c.policies !== undefined) out.policies = strings(c.policies, `${where}: policies`);
    if (c.approval_role !== undefined) {
      if (typeof c.approval_role !== 'string') fail(where, 'approval_role: expected a string');
      out.approval_role = c.approval_role;
    }
    return out;
  });
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Runs the cases. A case whose request the engine refuses (a mistyped context field, an
 * unknown resource prefix) is an error in the test file: BadInputError naming the case.
 */
export function runPolicyTests(policy: CompiledPolicy, cases: readonly PolicyTestCase[]): { results: PolicyTestResult[]; passed: number; failed: number } {
  const results = cases.map((c) => {
    let decision: PolicyDecision;
    try {
      decision = policy.evaluate(c.request);
    } catch (err) {
      if (err instanceof BadInputError) throw new BadInputError(`case "${c.name}": invalid request: ${err.message}`);
      throw err;
    }
    const problems: string[] = [];
    if (decision.decision !== c.expect) problems.push(`expected ${c.expect}, got ${decision.decision}`);
    if (c.obligations && !sameSet(c.obligations, decision.obligations)) {
      problems.push(`expected obligations [${c.obligations.join(', ')}], got [${decision.obligations.join(', ')}]`);
    }
    if (c.approval_role !== undefined && decision.approvalRole !== c.approval_role) {
      problems.push(`expected approval role ${c.approval_role}, got ${decision.approvalRole ?? 'none'}`);
    }
    if (c.policies && !sameSet(c.policies, decision.policies)) {
      problems.push(`expected policies [${c.policies.join(', ')}], got [${decision.policies.join(', ')}]`);
    }
    return { name: c.name, pass: problems.length === 0, expected: c.expect, decision, problems };
  });
  const passed = results.filter((r) => r.pass).length;
  return { results, passed, failed: results.length - passed };
}
