/**
 * Operators: the humans who administer a tenant. Local accounts authenticate with API tokens
 * `wdn_<token_id>_<secret>` — token_id is 12 random bytes and secret 32 random bytes (256
 * bits), both base64url. Only SHA-256(secret) is stored; the token is returned exactly once.
 * Verification looks the row up by token_id, compares hashes in constant time and checks
 * expiry, revocation and the operator's state; every failure gives the same reason.
 *
 * Every change (operator created or disabled, token issued or revoked) is a `kind: "operator"`
 * receipt committed in the same store transaction as its mutation, as agents are.
 *
 * RBAC: each role maps to a set of permissions; an operator may do what one of its roles
 * permits and nothing else (default deny).
 */
import { KeyedSerialiser } from './serial.js';
import { AuthAudit } from './audit.js';
import { SecurityEvents } from '../events/security-events.js';
import { createHash, randomBytes } from 'node:crypto';
import { secretEquals } from '../crypto/compare.js';
import { AuthError, BadInputError, ConfigError, WardenError } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ApiTokenRecord, Mutation, OperatorRecord, Store } from '../store/types.js';
import { AGENT_ID, type ChangeContext } from './agents.js';

export const PERMISSIONS = [
  'agents:read',
  'agents:write',
  'passports:issue',
  'passports:revoke',
  'operators:read',
  'operators:write',
  'ledger:read',
  'policy:read',
  'policy:write',
  'approvals:read',
  'approvals:resolve',
  'decisions:read',
  'events:read',
  'incidents:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Permissions whose refusal is evented as `privilege_escalation` (role, policy and credential changes). */
const ESCALATION_PERMISSIONS: ReadonlySet<string> = new Set(['operators:write', 'policy:write', 'passports:issue', 'incidents:write']);

/**
 * Built-in roles. Resolving an approval also needs the role the policy names in
 * `@approval("role")`: `approvals:resolve` alone is not enough.
 */
export const BUILTIN_ROLES: Readonly<Record<string, readonly Permission[]>> = {
  admin: PERMISSIONS,
  operator: [
    'agents:read', 'agents:write', 'passports:issue', 'passports:revoke', 'operators:read', 'ledger:read',
    'policy:read', 'approvals:read', 'decisions:read', 'events:read', 'incidents:write',
  ],
  developer: ['agents:read', 'agents:write', 'passports:issue', 'ledger:read', 'policy:read', 'decisions:read'],
  viewer: ['agents:read', 'operators:read', 'ledger:read', 'policy:read', 'approvals:read', 'decisions:read', 'events:read'],
  approver: ['agents:read', 'ledger:read', 'approvals:read', 'approvals:resolve', 'decisions:read'],
};

export const OPERATOR_ID = AGENT_ID;
export const TOKEN_PREFIX = 'wdn_';
/** `wdn_` + 16 chars (12 bytes) + `_` + 43 chars (32 bytes): fixed lengths, so `_` inside either part is unambiguous. */
const TOKEN_FORMAT = /^wdn_([A-Za-z0-9_-]{16})_([A-Za-z0-9_-]{43})$/;
const TOKEN_ID_FORMAT = /^[A-Za-z0-9_-]{16}$/;
export const MAX_TOKEN_TTL_MS = 365 * 86_400_000;
const INVALID = 'invalid or expired token';

export interface OperatorOptions {
  /** Default API token lifetime (ms). */
  tokenTtlMs: number;
  /** Custom roles from config: name → permissions. */
  customRoles?: Readonly<Record<string, readonly string[]>>;
}

export interface OperatorInput {
  id: string;
  display_name?: string | null;
  roles?: readonly string[];
}

export interface IssuedApiToken {
  /** The full token; shown once, never stored. */
  token: string;
  token_id: string;
  operator_id: string;
  expires_at: string;
}

export interface AuthenticatedOperator {
  tenant: string;
  operator: OperatorRecord;
  token_id: string;
}

function sha256(b: string): Buffer {
  return createHash('sha256').update(b).digest();
}

export function assertOperatorId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !OPERATOR_ID.test(id)) {
    throw new BadInputError(`invalid operator id ${JSON.stringify(id)}: expected 1-63 of a-z, 0-9, '_', '.', '-' starting with a letter or digit`);
  }
}

