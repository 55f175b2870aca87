import { hkdfSync, randomBytes } from 'node:crypto';
import { BadInputError, KeyError } from '../errors.js';
import type { Store } from '../store/types.js';
import { open, seal } from './aead.js';
import { jcs, type Json } from './jcs.js';
import type { MasterKeyProvider } from './key-provider.js';

/** How an encrypted payload field appears inside a receipt. The receipt commits to it. */
export interface EncryptedField {
  $enc: 'A256GCM';
  /** Data key id. */
  dk: string;
  /** base64(iv ‖ tag ‖ ciphertext). */
  ct: string;
}

/** How a sensitive field appears when data protection is off: the value is not kept at all. */
export interface RedactedField {
  $redacted: true;
}

export function isEncryptedField(v: unknown): v is EncryptedField {
  return typeof v === 'object' && v !== null && (v as EncryptedField).$enc === 'A256GCM';
}

/** AAD binds tenant, receipt id and field path: a ciphertext moved elsewhere does not open. */
function fieldAad(tenant: string, receiptId: string, path: string): Buffer {
  return Buffer.from(`warden-payload/v1\n${tenant}\n${receiptId}\n${path}`, 'utf8');
}

function dataKeyContext(tenant: string, id: string): string {
  return `warden-dk/v1\n${tenant}\n${id}`;
}



/** Splits a dotted path; rejects empty segments and prototype keys. */
function splitPath(path: string): string[] {
  const parts = path.split('.');
  if (parts.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) {
    throw new BadInputError(`invalid sensitive field path "${path}"`);
  }
  return parts;
}

/**
 * Checks, before anything is stored, that sensitive paths can be honoured: a path named for
 * this receipt (`required`) must exist, and no path (configured ones included) may run through
 * an array or a scalar — those would silently leave the value in clear. Mark the whole array
 * (its parent field) instead.
 */
export function assertSensitivePaths(payload: Record<string, Json>, required: readonly string[], optional: readonly string[]): void {
  const check = (path: string, mustExist: boolean): void => {
    const parts = splitPath(path);
    let cur: Json | undefined = payload;
    for (const [i, part] of parts.entries()) {
      if (cur === undefined) break;
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) {
        throw new BadInputError(
          `sensitive path "${path}" runs through ${Array.isArray(cur) ? 'an array' : 'a non-object'} at "${parts.slice(0, i).join('.')}"; mark that whole field instead`,
        );
      }
      cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
    }
    if (cur === undefined && mustExist) throw new BadInputError(`sensitive path "${path}" is not in the payload (a typo would leave the value in clear)`);
  };
  for (const p of required) check(p, true);
  for (const p of optional) check(p, false);
}

/** Applies `fn` to the value at each path that exists in a deep copy of `payload`. */
async function mapPaths(
  payload: Record<string, Json>,
  paths: readonly string[],
  fn: (value: Json, path: string) => Promise<Json>,
): Promise<Record<string, Json>> {
  const copy = structuredClone(payload);
  for (const path of new Set(paths)) {
    const parts = splitPath(path);
    let parent: Record<string, Json> | undefined = copy;
    for (const part of parts.slice(0, -1)) {
      const next: Json | undefined = parent?.[part];
      parent = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : undefined;
    }
    const last = parts[parts.length - 1] as string;
    if (parent && Object.hasOwn(parent, last)) parent[last] = await fn(parent[last] as Json, path);
  }
  return copy;
}

/**
 * Envelope encryption of sensitive payload fields: one AES-256-GCM data key per tenant,
 * wrapped by the master key. Destroying a tenant's data keys (crypto-shredding) makes its
 * payload fields unreadable while the receipts — which commit to the ciphertext — still verify.
 */
export class PayloadProtector {
  readonly #keys = new Map<string, { id: string; key: Buffer }>();
  readonly #loaded = new Map<string, Buffer>();

  constructor(
    private readonly store: Store,
    private readonly provider: MasterKeyProvider,
    private readonly enabled: boolean,
  ) {}

