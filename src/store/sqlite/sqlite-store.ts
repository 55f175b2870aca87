/**
 * The embedded store: one better-sqlite3 connection per Store. Several processes may share the
 * file — WAL lets readers run beside the single writer, BEGIN IMMEDIATE takes the write lock
 * before the head is read (so two appenders never build on the same head), and busy_timeout
 * makes a contender wait for the lock instead of failing at once.
 */
import Database from 'better-sqlite3';
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

/** Rows per multi-row INSERT (8 columns each, well under SQLite's 32766-parameter limit). */
const INSERT_CHUNK = 64;

export interface SqliteStoreOptions {
  /** Database file; created if missing. */
  path: string;
  /** How long to wait for another process's write lock before failing (default 10 s). */
  busyTimeoutMs?: number;
}

/** Any non-Warden error becomes a StoreError (cause kept); constraint kinds keep their meaning. */
function wrap(e: unknown, what: string): unknown {
  if (e instanceof BuilderFailure) return e.error;
  if (e instanceof WardenError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return new StoreError(`${what}: duplicate (${msg})`, { code: 'CONFLICT', cause: e });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new StoreError(`${what}: unknown tenant`, { code: 'NOT_FOUND', cause: e });
  }
  return new StoreError(`${what} failed: ${msg}`, { cause: e });
}

