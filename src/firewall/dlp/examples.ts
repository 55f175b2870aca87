/**
 * Values that have the shape of a secret or of personal data but are not anyone's: numbers
 * and keys published in vendor documentation (payment test cards, example IBANs, example
 * tokens), filler a human typed in place of a value (`ghp_xxxx…`, `sk_live_0000…`,
 * `your-token-here`), and e-mail addresses that belong to no person (automated senders,
 * RFC 2142 role mailboxes, placeholders, `git@host:org/repo` SSH targets).
 *
 * Everything here is a cheap check on an already-matched value (or a bounded window around
 * it), so it adds nothing to the linear-time argument of the detectors.
 */

/**
 * Payment test card numbers that the card schemes and payment providers publish for sandbox
 * use (Stripe, Braintree, Adyen, PayPal, Checkout.com, Worldpay, Authorize.Net docs). They pass
 * Luhn and the issuer ranges, and they are nobody's card.
 */
const DOCUMENTED_TEST_CARDS = new Set([
  // Visa
  '4111111111111111', '4242424242424242', '4012888888881881', '4222222222222', '4000056655665556', '4000000000000002',
  '4000000000009995', '4000000000000077', '4000002500003155', '4000000000003220', '4000000000000341', '4000000000000069',
  '4000000000000127', '4000000000000119', '4000000000000101', '4000000000000259', '4100000000000019', '4000000760000002',
  '4000001240000000', '4000004840008001', '4000000000000010', '4000000000000028', '4000000000000036', '4000000000000044',
  '4005519200000004', '4009348888881881', '4012000033330026', '4012000077777777', '4217651111111119', '4500600000000061',
  '4988438843884305', '4444333322221111', '4111111145551142', '4035501000000008', '4360000001000005', '4166676667666746',
  '4917610000000000', '4917484589897107', '4001919257537193', '4007702835532454', '4263982640269299', '4012001037141112',
  '4000000000000440', '4000000000000093', '4000000000000200', '4000000000003063', '4000000000003155', '4000008400001629',
  '4000000000000226', '4000000000000242', '4000000000000309', '4000000000000317', '4000000000000325', '4000000000000358',
  // Mastercard
  '5555555555554444', '5200828282828210', '5105105105105100', '5454545454545454', '5431111111111111', '5555444433331111',
  '5500000000000004', '5101180000000007', '5577000055770004', '5424000000000015', '2223003122003222', '2222400070000005',
  '2223000048400011', '2222420000001113', '2223520043560014', '5200000000001005', '5200000000001096', '5506900140100305',
  '5105105105105100', '5146315000000055', '5555341244441115', '5588000000000000',
  // American Express
  '378282246310005', '371449635398431', '378734493671000', '370000000000002', '370000000100018', '340000000000009',
  '371111111111114', '343434343434343',
  // Discover, Diners, JCB, UnionPay, Maestro
  '6011111111111117', '6011000990139424', '6011601160116611', '6011000400000000', '6011981111111113', '6445644564456445',
  '30569309025904', '38520000023237', '36227206271667', '3056930009020004', '36006666333344', '36148900647913',
  '3566002020360505', '3530111333300000', '3566111111111113', '3569990010095841', '3528000700000000',
  '6200000000000005', '6205500000000000004', '6250941006528599', '6243030000000001', '6212345678901232', '6282000000000003',
  '6555900000604105', '6759649826438453', '6799990100000000019', '5018000000000009', '6304000000000000',
]);

/**
 * Filler digits: one digit repeated (4111 1111 1111 1111), short periodic patterns
 * (4242…, 5454…, 5105105105…) or a run of zeros in the middle (4000 0000 0000 0002). A random
 * account number essentially never looks like this; a human filling in an example always does.
 */
export function syntheticDigits(digits: string): boolean {
  const counts = new Array<number>(10).fill(0);
  for (let i = 1; i < digits.length; i++) counts[digits.charCodeAt(i) - 48]!++;
  if (Math.max(...counts) >= Math.ceil((digits.length - 1) * 0.7)) return true;
  for (let period = 2; period <= 4; period++) {
    let same = 0;
    for (let i = period; i < digits.length; i++) if (digits[i] === digits[i - period]) same++;
    if (same >= digits.length - period - 2) return true;
  }
  return /0{7,}/.test(digits);
}

/** A documented test card or filler digits: a sample, not a card. */
export function exampleCard(digits: string): boolean {
  return DOCUMENTED_TEST_CARDS.has(digits) || syntheticDigits(digits);
}

/** Filler typed into a phone field: `000-0000`, `999 9999`, `1234567`. */
export function fillerPhone(digits: string): boolean {
  return /(\d)\1{5}/.test(digits) || ascendingRun(digits, 7);
}

/** IBANs printed in the ISO 13616 / ECBS / bank documentation as examples. */
const DOCUMENTED_IBANS = new Set([
  'DE89370400440532013000', 'GB82WEST12345698765432', 'GB29NWBK60161331926819', 'GB33BUKB20201555555555',
  'FR1420041010050500013M02606', 'FR7630006000011234567890189', 'NL91ABNA0417164300', 'NL02ABNA0123456789',
  'CH9300762011623852957', 'ES9121000418450200051332', 'IT60X0542811101000000123456', 'BE68539007547034',
  'BE71096123456769', 'AT611904300234573201', 'PL61109010140000071219812874', 'NO9386011117947', 'DK5000400440116243',
  'FI2112345600000785', 'SE4550000000058398257466', 'IE29AIBK93115212345678', 'PT50000201231234567890154', 'LU280019400644750000',
]);

