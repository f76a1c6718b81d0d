// The local CloudTrail (cli/local/cloudtrail.ts) through the real CloudTrail SDK client: LookupEvents as CloudTrail answers
// it (one lookup attribute, inclusive time range, 90 days, newest first, pages of at most 50 behind a token bound to its
// parameters), each caller reading only its own account's history in the region it signed for, and throttled at two
// calls a second per account and region with the error the SDK retries as throttling.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CloudTrailClient, DescribeTrailsCommand, LookupEventsCommand, paginateLookupEvents,
  type Event, type LookupAttributeKey, type LookupEventsCommandInput,
} from '@aws-sdk/client-cloudtrail';
import {
  LOOKUP_EVENTS_TARGETS, lookupEventsFromFile, startLocalCloudTrail, type LocalCloudTrail, type LookupEvent, type StoredEvent,
} from '../cli/local/cloudtrail';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const A = '111111111111';
const B = '222222222222';
const US = 'us-east-1';
const EU = 'eu-west-1';
const KEYS: Record<string, string> = { AKIDLOCALA: A, AKIDLOCALB: B };
const SECRET = 'local-secret-not-a-real-key';

const id = (i: number) => `a-${String(i).padStart(3, '0')}`;
/** Minutes before NOW; a-048 to a-052 share one time (a tie across the first page's end); a-119 is 89 days old. */
const timeOf = (i: number) => new Date(NOW.getTime() - (i === 119 ? 89 * DAY : (i >= 48 && i <= 52 ? 49 : i + 1) * MINUTE));
const record = (e: Omit<LookupEvent, 'CloudTrailEvent'>) => JSON.stringify({
  eventID: e.EventId, eventName: e.EventName, sourceIdentity: 'sentinel.x',
});

function aEvent(i: number): LookupEvent {
  const base = {
    EventId: id(i),
    EventName: i % 2 === 0 ? 'GetObject' : 'PutObject',
    ReadOnly: (i % 2 === 0 ? 'true' : 'false') as 'true' | 'false',
    AccessKeyId: 'ASIAALICE',
    EventTime: timeOf(i),
    EventSource: 's3.amazonaws.com',
    Username: 'alice',
    Resources: [{ ResourceType: 'AWS::S3::Object', ResourceName: `bucket/key-${i}` }],
  };
  const over = i === 7 ? {
    EventName: 'DeleteBucket',
    ReadOnly: 'false' as const,
    AccessKeyId: 'ASIACAROL1',
    Username: 'carol',
    Resources: [{ ResourceType: 'AWS::S3::Bucket', ResourceName: 'doomed-bucket' }, { ResourceType: 'AWS::KMS::Key', ResourceName: 'key-1' }],
  } : i === 11 ? {
    EventName: 'Decrypt',
    ReadOnly: 'true' as const,
    AccessKeyId: 'ASIACAROL2',
    Username: 'carol',
    EventSource: 'kms.amazonaws.com',
    Resources: [{ ResourceType: 'AWS::KMS::Key', ResourceName: 'key-2' }],
  } : {};
  const e = { ...base, ...over };
  return { ...e, CloudTrailEvent: record(e) };
}

const other = (account: string, region: string, eventId: string, minutesAgo: number): StoredEvent => {
  const e = {
    EventId: eventId,
    EventName: 'DeleteBucket',
    ReadOnly: 'false' as const,
    EventTime: new Date(NOW.getTime() - minutesAgo * MINUTE),
    EventSource: 's3.amazonaws.com',
    Username: 'carol',
  };
  return { account, region, event: { ...e, CloudTrailEvent: record(e) } };
};

