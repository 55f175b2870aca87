import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { CONFIG_FILE, loadConfig } from '../config/load.js';
import { FileKeyProvider } from '../crypto/key-provider.js';
import { BadInputError, ConfigError } from '../errors.js';
import { dataOption, tenantOption, withTenant } from './common.js';

/** The CA (and X.509) is loaded by the `ca` commands only: it would slow every other command's start-up. */
const loadCa = () => import('../identity/ca.js');

/** The data dir's config and master key; the data dir must exist (`warden init` creates it). */
function openDataDir(data: string): { dataDir: string; provider: FileKeyProvider; origin: string } {
  if (!existsSync(join(data, CONFIG_FILE))) {
    throw new ConfigError(`no Warden data directory at ${data} (run \`warden init --data ${data}\`)`);
  }
  const loaded = loadConfig(data);
  return { dataDir: loaded.dataDir, provider: FileKeyProvider.open(loaded.paths.masterKey), origin: loaded.config.origin };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Writes a private key: 0600, and never over an existing file. */
function writePrivateKey(path: string, pem: string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, pem);
  } finally {
    closeSync(fd);
  }
}

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('the deployment certificate authority for mutual TLS (SPIFFE-style identities)');

  dataOption(ca.command('init'))
    .description('create the deployment CA (ECDSA P-256, 10 years), its key sealed by the master key (idempotent; never overwrites)')
    .option('--trust-domain <name>', 'SPIFFE trust domain, e.g. example.org (default: the host of the configured origin)')
    .action(async (opts: { data: string; trustDomain?: string }) => {
      const { caPaths, initCa } = await loadCa();
      const { dataDir, provider, origin } = openDataDir(opts.data);
      let trustDomain = opts.trustDomain;
      if (trustDomain === undefined && !existsSync(caPaths(dataDir).cert)) {
        trustDomain = origin.split('/')[0] ?? '';
      }
      const r = await initCa({ dataDir, provider, ...(trustDomain !== undefined ? { trustDomain } : {}) });
      process.stdout.write(
        `${r.created ? 'created' : 'already exists:'} CA for trust domain ${r.trustDomain}\n` +
          `certificate: ${r.certPath}\n` +
          `sha256 fingerprint: ${r.fingerprint256}\n` +
          `x5t#S256: ${r.fingerprintS256}\n` +
          `valid until: ${r.notAfter.toISOString()}\n`,
      );
    });

  tenantOption(ca.command('issue'))
    .description('issue a client certificate for an agent, or a client+server certificate for a service')
    .option('--agent <id>', 'agent id (URI SAN spiffe://<trust-domain>/tenant/<tenant>/agent/<id>)')
    .option('--service <id>', 'service id (URI SAN spiffe://<trust-domain>/tenant/<tenant>/service/<id>)')
    .option('--ttl <duration>', 'lifetime, at most 30d', '24h')
    .option('--csr <file>', 'PKCS#10 request (PEM) whose public key to certify; otherwise a P-256 key is generated')
    .option('--out-cert <file>', 'write the certificate here (default: stdout)')
    .option('--out-key <file>', 'write the generated private key here (0600, never overwritten); required without --csr')
    .option('--dns <name>', 'services: add a DNS name (repeatable)', collect, [] as string[])
    .option('--ip <address>', 'services: add an IP address (repeatable)', collect, [] as string[])
    .action(
      async (opts: {
        data: string;
        tenant: string;
        agent?: string;
        service?: string;
        ttl: string;
        csr?: string;
        outCert?: string;
        outKey?: string;
        dns: string[];
        ip: string[];
      }) => {
        if ((opts.agent === undefined) === (opts.service === undefined)) throw new BadInputError('give exactly one of --agent <id> or --service <id>');
        const { DEFAULT_LEAF_TTL_MS, MAX_LEAF_TTL_MS, caPaths, issueCertificate } = await loadCa();
        const kind = opts.agent !== undefined ? 'agent' : 'service';
        const id = (opts.agent ?? opts.service) as string;
        const ttlMs = parseDuration(opts.ttl);
        if (ttlMs === undefined || ttlMs < 1000 || ttlMs > MAX_LEAF_TTL_MS) {
          throw new BadInputError(`--ttl must be a duration between 1s and 30d such as 1h or 7d (default ${DEFAULT_LEAF_TTL_MS / 3_600_000}h), got "${opts.ttl}"`);
        }
        // Private keys never go to stdout: a generated key needs a file.
        if (opts.csr === undefined && opts.outKey === undefined) throw new BadInputError('--out-key <file> is required when no --csr is given (the generated private key is never printed)');
        if (opts.csr !== undefined && opts.outKey !== undefined) throw new BadInputError('--out-key is only for a generated key; with --csr the key stays with the requester');
        if (opts.outKey !== undefined && opts.outCert !== undefined && resolve(opts.outKey) === resolve(opts.outCert)) {
          throw new BadInputError('--out-key and --out-cert must be different files');
        }
        if (opts.outKey !== undefined && existsSync(opts.outKey)) throw new BadInputError(`${opts.outKey} already exists; a private key file is never overwritten`);
        let csrPem: string | undefined;
        if (opts.csr !== undefined) {
          if (statSync(opts.csr).size > 64 * 1024) throw new BadInputError(`${opts.csr} is too large for a CSR`);
          csrPem = readFileSync(opts.csr, 'utf8');
        }
        // A certificate for a tenant that does not exist would name nobody: refused like every --tenant command.
        await withTenant(opts, async () => undefined);
        const { dataDir, provider } = openDataDir(opts.data);
        const r = await issueCertificate({
          dataDir,
          provider,
          kind,
          tenant: opts.tenant,
          id,
          ttlMs,
          ...(csrPem !== undefined ? { csrPem } : {}),
          ...(opts.dns.length ? { dnsNames: opts.dns } : {}),
          ...(opts.ip.length ? { ipAddresses: opts.ip } : {}),
        });
        if (opts.outKey !== undefined && r.keyPem !== undefined) writePrivateKey(opts.outKey, r.keyPem);
        const summary =
          `spiffe id: ${r.spiffeId}\n` +
          `serial: ${r.serialNumber}\n` +
          `valid: ${r.notBefore.toISOString()} → ${r.notAfter.toISOString()}\n` +
          `x5t#S256: ${r.fingerprintS256}\n` +
          `ca certificate: ${caPaths(dataDir).cert}\n` +
          (opts.outKey !== undefined ? `private key: ${opts.outKey}\n` : '');
        if (opts.outCert !== undefined) {
          writeFileSync(opts.outCert, r.certPem, { mode: 0o644 });
          process.stdout.write(`certificate: ${opts.outCert}\n${summary}`);
        } else {
          // stdout carries only the certificate, so it can be piped; the summary goes to stderr.
          process.stdout.write(r.certPem);
          process.stderr.write(summary);
        }
      },
    );
}
