import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { tenantOption, withTenant } from './common.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function registerFirewall(program: Command): void {
  const honeytokens = program.command('honeytokens').description('canary credentials: plant them where an agent could leak them; their use anywhere in a request is denied and raises a critical event');
  tenantOption(honeytokens.command('create'))
    .description("create a canary credential recognisable by the tenant's key (printed once; the receipt records its type and label, never the value)")
    .option('--type <type>', 'aws (an AWS-style key pair) | api (a bearer-style API token)', 'aws')
    .option('--label <text>', 'where you plant it (recorded in the receipt)')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; type: string; label?: string; json?: boolean }) => {
      if (opts.type !== 'aws' && opts.type !== 'api') throw new BadInputError('--type must be aws or api');
      if (opts.label !== undefined && opts.label.length > 256) throw new BadInputError('--label must be at most 256 characters');
      await withTenant(opts, async (w) => {
        const set = await w.firewall.honeytokens(opts.tenant);
        const values = opts.type === 'aws'
          ? (({ accessKeyId, secretAccessKey }) => ({ aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey }))(set.generateAwsKey(opts.label))
          : { api_token: set.generateApiToken(opts.label).value };
        // The log must not tell a reader which credentials are canaries: no value and no hash
        // (an unsalted hash would let anyone holding a credential test it), only the fact and the label.
        await w.ledger.append(opts.tenant, [{
          kind: 'honeytoken', action: 'honeytoken.create', resource: `honeytoken:${opts.type}`, decision: null, reasons: [], actor: { human: 'cli' },
          payload: { type: opts.type, ...(opts.label ? { label: opts.label } : {}) },
        }], { system: true });
        process.stdout.write(opts.json ? `${JSON.stringify(values, null, 2)}\n` : Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
        if (opts.type === 'aws') process.stderr.write('note: the access key id is what Warden recognises; plant the pair together.\n');
      });
    });

  const dlp = program.command('dlp').description('data-loss prevention tools');
  tenantOption(dlp.command('detokenize <token>'))
    .description('reverse a value the DLP `tokenize` action replaced (receipted with the token\'s hash)')
    .requiredOption('--reason <text>', 'why (recorded in the receipt)')
    .action(async (token: string, opts: { data: string; tenant: string; reason: string }) => {
      await withTenant(opts, async (w) => {
        const value = await w.firewall.detokenize(opts.tenant, token);
        await w.ledger.append(opts.tenant, [{
          kind: 'honeytoken', action: 'dlp.detokenize', resource: 'dlp:token', decision: null, reasons: [opts.reason], actor: { human: 'cli' },
          payload: { token_sha256: sha256(token) },
        }], { system: true });
        process.stdout.write(`${value}\n`);
      });
    });
}
