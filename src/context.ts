import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_FILE, initialConfigYaml, loadConfig, parseConfig, type LoadedConfig } from './config/load.js';
import { TENANT_NAME } from './config/schema.js';
import { PayloadProtector } from './crypto/envelope.js';
import { FileKeyProvider, type MasterKeyProvider } from './crypto/key-provider.js';
import { Keyring } from './crypto/keyring.js';
import { BadInputError, ConfigError, KeyError } from './errors.js';
import { Checkpointer } from './ledger/checkpointer.js';
import { AgentRegistry } from './identity/agents.js';
import { OperatorRegistry } from './identity/operators.js';
import { PassportService } from './identity/passports.js';
import { AuthAudit } from './identity/audit.js';
import { SecurityEvents } from './events/security-events.js';
import { EventLog } from './events/event-log.js';
import { eventForReceipt } from './events/receipt-events.js';
import { Controls } from './events/controls.js';
import { Monitoring } from './events/monitoring.js';
import { Firewall } from './firewall/firewall.js';
import { RateLimiter } from './firewall/rate-limit.js';
import { TaintTracker } from './firewall/taint.js';
import { SecretStore } from './secrets/store.js';
import { Approvals } from './approvals/approvals.js';
import { ApprovalNotifier } from './approvals/webhook.js';
import { Gateway } from './gateway/gateway.js';
import { ToolPins } from './mcp/pins.js';
import { PolicyStore } from './policy/store.js';
import { KeyLifecycle } from './ledger/keys.js';
import { Ledger } from './ledger/ledger.js';
import { openStore } from './store/open.js';
import type { Store } from './store/types.js';

/** Everything a command or the server needs, opened from one data directory. */
export interface Warden {
  loaded: LoadedConfig;
  store: Store;
  masterKey: MasterKeyProvider;
  keyring: Keyring;
  protector: PayloadProtector;
  ledger: Ledger;
  checkpointer: Checkpointer;
  keys: KeyLifecycle;
  agents: AgentRegistry;
  passports: PassportService;
  operators: OperatorRegistry;
  /** Security events of this process (auth failures, cross-tenant attempts, …). */
  events: SecurityEvents;
  /** The persisted event stream (queries, SSE). */
  eventLog: EventLog;
  /** Circuit breakers and approval requirements set by incident response. */
  controls: Controls;
  /** Injection, DLP, egress and argument checks of the decision pipeline. */
  firewall: Firewall;
  /** Session and agent taint marks. */
  taint: TaintTracker;
  /** Named secrets, encrypted at rest, injected only into sandboxed runs. */
  secrets: SecretStore;
  /** Detection, incident response and sinks: started by `serve` (long-running processes only). */
  monitoring: Monitoring | undefined;
  startMonitoring(): Monitoring;
  audit: AuthAudit;
  policies: PolicyStore;
  approvals: Approvals;
  /** Notifier of new approvals, when `gateway.approval_webhook` is set. */
  approvalNotifier: ApprovalNotifier | undefined;
  gateway: Gateway;
  /** MCP tool pins (rug-pull and tool-poisoning defence). */
  pins: ToolPins;
  /** Ensures a tenant exists with its keys (idempotent). */
  ensureTenant(name: string): Promise<boolean>;
  /** Waits for queued appends and pending checkpoints, then closes the store. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create the data directory, config and master key when missing (`init`, `serve`). */
  create?: boolean;
  origin?: string;
  pgUrl?: string;
}

export function assertTenantName(name: string): void {
  if (!TENANT_NAME.test(name)) {
    throw new BadInputError(`invalid tenant name "${name}": expected 1-63 of a-z, 0-9, '-', '_' starting with a letter or digit`);
  }
}

