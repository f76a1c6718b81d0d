import { Duration, Token } from 'aws-cdk-lib';
import { Patterns } from '../shared/contract';

const PROFILE_NAME = new RegExp(Patterns.PROFILE);

export function validateProfileName(prop: string, name: string): void {
  if (Token.isUnresolved(name)) {
    throw new Error(`${prop} must be a literal string, got a token: profile names are part of the client contract`);
  }
  if (!PROFILE_NAME.test(name)) {
    throw new Error(`${prop} "${name}" is not a valid profile name: expected ${Patterns.PROFILE}`);
  }
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
