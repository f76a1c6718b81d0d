// Synth-time checks of the AWS limits a deployment can reach (deployability review e0fd653, findings 2, 3, 4, 9, 10):
// each limit just under passes, just over fails naming the limit; and an app over a limit fails at `app.synth()`,
// before CloudFormation, IAM or Lambda would.
import { App, CfnResource, CustomResource, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ProtectedRole, SentinelTvm } from '../src';
import { ACCOUNT, fullTvm, newApp, P, REGION, removeOutdirs } from './support/synth';
import {
  addDeploymentLimitChecks, type CfnTemplate, customResourceRequestProblems, deploymentLimitProblems, DeploymentLimits,
  estimateResolved, inlinePolicyProblems, lambdaEnvironmentProblems, managedPolicyCountProblems, managedPolicySizeProblems,
  outputCountProblems, renderStackTemplate, resolvedJsonLength, resourceCountProblems, templateBodyBytes, templateSizeProblems, trustPolicyProblems,
} from '../src/private/limits';

afterAll(removeOutdirs);

/** The fragment `build(pad)` with `pad` sized so that `measure` gives exactly `target` (measures grow 1 per pad character). */
function sized<T>(target: number, build: (pad: string) => T, measure: (value: T) => number): T {
  const value = build('x'.repeat(target - measure(build(''))));
  expect(measure(value)).toBe(target);
  return value;
}

const roleArn = (i: number) => `arn:aws:iam::${ACCOUNT}:role/a-rather-long-role-name-that-trusts-the-service-${i}`;

function trustTemplate(pad: string): CfnTemplate {
  return {
    Resources: {
      Role: {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: pad } }] },
        },
      },
    },
  };
}

const doc = (pad: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: pad }] });

