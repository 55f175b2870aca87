/**
 * Sandboxed runs: the library API behind `warden run` (and, later, the gateway and the MCP
 * gateway). A run is a manifest, a command and a tier:
 *
 * - the tier is the manifest's (or the caller's override); `auto` picks by the manifest's risk
 *   (low: process, medium: container, high: microvm). A tier that is not available here refuses
 *   the run with a reason — never a silent downgrade;
 * - network grants go through Warden's egress proxy only (src/sandbox/egress-proxy.ts), each
 *   request an `egress` or `egress_refused` event;
 * - secrets are resolved from the secret store into the sandbox's environment only;
 * - start and end are receipted (kind `run`): manifest digest, tier, limits, the command's name
 *   and digest (never its arguments, which may carry data), exit, duration, peak memory, CPU
 *   time; kills for time, memory or output are `sandbox_violation` events.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Json } from '../crypto/jcs.js';
import { WardenError } from '../errors.js';
import type { ActorChain, SecurityEvents } from '../events/security-events.js';
import type { Ledger } from '../ledger/ledger.js';
import type { SecretStore } from '../secrets/store.js';
import { chmodSync, existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressProxy } from './egress-proxy.js';
import { grantPathProblem, manifestDigest, protectedForms, type Manifest, type Tier } from './manifest/index.js';
import { processTierAvailable, runProcessTier, type ProcessRunResult } from './process-tier.js';
import { containerTierAvailable, runContainerTier } from './container-tier.js';
import { microvmTierAvailable, runMicrovmTier } from './microvm-tier.js';
import { dockerTierAvailable, runDockerTier } from './docker-tier.js';
import { buildSeccompProgram } from './seccomp/index.js';

export const RUN_KIND = 'run';
const SOCAT = '/usr/bin/socat';
const RELAY_PORT = 3128;
/** Inside the sandbox: start the relay, wait (≤ 1 s) until it listens on 127.0.0.1:3128 (0C38 in /proc/net/tcp), then exec the command. */
const relayScript = (socket: string) =>
  `${SOCAT} TCP-LISTEN:${RELAY_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${socket} & i=0; while [ $i -lt 100 ] && ! grep -q ':0C38 ' /proc/net/tcp 2>/dev/null; do i=$((i+1)); sleep 0.01; done; exec "$@"`;
export type ConcreteTier = Exclude<Tier, 'auto'>;

/** Which tiers this build can run, and why not. */
export function tierAvailability(): Record<ConcreteTier, { ok: boolean; reason?: string }> {
  return {
    process: processTierAvailable(),
    container: containerTierAvailable(),
    microvm: microvmTierAvailable(),
    docker: dockerTierAvailable(),
  };
}

/** The tier `auto` means for a manifest: more reach, stronger isolation. */
export function tierForRisk(m: Manifest): { tier: ConcreteTier; risk: 'low' | 'medium' | 'high'; why: string } {
  const p = m.permissions;
  const reach = [p.network.allow.length > 0 && 'network', m.secrets.length > 0 && 'secrets', p.fs.write.length > 0 && 'writes'].filter(Boolean) as string[];
  if (reach.length >= 2 && reach.includes('network')) return { tier: 'microvm', risk: 'high', why: `grants ${reach.join(' + ')}` };
  if (reach.length > 0) return { tier: 'container', risk: 'medium', why: `grants ${reach.join(' + ')}` };
  return { tier: 'process', risk: 'low', why: 'no network, secrets or writes' };
}

/** The tier a manifest runs in: the one it names, unless its grants require a stronger one (`auto`: by its grants). */
export function manifestTier(m: Manifest): { tier: ConcreteTier; why: string } {
  const required = tierForRisk(m);
  return m.tier === 'auto' || STRENGTH[m.tier] < STRENGTH[required.tier]
    ? { tier: required.tier, why: `required by the manifest's grants: ${required.why}` }
    : { tier: m.tier, why: 'named by the manifest' };
}

export interface SandboxRunRequest {
  tenant: string;
  manifest: Manifest;
  command: string[];
  /** Overrides the manifest's tier (an operator's explicit choice, receipted as such). */
  tier?: ConcreteTier;
  actor: ActorChain;
  correlationId?: string;
  stdin?: Buffer;
  /** Paths no grant may reach (Warden's data directory, store and master key). */
  protectedPaths?: string[];
}

export interface SandboxRunResult extends ProcessRunResult {
  tier: ConcreteTier;
  receipts: { start: { seq: number; id: string }; end: { seq: number; id: string } };
}

