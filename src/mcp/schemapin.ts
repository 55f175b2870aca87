/**
 * SchemaPin signatures on MCP tool definitions (github.com/ThirdKeyAI/SchemaPin, spec v1.x):
 * the developer signs the tool's schema with an ECDSA P-256 key and publishes the public key at
 * `https://DOMAIN/.well-known/schemapin.json`; a client verifies the signature and pins the key
 * on first use.
 *
 * - Signed bytes: the tool object ({name, description, inputSchema[, outputSchema]}) in
 *   SchemaPin's canonical form — keys sorted at every level, no whitespace (not RFC 8785).
 * - Signature: base64 of an ASN.1 DER ECDSA signature over SHA-256(canonical), the digest being
 *   hashed again by ECDSA-with-SHA-256 (as the Python, JavaScript and Rust SDKs do).
 * - SchemaPin does not say where an MCP tool carries its signature; Warden reads it from the
 *   tool's `_meta["dev.schemapin/signature"]` (docs/mcp.md).
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

export const SIGNATURE_META_KEY = 'dev.schemapin/signature';
/** Largest discovery document read. */
export const MAX_DISCOVERY_BYTES = 64 * 1024;

/**
 * `unsigned`: no signing domain configured for the server (nothing to verify against);
 * `missing`: a domain is configured but the tool carries no signature; `no_key`: the domain's
 * key could not be fetched or read.
 */
export type SignatureStatus = 'valid' | 'unsigned' | 'missing' | 'invalid' | 'revoked' | 'key_changed' | 'no_key';

export interface SchemaPinDiscovery {
  public_key_pem: string;
  revoked_keys?: string[];
  developer_name?: string;
}

/** SchemaPin's canonical JSON: object keys sorted (by UTF-16 code units, as in the JS SDK), compact. */
export function schemaPinCanonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sort(o[k])]));
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

/** `sha256:` and the hex SHA-256 of the key's SubjectPublicKeyInfo (SchemaPin's key fingerprint). */
export function keyFingerprint(key: KeyObject): string {
  return `sha256:${createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

/** Parses a discovery document; throws with a reason when it is not one or its key is not P-256. */
export function parseDiscovery(doc: unknown): { key: KeyObject; fingerprint: string; revoked: Set<string> } {
  const d = doc as Partial<SchemaPinDiscovery> | null;
  if (!d || typeof d !== 'object' || typeof d.public_key_pem !== 'string' || !d.public_key_pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new Error('not a SchemaPin discovery document (public_key_pem missing)');
  }
  const key = createPublicKey(d.public_key_pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('the SchemaPin key is not ECDSA P-256');
  const revoked = new Set((Array.isArray(d.revoked_keys) ? d.revoked_keys : []).filter((x): x is string => typeof x === 'string'));
  return { key, fingerprint: keyFingerprint(key), revoked };
}

/** The part of an MCP tool definition SchemaPin signs. */
export function signedToolSchema(tool: { name: string; description?: string | undefined; inputSchema?: unknown; outputSchema?: unknown }): Record<string, unknown> {
  return {
    name: tool.name,
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    ...(tool.inputSchema !== undefined ? { inputSchema: tool.inputSchema } : {}),
    ...(tool.outputSchema !== undefined ? { outputSchema: tool.outputSchema } : {}),
  };
}

/** Verifies a base64 DER signature over a schema with a P-256 key. Never throws. */
export function verifySchemaSignature(schema: unknown, signatureB64: string, key: KeyObject): boolean {
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signatureB64) || signatureB64.length > 200) return false;
    const digest = createHash('sha256').update(schemaPinCanonical(schema), 'utf8').digest();
    return verify('sha256', digest, { key, dsaEncoding: 'der' }, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
