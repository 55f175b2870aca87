/**
 * Builds an incident's evidence bundle (`warden-evidence/v1`, verified by `warden verify
 * --evidence` and src/ledger/verify/evidence.ts): the trust bundle, a tlog-proof for every
 * receipt the incident commits to (and for the incident receipt itself) against one signed
 * checkpoint, and the events exactly as stored when the incident was opened.
 */
import type { Warden } from '../context.js';
import { WardenError } from '../errors.js';
import { proveReceipts } from '../ledger/proofs.js';
import { buildTrustBundle } from '../ledger/trust.js';
import { EVIDENCE_FORMAT, type EvidenceBundle } from '../ledger/verify/evidence.js';
import { INCIDENT_KIND, type IncidentBody } from './response.js';

export async function getIncident(w: Warden, tenant: string, id: string): Promise<IncidentBody> {
  if (!/^inc_[A-Za-z0-9_-]{16}$/.test(id)) throw new WardenError('BAD_INPUT', 'invalid incident id (expected inc_ and 16 characters)');
  const rec = await w.store.getRecord(tenant, INCIDENT_KIND, id);
  if (!rec) throw new WardenError('NOT_FOUND', `no incident ${id}`);
  return JSON.parse(rec.body) as IncidentBody;
}

export async function buildEvidence(w: Warden, tenant: string, id: string): Promise<EvidenceBundle> {
  const incident = await getIncident(w, tenant, id);
  if (!incident.evidence || !incident.receipt) throw new WardenError('NOT_FOUND', `incident ${id} has no preserved evidence (its rule's responses do not include preserve_evidence)`);
  const seqs = [...new Set([...incident.evidence.receipt_seqs, incident.receipt.seq])].sort((a, b) => a - b);
  const proofs = await proveReceipts(w.store, w.checkpointer, tenant, seqs);
  return {
    format: EVIDENCE_FORMAT,
    tenant,
    incident_id: id,
    trust: await buildTrustBundle(w.store, tenant),
    proofs,
    events: incident.evidence.events,
  };
}
