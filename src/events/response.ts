/**
 * Automatic incident response. When a detection rule raises an alert, the responses configured
 * for that rule run in order — quarantine the agent, revoke its passports, open a circuit
 * breaker on the agent or the tool, require approval for everything the agent does, preserve
 * evidence — and the incident is recorded: a state record and an `incident.open` receipt that
 * commits to the evidence (the events' digest and the receipts involved), so the evidence
 * bundle can be verified offline later.
 *
 * Responses run off the request path (the alert only schedules them), one at a time per tenant
 * and subject, so a burst of alerts never runs the same quarantine twice at once.
 */
import { randomBytes } from 'node:crypto';
import type { Json } from '../crypto/jcs.js';
import { WardenError } from '../errors.js';
import type { AgentRegistry } from '../identity/agents.js';
import type { PassportService } from '../identity/passports.js';
import type { Ledger } from '../ledger/ledger.js';
import { eventsDigest } from '../ledger/verify/evidence.js';
import type { Store } from '../store/types.js';
import type { Controls } from './controls.js';
import type { EventLog } from './event-log.js';
import { DEPLOYMENT_TENANT, type ActorChain, type SecurityEvent, type SecurityEvents } from './security-events.js';

export const INCIDENT_KIND = 'incident';
export const RESPONSE_ACTIONS = ['quarantine', 'revoke_passports', 'breaker_agent', 'breaker_tool', 'require_approval', 'preserve_evidence'] as const;
export type ResponseAction = (typeof RESPONSE_ACTIONS)[number];

/** How far back evidence reaches, and how much of it an incident keeps. */
const EVIDENCE_WINDOW_MS = 60 * 60_000;
const MAX_EVIDENCE_EVENTS = 1000;
const ACTOR: ActorChain = { service: 'warden-response' };

export interface IncidentBody {
  id: string;
  rule: string;
  subject: string;
  agent: string | null;
  severity: string;
  alert_event_id: string;
  opened_at: string;
  actions: { action: ResponseAction; ok: boolean; error?: string }[];
  evidence: { events: Json[]; events_sha256: string; event_ids: string[]; receipt_seqs: number[] } | null;
  receipt: { seq: number; id: string } | null;
}

