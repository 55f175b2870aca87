/** Worker thread of compilePolicyAsync (engine.ts): parses and validates one policy text. */
import { parentPort } from 'node:worker_threads';
import { checkPolicyText, type CompileResult } from './engine.js';
import { PolicyError } from './errors.js';

parentPort?.once('message', (text: string) => {
  let result: CompileResult;
  try {
    result = checkPolicyText(text);
  } catch (err) {
    result = err instanceof PolicyError
      ? { problems: [...err.problems], headline: err.headline }
      : { error: (err as Error).message };
  }
  parentPort?.postMessage(result);
});
