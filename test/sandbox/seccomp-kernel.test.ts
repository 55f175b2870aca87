/**
 * The seccomp program on a real kernel, loaded by bubblewrap (`--seccomp 3`, the fd passed via
 * Node's stdio array as the process tier does). A Python probe inside tries each denied call in
 * a forked child; the same probes run once more without the filter as a control, so a test can
 * tell "the filter refused it" from "the kernel would have refused it anyway".
 *
 * Arguments are chosen so that, without the filter, the kernel answers something other than
 * EPERM (a bad pointer → EFAULT, an invalid flag mix → EINVAL) whenever it can: seccomp runs
 * before any of those checks, so EPERM with the filter and not without is the filter's doing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeccompProgram, describeSeccompPolicy, type SeccompArch } from '../../src/sandbox/seccomp/index.js';

const BWRAP = '/usr/bin/bwrap';
const PYTHON = '/usr/bin/python3';
const PROBE = readFileSync(join(process.cwd(), 'test/fixtures/sandbox/seccomp-probe.py'), 'utf8');
const HOST: SeccompArch | undefined = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
const SIGSYS = 31;

const BWRAP_ARGS = [
  '--unshare-all', '--unshare-user', '--uid', '65534', '--gid', '65534', '--die-with-parent', '--cap-drop', 'ALL',
  '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin',
  '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
];

function sandboxWorks(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (!HOST) return `no syscall table for ${process.arch}`;
  if (!existsSync(BWRAP) || !existsSync(PYTHON)) return `${BWRAP} or ${PYTHON} missing`;
  const r = spawnSync(BWRAP, [...BWRAP_ARGS, '--', PYTHON, '-c', 'pass'], { stdio: 'ignore' });
  return r.status === 0 ? null : `bwrap cannot start a sandbox here (exit ${r.status}); user namespaces disabled?`;
}
const skipReason = sandboxWorks();
if (skipReason) console.warn(`seccomp kernel tests skipped: ${skipReason}`);

type Probe = { id: string; kind: string; nr?: number; args?: number[]; req?: number };
interface Outcome { ret: number | null; errno: string | null; signal: number | null; error: string | null }
interface Run { code: number | null; signal: NodeJS.Signals | null; stderr: string; results: Record<string, Outcome> }

let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'warden-seccomp-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** Run the probes in bwrap, with the program on fd 3 (or without a filter when `program` is null). */
async function sandbox(program: Buffer | null, probes: Probe[]): Promise<Run> {
  let fd: number | undefined;
  if (program) {
    const file = join(dir, `filter-${Math.random().toString(36).slice(2)}.bpf`);
    writeFileSync(file, program);
    fd = openSync(file, 'r');
  }
  try {
    const child = spawn(BWRAP, [...BWRAP_ARGS, ...(fd === undefined ? [] : ['--seccomp', '3']), '--', PYTHON, '-c', PROBE, JSON.stringify(probes)], {
      stdio: ['ignore', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])],
    });
    if (!child.stdout || !child.stderr) throw new Error('spawn gave no stdout/stderr pipes');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    const results = code === 0 ? (JSON.parse(stdout) as Record<string, Outcome>) : {};
    return { code, signal, stderr, results };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// Namespace flags from linux/sched.h; CLONE_THREAD without CLONE_SIGHAND makes the kernel say
// EINVAL before it looks at namespaces, so the control run never creates anything.
const CLONE_FLAGS: Record<string, number> = {
  NEWNS: 0x00020000, NEWUTS: 0x04000000, NEWIPC: 0x08000000, NEWUSER: 0x10000000,
  NEWPID: 0x20000000, NEWNET: 0x40000000, NEWCGROUP: 0x02000000, NEWTIME: 0x00000080,
};
const CLONE_THREAD = 0x00010000;
const BAD = 1; // not a valid pointer, not a valid flag set for most calls

