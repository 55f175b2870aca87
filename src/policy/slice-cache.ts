/**
 * Preparsed policy sets in cedar-wasm's (thread-local) store, at most `capacity` of them,
 * least recently used evicted first. cedar-wasm cannot drop a preparsed set, so an evicted
 * set's name is reused for the next one (preparsing under an existing name replaces it): the
 * wasm memory held stays bounded by the capacity.
 *
 * Keys are content addresses (a hash over the policy version and the slice's policy ids), so a
 * key names the same policies forever: a new policy version never finds an old version's set.
 */
import { preparsePolicySet } from '@cedar-policy/cedar-wasm/nodejs';

export const SLICE_CACHE_CAPACITY = 1000;

export class SliceCache {
  readonly #entries = new Map<string, string>();
  readonly #free: string[] = [];
  #counter = 0;

  constructor(private readonly capacity = SLICE_CACHE_CAPACITY) {}

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The preparsed set's name for `key`, preparsing `policies()` on a miss. Returns an error
   * message instead when cedar-wasm refuses the set (the caller fails closed).
   *
   * One text with every policy parses far faster than a record of texts (cedar-wasm has a large
   * fixed cost per parsed text); Cedar then names the policies policy0, policy1, … in text order.
   */
  acquire(key: string, policies: () => string): { name: string } | { error: string } {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      // Refresh recency (Map keeps insertion order: the first entry is the least recent).
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return { name: hit };
    }
    while (this.#entries.size >= this.capacity) {
      const [oldKey, oldName] = this.#entries.entries().next().value as [string, string];
      this.#entries.delete(oldKey);
      this.#free.push(oldName);
    }
    const name = this.#free.pop() ?? `warden-slice-${this.#counter++}`;
    let answer;
    try {
      answer = preparsePolicySet(name, { staticPolicies: policies() });
    } catch (err) {
      this.#free.push(name);
      return { error: (err as Error).message };
    }
    if (answer.type !== 'success') {
      // Side-effect free on error: the name still holds whatever it held, and nobody uses it.
      this.#free.push(name);
      return { error: answer.errors.map((e) => e.message).join('; ') };
    }
    this.#entries.set(key, name);
    return { name };
  }

  /** Forgets every entry (tests). The wasm store keeps the sets until their names are reused. */
  clear(): void {
    for (const name of this.#entries.values()) this.#free.push(name);
    this.#entries.clear();
  }
}

/** The process's (this thread's) cache, shared by every compiled policy. */
export const sliceCache = new SliceCache();
