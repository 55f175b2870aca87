import type { Worker } from 'node:worker_threads';
import type { Signer } from '../crypto/keyring.js';
import { spawnModuleWorker } from '../worker.js';
import type { PresignJob, PresignResult } from './presign-worker.js';
import type { PreparedStatement } from './receipt.js';

/** Where a batch is predicted to land: the head the previous batch will leave behind. */
export interface PredictedHead {
  size: number;
  prev: string;
  epoch: number;
}

export interface Presigned {
  base: PredictedHead;
  ts: string;
  kid: string;
  leaves: string[];
  sigs: string[];
  hashes: Buffer;
}

/**
 * Signs the next batch on a second core while the current one commits. Signing needs the
 * previous leaf hash, so it can only run ahead on a *predicted* head; the append transaction
 * uses the presigned rows only if the real head is exactly the predicted one (same size, same
 * last leaf hash, same key epoch) and re-signs inline otherwise — a wrong guess costs time,
 * never correctness, and the store still refuses any batch that does not continue its head.
 */
export class Presigner {
  #worker: Worker | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (r: PresignResult) => void; reject: (e: Error) => void }>();

  sign(tenant: string, base: PredictedHead, ts: string, signer: Signer, statements: PreparedStatement[]): Promise<Presigned> {
    const worker = this.#ensure();
    const job: PresignJob = { id: this.#next++, tenant, ts, seq: base.size, prev: base.prev, kid: signer.kid, key: signer.privateKey, statements };
    return new Promise<PresignResult>((resolve, reject) => {
      this.#pending.set(job.id, { resolve, reject });
      worker.postMessage(job);
    }).then((r) => {
      if (r.error) throw new Error(`presigning failed: ${r.error}`);
      return { base, ts, kid: signer.kid, leaves: r.leaves, sigs: r.sigs, hashes: Buffer.from(r.hashes.buffer, r.hashes.byteOffset, r.hashes.byteLength) };
    });
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const w = spawnModuleWorker(import.meta.url, 'presign-worker');
    w.unref();
    w.on('message', (r: PresignResult) => {
      this.#pending.get(r.id)?.resolve(r);
      this.#pending.delete(r.id);
    });
    w.on('error', (e: Error) => this.#failAll(e));
    w.on('exit', () => {
      this.#worker = undefined;
      this.#failAll(new Error('presign worker exited'));
    });
    this.#worker = w;
    return w;
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) await w.terminate();
  }
}
