import { z } from 'zod';
import { durationSchema } from './duration.js';

/** A log origin prefix: host-like, optionally with a path, no spaces or '+' (C2SP note names). */
const origin = z
  .string()
  .regex(/^[a-z0-9.-]+(\/[A-Za-z0-9._-]+)*$/, 'expected a host-like origin such as "warden.example.com/log"');

export const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const store = z
  .object({
    driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** SQLite file, relative to the data directory. */
    path: z.string().min(1).default('warden.db'),
    /** PostgreSQL connection URL (password belongs in PGPASSWORD or ~/.pgpass, not here). */
    url: z.string().optional(),
    /** PostgreSQL schema to use (created if missing); default: the connection's search_path. */
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case SQL identifier').optional(),
  })
  .strict()
  .refine((s) => s.driver !== 'postgres' || !!s.url, { message: 'store.url is required when store.driver is postgres', path: ['url'] });

const window = (def: number) => durationSchema.refine((ms) => ms >= 100 && ms <= 86_400_000, 'expected between 100ms and 24h').default(def);
const count = (def: number) => z.number().int().min(1).max(1_000_000).default(def);
/** A file relative to the data directory holding a secret (mode 0600 enforced): secrets never sit in the config itself. */
const secretFile = z.string().min(1).max(1024);
const severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
const RESPONSES = ['quarantine', 'revoke_passports', 'breaker_agent', 'breaker_tool', 'require_approval', 'preserve_evidence'] as const;
const RULE_NAMES = ['velocity', 'velocity_deviation', 'repeated_denials', 'privilege_escalation', 'cross_tenant', 'unusual_egress', 'auth_failures'] as const;

const sinkCommon = {
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a lower-case sink name (1-32 of a-z 0-9 _ -)'),
  /** Only events at or above this severity. */
  min_severity: severity.default('medium'),
  /** Only these categories (default: all). */
  categories: z.array(z.string().regex(/^[a-z_]{1,64}$/)).max(64).optional(),
  /** Events waiting for delivery at most; beyond it they are dropped (counted and evented). */
  queue: z.number().int().min(1).max(1_000_000).default(10_000),
  max_attempts: z.number().int().min(1).max(20).default(5),
  backoff: durationSchema.refine((ms) => ms >= 10 && ms <= 60_000, 'expected between 10ms and 1m').default(500),
  timeout: durationSchema.refine((ms) => ms >= 100 && ms <= 60_000, 'expected between 100ms and 1m').default(5_000),
};
const httpUrl = z.string().url().refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL');

const sinkSchema = z.discriminatedUnion('type', [
  z.object({
    ...sinkCommon, type: z.literal('webhook'),
    url: httpUrl.optional(),
    /** The URL read from a file instead (Slack and PagerDuty URLs are themselves secrets). */
    url_file: secretFile.optional(),
    format: z.enum(['generic', 'slack', 'pagerduty']).default('generic'),
    /** HMAC-SHA256 key for `X-Warden-Signature`. */
    secret_file: secretFile.optional(),
    /** PagerDuty Events v2 routing key. */
    routing_key_file: secretFile.optional(),
  }).strict().refine((s) => (s.url === undefined) !== (s.url_file === undefined), { message: 'expected exactly one of url and url_file', path: ['url'] })
    .refine((s) => s.format !== 'pagerduty' || s.routing_key_file !== undefined, { message: 'a pagerduty sink needs routing_key_file', path: ['routing_key_file'] }),
  z.object({
    ...sinkCommon, type: z.literal('syslog'),
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535).default(6514),
    tls: z.boolean().default(true),
    ca_file: z.string().min(1).max(1024).optional(),
    facility: z.number().int().min(0).max(23).default(10),
    app_name: z.string().regex(/^[\x21-\x7e]{1,48}$/).default('warden'),
  }).strict(),
  z.object({
    ...sinkCommon, type: z.literal('file'),
    /** JSON-lines file, relative to the data directory. */
    path: z.string().min(1).max(1024),
  }).strict(),
]);

