/**
 * One downstream MCP server, as the gateway's client: over stdio (a local command, optionally
 * in the sandbox's process tier under a manifest) or over streamable HTTP / SSE (a remote
 * server). A server that dies is reported (an event and an error to the pending calls, never a
 * hang) and started again on next use — at most {@link MAX_RESTARTS} times a minute, after
 * which it stays down with the reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ToolListChangedNotificationSchema, type CallToolResult, type GetPromptResult, type Prompt, type ReadResourceResult, type Resource, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { WardenError } from '../errors.js';
import { launchProcessTier } from '../sandbox/process-tier.js';
import { launchContainerTier } from '../sandbox/container-tier.js';
import { buildSeccompProgram } from '../sandbox/seccomp/index.js';
import type { Manifest } from '../sandbox/manifest/index.js';
import { manifestTier, tierAvailability } from '../sandbox/run.js';
import { LineTransport } from './line-transport.js';

const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
const MAX_PAGES = 50;
const LOG_LINES_PER_S = 100;
/** A call that keeps sending progress is still ended after this long. */
const MAX_CALL_MS = 30 * 60_000;
/** What an unsandboxed stdio server inherits of Warden's environment (nothing else: no secrets). */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER', 'NODE_OPTIONS'];

export interface DownstreamSpec {
  /** The server's name: namespaces its tools and forms `mcp:NAME/TOOL` resources. */
  name: string;
  /** A local server over stdio: argv. */
  command?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run the command in the sandbox (process tier) under this manifest. */
  sandbox?: { manifest: Manifest; secrets: Map<string, Buffer> };
  /** A remote server. */
  url?: string;
  transport?: 'streamable-http' | 'sse';
  headers?: Record<string, string>;
  /** SchemaPin: the domain that signs this server's tools (its key at https://DOMAIN/.well-known/schemapin.json). */
  schemapin?: { domain: string; discovery_url?: string };
  /** Per request to this server. */
  timeoutMs?: number;
}

export class Downstream {
  onToolsChanged?: () => void;
  /** The server went down (crash, exit, connection lost). */
  onDown?: (reason: string) => void;
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  /** The sandbox tier the server runs in, when it is sandboxed. */
  readonly tier: 'process' | 'container' | undefined;
  #sandbox: { child: ChildProcess; kill(): void; cleanup(): Promise<void> } | undefined;
  #child: ChildProcess | undefined;
  #starts: number[] = [];
  #closed = false;
  #lastFailure: string | undefined;
  #spawnError: string | undefined;

