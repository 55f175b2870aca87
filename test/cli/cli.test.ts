import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve(process.cwd(), 'dist/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'warden-cli-'));
const data = join(tmp, 'data');

function warden(args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const w = (...args: string[]): ReturnType<typeof warden> => warden([...args, '--data', data]);
const file = (name: string, text: string): string => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
const ev = (i: number): string => JSON.stringify({ kind: 'decision', action: 'tool.call', resource: `tool:${i}`, decision: 'deny', reasons: ['no permit'], actor: { agent: 'bot' }, payload: { i } });
const size = (): number => (JSON.parse(w('tenants', 'list', '--json').out) as unknown[]).length && Number(/(\d+) receipts/.exec(w('tenants', 'list').out)?.[1]);

beforeAll(() => {
  expect(warden(['init', '--data', data, '--origin', 'audit.example/warden']).code).toBe(0);
});

describe('warden CLI contract', () => {
  it('prints help and rejects unknown commands with exit 2', () => {
    expect(warden(['--help']).code).toBe(0);
    expect(warden(['--help']).out).toContain('verify');
    expect(warden(['frobnicate']).code).toBe(2);
    expect(warden(['verify']).code).toBe(2);
  });

  it('init is idempotent, keeps keys, and writes a 0600 master key', () => {
    const before = w('keys', 'list', '--json').out;
    const again = warden(['init', '--data', data]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('already initialised');
    expect(w('keys', 'list', '--json').out).toBe(before);
    expect(statSync(join(data, 'master.key')).mode & 0o777).toBe(0o600);
    const keys = JSON.parse(before) as { purpose: string; state: string }[];
    expect(keys.map((k) => k.purpose).sort()).toEqual(['note', 'passport', 'receipt']);
    expect(before).not.toMatch(/private|wrapped/);
  });

  it('appends from a file or stdin and prints the signed receipts', () => {
    const r1 = w('ledger', 'append', '--file', file('a.jsonl', `${ev(1)}\n\n${ev(2)}\n`));
    expect(r1.code).toBe(0);
    const receipts = r1.out.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; sig: { alg: string } });
    expect(receipts.map((r) => r.seq)).toEqual([3, 4]); // seq 0-2: key.create (receipt, note, passport)
    expect(receipts[0]?.sig.alg).toBe('Ed25519');
    const r2 = warden(['ledger', 'append', '--data', data], `${ev(3)}\n`);
    expect(r2.code).toBe(0);
    expect(size()).toBe(6);
  });

  it('bad input changes nothing and exits 2 with a clear message', () => {
    const before = size();
    const garbled = w('ledger', 'append', '--file', file('bad.jsonl', `${ev(4)}\n{"kind":"decision","act`));
    expect(garbled.code).toBe(2);
    expect(garbled.err).toMatch(/line 2 is not valid JSON/);
    const invalid = w('ledger', 'append', '--file', file('bad2.jsonl', `${ev(4)}\n{"kind":"x"}\n`));
    expect(invalid.code).toBe(2);
    expect(invalid.err).toMatch(/entry 2: action: required/);
    const long = w('ledger', 'append', '--file', file('long.jsonl', `${ev(4)}\n{"action":"x","payload":{"s":"${'a'.repeat(1024 * 1024 + 10)}"}}\n`));
    expect(long.code).toBe(2);
    expect(long.err).toMatch(/line 2 is longer than 1 MiB/);
    expect(w('ledger', 'append', '--tenant', 'nope', '--file', file('ok.jsonl', ev(5))).code).toBe(2);
    expect(w('ledger', 'append', '--file', file('empty.jsonl', '\n')).code).toBe(2);
    expect(w('tenants', 'create', 'Bad Name').code).toBe(2);
    expect(size()).toBe(before);
  });

  it('exports, checkpoints, proves and verifies offline; tampering exits 1 naming the seq', () => {
    expect(w('ledger', 'export', '--out', join(tmp, 'log.jsonl')).code).toBe(0);
    expect(w('trust', 'export', '--out', join(tmp, 'trust.json')).code).toBe(0);
    const cp = w('ledger', 'checkpoint');
    expect(cp.out.split('\n')[0]).toBe('audit.example/warden/default');
    file('cp.txt', cp.out);
    const proof = w('ledger', 'proof', '--seq', '3');
    expect(proof.out.startsWith('c2sp.org/tlog-proof@v1\n')).toBe(true);
    file('p3.tlog-proof', proof.out);

    const ok = warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', join(tmp, 'log.jsonl'), '--checkpoint', join(tmp, 'cp.txt')]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^OK: 6 receipts/);
    expect(ok.out.trim().split('\n')).toHaveLength(1);
    expect(warden(['verify', '--trust', join(tmp, 'trust.json'), '--proof', join(tmp, 'p3.tlog-proof')]).code).toBe(0);

    const lines = readFileSync(join(tmp, 'log.jsonl'), 'utf8').split('\n');
    lines[3] = (lines[3] as string).replace('"deny"', '"allow"');
    const bad = warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', file('tampered.jsonl', lines.join('\n'))]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/seq 3: signature does not verify/);
    // Truncated export against the checkpoint.
    const truncated = file('trunc.jsonl', readFileSync(join(tmp, 'log.jsonl'), 'utf8').split('\n').slice(0, 3).join('\n'));
    const t = warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', truncated, '--checkpoint', join(tmp, 'cp.txt')]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/checkpoint covers 6 entries but the file has only 3/);
  });

  it('unusable verifier input exits 2; a checkpoint for another origin or tree size exits 1', () => {
    const trust = JSON.parse(readFileSync(join(tmp, 'trust.json'), 'utf8')) as { keys: { alg: string }[] };
    trust.keys.forEach((k) => (k.alg = 'RS256'));
    const wrongType = warden(['verify', '--trust', file('rsa.json', JSON.stringify(trust)), '--receipts', join(tmp, 'log.jsonl')]);
    expect(wrongType.code).toBe(2);
    expect(wrongType.err).toMatch(/only Ed25519/);
    expect(warden(['verify', '--trust', join(tmp, 'missing.json'), '--receipts', join(tmp, 'log.jsonl')]).code).toBe(2);
    expect(warden(['verify', '--trust', file('garbage.json', '{'), '--receipts', join(tmp, 'log.jsonl')]).code).toBe(2);
    expect(warden(['verify', '--trust', join(tmp, 'trust.json')]).code).toBe(2);

    const other = join(tmp, 'other');
    warden(['init', '--data', other, '--origin', 'other.example/log']);
    const foreign = file('foreign-cp.txt', warden(['ledger', 'checkpoint', '--data', other]).out);
    const o = warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', join(tmp, 'log.jsonl'), '--checkpoint', foreign]);
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/origin/);

    // A proof whose path belongs to another tree size.
    w('ledger', 'append', '--file', file('more.jsonl', `${ev(7)}\n${ev(8)}\n${ev(9)}\n`));
    const newer = w('ledger', 'checkpoint').out;
    // A checkpoint older than the export is valid, and the summary says what it does not cover.
    w('ledger', 'export', '--out', join(tmp, 'log-more.jsonl'));
    const older = warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', join(tmp, 'log-more.jsonl'), '--checkpoint', join(tmp, 'cp.txt')]);
    expect(older.code).toBe(0);
    expect(older.out).toMatch(/checkpoint of size 6 matches \(3 later entries are not yet covered by it\)/);
    const p = readFileSync(join(tmp, 'p3.tlog-proof'), 'utf8');
    const mixed = file('mixed.tlog-proof', p.slice(0, p.indexOf('\n\n') + 2) + newer);
    const m = warden(['verify', '--trust', join(tmp, 'trust.json'), '--proof', mixed]);
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/inclusion proof does not verify/);
  });

  it('rotates and revokes keys with receipts; history keeps verifying', () => {
    const keys = JSON.parse(w('keys', 'list', '--json').out) as { kid: string; purpose: string; state: string }[];
    const rk = keys.find((k) => k.purpose === 'receipt' && k.state === 'active')?.kid as string;
    expect(w('keys', 'rotate').out).toMatch(new RegExp(`rotated receipt key ${rk} → rk_`));
    expect(w('keys', 'rotate', '--purpose', 'note').code).toBe(0);
    expect(w('keys', 'rotate', '--purpose', 'bogus').code).toBe(2);
    expect(w('keys', 'revoke', 'rk_nope').code).toBe(2);
    expect(w('keys', 'revoke', rk, '--at', 'yesterday').code).toBe(2);
    expect(w('keys', 'revoke', rk, '--at', '2999-01-01T00:00:00Z').code).toBe(2);
    expect(w('keys', 'revoke', rk).code).toBe(0);
    const after = JSON.parse(w('keys', 'list', '--json').out) as { kid: string; state: string }[];
    expect(after.find((k) => k.kid === rk)?.state).toBe('revoked');
    w('ledger', 'export', '--out', join(tmp, 'log2.jsonl'));
    w('trust', 'export', '--out', join(tmp, 'trust2.json'));
    file('cp2.txt', w('ledger', 'checkpoint').out);
    // Revoked now: everything it signed before stays valid.
    expect(warden(['verify', '--trust', join(tmp, 'trust2.json'), '--receipts', join(tmp, 'log2.jsonl'), '--checkpoint', join(tmp, 'cp2.txt')]).code).toBe(0);
  });

  it('concurrent appending processes never fork, skip or reuse a seq', async () => {
    const dir = join(tmp, 'multi');
    warden(['init', '--data', dir]);
    const batch = (p: number): string => Array.from({ length: 40 }, (_, i) => ev(p * 1000 + i)).join('\n');
    const runs = Array.from({ length: 4 }, (_, p) =>
      new Promise<number>((done) => {
        const child = spawn(process.execPath, [CLI, 'ledger', 'append', '--data', dir], { stdio: ['pipe', 'ignore', 'inherit'] });
        child.on('exit', (code) => done(code ?? -1));
        child.stdin.end(batch(p));
      }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    warden(['ledger', 'export', '--data', dir, '--out', join(tmp, 'multi.jsonl')]);
    warden(['trust', 'export', '--data', dir, '--out', join(tmp, 'multi-trust.json')]);
    file('multi-cp.txt', warden(['ledger', 'checkpoint', '--data', dir]).out);
    const lines = readFileSync(join(tmp, 'multi.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(163);
    const v = warden(['verify', '--trust', join(tmp, 'multi-trust.json'), '--receipts', join(tmp, 'multi.jsonl'), '--checkpoint', join(tmp, 'multi-cp.txt')]);
    expect(v.code).toBe(0);
    // Each invocation's receipts are contiguous (one invocation = one transaction).
    const byProc = lines.slice(3).map((l) => Math.floor((JSON.parse(l) as { payload: { i: number } }).payload.i / 1000));
    for (let k = 0; k < byProc.length; k += 40) expect(new Set(byProc.slice(k, k + 40)).size).toBe(1);
  });

  it('tenants are isolated: separate keys and logs', () => {
    expect(w('tenants', 'create', 'acme').code).toBe(0);
    expect(w('tenants', 'create', 'acme').out).toContain('already exists');
    expect(w('ledger', 'append', '--tenant', 'acme', '--file', file('acme-in.jsonl', ev(1))).code).toBe(0);
    expect(w('ledger', 'export', '--tenant', 'acme', '--out', join(tmp, 'acme.jsonl')).code).toBe(0);
    // The default tenant's trust bundle does not verify acme's log.
    const r = warden(['verify', '--trust', join(tmp, 'trust2.json'), '--receipts', join(tmp, 'acme.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/seq 0: tenant "acme"/);
  });

  it('config show redacts secrets; data shred needs --yes', () => {
    const shown = w('config', 'show');
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('origin: audit.example/warden');
    expect(shown.out).not.toMatch(readFileSync(join(data, 'master.key'), 'utf8').trim().slice(0, 20));
    expect(w('data', 'shred').code).toBe(2);
    expect(w('data', 'shred', '--yes').code).toBe(0);
  });

  it('refuses a data dir written by a newer Warden with a clear message', () => {
    const dir = join(tmp, 'newer');
    warden(['init', '--data', dir]);
    const db = new Database(join(dir, 'warden.db'));
    db.prepare('UPDATE schema_meta SET version = 999').run();
    db.close();
    const r = warden(['keys', 'list', '--data', dir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/newer/);
  });

  it('file and tenant mistakes are usage errors (exit 2), not internal ones', () => {
    expect(w('ledger', 'append', '--file', join(tmp, 'no-such.jsonl')).code).toBe(2);
    expect(w('ledger', 'export', '--out', join(tmp, 'no-dir', 'x.jsonl')).code).toBe(2);
    expect(warden(['verify', '--trust', join(tmp, 'trust.json'), '--receipts', tmp]).code).toBe(2);
    const unknown = w('keys', 'list', '--tenant', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown tenant "nope"/);
    expect(w('keys', 'list', '--tenant', 'Bad!').err).toMatch(/invalid tenant name/);
    expect(w('ledger', 'append', '--file', file('typo.jsonl', '{"action":"x","resouce":"y"}\n')).err).toMatch(/unknown field "resouce"/);
    expect(warden(['init', '--data', join(tmp, 'pg1'), '--pg', 'not a url']).code).toBe(2);
    expect(warden(['init', '--data', join(tmp, 'pg2'), '--pg', 'postgres://u:secret@127.0.0.1/x']).err).toMatch(/PGPASSWORD/);
  });

  it('never replaces a missing master key next to an existing data dir', () => {
    const dir = join(tmp, 'lost-key');
    warden(['init', '--data', dir]);
    const key = readFileSync(join(dir, 'master.key'));
    rmSync(join(dir, 'master.key'));
    for (const cmd of [['init'], ['keys', 'list']]) {
      const r = warden([...cmd, '--data', dir]);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(/master key file .* is missing.*restore the key from your backup/);
    }
    expect(existsSync(join(dir, 'master.key'))).toBe(false);
    writeFileSync(join(dir, 'master.key'), key, { mode: 0o600 });
    expect(warden(['keys', 'list', '--data', dir]).code).toBe(0);
  });

  it('refuses a wrong master key, a vanished database and a rejected origin without leaving damage', () => {
    const a = join(tmp, 'mk-a');
    const b = join(tmp, 'mk-b');
    warden(['init', '--data', a]);
    warden(['init', '--data', b]);
    const own = readFileSync(join(a, 'master.key'));
    writeFileSync(join(a, 'master.key'), readFileSync(join(b, 'master.key')), { mode: 0o600 });
    const wrong = warden(['tenants', 'create', 'x', '--data', a]);
    expect(wrong.code).toBe(3);
    expect(wrong.err).toMatch(/cannot unseal key/);
    writeFileSync(join(a, 'master.key'), own, { mode: 0o600 });
    expect(warden(['tenants', 'list', '--data', a]).out).not.toMatch(/^x\t/m);

    rmSync(join(b, 'warden.db'));
    const gone = warden(['tenants', 'list', '--data', b]);
    expect(gone.code).toBe(2);
    expect(gone.err).toMatch(/does not exist/);
    expect(existsSync(join(b, 'warden.db'))).toBe(false);

    const o = join(tmp, 'bad-origin');
    expect(warden(['init', '--data', o, '--origin', 'Bad Origin']).code).toBe(2);
    expect(warden(['init', '--data', o, '--origin', 'ok.example/log']).code).toBe(0);
  });

  it('commands other than init and serve do not create a data dir', () => {
    const r = warden(['keys', 'list', '--data', join(tmp, 'nowhere')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/warden init/);
  });
});
