/**
 * Network allowlist entries: `host` or `host:port`, where host is a domain name, `*.` followed
 * by a domain (any name strictly below it, never the domain itself), an IPv4 address or an
 * IPv6 address in brackets. Without a port the egress proxy allows the scheme's default port
 * (80 for http, 443 for https), as for Warden's egress rules (src/firewall/egress/rules.ts).
 *
 * Deliberately narrower than egress rules: no schemes, paths, CIDR blocks, `*` ports or a bare
 * `*` — a manifest lists the few services a tool talks to. Naming an IP address is how a
 * manifest reaches a private or link-local address; names never resolve to one.
 *
 * Entries are normalised (lower case, IDNA to ASCII, no trailing dot, canonical IP text, port
 * without leading zeros), so equal permissions produce equal manifest digests.
 */
import { normaliseHost, printable } from '../../firewall/egress/host.js';

export const MAX_ENTRY_CHARS = 300;

export type AllowEntry = { value: string } | { error: string };

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Normalises one allowlist entry, or says what is wrong with it.
 *
 * @example
 * normaliseAllowEntry('API.Example.com:0443') // { value: 'api.example.com:443' }
 * normaliseAllowEntry('api.*.example.com')    // { error: '"*" is only allowed …' }
 */
export function normaliseAllowEntry(raw: string): AllowEntry {
  if (raw.length === 0) return { error: 'must not be empty' };
  if (raw.length > MAX_ENTRY_CHARS) return { error: `must be at most ${MAX_ENTRY_CHARS} characters` };
  if (raw.includes('://')) return { error: 'must be host or host:port, without a scheme' };
  if (raw.includes('/')) return { error: 'must be host or host:port (no paths or CIDR blocks)' };
  let host = raw;
  let portText: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return { error: 'has an unclosed "["' };
    host = raw.slice(0, close + 1);
    const after = raw.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return { error: `has unexpected text after the address: "${printable(after)}"` };
      portText = after.slice(1);
    }
  } else {
    const colons = raw.split(':').length - 1;
    if (colons > 1) return { error: 'an IPv6 address must be written in brackets, e.g. [2001:db8::1]:443' };
    if (colons === 1) [host, portText] = raw.split(':') as [string, string];
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = parsePort(portText);
    if (port === undefined) return { error: `"${printable(portText)}" is not a port (1-65535)` };
  }
  const suffix = port === undefined ? '' : `:${port}`;
  if (host === '*') return { error: 'a bare "*" would allow every destination; list the hosts the tool needs' };
  if (host.startsWith('*.')) {
    const base = normaliseHost(host.slice(2));
    if (base.kind !== 'domain' || base.name.includes('*')) return { error: `"${printable(host)}" is not a valid wildcard (write *.example.com)` };
    // `*.com` would allow a whole top-level domain: almost certainly a mistake, and a dangerous one.
    if (!base.name.includes('.')) return { error: 'a wildcard must sit below a registrable domain (*.example.com, not *.com)' };
    return { value: `*.${base.name}${suffix}` };
  }
  if (host.includes('*')) return { error: '"*" is only allowed as the whole first label ("*.example.com")' };
  const h = normaliseHost(host);
  if (h.kind === 'invalid') return { error: h.reason };
  if (h.kind === 'ip') return { value: `${h.ip.family === 6 ? `[${h.text}]` : h.text}${suffix}` };
  return { value: `${h.name}${suffix}` };
}
