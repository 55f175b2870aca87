import type { Store } from '../store/types.js';
import { StoreError } from '../errors.js';
import { encodeVerifierKey } from './note.js';
import type { TrustBundle } from './verify/trust.js';

/**
 * The tenant's trust bundle: every receipt key with its validity window (historical trust
 * continuity: retired keys stay listed so old receipts keep verifying) and the checkpoint note
 * verifier keys that are not revoked.
 */
export async function buildTrustBundle(store: Store, tenant: string): Promise<TrustBundle> {
  const rec = await store.getTenant(tenant);
  if (!rec) throw new StoreError(`unknown tenant ${tenant}`, { code: 'NOT_FOUND' });
  const keys = await store.listKeys(tenant);
  return {
    v: 1,
    tenant,
    origin: rec.origin,
    note_keys: keys.filter((k) => k.purpose === 'note' && k.state !== 'revoked').map((k) => encodeVerifierKey(rec.origin, k.public_key)),
    keys: keys
      .filter((k) => k.purpose === 'receipt')
      .map((k) => ({
        kid: k.kid,
        alg: 'Ed25519' as const,
        public_key: k.public_key.toString('base64'),
        state: k.state,
        not_before: k.not_before,
        not_after: k.not_after,
        revoked_at: k.revoked_at,
      })),
  };
}
