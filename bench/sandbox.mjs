// Sandbox cold start: the time a tier adds over a plain spawn of the same command (`/bin/true`),
// medians in one run. Targets: process ≤ 10 ms, container ≤ 40 ms, microvm ≤ 300 ms on a KVM host.
import { spawn } from 'node:child_process';
import { runProcessTier, processTierAvailable } from '../dist/sandbox/process-tier.js';
import { containerTierAvailable, runContainerTier } from '../dist/sandbox/container-tier.js';
import { microvmTierAvailable, runMicrovmTier } from '../dist/sandbox/microvm-tier.js';
import { buildSeccompProgram } from '../dist/sandbox/seccomp/index.js';

const spec = { command: ['/bin/true'], limits: { memoryBytes: 128 << 20, cpuQuota: 1, pids: 64, timeMs: 60_000 }, seccomp: buildSeccompProgram() };

async function median(fn, n) {
  await fn(); // warm up
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return xs.sort((a, b) => a - b)[Math.floor(n / 2)];
}

const plainSpawn = () => new Promise((resolve) => spawn('/bin/true', [], { stdio: 'ignore' }).on('close', resolve));

export async function benchSandbox(report) {
  const base = await median(plainSpawn, 31);
  report('plain spawn of /bin/true (baseline), median', base, 'ms');
  const tiers = [
    ['process', processTierAvailable(), () => runProcessTier(spec), 21, 10],
    ['container', containerTierAvailable(), () => runContainerTier(spec), 11, 40],
    ['microvm', microvmTierAvailable(), () => runMicrovmTier(spec), 3, 300],
  ];
  for (const [name, available, run, n, target] of tiers) {
    if (!available.ok) {
      console.log(`${name} tier cold start: SKIPPED (${available.reason})`);
      continue;
    }
    const t = await median(async () => {
      const r = await run();
      if (r.exitCode !== 0) throw new Error(`${name} run failed: ${r.stderr.toString().slice(0, 200)}`);
    }, n);
    const added = t - base;
    const note = name === 'microvm' && !(await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8').match(/\b(vmx|svm)\b/) ? ' (TCG: this host has no hardware virtualisation; the target is for KVM hosts)' : '';
    console.log(`${`${name} tier cold start added over a plain spawn, median of ${n}`.padEnd(60)} ${added.toFixed(1).padStart(8)} ms  target ≤ ${target} ms  ${added <= target ? 'PASS' : 'MISS'}${note}`);
    report(`  ${name} tier: whole run of /bin/true`, t, 'ms');
  }
}
