import { describe, expect, it } from 'vitest';
import { ALL_RULES } from '../../src/firewall/injection/patterns/index.js';
import { buildIndex, deriveTriggers, expandPattern } from '../../src/firewall/injection/rules.js';

describe('phrase rules: invariants', () => {
  it('every rule compiles, has a unique id and a weight in (0, 1)', () => {
    const ids = new Set<string>();
    for (const r of ALL_RULES) {
      expect(() => new RegExp(expandPattern(r.pattern), 'y'), r.id).not.toThrow();
      expect(ids.has(r.id), r.id).toBe(false);
      ids.add(r.id);
      expect(r.weight > 0 && r.weight < 1, r.id).toBe(true);
    }
    expect(() => buildIndex(ALL_RULES)).not.toThrow();
  });
  it('no rule has an unbounded quantifier (so no rule can backtrack catastrophically)', () => {
    // Rules run anchored at a trigger; with only bounded quantifiers the work per attempt is a
    // constant. `+`, `*` and `{n,}` are refused outright (escaped characters excepted).
    for (const r of ALL_RULES) {
      const src = r.pattern.replace(/\\./g, '');
      expect(/[+*]|\{\d+,\}/.test(src), `${r.id}: ${r.pattern}`).toBe(false);
    }
  });
  it('triggers are derived from the leading literal alternatives', () => {
    expect(deriveTriggers('(?:ignorez?|oubli) x')).toEqual(['ignore', 'oubli']);
    expect(deriveTriggers("(?:don'?t follow|pay no attention to) x")).toEqual(['don', 'pay no attention to', 'paynoattentionto']);
    expect(() => deriveTriggers('(?:a|b)? x')).toThrow(/optional/);
  });
  it('every rule is reachable: a text built from its trigger reaches the rule', () => {
    const index = buildIndex(ALL_RULES);
    for (const r of index.rules) for (const t of r.triggers ?? []) expect(index.byTrigger.get(t)?.includes(r), `${r.id} ${t}`).toBe(true);
  });
});
