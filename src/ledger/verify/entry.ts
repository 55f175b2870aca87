import { ed25519Verify } from '../../crypto/ed25519.js';
import { jcs } from '../../crypto/jcs.js';
import { VerificationError } from '../../errors.js';
import { decodeBase64Strict } from '../base64.js';
import { leafFromStatement, leafHashOf, signingInput, type Receipt } from '../receipt.js';
import { parseReceiptTs, type Trust } from './trust.js';

/** The fields of a v1 receipt, exactly (ARCHITECTURE.md). */
const FIELDS = [
  'v', 'tenant', 'seq', 'id', 'ts', 'kind', 'correlation_id', 'actor', 'action', 'resource',
  'decision', 'reasons', 'policy_version', 'payload', 'prev', 'sig',
] as const;
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);
const HEX64 = /^[0-9a-f]{64}$/;
const tenantJsonCache = new WeakMap<Trust, string>();
/** The bundle's tenant as JSON text, computed once per trust bundle (the hot loop needs it per entry). */
function tenantJson(trust: Trust): string {
  let t = tenantJsonCache.get(trust);
  if (t === undefined) tenantJsonCache.set(trust, (t = JSON.stringify(trust.bundle.tenant)));
  return t;
}

/** The last valid `ts` seen and its value (a cache: only ever holds a string that parsed). */
const lastTs: { text: string | undefined; ms: number } = { text: undefined, ms: 0 };

export interface VerifiedEntry {
  seq: number;
  prev: string;
  leafHash: Buffer;
  receipt: Receipt;
}

/**
 * Verifies one exported line (the leaf input L) on its own: shape, canonical form, key
 * validity at the receipt's `ts`, and the Ed25519 signature over the domain-separated
 * statement. Chain and Merkle checks need neighbours and live in the log verifier.
 * Every value here is attacker-controlled: shape is checked before anything is computed.
 */
export function verifyEntry(line: string, trust: Trust, expectedSeq: number): VerifiedEntry {
  const fail = (why: string): never => {
    throw new VerificationError(why, expectedSeq);
  };
  if (line === '') return fail('empty line (an export has exactly one receipt a line)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return fail('entry is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('entry is not a JSON object');
  const r = parsed as Record<string, unknown>;
  const keys = Object.keys(r);
  const extra = keys.find((k) => !FIELD_SET.has(k));
  if (extra !== undefined) fail(`unexpected field "${extra}"`);
  // No extra field and as many keys as FIELDS: every field is present.
  if (keys.length !== FIELDS.length) fail(`missing field "${FIELDS.find((f) => !(f in r)) as string}"`);
  if (r.v !== 1) fail('unsupported receipt version');
  if (r.seq !== expectedSeq) fail(`seq is ${JSON.stringify(r.seq)}, expected ${expectedSeq} (gap, reorder or duplicate)`);
  if (r.tenant !== trust.bundle.tenant) fail(`tenant ${JSON.stringify(r.tenant)} is not the trust bundle's tenant ${trust.bundle.tenant}`);
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) fail('prev is not a 64-digit lower-case hex hash');
  // Receipts of one group commit share their ts: parse each distinct value once.
  const tsMs = r.ts === lastTs.text ? lastTs.ms : parseReceiptTs(r.ts);
  if (tsMs === undefined) return fail('ts is not an RFC 3339 UTC timestamp with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)');
  lastTs.text = r.ts as string;
  lastTs.ms = tsMs;
  const sig = r.sig as Record<string, unknown> | null;
  if (typeof sig !== 'object' || sig === null || Array.isArray(sig)) return fail('sig is not an object');
  if (sig.alg !== 'Ed25519' || typeof sig.kid !== 'string' || typeof sig.value !== 'string' || Object.keys(sig).length !== 3) {
    return fail('sig must be {alg: "Ed25519", kid, value}');
  }
  const sigBytes = decodeBase64Strict(sig.value);
  if (!sigBytes || sigBytes.length !== 64) fail('sig.value is not a base64 64-byte Ed25519 signature');

  const key = trust.keys.get(sig.kid);
  if (!key) return fail(`unknown kid ${sig.kid}`);
  if (tsMs < key.notBefore) fail(`key ${sig.kid} was not yet valid at ${String(r.ts)}`);
  if (key.notAfter !== null && tsMs > key.notAfter) fail(`key ${sig.kid} was no longer valid at ${String(r.ts)} (window closed ${key.meta.not_after})`);
  if (key.revokedAt !== null && tsMs >= key.revokedAt) fail(`key ${sig.kid} was revoked at ${key.meta.revoked_at}, before this receipt`);

  // Fast path: in L the canonical sig object sits right before `,"tenant":…,"ts":…,"v":1}`;
  // cutting it out gives the statement S the key signed. If the signature verifies over those
  // bytes, the line is exactly the signer's canonical L with its sig — no re-canonicalisation
  // needed. Only on failure is the line canonicalised, to say *why* it fails.
  // tenant equals the bundle's (checked above); ts matched the strict RFC 3339 pattern and the
  // signature value strict base64, so neither needs JSON escaping.
  const suffix = `,"tenant":${tenantJson(trust)},"ts":"${r.ts as string}","v":1}`;
  // JCS of {alg, kid, value}: keys already in order, strings serialised as JSON.stringify does.
  const sigText = `,"sig":{"alg":"Ed25519","kid":${JSON.stringify(sig.kid)},"value":"${sig.value}"}`;
  const cut = line.length - suffix.length - sigText.length;
  if (cut > 0 && line.endsWith(suffix) && line.startsWith(sigText, cut)) {
    const statement = line.slice(0, cut) + suffix;
    if (ed25519Verify(key.key, signingInput(statement), sigBytes as Buffer)) {
      return { seq: expectedSeq, prev: r.prev as string, leafHash: leafHashOf(line), receipt: r as unknown as Receipt };
    }
  }
  const unsigned: Record<string, unknown> = { ...r };
  delete unsigned.sig;
  let canonical: string;
  try {
    canonical = jcs(unsigned);
  } catch {
    return fail('entry is not representable in RFC 8785 canonical form');
  }
  // Any other encoding of the same object would hash to a different leaf: say so plainly.
  if (leafFromStatement(canonical, r.tenant as string, r.ts as string, sig as never) !== line) fail('entry is not in RFC 8785 canonical form');
  return fail('signature does not verify');
}
