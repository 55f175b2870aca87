/**
 * The configured sinks. Each one listens on the event bus, keeps what matches its filter in
 * its own bounded delivery queue, and delivers in the background: the bus listener only
 * filters and enqueues, so no sink — slow, dead or misbehaving — can slow a decision.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SinkConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { DEPLOYMENT_TENANT, SEVERITY_RANK, type SecurityEvents } from '../security-events.js';
import { DeliveryQueue, type Deliver, type SinkStats } from './queue.js';
import { forSink, type SinkEvent } from './sink-event.js';
import { SyslogConnection } from './syslog.js';
import { webhookDeliver } from './webhook.js';

/** At most one `sink_dropped` event per sink in this interval (the drops themselves are all counted). */
const DROP_EVENT_INTERVAL_MS = 10_000;

/** Reads a secret file from the data directory; refuses one other users can read. */
export function readSecretFile(dataDir: string, file: string, what: string): string {
  const path = resolve(dataDir, file);
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    throw new ConfigError(`${what}: cannot read ${path}`);
  }
  if ((mode & 0o077) !== 0) throw new ConfigError(`${what}: ${path} must not be readable by group or others (chmod 600)`);
  const value = readFileSync(path, 'utf8').trim();
  if (value === '') throw new ConfigError(`${what}: ${path} is empty`);
  return value;
}

export interface SinkHandle {
  name: string;
  type: SinkConfig['type'];
  queue: DeliveryQueue;
}

export class Sinks {
  readonly sinks: SinkHandle[] = [];
  readonly #unsubscribe: () => void;
  readonly #closers: (() => void)[] = [];

  constructor(private readonly bus: SecurityEvents, configs: readonly SinkConfig[], private readonly dataDir: string) {
    const deadLetterDir = join(dataDir, 'dead-letter');
    let dirReady: Promise<void> | undefined;
    for (const c of configs) {
      const deliver = this.#deliverer(c);
      let lastDropEvent = 0;
      const queue = new DeliveryQueue(
        deliver,
        { maxQueue: c.queue, maxAttempts: c.max_attempts, backoffMs: c.backoff },
        async (event, error) => {
          dirReady ??= mkdir(deadLetterDir, { recursive: true, mode: 0o700 }).then(() => undefined);
          await dirReady;
          await appendFile(join(deadLetterDir, `${c.name}.jsonl`), `${JSON.stringify({ sink: c.name, error, at: new Date().toISOString(), event })}\n`, { mode: 0o600 });
        },
        () => {
          const now = Date.now();
          if (now - lastDropEvent < DROP_EVENT_INTERVAL_MS) return;
          lastDropEvent = now;
          // Evented, but not re-delivered to this sink's full queue (the filter below skips it).
          this.bus.emit({
            tenant: DEPLOYMENT_TENANT, severity: 'high', category: 'sink_dropped', actor: {},
            details: { sink: c.name, dropped_total: queue.stats.dropped, queue: c.queue },
          });
        },
      );
      this.sinks.push({ name: c.name, type: c.type, queue });
    }
    this.#unsubscribe = bus.subscribe((e) => {
      for (const [i, s] of this.sinks.entries()) {
        const c = configs[i] as SinkConfig;
        if (SEVERITY_RANK[e.severity] < SEVERITY_RANK[c.min_severity]) continue;
        if (c.categories && !c.categories.includes(e.category)) continue;
        if (e.category === 'sink_dropped' && e.details.sink === s.name) continue;
        if (s.queue.full()) s.queue.drop(); // a dead sink's overflow costs a counter, not a copy
        else s.queue.push(forSink(e));
      }
    });
  }

  #deliverer(c: SinkConfig): Deliver {
    const what = `events.sinks ${c.name}`;
    switch (c.type) {
      case 'webhook':
        return webhookDeliver({
          url: c.url ?? readSecretFile(this.dataDir, c.url_file as string, `${what} url_file`),
          format: c.format,
          secret: c.secret_file ? Buffer.from(readSecretFile(this.dataDir, c.secret_file, `${what} secret_file`), 'utf8') : undefined,
          routingKey: c.routing_key_file ? readSecretFile(this.dataDir, c.routing_key_file, `${what} routing_key_file`) : undefined,
          timeoutMs: c.timeout,
        });
      case 'syslog': {
        const conn = new SyslogConnection({
          host: c.host, port: c.port, tls: c.tls, facility: c.facility, appName: c.app_name, timeoutMs: c.timeout,
          ca: c.ca_file ? readFileSync(resolve(this.dataDir, c.ca_file), 'utf8') : undefined,
        });
        this.#closers.push(() => conn.close());
        return (e) => conn.send(e);
      }
      case 'file': {
        const path = resolve(this.dataDir, c.path);
        return (e: SinkEvent) => appendFile(path, `${JSON.stringify(e)}\n`, { mode: 0o600 });
      }
    }
  }

  stats(): { name: string; type: string; queued: number; lag_ms: number; stats: SinkStats }[] {
    return this.sinks.map((s) => ({ name: s.name, type: s.type, queued: s.queue.size(), lag_ms: s.queue.lagMs(), stats: { ...s.queue.stats } }));
  }

  /** Stops listening; gives each queue up to `graceMs` to finish, then dead-letters the rest. */
  async close(graceMs = 2_000): Promise<void> {
    this.#unsubscribe();
    await Promise.race([
      Promise.all(this.sinks.map((s) => s.queue.drained())),
      new Promise((r) => setTimeout(r, graceMs).unref()),
    ]);
    await Promise.all(this.sinks.map((s) => s.queue.close()));
    for (const close of this.#closers) close();
  }
}
