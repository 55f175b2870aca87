import { createKeyRecord, type Keyring, type Signer } from '../crypto/keyring.js';
import { WardenError } from '../errors.js';
import type { KeyPurpose, KeyRecord, Mutation, Store } from '../store/types.js';
import type { Ledger } from './ledger.js';
import type { Receipt } from './receipt.js';

/** Purposes whose keys every tenant gets (`ensureKeys` adds missing ones to existing tenants); scheduled rotation covers them all. */
export const TENANT_KEY_PURPOSES: readonly KeyPurpose[] = ['receipt', 'note', 'passport'];

function keyPayload(r: KeyRecord): Record<string, string> {
  return { kid: r.kid, purpose: r.purpose, alg: r.alg, public_key: r.public_key.toString('base64'), not_before: r.not_before };
}

/**
 * Key lifecycle: creation, scheduled and emergency rotation, revocation and retirement.
 * Every change is a `kind: "key"` receipt committed in the same transaction as the change,
 * signed by the outgoing key while it is still trusted (by the new key when it is not).
 */
export class KeyLifecycle {
  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly ledger: Ledger,
  ) {}

  /** Creates any missing tenant keys (idempotent: existing keys are never replaced). */
  async ensureKeys(tenant: string, purposes: readonly KeyPurpose[] = TENANT_KEY_PURPOSES): Promise<Receipt[]> {
    const head = await this.store.head(tenant);
    const existing = await this.store.listKeys(tenant);
    const missing = purposes.filter((p) => !existing.some((k) => k.purpose === p && k.state === 'active'));
    if (missing.length === 0) return [];
    const now = new Date().toISOString();
    const created = await Promise.all(missing.map((p) => createKeyRecord(this.keyring.masterKey, tenant, p, now)));
    const receiptKey = created.find((c) => c.record.purpose === 'receipt')?.signer ?? (await this.keyring.load(tenant)).active('receipt');
    return this.ledger.append(
      tenant,
      created.map((c) => ({ kind: 'key', action: 'key.create', resource: `key:${c.record.kid}`, decision: null, payload: keyPayload(c.record) })),
      { mutations: created.map((c) => ({ op: 'insertKey', key: c.record })), signer: receiptKey, expectEpoch: head.key_epoch, ts: now, system: true },
    );
  }

  /**
   * Replaces the active key of `purpose`. A scheduled rotation leaves the old key `retiring`
   * (its window closes now; earlier receipts keep verifying). An emergency rotation revokes
   * it at once, and the change is signed by the new key since the old one is not trusted.
   */
  async rotate(
    tenant: string,
    purpose: KeyPurpose,
    options: { emergency?: boolean; revokedAt?: string; reason?: string; expectKid?: string } = {},
  ): Promise<Receipt> {
    const keys = await this.keyring.load(tenant, { refresh: true });
    const old = keys.active(purpose);
    // `revoke` names the key it means: if another rotation got there first, do not revoke an
    // innocent successor instead.
    if (options.expectKid !== undefined && old.kid !== options.expectKid) {
      throw new WardenError('CONFLICT', `key ${options.expectKid} is no longer the active ${purpose} key (now ${old.kid}); retry`);
    }
    const fresh = await createKeyRecord(this.keyring.masterKey, tenant, purpose, new Date().toISOString());
    const emergency = options.emergency ?? false;
    let signer: Signer;
    if (purpose === 'receipt') signer = emergency ? fresh.signer : old;
    else signer = keys.active('receipt');
    // The change takes effect at the commit instant, chosen inside the append transaction: every
    // receipt the old key signed was committed before it, so none falls outside its window.
    const [receipt] = await this.ledger.append(tenant, [], {
      signer,
      expectEpoch: keys.epoch,
      system: true,
      atCommit: (ts) => {
        const revokedAt = options.revokedAt !== undefined && options.revokedAt < ts ? options.revokedAt : ts;
        const record: KeyRecord = { ...fresh.record, not_before: ts, created_at: ts };
        const mutations: Mutation[] = [
          emergency
            ? { op: 'updateKey', tenant, kid: old.kid, state: 'revoked', not_after: ts, revoked_at: revokedAt }
            : { op: 'updateKey', tenant, kid: old.kid, state: 'retiring', not_after: ts },
          { op: 'insertKey', key: record },
        ];
        const input = {
          kind: 'key',
          action: emergency ? 'key.rotate.emergency' : 'key.rotate',
          resource: `key:${record.kid}`,
          reasons: options.reason ? [options.reason] : [],
          payload: { purpose, old_kid: old.kid, new_key: keyPayload(record), ...(emergency ? { revoked_at: revokedAt } : {}) },
        };
        return { inputs: [input], mutations };
      },
    });
    return receipt as Receipt;
  }

  /**
   * Revokes a key as of `at` (default now; never in the future): receipts it signed at or
   * after that instant stop verifying. Revoking the active key is an emergency rotation.
   */
  async revoke(tenant: string, kid: string, at?: string, reason?: string): Promise<Receipt> {
    const now = new Date().toISOString();
    const when = at ?? now;
    if (when > now) throw new WardenError('BAD_INPUT', `revocation time ${when} is in the future`);
    const keys = await this.keyring.load(tenant, { refresh: true });
    const rec = keys.records.find((r) => r.kid === kid);
    if (!rec) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no key ${kid}`);
    if (rec.state === 'revoked') {
      // A compromise found to be older than first thought may move the revocation earlier,
      // never later (that would re-trust signatures already declared untrustworthy).
      if (rec.revoked_at !== null && when >= rec.revoked_at) {
        throw new WardenError('CONFLICT', `key ${kid} is already revoked at ${rec.revoked_at}; a revocation can only move earlier`);
      }
    }
    if (rec.state === 'active') return this.rotate(tenant, rec.purpose, { emergency: true, revokedAt: when, expectKid: kid, ...(reason ? { reason } : {}) });
    const [receipt] = await this.ledger.append(
      tenant,
      [{ kind: 'key', action: 'key.revoke', resource: `key:${kid}`, reasons: reason ? [reason] : [], payload: { kid, purpose: rec.purpose, revoked_at: when, ...(rec.revoked_at ? { previous_revoked_at: rec.revoked_at } : {}) } }],
      {
        mutations: [{ op: 'updateKey', tenant, kid, state: 'revoked', not_after: rec.not_after ?? when, revoked_at: when }],
        signer: keys.active('receipt'),
        expectEpoch: keys.epoch,
        ts: now,
        system: true,
      },
    );
    return receipt as Receipt;
  }

  /**
   * Scheduled housekeeping: rotates active keys older than `rotationIntervalMs` and retires
   * keys that have been retiring for `retiringGraceMs`. Returns the receipts written.
   */
  async tick(tenant: string, rotationIntervalMs: number, retiringGraceMs: number): Promise<Receipt[]> {
    const out: Receipt[] = [];
    const nowMs = Date.now();
    let keys = await this.keyring.load(tenant, { refresh: true });
    for (const rec of keys.records) {
      if (rec.state !== 'retiring' || !rec.not_after || Date.parse(rec.not_after) + retiringGraceMs > nowMs) continue;
      const [receipt] = await this.ledger.append(
        tenant,
        [{ kind: 'key', action: 'key.retire', resource: `key:${rec.kid}`, payload: { kid: rec.kid, purpose: rec.purpose } }],
        { mutations: [{ op: 'updateKey', tenant, kid: rec.kid, state: 'retired' }], signer: keys.active('receipt'), expectEpoch: keys.epoch, system: true },
      );
      out.push(receipt as Receipt);
      keys = await this.keyring.load(tenant, { refresh: true });
    }
    for (const purpose of TENANT_KEY_PURPOSES) {
      const active = keys.records.find((r) => r.purpose === purpose && r.state === 'active');
      if (active && Date.parse(active.not_before) + rotationIntervalMs <= nowMs) {
        out.push(await this.rotate(tenant, purpose, { reason: 'scheduled rotation' }));
        keys = await this.keyring.load(tenant, { refresh: true });
      }
    }
    return out;
  }
}
