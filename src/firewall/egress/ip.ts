/**
 * IP literal parsing and classification for egress checks.
 *
 * Threat: SSRF payloads hide loopback and metadata addresses behind encodings that socket
 * APIs and URL parsers accept — `2130706433`, `0x7f.1`, `0177.0.0.1`, `::ffff:127.0.0.1`,
 * `64:ff9b::a9fe:a9fe`. We parse IPv4 the way the WHATWG URL standard's IPv4 parser does
 * (§3.5 "IPv4 parser": up to four parts, each decimal, `0x` hex or leading-zero octal, the last
 * part filling the remaining bytes), so that what we check is what `fetch`/`http` would reach.
 * IPv6 addresses that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are classified
 * by the embedded address as well.
 */

/** Why an address is not an ordinary public unicast address. */
export type SpecialRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'unique_local'
  | 'multicast'
  | 'metadata'
  | 'broadcast'
  | 'reserved';

/** A parsed address: IPv4 as one 32-bit number, IPv6 as eight 16-bit groups. */
export type IpAddress = { family: 4; value: number } | { family: 6; groups: readonly number[] };

/** Result of the IPv4 parser: not IPv4-shaped at all, IPv4-shaped but invalid, or an address. */
export type Ipv4ParseResult = { kind: 'not_ipv4' } | { kind: 'invalid' } | { kind: 'ipv4'; value: number };

function parseIpv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let radix = 10;
  let digits = part;
  if (/^0[xX]/.test(part)) {
    radix = 16;
    digits = part.slice(2);
    if (digits === '') return 0; // WHATWG: "0x" alone is zero
  } else if (part.length > 1 && part.startsWith('0')) {
    radix = 8;
    digits = part.slice(1);
  }
  const re = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(digits)) return undefined;
  // Number() of a long digit string loses precision but stays > 2^32, which is all we need to refuse it.
  return radix === 10 ? Number(digits) : parseInt(digits, radix);
}

/**
 * WHATWG IPv4 parsing of a host (already lower-cased, without brackets). A host whose last
 * label is numeric ("ends in a number") is IPv4 or invalid — never a domain name.
 */
export function parseIpv4(host: string): Ipv4ParseResult {
  const parts = host.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop(); // one trailing dot
  const last = parts[parts.length - 1] ?? '';
  const endsInNumber = /^[0-9]+$/.test(last) || /^0[xX][0-9a-fA-F]*$/.test(last);
  if (!endsInNumber) return { kind: 'not_ipv4' };
  if (parts.length > 4) return { kind: 'invalid' };
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseIpv4Number(p);
    if (n === undefined) return { kind: 'invalid' };
    nums.push(n);
  }
  const lastNum = nums.pop() ?? 0;
  if (nums.some((n) => n > 255)) return { kind: 'invalid' };
  if (lastNum >= 256 ** (4 - nums.length)) return { kind: 'invalid' };
  let value = lastNum;
  nums.forEach((n, i) => (value += n * 256 ** (3 - i)));
  return { kind: 'ipv4', value };
}

