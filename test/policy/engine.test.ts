import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../src/errors.js';
import { ASYNC_COMPILE_BYTES, compilePolicy, compilePolicyAsync, diffPolicies, parsePolicyText, type PolicyDecision } from '../../src/policy/engine.js';
import { PolicyError } from '../../src/policy/errors.js';
import { parseResource, SCHEMA_TEXT } from '../../src/policy/schema.js';
import { agent, BASE_CONTEXT, operator, pol, req } from './helpers.js';

const PERMIT_SEARCH = pol('search', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");');

function problems(text: string): string[] {
  try {
    compilePolicy(text);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe('BAD_INPUT');
    return [...(err as PolicyError).problems];
  }
  throw new Error('expected the policy to be rejected');
}

describe('policy compilation', () => {
  it('compiles, lists the policies in source order and versions the exact text', () => {
    const text = `// comment\n${PERMIT_SEARCH}\n${pol('z-first-by-id', 'forbid (principal, action, resource) when { context has amount && context.amount > 5 && context.amount < 3 };')}`;
    const p = compilePolicy(text);
    expect(p.policies.map((x) => [x.id, x.effect, x.line])).toEqual([
      ['search', 'permit', 2],
      ['z-first-by-id', 'forbid', 5],
    ]);
    expect(p.version).toBe(`sha256:${createHash('sha256').update(text).digest('hex')}`);
    expect(compilePolicy(`${text} `).version).not.toBe(p.version);
    expect(compilePolicy('').size).toBe(0);
  });

  it('keeps source order beyond ten policies (cedar-wasm sorts them policy0, policy1, policy10, …)', () => {
    const text = Array.from({ length: 13 }, (_, i) => pol(`p${i}`, `permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"t${i}");`)).join('');
    const p = compilePolicy(text);
    expect(p.policies.map((x) => x.id)).toEqual(Array.from({ length: 13 }, (_, i) => `p${i}`));
    for (const i of [0, 2, 10, 12]) {
      expect(p.evaluate(req({ resource: `tool:t${i}` })).policies).toEqual([`p${i}`]);
    }
  });

  it('requires a unique @id on every policy, naming the line', () => {
    const missing = problems(`${PERMIT_SEARCH}\npermit (principal, action, resource);\n`);
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(/^line 4: policy `permit \(principal, action, resource\);` has no @id/);
    const dup = problems(`${PERMIT_SEARCH}${PERMIT_SEARCH}`);
    expect(dup).toEqual(['line 3: duplicate @id("search") (first used at line 1)']);
    expect(problems(pol('bad id!', 'permit (principal, action, resource);'))[0]).toMatch(/not a valid policy id/);
  });

  it('reports parse errors with line and column', () => {
    const e = problems(`${PERMIT_SEARCH}@id("x")\npermit (principal, action, resource) when { 1 + };\n`);
    expect(e[0]).toMatch(/^line 4:\d+: unexpected token/);
    expect(() => compilePolicy('@id("a") @id("b") permit (principal, action, resource);')).toThrow(/duplicate annotation/);
  });

  it('validates against the schema in strict mode and lists every error with its policy id', () => {
    const e = problems([
      PERMIT_SEARCH,
      pol('optional', 'permit (principal, action == Warden::Action::"tool.call", resource) when { context.amount > 3 };'),
      pol('no-attr', 'permit (principal, action == Warden::Action::"tool.call", resource) when { principal.nickname == "x" };'),
      pol('bad-type', 'forbid (principal, action, resource == Warden::Nope::"x");'),
      pol('wrong-ctx', 'permit (principal, action == Warden::Action::"admin", resource) when { context.risk > 3 };'),
    ].join(''));
    expect(e.length).toBeGreaterThanOrEqual(4);
    expect(e.some((m) => m.startsWith('policy "optional" (line 4)') && /optional attribute `amount`/.test(m) && /context has amount/.test(m))).toBe(true);
    expect(e.some((m) => m.startsWith('policy "no-attr"') && /nickname/.test(m))).toBe(true);
    expect(e.some((m) => m.startsWith('policy "bad-type"') && /Nope/.test(m))).toBe(true);
    expect(e.some((m) => m.startsWith('policy "wrong-ctx"'))).toBe(true);
    // Cedar's own names for the policies (policy0, …) are replaced by the @ids.
    expect(e.join('\n')).not.toMatch(/policy[0-9]/);
  });

  it('refuses templates, misplaced or malformed annotations, too much text and too many policies', () => {
    expect(problems(pol('t', 'permit (principal == ?principal, action, resource);'))[0]).toMatch(/templates .* not supported/);
    expect(problems(pol('f', 'forbid (principal, action, resource);', '@approval("approver")'))[0]).toMatch(/policy "f" \(line 1\): @approval only makes sense on a permit/);
    expect(problems(pol('f', 'forbid (principal, action, resource);', '@obligation("x")'))[0]).toMatch(/@obligation only makes sense on a permit/);
    expect(problems(pol('o', 'permit (principal, action, resource);', '@obligation("a,,b")'))[0]).toMatch(/comma-separated list of non-empty/);
    expect(problems(pol('a', 'permit (principal, action, resource);', '@approval("")'))[0]).toMatch(/must name one role/);
    expect(problems(' '.repeat(1024 * 1024 + 1))[0]).toMatch(/1048577 bytes; at most 1048576 \(1 MiB\)/);
    const many = Array.from({ length: 10_001 }, (_, i) => `@id("p${i}") permit(principal,action,resource);`).join('\n');
    expect(problems(many)).toEqual(['10001 policies; at most 10000 are accepted']);
  }, 60_000);

  it('compiles large texts on a worker thread with the same result and the same errors', async () => {
    const many = (n: number): string => Array.from({ length: n }, (_, i) => pol(`p${i}`, `permit (principal == Warden::Agent::"a${i}", action == Warden::Action::"tool.call", resource) when { context.risk < ${i % 100} };`)).join('');
    let text = many(10);
    while (Buffer.byteLength(text) < ASYNC_COMPILE_BYTES) text = many(text.split('@id').length * 2);
    const sync = compilePolicy(text);
    const async = await compilePolicyAsync(text);
    expect(async.version).toBe(sync.version);
    expect(async.policies).toEqual(sync.policies);
    const r = req({ principal: agent({ id: 'a7' }) }, { risk: 1 });
    expect(async.evaluate(r)).toEqual(sync.evaluate(r));
    expect(async.evaluate(r).decision).toBe('allow');
    const broken = `${text}${pol('bad', 'permit (principal, action == Warden::Action::"tool.call", resource) when { context.amount > 1 };')}`;
    const err = await compilePolicyAsync(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).problems).toEqual([expect.stringMatching(/^policy "bad" \(line \d+\): unable to guarantee safety of access to optional attribute `amount`/)]);
    expect((err as PolicyError).message).toMatch(/^policy fails validation against the Warden schema: 1 problem/);
    expect((await compilePolicyAsync(PERMIT_SEARCH)).size).toBe(1); // small texts: inline
  }, 60_000);

  it('diffs two texts by @id, ignoring comments and layout', () => {
    const a = `${PERMIT_SEARCH}${pol('gone', 'permit (principal, action, resource);')}${pol('same', 'forbid (principal, action, resource) when { context.risk_level == "critical" };')}`;
    const b = `// new comment\n${pol('search', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"other");')}${pol('same', 'forbid   (principal, action, resource)\n  when { context.risk_level == "critical" };')}${pol('new', 'permit (principal, action, resource);')}`;
    expect(diffPolicies(a, b)).toEqual({ added: ['new'], removed: ['gone'], changed: ['search'], unchanged: 1 });
    expect(parsePolicyText(b).policies.map((p) => p.id)).toEqual(['search', 'same', 'new']);
  });
});

