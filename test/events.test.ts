// Session events: sessions started, continued, ended and revoked through the real vending handler (DynamoDB Local, the
// local STS), the session table's real stream records fed to the events function, which puts them with the real
// EventBridge SDK client on the local EventBridge (cli/local/eventbridge.ts). Every delivered event is validated against
// the JSON Schema the package ships for it; faults of PutEvents (down, entries failed) name exactly the records to retry.
import * as fs from 'fs';
import * as path from 'path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { DynamoDBRecord } from 'aws-lambda';
import { startBundle } from './support/bundle-process';
import { eventValidator, readSchemas, SCHEMA_DIR, SCHEMA_ID_BASE, schemaFileOf } from './support/event-schemas';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { openTableStream, type TableStream } from './support/streams';
import { ACCOUNT, ADMIN, ALICE, BOB, createFixture, CREDENTIALS, event, ROLE_ARNS, stsClient, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import { tamperDetected } from '../lambda/enforcer/tamper';
import {
  EventPatterns, revocationEnforced, revocationEnforcementFailed, sessionChange, type StreamRecordLike,
} from '../lambda/events/entries';
import { createEventsHandler, type EventsHandlerDeps } from '../lambda/events/handler';
import { eventPublisher } from '../lambda/events/publish';
import { readEventsFunctionSettings, readEventTarget } from '../lambda/events/settings';
import { AccessEventTypes } from '../src/shared/access';
import { Env, SESSION_HEADER, SessionEvents, SessionEventTypes } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'events.lambda', 'index.js');
const TVM_NAME = 'fixture-tvm';
const READONLY = ROLE_ARNS.ReadOnly;
const DEPLOY = ROLE_ARNS.Deploy;
const TARGET = { tvmName: TVM_NAME };

let fx: Fixture;
let sts: LocalSts;
let eb: LocalEventBridge;
let stream: TableStream;
let client: EventBridgeClient;
let delivered: { event: DeliveredEvent; bus: string }[];
let logs: { level: string; message: string; [k: string]: unknown }[];
let failedCounts: number[];
const validate = eventValidator();

const events = () => delivered.map((d) => d.event);
const summary = (e: DeliveredEvent) => [e['detail-type'], e.detail.sessionId];
const seqOf = (r: DynamoDBRecord) => r.dynamodb!.SequenceNumber!;

/** The events function on the test's client, its publisher pausing 1 ms between attempts (the pause is not what is tested). */
function eventsHandler(more: Partial<EventsHandlerDeps> = {}) {
  return createEventsHandler({
    target: TARGET,
    publish: eventPublisher({ client, sleep: async () => undefined }),
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    eventsFailed: (n) => failedCounts.push(n),
    ...more,
  });
}

async function call(e: ReturnType<typeof event>): Promise<any> {
  return fx.handler({ sts: stsClient(sts.endpoint) })(e);
}

/** Starts (or, with `continues`, continues) a session through the vending handler; its id. */
async function vend(profile: 'readonly' | 'deploy', continues?: string): Promise<string> {
  const res = await call(event({
    query: { profile }, ...(profile === 'deploy' ? { userArn: BOB } : {}), ...(continues ? { headers: { [SESSION_HEADER]: continues } } : {}),
  }));
  if (res.statusCode !== 200) throw new Error(`vend failed: ${res.body}`);
  return JSON.parse(res.body).SessionId;
}

async function revoke(id: string, body: Record<string, unknown>): Promise<void> {
  const res = await call(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn: ADMIN, body: JSON.stringify(body) }));
  if (res.statusCode !== 200) throw new Error(`revoke failed: ${res.statusCode} ${res.body}`);
}

