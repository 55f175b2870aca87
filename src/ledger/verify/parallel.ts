import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../../worker.js';
import { VerificationError } from '../../errors.js';
import { LogVerifier, MAX_LINE_BYTES, type LogReport } from './log.js';
import type { Trust } from './trust.js';
import type { ChunkReply, ChunkRequest } from './worker.js';
import { BadInputError } from '../../errors.js';

const CHUNK = 1000;


/**
 * Verifies a whole exported log on all cores: workers check shape, canonical form, key windows
 * and signatures of chunks in parallel; this thread checks seq continuity, the prev chain and
 * the Merkle root in order, so the first failing seq is still reported exactly.
 */
export async function verifyLogParallel(
  lines: AsyncIterable<string> | Iterable<string>,
  trust: Trust,
  options: { checkpoint?: string; workers?: number; onProgress?: (n: number) => void } = {},
): Promise<LogReport> {
  const verifier = new LogVerifier(trust, options.checkpoint);
  const n = Math.max(1, options.workers ?? availableParallelism());
  const workers = Array.from({ length: n }, () => spawnModuleWorker(import.meta.url, 'worker'));
  const inFlight = workers.map(() => 0);
  const owner = new Map<number, number>();
  const pending = new Map<number, { resolve: (r: ChunkReply) => void; reject: (e: unknown) => void }>();
  for (const w of workers) {
    w.postMessage({ trust: trust.bundle });
    w.on('message', (r: ChunkReply) => {
      const k = owner.get(r.id) as number;
      inFlight[k] = (inFlight[k] as number) - 1;
      owner.delete(r.id);
      pending.get(r.id)?.resolve(r);
      pending.delete(r.id);
    });
    w.on('error', (e) => pending.forEach((p) => p.reject(e)));
  }
  const results: Promise<ChunkReply>[] = [];
  let nextId = 0;
  let startSeq = 0;
  let chunk: string[] = [];
  const submit = (): void => {
    const req: ChunkRequest = { id: nextId, startSeq, text: chunk.join('\n') };
    results.push(new Promise((resolve, reject) => pending.set(req.id, { resolve, reject })));
    // Least-loaded worker, not round-robin: a slower thread never leaves the other idle.
    const k = inFlight.indexOf(Math.min(...inFlight));
    inFlight[k] = (inFlight[k] as number) + 1;
    owner.set(req.id, k);
    (workers[k] as Worker).postMessage(req);
    nextId++;
    startSeq += chunk.length;
    chunk = [];
  };
  let consumed = 0;
  // Consume finished chunks in order, keeping a bounded number in flight (back-pressure).
  const drainTo = async (maxInFlight: number): Promise<void> => {
    while (results.length - consumed > maxInFlight) {
      const reply = await (results[consumed] as Promise<ChunkReply>);
      results[consumed] = undefined as never;
      const base = consumed * CHUNK;
      const prevs = Buffer.from(reply.prevs.buffer, reply.prevs.byteOffset, reply.prevs.byteLength);
      const hashes = Buffer.from(reply.leafHashes.buffer, reply.leafHashes.byteOffset, reply.leafHashes.byteLength);
      for (let i = 0; i < reply.count; i++) {
        verifier.pushVerified(base + i, prevs.subarray(i * 32, i * 32 + 32), hashes.subarray(i * 32, i * 32 + 32));
      }
      if (reply.error) throw new VerificationError(reply.error.message.replace(/^seq \d+: /, ''), reply.error.seq);
      consumed++;
      options.onProgress?.(verifier.size);
    }
  };
  try {
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (line.length * 3 > MAX_LINE_BYTES && Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
        throw new BadInputError(`line ${lineNo} is longer than 1 MiB`);
      }
      chunk.push(line);
      if (chunk.length === CHUNK) {
        submit();
        await drainTo(n * 8);
      }
    }
    if (chunk.length) submit();
    await drainTo(0);
    return verifier.finish();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
