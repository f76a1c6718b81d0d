import { Arn, ArnFormat, Aws, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { principalPatternProblem } from './shared/principal-patterns';

// IAM user and role names; STS role session names; Identity Center permission set names (the APIs' own patterns).
const IAM_NAME = /^[\w+=,.@-]{1,64}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const PERMISSION_SET_NAME = /^[\w+=,.@-]{1,32}$/;
const ACCOUNT = /^\d{12}$/;
// IAM allows more characters in a path, but a caller ARN with them is refused at runtime and `*` or `?` would be wildcards.
const IAM_PATH = /^\/(?:[\w+=,.@-]+\/)*$/;
const IAM_PATH_MAX = 512;
const ROLE_ARN = /^arn:[\w-]+:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** The unique suffix Identity Center appends to a permission set's role name: 16 hexadecimal characters. */
const SSO_SUFFIX = '?'.repeat(16);

/** Throws unless a literal value matches; a token passes (it is known only at deploy time). */
function check(factory: string, what: string, value: string, format: RegExp, expectation: string): void {
  if (Token.isUnresolved(value)) return;
  if (!format.test(value)) {
    throw new Error(`${factory}: ${what} "${value}" is not valid: expected ${expectation}`);
  }
}

const checkAccount = (factory: string, account: string) => check(factory, 'account', account, ACCOUNT, '12 digits');

/**
 * Who may use a profile of the TVM (`allowedPrincipals`) or administer its sessions (`adminPrincipals`): a pattern
 * matched against the caller's ARN as STS reports it, IAM-style (`*` any run of characters, `?` one character, each
 * `:`-separated part of the ARN on its own).
 *
 * Prefer the factories that name a principal (`iamUser`, `roleSessions`, `roleSession`, `identityCenterPermissionSet`)
 * over `fromArnPattern`: they check their input at synth, accept deploy-time values such as `role.roleArn`, and build
 * patterns that match what you mean, whatever the role's IAM path.
 */
export abstract class PrincipalPattern {
  /**
   * One IAM user: `arn:<partition>:iam::<account>:user<path><userName>`.
   *
   * An IAM user's ARN, as STS reports it, contains the user's path, so a user created under a path (`/engineering/`)
   * is matched only when `path` names it. If the user is moved to another path, the pattern stops matching (it fails
   * closed). The partition is the one the TVM is deployed in.
   *
   * @param account the 12-digit account of the user (or a deploy-time value such as `Stack.of(this).account`)
   * @param userName the IAM user name
   * @param path the IAM path of the user, `/` or `/<segment>/.../`; default: `/` (no path)
   */
  public static iamUser(account: string, userName: string, path?: string): PrincipalPattern {
    checkAccount('iamUser', account);
    check('iamUser', 'userName', userName, IAM_NAME, 'an IAM user name of 1 to 64 characters of [\\w+=,.@-]');
    const userPath = path ?? '/';
    check('iamUser', 'path', userPath, IAM_PATH, 'an IAM path: "/" or "/<segment>/.../" with segments of [\\w+=,.@-]');
    if (!Token.isUnresolved(userPath) && userPath.length > IAM_PATH_MAX) {
      throw new Error(`iamUser: path "${userPath}" is not valid: expected at most ${IAM_PATH_MAX} characters`);
    }
    return new LiteralPrincipalPattern(`arn:${Aws.PARTITION}:iam::${account}:user${userPath}${userName}`, undefined, 'iamUser');
  }

  /**
   * Every session of a role, and the role itself: anyone who works as this role.
   *
   * The pattern is the role's ARN, so it works with a role of the same app whose ARN is known only at deploy time, and
   * with an imported role (`Role.fromRoleArn`). A session ARN (`assumed-role/<name>/<session>`) carries no IAM path;
   * the TVM matches a role ARN by the role's name, which is unique in an account, so a role with a path matches too.
   *
   * @param role the role whose sessions may call
   */
  public static roleSessions(role: iam.IRole): PrincipalPattern {
    checkRole('roleSessions', role);
    return new LiteralPrincipalPattern(role.roleArn);
  }

  /**
   * One named session of a role: `arn:<partition>:sts::<account>:assumed-role/<roleName>/<sessionName>`.
   *
   * Whoever calls `sts:AssumeRole` chooses the session name, so this is a boundary only where an identity provider
   * sets it, as IAM Identity Center and SAML federation do (the user's name), and where no one else may assume the
   * role. Otherwise anyone allowed to assume the role can name a session `sessionName`.
   *
   * @param role the role (its IAM path does not matter: session ARNs carry none)
   * @param sessionName the role session name, 2 to 64 characters of `[\w+=,.@-]`
   */
  public static roleSession(role: iam.IRole, sessionName: string): PrincipalPattern {
    checkRole('roleSession', role);
    check('roleSession', 'sessionName', sessionName, SESSION_NAME, 'a role session name of 2 to 64 characters of [\\w+=,.@-]');
    // Split rather than read the role's stack: an imported role may be in another account or partition.
    const arn = Arn.split(role.roleArn, ArnFormat.SLASH_RESOURCE_NAME);
    return new LiteralPrincipalPattern(`arn:${arn.partition}:sts::${arn.account}:assumed-role/${role.roleName}/${sessionName}`);
  }

  /**
   * The users of an IAM Identity Center permission set in one account, or one of them.
   *
   * Identity Center gives a permission set assigned to an account a role named
   * `AWSReservedSSO_<permissionSetName>_<16-character suffix>` (under the path `/aws-reserved/sso.amazonaws.com/[<region>/]`),
   * and a new suffix when the permission set is assigned again after all its assignments were removed. The pattern
   * therefore matches the suffix with 16 `?`, which matches no other permission set's role (`AWSReservedSSO_ReadOnly_…`
   * does not match `AWSReservedSSO_ReadOnlyAdmin_…`). Identity Center sets the session name to the user's name.
   *
   * Without `userName` the pattern is the role (`role/AWSReservedSSO_<permissionSetName>_????????????????`), which
   * matches every session of it. With it, the pattern is that user's sessions
   * (`assumed-role/AWSReservedSSO_<permissionSetName>_????????????????/<userName>`): the TVM accepts it without
   * `allowCallerChosenPrincipalNames`, because it matches only principals that the pattern without `userName` matches.
   * Both rely on no one else creating a role of that name in the account: whoever may `iam:CreateRole` there could
   * create one and choose its session names.
   *
   * @param account the 12-digit account the permission set is assigned to (or a deploy-time value)
   * @param permissionSetName the permission set's name, 1 to 32 characters of `[\w+=,.@-]`
   * @param userName the Identity Center user name (the session name); default: every user of the permission set
   */
  public static identityCenterPermissionSet(account: string, permissionSetName: string, userName?: string): PrincipalPattern {
    const factory = 'identityCenterPermissionSet';
    checkAccount(factory, account);
    check(factory, 'permissionSetName', permissionSetName, PERMISSION_SET_NAME, 'a permission set name of 1 to 32 characters of [\\w+=,.@-]');
    const roleName = `AWSReservedSSO_${permissionSetName}_${SSO_SUFFIX}`;
    const everyUser = `arn:${Aws.PARTITION}:iam::${account}:role/${roleName}`;
    if (userName === undefined) return new LiteralPrincipalPattern(everyUser, undefined, factory);
    check(factory, 'userName', userName, SESSION_NAME, 'a user name usable as a role session name: 2 to 64 characters of [\\w+=,.@-]');
    return new LiteralPrincipalPattern(`arn:${Aws.PARTITION}:sts::${account}:assumed-role/${roleName}/${userName}`, everyUser, factory);
  }

  /**
   * An IAM ARN pattern, e.g. `arn:aws:iam::111122223333:user/*`: the escape hatch for principals the other factories
   * do not name. A pattern naming a role also matches every session of the role; a role's path is ignored (a wildcard
   * inside a path is refused). Patterns that can match a name the caller chooses (federated users, a session name of
   * a wildcard role, a wildcard account) are refused unless the TVM sets `allowCallerChosenPrincipalNames`.
   *
   * @param pattern `arn:<partition>:iam|sts::<account>:<resource>`, with `*` and `?` wildcards in account and resource
   */
  public static fromArnPattern(pattern: string): PrincipalPattern {
    if (!Token.isUnresolved(pattern)) {
      // The format now; whether it pins caller-chosen names depends on the TVM's allowCallerChosenPrincipalNames.
      const problem = principalPatternProblem(pattern, { allowCallerChosenNames: true });
      if (problem) throw new Error(`fromArnPattern: pattern "${pattern}" is not valid: ${problem}`);
    }
    return new LiteralPrincipalPattern(pattern);
  }

  /**
   * The pattern as written into the TVM's configuration. It may hold deploy-time values (tokens), such as the
   * partition or a role's ARN.
   */
  public abstract readonly pattern: string;

  /**
   * The pattern the TVM checks in this one's place: one that matches every principal this one matches.
   * @internal
   */
  public get _checkedAs(): string {
    return this.pattern;
  }

  /**
   * The factory that made the pattern when it names persons whatever its deploy-time values (`iamUser`,
   * `identityCenterPermissionSet`), else undefined.
   * @internal
   */
  public get _personFactory(): string | undefined {
    return undefined;
  }
}

/** Refuses a role whose literal ARN or name is not a single role's. */
function checkRole(factory: string, role: iam.IRole): void {
  const arn = role.roleArn;
  if (!Token.isUnresolved(arn) && (!ROLE_ARN.test(arn) || principalPatternProblem(arn) !== undefined)) {
    throw new Error(`${factory}: role ARN "${arn}" is not valid: expected arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>`);
  }
  check(factory, 'roleName', role.roleName, IAM_NAME, 'an IAM role name of 1 to 64 characters of [\\w+=,.@-]');
}

class LiteralPrincipalPattern extends PrincipalPattern {
  constructor(public readonly pattern: string, private readonly checkedAs: string = pattern, private readonly personFactory?: string) {
    super();
  }

  public get _checkedAs(): string {
    return this.checkedAs;
  }

  public get _personFactory(): string | undefined {
    return this.personFactory;
  }
}
