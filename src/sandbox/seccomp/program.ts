/**
 * The generator: a seccomp deny-list as classic BPF, for bubblewrap's `--seccomp FD`.
 *
 * Layout (every jump is forward and at most one rule block long, so the 8-bit jt/jf fields
 * can never overflow however many rules there are):
 *
 *   ld  arch;  jeq AUDIT_ARCH → +1;  ret KILL_PROCESS      other ABIs (i386, arm32) use other
 *                                                          numbers: nothing below would apply
 *   ld  nr                                                 x86_64 only, the x32 guard:
 *   jset 0x40000000 → +0 : +2;  jeq -1 → +1;  ret KILL_PROCESS
 *   per denied call, ascending:  jeq NR → +0 : +len(block);  block
 *   ret ALLOW
 *
 * A block ends in a `ret` on every path, because an argument test overwrites the accumulator
 * that holds the syscall number.
 */
import { WardenError } from '../../errors.js';
import {
  BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_MAXINSNS, BPF_RET, BPF_W, ERRNO,
  SECCOMP_DATA_ARCH, SECCOMP_DATA_NR, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
  X32_SYSCALL_BIT, argLowOffset, encodeProgram, jump, stmt, type SockFilter,
} from './bpf.js';
import type { ArgCondition } from './deny-list.js';
import { resolvePolicy, type EffectiveRule, type SeccompOptions } from './policy.js';

const LD_W_ABS = BPF_LD | BPF_W | BPF_ABS;
const JEQ = BPF_JMP | BPF_JEQ | BPF_K;
const JSET = BPF_JMP | BPF_JSET | BPF_K;
const RET = BPF_RET | BPF_K;

/**
 * Build the `process` tier's seccomp filter as the raw `struct sock_filter[]` bytes that
 * `seccomp(SECCOMP_SET_MODE_FILTER)` and `bwrap --seccomp FD` take.
 *
 * Calls on the deny-list fail with EPERM (clone3 with ENOSYS, so libc falls back to the
 * checked clone); any other ABI than `arch` — i386 or x32 on an x86_64 host, arm32 on
 * aarch64 — kills the process; everything else is allowed. The output is deterministic.
 *
 * @throws BadInputError on an unknown arch or system call name, or an `allow` entry that is
 *   not on the deny-list.
 * @example
 * ```ts
 * import { buildSeccompProgram } from './program.js';
 * const bpf: Buffer = buildSeccompProgram({ arch: 'x64', extraDeny: ['socket'] });
 * // spawn('bwrap', [...args, '--seccomp', '3', '--', cmd], { stdio: ['ignore', 'pipe', 'pipe', fd] })
 * ```
 */
export function buildSeccompProgram(options?: SeccompOptions): Buffer {
  return encodeProgram(assemble(options));
}

/** The instructions before serialisation; exported for the disassembler tests. */
export function assemble(options?: SeccompOptions): SockFilter[] {
  const { info, rules } = resolvePolicy(options);
  const prog: SockFilter[] = [
    stmt(LD_W_ABS, SECCOMP_DATA_ARCH),
    jump(JEQ, info.auditArch, 1, 0),
    stmt(RET, SECCOMP_RET_KILL_PROCESS),
    stmt(LD_W_ABS, SECCOMP_DATA_NR),
  ];
  if (info.refuseX32) {
    // x32 numbers have bit 30 set. -1 has it too, but is no x32 call: it is what a caller
    // probing for "no such syscall" uses, and the kernel answers ENOSYS. Let it through.
    prog.push(jump(JSET, X32_SYSCALL_BIT, 0, 2), jump(JEQ, 0xffffffff, 1, 0), stmt(RET, SECCOMP_RET_KILL_PROCESS));
  }
  const present = rules.filter((r): r is EffectiveRule & { nr: number } => r.nr !== null).sort((a, b) => a.nr - b.nr);
  for (const rule of present) {
    const block = ruleBlock(rule);
    prog.push(jump(JEQ, rule.nr, 0, block.length), ...block);
  }
  prog.push(stmt(RET, SECCOMP_RET_ALLOW));
  // Unreachable with any input (the tables hold < 500 calls, 2–7 instructions each), but the
  // kernel would refuse the program, so say so plainly rather than fail at sandbox start.
  if (prog.length > BPF_MAXINSNS) throw new WardenError('INTERNAL', `seccomp program too long: ${prog.length} instructions`);
  return prog;
}

function ruleBlock(rule: EffectiveRule): SockFilter[] {
  const deny = stmt(RET, SECCOMP_RET_ERRNO | ERRNO[rule.errno]);
  const allow = stmt(RET, SECCOMP_RET_ALLOW);
  return rule.when ? [stmt(LD_W_ABS, argLowOffset(rule.when.arg)), ...argTest(rule.when, deny, allow)] : [deny];
}

/** Tests on the loaded argument word, ending in exactly the two returns given. */
function argTest(c: ArgCondition, deny: SockFilter, allow: SockFilter): SockFilter[] {
  switch (c.kind) {
    case 'masked':
      return [jump(JSET, c.mask, 0, 1), deny, allow];
    case 'in':
    case 'notIn': {
      // n compares, then "no match" return, then "match" return.
      const n = c.values.length;
      const compares = c.values.map((v, i) => jump(JEQ, v, n - i, 0));
      return c.kind === 'in' ? [...compares, allow, deny] : [...compares, deny, allow];
    }
  }
}
