import { createHash, type KeyObject } from 'node:crypto';
import { randomId96 } from '../crypto/random-id.js';
import * as nodeCrypto from 'node:crypto';
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
const INPUT_FIELDS: ReadonlySet<string> = new Set([
  'kind', 'action', 'resource', 'decision', 'reasons', 'actor', 'correlation_id', 'policy_version', 'payload', 'sensitive',
]);

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
      throw new BadInputError(`${path}: number beyond 2^53; encode it as a string`);
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
 * Validates caller input into a normalised ReceiptInput. The payload is not copied: callers
 * canonicalise it (a snapshot) before yielding, or clone it themselves.
 */
export function normaliseInput(raw: unknown): Required<Omit<ReceiptInput, 'sensitive'>> & { sensitive: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadInputError('receipt input must be a JSON object');
  const r = raw as Record<string, unknown>;
  // A misspelt field (say `resouce`) must not vanish silently from the record.
  const unknown = Object.keys(r).find((k) => !INPUT_FIELDS.has(k));
  if (unknown !== undefined) throw new BadInputError(`unknown field "${unknown}" (expected ${[...INPUT_FIELDS].join(', ')})`);
  const actorRaw = r.actor ?? {};
  if (typeof actorRaw !== 'object' || actorRaw === null || Array.isArray(actorRaw)) throw new BadInputError('actor: expected an object');
  const a = actorRaw as Record<string, unknown>;
  const unknownActor = Object.keys(a).find((k) => k !== 'human' && k !== 'agent' && k !== 'service');
  if (unknownActor !== undefined) throw new BadInputError(`actor: unknown field "${unknownActor}" (expected human, agent, service)`);
  const reasons = r.reasons ?? [];
  if (!Array.isArray(reasons) || reasons.some((x) => typeof x !== 'string') || reasons.length > 64) {
    throw new BadInputError('reasons: expected a list of up to 64 strings');
  }
  if (reasons.some((x) => (x as string).length > 4096)) throw new BadInputError('reasons: each reason must be at most 4096 characters');
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
    payload: payload as { [k: string]: Json },
    sensitive: [...(sensitive as string[])],
  };
}

export function newReceiptId(): string {
  return `rcpt_${randomId96()}`;
}

/** The bytes Ed25519 signs: the domain prefix then S = JCS(receipt without sig). */
export function signingInput(statement: string): Buffer {
  return Buffer.from(RECEIPT_SIG_PREFIX + statement, 'utf8');
}

/**
 * The part of a receipt known before it is sequenced, pre-canonicalised so that the append
 * transaction only splices in `prev`, `seq`, `tenant`, `ts` and `sig`.
 *
 * JCS sorts keys: action, actor, correlation_id, decision, id, kind, payload, policy_version,
 * **prev**, reasons, resource, **seq**, **sig**, **tenant**, **ts**, **v**. `head` is the JCS of
 * the fields before `prev`, `mid` of those between `prev` and `seq`; the spliced-in values are
 * fixed-alphabet strings (hex, decimal, RFC 3339, validated tenant names and kids), whose JCS
 * form is their JSON.stringify form — so the result is byte-identical to canonicalising the
 * whole object (a test checks this against `jcs`).
 */
export interface PreparedStatement {
  head: string;
  mid: string;
}

export function prepareStatement(r: Omit<UnsignedReceipt, 'tenant' | 'seq' | 'ts' | 'prev' | 'v'>): PreparedStatement {
  const head = jcs({
    action: r.action,
    actor: r.actor,
    correlation_id: r.correlation_id,
    decision: r.decision,
    id: r.id,
    kind: r.kind,
    payload: r.payload,
    policy_version: r.policy_version,
  });
  const mid = jcs({ reasons: r.reasons, resource: r.resource });
  return { head, mid };
}

const SAFE_TOKEN = /^[A-Za-z0-9_.:+/=-]*$/;

function splice(p: PreparedStatement, prev: string, seq: number, tenant: string, ts: string): { body: string; tail: string } {
  if (!SAFE_TOKEN.test(tenant) || !SAFE_TOKEN.test(ts) || !/^[0-9a-f]{64}$/.test(prev) || !Number.isSafeInteger(seq)) {
    throw new Error('receipt envelope fields are not in their fixed alphabets');
  }
  return {
    body: `${p.head.slice(0, -1)},"prev":"${prev}",${p.mid.slice(1, -1)},"seq":${seq}`,
    tail: `,"tenant":"${tenant}","ts":"${ts}","v":1}`,
  };
}

