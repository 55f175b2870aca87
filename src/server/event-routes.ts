/**
 * Event routes: query (`GET /v1/events`), live stream over Server-Sent Events
 * (`GET /v1/events/stream`, resumable with `Last-Event-ID`), timelines, incidents with their
 * evidence bundles, circuit breakers and the release of quarantined agents.
 *
 * Tenant-scoped: an operator reads its own tenant; only deployment admins (the admin role in
 * `events.admin_tenant`) may name another tenant, or `*` for all.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Warden } from '../context.js';
import { BadInputError, WardenError } from '../errors.js';
import type { PersistedEvent } from '../events/event-log.js';
import { buildEvidence, getIncident } from '../events/evidence.js';
import { INCIDENT_KIND } from '../events/response.js';
import { displayState } from '../events/controls.js';
import { SEVERITIES, SEVERITY_RANK, type Severity } from '../events/security-events.js';
import { buildTimeline } from '../events/timeline.js';
import { releaseAgent } from '../events/release.js';
import { timelineHtml, timelineText } from '../events/timeline-format.js';
import type { EventQuery } from '../store/types.js';
import type { RequestAuthenticator } from './auth.js';

interface EventsQs {
  tenant?: string;
  after?: number;
  before?: number;
  since?: string;
  until?: string;
  severity?: Severity;
  category?: string;
  agent?: string;
  correlation_id?: string;
  limit?: number;
}

const eventsQs = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenant: { type: 'string', maxLength: 63 },
    after: { type: 'integer', minimum: 0 },
    before: { type: 'integer', minimum: 0 },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    severity: { type: 'string', enum: [...SEVERITIES] },
    category: { type: 'string', pattern: '^[a-z_]{1,64}(,[a-z_]{1,64}){0,15}$' },
    agent: { type: 'string', maxLength: 128 },
    correlation_id: { type: 'string', maxLength: 128 },
    limit: { type: 'integer', minimum: 1, maximum: 1000 },
  },
} as const;

/** SSE clients per process at most, and events buffered per slow client before it is dropped (it resumes with Last-Event-ID). */
const MAX_STREAMS = 256;
const MAX_STREAMS_PER_TENANT = 32;
const MAX_STREAM_BUFFER_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;
const MAX_LIVE_WHILE_CATCHING_UP = 10_000;

