import type { Signer, Keyring, TenantKeys } from '../crypto/keyring.js';
import { assertSensitivePaths, type PayloadProtector } from '../crypto/envelope.js';
import type { Json } from '../crypto/jcs.js';
import { BadInputError, StoreError, WardenError } from '../errors.js';
import type { LogHead, Mutation, ReceiptRow, Store } from '../store/types.js';
import { isKeyMutation } from '../store/common.js';
import { Presigner, type PredictedHead, type Presigned } from './presign.js';
import { newReceiptId, normaliseInput, prepareStatement, BatchSealer, ZERO_HASH_HEX, type PreparedStatement, type Receipt } from './receipt.js';

export interface LedgerOptions {
  /** Receipts per group commit. */
  batchMax: number;
  /** Payload paths always encrypted. */
  sensitiveFields: readonly string[];
  maxReceiptBytes: number;
  /** Called after every committed batch (the checkpointer listens). */
  onAppended?: (tenant: string, head: LogHead) => void;
  /** Called with the receipts of every committed batch, in seq order (the event stream listens). */
  onReceipts?: (tenant: string, receipts: readonly Receipt[]) => void;
}

/** Internal options for key-lifecycle receipts, which change keys in the same transaction. */
export interface AppendOptions {
  mutations?: Mutation[];
  /** Sign with this key instead of the tenant's active receipt key. */
  signer?: Signer;
  /** The key epoch the mutations were planned against; a concurrent key change aborts. */
  expectEpoch?: number;
  /** Fixed timestamp (key changes take effect at exactly this instant). */
  ts?: string;
  /** Warden's own lifecycle receipts; only these may use the reserved kinds. */
  system?: boolean;
  /**
   * Builds the receipts and mutations from the commit instant, inside the append transaction
   * (key changes: the old key's window must close after every receipt it has signed).
   */
  atCommit?: (ts: string) => { inputs: unknown[]; mutations: Mutation[] };
  /**
   * State records (`putRecord` only) committed with these receipts, built once their seq, id and
   * ts are known. Unlike `mutations`, such appends still group with others (decisions are the
   * hot path: one transaction, one fsync for many).
   */
  records?: (receipts: Receipt[]) => Mutation[];
}

function recordsOf(pending: { options: AppendOptions }, receipts: Receipt[]): Mutation[] {
  if (!pending.options.records) return [];
  const ms = pending.options.records(receipts);
  if (ms.some((m) => m.op !== 'putRecord')) throw new WardenError('INTERNAL', 'the records option may only put state records');
  return ms;
}

/**
 * Kinds only Warden itself writes: an imported or client-supplied receipt must not be able to
 * pass for a key-lifecycle change, an erasure record, an agent-registry change or an
 * authentication decision.
 */
export const RESERVED_KINDS: ReadonlySet<string> = new Set(['key', 'data', 'agent', 'auth', 'operator', 'policy', 'approval', 'incident', 'honeytoken', 'run', 'secret', 'mcp']);

interface Prepared {
  fields: Omit<Receipt, 'tenant' | 'seq' | 'ts' | 'prev' | 'sig'>;
  statement: PreparedStatement;
}

interface Pending {
  items: Prepared[];
  options: AppendOptions;
  resolve: (r: Receipt[]) => void;
  reject: (e: unknown) => void;
}

class StaleKeys extends Error {}

/**
 * The append path. Callers' receipts are queued per tenant and committed in groups: one
 * transaction (one fsync) signs, chains and stores up to `batchMax` receipts, so durable
 * throughput approaches the raw signing rate. A promise resolves only after its commit.
 */