export async function openWarden(dataDir: string, options: OpenOptions = {}): Promise<Warden> {
  const configPath = join(dataDir, CONFIG_FILE);
  if (!existsSync(configPath)) {
    if (!options.create) throw new ConfigError(`no Warden data directory at ${dataDir} (run \`warden init --data ${dataDir}\`)`);
    const yaml = initialConfigYaml(options.origin ?? 'warden.local/log', options.pgUrl);
    // Validate before writing: a rejected --origin must not leave a config that blocks the next init.
    parseConfig(parseYaml(yaml), 'the new configuration');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(configPath, yaml, { mode: 0o600, flag: 'wx' });
  }
  const loaded = loadConfig(dataDir);
  const { config, paths } = loaded;
  if (config.store.driver === 'sqlite' && !options.create && !existsSync(paths.sqlite)) {
    // A vanished or mistyped database file must not be silently replaced by an empty one.
    throw new ConfigError(`database ${paths.sqlite} does not exist (restore it, fix store.path, or run \`warden init\`)`);
  }
  const store = await openStore(
    config.store.driver === 'postgres'
      ? { driver: 'postgres', url: config.store.url as string, ...(config.store.schema ? { schema: config.store.schema } : {}) }
      : { driver: 'sqlite', path: paths.sqlite },
  );
  let masterKey: MasterKeyProvider;
  try {
    // A master key is only ever created for a store that holds no sealed keys yet: a missing key
    // next to existing tenants is a lost key, and a new one could open nothing.
    if (!existsSync(paths.masterKey) && (await store.listTenants()).length > 0) {
      throw new KeyError(
        `master key file ${paths.masterKey} is missing, but the store already holds keys sealed by a master key: restore the key from your backup`,
      );
    }
    masterKey = FileKeyProvider.open(paths.masterKey, { create: options.create ?? false });
  } catch (err) {
    await store.close();
    throw err;
  }
  const keyring = new Keyring(store, masterKey);
  // Fail closed at start: a master key that cannot open the stored keys must not be used to seal
  // new ones (that would split the store between two master keys).
  const firstTenant = (await store.listTenants())[0];
  if (firstTenant) {
    try {
      await keyring.load(firstTenant.name);
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  const protector = new PayloadProtector(store, masterKey, config.ledger.data_protection);
  const checkpointer = new Checkpointer(store, keyring, config.ledger.checkpoint_interval);
  const events = new SecurityEvents();
  const ledger = new Ledger(store, keyring, protector, {
    batchMax: config.ledger.batch_max,
    sensitiveFields: config.ledger.sensitive_fields,
    maxReceiptBytes: config.ledger.max_receipt_bytes,
    onAppended: (tenant) => checkpointer.notify(tenant),
    // Every security-relevant receipt becomes an event pointing back at it.
    onReceipts: (_tenant, receipts) => {
      for (const r of receipts) {
        const e = eventForReceipt(r);
        if (e) events.emit(e);
      }
    },
  });
  const keys = new KeyLifecycle(store, keyring, ledger);
  const agents = new AgentRegistry(store, ledger);
  const eventLog = new EventLog(store, protector, events, { flushMs: config.events.flush_interval, maxQueue: config.events.max_queue });
  const audit = new AuthAudit(store, ledger, events);
  const passports = new PassportService(store, keyring, keys, ledger, agents, {
    issuer: config.identity.issuer,
    audience: config.identity.audience,
    ttlMs: config.identity.passport_ttl,
    maxTtlMs: config.identity.passport_max_ttl,
    clockSkewMs: config.identity.clock_skew,
  }, audit);
  const operators = new OperatorRegistry(store, ledger, {
    tokenTtlMs: config.identity.operator_token_ttl,
    customRoles: config.identity.roles,
  }, audit);
  const policies = new PolicyStore(store, ledger);
  const approvalNotifier = config.gateway.approval_webhook ? new ApprovalNotifier(config.gateway.approval_webhook) : undefined;
  const approvals = new Approvals(store, ledger, {
    ttlMs: config.gateway.approval_ttl,
    ...(approvalNotifier ? { onRequested: (a) => approvalNotifier.notify(a) } : {}),
  });
  const controls = new Controls(store, ledger, config.events.breaker_cooldown);
  let firewall: Firewall;
  try {
    firewall = new Firewall(config.firewall, protector, loaded.dataDir);
  } catch (err) {
    await store.close();
    throw err;
  }
  const taint = new TaintTracker(store, config.firewall.taint_ttl, config.firewall.taint_agent);
  const limits = { agent: new RateLimiter(config.firewall.rate_limits.agent), tenant: new RateLimiter(config.firewall.rate_limits.tenant) };
  const pins = new ToolPins(store, ledger, events, (text) => firewall.injectionReason(text));
  const gateway = new Gateway(store, ledger, policies, approvals, audit, controls, firewall, taint, {
    riskWeights: config.gateway.risk_weights, limits, pins,
  });
  const w: Warden = {
    loaded,
    store,
    masterKey,
    keyring,
    protector,
    ledger,
    checkpointer,
    keys,
    agents,
    passports,
    operators,
    events,
    eventLog,
    controls,
    firewall,
    taint,
    secrets: new SecretStore(store, ledger, protector),
    monitoring: undefined,
    startMonitoring() {
      w.monitoring ??= new Monitoring(w, config.events, loaded.dataDir);
      return w.monitoring;
    },
    audit,
    policies,
    approvals,
    approvalNotifier,
    gateway,
    pins,
    async ensureTenant(name: string): Promise<boolean> {
      assertTenantName(name);
      const created = await store.createTenant({ name, origin: `${config.origin}/${name}`, created_at: new Date().toISOString() });
      await keys.ensureKeys(name);
      return created;
    },
    async close(): Promise<void> {
      try {
        await w.monitoring?.close();
        await ledger.close();
        await eventLog.close();
        await checkpointer.close();
      } finally {
        await store.close();
      }
    },
  };
  return w;
}
