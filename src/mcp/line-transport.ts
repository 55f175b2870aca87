/**
 * MCP's stdio framing (one JSON-RPC message per line) over any pair of streams: the proxy's own
 * stdin/stdout (the front) and a downstream server's pipes (which may belong to a sandboxed
 * process, hence not the SDK's StdioClientTransport, which spawns on its own).
 *
 * Unlike the SDK's stdio transports, a front answers what it cannot parse: JSON-RPC -32700 for
 * a line that is not JSON, -32600 for JSON that is not a JSON-RPC message — and keeps serving.
 * Lines are capped in size: an oversized one is dropped (answered -32600 on a front).
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface LineTransportOptions {
  /** Answer malformed input with JSON-RPC errors (a front facing a client). */
  answerMalformed?: boolean;
  maxMessageBytes?: number;
}

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #buffer: Buffer[] = [];
  #size = 0;
  #skipping = false;
  #closed = false;
  readonly #max: number;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly options: LineTransportOptions = {},
  ) {
    this.#max = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  async start(): Promise<void> {
    this.input.on('data', this.#onData);
    this.input.on('error', this.#onError);
    this.input.on('end', this.#onEnd);
    this.output.on('error', this.#onError);
  }

  readonly #onData = (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.#push(chunk.subarray(start, nl));
      const line = this.#skipping ? undefined : Buffer.concat(this.#buffer).toString('utf8');
      const skipped = this.#skipping;
      this.#buffer = [];
      this.#size = 0;
      this.#skipping = false;
      start = nl + 1;
      if (skipped) this.#malformed(-32600, `message larger than ${this.#max} bytes`, null);
      else if (line !== undefined && line.trim() !== '') this.#line(line.replace(/\r$/, ''));
    }
    this.#push(chunk.subarray(start));
  };

  #push(part: Buffer): void {
    if (this.#skipping || part.length === 0) return;
    this.#size += part.length;
    if (this.#size > this.#max) {
      this.#skipping = true;
      this.#buffer = [];
      return;
    }
    this.#buffer.push(part);
  }

  #line(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.#malformed(-32700, 'Parse error: the message is not JSON', null);
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(json);
    if (!parsed.success) {
      const id = (json as { id?: unknown } | null)?.id;
      this.#malformed(-32600, 'Invalid Request: not a JSON-RPC 2.0 message', typeof id === 'string' || typeof id === 'number' ? id : null);
      return;
    }
    this.onmessage?.(parsed.data);
  }

  #malformed(code: number, message: string, id: string | number | null): void {
    if (this.options.answerMalformed) {
      this.#write(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }) + '\n');
    } else {
      this.onerror?.(new Error(`malformed message from peer: ${message}`));
    }
  }

  readonly #onError = (err: Error) => this.onerror?.(err);
  readonly #onEnd = () => void this.close();

  #write(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('transport closed'));
        return;
      }
      const ok = this.output.write(text, (err) => (err ? reject(err) : undefined));
      if (ok) resolve();
      else this.output.once('drain', resolve);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    await this.#write(JSON.stringify(message) + '\n');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.input.off('data', this.#onData);
    this.input.off('error', this.#onError);
    this.input.off('end', this.#onEnd);
    this.onclose?.();
  }
}
