// A hub-and-spoke app you can copy: one TVM in a security account vends roles of two workload accounts, and its
// enforcer denies revoked sessions in each of them. In your own app, import from 'cdk-sentinel-tvm' instead of '../src'.
// Synthesize with `npx cdk synth` (or `npx ts-node examples/multi-account.ts`); deploy the hub first, then the spokes.
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { PrincipalPattern, SentinelTvm, SentinelTvmSpoke } from '../src';

const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const region = 'eu-west-1';
const security = '111122223333';
const workloads = { payments: '444455556666', analytics: '777788889999' };

// The hub: the TVM, in the security account.
const hub = new Stack(app, 'SentinelTvmHub', { env: { account: security, region } });
const tvm = new SentinelTvm(hub, 'Tvm', {
  // A fixed name: the spokes' roles and the enforcer's role are named after it.
  tvmName: 'org-tvm',
  adminPrincipals: [PrincipalPattern.identityCenterPermissionSet(security, 'SecurityOps')],
  sessionLifetime: Duration.hours(8),
});

// A spoke in each workload account: its protected roles, and the enforcement role only the hub's enforcer may assume.
for (const [team, account] of Object.entries(workloads)) {
  const stack = new Stack(app, `SentinelTvmSpoke-${team}`, { env: { account, region } });
  // Given the hub object, the spoke registers its account on the hub; no reference crosses the accounts.
  const spoke = new SentinelTvmSpoke(stack, 'Spoke', { tvm });
  const readOnly = spoke.addProtectedRole('ReadOnly', {
    // The role's own grants: the spoke writes them into the role's permissions boundary too, so that nothing the
    // enforcement role could write on the role grants more.
    inlinePolicies: {
      read: new iam.PolicyDocument({
        statements: [new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:ListBucket'], resources: ['*'] })],
      }),
    },
  });
  tvm.addProfile(`${team}-readonly`, {
    role: readOnly,
    allowedPrincipals: [PrincipalPattern.identityCenterPermissionSet(security, `${team}-engineers`)],
    maxCredentialDuration: Duration.hours(1),
  });
}

app.synth();
