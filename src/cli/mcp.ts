import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { assertTenantName, openWarden, type Warden } from '../context.js';
import { AuthError, BadInputError, WardenError } from '../errors.js';
import { unverifiedIdentity } from '../identity/passports.js';
import type { McpBackend } from '../mcp/backend.js';
import type { GatewayServerConfig } from '../mcp/config.js';
import type { DownstreamSpec } from '../mcp/downstream.js';
import { SERVER_NAME, type PinState } from '../mcp/pins.js';

/** The MCP SDK and the gateway are loaded by `mcp proxy` and `mcp serve` only (start-up of every other command). */
async function loadGateway() {
  const [backend, config, downstream, httpFront, lineTransport, mediator] = await Promise.all([
    import('../mcp/backend.js'), import('../mcp/config.js'), import('../mcp/downstream.js'),
    import('../mcp/http-front.js'), import('../mcp/line-transport.js'), import('../mcp/mediator.js'),
  ]);
  return { ...backend, ...config, ...downstream, ...httpFront, ...lineTransport, ...mediator };
}
import { parseManifest } from '../sandbox/manifest/index.js';
import { tenantOption, withTenant } from './common.js';

/** A downstream server's spec; a manifest puts it in the sandbox, with its secrets from the local store. */
async function downstreamSpec(name: string, s: GatewayServerConfig, w: Warden | undefined, tenant: string): Promise<DownstreamSpec> {
  let sandbox: DownstreamSpec['sandbox'];
  if (s.manifest) {
    if (!w) throw new BadInputError('a sandbox manifest needs the local data directory (not available with WARDEN_PASSPORT)');
    let text: string;
    try {
      text = readFileSync(s.manifest, 'utf8');
    } catch {
      throw new BadInputError(`cannot read manifest ${s.manifest}`);
    }
    const protectedPaths = [w.loaded.dataDir, w.loaded.paths.sqlite, w.loaded.paths.masterKey];
    const manifest = parseManifest(text, { dataDir: w.loaded.dataDir, protectedPaths });
    if (manifest.permissions.network.allow.length > 0) {
      throw new WardenError('FORBIDDEN', `MCP server ${name}: its manifest grants network egress, which sandboxed MCP servers cannot have yet (run it remote, or without network grants)`);
    }
    const agent = await w.agents.get(tenant, manifest.agent.name).catch(() => undefined);
    if (!agent || agent.state !== 'active') throw new WardenError('FORBIDDEN', `MCP server ${name}: the manifest's agent "${manifest.agent.name}" is not an active agent of tenant ${tenant}`);
    sandbox = { manifest, secrets: await w.secrets.resolve(tenant, manifest.secrets) };
  }
  return {
    name,
    ...(s.command ? { command: s.command } : {}),
    ...(s.env ? { env: s.env } : {}),
    ...(s.cwd ? { cwd: s.cwd } : {}),
    ...(s.url ? { url: s.url, transport: s.transport ?? 'streamable-http' } : {}),
    ...(s.schemapin ? { schemapin: s.schemapin } : {}),
    ...(s.timeout ? { timeoutMs: s.timeout } : {}),
    ...(sandbox ? { sandbox } : {}),
  };
}

function serverName(given: string): string {
  if (!SERVER_NAME.test(given)) throw new BadInputError(`--name must be 1-32 of a-z, 0-9, '-' (got "${given}")`);
  return given;
}

/** The operator an approving CLI command acts for: active, and allowed `permission`. Refusals are receipted. */
async function actingOperator(w: Warden, tenant: string, id: string, action: string, resource: string) {
  const op = await w.operators.get(tenant, id);
  if (op.state !== 'active') throw new WardenError('FORBIDDEN', `operator ${op.id} is ${op.state}`);
  try {
    w.operators.authorize(op, 'policy:write');
  } catch (err) {
    if (err instanceof AuthError) await w.operators.recordDeny(tenant, { human: op.id }, action, resource, err.reason, { via: 'cli' });
    throw err;
  }
  return { id: op.id, actor: { human: op.id, agent: null, service: 'warden-cli' } };
}

