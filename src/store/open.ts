/**
 * The one way the rest of Warden gets a Store: construct the driver, migrate, hand it over.
 * Drivers are imported on demand so a PostgreSQL deployment never loads the native SQLite
 * module (and vice versa).
 */
import { StoreError } from '../errors.js';
import type { Store } from './types.js';

export type OpenStoreOptions =
  | { driver: 'sqlite'; path: string }
  | { driver: 'postgres'; url: string; schema?: string };

interface MigratingStore extends Store {
  migrate(): Promise<number>;
}

async function construct(opts: OpenStoreOptions): Promise<MigratingStore> {
  switch (opts.driver) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/sqlite-store.js');
      return new SqliteStore({ path: opts.path });
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres/postgres-store.js');
      return new PostgresStore({ url: opts.url, ...(opts.schema !== undefined ? { schema: opts.schema } : {}) });
    }
    default:
      throw new StoreError(`unknown store driver ${JSON.stringify((opts as { driver?: unknown }).driver)}`);
  }
}

/** Opens and migrates the store; refuses (STORE_TOO_NEW) a database from a newer Warden. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const store = await construct(opts);
  try {
    await store.migrate();
    return store;
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}
