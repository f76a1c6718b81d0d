// Red team of gated access: each test states what the README promises and fails while the hole exists. Driven through the
// real handler and access routes on DynamoDB Local, with identity proofs checked by the local STS; Identity Center roles
// are answered as IAM GetRole answers them in the TVM's account (the reserved path for genuine ones, '/' for one anybody
// with iam:CreateRole made). A "table writer" is any principal with dynamodb:UpdateItem on the session table.
import { BatchWriteItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { localDynamoClient } from './support/dynamodb-local';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, createFixtureFrom, deployConfig, event, stsClient, type Fixture } from './support/tvm-fixture';
import { localRoleId } from '../cli/local/accounts';
import { GrantStore } from '../lambda/access/grants';
import { sweep } from '../lambda/access/lifecycle';
import type { GetRole } from '../lambda/access/person';
import { accessRoutes } from '../lambda/access/routes';
import { loadConfig } from '../lambda/profiles';
import {
  Approval, Approvers, AutoApprove, BreakGlass, Justification, PrincipalPattern, ProtectedRole, SentinelTvm,
} from '../src';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../src/shared/access';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const sso = (set: string, name: string, suffix = '0123456789abcdef') =>
  `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_${set}_${suffix}/${name}`;
const ALICE = user('alice');
const MALLORY = user('mallory');
const BOB = user('approver-bob');
const CAROL = user('approver-carol');
const DANA = user('oncall-dana');
const ERIN = user('security-erin');
/** The hub's caller role of the README ("Callers from other accounts"), its session name pinned to the person's name. */
const CALLER_ROLE = `arn:aws:iam::${ACCOUNT}:role/PaymentsCaller`;
const ALICE_VIA_CALLER = `arn:aws:sts::${ACCOUNT}:assumed-role/PaymentsCaller/alice`;
/** A role created under a permission set's name at the default path: IAM does not stop anyone with iam:CreateRole. */
const IMPOSTOR_DEV = sso('Developers', 'alice', '0000000000000000');
const MONDAY_10 = Date.parse('2026-12-07T10:00:00Z');

