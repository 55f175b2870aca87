/**
 * Taint: once a session (correlation id) has taken in untrusted content the injection detector
 * flagged, every later decision of that session sees `context.tainted == true` until
 * `firewall.taint_ttl` has passed. The correlation id is chosen by the agent, so by default the
 * agent itself is tainted too (`firewall.taint_agent`): a poisoned agent cannot shed the mark by
 * starting a "new session". An operator lifts it with `warden agents release`.
 *
 * The marks are state records committed with the decision that brought the content, so every
 * process sharing the store sees them; this process also remembers marks it has seen (bounded).
 */
import type { Mutation, Store } from '../store/types.js';

export const TAINT_KIND = 'taint';
export const AGENT_TAINT_KIND = 'taint_agent';
const MAX_REMEMBERED = 100_000;
const MAX_ID = 128;

/**
 * A session is one agent's correlation id: another agent naming the same id neither inherits
 * the taint nor can taint this agent's session (the correlation id is the caller's choice).
 */
export const sessionId = (agent: string, correlationId: string) => `${agent}/${correlationId}`;

export class TaintTracker {
  readonly #known = new Map<string, number>(); // kind \n tenant \n id → until (ms)

  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
    private readonly taintAgent = true,
  ) {}

  /** Whether the session or (when agent taint is on) the agent is tainted. */
  async isTainted(tenant: string, correlationId: string, agent: string): Promise<boolean> {
    if (this.taintAgent && (await this.#marked(AGENT_TAINT_KIND, tenant, agent))) return true;
    return correlationId.length <= MAX_ID && this.#marked(TAINT_KIND, tenant, sessionId(agent, correlationId));
  }

  async #marked(kind: string, tenant: string, id: string): Promise<boolean> {
    const key = `${kind}\n${tenant}\n${id}`;
    const now = Date.now();
    const known = this.#known.get(key);
    if (known !== undefined) {
      if (known > now) return true;
      this.#known.delete(key);
    }
    const rec = await this.store.getRecord(tenant, kind, id);
    if (!rec || rec.state !== 'tainted') return false;
    const until = Date.parse((JSON.parse(rec.body) as { until: string }).until);
    if (!(until > now)) return false;
    this.#remember(key, until);
    return true;
  }

  /** The mutations that mark the session (and the agent), to commit with the decision that tainted them. */
  mark(tenant: string, correlationId: string, agent: string, reason: string): Mutation[] {
    const now = new Date();
    const until = new Date(now.getTime() + this.ttlMs).toISOString();
    const out: Mutation[] = [];
    const put = (kind: string, id: string) => {
      this.#remember(`${kind}\n${tenant}\n${id}`, Date.parse(until));
      out.push({
        op: 'putRecord',
        record: { tenant, kind, id, state: 'tainted', created_at: now.toISOString(), updated_at: now.toISOString(), body: JSON.stringify({ until, reason }) },
      });
    };
    if (correlationId.length <= MAX_ID) put(TAINT_KIND, sessionId(agent, correlationId));
    if (this.taintAgent) put(AGENT_TAINT_KIND, agent);
    return out;
  }

  /** Forgets this process's memory of an agent's mark (after an operator cleared it). */
  forgetAgent(tenant: string, agent: string): void {
    this.#known.delete(`${AGENT_TAINT_KIND}\n${tenant}\n${agent}`);
  }

  #remember(key: string, until: number): void {
    this.#known.delete(key);
    if (this.#known.size >= MAX_REMEMBERED) this.#known.delete(this.#known.keys().next().value as string);
    this.#known.set(key, until);
  }
}