/** 120 events of account A in us-east-1 within 90 days, one older; a few of account B, and of account A in eu-west-1. */
const A_US = Array.from({ length: 120 }, (_, i) => aEvent(i));
const OLD: StoredEvent = other(A, US, 'a-old', 91 * 24 * 60);
const HISTORY: StoredEvent[] = [
  // Stored out of order: the answer's order is the endpoint's doing.
  ...A_US.map((event) => ({ account: A, region: US, event })).reverse(),
  OLD,
  other(B, US, 'b-0', 3), other(B, US, 'b-1', 1),
  other(A, EU, 'eu-0', 2), other(A, EU, 'eu-1', 5),
];
const ALL_A_US = A_US.map((e) => e.EventId);

let ct: LocalCloudTrail;
let logs: string[];

const client = (more: { region?: string; key?: string; maxAttempts?: number; endpoint?: string } = {}) => new CloudTrailClient({
  endpoint: more.endpoint ?? ct.endpoint,
  region: more.region ?? US,
  credentials: { accessKeyId: more.key ?? 'AKIDLOCALA', secretAccessKey: SECRET },
  maxAttempts: more.maxAttempts ?? 1,
});
const ids = (events: Event[] | undefined): string[] => (events ?? []).map((e) => e.EventId!);

/** Every event found, through the SDK's own paginator. */
async function lookupAll(input: LookupEventsCommandInput, c = client()): Promise<{ pages: string[][] }> {
  const pages: string[][] = [];
  for await (const page of paginateLookupEvents({ client: c, pageSize: 50 }, input)) pages.push(ids(page.Events));
  return { pages };
}

/** The error a call is answered with (fails the test when it succeeds). */
async function refusal(p: Promise<unknown>): Promise<any> {
  return p.then(() => { throw new Error('expected the call to be refused'); }, (err) => err);
}

beforeAll(async () => {
  logs = [];
  // The rate limit is tested on its own endpoints below: here it stays out of the way.
  ct = await startLocalCloudTrail({
    events: HISTORY, accountOf: (k) => KEYS[k], now: () => NOW, rateLimitPerSecond: 1000, log: (l) => logs.push(l),
  });
});
afterAll(async () => {
  await ct?.stop();
});

