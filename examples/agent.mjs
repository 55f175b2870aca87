#!/usr/bin/env node
// An agent's day under Warden, end to end: allow, deny, approval — then an auditor verifies
// every receipt offline with `warden verify`.
//
//   node examples/agent.mjs            (from the repository, after `npm ci`; a scratch data directory)
//
// It starts `warden serve` on a scratch data directory with the starter policy, sets up an
// agent and an approver with the CLI, then plays the agent over HTTP.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '../dist/cli/main.js');
const data = mkdtempSync(join(tmpdir(), 'warden-example-'));
const port = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;

function warden(...args) {
  // `verify` needs no data directory: it works from the exported files alone.
  const withData = args[0] === 'verify' ? args : [...args, '--data', data];
  const r = spawnSync(process.execPath, [CLI, ...withData], { encoding: 'utf8' });
  if (r.status !== 0 && args[0] !== 'verify') throw new Error(`warden ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

async function http(method, path, token, body) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

const step = (s) => console.log(`\n== ${s}`);

const server = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
server.stderr.on('data', (d) => (stderr += d));
try {
  for (let i = 0; !stderr.includes('serving on'); i++) {
    if (i > 100 || server.exitCode !== null) throw new Error(`warden serve did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  step('setup (CLI): an agent with a passport, and an approver');
  warden('agents', 'create', '--id', 'shopper', '--role', 'buyer', '--capability', 'search', '--capability', 'tool:payments.send');
  warden('operators', 'create', '--id', 'paula', '--role', 'approver');
  const passport = warden('passports', 'issue', '--agent', 'shopper').stdout.trim();
  console.log('passport for agent "shopper":', passport.slice(0, 24) + '…');

  step('allowed: a tool the agent may use');
  let r = await http('POST', '/v1/decisions', passport, { action: 'tool.call', resource: 'tool:search', context: { data_class: 'public' } });
  console.log(r.body.decision, r.body.reasons, `receipt #${r.body.receipt?.seq}`);

  step('denied: a generic shell tool (forbidden by the starter policy)');
  r = await http('POST', '/v1/decisions', passport, { action: 'tool.call', resource: 'tool:shell', payload: { command: 'rm -rf /' } });
  console.log(r.body.decision, r.body.reasons, `receipt #${r.body.receipt?.seq}`);

  step('approval: a payment over $10 waits for a human');
  r = await http('POST', '/v1/decisions', passport, { action: 'tool.call', resource: 'tool:payments.send', context: { amount: 4200, currency: 'USD' } });
  console.log(r.body.decision, r.body.approval);
  const decision = r.body;
  if (decision.approval) {
    const wait = http('GET', `/v1/approvals/${decision.approval.id}?wait=10`, passport);
    warden('approvals', 'approve', decision.approval.id, '--as', 'paula', '--reason', 'order 1234 checked');
    const resolved = (await wait).body;
    console.log('approval', resolved.state, 'by', resolved.resolved_by);
    r = await http('POST', `/v1/decisions/${decision.id}/outcome`, passport, { status: 'succeeded', details: { tx: 'tx-1' } });
    console.log('outcome receipted:', `receipt #${r.body.receipt?.seq}`);
  }

  step('audit: export, then verify offline');
  const cp = join(data, 'checkpoint.txt');
  const log = join(data, 'log.jsonl');
  const trust = join(data, 'trust.json');
  const note = warden('ledger', 'checkpoint').stdout;
  await import('node:fs').then((fs) => fs.writeFileSync(cp, note));
  warden('ledger', 'export', '--out', log);
  warden('trust', 'export', '--out', trust);
  const v = warden('verify', '--trust', trust, '--receipts', log, '--checkpoint', cp);
  console.log(v.stdout.trim() || v.stderr.trim());
  process.exitCode = v.status ?? 1;
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(data, { recursive: true, force: true });
}
