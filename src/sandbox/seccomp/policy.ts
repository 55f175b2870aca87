/**
 * Turns caller options into the effective rule set for one architecture. Both the generator
 * and `describeSeccompPolicy` go through here, so a receipt describes exactly the program that
 * was built.
 */
import { BadInputError } from '../../errors.js';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, type ErrnoName } from './bpf.js';
import { DENY_LIST, type ArgCondition } from './deny-list.js';
import { ARM64_SYSCALLS } from './syscalls-arm64.js';
import { X64_SYSCALLS } from './syscalls-x64.js';

export type SeccompArch = 'x64' | 'arm64';

/** Options shared by `buildSeccompProgram` and `describeSeccompPolicy`. */
export interface SeccompOptions {
  /** Target ABI, in Node's `process.arch` spelling. Default: the running host's. */
  arch?: SeccompArch;
  /** Further system calls to deny outright with EPERM (names as in the kernel's tables). */
  extraDeny?: readonly string[];
  /** Entries to remove from the default deny-list. */
  allow?: readonly string[];
}

export interface ArchInfo {
  arch: SeccompArch;
  auditArch: number;
  /** x86_64 only: x32 calls share AUDIT_ARCH_X86_64 and must be refused by number. */
  refuseX32: boolean;
  table: Readonly<Record<string, number>>;
}

export const ARCHES: Readonly<Record<SeccompArch, ArchInfo>> = Object.freeze({
  x64: { arch: 'x64', auditArch: AUDIT_ARCH_X86_64, refuseX32: true, table: X64_SYSCALLS },
  arm64: { arch: 'arm64', auditArch: AUDIT_ARCH_AARCH64, refuseX32: false, table: ARM64_SYSCALLS },
});

/** One rule after options are applied. `nr: null` means the call does not exist on this ABI. */
export interface EffectiveRule {
  name: string;
  nr: number | null;
  reason: string;
  errno: ErrnoName;
  when?: ArgCondition;
  origin: 'default' | 'extraDeny';
}

export interface ResolvedPolicy {
  info: ArchInfo;
  rules: EffectiveRule[];
  /** Default entries the caller removed with `allow`. */
  allowed: string[];
}

const MAX_NAMES = 1024;
const NAME = /^[a-z_][a-z0-9_]{0,63}$/;

/** Validate options and compute the rule set. Throws `BadInputError` on anything unexpected. */
export function resolvePolicy(options: SeccompOptions = {}): ResolvedPolicy {
  if (typeof options !== 'object' || options === null) throw new BadInputError('seccomp options must be an object');
  // Snapshot first: the caller's arrays could change (or be getters) between check and use.
  const arch = options.arch ?? hostArch();
  const extraDeny = nameList(options.extraDeny, 'extraDeny');
  const allow = nameList(options.allow, 'allow');
  if (arch !== 'x64' && arch !== 'arm64') throw new BadInputError(`unsupported seccomp arch: ${String(arch)}`);
  const info = ARCHES[arch];

  // Object.hasOwn, not `in`: names like `constructor` or `__proto__` must not count as known.
  const known = (name: string) => Object.hasOwn(X64_SYSCALLS, name) || Object.hasOwn(ARM64_SYSCALLS, name);
  const defaults = new Map(DENY_LIST.map((r) => [r.name, r]));
  for (const name of extraDeny) {
    if (!known(name)) throw new BadInputError(`extraDeny: unknown system call ${JSON.stringify(name)}`);
  }
  for (const name of allow) {
    if (!defaults.has(name)) {
      throw new BadInputError(`allow: ${JSON.stringify(name)} is not on the deny-list${known(name) ? '' : ' (and is not a known system call)'}`);
    }
    if (extraDeny.includes(name)) throw new BadInputError(`${JSON.stringify(name)} is in both allow and extraDeny`);
  }

  const rules: EffectiveRule[] = [];
  for (const r of DENY_LIST) {
    if (allow.includes(r.name)) continue;
    const base = { name: r.name, nr: r[arch], reason: r.reason, errno: r.errno, origin: 'default' as const };
    // An explicit extraDeny of a conditionally denied call (ioctl, clone, personality) means
    // "deny it outright"; of an unconditionally denied one, it changes nothing.
    if (r.when && extraDeny.includes(r.name)) rules.push({ ...base, errno: 'EPERM', reason: `${r.reason} (extraDeny: denied outright)`, origin: 'extraDeny' });
    else rules.push(r.when ? { ...base, when: r.when } : base);
  }
  for (const name of extraDeny) {
    if (defaults.has(name)) continue;
    // A name known only on the other ABI has nothing to deny here; it is kept (nr null) so the
    // description shows it was asked for.
    rules.push({ name, nr: Object.hasOwn(info.table, name) ? (info.table[name] ?? null) : null, reason: 'denied by the operator (extraDeny)', errno: 'EPERM', origin: 'extraDeny' });
  }
  return { info, rules, allowed: [...allow] };
}

function hostArch(): SeccompArch {
  const a = process.arch;
  if (a === 'x64' || a === 'arm64') return a;
  throw new BadInputError(`no seccomp syscall table for host arch ${a}; pass options.arch`);
}

function nameList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new BadInputError(`${field} must be an array of system call names`);
  if (value.length > MAX_NAMES) throw new BadInputError(`${field} has more than ${MAX_NAMES} entries`);
  const out = new Set<string>();
  for (const v of value as unknown[]) {
    if (typeof v !== 'string' || !NAME.test(v)) throw new BadInputError(`${field}: not a system call name: ${JSON.stringify(v)}`);
    out.add(v);
  }
  return [...out];
}
