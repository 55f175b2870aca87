/**
 * The `container` tier: one command in an OCI bundle run directly by `runc` — uid/gid 65534, no
 * capabilities, no new privileges, a read-only empty root with read-only binds of the runtime
 * and only the granted paths, new pid/net/ipc/uts/mount/cgroup namespaces, runc's masked /proc
 * paths, cgroup memory/pids/CPU limits, rlimits, and the deny-list as an OCI seccomp profile
 * (`oci/seccomp-profile.ts`, from the same table as the process tier's BPF).
 *
 * Lifecycle of a run: a private bundle directory (0700, on tmpfs where there is one, because
 * config.json carries the environment and so the secrets) → `runc run --keep --bundle DIR ID`
 * in the foreground with piped stdio → on timeout or runaway output `runc kill ID KILL` → once
 * runc returns, the container's cgroup is still there (`--keep`), so peak memory, CPU time and
 * the OOM-kill counter are read from it → `runc delete --force ID` → the bundle is removed.
 * Delete and removal happen whatever went wrong.
 *
 * The user namespace (defence in depth, on wherever the kernel allows user namespaces): runc
 * runs as root, and without one the container's root — runc's own init during setup, the
 * target of escapes like CVE-2019-5736 — is host root. With it, container root is a random
 * unprivileged host id (per run, outside /etc/subuid ranges) that owns only the bundle, while the
 * sandbox user 65534 stays the host's 65534, so grants behave exactly as without it: a write
 * grant must be writable by uid 65534. Without it the run still has uid 65534, no capabilities,
 * no new privileges and seccomp — the standard hardening — and the result says which it was.
 *
 * Why `runc` and not `crun`: crun refuses hybrid cgroup hosts (v1 controllers plus a v2
 * hierarchy beside them), which is what this tier was built on; on pure v2 hosts crun would
 * do. `--no-pivot` is never used: without pivot_root a process can chroot back out of the root.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError, WardenError } from '../errors.js';
import { detectCgroupMode, type CgroupMode, type CgroupUsage } from './cgroups.js';
import { buildOciConfig, type OciConfig } from './oci/config.js';
import { buildOciSeccompProfile } from './oci/seccomp-profile.js';
import { collectCapped, grant, type KillReason, type ProcessRunResult, type ProcessRunSpec } from './process-tier.js';
import type { SeccompOptions } from './seccomp/index.js';

const RUNC_CANDIDATES = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'];
const CGROUP_ROOT = '/sys/fs/cgroup';
/** runc's state directory when run as root (its `--root` default). */
const RUNC_STATE = '/run/runc';
const DEFAULT_OUTPUT = 1024 * 1024;
const RUNTIME_BINDS = ['/usr', '/etc/alternatives', '/etc/ld.so.cache', '/etc/ssl', '/etc/ca-certificates'];
/** How long `runc run` gets to return after its container was killed before its own process group is killed. */
const RUNC_GRACE_MS = 5000;

/**
 * A container-tier run: the process tier's spec, with the deny-list given as options instead of
 * a compiled BPF program (runc compiles the OCI profile itself). `seccomp` and `extraBinds`, if
 * present, are ignored.
 */
export type ContainerRunSpec = Omit<ProcessRunSpec, 'seccomp' | 'extraBinds'> & {
  seccomp?: Buffer;
  /** Options for the deny-list (`extraDeny`, `allow`); the default list when absent. */
  seccompOptions?: SeccompOptions;
  /** Where bundles are made (default: /dev/shm when it is a writable tmpfs, else the OS temp dir). */
  bundleRoot?: string;
  /** Run in a user namespace (default: wherever the kernel allows them). */
  userNamespace?: boolean;
};

/** The container tier's result: the process tier's shape, plus the container's id. */
export interface ContainerRunResult extends ProcessRunResult {
  containerId: string;
  /** Whether container root was an unprivileged host id (a user namespace) rather than host root. */
  userNamespace: boolean;
}

