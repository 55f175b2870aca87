/**
 * Receipts → events. Every decision, outcome, approval, key, agent, operator and policy change
 * is first a receipt; this bridge turns each committed one into an event that points back at
 * it, so the event stream and the ledger can never disagree about what happened.
 *
 * Refused authentications (`auth`) and incidents are evented where they happen, with their own
 * categories; plain data receipts are not security events.
 */
import type { Receipt } from '../ledger/receipt.js';
import type { SecurityEventInput, Severity } from './security-events.js';

const MAX_REASON_CHARS = 300;

interface WardenPayload {
  decision_id?: string;
  policies?: string[];
  obligations?: string[];
  risk?: { score?: number; level?: string };
  context?: Record<string, unknown>;
  approval_id?: string;
  granted?: boolean;
  control?: string;
}

/** The destination of an action: an `http:` resource's host, else `context.domain`. */
function egressHost(resource: string | null, domain: unknown): string | undefined {
  if (resource?.startsWith('http:')) return resource.slice(5).toLowerCase().replace(/\.$/, '');
  return typeof domain === 'string' ? domain : undefined;
}

function decisionSeverity(decision: string | null): Severity {
  return decision === 'deny' ? 'low' : 'info';
}

/** The event for one receipt, or undefined when the receipt is not a security event. */
export function eventForReceipt(r: Receipt): SecurityEventInput | undefined {
  const base = {
    tenant: r.tenant,
    actor: r.actor,
    correlation_id: r.correlation_id,
    receipt: { tenant: r.tenant, seq: r.seq },
  };
  const reasons = r.reasons.map((x) => (x.length > MAX_REASON_CHARS ? `${x.slice(0, MAX_REASON_CHARS)}…` : x));
  const common = { action: r.action, resource: r.resource, receipt_id: r.id, ...(reasons.length ? { reasons } : {}) };
  switch (r.kind) {
    case 'decision': {
      const w = (r.payload._warden ?? {}) as WardenPayload;
      const ctx = w.context ?? {};
      return {
        ...base, severity: decisionSeverity(r.decision), category: 'decision',
        details: {
          ...common, decision: r.decision, decision_id: w.decision_id ?? null, policies: w.policies ?? [],
          obligations: w.obligations ?? [], risk: w.risk ?? null, policy_version: r.policy_version,
          // What detection needs to see, not the whole context (that stays in the receipt).
          ...(egressHost(r.resource, ctx.domain) ? { domain: egressHost(r.resource, ctx.domain) } : {}),
          ...(w.approval_id ? { approval_id: w.approval_id } : {}),
          ...(typeof w.granted === 'boolean' ? { granted: w.granted } : {}),
          ...(typeof w.control === 'string' ? { control: w.control } : {}),
        },
      };
    }
    case 'outcome':
      return { ...base, severity: r.payload.allowed === false ? 'medium' : 'info', category: 'outcome', details: { ...common, status: r.payload.status ?? null, decision_id: r.payload.decision_id ?? null } };
    case 'approval':
      return { ...base, severity: 'info', category: 'approval', details: { ...common, decision: r.decision } };
    case 'key':
      return { ...base, severity: r.action === 'key.revoke' ? 'high' : 'medium', category: 'key_change', details: common };
    case 'policy':
      return { ...base, severity: 'medium', category: 'policy_change', details: common };
    case 'operator':
      return { ...base, severity: 'medium', category: 'operator_change', details: common };
    case 'agent': {
      const quarantine = r.action === 'agent.quarantine';
      return { ...base, severity: quarantine ? 'high' : 'low', category: quarantine ? 'quarantine' : 'agent_change', details: common };
    }
    case 'incident':
      return { ...base, severity: r.action === 'breaker.open' || r.action === 'incident.open' ? 'high' : 'medium', category: 'incident', details: { ...common, ...(typeof r.payload.incident_id === 'string' ? { incident_id: r.payload.incident_id } : {}) } };
    default:
      return undefined;
  }
}
