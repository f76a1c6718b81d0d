// The pitfalls of approvals and break-glass that peers fall into, each tried against the real handler on DynamoDB Local
// with a clock the test moves: credentials outliving a grant, overlapping grants, a table writer minting or widening a
// grant, eligibility removed, break-glass abuse, approving the wrong thing, races, deadlines, access windows.
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { identityProof } from '../cli/proof';
import { instrumentedDynamoClient, localDynamoClient } from './support/dynamodb-local';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, createFixtureFrom, deployConfig, event, stsClient, type Fixture } from './support/tvm-fixture';
import { GrantStore } from '../lambda/access/grants';
import { sweep } from '../lambda/access/lifecycle';
import { accessRoutes } from '../lambda/access/routes';
import { IdentityVerifier } from '../lambda/auth/proof';
import { liveUntil } from '../lambda/enforcer/enforce';
import { createHandler } from '../lambda/handler';
import { loadConfig } from '../lambda/profiles';
import { readSettings } from '../lambda/settings';
import {
  Approval, Approvers, BreakGlass, Justification, PrincipalPattern, ProtectedRole, SentinelTvm, TimeWindow, Weekday,
} from '../src';
import { Env, IdentityProof } from '../src/shared/contract';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const ALICE = user('alice');
const MALLORY = user('mallory');
const BOB = user('approver-bob');
const CAROL = user('approver-carol');
const DANA = user('oncall-dana');
const ERIN = user('security-erin');
/** Monday 2026-12-07 10:00 UTC. */
const MONDAY_10 = Date.parse('2026-12-07T10:00:00Z');
const MINUTE = 60_000;

interface Options {
  readonly requesters?: string[];
  readonly minApprovals?: number;
  /** The standing profile 'office' needs approval too. */
  readonly gateOffice?: boolean;
}

function template(o: Options = {}): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
  const role = new ProtectedRole(stack, 'ReadOnly', { tvm });
  const windowed = new ProtectedRole(stack, 'Windowed', { tvm });
  tvm.addProfile('prod', {
    role,
    allowedPrincipals: (o.requesters ?? [ALICE, MALLORY]).map(P),
    approval: Approval.required({
      approvers: Approvers.principals([P(user('approver-*'))]),
      minApprovals: o.minApprovals ?? 2,
      maxDuration: Duration.hours(2),
      pendingTimeout: Duration.hours(1),
      maxScheduleAhead: Duration.days(1),
      justification: Justification.required({ minLength: 10 }),
    }),
    breakGlass: BreakGlass.allow({
      principals: [P(DANA)],
      reviewers: Approvers.principals([P(ERIN)]),
      maxDuration: Duration.hours(1),
      cooldown: Duration.hours(1),
      requireReviewBeforeNext: false,
    }),
  });
  tvm.addProfile('office', {
    role: windowed,
    allowedPrincipals: [P(ALICE)],
    ...(o.gateOffice ? { approval: Approval.required({ approvers: Approvers.principals([P(user('approver-*'))]) }) } : {}),
    accessWindows: [TimeWindow.weekly({
      timeZone: 'UTC', days: [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY], start: '09:00', end: '17:00',
    })],
  });
  return app.synth().getStackByName('Fixture').template;
}

let sts: LocalSts;
let fx: Fixture;
let clock = MONDAY_10;
const now = () => new Date(clock);
const commands: string[] = [];
let handler: (e: any) => Promise<any>;

beforeAll(async () => {
  sts = await startLocalSts();
  const ddb = instrumentedDynamoClient({ tableName: () => fx.tableName, record: (c) => commands.push(c), failGetItem: () => false });
  fx = await createFixtureFrom(template(), ddb);
  handler = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(async () => undefined, ACCOUNT), now });
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(() => {
  clock = MONDAY_10;
});