const eventsSchema = z
  .object({
    /** Events written per batch, and the longest an event waits for its batch. */
    flush_interval: durationSchema.refine((ms) => ms >= 1 && ms <= 5_000, 'expected between 1ms and 5s').default(50),
    max_queue: z.number().int().min(100).max(10_000_000).default(50_000),
    /** Operators of this tenant with the admin role see every tenant's events (default: nobody — opt in). */
    admin_tenant: z.string().regex(TENANT_NAME, 'expected a tenant name').optional(),
    detection: z
      .object({
        velocity: z.object({ window: window(10_000), max_actions: count(100) }).strict().prefault({}),
        velocity_deviation: z.object({ factor: z.number().min(1).max(1000).default(10), min_actions: count(60), min_minutes: count(5) }).strict().prefault({}),
        repeated_denials: z.object({ window: window(60_000), max_denials: count(20) }).strict().prefault({}),
        privilege_escalation: z.object({ window: window(60_000), max_ungranted: count(5) }).strict().prefault({}),
        unusual_egress: z.object({ learning_decisions: z.number().int().min(0).max(1_000_000).default(20) }).strict().prefault({}),
        auth_failures: z.object({ window: window(60_000), max_failures: count(30) }).strict().prefault({}),
        cooldown: durationSchema.refine((ms) => ms <= 86_400_000, 'expected at most 24h').default(60_000),
      })
      .strict()
      .prefault({}),
    /** Rule → what Warden does when it fires (in order). */
    responses: z
      .partialRecord(z.enum(RULE_NAMES), z.array(z.enum(RESPONSES)).max(RESPONSES.length))
      .default({
        velocity: ['quarantine', 'revoke_passports', 'preserve_evidence'],
        cross_tenant: ['preserve_evidence'],
        privilege_escalation: ['require_approval', 'preserve_evidence'],
        repeated_denials: ['breaker_agent'],
      }),
    /** Cool-down of an open circuit breaker before it lets one probe through (half-open). */
    breaker_cooldown: durationSchema.refine((ms) => ms >= 1000 && ms <= 86_400_000, 'expected between 1s and 24h').default(300_000),
    sinks: z
      .array(sinkSchema)
      .max(32)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((s, i) => {
          if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate sink name "${s.name}"` });
          seen.add(s.name);
        });
      })
      .default([]),
  })
  .strict();

const bucket = (rate: number, burst: number) =>
  z.object({ rate: z.number().min(0.001).max(1_000_000).default(rate), burst: z.number().int().min(1).max(10_000_000).default(burst) }).strict().prefault({});
const dlpAction = z.enum(['block', 'redact', 'tokenize', 'flag']);
const checkKind = z.enum(['sql', 'xss', 'path', 'shell']);

const firewallSchema = z
  .object({
    injection: z
      .object({
        /** Score (0-1) from which an untrusted input is flagged and taints its session. */
        threshold: z.number().min(0).max(1).default(0.5),
        /** Score from which the gateway denies on its own, whatever policy says (default: never; policy decides). */
        block_threshold: z.number().min(0).max(1).optional(),
        /** Remote classifier (e.g. a Prompt Guard or LLM Guard server) combined with the local score. */
        classifier: z
          .object({
            url: httpUrl,
            timeout: durationSchema.refine((ms) => ms >= 10 && ms <= 30_000, 'expected between 10ms and 30s').default(2_000),
            combine: z.enum(['max', 'weighted']).default('max'),
            weight: z.number().min(0).max(1).default(0.5),
            /** A header value (e.g. an API key) read from a file in the data directory. */
            header_file: secretFile.optional(),
            header_name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).default('authorization'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    dlp: z
      .object({
        /** What to do per category (secret, pii, honeytoken); by type in `types`. */
        categories: z.object({ secret: dlpAction.default('redact'), pii: dlpAction.default('flag'), honeytoken: z.literal('block').default('block') }).strict().prefault({}),
        types: z.record(z.string().regex(/^[a-z0-9_]{1,64}$/), dlpAction).default({}),
        /** Finding types not reported at all (e.g. email for a tenant that mails customers). */
        ignore_types: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/)).max(64).default([]),
        default_phone_region: z.string().regex(/^[A-Z]{2}$/).default('US'),
      })
      .strict()
      .prefault({}),
    egress: z
      .object({
        /** Destinations every tenant may reach: `api.example.com`, `*.example.org`, `https://x.example:8443`. Empty: no allowlist. */
        allow: z.array(z.string().min(1).max(300)).max(1000).default([]),
        /** Per-tenant allowlists, replacing `allow` for that tenant. */
        tenants: z.record(z.string().regex(TENANT_NAME), z.array(z.string().min(1).max(300)).max(1000)).default({}),
      })
      .strict()
      .prefault({}),
    /** Per-tool argument validation: resource (`tool:NAME`, `mcp:SERVER/TOOL`) → JSON Schema file and checks. */
    tools: z
      .record(
        z.string().min(3).max(256),
        z.object({
          schema_file: z.string().min(1).max(1024).optional(),
          /** JSON pointer → checks on the strings there (`*` matches any key or index). */
          checks: z.record(z.string().max(512), z.array(checkKind).min(1)).default({}),
          allowed_roots: z.array(z.string().min(1).max(1024)).max(64).optional(),
          /** Deny (rather than only signal to policy) when the arguments are invalid. */
          block_invalid: z.boolean().default(true),
        }).strict(),
      )
      .default({}),
    /** Token buckets (requests per second, burst). */
    rate_limits: z
      .object({
        agent: bucket(100, 200),
        tenant: bucket(1000, 2000),
        /** Every HTTP request, before authentication, per client address (429 beyond it). */
        source: bucket(200, 400),
      })
      .strict()
      .prefault({}),
    /** How long a session (correlation id) stays tainted after it took in flagged content. */
    /** Taint the agent too, not only the session: the agent chooses its correlation ids. */
    taint_agent: z.boolean().default(true),
    taint_ttl: durationSchema.refine((ms) => ms >= 1000 && ms <= 30 * 86_400_000, 'expected between 1s and 30d').default(86_400_000),
  })
  .strict();

