/**
 * Dialect-independent pieces of the two stores: validation of an append plan against the head
 * it was built from, row mappers, and the marker that lets a builder's own error pass through
 * the driver-error wrapping untouched.
 */
import { StoreError } from '../errors.js';
import type {
  AgentRecord,
  ApiTokenRecord,
  OperatorRecord,
  OperatorState,
  AgentState,
  AppendBuilder,
  AppendPlan,
  CheckpointRecord,
  DataKeyRecord,
  EventQuery,
  EventRow,
  KeyPurpose,
  KeyRecord,
  KeyState,
  LogHead,
  Mutation,
  ReceiptRow,
  RevokedPassportRecord,
  StateRecord,
  TenantRecord,
} from './types.js';

/** Leaf hash of the empty log. A fresh buffer each time so no caller can alter a shared one. */
export function zeroHash(): Buffer {
  return Buffer.alloc(32);
}

export function unknownTenant(tenant: string): StoreError {
  return new StoreError(`unknown tenant ${JSON.stringify(tenant)}`, { code: 'NOT_FOUND' });
}

/** Wraps whatever the builder threw, so the store can rethrow it as-is after rolling back. */
export class BuilderFailure {
  constructor(readonly error: unknown) {}
}

/** Runs the builder on a private copy of the head (it must not be able to alter ours). */
export function runBuilder(build: AppendBuilder, head: LogHead): unknown {
  try {
    return build({ ...head, last_leaf_hash: Buffer.from(head.last_leaf_hash) });
  } catch (e) {
    throw new BuilderFailure(e);
  }
}

function isBuffer(v: unknown, len?: number): v is Buffer {
  return Buffer.isBuffer(v) && (len === undefined || v.length === len);
}

function checkRow(row: ReceiptRow, i: number): void {
  const bad = (what: string) => new StoreError(`append rejected: row ${i} (seq ${row.seq}) has ${what}`);
  if (typeof row.id !== 'string' || row.id === '') throw bad('an empty or non-string id');
  if (typeof row.ts !== 'string') throw bad('a non-string ts');
  if (typeof row.kind !== 'string') throw bad('a non-string kind');
  if (row.correlation_id !== null && typeof row.correlation_id !== 'string') throw bad('a bad correlation_id');
  if (typeof row.leaf !== 'string') throw bad('a non-string leaf');
  if (!isBuffer(row.leaf_hash, 32)) throw bad('a leaf_hash that is not 32 bytes');
}

function mutationTenant(m: Mutation): string | undefined {
  if (m.op === 'insertKey') return m.key.tenant;
  if (m.op === 'updateKey') return m.tenant;
  if (m.op === 'putAgent') return m.agent.tenant;
  if (m.op === 'revokePassport') return m.tenant;
  if (m.op === 'putOperator') return m.operator.tenant;
  if (m.op === 'putApiToken') return m.token.tenant;
  if (m.op === 'revokeApiToken') return m.tenant;
  if (m.op === 'putRecord') return m.record.tenant;
  return undefined;
}

/**
 * Checks that the plan continues `head` exactly: seq = head.size, head.size+1, … with no gap,
 * duplicate or restart, well-formed rows, and mutations only for this tenant (they bump this
 * tenant's key_epoch when they change keys). A violation is a bug in the builder; nothing is written.
 */
