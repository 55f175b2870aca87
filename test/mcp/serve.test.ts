/**
 * The other fronts and backends of the MCP gateway, with real processes:
 * - `warden mcp serve`: streamable HTTP, passport bearer auth, several servers aggregated under
 *   namespaced names;
 * - `warden mcp proxy` with WARDEN_PASSPORT against a remote Warden (`warden serve`'s API);
 * - `warden mcp proxy --manifest`: the server in the sandbox's process tier.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICY } from '../../src/policy/starter.js';
import { buildServer } from '../../src/server/app.js';
import { processTierAvailable } from '../../src/sandbox/process-tier.js';
import { containerTierAvailable } from '../../src/sandbox/container-tier.js';
import { tempWarden, type TempWarden } from '../helpers/warden.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const FIXTURE = join(process.cwd(), 'test/fixtures/mcp/server.mjs');
const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]?.text ?? '');

let t: TempWarden;
let gateway: ChildProcess;
let url: string;
let botToken: string;
let otherToken: string;

beforeAll(async () => {
  t = await tempWarden();
  await t.w.policies.deploy('default', STARTER_POLICY, {});
  await t.w.agents.create('default', { id: 'bot', capabilities: ['mcp:alpha/*', 'mcp:beta/echo'] });
  await t.w.agents.create('default', { id: 'other', capabilities: ['mcp:alpha/*'] });
  botToken = (await t.w.passports.issue('default', 'bot')).token;
  otherToken = (await t.w.passports.issue('default', 'other')).token;
  const cfg = join(t.dir, 'gateway.yaml');
  writeFileSync(cfg, `listen: { host: 127.0.0.1, port: 0 }\nservers:\n  alpha:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FIXTURE)}]\n  beta:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FIXTURE)}]\n`);
  gateway = spawn(process.execPath, [CLI, 'mcp', 'serve', '--data', t.dir, '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let err = '';
    gateway.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /at (http:\/\/\S+\/mcp)/.exec(err);
      if (m) resolve(m[1] as string);
    });
    gateway.once('exit', () => reject(new Error(`mcp serve exited: ${err}`)));
  });
}, 60_000);

afterAll(async () => {
  gateway?.kill('SIGTERM');
  await new Promise((r) => gateway?.once('exit', r));
  await t?.cleanup();
});

async function httpClient(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'http-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

describe('warden mcp serve (streamable HTTP)', () => {
  it('aggregates servers under namespaced names, showing each agent only what it may use', async () => {
    const { client } = await httpClient(botToken);
    try {
      const names = (await client.listTools()).tools.map((x) => x.name);
      expect(names).toContain('alpha__echo');
      expect(names).toContain('beta__echo');
      expect(names).not.toContain('beta__fetch_page'); // bot is granted beta/echo only
      expect(names).not.toContain('alpha__run_command');
      const r = await client.callTool({ name: 'beta__echo', arguments: { text: 'via http' } });
      expect(text(r)).toBe('via http');
      const denied = await client.callTool({ name: 'beta__fetch_page', arguments: { url: 'https://x.test/' } });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toMatch(/denied by Warden/);
    } finally {
      await client.close();
    }
  });

  it("refuses another tenant's agents: the servers run with this tenant's manifests and secrets", async () => {
    await t.w.ensureTenant('other');
    await t.w.agents.create('other', { id: 'intruder', capabilities: ['mcp:alpha/*'] });
    const foreign = (await t.w.passports.issue('other', 'intruder')).token;
    const res = await fetch(url, {
      method: 'POST', headers: { authorization: `Bearer ${foreign}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    expect(res.status).toBe(403);
  });

  it('each request acts with its own passport: a narrowed passport cannot ride on a broad session', async () => {
    const narrow = (await t.w.passports.issue('default', 'bot', { scope: ['mcp:beta/echo'] })).token;
    let current = botToken;
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      fetch: (input, init) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${current}`);
        return fetch(input, { ...init, headers });
      },
    });
    const client = new Client({ name: 'scoped', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(text(await client.callTool({ name: 'alpha__echo', arguments: { text: 'broad' } }))).toBe('broad');
      current = narrow;
      const r = await client.callTool({ name: 'alpha__echo', arguments: { text: 'narrow' } });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/denied by Warden/);
    } finally {
      current = botToken;
      await client.close();
    }
  });

  it('refuses requests without a valid passport, and another agent cannot use a session', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    const post = (headers: Record<string, string>, body: unknown = init) => fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body),
    });
    expect((await post({})).status).toBe(401);
    const forged = `${botToken.slice(0, -4)}AAAA`;
    expect((await post({ authorization: `Bearer ${forged}` })).status).toBe(401);
    const { client, transport } = await httpClient(botToken);
    try {
      const sessionId = transport.sessionId as string;
      expect(sessionId).toBeTruthy();
      const hijack = await post({ authorization: `Bearer ${otherToken}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      expect(hijack.status).toBe(404);
      const bad = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${botToken}`, 'content-type': 'application/json' }, body: '{not json' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    } finally {
      await client.close();
    }
  });
});

describe('warden mcp proxy with WARDEN_PASSPORT against a remote Warden', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = await buildServer(t.w);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => app?.close());

  it('decides, pins and reports over the API with the agent passport', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', 'proxy', '--url', base, '--name', 'alpha', '--', process.execPath, FIXTURE],
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp', WARDEN_PASSPORT: otherToken },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'remote-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const names = (await client.listTools()).tools.map((x) => x.name);
      expect(names).toContain('echo');
      expect(names).not.toContain('run_command');
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'remote' } }))).toBe('remote');
      const inbox = await client.callTool({ name: 'read_inbox', arguments: {} });
      expect(inbox._meta?.['warden/tainted']).toBe(true);
      expect((await t.w.taint.isTainted('default', 'whatever', 'other'))).toBe(true);
    } finally {
      await client.close();
    }
    expect((await t.w.pins.get('default', 'alpha', 'echo'))?.state).toBe('pinned');
  });

  it('the review API takes a signing domain, never a key document from the agent', async () => {
    const res = await fetch(`${base}/v1/mcp/tools/review`, {
      method: 'POST', headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'alpha', tools: [{ name: 'echo' }], discovery: { domain: 'evil.test', document: { public_key_pem: 'x' } } }),
    });
    expect(res.status).toBe(400);
  });

  it("an agent cannot pin (or block) tools of a server it is not granted", async () => {
    const res = await fetch(`${base}/v1/mcp/tools/review`, {
      method: 'POST', headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server: 'gamma', tools: [{ name: 'echo', description: 'a definition the agent made up' }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { tools: { ok: boolean; reason?: string }[] };
    expect(body.tools[0]).toMatchObject({ ok: false, reason: expect.stringMatching(/not granted/) });
    expect(await t.w.pins.get('default', 'gamma', 'echo')).toBeUndefined();
    // Operators only: an agent passport cannot approve pins.
    const approve = await fetch(`${base}/v1/mcp/pins/approve`, {
      method: 'POST', headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ server: 'alpha', tool: 'echo' }),
    });
    expect(approve.status).toBe(403);
  });
});

/** A client of `warden mcp proxy --manifest` with the fixture server in the given tier. */
async function sandboxedClient(tier: 'process' | 'container'): Promise<Client> {
  const manifest = join(t.dir, `server-${tier}.yaml`);
  writeFileSync(manifest, `version: "1.0"\nagent: { name: bot, runtime: node }\ntier: ${tier}\npermissions:\n  fs: { read: [${JSON.stringify(process.cwd())}] }\n  memory: 512MB\n  pids: 64\n`);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', 'proxy', '--data', t.dir, '--agent', 'bot', '--name', 'alpha', '--manifest', manifest, '--', process.execPath, FIXTURE],
    env: { PATH: process.env.PATH ?? '', HOME: '/tmp' },
    stderr: 'pipe',
  });
  const client = new Client({ name: `${tier}-test`, version: '1.0.0' });
  await client.connect(transport);
  return client;
}

describe.skipIf(!containerTierAvailable().ok)('warden mcp proxy --manifest (container tier)', () => {
  it('runs the server in a runc container as uid 65534, and restarts it after a crash', async () => {
    const client = await sandboxedClient('container');
    try {
      expect(JSON.parse(text(await client.callTool({ name: 'whoami', arguments: {} })))).toEqual({ uid: 65534, shadow: 'unreadable' });
      expect((await client.callTool({ name: 'crash', arguments: {} })).isError).toBe(true);
      expect(text(await client.callTool({ name: 'echo', arguments: { text: 'restarted' } }))).toBe('restarted');
    } finally {
      await client.close();
    }
  });
});

describe.skipIf(!processTierAvailable().ok)('warden mcp proxy --manifest (process tier)', () => {
  it('runs the server as uid 65534 in the sandbox, unable to read /etc/shadow', async () => {
    const client = await sandboxedClient('process');
    try {
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      expect(JSON.parse(text(r))).toEqual({ uid: 65534, shadow: 'unreadable' });
    } finally {
      await client.close();
    }
  });
});
