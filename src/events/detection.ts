/**
 * Detection rules over the event stream. Each rule watches events (or failed requests, for
 * authentication bursts by source address) and raises an alert — an event of category
 * `alert` naming the rule — that sinks deliver and the incident responder acts on.
 *
 * All state is in memory, bounded per key, and updated synchronously on the event bus: a rule
 * never waits for I/O, so detection cannot slow a decision down. Thresholds come from config
 * (`events.detection`, docs/events.md). An alert for the same rule and subject is raised at
 * most once per cool-down, so a flood is one alert, not thousands.
 */
import { DEPLOYMENT_TENANT, type SecurityEvent, type SecurityEvents, type Severity } from './security-events.js';

export const RULES = ['velocity', 'velocity_deviation', 'repeated_denials', 'privilege_escalation', 'cross_tenant', 'unusual_egress', 'auth_failures'] as const;
export type RuleName = (typeof RULES)[number];

export interface DetectionConfig {
  /** Actions per agent in a sliding window. */
  velocity: { window_ms: number; max_actions: number };
  /** This minute's actions against the agent's own baseline (EWMA of earlier minutes). */
  velocity_deviation: { factor: number; min_actions: number; min_minutes: number };
  repeated_denials: { window_ms: number; max_denials: number };
  /** Denied actions outside the agent's grants, attempts to widen a delegation, privileged changes by non-admins. */
  privilege_escalation: { window_ms: number; max_ungranted: number };
  /** Decisions naming a domain before a new domain counts as unusual for the agent. */
  unusual_egress: { learning_decisions: number };
  /** Failed authentications from one source address in a window. */
  auth_failures: { window_ms: number; max_failures: number };
  /** Minimum time between two alerts of one rule for one subject. */
  cooldown_ms: number;
}

export const DEFAULT_DETECTION: DetectionConfig = {
  velocity: { window_ms: 10_000, max_actions: 100 },
  velocity_deviation: { factor: 10, min_actions: 60, min_minutes: 5 },
  repeated_denials: { window_ms: 60_000, max_denials: 20 },
  privilege_escalation: { window_ms: 60_000, max_ungranted: 5 },
  unusual_egress: { learning_decisions: 20 },
  auth_failures: { window_ms: 60_000, max_failures: 30 },
  cooldown_ms: 60_000,
};

const SEVERITY: Record<RuleName, Severity> = {
  velocity: 'high', velocity_deviation: 'medium', repeated_denials: 'medium', privilege_escalation: 'high',
  cross_tenant: 'high', unusual_egress: 'medium', auth_failures: 'high',
};

/** Keys tracked per rule at most (least recently touched dropped first): bounded memory under churn. */
export const MAX_KEYS = 10_000;
const MAX_DOMAINS_PER_AGENT = 1_000;

/** Timestamps in a sliding window, at most `cap` kept (the count only needs to reach the threshold). */
class Window {
  readonly #ts: number[] = [];
  constructor(private readonly windowMs: number, private readonly cap: number) {}
  /** Records one occurrence at `now`; returns the count within the window. */
  hit(now: number): number {
    this.#ts.push(now);
    while (this.#ts.length > 0 && ((this.#ts[0] as number) <= now - this.windowMs || this.#ts.length > this.cap)) this.#ts.shift();
    return this.#ts.length;
  }
}

class BoundedMap<V> extends Map<string, V> {
  getOr(key: string, make: () => V): V {
    let v = super.get(key);
    if (v === undefined) {
      v = make();
      if (this.size >= MAX_KEYS) this.delete(this.keys().next().value as string);
    } else {
      this.delete(key);
    }
    this.set(key, v);
    return v;
  }
}

interface Baseline {
  minute: number;
  count: number;
  ewma: number;
  minutes: number;
}

export interface Alert {
  rule: RuleName;
  tenant: string;
  /** What the alert is about: `agent:<id>`, `source:<ip>`, … */
  subject: string;
  agent: string | null;
  event: SecurityEvent | null;
}

export class Detector {
  readonly alertsByRule = new Map<RuleName, number>();
  readonly #windows = new BoundedMap<Window>();
  readonly #baselines = new BoundedMap<Baseline>();
  readonly #domains = new BoundedMap<{ decisions: number; seen: Set<string> }>();
  readonly #lastAlert = new BoundedMap<number>();
  readonly #unsubscribe: () => void;

  constructor(
    private readonly bus: SecurityEvents,
    private readonly config: DetectionConfig = DEFAULT_DETECTION,
    private readonly now: () => number = Date.now,
  ) {
    this.#unsubscribe = bus.subscribe((e) => this.observe(e));
  }

  close(): void {
    this.#unsubscribe();
  }

