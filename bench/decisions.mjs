// Decision throughput over HTTP (loopback, autocannon in a separate process), latency at half
// that rate, and in-process Cedar evaluation vs a bare cedar-wasm call — 1,000 policies loaded.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { buildServer } from '../dist/server/app.js';
import { compilePolicy } from '../dist/policy/engine.js';
import { SCHEMA_TEXT } from '../dist/policy/schema.js';

const require = createRequire(import.meta.url);
const AUTOCANNON = require.resolve('autocannon/autocannon.js');

/** 1,000 policies: one per (agent, tool) pair, plus a few broad ones and a forbid. */
export function benchPolicies(n = 1000) {
  const out = [
    '@id("search-for-all")\npermit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");',
    '@id("no-shell")\nforbid (principal, action, resource == Warden::Tool::"shell");',
    '@id("big-payments") @approval("approver")\npermit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send") when { context has amount && context.amount > 1000 };',
  ];
  for (let i = out.length; i < n; i++) {
    out.push(`@id("p${i}")\npermit (principal == Warden::Agent::"agent-${i}", action == Warden::Action::"tool.call", resource == Warden::Tool::"tool-${i}") when { context.risk < 90 };`);
  }
  return out.join('\n\n');
}

/** Runs autocannon in its own process (so it does not share the server's event loop); resolves its JSON result. */
export function autocannon(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [AUTOCANNON, '--json', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`autocannon output unreadable: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** Runs the decision benchmarks on an open Warden `w`; returns the figures. */
export async function benchDecisions(w, { seconds = 10 } = {}) {
  const text = benchPolicies(1000);
  await w.policies.deploy('default', text, { actor: { human: 'bench' } });
  await w.agents.create('default', { id: 'agent-500', roles: ['worker'], capabilities: ['tool:tool-500', 'tool:search'], trust_level: 80 });
  const { token } = await w.passports.issue('default', 'agent-500', { ttlMs: 3_600_000 });
  const app = await buildServer(w);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${app.server.address().port}/v1/decisions`;
  const body = JSON.stringify({ action: 'tool.call', resource: 'tool:tool-500', context: { data_class: 'internal' } });
  const common = ['-m', 'POST', '-H', `authorization=Bearer ${token}`, '-H', 'content-type=application/json', '-b', body];
  try {
    await autocannon([...common, '-c', '16', '-d', '2', url]); // warm-up
    const full = await autocannon([...common, '-c', '64', '-d', String(seconds), url]);
    const rate = full['2xx'] / full.duration;
    const half = await autocannon([...common, '-c', '16', '-R', String(Math.max(1, Math.floor(rate / 2))), '-d', String(seconds), url]);
    // In-process evaluation: the engine (sliced, preparsed) vs one bare cedar-wasm call over the whole set.
    const compiled = compilePolicy(text);
    const req = {
      principal: { kind: 'agent', id: 'agent-500', tenant: 'default', type: 'agent', tier: 'process', trust_level: 80, roles: ['worker'], capabilities: ['tool:tool-500'], scope: [] },
      action: 'tool.call', resource: 'tool:tool-500', tenant: 'default', context: { risk: 20, risk_level: 'low', delegated: false },
    };
    const evalUs = medianUs(() => compiled.evaluate(req), 2000);
    const bare = {
      principal: { type: 'Warden::Agent', id: 'agent-500' }, action: { type: 'Warden::Action', id: 'tool.call' }, resource: { type: 'Warden::Tool', id: 'tool-500' },
      context: { risk: 20, risk_level: 'low', delegated: false, granted: true }, schema: SCHEMA_TEXT, validateRequest: false,
      policies: { staticPolicies: text }, entities: [],
    };
    const bareUs = medianUs(() => cedar.isAuthorized(bare), 30);
    return {
      rate,
      errors: full.non2xx + full.errors,
      halfRate: half['2xx'] / half.duration,
      p50: half.latency.p50,
      p99: half.latency.p99,
      evalUs,
      bareUs,
    };
  } finally {
    await app.close();
  }
}

function medianUs(fn, n) {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const samples = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    samples.push(((performance.now() - t0) * 1000) / n);
  }
  return samples.sort((a, b) => a - b)[1];
}
