import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { BadInputError } from '../../src/errors.js';
import { ManifestError, canonicalManifest, manifestDigest, parseManifest, validateManifest } from '../../src/sandbox/manifest/manifest.js';
import { manifestJsonSchema } from '../../src/sandbox/manifest/schema.js';

const EXAMPLE = `version: "1.0"
agent: { name: report-bot, runtime: "python3" }
tier: auto            # process | container | microvm | docker | auto
permissions:
  network: { allow: ["api.example.com:443", "*.example.org"] }   # default: none
  fs: { read: ["/data/inputs"], write: ["/data/outputs"] }
  execution_time: 30s
  memory: 256MB
  cpu_quota: 0.5
  pids: 64
secrets: [ EXAMPLE_API_KEY ]   # resolved from Warden's secret store at run time
`;

const DATA_DIR = '/var/lib/warden';
const base = (): Record<string, unknown> => ({ version: '1.0', agent: { name: 'bot', runtime: 'python3' } });

/** A manifest with `patch` applied at a dotted path (created as needed), as YAML text. */
function withField(path: string, value: unknown): string {
  const m = base();
  const parts = path.split('.');
  let cur = m;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts.at(-1) as string] = value;
  return stringify(m);
}

function issuesOf(text: string, options = { dataDir: DATA_DIR }): { path: string; message: string }[] {
  try {
    parseManifest(text, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as BadInputError).code).toBe('BAD_INPUT');
    return [...(err as ManifestError).issues];
  }
  throw new Error(`accepted: ${text}`);
}

describe('manifest: the example and the defaults', () => {
  it('accepts the example from the issue, normalised', () => {
    const m = parseManifest(EXAMPLE, { dataDir: DATA_DIR });
    expect(m).toEqual({
      version: '1.0',
      agent: { name: 'report-bot', runtime: 'python3' },
      tier: 'auto',
      permissions: {
        network: { allow: ['*.example.org', 'api.example.com:443'] },
        fs: { read: ['/data/inputs'], write: ['/data/outputs'] },
        execution_time: 30_000,
        memory: 256_000_000,
        cpu_quota: 0.5,
        pids: 64,
      },
      secrets: ['EXAMPLE_API_KEY'],
    });
  });

  it('defaults are the secure ones: no network, no fs grants, no secrets, 30s, 256MB, 1 CPU, 64 pids, tier auto', () => {
    const m = parseManifest(stringify(base()));
    expect(m.tier).toBe('auto');
    expect(m.permissions).toEqual({ network: { allow: [] }, fs: { read: [], write: [] }, execution_time: 30_000, memory: 256_000_000, cpu_quota: 1, pids: 64 });
    expect(m.secrets).toEqual([]);
    // Empty sections default the same way.
    expect(parseManifest(withField('permissions', { network: {}, fs: {} })).permissions).toEqual(m.permissions);
  });

  it('parses JSON as well as YAML', () => {
    expect(parseManifest(JSON.stringify({ ...base(), secrets: ['A'] })).secrets).toEqual(['A']);
  });

  it('the result is deeply frozen: a caller cannot widen permissions after validation', () => {
    const m = parseManifest(EXAMPLE);
    expect(Object.isFrozen(m.permissions.fs.write)).toBe(true);
    expect(() => (m.permissions.fs.write as string[]).push('/')).toThrow();
  });

  it('the normalised manifest is itself a valid manifest and parses to itself (idempotent)', () => {
    const m = parseManifest(EXAMPLE);
    const again = parseManifest(JSON.stringify(m));
    expect(again).toEqual(m);
    expect(manifestDigest(again)).toBe(manifestDigest(m));
  });

  it('units: decimal KB/MB/GB, binary KiB/MiB/GiB, bare numbers are bytes and milliseconds', () => {
    const mem = (v: unknown): number => parseManifest(withField('permissions.memory', v)).permissions.memory;
    expect(mem('16MB')).toBe(16_000_000);
    expect(mem('16MiB')).toBe(16 * 1024 * 1024);
    expect(mem('1GB')).toBe(1e9);
    expect(mem('1 GiB')).toBe(1024 ** 3);
    expect(mem('64GiB')).toBe(64 * 1024 ** 3);
    expect(mem('64GB')).toBe(64e9);
    expect(mem('300000KB')).toBe(300_000_000);
    expect(mem(20_000_000)).toBe(20_000_000);
    const time = (v: unknown): number => parseManifest(withField('permissions.execution_time', v)).permissions.execution_time;
    expect(time('1s')).toBe(1000);
    expect(time('24h')).toBe(86_400_000);
    expect(time('1500ms')).toBe(1500);
    expect(time(5000)).toBe(5000);
  });
});