/** S = JCS(receipt without sig) from a prepared statement. */
export function statementOf(p: PreparedStatement, prev: string, seq: number, tenant: string, ts: string): string {
  const { body, tail } = splice(p, prev, seq, tenant, ts);
  return body + tail;
}

/**
 * Builds L = JCS(receipt with sig) from S = JCS(receipt without sig) without a second full
 * canonicalisation: in JCS key order `sig` sits between `seq` and `tenant`, and everything
 * from `,"tenant":` to the end is fixed by the tenant and ts. A statement that does not end as
 * expected is refused, never silently re-encoded.
 */
export function leafFromStatement(statement: string, tenant: string, ts: string, sig: ReceiptSignature): string {
  const suffix = `,"tenant":${JSON.stringify(tenant)},"ts":${JSON.stringify(ts)},"v":1}`;
  if (!statement.endsWith(suffix)) throw new Error('receipt statement does not end with the expected fields');
  return `${statement.slice(0, -suffix.length)},"sig":${jcs(sig)}${suffix}`;
}

const LEAF_PREFIX = Buffer.of(0);
/** One-shot hashing (Node >= 20.12) skips the Hash object; "\u0000" is the single byte 0x00 in UTF-8. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'buffer') => Buffer }).hash;

export function leafHashOf(leaf: string): Buffer {
  if (oneShot) return oneShot('sha256', '\u0000' + leaf, 'buffer');
  return createHash('sha256').update(LEAF_PREFIX).update(leaf, 'utf8').digest();
}

/**
 * Signs consecutive prepared statements of one batch (same tenant, ts and key): the envelope
 * fields are validated once, then each receipt costs one Ed25519 signature and one SHA-256.
 * This is the hot path of every append.
 */
export class BatchSealer {
  readonly #tail: string;
  readonly #sigPrefix: string;

  constructor(
    readonly tenant: string,
    readonly ts: string,
    private readonly key: { kid: string; privateKey: KeyObject },
  ) {
    if (!SAFE_TOKEN.test(tenant) || !SAFE_TOKEN.test(ts) || !SAFE_TOKEN.test(key.kid)) {
      throw new Error('receipt envelope fields are not in their fixed alphabets');
    }
    this.#tail = `,"tenant":"${tenant}","ts":"${ts}","v":1}`;
    this.#sigPrefix = `,"sig":{"alg":"Ed25519","kid":"${key.kid}","value":"`;
  }

  /** `prev` must be 64 lower-case hex digits (checked), `seq` a safe integer. */
  seal(p: PreparedStatement, prev: string, seq: number): { leaf: string; leafHash: Buffer; sig: ReceiptSignature } {
    if (prev.length !== 64 || !Number.isSafeInteger(seq) || !HEX64.test(prev)) throw new Error('receipt prev or seq is malformed');
    const body = `${p.head.slice(0, -1)},"prev":"${prev}",${p.mid.slice(1, -1)},"seq":${seq}`;
    const value = ed25519Sign(this.key.privateKey, signingInput(body + this.#tail)).toString('base64');
    const leaf = `${body}${this.#sigPrefix}${value}"}${this.#tail}`;
    return { leaf, leafHash: leafHashOf(leaf), sig: { alg: 'Ed25519', kid: this.key.kid, value } };
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Signs one prepared statement at its place in the log (see {@link BatchSealer}). */
export function sealStatement(
  p: PreparedStatement,
  at: { prev: string; seq: number; tenant: string; ts: string },
  key: { kid: string; privateKey: KeyObject },
): { leaf: string; leafHash: Buffer; sig: ReceiptSignature } {
  return new BatchSealer(at.tenant, at.ts, key).seal(p, at.prev, at.seq);
}

/** Signs an unsigned receipt: returns the receipt, its leaf input L and leaf hash. */
export function signReceipt(unsigned: UnsignedReceipt, key: { kid: string; privateKey: KeyObject }): { receipt: Receipt; leaf: string; leafHash: Buffer } {
  const { leaf, leafHash, sig } = sealStatement(prepareStatement(unsigned), unsigned, key);
  return { receipt: { ...unsigned, sig }, leaf, leafHash };
}
