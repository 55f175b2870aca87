/**
 * Per-run cgroups for the sandbox tiers: memory, CPU and pids limits on cgroup v1, v2 and
 * hybrid hosts (v1 controllers with a v2 hierarchy beside them, as here). A run gets its own
 * group `warden/<run id>` under each controller; the launcher joins it *before* it execs the
 * sandbox, so nothing the sandbox starts can escape the limits by forking early.
 *
 * Without write access to the cgroup filesystem there are no enforceable limits, and the run
 * is refused (fail closed) rather than started without them.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../errors.js';

const ROOT = '/sys/fs/cgroup';
export type CgroupMode = 'v1' | 'v2';

export interface CgroupLimits {
  memoryBytes: number;
  /** CPUs' worth of time, e.g. 0.5. */
  cpuQuota: number;
  pids: number;
}

export interface CgroupUsage {
  peakMemoryBytes: number | null;
  cpuTimeMs: number | null;
  /** The kernel's OOM killer acted inside the group. */
  oomKilled: boolean;
}

/** How this host exposes cgroups: v2 when the root is the unified hierarchy, else v1 controllers (hybrid or legacy). */
export function detectCgroupMode(root = ROOT): CgroupMode | undefined {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  if (existsSync(join(root, 'memory', 'memory.limit_in_bytes')) && existsSync(join(root, 'pids'))) return 'v1';
  return undefined;
}

const PERIOD_US = 100_000;

export class RunCgroup {
  /** Files the launcher writes its own pid into (`cgroup.procs` of each group). */
  readonly procsFiles: string[];
  readonly #dirs: string[];

  private constructor(readonly mode: CgroupMode, private readonly dirs: Record<string, string>) {
    this.#dirs = Object.values(dirs);
    this.procsFiles = this.#dirs.map((d) => join(d, 'cgroup.procs'));
  }

  /** Creates the run's groups with their limits; throws (fail closed) when the host does not allow it. */
  static create(runId: string, limits: CgroupLimits, root = ROOT): RunCgroup {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(runId)) throw new WardenError('BAD_INPUT', 'invalid run id for a cgroup');
    const mode = detectCgroupMode(root);
    if (!mode) throw new WardenError('FORBIDDEN', `no usable cgroup hierarchy at ${root}: the sandbox cannot enforce memory, CPU and pids limits`);
    const quota = Math.max(1000, Math.round(limits.cpuQuota * PERIOD_US));
    const made: string[] = [];
    const mk = (dir: string) => {
      mkdirSync(dir, { recursive: true });
      made.push(dir);
      return dir;
    };
    try {
      if (mode === 'v1') {
        const dirs = {
          memory: mk(join(root, 'memory', 'warden', runId)),
          pids: mk(join(root, 'pids', 'warden', runId)),
          cpu: mk(join(root, 'cpu', 'warden', runId)),
          cpuacct: existsSync(join(root, 'cpuacct')) ? mk(join(root, 'cpuacct', 'warden', runId)) : undefined,
        };
        writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        // Swap would let a memory bomb outlive the limit; where memsw exists, cap it at the same value.
        if (existsSync(join(dirs.memory, 'memory.memsw.limit_in_bytes'))) {
          try {
            writeFileSync(join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
          } catch {
            // Some kernels refuse memsw below the current usage accounting; the memory limit still holds.
          }
        }
        writeFileSync(join(dirs.pids, 'pids.max'), String(limits.pids));
        writeFileSync(join(dirs.cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
        writeFileSync(join(dirs.cpu, 'cpu.cfs_quota_us'), String(quota));
        const present = Object.fromEntries(Object.entries(dirs).filter(([, d]) => d !== undefined)) as Record<string, string>;
        return new RunCgroup(mode, present);
      }
      const dir = mk(join(root, 'warden', runId));
      // The parent must delegate the controllers to its children.
      try {
        writeFileSync(join(root, 'warden', 'cgroup.subtree_control'), '+memory +pids +cpu');
      } catch {
        // already delegated, or not delegatable: the limit writes below tell
      }
      writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
      if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      writeFileSync(join(dir, 'pids.max'), String(limits.pids));
      writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
      return new RunCgroup(mode, { unified: dir });
    } catch (err) {
      for (const d of made.reverse()) {
        try {
          rmdirSync(d);
        } catch {
          // best effort
        }
      }
      if (err instanceof WardenError) throw err;
      throw new WardenError('FORBIDDEN', `cannot create the run's cgroups (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): run Warden as root or delegate a cgroup subtree to it`);
    }
  }

  /** Pids still in the group (to kill stragglers: cgroup v1 has no cgroup.kill). */
  pids(): number[] {
    const file = this.procsFiles[0];
    if (!file) return [];
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Kills everything in the group. */
  killAll(): void {
    if (this.mode === 'v2') {
      try {
        writeFileSync(join(this.dirs.unified as string, 'cgroup.kill'), '1');
        return;
      } catch {
        // older kernels: fall through to signalling each pid
      }
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  usage(): CgroupUsage {
    const read = (path: string | undefined) => {
      if (!path) return undefined;
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    };
    if (this.mode === 'v1') {
      const peak = read(join(this.dirs.memory as string, 'memory.max_usage_in_bytes'));
      const cpu = read(this.dirs.cpuacct ? join(this.dirs.cpuacct, 'cpuacct.usage') : undefined);
      const oom = read(join(this.dirs.memory as string, 'memory.oom_control'));
      const failcnt = read(join(this.dirs.memory as string, 'memory.failcnt'));
      const oomKills = Number(/oom_kill (\d+)/.exec(oom ?? '')?.[1] ?? 0);
      return {
        peakMemoryBytes: peak ? Number(peak) : null,
        cpuTimeMs: cpu ? Math.round(Number(cpu) / 1e6) : null,
        oomKilled: oomKills > 0 || (oom === undefined && Number(failcnt ?? 0) > 0),
      };
    }
    const dir = this.dirs.unified as string;
    const peak = read(join(dir, 'memory.peak'));
    const stat = read(join(dir, 'cpu.stat'));
    const events = read(join(dir, 'memory.events'));
    return {
      peakMemoryBytes: peak ? Number(peak) : null,
      cpuTimeMs: stat ? Math.round(Number(/usage_usec (\d+)/.exec(stat)?.[1] ?? 0) / 1000) : null,
      oomKilled: Number(/oom_kill (\d+)/.exec(events ?? '')?.[1] ?? 0) > 0,
    };
  }

  /** Removes the groups once their last process is reaped (a leftover empty group is harmless). */
  async remove(): Promise<void> {
    for (const d of this.#dirs) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          await new Promise((r) => setTimeout(r, 10)); // EBUSY while the last process is being reaped
        }
      }
    }
  }
}
