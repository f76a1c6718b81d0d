// Red team of the multi-account change (hub TVM, spokes, organization SCP, local accounts). Each test states a security
// property the README or the issue claims. A failing test is a finding: the property does not hold. IAM claims are
// decided by an IAM policy simulator on the synthesized templates; runtime claims on the real enforcer with in-memory
// stand-ins for DynamoDB, STS and IAM; local-mode claims on the local IAM, STS and evaluator.
import * as fs from 'fs';
import * as path from 'path';
import { GetItemCommand, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DeleteRolePolicyCommand, GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand, PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { decide, resourcesOf, type Context } from './support/iam-decide';
import { ALICE, CfnResolver, P, REGION, identityStatementsOf, logicalIdOf, newApp, removeOutdirs } from './support/synth';
import { LocalAccounts } from '../cli/local/accounts';
import { validateConfig } from '../cli/local/config';
import { startLocalIam } from '../cli/local/iam';
import { authorizeAssumeRole, callerRoleTrustPolicy, spokeEnforcementTrustPolicy } from '../cli/local/trust';
import type { KnownKey } from '../cli/local/verify';
import { accountOf, createEnforcer, enforce, EnforcementError, type EnforcerConfig, type EnforcerDeps } from '../lambda/enforcer/enforce';
import type { EnforcerLease } from '../lambda/enforcer/lease';
import {
  canonical, desiredScp, fallbackPolicy, listedIds, listPolicy, MAX_SCP_IDS, spokePlaceholderPolicy,
} from '../lambda/enforcer/policy';
import { spokeIamClients, type IamFor } from '../lambda/enforcer/spokes';
import { ProtectedRole, RevocationEnforcement, SentinelTvm, SentinelTvmSpoke } from '../src';
import {
  Attr, revokedSessionsPolicyName, runtimeRolePathOf, SCP_MAX_CHARS, SESSION_TAG_KEY, SPOKE_PLACEHOLDER_POLICY, spokeEnforcementRoleName,
  type ProfileConfig,
} from '../src/shared/contract';

afterAll(removeOutdirs);

const HUB = '111122223333';
const SPOKE = '444455556666';
const THIRD = '777788889999';
const TVM_NAME = 'central';
const HUB_ENV = { account: HUB, region: REGION };
const SPOKE_ENV = { account: SPOKE, region: REGION };
const PROTECTED_PATH = `/sentinel-tvm/${TVM_NAME}/`;
const ENFORCER_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-enforce-${REGION}`;
const SPOKE_ROLE = `arn:aws:iam::${SPOKE}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-spoke-${REGION}`;
const SPOKE_BOUNDARY = `arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/${TVM_NAME}/Spoke-Boundary-1A2B3C4D5E6F`;
const ENFORCEMENT_SESSION = `arn:aws:sts::${SPOKE}:assumed-role/${TVM_NAME}-spoke-${REGION}/sentinel-tvm-enforcer`;
const DATA = 'arn:aws:s3:::spoke-data';
const SESSION_ID = '0123456789abcdef';
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
const doc = (statements: unknown[]) => ({ Version: '2012-10-17', Statement: statements });

interface Spoked {
  readonly app: App;
  readonly hubStack: Stack;
  readonly spokeStack: Stack;
  readonly tvm: SentinelTvm;
  readonly spoke: SentinelTvmSpoke;
}

function hubAndSpoke(hubProps: ConstructorParameters<typeof SentinelTvm>[2] = {}): Spoked {
  const app = newApp();
  const hubStack = new Stack(app, 'Hub', { env: HUB_ENV });
  const spokeStack = new Stack(app, 'Spoke', { env: SPOKE_ENV });
  const tvm = new SentinelTvm(hubStack, 'Tvm', { tvmName: TVM_NAME, ...hubProps });
  const spoke = new SentinelTvmSpoke(spokeStack, 'Spoke', { tvm });
  return { app, hubStack, spokeStack, tvm, spoke };
}

// ---------------------------------------------------------------------------------------------------------------------
// 1. A stolen credential of the spoke's enforcement role.
// ---------------------------------------------------------------------------------------------------------------------

describe('GIVEN a spoke role with broad grants (s3:* and sts:AssumeRole on the account), and a stolen enforcement credential', () => {
  let spokeTemplate: any;
  let resolver: CfnResolver;
  let role: ProtectedRole;
  let roleId: string;
  let enforcementPolicy: unknown;
  let boundary: unknown;
  /** The role's inline policy that holds its confinement (the DefaultPolicy CDK creates for addToPrincipalPolicy). */
  let confinementPolicyName: string;

  beforeAll(() => {
    const x = hubAndSpoke();
    role = x.spoke.addProtectedRole('Operator', {
      inlinePolicies: {
        // A user's own guard: objects of the data bucket may be read and written, never deleted.
        guard: new iam.PolicyDocument({
          statements: [new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['s3:DeleteObject'], resources: [`${DATA}/*`] })],
        }),
      },
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: [DATA, `${DATA}/*`] }));
    // A grant whose resource happens to cover roles of the account (e.g. a deployment role's habit).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [`arn:aws:iam::${SPOKE}:role/*`] }));
    x.tvm.addProfile('operator', { role, allowedPrincipals: [P(ALICE)] });
    spokeTemplate = x.app.synth().getStackByName('Spoke').template;
    resolver = new CfnResolver(spokeTemplate);
    roleId = logicalIdOf(role);
    const enforcementId = logicalIdOf(x.spoke.node.findChild('EnforcementRole') as iam.Role);
    enforcementPolicy = doc(resolver.resolve(spokeTemplate.Resources[enforcementId].Properties.Policies[0].PolicyDocument.Statement));
    const boundaryId = spokeTemplate.Resources[roleId].Properties.PermissionsBoundary.Ref;
    boundary = resolver.resolve(spokeTemplate.Resources[boundaryId].Properties.PolicyDocument);
    const [policyId] = resourcesOf(spokeTemplate, 'AWS::IAM::Policy')
      .find(([, r]) => (r.Properties.Roles ?? []).some((ref: any) => ref.Ref === roleId))!;
    confinementPolicyName = resolver.resolve(spokeTemplate.Resources[policyId].Properties.PolicyName);
  });

  const roleArn = () => `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}${resolver.resolve({ Ref: roleId })}`;
  const asEnforcement = (action: string, resource: string, context: Context = {}) => decide({
    principal: ENFORCEMENT_SESSION, action, resource, resourceAccount: SPOKE, identityPolicies: [enforcementPolicy], context,
  });
  const asRole = (identity: unknown[], action: string, resource: string, context: Context = {}, resourcePolicy?: unknown) => decide({
    principal: `arn:aws:sts::${SPOKE}:assumed-role/operator/alice`,
    action,
    resource,
    resourceAccount: SPOKE,
    identityPolicies: identity,
    boundary,
    context: { 'aws:PrincipalArn': roleArn(), ...context },
    resourcePolicy,
  });
  /** The role's identity policies as deployed, and as left once the confinement policy and the guard are rewritten. */
  const deployed = () => [doc(resolver.resolve(identityStatementsOf(spokeTemplate, roleId)))];
  const stripped = () => {
    const allows = resolver.resolve(identityStatementsOf(spokeTemplate, roleId)).filter((s: any) => s.Effect === 'Allow');
    return [doc(allows)];
  };
  /** A role of the spoke account that trusts its account (the usual trust of a role meant for the account's own principals). */
  const TARGET = `arn:aws:iam::${SPOKE}:role/ci-deployer`;
  const TARGET_TRUST = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${SPOKE}:root` }, Action: 'sts:AssumeRole' }]);

  test('THEN the credential may rewrite or delete ANY inline policy of the role, its confinement policy and its guard included', async () => {
    const context = { 'iam:PermissionsBoundary': SPOKE_BOUNDARY, 'iam:PolicyName': confinementPolicyName };
    expect(await asEnforcement('iam:DeleteRolePolicy', roleArn(), context)).toBe('Allowed');
    expect(await asEnforcement('iam:PutRolePolicy', roleArn(), context)).toBe('Allowed');
  });

  test('THEN (as deployed) the role may not chain into a role of its account, nor delete an object', async () => {
    expect(await asRole(deployed(), 'sts:AssumeRole', TARGET, {}, TARGET_TRUST)).toBe('ExplicitlyDenied');
    expect(await asRole(deployed(), 's3:DeleteObject', `${DATA}/key`)).toBe('ExplicitlyDenied');
  });

  test('THEN the boundary keeps the role\'s denies, so that rewriting its inline policies cannot lift them', () => {
    // The boundary is the only policy the credential cannot change: a Deny of the role that is not in it is removable.
    const denies = (boundary as any).Statement.filter((s: any) => s.Effect === 'Deny').map((s: any) => s.Action);
    expect(denies).toEqual(expect.arrayContaining(['sts:AssumeRole', 's3:DeleteObject']));
  });

  test('THEN once the credential rewrote the confinement policy to its Allows, the role still may not chain out (revocation escape)', async () => {
    expect(await asRole(stripped(), 'sts:AssumeRole', TARGET, {}, TARGET_TRUST)).not.toBe('Allowed');
  });

  test('THEN once the credential deleted the guard, the role still may not delete objects', async () => {
    expect(await asRole(stripped(), 's3:DeleteObject', `${DATA}/key`)).not.toBe('Allowed');
  });

  test('THEN the credential may not write its own enforcement role, nor any role outside the protected path, whatever the context', async () => {
    const context = { 'iam:PermissionsBoundary': SPOKE_BOUNDARY };
    for (const action of ['iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:AttachRolePolicy', 'iam:UpdateAssumeRolePolicy']) {
      expect(await asEnforcement(action, SPOKE_ROLE, context)).toBe('ImplicitlyDenied');
      expect(await asEnforcement(action, `arn:aws:iam::${SPOKE}:role/sentinel-tvm-runtime/${TVM_NAME}/x`, context)).toBe('ImplicitlyDenied');
      // A role path that only starts like the protected path.
      expect(await asEnforcement(action, `arn:aws:iam::${SPOKE}:role/sentinel-tvm/${TVM_NAME}x/r`, context)).toBe('ImplicitlyDenied');
    }
  });

  test.each([
    ['iam:CreatePolicy', `arn:aws:iam::${SPOKE}:policy/sentinel-tvm-boundary/${TVM_NAME}/mine`],
    ['iam:CreatePolicyVersion', SPOKE_BOUNDARY],
    ['iam:SetDefaultPolicyVersion', SPOKE_BOUNDARY],
    ['iam:DeletePolicy', SPOKE_BOUNDARY],
    ['iam:TagRole', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}r`],
    ['iam:UpdateRole', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}r`],
    ['iam:CreateRole', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}new`],
    ['iam:PutRolePermissionsBoundary', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}r`],
    ['iam:CreateAccessKey', `arn:aws:iam::${SPOKE}:user/x`],
    ['sts:AssumeRole', `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}r`],
    ['organizations:UpdatePolicy', '*'],
  ])('THEN the credential may not %s', async (action, resource) => {
    expect(await asEnforcement(action, resource, { 'iam:PermissionsBoundary': SPOKE_BOUNDARY })).toBe('ImplicitlyDenied');
  });
});

describe('GIVEN a spoke role whose permissionsBoundary is a broad AWS managed policy, wider than its grants', () => {
  test('THEN synth warns (the enforcement role may write an Allow on it up to that boundary)', () => {
    const x = hubAndSpoke();
    const role = x.spoke.addProtectedRole('Reader', {
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')],
      permissionsBoundary: iam.ManagedPolicy.fromAwsManagedPolicyName('AdministratorAccess'),
    });
    x.tvm.addProfile('reader', { role, allowedPrincipals: [P(ALICE)] });
    x.app.synth();
    const warnings = Annotations.fromStack(x.spokeStack).findWarning('*', Match.stringLikeRegexp('[Bb]oundary'));
    expect(warnings).not.toEqual([]);
  });
});

describe('WHEN IAM decides who else may assume the spoke\'s enforcement role (its synthesized trust)', () => {
  let trust: unknown;

  beforeAll(() => {
    const x = hubAndSpoke();
    const template = x.app.synth().getStackByName('Spoke').template;
    const id = logicalIdOf(x.spoke.node.findChild('EnforcementRole') as iam.Role);
    trust = new CfnResolver(template).resolve(template.Resources[id].Properties.AssumeRolePolicyDocument);
  });
  /** A session of the role `principalArn` (with every permission of its own) assuming the spoke's enforcement role. */
  const assumeAs = (principalArn: string) => decide({
    principal: `arn:aws:sts::${HUB}:assumed-role/${principalArn.split('/').pop()}/x`,
    action: 'sts:AssumeRole',
    resource: SPOKE_ROLE,
    resourceAccount: SPOKE,
    identityPolicies: [ALLOW_ALL],
    resourcePolicy: trust,
    context: { 'aws:PrincipalArn': principalArn },
  });

  test.each([
    ['a role of the hub with the enforcer\'s name at the root path', `arn:aws:iam::${HUB}:role/${TVM_NAME}-enforce-${REGION}`],
    ['a role of the hub with the enforcer\'s name under another path', `arn:aws:iam::${HUB}:role/x/${TVM_NAME}-enforce-${REGION}`],
    ['the enforcer of the same TVM name in another Region',
      `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-enforce-us-east-1`],
    ['the enforcer of another TVM of the hub', `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/other/other-enforce-${REGION}`],
    ['a role named with a wildcard-looking suffix', `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/${TVM_NAME}/${TVM_NAME}-enforce-${REGION}x`],
  ])('THEN %s may not, even with every permission of its own', async (_who, principalArn) => {
    expect(await assumeAs(principalArn)).toBe('ImplicitlyDenied');
  });

  test('THEN the hub\'s enforcer, by its ARN, may (the control case)', async () => {
    expect(await assumeAs(ENFORCER_ROLE)).toBe('Allowed');
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 2. What the boundary the spoke writes contains.
// ---------------------------------------------------------------------------------------------------------------------

describe('GIVEN the permissions boundary the spoke writes from the role\'s grants', () => {
  const boundaryOf = (template: any, role: ProtectedRole) =>
    new CfnResolver(template).resolve(template.Resources[template.Resources[logicalIdOf(role)].Properties.PermissionsBoundary.Ref]
      .Properties.PolicyDocument);

  test('THEN a NotAction/NotResource Allow is copied as it is, no wider', () => {
    const x = hubAndSpoke();
    const role = x.spoke.addProtectedRole('R');
    role.addToPrincipalPolicy(new iam.PolicyStatement({ notActions: ['iam:*', 'organizations:*'], notResources: [`${DATA}/secret/*`] }));
    const template = x.app.synth().getStackByName('Spoke').template;
    // The Allows; the denies (the role's confinement) follow them.
    expect(boundaryOf(template, role).Statement.filter((st: any) => st.Effect === 'Allow'))
      .toEqual([{ Effect: 'Allow', NotAction: ['iam:*', 'organizations:*'], NotResource: `${DATA}/secret/*` }]);
  });

  test('THEN an iam.Policy of the stack attached to another role only is not in it', () => {
    const x = hubAndSpoke();
    const role = x.spoke.addProtectedRole('R');
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${DATA}/*`] }));
    const other = new iam.Role(x.spokeStack, 'Other', { assumedBy: new iam.AccountRootPrincipal() });
    new iam.Policy(x.spokeStack, 'Wide', { roles: [other], statements: [new iam.PolicyStatement({ actions: ['*'], resources: ['*'] })] });
    // Same construct id and name pattern as the role: only the Roles list decides.
    new iam.Policy(x.spokeStack, 'Named', {
      roles: [iam.Role.fromRoleName(x.spokeStack, 'ByName', 'not-the-role')],
      statements: [new iam.PolicyStatement({ actions: ['ec2:*'], resources: ['*'] })],
    });
    const template = x.app.synth().getStackByName('Spoke').template;
    const allows = boundaryOf(template, role).Statement.filter((st: any) => st.Effect === 'Allow');
    expect(JSON.stringify(allows)).not.toMatch(/"\*"|ec2/);
  });

  test('THEN a grant on the role from an iam.Policy of another stack (same account) is refused or warned at synth, not silently capped', () => {
    const x = hubAndSpoke();
    const role = x.spoke.addProtectedRole('R', { roleName: 'spoke-r' });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${DATA}/*`] }));
    const team = new Stack(x.app, 'Team', { env: SPOKE_ENV });
    new iam.Policy(team, 'TeamGrant', {
      roles: [iam.Role.fromRoleName(team, 'Spoke', 'spoke-r')],
      statements: [new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: ['*'] })],
    });
    let synthError: unknown;
    try {
      x.app.synth();
    } catch (err) {
      synthError = err;
    }
    const warned = [x.spokeStack, team].some((s) =>
      Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('dynamodb|another stack|boundary')).length > 0);
    expect(synthError !== undefined || warned).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 3. The enforcer at run time: in-memory DynamoDB, STS and per-account IAM.
// ---------------------------------------------------------------------------------------------------------------------

const RT_TVM = 'test';
const RT_REGION = 'us-east-1';
const RT_POLICY = revokedSessionsPolicyName(RT_TVM, RT_REGION);
const RT_PATH = `/sentinel-tvm/${RT_TVM}/`;
const RT_SPOKE_ROLE = `${runtimeRolePathOf(RT_TVM).slice(1)}${spokeEnforcementRoleName(RT_TVM, RT_REGION)}`;
const roleIn = (account: string, name: string) => `arn:aws:iam::${account}:role${RT_PATH}${name}`;
const T0 = new Date('2036-01-25T14:30:00.000Z');
const SCHEDULE = { source: 'aws.events' };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const iso = (d: Date) => d.toISOString();
const plus = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000);

/** The session table: revoked items by id; Query on the status index answers every revoked one. */
class FakeTable {
  readonly items = new Map<string, Record<string, AttributeValue>>();
  put(item: Record<string, AttributeValue>): void {
    this.items.set(item[Attr.ID].S!, item);
  }
  client(): any {
    return {
      send: async (cmd: unknown) => {
        if (cmd instanceof QueryCommand) return { Items: [...this.items.values()].filter((i) => i[Attr.STATUS]?.S === 'revoked') };
        if (cmd instanceof GetItemCommand) return { Item: this.items.get((cmd.input.Key as any)[Attr.ID].S) };
        throw new Error(`FakeTable: ${(cmd as object).constructor.name}`);
      },
    };
  }
}

