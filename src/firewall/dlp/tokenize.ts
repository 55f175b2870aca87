/**
 * Reversible tokenization of sensitive values: `tok_<base64url>`, decryptable only with the
 * key Warden holds.
 *
 * Construction (deterministic AEAD in the SIV style): from the caller's key, HKDF-SHA256
 * derives an encryption key and an IV key; IV = HMAC-SHA256(ivKey, value) truncated to 96
 * bits; ciphertext = AES-256-GCM(encKey, IV, value, AAD = "warden-dlp-token/v1" ‖ context).
 * The same value always gives the same token — joins and de-duplication keep working on
 * tokenized data — and two different values share an IV only on an HMAC collision. What this
 * reveals, by design: equality of values and their length. On detokenize, the IV is
 * recomputed from the plaintext and compared, so a token is accepted only if it is exactly the
 * token this key would have made.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { KeyError, BadInputError } from '../../errors.js';
import { secretEquals } from '../../crypto/compare.js';

export const TOKEN_PREFIX = 'tok_';

export interface Tokenizer {
  /** Deterministic: the same value (and context) always yields the same token. */
  tokenize(value: string): string;
  /** The original value; a KeyError for a wrong key, another context or a tampered token. */
  detokenize(token: string): string;
  /** Whether `text` has the token shape (cheap; says nothing about the key). */
  isToken(text: string): boolean;
}

const TOKEN_SHAPE = /^tok_[A-Za-z0-9_-]{38,}$/;
/** Bounds the work an attacker-supplied token can cause. */
const MAX_TOKEN_LENGTH = 64 * 1024;

/**
 * Creates a tokenizer under `key` (32 bytes, e.g. a tenant key from the keyring). `context`
 * binds tokens to a purpose or tenant: a token made under one context does not detokenize
 * under another.
 *
 * @example
 * ```ts
 * const t = createTokenizer(tenantKey, { context: 'tenant-a' });
 * const token = t.tokenize('4111 1111 1111 1111'); // 'tok_…'
 * t.detokenize(token); // '4111 1111 1111 1111'
 * ```
 */
export function createTokenizer(key: Buffer, options: { context?: string } = {}): Tokenizer {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new KeyError('the tokenization key must be 32 bytes');
  const context = options.context ?? '';
  const derive = (purpose: string): Buffer => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `warden-dlp-token/v1/${purpose}`, 32));
  const encKey = derive('enc');
  const ivKey = derive('iv');
  const aad = Buffer.from(`warden-dlp-token/v1\u0000${context}`);
  const ivFor = (value: Buffer): Buffer => createHmac('sha256', ivKey).update(aad).update(value).digest().subarray(0, 12);

  return {
    tokenize(value) {
      const plaintext = Buffer.from(value, 'utf8');
      const iv = ivFor(plaintext);
      const cipher = createCipheriv('aes-256-gcm', encKey, iv);
      cipher.setAAD(aad);
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return TOKEN_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url');
    },
    detokenize(token) {
      if (token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) throw new BadInputError('not a Warden token');
      const raw = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url');
      if (raw.length < 28) throw new BadInputError('the token is truncated');
      const iv = raw.subarray(0, 12);
      const decipher = createDecipheriv('aes-256-gcm', encKey, iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(raw.subarray(12, 28));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
      } catch (err) {
        throw new KeyError('the token does not decrypt: wrong key, wrong context or tampered token', { cause: err });
      }
      if (!secretEquals(ivFor(plaintext), iv)) throw new KeyError('the token was not made by this tokenizer');
      return plaintext.toString('utf8');
    },
    isToken(text) {
      return TOKEN_SHAPE.test(text);
    },
  };
}
