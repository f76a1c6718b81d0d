// Access events: requests, approvals, grants and break-glass driven through the real access routes and vends (DynamoDB
// Local, identity proofs checked by the local STS) and the real lifecycle sweep; the session table's real stream records
// fed to the events function, which puts them on the local EventBridge. Every transition comes to exactly its event,
// valid against the schema the package ships; the synthesized stream filters let through exactly the records that come
// to an event (a continued vend invokes nothing); requester-written text reaches chat text inert.
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { DynamoDBRecord } from 'aws-lambda';
import { localDynamoClient } from './support/dynamodb-local';
import { parsePattern, type ParsedPattern } from './support/event-pattern';
import { eventValidator, readSchemas, schemaFileOf } from './support/event-schemas';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { openTableStream, type TableStream } from './support/streams';
import { ACCOUNT, CREDENTIALS, createFixtureFrom, event, ROLE_ARNS, stsClient, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import { GrantStore } from '../lambda/access/grants';
import { sweep } from '../lambda/access/lifecycle';
import { accessRoutes } from '../lambda/access/routes';
import { accessChanges, recordChanges } from '../lambda/events/access';
import { accessDisplay, duration, inert, MAX_DISPLAY_VALUE } from '../lambda/events/display';
import { createEventsHandler } from '../lambda/events/handler';
import { eventPublisher } from '../lambda/events/publish';
import { loadConfig } from '../lambda/profiles';
import {
  Approval, Approvers, AutoApprove, BreakGlass, Justification, PrincipalPattern, ProtectedRole, SentinelTvm, TicketRequirement,
} from '../src';
import { AccessEventTypes } from '../src/shared/access';
import { SessionEventTypes } from '../src/shared/contract';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const ALICE = user('alice');
const BOB = user('approver-bob');
const CAROL = user('approver-carol');
const DANA = user('oncall-dana');
const ERIN = user('security-erin');
const ROBOT = user('robot-deployer');
const ROLE = ROLE_ARNS.ReadOnly;
const TVM_NAME = 'fixture-tvm';
const TARGET = { tvmName: TVM_NAME };

/**
 * A reason that tries every trick the API lets through on an approver's chat: a Slack link, a markdown link, a mention,
 * code, quotes, a backslash, a line separator, a soft hyphen and a zero-width space (the API refuses control characters
 * and bidirectional overrides; an item written around it holds them too: below).
 */
const EVIL = 'rotate <https://evil.example|approve> [x](https://evil) @here `rm` "q" \\ ok\u2028new\u00adline\u200b';
/** The same, as chat text shows it. */
const EVIL_SHOWN = 'rotate \u2039https\uff3b:\uff3d//evil.example|approve\u203a \uff3bx\uff3d(https\uff3b:\uff3d//evil) \uff20here '
  + '\u02cbrm\u02cb \u201dq\u201d \uff3c ok new line';

function template(): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(`arn:aws:iam::${ACCOUNT}:role/SecurityOps`)] });
  tvm.addProfile('prod', {
    role: new ProtectedRole(stack, 'ReadOnly', { tvm }),
    allowedPrincipals: [P(ALICE), P(ROBOT)],
    approval: Approval.required({
      approvers: Approvers.principals([P(user('approver-*'))]),
      minApprovals: 2,
      maxDuration: Duration.hours(4),
      justification: Justification.required({ minLength: 10 }),
      ticket: TicketRequirement.optional('^INC-[0-9]+$'),
      autoApprove: [AutoApprove.forPrincipals([P(ROBOT)], { maxDuration: Duration.hours(1) })],
    }),
    breakGlass: BreakGlass.allow({
      principals: [P(DANA)],
      reviewers: Approvers.principals([P(ERIN)]),
      reason: Justification.required({ minLength: 20 }),
      maxDuration: Duration.hours(1),
    }),
  });
  // A standing profile beside it: its sessions' events stay what they were.
  tvm.addProfile('dev', { role: new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() }), allowedPrincipals: [P(ALICE)] });
  return app.synth().getStackByName('Fixture').template;
}

