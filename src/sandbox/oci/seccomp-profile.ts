/**
 * The `container` tier's seccomp policy as an OCI runtime-spec `linux.seccomp` object, built
 * from the same deny-list table (`../seccomp/deny-list.ts`, through `resolvePolicy`) that the
 * `process` tier compiles to BPF itself — one table, two encodings, so the tiers cannot drift.
 *
 * The runtime (runc, via libseccomp) compiles this to BPF. Two differences from our own compiler
 * matter and are handled here:
 *
 * - libseccomp compares arguments as 64-bit values; the kernel truncates `ioctl`'s request,
 *   `personality`'s persona and `clone`'s flags to 32 bits. A plain `SCMP_CMP_EQ 0x5412` for
 *   TIOCSTI is bypassed by setting high bits (CVE-2019-10063). Every argument test is therefore
 *   a `SCMP_CMP_MASKED_EQ` whose mask keeps only bits the kernel looks at.
 * - Conditions within one OCI rule are ANDed, but runc splits several conditions on the *same*
 *   argument into separate (ORed) rules. So every deny rule emitted here carries exactly one
 *   condition, and a "deny when any of …" test becomes several rules.
 *
 * Names the runtime's libseccomp does not know are skipped by runc (with only a debug log):
 * a call newer than the installed libseccomp stays allowed in this tier. The red-team test
 * probes the calls by number inside a real container to show which are in force.
 */
import { BadInputError } from '../../errors.js';
import { ERRNO } from '../seccomp/bpf.js';
import type { ArgCondition } from '../seccomp/deny-list.js';
import { resolvePolicy, type SeccompArch, type SeccompOptions } from '../seccomp/policy.js';

export type OciSeccompArch = 'SCMP_ARCH_X86_64' | 'SCMP_ARCH_AARCH64';

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: 'SCMP_CMP_MASKED_EQ';
}

export interface OciSeccompSyscall {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: 'SCMP_ACT_ALLOW';
  architectures: OciSeccompArch[];
  syscalls: OciSeccompSyscall[];
}

const ARCH_NAMES: Readonly<Record<SeccompArch, OciSeccompArch>> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64' };
const LOW32 = 0xffffffff;

/**
 * Single-condition `(args[i] & mask) == valueTwo` tests whose union is exactly the set of
 * arguments the deny-list condition denies, judged on the low 32 bits as the kernel does.
 *
 * @throws BadInputError for a `notIn` set that cannot be written as such a union (only a single
 * value and a complementary pair {v, ~v} can; the deny-list uses the pair {0, 0xffffffff}).
 */
export function ociArgTests(cond: ArgCondition): OciSeccompArg[] {
  const t = (value: number, valueTwo: number): OciSeccompArg => ({ index: cond.arg, value: value >>> 0, valueTwo: valueTwo >>> 0, op: 'SCMP_CMP_MASKED_EQ' });
  const bits = (mask: number) => Array.from({ length: 32 }, (_, i) => (2 ** i) >>> 0).filter((b) => ((mask >>> 0) & b) !== 0);
  switch (cond.kind) {
    case 'masked':
      // Deny when any masked bit is set: one rule per bit, (arg & b) == b.
      return bits(cond.mask).map((b) => t(b, b));
    case 'in':
      // Deny when the low 32 bits equal a value; the high word is masked off, as the kernel ignores it.
      return [...new Set(cond.values.map((v) => v >>> 0))].map((v) => t(LOW32, v));
    case 'notIn': {
      const values = [...new Set(cond.values.map((v) => v >>> 0))];
      const [v, w] = values;
      if (values.length === 1 && v !== undefined) {
        // Deny when some bit differs from v.
        return bits(LOW32).map((b) => t(b, ~v & b));
      }
      if (values.length === 2 && v !== undefined && w !== undefined && ((v ^ w) >>> 0) === LOW32) {
        // x ∉ {v, ~v} ⇔ d = x ^ v is neither all zeros nor all ones ⇔ somewhere (cyclically) d
        // has a 1 followed by a 0: d_i = 1 and d_(i+1) = 0, i.e. x_i = ¬v_i and x_(i+1) = v_(i+1).
        // 32 two-bit tests, one condition each (runc ORs conditions on the same argument).
        return Array.from({ length: 32 }, (_, i) => {
          const bi = (2 ** i) >>> 0;
          const bj = (2 ** ((i + 1) % 32)) >>> 0;
          return t(bi | bj, (~v & bi) | (v & bj));
        });
      }
      throw new BadInputError(`cannot express "${cond.label}" as OCI seccomp rules`);
    }
  }
}

/**
 * The OCI `linux.seccomp` profile for the default deny-list (plus `options`), for one ABI.
 * Calls that do not exist on that ABI are left out (as the BPF generator leaves them out).
 * Other ABIs (i386, x32 on x86_64) are not listed, so libseccomp's bad-architecture action
 * (kill) applies to them, as in the BPF program.
 *
 * @example
 * ```ts
 * import { buildOciSeccompProfile } from './seccomp-profile.js';
 * const profile = buildOciSeccompProfile({ arch: 'x64' });
 * const clone3 = profile.syscalls.find((s) => s.names.includes('clone3')); // errnoRet 38 (ENOSYS)
 * ```
 */
export function buildOciSeccompProfile(options?: SeccompOptions): OciSeccomp {
  const { info, rules } = resolvePolicy(options);
  const syscalls: OciSeccompSyscall[] = [];
  const plain = new Map<number, string[]>(); // errnoRet → names denied whatever the arguments
  for (const r of [...rules].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (r.nr === null) continue;
    const errnoRet = ERRNO[r.errno];
    if (!r.when) {
      plain.set(errnoRet, [...(plain.get(errnoRet) ?? []), r.name]);
      continue;
    }
    for (const arg of ociArgTests(r.when)) syscalls.push({ names: [r.name], action: 'SCMP_ACT_ERRNO', errnoRet, args: [arg] });
  }
  const grouped = [...plain].sort(([a], [b]) => a - b).map(([errnoRet, names]) => ({ names, action: 'SCMP_ACT_ERRNO' as const, errnoRet }));
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: [ARCH_NAMES[info.arch]], syscalls: [...grouped, ...syscalls] };
}
