/**
 * Syslog sink: RFC 5424 messages with structured data, over TCP or TLS with octet-counting
 * framing (RFC 6587 §3.4.1, RFC 5425 §4.3). One connection, opened on demand and re-opened
 * after an error; each delivery waits for the socket write so the queue's retries apply.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { SinkEvent } from './sink-event.js';

export interface SyslogOptions {
  host: string;
  port: number;
  tls: boolean;
  /** PEM CA bundle for the TLS server certificate (default: the system store). */
  ca?: string | undefined;
  /** Syslog facility (default 10, security/authorization messages). */
  facility: number;
  appName: string;
  timeoutMs: number;
}

const SEVERITY_CODE: Record<string, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
/** Private enterprise number 32473 is reserved for documentation (RFC 5612); operators may re-map. */
const SD_ID = 'warden@32473';

/** RFC 5424 §6.3.3: inside PARAM-VALUE, `"`, `\` and `]` are escaped with a backslash. */
function sdValue(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** PRINTUSASCII without spaces, 1–max characters, or the NILVALUE `-` (RFC 5424 §6.2). */
function header(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s === '' ? '-' : s;
}

export function formatSyslog(e: SinkEvent, o: Pick<SyslogOptions, 'facility' | 'appName'>, host = hostname()): string {
  const pri = o.facility * 8 + (SEVERITY_CODE[e.severity] ?? 6);
  const params: [string, string | null | undefined][] = [
    ['event_id', e.id], ['tenant', e.tenant], ['category', e.category], ['severity', e.severity],
    ['agent', e.actor.agent], ['human', e.actor.human], ['correlation_id', e.correlation_id],
    ['receipt_seq', e.receipt ? String(e.receipt.seq) : null],
    ['rule', typeof e.details.rule === 'string' ? e.details.rule : null],
  ];
  const sd = `[${SD_ID}${params.filter(([, v]) => v != null && v !== '').map(([k, v]) => ` ${k}="${sdValue(String(v))}"`).join('')}]`;
  const msg = JSON.stringify({ details: e.details, actor: e.actor, receipt: e.receipt });
  return `<${pri}>1 ${e.ts} ${header(host, 255)} ${header(o.appName, 48)} ${process.pid} ${header(e.category, 32)} ${sd} \uFEFF${msg}`;
}

export class SyslogConnection {
  #socket: Socket | undefined;

  constructor(private readonly o: SyslogOptions) {}

  #open(): Promise<Socket> {
    if (this.#socket && !this.#socket.destroyed) return Promise.resolve(this.#socket);
    return new Promise((resolve, reject) => {
      const s: Socket = this.o.tls
        ? tlsConnect({ host: this.o.host, port: this.o.port, servername: this.o.host, ...(this.o.ca ? { ca: this.o.ca } : {}), minVersion: 'TLSv1.2' })
        : netConnect({ host: this.o.host, port: this.o.port });
      const timer = setTimeout(() => s.destroy(new Error('syslog connect timeout')), this.o.timeoutMs);
      s.once(this.o.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.#socket = s;
        resolve(s);
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        s.destroy();
        reject(err);
      });
      s.on('close', () => {
        if (this.#socket === s) this.#socket = undefined;
      });
      // The server never talks back in this protocol; anything it sends is ignored.
      s.resume();
    });
  }

  async send(e: SinkEvent): Promise<void> {
    const line = formatSyslog(e, this.o);
    const frame = `${Buffer.byteLength(line)} ${line}`;
    const s = await this.#open();
    await new Promise<void>((resolve, reject) => {
      s.write(frame, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.#socket?.destroy();
  }
}
