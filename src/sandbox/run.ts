/**
 * Sandboxed runs: the library API behind `warden run` (and, later, the gateway and the MCP
 * gateway). A run is a manifest, a command and a tier:
 *
 * - the tier is the manifest's (or the caller's override); `auto` picks by the manifest's risk
 *   (low: process, medium: container, high: microvm). A tier that is not available here refuses
 *   the run with a reason — never a silent downgrade;
 * - network grants need the egress proxy; until it ships, a manifest that grants network is
 *   refused rather than run without it;
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
import { realpathSync } from 'node:fs';
import { grantPathProblem, manifestDigest, protectedForms, type Manifest, type Tier } from './manifest/index.js';
import { processTierAvailable, runProcessTier, type ProcessRunResult } from './process-tier.js';
import { buildSeccompProgram } from './seccomp/index.js';

export const RUN_KIND = 'run';
export type ConcreteTier = Exclude<Tier, 'auto'>;

/** Which tiers this build can run, and why not. */
export function tierAvailability(): Record<ConcreteTier, { ok: boolean; reason?: string }> {
  return {
    process: processTierAvailable(),
    container: { ok: false, reason: 'the container tier (runc) is not implemented in this version' },
    microvm: { ok: false, reason: 'the microvm tier (qemu -M microvm) is not implemented in this version' },
    docker: { ok: false, reason: 'the docker tier is not implemented in this version' },
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
}

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
  const chosen = req.tier ? { tier: req.tier, why: 'chosen explicitly' } : m.tier === 'auto' ? tierForRisk(m) : { tier: m.tier, why: 'named by the manifest' };
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
  const availability = tierAvailability()[chosen.tier];
  if (!availability.ok) await refusal(`tier ${chosen.tier} (${chosen.why}) is unavailable: ${availability.reason}; Warden never runs a tool in a weaker tier than required`);
  if (m.permissions.network.allow.length > 0) await refusal('the manifest grants network egress, which needs the egress proxy (not in this version); remove permissions.network to run without network');

  const secrets = await deps.secrets.resolve(req.tenant, m.secrets).catch(async (err: Error) => refusal(`secrets: ${err.message}`));
  const env: Record<string, string> = {};
  for (const [k, v] of secrets) env[k] = v.toString('utf8');
  const limits = { memoryBytes: m.permissions.memory, cpuQuota: m.permissions.cpu_quota, pids: m.permissions.pids, timeMs: m.permissions.execution_time };
  const [start] = await deps.ledger.append(req.tenant, [{
    ...base, kind: RUN_KIND, action: 'run.start', decision: 'allow', reasons: [],
    payload: { ...common, limits, fs: { read: [...m.permissions.fs.read], write: [...m.permissions.fs.write] }, secrets: [...m.secrets] } as unknown as Record<string, Json>,
  }], { system: true });
  let result: ProcessRunResult;
  try {
    result = await runProcessTier({
      runId, command: req.command, env, limits, seccomp: buildSeccompProgram(),
      fs: { read: [...m.permissions.fs.read], write: [...m.permissions.fs.write] },
      ...(req.stdin ? { stdin: req.stdin } : {}),
    });
  } finally {
    for (const v of secrets.values()) v.fill(0);
  }
  const [end] = await deps.ledger.append(req.tenant, [{
    ...base, kind: RUN_KIND, action: 'run.end', decision: null, reasons: result.killed ? [`killed: ${result.killed}`] : [],
    payload: {
      run_id: runId, exit_code: result.exitCode, signal: result.signal, killed: result.killed, duration_ms: result.durationMs,
      peak_memory_bytes: result.peakMemoryBytes, cpu_time_ms: result.cpuTimeMs, bytes_egressed: 0,
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
