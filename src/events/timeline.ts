/**
 * Incident timelines: the receipts and events of one correlation id (or one agent) merged in
 * time order, each receipt with its verification status — its signature checked against the
 * tenant's trust bundle, its inclusion proven against the newest signed checkpoint — so an
 * investigator can tell the record from what merely claims to be it.
 */
import type { Warden } from '../context.js';
import { BadInputError } from '../errors.js';
import { MerkleLevels, verifyInclusion } from '../ledger/merkle.js';
import { leafHashOf, type Receipt } from '../ledger/receipt.js';
import { buildTrustBundle } from '../ledger/trust.js';
import { verifyEntry } from '../ledger/verify/entry.js';
import { verifyCheckpointNote } from '../ledger/verify/log.js';
import { parseTrustBundle } from '../ledger/verify/trust.js';
import type { ReceiptRow } from '../store/types.js';
import type { PersistedEvent } from './event-log.js';

export const MAX_TIMELINE_ITEMS = 5_000;
/** Inclusion is proven when the tree's hashes fit in this many entries (32 bytes each). */
const MAX_TREE_FOR_INCLUSION = 2_000_000;

export interface TimelineQuery {
  tenant: string;
  correlation_id?: string | undefined;
  agent?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: number | undefined;
}

export interface TimelineReceipt {
  seq: number;
  id: string;
  kind: string;
  action: string;
  resource: string | null;
  decision: string | null;
  reasons: string[];
  policy_version: string | null;
  /** `verified`, or why not. */
  verification: string;
  /** Size of the checkpoint the inclusion was proven against (null when not proven). */
  checkpoint_size: number | null;
}

export interface TimelineEntry {
  ts: string;
  type: 'receipt' | 'event';
  correlation_id: string | null;
  actor: { human?: string | null; agent?: string | null; service?: string | null };
  receipt?: TimelineReceipt;
  event?: Pick<PersistedEvent, 'id' | 'category' | 'severity' | 'details' | 'receipt'>;
}

export interface Timeline {
  tenant: string;
  query: Omit<TimelineQuery, 'tenant'>;
  generated_at: string;
  checkpoint: { size: number; note: string } | null;
  entries: TimelineEntry[];
  truncated: boolean;
}

export function checkTimelineQuery(q: TimelineQuery): void {
  if ((q.correlation_id === undefined) === (q.agent === undefined)) throw new BadInputError('give exactly one of correlation id and agent');
  for (const [k, v] of [['since', q.since], ['until', q.until]] as const) {
    if (v !== undefined && Number.isNaN(Date.parse(v))) throw new BadInputError(`${k}: expected an RFC 3339 time such as 2026-11-22T16:00:00Z`);
  }
}

const iso = (v: string | undefined) => (v === undefined ? undefined : new Date(Date.parse(v)).toISOString());

export async function buildTimeline(w: Warden, q: TimelineQuery): Promise<Timeline> {
  checkTimelineQuery(q);
  const limit = Math.min(q.limit ?? 1000, MAX_TIMELINE_ITEMS);
  const since = iso(q.since);
  const until = iso(q.until);
  await w.eventLog.flush();
  const events = await w.eventLog.query({
    tenant: q.tenant, limit, ...(since ? { since } : {}), ...(until ? { until } : {}),
    ...(q.correlation_id !== undefined ? { correlation_id: q.correlation_id } : { agent: q.agent as string }),
  });

  // Receipts: of the correlation id; for an agent, those its events point at and their correlation ids.
  const rows = new Map<number, ReceiptRow>();
  const correlations = new Set<string>();
  if (q.correlation_id !== undefined) correlations.add(q.correlation_id);
  for (const e of events) if (e.correlation_id) correlations.add(e.correlation_id);
  for (const c of [...correlations].slice(0, 200)) {
    for (const r of await w.store.getReceiptsByCorrelation(q.tenant, c, limit)) rows.set(r.seq, r);
  }
  for (const e of events) {
    if (e.receipt?.tenant === q.tenant && !rows.has(e.receipt.seq)) {
      const [r] = await w.store.getReceipts(q.tenant, e.receipt.seq, 1);
      if (r) rows.set(r.seq, r);
    }
  }
  const inWindow = (ts: string) => (since === undefined || ts >= since) && (until === undefined || ts <= until);
  const receiptRows = [...rows.values()].filter((r) => inWindow(r.ts));

  // Verification: the trust bundle and checkpoint are read from the store, then checked with the offline verifier's code.
  const trust = parseTrustBundle(await buildTrustBundle(w.store, q.tenant));
  let checkpoint: Timeline['checkpoint'] = null;
  let root: Buffer | undefined;
  let levels: MerkleLevels | undefined;
  if (receiptRows.length > 0) {
    const cp = await w.checkpointer.checkpoint(q.tenant);
    const verified = verifyCheckpointNote(cp.note, trust);
    checkpoint = { size: cp.size, note: cp.note };
    root = verified.rootHash;
    // The tree is built once (yielding to other requests) and every proof then costs O(log n).
    if (cp.size > 0 && cp.size <= MAX_TREE_FOR_INCLUSION) levels = await MerkleLevels.build(await w.store.getLeafHashes(q.tenant, 0, cp.size), cp.size);
  }
  const entries: TimelineEntry[] = [];
  for (const row of receiptRows) {
    let receipt: Receipt;
    let verification = 'verified';
    let proven: number | null = null;
    try {
      receipt = verifyEntry(row.leaf, trust, row.seq).receipt;
      if (levels && root && checkpoint && row.seq < checkpoint.size) {
        verifyInclusion(leafHashOf(row.leaf), row.seq, checkpoint.size, levels.proof(row.seq), root);
        proven = checkpoint.size;
      } else {
        verification = 'signature verified; inclusion not proven (no checkpoint covers it yet, or the log is too large to prove here)';
      }
    } catch (err) {
      receipt = JSON.parse(row.leaf) as Receipt;
      verification = `INVALID: ${(err as Error).message}`;
    }
    entries.push({
      ts: row.ts, type: 'receipt', correlation_id: row.correlation_id, actor: receipt.actor ?? {},
      receipt: {
        seq: row.seq, id: row.id, kind: row.kind, action: receipt.action, resource: receipt.resource ?? null, decision: receipt.decision ?? null,
        reasons: receipt.reasons ?? [], policy_version: receipt.policy_version ?? null, verification, checkpoint_size: proven,
      },
    });
  }
  for (const e of events) {
    entries.push({
      ts: e.ts, type: 'event', correlation_id: e.correlation_id, actor: e.actor,
      event: { id: e.id, category: e.category, severity: e.severity, details: e.details, receipt: e.receipt },
    });
  }
  // Time order; at equal times the receipt (the fact) comes before the event about it.
  entries.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.type === b.type ? 0 : a.type === 'receipt' ? -1 : 1));
  const { tenant: _t, ...query } = q;
  return {
    tenant: q.tenant, query, generated_at: new Date().toISOString(), checkpoint,
    entries: entries.slice(0, limit), truncated: entries.length > limit || events.length >= limit,
  };
}
