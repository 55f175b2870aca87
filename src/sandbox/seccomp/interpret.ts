/**
 * A classic-BPF interpreter and disassembler for seccomp programs, so the generator's logic
 * can be tested exhaustively without a kernel, and a program found in a receipt or on disk
 * can be read by a human.
 *
 * It implements the instructions a deny-list uses (32-bit absolute loads from seccomp_data,
 * immediate loads, JA/JEQ/JGT/JGE/JSET against constants, RET of a constant) and refuses
 * anything else, and it applies the kernel checker's structural rules first (jumps in range,
 * loads aligned and inside seccomp_data, a final RET) — a program it accepts is not
 * necessarily one the kernel accepts, but one it rejects would not load.
 */
import { BadInputError } from '../../errors.js';
import {
  AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, BPF_ABS, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET,
  BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_DATA_SIZE, SECCOMP_RET_ACTION_FULL, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF, decodeProgram, type SockFilter,
} from './bpf.js';

const BPF_IMM = 0x00;
const LD_W_ABS = BPF_LD | BPF_W | BPF_ABS;
const LD_IMM = BPF_LD | BPF_W | BPF_IMM;

/** What the filter sees of one system call (`struct seccomp_data`). */
export interface SeccompData {
  /** Syscall number; negative values are taken as the kernel's `int`, e.g. -1 → 0xffffffff. */
  nr: number;
  /** An AUDIT_ARCH_* value, or the Node arch name for the two supported ABIs. */
  arch: number | 'x64' | 'arm64';
  /** Up to six arguments, as full 64-bit values (bigint for high bits; numbers wrap like C). */
  args?: readonly (number | bigint)[];
  instructionPointer?: bigint;
}

export type SeccompAction = 'kill_process' | 'kill_thread' | 'trap' | 'errno' | 'user_notif' | 'trace' | 'log' | 'allow';

export interface FilterVerdict {
  action: SeccompAction;
  /** The low 16 bits: the errno for `errno`, the message for `trap`/`trace`. */
  data: number;
  /** The full 32-bit return value. */
  raw: number;
}

/**
 * Run a seccomp program (wire bytes or instructions) on one system call, as the kernel would
 * on a little-endian host.
 *
 * @throws BadInputError if the program is malformed or uses an instruction this interpreter
 *   does not implement.
 * @example
 * ```ts
 * import { buildSeccompProgram } from './program.js';
 * import { runFilter } from './interpret.js';
 * const v = runFilter(buildSeccompProgram({ arch: 'x64' }), { arch: 'x64', nr: 165 }); // mount
 * // v.action === 'errno', v.data === 1 (EPERM)
 * ```
 */
export function runFilter(program: Uint8Array | readonly SockFilter[], call: SeccompData): FilterVerdict {
  const insns = checkProgram(program);
  const data = seccompData(call);
  let a = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const ins = insns[pc] as SockFilter; // checkProgram guarantees every index in range
    switch (ins.code) {
      case LD_W_ABS: a = data.readUInt32LE(ins.k); break;
      case LD_IMM: a = ins.k; break;
      case BPF_JMP | BPF_JA | BPF_K: pc += ins.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a === ins.k ? ins.jt : ins.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > ins.k ? ins.jt : ins.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= ins.k ? ins.jt : ins.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & ins.k) !== 0 ? ins.jt : ins.jf; break;
      case BPF_RET | BPF_K: return verdict(ins.k);
      default: throw new BadInputError(`unsupported BPF instruction 0x${ins.code.toString(16)} at ${pc}`);
    }
  }
  throw new BadInputError('BPF program fell off the end'); // excluded by checkProgram
}