/** The runc binary, if installed. */
export function runcPath(): string | undefined {
  return RUNC_CANDIDATES.find((p) => existsSync(p));
}

/**
 * Whether the container tier can run here: runc installed, Warden running as root (rootless
 * runc needs a delegated cgroup subtree and a user namespace, which this tier does not set up),
 * and a cgroup hierarchy runc can put limits in.
 *
 * @example
 * ```ts
 * import { containerTierAvailable } from './container-tier.js';
 * const { ok, reason } = containerTierAvailable();
 * if (!ok) console.warn(`container tier unavailable: ${reason}`);
 * ```
 */
export function containerTierAvailable(): { ok: boolean; reason?: string } {
  const runc = runcPath();
  if (!runc) return { ok: false, reason: 'runc is not installed (apt-get install runc)' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the container tier runs runc as root; rootless runc is not supported in this version' };
  const mode = detectCgroupMode(CGROUP_ROOT);
  if (!mode) return { ok: false, reason: `no usable cgroup hierarchy at ${CGROUP_ROOT}: runc cannot enforce memory, CPU and pids limits` };
  if (mode === 'v1' && !existsSync(join(CGROUP_ROOT, 'cpu'))) return { ok: false, reason: 'the cgroup v1 cpu controller is not mounted' };
  return { ok: true };
}

function checkLimits(limits: ContainerRunSpec['limits']): void {
  const positiveInt = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
  if (!positiveInt(limits.memoryBytes) || limits.memoryBytes < 4 << 20) throw new BadInputError('limits.memoryBytes must be an integer of at least 4 MiB');
  if (!positiveInt(limits.pids)) throw new BadInputError('limits.pids must be a positive integer');
  if (typeof limits.cpuQuota !== 'number' || !(limits.cpuQuota > 0) || !Number.isFinite(limits.cpuQuota)) throw new BadInputError('limits.cpuQuota must be a positive number');
  if (!positiveInt(limits.timeMs)) throw new BadInputError('limits.timeMs must be a positive integer');
}

/** Whether the host accounts swap, so that `memory.swap` (memory + swap) can be capped at the memory limit. */
function swapAccounted(mode: CgroupMode): boolean {
  if (mode === 'v1') return existsSync(join(CGROUP_ROOT, 'memory', 'memory.memsw.limit_in_bytes'));
  return readText(join(CGROUP_ROOT, 'cgroup.subtree_control'))?.includes('memory') === true && existsSync(join(CGROUP_ROOT, 'init.scope', 'memory.swap.max'));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Usage of the container's cgroup, read after it stopped and before it is deleted. */
function containerUsage(mode: CgroupMode, cgroupsPath: string): CgroupUsage {
  if (mode === 'v1') {
    const mem = join(CGROUP_ROOT, 'memory', cgroupsPath);
    const peak = readText(join(mem, 'memory.max_usage_in_bytes'));
    const cpu = readText(join(CGROUP_ROOT, 'cpuacct', cgroupsPath, 'cpuacct.usage'));
    const oom = readText(join(mem, 'memory.oom_control'));
    return {
      peakMemoryBytes: peak ? Number(peak) : null,
      cpuTimeMs: cpu ? Math.round(Number(cpu) / 1e6) : null,
      oomKilled: Number(/oom_kill (\d+)/.exec(oom ?? '')?.[1] ?? 0) > 0,
    };
  }
  const dir = join(CGROUP_ROOT, cgroupsPath);
  const peak = readText(join(dir, 'memory.peak'));
  const stat = readText(join(dir, 'cpu.stat'));
  const events = readText(join(dir, 'memory.events'));
  return {
    peakMemoryBytes: peak ? Number(peak) : null,
    cpuTimeMs: stat ? Math.round(Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0) / 1000) : null,
    oomKilled: Number(/oom_kill (\d+)/.exec(events ?? '')?.[1] ?? 0) > 0,
  };
}

/** Pids in the container's cgroup (a last resort if runc cannot kill it). */
function cgroupPids(mode: CgroupMode, cgroupsPath: string): number[] {
  const file = mode === 'v1' ? join(CGROUP_ROOT, 'pids', cgroupsPath, 'cgroup.procs') : join(CGROUP_ROOT, cgroupsPath, 'cgroup.procs');
  return (readText(file) ?? '').split('\n').filter(Boolean).map(Number);
}

/** Whether this kernel lets runc create user namespaces. */
export function userNamespacesAvailable(): boolean {
  return Number(readText('/proc/sys/user/max_user_namespaces') ?? 0) > 0;
}

/** Host id ranges already handed out to users' own containers (/etc/subuid, /etc/subgid). */
function subordinateRanges(): [number, number][] {
  const out: [number, number][] = [];
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    for (const line of (readText(f) ?? '').split('\n')) {
      const [, start, count] = line.split(':');
      if (start && count) out.push([Number(start), Number(start) + Number(count)]);
    }
  }
  return out;
}

