import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WardenError } from '../../src/errors.js';
import type { Warden } from '../../src/context.js';
import { MAX_SECRET_BYTES, SECRET_KIND, SecretStore } from '../../src/secrets/store.js';
import type { StateRecord } from '../../src/store/types.js';
import { drivers, exportLines, tempWarden, type TempWarden } from '../helpers/warden.js';

/** A distinctive value: any trace of it (or of its digest) in storage is a leak. */
const VALUE = 'sk-live-7Qx9W3mZ2vKp8RtY4nLb6HcJ1dFs5GaE';

let t: TempWarden | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

async function setup(driver: 'sqlite' | 'postgres' = 'sqlite'): Promise<{ w: Warden; s: SecretStore }> {
  t = await tempWarden(driver);
  return { w: t.w, s: new SecretStore(t.w.store, t.w.ledger, t.w.protector) };
}

async function caught(p: Promise<unknown>): Promise<WardenError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WardenError);
    return err as WardenError;
  }
  throw new Error('expected a rejection');
}

/** Writes a state record directly, without a receipt: what an attacker with database access can do. */
async function tamper(w: Warden, record: StateRecord): Promise<void> {
  await w.store.append(record.tenant, () => ({ rows: [], mutations: [{ op: 'putRecord', record }] }));
}

/** Every encoding of the value and of its digests that a careless implementation might store. */
function traces(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const sha = createHash('sha256').update(bytes).digest();
  return [value, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), sha.toString('hex'), sha.toString('base64'), sha.toString('base64url'),
    createHash('sha512').update(bytes).digest('hex'), createHash('sha1').update(bytes).digest('hex')];
}