function revoked(id: string, role: string, at: Date = T0): Record<string, AttributeValue> {
  return {
    [Attr.ID]: { S: id },
    [Attr.STATUS]: { S: 'revoked' },
    [Attr.PROFILE]: { S: 'whatever' },
    [Attr.ROLE_ARN]: { S: role },
    [Attr.REVOKED_AT]: { S: iso(at) },
    [Attr.UPDATED_AT]: { S: iso(at) },
    [Attr.EXPIRES_AT]: { S: iso(plus(at, 600)) },
    [Attr.CREDENTIALS_EXPIRE_AT]: { S: iso(plus(at, 30)) },
  };
}

interface IamWrite { readonly account: string; readonly action: string; readonly role: string; readonly at: number }

/** IAM of several accounts: roles by account and name (IAM's APIs take the name only; the credentials pick the account). */
class FakeIam {
  readonly roles = new Map<string, Map<string, string>>();
  readonly writes: IamWrite[] = [];
  /** Per account: a delay before each answer, or an error name to answer. */
  readonly delayMs = new Map<string, number>();
  readonly failWith = new Map<string, string>();
  /** Access keys IAM no longer accepts (their role was re-created, or their sessions revoked). */
  readonly rejectedKeys = new Set<string>();

  addRole(arn: string, policies: Record<string, string> = {}): void {
    const account = arn.split(':')[4];
    this.roles.set(`${account}/${arn.split('/').pop()}`, new Map(Object.entries(policies)));
  }
  policy(arn: string, name = RT_POLICY): string | undefined {
    return this.roles.get(`${arn.split(':')[4]}/${arn.split('/').pop()}`)?.get(name);
  }

