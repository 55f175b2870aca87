/**
 * Versioned schema migrations for both dialects. The version lives in `schema_meta` (one row);
 * each store applies the pending steps on open inside one transaction, and refuses a database
 * written by a newer Warden rather than guessing at a schema it does not know.
 *
 * Rules: never edit a released step — append a new one. Both dialects get the same step
 * numbers so the conformance suite proves they stay equivalent.
 */
import { StoreError } from '../errors.js';

export interface Migration {
  version: number;
  description: string;
  sqlite: readonly string[];
  postgres: readonly string[];
}

/** Timestamps are TEXT in both dialects: RFC 3339 strings round-trip byte for byte. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tenants, keys, log heads, receipts, checkpoints, data keys',
    // STRICT tables make SQLite reject values of the wrong type instead of silently coercing.
    sqlite: [
      `CREATE TABLE tenants (
        name TEXT PRIMARY KEY, origin TEXT NOT NULL, created_at TEXT NOT NULL) STRICT`,
      `CREATE TABLE keys (
        tenant TEXT NOT NULL REFERENCES tenants(name), kid TEXT NOT NULL,
        purpose TEXT NOT NULL CHECK (purpose IN ('receipt', 'note', 'passport')),
        alg TEXT NOT NULL CHECK (alg = 'Ed25519'),
        public_key BLOB NOT NULL, wrapped_private_key BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired', 'revoked')),
        not_before TEXT NOT NULL, not_after TEXT, revoked_at TEXT, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, kid)) STRICT`,
      `CREATE TABLE log_heads (
        tenant TEXT PRIMARY KEY REFERENCES tenants(name),
        size INTEGER NOT NULL CHECK (size >= 0),
        last_leaf_hash BLOB NOT NULL CHECK (length(last_leaf_hash) = 32),
        key_epoch INTEGER NOT NULL DEFAULT 0) STRICT`,
      // No foreign key on the hot insert path: append reads the tenant's log_heads row (which
      // references tenants) inside the same transaction, so an unknown tenant never gets here.
      `CREATE TABLE receipts (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL CHECK (seq >= 0),
        id TEXT NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL, correlation_id TEXT,
        leaf TEXT NOT NULL, leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
        PRIMARY KEY (tenant, seq), UNIQUE (tenant, id)) STRICT`,
      `CREATE INDEX receipts_correlation ON receipts (tenant, correlation_id)`,
      `CREATE TABLE checkpoints (
        tenant TEXT NOT NULL REFERENCES tenants(name), size INTEGER NOT NULL CHECK (size >= 0),
        root_hash BLOB NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, size)) STRICT`,
      `CREATE TABLE data_keys (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        wrapped_key BLOB, created_at TEXT NOT NULL, destroyed_at TEXT,
        PRIMARY KEY (tenant, id)) STRICT`,
    ],
    postgres: [
      `CREATE TABLE tenants (
        name TEXT PRIMARY KEY, origin TEXT NOT NULL, created_at TEXT NOT NULL)`,
      `CREATE TABLE keys (
        tenant TEXT NOT NULL REFERENCES tenants(name), kid TEXT NOT NULL,
        purpose TEXT NOT NULL CHECK (purpose IN ('receipt', 'note', 'passport')),
        alg TEXT NOT NULL CHECK (alg = 'Ed25519'),
        public_key BYTEA NOT NULL, wrapped_private_key BYTEA NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired', 'revoked')),
        not_before TEXT NOT NULL, not_after TEXT, revoked_at TEXT, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, kid))`,
      `CREATE TABLE log_heads (
        tenant TEXT PRIMARY KEY REFERENCES tenants(name),
        size BIGINT NOT NULL CHECK (size >= 0),
        last_leaf_hash BYTEA NOT NULL CHECK (octet_length(last_leaf_hash) = 32),
        key_epoch BIGINT NOT NULL DEFAULT 0)`,
      `CREATE TABLE receipts (
        tenant TEXT NOT NULL REFERENCES tenants(name), seq BIGINT NOT NULL CHECK (seq >= 0),
        id TEXT NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL, correlation_id TEXT,
        leaf TEXT NOT NULL, leaf_hash BYTEA NOT NULL CHECK (octet_length(leaf_hash) = 32),
        PRIMARY KEY (tenant, seq), UNIQUE (tenant, id))`,
      `CREATE INDEX receipts_correlation ON receipts (tenant, correlation_id)`,
      `CREATE TABLE checkpoints (
        tenant TEXT NOT NULL REFERENCES tenants(name), size BIGINT NOT NULL CHECK (size >= 0),
        root_hash BYTEA NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, size))`,
      `CREATE TABLE data_keys (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        wrapped_key BYTEA, created_at TEXT NOT NULL, destroyed_at TEXT,
        PRIMARY KEY (tenant, id))`,
    ],
  },
  {
    version: 2,
    description: 'agents and revoked passports',
    sqlite: [
      `CREATE TABLE agents (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        type TEXT NOT NULL, owner TEXT, roles TEXT NOT NULL, capabilities TEXT NOT NULL,
        trust_level INTEGER NOT NULL, tier TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'quarantined', 'deleted')),
        passports_not_before TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id)) STRICT`,
      `CREATE TABLE revoked_passports (
        tenant TEXT NOT NULL REFERENCES tenants(name), jti TEXT NOT NULL,
        expires_at TEXT NOT NULL, revoked_at TEXT NOT NULL,
        PRIMARY KEY (tenant, jti)) STRICT`,
      `CREATE INDEX revoked_passports_time ON revoked_passports (tenant, revoked_at)`,
    ],
    postgres: [
      `CREATE TABLE agents (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        type TEXT NOT NULL, owner TEXT, roles TEXT NOT NULL, capabilities TEXT NOT NULL,
        trust_level INTEGER NOT NULL, tier TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'quarantined', 'deleted')),
        passports_not_before TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id))`,
      `CREATE TABLE revoked_passports (
        tenant TEXT NOT NULL REFERENCES tenants(name), jti TEXT NOT NULL,
        expires_at TEXT NOT NULL, revoked_at TEXT NOT NULL,
        PRIMARY KEY (tenant, jti))`,
      `CREATE INDEX revoked_passports_time ON revoked_passports (tenant, revoked_at)`,
    ],
  },
  {
    version: 3,
    description: 'operators and API tokens',
    sqlite: [
      `CREATE TABLE operators (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        display_name TEXT, roles TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id)) STRICT`,
      `CREATE TABLE api_tokens (
        token_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, operator_id TEXT NOT NULL,
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT,
        FOREIGN KEY (tenant, operator_id) REFERENCES operators(tenant, id)) STRICT`,
      `CREATE INDEX api_tokens_operator ON api_tokens (tenant, operator_id)`,
    ],
    postgres: [
      `CREATE TABLE operators (
        tenant TEXT NOT NULL REFERENCES tenants(name), id TEXT NOT NULL,
        display_name TEXT, roles TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id))`,
      `CREATE TABLE api_tokens (
        token_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, operator_id TEXT NOT NULL,
        hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
        created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT,
        FOREIGN KEY (tenant, operator_id) REFERENCES operators(tenant, id))`,
      `CREATE INDEX api_tokens_operator ON api_tokens (tenant, operator_id)`,
    ],
  },
  {
    version: 4,
    description: "agents' own public keys (proof of possession)",
    sqlite: [`ALTER TABLE agents ADD COLUMN public_key TEXT`],
    postgres: [`ALTER TABLE agents ADD COLUMN public_key TEXT`],
  },
  {
    version: 5,
    description: 'state records: policy versions, approvals, decisions',
    sqlite: [
      `CREATE TABLE records (
        tenant TEXT NOT NULL REFERENCES tenants(name), kind TEXT NOT NULL, id TEXT NOT NULL,
        state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, id)) STRICT`,
      `CREATE INDEX records_listing ON records (tenant, kind, state, created_at)`,
      `CREATE INDEX records_recent ON records (tenant, kind, created_at)`,
    ],
    postgres: [
      `CREATE TABLE records (
        tenant TEXT NOT NULL REFERENCES tenants(name), kind TEXT NOT NULL, id TEXT NOT NULL,
        state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (tenant, kind, id))`,
      `CREATE INDEX records_listing ON records (tenant, kind, state, created_at COLLATE "C")`,
      `CREATE INDEX records_recent ON records (tenant, kind, created_at COLLATE "C")`,
    ],
  },
  {
    version: 6,
    // Ids are 96 random bits; no unique index on them: every index costs each insert, and events are many.
    description: 'security events (cursor = order of persistence, for paging and SSE resumption)',
    sqlite: [
      `CREATE TABLE events (
        cursor INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, id TEXT NOT NULL,
        ts TEXT NOT NULL, severity TEXT NOT NULL, category TEXT NOT NULL,
        agent TEXT, correlation_id TEXT, body TEXT NOT NULL) STRICT`,
      `CREATE INDEX events_tenant ON events (tenant, cursor)`,
      `CREATE INDEX events_agent ON events (tenant, agent, cursor)`,
      `CREATE INDEX events_correlation ON events (tenant, correlation_id)`,
    ],
    postgres: [
      `CREATE TABLE events (
        cursor BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,
        ts TEXT NOT NULL, severity TEXT NOT NULL, category TEXT NOT NULL,
        agent TEXT, correlation_id TEXT, body TEXT NOT NULL)`,
      `CREATE INDEX events_tenant ON events (tenant, cursor)`,
      `CREATE INDEX events_agent ON events (tenant, agent, cursor)`,
      `CREATE INDEX events_correlation ON events (tenant, correlation_id)`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** One row (id = 1) holding the version; created before anything else so it can be read. */
export const SCHEMA_META_DDL =
  'CREATE TABLE IF NOT EXISTS schema_meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)';

export function tooNewError(found: number): StoreError {
  return new StoreError(
    `database schema version ${found} is newer than this Warden (supports up to ${LATEST_SCHEMA_VERSION}); upgrade Warden`,
    { code: 'STORE_TOO_NEW' },
  );
}

/** Steps still to apply to a database at `current`; throws STORE_TOO_NEW past the latest. */
export function pendingMigrations(current: number): Migration[] {
  if (current > LATEST_SCHEMA_VERSION) throw tooNewError(current);
  return MIGRATIONS.filter((m) => m.version > current).sort((a, b) => a.version - b.version);
}
