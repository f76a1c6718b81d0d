// PrincipalPattern (src/principal-pattern.ts): what each factory writes into the configuration, what the runtime matcher
// then admits (lambda/match.ts, as the handler asks it), deploy-time values, and the synth-time check of
// src/private/principals.ts. API review section 3.
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { callerFrom } from '../lambda/identity';
import { compileArnPattern, PrincipalMatcher } from '../lambda/match';
import { PrincipalPattern } from '../src/principal-pattern';
import { renderPrincipalPatterns } from '../src/private/principals';
import { principalPatternProblem } from '../src/shared/principal-patterns';

const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';
const iamArn = (resource: string, account = ACCOUNT) => `arn:aws:iam::${account}:${resource}`;
const stsArn = (resource: string, account = ACCOUNT) => `arn:aws:sts::${account}:${resource}`;
const HASH = '0123456789abcdef';

/**
 * A CloudFormation value as it is at deploy time in partition `aws` and account ACCOUNT: the intrinsics that ARNs and
 * names of this test's stack resolve to, with `refs` and `attributes` standing for its resources.
 */
function deployed(value: unknown, refs: Record<string, string> = {}, attributes: Record<string, string> = {}): string {
  const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::AccountId': ACCOUNT, ...refs };
  const evaluate = (v: unknown): string | string[] => {
    if (typeof v === 'string') return v;
    const [[fn, args]] = Object.entries(v as Record<string, any>);
    switch (fn) {
      case 'Ref': return pseudo[args] ?? fail(`no value for Ref ${args}`);
      case 'Fn::GetAtt': return attributes[args.join('.')] ?? fail(`no value for GetAtt ${args.join('.')}`);
      case 'Fn::Join': return (args[1] as unknown[]).map((part) => evaluate(part) as string).join(args[0]);
      case 'Fn::Split': return (evaluate(args[1]) as string).split(args[0]);
      case 'Fn::Select': return (evaluate(args[1]) as string[])[args[0]];
      default: return fail(`unexpected ${fn}`);
    }
  };
  const result = evaluate(value);
  return typeof result === 'string' ? result : fail('not a string');
}

function fail(message: string): never {
  throw new Error(message);
}

/** The pattern as the deployed configuration holds it, for principals that name no resource of a stack. */
const written = (principal: PrincipalPattern) => deployed(new Stack().resolve(principal.pattern));
/** Whether the patterns admit the caller as the handler asks: the full ARN and, for a role session, its role ARN. */
const admits = (patterns: string[], callerArn: string) => new PrincipalMatcher(patterns).matchesAny(callerFrom({ userArn: callerArn }).matchArns);

