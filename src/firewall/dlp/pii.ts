/**
 * Personal data with validation: payment cards (Luhn + issuer range + length), IBANs (registry
 * length + MOD 97-10), US SSNs (assignment rules), e-mail addresses and phone numbers
 * (libphonenumber metadata). Candidate patterns are deliberately loose and linear; precision
 * comes from the validation step, which is where the hard negatives (order numbers, dates,
 * versions, Luhn-failing numbers) are rejected.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import { cardBrand, ibanValid, IBAN_LENGTHS, luhnValid, ssnValid } from './checksums.js';
import { PRIORITY, type RawMatch } from './match.js';

export interface PiiOptions {
  /** Region for phone numbers written without a country code. Default `US`. */
  defaultPhoneRegion?: CountryCode;
  /** Which PII kinds to look for; default all. */
  kinds?: ReadonlySet<PiiKind>;
}

export type PiiKind = 'credit_card' | 'iban' | 'ssn' | 'email' | 'phone';
export const PII_KINDS: readonly PiiKind[] = ['credit_card', 'iban', 'ssn', 'email', 'phone'];

function pii(type: PiiKind, severity: RawMatch['severity'], start: number, end: number): RawMatch {
  return { type, category: 'pii', severity, start, end, priority: PRIORITY.pii + (type === 'phone' ? 0 : 2) };
}

/**
 * Card candidates: 13–19 digits, optionally grouped by single spaces or dashes. A greedy
 * candidate that swallowed a following number ("… 1111 2024") is retried without its last
 * groups before it is given up.
 */
function cards(text: string, out: RawMatch[]): void {
  const re = /(?<![0-9A-Za-z_.,])[2-6]\d[\d -]{10,24}\d(?![0-9A-Za-z_]|[.,]\d)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let candidate = m[0];
    while (candidate.length >= 13) {
      const seps = candidate.replace(/\d/g, '');
      const digits = candidate.replace(/[ -]/g, '');
      const groups = candidate.split(/[ -]/);
      const consistent = seps === '' || (new Set(seps).size === 1 && groups.every((g) => g.length >= 3 && g.length <= 6) && (groups[0]?.length ?? 0) === 4);
      if (consistent && digits.length >= 13 && digits.length <= 19 && luhnValid(digits) && cardBrand(digits) !== undefined && !/^(\d)\1+$/.test(digits)) {
        out.push(pii('credit_card', 'high', m.index, m.index + candidate.length));
        re.lastIndex = m.index + candidate.length;
        break;
      }
      const cut = Math.max(candidate.lastIndexOf(' '), candidate.lastIndexOf('-'));
      if (cut <= 0) break;
      candidate = candidate.slice(0, cut);
    }
  }
}

function ibans(text: string, out: RawMatch[]): void {
  const re = /(?<![A-Za-z0-9])([A-Z]{2})\d{2}[A-Z0-9 ]{11,40}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const length = IBAN_LENGTHS[m[1] as string];
    if (length === undefined) {
      re.lastIndex = m.index + 2;
      continue;
    }
    // Collect exactly `length` alphanumerics, allowing single spaces between them.
    let compact = '';
    let i = m.index;
    while (i < text.length && compact.length < length) {
      const c = text[i] as string;
      if (/[A-Z0-9]/.test(c)) compact += c;
      else if (c !== ' ' || text[i + 1] === ' ' || compact.length === 0) break;
      i++;
    }
    const boundary = i >= text.length || !/[A-Za-z0-9]/.test(text[i] as string);
    if (compact.length === length && boundary && ibanValid(compact)) {
      out.push(pii('iban', 'medium', m.index, i));
      re.lastIndex = i;
    } else {
      re.lastIndex = m.index + 2;
    }
  }
}

