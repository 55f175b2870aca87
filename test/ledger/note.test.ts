import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError, VerificationError } from '../../src/errors.js';
import {
  encodeVerifierKey,
  MAX_SIGNATURES,
  noteKeyId,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
  type ParsedVerifierKey,
} from '../../src/ledger/note.js';

const VECTORS = path.resolve(process.cwd(), '../shared/vectors');

interface NoteVector {
  description: string;
  verifier_key: string;
  note: string;
  valid: boolean;
}
const vectors = JSON.parse(readFileSync(path.join(VECTORS, 'signed-note', 'vectors.json'), 'utf8')) as NoteVector[];
const example = vectors[0] as NoteVector;

function keyPair(name: string): { name: string; privateKey: KeyObject; vkey: string; verifier: ParsedVerifierKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const vkey = encodeVerifierKey(name, publicKey);
  return { name, privateKey, vkey, verifier: parseVerifierKey(vkey) };
}

/** Replaces the signature bytes (after the key ID) of signature line `line` using `edit`. */
function editSignature(note: string, line: number, edit: (raw: Buffer) => Buffer): string {
  const lines = note.split('\n');
  const sigLines = lines.map((l, i) => [l, i] as const).filter(([l]) => l.startsWith('\u2014 '));
  const [l, i] = sigLines[line] as readonly [string, number];
  const sp = l.lastIndexOf(' ');
  lines[i] = `${l.slice(0, sp)} ${edit(Buffer.from(l.slice(sp + 1), 'base64')).toString('base64')}`;
  return lines.join('\n');
}

describe('signed-note vector', () => {
  it('has the example', () => {
    expect(vectors.length).toBeGreaterThan(0);
    expect(example.valid).toBe(true);
  });

  it.each(vectors.map((v) => [v.description, v]))('%s', (_d, v) => {
    const verifier = parseVerifierKey(v.verifier_key);
    if (v.valid) {
      const opened = openNote(v.note, [verifier]);
      expect(opened.verifiedBy).toEqual([verifier.name]);
      expect(opened.text.endsWith('\n')).toBe(true);
    } else {
      expect(() => openNote(v.note, [verifier])).toThrow();
    }
  });

  it('parses the example verifier key and re-encodes it identically', () => {
    const v = parseVerifierKey(example.verifier_key);
    expect(v.name).toBe('example.com/foo');
    expect(v.keyId).toBe(0x530d903a);
    expect(noteKeyId(v.name, v.publicKey)).toBe(0x530d903a);
    expect(encodeVerifierKey(v.name, v.publicKey)).toBe(example.verifier_key);
    expect(encodeVerifierKey(v.name, v.keyObject)).toBe(example.verifier_key);
    const opened = openNote(example.note, [v]);
    expect(opened.text).toBe('This is an example message.\n');
    // Byte input is accepted too.
    expect(openNote(Buffer.from(example.note, 'utf8'), [v]).text).toBe(opened.text);
  });

  const v = parseVerifierKey(example.verifier_key);

  it('rejects tampered text', () => {
    expect(() => openNote(example.note.replace('example message', 'exemple message'), [v])).toThrow(VerificationError);
  });

  it('rejects a tampered signature', () => {
    const bad = editSignature(example.note, 0, (raw) => {
      raw[10] = (raw[10] as number) ^ 0x40;
      return raw;
    });
    expect(() => openNote(bad, [v])).toThrow(/invalid note signature by key example.com\/foo/);
  });

  it('rejects a truncated or extended signature from a known key', () => {
    expect(() => openNote(editSignature(example.note, 0, (raw) => raw.subarray(0, 40)), [v])).toThrow(VerificationError);
    expect(() => openNote(editSignature(example.note, 0, (raw) => Buffer.concat([raw, Buffer.from([0])])), [v])).toThrow(VerificationError);
  });

  it('rejects a note verified with the wrong key', () => {
    const other = keyPair('example.com/foo'); // same name, different key → different key ID → unknown
    expect(() => openNote(example.note, [other.verifier])).toThrow(/no signature from a known key/);
    // Same name and key ID but a different public key: the signature must be checked and fails.
    const impostor: ParsedVerifierKey = { ...other.verifier, keyId: v.keyId };
    expect(() => openNote(example.note, [impostor])).toThrow(/invalid note signature/);
  });

  it('rejects a verifier key whose key ID does not match', () => {
    const wrongId = example.verifier_key.replace('+530d903a+', '+530d903b+');
    expect(() => parseVerifierKey(wrongId)).toThrow(BadInputError);
    // And a signature line whose key ID does not match any known key is ignored → no known signature.
    const renumbered = editSignature(example.note, 0, (raw) => {
      raw[3] = (raw[3] as number) ^ 1;
      return raw;
    });
    expect(() => openNote(renumbered, [v])).toThrow(/no signature from a known key/);
  });

  it('rejects a note whose text does not end with a newline', () => {
    expect(() => openNote(example.note.slice(0, -1), [v])).toThrow(BadInputError);
    expect(() => openNote(example.note.replace('message.\n\n', 'message.\n'), [v])).toThrow(BadInputError);
  });

  it('ignores an extra signature by an unknown key, and one sharing only the name', () => {
    const stranger = keyPair('witness.example/w1');
    const sameName = keyPair('example.com/foo');
    const extra1 = signNote('This is an example message.\n', stranger.name, stranger.privateKey).split('\n\n')[1] as string;
    const extra2 = signNote('This is an example message.\n', sameName.name, sameName.privateKey).split('\n\n')[1] as string;
    const note = example.note + extra1 + extra2;
    expect(openNote(note, [v]).verifiedBy).toEqual(['example.com/foo']);
    // Unknown signatures need not even verify: garbage from an unknown key is ignored.
    const garbage = `\u2014 unknown.example ${Buffer.alloc(68, 7).toString('base64')}\n`;
    expect(openNote(example.note + garbage, [v]).verifiedBy).toEqual(['example.com/foo']);
    // If that key becomes known its valid signature counts as well.
    expect(openNote(note, [v, stranger.verifier]).verifiedBy).toEqual(['example.com/foo', 'witness.example/w1']);
  });

  it('rejects a repeated signature by a known key', () => {
    const sigLine = example.note.split('\n\n')[1] as string;
    expect(() => openNote(example.note + sigLine, [v])).toThrow(/two signatures/);
  });
});

