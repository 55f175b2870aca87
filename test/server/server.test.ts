import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { parseTrustBundle } from '../../src/ledger/verify/trust.js';
import { verifyCheckpointNote } from '../../src/ledger/verify/log.js';
import { event, tempWarden, type TempWarden } from '../helpers/warden.js';

let t: TempWarden;
let app: FastifyInstance;

beforeAll(async () => {
  t = await tempWarden('sqlite');
  await t.w.ledger.append('default', [event(1), event(2)]);
  app = await buildServer(t.w);
});
afterAll(async () => {
  await app.close();
  await t.cleanup();
});

describe('HTTP server (public ledger endpoints)', () => {
  it('reports health and readiness', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('serves the trust bundle, and a checkpoint that verifies against it', async () => {
    const res = await app.inject({ url: '/.well-known/warden/trust.json' });
    expect(res.statusCode).toBe(200);
    const trust = parseTrustBundle(res.json());
    const cp = await app.inject({ url: '/v1/ledger/default/checkpoint' });
    expect(cp.headers['content-type']).toMatch(/text\/plain/);
    expect(verifyCheckpointNote(cp.body, trust).size).toBe(5);
  });

  it('answers bad input with 4xx in one error format, never leaking internals', async () => {
    const unknown = await app.inject({ url: '/.well-known/warden/trust.json?tenant=nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const bad = await app.inject({ url: '/v1/ledger/..%2Fetc/checkpoint' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('BAD_INPUT');
  });
});

describe('HTTP server errors', () => {
  it('answers unknown routes in the one error format', async () => {
    const res = await app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('OpenAPI', () => {
  it('serves an OpenAPI 3.1 document listing the routes with their schemas', async () => {
    const res = await app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/healthz', '/v1/whoami', '/v1/agents', '/.well-known/jwks.json', '/v1/ledger/{tenant}/checkpoint',
      '/v1/token', '/v1/decisions', '/v1/decisions/{id}/outcome', '/v1/approvals/{id}/approve', '/v1/policy', '/v1/policy/whatif',
      '/v1/passports/renew', '/v1/receipts/{seq}/proof',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
  });
});

describe('schema errors name the field', () => {
  it('unknown, missing and out-of-range fields are named in the 400', async () => {
    const op = (await t.w.operators.create('default', { id: 'schema-admin', roles: ['admin'] }, { withToken: true })).token?.token as string;
    const post = async (url: string, payload: Record<string, unknown>): Promise<string> => {
      const r = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${op}` }, payload });
      expect(r.statusCode).toBe(400);
      return (r.json() as { error: { message: string } }).error.message;
    };
    expect(await post('/v1/agents', { id: 'x1', colour: 'red' })).toBe('body: unknown field "colour"');
    expect(await post('/v1/agents', { type: 'agent' })).toBe('body: missing required field "id"');
    expect(await post('/v1/agents', { id: 'x2', tier: 'cloud' })).toBe('body.tier: must be one of "process", "container", "microvm", "docker"');
  });
});
