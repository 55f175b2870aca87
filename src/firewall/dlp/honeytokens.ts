/**
 * Honeytokens: canary credentials Warden plants in tool contexts. Nothing legitimate ever
 * uses them, so their appearance in outbound data means an agent is exfiltrating what it was
 * shown — a critical finding regardless of policy.
 *
 * Generated canaries carry a truncated HMAC under a Warden key in their last characters, so
 * they look like ordinary credentials to anyone without the key (an AWS key id is AKIA + 16
 * base32 characters either way) while Warden can recognise its own canaries even if the
 * registry of planted values was lost. Matching is one pass: token-like runs are cut out of
 * the text with one regex, and each candidate is a Map lookup.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { KeyError, BadInputError } from '../../errors.js';
import { PRIORITY, type RawMatch } from './match.js';

export type HoneytokenKind = 'aws_access_key' | 'aws_secret_key' | 'api_token' | 'custom';

export interface HoneytokenRecord {
  id: string;
  kind: HoneytokenKind;
  /** Where it was planted (an agent, a tool, a document), for the operator. */
  label?: string;
  /** The canary itself: secret-ish (do not log it next to the label). */
  value: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Characters a planted value may consist of: what the candidate regex below cuts text into. */
const TOKEN_VALUE = /^[A-Za-z0-9_+/=-]{12,512}$/;
const SEPARATORS = new Set(['_', '-', '+', '/', '=']);

