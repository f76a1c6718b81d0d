// The revocation enforcer across accounts: a revoked session of a role in a spoke account is denied on that role with
// the credentials of the spoke's enforcement role (real @aws-sdk/client-sts and client-iam against a local STS and a
// multi-account local IAM that tells the account from the signing key), each account on its own, and the spoke
// template's placeholder written back once nothing is left to deny. Sessions live in DynamoDB Local.
import { performance } from 'perf_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { createTableFromTemplate, localDynamoClient, SESSION_TABLE_TEMPLATE, uniqueTableName } from './support/dynamodb-local';
import {
  B, B_DEPLOY, C, C_ROLE, DECLARED_PLACEHOLDER, emptyTable, enforcerDeps, HUB, HUB_CREDENTIALS, HUB_ROLE, ms, POLICY, profile, putItems,
  REGION, resetEndpoints, revokedItems, roleIn, SCHEDULE, SPOKE_ROLE, spokeOf, T, type EnforcerRecords, type Item,
} from './support/enforcer-fixture';
import { startLocalIam, type IamCall, type LocalIam } from './support/local-iam';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { enforce, EnforcementError, type EnforcerConfig, type EnforcerDeps } from '../lambda/enforcer/enforce';
import { powertoolsEnforcerMetrics } from '../lambda/enforcer/metrics';
import { listedIds, listPolicy, spokePlaceholderPolicy } from '../lambda/enforcer/policy';
import { readEnforcerSettings } from '../lambda/enforcer/settings';
import { SPOKE_CREDENTIALS_MARGIN_MS, spokeIamClients, type IamFor } from '../lambda/enforcer/spokes';
import { Attr, Env, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

/** An account without a spoke: its profile opted out (`issuedCredentialsSurviveRevocation`). */
const D = '999988887777';
const B_AUDIT = roleIn(B, 'b-Audit');
const D_ROLE = roleIn(D, 'd-Legacy');

const CONFIG: EnforcerConfig = {
  profiles: new Map([
    profile('hub-readonly', HUB_ROLE),
    profile('b-deploy', B_DEPLOY),
    profile('b-audit', B_AUDIT),
    profile('c-readonly', C_ROLE),
    profile('d-legacy', D_ROLE, { unenforced: true }),
  ].map((p) => [p.name, p])),
};

let ddb: DynamoDBClient;
let tableName: string;
let sts: LocalSts;
let iam: LocalIam;
let iamFor: IamFor;
/** The clock the spoke clients' cache reads (epoch ms). */
let clockMs: number | undefined;
let logs: EnforcerRecords['logs'];
let failures: EnforcerRecords['failures'];

const hubIam = () => new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 });
const assumes = (account: string) => sts.calls.filter((c) => c.roleArn === spokeOf(account));
const callsIn = (account: string) => iam.calls.filter((c) => c.account === account);
const writes = (calls: IamCall[] = iam.calls) => calls.filter((c) => c.action === 'PutRolePolicy' || c.action === 'DeleteRolePolicy');
const putOn = (role: string) => iam.calls.find((c) => c.action === 'PutRolePolicy' && c.roleName === role.split('/').pop());
const policyOf = (role: string) => iam.policy(role, POLICY);

function spokeClients(): IamFor {
  return spokeIamClients({
    sts: new STSClient({ region: REGION, endpoint: sts.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 }),
    spokeRole: SPOKE_ROLE,
    iamClient: (credentials) => new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials, maxAttempts: 1 }),
    clock: () => clockMs ?? Date.now(),
  });
}

const deps = (now: Date, more: Partial<EnforcerDeps> = {}) =>
  enforcerDeps({ tableName, ddb, iam: hubIam(), iamFor, config: CONFIG, failures, logs }, now, more);
const revokedItem = revokedItems(CONFIG);
const put = (...items: Item[]) => putItems(ddb, tableName, items);

const record = (item: Item) => ({ Records: [{ eventName: 'MODIFY', dynamodb: { NewImage: item } }] });