export class Ledger {
  readonly #queues = new Map<string, Pending[]>();
  readonly #flushing = new Set<string>();
  readonly #presigner = new Presigner();

  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly protector: PayloadProtector,
    private readonly options: LedgerOptions,
  ) {}

  /** Validates, encrypts sensitive fields and appends; all-or-nothing for the call. */
  async append(tenant: string, inputs: readonly unknown[], options: AppendOptions = {}): Promise<Receipt[]> {
    if (inputs.length === 0 && !options.atCommit) return [];
    const { items, protect } = this.#prepareSync(inputs, options);
    // Second pass: encrypt sensitive fields (may await the data key), then canonicalise those.
    for (const { index, paths } of protect) {
      const item = items[index] as Prepared;
      item.fields.payload = (await this.protector.protect(tenant, item.fields.id, item.fields.payload, paths)) as { [k: string]: Json };
      item.statement = this.#prepare(item.fields, index);
    }
    return new Promise<Receipt[]>((resolve, reject) => {
      const queue = this.#queues.get(tenant) ?? [];
      queue.push({ items, options, resolve, reject });
      this.#queues.set(tenant, queue);
      if (!this.#flushing.has(tenant)) void this.#flush(tenant);
    });
  }

  /**
   * First pass, synchronous: validate everything and canonicalise what needs no encryption,
   * so the signed bytes are fixed before the caller's append yields (a caller mutating its
   * objects afterwards changes nothing that is signed).
   */
  #prepareSync(inputs: readonly unknown[], options: AppendOptions): { items: Prepared[]; protect: { index: number; paths: string[] }[] } {
    const items: Prepared[] = [];
    const protect: { index: number; paths: string[] }[] = [];
    for (const [i, raw] of inputs.entries()) {
      let input;
      try {
        input = normaliseInput(raw);
      } catch (err) {
        if (err instanceof BadInputError && inputs.length > 1) throw new BadInputError(`entry ${i + 1}: ${err.message}`);
        throw err;
      }
      if (RESERVED_KINDS.has(input.kind) && !options.system) {
        throw new BadInputError(`${inputs.length > 1 ? `entry ${i + 1}: ` : ''}kind "${input.kind}" is reserved for Warden's own receipts`);
      }
      const paths = this.options.sensitiveFields.length || input.sensitive.length ? [...this.options.sensitiveFields, ...input.sensitive] : [];
      if (paths.length) {
        try {
          assertSensitivePaths(input.payload, input.sensitive, this.options.sensitiveFields);
        } catch (err) {
          if (err instanceof BadInputError && inputs.length > 1) throw new BadInputError(`entry ${i + 1}: ${err.message}`);
          throw err;
        }
      }
      const fields: Prepared['fields'] = {
        v: 1,
        id: newReceiptId(),
        kind: input.kind,
        correlation_id: input.correlation_id,
        actor: { human: input.actor.human ?? null, agent: input.actor.agent ?? null, service: input.actor.service ?? null },
        action: input.action,
        resource: input.resource,
        decision: input.decision,
        reasons: input.reasons,
        policy_version: input.policy_version,
        payload: paths.length ? structuredClone(input.payload) : input.payload,
      };
      if (paths.length) protect.push({ index: i, paths });
      items.push({ fields, statement: paths.length ? { head: '', mid: '' } : this.#prepare(fields, i) });
    }
    return { items, protect };
  }

  /** Canonicalises one receipt's fixed part; refuses it if it would exceed the size limit. */
  #prepare(fields: Prepared['fields'], index: number): PreparedStatement {
    let statement: PreparedStatement;
    try {
      statement = prepareStatement(fields);
    } catch (err) {
      if (err instanceof BadInputError) throw new BadInputError(`entry ${index + 1}: ${err.message}`);
      throw err;
    }
    // Checked before queueing, so one oversized entry cannot fail a shared batch.
    if (Buffer.byteLength(statement.head) + Buffer.byteLength(statement.mid) + 512 > this.options.maxReceiptBytes) {
      throw new BadInputError(`entry ${index + 1}: receipt would exceed ${this.options.maxReceiptBytes} bytes`);
    }
    return statement;
  }

  /** Resolves once every queued append has committed or failed. */
  async drain(): Promise<void> {
    while (this.#flushing.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Waits for queued appends, then stops the presigning thread. */
  async close(): Promise<void> {
    await this.drain();
    await this.#presigner.close();
  }

  /**
   * Commits batches in order. With a backlog, batch k+1 is signed on a second core (on the head
   * batch k will leave) while batch k commits; small or key-changing batches sign inline.
   */
  async #flush(tenant: string): Promise<void> {
    this.#flushing.add(tenant);
    try {
      const queue = this.#queues.get(tenant) ?? [];
      let predicted: PredictedHead | undefined;
      let current: InFlight | undefined;
      while (current || queue.length > 0) {
        // Let requests already received reach the queue first: a commit (and its fsync) holds
        // the thread, so starting one per arriving request would commit batches of one.
        if (!current) await new Promise((r) => setImmediate(r));
        current ??= await this.#start(tenant, this.#takeBatch(queue), predicted);
        const signed = await current.signing?.catch(() => undefined);
        // The head this batch leaves if it commits as signed: the next batch is signed on it
        // while this one commits. (After an inline batch the next starts from the real head.)
        const next = signed && queue.length > 0 ? await this.#start(tenant, this.#takeBatch(queue), advance(signed)) : undefined;
        const head = await this.#commit(tenant, current.batch, signed);
        predicted = head ? { size: head.size, prev: head.last_leaf_hash.toString('hex'), epoch: head.key_epoch } : undefined;
        current = next;
      }
    } finally {
      this.#flushing.delete(tenant);
    }
  }

  async #start(tenant: string, batch: Pending[], predicted: PredictedHead | undefined): Promise<InFlight> {
    const count = batch.reduce((n, p) => n + p.items.length, 0);
    if (!predicted || count < PRESIGN_MIN || !groupable(batch[0])) return { batch };
    try {
      const keys = await this.keyring.load(tenant);
      if (keys.epoch !== predicted.epoch) return { batch };
      const signer = keys.active('receipt');
      const ts = maxIso(new Date().toISOString(), signer.record.not_before);
      const statements = batch.flatMap((p) => p.items.map((it) => it.statement));
      return { batch, signing: this.#presigner.sign(tenant, predicted, ts, signer, statements) };
    } catch {
      return { batch }; // the inline path reports the real error
    }
  }

  /** A request that changes keys commits alone; others are grouped up to batchMax receipts. */
  #takeBatch(queue: Pending[]): Pending[] {
    const first = queue.shift() as Pending;
    if (!groupable(first)) return [first];
    const batch = [first];
    let count = first.items.length;
    while (queue.length > 0) {
      const next = queue[0] as Pending;
      if (!groupable(next) || count + next.items.length > this.options.batchMax) break;
      batch.push(queue.shift() as Pending);
      count += next.items.length;
    }
    return batch;
  }

  /** Commits one batch; settles its callers' promises. Returns the new head, or undefined on failure. */
  async #commit(tenant: string, batch: Pending[], presigned: Presigned | undefined): Promise<LogHead | undefined> {
    const out: Receipt[][] = batch.map(() => []);
    try {
      let keys = await this.keyring.load(tenant);
      for (let attempt = 0; ; attempt++) {
        try {
          out.forEach((o) => (o.length = 0));
          const head = await this.store.append(tenant, (h) =>
            presigned && matches(h, presigned.base) ? this.#usePresigned(tenant, presigned, batch, out) : this.#build(tenant, h, keys, batch, out),
          );
          batch.forEach((p, i) => p.resolve(out[i] as Receipt[]));
          // Only key changes make the cached keyring stale (they also bump the head's key_epoch, which load() checks).
          if (batch.some((p) => p.options.atCommit || p.options.mutations?.some(isKeyMutation))) this.keyring.invalidate(tenant);
          this.options.onAppended?.(tenant, head);
          if (this.options.onReceipts) {
            try {
              this.options.onReceipts(tenant, out.flat());
            } catch {
              // A listener's fault must not turn a committed append into a failure.
            }
          }
          return head;
        } catch (err) {
          // Another process changed the keys: reload and rebuild (nothing was written).
          if (err instanceof StaleKeys && attempt < 3) {
            keys = await this.keyring.load(tenant, { refresh: true });
            presigned = undefined;
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      const failure =
        err instanceof WardenError ? err : new StoreError(`append failed: ${(err as Error).message}`, { cause: err });
      // A conditional state change of one caller failed the shared transaction (nothing was
      // written): commit the batch again one caller at a time, so only that caller fails.
      if (batch.length > 1 && (failure.code === 'CONFLICT' || failure.code === 'NOT_FOUND') && batch.some((p) => p.options.mutations?.some((m) => m.op === 'putRecord' && m.expectState !== undefined))) {
        let head: LogHead | undefined;
        for (const p of batch) head = (await this.#commit(tenant, [p], undefined)) ?? head;
        return head;
      }
      batch.forEach((p) => p.reject(failure));
      return undefined;
    }
  }

  #usePresigned(tenant: string, ps: Presigned, batch: Pending[], out: Receipt[][]): { rows: ReceiptRow[]; mutations: Mutation[] } {
    const rows: ReceiptRow[] = [];
    const mutations: Mutation[] = [];
    let k = 0;
    let prev = ps.base.prev;
    batch.forEach((pending, i) => {
      for (const item of pending.items) {
        const seq = ps.base.size + k;
        const f = item.fields;
        const leafHash = ps.hashes.subarray(k * 32, k * 32 + 32);
        rows.push({ seq, id: f.id, ts: ps.ts, kind: f.kind, correlation_id: f.correlation_id, leaf: ps.leaves[k] as string, leaf_hash: leafHash });
        (out[i] as Receipt[]).push({ ...f, tenant, seq, ts: ps.ts, prev, sig: { alg: 'Ed25519', kid: ps.kid, value: ps.sigs[k] as string } });
        prev = leafHash.toString('hex');
        k++;
      }
      mutations.push(...(pending.options.mutations ?? []), ...recordsOf(pending, out[i] as Receipt[]));
    });
    return { rows, mutations };
  }

  #build(tenant: string, head: LogHead, keys: TenantKeys, batch: Pending[], out: Receipt[][]): { rows: ReceiptRow[]; mutations?: Mutation[] } {
    const planned = batch[0]?.options;
    if (planned?.expectEpoch !== undefined && planned.expectEpoch !== head.key_epoch) {
      throw new WardenError('CONFLICT', 'keys were changed concurrently; retry the key operation');
    }
    if (!planned?.signer && head.key_epoch !== keys.epoch) throw new StaleKeys();
    const signer = planned?.signer ?? keys.active('receipt');
    // A receipt's ts must fall inside its key's validity window even if clocks step back.
    const now = planned?.ts ?? maxIso(new Date().toISOString(), signer.record.not_before);
    // Grouped appends bring their own state changes; a key change is always alone in its batch.
    let mutations: Mutation[] | undefined = batch.length === 1 ? planned?.mutations : batch.flatMap((p) => p.options.mutations ?? []);
    if (mutations?.length === 0) mutations = undefined;
    if (planned?.atCommit) {
      const plan = planned.atCommit(now);
      const { items, protect } = this.#prepareSync(plan.inputs, planned);
      if (protect.length) throw new WardenError('INTERNAL', 'commit-time receipts cannot carry sensitive fields');
      (batch[0] as Pending).items = items;
      mutations = plan.mutations;
    }
    let prev = head.size === 0 ? ZERO_HASH_HEX : head.last_leaf_hash.toString('hex');
    const sealer = new BatchSealer(tenant, now, signer);
    let seq = head.size;
    const rows: ReceiptRow[] = [];
    batch.forEach((pending, i) => {
      for (const item of pending.items) {
        const { leaf, leafHash, sig } = sealer.seal(item.statement, prev, seq);
        const f = item.fields;
        rows.push({ seq, id: f.id, ts: now, kind: f.kind, correlation_id: f.correlation_id, leaf, leaf_hash: leafHash });
        (out[i] as Receipt[]).push({ ...f, tenant, seq, ts: now, prev, sig });
        prev = leafHash.toString('hex');
        seq++;
      }
      const records = recordsOf(pending, out[i] as Receipt[]);
      if (records.length) mutations = [...(mutations ?? []), ...records];
    });
    return mutations ? { rows, mutations } : { rows };
  }
}

/**
 * Whether an append may share a transaction with others: plain receipts, and receipts with
 * state-record changes (`putRecord`, conditional or not). Key changes, fixed signers or
 * timestamps commit alone. A conditional change that fails aborts the shared transaction;
 * the batch is then committed again one append at a time, so only that caller fails.
 */
function groupable(p: Pending | undefined): boolean {
  const o = p?.options;
  return !!o && !o.signer && !o.atCommit && o.expectEpoch === undefined && o.ts === undefined && (o.mutations ?? []).every((m) => m.op === 'putRecord');
}

/** Batches smaller than this sign inline: a thread round trip would only add latency. */
const PRESIGN_MIN = 32;

interface InFlight {
  batch: Pending[];
  signing?: Promise<Presigned>;
}

function matches(h: LogHead, base: PredictedHead): boolean {
  return h.size === base.size && h.key_epoch === base.epoch && h.last_leaf_hash.toString('hex') === base.prev;
}

function advance(p: Presigned): PredictedHead {
  const n = p.leaves.length;
  return { size: p.base.size + n, prev: p.hashes.subarray((n - 1) * 32, n * 32).toString('hex'), epoch: p.base.epoch };
}

function maxIso(a: string, b: string): string {
  return a >= b ? a : b;
}
