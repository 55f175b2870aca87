import { StoreError } from '../errors.js';
import type { Store } from '../store/types.js';
import type { Checkpointer } from './checkpointer.js';
import { inclusionProof, MerkleLevels } from './merkle.js';
import { formatTlogProof } from './tlog-proof.js';
import { BadInputError } from '../errors.js';

/**
 * The C2SP tlog-proof of entry `seq` against the newest signed checkpoint (signing a fresh
 * one first if entries are newer): `extra` carries the receipt's leaf input L.
 */
export async function proveReceipt(store: Store, checkpointer: Checkpointer, tenant: string, seq: number): Promise<string> {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new BadInputError(`seq must be a non-negative integer, got ${seq}`);
  const cp = await checkpointer.checkpoint(tenant);
  if (seq >= cp.size) throw new BadInputError(`no entry ${seq}: the log of tenant ${tenant} has ${cp.size} entries`);
  const [row] = await store.getReceipts(tenant, seq, 1);
  if (!row) throw new StoreError(`entry ${seq} is missing from the store`, { code: 'NOT_FOUND' });
  const hashes = await store.getLeafHashes(tenant, 0, cp.size);
  return formatTlogProof({
    extra: Buffer.from(row.leaf, 'utf8'),
    index: seq,
    proof: inclusionProof(hashes, seq, cp.size),
    checkpointNote: cp.note,
  });
}

/** tlog-proofs of several entries against one checkpoint (the tree's hashes are read once). */
export async function proveReceipts(store: Store, checkpointer: Checkpointer, tenant: string, seqs: readonly number[]): Promise<string[]> {
  const cp = await checkpointer.checkpoint(tenant);
  for (const seq of seqs) {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= cp.size) throw new BadInputError(`no entry ${seq} in the log of tenant ${tenant} (size ${cp.size})`);
  }
  // One pass over the tree for all proofs (O(n) once, then O(log n) each), yielding as it goes.
  const levels = await MerkleLevels.build(await store.getLeafHashes(tenant, 0, cp.size), cp.size);
  const out: string[] = [];
  for (const seq of seqs) {
    const [row] = await store.getReceipts(tenant, seq, 1);
    if (!row) throw new StoreError(`entry ${seq} is missing from the store`, { code: 'NOT_FOUND' });
    out.push(formatTlogProof({ extra: Buffer.from(row.leaf, 'utf8'), index: seq, proof: levels.proof(seq), checkpointNote: cp.note }));
  }
  return out;
}
