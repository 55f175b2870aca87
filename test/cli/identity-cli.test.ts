import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden } from '../../src/context.js';
import { certificateThumbprint } from '../../src/identity/ca.js';
import { artifactMessage } from '../../src/identity/passports.js';

const CLI = resolve(process.cwd(), 'dist/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'warden-idcli-'));
const data = join(tmp, 'data');

function w(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, '--data', data], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  expect(spawnSync(process.execPath, [CLI, 'init', '--data', data], { encoding: 'utf8' }).status).toBe(0);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('warden agents / passports CLI', () => {
  it('creates, lists, shows, suspends, resumes, quarantines and deletes agents', () => {
    expect(w('agents', 'create', '--id', 'bot', '--role', 'reader', '--role', 'writer', '--capability', 'tool:search', '--capability', 'files:read', '--owner', 'alice').code).toBe(0);
    expect(w('agents', 'create', '--id', 'bot').code).toBe(1); // exists: CONFLICT
    expect(w('agents', 'create', '--id', 'Bad!').code).toBe(2);
    expect(w('agents', 'create', '--id', 'x', '--tier', 'nope').code).toBe(2);
    const list = JSON.parse(w('agents', 'list', '--json').out) as { id: string; roles: string[]; state: string }[];
    expect(list).toEqual([expect.objectContaining({ id: 'bot', roles: ['reader', 'writer'], state: 'active' })]);
    expect(w('agents', 'show', 'bot').out).toMatch(/roles: +reader, writer/);
    expect(w('agents', 'show', 'ghost').code).toBe(2);
    expect(w('agents', 'suspend', 'bot').out).toBe('agent bot is suspended\n');
    expect(w('passports', 'issue', '--agent', 'bot').code).toBe(1); // FORBIDDEN: not active
    expect(w('agents', 'resume', 'bot').code).toBe(0);
    expect(w('agents', 'update', 'bot', '--trust-level', '7').code).toBe(0);
    // Repeatable options replace the lists.
    expect(w('agents', 'update', 'bot', '--role', 'reader', '--role', 'auditor', '--capability', 'tool:search', '--capability', 'files:read').code).toBe(0);
    expect(w('agents', 'show', 'bot').out).toMatch(/roles: +reader, auditor/);
    expect(w('agents', 'create', '--id', 'gone').code).toBe(0);
    expect(w('agents', 'quarantine', 'gone').code).toBe(0);
    expect(w('agents', 'delete', 'gone').code).toBe(0);
    expect((JSON.parse(w('agents', 'list', '--json').out) as unknown[]).length).toBe(1);
    expect((JSON.parse(w('agents', 'list', '--all', '--json').out) as unknown[]).length).toBe(2);
  });

  it('issues a passport (only the JWT on stdout) and revokes by jti and by agent', async () => {
    const r = w('passports', 'issue', '--agent', 'bot', '--ttl', '5m', '--scope', 'files:read');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const token = r.out.trim();
    const c = decodeJwt(token);
    expect(c).toMatchObject({ sub: 'bot', tenant: 'default', scope: ['files:read'] });
    expect((c.exp as number) - Math.floor(c.iat as number)).toBeLessThanOrEqual(300);
    expect(w('passports', 'issue', '--agent', 'bot', '--ttl', '2h').code).toBe(2);
    expect(w('passports', 'issue', '--agent', 'bot', '--ttl', 'soon').code).toBe(2);

    const warden = await openWarden(data);
    try {
      expect((await warden.passports.verify(token)).claims.sub).toBe('bot');
    } finally {
      await warden.close();
    }
    expect(w('passports', 'revoke', c.jti as string).code).toBe(0);
    expect(w('passports', 'revoke').code).toBe(2);
    const again = await openWarden(data);
    try {
      await expect(again.passports.verify(token)).rejects.toMatchObject({ code: 'AUTH_FAILED', message: 'passport revoked' });
      const second = w('passports', 'issue', '--agent', 'bot').out.trim();
      expect((await again.passports.verify(second)).claims.sub).toBe('bot');
      expect(w('passports', 'revoke', '--agent', 'bot').code).toBe(0);
      await new Promise((res) => setTimeout(res, 1100)); // the other process's revocation: picked up on refresh
      await expect(again.passports.verify(second)).rejects.toMatchObject({ message: 'passport revoked' });
    } finally {
      await again.close();
    }
  });
});

describe('warden operators CLI', () => {
  it('creates (token printed once), lists, revokes tokens and disables operators', async () => {
    const r = w('operators', 'create', '--id', 'carol', '--role', 'developer', '--role', 'viewer', '--name', 'Carol');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^wdn_[A-Za-z0-9_-]{16}_[A-Za-z0-9_-]{43}\n$/);
    const token = r.out.trim();
    const tokenId = token.slice(4, 20);
    expect(w('operators', 'create', '--id', 'carol').code).toBe(1); // CONFLICT
    expect(w('operators', 'create', '--id', 'x', '--role', 'root').code).toBe(2);
    const list = w('operators', 'list');
    expect(list.out).toContain('carol\tactive\tdeveloper,viewer\tCarol');
    expect(list.out).toContain(`token ${tokenId}`);
    expect(list.out).not.toContain(token);
    const wd = await openWarden(data);
    try {
      expect((await wd.operators.authenticate(token)).operator.id).toBe('carol');
    } finally {
      await wd.close();
    }
    expect(w('operators', 'revoke', tokenId).code).toBe(0);
    expect(w('operators', 'revoke', 'AAAAAAAAAAAAAAAA').code).toBe(2); // NOT_FOUND
    expect(w('operators', 'list', '--json').out).toContain('"revoked_at": "');
    expect(w('operators', 'disable', 'carol').out).toBe('operator carol is disabled\n');
    expect(w('operators', 'disable', 'ghost').code).toBe(2);
    const again = await openWarden(data);
    try {
      await expect(again.operators.authenticate(token)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      const actions = (await again.store.getReceipts('default', 0, 10_000))
        .filter((x) => x.kind === 'operator')
        .map((x) => (JSON.parse(x.leaf) as { action: string }).action);
      expect(actions).toEqual(['operator.create', 'operator.token.create', 'operator.token.revoke', 'operator.disable']);
    } finally {
      await again.close();
    }
  });
});

describe('warden agents keys CLI', () => {
  it('agent keys: registers a public key, verifies artifacts (exit 0 valid / 1 invalid), binds passports to a certificate', () => {
    const k = generateKeyPairSync('ed25519');
    const pub = k.publicKey.export({ format: 'jwk' }).x as string;
    expect(w('agents', 'create', '--id', 'signer', '--public-key', pub).code).toBe(0);
    expect(w('agents', 'show', 'signer').out).toContain(`public key:   ${pub}`);
    expect(w('agents', 'create', '--id', 'badkey', '--public-key', 'not-a-key').code).toBe(2);
    const file = join(tmp, 'artifact.json');
    writeFileSync(file, JSON.stringify({ task: 't-1', result: 'done' }));
    const sig = sign(null, artifactMessage({ result: 'done', task: 't-1' }), k.privateKey).toString('base64url');
    const ok = w('agents', 'verify-artifact', 'signer', '--artifact', file, '--signature', sig);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^valid/);
    writeFileSync(file, JSON.stringify({ task: 't-1', result: 'forged' }));
    expect(w('agents', 'verify-artifact', 'signer', '--artifact', file, '--signature', sig).code).toBe(1);
    expect(w('agents', 'verify-artifact', 'signer', '--artifact', join(tmp, 'missing.json'), '--signature', sig).code).toBe(2);
    expect(w('agents', 'update', 'signer', '--public-key', 'none').code).toBe(0);
    expect(w('agents', 'verify-artifact', 'signer', '--artifact', file, '--signature', sig).code).toBe(2); // no key registered
    // --cert binds the passport (cnf.x5t#S256) to the certificate's SHA-256 thumbprint.
    expect(w('ca', 'init', '--trust-domain', 'cli.test').code).toBe(0);
    const certFile = join(tmp, 'signer.pem');
    const issued = w('ca', 'issue', '--agent', 'signer', '--out-cert', certFile, '--out-key', join(tmp, 'signer.key'));
    expect(issued.code, issued.err).toBe(0);
    const pem = readFileSync(certFile, 'utf8');
    const bound = w('passports', 'issue', '--agent', 'signer', '--cert', certFile);
    expect(bound.code, bound.err).toBe(0);
    expect(decodeJwt(bound.out.trim()).cnf).toEqual({ 'x5t#S256': certificateThumbprint(pem) });
    expect(w('passports', 'issue', '--agent', 'signer', '--cert', join(tmp, 'nope.pem')).code).toBe(2);
    // Another agent's certificate would make the passport unusable: refused.
    const otherCert = join(tmp, 'other.pem');
    expect(w('ca', 'issue', '--agent', 'other', '--out-cert', otherCert, '--out-key', join(tmp, 'other.key')).code).toBe(0);
    const mismatch = w('passports', 'issue', '--agent', 'signer', '--cert', otherCert);
    expect(mismatch.code).toBe(2);
    expect(mismatch.err).toContain('is not agent "signer"');
    // Certificates only for tenants that exist.
    expect(w('ca', 'issue', '--tenant', 'nope', '--agent', 'x', '--out-cert', join(tmp, 'x.pem'), '--out-key', join(tmp, 'x.key')).code).toBe(2);
  });
});
