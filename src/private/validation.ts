import { Duration, Token } from 'aws-cdk-lib';
import { Patterns } from '../shared/contract';
import { principalPatternProblem, type PrincipalPatternOptions } from '../shared/principal-patterns';

const PROFILE_NAME = new RegExp(Patterns.PROFILE);

export function validateProfileName(prop: string, name: string): void {
  if (Token.isUnresolved(name)) {
    throw new Error(`${prop} must be a literal string, got a token: profile names are part of the client contract`);
  }
  if (!PROFILE_NAME.test(name)) {
    throw new Error(`${prop} "${name}" is not a valid profile name: expected ${Patterns.PROFILE}`);
  }
}

/**
 * Checks IAM-style ARN patterns of callers (users, roles, assumed roles, federated users); `options` says whether
 * patterns that can match caller-chosen names are accepted (`allowCallerChosenPrincipalNames`).
 */
export function validatePrincipalPatterns(prop: string, patterns: string[] | undefined, allowEmpty: boolean,
  options: PrincipalPatternOptions = {}): void {
  if (patterns === undefined || patterns.length === 0) {
    if (allowEmpty) return;
    throw new Error(`${prop} must name at least one principal ARN pattern, got none`);
  }
  patterns.forEach((pattern, i) => {
    if (Token.isUnresolved(pattern)) return; // a deploy-time ARN, e.g. someRole.roleArn
    const problem = principalPatternProblem(pattern, options);
    if (problem) throw new Error(`${prop}[${i}] "${pattern}": ${problem}`);
  });
}

/** Checks a Duration lies in [min, max] seconds and is a whole number of seconds. */
export function validateDuration(prop: string, value: Duration | undefined, minSeconds: number, maxSeconds: number): number | undefined {
  if (value === undefined) return undefined;
  if (value.isUnresolved()) {
    throw new Error(`${prop} must be a literal Duration, got a token`);
  }
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < minSeconds || seconds > maxSeconds) {
    throw new Error(`${prop} is ${value.toHumanString()} (${seconds} s): expected whole seconds between ${minSeconds} and ${maxSeconds}`);
  }
  return seconds;
}
