/**
 * The persisted event stream. Every event on the in-process bus is queued and written in
 * batches (one store transaction per batch), so a decision never waits for its event. Each
 * persisted event gets a cursor, increasing in persistence order: `GET /v1/events` pages by it
 * and SSE clients resume from it (`Last-Event-ID`).
 *
 * Back-pressure, not unbounded memory: the queue is bounded; when the store cannot keep up (or
 * is down) the overflow is dropped, counted, and reported by an `events_dropped` event once
 * there is room again.
 */
import type { PayloadProtector } from '../crypto/envelope.js';
import type { Json } from '../crypto/jcs.js';
import type { EventQuery, Store } from '../store/types.js';
import { DEPLOYMENT_TENANT, type SecurityEvent, type SecurityEvents } from './security-events.js';

/** An event as stored and served: the bus event plus its cursor. */
export interface PersistedEvent extends Omit<SecurityEvent, 'sensitive'> {
  cursor: number;
}

export interface EventLogOptions {
  /** Longest time an event waits before its batch is written. */
  flushMs?: number;
  /** Events held in memory at most (queued for the store); beyond it they are dropped. */
  maxQueue?: number;
  /** Events per store transaction. */
  batchMax?: number;
}

export type PersistedListener = (events: readonly PersistedEvent[]) => void;

export class EventLog {
  readonly stats = { persisted: 0, dropped: 0, storeFailures: 0, listenerErrors: 0 };
  #queue: SecurityEvent[] = [];
  #droppedUnreported = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly #listeners = new Set<PersistedListener>();
  readonly #unsubscribe: () => void;
  readonly #flushMs: number;
  readonly #maxQueue: number;
  readonly #batchMax: number;

  constructor(
    private readonly store: Store,
    private readonly protector: PayloadProtector,
    private readonly bus: SecurityEvents,
    options: EventLogOptions = {},
  ) {
    this.#flushMs = options.flushMs ?? 50;
    this.#maxQueue = options.maxQueue ?? 50_000;
    this.#batchMax = options.batchMax ?? 500;
    this.#unsubscribe = bus.subscribe((e) => this.#enqueue(e));
  }

  /** Age in ms of the oldest event not yet persisted (0 when none): the log's lag. */
  lagMs(): number {
    const first = this.#queue[0];
    return first ? Math.max(0, Date.now() - Date.parse(first.ts)) : 0;
  }

  queued(): number {
    return this.#queue.length;
  }

  /** Calls `fn` with each batch of newly persisted events (in cursor order). */
  onPersisted(fn: PersistedListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #enqueue(e: SecurityEvent): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#maxQueue) {
      this.stats.dropped++;
      this.#droppedUnreported++;
      return;
    }
    this.#queue.push(e);
    if (this.#queue.length >= this.#batchMax) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
  }

  /** Writes everything queued so far (and waits for a flush already running). */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#flushing) await this.#flushing;
    if (this.#queue.length === 0) return;
    this.#flushing = this.#drain().finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#batchMax);
      let cursors: number[];
      try {
        const rows = await Promise.all(batch.map((e) => this.#row(e)));
        cursors = await this.store.insertEvents(rows);
      } catch {
        // Kept queued (bounded) and retried on the next flush; a dead store costs drops, not memory.
        this.stats.storeFailures++;
        this.#timer ??= setTimeout(() => void this.flush(), Math.max(this.#flushMs, 1000));
        return;
      }
      this.#queue.splice(0, batch.length);
      this.stats.persisted += batch.length;
      const persisted = batch.map((e, i): PersistedEvent => {
        const { sensitive: _sealed, ...plain } = e;
        return { ...plain, cursor: cursors[i] as number };
      });
      for (const fn of this.#listeners) {
        try {
          fn(persisted);
        } catch {
          this.stats.listenerErrors++;
        }
      }
      if (this.#droppedUnreported > 0 && this.#queue.length < this.#maxQueue / 2) {
        const n = this.#droppedUnreported;
        this.#droppedUnreported = 0;
        this.bus.emit({
          tenant: DEPLOYMENT_TENANT, severity: 'high', category: 'events_dropped', actor: {},
          details: { dropped: n, reason: 'event queue full (store too slow or unavailable)' },
        });
      }
    }
  }

  /** The stored form: sensitive detail keys sealed under the tenant's data key (never stored in clear). */
  async #row(e: SecurityEvent) {
    const { sensitive, ...event } = e;
    let details = event.details as Record<string, Json>;
    if (sensitive?.length) {
      const present = sensitive.filter((k) => Object.hasOwn(details, k));
      try {
        if (e.tenant === DEPLOYMENT_TENANT) throw new Error('no data key outside a tenant');
        details = await this.protector.protect(e.tenant, e.id, details, present);
      } catch {
        // Fail closed: a field that cannot be sealed is not stored at all.
        details = { ...details };
        for (const k of present) details[k] = { $redacted: true };
      }
    }
    return {
      tenant: e.tenant, id: e.id, ts: e.ts, severity: e.severity, category: e.category,
      agent: e.actor.agent ?? null, correlation_id: e.correlation_id,
      body: JSON.stringify({ ...event, details }),
    };
  }

  /** Stored events matching the query, with sealed details opened where the data key still exists. */
  async query(q: EventQuery): Promise<PersistedEvent[]> {
    const rows = await this.store.listEvents(q);
    return Promise.all(
      rows.map(async (r) => {
        const event = JSON.parse(r.body) as Omit<PersistedEvent, 'cursor'>;
        let details = event.details;
        if (JSON.stringify(details).includes('"$enc"')) {
          try {
            details = await this.protector.reveal(r.tenant, r.id, details as Record<string, Json>);
          } catch {
            details = { ...details, $unreadable: true };
          }
        }
        return { ...event, details, cursor: r.cursor };
      }),
    );
  }

  /** Stops taking events and writes what is queued. */
  async close(): Promise<void> {
    this.#unsubscribe();
    await this.flush();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }
}
