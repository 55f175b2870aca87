import type { Warden } from '../context.js';
import { WardenError } from '../errors.js';

/**
 * Ends incident response for an agent: resumes it if quarantined, lifts the approval
 * requirement, clears its taint and closes its circuit breaker. Each step is receipted; its passports stay
 * revoked (the agent needs new ones).
 */
export async function releaseAgent(w: Warden, tenant: string, id: string, reason: string, actor: { human?: string | null }) {
  const agent = await w.agents.get(tenant, id);
  const done: string[] = [];
  if (agent.state === 'quarantined') {
    await w.agents.resume(tenant, id, { actor, reason });
    done.push('resumed');
  }
  if (await w.controls.release(tenant, id, reason, actor)) done.push('approval requirement lifted');
  if (await w.controls.clearAgentTaint(tenant, id, reason, actor)) {
    w.taint.forgetAgent(tenant, id);
    done.push('taint cleared');
  }
  try {
    await w.controls.close(tenant, 'agent', id, reason, actor);
    done.push('circuit breaker closed');
  } catch (err) {
    if (!(err instanceof WardenError && err.code === 'NOT_FOUND')) throw err;
  }
  // A fresh start for detection too: the burst that led here must not re-trigger at once.
  w.monitoring?.detector.forget(tenant, id);
  if (done.length === 0) throw new WardenError('CONFLICT', `agent "${id}" is not under incident response (it is ${agent.state}, with no breaker or approval requirement)`);
  return { agent: id, released: done };
}