export function registerEventRoutes(app: FastifyInstance, w: Warden, authn: RequestAuthenticator): void {
  let streams = 0;
  const perTenant = new Map<string, number>();

  /** The operator's tenant filter: its own, or (deployment admins) the named one / all. */
  const scope = async (req: FastifyRequest, permission: 'events:read' | 'incidents:write' = 'events:read'): Promise<{ tenant: string | undefined; human: string }> => {
    const c = await authn.operator(req, permission, 'events', { deploymentWide: permission === 'events:read' });
    const wanted = (req.query as { tenant?: string }).tenant;
    return { tenant: wanted === '*' ? undefined : (wanted ?? c.principal.tenant), human: c.principal.human };
  };

  const toQuery = (q: EventsQs, tenant: string | undefined): EventQuery => ({
    ...(tenant !== undefined ? { tenant } : {}),
    ...(q.after !== undefined ? { after: q.after } : {}),
    ...(q.before !== undefined ? { before: q.before } : {}),
    ...(q.since ? { since: new Date(q.since).toISOString() } : {}),
    ...(q.until ? { until: new Date(q.until).toISOString() } : {}),
    ...(q.severity ? { severities: SEVERITIES.filter((s) => SEVERITY_RANK[s] >= SEVERITY_RANK[q.severity as Severity]) } : {}),
    ...(q.category ? { categories: q.category.split(',') } : {}),
    ...(q.agent ? { agent: q.agent } : {}),
    ...(q.correlation_id ? { correlation_id: q.correlation_id } : {}),
    limit: q.limit ?? 100,
  });

  app.get<{ Querystring: EventsQs }>('/v1/events', { schema: { querystring: eventsQs } }, async (req) => {
    const { tenant } = await scope(req);
    await w.eventLog.flush();
    const query = toQuery(req.query, tenant);
    // Newest first when paging backwards (`before`) or with no cursor; oldest first after a cursor.
    const order = req.query.after === undefined ? 'desc' : 'asc';
    const events = await w.eventLog.query({ ...query, order });
    const cursors = events.map((e) => e.cursor);
    return {
      events,
      next: events.length === query.limit ? (order === 'asc' ? { after: Math.max(...cursors) } : { before: Math.min(...cursors) }) : null,
    };
  });

  app.get<{ Querystring: EventsQs }>('/v1/events/stream', { schema: { querystring: eventsQs } }, async (req, reply) => {
    const { tenant } = await scope(req);
    const header = req.headers['last-event-id'];
    let resumeFrom = req.query.after;
    if (typeof header === 'string' && header !== '') {
      if (!/^\d{1,15}$/.test(header)) throw new BadInputError('Last-Event-ID: expected an event cursor (a number)');
      resumeFrom = Number(header);
    }
    // Counted before any await, per process and per tenant: one tenant cannot take every stream.
    const key = tenant ?? '*';
    if (streams >= MAX_STREAMS || (perTenant.get(key) ?? 0) >= MAX_STREAMS_PER_TENANT) {
      throw new WardenError('CONFLICT', `too many event streams open (${MAX_STREAMS} per process, ${MAX_STREAMS_PER_TENANT} per tenant); retry later`);
    }
    streams++;
    perTenant.set(key, (perTenant.get(key) ?? 0) + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      streams--;
      const n = (perTenant.get(key) ?? 1) - 1;
      if (n <= 0) perTenant.delete(key);
      else perTenant.set(key, n);
    };
    const query = toQuery({ ...req.query, after: undefined, before: undefined }, tenant);
    const matches = (e: PersistedEvent) =>
      (query.tenant === undefined || e.tenant === query.tenant) &&
      (!query.severities || query.severities.includes(e.severity)) &&
      (!query.categories || query.categories.includes(e.category)) &&
      (query.agent === undefined || e.actor.agent === query.agent) &&
      (query.correlation_id === undefined || e.correlation_id === query.correlation_id);

    // A new subscriber starts at the present; one that resumes gets what it missed first.
    let last: number;
    try {
      last = resumeFrom ?? (await w.eventLog.flush(), (await w.eventLog.query({ ...(tenant !== undefined ? { tenant } : {}), limit: 1, order: 'desc' }))[0]?.cursor ?? 0);
    } catch (err) {
      uncount();
      throw err;
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let closed = false;
    let live: PersistedEvent[] | undefined = []; // buffered while the backlog is sent
    /** Writes a batch of events in one write; false when the socket's buffer is full (the backlog then waits for drain). */
    const send = (batch: readonly PersistedEvent[]): boolean => {
      let out = '';
      for (const e of batch) {
        if (closed || e.cursor <= last || !matches(e)) continue;
        last = e.cursor;
        out += `id: ${e.cursor}\nevent: ${e.category}\ndata: ${JSON.stringify(e)}\n\n`;
      }
      if (out === '') return true;
      const ok = res.write(out);
      // A live client that does not read is dropped rather than buffered without bound; it resumes from its last id.
      if (res.writableLength > MAX_STREAM_BUFFER_BYTES) res.destroy();
      return ok;
    };
    const drained = () => new Promise<void>((resolve) => {
      res.once('drain', resolve);
      res.once('close', resolve);
    });
    const unsubscribe = w.eventLog.onPersisted((batch) => {
      if (live) {
        live.push(...batch);
        if (live.length > MAX_LIVE_WHILE_CATCHING_UP) res.destroy(); // it resumes from its last id
      }
      else send(batch);
    });
    // The credential is checked again on every heartbeat: a revoked or expired token ends the stream.
    const heartbeat = setInterval(() => {
      void scope(req).then(
        () => res.write(': keep-alive\n\n'),
        () => res.destroy(),
      );
    }, HEARTBEAT_MS);
    heartbeat.unref();
    const done = () => {
      if (closed) return;
      closed = true;
      uncount();
      clearInterval(heartbeat);
      unsubscribe();
    };
    res.on('close', done);
    res.write('retry: 2000\n\n');
    try {
      // Backlog since the client's last id, in pages, then whatever arrived meanwhile.
      await w.eventLog.flush();
      for (;;) {
        const page = await w.eventLog.query({ ...query, after: last, limit: 1000, order: 'asc' });
        if (!send(page) && !closed) await drained();
        if (page.length < 1000 || closed) break;
      }
      const pending = live;
      live = undefined;
      send(pending);
    } catch {
      res.destroy();
      done();
    }
  });

  app.get<{ Querystring: { correlation_id?: string; agent?: string; since?: string; until?: string; format?: 'json' | 'html' | 'text'; limit?: number } }>(
    '/v1/timeline',
    {
      schema: {
        querystring: {
          type: 'object', additionalProperties: false,
          properties: {
            correlation_id: { type: 'string', minLength: 1, maxLength: 128 }, agent: { type: 'string', minLength: 1, maxLength: 128 },
            since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' },
            format: { type: 'string', enum: ['json', 'html', 'text'] }, limit: { type: 'integer', minimum: 1, maximum: 5000 },
          },
        },
      },
    },
    async (req, reply) => {
      const c = await authn.operator(req, 'events:read', 'timeline');
      const q = req.query;
      const t = await buildTimeline(w, { tenant: c.principal.tenant, correlation_id: q.correlation_id, agent: q.agent, since: q.since, until: q.until, limit: q.limit });
      if (q.format === 'html') return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(timelineHtml(t));
      if (q.format === 'text') return reply.type('text/plain; charset=utf-8').send(timelineText(t));
      return t;
    },
  );

  const idParam = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;

  app.get('/v1/incidents', async (req) => {
    const c = await authn.operator(req, 'events:read', 'incidents');
    const rows = await w.store.listRecords(c.principal.tenant, INCIDENT_KIND, { limit: 1000 });
    return { incidents: rows.map((r) => {
      const { evidence, ...rest } = JSON.parse(r.body) as { evidence: { event_ids: string[]; receipt_seqs: number[] } | null } & Record<string, unknown>;
      return { ...rest, state: r.state, evidence: evidence ? { events: evidence.event_ids.length, receipts: evidence.receipt_seqs.length } : null };
    }) };
  });

  app.get<{ Params: { id: string } }>('/v1/incidents/:id', { schema: { params: idParam } }, async (req) => {
    const c = await authn.operator(req, 'events:read', `incident:${req.params.id}`);
    return getIncident(w, c.principal.tenant, req.params.id);
  });

  app.get<{ Params: { id: string } }>('/v1/incidents/:id/evidence', { schema: { params: idParam } }, async (req, reply) => {
    const c = await authn.operator(req, 'events:read', `incident:${req.params.id}`);
    const bundle = await buildEvidence(w, c.principal.tenant, req.params.id);
    return reply.header('content-disposition', `attachment; filename="${req.params.id}.evidence.json"`).send(bundle);
  });

  app.get('/v1/breakers', async (req) => {
    const c = await authn.operator(req, 'events:read', 'breakers');
    return { controls: (await w.controls.list(c.principal.tenant)).map((r) => ({ id: r.id, state: displayState(r.state), updated_at: r.updated_at, ...r.parsed })) };
  });

  const reasonBody = { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 1024 } } } as const;

  app.post<{ Body: { type: 'agent' | 'tool'; target: string; reason: string } }>(
    '/v1/breakers/close',
    {
      schema: {
        body: {
          type: 'object', required: ['type', 'target', 'reason'], additionalProperties: false,
          properties: { type: { type: 'string', enum: ['agent', 'tool'] }, target: { type: 'string', minLength: 1, maxLength: 256 }, reason: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
      },
    },
    async (req) => {
      const c = await authn.operator(req, 'incidents:write', `breaker:${req.body.type}:${req.body.target}`);
      await w.controls.close(c.principal.tenant, req.body.type, req.body.target, req.body.reason, c.actor);
      return { closed: { type: req.body.type, target: req.body.target } };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>('/v1/agents/:id/release', { schema: { params: idParam, body: reasonBody } }, async (req) => {
    const c = await authn.operator(req, 'incidents:write', `agent:${req.params.id}`);
    return releaseAgent(w, c.principal.tenant, req.params.id, req.body.reason, c.actor);
  });

  // Failed authentications by source address feed the burst detector (whatever tenant they claimed).
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 401) w.monitoring?.detector.authFailure(req.ip, undefined);
  });
}