export function checkPlan(tenant: string, head: LogHead, plan: unknown): Required<AppendPlan> {
  if (plan === null || typeof plan !== 'object') throw new StoreError('append rejected: builder returned no plan');
  if (typeof (plan as { then?: unknown }).then === 'function') {
    // Swallow a late rejection so it cannot surface as an unhandled one.
    Promise.resolve(plan).catch(() => undefined);
    throw new StoreError('append rejected: the builder must be synchronous (it returned a promise)');
  }
  const { rows, mutations = [] } = plan as AppendPlan;
  if (!Array.isArray(rows)) throw new StoreError('append rejected: plan.rows is not an array');
  if (!Array.isArray(mutations)) throw new StoreError('append rejected: plan.mutations is not an array');
  rows.forEach((row, i) => {
    const want = head.size + i;
    if (row === null || typeof row !== 'object' || row.seq !== want) {
      throw new StoreError(
        `append rejected: row ${i} has seq ${String(row?.seq)}, expected ${want} (log ${JSON.stringify(tenant)} has size ${head.size})`,
        { code: 'CONFLICT' },
      );
    }
    checkRow(row, i);
  });
  for (const m of mutations) {
    const t = mutationTenant(m);
    if (t === undefined) throw new StoreError(`append rejected: unknown mutation ${JSON.stringify((m as { op?: unknown }).op)}`);
    if (t !== tenant) throw new StoreError(`append rejected: mutation for tenant ${JSON.stringify(t)} in an append to ${JSON.stringify(tenant)}`);
    if (m.op === 'insertKey' && (!isBuffer(m.key.public_key) || !isBuffer(m.key.wrapped_private_key))) {
      throw new StoreError(`append rejected: key ${JSON.stringify(m.key.kid)} has non-Buffer key material`);
    }
    if (m.op === 'putAgent' && (!Array.isArray(m.agent.roles) || !Array.isArray(m.agent.capabilities))) {
      throw new StoreError(`append rejected: agent ${JSON.stringify(m.agent.id)} has non-array roles or capabilities`);
    }
    if (m.op === 'putOperator' && !Array.isArray(m.operator.roles)) {
      throw new StoreError(`append rejected: operator ${JSON.stringify(m.operator.id)} has non-array roles`);
    }
    if (m.op === 'putRecord' && (typeof m.record.body !== 'string' || typeof m.record.kind !== 'string' || typeof m.record.id !== 'string')) {
      throw new StoreError('append rejected: a state record needs string kind, id and body');
    }
    if (m.op === 'putApiToken' && !isBuffer(m.token.hash, 32)) {
      throw new StoreError(`append rejected: API token ${JSON.stringify(m.token.token_id)} has a hash that is not 32 bytes`);
    }
  }
  return { rows, mutations };
}

/** The head after applying `plan` (already checked) to `head`. */
export function nextHead(head: LogHead, plan: Required<AppendPlan>): LogHead {
  const last = plan.rows[plan.rows.length - 1];
  return {
    tenant: head.tenant,
    size: head.size + plan.rows.length,
    last_leaf_hash: Buffer.from(last ? last.leaf_hash : head.last_leaf_hash),
    key_epoch: head.key_epoch + plan.mutations.filter(isKeyMutation).length,
  };
}

/** Only key changes bump key_epoch (agents and passport revocations leave keyrings valid). */
export function isKeyMutation(m: Mutation): boolean {
  return m.op === 'insertKey' || m.op === 'updateKey';
}

export function checkSeqArg(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new StoreError(`${name} must be a non-negative integer, got ${String(v)}`);
}

// ---- row mappers: drivers return numbers as number (SQLite) or string (pg BIGINT) ----

type Num = number | string;

export interface HeadDbRow { size: Num; last_leaf_hash: Buffer; key_epoch: Num }
export const toHead = (tenant: string, r: HeadDbRow): LogHead => ({
  tenant,
  size: Number(r.size),
  last_leaf_hash: r.last_leaf_hash,
  key_epoch: Number(r.key_epoch),
});

export const toTenant = (r: TenantRecord): TenantRecord => ({ name: r.name, origin: r.origin, created_at: r.created_at });

export interface KeyDbRow extends Omit<KeyRecord, 'purpose' | 'alg' | 'state'> { purpose: string; alg: string; state: string }
export const toKey = (r: KeyDbRow): KeyRecord => ({
  tenant: r.tenant,
  kid: r.kid,
  purpose: r.purpose as KeyPurpose,
  alg: r.alg as 'Ed25519',
  public_key: r.public_key,
  wrapped_private_key: r.wrapped_private_key,
  state: r.state as KeyState,
  not_before: r.not_before,
  not_after: r.not_after,
  revoked_at: r.revoked_at,
  created_at: r.created_at,
});

