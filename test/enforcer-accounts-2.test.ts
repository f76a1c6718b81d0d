// The enforcer across accounts, continued: roles left from the configuration in the hub's spoke accounts
// (SENTINEL_SPOKE_ACCOUNTS), cached spoke credentials that IAM refuses (dropped, assumed again, the account retried once
// in the run), and role ARNs with any path IAM allows, or none whose account can be read. Real @aws-sdk/client-sts and
// client-iam against a local STS and a multi-account local IAM that tells the account from the signing key; sessions in
// DynamoDB Local.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { createTableFromTemplate, localDynamoClient, SESSION_TABLE_TEMPLATE, uniqueTableName } from './support/dynamodb-local';
import {
  B, B_DEPLOY, C, C_ROLE, emptyTable, enforcerDeps, HUB, HUB_CREDENTIALS, HUB_ROLE, PATH, POLICY, profile, putItems, REGION,
  resetEndpoints, revokedItems, roleIn, SCHEDULE, SPOKE_ROLE, spokeOf, T, type Item,
} from './support/enforcer-fixture';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { startLocalSts, type IssuedCredentials, type LocalSts } from './support/local-sts';
import { accountOf, enforce, EnforcementError, type EnforcerConfig, type EnforcerDeps } from '../lambda/enforcer/enforce';
import { listedIds, listPolicy } from '../lambda/enforcer/policy';
import { readEnforcerSettings } from '../lambda/enforcer/settings';
import { isRejectedCredentials, spokeIamClients, type IamFor } from '../lambda/enforcer/spokes';
import { Env } from '../src/shared/contract';

/** An account that is neither the hub's, a spoke's, nor a configured role's. */
const E = '121212121212';
/** A role of spoke B under the protected path whose profile left the configuration. */
const B_OLD = roleIn(B, 'b-Old');
const E_OLD = roleIn(E, 'e-Old');
/** A path with characters IAM allows in paths (any of \u0021-\u007E) that role names may not hold. */
const B_ODD = `arn:aws:iam::${B}:role${PATH}team~x/a:b/Shared`;

const configOf = (...roles: string[]): EnforcerConfig => ({ profiles: new Map(roles.map((r, i) => [`p${i}`, profile(`p${i}`, r)])) });
const CONFIG = configOf(HUB_ROLE, B_DEPLOY, C_ROLE);

let ddb: DynamoDBClient;
let tableName: string;
let sts: LocalSts;
let iam: LocalIam;
let iamFor: IamFor;
let logs: { level: string; message: string; [k: string]: unknown }[];
let failures: { roles: string[]; accounts: Record<string, number> }[];

const assumes = (account: string) => sts.calls.filter((c) => c.roleArn === spokeOf(account));
const callsIn = (account: string) => iam.calls.filter((c) => c.account === account);
const policyOf = (role: string) => iam.policy(role, POLICY);
const deps = (more: Partial<EnforcerDeps> = {}): EnforcerDeps => enforcerDeps({
  tableName,
  ddb,
  iam: new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 }),
  iamFor,
  config: CONFIG,
  failures,
  logs,
}, T, more);
/** A revoked session of a role no profile has any more (profile 'gone'). */
const revokedItem = (sessionId: string, role: string) => revokedItems({ profiles: new Map() })(sessionId, role);
const put = (...items: Item[]) => putItems(ddb, tableName, items);

/** Makes IAM refuse the credentials STS issued for these keys, as it does once the spoke role was re-created or the sessions revoked. */
function invalidate(keys: Iterable<string | undefined>): void {
  for (const key of keys) (sts.issued(key!) as { -readonly [K in keyof IssuedCredentials]: IssuedCredentials[K] }).expiration = new Date(0);
}

