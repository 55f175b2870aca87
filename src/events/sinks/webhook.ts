/**
 * HTTP webhook sink. The body is signed with HMAC-SHA256 so the receiver can tell Warden's
 * alerts from forged ones: `X-Warden-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>.<body>")>`.
 * The timestamp is inside the MAC, so a receiver that rejects old `t` values defeats replays.
 */
import { createHmac } from 'node:crypto';
import type { SinkEvent } from './sink-event.js';
import { formatEvent, type SinkFormat } from './formats.js';

export interface WebhookOptions {
  url: string;
  format: SinkFormat;
  /** HMAC key; without one the body is sent unsigned (documented as not recommended). */
  secret?: Buffer | undefined;
  routingKey?: string | undefined;
  timeoutMs: number;
}

/** The signature header value for a body sent at `t` (seconds). Receivers recompute and compare in constant time. */
export function webhookSignature(secret: Buffer, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export function webhookDeliver(o: WebhookOptions): (e: SinkEvent) => Promise<void> {
  return async (e) => {
    const body = JSON.stringify(formatEvent(e, o.format, { routingKey: o.routingKey }));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'warden-events/1', 'x-warden-event-id': e.id };
    if (o.secret) headers['x-warden-signature'] = webhookSignature(o.secret, Math.floor(Date.now() / 1000), body);
    const res = await fetch(o.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(o.timeoutMs), redirect: 'error' });
    // Drain (bounded by the timeout) so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  };
}
