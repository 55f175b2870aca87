/**
 * Character tables used by normalisation. Kept apart from the normaliser so the tables can be
 * reviewed (and extended) without reading the offset bookkeeping.
 *
 * The homoglyph table is deliberately small: it maps lower-case Cyrillic and Greek letters that
 * render like a Latin letter in common fonts. It is applied only inside words that already mix
 * Latin letters with these look-alikes (see `normalise.ts`), so Russian and Greek prose is never
 * rewritten.
 */

/** Lower-case look-alike → Latin letter. Keys are UTF-16 code units (all BMP). */
export const HOMOGLYPHS: ReadonlyMap<number, number> = new Map(
  [
    // Cyrillic
    ['а', 'a'], ['в', 'b'], ['е', 'e'], ['ё', 'e'], ['і', 'i'], ['ї', 'i'], ['ј', 'j'], ['к', 'k'],
    ['м', 'm'], ['н', 'h'], ['о', 'o'], ['р', 'p'], ['с', 'c'], ['т', 't'], ['у', 'y'], ['х', 'x'],
    ['ѕ', 's'], ['ԁ', 'd'], ['ԛ', 'q'], ['ԝ', 'w'], ['һ', 'h'], ['ӏ', 'l'], ['ɡ', 'g'],
    // Greek
    ['α', 'a'], ['β', 'b'], ['γ', 'y'], ['ε', 'e'], ['η', 'n'], ['ι', 'i'], ['κ', 'k'], ['ν', 'v'],
    ['ο', 'o'], ['ρ', 'p'], ['τ', 't'], ['υ', 'u'], ['χ', 'x'], ['ω', 'w'], ['ϲ', 'c'], ['ϳ', 'j'],
    // Latin and Armenian letters outside a-z that pass for one
    ['ı', 'i'], ['ȷ', 'j'], ['ɑ', 'a'], ['ո', 'n'], ['ս', 'u'], ['օ', 'o'],
  ].map(([from, to]) => [(from as string).charCodeAt(0), (to as string).charCodeAt(0)] as const),
);

/**
 * Latin letter → the Cyrillic letter it passes for (upper- or lower-case), for the opposite
 * trick: Latin letters inside a Russian word (`Игнopиpyй`) so a Cyrillic keyword filter misses it.
 */
export const LATIN_TO_CYRILLIC: Uint16Array = (() => {
  // Indexed by ASCII code (a table, not a map: it is read for every Latin letter of the input).
  const table = new Uint16Array(128);
  for (const [from, to] of [['a', 'а'], ['b', 'в'], ['c', 'с'], ['e', 'е'], ['h', 'н'], ['k', 'к'], ['m', 'м'], ['o', 'о'], ['p', 'р'], ['t', 'т'], ['x', 'х'], ['y', 'у']] as const) {
    table[from.charCodeAt(0)] = to.charCodeAt(0);
  }
  return table;
})();

/** Leetspeak digit → letter, applied only inside words that also contain ASCII letters. */
export const LEET: ReadonlyMap<number, number> = new Map(
  [
    ['0', 'o'], ['1', 'i'], ['3', 'e'], ['4', 'a'], ['5', 's'], ['7', 't'],
  ].map(([from, to]) => [(from as string).charCodeAt(0), (to as string).charCodeAt(0)] as const),
);

/**
 * Code points removed from the text because they render as nothing. Their presence inside a
 * word is itself a weak signal: it is how a keyword is hidden from a naive filter.
 */
export function isInvisible(cp: number): boolean {
  return (
    (cp >= 0x200b && cp <= 0x200f) || // zero-width space/joiners, LRM/RLM
    (cp >= 0x202a && cp <= 0x202e) || // bidi embeddings and overrides ("trojan source")
    (cp >= 0x2060 && cp <= 0x2064) || // word joiner, invisible operators
    (cp >= 0x2066 && cp <= 0x2069) || // bidi isolates
    cp === 0xfeff || // BOM / zero-width no-break space
    cp === 0x00ad || // soft hyphen
    cp === 0x034f || // combining grapheme joiner
    cp === 0x180e || // Mongolian vowel separator
    (cp >= 0xfe00 && cp <= 0xfe0f) || // variation selectors
    (cp >= 0xe0100 && cp <= 0xe01ef) // variation selectors supplement
  );
}

/** Unicode tag characters (U+E0000–U+E007F): invisible, and an ASCII copy when offset by 0xE0000. */
export function isTag(cp: number): boolean {
  return cp >= 0xe0000 && cp <= 0xe007f;
}

/** Emoji tag sequences (subdivision flags) start with U+1F3F4 WAVING BLACK FLAG: those tags are benign. */
export const BLACK_FLAG = 0x1f3f4;

/** Quote characters, after normalisation, used to tell a quoted phrase from an instruction. */
export const QUOTES = new Set([0x22, 0x27, 0x60, 0x201c, 0x201d, 0x201e, 0x2018, 0x2019, 0xab, 0xbb, 0x300c, 0x300d, 0x300e, 0x300f]);
