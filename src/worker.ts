import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread from a module next to the caller. Built code runs the `.js` file;
 * under a TypeScript loader (tests, tsx) the `.ts` source is loaded through tsx's API, since
 * worker threads do not inherit `--import` loaders on every Node version we support.
 */
export function spawnModuleWorker(callerUrl: string, name: string): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl));
  const url = new URL(`./${name}.ts`, callerUrl).href;
  return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true });
}
