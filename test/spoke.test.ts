// Issue 12, hub and spoke: a TVM in account A (the hub) vends roles of account B, where a SentinelTvmSpoke declares them
// and an enforcement role that only the hub's enforcer may assume. Asserted on the synthesized templates, and with an IAM
// policy simulator on the synthesized policies: who may assume what, what a stolen enforcement credential can write, and
// what a role's session can do once such a write happened.
import * as fs from 'fs';
import * as path from 'path';
import { App, CfnParameter, PhysicalName, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { listPolicy } from '../lambda/enforcer/policy';
import { ProtectedRole, RevocationEnforcement, SentinelTvm, SentinelTvmSpoke } from '../src';
import { decide, resourcesOf, type Context } from './support/iam-decide';
import {
  ACCOUNT, ALICE, CfnResolver, P, REGION, asArray, configOf, identityStatementsOf, logicalIdOf, newApp, removeOutdirs,
} from './support/synth';
import { Env, Metrics, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

afterAll(removeOutdirs);

const HUB = ACCOUNT;
const SPOKE = '444455556666';
const THIRD = '777788889999';
const TVM_NAME = 'central';
const HUB_ENV = { account: HUB, region: REGION };
const SPOKE_ENV = { account: SPOKE, region: REGION };
const ENFORCER_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-enforce-${REGION}`;
const EXECUTION_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-vend-${REGION}`;
const SPOKE_ROLE = `arn:aws:iam::${SPOKE}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-spoke-${REGION}`;
const PROTECTED_PATH = `/sentinel-tvm/${TVM_NAME}/`;
/** A boundary the spoke writes, as IAM names it (CloudFormation picks the name, under the spoke's boundary path). */
const SPOKE_BOUNDARY = `arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/${TVM_NAME}/Spoke-SpokeReaderBoundary-1A2B3C4D5E6F`;
const DATA = 'arn:aws:s3:::spoke-data';
const SESSION_ID = '0123456789abcdef';
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

/** The attributes the hub prints, for a spoke in another app (a StackSet). */
const HUB_ATTRS = {
  url: `https://abc123defg.execute-api.${REGION}.amazonaws.com/`,
  apiId: 'abc123defg',
  executionRoleArn: EXECUTION_ROLE,
  tvmName: TVM_NAME,
};

interface HubAndSpoke {
  readonly app: App;
  readonly hubStack: Stack;
  readonly spokeStack: Stack;
  readonly tvm: SentinelTvm;
  readonly spoke: SentinelTvmSpoke;
  readonly reader: ProtectedRole;
}

/** A hub stack in HUB and a spoke stack in SPOKE: one spoke role, Reader, with s3:GetObject on DATA, a profile of the hub. */
function hubAndSpoke(): HubAndSpoke {
  const app = newApp();
  const hubStack = new Stack(app, 'Hub', { env: HUB_ENV });
  const spokeStack = new Stack(app, 'Spoke', { env: SPOKE_ENV });
  const tvm = new SentinelTvm(hubStack, 'Tvm', { tvmName: TVM_NAME });
  const spoke = new SentinelTvmSpoke(spokeStack, 'Spoke', { tvm });
  const reader = spoke.addProtectedRole('Reader');
  // Added after addProtectedRole: the boundary is rendered at synth.
  reader.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${DATA}/*`] }));
  tvm.addProfile('reader', { role: reader, allowedPrincipals: [P(ALICE)] });
  return { app, hubStack, spokeStack, tvm, spoke, reader };
}

/** Every value of an intrinsic key (`Fn::ImportValue`, ...) in a template fragment. */
function intrinsics(fragment: unknown, key: string): unknown[] {
  if (Array.isArray(fragment)) return fragment.flatMap((v) => intrinsics(v, key));
  if (!fragment || typeof fragment !== 'object') return [];
  return Object.entries(fragment).flatMap(([k, v]) => (k === key ? [v] : intrinsics(v, key)));
}


/**
 * What a user does about cdk-nag's finding on its own grant (`spoke-data/*`): acknowledge it on the role (the metadata
 * key, since the finding's id has several `::`), which covers the role's children, its boundary included.
 */
function acknowledgeOwnGrant(role: ProtectedRole): void {
  role.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY,
    { [`AwsSolutions-IAM5[Resource::${DATA}/*]`]: 'The test\'s own grant: every object of one bucket' });
}

/** cdk-nag's AwsSolutions findings left unacknowledged, and the acknowledgements that answer no finding (stale ones). */
function nagProblems(app: App): { unacknowledged: string[]; stale: string[] } {
  const report = new AwsSolutionsChecks().validateScope(app);
  const unacknowledged = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  const findings = pack.validateScope(app).violations
    .flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
  const stale = app.node.findAll().flatMap((c) => c.node.metadata
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.keys(m.data as object).map((id) => ({ id: id.replace(/^annotation::/i, ''), path: c.node.path }))))
    .filter((a) => !findings.some((f) => f.rule === a.id && (f.path === a.path || f.path.startsWith(`${a.path}/`))))
    .map((a) => `${a.id} at ${a.path}`);
  return { unacknowledged, stale };
}

const doc = (statements: unknown[]) => ({ Version: '2012-10-17', Statement: statements });

describe('GIVEN a hub in one account and a spoke in another, in one app with explicit envs', () => {
  let x: HubAndSpoke;
  let hub: any;
  let spoke: any;
  let hubResolver: CfnResolver;
  let spokeResolver: CfnResolver;
  let readerArn: string;
  let readerId: string;
  let enforcementId: string;

  beforeAll(() => {
    x = hubAndSpoke();
    const assembly = x.app.synth();
    hub = assembly.getStackByName('Hub').template;
    spoke = assembly.getStackByName('Spoke').template;
    hubResolver = new CfnResolver(hub);
    spokeResolver = new CfnResolver(spoke);
    readerId = logicalIdOf(x.reader);
    enforcementId = logicalIdOf(x.spoke.node.findChild('EnforcementRole') as iam.Role);
    readerArn = configOf(hub, hubResolver).profiles[0].roleArn;
  });

  describe('THEN neither template references the other (their accounts differ: CloudFormation could not resolve it)', () => {
    test('the spoke template imports nothing, and has no asset, custom resource or Lambda', () => {
      expect(intrinsics(spoke, 'Fn::ImportValue')).toEqual([]);
      expect(Object.keys(spoke.Parameters ?? {}).filter((p) => p !== 'BootstrapVersion')).toEqual([]);
      expect(Object.values<any>(spoke.Resources).map((r) => r.Type).filter((t) => /^Custom::|CustomResource|Lambda/.test(t))).toEqual([]);
      expect(x.app.synth().getStackByName('Spoke').assets).toEqual([]);
    });

    test('the hub template imports nothing either, and names the spoke role by its ARN (a generated name under the TVM\'s path)', () => {
      expect(intrinsics(hub, 'Fn::ImportValue')).toEqual([]);
      expect(readerArn).toMatch(new RegExp(`^arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}[A-Za-z0-9]+$`));
      expect(`arn:aws:iam::${SPOKE}:role${spoke.Resources[readerId].Properties.Path}${spoke.Resources[readerId].Properties.RoleName}`)
        .toBe(readerArn);
    });
  });

  describe('THEN the spoke\'s enforcement role', () => {
    test('has its fixed name under the hub\'s runtime path, as the enforcer\'s SENTINEL_SPOKE_ROLE names it', () => {
      const props = spoke.Resources[enforcementId].Properties;
      expect(`arn:aws:iam::${SPOKE}:role${props.Path}${props.RoleName}`).toBe(SPOKE_ROLE);
      expect(spokeResolver.resolve(Stack.of(x.spoke).resolve(x.spoke.enforcementRoleArn))).toBe(SPOKE_ROLE);
      const enforcer = resourcesOf(hub, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![1];
      expect(enforcer.Properties.Environment.Variables[Env.SPOKE_ROLE]).toBe(SPOKE_ROLE.split(':role/')[1]);
    });

    test('has one inline policy: read the protected roles\' policies, write them only when bounded by a spoke boundary', () => {
      const props = spoke.Resources[enforcementId].Properties;
      expect(props.ManagedPolicyArns).toBeUndefined();
      expect(props.PermissionsBoundary).toBeUndefined();
      expect(resourcesOf(spoke, 'AWS::IAM::Policy').filter(([, r]) => JSON.stringify(r.Properties.Roles).includes(enforcementId)))
        .toEqual([]);
      expect(spokeResolver.resolve(props.Policies)).toEqual([{
        PolicyName: 'RevokedSessionsDeny',
        PolicyDocument: doc([
          {
            Sid: 'ReadProtectedRolePolicies',
            Effect: 'Allow',
            Action: ['iam:GetRolePolicy', 'iam:ListRolePolicies'],
            Resource: `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}*`,
          },
          {
            Sid: 'WriteBoundedProtectedRolePolicies',
            Effect: 'Allow',
            Action: ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'],
            Resource: `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}*`,
            Condition: { StringLike: { 'iam:PermissionsBoundary': [`arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/${TVM_NAME}/*`] } },
          },
        ]),
      }]);
    });
  });

  describe('THEN the spoke\'s protected role', () => {
    test('declares the hub\'s revoked-sessions policy as the deny-nothing placeholder, so that a stack deletion deletes it first', () => {
      const placeholders = resourcesOf(spoke, 'AWS::IAM::RolePolicy');
      expect(placeholders.map(([, r]) => r.Properties)).toEqual([{
        RoleName: { Ref: readerId },
        PolicyName: x.tvm.revokedSessionsPolicyName,
        PolicyDocument: SPOKE_PLACEHOLDER_POLICY,
      }]);
    });

    test('has a permissions boundary under the spoke\'s boundary path that copies its Allow and Deny statements, added after '
      + 'addProtectedRole', () => {
      const boundaryId = spoke.Resources[readerId].Properties.PermissionsBoundary.Ref;
      const boundary = spoke.Resources[boundaryId];
      expect(boundary.Type).toBe('AWS::IAM::ManagedPolicy');
      expect(boundary.Properties.Path).toBe(`/sentinel-tvm-boundary/${TVM_NAME}/`);
      expect(spokeResolver.resolve(boundary.Properties.PolicyDocument)).toEqual(doc([
        { Effect: 'Allow', Action: 's3:GetObject', Resource: `${DATA}/*` },
        // The confinement: a Deny in a boundary denies, whatever is written on or deleted from the role.
        { Effect: 'Deny', Action: 'execute-api:Invoke', Resource: `arn:aws:execute-api:${REGION}:${HUB}:*/$default/*` },
        { Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' },
      ]));
    });

    test('confines itself through the spoke\'s one managed policy, which the enforcement role cannot change: it may not call the '
      + 'hub\'s API (any HTTP API $default stage of the hub\'s account and Region), nor assume roles', () => {
      expect(spokeResolver.resolve(identityStatementsOf(spoke, readerId)).filter((s: any) => s.Effect === 'Deny')).toEqual([]);
      const confinementId = logicalIdOf(x.spoke.node.findChild('Confinement') as iam.ManagedPolicy);
      expect(resourcesOf(spoke, 'AWS::IAM::ManagedPolicy').filter(([, r]) => r.Properties.Path !== `/sentinel-tvm-boundary/${TVM_NAME}/`)
        .map(([id]) => id)).toEqual([confinementId]);
      expect(spoke.Resources[readerId].Properties.ManagedPolicyArns).toEqual([{ Ref: confinementId }]);
      expect(spokeResolver.resolve(spoke.Resources[confinementId].Properties.PolicyDocument.Statement)).toEqual([
        {
          Sid: 'SentinelTvmNoSelfVending',
          Effect: 'Deny',
          Action: 'execute-api:Invoke',
          Resource: `arn:aws:execute-api:${REGION}:${HUB}:*/$default/*`,
        },
        { Sid: 'SentinelTvmNoRoleChaining', Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' },
      ]);
    });

    test('gets no hub-side confinement, enforcer grant or cleanup entry (a policy of account A cannot attach to a role of B)', () => {
      // Only the configuration names it (and the execution role's grant, by the path).
      const naming = Object.entries<any>(hub.Resources).filter(([, r]) => JSON.stringify(r).includes(readerArn.split('/').pop()!));
      expect(naming.map(([, r]) => r.Type)).toEqual(['Custom::SentinelTvmConfigChunk']);
      const enforcerRoleId = logicalIdOf(x.tvm.node.findChild('Enforcer').node.findChild('Role') as iam.Role);
      const writes = hubResolver.resolve(identityStatementsOf(hub, enforcerRoleId))
        .filter((s: any) => s.Effect === 'Allow' && asArray<string>(s.Action).includes('iam:PutRolePolicy'));
      expect(writes.flatMap((s: any) => asArray<string>(s.Resource))).toEqual([`arn:aws:iam::${HUB}:role${PROTECTED_PATH}*`]);
      const cleanup = resourcesOf(hub, 'Custom::SentinelTvmRevocationCleanup')[0][1];
      expect(cleanup.Properties.RoleNames ?? []).toEqual([]);
    });
  });

  describe('THEN the hub', () => {
    test('names its enforcer role with the fixed name the spoke\'s trust names, and lets it assume the spoke role (one statement)', () => {
      const enforcerRoleId = logicalIdOf(x.tvm.node.findChild('Enforcer').node.findChild('Role') as iam.Role);
      const props = hub.Resources[enforcerRoleId].Properties;
      expect(`arn:aws:iam::${HUB}:role${props.Path}${props.RoleName}`).toBe(ENFORCER_ROLE);
      const statements = hubResolver.resolve(identityStatementsOf(hub, enforcerRoleId));
      expect(statements.filter((s: any) => s.Effect === 'Allow' && asArray<string>(s.Action).includes('sts:AssumeRole')))
        .toEqual([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: SPOKE_ROLE }]);
      const onlyFromFunction = statements.filter((s: any) => s.Sid === 'OnlyFromItsOwnFunction');
      expect(onlyFromFunction).toHaveLength(1);
      expect(onlyFromFunction[0].Action).toContain('sts:AssumeRole');
    });

    test('lets its execution role assume the spoke\'s protected roles by the TVM\'s path in the spoke account', () => {
      const executionRoleId = logicalIdOf(x.tvm.node.findChild('ExecutionRole') as iam.Role);
      const resources = hubResolver.resolve(identityStatementsOf(hub, executionRoleId))
        .filter((s: any) => s.Effect === 'Allow' && s.Action === 'sts:AssumeRole').flatMap((s: any) => asArray<string>(s.Resource));
      expect(resources).toEqual([`arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}*`]);
    });

    test('keeps the profile enforced (no unenforced flag in its configuration)', () => {
      expect(configOf(hub, hubResolver).profiles[0]).not.toHaveProperty('unenforced');
    });

    test('describes its enforcement-failures alarm with the metric by Role and by Account, which it offers', () => {
      const alarm = resourcesOf(hub, 'AWS::CloudWatch::Alarm').find(([id]) => id.startsWith('TvmEnforcementFailuresAlarm'))![1];
      expect(alarm.Properties.AlarmDescription).toMatch(/the metric by Role and by Account/);
      const metric = x.tvm.metricEnforcementFailuresByAccount(SPOKE);
      expect(metric.metricName).toBe(Metrics.ENFORCEMENT_FAILURES);
      expect(metric.dimensions).toEqual({ [Metrics.ACCOUNT_DIMENSION]: SPOKE, [Metrics.SERVICE_DIMENSION]: TVM_NAME });
      expect(x.tvm.metricEnforcementFailuresByAccount('organization').dimensions?.[Metrics.ACCOUNT_DIMENSION]).toBe('organization');
      expect(() => x.tvm.metricEnforcementFailuresByAccount('4444')).toThrow(/metricEnforcementFailuresByAccount: accountId is "4444"/);
    });
  });

  describe('WHEN IAM decides who may assume the spoke\'s enforcement role (its synthesized trust, and the caller\'s own policy)', () => {
    let enforcerPolicy: unknown;
    let enforcerFunction: string;
    let trust: unknown;

    beforeAll(() => {
      const enforcerRoleId = logicalIdOf(x.tvm.node.findChild('Enforcer').node.findChild('Role') as iam.Role);
      enforcerPolicy = doc(hubResolver.resolve(identityStatementsOf(hub, enforcerRoleId)));
      enforcerFunction = hubResolver.arn(resourcesOf(hub, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![0]);
      trust = spokeResolver.resolve(spoke.Resources[enforcementId].Properties.AssumeRolePolicyDocument);
    });

    const assume = (principal: string, principalArn: string, identity: unknown, context: Context = {}) => decide({
      principal,
      action: 'sts:AssumeRole',
      resource: SPOKE_ROLE,
      resourceAccount: SPOKE,
      identityPolicies: [identity],
      resourcePolicy: trust,
      context: { 'aws:PrincipalArn': principalArn, ...context },
    });

    test('THEN the hub\'s enforcer, from its own function, may', async () => {
      expect(await assume(`arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-enforce-${REGION}/sentinel-tvm-enforcer`, ENFORCER_ROLE,
        enforcerPolicy, { 'lambda:SourceFunctionArn': enforcerFunction })).toBe('Allowed');
    });

    test('THEN another function run as the enforcer role may not (its own policy denies it)', async () => {
      expect(await assume(`arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-enforce-${REGION}/x`, ENFORCER_ROLE, enforcerPolicy,
        { 'lambda:SourceFunctionArn': `arn:aws:lambda:${REGION}:${HUB}:function:someone-else` })).toBe('ExplicitlyDenied');
    });

    test.each([
      ['the hub\'s execution role', `arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-vend-${REGION}/x`, EXECUTION_ROLE],
      ['another role of the hub account', `arn:aws:sts::${HUB}:assumed-role/Admin/x`, `arn:aws:iam::${HUB}:role/Admin`],
      ['the hub account\'s root', `arn:aws:iam::${HUB}:root`, `arn:aws:iam::${HUB}:root`],
      ['a role of the spoke account', `arn:aws:sts::${SPOKE}:assumed-role/Admin/x`, `arn:aws:iam::${SPOKE}:role/Admin`],
      ['a role of the enforcer\'s name and path in a third account', `arn:aws:sts::${THIRD}:assumed-role/${TVM_NAME}-enforce-${REGION}/x`,
        ENFORCER_ROLE.replace(HUB, THIRD)],
    ])('THEN %s may not, even with every permission of its own', async (_who, principal, principalArn) => {
      expect(await assume(principal, principalArn, ALLOW_ALL)).toBe('ImplicitlyDenied');
    });
  });

  describe('WHEN IAM decides what the enforcement role\'s session may do (its synthesized policy)', () => {
    const SESSION = `arn:aws:sts::${SPOKE}:assumed-role/${TVM_NAME}-spoke-${REGION}/sentinel-tvm-enforcer`;
    let policy: unknown;
    let roleUnderPath: string;

    beforeAll(() => {
      policy = doc(spokeResolver.resolve(spoke.Resources[enforcementId].Properties.Policies[0].PolicyDocument.Statement));
      roleUnderPath = readerArn;
    });

    const act = (action: string, resource: string, context: Context = {}) =>
      decide({ principal: SESSION, action, resource, resourceAccount: SPOKE, identityPolicies: [policy], context });

    test.each(['iam:PutRolePolicy', 'iam:DeleteRolePolicy'])('THEN %s on a protected role with a spoke boundary is allowed', async (action) => {
      expect(await act(action, roleUnderPath, { 'iam:PermissionsBoundary': SPOKE_BOUNDARY })).toBe('Allowed');
    });

    test.each(['iam:GetRolePolicy', 'iam:ListRolePolicies'])('THEN %s on a protected role is allowed', async (action) => {
      expect(await act(action, roleUnderPath)).toBe('Allowed');
    });

    test.each([
      ['a role outside the TVM\'s path, with a spoke boundary', `arn:aws:iam::${SPOKE}:role/Admin`, { 'iam:PermissionsBoundary': SPOKE_BOUNDARY }],
      ['a role under another TVM\'s path', `arn:aws:iam::${SPOKE}:role/sentinel-tvm/other/reader`, { 'iam:PermissionsBoundary': SPOKE_BOUNDARY }],
      ['a role under the path whose boundary is another policy', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}x`,
        { 'iam:PermissionsBoundary': `arn:aws:iam::${SPOKE}:policy/AdminBoundary` }],
      ['a role under the path bounded by another TVM\'s spoke boundary', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}x`,
        { 'iam:PermissionsBoundary': `arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/other/b` }],
      ['a role under the path without a boundary', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}x`, {}],
      ['a protected role of the hub account, with a spoke boundary there', `arn:aws:iam::${HUB}:role${PROTECTED_PATH}x`,
        { 'iam:PermissionsBoundary': SPOKE_BOUNDARY.replace(SPOKE, HUB) }],
    ])('THEN iam:PutRolePolicy on %s is denied', async (_case, resource, context) => {
      expect(await act('iam:PutRolePolicy', resource, context)).toBe('ImplicitlyDenied');
      expect(await act('iam:DeleteRolePolicy', resource, context)).toBe('ImplicitlyDenied');
    });

    test.each([
      ['iam:PutRolePermissionsBoundary', () => roleUnderPath],
      ['iam:DeleteRolePermissionsBoundary', () => roleUnderPath],
      ['iam:UpdateAssumeRolePolicy', () => roleUnderPath],
      ['iam:AttachRolePolicy', () => roleUnderPath],
      ['iam:UpdateRole', () => roleUnderPath],
      ['iam:PassRole', () => roleUnderPath],
      ['iam:CreatePolicyVersion', () => SPOKE_BOUNDARY],
      // The README: the roles' confinement is a managed policy the enforcement role cannot change or detach.
      ['iam:DetachRolePolicy', () => roleUnderPath],
      ['iam:CreatePolicyVersion', () => `arn:aws:iam::${SPOKE}:policy/SpokeConfinement`],
      ['iam:SetDefaultPolicyVersion', () => `arn:aws:iam::${SPOKE}:policy/SpokeConfinement`],
      ['iam:DeletePolicy', () => `arn:aws:iam::${SPOKE}:policy/SpokeConfinement`],
      ['iam:CreateRole', () => `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}new`],
      ['sts:AssumeRole', () => roleUnderPath],
    ])('THEN %s is denied, even on a bounded protected role', async (action, resource) => {
      expect(await act(action, resource(), { 'iam:PermissionsBoundary': SPOKE_BOUNDARY })).toBe('ImplicitlyDenied');
    });
  });

  describe('WHEN a stolen enforcement credential wrote an inline "Allow *" on the protected role (s3:GetObject on one bucket)', () => {
    const SESSION = `arn:aws:sts::${SPOKE}:assumed-role/reader/alice`;
    let grants: unknown;
    let boundary: unknown;

    beforeAll(() => {
      grants = doc(spokeResolver.resolve(identityStatementsOf(spoke, readerId)));
      boundary = spokeResolver.resolve(spoke.Resources[spoke.Resources[readerId].Properties.PermissionsBoundary.Ref].Properties.PolicyDocument);
    });

    const asRole = (action: string, resource: string, extra: unknown[], context: Context = {}) => decide({
      principal: SESSION, action, resource, resourceAccount: SPOKE, identityPolicies: [grants, ...extra], boundary, context,
    });

    test('THEN its sessions still cannot do more than its grants: the boundary caps the Allow', async () => {
      expect(await asRole('s3:DeleteBucket', DATA, [ALLOW_ALL])).not.toBe('Allowed');
      expect(await asRole('iam:CreateUser', `arn:aws:iam::${SPOKE}:user/mallory`, [ALLOW_ALL])).not.toBe('Allowed');
      expect(await asRole('s3:GetObject', 'arn:aws:s3:::other-bucket/key', [ALLOW_ALL])).not.toBe('Allowed');
      expect(await asRole('s3:GetObject', `${DATA}/key`, [ALLOW_ALL])).toBe('Allowed');
    });

    test('THEN the revoked-sessions deny the enforcer writes still denies a revoked session, and only that one', async () => {
      const deny = JSON.parse(listPolicy([SESSION_ID]));
      const tag = (id: string) => ({ 'aws:PrincipalTag/SentinelSessionID': id });
      expect(await asRole('s3:GetObject', `${DATA}/key`, [ALLOW_ALL, deny], tag(SESSION_ID))).toBe('ExplicitlyDenied');
      expect(await asRole('s3:GetObject', `${DATA}/key`, [deny], tag('fedcba9876543210'))).toBe('Allowed');
    });

    test('THEN once it also deleted the role\'s inline policies, the role still may not chain into a role', async () => {
      // Only the Allows of the role's own grants are left: the boundary's copy of the confinement still denies.
      const allows = doc(spokeResolver.resolve(identityStatementsOf(spoke, readerId)).filter((s: any) => s.Effect === 'Allow'));
      const target = `arn:aws:iam::${SPOKE}:role/ci-deployer`;
      const targetTrust = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SPOKE}:root` }, Action: 'sts:AssumeRole' }]);
      expect(await decide({
        principal: SESSION,
        action: 'sts:AssumeRole',
        resource: target,
        resourceAccount: SPOKE,
        identityPolicies: [allows, ALLOW_ALL],
        boundary,
        resourcePolicy: targetTrust,
        context: { 'aws:PrincipalArn': readerArn },
      })).toBe('ExplicitlyDenied');
    });

    test('THEN the placeholder the template declares denies nothing, tagged session or not', async () => {
      const placeholder = JSON.parse(JSON.stringify(SPOKE_PLACEHOLDER_POLICY));
      expect(await asRole('s3:GetObject', `${DATA}/key`, [placeholder], { 'aws:PrincipalTag/SentinelSessionID': SESSION_ID })).toBe('Allowed');
      expect(await asRole('s3:GetObject', `${DATA}/key`, [placeholder])).toBe('Allowed');
    });
  });

  describe('WHEN IAM decides who may assume the spoke\'s protected role (its synthesized trust, across accounts)', () => {
    const CONTEXT = {
      'aws:RequestTag/SentinelSessionID': SESSION_ID, 'aws:TagKeys': ['SentinelSessionID'], 'sts:SourceIdentity': 'sentinel.alice',
    };
    let trust: unknown;
    let executionPolicy: unknown;
    let handler: string;

    beforeAll(() => {
      trust = spokeResolver.resolve(spoke.Resources[readerId].Properties.AssumeRolePolicyDocument);
      executionPolicy = doc(hubResolver.resolve(identityStatementsOf(hub, logicalIdOf(x.tvm.node.findChild('ExecutionRole') as iam.Role))));
      handler = hubResolver.arn(logicalIdOf(x.tvm.node.findChild('Handler') as any));
    });

    test.each(['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'])(
      'THEN the hub\'s execution role, from the vending function, is allowed %s', async (action) => {
        expect(await decide({
          principal: `arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-vend-${REGION}/handler`,
          action,
          resource: readerArn,
          resourceAccount: SPOKE,
          identityPolicies: [executionPolicy],
          resourcePolicy: trust,
          context: { 'aws:PrincipalArn': EXECUTION_ROLE, 'lambda:SourceFunctionArn': handler, ...CONTEXT },
        })).toBe('Allowed');
      });

    test.each([
      ['a role of the spoke account', `arn:aws:sts::${SPOKE}:assumed-role/Admin/x`, `arn:aws:iam::${SPOKE}:role/Admin`],
      ['the spoke\'s enforcement role', `arn:aws:sts::${SPOKE}:assumed-role/${TVM_NAME}-spoke-${REGION}/x`, SPOKE_ROLE],
      ['the hub\'s enforcer', `arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-enforce-${REGION}/x`, ENFORCER_ROLE],
    ])('THEN %s, with every permission of its own and the TVM\'s tag and SourceIdentity, is denied', async (_who, principal, principalArn) => {
      expect(await decide({
        principal,
        action: 'sts:AssumeRole',
        resource: readerArn,
        resourceAccount: SPOKE,
        identityPolicies: [ALLOW_ALL],
        resourcePolicy: trust,
        context: { 'aws:PrincipalArn': principalArn, ...CONTEXT },
      })).toBe('ImplicitlyDenied');
    });
  });

  test('THEN cdk-nag finds nothing unacknowledged in either stack once the user acknowledged its own grant, and no acknowledgement is stale', () => {
    // The boundary is a child of the role: the user's acknowledgement of its own grant's wildcard covers its copy too.
    acknowledgeOwnGrant(x.reader);
    expect(nagProblems(x.app)).toEqual({ unacknowledged: [], stale: [] });
  });
});