beforeAll(async () => {
  ddb = localDynamoClient();
  tableName = await createTableFromTemplate(SESSION_TABLE_TEMPLATE, uniqueTableName('accounts2'), ddb, 'Sessions');
  sts = await startLocalSts();
  iam = await startLocalIam({ roles: [HUB_ROLE, B_DEPLOY, B_OLD, B_ODD, C_ROLE, E_OLD], account: HUB, issued: (id) => sts.issued(id) });
});
afterAll(async () => {
  await sts?.stop();
  await iam?.stop();
});
beforeEach(async () => {
  logs = [];
  failures = [];
  await emptyTable(ddb, tableName);
  // The spoke template declares the placeholder on each of its protected roles.
  resetEndpoints(iam, sts, [B_DEPLOY, B_OLD, B_ODD, C_ROLE]);
  iamFor = spokeIamClients({
    sts: new STSClient({ region: REGION, endpoint: sts.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 }),
    spokeRole: SPOKE_ROLE,
    iamClient: (credentials) => new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials, maxAttempts: 1 }),
  });
});

describe('GIVEN the hub\'s spoke accounts (SENTINEL_SPOKE_ACCOUNTS)', () => {
  const env = {
    [Env.TABLE_NAME]: 'sessions',
    [Env.CONTROL_TABLE_NAME]: 'control',
    [Env.CONFIG_DIGEST]: 'digest',
    [Env.REVOKED_POLICY_NAME]: POLICY,
    [Env.STACK_ID]: `arn:aws:cloudformation:${REGION}:${HUB}:stack/Hub/1`,
    [Env.SPOKE_ROLE]: SPOKE_ROLE,
  };

  test('THEN the settings read them (blanks and repeats ignored), and have none when unset or empty', () => {
    expect(readEnforcerSettings({ ...env, [Env.SPOKE_ACCOUNTS]: ` ${B}, ${C},${B} ` }).spokeAccounts).toEqual([B, C]);
    expect(readEnforcerSettings({ ...env, [Env.SPOKE_ACCOUNTS]: B }).spokeAccounts).toEqual([B]);
    for (const value of [undefined, '', ' ']) expect('spokeAccounts' in readEnforcerSettings({ ...env, [Env.SPOKE_ACCOUNTS]: value })).toBe(false);
  });

  test.each([
    ['an 11-digit account', '44445555666'],
    ['an empty entry', `${B},,${C}`],
    ['a trailing comma', `${B},`],
    ['another separator', `${B};${C}`],
    ['an ARN', `arn:aws:iam::${B}:root`],
  ])('fails at cold start when they hold %s, naming the variable and the entry', (_what, value) => {
    expect(() => readEnforcerSettings({ ...env, [Env.SPOKE_ACCOUNTS]: value }))
      .toThrow(new RegExp(`^environment variable ${Env.SPOKE_ACCOUNTS} is ".*": ".*" is not a 12-digit account id`));
  });

  test('WHEN a revoked session names a role of a spoke account that left the configuration THEN it is denied there, as in the hub', async () => {
    // No configured role is left in B: only spokeAccounts makes B's roles under the path this TVM's.
    await put(revokedItem('0b0b0b0b0b0b0b0b', B_OLD), revokedItem('0e0e0e0e0e0e0e0e', E_OLD));
    const config = async () => configOf(HUB_ROLE);

    const without = await enforce(deps({ loadConfig: config }), SCHEDULE);
    expect(without.skipped.otherRoles).toBe(2);
    expect(sts.calls).toEqual([]);

    const summary = await enforce(deps({ loadConfig: config, spokeAccounts: [B] }), SCHEDULE);

    expect(summary.roles.find((r) => r.role === B_OLD)).toEqual({ role: B_OLD, account: B, ids: 1, mode: 'list', policy: 'list' });
    expect(policyOf(B_OLD)).toBe(listPolicy(['0b0b0b0b0b0b0b0b']));
    expect(callsIn(B).filter((c) => c.action === 'PutRolePolicy').map((c) => sts.issued(c.accessKeyId!)?.roleArn)).toEqual([spokeOf(B)]);
    // E is no spoke: still skipped, nothing assumed or called there.
    expect(summary.skipped.otherRoles).toBe(1);
    expect([assumes(B).length, assumes(E).length, callsIn(E).length]).toEqual([1, 0, 0]);
  });
});

