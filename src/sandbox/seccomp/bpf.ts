/**
 * Classic BPF as seccomp uses it: the instruction encoding, the constants from
 * `<linux/filter.h>`, `<linux/seccomp.h>` and `<linux/audit.h>`, and the wire form the kernel
 * (and bubblewrap's `--seccomp FD`) reads — an array of `struct sock_filter`, 8 bytes each,
 * in host byte order. Both supported hosts (x86_64, aarch64) are little-endian.
 */
import { BadInputError } from '../../errors.js';

/** One `struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }`. */
export interface SockFilter {
  code: number;
  /** Forward offset, relative to the next instruction, taken when the test is true. */
  jt: number;
  /** Forward offset taken when the test is false. */
  jf: number;
  k: number;
}

// Instruction classes and fields (linux/bpf_common.h).
export const BPF_LD = 0x00;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_W = 0x00;
export const BPF_ABS = 0x20;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;

/** The kernel refuses longer programs (linux/bpf_common.h). */
export const BPF_MAXINSNS = 4096;
export const SOCK_FILTER_SIZE = 8;

// Filter return values (linux/seccomp.h). The high 16 bits are the action, the low 16 its data.
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

// AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE (linux/audit.h).
export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_ARM = 0x40000028;

/** x32 system calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number. */
export const X32_SYSCALL_BIT = 0x40000000;

/**
 * Offsets into `struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer;
 * __u64 args[6]; }`. Loads are 32 bits wide, so a 64-bit argument is two words; on a
 * little-endian host the low word comes first.
 */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_SIZE = 64;
export const argLowOffset = (index: number): number => 16 + 8 * index;

export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
export type ErrnoName = keyof typeof ERRNO;

/** `BPF_STMT(code, k)`. */
export const stmt = (code: number, k: number): SockFilter => ({ code, jt: 0, jf: 0, k: k >>> 0 });

/** `BPF_JUMP(code, k, jt, jf)`; offsets must fit the 8-bit fields. */
export function jump(code: number, k: number, jt: number, jf: number): SockFilter {
  if (!isByte(jt) || !isByte(jf)) throw new RangeError(`jump offset out of range: jt=${jt} jf=${jf}`);
  return { code, jt, jf, k: k >>> 0 };
}

const isByte = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xff;

/** Serialise instructions to the kernel's wire form (little-endian `struct sock_filter[]`). */
export function encodeProgram(insns: readonly SockFilter[]): Buffer {
  const out = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((ins, i) => {
    const at = i * SOCK_FILTER_SIZE;
    out.writeUInt16LE(ins.code, at);
    out.writeUInt8(ins.jt, at + 2);
    out.writeUInt8(ins.jf, at + 3);
    out.writeUInt32LE(ins.k >>> 0, at + 4);
  });
  return out;
}

/**
 * Parse the wire form back into instructions. The bytes may come from anywhere (a file, a
 * receipt), so the length is checked before anything is read.
 */
export function decodeProgram(program: Uint8Array): SockFilter[] {
  if (program.length === 0 || program.length % SOCK_FILTER_SIZE !== 0) {
    throw new BadInputError(`a BPF program is a non-empty multiple of ${SOCK_FILTER_SIZE} bytes, got ${program.length}`);
  }
  if (program.length / SOCK_FILTER_SIZE > BPF_MAXINSNS) {
    throw new BadInputError(`a BPF program has at most ${BPF_MAXINSNS} instructions`);
  }
  const buf = Buffer.from(program.buffer, program.byteOffset, program.length);
  const insns: SockFilter[] = [];
  for (let at = 0; at < buf.length; at += SOCK_FILTER_SIZE) {
    insns.push({ code: buf.readUInt16LE(at), jt: buf.readUInt8(at + 2), jf: buf.readUInt8(at + 3), k: buf.readUInt32LE(at + 4) });
  }
  return insns;
}
