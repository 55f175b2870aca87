/**
 * Token buckets per key (agent, tenant, client address): `rate` tokens a second up to `burst`.
 * Memory is bounded — at most `maxKeys` buckets, least recently used dropped first (a dropped
 * bucket comes back full, which errs on the side of the caller only for keys idle long enough
 * to be evicted).
 */
export interface BucketSpec {
  rate: number;
  burst: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Requests refused so far. */
  refused = 0;

  constructor(
    private readonly spec: BucketSpec,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `key`; returns 0 when allowed, else the seconds until a token is available. */
  take(key: string): number {
    const t = this.now();
    let b = this.#buckets.get(key);
    if (b) {
      this.#buckets.delete(key);
      b.tokens = Math.min(this.spec.burst, b.tokens + ((t - b.at) / 1000) * this.spec.rate);
      b.at = t;
    } else {
      b = { tokens: this.spec.burst, at: t };
      if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value as string);
    }
    this.#buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    this.refused++;
    return (1 - b.tokens) / this.spec.rate;
  }

  size(): number {
    return this.#buckets.size;
  }
}