const call = async (userArn: string, method: string, path: string, body?: unknown) => {
  const res = await handler(event({ userArn, method, path, body: body === undefined ? undefined : JSON.stringify(body) }));
  return { status: res.statusCode as number, body: JSON.parse(res.body), headers: res.headers as Record<string, string> };
};
const vend = async (userArn: string, sessionId?: string, profile = 'prod', duration?: number) => {
  const res = await handler(event({
    userArn,
    query: { profile, ...(duration ? { duration: String(duration) } : {}) },
    headers: sessionId ? { 'x-sentinel-session-id': sessionId } : {},
  }));
  return { status: res.statusCode as number, body: JSON.parse(res.body), headers: res.headers as Record<string, string> };
};
/** A request by `who`, approved by bob and carol; returns its id. */
const approvedGrant = async (who = ALICE, body: Record<string, unknown> = {}) => {
  const req = await call(who, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password', durationSeconds: 3600, ...body });
  expect(req.status).toBe(201);
  const id = req.body.Request.id;
  expect((await call(BOB, 'POST', `/requests/${id}/approve`)).status).toBe(200);
  expect((await call(CAROL, 'POST', `/requests/${id}/approve`)).body.Request.status).toBe('approved');
  return id as string;
};
const assumedFor = (id: string) => sts.calls.filter((c) => c.roleSessionName.includes(id));

describe('P1: the end of a grant ends its credentials', () => {
  test('WHEN a grant is vended 30 minutes before its window ends THEN the credentials end 30 s before the window, not later', async () => {
    const id = await approvedGrant();
    const expiresAt = Date.parse((await fx.item(id))!.expires_at);
    expect(expiresAt).toBe(MONDAY_10 + 3600_000);
    clock = expiresAt - 30 * MINUTE;
    const res = await vend(ALICE, id, 'prod', 3600);
    expect(res.status).toBe(200);
    expect(assumedFor(id).at(-1)!.durationSeconds).toBe(30 * 60 - 30);
    expect((await fx.item(id))!.credentials_expire_at).toBe(new Date(expiresAt).toISOString());

    clock = expiresAt - 15 * MINUTE;
    expect((await vend(ALICE, id)).body.Code).toBe('SESSION_EXPIRED');
  });

  test('WHEN a grant is activated THEN the vend is one DynamoDB request, as any continued session', async () => {
    const id = await approvedGrant();
    commands.length = 0;
    expect((await vend(ALICE, id)).status).toBe(200);
    expect(commands).toEqual(['UpdateItemCommand']);
    commands.length = 0;
    expect((await vend(ALICE, id)).status).toBe(200);
    expect(commands).toEqual(['UpdateItemCommand']);
  });
});

describe('P2: overlapping grants of one person stay independent', () => {
  test('WHEN one of two grants is withdrawn THEN the other one still vends', async () => {
    const first = await approvedGrant();
    const second = await approvedGrant();
    expect((await vend(ALICE, first)).status).toBe(200);
    expect((await vend(ALICE, second)).status).toBe(200);
    expect((await call(BOB, 'POST', `/requests/${first}/withdraw`, { reason: 'done' })).body.Request.status).toBe('revoked');
    expect((await vend(ALICE, first)).body.Code).toBe('SESSION_REVOKED');
    expect((await vend(ALICE, second)).status).toBe(200);
    expect((await fx.item(second))!.status).toBe('active');
  });
});

describe('P3: a table writer cannot mint or widen a grant', () => {
  const write = (id: string, set: string, values: Record<string, any>) => localDynamoClient().send(new UpdateItemCommand({
    TableName: fx.tableName, Key: { id: { S: id } }, UpdateExpression: set, ExpressionAttributeValues: values,
  }));

  test.each([
    ['lengthens its window', (id: string) => write(id, 'SET expires_at = :e', { ':e': { S: new Date(MONDAY_10 + 8 * 3600_000).toISOString() } }), ALICE],
    ['adds an approver', (id: string) => write(id, 'SET approvals.fake = :a', { ':a': { M: { arn: { S: MALLORY } } } }), ALICE],
    ['hands it to someone else', (id: string) => write(id, 'SET principal_arn = :p REMOVE principal_id', { ':p': { S: MALLORY } }), MALLORY],
    ['changes the kind its CloudTrail marker shows', (id: string) => write(id, 'SET source_identity = :s', { ':s': { S: `sentinel.${id}.s.alice` } }), ALICE],
  ])('WHEN a writer %s THEN the vend refuses it (APPROVAL_INVALID), revokes it, and no credentials are issued', async (_what, tamper, who) => {
    const id = await approvedGrant();
    await tamper(id);
    const res = await vend(who, id);
    expect(res.body.Code).toBe('APPROVAL_INVALID');
    expect(await fx.item(id)).toMatchObject({ status: 'revoked', revoked_kind: 'integrity' });
    expect(assumedFor(id)).toEqual([]);
  });
});

describe('P7, P8: a grant is used once, and gated profiles never fall through to issuance', () => {
  test('WHEN a grant was revoked THEN a vend without a session needs approval again, and the old id is refused', async () => {
    const id = await approvedGrant();
    await call(BOB, 'POST', `/requests/${id}/withdraw`, { reason: 'no longer needed' });
    expect((await vend(ALICE)).body.Code).toBe('APPROVAL_REQUIRED');
    expect((await vend(ALICE, id)).body.Code).toBe('SESSION_REVOKED');
  });

  test('WHEN a standing session of the profile (from before it was gated) is continued THEN APPROVAL_REQUIRED, no credentials', async () => {
    const standing = (await vend(ALICE, undefined, 'office')).body.SessionId;
    // As if the item had been written on 'prod' before the profile was gated.
    await localDynamoClient().send(new UpdateItemCommand({
      TableName: fx.tableName,
      Key: { id: { S: standing } },
      UpdateExpression: 'SET profile = :p, role_arn = :r',
      ExpressionAttributeValues: { ':p': { S: 'prod' }, ':r': { S: `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly` } },
    }));
    const before = assumedFor(standing).length;
    expect((await vend(ALICE, standing)).body.Code).toBe('APPROVAL_REQUIRED');
    expect(assumedFor(standing).length).toBe(before);
  });

  test('WHEN a pending request\'s id is presented THEN no credentials, whatever the caller', async () => {
    const req = await call(MALLORY, 'POST', '/requests', { profile: 'prod', reason: 'I need prod for a while' });
    const id = req.body.Request.id;
    expect((await vend(MALLORY, id)).body.Code).toBe('APPROVAL_PENDING');
    expect((await vend(ALICE, id)).body.Code).toBe('SESSION_FORBIDDEN');
    expect((await vend(DANA, id)).body.Code).toBe('SESSION_FORBIDDEN');
    expect(assumedFor(id)).toEqual([]);
    await call(MALLORY, 'POST', `/requests/${id}/cancel`);
  });
});

describe('P9: a grant does not survive its holder\'s eligibility', () => {
  test('WHEN alice leaves the profile THEN her next vend is refused and the sweep revokes her grant', async () => {
    const id = await approvedGrant();
    expect((await vend(ALICE, id)).status).toBe(200);
    // The same tables, a new configuration without alice (as a deploy writes it next to the old one).
    const digest = await deployConfig(template({ requesters: [MALLORY] }), localDynamoClient(),
      { tableName: fx.tableName, controlTableName: fx.controlTableName });
    const config = await loadConfig(localDynamoClient(), fx.controlTableName, digest);
    const changed = handlerFor(digest);
    expect((await changed(ALICE, { query: { profile: 'prod' }, headers: { 'x-sentinel-session-id': id } })).body.Code).toBe('POLICY_DENY');
    const result = await sweep({ grants: new GrantStore(localDynamoClient(), fx.tableName, fx.controlTableName), config: async () => config, now });
    expect(result.eligibilityRevoked).toBeGreaterThanOrEqual(1);
    expect(await fx.item(id)).toMatchObject({ status: 'revoked', revoked_kind: 'eligibility_removed' });
  });
});

/** A handler of the same tables under another configuration (its digest), as a deploy of a changed configuration runs it. */
function handlerFor(digest: string) {
  const settings = readSettings({ ...fx.env, [Env.CONFIG_DIGEST]: digest });
  const h = createHandler({
    settings,
    ddb: localDynamoClient(),
    sts: stsClient(sts.endpoint),
    now,
    log: () => undefined,
    routes: accessRoutes(async () => undefined, ACCOUNT),
    verifier: new IdentityVerifier({ audiences: settings.audiences, region: 'us-east-1', endpoint: sts.endpoint, now }),
  });
  return async (userArn: string, o: { method?: string; path?: string; query?: Record<string, string>; headers?: Record<string, string> }) => {
    const proof = await identityProof(sts.principal(userArn), 'us-east-1', settings.audiences[0], now());
    const res = await h(event({ userArn, ...o, headers: { ...o.headers, [IdentityProof.HEADER]: proof } }));
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };
}

describe('A profile that becomes gated', () => {
  test('WHEN a standing session of it is continued THEN APPROVAL_REQUIRED, and the sweep revokes it so that its credentials are denied', async () => {
    const standing = (await vend(ALICE, undefined, 'office')).body.SessionId;
    const digest = await deployConfig(template({ gateOffice: true }), localDynamoClient(),
      { tableName: fx.tableName, controlTableName: fx.controlTableName });
    const gated = handlerFor(digest);
    expect((await gated(ALICE, { query: { profile: 'office' }, headers: { 'x-sentinel-session-id': standing } })).body.Code)
      .toBe('APPROVAL_REQUIRED');
    const config = await loadConfig(localDynamoClient(), fx.controlTableName, digest);
    await sweep({ grants: new GrantStore(localDynamoClient(), fx.tableName, fx.controlTableName), config: async () => config, now });
    const item = (await fx.item(standing))!;
    expect(item).toMatchObject({ status: 'revoked', revoked_kind: 'eligibility_removed' });
    expect(liveUntil(await rawItem(standing))).toBeGreaterThan(clock);
  });
});

describe('P10: break-glass cannot be repeated, silent or long', () => {
  test('WHEN 20 break-glass attempts race THEN exactly one session starts, the others meet the cooldown with Retry-After', async () => {
    clock = MONDAY_10 + 24 * 3600_000;
    const results = await Promise.all(Array.from({ length: 20 }, () => call(DANA, 'POST', '/breakglass',
      { profile: 'prod', reason: 'the database is down and nobody answers' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    const refused = results.filter((r) => r.status !== 201);
    expect(new Set(refused.map((r) => r.body.Code))).toEqual(new Set(['BREAK_GLASS_COOLDOWN']));
    expect(Number(refused[0].headers['retry-after'])).toBeGreaterThan(3500);
    clock += 3600_000 + 1000;
    expect((await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'the database is down again, an hour later' })).status).toBe(201);
  });

  test('WHEN break-glass asks for more than its maximum THEN it is refused and nothing is written', async () => {
    const before = (await fx.items()).length;
    const res = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'the database is down for a day', durationSeconds: 7200 });
    expect(res.body.Code).toBe('INVALID_DURATION');
    expect((await fx.items()).length).toBe(before);
  });
});

describe('P11: approving the wrong thing', () => {
  test('WHEN the approver was shown another request THEN 412 REQUEST_CHANGED, and nothing changes', async () => {
    const a = await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'read the audit tables today' });
    const b = await call(MALLORY, 'POST', '/requests', { profile: 'prod', reason: 'drop the audit tables today' });
    const res = await call(BOB, 'POST', `/requests/${b.body.Request.id}/approve`, { expectedDigest: a.body.Request.digest });
    expect(res.status).toBe(412);
    expect(res.body.Code).toBe('REQUEST_CHANGED');
    expect((await fx.item(b.body.Request.id))!.approval_count).toBe(0);
    const ok = await call(BOB, 'POST', `/requests/${a.body.Request.id}/approve`, { expectedDigest: a.body.Request.digest });
    expect(ok.status).toBe(200);
    await call(ALICE, 'POST', `/requests/${a.body.Request.id}/cancel`);
    await call(MALLORY, 'POST', `/requests/${b.body.Request.id}/cancel`);
  });

  test('WHEN the profile\'s approval policy changed since the request THEN REQUEST_STALE', async () => {
    const req = await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password' });
    const id = req.body.Request.id;
    const digest = await deployConfig(template({ minApprovals: 1 }), localDynamoClient(),
      { tableName: fx.tableName, controlTableName: fx.controlTableName });
    const res = await handlerFor(digest)(BOB, { method: 'POST', path: `/requests/${id}/approve` });
    expect(res.body.Code).toBe('REQUEST_STALE');
    await call(ALICE, 'POST', `/requests/${id}/cancel`);
  });
});