beforeAll(async () => {
  ddb = localDynamoClient();
  tableName = await createTableFromTemplate(SESSION_TABLE_TEMPLATE, uniqueTableName('accounts'), ddb, 'Sessions');
  sts = await startLocalSts();
  iam = await startLocalIam({ roles: [HUB_ROLE, B_DEPLOY, B_AUDIT, C_ROLE], account: HUB, issued: (id) => sts.issued(id) });
});
afterAll(async () => {
  await sts?.stop();
  await iam?.stop();
});
beforeEach(async () => {
  logs = [];
  failures = [];
  clockMs = undefined;
  await emptyTable(ddb, tableName);
  // The spoke template declares the placeholder on each of its protected roles.
  resetEndpoints(iam, sts, [B_DEPLOY, B_AUDIT, C_ROLE]);
  sts.delay(0, spokeOf(B));
  iamFor = spokeClients();
});

describe('GIVEN a revoked session of a role in a spoke account', () => {
  test('WHEN the revocation reaches the enforcer THEN that role denies it, written with the spoke role\'s credentials in its account', async () => {
    const item = revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY);
    await put(item);

    const summary = await enforce(deps(T), record(item));

    expect(summary.roles).toEqual([{ role: B_DEPLOY, account: B, ids: 1, mode: 'list', policy: 'list' }]);
    expect(policyOf(B_DEPLOY)).toBe(listPolicy(['b0b0b0b0b0b0b0b0']));
    // One AssumeRole of the spoke's enforcement role, as the design names it.
    expect(sts.calls.map((c) => [c.roleArn, c.roleSessionName, c.durationSeconds])).toEqual([
      [`arn:aws:iam::${B}:role/sentinel-tvm-runtime/test/test-spoke-us-east-1`, 'sentinel-tvm-enforcer', 900],
    ]);
    // Every IAM call acted in B, signed with the key STS issued for that role (the local IAM checked the signature).
    expect(iam.calls.map((c) => [c.action, c.account, c.status])).toEqual([
      ['GetRolePolicy', B, 200], ['ListRolePolicies', B, 200], ['PutRolePolicy', B, 200],
    ]);
    expect(new Set(iam.calls.map((c) => sts.issued(c.accessKeyId!)?.roleArn))).toEqual(new Set([spokeOf(B)]));
    // (The check is real: the same key with a wrong secret is refused.)
    const forged = new IAMClient({
      region: REGION,
      endpoint: iam.endpoint,
      maxAttempts: 1,
      credentials: { accessKeyId: iam.calls[0].accessKeyId!, secretAccessKey: 'not-the-secret', sessionToken: 'nor-the-token' },
    });
    await expect(forged.send(new GetRolePolicyCommand({ RoleName: 'b-Deploy', PolicyName: POLICY }))).rejects.toThrow(/token|signature/i);
    iam.calls.length = 3;
    // The hub's roles, and the other spoke's, are untouched.
    expect(callsIn(HUB)).toEqual([]);
    expect(policyOf(HUB_ROLE)).toBeUndefined();
    expect(policyOf(C_ROLE)).toBe(DECLARED_PLACEHOLDER);
    expect(failures).toEqual([{ roles: [], accounts: {} }]);
  });

  test('WHEN the credentials expire THEN the spoke role gets the placeholder back, the hub role\'s policy is deleted', async () => {
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY, { credentialsExpireAt: ms(T, 10) }),
      revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE, { credentialsExpireAt: ms(T, 10) }));
    const denied = await enforce(deps(T), SCHEDULE);
    expect(denied.roles.filter((r) => r.mode !== 'unchanged').map((r) => [r.role, r.account, r.mode])).toEqual([
      [HUB_ROLE, HUB, 'list'], [B_DEPLOY, B, 'list'],
    ]);
    expect(listedIds(policyOf(HUB_ROLE))).toEqual(['a0a0a0a0a0a0a0a0']);
    iam.calls.length = 0;

    const expired = await enforce(deps(ms(T, 10)), SCHEDULE);

    expect(expired.roles.map((r) => [r.role, r.mode, r.policy])).toEqual([
      [HUB_ROLE, 'deleted', 'none'], [B_AUDIT, 'unchanged', 'none'], [B_DEPLOY, 'cleared', 'none'], [C_ROLE, 'unchanged', 'none'],
    ]);
    // In the spoke account the policy stays, as the template declares it (compact): CloudFormation deletes it with the role.
    expect(policyOf(B_DEPLOY)).toBe(spokePlaceholderPolicy());
    expect(JSON.parse(policyOf(B_DEPLOY)!)).toEqual(SPOKE_PLACEHOLDER_POLICY);
    expect(policyOf(HUB_ROLE)).toBeUndefined();
    expect(writes().map((c) => [c.action, c.account, c.roleName])).toEqual(expect.arrayContaining([
      ['PutRolePolicy', B, 'b-Deploy'], ['DeleteRolePolicy', HUB, 'hub-ReadOnly'],
    ]));
    expect(writes()).toHaveLength(2);

    // The placeholder in place counts as no policy: nothing more is written, and 'none' is never read as a session id.
    iam.calls.length = 0;
    const after = await enforce(deps(ms(T, 20)), SCHEDULE);
    expect(writes()).toEqual([]);
    expect(after.roles.every((r) => r.mode === 'unchanged')).toBe(true);
    expect(listedIds(spokePlaceholderPolicy())).toEqual([]);
  });

  test('WHEN runs follow each other THEN each spoke role is assumed once, until 5 minutes before its credentials expire', async () => {
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY), revokedItem('c0c0c0c0c0c0c0c0', C_ROLE));

    await enforce(deps(T), SCHEDULE);
    await enforce(deps(T), SCHEDULE);
    expect([assumes(B).length, assumes(C).length, assumes(HUB).length]).toEqual([1, 1, 0]);

    // The local STS issues 900 s credentials: still used 599 s later, replaced after 600 s (the 5-minute margin).
    clockMs = Date.now() + 599_000;
    await enforce(deps(T), SCHEDULE);
    expect(assumes(B)).toHaveLength(1);
    clockMs = Date.now() + 900_000 - SPOKE_CREDENTIALS_MARGIN_MS + 1_000;
    await enforce(deps(T), SCHEDULE);
    expect([assumes(B).length, assumes(C).length]).toEqual([2, 2]);
    expect(listedIds(policyOf(B_DEPLOY))).toEqual(['b0b0b0b0b0b0b0b0']);
  });
});

