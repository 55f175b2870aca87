/**
 * What the MCP gateway asks of Warden, behind one interface with two implementations:
 *
 * - {@link LocalBackend}: in this process, on the data directory (`warden mcp proxy --agent ID`):
 *   the agent gets a short-lived passport, verified again before every decision so that a
 *   revocation or quarantine takes effect at once;
 * - {@link RemoteBackend}: a Warden server over HTTP with the agent's passport as bearer
 *   (`WARDEN_PASSPORT`, `--url`).
 *
 * Either way decisions, outcomes, pins and approvals are the server's: receipts, events and
 * taint live with the ledger, not in the proxy.
 */
import type { ApprovalState } from '../approvals/approvals.js';
import type { Warden } from '../context.js';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import type { DecisionRequest, DecisionResult, OutcomeReport, OutcomeResult } from '../gateway/gateway.js';
import { actorChainOf, type IssuedPassport, type VerifiedPassport } from '../identity/passports.js';
import { readCapped } from '../net/read-capped.js';
import type { ToolDefinition, ToolVerdict } from './pins.js';

export interface Discovery {
  domain: string;
  document: unknown;
}

export interface McpBackend {
  readonly tenant: string;
  readonly agent: string;
  decide(req: DecisionRequest): Promise<DecisionResult>;
  outcome(decisionId: string, report: OutcomeReport): Promise<OutcomeResult>;
  /** An approval's state, waiting up to `waitS` seconds for it to leave `pending`. */
  approval(approvalId: string, waitS: number): Promise<ApprovalState>;
  permitted(action: string, resources: string[], correlationId: string): Promise<boolean[]>;
  reviewTools(server: string, tools: ToolDefinition[], correlationId: string, discovery?: Discovery): Promise<ToolVerdict[]>;
  /** A security event of the gateway itself (a downstream server down). */
  event(severity: 'info' | 'low' | 'medium' | 'high', category: string, details: Record<string, unknown>, correlationId?: string): void;
  close(): Promise<void>;
}

/** Passports of the local backend: the default TTL, re-issued this long before expiry. */
const RENEW_BEFORE_MS = 60_000;

export class LocalBackend implements McpBackend {
  #passport: IssuedPassport | undefined;

  /**
   * `token`: act with this passport (the HTTP front's caller); without it, passports are issued
   * to `agent` as needed. `ownsWarden`: close() closes the data directory too.
   */
  constructor(
    private readonly w: Warden,
    readonly tenant: string,
    readonly agent: string,
    private readonly options: { service?: string; token?: string; certThumbprint?: string; ownsWarden?: boolean } = {},
  ) {}

