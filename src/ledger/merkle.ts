/**
 * RFC 9162 §2.1 Merkle tree hashing (identical to RFC 6962 §2.1): tree heads, inclusion and
 * consistency proofs (generation and verification), and an incremental compact range.
 *
 * Hashes are SHA-256; a leaf hash is SHA-256(0x00 ‖ leaf), an interior node SHA-256(0x01 ‖
 * left ‖ right), the empty tree SHA-256(""). Tree sizes and indices are JS numbers and must be
 * safe integers (< 2^53, as ARCHITECTURE.md requires), so all bit arithmetic below is done
 * with division rather than 32-bit operators.
 */
import * as nodeCrypto from 'node:crypto';
import { BadInputError, VerificationError } from '../errors.js';

/** Size in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

// `crypto.hash` (one-shot, Node ≥ 20.12) is about twice as fast as createHash() for
// 65-byte inputs; fall back on older runtimes.
const sha256: (data: Uint8Array) => Buffer =
  typeof nodeCrypto.hash === 'function'
    ? (data) => nodeCrypto.hash('sha256', data, 'buffer')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest();

/** MTH({}) = SHA-256() — RFC 9162 §2.1.1. */
const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/** The root hash of the empty tree, SHA-256 of the empty string. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** Leaf hash MTH({d}) = SHA-256(0x00 ‖ d) — RFC 9162 §2.1.1. */
export function leafHash(data: Uint8Array): Buffer {
  return nodeCrypto.createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}
const LEAF_PREFIX = Buffer.from([0x00]);

// One reusable 65-byte buffer [0x01 ‖ left ‖ right]: hashing is synchronous, so no call can
// observe another's contents, and the hot loop allocates only the output digest.
const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/** Interior node hash SHA-256(0x01 ‖ left ‖ right) — RFC 9162 §2.1.1. Both inputs must be 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new BadInputError(`node hash inputs must be ${HASH_SIZE} bytes, got ${left.length} and ${right.length}`);
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

function assertHashes(hashes: readonly Uint8Array[], what: string): void {
  for (let i = 0; i < hashes.length; i++) {
    const h = hashes[i];
    if (h === undefined || h.length !== HASH_SIZE) {
      throw new BadInputError(`${what}[${i}] must be a ${HASH_SIZE}-byte hash`);
    }
  }
}

/** Largest power of two strictly less than n (n ≥ 2) — the split point k of RFC 9162 §2.1.1. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * MTH(D[start:end]) for already validated leaf hashes. Level by level, carrying an odd last
 * node up unchanged — which yields exactly the RFC 9162 §2.1.1 left-balanced tree.
 */
function rangeRoot(hashes: readonly Uint8Array[], start: number, end: number): Buffer {
  let n = end - start;
  if (n === 0) return Buffer.from(EMPTY_ROOT);
  if (n === 1) return Buffer.from(hashes[start] as Uint8Array);
  const level: Uint8Array[] = hashes.slice(start, end);
  while (n > 1) {
    let w = 0;
    for (let i = 0; i + 1 < n; i += 2) level[w++] = nodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array);
    if (n % 2 === 1) level[w++] = level[n - 1] as Uint8Array;
    n = w;
  }
  return level[0] as Buffer;
}

/**
 * The Merkle tree hash MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1), iteratively in O(n)
 * hashes. The empty tree's root is SHA-256(""). Throws BadInputError on a hash that is not
 * 32 bytes.
 */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Buffer {
  assertHashes(hashes, 'leaf hash');
  return rangeRoot(hashes, 0, hashes.length);
}

function checkSize(n: number, what: string, make: (m: string) => Error): void {
  if (!Number.isSafeInteger(n) || n < 0) throw make(`${what} must be a non-negative safe integer, got ${String(n)}`);
}
const badInput = (m: string): Error => new BadInputError(m);
const verifyFail = (m: string): Error => new VerificationError(m);

