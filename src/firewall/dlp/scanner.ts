/**
 * The DLP scanner: one entry point for data leaving the boundary — tool arguments, HTTP
 * bodies, tool results — as a string or a JSON value.
 *
 * Detectors, in order of precedence when they claim the same characters: honeytokens,
 * Warden's specific credential formats, secretlint's recommended rules, generic
 * assignments/bearer tokens, then validated PII. Findings carry a masked excerpt (never the
 * secret), a span in the string they were found in and, for JSON input, that string's JSON
 * pointer — which is what {@link DlpScanner.apply} needs to redact in place.
 */
import type { Finding, ScanResult } from '../findings.js';
import type { Severity } from '../../events/security-events.js';
import { detectSecrets } from './secrets.js';
import { detectPii, PII_KINDS, type PiiKind } from './pii.js';
import { detectWithSecretlint } from './secretlint.js';
import type { HoneytokenSet } from './honeytokens.js';
import { resolveOverlaps, type RawMatch } from './match.js';
import { placeholderSecret } from './examples.js';
import { segment, segmentAt, type SegmentedText } from './segments.js';
import { describe, excerptFor } from './mask.js';
import { applyDlpActions, DEFAULT_DLP_POLICY, type DlpActionPolicy, type DlpApplyResult } from './apply.js';
import type { CountryCode } from 'libphonenumber-js';

export interface DlpScannerOptions {
  /** Warden's own credential detectors (PEM keys, JWTs, cloud keys, generic). Default on. */
  secrets?: boolean;
  /** secretlint's recommended preset on candidate regions. Default on. */
  secretlint?: boolean;
  /** PII detectors; `true` (default) for all, or the kinds to run. */
  pii?: boolean | readonly PiiKind[];
  /** Region for phone numbers without a country code. Default `US`. */
  defaultPhoneRegion?: CountryCode;
  /** Planted canaries to look for (detector `honeytoken`, severity critical). */
  honeytokens?: HoneytokenSet;
  /** Finding types to drop (e.g. `['email']`). */
  ignoreTypes?: readonly string[];
  /** Default action policy for {@link DlpScanner.apply}. */
  policy?: DlpActionPolicy;
  /** Findings kept per scan; more make the result incomplete (and `apply` block). Default 1,000. */
  maxFindings?: number;
  /** Characters covered per scan; beyond that the result is incomplete. Default 64 Mi. */
  maxChars?: number;
  /** JSON nodes walked per scan. Default 1,000,000. */
  maxNodes?: number;
}

export interface DlpScanStats {
  /** Strings (and long integers) scanned. */
  values: number;
  /** Characters scanned by the pattern detectors. */
  chars: number;
  /** Characters the secretlint prefilter passed on. */
  charsLinted: number;
  /** Raw matches before overlap resolution and the findings cap. */
  rawMatches: number;
}

export interface DlpScanResult extends ScanResult {
  /** The input was not covered completely (too large, or too many findings); see the `dlp_scan_incomplete` finding. */
  incomplete: boolean;
  stats: DlpScanStats;
}

/** A string, or any JSON value (objects, arrays, numbers…). */
export type DlpInput = string | number | boolean | null | readonly unknown[] | Readonly<Record<string, unknown>>;

export interface DlpScanner {
  /** All detectors, secretlint included (hence async). */
  scan(input: DlpInput): Promise<DlpScanResult>;
  /** All detectors except secretlint, synchronously (for hot paths and streaming chunks). */
  scanSync(input: DlpInput): DlpScanResult;
  /** Applies the scanner's policy (or `policy`) to findings of `input`. */
  apply<T extends DlpInput>(input: T, findings: readonly Finding[], policy?: DlpActionPolicy): DlpApplyResult<T>;
}

const WEIGHT: Record<Severity, number> = { info: 0.1, low: 0.3, medium: 0.5, high: 0.8, critical: 1 };

/**
 * Creates a DLP scanner.
 *
 * @example
 * ```ts
 * const scanner = createDlpScanner({ honeytokens, policy: { byType: { credit_card: 'redact' }, tokenizer } });
 * const result = await scanner.scan({ to: 'x@corp.io', body: 'card 4111 1111 1111 1111' });
 * const { output, blocked } = scanner.apply(input, result.findings);
 * ```
 */
export function createDlpScanner(options: DlpScannerOptions = {}): DlpScanner {
  const maxFindings = options.maxFindings ?? 1000;
  const limits = { maxChars: options.maxChars ?? 64 * 1024 * 1024, maxNodes: options.maxNodes ?? 1_000_000 };
  const piiKinds = options.pii === false ? undefined : new Set(options.pii === true || options.pii === undefined ? PII_KINDS : options.pii);
  const ignore = new Set(options.ignoreTypes ?? []);
  const policy = options.policy ?? DEFAULT_DLP_POLICY;

  function collect(seg: SegmentedText): RawMatch[] {
    const raw: RawMatch[] = [];
    options.honeytokens?.detect(seg.text, raw);
    if (options.secrets !== false) detectSecrets(seg.text, raw);
    if (piiKinds) detectPii(seg.text, raw, { kinds: piiKinds, ...(options.defaultPhoneRegion ? { defaultPhoneRegion: options.defaultPhoneRegion } : {}) });
    return raw;
  }

  function finish(seg: SegmentedText, raw: RawMatch[], charsLinted: number): DlpScanResult {
    // Placeholders and documented example credentials are dropped whichever detector found them.
    const kept = resolveOverlaps(raw.filter((m) => !ignore.has(m.type) && !(m.category === 'secret' && placeholderSecret(m.type, seg.text.slice(m.start, m.end)))));
    const findings: Finding[] = [];
    let incomplete = seg.incomplete;
    for (const m of kept) {
      const s = segmentAt(seg.segments, m.start);
      if (!s) continue;
      if (findings.length >= maxFindings) {
        incomplete = true;
        break;
      }
      const end = Math.min(m.end, s.end); // a match never extends past its own string
      const value = seg.text.slice(m.start, end);
      const where = s.path === undefined ? '' : ` at ${s.path || '/'}`;
      findings.push({
        detector: m.category === 'honeytoken' ? 'honeytoken' : 'dlp',
        type: m.type,
        severity: m.severity,
        span: { start: m.start - s.start, end: end - s.start },
        excerpt: excerptFor(m.type, value),
        ...(s.path === undefined ? {} : { path: s.path }),
        message: `${describe(m.type)}${where}`,
      });
    }
    if (incomplete) {
      findings.push({
        detector: 'dlp',
        type: 'dlp_scan_incomplete',
        severity: 'high',
        message: `the input was not scanned completely (over ${limits.maxChars} characters, ${limits.maxNodes} JSON nodes or ${maxFindings} findings)`,
      });
    }
    const score = findings.reduce((max, f) => Math.max(max, WEIGHT[f.severity]), 0);
    return { flagged: findings.length > 0, score, findings, incomplete, stats: { values: seg.values, chars: seg.text.length, charsLinted, rawMatches: raw.length } };
  }

  return {
    scanSync(input) {
      const seg = segment(input, limits);
      return finish(seg, collect(seg), 0);
    },
    async scan(input) {
      const seg = segment(input, limits);
      const raw = collect(seg);
      let charsLinted = 0;
      if (options.secretlint !== false && seg.text.length > 0) {
        const lint = await detectWithSecretlint(seg.text);
        raw.push(...lint.matches);
        charsLinted = lint.charsLinted;
      }
      return finish(seg, raw, charsLinted);
    },
    apply(input, findings, override) {
      return applyDlpActions(input, findings, override ?? policy);
    },
  };
}