describe('P12: races between approvals, cancel, activation and withdrawal', () => {
  test('WHEN ten approvers approve a two-approval request at once THEN exactly two approvals count and it is approved once', async () => {
    const req = await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password' });
    const id = req.body.Request.id;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => call(user(`approver-${i}`), 'POST', `/requests/${id}/approve`)));
    const item = (await fx.item(id))!;
    expect(item.status).toBe('approved');
    expect(item.approval_count).toBe(2);
    expect(Object.keys(item.approvals)).toHaveLength(2);
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    for (const r of results.filter((x) => x.status !== 200)) expect(['REQUEST_NOT_PENDING', 'RATE_LIMITED']).toContain(r.body.Code);
    await call(ALICE, 'POST', `/requests/${id}/cancel`);
  });

  test('WHEN activation and withdrawal race THEN either no credentials, or the withdrawal lands on an active grant', async () => {
    const id = await approvedGrant();
    const [v, w] = await Promise.all([vend(ALICE, id), call(BOB, 'POST', `/requests/${id}/withdraw`, { reason: 'race' })]);
    const item = (await fx.item(id))!;
    expect(item.status).toBe('revoked');
    if (v.status === 200) expect(item.activated_at).toBeDefined();
    else expect(assumedFor(id)).toEqual([]);
    expect(w.status).toBe(200);
    // The enforcer denies exactly the grants that had credentials.
    expect(liveUntil(await rawItem(id)) > clock).toBe(v.status === 200);
  });
});