function encode(bytes: Uint8Array, alphabet: string): string {
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

export interface HoneytokenMatch {
  start: number;
  end: number;
  /** The registered record, or `undefined` for a canary recognised by its HMAC only. */
  record: HoneytokenRecord | undefined;
  /** Found inside a base64 blob (the span then covers the blob). */
  encoded: boolean;
}

/**
 * The set of planted canaries. `key` (32+ bytes) makes generated canaries recognisable to
 * Warden only; keep it with the tenant's keys.
 *
 * @example
 * ```ts
 * const set = new HoneytokenSet(tenantHoneytokenKey);
 * const { accessKeyId, secretAccessKey } = set.generateAwsKey('agent-7 ~/.aws/credentials');
 * const scanner = createDlpScanner({ honeytokens: set });
 * ```
 */
export class HoneytokenSet {
  readonly #key: Buffer;
  readonly #byValue = new Map<string, HoneytokenRecord>();
  readonly #lengths = new Set<number>();
  /** First three characters of every registered value: most candidate positions fail here. */
  readonly #heads = new Set<string>();
  readonly #apiPrefix: string;

  constructor(key: Buffer, options: { apiTokenPrefix?: string } = {}) {
    if (key.length < 32) throw new KeyError('the honeytoken key must be at least 32 bytes');
    this.#key = Buffer.from(key);
    this.#apiPrefix = options.apiTokenPrefix ?? 'sk-';
    if (!/^[A-Za-z0-9_-]{2,12}$/.test(this.#apiPrefix)) throw new BadInputError('the API token prefix must be 2–12 token characters');
  }

  #mac(domain: string, body: string, alphabet: string, length: number): string {
    return encode(createHmac('sha256', this.#key).update(`warden-honeytoken/${domain}\u0000${body}`).digest().subarray(0, length), alphabet);
  }

  /** An AWS-looking key pair; both halves are registered. */
  generateAwsKey(label?: string): { accessKeyId: string; secretAccessKey: string; records: HoneytokenRecord[] } {
    const body = encode(randomBytes(10), BASE32);
    const accessKeyId = `AKIA${body}${this.#mac('aws', body, BASE32, 6)}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const records = [this.register(accessKeyId, { kind: 'aws_access_key', ...(label === undefined ? {} : { label }) }), this.register(secretAccessKey, { kind: 'aws_secret_key', ...(label === undefined ? {} : { label }) })];
    return { accessKeyId, secretAccessKey, records };
  }

  /** A generic API token, `<prefix><32 random><8 HMAC>` in base62. */
  generateApiToken(label?: string): HoneytokenRecord {
    const body = encode(randomBytes(32), BASE62);
    return this.register(`${this.#apiPrefix}${body}${this.#mac('api', body, BASE62, 8)}`, { kind: 'api_token', ...(label === undefined ? {} : { label }) });
  }

  /** Registers a value (a restored canary, or one made elsewhere). It must be a single token of 12–512 characters. */
  register(value: string, meta: { kind?: HoneytokenKind; label?: string; id?: string } = {}): HoneytokenRecord {
    if (!TOKEN_VALUE.test(value)) throw new BadInputError('a honeytoken must be 12–512 characters of [A-Za-z0-9_+/=-]');
    const record: HoneytokenRecord = { id: meta.id ?? `ht_${randomUUID()}`, kind: meta.kind ?? 'custom', value, ...(meta.label === undefined ? {} : { label: meta.label }) };
    this.#byValue.set(value, record);
    this.#lengths.add(value.length);
    this.#heads.add(value.slice(0, 3));
    return record;
  }

  get size(): number {
    return this.#byValue.size;
  }

  records(): HoneytokenRecord[] {
    return [...this.#byValue.values()];
  }

  /** Whether `value` is a canary this key generated, registered or not. */
  isCanary(value: string): boolean {
    if (/^AKIA[A-Z2-7]{16}$/.test(value)) return this.#mac('aws', value.slice(4, 14), BASE32, 6) === value.slice(14);
    const p = this.#apiPrefix;
    if (value.length === p.length + 40 && value.startsWith(p) && /^[A-Za-z0-9]{40}$/.test(value.slice(p.length))) {
      const body = value.slice(p.length, p.length + 32);
      return this.#mac('api', body, BASE62, 8) === value.slice(p.length + 32);
    }
    return false;
  }

  #lookup(run: string, runStart: number, out: HoneytokenMatch[], encoded: { start: number; end: number } | undefined, budget: { hmacs: number }): void {
    // Candidate starts: the run's start and every position after a separator inside it.
    for (let i = 0; i < run.length; i++) {
      if (i > 0 && !SEPARATORS.has(run[i - 1] as string)) continue;
      if (!this.#heads.has(run.slice(i, i + 3)) && !run.startsWith('AKIA', i) && !run.startsWith(this.#apiPrefix, i)) continue;
      for (const len of this.#lengths) {
        const cand = run.slice(i, i + len);
        const record = this.#byValue.get(cand);
        if (record) {
          const span = encoded ?? { start: runStart + i, end: runStart + i + len };
          out.push({ ...span, record, encoded: encoded !== undefined });
          return;
        }
      }
      // Unregistered canaries: bounded HMAC work per scan so a flood of look-alikes costs little.
      for (const len of [20, this.#apiPrefix.length + 40]) {
        const cand = run.slice(i, i + len);
        if (cand.length === len && budget.hmacs > 0 && (cand.startsWith('AKIA') || cand.startsWith(this.#apiPrefix))) {
          budget.hmacs--;
          if (this.isCanary(cand)) {
            out.push({ ...(encoded ?? { start: runStart + i, end: runStart + i + len }), record: undefined, encoded: encoded !== undefined });
            return;
          }
        }
      }
    }
  }

  /** Every canary in `text`, plain or inside one layer of base64. */
  match(text: string): HoneytokenMatch[] {
    const out: HoneytokenMatch[] = [];
    const budget = { hmacs: 10_000 };
    // Runs are cut at 4,096 characters (V8 cannot match unbounded runs of many MB); a cut run
    // resumes 512 characters back so a canary (at most 512 long) straddling the cut is still seen.
    const runs = /[A-Za-z0-9_+/=-]{12,4096}/g;
    for (let m = runs.exec(text); m; m = runs.exec(text)) {
      this.#lookup(m[0], m.index, out, undefined, budget);
      if (m[0].length === 4096) runs.lastIndex = m.index + 4096 - 512;
    }
    // A canary base64-encoded (an agent "hiding" it in an encoded blob) is still the canary.
    // Blobs are cut without "=" inside (padding only at the end), so `key=<blob>` decodes right.
    const blobs = /[A-Za-z0-9+/_-]{24,65536}={0,2}/g;
    for (let m = blobs.exec(text); m; m = blobs.exec(text)) {
      const decoded = Buffer.from(m[0].replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1');
      const inner = /[A-Za-z0-9_+/=-]{12,4096}/g;
      for (let d = inner.exec(decoded); d; d = inner.exec(decoded)) {
        const n = out.length;
        this.#lookup(d[0], 0, out, { start: m.index, end: m.index + m[0].length }, budget);
        if (out.length > n) break;
      }
    }
    return out;
  }

  /** Honeytoken matches as raw DLP matches. */
  detect(text: string, out: RawMatch[]): HoneytokenMatch[] {
    const found = this.match(text);
    for (const f of found) out.push({ type: 'honeytoken', category: 'honeytoken', severity: 'critical', start: f.start, end: f.end, priority: PRIORITY.honeytoken });
    return found;
  }
}