export interface ReceiptDbRow extends Omit<ReceiptRow, 'seq'> { seq: Num }
export const toReceipt = (r: ReceiptDbRow): ReceiptRow => ({
  seq: Number(r.seq),
  id: r.id,
  ts: r.ts,
  kind: r.kind,
  correlation_id: r.correlation_id,
  leaf: r.leaf,
  leaf_hash: r.leaf_hash,
});

export interface CheckpointDbRow extends Omit<CheckpointRecord, 'size'> { size: Num }
export const toCheckpoint = (r: CheckpointDbRow): CheckpointRecord => ({
  tenant: r.tenant,
  size: Number(r.size),
  root_hash: r.root_hash,
  note: r.note,
  created_at: r.created_at,
});

export const toDataKey = (r: DataKeyRecord): DataKeyRecord => ({
  tenant: r.tenant,
  id: r.id,
  wrapped_key: r.wrapped_key,
  created_at: r.created_at,
  destroyed_at: r.destroyed_at,
});

export const KEY_COLUMNS =
  'tenant, kid, purpose, alg, public_key, wrapped_private_key, state, not_before, not_after, revoked_at, created_at';
export const RECEIPT_COLUMNS = 'seq, id, ts, kind, correlation_id, leaf, leaf_hash';

export interface AgentDbRow extends Omit<AgentRecord, 'roles' | 'capabilities' | 'state' | 'trust_level'> {
  roles: string;
  capabilities: string;
  state: string;
  trust_level: Num;
}
export const toAgent = (r: AgentDbRow): AgentRecord => ({
  tenant: r.tenant,
  id: r.id,
  type: r.type,
  owner: r.owner,
  roles: JSON.parse(r.roles) as string[],
  capabilities: JSON.parse(r.capabilities) as string[],
  trust_level: Number(r.trust_level),
  tier: r.tier,
  state: r.state as AgentState,
  passports_not_before: r.passports_not_before,
  public_key: r.public_key ?? null,
  created_at: r.created_at,
  updated_at: r.updated_at,
});
/** Column values of an agent row, in AGENT_COLUMNS order. */
export const agentValues = (a: AgentRecord): unknown[] => [
  a.tenant, a.id, a.type, a.owner, JSON.stringify(a.roles), JSON.stringify(a.capabilities),
  a.trust_level, a.tier, a.state, a.passports_not_before, a.created_at, a.updated_at, a.public_key,
];
export const AGENT_COLUMNS =
  'tenant, id, type, owner, roles, capabilities, trust_level, tier, state, passports_not_before, created_at, updated_at, public_key';
/** Upsert assignments for every non-key agent column (same text in both dialects). */
export const AGENT_UPSERT =
  'ON CONFLICT (tenant, id) DO UPDATE SET type = excluded.type, owner = excluded.owner, roles = excluded.roles, ' +
  'capabilities = excluded.capabilities, trust_level = excluded.trust_level, tier = excluded.tier, state = excluded.state, ' +
  'passports_not_before = excluded.passports_not_before, created_at = excluded.created_at, updated_at = excluded.updated_at, ' +
  'public_key = excluded.public_key';

export const toRevokedPassport = (r: RevokedPassportRecord): RevokedPassportRecord => ({
  tenant: r.tenant,
  jti: r.jti,
  expires_at: r.expires_at,
  revoked_at: r.revoked_at,
});
export const REVOKED_COLUMNS = 'tenant, jti, expires_at, revoked_at';

