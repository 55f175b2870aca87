/**
 * Detection rules on a controlled clock: thresholds, sliding windows, the agent's own baseline,
 * per-source authentication bursts, cool-downs, and bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DETECTION, Detector, MAX_KEYS, type DetectionConfig } from '../../src/events/detection.js';
import { SecurityEvents, type SecurityEvent } from '../../src/events/security-events.js';

function setup(config: Partial<DetectionConfig> = {}) {
  const bus = new SecurityEvents();
  let now = Date.parse('2026-11-22T10:00:00.000Z');
  const detector = new Detector(bus, { ...DEFAULT_DETECTION, ...config }, () => now);
  const alerts: SecurityEvent[] = [];
  bus.subscribe((e) => {
    if (e.category === 'alert') alerts.push(e);
  });
  const decision = (agent: string, details: Record<string, unknown> = {}, tenant = 't') =>
    bus.emit({ tenant, severity: 'info', category: 'decision', actor: { agent }, details: { decision: 'allow', action: 'tool.call', resource: 'tool:x', ...details } });
  return { bus, detector, alerts, decision, advance: (ms: number) => (now += ms) };
}

describe('detection rules', () => {
  it('velocity: more than max_actions in the sliding window alerts once per cool-down, per agent and tenant', () => {
    const { alerts, decision, advance } = setup({ velocity: { window_ms: 1000, max_actions: 5 }, cooldown_ms: 10_000 });
    for (let i = 0; i < 5; i++) decision('a');
    expect(alerts).toHaveLength(0);
    decision('a');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'high', tenant: 't', actor: { agent: 'a' }, details: { rule: 'velocity', subject: 'agent:a', thresholds: { window_ms: 1000, max_actions: 5 } } });
    for (let i = 0; i < 20; i++) decision('a');
    expect(alerts).toHaveLength(1); // cool-down
    for (let i = 0; i < 6; i++) decision('a', {}, 'other-tenant');
    expect(alerts).toHaveLength(2); // another tenant's agent of the same name is another subject
    // Spread out below the rate: never alerts.
    for (let i = 0; i < 50; i++) {
      advance(300);
      decision('b');
    }
    expect(alerts.filter((e) => e.details.subject === 'agent:b')).toHaveLength(0);
  });

  it("velocity deviation: a minute far above the agent's own baseline alerts; the same rate from a busy agent does not", () => {
    const { alerts, decision, advance } = setup({
      velocity: { window_ms: 1000, max_actions: 1_000_000 },
      velocity_deviation: { factor: 5, min_actions: 30, min_minutes: 3 },
    });
    const minute = (agent: string, n: number) => {
      for (let i = 0; i < n; i++) decision(agent);
      advance(60_000);
    };
    for (let m = 0; m < 5; m++) {
      minute('quiet', 4);
      minute('busy', 100);
    }
    expect(alerts).toHaveLength(0);
    for (let i = 0; i < 40; i++) decision('quiet');
    for (let i = 0; i < 120; i++) decision('busy');
    expect(alerts.map((e) => [e.details.rule, e.details.subject])).toEqual([['velocity_deviation', 'agent:quiet']]);
  });

  it('repeated denials and ungranted denials (privilege escalation) count denials only; breaker denials do not count', () => {
    const { alerts, decision } = setup({ repeated_denials: { window_ms: 60_000, max_denials: 3 }, privilege_escalation: { window_ms: 60_000, max_ungranted: 2 } });
    decision('a', { decision: 'deny', control: 'breaker' });
    decision('a', { decision: 'deny', control: 'breaker' });
    decision('a', { decision: 'deny', control: 'breaker' });
    decision('a', { decision: 'allow' });
    expect(alerts).toHaveLength(0);
    decision('a', { decision: 'deny', granted: true });
    decision('a', { decision: 'deny', granted: false });
    decision('a', { decision: 'deny', granted: false });
    expect(alerts.map((e) => e.details.rule)).toEqual(['repeated_denials', 'privilege_escalation']);
  });

  it('cross-tenant and privilege-escalation events alert at once, for agents and operators alike', () => {
    const { bus, alerts } = setup();
    bus.emit({ tenant: 't', severity: 'high', category: 'cross_tenant', actor: { human: 'olga' }, details: {} });
    bus.emit({ tenant: 't', severity: 'high', category: 'privilege_escalation', actor: { agent: 'x' }, details: {} });
    expect(alerts.map((e) => [e.details.rule, e.details.subject])).toEqual([['cross_tenant', 'actor:olga'], ['privilege_escalation', 'agent:x']]);
  });

  it('unusual egress: after the learning period, each new domain alerts once (case-insensitive)', () => {
    const { alerts, decision } = setup({ unusual_egress: { learning_decisions: 2 } });
    decision('a', { domain: 'api.example.com' });
    decision('a', { domain: 'API.example.com' });
    decision('a', { domain: 'api.example.com' });
    expect(alerts).toHaveLength(0);
    decision('a', { domain: 'evil.example.net' });
    decision('a', { domain: 'Evil.Example.net' });
    expect(alerts.map((e) => e.details.subject)).toEqual(['agent:a:evil.example.net']);
  });

  it('failed authentications burst per source address, whatever tenant they claim', () => {
    const { detector, alerts } = setup({ auth_failures: { window_ms: 60_000, max_failures: 3 } });
    detector.authFailure('10.0.0.1', undefined);
    detector.authFailure('10.0.0.2', undefined);
    detector.authFailure('10.0.0.1', undefined);
    expect(alerts).toHaveLength(0);
    detector.authFailure('10.0.0.1', undefined);
    expect(alerts[0]).toMatchObject({ tenant: '_deployment', details: { rule: 'auth_failures', subject: 'source:10.0.0.1' } });
  });

  it('alerts never feed detection (no loops), and forget() resets an agent', () => {
    const { bus, alerts, decision, detector } = setup({ velocity: { window_ms: 60_000, max_actions: 3 }, cooldown_ms: 0 });
    bus.emit({ tenant: 't', severity: 'high', category: 'alert', actor: { agent: 'a' }, details: { rule: 'velocity' } });
    decision('a');
    decision('a');
    decision('a');
    detector.forget('t', 'a'); // without it, the next two would make 5 > 3
    decision('a');
    decision('a');
    expect(alerts.filter((e) => e.actor.agent === 'a')).toHaveLength(1); // the one emitted by hand
  });

  it('memory stays bounded under a flood of distinct agents, and detection still works after it', () => {
    const { decision, detector, alerts } = setup({ velocity: { window_ms: 60_000, max_actions: 2 }, unusual_egress: { learning_decisions: 1_000 } });
    for (let i = 0; i < 25_000; i++) decision(`agent-${i}`, { domain: `d${i}.example` });
    expect(detector.trackedKeys()).toBeLessThanOrEqual(4 * MAX_KEYS);
    expect(detector.trackedKeys()).toBeGreaterThanOrEqual(MAX_KEYS);
    for (let i = 0; i < 3; i++) decision('late');
    expect(alerts.map((e) => e.details.subject)).toEqual(['agent:late']);
  });
});
