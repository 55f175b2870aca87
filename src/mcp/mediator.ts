/**
 * The MCP gateway's core: one front MCP server per client session, in front of one or more
 * downstream servers. Every `tools/call`, `resources/read` and `prompts/get` is a Warden
 * decision (action `mcp.request`, resource `mcp:SERVER/TOOL`, `mcp:SERVER/resource:URI` or
 * `mcp:SERVER/prompt:NAME`) with the arguments as payload (DLP; the redacted arguments are what
 * is sent on), approvals waited for with progress notifications, and the result reported as the
 * decision's outcome, scanned (injection taints the session, DLP redacts or withholds) before
 * the client sees it. `tools/list` shows only pinned, unblocked tools policy could allow.
 */
import { randomBytes } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, ErrorCode, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListToolsRequestSchema,
  McpError, ReadResourceRequestSchema, type CallToolResult, type ServerNotification, type ServerRequest, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Json } from '../crypto/jcs.js';
import { WardenError } from '../errors.js';
import type { DecisionResult, OutcomeResult } from '../gateway/gateway.js';
import type { McpBackend } from './backend.js';
import type { Downstream } from './downstream.js';
import type { ToolVerdict } from './pins.js';
import { fetchDiscovery } from './discovery.js';

/** The separator of namespaced names: `SERVER__TOOL`. */
export const NAMESPACE_SEPARATOR = '__';
/** Obligations the MCP gateway can carry out itself (none yet): any obligation makes the call fail closed. */
const KNOWN_OBLIGATIONS = new Set<string>();
const PROGRESS_EVERY_MS = 2_000;
const MAX_RESOURCE_REF = 200;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

interface Entry {
  server: Downstream;
  tool: Tool;
  verdict: ToolVerdict;
}

export interface MediatorOptions {
  /** Prefix tool and prompt names with their server (`SERVER__NAME`); on by default when there are several servers. */
  namespace?: boolean;
  /** How long a call may wait for an approval before the gateway gives up (the approval's own expiry still applies). */
  approvalWaitMs?: number;
  /** Front server name. */
  name?: string;
  /** Where the gateway's own events go (a downstream server down). */
  event?: McpBackend['event'];
}

export class Mediator {
  readonly #servers: Map<string, Downstream>;
  readonly #namespace: boolean;
  /** Per tenant and server: its reviewed tool list (refreshed when the server says it changed). */
  readonly #catalogue = new Map<string, Promise<Entry[]>>();
  readonly #fronts = new Set<Server>();

  constructor(
    servers: Downstream[],
    private readonly options: MediatorOptions = {},
  ) {
    this.#servers = new Map(servers.map((s) => [s.name, s]));
    this.#namespace = options.namespace ?? servers.length > 1;
    for (const s of servers) {
      s.onToolsChanged = () => {
        this.#forget(s.name);
        for (const f of this.#fronts) void f.sendToolListChanged().catch(() => undefined);
      };
      s.onDown = (reason) => {
        this.#forget(s.name);
        options.event?.('high', 'mcp_server_down', { server: s.name, reason });
        process.stderr.write(`warden mcp: server ${s.name} went down (${reason}); it is restarted on next use\n`);
      };
    }
  }

  #forget(server: string): void {
    for (const k of this.#catalogue.keys()) if (k.endsWith(`\n${server}`)) this.#catalogue.delete(k);
  }

  /** A new front session: its own MCP server object, Warden backend (the agent) and correlation id (the taint session). */
  createServer(backend: McpBackend, correlationId = `mcp_${randomBytes(12).toString('base64url')}`): Server {
    const server = new Server(
      { name: this.options.name ?? 'warden-mcp-gateway', version: '0.1.0' },
      { capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} } },
    );
    this.#fronts.add(server);
    server.onclose = () => this.#fronts.delete(server);
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await this.#visibleTools(backend, correlationId) }));
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => this.#callTool(backend, req.params.name, req.params.arguments ?? {}, correlationId, extra));
    server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: (await this.#resources()).map((r) => r.resource) }));
    server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => this.#readResource(backend, req.params.uri, correlationId, extra));
    server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: await this.#prompts() }));
    server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => this.#getPrompt(backend, req.params.name, req.params.arguments ?? {}, correlationId, extra));
    return server;
  }

