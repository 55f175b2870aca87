/**
 * A sink's delivery queue: bounded, drained by one worker, so a slow or dead destination costs
 * dropped events (counted, and reported as an event) — never memory growth, and never a wait
 * on the decision path. Failed deliveries are retried with exponential backoff and jitter;
 * after the last attempt the event goes to the dead-letter handler.
 */
import type { SinkEvent } from './sink-event.js';

export interface DeliveryOptions {
  /** Events waiting at most; beyond it new events are dropped. */
  maxQueue: number;
  /** Attempts per event, the first included. */
  maxAttempts: number;
  /** First retry delay; doubled each attempt (with jitter), capped at 30 s. */
  backoffMs: number;
}

export interface SinkStats {
  delivered: number;
  failedAttempts: number;
  dropped: number;
  deadLettered: number;
}

export type Deliver = (event: SinkEvent) => Promise<void>;

const MAX_BACKOFF_MS = 30_000;

export class DeliveryQueue {
  readonly stats: SinkStats = { delivered: 0, failedAttempts: 0, dropped: 0, deadLettered: 0 };
  readonly #queue: SinkEvent[] = [];
  #running = false;
  #closed = false;
  #wake: (() => void) | undefined;
  #idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly deliver: Deliver,
    private readonly options: DeliveryOptions,
    private readonly deadLetter: (event: SinkEvent, error: string) => Promise<void>,
    private readonly onDrop: () => void,
  ) {}

  /** Age in ms of the oldest undelivered event (0 when none). */
  lagMs(): number {
    const first = this.#queue[0];
    return first ? Math.max(0, Date.now() - Date.parse(first.ts)) : 0;
  }

  size(): number {
    return this.#queue.length;
  }

  /** Whether a push now would be dropped (lets the caller skip preparing the event). */
  full(): boolean {
    return this.#queue.length >= this.options.maxQueue;
  }

  /** Counts one event dropped for lack of room. */
  drop(): void {
    this.stats.dropped++;
    this.onDrop();
  }

  push(event: SinkEvent): void {
    if (this.#closed) return;
    if (this.full()) {
      this.drop();
      return;
    }
    this.#queue.push(event);
    if (!this.#running) {
      this.#running = true;
      this.#idle = this.#run();
    }
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const event = this.#queue[0] as SinkEvent;
      // Shutting down: what was not delivered is kept in the dead letters, not lost.
      let error = this.#closed ? 'not delivered before shutdown' : '';
      for (let attempt = 1; attempt <= this.options.maxAttempts && !this.#closed; attempt++) {
        try {
          await this.deliver(event);
          error = '';
          this.stats.delivered++;
          break;
        } catch (err) {
          this.stats.failedAttempts++;
          error = err instanceof Error ? err.message : String(err);
          if (attempt < this.options.maxAttempts && !this.#closed) await this.#sleep(this.#delay(attempt));
        }
      }
      if (error) {
        this.stats.deadLettered++;
        await this.deadLetter(event, error).catch(() => undefined);
      }
      this.#queue.shift();
    }
    this.#running = false;
  }

  #delay(attempt: number): number {
    const base = Math.min(MAX_BACKOFF_MS, this.options.backoffMs * 2 ** (attempt - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Resolves when everything queued so far was delivered or dead-lettered. */
  drained(): Promise<void> {
    return this.#idle;
  }

  /** Stops retrying and waits (bounded by the caller) for the worker to finish what it holds. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#idle;
  }
}
