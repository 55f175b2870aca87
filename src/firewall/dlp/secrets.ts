/**
 * Credential formats Warden detects itself, beside secretlint: the ones it misses or handles
 * too strictly (any PEM private key, JWTs, cloud keys with context, generic assignments).
 *
 * Linear time on hostile input: every pattern starts behind a lookbehind boundary (so a long
 * run of token characters is entered once, not at every offset), every quantifier is bounded
 * and on a single class (V8 also overflows its stack on an unbounded `{n,}` over a 10 MB run),
 * and multi-line structures (PEM) are found with forward-only indexOf.
 */
import type { Severity } from '../../events/security-events.js';
import { charClasses, shannonEntropy } from './checksums.js';
import { PRIORITY, type RawMatch } from './match.js';

interface PatternDetector {
  type: string;
  severity: Severity;
  re: RegExp;
  /** Capture group(s) holding the secret, first defined wins (default: the whole match). */
  group?: number | readonly number[];
  accept?: (value: string, text: string, index: number) => boolean;
  /** Shortens the captured value (e.g. at the next `&key=` of a query string). */
  trim?: (value: string) => string;
  priority?: number;
}

/** Documented example credentials (AWS docs, vendor READMEs): never real, flagged nowhere. */
const DOCUMENTED_EXAMPLES = /EXAMPLE|^AKIAI44QH8DHBEXAMPLE$/;

