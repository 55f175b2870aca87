/**
 * Child process for the cross-process append test:
 *   node --import tsx append-worker.ts <openStore options JSON> <tenant> <writer> <count>
 * Opens the store, prints "ready", waits for "go" on stdin (so all children start together),
 * appends <count> chained rows one per transaction, prints "done".
 */
import { createInterface } from 'node:readline';
import { openStore, type OpenStoreOptions } from '../../src/store/open.js';
import { oneRow } from './chain.js';

const [optsJson, tenant, writer, count] = process.argv.slice(2);
if (optsJson === undefined || tenant === undefined || writer === undefined || count === undefined) {
  process.stderr.write('usage: append-worker.ts <options-json> <tenant> <writer> <count>\n');
  process.exit(2);
}

const store = await openStore(JSON.parse(optsJson) as OpenStoreOptions);
const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
process.stdout.write('ready\n');
await go;
lines.close();
for (let i = 0; i < Number(count); i++) {
  await store.append(tenant, oneRow(`${writer}-${i}`, writer));
}
await store.close();
process.stdout.write('done\n');
