import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../src/crypto/jcs.js';
import { VECTORS } from '../helpers/warden.js';

describe('RFC 8785 canonical JSON', () => {
  const dir = join(VECTORS, 'jcs');
  const names = readdirSync(join(dir, 'input'));

  it('has the vectors', () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
  });

  for (const name of names) {
    it(`canonicalises ${name} to exactly the expected bytes`, () => {
      const input = JSON.parse(readFileSync(join(dir, 'input', name), 'utf8')) as unknown;
      const expected = readFileSync(join(dir, 'output', name));
      expect(Buffer.from(jcs(input), 'utf8').equals(expected)).toBe(true);
      const hex = readFileSync(join(dir, 'outhex', name.replace(/\.json$/, '.txt')), 'utf8').replace(/\s+/g, '');
      expect(Buffer.from(jcs(input), 'utf8').toString('hex')).toBe(hex.toLowerCase());
    });
  }

  it('rejects values JCS cannot represent', () => {
    expect(() => jcs({ a: NaN })).toThrow(/canonicalised/);
    expect(() => jcs({ a: Infinity })).toThrow(/canonicalised/);
    expect(() => jcs('\ud800')).toThrow(/canonicalised/);
    expect(() => jcs(undefined)).toThrow(/canonicalised/);
  });
});