export interface SandboxDeps {
  ledger: Ledger;
  events: SecurityEvents;
  secrets: SecretStore;
  agents: { get(tenant: string, id: string): Promise<{ state: string }> };
}

/** Isolation strength: a tier may be replaced only by a stronger one. */
const STRENGTH: Record<ConcreteTier, number> = { process: 0, container: 1, docker: 1, microvm: 2 };

function refuse(message: string): never {
  throw new WardenError('FORBIDDEN', message);
}

export async function runSandboxed(deps: SandboxDeps, req: SandboxRunRequest): Promise<SandboxRunResult> {
  const m = req.manifest;
  // The manifest's checks look at the text of a path; at run time each grant is resolved and
  // checked again, so a symlink placed since cannot redirect it to a protected place.
  const protectedPaths = protectedForms(req.protectedPaths ?? []);
  for (const [mode, list] of [['read', m.permissions.fs.read], ['write', m.permissions.fs.write]] as const) {
    for (const p of list) {
      let real: string;
      try {
        real = realpathSync(p);
      } catch {
        throw new WardenError('BAD_INPUT', `permissions.fs.${mode}: ${p} does not exist`);
      }
      const problem = grantPathProblem(real, mode, protectedPaths);
      if (problem) throw new WardenError('BAD_INPUT', `permissions.fs.${mode}: ${p} resolves to ${real}, which ${problem}`);
    }
  }
  const digest = manifestDigest(m);
  const runId = `run_${randomBytes(9).toString('base64url')}`;
  // The operator's --tier may override; a manifest may ask for a stronger tier than its grants need, never a weaker one.
  const required = tierForRisk(m);
  const chosen = req.tier
    ? { tier: req.tier, why: `chosen explicitly by the operator (grants would require ${required.tier})` }
    : manifestTier(m);
  const base = {
    resource: `sandbox:${m.agent.name}`, actor: req.actor, ...(req.correlationId ? { correlation_id: req.correlationId } : {}),
  };
  const commandInfo = { name: req.command[0] ?? '', argv_sha256: createHash('sha256').update(JSON.stringify(req.command)).digest('hex'), argc: req.command.length };
  const common = { run_id: runId, manifest_digest: digest, tier: chosen.tier, tier_choice: chosen.why, agent: m.agent.name, command: commandInfo };

  // Refusals are receipted and evented like every other decision.
  const refusal = async (reason: string): Promise<never> => {
    const [r] = await deps.ledger.append(req.tenant, [{ ...base, kind: RUN_KIND, action: 'run.refuse', decision: 'deny', reasons: [reason], payload: common as unknown as Record<string, Json> }], { system: true });
    deps.events.emit({ tenant: req.tenant, severity: 'medium', category: 'sandbox_refused', actor: req.actor, correlation_id: req.correlationId ?? null, receipt: r ? { tenant: req.tenant, seq: r.seq } : null, details: { run_id: runId, reason, tier: chosen.tier } });
    return refuse(reason);
  };
  // The manifest names a registered agent; one that is not active (quarantined, suspended) runs nothing.
  const agent = await deps.agents.get(req.tenant, m.agent.name).catch(() => undefined);
  if (!agent) await refusal(`agent "${m.agent.name}" (agent.name) is not registered in tenant ${req.tenant}`);
  else if (agent.state !== 'active') await refusal(`agent "${m.agent.name}" is ${agent.state}: it runs nothing until an operator releases it`);
  const availability = tierAvailability()[chosen.tier];
  if (!availability.ok) await refusal(`tier ${chosen.tier} (${chosen.why}) is unavailable: ${availability.reason}; Warden never runs a tool in a weaker tier than required`);
  const network = m.permissions.network.allow.length > 0;
  // The microVM has no network device and no write-back path yet: such grants are refused there, not dropped.
  if (chosen.tier === 'microvm' && (network || m.permissions.fs.write.length > 0)) {
    await refusal('the microvm tier cannot yet carry network or write grants (no egress relay, no write-back); an operator may choose --tier container or process');
  }
  if (chosen.tier === 'docker' && network) await refusal('the docker tier runs with --network none and has no egress relay yet; an operator may choose --tier container or process');
  if (network && !existsSync(SOCAT)) await refusal(`the manifest grants network egress, which needs the relay ${SOCAT} inside the sandbox (apt-get install socat)`);

  const secrets = await deps.secrets.resolve(req.tenant, m.secrets).catch(async (err: Error) => refusal(`secrets: ${err.message}`));
  const env: Record<string, string> = {};
  for (const [k, v] of secrets) env[k] = v.toString('utf8');
  const limits = { memoryBytes: m.permissions.memory, cpuQuota: m.permissions.cpu_quota, pids: m.permissions.pids, timeMs: m.permissions.execution_time };
  const [start] = await deps.ledger.append(req.tenant, [{
    ...base, kind: RUN_KIND, action: 'run.start', decision: 'allow', reasons: [],
    payload: { ...common, limits, fs: { read: [...m.permissions.fs.read], write: [...m.permissions.fs.write] }, secrets: [...m.secrets] } as unknown as Record<string, Json>,
  }], { system: true });
  let result: ProcessRunResult & { containerId?: string; userNamespace?: boolean };
  let proxy: EgressProxy | undefined;
  let proxyDir: string | undefined;
  try {
    let command = req.command;
    const write = [...m.permissions.fs.write];
    if (network) {
      // Network only through Warden's proxy: a Unix socket bound into the sandbox, relayed to 127.0.0.1:3128 inside.
      proxyDir = mkdtempSync(join(tmpdir(), 'warden-egress-'));
      chmodSync(proxyDir, 0o711); // bwrap runs as uid 65534: it must reach the socket to bind it
      proxy = await EgressProxy.start(join(proxyDir, 'proxy.sock'), {
        allow: m.permissions.network.allow,
        onRequest: (e) => deps.events.emit({
          tenant: req.tenant, severity: e.allowed ? 'info' : 'medium', category: e.allowed ? 'egress' : 'egress_refused', actor: req.actor,
          correlation_id: req.correlationId ?? null,
          details: { run_id: runId, agent: m.agent.name, method: e.method, host: e.host, port: e.port, status: e.status, bytes_out: e.bytesOut, bytes_in: e.bytesIn, reason: e.reason },
        }),
      });
      // The socket's directory is bound at its own path in either tier (it holds nothing but the socket).
      write.push(proxyDir);
      for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[k] = `http://127.0.0.1:${RELAY_PORT}`;
      env.NO_PROXY = '';
      command = ['/bin/sh', '-c', relayScript(join(proxyDir, 'proxy.sock')), 'warden-relay', ...req.command];
    }
    const spec = {
      runId, command, env, limits, fs: { read: [...m.permissions.fs.read], write },
      ...(req.stdin ? { stdin: req.stdin } : {}),
    };
    result = chosen.tier === 'container' ? await runContainerTier(spec)
      : chosen.tier === 'microvm' ? await runMicrovmTier({ ...spec, seccomp: buildSeccompProgram() })
        : chosen.tier === 'docker' ? await runDockerTier(spec)
        : await runProcessTier({ ...spec, seccomp: buildSeccompProgram() });
  } finally {
    for (const v of secrets.values()) v.fill(0);
    await proxy?.close();
    if (proxyDir) rmSync(proxyDir, { recursive: true, force: true });
  }
  const [end] = await deps.ledger.append(req.tenant, [{
    ...base, kind: RUN_KIND, action: 'run.end', decision: null, reasons: result.killed ? [`killed: ${result.killed}`] : [],
    payload: {
      run_id: runId, exit_code: result.exitCode, signal: result.signal, killed: result.killed, duration_ms: result.durationMs,
      peak_memory_bytes: result.peakMemoryBytes, cpu_time_ms: result.cpuTimeMs, bytes_egressed: proxy?.stats.bytesOut ?? 0,
      egress_requests: proxy?.stats.requests ?? 0, egress_refused: proxy?.stats.refused ?? 0,
      ...(result.containerId ? { container_id: result.containerId, user_namespace: result.userNamespace ?? false } : {}),
      stdout_bytes: result.stdout.length, stderr_bytes: result.stderr.length,
    },
  }], { system: true });
  if (result.killed && end) {
    deps.events.emit({
      tenant: req.tenant, severity: result.killed === 'memory' ? 'high' : 'medium', category: 'sandbox_violation', actor: req.actor,
      correlation_id: req.correlationId ?? null, receipt: { tenant: req.tenant, seq: end.seq },
      details: { run_id: runId, violation: result.killed, tier: chosen.tier, agent: m.agent.name },
    });
  }
  return { ...result, tier: chosen.tier, receipts: { start: { seq: (start as { seq: number }).seq, id: (start as { id: string }).id }, end: { seq: (end as { seq: number }).seq, id: (end as { id: string }).id } } };
}
