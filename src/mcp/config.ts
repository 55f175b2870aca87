/**
 * `gateway.yaml` for `warden mcp serve`: where to listen and which servers sit behind it.
 *
 * ```yaml
 * listen: { host: 127.0.0.1, port: 8790 }
 * servers:
 *   fs:
 *     command: [npx, -y, "@modelcontextprotocol/server-filesystem", /srv/docs]
 *     manifest: fs.yaml          # run it in the sandbox (process tier) under this manifest
 *   search:
 *     url: https://mcp.example.com/mcp
 *     transport: streamable-http # or sse
 *     schemapin: { domain: example.com }
 * ```
 * Relative paths are resolved against the file's directory. Secrets never go here: a sandboxed
 * server gets the secrets its manifest names from Warden's secret store.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BadInputError } from '../errors.js';

const serverSchema = z.object({
  command: z.array(z.string().min(1)).min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string()).optional(),
  cwd: z.string().optional(),
  manifest: z.string().optional(),
  url: z.url().optional(),
  transport: z.enum(['streamable-http', 'sse']).optional(),
  schemapin: z.object({ domain: z.string().min(1).max(253), discovery_url: z.url().optional() }).strict().optional(),
  timeout: z.number().int().min(1000).max(600_000).optional(),
}).strict().refine((s) => (s.command !== undefined) !== (s.url !== undefined), { message: 'give exactly one of command (a local server over stdio) or url (a remote server)' })
  .refine((s) => s.url === undefined || s.manifest === undefined, { message: 'manifest applies to local servers (command) only' });

const gatewaySchema = z.object({
  listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8790) }).strict().default({ host: '127.0.0.1', port: 8790 }),
  /** Sessions held at once; beyond it new sessions are refused (503). */
  max_sessions: z.number().int().min(1).max(10_000).default(256),
  /** A session unused this long is closed. */
  session_idle_timeout: z.number().int().min(1000).default(30 * 60_000),
  servers: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'server names are 1-32 of a-z, 0-9, -'), serverSchema)
    .refine((r) => Object.keys(r).length > 0, { message: 'name at least one server' }),
}).strict();

export type GatewayConfig = z.infer<typeof gatewaySchema>;
export type GatewayServerConfig = z.infer<typeof serverSchema>;

export function loadGatewayConfig(path: string): GatewayConfig & { dir: string } {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new BadInputError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = gatewaySchema.safeParse(raw);
  if (!parsed.success) {
    // An unknown key (a typo) explains the rest ("servers" missing because it is spelt "server").
    const first = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    const where = first?.path.join('.') || '(top level)';
    let message = first?.message ?? 'invalid';
    if (first?.code === 'invalid_key' && first.path[0] === 'servers') message = `invalid server name (1-32 of a-z, 0-9, '-')`;
    throw new BadInputError(`${path}: ${where}: ${message}`);
  }
  const dir = dirname(resolve(path));
  for (const s of Object.values(parsed.data.servers)) {
    if (s.manifest) s.manifest = resolve(dir, s.manifest);
    if (s.cwd) s.cwd = resolve(dir, s.cwd);
  }
  return { ...parsed.data, dir };
}
