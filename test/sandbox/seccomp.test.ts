/**
 * The seccomp generator without a kernel: the program is run in the interpreter and compared,
 * call by call, with a naive reference decision written straight from the deny-list table.
 * The real-kernel behaviour is in seccomp-kernel.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../src/errors.js';
import {
  AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, BPF_MAXINSNS, decodeProgram, encodeProgram,
} from '../../src/sandbox/seccomp/bpf.js';
import { DENY_LIST, type DenyRule } from '../../src/sandbox/seccomp/deny-list.js';
import { buildSeccompProgram, describeSeccompPolicy, disassemble, runFilter, type FilterVerdict, type SeccompArch } from '../../src/sandbox/seccomp/index.js';
import { assemble } from '../../src/sandbox/seccomp/program.js';
import { ARM64_SYSCALLS } from '../../src/sandbox/seccomp/syscalls-arm64.js';
import { X64_SYSCALLS } from '../../src/sandbox/seccomp/syscalls-x64.js';

const ARCHES: SeccompArch[] = ['x64', 'arm64'];
const AUDIT = { x64: AUDIT_ARCH_X86_64, arm64: AUDIT_ARCH_AARCH64 } as const;
const TABLE = { x64: X64_SYSCALLS, arm64: ARM64_SYSCALLS } as const;
const NR = (arch: SeccompArch, name: string): number => {
  const n = TABLE[arch][name];
  if (n === undefined) throw new Error(`${name} missing on ${arch}`);
  return n;
};
const low32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

/** The reference: what the policy means, written from the table with no BPF in sight. */
function naive(arch: SeccompArch, rules: readonly DenyRule[], call: { nr: number; archValue: number; args: bigint[] }): string {
  if (call.archValue !== AUDIT[arch]) return 'kill_process';
  const nr = call.nr >>> 0;
  // The kernel dispatches x32 for nr - 0x40000000 < X32_NR_syscalls: every such number has bit
  // 30 set. Numbers without it that are still huge (0x80000000…) are simply ENOSYS, so allow.
  if (arch === 'x64' && (nr & 0x40000000) !== 0 && nr !== 0xffffffff) return 'kill_process';
  const rule = rules.find((r) => r[arch] === nr);
  if (!rule) return 'allow';
  const errno = `errno:${rule.errno === 'EPERM' ? 1 : 38}`;
  const w = rule.when;
  if (!w) return errno;
  const a = low32(call.args[w.arg] ?? 0n);
  const hit = w.kind === 'masked' ? (a & w.mask) !== 0 : w.kind === 'in' ? w.values.includes(a) : !w.values.includes(a);
  return hit ? errno : 'allow';
}
const show = (v: FilterVerdict): string => (v.action === 'errno' ? `errno:${v.data}` : v.action);

// Argument vectors that exercise every condition: each clone namespace flag alone and mixed with
// ordinary fork/thread flags, the two tty requests with and without high bits, personalities.
const CLONE_NS = [0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x2000000, 0x80];
const ARG_VALUES: bigint[] = [
  0n, 1n, 17n /* SIGCHLD: fork */, 0x3d0f00n /* pthread_create */, 0x1200011n /* glibc fork */, 0x4111n /* vfork */,
  ...CLONE_NS.map(BigInt), ...CLONE_NS.map((f) => BigInt(f) | 0x3d0f00n), 0x1_0000_0000n, 0xffff_ffff_0000_0000n,
  0x5412n, 0x541cn, 0x5413n, 0x1_0000_5412n, 0xdead_beef_0000_541cn, 0x5412_0000n,
  0xffffffffn, 0x40000n, 8n, 0xffff_ffff_ffff_ffffn,
];
const ARCH_VALUES = [AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_ARM, 0, 0xffffffff];