function template(requesters: string[] = [ALICE, MALLORY, CALLER_ROLE]): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
  const developers = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Developers_*/*`;
  tvm.addProfile('prod', {
    role: new ProtectedRole(stack, 'ReadOnly', { tvm }),
    allowedPrincipals: [...requesters, developers].map(P),
    approval: Approval.required({
      approvers: Approvers.principals([P(user('approver-*')), P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_*/*`)]),
      minApprovals: 2,
      maxDuration: Duration.hours(2),
      justification: Justification.required({ minLength: 10 }),
      // Identity Center developers (persons, as synth insists) get short windows without an approver.
      autoApprove: [AutoApprove.forPrincipals([P(developers)], { maxDuration: Duration.hours(1) })],
    }),
    breakGlass: BreakGlass.allow({ principals: [P(DANA)], reviewers: Approvers.principals([P(ERIN)]), requireReviewBeforeNext: false }),
  });
  tvm.addProfile('office', { role: new ProtectedRole(stack, 'Windowed', { tvm }), allowedPrincipals: [P(ALICE), P(MALLORY)] });
  return app.synth().getStackByName('Fixture').template;
}

const getRole: GetRole = async (name) => {
  if (!name.startsWith('AWSReservedSSO_')) return undefined;
  return { path: name.endsWith('_0000000000000000') ? '/' : IDENTITY_CENTER_ROLE_PATH_PREFIX, roleId: localRoleId(ACCOUNT, name) };
};

let sts: LocalSts;
let fx: Fixture;
let handler: (e: any) => Promise<any>;
let clock = MONDAY_10;
const now = () => new Date(clock);
const ddb = localDynamoClient();

beforeAll(async () => {
  sts = await startLocalSts();
  fx = await createFixtureFrom(template(), ddb);
  handler = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(getRole, ACCOUNT), now });
});
afterAll(async () => {
  await sts?.stop();
});
// A day later for each test: the requests earlier tests left pending are past their deadline, not "open".
beforeEach(() => {
  clock += 25 * 3600_000;
});

const call = async (userArn: string, method: string, path: string, body?: unknown) => {
  const res = await handler(event({ userArn, method, path, body: body === undefined ? undefined : JSON.stringify(body) }));
  return { status: res.statusCode as number, body: JSON.parse(res.body) };
};
const vend = async (userArn: string, sessionId?: string, profile = 'prod') => {
  const res = await handler(event({ userArn, query: { profile }, headers: sessionId ? { 'x-sentinel-session-id': sessionId } : {} }));
  return { status: res.statusCode as number, body: JSON.parse(res.body) };
};
const request = async (who: string, body: Record<string, unknown> = {}) => {
  const res = await call(who, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password', durationSeconds: 3600, ...body });
  expect(res.status).toBe(201);
  return res.body.Request.id as string;
};
const approved = async (who = ALICE) => {
  const id = await request(who);
  expect((await call(BOB, 'POST', `/requests/${id}/approve`)).status).toBe(200);
  expect((await call(CAROL, 'POST', `/requests/${id}/approve`)).body.Request.status).toBe('approved');
  return id;
};
const write = (id: string, update: string, values?: Record<string, AttributeValue>, names?: Record<string, string>) =>
  ddb.send(new UpdateItemCommand({
    TableName: fx.tableName, Key: { id: { S: id } }, UpdateExpression: update, ExpressionAttributeValues: values, ExpressionAttributeNames: names,
  }));

describe('R1: a table writer changes a pending request, then one approval seals what the writer made', () => {
  test.each([
    ['lowers the quorum to one approval', (id: string) => write(id, 'SET approvals_required = :one', { ':one': { N: '1' } }), ALICE, [BOB]],
    ['counts an approval nobody gave', (id: string) => write(id, 'SET approval_count = :one', { ':one': { N: '1' } }), ALICE, [BOB]],
    ['hands the request to mallory (its SourceIdentity still names alice)',
      (id: string) => write(id, 'SET principal_arn = :m, #u = :u REMOVE principal_id',
        { ':m': { S: MALLORY }, ':u': { S: 'mallory' } }, { '#u': 'user' }),
      MALLORY, [BOB, CAROL]],
  ])('refuses credentials WHEN a writer %s before the approvers approve', async (_what, tamper, holder, approvers) => {
    const id = await request(ALICE);
    await tamper(id);
    for (const approver of approvers) await call(approver, 'POST', `/requests/${id}/approve`);
    // With a quorum of two persons and one approval, or a request alice filed, nobody but alice may get credentials.
    const res = await vend(holder, id);
    expect(res.status).not.toBe(200);
  });

  test('refuses a window longer than the policy\'s maxDuration WHEN a writer lengthened the request before its approval', async () => {
    const id = await request(ALICE);
    await write(id, 'SET requested_seconds = :s', { ':s': { N: String(30 * 24 * 3600) } });
    // The request's seal no longer holds: no approval counts for it, and the grant never exists.
    expect((await call(BOB, 'POST', `/requests/${id}/approve`)).body.Code).toBe('APPROVAL_INVALID');
    expect((await call(CAROL, 'POST', `/requests/${id}/approve`)).body.Code).toBe('APPROVAL_INVALID');
    expect(await fx.item(id)).toMatchObject({ status: 'pending', approval_count: 0 });
  });
});

describe('R2: one person, two identities (README: "nobody approves their own request", "the same person approving twice counts once")', () => {
  test.each([
    ['an IAM user', ALICE],
    ['the hub caller role the README recommends for another account (session name pinned to the user)', ALICE_VIA_CALLER],
  ])('refuses alice\'s approval of her own request WHEN she requested as %s and approves through Identity Center', async (_how, requester) => {
    const id = await request(requester);
    const res = await call(sso('Approvers', 'alice'), 'POST', `/requests/${id}/approve`);
    expect(res.body.Code).toBe('SELF_APPROVAL_FORBIDDEN');
  });

  test('counts bob once WHEN he approves as his IAM user and through Identity Center (quorum of two)', async () => {
    const id = await request(ALICE);
    await call(BOB, 'POST', `/requests/${id}/approve`);
    await call(sso('Approvers', 'approver-bob'), 'POST', `/requests/${id}/approve`);
    expect((await fx.item(id))!.status).toBe('pending');
  });
});

describe('R3: an auto-approve rule trusts the ARN, not the person synth required', () => {
  test('refuses to auto-approve WHEN the caller is a role named like the permission set at an ordinary path (unverified)', async () => {
    const res = await call(IMPOSTOR_DEV, 'POST', '/requests',
      { profile: 'prod', reason: 'rotate the prod database password', durationSeconds: 3600 });
    expect(res.body.Request?.requester_verified).toBe(false);
    // Approvers and break-glass refuse such a caller (APPROVER_UNVERIFIED); the policy's own approval should too.
    expect(res.body.Request?.status).not.toBe('approved');
    if (res.body.Request?.status === 'approved') expect((await vend(IMPOSTOR_DEV, res.body.Request.id)).status).not.toBe(200);
  });
});

describe('R8: reading requests takes an approver\'s ARN pattern, not a verified approver', () => {
  test('refuses to show a request (REQUEST_NOT_FOUND) WHEN the reader is a role named like the approvers\' permission set', async () => {
    const id = await request(ALICE);
    const res = await call(sso('Approvers', 'eve', '0000000000000000'), 'GET', `/requests/${id}`);
    // Approving answers APPROVER_UNVERIFIED to this caller; reading alice's reason and ticket should need no less.
    expect(res.body.Code).toBe('REQUEST_NOT_FOUND');
  });
});

describe('R4: an administrator\'s principal block (the stolen-identity tool) does not reach gated access', () => {
  test('refuses to activate an approved grant WHEN its holder was blocked after it was approved', async () => {
    const used = await approved();
    expect((await vend(ALICE, used)).status).toBe(200);
    const spare = await approved();
    const pending = await request(ALICE);
    const block = await call(ADMIN, 'POST', `/sessions/${used}/revoke`, { reason: 'laptop stolen', blockPrincipalSeconds: 86400 });
    expect(block.status).toBe(200);
    expect((await vend(ALICE)).body.Code).toBe('APPROVAL_REQUIRED');
    // The block revoked the grant not yet used with the principal's sessions; a new request is refused.
    const res = await vend(ALICE, spare);
    expect(res.body.Code).toBe('SESSION_REVOKED');
    expect(await fx.item(spare)).toMatchObject({ status: 'revoked', revoked_kind: 'admin' });
    expect(await fx.item(pending)).toMatchObject({ status: 'denied', decided_by: ADMIN });
    expect((await call(ALICE, 'POST', '/requests', { profile: 'prod', reason: 'asking again after the block' })).body.Code).toBe('PRINCIPAL_BLOCKED');
  });

  test('refuses break-glass WHEN the invoker is blocked', async () => {
    const first = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'the database is down and nobody answers' });
    expect(first.status).toBe(201);
    await vend(DANA, first.body.Request.id);
    expect((await call(ADMIN, 'POST', `/sessions/${first.body.Request.id}/revoke`, { reason: 'keys leaked', blockPrincipalSeconds: 86400 })).status)
      .toBe(200);
    const again = await call(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'the attacker breaks glass with the keys' });
    expect(again.body.Code).toBe('PRINCIPAL_BLOCKED');
  });
});

describe('R7: the lifecycle sweep reads the 2,000 newest items of a status only', () => {
  test('revokes a grant whose holder left the profile WHEN 2,000 standing sessions are newer than it', async () => {
    const id = await approved();
    expect((await vend(ALICE, id)).status).toBe(200);
    // Standing sessions stay `active` in the index until their TTL (lifetime + 30 days): any TVM in use has thousands.
    const item = (n: number): Record<string, AttributeValue> => ({
      id: { S: `f${String(n).padStart(15, '0')}` },
      status: { S: 'active' },
      user: { S: 'mallory' },
      principal_arn: { S: MALLORY },
      profile: { S: 'office' },
      role_arn: { S: `arn:aws:iam::${ACCOUNT}:role/Windowed` },
      created_at: { S: new Date(clock + 1000 + n).toISOString() },
      expires_at: { S: new Date(clock + 12 * 3600_000).toISOString() },
    });
    for (let start = 0; start < 2000; start += 25) {
      await ddb.send(new BatchWriteItemCommand({
        RequestItems: { [fx.tableName]: Array.from({ length: 25 }, (_, i) => ({ PutRequest: { Item: item(start + i) } })) },
      }));
    }
    const digest = await deployConfig(template([MALLORY, CALLER_ROLE]), ddb, { tableName: fx.tableName, controlTableName: fx.controlTableName });
    const config = await loadConfig(ddb, fx.controlTableName, digest);
    clock += 60_000;
    await sweep({ grants: new GrantStore(ddb, fx.tableName, fx.controlTableName), config: async () => config, now });
    expect((await fx.item(id))!.status).toBe('revoked');
  }, 30_000);
});
