// An integ-runner app: `npx projen integ` checks its committed snapshot offline (templates, asset hashes ignored);
// test/integ/README.md deploys it to a real account and walks through vend → use → revoke → AccessDenied.
import * as path from 'path';
import { App, attachCustomSynthesis, Aws, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Manifest } from 'aws-cdk-lib/cloud-assembly-schema';
import { Construct } from 'constructs';
import { PrincipalPattern, ProtectedRole, SentinelTvm } from '../../src';

const app = new App({
  // Without this, the snapshot's metadata records construct stack traces: absolute paths of the checkout that wrote it.
  context: { 'aws:cdk:disable-creation-stack-traces': true },
});
// Environment-agnostic: the snapshot is the same whatever account and region integ-runner deploys to.
const stack = new Stack(app, 'SentinelTvmInteg', {
  description: 'cdk-sentinel-tvm integration test: a TVM, a protected role, a profile and a CI role (see test/integ/README.md)',
});

// The two callers of the walkthrough: roles of this account that the tester assumes.
const operator = new iam.AccountPrincipal(Aws.ACCOUNT_ID);
const ciRole = new iam.Role(stack, 'CiRole', { assumedBy: operator, description: 'Sentinel TVM integ: vends credentials' });
const adminRole = new iam.Role(stack, 'AdminRole', { assumedBy: operator, description: 'Sentinel TVM integ: revokes sessions' });

const tvm = new SentinelTvm(stack, 'Tvm', {
  // A fixed name: the revoked-sessions policy, the roles' paths and the metrics are named after it.
  tvmName: 'sentinel-integ',
  sessionLifetime: Duration.hours(1),
  defaultCredentialDuration: Duration.minutes(15),
  // The default (RETAIN) is what users get; the walkthrough deletes the tables and log groups by hand after `destroy`.
  removalPolicy: RemovalPolicy.RETAIN,
});

// What the vended credentials may do: enough to see them work (get-caller-identity needs nothing) and be denied.
const target = new ProtectedRole(stack, 'Target', {
  tvm,
  description: 'Sentinel TVM integ: the protected role vended for profile integ-readonly',
  inlinePolicies: {
    ListBuckets: new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ actions: ['s3:ListAllMyBuckets'], resources: ['*'] })],
    }),
  },
});

tvm.addProfile('integ-readonly', {
  role: target,
  allowedPrincipals: [PrincipalPattern.roleSessions(ciRole)],
  maxCredentialDuration: Duration.minutes(15),
});

tvm.grantInvoke(ciRole);
// The admin role revokes through the API: it becomes an administrator of the TVM's sessions.
tvm.grantManageSessions(adminRole);

new CfnOutput(stack, 'Url', { value: tvm.url });
new CfnOutput(stack, 'CiRoleArn', { value: ciRole.roleArn });
new CfnOutput(stack, 'AdminRoleArn', { value: adminRole.roleArn });
new CfnOutput(stack, 'TargetRoleArn', { value: target.roleArn });
new CfnOutput(stack, 'TableName', { value: tvm.sessionTableName });
new CfnOutput(stack, 'ExecutionRoleArn', { value: tvm.executionRoleArn });
new CfnOutput(stack, 'RevokedSessionsPolicyName', { value: tvm.revokedSessionsPolicyName });

// What @aws-cdk/integ-tests-alpha's IntegTest writes (it is not a dependency of this project): integ.json, the test
// manifest integ-runner reads. Without it integ-runner falls back to its legacy mode, which refuses new tests.
// No update workflow: it would deploy the previous snapshot first, and it keeps the Lambda bundles out of the snapshot.
attachCustomSynthesis(new Construct(app, 'IntegTest'), {
  onSynthesize: (session) => Manifest.saveIntegManifest({
    version: Manifest.version(),
    testCases: {
      'IntegTest/DefaultTest': { stacks: [stack.artifactId], stackUpdateWorkflow: false, diffAssets: false },
    },
  }, path.join(session.assembly.outdir, 'integ.json')),
});

app.synth();
