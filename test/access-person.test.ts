// Person keys: which human stands behind a caller, as far as AWS vouches for it. The callers are real: each signs a
// GetCallerIdentity at local mode's STS (the UserId the handler's identity proof gets), and the resolver asks local mode's
// IAM GetRole through the real SDK, signed as the vending function's execution role, as the construct grants it: on
// Identity Center's reserved path only. Mocks only inject IAM faults.
import { createHash, randomBytes } from 'crypto';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startLocalIam as startSupportIam } from './support/local-iam';
import { LocalAccounts, localRoleId, localUserId } from '../cli/local/accounts';
import { validateConfig } from '../cli/local/config';
import { startLocalIam, type IamCallRecord, type LocalIam } from '../cli/local/iam';
import { startLocalSts, type LocalSts } from '../cli/local/sts';
import type { KnownKey } from '../cli/local/verify';
import { iamGetRole } from '../lambda/access/iam';
import { personHash, PersonLookupError, PersonResolver, type GetRole, type Person } from '../lambda/access/person';
import { callerFrom, verifiedCaller, type Caller } from '../lambda/identity';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX, personKeyKind, PersonKinds } from '../src/shared/access';

const REGION = 'us-east-1';
const TVM = '111122223333';
const OTHER = '444455556666';
const DEVELOPERS = 'AWSReservedSSO_Developers_0123456789abcdef';
const APPROVERS = 'AWSReservedSSO_Approvers_fedcba9876543210';
/** Named like a permission set's role, but created by anyone with iam:CreateRole, at the default path. */
const IMPOSTOR = 'AWSReservedSSO_Approvers_0000000000000000';
const GONE = 'AWSReservedSSO_Gone_0123456789abcdef';
const session = (account: string, role: string, name: string) => `arn:aws:sts::${account}:assumed-role/${role}/${name}`;

/** Made-up principals of local mode, by access key id. */
const PRINCIPALS: Record<string, string> = {
  AKIDLOCALALICEDEV: session(TVM, DEVELOPERS, 'Alice@Example.com'),
  AKIDLOCALALICEAPPROVER: session(TVM, APPROVERS, 'alice@example.com'),
  AKIDLOCALBOBDEV: session(TVM, DEVELOPERS, 'bob'),
  AKIDLOCALCAROLAPPROVER: session(TVM, APPROVERS, 'carol'),
  AKIDLOCALALICEOTHER: session(OTHER, DEVELOPERS, 'alice@example.com'),
  AKIDLOCALERIN: `arn:aws:iam::${TVM}:user/engineering/erin`,
  AKIDLOCALDAVE: `arn:aws:sts::${TVM}:federated-user/dave`,
  AKIDLOCALROOT: `arn:aws:iam::${TVM}:root`,
  /** A session of a role of the account, which may assume the caller roles below under any session name. */
  AKIDLOCALMALLORY: session(TVM, 'Builder', 'mallory'),
};
const secretOf = (id: string) => `local-${id.toLowerCase()}-secret-not-a-real-key`;
const config = validateConfig({
  region: REGION,
  tvmAccount: TVM,
  principals: Object.fromEntries(Object.entries(PRINCIPALS).map(([id, arn]) => [id, { secretAccessKey: secretOf(id), arn }])),
  callerRoles: {
    [`arn:aws:iam::${TVM}:role/${IMPOSTOR}`]: [`arn:aws:iam::${TVM}:role/Builder`],
    [`arn:aws:iam::${TVM}:role/Pipeline`]: [`arn:aws:iam::${TVM}:role/Builder`],
  },
  profiles: [{ name: 'prod-readonly', roleArn: `arn:aws:iam::${TVM}:role/ReadOnly`, allowedPrincipals: [`arn:aws:iam::${TVM}:user/erin`] }],
});

/** Made-up credentials of a role session this process holds (as local mode holds its Lambdas'). */
function roleSessionKey(roleArn: string, name: string): { id: string; key: KnownKey } {
  return {
    id: `ASIALOCAL${randomBytes(6).toString('hex').toUpperCase()}`,
    key: {
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(60).toString('base64'),
      arn: session(TVM, roleArn.split('/').pop()!, name),
      principalArn: roleArn,
      roleArn,
    },
  };
}

