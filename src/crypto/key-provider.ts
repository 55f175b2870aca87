import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeyError } from '../errors.js';
import { open, seal } from './aead.js';

/**
 * Wraps and unwraps key material under a master key that never leaves the provider.
 * The local file provider is the default; a KMS or Vault transit provider implements the
 * same two calls (their own envelope format is opaque to Warden).
 */
export interface MasterKeyProvider {
  /** Stable description for `config show` and logs; never key material. */
  readonly description: string;
  wrap(plaintext: Uint8Array, context: string): Promise<Buffer>;
  unwrap(wrapped: Uint8Array, context: string): Promise<Buffer>;
}

const FORMAT_V1 = 0x01;

/**
 * A 32-byte master key in a local file (base64, mode 0600). Refuses a file that group or
 * others can read, as OpenSSH does for private keys.
 */
export class FileKeyProvider implements MasterKeyProvider {
  readonly description: string;
  readonly #key: Buffer;

  private constructor(path: string, key: Buffer) {
    this.description = `file:${path}`;
    this.#key = key;
  }

  /** Opens the key file, creating it (0600) when `create` is set and it does not exist. */
  static open(path: string, options: { create?: boolean } = {}): FileKeyProvider {
    let st;
    try {
      st = statSync(path);
    } catch {
      if (!options.create) throw new KeyError(`master key file ${path} does not exist (run \`warden init\`)`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const key = randomBytes(32);
      // 'wx': never overwrite a key someone else just created.
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, key.toString('base64') + '\n');
      } finally {
        closeSync(fd);
      }
      return new FileKeyProvider(path, key);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new KeyError(
        `master key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
      );
    }
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new KeyError(`master key file ${path} does not hold a base64 32-byte key`);
    return new FileKeyProvider(path, key);
  }

  async wrap(plaintext: Uint8Array, context: string): Promise<Buffer> {
    return Buffer.concat([Buffer.of(FORMAT_V1), seal(this.#key, plaintext, Buffer.from(context, 'utf8'))]);
  }

  async unwrap(wrapped: Uint8Array, context: string): Promise<Buffer> {
    if (wrapped[0] !== FORMAT_V1) throw new KeyError('wrapped key has an unknown format');
    return open(this.#key, wrapped.subarray(1), Buffer.from(context, 'utf8'));
  }

  /** Keeps key bytes out of util.inspect / console.log. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `FileKeyProvider(${this.description})`;
  }

  toJSON(): string {
    return this.description;
  }
}
