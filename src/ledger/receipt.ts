import { createHash, randomBytes } from 'node:crypto';
import { ed25519Sign } from '../crypto/ed25519.js';
import { jcs, type Json } from '../crypto/jcs.js';
import { BadInputError } from '../errors.js';

/** Domain separation for receipt signatures (ARCHITECTURE.md, "Receipt ledger"). */
export const RECEIPT_SIG_PREFIX = 'warden-receipt/v1\n';
export const ZERO_HASH_HEX = '0'.repeat(64);

export interface ActorChain {
  human: string | null;
  agent: string | null;
  service: string | null;
}

export interface ReceiptSignature {
  alg: 'Ed25519';
  kid: string;
  value: string;
}

/** A receipt exactly as logged. Field order is irrelevant: the bytes are JCS. */
export interface Receipt {
  v: 1;
  tenant: string;
  seq: number;
  id: string;
  ts: string;
  kind: string;
  correlation_id: string | null;
  actor: ActorChain;
  action: string;
  resource: string | null;
  decision: string | null;
  reasons: string[];
  policy_version: string | null;
  payload: { [k: string]: Json };
  prev: string;
  sig: ReceiptSignature;
}

export type UnsignedReceipt = Omit<Receipt, 'sig'>;

/** What a caller supplies; the ledger assigns tenant, seq, id, ts, prev and sig. */
export interface ReceiptInput {
  kind: string;
  action: string;
  resource?: string | null;
  decision?: string | null;
  reasons?: string[];
  actor?: Partial<ActorChain>;
  correlation_id?: string | null;
  policy_version?: string | null;
  payload?: { [k: string]: Json };
  /** Dotted payload paths to encrypt (in addition to the configured sensitive fields). */
  sensitive?: string[];
}

const MAX_SHORT = 1024;

function shortString(v: unknown, field: string, nullable: boolean): string | null {
  if (v === undefined || v === null) {
    if (nullable) return null;
    throw new BadInputError(`${field}: required`);
  }
  if (typeof v !== 'string') throw new BadInputError(`${field}: expected a string`);
  if (v.length === 0 && !nullable) throw new BadInputError(`${field}: must not be empty`);
  if (v.length > MAX_SHORT) throw new BadInputError(`${field}: longer than ${MAX_SHORT} characters`);
  return v;
}

/** Integers must stay below 2^53 (ARCHITECTURE.md); larger numbers must be strings. */
function checkJson(value: unknown, path: string, depth: number): void {
  if (depth > 32) throw new BadInputError(`${path}: nested deeper than 32 levels`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new BadInputError(`${path}: not a finite number`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw new BadInputError(`${path}: integer beyond 2^53; encode it as a string`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, depth + 1));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`, depth + 1);
  } else if (!(value === null || typeof value === 'string' || typeof value === 'boolean')) {
    throw new BadInputError(`${path}: not a JSON value`);
  }
}

/**
 * Validates caller input into a normalised ReceiptInput (a snapshot: later changes to the
 * caller's object cannot change what is signed).
 */
export function normaliseInput(raw: unknown): Required<Omit<ReceiptInput, 'sensitive'>> & { sensitive: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadInputError('receipt input must be a JSON object');
  const r = raw as Record<string, unknown>;
  const actorRaw = r.actor ?? {};
  if (typeof actorRaw !== 'object' || actorRaw === null || Array.isArray(actorRaw)) throw new BadInputError('actor: expected an object');
  const a = actorRaw as Record<string, unknown>;
  const reasons = r.reasons ?? [];
  if (!Array.isArray(reasons) || reasons.some((x) => typeof x !== 'string' || x.length > 4096) || reasons.length > 64) {
    throw new BadInputError('reasons: expected up to 64 strings');
  }
  const payload = r.payload ?? {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new BadInputError('payload: expected an object');
  checkJson(payload, 'payload', 0);
  const sensitive = r.sensitive ?? [];
  if (!Array.isArray(sensitive) || sensitive.some((x) => typeof x !== 'string')) throw new BadInputError('sensitive: expected a list of field paths');
  return {
    kind: shortString(r.kind ?? 'event', 'kind', false) as string,
    action: shortString(r.action, 'action', false) as string,
    resource: shortString(r.resource, 'resource', true),
    decision: shortString(r.decision, 'decision', true),
    reasons: [...(reasons as string[])],
    actor: {
      human: shortString(a.human, 'actor.human', true),
      agent: shortString(a.agent, 'actor.agent', true),
      service: shortString(a.service, 'actor.service', true),
    },
    correlation_id: shortString(r.correlation_id, 'correlation_id', true),
    policy_version: shortString(r.policy_version, 'policy_version', true),
    payload: structuredClone(payload) as { [k: string]: Json },
    sensitive: [...(sensitive as string[])],
  };
}

export function newReceiptId(): string {
  return `rcpt_${randomBytes(12).toString('base64url')}`;
}

/** The bytes Ed25519 signs: the domain prefix then S = JCS(receipt without sig). */
export function signingInput(statement: string): Buffer {
  return Buffer.from(RECEIPT_SIG_PREFIX + statement, 'utf8');
}

/**
 * Builds L = JCS(receipt with sig) from S = JCS(receipt without sig) without a second full
 * canonicalisation. In JCS key order `sig` sits between `seq` and `tenant`, and everything
 * from `,"tenant":` to the end is fixed by the (validated) tenant and ts, so the splice point
 * is known exactly; a mismatch is an internal error, never a silently different encoding.
 */
export function leafFromStatement(statement: string, tenant: string, ts: string, sig: ReceiptSignature): string {
  const suffix = `,"tenant":${JSON.stringify(tenant)},"ts":${JSON.stringify(ts)},"v":1}`;
  if (!statement.endsWith(suffix)) throw new Error('receipt statement does not end with the expected fields');
  return `${statement.slice(0, -suffix.length)},"sig":${jcs(sig)}${suffix}`;
}

export function leafHashOf(leaf: string): Buffer {
  return createHash('sha256').update(Buffer.of(0)).update(leaf, 'utf8').digest();
}

/** Signs an unsigned receipt: returns the receipt, its leaf input L and leaf hash. */
export function signReceipt(
  unsigned: UnsignedReceipt,
  key: { kid: string; privateKey: import('node:crypto').KeyObject },
): { receipt: Receipt; leaf: string; leafHash: Buffer } {
  const statement = jcs(unsigned);
  const value = ed25519Sign(key.privateKey, signingInput(statement)).toString('base64');
  const sig: ReceiptSignature = { alg: 'Ed25519', kid: key.kid, value };
  const leaf = leafFromStatement(statement, unsigned.tenant, unsigned.ts, sig);
  return { receipt: { ...unsigned, sig }, leaf, leafHash: leafHashOf(leaf) };
}
