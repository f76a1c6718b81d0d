// The vending handler against DynamoDB Local and a local STS endpoint (the real SDK serializes the real requests).
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { StoreFailureMode } from '../src';
import { startPrivateDynamoDbLocal } from './support/dynamodb-local';
import { startLocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, ALICE, BOB, createFixture, event, ROLE_ARNS, SSO_CAROL, stsClient, type Fixture } from './support/tvm-fixture';

type Sts = Awaited<ReturnType<typeof startLocalSts>>;

let fx: Fixture;
let sts: Sts;
let clock: Date;
let logs: string[];
let handle: (e: any) => Promise<any>;

// In the future, so that DynamoDB Local's TTL deletion (which runs on real time) leaves the items alone.
const T0 = new Date('2036-01-25T14:30:00.000Z');
const body = (res: any) => JSON.parse(res.body);
const session = (id: string) => fx.item(id);
const advance = (seconds: number) => { clock = new Date(clock.getTime() + seconds * 1000); };

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(() => {
  clock = T0;
  logs = [];
  sts.calls.length = 0;
  sts.fail(undefined);
  handle = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(JSON.stringify(l)) });
});

describe('vending a new session', () => {
  test('returns container credentials with the session id, and records the session', async () => {
    const res = await handle(event({ query: { profile: 'readonly' }, requestId: 'AbCd/EfGh+IjK=' }));

    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const b = body(res);
    expect(Object.keys(b).sort()).toEqual(['AccessKeyId', 'Expiration', 'SecretAccessKey', 'SessionExpiresAt', 'SessionId', 'Token']);
    // When the session ends (the TVM's session lifetime from now), so that clients can tell how long it has left.
    expect(b.SessionExpiresAt).toBe('2036-01-26T02:30:00Z');
    expect(b.SessionId).toMatch(/^[0-9a-f]{16}$/);
    expect(b.AccessKeyId).toMatch(/^ASIA/);
    expect(b.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(res.headers['x-sentinel-session-id']).toBe(b.SessionId);

    expect(sts.calls).toHaveLength(1);
    const call = sts.calls[0];
    expect(call.roleArn).toBe(ROLE_ARNS.ReadOnly);
    // requestId's `/` is outside STS's charset: replaced, and cut to 8 characters.
    expect(call.roleSessionName).toBe(`tvm-${b.SessionId}-AbCd_EfG`);
    // The session id, the kind of grant (standing), the user: every CloudTrail event of the credentials names the session.
    expect(call.sourceIdentity).toBe(`sentinel.${b.SessionId}.s.alice`);
    expect(call.durationSeconds).toBe(900);
    expect(call.tags).toEqual([{ Key: 'SentinelSessionID', Value: b.SessionId }]);
    expect(call.transitiveTagKeys).toEqual(['SentinelSessionID']);
    expect(call.authorization).toMatch(/^AWS4-HMAC-SHA256 /);

    const item = await session(b.SessionId);
    expect(item).toEqual({
      id: b.SessionId,
      user: 'alice',
      principal_arn: ALICE,
      // STS's unique id of the caller, from the identity proof the handler verified.
      principal_id: expect.stringMatching(/^AIDA[0-9A-F]{12}$/),
      account_id: ACCOUNT,
      profile: 'readonly',
      role_arn: ROLE_ARNS.ReadOnly,
      status: 'active',
      started_at: '2036-01-25T14:30:00.000Z',
      last_access_at: '2036-01-25T14:30:00.000Z',
      created_at: '2036-01-25T14:30:00.000Z',
      updated_at: '2036-01-25T14:30:00.000Z',
      expires_at: '2036-01-26T02:30:00.000Z',
      credentials_expire_at: '2036-01-25T14:46:00.000Z',
      request_count: 1,
      source_identity: `sentinel.${b.SessionId}.s.alice`,
      server_instance_id: expect.stringMatching(/^[0-9a-f]{16}$/),
      ttl: Date.parse('2036-01-26T02:30:00.000Z') / 1000 + 30 * 24 * 3600,
    });
    expect(item).not.toHaveProperty('device_id');
  });

  test('records the device id when given, and honours a requested duration up to the profile maximum', async () => {
    const deviceId = 'ab'.repeat(32);
    const res = await handle(event({ userArn: BOB, query: { profile: 'deploy', duration: '1800', device_id: deviceId } }));

    expect(res.statusCode).toBe(200);
    expect(sts.calls[0].durationSeconds).toBe(1800);
    expect(sts.calls[0].roleArn).toBe(ROLE_ARNS.Deploy);
    expect((await session(body(res).SessionId))?.device_id).toBe(deviceId);
  });

  test('derives SourceIdentity from an assumed-role session name within STS limits', async () => {
    const res = await handle(event({ userArn: SSO_CAROL, query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(200);
    const id = body(res).SessionId;
    expect(sts.calls[0].sourceIdentity).toBe(`sentinel.${id}.s.carol@example.com`);
  });

  test('the SourceIdentity keeps the whole session id, and cuts a long user name to fit 64 characters', async () => {
    const longName = `${'x'.repeat(40)}@example.com`;
    const res = await handle(event({ userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/${longName}`, query: { profile: 'readonly' } }));
    expect(res.statusCode).toBe(200);
    const id = body(res).SessionId;
    const value = sts.calls[0].sourceIdentity!;
    expect(value).toHaveLength(64);
    expect(value).toBe(`sentinel.${id}.s.${longName}`.slice(0, 64));
    expect(value).toMatch(/^[\w+=,.@-]{2,64}$/);
  });

  test('POST / vends like GET /', async () => {
    const res = await handle(event({ method: 'POST', query: { profile: 'readonly' } }));
    expect(res.statusCode).toBe(200);
  });

  test('a failed first vend ends its session and answers CREDENTIAL_ERROR without detail', async () => {
    sts.fail({ code: 'AccessDenied', message: 'User: arn:aws:sts::111122223333:assumed-role/x is not authorized', status: 403 });

    const res = await handle(event({ query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(502);
    expect(body(res)).toEqual({ Code: 'CREDENTIAL_ERROR', Message: 'The credentials could not be issued.', RequestId: expect.any(String) });
    const id = sts.calls[0].tags[0].Value;
    const item = await session(id);
    expect(item?.status).toBe('expired');
    expect(item?.ended_reason).toBe('first vend failed: AccessDenied');
    expect(item).not.toHaveProperty('credentials_expire_at');
    expect(logs.join('\n')).toContain('AccessDenied');
  });

  test('STS throttling answers 429 RATE_LIMITED with Retry-After', async () => {
    sts.fail({ code: 'Throttling', message: 'Rate exceeded', status: 400 });
    const res = await handle(event({ query: { profile: 'readonly' } }));
    expect(res.statusCode).toBe(429);
    expect(body(res).Code).toBe('RATE_LIMITED');
    expect(res.headers['retry-after']).toBe('1');
  });
});

describe('continuing a session', () => {
  async function start(userArn = ALICE, profile = 'readonly'): Promise<string> {
    const res = await handle(event({ userArn, query: { profile } }));
    expect(res.statusCode).toBe(200);
    return body(res).SessionId;
  }

  test('touches the same session with one write and vends under the same tag', async () => {
    const id = await start();
    advance(600);

    const res = await handle(event({ query: { profile: 'readonly', duration: '3600' }, headers: { 'X-Sentinel-Session-Id': id } }));

    expect(res.statusCode).toBe(200);
    expect(body(res).SessionId).toBe(id);
    // The session still ends when it was started to: continuing it does not extend it.
    expect(body(res).SessionExpiresAt).toBe('2036-01-26T02:30:00Z');
    expect(sts.calls[1].tags).toEqual([{ Key: 'SentinelSessionID', Value: id }]);
    expect(sts.calls[1].durationSeconds).toBe(3600);
    const item = await session(id);
    expect(item?.request_count).toBe(2);
    expect(item?.last_access_at).toBe('2036-01-25T14:40:00.000Z');
    expect(item?.started_at).toBe('2036-01-25T14:30:00.000Z');
    expect(item?.credentials_expire_at).toBe('2036-01-25T15:41:00.000Z');
  });

  test('keeps credentials_expire_at at the latest expiry when a shorter duration follows a longer one', async () => {
    const id = await handle(event({ query: { profile: 'readonly', duration: '3600' } })).then((r) => body(r).SessionId);
    advance(60);

    const res = await handle(event({ query: { profile: 'readonly', duration: '900' }, headers: { 'x-sentinel-session-id': id } }));

    expect(res.statusCode).toBe(200);
    const item = await session(id);
    expect(item?.credentials_expire_at).toBe('2036-01-25T15:31:00.000Z');
    expect(item?.request_count).toBe(2);
  });

  test('never vends credentials that outlive the session', async () => {
    const id = await start();
    advance(12 * 3600 - 1200); // 20 minutes left

    const res = await handle(event({ query: { profile: 'readonly', duration: '3600' }, headers: { 'x-sentinel-session-id': id } }));

    expect(res.statusCode).toBe(200);
    expect(sts.calls[1].durationSeconds).toBe(1200);
  });

  test('fails when less than 15 minutes are left, with SESSION_EXPIRED', async () => {
    const id = await start();
    advance(12 * 3600 - 600);

    const res = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));

    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe('SESSION_EXPIRED');
    expect(sts.calls).toHaveLength(1);
    expect((await session(id))?.request_count).toBe(1);
  });

  test.each([
    ['revoked', 'SESSION_REVOKED'],
    ['expired', 'SESSION_EXPIRED'],
  ])('fails when the session is %s, with %s', async (status, code) => {
    const id = await start();
    await fx.ddb.send(new UpdateItemCommand({
      TableName: fx.tableName,
      Key: { id: { S: id } },
      UpdateExpression: 'SET #s = :s',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':s': { S: status } },
    }));
    const before = await fx.items();

    const res = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));

    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe(code);
    expect(sts.calls).toHaveLength(1);
    expect(await fx.items()).toEqual(before);
  });

  test('fails when someone else presents the session, with SESSION_FORBIDDEN, even if it is revoked', async () => {
    const id = await start(ALICE);
    const res = await handle(event({ userArn: SSO_CAROL, query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe('SESSION_FORBIDDEN');
    expect((await session(id))?.request_count).toBe(1);
  });

  test('fails when the session belongs to another profile, with SESSION_FORBIDDEN', async () => {
    const id = await start(BOB, 'deploy');
    const res = await handle(event({ userArn: BOB, query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    // bob may not use readonly at all: authorization comes first.
    expect(body(res).Code).toBe('POLICY_DENY');
  });

  test('fails when the session does not exist, with SESSION_NOT_FOUND, and creates nothing', async () => {
    const before = await fx.items();
    const res = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': '0123456789abcdef' } }));
    expect(res.statusCode).toBe(404);
    expect(body(res).Code).toBe('SESSION_NOT_FOUND');
    expect(await fx.items()).toEqual(before);
  });
});

describe('rejected requests change nothing', () => {
  const cases: [string, any, number, string][] = [
    ['no IAM identity', { userArn: null, query: { profile: 'readonly' } }, 403, 'IAM_AUTH_REQUIRED'],
    ['a malformed caller ARN', { userArn: 'arn:aws:iam::1111:user/x', query: { profile: 'readonly' } }, 400, 'INVALID_IDENTITY'],
    ['an account that contradicts the ARN', { accountId: '999999999999', query: { profile: 'readonly' } }, 400, 'INVALID_IDENTITY'],
    ['no profile', { query: {} }, 400, 'MISSING_PROFILE'],
    ['an empty profile', { query: { profile: '' } }, 400, 'MISSING_PROFILE'],
    ['a role ARN as profile', { query: { profile: ROLE_ARNS.ReadOnly } }, 400, 'INVALID_PROFILE'],
    ['a non-numeric duration', { query: { profile: 'readonly', duration: '15m' } }, 400, 'INVALID_DURATION'],
    ['a too short duration', { query: { profile: 'readonly', duration: '899' } }, 400, 'INVALID_DURATION'],
    ['a duration over one hour', { query: { profile: 'readonly', duration: '3601' } }, 400, 'INVALID_DURATION'],
    ['a duration over the profile maximum', { userArn: BOB, query: { profile: 'deploy', duration: '1801' } }, 400, 'INVALID_DURATION'],
    ['a bad device id', { query: { profile: 'readonly', device_id: 'XYZ' } }, 400, 'INVALID_DEVICE_ID'],
    ['a bad session id', { query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': 'not-hex' } }, 400, 'INVALID_SESSION_ID'],
    ['an unknown parameter', { query: { profile: 'readonly', role: 'x' } }, 400, 'INVALID_REQUEST'],
    ['an unknown profile', { query: { profile: 'nope' } }, 403, 'POLICY_DENY'],
    ['a caller not allowed on the profile', { userArn: BOB, query: { profile: 'readonly' } }, 403, 'POLICY_DENY'],
    ['an allowed name in another account', { userArn: 'arn:aws:iam::444455556666:user/alice', query: { profile: 'readonly' } }, 403, 'POLICY_DENY'],
    ['an unknown path', { path: '/credentials' }, 404, 'NOT_FOUND'],
    ['a wrong method', { method: 'DELETE', path: '/' }, 405, 'METHOD_NOT_ALLOWED'],
  ];

  test.each(cases)('fails on %s', async (_name, opts, status, code) => {
    const before = await fx.items();

    const res = await handle(event(opts));

    expect(res.statusCode).toBe(status);
    expect(body(res)).toEqual({ Code: code, Message: expect.any(String), RequestId: expect.any(String) });
    expect(res.headers['content-type']).toBe('application/json');
    expect(sts.calls).toHaveLength(0);
    expect(await fx.items()).toEqual(before);
    const line = JSON.parse(logs[0]);
    expect(line).toMatchObject({ message: 'decision', decision: 'DENY', code, status });
  });

  test('an unknown profile and a forbidden one answer identically (no enumeration)', async () => {
    const unknown = body(await handle(event({ userArn: BOB, query: { profile: 'nope' } })));
    const forbidden = body(await handle(event({ userArn: BOB, query: { profile: 'readonly' } })));
    expect({ ...unknown, RequestId: '' }).toEqual({ ...forbidden, RequestId: '' });
  });
});

describe('GET /profiles', () => {
  test('lists only the profiles the caller may use', async () => {
    expect(body(await handle(event({ path: '/profiles' })))).toEqual({ Profiles: [{ Name: 'readonly', MaxDurationSeconds: 3600 }] });
    expect(body(await handle(event({ path: '/profiles', userArn: BOB })))).toEqual({ Profiles: [{ Name: 'deploy', MaxDurationSeconds: 1800 }] });
    expect(body(await handle(event({ path: '/profiles', userArn: ADMIN })))).toEqual({ Profiles: [] });
  });
});

describe('decision logs', () => {
  test('one line per request, with the decision facts and never a secret', async () => {
    const ok = body(await handle(event({ query: { profile: 'readonly' } })));
    sts.fail({ code: 'ExpiredTokenException', message: 'The security token included in the request is expired', status: 400 });
    await handle(event({ query: { profile: 'readonly' } }));
    await handle(event({ userArn: BOB, query: { profile: 'readonly' } }));

    expect(logs).toHaveLength(3);
    const lines = logs.map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      decision: 'ALLOW',
      status: 200,
      callerArn: ALICE,
      profile: 'readonly',
      sessionId: ok.SessionId,
      newSession: true,
      sourceIdentity: `sentinel.${ok.SessionId}.s.alice`,
      durationSeconds: 900,
    });
    expect(lines[1]).toMatchObject({ decision: 'ERROR', code: 'CREDENTIAL_ERROR', level: 'WARN' });
    expect(lines[2]).toMatchObject({ decision: 'DENY', code: 'POLICY_DENY', callerArn: BOB });
    const all = logs.join('\n');
    expect(all).not.toContain(ok.SecretAccessKey);
    expect(all).not.toContain(ok.Token);
    expect(all).not.toMatch(/Signature=|AWS4-HMAC-SHA256/);
  });
});

describe('decision logs through Powertools', () => {
  test('a vend, a denial, a store failure and an STS failure log their facts, and never a secret, token or signature', async () => {
    // Fault injection only: writes fail as if the table were throttled, reads (the profile configuration) go through.
    const real = fx.ddb;
    const faulty = {
      send: (command: any) => (['GetItemCommand', 'BatchGetItemCommand'].includes(command.constructor.name)
        ? real.send(command)
        : Promise.reject(Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ThrottlingException' }))),
    } as unknown as DynamoDBClient;
    // Powertools writes INFO to stdout and WARN/ERROR to stderr.
    const out: string[] = [];
    const capture = (chunk: any) => {
      out.push(String(chunk));
      return true;
    };
    const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
    let vended: any;
    try {
      const h = fx.handler({ sts: stsClient(sts.endpoint), log: undefined });
      vended = body(await h(event({ query: { profile: 'readonly' }, headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDX/…, Signature=abc123' } })));
      await h(event({ userArn: BOB, query: { profile: 'readonly' } }));
      sts.fail({ code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole', status: 403 });
      await h(event({ query: { profile: 'readonly' } }));
      sts.fail(undefined);
      const failing = createFixtureHandler(faulty);
      await failing(event({ query: { profile: 'readonly' } }));
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    const lines = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const decisions = lines.filter((l) => l.message === 'decision');
    expect(decisions.map((d) => [d.level, d.decision, d.code ?? null, d.storeFailure ?? false, Boolean(d.stsError)])).toEqual([
      ['INFO', 'ALLOW', null, false, false],
      ['INFO', 'DENY', 'POLICY_DENY', false, false],
      ['WARN', 'ERROR', 'CREDENTIAL_ERROR', false, true],
      ['WARN', 'ALLOW', null, true, false],
    ]);
    expect(decisions[3].storeError).toMatch(/^ThrottlingException/);
    const all = out.join('');
    expect(all).not.toContain(vended.SecretAccessKey);
    expect(all).not.toContain(vended.Token);
    expect(all).not.toMatch(/Signature=|AWS4-HMAC-SHA256|SecretAccessKey|SessionToken/);
    // Nor the identity proof (a signed STS request) in any form.
    expect(all).not.toMatch(/x-sentinel-identity|eyJ2Ijox/);
    expect(lines.filter((l) => l._aws).flatMap((m) => m._aws.CloudWatchMetrics[0].Metrics.map((x: any) => x.Name)).sort())
      .toEqual(['Denials', 'Denials', 'StoreFailures', 'StsFailures', 'VendLatency', 'VendLatency', 'VendLatency', 'VendLatency',
        'Vends', 'Vends'].sort());
  });

  function createFixtureHandler(ddb: DynamoDBClient) {
    return fx.handler({ ddb, sts: stsClient(sts.endpoint), log: undefined });
  }
});

describe('session store failures', () => {
  let store: Awaited<ReturnType<typeof startPrivateDynamoDbLocal>>;

  async function failingStoreHandler(mode: StoreFailureMode) {
    store = await startPrivateDynamoDbLocal();
    const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint: store.endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
    const f = await createFixture({ storeFailureMode: mode }, ddb);
    const h = f.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(JSON.stringify(l)) });
    // The first vend loads the profiles (cached per container); then the store goes away.
    expect((await h(event({ query: { profile: 'readonly' } }))).statusCode).toBe(200);
    const id = sts.calls[0].tags[0].Value;
    await store.stop();
    return { h, id };
  }

  afterEach(async () => {
    await store?.stop();
  });

  test('FAIL_OPEN vends new and continued sessions with the tag, and logs the store failure', async () => {
    const { h, id } = await failingStoreHandler(StoreFailureMode.FAIL_OPEN);

    const fresh = await h(event({ query: { profile: 'readonly' } }));
    const continued = await h(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));

    expect(fresh.statusCode).toBe(200);
    expect(continued.statusCode).toBe(200);
    // The presented session cannot be checked (it might be someone else's): a new, unrecorded id carries the tag.
    const newId = body(continued).SessionId;
    expect(newId).toMatch(/^[0-9a-f]{16}$/);
    expect(newId).not.toBe(id);
    expect(continued.headers['x-sentinel-session-id']).toBe(newId);
    // No record, so no known end: the answer does not make one up.
    expect(body(fresh).SessionExpiresAt).toBeUndefined();
    expect(body(continued).SessionExpiresAt).toBeUndefined();
    expect(sts.calls[2].tags).toEqual([{ Key: 'SentinelSessionID', Value: newId }]);
    expect(JSON.parse(logs[1])).toMatchObject({ storeFailure: true, decision: 'ALLOW', level: 'WARN' });
    expect(JSON.parse(logs[2])).toMatchObject({ storeFailure: true, sessionId: newId, continuedSessionId: id, newSession: true });
  }, 120_000);

  test('FAIL_CLOSED answers 503 STORE_UNAVAILABLE and vends nothing', async () => {
    const { h, id } = await failingStoreHandler(StoreFailureMode.FAIL_CLOSED);

    const fresh = await h(event({ query: { profile: 'readonly' } }));
    const continued = await h(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));

    expect(fresh.statusCode).toBe(503);
    expect(body(fresh).Code).toBe('STORE_UNAVAILABLE');
    expect(body(continued).Code).toBe('STORE_UNAVAILABLE');
    expect(sts.calls).toHaveLength(1);
  }, 120_000);

  test('still denies an unauthorized caller while the store is down', async () => {
    const { h } = await failingStoreHandler(StoreFailureMode.FAIL_OPEN);
    const res = await h(event({ userArn: BOB, query: { profile: 'readonly' } }));
    expect(body(res).Code).toBe('POLICY_DENY');
    expect(sts.calls).toHaveLength(1);
  }, 120_000);
});
