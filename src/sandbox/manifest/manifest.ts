/**
 * Parsing, validation and digests of agent manifests. The manifest text is attacker-influenced
 * (it ships with an agent), so parsing is bounded: at most 64 KiB, one YAML 1.2 document, no
 * duplicate keys (two parsers must not disagree about which value counts), few aliases (no
 * "billion laughs"), and every problem is reported at once with the field it concerns.
 */
import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { BadInputError } from '../../errors.js';
import { jcs } from '../../crypto/jcs.js';
import { protectedForms } from './paths.js';
import { manifestSchema, type Manifest } from './schema.js';

export const MAX_MANIFEST_BYTES = 64 * 1024;

export interface ManifestOptions {
  /** Warden's data directory: no grant may be, contain or lie inside it. */
  dataDir?: string;
  /** Further paths no grant may touch (a master key or database kept outside the data directory). */
  protectedPaths?: readonly string[];
}

/** One problem: `path` in the dotted form used in messages (`permissions.fs.write[0]`). */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** A manifest that did not parse or validate; `issues` lists every problem found. */
export class ManifestError extends BadInputError {
  readonly issues: readonly ManifestIssue[];
  constructor(issues: readonly ManifestIssue[]) {
    super(`invalid agent manifest:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.issues = issues;
    this.name = 'ManifestError';
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out === '' ? '(manifest)' : out;
}

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `a ${typeof input}`;
}

/** Messages for zod's built-in issues (schema-level messages take precedence). */
function errorMap(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return 'is required';
    const expected = issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
    return `expected ${expected}, got ${describe(issue.input)}`;
  }
  if (issue.code === 'invalid_union') return 'has the wrong type';
  return undefined;
}

function issuesOf(error: z.ZodError): ManifestIssue[] {
  const out: ManifestIssue[] = [];
  for (const i of error.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) out.push({ path: formatPath([...i.path, key]), message: 'unknown field' });
    } else {
      out.push({ path: formatPath(i.path), message: i.message });
    }
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates an already-parsed manifest value (from JSON over the API, say).
 * Throws {@link ManifestError} (a BadInputError) listing every problem.
 */
export function validateManifest(value: unknown, options: ManifestOptions = {}): Manifest {
  const protectedPaths = protectedForms([...(options.dataDir !== undefined ? [options.dataDir] : []), ...(options.protectedPaths ?? [])]);
  const result = manifestSchema(protectedPaths).safeParse(value, { error: errorMap });
  if (!result.success) throw new ManifestError(issuesOf(result.error));
  return deepFreeze(result.data) as Manifest;
}

/**
 * Parses and validates a manifest in YAML or JSON.
 *
 * @example
 * ```ts
 * const m = parseManifest(readFileSync('agent.yaml', 'utf8'), { dataDir: w.loaded.dataDir });
 * m.permissions.memory   // 256000000 (bytes)
 * manifestDigest(m)      // 64 hex characters, for the run's receipt
 * ```
 */
export function parseManifest(text: string, options: ManifestOptions = {}): Manifest {
  if (typeof text !== 'string') throw new ManifestError([{ path: '(manifest)', message: 'expected text' }]);
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES) {
    throw new ManifestError([{ path: '(manifest)', message: `larger than ${MAX_MANIFEST_BYTES} bytes` }]);
  }
  const doc = parseDocument(text, { version: '1.2', schema: 'core', uniqueKeys: true, strict: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ManifestError(doc.errors.map((e) => ({ path: '(manifest)', message: `YAML: ${e.message.split('\n')[0] ?? e.code}` })));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 20 });
  } catch (err) {
    throw new ManifestError([{ path: '(manifest)', message: `YAML: ${(err as Error).message}` }]);
  }
  return validateManifest(value, options);
}

/** The canonical text of a manifest: RFC 8785 JSON of its normalised form. */
export function canonicalManifest(m: Manifest): string {
  return jcs(m);
}

/**
 * SHA-256 (lower-case hex) of {@link canonicalManifest}: what a sandbox run's receipt records,
 * so an auditor can tell exactly which permissions a tool ran with. Key order, units and list
 * order in the source do not change it; any change of a permission does.
 */
export function manifestDigest(m: Manifest): string {
  return createHash('sha256').update(canonicalManifest(m), 'utf8').digest('hex');
}