export class IncidentResponder {
  readonly stats = { incidents: 0, failures: 0 };
  readonly #chains = new Map<string, Promise<void>>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly bus: SecurityEvents,
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly eventLog: EventLog,
    private readonly agents: AgentRegistry,
    private readonly passports: PassportService,
    private readonly controls: Controls,
    private readonly responses: Partial<Record<string, readonly ResponseAction[]>>,
  ) {
    this.#unsubscribe = bus.subscribe((e) => {
      if (e.category !== 'alert' || e.tenant === DEPLOYMENT_TENANT) return;
      const actions = this.responses[String(e.details.rule)] ?? [];
      if (actions.length === 0) return;
      const key = `${e.tenant}\n${String(e.details.subject)}`;
      const prev = this.#chains.get(key) ?? Promise.resolve();
      const next = prev.then(() => this.#respond(e, actions)).catch(() => void this.stats.failures++);
      this.#chains.set(key, next);
      void next.finally(() => {
        if (this.#chains.get(key) === next) this.#chains.delete(key);
      });
    });
  }

  /** Waits for every response in progress (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }

  close(): void {
    this.#unsubscribe();
  }

  async #respond(alert: SecurityEvent, actions: readonly ResponseAction[]): Promise<void> {
    const tenant = alert.tenant;
    const agent = alert.actor.agent ?? null;
    const rule = String(alert.details.rule);
    const id = `inc_${randomBytes(12).toString('base64url')}`;
    const reason = `${rule} alert on ${String(alert.details.subject)} (incident ${id})`;
    const done: IncidentBody['actions'] = [];
    for (const action of actions) {
      if (action === 'preserve_evidence') continue; // last, so the evidence includes the other responses
      try {
        await this.#act(action, tenant, agent, alert, reason, id);
        done.push({ action, ok: true });
      } catch (err) {
        // Already in the wanted state (e.g. quarantined by a previous alert) is not a failure.
        if (err instanceof WardenError && err.code === 'CONFLICT') done.push({ action, ok: true });
        else done.push({ action, ok: false, error: err instanceof Error ? err.message.slice(0, 300) : 'failed' });
      }
    }
    let evidence: IncidentBody['evidence'] = null;
    if (actions.includes('preserve_evidence')) {
      evidence = await this.#collect(alert);
      done.push({ action: 'preserve_evidence', ok: true });
    }
    const now = new Date().toISOString();
    const body: IncidentBody = {
      id, rule, subject: String(alert.details.subject), agent, severity: alert.severity, alert_event_id: alert.id,
      opened_at: now, actions: done, evidence, receipt: null,
    };
    await this.ledger.append(
      tenant,
      [{
        kind: INCIDENT_KIND, action: 'incident.open', resource: `incident:${id}`, decision: null, reasons: [reason], actor: ACTOR,
        correlation_id: alert.correlation_id ?? null,
        payload: {
          incident_id: id, rule, subject: body.subject, alert_event_id: alert.id, actions: done as unknown as Json,
          ...(evidence ? { evidence: { events_sha256: evidence.events_sha256, event_ids: evidence.event_ids, receipt_seqs: evidence.receipt_seqs } } : {}),
        },
      }],
      {
        system: true,
        records: ([r]) => r ? [{ op: 'putRecord', record: { tenant, kind: INCIDENT_KIND, id, state: 'open', created_at: now, updated_at: now, body: JSON.stringify({ ...body, receipt: { seq: r.seq, id: r.id } }) } }] : [],
      },
    );
    this.stats.incidents++;
  }

  async #act(action: ResponseAction, tenant: string, agent: string | null, alert: SecurityEvent, reason: string, incidentId: string): Promise<void> {
    const ctx = { actor: ACTOR, reason };
    const needAgent = (): string => {
      if (!agent) throw new WardenError('BAD_INPUT', `${action} needs an agent, and the alert names none`);
      return agent;
    };
    switch (action) {
      case 'quarantine':
        await this.agents.quarantine(tenant, needAgent(), ctx);
        return;
      case 'revoke_passports':
        await this.passports.revokeAgent(tenant, needAgent(), ctx);
        return;
      case 'breaker_agent':
        await this.controls.open(tenant, 'agent', needAgent(), reason, incidentId);
        return;
      case 'breaker_tool': {
        const trigger = alert.details.trigger as { resource?: unknown } | undefined;
        if (typeof trigger?.resource !== 'string') throw new WardenError('BAD_INPUT', 'breaker_tool needs the alert to name a resource');
        await this.controls.open(tenant, 'tool', trigger.resource, reason, incidentId);
        return;
      }
      case 'require_approval':
        await this.controls.requireApproval(tenant, needAgent(), reason, incidentId);
        return;
      case 'preserve_evidence':
        return;
    }
  }

  /** The subject's recent events as stored (sealed details stay sealed) and the receipts they point at. */
  async #collect(alert: SecurityEvent): Promise<NonNullable<IncidentBody['evidence']>> {
    await this.eventLog.flush(); // the alert and the responses' own events are in the store now
    const since = new Date(Date.now() - EVIDENCE_WINDOW_MS).toISOString();
    const agent = alert.actor.agent ?? undefined;
    const rows = await this.store.listEvents({
      tenant: alert.tenant, since, limit: MAX_EVIDENCE_EVENTS, order: 'desc',
      ...(agent ? { agent } : alert.correlation_id ? { correlation_id: alert.correlation_id } : {}),
    });
    const events = rows.reverse().map((r) => JSON.parse(r.body) as Json);
    const seqs = new Set<number>();
    for (const e of events as { receipt?: { tenant: string; seq: number } | null }[]) {
      if (e.receipt && e.receipt.tenant === alert.tenant) seqs.add(e.receipt.seq);
    }
    return {
      events,
      events_sha256: eventsDigest(events),
      event_ids: (events as { id: string }[]).map((e) => e.id),
      receipt_seqs: [...seqs].sort((a, b) => a - b),
    };
  }
}
