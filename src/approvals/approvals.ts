/**
 * Human approvals. A `require_approval` decision creates a pending approval (committed with the
 * decision's receipt); an operator holding the role the policy named resolves it, with a reason.
 * Separation of duties: neither the requesting agent nor the human in its actor chain may
 * resolve it. Past its expiry a pending approval resolves to `expired` — a deny (fail secure).
 * Every resolution is a `kind: "approval"` receipt committed with the new state.
 */
import { randomBytes } from 'node:crypto';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Receipt } from '../ledger/receipt.js';
import type { Mutation, StateRecord, Store } from '../store/types.js';
import { KeyedSerialiser } from '../identity/serial.js';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired';
export const APPROVAL_KIND = 'approval';
const ID = /^apr_[A-Za-z0-9_-]{16}$/;

export interface Approval {
  id: string;
  tenant: string;
  decision_id: string;
  /** The role an approver must hold (from the policy's `@approval("role")`). */
  role: string;
  state: ApprovalState;
  agent: string;
  human: string | null;
  service: string | null;
  action: string;
  resource: string;
  /** The context the policy saw (amount, currency, domain, risk, …): what the approver decides on. */
  context: Record<string, unknown>;
  /** Why approval is needed (the policy's reasons). */
  reasons: string[];
  correlation_id: string | null;
  requested_at: string;
  expires_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  reason: string | null;
}

/** Who resolves: an authenticated operator (local id or `oidc:<provider>:<subject>`) and its roles. */
export interface Approver {
  human: string;
  roles: readonly string[];
}

export interface ApprovalOptions {
  /** Time to decide before the request expires (deny). */
  ttlMs: number;
  /** Called after a new approval is committed (e.g. the webhook notifier); must not throw. */
  onRequested?: (a: Approval) => void;
}

function toRecord(a: Approval, updatedAt: string): StateRecord {
  return { tenant: a.tenant, kind: APPROVAL_KIND, id: a.id, state: a.state, created_at: a.requested_at, updated_at: updatedAt, body: JSON.stringify(a) };
}

export function assertApprovalId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID.test(id)) throw new BadInputError('invalid approval id (expected apr_ and 16 characters)');
}

