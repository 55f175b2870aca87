import type { Command } from 'commander';
import { openWarden, type Warden } from '../context.js';
import { BadInputError } from '../errors.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { ServerOptions } from '../server/app.js';
import { STARTER_POLICY } from '../policy/starter.js';
import { dataOption } from './common.js';

/**
 * First start: with no operator in tenant `default`, creates `admin` (role admin) and writes
 * its API token to `out` (stderr) — once: the token is never stored or logged, and later
 * starts find the operator and print nothing. Returns whether a token was printed.
 */
export async function bootstrapOperator(w: Warden, out: { write(s: string): unknown }): Promise<boolean> {
  const issued = await w.operators.bootstrap('default');
  if (!issued) return false;
  out.write(
    `warden: created operator "admin" (role admin) in tenant "default". Its API token is shown ONCE — store it now:\n` +
      `${issued.token}\n` +
      `warden: token id ${issued.token_id}, expires ${issued.expires_at} (revoke: warden operators revoke ${issued.token_id})\n`,
  );
  return true;
}

/** The TLS files of `serve`, read before anything starts so a typo fails fast (exit 2). */
function readTlsOptions(opts: { tlsCert?: string; tlsKey?: string; clientCa?: string }): ServerOptions['tls'] {
  if (opts.tlsCert === undefined && opts.tlsKey === undefined) {
    if (opts.clientCa !== undefined) throw new BadInputError('--client-ca needs --tls-cert and --tls-key (client certificates are a TLS feature)');
    return undefined;
  }
  if (opts.tlsCert === undefined || opts.tlsKey === undefined) throw new BadInputError('--tls-cert and --tls-key go together');
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new BadInputError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read('--tls-cert', opts.tlsCert);
  const key = read('--tls-key', opts.tlsKey);
  const clientCa = opts.clientCa === undefined ? undefined : read('--client-ca', opts.clientCa);
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (err) {
    throw new BadInputError(`TLS configuration rejected: ${(err as Error).message}`);
  }
  return { cert, key, ...(clientCa ? { clientCa } : {}) };
}

export function registerServe(program: Command): void {
  dataOption(program.command('serve'))
    .description('run the Warden server (initialises ./.warden with the embedded SQLite store on first start)')
    .option('--port <port>', 'listen port (default: config server.port, 8787)')
    .option('--host <host>', 'listen address (default: config server.host, 127.0.0.1)')
    .option('--tls-cert <file>', 'serve HTTPS (TLS 1.3 minimum) with this certificate chain (PEM)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--client-ca <file>', 'require client certificates issued by this CA (mTLS), e.g. .warden/ca/ca.crt')
    .action(async (opts: { data: string; port?: string; host?: string; tlsCert?: string; tlsKey?: string; clientCa?: string }) => {
      if (opts.port !== undefined && (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65535)) {
        throw new BadInputError(`--port must be a number from 0 to 65535, got "${opts.port}"`);
      }
      const tls = readTlsOptions(opts);
      const w = await openWarden(opts.data, { create: true });
      const created = await w.ensureTenant('default');
      if (created) process.stderr.write(`warden: initialised ${w.loaded.dataDir} (tenant "default", store ${w.store.driver})\n`);
      await bootstrapOperator(w, process.stderr);
      // A tenant without a policy denies everything; the first start loads the starter policy.
      if (!(await w.policies.active('default'))) {
        const { version } = await w.policies.deploy('default', STARTER_POLICY, { actor: { human: 'warden' }, reason: 'starter policy (first start)' });
        process.stderr.write(`warden: loaded the starter policy (${version}); see docs/policy.md\n`);
      }
      const { config } = w.loaded;
      // Cover anything appended before a crash or by other processes since the last checkpoint.
      for (const t of await w.store.listTenants()) {
        await w.checkpointer.checkpoint(t.name).catch((err: Error) => process.stderr.write(`warden: checkpoint for tenant ${t.name} failed: ${err.message}\n`));
      }
      // The HTTP stack is loaded by `serve` only: it would slow every other command's start-up.
      const { buildServer } = await import('../server/app.js');
      const app = await buildServer(w, tls ? { tls } : {});
      // Scheduled key rotation and retirement for every tenant.
      const housekeeping = setInterval(() => {
        void (async () => {
          for (const t of await w.store.listTenants()) {
            // One tenant's failure must not stop the others' rotations.
            await w.keys
              .tick(t.name, config.keys.rotation_interval, config.keys.retiring_grace)
              .catch((err: Error) => process.stderr.write(`warden: key housekeeping for tenant ${t.name} failed: ${err.message}\n`));
            // Overdue approvals resolve to deny even if nobody looks at them.
            await w.approvals.sweep(t.name).catch((err: Error) => process.stderr.write(`warden: approval expiry for tenant ${t.name} failed: ${err.message}\n`));
          }
        })().catch((err: Error) => process.stderr.write(`warden: key housekeeping failed: ${err.message}\n`));
      }, 60_000);
      housekeeping.unref();
      let address: string;
      try {
        address = await app.listen({ port: opts.port ? Number(opts.port) : config.server.port, host: opts.host ?? config.server.host });
      } catch (err) {
        await w.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
          throw new BadInputError(`cannot listen: ${(err as Error).message} (choose another --port or --host)`);
        }
        throw err;
      }
      const mode = tls ? (tls.clientCa ? ' (TLS 1.3, client certificates required)' : ' (TLS 1.3)') : '';
      process.stderr.write(`warden: serving on ${address}${mode} (data ${w.loaded.dataDir})\n`);
      const stop = async (): Promise<void> => {
        clearInterval(housekeeping);
        await app.close();
        await w.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
