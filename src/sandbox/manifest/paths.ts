/**
 * Filesystem grants. A manifest is written by whoever packages an agent — not necessarily the
 * operator who runs it — so every path is checked against what a sandbox must never see:
 *
 * - the kernel and device interfaces (`/proc`, `/sys`, `/dev`): the sandbox mounts its own;
 * - host credentials and control sockets — `/etc/shadow`, `/etc/gshadow`, `/etc/sudoers(.d)`,
 *   `/etc/ssh`, `/etc/ssl/private`, `/root`, `/boot`, `/run` and `/var/run` (the Docker and
 *   containerd sockets are root on the host);
 * - whole home directories (`/home`, `/home/alice`) and the dot-entries directly inside a home
 *   (`~/.ssh`, `~/.aws`, `~/.config`, `~/.netrc` …), where users keep credentials — a project
 *   directory below a home (`/home/alice/reports`) may be granted;
 * - Warden's own data directory (keys, master key, the receipt log) and any other protected path
 *   the caller names;
 * - for writes, also the host's system trees (`/bin`, `/etc`, `/lib*`, `/sbin`, `/usr`).
 *
 * A grant of a directory grants everything below it, so a path is refused when it *contains* a
 * protected path too (`/etc` contains `/etc/shadow`; `/var` contains `/var/run`).
 *
 * These checks are lexical: a manifest is validated where it is written, which need not be the
 * host it runs on. The sandbox must resolve each grant with `realpath` when it binds it and run
 * {@link grantPathProblem} again on the result, so a symlink cannot lead a grant elsewhere.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';

export const MAX_PATH_CHARS = 4096;

/** Kernel and device interfaces: refused at and below. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'] as const;

/** Host credentials and control sockets: refused at, below and above. */
const SENSITIVE_TREES = [
  '/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers', '/etc/sudoers.d', '/etc/ssh', '/etc/ssl/private',
  '/root', '/boot', '/run', '/var/run',
] as const;

/** System trees a sandbox may read (through a grant) but never write. */
const SYSTEM_TREES = ['/bin', '/boot', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/sbin', '/usr'] as const;

function isAtOrUnder(path: string, tree: string): boolean {
  return path === tree || path.startsWith(`${tree}/`);
}

/**
 * The absolute forms of Warden's data directory and other protected paths, as given and with
 * symlinks resolved when they exist (a grant may name either form).
 */
export function protectedForms(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of paths) {
    const abs = resolve(p);
    out.add(abs);
    if (existsSync(abs)) {
      try {
        out.add(realpathSync(abs));
      } catch {
        // Unreadable: the lexical form is still protected.
      }
    }
  }
  return [...out].filter((p) => p !== '/');
}

/** Why `path` is not a well-formed absolute path, or undefined. Shared with `agent.runtime`. */
export function absolutePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'must not be empty';
  if (path.length > MAX_PATH_CHARS) return `must be at most ${MAX_PATH_CHARS} characters`;
  if (path.includes('\0')) return 'must not contain a NUL byte';
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(path)) return 'must not contain control characters';
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path === '/') return undefined;
  const segments = path.slice(1).split('/');
  if (segments.includes('..')) return "must not contain '..'";
  if (segments.some((s) => s === '' || s === '.')) {
    const suggestion = `/${segments.filter((s) => s !== '' && s !== '.').join('/')}`;
    return `must be normalised (no '.', '//' or trailing '/'): write ${JSON.stringify(suggestion)}`;
  }
  return undefined;
}

/**
 * Why `path` may not be granted (`read` or `write`), or undefined when it may.
 * `protectedPaths` are absolute forms (see {@link protectedForms}).
 *
 * @example
 * grantPathProblem('/data/outputs', 'write', ['/var/lib/warden']) // undefined
 * grantPathProblem('/var/lib', 'read', ['/var/lib/warden'])       // 'contains Warden's data directory …'
 */
export function grantPathProblem(path: string, mode: 'read' | 'write', protectedPaths: readonly string[]): string | undefined {
  const malformed = absolutePathProblem(path);
  if (malformed !== undefined) return malformed;
  if (path === '/') return 'must not be / (the whole host file system)';
  for (const tree of KERNEL_TREES) {
    if (isAtOrUnder(path, tree)) return `must not be under ${tree} (kernel and device interfaces; the sandbox provides its own)`;
  }
  for (const tree of SENSITIVE_TREES) {
    if (isAtOrUnder(path, tree)) return `must not grant ${tree} (host credentials or control sockets)`;
    if (isAtOrUnder(tree, path)) return `contains ${tree} (host credentials or control sockets); grant a narrower path`;
  }
  if (isAtOrUnder(path, '/home')) {
    const [, , user, entry] = path.split('/');
    if (user === undefined) return 'must not grant /home (every user\'s home directory); grant a project directory inside a home';
    if (entry === undefined) return `must not grant a whole home directory (/home/${user}); grant a project directory inside it`;
    if (entry.startsWith('.')) {
      return `must not grant a dot-entry of a home directory (/home/${user}/${entry}): credentials live in ~/.ssh, ~/.aws, ~/.config and the like`;
    }
  }
  for (const p of protectedPaths) {
    if (isAtOrUnder(path, p)) return `must not grant Warden's data directory or a path inside it (${p})`;
    if (isAtOrUnder(p, path)) return `contains Warden's data directory (${p}); grant a narrower path`;
  }
  if (mode === 'write') {
    for (const tree of SYSTEM_TREES) {
      if (isAtOrUnder(path, tree)) return `must not be writable: ${tree} holds the host's system files`;
    }
  }
  return undefined;
}
