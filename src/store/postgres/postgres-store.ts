/**
 * The shared store for clusters: a pg Pool. Appenders in any process serialise on the tenant's
 * log_heads row (SELECT … FOR UPDATE), so each one builds on the head it locked. Timestamps are
 * TEXT columns, so RFC 3339 strings come back exactly as written (pg never turns them into Date).
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import { StoreError, WardenError } from '../../errors.js';
import {
  API_TOKEN_COLUMNS,
  OPERATOR_COLUMNS,
  OPERATOR_UPSERT,
  apiTokenValues,
  operatorValues,
  toApiToken,
  toOperator,
  type OperatorDbRow,
  AGENT_COLUMNS,
  RECORD_COLUMNS,
  RECORD_UPSERT,
  recordLimit,
  EVENT_COLUMNS,
  eventWhere,
  toEventRow,
  recordValues,
  stateConflict,
  AGENT_UPSERT,
  BuilderFailure,
  KEY_COLUMNS,
  REVOKED_COLUMNS,
  agentValues,
  toAgent,
  toRevokedPassport,
  type AgentDbRow,
  RECEIPT_COLUMNS,
  checkPlan,
  checkSeqArg,
  nextHead,
  runBuilder,
  toCheckpoint,
  toDataKey,
  toHead,
  toKey,
  toReceipt,
  toTenant,
  unknownTenant,
  zeroHash,
  type CheckpointDbRow,
  type HeadDbRow,
  type KeyDbRow,
  type ReceiptDbRow,
} from '../common.js';
import { LATEST_SCHEMA_VERSION, SCHEMA_META_DDL, pendingMigrations } from '../migrations.js';
import type {
  AgentRecord,
  StateRecord,
  ApiTokenRecord,
  OperatorRecord,
  AppendBuilder,
  CheckpointRecord,
  DataKeyRecord,
  KeyPurpose,
  KeyRecord,
  LogHead,
  Mutation,
  ReceiptRow,
  EventInsert,
  EventQuery,
  EventRow,
  RevokedPassportRecord,
  Store,
  TenantRecord,
} from '../types.js';

export interface PostgresStoreOptions {
  /** Connection string, e.g. postgres://user@host:5432/db. */
  url: string;
  /** Schema for all tables; created if missing and made the search_path of every connection. */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
}

/** Rows per multi-row INSERT: 500 × 8 parameters stays far below pg's 65535-parameter limit. */
const INSERT_BATCH = 500;

