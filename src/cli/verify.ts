import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { BadInputError } from '../errors.js';
import { readExportLines } from '../ledger/verify/lines.js';
import { LogVerifier } from '../ledger/verify/log.js';
import { verifyLogParallel } from '../ledger/verify/parallel.js';
import { verifyTlogProof } from '../ledger/verify/proof.js';
import { parseTrustBundle, type Trust } from '../ledger/verify/trust.js';
import { verifyEvidence } from '../ledger/verify/evidence.js';

/** Files past this size are verified on all cores. */
const PARALLEL_BYTES = 2 * 1024 * 1024;

function readInput(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new BadInputError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function loadTrust(path: string): Trust {
  let raw: unknown;
  try {
    raw = JSON.parse(readInput(path, 'trust bundle'));
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(`trust bundle ${path} is not valid JSON`);
  }
  return parseTrustBundle(raw);
}


export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify receipts offline against a trust bundle (no data dir, no network). Exit 0 valid, 1 invalid, 2 unusable input')
    .option('--trust <file>', 'trust bundle (warden trust export); required except with --evidence')
    .option('--receipts <file>', 'exported log (warden ledger export)')
    .option('--evidence <file>', "an incident's evidence bundle (warden incidents evidence), checked against --trust")
    .option('--trust-embedded', "with --evidence: trust the bundle's own trust bundle (proves only internal consistency: anyone can make a self-consistent bundle)")
    .option('--checkpoint <file>', 'signed checkpoint note to check the Merkle root against')
    .option('--proof <file>', 'a tlog-proof of one receipt (warden ledger proof)')
    .action(async (opts: { trust?: string; receipts?: string; checkpoint?: string; proof?: string; evidence?: string; trustEmbedded?: boolean }) => {
      if ([opts.receipts, opts.proof, opts.evidence].filter(Boolean).length !== 1) throw new BadInputError('give exactly one of --receipts FILE, --proof FILE or --evidence FILE');
      if (opts.evidence) {
        let raw: unknown;
        try {
          raw = JSON.parse(readInput(opts.evidence, 'evidence bundle'));
        } catch (err) {
          if (err instanceof BadInputError) throw err;
          throw new BadInputError(`evidence bundle ${opts.evidence} is not valid JSON`);
        }
        if (!opts.trust && !opts.trustEmbedded) throw new BadInputError("--evidence needs --trust FILE (the tenant's trust bundle from a source you trust), or --trust-embedded to check only the bundle's internal consistency");
        const r = verifyEvidence(raw, opts.trust ? loadTrust(opts.trust) : undefined);
        const pin = opts.trust ? '' : ' (UNPINNED: against the trust bundle inside the evidence, which anyone can make)';
        process.stdout.write(`OK${pin}: evidence of incident ${r.incident_id}: ${r.receipts} receipts verified and included in a checkpoint of size ${r.tree_size}; ${r.events} events match the incident receipt\n`);
        return;
      }
      if (!opts.trust) throw new BadInputError('--trust FILE is required');
      if (opts.proof && opts.checkpoint) throw new BadInputError('--checkpoint goes with --receipts (a proof carries its own checkpoint)');
      const trust = loadTrust(opts.trust);
      if (opts.proof) {
        const r = verifyTlogProof(readInput(opts.proof, 'proof'), trust);
        process.stdout.write(`OK: receipt ${r.receipt.id} (seq ${r.index}) is included in the ${trust.bundle.origin} checkpoint of size ${r.treeSize}\n`);
        return;
      }
      const file = opts.receipts as string;
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new BadInputError(`cannot read receipts ${file}`);
      }
      const note = opts.checkpoint ? readInput(opts.checkpoint, 'checkpoint') : undefined;
      let report;
      if (size >= PARALLEL_BYTES) {
        report = await verifyLogParallel(readExportLines(file), trust, note === undefined ? {} : { checkpoint: note });
      } else {
        const v = new LogVerifier(trust, note);
        for await (const line of readExportLines(file)) v.push(line);
        report = v.finish();
      }
      const beyond = report.checkpoint ? report.entries - report.checkpoint.size : 0;
      const cp = report.checkpoint
        ? `; checkpoint of size ${report.checkpoint.size} matches${beyond > 0 ? ` (${beyond} later entries are not yet covered by it)` : ''}`
        : '; no checkpoint given';
      process.stdout.write(`OK: ${report.entries} receipts of ${trust.bundle.origin} verified (signatures, key windows, chain)${cp}; root ${report.root.toString('base64')}\n`);
    });
}