async function end(id: string, userArn: string): Promise<void> {
  const res = await call(event({ method: 'DELETE', path: `/sessions/${id}`, userArn }));
  if (res.statusCode !== 200) throw new Error(`end failed: ${res.statusCode} ${res.body}`);
}

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
  eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: (e, bus) => delivered.push({ event: e, bus }) });
  client = new EventBridgeClient({ region: 'us-east-1', endpoint: eb.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
  // DynamoDB Local refuses the iterator at the end of a shard that had no record yet: one item first.
  await fx.ddb.send(new PutItemCommand({ TableName: fx.tableName, Item: { id: { S: '#stream-primer' } } }));
  stream = await openTableStream(fx.ddb, fx.tableName);
});
afterAll(async () => {
  stream?.close();
  client?.destroy();
  await Promise.all([sts?.stop(), eb?.stop()]);
});
beforeEach(async () => {
  delivered = [];
  logs = [];
  failedCounts = [];
  eb.calls.length = 0;
  eb.failCalls(0);
  eb.failEntries(undefined);
  eb.delay(0);
  sts.fail(undefined);
  await stream.skip();
});

describe('GIVEN sessions started, continued, ended and revoked through the vending handler', () => {
  test('WHEN the events function gets their stream records THEN each change is one event, valid against its schema', async () => {
    const a = await vend('readonly');
    await vend('readonly', a); // a continuation: MODIFY active → active
    const b = await vend('deploy');
    await end(b, BOB);
    const c = await vend('readonly');
    await revoke(c, { reason: 'laptop stolen' });
    // An ended session whose credentials may still be live is revoked too (MODIFY expired → revoked).
    await revoke(b, { reason: 'credentials leaked' });
    // A tombstone: a session id the table never recorded (INSERT revoked), whose principal the TVM never saw.
    const unrecorded = '0123456789abcdef';
    await revoke(unrecorded, { reason: 'seen in a log', profile: 'readonly' });
    sts.fail({ code: 'AccessDenied', message: 'not authorized', status: 403 });
    expect((await call(event({ query: { profile: 'deploy' }, userArn: BOB }))).statusCode).toBe(502);
    sts.fail(undefined);

    const records = await stream.read();
    const failedVend = records.find((r) => r.eventName === 'INSERT' && ![a, b, c, unrecorded].includes(r.dynamodb!.NewImage!.id.S!))!;
    const f = failedVend.dynamodb!.NewImage!.id.S!;
    const result = await eventsHandler()({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });

    expect(result).toEqual({ batchItemFailures: [] });
    expect(events().map(summary)).toEqual([
      ['Session Started', a],
      ['Session Started', b],
      ['Session Ended', b],
      ['Session Started', c],
      ['Session Revoked', c],
      ['Session Revoked', b],
      ['Session Revoked', unrecorded],
      ['Session Started', f],
      ['Session Ended', f],
    ]);
    // Ten records, nine events: the continuation has none.
    expect(records.length).toBe(10);
    for (const e of events()) expect(validate(e)).toEqual([]);
    // One PutEvents call (at most ten entries), on the default bus.
    expect(eb.calls.map((x) => [x.entries.length, x.status])).toEqual([[9, 200]]);
    expect(eb.calls[0].entries.every((x) => x.EventBusName === undefined)).toBe(true);
    expect(eb.calls[0].authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-east-1\/events\/aws4_request, /);
    expect(delivered.every((d) => d.bus === 'default')).toBe(true);
    expect(failedCounts).toEqual([0]);
    expect(logs).toEqual([expect.objectContaining({ level: 'INFO', message: 'session events', records: 10, events: 9, put: 9, failed: 0 })]);

    const item = async (id: string) => (await fx.item(id))!;
    const [ia, ib, ic, it] = [await item(a), await item(b), await item(c), await item(unrecorded)];
    const [startedA, , endedB, , revokedC, revokedB, tombstone, , endedF] = events();
    expect(startedA).toEqual({
      'version': '0',
      'id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'Session Started',
      'source': 'sentinel-tvm',
      'account': ACCOUNT,
      'time': ia.started_at.replace(/\.\d{3}Z$/, 'Z'),
      'region': 'us-east-1',
      'resources': [READONLY],
      'detail': {
        version: 1,
        tvmName: TVM_NAME,
        sessionId: a,
        user: 'alice',
        principalArn: ALICE,
        accountId: ACCOUNT,
        profile: 'readonly',
        roleArn: READONLY,
        sourceIdentity: `sentinel.${a}.s.alice`,
        startedAt: ia.started_at,
        expiresAt: ia.expires_at,
      },
    });
    expect(endedB.detail).toEqual({
      version: 1,
      tvmName: TVM_NAME,
      sessionId: b,
      user: 'bob',
      principalArn: BOB,
      profile: 'deploy',
      roleArn: DEPLOY,
      endedAt: ib.ended_at,
      reason: 'ended by its owner',
    });
    expect(revokedC.detail).toEqual({
      version: 1,
      tvmName: TVM_NAME,
      sessionId: c,
      user: 'alice',
      principalArn: ALICE,
      profile: 'readonly',
      roleArn: READONLY,
      revokedAt: ic.revoked_at,
      revokedBy: ADMIN,
      reason: 'laptop stolen',
    });
    expect(revokedC.time).toBe(ic.revoked_at.replace(/\.\d{3}Z$/, 'Z'));
    expect(revokedB.detail).toMatchObject({ sessionId: b, user: 'bob', revokedAt: ib.revoked_at, revokedBy: ADMIN, reason: 'credentials leaked' });
    expect(tombstone.detail).toEqual({
      version: 1,
      tvmName: TVM_NAME,
      sessionId: unrecorded,
      user: '',
      principalArn: '',
      profile: 'readonly',
      roleArn: READONLY,
      revokedAt: it.revoked_at,
      revokedBy: ADMIN,
      reason: 'seen in a log',
    });
    expect(endedF.detail).toMatchObject({ sessionId: f, user: 'bob', reason: 'first vend failed: AccessDenied' });
  });

  test('WHEN a bus is configured THEN every entry names it, and an event is put on it', async () => {
    const bus = 'security-events';
    await vend('readonly');
    const result = await eventsHandler({ target: { tvmName: TVM_NAME, eventBus: bus } })({ Records: await stream.read() });

    expect(result.batchItemFailures).toEqual([]);
    expect(eb.calls[0].entries.map((e) => e.EventBusName)).toEqual([bus]);
    expect(delivered.map((d) => [d.bus, d.event['detail-type']])).toEqual([[bus, 'Session Started']]);
  });

  test('WHEN more than ten changes come in one batch THEN PutEvents gets them ten at a time', async () => {
    await vend('readonly');
    const [record] = await stream.read();
    const records = Array.from({ length: 23 }, (_, i) => ({ ...record, dynamodb: { ...record.dynamodb, SequenceNumber: String(1000 + i) } }));

    expect((await eventsHandler()({ Records: records })).batchItemFailures).toEqual([]);
    expect(eb.calls.map((c) => c.entries.length).sort((x, y) => x - y)).toEqual([3, 10, 10]);
    expect(delivered).toHaveLength(23);
  });
});