const rawItem = async (id: string) => (await localDynamoClient().send(new GetItemCommand({
  TableName: fx.tableName, Key: { id: { S: id } }, ConsistentRead: true,
}))).Item!;

describe('P13: each deadline from its own start', () => {
  test('WHEN approval comes after the request\'s deadline THEN it is refused, and the sweep records the request expired', async () => {
    const req = await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password' });
    const id = req.body.Request.id;
    clock += 61 * MINUTE;
    expect((await call(BOB, 'POST', `/requests/${id}/approve`)).body.Code).toBe('REQUEST_NOT_PENDING');
    const config = await loadConfig(localDynamoClient(), fx.controlTableName, fx.configDigest);
    await sweep({ grants: new GrantStore(localDynamoClient(), fx.tableName, fx.controlTableName), config: async () => config, now });
    expect(await fx.item(id)).toMatchObject({ status: 'expired', ended_reason: 'request_timeout' });
    expect((await vend(ALICE, id)).body.Code).toBe('REQUEST_EXPIRED');
  });

  test('WHEN a grant is scheduled THEN its window starts at the scheduled time, and a vend before it is NOT_YET_VALID', async () => {
    const start = new Date(MONDAY_10 + 3 * 3600_000).toISOString();
    const id = await approvedGrant(ALICE, { notBefore: start });
    expect((await fx.item(id))!.expires_at).toBe(new Date(MONDAY_10 + 4 * 3600_000).toISOString());
    const early = await vend(ALICE, id);
    expect(early.body.Code).toBe('NOT_YET_VALID');
    expect(early.headers['retry-after']).toBe(String(3 * 3600));
    clock = Date.parse(start);
    expect((await vend(ALICE, id)).status).toBe(200);
  });
});

