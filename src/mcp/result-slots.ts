/**
 * Every string of an MCP result the agent will see, as a slot the firewall's verdict can be
 * written back into: text content, embedded resources (text, and blobs with a text MIME type),
 * resource links, prompt messages and descriptions, structured content (one JSON slot),
 * `_meta`. Binary blobs, images and audio are not text and are left as they are.
 */
export interface Slot {
  get(): string;
  set(text: string): void;
}

/** More slots than this and the whole result is scanned (and rewritten) as one JSON text. */
export const MAX_SLOTS = 256;
const SKIP_KEYS = new Set(['type', 'mimeType', 'data', 'role', 'isError', 'progressToken']);

const isTextMime = (m: unknown) => typeof m === 'string' && (/^text\//i.test(m) || /[/+](json|xml|yaml|csv|javascript|x-sh)(;|$)/i.test(m));

export function resultSlots(result: object): Slot[] {
  const slots: Slot[] = [];
  const visit = (obj: Record<string, unknown> | unknown[], depth: number): void => {
    if (depth > 64) return;
    for (const key of Object.keys(obj)) {
      const o = obj as Record<string, unknown>;
      const v = o[key];
      if (!Array.isArray(obj) && SKIP_KEYS.has(key)) continue;
      if (!Array.isArray(obj) && key === 'structuredContent' && v !== undefined) {
        slots.push({
          get: () => JSON.stringify(o[key]),
          set: (t) => {
            try {
              o[key] = JSON.parse(t);
            } catch {
              o[key] = { withheld: 'structured content could not be rebuilt after redaction' };
            }
          },
        });
      } else if (!Array.isArray(obj) && key === 'blob' && typeof v === 'string') {
        if (isTextMime(o.mimeType)) {
          slots.push({ get: () => Buffer.from(o[key] as string, 'base64').toString('utf8'), set: (t) => (o[key] = Buffer.from(t, 'utf8').toString('base64')) });
        }
      } else if (typeof v === 'string') {
        slots.push({ get: () => o[key] as string, set: (t) => (o[key] = t) });
      } else if (v && typeof v === 'object') {
        visit(v as Record<string, unknown>, depth + 1);
      }
    }
  };
  visit(result as Record<string, unknown>, 0);
  if (slots.length <= MAX_SLOTS) return slots;
  // Too many pieces: one JSON text of everything, written back whole.
  const whole = result as Record<string, unknown>;
  return [{
    get: () => JSON.stringify(whole),
    set: (t) => {
      let next: Record<string, unknown>;
      try {
        next = JSON.parse(t) as Record<string, unknown>;
      } catch {
        next = { content: [{ type: 'text', text: '(withheld: the result could not be rebuilt after redaction)' }], isError: true };
      }
      for (const k of Object.keys(whole)) delete whole[k];
      Object.assign(whole, next);
    },
  }];
}
