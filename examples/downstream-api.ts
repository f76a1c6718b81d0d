// A downstream service you can copy: an HTTP API `orders` whose route admits only callers holding credentials of a live
// TVM session. The caller sends an identity proof made for the API's audience
// (`x-sentinel-identity: $(sentinel-tvm proof --audience orders.example.com)`); SentinelSessionAuthorizer asks the TVM
// whether its session is active, and refuses a revoked, ended or expired one. In your own app, import from
// 'cdk-sentinel-tvm' instead of '../src'. Synthesize with `npx ts-node examples/downstream-api.ts`; run it on this machine
// against `sentinel-tvm local` with examples/downstream/serve-local.js.
import * as path from 'path';
import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { PrincipalPattern, ProtectedRole, SentinelSessionAuthorizer, SentinelTvm } from '../src';

const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
const account = process.env.CDK_DEFAULT_ACCOUNT ?? '111122223333';
// The API and the TVM share an account: an HTTP API admits no caller of another account, the authorizer included.
const stack = new Stack(app, 'SentinelTvmDownstream', { env: { account, region: process.env.CDK_DEFAULT_REGION ?? 'eu-west-1' } });

const securityOps = iam.Role.fromRoleName(stack, 'SecurityOps', 'SecurityOps');
const tvm = new SentinelTvm(stack, 'Tvm', {
  tvmName: 'downstream-example',
  adminPrincipals: [PrincipalPattern.roleSessions(securityOps)],
});
const readOnly = new ProtectedRole(stack, 'ReadOnly', {
  tvm,
  managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')],
});
tvm.addProfile('prod-readonly', {
  role: readOnly,
  allowedPrincipals: [PrincipalPattern.iamUser(account, 'alice')],
  maxCredentialDuration: Duration.hours(1),
});

// The downstream service: its backend answers who called, from the authorizer's context.
const backend = new lambda.Function(stack, 'Orders', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'orders.handler',
  code: lambda.Code.fromAsset(path.join(__dirname, 'downstream'), { exclude: ['serve-local.js'] }),
  description: 'The orders API backend: answers who called',
});
// The authorizer is a relying party of the TVM: it makes itself one (grantIntrospect) and introspects each caller's proof.
const sessions = new SentinelSessionAuthorizer(stack, 'OrdersSessions', {
  tvm,
  audience: 'orders.example.com',
  // Sessions of this profile only: a live session of another profile of the TVM is refused too.
  allowedProfiles: ['prod-readonly'],
  // A revoked session is refused here at most this long after the revoke.
  activeCacheTtl: Duration.seconds(30),
});
const api = new apigwv2.HttpApi(stack, 'OrdersApi', { apiName: 'orders' });
api.addRoutes({
  path: '/orders',
  methods: [apigwv2.HttpMethod.GET],
  integration: new HttpLambdaIntegration('OrdersBackend', backend),
  authorizer: sessions.httpAuthorizer,
});

new CfnOutput(stack, 'OrdersUrl', { value: `${api.apiEndpoint}/orders` });
new CfnOutput(stack, 'TvmUrl', { value: tvm.url });

app.synth();
