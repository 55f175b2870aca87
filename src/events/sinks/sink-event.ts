import type { SecurityEvent } from '../security-events.js';

/** What a sink delivers: the event as emitted, with its sensitive details already masked. */
export type SinkEvent = Omit<SecurityEvent, 'sensitive'>;

/** Sensitive detail keys never leave Warden through a sink; the receipt and the event log keep them sealed. */
export function forSink(e: SecurityEvent): SinkEvent {
  const { sensitive, ...rest } = e;
  if (!sensitive?.length) return rest;
  const details = { ...rest.details };
  for (const k of sensitive) if (Object.hasOwn(details, k)) details[k] = { $redacted: true };
  return { ...rest, details };
}
