/**
 * Egress rule syntax. A rule names where an agent may connect:
 *
 * - `api.example.com` — exactly that host; `*.example.com` — any name strictly below it
 *   (never `example.com` itself, never `evil-example.com`); `*` — any public destination.
 * - `10.0.0.0/8`, `169.254.169.254`, `[fd00:ec2::254]` — addresses; the only way to reach a
 *   private, loopback, link-local, metadata or other special address is a rule that names it.
 * - optional scheme and port: `https://api.example.com`, `api.example.com:8443`, `host:*`.
 *   Without a port only the scheme's default port is allowed; without a scheme, the
 *   compiler's default schemes (http and https).
 */
import { ConfigError } from '../../errors.js';
import { parseCidr, type Cidr } from './ip.js';
import { normaliseHost } from './host.js';

/** One rule, as configuration writes it. */
export type EgressRuleInput =
  | string
  | {
      /** Host pattern, optionally with scheme and port, as in the string form. */
      match: string;
      /** Ports allowed (overrides a port in `match`); `'*'` for any. */
      ports?: readonly number[] | '*';
      /** Schemes allowed (overrides a scheme in `match`), e.g. `['https']`. */
      schemes?: readonly string[];
      /**
       * Let this domain resolve to special addresses (private, loopback…). Off by default so a
       * public name re-pointed at an internal address (DNS rebinding) is refused.
       */
      allowPrivateResolution?: boolean;
    };

export interface CompiledRule {
  /** The rule as written, for reasons and receipts. */
  source: string;
  kind: 'exact' | 'wildcard' | 'any' | 'address';
  /** Exact: the name; wildcard: the suffix with its leading dot (`.example.com`). */
  name?: string;
  cidr?: Cidr;
  /** `undefined`: the scheme's default port. */
  ports: ReadonlySet<number> | 'any' | undefined;
  schemes: ReadonlySet<string>;
  allowPrivateResolution: boolean;
}

export const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };

function parsePort(text: string, source: string): ReadonlySet<number> | 'any' {
  if (text === '*') return 'any';
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new ConfigError(`egress rule "${source}": "${text}" is not a port (1–65535 or *)`);
  }
  return new Set([Number(text)]);
}

/** Compiles one rule; malformed or over-broad rules are a ConfigError naming the rule. */
export function compileRule(input: EgressRuleInput, defaultSchemes: readonly string[]): CompiledRule {
  const source = typeof input === 'string' ? input : input.match;
  let rest = source.trim();
  let schemes: string[] | undefined;
  const schemeSep = rest.indexOf('://');
  if (schemeSep >= 0) {
    const scheme = rest.slice(0, schemeSep).toLowerCase();
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new ConfigError(`egress rule "${source}": bad scheme`);
    schemes = [scheme];
    rest = rest.slice(schemeSep + 3);
  }
  if (rest.endsWith('/') && !rest.slice(0, -1).includes('/')) rest = rest.slice(0, -1);
  let hostPart = rest;
  let ports: ReadonlySet<number> | 'any' | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new ConfigError(`egress rule "${source}": unclosed "["`);
    hostPart = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.startsWith(':')) ports = parsePort(after.slice(1), source);
    else if (after !== '' && !after.startsWith('/')) throw new ConfigError(`egress rule "${source}": unexpected "${after}"`);
    else hostPart += after; // `[fd00::]/8`
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    const colon = rest.indexOf(':');
    hostPart = rest.slice(0, colon);
    ports = parsePort(rest.slice(colon + 1), source);
  }
  if (typeof input !== 'string' && input.ports !== undefined) {
    ports = input.ports === '*' ? 'any' : new Set(input.ports.map((p) => [...(parsePort(String(p), source) as Set<number>)][0] ?? 0));
  }
  if (typeof input !== 'string' && input.schemes !== undefined) schemes = input.schemes.map((s) => s.toLowerCase());
  const base = {
    source,
    ports,
    schemes: new Set(schemes ?? defaultSchemes),
    allowPrivateResolution: typeof input !== 'string' && input.allowPrivateResolution === true,
  };

  if (hostPart === '*') return { ...base, kind: 'any' };
  if (hostPart.includes('/') || hostPart.includes(':') || /^[0-9.]+$/.test(hostPart) || /^0x/i.test(hostPart)) {
    const cidr = parseCidr(hostPart);
    if (!cidr) throw new ConfigError(`egress rule "${source}": "${hostPart}" is not an IP address or CIDR block`);
    return { ...base, kind: 'address', cidr };
  }
  if (hostPart.startsWith('*.')) {
    const suffix = normaliseHost(hostPart.slice(2));
    if (suffix.kind !== 'domain') throw new ConfigError(`egress rule "${source}": "${hostPart}" is not a valid wildcard`);
    // `*.com` would allow a whole top-level domain: almost certainly a mistake, and a dangerous one.
    if (!suffix.name.includes('.')) throw new ConfigError(`egress rule "${source}": a wildcard must sit below a registrable domain`);
    return { ...base, kind: 'wildcard', name: `.${suffix.name}` };
  }
  if (hostPart.includes('*')) {
    throw new ConfigError(`egress rule "${source}": "*" is only allowed as the whole leftmost label ("*.example.com")`);
  }
  const host = normaliseHost(hostPart);
  if (host.kind === 'invalid') throw new ConfigError(`egress rule "${source}": ${host.reason}`);
  if (host.kind === 'ip') return { ...base, kind: 'address', cidr: { ip: host.ip, bits: host.ip.family === 4 ? 32 : 128 } };
  return { ...base, kind: 'exact', name: host.name };
}

/** Whether a rule's port set admits `port` for `scheme`. */
export function portAllowed(rule: CompiledRule, scheme: string, port: number): boolean {
  if (rule.ports === 'any') return true;
  if (rule.ports === undefined) return DEFAULT_PORTS[scheme] === port;
  return rule.ports.has(port);
}
