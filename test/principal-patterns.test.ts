// The rule for principal ARN patterns (src/shared/principal-patterns.ts) and the two places that apply it: the
// construct's synth-time validation and local mode's config file. Reviews M4, M5 and L9.
import * as fs from 'fs';
import * as path from 'path';
import { validateConfig } from '../cli/local/config';
import { PrincipalPattern } from '../src';
import { renderPrincipalPatterns } from '../src/private/principals';
import { principalPatternProblem } from '../src/shared/principal-patterns';

const ACCOUNT = '111122223333';
const iamArn = (resource: string) => `arn:aws:iam::${ACCOUNT}:${resource}`;
const stsArn = (resource: string) => `arn:aws:sts::${ACCOUNT}:${resource}`;
const OPT_IN = { allowCallerChosenNames: true };
const NAMES_THE_OPT_IN = /set allowCallerChosenPrincipalNames: true to accept it/;
const ROLE_PATH = new RegExp('an assumed-role ARN does not carry the role\'s path; name the role \\(its path is ignored: role names are unique '
  + 'in an account\\) or use a wildcard only in the last segment');

describe('GIVEN patterns that pin the principal', () => {
  test.each([
    iamArn('user/alice'),
    iamArn('user/*'),
    iamArn('user/*/*/*/*/*/*/alice'),
    iamArn('root'),
    iamArn('role/Deploy'),
    iamArn('role/*'),
    iamArn('role/Prefix*'),
    iamArn('role/ci/Deploy'),
    iamArn('role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_abc'),
    stsArn('assumed-role/ExactRole/*'),
    stsArn('assumed-role/ExactRole/alice'),
    stsArn('assumed-role/ExactRole/al*'),
    stsArn('assumed-role/AWSReservedSSO_ReadOnly_*/*'),
    stsArn('assumed-role/AWSReservedSSO_ReadOnly_?/??'),
    stsArn('assumed-role/Admin*'),
    'arn:aws-cn:sts::111122223333:assumed-role/ExactRole/*',
  ])('THEN %s is accepted without the opt-in', (pattern) => {
    expect(principalPatternProblem(pattern)).toBeUndefined();
  });
});

describe('GIVEN patterns that can match a caller-chosen name or another account (reviews M4, L9)', () => {
  test.each<[string, string, RegExp]>([
    ['a wildcard account', 'arn:aws:iam::*:user/*', /account "\*" is not literal, so it matches principals of accounts you may not control/],
    ['a single-character wildcard account', 'arn:aws:iam::????????????:root', /account "\?{12}" is not literal/],
    ['a wildcard partition', `arn:*:iam::${ACCOUNT}:user/alice`, /partition "\*" is not literal/],
    ['a wildcard service', `arn:aws:*::${ACCOUNT}:user/alice`, /service "\*" is not literal/],
    ['everything but the name a wildcard', 'arn:*:*::*:*/alice', /partition "\*" and service "\*" and account "\*" are not literal/],
    ['a federated user', stsArn('federated-user/alice'), /federated-user name is chosen by whoever calls sts:GetFederationToken/],
    ['every federated user', stsArn('federated-user/*'), /federated-user name is chosen by whoever calls sts:GetFederationToken/],
    ['any role, a session name', stsArn('assumed-role/*/alice'), /session name is chosen by whoever calls sts:AssumeRole/],
    ['a role prefix, a session name', stsArn('assumed-role/BobsRole*/alice'), /its role has a wildcard but its session name does not/],
    ['any role, part of a session name', stsArn('assumed-role/*/alice*'), /its role has a wildcard but its session name does not/],
    ['a role wildcard spanning the session', stsArn('assumed-role/*alice'), /its role has a wildcard but its session name does not/],
    ['a role with a one-character wildcard', stsArn('assumed-role/Adm?n/alice'), /its role has a wildcard but its session name does not/],
    ['only the final segment', stsArn('*/alice'), /principal type "\*" is a wildcard, so it pins only the name/],
    ['a partial principal type', stsArn('*-user/alice'), /principal type "\*-user" is a wildcard/],
  ])('fails when it has %s (%s), saying why and naming the opt-in; the opt-in accepts it', (_case, pattern, why) => {
    const problem = principalPatternProblem(pattern);
    expect(problem).toMatch(why);
    expect(problem).toMatch(NAMES_THE_OPT_IN);
    expect(principalPatternProblem(pattern, OPT_IN)).toBeUndefined();
    expect(principalPatternProblem(pattern, { allowCallerChosenNames: false })).toBe(problem);
  });
});

