/**
 * The agent registry of each tenant. Every change is a `kind: "agent"` receipt committed in
 * the same store transaction as the `putAgent` mutation that makes it (ledger.append with
 * `system: true`), so the registry and the log can never disagree. Deleted agents are kept
 * (state `deleted`) so the log's references to them stay resolvable for audits.
 */
import { KeyedSerialiser } from './serial.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Receipt } from '../ledger/receipt.js';
import { isStrongEd25519PublicKey, publicKeyFromRaw } from '../crypto/ed25519.js';
import { BadInputError, WardenError } from '../errors.js';
import type { AgentRecord, AgentState, Store } from '../store/types.js';

export const AGENT_ID = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** Roles, capabilities and scopes: short tokens such as `reader`, `tool:search`, `files:read/*`. */
export const CLAIM_TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.:/*@+-]{0,127}$/;
export const AGENT_TIERS = ['process', 'container', 'microvm', 'docker'] as const;
export type AgentTier = (typeof AGENT_TIERS)[number];
const MAX_LIST = 64;

export interface AgentInput {
  id: string;
  type?: string;
  owner?: string | null;
  roles?: readonly string[];
  capabilities?: readonly string[];
  trust_level?: number;
  tier?: string;
  /** The agent's own Ed25519 public key: raw 32 bytes, base64url (43 characters); null removes it. */
  public_key?: string | null;
}

export type AgentUpdate = Partial<Omit<AgentInput, 'id'>>;

/** Who asked for a change; recorded as the receipt's actor. */
export interface ChangeContext {
  actor?: { human?: string | null; agent?: string | null; service?: string | null };
  reason?: string;
}

export function assertAgentId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !AGENT_ID.test(id)) {
    throw new BadInputError(`invalid agent id ${JSON.stringify(id)}: expected 1-63 of a-z, 0-9, '_', '.', '-' starting with a letter or digit`);
  }
}

export function checkTokens(what: string, list: unknown): string[] {
  if (!Array.isArray(list) || list.length > MAX_LIST) throw new BadInputError(`${what}: expected a list of at most ${MAX_LIST} entries`);
  for (const x of list) {
    if (typeof x !== 'string' || !CLAIM_TOKEN.test(x)) {
      throw new BadInputError(`${what}: invalid entry ${JSON.stringify(x)} (1-128 of A-Z a-z 0-9 _ . : / * @ + -)`);
    }
  }
  return [...new Set(list as string[])];
}

/** An agent public key must be a canonical base64url encoding of a valid 32-byte Ed25519 key. */
function checkPublicKey(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(v) || Buffer.from(v, 'base64url').toString('base64url') !== v) {
    throw new BadInputError('public_key: expected a raw 32-byte Ed25519 public key, base64url without padding (43 characters)');
  }
  const raw = Buffer.from(v, 'base64url');
  let usable = isStrongEd25519PublicKey(raw);
  try {
    publicKeyFromRaw(raw);
  } catch {
    usable = false;
  }
  // Small-order keys verify forged signatures: refused, like any unusable key.
  if (!usable) throw new BadInputError('public_key: not a usable Ed25519 public key');
  return v;
}

function checkFields(u: AgentUpdate): Partial<AgentRecord> {
  const out: Partial<AgentRecord> = {};
  if (u.type !== undefined) {
    if (typeof u.type !== 'string' || !AGENT_ID.test(u.type)) throw new BadInputError(`invalid agent type ${JSON.stringify(u.type)}`);
    out.type = u.type;
  }
  if (u.owner !== undefined) {
    if (u.owner !== null && (typeof u.owner !== 'string' || u.owner.length === 0 || u.owner.length > 256 || [...u.owner].some((c) => c < ' '))) {
      throw new BadInputError('owner: expected 1-256 printable characters');
    }
    out.owner = u.owner;
  }
  if (u.roles !== undefined) out.roles = checkTokens('roles', u.roles);
  if (u.capabilities !== undefined) out.capabilities = checkTokens('capabilities', u.capabilities);
  if (u.trust_level !== undefined) {
    if (!Number.isInteger(u.trust_level) || u.trust_level < 0 || u.trust_level > 100) throw new BadInputError('trust_level: expected an integer 0-100');
    out.trust_level = u.trust_level;
  }
  if (u.public_key !== undefined) out.public_key = u.public_key === null ? null : checkPublicKey(u.public_key);
  if (u.tier !== undefined) {
    if (!(AGENT_TIERS as readonly string[]).includes(u.tier)) throw new BadInputError(`tier: expected one of ${AGENT_TIERS.join(', ')}`);
    out.tier = u.tier;
  }
  return out;
}

/** What a receipt says about an agent (everything but timestamps the receipt carries itself). */
function agentPayload(a: AgentRecord): Record<string, string | number | string[] | null> {
  return {
    id: a.id,
    type: a.type,
    owner: a.owner,
    roles: a.roles,
    capabilities: a.capabilities,
    trust_level: a.trust_level,
    tier: a.tier,
    state: a.state,
    passports_not_before: a.passports_not_before,
    public_key: a.public_key,
  };
}

type Transition = 'suspend' | 'resume' | 'quarantine' | 'delete';
const ALLOWED_FROM: Record<Transition, readonly AgentState[]> = {
  suspend: ['active'],
  resume: ['suspended', 'quarantined'],
  quarantine: ['active', 'suspended'],
  delete: ['active', 'suspended', 'quarantined'],
};
const TARGET: Record<Transition, AgentState> = { suspend: 'suspended', resume: 'active', quarantine: 'quarantined', delete: 'deleted' };