describe('P14: access windows', () => {
  test('WHEN alice vends outside the profile\'s hours THEN OUTSIDE_ACCESS_WINDOW with Retry-After to the next opening, nothing written', async () => {
    clock = Date.parse('2026-12-05T12:00:00Z'); // a Saturday
    const before = (await fx.items()).length;
    const res = await vend(ALICE, undefined, 'office');
    expect(res.body.Code).toBe('OUTSIDE_ACCESS_WINDOW');
    expect(res.headers['retry-after']).toBe(String(Date.parse('2026-12-07T09:00:00Z') / 1000 - clock / 1000));
    expect((await fx.items()).length).toBe(before);
  });

  test('WHEN alice vends 40 minutes before the window closes THEN her credentials end 30 s before it closes', async () => {
    clock = Date.parse('2026-12-07T16:20:00Z');
    const res = await vend(ALICE, undefined, 'office', 3600);
    expect(res.status).toBe(200);
    expect(assumedFor(res.body.SessionId)[0].durationSeconds).toBe(40 * 60 - 30);
    clock = Date.parse('2026-12-07T16:50:00Z');
    expect((await vend(ALICE, res.body.SessionId, 'office')).body.Code).toBe('OUTSIDE_ACCESS_WINDOW');
  });
});

describe('P17: grants never used take no room in the deny', () => {
  test('WHEN an approved grant is withdrawn before its first use THEN the enforcer sees no live credentials for it', async () => {
    const unused = await approvedGrant();
    await call(BOB, 'POST', `/requests/${unused}/withdraw`, { reason: 'not needed after all' });
    expect(liveUntil(await rawItem(unused))).toBe(0);
    const used = await approvedGrant();
    await vend(ALICE, used);
    await call(BOB, 'POST', `/requests/${used}/withdraw`, { reason: 'done' });
    expect(liveUntil(await rawItem(used))).toBe(Date.parse((await fx.item(used))!.expires_at));
  });
});

