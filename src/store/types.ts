/**
 * The storage contract. Two implementations exist from day one — SQLite (embedded default)
 * and PostgreSQL (shared, for clusters) — and ONE conformance suite (test/store/conformance)
 * runs against both. The store knows rows, not cryptography: signing and hashing happen in
 * the ledger, inside the exclusive append transaction the store provides.
 */

export interface TenantRecord {
  name: string;
  /** Log origin line for checkpoints: `<origin>/<tenant>`. */
  origin: string;
  created_at: string;
}

export type KeyPurpose = 'receipt' | 'note' | 'passport';
export type KeyState = 'active' | 'retiring' | 'retired' | 'revoked';

export interface KeyRecord {
  tenant: string;
  kid: string;
  purpose: KeyPurpose;
  alg: 'Ed25519';
  /** Raw 32-byte Ed25519 public key. */
  public_key: Buffer;
  /** Private key wrapped by the master key provider; opaque to the store. */
  wrapped_private_key: Buffer;
  state: KeyState;
  /** RFC 3339 UTC; start of the key's validity window. */
  not_before: string;
  /** RFC 3339 UTC or null while the key still signs. */
  not_after: string | null;
  revoked_at: string | null;
  created_at: string;
}

/** The tip of one tenant's log, read inside the append transaction. */
export interface LogHead {
  tenant: string;
  /** Number of entries; the next entry gets `seq = size`. */
  size: number;
  /** Leaf hash of entry size-1, or 32 zero bytes for an empty log. */
  last_leaf_hash: Buffer;
  /** Incremented by every key mutation of the tenant, so a process holding a stale keyring notices. */
  key_epoch: number;
}

export interface ReceiptRow {
  seq: number;
  id: string;
  ts: string;
  kind: string;
  correlation_id: string | null;
  /** The leaf input L: the JCS text of the whole signed receipt. */
  leaf: string;
  /** SHA-256(0x00 ‖ L). */
  leaf_hash: Buffer;
}

export interface CheckpointRecord {
  tenant: string;
  size: number;
  root_hash: Buffer;
  /** The complete signed note text. */
  note: string;
  created_at: string;
}

export interface DataKeyRecord {
  tenant: string;
  id: string;
  /** Wrapped by the master key; null once destroyed (crypto-shredding). */
  wrapped_key: Buffer | null;
  created_at: string;
  destroyed_at: string | null;
}

export type AgentState = 'active' | 'suspended' | 'quarantined' | 'deleted';

/** A registered agent of one tenant. Deleted agents stay (state `deleted`) for audit. */
export interface AgentRecord {
  tenant: string;
  id: string;
  type: string;
  owner: string | null;
  roles: string[];
  capabilities: string[];
  trust_level: number;
  /** Sandbox tier the agent runs in (process, container, microvm, docker). */
  tier: string;
  state: AgentState;
  /** Passports issued before this instant (RFC 3339 UTC) are revoked; null = none revoked wholesale. */
  passports_not_before: string | null;
  /** The agent's own Ed25519 public key (raw 32 bytes, base64url) for proof of possession; null = none registered. */
  public_key: string | null;
  created_at: string;
  updated_at: string;
}

/** A revoked passport, kept until it would have expired anyway. */
export interface RevokedPassportRecord {
  tenant: string;
  jti: string;
  expires_at: string;
  revoked_at: string;
}

export type OperatorState = 'active' | 'disabled';

/** A human operator of one tenant (local account; authenticates with API tokens). */
export interface OperatorRecord {
  tenant: string;
  id: string;
  display_name: string | null;
  roles: string[];
  state: OperatorState;
  created_at: string;
  updated_at: string;
}

/** An operator API token. Only SHA-256 of the secret is stored, never the token itself. */
export interface ApiTokenRecord {
  token_id: string;
  tenant: string;
  operator_id: string;
  /** SHA-256 of the token's secret part (32 bytes). */
  hash: Buffer;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/**
 * A state document of one tenant — a policy version, the active-policy pointer, an approval, a
 * decision — committed in the same transaction as the receipt that records its change. `kind`
 * and `id` identify it; `state` and `created_at` are indexed for listing; `body` is JSON text
 * owned by the module of that kind (policy/, approvals/, gateway/).
 */
export interface StateRecord {
  tenant: string;
  kind: string;
  id: string;
  state: string;
  created_at: string;
  updated_at: string;
  body: string;
}

/** Changes applied in the same transaction as the receipts that record them. */
export type Mutation =
  | { op: 'insertKey'; key: KeyRecord }
  /** Inserts or replaces the agent (tenant, id). */
  | { op: 'putAgent'; agent: AgentRecord }
  | { op: 'revokePassport'; tenant: string; jti: string; expires_at: string; revoked_at: string }
  /** Inserts or replaces the operator (tenant, id). */
  | { op: 'putOperator'; operator: OperatorRecord }
  /** Inserts a new API token (token_id must be new). */
  | { op: 'putApiToken'; token: ApiTokenRecord }
  /**
   * Inserts or replaces the state record (tenant, kind, id). With `expectState`, the record must
   * exist in that state, checked inside the transaction: otherwise the whole append is refused
   * with CONFLICT (so two processes cannot both resolve one approval).
   */
  | { op: 'putRecord'; record: StateRecord; expectState?: string }
  /** Sets revoked_at of the tenant's token (kept if already revoked); NOT_FOUND if absent. */
  | { op: 'revokeApiToken'; tenant: string; token_id: string; revoked_at: string }
  | {
      op: 'updateKey';
      tenant: string;
      kid: string;
      state: KeyState;
      not_after?: string | null;
      revoked_at?: string | null;
    };

export interface AppendPlan {
  rows: ReceiptRow[];
  mutations?: Mutation[];
}

/** A persisted security event. `body` is the event's JSON (details sealed when sensitive). */
export interface EventRow {
  /** Position in the event table: increasing in the order events were persisted. */
  cursor: number;
  tenant: string;
  id: string;
  ts: string;
  severity: string;
  category: string;
  agent: string | null;
  correlation_id: string | null;
  body: string;
}

export type EventInsert = Omit<EventRow, 'cursor'>;

export interface EventQuery {
  /** One tenant, or every tenant when absent (deployment admins only). */
  tenant?: string;
  /** Only events with cursor > after (paging forward, SSE resumption). */
  after?: number;
  /** Only events with cursor < before (paging backward). */
  before?: number;
  /** RFC 3339 bounds on ts, inclusive. */
  since?: string;
  until?: string;
  severities?: readonly string[];
  categories?: readonly string[];
  agent?: string;
  correlation_id?: string;
  /** At most this many (1–10 000). */
  limit: number;
  order?: 'asc' | 'desc';
}

/**
 * Builds the rows to append from the current head. Runs synchronously inside the store's
 * exclusive per-tenant transaction; throwing aborts the whole batch (nothing is written).
 */
export type AppendBuilder = (head: LogHead) => AppendPlan;

export interface Store {
  readonly driver: 'sqlite' | 'postgres';

