import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError, VerificationError } from '../../src/errors.js';
import { openCheckpoint, signCheckpoint } from '../../src/ledger/checkpoint.js';
import { inclusionProof, leafHash, rootFromLeafHashes, verifyInclusion } from '../../src/ledger/merkle.js';
import { encodeVerifierKey, parseVerifierKey } from '../../src/ledger/note.js';
import { formatTlogProof, MAX_PROOF_HASHES, MAX_TLOG_PROOF_BYTES, parseTlogProof, TLOG_PROOF_HEADER } from '../../src/ledger/tlog-proof.js';

const VECTORS = path.resolve(process.cwd(), '../shared/vectors');

const origin = 'warden.example/acme';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const verifier = parseVerifierKey(encodeVerifierKey(origin, publicKey));

// A small log: 11 receipts' leaf inputs L.
const leafInputs = Array.from({ length: 11 }, (_, i) => Buffer.from(`{"seq":${i},"v":1}`));
const leafHashes = leafInputs.map(leafHash);
const checkpointNote = signCheckpoint({ origin, size: leafHashes.length, rootHash: rootFromLeafHashes(leafHashes) }, privateKey);

describe('formatTlogProof / parseTlogProof', () => {
  it('formats the exact C2SP layout', () => {
    const proof = inclusionProof(leafHashes, 6, 11);
    const text = formatTlogProof({ extra: leafInputs[6], index: 6, proof, checkpointNote });
    const expected = [
      TLOG_PROOF_HEADER,
      `extra ${(leafInputs[6] as Buffer).toString('base64')}`,
      'index 6',
      ...proof.map((h) => h.toString('base64')),
      '',
      checkpointNote,
    ].join('\n');
    expect(text).toBe(expected);
  });

  it('round-trips every index, with and without extra, and verifies end to end', () => {
    for (let i = 0; i < leafHashes.length; i++) {
      const proof = inclusionProof(leafHashes, i, leafHashes.length);
      for (const extra of [leafInputs[i], undefined]) {
        const text = formatTlogProof(extra === undefined ? { index: i, proof, checkpointNote } : { extra, index: i, proof, checkpointNote });
        const p = parseTlogProof(text);
        expect(p.index).toBe(i);
        expect(p.proof.map((h) => h.toString('hex'))).toEqual(proof.map((h) => h.toString('hex')));
        expect(p.checkpointNote).toBe(checkpointNote);
        expect(p.extra?.toString()).toBe(extra?.toString());
        expect(Object.hasOwn(p, 'extra')).toBe(extra !== undefined);
        // The offline verification a holder of the proof does:
        const { checkpoint } = openCheckpoint(p.checkpointNote, [verifier], origin);
        expect(() => verifyInclusion(leafHash(p.extra ?? (leafInputs[i] as Buffer)), p.index, checkpoint.size, p.proof, checkpoint.rootHash)).not.toThrow();
        // …and an edited receipt does not verify.
        expect(() => verifyInclusion(leafHash(Buffer.from('{"seq":99}')), p.index, checkpoint.size, p.proof, checkpoint.rootHash)).toThrow(VerificationError);
      }
    }
  });

  it('round-trips a single-leaf tree (no proof hashes) and an empty extra', () => {
    const one = signCheckpoint({ origin, size: 1, rootHash: leafHashes[0] as Buffer }, privateKey);
    const text = formatTlogProof({ extra: Buffer.alloc(0), index: 0, proof: [], checkpointNote: one });
    expect(text.startsWith(`${TLOG_PROOF_HEADER}\nextra \nindex 0\n\n`)).toBe(true);
    const p = parseTlogProof(text);
    expect(p.proof).toEqual([]);
    expect(p.extra?.length).toBe(0);
    expect(parseTlogProof(Buffer.from(text)).index).toBe(0);
  });

  it('parses the spec example header once its truncated signatures are replaced', () => {
    const spec = readFileSync(path.join(VECTORS, 'signed-note', 'tlog-proof.md'), 'utf8');
    const block = /```\n([\s\S]*?)```/.exec(spec)?.[1] as string;
    // The example's signatures are elided ("[...]"), so as printed it must be rejected …
    expect(() => parseTlogProof(block)).toThrow(/checkpoint is malformed/);
    // … while its header part is well-formed.
    const head = block.slice(0, block.indexOf('\n\n') + 2);
    const exampleLog = generateKeyPairSync('ed25519');
    const cp = signCheckpoint(
      { origin: 'example.com/fancylog', size: 109482, rootHash: Buffer.from('sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=', 'base64') },
      exampleLog.privateKey,
    );
    const p = parseTlogProof(head + cp);
    expect(p.index).toBe(73894);
    expect(p.proof).toHaveLength(5);
    expect(p.extra).toBeDefined();
  });

  const proof = inclusionProof(leafHashes, 6, 11);
  const lines = proof.map((h) => h.toString('base64'));
  const good = formatTlogProof({ extra: leafInputs[6], index: 6, proof, checkpointNote });
  const extraLine = `extra ${(leafInputs[6] as Buffer).toString('base64')}`;
  const build = (...ls: string[]): string => `${ls.join('\n')}\n\n${checkpointNote}`;

  it('accepts the base case of the rejection corpus', () => {
    expect(parseTlogProof(build(TLOG_PROOF_HEADER, extraLine, 'index 6', ...lines)).index).toBe(6);
  });

  it.each([
    ['wrong header', build('c2sp.org/tlog-proof@v2', extraLine, 'index 6', ...lines)],
    ['header with trailing space', build(`${TLOG_PROOF_HEADER} `, extraLine, 'index 6', ...lines)],
    ['leading blank line', `\n${good}`],
    ['BOM', `\ufeff${good}`],
    ['extra not base64', build(TLOG_PROOF_HEADER, 'extra !!!!', 'index 6', ...lines)],
    ['extra unpadded', build(TLOG_PROOF_HEADER, 'extra YQ', 'index 6', ...lines)],
    ['extra without space', build(TLOG_PROOF_HEADER, 'extraYQ==', 'index 6', ...lines)],
    ['two extra lines', build(TLOG_PROOF_HEADER, extraLine, extraLine, 'index 6', ...lines)],
    ['extra after index', build(TLOG_PROOF_HEADER, 'index 6', extraLine, ...lines)],
    ['missing index', build(TLOG_PROOF_HEADER, extraLine, ...lines)],
    ['index leading zero', build(TLOG_PROOF_HEADER, extraLine, 'index 06', ...lines)],
    ['index negative', build(TLOG_PROOF_HEADER, extraLine, 'index -6', ...lines)],
    ['index two spaces', build(TLOG_PROOF_HEADER, extraLine, 'index  6', ...lines)],
    ['index 2^53', build(TLOG_PROOF_HEADER, extraLine, 'index 9007199254740992', ...lines)],
    ['index empty', build(TLOG_PROOF_HEADER, extraLine, 'index ', ...lines)],
    ['31-byte hash', build(TLOG_PROOF_HEADER, extraLine, 'index 6', (proof[0] as Buffer).subarray(0, 31).toString('base64'), ...lines.slice(1))],
    ['33-byte hash', build(TLOG_PROOF_HEADER, extraLine, 'index 6', Buffer.concat([proof[0] as Buffer, Buffer.from([1])]).toString('base64'), ...lines.slice(1))],
    ['hex hash', build(TLOG_PROOF_HEADER, extraLine, 'index 6', (proof[0] as Buffer).toString('hex'), ...lines.slice(1))],
    ['hash with trailing space', build(TLOG_PROOF_HEADER, extraLine, 'index 6', `${lines[0] as string} `, ...lines.slice(1))],
    ['too many hashes', build(TLOG_PROOF_HEADER, 'index 6', ...Array<string>(MAX_PROOF_HASHES + 1).fill(lines[0] as string))],
    ['missing blank line', `${[TLOG_PROOF_HEADER, extraLine, 'index 6', ...lines].join('\n')}\n${checkpointNote}`],
    ['no checkpoint', `${[TLOG_PROOF_HEADER, extraLine, 'index 6', ...lines].join('\n')}\n\n`],
    ['truncated before the blank line', [TLOG_PROOF_HEADER, extraLine, 'index 6', ...lines].join('\n')],
    ['two blank lines', `${[TLOG_PROOF_HEADER, extraLine, 'index 6', ...lines].join('\n')}\n\n\n${checkpointNote}`],
    ['trailing garbage after the note', `${good}garbage\n`],
    ['trailing garbage without newline', `${good}x`],
    ['truncated checkpoint note', good.slice(0, good.lastIndexOf('\u2014'))],
    ['checkpoint body malformed', good.replace('\n11\n', '\n011\n')],
    ['CRLF', good.replace(/\n/g, '\r\n')],
    ['invalid UTF-8', Buffer.concat([Buffer.from(good), Buffer.from([0xc3])])],
    ['over 2 MiB', `${good}${'x'.repeat(MAX_TLOG_PROOF_BYTES)}`],
  ])('rejects %s', (_name, text) => {
    expect(() => parseTlogProof(text)).toThrow(BadInputError);
  });

  it('refuses to format invalid parts', () => {
    expect(() => formatTlogProof({ index: -1, proof, checkpointNote })).toThrow(BadInputError);
    expect(() => formatTlogProof({ index: 1.5, proof, checkpointNote })).toThrow(BadInputError);
    expect(() => formatTlogProof({ index: 6, proof: [randomBytes(31)], checkpointNote })).toThrow(BadInputError);
    expect(() => formatTlogProof({ index: 6, proof, checkpointNote: 'not a note\n' })).toThrow(BadInputError);
    expect(() => formatTlogProof({ index: 6, proof, checkpointNote: checkpointNote.replace('\n11\n', '\n011\n') })).toThrow(BadInputError);
  });
});