describe('Ending a grant early through the session routes', () => {
  test('WHEN its owner deletes an active grant THEN it is revoked (owner_ended), so that its credentials are denied', async () => {
    const id = await approvedGrant();
    await vend(ALICE, id);
    expect((await call(MALLORY, 'DELETE', `/sessions/${id}`)).body.Code).toBe('SESSION_FORBIDDEN');
    const res = await call(ALICE, 'DELETE', `/sessions/${id}`);
    expect(res.status).toBe(200);
    expect(await fx.item(id)).toMatchObject({ status: 'revoked', revoked_kind: 'owner_ended', revoked_by: ALICE });
    expect(liveUntil(await rawItem(id))).toBeGreaterThan(clock);
  });

  test('WHEN an administrator revokes a grant approved but never used THEN it is revoked (admin), with no credentials to deny', async () => {
    const id = await approvedGrant();
    const res = await call(ADMIN, 'POST', `/sessions/${id}/revoke`, { reason: 'suspicious request' });
    expect(res.status).toBe(200);
    expect(await fx.item(id)).toMatchObject({ status: 'revoked', revoked_kind: 'admin' });
    expect(liveUntil(await rawItem(id))).toBe(0);
    expect((await vend(ALICE, id)).body.Code).toBe('SESSION_REVOKED');
  });
});
