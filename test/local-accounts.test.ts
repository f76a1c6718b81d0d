// Local mode with accounts: the TVM's account and a spoke's, the real bundled enforcer writing its deny through the local
// IAM (in the spoke, as the spoke's enforcement role), and an AWS call decided by the caller's role policies. GIVEN
// credentials issued before a revocation, THEN they are refused soon after it, in both accounts; and the ways in from
// another account: directly (refused, as an HTTP API has no resource policy) and through a caller role (served).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { checkBundle, cleanEnv, EXAMPLE_CONFIG, KEYS, removeTempDirs, ROOT, runCli, startLocal, tempDir, type LocalMode } from './support/cli';
import { sendRequest, signRequest, type Credentials } from './support/cli-sign';
import { endpoint, uniqueTableName } from './support/dynamodb-local';
import { LocalAccounts } from '../cli/local/accounts';
import { configProperties, validateConfig } from '../cli/local/config';
import { evaluateIdentity, type PolicyDocument } from '../cli/local/trust';
import { fallbackPolicy, listPolicy } from '../lambda/enforcer/policy';
import { SESSION_TAG_KEY } from '../src/shared/contract';

const TVM = '111122223333';
const SPOKE = '444455556666';
const CAROL = { AWS_ACCESS_KEY_ID: 'AKIDLOCALCAROL', AWS_SECRET_ACCESS_KEY: 'local-carol-secret-not-a-real-key' };
const ADMIN: Credentials = { accessKeyId: KEYS.admin.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.admin.AWS_SECRET_ACCESS_KEY };
const CHAINED_ROLE = `arn:aws:iam::${TVM}:role/Chained`;
const example = () => JSON.parse(fs.readFileSync(EXAMPLE_CONFIG, 'utf8'));

let local: LocalMode;
let awsUrl: string;

