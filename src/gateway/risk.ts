/**
 * Risk score of one action, 0–100, handed to policy as `context.risk` / `context.risk_level`.
 * The model is the seeds' (data sensitivity, code trust, network, filesystem, external APIs)
 * with their weights as configurable defaults: weights × factors, capped at 100.
 */

export interface RiskWeights {
  data_sensitivity: number;
  code_untrust: number;
  network: number;
  filesystem: number;
  external_apis: number;
}

export const DEFAULT_RISK_WEIGHTS: RiskWeights = { data_sensitivity: 0.4, code_untrust: 0.3, network: 0.1, filesystem: 0.1, external_apis: 0.1 };

/** Sensitivity of a `context.data_class`; unknown classes count as the most sensitive (fail safe). */
export const DATA_CLASSES: Readonly<Record<string, number>> = { public: 0, internal: 0.3, confidential: 0.7, restricted: 1, secret: 1 };

export interface RiskInput {
  action: string;
  /** Agent trust level 0–100. */
  trustLevel: number;
  dataClass?: string;
  /** Whether the call reaches outside (an HTTP host, a domain in the context). */
  external: boolean;
}

export interface RiskAssessment {
  score: number;
  level: 'low' | 'medium' | 'high' | 'critical';
  factors: { data_sensitivity: number; code_trust: number; network: boolean; filesystem: boolean; external_apis: boolean };
}

export function assessRisk(input: RiskInput, weights: RiskWeights = DEFAULT_RISK_WEIGHTS): RiskAssessment {
  const sensitivity = input.dataClass === undefined ? 0 : (DATA_CLASSES[input.dataClass] ?? 1);
  const trust = Math.min(100, Math.max(0, input.trustLevel)) / 100;
  const network = input.action === 'http.egress' || input.action === 'mcp.request' || input.external;
  const filesystem = input.action === 'data.write' || input.action === 'data.delete';
  const externalApis = input.action === 'http.egress' || input.external;
  const raw =
    sensitivity * weights.data_sensitivity +
    (1 - trust) * weights.code_untrust +
    (network ? weights.network : 0) +
    (filesystem ? weights.filesystem : 0) +
    (externalApis ? weights.external_apis : 0);
  const score = Math.min(100, Math.round(raw * 100));
  const level = score < 25 ? 'low' : score < 50 ? 'medium' : score < 75 ? 'high' : 'critical';
  return { score, level, factors: { data_sensitivity: sensitivity, code_trust: trust, network, filesystem, external_apis: externalApis } };
}
