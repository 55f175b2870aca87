import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openWarden, type Warden } from '../../src/context.js';
import { buildTrustBundle } from '../../src/ledger/trust.js';
import { parseTrustBundle, type Trust } from '../../src/ledger/verify/trust.js';

export const VECTORS = join(process.cwd(), '../shared/vectors');
export const PG_URL = process.env.WARDEN_TEST_PG_URL;

export type Driver = 'sqlite' | 'postgres';

/** Drivers to run store-backed suites on; PostgreSQL only when WARDEN_TEST_PG_URL is set. */
export function drivers(): Driver[] {
  if (!PG_URL) {
    console.warn('PostgreSQL variants SKIPPED: WARDEN_TEST_PG_URL is not set (.ci/run sets it).');
    return ['sqlite'];
  }
  return ['sqlite', 'postgres'];
}

export interface TempWarden {
  w: Warden;
  dir: string;
  schema?: string;
  /** Opens a second, independent Warden on the same data (another "process"). */
  reopen(): Promise<Warden>;
  cleanup(): Promise<void>;
}

/** A fresh Warden in a temp dir on the given store; PostgreSQL gets its own schema. */
export async function tempWarden(driver: Driver = 'sqlite', extraYaml = ''): Promise<TempWarden> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  let schema: string | undefined;
  let store = 'store:\n  driver: sqlite\n';
  if (driver === 'postgres') {
    schema = `t_${randomBytes(6).toString('hex')}`;
    store = `store:\n  driver: postgres\n  url: ${JSON.stringify(PG_URL)}\n  schema: ${schema}\n`;
  }
  writeFileSync(join(dir, 'warden.yaml'), `version: 1\norigin: test.warden/log\n${store}${extraYaml}`);
  const w = await openWarden(dir, { create: true });
  await w.ensureTenant('default');
  const opened: Warden[] = [w];
  return {
    w,
    dir,
    ...(schema ? { schema } : {}),
    async reopen() {
      const other = await openWarden(dir);
      opened.push(other);
      return other;
    },
    async cleanup() {
      for (const o of opened) await o.close().catch(() => undefined);
      if (schema) {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The tenant's exported lines (L), straight from the store. */
export async function exportLines(w: Warden, tenant = 'default'): Promise<string[]> {
  const head = await w.store.head(tenant);
  const rows = await w.store.getReceipts(tenant, 0, head.size);
  return rows.map((r) => r.leaf);
}

export async function trustOf(w: Warden, tenant = 'default'): Promise<Trust> {
  return parseTrustBundle(JSON.parse(JSON.stringify(await buildTrustBundle(w.store, tenant))));
}

export function event(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'decision',
    action: 'tool.call',
    resource: `tool:t${i % 7}`,
    decision: i % 3 === 0 ? 'deny' : 'allow',
    reasons: [`reason ${i}`],
    actor: { agent: `agent-${i % 4}`, human: 'alice@example.com' },
    correlation_id: `corr-${i % 5}`,
    payload: { i, text: `héllo ✓ ${i}` },
    ...extra,
  };
}
