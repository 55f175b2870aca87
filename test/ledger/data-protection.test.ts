import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogVerifier } from '../../src/ledger/verify/log.js';
import { drivers, exportLines, PG_URL, tempWarden, trustOf, type TempWarden } from '../helpers/warden.js';

const SECRET_CARD = 'CARD-4111111111111111-PLAINTEXT-MARKER';
const SECRET_SSN = 'SSN-078-05-1120-PLAINTEXT-MARKER';

/** Every byte the store has on disk (SQLite file, WAL, SHM) or in a pg_dump of its schema. */
function rawStoreBytes(t: TempWarden): Buffer {
  if (!t.schema) {
    return Buffer.concat(readdirSync(t.dir).filter((f) => f.startsWith('warden.db')).map((f) => readFileSync(join(t.dir, f))));
  }
  return execFileSync('pg_dump', ['--dbname', PG_URL as string, '--schema', t.schema, '--data-only']);
}

async function appendSensitive(t: TempWarden): Promise<string[]> {
  const rs = await t.w.ledger.append('default', [
    { kind: 'decision', action: 'payment.create', decision: 'allow', payload: { card: SECRET_CARD, amount: 12, who: { ssn: SECRET_SSN } }, sensitive: ['card', 'who.ssn'] },
    { kind: 'decision', action: 'payment.create', decision: 'allow', payload: { card: SECRET_CARD } },
  ]);
  return rs.map((r) => r.id);
}

for (const driver of drivers()) {
  describe(`data protection on ${driver}`, () => {
    let t: TempWarden;
    afterEach(async () => {
      await t?.cleanup();
    });

    it('stores marked and configured sensitive fields only as ciphertext, and reveals them with the key', async () => {
      t = await tempWarden(driver, 'ledger:\n  sensitive_fields: [card]\n');
      const ids = await appendSensitive(t);
      await t.w.checkpointer.checkpoint('default');
      const raw = rawStoreBytes(t);
      expect(raw.length).toBeGreaterThan(1000);
      expect(raw.includes(SECRET_CARD)).toBe(false);
      expect(raw.includes(SECRET_SSN)).toBe(false);
      // Sanity: the scan does see non-sensitive payload text.
      expect(raw.includes('payment.create')).toBe(true);

      const lines = await exportLines(t.w);
      const r = JSON.parse(lines[3] as string) as { id: string; payload: Record<string, never> };
      expect(r.id).toBe(ids[0]);
      expect(JSON.stringify(r.payload)).not.toContain(SECRET_CARD);
      const revealed = await t.w.protector.reveal('default', r.id, r.payload);
      expect(revealed).toEqual({ card: SECRET_CARD, amount: 12, who: { ssn: SECRET_SSN } });
    });

    it('a ciphertext moved to another receipt does not decrypt (AAD binds tenant and receipt id)', async () => {
      t = await tempWarden(driver, 'ledger:\n  sensitive_fields: [card]\n');
      await appendSensitive(t);
      type Row = { id: string; payload: { card: never } };
      const lines = (await exportLines(t.w)).map((l) => JSON.parse(l) as Row);
      const [a, b] = [lines[3] as Row, lines[4] as Row];
      await expect(t.w.protector.reveal('default', b.id, { card: a.payload.card })).rejects.toThrow(
        /decryption failed/,
      );
    });

    it('crypto-shredding leaves the log verifiable and the payloads unreadable', async () => {
      t = await tempWarden(driver, 'ledger:\n  sensitive_fields: [card]\n');
      await appendSensitive(t);
      const destroyed = await t.w.protector.shred('default');
      expect(destroyed).toBe(1);
      const cp = await t.w.checkpointer.checkpoint('default');
      const lines = await exportLines(t.w);
      const v = new LogVerifier(await trustOf(t.w), cp.note);
      lines.forEach((l) => v.push(l));
      expect(v.finish().entries).toBe(5);
      const r = JSON.parse(lines[3] as string) as { id: string; payload: Record<string, never> };
      // A fresh instance has nothing cached: the key is gone for good.
      const other = await t.reopen();
      expect(await other.protector.reveal('default', r.id, r.payload)).toEqual({ card: { $shredded: true }, amount: 12, who: { ssn: { $shredded: true } } });
      // New receipts get a new data key — also in the first instance, whose cached key was shredded.
      await other.ledger.append('default', [{ action: 'x', payload: { card: 'new' } }]);
      const [fresh] = await t.w.ledger.append('default', [{ action: 'x', payload: { card: 'newer' } }]);
      const dk = (fresh?.payload.card as { dk: string }).dk;
      expect((await t.w.store.listDataKeys('default')).find((k) => k.id === dk)?.wrapped_key).not.toBeNull();
      expect((await other.store.listDataKeys('default')).filter((k) => k.wrapped_key).length).toBe(1);
    });

    it('with data protection off, sensitive fields are replaced by their hash, never stored in clear', async () => {
      t = await tempWarden(driver, 'ledger:\n  data_protection: false\n  sensitive_fields: [card]\n');
      await appendSensitive(t);
      const lines = await exportLines(t.w);
      const r = JSON.parse(lines[3] as string) as { payload: { card: unknown } };
      expect(r.payload.card).toEqual({ $redacted: true });
      expect(rawStoreBytes(t).includes(SECRET_CARD.slice(0, 20))).toBe(false);
    });
  });
}

describe('sensitive paths that cannot be honoured are refused, never stored in clear', () => {
  it('rejects a named path that is missing, or one that runs through an array', async () => {
    const t = await tempWarden('sqlite', 'ledger:\n  sensitive_fields: [card]\n');
    try {
      const before = (await t.w.store.head('default')).size;
      await expect(t.w.ledger.append('default', [{ action: 'a', payload: { 'user.email': 'x@y' }, sensitive: ['user.email'] }])).rejects.toThrow(/not in the payload/);
      await expect(t.w.ledger.append('default', [{ action: 'a', payload: { items: [{ ssn: '078-05-1120' }] }, sensitive: ['items.0.ssn'] }])).rejects.toThrow(/runs through an array/);
      await expect(t.w.ledger.append('default', [{ action: 'a', payload: { card: ['4111'] } }])).resolves.toHaveLength(1);
      await expect(t.w.ledger.append('default', [{ action: 'a', payload: { card: 'x' }, sensitive: ['card.number'] }])).rejects.toThrow(/non-object/);
      expect((await t.w.store.head('default')).size).toBe(before + 1);
    } finally {
      await t.cleanup();
    }
  });
});
