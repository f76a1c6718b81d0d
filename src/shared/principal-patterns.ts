/**
 * The rule for principal ARN patterns (`allowedPrincipals`, `adminPrincipals`), shared by the construct's synth-time
 * validation and local mode's config file. No imports: the command bundles it without aws-cdk-lib.
 */

// arn:<partition>:(iam|sts)::<account>:<resource>; IAM wildcards `*` and `?` are allowed in account and resource.
const PRINCIPAL_ARN_PATTERN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc|\*):(iam|sts|\*)::([0-9]{12}|[0-9*?]{1,12}):([\w+=,.@/*?-]+)$/;

/** What is wrong with a principal ARN pattern, worded to follow the pattern in a message; undefined when it is fine. */
export function principalPatternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string' || !PRINCIPAL_ARN_PATTERN.test(pattern)) {
    return 'expected a principal ARN pattern arn:<partition>:iam|sts::<account>:<resource>, '
      + 'e.g. arn:aws:iam::111122223333:user/alice or arn:aws:sts::111122223333:assumed-role/Role/*';
  }
  const account = pattern.split(':')[4];
  const fixedLength = account.replace(/\*/g, '').length;
  if (account.includes('*') ? fixedLength > 12 : fixedLength !== 12) {
    return `its account "${account}" matches no account: expected 12 digits (IAM wildcards allowed)`;
  }
  if (/^[*?/]*$/.test(pattern.split(':').slice(5).join(':'))) {
    return 'it matches every principal: name users or roles instead';
  }
  return undefined;
}