  client(account: string, accessKeyId = 'hub'): IAMClient {
    const err = (name: string) => Object.assign(new Error(name), { name });
    return {
      send: async (cmd: any) => {
        const delay = this.delayMs.get(account);
        if (delay) await sleep(delay);
        const failure = this.failWith.get(account);
        if (failure) throw err(failure);
        if (this.rejectedKeys.has(accessKeyId)) throw err('InvalidClientTokenId');
        const role = this.roles.get(`${account}/${cmd.input.RoleName}`);
        if (!role) throw err('NoSuchEntityException');
        if (cmd instanceof ListRolePoliciesCommand) return { PolicyNames: [...role.keys()], IsTruncated: false };
        if (cmd instanceof GetRolePolicyCommand) {
          const d = role.get(cmd.input.PolicyName!);
          if (d === undefined) throw err('NoSuchEntityException');
          return { PolicyDocument: encodeURIComponent(d) };
        }
        if (cmd instanceof PutRolePolicyCommand) {
          // IAM: all inline policies of a role together, whitespace not counted.
          const size = (d: string) => d.replace(/\s/g, '').length;
          const others = [...role].filter(([n]) => n !== cmd.input.PolicyName).reduce((sum, [, d]) => sum + size(d), 0);
          if (others + size(cmd.input.PolicyDocument!) > 10_240) throw err('LimitExceededException');
        }
        this.writes.push({ account, action: cmd.constructor.name, role: cmd.input.RoleName, at: Date.now() });
        if (cmd instanceof PutRolePolicyCommand) role.set(cmd.input.PolicyName!, cmd.input.PolicyDocument!);
        else if (cmd instanceof DeleteRolePolicyCommand) role.delete(cmd.input.PolicyName!);
        return {};
      },
    } as unknown as IAMClient;
  }
}

