/**
 * The agent manifest (`agent.yaml`): the sandbox's public entry point for parsing, validating
 * and digesting manifests. Explicit exports only — each name here is public API.
 */
export { parseManifest, validateManifest, manifestDigest, canonicalManifest, ManifestError, MAX_MANIFEST_BYTES } from './manifest.js';
export type { ManifestIssue, ManifestOptions } from './manifest.js';
export { manifestJsonSchema, LIMITS, MANIFEST_VERSION, TIERS } from './schema.js';
export type { Manifest, Tier } from './schema.js';
export { grantPathProblem, protectedForms } from './paths.js';
export { normaliseAllowEntry } from './network.js';
