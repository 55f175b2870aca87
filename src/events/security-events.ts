/**
 * Security events: what an operator or a SIEM should hear about (failed authentication,
 * cross-tenant attempts, attempts to widen a delegation, certificate-binding failures, …).
 * The receipt in the ledger is the evidence; the event is the signal, pointing at that receipt.
 *
 * This is the in-process bus: bounded (a slow subscriber never blocks the request path, and
 * memory stays flat), with the most recent events kept for inspection. Persistence, queries,
 * detection rules and sinks build on `subscribe` (see the events issue).
 */
import { randomId96 } from '../crypto/random-id.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface ActorChain {
  human?: string | null;
  agent?: string | null;
  service?: string | null;
}

export interface SecurityEvent {
  id: string;
  ts: string;
  tenant: string;
  severity: Severity;
  /** Stable machine-readable kind, e.g. `auth_failure`, `cross_tenant`, `privilege_escalation`. */
  category: string;
  actor: ActorChain;
  correlation_id: string | null;
  /** The receipt that records the same fact, when one was written. */
  receipt: { tenant: string; seq: number } | null;
  details: Record<string, unknown>;
  /**
   * Keys of `details` to store encrypted (with the tenant's data key, as sensitive receipt
   * fields are). Live subscribers in this process see them in clear; the event log seals them.
   */
  sensitive?: string[];
}

/** Tenant of events that belong to no tenant (e.g. failed logins from one address). Never a valid tenant name. */
export const DEPLOYMENT_TENANT = '_deployment';

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export type SecurityEventInput = Omit<SecurityEvent, 'id' | 'ts' | 'correlation_id' | 'receipt'> & {
  correlation_id?: string | null;
  receipt?: { tenant: string; seq: number } | null;
};

export type SecurityEventListener = (event: SecurityEvent) => void;

export class SecurityEvents {
  /** Per tenant, so one tenant's flood cannot push another's events out. */
  readonly #recent = new Map<string, SecurityEvent[]>();
  readonly #listeners = new Set<SecurityEventListener>();
  readonly #keep: number;
  /** Listener failures, counted rather than allowed to break the emitting request. */
  listenerErrors = 0;

  constructor(options: { keep?: number } = {}) {
    this.#keep = Math.max(1, options.keep ?? 1000); // per tenant
  }

  emit(input: SecurityEventInput): SecurityEvent {
    const event: SecurityEvent = {
      id: `evt_${randomId96()}`,
      ts: new Date().toISOString(),
      tenant: input.tenant,
      severity: input.severity,
      category: input.category,
      actor: input.actor,
      correlation_id: input.correlation_id ?? null,
      receipt: input.receipt ?? null,
      details: input.details,
      ...(input.sensitive?.length ? { sensitive: input.sensitive } : {}),
    };
    let ring = this.#recent.get(event.tenant);
    if (!ring) this.#recent.set(event.tenant, (ring = []));
    ring.push(event);
    if (ring.length > this.#keep) ring.shift();
    for (const fn of this.#listeners) {
      try {
        fn(event);
      } catch {
        this.listenerErrors++;
      }
    }
    return event;
  }

  /** Calls `fn` for every later event; returns the unsubscribe function. */
  subscribe(fn: SecurityEventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** The most recent events of a tenant (oldest first), or of all tenants in time order. */
  recent(tenant?: string): SecurityEvent[] {
    if (tenant !== undefined) return [...(this.#recent.get(tenant) ?? [])];
    return [...this.#recent.values()].flat().sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  }
}
