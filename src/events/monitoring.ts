/**
 * The long-running watchers of a serving Warden: detection rules, automatic incident response
 * and alert sinks. Short-lived CLI processes persist their events but do not run these.
 */
import type { EventsConfig } from '../config/schema.js';
import type { Warden } from '../context.js';
import { Detector, type DetectionConfig } from './detection.js';
import { IncidentResponder, type ResponseAction } from './response.js';
import { Sinks } from './sinks/sinks.js';

export function detectionConfig(c: EventsConfig): DetectionConfig {
  const d = c.detection;
  return {
    velocity: { window_ms: d.velocity.window, max_actions: d.velocity.max_actions },
    velocity_deviation: { ...d.velocity_deviation },
    repeated_denials: { window_ms: d.repeated_denials.window, max_denials: d.repeated_denials.max_denials },
    privilege_escalation: { window_ms: d.privilege_escalation.window, max_ungranted: d.privilege_escalation.max_ungranted },
    unusual_egress: { ...d.unusual_egress },
    auth_failures: { window_ms: d.auth_failures.window, max_failures: d.auth_failures.max_failures },
    cooldown_ms: d.cooldown,
  };
}

export class Monitoring {
  readonly detector: Detector;
  readonly responder: IncidentResponder;
  readonly sinks: Sinks;

  constructor(w: Warden, config: EventsConfig, dataDir: string) {
    // Sinks first: they must see the alerts the detector raises.
    this.sinks = new Sinks(w.events, config.sinks, dataDir);
    this.responder = new IncidentResponder(
      w.events, w.store, w.ledger, w.eventLog, w.agents, w.passports, w.controls,
      config.responses as Partial<Record<string, readonly ResponseAction[]>>,
    );
    this.detector = new Detector(w.events, detectionConfig(config));
  }

  async close(): Promise<void> {
    this.detector.close();
    this.responder.close();
    await this.responder.idle();
    await this.sinks.close();
  }
}
