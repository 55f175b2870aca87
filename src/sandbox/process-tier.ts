/**
 * The `process` tier: one command in bubblewrap with every namespace unshared (user, pid, net,
 * ipc, uts, cgroup), uid/gid 65534, no capabilities, a cleared environment, read-only binds of
 * the runtime, a private /tmp, only the granted paths, the seccomp deny-list passed by fd, rlimits,
 * per-run cgroup limits, a wall-clock timeout that kills the whole tree, and capped output.
 *
 * The launch chain is `sh` (joins the run's cgroups, then execs) → `prlimit` (sets rlimits, then
 * execs) → `bwrap`. Joining before exec means the sandbox cannot fork out of its limits.
 * ARCHITECTURE.md's notes apply: as root, bwrap must also get `--unshare-user --uid 65534`;
 * the seccomp program travels on fd 3 through Node's stdio array; killing the outer process
 * group (and the cgroup's pids) tears down the sandbox's whole pid namespace.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { BadInputError, WardenError } from '../errors.js';
import { RunCgroup, type CgroupLimits } from './cgroups.js';

export const BWRAP = '/usr/bin/bwrap';
export const PRLIMIT = '/usr/bin/prlimit';
export const SETPRIV = '/usr/bin/setpriv';
/** The sandbox's uid and gid, inside and — because bwrap runs unprivileged — on the host. */
export const SANDBOX_UID = 65534;

function sandboxEnv(extra: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...(extra ?? {}) };
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) throw new BadInputError(`invalid environment variable name ${JSON.stringify(k)}`);
  }
  return env;
}

export interface ProcessRunSpec {
  /** The run's id (default: a random one); names its cgroups. */
  runId?: string;
  /** argv; argv[0] is resolved inside the sandbox (PATH is /usr/bin:/bin). */
  command: string[];
  /** The sandbox's whole environment (secrets included); nothing of the parent's is inherited. */
  env?: Record<string, string>;
  fs?: { read?: string[]; write?: string[] };
  limits: CgroupLimits & { timeMs: number };
  /** The seccomp program (src/sandbox/seccomp); without it the run is refused. */
  seccomp: Buffer;
  stdin?: Buffer;
  /** Bytes kept of stdout and of stderr each; beyond it the run is killed (runaway output). */
  maxOutputBytes?: number;
  /** Extra bwrap arguments from other tiers' helpers (e.g. the egress relay's socket bind). */
  extraBinds?: { source: string; target: string; writable?: boolean }[];
}

export type KillReason = 'timeout' | 'memory' | 'output';

export interface ProcessRunResult {
  runId: string;
  exitCode: number | null;
  signal: string | null;
  /** Why Warden (or the kernel, for memory) ended the run, if it did. */
  killed: KillReason | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  peakMemoryBytes: number | null;
  cpuTimeMs: number | null;
}

const DEFAULT_OUTPUT = 1024 * 1024;
const RUNTIME_BINDS = ['/usr', '/etc/alternatives', '/etc/ld.so.cache', '/etc/ssl', '/etc/ca-certificates'];
/** Paths never granted, whatever a manifest says (the host's secrets and Warden's own state are checked by the manifest). */
const NEVER = ['/proc', '/sys', '/dev', '/etc/shadow', '/etc/gshadow', '/root', '/boot'];

/** A granted path: absolute, existing, resolved (a symlink cannot point a grant elsewhere), not a forbidden one. Shared by every tier. */
export function grant(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0')) throw new BadInputError(`granted path ${JSON.stringify(path)} must be absolute`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new BadInputError(`granted path ${path} does not exist`);
  }
  if (real === '/' || NEVER.some((n) => real === n || real.startsWith(`${n}/`))) throw new BadInputError(`granted path ${path} resolves to ${real}, which is never granted`);
  return real;
}

/** Keeps at most `max` bytes of a stream; `onFull` runs once the cap is reached (the tiers kill the run). */
export function collectCapped(stream: NodeJS.ReadableStream | null, max: number, onFull: () => void): () => Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  stream?.on('data', (c: Buffer) => {
    if (size >= max) return;
    const room = max - size;
    chunks.push(c.length > room ? c.subarray(0, room) : c);
    size += Math.min(c.length, room);
    if (size >= max) onFull();
  });
  return () => Buffer.concat(chunks);
}

/** Whether the process tier can run here (bwrap and prlimit installed, cgroups writable is checked per run). */
export function processTierAvailable(): { ok: boolean; reason?: string } {
  if (!existsSync(BWRAP)) return { ok: false, reason: `bubblewrap is not installed (${BWRAP}; apt-get install bubblewrap)` };
  if (!existsSync(PRLIMIT)) return { ok: false, reason: `prlimit is not installed (${PRLIMIT}; util-linux)` };
  if (!existsSync(SETPRIV)) return { ok: false, reason: `setpriv is not installed (${SETPRIV}; util-linux)` };
  return { ok: true };
}

