// The enforcer's settings: read once per container from the environment the construct sets, with an error naming the
// variable that is missing or malformed, so that a deployment defect shows at cold start instead of as a silent run.
import { readEnforcerSettings } from '../lambda/enforcer/settings';
import { Env, revokedSessionsPolicyName } from '../src/shared/contract';

const ENV = {
  [Env.TABLE_NAME]: 'sessions',
  [Env.CONTROL_TABLE_NAME]: 'control',
  [Env.CONFIG_DIGEST]: 'a'.repeat(64),
  [Env.REVOKED_POLICY_NAME]: revokedSessionsPolicyName('MyTvm', 'us-east-1'),
  [Env.PROTECTED_ROLE_PATH]: '/sentinel-tvm/MyTvm/',
  [Env.STACK_ID]: 'arn:aws:cloudformation:us-east-1:111122223333:stack/MyStack/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9',
};

describe('GIVEN the enforcer\'s environment', () => {
  test('WHEN every variable is set THEN the settings name this TVM\'s policy, protected role path and stack', () => {
    expect(readEnforcerSettings(ENV)).toEqual({
      tableName: 'sessions',
      controlTableName: 'control',
      configDigest: 'a'.repeat(64),
      policyName: 'SentinelRevokedSessions-MyTvm-us-east-1',
      protectedRolePath: '/sentinel-tvm/MyTvm/',
      stackId: 'arn:aws:cloudformation:us-east-1:111122223333:stack/MyStack/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9',
    });
  });

  test('WHEN the protected role path is not set THEN only the configuration\'s roles are followed', () => {
    const { [Env.PROTECTED_ROLE_PATH]: _path, ...env } = ENV;
    expect(readEnforcerSettings(env).protectedRolePath).toBeUndefined();
  });

  const REQUIRED = [Env.REVOKED_POLICY_NAME, Env.TABLE_NAME, Env.CONTROL_TABLE_NAME, Env.CONFIG_DIGEST, Env.STACK_ID];
  test.each(REQUIRED)('fails when %s is missing, naming it', (name) => {
    expect(() => readEnforcerSettings({ ...ENV, [name]: undefined })).toThrow(new RegExp(`^environment variable ${name} is not set`));
  });

  test.each([
    [Env.REVOKED_POLICY_NAME, 'not a policy name (a space)', 'Sentinel Revoked'],
    [Env.REVOKED_POLICY_NAME, 'longer than IAM allows', 'x'.repeat(129)],
    [Env.PROTECTED_ROLE_PATH, 'the root path (every role of the account)', '/'],
    [Env.PROTECTED_ROLE_PATH, 'without its leading slash', 'sentinel-tvm/MyTvm/'],
    [Env.PROTECTED_ROLE_PATH, 'without its trailing slash', '/sentinel-tvm/MyTvm'],
    [Env.PROTECTED_ROLE_PATH, 'not an IAM path (a space)', '/sentinel tvm/'],
  ])('fails when %s is %s, naming it', (name, _what, value) => {
    expect(() => readEnforcerSettings({ ...ENV, [name]: value })).toThrow(new RegExp(`^environment variable ${name} is "`));
  });

  test('fails when the entry point starts without SENTINEL_REVOKED_POLICY_NAME: the Lambda does not start', () => {
    // The entry point reads its settings when loaded, as Lambda loads it once per container.
    const load = () => jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('../lambda/enforcer.lambda');
    });
    const saved = { ...process.env };
    try {
      Object.assign(process.env, ENV, { AWS_REGION: 'us-east-1' });
      delete process.env[Env.REVOKED_POLICY_NAME];
      expect(load).toThrow(/^environment variable SENTINEL_REVOKED_POLICY_NAME is not set/);
      process.env[Env.REVOKED_POLICY_NAME] = ENV[Env.REVOKED_POLICY_NAME];
      expect(load).not.toThrow();
    } finally {
      process.env = saved;
    }
  });
});
