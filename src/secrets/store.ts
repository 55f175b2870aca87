/**
 * Warden's secret store: per-tenant named secrets (API keys and the like) that sandboxed tools
 * receive as environment variables at run time, so they never sit in a manifest, a tool's
 * arguments or the parent's environment.
 *
 * At rest each value is AES-256-GCM ciphertext under a key derived (HKDF) from the tenant's data
 * key, with AAD binding tenant, name and version: a ciphertext copied to another name, tenant or
 * version does not open. Destroying the tenant's data keys (crypto-shredding) therefore makes
 * every secret of the tenant unreadable. Every change is a state record committed atomically
 * with a receipt (kind `secret`) whose payload holds the name, the action and the version —
 * never the value, and never a hash of it (an unsalted hash of a short token is a guessing
 * oracle, and would outlive crypto-shredding in the append-only log).
 */
import { open, seal } from '../crypto/aead.js';
import type { PayloadProtector } from '../crypto/envelope.js';
import { BadInputError, KeyError, WardenError } from '../errors.js';
import { KeyedSerialiser } from '../identity/serial.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ActorChain } from '../ledger/receipt.js';
import type { StateRecord, Store } from '../store/types.js';
import { secretNameProblem } from './name.js';

/** State-record and receipt kind of secrets (to be listed in the ledger's RESERVED_KINDS). */
export const SECRET_KIND = 'secret';
/** Largest value, in bytes (UTF-8). Environment variables are not meant for bulk data. */
export const MAX_SECRET_BYTES = 64 * 1024;
/**
 * Most secret records (live and deleted) per tenant. Deleted names keep a tombstone so their
 * version numbers never repeat; the cap keeps `list` a single bounded read.
 */
export const MAX_SECRET_RECORDS = 10_000;
/** The HKDF purpose under which the tenant's data key yields the secrets key. */
const KEY_PURPOSE = 'secrets';

/** What is stored in the state record's body: ciphertext and metadata only. */
interface SecretBody {
  /** base64(iv ‖ tag ‖ ciphertext); null once deleted. */
  ct: string | null;
  version: number;
  updated_at: string;
}

/** A secret as listed: never its value. */
export interface SecretInfo {
  name: string;
  /** 1 for the first value, +1 for every change (a deleted name set again continues the count). */
  version: number;
  created_at: string;
  updated_at: string;
}

/** The result of `set` or `delete`, with the receipt that records it. */
export interface SecretChange extends SecretInfo {
  action: 'set' | 'delete';
  receipt: { seq: number; id: string };
}

/** Who changes a secret, and why (both go into the receipt). */
export interface SecretChangeContext {
  actor?: Partial<ActorChain>;
  reason?: string;
  correlation_id?: string;
}

/** The record state carries the version so that every change is a compare-and-set across processes. */
function stateOf(live: boolean, version: number): string {
  return `${live ? 'active' : 'deleted'}:${version}`;
}

function isLive(record: StateRecord): boolean {
  return record.state.startsWith('active:');
}

/** AAD: a ciphertext opens only as the secret, tenant and version it was sealed for. */
function aad(tenant: string, name: string, version: number): Buffer {
  return Buffer.from(`warden-secret/v1\n${tenant}\n${name}\n${version}`, 'utf8');
}

function parseBody(record: StateRecord): SecretBody {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (err) {
    throw new WardenError('INTERNAL', `secret record "${record.id}" of tenant ${record.tenant} is corrupt`, { cause: err });
  }
  const b = body as Partial<SecretBody> | null;
  if (!b || typeof b !== 'object' || !Number.isSafeInteger(b.version) || (b.ct !== null && typeof b.ct !== 'string') || typeof b.updated_at !== 'string') {
    throw new WardenError('INTERNAL', `secret record "${record.id}" of tenant ${record.tenant} is corrupt`);
  }
  return b as SecretBody;
}