/** STS: AssumeRole of a spoke enforcement role answers keys that name its account; the calls are counted. */
class FakeSts {
  readonly calls: string[] = [];
  client(): STSClient {
    return {
      send: async (cmd: any) => {
        if (!(cmd instanceof AssumeRoleCommand)) throw new Error('FakeSts: AssumeRole only');
        this.calls.push(cmd.input.RoleArn!);
        const account = cmd.input.RoleArn!.split(':')[4];
        return {
          Credentials: {
            AccessKeyId: `ASIA${account}${this.calls.length}`, SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(Date.now() + 900_000),
          },
        };
      },
    } as unknown as STSClient;
  }
}

const profileOf = (name: string, roleArn: string): ProfileConfig =>
  ({ name, roleArn, allowedPrincipals: [`arn:aws:iam::${HUB}:user/alice`], maxDurationSeconds: 3600 });
const configOfRoles = (roles: string[]): EnforcerConfig =>
  ({ profiles: new Map(roles.map((r, i) => [`p${i}`, profileOf(`p${i}`, r)])) });

interface Rig {
  readonly table: FakeTable;
  readonly iam: FakeIam;
  readonly sts: FakeSts;
  readonly iamFor: IamFor;
  readonly assumedIn: string[];
  deps(config: EnforcerConfig, more?: Partial<EnforcerDeps>): EnforcerDeps;
}

function rig(): Rig {
  const table = new FakeTable();
  const fakeIam = new FakeIam();
  const sts = new FakeSts();
  const assumedIn: string[] = [];
  const clients = spokeIamClients({
    sts: sts.client(),
    spokeRole: RT_SPOKE_ROLE,
    // The keys name the account the role was assumed in: the client acts there, and only there.
    iamClient: (credentials) => fakeIam.client(/^ASIA(\d{12})/.exec(credentials.accessKeyId)![1], credentials.accessKeyId),
  });
  const iamFor: IamFor = async (account, partition) => {
    assumedIn.push(account);
    return clients(account, partition);
  };
  return {
    table,
    iam: fakeIam,
    sts,
    iamFor,
    assumedIn,
    deps: (config, more = {}) => ({
      tableName: 'sessions',
      ddb: table.client(),
      iam: fakeIam.client(HUB),
      iamFor,
      policyName: RT_POLICY,
      protectedRolePath: RT_PATH,
      account: HUB,
      loadConfig: async () => config,
      now: () => plus(T0, 1),
      ...more,
    }),
  };
}

const B_ROLE = roleIn(SPOKE, 'b-Deploy');
const H_ROLE = roleIn(HUB, 'h-ReadOnly');

describe('GIVEN the enforcer of a hub with a spoke, and session records written by someone else (an admin, a tool, an attacker of the table)', () => {
  test('THEN a revoked session naming a role of an account no configured role is in is skipped: the enforcer assumes nothing there', async () => {
    const r = rig();
    r.iam.addRole(H_ROLE);
    r.iam.addRole(B_ROLE);
    r.iam.addRole(roleIn(THIRD, 'x'));
    r.table.put(revoked('aaaaaaaaaaaaaaaa', roleIn(THIRD, 'x')));
    r.table.put(revoked('bbbbbbbbbbbbbbbb', `arn:aws:iam::${SPOKE}:role/Admin`));
    const summary = await enforce(r.deps(configOfRoles([H_ROLE, B_ROLE])), SCHEDULE);
    expect(r.assumedIn).not.toContain(THIRD);
    expect(r.sts.calls.filter((c) => c.includes(THIRD))).toEqual([]);
    expect(summary.skipped.otherRoles).toBe(2);
    expect(r.iam.writes).toEqual([]);
  });

  test('THEN a role ARN with a path is written by its name, in its own account, with that account\'s credentials only', async () => {
    const r = rig();
    const nested = `arn:aws:iam::${SPOKE}:role${RT_PATH}team/a/b-Nested`;
    r.iam.addRole(H_ROLE);
    r.iam.addRole(nested, { [RT_POLICY]: JSON.stringify(SPOKE_PLACEHOLDER_POLICY, null, 2) });
    // The same name in the hub: it must not be touched.
    r.iam.addRole(roleIn(HUB, 'b-Nested'));
    r.table.put(revoked(SESSION_ID, nested));
    await enforce(r.deps(configOfRoles([H_ROLE, nested])), SCHEDULE);
    expect(listedIds(r.iam.policy(nested))).toEqual([SESSION_ID]);
    expect(r.iam.writes.map((w) => `${w.account}/${w.role}`)).toEqual([`${SPOKE}/b-Nested`]);
  });

  test('THEN the placeholder as CloudFormation wrote it (any whitespace or key order) is no deny: a live revoked session is listed', async () => {
    const r = rig();
    const reordered = JSON.stringify({ Statement: SPOKE_PLACEHOLDER_POLICY.Statement, Version: '2012-10-17' }, null, 4);
    r.iam.addRole(B_ROLE, { [RT_POLICY]: reordered });
    r.table.put(revoked(SESSION_ID, B_ROLE));
    await enforce(r.deps(configOfRoles([B_ROLE])), SCHEDULE);
    expect(listedIds(r.iam.policy(B_ROLE))).toEqual([SESSION_ID]);
    // Expired: the placeholder goes back (the template declares the policy), never a delete.
    await enforce(r.deps(configOfRoles([B_ROLE]), { now: () => plus(T0, 60) }), SCHEDULE);
    expect(canonical(r.iam.policy(B_ROLE)!)).toBe(canonical(spokePlaceholderPolicy()));
  });

  test('THEN a "placeholder" with an extra statement is not taken for the placeholder: the table still decides', async () => {
    const r = rig();
    const forged = JSON.stringify({
      ...SPOKE_PLACEHOLDER_POLICY,
      Statement: [...SPOKE_PLACEHOLDER_POLICY.Statement, { Sid: 'SentinelRevokedSessions', Effect: 'Allow', Action: '*', Resource: '*' }],
    });
    r.iam.addRole(B_ROLE, { [RT_POLICY]: forged });
    r.table.put(revoked(SESSION_ID, B_ROLE));
    await enforce(r.deps(configOfRoles([B_ROLE])), SCHEDULE);
    expect(JSON.parse(r.iam.policy(B_ROLE)!)).toEqual(JSON.parse(listPolicy([SESSION_ID])));
  });

  test('THEN the ids of a list policy of the previous release are all read back (listedIds keeps its Sid)', () => {
    const ids = ['0000000000000001', '0000000000000002', 'tool-id.with:chars'];
    expect(listedIds(JSON.stringify(JSON.parse(listPolicy(ids)), null, 2))).toEqual(ids);
    const single = { Sid: 'SentinelRevokedSessions', Condition: { StringEquals: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: 'x1' } } };
    expect(listedIds(JSON.stringify({ Statement: single }))).toEqual(['x1']);
  });

  test('THEN a live revoked session of a spoke role whose profile was removed (no configured role left there) is still denied, '
    + 'the spoke account being one the hub knows (SENTINEL_SPOKE_ACCOUNTS)', async () => {
    // The hub's own account keeps following a role under the path that left the configuration; a spoke account must too.
    const r = rig();
    r.iam.addRole(H_ROLE);
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.addRole(roleIn(HUB, 'h-Gone'));
    r.table.put(revoked('aaaaaaaaaaaaaaaa', roleIn(HUB, 'h-Gone')));
    r.table.put(revoked(SESSION_ID, B_ROLE));
    await enforce(r.deps(configOfRoles([H_ROLE]), { spokeAccounts: [SPOKE] }), SCHEDULE).catch((e) => e);
    expect(listedIds(r.iam.policy(roleIn(HUB, 'h-Gone')))).toEqual(['aaaaaaaaaaaaaaaa']);
    expect(listedIds(r.iam.policy(B_ROLE))).toEqual([SESSION_ID]);
  });

  test('THEN a role of a spoke account is never written with the hub\'s own IAM client (a path with characters IAM allows)', async () => {
    const r = rig();
    // IAM paths may hold any of \u0021-\u007e; the enforcer's ROLE_ARN pattern does not accept '~'.
    const odd = `arn:aws:iam::${SPOKE}:role/team~x/Shared`;
    r.iam.addRole(odd);
    r.iam.addRole(`arn:aws:iam::${HUB}:role/Shared`);
    r.table.put(revoked(SESSION_ID, odd));
    const outcome = await enforce(r.deps(configOfRoles([odd])), SCHEDULE).catch((e) => e);
    // The enforcer reports the role enforced, having written the hub's own role of that name.
    expect({ hubWrites: r.iam.writes.filter((w) => w.account === HUB), accountOf: accountOf(odd), modes: outcome.roles?.map((o: any) => o.mode) })
      .toEqual({ hubWrites: [], accountOf: SPOKE, modes: expect.anything() });
  });
});