export interface OperatorDbRow extends Omit<OperatorRecord, 'roles' | 'state'> { roles: string; state: string }
export const toOperator = (r: OperatorDbRow): OperatorRecord => ({
  tenant: r.tenant,
  id: r.id,
  display_name: r.display_name,
  roles: JSON.parse(r.roles) as string[],
  state: r.state as OperatorState,
  created_at: r.created_at,
  updated_at: r.updated_at,
});
export const OPERATOR_COLUMNS = 'tenant, id, display_name, roles, state, created_at, updated_at';
/** Column values of an operator row, in OPERATOR_COLUMNS order. */
export const operatorValues = (o: OperatorRecord): unknown[] => [
  o.tenant, o.id, o.display_name, JSON.stringify(o.roles), o.state, o.created_at, o.updated_at,
];
export const OPERATOR_UPSERT =
  'ON CONFLICT (tenant, id) DO UPDATE SET display_name = excluded.display_name, roles = excluded.roles, ' +
  'state = excluded.state, created_at = excluded.created_at, updated_at = excluded.updated_at';

export const toApiToken = (r: ApiTokenRecord): ApiTokenRecord => ({
  token_id: r.token_id,
  tenant: r.tenant,
  operator_id: r.operator_id,
  hash: r.hash,
  created_at: r.created_at,
  expires_at: r.expires_at,
  revoked_at: r.revoked_at,
});
export const API_TOKEN_COLUMNS = 'token_id, tenant, operator_id, hash, created_at, expires_at, revoked_at';
export const apiTokenValues = (t: ApiTokenRecord): unknown[] => [
  t.token_id, t.tenant, t.operator_id, t.hash, t.created_at, t.expires_at, t.revoked_at,
];

export const RECORD_COLUMNS = 'tenant, kind, id, state, created_at, updated_at, body';
export const RECORD_UPSERT =
  'ON CONFLICT (tenant, kind, id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, body = excluded.body';
export function stateConflict(r: StateRecord, expected: string, found: string | undefined): StoreError {
  return new StoreError(
    `${r.kind} ${r.id} is ${found ?? 'missing'}, expected ${expected} (changed concurrently)`,
    { code: found === undefined ? 'NOT_FOUND' : 'CONFLICT' },
  );
}
export const recordValues = (r: StateRecord): unknown[] => [r.tenant, r.kind, r.id, r.state, r.created_at, r.updated_at, r.body];
/** `listRecords` limit: default 100, clamped to 1..10 000. */
export function recordLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new StoreError(`limit must be a positive integer, got ${String(limit)}`);
  return Math.min(limit, 10_000);
}

export const EVENT_COLUMNS = 'cursor, tenant, id, ts, severity, category, agent, correlation_id, body';

/**
 * The WHERE clause and parameters of an event query, for either dialect (`ph(i)` renders the
 * i-th placeholder). Every value is a bound parameter; only fixed SQL is concatenated.
 */
export function eventWhere(q: EventQuery, ph: (i: number) => string, collate = ''): { where: string; params: unknown[]; limit: number } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(sql(ph(params.length)));
  };
  const inList = (column: string, values: readonly string[]) => {
    const phs = values.map((v) => {
      params.push(v);
      return ph(params.length);
    });
    clauses.push(`${column} IN (${phs.join(', ')})`);
  };
  if (q.tenant !== undefined) add((p) => `tenant = ${p}`, q.tenant);
  if (q.after !== undefined) add((p) => `cursor > ${p}`, q.after);
  if (q.before !== undefined) add((p) => `cursor < ${p}`, q.before);
  if (q.since !== undefined) add((p) => `ts${collate} >= ${p}`, q.since);
  if (q.until !== undefined) add((p) => `ts${collate} <= ${p}`, q.until);
  if (q.severities?.length) inList('severity', q.severities);
  if (q.categories?.length) inList('category', q.categories);
  if (q.agent !== undefined) add((p) => `agent = ${p}`, q.agent);
  if (q.correlation_id !== undefined) add((p) => `correlation_id = ${p}`, q.correlation_id);
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params, limit: recordLimit(q.limit) };
}

export function toEventRow(r: EventRow): EventRow {
  return { ...r, cursor: Number(r.cursor) }; // PostgreSQL returns BIGSERIAL as a string
}
