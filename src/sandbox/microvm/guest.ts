/**
 * The microvm guest's root filesystem: a static busybox, a passwd/group naming uid 65534, the
 * run's stdin, copies of the granted read paths, and `/init` — a shell script that mounts
 * proc/sys/devtmpfs/cgroup2, limits a cgroup (memory, pids, CPU), runs the command as
 * uid/gid 65534 with only the given environment, kills it at the time limit, then prints the
 * exit status, the cgroup's usage and the base64 of stdout and stderr to the console between
 * random markers, and powers off.
 *
 * Every value that reaches the script (argv, environment, limits) is single-quoted or a number
 * checked here; nothing passes through a shell on the host. `/init` is mode 0700 (root only), so
 * the command cannot read the markers and forge a result frame.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { BadInputError } from '../../errors.js';
import { buildCpio, shQuote, type CpioEntry } from './initramfs.js';
import { grant } from '../process-tier.js';

/** The total bytes of granted files copied into one guest. */
export const MAX_GRANTED_BYTES = 64 * 1024 * 1024;
/** Paths the guest itself owns: a grant may not land on or under them. (/tmp is the rootfs's own 1777 directory, so grants under it stay visible; files the command writes there count against its memory cgroup.) */
const RESERVED = ['/init', '/bin', '/sbin', '/etc', '/dev', '/proc', '/sys', '/run', '/warden'];
/** Host paths never granted, as in the process tier. */

export interface GuestSpec {
  command: string[];
  env: Record<string, string>;
  stdin: Buffer;
  readPaths: string[];
  memoryBytes: number;
  pids: number;
  /** CPUs' worth of time (cgroup cpu.max). */
  cpuQuota: number;
  timeMs: number;
  /** stdout and stderr are each cut at this many bytes + 1 (the host sees the overrun and reports `output`). */
  maxOutputBytes: number;
  /** The console frame's marker (random, unknown to the command). */
  marker: string;
  busyboxPath: string;
}

const posInt = (n: number, what: string) => {
  if (!Number.isFinite(n) || n <= 0) throw new BadInputError(`microvm: ${what} must be a positive number`);
  return Math.ceil(n);
};

/** The /init script. */
export function initScript(g: GuestSpec): string {
  if (g.command.length === 0) throw new BadInputError('no command to run');
  if (g.command[0]!.includes('=')) throw new BadInputError('microvm: the program name may not contain "="');
  if (!/^[A-Za-z0-9-]+$/.test(g.marker)) throw new BadInputError('microvm: bad marker');
  const env: string[] = [];
  for (const [k, v] of Object.entries(g.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) throw new BadInputError(`invalid environment variable name ${JSON.stringify(k)}`);
    env.push(shQuote(`${k}=${v}`));
  }
  const mem = posInt(g.memoryBytes, 'memory');
  const pids = posInt(g.pids, 'pids');
  const cpuMax = Math.max(1000, Math.round(posInt(g.cpuQuota * 100_000, 'cpu quota')));
  const secs = (posInt(g.timeMs, 'time') / 1000).toFixed(3);
  const cap = posInt(g.maxOutputBytes, 'output cap') + 1;
  const M = g.marker;
  const argv = g.command.map(shQuote).join(' ');
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0700 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo 1 > /proc/sys/kernel/printk 2>/dev/null
CG=/sys/fs/cgroup/run
O=/run/out
mkdir -p $O $CG
for c in +memory +pids +cpu; do echo $c > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; done
echo ${mem} > $CG/memory.max
echo 0 > $CG/memory.swap.max 2>/dev/null
echo ${pids} > $CG/pids.max
echo '${cpuMax} 100000' > $CG/cpu.max 2>/dev/null
ulimit -c 0
ulimit -n 1024
mkfifo $O/o $O/e
head -c ${cap} < $O/o > $O/out &
h1=$!
head -c ${cap} < $O/e > $O/err &
h2=$!
( sleep ${secs}; echo 1 > $O/timedout; echo 1 > $CG/cgroup.kill ) &
w=$!
echo "${M} boot"
cd /work
/bin/sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' warden-join $CG su -s /bin/sh -c 'exec env -i "$@"' -- nobody warden-env ${env.join(' ')} ${argv} < /warden/stdin > $O/o 2> $O/e
rc=$?
kill $w 2>/dev/null
echo 1 > $CG/cgroup.kill
wait $h1 $h2
oom=$(grep '^oom_kill ' $CG/memory.events | cut -d' ' -f2)
cpu=$(grep '^usage_usec ' $CG/cpu.stat | cut -d' ' -f2)
peak=$(cat $CG/memory.peak 2>/dev/null)
to=0
[ -e $O/timedout ] && to=1
echo
echo "${M} meta rc=$rc timedout=$to oom=\${oom:-0} cpu_us=\${cpu:--1} peak=\${peak:--1} out=$(wc -c < $O/out) err=$(wc -c < $O/err)"
echo "${M} out"
base64 $O/out
echo "${M} err"
base64 $O/err
echo "${M} end"
sync
poweroff -f
`;
}

/** Resolves a granted read path (absolute, existing, not a forbidden host path, not a path the guest owns). */
function grantTarget(path: string): { real: string; target: string } {
  const real = grant(path);
  const target = posix.normalize(path).replace(/\/+$/, '');
  if (target === '' || RESERVED.some((r) => target === r || target.startsWith(`${r}/`))) {
    throw new BadInputError(`granted path ${path} would hide the microvm guest's own ${target}`);
  }
  return { real, target };
}

