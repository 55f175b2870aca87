/** Calls waiting for an approval hold a request open each: one agent may have at most 16. */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/mcp/backend.js';
import { Downstream } from '../../src/mcp/downstream.js';
import { Mediator } from '../../src/mcp/mediator.js';
import { STARTER_POLICY } from '../../src/policy/starter.js';
import { tempWarden, type TempWarden } from '../helpers/warden.js';

const POLICY = `${STARTER_POLICY}
@id("echo-approval")
@approval("approver")
permit (principal, action == Warden::Action::"mcp.request", resource)
when { context.granted && resource.name == "echo" };
`;

let t: TempWarden;
let client: Client;
let mediator: Mediator;

beforeAll(async () => {
  t = await tempWarden('sqlite', 'gateway:\n  approval_ttl: 2s\n');
  await t.w.policies.deploy('default', POLICY, {});
  await t.w.agents.create('default', { id: 'bot', capabilities: ['mcp:fixture/*'] });
  mediator = new Mediator([new Downstream({ name: 'fixture', command: [process.execPath, join(process.cwd(), 'test/fixtures/mcp/server.mjs')] })]);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await mediator.createServer(new LocalBackend(t.w, 'default', 'bot')).connect(a);
  client = new Client({ name: 'cap', version: '1.0.0' });
  await client.connect(b);
});

afterAll(async () => {
  await client?.close();
  await mediator?.close();
  await t?.cleanup();
});

describe('approval waits', () => {
  it('refuses a 17th concurrent wait of one agent at once, with a receipt, instead of holding it open', async () => {
    const calls = Array.from({ length: 17 }, (_, i) => client.callTool({ name: 'echo', arguments: { text: `#${i}` } }, undefined, { timeout: 20_000 }));
    const results = await Promise.all(calls);
    const texts = results.map((r) => (r.content as { text: string }[])[0]?.text ?? '');
    expect(results.every((r) => r.isError)).toBe(true);
    expect(texts.filter((x) => /already wait for approval/.test(x))).toHaveLength(1);
    expect(texts.filter((x) => /was expired/.test(x))).toHaveLength(16);
  });
});
