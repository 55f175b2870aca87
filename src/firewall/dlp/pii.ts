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
import { documentedIban, exampleCard, fillerPhone, nonPersonalEmail } from './examples.js';

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
  // A comma is a left boundary unless it follows a digit ("visa,4111…" in a CSV, not "1,234,…").
  const re = /(?<![0-9A-Za-z_.])(?<!\d,)[2-6]\d[\d \u00a0.-]{10,24}\d(?![0-9A-Za-z_]|\.\d|,\d{3}(?!\d))/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let candidate = m[0];
    while (candidate.length >= 13) {
      const seps = candidate.replace(/\d/g, '');
      const digits = candidate.replace(/[ \u00a0.-]/g, '');
      const groups = candidate.split(/[ \u00a0.-]/);
      // One kind of separator, groups of 3–6 led by a group of 4; dots only in the 4-4-4-4 layout.
      const consistent =
        seps === '' ||
        (new Set(seps).size === 1 && groups.every((g) => g.length >= 3 && g.length <= 6) && (groups[0]?.length ?? 0) === 4 && (seps[0] !== '.' || groups.every((g) => g.length === 4)));
      if (consistent && digits.length >= 13 && digits.length <= 19 && luhnValid(digits) && cardBrand(digits) !== undefined) {
        // A documented test card or filler digits is a sample, not a card: skip it whole.
        if (!exampleCard(digits)) out.push(pii('credit_card', 'high', m.index, m.index + candidate.length));
        re.lastIndex = m.index + candidate.length;
        break;
      }
      const cut = Math.max(candidate.lastIndexOf(' '), candidate.lastIndexOf('-'), candidate.lastIndexOf('\u00a0'), candidate.lastIndexOf('.'));
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
      if (!documentedIban(compact)) out.push(pii('iban', 'medium', m.index, i));
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
/** An ssh/scp/rsync command line (its options included) right before the address. */
const SSH_COMMAND = /(?:^|[\s;&|`$(])(?:ssh|scp|sftp|rsync|mosh|ssh-copy-id)(?:\s{1,4}-{1,2}[A-Za-z][\w=.~/-]{0,30}(?:\s{1,4}[\w.~/-]{1,30})?){0,4}\s{1,4}$/;
/** What follows `user@host` in an scp-style target: `:path/with/slash`, `:~/…`, `:/abs` or `:22` (a port). */
const SCP_PATH = /^:(?:[~/]|[\w.-]{1,100}\/|\d{1,5}(?![\w:]))/;
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
      !(s > 0 && /[A-Za-z0-9/:]/.test(text[s - 1] as string)) && // part of a URL's userinfo or a longer token
      !SCP_PATH.test(text.slice(e, e + 120)) && // scp / git SSH target: git@github.com:org/repo.git (not `mail@x.com:password`)
      !SSH_COMMAND.test(text.slice(Math.max(0, s - 48), s)) && // `ssh deploy@bastion.corp.io`: a login, not a mailbox
      !nonPersonalEmail(local, domain);
    if (valid) {
      out.push(pii('email', 'low', s, e));
      lastEnd = e;
    }
  }
}

/** A label just before the number that says it is a phone number (English and the other common languages). */
const PHONE_CONTEXT =
  /(?:phone|tel|mobile|cell|call|fax|whatsapp|sms|contact|ring|text|reach|dial|t[ée]l[ée]?phone|t[ée]l|portable|appel\w{0,4}|num[ée]ro|telefon\w{0,2}|tel[ée]fono|telefone|celular|m[oó]vil|handy|nummer|rufnummer|anruf\w{0,2}|ll[aá]m\w{1,6}|cellulare|chiam\w{1,6}|телефон\w{0,2}|тел|моб\w{0,6}|звон\w{0,6}|номер\w{0,2}|電話\S{0,3}|携帯\S{0,3}|連絡先|电话|手机|联系\S{0,2}|전화\S{0,2}|연락처)[^\p{L}\p{N}]{0,3}\s{0,3}(?:[\p{L}\p{N}_]{1,12}[\s.:]{0,2}){0,2}$/iu;

/** A label right before the number that says it is something else (an article, order, lot or tracking number). */
const NOT_PHONE_CONTEXT = /(?:\b(?:sku|lot|batch|order|invoice|inv|po|ref|reference|tracking|ticket|isbn|ean|upc|gtin|serial|s\/n|case|build|version|ver|id|account|acct|iban|bic|vat|tax|pid|port|zip|postcode|plz)|#)\W{0,3}$/i;

/**
 * Regions tried when a national-format number is not valid in the default region, for numbers
 * written with a leading trunk "0" (most of Europe, Japan, China, India, Australia…) or,
 * with a phone label, without one (Spain, Italy, Portugal, Poland, the Nordics…).
 */
const TRUNK_REGIONS: readonly CountryCode[] = ['GB', 'FR', 'DE', 'NL', 'BE', 'CH', 'AT', 'IE', 'SE', 'FI', 'JP', 'CN', 'KR', 'IN', 'AU', 'NZ', 'ZA', 'TR', 'IT', 'BR', 'AR', 'MX'];
const LABELLED_REGIONS: readonly CountryCode[] = ['ES', 'IT', 'PT', 'PL', 'DK', 'NO', 'GR', 'CZ', 'RU', 'UA', 'RO', 'HU'];

function validNational(c: string, region: CountryCode, context: boolean): boolean {
  if (parsePhoneNumberFromString(c, region)?.isValid()) return true;
  const regions = /^\(?0/.test(c) ? TRUNK_REGIONS : context ? LABELLED_REGIONS : [];
  for (const r of regions) if (r !== region && parsePhoneNumberFromString(c, r)?.isValid()) return true;
  return false;
}

/**
 * Phone numbers: a candidate must look like one as written (a "+" prefix, or grouping
 * punctuation, or a "phone:" label) before libphonenumber decides whether it is valid for its
 * region. Dates, versions, IP addresses and bare order numbers are rejected before parsing.
 * An international number ("+44 …") written in groups needs only a possible length for its
 * country: ranges reserved for fiction (UK 07700 900xxx) are still written as someone's number.
 */
function phones(text: string, out: RawMatch[], region: CountryCode): void {
  const re = /(?<![\w.+/:-])\+?\(?\d[\d ().-]{5,18}\d(?![\w/-]|\.\d|:\d)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const c = m[0];
    const digits = c.replace(/\D/g, '');
    if (digits.length < 7 || digits.length > 15) continue;
    if (/^\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}\b|^\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4}$/.test(c)) continue; // dates
    if (/^(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])(?:[-./]|$)/.test(c)) continue; // year-month prefixed ids: 2024-11-0042
    if (/\d\.\d{1,3}\.\d/.test(c) && !/^\+?\(?\d{3}\)?\.\d{3}\.\d{4}$/.test(c)) continue; // versions, IPs
    if (/[.]{2}|[-]{2}|\(\(|\)\)|\s{2}/.test(c)) continue;
    const grouped = /[ ().-]/.test(c);
    const before = text.slice(Math.max(0, m.index - 40), m.index);
    const context = PHONE_CONTEXT.test(before);
    if (!context && NOT_PHONE_CONTEXT.test(before)) continue;
    const international = c.startsWith('+');
    if (!international && !grouped && !context) continue; // a bare number is an id, not a phone
    if (!international && !context && /^\d{1,3}[ -]\d/.test(c) && digits.length < 10) continue;
    let ok: boolean;
    if (international) {
      const parsed = parsePhoneNumberFromString(c);
      ok = parsed !== undefined && (parsed.isValid() || (grouped && parsed.isPossible()));
    } else {
      ok = validNational(c, region, context);
    }
    if (ok && !fillerPhone(digits)) out.push(pii('phone', 'low', m.index, m.index + c.length));
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
