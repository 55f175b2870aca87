/**
 * C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures (signature type 0x01).
 *
 *     <text ending in \n>
 *     <blank line>
 *     — <key name> <base64(key ID ‖ signature)>\n   (one or more)
 *
 * Unparseable notes and verifier keys raise BadInputError; notes that parse but do not verify
 * raise VerificationError. The note text must be treated as untrusted until `openNote` returns.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { BadInputError, VerificationError } from '../errors.js';
import { decodeBase64Strict, encodeBase64, hasControlChar, toWellFormedString, utf8Length } from './base64.js';

/** Signature type identifier byte for Ed25519 (signed-note §"Signature types"). */
export const SIG_TYPE_ED25519 = 0x01;
/** Largest note accepted by {@link openNote}, in bytes. */
export const MAX_NOTE_BYTES = 1024 * 1024;
/** Most signature lines accepted by {@link openNote} (the spec requires at least 16). */
export const MAX_SIGNATURES = 100;

const SIG_PREFIX = '\u2014 '; // em dash U+2014, space
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex'); // RFC 8410 SubjectPublicKeyInfo header

/** A parsed Ed25519 verifier key (vkey). */
export interface ParsedVerifierKey {
  /** Key name, e.g. the checkpoint origin line. */
  readonly name: string;
  /** uint32 key ID (big-endian first 4 bytes of the key hash). */
  readonly keyId: number;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
  /** The same key as a node:crypto KeyObject, ready for `verify`. */
  readonly keyObject: KeyObject;
}

/** One structurally valid signature line, not yet verified. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** The signature bytes after the 4-byte key ID. */
  readonly signature: Buffer;
}

/** A note split into text and signature lines — nothing in it is verified. */
export interface ParsedNote {
  /** Note text, including its final newline, excluding the blank separator line. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** Result of {@link openNote}: the now-trusted text and the names of the keys that verified it. */
export interface OpenedNote {
  readonly text: string;
  readonly verifiedBy: string[];
}

/**
 * Key names must be non-empty, valid UTF-8, and contain no Unicode space and no "+"
 * (signed-note §"Format"). Also excludes control characters, which a note cannot carry.
 */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\p{Zs}\u0085]/u.test(name) && !hasControlChar(name, false) && toWellFormedString(name) !== undefined;
}