describe.each(drivers())('SecretStore (%s)', (driver) => {
  it('round-trips strings and buffers; rotation bumps the version and replaces the value', async () => {
    const { s } = await setup(driver);
    const a = await s.set('default', 'EXAMPLE_API_KEY', VALUE);
    expect(a).toMatchObject({ name: 'EXAMPLE_API_KEY', version: 1, action: 'set' });
    await s.set('default', 'BINARYISH', Buffer.from('line1\nline2 ✓', 'utf8'));
    let got = await s.resolve('default', ['EXAMPLE_API_KEY', 'BINARYISH']);
    expect(got.get('EXAMPLE_API_KEY')?.toString('utf8')).toBe(VALUE);
    expect(got.get('BINARYISH')?.toString('utf8')).toBe('line1\nline2 ✓');
    const b = await s.set('default', 'EXAMPLE_API_KEY', 'rotated', { reason: 'quarterly rotation' });
    expect(b.version).toBe(2);
    expect(b.created_at).toBe(a.created_at);
    got = await s.resolve('default', ['EXAMPLE_API_KEY']);
    expect(got.get('EXAMPLE_API_KEY')?.toString()).toBe('rotated');
    expect([...got.keys()]).toEqual(['EXAMPLE_API_KEY']);
  });

  it('set snapshots the caller\'s buffer: changing it afterwards changes nothing stored', async () => {
    const { s } = await setup(driver);
    const buf = Buffer.from('original');
    const pending = s.set('default', 'K', buf);
    buf.write('tampered');
    await pending;
    expect((await s.resolve('default', ['K'])).get('K')?.toString()).toBe('original');
  });

  it('list shows names, versions and times only — never values — sorted by name', async () => {
    const { s } = await setup(driver);
    await s.set('default', 'ZED', VALUE);
    await s.set('default', 'ALPHA', VALUE);
    await s.set('default', 'ALPHA', `${VALUE}-2`);
    const list = await s.list('default');
    expect(list.map((x) => [x.name, x.version])).toEqual([['ALPHA', 2], ['ZED', 1]]);
    for (const item of list) expect(Object.keys(item).sort()).toEqual(['created_at', 'name', 'updated_at', 'version']);
    const text = JSON.stringify(list);
    for (const tr of traces(VALUE)) expect(text).not.toContain(tr);
  });

  it('delete removes a secret; resolving it is NOT_FOUND; setting it again continues the version count', async () => {
    const { s } = await setup(driver);
    await s.set('default', 'K', 'v1');
    await s.set('default', 'K', 'v2');
    expect((await s.delete('default', 'K')).version).toBe(2);
    expect(await s.list('default')).toEqual([]);
    expect((await caught(s.resolve('default', ['K']))).code).toBe('NOT_FOUND');
    expect((await caught(s.delete('default', 'K'))).code).toBe('NOT_FOUND');
    expect((await s.set('default', 'K', 'v3')).version).toBe(3);
    expect((await s.resolve('default', ['K'])).get('K')?.toString()).toBe('v3');
  });

  it('resolve is all or nothing: every missing name is named; no names is an empty map', async () => {
    const { s } = await setup(driver);
    await s.set('default', 'PRESENT', 'x');
    const err = await caught(s.resolve('default', ['PRESENT', 'MISSING_ONE', 'MISSING_TWO']));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('MISSING_ONE, MISSING_TWO');
    expect(err.message).not.toContain('PRESENT');
    expect((await s.resolve('default', [])).size).toBe(0);
    expect((await caught(s.resolve('default', ['bad name']))).code).toBe('BAD_INPUT');
  });

  it('tenants are isolated: another tenant neither sees nor resolves the secret', async () => {
    const { w, s } = await setup(driver);
    await w.ensureTenant('other');
    await s.set('default', 'K', VALUE);
    expect(await s.list('other')).toEqual([]);
    expect((await caught(s.resolve('other', ['K']))).code).toBe('NOT_FOUND');
  });

  it('AAD binds tenant, name and version: a ciphertext moved to another name, tenant or version does not open', async () => {
    const { w, s } = await setup(driver);
    await w.ensureTenant('other');
    await s.set('default', 'SOURCE', VALUE);
    await s.set('default', 'TARGET', 'target value');
    await s.set('other', 'SOURCE', 'other tenant');
    const src = (await w.store.getRecord('default', SECRET_KIND, 'SOURCE')) as StateRecord;
    const dst = (await w.store.getRecord('default', SECRET_KIND, 'TARGET')) as StateRecord;
    // Moved to another name (same tenant, same key, same version).
    await tamper(w, { ...dst, body: src.body });
    expect((await caught(s.resolve('default', ['TARGET']))).code).toBe('KEY_ERROR');
    // Moved to another tenant under the same name.
    const otherRec = (await w.store.getRecord('other', SECRET_KIND, 'SOURCE')) as StateRecord;
    await tamper(w, { ...otherRec, body: src.body });
    expect((await caught(s.resolve('other', ['SOURCE']))).code).toBe('KEY_ERROR');
    // Replayed as a later version (an old value passed off as the current one).
    const body = JSON.parse(src.body) as { version: number };
    await tamper(w, { ...src, state: 'active:2', body: JSON.stringify({ ...body, version: 2 }) });
    expect((await caught(s.resolve('default', ['SOURCE']))).code).toBe('KEY_ERROR');
    // The untouched original opens (the failures above are the AAD, not a broken key).
    await tamper(w, src);
    expect((await s.resolve('default', ['SOURCE'])).get('SOURCE')?.toString()).toBe(VALUE);
  });

  it('a flipped ciphertext bit is a KEY_ERROR, never garbage', async () => {
    const { w, s } = await setup(driver);
    await s.set('default', 'K', VALUE);
    const rec = (await w.store.getRecord('default', SECRET_KIND, 'K')) as StateRecord;
    const body = JSON.parse(rec.body) as { ct: string };
    const ct = Buffer.from(body.ct, 'base64');
    ct[ct.length - 1] = (ct[ct.length - 1] as number) ^ 1;
    await tamper(w, { ...rec, body: JSON.stringify({ ...body, ct: ct.toString('base64') }) });
    expect((await caught(s.resolve('default', ['K']))).code).toBe('KEY_ERROR');
  });

  it('every change is receipted (kind secret) with name, action and version only', async () => {
    const { w, s } = await setup(driver);
    const before = (await w.store.head('default')).size;
    const r1 = await s.set('default', 'K', VALUE, { actor: { human: 'alice' }, reason: 'new integration' });
    await s.set('default', 'K', `${VALUE}-rotated`);
    await s.delete('default', 'K', { reason: 'decommissioned' });
    const lines = (await exportLines(w)).slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((r) => [r.kind, r.action, r.resource, r.payload])).toEqual([
      ['secret', 'secret.set', 'secret:K', { name: 'K', action: 'set', version: 1 }],
      ['secret', 'secret.set', 'secret:K', { name: 'K', action: 'set', version: 2 }],
      ['secret', 'secret.delete', 'secret:K', { name: 'K', action: 'delete', version: 2 }],
    ]);
    expect(lines[0]?.actor).toMatchObject({ human: 'alice' });
    expect(lines[0]?.reasons).toEqual(['new integration']);
    expect(r1.receipt).toEqual({ seq: before, id: lines[0]?.id });
    // The state record carries ciphertext and metadata only.
    const rec = (await w.store.getRecord('default', SECRET_KIND, 'K')) as StateRecord;
    expect(rec.state).toBe('deleted:2');
    expect(JSON.parse(rec.body)).toEqual({ ct: null, version: 2, updated_at: expect.any(String) });
  });

  it('a failed change leaves no record and no receipt', async () => {
    const { w, s } = await setup(driver);
    const before = (await w.store.head('default')).size;
    await caught(s.set('default', 'K', ''));
    await caught(s.set('default', 'lower', 'x'));
    expect((await w.store.head('default')).size).toBe(before);
    expect(await w.store.getRecord('default', SECRET_KIND, 'K')).toBeUndefined();
  });

  it('concurrent changes of one secret get distinct versions, in one process and across two', async () => {
    const { s } = await setup(driver);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.set('default', 'K', `v${i}`)));
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const other = await (t as TempWarden).reopen();
    const s2 = new SecretStore(other.store, other.ledger, other.protector);
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => (i % 2 ? s : s2).set('default', 'K', `x${i}`)));
    const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.version] : []));
    for (const r of settled) if (r.status === 'rejected') expect((r.reason as WardenError).code).toBe('CONFLICT');
    expect(new Set(ok).size).toBe(ok.length); // a compare-and-set: no two values share a version
    expect((await s.list('default'))[0]?.version).toBe(Math.max(...ok));
  });
});

