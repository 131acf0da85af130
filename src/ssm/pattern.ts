import { createContext, Script } from 'node:vm';
import { InvalidAllowedPatternException, ParameterPatternMismatchException } from './errors.ts';

/**
 * AllowedPattern: a regular expression the value must match (searched, not implicitly anchored: AWS's
 * own example is ^\d+$). Patterns come from callers, so a match runs under a time limit: a pattern that
 * backtracks catastrophically fails the request instead of stalling the server.
 */

const MATCH_TIMEOUT_MS = 250;
const sandbox = createContext({ re: /(?:)/, v: '' }) as { re: RegExp; v: string };
const test = new Script('re.test(v)');

export function compilePattern(pattern: string): RegExp {
  try {
    // Java-style Unicode classes (\p{L}) need JavaScript's u flag; without one, \p is a plain 'p'.
    return new RegExp(pattern, /\\[pP]\{/.test(pattern) ? 'u' : '');
  } catch {
    throw new InvalidAllowedPatternException('The AllowedPattern is not a valid regular expression.');
  }
}

export function checkPattern(pattern: string, value: string): void {
  const re = compilePattern(pattern);
  sandbox.re = re;
  sandbox.v = value;
  let matched: unknown;
  try {
    matched = test.runInContext(sandbox, { timeout: MATCH_TIMEOUT_MS });
  } catch {
    throw new InvalidAllowedPatternException(`The AllowedPattern took longer than ${MATCH_TIMEOUT_MS} ms to evaluate; simplify it.`);
  } finally {
    sandbox.v = '';
  }
  if (matched !== true) throw new ParameterPatternMismatchException(pattern);
}
