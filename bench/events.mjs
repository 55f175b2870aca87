// Decision throughput with a dead webhook sink (a black hole that accepts connections and never
// answers) and a live SSE subscriber, against the same server with no sinks, in one run.
// Runs alternate (A B A B) so drift on a shared machine hits both sides alike.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { buildServer } from '../dist/server/app.js';
import { Sinks } from '../dist/events/sinks/sinks.js';
import { parseConfig } from '../dist/config/load.js';
import { autocannon, benchPolicies } from './decisions.mjs';

const SUBSCRIBER = `
const { get } = require('node:http');
let n = 0;
get(process.argv[1], { headers: { authorization: 'Bearer ' + process.argv[2] } }, (res) => {
  process.stdout.write('connected\\n');
  res.on('data', (c) => { n += (c.toString().match(/^id: /gm) || []).length; });
}).on('error', () => {});
process.on('SIGTERM', () => { const u = process.cpuUsage(); process.stdout.write('events ' + n + ' cpu_ms ' + Math.round((u.user + u.system) / 1000) + '\\n', () => process.exit(0)); });
`;

export async function benchEvents(w, dataDir, { seconds = 6 } = {}) {
  await w.policies.deploy('default', benchPolicies(1000), { actor: { human: 'bench' } });
  await w.agents.create('default', { id: 'agent-500', capabilities: ['tool:tool-500'], trust_level: 80 });
  const { token } = await w.passports.issue('default', 'agent-500', { ttlMs: 3_600_000 });
  const operator = (await w.operators.create('default', { id: 'watcher', roles: ['viewer'] }, { withToken: true })).token.token;
  const hole = createServer((s) => s.on('error', () => undefined)); // accepts, never answers
  await new Promise((r) => hole.listen(0, '127.0.0.1', r));
  const app = await buildServer(w);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${app.server.address().port}`;
  const body = JSON.stringify({ action: 'tool.call', resource: 'tool:tool-500' });
  const args = ['-m', 'POST', '-H', `authorization=Bearer ${token}`, '-H', 'content-type=application/json', '-b', body, '-c', '64', '-d', String(seconds), `${base}/v1/decisions`];
  const rate = async () => {
    const r = await autocannon(args);
    return r['2xx'] / r.duration;
  };
  let received = 0;
  let subscriberCpuMs = 0;
  const withSinks = async () => {
    const variant = process.env.WARDEN_BENCH_EVENTS_VARIANT ?? 'both'; // sse | sink | both (for diagnosis)
    const cfg = parseConfig({ events: { sinks: variant === 'sse' ? [] : [{ name: 'dead', type: 'webhook', url: `http://127.0.0.1:${hole.address().port}/`, min_severity: 'info', timeout: '5s', queue: 10000 }] } }, 'bench').events.sinks;
    const sinks = new Sinks(w.events, cfg, dataDir);
    // The subscriber runs in its own process, as a real SIEM or dashboard would: its parsing must not
    // be billed to the server's event loop.
    const sse = variant === 'sink' ? spawn(process.execPath, ['-e', "process.stdout.write('connected\\n'); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, ['-e', SUBSCRIBER, `${base}/v1/events/stream`, operator], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sse.stdout.on('data', (d) => (out += d));
    await new Promise((r) => sse.stdout.once('data', r)); // "connected"
    try {
      return { rate: await rate(), dropped: sinks.stats()[0]?.stats.dropped ?? 0 };
    } finally {
      sse.kill('SIGTERM');
      await new Promise((r) => sse.on('exit', r));
      received += Number(/events (\d+)/.exec(out)?.[1] ?? 0);
      subscriberCpuMs += Number(/cpu_ms (\d+)/.exec(out)?.[1] ?? 0);
      await sinks.close(100);
    }
  };
  try {
    await autocannon([...args.slice(0, -3), '-c', '16', '-d', '2', `${base}/v1/decisions`]); // warm-up
    const none = [];
    const loaded = [];
    let dropped = 0;
    for (let i = 0; i < 3; i++) {
      none.push(await rate());
      const b = await withSinks();
      loaded.push(b.rate);
      dropped += b.dropped;
    }
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { none: mean(none), loaded: mean(loaded), dropped, sseEvents: received, subscriberCpuMs, loadedSeconds: 3 * seconds };
  } finally {
    await app.close();
    hole.close();
  }
}