describe('GIVEN one spoke account whose role cannot be assumed, or only slowly', () => {
  const items = () => [
    revokedItem('a1a1a1a1a1a1a1a1', HUB_ROLE), revokedItem('b1b1b1b1b1b1b1b1', B_DEPLOY),
    revokedItem('b2b2b2b2b2b2b2b2', B_AUDIT), revokedItem('c1c1c1c1c1c1c1c1', C_ROLE),
  ];

  test('WHEN its AssumeRole is slow THEN the other accounts\' denies are written without waiting for it', async () => {
    await put(...items());
    sts.delay(2_000, spokeOf(B));

    const started = performance.now();
    await enforce(deps(T), SCHEDULE);
    const elapsed = performance.now() - started;

    const latency = (role: string) => putOn(role)!.at - started;
    expect(latency(HUB_ROLE)).toBeLessThan(1_000);
    expect(latency(C_ROLE)).toBeLessThan(1_000);
    expect(latency(B_DEPLOY)).toBeGreaterThanOrEqual(2_000);
    expect([HUB_ROLE, B_DEPLOY, B_AUDIT, C_ROLE].map((r) => listedIds(policyOf(r)).length)).toEqual([1, 1, 1, 1]);
    console.log(`enforcement latency by account (local endpoints, first run): own ${latency(HUB_ROLE).toFixed(1)} ms, `
      + `spoke C (AssumeRole first) ${latency(C_ROLE).toFixed(1)} ms, spoke B with a 2 s AssumeRole ${latency(B_DEPLOY).toFixed(1)} ms; `
      + `run ${elapsed.toFixed(1)} ms`);
  });

  test('fails when its AssumeRole is refused: its roles fail with the error, counted by Account, and the others are written', async () => {
    await put(...items());
    const message = `not authorized to perform: sts:AssumeRole on resource: ${spokeOf(B)}`;
    sts.fail({ code: 'AccessDenied', message, status: 403, roleArn: spokeOf(B) });
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => { out.push(String(chunk)); return true; });
    let error: EnforcementError;
    try {
      const metrics = powertoolsEnforcerMetrics({ serviceName: 'sentinel-test' });
      error = (await enforce(deps(T, { metrics }), SCHEDULE).catch((e) => e)) as EnforcementError;
    } finally {
      spy.mockRestore();
    }

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.roles.map((r) => [r.role, r.account, r.mode])).toEqual([
      [HUB_ROLE, HUB, 'list'], [B_AUDIT, B, 'failed'], [B_DEPLOY, B, 'failed'], [C_ROLE, C, 'list'],
    ]);
    expect(error.summary.roles.find((r) => r.role === B_DEPLOY)!.error)
      .toMatch(new RegExp(`^AccessDenied: spoke enforcement role ${spokeOf(B)} not assumed .*not authorized to perform: sts:AssumeRole`));
    expect(error.message).toMatch(/b-Audit.*AccessDenied.*b-Deploy.*AccessDenied/s);
    expect(callsIn(B)).toEqual([]);
    expect(listedIds(policyOf(HUB_ROLE))).toEqual(['a1a1a1a1a1a1a1a1']);
    expect(listedIds(policyOf(C_ROLE))).toEqual(['c1c1c1c1c1c1c1c1']);
    expect(policyOf(B_DEPLOY)).toBe(DECLARED_PLACEHOLDER);
    // EnforcementFailures: the total, 1 per failed role, and B's count under the Account dimension.
    const emf = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l._aws);
    expect(emf.map((m) => [m.EnforcementFailures, m._aws.CloudWatchMetrics[0].Dimensions[0].join(','), m.Role ?? m.Account])).toEqual([
      [2, 'service', undefined], [1, 'service,Role', 'b-Audit'], [1, 'service,Role', 'b-Deploy'], [2, 'service,Account', B],
    ]);

    // A refused assume is not cached: once the spoke is fixed, the next run writes B.
    sts.fail(undefined);
    await enforce(deps(T), SCHEDULE);
    expect(listedIds(policyOf(B_DEPLOY))).toEqual(['b1b1b1b1b1b1b1b1']);
    expect(assumes(B)).toHaveLength(2);
  });

  test('fails when no spoke role is configured: roles of other accounts fail saying a spoke is missing; the hub\'s are written', async () => {
    await put(...items());

    const error = (await enforce(deps(T, { iamFor: undefined }), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error.summary.roles.filter((r) => r.mode === 'failed').map((r) => [r.role, r.error])).toEqual([
      [B_AUDIT, expect.stringMatching(new RegExp(`^NoSpoke: the role is in account ${B}, which has no spoke of this TVM .*SentinelTvmSpoke`))],
      [B_DEPLOY, expect.stringMatching(/^NoSpoke/)],
      [C_ROLE, expect.stringMatching(new RegExp(`^NoSpoke: the role is in account ${C}`))],
    ]);
    expect(listedIds(policyOf(HUB_ROLE))).toEqual(['a1a1a1a1a1a1a1a1']);
    expect(sts.calls).toEqual([]);
    expect(failures).toEqual([{ roles: ['b-Audit', 'b-Deploy', 'c-ReadOnly'], accounts: { [B]: 2, [C]: 1 } }]);
  });
});

