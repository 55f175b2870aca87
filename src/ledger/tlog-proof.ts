/**
 * C2SP tlog-proof@v1 (c2sp.org/tlog-proof): an offline proof that an entry is in a log.
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <base64>            (optional; Warden: the leaf input L, i.e. JCS of the receipt)
 *     index <decimal>
 *     <base64 hash>             (zero or more: the RFC 9162 inclusion path, leaf to root)
 *     <blank line>
 *     <signed checkpoint note, verbatim to the end>
 *
 * Parsing is strict and structural only: it checks that the trailing checkpoint is a
 * well-formed signed checkpoint note but verifies nothing (use `openCheckpoint` and
 * `verifyInclusion`). Garbled input raises BadInputError.
 */
import { BadInputError } from '../errors.js';
import { decodeBase64Strict, encodeBase64, parseCanonicalDecimal, toWellFormedString, utf8Length } from './base64.js';
import { parseCheckpoint } from './checkpoint.js';
import { HASH_SIZE } from './merkle.js';
import { parseNote } from './note.js';

/** First line of every proof. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** Largest proof accepted by {@link parseTlogProof}, in bytes. */
export const MAX_TLOG_PROOF_BYTES = 2 * 1024 * 1024;
/** Most inclusion-path hashes: a tree below 2^64 leaves needs at most 64. */
export const MAX_PROOF_HASHES = 64;

/** A parsed tlog-proof. Nothing in it is authenticated: `extra` in particular is opaque and unsigned. */
export interface TlogProof {
  /** Opaque extra data, if the `extra` line is present. */
  readonly extra?: Buffer;
  /** Zero-based index of the entry in the log. */
  readonly index: number;
  /** Inclusion path, from the leaf's sibling up to the root's child; 32 bytes each. */
  readonly proof: Buffer[];
  /** The signed checkpoint note, verbatim. */
  readonly checkpointNote: string;
}

/** Input of {@link formatTlogProof}. */
export interface TlogProofInput {
  readonly extra?: Uint8Array;
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  readonly checkpointNote: string;
}

function checkCheckpointNote(note: string): void {
  // Structure only: a signed note whose text is a checkpoint body. Throws BadInputError.
  parseCheckpoint(parseNote(note).text);
}

/**
 * Formats a tlog-proof (tlog-proof §"Format"). The checkpoint note is appended verbatim and
 * must be a well-formed signed checkpoint. Throws BadInputError on invalid parts.
 */
export function formatTlogProof(p: TlogProofInput): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw new BadInputError(`tlog-proof index must be a non-negative safe integer, got ${String(p.index)}`);
  if (p.proof.length > MAX_PROOF_HASHES) throw new BadInputError(`tlog-proof has more than ${MAX_PROOF_HASHES} proof hashes`);
  p.proof.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw new BadInputError(`tlog-proof hash ${i} must be ${HASH_SIZE} bytes, got ${h.length}`);
  });
  checkCheckpointNote(p.checkpointNote);
  const lines = [TLOG_PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${encodeBase64(p.extra)}`);
  lines.push(`index ${p.index}`);
  for (const h of p.proof) lines.push(encodeBase64(h));
  const out = `${lines.join('\n')}\n\n${p.checkpointNote}`;
  if (utf8Length(out) > MAX_TLOG_PROOF_BYTES) throw new BadInputError(`tlog-proof exceeds ${MAX_TLOG_PROOF_BYTES} bytes`);
  return out;
}

/**
 * Parses a tlog-proof strictly (tlog-proof §"Format"): the exact header line; an optional
 * `extra <base64>` line; `index <decimal without leading zeroes>`; one canonical-base64
 * 32-byte hash per line; an empty line; then a well-formed signed checkpoint note to the end.
 * Anything else — including CRLF line endings, over {@link MAX_TLOG_PROOF_BYTES} bytes, or
 * trailing garbage after the note's signatures — is a BadInputError.
 */
export function parseTlogProof(input: string | Uint8Array): TlogProof {
  // The whole proof is attacker-controlled (it is handed to offline verifiers).
  if (utf8Length(input) > MAX_TLOG_PROOF_BYTES) throw new BadInputError(`tlog-proof exceeds ${MAX_TLOG_PROOF_BYTES} bytes`);
  const text = toWellFormedString(input);
  if (text === undefined) throw new BadInputError('tlog-proof is not valid UTF-8');
  let pos = 0;
  /** Next line without its newline; undefined at the end of input or on an unterminated line. */
  const nextLine = (): string | undefined => {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) return undefined;
    const line = text.slice(pos, nl);
    pos = nl + 1;
    return line;
  };

  if (nextLine() !== TLOG_PROOF_HEADER) throw new BadInputError(`tlog-proof must start with the line ${TLOG_PROOF_HEADER}`);
  let line = nextLine();
  let extra: Buffer | undefined;
  if (line?.startsWith('extra ')) {
    extra = decodeBase64Strict(line.slice('extra '.length));
    if (extra === undefined) throw new BadInputError('tlog-proof extra line is not canonical base64');
    line = nextLine();
  }
  if (line === undefined || !line.startsWith('index ')) throw new BadInputError('tlog-proof is missing its "index N" line');
  const index = parseCanonicalDecimal(line.slice('index '.length));
  if (index === undefined) throw new BadInputError('tlog-proof index is not a decimal without leading zeroes below 2^53');

  const proof: Buffer[] = [];
  for (;;) {
    line = nextLine();
    if (line === undefined) throw new BadInputError('tlog-proof ends before the blank line that precedes the checkpoint');
    if (line === '') break;
    if (proof.length >= MAX_PROOF_HASHES) throw new BadInputError(`tlog-proof has more than ${MAX_PROOF_HASHES} proof hashes`);
    const h = decodeBase64Strict(line);
    if (h === undefined) throw new BadInputError(`tlog-proof hash line ${proof.length + 1} is not canonical base64`);
    if (h.length !== HASH_SIZE) throw new BadInputError(`tlog-proof hash line ${proof.length + 1} must be ${HASH_SIZE} bytes, got ${h.length}`);
    proof.push(h);
  }

  const checkpointNote = text.slice(pos);
  if (checkpointNote.length === 0) throw new BadInputError('tlog-proof has no checkpoint after the blank line');
  try {
    checkCheckpointNote(checkpointNote);
  } catch (cause) {
    throw new BadInputError(`tlog-proof checkpoint is malformed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  return extra === undefined ? { index, proof, checkpointNote } : { extra, index, proof, checkpointNote };
}
