/**
 * The agent manifest (`agent.yaml`) schema: what a sandboxed tool may reach and use. Every
 * permission defaults to the secure choice — no network, no filesystem grants, no secrets —
 * and every limit has a default and hard bounds. Unknown keys are refused at every level, so a
 * misspelt permission (`netwrok`) is an error rather than silently ignored.
 *
 * The parsed form is normalised (durations in milliseconds, sizes in bytes, hosts and lists
 * canonical and sorted) and is itself a valid manifest, so `manifestDigest` of equivalent
 * manifests is equal whatever their key order, units or list order.
 */
import { z } from 'zod';
import { AGENT_ID } from '../../identity/agents.js';
import { MAX_MANIFEST_SECRETS, SECRET_NAME, secretNameProblem } from '../../secrets/name.js';
import { MAX_ENTRY_CHARS, normaliseAllowEntry } from './network.js';
import { MAX_PATH_CHARS, absolutePathProblem, grantPathProblem } from './paths.js';
import { DURATION_HINT, DURATION_PATTERN, SIZE_HINT, SIZE_PATTERN, parseManifestDuration, parseSize } from './units.js';

export const MANIFEST_VERSION = '1.0';
export const TIERS = ['process', 'container', 'microvm', 'docker', 'auto'] as const;
export type Tier = (typeof TIERS)[number];

/** Bounds and defaults (ARCHITECTURE.md, "Sandbox tiers"). */
export const LIMITS = {
  execution_time: { min: 1_000, max: 86_400_000, default: 30_000 },
  /** Bytes: at least 16MB (16·10^6, so 16MiB is also fine), at most 64GiB (so 64GB is also fine). */
  memory: { min: 16_000_000, max: 64 * 1024 ** 3, default: 256_000_000 },
  cpu_quota: { min: 0.01, max: 64, default: 1 },
  pids: { min: 1, max: 32_768, default: 64 },
} as const;

export const MAX_ALLOW_ENTRIES = 256;
export const MAX_FS_ENTRIES = 64;

const RUNTIME_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

const sortedUnique = (list: string[]): string[] => [...new Set(list)].sort();

/** A string checked (and possibly normalised) by `check`, which returns a problem or the value. */
function checkedString(check: (s: string) => { value: string } | { error: string }) {
  return z.string().transform((s, ctx) => {
    const r = check(s);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: r.error, input: s });
      return z.NEVER;
    }
    return r.value;
  });
}

function runtimeCheck(s: string): { value: string } | { error: string } {
  if (s.startsWith('/')) {
    const problem = absolutePathProblem(s);
    if (problem !== undefined) return { error: problem };
    if (s === '/' || ['/proc', '/sys', '/dev'].some((t) => s === t || s.startsWith(`${t}/`))) return { error: 'must be a program, not a kernel or device path' };
    return { value: s };
  }
  if (!RUNTIME_NAME.test(s)) return { error: 'expected a program name such as "python3" or an absolute path such as "/usr/bin/python3"' };
  return { value: s };
}

