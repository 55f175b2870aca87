/**
 * Policy versions per tenant. A version is the content hash of its text (`sha256:<hex>`); the
 * texts are state records of kind `policy` (id = version) and the active version is the
 * `policy_head` record `active`. Every deploy and rollback is a `kind: "policy"` receipt
 * committed in the same transaction as the records it changes (ledger.append, system), so the
 * log says which version was active when.
 *
 * `active()` is the hot path: it answers from a per-tenant cache, which this process updates
 * when it deploys or rolls back, and which re-reads the head record at most `refreshMs` after
 * the last check — a deploy by another process (CLI, another server) takes effect within that
 * time, without a restart.
 */
import { BadInputError, StoreError, WardenError } from '../errors.js';
import { KeyedSerialiser } from '../identity/serial.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Receipt } from '../ledger/receipt.js';
import type { Mutation, StateRecord, Store } from '../store/types.js';
import { compilePolicyAsync, diffPolicies, policyVersion, type CompiledPolicy } from './engine.js';

export const POLICY_KIND = 'policy';
export const POLICY_HEAD_KIND = 'policy_head';
export const POLICY_HEAD_ID = 'active';
const VERSION = /^sha256:[0-9a-f]{64}$/;
const COMPILED_CACHE = 8;

export interface PolicyChangeContext {
  actor?: { human?: string | null; agent?: string | null; service?: string | null };
  reason?: string;
}

export interface PolicyVersionInfo {
  version: string;
  created_at: string;
  created_by: string | null;
  policy_count: number;
  active: boolean;
}

export interface PolicyVersion extends PolicyVersionInfo {
  text: string;
}

export interface PolicyHead {
  version: string;
  previous: string | null;
  activated_at: string;
}

export interface ActivePolicy {
  version: string;
  policy: CompiledPolicy;
}

export interface PolicyChange {
  version: string;
  /** false: that version was already active (nothing written). */
  changed: boolean;
  previous: string | null;
  receipt?: Receipt;
}

interface PolicyBody {
  text: string;
  created_at: string;
  created_by: string | null;
  policy_count: number;
}

interface CacheEntry {
  value: ActivePolicy | undefined;
  /** A version that could not be loaded: rethrown until the next check (no recompiling per request). */
  error?: unknown;
  checkedAt: number;
}

function parseBody<T>(r: StateRecord): T {
  try {
    return JSON.parse(r.body) as T;
  } catch (err) {
    throw new StoreError(`stored ${r.kind} record ${r.id} of tenant ${r.tenant} is not valid JSON`, { cause: err });
  }
}

function actorName(ctx: PolicyChangeContext): string | null {
  return ctx.actor?.human ?? ctx.actor?.agent ?? ctx.actor?.service ?? null;
}

