/**
 * The `process` tier's seccomp deny-list: what a sandboxed tool may not ask the kernel for,
 * and why. bubblewrap already gives the tool its own namespaces, no capabilities and uid
 * 65534; this list removes the kernel surface that is still reachable from there and has a
 * history of privilege escalations (new mount API, user namespaces, io_uring, bpf, keyrings,
 * userfaultfd), or that only makes sense for a host administrator.
 *
 * Numbers are per ABI (`null`: the call does not exist there, so there is nothing to deny);
 * a unit test checks them against the full tables in `syscalls-x64.ts` / `syscalls-arm64.ts`.
 */
import type { ErrnoName } from './bpf.js';

/**
 * A test on one argument, made on its low 32 bits only: a classic BPF load is 32 bits wide.
 * For every argument tested here the kernel itself truncates to 32 bits (`unsigned int cmd`
 * for ioctl and personality, `lower_32_bits(clone_flags)` in clone), so the high word cannot
 * smuggle a value past the check — the flaw of CVE-2019-10063, where a 64-bit compare of
 * TIOCSTI was bypassed by setting high bits the kernel then ignored.
 */
export type ArgCondition =
  /** Deny when `args[arg] & mask` is non-zero. */
  | { kind: 'masked'; arg: number; mask: number; label: string }
  /** Deny when `args[arg]` is one of `values`. */
  | { kind: 'in'; arg: number; values: readonly number[]; label: string }
  /** Deny unless `args[arg]` is one of `values`. */
  | { kind: 'notIn'; arg: number; values: readonly number[]; label: string };

export interface DenyRule {
  name: string;
  x64: number | null;
  arm64: number | null;
  /** One sentence for docs and receipts: the threat, not the mechanics. */
  reason: string;
  errno: ErrnoName;
  /** Absent: denied whatever the arguments. */
  when?: ArgCondition;
}

// Namespace-creating clone flags (linux/sched.h). CLONE_NEWTIME (0x80) shares the exit-signal
// byte in clone(2), where no valid signal has that bit; denying it there costs nothing.
const CLONE_NEW_ANY = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000 | 0x00000080;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const PER_LINUX = 0;
const PERSONALITY_QUERY = 0xffffffff;

const MOUNT = 'changes the mount table; with a user namespace it can hide or replace what the sandbox binds read-only';
const NEW_MOUNT_API = 'part of the file-descriptor mount API (Linux 5.2+), the same power as mount(2) and a recurring source of kernel bugs';
const PTRACE = 'reads or writes another process’s memory';
const KEXEC = 'loads a new kernel';
const KEYS = 'kernel keyrings are not namespaced: a key added here is visible outside the sandbox';
const MODULES = 'loads or unloads kernel modules';
const URING = 'io_uring performs I/O outside the syscall path that seccomp filters, and has had many privilege escalations';
const CLOCK = 'sets the host clock, which every other process and every TLS certificate check shares';
const IO_PORTS = 'grants raw I/O-port access to the hardware';
const HANDLES = 'opens files by handle, bypassing the path-based view the sandbox builds (the "shocker" container escape)';

