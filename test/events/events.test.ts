/**
 * Security events over HTTP: persistence and queries, tenant scoping, the live SSE stream with
 * resumption, detection → alert → sinks (the seeds' criterion 3: a cross-tenant attempt is
 * blocked AND alerted), automatic response (a velocity burst quarantines the agent; its
 * passports stop working), evidence bundles that verify offline and fail after tampering,
 * circuit breakers with a half-open probe, and timelines (criterion 4).
 */
import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/app.js';
import { verifyEvidence } from '../../src/ledger/verify/evidence.js';
import { tempWarden, trustOf, type TempWarden } from '../helpers/warden.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist/cli/main.js');
const POLICY = `
@id("search-ok")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");
@id("egress-ok")
permit (principal, action == Warden::Action::"http.egress", resource);
@id("no-shell")
forbid (principal, action, resource == Warden::Tool::"shell");
`;
const SECRET = 'test-hmac-secret-0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
interface Res { status: number; body: Loose; text: string }

let t: TempWarden;
let app: FastifyInstance;
let hookServer: Server;
const hooks: { body: string; signature: string | undefined }[] = [];
let syslogServer: TcpServer;
const syslog: string[] = [];
let admin: string;
let otherOperator: string;
let viewer: string;
const passports = new Map<string, string>();

async function call(method: 'GET' | 'POST', url: string, token?: string, payload?: unknown): Promise<Res> {
  const res = await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload !== undefined ? { payload: payload as string } : {}) });
  let body: Loose;
  try {
    body = res.json();
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, body, text: res.body };
}
const decide = (agent: string, body: Record<string, unknown>) => call('POST', '/v1/decisions', passports.get(agent), body);
const settle = async () => {
  await t.w.monitoring?.responder.idle();
  await t.w.eventLog.flush();
};
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push({ body, signature: req.headers['x-warden-signature'] as string | undefined });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  syslogServer = createTcpServer((s) => s.on('data', (d) => syslog.push(d.toString('utf8'))));
  await new Promise<void>((r) => syslogServer.listen(0, '127.0.0.1', r));
  const hookPort = (hookServer.address() as AddressInfo).port;
  const syslogPort = (syslogServer.address() as AddressInfo).port;
  t = await tempWarden('sqlite', `events:
  admin_tenant: default
  flush_interval: 5ms
  detection:
    velocity: { window: 30s, max_actions: 15 }
    repeated_denials: { window: 60s, max_denials: 5 }
    privilege_escalation: { window: 60s, max_ungranted: 3 }
    unusual_egress: { learning_decisions: 3 }
    cooldown: 10ms
  breaker_cooldown: 1s
  sinks:
    - { name: hook, type: webhook, url: "http://127.0.0.1:${hookPort}/hook", secret_file: hook.secret, min_severity: high, backoff: 10ms, max_attempts: 2 }
    - { name: dead, type: webhook, url: "http://127.0.0.1:1/dead", min_severity: info, queue: 3, max_attempts: 2, backoff: 10ms, timeout: 200ms }
    - { name: jsonl, type: file, path: events.jsonl, min_severity: info }
    - { name: siem, type: syslog, host: 127.0.0.1, port: ${syslogPort}, tls: false, min_severity: high }
`);
  writeFileSync(join(t.dir, 'hook.secret'), SECRET, { mode: 0o600 });
  await t.w.ensureTenant('other');
  await t.w.policies.deploy('default', POLICY, { actor: { human: 'test' } });
  await t.w.policies.deploy('other', POLICY, { actor: { human: 'test' } });
  for (const id of ['normal', 'payer', 'bursty', 'denied', 'climber', 'traveller', 'prober']) {
    await t.w.agents.create('default', { id, capabilities: ['tool:search', 'tool:shell', 'connector:*'] });
    passports.set(id, (await t.w.passports.issue('default', id)).token);
  }
  await t.w.agents.create('other', { id: 'stranger', capabilities: ['tool:search'] });
  passports.set('stranger', (await t.w.passports.issue('other', 'stranger')).token);
  admin = (await t.w.operators.create('default', { id: 'root', roles: ['admin'] }, { withToken: true })).token?.token as string;
  viewer = (await t.w.operators.create('default', { id: 'vic', roles: ['viewer'] }, { withToken: true })).token?.token as string;
  otherOperator = (await t.w.operators.create('other', { id: 'olga', roles: ['admin'] }, { withToken: true })).token?.token as string;
  app = await buildServer(t.w);
});

