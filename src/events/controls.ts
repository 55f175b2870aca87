/**
 * Incident-response controls the gateway enforces on every decision: circuit breakers on an
 * agent or a tool, and "require approval for everything this agent does". Each is a state
 * record (`kind: "control"`) changed together with an `incident` receipt, so who opened or
 * closed what, and why, is in the ledger.
 *
 * Breaker states: `open` (every decision denied) → after the cool-down, the next decision
 * becomes the single probe (`half_open`) → its reported outcome closes the breaker (succeeded)
 * or opens it again (failed / aborted). A probe that never reports frees the slot after
 * another cool-down. Transitions are compare-and-set in the store, so two processes never
 * let two probes through.
 */
import { WardenError } from '../errors.js';
import { parseResource } from '../policy/schema.js';
import { AGENT_TAINT_KIND } from '../firewall/taint.js';
import type { ActorChain } from '../events/security-events.js';
import type { Ledger } from '../ledger/ledger.js';
import type { StateRecord, Store } from '../store/types.js';

export const CONTROL_KIND = 'control';
export type BreakerTarget = 'agent' | 'tool';

export interface BreakerBody {
  target_type: BreakerTarget;
  target: string;
  opened_at: string | null;
  cooldown_ms: number;
  reason: string;
  incident_id: string | null;
  probe: { decision_id: string; at: string } | null;
}

export interface RestrictionBody {
  agent: string;
  reason: string;
  incident_id: string | null;
  since: string;
}

export interface ControlCheck {
  /** Set when the decision must be denied, with the reason for the receipt. */
  deny?: string;
  /** Set when an allow must become require_approval. */
  requireApproval?: string;
  /** The breaker this decision probes (half-open), if any. */
  probe?: string;
}

/** Tool targets by their normalised ref, so `http:EVIL.example.` hits the breaker on `http:evil.example`. */
function normalTarget(type: BreakerTarget, target: string): string {
  if (type !== 'tool') return target;
  try {
    return parseResource(target).ref;
  } catch {
    return target;
  }
}
export const breakerId = (type: BreakerTarget, target: string) => `breaker:${type}:${normalTarget(type, target)}`;
/**
 * A half-open breaker's state names its probe, so the compare-and-set that hands out the probe
 * slot compares the probe too: of many concurrent decisions seeing the same stale probe, one wins.
 */
const HALF_OPEN = 'half_open';
const isHalfOpen = (state: string) => state === HALF_OPEN || state.startsWith(`${HALF_OPEN}:`);
/** The state as shown to operators (`half_open`, without the probe id). */
export const displayState = (state: string) => (isHalfOpen(state) ? HALF_OPEN : state);
export const restrictionId = (agent: string) => `approval:agent:${agent}`;
const SYSTEM_ACTOR: ActorChain = { service: 'warden-response' };