describe('GIVEN the history of two accounts in two regions', () => {
  test('WHEN a caller looks up with no parameters THEN it gets 50 of its account\'s events in the signed region, newest first', async () => {
    const res = await client().send(new LookupEventsCommand({}));
    expect(ids(res.Events)).toEqual(ALL_A_US.slice(0, 50));
    expect(res.NextToken).toEqual(expect.any(String));
    const times = res.Events!.map((e) => e.EventTime!.getTime());
    expect(times).toEqual([...times].sort((x, y) => y - x));
  });

  test('THEN each event has the fields LookupEvents answers, EventTime a Date and CloudTrailEvent the JSON string', async () => {
    const res = await client().send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: 'a-007' }] }));
    const { CloudTrailEvent, ...rest } = A_US[7];
    expect(res.Events).toEqual([{ ...rest, CloudTrailEvent: expect.any(String) }]);
    expect(JSON.parse(res.Events![0].CloudTrailEvent!)).toEqual(JSON.parse(CloudTrailEvent));
    expect(res.NextToken).toBeUndefined();
  });

  test('WHEN it pages through its 120 events at MaxResults 50 THEN it gets 3 pages (50, 50, 20), every event exactly once', async () => {
    const before = ct.calls.length;
    const { pages } = await lookupAll({});
    expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
    // a-048 to a-052 share one time: the page boundary inside them loses and repeats none.
    expect(pages.flat()).toEqual(ALL_A_US);
    expect(new Set(pages.flat()).size).toBe(120);
    expect(ct.calls.slice(before).map((c) => [c.nextToken, c.returned, c.status])).toEqual([[false, 50, 200], [true, 50, 200], [true, 20, 200]]);
  });

  test('THEN events older than 90 days are never returned, even within the asked time range', async () => {
    const { pages } = await lookupAll({ StartTime: new Date(NOW.getTime() - 100 * DAY), EndTime: new Date(NOW.getTime() - 80 * DAY) });
    expect(pages.flat()).toEqual(['a-119']);
  });

  test.each<[LookupAttributeKey, string, string[]]>([
    ['EventId', 'a-042', ['a-042']],
    ['EventName', 'DeleteBucket', ['a-007']],
    ['ReadOnly', 'false', ALL_A_US.filter((_, i) => i % 2 === 1 && i !== 11)],
    ['ReadOnly', 'true', ALL_A_US.filter((_, i) => i % 2 === 0 || i === 11)],
    ['Username', 'carol', ['a-007', 'a-011']],
    ['ResourceType', 'AWS::KMS::Key', ['a-007', 'a-011']],
    ['ResourceName', 'key-1', ['a-007']], // the event's second resource
    ['ResourceName', 'bucket/key-3', ['a-003']],
    ['EventSource', 'kms.amazonaws.com', ['a-011']],
    ['AccessKeyId', 'ASIACAROL2', ['a-011']],
    ['Username', 'Carol', []], // values match exactly
  ])('WHEN it looks up %s = %s THEN it gets exactly the matching events, newest first', async (key, value, expected) => {
    const { pages } = await lookupAll({ LookupAttributes: [{ AttributeKey: key, AttributeValue: value }] });
    expect(pages.flat()).toEqual(expected);
    expect(ct.calls[ct.calls.length - 1].attribute).toEqual({ key, value });
  });

  test('WHEN it gives a time range THEN both ends are included, to the millisecond', async () => {
    const range = { StartTime: timeOf(20), EndTime: timeOf(10) };
    const { pages } = await lookupAll(range);
    expect(pages.flat()).toEqual(ALL_A_US.slice(10, 21));
    const inner = await lookupAll({ StartTime: new Date(timeOf(20).getTime() + 1), EndTime: new Date(timeOf(10).getTime() - 1) });
    expect(inner.pages.flat()).toEqual(ALL_A_US.slice(11, 20));
    const last = ct.calls[ct.calls.length - 1];
    expect([last.startTime, last.endTime]).toEqual([new Date(timeOf(20).getTime() + 1), new Date(timeOf(10).getTime() - 1)]);
  });

  test('WHEN it combines an attribute and a time range THEN both apply', async () => {
    const { pages } = await lookupAll({
      LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'carol' }], StartTime: timeOf(10), EndTime: timeOf(0),
    });
    expect(pages.flat()).toEqual(['a-007']);
  });

  test('WHEN it asks for Insights events THEN it gets none (only management events are recorded)', async () => {
    const res = await client().send(new LookupEventsCommand({ EventCategory: 'insight' }));
    expect(res.Events).toEqual([]);
    expect(res.NextToken).toBeUndefined();
  });

  test('WHEN another account\'s caller looks up THEN it gets only its own account\'s events', async () => {
    const b = client({ key: 'AKIDLOCALB' });
    expect((await lookupAll({}, b)).pages.flat()).toEqual(['b-1', 'b-0']);
    const { pages } = await lookupAll({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'DeleteBucket' }] }, b);
    expect(pages.flat()).toEqual(['b-1', 'b-0']);
    expect(ct.calls[ct.calls.length - 1].account).toBe(B);
  });

  test('WHEN the caller signs for another region THEN it gets only that region\'s events', async () => {
    const eu = client({ region: EU });
    expect((await lookupAll({}, eu)).pages.flat()).toEqual(['eu-0', 'eu-1']);
    expect((await lookupAll({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: 'a-000' }] }, eu)).pages.flat()).toEqual([]);
    expect(ct.calls[ct.calls.length - 1]).toMatchObject({ account: A, region: EU });
  });

  test('refuses two lookup attributes with InvalidLookupAttributesException', async () => {
    const err = await refusal(client().send(new LookupEventsCommand({
      LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'carol' }, { AttributeKey: 'EventName', AttributeValue: 'Decrypt' }],
    })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidLookupAttributesException', 400]);
    expect(ct.calls[ct.calls.length - 1]).toMatchObject({ attributes: 2, status: 400, error: 'InvalidLookupAttributesException' });
  });

  test.each<[string, any]>([
    ['an unknown key', { AttributeKey: 'SourceIdentity', AttributeValue: 'sentinel.x' }],
    ['an empty value', { AttributeKey: 'Username', AttributeValue: '' }],
    ['a value over 2000 characters', { AttributeKey: 'Username', AttributeValue: 'x'.repeat(2001) }],
  ])('refuses a lookup attribute with %s with InvalidLookupAttributesException', async (_, attribute) => {
    const err = await refusal(client().send(new LookupEventsCommand({ LookupAttributes: [attribute] })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidLookupAttributesException', 400]);
  });

  test('refuses a start time after the end time with InvalidTimeRangeException', async () => {
    const err = await refusal(client().send(new LookupEventsCommand({ StartTime: timeOf(10), EndTime: timeOf(20) })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidTimeRangeException', 400]);
  });

  test.each([0, 51, 2.5])('refuses MaxResults %p with InvalidMaxResultsException', async (n) => {
    const err = await refusal(client().send(new LookupEventsCommand({ MaxResults: n })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidMaxResultsException', 400]);
  });

  test('refuses an event category other than insight with InvalidEventCategoryException', async () => {
    const err = await refusal(client().send(new LookupEventsCommand({ EventCategory: 'management' as any })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidEventCategoryException', 400]);
  });

  test('refuses a token it never issued with InvalidNextTokenException', async () => {
    const err = await refusal(client().send(new LookupEventsCommand({ NextToken: 'bm90IGEgdG9rZW4' })));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['InvalidNextTokenException', 400]);
  });

  test('refuses a token sent with other parameters, by another account or for another region, with InvalidNextTokenException', async () => {
    const first = await client().send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }] }));
    const token = first.NextToken!;
    expect(token).toEqual(expect.any(String));
    const elsewhere: [CloudTrailClient, LookupEventsCommandInput][] = [
      [client(), { NextToken: token }],
      [client(), { NextToken: token, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'false' }] }],
      [client(), { NextToken: token, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }], StartTime: timeOf(119) }],
      [client(), { NextToken: token, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }], EventCategory: 'insight' }],
      [client({ key: 'AKIDLOCALB' }), { NextToken: token, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }] }],
      [client({ region: EU }), { NextToken: token, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }] }],
    ];
    for (const [c, input] of elsewhere) {
      const err = await refusal(c.send(new LookupEventsCommand(input)));
      expect(err.name).toBe('InvalidNextTokenException');
    }
    // With its own parameters it still serves the next page (a retry of it included), and another page size is no other parameter.
    for (const MaxResults of [50, 50, 10]) {
      const next = await client().send(new LookupEventsCommand({
        NextToken: token, MaxResults, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }],
      }));
      expect(ids(next.Events)).toEqual(ALL_A_US.filter((_, i) => i % 2 === 0 || i === 11).slice(50, 50 + MaxResults));
    }
  });

  test('refuses an access key of no account with 403 UnrecognizedClientException', async () => {
    const err = await refusal(client({ key: 'AKIDLOCALNOBODY' }).send(new LookupEventsCommand({})));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['UnrecognizedClientException', 403]);
    const call = ct.calls[ct.calls.length - 1];
    expect([call.account, call.region, call.status, call.error]).toEqual([undefined, US, 403, 'UnrecognizedClientException']);
  });

  test('refuses another operation with UnknownOperationException', async () => {
    const err = await refusal(client().send(new DescribeTrailsCommand({})));
    expect([err.name, err.$metadata.httpStatusCode]).toEqual(['UnknownOperationException', 400]);
    expect(ct.calls[ct.calls.length - 1]).toMatchObject({ operation: 'DescribeTrails', status: 400 });
  });

  test('refuses an unsigned request with MissingAuthenticationTokenException, and serves the target CloudTrail\'s reference names', async () => {
    const post = (target: string, authorization?: string) => fetch(ct.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': target,
        'x-amz-date': '20250601T120000Z',
        ...(authorization ? { authorization } : {}),
      },
      body: '{"MaxResults":1}',
    });
    const unsigned = await post(LOOKUP_EVENTS_TARGETS[1]);
    expect([unsigned.status, ((await unsigned.json()) as any).__type]).toEqual([400, 'com.amazon.coral.service#MissingAuthenticationTokenException']);
    const auth = `AWS4-HMAC-SHA256 Credential=AKIDLOCALA/20250601/${US}/cloudtrail/aws4_request, SignedHeaders=host;x-amz-date, `
      + `Signature=${'0'.repeat(64)}`;
    const signed = await post(LOOKUP_EVENTS_TARGETS[1], auth);
    expect([signed.status, ((await signed.json()) as any).Events.map((e: any) => e.EventId)]).toEqual([200, ['a-000']]);
  });

  test('THEN no log line nor recorded call holds the secret key, the caller\'s access key or a signature', () => {
    expect(logs.length).toBeGreaterThan(0);
    const seen = JSON.stringify([logs, ct.calls]);
    for (const s of [SECRET, 'AKIDLOCALA', 'AKIDLOCALB', 'AKIDLOCALNOBODY', 'Signature', 'AWS4-HMAC']) expect(seen).not.toContain(s);
  });
});

