import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { parseManifest } from '../sandbox/manifest/index.js';
import { runSandboxed, type ConcreteTier } from '../sandbox/run.js';
import { tenantOption, withTenant } from './common.js';

const TIERS: readonly ConcreteTier[] = ['process', 'container', 'microvm', 'docker'];
/** Exit codes of a run Warden ended (the command's own exit code otherwise). */
const KILLED_EXIT = { timeout: 124, memory: 137, output: 125 } as const;

export function registerRun(program: Command): void {
  tenantOption(program.command('run'))
    .description("run a command in a sandbox under a manifest's permissions (receipted; exit status is the command's)")
    .requiredOption('--manifest <file>', 'the agent manifest (agent.yaml; schema in docs/manifest.schema.json)')
    .option('--tier <tier>', `override the manifest's tier: ${TIERS.join(' | ')} (an explicit choice, receipted)`)
    .argument('<command...>', 'the command and its arguments (after --)')
    .addHelpText('after', `
Examples:
  warden run --manifest agent.yaml -- python3 report.py
  warden run --manifest agent.yaml --tier process -- sh -c 'ls /data/inputs'

A run Warden ends exits ${KILLED_EXIT.timeout} (time limit), ${KILLED_EXIT.memory} (memory limit) or ${KILLED_EXIT.output} (output cap), with the reason on stderr.
A run that cannot start in the required tier is refused (exit 1): Warden never downgrades a tier.`)
    .action(async (command: string[], opts: { data: string; tenant: string; manifest: string; tier?: string }) => {
      if (opts.tier !== undefined && !(TIERS as readonly string[]).includes(opts.tier)) throw new BadInputError(`--tier must be one of ${TIERS.join(', ')}`);
      let text: string;
      try {
        text = readFileSync(opts.manifest, 'utf8');
      } catch {
        throw new BadInputError(`cannot read manifest ${opts.manifest}`);
      }
      await withTenant(opts, async (w) => {
        const protectedPaths = [w.loaded.dataDir, w.loaded.paths.sqlite, w.loaded.paths.masterKey];
        const manifest = parseManifest(text, { dataDir: w.loaded.dataDir, protectedPaths });
        const r = await runSandboxed(w, {
          tenant: opts.tenant, manifest, command, actor: { human: 'cli', service: 'warden-run' }, protectedPaths,
          ...(opts.tier ? { tier: opts.tier as ConcreteTier } : {}),
        });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        if (r.killed) {
          process.stderr.write(`warden: run ${r.runId} killed: ${r.killed === 'timeout' ? 'execution time limit reached' : r.killed === 'memory' ? 'memory limit reached' : 'output cap reached'} (receipt #${r.receipts.end.seq})\n`);
          process.exitCode = KILLED_EXIT[r.killed];
        } else {
          process.exitCode = r.exitCode ?? 1;
        }
      });
    });
}
