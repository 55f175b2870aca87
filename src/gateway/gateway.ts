/**
 * The decision pipeline (ARCHITECTURE.md): for an authenticated agent's request — tenant
 * isolation, agent state, risk score, Cedar policy, approval — then ONE receipt that records
 * the decision whatever it is, committed together with the decision record (and the pending
 * approval, if any). Fail closed: any error in policy or storage is a deny; an allow that could
 * not be receipted is never returned.
 */
import { createHash } from 'node:crypto';
import { randomId96 } from '../crypto/random-id.js';
import type { Approval, Approvals } from '../approvals/approvals.js';
import { BadInputError, WardenError } from '../errors.js';
import type { AuthAudit } from '../identity/audit.js';
import type { VerifiedPassport } from '../identity/passports.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Json } from '../crypto/jcs.js';
import { grantedFor, type DecisionKind, type PolicyDecision, type PolicyRequest } from '../policy/engine.js';
import type { AgentRecord, Mutation, Store } from '../store/types.js';
import type { Controls } from '../events/controls.js';
import type { Firewall, FirewallVerdict, ResultVerdict, UntrustedInput } from '../firewall/firewall.js';
import type { RateLimiter } from '../firewall/rate-limit.js';
import type { TaintTracker } from '../firewall/taint.js';
import { assessRisk, type RiskWeights } from './risk.js';

export const DECISION_KIND = 'decision';
/** Memoised policy evaluations kept (least recently used dropped first). */
const MEMO_SIZE = 10_000;
const DECISION_ID = /^dec_[A-Za-z0-9_-]{16}$/;
export const MAX_DESTINATIONS = 32;
/** A key of the receipt payload that belongs to Warden; an agent's payload may not use it. */
export const WARDEN_PAYLOAD_KEY = '_warden';
const COMPUTED_CONTEXT = ['risk', 'risk_level', 'delegated', 'granted', 'human', 'service', 'tainted', 'firewall', 'tool_signature'] as const;

export interface ActorChain {
  human: string | null;
  agent: string | null;
  service: string | null;
}

export interface DecisionRequest {
  action: string;
  resource: string;
  /** The tenant owning the resource, when the agent names one (default: its own). */
  tenant?: string;
  context?: Record<string, unknown>;
  /** What the action carries (arguments…): receipted; sensitive fields encrypted. */
  payload?: Record<string, Json>;
  /** Extra payload paths to encrypt, beyond `ledger.sensitive_fields`. */
  sensitive?: string[];
  correlation_id?: string;
  /** Content the agent took in from outside (tool outputs, fetched pages, e-mails): scanned for prompt injection. */
  untrusted?: UntrustedInput[];
  /** Hosts the action reaches besides `context.domain` (at most 32): egress is allowed only if every one is. */
  destinations?: string[];
}

export interface DecisionResult {
  id: string;
  decision: DecisionKind;
  reasons: string[];
  obligations: string[];
  policy_version: string | null;
  risk: { score: number; level: string };
  approval?: { id: string; state: string; role: string; expires_at: string };
  receipt: { tenant: string; seq: number; id: string } | null;
  /** The session has taken in flagged untrusted content. */
  tainted?: boolean;
  /** What the firewall found; `payload` is the redacted/tokenized payload the agent must send instead of its own. */
  firewall?: { findings: { detector: string; type: string; severity: string; path?: string; message: string }[]; payload?: Record<string, Json> };
}

/** What is stored per decision: enough to replay it against another policy (what-if). */
export interface DecisionRecordBody {
  id: string;
  agent: string;
  correlation_id: string;
  request: PolicyRequest;
  decision: DecisionKind;
  policies: string[];
  policy_version: string | null;
  receipt: { seq: number; id: string };
  approval_id: string | null;
  outcome: { status: string; at: string } | null;
}