export type FirewallConfig = z.output<typeof firewallSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
export type EventsConfig = z.output<typeof eventsSchema>;

export const configSchema = z
  .object({
    version: z.literal(1).default(1),
    origin: origin.default('warden.local/log'),
    store: store.prefault({}),
    keys: z
      .object({
        provider: z.literal('file').default('file'),
        /** Master key file, relative to the data directory. Mode 0600 is enforced. */
        master_key_file: z.string().min(1).default('master.key'),
        /** Scheduled rotation of the receipt and checkpoint-note keys (at least 1h). */
        rotation_interval: durationSchema.refine((ms) => ms >= 3_600_000, 'expected at least 1h').default(90 * 86_400_000),
        /** How long a rotated-out key stays `retiring` before it is `retired`. */
        retiring_grace: durationSchema.default(3_600_000),
      })
      .strict()
      .prefault({}),
    ledger: z
      .object({
        /** Maximum time between an append and a signed checkpoint covering it (≤ 1 s). */
        checkpoint_interval: durationSchema.refine((ms) => ms >= 10 && ms <= 1000, 'expected between 10ms and 1s').default(250),
        /** Receipts per group commit. */
        batch_max: z.number().int().min(1).max(10_000).default(1000),
        /** Payload fields (dotted paths) always treated as sensitive. */
        sensitive_fields: z
          .array(z.string().regex(/^[^.]+(\.[^.]+)*$/, 'expected a dotted field path such as "card" or "customer.email"'))
          .default([]),
        /** Encrypt sensitive fields (AES-256-GCM envelope). When off they are replaced by a hash. */
        data_protection: z.boolean().default(true),
        max_receipt_bytes: z.number().int().min(1024).max(1024 * 1024).default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    identity: z
      .object({
        /** `iss` of the passports this Warden issues, and the only issuer it accepts. */
        issuer: z.string().min(1).max(256).default('warden'),
        /** `aud` of issued passports, and the only audience accepted. */
        audience: z.string().min(1).max(256).default('warden'),
        /** Default passport lifetime. */
        passport_ttl: durationSchema.refine((ms) => ms >= 1000, 'expected at least 1s').default(15 * 60_000),
        /** Longest lifetime a passport may be issued with. */
        passport_max_ttl: durationSchema.refine((ms) => ms >= 1000 && ms <= 86_400_000, 'expected between 1s and 24h').default(3_600_000),
        /** Clock skew tolerated when checking exp, nbf and iat. */
        clock_skew: durationSchema.refine((ms) => ms <= 300_000, 'expected at most 5m').default(60_000),
        /** Default lifetime of an operator API token (at most 1 year). */
        operator_token_ttl: durationSchema
          .refine((ms) => ms >= 60_000 && ms <= 365 * 86_400_000, 'expected between 1m and 365d')
          .default(90 * 86_400_000),
        /** Custom operator roles: name → permissions (built-in roles cannot be redefined). */
        roles: z
          .record(
            z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'expected a lower-case role name'),
            z.array(z.string().regex(/^[a-z]+:[a-z]+$/, 'expected a permission such as "agents:read"')).max(64),
          )
          .default({}),
        /**
         * External OpenID Connect providers whose tokens authenticate operators
         * (src/identity/oidc.ts). Public-key algorithms only: HMAC would make the IdP's
         * verification key a shared secret, and `none` is no signature at all.
         */
        oidc: z
          .array(
            z
              .object({
                name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a lower-case provider name such as "corp-sso" (1-32 of a-z 0-9 _ -)'),
                /** Compared exactly (no normalisation) with the token's `iss`. */
                issuer: z.string().min(1).max(512),
                jwks_uri: z.string().min(1).max(2048),
                audience: z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).min(1).max(16)]),
                tenant: z.string().regex(TENANT_NAME, 'expected a tenant name').default('default'),
                subject_claim: z.string().min(1).max(128).default('sub'),
                /** An array of strings or a space-separated string. */
                roles_claim: z.string().min(1).max(128).default('groups'),
                /** Claim value → Warden role; values that are not keys grant nothing. */
                role_map: z
                  .record(z.string().min(1).max(256), z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'expected a Warden role name'))
                  .refine((m) => Object.keys(m).length > 0, 'expected at least one "claim value: role" entry'),
                algorithms: z
                  .array(
                    z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'], {
                      message: 'expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA (HMAC and "none" are never accepted)',
                    }),
                  )
                  .min(1)
                  .default(['RS256', 'ES256', 'EdDSA']),
                /** How long fetched keys are used before the JWKS is fetched again. */
                cache_max_age: durationSchema.refine((ms) => ms >= 1000 && ms <= 86_400_000, 'expected between 1s and 24h').default(600_000),
                /** Minimum time between JWKS fetches (an unknown kid cannot make Warden fetch more often). */
                cooldown: durationSchema.refine((ms) => ms <= 3_600_000, 'expected at most 1h').default(30_000),
              })
              .strict()
              .superRefine((p, ctx) => {
                // Keys fetched over plain http could be swapped in transit; loopback is allowed for local IdPs and tests.
                for (const key of ['issuer', 'jwks_uri'] as const) {
                  let url: URL | undefined;
                  try {
                    url = new URL(p[key]);
                  } catch {
                    url = undefined;
                  }
                  const loopback = url !== undefined && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
                  const ok =
                    url !== undefined && (url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) &&
                    url.username === '' && url.password === '' && url.hash === '';
                  if (!ok) {
                    ctx.addIssue({
                      code: 'custom',
                      path: [key],
                      message: 'expected an https:// URL without credentials or fragment (http:// only for 127.0.0.1, localhost or ::1)',
                    });
                  }
                }
              }),
          )
          .superRefine((list, ctx) => {
            // The provider is picked by the token's iss, so an issuer may appear only once.
            for (const field of ['name', 'issuer'] as const) {
              const seen = new Set<string>();
              list.forEach((p, i) => {
                if (seen.has(p[field])) ctx.addIssue({ code: 'custom', path: [i, field], message: `duplicate OIDC provider ${field} "${p[field]}"` });
                seen.add(p[field]);
              });
            }
          })
          .default([]),
      })
      .strict()
      .refine((i) => i.passport_ttl <= i.passport_max_ttl, { message: 'identity.passport_ttl must not exceed identity.passport_max_ttl', path: ['passport_ttl'] })
      .prefault({}),
    gateway: z
      .object({
        /** How long a pending approval waits for an approver before it resolves to deny. */
        approval_ttl: durationSchema.refine((ms) => ms >= 1000 && ms <= 7 * 86_400_000, 'expected between 1s and 7d').default(15 * 60_000),
        /** Notified (POST, JSON) of every new approval request; `slack` sends a Slack-compatible `{text}`. */
        approval_webhook: z
          .object({
            url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL'),
            format: z.enum(['generic', 'slack']).default('generic'),
          })
          .strict()
          .optional(),
        /** Risk model weights (the seeds' defaults); the score is capped at 100. */
        risk_weights: z
          .object({
            data_sensitivity: z.number().min(0).max(1).default(0.4),
            code_untrust: z.number().min(0).max(1).default(0.3),
            network: z.number().min(0).max(1).default(0.1),
            filesystem: z.number().min(0).max(1).default(0.1),
            external_apis: z.number().min(0).max(1).default(0.1),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    events: eventsSchema.prefault({}),
    firewall: firewallSchema.prefault({}),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8787),
        body_limit: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
        /** Open connections at most; beyond it new ones are refused. */
        max_connections: z.number().int().min(1).max(1_000_000).default(4096),
        /** Longest time to receive a whole request. */
        request_timeout: durationSchema.refine((ms) => ms >= 1000 && ms <= 600_000, 'expected between 1s and 10m').default(30_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict();

export type WardenConfig = z.output<typeof configSchema>;
