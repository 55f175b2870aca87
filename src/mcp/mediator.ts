/**
 * The MCP gateway's core: one front MCP server per client session, in front of one or more
 * downstream servers. Every `tools/call`, `resources/read` and `prompts/get` is a Warden
 * decision (action `mcp.request`, resource `mcp:SERVER/TOOL`, `mcp:SERVER/resource:URI` or
 * `mcp:SERVER/prompt:NAME`) with the arguments as payload (DLP; the redacted arguments are what
 * is sent on), every host named in them checked against the egress allowlist, approvals waited
 * for with progress notifications, and the result reported as the decision's outcome, scanned
 * (injection taints the session, DLP redacts or withholds) before the client sees it — error
 * messages from the server included. Listings show only what is reviewed, unblocked and what
 * policy could allow.
 */
import { randomBytes } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, ErrorCode, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListToolsRequestSchema,
  McpError, ReadResourceRequestSchema, type CallToolResult, type GetPromptResult, type Prompt, type ReadResourceResult, type Resource,
  type ServerNotification, type ServerRequest, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Json } from '../crypto/jcs.js';
import { WardenError } from '../errors.js';
import { MAX_DESTINATIONS, type DecisionResult, type OutcomeResult } from '../gateway/gateway.js';
import type { McpBackend } from './backend.js';
import type { Downstream } from './downstream.js';
import type { ToolVerdict } from './pins.js';
import { fetchDiscovery } from './discovery.js';
import { resultSlots, type Slot } from './result-slots.js';

