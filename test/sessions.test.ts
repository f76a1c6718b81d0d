// Session management routes against DynamoDB Local: owner, administrator and stranger.
import { startLocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, ALICE, BOB, createFixture, event, SSO_CAROL, stsClient, type Fixture } from './support/tvm-fixture';

let fx: Fixture;
let sts: Awaited<ReturnType<typeof startLocalSts>>;
let handle: (e: any) => Promise<any>;
let logs: string[];
let clock: Date;

// An administrator calls through an SSO-like assumed role of the SecurityOps role named in adminPrincipals.
const ADMIN_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SecurityOps/jane`;
const body = (res: any) => JSON.parse(res.body);
const item = (id: string) => fx.item(id);

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(() => {
  logs = [];
  clock = new Date('2036-03-01T10:00:00.000Z');
  handle = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(JSON.stringify(l)) });
});

async function vend(userArn = ALICE, profile = 'readonly'): Promise<string> {
  clock = new Date(clock.getTime() + 1000); // distinct created_at, so that "newest first" is observable
  const res = await handle(event({ userArn, query: { profile } }));
  expect(res.statusCode).toBe(200);
  return body(res).SessionId;
}

/** `raw` null sends no body at all. */
const revoke = (id: string, userArn: string, raw: string | null = JSON.stringify({ reason: 'laptop stolen' })) =>
  handle(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn, body: raw ?? undefined }));

describe('GET /sessions/{id}', () => {
  test('the owner and an administrator read the record, which holds no credentials', async () => {
    const id = await vend();
    for (const caller of [ALICE, ADMIN_SESSION, ADMIN]) {
      const res = await handle(event({ path: `/sessions/${id}`, userArn: caller }));
      expect(res.statusCode).toBe(200);
      expect(body(res).Session).toMatchObject({
        id, user: 'alice', principal_arn: ALICE, profile: 'readonly', status: 'active', effective_status: 'active', request_count: 1,
      });
      expect(res.body).not.toMatch(/AccessKeyId|SecretAccessKey|Token|ASIA/);
    }
  });

  test('reports an active session past its expiry as effectively expired', async () => {
    const id = await vend();
    clock = new Date(clock.getTime() + 13 * 3600 * 1000);
    const res = await handle(event({ path: `/sessions/${id}` }));
    expect(body(res).Session).toMatchObject({ status: 'active', effective_status: 'expired' });
  });

  test.each([
    ['someone else asks', () => ({ userArn: SSO_CAROL }), 403, 'SESSION_FORBIDDEN'],
    ['the id is malformed', () => ({ path: '/sessions/NOT-AN-ID' }), 400, 'INVALID_SESSION_ID'],
    ['the session does not exist', () => ({ path: '/sessions/00000000deadbeef' }), 404, 'SESSION_NOT_FOUND'],
    ['a query string is added', () => ({ query: { x: '1' } }), 400, 'INVALID_REQUEST'],
  ])('fails when %s', async (_name, opts, status, code) => {
    const id = await vend();
    const res = await handle(event({ path: `/sessions/${id}`, ...opts() }));
    expect(res.statusCode).toBe(status);
    expect(body(res).Code).toBe(code);
  });
});

describe('DELETE /sessions/{id}', () => {
  test('the owner ends the session: it is expired, and the next vend starts anew', async () => {
    const id = await vend();

    const res = await handle(event({ method: 'DELETE', path: `/sessions/${id}` }));

    expect(res.statusCode).toBe(200);
    expect(body(res).Session).toMatchObject({ status: 'expired', ended_at: clock.toISOString(), ended_reason: 'ended by its owner' });
    const again = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    expect(body(again).Code).toBe('SESSION_EXPIRED');
  });

  test('an administrator ends anyone\'s session', async () => {
    const id = await vend();
    const res = await handle(event({ method: 'DELETE', path: `/sessions/${id}`, userArn: ADMIN_SESSION }));
    expect(res.statusCode).toBe(200);
    expect((await item(id))?.ended_reason).toBe(`ended by ${ADMIN_SESSION}`);
  });

  test('fails when the session has ended already, with 409 SESSION_NOT_ACTIVE, and changes nothing', async () => {
    const id = await vend();
    await handle(event({ method: 'DELETE', path: `/sessions/${id}` }));
    const before = await item(id);

    const res = await handle(event({ method: 'DELETE', path: `/sessions/${id}` }));

    expect(res.statusCode).toBe(409);
    expect(body(res).Code).toBe('SESSION_NOT_ACTIVE');
    expect(await item(id)).toEqual(before);
  });

  test.each([
    ['a stranger tries', { userArn: BOB }, 403, 'SESSION_FORBIDDEN'],
    ['a body is sent', { body: '{"reason":"x"}' }, 400, 'INVALID_REQUEST'],
  ])('fails when %s, and changes nothing', async (_name, opts, status, code) => {
    const id = await vend();
    const before = await item(id);
    const res = await handle(event({ method: 'DELETE', path: `/sessions/${id}`, ...opts }));
    expect(res.statusCode).toBe(status);
    expect(body(res).Code).toBe(code);
    expect(await item(id)).toEqual(before);
  });

  test('fails when the session does not exist, with 404, and creates nothing', async () => {
    const before = await fx.items();
    const res = await handle(event({ method: 'DELETE', path: '/sessions/0123456789abcdef' }));
    expect(res.statusCode).toBe(404);
    expect(await fx.items()).toEqual(before);
  });
});

describe('POST /sessions/{id}/revoke', () => {
  test('an administrator revokes: recorded with who, when and why; the owner\'s next vend is refused', async () => {
    const id = await vend();

    const res = await revoke(id, ADMIN_SESSION);

    expect(res.statusCode).toBe(200);
    expect(body(res).Session).toMatchObject({
      status: 'revoked', revoked_by: ADMIN_SESSION, revoked_reason: 'laptop stolen', revoked_at: clock.toISOString(),
    });
    expect(await item(id)).toMatchObject({ status: 'revoked', revoked_by: ADMIN_SESSION, updated_at: clock.toISOString() });
    const next = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    expect(body(next).Code).toBe('SESSION_REVOKED');
    expect(JSON.parse(logs[logs.length - 2])).toMatchObject({ action: 'revoke', admin: true, sessionId: id, decision: 'ALLOW' });
  });

  test('a base64-encoded body is read', async () => {
    const id = await vend();
    const res = await handle({
      ...event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn: ADMIN, body: Buffer.from('{"reason":"r"}').toString('base64') }),
      isBase64Encoded: true,
    });
    expect(res.statusCode).toBe(200);
  });

  test('fails when the session is not active, with 409', async () => {
    const id = await vend();
    expect((await revoke(id, ADMIN)).statusCode).toBe(200);
    const res = await revoke(id, ADMIN);
    expect(res.statusCode).toBe(409);
    expect(body(res).Code).toBe('SESSION_NOT_ACTIVE');
  });

  test('fails for the owner and for strangers, with POLICY_DENY, and changes nothing', async () => {
    const id = await vend();
    const before = await item(id);
    for (const caller of [ALICE, BOB]) {
      const res = await revoke(id, caller);
      expect(res.statusCode).toBe(403);
      expect(body(res).Code).toBe('POLICY_DENY');
    }
    expect(await item(id)).toEqual(before);
  });

  test.each([
    ['no body', null],
    ['a body that is not JSON', 'reason=x'],
    ['an empty object', '{}'],
    ['an empty reason', '{"reason":""}'],
    ['a blank reason', '{"reason":"   "}'],
    ['a reason of 257 characters', JSON.stringify({ reason: 'x'.repeat(257) })],
    ['a reason that is not a string', '{"reason":42}'],
    ['an unknown key', '{"reason":"x","status":"active"}'],
    ['an array', '["reason"]'],
  ])('fails on %s, with 400 INVALID_REQUEST, and changes nothing', async (_name, raw) => {
    const id = await vend();
    const before = await item(id);
    const res = await revoke(id, ADMIN, raw);
    expect(res.statusCode).toBe(400);
    expect(body(res).Code).toBe('INVALID_REQUEST');
    expect(await item(id)).toEqual(before);
  });

  test('a reason of 256 characters is accepted', async () => {
    const id = await vend();
    expect((await revoke(id, ADMIN, JSON.stringify({ reason: 'x'.repeat(256) }))).statusCode).toBe(200);
  });

  test('fails on a missing session with 404 and a malformed id with 400', async () => {
    expect(body(await revoke('0000000000000bad', ADMIN)).Code).toBe('SESSION_NOT_FOUND');
    expect(body(await revoke('bad', ADMIN)).Code).toBe('INVALID_SESSION_ID');
  });
});

describe('GET /sessions', () => {
  // A fresh table: the listing tests count exactly.
  beforeEach(async () => {
    fx = await createFixture();
    handle = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(JSON.stringify(l)) });
  });

  const list = async (userArn: string, query: Record<string, string> = {}) => {
    const res = await handle(event({ path: '/sessions', userArn, query }));
    return { res, b: body(res) };
  };

  test('a caller sees only their own sessions, newest first', async () => {
    const a1 = await vend(ALICE);
    await vend(BOB, 'deploy');
    const a2 = await vend(ALICE);
    // Another principal with the same user name: not alice's.
    await vend(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_1/alice`);

    const { b } = await list(ALICE);

    expect(b.Sessions.map((s: any) => s.id)).toEqual([a2, a1]);
    expect(b.NextToken).toBeUndefined();
  });

  test('an administrator filters by status, user and profile', async () => {
    const a1 = await vend(ALICE);
    const b1 = await vend(BOB, 'deploy');
    const a2 = await vend(ALICE);
    await revoke(a1, ADMIN);

    expect((await list(ADMIN)).b.Sessions.map((s: any) => s.id)).toEqual([a2, b1]);
    expect((await list(ADMIN, { status: 'revoked' })).b.Sessions.map((s: any) => s.id)).toEqual([a1]);
    expect((await list(ADMIN, { user: 'alice' })).b.Sessions.map((s: any) => s.id)).toEqual([a2, a1]);
    expect((await list(ADMIN, { user: 'alice', status: 'active' })).b.Sessions.map((s: any) => s.id)).toEqual([a2]);
    expect((await list(ADMIN, { profile: 'deploy' })).b.Sessions.map((s: any) => s.id)).toEqual([b1]);
  });

  test('pages with an opaque nextToken until every session was listed once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await vend(ALICE));

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const { res, b } = await list(ALICE, { limit: '3', ...(token ? { nextToken: token } : {}) });
      expect(res.statusCode).toBe(200);
      seen.push(...b.Sessions.map((s: any) => s.id));
      token = b.NextToken;
      if (token) expect(token).not.toMatch(/alice|created_at|"id"/);
      pages++;
    } while (token && pages < 10);

    expect(seen).toEqual([...ids].reverse());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  test('fails when the nextToken was tampered with, or is used by another caller or for another query', async () => {
    for (let i = 0; i < 3; i++) await vend(ALICE);
    const token = (await list(ALICE, { limit: '1' })).b.NextToken as string;
    const [payload, sig] = token.split('.');
    const forged = Buffer.from(Buffer.from(payload, 'base64url').toString().replace(/alice/g, 'bob')).toString('base64url');

    for (const [caller, query] of [
      [ALICE, { nextToken: `${forged}.${sig}` }],
      [ALICE, { nextToken: `${payload}.${sig.slice(1)}x` }],
      [ALICE, { nextToken: 'garbage' }],
      [ALICE, { nextToken: token, status: 'revoked' }],
      [ADMIN, { nextToken: token }],
    ] as const) {
      const { res, b } = await list(caller, query);
      expect(res.statusCode).toBe(400);
      expect(b.Code).toBe('INVALID_REQUEST');
    }
  });

  test.each([
    ['an unknown parameter', { role: 'x' }, 400, 'INVALID_REQUEST'],
    ['a bad status', { status: 'deleted' }, 400, 'INVALID_REQUEST'],
    ['a limit of 0', { limit: '0' }, 400, 'INVALID_REQUEST'],
    ['a limit of 101', { limit: '101' }, 400, 'INVALID_REQUEST'],
    ['a bad profile', { profile: 'a b' }, 400, 'INVALID_PROFILE'],
    ['a non-admin asking for another user', { user: 'bob' }, 403, 'SESSION_FORBIDDEN'],
  ])('fails on %s', async (_name, query, status, code) => {
    const { res, b } = await list(ALICE, query);
    expect(res.statusCode).toBe(status);
    expect(b.Code).toBe(code);
  });
});