afterAll(async () => {
  await app?.close();
  await t?.cleanup();
  hookServer?.close();
  syslogServer?.close();
});

describe('event stream', () => {
  it('persists every decision as an event pointing at its receipt; filters and pages by cursor', async () => {
    const corr = 'corr-events-1';
    for (let i = 0; i < 3; i++) expect((await decide('normal', { action: 'tool.call', resource: 'tool:search', correlation_id: corr })).body.decision).toBe('allow');
    expect((await decide('normal', { action: 'tool.call', resource: 'tool:shell', correlation_id: corr })).body.decision).toBe('deny');
    const r = await call('GET', `/v1/events?correlation_id=${corr}`, viewer);
    expect(r.status).toBe(200);
    expect(r.body.events).toHaveLength(4);
    const deny = r.body.events[0]; // newest first
    expect(deny).toMatchObject({ tenant: 'default', category: 'decision', severity: 'low', actor: { agent: 'normal' }, correlation_id: corr, details: { decision: 'deny', resource: 'tool:shell' } });
    const line = (await t.w.store.getReceipts('default', deny.receipt.seq, 1))[0]?.leaf as string;
    expect(JSON.parse(line)).toMatchObject({ kind: 'decision', decision: 'deny', correlation_id: corr });
    // Severity filter (at least low) and paging: two pages of 2, forward from a cursor.
    expect((await call('GET', `/v1/events?correlation_id=${corr}&severity=low`, viewer)).body.events).toHaveLength(1);
    const page1 = await call('GET', `/v1/events?correlation_id=${corr}&limit=2&after=0`, viewer);
    expect(page1.body.events.map((e: Loose) => e.details.resource)).toEqual(['tool:search', 'tool:search']);
    const page2 = await call('GET', `/v1/events?correlation_id=${corr}&limit=2&after=${page1.body.next.after}`, viewer);
    expect(page2.body.events.map((e: Loose) => e.details.resource)).toEqual(['tool:search', 'tool:shell']);
    expect(page2.body.events[0].cursor).toBeGreaterThan(page1.body.events[1].cursor);
  });

  it('needs events:read and is tenant-scoped: another tenant is refused (and alerted) unless the caller is a deployment admin', async () => {
    expect((await call('GET', '/v1/events', passports.get('normal'))).status).toBe(403);
    expect((await call('GET', '/v1/events')).status).toBe(401);
    const own = await call('GET', '/v1/events?limit=1000', otherOperator);
    expect(own.status).toBe(200);
    expect(own.body.events.every((e: Loose) => e.tenant === 'other')).toBe(true);
    const cross = await call('GET', '/v1/events?tenant=default', otherOperator);
    expect(cross.status).toBe(403);
    await settle();
    const alerts = (await call('GET', '/v1/events?category=alert&limit=1000', otherOperator)).body.events;
    expect(alerts.some((e: Loose) => e.details.rule === 'cross_tenant' && e.actor.human === 'olga')).toBe(true);
    // The admin of the deployment's admin tenant reads any tenant, or all.
    const other = await call('GET', '/v1/events?tenant=other&limit=1000', admin);
    expect(other.status).toBe(200);
    expect(other.body.events.length).toBeGreaterThan(0);
    expect(other.body.events.every((e: Loose) => e.tenant === 'other')).toBe(true);
    const all = await call('GET', '/v1/events?tenant=*&limit=1000', admin);
    expect([...new Set(all.body.events.map((e: Loose) => e.tenant))]).toEqual(expect.arrayContaining(['default', 'other']));
    // A viewer of the admin tenant is not a deployment admin.
    expect((await call('GET', '/v1/events?tenant=other', viewer)).status).toBe(403);
  });

  it('streams live over SSE and resumes after Last-Event-ID without repeating or losing events', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const open = (lastId?: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        get(`${address}/v1/events/stream?agent=normal`, { headers: { authorization: `Bearer ${viewer}`, ...(lastId ? { 'last-event-id': lastId } : {}) } }, resolve).on('error', reject);
      });
    const reader = (res: IncomingMessage) => {
      const frames: { id: number; data: Loose }[] = [];
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (\d+)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (id && data) frames.push({ id: Number(id), data: JSON.parse(data) });
        }
      });
      return frames;
    };
    const first = await open();
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/text\/event-stream/);
    const frames = reader(first);
    await decide('normal', { action: 'tool.call', resource: 'tool:search', correlation_id: 'sse-1' });
    await until('live event', () => frames.some((f) => f.data.correlation_id === 'sse-1'));
    // A new subscriber starts at the present: no replay of history.
    expect(frames.some((f) => f.data.correlation_id === 'corr-events-1')).toBe(false);
    const last = frames.at(-1) as { id: number };
    first.destroy();
    // Missed while disconnected:
    await decide('normal', { action: 'tool.call', resource: 'tool:search', correlation_id: 'sse-2' });
    await t.w.eventLog.flush();
    const second = await open(String(last.id));
    const again = reader(second);
    await until('resumed event', () => again.some((f) => f.data.correlation_id === 'sse-2'));
    second.destroy();
    expect(again.every((f) => f.id > last.id)).toBe(true);
    expect(again.some((f) => f.data.correlation_id === 'sse-1')).toBe(false);
    expect(new Set(again.map((f) => f.id)).size).toBe(again.length);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/events/stream', headers: { authorization: `Bearer ${viewer}`, 'last-event-id': 'abc' } });
    expect(r.statusCode).toBe(400);
  });
});

