/**
 * Reads a fetch response body up to `max` bytes; undefined when it is larger (the rest is not
 * read: a hostile or broken server cannot make Warden buffer more than it asked for).
 */
export async function readCapped(res: Response, max: number): Promise<string | undefined> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