describe('SecretStore: values and names', () => {
  it('accepts exactly 64 KiB; refuses more, empty, NUL, invalid UTF-8 and lone surrogates — without quoting the value', async () => {
    const { s } = await setup();
    await s.set('default', 'BIG', 'a'.repeat(MAX_SECRET_BYTES));
    expect((await s.resolve('default', ['BIG'])).get('BIG')?.length).toBe(MAX_SECRET_BYTES);
    const bad: [Buffer | string, RegExp][] = [
      ['a'.repeat(MAX_SECRET_BYTES + 1), /larger than 65536 bytes/],
      ['é'.repeat(MAX_SECRET_BYTES / 2) + 'x', /larger than/], // counted in UTF-8 bytes, not characters
      ['', /empty/],
      [Buffer.alloc(0), /empty/],
      [`${VALUE}\0tail`, /NUL/],
      [Buffer.from([0x73, 0x6b, 0xff, 0xfe]), /UTF-8/],
      ['abc\uD800def', /surrogate/],
    ];
    for (const [value, message] of bad) {
      const err = await caught(s.set('default', 'K', value));
      expect(err.code).toBe('BAD_INPUT');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain(VALUE);
    }
    expect((await caught(s.set('default', 'K', 42 as unknown as string))).code).toBe('BAD_INPUT');
  });

  it('refuses names that are not environment variable names, or that would change how the tool runs', async () => {
    const { s } = await setup();
    for (const name of ['lower', '1ABC', 'A-B', '', 'K'.repeat(65), 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'PATH', 'HTTPS_PROXY', 'NODE_OPTIONS', 'WARDEN_TOKEN', 'PYTHONPATH']) {
      expect((await caught(s.set('default', name, 'x'))).code, name).toBe('BAD_INPUT');
    }
    await s.set('default', '_X', 'x');
    await s.set('default', `K${'9'.repeat(63)}`, 'x');
  });
});

