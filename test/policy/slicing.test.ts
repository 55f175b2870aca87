/**
 * Slicing must be invisible: for random policy sets and random requests, the sliced evaluation
 * (with projected entities and context) equals the evaluation against the whole set, and both
 * equal an independent reference — cedar-wasm called directly on every policy with complete
 * entities, policies named by their @id.
 */
import { preparsePolicySet, statefulIsAuthorized, validate, type EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import { covers } from '../../src/identity/scope.js';
import { compilePolicy, type CompiledPolicy, type PolicyRequest, type TargetAgent } from '../../src/policy/engine.js';
import { ACTIONS, parseResource, SCHEMA_TEXT } from '../../src/policy/schema.js';
import { SliceCache } from '../../src/policy/slice-cache.js';

/** mulberry32: deterministic runs; WARDEN_SLICE_SEED picks another. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.WARDEN_SLICE_SEED ?? 20_261_122);
const ACTION_IDS = Object.keys(ACTIONS);
const ROLES = ['r0', 'r1', 'r2'];
const AGENTS = ['a0', 'a1', 'a2', 'a3'];
const RESOURCES: Record<string, string[]> = {
  'Warden::Tool': ['tool:t0', 'tool:t1', 'tool:shell'],
  'Warden::McpTool': ['mcp:s0/t0', 'mcp:s1/t1'],
  'Warden::Connector': ['http:h0.example', 'http:h1.example'],
  'Warden::Agent': AGENTS.map((a) => `agent:${a}`),
  'Warden::Dataset': ['data:d0', 'data:d1'],
  'Warden::Tenant': ['tenant:acme', 'tenant:other'],
};
const CAPS = ['tool:t0', 'tool:*', 'mcp:s0/*', 'data:d0', 'http:h0.example', 'agent:a1', 't1'];

function entityLiteral(r: string): string {
  const e = parseResource(r);
  return `${e.type}::${JSON.stringify(e.id)}`;
}

function generatePolicies(rand: () => number, n: number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const principals = [
    'principal', 'principal', 'principal',
    ...AGENTS.map((a) => `principal == Warden::Agent::"${a}"`),
    'principal == Warden::Operator::"o0"',
    ...ROLES.map((r) => `principal in Warden::Role::"${r}"`),
    'principal in Warden::Agent::"a1"',
    'principal is Warden::Agent', 'principal is Warden::Operator',
    'principal is Warden::Agent in Warden::Role::"r0"',
    'principal == Warden::Tool::"t0"', // never matches a principal
  ];
  const allResources = Object.values(RESOURCES).flat();
  const resources = [
    'resource', 'resource', 'resource',
    ...allResources.map((r) => `resource == ${entityLiteral(r)}`),
    'resource in Warden::Role::"r1"',
    'resource in Warden::Tool::"t1"',
    'resource is Warden::Tool', 'resource is Warden::Dataset',
    'resource is Warden::Agent in Warden::Role::"r2"',
  ];
  const conditions = [
    'resource.tenant == principal.tenant',
    'resource.tenant != principal.tenant',
    'context.risk > 40',
    'context.risk > 90',
    'context.risk_level == "high"',
    'context has amount && context.amount > 500',
    'context has amount && context.amount * 1000000000000 > 0',
    'principal.trust_level >= 30',
    'principal.capabilities.contains("tool:t0")',
    'context.granted',
    'principal in Warden::Role::"r1"',
    'resource in Warden::Role::"r0"',
    'resource.trust_level > 5',
    'resource.name == "t1"',
    'resource.ref like "tool:*"',
    'context has operation && context.operation == "suspend"',
    'context has arguments && context.arguments.contains("to")',
    'if context.delegated then principal.trust_level > 80 else true',
    '{"level": context.risk}.level > 20',
    'principal.scope.isEmpty()',
    '!(context has human)',
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const effect = rand() < 0.7 ? 'permit' : 'forbid';
    const r = rand();
    const action = r < 0.25 ? 'action' : r < 0.75 ? `action == Warden::Action::"${pick(ACTION_IDS)}"` : `action in [${[pick(ACTION_IDS), pick(ACTION_IDS)].map((a) => `Warden::Action::"${a}"`).join(', ')}]`;
    // Forbids always have a condition, so that the sets do not simply deny everything.
    const count = Math.floor(rand() * 3) + (effect === 'forbid' ? 1 : 0);
    const conds = Array.from({ length: count }, () => `${rand() < 0.8 ? 'when' : 'unless'} { ${pick(conditions)} }`).join(' ');
    let ann = `@id("p${i}")`;
    if (effect === 'permit' && rand() < 0.15) ann += ' @approval("approver")';
    if (effect === 'permit' && rand() < 0.2) ann += ` @obligation("o${i % 3}, log")`;
    if (rand() < 0.2) ann += ` @reason("reason ${i}")`;
    out.push(`${ann}\n${effect} (${pick(principals)}, ${action}, ${pick(resources)}) ${conds};`);
  }
  return out;
}

/** Drops the generated policies that do not validate in strict mode (ill-typed combinations). */
function validOnly(policies: string[]): string[] {
  for (;;) {
    const answer = validate({ schema: SCHEMA_TEXT, policies: { staticPolicies: policies.join('\n') }, validationSettings: { mode: 'strict' } });
    if (answer.type !== 'success') throw new Error('validation failed');
    const bad = new Set(answer.validationErrors.map((e) => Number(e.policyId.slice('policy'.length))));
    if (bad.size === 0) return policies;
    policies = policies.filter((_, i) => !bad.has(i));
  }
}

function generateRequest(rand: () => number): PolicyRequest {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const some = <T>(xs: readonly T[]): T[] => xs.filter(() => rand() < 0.35);
  const action = pick(ACTION_IDS);
  const spec = ACTIONS[action] as (typeof ACTIONS)[string];
  const resource = pick(RESOURCES[spec.resource] as string[]);
  const tenant = rand() < 0.8 ? 'acme' : 'other';
  const principalTenant = rand() < 0.85 ? 'acme' : 'other';
  const req: PolicyRequest =
    spec.principal === 'Warden::Agent'
      ? {
          principal: {
            kind: 'agent', id: pick(AGENTS), tenant: principalTenant, type: pick(['agent', 'worker']), tier: pick(['process', 'container']),
            trust_level: Math.floor(rand() * 101), roles: some(ROLES), capabilities: some(CAPS), scope: rand() < 0.3 ? some(CAPS) : [],
          },
          action, resource, tenant,
          context: {
            risk: Math.floor(rand() * 101), risk_level: pick(['low', 'medium', 'high', 'critical']), delegated: rand() < 0.3,
            ...(rand() < 0.5 ? { amount: pick([10, 900, 10_000_000]) } : {}),
            ...(rand() < 0.3 ? { arguments: some(['to', 'cc', 'body']) } : {}),
            ...(rand() < 0.3 ? { human: 'alice@example.com' } : {}),
          },
        }
      : {
          principal: { kind: 'operator', id: pick(['o0', 'o1']), tenant: principalTenant, roles: some(['r0', 'r1', 'admin']) },
          action, resource, tenant,
          context: rand() < 0.5 ? { operation: pick(['suspend', 'delete']) } : {},
        };
  if (spec.resource === 'Warden::Agent' && rand() < 0.6) {
    const target: TargetAgent = { type: 'agent', tier: 'process', trust_level: Math.floor(rand() * 10), roles: some(ROLES), capabilities: some(CAPS), scope: [] };
    req.target = target;
  }
  return req;
}

/** Complete entities and context, built independently of the engine. */
function referenceCall(req: PolicyRequest): { principal: { type: string; id: string }; resource: { type: string; id: string }; context: Record<string, unknown>; entities: EntityJson[] } {
  const res = parseResource(req.resource);
  const p = req.principal;
  const entities: EntityJson[] = [];
  const roles = (rs: string[]): { type: string; id: string }[] => rs.map((id) => ({ type: 'Warden::Role', id }));
  const context: Record<string, unknown> = { ...req.context };
  if (p.kind === 'agent') {
    entities.push({
      uid: { type: 'Warden::Agent', id: p.id },
      attrs: { tenant: p.tenant, ref: `agent:${p.id}`, type: p.type, tier: p.tier, trust_level: p.trust_level, capabilities: p.capabilities, scope: p.scope },
      parents: roles(p.roles),
    });
    const grants = p.scope.length ? p.scope : p.capabilities;
    context.granted = grants.some((g) => covers(g, res.ref));
  } else {
    entities.push({ uid: { type: 'Warden::Operator', id: p.id }, attrs: { tenant: p.tenant }, parents: roles(p.roles) });
  }
  const principal = { type: entities[0]?.uid && 'type' in entities[0].uid ? entities[0].uid.type : '', id: p.id };
  if (!(res.type === principal.type && res.id === p.id)) {
    const attrs: Record<string, unknown> = { tenant: req.tenant, ...(res.type === 'Warden::Tenant' ? {} : { ref: res.ref }), ...res.attrs };
    const t = req.target;
    if (t) Object.assign(attrs, { type: t.type, tier: t.tier, trust_level: t.trust_level, capabilities: t.capabilities, scope: t.scope });
    entities.push({ uid: { type: res.type, id: res.id }, attrs: attrs as EntityJson['attrs'], parents: t ? roles(t.roles) : [] });
  }
  return { principal, resource: { type: res.type, id: res.id }, context, entities };
}

function referenceDecision(policy: CompiledPolicy, name: string, req: PolicyRequest): { decision: string; determining: string[]; errored: string[] } {
  const call = referenceCall(req);
  const a = statefulIsAuthorized({ ...call, action: { type: 'Warden::Action', id: req.action }, context: call.context as never, preparsedPolicySetId: name });
  if (a.type !== 'success') return { decision: 'deny', determining: [], errored: ['failure'] };
  const effect = (id: string): string | undefined => policy.policy(id)?.effect;
  const errored = a.response.diagnostics.errors.map((e) => e.policyId).sort();
  const determining = [...a.response.diagnostics.reason].sort();
  // Fail closed: the erroring forbids, and any forbids that applied, determine the deny.
  if (errored.some((id) => effect(id) === 'forbid')) {
    return { decision: 'deny', determining: [...new Set([...errored, ...determining].filter((id) => effect(id) === 'forbid'))].sort(), errored };
  }
  if (a.response.decision === 'deny') return { decision: 'deny', determining, errored };
  const permits = determining.map((id) => policy.policy(id));
  const decision = permits.some((p) => p?.approval) ? 'require_approval' : permits.some((p) => p?.obligations.length) ? 'allow_with_conditions' : 'allow';
  return { decision, determining, errored };
}

describe('slicing is invisible (randomized)', () => {
  const allKinds: string[] = [];
  for (const [round, size] of [[0, 60], [1, 250], [2, 400]] as const) {
    it(`round ${round}: ${size} random policies, 300 random requests (seed ${SEED})`, () => {
      const rand = rng(SEED + round);
      const texts = validOnly(generatePolicies(rand, size));
      expect(texts.length).toBeGreaterThan(size / 3);
      const policy = compilePolicy(texts.join('\n'));
      const name = `slicing-reference-${SEED}-${round}`;
      const staticPolicies: Record<string, string> = {};
      for (const p of policy.policies) staticPolicies[p.id] = p.text;
      expect(preparsePolicySet(name, { staticPolicies }).type).toBe('success');
      let sliceTotal = 0;
      const kinds = new Set<string>();
      for (let i = 0; i < 300; i++) {
        const req = generateRequest(rand);
        const sliced = policy.evaluate(req);
        const whole = policy.evaluate(req, { slice: false });
        expect(sliced, JSON.stringify(req)).toEqual(whole);
        const ref = referenceDecision(policy, name, req);
        expect(sliced.decision, JSON.stringify(req)).toBe(ref.decision);
        expect(sliced.errors.map((e) => e.slice(0, e.indexOf(':'))).sort()).toEqual(ref.errored);
        if (sliced.reasons[0] !== 'no applicable permit') expect([...sliced.policies].sort()).toEqual(ref.determining);
        kinds.add(sliced.decision);
        sliceTotal += policy.sliceOf(req).length;
      }
      // The random sets exercise every outcome, and slices really are smaller than the set.
      allKinds.push(...kinds);
      expect(sliceTotal / 300).toBeLessThan(policy.size / 2);
    }, 120_000);
  }
  it('the rounds produced every kind of decision', () => {
    expect(new Set(allKinds)).toEqual(new Set(['allow', 'deny', 'allow_with_conditions', 'require_approval']));
  });
});

describe('the preparsed-slice cache', () => {
  it('evicts the least recently used set and reuses its name without mixing up contents', () => {
    const cache = new SliceCache(2);
    let builds = 0;
    const allow = (): string => {
      builds++;
      return '@id("a") permit (principal, action, resource);';
    };
    const deny = (): string => '@id("d") forbid (principal, action, resource);\n@id("a") permit (principal, action, resource);';
    const decide = (name: string): string => {
      const r = statefulIsAuthorized({
        principal: { type: 'Warden::Agent', id: 'x' }, action: { type: 'Warden::Action', id: 'tool.call' }, resource: { type: 'Warden::Tool', id: 't' },
        context: {}, entities: [], preparsedPolicySetId: name,
      });
      if (r.type !== 'success') throw new Error('failure');
      return r.response.decision;
    };
    const k1 = cache.acquire('k1', allow);
    const k2 = cache.acquire('k2', deny);
    if ('error' in k1 || 'error' in k2) throw new Error('preparse failed');
    expect(cache.acquire('k1', allow)).toEqual(k1); // hit: k1 is now the most recent
    expect(builds).toBe(1);
    const k3 = cache.acquire('k3', deny); // evicts k2 and takes over its name
    if ('error' in k3) throw new Error('preparse failed');
    expect(cache.size).toBe(2);
    expect(k3.name).toBe(k2.name);
    expect(decide(k1.name)).toBe('allow');
    expect(decide(k3.name)).toBe('deny');
    const k2again = cache.acquire('k2', allow); // re-preparsed under the name k1 gave up
    if ('error' in k2again) throw new Error('preparse failed');
    expect(k2again.name).toBe(k1.name);
    expect(decide(k2again.name)).toBe('allow');
    // A set cedar-wasm refuses is not cached (it may cost the least recent entry its place).
    expect(cache.acquire('bad', () => 'permit (principal, action')).toHaveProperty('error');
    expect(cache.size).toBeLessThanOrEqual(2);
  });
});