/** The default deny-list. Order is irrelevant: the generator sorts by number. */
export const DENY_LIST: readonly DenyRule[] = Object.freeze([
  { name: 'mount', x64: 165, arm64: 40, reason: MOUNT, errno: 'EPERM' },
  { name: 'umount2', x64: 166, arm64: 39, reason: 'unmounts a bind the sandbox relies on and can uncover what lies beneath it', errno: 'EPERM' },
  { name: 'pivot_root', x64: 155, arm64: 41, reason: 'swaps the root filesystem', errno: 'EPERM' },
  { name: 'chroot', x64: 161, arm64: 51, reason: 'changes the root directory; combined with open fds, a classic escape pattern', errno: 'EPERM' },
  { name: 'open_tree', x64: 428, arm64: 428, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'open_tree_attr', x64: 467, arm64: 467, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'move_mount', x64: 429, arm64: 429, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'fsopen', x64: 430, arm64: 430, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'fsconfig', x64: 431, arm64: 431, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'fsmount', x64: 432, arm64: 432, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'fspick', x64: 433, arm64: 433, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'mount_setattr', x64: 442, arm64: 442, reason: NEW_MOUNT_API, errno: 'EPERM' },
  { name: 'ptrace', x64: 101, arm64: 117, reason: 'traces and rewrites other processes, and reads their secrets', errno: 'EPERM' },
  { name: 'process_vm_readv', x64: 310, arm64: 270, reason: PTRACE, errno: 'EPERM' },
  { name: 'process_vm_writev', x64: 311, arm64: 271, reason: PTRACE, errno: 'EPERM' },
  { name: 'pidfd_getfd', x64: 438, arm64: 438, reason: 'copies an open file descriptor out of another process', errno: 'EPERM' },
  { name: 'kcmp', x64: 312, arm64: 272, reason: 'compares kernel objects of other processes, leaking kernel pointer order', errno: 'EPERM' },
  { name: 'kexec_load', x64: 246, arm64: 104, reason: KEXEC, errno: 'EPERM' },
  { name: 'kexec_file_load', x64: 320, arm64: 294, reason: KEXEC, errno: 'EPERM' },
  { name: 'bpf', x64: 321, arm64: 280, reason: 'eBPF programs run in the kernel; the verifier is a large attack surface', errno: 'EPERM' },
  { name: 'perf_event_open', x64: 298, arm64: 241, reason: 'exposes hardware counters and kernel addresses; side channels and many CVEs', errno: 'EPERM' },
  { name: 'keyctl', x64: 250, arm64: 219, reason: KEYS, errno: 'EPERM' },
  { name: 'add_key', x64: 248, arm64: 217, reason: KEYS, errno: 'EPERM' },
  { name: 'request_key', x64: 249, arm64: 218, reason: KEYS, errno: 'EPERM' },
  { name: 'unshare', x64: 272, arm64: 97, reason: 'creates namespaces; a nested user namespace hands the tool capabilities over new kernel surface', errno: 'EPERM' },
  { name: 'setns', x64: 308, arm64: 268, reason: 'joins another namespace through an inherited or passed fd', errno: 'EPERM' },
  { name: 'init_module', x64: 175, arm64: 105, reason: MODULES, errno: 'EPERM' },
  { name: 'finit_module', x64: 313, arm64: 273, reason: MODULES, errno: 'EPERM' },
  { name: 'delete_module', x64: 176, arm64: 106, reason: MODULES, errno: 'EPERM' },
  { name: 'userfaultfd', x64: 323, arm64: 282, reason: 'pauses the kernel mid-copy at a chosen page: the standard tool for winning kernel races', errno: 'EPERM' },
  { name: 'io_uring_setup', x64: 425, arm64: 425, reason: URING, errno: 'EPERM' },
  { name: 'io_uring_enter', x64: 426, arm64: 426, reason: URING, errno: 'EPERM' },
  { name: 'io_uring_register', x64: 427, arm64: 427, reason: URING, errno: 'EPERM' },
  { name: 'acct', x64: 163, arm64: 89, reason: 'switches host-wide process accounting', errno: 'EPERM' },
  { name: 'swapon', x64: 167, arm64: 224, reason: 'changes host swap', errno: 'EPERM' },
  { name: 'swapoff', x64: 168, arm64: 225, reason: 'changes host swap', errno: 'EPERM' },
  { name: 'reboot', x64: 169, arm64: 142, reason: 'reboots the host (or the pid namespace)', errno: 'EPERM' },
  { name: 'settimeofday', x64: 164, arm64: 170, reason: CLOCK, errno: 'EPERM' },
  { name: 'clock_settime', x64: 227, arm64: 112, reason: CLOCK, errno: 'EPERM' },
  { name: 'clock_adjtime', x64: 305, arm64: 266, reason: CLOCK, errno: 'EPERM' },
  { name: 'adjtimex', x64: 159, arm64: 171, reason: CLOCK, errno: 'EPERM' },
  { name: 'iopl', x64: 172, arm64: null, reason: IO_PORTS, errno: 'EPERM' },
  { name: 'ioperm', x64: 173, arm64: null, reason: IO_PORTS, errno: 'EPERM' },
  { name: 'quotactl', x64: 179, arm64: 60, reason: 'manages filesystem quotas for the whole host', errno: 'EPERM' },
  { name: 'quotactl_fd', x64: 443, arm64: 443, reason: 'manages filesystem quotas for the whole host', errno: 'EPERM' },
  { name: 'nfsservctl', x64: 180, arm64: 42, reason: 'controls the kernel NFS server (removed in Linux 3.1; denied in case of an old kernel)', errno: 'EPERM' },
  { name: 'lookup_dcookie', x64: 212, arm64: 18, reason: 'profiling interface that resolves kernel directory-entry cookies to paths', errno: 'EPERM' },
  { name: 'syslog', x64: 103, arm64: 116, reason: 'reads the kernel log, which leaks kernel addresses and other tenants’ activity', errno: 'EPERM' },
  { name: 'vhangup', x64: 153, arm64: 58, reason: 'hangs up the controlling terminal, which belongs to the caller of the sandbox', errno: 'EPERM' },
  { name: 'open_by_handle_at', x64: 304, arm64: 265, reason: HANDLES, errno: 'EPERM' },
  { name: 'name_to_handle_at', x64: 303, arm64: 264, reason: HANDLES, errno: 'EPERM' },
  { name: 'uselib', x64: 134, arm64: null, reason: 'obsolete a.out loader with a history of kernel bugs', errno: 'EPERM' },
  { name: 'fanotify_init', x64: 300, arm64: 262, reason: 'watches file access system-wide on the filesystems it can see', errno: 'EPERM' },
  {
    name: 'personality', x64: 135, arm64: 92, errno: 'EPERM',
    reason: 'other personalities switch off ASLR (ADDR_NO_RANDOMIZE) or emulate old kernels; only the default and the query are allowed',
    when: { kind: 'notIn', arg: 0, values: [PER_LINUX, PERSONALITY_QUERY], label: 'persona is neither PER_LINUX (0) nor the query 0xffffffff' },
  },
  {
    name: 'clone', x64: 56, arm64: 220, errno: 'EPERM',
    reason: 'creating namespaces is refused for the same reason as unshare; plain fork and threads still work',
    when: { kind: 'masked', arg: 0, mask: CLONE_NEW_ANY, label: 'flags include CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP or NEWTIME' },
  },
  {
    name: 'clone3', x64: 435, arm64: 435, errno: 'ENOSYS',
    reason: 'clone3 passes its flags in memory, which seccomp cannot read; ENOSYS makes libc fall back to clone, whose flags are checked',
  },
  {
    name: 'ioctl', x64: 16, arm64: 29, errno: 'EPERM',
    reason: 'TIOCSTI pushes keystrokes into the terminal the sandbox was started from, and TIOCLINUX can do the same on a virtual console',
    when: { kind: 'in', arg: 1, values: [TIOCSTI, TIOCLINUX], label: 'request is TIOCSTI (0x5412) or TIOCLINUX (0x541c)' },
  },
] satisfies DenyRule[]);
