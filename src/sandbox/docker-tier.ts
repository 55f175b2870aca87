/**
 * The `docker` tier, for hosts that run a Docker engine: `docker run` with no network, a
 * read-only root, every capability dropped, no-new-privileges, the OCI seccomp profile built
 * from the same deny-list as the other tiers, uid/gid 65534, memory/pids/CPU limits, rlimits,
 * tmpfs /tmp and /work, and only the granted paths bound. gVisor's `runsc` runtime is used when
 * the engine has it.
 *
 * Secrets never go on the docker command line: `--env NAME` (without a value) makes the CLI take
 * the value from its own environment, which is the sandbox environment only.
 *
 * Where no engine answers (as on the machines this project is built on: the `docker` CLI is only
 * a client there), the tier is unavailable and runs that need it are refused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError, WardenError } from '../errors.js';
import { buildOciSeccompProfile } from './oci/seccomp-profile.js';
import { collectCapped, grant, type KillReason, type ProcessRunResult, type ProcessRunSpec } from './process-tier.js';

const DOCKER_CANDIDATES = ['/usr/bin/docker', '/usr/local/bin/docker'];
/** The image the command runs in: a slim Debian, as the other tiers bind the host's Debian runtime. */
export const DEFAULT_DOCKER_IMAGE = 'debian:bookworm-slim';
const DEFAULT_OUTPUT = 1024 * 1024;
const AVAILABILITY_TTL_MS = 30_000;

export type DockerRunSpec = Omit<ProcessRunSpec, 'seccomp' | 'extraBinds'> & { seccomp?: Buffer; image?: string };

export function dockerPath(): string | undefined {
  return DOCKER_CANDIDATES.find((p) => existsSync(p));
}

let cached: { at: number; value: { ok: boolean; reason?: string; runtimes: string[] } } | undefined;

/** Whether an engine answers (cached briefly: this is asked on every run). */
export function dockerTierAvailable(): { ok: boolean; reason?: string; runtimes: string[] } {
  if (cached && Date.now() - cached.at < AVAILABILITY_TTL_MS) return cached.value;
  const docker = dockerPath();
  let value: { ok: boolean; reason?: string; runtimes: string[] };
  if (!docker) {
    value = { ok: false, reason: 'the docker CLI is not installed', runtimes: [] };
  } else {
    const r = spawnSync(docker, ['info', '--format', '{{json .Runtimes}}'], { timeout: 3000, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    if (r.status !== 0) {
      value = { ok: false, reason: 'no Docker engine answers (`docker info` failed): the docker CLI is only a client here', runtimes: [] };
    } else {
      let runtimes: string[];
      try {
        runtimes = Object.keys(JSON.parse(r.stdout) as Record<string, unknown>);
      } catch {
        runtimes = [];
      }
      value = { ok: true, runtimes };
    }
  }
  cached = { at: Date.now(), value };
  return value;
}

/** The `docker run` arguments of a run. No secret value appears in them. */
export function dockerArgs(spec: DockerRunSpec, o: { name: string; seccompFile: string; runtime?: string | undefined }): string[] {
  const l = spec.limits;
  const args = [
    'run', '--name', o.name, '-i', '--network', 'none', '--read-only', '--cap-drop', 'ALL',
    '--security-opt', 'no-new-privileges', '--security-opt', `seccomp=${o.seccompFile}`,
    '--user', '65534:65534', '--memory', `${l.memoryBytes}b`, '--memory-swap', `${l.memoryBytes}b`,
    '--pids-limit', String(l.pids), '--cpus', String(l.cpuQuota),
    '--ulimit', 'nofile=1024:1024', '--ulimit', 'core=0',
    '--tmpfs', '/tmp:rw,nosuid,nodev,size=64m', '--tmpfs', '/work:rw,nosuid,nodev,size=64m', '--workdir', '/work',
    ...(o.runtime ? ['--runtime', o.runtime] : []),
  ];
  for (const p of spec.fs?.read ?? []) args.push('--mount', `type=bind,source=${grant(p)},target=${p},readonly`);
  for (const p of spec.fs?.write ?? []) args.push('--mount', `type=bind,source=${grant(p)},target=${p}`);
  for (const k of Object.keys(envOf(spec))) args.push('--env', k); // the value comes from the CLI's own environment
  args.push('--', spec.image ?? DEFAULT_DOCKER_IMAGE, ...spec.command);
  return args;
}

function envOf(spec: DockerRunSpec): Record<string, string> {
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...(spec.env ?? {}) };
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) throw new BadInputError(`invalid environment variable name ${JSON.stringify(k)}`);
  }
  return env;
}

/** Runs one command in the docker tier; throws when the tier is unavailable or the spec is bad. */
export async function runDockerTier(spec: DockerRunSpec): Promise<ProcessRunResult> {
  const available = dockerTierAvailable();
  const docker = dockerPath();
  if (!available.ok || !docker) throw new WardenError('FORBIDDEN', `docker tier unavailable: ${available.reason ?? 'no docker CLI'}`);
  if (spec.command.length === 0) throw new BadInputError('no command to run');
  const runId = spec.runId ?? `run_${randomBytes(9).toString('base64url')}`;
  const name = `warden-${runId.replace(/[^A-Za-z0-9_-]/g, '')}`;
  const dir = mkdtempSync(join(tmpdir(), 'warden-docker-'));
  const seccompFile = join(dir, 'seccomp.json');
  writeFileSync(seccompFile, JSON.stringify(buildOciSeccompProfile()), { mode: 0o600 });
  const env = envOf(spec);
  const args = dockerArgs(spec, { name, seccompFile, runtime: available.runtimes.includes('runsc') ? 'runsc' : undefined });
  const started = performance.now();
  // The docker CLI's environment is the sandbox's (for `--env NAME`) plus what the CLI itself needs.
  const child = spawn(docker, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...env, DOCKER_CLI_HINTS: 'false' } });
  child.stdin.on('error', () => undefined);
  child.stdin.end(spec.stdin ?? Buffer.alloc(0));
  let killed: KillReason | null = null;
  const kill = (why: KillReason) => {
    killed ??= why;
    spawn(docker, ['kill', name], { stdio: 'ignore' }).on('error', () => undefined);
  };
  const maxOut = spec.maxOutputBytes ?? DEFAULT_OUTPUT;
  const stdout = collectCapped(child.stdout, maxOut, () => kill('output'));
  const stderr = collectCapped(child.stderr, maxOut, () => kill('output'));
  const timer = setTimeout(() => kill('timeout'), spec.limits.timeMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('error', () => resolve({ code: null, signal: null }));
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  const oom = spawnSync(docker, ['inspect', '--format', '{{.State.OOMKilled}}', name], { encoding: 'utf8', timeout: 5000 }).stdout?.trim() === 'true';
  spawnSync(docker, ['rm', '-f', name], { stdio: 'ignore', timeout: 10_000 });
  rmSync(dir, { recursive: true, force: true });
  // Set by the timer or the output cap (closures the compiler cannot follow).
  const why = (killed as KillReason | null) ?? (oom ? 'memory' : null);
  const byWarden = why === 'timeout' || why === 'output';
  return {
    runId, exitCode: byWarden ? null : code, signal: byWarden ? 'SIGKILL' : signal, killed: why,
    stdout: stdout(), stderr: stderr(), durationMs: Math.round(performance.now() - started), peakMemoryBytes: null, cpuTimeMs: null,
  };
}