beforeAll(async () => {
  checkBundle();
  // The example, plus a role of the TVM's account that the hub's ReadOnly role may chain into.
  const config = example();
  config.callerRoles[CHAINED_ROLE] = [`arn:aws:iam::${TVM}:role/ReadOnly`];
  const file = path.join(tempDir('local-accounts-'), 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  // The schedule stays out of the way: what is measured is the stream stand-in, run after each revocation.
  local = await startLocal(['--config', file, '--dynamodb-endpoint', endpoint(), '--table', uniqueTableName('local-accounts'), '--enforce-every', '3600']);
  awsUrl = /sentinel-tvm local: AWS at (http:\/\/\S+)/.exec(local.stdout())![1];
});
afterAll(async () => {
  await local?.stop();
  removeTempDirs();
});

type Env = Record<string, string>;
const credentialsOf = (vended: any): Credentials => ({
  accessKeyId: vended.AccessKeyId, secretAccessKey: vended.SecretAccessKey, sessionToken: vended.SessionToken,
});
const envOf = (c: Credentials): Env => ({
  AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken!,
});

/** Vends with the real client, signing with `keys`; the credential_process JSON. */
async function vend(keys: Env, profile: string): Promise<Credentials> {
  const res = await runCli(['credentials', '--url', local.url, '--profile', profile], cleanEnv({ ...keys, SENTINEL_TVM_CACHE_DIR: tempDir('cache-') }));
  expect([res.code, res.stderr]).toEqual([0, '']);
  return credentialsOf(JSON.parse(res.stdout));
}

/** carol, of the spoke's account, as a session of the TVM account's caller role. */
async function carolThroughCallerRole(sessionName = 'carol'): Promise<Credentials> {
  const sts = new STSClient({
    region: 'us-east-1',
    endpoint: local.stsUrl,
    maxAttempts: 1,
    credentials: { accessKeyId: CAROL.AWS_ACCESS_KEY_ID, secretAccessKey: CAROL.AWS_SECRET_ACCESS_KEY },
  });
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${TVM}:role/PartnerCaller`, RoleSessionName: sessionName }));
  return credentialsOf(out.Credentials);
}

/** S3 ListBuckets at local mode's AWS endpoint: the HTTP status and S3's error code. */
async function listBuckets(c: Credentials): Promise<{ status: number; code?: string; body: string }> {
  const res = await sendRequest(awsUrl, await signRequest(awsUrl, c, { path: '/' }, { service: 's3' }));
  const body = String(res.body);
  return { status: res.status, code: /<Code>([^<]+)<\/Code>/.exec(body)?.[1], body };
}

/** The session id, from the role session name the credentials carry: tvm-<id>-<request>. */
async function sessionIdOf(c: Credentials): Promise<string> {
  const me = await new STSClient({ region: 'us-east-1', endpoint: local.stsUrl, credentials: c, maxAttempts: 1 }).send(new GetCallerIdentityCommand({}));
  return /\/tvm-([0-9a-f]{16})-/.exec(me.Arn!)![1];
}

/**
 * Revokes as the admin; resolves with the milliseconds from sending the revocation to its answer, and to the first
 * AccessDenied (polled every 50 ms).
 */
async function revokeAndTime(id: string, c: Credentials): Promise<{ answeredMs: number; refusedMs: number }> {
  const request = await signRequest(local.url, ADMIN, { method: 'POST', path: `/sessions/${id}/revoke`, body: JSON.stringify({ reason: 'test' }) });
  const sent = performance.now();
  const revoked = await sendRequest(local.url, request);
  const answeredMs = performance.now() - sent;
  expect(revoked.status).toBe(200);
  for (;;) {
    const call = await listBuckets(c);
    if (call.status === 403) {
      expect(call.code).toBe('AccessDenied');
      expect(call.body).toMatch('with an explicit deny in an identity-based policy');
      return { answeredMs, refusedMs: performance.now() - sent };
    }
    expect(call.status).toBe(200);
    if (performance.now() - sent > 10_000) throw new Error('credentials still allowed 10 s after the revocation');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs scripts/local-call.js with these credentials. */
function localCall(c: Credentials): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'local-call.js'), awsUrl], { env: cleanEnv(envOf(c)), cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += String(d); });
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

describe('GIVEN credentials vended before a revocation, in the TVM\'s account and in a spoke\'s', () => {
  test('THEN each is refused within 5 s of the revocation request, the spoke\'s deny written by the spoke\'s enforcement role', async () => {
    const hub = await vend(KEYS.alice, 'prod-readonly');
    const spoke = await vend(envOf(await carolThroughCallerRole()), 'spoke-readonly');
    expect(await listBuckets(hub)).toMatchObject({ status: 200 });
    expect(await listBuckets(spoke)).toMatchObject({ status: 200 });
    expect(await localCall(spoke)).toEqual({ code: 0, stdout: 's3:ListAllMyBuckets: allowed\n' });

    const hubMs = await revokeAndTime(await sessionIdOf(hub), hub);
    const spokeMs = await revokeAndTime(await sessionIdOf(spoke), spoke);

    const figures = (t: typeof hubMs) => `${t.refusedMs.toFixed(0)} ms (the revocation answered after ${t.answeredMs.toFixed(0)} ms)`;
    // eslint-disable-next-line no-console
    console.log(`revoke-to-refusal in local mode: hub account ${figures(hubMs)}, spoke account ${figures(spokeMs)}`);
    expect(hubMs.refusedMs).toBeLessThan(5000);
    expect(spokeMs.refusedMs).toBeLessThan(5000);
    const refused = await localCall(hub);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^s3:ListAllMyBuckets: AccessDenied \(User: arn:aws:sts::111122223333:assumed-role\/ReadOnly\/tvm-.* explicit deny/);
    const writes = local.stderr().split('\n').filter((l) => / iam: PutRolePolicy /.test(l));
    expect(writes).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`iam: PutRolePolicy ReadOnly \\S+ in ${TVM} by arn:aws:sts::${TVM}:assumed-role/sentinel-tvm-local-enforce-us-east-1/\\S+: 200$`)),
      expect.stringMatching(new RegExp(`iam: PutRolePolicy ReadOnly \\S+ in ${SPOKE} by arn:aws:sts::${SPOKE}:assumed-role/sentinel-tvm-local-spoke-us-east-1/\\S+: 200$`)),
    ]));
    // Nothing else wrote into the spoke: the hub's own credentials act only in the hub's account.
    expect(writes.filter((l) => l.includes(` in ${SPOKE} `)).every((l) => l.includes(`arn:aws:sts::${SPOKE}:assumed-role/sentinel-tvm-local-spoke-`))).toBe(true);
  });

  test('THEN a revoked session cannot chain into another role, though it could before', async () => {
    const creds = await vend(KEYS.alice, 'prod-readonly');
    const sts = new STSClient({ region: 'us-east-1', endpoint: local.stsUrl, credentials: creds, maxAttempts: 1 });
    const chain = () => sts.send(new AssumeRoleCommand({ RoleArn: CHAINED_ROLE, RoleSessionName: 'chained' }));
    expect((await chain()).AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${TVM}:assumed-role/Chained/chained`);

    await revokeAndTime(await sessionIdOf(creds), creds);

    await expect(chain()).rejects.toMatchObject({
      name: 'AccessDenied', message: expect.stringMatching(/sts:AssumeRole .* with an explicit deny in an identity-based policy/),
    });
  });
});