  get #service(): string {
    return this.options.service ?? 'warden-mcp';
  }

  async #caller(): Promise<{ passport: VerifiedPassport; actor: { human: string | null; agent: string | null; service: string | null } }> {
    let token = this.options.token;
    if (token === undefined) {
      if (!this.#passport || Date.parse(this.#passport.expires_at) - Date.now() < RENEW_BEFORE_MS) {
        this.#passport = await this.w.passports.issue(this.tenant, this.agent, { actor: { service: this.#service }, reason: 'MCP gateway session' });
      }
      token = this.#passport.token;
    }
    // Verified every time (cached by the service): a revoked passport or a quarantined agent stops here.
    const passport = await this.w.passports.verify(token, { certThumbprint: this.options.certThumbprint });
    return { passport, actor: { ...actorChainOf(passport.claims), service: this.#service } };
  }

  async decide(req: DecisionRequest): Promise<DecisionResult> {
    return this.w.gateway.decide(await this.#caller(), req, req.correlation_id ?? 'mcp');
  }

  async outcome(decisionId: string, report: OutcomeReport): Promise<OutcomeResult> {
    return this.w.gateway.outcome(await this.#caller(), decisionId, report, 'mcp');
  }

  async approval(approvalId: string, waitS: number): Promise<ApprovalState> {
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      const a = await this.w.approvals.get(this.tenant, approvalId);
      if (a.state !== 'pending' || Date.now() >= deadline) return a.state;
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(10, deadline - Date.now()))));
    }
  }

  async permitted(action: string, resources: string[], correlationId: string): Promise<boolean[]> {
    return this.w.gateway.permitted(await this.#caller(), action, resources, correlationId);
  }

  async reviewTools(server: string, tools: ToolDefinition[], correlationId: string, discovery?: Discovery): Promise<ToolVerdict[]> {
    const { actor, passport } = await this.#caller();
    const grants = { capabilities: (await this.w.store.getAgent(this.tenant, passport.claims.sub))?.capabilities ?? [], scope: passport.claims.scope };
    return this.w.pins.review(this.tenant, server, tools, { actor, correlationId, grants, ...(discovery ? { discovery } : {}) });
  }

  event(severity: 'info' | 'low' | 'medium' | 'high', category: string, details: Record<string, unknown>, correlationId?: string): void {
    this.w.events.emit({ tenant: this.tenant, severity, category, actor: { human: null, agent: this.agent, service: this.#service }, correlation_id: correlationId ?? null, details });
  }

  async close(): Promise<void> {
    if (this.options.ownsWarden) await this.w.close();
  }
}

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** A Warden server over HTTP, as the agent whose passport is the bearer token. */
export class RemoteBackend implements McpBackend {
  readonly tenant: string;
  readonly agent: string;

  constructor(
    private readonly baseUrl: string,
    private readonly passport: string,
    identity: { tenant: string; agent: string },
    private readonly timeoutMs = 65_000,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new BadInputError(`not a URL: ${baseUrl}`);
    }
    // The passport is a bearer credential: it travels over TLS, or not beyond this machine.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname))) {
      throw new BadInputError(`the Warden URL must be https (plain http only on loopback): ${url.protocol}//${url.hostname}`);
    }
    this.tenant = identity.tenant;
    this.agent = identity.agent;
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.passport}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw new WardenError('INTERNAL', `Warden at ${this.baseUrl} is unreachable (${(err as Error).message})`);
    }
    const text = await readCapped(res, MAX_RESPONSE_BYTES);
    let json: unknown;
    try {
      json = JSON.parse(text ?? '');
    } catch {
      throw new WardenError('INTERNAL', `Warden answered ${res.status} with a body that is not JSON (or larger than ${MAX_RESPONSE_BYTES} bytes)`);
    }
    if (res.status === 401 || res.status === 403) throw new AuthError(`Warden refused the passport: ${(json as { message?: string }).message ?? res.status}`, { forbidden: res.status === 403 });
    if (!res.ok) throw new WardenError(res.status === 400 ? 'BAD_INPUT' : res.status === 404 ? 'NOT_FOUND' : 'INTERNAL', (json as { message?: string }).message ?? `HTTP ${res.status}`);
    return json as T;
  }

  decide(req: DecisionRequest): Promise<DecisionResult> {
    return this.#call('POST', '/v1/decisions', req);
  }

  outcome(decisionId: string, report: OutcomeReport): Promise<OutcomeResult> {
    return this.#call('POST', `/v1/decisions/${encodeURIComponent(decisionId)}/outcome`, report);
  }

  async approval(approvalId: string, waitS: number): Promise<ApprovalState> {
    const a = await this.#call<{ state: ApprovalState }>('GET', `/v1/approvals/${encodeURIComponent(approvalId)}?wait=${Math.max(0, Math.min(30, Math.floor(waitS)))}`);
    return a.state;
  }

  async permitted(action: string, resources: string[], correlationId: string): Promise<boolean[]> {
    return (await this.#call<{ permitted: boolean[] }>('POST', '/v1/decisions/permitted', { action, resources, correlation_id: correlationId })).permitted;
  }

  async reviewTools(server: string, tools: ToolDefinition[], correlationId: string, discovery?: Discovery): Promise<ToolVerdict[]> {
    // Only the domain: the server fetches the key itself.
    return (await this.#call<{ tools: ToolVerdict[] }>('POST', '/v1/mcp/tools/review', { server, tools, correlation_id: correlationId, ...(discovery ? { discovery: { domain: discovery.domain } } : {}) })).tools;
  }

  event(): void {
    // The server records what it sees; a remote proxy's own troubles go to its stderr.
  }

  async close(): Promise<void> {
    // nothing held open
  }
}
