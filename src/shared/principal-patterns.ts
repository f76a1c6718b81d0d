/**
 * The rule for principal ARN patterns (`allowedPrincipals`, `adminPrincipals`), shared by the construct's synth-time
 * validation, local mode's config file and the runtime matcher (lambda/match.ts). No imports: the command bundles it
 * without aws-cdk-lib.
 */

/** How strict {@link principalPatternProblem} is. */
export interface PrincipalPatternOptions {
  /**
   * Accept patterns that can match a name the caller chooses (federated users, session names of wildcard roles,
   * names under a wildcard principal type) and wildcards in partition, service or account. The construct exposes it
   * as `allowCallerChosenPrincipalNames`.
   * @default false
   */
  readonly allowCallerChosenNames?: boolean;
}

// arn:<partition>:(iam|sts)::<account>:<resource>; IAM wildcards `*` and `?` are allowed in account and resource.
const PRINCIPAL_ARN_PATTERN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc|\*):(iam|sts|\*)::([0-9]{12}|[0-9*?]{1,12}):([\w+=,.@/*?-]+)$/;
const WILDCARD = /[*?]/;
const ROLE = 'role/';
const OPT_IN = 'or set allowCallerChosenPrincipalNames: true to accept it';

/**
 * The six `:`-separated parts of an ARN (`arn`, partition, service, region, account, resource), the resource keeping
 * any further `:`, as IAM's ArnLike splits them; undefined when there are fewer than six.
 */
export function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/**
 * `role/<path>/<name>` as `role/<name>` when the resource has no wildcard; any other resource unchanged. An
 * assumed-role ARN does not carry the role's path, and IAM role names are unique in an account whatever their path,
 * so the name alone identifies the role.
 */
export function withoutRolePath(resource: string): string {
  const slash = resource.lastIndexOf('/');
  const hasPath = resource.startsWith(ROLE) && slash >= ROLE.length && slash < resource.length - 1;
  return hasPath && !WILDCARD.test(resource) ? ROLE + resource.slice(slash + 1) : resource;
}

/** What is wrong with a principal ARN pattern, worded to follow the pattern in a message; undefined when it is fine. */
export function principalPatternProblem(pattern: unknown, options: PrincipalPatternOptions = {}): string | undefined {
  if (typeof pattern !== 'string' || !PRINCIPAL_ARN_PATTERN.test(pattern)) {
    return 'expected a principal ARN pattern arn:<partition>:iam|sts::<account>:<resource>, '
      + 'e.g. arn:aws:iam::111122223333:user/alice or arn:aws:sts::111122223333:assumed-role/Role/*';
  }
  const [, partition, service, , account, resource] = arnParts(pattern)!;
  const fixedLength = account.replace(/\*/g, '').length;
  if (account.includes('*') ? fixedLength > 12 : fixedLength !== 12) {
    return `its account "${account}" matches no account: expected 12 digits`;
  }
  if (/^[*?/]*$/.test(resource)) {
    return 'it matches every principal: name users or roles instead';
  }
  const slash = resource.lastIndexOf('/');
  if (resource.startsWith(ROLE) && slash >= ROLE.length && WILDCARD.test(resource)) {
    const name = resource.slice(slash + 1);
    return `it has a wildcard in a role pattern with a path ("${resource.slice(ROLE.length, slash + 1)}"), which cannot be checked: `
      + 'an assumed-role ARN does not carry the role\'s path; name the role (its path is ignored: role names are unique in an account) '
      + `or use a wildcard only in the last segment, without a path${/[^*?]/.test(name) ? ` (role/${name})` : ''}`;
  }
  return options.allowCallerChosenNames ? undefined : callerChosenProblem(partition, service, account, resource);
}

/** Why a pattern could match a principal whose identifying name its caller chose, or a principal of another account. */
function callerChosenProblem(partition: string, service: string, account: string, resource: string): string | undefined {
  const wild = Object.entries({ partition, service, account }).filter(([, value]) => WILDCARD.test(value));
  if (wild.length > 0) {
    return `its ${wild.map(([part, value]) => `${part} "${value}"`).join(' and ')} ${wild.length > 1 ? 'are' : 'is'} not literal, `
      + 'so it matches principals of accounts you may not control: name the partition, iam or sts, and the 12-digit account, '
      + OPT_IN;
  }
  const type = resource.split('/')[0];
  if (WILDCARD.test(type)) {
    return `its principal type "${type}" is a wildcard, so it pins only the name, and the names of federated users and role sessions `
      + `are chosen by the caller: start it with user/, role/, assumed-role/<RoleName>/ or root, ${OPT_IN}`;
  }
  if (type === 'federated-user') {
    return 'a federated-user name is chosen by whoever calls sts:GetFederationToken, so any IAM user allowed to call it can take '
      + `this name: name the user or role behind it instead, ${OPT_IN}`;
  }
  // assumed-role/<role>/<session>: unless the role is literal up to its `/`, a wildcard in it may also span the `/`, so
  // any literal after that wildcard pins part of the session name, which whoever calls sts:AssumeRole chooses.
  const afterRole = resource.slice('assumed-role/'.length);
  const wildcardAt = afterRole.search(WILDCARD);
  const roleEnd = afterRole.indexOf('/');
  const exactRole = wildcardAt < 0 || (roleEnd >= 0 && roleEnd < wildcardAt);
  if (type === 'assumed-role' && !exactRole && /[^*?/]/.test(afterRole.slice(wildcardAt))) {
    return 'its role has a wildcard but its session name does not: a session name is chosen by whoever calls sts:AssumeRole, '
      + 'so anyone who can assume a matching role can take this name (assumed-role/*/alice lets anyone name a session alice): '
      + `name the role exactly (assumed-role/<RoleName>/…), ${OPT_IN}`;
  }
  return undefined;
}