describe('GIVEN a stolen enforcement credential that used its PutRolePolicy on a bounded spoke role', () => {
  test('THEN the enforcer cannot put the deny back, and says so: the role fails with LimitExceeded, counted for its account '
    + '(README: "fill the role\'s 10,240 characters … the enforcer then fails on that role")', async () => {
    const r = rig();
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    // The credential fills the role's inline-policy quota with a policy of its own (any name; Denies of nothing: the
    // boundary caps only Allows), and removes the deny.
    const filler = JSON.stringify(doc(Array.from({ length: 81 }, (_, i) => ({
      Sid: `F${i}`, Effect: 'Deny', Action: `s3:GetObject${'x'.repeat(40)}`, Resource: `arn:aws:s3:::n${i}`,
    }))));
    // IAM takes it (under 10,240 characters), and leaves less room than even the fallback deny needs.
    expect(filler.length).toBeLessThanOrEqual(10_240);
    expect(10_240 - filler.length).toBeLessThan(fallbackPolicy(T0).length);
    r.iam.roles.get(`${SPOKE}/b-Deploy`)!.set('Filler', filler);
    r.iam.roles.get(`${SPOKE}/b-Deploy`)!.delete(RT_POLICY);
    r.table.put(revoked(SESSION_ID, B_ROLE));
    const outcome = await enforce(r.deps(configOfRoles([B_ROLE])), SCHEDULE).catch((e) => e);
    const roles = JSON.stringify(outcome.summary?.roles ?? outcome.roles);
    expect(outcome).toBeInstanceOf(EnforcementError);
    expect(JSON.parse(roles)).toEqual([expect.objectContaining({ role: B_ROLE, account: SPOKE, mode: 'failed', error: expect.stringMatching(/LimitExceeded/) })]);
    expect(r.iam.policy(B_ROLE)).toBeUndefined();
  });
});

