// A CDK app you can copy. In your own app, import from 'cdk-sentinel-tvm' instead of '../src'.
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';

const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const account = process.env.CDK_DEFAULT_ACCOUNT ?? '111122223333';
const stack = new Stack(app, 'SentinelTvmExample', {
  env: { account, region: process.env.CDK_DEFAULT_REGION ?? 'eu-west-1' },
});

const securityOps = iam.Role.fromRoleName(stack, 'SecurityOps', 'SecurityOps');
const tvm = new SentinelTvm(stack, 'Tvm', {
  // A fixed name: it names the TVM's roles and metrics, and other stacks and accounts can refer to it.
  tvmName: 'example',
  adminPrincipals: [PrincipalPattern.roleSessions(securityOps)],
  sessionLifetime: Duration.hours(12),
  defaultCredentialDuration: Duration.minutes(15),
});

// A role only the TVM can assume, only with a session tag.
const readOnly = new ProtectedRole(stack, 'ReadOnly', {
  tvm,
  managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')],
});

tvm.addProfile('prod-readonly', {
  role: readOnly,
  allowedPrincipals: [
    PrincipalPattern.iamUser(account, 'alice'),
    PrincipalPattern.identityCenterPermissionSet(account, 'ReadOnly'),
  ],
  maxCredentialDuration: Duration.hours(1),
});

// Pipelines call the API with their own role.
const ci = new iam.Role(stack, 'CiRole', { assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com') });
tvm.grantInvoke(ci);

app.synth();
