/**
 * The egress proxy of sandboxed runs. A sandbox has no network of its own; when its manifest
 * allows destinations, Warden listens on a Unix socket bound into the sandbox, and a relay
 * inside (socat on 127.0.0.1:3128, named by HTTP_PROXY/HTTPS_PROXY) forwards to it. Programs
 * that ignore the proxy reach nothing.
 *
 * Per request the proxy checks the destination against the manifest's allowlist with the
 * firewall's egress rules, resolves DNS itself, refuses private, loopback, link-local and
 * metadata addresses unless a rule names them, and connects to the address it checked (DNS
 * rebinding cannot swap it). Each request — allowed or refused — is reported (host, method,
 * bytes, status) for the run's events. CONNECT tunnels carry HTTPS; plain HTTP requests in
 * absolute form are forwarded.
 */
import { chmodSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { compileEgressRules, type EgressChecker, type EgressResolver } from '../firewall/egress/egress.js';

export interface EgressRecord {
  method: string;
  host: string;
  port: number;
  allowed: boolean;
  /** HTTP status returned to the sandbox (200 for an opened tunnel). */
  status: number;
  reason: string;
  bytesOut: number;
  bytesIn: number;
}

export interface EgressProxyOptions {
  /** The manifest's allowlist (`host`, `*.domain`, `host:port`). */
  allow: readonly string[];
  resolver?: EgressResolver;
  /** Called once per request, when it ends. */
  onRequest?: (r: EgressRecord) => void;
  /** Concurrent connections at most. */
  maxConnections?: number;
}

const HOST_PORT = /^\[?([A-Za-z0-9._:-]{1,255}?)\]?:(\d{1,5})$/;

export class EgressProxy {
  readonly stats = { requests: 0, refused: 0, bytesOut: 0, bytesIn: 0 };
  readonly #checker: EgressChecker;
  readonly #sockets = new Set<Socket>();

  private constructor(private readonly server: Server, checker: EgressChecker, private readonly options: EgressProxyOptions) {
    this.#checker = checker;
  }

  static async start(socketPath: string, options: EgressProxyOptions): Promise<EgressProxy> {
    const checker = compileEgressRules(options.allow, options.resolver ? { resolver: options.resolver } : {});
    const server = createServer();
    const proxy = new EgressProxy(server, checker, options);
    server.maxConnections = options.maxConnections ?? 256;
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void proxy.#tunnel(req, socket, head));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.#forward(req, res));
    server.on('connection', (s: Socket) => {
      proxy.#sockets.add(s);
      s.on('close', () => proxy.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    // The sandbox's uid differs from ours: the socket is reachable only through the bind mount.
    chmodSync(socketPath, 0o666);
    return proxy;
  }

  #record(r: EgressRecord): void {
    this.stats.requests++;
    if (!r.allowed) this.stats.refused++;
    this.stats.bytesOut += r.bytesOut;
    this.stats.bytesIn += r.bytesIn;
    try {
      this.options.onRequest?.(r);
    } catch {
      // reporting must not break the proxy
    }
  }

  async #tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => undefined);
    const m = HOST_PORT.exec(req.url ?? '');
    const host = m?.[1] ?? '';
    const port = Number(m?.[2] ?? 0);
    const refuse = (status: number, reason: string) => {
      client.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nwarden egress: ${reason}\n`);
      this.#record({ method: 'CONNECT', host, port, allowed: false, status, reason, bytesOut: 0, bytesIn: 0 });
    };
    if (!m || port < 1 || port > 65535) return refuse(403, 'malformed CONNECT target');
    const verdict = await this.#checker.resolveAndCheck(`${port === 80 ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`);
    if (!verdict.allowed || !verdict.address) return refuse(403, verdict.reason);
    const upstream = connect({ host: verdict.address, port });
    let bytesOut = head.length;
    let bytesIn = 0;
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.on('data', (d: Buffer) => (bytesOut += d.length));
      upstream.on('data', (d: Buffer) => (bytesIn += d.length));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    let done = false;
    const finish = (status: number, reason: string) => {
      if (done) return;
      done = true;
      client.destroy();
      upstream.destroy();
      this.#record({ method: 'CONNECT', host, port, allowed: true, status, reason, bytesOut, bytesIn });
    };
    upstream.on('error', (err) => {
      if (!client.writableEnded && bytesIn === 0 && bytesOut === head.length) client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\n`);
      finish(502, `upstream: ${err.message}`);
    });
    upstream.on('close', () => finish(200, verdict.reason));
    client.on('close', () => finish(200, verdict.reason));
  }

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('warden egress: only absolute-form http:// requests and CONNECT are proxied\n');
      return this.#record({ method: req.method ?? '?', host: '', port: 0, allowed: false, status: 400, reason: 'not an absolute URL', bytesOut: 0, bytesIn: 0 });
    }
    const port = url.port === '' ? 80 : Number(url.port);
    const host = url.hostname;
    if (url.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('warden egress: use CONNECT for https\n');
      return this.#record({ method: req.method ?? '?', host, port, allowed: false, status: 400, reason: 'https must use CONNECT', bytesOut: 0, bytesIn: 0 });
    }
    const verdict = await this.#checker.resolveAndCheck(url);
    if (!verdict.allowed || !verdict.address) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`warden egress: ${verdict.reason}\n`);
      return this.#record({ method: req.method ?? '?', host, port, allowed: false, status: 403, reason: verdict.reason, bytesOut: 0, bytesIn: 0 });
    }
    let bytesOut = 0;
    let bytesIn = 0;
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: url.host };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const up = httpRequest({ host: verdict.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers });
    req.on('data', (d: Buffer) => (bytesOut += d.length));
    req.pipe(up);
    up.on('response', (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.on('data', (d: Buffer) => (bytesIn += d.length));
      r.pipe(res);
      r.on('end', () => this.#record({ method: req.method ?? '?', host, port, allowed: true, status: r.statusCode ?? 0, reason: verdict.reason, bytesOut, bytesIn }));
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`warden egress: upstream ${err.message}\n`);
      this.#record({ method: req.method ?? '?', host, port, allowed: true, status: 502, reason: `upstream: ${err.message}`, bytesOut, bytesIn });
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
