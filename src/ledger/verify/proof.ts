import { BadInputError, VerificationError } from '../../errors.js';
import { verifyInclusion } from '../merkle.js';
import { leafHashOf, type Receipt } from '../receipt.js';
import { parseTlogProof } from '../tlog-proof.js';
import { verifyEntry } from './entry.js';
import { verifyCheckpointNote } from './log.js';
import type { Trust } from './trust.js';

export interface ProofReport {
  index: number;
  treeSize: number;
  receipt: Receipt;
}

/**
 * Verifies a C2SP tlog-proof of one receipt, offline: the checkpoint's signature and origin,
 * the receipt (carried as `extra` = L) and its signature, and its inclusion at `index`.
 */
export function verifyTlogProof(text: string, trust: Trust): ProofReport {
  const proof = parseTlogProof(text);
  if (!proof.extra) throw new BadInputError('tlog-proof has no extra line: Warden proofs carry the receipt there');
  const checkpoint = verifyCheckpointNote(proof.checkpointNote, trust);
  if (proof.index >= checkpoint.size) {
    throw new VerificationError(`proof index ${proof.index} is outside the checkpoint's tree of size ${checkpoint.size}`, proof.index);
  }
  const line = proof.extra.toString('utf8');
  const entry = verifyEntry(line, trust, proof.index);
  try {
    verifyInclusion(leafHashOf(line), proof.index, checkpoint.size, proof.proof, checkpoint.rootHash);
  } catch (err) {
    throw new VerificationError(`inclusion proof does not verify against the checkpoint (size ${checkpoint.size}): ${(err as Error).message}`, proof.index);
  }
  return { index: proof.index, treeSize: checkpoint.size, receipt: entry.receipt };
}