  constructor(readonly spec: DownstreamSpec) {
    if (!spec.command?.length && !spec.url) throw new WardenError('BAD_INPUT', `MCP server ${spec.name}: needs a command or a url`);
    if (spec.sandbox) {
      // A long-lived server over stdio runs in the process or container tier; a manifest that
      // needs more isolation is refused, never downgraded.
      const chosen = manifestTier(spec.sandbox.manifest);
      if (chosen.tier !== 'process' && chosen.tier !== 'container') {
        throw new WardenError('FORBIDDEN', `MCP server ${spec.name}: its manifest needs the ${chosen.tier} tier (${chosen.why}); long-lived MCP servers run in the process or container tier, and Warden never downgrades a tier`);
      }
      const available = tierAvailability()[chosen.tier];
      if (!available.ok) throw new WardenError('FORBIDDEN', `MCP server ${spec.name}: the ${chosen.tier} tier (${chosen.why}) is unavailable here: ${available.reason}`);
      this.tier = chosen.tier;
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** The connected client, (re)starting the server when needed. */
  async client(): Promise<Client> {
    if (this.#closed) throw new WardenError('FORBIDDEN', `MCP server ${this.name} is closed`);
    if (this.#client) return this.#client;
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const now = Date.now();
    this.#starts = this.#starts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.#starts.length > MAX_RESTARTS) {
      throw new WardenError('INTERNAL', `MCP server ${this.name} is down: it failed ${this.#starts.length} times within a minute (last: ${this.#lastFailure ?? 'unknown'})`);
    }
    this.#starts.push(now);
    const client = new Client({ name: 'warden-mcp-gateway', version: '0.1.0' }, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => this.onToolsChanged?.());
    const transport = this.#transport();
    let up = false;
    client.onclose = () => {
      if (this.#client === client) this.#client = undefined;
      this.#stopProcess();
      if (up && !this.#closed) {
        this.#lastFailure = 'the server closed its connection or exited';
        this.onDown?.(this.#lastFailure);
      }
    };
    try {
      await client.connect(transport, { timeout: this.spec.timeoutMs ?? 30_000 });
    } catch (err) {
      // A command that could not be spawned (ENOENT…) explains more than the write error that follows it.
      this.#lastFailure = this.#spawnError ?? (err as Error).message;
      this.#spawnError = undefined;
      this.#stopProcess();
      await client.close().catch(() => undefined);
      throw new WardenError('INTERNAL', `MCP server ${this.name} did not start: ${this.#lastFailure}`);
    }
    up = true;
    this.#client = client;
    return client;
  }

  #transport(): Transport {
    const s = this.spec;
    if (s.url) {
      const init: RequestInit = { ...(s.headers ? { headers: s.headers } : {}), redirect: 'error' };
      return s.transport === 'sse' ? new SSEClientTransport(new URL(s.url), { requestInit: init }) : new StreamableHTTPClientTransport(new URL(s.url), { requestInit: init });
    }
    const [cmd, ...args] = s.command as string[];
    let child: ChildProcess;
    if (s.sandbox) {
      const m = s.sandbox.manifest;
      const env: Record<string, string> = { ...(s.env ?? {}) };
      for (const [k, v] of s.sandbox.secrets) env[k] = v.toString('utf8');
      const base = {
        command: s.command as string[], env, fs: { read: [...m.permissions.fs.read], write: [...m.permissions.fs.write] },
        // A server lives as long as its session: memory, CPU and pids are limited, not wall-clock time.
        limits: { memoryBytes: m.permissions.memory, cpuQuota: m.permissions.cpu_quota, pids: m.permissions.pids, timeMs: Number.MAX_SAFE_INTEGER },
      };
      if (this.tier === 'container') {
        const c = launchContainerTier(base);
        this.#sandbox = { child: c.child, kill: () => c.kill('timeout'), cleanup: () => c.cleanup() };
      } else {
        const p = launchProcessTier({ ...base, seccomp: buildSeccompProgram() });
        this.#sandbox = { child: p.child, kill: () => p.kill('timeout'), cleanup: () => p.cgroup.remove() };
      }
      child = this.#sandbox.child;
    } else {
      const env: Record<string, string> = {};
      for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
      child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...env, ...(s.env ?? {}) }, ...(s.cwd ? { cwd: s.cwd } : {}) });
    }
    this.#child = child;
    child.on('error', (err) => {
      this.#lastFailure = err.message;
      this.#spawnError = `cannot run ${JSON.stringify(cmd)}: ${err.message}`;
    });
    // The server's stderr is its log: passed on, line by line, under its name — with control
    // characters replaced (no forged log lines), the sandbox's secret values masked, and at most
    // LOG_LINES_PER_S lines a second.
    const secrets = [...(s.sandbox?.secrets.values() ?? [])].map((v) => v.toString('utf8')).filter((v) => v.length >= 4);
    let partial = '';
    let window = 0;
    let inWindow = 0;
    let dropped = 0;
    child.stderr?.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = (lines.pop() ?? '').slice(-4096);
      for (const l of lines) {
        if (!l) continue;
        const now = Math.floor(Date.now() / 1000);
        if (now !== window) {
          if (dropped) process.stderr.write(`[mcp ${this.name}] (${dropped} log lines dropped)\n`);
          window = now;
          inWindow = 0;
          dropped = 0;
        }
        if (++inWindow > LOG_LINES_PER_S) {
          dropped++;
          continue;
        }
        // eslint-disable-next-line no-control-regex -- replacing control characters is the point
        let line = l.slice(0, 4096).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?');
        for (const v of secrets) line = line.split(v).join('[secret]');
        process.stderr.write(`[mcp ${this.name}] ${line}\n`);
      }
    });
    const transport = new LineTransport(child.stdout as NonNullable<ChildProcess['stdout']>, child.stdin as NonNullable<ChildProcess['stdin']>);
    child.on('exit', (code, signal) => {
      this.#lastFailure = `exited (${signal ?? `code ${code}`})`;
      void transport.close();
    });
    return transport;
  }

  #stopProcess(): void {
    const sb = this.#sandbox;
    const child = this.#child;
    this.#sandbox = undefined;
    this.#child = undefined;
    if (sb) {
      sb.kill();
      if (sb.child.exitCode !== null || sb.child.signalCode !== null) void sb.cleanup();
      else sb.child.once('close', () => void sb.cleanup());
    } else if (child && child.exitCode === null) {
      child.kill('SIGKILL');
    }
  }

  async listTools(): Promise<Tool[]> {
    const c = await this.client();
    const out: Tool[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = await c.listTools(cursor ? { cursor } : {}, { timeout: this.spec.timeoutMs ?? 30_000 });
      out.push(...page.tools);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return out;
  }

  async callTool(name: string, args: Record<string, unknown>, signal: AbortSignal, onprogress?: (p: { progress: number; total?: number; message?: string }) => void): Promise<CallToolResult> {
    const c = await this.client();
    return (await c.callTool({ name, arguments: args }, undefined, {
      signal, timeout: this.spec.timeoutMs ?? 60_000, ...(onprogress ? { onprogress, resetTimeoutOnProgress: true, maxTotalTimeout: MAX_CALL_MS } : {}),
    })) as CallToolResult;
  }

  async listResources(): Promise<Resource[]> {
    const c = await this.client();
    if (!c.getServerCapabilities()?.resources) return [];
    return (await c.listResources({}, { timeout: this.spec.timeoutMs ?? 30_000 })).resources;
  }

  async readResource(uri: string, signal: AbortSignal): Promise<ReadResourceResult> {
    return (await this.client()).readResource({ uri }, { signal, timeout: this.spec.timeoutMs ?? 60_000 });
  }

  async listPrompts(): Promise<Prompt[]> {
    const c = await this.client();
    if (!c.getServerCapabilities()?.prompts) return [];
    return (await c.listPrompts({}, { timeout: this.spec.timeoutMs ?? 30_000 })).prompts;
  }

  async getPrompt(name: string, args: Record<string, string>, signal: AbortSignal): Promise<GetPromptResult> {
    return (await this.client()).getPrompt({ name, arguments: args }, { signal, timeout: this.spec.timeoutMs ?? 60_000 });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const c = this.#client;
    this.#client = undefined;
    await c?.close().catch(() => undefined);
    this.#stopProcess();
  }
}
