/**
 * Egress decisions: may an agent's request leave for this destination?
 *
 * Default deny. A destination is allowed when a rule matches its host, scheme and port, and
 * every address it will reach is an ordinary public address — or one a rule names. The
 * check that matters is on the address actually connected to: `resolveAndCheck` resolves
 * once, checks every answer, and hands back the checked address so the caller connects to
 * it instead of resolving again (a second lookup is what DNS rebinding exploits).
 */
import { lookup } from 'node:dns/promises';
import type { Finding } from '../findings.js';
import type { Severity } from '../../events/security-events.js';
import { classifyIp, cidrContains, formatIp, parseIp, type IpAddress, type SpecialRange } from './ip.js';
import { normaliseHost, printable } from './host.js';
import { compileRule, portAllowed, DEFAULT_PORTS, type CompiledRule, type EgressRuleInput } from './rules.js';

/** The answer for one destination. `reason` is a sentence an operator can act on. */
export interface EgressVerdict {
  allowed: boolean;
  reason: string;
  scheme: string;
  /** Normalised host: ASCII, lower case, no trailing dot; canonical text for IP literals. */
  host: string;
  port: number;
  /** For an IP-literal host, the address itself (the connect address). */
  address?: string;
  /** The rule that allowed (or nearly allowed) the destination, as written. */
  rule?: string;
  findings: Finding[];
}

/** The verdict after resolution: when allowed, `address` is the one address to connect to. */
export interface ResolvedEgressVerdict extends EgressVerdict {
  /** Every address the resolver returned, each of which was checked. */
  addresses: string[];
  family?: 4 | 6;
}

