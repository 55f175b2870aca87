/**
 * The docker tier. Its command line is checked everywhere (no engine needed): the hardening
 * flags, the seccomp profile, the limits, the grants, and that secret values never appear in it.
 * Real runs need a Docker engine; without one (as here: the docker CLI is only a client) they
 * skip and say so, and a run that needs the tier is refused, not downgraded.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerArgs, dockerTierAvailable, runDockerTier, DEFAULT_DOCKER_IMAGE } from '../../src/sandbox/docker-tier.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-docker-test-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = (extra: Record<string, unknown> = {}) => ({
  command: ['python3', '-c', 'print(1)'], env: { API_KEY: 'sk-secret-value-123' },
  limits: { memoryBytes: 128 << 20, cpuQuota: 0.5, pids: 32, timeMs: 5000 }, ...extra,
});

describe('docker tier command line', () => {
  it('carries every hardening flag, the seccomp profile, the limits and the grants', () => {
    const args = dockerArgs(spec({ fs: { read: [dir], write: [dir] } }), { name: 'warden-run_x', seccompFile: '/tmp/s.json' });
    const line = args.join(' ');
    for (const flag of ['--network none', '--read-only', '--cap-drop ALL', '--security-opt no-new-privileges', '--security-opt seccomp=/tmp/s.json',
      '--user 65534:65534', `--memory ${128 << 20}b`, `--memory-swap ${128 << 20}b`, '--pids-limit 32', '--cpus 0.5', '--ulimit core=0']) {
      expect(line).toContain(flag);
    }
    expect(line).toContain(`--mount type=bind,source=${dir},target=${dir},readonly`);
    expect(line).toContain(`--mount type=bind,source=${dir},target=${dir} `);
    expect(args.slice(-4)).toEqual([DEFAULT_DOCKER_IMAGE, 'python3', '-c', 'print(1)']);
    expect(args).not.toContain('--privileged');
  });

  it('names secrets with --env NAME only: the value never reaches the command line', () => {
    const args = dockerArgs(spec(), { name: 'n', seccompFile: '/s' });
    expect(args.join(' ')).not.toContain('sk-secret-value-123');
    expect(args[args.indexOf('API_KEY') - 1]).toBe('--env');
  });

  it('uses gVisor when the engine offers it, and refuses forbidden grants and bad variable names', () => {
    expect(dockerArgs(spec(), { name: 'n', seccompFile: '/s', runtime: 'runsc' }).join(' ')).toContain('--runtime runsc');
    expect(() => dockerArgs(spec({ fs: { read: ['/etc/shadow'] } }), { name: 'n', seccompFile: '/s' })).toThrow(/never granted/);
    expect(() => dockerArgs(spec({ env: { 'A=B': 'x' } }), { name: 'n', seccompFile: '/s' })).toThrow(/invalid environment variable/);
  });
});

const engine = dockerTierAvailable();
if (!engine.ok) console.warn(`docker tier runs SKIPPED: ${engine.reason}`);

describe('docker tier runs', () => {
  it.runIf(!engine.ok)('without an engine the tier refuses to run, with the reason', async () => {
    await expect(runDockerTier(spec())).rejects.toThrow(/docker tier unavailable/);
  });

  it.runIf(engine.ok)('runs as 65534 with no network and the secret in its environment only', async () => {
    const r = await runDockerTier(spec({ command: ['sh', '-c', 'id -u; echo "$API_KEY"; cat /sys/class/net/*/operstate 2>/dev/null | sort -u'] }));
    expect(r.stdout.toString().split('\n').slice(0, 2)).toEqual(['65534', 'sk-secret-value-123']);
  });

  it.runIf(engine.ok)('an endless loop is killed at the timeout', async () => {
    const r = await runDockerTier(spec({ command: ['sh', '-c', 'while true; do :; done'], limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 16, timeMs: 1000 } }));
    expect(r.killed).toBe('timeout');
  });
});
