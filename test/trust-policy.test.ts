// The protected roles' trust policy, taken from the synthesized template and evaluated by an IAM policy simulator
// the way STS evaluates it: each of sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity is authorized
// separately, and each only sees its own condition keys.
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT, CfnResolver, fullTvm, identityStatementsOf, logicalIdOf, removeOutdirs } from './support/synth';

const EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/TvmExecutionRole`;
/** The Lambda calls STS with the credentials of a session of its execution role. */
const TVM = `arn:aws:sts::${ACCOUNT}:assumed-role/TvmExecutionRole/TvmStack-TvmHandler0A13E888-abc123`;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/SomeOtherRole`;
const OTHER_ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SomeOtherRole/alice`;
const ACCOUNT_ROOT = `arn:aws:iam::${ACCOUNT}:root`;

type Context = Record<string, string | string[]>;
const SESSION_ID = '0123456789abcdef';
const TAG = { 'aws:RequestTag/SentinelSessionID': SESSION_ID, 'aws:TagKeys': ['SentinelSessionID'] };
const SOURCE_IDENTITY = { 'sts:SourceIdentity': 'sentinel.alice' };
/** Any principal's own permissions: everything, so that only the trust policy can deny. */
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

interface Role {
  readonly arn: string;
  readonly trustPolicy: unknown;
}

let protectedRole: Role;
let ownedRole: Role;
/** The execution role's identity policy as synthesized (it must allow the call too). */
let executionRolePolicy: unknown;
/** The vending function: Lambda sets `lambda:SourceFunctionArn` to it on calls made by its code with its role. */
let handlerArn: string;

beforeAll(() => {
  const full = fullTvm();
  const template = Template.fromStack(full.stack).toJSON();
  const executionRoleId = logicalIdOf(full.tvm.executionRole);
  const resolver = new CfnResolver(template, { [executionRoleId]: EXECUTION_ROLE });
  const roleOf = (logicalId: string): Role => ({
    arn: resolver.arn(logicalId),
    trustPolicy: resolver.resolve(template.Resources[logicalId].Properties.AssumeRolePolicyDocument),
  });
  protectedRole = roleOf(logicalIdOf(full.protectedRole));
  ownedRole = roleOf(logicalIdOf(full.ownedRole));
  executionRolePolicy = { Version: '2012-10-17', Statement: resolver.resolve(identityStatementsOf(template, executionRoleId)) };
  handlerArn = resolver.arn(logicalIdOf(full.tvm.handler));
});

afterAll(removeOutdirs);

interface Request {
  readonly principal: string;
  readonly action: string;
  readonly context: Context;
  /** @default the protected role */
  readonly role?: Role;
  /** The caller's identity policy. @default the synthesized execution role policy for the TVM, ALLOW_ALL for anyone else */
  readonly identityPolicy?: unknown;
  /** With the execution role's policy: the call comes from another function run as the role, not the vending function. */
  readonly fromAnotherFunction?: boolean;
}

/** The decision IAM makes on one STS action against a role: 'Allowed', 'ImplicitlyDenied' or 'ExplicitlyDenied'. */
async function decide(request: Request): Promise<string> {
  const role = request.role ?? protectedRole;
  const identityPolicy = request.identityPolicy ?? (request.principal === TVM ? executionRolePolicy : ALLOW_ALL);
  const fromFunction: Context = identityPolicy === executionRolePolicy
    ? { 'lambda:SourceFunctionArn': request.fromAnotherFunction ? handlerArn.replace(/[^:]+$/, 'someone-elses-function') : handlerArn } : {};
  const result = await runSimulation({
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: role.arn, accountId: ACCOUNT },
      contextVariables: { ...fromFunction, ...request.context },
    },
    identityPolicies: [{ name: 'identity', policy: identityPolicy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: role.trustPolicy,
  }, {});
  if (result.resultType === 'error') throw new Error(`the simulation did not run: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

/** The three authorizations STS makes for AssumeRole with Tags and SourceIdentity, all with the call's full context. */
async function assumeRoleCall(principal: string, context: Context, role: Role = protectedRole): Promise<Record<string, string>> {
  const decisions: Record<string, string> = {};
  for (const action of ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity']) {
    decisions[action] = await decide({ principal, action, context, role });
  }
  return decisions;
}

const ALL_ALLOWED = { 'sts:AssumeRole': 'Allowed', 'sts:TagSession': 'Allowed', 'sts:SetSourceIdentity': 'Allowed' };