describe('GIVEN two spoke accounts and the cached spoke credentials', () => {
  test('THEN each account is assumed once with its own enforcement role, and its client writes only there', async () => {
    const r = rig();
    const C_ROLE = roleIn(THIRD, 'c-ReadOnly');
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.addRole(C_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.table.put(revoked('bbbbbbbbbbbbbbbb', B_ROLE));
    r.table.put(revoked('cccccccccccccccc', C_ROLE));
    await enforce(r.deps(configOfRoles([B_ROLE, C_ROLE])), SCHEDULE);
    await enforce(r.deps(configOfRoles([B_ROLE, C_ROLE])), SCHEDULE);
    expect(r.sts.calls.sort()).toEqual([`arn:aws:iam::${SPOKE}:role/${RT_SPOKE_ROLE}`, `arn:aws:iam::${THIRD}:role/${RT_SPOKE_ROLE}`]);
    expect(listedIds(r.iam.policy(B_ROLE))).toEqual(['bbbbbbbbbbbbbbbb']);
    expect(listedIds(r.iam.policy(C_ROLE))).toEqual(['cccccccccccccccc']);
  });

  test('THEN credentials IAM rejects (spoke role re-created, sessions revoked) are dropped and assumed again in the same run', async () => {
    const r = rig();
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    await enforce(r.deps(configOfRoles([B_ROLE])), SCHEDULE);
    // The spoke's enforcement role was deleted and re-created by a StackSet update: the cached session is no longer valid.
    r.sts.calls.forEach((_c, i) => r.iam.rejectedKeys.add(`ASIA${SPOKE}${i + 1}`));
    r.table.put(revoked(SESSION_ID, B_ROLE));
    const second = await enforce(r.deps(configOfRoles([B_ROLE])), SCHEDULE).catch((e) => e);
    expect(second).not.toBeInstanceOf(Error);
    expect(listedIds(r.iam.policy(B_ROLE))).toEqual([SESSION_ID]);
    expect(r.sts.calls).toHaveLength(2);
  });
});

describe('GIVEN runs serialized by the lease (one at a time), and one spoke account whose IAM answers slowly', () => {
  test('THEN within a run, another account is denied without waiting for the slow one; a revocation arriving meanwhile waits for '
    + 'the run that holds the lease (README: "within a run … written by the next run, after that one ends")', async () => {
    const r = rig();
    let held: Promise<void> = Promise.resolve();
    const lease: EnforcerLease = {
      acquire: async () => {
        const previous = held;
        let release!: () => void;
        held = new Promise<void>((resolve) => { release = resolve; });
        await previous;
        return async () => release();
      },
    };
    const C_ROLE = roleIn(THIRD, 'c-ReadOnly');
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.addRole(C_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.delayMs.set(SPOKE, 1_000); // each IAM call in B: a throttled account
    const config = configOfRoles([B_ROLE, C_ROLE]);
    const handler = createEnforcer(r.deps(config, { lease }));
    const context = { invokedFunctionArn: `arn:aws:lambda:${RT_REGION}:${HUB}:function:enforcer`, getRemainingTimeInMillis: () => 60_000 };
    // The schedule starts, and works on B (slowly) and C.
    const schedule = handler(SCHEDULE, context).catch((e) => e);
    await sleep(50);
    // A session of C is revoked meanwhile: its stream record arrives.
    const item = revoked('cccccccccccccccc', C_ROLE, plus(T0, 0.5));
    r.table.put(item);
    const revokedAt = Date.now();
    const stream = handler({ Records: [{ eventName: 'MODIFY', dynamodb: { NewImage: item } }] }, context).catch((e) => e);
    await Promise.all([schedule, stream]);
    const cWrites = r.iam.writes.filter((w) => w.account === THIRD && w.action === 'PutRolePolicyCommand');
    const bWrites = r.iam.writes.filter((w) => w.account === SPOKE);
    // The schedule run wrote C (nothing revoked there yet: no write) or not; the stream run, after the schedule released
    // the lease, wrote C's deny: later than B's slow work, as the README says.
    expect(cWrites).toHaveLength(1);
    expect(cWrites[0].at - revokedAt).toBeGreaterThan(500);
    expect(Math.max(...bWrites.map((w) => w.at))).toBeLessThanOrEqual(cWrites[0].at);
  });

  test('THEN within one run, the slow account does not delay the other account\'s deny', async () => {
    const r = rig();
    const C_ROLE = roleIn(THIRD, 'c-ReadOnly');
    r.iam.addRole(B_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.addRole(C_ROLE, { [RT_POLICY]: spokePlaceholderPolicy() });
    r.iam.delayMs.set(SPOKE, 1_000);
    r.table.put(revoked('bbbbbbbbbbbbbbbb', B_ROLE));
    r.table.put(revoked('cccccccccccccccc', C_ROLE));
    const started = Date.now();
    await enforce(r.deps(configOfRoles([B_ROLE, C_ROLE])), SCHEDULE);
    const cDeny = r.iam.writes.find((w) => w.account === THIRD && w.action === 'PutRolePolicyCommand')!;
    const bDeny = r.iam.writes.find((w) => w.account === SPOKE && w.action === 'PutRolePolicyCommand')!;
    expect(cDeny.at - started).toBeLessThan(500);
    expect(bDeny.at - started).toBeGreaterThan(1_000);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 4. Organization-wide mode: the SCP the enforcer keeps.
// ---------------------------------------------------------------------------------------------------------------------

describe('GIVEN the organization SCP\'s content as the enforcer computes it', () => {
  const hex = (i: number) => i.toString(16).padStart(16, '0');

  test('THEN 259 TVM ids fit in 5,120 characters, whitespace included, and a 260th switches to the fallback', () => {
    expect(MAX_SCP_IDS).toBe(259);
    const full = desiredScp(Array.from({ length: 259 }, (_, i) => hex(i)), T0)!;
    expect(full.kind).toBe('list');
    expect(full.document.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    expect(desiredScp(Array.from({ length: 260 }, (_, i) => hex(i)), T0)!.kind).toBe('fallback');
  });

  test('THEN the size is measured on the real ids: 64-character ids of other tools fall back well before 259', () => {
    const long = (i: number) => `tool:${i.toString().padStart(59, '0')}`;
    const ids = Array.from({ length: 80 }, (_, i) => long(i));
    const desired = desiredScp(ids, T0)!;
    expect(listPolicy(ids).length).toBeGreaterThan(SCP_MAX_CHARS);
    expect(desired.kind).toBe('fallback');
    expect(desired.document.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
  });

  test('THEN repeated ids and their order change neither the size nor the document (sorted, distinct)', () => {
    const ids = Array.from({ length: 259 }, (_, i) => hex(i));
    const shuffled = [...ids].reverse();
    expect(desiredScp([...shuffled, ...ids], T0)).toEqual(desiredScp(ids, T0));
  });

  test('THEN the fallback SCP denies only principals that carry a session tag, issued before the cut-off', () => {
    const fallback = JSON.parse(fallbackPolicy(T0)).Statement[0];
    expect(fallback.Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2036-01-25T14:30:00Z' },
      Null: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: 'false' },
    });
  });

  test('THEN content Organizations gives back reformatted (indented, keys reordered) reads as the same ids and compares equal', () => {
    const ids = ['00000000000000aa', '00000000000000bb'];
    const written = listPolicy(ids);
    const reformatted = JSON.stringify({
      Statement: JSON.parse(written).Statement.map((s: any) => ({ Resource: s.Resource, ...s })),
      Version: '2012-10-17',
    }, null, 2);
    expect(listedIds(reformatted)).toEqual(ids);
    expect(canonical(reformatted)).toBe(canonical(written));
  });
});

describe('GIVEN a hub in organization mode (its synthesized enforcer policy), WHEN IAM decides the enforcer\'s Organizations calls', () => {
  const SCP_ARN = `arn:aws:organizations::${HUB}:policy/o-abcd123456/service_control_policy/p-sentinel01`;
  const OTHER_SCP = `arn:aws:organizations::${HUB}:policy/o-abcd123456/service_control_policy/p-fullaccess`;
  let policy: unknown;
  let functionArn: string;
  let template: any;

  beforeAll(() => {
    const app = newApp();
    const stack = new Stack(app, 'Hub', { env: HUB_ENV });
    new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME, revocation: RevocationEnforcement.organizationScp({ targetIds: ['r-abcd'] }) });
    template = app.synth().getStackByName('Hub').template;
    const [scpId] = resourcesOf(template, 'AWS::Organizations::Policy')[0];
    const resolver = new CfnResolver(template, { [scpId]: SCP_ARN });
    const [roleId] = resourcesOf(template, 'AWS::IAM::Role').find(([, r]) => String(r.Properties.RoleName).includes('-enforce-'))!;
    policy = doc(resolver.resolve(identityStatementsOf(template, roleId)));
    functionArn = resolver.arn(resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('TvmEnforcerFunction'))![0]);
  });

  const asEnforcer = (action: string, resource: string) => decide({
    principal: `arn:aws:sts::${HUB}:assumed-role/${TVM_NAME}-enforce-${REGION}/x`,
    action,
    resource,
    resourceAccount: HUB,
    identityPolicies: [policy],
    context: { 'aws:PrincipalArn': ENFORCER_ROLE, 'lambda:SourceFunctionArn': functionArn },
  });

  test('THEN it may describe and update its own SCP', async () => {
    expect(await asEnforcer('organizations:DescribePolicy', SCP_ARN)).toBe('Allowed');
    expect(await asEnforcer('organizations:UpdatePolicy', SCP_ARN)).toBe('Allowed');
  });

  test.each([
    ['organizations:UpdatePolicy', OTHER_SCP],
    ['organizations:DeletePolicy', SCP_ARN],
    ['organizations:DetachPolicy', SCP_ARN],
    ['organizations:AttachPolicy', OTHER_SCP],
    ['organizations:CreatePolicy', '*'],
    ['organizations:EnablePolicyType', '*'],
  ])('THEN it may not %s on %s', async (action, resource) => {
    expect(await asEnforcer(action, resource)).toBe('ImplicitlyDenied');
  });

  test('THEN nothing limits WHAT it writes into its SCP: README\'s "deny everything to everyone tagged, or nothing" understates it', () => {
    const statement = (policy as any).Statement.find((s: any) => [s.Action].flat().includes('organizations:UpdatePolicy') && s.Effect === 'Allow');
    expect(statement.Condition).toBeUndefined();
    // A stolen enforcer credential can write {"Effect":"Deny","Action":"*","Resource":"*"}: every principal of every target
    // account, tagged or not, is denied (an organization-wide outage the management account alone can undo).
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| the organization mode\'s enforcer'))!;
    expect(row).toMatch(/every principal|everyone in|untagged|outage/);
  });

  test('THEN the TVM\'s SCP carries the TVM tag, and the guardrail SCP denies others changing or detaching it', async () => {
    const [, scp] = resourcesOf(template, 'AWS::Organizations::Policy')[0];
    expect(scp.Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'sentinel-tvm:service', Value: TVM_NAME }]));
    const guardrail = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'docs', 'guardrails', 'tvm-account-scp.json'), 'utf8')
      .replace(/<DEPLOYMENT_ROLE_ARN>/g, `arn:aws:iam::${HUB}:role/deployer`).replace(/<SERVICE_NAME>/g, TVM_NAME)
      .replace(/<TVM_STACK_NAME>/g, 'Hub').replace(/<API_ID>/g, 'abc123'));
    const result = await runSimulation({
      request: {
        principal: `arn:aws:sts::${HUB}:assumed-role/PolicyAdmin/mallory`,
        action: 'organizations:DetachPolicy',
        resource: { resource: SCP_ARN, accountId: HUB },
        contextVariables: { 'aws:PrincipalArn': `arn:aws:iam::${HUB}:role/PolicyAdmin`, 'aws:ResourceTag/sentinel-tvm:service': TVM_NAME },
      },
      identityPolicies: [{ name: 'full', policy: ALLOW_ALL }],
      serviceControlPolicies: [{ orgIdentifier: 'r-root', policies: [{ name: 'full', policy: ALLOW_ALL }, { name: 'tvm', policy: guardrail }] }],
      resourceControlPolicies: [],
    }, {});
    if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
    expect(result.overallResult).toBe('ExplicitlyDenied');
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 5. Synth refusal of a profile whose role is in another account without a spoke.
// ---------------------------------------------------------------------------------------------------------------------

