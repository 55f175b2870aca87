/**
 * The standalone offline verifier: depends only on the receipt format and crypto code — no
 * store, no server, no configuration — so auditors can run it anywhere.
 *
 * @example
 * import { parseTrustBundle, LogVerifier } from 'warden/verify';
 * const trust = parseTrustBundle(JSON.parse(bundleText));
 * const v = new LogVerifier(trust, checkpointNote);
 * for (const line of exportText.replace(/\n$/, '').split('\n')) v.push(line);
 * console.log(v.finish().entries);
 */
export { parseTrustBundle, type Trust, type TrustBundle, type TrustKey } from './trust.js';
export { verifyEntry, type VerifiedEntry } from './entry.js';
export { LogVerifier, verifyCheckpointNote, MAX_LINE_BYTES, type LogReport } from './log.js';
export { verifyLogParallel } from './parallel.js';
export { verifyTlogProof, type ProofReport } from './proof.js';