/** The separator of namespaced names: `SERVER__TOOL`. */
export const NAMESPACE_SEPARATOR = '__';
const PROGRESS_EVERY_MS = 2_000;
const MAX_WAITING_PER_AGENT = 16;
const MAX_RESOURCE_REF = 200;
/** Reviews of a server's tools are reused this long per agent (the pipeline checks pins on every call regardless). */
const REVIEW_TTL_MS = 10_000;
/** A signing domain's key document is fetched again after this long (revocations are seen within it). */
const DISCOVERY_TTL_MS = 5 * 60_000;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
/** The Warden backend of a request: fixed for a stdio session, per request (its own passport) over HTTP. */
export type BackendFor = McpBackend | ((extra: Extra) => McpBackend);

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
  /** Per server: its tool list as last fetched (until it announces a change or goes down). */
  readonly #tools = new Map<string, Promise<Tool[]>>();
  /** Per tenant, agent and server: the review of that list (short-lived). */
  readonly #reviews = new Map<string, { at: number; entries: Promise<Entry[]> }>();
  readonly #fronts = new Set<Server>();
  /** Per server: its SchemaPin key document, as last fetched. */
  readonly #discoveries = new Map<string, { at: number; document: unknown }>();
  /** Calls waiting for an approval, per tenant and agent (bounded: each holds a request open). */
  readonly #waiting = new Map<string, number>();

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
    this.#tools.delete(server);
    for (const k of this.#reviews.keys()) if (k.endsWith(`\n${server}`)) this.#reviews.delete(k);
  }

  /** A new front session: its own MCP server object, Warden backend (the agent) and correlation id (the taint session). */
  createServer(backendFor: BackendFor, correlationId = `mcp_${randomBytes(12).toString('base64url')}`): Server {
    const server = new Server(
      { name: this.options.name ?? 'warden-mcp-gateway', version: '0.1.0' },
      { capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} } },
    );
    const b = (extra: Extra) => (typeof backendFor === 'function' ? backendFor(extra) : backendFor);
    this.#fronts.add(server);
    server.onclose = () => this.#fronts.delete(server);
    server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({ tools: await this.#visibleTools(b(extra), correlationId) }));
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => this.#callTool(b(extra), req.params.name, req.params.arguments ?? {}, correlationId, extra));
    server.setRequestHandler(ListResourcesRequestSchema, async (_req, extra) => ({ resources: await this.#visibleResources(b(extra), correlationId) }));
    server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => this.#readResource(b(extra), req.params.uri, correlationId, extra));
    server.setRequestHandler(ListPromptsRequestSchema, async (_req, extra) => ({ prompts: await this.#visiblePrompts(b(extra), correlationId) }));
    server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => this.#getPrompt(b(extra), req.params.name, req.params.arguments ?? {}, correlationId, extra));
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

  #toolList(server: Downstream): Promise<Tool[]> {
    let p = this.#tools.get(server.name);
    if (!p) {
      p = server.listTools();
      this.#tools.set(server.name, p);
      p.catch(() => this.#tools.delete(server.name));
    }
    return p;
  }

  /** The server's tools as this agent's tenant has reviewed them (pins, poisoning, SchemaPin). */
  async #entries(backend: McpBackend, server: Downstream, correlationId: string, fresh = false): Promise<Entry[]> {
    const key = `${backend.tenant}\n${backend.agent}\n${server.name}`;
    const hit = this.#reviews.get(key);
    if (hit && !fresh && Date.now() - hit.at < REVIEW_TTL_MS) return hit.entries;
    const entries = (async () => {
      const tools = await this.#toolList(server);
      const pin = server.spec.schemapin;
      const verdicts = await backend.reviewTools(server.name, tools as never, correlationId, pin ? { domain: pin.domain, document: await this.#discovery(server) } : undefined);
      return tools.map((tool, i) => ({ server, tool, verdict: verdicts[i] as ToolVerdict }));
    })();
    this.#reviews.set(key, { at: Date.now(), entries });
    entries.catch(() => this.#reviews.delete(key));
    return entries;
  }

  /**
   * The signing domain's key document, fetched at most every {@link DISCOVERY_TTL_MS} (not on
   * every listing). An unreachable key is reported as such (`no_key`): policy decides, never a
   * silent "unsigned".
   */
  async #discovery(server: Downstream): Promise<unknown> {
    const pin = server.spec.schemapin as NonNullable<Downstream['spec']['schemapin']>;
    const hit = this.#discoveries.get(server.name);
    if (hit && Date.now() - hit.at < DISCOVERY_TTL_MS) return hit.document;
    const document = await fetchDiscovery(pin.domain, pin.discovery_url).catch(() => ({ unavailable: true }));
    // A failed fetch is retried on the next review, not cached.
    if (!(document as { unavailable?: boolean }).unavailable) this.#discoveries.set(server.name, { at: Date.now(), document });
    return document;
  }

  async #visibleTools(backend: McpBackend, correlationId: string): Promise<Tool[]> {
    const all: Entry[] = [];
    for (const s of this.#servers.values()) {
      try {
        all.push(...(await this.#entries(backend, s, correlationId, true)));
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
    // Only tools the server listed, and the tenant reviewed, can be called: a name the server
    // never showed has no pin and no description scan behind it.
    let unavailable: string | undefined;
    const lookup = async (fresh: boolean) => {
      try {
        return (await this.#entries(backend, server, correlationId, fresh)).find((e) => e.tool.name === name);
      } catch (err) {
        unavailable = (err as Error).message;
        return undefined;
      }
    };
    let entry = await lookup(false);
    // Unknown or blocked in the cached review: look again (it may be new, or approved since).
    if (!entry?.verdict.ok) entry = await lookup(true);
    if (!entry) {
      if (unavailable !== undefined) return errorResult(`server ${server.name} is unavailable: ${unavailable}`);
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${front}`);
    }
    const gate = await this.#decide(backend, `mcp:${server.name}/${name}`, 'tools/call', { arguments: args as Json }, args, correlationId, extra);
    if ('error' in gate) return errorResult(gate.error);
    if (!entry.verdict.ok) {
      // Policy allowed it, but the review did not (not granted, oversized or blocked): not run.
      await backend.outcome(gate.decision.id, { status: 'aborted', details: { reason: `tool not reviewed: ${entry.verdict.reason ?? entry.verdict.state}` } }).catch(() => undefined);
      return errorResult(`tool ${front} is blocked by Warden: ${entry.verdict.reason ?? entry.verdict.state} (decision ${gate.decision.id})`);
    }
    const sendArgs = redactedArguments(gate.decision) ?? args;
    let result: CallToolResult;
    try {
      result = await server.callTool(name, sendArgs, extra.signal, progressRelay(extra));
    } catch (err) {
      return errorResult(await this.#failure(backend, gate.decision, server, err, extra));
    }
    const slots = resultSlots(result);
    const reported = await this.#report(backend, gate.decision, result.isError ? 'failed' : 'succeeded', slots);
    if ('error' in reported) return errorResult(reported.error);
    return reported.result?.tainted ? { ...result, _meta: { ...(result._meta ?? {}), 'warden/tainted': true } } : result;
  }

  /**
   * A failed request: the server's error message is text from outside like any result — reported,
   * scanned, redacted (or withheld) before the agent reads it.
   */
  async #failure(backend: McpBackend, d: DecisionResult, server: Downstream, err: unknown, extra: Extra): Promise<string> {
    const message = err instanceof McpError ? err.message : `server ${server.name} failed: ${(err as Error).message}`;
    const slot = { text: message.slice(0, 4096) };
    const out = await backend.outcome(d.id, { status: extra.signal.aborted ? 'aborted' : 'failed', result: { texts: [slot.text] } }).catch(() => undefined);
    const shown = out === undefined || out.result?.withheld ? '(the error message was withheld by Warden)' : (out.result?.texts?.[0] ?? slot.text);
    return `the call failed: ${shown} (decision ${d.id})`;
  }

  /** A decision, and the wait for its approval when it needs one; `error` says why the call must not proceed. */
  async #decide(
    backend: McpBackend, resource: string, method: string, payload: Record<string, Json>, args: Record<string, unknown>, correlationId: string, extra: Extra,
  ): Promise<{ decision: DecisionResult } | { error: string }> {
    let d: DecisionResult;
    try {
      const hosts = argumentHosts(args);
      d = await backend.decide({
        action: 'mcp.request', resource, payload, correlation_id: correlationId,
        context: { method, arguments: Object.keys(args), ...(hosts[0] !== undefined ? { domain: hosts[0] } : {}) },
        ...(hosts.length > 1 ? { destinations: hosts.slice(1) } : {}),
      });
    } catch (err) {
      return { error: `Warden could not decide this call (${err instanceof WardenError ? err.message : (err as Error).message}): denied` };
    }
    const receipt = d.receipt ? ` (receipt ${d.receipt.tenant}#${d.receipt.seq})` : '';
    if (d.decision === 'deny') return { error: `denied by Warden: ${d.reasons.join('; ') || 'no policy allows it'}${receipt}` };
    if (d.obligations.length) {
      // The MCP gateway carries out no obligation itself yet: fail closed.
      await backend.outcome(d.id, { status: 'aborted', details: { reason: `obligations the MCP gateway cannot apply: ${d.obligations.join(', ')}` } }).catch(() => undefined);
      return { error: `allowed only with obligations the MCP gateway cannot apply (${d.obligations.join(', ')}): not run${receipt}` };
    }
    if (d.decision === 'require_approval') {
      const a = d.approval;
      if (!a) return { error: `approval required but none was created${receipt}` };
      const key = `${backend.tenant}\n${backend.agent}`;
      const waiting = this.#waiting.get(key) ?? 0;
      if (waiting >= MAX_WAITING_PER_AGENT) {
        await backend.outcome(d.id, { status: 'aborted', details: { reason: 'too many calls of this agent waiting for approval' } }).catch(() => undefined);
        return { error: `approval ${a.id} is pending, but ${waiting} calls of this agent already wait for approval: not waiting (ask again once they are resolved)${receipt}` };
      }
      this.#waiting.set(key, waiting + 1);
      let state: string;
      try {
        state = await this.#awaitApproval(backend, a, extra);
      } finally {
        const n = (this.#waiting.get(key) ?? 1) - 1;
        if (n > 0) this.#waiting.set(key, n);
        else this.#waiting.delete(key);
      }
      if (state !== 'approved') {
        if (state === 'pending') await backend.outcome(d.id, { status: 'aborted', details: { reason: 'the client stopped waiting for the approval' } }).catch(() => undefined);
        return { error: `approval ${a.id} ${state === 'pending' ? 'was not given in time' : `was ${state}`}: the call is denied${receipt}` };
      }
    }
    return { decision: d };
  }

  async #awaitApproval(backend: McpBackend, a: NonNullable<DecisionResult['approval']>, extra: Extra): Promise<string> {
    const token = extra._meta?.progressToken;
    const expires = Date.parse(a.expires_at);
    // An unreadable expiry counts as already expired.
    const giveUp = Date.now() + (this.options.approvalWaitMs ?? (Number.isFinite(expires) ? Math.max(0, expires - Date.now()) + 5_000 : 0));
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

  /** Reports the outcome with the result's texts; on success the slots hold the firewall's redacted texts. */
  async #report(backend: McpBackend, d: DecisionResult, status: 'succeeded' | 'failed', slots: Slot[]): Promise<{ result: OutcomeResult['result'] } | { error: string }> {
    let out: OutcomeResult;
    try {
      out = await backend.outcome(d.id, { status, result: { texts: slots.map((s) => s.get()) } });
    } catch (err) {
      // The result was not scanned: it does not reach the agent.
      return { error: `the result could not be checked by Warden (${(err as Error).message}): withheld (decision ${d.id})` };
    }
    if (out.result?.withheld) return { error: `the result was withheld by Warden: ${out.result.withheld} (receipt ${out.receipt.tenant}#${out.receipt.seq})` };
    const redacted = out.result?.texts;
    if (redacted) slots.forEach((s, i) => s.set(redacted[i] ?? ''));
    return { result: out.result };
  }

  async #resources(): Promise<{ server: Downstream; resource: Resource }[]> {
    const out: { server: Downstream; resource: Resource }[] = [];
    for (const s of this.#servers.values()) {
      try {
        for (const r of await s.listResources()) out.push({ server: s, resource: r });
      } catch (err) {
        process.stderr.write(`warden mcp: cannot list the resources of ${s.name}: ${(err as Error).message}\n`);
      }
    }
    return out;
  }

  async #visibleResources(backend: McpBackend, correlationId: string): Promise<Resource[]> {
    const all = (await this.#resources()).filter((r) => r.resource.uri.length <= MAX_RESOURCE_REF && !hasDotSegment(r.resource.uri));
    const permitted = all.length ? await backend.permitted('mcp.request', all.map((r) => `mcp:${r.server.name}/resource:${r.resource.uri}`), correlationId) : [];
    return all.filter((_, i) => permitted[i]).map((r) => r.resource);
  }

  async #readResource(backend: McpBackend, uri: string, correlationId: string, extra: Extra): Promise<ReadResourceResult> {
    if (uri.length > MAX_RESOURCE_REF) throw new McpError(ErrorCode.InvalidParams, `resource URI longer than ${MAX_RESOURCE_REF} characters`);
    // Grants match by prefix: `..` could climb out of a granted prefix, so such URIs are refused.
    if (hasDotSegment(uri)) throw new McpError(ErrorCode.InvalidParams, 'resource URI with a ".." segment: refused');
    let server = this.#servers.size === 1 ? [...this.#servers.values()][0] : undefined;
    server ??= (await this.#resources()).find((r) => r.resource.uri === uri)?.server;
    if (!server) throw new McpError(ErrorCode.InvalidParams, `Unknown resource: ${uri}`);
    const gate = await this.#decide(backend, `mcp:${server.name}/resource:${uri}`, 'resources/read', { uri }, {}, correlationId, extra);
    if ('error' in gate) throw new McpError(ErrorCode.InvalidRequest, gate.error);
    let result: ReadResourceResult;
    try {
      result = await server.readResource(uri, extra.signal);
    } catch (err) {
      throw new McpError(ErrorCode.InternalError, await this.#failure(backend, gate.decision, server, err, extra));
    }
    const reported = await this.#report(backend, gate.decision, 'succeeded', resultSlots(result));
    if ('error' in reported) throw new McpError(ErrorCode.InvalidRequest, reported.error);
    return result;
  }

  /**
   * A server's prompts, reviewed like tools under the name `prompt:NAME` (MCP tool names cannot
   * contain ':'): pinned on first sight, blocked when they change or read as injection.
   */
  async #promptEntries(backend: McpBackend, server: Downstream, correlationId: string): Promise<{ prompt: Prompt; verdict: ToolVerdict }[]> {
    const prompts = await server.listPrompts();
    if (prompts.length === 0) return [];
    const defs = prompts.map((p) => ({
      name: `prompt:${p.name}`, ...(p.title !== undefined ? { title: p.title } : {}), ...(p.description !== undefined ? { description: p.description } : {}),
      inputSchema: { arguments: p.arguments ?? [] },
    }));
    const verdicts = await backend.reviewTools(server.name, defs as never, correlationId);
    return prompts.map((prompt, i) => ({ prompt, verdict: verdicts[i] as ToolVerdict }));
  }

  async #visiblePrompts(backend: McpBackend, correlationId: string): Promise<Prompt[]> {
    const all: { server: Downstream; prompt: Prompt }[] = [];
    for (const s of this.#servers.values()) {
      try {
        for (const e of await this.#promptEntries(backend, s, correlationId)) if (e.verdict?.ok) all.push({ server: s, prompt: e.prompt });
      } catch (err) {
        process.stderr.write(`warden mcp: cannot list the prompts of ${s.name}: ${(err as Error).message}\n`);
      }
    }
    const permitted = all.length ? await backend.permitted('mcp.request', all.map((p) => `mcp:${p.server.name}/prompt:${p.prompt.name}`), correlationId) : [];
    return all.filter((_, i) => permitted[i]).map((p) => ({ ...p.prompt, name: this.#front(p.server.name, p.prompt.name) }));
  }

  async #getPrompt(backend: McpBackend, front: string, args: Record<string, string>, correlationId: string, extra: Extra): Promise<GetPromptResult> {
    const target = this.#resolve(front);
    if (!target) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${front}`);
    const { server, name } = target;
    // As for tools: only prompts the server listed, and the tenant reviewed, can be fetched.
    let entry: { prompt: Prompt; verdict: ToolVerdict } | undefined;
    try {
      entry = (await this.#promptEntries(backend, server, correlationId)).find((e) => e.prompt.name === name);
    } catch (err) {
      throw new McpError(ErrorCode.InternalError, `server ${server.name} is unavailable: ${(err as Error).message}`);
    }
    if (!entry) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${front}`);
    const gate = await this.#decide(backend, `mcp:${server.name}/prompt:${name}`, 'prompts/get', { arguments: args }, args, correlationId, extra);
    if ('error' in gate) throw new McpError(ErrorCode.InvalidRequest, gate.error);
    if (!entry.verdict.ok) {
      await backend.outcome(gate.decision.id, { status: 'aborted', details: { reason: `prompt not reviewed: ${entry.verdict.reason ?? entry.verdict.state}` } }).catch(() => undefined);
      throw new McpError(ErrorCode.InvalidRequest, `prompt ${front} is blocked by Warden: ${entry.verdict.reason ?? entry.verdict.state}`);
    }
    let result: GetPromptResult;
    try {
      result = await server.getPrompt(name, (redactedArguments(gate.decision) as Record<string, string> | undefined) ?? args, extra.signal);
    } catch (err) {
      throw new McpError(ErrorCode.InternalError, await this.#failure(backend, gate.decision, server, err, extra));
    }
    const reported = await this.#report(backend, gate.decision, 'succeeded', resultSlots(result));
    if ('error' in reported) throw new McpError(ErrorCode.InvalidRequest, reported.error);
    return result;
  }

  async close(): Promise<void> {
    for (const f of this.#fronts) await f.close().catch(() => undefined);
    for (const s of this.#servers.values()) await s.close();
  }
}

function errorResult(text: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }] };
}

/** The arguments DLP redacted or tokenized, when it changed them: what is sent on instead of the agent's. */
function redactedArguments(d: DecisionResult): Record<string, unknown> | undefined {
  return (d.firewall?.payload as { arguments?: Record<string, unknown> } | undefined)?.arguments;
}

const URL_IN_TEXT = /\b(?:https?|wss?|ftp):\/\/([^\s/?#"'<>\\]+)/gi;

/**
 * Every host named by a URL anywhere in the argument values (deduplicated, in order). More than
 * the decision API accepts is passed on as is: the decision then fails, closed.
 */
export function argumentHosts(args: Record<string, unknown>): string[] {
  const hosts = new Set<string>();
  const stack: unknown[] = [args];
  while (stack.length > 0 && hosts.size <= MAX_DESTINATIONS) {
    const v = stack.pop();
    if (typeof v === 'string') {
      for (const m of v.matchAll(URL_IN_TEXT)) {
        try {
          hosts.add(new URL(`http://${m[1] as string}`).hostname);
        } catch {
          hosts.add(m[1] as string); // not a valid authority: checked as written (it matches no allowlist)
        }
      }
    } else if (v && typeof v === 'object') {
      stack.push(...Object.values(v as Record<string, unknown>).reverse());
    }
  }
  return [...hosts];
}

function hasDotSegment(uri: string): boolean {
  return /(^|[/\\])\.\.?([/\\]|$)/.test(uri) || /%2e/i.test(uri);
}

/** Relays a downstream server's progress to the client (numbers only: its messages are unscanned text). */
function progressRelay(extra: Extra): ((p: { progress: number; total?: number; message?: string }) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  return (p) => void extra.sendNotification({
    method: 'notifications/progress', params: { progressToken: token, progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}) },
  }).catch(() => undefined);
}