function prepareStatements(db: Database.Database) {
  return {
    version: db.prepare<[], { version: number }>('SELECT version FROM schema_meta WHERE id = 1'),
    insertTenant: db.prepare('INSERT INTO tenants (name, origin, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING'),
    insertHead: db.prepare('INSERT INTO log_heads (tenant, size, last_leaf_hash, key_epoch) VALUES (?, 0, ?, 0)'),
    getTenant: db.prepare<[string], TenantRecord>('SELECT name, origin, created_at FROM tenants WHERE name = ?'),
    listTenants: db.prepare<[], TenantRecord>('SELECT name, origin, created_at FROM tenants ORDER BY name'),
    listKeys: db.prepare<[string, string | null, string | null], KeyDbRow>(
      `SELECT ${KEY_COLUMNS} FROM keys WHERE tenant = ? AND (? IS NULL OR purpose = ?) ORDER BY created_at, kid`,
    ),
    getKey: db.prepare<[string, string], KeyDbRow>(`SELECT ${KEY_COLUMNS} FROM keys WHERE tenant = ? AND kid = ?`),
    insertKey: db.prepare(`INSERT INTO keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    // Flags keep the SQL static: an omitted field (undefined) leaves the column as it is.
    updateKey: db.prepare(
      `UPDATE keys SET state = ?,
         not_after = CASE WHEN ? THEN ? ELSE not_after END,
         revoked_at = CASE WHEN ? THEN ? ELSE revoked_at END
       WHERE tenant = ? AND kid = ?`,
    ),
    head: db.prepare<[string], HeadDbRow>('SELECT size, last_leaf_hash, key_epoch FROM log_heads WHERE tenant = ?'),
    setHead: db.prepare('UPDATE log_heads SET size = ?, last_leaf_hash = ?, key_epoch = ? WHERE tenant = ?'),
    insertReceipt: db.prepare(`INSERT INTO receipts (tenant, ${RECEIPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    // Group commits insert many rows per statement: per-statement overhead dominates otherwise.
    insertReceipts: db.prepare(
      `INSERT INTO receipts (tenant, ${RECEIPT_COLUMNS}) VALUES ${Array(INSERT_CHUNK).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
    ),
    receipts: db.prepare<[string, number, number], ReceiptDbRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = ? AND seq >= ? AND seq < ? ORDER BY seq`,
    ),
    receiptById: db.prepare<[string, string], ReceiptDbRow>(`SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = ? AND id = ?`),
    leafHashes: db.prepare<[string, number, number], { leaf_hash: Buffer }>(
      'SELECT leaf_hash FROM receipts WHERE tenant = ? AND seq >= ? AND seq < ? ORDER BY seq',
    ),
    insertCheckpoint: db.prepare(
      'INSERT INTO checkpoints (tenant, size, root_hash, note, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, size) DO NOTHING',
    ),
    checkpoint: db.prepare<[string, number], CheckpointDbRow>(
      'SELECT tenant, size, root_hash, note, created_at FROM checkpoints WHERE tenant = ? AND size = ?',
    ),
    latestCheckpoint: db.prepare<[string], CheckpointDbRow>(
      'SELECT tenant, size, root_hash, note, created_at FROM checkpoints WHERE tenant = ? ORDER BY size DESC LIMIT 1',
    ),
    insertDataKey: db.prepare('INSERT INTO data_keys (tenant, id, wrapped_key, created_at, destroyed_at) VALUES (?, ?, ?, ?, ?)'),
    listDataKeys: db.prepare<[string], DataKeyRecord>(
      'SELECT tenant, id, wrapped_key, created_at, destroyed_at FROM data_keys WHERE tenant = ? ORDER BY created_at, id',
    ),
    putAgent: db.prepare(`INSERT INTO agents (${AGENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${AGENT_UPSERT}`),
    getAgent: db.prepare<[string, string], AgentDbRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE tenant = ? AND id = ?`),
    listAgents: db.prepare<[string], AgentDbRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE tenant = ? ORDER BY id`),
    revokePassport: db.prepare(
      `INSERT INTO revoked_passports (${REVOKED_COLUMNS}) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, jti) DO NOTHING`,
    ),
    isRevoked: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM revoked_passports WHERE tenant = ? AND jti = ?'),
    listRevoked: db.prepare<[string, string | null, string | null], RevokedPassportRecord>(
      `SELECT ${REVOKED_COLUMNS} FROM revoked_passports WHERE tenant = ? AND (? IS NULL OR revoked_at >= ?) ORDER BY revoked_at, jti`,
    ),
    putOperator: db.prepare(`INSERT INTO operators (${OPERATOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ${OPERATOR_UPSERT}`),
    getOperator: db.prepare<[string, string], OperatorDbRow>(`SELECT ${OPERATOR_COLUMNS} FROM operators WHERE tenant = ? AND id = ?`),
    listOperators: db.prepare<[string], OperatorDbRow>(`SELECT ${OPERATOR_COLUMNS} FROM operators WHERE tenant = ? ORDER BY id`),
    putApiToken: db.prepare(`INSERT INTO api_tokens (${API_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    revokeApiToken: db.prepare(
      'UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant = ? AND token_id = ?',
    ),
    getApiToken: db.prepare<[string], ApiTokenRecord>(`SELECT ${API_TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?`),
    listApiTokens: db.prepare<[string, string | null, string | null], ApiTokenRecord>(
      `SELECT ${API_TOKEN_COLUMNS} FROM api_tokens WHERE tenant = ? AND (? IS NULL OR operator_id = ?) ORDER BY created_at, token_id`,
    ),
    putRecord: db.prepare(`INSERT INTO records (${RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ${RECORD_UPSERT}`),
    getRecord: db.prepare<[string, string, string], StateRecord>(`SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = ? AND kind = ? AND id = ?`),
    listRecords: db.prepare<[string, string, string | null, string | null, number], StateRecord>(
      `SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = ? AND kind = ? AND (? IS NULL OR state = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
    ),
    insertEvent: db.prepare(
      'INSERT INTO events (tenant, id, ts, severity, category, agent, correlation_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    receiptsByCorrelation: db.prepare<[string, string, number], ReceiptDbRow>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE tenant = ? AND correlation_id = ? ORDER BY seq LIMIT ?`,
    ),
    destroyDataKeys: db.prepare(
      'UPDATE data_keys SET wrapped_key = NULL, destroyed_at = ? WHERE tenant = ? AND wrapped_key IS NOT NULL',
    ),
  };
}
type Stmts = ReturnType<typeof prepareStatements>;

export class SqliteStore implements Store {
  readonly driver = 'sqlite' as const;
  readonly #db: Database.Database;
  // Prepared lazily: the statements need the tables that migrate() creates.
  #stmts: Stmts | undefined;

  constructor(opts: SqliteStoreOptions) {
    try {
      this.#db = new Database(opts.path);
    } catch (e) {
      throw wrap(e, `open SQLite database ${opts.path}`);
    }
    try {
      this.#db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 10_000))}`);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL'); // an acknowledged append survives power loss
      this.#db.pragma('foreign_keys = ON');
      this.#db.pragma('secure_delete = ON'); // freed bytes (destroyed data keys) are zeroed
    } catch (e) {
      this.#db.close();
      throw wrap(e, `configure SQLite database ${opts.path}`);
    }
  }

  /** Runs `fn` with the prepared statements, turning every failure into a Warden error. */
  #run<T>(what: string, fn: (s: Stmts) => T): T {
    try {
      this.#stmts ??= prepareStatements(this.#db);
      return fn(this.#stmts);
    } catch (e) {
      throw wrap(e, what);
    }
  }

  /** Applies pending migrations under the write lock; returns the resulting version. */
  async migrate(): Promise<number> {
    try {
      return this.#db
        .transaction(() => {
          this.#db.exec(SCHEMA_META_DDL);
          const row = this.#db.prepare<[], { version: number }>('SELECT version FROM schema_meta WHERE id = 1').get();
          for (const m of pendingMigrations(row?.version ?? 0)) {
            for (const sql of m.sqlite) this.#db.exec(sql);
          }
          this.#db
            .prepare('INSERT INTO schema_meta (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version')
            .run(LATEST_SCHEMA_VERSION);
          return LATEST_SCHEMA_VERSION;
        })
        .immediate();
    } catch (e) {
      throw wrap(e, 'migrate SQLite schema');
    }
  }

  async schemaVersion(): Promise<number> {
    return this.#run('read schema version', (s) => s.version.get()?.version ?? 0);
  }

  async close(): Promise<void> {
    try {
      if (this.#db.open) this.#db.close();
    } catch (e) {
      throw wrap(e, 'close SQLite database');
    }
  }

  async createTenant(t: TenantRecord): Promise<boolean> {
    return this.#run(`create tenant ${t.name}`, (s) =>
      this.#db.transaction(() => {
        if (s.insertTenant.run(t.name, t.origin, t.created_at).changes === 0) return false;
        s.insertHead.run(t.name, zeroHash());
        return true;
      }).immediate(),
    );
  }

  async getTenant(name: string): Promise<TenantRecord | undefined> {
    return this.#run('get tenant', (s) => {
      const r = s.getTenant.get(name);
      return r && toTenant(r);
    });
  }

  async listTenants(): Promise<TenantRecord[]> {
    return this.#run('list tenants', (s) => s.listTenants.all().map(toTenant));
  }

  async listKeys(tenant: string, purpose?: KeyPurpose): Promise<KeyRecord[]> {
    return this.#run('list keys', (s) => s.listKeys.all(tenant, purpose ?? null, purpose ?? null).map(toKey));
  }

  async getKey(tenant: string, kid: string): Promise<KeyRecord | undefined> {
    return this.#run('get key', (s) => {
      const r = s.getKey.get(tenant, kid);
      return r && toKey(r);
    });
  }

  async head(tenant: string): Promise<LogHead> {
    return this.#run('read log head', (s) => {
      const r = s.head.get(tenant);
      if (!r) throw unknownTenant(tenant);
      return toHead(tenant, r);
    });
  }

  #mutate(s: Stmts, m: Mutation): void {
    if (m.op === 'insertKey') {
      const k = m.key;
      s.insertKey.run(k.tenant, k.kid, k.purpose, k.alg, k.public_key, k.wrapped_private_key, k.state,
        k.not_before, k.not_after, k.revoked_at, k.created_at);
      return;
    }
    if (m.op === 'putAgent') {
      s.putAgent.run(...agentValues(m.agent));
      return;
    }
    if (m.op === 'revokePassport') {
      s.revokePassport.run(m.tenant, m.jti, m.expires_at, m.revoked_at);
      return;
    }
    if (m.op === 'putOperator') {
      s.putOperator.run(...operatorValues(m.operator));
      return;
    }
    if (m.op === 'putApiToken') {
      s.putApiToken.run(...apiTokenValues(m.token));
      return;
    }
    if (m.op === 'putRecord') {
      if (m.expectState !== undefined) {
        const cur = s.getRecord.get(m.record.tenant, m.record.kind, m.record.id);
        if (cur?.state !== m.expectState) throw stateConflict(m.record, m.expectState, cur?.state);
      }
      s.putRecord.run(...recordValues(m.record));
      return;
    }
    if (m.op === 'revokeApiToken') {
      if (s.revokeApiToken.run(m.revoked_at, m.tenant, m.token_id).changes === 0) {
        throw new StoreError(`revokeApiToken: no token ${JSON.stringify(m.token_id)} in tenant ${JSON.stringify(m.tenant)}`, { code: 'NOT_FOUND' });
      }
      return;
    }
    const res = s.updateKey.run(m.state,
      m.not_after !== undefined ? 1 : 0, m.not_after ?? null,
      m.revoked_at !== undefined ? 1 : 0, m.revoked_at ?? null,
      m.tenant, m.kid);
    if (res.changes === 0) throw new StoreError(`updateKey: no key ${JSON.stringify(m.kid)} in tenant ${JSON.stringify(m.tenant)}`, { code: 'NOT_FOUND' });
  }

  async append(tenant: string, build: AppendBuilder): Promise<LogHead> {
    return this.#run(`append to ${tenant}`, (s) =>
      this.#db.transaction(() => {
        const r = s.head.get(tenant);
        if (!r) throw unknownTenant(tenant);
        const head = toHead(tenant, r);
        const plan = checkPlan(tenant, head, runBuilder(build, head));
        if (plan.rows.length === 0 && plan.mutations.length === 0) return head;
        for (const m of plan.mutations) this.#mutate(s, m);
        const rows = plan.rows;
        let i = 0;
        for (; i + INSERT_CHUNK <= rows.length; i += INSERT_CHUNK) {
          const args: unknown[] = [];
          for (const row of rows.slice(i, i + INSERT_CHUNK)) {
            args.push(tenant, row.seq, row.id, row.ts, row.kind, row.correlation_id, row.leaf, row.leaf_hash);
          }
          s.insertReceipts.run(args);
        }
        for (const row of rows.slice(i)) {
          s.insertReceipt.run(tenant, row.seq, row.id, row.ts, row.kind, row.correlation_id, row.leaf, row.leaf_hash);
        }
        const next = nextHead(head, plan);
        s.setHead.run(next.size, next.last_leaf_hash, next.key_epoch, tenant);
        return next;
      }).immediate(),
    );
  }

  async getReceipts(tenant: string, fromSeq: number, limit: number): Promise<ReceiptRow[]> {
    checkSeqArg('fromSeq', fromSeq);
    checkSeqArg('limit', limit);
    return this.#run('get receipts', (s) => s.receipts.all(tenant, fromSeq, fromSeq + limit).map(toReceipt));
  }

  async getReceiptsByCorrelation(tenant: string, correlationId: string, limit: number): Promise<ReceiptRow[]> {
    const n = recordLimit(limit);
    return this.#run('get receipts by correlation id', (s) => s.receiptsByCorrelation.all(tenant, correlationId, n).map(toReceipt));
  }

  async insertEvents(events: readonly EventInsert[]): Promise<number[]> {
    if (events.length === 0) return [];
    return this.#run('insert events', (s) =>
      this.#db.transaction(() => events.map((e) =>
        Number(s.insertEvent.run(e.tenant, e.id, e.ts, e.severity, e.category, e.agent, e.correlation_id, e.body).lastInsertRowid),
      ))(),
    );
  }

  async listEvents(q: EventQuery): Promise<EventRow[]> {
    const { where, params, limit } = eventWhere(q, () => '?');
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    return this.#run('list events', () =>
      this.#db.prepare<unknown[], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events ${where} ORDER BY cursor ${order} LIMIT ?`).all(...params, limit),
    );
  }

  async getReceiptById(tenant: string, id: string): Promise<ReceiptRow | undefined> {
    return this.#run('get receipt', (s) => {
      const r = s.receiptById.get(tenant, id);
      return r && toReceipt(r);
    });
  }

  async getLeafHashes(tenant: string, fromSeq: number, toSeq: number): Promise<Buffer[]> {
    checkSeqArg('fromSeq', fromSeq);
    checkSeqArg('toSeq', toSeq);
    return this.#run('get leaf hashes', (s) => s.leafHashes.all(tenant, fromSeq, toSeq).map((r) => r.leaf_hash));
  }

  async putCheckpoint(cp: CheckpointRecord): Promise<void> {
    this.#run(`put checkpoint ${cp.tenant}@${cp.size}`, (s) => {
      if (s.insertCheckpoint.run(cp.tenant, cp.size, cp.root_hash, cp.note, cp.created_at).changes === 1) return;
      const existing = s.checkpoint.get(cp.tenant, cp.size);
      if (existing && !existing.root_hash.equals(cp.root_hash)) {
        throw new StoreError(`checkpoint for ${cp.tenant} at size ${cp.size} already exists with a different root hash`, { code: 'CONFLICT' });
      }
    });
  }

  async latestCheckpoint(tenant: string): Promise<CheckpointRecord | undefined> {
    return this.#run('get latest checkpoint', (s) => {
      const r = s.latestCheckpoint.get(tenant);
      return r && toCheckpoint(r);
    });
  }

  async getCheckpoint(tenant: string, size: number): Promise<CheckpointRecord | undefined> {
    return this.#run('get checkpoint', (s) => {
      const r = s.checkpoint.get(tenant, size);
      return r && toCheckpoint(r);
    });
  }

  async getAgent(tenant: string, id: string): Promise<AgentRecord | undefined> {
    return this.#run('get agent', (s) => {
      const r = s.getAgent.get(tenant, id);
      return r && toAgent(r);
    });
  }

  async listAgents(tenant: string): Promise<AgentRecord[]> {
    return this.#run('list agents', (s) => s.listAgents.all(tenant).map(toAgent));
  }

  async isPassportRevoked(tenant: string, jti: string): Promise<boolean> {
    return this.#run('check passport revocation', (s) => s.isRevoked.get(tenant, jti) !== undefined);
  }

  async listRevokedPassports(tenant: string, sinceIso?: string): Promise<RevokedPassportRecord[]> {
    return this.#run('list revoked passports', (s) => s.listRevoked.all(tenant, sinceIso ?? null, sinceIso ?? null).map(toRevokedPassport));
  }

  async getOperator(tenant: string, id: string): Promise<OperatorRecord | undefined> {
    return this.#run('get operator', (s) => {
      const r = s.getOperator.get(tenant, id);
      return r && toOperator(r);
    });
  }

  async listOperators(tenant: string): Promise<OperatorRecord[]> {
    return this.#run('list operators', (s) => s.listOperators.all(tenant).map(toOperator));
  }

  async getApiToken(tokenId: string): Promise<ApiTokenRecord | undefined> {
    return this.#run('get API token', (s) => {
      const r = s.getApiToken.get(tokenId);
      return r && toApiToken(r);
    });
  }

  async listApiTokens(tenant: string, operatorId?: string): Promise<ApiTokenRecord[]> {
    return this.#run('list API tokens', (s) => s.listApiTokens.all(tenant, operatorId ?? null, operatorId ?? null).map(toApiToken));
  }

  async getRecord(tenant: string, kind: string, id: string): Promise<StateRecord | undefined> {
    return this.#run('get record', (s) => s.getRecord.get(tenant, kind, id));
  }

  async listRecords(tenant: string, kind: string, options: { state?: string; limit?: number } = {}): Promise<StateRecord[]> {
    const limit = recordLimit(options.limit);
    return this.#run('list records', (s) => s.listRecords.all(tenant, kind, options.state ?? null, options.state ?? null, limit));
  }

  async putDataKey(k: DataKeyRecord): Promise<void> {
    this.#run(`put data key ${k.tenant}/${k.id}`, (s) => {
      s.insertDataKey.run(k.tenant, k.id, k.wrapped_key, k.created_at, k.destroyed_at);
    });
  }

  async listDataKeys(tenant: string): Promise<DataKeyRecord[]> {
    return this.#run('list data keys', (s) => s.listDataKeys.all(tenant).map(toDataKey));
  }

  async destroyDataKeys(tenant: string, at: string): Promise<number> {
    return this.#run(`destroy data keys of ${tenant}`, (s) => {
      const n = s.destroyDataKeys.run(at, tenant).changes;
      // The WAL still holds the pre-update pages; copy back and truncate it so the old key
      // bytes leave the WAL file too (secure_delete zeroes them in the main file).
      if (n > 0) this.#db.pragma('wal_checkpoint(TRUNCATE)');
      return n;
    });
  }
}