/** The guest's whole initramfs. */
export function buildGuest(g: GuestSpec): Buffer {
  const dirs = new Map<string, number>();
  const rest = new Map<string, CpioEntry>();
  const addDir = (p: string, mode = 0o755) => {
    const parent = posix.dirname(p);
    if (parent !== '/' && !dirs.has(parent)) addDir(parent);
    if (!dirs.has(p)) dirs.set(p, mode);
  };
  for (const [d, mode] of [['/bin', 0o755], ['/sbin', 0o755], ['/etc', 0o755], ['/dev', 0o755], ['/proc', 0o555], ['/sys', 0o555],
    ['/tmp', 0o1777], ['/run', 0o700], ['/warden', 0o755], ['/work', 0o755]] as const) addDir(d, mode);
  let total = 0;
  const addTree = (real: string, target: string) => {
    const st = lstatSync(real);
    if (st.isSymbolicLink()) {
      // Inside the guest a symlink can only reach the guest's own files.
      addDir(posix.dirname(target));
      rest.set(target, { type: 'symlink', path: target, target: readlinkSync(real) });
    } else if (st.isDirectory()) {
      addDir(target, (st.mode & 0o555) | 0o555);
      for (const name of readdirSync(real).sort()) addTree(posix.join(real, name), posix.join(target, name));
    } else if (st.isFile()) {
      total += st.size;
      if (total > MAX_GRANTED_BYTES) throw new BadInputError(`granted read paths exceed the microvm tier's ${MAX_GRANTED_BYTES >> 20} MiB copy-in cap`);
      addDir(posix.dirname(target));
      rest.set(target, { type: 'file', path: target, mode: (st.mode & 0o555) | 0o444, data: readFileSync(real) });
    }
    // devices, fifos and sockets are not copied
  };
  for (const p of g.readPaths) {
    const { real, target } = grantTarget(p);
    addTree(real, target);
  }
  const entries: CpioEntry[] = [...dirs].sort(([a], [b]) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1))
    .map(([path, mode]) => ({ type: 'dir', path, mode }));
  entries.push(
    { type: 'chardev', path: '/dev/console', mode: 0o600, major: 5, minor: 1 },
    { type: 'file', path: '/bin/busybox', mode: 0o755, data: readFileSync(g.busyboxPath) },
    { type: 'file', path: '/etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n') },
    { type: 'file', path: '/etc/group', mode: 0o644, data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    { type: 'file', path: '/warden/stdin', mode: 0o444, data: g.stdin },
    { type: 'file', path: '/init', mode: 0o700, data: Buffer.from(initScript(g), 'utf8') },
    ...rest.values(),
  );
  return buildCpio(entries);
}
