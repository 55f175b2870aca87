import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { BadInputError } from '../errors.js';
import { collect } from './agents.js';
import { tenantOption, withTenant } from './common.js';

export function registerPassports(program: Command): void {
  const passports = program.command('passports').description('agent passports: issue and revoke (EdDSA JWTs)');

  tenantOption(passports.command('issue'))
    .description('issue a passport for an active agent; prints only the JWT')
    .requiredOption('--agent <id>', 'agent id')
    .option('--ttl <duration>', 'lifetime, e.g. 15m (default: identity.passport_ttl)')
    .option('--scope <scope>', "scope (repeatable; each must be covered by the agent's capabilities)", collect, [])
    .option('--cert <file>', "bind the passport to this client certificate (PEM; RFC 8705 cnf.x5t#S256): it is then useless without the certificate's key")
    .action(async (opts: { data: string; tenant: string; agent: string; ttl?: string; scope: string[]; cert?: string }) => {
      let ttlMs: number | undefined;
      if (opts.ttl !== undefined) {
        ttlMs = parseDuration(opts.ttl);
        if (ttlMs === undefined) throw new BadInputError(`--ttl must be a duration such as 15m, got "${opts.ttl}"`);
      }
      let certThumbprint: string | undefined;
      if (opts.cert !== undefined) {
        let pem: string;
        try {
          pem = readFileSync(opts.cert, 'utf8');
        } catch (err) {
          throw new BadInputError(`--cert: cannot read ${opts.cert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        // Only a certificate of this very agent makes sense: any other would make the passport unusable.
        // (X.509 is loaded only when a certificate is given: it costs every other command's start-up.)
        const { certificateThumbprint, spiffeIdFromCertificate } = await import('../identity/ca.js');
        let id;
        try {
          id = spiffeIdFromCertificate(pem);
        } catch (err) {
          throw new BadInputError(`--cert: not an agent certificate: ${(err as Error).message}`);
        }
        if (id.kind !== 'agent' || id.id !== opts.agent || id.tenant !== opts.tenant) {
          throw new BadInputError(`--cert: ${id.uri} is not agent "${opts.agent}" of tenant "${opts.tenant}"`);
        }
        certThumbprint = certificateThumbprint(pem);
      }
      await withTenant(opts, async (w) => {
        const p = await w.passports.issue(opts.tenant, opts.agent, {
          ...(ttlMs !== undefined ? { ttlMs } : {}), scope: opts.scope, actor: { human: 'cli' },
          ...(certThumbprint !== undefined ? { certThumbprint } : {}),
        });
        process.stdout.write(`${p.token}\n`);
      });
    });

  tenantOption(passports.command('revoke [jti]'))
    .description('revoke one passport by its jti, or every passport of an agent with --agent')
    .option('--agent <id>', 'revoke all passports the agent holds now')
    .option('--reason <text>', 'reason recorded in the receipt')
    .action(async (jti: string | undefined, opts: { data: string; tenant: string; agent?: string; reason?: string }) => {
      if ((jti === undefined) === (opts.agent === undefined)) throw new BadInputError('give either a passport id (jti) or --agent ID');
      await withTenant(opts, async (w) => {
        const ctx = { actor: { human: 'cli' }, ...(opts.reason ? { reason: opts.reason } : {}) };
        if (opts.agent !== undefined) {
          const a = await w.passports.revokeAgent(opts.tenant, opts.agent, ctx);
          process.stdout.write(`revoked every passport of agent ${a.id} issued before ${a.passports_not_before ?? ''}\n`);
        } else {
          await w.passports.revoke(opts.tenant, jti as string, ctx);
          process.stdout.write(`revoked passport ${jti as string}\n`);
        }
      });
    });
}