export function registerMcp(program: Command): void {
  const mcp = program.command('mcp').description('the MCP security gateway: every tool call authenticated, decided, contained and receipted');

  tenantOption(mcp.command('proxy'))
    .description('stdio MCP proxy: put it in a client configuration in place of the server command')
    .option('--agent <id>', 'act as this registered agent (local data directory)')
    .option('--url <url>', 'a remote Warden (with WARDEN_PASSPORT): default WARDEN_URL')
    .option('--manifest <file>', "run the server in the sandbox under this manifest: its tier (process or container) and grants")
    .requiredOption('--name <server>', 'the server name: tools become resources mcp:NAME/TOOL, which grants and pins refer to')
    .option('--pass-env <names...>', "environment variables the server gets from the proxy's environment (nothing else passes but PATH, HOME, LANG…)")
    .argument('<command...>', 'the MCP server command and its arguments (after --)')
    .addHelpText('after', `
Identity: --agent ID acts as a registered agent of the local data directory; or set
WARDEN_PASSPORT (and --url / WARDEN_URL) to act with a passport against a remote Warden.

Examples:
  warden mcp proxy --agent fs-agent --name fs -- npx -y @modelcontextprotocol/server-filesystem /srv/docs
  warden mcp proxy --agent fs-agent --manifest fs.yaml -- node server.js
  WARDEN_PASSPORT=eyJ... warden mcp proxy --url https://warden.internal:8787 -- ./server

stdout carries the MCP protocol only; Warden's messages go to stderr.`)
    .action(async (command: string[], opts: { data: string; tenant: string; agent?: string; url?: string; manifest?: string; name: string; passEnv?: string[] }) => {
      const name = serverName(opts.name);
      const { LocalBackend, RemoteBackend, Downstream, LineTransport, Mediator } = await loadGateway();
      const env: Record<string, string> = {};
      for (const k of opts.passEnv ?? []) {
        if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k) || k === 'WARDEN_PASSPORT') throw new BadInputError(`--pass-env: invalid or forbidden variable name ${JSON.stringify(k)}`);
        if (process.env[k] !== undefined) env[k] = process.env[k] as string;
      }
      const passport = process.env.WARDEN_PASSPORT;
      let backend: McpBackend;
      let w: Warden | undefined;
      if (passport && opts.agent) throw new BadInputError('both --agent and WARDEN_PASSPORT are given: choose one identity (unset WARDEN_PASSPORT for a local agent)');
      if (passport) {
        const url = opts.url ?? process.env.WARDEN_URL;
        if (!url) throw new BadInputError('WARDEN_PASSPORT is set: give the Warden server with --url or WARDEN_URL');
        const id = unverifiedIdentity(passport);
        if (!id) throw new BadInputError('WARDEN_PASSPORT is not a Warden agent passport');
        backend = new RemoteBackend(url, passport, { tenant: id.tenant, agent: id.sub });
      } else {
        if (!opts.agent) throw new BadInputError('give --agent ID (a registered agent), or set WARDEN_PASSPORT with --url');
        assertTenantName(opts.tenant);
        w = await openWarden(opts.data);
        if (!(await w.store.getTenant(opts.tenant))) {
          await w.close();
          throw new WardenError('NOT_FOUND', `unknown tenant "${opts.tenant}"`);
        }
        backend = new LocalBackend(w, opts.tenant, opts.agent, { ownsWarden: true });
        // The identity is checked before any server starts: a mistyped agent must not leave a running server behind.
        const agent = await w.agents.get(opts.tenant, opts.agent).catch(async (err: Error) => {
          await backend.close();
          throw err;
        });
        if (agent.state !== 'active') {
          await backend.close();
          throw new WardenError('FORBIDDEN', `agent "${agent.id}" is ${agent.state}: it cannot act until an operator resumes or releases it`);
        }
        if (!(await w.policies.active(opts.tenant))) process.stderr.write(`warden mcp: warning: no policy is deployed for tenant ${opts.tenant}: every call will be denied (warden policy starter > policy.cedar && warden policy deploy policy.cedar)\n`);
        if (!agent.capabilities.some((c) => c.startsWith('mcp:') || c === '*')) process.stderr.write(`warden mcp: warning: agent "${agent.id}" has no mcp: capability; grant the server's tools with e.g. --capability 'mcp:${name}/*'\n`);
      }
      let mediator: InstanceType<typeof Mediator>;
      try {
        const spec = await downstreamSpec(name, { command, env, ...(opts.manifest ? { manifest: opts.manifest } : {}) }, w, backend.tenant);
        if (spec.sandbox && spec.sandbox.manifest.agent.name !== backend.agent) {
          throw new BadInputError(`the manifest's agent.name ("${spec.sandbox.manifest.agent.name}") is not the proxy's agent ("${backend.agent}"): the sandbox and the decisions must be the same agent's`);
        }
        mediator = new Mediator([new Downstream(spec)], { namespace: false, event: (...a) => backend.event(...a) });
      } catch (err) {
        await backend.close();
        throw err;
      }
      const front = new LineTransport(process.stdin, process.stdout, { answerMalformed: true });
      const server = mediator.createServer(backend);
      await server.connect(front);
      // Until the client goes away (stdin ends) or the proxy is told to stop.
      await new Promise<void>((resolve) => {
        process.stdin.once('end', resolve);
        process.stdin.once('close', resolve);
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await front.close();
      await mediator.close();
      await backend.close();
    });

  tenantOption(mcp.command('serve'))
    .description('streamable-HTTP MCP gateway in front of the servers of gateway.yaml (agents authenticate with passports)')
    .requiredOption('--config <file>', 'gateway.yaml (docs/mcp.md)')
    .option('--host <host>', 'listen address (default: listen.host, 127.0.0.1)')
    .option('--port <port>', 'listen port (default: listen.port, 8790)')
    .addHelpText('after', `
Clients connect to http://HOST:PORT/mcp with "Authorization: Bearer <agent passport>"
(warden passports issue --agent ID). Tools are named SERVER__TOOL. Relative paths in
gateway.yaml (manifest, cwd) are resolved against the file's directory.`)
    .action(async (opts: { data: string; tenant: string; config: string; host?: string; port?: string }) => {
      const { loadGatewayConfig, Downstream, Mediator, startHttpFront } = await loadGateway();
      const cfg = loadGatewayConfig(opts.config);
      assertTenantName(opts.tenant);
      const w = await openWarden(opts.data);
      if (!(await w.store.getTenant(opts.tenant))) {
        await w.close();
        throw new WardenError('NOT_FOUND', `unknown tenant "${opts.tenant}" (see \`warden tenants list\`)`);
      }
      const servers: InstanceType<typeof Downstream>[] = [];
      try {
        for (const [name, s] of Object.entries(cfg.servers)) servers.push(new Downstream(await downstreamSpec(name, s, w, opts.tenant)));
      } catch (err) {
        await w.close();
        throw err;
      }
      const mediator = new Mediator(servers, {
        namespace: true,
        event: (severity, category, details) => w.events.emit({ tenant: opts.tenant, severity, category, actor: { human: null, agent: null, service: 'warden-mcp-http' }, correlation_id: null, details }),
      });
      const http = startHttpFront(w, mediator, { tenant: opts.tenant, maxSessions: cfg.max_sessions, idleTimeoutMs: cfg.session_idle_timeout });
      const host = opts.host ?? cfg.listen.host;
      const port = opts.port !== undefined ? Number(opts.port) : cfg.listen.port;
      await new Promise<void>((resolve, reject) => {
        http.once('error', (err) => reject(new BadInputError(`cannot listen on ${host}:${port}: ${err.message}`)));
        http.listen(port, host, () => resolve());
      });
      const addr = http.address();
      process.stderr.write(`warden mcp: serving ${servers.length} server(s) at http://${host}:${typeof addr === 'object' && addr ? addr.port : port}/mcp\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await mediator.close();
      await w.close();
    });

  const pins = mcp.command('pins').description('pinned MCP tool definitions (rug-pull and tool-poisoning defence)');
  tenantOption(pins.command('list'))
    .description('list pins; blocked tools (changed or poisoned) first')
    .option('--state <state>', 'pinned | changed | poisoned')
    .option('--json', 'JSON output')
    .action(async (opts: { data: string; tenant: string; state?: string; json?: boolean }) => {
      if (opts.state !== undefined && !['pinned', 'changed', 'poisoned'].includes(opts.state)) throw new BadInputError('--state must be pinned, changed or poisoned');
      await withTenant(opts, async (w) => {
        const list = await w.pins.list(opts.tenant, opts.state as PinState | undefined);
        list.sort((a, b) => Number(a.state === 'pinned') - Number(b.state === 'pinned') || a.id.localeCompare(b.id));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        if (list.length === 0) process.stdout.write('no pins\n');
        for (const p of list) {
          process.stdout.write(`${p.id}  ${p.state}  signature=${p.signature}  pinned ${p.hash || '(nothing approved yet)'}\n`);
          if (p.pending) process.stdout.write(`  pending ${p.pending.hash} since ${p.pending.seen_at}: ${p.pending.reason}\n  description: ${p.pending.description_excerpt}\n`);
        }
      });
    });
  tenantOption(pins.command('approve'))
    .description('approve the pending version of a blocked tool (receipted)')
    .argument('<server/tool>', 'the pin id, as `pins list` shows it')
    .option('--hash <sha256:…>', 'the pending hash you reviewed (refused if the tool changed again since)')
    .requiredOption('--as <operator>', 'the operator approving (active, with policy:write)')
    .action(async (id: string, opts: { data: string; tenant: string; hash?: string; as: string }) => {
      const slash = id.indexOf('/');
      if (slash <= 0) throw new BadInputError('expected SERVER/TOOL');
      if (opts.hash !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.hash)) throw new BadInputError('--hash: expected sha256: and 64 hex digits, as `pins list` shows it');
      await withTenant(opts, async (w) => {
        const op = await actingOperator(w, opts.tenant, opts.as, 'mcp.pin_approve', `mcp:${id}`);
        const pin = await w.pins.approve(opts.tenant, id.slice(0, slash), id.slice(slash + 1), op, opts.hash);
        process.stdout.write(`approved ${id}: now pinned to ${pin.hash}\n`);
      });
    });

  tenantOption(pins.command('release-key'))
    .description("release a domain's pinned SchemaPin signing key after it rotated its key; the next key it presents is pinned on first use (receipted)")
    .argument('<domain>', 'the signing domain')
    .requiredOption('--as <operator>', 'the operator releasing it (active, with policy:write)')
    .action(async (domain: string, opts: { data: string; tenant: string; as: string }) => {
      await withTenant(opts, async (w) => {
        const op = await actingOperator(w, opts.tenant, opts.as, 'mcp.key_release', `schemapin:${domain}`);
        const r = await w.pins.releaseKey(opts.tenant, domain, op);
        process.stdout.write(`released the pinned key of ${domain} (${r.fingerprint}); the next key it presents will be pinned\n`);
      });
    });
}
