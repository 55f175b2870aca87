/**
 * Tool pinning, the rug-pull defence: the first time Warden sees an MCP tool (per tenant and
 * server) it pins a digest of its definition — name, title, description, input and output
 * schemas, annotations. A later definition with another digest blocks the tool until an
 * operator approves the new version (`warden mcp pins approve`). Descriptions are scanned for
 * prompt injection first (tool poisoning): a flagged tool is blocked the same way. SchemaPin
 * signatures are verified where the server's operator configured a signing domain, the
 * domain's key pinned on first use; the signature status goes into the policy context.
 *
 * Pins are state records; every pin, change, block and approval is a receipt (kind `mcp`) and
 * blocks are events. The decision pipeline reads the pin of every `mcp.request` (a blocked tool
 * is denied there, whoever asks).
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { BadInputError, WardenError } from '../errors.js';
import type { ActorChain, SecurityEvents } from '../events/security-events.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Store } from '../store/types.js';
import type { Json } from '../crypto/jcs.js';
import { KeyedSerialiser } from '../identity/serial.js';
import { grantedFor } from '../policy/engine.js';
import { parseDiscovery, signedToolSchema, verifySchemaSignature, SIGNATURE_META_KEY, type SignatureStatus } from './schemapin.js';

export const MCP_RECEIPT_KIND = 'mcp';
export const PIN_KIND = 'mcp_pin';
export const SIGNING_KEY_KIND = 'mcp_key';
/** Server names: what namespaced tool names and `mcp:SERVER/TOOL` resources are made of. */
export const SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/**
 * MCP tool names (2025-06-18: 1-128 of A-Z a-z 0-9 _ - .), slashes tolerated for older servers;
 * prompts are pinned as `prompt:NAME` (a tool name cannot contain ':').
 */
const TOOL_NAME = /^(prompt:)?[A-Za-z0-9_.\-/]{1,128}$/;
export const MAX_TOOLS = 1000;
const MAX_DEFINITION_BYTES = 256 * 1024;

export type PinState = 'pinned' | 'changed' | 'poisoned';

export interface ToolDefinition {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
  _meta?: Record<string, unknown>;
}

export interface PinBody {
  server: string;
  tool: string;
  /** Digest of the approved definition. */
  hash: string;
  pinned_at: string;
  approved_by?: string;
  signature: SignatureStatus;
  /** A definition seen since, waiting for an operator. */
  pending?: { hash: string; seen_at: string; reason: string; description_excerpt: string; signature?: SignatureStatus };
}

export interface ToolVerdict {
  name: string;
  hash: string;
  /** May the tool be listed and called? */
  ok: boolean;
  state: PinState;
  signature: SignatureStatus;
  /** Why it is blocked. */
  reason?: string;
}

export interface ReviewOptions {
  actor: ActorChain;
  /**
   * The reviewing agent's grants: only tools they cover are reviewed (and so may be pinned);
   * an agent cannot pin, or block, tools of servers it was not granted.
   */
  grants?: { capabilities: readonly string[]; scope: readonly string[] };
  /** The signing domain's discovery document, when the server's operator named a domain. */
  discovery?: { domain: string; document: unknown };
  correlationId?: string;
}

/** Injection scanner for descriptions: returns a reason when the text is flagged. */
export type DescriptionScanner = (text: string) => Promise<string | undefined>;

export function pinId(server: string, tool: string): string {
  return `${server}/${tool}`;
}

/** Digest of what a tool says it is and does (its `_meta` excluded: it carries the signature). */
export function toolDigest(t: ToolDefinition): string {
  const def = { name: t.name, title: t.title ?? null, description: t.description ?? null, inputSchema: t.inputSchema ?? null, outputSchema: t.outputSchema ?? null, annotations: t.annotations ?? null };
  const text = canonicalize(def);
  if (text === undefined) throw new BadInputError(`tool ${t.name}: definition is not JSON`);
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/**
 * Every string of a definition a model reads — title, description, and in the schemas and
 * annotations every key and string value (parameter names, descriptions, enums, defaults,
 * examples): poisoning hides there too.
 */
export function describedText(t: ToolDefinition): string {
  const out: string[] = [t.title ?? '', t.description ?? ''];
  const walk = (v: unknown, depth: number) => {
    if (depth > 32 || out.length > 10_000) return;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        out.push(k);
        walk(x, depth + 1);
      }
    }
  };
  walk(t.inputSchema, 0);
  walk(t.outputSchema, 0);
  walk(t.annotations, 0);
  return out.filter(Boolean).join('\n');
}

