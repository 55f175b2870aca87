/**
 * Runs append-worker.ts in several child processes against one store. Children first open the
 * store and report "ready"; only when all are ready do they get "go", so their appends overlap
 * instead of one process finishing before the next has even started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OpenStoreOptions } from '../../src/store/open.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = fileURLToPath(new URL('./append-worker.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
}

function start(opts: OpenStoreOptions, tenant: string, writer: string, count: number): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(opts), tenant, writer, String(count)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
  });
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (code === 0 && out.includes('done\n')) resolve();
      else reject(new Error(`append worker ${writer} exited with ${signal ?? code}:\n${err || out}`));
    });
  });
  return { proc, ready, exited };
}

/** Starts one child per writer, releases them together, and waits until all have finished. */
export async function spawnAppenders(opts: OpenStoreOptions, tenant: string, writers: string[], count: number): Promise<void> {
  const children = writers.map((w) => start(opts, tenant, w, count));
  try {
    // A child that dies before "ready" must fail the test, not hang it.
    await Promise.all(children.map((c) => Promise.race([c.ready, c.exited.then(() => { throw new Error('worker exited before ready'); })])));
    for (const c of children) c.proc.stdin?.end('go\n');
    await Promise.all(children.map((c) => c.exited));
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill();
  }
}