/**
 * Inclusion proof PATH(index, D[treeSize]) — RFC 9162 §2.1.3.1 — over the first `treeSize`
 * of `leafHashes`, ordered from the leaf's sibling up to the root's child. O(treeSize) hashes.
 */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number, treeSize: number): Buffer[] {
  checkSize(treeSize, 'tree size', badInput);
  checkSize(index, 'index', badInput);
  if (treeSize > leafHashes.length) throw new BadInputError(`tree size ${treeSize} exceeds the ${leafHashes.length} leaves given`);
  if (index >= treeSize) throw new BadInputError(`index ${index} is outside a tree of size ${treeSize}`);
  assertHashes(leafHashes.slice(0, treeSize), 'leaf hash');
  // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) if m < k, else PATH(m - k, D[k:n]) : MTH(D[0:k]).
  // We walk from the root down, so the collected hashes come out root-first; reverse at the end.
  const path: Buffer[] = [];
  let lo = 0;
  let hi = treeSize;
  let m = index;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      path.push(rangeRoot(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      path.push(rangeRoot(leafHashes, lo, lo + k));
      lo += k;
      m -= k;
    }
  }
  return path.reverse();
}

/**
 * Consistency proof PROOF(size1, D[size2]) — RFC 9162 §2.1.4.1 — over the first `size2` of
 * `leafHashes`. Requires 0 < size1 ≤ size2; equal sizes give an empty proof.
 */
