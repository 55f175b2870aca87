import type { KeyObject } from 'node:crypto';
import { publicKeyFromRaw } from '../../crypto/ed25519.js';
import { BadInputError } from '../../errors.js';
import { decodeBase64Strict } from '../base64.js';
import { parseVerifierKey, type ParsedVerifierKey } from '../note.js';

/** One receipt-signing key of a trust bundle, with its validity window. */
export interface TrustKey {
  kid: string;
  alg: 'Ed25519';
  public_key: string;
  state: 'active' | 'retiring' | 'retired' | 'revoked';
  not_before: string;
  not_after: string | null;
  revoked_at: string | null;
}

/** The trust bundle (`warden trust export`, `/.well-known/warden/trust.json`). */
export interface TrustBundle {
  v: 1;
  tenant: string;
  origin: string;
  note_keys: string[];
  keys: TrustKey[];
}

/** A trust bundle checked and ready to verify with. */
export interface Trust {
  bundle: TrustBundle;
  noteVerifiers: ParsedVerifierKey[];
  keys: Map<string, { key: KeyObject; notBefore: number; notAfter: number | null; revokedAt: number | null; meta: TrustKey }>;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2}))$/;
/** The exact form the ledger writes for receipt `ts` (ARCHITECTURE.md: UTC with milliseconds). */
const RECEIPT_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Parses an RFC 3339 timestamp to epoch milliseconds, or undefined for anything malformed or
 * impossible (Feb 30, hour 24, leap seconds, which JavaScript cannot represent). Sub-millisecond
 * digits are rounded in the direction the caller names, so a trust boundary never moves in the
 * attacker's favour: `ceil` for window starts, `floor` for window ends and revocations.
 */
export function parseRfc3339(v: unknown, round: 'floor' | 'ceil' = 'floor'): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  const frac = (m[7] ?? '').padEnd(9, '0');
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, Number(frac.slice(0, 3)));
  if (round === 'ceil' && Number(frac.slice(3)) > 0) ms += 1;
  if (m[9]) {
    const offset = (Number(m[10]) * 60 + Number(m[11])) * 60_000;
    if (Number(m[10]) > 23 || Number(m[11]) > 59) return undefined;
    ms += m[9] === '+' ? -offset : offset;
  }
  return ms;
}

/** A receipt's `ts`: exactly `YYYY-MM-DDTHH:MM:SS.sssZ` and a real instant. */
export function parseReceiptTs(v: unknown): number | undefined {
  if (typeof v !== 'string' || !RECEIPT_TS.test(v)) return undefined;
  // The round trip refuses impossible dates that Date.parse would roll over (Feb 30 → Mar 2).
  const ms = Date.parse(v);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === v ? ms : undefined;
}

function time(v: unknown, where: string, nullable: boolean, round: 'floor' | 'ceil'): number | null {
  if (v === null && nullable) return null;
  const ms = parseRfc3339(v, round);
  if (ms === undefined) throw new BadInputError(`trust bundle: ${where} must be an RFC 3339 timestamp${nullable ? ' or null' : ''}`);
  return ms;
}

/**
 * Validates a trust bundle (attacker-supplied input: every field is checked before use).
 * A key of any type but Ed25519, or a public key that is not 32 bytes, is unusable input.
 */
export function parseTrustBundle(raw: unknown): Trust {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadInputError('trust bundle: expected a JSON object');
  const b = raw as Record<string, unknown>;
  if (b.v !== 1) throw new BadInputError('trust bundle: unsupported version (expected "v": 1)');
  if (typeof b.tenant !== 'string' || b.tenant === '') throw new BadInputError('trust bundle: "tenant" must be a non-empty string');
  if (typeof b.origin !== 'string' || b.origin === '') throw new BadInputError('trust bundle: "origin" must be a non-empty string');
  if (!Array.isArray(b.note_keys) || !Array.isArray(b.keys)) throw new BadInputError('trust bundle: "note_keys" and "keys" must be arrays');
  const noteVerifiers = b.note_keys.map((k, i) => {
    if (typeof k !== 'string') throw new BadInputError(`trust bundle: note_keys[${i}] must be a string`);
    try {
      return parseVerifierKey(k);
    } catch (err) {
      throw new BadInputError(`trust bundle: note_keys[${i}]: ${(err as Error).message}`);
    }
  });
  const keys: Trust['keys'] = new Map();
  b.keys.forEach((k, i) => {
    if (typeof k !== 'object' || k === null) throw new BadInputError(`trust bundle: keys[${i}] must be an object`);
    const key = k as Record<string, unknown>;
    if (key.alg !== 'Ed25519') throw new BadInputError(`trust bundle: keys[${i}] has alg ${JSON.stringify(key.alg)}; only Ed25519 is accepted`);
    if (typeof key.kid !== 'string' || key.kid === '') throw new BadInputError(`trust bundle: keys[${i}].kid must be a non-empty string`);
    if (keys.has(key.kid)) throw new BadInputError(`trust bundle: duplicate kid ${key.kid}`);
    const raw32 = typeof key.public_key === 'string' ? decodeBase64Strict(key.public_key) : undefined;
    if (!raw32 || raw32.length !== 32) throw new BadInputError(`trust bundle: keys[${i}].public_key must be base64 of a raw 32-byte Ed25519 key`);
    if (!['active', 'retiring', 'retired', 'revoked'].includes(key.state as string)) throw new BadInputError(`trust bundle: keys[${i}].state is invalid`);
    keys.set(key.kid, {
      key: publicKeyFromRaw(raw32),
      notBefore: time(key.not_before, `keys[${i}].not_before`, false, 'ceil') as number,
      notAfter: time(key.not_after, `keys[${i}].not_after`, true, 'floor'),
      revokedAt: time(key.revoked_at, `keys[${i}].revoked_at`, true, 'floor'),
      meta: key as unknown as TrustKey,
    });
  });
  return { bundle: b as unknown as TrustBundle, noteVerifiers, keys };
}
