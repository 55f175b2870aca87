/**
 * The OCI runtime-spec `config.json` for one `container`-tier run: the subset of the spec
 * Warden uses, and the one function that fills it. Pure — no filesystem access — so the
 * hardening can be unit-tested without a runtime; paths arrive already resolved and checked
 * (`container-tier.ts` does that, as the process tier does).
 *
 * What it sets, and the threat each line answers:
 * - uid/gid 65534, every capability set empty, `noNewPrivileges`, the seccomp deny-list: the
 *   tool holds no privilege, cannot gain one through setuid binaries, and cannot reach the
 *   kernel surface the deny-list removes;
 * - new pid, network (loopback only), ipc, uts, mount and cgroup namespaces: it sees none of
 *   the host's processes, sockets, SysV IPC or cgroup tree;
 * - a read-only, empty root with read-only binds of the runtime and only the granted paths;
 *   tmpfs for /tmp and /work: the host's files are invisible unless granted;
 * - runc's default masked and read-only /proc paths: no kernel memory, keys or sysrq;
 * - cgroup memory (swap = memory, i.e. no swap), pids and CPU limits, plus rlimits.
 *
 * - optionally a user namespace (container-tier.ts uses one where the kernel allows): container
 *   root — runc's own init while it sets up — is then an unprivileged host uid, not host root.
 */
import { BadInputError } from '../../errors.js';
import type { OciSeccomp } from './seccomp-profile.js';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciConfig {
  ociVersion: string;
  process: {
    terminal: false;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    noNewPrivileges: true;
    capabilities: { bounding: string[]; effective: string[]; inheritable: string[]; permitted: string[]; ambient: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    oomScoreAdj: number;
  };
  root: { path: string; readonly: true };
  hostname: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    resources: {
      devices: { allow: boolean; access: string }[];
      memory: { limit: number; swap?: number };
      pids: { limit: number };
      cpu: { quota: number; period: number };
    };
    cgroupsPath: string;
    rootfsPropagation: 'rprivate';
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp: OciSeccomp;
  };
}

export interface OciConfigInput {
  /** argv; argv[0] is looked up on the container's PATH. */
  args: string[];
  /** The complete environment (nothing of the parent's). */
  env: Record<string, string>;
  /** Read-only binds: host source (resolved) → path inside. */
  readBinds: { source: string; destination: string }[];
  /** Read-write binds: host source (resolved) → path inside. */
  writeBinds: { source: string; destination: string }[];
  /** Runtime paths that exist on this host, bound read-only at the same place. */
  runtimeBinds: string[];
  limits: { memoryBytes: number; cpuQuota: number; pids: number };
  /** Cap the memory+swap total at the memory limit (only where the host accounts swap). */
  limitSwap: boolean;
  cgroupsPath: string;
  seccomp: OciSeccomp;
  hostname?: string;
  /**
   * A user namespace in which container root is the unprivileged host uid/gid `rootHostId`
   * and the sandbox user 65534 stays the host's 65534 (so grants behave as without one).
   */
  userNamespace?: { rootHostId: number };
}

/** The spec version runc 1.1 implements. */
export const OCI_VERSION = '1.0.2';
export const SANDBOX_UID = 65534;
export const CPU_PERIOD_US = 100_000;
const FSIZE_MAX = 1 << 30;

/** runc's `runc spec` defaults, plus the powercap interface Docker also masks (energy side channels). */
export const MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
]);
export const READONLY_PATHS: readonly string[] = Object.freeze(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** The environment as `KEY=value` lines; the defaults come first so the caller's values win. */
export function ociEnv(env: Record<string, string>): string[] {
  const all = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...env };
  return Object.entries(all).map(([k, v]) => {
    // A name with '=' or a value with NUL would be split differently by the runtime than here.
    if (!ENV_NAME.test(k)) throw new BadInputError(`invalid environment variable name ${JSON.stringify(k)}`);
    if (typeof v !== 'string' || v.includes('\0')) throw new BadInputError(`environment variable ${k} has a value that is not a NUL-free string`);
    return `${k}=${v}`;
  });
}

/** Two single-id maps: container root → an unprivileged host id; 65534 → 65534. Every other id is unmapped. */
function idMappings(rootHostId: number) {
  if (!Number.isSafeInteger(rootHostId) || rootHostId <= SANDBOX_UID || rootHostId >= 0xffffffff) throw new BadInputError('userNamespace.rootHostId must be an unprivileged host id above 65534');
  const map = [{ containerID: 0, hostID: rootHostId, size: 1 }, { containerID: SANDBOX_UID, hostID: SANDBOX_UID, size: 1 }];
  return { uidMappings: map, gidMappings: map.map((m) => ({ ...m })) };
}

/**
 * Fill the OCI config for one run.
 *
 * @example
 * ```ts
 * import { buildOciConfig } from './config.js';
 * import { buildOciSeccompProfile } from './seccomp-profile.js';
 * const config = buildOciConfig({
 *   args: ['true'], env: {}, readBinds: [], writeBinds: [], runtimeBinds: ['/usr'],
 *   limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 64 }, limitSwap: true,
 *   cgroupsPath: '/warden/warden-run_1', seccomp: buildOciSeccompProfile(),
 * });
 * ```
 */
export function buildOciConfig(input: OciConfigInput): OciConfig {
  const ro = ['bind', 'ro', 'nosuid', 'nodev'];
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    { destination: '/work', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=0755', `uid=${SANDBOX_UID}`, `gid=${SANDBOX_UID}`] },
    ...input.runtimeBinds.map((p) => ({ destination: p, type: 'bind', source: p, options: ro })),
  ];
  // Grants last, shallowest first: a grant below /tmp or /work must be mounted over the tmpfs, not under it.
  const grants = [
    ...input.readBinds.map((b) => ({ ...b, options: ro })),
    ...input.writeBinds.map((b) => ({ ...b, options: ['bind', 'rw', 'nosuid', 'nodev'] })),
  ].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  for (const g of grants) mounts.push({ destination: g.destination, type: 'bind', source: g.source, options: g.options });

  const quota = Math.max(1000, Math.round(input.limits.cpuQuota * CPU_PERIOD_US));
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID, additionalGids: [] },
      args: [...input.args],
      env: ociEnv(input.env),
      cwd: '/work',
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
        { type: 'RLIMIT_FSIZE', hard: FSIZE_MAX, soft: FSIZE_MAX },
      ],
      // Under host memory pressure the sandbox is the first to go, not Warden or the host's services.
      oomScoreAdj: 1000,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: input.hostname ?? 'sandbox',
    mounts,
    linux: {
      namespaces: [
        { type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' },
        ...(input.userNamespace ? [{ type: 'user' }] : []),
      ],
      ...(input.userNamespace ? idMappings(input.userNamespace.rootHostId) : {}),
      resources: {
        // Deny every device node; runc then allows only its defaults (null, zero, full, tty, random, urandom, ptmx).
        devices: [{ allow: false, access: 'rwm' }],
        memory: { limit: input.limits.memoryBytes, ...(input.limitSwap ? { swap: input.limits.memoryBytes } : {}) },
        pids: { limit: input.limits.pids },
        cpu: { quota, period: CPU_PERIOD_US },
      },
      cgroupsPath: input.cgroupsPath,
      rootfsPropagation: 'rprivate',
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      seccomp: input.seccomp,
    },
  };
}
