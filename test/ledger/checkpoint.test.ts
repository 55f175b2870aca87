import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError, VerificationError } from '../../src/errors.js';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from '../../src/ledger/checkpoint.js';
import { encodeVerifierKey, parseNote, parseVerifierKey, signNote, type ParsedVerifierKey } from '../../src/ledger/note.js';

const VECTORS = path.resolve(process.cwd(), '../shared/vectors');

function keyPair(name: string): { privateKey: KeyObject; verifier: ParsedVerifierKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, verifier: parseVerifierKey(encodeVerifierKey(name, publicKey)) };
}

const root = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');

describe('formatCheckpoint / parseCheckpoint', () => {
  it('formats exactly the C2SP layout', () => {
    expect(formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: root })).toBe(
      'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
    );
  });

  it('parses the tlog-checkpoint spec example', () => {
    const spec = readFileSync(path.join(VECTORS, 'signed-note', 'tlog-checkpoint.md'), 'utf8');
    const block = /```\n([\s\S]*?)```/.exec(spec)?.[1];
    expect(block).toBeDefined();
    const cp = parseCheckpoint(parseNote(block as string).text);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(cp.rootHash.equals(root)).toBe(true);
    expect(cp.extensions).toEqual([]);
  });

  it.each([
    { origin: 'warden.example/acme', size: 0, rootHash: randomBytes(32) },
    { origin: 'warden.example/acme', size: 1, rootHash: randomBytes(32) },
    { origin: 'any origin at all + spaces', size: Number.MAX_SAFE_INTEGER, rootHash: randomBytes(32) },
    { origin: 'o', size: 42, rootHash: randomBytes(32), extensions: ['ext one', '— ext two'] },
  ])('round-trips $origin / $size', (cp) => {
    const parsed = parseCheckpoint(formatCheckpoint(cp));
    expect(parsed.origin).toBe(cp.origin);
    expect(parsed.size).toBe(cp.size);
    expect(parsed.rootHash.equals(cp.rootHash)).toBe(true);
    expect(parsed.extensions).toEqual(cp.extensions ?? []);
  });

  const r = root.toString('base64');
  const base = `warden.example/acme\n5\n${r}\n`;
  it('accepts the base case of the rejection corpus', () => {
    expect(parseCheckpoint(base).size).toBe(5);
  });
  it.each([
    ['leading zero', `warden.example/acme\n05\n${r}\n`],
    ['double zero', `warden.example/acme\n00\n${r}\n`],
    ['negative size', `warden.example/acme\n-5\n${r}\n`],
    ['plus sign', `warden.example/acme\n+5\n${r}\n`],
    ['space in size', `warden.example/acme\n 5\n${r}\n`],
    ['decimal point', `warden.example/acme\n5.0\n${r}\n`],
    ['exponent', `warden.example/acme\n5e0\n${r}\n`],
    ['hex size', `warden.example/acme\n0x5\n${r}\n`],
    ['size 2^53', `warden.example/acme\n9007199254740992\n${r}\n`],
    ['huge size', `warden.example/acme\n${'9'.repeat(30)}\n${r}\n`],
    ['empty size', `warden.example/acme\n\n${r}\n`],
    ['31-byte root', `warden.example/acme\n5\n${root.subarray(0, 31).toString('base64')}\n`],
    ['33-byte root', `warden.example/acme\n5\n${Buffer.concat([root, Buffer.from([0])]).toString('base64')}\n`],
    ['unpadded root', `warden.example/acme\n5\n${r.replace(/=$/, '')}\n`],
    ['url-safe root', `warden.example/acme\n5\n${Buffer.alloc(32, 0xff).toString('base64url')}=\n`],
    ['non-canonical pad bits', `warden.example/acme\n5\n${r.slice(0, -2)}J=\n`],
    ['hex root', `warden.example/acme\n5\n${root.toString('hex')}\n`],
    ['empty origin', `\n5\n${r}\n`],
    ['missing final newline', base.slice(0, -1)],
    ['only two lines', `warden.example/acme\n5\n`],
    ['empty', ''],
    ['trailing blank line (empty extension)', `${base}\n`],
    ['empty extension between', `${base}\next\n`],
    ['CRLF', base.replace(/\n/g, '\r\n')],
    ['control character in origin', `warden\u0001example/acme\n5\n${r}\n`],
    ['tab in extension', `${base}a\tb\n`],
  ])('rejects %s', (_name, text) => {
    expect(() => parseCheckpoint(text)).toThrow(BadInputError);
  });

  it('refuses to format invalid checkpoints', () => {
    expect(() => formatCheckpoint({ origin: '', size: 1, rootHash: root })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: root })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, rootHash: root })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1.5, rootHash: root })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'o', size: 2 ** 53, rootHash: root })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root.subarray(1) })).toThrow(BadInputError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: root, extensions: [''] })).toThrow(BadInputError);
  });
});

