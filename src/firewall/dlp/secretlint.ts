/**
 * secretlint's recommended rules as a DLP detector, behind a prefilter.
 *
 * Two deliberate departures from running the preset as-is:
 * - The `filter-comments` rule is left out. It honours `secretlint-disable` comments inside the
 *   scanned text — which here is attacker-controlled data, so it would let the data switch
 *   the detector off.
 * - Only candidate regions reach secretlint: windows around token-like runs (16+ characters
 *   mixing letters and digits) and around `scheme://user:pass@` credentials. Every recommended
 *   rule needs one of those, and ordinary prose, logs and code rarely have them, so the cost of
 *   secretlint (a full parse per call) is paid on a small fraction of the text.
 */
import { lintSource } from '@secretlint/core';
import { rules as recommendedRules } from '@secretlint/secretlint-rule-preset-recommend';
import type { SecretLintCoreConfig } from '@secretlint/types';
import { PRIORITY, type RawMatch } from './match.js';

const CONFIG: SecretLintCoreConfig = {
  rules: recommendedRules
    .filter((rule) => rule.meta.id !== '@secretlint/secretlint-rule-filter-comments')
    .map((rule) => ({ id: rule.meta.id, rule })),
};

/** Warden's finding types for secretlint rules (by rule, then by message id where a rule reports several kinds). */
function typeFor(ruleId: string, messageId: string): string {
  const short = ruleId.replace('@secretlint/secretlint-rule-', '');
  if (short === 'aws') return /secret/i.test(messageId) ? 'aws_secret_key' : /account/i.test(messageId) ? 'aws_account_id' : 'aws_access_key';
  const known: Record<string, string> = {
    privatekey: 'private_key',
    basicauth: 'url_credentials',
    'database-connection-string': 'database_credentials',
    github: 'github_token',
    slack: 'slack_token',
    gcp: 'gcp_service_account',
    npm: 'npm_token',
    openai: 'openai_api_key',
    anthropic: 'anthropic_api_key',
    sendgrid: 'sendgrid_api_key',
    shopify: 'shopify_token',
    '1password': 'onepassword_token',
    'hashicorp-vault': 'vault_token',
    huggingface: 'huggingface_token',
    gitlab: 'gitlab_token',
  };
  return known[short] ?? `${short.replace(/-/g, '_')}_secret`;
}

export interface Region {
  /** Offset of the region in the original text. */
  start: number;
  end: number;
}

const MAX_LINE = 2048;
const WINDOW = 256;

/** Regions of `text` worth showing secretlint: lines (or windows in long lines) around candidates. */
export function candidateRegions(text: string): Region[] {
  const regions: Region[] = [];
  // Hits arrive sorted; the current line's bounds are cached so each character is scanned for
  // newlines a bounded number of times (a lastIndexOf per hit would be quadratic on one long line).
  let lineStart = 0;
  let lineEnd = -1;
  const push = (at: number, end: number): void => {
    if (at > lineEnd) {
      lineStart = text.lastIndexOf('\n', at) + 1;
      lineEnd = text.indexOf('\n', at);
      if (lineEnd < 0) lineEnd = text.length;
    }
    let s = lineStart;
    let e = Math.max(lineEnd, Math.min(text.length, end));
    if (e - s > MAX_LINE) {
      s = Math.max(s, at - WINDOW);
      e = Math.min(e, end + WINDOW);
    }
    const last = regions[regions.length - 1];
    if (last && s <= last.end) last.end = Math.max(last.end, e);
    else regions.push({ start: s, end: e });
  };
  // One pass each: token-like runs with both letters and digits, and URL userinfo.
  const token = /[A-Za-z0-9_\-+/=.]{16,1024}/g; // bounded: a longer run yields several hits, merged below
  const userinfo = /:\/\/[^\s:@/]{1,100}:[^\s@/]{1,200}@/g;
  const hits: Region[] = [];
  for (let m = token.exec(text); m; m = token.exec(text)) {
    if (/[0-9]/.test(m[0]) && /[A-Za-z]/.test(m[0])) hits.push({ start: m.index, end: m.index + m[0].length });
  }
  for (let m = userinfo.exec(text); m; m = userinfo.exec(text)) hits.push({ start: m.index, end: m.index + m[0].length });
  hits.sort((a, b) => a.start - b.start);
  for (const h of hits) push(h.start, h.end);
  return regions;
}

/** Runs secretlint's recommended rules on the candidate regions of `text`; spans refer to `text`. */
export async function detectWithSecretlint(text: string): Promise<{ matches: RawMatch[]; charsLinted: number }> {
  const regions = candidateRegions(text);
  if (regions.length === 0) return { matches: [], charsLinted: 0 };
  // Regions are joined with newlines so one secretlint call covers them all; `offsets` maps back.
  const parts: string[] = [];
  const offsets: Array<{ joined: number; original: number; length: number }> = [];
  let joined = 0;
  for (const r of regions) {
    const part = text.slice(r.start, r.end);
    offsets.push({ joined, original: r.start, length: part.length });
    parts.push(part);
    joined += part.length + 1;
  }
  const content = parts.join('\n');
  const result = await lintSource({
    source: { filePath: 'warden-dlp-input.txt', content, ext: '.txt', contentType: 'text' },
    options: { config: CONFIG, maskSecrets: true, noPhysicFilePath: true },
  });
  const matches: RawMatch[] = [];
  for (const msg of result.messages) {
    if (msg.type !== 'message') continue;
    const [s, e] = msg.range;
    let lo = 0;
    let hi = offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((offsets[mid]?.joined ?? 0) <= s) lo = mid;
      else hi = mid - 1;
    }
    const o = offsets[lo];
    if (!o || e > o.joined + o.length) continue; // crosses a join: not a real span
    const type = typeFor(msg.ruleId, msg.messageId);
    if (type === 'aws_account_id') continue; // an account number is an identifier, not a credential
    matches.push({ type, category: 'secret', severity: 'high', start: o.original + s - o.joined, end: o.original + e - o.joined, priority: PRIORITY.secretlint });
  }
  return { matches, charsLinted: content.length };
}
