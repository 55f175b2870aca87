import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jcs } from '../../src/crypto/jcs.js';
import { BadInputError, VerificationError } from '../../src/errors.js';
import { proveReceipt } from '../../src/ledger/proofs.js';
import { LogVerifier } from '../../src/ledger/verify/log.js';
import { verifyLogParallel } from '../../src/ledger/verify/parallel.js';
import { verifyTlogProof } from '../../src/ledger/verify/proof.js';
import { parseTrustBundle, type Trust, type TrustBundle } from '../../src/ledger/verify/trust.js';
import { buildTrustBundle } from '../../src/ledger/trust.js';
import { event, exportLines, tempWarden, trustOf, type TempWarden } from '../helpers/warden.js';

let t: TempWarden;
let lines: string[];
let trust: Trust;
let bundle: TrustBundle;
let note: string;
let earlyNote: string;

beforeAll(async () => {
  t = await tempWarden('sqlite');
  await t.w.ledger.append('default', Array.from({ length: 10 }, (_, i) => event(i)));
  earlyNote = (await t.w.checkpointer.checkpoint('default')).note; // size 13
  await t.w.keys.rotate('default', 'receipt');
  await t.w.ledger.append('default', Array.from({ length: 20 }, (_, i) => event(100 + i)));
  note = (await t.w.checkpointer.checkpoint('default')).note;
  lines = await exportLines(t.w);
  bundle = await buildTrustBundle(t.w.store, 'default');
  trust = await trustOf(t.w);
});
afterAll(async () => {
  await t.cleanup();
});

function verifySeq(ls: string[], tr: Trust = trust, cp?: string): number {
  const v = new LogVerifier(tr, cp);
  for (const l of ls) v.push(l);
  return v.finish().entries;
}

/** The seq named by the first failure, for sequential and parallel verification alike. */
async function firstFailure(ls: string[], tr: Trust = trust, cp?: string): Promise<{ seq: number | undefined; message: string }> {
  let seqErr: VerificationError | undefined;
  try {
    verifySeq(ls, tr, cp);
  } catch (e) {
    seqErr = e as VerificationError;
  }
  let parErr: VerificationError | undefined;
  try {
    await verifyLogParallel(ls, tr, { workers: 2, ...(cp ? { checkpoint: cp } : {}) });
  } catch (e) {
    parErr = e as VerificationError;
  }
  expect(seqErr, 'sequential verifier must reject').toBeInstanceOf(VerificationError);
  expect(parErr, 'parallel verifier must reject').toBeInstanceOf(VerificationError);
  expect(parErr?.seq).toBe(seqErr?.seq);
  return { seq: seqErr?.seq, message: seqErr?.message ?? '' };
}

function edit(i: number, fn: (r: Record<string, unknown>) => void): string[] {
  const copy = [...lines];
  const r = JSON.parse(copy[i] as string) as Record<string, unknown>;
  fn(r);
  copy[i] = jcs(r);
  return copy;
}