describe('signNote / openNote', () => {
  const log = keyPair('warden.example/acme');
  const witness = keyPair('witness.example/w1');

  it('round-trips, including multi-line text with empty lines', () => {
    const text = 'line one\n\nline three — ünïcödé\n';
    const note = signNote(text, log.name, log.privateKey);
    expect(note.startsWith(`${text}\n\u2014 warden.example/acme `)).toBe(true);
    const opened = openNote(note, [log.verifier]);
    expect(opened.text).toBe(text);
    expect(opened.verifiedBy).toEqual([log.name]);
  });

  it('verifies several signatures (cosigning) and accepts at least 16', () => {
    const text = 'cosigned\n';
    const signers = Array.from({ length: 16 }, (_, i) => keyPair(`w${i}.example`));
    const lines = signers.map((s) => (signNote(text, s.name, s.privateKey).split('\n\n')[1] as string)).join('');
    const opened = openNote(`${text}\n${lines}`, signers.map((s) => s.verifier));
    expect(opened.verifiedBy).toHaveLength(16);
  });

  it('rejects a failing signature by a known key even if another one verifies', () => {
    const text = 'two\n';
    const good = signNote(text, log.name, log.privateKey);
    const bad = editSignature(signNote(text, witness.name, witness.privateKey), 0, (raw) => {
      raw[20] = (raw[20] as number) ^ 1;
      return raw;
    });
    const note = good + (bad.split('\n\n')[1] as string);
    expect(openNote(note, [log.verifier]).verifiedBy).toEqual([log.name]);
    expect(() => openNote(note, [log.verifier, witness.verifier])).toThrow(/invalid note signature by key witness/);
  });

  it('refuses to sign malformed text, names or keys', () => {
    expect(() => signNote('no newline', log.name, log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('tab\there\n', log.name, log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('cr\r\n', log.name, log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('lone \ud800 surrogate\n', log.name, log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('ok\n', 'has space', log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('ok\n', 'has+plus', log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('ok\n', '', log.privateKey)).toThrow(BadInputError);
    expect(() => signNote('ok\n', log.name, createPublicKey(log.privateKey))).toThrow(BadInputError);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => signNote('ok\n', log.name, ec.privateKey)).toThrow(BadInputError);
  });

  it('rejects ambiguous verifier sets', () => {
    const other = keyPair(log.name);
    const clash: ParsedVerifierKey = { ...other.verifier, keyId: log.verifier.keyId };
    const note = signNote('x\n', log.name, log.privateKey);
    expect(() => openNote(note, [log.verifier, clash])).toThrow(BadInputError);
    expect(openNote(note, [log.verifier, log.verifier]).verifiedBy).toEqual([log.name]); // exact duplicates are fine
  });

  it('requires at least one known signature', () => {
    const note = signNote('x\n', log.name, log.privateKey);
    expect(() => openNote(note, [])).toThrow(VerificationError);
    expect(() => openNote(note, [witness.verifier])).toThrow(VerificationError);
  });
});

describe('malformed notes (BadInputError)', () => {
  const log = keyPair('warden.example/acme');
  const good = signNote('hello\n', log.name, log.privateKey);
  const sigLine = good.split('\n\n')[1] as string;
  const sig = sigLine.slice(sigLine.lastIndexOf(' ') + 1, -1);
  const cases: [string, string | Uint8Array][] = [
    ['no blank line', `hello\n${sigLine}`],
    ['no signatures', 'hello\n\n'],
    ['signature line without final newline', good.slice(0, -1)],
    ['hyphen instead of em dash', `hello\n\n- ${log.name} ${sig}\n`],
    ['en dash instead of em dash', `hello\n\n\u2013 ${log.name} ${sig}\n`],
    ['missing space after dash', `hello\n\n\u2014${log.name} ${sig}\n`],
    ['no signature after name', `hello\n\n\u2014 ${log.name}\n`],
    ['empty signature', `hello\n\n\u2014 ${log.name} \n`],
    ['double space', `hello\n\n\u2014 ${log.name}  ${sig}\n`],
    ['trailing space', `hello\n\n\u2014 ${log.name} ${sig} \n`],
    ['name with plus', `hello\n\n\u2014 a+b ${sig}\n`],
    ['empty name', `hello\n\n\u2014  ${sig}\n`],
    ['unpadded base64', `hello\n\n\u2014 ${log.name} ${sig.replace(/=+$/, '')}\n`],
    ['url-safe base64', `hello\n\n\u2014 ${log.name} ${Buffer.alloc(69, 0xff).toString('base64url')}\n`],
    ['signature shorter than 5 bytes', `hello\n\n\u2014 ${log.name} AAAAAA==\n`],
    ['CRLF line endings', good.replace(/\n/g, '\r\n')],
    ['NUL in text', `hel\u0000lo\n\n${sigLine}`],
    ['trailing garbage line', `${good}garbage\n`],
    ['invalid UTF-8 bytes', Buffer.concat([Buffer.from('hel'), Buffer.from([0xff]), Buffer.from(`lo\n\n${sigLine}`)])],
    ['lone surrogate', `hel\udc00lo\n\n${sigLine}`],
    ['too many signatures', `hello\n\n${sigLine.repeat(MAX_SIGNATURES + 1)}`],
    ['over 1 MiB', `${'a'.repeat(1024 * 1024)}\n\n${sigLine}`],
  ];
  it.each(cases)('%s', (_name, note) => {
    expect(() => parseNote(note)).toThrow(BadInputError);
    expect(() => openNote(note, [log.verifier])).toThrow(BadInputError);
  });

  it('splits at the last blank line: a signature line before it is just text (and fails to verify)', () => {
    const shifted = `${good}\n${sigLine}`;
    expect(parseNote(shifted).text).toBe(`hello\n\n${sigLine}`);
    expect(() => openNote(shifted, [log.verifier])).toThrow(VerificationError);
  });

  it('the well-formed base case opens (so the corpus tests the mutation, not the base)', () => {
    expect(openNote(good, [log.verifier]).text).toBe('hello\n');
    expect(parseNote(`hello\n\n${sigLine.repeat(MAX_SIGNATURES)}`).signatures).toHaveLength(MAX_SIGNATURES);
  });
});

describe('parseVerifierKey rejections', () => {
  const { vkey, verifier } = keyPair('warden.example/acme');
  const [name, id, key] = vkey.split('+') as [string, string, string];
  const raw = Buffer.from(key, 'base64');
  const withKey = (b: Buffer, n = name, i = id): string => `${n}+${i}+${b.toString('base64')}`;
  const cases: [string, string][] = [
    ['wrong type byte', withKey(Buffer.concat([Buffer.from([0x02]), raw.subarray(1)]))],
    ['type 0x04 cosignature key', withKey(Buffer.concat([Buffer.from([0x04]), raw.subarray(1)]))],
    ['31-byte key', withKey(raw.subarray(0, 32))],
    ['33-byte key', withKey(Buffer.concat([raw, Buffer.from([0])]))],
    ['type byte only', withKey(raw.subarray(0, 1))],
    ['empty key', `${name}+${id}+`],
    ['name with space', withKey(raw, 'warden example')],
    ['name with tab', withKey(raw, 'warden\texample')],
    ['name with no-break space', withKey(raw, 'warden\u00a0example')],
    ['empty name', withKey(raw, '')],
    ['uppercase key ID', example.verifier_key.replace('+530d903a+', '+530D903A+')],
    ['short key ID', withKey(raw, name, id.slice(1))],
    ['mismatched key ID', withKey(raw, name, ((verifier.keyId ^ 1) >>> 0).toString(16).padStart(8, '0'))],
    ['extra plus part', `${vkey}+x`],
    ['missing part', `${name}+${id}`],
    ['base64 with an embedded space', `${name}+${id}+${key.slice(0, 8)} ${key.slice(8)}`],
    ['base64 with padding appended', `${name}+${id}+${key}==`],
  ];
  it.each(cases)('%s', (_n, bad) => {
    expect(() => parseVerifierKey(bad)).toThrow(BadInputError);
  });
  it('accepts key material whose base64 contains "+"', () => {
    let k = keyPair('warden.example/plus');
    while (k.vkey.split('+').length === 3) k = keyPair('warden.example/plus');
    expect(k.vkey.split('+').length).toBeGreaterThan(3);
    expect(parseVerifierKey(k.vkey).publicKey.equals(k.verifier.publicKey)).toBe(true);
  });
  it('accepts the untouched key', () => {
    expect(parseVerifierKey(vkey).publicKey.equals(verifier.publicKey)).toBe(true);
  });
});
