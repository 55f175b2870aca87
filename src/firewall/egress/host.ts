/**
 * Host normalisation: the one place a host name from an agent (attacker-controlled) becomes
 * the canonical form rules are compared with — ASCII (IDNA/punycode via `node:url`), lower
 * case, no trailing dot, IP literals decoded from every encoding the WHATWG URL parser accepts.
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { formatIp, parseIpv4, parseIpv6, type IpAddress } from './ip.js';

export type NormalisedHost =
  | { kind: 'domain'; name: string; /** Unicode form, when the name is internationalised. */ unicode?: string }
  | { kind: 'ip'; ip: IpAddress; text: string }
  | { kind: 'invalid'; reason: string };

/**
 * Characters that never belong in a host. `domainToASCII` silently truncates at some of them
 * (`evil.com/x` → `evil.com`), so they are refused before it runs: a host that needed
 * truncating was not the host the caller asked about.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0020\u007f/\\@?#%:<>^|"`{}[\]]/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Normalises a host as given in a URL or a connect call (IPv6 with or without brackets). */
export function normaliseHost(raw: string): NormalisedHost {
  if (raw.length === 0) return { kind: 'invalid', reason: 'the host is empty' };
  if (raw.length > 1024) return { kind: 'invalid', reason: 'the host is too long' };
  if (raw.startsWith('[') || raw.includes(':')) {
    const inner = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    const groups = parseIpv6(inner);
    if (!groups) return { kind: 'invalid', reason: `"${printable(raw)}" is not a valid IPv6 address` };
    const ip: IpAddress = { family: 6, groups };
    return { kind: 'ip', ip, text: formatIp(ip) };
  }
  if (FORBIDDEN.test(raw)) return { kind: 'invalid', reason: `the host "${printable(raw)}" contains a character hosts cannot contain` };
  const ascii = domainToASCII(raw.toLowerCase());
  if (ascii === '') return { kind: 'invalid', reason: `"${printable(raw)}" is not a valid domain name (IDNA conversion failed)` };
  const name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  const v4 = parseIpv4(name);
  if (v4.kind === 'invalid') return { kind: 'invalid', reason: `"${printable(raw)}" ends in a number but is not a valid IPv4 address` };
  if (v4.kind === 'ipv4') {
    const ip: IpAddress = { family: 4, value: v4.value };
    return { kind: 'ip', ip, text: formatIp(ip) };
  }
  if (name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    return { kind: 'invalid', reason: `"${printable(raw)}" is not a valid domain name` };
  }
  const isIdn = name.split('.').some((l) => l.startsWith('xn--'));
  return isIdn ? { kind: 'domain', name, unicode: domainToUnicode(name) } : { kind: 'domain', name };
}

/** Host text safe to put in a reason: control characters escaped, length capped. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.slice(0, 100).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > 100 ? `${escaped}…` : escaped;
}
