import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time equality for secrets (tokens, MACs). Both sides are hashed first so that
 * neither the content nor the length of the secret leaks through timing.
 */
export function secretEquals(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
