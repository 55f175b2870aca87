import { createHash, type KeyObject } from 'node:crypto';
import { KeyError } from '../errors.js';
import type { KeyPurpose, KeyRecord, Store } from '../store/types.js';
import { generateEd25519, privateKeyFromPkcs8 } from './ed25519.js';
import type { MasterKeyProvider } from './key-provider.js';

const KID_PREFIX: Record<KeyPurpose, string> = { receipt: 'rk', note: 'nk', passport: 'pk' };

/** Key ids are derived from the public key, so a kid can never name two different keys. */
export function kidFor(purpose: KeyPurpose, publicKey: Buffer): string {
  return `${KID_PREFIX[purpose]}_${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
}

/** The wrap context binds a private key to its tenant and kid: a swapped row fails to unwrap. */
function wrapContext(tenant: string, kid: string): string {
  return `warden-key/v1\n${tenant}\n${kid}`;
}

export interface Signer {
  readonly kid: string;
  readonly record: KeyRecord;
  readonly privateKey: KeyObject;
}

/** Creates a fresh key pair and its store record (private key wrapped by the master key). */
export async function createKeyRecord(
  provider: MasterKeyProvider,
  tenant: string,
  purpose: KeyPurpose,
  now: string,
): Promise<{ record: KeyRecord; signer: Signer }> {
  const pair = generateEd25519();
  const kid = kidFor(purpose, pair.publicKey);
  const record: KeyRecord = {
    tenant,
    kid,
    purpose,
    alg: 'Ed25519',
    public_key: pair.publicKey,
    wrapped_private_key: await provider.wrap(pair.privateKeyPkcs8, wrapContext(tenant, kid)),
    state: 'active',
    not_before: now,
    not_after: null,
    revoked_at: null,
    created_at: now,
  };
  return { record, signer: { kid, record, privateKey: pair.privateKey } };
}

/** A tenant's keys at one key epoch, with the active private keys unwrapped. */
export class TenantKeys {
  constructor(
    readonly tenant: string,
    readonly epoch: number,
    readonly records: readonly KeyRecord[],
    private readonly signers: ReadonlyMap<string, Signer>,
  ) {}

  /** The one active key of a purpose; a KeyError if there is none (fail closed). */
  active(purpose: KeyPurpose): Signer {
    const rec = this.records.find((r) => r.purpose === purpose && r.state === 'active');
    const signer = rec && this.signers.get(rec.kid);
    if (!signer) throw new KeyError(`tenant ${this.tenant} has no active ${purpose} key`);
    return signer;
  }

  signer(kid: string): Signer | undefined {
    return this.signers.get(kid);
  }
}

/**
 * Loads and caches tenants' keyrings. Private keys are unwrapped once per key epoch; the store
 * bumps the epoch on every key change, so a stale cache is detected inside the append.
 */
export class Keyring {
  readonly #cache = new Map<string, TenantKeys>();

  constructor(
    private readonly store: Store,
    private readonly provider: MasterKeyProvider,
  ) {}

  get masterKey(): MasterKeyProvider {
    return this.provider;
  }

  cached(tenant: string): TenantKeys | undefined {
    return this.#cache.get(tenant);
  }

  async load(tenant: string, options: { refresh?: boolean } = {}): Promise<TenantKeys> {
    const cached = this.#cache.get(tenant);
    const head = await this.store.head(tenant);
    if (cached && !options.refresh && cached.epoch === head.key_epoch) return cached;
    const records = await this.store.listKeys(tenant);
    const signers = new Map<string, Signer>();
    for (const record of records) {
      // Only keys that may still sign are unwrapped; retired and revoked keys stay sealed.
      if (record.state !== 'active' && record.state !== 'retiring') continue;
      let der: Buffer;
      try {
        der = await this.provider.unwrap(record.wrapped_private_key, wrapContext(tenant, record.kid));
      } catch (err) {
        throw new KeyError(
          `cannot unseal key ${record.kid} of tenant ${tenant} with the master key (${this.provider.description}): wrong or replaced master key, or a tampered key row`,
          { cause: err },
        );
      }
      signers.set(record.kid, { kid: record.kid, record, privateKey: privateKeyFromPkcs8(der) });
      der.fill(0);
    }
    const keys = new TenantKeys(tenant, head.key_epoch, records, signers);
    this.#cache.set(tenant, keys);
    return keys;
  }

  invalidate(tenant: string): void {
    this.#cache.delete(tenant);
  }
}
