/**
 * The `microvm` tier: one command in its own virtual machine — `qemu-system-x86_64 -M microvm`
 * with the host's kernel and an initramfs built per run (src/sandbox/microvm/). The guest has no
 * network device (`-nic none`, `-nodefaults`), no disk, and sees only a static busybox, the run's
 * stdin and copies of the granted read paths; the command runs as uid/gid 65534 in a guest cgroup
 * (memory, pids, CPU) with only the given environment. Its exit status, stdout and stderr come
 * back over the serial console, base64 between random markers the command cannot read.
 *
 * KVM is used when it really works: `auto` tries it once and, if qemu dies before the guest's
 * first word (as here: /dev/kvm exists but the CPU has no VT-x/AMD-V and KVM aborts on the first
 * MSR write), falls back to TCG and remembers that. Under TCG a run costs ~5 s of boot.
 *
 * Limits: memory → the guest cgroup's memory.max (and `-m` sized above it); time → a guest-side
 * kill of the cgroup at `timeMs`, plus a host-side SIGKILL of qemu at `timeMs` + a boot allowance;
 * output → cut at `maxOutputBytes` inside the guest and on the console. Not supported yet (the run
 * is refused, never silently weakened): write grants, extra binds (so no egress relay, hence no
 * network grants). The seccomp program is not applied: the guest kernel is the boundary.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError, WardenError } from '../errors.js';
import type { KillReason, ProcessRunResult, ProcessRunSpec } from './process-tier.js';
import { buildGuest } from './microvm/guest.js';

export const QEMU = '/usr/bin/qemu-system-x86_64';
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
const DEFAULT_OUTPUT = 1024 * 1024;
const MiB = 1024 * 1024;
/** Guest RAM beyond the command's limit: the kernel, busybox and the unpacked initramfs. */
const GUEST_BASE_MIB = 96;

export type Accel = 'kvm' | 'tcg';

export interface MicrovmOptions {
  /** `auto` (default): KVM when it works, else TCG. */
  accel?: Accel | 'auto';
  /** The guest kernel (default: the newest readable /boot/vmlinuz-*). */
  kernel?: string;
  /** Added to `timeMs` for the host-side kill of qemu (default: 10 s with KVM, 60 s with TCG). */
  bootAllowanceMs?: number;
}

export interface MicrovmRunResult extends ProcessRunResult {
  accel: Accel;
  /** From starting qemu until the guest's init spoke (before the command started). */
  bootMs: number | null;
}