export class Controls {
  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly cooldownMs: number,
  ) {}

  /** What the controls say about one decision. A store error propagates: the gateway fails closed. */
  async check(tenant: string, agent: string, resource: string, decisionId: string): Promise<ControlCheck> {
    const [agentBreaker, toolBreaker, restriction] = await Promise.all([
      this.store.getRecord(tenant, CONTROL_KIND, breakerId('agent', agent)),
      this.store.getRecord(tenant, CONTROL_KIND, breakerId('tool', resource)),
      this.store.getRecord(tenant, CONTROL_KIND, restrictionId(agent)),
    ]);
    const out: ControlCheck = {};
    for (const rec of [agentBreaker, toolBreaker]) {
      if (!rec || rec.state === 'closed') continue;
      const verdict = await this.#breaker(rec, decisionId);
      if (verdict === 'deny') {
        const b = JSON.parse(rec.body) as BreakerBody;
        return { deny: `circuit breaker open for ${b.target_type} ${b.target}: ${b.reason}` };
      }
      out.probe = rec.id;
    }
    if (restriction?.state === 'active') out.requireApproval = `agent under incident response: every action needs approval (${(JSON.parse(restriction.body) as RestrictionBody).reason})`;
    return out;
  }

  /** deny, or probe (this decision takes the half-open slot). */
  async #breaker(rec: StateRecord, decisionId: string): Promise<'deny' | 'probe'> {
    const b = JSON.parse(rec.body) as BreakerBody;
    const now = Date.now();
    const since = rec.state === 'open' ? Date.parse(b.opened_at ?? rec.updated_at) : Date.parse(b.probe?.at ?? rec.updated_at);
    if (now - since < b.cooldown_ms) return 'deny';
    const next: BreakerBody = { ...b, probe: { decision_id: decisionId, at: new Date(now).toISOString() } };
    try {
      await this.#change(rec.tenant, { ...rec, state: `${HALF_OPEN}:${decisionId}`, updated_at: next.probe?.at as string, body: JSON.stringify(next) }, 'breaker.half_open', `cool-down over: ${decisionId} is the probe`, rec.state);
      return 'probe';
    } catch (err) {
      if (err instanceof WardenError && (err.code === 'CONFLICT' || err.code === 'NOT_FOUND')) return 'deny'; // another decision took the slot
      throw err;
    }
  }

  /** Opens (or re-opens) a breaker. */
  async open(tenant: string, type: BreakerTarget, target: string, reason: string, incidentId: string | null, actor: ActorChain = SYSTEM_ACTOR): Promise<void> {
    const id = breakerId(type, target);
    const now = new Date().toISOString();
    const cur = await this.store.getRecord(tenant, CONTROL_KIND, id);
    const body: BreakerBody = { target_type: type, target: normalTarget(type, target), opened_at: now, cooldown_ms: this.cooldownMs, reason, incident_id: incidentId, probe: null };
    await this.#change(tenant, { tenant, kind: CONTROL_KIND, id, state: 'open', created_at: cur?.created_at ?? now, updated_at: now, body: JSON.stringify(body) }, 'breaker.open', reason, undefined, actor);
  }

  /** Closes a breaker (operator action, or a successful probe). */
  async close(tenant: string, type: BreakerTarget, target: string, reason: string, actor: ActorChain): Promise<void> {
    const id = breakerId(type, target);
    const cur = await this.store.getRecord(tenant, CONTROL_KIND, id);
    if (!cur || cur.state === 'closed') throw new WardenError('NOT_FOUND', `no open circuit breaker for ${type} ${target}`);
    const now = new Date().toISOString();
    const body: BreakerBody = { ...(JSON.parse(cur.body) as BreakerBody), probe: null, opened_at: null };
    await this.#change(tenant, { ...cur, state: 'closed', updated_at: now, body: JSON.stringify(body) }, 'breaker.close', reason, cur.state, actor);
  }

  /** The outcome of a decision: if it was a breaker's probe, close or re-open that breaker. */
  async probeOutcome(tenant: string, agent: string, resource: string, decisionId: string, succeeded: boolean): Promise<void> {
    for (const id of [breakerId('agent', agent), breakerId('tool', resource)]) {
      const rec = await this.store.getRecord(tenant, CONTROL_KIND, id);
      if (!rec || rec.state !== `${HALF_OPEN}:${decisionId}`) continue;
      const b = JSON.parse(rec.body) as BreakerBody;
      const now = new Date().toISOString();
      const next: BreakerBody = succeeded ? { ...b, probe: null, opened_at: null } : { ...b, probe: null, opened_at: now };
      await this.#change(tenant, { ...rec, state: succeeded ? 'closed' : 'open', updated_at: now, body: JSON.stringify(next) },
        succeeded ? 'breaker.close' : 'breaker.open', `probe ${decisionId} ${succeeded ? 'succeeded' : 'failed'}`, rec.state).catch(() => undefined);
    }
  }

  async requireApproval(tenant: string, agent: string, reason: string, incidentId: string | null): Promise<void> {
    const now = new Date().toISOString();
    const body: RestrictionBody = { agent, reason, incident_id: incidentId, since: now };
    await this.#change(tenant, { tenant, kind: CONTROL_KIND, id: restrictionId(agent), state: 'active', created_at: now, updated_at: now, body: JSON.stringify(body) }, 'restriction.require_approval', reason);
  }

  /** Lifts the approval requirement; returns whether one was active. */
  async release(tenant: string, agent: string, reason: string, actor: ActorChain): Promise<boolean> {
    const cur = await this.store.getRecord(tenant, CONTROL_KIND, restrictionId(agent));
    if (!cur || cur.state !== 'active') return false;
    await this.#change(tenant, { ...cur, state: 'released', updated_at: new Date().toISOString() }, 'restriction.release', reason, 'active', actor);
    return true;
  }

  /** Clears an agent's taint mark (operator release); returns whether one was set. */
  async clearAgentTaint(tenant: string, agent: string, reason: string, actor: ActorChain): Promise<boolean> {
    const cur = await this.store.getRecord(tenant, AGENT_TAINT_KIND, agent);
    if (!cur || cur.state !== 'tainted') return false;
    await this.#change(tenant, { ...cur, state: 'cleared', updated_at: new Date().toISOString() }, 'taint.clear', reason, 'tainted', actor);
    return true;
  }

  async list(tenant: string): Promise<(StateRecord & { parsed: BreakerBody | RestrictionBody })[]> {
    const rows = await this.store.listRecords(tenant, CONTROL_KIND, { limit: 10_000 });
    return rows.map((r) => ({ ...r, parsed: JSON.parse(r.body) as BreakerBody | RestrictionBody }));
  }

  /** The change and its receipt in one commit; `expectState` makes it a compare-and-set. */
  async #change(tenant: string, record: StateRecord, action: string, reason: string, expectState?: string, actor: ActorChain = SYSTEM_ACTOR): Promise<void> {
    await this.ledger.append(
      tenant,
      [{ kind: 'incident', action, resource: record.id, decision: null, reasons: [reason], actor, payload: { control: record.id, state: record.state, body: JSON.parse(record.body) } }],
      { system: true, mutations: [{ op: 'putRecord', record, ...(expectState !== undefined ? { expectState } : {}) }] },
    );
  }
}
