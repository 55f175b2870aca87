/**
 * A plain-data description of the seccomp policy, for the docs and for sandbox receipts: a
 * receipt should say what the tool could not do, not only carry an opaque hash of BPF bytes.
 */
import { ERRNO, type ErrnoName } from './bpf.js';
import { resolvePolicy, type SeccompArch, type SeccompOptions } from './policy.js';

export interface SeccompRuleDescription {
  name: string;
  /** The number on this ABI, or `null` when the call does not exist there (nothing to deny). */
  nr: number | null;
  errno: ErrnoName;
  errnoValue: number;
  /** Human-readable argument condition; `null` when denied whatever the arguments. */
  when: string | null;
  reason: string;
  origin: 'default' | 'extraDeny';
}

export interface SeccompPolicyDescription {
  arch: SeccompArch;
  /** AUDIT_ARCH_* the filter requires; any other ABI kills the process. */
  auditArch: number;
  otherAbi: 'kill_process';
  /** x86_64: x32 calls (bit 30 of the number) kill the process; aarch64 has no such ABI. */
  x32: 'kill_process' | 'not_applicable';
  defaultAction: 'allow';
  /** Sorted by name. */
  rules: SeccompRuleDescription[];
  /** Default entries removed by `allow`. */
  allowed: string[];
  /** Argument tests see only the low 32 bits of each argument; see deny-list.ts. */
  notes: string[];
}

/**
 * Describe the policy `buildSeccompProgram(options)` would compile, as plain JSON-safe data.
 *
 * @throws BadInputError on the same inputs `buildSeccompProgram` rejects.
 * @example
 * ```ts
 * import { describeSeccompPolicy } from './describe.js';
 * const d = describeSeccompPolicy({ arch: 'arm64' });
 * const absent = d.rules.filter((r) => r.nr === null).map((r) => r.name); // ['iopl', 'ioperm', 'uselib']
 * ```
 */
export function describeSeccompPolicy(options?: SeccompOptions): SeccompPolicyDescription {
  const { info, rules, allowed } = resolvePolicy(options);
  return {
    arch: info.arch,
    auditArch: info.auditArch,
    otherAbi: 'kill_process',
    x32: info.refuseX32 ? 'kill_process' : 'not_applicable',
    defaultAction: 'allow',
    rules: rules
      .map((r) => ({ name: r.name, nr: r.nr, errno: r.errno, errnoValue: ERRNO[r.errno], when: r.when?.label ?? null, reason: r.reason, origin: r.origin }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    allowed,
    notes: [
      'Argument tests compare only the low 32 bits (classic BPF loads 32-bit words); the kernel also truncates ioctl requests, personality values and clone flags to 32 bits, so the high word cannot bypass them.',
      'clone3 fails with ENOSYS because its flags live in memory seccomp cannot read; libc then falls back to clone, whose flags are checked.',
    ],
  };
}
