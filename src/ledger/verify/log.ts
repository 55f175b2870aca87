import { BadInputError, VerificationError } from '../../errors.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint.js';
import { CompactRange } from '../merkle.js';
import { verifyEntry } from './entry.js';
import type { Trust } from './trust.js';

export const MAX_LINE_BYTES = 1024 * 1024;
const ZERO_HASH = Buffer.alloc(32);

export interface LogReport {
  entries: number;
  /** RFC 9162 root over all entries. */
  root: Buffer;
  /** The verified checkpoint, when one was given. */
  checkpoint?: Checkpoint;
}

/** Opens a checkpoint note against the trust bundle's note keys and origin. */
export function verifyCheckpointNote(note: string, trust: Trust): Checkpoint {
  return openCheckpoint(note, trust.noteVerifiers, trust.bundle.origin).checkpoint;
}

/**
 * Incremental log verifier: feed exported lines in order; `finish` checks the Merkle root
 * against a signed checkpoint. Errors name the FIRST failing seq.
 */
export class LogVerifier {
  readonly #range = new CompactRange();
  #last: Buffer | undefined;
  #rootAt: Buffer | undefined;
  readonly #checkpoint: Checkpoint | undefined;

  constructor(
    private readonly trust: Trust,
    checkpointNote?: string,
  ) {
    this.#checkpoint = checkpointNote === undefined ? undefined : verifyCheckpointNote(checkpointNote, trust);
  }

  get size(): number {
    return this.#range.size;
  }

  /** Verifies the next line (without its newline). */
  push(line: string): void {
    const seq = this.#range.size;
    if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) throw new BadInputError(`line ${seq + 1} is longer than 1 MiB`);
    const entry = verifyEntry(line, this.trust, seq);
    this.pushVerified(seq, Buffer.from(entry.prev, 'hex'), entry.leafHash);
  }

  /**
   * Chain and tree step for an entry whose signature was verified (here or on a worker
   * thread): `prev` is the raw 32 bytes the entry names as its predecessor's leaf hash.
   */
  pushVerified(seq: number, prev: Buffer, leafHash: Buffer): void {
    if (seq !== this.#range.size) throw new VerificationError(`out of order (expected ${this.#range.size})`, seq);
    if (!prev.equals(this.#last ?? ZERO_HASH)) throw new VerificationError("prev does not match the previous entry's leaf hash (chain broken)", seq);
    this.#range.append(leafHash);
    this.#last = leafHash;
    if (this.#checkpoint && this.#range.size === this.#checkpoint.size) this.#rootAt = this.#range.root();
  }

  finish(): LogReport {
    const cp = this.#checkpoint;
    if (cp) {
      if (cp.size > this.#range.size) {
        throw new VerificationError(`checkpoint covers ${cp.size} entries but the file has only ${this.#range.size} (truncated export?)`);
      }
      if (cp.size === 0) {
        // An empty checkpoint commits to nothing; nothing to compare.
      } else if (!this.#rootAt?.equals(cp.rootHash)) {
        throw new VerificationError(`Merkle root of entries 0..${cp.size - 1} does not match the signed checkpoint`, cp.size - 1);
      }
    }
    return { entries: this.#range.size, root: this.#range.root(), ...(cp ? { checkpoint: cp } : {}) };
  }
}
