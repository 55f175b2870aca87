/**
 * The firewall stage of the decision pipeline (ARCHITECTURE.md, stage 5). It turns a request's
 * raw inputs into signals for policy (`context.firewall`, `context.tainted`), findings for the
 * receipt and the event stream, and — where configured — a block of its own:
 *
 * - untrusted inputs (tool outputs, fetched pages, prompts the agent took in) → injection scan;
 *   a flagged input taints the session (correlation id) for `firewall.taint_ttl`;
 * - the payload (what leaves the boundary) → DLP: honeytokens always block; secrets and PII get
 *   the configured action (block, redact, tokenize, flag); the receipt keeps the redacted form;
 * - the destination (an `http:` resource, `context.domain`) → the tenant's egress allowlist;
 *   IP literals in private, loopback, link-local or metadata ranges are never "allowed" by default;
 * - tool arguments → the tool's JSON Schema and argument checks, when one is configured.
 *
 * Findings never carry a secret: excerpts are masked by the detectors.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FirewallConfig } from '../config/schema.js';
import type { PayloadProtector } from '../crypto/envelope.js';
import type { Json } from '../crypto/jcs.js';
import { ConfigError } from '../errors.js';
import { readSecretFile } from '../events/sinks/sinks.js';
import { createDlpScanner, type DlpScanner } from './dlp/scanner.js';
import { HoneytokenSet } from './dlp/honeytokens.js';
import { createTokenizer } from './dlp/tokenize.js';
import type { DlpActionPolicy } from './dlp/apply.js';
import { compileEgressRules, type EgressChecker } from './egress/egress.js';
import { classifyIp, parseIp } from './egress/ip.js';
import type { Finding } from './findings.js';
import { createInjectionDetector, type InjectionDetector } from './injection/index.js';
import { createInputValidator, type InputValidator } from './validation/validator.js';

/** Untrusted inputs per request, and characters per input, at most (the HTTP body limit bounds the total). */
export const MAX_UNTRUSTED_INPUTS = 16;

export interface UntrustedInput {
  /** Where the text came from (`tool:web.fetch`, `email`, `user`): for the findings, not trusted. */
  source?: string;
  text: string;
}

export interface FirewallRequest {
  tenant: string;
  action: string;
  resource: string;
  payload?: Record<string, Json> | undefined;
  /** The caller's context: its strings are scanned too, so no receipt or approval request keeps a secret from it. */
  context?: Record<string, unknown> | undefined;
  /** The caller's correlation id: scanned like the resource (both are signed into receipts as they are). */
  correlationId?: string | undefined;
  untrusted?: readonly UntrustedInput[] | undefined;
  domain?: string | undefined;
  /** Further hosts the action reaches (e.g. every URL in an MCP tool's arguments): all must be allowed. */
  destinations?: readonly string[] | undefined;
}

/** `context.firewall` as policy sees it. */
export interface FirewallSignals {
  injection: boolean;
  injection_score: number;
  dlp: string[];
  dlp_block: boolean;
  honeytoken: boolean;
  egress_allowed: boolean;
  schema_valid: boolean;
  findings: number;
}

export interface FirewallVerdict {
  signals: FirewallSignals;
  findings: Finding[];
  /** This request brought flagged untrusted content: its session becomes tainted. */
  taints: boolean;
  /** Why the firewall denies on its own, whatever policy says. */
  block?: string;
  /** The payload after redaction/tokenization, when DLP changed it: what the agent must send instead of its own. */
  payload?: Record<string, Json>;
  /** What receipts keep: every DLP finding redacted (whatever its action), or the payload withheld. */
  receiptPayload?: Record<string, Json>;
  /** The caller's context with DLP findings redacted, for receipts and approval requests. */
  receiptContext?: Record<string, unknown>;
  /** The resource with DLP findings redacted, when it carried any (the request is then denied). */
  receiptResource?: string;
  /** The correlation id carried sensitive data: receipts use the request id instead. */
  dropCorrelationId?: boolean;
}