export function consistencyProof(leafHashes: readonly Uint8Array[], size1: number, size2: number): Buffer[] {
  checkSize(size1, 'size1', badInput);
  checkSize(size2, 'size2', badInput);
  if (size2 > leafHashes.length) throw new BadInputError(`size2 ${size2} exceeds the ${leafHashes.length} leaves given`);
  if (size1 === 0) throw new BadInputError('size1 must be > 0: a consistency proof from the empty tree is meaningless');
  if (size1 > size2) throw new BadInputError(`size1 ${size1} > size2 ${size2}`);
  assertHashes(leafHashes.slice(0, size2), 'leaf hash');
  // SUBPROOF(m, D[n], b): m == n → [] if b else [MTH(D[n])]; m ≤ k → SUBPROOF(m, D[0:k], b) : MTH(D[k:n]);
  // m > k → SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]). Collected root-first, reversed at the end.
  const proof: Buffer[] = [];
  let lo = 0;
  let hi = size2;
  let m = size1;
  let complete = true; // "b": whether the subtree D[0:m] is the original old tree
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      proof.push(rangeRoot(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      proof.push(rangeRoot(leafHashes, lo, lo + k));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  if (!complete) proof.push(rangeRoot(leafHashes, lo, hi));
  return proof.reverse();
}

// ---- verification (RFC 9162 §2.1.3.2 / §2.1.4.2), in the equivalent decomposed form used by
// transparency-dev/merkle: an inclusion path = `inner` hashes below the point where the path to
// `index` leaves the right border of the tree, then `border` hashes all to the left.

function bit(x: number, i: number): number {
  return Math.floor(x / 2 ** i) % 2;
}
function bitLength(x: number): number {
  let n = 0;
  while (x > 0) {
    x = Math.floor(x / 2);
    n++;
  }
  return n;
}
function popCount(x: number): number {
  let n = 0;
  while (x > 0) {
    n += x % 2;
    x = Math.floor(x / 2);
  }
  return n;
}
/** Bitwise XOR of two safe integers (JS `^` truncates to 32 bits). */
function xor(a: number, b: number): number {
  let r = 0;
  for (let p = 1; a > 0 || b > 0; p *= 2) {
    if (a % 2 !== b % 2) r += p;
    a = Math.floor(a / 2);
    b = Math.floor(b / 2);
  }
  return r;
}

/** [inner, border] proof sizes for `index` in a tree of `size` leaves (index < size). */
function decompose(index: number, size: number): [number, number] {
  const inner = bitLength(xor(index, size - 1));
  const border = popCount(Math.floor(index / 2 ** inner));
  return [inner, border];
}

function chainInner(seed: Buffer, proof: readonly Uint8Array[], index: number): Buffer {
  proof.forEach((h, i) => {
    seed = bit(index, i) === 0 ? nodeHash(seed, h) : nodeHash(h, seed);
  });
  return seed;
}
function chainInnerRight(seed: Buffer, proof: readonly Uint8Array[], index: number): Buffer {
  proof.forEach((h, i) => {
    if (bit(index, i) === 1) seed = nodeHash(h, seed);
  });
  return seed;
}
function chainBorderRight(seed: Buffer, proof: readonly Uint8Array[]): Buffer {
  for (const h of proof) seed = nodeHash(h, seed);
  return seed;
}

function checkHash(h: Uint8Array | undefined, what: string): Buffer {
  // Attacker-controlled: hashes come from proofs and checkpoints handed to a verifier.
  if (h === undefined || h.length !== HASH_SIZE) {
    throw new VerificationError(`${what} must be ${HASH_SIZE} bytes, got ${h === undefined ? 'none' : h.length}`);
  }
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
}

/**
 * Recomputes the root from an inclusion proof — RFC 9162 §2.1.3.2. Validates everything
 * first: index < treeSize, 32-byte hashes, and the exact proof length the sizes imply.
 */
export function rootFromInclusionProof(leaf: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[]): Buffer {
  checkSize(index, 'index', verifyFail);
  checkSize(treeSize, 'tree size', verifyFail);
  if (index >= treeSize) throw new VerificationError(`index ${index} is outside a tree of size ${treeSize}`);
  const seed = checkHash(leaf, 'leaf hash');
  proof.forEach((h, i) => checkHash(h, `inclusion proof hash ${i}`));
  const [inner, border] = decompose(index, treeSize);
  if (proof.length !== inner + border) {
    throw new VerificationError(`inclusion proof has ${proof.length} hashes, a tree of size ${treeSize} needs ${inner + border} for index ${index}`);
  }
  return chainBorderRight(chainInner(seed, proof.slice(0, inner), index), proof.slice(inner));
}

/**
 * Verifies that `leaf` (a leaf hash) is at `index` in the tree of `treeSize` leaves with
 * root `root` — RFC 9162 §2.1.3.2. Throws VerificationError with the reason on failure.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, treeSize: number, proof: readonly Uint8Array[], root: Uint8Array): void {
  const want = checkHash(root, 'root hash');
  const got = rootFromInclusionProof(leaf, index, treeSize, proof);
  if (!got.equals(want)) {
    throw new VerificationError(`inclusion proof does not lead to the root: computed ${got.toString('hex')}, expected ${want.toString('hex')}`);
  }
}

/**
 * Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of
 * `size2` leaves with root `root2` — RFC 9162 §2.1.4.2. Throws VerificationError on failure.
 *
 * size1 == 0 is rejected (a proof from the empty tree proves nothing). When size1 == size2 the
 * proof must be empty and the roots byte-identical; no hashing happens then, and, as in
 * transparency-dev/merkle (and its test vectors), the root lengths are not checked.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  checkSize(size1, 'size1', verifyFail);
  checkSize(size2, 'size2', verifyFail);
  if (size2 < size1) throw new VerificationError(`size2 ${size2} is smaller than size1 ${size1}`);
  if (size1 === 0) throw new VerificationError('size1 is 0: consistency with the empty tree is meaningless');
  if (size1 === size2) {
    if (proof.length !== 0) throw new VerificationError(`sizes are equal (${size1}) but the proof has ${proof.length} hashes`);
    if (!Buffer.from(root1).equals(Buffer.from(root2))) throw new VerificationError(`sizes are equal (${size1}) but the roots differ`);
    return;
  }
  const r1 = checkHash(root1, 'root1');
  const r2 = checkHash(root2, 'root2');
  proof.forEach((h, i) => checkHash(h, `consistency proof hash ${i}`));
  // 0 < size1 < size2. The proof is a suffix of the inclusion path of leaf size1-1 in the new
  // tree, starting at level `shift` (the largest complete subtree ending at size1).
  const [inner0, border] = decompose(size1 - 1, size2);
  let shift = 0; // trailing zero bits of size1 (> 0, so this terminates)
  while (shift < 53 && bit(size1, shift) === 0) shift++;
  const inner = inner0 - shift;
  // When size1 is a power of two, its root is the seed and is not repeated in the proof.
  const seedFromRoot = size1 === 2 ** shift;
  const start = seedFromRoot ? 0 : 1;
  if (proof.length !== start + inner + border) {
    throw new VerificationError(`consistency proof has ${proof.length} hashes, sizes ${size1}→${size2} need ${start + inner + border}`);
  }
  const seed = seedFromRoot ? r1 : Buffer.from(proof[0] as Uint8Array);
  const rest = proof.slice(start);
  const mask = Math.floor((size1 - 1) / 2 ** shift);
  const hash1 = chainBorderRight(chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!hash1.equals(r1)) throw new VerificationError(`consistency proof does not match root1 (size ${size1})`);
  const hash2 = chainBorderRight(chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!hash2.equals(r2)) throw new VerificationError(`consistency proof does not match root2 (size ${size2})`);
}

/**
 * An incremental Merkle tree frontier ("compact range" [0, size)): the roots of the perfect
 * subtrees that make up the tree, one per set bit of `size`, largest (leftmost) first.
 * `append` is amortised O(1) hashes, `root()` O(log n) — the ledger keeps one per tenant so it
 * can sign a checkpoint every second without rehashing the whole log.
 */
export class CompactRange {
  #nodes: Buffer[] = [];
  #size = 0;

  /** Builds the range over `leafHashes` (may be empty), in O(n) hashes. */
  constructor(leafHashes: readonly Uint8Array[] = []) {
    for (const h of leafHashes) this.append(h);
  }

  /**
   * Restores a range from a stored frontier (see {@link CompactRange.frontier}): `nodes` must
   * hold exactly one 32-byte hash per set bit of `size`, largest subtree first.
   */
  static fromFrontier(size: number, nodes: readonly Uint8Array[]): CompactRange {
    checkSize(size, 'size', badInput);
    if (nodes.length !== popCount(size)) throw new BadInputError(`a frontier of size ${size} has ${popCount(size)} nodes, got ${nodes.length}`);
    assertHashes(nodes, 'frontier node');
    const r = new CompactRange();
    r.#nodes = nodes.map((n) => Buffer.from(n));
    r.#size = size;
    return r;
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash (32 bytes). */
  append(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new BadInputError(`leaf hash must be ${HASH_SIZE} bytes, got ${leafHash.length}`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new BadInputError('tree is full');
    let node: Buffer = Buffer.from(leafHash);
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) node = nodeHash(this.#nodes.pop() as Buffer, node);
    this.#nodes.push(node);
    this.#size++;
  }

  /** The current root MTH(D[size]); SHA-256("") when empty. O(log n). */
  root(): Buffer {
    const nodes = this.#nodes;
    let h = nodes[nodes.length - 1];
    if (h === undefined) return Buffer.from(EMPTY_ROOT);
    for (let i = nodes.length - 2; i >= 0; i--) h = nodeHash(nodes[i] as Buffer, h);
    return Buffer.from(h);
  }

  /** A copy of the frontier, for persistence and {@link CompactRange.fromFrontier}. */
  frontier(): { size: number; nodes: Buffer[] } {
    return { size: this.#size, nodes: this.#nodes.map((n) => Buffer.from(n)) };
  }

  /** An independent copy (e.g. to append speculatively before a transaction commits). */
  clone(): CompactRange {
    return CompactRange.fromFrontier(this.#size, this.#nodes);
  }
}

/**
 * Every level of the tree of the first `treeSize` leaves, built once for many inclusion proofs
 * against the same size: O(n) hashing in total instead of O(n) per proof. In RFC 9162's tree a
 * lone last node of a level moves up unchanged, which is what the levels store. Yields to the
 * event loop every `chunk` hashes, so a large tree does not stall other requests.
 */
export class MerkleLevels {
  private constructor(readonly levels: readonly (readonly Buffer[])[]) {}

  static async build(leafHashes: readonly Uint8Array[], treeSize: number, chunk = 32_768): Promise<MerkleLevels> {
    checkSize(treeSize, 'tree size', badInput);
    if (treeSize === 0 || treeSize > leafHashes.length) throw new BadInputError(`tree size ${treeSize} must be between 1 and the ${leafHashes.length} leaves given`);
    let level: Buffer[] = leafHashes.slice(0, treeSize).map((h) => Buffer.from(h));
    assertHashes(level, 'leaf hash');
    const levels: Buffer[][] = [level];
    let done = 0;
    while (level.length > 1) {
      const next: Buffer[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) {
        next.push(nodeHash(level[i] as Buffer, level[i + 1] as Buffer));
        if (++done % chunk === 0) await new Promise((r) => setImmediate(r));
      }
      if (level.length % 2 === 1) next.push(level[level.length - 1] as Buffer);
      levels.push(next);
      level = next;
    }
    return new MerkleLevels(levels);
  }

  get size(): number {
    return this.levels[0]?.length ?? 0;
  }

  get root(): Buffer {
    return this.levels[this.levels.length - 1]?.[0] as Buffer;
  }

  /** The RFC 9162 inclusion proof of `index` (leaf-side first), O(log n). */
  proof(index: number): Buffer[] {
    checkSize(index, 'index', badInput);
    if (index >= this.size) throw new BadInputError(`index ${index} is outside a tree of size ${this.size}`);
    const path: Buffer[] = [];
    let i = index;
    for (const level of this.levels.slice(0, -1)) {
      const sibling = i ^ 1;
      if (sibling < level.length) path.push(level[sibling] as Buffer);
      i >>= 1;
    }
    return path;
  }
}
