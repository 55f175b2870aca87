/**
 * Payload formats for HTTP sinks: Warden's own JSON, a Slack-compatible message and a
 * PagerDuty Events API v2 `trigger`. Text that came from agents or attackers (resources,
 * reasons, subjects) is escaped for Slack's mrkdwn so it cannot forge links or mentions.
 */
import type { SinkEvent } from './sink-event.js';

export const FORMATS = ['generic', 'slack', 'pagerduty'] as const;
export type SinkFormat = (typeof FORMATS)[number];

/** Slack mrkdwn control characters (&, <, >) — `<!channel>` or `<http://x|y>` must stay text. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One line saying what happened, from the event's own fields. */
export function summary(e: SinkEvent): string {
  const d = e.details;
  const what = e.category === 'alert' ? `alert ${String(d.rule)} on ${String(d.subject)}` : e.category;
  const action = typeof d.action === 'string' ? ` ${d.action}` : '';
  const resource = typeof d.resource === 'string' ? ` ${d.resource}` : '';
  const who = e.actor.agent ?? e.actor.human ?? e.actor.service;
  return `[${e.severity}] ${what}${action}${resource}${who ? ` by ${who}` : ''} (tenant ${e.tenant})`.slice(0, 1000);
}

const PD_SEVERITY: Record<string, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical', high: 'error', medium: 'warning', low: 'info', info: 'info',
};

export function formatEvent(e: SinkEvent, format: SinkFormat, options: { routingKey?: string | undefined; source?: string } = {}): unknown {
  switch (format) {
    case 'generic':
      return { type: 'warden.event', event: e };
    case 'slack':
      return {
        text: slackEscape(summary(e)),
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `*Warden ${slackEscape(e.category)}* (${e.severity})\n${slackEscape(summary(e))}` } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(`event ${e.id}${e.receipt ? ` · receipt ${e.receipt.tenant}#${e.receipt.seq}` : ''}${e.correlation_id ? ` · correlation ${e.correlation_id}` : ''}`) }] },
        ],
      };
    case 'pagerduty':
      return {
        routing_key: options.routingKey ?? '',
        event_action: 'trigger',
        // Repeats of one alert (same rule and subject) group into one PagerDuty incident.
        dedup_key: e.category === 'alert' ? `warden:${e.tenant}:${String(e.details.rule)}:${String(e.details.subject)}` : `warden:${e.id}`,
        payload: {
          summary: summary(e),
          source: options.source ?? 'warden',
          severity: PD_SEVERITY[e.severity] ?? 'info',
          timestamp: e.ts,
          component: e.actor.agent ?? undefined,
          group: e.tenant,
          class: e.category,
          custom_details: { event_id: e.id, receipt: e.receipt, correlation_id: e.correlation_id, actor: e.actor, details: e.details },
        },
      };
  }
}
