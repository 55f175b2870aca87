/**
 * Timeline renderings: plain text for terminals and one self-contained HTML file (inline
 * styles, no scripts, no external resources) an investigator can attach to a ticket. Every
 * value in the HTML is escaped: reasons, resources and details come from agents and attackers.
 */
import type { Timeline, TimelineEntry } from './timeline.js';

function actorText(a: TimelineEntry['actor']): string {
  return [a.human && `human ${a.human}`, a.agent && `agent ${a.agent}`, a.service && `service ${a.service}`].filter(Boolean).join(' → ') || '-';
}

function line(e: TimelineEntry): string {
  if (e.receipt) {
    const r = e.receipt;
    const what = [r.action, r.resource, r.decision].filter(Boolean).join(' ');
    return `${e.ts}  receipt #${r.seq} ${r.kind}  ${what}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}  [${actorText(e.actor)}]  ${r.verification === 'verified' ? `✓ verified (checkpoint ${r.checkpoint_size})` : r.verification}`;
  }
  const ev = e.event as NonNullable<TimelineEntry['event']>;
  const d = ev.details;
  const what = ev.category === 'alert' ? `${String(d.rule)} on ${String(d.subject)}` : [d.action, d.resource, d.decision].filter((x) => typeof x === 'string').join(' ');
  return `${e.ts}  event ${ev.severity.toUpperCase()} ${ev.category}  ${what}  [${actorText(e.actor)}]${ev.receipt ? `  → receipt #${ev.receipt.seq}` : ''}`;
}

export function timelineText(t: Timeline): string {
  const head = `Timeline of ${t.query.correlation_id !== undefined ? `correlation id ${t.query.correlation_id}` : `agent ${String(t.query.agent)}`} in tenant ${t.tenant} (${t.entries.length} entries${t.truncated ? ', truncated' : ''})`;
  return [head, ...t.entries.map(line)].join('\n') + '\n';
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

export function timelineHtml(t: Timeline): string {
  const invalid = t.entries.filter((e) => e.receipt && e.receipt.verification !== 'verified').length;
  const rows = t.entries.map((e) => {
    const cls = e.receipt ? (e.receipt.verification === 'verified' ? 'ok' : 'bad') : `sev-${e.event?.severity ?? 'info'}`;
    const detail = e.receipt ?? e.event?.details ?? {};
    return `<tr class="${cls}"><td>${esc(e.ts)}</td><td>${esc(e.type)}</td><td>${esc(line(e).slice(e.ts.length + 2))}</td><td><details><summary>details</summary><pre>${esc(JSON.stringify(detail, null, 2))}</pre></details></td></tr>`;
  });
  const title = `Warden timeline — ${t.query.correlation_id !== undefined ? `correlation ${t.query.correlation_id}` : `agent ${String(t.query.agent)}`}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
tr.ok td:first-child{border-left:4px solid #2a2}tr.bad td{background:#fdd}tr.sev-high td:first-child,tr.sev-critical td:first-child{border-left:4px solid #d22}
tr.sev-medium td:first-child{border-left:4px solid #e90}pre{white-space:pre-wrap;margin:0;font-size:12px}.summary{margin:1em 0;padding:8px;background:#f4f4f4}
</style></head><body>
<h1>${esc(title)}</h1>
<div class="summary">Tenant <b>${esc(t.tenant)}</b> · generated ${esc(t.generated_at)} · ${t.entries.length} entries${t.truncated ? ' (truncated)' : ''} ·
${invalid === 0 ? 'every receipt verified' : `<b>${invalid} receipt(s) FAILED verification</b>`}${t.checkpoint ? ` against checkpoint of size ${t.checkpoint.size}` : ''}</div>
<table><thead><tr><th>time</th><th>type</th><th>what</th><th></th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
${t.checkpoint ? `<h2>Signed checkpoint</h2><pre>${esc(t.checkpoint.note)}</pre>` : ''}
</body></html>
`;
}
