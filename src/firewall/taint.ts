/**
 * Session taint: once a session (correlation id) has taken in untrusted content the injection
 * detector flagged, every later decision of that session sees `context.tainted == true` until
 * `firewall.taint_ttl` has passed. The mark is a state record committed with the decision that
 * brought the content, so every process sharing the store sees it; this process also remembers
 * marks it has seen (bounded) to skip the lookup.
 */
import type { Mutation, Store } from '../store/types.js';

export const TAINT_KIND = 'taint';
const MAX_REMEMBERED = 100_000;
const MAX_ID = 128;

export class TaintTracker {
  readonly #known = new Map<string, number>(); // tenant \n correlation id → until (ms)

  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
  ) {}

  async isTainted(tenant: string, correlationId: string): Promise<boolean> {
    if (correlationId.length > MAX_ID) return false;
    const key = `${tenant}\n${correlationId}`;
    const now = Date.now();
    const known = this.#known.get(key);
    if (known !== undefined) {
      if (known > now) return true;
      this.#known.delete(key);
    }
    const rec = await this.store.getRecord(tenant, TAINT_KIND, correlationId);
    if (!rec) return false;
    const until = Date.parse((JSON.parse(rec.body) as { until: string }).until);
    if (!(until > now)) return false;
    this.#remember(key, until);
    return true;
  }

  /** The mutation that marks the session, to commit with the decision that tainted it. */
  mark(tenant: string, correlationId: string, reason: string): Mutation | undefined {
    if (correlationId.length > MAX_ID) return undefined;
    const now = new Date();
    const until = new Date(now.getTime() + this.ttlMs).toISOString();
    this.#remember(`${tenant}\n${correlationId}`, Date.parse(until));
    return {
      op: 'putRecord',
      record: { tenant, kind: TAINT_KIND, id: correlationId, state: 'tainted', created_at: now.toISOString(), updated_at: now.toISOString(), body: JSON.stringify({ until, reason }) },
    };
  }

  #remember(key: string, until: number): void {
    this.#known.delete(key);
    if (this.#known.size >= MAX_REMEMBERED) this.#known.delete(this.#known.keys().next().value as string);
    this.#known.set(key, until);
  }
}