/** What the agent reports after acting; `result` carries what the tool returned, to be scanned before the agent uses it. */
export interface OutcomeReport {
  status: 'succeeded' | 'failed' | 'aborted';
  details?: Record<string, Json>;
  result?: { texts: string[] };
}

export interface OutcomeResult {
  receipt: { tenant: string; seq: number; id: string };
  /** The firewall's view of the result: use `texts` (redacted) instead of the original; never use a withheld result. */
  result?: {
    tainted: boolean;
    injection_score: number;
    findings: { detector: string; type: string; severity: string; path?: string; message: string }[];
    texts?: string[];
    withheld?: string;
  };
}

export interface PolicySource {
  active(tenant: string): Promise<{ version: string; policy: { evaluate(req: PolicyRequest): PolicyDecision } } | undefined>;
}

export interface GatewayOptions {
  riskWeights?: RiskWeights;
  /** Token buckets per agent and per tenant (stage 4). */
  limits?: { agent: RateLimiter; tenant: RateLimiter };
  /** MCP tool pins (src/mcp/pins.ts): blocked tools are denied. */
  pins?: { get(tenant: string, server: string, tool: string): Promise<{ state: string; body: { signature: string; pending?: { reason: string } } } | undefined> };
}

export function assertDecisionId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !DECISION_ID.test(id)) throw new BadInputError('invalid decision id (expected dec_ and 16 characters)');
}

interface Caller {
  passport: VerifiedPassport;
  actor: ActorChain;
}

