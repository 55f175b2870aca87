/**
 * Scopes and capabilities are short tokens (`tool:search`, `files:read/*`). A grant ending in
 * `*` covers every token that starts with what precedes the star; `*` alone covers everything.
 * A passport's scope must be covered by the agent's capabilities, and a delegated passport's
 * scope also by the delegator's: delegation can only narrow, never widen.
 */

/** Whether `grant` covers the token `wanted` (which may itself be a narrower wildcard). */
export function covers(grant: string, wanted: string): boolean {
  if (grant === wanted || grant === '*') return true;
  return grant.endsWith('*') && wanted.startsWith(grant.slice(0, -1));
}

export function coveredBy(grants: readonly string[] | '*', wanted: string): boolean {
  return grants === '*' || grants.some((g) => covers(g, wanted));
}

/**
 * The scope a delegated passport gets: each requested token must be covered by both parties
 * (else `widening` lists the offenders); with nothing requested, the agent's grants that the
 * delegator also covers.
 */
export function intersectScope(
  requested: readonly string[] | undefined,
  delegator: readonly string[] | '*',
  agent: readonly string[],
): { scope: string[]; widening: string[] } {
  if (requested !== undefined && requested.length > 0) {
    const widening = requested.filter((s) => !coveredBy(delegator, s) || !coveredBy(agent, s));
    return { scope: widening.length ? [] : [...new Set(requested)], widening };
  }
  if (delegator === '*') return { scope: [...agent], widening: [] };
  // Each side's tokens that the other side covers; wildcards narrow to the more specific one.
  const out = new Set<string>();
  for (const a of agent) if (coveredBy(delegator, a)) out.add(a);
  for (const d of delegator) if (coveredBy(agent, d)) out.add(d);
  return { scope: [...out].sort(), widening: [] };
}