describe('GIVEN cached spoke credentials that IAM refuses', () => {
  test('WHEN they expired early (spoke role re-created) THEN they are dropped, the role assumed again, the account retried in the run', async () => {
    await put(revokedItem('c0c0c0c0c0c0c0c0', C_ROLE));
    await enforce(deps(), SCHEDULE);
    expect([assumes(B).length, assumes(C).length]).toEqual([1, 1]);
    invalidate(callsIn(B).map((c) => c.accessKeyId));
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY));
    iam.calls.length = 0;

    const summary = await enforce(deps(), SCHEDULE);

    expect(summary.roles.find((r) => r.role === B_DEPLOY)).toEqual({ role: B_DEPLOY, account: B, ids: 1, mode: 'list', policy: 'list' });
    expect(listedIds(policyOf(B_DEPLOY))).toEqual(['b0b0b0b0b0b0b0b0']);
    // B's first call was refused with the old key; B assumed once more, C's cached client kept.
    expect(callsIn(B).map((c) => [c.action, c.status])[0]).toEqual(['GetRolePolicy', 403]);
    expect([assumes(B).length, assumes(C).length]).toEqual([2, 1]);
    expect(logs.filter((l) => l.level === 'WARN').map((l) => [l.account, l.roles, l.error])).toEqual([
      [B, 1, expect.stringMatching(/^ExpiredToken: /)],
    ]);
    expect(failures).toEqual([{ roles: [], accounts: {} }, { roles: [], accounts: {} }]);
    // The fresh credentials are kept for the next run.
    await enforce(deps(), SCHEDULE);
    expect(assumes(B)).toHaveLength(2);
  });

  test('fails when IAM keeps answering AccessDenied (a real permission problem): one retry in the run, and no cached client kept', async () => {
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY), revokedItem('c0c0c0c0c0c0c0c0', C_ROLE), revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE));
    iam.fail({ code: 'AccessDenied', message: 'not authorized to perform: iam:GetRolePolicy', status: 403, account: B });

    const error = (await enforce(deps(), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.roles.map((r) => [r.role, r.mode])).toEqual([[HUB_ROLE, 'list'], [B_DEPLOY, 'failed'], [C_ROLE, 'list']]);
    expect(error.summary.roles[1].error).toMatch(/^AccessDenied: not authorized/);
    expect(callsIn(B).map((c) => c.action)).toEqual(['GetRolePolicy', 'GetRolePolicy']);
    expect(assumes(B)).toHaveLength(2);
    expect(failures).toEqual([{ roles: ['b-Deploy'], accounts: { [B]: 1 } }]);
    // Not kept: the next run assumes again (and, once the permission is back, writes).
    iam.fail(undefined);
    await enforce(deps(), SCHEDULE);
    expect(assumes(B)).toHaveLength(3);
    expect(listedIds(policyOf(B_DEPLOY))).toEqual(['b0b0b0b0b0b0b0b0']);
  });

  test('WHEN IAM fails otherwise (throttled, down) THEN the credentials are kept and the account is not retried in the run', async () => {
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_DEPLOY));
    iam.fail({ code: 'ServiceFailure', message: 'down', status: 500, account: B });

    const error = (await enforce(deps(), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error.summary.roles.find((r) => r.role === B_DEPLOY)).toMatchObject({ mode: 'failed', error: expect.stringMatching(/^ServiceFailure/) });
    expect(callsIn(B)).toHaveLength(1);
    iam.fail(undefined);
    await enforce(deps(), SCHEDULE);
    expect(assumes(B)).toHaveLength(1);
    expect(listedIds(policyOf(B_DEPLOY))).toEqual(['b0b0b0b0b0b0b0b0']);
  });

  test('THEN a late refusal of old credentials does not drop the fresh ones another caller assumed since', async () => {
    const err = (name: string) => Object.assign(new Error(name), { name });
    let n = 0;
    const rejected = new Set<string>();
    const clients = spokeIamClients({
      sts: {
        send: async (cmd: unknown) => {
          if (!(cmd instanceof AssumeRoleCommand)) throw new Error('AssumeRole only');
          n += 1;
          return { Credentials: { AccessKeyId: `ASIAKEY${n}`, SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(Date.now() + 900_000) } };
        },
      } as unknown as STSClient,
      spokeRole: SPOKE_ROLE,
      iamClient: (credentials) => ({
        send: async () => { if (rejected.has(credentials.accessKeyId)) throw err('InvalidClientTokenId'); return {}; },
      }) as unknown as IAMClient,
    });
    const first = await clients(B, 'aws');
    rejected.add('ASIAKEY1');
    await expect(first.send(new GetRolePolicyCommand({ RoleName: 'r', PolicyName: POLICY }))).rejects.toThrow('InvalidClientTokenId');
    const second = await clients(B, 'aws');
    expect(n).toBe(2);
    // The old client is refused again (a call still in flight): the cached fresh one stays.
    await expect(first.send(new GetRolePolicyCommand({ RoleName: 'r', PolicyName: POLICY }))).rejects.toThrow('InvalidClientTokenId');
    expect(await clients(B, 'aws')).toBe(second);
    expect(n).toBe(2);
  });

  test.each([
    ['InvalidClientTokenId', true], ['ExpiredToken', true], ['ExpiredTokenException', true], ['UnrecognizedClientException', true],
    ['AccessDenied', true], ['NoSuchEntityException', false], ['Throttling', false], ['LimitExceededException', false],
  ])('THEN %s is a refusal of the credentials: %s', (name, expected) => {
    expect(isRejectedCredentials(Object.assign(new Error('x'), { name }))).toBe(expected);
  });
});

