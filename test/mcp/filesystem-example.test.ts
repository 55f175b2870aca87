/**
 * docs/mcp.md's example: the real `@modelcontextprotocol/server-filesystem` from npm behind
 * `warden mcp proxy`, in the process tier with a read-only grant. Reads work; a write that
 * policy allows still fails, because the sandbox grants no write.
 */
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICY } from '../../src/policy/starter.js';
import { processTierAvailable } from '../../src/sandbox/process-tier.js';
import { tempWarden, type TempWarden } from '../helpers/warden.js';

const CLI = join(process.cwd(), 'dist/cli/main.js');
const SERVER = join(process.cwd(), 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const text = (r: unknown) => ((r as { content: { text: string }[] }).content.map((c) => c.text).join('\n'));

const available = processTierAvailable().ok && existsSync(SERVER);
if (!available) console.warn('filesystem MCP example SKIPPED: needs bubblewrap and @modelcontextprotocol/server-filesystem');

describe.skipIf(!available)('the filesystem MCP server in the process tier, read-only', () => {
  let t: TempWarden;
  let docs: string;
  let client: Client;
  beforeAll(async () => {
    t = await tempWarden();
    await t.w.policies.deploy('default', STARTER_POLICY, {});
    await t.w.agents.create('default', { id: 'fs-agent', capabilities: ['mcp:fs/*'] });
    docs = mkdtempSync(join(tmpdir(), 'warden-docs-'));
    chmodSync(docs, 0o755);
    mkdirSync(join(docs, 'guides'));
    writeFileSync(join(docs, 'guides', 'intro.md'), '# Intro\nWarden mediates every tool call.\n');
    chmodSync(join(docs, 'guides'), 0o755);
    const manifest = join(t.dir, 'fs.yaml');
    writeFileSync(manifest, `version: "1.0"\nagent: { name: fs-agent, runtime: node }\ntier: process\npermissions:\n  fs: { read: [${JSON.stringify(docs)}, ${JSON.stringify(process.cwd())}] }\n  memory: 512MB\n  pids: 64\n`);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', 'proxy', '--data', t.dir, '--agent', 'fs-agent', '--name', 'fs', '--manifest', manifest, '--', process.execPath, SERVER, docs],
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp' },
      stderr: 'pipe',
    });
    client = new Client({ name: 'fs-example', version: '1.0.0' });
    await client.connect(transport);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await t?.cleanup();
  });

  it('reads through the gateway, and cannot write where policy would allow it', async () => {
    const names = (await client.listTools()).tools.map((x) => x.name);
    expect(names).toContain('read_text_file');
    const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(docs, 'guides', 'intro.md') } });
    expect(read.isError).toBeFalsy();
    expect(text(read)).toContain('Warden mediates every tool call.');
    const write = await client.callTool({ name: 'write_file', arguments: { path: join(docs, 'guides', 'evil.md'), content: 'x' } });
    expect(write.isError).toBe(true);
    expect(existsSync(join(docs, 'guides', 'evil.md'))).toBe(false);
    // Outside the served directory: refused by the server, and in any case not in the sandbox.
    const shadow = await client.callTool({ name: 'read_text_file', arguments: { path: '/etc/shadow' } });
    expect(shadow.isError).toBe(true);
  });
});