describe('GIVEN PutEvents failing', () => {
  /** Three records: a session started (an event), continued (none) and ended (an event). */
  async function threeRecords(): Promise<{ records: DynamoDBRecord[]; id: string }> {
    const id = await vend('readonly');
    await vend('readonly', id);
    await end(id, ALICE);
    const records = await stream.read();
    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY']);
    return { records, id };
  }

  test('fails when EventBridge is down: the records whose event was not put are named, none other, and nothing is thrown', async () => {
    const { records, id } = await threeRecords();
    eb.failCalls(Infinity);

    const result = await eventsHandler()({ Records: records });

    // The continuation had no event: Lambda need not deliver it again for that.
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: seqOf(records[0]) }, { itemIdentifier: seqOf(records[2]) }]);
    expect(delivered).toEqual([]);
    // Tried three times (the publisher's attempts), each time the two entries.
    expect(eb.calls.map((c) => [c.entries.length, c.status])).toEqual([[2, 500], [2, 500], [2, 500]]);
    expect(failedCounts).toEqual([2]);
    expect(logs).toEqual([expect.objectContaining({
      level: 'ERROR', message: 'session events', events: 2, put: 0, failed: 2, errors: { InternalException: 2 }, failedSessions: [id, id],
    })]);
    // Ids and counts only: no item, no detail in the log.
    expect(JSON.stringify(logs)).not.toContain('arn:aws:iam');

    // Lambda delivers the batch again: at least once.
    eb.failCalls(0);
    expect((await eventsHandler()({ Records: records })).batchItemFailures).toEqual([]);
    expect(events().map(summary)).toEqual([['Session Started', id], ['Session Ended', id]]);
  });

  test('WHEN some entries fail with a retryable error THEN they alone are put again, and every record succeeds', async () => {
    const { records } = await threeRecords();
    eb.failEntries(1);

    const result = await eventsHandler()({ Records: records });

    expect(result.batchItemFailures).toEqual([]);
    expect(eb.calls.map((c) => [c.entries.length, c.failed])).toEqual([[2, 1], [1, 0]]);
    expect(events().map((e) => e['detail-type']).sort()).toEqual(['Session Ended', 'Session Started']);
    expect(failedCounts).toEqual([0]);
  });

  test('fails when an entry is refused for good (AccessDeniedException): only its record is named, without another attempt', async () => {
    const { records } = await threeRecords();
    eb.failEntries((entry) => entry.DetailType === SessionEventTypes.SESSION_ENDED, 'AccessDeniedException');

    const result = await eventsHandler()({ Records: records });

    expect(result.batchItemFailures).toEqual([{ itemIdentifier: seqOf(records[2]) }]);
    expect(eb.calls).toHaveLength(1);
    expect(events().map((e) => e['detail-type'])).toEqual(['Session Started']);
    expect(logs[0]).toMatchObject({ level: 'ERROR', failed: 1, errors: { AccessDeniedException: 1 } });
  });

  test('WHEN EventBridge answers too late THEN the handler stops within its time and names the records', async () => {
    const { records } = await threeRecords();
    eb.delay(5_000);
    const started = Date.now();

    // 3 s left of the invocation: the publication stops 2 s before the end, at the least after 1 s.
    const result = await eventsHandler()({ Records: records }, { getRemainingTimeInMillis: () => 3_000 });

    expect(Date.now() - started).toBeLessThan(2_500);
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([seqOf(records[0]), seqOf(records[2])]);
    expect(logs[0]).toMatchObject({ errors: { Timeout: 2 } });
  });
});