describe.skipIf(skipReason !== null)('seccomp filter in bubblewrap on this kernel', () => {
  const arch = HOST as SeccompArch;
  const policy = describeSeccompPolicy({ arch });
  const nr = (name: string): number => {
    const r = policy.rules.find((x) => x.name === name);
    if (!r || r.nr === null) throw new Error(`no number for ${name}`);
    return r.nr;
  };
  const plain = policy.rules.filter((r) => r.when === null && r.nr !== null);
  const probes: Probe[] = [
    { id: 'seccomp_mode', kind: 'seccomp_mode' },
    { id: 'work', kind: 'work' },
    // Every unconditionally denied call, with junk arguments.
    ...plain.map((r) => ({ id: `deny:${r.name}`, kind: 'syscall', nr: r.nr as number, args: [BAD, BAD, BAD, BAD, BAD, BAD] })),
    // The calls the threat model names, with arguments the kernel alone would not answer EPERM to.
    { id: 'unshare(CLONE_NEWUSER)', kind: 'syscall', nr: nr('unshare'), args: [CLONE_FLAGS.NEWUSER as number] },
    { id: 'mount(bad type pointer)', kind: 'syscall', nr: nr('mount'), args: [0, 0, BAD, 0, 0] },
    { id: 'ptrace(PTRACE_TRACEME)', kind: 'syscall', nr: nr('ptrace'), args: [0, 0, 0, 0] },
    { id: 'keyctl(unknown op)', kind: 'syscall', nr: nr('keyctl'), args: [0x7fff, 0, 0, 0, 0] },
    { id: 'bpf(unknown cmd)', kind: 'syscall', nr: nr('bpf'), args: [0x7fff, 0, 0] },
    { id: 'userfaultfd(UFFD_USER_MODE_ONLY)', kind: 'syscall', nr: nr('userfaultfd'), args: [1] },
    { id: 'io_uring_setup(0, NULL)', kind: 'syscall', nr: nr('io_uring_setup'), args: [0, 0] },
    { id: 'perf_event_open(NULL)', kind: 'syscall', nr: nr('perf_event_open'), args: [0, 0, -1, -1, 0] },
    ...Object.entries(CLONE_FLAGS).map(([f, v]) => ({ id: `clone(CLONE_${f})`, kind: 'syscall', nr: nr('clone'), args: [v | CLONE_THREAD, 0, 0, 0, 0] })),
    { id: 'clone3(NULL, 0)', kind: 'syscall', nr: nr('clone3'), args: [0, 0] },
    { id: 'ioctl(TIOCSTI)', kind: 'ioctl_ctty', req: 0x5412 },
    { id: 'ioctl(TIOCSTI | 1<<32)', kind: 'ioctl_ctty', req: 0x1_0000_5412 },
    { id: 'ioctl(TIOCLINUX)', kind: 'ioctl_pty', req: 0x541c },
    { id: 'ioctl(TIOCGWINSZ)', kind: 'ioctl_pty', req: 0x5413 },
    { id: 'personality(query)', kind: 'syscall', nr: nr('personality'), args: [0xffffffff] },
    { id: 'personality(PER_LINUX)', kind: 'syscall', nr: nr('personality'), args: [0] },
    { id: 'personality(ADDR_NO_RANDOMIZE)', kind: 'syscall', nr: nr('personality'), args: [0x0040000] },
    { id: 'syscall(-1)', kind: 'syscall', nr: -1, args: [] },
    ...(arch === 'x64'
      ? [{ id: 'x32 getpid', kind: 'syscall', nr: 0x40000000 + 39, args: [] }, { id: 'i386 getpid (int 0x80)', kind: 'i386_getpid' }]
      : []),
  ];

  let filtered: Run;
  let control: Run;
  beforeAll(async () => {
    [filtered, control] = await Promise.all([sandbox(buildSeccompProgram({ arch }), probes), sandbox(null, probes)]);
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(control.code, control.stderr).toBe(0);
  });
  const got = (run: Run, id: string): Outcome => {
    const o = run.results[id];
    if (!o) throw new Error(`no result for ${id}`);
    return o;
  };

  it('the filter is installed: Seccomp mode 2 inside, 0 in the control run', () => {
    expect(got(filtered, 'seccomp_mode').ret).toBe(2);
    expect(got(control, 'seccomp_mode').ret).toBe(0);
  });

  it('ordinary work still works under the filter: reading files, fork, exec of /bin/true, writing /tmp, threads', () => {
    expect(got(filtered, 'work')).toEqual({ ret: 0, errno: null, signal: null, error: null });
  });

  it('every unconditionally denied call fails with its errno (EPERM; clone3 ENOSYS), no kill', () => {
    for (const r of plain) expect(got(filtered, `deny:${r.name}`), r.name).toMatchObject({ ret: -1, errno: r.errno, signal: null });
  });

  const named = ['unshare(CLONE_NEWUSER)', 'mount(bad type pointer)', 'ptrace(PTRACE_TRACEME)', 'keyctl(unknown op)', 'bpf(unknown cmd)',
    'userfaultfd(UFFD_USER_MODE_ONLY)', 'io_uring_setup(0, NULL)', 'perf_event_open(NULL)', ...Object.keys(CLONE_FLAGS).map((f) => `clone(CLONE_${f})`),
    'ioctl(TIOCSTI)', 'ioctl(TIOCSTI | 1<<32)', 'ioctl(TIOCLINUX)', 'personality(ADDR_NO_RANDOMIZE)'];
  it.each(named)('%s fails with EPERM under the filter, and the kernel alone would not have said EPERM', (id) => {
    expect(got(filtered, id)).toMatchObject({ ret: -1, errno: 'EPERM', signal: null });
    const c = got(control, id);
    expect(c.signal).toBeNull();
    expect(c.errno, `control run: ${JSON.stringify(c)}`).not.toBe('EPERM');
  });

  it('clone3 fails with ENOSYS (so libc falls back to the checked clone); the kernel alone says EINVAL', () => {
    expect(got(filtered, 'clone3(NULL, 0)')).toMatchObject({ ret: -1, errno: 'ENOSYS' });
    expect(got(control, 'clone3(NULL, 0)').errno).toBe('EINVAL');
  });

  it('allowed argument values pass: personality query and PER_LINUX, an ordinary ioctl', () => {
    for (const id of ['personality(query)', 'personality(PER_LINUX)', 'ioctl(TIOCGWINSZ)']) {
      expect(got(filtered, id), id).toMatchObject({ errno: null, signal: null, error: null });
      expect(got(filtered, id).ret, id).toBeGreaterThanOrEqual(0);
    }
  });

  it('syscall(-1) is answered ENOSYS by the kernel, not killed by the x32 guard', () => {
    expect(got(filtered, 'syscall(-1)')).toMatchObject({ ret: -1, errno: 'ENOSYS', signal: null });
  });

  it.runIf(arch === 'x64')('an x32 system call kills the process (SIGSYS); without the filter it is just ENOSYS or served', () => {
    expect(got(filtered, 'x32 getpid').signal).toBe(SIGSYS);
    expect(got(control, 'x32 getpid').signal).toBeNull();
  });

  it.runIf(arch === 'x64')('an i386 system call (int 0x80) kills the process: the arch check', (ctx) => {
    const c = got(control, 'i386 getpid (int 0x80)');
    if (c.signal !== null || c.errno !== null) {
      ctx.skip(`this kernel has no i386 emulation (control: ${JSON.stringify(c)}); the arch check is covered by the wrong-arch test`);
    }
    expect(got(filtered, 'i386 getpid (int 0x80)').signal).toBe(SIGSYS);
  });

  it('a program built for the other architecture kills the process at its first system call (execve)', async () => {
    const other: SeccompArch = arch === 'x64' ? 'arm64' : 'x64';
    const r = await sandbox(buildSeccompProgram({ arch: other }), [{ id: 'work', kind: 'work' }]);
    // bwrap reports a child killed by a signal as 128 + signal.
    expect(r.code === 128 + SIGSYS || r.signal === 'SIGSYS', `exit ${r.code} ${r.signal} ${r.stderr}`).toBe(true);
    expect(r.results).toEqual({});
  });
});
