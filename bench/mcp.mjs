// MCP gateway overhead: the same `tools/call` (the fixture server's `echo`) made directly and
// through `warden mcp proxy` (no approval, no sandbox), in one run. Targets: p50 latency added by
// the proxy ≤ 1 ms; throughput through the proxy ≥ 0.5× direct. Start-up (spawn → first
// tools/list) direct, proxied and proxied in the process-tier sandbox is reported separately.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { openWarden } from '../dist/context.js';
import { STARTER_POLICY } from '../dist/policy/starter.js';
import { processTierAvailable } from '../dist/sandbox/process-tier.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/cli/main.js');
const SERVER = join(ROOT, 'test/fixtures/mcp/server.mjs');
const CALLS = Number(process.env.WARDEN_BENCH_MCP_CALLS ?? 2000);
const WARMUP = 200;
const IN_FLIGHT = 16;
const SECONDS = Number(process.env.WARDEN_BENCH_MCP_SECONDS ?? 3);
const STARTS = 3;
// Detection thresholds and rate limits far above the load, so the bench agent is neither
// quarantined nor throttled mid-run (the same settings as the decisions benches).
const CONFIG = 'version: 1\norigin: bench.warden/log\nstore:\n  driver: sqlite\nlog:\n  level: silent\nevents:\n  detection:\n    velocity: { max_actions: 1000000 }\n    velocity_deviation: { min_actions: 1000000 }\nfirewall:\n  rate_limits:\n    agent: { rate: 1000000, burst: 1000000 }\n    tenant: { rate: 1000000, burst: 1000000 }\n    source: { rate: 1000000, burst: 1000000 }\n';
const ECHO = { name: 'echo', arguments: { text: 'hello' } };

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** Connects an SDK client to `command` over stdio; stderr is kept (the tail) for error messages. */
async function connect([command, ...args]) {
  const transport = new StdioClientTransport({ command, args, cwd: ROOT, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  const client = new Client({ name: 'warden-bench', version: '0.0.0' }, { capabilities: {} });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    if (!tools.some((t) => t.name === 'echo')) throw new Error(`no echo tool listed (got ${tools.map((t) => t.name).join(', ') || 'none'})`);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`${command} ${args.join(' ')}: ${err.message}${stderr ? `\n${stderr}` : ''}`, { cause: err });
  }
  return { client, transport };
}

async function echo(client) {
  const r = await client.callTool(ECHO);
  if (r.isError || r.content?.[0]?.text !== 'hello') throw new Error(`echo failed: ${JSON.stringify(r).slice(0, 300)}`);
}

/** Per-call latencies (ms) of `n` sequential calls. */
async function sequential(client, n) {
  const xs = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await echo(client);
    xs[i] = performance.now() - t0;
  }
  return xs;
}

/** Completed calls and elapsed seconds, `IN_FLIGHT` calls kept in flight for `ms`. */
async function loaded(client, ms) {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (performance.now() < end) {
      await echo(client);
      n++;
    }
  }));
  return { n, s: (performance.now() - t0) / 1000 };
}

/** CPU time (ms, user + system) a process has used, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/**
 * Spawn → first completed tools/list, median of `STARTS`; `warm`: one run first, not counted (the
 * proxy's files are already cached by the runs above, and each of its starts takes seconds).
 */
async function startup(command, warm = false) {
  const xs = [];
  for (let i = warm ? -1 : 0; i < STARTS; i++) {
    const t0 = performance.now();
    const { client } = await connect(command);
    const t = performance.now() - t0;
    await client.close();
    if (i >= 0) xs.push(t);
  }
  return median(xs);
}