describe('GIVEN stream records that are no session change', () => {
  let started: DynamoDBRecord;
  beforeAll(async () => {
    await stream.skip();
    await vend('readonly');
    [started] = await stream.read();
  });
  const image = () => started.dynamodb!.NewImage as any;
  const modify = (before: Record<string, any>, after: Record<string, any>): StreamRecordLike =>
    ({ eventName: 'MODIFY', dynamodb: { OldImage: { ...image(), ...before }, NewImage: { ...image(), ...after } } });

  // Records are made when each test runs: the session is vended in beforeAll.
  test.each<[string, () => StreamRecordLike]>([
    ['a removal (TTL)', () => ({ eventName: 'REMOVE', dynamodb: { OldImage: image() } })],
    ['an item of the control kind (# id)', () => ({ eventName: 'INSERT', dynamodb: { NewImage: { ...image(), id: { S: '#sentinel-tvm-lease' } } } })],
    ['a continuation (active → active)', () => modify({}, { request_count: { N: '2' } })],
    ['a change of a revoked session that stays revoked', () => modify({ status: { S: 'revoked' } }, { status: { S: 'revoked' } })],
    ['an insert of an expired session', () => ({ eventName: 'INSERT', dynamodb: { NewImage: { ...image(), status: { S: 'expired' } } } })],
    ['a record without an image', () => ({ eventName: 'INSERT', dynamodb: {} })],
  ])('THEN %s comes to no event', (_name, record) => {
    expect(sessionChange(record(), TARGET)).toEqual({ kind: 'none' });
  });

  test('refuses to make an event of a session item that lacks a field its schema requires: skipped, naming the field', async () => {
    const { principal_arn: _, ...noPrincipal } = image();
    const record = { eventName: 'INSERT', dynamodb: { NewImage: noPrincipal, SequenceNumber: '1' } };
    const otherTool = { eventName: 'INSERT', dynamodb: { NewImage: { ...image(), id: { S: 'not-a-tvm-id' } }, SequenceNumber: '2' } };

    expect(sessionChange(record, TARGET)).toEqual({
      kind: 'skipped', sessionId: image().id.S, detailType: 'Session Started', invalid: ['principal_arn'],
    });
    expect(sessionChange(otherTool, TARGET)).toMatchObject({ kind: 'skipped', invalid: ['id'] });
    expect(await eventsHandler()({ Records: [record, otherTool] })).toEqual({ batchItemFailures: [] });
    expect(eb.calls).toEqual([]);
    expect(logs[0]).toMatchObject({ level: 'WARN', count: 2 });
  });

  test('THEN a MODIFY active → revoked of another tool (no user or reason) is a Session Revoked all the same', () => {
    const { user: _, ...noUser } = image();
    const change = sessionChange({
      eventName: 'MODIFY',
      dynamodb: {
        OldImage: noUser,
        NewImage: { ...noUser, status: { S: 'revoked' }, revoked_at: { S: '2036-01-25T14:30:00.000Z' }, revoked_by: { S: ADMIN } },
      },
    }, TARGET);
    expect(change).toMatchObject({ kind: 'event', detailType: 'Session Revoked' });
    expect(JSON.parse((change as any).entry.Detail)).toMatchObject({ user: '', reason: '', revokedBy: ADMIN });
  });
});

