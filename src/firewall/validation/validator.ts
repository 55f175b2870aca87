/**
 * Input validation for tool calls: size and shape limits, the tool's JSON Schema, then WAF
 * checks on the fields marked for them — in that order, so nothing expensive runs on a value
 * that is already too big (validate before you compute).
 *
 * Fields are marked either in the schema (`"x-warden-checks": ["sql"]` on a property) or by a
 * map of JSON pointers (`{ "/query": ["sql"], "/files/*": ["path"] }`; `*` is one segment).
 */
import type { Finding, ScanResult } from '../findings.js';
import { BadInputError } from '../../errors.js';
import { checkJsonLimits, type JsonLimits, type JsonShape } from './limits.js';
import { runChecks, CHECK_KINDS, type CheckKind } from './checks.js';
import { SchemaCompiler, type CompiledSchema } from './schema.js';

export interface ToolInputSpec {
  /** JSON Schema of the tool's arguments (draft-07 / 2019-09 as ajv supports); compiled once. */
  schema?: object;
  /** JSON pointer → checks to run on the string(s) there; `*` matches any key or index. */
  checks?: Readonly<Record<string, readonly CheckKind[]>>;
  /** Roots under which absolute paths pass the `path` check (overrides the validator's). */
  allowedRoots?: readonly string[];
  /** Limits for this tool (over the validator's). */
  limits?: Partial<JsonLimits>;
}

export interface InputValidatorOptions {
  tools?: Readonly<Record<string, ToolInputSpec>>;
  limits?: Partial<JsonLimits>;
  allowedRoots?: readonly string[];
  /** Largest schema accepted, as canonical JSON bytes. Default 64 KiB. */
  maxSchemaBytes?: number;
  /** A tool without a spec: checked against the limits only (default), or refused. */
  unknownTools?: 'limits_only' | 'deny';
}

export interface ValidationResult extends ScanResult {
  /** No findings: the arguments may be used. */
  valid: boolean;
  /** What the limit walk measured (bytes, depth, keys, nodes). */
  shape: JsonShape;
}

export interface InputValidator {
  validate(tool: string, args: unknown): ValidationResult;
  /** Adds or replaces a tool's spec; a bad schema is a BadInputError and leaves the old spec in place. */
  register(tool: string, spec: ToolInputSpec): void;
}

interface Prepared {
  spec: ToolInputSpec;
  schema?: CompiledSchema;
  pointers: Array<{ segments: string[]; kinds: readonly CheckKind[] }>;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new BadInputError(`"${pointer}" is not a JSON pointer`);
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const escape = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Every string at or under `value`, with its pointer; iterative, and the limits already bound it. */
function stringLeaves(value: unknown, base: string): Array<{ text: string; path: string }> {
  const out: Array<{ text: string; path: string }> = [];
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: base }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: string };
    if (typeof v === 'string') out.push({ text: v, path });
    else if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: `${path}/${i}` }));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: `${path}/${escape(k)}` });
  }
  return out;
}

/** Values addressed by a pointer whose segments may be `*`. */
function resolvePointer(root: unknown, segments: readonly string[]): Array<{ v: unknown; path: string }> {
  let current: Array<{ v: unknown; path: string }> = [{ v: root, path: '' }];
  for (const seg of segments) {
    const next: Array<{ v: unknown; path: string }> = [];
    for (const { v, path } of current) {
      if (v === null || typeof v !== 'object') continue;
      const entries: Array<[string, unknown]> = seg === '*' ? Object.entries(v) : Object.hasOwn(v, seg) ? [[seg, (v as Record<string, unknown>)[seg]]] : [];
      for (const [k, x] of entries) next.push({ v: x, path: `${path}/${escape(k)}` });
    }
    current = next;
  }
  return current;
}

/**
 * Creates a validator for tool-call arguments.
 *
 * @example
 * ```ts
 * const validator = createInputValidator({
 *   tools: {
 *     'db.query': { schema: { type: 'object', properties: { sql: { type: 'string', 'x-warden-checks': ['sql'] } }, required: ['sql'], additionalProperties: false } },
 *     'fs.read': { checks: { '/path': ['path'] }, allowedRoots: ['/srv/data'] },
 *   },
 * });
 * const r = validator.validate('fs.read', { path: '../../etc/passwd' });
 * r.valid; // false — r.findings[0].type === 'path_traversal'
 * ```
 */
export function createInputValidator(options: InputValidatorOptions = {}): InputValidator {
  const compiler = new SchemaCompiler(options.maxSchemaBytes === undefined ? {} : { maxSchemaBytes: options.maxSchemaBytes });
  const tools = new Map<string, Prepared>();

  function prepare(spec: ToolInputSpec): Prepared {
    const pointers = Object.entries(spec.checks ?? {}).map(([pointer, kinds]) => {
      for (const k of kinds) if (!CHECK_KINDS.includes(k)) throw new BadInputError(`unknown check "${String(k)}" for ${pointer}`);
      return { segments: parsePointer(pointer), kinds };
    });
    return spec.schema === undefined ? { spec, pointers } : { spec, pointers, schema: compiler.compile(spec.schema) };
  }

  for (const [name, spec] of Object.entries(options.tools ?? {})) tools.set(name, prepare(spec));

  function result(findings: Finding[], shape: JsonShape): ValidationResult {
    const valid = findings.length === 0;
    return { valid, flagged: !valid, score: valid ? 0 : 1, findings, shape };
  }

  function validate(tool: string, args: unknown): ValidationResult {
    const prepared = tools.get(tool);
    const limits = { ...options.limits, ...prepared?.spec.limits };
    const limitCheck = checkJsonLimits(args, limits);
    if (!limitCheck.ok) return result(limitCheck.finding ? [limitCheck.finding] : [], limitCheck.shape);
    if (!prepared) {
      if (options.unknownTools !== 'deny') return result([], limitCheck.shape);
      return result([{ detector: 'validation', type: 'unknown_tool', severity: 'medium', message: `no input specification for tool "${tool.slice(0, 100)}"` }], limitCheck.shape);
    }
    const roots = prepared.spec.allowedRoots ?? options.allowedRoots;
    const checkOptions = roots ? { allowedRoots: roots } : {};
    const findings: Finding[] = [];
    const check = (kinds: readonly CheckKind[], value: unknown, path: string): void => {
      for (const leaf of stringLeaves(value, path)) findings.push(...runChecks(kinds, leaf.text, leaf.path, checkOptions));
    };
    if (prepared.schema) {
      const marked: Array<{ kinds: readonly CheckKind[]; data: unknown; path: string }> = [];
      const outcome = prepared.schema.validate(args, (kinds, data, path) => marked.push({ kinds, data, path }));
      if (!outcome.valid) {
        const e = outcome.error;
        return result([{ detector: 'validation', type: 'schema_violation', severity: 'medium', path: e?.instancePath ?? '', message: e?.message ?? 'the arguments do not match the schema' }], limitCheck.shape);
      }
      for (const m of marked) check(m.kinds, m.data, m.path);
    }
    for (const p of prepared.pointers) for (const hit of resolvePointer(args, p.segments)) check(p.kinds, hit.v, hit.path);
    return result(dedupe(findings), limitCheck.shape);
  }

  return {
    validate,
    register(tool, spec) {
      tools.set(tool, prepare(spec));
    },
  };
}

/** A field marked both in the schema and in the pointer map reports each hit once. */
function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.type}\u0000${f.path ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
