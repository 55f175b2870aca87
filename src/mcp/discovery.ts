/**
 * Fetches a SchemaPin discovery document (`https://DOMAIN/.well-known/schemapin.json`): HTTPS
 * only (a configured `discovery_url` may be plain HTTP on loopback, for local servers and
 * tests), no redirects, size-capped, short timeout.
 */
import { readCapped } from '../net/read-capped.js';
import { MAX_DISCOVERY_BYTES } from './schemapin.js';

const TIMEOUT_MS = 5_000;

export function discoveryUrl(domain: string, override?: string): URL {
  const url = new URL(override ?? `https://${domain}/.well-known/schemapin.json`);
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error(`SchemaPin discovery must use https (got ${url.protocol})`);
  return url;
}

export async function fetchDiscovery(domain: string, override?: string): Promise<unknown> {
  const res = await fetch(discoveryUrl(domain, override), { redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`SchemaPin discovery for ${domain} answered ${res.status}`);
  const text = await readCapped(res, MAX_DISCOVERY_BYTES);
  if (text === undefined) throw new Error(`SchemaPin discovery for ${domain} is larger than ${MAX_DISCOVERY_BYTES} bytes`);
  return JSON.parse(text) as unknown;
}