export class PolicyStore {
  readonly #serial = new KeyedSerialiser();
  readonly #cache = new Map<string, CacheEntry>();
  readonly #loading = new Map<string, Promise<ActivePolicy | undefined>>();
  /** Compiled versions, most recently used last (compiling 1 000 policies takes a while). */
  readonly #compiled = new Map<string, CompiledPolicy>();
  /** Bumped by every change this process commits, so a slower concurrent reload cannot undo it. */
  readonly #generation = new Map<string, number>();
  readonly #refreshMs: number;

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    options: { refreshMs?: number } = {},
  ) {
    this.#refreshMs = options.refreshMs ?? 1000;
  }

  /** The tenant's active policy, or undefined when none was ever deployed (callers deny). */
  async active(tenant: string): Promise<ActivePolicy | undefined> {
    const c = this.#cache.get(tenant);
    if (c && Date.now() - c.checkedAt < this.#refreshMs) {
      if (c.error !== undefined) throw c.error;
      return c.value;
    }
    let loading = this.#loading.get(tenant);
    if (!loading) {
      loading = this.#reload(tenant, c).finally(() => this.#loading.delete(tenant));
      this.#loading.set(tenant, loading);
    }
    return loading;
  }

  async #reload(tenant: string, prev: CacheEntry | undefined): Promise<ActivePolicy | undefined> {
    const checkedAt = Date.now();
    const generation = this.#generation.get(tenant) ?? 0;
    const head = await this.head(tenant);
    let value: ActivePolicy | undefined;
    if (head) {
      try {
        value = prev?.value?.version === head.version ? prev.value : { version: head.version, policy: await this.#load(tenant, head.version) };
      } catch (err) {
        // Store errors are retried at once; a stored version that cannot be used is not
        // recompiled on every request (callers deny meanwhile).
        if (err instanceof WardenError && err.code !== 'STORE_ERROR' && (this.#generation.get(tenant) ?? 0) === generation) {
          this.#cache.set(tenant, { value: undefined, error: err, checkedAt });
        }
        throw err;
      }
    }
    // A deploy or rollback by this process while we were reading wins.
    if ((this.#generation.get(tenant) ?? 0) !== generation) return this.#cache.get(tenant)?.value;
    this.#cache.set(tenant, { value, checkedAt });
    return value;
  }

  /** The active-version pointer. */
  async head(tenant: string): Promise<PolicyHead | undefined> {
    const r = await this.store.getRecord(tenant, POLICY_HEAD_KIND, POLICY_HEAD_ID);
    return r ? parseBody<PolicyHead>(r) : undefined;
  }

  async #load(tenant: string, version: string): Promise<CompiledPolicy> {
    const hit = this.#compiled.get(version);
    if (hit) {
      this.#remember(hit);
      return hit;
    }
    const r = await this.store.getRecord(tenant, POLICY_KIND, version);
    if (!r) throw new StoreError(`tenant ${tenant}: policy version ${version} is missing from the store`);
    const { text } = parseBody<PolicyBody>(r);
    if (policyVersion(text) !== version) throw new StoreError(`tenant ${tenant}: stored policy ${version} does not match its hash`);
    const compiled = await compilePolicyAsync(text);
    this.#remember(compiled);
    return compiled;
  }

  #remember(p: CompiledPolicy): void {
    this.#compiled.delete(p.version);
    this.#compiled.set(p.version, p);
    while (this.#compiled.size > COMPILED_CACHE) this.#compiled.delete(this.#compiled.keys().next().value as string);
  }

  async #compile(text: string): Promise<CompiledPolicy> {
    if (typeof text !== 'string') throw new BadInputError('policy text: expected a string');
    const version = policyVersion(text);
    const hit = this.#compiled.get(version);
    if (hit && hit.text === text) return hit;
    const compiled = await compilePolicyAsync(text);
    this.#remember(compiled);
    return compiled;
  }

  /**
   * Validates and activates a policy text. Deploying the active version again changes nothing;
   * deploying an older version again re-activates it (like a rollback, but receipted as a deploy).
   */
  async deploy(tenant: string, text: string, ctx: PolicyChangeContext = {}): Promise<PolicyChange> {
    const compiled = await this.#compile(text);
    return this.#serial.run(tenant, async () => {
      const head = await this.head(tenant);
      if (head?.version === compiled.version) return { version: compiled.version, changed: false, previous: head.previous };
      const now = new Date().toISOString();
      const mutations: Mutation[] = [];
      if (!(await this.store.getRecord(tenant, POLICY_KIND, compiled.version))) {
        const body: PolicyBody = { text, created_at: now, created_by: actorName(ctx), policy_count: compiled.size };
        mutations.push({
          op: 'putRecord',
          record: { tenant, kind: POLICY_KIND, id: compiled.version, state: 'stored', created_at: now, updated_at: now, body: JSON.stringify(body) },
        });
      }
      return this.#activate(tenant, compiled, head, now, mutations, 'policy.deploy', ctx);
    });
  }

  /** Re-activates `version` (default: the version active before the current one). */
  async rollback(tenant: string, version?: string, ctx: PolicyChangeContext = {}): Promise<PolicyChange> {
    return this.#serial.run(tenant, async () => {
      const head = await this.head(tenant);
      if (!head) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no policy deployed`);
      const target = version === undefined ? head.previous : await this.resolve(tenant, version);
      if (!target) throw new WardenError('CONFLICT', `tenant ${tenant}: no previous policy version to roll back to`);
      if (target === head.version) return { version: target, changed: false, previous: head.previous };
      if (!(await this.store.getRecord(tenant, POLICY_KIND, target))) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no policy version ${target}`);
      // Compiled again: the stored text must still validate against this Warden's schema.
      const compiled = await this.#load(tenant, target);
      return this.#activate(tenant, compiled, head, new Date().toISOString(), [], 'policy.rollback', ctx);
    });
  }

  async #activate(
    tenant: string,
    compiled: CompiledPolicy,
    head: PolicyHead | undefined,
    now: string,
    mutations: Mutation[],
    action: string,
    ctx: PolicyChangeContext,
  ): Promise<PolicyChange> {
    const next: PolicyHead = { version: compiled.version, previous: head?.version ?? null, activated_at: now };
    mutations.push({
      op: 'putRecord',
      record: { tenant, kind: POLICY_HEAD_KIND, id: POLICY_HEAD_ID, state: 'active', created_at: now, updated_at: now, body: JSON.stringify(next) },
    });
    const [receipt] = await this.ledger.append(
      tenant,
      [{
        kind: POLICY_KIND,
        action,
        resource: `policy:${compiled.version}`,
        decision: null,
        reasons: ctx.reason ? [ctx.reason] : [],
        actor: ctx.actor ?? {},
        policy_version: compiled.version,
        payload: { version: compiled.version, previous: next.previous, policy_count: compiled.size },
      }],
      { mutations, system: true },
    );
    this.#generation.set(tenant, (this.#generation.get(tenant) ?? 0) + 1);
    this.#cache.set(tenant, { value: { version: compiled.version, policy: compiled }, checkedAt: Date.now() });
    return { version: compiled.version, changed: true, previous: next.previous, ...(receipt ? { receipt } : {}) };
  }

  /** Versions of the tenant, newest first. */
  async list(tenant: string): Promise<PolicyVersionInfo[]> {
    const [rows, head] = await Promise.all([this.store.listRecords(tenant, POLICY_KIND, { limit: 10_000 }), this.head(tenant)]);
    return rows.map((r) => {
      const b = parseBody<PolicyBody>(r);
      return { version: r.id, created_at: b.created_at, created_by: b.created_by, policy_count: b.policy_count, active: r.id === head?.version };
    });
  }

  /** One stored version (a full version id, or a unique prefix of its hex; see {@link resolve}). */
  async get(tenant: string, version: string): Promise<PolicyVersion> {
    const id = await this.resolve(tenant, version);
    const r = await this.store.getRecord(tenant, POLICY_KIND, id);
    if (!r) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no policy version ${version}`);
    const b = parseBody<PolicyBody>(r);
    const head = await this.head(tenant);
    return { version: id, text: b.text, created_at: b.created_at, created_by: b.created_by, policy_count: b.policy_count, active: id === head?.version };
  }

  /**
   * A full version id from `ref`: `active`, a full `sha256:<hex>`, or a unique prefix of at least
   * 6 hex digits (with or without `sha256:`).
   */
  async resolve(tenant: string, ref: string): Promise<string> {
    if (ref === 'active') {
      const head = await this.head(tenant);
      if (!head) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no policy deployed`);
      return head.version;
    }
    if (VERSION.test(ref)) return ref;
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (!/^[0-9a-f]{6,63}$/.test(hex)) throw new BadInputError(`invalid policy version ${JSON.stringify(ref)} (expected sha256:<64 hex>, a prefix of at least 6 hex digits, or "active")`);
    const matches = (await this.store.listRecords(tenant, POLICY_KIND, { limit: 10_000 })).filter((r) => r.id.startsWith(`sha256:${hex}`));
    if (matches.length === 0) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no policy version ${ref}`);
    if (matches.length > 1) throw new BadInputError(`policy version ${ref} is ambiguous (${matches.length} versions match)`);
    return (matches[0] as StateRecord).id;
  }

  /** Policy ids added, removed and changed from text `a` to text `b`. */
  diff(a: string, b: string): { added: string[]; removed: string[]; changed: string[]; unchanged: number } {
    return diffPolicies(a, b);
  }
}