/** What the firewall makes of a tool's result (MCP `tools/call`, `resources/read`, `prompts/get`). */
export interface ResultVerdict {
  /** The injection detector flagged the result: the session becomes tainted. */
  injection: boolean;
  injection_score: number;
  findings: Finding[];
  /** Why the result must not reach the agent (a honeytoken, a DLP block). */
  withheld?: string;
  /** The texts with DLP redactions or tokens in place, when DLP changed them. */
  texts?: string[];
}

const NO_SIGNALS: FirewallSignals = { injection: false, injection_score: 0, dlp: [], dlp_block: false, honeytoken: false, egress_allowed: true, schema_valid: true, findings: 0 };
const MAX_FINDINGS_KEPT = 50;
const REDACT_ALL: DlpActionPolicy = { byCategory: { secret: 'redact', pii: 'redact', honeytoken: 'redact' }, default: 'redact' };

export class Firewall {
  readonly #injection: InjectionDetector;
  readonly #egress = new Map<string, EgressChecker | null>();
  readonly #validator: InputValidator;
  readonly #perTenant = new Map<string, { dlp: DlpScanner; policy: DlpActionPolicy }>();

  constructor(
    private readonly config: FirewallConfig,
    private readonly protector: PayloadProtector,
    dataDir: string,
  ) {
    const c = config.injection.classifier;
    this.#injection = createInjectionDetector({
      threshold: config.injection.threshold,
      ...(c
        ? {
            classifier: {
              url: c.url, timeoutMs: c.timeout, combine: c.combine, weight: c.weight,
              ...(c.header_file ? { headers: { [c.header_name]: readSecretFile(dataDir, c.header_file, 'firewall.injection.classifier header_file') } } : {}),
            },
          }
        : {}),
    });
    const tools: Record<string, { schema?: object; checks: Record<string, ('sql' | 'xss' | 'path' | 'shell')[]>; allowedRoots?: string[] }> = {};
    for (const [tool, spec] of Object.entries(config.tools)) {
      let schema: object | undefined;
      if (spec.schema_file) {
        try {
          schema = JSON.parse(readFileSync(resolve(dataDir, spec.schema_file), 'utf8')) as object;
        } catch (err) {
          throw new ConfigError(`firewall.tools.${tool}.schema_file: cannot read ${spec.schema_file} as JSON (${(err as Error).message})`);
        }
      }
      tools[tool] = { ...(schema ? { schema } : {}), checks: spec.checks, ...(spec.allowed_roots ? { allowedRoots: spec.allowed_roots } : {}) };
    }
    try {
      this.#validator = createInputValidator({ tools });
    } catch (err) {
      throw new ConfigError(`firewall.tools: ${(err as Error).message}`);
    }
    // Compile every allowlist now: a bad rule is a start-up error, not a request-time surprise.
    for (const t of [undefined, ...Object.keys(config.egress.tenants)]) this.#egressFor(t);
  }

  /** The scanners of a tenant: its honeytokens and tokenizer use keys derived from its data key. */
  async #tenant(tenant: string): Promise<{ dlp: DlpScanner; policy: DlpActionPolicy }> {
    const hit = this.#perTenant.get(tenant);
    if (hit) return hit;
    const d = this.config.dlp;
    const honeytokens = new HoneytokenSet(await this.protector.deriveKey(tenant, 'honeytokens'));
    const tokenizer = createTokenizer(await this.protector.deriveKey(tenant, 'dlp-tokenize'), { context: tenant });
    const policy: DlpActionPolicy = { byCategory: d.categories, byType: { dlp_scan_incomplete: 'block', ...d.types }, default: 'redact', tokenizer };
    const entry = {
      dlp: createDlpScanner({ honeytokens, ignoreTypes: d.ignore_types, defaultPhoneRegion: d.default_phone_region as never, policy }),
      policy,
    };
    this.#perTenant.set(tenant, entry);
    return entry;
  }

  /** The honeytoken set of a tenant (for `warden honeytokens create`). */
  async honeytokens(tenant: string): Promise<HoneytokenSet> {
    return new HoneytokenSet(await this.protector.deriveKey(tenant, 'honeytokens'));
  }

  /** Detokenizes a value tokenized by the DLP `tokenize` action (operators only). */
  async detokenize(tenant: string, token: string): Promise<string> {
    return createTokenizer(await this.protector.deriveKey(tenant, 'dlp-tokenize'), { context: tenant }).detokenize(token);
  }

  #egressFor(tenant: string | undefined): EgressChecker | null {
    const key = tenant ?? '';
    if (this.#egress.has(key)) return this.#egress.get(key) as EgressChecker | null;
    const rules = (tenant !== undefined ? this.config.egress.tenants[tenant] : undefined) ?? this.config.egress.allow;
    let checker: EgressChecker | null = null;
    if (rules.length > 0) {
      try {
        checker = compileEgressRules(rules);
      } catch (err) {
        throw new ConfigError(`firewall.egress${tenant !== undefined ? `.tenants.${tenant}` : '.allow'}: ${(err as Error).message}`);
      }
    }
    this.#egress.set(key, checker);
    return checker;
  }

  /** A request with nothing to inspect costs nothing. */
  async inspect(req: FirewallRequest): Promise<FirewallVerdict> {
    const findings: Finding[] = [];
    const signals: FirewallSignals = { ...NO_SIGNALS, dlp: [] };
    let block: string | undefined;
    let taints = false;
    let payload: Record<string, Json> | undefined;

    let receiptPayload: Record<string, Json> | undefined;
    let receiptContext: Record<string, unknown> | undefined;

    // Injection in what the agent took in.
    for (const [i, input] of (req.untrusted ?? []).entries()) {
      const r = await this.#injection.scanAsync(input.text);
      signals.injection_score = Math.max(signals.injection_score, Math.round(r.score * 100));
      if (r.flagged) {
        signals.injection = true;
        taints = true;
      }
      for (const f of r.findings) findings.push({ ...f, path: `/untrusted/${i}${f.path ?? ''}` });
      const limit = this.config.injection.block_threshold;
      // `source` is the agent's word: only printable characters reach a reason.
      const source = input.source?.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
      if (limit !== undefined && r.score >= limit) block ??= `prompt injection in untrusted input ${i}${source ? ` (${source})` : ''} scored ${r.score.toFixed(2)}`;
    }

    // DLP on what leaves, and canaries anywhere in it (untrusted inputs included: a canary seen there leaked already).
    const hasPayload = req.payload !== undefined && Object.keys(req.payload).length > 0;
    const contextStrings = Object.entries(req.context ?? {}).filter(([, v]) => typeof v === 'string' || Array.isArray(v));
    if (hasPayload || contextStrings.length > 0 || (req.untrusted?.length ?? 0) > 0) {
      const t = await this.#tenant(req.tenant);
      if (hasPayload) {
        const p = req.payload as Record<string, Json>;
        const scan = await t.dlp.scan(p);
        // Object keys are data too: a secret used as a key cannot be redacted in place, so it blocks.
        const keys = objectKeys(p);
        const keyFindings = keys.length ? (await t.dlp.scan(keys.join('\n'))).findings.filter((f) => f.type !== 'dlp_scan_incomplete') : [];
        if (scan.findings.length > 0 || keyFindings.length > 0) {
          findings.push(...scan.findings.map((f) => ({ ...f, path: `/payload${f.path ?? ''}` })));
          findings.push(...keyFindings.map(({ span: _s, ...f }) => ({ ...f, path: '/payload (an object key)' })));
          const applied = t.dlp.apply(p, scan.findings, t.policy);
          if (applied.blocked || keyFindings.length > 0) {
            signals.dlp_block = true;
            const types = [...applied.blockedBy, ...keyFindings].map((f) => f.type);
            block ??= `data-loss prevention: ${[...new Set(types)].join(', ')} in the payload${keyFindings.length ? ' (in an object key)' : ''}`;
          } else if (applied.redacted > 0 || applied.tokenized > 0) {
            payload = applied.output as Record<string, Json>;
          }
          // Receipts keep no value DLP found, whatever its action; a payload not fully scanned, or with a secret in a key, is withheld.
          receiptPayload = scan.incomplete || keyFindings.length > 0
            ? { withheld: 'the payload could not be recorded without a sensitive value in it' }
            : (t.dlp.apply(p, scan.findings, REDACT_ALL).output as Record<string, Json>);
        }
      }
      if (contextStrings.length > 0) {
        const ctx = Object.fromEntries(contextStrings) as Record<string, Json>;
        const scan = t.dlp.scanSync(ctx);
        if (scan.findings.length > 0) {
          findings.push(...scan.findings.map((f) => ({ ...f, path: `/context${f.path ?? ''}` })));
          receiptContext = { ...req.context, ...(t.dlp.apply(ctx, scan.findings, REDACT_ALL).output as Record<string, unknown>) };
          if (scan.findings.some((f) => f.detector === 'honeytoken')) block ??= 'a planted honeytoken appeared in the context';
        }
      }
      for (const [i, input] of (req.untrusted ?? []).entries()) {
        const canaries = t.dlp.scanSync(input.text).findings.filter((f) => f.detector === 'honeytoken');
        findings.push(...canaries.map((f) => ({ ...f, path: `/untrusted/${i}` })));
      }
    }
    // The resource and the correlation id are signed into receipts verbatim: sensitive data (a
    // canary in a host name, a key in an id) there denies the request and is redacted from it.
    let receiptResource: string | undefined;
    let dropCorrelationId = false;
    {
      const t = await this.#tenant(req.tenant);
      const r = t.dlp.scanSync(req.resource);
      if (r.findings.length > 0) {
        findings.push(...r.findings.map(({ excerpt: _e, ...f }) => ({ ...f, path: '/resource' })));
        receiptResource = String(t.dlp.apply(req.resource, r.findings, REDACT_ALL).output);
        block ??= `sensitive data in the resource (${[...new Set(r.findings.map((f) => f.type))].join(', ')})`;
      }
      if (req.correlationId !== undefined) {
        const c = t.dlp.scanSync(req.correlationId);
        if (c.findings.length > 0) {
          findings.push(...c.findings.map(({ excerpt: _e, ...f }) => ({ ...f, path: '/correlation_id' })));
          dropCorrelationId = true;
          block ??= `sensitive data in the correlation id (${[...new Set(c.findings.map((f) => f.type))].join(', ')})`;
        }
      }
    }

    for (const f of findings) if (f.detector === 'dlp' || f.detector === 'honeytoken') signals.dlp.push(f.type);
    signals.dlp = [...new Set(signals.dlp)].slice(0, 256);
    if (findings.some((f) => f.detector === 'honeytoken')) {
      signals.honeytoken = true;
      signals.dlp_block = true;
      block = 'a planted honeytoken appeared in the request: treated as a credential leak';
    }

    // Egress: every destination against the tenant's allowlist (no DNS here; the egress proxy
    // resolves once and connects to the checked address). Allowed only if all of them are.
    const hosts = [req.resource.startsWith('http:') ? req.resource.slice(5) : req.domain, ...(req.destinations ?? [])].filter((h): h is string => h !== undefined);
    if (hosts.length > 0) {
      const checker = this.#egressFor(this.config.egress.tenants[req.tenant] ? req.tenant : undefined);
      for (const host of new Set(hosts)) {
        if (checker) {
          const v = checker.checkHost(host.replace(/^\[|\]$/g, ''));
          if (!v.allowed) signals.egress_allowed = false;
          findings.push(...v.findings);
        } else {
          // No allowlist: nothing is on it (deny-by-default network). Policy decides what that means;
          // the starter policy only cares for tainted sessions.
          signals.egress_allowed = false;
          const ip = parseIp(host.replace(/^\[|\]$/g, ''));
          const special = ip ? classifyIp(ip) : undefined;
          if (special) findings.push({ detector: 'egress', type: `ip_${special}`, severity: 'high', message: `destination ${host} is a ${special} address` });
        }
      }
    }

    // Tool arguments against the tool's schema and checks. Their excerpts are raw argument text
    // (which may hold what DLP redacted), so they are dropped: path and message say enough.
    if (Object.hasOwn(this.config.tools, req.resource)) {
      const v = this.#validator.validate(req.resource, req.payload ?? {});
      signals.schema_valid = v.valid;
      findings.push(...v.findings.map(({ excerpt: _raw, ...f }) => ({ ...f, path: `/payload${f.path ?? ''}` })));
      if (!v.valid && this.config.tools[req.resource]?.block_invalid) block ??= `the arguments of ${req.resource} are invalid: ${v.findings[0]?.message ?? 'schema violation'}`;
    }

    signals.findings = findings.length;
    return {
      signals, findings: findings.slice(0, MAX_FINDINGS_KEPT), taints, ...(block ? { block } : {}), ...(payload ? { payload } : {}),
      ...(receiptPayload ? { receiptPayload } : {}), ...(receiptContext ? { receiptContext } : {}),
      ...(receiptResource !== undefined ? { receiptResource } : {}), ...(dropCorrelationId ? { dropCorrelationId } : {}),
    };
  }

  /** The injection detector on one text (e.g. an MCP tool's description): why it is flagged, or undefined. */
  async injectionReason(text: string): Promise<string | undefined> {
    const r = await this.#injection.scanAsync(text);
    if (!r.flagged) return undefined;
    return `score ${r.score.toFixed(2)}; ${[...new Set(r.findings.map((f) => f.type))].slice(0, 5).join(', ')}`;
  }

  /**
   * What a tool returned, before the agent sees it: injection (a flagged result taints the
   * session) and DLP with the tenant's actions — redact or tokenize in place; block or a
   * honeytoken withholds the result. Findings point at `/result/i`.
   */
  async inspectResult(tenant: string, texts: readonly string[]): Promise<ResultVerdict> {
    const findings: Finding[] = [];
    let injection = false;
    let score = 0;
    for (const [i, text] of texts.entries()) {
      const r = await this.#injection.scanAsync(text);
      score = Math.max(score, Math.round(r.score * 100));
      if (r.flagged) injection = true;
      for (const f of r.findings) findings.push({ ...f, path: `/result/${i}${f.path ?? ''}` });
    }
    const t = await this.#tenant(tenant);
    const scan = await t.dlp.scan([...texts]);
    let out: string[] | undefined;
    let withheld: string | undefined;
    if (scan.findings.length > 0) {
      findings.push(...scan.findings.map(({ excerpt: _e, ...f }) => ({ ...f, path: `/result${f.path ?? ''}` })));
      const applied = t.dlp.apply([...texts], scan.findings, t.policy);
      if (scan.findings.some((f) => f.detector === 'honeytoken')) withheld = 'a planted honeytoken appeared in the result: treated as a credential leak';
      else if (applied.blocked) withheld = `data-loss prevention: ${[...new Set(applied.blockedBy.map((f) => f.type))].join(', ')} in the result`;
      else if (applied.redacted > 0 || applied.tokenized > 0) out = applied.output;
    }
    return {
      injection, injection_score: score, findings: findings.slice(0, MAX_FINDINGS_KEPT),
      ...(withheld ? { withheld } : {}), ...(out ? { texts: out } : {}),
    };
  }

  /** DLP over what an agent reports after the fact (outcome details): the redacted form, for the receipt. */
  async redactForReceipt(tenant: string, value: Record<string, Json>): Promise<Record<string, Json>> {
    const t = await this.#tenant(tenant);
    const scan = await t.dlp.scan(value);
    if (scan.findings.length === 0) return value;
    if (scan.incomplete) return { withheld: 'could not be recorded without a sensitive value in it' };
    return t.dlp.apply(value, scan.findings, REDACT_ALL).output as Record<string, Json>;
  }
}

/** Every object key in a JSON value (iterative; at most 10,000). */
function objectKeys(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0 && out.length < 10_000) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        out.push(k);
        stack.push(x);
      }
    }
  }
  return out;
}
