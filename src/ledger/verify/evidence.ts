/**
 * Offline verification of an incident's evidence bundle (`warden-evidence/v1`):
 *
 * - every receipt comes as a C2SP tlog-proof: its signature (key valid at its ts) and its
 *   inclusion in a signed checkpoint are checked against the trust bundle;
 * - the `incident.open` receipt commits to the SHA-256 of the JCS of the bundle's events and to
 *   the seqs of the receipts in evidence, so an event or receipt that was added, removed or
 *   edited after the incident was opened makes the bundle fail.
 *
 * The bundle carries a trust bundle for convenience; an auditor should pin their own (`--trust`).
 */
import { createHash } from 'node:crypto';
import { jcs, type Json } from '../../crypto/jcs.js';
import { BadInputError, VerificationError } from '../../errors.js';
import type { Receipt } from '../receipt.js';
import { verifyTlogProof } from './proof.js';
import { parseTrustBundle, type Trust } from './trust.js';

export const EVIDENCE_FORMAT = 'warden-evidence/v1';
const MAX_ITEMS = 10_000;

export interface EvidenceBundle {
  format: typeof EVIDENCE_FORMAT;
  tenant: string;
  incident_id: string;
  trust: unknown;
  /** tlog-proof texts, one per receipt. */
  proofs: string[];
  /** The events as stored when the incident was opened (sealed details stay sealed). */
  events: Json[];
}

export interface EvidenceReport {
  incident_id: string;
  receipts: number;
  events: number;
  tree_size: number;
}

/** SHA-256 (hex) of the JCS of an event list: what the incident receipt commits to. */
export function eventsDigest(events: readonly Json[]): string {
  return createHash('sha256').update(jcs(events as Json[]), 'utf8').digest('hex');
}

function fail(msg: string): never {
  throw new VerificationError(`evidence bundle: ${msg}`);
}

/** Verifies a parsed bundle; `trust` overrides the bundle's own trust bundle. Throws on any failure. */
export function verifyEvidence(raw: unknown, trust?: Trust): EvidenceReport {
  // Attacker-supplied file: check its shape before computing anything.
  const b = raw as Partial<EvidenceBundle> | null;
  if (typeof b !== 'object' || b === null || b.format !== EVIDENCE_FORMAT) throw new BadInputError(`not a ${EVIDENCE_FORMAT} bundle`);
  if (typeof b.tenant !== 'string' || typeof b.incident_id !== 'string') throw new BadInputError('evidence bundle: tenant and incident_id must be strings');
  if (!Array.isArray(b.proofs) || !Array.isArray(b.events) || b.proofs.length > MAX_ITEMS || b.events.length > MAX_ITEMS) {
    throw new BadInputError(`evidence bundle: proofs and events must be arrays of at most ${MAX_ITEMS}`);
  }
  const t = trust ?? parseTrustBundle(b.trust);
  const receipts = new Map<number, Receipt>();
  let treeSize = 0;
  for (const [i, text] of b.proofs.entries()) {
    if (typeof text !== 'string') throw new BadInputError(`evidence bundle: proof ${i} is not a string`);
    const r = verifyTlogProof(text, t);
    if (r.receipt.tenant !== b.tenant) fail(`proof ${i} is a receipt of tenant ${r.receipt.tenant}, not ${b.tenant}`);
    receipts.set(r.index, r.receipt);
    treeSize = Math.max(treeSize, r.treeSize);
  }
  const incident = [...receipts.values()].find((r) => r.kind === 'incident' && r.action === 'incident.open' && r.payload.incident_id === b.incident_id);
  if (!incident) fail(`no verified incident.open receipt for ${b.incident_id}`);
  const evidence = incident.payload.evidence as { events_sha256?: unknown; event_ids?: unknown; receipt_seqs?: unknown } | undefined;
  if (!evidence || typeof evidence.events_sha256 !== 'string' || !Array.isArray(evidence.receipt_seqs) || !Array.isArray(evidence.event_ids)) {
    fail(`the incident receipt (seq ${incident.seq}) does not commit to evidence`);
  }
  if (eventsDigest(b.events) !== evidence.events_sha256) fail('the events differ from those the incident receipt commits to (digest mismatch)');
  const ids = b.events.map((e) => (e as { id?: unknown } | null)?.id);
  if (jcs(ids as Json[]) !== jcs(evidence.event_ids as Json[])) fail('the event ids differ from those the incident receipt lists');
  for (const seq of evidence.receipt_seqs) {
    if (typeof seq !== 'number' || !receipts.has(seq)) fail(`receipt seq ${String(seq)} named by the incident has no verified proof in the bundle`);
  }
  return { incident_id: b.incident_id, receipts: receipts.size, events: b.events.length, tree_size: treeSize };
}