/** A random host id for this run's container root: above every ordinary and subordinate id, so it owns nothing else. */
function pickRootHostId(): number {
  const taken = subordinateRanges();
  for (;;) {
    const id = 0x40000000 + randomBytes(4).readUInt32BE(0) % 0x10000000;
    if (!taken.some(([a, b]) => id >= a && id < b)) return id;
  }
}

/** Whether every directory from / down to `dir` lets other users through (mode o+x). */
function searchableByOthers(dir: string): boolean {
  const parts = dir.split('/').filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    if ((statSync(`/${parts.slice(0, i).join('/')}`).mode & 0o001) === 0) return false;
  }
  return true;
}

function defaultBundleRoot(): string {
  try {
    if (statSync('/dev/shm').isDirectory() && readText('/proc/self/mounts')?.split('\n').some((l) => / \/dev\/shm tmpfs /.test(l) && !/\bro\b/.test(l.split(' ')[3] ?? ''))) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

/**
 * Lays out the bundle: `config.json` (0600) and an empty `rootfs` holding only mount points,
 * the usrmerge symlinks and a minimal /etc (passwd, group, hosts) — root is read-only at run time.
 */
function writeBundle(dir: string, config: OciConfig, rootHostId: number | undefined): void {
  const rootfs = join(dir, 'rootfs');
  // Modes are set explicitly: the CLI runs with umask 077, and 0700 mount points would lock the
  // sandbox's uid (and, with a user namespace, container root) out of its own root.
  for (const d of ['proc', 'dev', 'tmp', 'work', 'usr', 'etc']) mkdirSync(join(rootfs, d), { recursive: true, mode: 0o755 });
  for (const d of ['', 'proc', 'dev', 'work', 'usr', 'etc']) chmodSync(join(rootfs, d), 0o755);
  // runc gives a tmpfs the mode of the directory it covers, whatever the mount options say.
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) {
    if (existsSync(`/${target}`)) symlinkSync(target, join(rootfs, link));
  }
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n', { mode: 0o644 });
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n', { mode: 0o644 });
  writeFileSync(join(rootfs, 'etc', 'hosts'), '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n', { mode: 0o644 });
  for (const f of ['passwd', 'group', 'hosts']) chmodSync(join(rootfs, 'etc', f), 0o644);
  if (rootHostId !== undefined) {
    // Container root must reach the rootfs through the bundle; config.json (with the environment) stays host root's.
    const own = (p: string) => {
      lchownSync(p, rootHostId, rootHostId);
      if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) own(join(p, e));
    };
    own(rootfs);
    chownSync(dir, rootHostId, rootHostId);
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
}

/** Runs a runc subcommand to completion; never throws (the caller decides what a failure means). */
function runcCmd(runc: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(runc, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, timeout: 10_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr: String(stderr) });
    });
  });
}