describe('GIVEN the JSON Schemas of the events', () => {
  test('THEN there is one per detail-type of the contract, named and identified as the contract says, and no other', () => {
    const files = [...readSchemas().keys()].sort();
    expect(files).toEqual(Object.values(SessionEventTypes).map((t) => schemaFileOf(t)).sort());
    for (const [file, schema] of readSchemas()) {
      expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
      expect(schema.$id).toBe(`${SCHEMA_ID_BASE}${file}`);
      expect(schema.properties.source).toEqual({ const: SessionEvents.SOURCE });
      expect(schema.properties.detail.properties.version).toMatchObject({ const: SessionEvents.VERSION });
      expect(schema.properties.detail.additionalProperties).toBe(false);
    }
  });

  test('THEN each schema\'s detail requires exactly the fields the runtime emits (schema and runtime cannot drift)', async () => {
    await vend('readonly');
    const [record] = await stream.read();
    const at = new Date('2036-01-25T14:30:01.000Z');
    const active = record.dynamodb!.NewImage as any;
    const to = (more: Record<string, unknown>): StreamRecordLike =>
      ({ eventName: 'MODIFY', dynamodb: { OldImage: active, NewImage: { ...active, ...more } } });
    const changes = [
      sessionChange(record, TARGET),
      sessionChange(to({ status: { S: 'expired' }, ended_at: { S: at.toISOString() } }), TARGET),
      sessionChange(to({ status: { S: 'revoked' }, revoked_at: { S: at.toISOString() }, revoked_by: { S: ADMIN } }), TARGET),
    ];
    const entries = [
      ...changes.map((c) => (c.kind === 'event' ? c.entry : undefined)),
      revocationEnforced({
        sessionId: '0123456789abcdef', roleArn: READONLY, account: ACCOUNT, mechanism: 'role-policy', revokedAt: at.getTime() - 900, enforcedAt: at,
      }, TARGET),
      revocationEnforcementFailed({
        roleArn: READONLY, account: ACCOUNT, mechanism: 'role-policy', sessionIds: ['0123456789abcdef'], error: 'AccessDenied', failedAt: at,
      }, TARGET),
      // Every optional field present: the schema must allow each.
      tamperDetected({
        kind: 'deny-policy',
        eventId: '5d0e6f2a-8b1c-4d3e-9f40-1a2b3c4d0001',
        eventName: 'DeleteRolePolicy',
        eventSource: 'iam.amazonaws.com',
        eventTime: at.toISOString(),
        account: ACCOUNT,
        region: 'us-east-1',
        actor: `arn:aws:iam::${ACCOUNT}:user/mallory`,
        actorType: 'IAMUser',
        role: 'ReadOnly',
        errorCode: 'AccessDenied',
      }, 'enforced', at, TARGET),
    ];
    const details = new Map(entries.map((e) => [e!.DetailType!, JSON.parse(e!.Detail!)]));
    // The access events' details are checked against their schemas, from the runtime, in access-events.test.ts.
    const accessTypes: string[] = Object.values(AccessEventTypes);
    expect([...details.keys()].sort()).toEqual(Object.values(SessionEventTypes).filter((t) => !accessTypes.includes(t)).sort());
    const schemas = readSchemas();
    for (const [detailType, detail] of details) {
      const schema = schemas.get(schemaFileOf(detailType));
      // Tamper Detected names a role and an error only when there is one.
      const optional = detailType === SessionEventTypes.TAMPER_DETECTED ? ['errorCode', 'role'] : [];
      expect([detailType, [...schema.properties.detail.required].sort()])
        .toEqual([detailType, Object.keys(detail).filter((k) => !optional.includes(k)).sort()]);
      expect([detailType, Object.keys(schema.properties.detail.properties).sort()]).toEqual([detailType, Object.keys(detail).sort()]);
    }
  });

  test('THEN the examples of schemas/events/README.md are valid events of their detail-type', () => {
    const readme = fs.readFileSync(path.join(SCHEMA_DIR, 'README.md'), 'utf8');
    const examples = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]));
    expect(examples.map((e) => e['detail-type']).sort()).toEqual(Object.values(SessionEventTypes).sort());
    for (const e of examples) expect([e['detail-type'], validate(e)]).toEqual([e['detail-type'], []]);
  });

  test('fails when an event breaks its schema: an unknown detail field, a malformed session id, another detail-type\'s detail', () => {
    const valid = {
      'version': '0',
      'id': 'a',
      'detail-type': 'Session Ended',
      'source': 'sentinel-tvm',
      'account': ACCOUNT,
      'time': '2036-01-25T14:30:00Z',
      'region': 'us-east-1',
      'resources': [READONLY],
      'detail': {
        version: 1,
        tvmName: TVM_NAME,
        sessionId: '0123456789abcdef',
        user: 'bob',
        principalArn: BOB,
        profile: 'deploy',
        roleArn: DEPLOY,
        endedAt: '2036-01-25T14:30:00.000Z',
        reason: 'ended by its owner',
      },
    };
    expect(validate(valid)).toEqual([]);
    expect(validate({ ...valid, detail: { ...valid.detail, extra: 1 } })).not.toEqual([]);
    expect(validate({ ...valid, detail: { ...valid.detail, sessionId: '0123456789ABCDEF' } })).not.toEqual([]);
    expect(validate({ ...valid, 'detail-type': 'Session Revoked' })).not.toEqual([]);
    expect(validate({ ...valid, detail: { ...valid.detail, endedAt: 'yesterday' } })).not.toEqual([]);
  });
});