describe('GIVEN the ProtectedRole\'s trust policy from the synthesized template', () => {
  describe('WHEN the TVM\'s execution role asks as the vending Lambda does', () => {
    test.each<[string, string, Context]>([
      ['sts:AssumeRole with the 16-character session tag and SourceIdentity sentinel.alice', 'sts:AssumeRole', { ...TAG, ...SOURCE_IDENTITY }],
      ['sts:TagSession with only the session tag', 'sts:TagSession', TAG],
      ['sts:SetSourceIdentity with sentinel.alice', 'sts:SetSourceIdentity', SOURCE_IDENTITY],
    ])('THEN %s is allowed', async (_case, action, context) => {
      expect(await decide({ principal: TVM, action, context })).toBe('Allowed');
    });

    test('THEN the whole AssumeRole call (tags and source identity) passes all three authorizations', async () => {
      expect(await assumeRoleCall(TVM, { ...TAG, ...SOURCE_IDENTITY, 'sts:TransitiveTagKeys': ['SentinelSessionID'] })).toEqual(ALL_ALLOWED);
    });

    test('THEN the execution role identified by its role ARN is allowed too', async () => {
      const context = { ...TAG, ...SOURCE_IDENTITY };
      expect(await decide({ principal: EXECUTION_ROLE, action: 'sts:AssumeRole', context, identityPolicy: executionRolePolicy })).toBe('Allowed');
    });
  });

  describe('WHEN another function runs as the execution role (someone with iam:PassRole made it) and asks exactly as the TVM does', () => {
    test.each(['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'])('THEN %s is explicitly denied, though the trust names the role',
      async (action) => {
        const context = { ...TAG, ...SOURCE_IDENTITY };
        expect(await decide({ principal: TVM, action, context, fromAnotherFunction: true })).toBe('ExplicitlyDenied');
      });
  });

  describe('WHEN the TVM\'s execution role, even with every permission of its own, asks without what the trust policy requires', () => {
    test.each<[string, string, Context]>([
      ['sts:AssumeRole without the session tag', 'sts:AssumeRole', SOURCE_IDENTITY],
      ['sts:AssumeRole with a second tag key', 'sts:AssumeRole',
        { ...TAG, ...SOURCE_IDENTITY, 'aws:RequestTag/Team': 'ops', 'aws:TagKeys': ['SentinelSessionID', 'Team'] }],
      ['sts:AssumeRole with a 15-character session id', 'sts:AssumeRole',
        { ...TAG, ...SOURCE_IDENTITY, 'aws:RequestTag/SentinelSessionID': SESSION_ID.slice(1) }],
      ['sts:AssumeRole with a 17-character session id', 'sts:AssumeRole',
        { ...TAG, ...SOURCE_IDENTITY, 'aws:RequestTag/SentinelSessionID': `${SESSION_ID}0` }],
      ['sts:AssumeRole with the session id under another tag key', 'sts:AssumeRole',
        { 'aws:RequestTag/SessionID': SESSION_ID, 'aws:TagKeys': ['SessionID'], ...SOURCE_IDENTITY }],
      ['sts:AssumeRole without a SourceIdentity', 'sts:AssumeRole', TAG],
      ['sts:AssumeRole with SourceIdentity alice', 'sts:AssumeRole', { ...TAG, 'sts:SourceIdentity': 'alice' }],
      ['sts:AssumeRole with SourceIdentity other.alice', 'sts:AssumeRole', { ...TAG, 'sts:SourceIdentity': 'other.alice' }],
      ['sts:TagSession with an extra tag key', 'sts:TagSession',
        { ...TAG, 'aws:RequestTag/Team': 'ops', 'aws:TagKeys': ['SentinelSessionID', 'Team'] }],
      ['sts:TagSession with only another tag', 'sts:TagSession', { 'aws:RequestTag/Team': 'ops', 'aws:TagKeys': ['Team'] }],
      ['sts:TagSession with a 15-character session id', 'sts:TagSession',
        { ...TAG, 'aws:RequestTag/SentinelSessionID': SESSION_ID.slice(1) }],
      ['sts:SetSourceIdentity with alice', 'sts:SetSourceIdentity', { 'sts:SourceIdentity': 'alice' }],
      ['sts:SetSourceIdentity with other.alice', 'sts:SetSourceIdentity', { 'sts:SourceIdentity': 'other.alice' }],
    ])('THEN %s is denied', async (_case, action, context) => {
      expect(await decide({ principal: TVM, action, context, identityPolicy: ALLOW_ALL })).toBe('ImplicitlyDenied');
    });
  });

  describe.each([
    ['another role of the account', OTHER_ROLE],
    ['a session of another role of the account', OTHER_ROLE_SESSION],
    ['the account root', ACCOUNT_ROOT],
  ])('WHEN %s asks exactly as the TVM does, with every permission of its own', (_who, principal) => {
    test.each<[string, string, Context]>([
      ['sts:AssumeRole', 'sts:AssumeRole', { ...TAG, ...SOURCE_IDENTITY }],
      ['sts:TagSession', 'sts:TagSession', TAG],
      ['sts:SetSourceIdentity', 'sts:SetSourceIdentity', SOURCE_IDENTITY],
    ])('THEN %s is denied', async (_case, action, context) => {
      expect(await decide({ principal, action, context })).toBe('ImplicitlyDenied');
    });
  });
});

describe('GIVEN an owned iam.Role used as a profile, whose own statement trusts its account', () => {
  test('WHEN the TVM calls AssumeRole with the session tag and source identity THEN all three authorizations pass', async () => {
    expect(await assumeRoleCall(TVM, { ...TAG, ...SOURCE_IDENTITY }, ownedRole)).toEqual(ALL_ALLOWED);
  });

  // Here the trust policy does not require the tag (the account may delegate to identity policies):
  // only the execution role's own policy can keep untagged, unrevocable credentials from existing.
  test('WHEN the TVM calls AssumeRole without the session tag THEN it is denied', async () => {
    expect(await decide({ principal: TVM, action: 'sts:AssumeRole', context: SOURCE_IDENTITY, role: ownedRole })).toBe('ImplicitlyDenied');
  });
});