/**
 * Runs one command in the container tier. Never throws for what the command does; throws when
 * the sandbox cannot be set up (bad spec, a forbidden grant, runc or cgroups unavailable).
 *
 * @example
 * ```ts
 * import { runContainerTier } from './container-tier.js';
 * const r = await runContainerTier({
 *   command: ['sh', '-c', 'id -u'],
 *   limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 64, timeMs: 10_000 },
 * });
 * // r.stdout.toString() === '65534\n'
 * ```
 */
/** A container-tier sandbox that has been started (see {@link launchContainerTier}). */
export interface LaunchedContainer {
  runId: string;
  containerId: string;
  userNamespace: boolean;
  /** `runc run`: the container's stdin, stdout and stderr are its pipes. */
  child: ChildProcessWithoutNullStreams;
  /** Kills the container (retrying while runc is still creating it); the first reason sticks. */
  kill(why: KillReason): void;
  killed(): KillReason | null;
  usage(): CgroupUsage;
  /** After `child` has closed: deletes the container and its bundle (config.json holds secrets). Idempotent. */
  cleanup(): Promise<void>;
}

/**
 * Starts one command in the container tier and returns at once, its stdio as pipes: for
 * long-lived tools (an MCP server over stdio) as well as for {@link runContainerTier}. The
 * caller owns the lifetime: kill, wait for `child` to close, then `cleanup()`.
 */
