// The runtime's side of the trust boundary (security review H2, M1, M2, M3, M6, M7, M10, L2), against DynamoDB Local
// and a local STS: what a caller, an administrator or a table writer can and cannot make the TVM do.
import { GetItemCommand, PutItemCommand, TransactionCanceledException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { chunkItemId, manifestItemId } from '../lambda/config/items';
import { writeConfig } from '../lambda/config/provider';
import { readSettings } from '../lambda/settings';
import { startLocalSts } from './support/local-sts';
import {
  ACCOUNT, ADMIN, ALICE, BOB, SSO_CAROL, createFixture, deployConfig, deployedConfig, event, ROLE_ARNS, stsClient, type Fixture,
} from './support/tvm-fixture';
import { Env } from '../src/shared/contract';

let fx: Fixture;
let sts: Awaited<ReturnType<typeof startLocalSts>>;
let handle: (e: any) => Promise<any>;
let logs: any[];
let clock: Date;

const ADMIN_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SecurityOps/jane`;
const MALLORY = `arn:aws:iam::${ACCOUNT}:user/mallory`;
const SSO_DAVE = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/dave@example.com`;
const SSO_ERIN = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/erin@example.com`;
const body = (res: any) => JSON.parse(res.body);

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(async () => {
  logs = [];
  clock = new Date('2036-04-01T10:00:00.000Z');
  sts.calls.length = 0;
  // Every test starts from the deployed configuration (its items rewritten, should a test have altered them).
  expect(await deployConfig(fx.template, fx.ddb, fx)).toBe(fx.configDigest);
  handle = handlerWith();
});

/** The deployed configuration as the whole-configuration writer's properties, to change and write as another deployment. */
function deployedProperties(): any {
  return deployedConfig(fx.template, fx);
}

/** The documents of the deployed configuration's items: its manifest, and its one chunk (the fixture has two profiles). */
async function deployedItems(): Promise<{ manifest: any; chunkDigest: string; chunk: any[] }> {
  const get = async (id: string) =>
    (await fx.ddb.send(new GetItemCommand({ TableName: fx.controlTableName, Key: { id: { S: id } } }))).Item?.document.S;
  const manifest = JSON.parse((await get(manifestItemId(fx.configDigest)))!);
  expect(manifest.chunks).toHaveLength(1);
  return { manifest, chunkDigest: manifest.chunks[0], chunk: JSON.parse((await get(chunkItemId(manifest.chunks[0])))!) };
}

/** A fresh container (the configuration is read once per container), optionally with another deployed digest. */
function handlerWith(env: Record<string, string> = {}, newSessionId?: () => string) {
  return fx.handler({
    sts: stsClient(sts.endpoint),
    now: () => clock,
    log: (l) => logs.push(l),
    settings: readSettings({ ...fx.env, ...env }),
    ...(newSessionId ? { newSessionId } : {}),
  });
}

async function vend(userArn = ALICE, profile = 'readonly', h = handle): Promise<string> {
  const res = await h(event({ userArn, query: { profile } }));
  expect(res.statusCode).toBe(200);
  return body(res).SessionId;
}

const revoke = (id: string, request: object, userArn = ADMIN_SESSION, h = handle) =>
  h(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn, body: JSON.stringify(request) }));

describe('the configuration cannot be rewritten (H2, M7)', () => {
  test('fails with 503 when a table writer adds themselves as an administrator in the manifest: the digest differs, and it is logged', async () => {
    const { manifest } = await deployedItems();
    const tampered = JSON.stringify({ ...manifest, adminPrincipals: [ADMIN, MALLORY] });
    await fx.ddb.send(new PutItemCommand({
      TableName: fx.controlTableName,
      Item: { id: { S: manifestItemId(fx.configDigest) }, document: { S: tampered } },
    }));
    const fresh = handlerWith();

    const res = await fresh(event({ userArn: MALLORY, path: '/sessions', query: { status: 'active' } }));

    expect(res.statusCode).toBe(503);
    expect(body(res).Code).toBe('STORE_UNAVAILABLE');
    expect(logs[0].error).toMatch(/config item digest .* is not the deployed/);
  });

  test('fails with 503 when a table writer adds themselves to a profile in its chunk: the chunk\'s digest differs, and it is logged', async () => {
    const { chunkDigest, chunk } = await deployedItems();
    chunk[0].allowedPrincipals.push(MALLORY);
    await fx.ddb.send(new PutItemCommand({
      TableName: fx.controlTableName,
      Item: { id: { S: chunkItemId(chunkDigest) }, document: { S: JSON.stringify(chunk) } },
    }));

    const res = await handlerWith()(event({ userArn: MALLORY, query: { profile: chunk[0].name } }));

    expect(body(res).Code).toBe('STORE_UNAVAILABLE');
    expect(logs[0].error).toMatch(/config chunk digest .* is not the listed/);
    expect(sts.calls).toHaveLength(0);
  });

  test('a table writer who writes a whole configuration of their own changes nothing: the functions trust the deployed digest only', async () => {
    const props = deployedProperties();
    const own = await writeConfig(fx.ddb, fx.controlTableName, { ...props, AdminPrincipals: [MALLORY] });

    const res = await revoke('0badc0ffee0ddf0a', { reason: 'x', profile: 'readonly' }, MALLORY, handlerWith());

    expect(own).not.toBe(fx.configDigest);
    expect(body(res).Code).toBe('POLICY_DENY');
    expect((await handlerWith()(event({ userArn: ALICE, query: { profile: 'readonly' } }))).statusCode).toBe(200);
  });

  test('a deployment that changes the configuration reaches new containers through the digest, while containers of the old one keep serving it', async () => {
    const props = deployedProperties();
    props.Profiles[0].allowedPrincipals = [BOB];
    const digest = await writeConfig(fx.ddb, fx.controlTableName, props);
    const stale = handlerWith();
    const current = handlerWith({ [Env.CONFIG_DIGEST]: digest });

    // Content-addressed: both configurations are in the table until CloudFormation deletes the old one.
    expect((await stale(event({ userArn: ALICE, query: { profile: props.Profiles[0].name } }))).statusCode).toBe(200);
    expect(body(await current(event({ userArn: ALICE, query: { profile: props.Profiles[0].name } }))).Code).toBe('POLICY_DENY');
    expect((await current(event({ userArn: BOB, query: { profile: props.Profiles[0].name } }))).statusCode).toBe(200);
  });

  test('fails with 503 when the function has no digest at all', async () => {
    const settings = readSettings({ ...fx.env, [Env.CONFIG_DIGEST]: '' });
    const h = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), settings });
    expect(body(await h(event({ query: { profile: 'readonly' } }))).Code).toBe('STORE_UNAVAILABLE');
  });
});

describe('a profile moved to another role (M1)', () => {
  test('fails to continue a session of the old role: SESSION_EXPIRED, and a new session gets the new role', async () => {
    const id = await vend();
    const props = deployedProperties();
    const readonly = props.Profiles.find((p: any) => p.name === 'readonly');
    readonly.roleArn = `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly-Replaced`;
    const digest = await writeConfig(fx.ddb, fx.controlTableName, props);
    const after = handlerWith({ [Env.CONFIG_DIGEST]: digest });

    const continued = await after(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    expect(body(continued).Code).toBe('SESSION_EXPIRED');
    expect((await fx.item(id))?.role_arn).toBe(ROLE_ARNS.ReadOnly);
    const fresh = await after(event({ query: { profile: 'readonly' } }));
    expect((await fx.item(body(fresh).SessionId))?.role_arn).toBe(readonly.roleArn);
    expect(sts.calls.map((c) => c.roleArn)).toEqual([ROLE_ARNS.ReadOnly, readonly.roleArn]);
  });
});

describe('revoking an ended session whose credentials may live (M2)', () => {
  test('an administrator revokes a session its owner ended: it is revoked, and its credentials expiry is kept for the enforcer', async () => {
    const id = await vend();
    expect((await handle(event({ method: 'DELETE', path: `/sessions/${id}` }))).statusCode).toBe(200);

    const res = await revoke(id, { reason: 'credentials leaked into a build log' });

    expect(res.statusCode).toBe(200);
    const item = await fx.item(id);
    expect(item).toMatchObject({ status: 'revoked', revoked_by: ADMIN_SESSION, credentials_expire_at: '2036-04-01T10:16:00.000Z' });
  });

  test('fails with 409 once the ended session\'s credentials have expired (nothing left to deny)', async () => {
    const id = await vend();
    await handle(event({ method: 'DELETE', path: `/sessions/${id}` }));
    clock = new Date(clock.getTime() + 17 * 60 * 1000);
    expect(body(await revoke(id, { reason: 'late' })).Code).toBe('SESSION_NOT_ACTIVE');
    expect((await fx.item(id))?.status).toBe('expired');
  });
});

describe('revoking an unrecorded session (M6)', () => {
  const UNRECORDED = '0badc0ffee0ddf00';

  test('an administrator names its profile: a revoked record is written for the enforcer, covering its longest credentials', async () => {
    const res = await revoke(UNRECORDED, { reason: 'vended while the table was down', profile: 'readonly' });

    expect(res.statusCode).toBe(200);
    expect(await fx.item(UNRECORDED)).toMatchObject({
      id: UNRECORDED,
      status: 'revoked',
      profile: 'readonly',
      role_arn: ROLE_ARNS.ReadOnly,
      revoked_by: ADMIN_SESSION,
      credentials_expire_at: '2036-04-01T11:01:00.000Z',
    });
    expect(logs[0]).toMatchObject({ tombstone: true, sessionId: UNRECORDED });
  });

  test.each([
    ['without a profile, 404 as before', {}, 'SESSION_NOT_FOUND'],
    ['with an unknown profile, 400', { profile: 'nope' }, 'INVALID_PROFILE'],
  ])('fails %s, and writes nothing', async (_what, extra, code) => {
    const id = '0badc0ffee0ddf01';
    expect(body(await revoke(id, { reason: 'x', ...extra })).Code).toBe(code);
    expect(await fx.item(id)).toBeUndefined();
  });

  test('fails for a non-administrator, and writes nothing', async () => {
    const id = '0badc0ffee0ddf02';
    expect(body(await revoke(id, { reason: 'x', profile: 'readonly' }, ALICE)).Code).toBe('POLICY_DENY');
    expect(await fx.item(id)).toBeUndefined();
  });
});

describe('blocking the principal of a revoked session (M10)', () => {
  test('its other active sessions are revoked and it cannot start a new one until the block lapses; others are unaffected', async () => {
    const a = await vend(SSO_CAROL);
    const b = await vend(SSO_CAROL);
    const alices = await vend(ALICE);

    const res = await revoke(a, { reason: 'laptop stolen', blockPrincipalSeconds: 3600 });

    expect(res.statusCode).toBe(200);
    expect(body(res).Blocked).toEqual({ principal_arn: SSO_CAROL, until: '2036-04-01T11:00:00.000Z', revoked_sessions: 1 });
    expect((await fx.item(b))?.status).toBe('revoked');
    expect((await fx.item(alices))?.status).toBe('active');
    const refused = await handle(event({ userArn: SSO_CAROL, query: { profile: 'readonly' } }));
    expect(refused.statusCode).toBe(403);
    expect(body(refused).Code).toBe('PRINCIPAL_BLOCKED');
    expect((await handle(event({ userArn: ALICE, query: { profile: 'readonly' } }))).statusCode).toBe(200);

    clock = new Date(clock.getTime() + 3601 * 1000);
    expect((await handle(event({ userArn: SSO_CAROL, query: { profile: 'readonly' } }))).statusCode).toBe(200);
  });

  test('a principal whose session was revoked already can still be blocked through that session', async () => {
    const id = await vend(SSO_DAVE);
    expect((await revoke(id, { reason: 'first, without a block' })).statusCode).toBe(200);

    const res = await revoke(id, { reason: 'the laptop was stolen after all', blockPrincipalSeconds: 600 });

    expect(res.statusCode).toBe(200);
    expect(body(res).Blocked).toMatchObject({ principal_arn: SSO_DAVE });
    expect(body(await handle(event({ userArn: SSO_DAVE, query: { profile: 'readonly' } }))).Code).toBe('PRINCIPAL_BLOCKED');
  });

  test('the sweep also revokes a session its owner ended while its credentials live (a thief ending it to dodge the sweep)', async () => {
    const ended = await vend(SSO_ERIN);
    await handle(event({ userArn: SSO_ERIN, method: 'DELETE', path: `/sessions/${ended}` }));
    const current = await vend(SSO_ERIN);

    const res = await revoke(current, { reason: 'stolen', blockPrincipalSeconds: 600 });

    expect(body(res).Blocked.revoked_sessions).toBe(1);
    expect((await fx.item(ended))?.status).toBe('revoked');
  });

  test.each([[59], [7 * 24 * 3600 + 1], ['3600'], [1.5]])('fails for blockPrincipalSeconds %p, and revokes nothing', async (seconds) => {
    const id = await vend(BOB, 'deploy');
    expect(body(await revoke(id, { reason: 'x', blockPrincipalSeconds: seconds })).Code).toBe('INVALID_REQUEST');
    expect((await fx.item(id))?.status).toBe('active');
  });
});

describe('concurrent transactions on a principal\'s block item (red-team M1)', () => {
  /** Fault injection: DynamoDB cancels the session's transaction for a conflict, `times` times (forever if Infinity). */
  const conflicting = (times: number): DynamoDBClient => {
    let left = times;
    return {
      send: (command: any) => {
        if (command.constructor.name === 'TransactWriteItemsCommand' && left-- > 0) {
          return Promise.reject(new TransactionCanceledException({
            message: 'Transaction cancelled',
            $metadata: {},
            CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
          }));
        }
        return fx.ddb.send(command);
      },
    } as unknown as DynamoDBClient;
  };

  test('fails with 429 and vends nothing when conflicts persist, even under FAIL_OPEN (the table answered)', async () => {
    const h = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), ddb: conflicting(Infinity) });
    const res = await h(event({ userArn: ALICE, query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(429);
    expect(body(res).Code).toBe('RATE_LIMITED');
    expect(sts.calls).toHaveLength(0);
    expect(logs[0]).not.toHaveProperty('storeFailure');
  });

  test('a passing conflict is retried, and the session is recorded', async () => {
    const h = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), ddb: conflicting(2) });
    const res = await h(event({ userArn: ALICE, query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(200);
    expect(await fx.item(body(res).SessionId)).toMatchObject({ status: 'active' });
  });
});

describe('a TVM-vended credential calling the TVM (M3)', () => {
  test.each([
    ['a session of a role this TVM vends', `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/anything`],
    ['any TVM session (its RoleSessionName)', `arn:aws:sts::${ACCOUNT}:assumed-role/SecurityOps/tvm-0123456789abcdef-AbCdEfGh`],
  ])('fails for %s, on every route, even where its pattern matches (an admin role here)', async (_what, caller) => {
    for (const e of [event({ userArn: caller, query: { profile: 'readonly' } }), event({ userArn: caller, path: '/sessions' })]) {
      const res = await handle(e);
      expect(res.statusCode).toBe(403);
      expect(body(res).Code).toBe('POLICY_DENY');
    }
    expect(sts.calls).toHaveLength(0);
  });
});

describe('a namesake (M4): the same ARN, another principal', () => {
  test('fails to continue a session started by a deleted and recreated principal of the same name: SESSION_FORBIDDEN', async () => {
    const id = await vend(ALICE);
    // STS's unique id differs for a recreated user (a new AIDA…): here the verifier answers as STS would for it.
    const recreated = { verify: async () => ({ arn: ALICE, userId: 'AIDARECREATEDUSER123', account: ACCOUNT }) } as any;
    const h = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), verifier: recreated, proofs: false });

    const res = await h(event({ userArn: ALICE, query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));

    expect(body(res).Code).toBe('SESSION_FORBIDDEN');
    expect((await fx.item(id))?.request_count).toBe(1);
  });
});

describe('a session id that collides (L2)', () => {
  test('the new session gets another id; the existing session is untouched', async () => {
    const existing = await vend(BOB, 'deploy');
    const ids = [existing, 'feedfacecafebeef'];
    const h = handlerWith({}, () => ids.shift()!);

    const res = await h(event({ userArn: ALICE, query: { profile: 'readonly' } }));

    expect(body(res)).toMatchObject({ SessionId: 'feedfacecafebeef' });
    expect((await fx.item(existing))?.principal_arn).toBe(BOB);
    expect((await fx.item('feedfacecafebeef'))?.principal_arn).toBe(ALICE);
  });
});
