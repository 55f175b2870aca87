/**
 * Size and shape limits for any JSON value an agent sends (tool arguments, request bodies).
 *
 * Threat: a value built to exhaust the gateway — 100k-deep nesting that overflows a recursive
 * walker, a million keys, a 1 GB string. The walk here is iterative (an explicit stack, so
 * depth costs heap, not call stack) and stops at the first limit crossed, so the work done on
 * a hostile value is bounded by the limits, not by the value.
 */
import type { Finding } from '../findings.js';

export interface JsonLimits {
  /** Approximate UTF-8 size of the value serialised as JSON. */
  maxBytes: number;
  /** Nesting depth; a scalar at top level has depth 0. */
  maxDepth: number;
  /** Keys over all objects in the value. */
  maxKeys: number;
  /** Elements of any one array. */
  maxArrayLength: number;
  /** Characters of any one string (keys included). */
  maxStringLength: number;
  /** Nodes (values) visited in total; bounds the walk itself. */
  maxNodes: number;
}

export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = {
  maxBytes: 1 << 20,
  maxDepth: 32,
  maxKeys: 10_000,
  maxArrayLength: 10_000,
  maxStringLength: 256 * 1024,
  maxNodes: 100_000,
};

/** What the walk saw before it stopped: evidence for the finding and for tests. */
export interface JsonShape {
  bytes: number;
  depth: number;
  keys: number;
  nodes: number;
}

export interface LimitCheck {
  ok: boolean;
  finding?: Finding;
  shape: JsonShape;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

function over(kind: string, message: string, path: string, shape: JsonShape): LimitCheck {
  return { ok: false, shape, finding: { detector: 'validation', type: `limit_${kind}`, severity: 'medium', path, message } };
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Checks a JSON value against limits without recursion. Non-JSON values (functions, symbols,
 * bigint, class instances other than plain objects and arrays) count as violations: the
 * input is supposed to be parsed JSON, and anything else is a sign it is not.
 *
 * @example
 * ```ts
 * const r = checkJsonLimits(JSON.parse(body), { maxDepth: 8 });
 * if (!r.ok) reject(r.finding!.message);
 * ```
 */
export function checkJsonLimits(value: unknown, limits: Partial<JsonLimits> = {}): LimitCheck {
  const l = { ...DEFAULT_JSON_LIMITS, ...limits };
  const shape: JsonShape = { bytes: 0, depth: 0, keys: 0, nodes: 0 };
  // Paths are built lazily from parent links so the happy path allocates no strings.
  const stack: Array<{ v: unknown; depth: number; parent: number; key: string }> = [{ v: value, depth: 0, parent: -1, key: '' }];
  const trail: Array<{ parent: number; key: string }> = [];
  const pathOf = (index: number): string => {
    const parts: string[] = [];
    for (let i = index; i >= 0; i = trail[i]?.parent ?? -1) parts.push(escapePointer(trail[i]?.key ?? ''));
    parts.pop(); // the root's empty key
    return parts.length === 0 ? '' : `/${parts.reverse().join('/')}`;
  };
  while (stack.length > 0) {
    const item = stack.pop() as { v: unknown; depth: number; parent: number; key: string };
    const self = trail.push({ parent: item.parent, key: item.key }) - 1;
    shape.nodes++;
    if (shape.nodes > l.maxNodes) return over('nodes', `the value has more than ${l.maxNodes} nodes`, pathOf(self), shape);
    if (item.depth > shape.depth) shape.depth = item.depth;
    if (item.depth > l.maxDepth) return over('depth', `the value is nested deeper than ${l.maxDepth} levels`, pathOf(self), shape);
    const v = item.v;
    if (v === null || typeof v === 'boolean') shape.bytes += v === true ? 4 : 5;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return over('type', 'the value contains a non-finite number', pathOf(self), shape);
      shape.bytes += 24; // upper bound of a double's JSON text
    } else if (typeof v === 'string') {
      if (v.length > l.maxStringLength) return over('string_length', `a string is longer than ${l.maxStringLength} characters`, pathOf(self), shape);
      shape.bytes += utf8Length(v) + 2;
    } else if (Array.isArray(v)) {
      if (v.length > l.maxArrayLength) return over('array_length', `an array has more than ${l.maxArrayLength} elements`, pathOf(self), shape);
      shape.bytes += 2 + v.length;
      // Pending work counts against the node budget, so wide arrays cannot grow the stack unboundedly.
      if (shape.nodes + stack.length + v.length > l.maxNodes) return over('nodes', `the value has more than ${l.maxNodes} nodes`, pathOf(self), shape);
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], depth: item.depth + 1, parent: self, key: String(i) });
    } else if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
      const keys = Object.keys(v);
      shape.keys += keys.length;
      if (shape.keys > l.maxKeys) return over('keys', `the value has more than ${l.maxKeys} keys`, pathOf(self), shape);
      shape.bytes += 2;
      if (shape.nodes + stack.length + keys.length > l.maxNodes) return over('nodes', `the value has more than ${l.maxNodes} nodes`, pathOf(self), shape);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i] as string;
        if (k.length > l.maxStringLength) return over('string_length', `a key is longer than ${l.maxStringLength} characters`, pathOf(self), shape);
        shape.bytes += utf8Length(k) + 4;
        stack.push({ v: (v as Record<string, unknown>)[k], depth: item.depth + 1, parent: self, key: k });
      }
    } else {
      return over('type', `the value contains a ${typeof v} that JSON cannot hold`, pathOf(self), shape);
    }
    if (shape.bytes > l.maxBytes) return over('bytes', `the value is larger than ${l.maxBytes} bytes`, pathOf(self), shape);
  }
  return { ok: true, shape };
}
