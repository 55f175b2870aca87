import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, showConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/duration.js';

function dirWith(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cfg-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'warden.yaml'), yaml);
  return dir;
}

describe('configuration', () => {
  it('has secure embedded defaults when there is no file', () => {
    const { config, paths } = loadConfig(dirWith(), {});
    expect(config.store.driver).toBe('sqlite');
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.ledger.data_protection).toBe(true);
    expect(config.ledger.checkpoint_interval).toBeLessThanOrEqual(1000);
    expect(paths.sqlite.endsWith('warden.db')).toBe(true);
  });

  it('reads the file and applies WARDEN_* overrides on top', () => {
    const dir = dirWith('server:\n  port: 9000\nledger:\n  checkpoint_interval: 500ms\n');
    const loaded = loadConfig(dir, { WARDEN_SERVER_PORT: '9100', WARDEN_LOG_LEVEL: 'debug' });
    expect(loaded.config.server.port).toBe(9100);
    expect(loaded.config.log.level).toBe('debug');
    expect(loaded.config.ledger.checkpoint_interval).toBe(500);
    expect(loaded.envApplied).toEqual(['WARDEN_SERVER_PORT', 'WARDEN_LOG_LEVEL']);
  });

  it('names the key and the expected form in errors', () => {
    expect(() => loadConfig(dirWith('server:\n  port: "abc"\n'), {})).toThrow(/server\.port/);
    expect(() => loadConfig(dirWith('ledger:\n  checkpoint_interval: 5s\n'), {})).toThrow(/ledger\.checkpoint_interval: expected between 10ms and 1s/);
    expect(() => loadConfig(dirWith('ledger:\n  checkpoint_interval: soon\n'), {})).toThrow(/expected a duration/);
    expect(() => loadConfig(dirWith('stor:\n  driver: sqlite\n'), {})).toThrow(/stor/);
    expect(() => loadConfig(dirWith('store:\n  driver: postgres\n'), {})).toThrow(/store\.url/);
    expect(() => loadConfig(dirWith(), { WARDEN_SERVER_PORT: '12x' })).toThrow(/WARDEN_SERVER_PORT \(server\.port\): expected an integer/);
    expect(() => loadConfig(dirWith('origin: "has space"\n'), {})).toThrow(/origin/);
    expect(() => loadConfig(dirWith('a: [\n'), {})).toThrow(/not valid YAML/);
    expect(() => loadConfig(dirWith('- 1\n'), {})).toThrow(/mapping/);
  });

  it('never takes a secret from the environment', () => {
    expect(() => loadConfig(dirWith(), { WARDEN_STORE_URL: 'postgres://u:hunter2@db/x' })).toThrow(/must not carry a password/);
  });

  it('redacts passwords when showing the configuration', () => {
    const dir = dirWith('store:\n  driver: postgres\n  url: postgres://warden:hunter2@db.internal/warden\n');
    const text = showConfig(loadConfig(dir, {}).config);
    expect(text).not.toContain('hunter2');
    expect(text).toContain('REDACTED');
  });

  it('shows every duration as written, not in milliseconds', () => {
    const text = showConfig(loadConfig(dirWith('gateway:\n  approval_ttl: 5m\n'), {}).config);
    expect(text).toMatch(/passport_ttl: 15m/);
    expect(text).toMatch(/approval_ttl: 5m/);
    expect(text).toMatch(/rotation_interval: 90d/);
    expect(text).not.toMatch(/: 900000\b/);
  });

  it('parses durations strictly', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
    expect(parseDuration('1.5h')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });
});
