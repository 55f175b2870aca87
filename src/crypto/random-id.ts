import { randomBytes } from 'node:crypto';

// Ids draw 96 random bits each from a pooled buffer: one CSPRNG call per 341 ids, not one per
// id, on paths that mint thousands a second (receipts, events, decisions).
let pool = Buffer.alloc(0);
let offset = 0;

/** 12 random bytes as base64url (16 characters). */
export function randomId96(): string {
  if (offset + 12 > pool.length) {
    pool = randomBytes(4092);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 12);
  offset += 12;
  return id;
}
