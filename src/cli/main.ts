#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { WardenError } from '../errors.js';
import { EXIT, exitCodeFor, isUserFsError } from './common.js';

// Everything Warden writes (database, exports, keys) is private to its owner by default.
process.umask(0o077);
// `warden … | head` closes stdout early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
import { registerConfig } from './config.js';
import { registerInit, registerTenants } from './init.js';
import { registerKeys } from './keys.js';
import { registerLedger } from './ledger.js';
import { registerServe } from './serve.js';
import { registerTrust } from './trust.js';
import { registerVerify } from './verify.js';
import { registerData } from './data.js';
import { registerAgents } from './agents.js';
import { registerPassports } from './passports.js';
import { registerCa } from './ca.js';
import { registerOperators } from './operators.js';
import { registerApprovals } from './approvals.js';
import { registerPolicy } from './policy.js';
import { registerEvents } from './events.js';
import { registerScan } from './scan.js';
import { registerFirewall } from './firewall.js';
import { registerRun } from './run.js';
import { registerMcp } from './mcp.js';
import { registerSecrets } from './secrets.js';

const program = new Command();
program
  .name('warden')
  .description('Zero-trust runtime for AI agent actions: every action authenticated, decided, contained and receipted.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerInit(program);
registerTenants(program);
registerLedger(program);
registerTrust(program);
registerKeys(program);
registerVerify(program);
registerConfig(program);
registerData(program);
registerAgents(program);
registerPassports(program);
registerCa(program);
registerOperators(program);
registerApprovals(program);
registerPolicy(program);
registerEvents(program);
registerScan(program);
registerFirewall(program);
registerRun(program);
registerMcp(program);
registerSecrets(program);
registerServe(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; usage errors already printed their message.
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    const message =
      err instanceof WardenError
        ? err.message
        : isUserFsError(err)
          ? `${err.code}: ${err.path ?? ''} ${err.syscall ? `(${err.syscall})` : ''}`.trim()
          : `internal error: ${(err as Error).message}`;
    process.stderr.write(`warden: ${message}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