export async function benchMcp(report) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-mcp-'));
  const open = [];
  try {
    writeFileSync(join(dir, 'warden.yaml'), CONFIG);
    const w = await openWarden(dir, { create: true });
    await w.ensureTenant('default');
    await w.agents.create('default', { id: 'bot', capabilities: ['mcp:fixture/*'] });
    await w.policies.deploy('default', STARTER_POLICY, { actor: { human: 'bench' } });
    await w.close();

    const directCmd = [process.execPath, SERVER];
    const proxyCmd = [process.execPath, CLI, 'mcp', 'proxy', '--data', dir, '--agent', 'bot', '--name', 'fixture', '--', process.execPath, SERVER];
    const direct = await connect(directCmd);
    open.push(direct.client);
    const proxied = await connect(proxyCmd);
    open.push(proxied.client);

    // Sequential latency, in alternating blocks (A B A B) so drift on a shared machine hits both alike.
    await sequential(direct.client, WARMUP);
    await sequential(proxied.client, WARMUP);
    const d = [];
    const p = [];
    const BLOCK = 250;
    for (let done = 0; done < CALLS; done += BLOCK) {
      d.push(...(await sequential(direct.client, Math.min(BLOCK, CALLS - done))));
      p.push(...(await sequential(proxied.client, Math.min(BLOCK, CALLS - done))));
    }
    d.sort((a, b) => a - b);
    p.sort((a, b) => a - b);
    const dp50 = pct(d, 0.5);
    const dp99 = pct(d, 0.99);
    const pp50 = pct(p, 0.5);
    const pp99 = pct(p, 0.99);
    report(`MCP tools/call direct (baseline, ${CALLS.toLocaleString('en-US')} sequential), p50`, dp50 * 1000, 'µs');
    report('MCP tools/call direct, p99', dp99 * 1000, 'µs');
    report('MCP tools/call through the proxy, p50', pp50 * 1000, 'µs');
    report('MCP tools/call through the proxy, p99', pp99 * 1000, 'µs');
    const added50 = pp50 - dp50;
    console.log(`${'  added by the proxy, p50 / p99'.padEnd(52)} ${added50.toFixed(3).padStart(10)} / ${(pp99 - dp99).toFixed(3)} ms  target p50 ≤ 1 ms  ${added50 <= 1 ? 'PASS' : 'MISS'}`);

    // Throughput, IN_FLIGHT concurrent calls, alternating half-windows (A B A B).
    await loaded(direct.client, 300);
    await loaded(proxied.client, 300);
    const proxyPid = proxied.transport.pid;
    let dn = 0, ds = 0, pn = 0, ps = 0, proxyCpu = 0;
    for (let k = 0; k < 2; k++) {
      const a = await loaded(direct.client, (SECONDS * 1000) / 2);
      dn += a.n;
      ds += a.s;
      const c0 = cpuMs(proxyPid);
      const b = await loaded(proxied.client, (SECONDS * 1000) / 2);
      const c1 = cpuMs(proxyPid);
      if (c0 !== undefined && c1 !== undefined) proxyCpu += c1 - c0;
      pn += b.n;
      ps += b.s;
    }
    report(`MCP tools/call direct, ${IN_FLIGHT} in flight (baseline)`, dn / ds, 'calls/s');
    report(`MCP tools/call through the proxy, ${IN_FLIGHT} in flight`, pn / ps, 'calls/s', dn / ds, 0.5);
    if (proxyCpu) console.log(`  (the proxy process used ${(proxyCpu / 10 / ps).toFixed(0)}% of a core, ${((proxyCpu * 1000) / pn).toFixed(0)} µs of CPU per call)`);
    for (const c of open.splice(0)) await c.close();

    // Start-up: spawn → first tools/list completed (informational).
    const sd = await startup(directCmd, true);
    const sp = await startup(proxyCmd);
    const line = (name, ms) => console.log(`${name.padEnd(52)} ${ms.toFixed(0).padStart(10)} ms`);
    line(`MCP start-up to first tools/list, direct (median of ${STARTS})`, sd);
    line('MCP start-up to first tools/list, proxied', sp);
    const tier = processTierAvailable();
    if (!tier.ok) {
      console.log(`MCP start-up, proxied + process-tier sandbox: SKIPPED (${tier.reason})`);
    } else {
      const manifest = join(dir, 'server.yaml');
      writeFileSync(manifest, `version: "1.0"\nagent: { name: bot, runtime: node }\ntier: process\npermissions:\n  fs: { read: [${JSON.stringify(ROOT)}] }\n`);
      const sandboxCmd = [...proxyCmd.slice(0, proxyCmd.indexOf('--')), '--manifest', manifest, ...proxyCmd.slice(proxyCmd.indexOf('--'))];
      try {
        const ss = await startup(sandboxCmd);
        line('MCP start-up to first tools/list, proxied + sandbox', ss);
        console.log(`  (the proxy adds ${(sp - sd).toFixed(0)} ms to the server's start-up; the sandbox ${ss >= sp ? 'adds' : 'changes it by'} ${(ss - sp).toFixed(0)} ms more)`);
      } catch (err) {
        console.log(`MCP start-up, proxied + process-tier sandbox: FAILED (${err.message.split('\n').slice(0, 3).join(' | ')})`);
      }
    }
  } finally {
    for (const c of open) await c.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
