// Local mode's STS decides AssumeRole with its own small IAM evaluator. GIVEN the trust policy the construct
// synthesizes for a ProtectedRole, the evaluator must decide every case exactly as an IAM policy simulator does,
// and the local STS (called through the real SDK) must issue credentials only when all of STS's authorizations pass.
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT, CfnResolver, fullTvm, logicalIdOf, removeOutdirs } from './support/synth';
import { startLocalSts, type LocalSts } from '../cli/local/sts';
import {
  authorizeAssumeRole, contextFor, evaluate, principalArnOf, protectedRoleTrustPolicy, type Context, type PolicyDocument,
} from '../cli/local/trust';

// Synthesized when the file loads: the cases below name the execution role, whose name and path come from the TVM.
const full = fullTvm();
const template = Template.fromStack(full.stack).toJSON();
const resolver = new CfnResolver(template);
/** The execution role: a fixed name under the TVM's runtime path. */
const EXECUTION_ROLE: string = resolver.resolve(full.stack.resolve(full.tvm.executionRoleArn));
const EXECUTION_ROLE_NAME = EXECUTION_ROLE.split('/').pop()!;
const TVM = `arn:aws:sts::${ACCOUNT}:assumed-role/${EXECUTION_ROLE_NAME}/TvmStack-TvmHandler-abc123`;

/** A caller: its ARN, and its aws:PrincipalArn (a role session's is its role's ARN, with the role's path). */
interface Caller {
  readonly arn: string;
  readonly principalArn: string;
}
const PRINCIPALS: Record<string, Caller> = {
  'the TVM (a session of its execution role)': { arn: TVM, principalArn: EXECUTION_ROLE },
  'the execution role itself': { arn: EXECUTION_ROLE, principalArn: EXECUTION_ROLE },
  'another role of the account': { arn: `arn:aws:iam::${ACCOUNT}:role/SomeOtherRole`, principalArn: `arn:aws:iam::${ACCOUNT}:role/SomeOtherRole` },
  'a session of another role': {
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/SomeOtherRole/alice`, principalArn: `arn:aws:iam::${ACCOUNT}:role/SomeOtherRole`,
  },
  'a session of a same-named role, same path, in another account': {
    arn: `arn:aws:sts::444455556666:assumed-role/${EXECUTION_ROLE_NAME}/x`, principalArn: EXECUTION_ROLE.replace(ACCOUNT, '444455556666'),
  },
  'a session of a same-named role without the path': {
    arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${EXECUTION_ROLE_NAME}/x`, principalArn: `arn:aws:iam::${ACCOUNT}:role/${EXECUTION_ROLE_NAME}`,
  },
  'an IAM user': { arn: `arn:aws:iam::${ACCOUNT}:user/alice`, principalArn: `arn:aws:iam::${ACCOUNT}:user/alice` },
  'the account root': { arn: `arn:aws:iam::${ACCOUNT}:root`, principalArn: `arn:aws:iam::${ACCOUNT}:root` },
};
const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

interface Call {
  readonly tags: { Key: string; Value: string }[];
  readonly transitiveTagKeys: string[];
  readonly sourceIdentity?: string;
  readonly roleSessionName: string;
}
const SESSION_ID = '0123456789abcdef';
const TAG = { Key: 'SentinelSessionID', Value: SESSION_ID };
const good: Call = {
  tags: [TAG], transitiveTagKeys: ['SentinelSessionID'], sourceIdentity: 'sentinel.alice', roleSessionName: `tvm-${SESSION_ID}-Req00001`,
};
/** What the vending Lambda sends, and every way of getting it wrong. */
const CALLS: Record<string, Call> = {
  'as the vending Lambda does': good,
  'without transitive tag keys': { ...good, transitiveTagKeys: [] },
  'without the session tag': { ...good, tags: [], transitiveTagKeys: [] },
  'with a second tag key': { ...good, tags: [TAG, { Key: 'Team', Value: 'ops' }] },
  'with a 15-character session id': { ...good, tags: [{ ...TAG, Value: SESSION_ID.slice(1) }] },
  'with a 17-character session id': { ...good, tags: [{ ...TAG, Value: `${SESSION_ID}0` }] },
  'with the session id under another tag key': { ...good, tags: [{ Key: 'SessionID', Value: SESSION_ID }], transitiveTagKeys: [] },
  'with only another tag': { ...good, tags: [{ Key: 'Team', Value: 'ops' }], transitiveTagKeys: [] },
  'without a SourceIdentity': { ...good, sourceIdentity: undefined },
  'with SourceIdentity alice': { ...good, sourceIdentity: 'alice' },
  'with SourceIdentity other.alice': { ...good, sourceIdentity: 'other.alice' },
  'with SourceIdentity Sentinel.alice (case matters)': { ...good, sourceIdentity: 'Sentinel.alice' },
  'with neither tag nor SourceIdentity': { tags: [], transitiveTagKeys: [], roleSessionName: 'plain' },
};

