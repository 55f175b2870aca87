import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createDlpScanner } from '../../src/firewall/dlp/scanner.js';
import { createTokenizer } from '../../src/firewall/dlp/tokenize.js';
import { luhnValid, ibanValid, ssnValid, cardBrand } from '../../src/firewall/dlp/checksums.js';
import { resolveOverlaps, type RawMatch } from '../../src/firewall/dlp/match.js';
import { WardenError } from '../../src/errors.js';

const scanner = createDlpScanner();
const types = async (input: Parameters<typeof scanner.scan>[0]): Promise<string[]> => (await scanner.scan(input)).findings.map((f) => f.type);

// Fabricated in the vendors' shapes, assembled at run time so no literal credential sits in the source.
const AWS_ID = 'AKIA' + 'Z7QW3RT5YU2PLKMN';
const AWS_SECRET = 'q8Vd1' + 'Kf0Xz7Lm2Np9Rt4Wb6Yc3Hj5Gs8Ae1Ui0Ol';
const JWT_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
const JWT = `${JWT_HEADER}.${Buffer.from('{"sub":"42"}').toString('base64url')}.${'Zx9_k2Lq'.repeat(5)}`;

describe('dlp: secrets', () => {
  it('finds an AWS key pair, with the secret found from context', async () => {
    const text = `aws_access_key_id = ${AWS_ID}\naws_secret_access_key = ${AWS_SECRET}`;
    const r = await scanner.scan(text);
    expect(r.findings.map((f) => f.type).sort()).toEqual(['aws_access_key', 'aws_secret_key']);
    const secret = r.findings.find((f) => f.type === 'aws_secret_key');
    expect(text.slice(secret?.span?.start, secret?.span?.end)).toBe(AWS_SECRET);
    expect(secret?.severity).toBe('critical');
  });

  it('excerpts never contain the secret', async () => {
    const r = await scanner.scan(`key ${AWS_ID} secret_access_key=${AWS_SECRET}`);
    for (const f of r.findings) {
      expect(f.excerpt).not.toContain(AWS_SECRET.slice(4, 20));
      expect(f.excerpt).not.toContain(AWS_ID.slice(4));
      expect(f.message).not.toContain(AWS_ID.slice(4));
    }
  });

  it('documented example keys are not findings', async () => {
    expect(await types('aws_access_key_id = AKIAIOSFODNN7EXAMPLE')).toEqual([]);
    expect(await types('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toEqual([]);
  });

  it('any PEM private key type is found, including OpenSSH and a key without its END line', async () => {
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7' + 'x'.repeat(40);
    for (const kind of ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'PGP PRIVATE KEY BLOCK']) {
      expect(await types(`-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----`), kind).toContain('private_key');
    }
    expect(await types(`-----BEGIN OPENSSH PRIVATE KEY-----\n${body}`)).toContain('private_key');
  });

  it('public keys, certificates and elided keys are not private keys', async () => {
    const body = 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw';
    expect(await types(`-----BEGIN PUBLIC KEY-----\n${body}\n-----END PUBLIC KEY-----`)).toEqual([]);
    expect(await types(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`)).toEqual([]);
    expect(await types('-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----')).toEqual([]);
    expect(await types(`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host`)).toEqual([]);
  });

  it('a JWT needs a header that decodes to JSON with "alg"', async () => {
    expect(await types(`token=${JWT}`)).toContain('jwt');
    const noAlg = `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.eyJzdWIiOiI0MiJ9.${'a'.repeat(30)}`;
    expect(await types(noAlg)).not.toContain('jwt');
    expect(await types('eyJub3QganNvbg.eyJzdWIiOiI0MiJ9.abcdefghijklmnopqrstu')).toEqual([]);
  });

  it('cloud and SaaS key formats', async () => {
    const cases: Array<[string, string]> = [
      ['AIza' + 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q', 'gcp_api_key'],
      [`AccountKey=${'Ab3+'.repeat(21)}Cd==;EndpointSuffix=core.windows.net`, 'azure_storage_key'],
      ['sk_live_' + '51HxYzAbCdEfGhIjKlMnOpQr', 'stripe_secret_key'],
      ['xoxb-' + '387346219054-5820193746651-AbCdEfGhIjKlMnOpQrStUvWx', 'slack_token'],
      ['ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8', 'github_token'],
      ['github_pat_' + '11AQ7ZK3Y0N4dWm8Lr2TbX_' + 'x1Y2z3'.repeat(10), 'github_token'],
      ['{"private_key_id": "' + 'ab12'.repeat(10) + '"}', 'gcp_service_account'],
    ];
    for (const [text, type] of cases) expect(await types(text), type).toContain(type);
  });

  it('generic assignments need entropy and are not placeholders or references', async () => {
    expect(await types('password = "Tr0ub4dor&3x!"')).toEqual(['password']);
    expect(await types('client_secret: 9fK2mQ7xR4vL8pZ3wN6tB1yH5cJ0dG2s')).toEqual(['generic_secret']);
    expect(await types('Authorization: Bearer 8f3kD92jfKq0PzLm4nT7vXy1Wb6Rc5Ae')).toEqual(['bearer_token']);
    for (const negative of ['password = YOUR_PASSWORD_HERE', 'password = process.env.DB_PASSWORD', 'token = response.accessToken', 'api_key = "{{ api_key }}"', 'Authorization: Bearer <token>', 'password: ********', 'secret = "xxxxxxxxxxxxxxxxxxxxxxxx"']) {
      expect(await types(negative), negative).toEqual([]);
    }
  });

  it('secretlint-only formats are found (the preset runs behind the prefilter)', async () => {
    const r = await scanner.scan(`//registry.npmjs.org/:_authToken=npm_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'}`);
    expect(r.findings.map((f) => f.type)).toContain('npm_token');
    expect(r.stats.charsLinted).toBeGreaterThan(0);
  });

  it('a "secretlint-disable" comment in the data does not switch detection off', async () => {
    const text = `// secretlint-disable\nnpm token npm_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'}\n// secretlint-enable`;
    expect(await types(text)).toContain('npm_token');
  });
});

describe('dlp: PII with validation', () => {
  it('cards: Luhn, issuer range and grouping decide', async () => {
    expect(await types('card 4525 9658 9092 1903 exp 12/26')).toEqual(['credit_card']);
    expect(await types('amex 3781-077888-70316')).toEqual(['credit_card']);
    expect(await types('5330069870642803')).toEqual(['credit_card']);
    // Luhn-failing, unknown issuer, wrong length for the brand, odd grouping, repeated digit
    for (const negative of ['4111 1111 1111 1112', '9111111111111111', '41111111111111111', '41 11 11 11 11 11 11 11', '4444444444444444', 'v1.4111111111111111']) {
      expect(await types(negative), negative).toEqual([]);
    }
  });

  it('a card followed by another number is still found', async () => {
    const r = await scanner.scan('paid with 4525 9658 9092 1903 2024 receipt');
    expect(r.findings[0]?.span).toEqual({ start: 10, end: 29 });
  });

  it('IBANs: country length and MOD 97', async () => {
    expect(await types('IBAN DE24 3704 0044 2863 7535 20 thanks')).toEqual(['iban']);
    expect(await types('GB97WEST55424072186692')).toEqual(['iban']);
    expect(await types('DE25 3704 0044 2863 7535 20')).toEqual([]); // check digits off by one
    expect(await types('DE24 3704 0044 2863 7535')).toEqual([]); // too short for DE
    expect(ibanValid('NO9386011117947')).toBe(true);
  });

  it('SSNs: assignment rules and published examples', async () => {
    expect(await types('SSN 536-22-8410')).toEqual(['ssn']);
    expect(await types('ssn: 536228410')).toEqual(['ssn']);
    for (const negative of ['000-12-3456', '666-12-3456', '912-12-3456', '536-00-8410', '536-22-0000', '078-05-1120', '123-45-6789', 'id 536228410']) {
      expect(await types(negative), negative).toEqual([]);
    }
  });

  it('emails, minus reserved domains and look-alikes', async () => {
    expect(await types('write to jane.doe@acme-corp.io today')).toEqual(['email']);
    for (const negative of ['user@example.com', 'logo@2x.png', 'npm i @scope/pkg@1.2.3', 'a@b', 'https://user:x@host.io']) {
      expect(await types(negative), negative).not.toContain('email');
    }
  });

  it('phones via libphonenumber, not dates, versions, IPs or bare ids', async () => {
    expect(await types('call (415) 555-2671')).toEqual(['phone']);
    expect(await types('+44 20 7946 0958')).toEqual(['phone']);
    expect(await types('phone: 4155552671')).toEqual(['phone']);
    for (const negative of ['2024-01-15', 'version 1.2.3456.7890', '10.20.30.40', 'order 4155552671', 'ts 1700000000', '12/31/2023', '2024-01-15 10:30:00']) {
      expect(await types(negative), negative).toEqual([]);
    }
  });

  it('checksums agree with hand-computed vectors', () => {
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
    expect(cardBrand('378282246310005')).toBe('amex');
    expect(cardBrand('2223003122003222')).toBe('mastercard');
    expect(ssnValid('536', '22', '8410')).toBe(true);
  });
});

describe('dlp: placeholders, documented examples and what is nobody\'s data', () => {
  const AZURE_KEY = 'j8F0AzVrNJDcCkP6T4fFMEMvsqMvigbkF+X3Dagxyo' + 'QdSiMRsI8+TtmwdsqOs+vlklx1xPLDEhwMOO9CDyXszg==';

  it('passwords assigned in configuration and code are found, with the value as the span', async () => {
    for (const text of ['password: correct-Horse7', 'POSTGRES_PASSWORD=s3cr3tpass', '{"user": "svc", "password": "Kx9!mPq2"}', 'DB_PASS=Wq8zLm3p', 'Server=db;User Id=sa;Password=Str0ng!Pass;', '<password>Hq7mZ2xP</password>', "CREATE USER app IDENTIFIED BY 'Vb7#kLp9q';", 'the password is Tr0ub4dor&3.']) {
      expect(await types(text), text).toEqual(['password']);
    }
    const r = await scanner.scan('  password: hunter2-prod27');
    expect(r.findings[0]?.span).toEqual({ start: 12, end: 26 });
  });

  it('references, code, types, labels and masks in a password slot are not passwords', async () => {
    for (const text of ['password = os.getenv("DB_PASSWORD")', 'password: ${DB_PASSWORD}', 'password: "{{ vault_db_password }}"', 'PASSWORD=$(cat /run/secrets/db)', 'password = self.password', 'password: str', 'password=None', '"password": "Password"', '"password": "Mot de passe"', 'pwd: /home/user/project', 'password: !vault |', 'password: %DB_PASS%', 'password = config.db.password2', 'The password is incorrect.', 'bypass: enabled-by-default', 'password: ********', 'password=[REDACTED]']) {
      expect(await types(text), text).toEqual([]);
    }
  });

  it('an Azure storage account key is found outside a connection string too, but not an integrity hash', async () => {
    expect(AZURE_KEY).toHaveLength(88);
    expect(await types(`AZURE_STORAGE_KEY=${AZURE_KEY}`)).toEqual(['azure_storage_key']);
    expect(await types(`az storage blob list --account-name acme --account-key ${AZURE_KEY}`)).toEqual(['azure_storage_key']);
    expect(await types(`"integrity": "sha512-${AZURE_KEY}"`)).toEqual([]);
  });

  it('filler and documented example credentials are not findings, whichever detector matched', async () => {
    for (const text of [`GITHUB_TOKEN=ghp_${'x'.repeat(36)}`, `STRIPE_SECRET_KEY=sk_live_${'0'.repeat(24)}`, 'api_key: your-api-key-goes-here', `token: ${'*'.repeat(24)}`, 'curl -u sk_test_4eC39HqLyjWDarjtT1zdp7dc:', 'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c']) {
      expect(await types(text), text).toEqual([]);
    }
  });

  it('documented test cards and example IBANs are samples; real-looking numbers in CSV, dotted or nbsp form are cards', async () => {
    for (const text of ['Visa 4111 1111 1111 1111 and Mastercard 5555 5555 5555 4444 always succeed in test mode', 'use 4242424242424242', 'Amex 3782 822463 10005', '4000 0566 5566 5556', 'IBAN DE89 3704 0044 0532 0130 00', 'GB82WEST12345698765432']) {
      expect(await types(text), text).toEqual([]);
    }
    expect(await types('brand,number,exp\nvisa,4525965890921903,04/26')).toEqual(['credit_card']);
    expect(await types('card 4525.9658.9092.1903')).toEqual(['credit_card']);
    expect(await types('card 4525\u00a09658\u00a09092\u00a01903')).toEqual(['credit_card']);
    expect(await types('total 1,234,567,890,123,456')).toEqual([]);
  });

  it('e-mail: SSH targets, automated senders and role mailboxes belong to no person', async () => {
    for (const text of ['git clone git@github.com:acme/payments.git', 'ssh -i ~/.ssh/key deploy@bastion.acme-corp.io', 'From: GitHub <noreply@github.com>', '<49699333+dependabot[bot]@users.noreply.github.com>', 'MAILER-DAEMON@mx.acme-corp.io', 'write to support@acme-corp.io', 'you@yourcompany.com']) {
      expect(await types(text), text).not.toContain('email');
    }
    expect(await types('priya.raman@northwind-logistics.com')).toEqual(['email']);
    expect(await types('leaked combo: priya.raman@northwind-logistics.com:Summer2024')).toContain('email');
  });

  it('phones: national formats of other regions, reserved fiction ranges in international form; not ids or filler', async () => {
    for (const text of ['連絡先：090-3812-4476', 'Tél. 06 12 48 93 57', 'mobile 07911 123456', 'Llámame al 612 345 987', 'reach me on +44 7700 900461']) {
      expect(await types(text), text).toEqual(['phone']);
    }
    for (const text of ['SKU 4006381333931 · Lot 2024-11-0042 · Qty 12', 'Order #212-555-0147 confirmed', 'Phone: +1 (555) 000-0000', 'ref: 030 8841 2290']) {
      expect(await types(text), text).toEqual([]);
    }
  });
});

describe('dlp: structured input', () => {
  const input = { to: 'bob@corp.io', body: { text: 'card 4525 9658 9092 1903 please', cards: [5330069870642803, 'none'] }, ok: true, n: 3 };

  it('findings carry the JSON pointer and a span within that string', async () => {
    const r = await scanner.scan(input);
    const byPath = Object.fromEntries(r.findings.map((f) => [f.path, f]));
    expect(byPath['/to']?.type).toBe('email');
    expect(byPath['/body/text']?.span).toEqual({ start: 5, end: 24 });
    expect(byPath['/body/cards/0']?.type).toBe('credit_card'); // a card sent as a JSON number
  });

  it('pointer segments are escaped', async () => {
    const r = await scanner.scan({ 'a/b': { 'c~d': 'mail me: x.y@corp.io' } });
    expect(r.findings[0]?.path).toBe('/a~1b/c~0d');
  });

  it('redaction preserves structure and format, and does not mutate the input', async () => {
    const before = JSON.stringify(input);
    const r = await scanner.scan(input);
    const out = scanner.apply(input, r.findings, { default: 'redact' });
    expect(out.blocked).toBe(false);
    expect(out.output).toEqual({ to: '[REDACTED:email]', body: { text: 'card 4525 **** **** 1903 please', cards: ['5330********2803', 'none'] }, ok: true, n: 3 });
    expect(JSON.stringify(input)).toBe(before);
    expect(out.output.ok).toBe(true);
  });

  it('redaction in a plain string replaces only the secret', async () => {
    const text = `id=${AWS_ID} and card 4525-9658-9092-1903`;
    const r = await scanner.scan(text);
    expect(scanner.apply(text, r.findings, { default: 'redact' }).output).toBe('id=[REDACTED:aws_access_key] and card 4525-****-****-1903');
  });

  it('block wins: one blocking finding blocks the whole value', async () => {
    const r = await scanner.scan({ a: `key ${AWS_ID}`, b: 'bob@corp.io' });
    const out = scanner.apply({ a: `key ${AWS_ID}`, b: 'bob@corp.io' }, r.findings, { byType: { aws_access_key: 'block' }, default: 'flag' });
    expect(out.blocked).toBe(true);
    expect(out.blockedBy.map((f) => f.type)).toEqual(['aws_access_key']);
    expect(out.flagged.map((f) => f.type)).toEqual(['email']);
  });

  it('the default policy redacts secrets and only flags personal data', async () => {
    const value = { k: `key ${AWS_ID}`, e: 'bob@corp.io' };
    const out = scanner.apply(value, (await scanner.scan(value)).findings);
    expect(out.output).toEqual({ k: 'key [REDACTED:aws_access_key]', e: 'bob@corp.io' });
    expect(out.flagged).toHaveLength(1);
  });

  it('findings that do not fit the value fail closed', () => {
    const out = scanner.apply({ a: 1 }, [{ detector: 'dlp', type: 'email', severity: 'low', span: { start: 0, end: 3 }, path: '/x/y', message: 'm' }], { default: 'redact' });
    expect(out.blocked).toBe(true);
  });

  it('a redaction path can never reach a prototype', () => {
    const out = scanner.apply({ a: 'x' }, [{ detector: 'dlp', type: 'email', severity: 'low', span: { start: 0, end: 1 }, path: '/__proto__/polluted', message: 'm' }], { default: 'redact' });
    expect(out.blocked).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('dlp: tokenization', () => {
  const key = randomBytes(32);

  it('round-trips, deterministically, and preserves structure', async () => {
    const t = createTokenizer(key, { context: 'tenant-a' });
    const value = { card: '4525 9658 9092 1903', note: 'hi' };
    const r = await scanner.scan(value);
    const out = scanner.apply(value, r.findings, { default: 'tokenize', tokenizer: t });
    const token = out.output.card;
    expect(token).toMatch(/^tok_[A-Za-z0-9_-]+$/);
    expect(t.detokenize(token)).toBe('4525 9658 9092 1903');
    expect(t.tokenize('4525 9658 9092 1903')).toBe(token);
    expect(t.tokenize('4525 9658 9092 1904')).not.toBe(token);
    expect(out.tokenized).toBe(1);
  });

  it('a wrong key, another context or a flipped bit is a KeyError, never a wrong value', () => {
    const token = createTokenizer(key, { context: 'tenant-a' }).tokenize('secret value');
    expect(() => createTokenizer(randomBytes(32), { context: 'tenant-a' }).detokenize(token)).toThrow(WardenError);
    expect(() => createTokenizer(key, { context: 'tenant-b' }).detokenize(token)).toThrow(/does not decrypt/);
    const raw = Buffer.from(token.slice(4), 'base64url');
    raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
    expect(() => createTokenizer(key, { context: 'tenant-a' }).detokenize(`tok_${raw.toString('base64url')}`)).toThrow(WardenError);
    expect(() => createTokenizer(key).detokenize('tok_short')).toThrow(/not a Warden token/);
  });

  it('refuses keys that are not 32 bytes, and a tokenize policy without a tokenizer', () => {
    expect(() => createTokenizer(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => scanner.apply('x', [{ detector: 'dlp', type: 'email', severity: 'low', span: { start: 0, end: 1 }, message: 'm' }], { default: 'tokenize' })).toThrow(/tokenizer/);
  });
});

describe('dlp: overlaps, limits and pathological input', () => {
  it('the higher-priority match wins an overlap; the independent naive check agrees', () => {
    const m = (start: number, end: number, priority: number, type = `t${priority}`): RawMatch => ({ type, category: 'secret', severity: 'high', start, end, priority });
    const input = [m(0, 10, 50), m(5, 15, 80), m(20, 30, 30), m(25, 26, 100), m(40, 45, 30), m(44, 50, 30)];
    const kept = resolveOverlaps(input);
    expect(kept.map((k) => k.type)).toEqual(['t80', 't100', 't30']);
    // Naive reference: every kept match beats or ties every overlapping match.
    for (const k of kept) for (const o of input) if (o.start < k.end && k.start < o.end) expect(k.priority).toBeGreaterThanOrEqual(o.priority);
  });

  it('too many findings make the scan incomplete, and apply blocks', async () => {
    const small = createDlpScanner({ maxFindings: 5, secretlint: false });
    const text = Array.from({ length: 20 }, () => 'SSN 536-22-8410').join('\n');
    const r = small.scanSync(text);
    expect(r.incomplete).toBe(true);
    expect(r.findings).toHaveLength(6);
    expect(small.apply(text, r.findings, { default: 'redact' }).blocked).toBe(true);
  });

  it('oversized input is incomplete rather than silently truncated', () => {
    const r = createDlpScanner({ maxChars: 100 }).scanSync('a'.repeat(101));
    expect(r.findings.map((f) => f.type)).toEqual(['dlp_scan_incomplete']);
  });

  it('pathological inputs complete and cover every character', async () => {
    const size = 2 * 1024 * 1024;
    // 10 MB single runs: an unbounded V8 quantifier overflows its stack on these, so this guards the bounds.
    const inputs = ['a'.repeat(10 * size / 2), '7'.repeat(10 * size / 2), 'Ab3+'.repeat(size), '4111 '.repeat(size / 5), '@'.repeat(size), 'ey'.repeat(size / 2), 'AKIA'.repeat(size / 4), '-----BEGIN PRIVATE KEY-----'.repeat(size / 27), 'password='.repeat(size / 9), '<a '.repeat(size / 3)];
    for (const text of inputs) {
      const r = await scanner.scan(text);
      expect(r.stats.chars).toBe(text.length);
    }
    let deep: unknown = 'leaf jane@corp.io';
    for (let i = 0; i < 50_000; i++) deep = { d: deep };
    const r = await scanner.scan(deep as Record<string, unknown>);
    expect(r.findings[0]?.path?.split('/').length).toBe(50_001);
  });
});
