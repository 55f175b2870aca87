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
