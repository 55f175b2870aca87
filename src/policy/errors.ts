import { WardenError } from '../errors.js';

/**
 * A policy text that cannot be accepted: it does not parse, lacks or repeats an `@id`, uses an
 * annotation wrongly, or fails strict validation against the Warden schema. `problems` lists
 * every problem found (each naming the policy id or the line), and the message lists them too.
 * Code BAD_INPUT: the CLI exits 2, the HTTP API answers 400.
 */
export class PolicyError extends WardenError {
  readonly problems: readonly string[];
  readonly headline: string;
  constructor(problems: readonly string[], headline = 'policy rejected') {
    const shown = problems.slice(0, 50);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    super('BAD_INPUT', `${headline}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  ${shown.join('\n  ')}${more}`);
    this.problems = problems;
    this.headline = headline;
    this.name = 'PolicyError';
  }
}