  /** Encrypts (or, with data protection off, hashes) the sensitive fields of a payload. */
  async protect(tenant: string, receiptId: string, payload: Record<string, Json>, paths: readonly string[]): Promise<Record<string, Json>> {
    if (paths.length === 0) return payload;
    if (!this.enabled) {
      // No digest: an unsalted hash of an e-mail address or a short token is easily guessed.
      return mapPaths(payload, paths, async () => ({ $redacted: true }));
    }
    const dk = await this.activeKey(tenant);
    return mapPaths(payload, paths, async (value, path) => {
      const sealed = seal(dk.key, Buffer.from(jcs(value), 'utf8'), fieldAad(tenant, receiptId, path));
      const field: EncryptedField = { $enc: 'A256GCM', dk: dk.id, ct: sealed.toString('base64') };
      return field as unknown as Json;
    });
  }

  /** Decrypts what it can; fields whose key was destroyed become `{"$shredded": true}`. */
  async reveal(tenant: string, receiptId: string, payload: Record<string, Json>): Promise<Record<string, Json>> {
    const walk = async (value: Json, path: string[]): Promise<Json> => {
      if (isEncryptedField(value)) {
        const key = await this.keyById(tenant, value.dk);
        if (!key) return { $shredded: true };
        const plain = open(key, Buffer.from(value.ct, 'base64'), fieldAad(tenant, receiptId, path.join('.')));
        return JSON.parse(plain.toString('utf8')) as Json;
      }
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const out: Record<string, Json> = {};
        for (const [k, v] of Object.entries(value)) out[k] = await walk(v, [...path, k]);
        return out;
      }
      return value;
    };
    return (await walk(payload, [])) as Record<string, Json>;
  }

  /**
   * A 32-byte key for another purpose (DLP tokenization, honeytokens), derived with HKDF from
   * the tenant's data key: shredding the tenant's data keys makes these unusable too.
   */
  async deriveKey(tenant: string, purpose: string): Promise<Buffer> {
    const dk = await this.activeKey(tenant);
    return Buffer.from(hkdfSync('sha256', dk.key, Buffer.alloc(0), `warden-derived/v1\n${tenant}\n${purpose}`, 32));
  }

  /** Crypto-shredding: destroys every data key of the tenant. Returns how many. */
  async shred(tenant: string): Promise<number> {
    for (const [id, key] of this.#loaded) if (id.startsWith(`${tenant}\n`)) key.fill(0);
    for (const id of [...this.#loaded.keys()]) if (id.startsWith(`${tenant}\n`)) this.#loaded.delete(id);
    this.#keys.delete(tenant);
    return this.store.destroyDataKeys(tenant, new Date().toISOString());
  }

  private async activeKey(tenant: string): Promise<{ id: string; key: Buffer }> {
    const cached = this.#keys.get(tenant);
    // Another process may have shredded it: never encrypt under a key whose sealed copy is gone.
    if (cached && (await this.store.listDataKeys(tenant)).some((k) => k.id === cached.id && k.wrapped_key !== null)) return cached;
    if (cached) {
      cached.key.fill(0);
      this.#keys.delete(tenant);
      this.#loaded.delete(`${tenant}\n${cached.id}`);
    }
    const live = (await this.store.listDataKeys(tenant)).filter((k) => k.wrapped_key !== null);
    let entry: { id: string; key: Buffer };
    const newest = live.sort((a, b) => a.created_at.localeCompare(b.created_at)).at(-1);
    if (newest?.wrapped_key) {
      entry = { id: newest.id, key: await this.provider.unwrap(newest.wrapped_key, dataKeyContext(tenant, newest.id)) };
    } else {
      const id = `dk_${randomBytes(8).toString('hex')}`;
      const key = randomBytes(32);
      await this.store.putDataKey({
        tenant,
        id,
        wrapped_key: await this.provider.wrap(key, dataKeyContext(tenant, id)),
        created_at: new Date().toISOString(),
        destroyed_at: null,
      });
      entry = { id, key };
    }
    this.#keys.set(tenant, entry);
    this.#loaded.set(`${tenant}\n${entry.id}`, entry.key);
    return entry;
  }

  private async keyById(tenant: string, id: string): Promise<Buffer | undefined> {
    const hit = this.#loaded.get(`${tenant}\n${id}`);
    if (hit) return hit;
    const rec = (await this.store.listDataKeys(tenant)).find((k) => k.id === id);
    if (!rec) throw new KeyError(`unknown data key ${id}`);
    if (!rec.wrapped_key) return undefined;
    const key = await this.provider.unwrap(rec.wrapped_key, dataKeyContext(tenant, id));
    this.#loaded.set(`${tenant}\n${id}`, key);
    return key;
  }
}