  /** Runs every rule on one event. */
  observe(e: SecurityEvent): void {
    if (e.category === 'alert') return;
    const agent = e.actor.agent ?? null;
    const t = this.now();
    if (e.category === 'cross_tenant') this.#raise({ rule: 'cross_tenant', tenant: e.tenant, subject: agent ? `agent:${agent}` : `actor:${e.actor.human ?? 'unknown'}`, agent, event: e }, t);
    if (e.category === 'privilege_escalation') this.#raise({ rule: 'privilege_escalation', tenant: e.tenant, subject: agent ? `agent:${agent}` : `actor:${e.actor.human ?? 'unknown'}`, agent, event: e }, t);
    if (e.category !== 'decision' || !agent) return;
    const key = `${e.tenant}\n${agent}`;
    const alert = (rule: RuleName) => this.#raise({ rule, tenant: e.tenant, subject: `agent:${agent}`, agent, event: e }, t);

    const v = this.config.velocity;
    if (this.#windows.getOr(`velocity\n${key}`, () => new Window(v.window_ms, v.max_actions + 1)).hit(t) > v.max_actions) alert('velocity');
    if (this.#deviates(key, t)) alert('velocity_deviation');

    const d = e.details;
    // Denials by an open breaker are the response working, not new evidence: counting them would re-open it forever.
    if (d.decision === 'deny' && d.control === undefined) {
      const r = this.config.repeated_denials;
      if (this.#windows.getOr(`denials\n${key}`, () => new Window(r.window_ms, r.max_denials + 1)).hit(t) >= r.max_denials) alert('repeated_denials');
      if (d.granted === false) {
        const p = this.config.privilege_escalation;
        if (this.#windows.getOr(`ungranted\n${key}`, () => new Window(p.window_ms, p.max_ungranted + 1)).hit(t) >= p.max_ungranted) alert('privilege_escalation');
      }
    }
    if (typeof d.domain === 'string') {
      const seen = this.#domains.getOr(key, () => ({ decisions: 0, seen: new Set<string>() }));
      const domain = d.domain.toLowerCase();
      const known = seen.seen.has(domain);
      if (!known && seen.decisions >= this.config.unusual_egress.learning_decisions) {
        this.#raise({ rule: 'unusual_egress', tenant: e.tenant, subject: `agent:${agent}:${domain}`, agent, event: e }, t);
      }
      seen.decisions++;
      if (!known && seen.seen.size < MAX_DOMAINS_PER_AGENT) seen.seen.add(domain);
    }
  }

  /** How many keys the rules hold state for (bounded: each map keeps at most MAX_KEYS). */
  trackedKeys(): number {
    return this.#windows.size + this.#baselines.size + this.#domains.size + this.#lastAlert.size;
  }

  /** Drops what the rules remember about an agent (after an operator released it). */
  forget(tenant: string, agent: string): void {
    const key = `${tenant}\n${agent}`;
    for (const prefix of ['velocity', 'denials', 'ungranted']) this.#windows.delete(`${prefix}\n${key}`);
    this.#baselines.delete(key);
  }

  /** A failed authentication from `source` (an IP address), whatever tenant it claimed. */
  authFailure(source: string, tenant: string | undefined): void {
    const a = this.config.auth_failures;
    const t = this.now();
    if (this.#windows.getOr(`auth\n${source}`, () => new Window(a.window_ms, a.max_failures + 1)).hit(t) >= a.max_failures) {
      this.#raise({ rule: 'auth_failures', tenant: tenant ?? DEPLOYMENT_TENANT, subject: `source:${source}`, agent: null, event: null }, t);
    }
  }

  /** This minute's count against the EWMA of the agent's earlier minutes. */
  #deviates(key: string, t: number): boolean {
    const c = this.config.velocity_deviation;
    const minute = Math.floor(t / 60_000);
    const b = this.#baselines.getOr(key, () => ({ minute, count: 0, ewma: 0, minutes: 0 }));
    if (minute !== b.minute) {
      // Close the finished minute (and any idle ones in between, which count as zero).
      const idle = Math.min(60, minute - b.minute - 1);
      b.ewma = b.minutes === 0 ? b.count : 0.8 * b.ewma + 0.2 * b.count;
      for (let i = 0; i < idle; i++) b.ewma *= 0.8;
      b.minutes += 1 + idle;
      b.minute = minute;
      b.count = 0;
    }
    b.count++;
    return b.minutes >= c.min_minutes && b.count >= c.min_actions && b.count > c.factor * Math.max(b.ewma, 1);
  }

  #raise(a: Alert, t: number): void {
    const key = `${a.rule}\n${a.tenant}\n${a.subject}`;
    const last = this.#lastAlert.get(key);
    if (last !== undefined && t - last < this.config.cooldown_ms) return;
    this.#lastAlert.getOr(key, () => t);
    this.#lastAlert.set(key, t);
    this.alertsByRule.set(a.rule, (this.alertsByRule.get(a.rule) ?? 0) + 1);
    this.bus.emit({
      tenant: a.tenant, severity: SEVERITY[a.rule], category: 'alert',
      actor: a.event?.actor ?? {}, correlation_id: a.event?.correlation_id ?? null, receipt: a.event?.receipt ?? null,
      details: {
        rule: a.rule, subject: a.subject,
        ...(a.event ? { trigger: { id: a.event.id, category: a.event.category, action: a.event.details.action ?? null, resource: a.event.details.resource ?? null } } : {}),
        thresholds: this.#thresholds(a.rule),
      },
    });
  }

  #thresholds(rule: RuleName): Record<string, number> {
    switch (rule) {
      case 'velocity': return { ...this.config.velocity };
      case 'velocity_deviation': return { ...this.config.velocity_deviation };
      case 'repeated_denials': return { ...this.config.repeated_denials };
      case 'privilege_escalation': return { ...this.config.privilege_escalation };
      case 'unusual_egress': return { ...this.config.unusual_egress };
      case 'auth_failures': return { ...this.config.auth_failures };
      case 'cross_tenant': return {};
    }
  }
}