/** Values that are references or placeholders, not secrets. */
const PLACEHOLDER =
  /^(?:\$\{?|\{\{|%\(|<|\[|\(|process\.env|os\.environ|env\.|getenv|ENV\[|null$|none$|nil$|undefined$|true$|false$)|your|example|sample|dummy|placeholder|changeme|change_me|redacted|replace|insert|xxxx|\*\*\*|\.\.\.|<[a-z_-]+>|^(?:password|secret|token|pass|test|value)\d{0,3}$/i;

/** `response.accessToken`, `get_token_from_env`, `MyTokenName`: identifiers made of words, not secrets. */
function looksLikeIdentifier(v: string): boolean {
  if (/\d/.test(v)) return false;
  const words = v.split(/[._\-/:]|(?=[A-Z][a-z])/).filter((w) => w !== '');
  return words.length > 0 && words.every((w) => /^[A-Za-z][a-z]{2,}$|^[A-Z]{2,}$/.test(w));
}

function highEntropyToken(v: string, minLength: number, minEntropy: number): boolean {
  return v.length >= minLength && !PLACEHOLDER.test(v) && !/[A-Za-z_$]\(/.test(v) && !looksLikeIdentifier(v) && charClasses(v) >= 2 && shannonEntropy(v) >= minEntropy;
}

/** A value that is code, a reference, a path, a type or a label rather than a password. */
function notAPassword(v: string): boolean {
  return (
    PLACEHOLDER.test(v) ||
    looksLikeIdentifier(v) ||
    /\s/.test(v) || // a sentence or a UI label, not a password
    /[A-Za-z_$]\(|\{[\w. ]{1,40}\}|^%\w+%$|^[!&*][A-Za-z_]+$/.test(v) || // a call, a template, %VAR%, a YAML tag or anchor
    /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v) || // member access: config.db.password1
    /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/.test(v) || // a constant or variable name: DB_PASSWORD_2
    /^(?:\.{0,2}\/|~\/|[A-Za-z]:\\|[a-z][a-z0-9+.-]{1,20}:\/\/)/.test(v) || // a path or a URL
    /^[\d.:/+-]+$/.test(v) // a number, date, version or time
  );
}

/** A password assigned in configuration or code (`password: …`, `PASSWORD=…`, `"password": "…"`). */
function plausiblePassword(v: string): boolean {
  return v.length >= 6 && !notAPassword(v) && charClasses(v) >= 2 && shannonEntropy(v) >= 2.3;
}

/** A password stated in prose ("the password is …"): held to a stricter standard than an assignment. */
function statedPassword(v: string): boolean {
  return v.length >= 8 && plausiblePassword(v) && (charClasses(v) >= 3 || (/\d/.test(v) && /[A-Za-z]/.test(v)));
}

function jwtHeaderValid(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

function basicCredentialValid(b64: string): boolean {
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // eslint-disable-next-line no-control-regex
  return colon > 0 && colon < decoded.length - 3 && !/[\u0000-\u001f\ufffd]/.test(decoded) && !PLACEHOLDER.test(decoded.slice(colon + 1));
}

/** Words that put an 88-character base64 value in Azure Storage's context. */
/** What makes a `…key = value` assignment a secret key rather than a lookup key or a cache key. */
const KEY_OWNER = /(?:account|storage|access|signing|encryption|master|shared|private|secret|app|session|webhook)[_-]?$/i;
const BASE64_CHAR = /[A-Za-z0-9+/]/;
const AZURE_CONTEXT = /azure|storage|account[_ -]?key|accountkey|blob|\.windows\.net|\bkey[12]\b|\baz\s/i;

const B = '(?<![A-Za-z0-9_-])'; // token boundary on the left
const E = '(?![A-Za-z0-9_-])'; // … and on the right

const DETECTORS: readonly PatternDetector[] = [
  { type: 'jwt', severity: 'high', re: new RegExp(`${B}ey[A-Za-z0-9_-]{10,8192}\\.[A-Za-z0-9_-]{2,65536}\\.[A-Za-z0-9_-]{0,8192}`, 'g'), accept: jwtHeaderValid },
  { type: 'aws_access_key', severity: 'high', re: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g, accept: (v) => !DOCUMENTED_EXAMPLES.test(v) },
  {
    type: 'aws_secret_key',
    severity: 'critical',
    re: /(?:aws_?secret_?(?:access_?)?key|secret_?access_?key|SecretAccessKey|aws_secret)["']?\s{0,5}(?:[:=]|=>|:=)?\s{0,5}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    group: 1,
    accept: (v) => !DOCUMENTED_EXAMPLES.test(v) && shannonEntropy(v) >= 3.5,
  },
  { type: 'gcp_api_key', severity: 'high', re: new RegExp(`${B}AIza[0-9A-Za-z_-]{35}${E}`, 'g') },
  { type: 'gcp_service_account', severity: 'high', re: /\\?"private_key_id\\?"\s{0,5}:\s{0,5}\\?"([0-9a-f]{40})\\?"/g, group: 1 },
  { type: 'gcp_oauth_secret', severity: 'high', re: new RegExp(`${B}GOCSPX-[A-Za-z0-9_-]{28}${E}`, 'g') },
  { type: 'gcp_access_token', severity: 'high', re: new RegExp(`${B}ya29\\.[0-9A-Za-z_-]{30,2048}`, 'g') },
  { type: 'azure_storage_key', severity: 'critical', re: /AccountKey=([A-Za-z0-9+/]{86}==)/g, group: 1 },
  { type: 'azure_shared_access_key', severity: 'critical', re: /SharedAccessKey=([A-Za-z0-9+/]{42,44}=)/g, group: 1 },
  {
    type: 'azure_sas_token',
    severity: 'high',
    re: /[?&]sig=([A-Za-z0-9%+/]{40,120})/g,
    group: 1,
    accept: (_v, text, index) => /[?&]sv=\d{4}-\d{2}-\d{2}/.test(text.slice(Math.max(0, index - 600), index + 600)),
  },
  { type: 'stripe_secret_key', severity: 'critical', re: /(?<![A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{20,247}(?![A-Za-z0-9])/g },
  { type: 'stripe_test_key', severity: 'low', re: /(?<![A-Za-z0-9_])[sr]k_test_[0-9A-Za-z]{20,247}(?![A-Za-z0-9])/g },
  { type: 'stripe_webhook_secret', severity: 'high', re: /(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{32,256}(?![A-Za-z0-9])/g },
  {
    type: 'slack_token',
    severity: 'high',
    re: /(?<![A-Za-z0-9-])xox[abposre]-[0-9A-Za-z-]{10,250}/g,
    // Real tokens are dash-separated numeric ids and a random tail; "xoxb-your-token-here" is not.
    accept: (v) => /\d{6,}/.test(v) && v.split('-').length >= 3 && !PLACEHOLDER.test(v),
  },
  { type: 'slack_webhook', severity: 'high', re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_+-]{20,200}/g },
  { type: 'github_token', severity: 'high', re: /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])/g },
  { type: 'github_token', severity: 'high', re: /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9])/g },
  {
    type: 'password',
    severity: 'high',
    // Quoted values run to the closing quote (a password may contain "&" or ";"); bare ones stop at delimiters.
    // Factored on a leading "p" so the engine can skip ahead; the short forms (pass, pwd, pw, "passe")
    // need a non-letter before them (not "bypass", "compass").
    re: /(?:p(?:ass(?:word|wd|phrase|code|wort)|(?<![a-z]p)(?:asse?|wd|w))|kennwort|contrase(?:ñ|n)a|senha)["'\]]?\s{0,5}(?::|=>|:=|=)\s{0,5}(?:"([^"\n]{6,200})"|'([^'\n]{6,200})'|([^\s"'`,;<>]{6,200}))/gi,
    group: [1, 2, 3],
    trim: (v) => v.replace(/&[A-Za-z_][A-Za-z0-9_]{0,30}=.*$/, ''),
    accept: plausiblePassword,
    priority: PRIORITY.generic,
  },
  {
    type: 'password',
    severity: 'high',
    // "the password is …", "--password …", "<password>…</password>", "IDENTIFIED BY '…'".
    re: /(?:pass(?:word|wd|phrase|wort)?(?:(?<=--pass(?:word)?)\s{1,3}["']?|(?<=<pass(?:word|wd)?)>|(?<=pass(?:word|wd|phrase|wort))\s{1,3}(?:is|was|ist|es|est)\s{1,3}[:"'“]?)|(?:contrase(?:ñ|n)a|senha)\s{1,3}(?:es|é)\s{1,3}[:"'“]?|identified\s{1,3}by\s{1,3}["'])([^\s"'”<]{6,200})/gi,
    group: 1,
    trim: (v) => v.replace(/[.,;:!?)\]]+$/, ''),
    accept: statedPassword,
    priority: PRIORITY.generic,
  },
  {
    type: 'generic_secret',
    severity: 'high',
    re: /(?:secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret|private[_-]?token|token)["']?\s{0,5}(?::|=>|:=|=)\s{0,5}["']?([^\s"'`,;&<>]{16,500})/gi,
    group: 1,
    accept: (v) => highEntropyToken(v, 16, 3.5),
    priority: PRIORITY.generic,
  },
  {
    // `encryption_key = …`, `signing-key: …`, `MASTER_KEY=…`: matched at "key" (fast), the owner word checked behind it.
    type: 'generic_secret',
    severity: 'high',
    re: /key["']?\s{0,5}(?::|=>|:=|=)\s{0,5}["']?([^\s"'`,;&<>]{16,500})/gi,
    group: 1,
    accept: (v, text, index) => KEY_OWNER.test(text.slice(Math.max(0, index - 14), index)) && highEntropyToken(v, 16, 3.5),
    priority: PRIORITY.generic,
  },
  {
    type: 'bearer_token',
    severity: 'high',
    re: /\b[Bb]earer\s{1,5}([A-Za-z0-9._~+/-]{20,4000}=*)/g,
    group: 1,
    accept: (v) => highEntropyToken(v, 20, 3.5),
    priority: PRIORITY.generic,
  },
  {
    type: 'basic_auth',
    severity: 'high',
    re: /\bBasic\s{1,5}([A-Za-z0-9+/]{8,1000}={0,2})(?![A-Za-z0-9+/=])/g,
    group: 1,
    accept: basicCredentialValid,
    priority: PRIORITY.generic,
  },
  {
    type: 'url_credentials',
    severity: 'high',
    // Anchored on "://" (which the engine finds fast); the scheme before it is checked in `accept`.
    re: /:\/\/[^\s:@/?#]{1,100}:([^\s@/?#]{3,200})@[A-Za-z0-9.-]{1,253}/g,
    group: 1,
    accept: (v, text, index) => /(?<![A-Za-z0-9_])[a-z][a-z0-9+.-]{1,20}$/i.test(text.slice(Math.max(0, index - 22), index)) && !PLACEHOLDER.test(v) && !/^(?:pass(?:word)?|pw|secret)$/i.test(v),
    priority: PRIORITY.generic,
  },
];

function pemPrivateKeys(text: string, out: RawMatch[]): void {
  const header = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
  let nextEnd = -2; // cached forward search: indexOf never rescans text already scanned
  for (let m = header.exec(text); m; m = header.exec(text)) {
    const bodyStart = m.index + m[0].length;
    if (nextEnd !== -1 && nextEnd < bodyStart) nextEnd = text.indexOf('-----END ', bodyStart);
    let end: number;
    if (nextEnd >= 0 && nextEnd - bodyStart < 200_000) {
      const close = text.indexOf('-----', nextEnd + 9);
      end = close >= 0 && close - nextEnd < 80 ? close + 5 : nextEnd + 9;
    } else {
      // No END marker (truncated key): the key material that follows still leaks.
      end = bodyStart;
      while (end < text.length && end - bodyStart < 200_000 && /[A-Za-z0-9+/=\s\\:,-]/.test(text[end] as string)) end++;
    }
    const body = text.slice(bodyStart, Math.min(end, bodyStart + 4096));
    // A header with "..." or nothing between the markers is documentation, not a key.
    if ((body.match(/[A-Za-z0-9+/]/g) ?? []).length < 40) continue;
    out.push({ type: 'private_key', category: 'secret', severity: 'critical', start: m.index, end, priority: PRIORITY.specific + 5 });
    header.lastIndex = end;
  }
  const putty = /PuTTY-User-Key-File-[23]: [a-z0-9-]{3,40}/g;
  for (let m = putty.exec(text); m; m = putty.exec(text)) {
    const mac = text.indexOf('Private-MAC:', m.index);
    const end = mac >= 0 && mac - m.index < 20_000 ? Math.min(text.length, mac + 12 + 80) : m.index + m[0].length;
    out.push({ type: 'private_key', category: 'secret', severity: 'critical', start: m.index, end, priority: PRIORITY.specific + 5 });
    putty.lastIndex = end;
  }
}

/** A 40-character AWS-style secret within a few lines after an access key id, even without a label. */
function awsPairs(text: string, found: readonly RawMatch[], out: RawMatch[]): void {
  const candidate = /(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;
  for (const key of found) {
    if (key.type !== 'aws_access_key') continue;
    candidate.lastIndex = key.end;
    const windowEnd = Math.min(text.length, key.end + 300);
    for (let m = candidate.exec(text); m && m.index < windowEnd; m = candidate.exec(text)) {
      const v = m[0];
      if (charClasses(v) >= 3 && shannonEntropy(v) >= 4 && !DOCUMENTED_EXAMPLES.test(v)) {
        out.push({ type: 'aws_secret_key', category: 'secret', severity: 'critical', start: m.index, end: m.index + v.length, priority: PRIORITY.specific });
      }
    }
  }
}

/**
 * A storage account key outside a connection string (`AZURE_STORAGE_KEY=…`, `az storage account
 * keys list`, `--account-key …`): 64 random bytes in base64 (86 characters and "=="), with Azure
 * or storage named in the 300 characters before. Found from each "==" backwards, which is linear
 * and far cheaper than a regex tried at every word of ordinary text.
 */
function azureAccountKeys(text: string, out: RawMatch[]): void {
  for (let p = text.indexOf('=='); p >= 0; p = text.indexOf('==', p + 2)) {
    if (text[p + 2] === '=' || (p + 2 < text.length && /[A-Za-z0-9+/]/.test(text[p + 2] as string))) continue;
    let s = p;
    while (s > 0 && p - s < 87 && BASE64_CHAR.test(text[s - 1] as string)) s--;
    if (p - s !== 86 || (s > 0 && /[-.]/.test(text[s - 1] as string))) continue; // `sha512-…`: an integrity hash
    const v = text.slice(s, p + 2);
    if (shannonEntropy(v) >= 4.5 && charClasses(v) >= 3 && AZURE_CONTEXT.test(text.slice(Math.max(0, s - 300), s))) {
      out.push({ type: 'azure_storage_key', category: 'secret', severity: 'critical', start: s, end: p + 2, priority: PRIORITY.specific });
    }
  }
}

/** Runs Warden's own secret detectors over `text`, appending raw matches to `out`. */
export function detectSecrets(text: string, out: RawMatch[]): void {
  pemPrivateKeys(text, out);
  azureAccountKeys(text, out);
  const before = out.length;
  for (const d of DETECTORS) {
    d.re.lastIndex = 0;
    for (let m = d.re.exec(text); m; m = d.re.exec(text)) {
      const groups = typeof d.group === 'number' ? [d.group] : (d.group ?? [0]);
      const captured = groups.map((g) => m?.[g]).find((v) => v !== undefined) ?? '';
      const start = d.group ? m.index + m[0].lastIndexOf(captured) : m.index;
      const value = d.trim ? d.trim(captured) : captured;
      if (value === '' || (d.accept && !d.accept(value, text, m.index))) continue;
      out.push({ type: d.type, category: 'secret', severity: d.severity, start, end: start + value.length, priority: d.priority ?? PRIORITY.specific });
    }
  }
  awsPairs(text, out.slice(before), out);
}