/** Strict dotted-quad (what resolvers return and IPv6 embeds); no alternative encodings. */
function parseDottedQuad(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/** Parses an IPv6 literal (no brackets). Zone identifiers (`%eth0`) are refused: they name a local interface. */
export function parseIpv6(input: string): readonly number[] | undefined {
  const s = input.toLowerCase();
  if (s.length > 45 || !/^[0-9a-f:.]+$/.test(s)) return undefined;
  let head = s;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseDottedQuad(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    head = s.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const explicit = left.length + right.length + tail.length;
  if (halves.length === 1) return explicit === 8 ? [...left, ...tail] : undefined;
  if (explicit > 7) return undefined;
  return [...left, ...new Array<number>(8 - explicit).fill(0), ...right, ...tail];
}

/** Parses a literal as resolvers and users write it: dotted IPv4 (any WHATWG form) or IPv6, brackets allowed. */
export function parseIp(literal: string): IpAddress | undefined {
  const s = literal.startsWith('[') && literal.endsWith(']') ? literal.slice(1, -1) : literal;
  if (s.includes(':')) {
    const groups = parseIpv6(s);
    return groups ? { family: 6, groups } : undefined;
  }
  const v4 = parseIpv4(s.toLowerCase());
  return v4.kind === 'ipv4' ? { family: 4, value: v4.value } : undefined;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** RFC 5952 canonical text: lower case, longest zero run compressed. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatIpv4(ip.value) : formatIpv6(ip.groups);
}

const inV4 = (v: number, base: string, bits: number): boolean => {
  const b = parseDottedQuad(base) ?? 0;
  const size = 2 ** (32 - bits);
  return Math.floor(v / size) === Math.floor(b / size);
};

function classifyV4(v: number): SpecialRange | undefined {
  if (v === 0xa9fea9fe) return 'metadata'; // 169.254.169.254: AWS, GCP, Azure, OpenStack instance metadata
  if (v === 0x640064c8) return 'metadata'; // 100.100.100.200: Alibaba Cloud metadata
  if (v === 0xffffffff) return 'broadcast';
  if (inV4(v, '0.0.0.0', 8)) return 'unspecified'; // "this network"; 0.0.0.0 reaches the local host on Linux
  if (inV4(v, '127.0.0.0', 8)) return 'loopback';
  if (inV4(v, '10.0.0.0', 8) || inV4(v, '172.16.0.0', 12) || inV4(v, '192.168.0.0', 16)) return 'private';
  if (inV4(v, '169.254.0.0', 16)) return 'link_local';
  if (inV4(v, '100.64.0.0', 10)) return 'cgnat';
  if (inV4(v, '224.0.0.0', 4)) return 'multicast';
  // IETF protocol assignments, benchmarking, documentation, class E: never legitimate destinations.
  if (inV4(v, '192.0.0.0', 24) || inV4(v, '198.18.0.0', 15) || inV4(v, '240.0.0.0', 4)) return 'reserved';
  if (inV4(v, '192.0.2.0', 24) || inV4(v, '198.51.100.0', 24) || inV4(v, '203.0.113.0', 24)) return 'reserved';
  return undefined;
}

/** The IPv4 address an IPv6 address carries, for the transition formats a host may route. */
export function embeddedIpv4(groups: readonly number[]): number | undefined {
  const g = (i: number): number => groups[i] ?? 0;
  const v4 = (g(6) << 16 >>> 0) + g(7);
  const firstFiveZero = g(0) === 0 && g(1) === 0 && g(2) === 0 && g(3) === 0 && g(4) === 0;
  if (firstFiveZero && g(5) === 0xffff) return v4; // ::ffff:a.b.c.d (mapped)
  if (firstFiveZero && g(5) === 0 && (g(6) !== 0 || g(7) > 1)) return v4; // ::a.b.c.d (compatible, deprecated)
  if (g(0) === 0x64 && g(1) === 0xff9b && g(2) === 0 && g(3) === 0 && g(4) === 0 && g(5) === 0) return v4; // NAT64
  if (g(0) === 0x2002) return (g(1) << 16 >>> 0) + g(2); // 6to4
  return undefined;
}

function classifyV6(groups: readonly number[]): SpecialRange | undefined {
  const g0 = groups[0] ?? 0;
  if (groups.every((x) => x === 0)) return 'unspecified';
  if (groups.slice(0, 7).every((x) => x === 0) && groups[7] === 1) return 'loopback';
  // fd00:ec2::254: the AWS Nitro instance-metadata endpoint over IPv6.
  if (formatIpv6(groups) === 'fd00:ec2::254') return 'metadata';
  const v4 = embeddedIpv4(groups);
  if (v4 !== undefined) return classifyV4(v4);
  if ((g0 & 0xfe00) === 0xfc00) return 'unique_local'; // fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return 'link_local'; // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // fec0::/10 site-local (deprecated, still routed internally)
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if (g0 === 0x2001 && groups[1] === 0x0db8) return 'reserved'; // documentation
  if (g0 === 0x0100 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0) return 'reserved'; // discard-only
  return undefined;
}

/** The special range an address falls into, or `undefined` for ordinary public unicast. */
export function classifyIp(ip: IpAddress): SpecialRange | undefined {
  return ip.family === 4 ? classifyV4(ip.value) : classifyV6(ip.groups);
}

/** An address block from a rule (`10.0.0.0/8`, `fd00::/8`, a single address). */
export interface Cidr {
  ip: IpAddress;
  bits: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  return bits <= max ? { ip, bits } : undefined;
}

/** Whether `ip` lies in `cidr`; an IPv4-mapped IPv6 address is compared as its IPv4 address. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  let probe = ip;
  if (probe.family === 6 && cidr.ip.family === 4) {
    const v4 = embeddedIpv4(probe.groups);
    if (v4 === undefined) return false;
    probe = { family: 4, value: v4 };
  }
  if (probe.family === 4 && cidr.ip.family === 4) {
    const size = 2 ** (32 - cidr.bits);
    return Math.floor(probe.value / size) === Math.floor(cidr.ip.value / size);
  }
  if (probe.family === 6 && cidr.ip.family === 6) {
    for (let i = 0, left = cidr.bits; left > 0; i++, left -= 16) {
      const mask = left >= 16 ? 0xffff : (0xffff << (16 - left)) & 0xffff;
      if (((probe.groups[i] ?? 0) & mask) !== ((cidr.ip.groups[i] ?? 0) & mask)) return false;
    }
    return true;
  }
  return false;
}