describe('GIVEN grants added to a spoke role after addProtectedRole', () => {
  test('THEN its boundary copies the Allow statements of its inline policies, attached iam.Policys and managed policies of the stack', () => {
    const { app, spokeStack, spoke, reader } = hubAndSpoke();
    const other = spoke.addProtectedRole('Writer', {
      inlinePolicies: {
        Own: new iam.PolicyDocument({ statements: [new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [`${DATA}/in/*`] })] }),
      },
    });
    reader.attachInlinePolicy(new iam.Policy(spokeStack, 'Extra', {
      statements: [new iam.PolicyStatement({ sid: 'Same', actions: ['sqs:SendMessage'], resources: [`arn:aws:sqs:${REGION}:${SPOKE}:q`] })],
    }));
    reader.addManagedPolicy(new iam.ManagedPolicy(spokeStack, 'Managed', {
      statements: [
        new iam.PolicyStatement({ sid: 'Same', actions: ['sns:Publish'], resources: [`arn:aws:sns:${REGION}:${SPOKE}:t`] }),
        new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['s3:DeleteObject'], resources: ['*'] }),
      ],
    }));
    new iam.ManagedPolicy(spokeStack, 'AttachedFromThePolicy', {
      roles: [reader],
      statements: [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${DATA}/*`] })],
    });
    const template = app.synth().getStackByName('Spoke').template;
    const resolver = new CfnResolver(template);
    const boundaryOf = (role: ProtectedRole) => resolver.resolve(
      template.Resources[template.Resources[logicalIdOf(role)].Properties.PermissionsBoundary.Ref].Properties.PolicyDocument.Statement);
    const confinement = [
      { Effect: 'Deny', Action: 'execute-api:Invoke', Resource: `arn:aws:execute-api:${REGION}:${HUB}:*/$default/*` },
      { Effect: 'Deny', Action: 'sts:AssumeRole', Resource: '*' },
    ];
    // Sids dropped (they may repeat across policies), duplicates once, Allows first; the denies kept (a Deny in a boundary
    // denies: a stolen enforcement credential that deletes an inline deny does not lift it), the revoked-sessions placeholder not.
    expect(boundaryOf(reader)).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: `${DATA}/*` },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: `arn:aws:sqs:${REGION}:${SPOKE}:q` },
      { Effect: 'Allow', Action: 'sns:Publish', Resource: `arn:aws:sns:${REGION}:${SPOKE}:t` },
      ...confinement,
      { Effect: 'Deny', Action: 's3:DeleteObject', Resource: '*' },
    ].sort((a, b) => (a.Effect === b.Effect ? 0 : a.Effect === 'Allow' ? -1 : 1)));
    expect(boundaryOf(other)).toEqual([{ Effect: 'Allow', Action: 's3:PutObject', Resource: `${DATA}/in/*` }, ...confinement]);
  });

  test('THEN an inline Deny of the role (a user\'s guard) is in its boundary too', () => {
    const { app, spoke } = hubAndSpoke();
    const guarded = spoke.addProtectedRole('Guarded', {
      inlinePolicies: {
        guard: new iam.PolicyDocument({
          statements: [new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['s3:DeleteObject'], resources: [`${DATA}/*`] })],
        }),
      },
    });
    guarded.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: [`${DATA}/*`] }));
    const template = app.synth().getStackByName('Spoke').template;
    const boundary = template.Resources[template.Resources[logicalIdOf(guarded)].Properties.PermissionsBoundary.Ref];
    expect(boundary.Properties.PolicyDocument.Statement).toContainEqual({ Effect: 'Deny', Action: 's3:DeleteObject', Resource: `${DATA}/*` });
  });

  test('THEN a role without any grant gets a boundary that allows nothing', () => {
    const { app, spoke } = hubAndSpoke();
    const idle = spoke.addProtectedRole('Idle');
    const template = app.synth().getStackByName('Spoke').template;
    const boundary = template.Resources[template.Resources[logicalIdOf(idle)].Properties.PermissionsBoundary.Ref];
    expect(boundary.Properties.PolicyDocument.Statement).toEqual([{ Sid: 'SentinelTvmNoGrants', Effect: 'Deny', Action: '*', Resource: '*' }]);
  });

  test('THEN an AWS managed or imported policy without permissionsBoundary fails synth, naming permissionsBoundary', () => {
    const { app, spokeStack, reader } = hubAndSpoke();
    reader.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess'));
    reader.addManagedPolicy(iam.ManagedPolicy.fromManagedPolicyArn(spokeStack, 'Imported', `arn:aws:iam::${SPOKE}:policy/Shared`));
    expect(() => app.synth()).toThrow(new RegExp('addProtectedRole\\("Reader"\\): managed policy arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess '
      + 'is not an iam\\.ManagedPolicy of this stack.*Give permissionsBoundary', 's'));
    expect(() => app.synth()).toThrow(new RegExp(`managed policy arn:aws:iam::${SPOKE}:policy/Shared is not`));
  });

  test('THEN with permissionsBoundary it is accepted, and the enforcement role may write roles bounded by it too', () => {
    const { app, spokeStack, spoke } = hubAndSpoke();
    const given = iam.ManagedPolicy.fromManagedPolicyArn(spokeStack, 'Given', `arn:aws:iam::${SPOKE}:policy/ReaderBoundary`);
    const role = spoke.addProtectedRole('Admin', {
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')], permissionsBoundary: given,
    });
    const template = app.synth().getStackByName('Spoke').template;
    expect(template.Resources[logicalIdOf(role)].Properties.PermissionsBoundary).toBe(`arn:aws:iam::${SPOKE}:policy/ReaderBoundary`);
    // The confinement is a managed policy: it holds whatever the boundary.
    expect(template.Resources[logicalIdOf(role)].Properties.ManagedPolicyArns)
      .toContainEqual({ Ref: logicalIdOf(spoke.node.findChild('Confinement') as iam.ManagedPolicy) });
    const enforcement = template.Resources[logicalIdOf(spoke.node.findChild('EnforcementRole') as iam.Role)];
    const condition = new CfnResolver(template).resolve(enforcement.Properties.Policies[0].PolicyDocument.Statement[1].Condition);
    expect(condition.StringLike['iam:PermissionsBoundary'])
      .toEqual([`arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/${TVM_NAME}/*`, `arn:aws:iam::${SPOKE}:policy/ReaderBoundary`]);
  });

  test('THEN a permissionsBoundary that is not one of the role\'s managed policies is warned about (spokeBoundaryWiderThanGrants)', () => {
    const { app, spokeStack, spoke } = hubAndSpoke();
    const wide = spoke.addProtectedRole('Wide', {
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')],
      permissionsBoundary: iam.ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess'),
    });
    const own = iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess');
    spoke.addProtectedRole('Narrow', { managedPolicies: [own], permissionsBoundary: own });
    app.synth();
    const warnings = Annotations.fromStack(spokeStack).findWarning('*', Match.stringLikeRegexp('spokeBoundaryWiderThanGrants'));
    expect(warnings.map((w) => w.id)).toEqual([`/${wide.node.path}`]);
    // Narrow, bounded by its own managed policy, is not warned about.
    expect(warnings[0].entry.data).toMatch(new RegExp('addProtectedRole\\("Wide"\\): its permissionsBoundary '
      + 'arn:<AWS::Partition>:iam::aws:policy/AdministratorAccess is not one of the role\'s managed policies.*put denies in managed policies'));
  });

  test('THEN a grant of another stack of the account on the role is warned about: the boundary the spoke writes does not have it', () => {
    const { app, spokeStack, spoke } = hubAndSpoke();
    const named = spoke.addProtectedRole('Named', { roleName: 'spoke-named' });
    const referenced = spoke.addProtectedRole('Referenced');
    const team = new Stack(app, 'Team', { env: SPOKE_ENV });
    new iam.Policy(team, 'ByName', {
      roles: [iam.Role.fromRoleName(team, 'Spoke', 'spoke-named')],
      statements: [new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: ['*'] })],
    });
    new iam.Policy(team, 'ByReference', {
      roles: [referenced],
      statements: [new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: ['*'] })],
    });
    // Another account's stack: not this role, whatever the name.
    const elsewhere = new Stack(app, 'Elsewhere', { env: { account: THIRD, region: REGION } });
    new iam.Policy(elsewhere, 'SameName', {
      roles: [iam.Role.fromRoleName(elsewhere, 'Spoke', 'spoke-named')],
      statements: [new iam.PolicyStatement({ actions: ['sns:Publish'], resources: ['*'] })],
    });
    app.synth();
    const warnings = Annotations.fromStack(spokeStack).findWarning('*', Match.stringLikeRegexp('spokeGrantOutsideBoundary'))
      .map((w) => w.entry.data as string);
    expect(warnings).toHaveLength(2);
    expect(warnings.find((w) => w.includes('"Named"'))).toMatch(/Team\/ByName\/Resource \(AWS::IAM::Policy, in stack Team\) grants the role/);
    expect(warnings.find((w) => w.includes('"Referenced"'))).toMatch(/Team\/ByReference\/Resource/);
    expect(named.node.metadata.length + referenced.node.metadata.length).toBeGreaterThan(0);
  });

  test('THEN a boundary over IAM\'s 6,144 characters fails synth', () => {
    const { app, reader } = hubAndSpoke();
    for (let i = 0; i < 80; i++) {
      reader.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [`s3:GetObject${i}`], resources: [`${DATA}-${i}-with-a-longer-name/*`] }));
    }
    expect(() => app.synth()).toThrow(/addProtectedRole\("Reader"\): the permissions boundary copying the role's grants is about [0-9]+ characters/);
  });

  test('THEN a boundary changed after addProtectedRole fails synth: the enforcement role could no longer write the role', () => {
    const { app, reader } = hubAndSpoke();
    (reader.node.defaultChild as iam.CfnRole).permissionsBoundary = `arn:aws:iam::${SPOKE}:policy/Other`;
    expect(() => app.synth()).toThrow(/addProtectedRole\("Reader"\): the role's permissions boundary was changed/);
  });
});

describe('GIVEN a SentinelTvmSpoke with a hub it cannot name without a reference', () => {
  test('THEN a hub stack without an account fails, naming tvm', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub'), 'Tvm', { tvmName: TVM_NAME });
    expect(() => new SentinelTvmSpoke(new Stack(app, 'Spoke', { env: SPOKE_ENV }), 'Spoke', { tvm }))
      .toThrow(/SentinelTvmSpoke Spoke\/Spoke: tvm Hub\/Tvm has no account known at synth.*give the hub's stack an env.*fromSentinelTvmAttributes/);
  });

  test('THEN a hub stack without a Region fails, naming tvm', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: { account: HUB } }), 'Tvm', { tvmName: TVM_NAME });
    expect(() => new SentinelTvmSpoke(new Stack(app, 'Spoke', { env: SPOKE_ENV }), 'Spoke', { tvm }))
      .toThrow(/tvm Hub\/Tvm has no Region known at synth/);
  });

  test('THEN a hub in the spoke\'s own account fails: a spoke is for another account', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm');
    expect(() => new SentinelTvmSpoke(new Stack(app, 'Spoke', { env: HUB_ENV }), 'Spoke', { tvm })).toThrow(/is in this spoke's account/);
  });

  test('THEN a second spoke of the same hub in the same account fails: the enforcement role\'s name is fixed', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME });
    new SentinelTvmSpoke(new Stack(app, 'SpokeA', { env: SPOKE_ENV }), 'Spoke', { tvm });
    expect(() => new SentinelTvmSpoke(new Stack(app, 'SpokeB', { env: SPOKE_ENV }), 'Spoke', { tvm }))
      .toThrow(/SentinelTvmSpoke SpokeB\/Spoke: account 444455556666 already has a spoke of the TVM central, SpokeA\/Spoke/);
    expect(() => new SentinelTvmSpoke(new Stack(app, 'SpokeC', { env: { account: THIRD, region: REGION } }), 'Spoke', { tvm })).not.toThrow();
  });

  test('THEN a missing tvm fails, naming it', () => {
    expect(() => new SentinelTvmSpoke(new Stack(newApp(), 'Spoke'), 'Spoke', {} as any)).toThrow(/SentinelTvmSpoke Spoke\/Spoke: tvm is required/);
  });

  test('THEN isSentinelTvmSpoke tells a spoke from other constructs', () => {
    const app = newApp();
    const stack = new Stack(app, 'Spoke', { env: SPOKE_ENV });
    const spoke = new SentinelTvmSpoke(stack, 'Spoke', { tvm: SentinelTvm.fromSentinelTvmAttributes(stack, 'Hub', HUB_ATTRS) });
    expect(SentinelTvmSpoke.isSentinelTvmSpoke(spoke)).toBe(true);
    expect(SentinelTvmSpoke.isSentinelTvmSpoke(stack)).toBe(false);
    expect(SentinelTvmSpoke.isSentinelTvmSpoke(undefined)).toBe(false);
  });
});

describe('GIVEN a spoke deployed as a StackSet: an environment-agnostic stack, the hub named by its attributes', () => {
  let app: App;
  let template: any;
  let role: ProtectedRole;
  let spoke: SentinelTvmSpoke;

  beforeAll(() => {
    app = newApp();
    const stack = new Stack(app, 'Spoke');
    spoke = new SentinelTvmSpoke(stack, 'Spoke', { tvm: SentinelTvm.fromSentinelTvmAttributes(stack, 'Hub', HUB_ATTRS) });
    role = spoke.addProtectedRole('Reader', { roleName: 'reader' });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${DATA}/*`] }));
    template = Template.fromStack(stack).toJSON();
  });

  test('THEN the template has no asset, no Lambda, no custom resource and no asset parameter', () => {
    const assembly = app.synth();
    const artifact = assembly.getStackByName('Spoke');
    expect(artifact.assets).toEqual([]);
    const manifests = assembly.artifacts.filter((a): a is AssetManifestArtifact => a instanceof AssetManifestArtifact);
    const files = manifests.flatMap((m) => Object.values<any>(JSON.parse(fs.readFileSync(m.file, 'utf8')).files ?? {}));
    expect(files.map((f) => f.source.path)).toEqual([artifact.templateFile]);
    expect(manifests.flatMap((m) => Object.keys(JSON.parse(fs.readFileSync(m.file, 'utf8')).dockerImages ?? {}))).toEqual([]);
    expect(fs.readdirSync(assembly.directory).filter((f) => f.startsWith('asset.'))).toEqual([]);
    expect(Object.values<any>(template.Resources).map((r) => r.Type).filter((t) => /^Custom::|CustomResource|Lambda/.test(t))).toEqual([]);
    expect(Object.keys(template.Parameters ?? {}).filter((p) => p !== 'BootstrapVersion')).toEqual([]);
    expect(intrinsics(template, 'Fn::ImportValue')).toEqual([]);
    expect(path.basename(artifact.templateFile)).toBe('Spoke.template.json');
  });

  test('THEN its ARNs take the account it is deployed to (AWS::AccountId), and name the hub literally', () => {
    const enforcement = template.Resources[logicalIdOf(spoke.node.findChild('EnforcementRole') as iam.Role)].Properties;
    expect(JSON.stringify(enforcement.Policies)).toContain('{"Ref":"AWS::AccountId"}');
    const trust = new CfnResolver(template).resolve(enforcement.AssumeRolePolicyDocument.Statement[0]);
    expect(trust.Principal).toEqual({ AWS: `arn:aws:iam::${HUB}:root` });
    expect(trust.Condition).toEqual({ ArnEquals: { 'aws:PrincipalArn': ENFORCER_ROLE } });
    expect(enforcement.RoleName).toBe(`${TVM_NAME}-spoke-${REGION}`);
  });

  test('THEN its role confines itself (the hub\'s API id from the attributes) and has the placeholder and a boundary', () => {
    const confinement = logicalIdOf(spoke.node.findChild('Confinement') as iam.ManagedPolicy);
    expect(template.Resources[logicalIdOf(role)].Properties.ManagedPolicyArns).toEqual([{ Ref: confinement }]);
    const denies = new CfnResolver(template).resolve(template.Resources[confinement].Properties.PolicyDocument.Statement);
    expect(denies.map((s: any) => s.Resource)).toEqual([`arn:aws:execute-api:${REGION}:${HUB}:abc123defg/*`, '*']);
    expect(resourcesOf(template, 'AWS::IAM::RolePolicy').map(([, r]) => r.Properties.PolicyName))
      .toEqual([`SentinelRevokedSessions-${TVM_NAME}-${REGION}`]);
    expect(template.Resources[logicalIdOf(role)].Properties.PermissionsBoundary).toEqual({ Ref: expect.stringMatching(/^SpokeReaderBoundary/) });
  });

  test('THEN cdk-nag AwsSolutions finds nothing unacknowledged once the user acknowledged its own grant, and no acknowledgement is stale', () => {
    acknowledgeOwnGrant(role);
    expect(nagProblems(app)).toEqual({ unacknowledged: [], stale: [] });
  });
});

describe('GIVEN a hub whose profile names a role of another account', () => {
  const foreignRole = (tvm: SentinelTvm, id = 'Foreign') =>
    iam.Role.fromRoleArn(Stack.of(tvm), id, `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}reader`);
  const newHub = (props: ConstructorParameters<typeof SentinelTvm>[2] = {}) =>
    new SentinelTvm(new Stack(newApp(), 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME, ...props });

  test('THEN without a spoke there, synth fails naming addProfile("x").role and listing the fixes', () => {
    const tvm = newHub();
    tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)] });
    expect(() => Template.fromStack(Stack.of(tvm))).toThrow(new RegExp(
      `addProfile\\("x"\\)\\.role is arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}reader, `
      + `in account ${SPOKE}, which has no spoke of this TVM.*SentinelTvmSpoke.*spokeAccounts.*issuedCredentialsSurviveRevocation: true`, 's'));
  });

  test('THEN a spoke of the same app registered later is enough (checked at synth)', () => {
    const tvm = newHub();
    tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)] });
    new SentinelTvmSpoke(new Stack(tvm.node.root as App, 'Spoke', { env: SPOKE_ENV }), 'Spoke', { tvm });
    expect(() => Template.fromStack(Stack.of(tvm))).not.toThrow();
  });

  test('THEN spokeAccounts (a StackSet\'s accounts) is enough, and lets the enforcer assume each one\'s enforcement role', () => {
    const tvm = newHub({ spokeAccounts: [SPOKE, THIRD] });
    tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)] });
    tvm.addSpokeAccount(SPOKE);
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const enforcerRoleId = logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Role') as iam.Role);
    const assume = new CfnResolver(template).resolve(identityStatementsOf(template, enforcerRoleId))
      .filter((s: any) => s.Effect === 'Allow' && s.Action === 'sts:AssumeRole');
    expect(assume).toEqual([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [SPOKE_ROLE, SPOKE_ROLE.replace(SPOKE, THIRD)] }]);
  });

  test('THEN issuedCredentialsSurviveRevocation: true is accepted, and the profile\'s configuration says unenforced: true', () => {
    const tvm = newHub();
    tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)], issuedCredentialsSurviveRevocation: true });
    tvm.addProfile('y', { role: new ProtectedRole(Stack.of(tvm), 'Local', { tvm }), allowedPrincipals: [P(ALICE)] });
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const profiles = configOf(template, new CfnResolver(template)).profiles;
    expect(profiles.find((p) => p.name === 'x')).toMatchObject({ unenforced: true });
    expect(profiles.find((p) => p.name === 'y')).not.toHaveProperty('unenforced');
    const chunks = JSON.stringify(resourcesOf(template, 'Custom::SentinelTvmConfigChunk').map(([, r]) => r.Properties.Profiles));
    expect(chunks.match(/unenforced/g)).toHaveLength(1);
  });

  test('THEN futureVendsOnly is accepted: nothing is denied anywhere', () => {
    const tvm = newHub({ revocation: RevocationEnforcement.futureVendsOnly() });
    tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)] });
    expect(() => Template.fromStack(Stack.of(tvm))).not.toThrow();
  });

  test('THEN a plain role of a spoke account, which the spoke cannot write, fails synth naming addProfile("x").role', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME, spokeAccounts: [SPOKE] });
    const plain = new iam.Role(new Stack(app, 'Other', { env: SPOKE_ENV }), 'Plain', {
      assumedBy: new iam.AccountRootPrincipal(), roleName: PhysicalName.GENERATE_IF_NEEDED,
    });
    tvm.addProfile('x', { role: plain, allowedPrincipals: [P(ALICE)] });
    expect(() => app.synth()).toThrow(new RegExp('addProfile\\("x"\\)\\.role is Other/Plain, in the spoke account 444455556666, but not a '
      + 'role of SentinelTvmSpoke.addProtectedRole\\(\\).*issuedCredentialsSurviveRevocation: true', 's'));
  });

  test('THEN with issuedCredentialsSurviveRevocation it is accepted, with the warning that prints the denies to add, and no policy of '
    + 'the hub', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME, spokeAccounts: [SPOKE] });
    const plain = new iam.Role(new Stack(app, 'Other', { env: SPOKE_ENV }), 'Plain', {
      assumedBy: new iam.AccountRootPrincipal(), roleName: PhysicalName.GENERATE_IF_NEEDED,
    });
    tvm.addProfile('x', { role: plain, allowedPrincipals: [P(ALICE)], issuedCredentialsSurviveRevocation: true });
    const assembly = app.synth();
    const warnings = Annotations.fromStack(Stack.of(plain));
    warnings.hasWarning('*', Match.stringLikeRegexp('is in another account than the TVM: add these statements'));
    warnings.hasNoWarning('*', Match.stringLikeRegexp('not a role of SentinelTvmSpoke.addProtectedRole'));
    expect(intrinsics(assembly.getStackByName('Hub').template, 'Fn::ImportValue')).toEqual([]);
  });

  test('THEN allowRoleChainingTo from a role of another account, or into one, fails: not supported', () => {
    const tvm = newHub({ spokeAccounts: [SPOKE] });
    const local = new ProtectedRole(Stack.of(tvm), 'Local', { tvm });
    expect(() => tvm.addProfile('x', { role: foreignRole(tvm), allowedPrincipals: [P(ALICE)], allowRoleChainingTo: [local] }))
      .toThrow(/addProfile\("x"\)\.allowRoleChainingTo: the profile's role is in account 444455556666.*not supported/);
    expect(() => tvm.addProfile('y', { role: local, allowedPrincipals: [P(ALICE)], allowRoleChainingTo: [foreignRole(tvm, 'Target')] }))
      .toThrow(/addProfile\("y"\)\.allowRoleChainingTo\[0\] is arn:aws:iam::444455556666:role\/sentinel-tvm\/central\/reader, in account/);
  });

  test('THEN a role of an environment-agnostic spoke stack of this app fails: its account is unknown', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME });
    const role = new SentinelTvmSpoke(new Stack(app, 'Spoke'), 'Spoke', { tvm }).addProtectedRole('Reader');
    expect(() => tvm.addProfile('x', { role, allowedPrincipals: [P(ALICE)] })).toThrow(/a role of a SentinelTvmSpoke whose stack has no account/);
  });

  test.each([
    ['an account of 11 digits', ['44445555666'], /spokeAccounts\[0\]: "44445555666" is not an account id/],
    ['the hub\'s own account', [HUB], /spokeAccounts\[0\]: 111122223333 is this TVM's own account/],
  ])('THEN spokeAccounts with %s fails, naming it', (_case, accounts, message) => {
    expect(() => newHub({ spokeAccounts: accounts })).toThrow(message);
  });

  test('THEN addSpokeAccount with a malformed id fails, naming it', () => {
    expect(() => newHub().addSpokeAccount('spoke')).toThrow(/addSpokeAccount\("spoke"\): "spoke" is not an account id/);
  });
});

describe('GIVEN the spoke accounts a hub knows, WHEN its enforcer\'s environment is synthesized', () => {
  const accountsOf = (tvm: SentinelTvm) => {
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const fn = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![1];
    return fn.Properties.Environment.Variables[Env.SPOKE_ACCOUNTS];
  };
  const newHub = (props: ConstructorParameters<typeof SentinelTvm>[2] = {}) =>
    new SentinelTvm(new Stack(newApp(), 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME, ...props });
  const accounts = (n: number) => Array.from({ length: n }, (_, i) => String(200000000000 + i));

  test('THEN SENTINEL_SPOKE_ACCOUNTS lists them sorted, each once: spokeAccounts, addSpokeAccount and the spokes of the app', () => {
    const tvm = newHub({ spokeAccounts: [THIRD, SPOKE] });
    tvm.addSpokeAccount(SPOKE);
    tvm.addSpokeAccount('222233334444');
    expect(accountsOf(tvm)).toBe(`222233334444,${SPOKE},${THIRD}`);
    const x = hubAndSpoke();
    expect(accountsOf(x.tvm)).toBe(SPOKE);
  });

  test('THEN it is an empty string without spokes', () => {
    expect(accountsOf(newHub())).toBe('');
  });

  test('THEN 100 spoke accounts fit in the enforcer\'s environment, and 300 fail synth naming Lambda\'s environment limit', () => {
    expect(accountsOf(newHub({ spokeAccounts: accounts(100) })).split(',')).toHaveLength(100);
    expect(() => accountsOf(newHub({ spokeAccounts: accounts(300) })))
      .toThrow(/Enforcer\/Function.*its environment variables take about [0-9,]+ bytes \(resolved\), over Lambda's limit of 4,096 bytes/);
  });
});

describe('GIVEN a profile\'s role whose account synth cannot compare with the hub\'s', () => {
  const FOREIGN = `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}reader`;
  const unchecked = (stack: Stack) => Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('roleAccountUnchecked'))
    .map((w) => w.entry.data as string);
  const agnosticHub = (props: ConstructorParameters<typeof SentinelTvm>[2] = {}) => {
    const stack = new Stack(newApp(), 'Hub');
    return { stack, tvm: new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME, ...props }) };
  };

  test('THEN an environment-agnostic hub warns of a role of a literal account (it may be another one, without a spoke)', () => {
    const { stack, tvm } = agnosticHub();
    tvm.addProfile('x', { role: ProtectedRole.fromProtectedRoleArn(stack, 'R', FOREIGN, tvm), allowedPrincipals: [P(ALICE)] });
    expect(unchecked(stack)).toEqual([expect.stringMatching(new RegExp(`addProfile\\("x"\\)\\.role is ${FOREIGN}, in account ${SPOKE}, and this `
      + 'TVM\'s stack has no account \\(environment-agnostic\\).*SentinelTvmSpoke.*spokeAccounts.*issuedCredentialsSurviveRevocation: true'))]);
  });

  test.each([
    ['the account is in spokeAccounts', { spokeAccounts: [SPOKE] }, {}],
    ['the profile sets issuedCredentialsSurviveRevocation', {}, { issuedCredentialsSurviveRevocation: true }],
    ['revocation is futureVendsOnly', { revocation: RevocationEnforcement.futureVendsOnly() }, {}],
  ])('THEN it does not when %s', (_case, hubProps, profileProps) => {
    const { stack, tvm } = agnosticHub(hubProps);
    tvm.addProfile('x', { role: ProtectedRole.fromProtectedRoleArn(stack, 'R', FOREIGN, tvm), allowedPrincipals: [P(ALICE)], ...profileProps });
    expect(unchecked(stack)).toEqual([]);
  });

  test('THEN an environment-agnostic hub does not warn of its own stack\'s roles, owned or named by name', () => {
    const { stack, tvm } = agnosticHub();
    tvm.addProfile('owned', { role: new ProtectedRole(stack, 'Owned', { tvm }), allowedPrincipals: [P(ALICE)] });
    tvm.addProfile('named', { role: iam.Role.fromRoleName(stack, 'Named', 'named'), allowedPrincipals: [P(ALICE)] });
    expect(unchecked(stack)).toEqual([]);
  });

  test('THEN an environment-agnostic hub refuses a chain target of a literal account, as a hub with an env refuses another account\'s', () => {
    const { stack, tvm } = agnosticHub();
    const local = new ProtectedRole(stack, 'Local', { tvm });
    expect(() => tvm.addProfile('x', {
      role: local, allowedPrincipals: [P(ALICE)], allowRoleChainingTo: [iam.Role.fromRoleArn(stack, 'Target', FOREIGN)],
    })).toThrow(new RegExp(`addProfile\\("x"\\)\\.allowRoleChainingTo\\[0\\] is ${FOREIGN}, in account ${SPOKE}, and this TVM's stack has `
      + 'no account \\(environment-agnostic\\).*Give the TVM\'s stack an env'));
  });

  test('THEN a hub with an env warns of a role ARN from a parameter, and of a chain target from one', () => {
    const stack = new Stack(newApp(), 'Hub', { env: HUB_ENV });
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME });
    const arn = (id: string) => new CfnParameter(stack, id, { type: 'String' }).valueAsString;
    tvm.addProfile('x', { role: iam.Role.fromRoleArn(stack, 'R', arn('RoleArn')), allowedPrincipals: [P(ALICE)] });
    tvm.addProfile('y', {
      role: new ProtectedRole(stack, 'Local', { tvm }),
      allowedPrincipals: [P(ALICE)],
      allowRoleChainingTo: [iam.Role.fromRoleArn(stack, 'Target', arn('TargetArn'))],
    });
    const warnings = unchecked(stack);
    expect(warnings).toHaveLength(2);
    expect(warnings).toContainEqual(expect.stringMatching(/^addProfile\("x"\)\.role is Hub\/R, whose account cannot be checked at synth.*Spoke/));
    expect(warnings).toContainEqual(expect.stringMatching(new RegExp('^addProfile\\("y"\\)\\.allowRoleChainingTo\\[0\\] is Hub/Target, whose '
      + 'account cannot be checked at synth.*A chain target must be in the TVM\'s account')));
  });
});

describe('GIVEN a spoke with activityReaders', () => {
  const RESPONDERS = `arn:aws:iam::${HUB}:role/IncidentResponders`;
  function withReaders(): { app: App; spokeStack: Stack; spoke: SentinelTvmSpoke } {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME });
    const spokeStack = new Stack(app, 'Spoke', { env: SPOKE_ENV });
    const spoke = new SentinelTvmSpoke(spokeStack, 'Spoke', { tvm, activityReaders: [new iam.ArnPrincipal(RESPONDERS)] });
    return { app, spokeStack, spoke };
  }

  test('THEN it has a role of the fixed name `sessions activity --reader-role` names, which they may assume to LookupEvents only', () => {
    const { spokeStack, spoke } = withReaders();
    const template = Template.fromStack(spokeStack).toJSON();
    const [id, role] = Object.entries<any>(template.Resources).find(([, r]) => r.Type === 'AWS::IAM::Role'
      && r.Properties.RoleName === `${TVM_NAME}-activity`)!;
    expect(role.Properties.Path).toBe(`/sentinel-tvm-runtime/${TVM_NAME}/`);
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: RESPONDERS } },
    ]);
    expect(role.Properties.Policies).toEqual([{
      PolicyName: 'LookupEvents',
      PolicyDocument: { Version: '2012-10-17', Statement: [{ Sid: 'LookupEvents', Effect: 'Allow', Action: 'cloudtrail:LookupEvents', Resource: '*' }] },
    }]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    // Nothing else grants the role anything.
    expect(Object.values<any>(template.Resources).filter((r) => JSON.stringify(r.Properties?.Roles ?? []).includes(id))).toEqual([]);
    expect(Stack.of(spoke).resolve(spoke.activityReaderRoleArn)).toEqual({ 'Fn::GetAtt': [id, 'Arn'] });
  });

  test('THEN cdk-nag finds nothing unacknowledged, and its acknowledgement answers a real finding', () => {
    const { app } = withReaders();
    app.synth();
    expect(nagProblems(app)).toEqual({ unacknowledged: [], stale: [] });
  });

  test('refuses an empty activityReaders', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME });
    expect(() => new SentinelTvmSpoke(new Stack(app, 'Spoke', { env: SPOKE_ENV }), 'Spoke', { tvm, activityReaders: [] }))
      .toThrow(/activityReaders is empty/);
  });
});
