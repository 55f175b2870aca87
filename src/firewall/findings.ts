/**
 * What every firewall detector reports. The gateway puts findings into the policy context
 * (`context.firewall.*`), the receipt payload and the event stream, so the shape is shared
 * and carries no raw secret: `excerpt` is already masked by the detector that made it.
 */
import type { Severity } from '../events/security-events.js';

export type Detector = 'injection' | 'dlp' | 'honeytoken' | 'egress' | 'validation';

export interface Finding {
  detector: Detector;
  /** Stable machine-readable kind within the detector, e.g. `instruction_override`, `aws_access_key`, `credit_card`. */
  type: string;
  severity: Severity;
  /** Character offsets in the scanned (original, not normalised) text, when the finding has a place. */
  span?: { start: number; end: number };
  /** A short, masked excerpt that shows an operator what matched without repeating a secret. */
  excerpt?: string;
  /** Where in a structured input the finding sits, as a JSON pointer (`/args/query`). */
  path?: string;
  /** One readable sentence. */
  message: string;
}

/** A detector's verdict on one input: findings plus, for scored detectors, a calibrated score 0–1. */
export interface ScanResult {
  flagged: boolean;
  score: number;
  findings: Finding[];
}
