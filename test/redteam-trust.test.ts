// Red team: who else can obtain a protected role's credentials, or strip its deny, now that the trust names the TVM's
// account with an `aws:PrincipalArn` condition on a fixed, formatted execution-role ARN, and a TVM's IAM paths come from
// its user-chosen name alone. Policies come from synthesized templates and are evaluated by an IAM policy simulator;
// each test asserts what must hold (they failed before the fixes of the red-team review).
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ProtectedRole, SentinelTvm } from '../src';
import { ACCOUNT, CfnResolver, identityStatementsOf, logicalIdOf, newApp, P, removeOutdirs } from './support/synth';

afterAll(removeOutdirs);

const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
interface Decision {
  readonly principal: string;
  /** IAM's aws:PrincipalArn: for a role session, its role's ARN with the role's path. */
  readonly principalArn: string;
  readonly action: string;
  readonly resource: string;
  readonly identityPolicy: unknown;
  readonly resourcePolicy?: unknown;
  readonly context?: Record<string, string | string[]>;
}

async function decide(d: Decision): Promise<string> {
  const result = await runSimulation({
    request: {
      principal: d.principal,
      action: d.action,
      resource: { resource: d.resource, accountId: ACCOUNT },
      contextVariables: { 'aws:PrincipalArn': d.principalArn, ...d.context },
    },
    identityPolicies: [{ name: 'identity', policy: d.identityPolicy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(d.resourcePolicy ? { resourcePolicy: d.resourcePolicy } : {}),
  }, {});
  if (result.resultType === 'error') throw new Error(`the simulation did not run: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

/** A role session's ARN, from the role's ARN (sessions carry no path). */
const sessionOf = (roleArn: string, session: string) =>
  roleArn.replace(/:iam::(\d+):role\/(?:.*\/)?([^/]+)$/, `:sts::$1:assumed-role/$2/${session}`);

describe('GIVEN a ProtectedRole in a stack of another account than its TVM\'s environment-agnostic stack', () => {
  test('fails when a ProtectedRole in a stack of another account silently trusts an execution role of that account: the TVM\'s '
    + 'stack is environment-agnostic, so `${AWS::AccountId}` resolves in the role\'s stack, where no SCP guards the name', () => {
    // Either outcome is right: synthesis refuses the role, or it warns.
    const outcome = (): string[] => {
      const app = newApp();
      const tvmStack = new Stack(app, 'TvmStack');
      const tvm = new SentinelTvm(tvmStack, 'Tvm', { tvmName: 'prod', adminPrincipals: [P(ALICE)] });
      const spoke = new Stack(app, 'Spoke', { env: { account: '222233334444', region: 'eu-west-1' } });
      new ProtectedRole(spoke, 'Reader', { tvm });
      // The trust's aws:PrincipalArn is Fn::Join of Ref AWS::AccountId, which in Spoke is 222233334444.
      Template.fromStack(spoke);
      const annotations = Annotations.fromStack(spoke);
      return [...annotations.findWarning('*', Match.anyValue()), ...annotations.findError('*', Match.anyValue())].map((m) => String(m.entry.data));
    };

    let messages: string[];
    try {
      messages = outcome();
    } catch (err) {
      messages = [String((err as Error).message)];
    }
    expect(messages).toContainEqual(expect.stringMatching(/account|environment/i));
  });
});

describe('GIVEN a ProtectedRole of a TVM of another app (fromSentinelTvmAttributes), as the README shows', () => {
  test('fails when its sessions may still assume other roles: nothing confines it (the TVM\'s app only warns), so a credential '
    + 'chained before its revocation keeps working in a role that carries no deny', async () => {
    const app = newApp();
    const stack = new Stack(app, 'Roles', { env: { account: ACCOUNT, region: 'eu-west-1' } });
    const tvm = SentinelTvm.fromSentinelTvmAttributes(stack, 'Tvm', {
      url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
      apiId: 'abc123',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/prod/prod-vend-eu-west-1`,
      tvmName: 'prod',
    });
    const role = new ProtectedRole(stack, 'Reader', { tvm, roleName: 'prod-reader' });
    role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess'));
    const template = Template.fromStack(stack).toJSON();
    const own = new CfnResolver(template).resolve(identityStatementsOf(template, logicalIdOf(role)));
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/prod/prod-reader`;

    const decision = await decide({
      principal: sessionOf(roleArn, 'tvm-0123456789abcdef-alice'),
      principalArn: roleArn,
      action: 'sts:AssumeRole',
      resource: `arn:aws:iam::${ACCOUNT}:role/SomeRoleTrustingTheAccount`,
      identityPolicy: { Version: '2012-10-17', Statement: [...ALLOW_ALL.Statement, ...own] },
    });

    expect(decision).toBe('ExplicitlyDenied');
    // Nor may its sessions call that TVM for a fresh session.
    expect(await decide({
      principal: sessionOf(roleArn, 'tvm-0123456789abcdef-alice'),
      principalArn: roleArn,
      action: 'execute-api:Invoke',
      resource: `arn:aws:execute-api:eu-west-1:${ACCOUNT}:abc123/$default/GET/profiles`,
      identityPolicy: { Version: '2012-10-17', Statement: [...ALLOW_ALL.Statement, ...own] },
    })).toBe('ExplicitlyDenied');
  });
});

describe('GIVEN a TVM named by its attributes', () => {
  test('fails when an execution role ARN with a wildcard is accepted: ArnEquals matches wildcards as ArnLike does, so the '
    + 'ProtectedRole would trust every role the wildcard covers', () => {
    const app = newApp();
    const stack = new Stack(app, 'Roles', { env: { account: ACCOUNT, region: 'eu-west-1' } });

    expect(() => SentinelTvm.fromSentinelTvmAttributes(stack, 'Tvm', {
      url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
      apiId: 'abc123',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/prod/*`,
      tvmName: 'prod',
    })).toThrow(/executionRoleArn/);
  });
});
