// Issue 12, organization-wide mode: RevocationEnforcement.organizationScp() makes the TVM's stack declare one service
// control policy, a deny-nothing placeholder that the enforcer rewrites, and lets the enforcer describe and update that
// policy and nothing else of AWS Organizations. Asserted on the synthesized template, and with an IAM policy simulator.
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { listPolicy } from '../lambda/enforcer/policy';
import { RevocationEnforcement, SentinelTvm } from '../src';
import { decideUnderScp } from './support/guardrail-scp';
import { ACCOUNT, CfnResolver, REGION, asArray, fullTvm, identityStatementsOf, logicalIdOf, newApp, removeOutdirs } from './support/synth';
import { Env, SCP_MAX_CHARS, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

afterAll(removeOutdirs);

const TARGETS = ['r-ab12', 'ou-ab12-cdef5678', '444455556666'];
const POLICY_ARN = `arn:aws:organizations::${ACCOUNT}:policy/o-exampleorgid/service_control_policy/p-examplepolicy`;
const SESSION_ID = '0123456789abcdef';

function organizationTvm(targetIds = TARGETS): { tvm: SentinelTvm; template: any } {
  const stack = new Stack(newApp(), 'Tvm', { env: { account: ACCOUNT, region: REGION } });
  const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: 'central', revocation: RevocationEnforcement.organizationScp({ targetIds }) });
  return { tvm, template: Template.fromStack(stack).toJSON() };
}

const resourcesOf = (template: any, type: string): Array<[string, any]> =>
  Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);

const enforcerRoleIdOf = (tvm: SentinelTvm) => logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Role') as iam.Role);

