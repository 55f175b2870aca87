/**
 * Per-tool JSON Schema compilation with ajv: strict mode, first error only (allErrors off —
 * a rejected call needs one reason, not a list an attacker can make arbitrarily long), and a
 * cache keyed by the SHA-256 of the schema's canonical JSON so a schema shared by many tools,
 * or re-registered on every MCP `tools/list`, is compiled once.
 *
 * Threat: tool schemas may come from a remote MCP server, so they are untrusted input. Ajv
 * compiles schemas to code; we bound their size before compiling, and refuse `pattern`s whose
 * shape invites catastrophic backtracking (a quantified group that itself contains a quantifier).
 */
import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { BadInputError } from '../../errors.js';
import { jcs } from '../../crypto/jcs.js';
import { CHECK_KINDS, type CheckKind } from './checks.js';

/** The schema keyword that marks fields for WAF checks: `"x-warden-checks": ["sql", "xss"]`. */
export const CHECKS_KEYWORD = 'x-warden-checks';

/** Called by compiled validators when data reaches a field carrying {@link CHECKS_KEYWORD}. */
export type CheckSink = (kinds: readonly CheckKind[], data: unknown, instancePath: string) => void;

export interface CompiledSchema {
  hash: string;
  /** Validates `data`; checks marked in the schema are reported to `sink` as they are reached. */
  validate(data: unknown, sink: CheckSink): { valid: boolean; error?: { instancePath: string; message: string } };
}

export const DEFAULT_MAX_SCHEMA_BYTES = 64 * 1024;

/** Formats accepted without checking: ajv-formats is not a dependency, and strict mode refuses unknown formats. */
const PERMISSIVE_FORMATS = ['date-time', 'date', 'time', 'email', 'uri', 'uri-reference', 'url', 'uuid', 'hostname', 'ipv4', 'ipv6', 'regex', 'byte', 'int32', 'int64', 'float', 'double', 'password', 'binary'];

/**
 * Heuristic for regexes that can backtrack exponentially: a group that contains a quantifier
 * and is itself quantified, e.g. `(a+)+`, `(\w*x?)*`, `(a|aa){2,}`. One pass with a stack.
 */
export function hasNestedQuantifier(source: string): boolean {
  // One frame per open group: whether something inside it repeats.
  const frames: boolean[] = [false];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      while (i + 1 < source.length && source[i + 1] !== ']') i += source[i + 1] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      frames.push(false);
    } else if (c === ')') {
      const innerRepeats = frames.pop() ?? false;
      const next = source[i + 1];
      const repeated = next === '*' || next === '+' || next === '{';
      if (innerRepeats && repeated) return true;
      const top = frames.length - 1;
      if (top >= 0) frames[top] = (frames[top] ?? false) || innerRepeats || repeated;
    } else if (c === '*' || c === '+' || c === '{') {
      frames[frames.length - 1] = true;
    }
  }
  return false;
}

export class SchemaCompiler {
  readonly #ajv: Ajv;
  readonly #cache = new Map<string, CompiledSchema>();
  readonly #maxBytes: number;
  /** Set for the duration of one synchronous validate call; ajv keyword code reports into it. */
  #sink: CheckSink | undefined;

  constructor(options: { maxSchemaBytes?: number } = {}) {
    this.#maxBytes = options.maxSchemaBytes ?? DEFAULT_MAX_SCHEMA_BYTES;
    this.#ajv = new Ajv({ strict: true, allErrors: false, logger: false, validateFormats: true, formats: Object.fromEntries(PERMISSIVE_FORMATS.map((f) => [f, true])) });
    this.#ajv.addKeyword({
      keyword: CHECKS_KEYWORD,
      schemaType: 'array',
      metaSchema: { type: 'array', items: { enum: [...CHECK_KINDS] }, uniqueItems: true },
      errors: false,
      validate: (kinds: CheckKind[], data: unknown, _parent?: unknown, cxt?: { instancePath: string }) => {
        this.#sink?.(kinds, data, cxt?.instancePath ?? '');
        return true;
      },
    });
  }

  /** Compiles (or returns the cached) validator; oversize, malformed or ReDoS-prone schemas are a BadInputError. */
  compile(schema: unknown): CompiledSchema {
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new BadInputError('a tool schema must be a JSON object');
    let text: string;
    try {
      text = jcs(schema);
    } catch (err) {
      throw new BadInputError('the tool schema is not JSON', { cause: err });
    }
    if (Buffer.byteLength(text) > this.#maxBytes) throw new BadInputError(`the tool schema is larger than ${this.#maxBytes} bytes`);
    const hash = createHash('sha256').update(text).digest('hex');
    const cached = this.#cache.get(hash);
    if (cached) return cached;
    for (const pattern of collectPatterns(schema)) {
      if (hasNestedQuantifier(pattern)) throw new BadInputError(`the tool schema has a pattern prone to catastrophic backtracking: ${pattern.slice(0, 80)}`);
    }
    let fn: ValidateFunction;
    try {
      // A private copy: the caller's object could change after hashing (check-then-use).
      fn = this.#ajv.compile(JSON.parse(text) as object);
    } catch (err) {
      throw new BadInputError(`the tool schema does not compile: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const compiled: CompiledSchema = {
      hash,
      validate: (data, sink) => {
        this.#sink = sink;
        try {
          const valid = fn(data);
          if (valid) return { valid: true };
          const e = fn.errors?.[0];
          return { valid: false, error: { instancePath: e?.instancePath ?? '', message: e ? `${e.instancePath || 'the arguments'} ${e.message ?? 'is invalid'}` : 'invalid' } };
        } finally {
          this.#sink = undefined;
        }
      },
    };
    this.#cache.set(hash, compiled);
    return compiled;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }
}

/** Every `pattern` value and `patternProperties` key in a schema, collected iteratively. */
function collectPatterns(schema: object): string[] {
  const out: string[] = [];
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'pattern' && typeof v === 'string') out.push(v);
        if (k === 'patternProperties' && v && typeof v === 'object') out.push(...Object.keys(v));
        stack.push(v);
      }
    }
  }
  return out;
}
