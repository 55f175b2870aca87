/**
 * Structured input as one text: every string (and every long integer — a card number sent as
 * a JSON number is still a card number) of a JSON value becomes a segment of one joined text,
 * separated by newlines that no detector matches across. Detectors then run once over the
 * joined text instead of once per string, and spans are mapped back to (JSON pointer, offset).
 *
 * The walk is iterative and bounded: a value too large or too deep to cover is marked
 * incomplete — and the scanner turns "incomplete" into a finding, so it fails closed.
 */

export interface Segment {
  /** JSON pointer of the value; `undefined` when the input was a plain string. */
  path: string | undefined;
  /** Offsets in the joined text. */
  start: number;
  end: number;
}

export interface SegmentedText {
  text: string;
  segments: Segment[];
  /** Strings (and numbers) included. */
  values: number;
  /** Something was left out: too many nodes, too many characters, or a non-JSON value. */
  incomplete: boolean;
}

export interface SegmentLimits {
  maxChars: number;
  maxNodes: number;
}

export const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

export function parsePointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Builds the joined text of a string or JSON value. */
export function segment(input: unknown, limits: SegmentLimits): SegmentedText {
  if (typeof input === 'string') {
    const incomplete = input.length > limits.maxChars;
    const text = incomplete ? input.slice(0, limits.maxChars) : input;
    return { text, segments: [{ path: undefined, start: 0, end: text.length }], values: 1, incomplete };
  }
  const parts: string[] = [];
  const segments: Segment[] = [];
  let offset = 0;
  let nodes = 0;
  let incomplete = false;
  const stack: Array<{ v: unknown; path: string }> = [{ v: input, path: '' }];
  const add = (s: string, path: string): void => {
    if (offset + s.length > limits.maxChars) {
      incomplete = true;
      return;
    }
    parts.push(s);
    segments.push({ path, start: offset, end: offset + s.length });
    offset += s.length + 1;
  };
  while (stack.length > 0 && !incomplete) {
    const { v, path } = stack.pop() as { v: unknown; path: string };
    if (++nodes > limits.maxNodes) {
      incomplete = true;
      break;
    }
    if (typeof v === 'string') add(v, path);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && Math.abs(v) >= 1e6) add(String(v), path);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}/${i}` });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i] as string;
        stack.push({ v: (v as Record<string, unknown>)[k], path: `${path}/${escapePointer(k)}` });
      }
    } else if (v !== null && typeof v !== 'boolean' && v !== undefined) {
      incomplete = true; // bigint, symbol, function: not JSON
    }
  }
  return { text: parts.join('\n'), segments, values: segments.length, incomplete };
}

/** The segment containing joined-text offset `at` (binary search). */
export function segmentAt(segments: readonly Segment[], at: number): Segment | undefined {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segments[mid] as Segment;
    if (at < s.start) hi = mid - 1;
    else if (at >= s.end && !(s.start === s.end && at === s.start)) lo = mid + 1;
    else return s;
  }
  return undefined;
}
