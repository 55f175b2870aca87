/** Warden's encrypted secret store. Explicit exports only — each name here is public API. */
export { SecretStore, SECRET_KIND, MAX_SECRET_BYTES, MAX_SECRET_RECORDS } from './store.js';
export type { SecretChange, SecretChangeContext, SecretInfo } from './store.js';
export { SECRET_NAME, secretNameProblem, MAX_MANIFEST_SECRETS } from './name.js';