describe('GIVEN a hub whose profile names a role of another account, and no spoke there', () => {
  const foreignArn = `arn:aws:iam::${SPOKE}:role${PROTECTED_PATH}reader`;
  const synthOf = (stack: Stack) => () => (stack.node.root as App).synth({ force: true });

  test('THEN fromProtectedRoleArn of another account is refused (hub with an env)', () => {
    const stack = new Stack(newApp(), 'Hub', { env: HUB_ENV });
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME });
    tvm.addProfile('x', { role: ProtectedRole.fromProtectedRoleArn(stack, 'R', foreignArn, tvm), allowedPrincipals: [P(ALICE)] });
    expect(synthOf(stack)).toThrow(/which has no spoke of this TVM/);
  });

  test('THEN an environment-agnostic hub is refused too (or warned): the role\'s account is literal even when the hub\'s is not', () => {
    const stack = new Stack(newApp(), 'Hub');
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME });
    // The README's way to name a StackSet spoke's role: no imported-role warning either.
    tvm.addProfile('x', { role: ProtectedRole.fromProtectedRoleArn(stack, 'R', foreignArn, tvm), allowedPrincipals: [P(ALICE)] });
    let error: unknown;
    try {
      synthOf(stack)();
    } catch (err) {
      error = err;
    }
    const warned = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('spoke|another account'));
    expect(error !== undefined || warned.length > 0).toBe(true);
  });

  test('THEN an environment-agnostic hub refuses a chain target of another account, as a hub with an env does', () => {
    const stack = new Stack(newApp(), 'Hub');
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME });
    const local = new ProtectedRole(stack, 'Local', { tvm });
    expect(() => tvm.addProfile('x', {
      role: local, allowedPrincipals: [P(ALICE)], allowRoleChainingTo: [iam.Role.fromRoleArn(stack, 'Target', foreignArn)],
    })).toThrow(/allowRoleChainingTo\[0\].*in account/);
  });

  test('THEN a role ARN from a deploy-time value (a parameter) is warned about: its account cannot be checked at synth', () => {
    const stack = new Stack(newApp(), 'Hub', { env: HUB_ENV });
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: TVM_NAME });
    const arn = new CfnParameter(stack, 'RoleArn', { type: 'String' }).valueAsString;
    tvm.addProfile('x', { role: iam.Role.fromRoleArn(stack, 'R', arn), allowedPrincipals: [P(ALICE)] });
    synthOf(stack)();
    // The generic imported-role warnings say nothing of the account: look for one that does.
    const warned = Annotations.fromStack(stack)
      .findWarning('*', Match.stringLikeRegexp('spoke|another account|account (cannot|is not known|unknown)'));
    expect(warned).not.toEqual([]);
  });

  test('THEN a ProtectedRole (not a spoke role) of a spoke account, which the spoke cannot write, is refused rather than only warned', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Hub', { env: HUB_ENV }), 'Tvm', { tvmName: TVM_NAME });
    const spokeStack = new Stack(app, 'Spoke', { env: SPOKE_ENV });
    new SentinelTvmSpoke(spokeStack, 'Spoke', { tvm });
    const plain = new ProtectedRole(spokeStack, 'Plain', { tvm, roleName: 'plain' });
    tvm.addProfile('x', { role: plain, allowedPrincipals: [P(ALICE)] });
    expect(() => app.synth()).toThrow(/spoke|cannot write|addProtectedRole/);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// 6. Local mode: accounts, local IAM, caller roles, and the revoke-to-refusal claim.
// ---------------------------------------------------------------------------------------------------------------------

const EXAMPLE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'examples', 'local', 'config.json'), 'utf8'));
const LOCAL_HUB = '111122223333';
const LOCAL_SPOKE = '444455556666';

/** Whether local mode's config validation accepts this config. */
function accepts(config: unknown): boolean {
  try {
    validateConfig(config);
    return true;
  } catch {
    return false;
  }
}