describe('GIVEN a caller of another account', () => {
  test('THEN the front door refuses it directly, as API Gateway refuses a caller of another account to an HTTP API', async () => {
    const res = await runCli(['profiles', '--url', local.url], cleanEnv(CAROL));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^sentinel-tvm: HTTP_403: User: arn:aws:iam::444455556666:user\/carol is not authorized to perform: execute-api:Invoke/);
  });

  test('THEN through the caller role of the TVM\'s account it is served, under its own name only', async () => {
    const session = await carolThroughCallerRole();
    const res = await runCli(['profiles', '--url', local.url, '--json'], cleanEnv(envOf(session)));
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ Profiles: [{ Name: 'spoke-readonly', MaxDurationSeconds: 3600 }] });
    // The session name is the user the TVM sees: the caller role makes carol name it after herself.
    await expect(carolThroughCallerRole('alice')).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});

describe('GIVEN the local identity-policy evaluator', () => {
  const accounts = new LocalAccounts(validateConfig(example()));
  const role = accounts.role(TVM, 'ReadOnly')!;
  const keyOf = (issuedAt: Date, tags = [{ Key: SESSION_TAG_KEY, Value: '0123456789abcdef' }]) => ({
    secretAccessKey: 'x', arn: `arn:aws:sts::${TVM}:assumed-role/ReadOnly/tvm-x`, roleArn: role.arn, tags, issuedAt,
  });
  afterEach(() => role.policies.clear());

  test('THEN the enforcer\'s fallback denies the TVM\'s credentials issued before its time (aws:TokenIssueTime), and no others', () => {
    role.policies.set('deny', fallbackPolicy(new Date('2030-01-01T12:00:00Z')));
    const decide = (key: ReturnType<typeof keyOf>) => accounts.decide(key, 's3:ListAllMyBuckets', '*').decision;
    expect(decide(keyOf(new Date('2030-01-01T11:59:59Z')))).toBe('ExplicitlyDenied');
    expect(decide(keyOf(new Date('2030-01-01T12:00:00Z')))).toBe('Allowed');
    // Credentials without the session tag are not the TVM's: the fallback leaves them alone.
    expect(decide(keyOf(new Date('2030-01-01T11:00:00Z'), []))).toBe('Allowed');
  });

  test('THEN the list denies the listed sessions only, and a spoke\'s placeholder denies nothing', () => {
    role.policies.set('deny', listPolicy(['0123456789abcdef']));
    expect(accounts.decide(keyOf(new Date()), 's3:ListAllMyBuckets', '*').decision).toBe('ExplicitlyDenied');
    expect(accounts.decide(keyOf(new Date(), [{ Key: SESSION_TAG_KEY, Value: 'fedcba9876543210' }]), 's3:ListAllMyBuckets', '*').decision).toBe('Allowed');
    const spokeRole = accounts.role(SPOKE, 'ReadOnly')!;
    expect([...spokeRole.policies.keys()]).toEqual([accounts.names.policyName]);
    const spokeKey = { ...keyOf(new Date()), arn: `arn:aws:sts::${SPOKE}:assumed-role/ReadOnly/tvm-x`, roleArn: spokeRole.arn };
    expect(accounts.decide(spokeKey, 's3:ListAllMyBuckets', '*').decision).toBe('Allowed');
    expect(accounts.decide({ ...spokeKey, tags: [] }, 's3:ListAllMyBuckets', '*').decision).toBe('Allowed');
  });

  test('THEN an operator it does not know makes a Deny apply and an Allow grant nothing', () => {
    const unknown = (effect: 'Allow' | 'Deny'): PolicyDocument => ({
      Version: '2012-10-17',
      Statement: [{ Effect: effect, Action: '*', Resource: '*', Condition: { NumericLessThan: { 's3:max-keys': '10' } } }],
    });
    const allowAll: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
    expect(evaluateIdentity([allowAll, unknown('Deny')], 's3:ListAllMyBuckets', '*', {}).decision).toBe('ExplicitlyDenied');
    expect(evaluateIdentity([unknown('Allow')], 's3:ListAllMyBuckets', '*', {}).decision).toBe('ImplicitlyDenied');
  });
});