let sts: LocalSts;
let fx: Fixture;
let eb: LocalEventBridge;
let client: EventBridgeClient;
let stream: TableStream;
let handler: (e: any) => Promise<any>;
let filters: ParsedPattern[];
/** A delivered event, its detail as the tests read it. */
type Delivered = DeliveredEvent & { detail: any };
let delivered: Delivered[] = [];
let logs: { level: string; message: string; [k: string]: unknown }[] = [];
/** One delivered event of each detail-type seen, for the schema-drift check at the end. */
const seen = new Map<string, Delivered>();
const ddb = localDynamoClient();
const validate = eventValidator();

beforeAll(async () => {
  const t = template();
  [sts, fx] = await Promise.all([startLocalSts(), createFixtureFrom(t, ddb)]);
  handler = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(async () => undefined, ACCOUNT) });
  eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: (e) => delivered.push(e as Delivered) });
  client = new EventBridgeClient({ region: 'us-east-1', endpoint: eb.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
  // DynamoDB Local refuses the iterator at the end of a shard that had no record yet: one item first.
  await ddb.send(new PutItemCommand({ TableName: fx.tableName, Item: { id: { S: '#stream-primer' } } }));
  stream = await openTableStream(ddb, fx.tableName);
  await stream.skip();
  // The events function's stream filters, as synthesized.
  const resources = Object.entries<any>(t.Resources);
  const [eventsFn] = resources.find(([, r]) => r.Type === 'AWS::Lambda::Function' && /session changes/.test(r.Properties.Description ?? ''))!;
  const [, mapping] = resources.find(([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping' && r.Properties.FunctionName.Ref === eventsFn)!;
  filters = mapping.Properties.FilterCriteria.Filters.map((f: { Pattern: string }) => parsePattern(f.Pattern));
});
afterAll(async () => {
  stream?.close();
  client?.destroy();
  await Promise.all([sts?.stop(), eb?.stop()]);
});

const call = async (userArn: string, method: string, path: string, body?: unknown) => {
  const res = await handler(event({ userArn, method, path, body: body === undefined ? undefined : JSON.stringify(body) }));
  return { status: res.statusCode as number, body: JSON.parse(res.body) };
};
const ok = async (userArn: string, method: string, path: string, body?: unknown) => {
  const res = await call(userArn, method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};
const vend = async (userArn: string, profile: string, sessionId?: string): Promise<string> => {
  const res = await handler(event({ userArn, query: { profile }, headers: sessionId ? { 'x-sentinel-session-id': sessionId } : {} }));
  if (res.statusCode !== 200) throw new Error(`vend: ${res.statusCode} ${res.body}`);
  return JSON.parse(res.body).SessionId;
};
const request = async (userArn: string, body: Record<string, unknown> = {}): Promise<string> =>
  (await ok(userArn, 'POST', '/requests', { profile: 'prod', reason: 'rotate the prod database password', ...body })).Request.id;

/** `2036-01-25 14:30 UTC`: an ISO time as the chat text shows it (written here again, not taken from the runtime). */
const utc = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
const summary = (e: DeliveredEvent) => [e['detail-type'], e.detail.sessionId];
const passes = (r: DynamoDBRecord) => filters.some((f) => f.matches(r));

/**
 * The stream records written since the last call, through the events function: their delivered events, each valid
 * against its schema. Checks that the synthesized filters let through exactly the records the function makes something
 * of (an event, or a change it must skip and say so): nothing it would act on is filtered out, nothing else invokes it.
 */
async function changes(): Promise<{ records: DynamoDBRecord[]; events: Delivered[] }> {
  const records = await stream.read();
  delivered = [];
  logs = [];
  const result = await createEventsHandler({
    target: TARGET,
    publish: eventPublisher({ client, sleep: async () => undefined }),
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
  })({ Records: records });
  expect(result).toEqual({ batchItemFailures: [] });
  const statuses = (r: DynamoDBRecord) => [r.eventName, r.dynamodb?.OldImage?.status?.S ?? '-', r.dynamodb?.NewImage?.status?.S];
  expect(records.map((r) => [...statuses(r), passes(r)])).toEqual(records.map((r) => [...statuses(r), recordChanges(r, TARGET).length > 0]));
  for (const e of delivered) {
    expect([e['detail-type'], validate(e)]).toEqual([e['detail-type'], []]);
    if (!seen.has(e['detail-type'])) seen.set(e['detail-type'], e);
  }
  return { records, events: delivered };
}

/** Every string of an event's `display`. */
const displayTexts = (e: Delivered): string[] => [e.detail.display.title, e.detail.display.description, ...e.detail.display.nextSteps];

describe('GIVEN a profile that needs two approvals, with auto-approval for a robot and break-glass for on-call', () => {
  let first: string;

  test('WHEN alice requests with a reason full of links THEN Access Requested, its display inert, with the approver\'s command', async () => {
    first = await request(ALICE, { reason: EVIL, ticket: 'INC-42', durationSeconds: 7200 });
    const { records, events } = await changes();

    expect(records.map((r) => r.eventName)).toEqual(['INSERT']);
    expect(events.map(summary)).toEqual([['Access Requested', first]]);
    const item = (await fx.item(first))!;
    expect(events[0].detail).toEqual({
      version: 1,
      tvmName: TVM_NAME,
      sessionId: first,
      profile: 'prod',
      roleArn: ROLE,
      grantKind: 'approval',
      status: 'pending',
      principalArn: ALICE,
      user: 'alice',
      requesterPerson: item.requester_person,
      requesterVerified: true,
      window: { requestedSeconds: 7200, notBefore: '', approvedAt: '', expiresAt: '', requestExpiresAt: item.request_expires_at },
      reason: EVIL,
      ticket: 'INC-42',
      approvals: { count: 0, required: 2, approvedBy: [] },
      changedAt: item.created_at,
      display: {
        title: 'Access requested: `prod`',
        description: `\`alice\` (\`${ALICE}\`) asks for \`prod\` (\`${ROLE}\`) for 2 h. Reason: \`${EVIL_SHOWN}\`. Ticket: \`INC-42\`. `
          + `Needs 2 approvals by ${utc(item.request_expires_at)}.`,
        nextSteps: [`To approve: \`sentinel-tvm approve ${first}\``, `To deny: \`sentinel-tvm deny ${first} --comment '…'\``],
      },
    });
    expect(events[0].time).toBe(item.created_at.replace(/\.\d{3}Z$/, 'Z'));
    expect(events[0].resources).toEqual([ROLE]);
  });

  test('WHEN the first approver approves THEN Access Approval Recorded, 1 of 2, naming them', async () => {
    await ok(BOB, 'POST', `/requests/${first}/approve`, { comment: 'looks [fine](https://x.example)' });
    const { events } = await changes();

    expect(events.map(summary)).toEqual([['Access Approval Recorded', first]]);
    expect(events[0].detail).toMatchObject({
      status: 'pending', approver: BOB, comment: 'looks [fine](https://x.example)', approvals: { count: 1, required: 2, approvedBy: [BOB] },
    });
    expect(events[0].detail.display).toEqual({
      title: 'Approval 1 of 2: `prod`',
      description: `\`${BOB}\` approved: \`looks \uff3bfine\uff3d(https\uff3b:\uff3d//x.example)\`. \`alice\` (\`${ALICE}\`) asks for \`prod\` `
        + `(\`${ROLE}\`) for 2 h. Reason: \`${EVIL_SHOWN}\`. Ticket: \`INC-42\`.`,
      nextSteps: [`To approve: \`sentinel-tvm approve ${first}\``, `To deny: \`sentinel-tvm deny ${first} --comment '…'\``],
    });
  });

  test('WHEN the second approver approves THEN Access Approved, with both approvers and the window', async () => {
    await ok(CAROL, 'POST', `/requests/${first}/approve`);
    const { events } = await changes();
    const item = (await fx.item(first))!;

    expect(events.map(summary)).toEqual([['Access Approved', first]]);
    expect(events[0].detail).toMatchObject({
      status: 'approved',
      approver: CAROL,
      comment: '',
      autoApproved: false,
      changedAt: item.approved_at,
      window: { requestedSeconds: 7200, approvedAt: item.approved_at, expiresAt: item.expires_at },
      approvals: { count: 2, required: 2, approvedBy: [BOB, CAROL] },
    });
    expect(events[0].detail.display).toEqual({
      title: 'Access approved: `prod`',
      description: `\`alice\` (\`${ALICE}\`) may use \`prod\` (\`${ROLE}\`) for 2 h, until ${utc(item.expires_at)}. `
        + `Approved by \`${BOB}\`, \`${CAROL}\`. Reason: \`${EVIL_SHOWN}\`. Ticket: \`INC-42\`.`,
      nextSteps: [`To end it early: \`sentinel-tvm withdraw ${first} --reason '…'\``],
    });
  });

  test('WHEN alice\'s first vend activates the grant THEN Access Activated and Session Started; her next vend invokes nothing', async () => {
    await vend(ALICE, 'prod', first);
    const activated = await changes();
    const item = (await fx.item(first))!;

    expect(activated.events.map(summary)).toEqual([['Access Activated', first], ['Session Started', first]]);
    expect(activated.events[0].detail).toMatchObject({
      status: 'active', activatedAt: item.activated_at, sourceIdentity: `sentinel.${first}.a.alice`, changedAt: item.activated_at,
    });
    // Consumers of Session Started see every session that has credentials, gated or not, with its usual fields.
    expect(activated.events[1].detail).toEqual({
      version: 1,
      tvmName: TVM_NAME,
      sessionId: first,
      user: 'alice',
      principalArn: ALICE,
      accountId: ACCOUNT,
      profile: 'prod',
      roleArn: ROLE,
      sourceIdentity: `sentinel.${first}.a.alice`,
      startedAt: item.started_at,
      expiresAt: item.expires_at,
    });
    expect(item.started_at).toBe(item.activated_at);

    await vend(ALICE, 'prod', first);
    const continued = await changes();
    expect(continued.records.map((r) => [r.dynamodb!.OldImage!.status.S, r.dynamodb!.NewImage!.status.S])).toEqual([['active', 'active']]);
    expect(passes(continued.records[0])).toBe(false);
    expect(continued.events).toEqual([]);
  });

  test('WHEN an approver withdraws the active grant THEN Access Withdrawn with its kind, then Session Revoked', async () => {
    await ok(BOB, 'POST', `/requests/${first}/withdraw`, { reason: 'incident closed' });
    const { events } = await changes();
    const item = (await fx.item(first))!;

    expect(events.map(summary)).toEqual([['Access Withdrawn', first], ['Session Revoked', first]]);
    expect(events[0].detail).toMatchObject({
      status: 'revoked', revokedBy: BOB, revokedKind: 'approval_withdrawn', comment: 'incident closed', activatedAt: item.activated_at,
    });
    expect(events[0].detail.display.description).toBe(`\`${BOB}\` ended the grant of \`alice\` (\`${ALICE}\`) for \`prod\` `
      + '(`approval_withdrawn`): `incident closed`. The credentials it had are being denied.');
    expect(events[1].detail).toMatchObject({ revokedBy: BOB, reason: 'incident closed' });
  });

  test('WHEN a request is denied, and another cancelled THEN Access Denied and Access Request Cancelled', async () => {
    const denied = await request(ALICE);
    await ok(CAROL, 'POST', `/requests/${denied}/deny`, { comment: 'use the runbook' });
    const cancelled = await request(ALICE);
    await ok(ALICE, 'POST', `/requests/${cancelled}/cancel`);
    const { events } = await changes();

    expect(events.map(summary)).toEqual([
      ['Access Requested', denied], ['Access Denied', denied], ['Access Requested', cancelled], ['Access Request Cancelled', cancelled],
    ]);
    expect(events[1].detail).toMatchObject({ status: 'denied', decidedBy: CAROL, comment: 'use the runbook' });
    expect(events[1].detail.display.description).toBe(`\`${CAROL}\` denied the request of \`alice\` (\`${ALICE}\`) for \`prod\`: `
      + '`use the runbook`. Reason: `rotate the prod database password`.');
    expect(events[3].detail).toMatchObject({ status: 'cancelled', decidedBy: ALICE });
  });

  test('WHEN the robot requests within its rule THEN Access Approved by policy, and no Access Requested', async () => {
    const id = await request(ROBOT, { reason: 'nightly deploy of the stack', durationSeconds: 1800 });
    const { events } = await changes();

    expect(events.map(summary)).toEqual([['Access Approved', id]]);
    expect(events[0].detail).toMatchObject({
      status: 'approved', autoApproved: true, approver: 'policy:autoApprove[0]', approvals: { count: 0, approvedBy: ['policy:autoApprove[0]'] },
    });
    expect(events[0].detail.display.title).toBe('Access approved by policy: `prod`');
    expect(events[0].detail.display.description).toContain('Approved by the profile\'s rule `autoApprove［0］`.');
  });

  test('WHEN dana breaks glass, uses it, and erin reviews it THEN Break Glass Invoked, Access Activated, Break Glass Reviewed', async () => {
    const id = (await ok(DANA, 'POST', '/breakglass', { profile: 'prod', reason: 'prod is down and nobody can approve' })).Request.id;
    const invoked = await changes();
    const item = (await fx.item(id))!;
    expect(invoked.events.map(summary)).toEqual([['Break Glass Invoked', id]]);
    expect(invoked.events[0].detail).toMatchObject({
      grantKind: 'breakglass',
      status: 'approved',
      reviewDueAt: item.review_due_at,
      approvals: { count: 0, required: 0, approvedBy: [] },
      window: { requestExpiresAt: '', expiresAt: item.expires_at },
    });
    expect(invoked.events[0].detail.display).toEqual({
      title: 'Break glass: `prod`',
      description: `\`oncall-dana\` (\`${DANA}\`) broke glass on \`prod\` (\`${ROLE}\`) for 1 h, until ${utc(item.expires_at)}, without an `
        + `approver. Reason: \`prod is down and nobody can approve\`. Review due by ${utc(item.review_due_at)}.`,
      nextSteps: [`To review: \`sentinel-tvm review ${id} --outcome accepted --note '…'\` (or \`--outcome flagged\`)`],
    });

    await vend(DANA, 'prod', id);
    await vend(DANA, 'prod', id);
    const used = await changes();
    expect(used.events.map(summary)).toEqual([['Access Activated', id], ['Session Started', id]]);
    expect(used.events[0].detail.sourceIdentity).toBe(`sentinel.${id}.b.oncall-dana`);
    // The continued vend of a break-glass session awaiting its review: filtered out.
    expect(used.records.map(passes)).toEqual([true, false]);

    await ok(ERIN, 'POST', `/sessions/${id}/review`, { outcome: 'flagged', note: 'should have paged @oncall' });
    const reviewed = await changes();
    expect(reviewed.records.map((r) => [r.dynamodb!.OldImage!.status.S, r.dynamodb!.NewImage!.status.S])).toEqual([['active', 'active']]);
    expect(reviewed.events.map(summary)).toEqual([['Break Glass Reviewed', id]]);
    expect(reviewed.events[0].detail).toMatchObject({ status: 'active', reviewedBy: ERIN, outcome: 'flagged', note: 'should have paged @oncall' });
    expect(reviewed.events[0].detail.display.title).toBe('Break glass reviewed (`flagged`): `prod`');
    expect(reviewed.events[0].detail.display.description).toContain(': `should have paged ＠oncall`.');

    // Continued after its review: nothing.
    await vend(DANA, 'prod', id);
    expect((await changes()).events).toEqual([]);
  });

  test('WHEN a standing session starts and continues beside the grants THEN only Session Started, as before', async () => {
    const id = await vend(ALICE, 'dev');
    await vend(ALICE, 'dev', id);
    const { records, events } = await changes();
    expect(events.map(summary)).toEqual([['Session Started', id]]);
    expect(records.map(passes)).toEqual([true, false]);
    expect(records.flatMap((r) => accessChanges(r, TARGET))).toEqual([]);
  });

  test('WHEN the lifecycle sweep finds a request past its deadline and grants past their window THEN Request Expired and Access Ended', async () => {
    const pending = await request(ALICE, { reason: 'will wait too long for this' });
    await changes();
    const later = new Date(Date.now() + 30 * 24 * 3600_000);
    const config = () => loadConfig(ddb, fx.controlTableName, fx.configDigest);
    const result = await sweep({ grants: new GrantStore(ddb, fx.tableName, fx.controlTableName), config, now: () => later });
    expect(result).toMatchObject({ requestsExpired: 1, grantsUnused: 1, grantsEnded: 1 });
    const { events } = await changes();

    const types = events.map((e) => e['detail-type']);
    expect(types).toEqual(['Access Request Expired', 'Access Ended', 'Access Ended', 'Session Ended']);
    const [expired, unused, ended, sessionEnded] = events;
    expect(expired.detail).toMatchObject({ sessionId: pending, status: 'expired', endedReason: 'request_timeout', changedAt: later.toISOString() });
    expect(unused.detail).toMatchObject({ grantKind: 'approval', endedReason: 'not_used', activatedAt: '' });
    expect(unused.detail.display.description).toMatch(/, never used\.$/);
    expect(ended.detail).toMatchObject({ grantKind: 'breakglass', endedReason: 'window_end', activatedAt: expect.stringMatching(/Z$/) });
    expect(ended.detail.display.description).toMatch(/: its credentials ended with it\.$/);
    expect(sessionEnded.detail).toMatchObject({ sessionId: ended.detail.sessionId, reason: 'window_end' });
  });

  test('WHEN a table writer approves a pending request THEN no Access Approved is put for it; the vend\'s revocation is Access Withdrawn', async () => {
    const id = await request(ALICE, { reason: 'a request someone forges' });
    await changes();
    await ddb.send(new UpdateItemCommand({
      TableName: fx.tableName,
      Key: { id: { S: id } },
      UpdateExpression: 'SET #s = :approved, expires_at = :exp, approved_at = :now, grant_mac = :mac',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':approved': { S: 'approved' },
        ':exp': { S: new Date(Date.now() + 8 * 3600_000).toISOString() },
        ':now': { S: new Date().toISOString() },
        ':mac': { S: 'k1.forged' },
      },
    }));
    const res = await handler(event({ userArn: ALICE, query: { profile: 'prod' }, headers: { 'x-sentinel-session-id': id } }));
    expect(JSON.parse(res.body).Code).toBe('APPROVAL_INVALID');
    const { events } = await changes();

    // The approval nobody made through the TVM is not announced. The vend's one write activated the item before its seal
    // was checked (no credentials were issued); the TVM's own revocation, by its vending role, follows at once.
    const revoker = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/${fx.env.POWERTOOLS_SERVICE_NAME}/`;
    expect(events.map(summary)).toEqual([['Access Activated', id], ['Session Started', id], ['Access Withdrawn', id], ['Session Revoked', id]]);
    expect(events[2].detail).toMatchObject({ revokedKind: 'integrity', comment: 'grant seal did not verify' });
    expect(events[2].detail.revokedBy.startsWith(revoker)).toBe(true);
    expect(events[3].detail.revokedBy).toBe(events[2].detail.revokedBy);
    expect(logs.find((l) => l.level === 'WARN')).toMatchObject({
      changes: expect.arrayContaining([{ sessionId: id, detailType: 'Access Approved', invalid: ['approvals'] }]),
    });
  });
});

describe('GIVEN requester-written text in chat text', () => {
  test('WHEN an item holds control and invisible characters (written around the API) THEN its display has none of them', async () => {
    const id = 'c0c1c0c1c0c1c0c1';
    const reason = 'null\u0000bell\u0007esc\u001b[31mred\nnew line\ttab\u007fdel\u0085nel\u2028ls\u202eevil\u2066iso\ufeffbom';
    const now = new Date().toISOString();
    await ddb.send(new PutItemCommand({
      TableName: fx.tableName,
      Item: {
        id: { S: id },
        status: { S: 'pending' },
        grant_kind: { S: 'approval' },
        profile: { S: 'prod' },
        role_arn: { S: ROLE },
        principal_arn: { S: ALICE },
        user: { S: 'alice\u200b@evil.example' },
        created_at: { S: now },
        requested_seconds: { N: '3600' },
        approval_count: { N: '0' },
        approvals_required: { N: '2' },
        approvals: { M: {} },
        request_reason: { S: reason },
        ticket_id: { S: '<!channel>' },
        requester_person: { S: 'role:x' },
        requester_verified: { BOOL: false },
      },
    }));
    const { events } = await changes();

    expect(events.map(summary)).toEqual([['Access Requested', id]]);
    // The raw detail keeps what the item says (JSON escapes it); only the display is made inert.
    expect(events[0].detail.reason).toBe(reason);
    expect(events[0].detail.display.description).toBe(
      `\`alice ＠evil.example\` (\`${ALICE}\`), whose name the caller chose (not a verified person), asks for \`prod\` (\`${ROLE}\`) for 1 h. `
      + 'Reason: `null bell esc ［31mred new line tab del nel ls evil iso bom`. Ticket: `‹!channel›`. Needs 2 approvals.');
  });

  test('WHEN a value is longer than 300 characters THEN it is cut to 300, ending with …; durations read as people write them', () => {
    const long = `${'a'.repeat(290)} ${'😀'.repeat(40)}`;
    const shown = inert(long);
    expect(Array.from(shown)).toHaveLength(MAX_DISPLAY_VALUE);
    expect(shown).toBe(`${'a'.repeat(290)} ${'😀'.repeat(8)}…`);
    expect(inert('x'.repeat(MAX_DISPLAY_VALUE))).toBe('x'.repeat(MAX_DISPLAY_VALUE));
    // A lone surrogate (no store keeps one) is an invisible character too.
    expect(inert('a\ud800b\udfffc')).toBe('a b c');
    expect([duration(900), duration(5400), duration(7 * 24 * 3600), duration(30)]).toEqual(['15 min', '1 h 30 min', '7 d', '30 s']);
  });

  test('WHEN every value is as long as an item can make it THEN each display stays within its schema\'s limits', () => {
    const T = '2036-01-25T14:30:00.120Z';
    const arn = `arn:aws:iam::${ACCOUNT}:user/${'p'.repeat(400)}`;
    const w = (n: number) => 'w'.repeat(n);
    const detail = {
      version: 1,
      tvmName: TVM_NAME,
      sessionId: '0123456789abcdef',
      profile: 'p'.repeat(64),
      roleArn: `arn:aws:iam::${ACCOUNT}:role/${w(500)}`,
      grantKind: 'approval',
      status: 'approved',
      principalArn: arn,
      user: w(64),
      requesterPerson: w(200),
      requesterVerified: false,
      window: { requestedSeconds: 7 * 24 * 3600 - 1, notBefore: T, approvedAt: T, expiresAt: T, requestExpiresAt: T },
      reason: w(512),
      ticket: w(64),
      approvals: { count: 10, required: 5, approvedBy: Array(10).fill(arn) },
      changedAt: T,
      approver: arn,
      comment: w(256),
      autoApproved: false,
      decidedBy: arn,
      endedReason: w(64),
      activatedAt: T,
      sourceIdentity: w(64),
      revokedBy: arn,
      revokedKind: 'eligibility_removed',
      reviewDueAt: T,
      reviewedBy: arn,
      outcome: 'accepted',
      note: w(256),
    };
    const lengths: number[] = [];
    for (const type of Object.values(AccessEventTypes)) {
      const display = accessDisplay(type, detail);
      const limits = readSchemas().get(schemaFileOf(type)).properties.detail.properties.display.properties;
      expect([type, display.title.length <= limits.title.maxLength, display.description.length <= limits.description.maxLength,
        display.nextSteps.every((step) => step.length <= limits.nextSteps.items.maxLength)]).toEqual([type, true, true, true]);
      lengths.push(display.description.length);
    }
    // The longest: Access Approved, naming five approvers (and counting the others).
    expect(Math.max(...lengths)).toBeLessThan(3500);
  });

  test('THEN every display of the scenario is safe to copy into a Chatbot notification, quoted or not, and links nowhere', () => {
    const access = [...seen.values()].filter((e) => e.detail.display !== undefined);
    expect(access.length).toBe(Object.values(AccessEventTypes).length);
    for (const e of access) {
      for (const text of displayTexts(e)) {
        // Nothing to escape in JSON: a template that puts it between quotes stays JSON.
        expect(JSON.stringify(text)).toBe(`"${text}"`);
        expect(text).not.toMatch(/[<>@[\]]|:\/\/|\]\(/);
        // Inline code only in pairs: no value ends its code span early.
        expect((text.match(/`/g) ?? []).length % 2).toBe(0);
      }
      // An input transformer that copies the fields into Chatbot's custom notification, even between quotes.
      const d = e.detail.display;
      const message = '{"version":"1.0","source":"custom","content":{"textType":"client-markdown","title":"<title>",'
        + '"description":"<description>","nextSteps":<nextSteps>},"metadata":{"threadId":"<id>"}}';
      const filled = message.replace('<title>', d.title).replace('<description>', d.description)
        .replace('<nextSteps>', JSON.stringify(d.nextSteps)).replace('<id>', e.detail.sessionId);
      expect(JSON.parse(filled).content).toEqual({ textType: 'client-markdown', ...d });
    }
  });
});

describe('GIVEN the JSON Schemas of the access events', () => {
  test('THEN each access event type is a detail-type of the contract, with its schema file', () => {
    const types = Object.values(SessionEventTypes) as string[];
    for (const type of Object.values(AccessEventTypes)) {
      expect(types).toContain(type);
      expect(readSchemas().has(schemaFileOf(type))).toBe(true);
    }
  });

  test('THEN each schema\'s detail requires exactly the fields the runtime emits, nested objects too (schema and runtime cannot drift)', () => {
    const schemas = readSchemas();
    const keys = (o: object) => Object.keys(o).sort();
    for (const type of Object.values(AccessEventTypes)) {
      const detail = seen.get(type)?.detail;
      expect([type, detail !== undefined]).toEqual([type, true]);
      const schema = schemas.get(schemaFileOf(type)).properties.detail;
      expect([type, [...schema.required].sort()]).toEqual([type, keys(detail)]);
      expect([type, keys(schema.properties)]).toEqual([type, keys(detail)]);
      for (const nested of ['window', 'approvals', 'display']) {
        expect([type, nested, [...schema.properties[nested].required].sort()]).toEqual([type, nested, keys(detail[nested])]);
        expect([type, nested, keys(schema.properties[nested].properties)]).toEqual([type, nested, keys(detail[nested])]);
      }
    }
  });

  test('fails when an access event breaks its schema: a display with a quote, a status of another transition, an unknown field', () => {
    const e = seen.get('Access Requested')!;
    expect(validate(e)).toEqual([]);
    const broken = (detail: object) => validate({ ...e, detail: { ...e.detail, ...detail } });
    expect(broken({ display: { ...e.detail.display, description: 'say "hi"' } })).not.toEqual([]);
    expect(broken({ display: { ...e.detail.display, title: 'a\nb' } })).not.toEqual([]);
    expect(broken({ status: 'approved' })).not.toEqual([]);
    expect(broken({ grantKind: 'breakglass' })).not.toEqual([]);
    expect(broken({ extra: 1 })).not.toEqual([]);
    expect(broken({ window: { ...e.detail.window, expiresAt: 'tomorrow' } })).not.toEqual([]);
  });
});
