import type { Command } from 'commander';
import { loadConfig, showConfig } from '../config/load.js';
import { dataOption } from './common.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration');
  dataOption(config.command('show'))
    .description('print the effective configuration (file + WARDEN_* overrides), secrets redacted')
    .action((opts: { data: string }) => {
      const loaded = loadConfig(opts.data);
      process.stdout.write(`# ${loaded.paths.configFile}${loaded.envApplied.length ? ` + ${loaded.envApplied.join(', ')}` : ''}\n`);
      process.stdout.write(showConfig(loaded.config));
    });
}
