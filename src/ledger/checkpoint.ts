/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) note bodies, signed as C2SP signed-notes:
 *
 *     <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n ...]
 *
 * Warden signs each checkpoint with the tenant's Ed25519 note key whose key name is the origin
 * line (ARCHITECTURE.md, "Receipt ledger — exact format"), so `openCheckpoint` demands a valid
 * signature by a key of exactly that name.
 */
import type { KeyObject } from 'node:crypto';
import { BadInputError, VerificationError } from '../errors.js';
import { decodeBase64Strict, encodeBase64, hasControlChar, parseCanonicalDecimal, toWellFormedString, utf8Length } from './base64.js';
import { HASH_SIZE } from './merkle.js';
import { isValidKeyName, MAX_NOTE_BYTES, openNote, parseNote, signNote, type ParsedVerifierKey } from './note.js';

/** A parsed checkpoint body. */
export interface Checkpoint {
  /** Log identity, e.g. `warden.example/acme`. */
  readonly origin: string;
  /** Number of leaves in the tree. */
  readonly size: number;
  /** RFC 9162 root hash of the tree at `size`, 32 bytes. */
  readonly rootHash: Buffer;
  /** Opaque extension lines (NOT RECOMMENDED by the spec; Warden writes none). */
  readonly extensions: readonly string[];
}

/** Input of {@link formatCheckpoint} and {@link signCheckpoint}. */
export interface CheckpointInput {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

/** A checkpoint whose signature by the log key (and any other known keys) verified. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  /** The note text that was signed (the checkpoint body). */
  readonly text: string;
  /** Key names whose signatures verified; always includes the origin. */
  readonly verifiedBy: string[];
}

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw new BadInputError(`checkpoint ${what} must be non-empty`);
  if (hasControlChar(line, false)) throw new BadInputError(`checkpoint ${what} contains a newline or control character`);
  if (toWellFormedString(line) === undefined) throw new BadInputError(`checkpoint ${what} is not valid UTF-8`);
}

/**
 * Formats a checkpoint body (tlog-checkpoint §"Note text"): origin, decimal size, base64 root,
 * then any extension lines, each ending in a newline. Throws BadInputError on an empty origin,
 * a size that is not a non-negative safe integer, a root hash that is not 32 bytes, or an
 * empty extension line.
 */
export function formatCheckpoint(cp: CheckpointInput): string {
  checkLine(cp.origin, 'origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new BadInputError(`checkpoint size must be a non-negative safe integer, got ${String(cp.size)}`);
  if (cp.rootHash.length !== HASH_SIZE) throw new BadInputError(`checkpoint root hash must be ${HASH_SIZE} bytes, got ${cp.rootHash.length}`);
  const ext = cp.extensions ?? [];
  ext.forEach((e, i) => checkLine(e, `extension line ${i + 1}`));
  return [cp.origin, String(cp.size), encodeBase64(cp.rootHash), ...ext].map((l) => `${l}\n`).join('');
}

/**
 * Parses a checkpoint body strictly (tlog-checkpoint §"Note text"): at least three lines, each
 * ending in a newline; a non-empty origin; the size in decimal without leading zeroes; the root
 * as canonical base64 of exactly 32 bytes; non-empty extension lines. BadInputError otherwise.
 * The result is only trustworthy if `text` came from a verified note ({@link openCheckpoint}).
 */
export function parseCheckpoint(text: string): Checkpoint {
  // Attacker-controlled until its note signature is verified.
  if (utf8Length(text) > MAX_NOTE_BYTES) throw new BadInputError(`checkpoint exceeds ${MAX_NOTE_BYTES} bytes`);
  if (!text.endsWith('\n')) throw new BadInputError('checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new BadInputError(`checkpoint needs origin, size and root hash lines, got ${lines.length} line(s)`);
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine(origin, 'origin');
  const size = parseCanonicalDecimal(sizeLine);
  if (size === undefined) throw new BadInputError(`checkpoint size ${JSON.stringify(sizeLine.slice(0, 40))} is not a decimal without leading zeroes below 2^53`);
  const rootHash = decodeBase64Strict(rootLine);
  if (rootHash === undefined) throw new BadInputError('checkpoint root hash is not canonical base64');
  if (rootHash.length !== HASH_SIZE) throw new BadInputError(`checkpoint root hash must be ${HASH_SIZE} bytes, got ${rootHash.length}`);
  extensions.forEach((e, i) => checkLine(e, `extension line ${i + 1}`));
  return { origin, size, rootHash, extensions };
}

/**
 * Formats and signs a checkpoint as a signed note whose key name is the origin line.
 * Returns the complete note text.
 */
export function signCheckpoint(cp: CheckpointInput, privateKey: KeyObject): string {
  if (!isValidKeyName(cp.origin)) {
    throw new BadInputError(`checkpoint origin ${JSON.stringify(cp.origin)} cannot be a note key name (no spaces or "+")`);
  }
  return signNote(formatCheckpoint(cp), cp.origin, privateKey);
}

/**
 * Opens a signed checkpoint: the note must parse (BadInputError), be a checkpoint for
 * `expectedOrigin`, and carry a valid signature by a known key whose name is that origin;
 * signatures by other known keys (e.g. witnesses) must verify too, unknown ones are ignored.
 * Verification failures, including a checkpoint for another origin, are VerificationErrors.
 */
export function openCheckpoint(note: string | Uint8Array, verifiers: readonly ParsedVerifierKey[], expectedOrigin: string): OpenedCheckpoint {
  // Parse first (nothing trusted yet) so a checkpoint for another log gets a precise error
  // instead of a generic "no known signature".
  const unverified = parseCheckpoint(parseNote(note).text);
  if (unverified.origin !== expectedOrigin) {
    throw new VerificationError(`checkpoint is for origin ${JSON.stringify(unverified.origin)}, expected ${JSON.stringify(expectedOrigin)}`);
  }
  const opened = openNote(note, verifiers);
  if (!opened.verifiedBy.includes(expectedOrigin)) {
    throw new VerificationError(`checkpoint is not signed by a known log key named ${JSON.stringify(expectedOrigin)} (key name must equal the origin line)`);
  }
  return { checkpoint: parseCheckpoint(opened.text), text: opened.text, verifiedBy: opened.verifiedBy };
}