describe('GIVEN unresolved intrinsics', () => {
  test('THEN they are counted at the length AWS resolves them to, not the length of their tokens', () => {
    const template: CfnTemplate = { Resources: { Bucket: { Type: 'AWS::S3::Bucket' }, Policy: { Type: 'AWS::IAM::ManagedPolicy' } } };
    expect(estimateResolved({ 'Fn::GetAtt': ['Role', 'Arn'] })).toHaveLength(100);
    expect(estimateResolved({ Ref: 'Bucket' }, template)).toHaveLength(64);
    expect(estimateResolved({ Ref: 'Policy' }, template)).toHaveLength(100); // a managed policy's Ref is its ARN
    expect(estimateResolved({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] }))
      .toHaveLength('arn:'.length + 10 + ':iam::'.length + 12 + ':root'.length);
    expect(estimateResolved({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}/*' }, template)).toHaveLength('arn::s3:::/*'.length + 10 + 64);
    expect(estimateResolved({ 'Fn::Sub': 'https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}' }, template))
      .toHaveLength('https://.execute-api..'.length + 64 + 14 + 13);
    expect(estimateResolved({ A: 1, B: { Ref: 'AWS::NoValue' } })).toEqual({ A: 1 });
    expect(estimateResolved({ 'Fn::If': ['C', 'short', { 'Fn::GetAtt': ['R', 'Arn'] }] })).toHaveLength(100);
    // Custom-resource properties reach the handler as strings.
    expect(estimateResolved({ Seconds: 3600, On: true }, {}, true)).toEqual({ Seconds: '3600', On: 'true' });
  });

  test('THEN a policy is measured as compact JSON of its resolved form', () => {
    const policy = { Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: { 'Fn::GetAtt': ['Exec', 'Arn'] } } }] };
    const literal = { Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: 'x'.repeat(100) } }] };
    expect(resolvedJsonLength(policy)).toBe(JSON.stringify(literal).length);
  });
});

describe('GIVEN the template body (CloudFormation: 1 MB)', () => {
  const template = (pad: string): CfnTemplate => ({ Resources: { P: { Type: 'AWS::SSM::Parameter', Properties: { Type: 'String', Value: pad } } } });

  test('THEN a template of exactly 1,000,000 bytes, as CDK writes it, passes', () => {
    expect(templateSizeProblems(sized(DeploymentLimits.TEMPLATE_BYTES, template, (t) => templateBodyBytes(t, 1)))).toEqual([]);
  });

  test('fails when the template is one byte over, naming the limit and the size', () => {
    const problems = templateSizeProblems(sized(DeploymentLimits.TEMPLATE_BYTES + 1, template, (t) => templateBodyBytes(t, 1)),
      { stackLabel: 'stack Big' });
    expect(problems).toEqual([expect.stringMatching(/^stack Big: the template is 1,000,001 bytes, over CloudFormation's limit of 1,000,000/)]);
  });

  test('THEN it is measured with the indentation CDK writes: none when the stack suppresses it', () => {
    const t = sized(DeploymentLimits.TEMPLATE_BYTES + 1, template, (x) => templateBodyBytes(x, 1));
    expect(templateSizeProblems(t, { indent: undefined })).toEqual([]);
  });
});

describe('GIVEN the resources of a stack (CloudFormation: 500)', () => {
  const withResources = (count: number): CfnTemplate => ({
    Resources: Object.fromEntries(Array.from({ length: count }, (_, i) => [`Topic${i}`, { Type: 'AWS::SNS::Topic' }])),
  });

  test('THEN 500 resources pass', () => {
    expect(resourceCountProblems(withResources(500))).toEqual([]);
  });

  test('fails when the stack has 501 resources', () => {
    expect(resourceCountProblems(withResources(501))).toEqual([expect.stringMatching(/501 resources, over CloudFormation's limit of 500/)]);
  });
});

describe('GIVEN a stack whose roles another stack\'s TVM uses (each exports its ARN and name)', () => {
  const withOutputs = (count: number): CfnTemplate => ({
    Resources: {},
    Outputs: Object.fromEntries(Array.from({ length: count }, (_, i) => [`Export${i}`, { Value: `v${i}` }])),
  });

  test('THEN 200 outputs pass', () => {
    expect(outputCountProblems(withOutputs(200))).toEqual([]);
  });

  test('fails when the stack has 201 outputs, naming the limit and the remedy', () => {
    expect(outputCountProblems(withOutputs(201))).toEqual([expect.stringMatching(/201 outputs, over CloudFormation's limit of 200 .*at most 100/)]);
  });

  test('fails at synth when 101 ProtectedRoles of one stack are profiles of a TVM in another stack', () => {
    const app = newApp();
    const env = { account: ACCOUNT, region: 'eu-west-1' };
    const tvm = new SentinelTvm(new Stack(app, 'TvmStack', { env }), 'Tvm', { tvmName: 'outputs' });
    const roles = new Stack(app, 'Roles', { env });
    for (let i = 0; i < 101; i++) {
      tvm.addProfile(`p${i}`, { role: new ProtectedRole(roles, `R${i}`, { tvm }), allowedPrincipals: [P(`arn:aws:iam::${ACCOUNT}:user/u${i}`)] });
    }
    expect(() => app.synth()).toThrow(/stack Roles: the template has 202 outputs, over CloudFormation's limit of 200/);
  });
});

describe('GIVEN a custom resource of this library (Update request: old and new properties, 256 KB asynchronous payload)', () => {
  const budget = (DeploymentLimits.CUSTOM_RESOURCE_REQUEST_BYTES - DeploymentLimits.CUSTOM_RESOURCE_REQUEST_OVERHEAD_BYTES) / 2;
  const crTemplate = (type: string) => (pad: string): CfnTemplate => ({
    Resources: { Config: { Type: type, Properties: { ServiceToken: { 'Fn::GetAtt': ['Writer', 'Arn'] }, Seconds: 3600, Data: pad } } },
  });
  const propertyBytes = (t: CfnTemplate) => JSON.stringify(estimateResolved(t.Resources!.Config.Properties, t, true)).length;

  test('THEN properties that fit twice in the budget pass', () => {
    expect(customResourceRequestProblems(sized(budget, crTemplate('Custom::SentinelTvmConfig'), propertyBytes), 'Config')).toEqual([]);
  });

  test('fails when the properties are one byte over, naming the request size and the 256 KB budget', () => {
    const t = sized(budget + 1, crTemplate('Custom::SentinelTvmConfig'), propertyBytes);
    expect(deploymentLimitProblems(t, {})).toEqual([
      expect.stringMatching(/^custom resource Config: its Update request is about 262,146 bytes \(2 x 129,025 .*262,144-byte \(256 KB\)/),
    ]);
  });

  test('THEN another custom resource is checked only when named', () => {
    const t = sized(budget + 1, crTemplate('Custom::Other'), propertyBytes);
    expect(deploymentLimitProblems(t, {})).toEqual([]);
    expect(deploymentLimitProblems(t, { customResources: ['Config'] })).toHaveLength(1);
    expect(deploymentLimitProblems(sized(budget + 1, crTemplate('Custom::SentinelTvmConfig'), propertyBytes), {}, { stackChecks: false }))
      .toEqual([]);
  });
});

describe('GIVEN a role\'s trust policy (IAM: 2,048 characters by default)', () => {
  const measure = (t: CfnTemplate) => resolvedJsonLength(t.Resources!.Role.Properties!.AssumeRolePolicyDocument);

  test('THEN 2,048 characters pass', () => {
    expect(deploymentLimitProblems(sized(2048, trustTemplate, measure), { roles: ['Role'] })).toEqual([]);
  });

  test('fails when the trust policy is 2,049 characters, saying the quota can be raised to 4,096', () => {
    expect(trustPolicyProblems(sized(2049, trustTemplate, measure), 'Role')).toEqual([expect.stringMatching(
      /^role Role: its trust policy is about 2,049 characters .*default quota of 2,048 .*raised to 4,096/)]);
  });

  test('fails when ARNs from Fn::GetAtt make it longer than their tokens look', () => {
    const principals = Array.from({ length: 20 }, (_, i) => ({ 'Fn::GetAtt': [`ExecutionRole${i}`, 'Arn'] }));
    const t: CfnTemplate = {
      Resources: {
        Role: {
          Type: 'AWS::IAM::Role',
          Properties: { AssumeRolePolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: principals } }] } },
        },
      },
    };
    expect(JSON.stringify(t.Resources!.Role.Properties!.AssumeRolePolicyDocument).length).toBeLessThan(2048);
    expect(trustPolicyProblems(t, 'Role')).toHaveLength(1);
  });
});

describe('GIVEN the managed policies attached to a role (IAM: 10 by default, 20 at most)', () => {
  const attached = (arns: number, resources: number): CfnTemplate => ({
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: { ManagedPolicyArns: Array.from({ length: arns }, (_, i) => `arn:aws:iam::aws:policy/P${i}`) } },
      ...Object.fromEntries(Array.from({ length: resources }, (_, i) => [`Overflow${i}`, {
        Type: 'AWS::IAM::ManagedPolicy',
        Properties: { PolicyDocument: doc('arn:aws:s3:::b/*'), Roles: [{ Ref: 'Role' }] },
      }])),
      Unrelated: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: doc('*'), Roles: [{ Ref: 'Other' }] } },
    },
  });

  test('THEN 10 (ARNs and policies naming the role) pass', () => {
    expect(managedPolicyCountProblems(attached(4, 6), 'Role')).toEqual([]);
  });

  test('fails when 11 are attached, naming the default quota and the maximum of 20', () => {
    expect(managedPolicyCountProblems(attached(4, 7), 'Role')).toEqual([expect.stringMatching(
      /^role Role: 11 managed policies are attached .*default quota of 10 per role; it can be raised to 20 at most/)]);
  });

  test('THEN a policy both naming the role and listed by Ref is counted once', () => {
    const t = attached(4, 6);
    (t.Resources!.Role.Properties!.ManagedPolicyArns as unknown[]).push({ Ref: 'Overflow0' });
    expect(managedPolicyCountProblems(t, 'Role')).toEqual([]);
  });
});

describe('GIVEN a role\'s inline policies (IAM: 10,240 characters together)', () => {
  const inline = (pad: string): CfnTemplate => ({
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyName: 'Own', PolicyDocument: doc('arn:aws:s3:::own/*') }] } },
      Default: { Type: 'AWS::IAM::Policy', Properties: { PolicyName: 'Default', PolicyDocument: doc(pad), Roles: [{ Ref: 'Role' }] } },
      Elsewhere: { Type: 'AWS::IAM::Policy', Properties: { PolicyName: 'X', PolicyDocument: doc('x'.repeat(20_000)), Roles: [{ Ref: 'Other' }] } },
    },
  });
  const total = (t: CfnTemplate) => resolvedJsonLength(t.Resources!.Role.Properties!.Policies[0].PolicyDocument)
    + resolvedJsonLength(t.Resources!.Default.Properties!.PolicyDocument);

  test('THEN 10,240 characters over the role\'s own and attached inline policies pass', () => {
    expect(inlinePolicyProblems(sized(10_240, inline, total), 'Role')).toEqual([]);
  });

  test('fails when they total 10,241 characters', () => {
    expect(inlinePolicyProblems(sized(10_241, inline, total), 'Role')).toEqual([expect.stringMatching(
      /^role Role: its inline policies total about 10,241 characters .*limit of 10,240/)]);
  });
});

describe('GIVEN a managed policy attached to a role (IAM: 6,144 characters)', () => {
  const managed = (pad: string): CfnTemplate => ({
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: {} },
      Overflow: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: doc(pad), Roles: [{ Ref: 'Role' }] } },
    },
  });
  const measure = (t: CfnTemplate) => resolvedJsonLength(t.Resources!.Overflow.Properties!.PolicyDocument);

  test('THEN 6,144 characters pass', () => {
    expect(managedPolicySizeProblems(sized(6144, managed, measure), 'Role')).toEqual([]);
  });

  test('fails when its document is 6,145 characters', () => {
    expect(managedPolicySizeProblems(sized(6145, managed, measure), 'Role')).toEqual([expect.stringMatching(
      /^managed policy Overflow \(attached to role Role\): its document is about 6,145 characters .*limit of 6,144/)]);
  });
});

describe('GIVEN a function\'s environment (Lambda: 4 KB, measured as the JSON of the variables)', () => {
  const env = (variables: Record<string, unknown>): CfnTemplate => ({
    Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: { Environment: { Variables: variables } } } },
  });
  const measure = (t: CfnTemplate) => JSON.stringify(t.Resources!.Fn.Properties!.Environment.Variables).length;

  test('THEN 4,096 bytes pass', () => {
    expect(lambdaEnvironmentProblems(sized(4096, (pad) => env({ BIG: pad }), measure), 'Fn')).toEqual([]);
  });

  test('fails when the environment is 4,097 bytes', () => {
    expect(lambdaEnvironmentProblems(sized(4097, (pad) => env({ BIG: pad }), measure), 'Fn')).toEqual([expect.stringMatching(
      /^function Fn: its environment variables take about 4,097 bytes .*limit of 4,096 bytes/)]);
  });

  test('fails when a token resolves longer than it looks', () => {
    const variables = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`ARN_${i}`, { 'Fn::GetAtt': [`R${i}`, 'Arn'] }]));
    expect(JSON.stringify(variables).length).toBeLessThan(4096);
    expect(lambdaEnvironmentProblems(env(variables), 'Fn')).toHaveLength(1);
  });
});

/** A stack with a construct that checks the roles and functions put in `roles`/`functions` (read at validation). */
function checkedStack(app: App = newApp(), id = 'Checked') {
  const stack = new Stack(app, id, { env: { account: ACCOUNT, region: REGION } });
  const roles: iam.IRole[] = [];
  const functions: lambda.IFunction[] = [];
  const checks = new Construct(stack, 'Checks');
  addDeploymentLimitChecks(checks, { roles: () => roles, functions: () => functions });
  return { app, stack, roles, functions, checks };
}

const smallFunction = (scope: Construct, id: string, environment: Record<string, string> = {}) => new lambda.Function(scope, id, {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline('exports.handler = async () => undefined;'),
  environment,
});

describe('GIVEN a construct that adds the deployment limit checks', () => {
  test('THEN a small stack synthesizes, with the same template as without the checks', () => {
    const build = (withChecks: boolean) => {
      const app = newApp();
      const stack = new Stack(app, 'Small', { env: { account: ACCOUNT, region: REGION } });
      const role = new iam.Role(stack, 'Role', { assumedBy: new iam.AccountRootPrincipal() });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::bucket/*'] }));
      const fn = smallFunction(stack, 'Fn', { MODE: 'small' });
      if (withChecks) addDeploymentLimitChecks(stack, { roles: () => [role, fn.role!], functions: () => [fn] });
      return { app, stack };
    };
    const checked = build(true);
    expect(() => checked.app.synth()).not.toThrow();
    expect(Template.fromStack(checked.stack).toJSON()).toEqual(Template.fromStack(build(false).stack).toJSON());
  });

  test('fails at synth when a role trusts so many principals that its trust policy passes 2,048 characters', () => {
    const { app, stack, roles } = checkedStack();
    roles.push(new iam.Role(stack, 'WidelyTrusted', {
      assumedBy: new iam.CompositePrincipal(...Array.from({ length: 30 }, (_, i) => new iam.ArnPrincipal(roleArn(i)))),
    }));
    expect(() => app.synth())
      .toThrow(/role Checked\/WidelyTrusted\/Resource \(WidelyTrusted\w+\): its trust policy is about [\d,]+ characters.*2,048/);
  });

  test('fails at synth when CDK splits a role\'s policy into more than 10 OverflowPolicy managed policies', () => {
    const { app, stack, roles } = checkedStack();
    const role = new iam.Role(stack, 'Busy', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    for (let i = 0; i < 300; i++) {
      role.addToPolicy(new iam.PolicyStatement({ actions: [`s3:GetObject${i}`], resources: [`arn:aws:s3:::bucket-${i}/${'k'.repeat(240)}`] }));
    }
    roles.push(role);
    expect(() => app.synth()).toThrow(/role Checked\/Busy\/Resource \(Busy\w+\): 1\d managed policies are attached.*default quota of 10/);
  });

  test('fails at synth when a function has more than 4 KB of environment', () => {
    const { app, stack, functions } = checkedStack();
    functions.push(smallFunction(stack, 'Chatty', { PAYLOAD: 'x'.repeat(4100) }));
    expect(() => app.synth()).toThrow(/function Checked\/Chatty\/Resource \(Chatty\w+\): its environment variables take about 4,11\d bytes/);
  });

  test('fails at synth when this library\'s custom resource would send an Update request over 256 KB', () => {
    const { app, stack } = checkedStack();
    new CustomResource(stack, 'Config', {
      serviceToken: smallFunction(stack, 'Writer').functionArn,
      resourceType: 'Custom::SentinelTvmConfig',
      properties: { Profiles: 'p'.repeat(130_000) },
    });
    expect(() => app.synth()).toThrow(/custom resource Checked\/Config\/Default \(Config\w*\): its Update request is about [\d,]+ bytes/);
  });

  test('fails at synth when the template passes 1,000,000 bytes, and reports it once for two checking constructs', () => {
    const { app, stack } = checkedStack();
    addDeploymentLimitChecks(new Construct(stack, 'SecondChecks'), { roles: () => [], functions: () => [] });
    new CfnResource(stack, 'Huge', { type: 'AWS::SSM::Parameter', properties: { Type: 'String', Value: 'v'.repeat(1_000_000) } });
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = String(e);
    }
    expect(message).toMatch(/stack Checked: the template is [\d,]+ bytes, over CloudFormation's limit of 1,000,000 bytes/);
    expect(message.match(/the template is/g)).toHaveLength(1);
  });

  test('fails at synth naming the other stack when a checked role lives there', () => {
    const app = newApp();
    const { roles } = checkedStack(app, 'Home');
    const other = new Stack(app, 'Elsewhere', { env: { account: ACCOUNT, region: REGION } });
    roles.push(new iam.Role(other, 'WidelyTrusted', {
      assumedBy: new iam.CompositePrincipal(...Array.from({ length: 30 }, (_, i) => new iam.ArnPrincipal(roleArn(i)))),
    }));
    expect(() => app.synth()).toThrow(/role Elsewhere\/WidelyTrusted\/Resource .*trust policy/);
  });

  test('THEN imported roles and functions, which have no template of their own, are skipped', () => {
    const { app, stack, roles, functions } = checkedStack();
    roles.push(iam.Role.fromRoleArn(stack, 'Imported', roleArn(0)));
    functions.push(lambda.Function.fromFunctionArn(stack, 'ImportedFn', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:f`));
    expect(() => app.synth()).not.toThrow();
  });

  test('THEN a full SentinelTvm, checked on every role and function of its stack, synthesizes', () => {
    const { app, stack, tvm } = fullTvm();
    const all = stack.node.findAll();
    addDeploymentLimitChecks(tvm, {
      roles: () => all.filter((c): c is iam.Role => c instanceof iam.Role),
      functions: () => all.filter((c): c is lambda.Function => c instanceof lambda.Function),
    });
    expect(() => app.synth()).not.toThrow();
    const template = Template.fromStack(stack).toJSON() as CfnTemplate;
    const ids = (type: string) => Object.entries(template.Resources!).filter(([, r]) => r.Type === type).map(([id]) => id);
    expect(deploymentLimitProblems(template, { roles: ids('AWS::IAM::Role'), functions: ids('AWS::Lambda::Function') })).toEqual([]);
  });

  test('THEN a stack renders through the internal method synth uses, and an aws-cdk-lib without it is reported as unsupported', () => {
    const stack = new Stack(new App(), 'Render');
    new CfnResource(stack, 'Topic', { type: 'AWS::SNS::Topic' });
    expect(renderStackTemplate(stack)).toEqual({
      supported: true,
      template: expect.objectContaining({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } } }),
    });
    expect(renderStackTemplate({} as Stack)).toEqual({ supported: false });
  });
});