describe('GIVEN roles that revocation does not reach, or that left the configuration', () => {
  test('WHEN a session of a role whose profiles are all unenforced is revoked THEN it is skipped: nothing assumed, written or failed', async () => {
    const item = revokedItem('d0d0d0d0d0d0d0d0', D_ROLE);
    await put(item, revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE));

    const onStream = await enforce(deps(T), record(item));
    const scheduled = await enforce(deps(T), SCHEDULE);

    expect(onStream.roles).toEqual([]);
    expect(scheduled.skipped).toMatchObject({ unenforced: 1, otherRoles: 0 });
    expect(scheduled.roles.map((r) => r.role)).not.toContain(D_ROLE);
    expect(assumes(D)).toEqual([]);
    expect(iam.calls.filter((c) => c.roleName === 'd-Legacy')).toEqual([]);
    expect(failures.every((f) => f.roles.length === 0)).toBe(true);
  });

  test('WHEN a revoked session names a role left from the configuration under the path THEN it is denied in a configured account only', async () => {
    const B_OLD = roleIn(B, 'b-Old');
    /** An account where no configured role lives. */
    const E_OLD = roleIn('121212121212', 'e-Old');
    iam.createRole(B_OLD);
    iam.createRole(E_OLD);
    const oldItem = revokedItem('0b0b0b0b0b0b0b0b', B_OLD);
    await put(oldItem, revokedItem('0e0e0e0e0e0e0e0e', E_OLD));

    const summary = await enforce(deps(T), SCHEDULE);

    expect(summary.roles.find((r) => r.role === B_OLD)).toEqual({ role: B_OLD, account: B, ids: 1, mode: 'list', policy: 'list' });
    expect(callsIn(B).filter((c) => c.roleName === 'b-Old').map((c) => c.action)).toContain('PutRolePolicy');
    expect(summary.skipped.otherRoles).toBe(1);
    expect(assumes('121212121212')).toEqual([]);
    expect(iam.calls.filter((c) => c.roleName === 'e-Old')).toEqual([]);
  });

  test('fails when a configured role does not exist in its spoke account: loud, naming the account', async () => {
    const B_GHOST = roleIn(B, 'b-Ghost');
    const config: EnforcerConfig = { profiles: new Map([...CONFIG.profiles, ['ghost', profile('ghost', B_GHOST)]]) };
    await put({ ...revokedItem('9b9b9b9b9b9b9b9b', B_GHOST), [Attr.PROFILE]: { S: 'ghost' } });

    const error = (await enforce(deps(T, { loadConfig: async () => config }), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error.summary.roles.find((r) => r.role === B_GHOST)).toMatchObject({
      account: B, mode: 'failed', error: `NoSuchEntity: the role b-Ghost of the configuration does not exist in account ${B}`,
    });
    expect(failures).toEqual([{ roles: ['b-Ghost'], accounts: { [B]: 1 } }]);
  });
});

