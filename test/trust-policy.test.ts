// The protected roles' trust policy, taken from the synthesized template and evaluated by an IAM policy simulator
// the way STS evaluates it: each of sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity is authorized
// separately, and each only sees its own condition keys. The trust names the TVM's account as principal, on condition
// that the caller's aws:PrincipalArn (for a role session, its role's ARN with the role's path) is the execution role.
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT, CfnResolver, fullTvm, identityStatementsOf, logicalIdOf, removeOutdirs } from './support/synth';

/** The execution role (its fixed name and path, read from the TVM) and the vending Lambda's session of it. */
let EXECUTION_ROLE: string;
let TVM: string;
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/SomeOtherRole`;
const OTHER_ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SomeOtherRole/alice`;
const ACCOUNT_ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const OTHER_ACCOUNT = '444455556666';

/** Roles by name, with their paths: what IAM reports as aws:PrincipalArn for a session of one. */
const rolesByName = new Map<string, string>();

/** IAM's aws:PrincipalArn of a caller: a role session's is its role's ARN, path included; anyone else's is its own ARN. */
function principalArnOf(principal: string): string {
  const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(principal);
  if (!session) return principal;
  const known = rolesByName.get(session[2]);
  return known && known.split(':')[4] === session[1] ? known : `arn:aws:iam::${session[1]}:role/${session[2]}`;
}

type Context = Record<string, string | string[]>;
const SESSION_ID = '0123456789abcdef';
const TAG = { 'aws:RequestTag/SentinelSessionID': SESSION_ID, 'aws:TagKeys': ['SentinelSessionID'] };
/** The SourceIdentity the vending Lambda sets: `sentinel.<session id>.<kind>.<user>`. */
const SOURCE_IDENTITY = { 'sts:SourceIdentity': `sentinel.${SESSION_ID}.s.alice` };
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
  const executionRoleId = logicalIdOf(full.tvm.node.findChild('ExecutionRole'));
  // A role's ARN carries its path: the execution role's own policy names the ProtectedRoles by their path.
  const withPath = (id: string) => `arn:aws:iam::${ACCOUNT}:role${template.Resources[id].Properties.Path ?? '/'}${id}`;
  const protectedRoleId = logicalIdOf(full.protectedRole);
  const resolver = new CfnResolver(template, { [protectedRoleId]: withPath(protectedRoleId) });
  EXECUTION_ROLE = resolver.resolve(full.stack.resolve(full.tvm.executionRoleArn));
  const executionRoleName = EXECUTION_ROLE.split('/').pop()!;
  TVM = `arn:aws:sts::${ACCOUNT}:assumed-role/${executionRoleName}/TvmStack-TvmHandler0A13E888-abc123`;
  rolesByName.set(executionRoleName, EXECUTION_ROLE);
  rolesByName.set('SomeOtherRole', OTHER_ROLE);
  const roleOf = (logicalId: string): Role => ({
    arn: resolver.arn(logicalId),
    trustPolicy: resolver.resolve(template.Resources[logicalId].Properties.AssumeRolePolicyDocument),
  });
  protectedRole = roleOf(protectedRoleId);
  ownedRole = roleOf(logicalIdOf(full.ownedRole));
  executionRolePolicy = { Version: '2012-10-17', Statement: resolver.resolve(identityStatementsOf(template, executionRoleId)) };
  handlerArn = resolver.arn(logicalIdOf(full.tvm.node.findChild('Handler')));
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
  /** IAM's aws:PrincipalArn. @default the principal's own, a session's being its role's (see principalArnOf) */
  readonly principalArn?: string;
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
      contextVariables: { 'aws:PrincipalArn': request.principalArn ?? principalArnOf(request.principal), ...fromFunction, ...request.context },
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
      ['sts:AssumeRole with the 16-character session tag and SourceIdentity sentinel.<id>.s.alice', 'sts:AssumeRole', { ...TAG, ...SOURCE_IDENTITY }],
      ['sts:TagSession with only the session tag', 'sts:TagSession', TAG],
      ['sts:SetSourceIdentity with sentinel.<id>.s.alice', 'sts:SetSourceIdentity', SOURCE_IDENTITY],
      // The format before version 2, which a TVM deployed earlier sets: the trust policy is unchanged, so both match.
      ['sts:AssumeRole with the earlier SourceIdentity sentinel.alice', 'sts:AssumeRole', { ...TAG, 'sts:SourceIdentity': 'sentinel.alice' }],
      ['sts:SetSourceIdentity with the earlier sentinel.alice', 'sts:SetSourceIdentity', { 'sts:SourceIdentity': 'sentinel.alice' }],
      // Every kind the slot can hold (approved and break-glass grants).
      ['sts:AssumeRole with an approved grant\'s SourceIdentity', 'sts:AssumeRole', { ...TAG, 'sts:SourceIdentity': `sentinel.${SESSION_ID}.a.alice` }],
      ['sts:SetSourceIdentity with a break-glass SourceIdentity', 'sts:SetSourceIdentity', { 'sts:SourceIdentity': `sentinel.${SESSION_ID}.b.alice` }],
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
    ['another role of the account', () => OTHER_ROLE],
    ['a session of another role of the account', () => OTHER_ROLE_SESSION],
    ['the account root', () => ACCOUNT_ROOT],
    ['an IAM user of the account', () => `arn:aws:iam::${ACCOUNT}:user/alice`],
    ['a role of the execution role\'s name but without its path', () => `arn:aws:iam::${ACCOUNT}:role/${EXECUTION_ROLE.split('/').pop()}`],
    ['a session of a role of the execution role\'s name and path in another account', () =>
      `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/${EXECUTION_ROLE.split('/').pop()}/x`],
  ])('WHEN %s asks exactly as the TVM does, with every permission of its own', (_who, principalOf) => {
    test.each<[string, string, Context]>([
      ['sts:AssumeRole', 'sts:AssumeRole', { ...TAG, ...SOURCE_IDENTITY }],
      ['sts:TagSession', 'sts:TagSession', TAG],
      ['sts:SetSourceIdentity', 'sts:SetSourceIdentity', SOURCE_IDENTITY],
    ])('THEN %s is denied', async (_case, action, context) => {
      expect(await decide({ principal: principalOf(), action, context })).toBe('ImplicitlyDenied');
    });
  });

  test('WHEN a session of the execution role of another account asks THEN it is denied, though IAM reports a matching path', async () => {
    const principal = `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/${EXECUTION_ROLE.split('/').pop()}/x`;
    const principalArn = EXECUTION_ROLE.replace(ACCOUNT, OTHER_ACCOUNT);
    expect(await decide({ principal, action: 'sts:AssumeRole', context: { ...TAG, ...SOURCE_IDENTITY }, principalArn }))
      .toBe('ImplicitlyDenied');
  });

  test('WHEN the TVM\'s session were reported under another principal ARN THEN it is denied: the condition, not the account, decides',
    async () => {
      const request = {
        principal: TVM,
        action: 'sts:AssumeRole',
        context: { ...TAG, ...SOURCE_IDENTITY },
        principalArn: OTHER_ROLE,
        identityPolicy: ALLOW_ALL,
      };
      expect(await decide(request)).toBe('ImplicitlyDenied');
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