describe('GIVEN local mode\'s accounts (the example config) and its local IAM', () => {
  let accounts: LocalAccounts;
  let keys: Map<string, KnownKey>;
  let stop: () => Promise<void>;
  let endpoint: string;
  const key = (id: string, known: KnownKey) => {
    keys.set(id, known);
    return new IAMClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: id, secretAccessKey: known.secretAccessKey }, maxAttempts: 1 });
  };
  const session = (roleArn: string, name: string): KnownKey => ({
    secretAccessKey: `secret-${name}`,
    arn: `arn:aws:sts::${roleArn.split(':')[4]}:assumed-role/${roleArn.split('/').pop()}/${name}`,
    principalArn: roleArn,
    roleArn,
  });
  const SPOKE_READONLY = `arn:aws:iam::${LOCAL_SPOKE}:role/sentinel-tvm/sentinel-tvm-local/ReadOnly`;
  const put = (client: IAMClient, roleName: string) => client.send(new PutRolePolicyCommand({
    RoleName: roleName, PolicyName: accounts.names.policyName, PolicyDocument: listPolicy([SESSION_ID]),
  })).then(() => 'ok', (e) => e.name);

  beforeAll(async () => {
    accounts = new LocalAccounts(validateConfig(EXAMPLE));
    keys = new Map();
    const iamServer = await startLocalIam({ region: 'us-east-1', accounts, lookup: (id) => keys.get(id) });
    endpoint = iamServer.endpoint;
    stop = () => iamServer.stop();
  });
  afterAll(async () => stop?.());

  test('THEN the spoke\'s enforcement role acts in its own account only: it cannot write the hub\'s ReadOnly, nor its own role', async () => {
    const spoke = key('ASIALOCALSPOKE1', session(accounts.names.spokeRoleArn(LOCAL_SPOKE), 'sentinel-tvm-enforcer'));
    expect(await put(spoke, 'ReadOnly')).toBe('ok'); // the spoke's own ReadOnly (same name as the hub's)
    expect(accounts.role(LOCAL_HUB, 'ReadOnly')!.policies.has(accounts.names.policyName)).toBe(false);
    expect(await put(spoke, accounts.names.spokeRole.split('/').pop()!)).toBe('AccessDenied');
    accounts.role(LOCAL_SPOKE, 'ReadOnly')!.policies.set(accounts.names.policyName, JSON.stringify(SPOKE_PLACEHOLDER_POLICY));
  });

  test('THEN the hub enforcer cannot write a spoke role (its calls act in the hub), and a vended session cannot write at all', async () => {
    const hub = key('ASIALOCALHUBENF1', session(accounts.names.enforcerRoleArn, 'enforcer'));
    const vended = key('ASIALOCALVENDED1', { ...session(SPOKE_READONLY, 'sentinel.alice'), tags: [{ Key: SESSION_TAG_KEY, Value: SESSION_ID }] });
    expect(await put(hub, 'Deploy')).toBe('ok');
    expect(await put(vended, 'ReadOnly')).toBe('AccessDenied');
    expect(accounts.role(LOCAL_SPOKE, 'ReadOnly')!.policies.get(accounts.names.policyName)).toBe(JSON.stringify(SPOKE_PLACEHOLDER_POLICY));
  });

  test('THEN a config principal whose "arn" is the enforcer role\'s ARN is refused by the config, or cannot write', async () => {
    const config = JSON.parse(JSON.stringify(EXAMPLE));
    config.principals.AKIDLOCALFORGER = { secretAccessKey: 'forger-secret-not-a-real-key', arn: accounts.names.enforcerRoleArn };
    const accepted = accepts(config);
    // As local mode registers a config principal: its access key, its secret and its arn, nothing else.
    const forger = key('AKIDLOCALFORGER', { secretAccessKey: 'forger-secret-not-a-real-key', arn: accounts.names.enforcerRoleArn });
    const wrote = (await put(forger, 'Deploy')) === 'ok';
    expect({ accepted, wrote }).not.toEqual({ accepted: true, wrote: true });
  });

  test('THEN credentials issued BEFORE the deny are refused by it (list and fallback), and other sessions\' are not', () => {
    const issued = new Date('2036-01-25T14:00:00Z');
    const hubReadOnly = accounts.role(LOCAL_HUB, 'ReadOnly')!;
    const mine: KnownKey = { ...session(hubReadOnly.arn, 'sentinel.alice'), tags: [{ Key: SESSION_TAG_KEY, Value: SESSION_ID }], issuedAt: issued };
    const other: KnownKey = { ...mine, tags: [{ Key: SESSION_TAG_KEY, Value: 'fedcba9876543210' }] };
    const later: KnownKey = { ...other, issuedAt: new Date('2036-01-25T15:00:00Z') };
    hubReadOnly.policies.set(accounts.names.policyName, listPolicy([SESSION_ID]));
    expect(accounts.decide(mine, 's3:ListAllMyBuckets', '*').decision).toBe('ExplicitlyDenied');
    expect(accounts.decide(other, 's3:ListAllMyBuckets', '*').decision).toBe('Allowed');
    hubReadOnly.policies.set(accounts.names.policyName, fallbackPolicy(new Date('2036-01-25T14:30:00Z')));
    expect(accounts.decide(other, 's3:ListAllMyBuckets', '*').decision).toBe('ExplicitlyDenied');
    expect(accounts.decide(later, 's3:ListAllMyBuckets', '*').decision).toBe('Allowed');
    hubReadOnly.policies.delete(accounts.names.policyName);
  });
});

describe('GIVEN local mode\'s trust policies', () => {
  const ENFORCER = `arn:aws:iam::${LOCAL_HUB}:role/sentinel-tvm-runtime/sentinel-tvm-local/sentinel-tvm-local-enforce-us-east-1`;
  const call = (roleSessionName: string) => ({ tags: [], transitiveTagKeys: [], roleSessionName });

  test('THEN only the hub enforcer may assume a spoke enforcement role', () => {
    const trust = spokeEnforcementTrustPolicy(ENFORCER);
    const as = (caller: string, principalArn: string) => authorizeAssumeRole(trust, caller, call('x'), principalArn)['sts:AssumeRole'];
    expect(as(`arn:aws:sts::${LOCAL_HUB}:assumed-role/sentinel-tvm-local-enforce-us-east-1/x`, ENFORCER)).toBe('Allowed');
    const execution = `arn:aws:iam::${LOCAL_HUB}:role/SentinelTvmLocalExecutionRole`;
    expect(as(`arn:aws:sts::${LOCAL_HUB}:assumed-role/SentinelTvmLocalExecutionRole/x`, execution))
      .not.toBe('Allowed');
    expect(as(`arn:aws:iam::${LOCAL_HUB}:user/alice`, `arn:aws:iam::${LOCAL_HUB}:user/alice`)).not.toBe('Allowed');
    expect(as(`arn:aws:sts::${LOCAL_SPOKE}:assumed-role/sentinel-tvm-local-enforce-us-east-1/x`, ENFORCER.replace(LOCAL_HUB, LOCAL_SPOKE)))
      .not.toBe('Allowed');
  });

  test('THEN a caller role pins a named user\'s session name to the user', () => {
    const trust = callerRoleTrustPolicy([`arn:aws:iam::${LOCAL_SPOKE}:user/carol`]);
    const carol = `arn:aws:iam::${LOCAL_SPOKE}:user/carol`;
    expect(authorizeAssumeRole(trust, carol, call('carol'))['sts:AssumeRole']).toBe('Allowed');
    expect(authorizeAssumeRole(trust, carol, call('alice'))['sts:AssumeRole']).not.toBe('Allowed');
  });

  test('THEN no other principal a caller role trusts can take a named user\'s session name (the TVM would see that user)', () => {
    const carol = `arn:aws:iam::${LOCAL_SPOKE}:user/carol`;
    const pipeline = `arn:aws:iam::${LOCAL_SPOKE}:role/pipeline`;
    const trust = callerRoleTrustPolicy([carol, pipeline]);
    const pipelineSession = `arn:aws:sts::${LOCAL_SPOKE}:assumed-role/pipeline/run-1`;
    // If validateConfig refused such a caller role, the pin would hold; it accepts it.
    const config = JSON.parse(JSON.stringify(EXAMPLE));
    config.callerRoles[`arn:aws:iam::${LOCAL_HUB}:role/PartnerCaller`] = [carol, pipeline];
    const accepted = accepts(config);
    const impersonates = authorizeAssumeRole(trust, pipelineSession, call('carol'), pipeline)['sts:AssumeRole'] === 'Allowed';
    expect({ accepted, impersonates }).not.toEqual({ accepted: true, impersonates: true });
  });
});