describe('signCheckpoint / openCheckpoint', () => {
  const origin = 'warden.example/acme';
  const log = keyPair(origin);
  const cp = { origin, size: 7, rootHash: randomBytes(32) };

  it('signs with key name = origin and opens', () => {
    const note = signCheckpoint(cp, log.privateKey);
    expect(note.split('\n')[4]?.startsWith(`\u2014 ${origin} `)).toBe(true);
    const opened = openCheckpoint(note, [log.verifier], origin);
    expect(opened.checkpoint.size).toBe(7);
    expect(opened.checkpoint.rootHash.equals(cp.rootHash)).toBe(true);
    expect(opened.verifiedBy).toEqual([origin]);
    expect(opened.text).toBe(formatCheckpoint(cp));
  });

  it('rejects a checkpoint for another origin with a clear VerificationError', () => {
    const other = keyPair('warden.example/globex');
    const note = signCheckpoint({ ...cp, origin: 'warden.example/globex' }, other.privateKey);
    expect(() => openCheckpoint(note, [log.verifier, other.verifier], origin)).toThrow(VerificationError);
    expect(() => openCheckpoint(note, [log.verifier, other.verifier], origin)).toThrow(/checkpoint is for origin "warden.example\/globex", expected "warden.example\/acme"/);
  });

  it('requires the signature of a key named like the origin', () => {
    const witness = keyPair('witness.example/w1');
    const byWitnessOnly = signNote(formatCheckpoint(cp), 'witness.example/w1', witness.privateKey);
    expect(() => openCheckpoint(byWitnessOnly, [log.verifier, witness.verifier], origin)).toThrow(/not signed by a known log key/);
    expect(() => openCheckpoint(byWitnessOnly, [log.verifier], origin)).toThrow(VerificationError);
  });

  it('accepts witness cosignatures and ignores unknown ones', () => {
    const witness = keyPair('witness.example/w1');
    const stranger = keyPair('stranger.example');
    const text = formatCheckpoint(cp);
    const cosig = (name: string, k: KeyObject): string => signNote(text, name, k).split('\n\n')[1] as string;
    const note = signCheckpoint(cp, log.privateKey) + cosig('witness.example/w1', witness.privateKey) + cosig('stranger.example', stranger.privateKey);
    expect(openCheckpoint(note, [log.verifier, witness.verifier], origin).verifiedBy).toEqual([origin, 'witness.example/w1']);
  });

  it('rejects a tampered checkpoint and a wrong log key', () => {
    const note = signCheckpoint(cp, log.privateKey);
    expect(() => openCheckpoint(note.replace('\n7\n', '\n8\n'), [log.verifier], origin)).toThrow(VerificationError);
    const impostor = keyPair(origin);
    expect(() => openCheckpoint(note, [impostor.verifier], origin)).toThrow(VerificationError);
  });

  it('rejects malformed notes and bodies as BadInputError', () => {
    const text = 'warden.example/acme\n07\n' + cp.rootHash.toString('base64') + '\n';
    const note = signNote(text, origin, log.privateKey);
    expect(() => openCheckpoint(note, [log.verifier], origin)).toThrow(BadInputError);
    expect(() => openCheckpoint('garbage', [log.verifier], origin)).toThrow(BadInputError);
  });

  it('refuses origins that cannot be key names', () => {
    expect(() => signCheckpoint({ ...cp, origin: 'has space' }, log.privateKey)).toThrow(BadInputError);
    expect(() => signCheckpoint({ ...cp, origin: 'a+b' }, log.privateKey)).toThrow(BadInputError);
  });
});
