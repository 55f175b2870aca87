/**
 * Normalisation of untrusted text before rule matching, with an offset map back to the source.
 *
 * The input is attacker-controlled: every trick here is one an attacker uses to slip a phrase
 * past a keyword filter while a language model still reads it. The output is a lower-case
 * "view" of the text in which `ignore`, `ＩＧＮＯＲＥ`, `іgnоrе` (Cyrillic), `ig\u200bnore`,
 * `i g n o r e`, `ig-no-re` and `1gn0r3` all read `ignore`. Every normalised UTF-16 unit keeps
 * the source offsets it came from and flags saying which trick produced it, so a rule hit can
 * point at the original text and say how it was disguised.
 *
 * Three linear passes, no regular expressions:
 *  1. per code point: NFKC (cached), lower-case, Latin diacritics dropped, invisible characters
 *     removed (counted), Unicode tag characters removed and their ASCII payload collected,
 *     whitespace collapsed;
 *  2. per word: homoglyph folding in words that mix Latin letters with look-alikes, leetspeak
 *     folding in words that mix letters with digits;
 *  3. spacing: separators between single letters (`i g n o r e`) and inside short pieces
 *     (`ig-no-re`, `i.g.n.o.r.e`) are dropped.
 */
import { BLACK_FLAG, HOMOGLYPHS, LATIN_TO_CYRILLIC, LEET, isInvisible, isTag } from './confusables.js';

/** The unit came from a homoglyph that was folded to Latin. */
export const FLAG_HOMOGLYPH = 1;
/** The unit came from a leetspeak digit. */
export const FLAG_LEET = 2;
/** The unit belongs to a word that was spelled out with separators. */
export const FLAG_SPACED = 4;
/** An invisible character was removed just before this unit, inside a word. */
export const FLAG_INVISIBLE = 8;
/** The unit came from a compatibility form (full-width, mathematical letters). */
export const FLAG_COMPAT = 16;

export interface SmuggledRun {
  /** Source offsets of the tag characters. */
  start: number;
  end: number;
  /** Their ASCII payload. */
  text: string;
}

export interface NormalisedText {
  text: string;
  /** Source offset of the first code unit that produced normalised unit `i`. */
  starts: Int32Array;
  /** Source offset just past the last code unit that produced normalised unit `i`. */
  ends: Int32Array;
  flags: Uint8Array;
  /** Invisible characters removed, and how many of them sat inside a word. */
  invisible: number;
  invisibleInWord: number;
  /** Tag characters outside emoji flag sequences, with their decoded payloads. */
  tags: number;
  smuggled: SmuggledRun[];
}

const SPACE = 0x20;
const NL = 0x0a;
const FOLD_CACHE_MAX = 20_000;
const foldCache = new Map<number, string>();
// 0 = not yet known, 1 = word unit (letter, mark or digit), 2 = not.
const wordTable = new Uint8Array(0x10000);
const WORD_RE = /[\p{L}\p{M}\p{N}]/u;
const decoder = new TextDecoder('utf-16le');

function isWordUnit(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
  if (c >= 0xd800 && c <= 0xdfff) return false;
  let k = wordTable[c];
  if (k === 0) {
    k = WORD_RE.test(String.fromCharCode(c)) ? 1 : 2;
    wordTable[c] = k;
  }
  return k === 1;
}

/** NFKC, lower case, Latin diacritics dropped; '' for a stray combining mark. */
function fold(cp: number): string {
  const cached = foldCache.get(cp);
  if (cached !== undefined) return cached;
  let out = '';
  for (const ch of String.fromCodePoint(cp).normalize('NFKC').toLowerCase()) {
    const d = ch.normalize('NFD');
    const base = d.charCodeAt(0);
    // é → e, ñ → n, ç → c: attackers drop accents, so rules are written without them.
    if (d.length > 1 && base < 0x80 && /^.[\u0300-\u036f]+$/u.test(d)) out += d[0];
    else if (base >= 0x300 && base <= 0x36f && d.length === 1) continue;
    else out += ch;
  }
  if (foldCache.size < FOLD_CACHE_MAX) foldCache.set(cp, out);
  return out;
}