describe('GIVEN CloudTrail\'s rate limit (2 LookupEvents a second per account and region)', () => {
  let limited: LocalCloudTrail;
  let t: number;
  let throttledLogs: string[];

  beforeEach(async () => {
    t = 0;
    throttledLogs = [];
    limited = await startLocalCloudTrail({
      events: HISTORY, accountOf: (k) => KEYS[k], now: () => NOW, clock: () => t, log: (l) => throttledLogs.push(l),
    });
  });
  afterEach(async () => {
    await limited?.stop();
  });
  const on = (more: { region?: string; key?: string; maxAttempts?: number } = {}) => client({ ...more, endpoint: limited.endpoint });
  const lookup = (c: CloudTrailClient) => c.send(new LookupEventsCommand({ MaxResults: 1 }));

  test('WHEN a 3rd call comes within the same second THEN it is refused with HTTP 400 ThrottlingException "Rate exceeded"', async () => {
    await lookup(on());
    t += 999;
    await lookup(on());
    const err = await refusal(lookup(on()));
    expect([err.name, err.message, err.$metadata.httpStatusCode]).toEqual(['ThrottlingException', 'Rate exceeded', 400]);
    expect(limited.calls.map((c) => c.status)).toEqual([200, 200, 400]);
    expect(limited.calls[2]).toMatchObject({ account: A, region: US, error: 'ThrottlingException' });
    // One second after the first call, one more is admitted (a refused call takes no place in the window).
    t += 1;
    await lookup(on());
    await expect(lookup(on())).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  test('THEN the limit is per account and per region', async () => {
    await lookup(on());
    await lookup(on());
    await expect(lookup(on())).rejects.toMatchObject({ name: 'ThrottlingException' });
    await lookup(on({ key: 'AKIDLOCALB' }));
    await lookup(on({ region: EU }));
    expect(limited.calls.map((c) => [c.account, c.region, c.status])).toEqual([
      [A, US, 200], [A, US, 200], [A, US, 400], [B, US, 200], [A, EU, 200],
    ]);
  });

  test('THEN the SDK retries it as throttling: the call succeeds on its 2nd attempt once the second has passed', async () => {
    // The throttled caller's backoff is where the second passes.
    const onThrottled = (l: string) => { if (l.includes('ThrottlingException')) t += 1000; };
    await limited.stop();
    limited = await startLocalCloudTrail({ events: HISTORY, accountOf: (k) => KEYS[k], now: () => NOW, clock: () => t, log: onThrottled });
    await lookup(on());
    await lookup(on());
    const res = await lookup(on({ maxAttempts: 2 }));
    expect([ids(res.Events), res.$metadata.attempts]).toEqual([['a-000'], 2]);
    expect(limited.calls.map((c) => c.status)).toEqual([200, 200, 400, 200]);
    // Not so a caller's error: refused at once, without retry.
    t += 1000;
    const err = await refusal(on({ maxAttempts: 2 }).send(new LookupEventsCommand({ NextToken: 'bm90IGEgdG9rZW4' })));
    expect([err.name, err.$metadata.attempts]).toEqual(['InvalidNextTokenException', 1]);
  });

  test('WHEN 3 calls arrive together on the real clock THEN exactly one is throttled', async () => {
    const real = await startLocalCloudTrail({ events: HISTORY, accountOf: (k) => KEYS[k], now: () => NOW });
    try {
      const c = client({ endpoint: real.endpoint });
      const results = await Promise.allSettled([lookup(c), lookup(c), lookup(c)]);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused.map((r) => r.reason.name)).toEqual(['ThrottlingException']);
    } finally {
      await real.stop();
    }
  });
});

describe('lookupEventsFromFile', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-cloudtrail-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('GIVEN a fixture with the CloudTrail record as an object and an ISO time THEN LookupEvents answers it as CloudTrail does', async () => {
    const file = path.join(dir, 'events.json');
    const cloudTrailEvent = { eventVersion: '1.08', eventName: 'AssumeRole', userIdentity: { type: 'AssumedRole' }, sourceIdentity: 'sentinel.x' };
    fs.writeFileSync(file, JSON.stringify([{
      account: A,
      region: US,
      event: {
        EventId: 'f-1',
        EventName: 'AssumeRole',
        ReadOnly: 'false',
        EventTime: '2025-05-31T10:00:00Z',
        EventSource: 'sts.amazonaws.com',
        Username: 'alice',
        Resources: [{ ResourceType: 'AWS::IAM::Role', ResourceName: 'arn:aws:iam::111111111111:role/Deploy' }],
        CloudTrailEvent: cloudTrailEvent,
      },
    }]));
    const events = lookupEventsFromFile(file);
    expect(events[0].event.EventTime).toEqual(new Date('2025-05-31T10:00:00Z'));
    const local = await startLocalCloudTrail({ events, accountOf: (k) => KEYS[k], now: () => NOW });
    try {
      const res = await client({ endpoint: local.endpoint }).send(new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: 'ResourceType', AttributeValue: 'AWS::IAM::Role' }],
      }));
      expect(res.Events).toHaveLength(1);
      expect(res.Events![0].EventTime).toEqual(new Date('2025-05-31T10:00:00Z'));
      expect(JSON.parse(res.Events![0].CloudTrailEvent!)).toEqual(cloudTrailEvent);
    } finally {
      await local.stop();
    }
  });

  test.each<[string, unknown, RegExp]>([
    ['not an array', { account: A }, /expected an array/],
    ['an account that is not 12 digits', [{ account: '1234', region: US, event: {} }], /entry 0: account must be 12 digits/],
    ['a time that is not ISO 8601', [{ account: A, region: US, event: { ...aEvent(0), EventTime: 'yesterday' } }], /entry 0: event.EventTime/],
    ['no CloudTrail record', [{ account: A, region: US, event: { ...aEvent(0), CloudTrailEvent: undefined } }], /event.CloudTrailEvent is missing/],
    ['a ReadOnly that is not "true" or "false"', [{ account: A, region: US, event: { ...aEvent(0), ReadOnly: true } }], /event.ReadOnly/],
  ])('fails when the file holds %s, naming the file and the entry', (_, content, message) => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify(content));
    expect(() => lookupEventsFromFile(file)).toThrow(message);
    expect(() => lookupEventsFromFile(file)).toThrow(file);
  });
});
