/**
 * `warden mcp serve`: the gateway's streamable-HTTP front. Every request carries an agent
 * passport as bearer token, verified on every request (not only at `initialize`); a session
 * belongs to the agent that opened it, and another passport cannot use it. Bodies are capped;
 * sessions are capped in number and closed when idle.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Warden } from '../context.js';
import { MAX_PASSPORT_BYTES } from '../identity/passports.js';
import { LocalBackend } from './backend.js';
import type { Mediator } from './mediator.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface Session {
  transport: StreamableHTTPServerTransport;
  tenant: string;
  agent: string;
  lastUsed: number;
}

export interface HttpFrontOptions {
  /** The tenant whose servers (manifests, secrets) this gateway runs: only its agents may use it. */
  tenant: string;
  maxSessions: number;
  /** Sessions one agent may hold at once (a share of maxSessions). */
  maxSessionsPerAgent?: number;
  idleTimeoutMs: number;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export function startHttpFront(w: Warden, mediator: Mediator, options: HttpFrontOptions): HttpServer {
  const sessions = new Map<string, Session>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const s of sessions.values()) if (now - s.lastUsed > options.idleTimeoutMs) void s.transport.close();
  }, Math.min(60_000, options.idleTimeoutMs));
  sweep.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== '/mcp') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found: the MCP endpoint is /mcp' }));
      return;
    }
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/i.exec(auth)?.[1];
    if (!token || token.length > MAX_PASSPORT_BYTES) {
      jsonRpcError(res, 401, -32001, 'an agent passport is required (Authorization: Bearer …)', { 'www-authenticate': 'Bearer' });
      return;
    }
    let passport;
    try {
      passport = await w.passports.authenticate(token, { correlationId: `mcp-http-${randomUUID()}` });
    } catch (err) {
      jsonRpcError(res, 401, -32001, `passport refused: ${(err as Error).message}`, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    // The downstream servers run with this tenant's manifests and secrets: no other tenant's agent may use them.
    if (passport.tenant !== options.tenant) {
      jsonRpcError(res, 403, -32001, 'this gateway serves another tenant');
      return;
    }
    // Every request acts with its own passport (its scope and actor chain), checked against the session's agent below.
    (req as IncomingMessage & { auth?: AuthInfo }).auth = { token, clientId: passport.claims.sub, scopes: [...passport.claims.scope] };
    const sessionId = req.headers['mcp-session-id'];
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      if (raw === undefined) {
        // The rest of the body was not read: the connection cannot carry another request.
        jsonRpcError(res, 413, -32600, `request body larger than ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
        return;
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        jsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
        return;
      }
    }
    if (typeof sessionId === 'string') {
      const s = sessions.get(sessionId);
      // Another agent's session is "not found": its existence is not revealed.
      if (!s || s.tenant !== passport.tenant || s.agent !== passport.claims.sub) {
        jsonRpcError(res, 404, -32001, 'session not found');
        return;
      }
      s.lastUsed = Date.now();
      await s.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      jsonRpcError(res, 400, -32000, 'no session: start with an initialize request');
      return;
    }
    const perAgent = [...sessions.values()].filter((x) => x.agent === passport.claims.sub).length;
    if (sessions.size >= options.maxSessions || perAgent >= (options.maxSessionsPerAgent ?? Math.max(1, Math.ceil(options.maxSessions / 8)))) {
      jsonRpcError(res, 503, -32000, 'too many sessions: close one or try again later');
      return;
    }
    const agent = passport.claims.sub;
    const backendFor = (extra: { authInfo?: AuthInfo }) => {
      const t = extra.authInfo?.token;
      // Requests reach a session only after the checks above; without a token nothing is decided.
      if (t === undefined) throw new Error('no passport on this request');
      return new LocalBackend(w, options.tenant, agent, { token: t, service: 'warden-mcp-http' });
    };
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, tenant: passport.tenant, agent: passport.claims.sub, lastUsed: Date.now() });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const server = mediator.createServer(backendFor);
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    // An initialize the transport refused (bad headers, …) leaves no session behind.
    if (!transport.sessionId || !sessions.has(transport.sessionId)) await server.close().catch(() => undefined);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) jsonRpcError(res, 500, -32603, `internal error: ${err.message}`);
      else res.end();
    });
  });
  http.requestTimeout = 0; // SSE streams and approval waits are long; idle sessions are swept instead
  http.headersTimeout = 30_000;
  http.on('close', () => {
    clearInterval(sweep);
    for (const s of sessions.values()) void s.transport.close();
  });
  return http;
}
