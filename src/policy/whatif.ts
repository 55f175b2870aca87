/**
 * What-if replay: evaluates a candidate policy against the tenant's most recent decisions (the
 * requests the gateway stored with each, state records of kind `decision`) and reports every
 * decision that would come out differently — before the candidate is deployed.
 */
import { BadInputError } from '../errors.js';
import type { Store } from '../store/types.js';
import type { CompiledPolicy, DecisionKind, PolicyDecision, PolicyRequest } from './engine.js';

export const DECISION_KIND = 'decision';
export const MAX_WHATIF = 10_000;

export interface WhatIfChange {
  /** The decision record's id. */
  id: string;
  at: string;
  action: string;
  resource: string;
  agent: string | null;
  before: { decision: DecisionKind; policies: string[]; policy_version: string | null };
  after: PolicyDecision;
}

export interface WhatIfReport {
  /** Decisions replayed. */
  evaluated: number;
  /** Records without a complete stored request (e.g. denied before policy), or whose request the candidate refuses. */
  skipped: number;
  changes: WhatIfChange[];
}

interface StoredDecision {
  request?: PolicyRequest;
  decision?: DecisionKind;
  policies?: string[];
  policy_version?: string | null;
  agent?: string;
}

export async function whatIf(store: Store, tenant: string, candidate: CompiledPolicy, last = 100): Promise<WhatIfReport> {
  if (!Number.isInteger(last) || last < 1 || last > MAX_WHATIF) throw new BadInputError(`--last must be 1-${MAX_WHATIF}`);
  const rows = await store.listRecords(tenant, DECISION_KIND, { limit: last });
  const report: WhatIfReport = { evaluated: 0, skipped: 0, changes: [] };
  for (const row of rows) {
    let body: StoredDecision;
    try {
      body = JSON.parse(row.body) as StoredDecision;
    } catch {
      report.skipped++;
      continue;
    }
    const req = body.request;
    if (!req || typeof req !== 'object' || !req.principal || typeof body.decision !== 'string') {
      report.skipped++;
      continue;
    }
    let after: PolicyDecision;
    try {
      after = candidate.evaluate(req);
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      report.skipped++;
      continue;
    }
    report.evaluated++;
    if (after.decision !== body.decision) {
      report.changes.push({
        id: row.id,
        at: row.created_at,
        action: req.action,
        resource: req.resource,
        agent: body.agent ?? (req.principal.kind === 'agent' ? req.principal.id : null),
        before: { decision: body.decision, policies: body.policies ?? [], policy_version: body.policy_version ?? null },
        after,
      });
    }
  }
  return report;
}
