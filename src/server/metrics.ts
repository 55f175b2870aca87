/**
 * Prometheus metrics at `/metrics` (text exposition format). Aggregates only — no tenant,
 * agent or resource labels — so the unauthenticated endpoint reveals volumes, not who did what.
 * Each server has its own registry (several Wardens can run in one process, e.g. in tests).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Warden } from '../context.js';

export function registerMetrics(app: FastifyInstance, w: Warden): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const decisions = new Counter({ name: 'warden_decisions_total', help: 'Decisions made, by outcome', labelNames: ['decision'], registers: [registry] });
  const latency = new Histogram({
    name: 'warden_decision_duration_seconds',
    help: 'Time to decide and durably receipt one decision',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const events = new Counter({ name: 'warden_security_events_total', help: 'Security events, by category and severity', labelNames: ['category', 'severity'], registers: [registry] });
  new Gauge({
    name: 'warden_decisions_unrecorded_total', help: 'Decisions denied because they could not be receipted', registers: [registry],
    collect() { this.set(w.gateway.unrecorded); },
  });
  new Gauge({
    name: 'warden_auth_denials_suppressed_total', help: 'Unverified authentication failures over the per-tenant receipt budget', registers: [registry],
    collect() { this.set(w.audit.suppressed); },
  });
  new Gauge({
    name: 'warden_approval_webhook_dropped_total', help: 'Approval notifications dropped (too many in flight)', registers: [registry],
    collect() { this.set(w.approvalNotifier?.stats.dropped ?? 0); },
  });

  new Gauge({
    name: 'warden_events_persisted_total', help: 'Security events written to the event log', registers: [registry],
    collect() { this.set(w.eventLog.stats.persisted); },
  });
  new Gauge({
    name: 'warden_events_dropped_total', help: 'Security events dropped because the event queue was full', registers: [registry],
    collect() { this.set(w.eventLog.stats.dropped); },
  });
  new Gauge({
    name: 'warden_events_lag_seconds', help: 'Age of the oldest event not yet persisted', registers: [registry],
    collect() { this.set(w.eventLog.lagMs() / 1000); },
  });
  new Gauge({
    name: 'warden_alerts_total', help: 'Alerts raised, by detection rule', labelNames: ['rule'], registers: [registry],
    collect() {
      for (const [rule, n] of w.monitoring?.detector.alertsByRule ?? []) this.set({ rule }, n);
    },
  });
  new Gauge({
    name: 'warden_incidents_total', help: 'Incidents opened by automatic response', registers: [registry],
    collect() { this.set(w.monitoring?.responder.stats.incidents ?? 0); },
  });
  const sinkGauge = (name: string, help: string, pick: (s: ReturnType<NonNullable<Warden['monitoring']>['sinks']['stats']>[number]) => number) =>
    new Gauge({
      name, help, labelNames: ['sink'], registers: [registry],
      collect() {
        for (const s of w.monitoring?.sinks.stats() ?? []) this.set({ sink: s.name }, pick(s));
      },
    });
  sinkGauge('warden_sink_lag_seconds', 'Age of the oldest event a sink has not delivered', (s) => s.lag_ms / 1000);
  sinkGauge('warden_sink_queued', 'Events waiting in a sink queue', (s) => s.queued);
  sinkGauge('warden_sink_delivered_total', 'Events a sink delivered', (s) => s.stats.delivered);
  sinkGauge('warden_sink_dropped_total', 'Events a sink dropped (queue full)', (s) => s.stats.dropped);
  sinkGauge('warden_sink_dead_lettered_total', 'Events a sink gave up on (written to its dead-letter file)', (s) => s.stats.deadLettered);

  const unsubscribe = w.events.subscribe((e) => events.inc({ category: e.category, severity: e.severity }));
  app.addHook('onClose', async () => unsubscribe());
  app.addHook('onResponse', async (req, reply) => {
    if (req.routeOptions.url !== '/v1/decisions' || req.method !== 'POST') return;
    latency.observe(reply.elapsedTime / 1000);
    const d = (reply as { wardenDecision?: string }).wardenDecision;
    if (d) decisions.inc({ decision: d });
  });
  app.addHook('onSend', async (req, reply, payload) => {
    // Count the decision actually sent (allow, deny, …), read from the serialised body.
    if (req.routeOptions.url === '/v1/decisions' && req.method === 'POST' && reply.statusCode === 200 && typeof payload === 'string') {
      const m = /"decision":"([a-z_]+)"/.exec(payload);
      if (m) (reply as { wardenDecision?: string }).wardenDecision = m[1];
    }
    return payload;
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