export function bwrapArgs(spec: ProcessRunSpec): string[] {
  const args = [
    '--unshare-all', '--unshare-user', '--uid', '65534', '--gid', '65534',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--hostname', 'sandbox',
  ];
  for (const p of RUNTIME_BINDS) if (existsSync(p)) args.push('--ro-bind', p, p);
  for (const [link, target] of [['/bin', 'usr/bin'], ['/sbin', 'usr/sbin'], ['/lib', 'usr/lib'], ['/lib64', 'usr/lib64']] as const) {
    if (existsSync(`/${target}`)) args.push('--symlink', target, link);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/work');
  for (const p of spec.fs?.read ?? []) {
    const real = grant(p);
    args.push('--ro-bind', real, p);
  }
  for (const p of spec.fs?.write ?? []) {
    const real = grant(p);
    args.push('--bind', real, p);
  }
  for (const b of spec.extraBinds ?? []) args.push(b.writable ? '--bind' : '--ro-bind', b.source, b.target);
  args.push('--chdir', '/work', '--seccomp', '3', '--', ...spec.command);
  return args;
}

/** A process-tier sandbox that has been started: its launcher process, cgroup and a kill switch. */
export interface LaunchedSandbox {
  runId: string;
  child: ChildProcessWithoutNullStreams;
  cgroup: RunCgroup;
  /** Kills the whole sandbox (its process group and every pid of its cgroup); the first reason sticks. */
  kill(why: KillReason): void;
  killed(): KillReason | null;
}

/**
 * Starts one command in the process tier and returns at once, with stdin/stdout/stderr as pipes:
 * for long-lived tools (an MCP server over stdio) as well as for {@link runProcessTier}. The
 * caller owns the lifetime: kill it, then `cgroup.remove()` once it has exited.
 */
export function launchProcessTier(spec: Omit<ProcessRunSpec, 'stdin' | 'maxOutputBytes'>): LaunchedSandbox {
  const available = processTierAvailable();
  if (!available.ok) throw new WardenError('FORBIDDEN', `process tier unavailable: ${available.reason}`);
  if (spec.command.length === 0) throw new BadInputError('no command to run');
  if (!Buffer.isBuffer(spec.seccomp) || spec.seccomp.length === 0 || spec.seccomp.length % 8 !== 0) throw new BadInputError('a seccomp program is required');
  const runId = spec.runId ?? `run_${randomBytes(9).toString('base64url')}`;
  const args = bwrapArgs(spec);
  const cg = RunCgroup.create(runId, spec.limits);
  // sh joins the cgroups with its own pid, then execs prlimit, which execs bwrap: one pid, limited before anything forks.
  const join = cg.procsFiles.map((_, i) => `echo $$ > "$${i + 1}"`).join(' && ');
  // Then setpriv drops to uid/gid 65534 on the host before bwrap runs: as root, bwrap's user
  // namespace would map the sandbox's 65534 to host root, and files it writes (setuid bits
  // included) would be root's. Unprivileged, bwrap maps 65534 to 65534.
  const shArgs = ['-c', `${join} && shift ${cg.procsFiles.length} && exec "$@"`, 'warden-launch', ...cg.procsFiles,
    SETPRIV, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, '--clear-groups', '--',
    PRLIMIT, '--core=0', '--nofile=1024:1024', `--fsize=${1 << 30}`, '--', BWRAP, ...args];
  const child = spawn('/bin/sh', shArgs, {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: a timeout kills the whole launch chain
    // The sandbox's whole environment travels in the process environment, never on a command
    // line (which every host user can read in ps): secrets included.
    env: sandboxEnv(spec.env),
  }) as unknown as ChildProcessWithoutNullStreams;
  const seccompPipe = child.stdio[3] as NodeJS.WritableStream;
  seccompPipe.on('error', () => undefined);
  seccompPipe.end(spec.seccomp);
  child.stdin.on('error', () => undefined);
  let killed: KillReason | null = null;
  return {
    runId, child, cgroup: cg,
    kill(why) {
      killed ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      cg.killAll();
    },
    killed: () => killed,
  };
}

/** Runs one command in the process tier. Never throws for what the command does; throws when the sandbox cannot be set up. */
export async function runProcessTier(spec: ProcessRunSpec): Promise<ProcessRunResult> {
  const maxOut = spec.maxOutputBytes ?? DEFAULT_OUTPUT;
  const started = performance.now();
  const sandbox = launchProcessTier(spec);
  const { runId, child, cgroup: cg } = sandbox;
  child.stdin.end(spec.stdin ?? Buffer.alloc(0));
  const kill = (why: KillReason) => sandbox.kill(why);
  const stdout = collectCapped(child.stdout, maxOut, () => kill('output'));
  const stderr = collectCapped(child.stderr, maxOut, () => kill('output'));
  const timer = setTimeout(() => kill('timeout'), spec.limits.timeMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('error', () => resolve({ code: null, signal: null }));
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  cg.killAll(); // anything that outlived the launcher (it cannot: pid namespace), belt and braces
  const usage = cg.usage();
  await cg.remove();
  let killed = sandbox.killed();
  if (!killed && usage.oomKilled) killed = 'memory';
  return {
    runId, exitCode: code, signal, killed, stdout: stdout(), stderr: stderr(),
    durationMs: Math.round(performance.now() - started), peakMemoryBytes: usage.peakMemoryBytes, cpuTimeMs: usage.cpuTimeMs,
  };
}
