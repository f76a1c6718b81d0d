// The runtime matcher of principal ARN patterns (lambda/match.ts): IAM's ArnLike semantics, in linear time (review L4),
// and role patterns with a path matching that role's sessions (review M5).
import * as fc from 'fast-check';
import { callerFrom } from '../lambda/identity';
import { compileArnPattern, PrincipalMatcher } from '../lambda/match';

const ACCOUNT = '111122223333';
const iamArn = (resource: string, account = ACCOUNT) => `arn:aws:iam::${account}:${resource}`;
const stsArn = (resource: string, account = ACCOUNT) => `arn:aws:sts::${account}:${resource}`;
/** Whether the patterns admit the caller as the handler asks: the full ARN and, for a role session, its role ARN. */
const admits = (patterns: string[], callerArn: string) => new PrincipalMatcher(patterns).matchesAny(callerFrom({ userArn: callerArn }).matchArns);

describe('GIVEN IAM wildcards', () => {
  test.each<[string, string, boolean]>([
    [iamArn('user/alice'), iamArn('user/alice'), true],
    [iamArn('user/alice'), iamArn('user/ALICE'), false],
    [iamArn('user/alice'), iamArn('user/alice2'), false],
    [iamArn('user/alice'), iamArn('user/alic'), false],
    [iamArn('user/*'), iamArn('user/team/alice'), true],
    [iamArn('user/*/alice'), iamArn('user/a/b/c/alice'), true],
    [iamArn('user/*/alice'), iamArn('user/alice'), false],
    [iamArn('user/ci-?'), iamArn('user/ci-7'), true],
    [iamArn('user/ci-?'), iamArn('user/ci-77'), false],
    [iamArn('user/ci-?'), iamArn('user/ci-'), false],
    [iamArn('user/a.b+c'), iamArn('user/a.b+c'), true],
    [iamArn('user/a.b+c'), iamArn('user/aXbbc'), false],
    [iamArn('user/*a*b*'), iamArn('user/xxaxxbxx'), true],
    [iamArn('user/*a*b*'), iamArn('user/xxbxxaxx'), false],
    [iamArn('user/*'), iamArn('user/*', '444455556666'), false],
    [stsArn('assumed-role/AWSReservedSSO_ReadOnly_*/*'), stsArn('assumed-role/AWSReservedSSO_ReadOnly_0123/carol@example.com'), true],
    [stsArn('assumed-role/AWSReservedSSO_ReadOnly_*/*'), stsArn('assumed-role/AWSReservedSSO_Admin_0123/carol@example.com'), false],
    [iamArn('root'), iamArn('root'), true],
    ['arn:aws:iam::????????????:root', iamArn('root'), true],
  ])('THEN %s matching %s is %s', (pattern, arn, expected) => {
    expect(compileArnPattern(pattern).matches(arn)).toBe(expected);
    expect(new PrincipalMatcher([pattern]).matches(arn)).toBe(expected);
  });

  test('THEN a `*` never crosses a `:`: each of the six ARN parts is matched on its own, as ArnLike does', () => {
    expect(compileArnPattern('arn:aws:iam::*:user/alice').matches(`arn:aws:iam::${ACCOUNT}:x:user/alice`)).toBe(false);
    expect(compileArnPattern('arn:aws:*:user/alice').matches(iamArn('user/alice'))).toBe(false);
    expect(compileArnPattern('arn:*:iam::*:user/alice').matches('arn:aws-cn:iam::444455556666:user/alice')).toBe(true);
  });

  test('THEN the resource keeps its further `:`s, and a `*` in it matches them', () => {
    expect(compileArnPattern(iamArn('user/*')).matches(iamArn('user/a:b'))).toBe(true);
  });

  test('THEN a pattern that is not an ARN matches nothing, not everything', () => {
    expect(new PrincipalMatcher(['*']).matches(iamArn('user/alice'))).toBe(false);
    expect(new PrincipalMatcher([]).matchesAny([iamArn('user/alice')])).toBe(false);
  });

  test('THEN, within one part, it agrees with a regular expression on generated patterns and names', () => {
    const unit = (chars: string) => fc.string({ unit: fc.constantFrom(...chars), maxLength: 12 });
    fc.assert(fc.property(unit('ab/*?'), unit('ab/'), (pattern, name) => {
      const regex = new RegExp(`^${pattern.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
      expect(compileArnPattern(iamArn(`user/${pattern}`)).matches(iamArn(`user/${name}`))).toBe(regex.test(name));
    }), { numRuns: 5000 });
  });
});

describe('GIVEN a pattern with many wildcards and a user ARN with a long path (review L4)', () => {
  const pattern = iamArn('user/*/*/*/*/*/*/alice');
  const longPath = 'a/'.repeat(250);

  // The figure itself is `npm run bench`'s ("principal match, L4 worst case"). Here the best of five batches is taken,
  // so a batch that the other test workers or a garbage collection slowed down cannot fail the test, while a matcher
  // that backtracks (seconds for one decision) fails every batch.
  test('THEN it is decided in linear time: 100 non-matching decisions well under 50 ms (regexes took 3.3 s for one)', () => {
    const arn = iamArn(`user/${longPath}bob`);
    expect(arn).toHaveLength(534);
    const matcher = new PrincipalMatcher([pattern]);
    const batches = Array.from({ length: 5 }, () => {
      const start = performance.now();
      for (let i = 0; i < 100; i++) expect(matcher.matches(arn)).toBe(false);
      return performance.now() - start;
    });
    expect(Math.min(...batches)).toBeLessThan(50);
  });

  test('THEN it still matches the user it names', () => {
    expect(new PrincipalMatcher([pattern]).matches(iamArn(`user/${longPath}alice`))).toBe(true);
  });
});

describe('GIVEN a role pattern with a path, and a session of that role, whose ARN carries no path (review M5)', () => {
  const ssoRole = 'AWSReservedSSO_Admin_0123456789abcdef';
  const ssoConsoleArn = iamArn(`role/aws-reserved/sso.amazonaws.com/eu-west-1/${ssoRole}`);

  test.each<[string, string, string, boolean]>([
    ['a role with a path', iamArn('role/ci/Deploy'), stsArn('assumed-role/Deploy/job-42'), true],
    ['an SSO role as the console shows it', ssoConsoleArn, stsArn(`assumed-role/${ssoRole}/carol@example.com`), true],
    ['a role with a path, another role', iamArn('role/ci/Deploy'), stsArn('assumed-role/Deploy2/job-42'), false],
    ['a role with a path, another account', iamArn('role/ci/Deploy'), stsArn('assumed-role/Deploy/job-42', '444455556666'), false],
    ['a role with a path, another partition', iamArn('role/ci/Deploy'), 'arn:aws-cn:sts::111122223333:assumed-role/Deploy/job-42', false],
    ['a role without a path', iamArn('role/Deploy'), stsArn('assumed-role/Deploy/job-42'), true],
    ['every role', iamArn('role/*'), stsArn('assumed-role/Deploy/job-42'), true],
    ['a wildcard in the path (refused at synth)', iamArn('role/ci/*/Deploy'), stsArn('assumed-role/Deploy/job-42'), false],
    ['a wildcard in the name under a path (refused at synth)', iamArn('role/ci/Dep*'), stsArn('assumed-role/Deploy/job-42'), false],
  ])('THEN %s: %s admits %s is %s', (_case, pattern, caller, expected) => {
    expect(admits([pattern], caller)).toBe(expected);
  });

  test('THEN a role caller reported with its path still matches its own ARN and its name', () => {
    expect(new PrincipalMatcher([iamArn('role/ci/Deploy')]).matches(iamArn('role/ci/Deploy'))).toBe(true);
    expect(new PrincipalMatcher([iamArn('role/Deploy')]).matches(iamArn('role/ci/Deploy'))).toBe(true);
    expect(new PrincipalMatcher([iamArn('role/ci/*')]).matches(iamArn('role/ci/Deploy'))).toBe(true);
    expect(new PrincipalMatcher([iamArn('role/ci/Deploy')]).matches(iamArn('role/other/Deploy2'))).toBe(false);
  });
});
