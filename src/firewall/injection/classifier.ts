/**
 * Optional remote classifier (a Prompt Guard / LLM Guard style server): `POST {text}` →
 * `{score}` in 0–1. The server is a dependency that can be slow, down or wrong, so every call
 * has a timeout that covers the whole exchange, a cap on the response size (read as a stream
 * and cut off, never buffered whole), no redirects, and strict validation of the answer. Any
 * failure is an outcome, not an exception: the caller keeps the local score and says so.
 */
import { ConfigError } from '../../errors.js';
import { readCapped } from '../../net/read-capped.js';

export interface ClassifierOptions {
  /** `http:` or `https:` URL of the endpoint. */
  url: string;
  /** Whole-request timeout. Default 2,000 ms. */
  timeoutMs?: number;
  /** Largest response body accepted. Default 16 KiB. */
  maxResponseBytes?: number;
  /** Characters of the input sent (classifiers have short contexts). Default 64 Ki. */
  maxRequestChars?: number;
  /** Extra request headers, e.g. an API key. */
  headers?: Readonly<Record<string, string>>;
  /**
   * How the remote score combines with the local one. `max` (default) never lowers the local
   * score; `weighted` is `weight × remote + (1 − weight) × local` and lets a trusted model
   * clear a local false positive.
   */
  combine?: 'max' | 'weighted';
  /** Weight of the remote score in `weighted` mode, 0–1. Default 0.5. */
  weight?: number;
}

export interface ResolvedClassifier {
  url: URL;
  timeoutMs: number;
  maxResponseBytes: number;
  maxRequestChars: number;
  headers: Record<string, string>;
  combine: 'max' | 'weighted';
  weight: number;
}

export type ClassifierOutcome = { ok: true; score: number } | { ok: false; reason: string };

export function resolveClassifier(o: ClassifierOptions): ResolvedClassifier {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch (cause) {
    throw new ConfigError('injection classifier: url is not a URL', { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('injection classifier: url must be http: or https:');
  const num = (name: string, v: number | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new ConfigError(`injection classifier: ${name} out of range`);
    return v;
  };
  const combine = o.combine ?? 'max';
  if (combine !== 'max' && combine !== 'weighted') throw new ConfigError('injection classifier: combine must be "max" or "weighted"');
  return {
    url,
    timeoutMs: num('timeoutMs', o.timeoutMs, 2000),
    maxResponseBytes: num('maxResponseBytes', o.maxResponseBytes, 16_384),
    maxRequestChars: num('maxRequestChars', o.maxRequestChars, 65_536),
    headers: { ...(o.headers ?? {}) },
    combine,
    weight: num('weight', o.weight, 0.5, 1),
  };
}

/** Call the classifier once. Never throws. */
export async function callClassifier(c: ResolvedClassifier, text: string): Promise<ClassifierOutcome> {
  const signal = AbortSignal.timeout(c.timeoutMs);
  try {
    const res = await fetch(c.url, {
      method: 'POST',
      headers: { ...c.headers, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ text: text.length > c.maxRequestChars ? text.slice(0, c.maxRequestChars) : text }),
      redirect: 'error',
      signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, reason: `HTTP ${res.status}` };
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > c.maxResponseBytes) {
      await res.body?.cancel();
      return { ok: false, reason: `response larger than ${c.maxResponseBytes} bytes` };
    }
    const body = await readCapped(res, c.maxResponseBytes);
    if (body === undefined) return { ok: false, reason: `response larger than ${c.maxResponseBytes} bytes` };
    return parseScore(body);
  } catch (err) {
    if (signal.aborted) return { ok: false, reason: `timed out after ${c.timeoutMs} ms` };
    return { ok: false, reason: `request failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The answer is attacker-influenced (it scored attacker text): accept only `{score: 0..1}`. */
function parseScore(body: string): ClassifierOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'response is not JSON' };
  }
  const score = typeof parsed === 'object' && parsed !== null ? (parsed as { score?: unknown }).score : undefined;
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) return { ok: false, reason: 'response has no score between 0 and 1' };
  return { ok: true, score };
}

/** Combine the local and remote scores as configured. */
export function combineScores(c: ResolvedClassifier, local: number, remote: number): number {
  const v = c.combine === 'max' ? Math.max(local, remote) : c.weight * remote + (1 - c.weight) * local;
  return Math.round(v * 1e4) / 1e4;
}