const excerpt = (s: string | undefined) => (s ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 160);

export class ToolPins {
  readonly #serial = new KeyedSerialiser();

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
    private readonly events: SecurityEvents,
    private readonly scanDescription: DescriptionScanner,
  ) {}

  /** The pin of one tool, if any. */
  async get(tenant: string, server: string, tool: string): Promise<{ state: PinState; body: PinBody } | undefined> {
    const rec = await this.store.getRecord(tenant, PIN_KIND, pinId(server, tool));
    return rec ? { state: rec.state as PinState, body: JSON.parse(rec.body) as PinBody } : undefined;
  }

  async list(tenant: string, state?: PinState): Promise<(PinBody & { id: string; state: PinState })[]> {
    const recs = await this.store.listRecords(tenant, PIN_KIND, { ...(state ? { state } : {}), limit: 10_000 });
    return recs.map((r) => ({ id: r.id, state: r.state as PinState, ...(JSON.parse(r.body) as PinBody) }));
  }

  /** Reviews a server's tool list: pins what is new, blocks what changed or is poisoned. */
  async review(tenant: string, server: string, tools: readonly ToolDefinition[], opts: ReviewOptions): Promise<ToolVerdict[]> {
    if (!SERVER_NAME.test(server)) throw new BadInputError(`invalid MCP server name "${server}" (expected 1-32 of a-z, 0-9, '-')`);
    if (tools.length > MAX_TOOLS) throw new BadInputError(`server ${server} lists ${tools.length} tools (at most ${MAX_TOOLS})`);
    const signing = opts.discovery ? await this.#signingKey(tenant, opts.discovery, opts) : undefined;
    const out: ToolVerdict[] = [];
    for (const t of tools) {
      if (typeof t?.name !== 'string' || !TOOL_NAME.test(t.name)) {
        out.push({ name: String(t?.name).slice(0, 128), hash: '', ok: false, state: 'poisoned', signature: 'unsigned', reason: 'invalid tool name' });
        continue;
      }
      if (opts.grants && grantedFor(opts.grants, `mcp:${server}/${t.name}`) !== true) {
        out.push({ name: t.name, hash: '', ok: false, state: 'pinned', signature: 'unsigned', reason: 'not granted to this agent: not reviewed' });
        continue;
      }
      if (Buffer.byteLength(JSON.stringify(t)) > MAX_DEFINITION_BYTES) {
        // Blocked like a poisoned tool, and pinned as such: the pipeline denies it whoever asks.
        const reason = `its definition is larger than ${MAX_DEFINITION_BYTES} bytes`;
        out.push(await this.#serial.run(`${tenant}\n${server}\n${t.name}`, async () => {
          const cur = await this.get(tenant, server, t.name);
          if (cur?.state !== 'poisoned' || cur.body.pending?.reason !== reason) {
            const now = new Date().toISOString();
            await this.#block(tenant, 'poisoned', { server, tool: t.name, hash: cur?.body.hash ?? '', pinned_at: cur?.body.pinned_at ?? now, signature: 'unsigned', pending: { hash: 'oversized', seen_at: now, reason, description_excerpt: '' } }, opts, 'mcp_tool_poisoned', cur?.state);
          }
          return { name: t.name, hash: '', ok: false, state: 'poisoned' as const, signature: 'unsigned' as const, reason };
        }));
        continue;
      }
      out.push(await this.#serial.run(`${tenant}\n${server}\n${t.name}`, () => this.#reviewOne(tenant, server, t, signing, opts)));
    }
    return out;
  }

  async #reviewOne(
    tenant: string, server: string, t: ToolDefinition,
    signing: SigningState | undefined, opts: ReviewOptions,
  ): Promise<ToolVerdict> {
    const hash = toolDigest(t);
    const signature = signatureStatus(t, signing);
    const cur = await this.get(tenant, server, t.name);
    const now = new Date().toISOString();
    const base = { name: t.name, hash, signature };
    if (cur?.state === 'pinned' && cur.body.hash === hash) {
      if (cur.body.signature === signature) return { ...base, ok: true, state: 'pinned' };
      if (cur.body.signature !== 'valid') {
        // A signature appearing (or failing) is recorded; policy reads the status on every call.
        await this.#write(tenant, 'pinned', { ...cur.body, signature }, 'mcp.pin_signature', null, [`signature status ${cur.body.signature} → ${signature}`], opts, 'pinned');
        return { ...base, ok: true, state: 'pinned' };
      }
      // A validly signed tool that no longer is: blocked like a changed definition.
    } else if (cur && cur.state !== 'pinned' && cur.body.pending?.hash === hash) {
      // Still blocked: only an operator unblocks (going back to the pinned definition does not).
      return { ...base, ok: false, state: cur.state, reason: cur.body.pending.reason };
    }
    const poisoned = await this.scanDescription(describedText(t));
    if (!cur) {
      if (poisoned) {
        const reason = `its description was flagged as prompt injection (tool poisoning): ${poisoned}`;
        await this.#block(tenant, 'poisoned', { server, tool: t.name, hash: '', pinned_at: now, signature, pending: { hash, seen_at: now, reason, description_excerpt: excerpt(t.description), signature } }, opts, 'mcp_tool_poisoned');
        return { ...base, ok: false, state: 'poisoned', reason };
      }
      await this.#write(tenant, 'pinned', { server, tool: t.name, hash, pinned_at: now, signature }, 'mcp.pin', 'allow', ['pinned on first sight'], opts);
      return { ...base, ok: true, state: 'pinned' };
    }
    const reason = poisoned
      ? `its definition changed since it was pinned, and the new description was flagged as prompt injection: ${poisoned}`
      : cur.body.hash === hash
        ? `its SchemaPin signature was valid when pinned and is now ${signature}: an operator must approve`
        : 'its definition changed since it was pinned (name, description or schema): an operator must approve the new version';
    const state: PinState = poisoned ? 'poisoned' : 'changed';
    await this.#block(tenant, state, { ...cur.body, pending: { hash, seen_at: now, reason, description_excerpt: excerpt(t.description), signature } }, opts, poisoned ? 'mcp_tool_poisoned' : 'mcp_tool_changed', cur.state);
    return { ...base, ok: false, state, reason };
  }

  async #block(tenant: string, state: PinState, body: PinBody, opts: ReviewOptions, category: string, expect?: PinState): Promise<void> {
    const r = await this.#write(tenant, state, body, state === 'poisoned' ? 'mcp.pin_poisoned' : 'mcp.pin_changed', 'deny', [body.pending?.reason ?? state], opts, expect);
    this.events.emit({
      tenant, severity: 'high', category, actor: opts.actor, correlation_id: opts.correlationId ?? null, receipt: { tenant, seq: r.seq },
      details: { server: body.server, tool: body.tool, pinned_hash: body.hash, new_hash: body.pending?.hash ?? null, reason: body.pending?.reason ?? state },
    });
  }

  /** `expect`: the state read before (compare-and-set across processes; a concurrent change makes this write fail, closed). */
  async #write(tenant: string, state: PinState, body: PinBody, action: string, decision: 'allow' | 'deny' | null, reasons: string[], opts: ReviewOptions, expect?: PinState): Promise<{ seq: number }> {
    const now = new Date().toISOString();
    const id = pinId(body.server, body.tool);
    const [r] = await this.ledger.append(tenant, [{
      kind: MCP_RECEIPT_KIND, action, resource: `mcp:${id}`, decision, reasons, actor: opts.actor,
      ...(opts.correlationId ? { correlation_id: opts.correlationId } : {}),
      payload: { server: body.server, tool: body.tool, state, hash: body.hash, signature: body.signature, ...(body.pending ? { pending_hash: body.pending.hash } : {}) } as Record<string, Json>,
    }], {
      system: true,
      mutations: [{ op: 'putRecord', record: { tenant, kind: PIN_KIND, id, state, created_at: now, updated_at: now, body: JSON.stringify(body) }, ...(expect ? { expectState: expect } : {}) }],
    });
    return r as { seq: number };
  }

  /**
   * An operator approves the pending version of a blocked tool. `hash` (as `pins list` shows it)
   * guards against approving a version that arrived after the operator looked.
   */
  async approve(tenant: string, server: string, tool: string, approver: { id: string; actor: ActorChain }, hash?: string): Promise<PinBody> {
    return this.#serial.run(`${tenant}\n${server}\n${tool}`, async () => {
      const cur = await this.get(tenant, server, tool);
      if (!cur) throw new WardenError('NOT_FOUND', `no pin for ${server}/${tool}`);
      if (cur.state === 'pinned' || !cur.body.pending) throw new WardenError('CONFLICT', `${server}/${tool} is not blocked`);
      if (hash !== undefined && hash === cur.body.hash && hash !== cur.body.pending.hash) throw new WardenError('CONFLICT', `${server}/${tool}: ${hash} is the version pinned before; the pending one is ${cur.body.pending.hash}`);
      if (hash !== undefined && hash !== cur.body.pending.hash) throw new WardenError('CONFLICT', `${server}/${tool}: the pending version is ${cur.body.pending.hash}, not ${hash} (it changed again: review it)`);
      const { pending, ...rest } = cur.body;
      const body: PinBody = { ...rest, hash: pending.hash, signature: pending.signature ?? rest.signature, pinned_at: new Date().toISOString(), approved_by: approver.id };
      await this.#write(tenant, 'pinned', body, 'mcp.pin_approve', 'allow', [`approved by ${approver.id}`], { actor: approver.actor }, cur.state);
      return body;
    });
  }

  /**
   * An operator releases a domain's pinned signing key (it rotated its key): the key the domain
   * presents next is pinned then, on first use again. Receipted.
   */
  async releaseKey(tenant: string, domain: string, operator: { id: string; actor: ActorChain }): Promise<{ fingerprint: string }> {
    return this.#serial.run(`${tenant}\nkey\n${domain}`, async () => {
      const rec = await this.store.getRecord(tenant, SIGNING_KEY_KIND, domain);
      if (!rec || rec.state !== 'pinned') throw new WardenError('NOT_FOUND', `no pinned SchemaPin key for ${domain}`);
      const { fingerprint } = JSON.parse(rec.body) as { fingerprint: string };
      const now = new Date().toISOString();
      await this.ledger.append(tenant, [{
        kind: MCP_RECEIPT_KIND, action: 'mcp.key_release', resource: `schemapin:${domain}`, decision: 'allow', reasons: [`released by ${operator.id}`], actor: operator.actor,
        payload: { domain, fingerprint },
      }], { system: true, mutations: [{ op: 'putRecord', record: { ...rec, state: 'released', updated_at: now }, expectState: 'pinned' }] });
      return { fingerprint };
    });
  }

  /**
   * The signing key of a domain: pinned (the key itself) on first use. Signatures verify only
   * against the pinned key; a document presenting another key gives `key_changed`, one listing
   * the pinned key as revoked gives `revoked`, an unreadable document `no_key`.
   */
  async #signingKey(tenant: string, d: { domain: string; document: unknown }, opts: ReviewOptions): Promise<SigningState> {
    let parsed: ReturnType<typeof parseDiscovery>;
    try {
      parsed = parseDiscovery(d.document);
    } catch {
      return { status: 'no_key' };
    }
    return this.#serial.run(`${tenant}\nkey\n${d.domain}`, async () => {
      const rec = await this.store.getRecord(tenant, SIGNING_KEY_KIND, d.domain);
      if (rec && rec.state === 'pinned') {
        const pinned = JSON.parse(rec.body) as { fingerprint: string; public_key_pem?: string };
        if (parsed.revoked.has(pinned.fingerprint)) return { status: 'revoked' };
        if (pinned.fingerprint !== parsed.fingerprint) return { status: 'key_changed' };
        return { status: 'valid', key: pinned.public_key_pem ? parseDiscovery({ public_key_pem: pinned.public_key_pem }).key : parsed.key };
      }
      if (parsed.revoked.has(parsed.fingerprint)) return { status: 'revoked' };
      const now = new Date().toISOString();
      const pem = parsed.key.export({ type: 'spki', format: 'pem' }).toString();
      await this.ledger.append(tenant, [{
        kind: MCP_RECEIPT_KIND, action: 'mcp.key_pin', resource: `schemapin:${d.domain}`, decision: 'allow', reasons: ['signing key pinned on first use'], actor: opts.actor,
        payload: { domain: d.domain, fingerprint: parsed.fingerprint },
      }], { system: true, mutations: [{ op: 'putRecord', record: { tenant, kind: SIGNING_KEY_KIND, id: d.domain, state: 'pinned', created_at: now, updated_at: now, body: JSON.stringify({ fingerprint: parsed.fingerprint, public_key_pem: pem, pinned_at: now }) }, ...(rec ? { expectState: rec.state } : {}) }] });
      return { status: 'valid', key: parsed.key };
    });
  }
}

type SigningState = { status: SignatureStatus; key?: Parameters<typeof verifySchemaSignature>[2] };

/** Without a configured signing domain nothing can be verified: `unsigned`. With one, an unsigned tool is `missing`. */
function signatureStatus(t: ToolDefinition, signing: SigningState | undefined): SignatureStatus {
  if (!signing) return 'unsigned';
  const sig = t._meta?.[SIGNATURE_META_KEY];
  if (typeof sig !== 'string') return 'missing';
  if (!signing.key) return signing.status;
  return verifySchemaSignature(signedToolSchema(t), sig, signing.key) ? 'valid' : 'invalid';
}
