import { createReadStream } from 'node:fs';
import { BadInputError, VerificationError } from '../../errors.js';
import { MAX_LINE_BYTES } from './log.js';

/**
 * Reads an export line by line from raw bytes: a line longer than 1 MiB is refused as soon as
 * it passes the limit (never buffered whole), and every line must be valid UTF-8 — an altered
 * byte is a failure at that entry, not something a lenient decoder papers over.
 */
export async function* readExportLines(path: string): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let parts: Buffer[] = [];
  let partBytes = 0;
  let index = 0;
  const emit = (bytes: Buffer): string => {
    try {
      return decoder.decode(bytes);
    } catch {
      throw new VerificationError('entry is not valid UTF-8', index);
    }
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (partBytes + piece.length > MAX_LINE_BYTES) throw new BadInputError(`line ${index + 1} is longer than 1 MiB`);
      const line = parts.length ? Buffer.concat([...parts, piece]) : piece;
      parts = [];
      partBytes = 0;
      yield emit(line);
      index++;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (partBytes + rest.length > MAX_LINE_BYTES) throw new BadInputError(`line ${index + 1} is longer than 1 MiB`);
    if (rest.length) {
      parts.push(Buffer.from(rest));
      partBytes += rest.length;
    }
  }
  // A final line without a newline still counts; a final newline does not start a line.
  if (partBytes > 0) yield emit(Buffer.concat(parts));
}