describe('GIVEN a local config with a profile whose role is in another account', () => {
  const withProfile = (extra: object) => {
    const config = example();
    config.profiles.push({
      name: 'elsewhere',
      roleArn: 'arn:aws:iam::999988887777:role/ReadOnly',
      allowedPrincipals: ['arn:aws:iam::111122223333:user/alice'],
      ...extra,
    });
    return config;
  };

  test('THEN it is refused unless that account is a spoke account, naming the field and both ways out', () => {
    expect(() => validateConfig(withProfile({}))).toThrow(new RegExp('^profiles\\[3\\]\\.roleArn is "arn:aws:iam::999988887777:role/ReadOnly": its account '
      + '999988887777 is neither the TVM\'s \\(111122223333\\) nor in spokeAccounts, .*add the account to spokeAccounts, or set '
      + 'profiles\\[3\\]\\.issuedCredentialsSurviveRevocation: true'));
    const spoke = example();
    spoke.spokeAccounts.push('999988887777');
    spoke.profiles.push(withProfile({}).profiles[3]);
    expect(validateConfig(spoke).profiles[3].unenforced).toBeUndefined();
  });

  test('THEN issuedCredentialsSurviveRevocation: true accepts it, and the configuration says so as the construct writes it', () => {
    const config = validateConfig(withProfile({ issuedCredentialsSurviveRevocation: true }));
    expect(config.profiles[3].unenforced).toBe(true);
    expect(configProperties(config).Profiles[3]).toMatchObject({ unenforced: 'true' });
    expect(configProperties(config).Profiles[0]).not.toHaveProperty('unenforced');
    expect(() => validateConfig(withProfile({ issuedCredentialsSurviveRevocation: 'yes' })))
      .toThrow(/^profiles\[3\]\.issuedCredentialsSurviveRevocation is "yes": expected true or false$/);
  });

  test.each<[string, (c: any) => void, RegExp]>([
    ['a spoke account is the TVM\'s own', (c) => c.spokeAccounts.push(TVM), /^spokeAccounts\[1\] is "111122223333", the TVM's own account/],
    ['a spoke account is not an account id', (c) => { c.spokeAccounts = ['4444']; }, /^spokeAccounts\[0\] is "4444": expected a 12-digit account id$/],
    ['a caller role is in another account', (c) => { c.callerRoles['arn:aws:iam::444455556666:role/X'] = [`arn:aws:iam::${SPOKE}:user/carol`]; },
      /^callerRoles key "arn:aws:iam::444455556666:role\/X" is in account 444455556666: expected a role of the TVM's account 111122223333/],
    ['a caller role trusts a session ARN', (c) => { c.callerRoles[`arn:aws:iam::${TVM}:role/X`] = [`arn:aws:sts::${SPOKE}:assumed-role/R/carol`]; },
      /^callerRoles\["arn:aws:iam::111122223333:role\/X"\]\[0\] is ".*": expected an IAM user or role ARN/],
    // Whoever may assume a caller role names its session: a second principal could take carol's name, and the TVM would see carol.
    ['a caller role trusts two principals',
      (c) => { c.callerRoles[`arn:aws:iam::${TVM}:role/PartnerCaller`].push(`arn:aws:iam::${SPOKE}:role/pipeline`); },
      new RegExp('^callerRoles\\["arn:aws:iam::111122223333:role/PartnerCaller"\\] trusts 2 principals: expected exactly one, as whoever may '
        + 'assume a caller role chooses its session name')],
    ['a caller role trusts a pattern', (c) => { c.callerRoles[`arn:aws:iam::${TVM}:role/X`] = [`arn:aws:iam::${SPOKE}:user/team/*`]; },
      /^callerRoles\["arn:aws:iam::111122223333:role\/X"\]\[0\] is ".*", a pattern: expected one principal's ARN, without wildcards, as whoever/],
    ['a caller role trusts nobody', (c) => { c.callerRoles[`arn:aws:iam::${TVM}:role/X`] = []; },
      /^callerRoles\["arn:aws:iam::111122223333:role\/X"\] is \[\]: expected a list of one principal ARN$/],
    ['tvmAccount is not an account id', (c) => { c.tvmAccount = 'hub'; }, /^tvmAccount is "hub": expected a 12-digit account id$/],
  ])('fails when %s', (_case, change, message) => {
    const config = example();
    change(config);
    expect(() => validateConfig(config)).toThrow(message);
  });
});