function bounded(parse: (v: string | number) => number | undefined, hint: string, min: number, max: number, range: string) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = parse(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: hint, input: v });
      return z.NEVER;
    }
    if (n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${range}`, input: v });
      return z.NEVER;
    }
    return n;
  });
}

/**
 * The schema, for a given set of protected paths (Warden's data directory and the like, in
 * absolute form). Use `parseManifest` rather than this directly.
 */
export function manifestSchema(protectedPaths: readonly string[] = []) {
  const fsList = (mode: 'read' | 'write') =>
    z
      .array(
        checkedString((p) => {
          const problem = grantPathProblem(p, mode, protectedPaths);
          return problem === undefined ? { value: p } : { error: problem };
        }).meta({ pattern: '^/', maxLength: MAX_PATH_CHARS }),
      )
      .max(MAX_FS_ENTRIES, `at most ${MAX_FS_ENTRIES} paths`)
      .default([])
      .transform(sortedUnique)
      .describe(
        mode === 'read'
          ? 'Host paths bound read-only into the sandbox. Absolute and normalised; never /, /proc, /sys, /dev, host credentials, whole homes or Warden\'s data directory.'
          : 'Host paths bound writable into the sandbox. As `read`, and never under /bin, /boot, /etc, /lib*, /sbin or /usr.',
      );

  return z
    .object({
      version: z.literal(MANIFEST_VERSION, `expected "${MANIFEST_VERSION}" (quote it: unquoted 1.0 is a number in YAML)`).describe('Manifest format version.'),
      agent: z
        .object({
          name: z.string().regex(AGENT_ID, 'expected an agent id: 1-63 of a-z 0-9 _ . - starting with a letter or digit').describe('The agent\'s id, as registered with Warden.'),
          runtime: checkedString(runtimeCheck).meta({ pattern: `${RUNTIME_NAME.source}|^/`, maxLength: MAX_PATH_CHARS }).describe('The program the tool runs under: a name looked up in the sandbox\'s PATH ("python3") or an absolute path.'),
        })
        .strict(),
      tier: z.enum(TIERS, `expected one of ${TIERS.join(', ')}`).default('auto').describe('Sandbox tier; auto lets Warden choose by risk.'),
      permissions: z
        .object({
          network: z
            .object({
              allow: z
                .array(checkedString(normaliseAllowEntry).meta({ pattern: '^(\\*\\.)?[^*/]+$', maxLength: MAX_ENTRY_CHARS }))
                .max(MAX_ALLOW_ENTRIES, `at most ${MAX_ALLOW_ENTRIES} entries`)
                .default([])
                .transform(sortedUnique)
                .describe('Destinations reachable through Warden\'s egress proxy: host or host:port; "*." only as the whole first label. Default: none.'),
            })
            .strict()
            .prefault({}),
          fs: z.object({ read: fsList('read'), write: fsList('write') }).strict().prefault({}),
          execution_time: bounded(parseManifestDuration, DURATION_HINT, LIMITS.execution_time.min, LIMITS.execution_time.max, '1s and 24h')
            .default(LIMITS.execution_time.default)
            .meta({ pattern: DURATION_PATTERN, minimum: LIMITS.execution_time.min, maximum: LIMITS.execution_time.max })
            .describe('Wall-clock limit: a duration (30s, 5m) or milliseconds; 1s to 24h. Default 30s.'),
          memory: bounded(parseSize, SIZE_HINT, LIMITS.memory.min, LIMITS.memory.max, '16MB and 64GiB')
            .default(LIMITS.memory.default)
            .meta({ pattern: SIZE_PATTERN, minimum: LIMITS.memory.min, maximum: LIMITS.memory.max })
            .describe('Memory limit: 256MB, 1GiB (KB/MB/GB decimal, KiB/MiB/GiB binary) or bytes; 16MB to 64GiB. Default 256MB.'),
          cpu_quota: z
            .number('expected a number of CPUs such as 0.5')
            .min(LIMITS.cpu_quota.min, 'must be between 0.01 and 64')
            .max(LIMITS.cpu_quota.max, 'must be between 0.01 and 64')
            .default(LIMITS.cpu_quota.default)
            .describe('CPUs the tool may use (0.5 = half of one CPU); 0.01 to 64. Default 1.'),
          pids: z
            .number('expected a whole number')
            .int('expected a whole number')
            .min(LIMITS.pids.min, 'must be between 1 and 32768')
            .max(LIMITS.pids.max, 'must be between 1 and 32768')
            .default(LIMITS.pids.default)
            .describe('Most processes and threads at once; 1 to 32768. Default 64.'),
        })
        .strict()
        .prefault({}),
      secrets: z
        .array(
          z
            .string()
            .superRefine((s, ctx) => {
              const problem = secretNameProblem(s);
              if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: s });
            })
            .meta({ pattern: SECRET_NAME.source }),
        )
        .max(MAX_MANIFEST_SECRETS, `at most ${MAX_MANIFEST_SECRETS} secrets`)
        .default([])
        .transform(sortedUnique)
        .describe('Names of secrets in Warden\'s secret store, injected as environment variables of the same name into the sandboxed process only.'),
    })
    .strict();
}

/** A validated, normalised manifest (deeply frozen). */
export interface Manifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly agent: { readonly name: string; readonly runtime: string };
  readonly tier: Tier;
  readonly permissions: {
    readonly network: { readonly allow: readonly string[] };
    readonly fs: { readonly read: readonly string[]; readonly write: readonly string[] };
    /** Milliseconds. */
    readonly execution_time: number;
    /** Bytes. */
    readonly memory: number;
    readonly cpu_quota: number;
    readonly pids: number;
  };
  readonly secrets: readonly string[];
}

/**
 * The JSON Schema (2020-12) of manifests as written, published at docs/manifest.schema.json
 * for editors and CI. It states shapes, bounds and patterns; the path and host rules that need
 * code (protected paths, IDNA, wildcards) are enforced only by `parseManifest`.
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(manifestSchema(), { io: 'input' }) as Record<string, unknown>;
  return {
    $schema,
    title: 'Warden agent manifest',
    description: `agent.yaml, version ${MANIFEST_VERSION}: what a sandboxed tool may reach (network, filesystem), its limits and the secrets injected into it. Generated from src/sandbox/manifest/schema.ts; parseManifest applies further checks.`,
    ...rest,
  };
}
