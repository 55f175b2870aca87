/**
 * WAF-style content checks for argument fields marked for them: SQL injection, XSS, path
 * traversal and shell metacharacters.
 *
 * Every pattern is linear-time: quantifiers are bounded or apply to a single character class,
 * never to a group that itself repeats, so a hostile 10 MB argument costs one pass, not a
 * backtracking explosion. These are tripwires for fields that should hold plain data, not a
 * parser of SQL or HTML; the hard negatives in the tests ("O'Reilly", "JavaScript: the good
 * parts", "union of two sets") pin down what they must leave alone.
 */
import { posix } from 'node:path';
import type { Finding } from '../findings.js';

export type CheckKind = 'sql' | 'xss' | 'path' | 'shell';
export const CHECK_KINDS: readonly CheckKind[] = ['sql', 'xss', 'path', 'shell'];

export interface CheckOptions {
  /** For `path`: absolute paths must fall under one of these (POSIX) roots; none → absolute paths are refused. */
  allowedRoots?: readonly string[];
}

interface Hit {
  type: string;
  message: string;
  index: number;
}

function excerptAround(text: string, index: number): string {
  const start = Math.max(0, index - 10);
  const raw = text.slice(start, start + 40);
  // eslint-disable-next-line no-control-regex
  return raw.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const SQL_PATTERNS: ReadonlyArray<{ type: string; re: RegExp; message: string }> = [
  {
    type: 'sql_tautology',
    // ' OR 1=1, " or "a"="a, ' OR 'x' LIKE 'x — a quote closing a literal, then a boolean that is always true.
    re: /['"`]\)?\s{0,10}(?:or|and|\|\||&&)\s{1,10}\(?['"]?\w{1,30}['"]?\s{0,10}(?:=|<>|!=|>=|<=|>|<|\blike\b|\bis\b)\s{0,10}['"]?\w{0,30}/i,
    message: 'a quote followed by an OR/AND condition (SQL tautology)',
  },
  { type: 'sql_tautology', re: /\b(?:or|and)\s{1,10}(\d{1,10})\s{0,5}=\s{0,5}\1\b/i, message: 'an always-true numeric comparison (OR 1=1)' },
  { type: 'sql_tautology', re: /['"]\s{0,10}(?:or|\|\|)\s{1,10}(?:true|not\s{1,5}false|1)\b/i, message: 'a quote followed by OR TRUE' },
  { type: 'sql_union', re: /\bunion\b[\s/*()]{1,40}(?:all[\s/*()]{1,40}|distinct[\s/*()]{1,40})?select\b/i, message: 'UNION SELECT' },
  {
    type: 'sql_stacked_query',
    re: /;\s{0,10}(?:drop\s{1,10}(?:table|database|schema|view|index|user|procedure)|delete\s{1,10}from|insert\s{1,10}into|update\s{1,10}\w{1,64}\s{1,10}set|alter\s{1,10}(?:table|user|database)|truncate\s{1,10}table|create\s{1,10}(?:table|user|function|procedure)|exec(?:ute)?\s{1,10}(?:xp_|sp_|master\.)|shutdown\b|select\s{1,10}[\w*]{1,64}\s{1,10}from)\b/i,
    message: 'a stacked statement after ";"',
  },
  { type: 'sql_comment', re: /['"]\s{0,10}\)?\s{0,10}(?:--|#|\/\*)/, message: 'a quote followed by a SQL comment (truncating the query)' },
  { type: 'sql_comment', re: /\/\*!\d{0,6}|\/\*\*\/(?:select|union|or|and|from|where)\b/i, message: 'an inline or versioned SQL comment' },
  {
    type: 'sql_function',
    re: /\b(?:sleep|benchmark|pg_sleep|load_file|extractvalue|updatexml)\s{0,5}\(|\bwaitfor\s{1,10}delay\b|\bxp_cmdshell\b|\binformation_schema\b|\binto\s{1,10}(?:out|dump)file\b/i,
    message: 'a SQL function typical of injection (time delay, file access, schema probing)',
  },
];

/** SQL-injection tripwires. */
export function sqlHits(text: string): Hit[] {
  const hits: Hit[] = [];
  for (const p of SQL_PATTERNS) {
    const m = p.re.exec(text);
    if (m) hits.push({ type: p.type, message: p.message, index: m.index });
  }
  return hits;
}

const ENTITY = /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|(colon|tab|newline|lpar|rpar|lt|gt));?/gi;
const NAMED: Record<string, string> = { colon: ':', tab: '\t', newline: '\n', lpar: '(', rpar: ')', lt: '<', gt: '>' };

/** HTML character references decoded, as a browser would before acting on markup (`&#106;avascript:`). */
function decodeEntities(text: string): string {
  return text.includes('&')
    ? text.replace(ENTITY, (_, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
        const code = dec !== undefined ? Number(dec) : hex !== undefined ? parseInt(hex, 16) : -1;
        if (code >= 0) return code <= 0x10ffff ? String.fromCodePoint(code) : '';
        return NAMED[(name ?? '').toLowerCase()] ?? '';
      })
    : text;
}

const SCRIPT_TAG = /<\s{0,5}\/?\s{0,5}script\b/i;
const DANGEROUS_URL = /(?:^|[^a-z0-9+.-])(?:javascript|vbscript|livescript):(?=\S)|(?:^|[^a-z0-9+.-])data:\s{0,5}text\/html/i;
const HANDLER = /\bon[a-z]{3,25}\s{0,5}=/gi;
const RISKY_TAG = /<\s{0,5}(?:iframe|object|embed|applet|base|meta\s{1,10}http-equiv)\b/i;

/** XSS tripwires: script tags, script URLs, event-handler attributes inside a tag, embedding tags. */
export function xssHits(input: string): Hit[] {
  const text = decodeEntities(input);
  // URL-scheme parsing drops tab, newline and NUL; inside tags they separate attributes.
  // eslint-disable-next-line no-control-regex
  const urlView = text.replace(/[\t\n\r\u0000]/g, '');
  const hits: Hit[] = [];
  const script = SCRIPT_TAG.exec(text);
  if (script) hits.push({ type: 'xss_script_tag', message: 'a <script> tag', index: script.index });
  const url = DANGEROUS_URL.exec(urlView);
  if (url) hits.push({ type: 'xss_script_url', message: 'a javascript:/vbscript:/data:text/html URL', index: url.index });
  const risky = RISKY_TAG.exec(text);
  if (risky) hits.push({ type: 'xss_embedding_tag', message: 'an iframe/object/embed/base/meta-refresh tag', index: risky.index });
  // An on*= attribute only matters inside a tag. One forward pass tracks the last "<" and ">"
  // seen before each handler, so the check stays linear however many handlers there are.
  HANDLER.lastIndex = 0;
  let lastLt = -1;
  let lastGt = -1;
  let scanned = 0;
  for (let m = HANDLER.exec(text); m; m = HANDLER.exec(text)) {
    for (; scanned < m.index; scanned++) {
      const c = text.charCodeAt(scanned);
      if (c === 60) lastLt = scanned;
      else if (c === 62) lastGt = scanned;
    }
    const tagStart = text.charCodeAt(lastLt + 1);
    const isLetter = (tagStart | 0x20) >= 97 && (tagStart | 0x20) <= 122;
    if (lastLt >= 0 && lastLt > lastGt && isLetter) {
      hits.push({ type: 'xss_event_handler', message: 'an on*= event-handler attribute inside a tag', index: m.index });
      break;
    }
  }
  return hits;
}

/** Percent-decodes up to three layers (`%252e` → `%2e` → `.`), tolerating malformed escapes. */
function percentDecode(text: string): string {
  let s = text;
  for (let i = 0; i < 3 && s.includes('%'); i++) {
    const next = s.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    if (next === s) break;
    s = next;
  }
  return s;
}

/** Path-traversal tripwires for a value used as a file path. */
export function pathHits(input: string, options: CheckOptions = {}): Hit[] {
  const hits: Hit[] = [];
  // Overlong UTF-8 encodings of "." and "/" (%c0%ae, %c0%af, %e0%80%ae) have been used to slip past decoders.
  if (/%c0%a[ef]|%e0%80%a[ef]|%c1%9c/i.test(input)) hits.push({ type: 'path_traversal', message: 'an overlong UTF-8 encoded dot or slash', index: 0 });
  const decoded = percentDecode(input).replace(/\uff0e/g, '.').replace(/[\uff0f\u2215]/g, '/');
  const nul = decoded.indexOf('\u0000');
  if (nul >= 0) hits.push({ type: 'path_nul_byte', message: 'a NUL byte (truncates the path in native code)', index: nul });
  const slashed = decoded.replace(/\\/g, '/');
  const dotdot = /(?:^|\/)\.\.(?:\/|$)/.exec(slashed);
  if (dotdot) hits.push({ type: 'path_traversal', message: `a ".." segment${decoded !== input ? ' (after decoding)' : ''}`, index: dotdot.index });
  const windowsAbsolute = /^[a-z]:[\\/]|^[\\/]{2}/i.test(decoded) || /^[a-z]:/i.test(decoded);
  if (windowsAbsolute) hits.push({ type: 'path_absolute', message: 'a Windows drive or UNC path', index: 0 });
  else if (slashed.startsWith('/') || slashed.startsWith('~')) {
    const roots = options.allowedRoots ?? [];
    const resolved = posix.normalize(slashed);
    const inside = roots.some((root) => {
      const r = posix.normalize(root.endsWith('/') ? root : `${root}/`);
      return resolved === r.slice(0, -1) || resolved.startsWith(r);
    });
    if (!inside) hits.push({ type: 'path_absolute', message: roots.length ? 'an absolute path outside the allowed roots' : 'an absolute path', index: 0 });
  }
  return hits;
}

// eslint-disable-next-line no-control-regex
const SHELL = /[;|&`<>\n\r\u0000]|\$[({]|\$[A-Za-z_]/;

/** Shell-metacharacter tripwires for a value passed as a command argument. */
export function shellHits(input: string): Hit[] {
  const m = SHELL.exec(input);
  return m ? [{ type: 'shell_metacharacter', message: 'a shell metacharacter (; | & $( ` > < newline)', index: m.index }] : [];
}

/** Runs the named checks on one string and returns findings (`path` is the JSON pointer of the field). */
export function runChecks(kinds: readonly CheckKind[], text: string, path: string, options: CheckOptions = {}): Finding[] {
  const findings: Finding[] = [];
  for (const kind of kinds) {
    const hits = kind === 'sql' ? sqlHits(text) : kind === 'xss' ? xssHits(text) : kind === 'path' ? pathHits(text, options) : shellHits(text);
    for (const h of hits) {
      findings.push({ detector: 'validation', type: h.type, severity: 'high', path, message: `${h.message} in ${path || 'the value'}`, excerpt: excerptAround(text, h.index) });
    }
  }
  return findings;
}
