import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('examples/agent.mjs', () => {
  it('goes through allow, deny and approval against a real `warden serve`, and its receipts verify offline', () => {
    const r = spawnSync(process.execPath, [resolve(process.cwd(), 'examples/agent.mjs')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/== allowed[\s\S]*\nallow /);
    expect(r.stdout).toMatch(/== denied[\s\S]*\ndeny /);
    expect(r.stdout).toContain('approval approved by paula');
    expect(r.stdout).toMatch(/OK: \d+ receipts .* verified .* checkpoint of size \d+ matches/);
  });
});