describe('GIVEN role ARNs with any path IAM allows, or whose account cannot be read', () => {
  test.each([
    ['a path with ~', `arn:aws:iam::${B}:role/team~x/Shared`, B],
    ['a path with : ! and "', `arn:aws:iam::${B}:role/a:b/c!d/"q"/Shared`, B],
    ['no path, another partition', `arn:aws-cn:iam::${C}:role/Shared`, C],
    ['a 512-character path', `arn:aws:iam::${B}:role/${'p'.repeat(510)}/Shared`, B],
    ['a 513-character path', `arn:aws:iam::${B}:role/${'p'.repeat(511)}/Shared`, undefined],
    ['the path //', `arn:aws:iam::${B}:role//Shared`, undefined],
    ['a space in the path', `arn:aws:iam::${B}:role/a b/Shared`, undefined],
    ['no name', `arn:aws:iam::${B}:role/team/`, undefined],
    ['a 65-character name', `arn:aws:iam::${B}:role/a/${'n'.repeat(65)}`, undefined],
    ['a 4-digit account', 'arn:aws:iam::4444:role/Shared', undefined],
    ['a user', `arn:aws:iam::${B}:user/Shared`, undefined],
  ])('THEN the account of a role ARN with %s is read (or not)', (_what, arn, account) => {
    expect(accountOf(arn)).toBe(account);
  });

  test('WHEN a spoke role\'s path holds ~ and : THEN it is written in its account with the spoke\'s credentials, never the hub\'s', async () => {
    iam.createRole(`arn:aws:iam::${HUB}:role/Shared`);
    await put(revokedItem('b0b0b0b0b0b0b0b0', B_ODD));

    const summary = await enforce(deps({ loadConfig: async () => configOf(B_ODD) }), SCHEDULE);

    expect(summary.roles).toEqual([{ role: B_ODD, account: B, ids: 1, mode: 'list', policy: 'list' }]);
    expect(listedIds(policyOf(B_ODD))).toEqual(['b0b0b0b0b0b0b0b0']);
    expect(callsIn(HUB)).toEqual([]);
  });

  test('fails when a configured role\'s ARN names no readable account: the role fails, and nothing is written with the hub\'s client', async () => {
    const unreadable = `arn:aws:iam::${B}:role/a b/Shared`;
    iam.createRole('Shared');
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE));
    const config = async () => configOf(HUB_ROLE, unreadable);

    const error = (await enforce(deps({ loadConfig: config }), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.roles.map((r) => [r.role, r.mode, r.error])).toEqual([
      [HUB_ROLE, 'list', undefined],
      [unreadable, 'failed', expect.stringMatching(/^InvalidRoleArn: not a role ARN whose account can be read/)],
    ]);
    expect(iam.calls.filter((c) => c.roleName === 'Shared')).toEqual([]);
    expect(sts.calls).toEqual([]);
  });
});