export type AgentListener = (agent: AgentRecord) => void;

export class AgentRegistry {
  readonly #listeners: AgentListener[] = [];
  /** Per-tenant chain: read-modify-write changes of this process never interleave. */
  readonly #serial = new KeyedSerialiser();

  constructor(
    private readonly store: Store,
    private readonly ledger: Ledger,
  ) {}

  /** Called after every committed change (the passport verifier keeps its view current). */
  onChange(fn: AgentListener): void {
    this.#listeners.push(fn);
  }

  async get(tenant: string, id: string): Promise<AgentRecord> {
    assertAgentId(id);
    const a = await this.store.getAgent(tenant, id);
    if (!a) throw new WardenError('NOT_FOUND', `tenant ${tenant} has no agent "${id}"`);
    return a;
  }

  async list(tenant: string, options: { includeDeleted?: boolean } = {}): Promise<AgentRecord[]> {
    const all = await this.store.listAgents(tenant);
    return options.includeDeleted ? all : all.filter((a) => a.state !== 'deleted');
  }

  async create(tenant: string, input: AgentInput, ctx: ChangeContext = {}): Promise<AgentRecord> {
    assertAgentId(input.id);
    const fields = checkFields(input);
    return this.#serial.run(tenant, async () => {
      const existing = await this.store.getAgent(tenant, input.id);
      if (existing) {
        throw new WardenError('CONFLICT', existing.state === 'deleted'
          ? `agent "${input.id}" was deleted; its id stays reserved for the audit trail`
          : `agent "${input.id}" already exists`);
      }
      const now = new Date().toISOString();
      const agent: AgentRecord = {
        tenant, id: input.id, type: 'agent', owner: null, roles: [], capabilities: [], trust_level: 0, tier: 'process',
        public_key: null,
        ...fields, state: 'active', passports_not_before: null, created_at: now, updated_at: now,
      };
      await this.#commit(agent, 'agent.create', ctx);
      return agent;
    });
  }

  async update(tenant: string, id: string, changes: AgentUpdate, ctx: ChangeContext = {}): Promise<AgentRecord> {
    assertAgentId(id);
    const fields = checkFields(changes);
    if (Object.keys(fields).length === 0) throw new BadInputError('nothing to update');
    return this.#serial.run(tenant, async () => {
      const cur = await this.#live(tenant, id);
      const agent: AgentRecord = { ...cur, ...fields, updated_at: new Date().toISOString() };
      await this.#commit(agent, 'agent.update', ctx, { changed: Object.keys(fields).sort() });
      return agent;
    });
  }

  suspend(tenant: string, id: string, ctx: ChangeContext = {}): Promise<AgentRecord> {
    return this.#transition(tenant, id, 'suspend', ctx);
  }

  resume(tenant: string, id: string, ctx: ChangeContext = {}): Promise<AgentRecord> {
    return this.#transition(tenant, id, 'resume', ctx);
  }

  quarantine(tenant: string, id: string, ctx: ChangeContext = {}): Promise<AgentRecord> {
    return this.#transition(tenant, id, 'quarantine', ctx);
  }

  delete(tenant: string, id: string, ctx: ChangeContext = {}): Promise<AgentRecord> {
    return this.#transition(tenant, id, 'delete', ctx);
  }

  /**
   * Revokes every passport of the agent issued before now (`passports_not_before`). Returns
   * the agent and the receipt. Passports issued afterwards are valid again.
   */
  async revokePassports(tenant: string, id: string, ctx: ChangeContext = {}): Promise<{ agent: AgentRecord; receipt: Receipt }> {
    assertAgentId(id);
    return this.#serial.run(tenant, async () => {
      const cur = await this.get(tenant, id);
      const now = new Date().toISOString();
      const agent: AgentRecord = { ...cur, passports_not_before: now, updated_at: now };
      const receipt = await this.#commit(agent, 'passport.revoke_all', ctx);
      return { agent, receipt };
    });
  }

  async #transition(tenant: string, id: string, t: Transition, ctx: ChangeContext): Promise<AgentRecord> {
    assertAgentId(id);
    return this.#serial.run(tenant, async () => {
      const cur = await this.get(tenant, id);
      if (!ALLOWED_FROM[t].includes(cur.state)) throw new WardenError('CONFLICT', `cannot ${t} agent "${id}": it is ${cur.state}`);
      const agent: AgentRecord = { ...cur, state: TARGET[t], updated_at: new Date().toISOString() };
      await this.#commit(agent, `agent.${t}`, ctx, { previous_state: cur.state });
      return agent;
    });
  }

  async #live(tenant: string, id: string): Promise<AgentRecord> {
    const cur = await this.get(tenant, id);
    if (cur.state === 'deleted') throw new WardenError('CONFLICT', `agent "${id}" is deleted`);
    return cur;
  }

  /** The receipt and the agent row commit together, or neither does. */
  async #commit(agent: AgentRecord, action: string, ctx: ChangeContext, extra: Record<string, string | string[]> = {}): Promise<Receipt> {
    const [receipt] = await this.ledger.append(
      agent.tenant,
      [{
        kind: 'agent',
        action,
        resource: `agent:${agent.id}`,
        decision: null,
        reasons: ctx.reason ? [ctx.reason] : [],
        actor: ctx.actor ?? {},
        payload: { agent: agentPayload(agent), ...extra },
      }],
      { mutations: [{ op: 'putAgent', agent }], system: true },
    );
    for (const fn of this.#listeners) fn(agent);
    return receipt as Receipt;
  }
}