/** Whether a file is a statically linked ELF (no PT_INTERP program header): it must run in an empty guest. */
function isStaticElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readable(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The newest readable /boot/vmlinuz-*, by version order. */
export function findKernel(): string | undefined {
  let names: string[];
  try {
    names = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return undefined;
  }
  names.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  return names.map((n) => join('/boot', n)).find(readable);
}

function findBusybox(): string | undefined {
  return BUSYBOX_CANDIDATES.find((p) => readable(p) && isStaticElf(p));
}

/** Whether the microvm tier can run here (qemu, a kernel, a static busybox). */
export function microvmTierAvailable(opts: Pick<MicrovmOptions, 'kernel'> = {}): { ok: boolean; reason?: string } {
  if (!existsSync(QEMU)) return { ok: false, reason: `qemu is not installed (${QEMU}; apt-get install qemu-system-x86)` };
  const kernel = opts.kernel ?? findKernel();
  if (!kernel || !readable(kernel)) return { ok: false, reason: 'no readable guest kernel (/boot/vmlinuz-*; apt-get install linux-image-amd64)' };
  if (!findBusybox()) return { ok: false, reason: 'no static busybox for the guest (apt-get install busybox-static)' };
  return { ok: true };
}

/** KVM's state on this host, learnt from the first run that tried it. */
let kvmState: 'unknown' | 'works' | 'broken' = 'unknown';

function kvmUsable(): boolean {
  if (kvmState === 'broken') return false;
  try {
    accessSync('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The host's TSC rate in kHz (from /proc/cpuinfo). Under TCG the guest reads the host's TSC, and
 * the kernel's PIT calibration of it fails now and then (emulated PIT timing is jittery); with no
 * HPET or PM timer on microvm the boot then hangs (seen here: 1 boot in 6). `tsc_early_khz=`
 * gives the kernel the rate when calibration fails.
 */
function hostTscKhz(): number {
  try {
    const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    const khz = m ? Math.round(Number(m[1]) * 1000) : NaN;
    if (Number.isFinite(khz) && khz > 100_000) return khz;
  } catch {
    // fall through
  }
  return 2_000_000;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

interface Frame {
  rc: number; timedOut: boolean; oomKills: number; cpuUs: number; peak: number; stdout: Buffer; stderr: Buffer;
}

/** The result frame between `<marker> meta` and `<marker> end`, checked against the lengths it announces. */
export function parseFrame(consoleText: string, marker: string): Frame | undefined {
  const lines = consoleText.replace(/\r/g, '').split('\n');
  const metaAt = lines.findIndex((l) => l.startsWith(`${marker} meta `));
  if (metaAt < 0) return undefined;
  const outAt = lines.indexOf(`${marker} out`, metaAt);
  const errAt = lines.indexOf(`${marker} err`, outAt);
  const endAt = lines.indexOf(`${marker} end`, errAt);
  if (outAt < 0 || errAt < 0 || endAt < 0) return undefined;
  const meta = new Map((lines[metaAt] ?? '').slice(marker.length + 6).split(' ').map((kv) => kv.split('=') as [string, string]));
  const num = (k: string) => {
    const v = Number(meta.get(k));
    return Number.isFinite(v) ? v : -1;
  };
  // Only base64 lines: a stray kernel message cannot look like one (it starts with "[").
  const b64 = (from: number, to: number) => Buffer.from(lines.slice(from + 1, to).filter((l) => /^[A-Za-z0-9+/=]+$/.test(l)).join(''), 'base64');
  const stdout = b64(outAt, errAt);
  const stderr = b64(errAt, endAt);
  if (stdout.length !== num('out') || stderr.length !== num('err')) return undefined;
  return { rc: num('rc'), timedOut: meta.get('timedout') === '1', oomKills: num('oom'), cpuUs: num('cpu_us'), peak: num('peak'), stdout, stderr };
}

interface Attempt {
  code: number | null; console: string; stderr: string; killed: KillReason | null; sawBoot: boolean; bootMs: number | null; durationMs: number;
}

function launch(args: string[], marker: string, consoleCap: number, hostTimeoutMs: number): Promise<Attempt> {
  const started = performance.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: {} });
  let killed: KillReason | null = null;
  let done = false;
  const kill = (why: KillReason | null) => {
    if (why) killed ??= why;
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const out: Buffer[] = [];
  let size = 0;
  let tail = '';
  let bootMs: number | null = null;
  const bootLine = `${marker} boot`;
  const endLine = `${marker} end`;
  child.stdout.on('data', (c: Buffer) => {
    if (size >= consoleCap) return;
    out.push(c);
    size += c.length;
    // Look for the markers across chunk boundaries.
    const text = tail + c.toString('latin1');
    if (bootMs === null && text.includes(bootLine)) bootMs = Math.round(performance.now() - started);
    if (!done && text.includes(endLine)) {
      done = true;
      kill(null); // the frame is complete: no need to wait for the guest's power-off
    }
    tail = text.slice(-200);
    if (size >= consoleCap) kill('output');
  });
  const errChunks: Buffer[] = [];
  child.stderr.on('data', (c: Buffer) => {
    if (errChunks.length < 64) errChunks.push(c);
  });
  const timer = setTimeout(() => kill('timeout'), hostTimeoutMs);
  return new Promise((resolve) => {
    const finish = (code: number | null) => {
      clearTimeout(timer);
      resolve({
        code, console: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(errChunks).toString('utf8'), killed: done ? null : killed,
        sawBoot: bootMs !== null, bootMs, durationMs: Math.round(performance.now() - started),
      });
    };
    child.on('error', () => finish(null));
    child.on('close', (c) => finish(c));
  });
}

/** Runs one command in a microvm. Never throws for what the command does; throws when the VM cannot be set up or says nothing intelligible. */
export async function runMicrovmTier(spec: ProcessRunSpec, opts: MicrovmOptions = {}): Promise<MicrovmRunResult> {
  const available = microvmTierAvailable(opts);
  if (!available.ok) throw new WardenError('FORBIDDEN', `microvm tier unavailable: ${available.reason}`);
  if (spec.command.length === 0) throw new BadInputError('no command to run');
  if ((spec.fs?.write ?? []).length > 0) throw new BadInputError('the microvm tier does not support write grants yet');
  if ((spec.extraBinds ?? []).length > 0) throw new BadInputError('the microvm tier does not support extra binds (e.g. the egress relay) yet');
  const runId = spec.runId ?? `run_${randomBytes(9).toString('base64url')}`;
  const maxOut = spec.maxOutputBytes ?? DEFAULT_OUTPUT;
  const marker = `WARDEN-${randomBytes(16).toString('hex')}`;
  const initrd = buildGuest({
    command: spec.command,
    env: { PATH: '/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...(spec.env ?? {}) },
    stdin: spec.stdin ?? Buffer.alloc(0),
    readPaths: spec.fs?.read ?? [],
    memoryBytes: spec.limits.memoryBytes, pids: spec.limits.pids, cpuQuota: spec.limits.cpuQuota, timeMs: spec.limits.timeMs,
    maxOutputBytes: maxOut, marker, busyboxPath: findBusybox() as string,
  });
  const kernel = opts.kernel ?? (findKernel() as string);
  const memMiB = Math.ceil(spec.limits.memoryBytes / MiB) + Math.ceil((2 * initrd.length) / MiB) + GUEST_BASE_MIB;
  const smp = Math.max(1, Math.min(Math.ceil(spec.limits.cpuQuota), availableParallelism(), 4));
  // Both streams base64'd (4/3, newline every 76) plus the kernel's few lines.
  const consoleCap = 2 * Math.ceil(((maxOut + 3) * 4) / 3 * (77 / 76)) + MiB;
  const dir = mkdtempSync(join(tmpdir(), 'warden-microvm-'));
  try {
    const initrdPath = join(dir, 'initrd.cpio');
    writeFileSync(initrdPath, initrd, { mode: 0o600 });
    const argsFor = (accel: Accel) => [
      '-M', 'microvm', '-accel', accel, '-cpu', accel === 'kvm' ? 'host' : 'max', '-m', String(memMiB), '-smp', String(smp),
      '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-nic', 'none', '-no-reboot',
      '-kernel', kernel, '-initrd', initrdPath,
      '-append', `console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init${accel === 'tcg' ? ` tsc_early_khz=${hostTscKhz()}` : ''}`,
    ];
    const choice = opts.accel ?? 'auto';
    let accel: Accel = choice === 'auto' ? (kvmUsable() ? 'kvm' : 'tcg') : choice;
    const allowance = (a: Accel) => opts.bootAllowanceMs ?? (a === 'kvm' ? 10_000 : 60_000);
    let attempt = await launch(argsFor(accel), marker, consoleCap, spec.limits.timeMs + allowance(accel));
    if (choice === 'auto' && accel === 'kvm') {
      if (attempt.sawBoot) kvmState = 'works';
      else if (!attempt.killed) {
        // qemu died before the guest's init spoke: the command never started, so retrying is safe.
        kvmState = 'broken';
        accel = 'tcg';
        attempt = await launch(argsFor(accel), marker, consoleCap, spec.limits.timeMs + allowance(accel));
      }
    }
    const frame = parseFrame(attempt.console, marker);
    const base = { runId, accel, bootMs: attempt.bootMs, durationMs: attempt.durationMs };
    if (!frame) {
      if (attempt.killed) {
        return { ...base, exitCode: null, signal: 'SIGKILL', killed: attempt.killed, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), peakMemoryBytes: null, cpuTimeMs: null };
      }
      throw new WardenError('INTERNAL', `microvm (${accel}) ended without a result (qemu exit ${attempt.code}): ${(attempt.stderr || attempt.console).slice(-500)}`);
    }
    let killed: KillReason | null = null;
    if (frame.timedOut) killed = 'timeout';
    else if (frame.oomKills > 0) killed = 'memory';
    let { stdout, stderr } = frame;
    if (stdout.length > maxOut || stderr.length > maxOut) {
      killed ??= 'output';
      stdout = stdout.subarray(0, maxOut);
      stderr = stderr.subarray(0, maxOut);
    }
    // The guest shell reports death by signal N as 128+N.
    const bySignal = frame.rc > 128 && SIGNAL_NAMES.has(frame.rc - 128);
    return {
      ...base, exitCode: bySignal ? null : frame.rc, signal: bySignal ? (SIGNAL_NAMES.get(frame.rc - 128) as string) : null, killed,
      stdout, stderr, peakMemoryBytes: frame.peak >= 0 ? frame.peak : null, cpuTimeMs: frame.cpuUs >= 0 ? Math.round(frame.cpuUs / 1000) : null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
