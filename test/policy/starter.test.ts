import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/engine.js';
import { STARTER_POLICY } from '../../src/policy/starter.js';
import { parsePolicyTests, runPolicyTests } from '../../src/policy/test-runner.js';

const CASES = join(import.meta.dirname, 'fixtures/starter-cases.yaml');

describe('the starter policy', () => {
  const policy = compilePolicy(STARTER_POLICY);

  it('compiles against the schema without warnings; every policy has an id', () => {
    expect(policy.warnings).toEqual([]);
    expect(policy.size).toBeGreaterThanOrEqual(10);
    expect(policy.policies.map((p) => p.id)).toEqual(expect.arrayContaining(['forbid-shell-tools', 'payments-need-approval', 'data-read-own-tenant', 'data-read-pii-redacted']));
    expect(policy.policy('payments-need-approval')?.approval).toBe('approver');
    expect(policy.policy('data-read-pii-redacted')?.obligations).toEqual(['redact_pii']);
  });

  it('decides every case of the starter test file as expected', () => {
    const cases = parsePolicyTests(readFileSync(CASES, 'utf8'), 'starter-cases.yaml');
    const r = runPolicyTests(policy, cases);
    const failures = r.results.filter((x) => !x.pass).map((x) => `${x.name}: ${x.problems.join('; ')} (${x.decision.reasons.join('; ')})`);
    expect(failures).toEqual([]);
    expect(r.passed).toBe(cases.length);
    expect(new Set(r.results.map((x) => x.decision.decision))).toEqual(new Set(['allow', 'deny', 'allow_with_conditions', 'require_approval']));
  });
});

describe('policy test files', () => {
  const policy = compilePolicy(STARTER_POLICY);

  it('reports failing cases with what differed', () => {
    const cases = parsePolicyTests(JSON.stringify([
      { name: 'wrong kind', principal: { id: 'a' }, action: 'tool.call', resource: 'tool:search', expect: 'allow' },
      { name: 'wrong obligations', principal: { id: 'a', capabilities: ['data:x'] }, action: 'data.read', resource: 'data:x', context: { data_class: 'pii' }, expect: 'allow_with_conditions', obligations: ['other'] },
      { name: 'wrong role', principal: { id: 'a', capabilities: ['tool:payments.send'] }, action: 'tool.call', resource: 'tool:payments.send', context: { amount: 5000 }, expect: 'require_approval', approval_role: 'cfo' },
      { principal: { id: 'a' }, action: 'tool.call', resource: 'tool:shell', expect: 'deny' },
    ]));
    const r = runPolicyTests(policy, cases);
    expect(r).toMatchObject({ passed: 1, failed: 3 });
    expect(r.results.map((x) => [x.name, x.pass, x.problems])).toEqual([
      ['wrong kind', false, ['expected allow, got deny']],
      ['wrong obligations', false, ['expected obligations [other], got [redact_pii]']],
      ['wrong role', false, ['expected approval role cfo, got approver']],
      ['case 4', true, []],
    ]);
  });

  it('refuses malformed files and cases with a message naming the case', () => {
    const bad = (text: string): string => {
      try {
        const cases = parsePolicyTests(text, 'cases.yaml');
        runPolicyTests(policy, cases);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('BAD_INPUT');
        return (err as Error).message;
      }
      throw new Error('expected BAD_INPUT');
    };
    expect(bad('cases: [')).toMatch(/^cases.yaml: not valid YAML/);
    expect(bad('{}')).toMatch(/expected a list of cases/);
    expect(bad('[]')).toMatch(/no cases/);
    expect(bad('- {principal: {id: a}, action: tool.call, resource: tool:x, expect: maybe}')).toMatch(/case 1: expect: expected one of allow, deny/);
    expect(bad('- {principal: {id: a}, action: nope, resource: tool:x, expect: deny}')).toMatch(/case 1: action/);
    expect(bad('- {principal: {id: a}, action: tool.call, resource: tool:x, expect: deny, colour: red}')).toMatch(/unknown field "colour"/);
    expect(bad('- {name: n, principal: {id: a}, action: tool.call, resource: tool:x, expect: deny}\n- {name: n, principal: {id: a}, action: tool.call, resource: tool:x, expect: deny}')).toMatch(/duplicate case name "n"/);
    expect(bad('- {name: typo, principal: {id: a}, action: tool.call, resource: tool:x, context: {amount: ten}, expect: deny}')).toMatch(/^case "typo": invalid request: context\.amount/);
    expect(bad('- {principal: {id: a}, action: tool.call, resource: file:x, expect: deny}')).toMatch(/unknown resource prefix/);
  });
});