export function quoteIdent(name: string): string {
  if (name === '' || name.includes('\0')) throw new StoreError(`invalid SQL identifier ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** The server splits `options` on whitespace; a backslash escapes the next character. */
function escapeOptionValue(v: string): string {
  return v.replace(/[\\\s]/g, (c) => `\\${c}`);
}

function wrap(e: unknown, what: string): unknown {
  if (e instanceof BuilderFailure) return e.error;
  if (e instanceof WardenError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === '23505') return new StoreError(`${what}: duplicate (${msg})`, { code: 'CONFLICT', cause: e });
  // Every foreign key in the schema points at tenants(name).
  if (code === '23503') return new StoreError(`${what}: unknown tenant`, { code: 'NOT_FOUND', cause: e });
  return new StoreError(`${what} failed: ${msg}`, { cause: e });
}

export class PostgresStore implements Store {
  readonly driver = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #schema: string | undefined;
  #closed = false;

  constructor(opts: PostgresStoreOptions) {
    this.#schema = opts.schema;
    this.#pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 10,
      application_name: 'warden',
      ...(opts.schema !== undefined ? { options: `-c search_path=${escapeOptionValue(quoteIdent(opts.schema))}` } : {}),
    });
    // An idle client that dies emits 'error' on the pool; unhandled, that would crash the
    // process. The pool discards the client and the next query reconnects.
    this.#pool.on('error', () => undefined);
  }

  async #query<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(sql, params);
    } catch (e) {
      throw wrap(e, what);
    }
  }

  /** Runs `fn` in a transaction on one pooled client; any failure rolls back and is wrapped. */
  async #tx<T>(what: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw wrap(e, what);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      // A client that cannot even roll back is in an unknown state: destroy it, don't reuse it.
      await client.query('ROLLBACK').catch(() => { broken = true; });
      throw wrap(e, what);
    } finally {
      client.release(broken);
    }
  }

  /** Creates the schema if asked, then applies pending migrations; returns the resulting version. */
  async migrate(): Promise<number> {
    // Serialise concurrent openers (several processes starting at once) per schema.
    const lock = ['SELECT pg_advisory_xact_lock(hashtext($1))', [`warden:migrate:${this.#schema ?? ''}`]] as const;
    if (this.#schema !== undefined) {
      const ddl = `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.#schema)}`;
      await this.#tx('create schema', async (c) => {
        await c.query(lock[0], [...lock[1]]);
        await c.query(ddl);
      });
    }
    return this.#tx('migrate PostgreSQL schema', async (c) => {
      await c.query(lock[0], [...lock[1]]);
      const cur = await c.query<{ s: string | null }>('SELECT current_schema() AS s');
      if (this.#schema !== undefined && cur.rows[0]?.s !== this.#schema) {
        throw new StoreError(`search_path does not select schema ${JSON.stringify(this.#schema)} (got ${String(cur.rows[0]?.s)}); does the URL set its own options?`);
      }
      await c.query(SCHEMA_META_DDL);
      const r = await c.query<{ version: number }>('SELECT version FROM schema_meta WHERE id = 1');
      for (const m of pendingMigrations(r.rows[0]?.version ?? 0)) {
        for (const sql of m.postgres) await c.query(sql);
      }
      await c.query(
        'INSERT INTO schema_meta (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version',
        [LATEST_SCHEMA_VERSION],
      );
      return LATEST_SCHEMA_VERSION;
    });
  }

  async schemaVersion(): Promise<number> {
    const r = await this.#query<{ version: number }>('read schema version', 'SELECT version FROM schema_meta WHERE id = 1');
    return r.rows[0]?.version ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#pool.end();
    } catch (e) {
      throw wrap(e, 'close PostgreSQL pool');
    }
  }

  async createTenant(t: TenantRecord): Promise<boolean> {
    return this.#tx(`create tenant ${t.name}`, async (c) => {
      const r = await c.query(
        'INSERT INTO tenants (name, origin, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
        [t.name, t.origin, t.created_at],
      );
      if (r.rowCount !== 1) return false;
      await c.query('INSERT INTO log_heads (tenant, size, last_leaf_hash, key_epoch) VALUES ($1, 0, $2, 0)', [t.name, zeroHash()]);
      return true;
    });
  }

  async getTenant(name: string): Promise<TenantRecord | undefined> {
    const r = await this.#query<TenantRecord>('get tenant', 'SELECT name, origin, created_at FROM tenants WHERE name = $1', [name]);
    return r.rows[0] && toTenant(r.rows[0]);
  }

  async listTenants(): Promise<TenantRecord[]> {
    const r = await this.#query<TenantRecord>('list tenants', 'SELECT name, origin, created_at FROM tenants ORDER BY name');
    return r.rows.map(toTenant);
  }

  async listKeys(tenant: string, purpose?: KeyPurpose): Promise<KeyRecord[]> {
    const r = await this.#query<KeyDbRow>(
      'list keys',
      `SELECT ${KEY_COLUMNS} FROM keys WHERE tenant = $1 AND ($2::text IS NULL OR purpose = $2) ORDER BY created_at, kid`,
      [tenant, purpose ?? null],
    );
    return r.rows.map(toKey);
  }

  async getKey(tenant: string, kid: string): Promise<KeyRecord | undefined> {
    const r = await this.#query<KeyDbRow>('get key', `SELECT ${KEY_COLUMNS} FROM keys WHERE tenant = $1 AND kid = $2`, [tenant, kid]);
    return r.rows[0] && toKey(r.rows[0]);
  }

  async head(tenant: string): Promise<LogHead> {
    const r = await this.#query<HeadDbRow>(
      'read log head',
      'SELECT size, last_leaf_hash, key_epoch FROM log_heads WHERE tenant = $1',
      [tenant],
    );
    if (!r.rows[0]) throw unknownTenant(tenant);
    return toHead(tenant, r.rows[0]);
  }

  async #mutate(c: PoolClient, m: Mutation): Promise<void> {
    if (m.op === 'insertKey') {
      const k = m.key;
      await c.query(`INSERT INTO keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, [
        k.tenant, k.kid, k.purpose, k.alg, k.public_key, k.wrapped_private_key, k.state,
        k.not_before, k.not_after, k.revoked_at, k.created_at,
      ]);
      return;
    }
    if (m.op === 'putAgent') {
      await c.query(
        `INSERT INTO agents (${AGENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ${AGENT_UPSERT}`,
        agentValues(m.agent),
      );
      return;
    }
    if (m.op === 'revokePassport') {
      await c.query(
        `INSERT INTO revoked_passports (${REVOKED_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, jti) DO NOTHING`,
        [m.tenant, m.jti, m.expires_at, m.revoked_at],
      );
      return;
    }
    if (m.op === 'putOperator') {
      await c.query(`INSERT INTO operators (${OPERATOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ${OPERATOR_UPSERT}`, operatorValues(m.operator));
      return;
    }
    if (m.op === 'putRecord') {
      if (m.expectState !== undefined) {
        // The tenant's log head is locked (FOR UPDATE) for this transaction: the check cannot race.
        const cur = await c.query<{ state: string }>('SELECT state FROM records WHERE tenant = $1 AND kind = $2 AND id = $3', [m.record.tenant, m.record.kind, m.record.id]);
        if (cur.rows[0]?.state !== m.expectState) throw stateConflict(m.record, m.expectState, cur.rows[0]?.state);
      }
      await c.query(`INSERT INTO records (${RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ${RECORD_UPSERT}`, recordValues(m.record));
      return;
    }
    if (m.op === 'putApiToken') {
      await c.query(`INSERT INTO api_tokens (${API_TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, apiTokenValues(m.token));
      return;
    }
    if (m.op === 'revokeApiToken') {
      const r = await c.query('UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant = $2 AND token_id = $3', [
        m.revoked_at, m.tenant, m.token_id,
      ]);
      if (r.rowCount === 0) throw new StoreError(`revokeApiToken: no token ${JSON.stringify(m.token_id)} in tenant ${JSON.stringify(m.tenant)}`, { code: 'NOT_FOUND' });
      return;
    }
    // Flags keep the SQL static: an omitted field (undefined) leaves the column as it is.
    const r = await c.query(
      `UPDATE keys SET state = $1,
         not_after = CASE WHEN $2::boolean THEN $3::text ELSE not_after END,
         revoked_at = CASE WHEN $4::boolean THEN $5::text ELSE revoked_at END
       WHERE tenant = $6 AND kid = $7`,
      [m.state, m.not_after !== undefined, m.not_after ?? null, m.revoked_at !== undefined, m.revoked_at ?? null, m.tenant, m.kid],
    );
    if (r.rowCount === 0) throw new StoreError(`updateKey: no key ${JSON.stringify(m.kid)} in tenant ${JSON.stringify(m.tenant)}`, { code: 'NOT_FOUND' });
  }

  async #insertReceipts(c: PoolClient, tenant: string, rows: ReceiptRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += INSERT_BATCH) {
      const batch = rows.slice(i, i + INSERT_BATCH);
      const params: unknown[] = [tenant];
      // $1 is the tenant; only placeholders are generated, values always travel as parameters.
      const values = batch.map((r) => {
        const base = params.length;
        params.push(r.seq, r.id, r.ts, r.kind, r.correlation_id, r.leaf, r.leaf_hash);
        return `($1, ${Array.from({ length: 7 }, (_, j) => `$${base + j + 1}`).join(', ')})`;
      });
      await c.query(`INSERT INTO receipts (tenant, ${RECEIPT_COLUMNS}) VALUES ${values.join(', ')}`, params);
    }
  }

  async append(tenant: string, build: AppendBuilder): Promise<LogHead> {
    return this.#tx(`append to ${tenant}`, async (c) => {
      const r = await c.query<HeadDbRow>(
        'SELECT size, last_leaf_hash, key_epoch FROM log_heads WHERE tenant = $1 FOR UPDATE',
        [tenant],
      );
      if (!r.rows[0]) throw unknownTenant(tenant);
      const head = toHead(tenant, r.rows[0]);
      const plan = checkPlan(tenant, head, runBuilder(build, head));
      if (plan.rows.length === 0 && plan.mutations.length === 0) return head;
      for (const m of plan.mutations) await this.#mutate(c, m);
      await this.#insertReceipts(c, tenant, plan.rows);
      const next = nextHead(head, plan);
      await c.query('UPDATE log_heads SET size = $2, last_leaf_hash = $3, key_epoch = $4 WHERE tenant = $1', [
        tenant, next.size, next.last_leaf_hash, next.key_epoch,
      ]);
      return next;
    });
  }

  async getReceipts(tenant: string, fromSeq: number, limit: number): Promise<ReceiptRow[]> {
    checkSeqArg('fromSeq', fromSeq);
    checkSeqArg('limit', limit);
    const r = await this.#query<ReceiptDbRow>(
      'get receipts',
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = $1 AND seq >= $2 AND seq < $3 ORDER BY seq`,
      [tenant, fromSeq, fromSeq + limit],
    );
    return r.rows.map(toReceipt);
  }

  async getReceiptsByCorrelation(tenant: string, correlationId: string, limit: number): Promise<ReceiptRow[]> {
    const r = await this.#query<ReceiptDbRow>(
      'get receipts by correlation id',
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = $1 AND correlation_id = $2 ORDER BY seq LIMIT $3`,
      [tenant, correlationId, recordLimit(limit)],
    );
    return r.rows.map(toReceipt);
  }

  async insertEvents(events: readonly EventInsert[]): Promise<number[]> {
    if (events.length === 0) return [];
    // One multi-row INSERT: one round trip, and RETURNING gives the cursors in VALUES order.
    const params: unknown[] = [];
    const rows = events.map((e) => {
      const base = params.length;
      params.push(e.tenant, e.id, e.ts, e.severity, e.category, e.agent, e.correlation_id, e.body);
      return `(${Array.from({ length: 8 }, (_, i) => `$${base + i + 1}`).join(', ')})`;
    });
    const r = await this.#query<{ cursor: string }>(
      'insert events',
      `INSERT INTO events (tenant, id, ts, severity, category, agent, correlation_id, body) VALUES ${rows.join(', ')} RETURNING cursor`,
      params,
    );
    return r.rows.map((x) => Number(x.cursor)).sort((a, b) => a - b);
  }

  async listEvents(q: EventQuery): Promise<EventRow[]> {
    const { where, params, limit } = eventWhere(q, (i) => `$${i}`, ' COLLATE "C"');
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    const r = await this.#query<EventRow>(
      'list events',
      `SELECT ${EVENT_COLUMNS} FROM events ${where} ORDER BY cursor ${order} LIMIT $${params.length + 1}`,
      [...params, limit],
    );
    return r.rows.map(toEventRow);
  }

  async getReceiptById(tenant: string, id: string): Promise<ReceiptRow | undefined> {
    const r = await this.#query<ReceiptDbRow>('get receipt', `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return r.rows[0] && toReceipt(r.rows[0]);
  }

  async getLeafHashes(tenant: string, fromSeq: number, toSeq: number): Promise<Buffer[]> {
    checkSeqArg('fromSeq', fromSeq);
    checkSeqArg('toSeq', toSeq);
    const r = await this.#query<{ leaf_hash: Buffer }>(
      'get leaf hashes',
      'SELECT leaf_hash FROM receipts WHERE tenant = $1 AND seq >= $2 AND seq < $3 ORDER BY seq',
      [tenant, fromSeq, toSeq],
    );
    return r.rows.map((x) => x.leaf_hash);
  }

  async putCheckpoint(cp: CheckpointRecord): Promise<void> {
    const what = `put checkpoint ${cp.tenant}@${cp.size}`;
    // ON CONFLICT waits for a concurrent insert of the same key, so the re-read sees the winner.
    const ins = await this.#query(
      what,
      'INSERT INTO checkpoints (tenant, size, root_hash, note, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, size) DO NOTHING',
      [cp.tenant, cp.size, cp.root_hash, cp.note, cp.created_at],
    );
    if (ins.rowCount === 1) return;
    const r = await this.#query<{ root_hash: Buffer }>(what, 'SELECT root_hash FROM checkpoints WHERE tenant = $1 AND size = $2', [cp.tenant, cp.size]);
    if (r.rows[0] && !r.rows[0].root_hash.equals(cp.root_hash)) {
      throw new StoreError(`checkpoint for ${cp.tenant} at size ${cp.size} already exists with a different root hash`, { code: 'CONFLICT' });
    }
  }

  async latestCheckpoint(tenant: string): Promise<CheckpointRecord | undefined> {
    const r = await this.#query<CheckpointDbRow>(
      'get latest checkpoint',
      'SELECT tenant, size, root_hash, note, created_at FROM checkpoints WHERE tenant = $1 ORDER BY size DESC LIMIT 1',
      [tenant],
    );
    return r.rows[0] && toCheckpoint(r.rows[0]);
  }

  async getCheckpoint(tenant: string, size: number): Promise<CheckpointRecord | undefined> {
    const r = await this.#query<CheckpointDbRow>(
      'get checkpoint',
      'SELECT tenant, size, root_hash, note, created_at FROM checkpoints WHERE tenant = $1 AND size = $2',
      [tenant, size],
    );
    return r.rows[0] && toCheckpoint(r.rows[0]);
  }

  async getAgent(tenant: string, id: string): Promise<AgentRecord | undefined> {
    const r = await this.#query<AgentDbRow>('get agent', `SELECT ${AGENT_COLUMNS} FROM agents WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return r.rows[0] && toAgent(r.rows[0]);
  }

  async listAgents(tenant: string): Promise<AgentRecord[]> {
    const r = await this.#query<AgentDbRow>('list agents', `SELECT ${AGENT_COLUMNS} FROM agents WHERE tenant = $1 ORDER BY id COLLATE "C"`, [tenant]);
    return r.rows.map(toAgent);
  }

  async isPassportRevoked(tenant: string, jti: string): Promise<boolean> {
    const r = await this.#query('check passport revocation', 'SELECT 1 FROM revoked_passports WHERE tenant = $1 AND jti = $2', [tenant, jti]);
    return (r.rowCount ?? 0) > 0;
  }

  async listRevokedPassports(tenant: string, sinceIso?: string): Promise<RevokedPassportRecord[]> {
    const r = await this.#query<RevokedPassportRecord>(
      'list revoked passports',
      `SELECT ${REVOKED_COLUMNS} FROM revoked_passports WHERE tenant = $1 AND ($2::text IS NULL OR revoked_at COLLATE "C" >= $2) ORDER BY revoked_at COLLATE "C", jti COLLATE "C"`,
      [tenant, sinceIso ?? null],
    );
    return r.rows.map(toRevokedPassport);
  }

  async getOperator(tenant: string, id: string): Promise<OperatorRecord | undefined> {
    const r = await this.#query<OperatorDbRow>('get operator', `SELECT ${OPERATOR_COLUMNS} FROM operators WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return r.rows[0] && toOperator(r.rows[0]);
  }

  async listOperators(tenant: string): Promise<OperatorRecord[]> {
    const r = await this.#query<OperatorDbRow>('list operators', `SELECT ${OPERATOR_COLUMNS} FROM operators WHERE tenant = $1 ORDER BY id COLLATE "C"`, [tenant]);
    return r.rows.map(toOperator);
  }

  async getRecord(tenant: string, kind: string, id: string): Promise<StateRecord | undefined> {
    const r = await this.#query<StateRecord>('get record', `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND kind = $2 AND id = $3`, [tenant, kind, id]);
    return r.rows[0];
  }

  async listRecords(tenant: string, kind: string, options: { state?: string; limit?: number } = {}): Promise<StateRecord[]> {
    const limit = recordLimit(options.limit);
    const r = await this.#query<StateRecord>(
      'list records',
      `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = $1 AND kind = $2 AND ($3::text IS NULL OR state = $3)
       ORDER BY created_at COLLATE "C" DESC, id COLLATE "C" DESC LIMIT $4`,
      [tenant, kind, options.state ?? null, limit],
    );
    return r.rows;
  }

  async getApiToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.#query<ApiTokenRecord>('get API token', `SELECT ${API_TOKEN_COLUMNS} FROM api_tokens WHERE token_id = $1`, [tokenId]);
    return r.rows[0] && toApiToken(r.rows[0]);
  }

  async listApiTokens(tenant: string, operatorId?: string): Promise<ApiTokenRecord[]> {
    const r = await this.#query<ApiTokenRecord>(
      'list API tokens',
      `SELECT ${API_TOKEN_COLUMNS} FROM api_tokens WHERE tenant = $1 AND ($2::text IS NULL OR operator_id = $2) ORDER BY created_at COLLATE "C", token_id COLLATE "C"`,
      [tenant, operatorId ?? null],
    );
    return r.rows.map(toApiToken);
  }

  async putDataKey(k: DataKeyRecord): Promise<void> {
    await this.#query(
      `put data key ${k.tenant}/${k.id}`,
      'INSERT INTO data_keys (tenant, id, wrapped_key, created_at, destroyed_at) VALUES ($1, $2, $3, $4, $5)',
      [k.tenant, k.id, k.wrapped_key, k.created_at, k.destroyed_at],
    );
  }

  async listDataKeys(tenant: string): Promise<DataKeyRecord[]> {
    const r = await this.#query<DataKeyRecord>(
      'list data keys',
      'SELECT tenant, id, wrapped_key, created_at, destroyed_at FROM data_keys WHERE tenant = $1 ORDER BY created_at, id',
      [tenant],
    );
    return r.rows.map(toDataKey);
  }

  async destroyDataKeys(tenant: string, at: string): Promise<number> {
    const r = await this.#query(
      `destroy data keys of ${tenant}`,
      'UPDATE data_keys SET wrapped_key = NULL, destroyed_at = $1 WHERE tenant = $2 AND wrapped_key IS NOT NULL',
      [at, tenant],
    );
    return r.rowCount ?? 0;
  }
}