describe('GIVEN the local EventBridge', () => {
  test('refuses what EventBridge refuses: no signature, another operation, more than ten entries, an unknown bus, an aws. source', async () => {
    const unsigned = await fetch(eb.endpoint, {
      method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' }, body: '{"Entries":[]}',
    });
    expect([unsigned.status, (await unsigned.json() as any).__type]).toEqual([400, 'MissingAuthenticationTokenException']);
    const other = await fetch(eb.endpoint, { method: 'POST', headers: { 'x-amz-target': 'AWSEvents.PutRule' }, body: '{}' });
    expect((await other.json() as any).__type).toBe('UnknownOperationException');
    const entry = { Source: SessionEvents.SOURCE, DetailType: 'Session Started', Detail: '{}' };
    await expect(client.send(new PutEventsCommand({ Entries: Array(11).fill(entry) }))).rejects.toThrow(/length less than or equal to 10/);

    const strict = await startLocalEventBridge({ buses: ['security'], onEvent: () => undefined });
    const strictClient = new EventBridgeClient({ region: 'eu-west-1', endpoint: strict.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
    try {
      await expect(strictClient.send(new PutEventsCommand({ Entries: [{ ...entry, EventBusName: 'nope' }] })))
        .rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      const out = await strictClient.send(new PutEventsCommand({
        Entries: [{ ...entry, Source: 'aws.iam' }, { ...entry, Detail: '[1]' }, { ...entry, EventBusName: 'security' }],
      }));
      expect(out.FailedEntryCount).toBe(2);
      expect(out.Entries!.map((e) => e.ErrorCode ?? 'ok')).toEqual(['NotAuthorizedForSourceException', 'MalformedDetail', 'ok']);
    } finally {
      strictClient.destroy();
      await strict.stop();
    }
  });
});

describe('GIVEN the events function\'s settings', () => {
  test('THEN the TVM name and the bus (a name or an ARN) are read; no bus means the default bus', () => {
    expect(readEventsFunctionSettings({ [Env.TVM_NAME]: 'MyTvm' })).toEqual({ tvmName: 'MyTvm' });
    const arn = 'arn:aws:events:eu-west-1:111122223333:event-bus/security';
    expect(readEventsFunctionSettings({ [Env.TVM_NAME]: 'MyTvm', [Env.EVENT_BUS]: arn })).toEqual({ tvmName: 'MyTvm', eventBus: arn });
    expect(readEventTarget({})).toBeUndefined();
  });

  test.each<[string, Record<string, string>, RegExp]>([
    ['the TVM name is not set', {}, /SENTINEL_TVM_NAME is not set/],
    ['the TVM name is malformed', { [Env.TVM_NAME]: 'my tvm' }, /SENTINEL_TVM_NAME is "my tvm"/],
    ['the bus is malformed', { [Env.TVM_NAME]: 'MyTvm', [Env.EVENT_BUS]: 'arn:aws:sqs:eu-west-1:111122223333:q' }, /SENTINEL_EVENT_BUS is/],
  ])('fails when %s, naming the variable', (_name, env, message) => {
    expect(() => readEventsFunctionSettings(env)).toThrow(message);
  });

  test('THEN the patterns the runtime checks are those of the schemas', () => {
    const detail = (type: string) => readSchemas().get(schemaFileOf(type)).properties.detail.properties;
    expect(detail('Session Started').sessionId.pattern).toBe(EventPatterns.SESSION_ID.source);
    expect(detail('Session Started').roleArn.pattern).toBe(EventPatterns.ROLE_ARN.source.replace(/\\\//g, '/'));
    expect(detail('Session Started').principalArn.pattern).toBe(EventPatterns.PRINCIPAL_ARN.source);
    expect(detail('Session Started').accountId.pattern).toBe(EventPatterns.ACCOUNT.source);
    expect(detail('Session Started').tvmName.pattern).toBe(EventPatterns.TVM_NAME.source);
    expect(detail('Revocation Enforcement Failed').error.pattern).toBe(EventPatterns.ERROR.source);
  });
});

describe('GIVEN the bundled events function', () => {
  test('WHEN it gets stream records THEN it puts their events with the SDK configuration of its environment, and says so', async () => {
    const bundle = await startBundle(BUNDLE, {
      [Env.TVM_NAME]: TVM_NAME,
      POWERTOOLS_SERVICE_NAME: TVM_NAME,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eb.endpoint,
    });
    try {
      const id = await vend('readonly');
      const result = await bundle.invoke({ Records: await stream.read() });

      expect(result).toEqual({ batchItemFailures: [] });
      expect(events().map(summary)).toEqual([['Session Started', id]]);
      expect(validate(events()[0])).toEqual([]);
      const lines = bundle.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(lines.find((l) => l.message === 'session events')).toMatchObject({ level: 'INFO', service: TVM_NAME, events: 1, put: 1, failed: 0 });
      const emf = lines.find((l) => 'EventsFailed' in l);
      expect(emf.EventsFailed).toBe(0);
      expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'SentinelTvm', Dimensions: [['service']] });
    } finally {
      await bundle.stop();
    }
  });

  test('fails to start without its TVM name, saying which variable is missing', async () => {
    await expect(startBundle(BUNDLE, { AWS_REGION: 'us-east-1' })).rejects.toThrow(/SENTINEL_TVM_NAME is not set/);
  });
});
