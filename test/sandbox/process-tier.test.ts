/**
 * Red-team tests of the process tier on the real kernel: each escape attempt must be contained.
 * Host secrets, the data dir and home directories are invisible; writes outside the granted
 * paths fail; the host's loopback is unreachable; fork and memory bombs hit their limits; an
 * endless loop is killed at the timeout; the parent's environment does not leak; a symlink in a
 * granted path cannot reach outside; runaway output is cut.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processTierAvailable, runProcessTier, type ProcessRunSpec } from '../../src/sandbox/process-tier.js';
import { detectCgroupMode } from '../../src/sandbox/cgroups.js';

/** seccomp `RET ALLOW` for one instruction: these tests exercise namespaces, mounts and cgroups; the deny-list has its own tests. */
const ALLOW_ALL = (() => {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(0x06, 0);
  b.writeUInt32LE(0x7fff0000, 4);
  return b;
})();

const runnable = processTierAvailable().ok && detectCgroupMode() !== undefined && process.getuid?.() === 0;
if (!runnable) console.warn('process-tier tests SKIPPED: needs bubblewrap, prlimit, a cgroup hierarchy and root (.ci/run installs bubblewrap)');

let dir: string;
let inputs: string;
let outputs: string;
let server: Server;
const base = (command: string[], extra: Partial<ProcessRunSpec> = {}): ProcessRunSpec => ({
  command, seccomp: ALLOW_ALL, limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 64, timeMs: 10_000 }, ...extra,
});
const sh = (script: string, extra: Partial<ProcessRunSpec> = {}) => runProcessTier(base(['sh', '-c', script], extra));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-sandbox-'));
  inputs = join(dir, 'inputs');
  outputs = join(dir, 'outputs');
  for (const d of [inputs, outputs]) rmSync(d, { recursive: true, force: true });
  await import('node:fs/promises').then(async (fs) => {
    await fs.mkdir(inputs);
    await fs.mkdir(outputs);
  });
  writeFileSync(join(inputs, 'report.csv'), 'a,b\n1,2\n');
  // The sandbox is uid 65534 on the host too: grants must be reachable and (outputs) writable by it.
  chmodSync(dir, 0o755);
  chmodSync(outputs, 0o777);
  writeFileSync(join(dir, 'secret.txt'), 'host secret');
  server = createServer((s) => s.end('host service\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(runnable)('process tier (bubblewrap)', () => {
  it('runs as uid 65534 with no capabilities, a cleared environment and only the runtime mounted', async () => {
    process.env.WARDEN_PARENT_MARKER = 'parent-secret-value';
    const r = await sh('id -u; id -g; grep CapEff /proc/self/status; env; ls /; cat /etc/shadow; ls /root; ls /home');
    delete process.env.WARDEN_PARENT_MARKER;
    const out = r.stdout.toString();
    expect(r.exitCode).not.toBeNull();
    expect(out).toMatch(/^65534\n65534\n/);
    expect(out).toMatch(/CapEff:\s+0000000000000000/);
    expect(out).not.toContain('parent-secret-value');
    expect(out).not.toMatch(/^(root|home|boot)$/m);
    expect(r.stderr.toString()).toMatch(/shadow: No such file/);
  });

  it('grants exactly the manifest paths: read-only inputs, writable outputs; nothing else of the host, the data dir included', async () => {
    const r = await sh(`cat ${inputs}/report.csv; echo ok > ${outputs}/result.txt; echo x > ${inputs}/new 2>/dev/null || echo ro-inputs; cat ${dir}/secret.txt 2>/dev/null || echo no-secret; echo x > /usr/x 2>/dev/null || echo ro-usr`, {
      fs: { read: [inputs], write: [outputs] },
    });
    expect(r.stdout.toString()).toBe('a,b\n1,2\nro-inputs\nno-secret\nro-usr\n');
    expect(readFileSync(join(outputs, 'result.txt'), 'utf8')).toBe('ok\n');
    expect(existsSync(join(inputs, 'new'))).toBe(false);
  });

  it('what the sandbox writes is owned by uid 65534 on the host: a setuid bit it sets grants nothing', async () => {
    const r = await sh(`cp /usr/bin/id ${outputs}/id-copy && chmod 4755 ${outputs}/id-copy && echo done`, { fs: { write: [outputs] } });
    expect(r.stdout.toString()).toBe('done\n');
    const st = statSync(join(outputs, 'id-copy'));
    expect(st.uid).toBe(65534);
    expect(st.gid).toBe(65534);
  });

  it('the environment (secrets) never appears on a command line the host or the sandbox can read', async () => {
    const r = await sh('echo "$TOKEN_X"; cat /proc/1/cmdline | tr "\\0" " "', { env: { TOKEN_X: 'never-on-argv-42' } });
    const [first, cmdline] = r.stdout.toString().split('\n');
    expect(first).toBe('never-on-argv-42');
    expect(cmdline).not.toContain('never-on-argv-42');
  });

  it('a symlink planted in a granted write path cannot reach outside it', async () => {
    symlinkSync(join(dir, 'secret.txt'), join(outputs, 'link'));
    const r = await sh(`cat ${outputs}/link 2>/dev/null || echo blocked; echo pwned > ${outputs}/link 2>/dev/null || echo blocked-write`, { fs: { write: [outputs] } });
    expect(r.stdout.toString()).not.toContain('host secret');
    expect(readFileSync(join(dir, 'secret.txt'), 'utf8')).toBe('host secret');
  });

  it("cannot reach a service on the host's loopback (no network namespace access)", async () => {
    const port = (server.address() as AddressInfo).port;
    const r = await runProcessTier(base(['python3', '-c', `import socket\ntry:\n  s=socket.create_connection(("127.0.0.1", ${port}), timeout=2); print("CONNECTED", s.recv(100))\nexcept Exception as e: print("refused", type(e).__name__)`]));
    expect(r.stdout.toString()).toMatch(/^refused/);
  });

  it('/proc/1 is the sandbox’s own init: /proc/1/root does not lead to the host', async () => {
    const r = await sh('ls /proc/1/root/ 2>&1; cat /proc/1/root/etc/shadow 2>&1 || true; ls /proc | grep -c "^[0-9]"');
    const out = r.stdout.toString();
    expect(out).toMatch(/^work$/m); // the sandbox's own root
    expect(out).toMatch(/shadow: No such file/);
    expect(out).not.toMatch(/^root:/m); // no host /etc/shadow content
    expect(Number(out.trim().split('\n').at(-1))).toBeLessThan(10); // only the sandbox's few processes
  });

  it('a fork bomb hits the pids limit', async () => {
    const r = await sh('bomb() { bomb | bomb & }; bomb; sleep 1; echo survived', { limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 16, timeMs: 5000 } });
    expect(r.stderr.toString()).toMatch(/fork|Resource temporarily unavailable/i);
  });

  it('a memory bomb is killed at the memory limit', async () => {
    const r = await runProcessTier(base(['python3', '-c', 'a=[]\nwhile True: a.append(bytearray(10**6))'], { limits: { memoryBytes: 48 << 20, cpuQuota: 1, pids: 16, timeMs: 20_000 } }));
    expect(r.killed).toBe('memory');
    expect(r.exitCode === 0).toBe(false);
    expect(r.peakMemoryBytes).toBeLessThanOrEqual(48 << 20);
  });

  it('an endless loop is killed at the timeout, whole process tree included', async () => {
    const r = await sh('(while true; do :; done) & while true; do :; done', { limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 16, timeMs: 400 } });
    expect(r.killed).toBe('timeout');
    expect(r.exitCode).toBeNull();
  });

  it('runaway output is cut at the cap and the run killed', async () => {
    const r = await sh('yes', { maxOutputBytes: 4096 });
    expect(r.killed).toBe('output');
    expect(r.stdout.length).toBe(4096);
  });

  it('refuses to start without a seccomp program, or with a grant of a forbidden path', async () => {
    await expect(runProcessTier({ ...base(['true']), seccomp: Buffer.alloc(0) })).rejects.toThrow(/seccomp/);
    await expect(sh('true', { fs: { read: ['/etc/shadow'] } })).rejects.toThrow(/never granted/);
    await expect(sh('true', { fs: { write: ['/'] } })).rejects.toThrow(/never granted/);
  });
});