class Buffer16 {
  units: Uint16Array;
  starts: Int32Array;
  ends: Int32Array;
  flags: Uint8Array;
  n = 0;
  constructor(capacity: number) {
    this.units = new Uint16Array(capacity);
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
  }
  push(unit: number, start: number, end: number, flags: number): void {
    if (this.n === this.units.length) this.grow();
    const i = this.n++;
    this.units[i] = unit;
    this.starts[i] = start;
    this.ends[i] = end;
    this.flags[i] = flags;
  }
  last(): number {
    return this.n === 0 ? NL : (this.units[this.n - 1] as number);
  }
  private grow(): void {
    const cap = this.units.length * 2 + 16;
    const u = new Uint16Array(cap); u.set(this.units); this.units = u;
    const s = new Int32Array(cap); s.set(this.starts); this.starts = s;
    const e = new Int32Array(cap); e.set(this.ends); this.ends = e;
    const f = new Uint8Array(cap); f.set(this.flags); this.flags = f;
  }
}

/**
 * Normalise `source[from, to)`. Offsets in the result are offsets in `source`.
 *
 * @example
 * const n = normalise('IGNORE\u200b previous');
 * n.text; // 'ignore previous'
 */
export function normalise(source: string, from = 0, to = source.length): NormalisedText {
  const buf = new Buffer16(to - from + 16);
  const result: NormalisedText = { text: '', starts: buf.starts, ends: buf.ends, flags: buf.flags, invisible: 0, invisibleInWord: 0, tags: 0, smuggled: [] };
  pass1(source, from, to, buf, result);
  foldWords(buf);
  const n = collapseSpacing(buf);
  result.text = decoder.decode(new Uint8Array(buf.units.buffer, 0, n * 2));
  result.starts = buf.starts.subarray(0, n);
  result.ends = buf.ends.subarray(0, n);
  result.flags = buf.flags.subarray(0, n);
  return result;
}

function pushSpace(buf: Buffer16, unit: number, start: number, end: number): void {
  const last = buf.last();
  if (unit === NL) {
    // Keep at most two newlines ("\n\nHuman:" is a role marker); drop the space before one.
    if (last === SPACE) { buf.units[buf.n - 1] = NL; buf.ends[buf.n - 1] = end; return; }
    if (last === NL && buf.n >= 2 && buf.units[buf.n - 2] === NL) return;
    buf.push(NL, start, end, 0);
  } else if (last !== SPACE && last !== NL) {
    buf.push(SPACE, start, end, 0);
  }
}

function pass1(source: string, from: number, to: number, buf: Buffer16, result: NormalisedText): void {
  let pendingInvisible = false;
  let inFlag = false;
  let smuggled: SmuggledRun | undefined;
  for (let i = from; i < to; ) {
    const c = source.charCodeAt(i);
    if (c < 0x80) {
      inFlag = false;
      smuggled = undefined;
      if (c >= 0x41 && c <= 0x5a) pushUnit(buf, c + 32, i, i + 1, 0);
      else if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c) { pendingInvisible = false; pushSpace(buf, SPACE, i, i + 1); }
      else if (c === NL) { pendingInvisible = false; pushSpace(buf, NL, i, i + 1); }
      else pushUnit(buf, c, i, i + 1, 0);
      i++;
      continue;
    }
    let cp = c;
    let len = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      const lo = source.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) { cp = ((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000; len = 2; }
    }
    if (isTag(cp)) {
      // Tags after U+1F3F4 spell a subdivision flag (🏴 England); anywhere else they carry a
      // hidden ASCII copy that a model reads and a human does not ("ASCII smuggling").
      if (!inFlag) {
        result.tags++;
        if (cp >= 0xe0020 && cp <= 0xe007e) {
          if (smuggled === undefined) { smuggled = { start: i, end: i + len, text: '' }; result.smuggled.push(smuggled); }
          smuggled.text += String.fromCharCode(cp - 0xe0000);
          smuggled.end = i + len;
        }
      }
      i += len;
      continue;
    }
    inFlag = cp === BLACK_FLAG;
    smuggled = undefined;
    if (isInvisible(cp)) {
      result.invisible++;
      if (isWordUnit(buf.last())) pendingInvisible = true;
      i += len;
      continue;
    }
    const mapped = fold(cp);
    const compat = mapped.length > 0 && mapped.charCodeAt(0) < 0x80 && cp > 0x2000 ? FLAG_COMPAT : 0;
    for (let k = 0; k < mapped.length; k++) {
      const u = mapped.charCodeAt(k);
      if (u === SPACE || u === NL || u === 0x09) { pendingInvisible = false; pushSpace(buf, u === NL ? NL : SPACE, i, i + len); }
      else pushUnit(buf, u, i, i + len, compat);
    }
    i += len;
  }
  // The invisible flag is set on the unit after an in-word invisible character.
  function pushUnit(b: Buffer16, u: number, s: number, e: number, f: number): void {
    if (pendingInvisible) {
      pendingInvisible = false;
      if (isWordUnit(u)) { result.invisibleInWord++; f |= FLAG_INVISIBLE; }
    }
    b.push(u, s, e, f);
  }
}