/** Decode an action value into its name and data. Unknown actions are the kernel's kill. */
export function verdict(raw: number): FilterVerdict {
  const r = raw >>> 0;
  const data = r & SECCOMP_RET_DATA;
  const names: [number, SeccompAction][] = [
    [SECCOMP_RET_KILL_PROCESS, 'kill_process'], [SECCOMP_RET_KILL_THREAD, 'kill_thread'], [SECCOMP_RET_TRAP, 'trap'],
    [SECCOMP_RET_ERRNO, 'errno'], [SECCOMP_RET_USER_NOTIF, 'user_notif'], [SECCOMP_RET_TRACE, 'trace'],
    [SECCOMP_RET_LOG, 'log'], [SECCOMP_RET_ALLOW, 'allow'],
  ];
  const hit = names.find(([v]) => ((r & SECCOMP_RET_ACTION_FULL) >>> 0) === v);
  return { action: hit ? hit[1] : 'kill_process', data, raw: r };
}

/** One line per instruction, in the style of `bpf_dbg` / libseccomp's `scmp_bpf_disasm`. */
export function disassemble(program: Uint8Array | readonly SockFilter[]): string[] {
  const insns = checkProgram(program);
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  return insns.map((ins, pc) => {
    const at = String(pc).padStart(4, '0');
    const target = (off: number) => String(pc + 1 + off).padStart(4, '0');
    switch (ins.code) {
      case LD_W_ABS: return `${at}: ld  [${ins.k}]${ins.k === 0 ? ' ; nr' : ins.k === 4 ? ' ; arch' : ` ; args[${(ins.k - 16) >> 3}]${(ins.k & 4) === 0 ? ' low' : ' high'}`}`;
      case LD_IMM: return `${at}: ld  #${hex(ins.k)}`;
      case BPF_JMP | BPF_JA | BPF_K: return `${at}: ja  ${target(ins.k)}`;
      case BPF_RET | BPF_K: {
        const v = verdict(ins.k);
        return `${at}: ret ${v.action}${v.action === 'errno' || v.action === 'trap' || v.action === 'trace' ? `(${v.data})` : ''}`;
      }
      default: {
        const op = { [BPF_JEQ]: 'jeq', [BPF_JGT]: 'jgt', [BPF_JGE]: 'jge', [BPF_JSET]: 'jset' }[ins.code & 0xf0] ?? '???';
        return `${at}: ${op} #${hex(ins.k)} ? ${target(ins.jt)} : ${target(ins.jf)}`;
      }
    }
  });
}

/** The kernel checker's structural rules (`bpf_check_classic`, `seccomp_check_filter`). */
function checkProgram(program: Uint8Array | readonly SockFilter[]): readonly SockFilter[] {
  const insns = program instanceof Uint8Array ? decodeProgram(program) : program;
  if (insns.length === 0) throw new BadInputError('empty BPF program');
  insns.forEach((ins, pc) => {
    const cls = ins.code & 0x07;
    if (ins.code === LD_W_ABS && (ins.k % 4 !== 0 || ins.k >= SECCOMP_DATA_SIZE)) {
      throw new BadInputError(`load at ${pc} outside seccomp_data or unaligned: ${ins.k}`);
    }
    if (cls !== BPF_JMP) return;
    const far = ins.code === (BPF_JMP | BPF_JA | BPF_K) ? ins.k : Math.max(ins.jt, ins.jf);
    if (pc + 1 + far >= insns.length) throw new BadInputError(`jump at ${pc} leaves the program`);
  });
  const last = insns[insns.length - 1];
  if (!last || (last.code & 0x07) !== BPF_RET) throw new BadInputError('BPF program does not end in RET');
  return insns;
}

function seccompData(call: SeccompData): Buffer {
  const arch = call.arch === 'x64' ? AUDIT_ARCH_X86_64 : call.arch === 'arm64' ? AUDIT_ARCH_AARCH64 : call.arch;
  const args = call.args ?? [];
  if (!Number.isInteger(call.nr) || !Number.isInteger(arch) || args.length > 6) throw new BadInputError('bad seccomp_data');
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeUInt32LE(call.nr >>> 0, 0);
  buf.writeUInt32LE(arch >>> 0, 4);
  buf.writeBigUInt64LE(BigInt.asUintN(64, call.instructionPointer ?? 0n), 8);
  args.forEach((v, i) => {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new BadInputError(`args[${i}] is not an integer`);
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), 16 + 8 * i);
  });
  return buf;
}
