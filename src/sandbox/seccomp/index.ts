/**
 * The seccomp deny-list for the `process` sandbox tier. Named exports only: what is listed
 * here is the module's public surface; the BPF helpers and tables stay internal.
 */
export { buildSeccompProgram } from './program.js';
export { describeSeccompPolicy, type SeccompPolicyDescription, type SeccompRuleDescription } from './describe.js';
export { disassemble, runFilter, type FilterVerdict, type SeccompAction, type SeccompData } from './interpret.js';
export type { SeccompArch, SeccompOptions } from './policy.js';
