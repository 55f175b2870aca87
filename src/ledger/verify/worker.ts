import { parentPort } from 'node:worker_threads';
import { WardenError } from '../../errors.js';
import { verifyEntry } from './entry.js';
import { parseTrustBundle, type Trust } from './trust.js';

/**
 * A chunk of consecutive exported lines, joined by "\n": one string crosses the thread
 * boundary as a single copy, where an array of lines would be cloned string by string.
 */
export interface ChunkRequest {
  id: number;
  startSeq: number;
  text: string;
}
/** Leaf hashes and the raw 32-byte `prev` of each verified entry, for the chain check. */
export interface ChunkReply {
  id: number;
  count: number;
  leafHashes: Uint8Array;
  prevs: Uint8Array;
  error?: { seq: number; message: string; code: string };
}

let trust: Trust | undefined;

parentPort?.on('message', (msg: { trust: unknown } | ChunkRequest) => {
  if ('trust' in msg) {
    trust = parseTrustBundle(msg.trust);
    return;
  }
  const lines = msg.text.split('\n');
  const hashes = new Uint8Array(lines.length * 32);
  const prevs = Buffer.alloc(lines.length * 32);
  let count = 0;
  let error: ChunkReply['error'];
  for (; count < lines.length; count++) {
    const seq = msg.startSeq + count;
    try {
      const e = verifyEntry(lines[count] as string, trust as Trust, seq);
      hashes.set(e.leafHash, count * 32);
      prevs.write(e.prev, count * 32, 32, 'hex');
    } catch (err) {
      error = { seq, message: err instanceof WardenError ? err.message : String(err), code: err instanceof WardenError ? err.code : 'INTERNAL' };
      break;
    }
  }
  const reply: ChunkReply = { id: msg.id, count, leafHashes: hashes, prevs, ...(error ? { error } : {}) };
  parentPort?.postMessage(reply, [hashes.buffer, prevs.buffer]);
});
