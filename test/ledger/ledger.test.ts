import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogVerifier } from '../../src/ledger/verify/log.js';
import { verifyEntry } from '../../src/ledger/verify/entry.js';
import { Checkpointer } from '../../src/ledger/checkpointer.js';
import { drivers, event, exportLines, tempWarden, trustOf, type TempWarden } from '../helpers/warden.js';

function verifyAll(lines: string[], trust: Awaited<ReturnType<typeof trustOf>>, note?: string): number {
  const v = new LogVerifier(trust, note);
  for (const l of lines) v.push(l);
  return v.finish().entries;
}

for (const driver of drivers()) {
  describe(`ledger on ${driver}`, () => {
    let t: TempWarden;
    afterEach(async () => {
      await t?.cleanup();
    });

    it('records key creation as the first receipts and chains every append', async () => {
      t = await tempWarden(driver);
      const first = await t.w.ledger.append('default', [event(1)]);
      expect(first[0]?.seq).toBe(3); // seq 0-2: key.create receipts for the receipt, note and passport keys
      const lines = await exportLines(t.w);
      const created = lines.slice(0, 3).map((l) => JSON.parse(l) as { kind: string; action: string });
      expect(created.every((r) => r.kind === 'key' && r.action === 'key.create')).toBe(true);
      expect(verifyAll(lines, await trustOf(t.w))).toBe(4);
    });

    it('groups appends with state changes; a failed conditional change fails only its own caller', async () => {
      t = await tempWarden(driver);
      const now = new Date().toISOString();
      const rec = (id: string, state: string) => ({ tenant: 'default', kind: 'test_state', id, state, created_at: now, updated_at: now, body: '{}' });
      await t.w.ledger.append('default', [event(0)], { mutations: [{ op: 'putRecord', record: rec('a', 'open') }] });
      // Appends carrying state changes share transactions (one fsync for many).
      const spy = vi.spyOn(t.w.store, 'append');
      await Promise.all(Array.from({ length: 20 }, (_, i) => t.w.ledger.append('default', [event(i + 100)], { mutations: [{ op: 'putRecord', record: rec(`g${i}`, 'open') }] })));
      expect(spy.mock.calls.length).toBeLessThan(20);
      const calls = [
        ...Array.from({ length: 10 }, (_, i) => t.w.ledger.append('default', [event(i + 1)], { mutations: [{ op: 'putRecord', record: rec(`r${i}`, 'open') }] })),
        // Expects a state the record is not in: this caller alone must fail.
        t.w.ledger.append('default', [event(99)], { mutations: [{ op: 'putRecord', record: rec('a', 'closed'), expectState: 'closed' }] }),
        ...Array.from({ length: 10 }, (_, i) => t.w.ledger.append('default', [event(i + 20)])),
      ];
      const settled = await Promise.allSettled(calls);
      expect(settled.filter((r) => r.status === 'rejected').length).toBe(1);
      expect((settled[10] as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' });
      expect((await t.w.store.getRecord('default', 'test_state', 'a'))?.state).toBe('open');
      for (let i = 0; i < 10; i++) expect((await t.w.store.getRecord('default', 'test_state', `r${i}`))?.state).toBe('open');
      // 40 appends committed; the chain has no gap and verifies.
      const lines = await exportLines(t.w);
      expect(verifyAll(lines, await trustOf(t.w))).toBe(lines.length);
      expect(lines.length).toBe(3 + 1 + 20 + 20);
    });

    it('never forks, skips or reuses a seq under concurrent appends, and groups commits', async () => {
      t = await tempWarden(driver);
      const spy = vi.spyOn(t.w.store, 'append');
      const calls = Array.from({ length: 40 }, (_, c) => t.w.ledger.append('default', Array.from({ length: 10 }, (_, i) => event(c * 10 + i))));
      const results = await Promise.all(calls);
      const seqs = results.flat().map((r) => r.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 3));
      // Group commit: far fewer transactions than append calls.
      expect(spy.mock.calls.length).toBeLessThan(40);
      // Each call's receipts are contiguous (one call = one all-or-nothing unit).
      for (const r of results) expect(r.map((x) => x.seq)).toEqual(r.map((_, i) => (r[0]?.seq as number) + i));
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBe(403);
    });

    it('presigned batches stay correct when another writer moves the head between them', async () => {
      t = await tempWarden(driver);
      const other = await t.reopen();
      // Large batches take the presigning path; two writers make its predictions go stale.
      const work = (w: typeof t.w, base: number) =>
        Array.from({ length: 12 }, (_, c) => w.ledger.append('default', Array.from({ length: 50 }, (_, i) => event(base + c * 50 + i))));
      const all = await Promise.all([...work(t.w, 0), ...work(other, 10_000)]);
      const seqs = all.flat().map((r) => r.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 1200 }, (_, i) => i + 3));
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBe(1203);
    });

    it('reserves the key and data kinds for Warden itself', async () => {
      t = await tempWarden(driver);
      const before = (await t.w.store.head('default')).size;
      await expect(t.w.ledger.append('default', [{ kind: 'key', action: 'key.revoke', payload: { kid: 'rk_x' } }])).rejects.toThrow(/reserved/);
      await expect(t.w.ledger.append('default', [event(1), { kind: 'data', action: 'data.shred' }])).rejects.toThrow(/entry 2: kind "data" is reserved/);
      expect((await t.w.store.head('default')).size).toBe(before);
    });

    it('a revocation can move earlier but never later', async () => {
      t = await tempWarden(driver);
      const kid = (await t.w.keyring.load('default')).active('receipt').kid;
      await t.w.keys.revoke('default', kid);
      const at = (await t.w.store.getKey('default', kid))?.revoked_at as string;
      await expect(t.w.keys.revoke('default', kid, new Date(Date.parse(at) + 0).toISOString())).rejects.toThrow(/only move earlier/);
      const earlier = new Date(Date.parse(at) - 60_000).toISOString();
      const r = await t.w.keys.revoke('default', kid, earlier);
      expect(r.payload).toMatchObject({ kid, revoked_at: earlier, previous_revoked_at: at });
      expect((await t.w.store.getKey('default', kid))?.revoked_at).toBe(earlier);
    });

    it('a batch with one bad entry changes nothing', async () => {
      t = await tempWarden(driver);
      const before = await t.w.store.head('default');
      await expect(t.w.ledger.append('default', [event(1), { ...event(2), payload: { big: 2 ** 60 } }])).rejects.toThrow(
        /entry 2: payload\.big: number beyond 2\^53/,
      );
      await expect(t.w.ledger.append('default', [event(1), { action: 5 }])).rejects.toThrow(/entry 2: action/);
      expect((await t.w.store.head('default')).size).toBe(before.size);
    });

    it('signs a checkpoint covering every acknowledged receipt soon after the append', async () => {
      t = await tempWarden(driver);
      await t.w.ledger.append('default', [event(1), event(2)]);
      const head = await t.w.store.head('default');
      await vi.waitFor(async () => {
        const cp = await t.w.store.latestCheckpoint('default');
        expect(cp?.size).toBe(head.size);
      }, { timeout: 5000, interval: 20 });
      const cp = await t.w.store.latestCheckpoint('default');
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w), cp?.note)).toBe(head.size);
    });

    it('refuses to sign when the stored log no longer matches its signed history', async () => {
      t = await tempWarden(driver);
      await t.w.ledger.append('default', [event(1), event(2), event(3)]);
      const cp = await t.w.checkpointer.checkpoint('default');
      expect(cp.size).toBe(6);
      // A fresh checkpointer (another process) sees a store whose leaf 3 was rewritten.
      const forged = { ...t.w.store };
      const real = t.w.store.getLeafHashes.bind(t.w.store);
      const fake = Object.assign(Object.create(Object.getPrototypeOf(t.w.store) as object) as object, forged, {
        head: t.w.store.head.bind(t.w.store),
        latestCheckpoint: t.w.store.latestCheckpoint.bind(t.w.store),
        getLeafHashes: async (tenant: string, from: number, to: number) => {
          const hs = await real(tenant, from, to);
          if (from <= 3 && to > 3) hs[3 - from] = Buffer.alloc(32, 9);
          return hs;
        },
      }) as typeof t.w.store;
      const other = new Checkpointer(fake, t.w.keyring, 100);
      await t.w.ledger.append('default', [event(4)]);
      await expect(other.checkpoint('default')).rejects.toThrow(/does not match its signed checkpoint/);
    });

    it('rotates keys: old receipts keep verifying, the change is signed by the outgoing key', async () => {
      t = await tempWarden(driver);
      const before = await t.w.keyring.load('default');
      const oldKid = before.active('receipt').kid;
      await t.w.ledger.append('default', [event(1)]);
      const rot = await t.w.keys.rotate('default', 'receipt');
      expect(rot.sig.kid).toBe(oldKid);
      const [after] = await t.w.ledger.append('default', [event(2)]);
      expect(after?.sig.kid).not.toBe(oldKid);
      const keys = await t.w.store.listKeys('default', 'receipt');
      expect(keys.find((k) => k.kid === oldKid)?.state).toBe('retiring');
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBe(6);
    });

    it('a rotation racing with appends never leaves a receipt outside its key window', async () => {
      t = await tempWarden(driver);
      const other = await t.reopen();
      const appends = Array.from({ length: 40 }, (_, i) => (i % 2 ? other : t.w).ledger.append('default', [event(i)]));
      const rotations = [t.w.keys.rotate('default', 'receipt'), new Promise((r) => setTimeout(r, 3)).then(() => t.w.keys.rotate('default', 'receipt', { emergency: true }).catch(() => undefined))];
      await Promise.all([...appends, ...rotations]);
      await t.w.ledger.append('default', [event(99)]);
      const lines = await exportLines(t.w);
      expect(verifyAll(lines, await trustOf(t.w))).toBe(lines.length);
    });

    it('revoking a key that is no longer active does not revoke its successor', async () => {
      t = await tempWarden(driver);
      const kid = (await t.w.keyring.load('default')).active('receipt').kid;
      await t.w.keys.rotate('default', 'receipt');
      await expect(t.w.keys.rotate('default', 'receipt', { emergency: true, expectKid: kid })).rejects.toThrow(/no longer the active receipt key/);
      const successor = (await t.w.keyring.load('default', { refresh: true })).active('receipt');
      expect(successor.record.state).toBe('active');
    });

    it('emergency rotation revokes the old key and signs the change with the new key', async () => {
      t = await tempWarden(driver);
      const oldKid = (await t.w.keyring.load('default')).active('receipt').kid;
      await t.w.ledger.append('default', [event(1)]);
      const rot = await t.w.keys.rotate('default', 'receipt', { emergency: true });
      expect(rot.sig.kid).not.toBe(oldKid);
      expect((await t.w.store.getKey('default', oldKid))?.state).toBe('revoked');
      await t.w.ledger.append('default', [event(2)]);
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBe(6);
    });

    it("a revoked key's signatures after its revocation time fail verification at the first such seq", async () => {
      t = await tempWarden(driver);
      const kid = (await t.w.keyring.load('default')).active('receipt').kid;
      await t.w.ledger.append('default', [event(1)]);
      await new Promise((r) => setTimeout(r, 5));
      const cut = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      await t.w.ledger.append('default', [event(2), event(3)]); // seq 4, 5: signed after `cut`
      await t.w.keys.revoke('default', kid, cut, 'key leaked');
      const lines = await exportLines(t.w);
      const trust = await trustOf(t.w);
      expect(() => verifyAll(lines, trust)).toThrow(/seq 4: key .* was revoked/);
      // Everything before the revocation time still verifies.
      expect(verifyAll(lines.slice(0, 4), await trustOf(t.w))).toBe(4);
    });

    it('a second instance with a stale keyring notices a rotation and signs with the new key', async () => {
      t = await tempWarden(driver);
      const other = await t.reopen();
      await other.ledger.append('default', [event(1)]); // caches the current keys
      await t.w.keys.rotate('default', 'receipt');
      const [r] = await other.ledger.append('default', [event(2)]);
      expect(r?.sig.kid).toBe((await t.w.keyring.load('default')).active('receipt').kid);
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBe(6);
    });

    it('scheduled housekeeping retires keys after the grace period and rotates old keys', async () => {
      t = await tempWarden(driver);
      await t.w.keys.rotate('default', 'receipt');
      const written = await t.w.keys.tick('default', 10 * 86_400_000, 0);
      expect(written.map((r) => r.action)).toEqual(['key.retire']);
      const rotated = await t.w.keys.tick('default', 0, 3_600_000);
      expect(rotated.map((r) => r.action)).toEqual(['key.rotate', 'key.rotate', 'key.rotate']); // receipt, note, passport
      expect(verifyAll(await exportLines(t.w), await trustOf(t.w))).toBeGreaterThan(4);
    });

    it('fails closed when a private key cannot be unwrapped', async () => {
      t = await tempWarden(driver);
      t.w.keyring.invalidate('default');
      vi.spyOn(t.w.masterKey, 'unwrap').mockRejectedValue(new Error('KMS unreachable'));
      const before = (await t.w.store.head('default')).size;
      await expect(t.w.ledger.append('default', [event(1)])).rejects.toThrow(/cannot unseal key .* with the master key/);
      expect((await t.w.store.head('default')).size).toBe(before);
    });

    it('every receipt line verifies on its own against the trust bundle', async () => {
      t = await tempWarden(driver);
      const rs = await t.w.ledger.append('default', [event(1), event(2)]);
      const lines = await exportLines(t.w);
      const trust = await trustOf(t.w);
      for (const r of rs) expect(verifyEntry(lines[r.seq] as string, trust, r.seq).receipt.id).toBe(r.id);
    });
  });
}