describe('GIVEN PrincipalPattern.iamUser', () => {
  test('THEN it writes the user\'s ARN in the TVM\'s partition', () => {
    const alice = PrincipalPattern.iamUser(ACCOUNT, 'alice');
    expect(new Stack().resolve(alice.pattern)).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${ACCOUNT}:user/alice`]] });
    expect(written(alice)).toBe(iamArn('user/alice'));
    expect(written(PrincipalPattern.iamUser(ACCOUNT, 'alice', '/engineering/'))).toBe(iamArn('user/engineering/alice'));
  });

  test.each<[string, string, boolean]>([
    ['the user', iamArn('user/alice'), true],
    ['a user whose name extends it', iamArn('user/alice2'), false],
    ['a user whose name it extends', iamArn('user/alic'), false],
    ['another case', iamArn('user/Alice'), false],
    ['the namesake of another account', iamArn('user/alice', OTHER_ACCOUNT), false],
    ['a user of that name under a path', iamArn('user/engineering/alice'), false],
    ['a role session named after the user', stsArn('assumed-role/Deployer/alice'), false],
  ])('THEN without a path it admits %s: %s is %s', (_case, arn, expected) => {
    expect(admits([written(PrincipalPattern.iamUser(ACCOUNT, 'alice'))], arn)).toBe(expected);
  });

  test.each<[string, boolean]>([
    [iamArn('user/engineering/alice'), true],
    [iamArn('user/alice'), false],
    [iamArn('user/other/alice'), false],
    [iamArn('user/engineering/team/alice'), false],
    [iamArn('user/engineering/alice2'), false],
  ])('THEN with path /engineering/ it admits %s: %s', (arn, expected) => {
    expect(admits([written(PrincipalPattern.iamUser(ACCOUNT, 'alice', '/engineering/'))], arn)).toBe(expected);
  });

  test('THEN a deploy-time account resolves to the stack\'s account', () => {
    const stack = new Stack();
    expect(deployed(stack.resolve(PrincipalPattern.iamUser(stack.account, 'alice').pattern))).toBe(iamArn('user/alice'));
  });

  test.each<[string, () => unknown, RegExp]>([
    ['the account is not 12 digits', () => PrincipalPattern.iamUser('1111-2222-3333', 'alice'),
      /^iamUser: account "1111-2222-3333" is not valid: expected 12 digits$/],
    ['the user name has a wildcard', () => PrincipalPattern.iamUser(ACCOUNT, 'ali*'),
      /^iamUser: userName "ali\*" is not valid: expected an IAM user name/],
    ['the user name has a space', () => PrincipalPattern.iamUser(ACCOUNT, 'alice smith'), /^iamUser: userName "alice smith" is not valid/],
    ['the user name is empty', () => PrincipalPattern.iamUser(ACCOUNT, ''), /^iamUser: userName "" is not valid/],
    ['the user name is a path', () => PrincipalPattern.iamUser(ACCOUNT, 'engineering/alice'),
      /^iamUser: userName "engineering\/alice" is not valid/],
    ['the path does not end with /', () => PrincipalPattern.iamUser(ACCOUNT, 'alice', '/engineering'),
      /^iamUser: path "\/engineering" is not valid: expected an IAM path/],
    ['the path has a wildcard', () => PrincipalPattern.iamUser(ACCOUNT, 'alice', '/*/'), /^iamUser: path "\/\*\/" is not valid/],
    ['the path is too long', () => PrincipalPattern.iamUser(ACCOUNT, 'alice', `/${'a'.repeat(511)}/`),
      /^iamUser: path "\/a+\/" is not valid: expected at most 512/],
  ])('fails when %s, naming the factory and the value', (_case, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('GIVEN PrincipalPattern.roleSessions of a role of the app, under a path', () => {
  const stack = new Stack(new App(), 'Roles', { env: { account: ACCOUNT, region: 'eu-west-1' } });
  const role = new iam.Role(stack, 'Deployer', { assumedBy: new iam.AccountRootPrincipal(), path: '/ci/' });
  const id = stack.getLogicalId(role.node.defaultChild as iam.CfnRole);
  const resolved = (principal: PrincipalPattern) => deployed(stack.resolve(principal.pattern), { [id]: 'Deployer' },
    { [`${id}.Arn`]: iamArn('role/ci/Deployer') });

  test('THEN it writes the role\'s ARN, a deploy-time value resolving to the ARN with its path', () => {
    const sessions = PrincipalPattern.roleSessions(role);
    expect(stack.resolve(sessions.pattern)).toEqual({ 'Fn::GetAtt': [id, 'Arn'] });
    expect(resolved(sessions)).toBe(iamArn('role/ci/Deployer'));
  });

  test.each<[string, string, boolean]>([
    ['a session', stsArn('assumed-role/Deployer/anything'), true],
    ['a session named like another principal', stsArn('assumed-role/Deployer/alice@example.com'), true],
    ['the role itself, with its path', iamArn('role/ci/Deployer'), true],
    ['a role whose name extends it', stsArn('assumed-role/DeployerAdmin/anything'), false],
    ['a role whose name it extends', stsArn('assumed-role/Deploye/anything'), false],
    ['the namesake role of another account', stsArn('assumed-role/Deployer/anything', OTHER_ACCOUNT), false],
    ['a user of that name', iamArn('user/Deployer'), false],
  ])('THEN it admits %s: %s is %s', (_case, arn, expected) => {
    expect(admits([resolved(PrincipalPattern.roleSessions(role))], arn)).toBe(expected);
  });

  test('THEN roleSession writes the session of that role, resolving partition and account from its ARN and its name without path', () => {
    const carol = PrincipalPattern.roleSession(role, 'carol@example.com');
    expect(resolved(carol)).toBe(stsArn('assumed-role/Deployer/carol@example.com'));
    expect(principalPatternProblem(resolved(carol))).toBeUndefined();
    const patterns = [resolved(carol)];
    expect(admits(patterns, stsArn('assumed-role/Deployer/carol@example.com'))).toBe(true);
    expect(admits(patterns, stsArn('assumed-role/Deployer/dave@example.com'))).toBe(false);
    expect(admits(patterns, stsArn('assumed-role/Deployer/carol@example.com2'))).toBe(false);
    expect(admits(patterns, iamArn('role/ci/Deployer'))).toBe(false);
    expect(admits(patterns, stsArn('assumed-role/DeployerAdmin/carol@example.com'))).toBe(false);
  });
});

describe('GIVEN PrincipalPattern.roleSessions and roleSession of imported roles', () => {
  const stack = new Stack(new App(), 'Imports', { env: { account: ACCOUNT, region: 'eu-west-1' } });

  test('THEN a role imported by ARN writes that ARN, checked at synth, and its sessions\' ARN in its own partition', () => {
    const role = iam.Role.fromRoleArn(stack, 'Gov', 'arn:aws-us-gov:iam::444455556666:role/ci/Deployer');
    expect(PrincipalPattern.roleSessions(role).pattern).toBe('arn:aws-us-gov:iam::444455556666:role/ci/Deployer');
    expect(PrincipalPattern.roleSession(role, 'alice').pattern).toBe('arn:aws-us-gov:sts::444455556666:assumed-role/Deployer/alice');
    expect(renderPrincipalPatterns('adminPrincipals', [PrincipalPattern.roleSessions(role)], false))
      .toEqual(['arn:aws-us-gov:iam::444455556666:role/ci/Deployer']);
  });

  test('THEN a role imported by name resolves in the stack\'s account', () => {
    const role = iam.Role.fromRoleName(stack, 'ByName', 'GitHubActions');
    expect(deployed(stack.resolve(PrincipalPattern.roleSessions(role).pattern))).toBe(iamArn('role/GitHubActions'));
    expect(deployed(stack.resolve(PrincipalPattern.roleSession(role, 'run-42').pattern)))
      .toBe(stsArn('assumed-role/GitHubActions/run-42'));
  });

  test.each<[string, () => unknown, RegExp]>([
    ['roleSessions is given a wildcard role', () => PrincipalPattern.roleSessions(iam.Role.fromRoleArn(stack, 'Any', iamArn('role/*'))),
      /^roleSessions: role ARN "arn:aws:iam::111122223333:role\/\*" is not valid: expected arn:<partition>:iam::<12-digit account>:role/],
    ['roleSessions is given a role prefix', () => PrincipalPattern.roleSessions(iam.Role.fromRoleArn(stack, 'Prefix', iamArn('role/Deploy*'))),
      /^roleSessions: role ARN "arn:aws:iam::111122223333:role\/Deploy\*" is not valid/],
    ['roleSessions is given an unknown partition', () => PrincipalPattern.roleSessions(
      iam.Role.fromRoleArn(stack, 'Partition', 'arn:nope:iam::111122223333:role/Deployer')), /^roleSessions: role ARN "arn:nope:iam::/],
    ['roleSession is given a wildcard role', () => PrincipalPattern.roleSession(iam.Role.fromRoleName(stack, 'Star', 'Deploy*'), 'alice'),
      /^roleSession: roleName "Deploy\*" is not valid: expected an IAM role name/],
    ['the session name has a wildcard', () => PrincipalPattern.roleSession(iam.Role.fromRoleName(stack, 'S1', 'Deployer'), 'ali*'),
      /^roleSession: sessionName "ali\*" is not valid: expected a role session name of 2 to 64 characters/],
    ['the session name is one character', () => PrincipalPattern.roleSession(iam.Role.fromRoleName(stack, 'S2', 'Deployer'), 'a'),
      /^roleSession: sessionName "a" is not valid/],
    ['the session name has a slash', () => PrincipalPattern.roleSession(iam.Role.fromRoleName(stack, 'S3', 'Deployer'), 'a/b'),
      /^roleSession: sessionName "a\/b" is not valid/],
    ['the session name is longer than 64', () => PrincipalPattern.roleSession(iam.Role.fromRoleName(stack, 'S4', 'Deployer'), 'a'.repeat(65)),
      /^roleSession: sessionName "a{65}" is not valid/],
  ])('fails when %s, naming the factory and the value', (_case, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('GIVEN PrincipalPattern.identityCenterPermissionSet', () => {
  const role = (permissionSet: string, suffix = HASH) => `AWSReservedSSO_${permissionSet}_${suffix}`;
  const everyone = PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'ReadOnly');
  const carol = PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'ReadOnly', 'carol@example.com');

  test('THEN it writes the permission set\'s role with a 16-character wildcard suffix, or one user\'s sessions of it', () => {
    expect(written(everyone)).toBe(iamArn('role/AWSReservedSSO_ReadOnly_????????????????'));
    expect(written(carol)).toBe(stsArn('assumed-role/AWSReservedSSO_ReadOnly_????????????????/carol@example.com'));
  });

  test.each<[string, string, boolean]>([
    ['a session', stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com`), true],
    ['a session of the role after a new assignment', stsArn(`assumed-role/${role('ReadOnly', 'fedcba9876543210')}/dave@example.com`), true],
    ['the role, under its Identity Center path', iamArn(`role/aws-reserved/sso.amazonaws.com/eu-west-1/${role('ReadOnly')}`), true],
    ['another permission set whose name extends it', stsArn(`assumed-role/${role('ReadOnlyAdmin')}/carol@example.com`), false],
    ['another permission set of a longer name', stsArn(`assumed-role/${role('ReadOnly_X')}/carol@example.com`), false],
    ['another permission set whose name it extends', stsArn(`assumed-role/${role('Read')}/carol@example.com`), false],
    ['a role with a shorter suffix', stsArn(`assumed-role/${role('ReadOnly', HASH.slice(1))}/carol@example.com`), false],
    ['a role with a longer suffix', stsArn(`assumed-role/${role('ReadOnly', `${HASH}0`)}/carol@example.com`), false],
    ['the permission set in another account', stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com`, OTHER_ACCOUNT), false],
  ])('THEN for every user it admits %s: %s is %s', (_case, arn, expected) => {
    expect(admits([written(everyone)], arn)).toBe(expected);
  });

  test.each<[string, string, boolean]>([
    ['the user\'s session', stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com`), true],
    ['another user\'s session', stsArn(`assumed-role/${role('ReadOnly')}/dave@example.com`), false],
    ['a user whose name extends it', stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com.evil`), false],
    ['the role itself', iamArn(`role/aws-reserved/sso.amazonaws.com/${role('ReadOnly')}`), false],
    ['the user in another permission set whose name extends it', stsArn(`assumed-role/${role('ReadOnlyAdmin')}/carol@example.com`), false],
    ['the user in another account', stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com`, OTHER_ACCOUNT), false],
  ])('THEN for one user it admits %s: %s is %s', (_case, arn, expected) => {
    expect(admits([written(carol)], arn)).toBe(expected);
  });

  test('THEN one user\'s pattern passes without the opt-in: the rule refuses the string, but it admits a subset of the permission set\'s', () => {
    // A wildcard role followed by a fixed session name reads as a caller-chosen name; here the wildcard is 16 `?`,
    // which cannot span the `/`, so the role is a role of the permission set's name and shape.
    expect(principalPatternProblem(written(carol))).toMatch(/its role has a wildcard but its session name does not/);
    expect(deployed(new Stack().resolve(carol._checkedAs))).toBe(written(everyone));
    expect(principalPatternProblem(written(everyone))).toBeUndefined();
    const callers = [
      stsArn(`assumed-role/${role('ReadOnly')}/carol@example.com`),
      stsArn(`assumed-role/${role('ReadOnly')}/dave@example.com`),
      stsArn(`assumed-role/${role('ReadOnlyAdmin')}/carol@example.com`),
      stsArn(`assumed-role/${role('ReadOnly', HASH.toUpperCase())}/carol@example.com`),
    ];
    const admitted = callers.filter((arn) => admits([written(carol)], arn));
    expect(admitted).toHaveLength(2);
    for (const arn of admitted) {
      expect(admits([written(everyone)], arn)).toBe(true);
    }
    // Only a string that is no principal's ARN (a `/` in a role name) lets a `?` take the `/`: the caller is refused first.
    const slashInRole = stsArn('assumed-role/AWSReservedSSO_ReadOnly_0123456/89abcdef/carol@example.com');
    expect(compileArnPattern(written(carol)).matches(slashInRole)).toBe(true);
    expect(() => callerFrom({ userArn: slashInRole })).toThrow('not a supported IAM principal');
    expect(renderPrincipalPatterns('allowedPrincipals', [carol, everyone], false)).toEqual([carol.pattern, everyone.pattern]);
  });

  test.each<[string, () => unknown, RegExp]>([
    ['the account is not 12 digits', () => PrincipalPattern.identityCenterPermissionSet('11112222333', 'ReadOnly'),
      /^identityCenterPermissionSet: account "11112222333" is not valid: expected 12 digits$/],
    ['the permission set name has a wildcard', () => PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'Read*'),
      /^identityCenterPermissionSet: permissionSetName "Read\*" is not valid: expected a permission set name of 1 to 32 characters/],
    ['the permission set name is longer than 32', () => PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'P'.repeat(33)),
      /^identityCenterPermissionSet: permissionSetName "P{33}" is not valid/],
    ['the user name has a space', () => PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'ReadOnly', 'carol smith'),
      /^identityCenterPermissionSet: userName "carol smith" is not valid: expected a user name usable as a role session name/],
    ['the user name is a wildcard', () => PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'ReadOnly', '*'),
      /^identityCenterPermissionSet: userName "\*" is not valid/],
  ])('fails when %s, naming the factory and the value', (_case, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('GIVEN PrincipalPattern.fromArnPattern', () => {
  test('THEN it writes the pattern as given and the matcher applies it as today', () => {
    const team = PrincipalPattern.fromArnPattern(iamArn('user/team-*'));
    expect(team.pattern).toBe(iamArn('user/team-*'));
    expect(admits([team.pattern], iamArn('user/team-a'))).toBe(true);
    expect(admits([team.pattern], iamArn('user/other'))).toBe(false);
  });

  test('THEN a deploy-time ARN passes unchecked, as a string did', () => {
    const stack = new Stack();
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.AccountRootPrincipal() });
    expect(renderPrincipalPatterns('adminPrincipals', [PrincipalPattern.fromArnPattern(role.roleArn)], false)).toEqual([role.roleArn]);
  });

  test.each<[string, string, RegExp]>([
    ['it is not an ARN', 'alice', /^fromArnPattern: pattern "alice" is not valid: expected a principal ARN pattern/],
    ['it is an S3 ARN', 'arn:aws:s3:::bucket', /^fromArnPattern: pattern "arn:aws:s3:::bucket" is not valid/],
    ['it matches every principal', iamArn('*'), /it matches every principal/],
    ['its role path has a wildcard', iamArn('role/ci/*'), /it has a wildcard in a role pattern with a path/],
  ])('fails when %s, naming the factory and the value', (_case, pattern, message) => {
    expect(() => PrincipalPattern.fromArnPattern(pattern)).toThrow(message);
  });

  test('fails in the TVM\'s check when it can match a caller-chosen name, unless allowCallerChosenPrincipalNames', () => {
    const anyAlice = PrincipalPattern.fromArnPattern(stsArn('assumed-role/*/alice'));
    const patterns = [PrincipalPattern.iamUser(ACCOUNT, 'bob'), anyAlice];
    expect(() => renderPrincipalPatterns('profiles.deploy.allowedPrincipals', patterns, false)).toThrow(
      /^profiles\.deploy\.allowedPrincipals\[1\] "arn:aws:sts::111122223333:assumed-role\/\*\/alice": its role has a wildcard but its session name/);
    expect(renderPrincipalPatterns('profiles.deploy.allowedPrincipals', patterns, false, { allowCallerChosenNames: true }))
      .toEqual([patterns[0].pattern, anyAlice.pattern]);
  });
});

