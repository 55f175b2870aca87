import { parentPort } from 'node:worker_threads';
import { WardenError } from '../../errors.js';
import { verifyEntry } from './entry.js';
import { parseTrustBundle, type Trust } from './trust.js';

/** A chunk of consecutive lines to verify; the reply carries leaf hashes and prevs for the chain. */
export interface ChunkRequest {
  id: number;
  startSeq: number;
  lines: string[];
}
export interface ChunkReply {
  id: number;
  leafHashes: Uint8Array;
  prevs: string[];
  error?: { seq: number; message: string; code: string };
}

let trust: Trust | undefined;

parentPort?.on('message', (msg: { trust: unknown } | ChunkRequest) => {
  if ('trust' in msg) {
    trust = parseTrustBundle(msg.trust);
    return;
  }
  const hashes = Buffer.alloc(msg.lines.length * 32);
  const prevs: string[] = [];
  let error: ChunkReply['error'];
  for (let i = 0; i < msg.lines.length; i++) {
    try {
      const e = verifyEntry(msg.lines[i] as string, trust as Trust, msg.startSeq + i);
      e.leafHash.copy(hashes, i * 32);
      prevs.push(e.prev);
    } catch (err) {
      const seq = msg.startSeq + i;
      error = { seq, message: err instanceof WardenError ? err.message : String(err), code: err instanceof WardenError ? err.code : 'INTERNAL' };
      break;
    }
  }
  const reply: ChunkReply = { id: msg.id, leafHashes: hashes.subarray(0, prevs.length * 32), prevs, ...(error ? { error } : {}) };
  parentPort?.postMessage(reply);
});