let accounts: LocalAccounts;
let sts: LocalSts;
let iam: LocalIam;
let iamLog: IamCallRecord[];
let execution: { id: string; key: KnownKey };
let enforcer: { id: string; key: KnownKey };
const keys = new Map<string, KnownKey>();
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  accounts = new LocalAccounts(config);
  execution = roleSessionKey(accounts.names.executionRoleArn, 'sentinel-tvm-local');
  enforcer = roleSessionKey(accounts.names.enforcerRoleArn, 'sentinel-tvm-local-enforcer');
  for (const p of config.principals) keys.set(p.accessKeyId, { secretAccessKey: p.secretAccessKey, arn: p.arn });
  keys.set(execution.id, execution.key);
  keys.set(enforcer.id, enforcer.key);
  sts = await startLocalSts({
    region: REGION,
    keys,
    roles: accounts.trustPolicies(),
    authorize: (caller, action, resource) => accounts.decide(caller, action, resource),
    roleIdOf: (account, name) => accounts.roleIdOf(account, name),
  });
  iamLog = [];
  iam = await startLocalIam({ region: REGION, accounts, lookup: (id) => keys.get(id) ?? sts.issued.get(id), log: (c) => iamLog.push(c) });
});
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await iam?.stop();
  await sts?.stop();
});

type Keys = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const keysOf = (id: string): Keys => ({ accessKeyId: id, secretAccessKey: secretOf(id) });
function track<T extends { destroy(): void }>(client: T): T {
  clients.push(client);
  return client;
}
const iamAs = (k: { id: string; key: KnownKey }) => track(new IAMClient({
  region: REGION,
  endpoint: iam.endpoint,
  maxAttempts: 1,
  credentials: { accessKeyId: k.id, secretAccessKey: k.key.secretAccessKey, sessionToken: k.key.sessionToken },
}));

/** The caller as the handler gets it: from the identity proof's GetCallerIdentity answer. */
async function callerOf(credentials: Keys): Promise<Caller> {
  const me = await track(new STSClient({ region: REGION, endpoint: sts.endpoint, credentials, maxAttempts: 1 }))
    .send(new GetCallerIdentityCommand({}));
  return verifiedCaller({ arn: me.Arn!, userId: me.UserId!, account: me.Account! }, undefined);
}

