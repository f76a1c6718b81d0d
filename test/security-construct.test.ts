// The construct's side of the trust boundary (security review H2, H3, M3, M11, L3, L5): what the synthesized template
// lets principals do, evaluated by an IAM policy simulator where a policy decides.
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
import { PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import {
  ACCOUNT, ALICE, CfnResolver, P, REGION, asArray, configOf, fullTvm, iamWildcardMatch, identityStatementsOf, logicalIdOf, newApp,
  removeOutdirs,
} from './support/synth';

afterAll(removeOutdirs);

const ALLOW_ALL = { Effect: 'Allow', Action: '*', Resource: '*' };

/** A building block of the TVM, through its escape hatch (its construct id). */
const part = (tvm: SentinelTvm, id: string): IConstruct => tvm.node.findChild(id);
/** The revocation enforcer's role. */
const enforcerRole = (tvm: SentinelTvm): IConstruct => part(tvm, 'Enforcer').node.findChild('Role');

/** IAM's decision on one request of a principal whose identity policies are `statements` (plus AdministratorAccess). */
async function decide(statements: unknown[], action: string, resource: string, resourcePolicy?: unknown): Promise<string> {
  const result = await runSimulation({
    request: {
      principal: `arn:aws:sts::${ACCOUNT}:assumed-role/Vended/tvm-0123456789abcdef-req`,
      action,
      resource: { resource, accountId: ACCOUNT },
      contextVariables: {},
    },
    identityPolicies: [{ name: 'admin', policy: { Version: '2012-10-17', Statement: [ALLOW_ALL] } },
      { name: 'role', policy: { Version: '2012-10-17', Statement: statements } }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
  }, {});
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}

/** A role's trust policy that lets anyone in the account assume it (so only the caller's own policies decide). */
const TRUSTS_ACCOUNT = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }],
};

