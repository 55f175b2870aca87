/**
 * What-if replay: evaluate a candidate policy against the tenant's last N decisions (the
 * requests stored with them) and report every decision that would change — before deploying.
 * Read-only: nothing is receipted and nothing is deployed.
 */
import { compilePolicy, type DecisionKind } from '../policy/engine.js';
import type { Store } from '../store/types.js';
import { DECISION_KIND, type DecisionRecordBody } from './gateway.js';

export interface WhatIfChange {
  decision_id: string;
  seq: number;
  agent: string;
  action: string;
  resource: string;
  before: DecisionKind;
  after: DecisionKind;
  policies_before: string[];
  policies_after: string[];
}

export interface WhatIfReport {
  candidate_version: string;
  evaluated: number;
  /** Decisions that could not be replayed (stored without a full request, or now invalid). */
  skipped: number;
  changed: WhatIfChange[];
}

export const MAX_WHATIF = 10_000;

export async function whatIf(store: Store, tenant: string, candidateText: string, last = 1000): Promise<WhatIfReport> {
  const candidate = compilePolicy(candidateText); // a policy that does not validate is refused here
  const records = await store.listRecords(tenant, DECISION_KIND, { limit: Math.min(Math.max(1, last), MAX_WHATIF) });
  const changed: WhatIfChange[] = [];
  let evaluated = 0;
  let skipped = 0;
  // Oldest first, so the report reads in the order things happened.
  for (const r of records.reverse()) {
    const d = JSON.parse(r.body) as DecisionRecordBody;
    if (!d.request?.principal || !d.policy_version) {
      skipped++;
      continue;
    }
    let after;
    try {
      after = candidate.evaluate(d.request);
    } catch {
      skipped++;
      continue;
    }
    evaluated++;
    if (after.decision !== d.decision) {
      changed.push({
        decision_id: d.id, seq: d.receipt.seq, agent: d.agent, action: d.request.action, resource: d.request.resource,
        before: d.decision, after: after.decision, policies_before: d.policies, policies_after: after.policies,
      });
    }
  }
  return { candidate_version: candidate.version, evaluated, skipped, changed };
}
