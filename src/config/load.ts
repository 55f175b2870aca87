import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type WardenConfig } from './schema.js';
import { formatDuration } from './duration.js';

export const CONFIG_FILE = 'warden.yaml';

/**
 * Deployment settings that may come from the environment. Secret values never do: the master
 * key lives in its file (or KMS), database passwords in PGPASSWORD / ~/.pgpass.
 */
const ENV_OVERRIDES: Record<string, { path: string[]; type: 'string' | 'int' }> = {
  WARDEN_ORIGIN: { path: ['origin'], type: 'string' },
  WARDEN_STORE_DRIVER: { path: ['store', 'driver'], type: 'string' },
  WARDEN_STORE_PATH: { path: ['store', 'path'], type: 'string' },
  WARDEN_STORE_URL: { path: ['store', 'url'], type: 'string' },
  WARDEN_STORE_SCHEMA: { path: ['store', 'schema'], type: 'string' },
  WARDEN_SERVER_HOST: { path: ['server', 'host'], type: 'string' },
  WARDEN_SERVER_PORT: { path: ['server', 'port'], type: 'int' },
  WARDEN_LOG_LEVEL: { path: ['log', 'level'], type: 'string' },
  WARDEN_LEDGER_CHECKPOINT_INTERVAL: { path: ['ledger', 'checkpoint_interval'], type: 'string' },
};

export interface LoadedConfig {
  config: WardenConfig;
  dataDir: string;
  /** Where each setting came from, for `config show`. */
  envApplied: string[];
  /** Absolute paths derived from the config. */
  paths: { configFile: string; sqlite: string; masterKey: string };
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1] as string] = value;
}

/** One readable line per problem, naming the key and the expected form. */
export function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    return `  ${key}: ${issue.message}`;
  });
  return `invalid configuration in ${source}:\n${lines.join('\n')}`;
}

/** Validates raw settings (from YAML plus env) into a config, or throws ConfigError. */
export function parseConfig(raw: unknown, source: string): WardenConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  return result.data;
}

function passwordInUrl(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/**
 * Loads `<dataDir>/warden.yaml` (absent file = defaults) and applies WARDEN_* overrides.
 */
export function loadConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const dir = resolve(dataDir);
  const configFile = join(dir, CONFIG_FILE);
  let raw: Record<string, unknown> = {};
  if (existsSync(configFile)) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`${configFile} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`${configFile}: expected a mapping at the top level`);
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
  }
  const envApplied: string[] = [];
  for (const [name, spec] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (name === 'WARDEN_STORE_URL' && passwordInUrl(value)) {
      throw new ConfigError('WARDEN_STORE_URL must not carry a password; use PGPASSWORD or ~/.pgpass');
    }
    let typed: unknown = value;
    if (spec.type === 'int') {
      if (!/^\d+$/.test(value)) throw new ConfigError(`${name} (${spec.path.join('.')}): expected an integer, got "${value}"`);
      typed = Number(value);
    }
    setPath(raw, spec.path, typed);
    envApplied.push(name);
  }
  const config = parseConfig(raw, envApplied.length ? `${configFile} + ${envApplied.join(', ')}` : configFile);
  const abs = (p: string): string => (isAbsolute(p) ? p : join(dir, p));
  return {
    config,
    dataDir: dir,
    envApplied,
    paths: { configFile, sqlite: abs(config.store.path), masterKey: abs(config.keys.master_key_file) },
  };
}

/** The effective configuration as YAML, with secrets (URL passwords) redacted. */
export function showConfig(config: WardenConfig): string {
  const copy = structuredClone(config) as unknown as Record<string, Record<string, unknown>> & WardenConfig;
  // Durations are held in milliseconds; show them as written.
  (copy.keys as Record<string, unknown>).rotation_interval = formatDuration(config.keys.rotation_interval);
  (copy.keys as Record<string, unknown>).retiring_grace = formatDuration(config.keys.retiring_grace);
  (copy.ledger as Record<string, unknown>).checkpoint_interval = formatDuration(config.ledger.checkpoint_interval);
  const identity = copy.identity as unknown as Record<string, unknown>;
  for (const k of ['passport_ttl', 'passport_max_ttl', 'clock_skew', 'operator_token_ttl'] as const) identity[k] = formatDuration(config.identity[k]);
  identity.oidc = config.identity.oidc.map((p) => ({ ...p, cache_max_age: formatDuration(p.cache_max_age), cooldown: formatDuration(p.cooldown) }));
  (copy.gateway as unknown as Record<string, unknown>).approval_ttl = formatDuration(config.gateway.approval_ttl);
  if (copy.store.url) {
    try {
      const u = new URL(copy.store.url);
      if (u.password) u.password = 'REDACTED';
      copy.store.url = u.toString();
    } catch {
      copy.store.url = 'REDACTED (unparseable URL)';
    }
  }
  return stringifyYaml(copy);
}

/** The config file `warden init` writes: explicit defaults, commented. */
export function initialConfigYaml(origin: string, pgUrl?: string): string {
  const store = pgUrl ? `store:\n  driver: postgres\n  url: ${JSON.stringify(pgUrl)}\n` : `store:\n  driver: sqlite\n  path: warden.db\n`;
  return `# Warden configuration. Every key is documented in docs/configuration.md.
version: 1
# Log origin prefix; each tenant's checkpoints use the origin line "<origin>/<tenant>".
origin: ${origin}
${store}keys:
  provider: file
  master_key_file: master.key   # mode 0600; keep a backup: without it the keys are lost
  rotation_interval: 90d
  retiring_grace: 1h
ledger:
  checkpoint_interval: 250ms
  sensitive_fields: []
  data_protection: true
`;
}