describe.each(ARCHES)('seccomp program for %s', (arch) => {
  const program = buildSeccompProgram({ arch });
  const insns = decodeProgram(program);

  it('is serialised as 8-byte little-endian sock_filter entries and round-trips', () => {
    expect(program.length % 8).toBe(0);
    expect(encodeProgram(insns).equals(program)).toBe(true);
    // First instruction: BPF_LD|BPF_W|BPF_ABS (0x20) of seccomp_data.arch (offset 4).
    expect([...program.subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
    expect(insns.length).toBeLessThan(BPF_MAXINSNS);
  });

  it('is deterministic', () => {
    expect(buildSeccompProgram({ arch }).equals(program)).toBe(true);
  });

  it('agrees with the naive reference on every syscall number 0–1023, every argument case and every arch value', () => {
    let checked = 0;
    for (const archValue of ARCH_VALUES) {
      for (let nr = 0; nr < 1024; nr++) {
        // Arguments matter only for the three conditional calls; elsewhere one vector suffices.
        const conditional = [NR(arch, 'clone'), NR(arch, 'ioctl'), NR(arch, 'personality')].includes(nr);
        for (const v of conditional ? ARG_VALUES : [0n]) {
          const args = [v, v, 0n, 0n, 0n, 0n];
          const got = show(runFilter(insns, { nr, arch: archValue, args }));
          const want = naive(arch, DENY_LIST, { nr, archValue, args });
          if (got !== want) expect({ nr, archValue, v, got }).toEqual({ nr, archValue, v, got: want });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(6 * 1024);
  });

  it('agrees with the reference on boundary numbers: x32 bit, -1, sign bit, all ones', () => {
    const nrs = [-1, -2, 0x3fffffff, 0x40000000, 0x40000000 + 39, 0x40000000 + NR(arch, 'mount'), 0x7fffffff, 0x80000000, 0xfffffffe];
    for (const nr of nrs) {
      const got = show(runFilter(insns, { nr, arch }));
      expect(got, `nr ${nr}`).toBe(naive(arch, DENY_LIST, { nr, archValue: AUDIT[arch], args: [] }));
    }
  });

  it('a wrong ABI is killed before any number is looked at, even for an allowed call', () => {
    expect(runFilter(insns, { nr: 39, arch: AUDIT_ARCH_I386 }).action).toBe('kill_process');
    expect(runFilter(insns, { nr: 0, arch: arch === 'x64' ? 'arm64' : 'x64' }).action).toBe('kill_process');
  });

  it('argument checks read only the low 32 bits, as the kernel does: high bits cannot bypass TIOCSTI (CVE-2019-10063)', () => {
    const ioctl = NR(arch, 'ioctl');
    expect(show(runFilter(insns, { nr: ioctl, arch, args: [0, 0x1_0000_5412n] }))).toBe('errno:1');
    expect(show(runFilter(insns, { nr: ioctl, arch, args: [0, 0xffff_ffff_0000_541cn] }))).toBe('errno:1');
    expect(show(runFilter(insns, { nr: ioctl, arch, args: [0x5412, 0x5413] }))).toBe('allow'); // only the request counts
  });

  it('fork and thread creation stay allowed; each namespace flag alone is refused', () => {
    const clone = NR(arch, 'clone');
    for (const flags of [17, 0x1200011, 0x3d0f00]) expect(runFilter(insns, { nr: clone, arch, args: [flags] }).action).toBe('allow');
    for (const f of CLONE_NS) expect(show(runFilter(insns, { nr: clone, arch, args: [f | 17] })), f.toString(16)).toBe('errno:1');
    expect(show(runFilter(insns, { nr: NR(arch, 'clone3'), arch, args: [0, 88] }))).toBe('errno:38');
  });

  it('every default entry present on this ABI is denied; absent ones are marked, not invented', () => {
    const d = describeSeccompPolicy({ arch });
    for (const r of d.rules) {
      if (r.nr === null) continue;
      const args = r.name === 'personality' ? [0x40000] : r.name === 'ioctl' ? [0, 0x5412] : r.name === 'clone' ? [0x10000000] : [];
      expect(show(runFilter(insns, { nr: r.nr, arch, args })), r.name).toBe(`errno:${r.errnoValue}`);
    }
    expect(d.rules.filter((r) => r.nr === null).map((r) => r.name).sort()).toEqual(arch === 'arm64' ? ['ioperm', 'iopl', 'uselib'] : []);
  });
});

describe('options', () => {
  it('extraDeny adds calls with EPERM; allow removes default entries; the description matches the program', () => {
    const opts = { arch: 'x64' as const, extraDeny: ['socket'], allow: ['ptrace', 'personality'] };
    const p = buildSeccompProgram(opts);
    expect(show(runFilter(p, { nr: 41, arch: 'x64' }))).toBe('errno:1'); // socket
    expect(runFilter(p, { nr: 101, arch: 'x64' }).action).toBe('allow'); // ptrace
    expect(runFilter(p, { nr: 135, arch: 'x64', args: [0x40000] }).action).toBe('allow'); // personality
    const d = describeSeccompPolicy(opts);
    expect(d.allowed).toEqual(['ptrace', 'personality']);
    expect(d.rules.find((r) => r.name === 'socket')).toMatchObject({ nr: 41, errno: 'EPERM', origin: 'extraDeny' });
    expect(d.rules.some((r) => r.name === 'ptrace')).toBe(false);
  });

  it('a name known only on the other ABI is accepted and marked absent; one known on neither is refused', () => {
    const arm = describeSeccompPolicy({ arch: 'arm64', extraDeny: ['arch_prctl'] });
    expect(arm.rules.find((r) => r.name === 'arch_prctl')).toMatchObject({ nr: null, origin: 'extraDeny' });
    expect(buildSeccompProgram({ arch: 'arm64', extraDeny: ['arch_prctl'] }).equals(buildSeccompProgram({ arch: 'arm64' }))).toBe(true);
    expect(() => buildSeccompProgram({ arch: 'x64', extraDeny: ['vm86'] })).toThrow(BadInputError); // i386 only
  });

  it('extraDeny of a conditional entry denies it outright; of an unconditional one changes nothing', () => {
    const p = buildSeccompProgram({ arch: 'x64', extraDeny: ['ioctl', 'mount', 'clone3'] });
    expect(show(runFilter(p, { nr: 16, arch: 'x64', args: [0, 0x5413] }))).toBe('errno:1');
    expect(show(runFilter(p, { nr: 435, arch: 'x64' }))).toBe('errno:38');
  });

  it('denying every known call still yields a valid program within BPF_MAXINSNS and 8-bit jumps', () => {
    for (const arch of ARCHES) {
      const all = Object.keys(TABLE[arch]);
      const insns = assemble({ arch, extraDeny: all });
      expect(insns.length).toBeLessThanOrEqual(BPF_MAXINSNS);
      for (const [name, nr] of Object.entries(TABLE[arch])) {
        const want = name === 'clone3' ? 'errno:38' : 'errno:1';
        expect(show(runFilter(insns, { nr, arch, args: [0, 0x5413] })), name).toBe(want);
      }
    }
  });

  it('defaults to the host architecture', () => {
    if (process.arch !== 'x64' && process.arch !== 'arm64') return;
    expect(buildSeccompProgram().equals(buildSeccompProgram({ arch: process.arch }))).toBe(true);
  });
});

describe('rejection corpus: bad options are BadInputError, never a silently weaker filter', () => {
  const bad: [string, unknown][] = [
    ['unknown name', { extraDeny: ['mountt'] }],
    ['prototype key __proto__', { extraDeny: ['__proto__'] }],
    ['prototype key constructor', { extraDeny: ['constructor'] }],
    ['prototype key toString in allow', { allow: ['toString'] }],
    ['upper case', { extraDeny: ['MOUNT'] }],
    ['non-string', { extraDeny: [165] }],
    ['empty string', { extraDeny: [''] }],
    ['too long', { extraDeny: ['a'.repeat(65)] }],
    ['not an array', { extraDeny: 'mount' }],
    ['too many entries', { extraDeny: Array.from({ length: 1025 }, () => 'read') }],
    ['allow of a call not on the list', { allow: ['read'] }],
    ['allow of an unknown call', { allow: ['nope'] }],
    ['same name in allow and extraDeny', { allow: ['ptrace'], extraDeny: ['ptrace'] }],
    ['unsupported arch', { arch: 'ia32' }],
    ['options not an object', null],
  ];
  it.each(bad)('%s', (_label, options) => {
    const call = () => buildSeccompProgram(options as never);
    expect(call).toThrow(BadInputError);
    expect(() => describeSeccompPolicy(options as never)).toThrow(BadInputError);
  });
});

describe('interpreter and decoder refuse malformed programs', () => {
  const ret = { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 };
  const cases: [string, Uint8Array | { code: number; jt: number; jf: number; k: number }[]][] = [
    ['empty bytes', new Uint8Array(0)],
    ['length not a multiple of 8', new Uint8Array(12)],
    ['more than BPF_MAXINSNS', new Uint8Array(8 * (BPF_MAXINSNS + 1))],
    ['jump past the end', [{ code: 0x15, jt: 1, jf: 0, k: 0 }, ret]],
    ['ja past the end', [{ code: 0x05, jt: 0, jf: 0, k: 5 }, ret]],
    ['no final return', [ret, { code: 0x20, jt: 0, jf: 0, k: 0 }]],
    ['unaligned load', [{ code: 0x20, jt: 0, jf: 0, k: 2 }, ret]],
    ['load beyond seccomp_data', [{ code: 0x20, jt: 0, jf: 0, k: 64 }, ret]],
    ['unsupported opcode (ALU add)', [{ code: 0x04, jt: 0, jf: 0, k: 1 }, ret]],
  ];
  it.each(cases)('%s', (_label, program) => {
    expect(() => runFilter(program, { nr: 0, arch: 'x64' })).toThrow(BadInputError);
  });
  it('bad seccomp_data is refused', () => {
    const p = buildSeccompProgram({ arch: 'x64' });
    expect(() => runFilter(p, { nr: 1.5, arch: 'x64' })).toThrow(BadInputError);
    expect(() => runFilter(p, { nr: 0, arch: 'x64', args: [0.5] })).toThrow(BadInputError);
    expect(() => runFilter(p, { nr: 0, arch: 'x64', args: [0, 0, 0, 0, 0, 0, 0] })).toThrow(BadInputError);
  });
});

describe('describeSeccompPolicy', () => {
  it('gives every default entry a reason, and both ABIs list the same names', () => {
    const x = describeSeccompPolicy({ arch: 'x64' });
    const a = describeSeccompPolicy({ arch: 'arm64' });
    expect(x.rules.map((r) => r.name)).toEqual(a.rules.map((r) => r.name));
    for (const r of x.rules) expect(r.reason.length, r.name).toBeGreaterThan(15);
    expect(x).toMatchObject({ auditArch: AUDIT_ARCH_X86_64, otherAbi: 'kill_process', x32: 'kill_process', defaultAction: 'allow' });
    expect(a).toMatchObject({ auditArch: AUDIT_ARCH_AARCH64, x32: 'not_applicable' });
    expect(JSON.parse(JSON.stringify(x))).toEqual(x); // plain data, fit for a receipt
  });

  it('covers the required deny-list', () => {
    const names = new Set(describeSeccompPolicy({ arch: 'x64' }).rules.map((r) => r.name));
    const required = `mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr ptrace
      process_vm_readv process_vm_writev kexec_load kexec_file_load bpf perf_event_open keyctl add_key request_key unshare setns
      init_module finit_module delete_module userfaultfd io_uring_setup io_uring_enter io_uring_register acct swapon swapoff reboot
      settimeofday clock_settime clock_adjtime adjtimex iopl ioperm quotactl nfsservctl lookup_dcookie personality syslog vhangup
      open_by_handle_at name_to_handle_at uselib fanotify_init clone clone3 ioctl`.split(/\s+/);
    expect(required.filter((n) => !names.has(n))).toEqual([]);
  });
});

describe('disassembler', () => {
  it('matches the reviewed listing of the default x86_64 program (a policy change shows up as a fixture diff)', () => {
    const want = readFileSync(join(process.cwd(), 'test/fixtures/sandbox/seccomp-x64.txt'), 'utf8').trimEnd().split('\n');
    expect(disassemble(buildSeccompProgram({ arch: 'x64' }))).toEqual(want);
  });
});