function tokenPayload(t: ApiTokenRecord): Record<string, string | null> {
  return { token_id: t.token_id, operator_id: t.operator_id, expires_at: t.expires_at, revoked_at: t.revoked_at };
}

function operatorPayload(o: OperatorRecord): Record<string, string | string[] | null> {
  return { id: o.id, display_name: o.display_name, roles: o.roles, state: o.state };
}

export class OperatorRegistry {
  readonly #roles = new Map<string, ReadonlySet<Permission>>();
  readonly #serial = new KeyedSerialiser();
  readonly #ttlMs: number;

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    options: OperatorOptions,
    private readonly audit: AuthAudit = new AuthAudit(store, ledger, new SecurityEvents()),
  ) {
    if (!Number.isInteger(options.tokenTtlMs) || options.tokenTtlMs < 1000 || options.tokenTtlMs > MAX_TOKEN_TTL_MS) {
      throw new ConfigError('identity.operator_token_ttl: expected at most 365d');
    }
    this.#ttlMs = options.tokenTtlMs;
    for (const [name, perms] of Object.entries(BUILTIN_ROLES)) this.#roles.set(name, new Set(perms));
    for (const [name, perms] of Object.entries(options.customRoles ?? {})) {
      if (this.#roles.has(name)) throw new ConfigError(`identity.roles.${name}: built-in roles cannot be redefined`);
      for (const p of perms) {
        if (!(PERMISSIONS as readonly string[]).includes(p)) {
          throw new ConfigError(`identity.roles.${name}: unknown permission "${p}" (known: ${PERMISSIONS.join(', ')})`);
        }
      }
      this.#roles.set(name, new Set(perms as Permission[]));
    }
  }

  /** Names of every role (built-in and custom). */
  roleNames(): string[] {
    return [...this.#roles.keys()];
  }

  /** The union of the roles' permissions (unknown roles grant nothing). */
  permissionsOf(roles: readonly string[]): Set<Permission> {
    const out = new Set<Permission>();
    for (const r of roles) for (const p of this.#roles.get(r) ?? []) out.add(p);
    return out;
  }

  /** Default deny: throws FORBIDDEN unless one of the operator's roles grants `permission`. */
  authorize(op: { roles: readonly string[] }, permission: Permission): void {
    if (!this.permissionsOf(op.roles).has(permission)) throw new AuthError(`permission ${permission} required`, { forbidden: true });
  }

  #checkRoles(roles: unknown): string[] {
    if (!Array.isArray(roles) || roles.length === 0 || roles.length > 16) throw new BadInputError('roles: expected 1-16 roles');
    for (const r of roles) {
      if (typeof r !== 'string' || !this.#roles.has(r)) {
        throw new BadInputError(`unknown role ${JSON.stringify(r)} (known: ${this.roleNames().join(', ')})`);
      }
    }
    return [...new Set(roles as string[])];
  }

  async get(tenant: string, id: string): Promise<OperatorRecord> {
    assertOperatorId(id);
    const o = await this.store.getOperator(tenant, id);
    if (!o) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no operator "${id}"`);
    return o;
  }

  list(tenant: string): Promise<OperatorRecord[]> {
    return this.store.listOperators(tenant);
  }

  listTokens(tenant: string, operatorId?: string): Promise<ApiTokenRecord[]> {
    return this.store.listApiTokens(tenant, operatorId);
  }

  /**
   * Creates an operator; with `withToken` its first API token is issued in the same
   * transaction and returned (the only time it is visible).
   */
  async create(
    tenant: string,
    input: OperatorInput,
    ctx: ChangeContext & { withToken?: boolean; ttlMs?: number } = {},
  ): Promise<{ operator: OperatorRecord; token?: IssuedApiToken }> {
    assertOperatorId(input.id);
    const roles = this.#checkRoles(input.roles ?? ['viewer']);
    const name = input.display_name ?? null;
    if (name !== null && (typeof name !== 'string' || name.length === 0 || name.length > 256 || [...name].some((c) => c < ' '))) {
      throw new BadInputError('display name: expected 1-256 printable characters');
    }
    return this.#serial.run(tenant, async () => {
      if (await this.store.getOperator(tenant, input.id)) throw new WardenError('CONFLICT', `operator "${input.id}" already exists`);
      const now = new Date();
      const operator: OperatorRecord = {
        tenant, id: input.id, display_name: name, roles, state: 'active', created_at: now.toISOString(), updated_at: now.toISOString(),
      };
      const entries = [this.#entry(ctx, 'operator.create', `operator:${operator.id}`, { operator: operatorPayload(operator) })];
      const mutations: Mutation[] = [{ op: 'putOperator', operator }];
      let token: IssuedApiToken | undefined;
      if (ctx.withToken) {
        const t = this.#newToken(tenant, operator.id, ctx.ttlMs, now);
        token = t.issued;
        entries.push(this.#entry(ctx, 'operator.token.create', `operator:${operator.id}`, { token: tokenPayload(t.record) }));
        mutations.push({ op: 'putApiToken', token: t.record });
      }
      await this.ledger.append(tenant, entries, { mutations, system: true });
      return token ? { operator, token } : { operator };
    });
  }

  async disable(tenant: string, id: string, ctx: ChangeContext = {}): Promise<OperatorRecord> {
    assertOperatorId(id);
    return this.#serial.run(tenant, async () => {
      const cur = await this.get(tenant, id);
      if (cur.state === 'disabled') throw new WardenError('CONFLICT', `operator "${id}" is already disabled`);
      const operator: OperatorRecord = { ...cur, state: 'disabled', updated_at: new Date().toISOString() };
      await this.ledger.append(
        tenant,
        [this.#entry(ctx, 'operator.disable', `operator:${id}`, { operator: operatorPayload(operator) })],
        { mutations: [{ op: 'putOperator', operator }], system: true },
      );
      return operator;
    });
  }

  /** Issues a new API token for an active operator; the token is returned once, only its hash kept. */
  async issueToken(tenant: string, operatorId: string, ctx: ChangeContext & { ttlMs?: number } = {}): Promise<IssuedApiToken> {
    const op = await this.get(tenant, operatorId);
    if (op.state !== 'active') throw new WardenError('FORBIDDEN', `operator "${operatorId}" is ${op.state}`);
    const t = this.#newToken(tenant, op.id, ctx.ttlMs, new Date());
    await this.ledger.append(
      tenant,
      [this.#entry(ctx, 'operator.token.create', `operator:${op.id}`, { token: tokenPayload(t.record) })],
      { mutations: [{ op: 'putApiToken', token: t.record }], system: true },
    );
    return t.issued;
  }

  /** Revokes a token of the tenant (idempotent: the first revocation time is kept). */
  async revokeToken(tenant: string, tokenId: string, ctx: ChangeContext = {}): Promise<ApiTokenRecord> {
    if (typeof tokenId !== 'string' || !TOKEN_ID_FORMAT.test(tokenId)) throw new BadInputError('invalid token id');
    const row = await this.store.getApiToken(tokenId);
    if (!row || row.tenant !== tenant) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no API token "${tokenId}"`);
    const now = new Date().toISOString();
    const revoked = { ...row, revoked_at: row.revoked_at ?? now };
    await this.ledger.append(
      tenant,
      [this.#entry(ctx, 'operator.token.revoke', `operator:${row.operator_id}`, { token: tokenPayload(revoked) })],
      { mutations: [{ op: 'revokeApiToken', tenant, token_id: tokenId, revoked_at: now }], system: true },
    );
    return revoked;
  }

  /**
   * First start: when the tenant has no operator, creates `admin` (role admin) with an API
   * token and returns the token; otherwise undefined. Safe against a concurrent bootstrap in
   * another process (the loser gets a CONFLICT and returns undefined).
   */
  async bootstrap(tenant = 'default'): Promise<IssuedApiToken | undefined> {
    if ((await this.store.listOperators(tenant)).length > 0) return undefined;
    try {
      const { token } = await this.create(tenant, { id: 'admin', display_name: 'bootstrap administrator', roles: ['admin'] }, {
        withToken: true,
        actor: { service: 'warden-bootstrap' },
        reason: 'first start: no operator',
      });
      return token;
    } catch (err) {
      if (err instanceof WardenError && err.code === 'CONFLICT') return undefined;
      throw err;
    }
  }

  /** Whether a bearer credential has the operator token shape (vs a passport JWT). */
  static isOperatorToken(token: string): boolean {
    return token.startsWith(TOKEN_PREFIX);
  }

  /**
   * Verifies an API token. Every failure is AUTH_FAILED "invalid or expired token"; when the
   * token id names a stored token, the failure is receipted in that token's tenant.
   */
  async authenticate(token: string, context: { correlationId?: string } = {}): Promise<AuthenticatedOperator> {
    const m = typeof token === 'string' && token.length <= 128 ? TOKEN_FORMAT.exec(token) : null;
    if (!m) throw new AuthError(INVALID);
    const tokenId = m[1] as string;
    const presented = sha256(m[2] as string);
    const row = await this.store.getApiToken(tokenId);
    // Compare even without a row, so a miss costs about what a hit does.
    const hashOk = secretEquals(presented, row?.hash ?? Buffer.alloc(32));
    if (!row) throw new AuthError(INVALID);
    let failure: string | undefined;
    let op: OperatorRecord | undefined;
    if (!hashOk) failure = 'secret mismatch';
    else if (row.revoked_at !== null) failure = 'token revoked';
    else if (Date.parse(row.expires_at) <= Date.now()) failure = 'token expired';
    else {
      op = await this.store.getOperator(row.tenant, row.operator_id);
      if (!op) failure = 'operator unknown';
      else if (op.state !== 'active') failure = `operator ${op.state}`;
    }
    if (failure !== undefined || !op) {
      await this.recordDeny(row.tenant, { human: row.operator_id }, 'operator.authenticate', `operator:${row.operator_id}`, INVALID, {
        token_id: row.token_id, detail: failure ?? 'operator unknown',
      }, context.correlationId);
      throw new AuthError(INVALID);
    }
    return { tenant: row.tenant, operator: op, token_id: row.token_id };
  }

  /** Receipts and events an `auth` deny; never throws (recording must not turn a 401 into a 500). */
  async recordDeny(
    tenant: string,
    actor: { human?: string | null; agent?: string | null; service?: string | null },
    action: string,
    resource: string,
    reason: string,
    payload: Record<string, string | null>,
    correlationId?: string,
  ): Promise<void> {
    // Trying to change roles, policy or keys without the right is an escalation attempt, not a typo.
    const escalation = action === 'operator.authorize' && ESCALATION_PERMISSIONS.has(payload.permission ?? '');
    const category = reason === 'cross_tenant' ? 'cross_tenant' : escalation ? 'privilege_escalation' : action === 'operator.authorize' ? 'authorization_denied' : 'auth_failure';
    await this.audit.deny({ tenant, actor, action, resource, reason, payload, correlationId, category, severity: category === 'cross_tenant' || escalation ? 'high' : 'medium' });
  }

  #newToken(tenant: string, operatorId: string, ttlMs: number | undefined, now: Date): { record: ApiTokenRecord; issued: IssuedApiToken } {
    const ttl = ttlMs ?? this.#ttlMs;
    if (!Number.isInteger(ttl) || ttl < 1000) throw new BadInputError('token ttl must be at least 1s');
    if (ttl > MAX_TOKEN_TTL_MS) throw new BadInputError('token ttl must be at most 365d');
    const tokenId = randomBytes(12).toString('base64url');
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + ttl).toISOString();
    const record: ApiTokenRecord = {
      token_id: tokenId, tenant, operator_id: operatorId, hash: sha256(secret),
      created_at: now.toISOString(), expires_at: expiresAt, revoked_at: null,
    };
    return { record, issued: { token: `${TOKEN_PREFIX}${tokenId}_${secret}`, token_id: tokenId, operator_id: operatorId, expires_at: expiresAt } };
  }

  #entry(ctx: ChangeContext, action: string, resource: string, payload: Record<string, unknown>) {
    return {
      kind: 'operator',
      action,
      resource,
      decision: null,
      reasons: ctx.reason ? [ctx.reason] : [],
      actor: ctx.actor ?? {},
      payload,
    };
  }
}
