/**
 * Sinks and the event log in isolation: payload formats (Slack escaping, PagerDuty Events v2),
 * RFC 5424 framing and escaping, syslog over TLS, webhook retries with backoff into the dead
 * letters, bounded queues, sealed sensitive details, and configuration errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DeliveryQueue } from '../../src/events/sinks/queue.js';
import { formatEvent } from '../../src/events/sinks/formats.js';
import { forSink, type SinkEvent } from '../../src/events/sinks/sink-event.js';
import { formatSyslog, SyslogConnection } from '../../src/events/sinks/syslog.js';
import { Sinks } from '../../src/events/sinks/sinks.js';
import { SecurityEvents } from '../../src/events/security-events.js';
import { tempWarden, type TempWarden } from '../helpers/warden.js';

const event = (extra: Partial<SinkEvent> = {}): SinkEvent => ({
  id: 'evt_AAAAAAAAAAAAAAAA', ts: '2026-11-22T10:00:00.000Z', tenant: 'acme', severity: 'high', category: 'alert',
  actor: { agent: 'bot', human: 'alice', service: null }, correlation_id: 'c-1', receipt: { tenant: 'acme', seq: 7 },
  details: { rule: 'cross_tenant', subject: 'agent:bot', action: 'tool.call', resource: 'tool:<!channel>' }, ...extra,
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-sinks-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('payload formats', () => {
  it('Slack: attacker text cannot become a mention or a link', () => {
    const body = JSON.stringify(formatEvent(event(), 'slack'));
    expect(body).not.toContain('<!channel>');
    expect(body).toContain('&lt;!channel&gt;');
  });

  it('PagerDuty Events v2: trigger with routing key, mapped severity and a dedup key per rule and subject', () => {
    const p = formatEvent(event(), 'pagerduty', { routingKey: 'R0UT1NG' }) as Record<string, never>;
    expect(p).toMatchObject({
      routing_key: 'R0UT1NG', event_action: 'trigger', dedup_key: 'warden:acme:cross_tenant:agent:bot',
      payload: { severity: 'error', source: 'warden', timestamp: '2026-11-22T10:00:00.000Z', group: 'acme', class: 'alert', component: 'bot' },
    });
    expect((formatEvent(event({ severity: 'critical' }), 'pagerduty') as { payload: { severity: string } }).payload.severity).toBe('critical');
    expect((formatEvent(event({ severity: 'info' }), 'pagerduty') as { payload: { severity: string } }).payload.severity).toBe('info');
  });

  it('RFC 5424: PRI from facility and severity, escaped structured data, no spaces in header fields', () => {
    const line = formatSyslog(event({ correlation_id: 'a"b]c\\d' }), { facility: 10, appName: 'warden' }, 'host name');
    expect(line.startsWith('<83>1 2026-11-22T10:00:00.000Z hostname warden ')).toBe(true);
    expect(line).toContain('correlation_id="a\\"b\\]c\\\\d"');
    expect(line).toMatch(/ alert \[warden@32473 event_id="evt_AAAAAAAAAAAAAAAA" tenant="acme" category="alert" severity="high" agent="bot" human="alice"/);
    expect(formatSyslog(event({ severity: 'info' }), { facility: 4, appName: 'w' }, 'h').startsWith('<38>1 ')).toBe(true);
  });

  it('sensitive details never leave through a sink', () => {
    const e = forSink({ ...event(), details: { secret: 'hunter2', ok: 1 }, sensitive: ['secret'] });
    expect(e.details).toEqual({ secret: { $redacted: true }, ok: 1 });
    expect('sensitive' in e).toBe(false);
  });
});

describe('delivery', () => {
  it('retries with backoff, then dead-letters; a full queue drops (counted) instead of growing', async () => {
    let calls = 0;
    const dead: string[] = [];
    let drops = 0;
    const q = new DeliveryQueue(async () => {
      calls++;
      throw new Error('HTTP 503');
    }, { maxQueue: 2, maxAttempts: 3, backoffMs: 5 }, async (e, err) => void dead.push(`${e.id}:${err}`), () => void drops++);
    q.push(event({ id: 'e1' }));
    q.push(event({ id: 'e2' }));
    q.push(event({ id: 'e3' })); // queue full: dropped
    expect(q.stats.dropped).toBe(1);
    expect(drops).toBe(1);
    await q.drained();
    expect(calls).toBe(6);
    expect(dead).toEqual(['e1:HTTP 503', 'e2:HTTP 503']);
    expect(q.stats).toMatchObject({ delivered: 0, failedAttempts: 6, deadLettered: 2 });
  });

  it('a webhook that fails twice then succeeds is delivered once, signed; the dead-letter file is 0600', async () => {
    let n = 0;
    const seen: string[] = [];
    const server = createServer((req, res) => {
      n++;
      req.resume();
      seen.push(String(req.headers['x-warden-signature']));
      res.statusCode = n <= 2 ? 500 : 200;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    writeFileSync(join(dir, 'hook.secret'), 's3cret', { mode: 0o600 });
    const bus = new SecurityEvents();
    const cfg = parseConfig({ events: { sinks: [
      { name: 'hook', type: 'webhook', url: `http://127.0.0.1:${port}/`, secret_file: 'hook.secret', backoff: '10ms', max_attempts: 3, min_severity: 'info' },
      { name: 'gone', type: 'webhook', url: 'http://127.0.0.1:1/', backoff: '10ms', max_attempts: 2, min_severity: 'critical', timeout: '200ms' },
    ] } }, 'test').events.sinks;
    const sinks = new Sinks(bus, cfg, dir);
    bus.emit({ tenant: 'acme', severity: 'high', category: 'alert', actor: {}, details: {} });
    bus.emit({ tenant: 'acme', severity: 'critical', category: 'alert', actor: {}, details: {} });
    await sinks.close(5_000);
    server.close();
    expect(n).toBe(4); // 3 attempts for the first, 1 for the second
    expect(seen.every((s) => /^t=\d+,v1=[0-9a-f]{64}$/.test(s))).toBe(true);
    const stats = sinks.stats();
    expect(stats.find((s) => s.name === 'hook')?.stats).toMatchObject({ delivered: 2, failedAttempts: 2, deadLettered: 0 });
    expect(stats.find((s) => s.name === 'gone')?.stats).toMatchObject({ delivered: 0, deadLettered: 1 });
    const file = join(dir, 'dead-letter', 'gone.jsonl');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ sink: 'gone', event: { severity: 'critical' } });
  });

  it('syslog over TLS: the server certificate is verified against the configured CA; octet-counted frames arrive', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    const received: string[] = [];
    const server = createTlsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (s) => s.on('data', (d) => received.push(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const good = new SyslogConnection({ host: 'localhost', port, tls: true, ca: readFileSync(join(dir, 'c.pem'), 'utf8'), facility: 10, appName: 'warden', timeoutMs: 2000 });
    await good.send(event());
    await good.send(event({ id: 'evt_BBBBBBBBBBBBBBBB' }));
    // Without the CA (system store only) the self-signed server is refused.
    const untrusted = new SyslogConnection({ host: 'localhost', port, tls: true, facility: 10, appName: 'warden', timeoutMs: 2000 });
    await expect(untrusted.send(event())).rejects.toThrow(/self-signed|certificate/i);
    for (let i = 0; i < 50 && received.join('').split('evt_').length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    good.close();
    untrusted.close();
    server.close();
    const stream = received.join('');
    const frames: string[] = [];
    let rest = stream;
    while (rest.length > 0) {
      const m = /^(\d+) /.exec(rest);
      expect(m).not.toBeNull();
      const len = Number(m?.[1]);
      const start = (m?.[0].length ?? 0);
      frames.push(Buffer.from(rest.slice(start)).subarray(0, len).toString());
      rest = Buffer.from(rest.slice(start)).subarray(len).toString();
    }
    expect(frames).toHaveLength(2);
    expect(frames[1]).toContain('event_id="evt_BBBBBBBBBBBBBBBB"');
  });

  it('configuration: a secret file others can read, a missing url and a pagerduty sink without a routing key are refused', () => {
    writeFileSync(join(dir, 'loose.secret'), 'x', { mode: 0o644 });
    const bad = parseConfig({ events: { sinks: [{ name: 'h', type: 'webhook', url: 'http://127.0.0.1:9/', secret_file: 'loose.secret' }] } }, 'test').events.sinks;
    expect(() => new Sinks(new SecurityEvents(), bad, dir)).toThrow(/must not be readable by group or others/);
    expect(() => parseConfig({ events: { sinks: [{ name: 'h', type: 'webhook' }] } }, 'test')).toThrow(/exactly one of url and url_file/);
    expect(() => parseConfig({ events: { sinks: [{ name: 'p', type: 'webhook', url: 'https://x.example/', format: 'pagerduty' }] } }, 'test')).toThrow(/routing_key_file/);
    expect(() => parseConfig({ events: { sinks: [{ name: 'a', type: 'file', path: 'x' }, { name: 'a', type: 'file', path: 'y' }] } }, 'test')).toThrow(/duplicate sink name/);
    expect(() => parseConfig({ events: { responses: { velocity: ['nuke'] } } }, 'test')).toThrow(/events\.responses/);
  });
});

describe('event log', () => {
  let t: TempWarden;
  beforeAll(async () => {
    t = await tempWarden('sqlite', 'events:\n  flush_interval: 5ms\n  max_queue: 100\n');
  });
  afterAll(async () => t.cleanup());

  it('seals sensitive details in the store and opens them on query', async () => {
    t.w.events.emit({ tenant: 'default', severity: 'medium', category: 'test', actor: {}, details: { card: '4111111111111111', note: 'clear' }, sensitive: ['card'] });
    await t.w.eventLog.flush();
    const [row] = await t.w.store.listEvents({ tenant: 'default', categories: ['test'], limit: 1 });
    expect(row?.body).not.toContain('4111111111111111');
    expect(JSON.parse(row?.body as string).details.card).toMatchObject({ $enc: 'A256GCM' });
    const [e] = await t.w.eventLog.query({ tenant: 'default', categories: ['test'], limit: 1 });
    expect(e?.details).toEqual({ card: '4111111111111111', note: 'clear' });
    // Crypto-shredding the tenant's data keys leaves the event readable, the field not.
    await t.w.protector.shred('default');
    const [after] = await t.w.eventLog.query({ tenant: 'default', categories: ['test'], limit: 1 });
    expect(after?.details.card).toEqual({ $shredded: true });
  });

  it('a full queue drops (counted) and reports the drops once there is room', async () => {
    const before = t.w.eventLog.stats.dropped;
    for (let i = 0; i < 150; i++) t.w.events.emit({ tenant: 'default', severity: 'info', category: 'flood', actor: {}, details: { i } });
    expect(t.w.eventLog.stats.dropped - before).toBeGreaterThan(0);
    await t.w.eventLog.flush();
    await t.w.eventLog.flush();
    const reported = await t.w.eventLog.query({ categories: ['events_dropped'], limit: 10 });
    expect(reported[0]).toMatchObject({ tenant: '_deployment', severity: 'high' });
    expect(Number(reported[0]?.details.dropped)).toBe(t.w.eventLog.stats.dropped - before);
  });
});
