import { Readable } from 'node:stream';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSecrets, type SecretsIo } from '../../src/cli/secrets.js';
import { exitCodeFor, EXIT } from '../../src/cli/common.js';
import { SecretStore } from '../../src/secrets/store.js';
import { exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

const VALUE = 'sk-cli-Xb7Tq2Lm9Pw4Rz6Nc1Vd8Hf3Jg5Ks0Ae';

let t: TempWarden;
beforeAll(async () => {
  t = await tempWarden();
});
afterAll(async () => {
  await t.cleanup();
});

interface Run {
  out: string;
  /** The exit code main.ts would use. */
  code: number;
  error?: Error;
}

/** Runs `warden secrets …` in-process (as src/cli/main.ts would), with stdin from `input`. */
async function warden(args: string[], input: string | Buffer | null = '', tty = false): Promise<Run> {
  let out = '';
  const stdin = Object.assign(Readable.from(input === null ? [] : [Buffer.from(input)]), { isTTY: tty });
  const io: SecretsIo = { stdin, stdout: { write: (s: string) => (out += s) } };
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerSecrets(program, io);
  try {
    await program.parseAsync(['secrets', ...args, '--data', t.dir], { from: 'user' });
    return { out, code: EXIT.OK };
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode !== undefined && (err as Error).name === 'CommanderError' ? EXIT.USAGE : exitCodeFor(err);
    return { out, code, error: err as Error };
  }
}

const store = (): SecretStore => new SecretStore(t.w.store, t.w.ledger, t.w.protector);

describe('warden secrets (CLI)', () => {
  it('set reads the value from stdin and strips exactly one trailing newline', async () => {
    const r = await warden(['set', 'EXAMPLE_API_KEY'], `${VALUE}\n`);
    expect(r.code, r.error?.message).toBe(0);
    expect(r.out).toMatch(/^EXAMPLE_API_KEY version 1 set \(receipt rcpt_/);
    expect(r.out).not.toContain(VALUE);
    expect((await store().resolve('default', ['EXAMPLE_API_KEY'])).get('EXAMPLE_API_KEY')?.toString()).toBe(VALUE);
    await warden(['set', 'CRLF'], 'abc\r\n');
    await warden(['set', 'TWO_NEWLINES'], 'abc\n\n');
    await warden(['set', 'NO_NEWLINE'], 'abc');
    const got = await store().resolve('default', ['CRLF', 'TWO_NEWLINES', 'NO_NEWLINE']);
    expect(got.get('CRLF')?.toString()).toBe('abc');
    expect(got.get('TWO_NEWLINES')?.toString()).toBe('abc\n');
    expect(got.get('NO_NEWLINE')?.toString()).toBe('abc');
  });

  it('a value given as an argument is refused and nothing is stored (argv leaks into ps and shell history)', async () => {
    const r = await warden(['set', 'ARGV_SECRET', VALUE], '');
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.error?.message).toMatch(/too many arguments/);
    expect((await store().list('default')).map((s) => s.name)).not.toContain('ARGV_SECRET');
  });

  it('refuses a terminal on stdin (the value would echo), empty input and oversized input, with exit 2', async () => {
    const tty = await warden(['set', 'TTY_SECRET'], 'typed', true);
    expect(tty.code).toBe(EXIT.USAGE);
    expect(tty.error?.message).toMatch(/standard input/);
    expect((await warden(['set', 'EMPTY'], '')).code).toBe(EXIT.USAGE);
    expect((await warden(['set', 'EMPTY'], '\n')).code).toBe(EXIT.USAGE);
    const big = await warden(['set', 'BIG'], 'x'.repeat(64 * 1024 + 3));
    expect(big.code).toBe(EXIT.USAGE);
    expect(big.error?.message).toMatch(/larger than 65536/);
    expect((await warden(['set', 'lower_case'], 'x')).code).toBe(EXIT.USAGE);
    const names = (await store().list('default')).map((s) => s.name);
    for (const n of ['TTY_SECRET', 'EMPTY', 'BIG']) expect(names).not.toContain(n);
  });

  it('list prints names, versions and times; --json too; never values', async () => {
    await warden(['set', 'EXAMPLE_API_KEY'], `${VALUE}-v2`);
    const text = await warden(['list']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^CRLF\tv1\t\d{4}-/m);
    expect(text.out).toMatch(/^EXAMPLE_API_KEY\tv2\t/m);
    const json = await warden(['list', '--json']);
    const list = JSON.parse(json.out) as { name: string; version: number }[];
    expect(list.find((s) => s.name === 'EXAMPLE_API_KEY')?.version).toBe(2);
    for (const out of [text.out, json.out]) expect(out).not.toContain(VALUE);
  });

  it('delete removes the secret; deleting an unknown one exits 2; an unknown tenant exits 2', async () => {
    const r = await warden(['delete', 'NO_NEWLINE', '--reason', 'unused']);
    expect(r.code, r.error?.message).toBe(0);
    expect(r.out).toMatch(/^NO_NEWLINE deleted \(was version 1; receipt rcpt_/);
    expect((await store().list('default')).map((s) => s.name)).not.toContain('NO_NEWLINE');
    expect((await warden(['delete', 'NO_NEWLINE'])).code).toBe(EXIT.USAGE);
    expect((await warden(['list', '--tenant', 'nope'])).code).toBe(EXIT.USAGE);
  });

  it('the receipts of CLI changes carry no value', async () => {
    const lines = await exportLines(t.w);
    const secretReceipts = lines.filter((l) => l.includes('"kind":"secret"'));
    expect(secretReceipts.length).toBeGreaterThanOrEqual(6);
    expect(secretReceipts.some((l) => l.includes('"reasons":["unused"]'))).toBe(true);
    for (const l of lines) expect(l).not.toContain(VALUE);
  });
});