  #front(server: string, name: string): string {
    return this.#namespace ? `${server}${NAMESPACE_SEPARATOR}${name}` : name;
  }

  /** Front name → server and downstream name. */
  #resolve(front: string): { server: Downstream; name: string } | undefined {
    if (!this.#namespace) {
      const only = [...this.#servers.values()][0];
      return only ? { server: only, name: front } : undefined;
    }
    const i = front.indexOf(NAMESPACE_SEPARATOR);
    const server = i > 0 ? this.#servers.get(front.slice(0, i)) : undefined;
    return server ? { server, name: front.slice(i + NAMESPACE_SEPARATOR.length) } : undefined;
  }

  async #entries(backend: McpBackend, server: Downstream, correlationId: string): Promise<Entry[]> {
    const key = `${backend.tenant}\n${server.name}`;
    let p = this.#catalogue.get(key);
    if (!p) {
      p = (async () => {
        const tools = await server.listTools();
        const pin = server.spec.schemapin;
        const discovery = pin ? await fetchDiscovery(pin.domain, pin.discovery_url).catch(() => undefined) : undefined;
        const verdicts = await backend.reviewTools(server.name, tools as never, correlationId, discovery ? { domain: pin?.domain as string, document: discovery } : undefined);
        return tools.map((tool, i) => ({ server, tool, verdict: verdicts[i] as ToolVerdict }));
      })();
      this.#catalogue.set(key, p);
      p.catch(() => this.#catalogue.delete(key));
    }
    return p;
  }

  async #visibleTools(backend: McpBackend, correlationId: string): Promise<Tool[]> {
    const all: Entry[] = [];
    for (const s of this.#servers.values()) {
      try {
        all.push(...(await this.#entries(backend, s, correlationId)));
      } catch (err) {
        // One server down does not hide the others' tools; it is reported.
        process.stderr.write(`warden mcp: cannot list the tools of ${s.name}: ${(err as Error).message}\n`);
      }
    }
    const listed = all.filter((e) => e.verdict?.ok);
    const permitted = listed.length ? await backend.permitted('mcp.request', listed.map((e) => `mcp:${e.server.name}/${e.tool.name}`), correlationId) : [];
    return listed.filter((_, i) => permitted[i]).map((e) => ({ ...e.tool, name: this.#front(e.server.name, e.tool.name) }));
  }

  async #callTool(backend: McpBackend, front: string, args: Record<string, unknown>, correlationId: string, extra: Extra): Promise<CallToolResult> {
    const target = this.#resolve(front);
    if (!target) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${front}`);
    const { server, name } = target;
    const gate = await this.#decide(backend, `mcp:${server.name}/${name}`, 'tools/call', { arguments: args as Json }, argumentContext(args), correlationId, extra);
    if ('error' in gate) return errorResult(gate.error);
    const sendArgs = ((gate.decision.firewall?.payload as { arguments?: Record<string, unknown> } | undefined)?.arguments) ?? args;
    let result: CallToolResult;
    try {
      result = await server.callTool(name, sendArgs, extra.signal, progressRelay(extra));
    } catch (err) {
      const why = err instanceof McpError ? err.message : `server ${server.name} failed: ${(err as Error).message}`;
      await backend.outcome(gate.decision.id, { status: extra.signal.aborted ? 'aborted' : 'failed', details: { error: why.slice(0, 500) } }).catch(() => undefined);
      return errorResult(`the call failed: ${why} (decision ${gate.decision.id})`);
    }
    const texts = resultTexts(result);
    const reported = await this.#report(backend, gate.decision, result.isError ? 'failed' : 'succeeded', texts);
    if ('error' in reported) return errorResult(reported.error);
    return applyRedactions(result, reported.result);
  }

  /** A decision, and the wait for its approval when it needs one; `error` says why the call must not proceed. */
  async #decide(
    backend: McpBackend, resource: string, method: string, payload: Record<string, Json>, context: Record<string, unknown>, correlationId: string, extra: Extra,
  ): Promise<{ decision: DecisionResult } | { error: string }> {
    let d: DecisionResult;
    try {
      d = await backend.decide({ action: 'mcp.request', resource, payload, context: { ...context, method }, correlation_id: correlationId });
    } catch (err) {
      return { error: `Warden could not decide this call (${err instanceof WardenError ? err.message : (err as Error).message}): denied` };
    }
    const receipt = d.receipt ? ` (receipt ${d.receipt.tenant}#${d.receipt.seq})` : '';
    if (d.decision === 'deny') return { error: `denied by Warden: ${d.reasons.join('; ') || 'no policy allows it'}${receipt}` };
    const unknown = d.obligations.filter((o) => !KNOWN_OBLIGATIONS.has(o.split(':')[0]?.trim() ?? o));
    if (unknown.length) {
      await backend.outcome(d.id, { status: 'aborted', details: { reason: `obligations the MCP gateway cannot apply: ${unknown.join(', ')}` } }).catch(() => undefined);
      return { error: `allowed only with obligations the MCP gateway cannot apply (${unknown.join(', ')}): not run${receipt}` };
    }
    if (d.decision === 'require_approval') {
      const a = d.approval;
      if (!a) return { error: `approval required but none was created${receipt}` };
      const state = await this.#awaitApproval(backend, a, extra);
      if (state !== 'approved') {
        if (state === 'pending') await backend.outcome(d.id, { status: 'aborted', details: { reason: 'the client stopped waiting for the approval' } }).catch(() => undefined);
        return { error: `approval ${a.id} ${state === 'pending' ? 'was not given in time' : `was ${state}`}: the call is denied${receipt}` };
      }
    }
    return { decision: d };
  }

  async #awaitApproval(backend: McpBackend, a: NonNullable<DecisionResult['approval']>, extra: Extra): Promise<string> {
    const token = extra._meta?.progressToken;
    const giveUp = Date.now() + (this.options.approvalWaitMs ?? Math.max(0, Date.parse(a.expires_at) - Date.now()) + 5_000);
    let tick = 0;
    for (;;) {
      if (extra.signal.aborted) return 'pending';
      if (token !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: ++tick, message: `waiting for approval ${a.id} by role "${a.role}" (expires ${a.expires_at})` },
        }).catch(() => undefined);
      }
      let state: string;
      try {
        state = await backend.approval(a.id, Math.min(PROGRESS_EVERY_MS, Math.max(0, giveUp - Date.now())) / 1000);
      } catch {
        state = 'pending';
        await new Promise((r) => setTimeout(r, 500));
      }
      if (state !== 'pending' || Date.now() >= giveUp) return state;
    }
  }

  async #report(backend: McpBackend, d: DecisionResult, status: 'succeeded' | 'failed', texts: string[]): Promise<{ result: OutcomeResult['result'] } | { error: string }> {
    let out: OutcomeResult;
    try {
      out = await backend.outcome(d.id, { status, result: { texts } });
    } catch (err) {
      // The result was not scanned: it does not reach the agent.
      return { error: `the result could not be checked by Warden (${(err as Error).message}): withheld (decision ${d.id})` };
    }
    if (out.result?.withheld) return { error: `the result was withheld by Warden: ${out.result.withheld} (receipt ${out.receipt.tenant}#${out.receipt.seq})` };
    return { result: out.result };
  }

  async #resources(): Promise<{ server: Downstream; resource: { uri: string; name: string } & Record<string, unknown> }[]> {
    const out: { server: Downstream; resource: { uri: string; name: string } & Record<string, unknown> }[] = [];
    for (const s of this.#servers.values()) {
      try {
        for (const r of await s.listResources()) out.push({ server: s, resource: r });
      } catch (err) {
        process.stderr.write(`warden mcp: cannot list the resources of ${s.name}: ${(err as Error).message}\n`);
      }
    }
    return out;
  }

  async #readResource(backend: McpBackend, uri: string, correlationId: string, extra: Extra) {
    let server = this.#servers.size === 1 ? [...this.#servers.values()][0] : undefined;
    server ??= (await this.#resources()).find((r) => r.resource.uri === uri)?.server;
    if (!server) throw new McpError(ErrorCode.InvalidParams, `Unknown resource: ${uri}`);
    if (uri.length > MAX_RESOURCE_REF) throw new McpError(ErrorCode.InvalidParams, `resource URI longer than ${MAX_RESOURCE_REF} characters`);
    const gate = await this.#decide(backend, `mcp:${server.name}/resource:${uri}`, 'resources/read', { uri }, {}, correlationId, extra);
    if ('error' in gate) throw new McpError(ErrorCode.InvalidRequest, gate.error);
    const result = await server.readResource(uri, extra.signal).catch(async (err: Error) => {
      await backend.outcome(gate.decision.id, { status: 'failed', details: { error: err.message.slice(0, 500) } }).catch(() => undefined);
      throw new McpError(ErrorCode.InternalError, `server ${server.name} failed: ${err.message}`);
    });
    const texts = result.contents.map((c) => ('text' in c && typeof c.text === 'string' ? c.text : ''));
    const reported = await this.#report(backend, gate.decision, 'succeeded', texts);
    if ('error' in reported) throw new McpError(ErrorCode.InvalidRequest, reported.error);
    const redacted = reported.result?.texts;
    return redacted ? { ...result, contents: result.contents.map((c, i) => ('text' in c ? { ...c, text: redacted[i] ?? '' } : c)) } : result;
  }

  async #prompts() {
    const out = [];
    for (const s of this.#servers.values()) {
      try {
        for (const p of await s.listPrompts()) out.push({ ...p, name: this.#front(s.name, p.name) });
      } catch (err) {
        process.stderr.write(`warden mcp: cannot list the prompts of ${s.name}: ${(err as Error).message}\n`);
      }
    }
    return out;
  }

  async #getPrompt(backend: McpBackend, front: string, args: Record<string, string>, correlationId: string, extra: Extra) {
    const target = this.#resolve(front);
    if (!target) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${front}`);
    const { server, name } = target;
    const gate = await this.#decide(backend, `mcp:${server.name}/prompt:${name}`, 'prompts/get', { arguments: args }, argumentContext(args), correlationId, extra);
    if ('error' in gate) throw new McpError(ErrorCode.InvalidRequest, gate.error);
    const result = await server.getPrompt(name, args, extra.signal).catch(async (err: Error) => {
      await backend.outcome(gate.decision.id, { status: 'failed', details: { error: err.message.slice(0, 500) } }).catch(() => undefined);
      throw new McpError(ErrorCode.InternalError, `server ${server.name} failed: ${err.message}`);
    });
    const texts = result.messages.map((m) => (m.content.type === 'text' ? m.content.text : ''));
    const reported = await this.#report(backend, gate.decision, 'succeeded', texts);
    if ('error' in reported) throw new McpError(ErrorCode.InvalidRequest, reported.error);
    const redacted = reported.result?.texts;
    return redacted ? { ...result, messages: result.messages.map((m, i) => (m.content.type === 'text' ? { ...m, content: { ...m.content, text: redacted[i] ?? '' } } : m)) } : result;
  }

  async close(): Promise<void> {
    for (const f of this.#fronts) await f.close().catch(() => undefined);
    for (const s of this.#servers.values()) await s.close();
  }
}

function errorResult(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

/** What policy sees of the arguments: their names, and the host of the first URL among them (egress). */
export function argumentContext(args: Record<string, unknown>): Record<string, unknown> {
  const ctx: Record<string, unknown> = { arguments: Object.keys(args).slice(0, 64) };
  const stack: unknown[] = [args];
  for (let n = 0; stack.length && n < 1000; n++) {
    const v = stack.pop();
    if (typeof v === 'string') {
      const m = /^(https?|wss?|ftp):\/\/([^/?#]+)/i.exec(v.trim());
      if (m) {
        try {
          ctx.domain = new URL(v.trim()).hostname;
          break;
        } catch {
          // not a URL after all
        }
      }
    } else if (v && typeof v === 'object') {
      stack.push(...Object.values(v as Record<string, unknown>));
    }
  }
  return ctx;
}

/** The texts of a tool result the firewall scans: text items, embedded text resources, structured content. */
export function resultTexts(r: CallToolResult): string[] {
  const texts = (r.content ?? []).map((c) => (c.type === 'text' ? c.text : c.type === 'resource' && 'text' in c.resource ? String(c.resource.text) : ''));
  if (r.structuredContent !== undefined) texts.push(JSON.stringify(r.structuredContent));
  return texts;
}

/** Puts the firewall's redacted texts back where they came from. */
function applyRedactions(r: CallToolResult, verdict: OutcomeResult['result']): CallToolResult {
  const texts = verdict?.texts;
  const meta = verdict?.tainted ? { _meta: { ...(r._meta ?? {}), 'warden/tainted': true } } : {};
  if (!texts) return { ...r, ...meta };
  const content = (r.content ?? []).map((c, i) => {
    if (c.type === 'text') return { ...c, text: texts[i] ?? '' };
    if (c.type === 'resource' && 'text' in c.resource) return { ...c, resource: { ...c.resource, text: texts[i] ?? '' } };
    return c;
  });
  const n = (r.content ?? []).length;
  let structured = r.structuredContent;
  if (structured !== undefined) {
    try {
      structured = JSON.parse(texts[n] ?? 'null') as Record<string, unknown>;
    } catch {
      structured = { withheld: 'redacted structured content could not be rebuilt' };
    }
  }
  return { ...r, content, ...(structured !== undefined ? { structuredContent: structured } : {}), ...meta };
}

/** Relays a downstream server's progress to the client, when the client asked for progress. */
function progressRelay(extra: Extra): ((p: { progress: number; total?: number; message?: string }) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  return (p) => void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, ...p } }).catch(() => undefined);
}
