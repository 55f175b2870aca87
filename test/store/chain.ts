/**
 * Test builders that chain every leaf to the head it was built on: the leaf records the seq and
 * the previous leaf hash it saw, so after any amount of concurrency the stored log proves
 * whether each append really continued the head it locked.
 */
import { createHash } from 'node:crypto';
import type { AppendBuilder, LogHead, ReceiptRow } from '../../src/store/types.js';

export function leafHash(leaf: string): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(leaf).digest();
}

function makeRow(seq: number, prev: Buffer, id: string, writer: string): ReceiptRow {
  const leaf = JSON.stringify({ seq, prev: prev.toString('hex'), writer, id });
  return { seq, id, ts: '2025-01-02T03:04:05.678Z', kind: 'test.append', correlation_id: writer, leaf, leaf_hash: leafHash(leaf) };
}

/** `n` rows continuing `head`, ids `${idPrefix}${k}` for k = 0..n-1. */
export function chainedRows(head: LogHead, n: number, idPrefix: string, writer = 'test'): ReceiptRow[] {
  const rows: ReceiptRow[] = [];
  let prev = head.last_leaf_hash;
  for (let k = 0; k < n; k++) {
    const row = makeRow(head.size + k, prev, `${idPrefix}${k}`, writer);
    rows.push(row);
    prev = row.leaf_hash;
  }
  return rows;
}

/** A builder appending one chained row with the given id. */
export function oneRow(id: string, writer = 'test'): AppendBuilder {
  return (head) => ({ rows: [makeRow(head.size, head.last_leaf_hash, id, writer)] });
}

/** Every way `rows` (read from seq 0) fails to be one gap-free chain; empty when sound. */
export function chainProblems(rows: ReceiptRow[]): string[] {
  const problems: string[] = [];
  let prev: Buffer = Buffer.alloc(32);
  rows.forEach((row, k) => {
    const leaf = JSON.parse(row.leaf) as { seq: number; prev: string };
    if (row.seq !== k) problems.push(`row ${k} has seq ${row.seq}`);
    if (leaf.seq !== k) problems.push(`row ${k} was built for seq ${leaf.seq}`);
    if (leaf.prev !== prev.toString('hex')) problems.push(`row ${k} was built on a different previous leaf`);
    if (!leafHash(row.leaf).equals(row.leaf_hash)) problems.push(`row ${k} leaf_hash does not match its leaf`);
    prev = row.leaf_hash;
  });
  return problems;
}
