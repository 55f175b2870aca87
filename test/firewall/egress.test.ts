import { describe, expect, it } from 'vitest';
import { compileEgressRules, type EgressResolver } from '../../src/firewall/egress/egress.js';
import { classifyIp, parseIp, parseIpv4, formatIp } from '../../src/firewall/egress/ip.js';
import { normaliseHost } from '../../src/firewall/egress/host.js';
import { WardenError } from '../../src/errors.js';

describe('egress: wildcard semantics', () => {
  const egress = compileEgressRules(['*.example.com', 'api.partner.io']);

  it('a wildcard matches one or more labels below the domain', () => {
    expect(egress.checkHost('a.example.com').allowed).toBe(true);
    expect(egress.checkHost('a.b.example.com').allowed).toBe(true);
  });

  it('a wildcard never matches the bare domain, look-alike siblings or suffix tricks', () => {
    for (const host of ['example.com', 'evil-example.com', 'example.com.evil.net', 'aexample.com', 'a.example.com.evil.net', 'example.co']) {
      const v = egress.checkHost(host);
      expect(v.allowed, host).toBe(false);
      expect(v.findings[0]?.detector).toBe('egress');
    }
  });

  it('exact rules match only the host itself', () => {
    expect(egress.checkHost('api.partner.io').allowed).toBe(true);
    expect(egress.checkHost('x.api.partner.io').allowed).toBe(false);
    expect(egress.checkHost('partner.io').allowed).toBe(false);
  });

  it('case and a trailing dot are normalised before matching', () => {
    expect(egress.checkHost('API.Partner.IO.').allowed).toBe(true);
    expect(egress.checkUrl('https://A.EXAMPLE.com./x').host).toBe('a.example.com');
  });

  it('the userinfo part of a URL cannot pose as the host', () => {
    expect(egress.checkUrl('https://a.example.com@evil.net/').allowed).toBe(false);
    expect(egress.checkUrl('https://evil.net#@a.example.com/').allowed).toBe(false);
    expect(egress.checkUrl('https://evil.net\\@a.example.com/').allowed).toBe(false);
  });

  it('hosts with path or credential characters are refused, not truncated', () => {
    // domainToASCII would turn "evil.com/x" into "evil.com"; the host must not be silently cut.
    const e = compileEgressRules(['evil.com']);
    expect(e.checkHost('evil.com/x').allowed).toBe(false);
    expect(e.checkHost('evil.com@x').allowed).toBe(false);
    expect(e.checkHost('evil.com\u0000.good.com').allowed).toBe(false);
  });

  it('over-broad or malformed rules are configuration errors', () => {
    for (const bad of ['*.com', 'a*.example.com', 'foo.*.com', '*example.com', 'host:99999', 'https://a.com/path', '10.0.0.0/33']) {
      expect(() => compileEgressRules([bad]), bad).toThrow(WardenError);
    }
  });
});

describe('egress: schemes and ports', () => {
  const egress = compileEgressRules(['https://api.example.com', 'files.example.com:8443', 'any.example.com:*', 'plain.example.com']);

  it('a rule with a scheme allows only that scheme, on its default port', () => {
    expect(egress.checkUrl('https://api.example.com/v1').allowed).toBe(true);
    const http = egress.checkUrl('http://api.example.com/v1');
    expect(http.allowed).toBe(false);
    expect(http.findings[0]?.type).toBe('scheme_not_allowed');
    expect(http.reason).toContain('scheme "http"');
    expect(egress.checkUrl('https://api.example.com:8080/').allowed).toBe(false);
  });

  it('a rule with a port allows only that port', () => {
    expect(egress.checkUrl('https://files.example.com:8443/').allowed).toBe(true);
    const v = egress.checkUrl('https://files.example.com/');
    expect(v.allowed).toBe(false);
    expect(v.findings[0]?.type).toBe('port_not_allowed');
  });

  it('port * allows any port; no port allows the default ports of http and https only', () => {
    expect(egress.checkUrl('https://any.example.com:9999/').allowed).toBe(true);
    expect(egress.checkUrl('http://plain.example.com/').allowed).toBe(true);
    expect(egress.checkUrl('https://plain.example.com/').allowed).toBe(true);
    expect(egress.checkUrl('https://plain.example.com:22/').allowed).toBe(false);
    expect(egress.checkUrl('ftp://plain.example.com/').allowed).toBe(false);
    expect(egress.checkUrl('file:///etc/passwd').allowed).toBe(false);
  });
});