describe('offline verifier', () => {
  it('accepts the untouched log, with and without checkpoints, sequentially and in parallel', async () => {
    expect(verifySeq(lines, trust, note)).toBe(lines.length);
    expect(verifySeq(lines, trust, earlyNote)).toBe(lines.length);
    expect((await verifyLogParallel(lines, trust, { checkpoint: note, workers: 2 })).entries).toBe(lines.length);
  });

  it('names the first failing seq for each kind of tampering', async () => {
    expect(await firstFailure(edit(7, (r) => ((r.payload as Record<string, unknown>).i = 999)))).toMatchObject({ seq: 7, message: expect.stringMatching(/signature does not verify/) });
    expect(await firstFailure(edit(5, (r) => (r.decision = r.decision === 'allow' ? 'deny' : 'allow')))).toMatchObject({ seq: 5 });
    expect(await firstFailure([...lines.slice(0, 4), ...lines.slice(5)])).toMatchObject({ seq: 4, message: expect.stringMatching(/seq is 5, expected 4/) });
    const swapped = [...lines];
    [swapped[8], swapped[9]] = [swapped[9] as string, swapped[8] as string];
    expect(await firstFailure(swapped)).toMatchObject({ seq: 8 });
    expect(await firstFailure([...lines.slice(0, 6), lines[5] as string, ...lines.slice(6)])).toMatchObject({ seq: 6 });
    // Re-signing is impossible without the key, but re-chaining an edited entry is caught by sig.
    expect(await firstFailure(edit(3, (r) => (r.prev = '0'.repeat(64))))).toMatchObject({ seq: 3 });
    // A non-canonical encoding of the same object.
    const spaced = [...lines];
    spaced[2] = JSON.stringify(JSON.parse(spaced[2] as string), null, 1).replace(/\n/g, '');
    expect(await firstFailure(spaced)).toMatchObject({ seq: 2, message: expect.stringMatching(/canonical/) });
    expect(await firstFailure(edit(4, (r) => (r.sig = { ...(r.sig as object), kid: 'rk_unknown' })))).toMatchObject({ seq: 4, message: expect.stringMatching(/unknown kid/) });
    expect(await firstFailure(edit(4, (r) => (r.extra = 1)))).toMatchObject({ seq: 4, message: expect.stringMatching(/unexpected field/) });
    expect(await firstFailure(edit(4, (r) => (r.tenant = 'other')))).toMatchObject({ seq: 4 });
    const garbled = [...lines];
    garbled[9] = (garbled[9] as string).slice(0, 50);
    expect(await firstFailure(garbled)).toMatchObject({ seq: 9, message: expect.stringMatching(/not valid JSON/) });
  });

  it('detects a signature moved from another receipt, and a receipt from another tenant', async () => {
    const moved = edit(6, (r) => (r.sig = (JSON.parse(lines[5] as string) as Record<string, unknown>).sig));
    expect((await firstFailure(moved)).seq).toBe(6);
  });

  it('rejects a checkpoint with another root, another origin or more entries than the file', async () => {
    const forgedRoot = note.replace(/\n([A-Za-z0-9+/=]{44})\n/, '\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
    expect(() => verifySeq(lines, trust, forgedRoot)).toThrow(VerificationError);
    const otherOrigin = parseTrustBundle({ ...bundle, origin: 'elsewhere.example/log/default' });
    expect(() => verifySeq(lines, otherOrigin, note)).toThrow(/origin/);
    expect(() => verifySeq(lines.slice(0, 20), trust, note)).toThrow(/checkpoint covers 34 entries but the file has only 20/);
  });

  it('key windows: a receipt signed outside its key window fails', async () => {
    const shifted = parseTrustBundle({ ...bundle, keys: bundle.keys.map((k) => ({ ...k, not_before: '2099-01-01T00:00:00.000Z' })) });
    expect((await firstFailure(lines, shifted)).message).toMatch(/seq 0: key .* not yet valid/);
    const closed = parseTrustBundle({ ...bundle, keys: bundle.keys.map((k) => ({ ...k, not_after: k.not_before })) });
    const f = await firstFailure(lines, closed);
    expect(f.message).toMatch(/no longer valid/);
  });

  it('treats a malformed trust bundle as unusable input, naming what is wrong', () => {
    expect(() => parseTrustBundle({ ...bundle, keys: [{ ...bundle.keys[0], alg: 'ES256' }] })).toThrow(BadInputError);
    expect(() => parseTrustBundle({ ...bundle, keys: [{ ...bundle.keys[0], alg: 'ES256' }] })).toThrow(/only Ed25519/);
    expect(() => parseTrustBundle({ ...bundle, keys: [{ ...bundle.keys[0], public_key: 'AAAA' }] })).toThrow(/32-byte/);
    expect(() => parseTrustBundle({ ...bundle, note_keys: ['nonsense'] })).toThrow(BadInputError);
    expect(() => parseTrustBundle({ ...bundle, v: 2 })).toThrow(/version/);
    expect(() => parseTrustBundle([])).toThrow(/object/);
  });

  it('verifies tlog-proofs offline and rejects tampered or mismatched ones', async () => {
    for (const seq of [0, 11, 33]) {
      const proof = await proveReceipt(t.w.store, t.w.checkpointer, 'default', seq);
      expect(verifyTlogProof(proof, trust)).toMatchObject({ index: seq, treeSize: 34 });
    }
    const proof = await proveReceipt(t.w.store, t.w.checkpointer, 'default', 5);
    // The same path against a checkpoint for another tree size.
    const otherSize = proof.slice(0, proof.indexOf('\n\n') + 2) + earlyNote;
    expect(() => verifyTlogProof(otherSize, trust)).toThrow(/inclusion proof does not verify/);
    // Another receipt's body in `extra`.
    const [, extraLine] = proof.split('\n');
    const swappedExtra = proof.replace(extraLine as string, `extra ${Buffer.from(lines[6] as string).toString('base64')}`);
    expect(() => verifyTlogProof(swappedExtra, trust)).toThrow(VerificationError);
    expect(() => verifyTlogProof(proof.replace('index 5', 'index 4'), trust)).toThrow(VerificationError);
    expect(() => verifyTlogProof('garbage', trust)).toThrow(BadInputError);
  });
});

describe('receipt statement splicing', () => {
  it('is byte-identical to canonicalising the whole receipt', async () => {
    const { prepareStatement, statementOf, sealStatement } = await import('../../src/ledger/receipt.js');
    const { generateEd25519 } = await import('../../src/crypto/ed25519.js');
    const fields = {
      id: 'rcpt_x', kind: 'decision', correlation_id: null, actor: { human: 'h', agent: null, service: 's' },
      action: 'a', resource: null, decision: 'deny', reasons: ['r1', 'ü'], policy_version: 'p',
      payload: { z: 1, a: [{ y: 'é', b: null }], '\u00e9': true, '😀': 'x' },
    };
    const at = { prev: 'ab'.repeat(32), seq: 41, tenant: 'acme-1', ts: '2026-11-22T16:00:00.123Z' };
    expect(statementOf(prepareStatement(fields), at.prev, at.seq, at.tenant, at.ts)).toBe(jcs({ ...fields, ...at, v: 1 }));
    const key = generateEd25519();
    const sealed = sealStatement(prepareStatement(fields), at, { kid: 'rk_1', privateKey: key.privateKey });
    expect(sealed.leaf).toBe(jcs({ ...fields, ...at, v: 1, sig: sealed.sig }));
  });
});

describe('timestamps', () => {
  it('parses RFC 3339 strictly and rounds sub-millisecond bounds against the attacker', async () => {
    const { parseRfc3339, parseReceiptTs } = await import('../../src/ledger/verify/trust.js');
    expect(parseRfc3339('2026-11-22T16:00:00.123Z')).toBe(Date.parse('2026-11-22T16:00:00.123Z'));
    expect(parseRfc3339('2026-11-22T17:30:00+01:30')).toBe(Date.parse('2026-11-22T16:00:00Z'));
    expect(parseRfc3339('2026-11-22t16:00:00z')).toBe(Date.parse('2026-11-22T16:00:00Z'));
    expect(parseRfc3339('2026-11-22T16:00:00.3015Z', 'ceil')).toBe(Date.parse('2026-11-22T16:00:00.302Z'));
    expect(parseRfc3339('2026-11-22T16:00:00.3015Z', 'floor')).toBe(Date.parse('2026-11-22T16:00:00.301Z'));
    for (const bad of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00', 'yesterday']) {
      expect(parseRfc3339(bad), bad).toBeUndefined();
    }
    expect(parseReceiptTs('2026-11-22T16:00:00.123Z')).toBeDefined();
    expect(parseReceiptTs('2026-11-22T16:00:00Z')).toBeUndefined();
    expect(parseReceiptTs('2026-11-22T16:00:00.123+00:00')).toBeUndefined();
  });

  it('a not_before a fraction of a millisecond after the receipt fails it (fail closed)', () => {
    const r = JSON.parse(lines[0] as string) as { ts: string; sig: { kid: string } };
    const keys = bundle.keys.map((k) => (k.kid === r.sig.kid ? { ...k, not_before: r.ts.replace('Z', '5Z') } : k));
    const shifted = parseTrustBundle({ ...bundle, keys });
    expect(() => verifySeq(lines, shifted)).toThrow(/seq 0: key .* not yet valid/);
  });

  it('an empty line in the middle of an export is a failure at that seq', () => {
    expect(() => verifySeq([...lines.slice(0, 3), '', ...lines.slice(3)])).toThrow(/seq 3: empty line/);
  });
});