describe('GIVEN the enforcer\'s environment', () => {
  const env = {
    [Env.TABLE_NAME]: 'sessions',
    [Env.CONTROL_TABLE_NAME]: 'control',
    [Env.CONFIG_DIGEST]: 'digest',
    [Env.REVOKED_POLICY_NAME]: POLICY,
    [Env.STACK_ID]: `arn:aws:cloudformation:${REGION}:${HUB}:stack/Hub/1`,
  };

  test('THEN the spoke role and the SCP id are read when set, and absent otherwise (own account only, no SCP)', () => {
    expect(readEnforcerSettings({ ...env, [Env.SPOKE_ROLE]: SPOKE_ROLE, [Env.ORGANIZATION_POLICY_ID]: 'p-0123abcd' }))
      .toMatchObject({ spokeRole: 'sentinel-tvm-runtime/test/test-spoke-us-east-1', organizationPolicyId: 'p-0123abcd' });
    const plain = readEnforcerSettings(env);
    expect('spokeRole' in plain || 'organizationPolicyId' in plain).toBe(false);
  });

  test.each([
    [Env.SPOKE_ROLE, '/sentinel-tvm-runtime/test/test-spoke-us-east-1'],
    [Env.SPOKE_ROLE, 'arn:aws:iam::444455556666:role/x'],
    [Env.ORGANIZATION_POLICY_ID, 'r-abcd'],
  ])('fails at cold start when %s is malformed (%s)', (name, value) => {
    expect(() => readEnforcerSettings({ ...env, [name]: value })).toThrow(new RegExp(`environment variable ${name} is`));
  });
});