/** Pass 2: homoglyph and leetspeak folding, only inside words that mix scripts or digits. */
function foldWords(buf: Buffer16): void {
  const u = buf.units;
  const n = buf.n;
  let i = 0;
  let prevLeet = false; // the previous word was folded: `45 4n` after `4c7` reads `as an`
  let prevCyrillic = false; // the previous word was Russian: `вce` after `Игнopиpyй` is Russian too
  while (i < n) {
    if (!isWordUnit(u[i] as number)) { i++; continue; }
    let j = i;
    let latin = 0, leet = 0, look = 0, other = 0, cyrillic = 0, latinOnly = 0, lookCyrillic = 0;
    for (; j < n; j++) {
      const c = u[j] as number;
      if (!isWordUnit(c)) break;
      if (c >= 0x61 && c <= 0x7a) { latin++; if (LATIN_TO_CYRILLIC[c] === 0) latinOnly++; }
      else if (c < 0x80) { if (LEET.has(c)) leet++; }
      else if (HOMOGLYPHS.has(c)) { look++; if (c >= 0x400 && c <= 0x4ff) lookCyrillic++; }
      else { other++; if (c >= 0x400 && c <= 0x4ff) cyrillic++; }
    }
    const russian = cyrillic > 0 || (prevCyrillic && look > 0 && look === lookCyrillic);
    if (latin > 0 && latinOnly === 0 && russian && other === cyrillic && leet === 0) {
      // A Russian word with Latin look-alikes in it: fold them to Cyrillic.
      for (let k = i; k < j; k++) {
        const c = u[k] as number;
        const to = c < 0x80 ? (LATIN_TO_CYRILLIC[c] as number) : 0;
        if (to !== 0) { u[k] = to; buf.flags[k] = (buf.flags[k] as number) | FLAG_HOMOGLYPH; }
      }
      prevLeet = false;
      prevCyrillic = true;
      i = j;
      continue;
    }
    if (j > i) prevCyrillic = cyrillic + lookCyrillic > 0 && latin === 0;
    if (look > 0 && latin > 0 && other === 0) {
      for (let k = i; k < j; k++) {
        const to = HOMOGLYPHS.get(u[k] as number);
        if (to !== undefined) { u[k] = to; buf.flags[k] = (buf.flags[k] as number) | FLAG_HOMOGLYPH; }
      }
      latin += look;
      look = 0;
    }
    const len = j - i;
    const mixed = leet > 0 && latin > 0 && look === 0 && other === 0 && (len >= 3 || (prevLeet && len >= 2));
    const digitsOnly = prevLeet && latin === 0 && look === 0 && other === 0 && leet === len && len <= 3;
    if (mixed || digitsOnly) {
      for (let k = i; k < j; k++) {
        const c = u[k] as number;
        let to = LEET.get(c);
        // `1` is `i` or `l`: `l` before an e (`fi1e`, `ru13s`), in a pair (`a11`) and at the
        // end after a vowel (`r3v341`); `i` otherwise (`1gn0r3`, `d154bl3`).
        if (c === 0x31 && k > i) {
          const next = k + 1 < j ? (u[k + 1] as number) : 0;
          const prev = u[k - 1] as number;
          if (next === 0x65 || next === 0x33 || next === 0x31 || prev === 0x6c || (next === 0 && (prev === 0x61 || prev === 0x65 || prev === 0x34 || prev === 0x33))) to = 0x6c;
        }
        if (to !== undefined) { u[k] = to; buf.flags[k] = (buf.flags[k] as number) | FLAG_LEET; }
      }
      prevLeet = true;
    } else if (len > 0) {
      prevLeet = false;
    }
    i = j;
  }
}