describe('SecretStore: nothing leaks into storage or the log', () => {
  it('neither the value nor any digest of it appears in exported receipts or in the database files', async () => {
    const { w, s } = await setup();
    await s.set('default', 'EXAMPLE_API_KEY', VALUE, { reason: 'setup' });
    await s.set('default', 'EXAMPLE_API_KEY', `${VALUE}`, { reason: 'same value again' });
    await s.set('default', 'SHORT', 'hunter2');
    await s.resolve('default', ['EXAMPLE_API_KEY', 'SHORT']);
    await s.delete('default', 'SHORT');
    const lines = (await exportLines(w)).join('\n');
    expect(lines).toContain('EXAMPLE_API_KEY'); // the scan does see the receipts
    for (const tr of [...traces(VALUE), ...traces('hunter2')]) expect(lines).not.toContain(tr);
    // Every byte Warden wrote: the database, its WAL and shared memory, config, keys.
    await w.close();
    const dir = (t as TempWarden).dir;
    const files = readdirSync(dir);
    expect(files.some((f) => f.endsWith('.db'))).toBe(true);
    let scanned = 0;
    for (const f of files) {
      const bytes = readFileSync(join(dir, f));
      scanned += bytes.length;
      for (const tr of [...traces(VALUE), ...traces('hunter2')]) {
        expect(bytes.includes(Buffer.from(tr, 'utf8')), `${tr} in ${f}`).toBe(false);
      }
      // The value may not appear as UTF-16 either.
      expect(bytes.includes(Buffer.from(VALUE, 'utf16le'))).toBe(false);
    }
    expect(scanned).toBeGreaterThan(0);
  });
});

describe('SecretStore: crypto-shredding', () => {
  it('shredding the tenant makes its secrets unreadable, with a clear KEY_ERROR; the log still holds the receipts', async () => {
    const { w, s } = await setup();
    await s.set('default', 'K', VALUE);
    expect((await s.resolve('default', ['K'])).get('K')?.toString()).toBe(VALUE);
    const shredded = await w.protector.shred('default');
    expect(shredded).toBeGreaterThan(0);
    const err = await caught(s.resolve('default', ['K']));
    expect(err.code).toBe('KEY_ERROR');
    expect(err.message).toMatch(/crypto-shredded/);
    // Resolving did not mint a fresh data key as a side effect.
    expect((await w.store.listDataKeys('default')).every((k) => k.wrapped_key === null)).toBe(true);
    // Names survive (metadata), values do not.
    expect((await s.list('default')).map((x) => x.name)).toEqual(['K']);
    // A secret set after shredding is sealed under a new data key and works; the old one stays unreadable.
    await s.set('default', 'NEW', 'fresh');
    expect((await s.resolve('default', ['NEW'])).get('NEW')?.toString()).toBe('fresh');
    const again = await caught(s.resolve('default', ['K']));
    expect(again.code).toBe('KEY_ERROR');
    expect(again.message).toMatch(/destroyed/);
    // A second Warden (another process, no cached keys) cannot read it either.
    const other = await (t as TempWarden).reopen();
    expect((await caught(new SecretStore(other.store, other.ledger, other.protector).resolve('default', ['K']))).code).toBe('KEY_ERROR');
  });
});