describe('GIVEN a TVM with revocation: RevocationEnforcement.organizationScp({ targetIds })', () => {
  let tvm: SentinelTvm;
  let template: any;
  let policyId: string;
  let resolver: CfnResolver;

  beforeAll(() => {
    ({ tvm, template } = organizationTvm());
    const policies = resourcesOf(template, 'AWS::Organizations::Policy');
    expect(policies).toHaveLength(1);
    policyId = policies[0][0];
    resolver = new CfnResolver(template, { [policyId]: POLICY_ARN });
  });

  test('THEN the stack declares one SCP, named after the TVM and its Region, attached to the targets', () => {
    const props = template.Resources[policyId].Properties;
    expect(props.Type).toBe('SERVICE_CONTROL_POLICY');
    expect(props.Name).toBe(`SentinelRevokedSessions-central-${REGION}`);
    expect(props.TargetIds).toEqual(TARGETS);
    expect(RevocationEnforcement.organizationScp({ targetIds: TARGETS }).mode).toBe('ORGANIZATION_SCP');
  });

  test('THEN its content is the constant deny-nothing placeholder, within the SCP size limit', () => {
    const content = template.Resources[policyId].Properties.Content;
    expect(content).toEqual(SPOKE_PLACEHOLDER_POLICY);
    expect(JSON.stringify(content).length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    expect(organizationTvm(['r-zz99']).template.Resources[policyId].Properties.Content).toEqual(content);
  });

  test('THEN the enforcer gets the policy\'s id in SENTINEL_ORGANIZATION_POLICY_ID, and still denies on the roles as roleDenyPolicy', () => {
    const fn = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![1];
    expect(fn.Properties.Environment.Variables[Env.ORGANIZATION_POLICY_ID]).toEqual({ 'Fn::GetAtt': [policyId, 'Id'] });
    expect(fn.Properties.Environment.Variables[Env.REVOKED_POLICY_NAME]).toBe(tvm.revokedSessionsPolicyName);
  });

  test('THEN the enforcer\'s only Organizations permissions are DescribePolicy and UpdatePolicy on that policy, from its own function', () => {
    const statements = resolver.resolve(identityStatementsOf(template, enforcerRoleIdOf(tvm)));
    const organizations = statements.filter((s: any) => s.Effect === 'Allow'
      && asArray<string>(s.Action).some((a) => a.startsWith('organizations:') || a === '*'));
    expect(organizations)
      .toEqual([{ Effect: 'Allow', Action: ['organizations:DescribePolicy', 'organizations:UpdatePolicy'], Resource: POLICY_ARN }]);
    const onlyFromFunction = statements.find((s: any) => s.Sid === 'OnlyFromItsOwnFunction');
    expect(onlyFromFunction.Action).toEqual(expect.arrayContaining(['organizations:DescribePolicy', 'organizations:UpdatePolicy']));
  });

  describe('WHEN IAM decides what the enforcer may do in AWS Organizations (its synthesized policies)', () => {
    let policy: unknown;
    let functionArn: string;

    beforeAll(() => {
      policy = { Version: '2012-10-17', Statement: resolver.resolve(identityStatementsOf(template, enforcerRoleIdOf(tvm))) };
      functionArn = resolver.arn(resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![0]);
    });

    const decide = async (action: string, resource: string, fromFunction = functionArn) => {
      const result = await runSimulation({
        request: {
          principal: `arn:aws:sts::${ACCOUNT}:assumed-role/central-enforce-${REGION}/enforcer`,
          action,
          resource: { resource, accountId: ACCOUNT },
          contextVariables: { 'lambda:SourceFunctionArn': fromFunction },
        },
        identityPolicies: [{ name: 'enforcer', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      }, {});
      if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
      return result.overallResult;
    };

    test.each(['organizations:DescribePolicy', 'organizations:UpdatePolicy'])('THEN %s on the TVM\'s SCP is allowed', async (action) => {
      expect(await decide(action, POLICY_ARN)).toBe('Allowed');
    });

    test.each(['organizations:DescribePolicy', 'organizations:UpdatePolicy'])('THEN %s from another function run as the role is denied',
      async (action) => {
        expect(await decide(action, POLICY_ARN, `arn:aws:lambda:${REGION}:${ACCOUNT}:function:someone-else`)).toBe('ExplicitlyDenied');
      });

    test.each([
      ['organizations:UpdatePolicy on another SCP', 'organizations:UpdatePolicy', POLICY_ARN.replace('p-examplepolicy', 'p-otherpolicy')],
      ['organizations:DeletePolicy on the TVM\'s SCP', 'organizations:DeletePolicy', POLICY_ARN],
      ['organizations:DetachPolicy from the root', 'organizations:DetachPolicy', POLICY_ARN],
      ['organizations:AttachPolicy', 'organizations:AttachPolicy', POLICY_ARN],
      ['organizations:CreatePolicy', 'organizations:CreatePolicy', POLICY_ARN],
      ['organizations:UpdatePolicy on a resource control policy', 'organizations:UpdatePolicy',
        POLICY_ARN.replace('service_control_policy', 'resource_control_policy')],
    ])('THEN %s is denied', async (_case, action, resource) => {
      expect(await decide(action, resource)).toBe('ImplicitlyDenied');
    });
  });

  describe('WHEN IAM decides a request of a session tagged with a revoked id in an account under the SCP', () => {
    const principal = 'arn:aws:sts::111122223333:assumed-role/reader/alice';
    const tagged = (id: string) => ({ 'aws:PrincipalTag/SentinelSessionID': id });

    test('THEN the placeholder the stack declares denies nothing, for tagged sessions and untagged principals alike', async () => {
      const placeholder = template.Resources[policyId].Properties.Content;
      expect(await decideUnderScp(placeholder, principal, 's3:GetObject', 'arn:aws:s3:::data/key', tagged(SESSION_ID))).toBe('Allowed');
      expect(await decideUnderScp(placeholder, principal, 's3:GetObject', 'arn:aws:s3:::data/key', {})).toBe('Allowed');
    });

    test('THEN the same SCP with the revoked ids listed (as the enforcer writes it) denies that session, and only that one', async () => {
      const written = JSON.parse(listPolicy([SESSION_ID]));
      expect(await decideUnderScp(written, principal, 's3:GetObject', 'arn:aws:s3:::data/key', tagged(SESSION_ID))).toBe('ExplicitlyDenied');
      expect(await decideUnderScp(written, principal, 's3:GetObject', 'arn:aws:s3:::data/key', tagged('fedcba9876543210'))).toBe('Allowed');
    });
  });
});

describe('GIVEN the other revocation modes', () => {
  test.each([
    ['roleDenyPolicy', RevocationEnforcement.roleDenyPolicy()],
    ['futureVendsOnly', RevocationEnforcement.futureVendsOnly()],
  ])('THEN %s declares no SCP and grants nothing of AWS Organizations', (_mode, revocation) => {
    const stack = new Stack(newApp(), 'Tvm', { env: { account: ACCOUNT, region: REGION } });
    new SentinelTvm(stack, 'Tvm', { revocation });
    const template = Template.fromStack(stack).toJSON();
    expect(resourcesOf(template, 'AWS::Organizations::Policy')).toEqual([]);
    expect(JSON.stringify(template)).not.toContain('organizations:');
    expect(JSON.stringify(template)).not.toContain(Env.ORGANIZATION_POLICY_ID);
  });
});

describe('GIVEN organizationScp targets', () => {
  test('THEN roots, organizational units and accounts are accepted, and tokens are left to CloudFormation', () => {
    expect(() => RevocationEnforcement.organizationScp({ targetIds: ['r-0a1b', 'ou-0a1b-0a1b2c3d', '000011112222'] })).not.toThrow();
  });

  test.each<[string, unknown, RegExp]>([
    ['none', [], /organizationScp: targetIds must list at least one root/],
    ['a missing list', undefined, /organizationScp: targetIds must list at least one root/],
    ['an organization id', ['o-ab12cd34ef'], /organizationScp: targetIds\[0\] is "o-ab12cd34ef": expected a root \(r-…\), an organizational unit/],
    ['an account of 11 digits', ['r-ab12', '44445555666'], /targetIds\[1\] is "44445555666"/],
    ['an OU without its second part', ['ou-ab12'], /targetIds\[0\] is "ou-ab12"/],
    ['an upper-case root', ['R-AB12'], /targetIds\[0\] is "R-AB12"/],
    ['an ARN', ['arn:aws:organizations::111122223333:root/o-ab12cd34ef/r-ab12'], /targetIds\[0\] is "arn:/],
    ['a number', [444455556666], /targetIds\[0\] must be a string/],
    ['a duplicate', ['r-ab12', '444455556666', 'r-ab12'], /targetIds\[2\] is r-ab12, listed twice/],
  ])('THEN %s is refused, naming targetIds', (_case, targetIds, message) => {
    expect(() => RevocationEnforcement.organizationScp({ targetIds } as any)).toThrow(message);
  });
});

describe('GIVEN the full TVM app in organization mode', () => {
  test('WHEN cdk-nag AwsSolutions checks it THEN nothing is left unacknowledged', () => {
    const full = fullTvm({ props: { revocation: RevocationEnforcement.organizationScp({ targetIds: TARGETS }) } });
    full.app.synth();
    const report = new AwsSolutionsChecks().validateScope(full.app);
    expect(report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`))).toEqual([]);
  });
});