describe('decisions', () => {
  const text = [
    pol('allow-search', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");'),
    pol('pay-small', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"pay") when { context has amount && context.amount <= 1000 };', '@obligation(" log_payment , notify:finance ")'),
    pol('pay-logged', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"pay");', '@obligation("log_payment, audit")'),
    pol('pay-big', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"pay") when { context has amount && context.amount > 1000 };', '@approval("approver") @reason("big payments need an approver")'),
    pol('no-shell', 'forbid (principal, action, resource == Warden::Tool::"shell");', '@reason("shell is forbidden")'),
    pol('allow-shell', 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"shell");'),
    pol('no-huge', 'forbid (principal, action == Warden::Action::"tool.call", resource) when { context has amount && context.amount > 1000000 };'),
  ].join('');
  const p = compilePolicy(text);

  it('allow: a permit applies, no forbid', () => {
    expect(p.evaluate(req())).toEqual<PolicyDecision>({ decision: 'allow', policies: ['allow-search'], reasons: ['permitted by policy "allow-search"'], obligations: [], errors: [] });
  });

  it('allow_with_conditions: the union of the obligations of every determining permit', () => {
    const d = p.evaluate(req({ resource: 'tool:pay' }, { amount: 500 }));
    expect(d.decision).toBe('allow_with_conditions');
    expect(d.policies).toEqual(['pay-logged', 'pay-small']);
    expect(d.obligations).toEqual(['log_payment', 'audit', 'notify:finance']);
  });

  it('require_approval beats conditions; obligations are kept; the reason comes from @reason', () => {
    const d = p.evaluate(req({ resource: 'tool:pay' }, { amount: 5000 }));
    expect(d).toMatchObject({ decision: 'require_approval', approvalRole: 'approver', policies: ['pay-big', 'pay-logged'], obligations: ['log_payment', 'audit'] });
    expect(d.reasons[0]).toBe('big payments need an approver');
  });

  it('forbid beats every permit, approval included', () => {
    expect(p.evaluate(req({ resource: 'tool:shell' }))).toEqual({ decision: 'deny', policies: ['no-shell'], reasons: ['shell is forbidden'], obligations: [], errors: [] });
    expect(p.evaluate(req({ resource: 'tool:pay' }, { amount: 2_000_000 }))).toMatchObject({ decision: 'deny', policies: ['no-huge'], reasons: ['forbidden by policy "no-huge"'] });
  });

  it('no applicable permit: deny', () => {
    expect(p.evaluate(req({ resource: 'tool:unknown' }))).toEqual({ decision: 'deny', policies: [], reasons: ['no applicable permit'], obligations: [], errors: [] });
    expect(compilePolicy('').evaluate(req())).toMatchObject({ decision: 'deny', reasons: ['no applicable permit'] });
  });

  it('fails closed on an erroring forbid; an erroring permit just does not apply', () => {
    const q = compilePolicy([
      pol('everything', 'permit (principal, action, resource);'),
      pol('overflow', 'forbid (principal, action, resource) when { context has amount && context.amount * 1000000000000 < 0 };'),
      pol('overflowing-permit', 'permit (principal, action, resource) when { context has amount && context.amount * 1000000000000 > 0 };', '@obligation("never")'),
      pol('target-level', 'forbid (principal, action == Warden::Action::"agent.message", resource) when { resource.trust_level < 10 };'),
    ].join(''));
    // 10^7 * 10^12 overflows a 64-bit Long: Cedar reports an error for both policies.
    const d = q.evaluate(req({}, { amount: 10_000_000 }));
    expect(d.decision).toBe('deny');
    expect(d.policies).toEqual(['overflow']);
    expect(d.reasons).toEqual([expect.stringMatching(/^policy error: overflow: integer overflow/)]);
    expect(d.errors).toEqual(expect.arrayContaining([expect.stringMatching(/^overflow: /), expect.stringMatching(/^overflowing-permit: /)]));
    // Small amounts: no overflow, no error.
    expect(q.evaluate(req({}, { amount: 10 }))).toMatchObject({ decision: 'allow_with_conditions', obligations: ['never'], errors: [] });
    // Only the permit errors: it did not apply, the other permit allows.
    const r = compilePolicy(pol('everything', 'permit (principal, action, resource);') + pol('overflowing-permit', 'permit (principal, action, resource) when { context has amount && context.amount * 1000000000000 > 0 };', '@obligation("never")'));
    expect(r.evaluate(req({}, { amount: 10_000_000 }))).toMatchObject({ decision: 'allow', policies: ['everything'], obligations: [], errors: [expect.stringMatching(/^overflowing-permit: integer overflow/)] });
    // A forbid reading an attribute of a target agent Warden was not told about errors: deny.
    const msg = req({ action: 'agent.message', resource: 'agent:peer' });
    expect(q.evaluate(msg)).toMatchObject({ decision: 'deny', policies: ['target-level'], reasons: [expect.stringMatching(/^policy error: target-level: /)] });
    const target = { type: 'agent', tier: 'process', trust_level: 50, roles: [], capabilities: [], scope: [] };
    expect(q.evaluate({ ...msg, target }).decision).toBe('allow');
    expect(q.evaluate({ ...msg, target: { ...target, trust_level: 5 } })).toMatchObject({ decision: 'deny', reasons: ['forbidden by policy "target-level"'] });
  });

  it('builds principals with their roles and resources with tenant and ref', () => {
    const q = compilePolicy([
      pol('role', 'permit (principal in Warden::Role::"finance", action == Warden::Action::"tool.call", resource == Warden::Tool::"ledger");'),
      pol('same-tenant', 'permit (principal, action == Warden::Action::"data.read", resource) when { resource.tenant == principal.tenant };'),
      pol('cap', 'permit (principal, action == Warden::Action::"http.egress", resource) when { principal.capabilities.contains(resource.ref) };'),
      pol('granted', 'permit (principal, action == Warden::Action::"mcp.request", resource) when { context.granted && resource.server == "github" };'),
      pol('ops', 'permit (principal in Warden::Role::"admin", action == Warden::Action::"agent.lifecycle", resource) when { context has operation && context.operation == "suspend" && resource.tenant == principal.tenant };'),
      pol('tenant-admin', 'permit (principal in Warden::Role::"admin", action == Warden::Action::"admin", resource == Warden::Tenant::"acme");'),
      pol('msg', 'permit (principal, action == Warden::Action::"agent.message", resource in Warden::Role::"helpers");'),
    ].join(''));
    expect(q.evaluate(req({ resource: 'tool:ledger', principal: agent({ roles: ['finance'] }) })).decision).toBe('allow');
    expect(q.evaluate(req({ resource: 'tool:ledger', principal: agent({ roles: ['sales'] }) })).decision).toBe('deny');
    expect(q.evaluate(req({ action: 'data.read', resource: 'data:crm' })).decision).toBe('allow');
    expect(q.evaluate(req({ action: 'data.read', resource: 'data:crm', tenant: 'other' })).decision).toBe('deny');
    const egress = req({ action: 'http.egress', resource: 'http:API.Example.com.', principal: agent({ capabilities: ['http:api.example.com'] }) });
    expect(q.evaluate(egress).decision).toBe('allow');
    // granted: the passport scope when not empty, else the capabilities; wildcards as for passports.
    const mcp = (capabilities: string[], scope: string[] = []): string => q.evaluate(req({ action: 'mcp.request', resource: 'mcp:github/create_issue', principal: agent({ capabilities, scope }) })).decision;
    expect(mcp(['mcp:github/*'])).toBe('allow');
    expect(mcp(['*'])).toBe('allow');
    expect(mcp(['mcp:gitlab/*'])).toBe('deny');
    expect(mcp(['mcp:github/*'], ['mcp:github/list_issues'])).toBe('deny');
    expect(mcp(['mcp:github/*'], ['mcp:github/create_issue'])).toBe('allow');
    const op = { principal: operator({ roles: ['admin'] }), action: 'agent.lifecycle', resource: 'agent:bot', tenant: 'acme' };
    expect(q.evaluate({ ...op, context: { operation: 'suspend' } }).decision).toBe('allow');
    expect(q.evaluate({ ...op, context: { operation: 'delete' } }).decision).toBe('deny');
    expect(q.evaluate({ principal: operator({ roles: ['admin'] }), action: 'admin', resource: 'tenant:acme', tenant: 'acme', context: {} }).decision).toBe('allow');
    expect(q.evaluate({ principal: operator({ roles: ['admin'] }), action: 'admin', resource: 'tenant:other', tenant: 'other', context: {} }).decision).toBe('deny');
    const target = { type: 'agent', tier: 'process', trust_level: 1, roles: ['helpers'], capabilities: [], scope: [] };
    expect(q.evaluate({ ...req({ action: 'agent.message', resource: 'agent:peer' }), target }).decision).toBe('allow');
    expect(q.evaluate({ ...req({ action: 'agent.message', resource: 'agent:peer' }), target: { ...target, roles: [] } }).decision).toBe('deny');
    // Messaging oneself: principal and resource are one entity.
    expect(q.evaluate(req({ action: 'agent.message', resource: 'agent:bot' })).decision).toBe('deny');
  });
});

describe('request checks', () => {
  const p = compilePolicy(pol('all', 'permit (principal, action, resource);'));
  const bad = (r: unknown): string => {
    try {
      p.evaluate(r as never);
    } catch (err) {
      expect(err).toBeInstanceOf(BadInputError);
      return (err as Error).message;
    }
    throw new Error('expected BadInputError');
  };

  it('refuses unknown, mistyped, out-of-range, computed and missing context fields, naming them', () => {
    expect(bad(req({}, { colour: 'red' }))).toMatch(/^context\.colour: unknown field/);
    expect(bad(req({}, { constructor: 'x' }))).toMatch(/^context\.constructor: unknown field/);
    expect(bad(req({}, JSON.parse('{"__proto__": {"risk": 1}}') as Record<string, unknown>))).toMatch(/^context\.__proto__: unknown field/);
    expect(bad(req({ action: 'toString' }))).toMatch(/^action: expected one of/);
    expect(bad(req({}, { amount: 'ten' }))).toMatch(/^context\.amount: expected an integer/);
    expect(bad(req({}, { amount: 2 ** 53 }))).toMatch(/^context\.amount: expected an integer/);
    expect(bad(req({}, { amount: 1.5 }))).toMatch(/^context\.amount/);
    expect(bad(req({}, { risk: 101 }))).toMatch(/^context\.risk: expected 0-100/);
    expect(bad(req({}, { risk_level: 'extreme' }))).toMatch(/^context\.risk_level: expected one of low, medium, high, critical/);
    expect(bad(req({}, { arguments: ['a', 3] }))).toMatch(/^context\.arguments/);
    expect(bad(req({}, { granted: true }))).toMatch(/^context\.granted: computed by Warden/);
    expect(bad(req({}, { currency: 'US\u0000D' }))).toMatch(/^context\.currency/);
    expect(bad({ ...req(), context: { risk: 1, delegated: false } })).toMatch(/^context\.risk_level: required/);
    expect(bad({ ...req(), context: [] })).toMatch(/^context: expected an object/);
    expect(bad({ principal: operator(), action: 'admin', resource: 'tenant:acme', tenant: 'acme', context: { risk: 1 } })).toMatch(/^context\.risk: unknown field for action admin/);
    expect(p.evaluate(req({}, { amount: -(2 ** 53 - 1), arguments: ['to', 'body'], human: 'alice@example.com', target_tenant: 'acme' })).decision).toBe('allow');
  });

  it('checks resources, actions and principals', () => {
    expect(bad(req({ resource: 'file:/etc/passwd' }))).toMatch(/unknown resource prefix/);
    expect(bad(req({ resource: 'search' }))).toMatch(/unknown resource prefix/);
    expect(bad(req({ resource: 'tool:' }))).toMatch(/nothing after the prefix/);
    expect(bad(req({ resource: `tool:${'x'.repeat(256)}` }))).toMatch(/^resource: expected 1-256/);
    expect(bad(req({ resource: 'tool:a\nb' }))).toMatch(/^resource: /);
    expect(bad(req({ resource: 'data:crm' }))).toMatch(/applies to Warden::Tool resources, not Warden::Dataset/);
    expect(bad(req({ action: 'http.egress', resource: 'http:example.com:8080' }))).toMatch(/expected http:HOST/);
    expect(bad(req({ action: 'mcp.request', resource: 'mcp:github' }))).toMatch(/expected mcp:SERVER\/TOOL/);
    expect(bad(req({ action: 'tool.invoke' }))).toMatch(/^action: expected one of/);
    expect(bad(req({ principal: operator() }))).toMatch(/^principal.kind: action tool.call is taken by an agent/);
    expect(bad(req({ principal: { ...agent(), trust_level: '5' } as never }))).toMatch(/^principal.trust_level/);
    expect(bad(req({ principal: { ...agent(), extra: 1 } as never }))).toMatch(/^principal.extra: unknown field/);
    expect(bad({ ...req(), target: { type: 'agent', tier: 'process', trust_level: 1, roles: [], capabilities: [], scope: [] } })).toMatch(/^target: only for agent: resources/);
    expect(bad({ ...req(), tenant: '' })).toMatch(/^tenant/);
  });

  it('maps resource strings to entities', () => {
    expect(parseResource('tool:send_email')).toEqual({ type: 'Warden::Tool', id: 'send_email', ref: 'tool:send_email', attrs: { name: 'send_email' } });
    expect(parseResource('mcp:github/issues/create')).toEqual({ type: 'Warden::McpTool', id: 'github/issues/create', ref: 'mcp:github/issues/create', attrs: { server: 'github', name: 'issues/create' } });
    expect(parseResource('http:Api.Stripe.com.')).toEqual({ type: 'Warden::Connector', id: 'api.stripe.com', ref: 'http:api.stripe.com', attrs: { host: 'api.stripe.com' } });
    expect(parseResource('http:[::1]')).toMatchObject({ id: '[::1]' });
    expect(parseResource('agent:bot-2')).toMatchObject({ type: 'Warden::Agent', id: 'bot-2' });
    expect(parseResource('data:crm')).toMatchObject({ type: 'Warden::Dataset', attrs: { name: 'crm' } });
    expect(parseResource('tenant:acme')).toMatchObject({ type: 'Warden::Tenant', id: 'acme' });
  });

  it('the schema text declares every action', () => {
    for (const a of ['tool.call', 'mcp.request', 'http.egress', 'agent.message', 'data.read', 'data.write', 'data.delete', 'agent.lifecycle', 'admin']) {
      expect(SCHEMA_TEXT).toContain(`action "${a}" appliesTo`);
    }
    expect(BASE_CONTEXT.risk_level).toBe('low');
  });
});

describe('policy versions and preparsed slices', () => {
  it('a new version never reuses the slices of an old one', () => {
    const body = 'permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");';
    const v1 = compilePolicy(pol('rule', body));
    const v2 = compilePolicy(pol('rule', body.replace('permit', 'forbid')));
    for (let i = 0; i < 3; i++) {
      expect(v1.evaluate(req()).decision).toBe('allow');
      expect(v2.evaluate(req()).decision).toBe('deny');
    }
  });
});
