/**
 * The decision gateway over HTTP: every decision receipted (allow or deny), annotations to
 * decision kinds, approvals with separation of duties and fail-secure expiry, cross-tenant
 * denial, encryption of sensitive payload fields at rest, and fail-closed behaviour.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server/app.js';
import { verifyEntry } from '../../src/ledger/verify/entry.js';
import { LogVerifier } from '../../src/ledger/verify/log.js';
import { verifyTlogProof } from '../../src/ledger/verify/proof.js';
import { exportLines, tempWarden, trustOf, type TempWarden } from '../helpers/warden.js';

const POLICY = `
@id("search-ok")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"search");

@id("summarise-with-redaction") @obligation("redact_pii, max_tokens:500")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"summarise");

@id("big-payments-need-approval") @approval("approver")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send")
when { context has amount && context.amount > 1000 };

@id("small-payments") 
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"payments.send")
when { context has amount && context.amount <= 1000 };

@id("no-shell") @reason("generic shell tools are forbidden")
forbid (principal, action, resource == Warden::Tool::"shell");

@id("shell-permit-that-loses")
permit (principal, action == Warden::Action::"tool.call", resource == Warden::Tool::"shell");
`;

let t: TempWarden;
let app: FastifyInstance;
let agentToken: string;
let delegated: string;
let approverToken: string;
let aliceToken: string;
let viewerToken: string;

// Response bodies are checked field by field; a loose type keeps the assertions readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;
interface Res { status: number; body: Record<string, Loose> }
async function call(method: 'GET' | 'POST', url: string, token?: string, payload?: unknown): Promise<Res> {
  const res = await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload !== undefined ? { payload: payload as string } : {}) });
  let body: Record<string, Loose>;
  try {
    body = res.json();
  } catch {
    body = { text: res.body };
  }
  return { status: res.statusCode, body };
}
const decide = (body: Record<string, unknown>, token = agentToken): Promise<Res> => call('POST', '/v1/decisions', token, body);
const receiptAt = async (seq: number): Promise<Record<string, Loose>> => JSON.parse((await exportLines(t.w))[seq] as string);

beforeAll(async () => {
  t = await tempWarden('sqlite', 'ledger:\n  sensitive_fields: [card]\ngateway:\n  approval_ttl: 2s\n');
  await t.w.ensureTenant('other');
  await t.w.policies.deploy('default', POLICY, { actor: { human: 'test' } });
  await t.w.agents.create('default', { id: 'payer', roles: ['finance'], capabilities: ['tool:search'] });
  agentToken = (await t.w.passports.issue('default', 'payer')).token;
  approverToken = (await t.w.operators.create('default', { id: 'paula', roles: ['approver'] }, { withToken: true })).token?.token as string;
  aliceToken = (await t.w.operators.create('default', { id: 'alice', roles: ['admin', 'approver'] }, { withToken: true })).token?.token as string;
  viewerToken = (await t.w.operators.create('default', { id: 'vic', roles: ['viewer'] }, { withToken: true })).token?.token as string;
  app = await buildServer(t.w);
  // alice delegates to the agent: alice is the human in its actor chain.
  const ex = await call('POST', '/v1/token', undefined, {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: aliceToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', agent: 'payer',
  });
  delegated = ex.body.access_token as string;
});

afterAll(async () => {
  await app.close();
  await t.cleanup();
});

describe('decisions', () => {
  it('an allowed action is allowed and receipted with the actor chain and policy version', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:search', context: { data_class: 'public' }, correlation_id: 'task-1' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ decision: 'allow', obligations: [], receipt: { tenant: 'default' } });
    expect(r.body.policy_version).toMatch(/^sha256:/);
    const rc = await receiptAt(r.body.receipt.seq);
    expect(rc).toMatchObject({
      kind: 'decision', action: 'tool.call', resource: 'tool:search', decision: 'allow', correlation_id: 'task-1',
      actor: { agent: 'payer' }, policy_version: r.body.policy_version, payload: { _warden: { decision_id: r.body.id, policies: ['search-ok'] } },
    });
  });

  it('without a correlation id, each decision gets a unique request id (never a per-process counter)', async () => {
    const a = await decide({ action: 'tool.call', resource: 'tool:search' });
    const b = await decide({ action: 'tool.call', resource: 'tool:search' });
    const [ra, rb] = [await receiptAt(a.body.receipt.seq), await receiptAt(b.body.receipt.seq)];
    expect(ra.correlation_id).toMatch(/^req_[A-Za-z0-9_-]{16}$/);
    expect(ra.correlation_id).not.toBe(rb.correlation_id);
  });

  it('(seed 1) an unauthorized action is denied AND receipted', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:delete_everything' });
    expect(r.body).toMatchObject({ decision: 'deny', reasons: ['no applicable permit'] });
    expect(await receiptAt(r.body.receipt.seq)).toMatchObject({ kind: 'decision', decision: 'deny', resource: 'tool:delete_everything', reasons: ['no applicable permit'] });
  });

  it('forbid beats permit; obligations give allow_with_conditions', async () => {
    const shell = await decide({ action: 'tool.call', resource: 'tool:shell' });
    expect(shell.body.decision).toBe('deny');
    expect(shell.body.reasons.join(' ')).toContain('generic shell tools are forbidden');
    const sum = await decide({ action: 'tool.call', resource: 'tool:summarise' });
    expect(sum.body).toMatchObject({ decision: 'allow_with_conditions', obligations: ['redact_pii', 'max_tokens:500'] });
  });

  it('(seed 2) receipts verify, and fail verification after tampering', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:search' });
    const lines = await exportLines(t.w);
    const trust = await trustOf(t.w);
    const v = new LogVerifier(trust);
    for (const l of lines) v.push(l);
    expect(v.finish().entries).toBe(lines.length);
    const line = lines[r.body.receipt.seq] as string;
    expect(() => verifyEntry(line.replace('"decision":"allow"', '"decision":"deny"'), trust, r.body.receipt.seq)).toThrow(/signature|canonical/);
    // The operator API serves the exact leaf and an offline-verifiable proof.
    const leaf = await call('GET', `/v1/receipts/${r.body.receipt.seq}`, aliceToken);
    expect(JSON.stringify(leaf.body)).toBe(JSON.stringify(JSON.parse(line)));
    const proof = await call('GET', `/v1/receipts/${r.body.receipt.seq}/proof`, aliceToken);
    expect(proof.status).toBe(200);
    expect(verifyTlogProof(proof.body.text as string, trust).index).toBe(r.body.receipt.seq);
  });

  it('(seed 5) sensitive payload values are not stored in plaintext', async () => {
    const secret = '4111-1111-1111-1111-SECRET';
    const r = await decide({ action: 'tool.call', resource: 'tool:search', payload: { card: secret, query: 'hats' } });
    expect(r.body.decision).toBe('allow');
    const rc = await receiptAt(r.body.receipt.seq);
    expect(rc.payload.card).toMatchObject({ $enc: 'A256GCM' });
    expect(rc.payload.query).toBe('hats');
    for (const f of ['warden.db', 'warden.db-wal']) {
      const p = join(t.dir, f);
      if (existsSync(p)) expect(readFileSync(p).includes(Buffer.from(secret)), f).toBe(false);
    }
  });

  it('a resource of another tenant is denied and flagged', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:search', tenant: 'other' });
    expect(r.body.decision).toBe('deny');
    expect(r.body.reasons[0]).toMatch(/cross-tenant/);
    const recent = t.w.events.recent('default');
    expect(recent.findLast((e) => e.category === 'cross_tenant')).toMatchObject({ severity: 'high', actor: { agent: 'payer' } });
    // …and detection turns it into an alert (seeds' criterion 3: blocked and alerted).
    expect(recent.findLast((e) => e.category === 'alert')).toMatchObject({ severity: 'high', details: { rule: 'cross_tenant', subject: 'agent:payer' } });
    expect((await exportLines(t.w, 'other')).some((l) => l.includes('payer'))).toBe(false);
  });

  it('bad input is a 400 and still receipted; operators cannot ask for decisions', async () => {
    const bad = await decide({ action: 'tool.call', resource: 'tool:search', context: { amount: 'ten' } });
    expect(bad.status).toBe(400);
    const last = JSON.parse((await exportLines(t.w)).at(-1) as string);
    expect(last).toMatchObject({ kind: 'decision', decision: 'deny' });
    expect(last.reasons[0]).toMatch(/^invalid request/);
    expect((await decide({ action: 'tool.call', resource: 'nonsense' })).status).toBe(400);
    expect((await decide({ action: 'tool.call', resource: 'tool:search' }, aliceToken)).status).toBe(403);
    expect((await decide({ action: 'tool.call', resource: 'tool:search' }, 'garbage')).status).toBe(401);
    expect((await decide({ action: 'tool.call', resource: 'tool:search', payload: { _warden: 1 } })).status).toBe(400);
  });
});

describe('the agent cannot talk its way in', () => {
  it('context fields Warden computes (human, service, risk, …) cannot be supplied by the agent', async () => {
    for (const k of ['human', 'service', 'risk', 'risk_level', 'delegated', 'granted']) {
      const r = await decide({ action: 'tool.call', resource: 'tool:search', context: { [k]: k === 'risk' ? 0 : 'ceo@example.com' } });
      expect(r.status, k).toBe(400);
      expect(r.body.error.message).toBe(`context.${k} is set by Warden, not by the caller`);
      expect(JSON.parse((await exportLines(t.w)).at(-1) as string)).toMatchObject({ kind: 'decision', decision: 'deny', reasons: [`invalid request: context.${k} is set by Warden, not by the caller`] });
    }
  });

  it("decisions use the registry's current capabilities: taking one away works on live passports", async () => {
    await t.w.agents.create('default', { id: 'fickle', capabilities: ['tool:weather'] });
    await t.w.policies.deploy('default', POLICY + '\n@id("granted") permit (principal, action == Warden::Action::"tool.call", resource) when { context.granted };', {});
    const token = (await t.w.passports.issue('default', 'fickle')).token;
    expect((await decide({ action: 'tool.call', resource: 'tool:weather' }, token)).body.decision).toBe('allow');
    await t.w.agents.update('default', 'fickle', { capabilities: [] });
    expect((await decide({ action: 'tool.call', resource: 'tool:weather' }, token)).body.decision).toBe('deny');
    await t.w.policies.deploy('default', POLICY, {});
  });

  it('an operator asking for a decision is refused and receipted; the bearer scheme is case-insensitive', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:search' }, aliceToken);
    expect(r.status).toBe(403);
    expect(JSON.parse((await exportLines(t.w)).at(-1) as string)).toMatchObject({ kind: 'auth', decision: 'deny', actor: { human: 'alice' }, reasons: ['agent passport required'] });
    const lower = await app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `bearer ${agentToken}` } });
    expect(lower.statusCode).toBe(200);
  });
});

describe('approvals', () => {
  it('require_approval → pending; the agent long-polls; an approver approves; the outcome is receipted', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:payments.send', context: { amount: 5000, currency: 'USD' } });
    expect(r.body).toMatchObject({ decision: 'require_approval', approval: { state: 'pending', role: 'approver' } });
    const id = r.body.approval.id as string;
    // The approver sees what it approves: the amount, currency and risk the policy saw.
    expect((await call('GET', `/v1/approvals/${id}`, approverToken)).body).toMatchObject({ context: { amount: 5000, currency: 'USD' }, correlation_id: expect.any(String) });
    expect((await call('GET', '/v1/approvals?state=pending', approverToken)).body.approvals.map((a: { id: string }) => a.id)).toContain(id);
    const poll = call('GET', `/v1/approvals/${id}?wait=5`, agentToken);
    const ok = await call('POST', `/v1/approvals/${id}/approve`, approverToken, { reason: 'invoice 42 checked' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await poll).body).toMatchObject({ state: 'approved', resolved_by: 'paula' });
    expect(JSON.parse((await exportLines(t.w)).at(-1) as string)).toMatchObject({ kind: 'approval', action: 'approval.approve', decision: 'allow', actor: { human: 'paula' } });
    const out = await call('POST', `/v1/decisions/${r.body.id}/outcome`, agentToken, { status: 'succeeded', details: { tx: 'abc' } });
    expect(out.status).toBe(201);
    expect(await receiptAt(out.body.receipt.seq)).toMatchObject({ kind: 'outcome', payload: { decision_id: r.body.id, allowed: true, status: 'succeeded' } });
    expect((await call('POST', `/v1/decisions/${r.body.id}/outcome`, agentToken, { status: 'succeeded' })).status).toBe(409);
    // Resolving twice is a conflict.
    expect((await call('POST', `/v1/approvals/${id}/deny`, approverToken, { reason: 'late' })).status).toBe(409);
  });

  it('an approver cannot approve their own request; a non-approver cannot approve at all', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:payments.send', context: { amount: 9999 } }, delegated);
    expect(r.body.decision).toBe('require_approval');
    const id = r.body.approval.id as string;
    const self = await call('POST', `/v1/approvals/${id}/approve`, aliceToken, { reason: 'me' });
    expect(self.status).toBe(403);
    expect(self.body.error.message).toMatch(/separation of duties/);
    expect(JSON.parse((await exportLines(t.w)).at(-1) as string)).toMatchObject({ kind: 'auth', decision: 'deny', actor: { human: 'alice' } });
    expect((await call('POST', `/v1/approvals/${id}/approve`, viewerToken, { reason: 'x' })).status).toBe(403);
    expect((await call('POST', `/v1/approvals/${id}/deny`, approverToken, { reason: 'no' })).body).toMatchObject({ state: 'denied' });
    const out = await call('POST', `/v1/decisions/${r.body.id}/outcome`, delegated, { status: 'succeeded' });
    expect(await receiptAt(out.body.receipt.seq)).toMatchObject({ kind: 'outcome', payload: { allowed: false } });
  });

  it('an approval past expiry is a deny (fail secure)', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:payments.send', context: { amount: 2000 } });
    const id = r.body.approval.id as string;
    await new Promise((res) => setTimeout(res, 2200));
    const late = await call('POST', `/v1/approvals/${id}/approve`, approverToken, { reason: 'too late' });
    expect(late.status).toBe(409);
    expect((await call('GET', `/v1/approvals/${id}`, agentToken)).body).toMatchObject({ state: 'expired' });
    expect((await exportLines(t.w)).map((l) => JSON.parse(l)).filter((x) => x.action === 'approval.expire' && x.payload.approval_id === id)).toHaveLength(1);
  });
});

describe('once only, across processes', () => {
  it('an approval resolved concurrently by two processes ends in exactly one state with one receipt', async () => {
    const other = await t.reopen(); // another "process" on the same store: its own locks
    const r = await decide({ action: 'tool.call', resource: 'tool:payments.send', context: { amount: 7777 } });
    const id = r.body.approval.id as string;
    const results = await Promise.allSettled([
      t.w.approvals.resolve('default', id, { human: 'paula', roles: ['approver'] }, 'approve', 'ok'),
      other.approvals.resolve('default', id, { human: 'bob', roles: ['approver'] }, 'deny', 'no'),
    ]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((x) => x.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT' });
    const resolutions = (await exportLines(t.w)).map((l) => JSON.parse(l)).filter((x) => x.kind === 'approval' && x.payload.approval_id === id);
    expect(resolutions).toHaveLength(1);
    expect((await t.w.approvals.get('default', id)).state).toBe(resolutions[0].payload.state);
  });

  it('concurrent outcome reports: one is receipted, the others get 409', async () => {
    const r = await decide({ action: 'tool.call', resource: 'tool:search' });
    const reports = await Promise.all([0, 1, 2].map((i) => call('POST', `/v1/decisions/${r.body.id}/outcome`, agentToken, { status: i ? 'failed' : 'succeeded' })));
    expect(reports.map((x) => x.status).sort()).toEqual([201, 409, 409]);
    expect((await exportLines(t.w)).map((l) => JSON.parse(l)).filter((x) => x.kind === 'outcome' && x.payload.decision_id === r.body.id)).toHaveLength(1);
  });
});

describe('fail closed', () => {
  it('a policy-store error is a receipted deny', async () => {
    const orig = t.w.policies.active.bind(t.w.policies);
    t.w.policies.active = async () => {
      throw new Error('disk on fire');
    };
    try {
      const r = await decide({ action: 'tool.call', resource: 'tool:search' });
      expect(r.body).toMatchObject({ decision: 'deny' });
      expect(r.body.reasons[0]).toMatch(/^policy evaluation failed/);
      expect(await receiptAt(r.body.receipt.seq)).toMatchObject({ decision: 'deny' });
    } finally {
      t.w.policies.active = orig;
    }
  });

  it('a storage failure is a deny that says it was not recorded (never an unrecorded allow)', async () => {
    const orig = t.w.store.append.bind(t.w.store);
    t.w.store.append = async () => {
      throw new Error('database is locked');
    };
    try {
      const r = await decide({ action: 'tool.call', resource: 'tool:search' });
      expect(r.body).toMatchObject({ decision: 'deny', receipt: null });
    } finally {
      t.w.store.append = orig;
    }
    expect(t.w.gateway.unrecorded).toBeGreaterThan(0);
  });

  it('a tenant without a policy denies everything', async () => {
    await t.w.agents.create('other', { id: 'lonely' });
    const token = (await t.w.passports.issue('other', 'lonely')).token;
    const r = await decide({ action: 'tool.call', resource: 'tool:search' }, token);
    expect(r.body).toMatchObject({ decision: 'deny', reasons: ['no policy deployed for this tenant'] });
  });

  it('metrics count decisions by outcome', async () => {
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(/warden_decisions_total\{decision="allow"\} \d+/);
    expect(m.body).toMatch(/warden_decisions_total\{decision="deny"\} \d+/);
    expect(m.body).toMatch(/warden_security_events_total\{category="cross_tenant",severity="high"\} 1/);
  });
});

describe('policy over HTTP: versions, what-if, deploy, rollback', () => {
  const WITHOUT_SEARCH = POLICY.replace(/@id\("search-ok"\)\npermit[^;]*;/, '');

  it('what-if replays recent decisions against a candidate and reports what would change; nothing is deployed', async () => {
    const before = (await call('GET', '/v1/policy', viewerToken)).body.version as string;
    const r = await call('POST', '/v1/policy/whatif', viewerToken, { text: WITHOUT_SEARCH, last: 500 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.evaluated).toBeGreaterThan(3);
    const searches = r.body.changes.filter((c: { resource: string }) => c.resource === 'tool:search');
    expect(searches.length).toBeGreaterThan(0);
    expect(searches[0]).toMatchObject({ before: { decision: 'allow', policies: ['search-ok'] }, after: { decision: 'deny' }, agent: 'payer' });
    // Only the retired permit's decisions change (and those of a policy deployed only briefly in between).
    expect(r.body.changes.every((c: { resource: string; agent: string }) => c.resource === 'tool:search' || c.agent === 'fickle')).toBe(true);
    expect((await call('GET', '/v1/policy', viewerToken)).body.version).toBe(before);
    expect((await call('POST', '/v1/policy/whatif', viewerToken, { text: 'permit (principal, action, resource);' })).status).toBe(400);
  });

  it('deploy needs policy:write, is receipted, takes effect at once; rollback restores the previous version', async () => {
    expect((await call('POST', '/v1/policy', viewerToken, { text: WITHOUT_SEARCH })).status).toBe(403);
    const old = (await call('GET', '/v1/policy', aliceToken)).body.version as string;
    const d = await call('POST', '/v1/policy', aliceToken, { text: WITHOUT_SEARCH, reason: 'retire search' });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    expect(JSON.parse((await exportLines(t.w)).at(-1) as string)).toMatchObject({ kind: 'policy', actor: { human: 'alice' } });
    const denied = await decide({ action: 'tool.call', resource: 'tool:search' });
    expect(denied.body).toMatchObject({ decision: 'deny', policy_version: d.body.version });
    const rb = await call('POST', '/v1/policy/rollback', aliceToken, {});
    expect(rb.status, JSON.stringify(rb.body)).toBe(200);
    expect((await call('GET', '/v1/policy', aliceToken)).body.version).toBe(old);
    expect((await decide({ action: 'tool.call', resource: 'tool:search' })).body.decision).toBe('allow');
    expect((await call('GET', '/v1/policy/versions', viewerToken)).body.versions.length).toBeGreaterThanOrEqual(2);
    const invalid = await call('POST', '/v1/policy', aliceToken, { text: '@id("x") permit (principal, action == Warden::Action::"nope", resource);' });
    expect(invalid.status).toBe(400);
  });
});

describe('approval webhook payloads', () => {
  it('escapes agent-chosen text in Slack messages (no injected links or mentions)', async () => {
    const { approvalMessage } = await import('../../src/approvals/webhook.js');
    const a = {
      id: 'apr_xxxxxxxxxxxxxxxx', tenant: 'default', decision_id: 'dec_x', role: 'approver', state: 'pending' as const, agent: 'bot', human: null, service: null,
      action: 'tool.call', resource: 'tool:x <https://evil.example|Approve here> <!channel>', context: {}, reasons: [], correlation_id: null,
      requested_at: '', expires_at: '', resolved_at: null, resolved_by: null, reason: null,
    };
    const text = (approvalMessage(a, 'slack') as { text: string }).text;
    expect(text).not.toContain('<https://evil.example');
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;https://evil.example|Approve here&gt;');
    expect(approvalMessage(a, 'generic')).toEqual({ type: 'approval.requested', approval: a });
  });
});
