import canonicalize from 'canonicalize';
import { BadInputError } from '../errors.js';

/**
 * RFC 8785 (JCS) canonical JSON text of `value`, via the maintained `canonicalize` package.
 * Rejects what JCS cannot represent (NaN, Infinity, lone surrogates, undefined at the top).
 *
 * @example
 * jcs({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function jcs(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new BadInputError(`value cannot be canonicalised (RFC 8785): ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new BadInputError('value cannot be canonicalised (RFC 8785): undefined');
  return text;
}

/** UTF-8 bytes of {@link jcs}. */
export function jcsBytes(value: unknown): Buffer {
  return Buffer.from(jcs(value), 'utf8');
}

/** A JSON value as it appears in receipts. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