  /** Current schema version of the database (after migrate). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;

  /** Creates the tenant and its empty log head; returns false if it already existed. */
  createTenant(tenant: TenantRecord): Promise<boolean>;
  getTenant(name: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;

  listKeys(tenant: string, purpose?: KeyPurpose): Promise<KeyRecord[]>;
  getKey(tenant: string, kid: string): Promise<KeyRecord | undefined>;

  head(tenant: string): Promise<LogHead>;
  /**
   * Appends atomically: receipts must continue the head exactly (seq = head.size, …), or the
   * store rejects the batch. Concurrent appenders (in-process or other processes) serialise.
   * Durable when the promise resolves. Returns the new head.
   */
  append(tenant: string, build: AppendBuilder): Promise<LogHead>;
  /** Entries with fromSeq <= seq < fromSeq+limit, in seq order. */
  getReceipts(tenant: string, fromSeq: number, limit: number): Promise<ReceiptRow[]>;
  getReceiptById(tenant: string, id: string): Promise<ReceiptRow | undefined>;
  /** Leaf hashes of entries fromSeq <= seq < toSeq, in order. */
  getLeafHashes(tenant: string, fromSeq: number, toSeq: number): Promise<Buffer[]>;

  /**
   * Records a signed checkpoint. Idempotent for the same (size, root); a different root for an
   * existing size is a CONFLICT (it would be an inconsistent checkpoint).
   */
  putCheckpoint(cp: CheckpointRecord): Promise<void>;
  latestCheckpoint(tenant: string): Promise<CheckpointRecord | undefined>;
  getCheckpoint(tenant: string, size: number): Promise<CheckpointRecord | undefined>;

  getAgent(tenant: string, id: string): Promise<AgentRecord | undefined>;
  /** Every agent of the tenant (deleted ones included), in id order. */
  listAgents(tenant: string): Promise<AgentRecord[]>;
  isPassportRevoked(tenant: string, jti: string): Promise<boolean>;
  /** Revoked passports of the tenant, those revoked at or after `sinceIso` when given, in revocation order. */
  listRevokedPassports(tenant: string, sinceIso?: string): Promise<RevokedPassportRecord[]>;

  getOperator(tenant: string, id: string): Promise<OperatorRecord | undefined>;
  /** Every operator of the tenant (disabled ones included), in id order. */
  listOperators(tenant: string): Promise<OperatorRecord[]>;
  /** A token by its id, whatever its tenant (the caller checks the tenant). */
  getApiToken(tokenId: string): Promise<ApiTokenRecord | undefined>;
  /** Tokens of the tenant (of one operator when given), in creation order. */
  listApiTokens(tenant: string, operatorId?: string): Promise<ApiTokenRecord[]>;

  getRecord(tenant: string, kind: string, id: string): Promise<StateRecord | undefined>;
  /**
   * Records of one kind, newest first (created_at, then id, descending), optionally in one state;
   * at most `limit` (default 100, at most 10 000).
   */
  listRecords(tenant: string, kind: string, options?: { state?: string; limit?: number }): Promise<StateRecord[]>;

  /** Persists events in order, in one transaction; returns their cursors (ascending). */
  insertEvents(events: readonly EventInsert[]): Promise<number[]>;
  /** Events matching every given filter, by cursor (ascending unless `order: 'desc'`). */
  listEvents(query: EventQuery): Promise<EventRow[]>;
  /** Receipts of one correlation id, in seq order (at most `limit`, ≤ 10 000). */
  getReceiptsByCorrelation(tenant: string, correlationId: string, limit: number): Promise<ReceiptRow[]>;

  putDataKey(key: DataKeyRecord): Promise<void>;
  listDataKeys(tenant: string): Promise<DataKeyRecord[]>;
  /** Crypto-shredding: erases every wrapped data key of the tenant (not recoverable). */
  destroyDataKeys(tenant: string, at: string): Promise<number>;
}
