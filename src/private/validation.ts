import { Duration, Token } from 'aws-cdk-lib';
import { Patterns } from '../shared/contract';

const PROFILE_NAME = new RegExp(Patterns.PROFILE);
// arn:<partition>:(iam|sts)::<account>:<resource>; IAM wildcards `*` and `?` are allowed in account and resource.
const PRINCIPAL_ARN_PATTERN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc|\*):(iam|sts|\*)::([0-9]{12}|[0-9*?]{1,12}):([\w+=,.@/*?-]+)$/;

export function validateProfileName(prop: string, name: string): void {
  if (Token.isUnresolved(name)) {
    throw new Error(`${prop} must be a literal string, got a token: profile names are part of the client contract`);
  }
  if (!PROFILE_NAME.test(name)) {
    throw new Error(`${prop} "${name}" is not a valid profile name: expected ${Patterns.PROFILE}`);
  }
}

/** Checks IAM-style ARN patterns of callers (users, roles, assumed roles, federated users). */
export function validatePrincipalPatterns(prop: string, patterns: string[] | undefined, allowEmpty: boolean): void {
  if (patterns === undefined || patterns.length === 0) {
    if (allowEmpty) return;
    throw new Error(`${prop} must name at least one principal ARN pattern, got none`);
  }
  patterns.forEach((pattern, i) => {
    if (Token.isUnresolved(pattern)) return; // a deploy-time ARN, e.g. someRole.roleArn
    if (typeof pattern !== 'string' || !PRINCIPAL_ARN_PATTERN.test(pattern)) {
      throw new Error(
        `${prop}[${i}] "${pattern}" is not a principal ARN pattern: expected arn:<partition>:iam|sts::<account>:<resource>, ` +
        'e.g. arn:aws:iam::111122223333:user/alice or arn:aws:sts::111122223333:assumed-role/Role/*',
      );
    }
    const account = pattern.split(':')[4];
    const fixedLength = account.replace(/\*/g, '').length;
    if (account.includes('*') ? fixedLength > 12 : fixedLength !== 12) {
      throw new Error(`${prop}[${i}] "${pattern}" has account "${account}", which matches no account: expected 12 digits (IAM wildcards allowed)`);
    }
    if (/^[*?/]*$/.test(pattern.split(':').slice(5).join(':'))) {
      throw new Error(`${prop}[${i}] "${pattern}" matches every principal: name users or roles instead`);
    }
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