export function documentedIban(compact: string): boolean {
  return DOCUMENTED_IBANS.has(compact);
}

/** Example credentials from vendor documentation (besides AWS's `…EXAMPLE` keys, handled by pattern). */
const DOCUMENTED_SECRETS = new Set([
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc', // Stripe API reference
  'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
  'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy', // Slack docs
  'ghp_16C7e42F292c6912E7710c838347Ae178B4a', // GitHub docs
  'AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe', // Google Maps docs
]);

/** jwt.io's default token (sub 1234567890, "John Doe"): the example in every JWT tutorial. */
function documentedJwt(value: string): boolean {
  const dot = value.indexOf('.');
  if (dot < 0 || !value.startsWith('ey')) return false;
  const end = value.indexOf('.', dot + 1);
  try {
    const payload: unknown = JSON.parse(Buffer.from(value.slice(dot + 1, end < 0 ? undefined : end), 'base64url').toString('utf8'));
    const p = payload as { sub?: unknown; name?: unknown };
    return p.sub === '1234567890' && p.name === 'John Doe';
  } catch {
    return false;
  }
}

/** Words people type where a credential belongs. */
const FILLER_WORDS = /your[_-]?|placeholder|redacted|dummy|changeme|change[_-]me|replace[_-]?me|insert[_-]|[_-]here\b|fake[_-]|\$\{|\{\{|<[A-Za-z_ -]{1,40}>/i;

/** Longest run of one character, and the share of the most frequent character. */
function repetition(v: string): { run: number; top: number } {
  let run = 1;
  let cur = 1;
  const counts = new Map<string, number>();
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as string;
    counts.set(c, (counts.get(c) ?? 0) + 1);
    if (i > 0) {
      cur = c === v[i - 1] ? cur + 1 : 1;
      if (cur > run) run = cur;
    }
  }
  return { run, top: Math.max(0, ...counts.values()) / Math.max(1, v.length) };
}

/** An ascending run such as `12345678` or `abcdefgh` (keyboard filler). */
function ascendingRun(v: string, length: number): boolean {
  let cur = 1;
  for (let i = 1; i < v.length; i++) {
    cur = v.charCodeAt(i) === v.charCodeAt(i - 1) + 1 && /[A-Za-z0-9]/.test(v[i] as string) ? cur + 1 : 1;
    if (cur >= length) return true;
  }
  return false;
}

/**
 * A matched credential that is a placeholder or a documented example: `ghp_xxxxxxxx…`,
 * `sk_live_000000…`, `xoxb-your-token-here`, `****`, jwt.io's sample token. Private keys are
 * exempt (their base64 legitimately has long runs of `A`).
 */
export function placeholderSecret(type: string, value: string): boolean {
  if (type === 'private_key') return false;
  if (DOCUMENTED_SECRETS.has(value)) return true;
  if (documentedJwt(value)) return true; // as a `jwt`, or inside a bearer token or a generic assignment
  if (FILLER_WORDS.test(value)) return true;
  const { run, top } = repetition(value);
  if (run >= 6 && /([xX*•#.0])\1{5}/.test(value)) return true;
  if (run >= 10) return true;
  if (value.length >= 12 && top >= 0.5) return true;
  return ascendingRun(value, 8);
}

/**
 * Automated senders (no-reply, mailer-daemon, bounces, notifications), the RFC 2142 role
 * mailboxes (info, sales, support, abuse, security, postmaster…) and `git@` (the SSH user of
 * every Git host): an organisation's or a machine's address, not a person's.
 */
const SYSTEM_LOCAL =
  /^(?:no[._-]?reply|do[._-]?not[._-]?reply|noreply[._+-].*|.*[._+-]noreply|mailer[._-]?daemon|postmaster|hostmaster|webmaster|abuse|noc|security|bounces?(?:[._+-].*)?|notifications?|alerts?|info|support|sales|marketing|www|ftp|news|usenet|uucp|git)$/i;
/** Hosts that only ever receive machine mail (`…@users.noreply.github.com`). */
const SYSTEM_DOMAIN = /(?:^|\.)(?:no-?reply\.[a-z0-9.-]+|bounces?\.[a-z0-9.-]+)$/i;
/** Addresses written as a form to fill in rather than someone's address. */
const PLACEHOLDER_LOCAL = /^(?:you|your[._-]?(?:name|email|e-mail|address|mail|user(?:name)?)?|first(?:name)?[._-]?last(?:name)?|name[._-]?surname|some(?:one|body)|user[._-]?name|xxx+|email|e-mail)$/i;
const PLACEHOLDER_DOMAIN = /^(?:(?:your|my)?(?:domain|company|org|organi[sz]ation|site|website|email|host)\.(?:com|org|net|tld|io)|[a-z0-9-]*\.tld|(?:.+\.)?example\.[a-z.]{2,12}|(?:.+\.)?email\.tld)$/i;

/** An address that belongs to no person: automated, role, placeholder or documented. */
export function nonPersonalEmail(local: string, domain: string): boolean {
  return SYSTEM_LOCAL.test(local) || SYSTEM_DOMAIN.test(domain) || PLACEHOLDER_LOCAL.test(local) || PLACEHOLDER_DOMAIN.test(domain);
}
