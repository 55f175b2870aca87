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
}

export class AuthAudit {
  /** Denials that could not be receipted (store down, unknown tenant after a race…). */
  unrecorded = 0;

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    readonly events: SecurityEvents,
  ) {}

  /**
   * Receipts and events a denial. Returns false, without writing anything, when the tenant
   * does not exist: an attacker must not be able to create log entries for made-up tenants.
   */
  async deny(d: AuthDeny): Promise<boolean> {
    try {
      if (!(await this.store.getTenant(d.tenant))) return false;
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
}