function isCjk(c: number): boolean {
  return (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff);
}

function isJoiner(c: number): boolean {
  return c === 0x2d || c === 0x2e || c === 0x5f || c === 0x2a || c === 0xb7 || c === 0x2022;
}

/** Length of the word piece starting at `i`, counted up to `cap`. */
function pieceLength(u: Uint16Array, i: number, n: number, cap: number): number {
  let k = 0;
  while (i + k < n && k < cap && isWordUnit(u[i + k] as number)) k++;
  return k;
}

/** Pass 3: drop separators that spell a word out; compacts the buffer in place, returns its length. */
function collapseSpacing(buf: Buffer16): number {
  const { units: u, starts, ends, flags } = buf;
  const n = buf.n;
  let w = 0;
  let piece = 0; // word units since the last separator (before joining)
  let chainSpaces = 0; // spaces still to drop in an `i g n o r e` chain
  let joining = false; // a separator in this word was dropped: `in-struc-tions` stays one word
  for (let r = 0; r < n; r++) {
    const c = u[r] as number;
    if (isWordUnit(c)) {
      piece++;
    } else {
      let drop = false;
      if (piece > 0 && r + 1 < n && isWordUnit(u[r + 1] as number)) {
        if (c === SPACE && w > 0 && isCjk(u[w - 1] as number) && isCjk(u[r + 1] as number)) {
          // Chinese and Japanese do not separate words with spaces; `忽 略` is `忽略` spelled out.
          drop = true;
        } else if (c === SPACE && piece === 1) {
          if (chainSpaces === 0) chainSpaces = singleLetterChain(u, r, n);
          if (chainSpaces > 0) { chainSpaces--; drop = true; }
        } else if (isJoiner(c)) {
          const next = pieceLength(u, r + 1, n, 4);
          if (joining || Math.min(piece, next) <= 3) {
            drop = true;
            joining = true;
            if (piece <= 2 && next <= 2) { flags[w - 1] = (flags[w - 1] as number) | FLAG_SPACED; flags[r + 1] = (flags[r + 1] as number) | FLAG_SPACED; }
          }
        }
      }
      if (drop) {
        if (c === SPACE) { flags[w - 1] = (flags[w - 1] as number) | FLAG_SPACED; flags[r + 1] = (flags[r + 1] as number) | FLAG_SPACED; }
        piece = 0;
        continue;
      }
      piece = 0;
      chainSpaces = 0;
      joining = false;
    }
    if (w !== r) { u[w] = c; starts[w] = starts[r] as number; ends[w] = ends[r] as number; flags[w] = flags[r] as number; }
    w++;
  }
  return w;
}

/**
 * At a space after a one-letter piece: how many spaces of a chain of single letters
 * (`x y z w`, four or more letters) start here, or 0. Counting stops at four for short chains,
 * so a text of many three-letter chains is still scanned in linear time.
 */
function singleLetterChain(u: Uint16Array, r: number, n: number): number {
  let letters = 1;
  let p = r;
  while (p + 1 < n && u[p] === SPACE && isWordUnit(u[p + 1] as number) && (p + 2 >= n || !isWordUnit(u[p + 2] as number))) {
    letters++;
    p += 2;
  }
  return letters >= 4 ? letters - 1 : 0;
}