describe('detection, alerting and response', () => {
  it('a cross-tenant attempt is denied, alerted, and the alert reaches the webhook (HMAC-signed) and syslog sinks', async () => {
    const r = await decide('payer', { action: 'tool.call', resource: 'tool:search', tenant: 'other', correlation_id: 'xt-1' });
    expect(r.body.decision).toBe('deny');
    await until('webhook alert', () => hooks.some((h) => h.body.includes('"rule":"cross_tenant"') && h.body.includes('agent:payer')));
    const h = hooks.find((x) => x.body.includes('"rule":"cross_tenant"') && x.body.includes('agent:payer')) as { body: string; signature: string };
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(h.signature);
    expect(m).not.toBeNull();
    const expected = createHmac('sha256', SECRET).update(`${m?.[1]}.${h.body}`).digest();
    expect(timingSafeEqual(expected, Buffer.from(m?.[2] as string, 'hex'))).toBe(true);
    expect(JSON.parse(h.body)).toMatchObject({ type: 'warden.event', event: { category: 'alert', severity: 'high', tenant: 'default', details: { rule: 'cross_tenant' } } });
    // RFC 5424 over TCP, octet-counted, with structured data naming the rule.
    await until('syslog alert', () => syslog.join('').includes('rule="cross_tenant"'));
    const frame = syslog.join('');
    expect(frame).toMatch(/\d+ <83>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ warden \d+ alert \[warden@32473 event_id="evt_[^"]+" tenant="default" category="alert" severity="high" agent="payer"[^\]]* rule="cross_tenant"\] \uFEFF\{/);
  });

  it('a velocity burst quarantines the agent within the window; its next action is refused and its passports no longer authenticate', async () => {
    const token = passports.get('bursty') as string;
    let refused: Res | undefined;
    for (let i = 0; i < 40; i++) {
      const r = await decide('bursty', { action: 'tool.call', resource: 'tool:search', correlation_id: `burst-${i}` });
      if (r.status !== 200) {
        refused = r;
        break;
      }
      if (i === 15) await settle(); // the response runs off the request path; give it its turn
    }
    expect(refused?.status).toBe(403);
    expect((await t.w.agents.get('default', 'bursty')).state).toBe('quarantined');
    // The same passport is refused, and a new one cannot be issued while quarantined.
    expect((await call('POST', '/v1/decisions', token, { action: 'tool.call', resource: 'tool:search' })).status).toBe(403);
    await expect(t.w.passports.issue('default', 'bursty')).rejects.toThrow();
    await settle();
    const incidents = (await call('GET', '/v1/incidents', admin)).body.incidents;
    const inc = incidents.find((i: Loose) => i.rule === 'velocity' && i.subject === 'agent:bursty');
    expect(inc.actions.map((a: Loose) => [a.action, a.ok])).toEqual([['quarantine', true], ['revoke_passports', true], ['preserve_evidence', true]]);
    expect(inc.evidence.events).toBeGreaterThan(15);
  });

  it("the incident's evidence bundle verifies offline (API and CLI) and fails after tampering", async () => {
    const inc = (await call('GET', '/v1/incidents', admin)).body.incidents.find((i: Loose) => i.rule === 'velocity');
    const ev = await call('GET', `/v1/incidents/${inc.id}/evidence`, admin);
    expect(ev.status).toBe(200);
    const bundle = ev.body;
    const trust = await trustOf(t.w);
    const report = verifyEvidence(structuredClone(bundle), trust);
    expect(report).toMatchObject({ incident_id: inc.id });
    expect(report.receipts).toBeGreaterThan(15);
    // Tampering: an edited event, a dropped event, a dropped proof, an edited receipt inside a proof.
    const edited = structuredClone(bundle);
    edited.events[0].details.resource = 'tool:innocent';
    expect(() => verifyEvidence(edited, trust)).toThrow(/digest mismatch/);
    const dropped = structuredClone(bundle);
    dropped.events.pop();
    expect(() => verifyEvidence(dropped, trust)).toThrow(/digest/);
    const noProof = structuredClone(bundle);
    noProof.proofs.shift();
    expect(() => verifyEvidence(noProof, trust)).toThrow(/no verified proof/);
    const forged = structuredClone(bundle);
    forged.proofs[0] = forged.proofs[0].replace(/^(\S+\n)(\S+)/, (_m: string, h: string, extra: string) => h + Buffer.from(Buffer.from(extra, 'base64').toString('utf8').replace('"allow"', '"deny"')).toString('base64'));
    expect(() => verifyEvidence(forged, trust)).toThrow();
    // The CLI: exit 0 for the bundle, 1 for the tampered one.
    const file = join(t.dir, 'evidence.json');
    const trustFile = join(t.dir, 'trust.json');
    writeFileSync(file, JSON.stringify(bundle));
    writeFileSync(trustFile, JSON.stringify(bundle.trust));
    const ok = await run(process.execPath, [CLI, 'verify', '--evidence', file, '--trust', trustFile]);
    expect(ok.stdout).toMatch(new RegExp(`^OK: evidence of incident ${inc.id}`));
    // Without a pinned trust bundle it refuses, unless told to check internal consistency only (and says so).
    expect(await run(process.execPath, [CLI, 'verify', '--evidence', file]).then(() => 0, (e: { code: number }) => e.code)).toBe(2);
    expect((await run(process.execPath, [CLI, 'verify', '--evidence', file, '--trust-embedded'])).stdout).toMatch(/^OK \(UNPINNED/);
    writeFileSync(file, JSON.stringify(edited));
    const bad = await run(process.execPath, [CLI, 'verify', '--evidence', file, '--trust', trustFile]).then(() => 0, (e: { code: number }) => e.code);
    expect(bad).toBe(1);
  });

  it('release (operator) resumes the agent; its old passport stays revoked, a new one works', async () => {
    expect((await call('POST', '/v1/agents/bursty/release', viewer, { reason: 'x' })).status).toBe(403);
    const r = await call('POST', '/v1/agents/bursty/release', admin, { reason: 'investigated: load test' });
    expect(r.status).toBe(200);
    expect(r.body.released).toContain('resumed');
    expect((await t.w.agents.get('default', 'bursty')).state).toBe('active');
    expect((await call('POST', '/v1/decisions', passports.get('bursty'), { action: 'tool.call', resource: 'tool:search' })).status).toBe(401);
    const fresh = (await t.w.passports.issue('default', 'bursty')).token;
    expect((await call('POST', '/v1/decisions', fresh, { action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('allow');
    expect((await call('POST', '/v1/agents/bursty/release', admin, { reason: 'again' })).status).toBe(409);
  });

  it('a developer (agents:write) cannot lift a quarantine: that needs incidents:write', async () => {
    const dev = (await t.w.operators.create('default', { id: 'devon', roles: ['developer'] }, { withToken: true })).token?.token as string;
    await t.w.agents.create('default', { id: 'jailed' });
    await t.w.agents.quarantine('default', 'jailed', { actor: { human: 'test' } });
    expect((await call('POST', '/v1/agents/jailed/resume', dev, {})).status).toBe(403);
    expect((await t.w.agents.get('default', 'jailed')).state).toBe('quarantined');
    expect((await call('POST', '/v1/agents/jailed/resume', admin, {})).status).toBe(200);
  });

  it('repeated denials open a circuit breaker; after the cool-down one probe passes and its success closes it', async () => {
    for (let i = 0; i < 5; i++) expect((await decide('denied', { action: 'tool.call', resource: 'tool:shell' })).body.decision).toBe('deny');
    await settle();
    const blocked = await decide('denied', { action: 'tool.call', resource: 'tool:search' });
    expect(blocked.body).toMatchObject({ decision: 'deny', reasons: [expect.stringMatching(/circuit breaker open for agent denied/)] });
    await settle();
    await new Promise((r) => setTimeout(r, 1100));
    const probe = await decide('denied', { action: 'tool.call', resource: 'tool:search' });
    expect(probe.body.decision).toBe('allow');
    // While the probe is out, others are still denied.
    expect((await decide('denied', { action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('deny');
    const controls = (await call('GET', '/v1/breakers', admin)).body.controls;
    expect(controls.find((c: Loose) => c.id === 'breaker:agent:denied')).toMatchObject({ state: 'half_open', probe: { decision_id: probe.body.id } });
    expect((await call('POST', `/v1/decisions/${probe.body.id}/outcome`, passports.get('denied'), { status: 'succeeded' })).status).toBe(201);
    expect((await decide('denied', { action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('allow');
    const lines = (await t.w.store.getReceipts('default', 0, (await t.w.store.head('default')).size)).map((r) => JSON.parse(r.leaf));
    const actions = lines.filter((l) => l.kind === 'incident' && l.resource === 'breaker:agent:denied').map((l) => l.action);
    expect(actions).toEqual(expect.arrayContaining(['breaker.open', 'breaker.half_open', 'breaker.close']));
  });

  it('a stale half-open breaker hands its probe slot to exactly one of many concurrent decisions', async () => {
    await t.w.controls.open('default', 'agent', 'prober', 'test', null);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await decide('prober', { action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('allow'); // probe, never reported
    await new Promise((r) => setTimeout(r, 1100));
    const all = await Promise.all(Array.from({ length: 12 }, () => decide('prober', { action: 'tool.call', resource: 'tool:search' })));
    expect(all.filter((r) => r.body.decision === 'allow')).toHaveLength(1);
  });

  it('a tool breaker matches the normalised resource (case, trailing dot)', async () => {
    await t.w.controls.open('default', 'tool', 'http:collect.evil.example', 'test', null);
    for (const resource of ['http:collect.evil.example', 'http:COLLECT.evil.example', 'http:collect.evil.example.']) {
      const r = await decide('normal', { action: 'http.egress', resource });
      expect(r.body).toMatchObject({ decision: 'deny', reasons: [expect.stringMatching(/circuit breaker open for tool http:collect\.evil\.example/)] });
    }
    await t.w.controls.close('default', 'tool', 'http:Collect.Evil.Example', 'done', { human: 'test' });
    expect((await decide('normal', { action: 'http.egress', resource: 'http:collect.evil.example' })).body.decision).toBe('allow');
  });

  it('actions outside the grants are a privilege escalation: the agent then needs approval for everything', async () => {
    for (let i = 0; i < 3; i++) expect((await decide('climber', { action: 'tool.call', resource: 'tool:admin-console' })).body.decision).toBe('deny');
    await settle();
    const next = await decide('climber', { action: 'tool.call', resource: 'tool:search' });
    expect(next.body.decision).toBe('require_approval');
    expect(next.body.reasons.join(' ')).toMatch(/incident response/);
    expect((await call('POST', '/v1/agents/climber/release', admin, { reason: 'reviewed' })).body.released).toContain('approval requirement lifted');
    expect((await decide('climber', { action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('allow');
  });

  it('an operator without policy rights trying to deploy policy is a privilege escalation alert', async () => {
    const r = await call('POST', '/v1/policy', viewer, { text: POLICY });
    expect(r.status).toBe(403);
    await settle();
    const alerts = (await call('GET', '/v1/events?category=alert&limit=1000', admin)).body.events;
    expect(alerts.some((e: Loose) => e.details.rule === 'privilege_escalation' && e.actor.human === 'vic')).toBe(true);
  });

  it('a new egress destination after the learning period is an unusual-egress alert', async () => {
    for (const d of ['api.example.com', 'api.example.com', 'cdn.example.com']) {
      await decide('traveller', { action: 'http.egress', resource: 'connector:web', context: { domain: d } });
    }
    await decide('traveller', { action: 'http.egress', resource: 'connector:web', context: { domain: 'exfil.example.net' } });
    await settle();
    const alerts = (await call('GET', '/v1/events?category=alert&agent=traveller', admin)).body.events;
    expect(alerts.map((e: Loose) => e.details.subject)).toEqual(['agent:traveller:exfil.example.net']);
  });

  it('a dead sink never blocks decisions: its drops are counted and evented, failures dead-lettered; the file sink has every event', async () => {
    const sinks = t.w.monitoring?.sinks.stats() ?? [];
    const dead = sinks.find((s) => s.name === 'dead');
    expect(dead?.stats.dropped).toBeGreaterThan(0);
    await until('dead letters', () => existsSync(join(t.dir, 'dead-letter', 'dead.jsonl')));
    const dl = JSON.parse(readFileSync(join(t.dir, 'dead-letter', 'dead.jsonl'), 'utf8').split('\n')[0] as string);
    expect(dl).toMatchObject({ sink: 'dead', event: { id: expect.stringMatching(/^evt_/) } });
    await t.w.eventLog.flush();
    const dropped = await t.w.eventLog.query({ categories: ['sink_dropped'], limit: 10 });
    expect(dropped[0]).toMatchObject({ tenant: '_deployment', severity: 'high', details: { sink: 'dead' } });
    const lines = readFileSync(join(t.dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((e) => e.category === 'decision' && e.correlation_id === 'corr-events-1')).toBe(true);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/warden_sink_dropped_total\{sink="dead"\} [1-9]/);
    expect(metrics).toMatch(/warden_alerts_total\{rule="cross_tenant"\} [1-9]/);
    expect(metrics).toMatch(/warden_events_persisted_total [1-9]/);
  });
});

describe('timelines', () => {
  it('merges receipts and events of a correlation id in order, each receipt verified; JSON, text and one self-contained HTML file', async () => {
    const corr = 'case-<b>42</b>';
    const d = await decide('normal', { action: 'tool.call', resource: 'tool:search', correlation_id: corr });
    await call('POST', `/v1/decisions/${d.body.id}/outcome`, passports.get('normal'), { status: 'succeeded' });
    const r = await call('GET', `/v1/timeline?correlation_id=${encodeURIComponent(corr)}`, viewer);
    expect(r.status).toBe(200);
    const kinds = r.body.entries.map((e: Loose) => (e.receipt ? `receipt:${e.receipt.kind}` : `event:${e.event.category}`));
    expect(kinds).toEqual(['receipt:decision', 'event:decision', 'receipt:outcome', 'event:outcome']);
    expect(r.body.entries.filter((e: Loose) => e.receipt).every((e: Loose) => e.receipt.verification === 'verified')).toBe(true);
    expect(r.body.entries[0].actor).toMatchObject({ agent: 'normal' });
    const html = await call('GET', `/v1/timeline?correlation_id=${encodeURIComponent(corr)}&format=html`, viewer);
    expect(html.text).toMatch(/^<!doctype html>/);
    expect(html.text).not.toMatch(/<script|<link|src=|href=/i);
    expect(html.text).toContain('case-&lt;b&gt;42&lt;/b&gt;');
    expect(html.text).toContain('every receipt verified');
    const text = await call('GET', `/v1/timeline?correlation_id=${encodeURIComponent(corr)}&format=text`, viewer);
    expect(text.text).toMatch(/receipt #\d+ decision\s+tool\.call tool:search allow .*✓ verified/);
  });

  it('by agent, from the CLI; a receipt altered in the database shows as INVALID', async () => {
    const d = await decide('normal', { action: 'tool.call', resource: 'tool:search', correlation_id: 'tamper-me' });
    await t.w.eventLog.flush();
    const db = new Database(join(t.dir, 'warden.db'));
    const row = db.prepare('SELECT leaf FROM receipts WHERE tenant = ? AND seq = ?').get('default', d.body.receipt.seq) as { leaf: string };
    db.prepare('UPDATE receipts SET leaf = ? WHERE tenant = ? AND seq = ?').run(row.leaf.replace('"allow"', '"deny"'), 'default', d.body.receipt.seq);
    db.close();
    const { stdout } = await run(process.execPath, [CLI, 'timeline', '--data', t.dir, '--correlation-id', 'tamper-me', '--format', 'json']);
    const tl = JSON.parse(stdout);
    expect(tl.entries.find((e: Loose) => e.receipt).receipt.verification).toMatch(/^INVALID/);
    const byAgent = await run(process.execPath, [CLI, 'timeline', '--data', t.dir, '--agent', 'normal']);
    expect(byAgent.stdout).toMatch(/^Timeline of agent normal/);
    expect(byAgent.stdout).toMatch(/INVALID/);
    // Restore, so later checks of the log stay meaningful.
    const db2 = new Database(join(t.dir, 'warden.db'));
    db2.prepare('UPDATE receipts SET leaf = ? WHERE tenant = ? AND seq = ?').run(row.leaf, 'default', d.body.receipt.seq);
    db2.close();
  });

  it('needs exactly one of correlation id and agent', async () => {
    expect((await call('GET', '/v1/timeline', viewer)).status).toBe(400);
    expect((await call('GET', '/v1/timeline?agent=a&correlation_id=b', viewer)).status).toBe(400);
  });
});