export class Approvals {
  readonly #serial = new KeyedSerialiser();

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly options: ApprovalOptions,
  ) {}

  /** A new pending approval and its mutation, to commit with the decision that needs it. */
  prepare(input: Omit<Approval, 'id' | 'state' | 'requested_at' | 'expires_at' | 'resolved_at' | 'resolved_by' | 'reason'>, now = new Date()): { approval: Approval; mutation: Mutation } {
    const approval: Approval = {
      ...input,
      id: `apr_${randomBytes(12).toString('base64url')}`,
      state: 'pending',
      requested_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.options.ttlMs).toISOString(),
      resolved_at: null,
      resolved_by: null,
      reason: null,
    };
    return { approval, mutation: { op: 'putRecord', record: toRecord(approval, approval.requested_at) } };
  }

  /** Called by the gateway once the decision and its approval are committed. */
  requested(a: Approval): void {
    try {
      this.options.onRequested?.(a);
    } catch {
      // notification is best effort; the approval exists either way
    }
  }

  /** The approval, with a due expiry applied first (so nobody ever sees a stale `pending`). */
  async get(tenant: string, id: string): Promise<Approval> {
    assertApprovalId(id);
    const a = await this.#read(tenant, id);
    if (a.state === 'pending' && Date.parse(a.expires_at) <= Date.now()) return this.#expire(tenant, id);
    return a;
  }

  async list(tenant: string, state?: ApprovalState, limit = 100): Promise<Approval[]> {
    if (state === 'pending') await this.sweep(tenant);
    const rows = await this.store.listRecords(tenant, APPROVAL_KIND, { ...(state ? { state } : {}), limit });
    return rows.map((r) => JSON.parse(r.body) as Approval);
  }

  /** Expires every overdue pending approval of the tenant (serve runs this periodically). */
  async sweep(tenant: string): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const r of await this.store.listRecords(tenant, APPROVAL_KIND, { state: 'pending', limit: 10_000 })) {
      const a = JSON.parse(r.body) as Approval;
      if (Date.parse(a.expires_at) <= now) {
        await this.#expire(tenant, a.id);
        n++;
      }
    }
    return n;
  }

  /**
   * Approves or denies. The approver needs `role` (checked here) — the caller has already
   * checked the `approvals:resolve` permission — and must not be the agent or its human.
   */
  async resolve(tenant: string, id: string, approver: Approver, verdict: 'approve' | 'deny', reason: string, correlationId?: string): Promise<Approval> {
    assertApprovalId(id);
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 1024) throw new BadInputError('a reason (1-1024 characters) is required');
    return this.#serial.run(`${tenant}/${id}`, async () => {
      const cur = await this.#read(tenant, id);
      if (cur.state === 'pending' && Date.parse(cur.expires_at) <= Date.now()) {
        await this.#expireNow(cur);
        throw new WardenError('CONFLICT', `approval ${id} expired at ${cur.expires_at}; the action is denied`);
      }
      if (cur.state !== 'pending') throw new WardenError('CONFLICT', `approval ${id} is already ${cur.state}`);
      if (!approver.roles.includes(cur.role)) throw new AuthError(`approving needs the role "${cur.role}"`, { forbidden: true });
      // Separation of duties: nobody approves their own request.
      if (approver.human === cur.human || approver.human === cur.agent) {
        throw new AuthError('separation of duties: the requester cannot resolve its own approval', { forbidden: true });
      }
      const now = new Date().toISOString();
      const next: Approval = { ...cur, state: verdict === 'approve' ? 'approved' : 'denied', resolved_at: now, resolved_by: approver.human, reason };
      await this.#commit(next, `approval.${verdict}`, { human: approver.human }, reason, cur.correlation_id ?? correlationId ?? null);
      return next;
    });
  }

  async #read(tenant: string, id: string): Promise<Approval> {
    const r = await this.store.getRecord(tenant, APPROVAL_KIND, id);
    if (!r) throw new WardenError('NOT_FOUND', `no approval ${id}`);
    return JSON.parse(r.body) as Approval;
  }

  async #expire(tenant: string, id: string): Promise<Approval> {
    return this.#serial.run(`${tenant}/${id}`, async () => {
      const cur = await this.#read(tenant, id);
      if (cur.state !== 'pending') return cur;
      return this.#expireNow(cur);
    });
  }

  async #expireNow(cur: Approval): Promise<Approval> {
    const next: Approval = { ...cur, state: 'expired', resolved_at: new Date().toISOString(), resolved_by: null, reason: 'expired without a decision: denied' };
    await this.#commit(next, 'approval.expire', {}, next.reason as string, cur.correlation_id);
    return next;
  }

  async #commit(a: Approval, action: string, actor: { human?: string }, reason: string, correlationId: string | null): Promise<Receipt> {
    const [receipt] = await this.ledger.append(
      a.tenant,
      [{
        kind: APPROVAL_KIND,
        action,
        resource: `approval:${a.id}`,
        decision: a.state === 'approved' ? 'allow' : 'deny',
        reasons: [reason],
        actor,
        ...(correlationId ? { correlation_id: correlationId } : {}),
        payload: {
          approval_id: a.id, decision_id: a.decision_id, state: a.state, role: a.role,
          requested_by: { agent: a.agent, human: a.human, service: a.service },
          action: a.action, resource: a.resource, context: a.context as never,
        },
      }],
      // Only from pending, checked in the store transaction: another process may have resolved it.
      { mutations: [{ op: 'putRecord', record: toRecord(a, a.resolved_at ?? new Date().toISOString()), expectState: 'pending' }], system: true },
    );
    return receipt as Receipt;
  }
}