describe('GIVEN patterns refused even with the opt-in', () => {
  test.each<[string, string, RegExp]>([
    ['every principal of an account', iamArn('*'), /matches every principal/],
    ['every principal everywhere', 'arn:*:*::*:*', /matches every principal/],
    ['every principal everywhere, by type wildcards', 'arn:aws:iam::*:*/*', /matches every principal/],
    ['a wildcard in a role path (review M5)', iamArn('role/ci/*/Deploy'), ROLE_PATH],
    ['a wildcard as a role path', iamArn('role/*/Deploy'), ROLE_PATH],
    ['a wildcard role name under a path, which would match that name under any path', iamArn('role/ci/Deploy*'), ROLE_PATH],
    ['every role under a path, which would be every role', iamArn('role/ci/*'), ROLE_PATH],
    ['a 5-digit account', 'arn:aws:iam::12345:user/x', /matches no account/],
    ['no ARN', 'alice', /expected a principal ARN pattern/],
  ])('fails when it is %s (%s)', (_case, pattern, message) => {
    expect(principalPatternProblem(pattern)).toMatch(message);
    expect(principalPatternProblem(pattern, OPT_IN)).toMatch(message);
  });

  test('THEN the role path message suggests the role name alone', () => {
    expect(principalPatternProblem(iamArn('role/ci/*/Deploy'))).toMatch(/\("ci\/\*\/"\).*\(role\/Deploy\)$/);
    expect(principalPatternProblem(iamArn('role/ci/Deploy*'))).toMatch(/\(role\/Deploy\*\)$/);
  });
});

describe('GIVEN the construct\'s validation', () => {
  const federated = [iamArn('user/alice'), stsArn('federated-user/alice')].map((p) => PrincipalPattern.fromArnPattern(p));

  test('fails when a pattern matches a caller-chosen name, naming the prop, the index and the opt-in', () => {
    expect(() => renderPrincipalPatterns('allowedPrincipals', federated, false))
      .toThrow(/^allowedPrincipals\[1\] "arn:aws:sts::111122223333:federated-user\/alice": a federated-user name .* allowCallerChosenPrincipalNames/);
  });

  test('THEN the opt-in accepts it', () => {
    expect(() => renderPrincipalPatterns('allowedPrincipals', federated, false, OPT_IN)).not.toThrow();
  });
});

describe('GIVEN local mode\'s config file', () => {
  const example = () => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'examples', 'local', 'config.json'), 'utf8'));
  const withFederatedAdmin = (extra: object = {}) => ({ ...example(), adminPrincipals: [stsArn('federated-user/jane')], ...extra });

  test('fails when a pattern matches a caller-chosen name, naming the field and the opt-in', () => {
    expect(() => validateConfig(withFederatedAdmin()))
      .toThrow(/^adminPrincipals\[0\] is ".*": a federated-user name .* allowCallerChosenPrincipalNames/);
  });

  test('THEN "allowCallerChosenPrincipalNames": true at top level accepts it', () => {
    expect(validateConfig(withFederatedAdmin({ allowCallerChosenPrincipalNames: true })).adminPrincipals).toEqual([stsArn('federated-user/jane')]);
  });

  test('fails when the opt-in is not a boolean', () => {
    expect(() => validateConfig(withFederatedAdmin({ allowCallerChosenPrincipalNames: 'yes' })))
      .toThrow(/^allowCallerChosenPrincipalNames is "yes": expected true or false$/);
  });
});
