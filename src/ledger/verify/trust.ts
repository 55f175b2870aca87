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

/** RFC 3339 with a mandatory zone; the ledger writes `YYYY-MM-DDTHH:MM:SS.sssZ`. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 timestamp to epoch milliseconds, or undefined. */
export function parseRfc3339(v: unknown): number | undefined {
  if (typeof v !== 'string' || !RFC3339.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

function time(v: unknown, where: string, nullable: boolean): number | null {
  if (v === null && nullable) return null;
  const ms = parseRfc3339(v);
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
      notBefore: time(key.not_before, `keys[${i}].not_before`, false) as number,
      notAfter: time(key.not_after, `keys[${i}].not_after`, true),
      revokedAt: time(key.revoked_at, `keys[${i}].revoked_at`, true),
      meta: key as unknown as TrustKey,
    });
  });
  return { bundle: b as unknown as TrustBundle, noteVerifiers, keys };
}
