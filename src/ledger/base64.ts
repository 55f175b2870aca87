/**
 * Strict text helpers shared by the signed-note, checkpoint and tlog-proof codecs.
 *
 * Node's `Buffer.from(s, 'base64')` is lenient: it skips invalid characters, accepts missing
 * padding and the URL alphabet, and ignores non-zero trailing bits. Everything parsed here is
 * attacker-controlled, so we accept only the canonical RFC 4648 §4 encoding (standard alphabet,
 * `=` padding, zero pad bits) — exactly what an honest encoder produces.
 */

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes canonical standard base64 (RFC 4648 §4) or returns `undefined` if `s` is not exactly
 * the canonical encoding of some byte string. The empty string decodes to an empty buffer.
 */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  // Re-encoding rejects non-zero pad bits (e.g. "AB==" vs the canonical "AA==").
  if (bytes.toString('base64') !== s) return undefined;
  return bytes;
}

/** Standard base64 (RFC 4648 §4) with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** ASCII decimal without leading zeroes ("0" alone is allowed), within 2^53 (C2SP tlog-checkpoint / tlog-proof). */
const DECIMAL_RE = /^(?:0|[1-9][0-9]{0,15})$/;

/** Parses a canonical non-negative decimal safe integer, or returns `undefined`. */
export function parseCanonicalDecimal(s: string): number | undefined {
  if (!DECIMAL_RE.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** True if `s` has an unpaired UTF-16 surrogate, i.e. cannot be encoded as valid UTF-8. */
export function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * Decodes UTF-8 input strictly (invalid sequences are an error, a BOM is kept as text) or
 * passes a string through. Returns `undefined` for invalid UTF-8 or lone surrogates.
 */
export function toWellFormedString(input: string | Uint8Array): string | undefined {
  if (typeof input === 'string') return hasLoneSurrogate(input) ? undefined : input;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch {
    return undefined;
  }
}

/**
 * True if `s` contains an ASCII control character (below U+0020); with `allowNewline`, U+000A
 * is permitted (signed-note §"Format": notes carry no control characters other than newline).
 */
export function hasControlChar(s: string, allowNewline: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && !(allowNewline && c === 0x0a)) return true;
  }
  return false;
}

/** Byte length of `s` in UTF-8 (for size limits), or of the raw input. */
export function utf8Length(input: string | Uint8Array): number {
  return typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
}