const roleId = logicalIdOf(full.protectedRole);
const roleArn: string = resolver.arn(roleId);
const synthesized: PolicyDocument = resolver.resolve(template.Resources[roleId].Properties.AssumeRolePolicyDocument);
afterAll(removeOutdirs);

async function simulate(principal: string, action: string, context: Context): Promise<string> {
  const result = await runSimulation({
    request: { principal, action, resource: { resource: roleArn, accountId: ACCOUNT }, contextVariables: context as any },
    identityPolicies: [{ name: 'identity', policy: ALLOW_ALL }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: synthesized,
  }, {});
  if (result.resultType === 'error') throw new Error(`the simulation did not run: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

test('local mode\'s protected-role trust policy is the one the construct synthesizes', () => {
  expect(protectedRoleTrustPolicy(EXECUTION_ROLE)).toEqual(synthesized);
});

test('a session\'s aws:PrincipalArn is its role\'s ARN (local mode\'s execution role has no path, so the session names it)', () => {
  expect(principalArnOf(`arn:aws:sts::${ACCOUNT}:assumed-role/Local/s`)).toBe(`arn:aws:iam::${ACCOUNT}:role/Local`);
  expect(principalArnOf(`arn:aws:iam::${ACCOUNT}:user/alice`)).toBe(`arn:aws:iam::${ACCOUNT}:user/alice`);
});

describe('GIVEN the synthesized trust policy, the local evaluator decides as the IAM simulator', () => {
  const cases = Object.entries(PRINCIPALS)
    .flatMap(([who, caller]) => Object.entries(CALLS).map(([how, call]) => [who, how, caller, call] as const));
  test.each(cases)('WHEN %s calls AssumeRole %s', async (_who, _how, caller, call) => {
    const local = authorizeAssumeRole(synthesized, caller.arn, call, caller.principalArn);
    const simulated: Record<string, string> = {};
    for (const action of Object.keys(local)) {
      simulated[action] = await simulate(caller.arn, action, contextFor(action, caller.arn, call, caller.principalArn));
    }
    expect(local).toEqual(simulated);
  });

  test('THEN only the TVM asking as the vending Lambda does is allowed everything', () => {
    const allowed = Object.entries(PRINCIPALS).flatMap(([who, caller]) => Object.entries(CALLS)
      .filter(([, call]) => Object.values(authorizeAssumeRole(synthesized, caller.arn, call, caller.principalArn)).every((d) => d === 'Allowed'))
      .map(([how]) => `${who} ${how}`));
    expect(allowed.sort()).toEqual([
      'the TVM (a session of its execution role) as the vending Lambda does',
      'the TVM (a session of its execution role) without transitive tag keys',
      'the execution role itself as the vending Lambda does',
      'the execution role itself without transitive tag keys',
    ]);
  });

  test('an explicit Deny wins, and an operator the evaluator does not know never grants', () => {
    const deny: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [...synthesized.Statement, { Effect: 'Deny', Principal: '*', Action: 'sts:*' }],
    };
    expect(evaluate(deny, TVM, 'sts:AssumeRole', contextFor('sts:AssumeRole', TVM, good, EXECUTION_ROLE))).toBe('ExplicitlyDenied');
    const unknown: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [{
        Effect: 'Allow',
        Principal: { AWS: EXECUTION_ROLE },
        Action: 'sts:AssumeRole',
        Condition: { NumericGreaterThan: { 'aws:EpochTime': '0' } },
      }],
    };
    expect(evaluate(unknown, TVM, 'sts:AssumeRole', { 'aws:EpochTime': '1' })).toBe('ImplicitlyDenied');
  });
});

// The TVM's key is the execution role's own (not a session of it): the local STS knows a caller by its ARN alone, and a
// session ARN does not carry the role's path that the trust policy's aws:PrincipalArn condition names.
describe('GIVEN the local STS with that trust policy on a role, called through the AWS SDK', () => {
  const TVM_KEY = { accessKeyId: 'AKIDLOCALTVMTEST', secretAccessKey: 'local-tvm-secret-not-real' };
  const ALICE_KEY = { accessKeyId: 'AKIDLOCALALICE', secretAccessKey: 'local-alice-secret-not-real' };
  let sts: LocalSts;
  let log: string[];
  const client = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
    new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials, maxAttempts: 1 });
  const assume = (call: Call, credentials = TVM_KEY, role = roleArn) => client(credentials).send(new AssumeRoleCommand({
    RoleArn: role,
    RoleSessionName: call.roleSessionName,
    SourceIdentity: call.sourceIdentity,
    Tags: call.tags.length ? call.tags : undefined,
    TransitiveTagKeys: call.transitiveTagKeys.length ? call.transitiveTagKeys : undefined,
    DurationSeconds: 900,
  }));

  beforeAll(async () => {
    log = [];
    sts = await startLocalSts({
      region: 'us-east-1',
      keys: new Map([
        [TVM_KEY.accessKeyId, { secretAccessKey: TVM_KEY.secretAccessKey, arn: EXECUTION_ROLE }],
        [ALICE_KEY.accessKeyId, { secretAccessKey: ALICE_KEY.secretAccessKey, arn: PRINCIPALS['an IAM user'].arn }],
      ]),
      roles: new Map([[roleArn, synthesized]]),
      log: (l) => log.push(l),
    });
  });
  afterAll(() => sts?.stop());

  test.each(Object.entries(CALLS))('WHEN the TVM calls AssumeRole %s THEN the STS decides as the simulator', async (_how, call) => {
    const decisions: Record<string, string> = {};
    for (const action of Object.keys(authorizeAssumeRole(synthesized, EXECUTION_ROLE, call))) {
      decisions[action] = await simulate(EXECUTION_ROLE, action, contextFor(action, EXECUTION_ROLE, call));
    }
    const allowed = Object.values(decisions).every((d) => d === 'Allowed');
    const attempt = assume(call);
    if (allowed) {
      const out = await attempt;
      expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/${roleArn.split('/').pop()}/${call.roleSessionName}`);
      expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
      // The issued credentials are real to the local STS: it knows who they are.
      const me = await client({
        accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken!,
      }).send(new GetCallerIdentityCommand({}));
      expect(me.Arn).toBe(out.AssumedRoleUser?.Arn);
    } else {
      await expect(attempt).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    }
  });

  test.each([
    ['an IAM user signs the call', () => assume(good, ALICE_KEY), 'AccessDenied'],
    ['the role is not a protected role it knows', () => assume(good, TVM_KEY, `arn:aws:iam::${ACCOUNT}:role/Unknown`), 'AccessDenied'],
    ['the signature is made with a wrong secret', () => assume(good, { ...TVM_KEY, secretAccessKey: 'wrong-secret' }), 'SignatureDoesNotMatch'],
    ['the access key is unknown', () => assume(good, { accessKeyId: 'AKIDLOCALNOBODY', secretAccessKey: 'x' }), 'InvalidClientTokenId'],
  ])('fails when %s', async (_case, call, name) => {
    await expect(call()).rejects.toMatchObject({ name, $metadata: { httpStatusCode: 403 } });
  });

  test('fails when more than an hour is asked for (role chaining)', async () => {
    await expect(client(TVM_KEY).send(new AssumeRoleCommand({
      RoleArn: roleArn, RoleSessionName: 'x1', SourceIdentity: 'sentinel.a', Tags: [TAG], DurationSeconds: 3601,
    }))).rejects.toMatchObject({ name: 'ValidationError' });
  });

  test('a refusal is logged with the failed authorizations, never a secret', () => {
    expect(log.join('\n')).toMatch(/AccessDenied: AssumeRole of \S+ by \S+: sts:AssumeRole ImplicitlyDenied, sts:TagSession ImplicitlyDenied/);
    expect(log.join('\n')).not.toMatch(/local-tvm-secret|local-alice-secret/);
  });
});