describe('GIVEN renderPrincipalPatterns', () => {
  test('THEN an absent or empty list is accepted only where allowed', () => {
    expect(renderPrincipalPatterns('adminPrincipals', undefined, true)).toEqual([]);
    expect(renderPrincipalPatterns('adminPrincipals', [], true)).toEqual([]);
  });

  test('fails when a required list is empty', () => {
    expect(() => renderPrincipalPatterns('profiles.deploy.allowedPrincipals', [], false))
      .toThrow(/^profiles\.deploy\.allowedPrincipals must name at least one principal ARN pattern, got none$/);
  });

  test('fails when a JavaScript caller passes a string, pointing to fromArnPattern', () => {
    const strings = [iamArn('user/alice')] as unknown as PrincipalPattern[];
    expect(() => renderPrincipalPatterns('adminPrincipals', strings, true))
      .toThrow('adminPrincipals[0] "arn:aws:iam::111122223333:user/alice": expected a PrincipalPattern, e.g. PrincipalPattern.fromArnPattern(');
  });

  test('fails when an entry is not a pattern at all', () => {
    expect(() => renderPrincipalPatterns('adminPrincipals', [null as unknown as PrincipalPattern], true))
      .toThrow(/^adminPrincipals\[0\]: expected a PrincipalPattern, got null$/);
  });

  test('THEN a pattern subclassed outside the library is checked as a string', () => {
    class Everyone extends PrincipalPattern {
      public readonly pattern = iamArn('*');
    }
    expect(() => renderPrincipalPatterns('adminPrincipals', [new Everyone()], true)).toThrow(/adminPrincipals\[0\] ".*": it matches every principal/);
  });
});
