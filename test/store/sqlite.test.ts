import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { runStoreConformance, type StoreHarness } from './conformance.js';

function sqliteHarness(): StoreHarness {
  const dir = mkdtempSync(join(tmpdir(), 'warden-store-'));
  const path = join(dir, 'warden.db');
  return {
    openOptions: { driver: 'sqlite', path },
    async exec(sql) {
      const db = new Database(path);
      try {
        db.pragma('busy_timeout = 10000');
        db.exec(sql);
      } finally {
        db.close();
      }
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runStoreConformance('sqlite', async () => sqliteHarness());

describe('SqliteStore on disk', () => {
  it('uses WAL and leaves no destroyed data key bytes in the database or WAL file', async () => {
    const h = sqliteHarness();
    const { path } = h.openOptions as { path: string };
    try {
      const store = await openStore(h.openOptions);
      await store.createTenant({ name: 't', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
      // Several keys on one page: a single-row page is rewritten whole and would pass even
      // without secure_delete; with neighbours, freed cells keep their bytes unless zeroed.
      const secrets = Array.from({ length: 10 }, () => randomBytes(200));
      for (const [i, wrapped_key] of secrets.entries()) {
        await store.putDataKey({ tenant: 't', id: `k${i}`, wrapped_key, created_at: '2025-01-01T00:00:00Z', destroyed_at: null });
      }
      // Move the keys into the main file first, so the test covers secure_delete, not just the WAL.
      await h.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      const onDisk = () => {
        const files = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f));
        return secrets.filter((k) => files.some((b) => b.includes(k))).length;
      };
      expect(onDisk()).toBe(10); // the probe can see the keys
      expect(await store.destroyDataKeys('t', '2025-02-02T00:00:00Z')).toBe(10);
      expect(onDisk()).toBe(0);
      await store.close();
      expect(onDisk()).toBe(0);
      const db = new Database(path, { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
    } finally {
      await h.dispose();
    }
  });

  it('wraps driver errors in StoreError', async () => {
    const err = await openStore({ driver: 'sqlite', path: join(tmpdir(), `missing-${randomBytes(6).toString('hex')}`, 'x.db') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StoreError', code: 'STORE_ERROR' });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});