/** Key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4], as uint32 (signed-note §"Ed25519 signatures"). */
export function noteKeyId(name: string, publicKey: Uint8Array): number {
  if (publicKey.length !== 32) throw new BadInputError(`Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
  const h = createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, SIG_TYPE_ED25519])).update(publicKey).digest();
  return h.readUInt32BE(0);
}

function keyObjectFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawFromKeyObject(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'ed25519') throw new BadInputError(`note keys must be Ed25519, got ${String(key.asymmetricKeyType)}`);
  const der = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' });
  return der.subarray(ED25519_SPKI_PREFIX.length);
}

/** Encodes a vkey: `<name>+<hex8 key ID>+<base64(0x01 ‖ public key)>` (signed-note §"Verifier keys"). */
export function encodeVerifierKey(name: string, publicKey: Uint8Array | KeyObject): string {
  if (!isValidKeyName(name)) throw new BadInputError(`invalid key name ${JSON.stringify(name)}`);
  const raw = publicKey instanceof Uint8Array ? Buffer.from(publicKey) : rawFromKeyObject(publicKey);
  const id = noteKeyId(name, raw).toString(16).padStart(8, '0');
  return `${name}+${id}+${encodeBase64(Buffer.concat([Buffer.from([SIG_TYPE_ED25519]), raw]))}`;
}

/**
 * Parses an Ed25519 vkey. Rejects (BadInputError) a bad key name, a key ID that is not 8
 * lowercase hex digits or does not match the key, non-canonical base64, a type byte other than
 * 0x01, or a key that is not 32 bytes.
 */
export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  // Attacker-controlled when read from configuration or a trust bundle: parse strictly.
  // Split at the first two "+" only: base64 key material may itself contain "+".
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p2 < 0) throw new BadInputError('verifier key must be <name>+<hex key ID>+<base64 key>');
  const name = vkey.slice(0, p1);
  const idHex = vkey.slice(p1 + 1, p2);
  const keyB64 = vkey.slice(p2 + 1);
  if (!isValidKeyName(name)) throw new BadInputError(`verifier key has an invalid key name ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new BadInputError('verifier key ID must be 8 lowercase hex digits');
  const keyBytes = decodeBase64Strict(keyB64);
  if (keyBytes === undefined) throw new BadInputError('verifier key material is not canonical base64');
  if (keyBytes.length === 0 || keyBytes[0] !== SIG_TYPE_ED25519) {
    throw new BadInputError(`unsupported verifier key type ${keyBytes.length === 0 ? 'none' : `0x${(keyBytes[0] as number).toString(16).padStart(2, '0')}`}; only Ed25519 (0x01)`);
  }
  const publicKey = keyBytes.subarray(1);
  if (publicKey.length !== 32) throw new BadInputError(`Ed25519 verifier key must be 32 bytes, got ${publicKey.length}`);
  const keyId = parseInt(idHex, 16);
  if (noteKeyId(name, publicKey) !== keyId) throw new BadInputError(`verifier key ID ${idHex} does not match the key`);
  let keyObject: KeyObject;
  try {
    keyObject = keyObjectFromRaw(publicKey);
  } catch (cause) {
    throw new BadInputError('verifier key is not a valid Ed25519 public key', { cause });
  }
  return { name, keyId, publicKey: Buffer.from(publicKey), keyObject };
}

/** True if the text can be a note text: ends in newline, well-formed, no control characters but newline. */
function checkText(text: string): string | undefined {
  if (!text.endsWith('\n')) return 'note text must end with a newline';
  if (toWellFormedString(text) === undefined) return 'note text is not valid UTF-8';
  if (hasControlChar(text, true)) return 'note text contains a control character';
  return undefined;
}

/**
 * Signs `text` and returns the complete signed note (`text`, blank line, one signature line).
 * `text` must end in a newline and carry no control characters other than newline.
 */
export function signNote(text: string, name: string, privateKey: KeyObject): string {
  const problem = checkText(text);
  if (problem !== undefined) throw new BadInputError(problem);
  if (!isValidKeyName(name)) throw new BadInputError(`invalid key name ${JSON.stringify(name)}`);
  if (privateKey.type !== 'private') throw new BadInputError('signNote needs a private key');
  const id = Buffer.alloc(4);
  id.writeUInt32BE(noteKeyId(name, rawFromKeyObject(privateKey)));
  const sig = sign(null, Buffer.from(text, 'utf8'), privateKey); // Ed25519 over the note text (RFC 8032)
  const note = `${text}\n${SIG_PREFIX}${name} ${encodeBase64(Buffer.concat([id, sig]))}\n`;
  if (utf8Length(note) > MAX_NOTE_BYTES) throw new BadInputError(`signed note exceeds ${MAX_NOTE_BYTES} bytes`);
  return note;
}

/**
 * Splits a signed note into text and signature lines without verifying anything
 * (signed-note §"Format"). Throws BadInputError on any malformation: over
 * {@link MAX_NOTE_BYTES} bytes, invalid UTF-8, control characters, no blank separator line,
 * no or malformed signature lines, more than {@link MAX_SIGNATURES} signatures.
 */
export function parseNote(note: string | Uint8Array): ParsedNote {
  // The whole note is attacker-controlled: bound its size before any other work.
  if (utf8Length(note) > MAX_NOTE_BYTES) throw new BadInputError(`note exceeds ${MAX_NOTE_BYTES} bytes`);
  const msg = toWellFormedString(note);
  if (msg === undefined) throw new BadInputError('note is not valid UTF-8');
  if (hasControlChar(msg, true)) throw new BadInputError('note contains a control character other than newline');
  // The text is separated from the signatures by the last empty line.
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw new BadInputError('note has no blank line before its signatures');
  const text = msg.slice(0, split + 1);
  let sigs = msg.slice(split + 2);
  if (sigs.length === 0) throw new BadInputError('note has no signature lines');
  if (!sigs.endsWith('\n')) throw new BadInputError('note signatures must end with a newline');
  const signatures: NoteSignature[] = [];
  while (sigs.length > 0) {
    const nl = sigs.indexOf('\n');
    const line = sigs.slice(0, nl);
    sigs = sigs.slice(nl + 1);
    if (signatures.length >= MAX_SIGNATURES) throw new BadInputError(`note has more than ${MAX_SIGNATURES} signatures`);
    if (!line.startsWith(SIG_PREFIX)) throw new BadInputError('malformed signature line: must start with "\u2014 "');
    const rest = line.slice(SIG_PREFIX.length);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw new BadInputError('malformed signature line: no space between key name and signature');
    const name = rest.slice(0, sp);
    const b64 = rest.slice(sp + 1);
    if (!isValidKeyName(name)) throw new BadInputError(`malformed signature line: invalid key name ${JSON.stringify(name)}`);
    const raw = decodeBase64Strict(b64);
    if (raw === undefined || raw.length < 5) throw new BadInputError(`malformed signature line for ${name}: not base64 of key ID and signature`);
    signatures.push({ name, keyId: raw.readUInt32BE(0), signature: raw.subarray(4) });
  }
  return { text, signatures };
}

/**
 * Opens a signed note: parses it (BadInputError if malformed) and verifies it against the
 * known `verifiers` (signed-note §"Signatures"). Signatures whose (key name, key ID) matches
 * no verifier are ignored; every signature that does match must verify, and must not be
 * repeated; at least one must be present. Any failure is a VerificationError.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly ParsedVerifierKey[]): OpenedNote {
  const known = new Map<string, ParsedVerifierKey>();
  for (const v of verifiers) {
    const k = `${v.keyId}:${v.name}`;
    const prev = known.get(k);
    if (prev !== undefined && !prev.publicKey.equals(v.publicKey)) {
      throw new BadInputError(`two different verifier keys share name ${v.name} and key ID ${v.keyId.toString(16).padStart(8, '0')}`);
    }
    known.set(k, v);
  }
  const parsed = parseNote(note);
  const textBytes = Buffer.from(parsed.text, 'utf8');
  const seen = new Set<string>();
  const verifiedBy: string[] = [];
  for (const s of parsed.signatures) {
    const k = `${s.keyId}:${s.name}`;
    const v = known.get(k);
    if (v === undefined) continue; // unknown key (even if name or ID alone matches): MUST ignore
    if (seen.has(k)) throw new VerificationError(`note carries two signatures by key ${s.name}`);
    seen.add(k);
    let ok: boolean;
    try {
      ok = s.signature.length === 64 && verify(null, textBytes, v.keyObject, s.signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new VerificationError(`invalid note signature by key ${s.name}`);
    verifiedBy.push(s.name);
  }
  if (verifiedBy.length === 0) throw new VerificationError('note has no signature from a known key');
  return { text: parsed.text, verifiedBy };
}