function assertName(name: string): void {
  const problem = secretNameProblem(name);
  if (problem !== undefined) throw new BadInputError(`secret name ${JSON.stringify(String(name).slice(0, 80))}: ${problem}`);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** UTF-8 encoding would silently turn these into U+FFFD: a different secret than the one given. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A private copy of the value, checked. Messages never quote the value. The rules follow from
 * injection as an environment variable: no NUL (execve cannot pass one), valid UTF-8 (Node
 * passes environment values as strings), not empty (almost always a mistake such as an empty pipe).
 */
function valueBytes(value: Buffer | string): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new BadInputError('secret value: not valid Unicode text (a lone surrogate)');
    bytes = Buffer.from(value, 'utf8');
  } else if (Buffer.isBuffer(value)) {
    bytes = Buffer.from(value); // snapshot: the caller's buffer may change after the checks
  } else {
    throw new BadInputError('secret value: expected a string or a Buffer');
  }
  const fail = (why: string): never => {
    bytes.fill(0);
    throw new BadInputError(`secret value: ${why}`);
  };
  if (bytes.length === 0) fail('is empty');
  if (bytes.length > MAX_SECRET_BYTES) fail(`larger than ${MAX_SECRET_BYTES} bytes`);
  if (bytes.includes(0)) fail('contains a NUL byte, which an environment variable cannot hold (encode binary values, e.g. as base64)');
  try {
    UTF8.decode(bytes);
  } catch {
    fail('is not valid UTF-8 (encode binary values, e.g. as base64)');
  }
  return bytes;
}

/**
 * Per-tenant encrypted secrets.
 *
 * @example
 * ```ts
 * const secrets = new SecretStore(w.store, w.ledger, w.protector);
 * await secrets.set('acme', 'EXAMPLE_API_KEY', 'sk-live-…', { actor: { human: 'alice' } });
 * const env = await secrets.resolve('acme', ['EXAMPLE_API_KEY']); // Map<name, Buffer>
 * // … pass to the sandboxed process only, then:
 * for (const v of env.values()) v.fill(0);
 * ```
 */