export class Gateway {
  /** Decisions answered deny because they could not be receipted (store down). */
  unrecorded = 0;
  readonly #memo = new Map<string, PolicyDecision>();

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly policies: PolicySource,
    private readonly approvals: Approvals,
    private readonly audit: AuthAudit,
    private readonly controls: Controls,
    private readonly firewall: Firewall,
    private readonly taint: TaintTracker,
    private readonly options: GatewayOptions = {},
  ) {}

  /**
   * Evaluation is a pure function of (policy version, request): Cedar has no clock or I/O, and
   * the request carries every input (principal attributes, resource, context with risk). So a
   * bounded memo keyed by both is safe; results with evaluation errors are never kept.
   */
  #evaluate(version: string, policy: { evaluate(req: PolicyRequest): PolicyDecision }, request: PolicyRequest): PolicyDecision {
    // Keyed by a digest: agents choose the request's size, the memo's memory stays bounded.
    const key = createHash('sha256').update(version).update('\n').update(JSON.stringify(request)).digest('base64url');
    const hit = this.#memo.get(key);
    if (hit) {
      this.#memo.delete(key);
      this.#memo.set(key, hit);
      return hit;
    }
    const d = policy.evaluate(request);
    if (d.errors.length === 0) {
      this.#memo.set(key, d);
      if (this.#memo.size > MEMO_SIZE) this.#memo.delete(this.#memo.keys().next().value as string);
    }
    return d;
  }

  /** The policy's view of an action: the principal from the registry, the context with Warden's computed fields. */
  #policyRequest(caller: Caller, agent: AgentRecord | undefined, action: string, resource: string, context: Record<string, unknown>): { risk: { score: number; level: string }; request: PolicyRequest } {
    const claims = caller.passport.claims;
    const tenant = caller.passport.tenant;
    const risk = assessRisk(
      {
        action,
        trustLevel: agent?.trust_level ?? 0,
        ...(typeof context.data_class === 'string' ? { dataClass: context.data_class } : {}),
        external: typeof context.domain === 'string',
      },
      this.options.riskWeights,
    );
    const request: PolicyRequest = {
      principal: {
        // The registry's current roles and capabilities, not the passport's copy: taking a
        // capability away takes effect on the next decision. The passport's scope only narrows.
        kind: 'agent', id: claims.sub, tenant, type: agent?.type ?? 'agent', tier: agent?.tier ?? claims.tier, trust_level: agent?.trust_level ?? 0,
        roles: agent?.roles ?? [], capabilities: agent?.capabilities ?? [], scope: claims.scope,
      },
      action,
      resource,
      tenant,
      context: {
        ...context,
        risk: risk.score,
        risk_level: risk.level,
        delegated: claims.act !== undefined,
        ...(caller.actor.human ? { human: caller.actor.human } : {}),
        ...(caller.actor.service ? { service: caller.actor.service } : {}),
      },
    };
    return { risk, request };
  }

  /** The pin of an MCP tool (`mcp.request` on `mcp:SERVER/TOOL`): why it is blocked, and its SchemaPin status. Unreadable pins block. */
  async #pinOf(tenant: string, action: string, resource: string): Promise<{ blocked?: string; signature?: string }> {
    const pins = this.options.pins;
    if (!pins || action !== 'mcp.request' || !resource.startsWith('mcp:')) return {};
    const ref = resource.slice(4);
    const slash = ref.indexOf('/');
    try {
      const pin = slash > 0 ? await pins.get(tenant, ref.slice(0, slash), ref.slice(slash + 1)) : undefined;
      if (!pin) return {};
      return {
        signature: pin.body.signature,
        ...(pin.state !== 'pinned' ? { blocked: `MCP tool ${ref} is blocked: ${pin.body.pending?.reason ?? pin.state} (warden mcp pins approve ${ref})` } : {}),
      };
    } catch (err) {
      return { blocked: `MCP tool pins unavailable (${err instanceof WardenError ? err.message : 'internal error'}): denied` };
    }
  }

  /**
   * Which of `resources` policy could let this agent reach with `action` (allow, with conditions
   * or after approval) — for least-privilege listings such as MCP `tools/list`. Nothing is
   * receipted: it decides nothing; each use is still decided (and receipted) on its own. The
   * context is the session's (taint) with neutral firewall signals; any error counts as "no".
   */
  async permitted(caller: Caller, action: string, resources: readonly string[], correlationId: string): Promise<boolean[]> {
    const tenant = caller.passport.tenant;
    const claims = caller.passport.claims;
    let active: Awaited<ReturnType<PolicySource['active']>>;
    let agent: AgentRecord | undefined;
    let tainted: boolean;
    try {
      active = await this.policies.active(tenant);
      agent = await this.store.getAgent(tenant, claims.sub);
      tainted = await this.taint.isTainted(tenant, correlationId, claims.sub);
    } catch {
      return resources.map(() => false);
    }
    if (!active || !agent || agent.state !== 'active') return resources.map(() => false);
    // An MCP tool's pin: a blocked tool is never permitted; its signature status is part of the context.
    const pinned = await Promise.all(resources.map((resource) => this.#pinOf(tenant, action, resource)));
    return resources.map((resource, i) => {
      const pin = pinned[i] as { blocked?: string; signature?: string };
      if (pin.blocked) return false;
      try {
        const { request } = this.#policyRequest(caller, agent, action, resource, pin.signature ? { tool_signature: pin.signature } : {});
        request.context = { ...request.context, tainted };
        return this.#evaluate(active.version, active.policy, request).decision !== 'deny';
      } catch {
        return false;
      }
    });
  }

  async decide(caller: Caller, original: DecisionRequest, correlationId: string): Promise<DecisionResult> {
    const tenant = caller.passport.tenant;
    const claims = caller.passport.claims;
    const id = `dec_${randomId96()}`;
    let corr = original.correlation_id ?? correlationId;
    if (original.payload && Object.hasOwn(original.payload, WARDEN_PAYLOAD_KEY)) throw new BadInputError(`payload.${WARDEN_PAYLOAD_KEY} is reserved for Warden`);
    if (original.destinations && (original.destinations.length > MAX_DESTINATIONS || original.destinations.some((d) => typeof d !== 'string' || d.length > 253))) {
      throw new BadInputError(`destinations: at most ${MAX_DESTINATIONS} host names`);
    }

    // 4 (run first). Limits: token buckets per agent and per tenant, before any scanning work.
    // A refusal here keeps no payload: it has not been scanned.
    const limits = this.options.limits;
    if (limits) {
      const wait = Math.max(limits.agent.take(`${tenant}\n${claims.sub}`), limits.tenant.take(tenant));
      if (wait > 0) {
        // Nothing of the request was scanned: the receipt keeps no payload, and the request id as correlation.
        const { untrusted: _u, correlation_id: _c, ...bare } = original;
        return this.#record(caller, { ...bare, payload: {}, sensitive: [] }, id, correlationId, undefined, {
          decision: 'deny', policies: [], reasons: [`rate limit exceeded: retry in ${Math.ceil(wait)} s`], obligations: [], errors: [],
        }, { score: 0, level: 'low' }, undefined, { extra: { limit: 'rate', payload_withheld: true } });
      }
    }

    // 5 (run next). The firewall scans before anything is receipted, so that no receipt — not
    // even a refusal's — keeps a secret DLP redacts. If it fails, the payload is withheld from
    // the receipt and the decision is a deny (below).
    let fw: FirewallVerdict | undefined;
    let fwError: string | undefined;
    try {
      const domain = original.context?.domain;
      fw = await this.firewall.inspect({
        tenant, action: original.action, resource: original.resource, payload: original.payload, untrusted: original.untrusted,
        context: original.context, correlationId: original.correlation_id, domain: typeof domain === 'string' ? domain : undefined,
        destinations: original.destinations,
      });
    } catch (err) {
      if (err instanceof BadInputError) throw err;
      fwError = err instanceof WardenError ? err.message : 'internal error';
    }
    const { untrusted: _scanned, ...scanned } = original;
    const rest: DecisionRequest = {
      ...scanned,
      ...(fw?.receiptResource !== undefined ? { resource: fw.receiptResource } : {}),
      ...(fw?.dropCorrelationId ? { correlation_id: correlationId } : {}),
    };
    // What receipts keep: the payload with every DLP finding redacted, or nothing when it cannot be kept safely.
    const withheld = fwError !== undefined || (fw?.receiptPayload !== undefined && Object.hasOwn(fw.receiptPayload, 'withheld'));
    const req: DecisionRequest = withheld
      ? { ...rest, payload: fw?.receiptPayload ?? {}, sensitive: [] }
      : fw?.receiptPayload ? { ...rest, payload: fw.receiptPayload } : rest;
    if (fw?.dropCorrelationId) corr = correlationId;
    const more = { firewall: fw };

    // 2. Tenant isolation: the actor's tenant must own the resource.
    if (req.tenant !== undefined && req.tenant !== tenant) {
      await this.audit.deny({
        tenant, actor: caller.actor, action: req.action, resource: req.resource, reason: 'cross_tenant',
        payload: { requested_tenant: req.tenant, decision_id: id }, correlationId: corr, category: 'cross_tenant', severity: 'high',
      });
      return this.#record(caller, req, id, corr, undefined, {
        decision: 'deny', policies: [], reasons: [`resource belongs to tenant "${req.tenant}": cross-tenant access denied`], obligations: [], errors: [],
      }, { score: 100, level: 'critical' }, undefined, more);
    }

    // 2b. MCP tool pins: a tool whose definition changed since it was pinned (or was flagged as
    // poisoned) is denied whoever asks; the pinned tool's SchemaPin status goes to policy.
    const pin = await this.#pinOf(tenant, req.action, req.resource);
    const toolSignature = pin.signature;
    if (pin.blocked) {
      return this.#record(caller, req, id, corr, undefined, { decision: 'deny', policies: [], reasons: [pin.blocked], obligations: [], errors: [] }, { score: 0, level: 'low' }, undefined, { ...more, extra: { tool_pin: 'blocked' } });
    }

    // 3. Agent state is enforced by passport verification; the registry adds trust level and type.
    const agent = await this.store.getAgent(tenant, claims.sub);
    const context = { ...(req.context ?? {}) };
    // These describe who acts and how risky it is: Warden sets them, an agent may not (a
    // receipted refusal, like every other bad request).
    const forged = COMPUTED_CONTEXT.find((k) => Object.hasOwn(context, k));
    if (forged !== undefined) {
      const err = new BadInputError(`context.${forged} is set by Warden, not by the caller`);
      await this.#record(caller, req, id, corr, undefined, {
        decision: 'deny', policies: [], reasons: [`invalid request: ${err.message}`], obligations: [], errors: [],
      }, { score: 100, level: 'critical' }, undefined, more);
      throw err;
    }
    const { risk, request } = this.#policyRequest(caller, agent, req.action, req.resource, toolSignature ? { ...context, tool_signature: toolSignature } : context);

    // 3b. Incident response: open circuit breakers deny; a restricted agent needs approval for everything.
    let control: Awaited<ReturnType<Controls['check']>>;
    try {
      control = await this.controls.check(tenant, claims.sub, req.resource, id);
    } catch (err) {
      const why = err instanceof WardenError ? err.message : 'internal error';
      control = { deny: `incident-response controls unavailable (${why}): denied` };
    }
    if (control.deny) {
      return this.#record(caller, req, id, corr, undefined, { decision: 'deny', policies: [], reasons: [control.deny], obligations: [], errors: [] }, risk, request, { ...more, extra: { control: 'breaker' } });
    }

    // 5. Firewall signals into the policy context; its own blocks deny whatever policy says.
    if (fwError !== undefined || !fw) {
      return this.#record(caller, req, id, corr, undefined, {
        decision: 'deny', policies: [], reasons: [`firewall unavailable (${fwError ?? 'no verdict'}): denied; the payload is withheld from this receipt`], obligations: [], errors: [],
      }, risk, request, more);
    }
    let tainted = fw.taints;
    if (!tainted) {
      try {
        tainted = await this.taint.isTainted(tenant, corr, claims.sub);
      } catch {
        tainted = true; // unknown counts as tainted: the stricter policy applies
      }
    }
    request.context = { ...request.context, tainted, firewall: fw.signals as unknown as Json };
    if (fw.block) {
      return this.#record(caller, req, id, corr, undefined, {
        decision: 'deny', policies: [], reasons: [`firewall: ${fw.block}`], obligations: [], errors: [],
      }, risk, request, { ...more, tainted, extra: { firewall_block: true } });
    }

    // 7. Policy. Bad input from the agent is its error (400, still receipted); anything else fails closed.
    let outcome: PolicyDecision;
    let version: string | undefined;
    try {
      const active = await this.policies.active(tenant);
      if (!active) {
        outcome = { decision: 'deny', policies: [], reasons: ['no policy deployed for this tenant'], obligations: [], errors: [] };
      } else {
        version = active.version;
        outcome = this.#evaluate(active.version, active.policy, request);
      }
    } catch (err) {
      if (err instanceof BadInputError) {
        await this.#record(caller, req, id, corr, version, {
          decision: 'deny', policies: [], reasons: [`invalid request: ${err.message}`], obligations: [], errors: [],
        }, risk, request);
        throw err;
      }
      const why = err instanceof WardenError ? err.message : 'internal error';
      outcome = { decision: 'deny', policies: [], reasons: [`policy evaluation failed: ${why}`], obligations: [], errors: [why] };
    }
    if (control.requireApproval && (outcome.decision === 'allow' || outcome.decision === 'allow_with_conditions')) {
      outcome = { ...outcome, decision: 'require_approval', reasons: [...outcome.reasons, control.requireApproval] };
    }
    return this.#record(caller, req, id, corr, version, outcome, risk, request, { ...more, tainted });
  }

  /** 8–9: the approval (if needed), the receipt and the decision record, in one commit. */
  async #record(
    caller: Caller, req: DecisionRequest, id: string, corr: string, version: string | undefined,
    outcome: PolicyDecision, risk: { score: number; level: string }, request?: PolicyRequest,
    more: {
      /** Extra facts for the receipt's Warden payload, e.g. that a control (not policy) decided. */
      extra?: Record<string, Json>;
      firewall?: FirewallVerdict | undefined;
      tainted?: boolean;
    } = {},
  ): Promise<DecisionResult> {
    const tenant = caller.passport.tenant;
    const mutations: Mutation[] = [];
    const fw = more.firewall;
    if (fw?.taints) mutations.push(...this.taint.mark(tenant, corr, caller.passport.claims.sub, `flagged untrusted input (decision ${id})`));
    // The context as receipts and approvers see it: the policy's view, with what DLP found in the caller's strings redacted.
    const storedContext = { ...(request?.context ?? req.context ?? {}), ...(fw?.receiptContext ?? {}) };
    const fwFindings = (fw?.findings ?? []).map((f) => ({
      detector: f.detector, type: f.type, severity: f.severity, ...(f.path ? { path: f.path } : {}), ...(f.excerpt ? { excerpt: f.excerpt } : {}), message: f.message,
    }));
    let approval: Approval | undefined;
    if (outcome.decision === 'require_approval') {
      const p = this.approvals.prepare({
        tenant, decision_id: id, role: outcome.approvalRole ?? 'approver', agent: caller.passport.claims.sub,
        human: caller.actor.human, service: caller.actor.service, action: req.action, resource: req.resource, correlation_id: corr,
        // What the approver decides on: the context the policy saw (amount, domain, …), never the payload.
        context: storedContext as Record<string, unknown>, reasons: outcome.reasons,
      });
      approval = p.approval;
      mutations.push(p.mutation);
    }
    const principal = request?.principal as { capabilities?: string[]; scope?: string[] } | undefined;
    const isGranted = principal?.capabilities && principal.scope ? grantedFor({ capabilities: principal.capabilities, scope: principal.scope }, req.resource) : undefined;
    const warden = {
      decision_id: id,
      // Detection reads it: a denied action outside the agent's grants is an escalation attempt.
      ...(isGranted !== undefined ? { granted: isGranted } : {}),
      policies: outcome.policies,
      obligations: outcome.obligations,
      risk: { score: risk.score, level: risk.level },
      context: storedContext as Json,
      ...(approval ? { approval_id: approval.id, approval_role: approval.role, approval_expires_at: approval.expires_at } : {}),
      ...(outcome.errors.length ? { errors: outcome.errors } : {}),
      ...(more.tainted ? { tainted: true } : {}),
      ...(fwFindings.length ? { firewall: { signals: fw?.signals as unknown as Json, findings: fwFindings, ...(fw?.payload ? { payload_redacted: true } : {}) } } : {}),
      ...(more.extra ?? {}),
    };
    try {
      const body = (seq: number, rid: string): DecisionRecordBody => ({
        id, agent: caller.passport.claims.sub, correlation_id: corr, request: request ?? ({ action: req.action, resource: req.resource } as PolicyRequest),
        decision: outcome.decision, policies: outcome.policies, policy_version: version ?? null, receipt: { seq, id: rid },
        approval_id: approval?.id ?? null, outcome: null,
      });
      const [receipt] = await this.ledger.append(
        tenant,
        [{
          kind: DECISION_KIND,
          action: req.action,
          resource: req.resource,
          decision: outcome.decision,
          reasons: outcome.reasons,
          actor: caller.actor,
          correlation_id: corr,
          ...(version ? { policy_version: version } : {}),
          payload: { ...(req.payload ?? {}), [WARDEN_PAYLOAD_KEY]: warden as Json },
          ...(req.sensitive?.length ? { sensitive: req.sensitive } : {}),
        }],
        {
          system: true,
          // The decision record names its own receipt, so it is built once seq and id are known.
          records: ([r]) => r ? [...mutations, { op: 'putRecord', record: { tenant, kind: DECISION_KIND, id, state: outcome.decision, created_at: r.ts, updated_at: r.ts, body: JSON.stringify(body(r.seq, r.id)) } }] : [],
        },
      );
      if (approval) this.approvals.requested(approval);
      const r = receipt as { seq: number; id: string };
      if (fwFindings.length) this.#firewallEvents(tenant, caller.actor, corr, r.seq, id, outcome.decision, fwFindings);
      return {
        id, decision: outcome.decision, reasons: outcome.reasons, obligations: outcome.obligations, policy_version: version ?? null,
        risk: { score: risk.score, level: risk.level },
        ...(approval ? { approval: { id: approval.id, state: approval.state, role: approval.role, expires_at: approval.expires_at } } : {}),
        receipt: { tenant, seq: r.seq, id: r.id },
        ...(more.tainted ? { tainted: true } : {}),
        ...(fwFindings.length ? { firewall: { findings: fwFindings.map(({ excerpt: _e, ...f }) => f), ...(fw?.payload ? { payload: fw.payload } : {}) } } : {}),
      };
    } catch (err) {
      // A canary trip is reported even when the request is refused before it could be receipted.
      if (fwFindings.some((f) => f.detector === 'honeytoken')) this.#firewallEvents(tenant, caller.actor, corr, null, id, 'deny', fwFindings);
      if (err instanceof BadInputError) throw err; // e.g. a sensitive path that is not in the payload
      // Not receipted, so never an allow.
      this.unrecorded++;
      return {
        id, decision: 'deny', reasons: ['decision could not be recorded (store unavailable): denied'], obligations: [], policy_version: version ?? null,
        risk: { score: risk.score, level: risk.level }, receipt: null,
      };
    }
  }

  /** Firewall findings as events: one per decision (details sealed), and a critical one for a honeytoken. */
  #firewallEvents(tenant: string, actor: ActorChain, corr: string, seq: number | null, decisionId: string, decision: string, findings: { detector: string; type: string; severity: string }[]): void {
    const rank = { info: 0, low: 1, medium: 2, high: 3, critical: 4 } as const;
    const top = findings.reduce((a, f) => (rank[f.severity as keyof typeof rank] > rank[a] ? (f.severity as keyof typeof rank) : a), 'info' as keyof typeof rank);
    const base = { tenant, actor, correlation_id: corr, receipt: seq === null ? null : { tenant, seq } };
    const types = [...new Set(findings.map((f) => `${f.detector}:${f.type}`))];
    this.audit.events.emit({ ...base, severity: top, category: 'firewall_finding', details: { decision_id: decisionId, decision, types, findings }, sensitive: ['findings'] });
    if (findings.some((f) => f.detector === 'honeytoken')) {
      this.audit.events.emit({ ...base, severity: 'critical', category: 'honeytoken', details: { decision_id: decisionId, decision, note: 'a planted canary credential was used: treat the agent and its inputs as compromised' } });
    }
  }

  /** The agent reports what happened after an allowed (or approved) decision; receipted once. */
  async outcome(caller: Caller, decisionId: string, report: OutcomeReport, correlationId: string): Promise<OutcomeResult> {
    assertDecisionId(decisionId);
    const tenant = caller.passport.tenant;
    const rec = await this.store.getRecord(tenant, DECISION_KIND, decisionId);
    if (!rec) throw new WardenError('NOT_FOUND', `no decision ${decisionId}`);
    const body = JSON.parse(rec.body) as DecisionRecordBody;
    // Another agent's decision is "not found": its existence is not revealed.
    if (body.agent !== caller.passport.claims.sub) throw new WardenError('NOT_FOUND', `no decision ${decisionId}`);
    if (body.outcome || rec.state === 'reported') throw new WardenError('CONFLICT', `the outcome of ${decisionId} was already reported`);
    let allowed = body.decision === 'allow' || body.decision === 'allow_with_conditions';
    if (body.decision === 'require_approval' && body.approval_id) allowed = (await this.approvals.get(tenant, body.approval_id)).state === 'approved';
    const now = new Date().toISOString();
    const next: DecisionRecordBody = { ...body, outcome: { status: report.status, at: now } };
    // What the agent reports is scanned like a payload: no secret or personal data lands in the receipt.
    let details: Record<string, Json> | undefined;
    try {
      details = report.details ? await this.firewall.redactForReceipt(tenant, report.details) : undefined;
    } catch {
      details = report.details ? { withheld: 'the details could not be scanned' } : undefined;
    }
    // The tool's result, before the agent sees it: injection taints the session, DLP redacts or withholds.
    let verdict: ResultVerdict | undefined;
    const mutations: Mutation[] = [];
    if (report.result) {
      try {
        verdict = await this.firewall.inspectResult(tenant, report.result.texts);
      } catch (err) {
        const why = err instanceof WardenError ? err.message : 'internal error';
        verdict = { injection: false, injection_score: 0, findings: [], withheld: `the result could not be scanned (${why}): withheld` };
      }
      if (verdict.injection) mutations.push(...this.taint.mark(tenant, body.correlation_id, body.agent, `flagged tool result (decision ${decisionId})`));
    }
    const resultFindings = (verdict?.findings ?? []).map((f) => ({ detector: f.detector, type: f.type, severity: f.severity, ...(f.path ? { path: f.path } : {}), message: f.message }));
    const resultSummary = verdict
      ? {
          texts: report.result?.texts.length ?? 0, injection: verdict.injection, injection_score: verdict.injection_score,
          findings: resultFindings.map((f) => `${f.detector}:${f.type}`), ...(verdict.texts ? { redacted: true } : {}), ...(verdict.withheld ? { withheld: verdict.withheld } : {}),
        }
      : undefined;
    const [receipt] = await this.ledger.append(
      tenant,
      [{
        kind: 'outcome',
        action: body.request.action,
        resource: body.request.resource,
        decision: null,
        reasons: allowed ? [] : ['reported for an action that was not allowed'],
        actor: caller.actor,
        // The decision's correlation id ties decision, approval and outcome together.
        correlation_id: body.correlation_id ?? correlationId,
        payload: {
          decision_id: decisionId, decision_seq: body.receipt.seq, status: report.status, allowed, ...(details ? { details } : {}),
          ...(resultSummary ? { result: resultSummary } : {}),
        },
      }],
      // Once only, checked in the store transaction (concurrent reports: one wins, the rest get 409).
      { system: true, mutations: [{ op: 'putRecord', record: { ...rec, state: 'reported', updated_at: now, body: JSON.stringify(next) }, expectState: rec.state }, ...mutations] },
    );
    const r = receipt as { seq: number; id: string };
    if (resultFindings.length) this.#firewallEvents(tenant, caller.actor, body.correlation_id, r.seq, decisionId, verdict?.withheld ? 'withheld' : 'result', resultFindings);
    // A half-open breaker's probe: its outcome closes or re-opens the breaker.
    await this.controls.probeOutcome(tenant, body.agent, body.request.resource, decisionId, allowed && report.status === 'succeeded').catch(() => undefined);
    return {
      receipt: { tenant, seq: r.seq, id: r.id },
      ...(verdict
        ? { result: { tainted: verdict.injection, injection_score: verdict.injection_score, findings: resultFindings, ...(verdict.texts ? { texts: verdict.texts } : {}), ...(verdict.withheld ? { withheld: verdict.withheld } : {}) } }
        : {}),
    };
  }
}