/** A session of a caller role, from the local STS (its trust decides). */
async function assumed(roleName: string, as: string, sessionName: string): Promise<Keys> {
  const out = await track(new STSClient({ region: REGION, endpoint: sts.endpoint, credentials: keysOf(as), maxAttempts: 1 }))
    .send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${TVM}:role/${roleName}`, RoleSessionName: sessionName }));
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

/** GetRole through the SDK as the execution role, counting the calls that reach the resolver's GetRole. */
function counted(inner: GetRole = iamGetRole(iamAs(execution))): { getRole: GetRole; names: string[] } {
  const names: string[] = [];
  return { names, getRole: (name) => { names.push(name); return inner(name); } };
}

let clockMs = Date.parse('2026-03-02T09:00:00Z');
const now = () => new Date(clockMs);
const resolverWith = (getRole: GetRole, cacheSeconds?: number) => new PersonResolver({ tvmAccount: TVM, getRole, now, cacheSeconds });
const getRoleCalls = () => iamLog.filter((c) => c.action === 'GetRole').length;

describe('GIVEN Identity Center users signed in through permission sets of the TVM\'s account', () => {
  test('THEN the STS UserId carries the local role\'s id, and the role lives under the reserved path', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const role = accounts.role(TVM, DEVELOPERS)!;
    expect(role).toMatchObject({ kind: 'identity-center', path: IDENTITY_CENTER_ROLE_PATH_PREFIX });
    expect(role.roleId).toMatch(/^AROA[A-Z2-7]{17}$/);
    expect(caller.principalId).toBe(`${role.roleId}:bob`);
  });

  test('THEN each is the verified person idc:<user name>, the name folded to lower case', async () => {
    const resolver = resolverWith(counted().getRole);
    expect(await resolver.personOf(await callerOf(keysOf('AKIDLOCALBOBDEV')))).toEqual({ key: 'idc:bob', verified: true });
    expect(await resolver.personOf(await callerOf(keysOf('AKIDLOCALALICEDEV')))).toEqual({ key: 'idc:alice@example.com', verified: true });
    expect(personKeyKind('idc:alice@example.com')).toBe(PersonKinds.IDENTITY_CENTER);
  });

  test('WHEN one person signs in through two permission sets THEN both sessions are the same person (separation of duties)', async () => {
    const resolver = resolverWith(counted().getRole);
    const developer = await resolver.personOf(await callerOf(keysOf('AKIDLOCALALICEDEV')));
    const approver = await resolver.personOf(await callerOf(keysOf('AKIDLOCALALICEAPPROVER')));
    expect(approver).toEqual(developer);
    expect(personHash(approver.key)).toBe(personHash(developer.key));
    const carol = await resolver.personOf(await callerOf(keysOf('AKIDLOCALCAROLAPPROVER')));
    expect(carol).toEqual({ key: 'idc:carol', verified: true });
  });

  test('refuses to verify a role named like a permission set\'s at an ordinary path (anyone may create one)', async () => {
    const caller = await callerOf(await assumed(IMPOSTOR, 'AKIDLOCALMALLORY', 'alice@example.com'));
    const { getRole, names } = counted();
    const before = getRoleCalls();
    const person = await resolverWith(getRole).personOf(caller);
    expect(person).toEqual({ key: `role:${TVM}:${accounts.role(TVM, IMPOSTOR)!.roleId}:alice@example.com`, verified: false });
    // Asked, and refused by IAM as the construct grants GetRole on the reserved path only.
    expect(names).toEqual([IMPOSTOR]);
    expect(iamLog.slice(before)).toEqual([expect.objectContaining({ action: 'GetRole', roleName: IMPOSTOR, status: 403, code: 'AccessDenied' })]);
  });

  test.each(['/', '/aws-reserved/', '/aws-reserved/sso.amazonaws.com-other/', '/team/aws-reserved/sso.amazonaws.com/'])(
    'refuses to verify a role IAM shows at the path %s (a GetRole grant wider than the construct\'s)', async (path) => {
      const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
      const roleId = accounts.role(TVM, DEVELOPERS)!.roleId;
      // The real answer, but for its path: what IAM would show of a same-named role elsewhere, were it readable.
      const person = await resolverWith(async () => ({ path, roleId })).personOf(caller);
      expect(person).toEqual({ key: `role:${TVM}:${roleId}:bob`, verified: false });
    });

  test('refuses to verify a permission set\'s role of another account (IAM can be asked only in the TVM\'s)', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALALICEOTHER'));
    const { getRole, names } = counted();
    const person = await resolverWith(getRole).personOf(caller);
    expect(person).toEqual({ key: `role:${OTHER}:${accounts.role(OTHER, DEVELOPERS)!.roleId}:alice@example.com`, verified: false });
    expect(names).toEqual([]);
  });

  test('refuses to verify a session whose principal id is missing or is not its own', async () => {
    const { getRole, names } = counted();
    const resolver = resolverWith(getRole);
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const { principalId, ...withoutId } = caller;
    expect(await resolver.personOf(withoutId)).toEqual({ key: `role:${TVM}:${DEVELOPERS}:bob`, verified: false });
    const borrowed = { ...caller, principalId: principalId!.replace(/:bob$/, ':alice') };
    expect(await resolver.personOf(borrowed)).toEqual({ key: `role:${TVM}:${DEVELOPERS}:bob`, verified: false });
    expect(names).toEqual([]);
  });

  test('WHEN the permission set\'s role is deleted and created again THEN a session of the old role is not verified; a new one is', async () => {
    const role = 'AWSReservedSSO_Recreated_00112233445566aa';
    const recreatedConfig = validateConfig({
      region: REGION,
      tvmAccount: TVM,
      principals: { AKIDLOCALZOE: { secretAccessKey: secretOf('AKIDLOCALZOE'), arn: session(TVM, role, 'zoe') } },
      profiles: config.profiles.map((p) => ({ name: p.name, roleArn: p.roleArn, allowedPrincipals: p.allowedPrincipals })),
    });
    const local = new LocalAccounts(recreatedConfig);
    const oldId = local.role(TVM, role)!.roleId;
    // The STS of the previous sessions: it issued `oldId` before the role was created again.
    const zoeKey = { secretAccessKey: secretOf('AKIDLOCALZOE'), arn: session(TVM, role, 'zoe') };
    const zoe = { ...keysOf('AKIDLOCALZOE') };
    const localKeys = new Map<string, KnownKey>([['AKIDLOCALZOE', zoeKey], [execution.id, execution.key]]);
    const localSts = await startLocalSts({ region: REGION, keys: localKeys, roles: local.trustPolicies(), roleIdOf: (a, n) => local.roleIdOf(a, n) });
    const localIam = await startLocalIam({ region: REGION, accounts: local, lookup: (id) => localKeys.get(id) });
    try {
      const callerOn = async () => {
        const me = await track(new STSClient({ region: REGION, endpoint: localSts.endpoint, credentials: zoe, maxAttempts: 1 }))
          .send(new GetCallerIdentityCommand({}));
        return verifiedCaller({ arn: me.Arn!, userId: me.UserId!, account: me.Account! }, undefined);
      };
      const getRole = iamGetRole(track(new IAMClient({
        region: REGION,
        endpoint: localIam.endpoint,
        maxAttempts: 1,
        credentials: { accessKeyId: execution.id, secretAccessKey: execution.key.secretAccessKey, sessionToken: execution.key.sessionToken },
      })));
      const oldSession = await callerOn();
      expect(await resolverWith(getRole).personOf(oldSession)).toEqual({ key: 'idc:zoe', verified: true });

      const recreated = local.recreateRole(TVM, role);
      expect(recreated.roleId).not.toBe(oldId);
      expect(recreated.roleId).toBe(localRoleId(TVM, role, 1));
      expect(recreated.path).toBe(IDENTITY_CENTER_ROLE_PATH_PREFIX);

      expect(await resolverWith(getRole).personOf(oldSession)).toEqual({ key: `role:${TVM}:${oldId}:zoe`, verified: false });
      const newSession = await callerOn();
      expect(newSession.principalId).toBe(`${recreated.roleId}:zoe`);
      expect(await resolverWith(getRole).personOf(newSession)).toEqual({ key: 'idc:zoe', verified: true });
    } finally {
      await localIam.stop();
      await localSts.stop();
    }
  });
});

describe('GIVEN callers that are not Identity Center sessions', () => {
  const resolve = (c: Caller) => resolverWith(counted().getRole).personOf(c);

  test('THEN an IAM user is the verified person iam-user:<account>:<unique id>, whatever its path', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALERIN'));
    expect(caller.principalId).toBe(localUserId(TVM, 'erin'));
    expect(await resolve(caller)).toEqual({ key: `iam-user:${TVM}:${localUserId(TVM, 'erin')}`, verified: true });
  });

  test('THEN an IAM user without its unique id is only its name: iam-user-name:<account>:<name>, not verified', async () => {
    const caller = callerFrom({ userArn: PRINCIPALS.AKIDLOCALERIN });
    expect(await resolve(caller)).toEqual({ key: `iam-user-name:${TVM}:erin`, verified: false });
    // A role's id in a user's place is not the user's.
    expect(await resolve({ ...caller, principalId: localRoleId(TVM, 'x') })).toEqual({ key: `iam-user-name:${TVM}:erin`, verified: false });
  });

  test('THEN another role\'s session is role:<account>:<role id>:<session name>, not verified (its caller chose the name)', async () => {
    const { getRole, names } = counted();
    const caller = await callerOf(await assumed('Pipeline', 'AKIDLOCALMALLORY', 'alice'));
    const person = await resolverWith(getRole).personOf(caller);
    expect(person).toEqual({ key: `role:${TVM}:${accounts.role(TVM, 'Pipeline')!.roleId}:alice`, verified: false });
    expect(personKeyKind(person.key)).toBe(PersonKinds.ROLE_SESSION);
    expect(names).toEqual([]);
  });

  test('THEN a federated user is fed:<account>:<name> and the root user root:<account>, neither verified', async () => {
    expect(await resolve(await callerOf(keysOf('AKIDLOCALDAVE')))).toEqual({ key: `fed:${TVM}:dave`, verified: false });
    expect(await resolve(await callerOf(keysOf('AKIDLOCALROOT')))).toEqual({ key: `root:${TVM}`, verified: false });
    // A role itself, as some identity providers report a caller.
    expect(await resolve(callerFrom({ userArn: `arn:aws:iam::${TVM}:role/ci/Deployer` }))).toEqual({ key: `role:${TVM}:Deployer`, verified: false });
  });
});

describe('GIVEN the GetRole cache', () => {
  test('WHEN 100 lookups of 3 Identity Center users through 2 permission sets are made THEN IAM is asked once per role per 5 minutes', async () => {
    const users = await Promise.all(['AKIDLOCALALICEDEV', 'AKIDLOCALBOBDEV', 'AKIDLOCALCAROLAPPROVER'].map((id) => callerOf(keysOf(id))));
    const resolver = resolverWith(counted().getRole);
    const before = getRoleCalls();
    const persons: Person[] = [];
    for (let i = 0; i < 100; i++) persons.push(await resolver.personOf(users[i % 3]));
    const first = getRoleCalls() - before;
    expect(new Set(persons.map((p) => p.key))).toEqual(new Set(['idc:alice@example.com', 'idc:bob', 'idc:carol']));
    expect(first).toBe(2);
    clockMs += 299_000;
    await resolver.personOf(users[0]);
    expect(getRoleCalls() - before).toBe(2);
    clockMs += 2_000;
    for (let i = 0; i < 100; i++) await resolver.personOf(users[i % 3]);
    expect(getRoleCalls() - before).toBe(4);
    const later = getRoleCalls() - before - first;
    console.log(`GetRole calls for 100 personOf of 3 Identity Center users (2 roles): ${first}; after 5 minutes, 100 more: ${later}`);
  });

  test('WHEN IAM refused a role THEN the refusal is remembered too', async () => {
    const caller = await callerOf(await assumed(IMPOSTOR, 'AKIDLOCALMALLORY', 'mallory'));
    const { getRole, names } = counted();
    const resolver = resolverWith(getRole);
    for (let i = 0; i < 5; i++) expect((await resolver.personOf(caller)).verified).toBe(false);
    expect(names).toEqual([IMPOSTOR]);
  });

  test('WHEN lookups of one role run at once THEN IAM is asked once', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const { getRole, names } = counted();
    const resolver = resolverWith(getRole);
    const persons = await Promise.all(Array.from({ length: 20 }, () => resolver.personOf(caller)));
    expect(persons.every((p) => p.key === 'idc:bob' && p.verified)).toBe(true);
    expect(names).toEqual([DEVELOPERS]);
  });

  test('WHEN cacheSeconds is 0 THEN every lookup asks IAM', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const { getRole, names } = counted();
    const resolver = resolverWith(getRole, 0);
    await resolver.personOf(caller);
    await resolver.personOf(caller);
    expect(names).toEqual([DEVELOPERS, DEVELOPERS]);
  });

  test('fails when cacheSeconds is negative or the TVM account is not an account id', () => {
    expect(() => resolverWith(counted().getRole, -1)).toThrow(/cacheSeconds is -1/);
    expect(() => new PersonResolver({ tvmAccount: '1234', getRole: counted().getRole, now })).toThrow(/tvmAccount "1234"/);
  });
});

describe('GIVEN IAM fails', () => {
  test('fails with PersonLookupError, never "unverified", and does not remember the failure', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const real = iamGetRole(iamAs(execution));
    let failures = 1;
    const { getRole, names } = counted(async (name) => {
      if (failures-- > 0) throw new PersonLookupError('IAM GetRole failed: Throttling');
      return real(name);
    });
    const resolver = resolverWith(getRole);
    await expect(resolver.personOf(caller)).rejects.toBeInstanceOf(PersonLookupError);
    expect(await resolver.personOf(caller)).toEqual({ key: 'idc:bob', verified: true });
    expect(names).toEqual([DEVELOPERS, DEVELOPERS]);
  });

  test('fails with PersonLookupError when the injected GetRole throws anything else, synchronously included', async () => {
    const caller = await callerOf(keysOf('AKIDLOCALBOBDEV'));
    const resolver = resolverWith(() => { throw new TypeError('boom'); });
    await expect(resolver.personOf(caller)).rejects.toMatchObject({ name: 'PersonLookupError', message: `IAM GetRole of ${DEVELOPERS} failed` });
  });

  describe('WHEN the SDK gets an IAM error', () => {
    let faulty: Awaited<ReturnType<typeof startSupportIam>>;
    let getRole: GetRole;
    beforeAll(async () => {
      faulty = await startSupportIam();
      getRole = iamGetRole(track(new IAMClient({ region: REGION, endpoint: faulty.endpoint, maxAttempts: 1, credentials: keysOf('AKIDLOCALERIN') })));
    });
    afterAll(() => faulty?.stop());
    afterEach(() => faulty.fail(undefined));

    // The SDK's name of the error: IAM's code, or its modeled exception's name.
    test.each([
      ['Throttling', 400, 'Throttling'],
      ['ServiceFailure', 500, 'ServiceFailureException'],
      ['InvalidClientTokenId', 403, 'InvalidClientTokenId'],
    ])('fails with PersonLookupError on %s', async (code, status, name) => {
      faulty.fail({ code, message: 'Rate exceeded', status });
      const error = await getRole(DEVELOPERS).catch((e) => e);
      expect(error).toBeInstanceOf(PersonLookupError);
      expect(error.message).toBe(`IAM GetRole of ${DEVELOPERS} failed: ${name}`);
    });

    test.each([['NoSuchEntity', 404], ['AccessDenied', 403]])('THEN %s is no role: undefined', async (code, status) => {
      faulty.fail({ code, message: 'no', status });
      await expect(getRole(DEVELOPERS)).resolves.toBeUndefined();
    });
  });
});

describe('GIVEN iamGetRole against local mode\'s IAM with the real SDK', () => {
  test('THEN the execution role reads a permission set\'s role: its path and id', async () => {
    const role = accounts.role(TVM, APPROVERS)!;
    expect(await iamGetRole(iamAs(execution))(APPROVERS)).toEqual({ path: IDENTITY_CENTER_ROLE_PATH_PREFIX, roleId: role.roleId });
  });

  test('THEN GetRole answers as IAM does: name, id, ARN with the path, creation date and the trust policy URL-encoded', async () => {
    const out = await iamAs(execution).send(new GetRoleCommand({ RoleName: DEVELOPERS }));
    const role = accounts.role(TVM, DEVELOPERS)!;
    expect(out.Role).toMatchObject({
      Path: IDENTITY_CENTER_ROLE_PATH_PREFIX,
      RoleName: DEVELOPERS,
      RoleId: role.roleId,
      MaxSessionDuration: 3600,
      Arn: `arn:aws:iam::${TVM}:role${IDENTITY_CENTER_ROLE_PATH_PREFIX}${DEVELOPERS}`,
    });
    expect(out.Role!.CreateDate).toBeInstanceOf(Date);
    expect(JSON.parse(decodeURIComponent(out.Role!.AssumeRolePolicyDocument!))).toEqual(role.trust);
  });

  test.each([
    ['a role at an ordinary path', () => iamGetRole(iamAs(execution))('ReadOnly'), 'ReadOnly'],
    ['a role named like a permission set\'s at an ordinary path', () => iamGetRole(iamAs(execution))(IMPOSTOR), IMPOSTOR],
    ['a role that does not exist', () => iamGetRole(iamAs(execution))(GONE), GONE],
    ['any principal but the execution role', () => iamGetRole(iamAs(enforcer))(DEVELOPERS), DEVELOPERS],
  ])('refuses %s: AccessDenied, which is undefined', async (_case, call, roleName) => {
    const before = iamLog.length;
    await expect(call()).resolves.toBeUndefined();
    expect(iamLog.slice(before)).toEqual([expect.objectContaining({ action: 'GetRole', roleName, status: 403, code: 'AccessDenied' })]);
  });

  test('refuses a caller of another account, even on its own account\'s permission set role', async () => {
    const spokeExecution = roleSessionKey(`arn:aws:iam::${OTHER}:role/SentinelTvmLocalExecutionRole`, 'x');
    const spoke = { ...spokeExecution, key: { ...spokeExecution.key, arn: session(OTHER, 'SentinelTvmLocalExecutionRole', 'x') } };
    keys.set(spoke.id, spoke.key);
    const before = iamLog.length;
    await expect(iamGetRole(iamAs(spoke))(DEVELOPERS)).resolves.toBeUndefined();
    expect(iamLog.slice(before)).toEqual([expect.objectContaining({ account: OTHER, status: 403, code: 'AccessDenied' })]);
  });
});

describe('GIVEN personHash', () => {
  test('THEN it is the first 16 hex of SHA-256 of the key', () => {
    expect(personHash('idc:alice')).toBe('b154e27cc8481578');
    expect(personHash('idc:alice')).toBe(createHash('sha256').update('idc:alice').digest('hex').slice(0, 16));
    expect(personHash('idc:bob')).not.toBe(personHash('idc:alice'));
  });
});
