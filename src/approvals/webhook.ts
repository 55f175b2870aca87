/**
 * Tells humans that an approval waits: a POST of JSON to a webhook — the approval itself
 * (`generic`) or a Slack-compatible `{text}` (`slack`). Fire and forget: a slow or dead hook
 * never delays a decision; at most 16 notifications are in flight and the rest are dropped
 * (counted), each attempt times out after 5 s.
 */
import type { Approval } from './approvals.js';

const MAX_IN_FLIGHT = 16;
const TIMEOUT_MS = 5000;

export interface WebhookConfig {
  url: string;
  format: 'generic' | 'slack';
}

/** Slack mrkdwn control characters: agent-chosen text must not become a link or a mention. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function approvalMessage(a: Approval, format: WebhookConfig['format']): unknown {
  if (format === 'slack') {
    const who = [a.agent && `agent ${a.agent}`, a.human && `for ${a.human}`].filter(Boolean).join(' ');
    return {
      text: slackEscape(`Approval needed (${a.role}): ${who} wants ${a.action} on ${a.resource} — tenant ${a.tenant}, expires ${a.expires_at}. `) +
        `Approve: warden approvals approve ${a.id} --reason "…"`,
    };
  }
  return { type: 'approval.requested', approval: a };
}

export class ApprovalNotifier {
  readonly stats = { sent: 0, failed: 0, dropped: 0 };
  #inFlight = 0;

  constructor(private readonly config: WebhookConfig) {}

  notify(a: Approval): void {
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      this.stats.dropped++;
      return;
    }
    this.#inFlight++;
    void fetch(this.config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(approvalMessage(a, this.config.format)),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    })
      .then((res) => {
        if (res.ok) this.stats.sent++;
        else this.stats.failed++;
        return res.body?.cancel();
      })
      .catch(() => {
        this.stats.failed++;
      })
      .finally(() => {
        this.#inFlight--;
      });
  }
}