export class SecretStore {
  readonly #serial = new KeyedSerialiser();

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly protector: PayloadProtector,
  ) {}

  /** Creates or replaces (rotates) a secret; the version goes up by one. */
  async set(tenant: string, name: string, value: Buffer | string, ctx: SecretChangeContext = {}): Promise<SecretChange> {
    assertName(name);
    const plain = valueBytes(value);
    try {
      return await this.#serial.run(`${tenant}\n${name}`, async () => {
        const cur = await this.store.getRecord(tenant, SECRET_KIND, name);
        if (!cur && (await this.store.listRecords(tenant, SECRET_KIND, { limit: MAX_SECRET_RECORDS })).length >= MAX_SECRET_RECORDS) {
          throw new WardenError('CONFLICT', `tenant ${tenant} already has ${MAX_SECRET_RECORDS} secret names (deleted ones included); reuse a name`);
        }
        const version = (cur ? parseBody(cur).version : 0) + 1;
        const now = new Date().toISOString();
        const key = await this.protector.deriveKey(tenant, KEY_PURPOSE);
        let ct: Buffer;
        try {
          ct = seal(key, plain, aad(tenant, name, version));
        } finally {
          key.fill(0);
        }
        const body: SecretBody = { ct: ct.toString('base64'), version, updated_at: now };
        const record: StateRecord = {
          tenant, kind: SECRET_KIND, id: name, state: stateOf(true, version),
          created_at: cur?.created_at ?? now, updated_at: now, body: JSON.stringify(body),
        };
        return this.#commit(record, cur, 'set', version, ctx);
      });
    } finally {
      plain.fill(0);
    }
  }

  /** Deletes a secret (NOT_FOUND when it is not set). The name keeps its version count. */
  async delete(tenant: string, name: string, ctx: SecretChangeContext = {}): Promise<SecretChange> {
    assertName(name);
    return this.#serial.run(`${tenant}\n${name}`, async () => {
      const cur = await this.store.getRecord(tenant, SECRET_KIND, name);
      if (!cur || !isLive(cur)) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no secret ${name}`);
      const { version } = parseBody(cur);
      const now = new Date().toISOString();
      const body: SecretBody = { ct: null, version, updated_at: now };
      const record: StateRecord = { ...cur, state: stateOf(false, version), updated_at: now, body: JSON.stringify(body) };
      return this.#commit(record, cur, 'delete', version, ctx);
    });
  }

  /** Names, versions and times of the tenant's live secrets, by name. Never values. */
  async list(tenant: string): Promise<SecretInfo[]> {
    const records = await this.store.listRecords(tenant, SECRET_KIND, { limit: MAX_SECRET_RECORDS });
    return records
      .filter(isLive)
      .map((r) => ({ name: r.id, version: parseBody(r).version, created_at: r.created_at, updated_at: r.updated_at }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Decrypts the named secrets for injection into one sandboxed process. All or nothing: any
   * missing name is a NOT_FOUND naming every missing one. The caller owns the returned buffers
   * and should zero them (`fill(0)`) once the process has its environment.
   */
  async resolve(tenant: string, names: readonly string[]): Promise<Map<string, Buffer>> {
    const unique = [...new Set(names)];
    for (const n of unique) assertName(n);
    const out = new Map<string, Buffer>();
    if (unique.length === 0) return out;
    const found: { name: string; body: SecretBody }[] = [];
    const missing: string[] = [];
    for (const name of unique) {
      const rec = await this.store.getRecord(tenant, SECRET_KIND, name);
      const body = rec && isLive(rec) ? parseBody(rec) : undefined;
      if (body?.ct) found.push({ name, body });
      else missing.push(name);
    }
    if (missing.length) {
      throw new WardenError('NOT_FOUND', `tenant ${tenant} has no secret ${missing.join(', ')} (set it with \`warden secrets set NAME --tenant ${tenant}\`)`);
    }
    // Checked first, without side effects: deriveKey on a shredded tenant would mint a fresh data key.
    const dataKeys = await this.store.listDataKeys(tenant);
    if (!dataKeys.some((k) => k.wrapped_key !== null)) {
      throw new KeyError(`the secrets of tenant ${tenant} cannot be decrypted: its data keys were destroyed (crypto-shredded)`);
    }
    const key = await this.protector.deriveKey(tenant, KEY_PURPOSE);
    try {
      for (const { name, body } of found) {
        try {
          out.set(name, open(key, Buffer.from(body.ct as string, 'base64'), aad(tenant, name, body.version)));
        } catch (err) {
          const shredded = dataKeys.some((k) => k.wrapped_key === null);
          throw new KeyError(
            `secret ${name} of tenant ${tenant} cannot be decrypted: ${shredded ? 'the data key it was sealed under was destroyed (crypto-shredded), or ' : ''}the record was altered or moved`,
            { cause: err },
          );
        }
      }
    } catch (err) {
      for (const v of out.values()) v.fill(0);
      throw err;
    } finally {
      key.fill(0);
    }
    return out;
  }

  /** The record change and its receipt in one commit; a concurrent change of the same secret is a CONFLICT. */
  async #commit(record: StateRecord, cur: StateRecord | undefined, action: 'set' | 'delete', version: number, ctx: SecretChangeContext): Promise<SecretChange> {
    const [receipt] = await this.ledger.append(
      record.tenant,
      [{
        kind: SECRET_KIND,
        action: `secret.${action}`,
        resource: `secret:${record.id}`,
        decision: null,
        reasons: ctx.reason ? [ctx.reason] : [],
        actor: ctx.actor ?? {},
        correlation_id: ctx.correlation_id ?? null,
        // Name, action and version only: never the value or a digest of it.
        payload: { name: record.id, action, version },
      }],
      // `secret` is a Warden-only kind; `system` lets this append use it once it is reserved.
      { system: true, mutations: [{ op: 'putRecord', record, ...(cur ? { expectState: cur.state } : {}) }] },
    );
    if (!receipt) throw new WardenError('INTERNAL', 'the ledger returned no receipt for a secret change');
    return {
      name: record.id, version, created_at: record.created_at, updated_at: record.updated_at, action,
      receipt: { seq: receipt.seq, id: receipt.id },
    };
  }
}
