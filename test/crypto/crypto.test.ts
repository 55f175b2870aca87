import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { open, seal } from '../../src/crypto/aead.js';
import { secretEquals } from '../../src/crypto/compare.js';
import { ed25519Sign, ed25519Verify, generateEd25519, publicKeyFromRaw } from '../../src/crypto/ed25519.js';
import { FileKeyProvider } from '../../src/crypto/key-provider.js';

describe('AES-256-GCM sealing', () => {
  const key = Buffer.alloc(32, 7);
  it('round-trips and binds the AAD', () => {
    const sealed = seal(key, Buffer.from('secret'), Buffer.from('ctx-a'));
    expect(open(key, sealed, Buffer.from('ctx-a')).toString()).toBe('secret');
    expect(() => open(key, sealed, Buffer.from('ctx-b'))).toThrow(/decryption failed/);
  });
  it('detects any flipped bit', () => {
    const sealed = seal(key, Buffer.from('secret'), Buffer.from('x'));
    for (const i of [0, 12, 27, sealed.length - 1]) {
      const t = Buffer.from(sealed);
      t[i] = (t[i] as number) ^ 1;
      expect(() => open(key, t, Buffer.from('x'))).toThrow();
    }
    expect(() => open(key, sealed.subarray(0, 20), Buffer.from('x'))).toThrow(/truncated/);
  });
});

describe('Ed25519', () => {
  it('signs and verifies with raw public keys; a bad signature is false, never an exception', () => {
    const kp = generateEd25519();
    const pub = publicKeyFromRaw(kp.publicKey);
    const sig = ed25519Sign(kp.privateKey, Buffer.from('m'));
    expect(ed25519Verify(pub, Buffer.from('m'), sig)).toBe(true);
    expect(ed25519Verify(pub, Buffer.from('n'), sig)).toBe(false);
    expect(ed25519Verify(pub, Buffer.from('m'), sig.subarray(1))).toBe(false);
    expect(() => publicKeyFromRaw(Buffer.alloc(31))).toThrow(/32 bytes/);
  });
});

describe('file master key provider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-mk-'));

  it('creates a 0600 key file and wraps with a bound context', async () => {
    const path = join(dir, 'a.key');
    const p = FileKeyProvider.open(path, { create: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const wrapped = await p.wrap(Buffer.from('private'), 'ctx');
    expect((await p.unwrap(wrapped, 'ctx')).toString()).toBe('private');
    await expect(p.unwrap(wrapped, 'other')).rejects.toThrow(/decryption failed/);
    // A second provider over the same file unwraps the same data.
    expect((await FileKeyProvider.open(path).unwrap(wrapped, 'ctx')).toString()).toBe('private');
  });

  it('refuses a key file that group or others can read', () => {
    const path = join(dir, 'b.key');
    FileKeyProvider.open(path, { create: true });
    chmodSync(path, 0o644);
    expect(() => FileKeyProvider.open(path)).toThrow(/chmod 600/);
  });

  it('refuses a missing or malformed file without creating one', () => {
    expect(() => FileKeyProvider.open(join(dir, 'none.key'))).toThrow(/does not exist/);
    const path = join(dir, 'c.key');
    writeFileSync(path, 'not-a-key\n', { mode: 0o600 });
    expect(() => FileKeyProvider.open(path)).toThrow(/32-byte/);
  });

  it('never shows key material when inspected or serialised', () => {
    const path = join(dir, 'd.key');
    const p = FileKeyProvider.open(path, { create: true });
    const keyB64 = readFileSync(path, 'utf8').trim();
    expect(inspect(p, { showHidden: true, depth: 5 })).not.toContain(keyB64);
    expect(JSON.stringify({ p })).not.toContain(keyB64);
  });
});

describe('secretEquals', () => {
  it('compares content in constant time regardless of length', () => {
    expect(secretEquals('abc', 'abc')).toBe(true);
    expect(secretEquals('abc', 'abd')).toBe(false);
    expect(secretEquals('abc', 'abcd')).toBe(false);
  });
});