describe('egress: IP literals in every encoding', () => {
  const egress = compileEgressRules(['*']);

  it.each([
    ['2130706433', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0251.0376.0251.0376', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
    ['169.254.43518', '169.254.169.254'],
  ])('%s decodes to %s and is refused', (host, canonical) => {
    const v = egress.checkHost(host);
    expect(v.allowed).toBe(false);
    expect(v.address).toBe(canonical);
    // Independent reference: the WHATWG URL parser must agree on the decoded address.
    expect(new URL(`http://${host}/`).hostname).toBe(canonical);
  });

  it('the metadata address is a critical finding', () => {
    const v = egress.checkUrl('http://169.254.169.254/latest/meta-data/');
    expect(v.findings[0]).toMatchObject({ detector: 'egress', type: 'metadata_address', severity: 'critical' });
    expect(v.reason).toMatch(/metadata/);
  });

  it.each([
    ['[::1]', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['[::ffff:169.254.169.254]', 'metadata'],
    ['[64:ff9b::a9fe:a9fe]', 'metadata'],
    ['[fd00:ec2::254]', 'metadata'],
    ['[fe80::1]', 'link_local'],
    ['[fc00::5]', 'unique_local'],
    ['[ff02::1]', 'multicast'],
    ['[::]', 'unspecified'],
    ['[2002:7f00:1::]', 'loopback'],
  ])('IPv6 %s is refused as %s', (host, range) => {
    const v = egress.checkHost(host);
    expect(v.allowed).toBe(false);
    expect(classifyIp(parseIp(host)!)).toBe(range);
  });

  it.each(['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.1.1', '224.0.0.1', '0.0.0.0', '255.255.255.255', '240.0.0.1'])(
    '%s is a special address',
    (host) => {
      expect(egress.checkHost(host).allowed).toBe(false);
    },
  );

  it('public addresses next to the special ranges are allowed by "*"', () => {
    for (const host of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '[2606:4700::1111]', '11.0.0.1']) {
      expect(egress.checkHost(host).allowed, host).toBe(true);
    }
  });

  it('a special address is allowed only by a rule that names it', () => {
    const e = compileEgressRules(['*', '10.0.0.0/8', '[fd00:ec2::254]:80']);
    expect(e.checkHost('10.2.3.4').allowed).toBe(true);
    expect(e.checkHost('0x0a.2.3.4').allowed).toBe(true);
    expect(e.checkHost('fd00:ec2::254', 80, 'http').allowed).toBe(true);
    expect(e.checkHost('fd00:ec2::254', 443, 'https').allowed).toBe(false);
    expect(e.checkHost('192.168.0.1').allowed).toBe(false);
    // An IPv4-mapped IPv6 address is compared as its IPv4 address.
    expect(e.checkHost('[::ffff:10.0.0.1]').allowed).toBe(true);
  });

  it('malformed numeric hosts are invalid, never treated as names', () => {
    for (const host of ['1.2.3.4.5', '256.1.1.1', '0x100.0.0.1', '1.2.3.09', '4294967296']) {
      const v = egress.checkHost(host);
      expect(v.allowed, host).toBe(false);
      expect(v.findings[0]?.type).toBe('invalid_host');
    }
    expect(parseIpv4('example.com').kind).toBe('not_ipv4');
  });

  it('localhost names count as loopback even under "*"', () => {
    expect(egress.checkHost('localhost').allowed).toBe(false);
    expect(egress.checkHost('x.localhost').allowed).toBe(false);
  });
});

describe('egress: internationalised names', () => {
  it('a homograph (Cyrillic а in "аpple.com") does not match the ASCII rule', () => {
    const egress = compileEgressRules(['apple.com', '*.apple.com']);
    const v = egress.checkHost('\u0430pple.com');
    expect(v.allowed).toBe(false);
    expect(v.host).toBe('xn--pple-43d.com');
    expect(v.reason).toContain('xn--pple-43d.com');
  });

  it('Unicode and punycode spellings of the same name are the same host', () => {
    const egress = compileEgressRules(['bücher.example']);
    expect(egress.checkHost('BÜCHER.example').allowed).toBe(true);
    expect(egress.checkHost('xn--bcher-kva.example').allowed).toBe(true);
    expect(egress.checkUrl('https://bücher.example/').allowed).toBe(true);
  });

  it('full-width dots are normalised like ASCII dots', () => {
    const egress = compileEgressRules(['*.example.com']);
    expect(normaliseHost('a\u3002example\u3002com')).toEqual({ kind: 'domain', name: 'a.example.com' });
    expect(egress.checkHost('evil\u3002com').allowed).toBe(false);
  });
});

describe('egress: resolve once and connect to the checked address', () => {
  const rules = ['*.example.com', { match: 'db.corp.example.net', allowPrivateResolution: true }, 'https://internal.example.org', '10.9.0.0/16'];

  it('refuses when any resolved address is special, even if a public one comes first', async () => {
    const resolver: EgressResolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];
    const v = await compileEgressRules(rules, { resolver }).resolveAndCheck('https://a.example.com/');
    expect(v.allowed).toBe(false);
    expect(v.reason).toMatch(/127\.0\.0\.1.*loopback/);
    expect(v.findings[0]?.type).toBe('special_address');
  });

  it('a rebinding resolver (public, then private) cannot change the connect address', async () => {
    let calls = 0;
    const resolver: EgressResolver = async () => (calls++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]);
    const egress = compileEgressRules(rules, { resolver });
    const v = await egress.resolveAndCheck('https://a.example.com/');
    expect(v.allowed).toBe(true);
    expect(v.address).toBe('93.184.216.34');
    expect(calls).toBe(1); // the caller connects to v.address; nothing resolves again
    const again = await egress.resolveAndCheck('https://a.example.com/');
    expect(again.allowed).toBe(false);
    expect(again.findings[0]?.type).toBe('metadata_address');
  });

  it('IPv4-mapped IPv6 answers are classified by the IPv4 address', async () => {
    const resolver: EgressResolver = async () => [{ address: '::ffff:169.254.169.254', family: 6 }];
    const v = await compileEgressRules(rules, { resolver }).resolveAndCheck('https://a.example.com/');
    expect(v.allowed).toBe(false);
    expect(v.findings[0]?.severity).toBe('critical');
  });

  it('a domain may resolve privately only when its rule says so, or a rule names the address', async () => {
    const resolver: EgressResolver = async (host) => [{ address: host === 'db.corp.example.net' ? '10.1.1.1' : '10.9.3.4', family: 4 }];
    const egress = compileEgressRules(rules, { resolver });
    expect((await egress.resolveAndCheck('https://db.corp.example.net/')).address).toBe('10.1.1.1');
    expect((await egress.resolveAndCheck('https://a.example.com/')).address).toBe('10.9.3.4');
  });

  it('IP literals are not resolved; the literal is the connect address', async () => {
    let calls = 0;
    const resolver: EgressResolver = async () => {
      calls++;
      return [];
    };
    const v = await compileEgressRules(['10.9.0.0/16'], { resolver }).resolveAndCheck('http://0x0a.9.0.1:80/');
    expect(v).toMatchObject({ allowed: true, address: '10.9.0.1', family: 4 });
    expect(calls).toBe(0);
  });

  it('no answer, a failing resolver, a slow resolver or a malformed answer are refusals', async () => {
    const cases: EgressResolver[] = [
      async () => [],
      async () => {
        throw new Error('ENOTFOUND');
      },
      () => new Promise(() => undefined),
      async () => [{ address: 'not-an-ip', family: 4 }],
    ];
    for (const resolver of cases) {
      const v = await compileEgressRules(rules, { resolver, resolveTimeoutMs: 50 }).resolveAndCheck('https://a.example.com/');
      expect(v.allowed).toBe(false);
      expect(v.address).toBeUndefined();
    }
  });

  it('a destination refused by the rules is never resolved', async () => {
    let calls = 0;
    const resolver: EgressResolver = async () => {
      calls++;
      return [{ address: '1.1.1.1', family: 4 }];
    };
    const v = await compileEgressRules(rules, { resolver }).resolveAndCheck('https://evil-example.com/');
    expect(v.allowed).toBe(false);
    expect(calls).toBe(0);
  });
});

describe('egress: IP text round-trips', () => {
  it('formats IPv6 canonically', () => {
    expect(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(formatIp(parseIp('::ffff:127.0.0.1')!)).toBe('::ffff:7f00:1');
    expect(parseIp('1::2::3')).toBeUndefined();
    expect(parseIp('fe80::1%eth0')).toBeUndefined();
  });
});
