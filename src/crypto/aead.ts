import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyError } from '../errors.js';

/** AES-256-GCM with a random 96-bit IV. Output: iv(12) ‖ tag(16) ‖ ciphertext. */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== 32) throw new KeyError('AES-256-GCM key must be 32 bytes');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

/** Inverse of {@link seal}; a wrong key, AAD or any flipped bit is a KeyError, never garbage. */
export function open(key: Buffer, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (key.length !== 32) throw new KeyError('AES-256-GCM key must be 32 bytes');
  if (sealed.length < 28) throw new KeyError('sealed data is truncated');
  const buf = Buffer.from(sealed);
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]);
  } catch (err) {
    throw new KeyError('decryption failed: wrong key, wrong context or tampered data', { cause: err });
  }
}
