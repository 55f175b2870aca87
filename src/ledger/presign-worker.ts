import type { KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { BatchSealer, type PreparedStatement } from './receipt.js';

/** A batch to sign on a predicted log head (see presign.ts). */
export interface PresignJob {
  id: number;
  tenant: string;
  ts: string;
  seq: number;
  prev: string;
  kid: string;
  key: KeyObject;
  statements: PreparedStatement[];
}

export interface PresignResult {
  id: number;
  leaves: string[];
  sigs: string[];
  hashes: Uint8Array;
  error?: string;
}

parentPort?.on('message', (job: PresignJob) => {
  const leaves: string[] = [];
  const sigs: string[] = [];
  const hashes = new Uint8Array(job.statements.length * 32);
  let prev = job.prev;
  try {
    const sealer = new BatchSealer(job.tenant, job.ts, { kid: job.kid, privateKey: job.key });
    job.statements.forEach((st, i) => {
      const sealed = sealer.seal(st, prev, job.seq + i);
      leaves.push(sealed.leaf);
      sigs.push(sealed.sig.value);
      hashes.set(sealed.leafHash, i * 32);
      prev = sealed.leafHash.toString('hex');
    });
    const result: PresignResult = { id: job.id, leaves, sigs, hashes };
    parentPort?.postMessage(result, [hashes.buffer]);
  } catch (err) {
    parentPort?.postMessage({ id: job.id, leaves: [], sigs: [], hashes: new Uint8Array(0), error: (err as Error).message });
  }
});
