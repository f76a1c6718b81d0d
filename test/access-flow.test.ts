// Approvals and break-glass through the real handler, on DynamoDB Local, with identity proofs checked by the local STS:
// a request is a session born pending; approvals by distinct verified persons approve it; the requester's next vend
// activates it in one write; ending it early is a revocation.
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { localDynamoClient } from './support/dynamodb-local';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, createFixtureFrom, event, stsClient, type Fixture } from './support/tvm-fixture';
import { localRoleId } from '../cli/local/accounts';
import type { GetRole } from '../lambda/access/person';
import { accessRoutes } from '../lambda/access/routes';
import { powertoolsSink } from '../lambda/observability';
import { Approval, Approvers, BreakGlass, Justification, PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../src/shared/access';
import { Metrics, parseSourceIdentity } from '../src/shared/contract';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const ALICE = user('alice');
const BOB = user('approver-bob');
const CAROL = user('approver-carol');
const DANA = user('oncall-dana');
const ERIN = user('security-erin');
/** Alice through two permission sets: one person, as Identity Center shows it. */
const SSO = (permissionSet: string, name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_${permissionSet}_0123456789abcdef/${name}`;

function template(): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
  const role = new ProtectedRole(stack, 'ReadOnly', { tvm });
  tvm.addProfile('prod', {
    role,
    allowedPrincipals: [P(ALICE), P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Developers_*/*`)],
    approval: Approval.required({
      approvers: Approvers.principals([
        P(user('approver-*')),
        P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_*/*`),
        P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Leads_*/*`),
      ]),
      minApprovals: 2,
      maxDuration: Duration.hours(4),
      justification: Justification.required({ minLength: 10 }),
    }),
    breakGlass: BreakGlass.allow({
      principals: [P(DANA)],
      reviewers: Approvers.principals([P(ERIN)]),
      reason: Justification.required({ minLength: 20 }),
      maxDuration: Duration.hours(1),
    }),
  });
  return app.synth().getStackByName('Fixture').template;
}

/** A role someone created with a permission set's name, at an ordinary path: anyone with iam:CreateRole can. */
const IMPOSTOR_ROLE = 'AWSReservedSSO_Approvers_ffffffffffffffff';
/** Identity Center's roles as IAM answers them in the TVM's account, and the impostor at its ordinary path. */
const getRole: GetRole = async (name) => {
  if (!name.startsWith('AWSReservedSSO_')) return undefined;
  return { path: name === IMPOSTOR_ROLE ? '/' : IDENTITY_CENTER_ROLE_PATH_PREFIX, roleId: localRoleId(ACCOUNT, name) };
};

let sts: LocalSts;
let fx: Fixture;
let handler: (e: any) => Promise<any>;
const ddb = localDynamoClient();

beforeAll(async () => {
  sts = await startLocalSts();
  fx = await createFixtureFrom(template(), ddb);
  handler = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(getRole, ACCOUNT) });
});
afterAll(async () => {
  await sts?.stop();
});

const call = async (userArn: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await handler(event({ userArn, method, path, body: body === undefined ? undefined : JSON.stringify(body), headers }));
  return { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers };
};
const vend = (userArn: string, sessionId?: string) => handler(event({
  userArn, query: { profile: 'prod' }, headers: sessionId ? { 'x-sentinel-session-id': sessionId } : {},
})).then((res: any) => ({ status: res.statusCode, body: JSON.parse(res.body), headers: res.headers }));
const request = async (userArn = ALICE, body: Record<string, unknown> = {}) => {
  const res = await call(userArn, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password', ...body });
  expect(res.status).toBe(201);
  return res.body.Request.id as string;
};

describe('GIVEN a profile that needs two approvals', () => {
  test('WHEN alice asks for credentials without a grant THEN APPROVAL_REQUIRED, and nothing is written', async () => {
    const before = await fx.items();
    const res = await vend(ALICE);
    expect(res.status).toBe(403);
    expect(res.body.Code).toBe('APPROVAL_REQUIRED');
    expect(res.body.Message).toMatch(/sentinel-tvm request/);
    expect(await fx.items()).toEqual(before);
  });

  test('WHEN alice requests THEN the request is pending, and her vend fails fast with APPROVAL_PENDING', async () => {
    const id = await request();
    expect(await fx.item(id)).toMatchObject({ status: 'pending', grant_kind: 'approval', approval_count: 0, approvals_required: 2 });
    const res = await vend(ALICE, id);
    expect(res.status).toBe(403);
    expect(res.body.Code).toBe('APPROVAL_PENDING');
    expect(res.headers['retry-after']).toBe('30');
    expect(sts.calls.filter((c) => c.roleSessionName.includes(id))).toEqual([]);
  });

  test('WHEN a second request is filed while one is open THEN REQUEST_EXISTS names the open one', async () => {
    const res = await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password' });
    expect(res.status).toBe(409);
    expect(res.body.Code).toBe('REQUEST_EXISTS');
  });

  test('WHEN two approvers approve THEN the grant is approved, and alice\'s next vend activates it with the a marker', async () => {
    const id = (await call(ALICE, 'GET', '/requests')).body.Requests.find((r: any) => r.status === 'pending').id;
    const first = await call(BOB, 'POST', `/requests/${id}/approve`, { comment: 'ok' });
    expect(first.status).toBe(200);
    expect(first.body.Request).toMatchObject({ status: 'pending', approval_count: 1 });
    expect((await call(BOB, 'POST', `/requests/${id}/approve`)).body.Code).toBe('DUPLICATE_APPROVAL');
    const second = await call(CAROL, 'POST', `/requests/${id}/approve`);
    expect(second.body.Request).toMatchObject({ status: 'approved', approval_count: 2 });

    const res = await vend(ALICE, id);
    expect(res.status).toBe(200);
    const item = await fx.item(id);
    expect(item).toMatchObject({ status: 'active', request_count: 1 });
    expect(item!.activated_at).toBeDefined();
    // Credentials never outlive the window.
    expect(Date.parse(res.body.Expiration)).toBeLessThanOrEqual(Date.parse(item!.expires_at) - 30_000);
    const assumed = sts.calls.filter((c) => c.roleSessionName.includes(id));
    expect(parseSourceIdentity(assumed[0].sourceIdentity)).toMatchObject({ sessionId: id, kind: 'a' });

    // Withdrawn by an approver: revoked, and the next vend is refused.
    const withdrawn = await call(BOB, 'POST', `/requests/${id}/withdraw`, { reason: 'incident closed' });
    expect(withdrawn.body.Request).toMatchObject({ status: 'revoked', revoked_kind: 'approval_withdrawn' });
    expect((await vend(ALICE, id)).body.Code).toBe('SESSION_REVOKED');
  });

  test('WHEN the requester approves her own request through an approver permission set THEN SELF_APPROVAL_FORBIDDEN', async () => {
    const id = await request(SSO('Developers', 'Alice.Smith'));
    const res = await call(SSO('Approvers', 'alice.smith'), 'POST', `/requests/${id}/approve`);
    expect(res.status).toBe(403);
    expect(res.body.Code).toBe('SELF_APPROVAL_FORBIDDEN');
    expect(await fx.item(id)).toMatchObject({ status: 'pending', approval_count: 0 });
  });

  test('WHEN a session of a role named like a permission set\'s, outside Identity Center\'s path, approves THEN APPROVER_UNVERIFIED', async () => {
    const id = (await call(SSO('Developers', 'Alice.Smith'), 'GET', '/requests')).body.Requests[0].id;
    const impostor = `arn:aws:sts::${ACCOUNT}:assumed-role/${IMPOSTOR_ROLE}/bob`;
    const res = await call(impostor, 'POST', `/requests/${id}/approve`);
    expect(res.status).toBe(403);
    expect(res.body.Code).toBe('APPROVER_UNVERIFIED');
    expect(await fx.item(id)).toMatchObject({ status: 'pending', approval_count: 0 });
  });

  test('WHEN one person approves through two permission sets THEN the approval counts once', async () => {
    const id = (await call(SSO('Developers', 'Alice.Smith'), 'GET', '/requests')).body.Requests[0].id;
    expect((await call(SSO('Approvers', 'carol'), 'POST', `/requests/${id}/approve`)).body.Request.approval_count).toBe(1);
    const again = await call(SSO('Leads', 'Carol'), 'POST', `/requests/${id}/approve`);
    expect(again.body.Code).toBe('DUPLICATE_APPROVAL');
    expect(await fx.item(id)).toMatchObject({ status: 'pending', approval_count: 1 });
  });

  test('WHEN someone who is no approver approves THEN the request is not found for them, and unchanged', async () => {
    const id = (await call(SSO('Developers', 'Alice.Smith'), 'GET', '/requests')).body.Requests[0].id;
    const res = await call(DANA, 'POST', `/requests/${id}/approve`);
    expect(res.body.Code).toBe('REQUEST_NOT_FOUND');
    expect(await fx.item(id)).toMatchObject({ status: 'pending', approval_count: 1 });
  });

  test('WHEN a table writer approves a pending request by writing the item THEN the vend refuses it and revokes it', async () => {
    const id = await request(SSO('Developers', 'mallory'));
    const forged = new Date(Date.now() + 8 * 3600_000).toISOString();
    await ddb.send(new UpdateItemCommand({
      TableName: fx.tableName,
      Key: { id: { S: id } },
      UpdateExpression: 'SET #s = :approved, expires_at = :exp, grant_mac = :mac',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':approved': { S: 'approved' }, ':exp': { S: forged }, ':mac': { S: 'k1.forged' } },
    }));
    const res = await vend(SSO('Developers', 'mallory'), id);
    expect(res.status).toBe(403);
    expect(res.body.Code).toBe('APPROVAL_INVALID');
    expect(await fx.item(id)).toMatchObject({ status: 'revoked', revoked_kind: 'integrity' });
    expect(sts.calls.filter((c) => c.roleSessionName.includes(id))).toEqual([]);
  });
});

describe('GIVEN break-glass on the profile', () => {
  test('WHEN dana breaks glass THEN she gets credentials at once, marked b, and her next use waits for a review', async () => {
    const started = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'prod is down and nobody can approve' });
    expect(started.status).toBe(201);
    const id = started.body.Request.id;
    const res = await vend(DANA, id);
    expect(res.status).toBe(200);
    const assumed = sts.calls.filter((c) => c.roleSessionName.includes(id));
    expect(parseSourceIdentity(assumed[0].sourceIdentity)).toMatchObject({ sessionId: id, kind: 'b' });

    const again = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'prod is down again, still nobody there' });
    expect(again.status).toBe(409);
    expect(again.body.Code).toBe('BREAK_GLASS_REVIEW_PENDING');
    expect(again.body.Message).toContain(id);

    expect((await call(DANA, 'POST', `/sessions/${id}/review`, { outcome: 'accepted', note: 'fine' })).body.Code).toBe('APPROVER_NOT_ELIGIBLE');
    const reviews = await call(ERIN, 'GET', '/reviews');
    expect(reviews.body.Reviews.map((r: any) => r.id)).toContain(id);
    const reviewed = await call(ERIN, 'POST', `/sessions/${id}/review`, { outcome: 'accepted', note: 'justified outage' });
    expect(reviewed.status).toBe(200);
    expect(reviewed.body.Request).toMatchObject({ review_outcome: 'accepted', reviewed_by: ERIN });
    const next = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'prod is down a third time today' });
    expect(next.status).toBe(201);
  });

  test('WHEN someone not allowed breaks glass THEN BREAK_GLASS_NOT_ALLOWED, as for an unknown profile', async () => {
    const res = await call(ALICE, 'POST', '/breakglass', { profile: 'prod', reason: 'I would like to be admin for a while' });
    const unknown = await call(ALICE, 'POST', '/breakglass', { profile: 'nope', reason: 'I would like to be admin for a while' });
    expect([res.body.Code, unknown.body.Code]).toEqual(['BREAK_GLASS_NOT_ALLOWED', 'BREAK_GLASS_NOT_ALLOWED']);
  });
});

describe('GIVEN the decision log\'s metrics', () => {
  test('WHEN someone breaks glass and a forged grant is presented THEN BreakGlassInvocations and IntegrityFailures are counted', async () => {
    const out: string[] = [];
    const capture = (chunk: unknown) => {
      out.push(String(chunk));
      return true;
    };
    const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
    try {
      const logged = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(getRole, ACCOUNT), log: powertoolsSink() });
      const run = (userArn: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
        logged(event({ userArn, method, path, body: body === undefined ? undefined : JSON.stringify(body), headers }));
      await call(ERIN, 'POST', `/sessions/${(await call(DANA, 'GET', '/requests')).body.Requests[0].id}/review`, { outcome: 'accepted', note: 'ok' });
      expect((await run(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'prod is down once more, nobody answers' })).statusCode).toBe(201);
      const id = await request(SSO('Developers', 'trudy'));
      await ddb.send(new UpdateItemCommand({
        TableName: fx.tableName,
        Key: { id: { S: id } },
        UpdateExpression: 'SET #s = :a, expires_at = :e',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':a': { S: 'approved' }, ':e': { S: new Date(Date.now() + 3600_000).toISOString() } },
      }));
      const forged = await logged(event({ userArn: SSO('Developers', 'trudy'), query: { profile: 'prod' }, headers: { 'x-sentinel-session-id': id } }));
      expect(JSON.parse(forged.body).Code).toBe('APPROVAL_INVALID');
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    const emf = out.join('').split('\n').filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
    const counted = (name: string) => emf.filter((m) => m._aws.CloudWatchMetrics.some((d: any) => d.Metrics.some((x: any) => x.Name === name)))
      .reduce((sum, m) => sum + m[name], 0);
    expect(counted(Metrics.BREAK_GLASS_INVOCATIONS)).toBe(1);
    expect(counted(Metrics.INTEGRITY_FAILURES)).toBe(1);
  });
});