describe('GIVEN a profile\'s role with one allowed chain target (M3)', () => {
  let statements: any[];
  let resolver: CfnResolver;
  let template: any;
  let tvm: SentinelTvm;
  let target: iam.Role;
  let readOnly: ProtectedRole;
  let apiArn: (method: string, path: string) => string;

  beforeAll(() => {
    const stack = new Stack(newApp(), 'Chain', { env: { account: ACCOUNT, region: REGION } });
    tvm = new SentinelTvm(stack, 'Tvm');
    readOnly = new ProtectedRole(stack, 'ReadOnly', { tvm, managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess')] });
    target = new iam.Role(stack, 'Target', { assumedBy: new iam.AccountRootPrincipal() });
    tvm.addProfile('admin', { role: readOnly, allowedPrincipals: [PrincipalPattern.iamUser(ACCOUNT, 'alice')], allowRoleChainingTo: [target] });
    template = Template.fromStack(stack).toJSON();
    resolver = new CfnResolver(template);
    statements = resolver.resolve(identityStatementsOf(template, logicalIdOf(readOnly)));
    const apiId = resolver.ref(logicalIdOf(part(tvm, 'Api')));
    apiArn = (method, path) => `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/$default/${method}${path}`;
  });

  test('THEN its credentials cannot call the TVM on any route (no fresh session for a revocable one)', async () => {
    for (const [method, path] of [['GET', '/profiles'], ['GET', '/sessions'], ['POST', '/sessions/0123456789abcdef/revoke']]) {
      expect({ path, decision: await decide(statements, 'execute-api:Invoke', apiArn(method, path)) })
        .toEqual({ path, decision: 'ExplicitlyDenied' });
    }
    // The vend route's ARN ends in `/` (no resource path), which the simulator cannot type: the deny's pattern covers it.
    const denied = statements.filter((s: any) => s.Effect === 'Deny' && s.Action === 'execute-api:Invoke')
      .flatMap((s: any) => asArray<string>(s.Resource));
    expect(denied.some((p: string) => iamWildcardMatch(p, apiArn('GET', '/')) && iamWildcardMatch(p, apiArn('POST', '/')))).toBe(true);
  });

  test('THEN they may assume the named target, and no other role', async () => {
    expect(await decide(statements, 'sts:AssumeRole', resolver.arn(logicalIdOf(target)), TRUSTS_ACCOUNT)).toBe('Allowed');
    expect(await decide(statements, 'sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/AnyOtherRole`, TRUSTS_ACCOUNT)).toBe('ExplicitlyDenied');
  });

  test('THEN the target is a last hop: its own sessions can assume no role, and it is marked for the guardrail SCP', async () => {
    const targetStatements = resolver.resolve(identityStatementsOf(template, logicalIdOf(target)));
    expect(await decide(targetStatements, 'sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/AnyOtherRole`, TRUSTS_ACCOUNT)).toBe('ExplicitlyDenied');
    const tags = template.Resources[logicalIdOf(target)].Properties.Tags;
    expect(tags).toContainEqual({ Key: 'sentinel-tvm:service', Value: tvm.tvmName });
  });

  test('THEN the target is in the configuration, and the enforcer may write its deny', () => {
    expect(configOf(template, resolver).profiles[0].chainRoleArns).toEqual([resolver.arn(logicalIdOf(target))]);
    const enforcer = resolver.resolve(identityStatementsOf(template, logicalIdOf(enforcerRole(tvm))))
      .filter((s: any) => asArray<string>(s.Action).includes('iam:PutRolePolicy'));
    expect(enforcer.flatMap((s: any) => asArray<string>(s.Resource))).toContain(resolver.arn(logicalIdOf(target)));
  });

  test('fails at synth when a chain target is in another account: the enforcer could not write its deny there', () => {
    const stack = new Stack(newApp(), 'Other', { env: { account: ACCOUNT, region: REGION } });
    const other = new SentinelTvm(stack, 'Tvm');
    const elsewhere = iam.Role.fromRoleArn(stack, 'Elsewhere', 'arn:aws:iam::444455556666:role/Workload');
    expect(() => other.addProfile('x', {
      role: new ProtectedRole(stack, 'R', { tvm: other }),
      allowedPrincipals: [P(ALICE)],
      allowRoleChainingTo: [elsewhere],
    })).toThrow(/allowRoleChainingTo\[0\] is arn:aws:iam::444455556666:role\/Workload, in account 444455556666/);
  });
});

describe('GIVEN a profile\'s role without chain targets', () => {
  test('THEN its credentials can assume no role at all', async () => {
    const full = fullTvm();
    const template = Template.fromStack(full.stack).toJSON();
    const resolver = new CfnResolver(template);
    for (const role of [full.protectedRole, full.ownedRole]) {
      const statements = resolver.resolve(identityStatementsOf(template, logicalIdOf(role)));
      expect(await decide(statements, 'sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/AnyRole`, TRUSTS_ACCOUNT)).toBe('ExplicitlyDenied');
    }
  });
});

describe('GIVEN the grants the construct hands out (H2, L3)', () => {
  let full: ReturnType<typeof fullTvm>;
  let template: any;
  let resolver: CfnResolver;
  let reader: iam.Role;
  let revoker: iam.Role;

  beforeAll(() => {
    full = fullTvm();
    reader = new iam.Role(full.stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    revoker = new iam.Role(full.stack, 'Revoker', { assumedBy: new iam.AccountRootPrincipal() });
    full.tvm.grantReadSessions(reader);
    full.tvm.grantManageSessions(revoker);
    template = Template.fromStack(full.stack).toJSON();
    resolver = new CfnResolver(template);
  });

  const controlArn = () => resolver.arn(Object.keys(template.Resources).find((id) => id.startsWith('TvmControlTable'))!);

  test('THEN no grantee may write either table, nor read the control table (configuration, page-token key, blocks)', async () => {
    for (const grantee of [reader, revoker]) {
      const statements = resolver.resolve(identityStatementsOf(template, logicalIdOf(grantee)));
      for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem',
        'dynamodb:Scan']) {
        expect({ action, decision: await decideAs(statements, action, controlArn()) }).toEqual({ action, decision: 'ImplicitlyDenied' });
      }
      for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
        const tableArn = resolver.arn(logicalIdOf(part(full.tvm, 'Table')));
        expect({ action, decision: await decideAs(statements, action, tableArn) }).toEqual({ action, decision: 'ImplicitlyDenied' });
      }
    }
  });

  test('THEN grantManageSessions makes the grantee an administrator through the API, revoke route included', () => {
    expect(configOf(template, resolver).adminPrincipals).toContain(resolver.arn(logicalIdOf(revoker)));
    const patterns = resolver.resolve(identityStatementsOf(template, logicalIdOf(revoker))).flatMap((s: any) => asArray<string>(s.Resource));
    const apiId = resolver.ref(logicalIdOf(part(full.tvm, 'Api')));
    const revoke = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/$default/POST/sessions/0123456789abcdef/revoke`;
    expect(patterns.some((p: string) => iamWildcardMatch(p, revoke))).toBe(true);
  });

  test('fails when grantManageSessions is given a principal without an ARN to name it', () => {
    expect(() => full.tvm.grantManageSessions(new iam.AccountRootPrincipal()))
      .toThrow(/grantManageSessions: the grantee .* is not an IAM role or user/);
  });

  async function decideAs(statements: unknown[], action: string, resource: string): Promise<string> {
    const result = await runSimulation({
      request: { principal: `arn:aws:iam::${ACCOUNT}:role/Grantee`, action, resource: { resource, accountId: ACCOUNT }, contextVariables: {} },
      identityPolicies: [{ name: 'grants', policy: { Version: '2012-10-17', Statement: statements } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, {});
    if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
    return result.overallResult;
  }
});

describe('GIVEN the default TVM', () => {
  let full: ReturnType<typeof fullTvm>;
  let template: any;
  beforeAll(() => {
    full = fullTvm();
    template = Template.fromStack(full.stack).toJSON();
  });

  test('THEN each session route has a throttle bucket of its own, apart from the vending routes (M11)', () => {
    const stage = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage').Properties;
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(stage.RouteSettings).toEqual({
      'GET /sessions': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      'GET /sessions/{id}': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      'DELETE /sessions/{id}': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      'POST /sessions/{id}/revoke': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      // Relying parties' checks: a bucket of their own too.
      'POST /introspect': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  test('THEN an alarm on enforcement failures exists without addAlarms (H3)', () => {
    const alarms = Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.map((a) => a.Properties.MetricName)).toEqual(['EnforcementFailures', 'TamperEvents']);
    expect(alarms[0].Properties).toMatchObject({
      Namespace: 'SentinelTvm',
      Threshold: 1,
      Statistic: 'Sum',
      Dimensions: [{ Name: 'service', Value: full.tvm.tvmName }],
    });
    expect(full.tvm.enforcementFailuresAlarm).toBeDefined();
  });

  test('THEN the enforcer is told its own policy name, distinct per TVM (M9)', () => {
    const fn = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function'
      && r.Properties.Environment?.Variables?.SENTINEL_REVOKED_POLICY_NAME);
    expect(fn.Properties.Environment.Variables.SENTINEL_REVOKED_POLICY_NAME).toBe(`SentinelRevokedSessions-${full.tvm.tvmName}-eu-west-1`);
    expect(full.tvm.revokedSessionsPolicyName).toBe(`SentinelRevokedSessions-${full.tvm.tvmName}-eu-west-1`);
  });
});
