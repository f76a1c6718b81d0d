import { Token } from 'aws-cdk-lib';
import type { PrincipalPattern } from '../principal-pattern';
import { principalPatternProblem, type PrincipalPatternOptions } from '../shared/principal-patterns';

/**
 * The configuration's strings for `PrincipalPattern`s given as `prop`, checked against the shared rule (messages name
 * `prop` and the index): `options` says whether patterns that can match caller-chosen names are accepted
 * (`allowCallerChosenPrincipalNames`). A pattern with deploy-time values is not checked at synth;
 * the factories checked its literal parts.
 */
export function renderPrincipalPatterns(prop: string, patterns: readonly PrincipalPattern[] | undefined, allowEmpty: boolean,
  options: PrincipalPatternOptions = {}): string[] {
  if (patterns === undefined || patterns.length === 0) {
    if (allowEmpty) return [];
    throw new Error(`${prop} must name at least one principal ARN pattern, got none`);
  }
  return patterns.map((principal, i) => {
    // JavaScript callers of the former string[] API reach here without a type check.
    if (typeof principal === 'string') {
      throw new Error(`${prop}[${i}] "${principal}": expected a PrincipalPattern, e.g. PrincipalPattern.fromArnPattern("${principal}")`);
    }
    const pattern: unknown = principal?.pattern;
    if (typeof pattern !== 'string') {
      throw new Error(`${prop}[${i}]: expected a PrincipalPattern, got ${principal === null ? 'null' : typeof principal}`);
    }
    // An Identity Center user's pattern is checked as the permission set's, which matches a superset of it.
    const checkedAs = principal._checkedAs ?? pattern;
    if (!Token.isUnresolved(checkedAs)) {
      const problem = principalPatternProblem(checkedAs, options);
      if (problem) throw new Error(`${prop}[${i}] "${pattern}": ${problem}`);
    }
    return pattern;
  });
}
