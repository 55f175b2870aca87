import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { quoteIdent } from '../../src/store/postgres/postgres-store.js';
import { chainedRows } from './chain.js';
import { runStoreConformance, type StoreHarness } from './conformance.js';

const url = process.env.WARDEN_TEST_PG_URL;
if (!url) {
  console.warn(
    'PostgreSQL store tests SKIPPED: WARDEN_TEST_PG_URL is not set ' +
      '(e.g. WARDEN_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test npx vitest run test/store).',
  );
}

async function sql(text: string, schema?: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A fresh random schema per test, dropped afterwards, so runs never see each other's rows. */
function pgHarness(schema = `warden_test_${randomBytes(6).toString('hex')}`): StoreHarness {
  return {
    openOptions: { driver: 'postgres', url: url ?? '', schema },
    exec: (text) => sql(`SET search_path TO ${quoteIdent(schema)}; ${text}`),
    dispose: () => sql(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`),
  };
}

describe.skipIf(!url)('PostgresStore', () => {
  runStoreConformance('postgres', async () => pgHarness());

  it('creates and uses an awkwardly named schema, never public', async () => {
    const schema = `Warden "test" ${randomBytes(4).toString('hex')}`;
    const h = pgHarness(schema);
    try {
      const store = await openStore(h.openOptions);
      await store.createTenant({ name: 't', origin: 'o', created_at: '2025-01-01T00:00:00Z' });
      await store.append('t', (head) => ({ rows: chainedRows(head, 3, 'r') }));
      await store.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const r = await c.query<{ n: string }>(
          "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('receipts', 'log_heads', 'schema_meta')",
          [schema],
        );
        expect(r.rows[0]?.n).toBe('3');
        const q = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(schema)}.receipts`);
        expect(q.rows[0]?.n).toBe('3');
      } finally {
        await c.end();
      }
    } finally {
      await h.dispose();
    }
  });

  it('wraps connection failures in StoreError', async () => {
    const bad = new URL(url ?? 'postgres://localhost');
    bad.port = '1';
    const err = await openStore({ driver: 'postgres', url: bad.toString() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StoreError', code: 'STORE_ERROR' });
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});
