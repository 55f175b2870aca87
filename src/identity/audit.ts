/**
 * Refused authentication and authorization attempts: each is receipted as a `kind: "auth"`
 * deny in the tenant the (possibly unverified) identity names, and emitted as a security event
 * pointing at that receipt. Recording is best effort by design — a store fault while
 * recording must not turn a 401/403 into a 500 — but a failure to record is itself counted.
 */
import type { ActorChain, SecurityEvents, Severity } from '../events/security-events.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Store } from '../store/types.js';

export interface AuthDeny {
  tenant: string;
  actor: ActorChain;
  /** What was attempted, e.g. `passport.verify`, `operator.authorize`, `token.exchange`. */
  action: string;
  resource: string;
  /** The reason given to the client (stable, non-leaking). */
  reason: string;
  /** Detail for the audit trail only (never sent to the client). */
  payload?: Record<string, unknown>;
  correlationId?: string | undefined;
  /** Event category; default `auth_failure`. */
  category?: string;
  severity?: Severity;
  /**
   * The identity was only claimed (a forged or broken credential): such denials are receipted up
   * to a per-tenant budget per minute, so nobody can flood a tenant's log with them.
   */
  unverified?: boolean;
}

/** Unverified denials receipted per tenant per minute; beyond it they are counted and evented once. */
export const UNVERIFIED_DENIES_PER_MINUTE = 600;
const WINDOW_MS = 60_000;

export class AuthAudit {
  /** Denials that could not be receipted (store down, unknown tenant after a race…). */
  unrecorded = 0;
  /** Unverified denials over the per-tenant budget: counted, not receipted. */
  suppressed = 0;
  readonly #windows = new Map<string, { start: number; count: number }>();

  readonly #budget: number;

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    readonly events: SecurityEvents,
    options: { unverifiedPerMinute?: number } = {},
  ) {
    this.#budget = options.unverifiedPerMinute ?? UNVERIFIED_DENIES_PER_MINUTE;
  }

  /**
   * Receipts and events a denial. Returns false, without writing anything, when the tenant
   * does not exist: an attacker must not be able to create log entries for made-up tenants.
   */
  async deny(d: AuthDeny): Promise<boolean> {
    try {
      if (!(await this.store.getTenant(d.tenant))) return false;
      if (d.unverified && !this.#withinBudget(d)) return false;
      const [receipt] = await this.ledger.append(
        d.tenant,
        [{
          kind: 'auth',
          action: d.action,
          resource: d.resource,
          decision: 'deny',
          reasons: [d.reason],
          actor: d.actor,
          ...(d.correlationId ? { correlation_id: d.correlationId } : {}),
          payload: (d.payload ?? {}) as never,
        }],
        { system: true },
      );
      this.events.emit({
        tenant: d.tenant,
        severity: d.severity ?? 'medium',
        category: d.category ?? 'auth_failure',
        actor: d.actor,
        correlation_id: d.correlationId ?? null,
        receipt: receipt ? { tenant: d.tenant, seq: receipt.seq } : null,
        details: { action: d.action, resource: d.resource, reason: d.reason },
      });
      return true;
    } catch {
      this.unrecorded++;
      return false;
    }
  }

  /** Counts an unverified denial against the tenant's budget; the first one over it is evented. */
  #withinBudget(d: AuthDeny): boolean {
    const now = Date.now();
    let w = this.#windows.get(d.tenant);
    if (!w || now - w.start >= WINDOW_MS) this.#windows.set(d.tenant, (w = { start: now, count: 0 }));
    w.count++;
    if (w.count <= this.#budget) return true;
    this.suppressed++;
    if (w.count === this.#budget + 1) {
      this.events.emit({
        tenant: d.tenant, severity: 'high', category: 'auth_failure_flood', actor: {},
        details: { budget_per_minute: this.#budget, note: 'further unverified denials this minute are counted, not receipted' },
      });
    }
    return false;
  }
}
