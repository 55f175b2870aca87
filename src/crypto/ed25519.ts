import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { BadInputError } from '../errors.js';

/** An Ed25519 key pair as Warden stores it: raw public key, PKCS#8 DER private key. */
export interface Ed25519KeyPair {
  publicKey: Buffer; // raw 32 bytes
  privateKeyPkcs8: Buffer;
  privateKey: KeyObject;
}

export function generateEd25519(): Ed25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicKey: rawPublicKey(publicKey),
    privateKeyPkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }),
    privateKey,
  };
}

/** The raw 32-byte public key of a KeyObject (RFC 8037 `x`). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new BadInputError('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** A verification KeyObject from raw public key bytes; rejects anything but 32 bytes. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new BadInputError(`Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function privateKeyFromPkcs8(der: Buffer): KeyObject {
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') throw new BadInputError('private key is not Ed25519');
  return key;
}

export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Buffer {
  return sign(null, message, privateKey);
}

/** Never throws on malformed signatures: a bad signature is simply `false`. */
export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Ed25519 public keys of small order (and non-canonical encodings of them), with the sign bit
 * cleared — libsodium's blocklist. OpenSSL accepts signatures against such keys that anyone can
 * forge, so a key from outside (an agent's own key) must never be one of them.
 */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

/** Whether raw 32 bytes are a usable Ed25519 public key: canonical y, not of small order. */
export function isStrongEd25519PublicKey(raw: Uint8Array): boolean {
  if (raw.length !== 32) return false;
  const k = Buffer.from(raw);
  k[31] = (k[31] as number) & 0x7f;
  if (SMALL_ORDER.some((b) => b.equals(k))) return false;
  // Non-canonical: y >= p = 2^255 - 19 (little-endian: ff…ff7f with the low byte >= 0xed).
  if (k[31] === 0x7f && k.subarray(1, 31).every((x) => x === 0xff) && (k[0] as number) >= 0xed) return false;
  return true;
}
