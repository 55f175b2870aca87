import type { Keyring } from '../crypto/keyring.js';
import { StoreError, VerificationError } from '../errors.js';
import type { CheckpointRecord, Store } from '../store/types.js';
import { signCheckpoint } from './checkpoint.js';
import { CompactRange } from './merkle.js';

const PAGE = 10_000;

/**
 * Signs C2SP checkpoints for tenants' logs. It keeps one Merkle frontier per tenant, fed from
 * the store's leaf hashes, so a checkpoint costs O(new entries + log n), and it signs at most
 * `intervalMs` after an append (ARCHITECTURE.md: at least every second while entries arrive).
 *
 * Consistency: a frontier only ever grows from the stored, append-only log, and when it is
 * first built it is checked against the newest stored checkpoint — a store that no longer
 * matches its own signed history is refused, so two inconsistent checkpoints are never signed.
 */
export class Checkpointer {
  readonly #ranges = new Map<string, CompactRange>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Map<string, Promise<CheckpointRecord>>();
  #closed = false;
  /** Last signing failure per tenant (surfaced by /readyz and `ledger checkpoint`). */
  readonly failures = new Map<string, Error>();

  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly intervalMs: number,
  ) {}

  /** Called after each committed append: schedules a checkpoint within the interval. */
  notify(tenant: string): void {
    if (this.#closed || this.#timers.has(tenant)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(tenant);
      this.checkpoint(tenant).catch((err: Error) => {
        this.failures.set(tenant, err);
        // Entries stay uncovered until a signing succeeds: try again (the interval is the backoff).
        this.notify(tenant);
      });
    }, this.intervalMs);
    timer.unref();
    this.#timers.set(tenant, timer);
  }

  /** Signs (if entries are newer than the latest checkpoint) and returns the latest checkpoint. */
  checkpoint(tenant: string): Promise<CheckpointRecord> {
    // One signing at a time per tenant; callers arriving meanwhile share its result.
    const running = this.#running.get(tenant);
    if (running) return running.then(() => this.checkpoint(tenant));
    const p = this.#sign(tenant)
      .catch((err: Error) => {
        this.failures.set(tenant, err); // surfaced by /readyz until a signing succeeds
        throw err;
      })
      .finally(() => this.#running.delete(tenant));
    this.#running.set(tenant, p);
    return p;
  }

  /** The Merkle frontier of a tenant's log, brought up to the store's head. */
  async range(tenant: string): Promise<CompactRange> {
    // The checkpoint is read before the head: the head can only have grown past it since.
    const latest = await this.store.latestCheckpoint(tenant);
    const head = await this.store.head(tenant);
    if (latest && head.size < latest.size) {
      throw new VerificationError(
        `stored log of tenant ${tenant} has ${head.size} entries but a signed checkpoint covers ${latest.size} (rolled back?); refusing to sign`,
      );
    }
    let range = this.#ranges.get(tenant);
    if (!range) {
      range = new CompactRange();
      await this.#extend(tenant, range, head.size, latest);
      this.#ranges.set(tenant, range);
    } else {
      await this.#extend(tenant, range, head.size, undefined);
    }
    return range;
  }

  async #extend(tenant: string, range: CompactRange, size: number, check: CheckpointRecord | undefined): Promise<void> {
    while (range.size < size) {
      let end = Math.min(size, range.size + PAGE);
      if (check && range.size < check.size && end > check.size) end = check.size;
      const hashes = await this.store.getLeafHashes(tenant, range.size, end);
      // A gap would shift every later leaf (or spin here forever): refuse it.
      if (hashes.length !== end - range.size) {
        throw new StoreError(`entries ${range.size}..${end - 1} of tenant ${tenant} are incomplete in the store (${hashes.length} found)`);
      }
      for (const h of hashes) range.append(h);
      if (check && range.size === check.size && !range.root().equals(check.root_hash)) {
        throw new VerificationError(
          `stored log of tenant ${tenant} does not match its signed checkpoint at size ${check.size}; refusing to sign`,
        );
      }
    }
  }

  async #sign(tenant: string): Promise<CheckpointRecord> {
    const range = await this.range(tenant);
    const latest = await this.store.latestCheckpoint(tenant);
    if (latest && latest.size > range.size) {
      throw new VerificationError(`a signed checkpoint of tenant ${tenant} covers ${latest.size} entries, more than the log's ${range.size}; refusing to sign`);
    }
    if (latest && latest.size === range.size) return latest;
    const tenantRec = await this.store.getTenant(tenant);
    if (!tenantRec) throw new StoreError(`unknown tenant ${tenant}`, { code: 'NOT_FOUND' });
    const keys = await this.keyring.load(tenant);
    const rootHash = range.root();
    const note = signCheckpoint({ origin: tenantRec.origin, size: range.size, rootHash }, keys.active('note').privateKey);
    const record: CheckpointRecord = { tenant, size: range.size, root_hash: rootHash, note, created_at: new Date().toISOString() };
    await this.store.putCheckpoint(record);
    this.failures.delete(tenant);
    return record;
  }

  /** Signs what is pending now (so short-lived CLI runs leave a covering checkpoint). */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = [...this.#timers.keys()];
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    const running = [...this.#running.values()].map((p) => p.catch(() => undefined));
    await Promise.all([...running, ...pending.map((tenant) => this.checkpoint(tenant))]);
  }
}