describe('manifest: every bad field is refused, naming the field', () => {
  const cases: [string, string, unknown, string, RegExp][] = [
    ['unquoted version (a YAML number)', 'version', 1.0, 'version', /expected "1\.0"/],
    ['unknown version', 'version', '2.0', 'version', /expected "1\.0"/],
    ['unknown top-level key', 'netwrok', {}, 'netwrok', /unknown field/],
    ['unknown permission', 'permissions.netwrok', {}, 'permissions.netwrok', /unknown field/],
    ['unknown agent key', 'agent.image', 'x', 'agent.image', /unknown field/],
    ['unknown fs key', 'permissions.fs.exec', [], 'permissions.fs.exec', /unknown field/],
    ['bad agent name', 'agent.name', '-bot', 'agent.name', /expected an agent id/],
    ['upper-case agent name', 'agent.name', 'Bot', 'agent.name', /expected an agent id/],
    ['runtime with a space', 'agent.runtime', 'python 3', 'agent.runtime', /program name/],
    ['runtime relative path', 'agent.runtime', 'bin/python', 'agent.runtime', /program name/],
    ['runtime with ..', 'agent.runtime', '/usr/../bin/sh', 'agent.runtime', /'\.\.'/],
    ['runtime in /proc', 'agent.runtime', '/proc/self/exe', 'agent.runtime', /kernel/],
    ['tier', 'tier', 'vm', 'tier', /expected one of process, container, microvm, docker, auto/],
    ['relative write path', 'permissions.fs.write', ['data/out'], 'permissions.fs.write[0]', /^must be an absolute path$/],
    ['.. in a path', 'permissions.fs.read', ['/data/../etc'], 'permissions.fs.read[0]', /'\.\.'/],
    ['trailing slash', 'permissions.fs.read', ['/data/'], 'permissions.fs.read[0]', /normalised.*"\/data"/],
    ['double slash', 'permissions.fs.read', ['/data//x'], 'permissions.fs.read[0]', /normalised.*"\/data\/x"/],
    ['dot segment', 'permissions.fs.read', ['/data/./x'], 'permissions.fs.read[0]', /normalised/],
    ['NUL in a path', 'permissions.fs.read', ['/data\0/x'], 'permissions.fs.read[0]', /NUL/],
    ['newline in a path', 'permissions.fs.read', ['/data\n/x'], 'permissions.fs.read[0]', /control/],
    ['root', 'permissions.fs.read', ['/'], 'permissions.fs.read[0]', /whole host file system/],
    ['/proc', 'permissions.fs.read', ['/proc/self/environ'], 'permissions.fs.read[0]', /under \/proc/],
    ['/sys', 'permissions.fs.read', ['/sys'], 'permissions.fs.read[0]', /under \/sys/],
    ['/dev', 'permissions.fs.write', ['/dev/shm'], 'permissions.fs.write[0]', /under \/dev/],
    ['/etc/shadow', 'permissions.fs.read', ['/etc/shadow'], 'permissions.fs.read[0]', /\/etc\/shadow/],
    ['/etc (contains /etc/shadow)', 'permissions.fs.read', ['/etc'], 'permissions.fs.read[0]', /contains \/etc\/shadow/],
    ['/etc/ssh key', 'permissions.fs.read', ['/etc/ssh/ssh_host_ed25519_key'], 'permissions.fs.read[0]', /\/etc\/ssh/],
    ['/root', 'permissions.fs.read', ['/root/notes'], 'permissions.fs.read[0]', /\/root/],
    ['docker socket', 'permissions.fs.write', ['/var/run/docker.sock'], 'permissions.fs.write[0]', /\/var\/run/],
    ['/var contains /var/run', 'permissions.fs.read', ['/var'], 'permissions.fs.read[0]', /contains \/var\/run/],
    ['/home', 'permissions.fs.read', ['/home'], 'permissions.fs.read[0]', /every user/],
    ['a whole home', 'permissions.fs.read', ['/home/alice'], 'permissions.fs.read[0]', /whole home directory/],
    ['~/.ssh', 'permissions.fs.read', ['/home/alice/.ssh/id_ed25519'], 'permissions.fs.read[0]', /dot-entry/],
    ['~/.aws', 'permissions.fs.read', ['/home/alice/.aws'], 'permissions.fs.read[0]', /dot-entry/],
    ['Warden data dir', 'permissions.fs.read', [DATA_DIR], 'permissions.fs.read[0]', /Warden's data directory/],
    ['inside the data dir', 'permissions.fs.read', [`${DATA_DIR}/master.key`], 'permissions.fs.read[0]', /Warden's data directory/],
    ['above the data dir', 'permissions.fs.write', ['/var/lib'], 'permissions.fs.write[0]', /contains Warden's data directory/],
    ['write to /usr', 'permissions.fs.write', ['/usr/local/bin'], 'permissions.fs.write[0]', /must not be writable: \/usr/],
    ['write to /etc/x', 'permissions.fs.write', ['/etc/cron.d'], 'permissions.fs.write[0]', /must not be writable: \/etc/],
    ['a path not a string', 'permissions.fs.read', [7], 'permissions.fs.read[0]', /expected a string, got a number/],
    ['fs not a mapping', 'permissions.fs', ['/data'], 'permissions.fs', /expected a mapping, got a list/],
    ['too many paths', 'permissions.fs.read', Array.from({ length: 65 }, (_, i) => `/data/${i}`), 'permissions.fs.read', /at most 64/],
    ['bare *', 'permissions.network.allow', ['*'], 'permissions.network.allow[0]', /every destination/],
    ['* inside', 'permissions.network.allow', ['api.*.example.com'], 'permissions.network.allow[0]', /only allowed as the whole first label/],
    ['partial *', 'permissions.network.allow', ['api*.example.com'], 'permissions.network.allow[0]', /only allowed as the whole first label/],
    ['*.tld', 'permissions.network.allow', ['*.com'], 'permissions.network.allow[0]', /registrable domain/],
    ['scheme', 'permissions.network.allow', ['https://api.example.com'], 'permissions.network.allow[0]', /without a scheme/],
    ['path', 'permissions.network.allow', ['api.example.com/v1'], 'permissions.network.allow[0]', /no paths/],
    ['CIDR', 'permissions.network.allow', ['10.0.0.0/8'], 'permissions.network.allow[0]', /CIDR/],
    ['port 0', 'permissions.network.allow', ['api.example.com:0'], 'permissions.network.allow[0]', /not a port/],
    ['port too big', 'permissions.network.allow', ['api.example.com:65536'], 'permissions.network.allow[0]', /not a port/],
    ['port *', 'permissions.network.allow', ['api.example.com:*'], 'permissions.network.allow[0]', /not a port/],
    ['unbracketed IPv6', 'permissions.network.allow', ['2001:db8::1'], 'permissions.network.allow[0]', /brackets/],
    ['bad host', 'permissions.network.allow', ['exa mple.com'], 'permissions.network.allow[0]', /character/],
    ['empty host', 'permissions.network.allow', [''], 'permissions.network.allow[0]', /empty/],
    ['bad IPv4-looking', 'permissions.network.allow', ['1.2.3.999'], 'permissions.network.allow[0]', /not a valid/],
    ['network as a list', 'permissions.network', ['api.example.com'], 'permissions.network', /expected a mapping/],
    ['execution_time too short', 'permissions.execution_time', '500ms', 'permissions.execution_time', /between 1s and 24h/],
    ['execution_time too long', 'permissions.execution_time', '25h', 'permissions.execution_time', /between 1s and 24h/],
    ['execution_time bare seconds', 'permissions.execution_time', 30, 'permissions.execution_time', /between 1s and 24h/],
    ['execution_time malformed', 'permissions.execution_time', 'half a minute', 'permissions.execution_time', /expected a duration/],
    ['execution_time negative', 'permissions.execution_time', -5, 'permissions.execution_time', /expected a duration/],
    ['memory too small', 'permissions.memory', '15MB', 'permissions.memory', /between 16MB and 64GiB/],
    ['memory too large', 'permissions.memory', '65GiB', 'permissions.memory', /between 16MB and 64GiB/],
    ['memory forgotten unit', 'permissions.memory', 256, 'permissions.memory', /between 16MB and 64GiB/],
    ['memory bad unit', 'permissions.memory', '256mb', 'permissions.memory', /expected a size/],
    ['memory fraction', 'permissions.memory', '0.5GB', 'permissions.memory', /expected a size/],
    ['memory as bool', 'permissions.memory', true, 'permissions.memory', /wrong type/],
    ['cpu_quota too small', 'permissions.cpu_quota', 0.001, 'permissions.cpu_quota', /between 0\.01 and 64/],
    ['cpu_quota too big', 'permissions.cpu_quota', 65, 'permissions.cpu_quota', /between 0\.01 and 64/],
    ['cpu_quota a string', 'permissions.cpu_quota', '50%', 'permissions.cpu_quota', /expected a number of CPUs/],
    ['pids 0', 'permissions.pids', 0, 'permissions.pids', /between 1 and 32768/],
    ['pids too many', 'permissions.pids', 32_769, 'permissions.pids', /between 1 and 32768/],
    ['pids fraction', 'permissions.pids', 1.5, 'permissions.pids', /whole number/],
    ['secret lower case', 'secrets', ['api_key'], 'secrets[0]', /A-Z, 0-9 and _/],
    ['secret starting with a digit', 'secrets', ['1KEY'], 'secrets[0]', /A-Z, 0-9 and _/],
    ['secret too long', 'secrets', ['K'.repeat(65)], 'secrets[0]', /1-64/],
    ['secret LD_PRELOAD', 'secrets', ['LD_PRELOAD'], 'secrets[0]', /reserved/],
    ['secret HTTPS_PROXY', 'secrets', ['HTTPS_PROXY'], 'secrets[0]', /reserved/],
    ['secret NODE_OPTIONS', 'secrets', ['NODE_OPTIONS'], 'secrets[0]', /reserved/],
    ['too many secrets', 'secrets', Array.from({ length: 65 }, (_, i) => `K${i}`), 'secrets', /at most 64/],
    ['secrets as a string', 'secrets', 'EXAMPLE_API_KEY', 'secrets', /expected a list, got a string/],
  ];
  it.each(cases)('%s', (_label, path, value, field, message) => {
    const issues = issuesOf(withField(path, value));
    const hit = issues.find((i) => i.path === field);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit?.message).toMatch(message);
    // The error message itself names the field, as users see it.
    expect(() => parseManifest(withField(path, value), { dataDir: DATA_DIR })).toThrow(`${field}: `);
  });

  it('missing agent fields are required', () => {
    expect(issuesOf(stringify({ version: '1.0' }))).toContainEqual({ path: 'agent', message: 'is required' });
    expect(issuesOf(stringify({ version: '1.0', agent: { name: 'a' } }))).toContainEqual({ path: 'agent.runtime', message: 'is required' });
    expect(issuesOf(stringify({ agent: { name: 'a', runtime: 'sh' } }))).toContainEqual({ path: 'version', message: expect.stringMatching(/expected "1\.0"/) });
  });

  it('reports every problem at once', () => {
    const text = stringify({
      version: '1.0', agent: { name: 'a', runtime: 'sh' }, extra: 1,
      permissions: { fs: { write: ['rel', '/ok/path', '/proc'] }, pids: 0 }, secrets: ['ok_not'],
    });
    expect(issuesOf(text).map((i) => i.path).sort()).toEqual(['extra', 'permissions.fs.write[0]', 'permissions.fs.write[2]', 'permissions.pids', 'secrets[0]']);
  });

  it('a grant that resolves to the data directory through a symlink is refused (protected paths are compared in both forms)', () => {
    const root = mkdtempSync(join(tmpdir(), 'warden-manifest-'));
    try {
      const real = join(root, 'real-data');
      mkdirSync(real);
      symlinkSync(real, join(root, 'link'));
      const text = withField('permissions.fs.read', [real]);
      expect(issuesOf(text, { dataDir: join(root, 'link') })[0]?.message).toMatch(/Warden's data directory/);
      // A relative data dir is made absolute before comparing.
      expect(() => parseManifest(withField('permissions.fs.read', [process.cwd()]), { dataDir: '.' })).toThrow(/data directory/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('protectedPaths guard files outside the data directory', () => {
    const text = withField('permissions.fs.read', ['/srv/keys']);
    expect(() => parseManifest(text, { protectedPaths: ['/srv/keys/master.key'] })).toThrow(/contains Warden's data directory/);
  });
});

describe('manifest: what is allowed', () => {
  it('grants inside a home, narrow /etc reads, /tmp writes, look-alike names', () => {
    const text = stringify({
      ...base(),
      permissions: { fs: { read: ['/home/alice/reports', '/etc/ssl/certs', '/homework', '/rooted', '/var/lib/other'], write: ['/tmp/out', '/var/lib/other/out'] } },
    });
    const m = parseManifest(text, { dataDir: DATA_DIR });
    expect(m.permissions.fs.read).toEqual(['/etc/ssl/certs', '/home/alice/reports', '/homework', '/rooted', '/var/lib/other']);
  });

  it('network entries are normalised: case, IDNA, trailing dot, port zeros, IP literals; duplicates merged and sorted', () => {
    const text = withField('permissions.network.allow', [
      'API.Example.COM:0443', 'api.example.com:443', 'bücher.example', 'example.net.', '*.Example.org', '[::1]:8080', '127.0.0.1', '[2001:DB8::1]',
    ]);
    expect(parseManifest(text).permissions.network.allow).toEqual([
      '*.example.org', '127.0.0.1', '[2001:db8::1]', '[::1]:8080', 'api.example.com:443', 'example.net', 'xn--bcher-kva.example',
    ]);
  });

  it('secret names: duplicates merged, sorted; 64 allowed', () => {
    expect(parseManifest(withField('secrets', ['B', 'A', 'B'])).secrets).toEqual(['A', 'B']);
    expect(parseManifest(withField('secrets', Array.from({ length: 64 }, (_, i) => `K${i}`))).secrets).toHaveLength(64);
    expect(parseManifest(withField('secrets', ['_X', `K${'9'.repeat(63)}`])).secrets).toHaveLength(2);
  });

  it('a runtime may be an absolute path', () => {
    expect(parseManifest(withField('agent.runtime', '/usr/bin/python3')).agent.runtime).toBe('/usr/bin/python3');
    expect(parseManifest(withField('agent.runtime', 'python3.12')).agent.runtime).toBe('python3.12');
  });
});

describe('manifest: hostile YAML is refused, never a crash', () => {
  it('duplicate keys are refused (two parsers must not disagree about which value counts)', () => {
    expect(issuesOf('version: "1.0"\nagent: {name: a, runtime: sh}\ntier: process\ntier: auto\n')[0]?.message).toMatch(/unique/);
    expect(issuesOf('{"version":"1.0","agent":{"name":"a","runtime":"sh"},"secrets":["A"],"secrets":[]}')[0]?.message).toMatch(/unique/);
  });

  it('several documents are refused', () => {
    expect(issuesOf(`${stringify(base())}---\n${stringify(base())}`)[0]?.message).toMatch(/YAML/);
  });

  it('an alias bomb is refused', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) bomb.push(`${'abcdefgh'[i]}: &${'abcdefgh'[i]} [*${'abcdefgh'[i - 1]},*${'abcdefgh'[i - 1]},*${'abcdefgh'[i - 1]},*${'abcdefgh'[i - 1]}]`);
    const issues = issuesOf(bomb.join('\n'));
    expect(issues[0]?.path).toBe('(manifest)');
  });

  it('an oversized manifest is refused before parsing', () => {
    expect(issuesOf(`# ${'x'.repeat(64 * 1024)}\n${stringify(base())}`)[0]?.message).toMatch(/larger than 65536 bytes/);
  });

  it('a __proto__ key is an unknown field, not a prototype', () => {
    const issues = issuesOf('version: "1.0"\nagent: {name: a, runtime: sh}\n__proto__: {tier: docker}\n');
    expect(issues).toContainEqual({ path: '__proto__', message: 'unknown field' });
  });

  it('non-mappings at the top are refused', () => {
    for (const text of ['', '- a', '42', '"text"', 'null']) expect(issuesOf(text)[0]?.path).toBe('(manifest)');
  });

  it('random mutations of the example only ever produce a ManifestError or a manifest', () => {
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const alphabet = ' :-[]{}"\'#&*!|>%@`\n\t,./\\0aZ9';
    for (let i = 0; i < 500; i++) {
      const chars = [...EXAMPLE];
      for (let k = 0; k < 1 + rand(4); k++) chars[rand(chars.length)] = alphabet[rand(alphabet.length)] as string;
      try {
        parseManifest(chars.join(''), { dataDir: DATA_DIR });
      } catch (err) {
        expect(err).toBeInstanceOf(ManifestError);
      }
    }
  });

  it('validateManifest takes already-parsed values (API JSON) under the same rules', () => {
    expect(validateManifest({ ...base(), permissions: { memory: '1GiB' } }).permissions.memory).toBe(1024 ** 3);
    expect(() => validateManifest({ ...base(), permissions: { fs: { write: ['/'] } } })).toThrow(/permissions\.fs\.write\[0\]: must not be \//);
  });
});

describe('manifest digest', () => {
  const digest = (text: string): string => manifestDigest(parseManifest(text));

  it('is SHA-256 of the RFC 8785 text of the normalised manifest (checked against a hand-written canonical form)', () => {
    const canonical =
      '{"agent":{"name":"report-bot","runtime":"python3"},"permissions":{"cpu_quota":0.5,"execution_time":30000,' +
      '"fs":{"read":["/data/inputs"],"write":["/data/outputs"]},"memory":256000000,"network":{"allow":["*.example.org","api.example.com:443"]},' +
      '"pids":64},"secrets":["EXAMPLE_API_KEY"],"tier":"auto","version":"1.0"}';
    const m = parseManifest(EXAMPLE);
    expect(canonicalManifest(m)).toBe(canonical);
    expect(manifestDigest(m)).toBe(createHash('sha256').update(canonical).digest('hex'));
    expect(manifestDigest(m)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable across key order, list order, units, spelling of hosts and explicit defaults', () => {
    const reordered = `secrets: [EXAMPLE_API_KEY]
permissions:
  pids: 64
  memory: 256000000
  cpu_quota: 0.5
  execution_time: 30000ms
  fs: { write: ["/data/outputs"], read: ["/data/inputs", "/data/inputs"] }
  network: { allow: ["*.EXAMPLE.org", "api.example.com:443"] }
tier: auto
agent: { runtime: python3, name: report-bot }
version: "1.0"
`;
    expect(digest(reordered)).toBe(digest(EXAMPLE));
    expect(digest(JSON.stringify(parseManifest(EXAMPLE)))).toBe(digest(EXAMPLE));
    expect(digest(stringify(base()))).toBe(digest(stringify({ ...base(), tier: 'auto', permissions: { execution_time: '30s', memory: '256MB', pids: 64, cpu_quota: 1 }, secrets: [] })));
  });

  it('changes with any permission', () => {
    const d = digest(EXAMPLE);
    for (const [from, to] of [['pids: 64', 'pids: 65'], ['0.5', '0.25'], ['30s', '31s'], ['/data/outputs', '/data/out'], ['*.example.org', '*.example.com'], ['tier: auto', 'tier: process'], ['EXAMPLE_API_KEY', 'OTHER_KEY']] as const) {
      expect(digest(EXAMPLE.replace(from, to)), `${from} → ${to}`).not.toBe(d);
    }
  });
});

describe('published JSON Schema (docs/manifest.schema.json)', () => {
  const file = join(process.cwd(), 'docs/manifest.schema.json');
  // Regenerate after changing the schema: WARDEN_UPDATE_MANIFEST_SCHEMA=1 npx vitest run test/sandbox/manifest
  if (process.env.WARDEN_UPDATE_MANIFEST_SCHEMA === '1') writeFileSync(file, `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`);
  const committed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

  it('is current with the zod schema', () => {
    expect(committed).toEqual(JSON.parse(JSON.stringify(manifestJsonSchema())));
  });

  it('an independent validator (ajv) agrees on the example and on shape errors', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(committed);
    expect(validate(parseManifestLoose(EXAMPLE)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(parseManifest(EXAMPLE))).toBe(true); // the normalised form too
    for (const [path, value] of [
      ['extra', 1], ['permissions.netwrok', {}], ['secrets', ['lower']], ['permissions.memory', '256mb'], ['permissions.memory', 1],
      ['permissions.execution_time', 'soon'], ['permissions.pids', 0], ['tier', 'vm'], ['version', 1], ['permissions.fs.read', ['rel']],
    ] as const) {
      expect(validate(parseManifestLoose(withField(path, value))), `${path}`).toBe(false);
      expect(() => parseManifest(withField(path, value))).toThrow(ManifestError);
    }
  });
});

/** The YAML as a plain value, without Warden's validation. */
function parseManifestLoose(text: string): unknown {
  return JSON.parse(JSON.stringify(parseYaml(text)));
}
