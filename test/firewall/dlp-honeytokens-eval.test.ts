import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HoneytokenSet } from '../../src/firewall/dlp/honeytokens.js';
import { createDlpScanner } from '../../src/firewall/dlp/scanner.js';

describe('dlp: honeytokens', () => {
  const key = randomBytes(32);
  const set = new HoneytokenSet(key);
  const aws = set.generateAwsKey('agent-7 credentials file');
  const api = set.generateApiToken('tool context: crm');
  const scanner = createDlpScanner({ honeytokens: set });

  it('generated canaries look like the real formats', () => {
    expect(aws.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(aws.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
    expect(api.value).toMatch(/^sk-[A-Za-z0-9]{40}$/);
    expect(set.size).toBe(3);
  });

  it('a canary anywhere in nested JSON is a critical honeytoken finding at its pointer', async () => {
    const r = await scanner.scan({ call: { args: [{ note: `creds: ${aws.accessKeyId}` }] } });
    const f = r.findings.find((x) => x.detector === 'honeytoken');
    expect(f).toMatchObject({ detector: 'honeytoken', type: 'honeytoken', severity: 'critical', path: '/call/args/0/note', span: { start: 7, end: 27 } });
    // It outranks the AWS detector on the same characters, and its excerpt shows nothing of it.
    expect(r.findings.filter((x) => x.type === 'aws_access_key')).toHaveLength(0);
    expect(f?.excerpt).not.toContain('AKIA');
  });

  it('the secret half and API tokens are found inside assignments and URLs', async () => {
    expect((await scanner.scan(`aws_secret_access_key=${aws.secretAccessKey}`)).findings[0]?.type).toBe('honeytoken');
    expect((await scanner.scan(`https://api.x.io/v1?key=${api.value}&q=1`)).findings[0]?.type).toBe('honeytoken');
  });

  it('a canary inside a base64 blob is found, and the whole blob is the span', async () => {
    const blob = Buffer.from(`{"token":"${api.value}","user":"x"}`).toString('base64');
    const r = await scanner.scan(`payload=${blob}`);
    expect(r.findings[0]).toMatchObject({ type: 'honeytoken', span: { start: 8, end: 8 + blob.length } });
  });

  it('the default policy blocks on a honeytoken', async () => {
    const input = { text: `key ${api.value}` };
    const r = await scanner.scan(input);
    expect(scanner.apply(input, r.findings).blocked).toBe(true);
  });

  it('an unregistered canary made with the same key is recognised by its HMAC; another key\'s is not', async () => {
    const restarted = new HoneytokenSet(key); // registry lost, key kept
    const other = new HoneytokenSet(randomBytes(32));
    expect(restarted.isCanary(aws.accessKeyId)).toBe(true);
    expect(restarted.isCanary(api.value)).toBe(true);
    expect(other.isCanary(aws.accessKeyId)).toBe(false);
    expect(restarted.match(`x ${api.value} y`)).toHaveLength(1);
    // One changed character breaks the MAC.
    const tampered = aws.accessKeyId.slice(0, 19) + (aws.accessKeyId.endsWith('A') ? 'B' : 'A');
    expect(restarted.isCanary(tampered)).toBe(false);
  });

  it('near misses are not honeytokens', async () => {
    const near = `${aws.accessKeyId.slice(0, 19)}${aws.accessKeyId.endsWith('Q') ? 'R' : 'Q'}`;
    expect(set.match(`key ${near}`)).toEqual([]);
    expect(set.match(`x${api.value}`)).toEqual([]); // glued to a longer token: not this canary
  });

  it('custom values can be registered; malformed ones are refused', () => {
    const s = new HoneytokenSet(randomBytes(32));
    s.register('canary-db-password-8f2k1q', { label: 'db' });
    expect(s.match('pw=canary-db-password-8f2k1q;')[0]?.record?.label).toBe('db');
    expect(() => s.register('short')).toThrow();
    expect(() => s.register('has space in it!!')).toThrow();
    expect(() => new HoneytokenSet(randomBytes(16))).toThrow(/32 bytes/);
  });

  it('matching stays linear on floods of look-alikes (bounded HMAC work)', () => {
    const s = new HoneytokenSet(randomBytes(32));
    const flood = Array.from({ length: 50_000 }, (_, i) => `AKIA${String(i).padStart(16, 'A').replace(/\d/g, 'B')}`).join(' ');
    expect(s.match(flood)).toEqual([]);
    expect(s.match('AKIA'.repeat(500_000))).toEqual([]);
  });
});

interface Sample {
  text: string;
  label: 'sensitive' | 'clean';
  type: string;
  split: 'dev' | 'test';
}

describe('dlp: labelled evaluation set', () => {
  const samples = readFileSync(new URL('../fixtures/firewall/dlp/eval.jsonl', import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Sample);

  it('has 300+ samples with hard negatives and a held-out test split', () => {
    expect(samples.length).toBeGreaterThanOrEqual(300);
    const test = samples.filter((s) => s.split === 'test');
    expect(test.length).toBeGreaterThanOrEqual(100);
    expect(new Set(samples.filter((s) => s.label === 'clean').map((s) => s.type))).toEqual(
      new Set(['hash', 'uuid', 'luhn_failing_number', 'placeholder', 'public_key', 'version', 'date', 'order_number', 'base64_image', 'invalid_ssn', 'invalid_iban', 'example_email', 'ip_and_numbers', 'prose', 'code', 'json_log', 'documented_example', 'not_personal_email', 'not_phone', 'password_prose']),
    );
  });

  it('meets recall >= 95% at precision >= 97% on the test split', async () => {
    const scanner = createDlpScanner();
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const s of samples.filter((x) => x.split === 'test')) {
      const flagged = (await scanner.scan(s.text)).findings.length > 0;
      if (s.label === 'sensitive' && flagged) tp++;
      else if (s.label === 'sensitive') fn++;
      else if (flagged) fp++;
    }
    expect(tp / (tp + fn)).toBeGreaterThanOrEqual(0.95);
    expect(tp / (tp + fp)).toBeGreaterThanOrEqual(0.97);
  });
});