function ssns(text: string, out: RawMatch[]): void {
  const formatted = /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g;
  for (let m = formatted.exec(text); m; m = formatted.exec(text)) {
    if (ssnValid(m[1] as string, m[3] as string, m[4] as string)) out.push(pii('ssn', 'high', m.index, m.index + m[0].length));
  }
  // Nine bare digits are an SSN only when the text says so.
  const labelled = /\b(?:ssn|social security(?: number| no\.?)?|ss#)\D{0,20}?(?<!\d)(\d{9})(?!\d)/gi;
  for (let m = labelled.exec(text); m; m = labelled.exec(text)) {
    const d = m[1] as string;
    const start = m.index + m[0].length - 9;
    if (ssnValid(d.slice(0, 3), d.slice(3, 5), d.slice(5))) out.push(pii('ssn', 'high', start, start + 9));
  }
}

/** RFC 2606/6761 reserved names and file-name look-alikes (`logo@2x.png`): not anyone's address. */
const RESERVED_EMAIL_DOMAIN = /(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost|local)$/i;
const FILE_TLD = /\.(?:png|jpe?g|gif|svg|webp|ico|bmp|tiff?|js|mjs|ts|css|json|ya?ml|md|txt|html?|pdf|zip|gz)$/i;
const LOCAL_CHAR = /[A-Za-z0-9._%+-]/;
const DOMAIN_CHAR = /[A-Za-z0-9.-]/;

/** E-mail addresses, found by expanding around each "@" (bounded both ways, so linear). */
function emails(text: string, out: RawMatch[]): void {
  let lastEnd = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let s = at;
    while (s > Math.max(lastEnd, at - 64) && LOCAL_CHAR.test(text[s - 1] as string)) s--;
    let e = at + 1;
    while (e < text.length && e - at <= 253 && DOMAIN_CHAR.test(text[e] as string)) e++;
    while (e > at + 1 && (text[e - 1] === '.' || text[e - 1] === '-')) e--;
    while (s < at && text[s] === '.') s++;
    const local = text.slice(s, at);
    const domain = text.slice(at + 1, e);
    const labels = domain.split('.');
    const tld = labels[labels.length - 1] ?? '';
    const valid =
      local.length > 0 &&
      !local.endsWith('.') &&
      !local.includes('..') &&
      labels.length >= 2 &&
      labels.every((l) => l.length > 0 && l.length <= 63 && !l.startsWith('-') && !l.endsWith('-')) &&
      /^[A-Za-z]{2,24}$/.test(tld) &&
      !RESERVED_EMAIL_DOMAIN.test(domain) &&
      !FILE_TLD.test(domain) &&
      !(s > 0 && /[A-Za-z0-9/:]/.test(text[s - 1] as string)); // part of a URL's userinfo or a longer token
    if (valid) {
      out.push(pii('email', 'low', s, e));
      lastEnd = e;
    }
  }
}

const PHONE_CONTEXT = /(?:phone|tel|mobile|cell|call|fax|whatsapp|sms|contact|ring)\W{0,3}\s{0,3}(?:\w{1,12}\s{0,2}){0,2}$/i;

/**
 * Phone numbers: a candidate must look like one as written (a "+" prefix, or grouping
 * punctuation, or a "phone:" label) before libphonenumber decides whether it is valid for its
 * region. Dates, versions, IP addresses and bare order numbers are rejected before parsing.
 */
function phones(text: string, out: RawMatch[], region: CountryCode): void {
  const re = /(?<![\w.+/:-])\+?\(?\d[\d ().-]{5,18}\d(?![\w/-]|\.\d|:\d)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const c = m[0];
    const digits = c.replace(/\D/g, '');
    if (digits.length < 7 || digits.length > 15) continue;
    if (/^\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}\b|^\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4}$/.test(c)) continue; // dates
    if (/\d\.\d{1,3}\.\d/.test(c) && !/^\+?\(?\d{3}\)?\.\d{3}\.\d{4}$/.test(c)) continue; // versions, IPs
    if (/[.]{2}|[-]{2}|\(\(|\)\)|\s{2}/.test(c)) continue;
    const grouped = /[ ().-]/.test(c);
    const context = PHONE_CONTEXT.test(text.slice(Math.max(0, m.index - 40), m.index));
    if (!c.startsWith('+') && !grouped && !context) continue; // a bare number is an id, not a phone
    if (!c.startsWith('+') && !context && /^\d{1,3}[ -]\d/.test(c) && digits.length < 10) continue;
    const parsed = parsePhoneNumberFromString(c, region);
    if (parsed?.isValid()) out.push(pii('phone', 'low', m.index, m.index + c.length));
  }
}

/** Runs the PII detectors over `text`, appending raw matches to `out`. */
export function detectPii(text: string, out: RawMatch[], options: PiiOptions = {}): void {
  const kinds = options.kinds ?? new Set(PII_KINDS);
  if (kinds.has('credit_card')) cards(text, out);
  if (kinds.has('iban')) ibans(text, out);
  if (kinds.has('ssn')) ssns(text, out);
  if (kinds.has('email') && text.includes('@')) emails(text, out);
  if (kinds.has('phone')) phones(text, out, options.defaultPhoneRegion ?? 'US');
}