/** Returns every address for a host, like `dns.promises.lookup(host, { all: true })`. */
export type EgressResolver = (host: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export interface EgressOptions {
  /** Schemes a rule without a scheme allows. Default `['http', 'https']`. */
  defaultSchemes?: readonly string[];
  /** Default: `node:dns/promises` `lookup(host, { all: true, verbatim: true })`. */
  resolver?: EgressResolver;
  /** A resolver that has not answered by then counts as a failed resolution. Default 5,000 ms. */
  resolveTimeoutMs?: number;
}

export interface EgressChecker {
  checkUrl(url: string | URL): EgressVerdict;
  checkHost(host: string, port?: number, scheme?: string): EgressVerdict;
  resolveAndCheck(url: string | URL): Promise<ResolvedEgressVerdict>;
}

const defaultResolver: EgressResolver = (host) => lookup(host, { all: true, verbatim: true });

function finding(type: string, severity: Severity, message: string): Finding {
  return { detector: 'egress', type, severity, message };
}

const RANGE_WORDS: Record<SpecialRange, string> = {
  unspecified: 'an unspecified ("this host") address',
  loopback: 'a loopback address',
  private: 'a private-network address',
  link_local: 'a link-local address',
  cgnat: 'a carrier-grade NAT (100.64/10) address',
  unique_local: 'an IPv6 unique-local address',
  multicast: 'a multicast address',
  metadata: 'a cloud instance-metadata address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved or documentation address',
};

function specialFinding(range: SpecialRange, what: string): Finding {
  return finding(
    range === 'metadata' ? 'metadata_address' : 'special_address',
    range === 'metadata' ? 'critical' : 'high',
    `${what} is ${RANGE_WORDS[range]}, refused unless a rule names it`,
  );
}

/**
 * Compiles egress rules into a checker. Malformed rules throw a ConfigError naming the rule.
 *
 * @example
 * ```ts
 * const egress = compileEgressRules(['*.example.com', 'https://api.partner.io:8443']);
 * egress.checkUrl('https://a.example.com/x').allowed; // true
 * egress.checkUrl('https://evil-example.com/').allowed; // false
 * const v = await egress.resolveAndCheck('https://a.example.com/');
 * if (v.allowed) connectTo(v.address!, v.port);
 * ```
 */
export function compileEgressRules(rules: readonly EgressRuleInput[], options: EgressOptions = {}): EgressChecker {
  const defaultSchemes = options.defaultSchemes ?? ['http', 'https'];
  const compiled = rules.map((r) => compileRule(r, defaultSchemes));
  const resolver = options.resolver ?? defaultResolver;
  const timeoutMs = options.resolveTimeoutMs ?? 5000;

  const fits = (r: CompiledRule, scheme: string, port: number): boolean => r.schemes.has(scheme) && portAllowed(r, scheme, port);

  /** A rule naming an address block that contains `ip`, for this scheme and port. */
  const addressRule = (ip: IpAddress, scheme: string, port: number): CompiledRule | undefined =>
    compiled.find((r) => r.kind === 'address' && r.cidr !== undefined && cidrContains(r.cidr, ip) && fits(r, scheme, port));

  function deny(base: Omit<EgressVerdict, 'allowed' | 'findings' | 'reason'>, reason: string, f: Finding): EgressVerdict {
    return { ...base, allowed: false, reason, findings: [f] };
  }

  function checkHost(rawHost: string, rawPort?: number, rawScheme = 'https'): EgressVerdict {
    const scheme = rawScheme.toLowerCase().replace(/:$/, '');
    const port = rawPort ?? DEFAULT_PORTS[scheme] ?? 0;
    const host = normaliseHost(rawHost);
    const base = { scheme, port, host: host.kind === 'domain' ? host.name : host.kind === 'ip' ? host.text : printable(rawHost) };
    if (host.kind === 'invalid') return deny(base, `refused: ${host.reason}`, finding('invalid_host', 'medium', host.reason));
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return deny(base, `refused: no valid port for scheme "${scheme}"`, finding('port_not_allowed', 'medium', `port ${port} is not valid`));
    }

    if (host.kind === 'ip') {
      const range = classifyIp(host.ip);
      const named = addressRule(host.ip, scheme, port);
      const withAddress = { ...base, address: host.text };
      if (named) return { ...withAddress, allowed: true, reason: `allowed by rule "${named.source}"`, rule: named.source, findings: [] };
      if (range) return deny(withAddress, `refused: ${host.text} is ${RANGE_WORDS[range]} and no rule names it`, specialFinding(range, host.text));
      const any = compiled.find((r) => r.kind === 'any' && fits(r, scheme, port));
      if (any) return { ...withAddress, allowed: true, reason: `allowed by rule "${any.source}"`, rule: any.source, findings: [] };
      return deny(withAddress, `refused: no rule allows ${host.text}`, finding('destination_not_allowed', 'medium', `no egress rule allows ${host.text}`));
    }

    const name = host.name;
    // `localhost` and `*.localhost` are loopback by definition (RFC 6761 §6.3), whatever DNS says.
    const isLocalhost = name === 'localhost' || name.endsWith('.localhost');
    const matching = compiled.filter(
      (r) =>
        (r.kind === 'exact' && r.name === name) ||
        (r.kind === 'wildcard' && r.name !== undefined && name.endsWith(r.name) && name.length > r.name.length) ||
        (r.kind === 'any' && !isLocalhost),
    );
    const idn = host.unicode ? ` (shown to users as "${host.unicode}")` : '';
    if (matching.length === 0) {
      return deny(base, `refused: no rule allows ${name}${idn}`, finding('destination_not_allowed', 'medium', `no egress rule allows ${name}${idn}`));
    }
    const fitting = matching.find((r) => fits(r, scheme, port));
    if (!fitting) {
      const first = matching[0] as CompiledRule;
      const why = first.schemes.has(scheme) ? `port ${port}` : `scheme "${scheme}"`;
      return { ...deny(base, `refused: rule "${first.source}" matches ${name} but not ${why}`, finding(first.schemes.has(scheme) ? 'port_not_allowed' : 'scheme_not_allowed', 'medium', `${why} is not allowed for ${name}`)), rule: first.source };
    }
    return { ...base, allowed: true, reason: `allowed by rule "${fitting.source}"${idn}`, rule: fitting.source, findings: [] };
  }

  function checkUrl(input: string | URL): EgressVerdict {
    let url: URL;
    try {
      url = typeof input === 'string' ? new URL(input) : new URL(input.href);
    } catch {
      const text = printable(String(input));
      return { allowed: false, reason: `refused: "${text}" is not a URL`, scheme: '', host: '', port: 0, findings: [finding('invalid_url', 'medium', 'the URL does not parse')] };
    }
    const scheme = url.protocol.replace(/:$/, '');
    const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
    return checkHost(url.hostname, port, scheme);
  }

  async function resolveWithTimeout(host: string): Promise<ReadonlyArray<{ address: string; family: number }>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([resolver(host), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function resolveAndCheck(input: string | URL): Promise<ResolvedEgressVerdict> {
    const verdict = checkUrl(input);
    if (!verdict.allowed) return { ...verdict, addresses: [] };
    if (verdict.address !== undefined) {
      const ip = parseIp(verdict.address);
      return { ...verdict, addresses: [verdict.address], ...(ip ? { family: ip.family } : {}) };
    }
    let answers: ReadonlyArray<{ address: string; family: number }>;
    try {
      answers = await resolveWithTimeout(verdict.host);
    } catch (err) {
      const why = err instanceof Error ? err.message : 'resolver failed';
      return { ...verdict, allowed: false, addresses: [], reason: `refused: ${verdict.host} did not resolve (${printable(why)})`, findings: [finding('resolution_failed', 'low', `${verdict.host} did not resolve`)] };
    }
    const rule = compiled.find((r) => r.source === verdict.rule);
    const addresses: string[] = [];
    let first: IpAddress | undefined;
    for (const answer of answers) {
      const ip = parseIp(String(answer.address));
      if (!ip) {
        return { ...verdict, allowed: false, addresses, reason: `refused: the resolver returned "${printable(String(answer.address))}", which is not an IP address`, findings: [finding('resolution_failed', 'medium', 'the resolver returned a malformed address')] };
      }
      const text = formatIp(ip);
      addresses.push(text);
      const range = classifyIp(ip);
      // Every answer is checked, not only the first: the OS or a retrying client may pick any of them.
      if (range && !rule?.allowPrivateResolution && !addressRule(ip, verdict.scheme, verdict.port)) {
        const f = specialFinding(range, `${verdict.host} resolved to ${text}, which`);
        return { ...verdict, allowed: false, addresses, reason: `refused: ${verdict.host} resolved to ${text}, ${RANGE_WORDS[range]} (possible DNS rebinding); no rule names it`, findings: [f] };
      }
      first ??= ip;
    }
    if (!first) {
      return { ...verdict, allowed: false, addresses, reason: `refused: ${verdict.host} resolved to no address`, findings: [finding('resolution_failed', 'low', `${verdict.host} has no address`)] };
    }
    return { ...verdict, address: formatIp(first), family: first.family, addresses };
  }

  return { checkUrl, checkHost, resolveAndCheck };
}