export function launchContainerTier(spec: Omit<ContainerRunSpec, 'stdin' | 'maxOutputBytes'>): LaunchedContainer {
  const available = containerTierAvailable();
  if (!available.ok) throw new WardenError('FORBIDDEN', `container tier unavailable: ${available.reason}`);
  const runc = runcPath() as string;
  const mode = detectCgroupMode(CGROUP_ROOT) as CgroupMode;
  // Snapshot the caller's spec before checking it: nothing may change between check and use.
  const command = [...(spec.command ?? [])];
  const limits = { ...spec.limits };
  if (command.length === 0 || command.some((a) => typeof a !== 'string' || a.includes('\0'))) throw new BadInputError('no command to run, or an argument that is not a NUL-free string');
  checkLimits(limits);
  const runId = spec.runId ?? `run_${randomBytes(9).toString('base64url')}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) throw new BadInputError('invalid run id');
  const containerId = `warden-${runId}`;
  const cgroupsPath = `/warden/${containerId}`;
  // A reused run id must not touch another run: the cleanup below force-deletes by id.
  if (existsSync(join(RUNC_STATE, containerId)) || cgroupPids(mode, cgroupsPath).length > 0) throw new WardenError('CONFLICT', `container ${containerId} already exists`);
  const readBinds = (spec.fs?.read ?? []).map((p) => ({ source: grant(p), destination: p }));
  const writeBinds = (spec.fs?.write ?? []).map((p) => ({ source: grant(p), destination: p }));
  const userNamespace = spec.userNamespace ?? userNamespacesAvailable();
  const rootHostId = userNamespace ? pickRootHostId() : undefined;
  const config = buildOciConfig({
    args: command, env: { ...(spec.env ?? {}) }, readBinds, writeBinds,
    runtimeBinds: RUNTIME_BINDS.filter((p) => existsSync(p)),
    limits, limitSwap: swapAccounted(mode), cgroupsPath,
    seccomp: buildOciSeccompProfile(spec.seccompOptions),
    ...(rootHostId !== undefined ? { userNamespace: { rootHostId } } : {}),
  });
  const bundleRoot = realpathSync(spec.bundleRoot ?? defaultBundleRoot());
  // In a user namespace, container root (an unprivileged host id) must be able to walk to the rootfs.
  if (userNamespace && !searchableByOthers(bundleRoot)) throw new BadInputError(`bundle root ${bundleRoot} is not searchable by other users (o+x on it and every parent), which a user-namespaced run needs`);
  const bundle = mkdtempSync(join(bundleRoot, 'warden-bundle-'));
  chmodSync(bundle, 0o700);
  let cleaned: Promise<void> | undefined;
  const cleanup = () => {
    // Also when setup failed part-way: no container or bundle (with the secrets in config.json) is left behind.
    cleaned ??= removeContainer(runc, containerId, mode, cgroupsPath).finally(() => rmSync(bundle, { recursive: true, force: true }));
    return cleaned;
  };
  let child: ChildProcessWithoutNullStreams;
  try {
    writeBundle(bundle, config, rootHostId);
    // runc creates the grants' mount points (and their parents) with the caller's umask; under
    // the CLI's 077 they would be 0700 and lock the sandbox's uid out of its own grants.
    child = spawn('/bin/sh', ['-c', 'umask 022 && exec "$@"', 'warden-runc', runc, 'run', '--keep', '--bundle', bundle, containerId], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // its own process group: a last-resort kill reaches runc and nothing else
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  } catch (err) {
    void cleanup();
    throw err;
  }
  child.stdin.on('error', () => undefined);
  let killed: KillReason | null = null;
  let exited = false;
  child.on('close', () => {
    exited = true;
  });
  return {
    runId, containerId, userNamespace, child,
    kill(why) {
      if (killed) return;
      killed = why;
      // `runc kill` fails while the container is still being created; keep trying until runc
      // returns, killing whatever already sits in the cgroup each time.
      const attempt = async (): Promise<void> => {
        const r = await runcCmd(runc, ['kill', containerId, 'KILL']);
        if (exited) return;
        if (r.code !== 0) for (const pid of cgroupPids(mode, cgroupsPath)) tryKill(pid);
        setTimeout(() => void attempt(), 50).unref();
      };
      void attempt();
      setTimeout(() => {
        // runc itself wedged: kill its process group (the container's processes are in the cgroup, killed above).
        if (!exited && child.pid) tryKill(-child.pid);
      }, RUNC_GRACE_MS).unref();
    },
    killed: () => killed,
    usage: () => containerUsage(mode, cgroupsPath),
    cleanup,
  };
}

export async function runContainerTier(spec: ContainerRunSpec): Promise<ContainerRunResult> {
  const maxOut = spec.maxOutputBytes ?? DEFAULT_OUTPUT;
  const started = performance.now();
  const c = launchContainerTier(spec);
  try {
    const { child } = c;
    child.stdin.end(spec.stdin ?? Buffer.alloc(0));
    const stdout = collectCapped(child.stdout, maxOut, () => c.kill('output'));
    const stderr = collectCapped(child.stderr, maxOut, () => c.kill('output'));
    const timer = setTimeout(() => c.kill('timeout'), spec.limits.timeMs);
    const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('error', () => resolve({ code: null, signal: null }));
      child.on('close', (cd, sg) => resolve({ code: cd, signal: sg }));
    });
    clearTimeout(timer);
    const usage = c.usage();
    await c.cleanup();
    const reason = c.killed() ?? (usage.oomKilled ? 'memory' : null);
    // runc reports a signalled container as 128 + signal; when Warden killed it, say so as the process tier does.
    const warden = reason === 'timeout' || reason === 'output';
    return {
      runId: c.runId, containerId: c.containerId, userNamespace: c.userNamespace,
      exitCode: warden ? null : code, signal: warden ? 'SIGKILL' : signal, killed: reason,
      stdout: stdout(), stderr: stderr(),
      durationMs: Math.round(performance.now() - started), peakMemoryBytes: usage.peakMemoryBytes, cpuTimeMs: usage.cpuTimeMs,
    };
  } finally {
    await c.cleanup();
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** `runc delete --force`, retried while the last process is being reaped; idempotent. */
async function removeContainer(runc: string, containerId: string, mode: CgroupMode, cgroupsPath: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await runcCmd(runc, ['delete', '--force', containerId]);
    if (r.code === 0 || /does not exist|not exist/i.test(r.stderr)) return;
    for (const pid of cgroupPids(mode, cgroupsPath)) tryKill(pid);
    await new Promise((res) => setTimeout(res, 25));
  }
}
