// Self-check of the recorded CloudTrail fixture (test/fixtures/cloudtrail/overlapping-sessions.json): every LookupEvents
// wrapper agrees with the record it carries, and the ids test/support/cloudtrail-fixture.ts names are there and mean
// what it says, so that a test built on the fixture fails on its code, never on a broken fixture.
import {
  asSdkEvent, CHAINED_HOP, FAKE_SESSION_TOKEN, GLOBAL_REGION, HUB_ACCOUNT, loadCloudTrailFixture, NOISE_IDS, PROFILE_ROLE_ARN,
  SESSIONS, SPOKE_ACCOUNT, TVM_REGION, VEND_CALLER_KEY, VEND_ROLE_ARN, VEND_SESSION_NAME, type RecordedEvent,
} from './support/cloudtrail-fixture';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const records = loadCloudTrailFixture();
const byId = new Map(records.map((r) => [r.event.EventId, r]));
const record = (id: string): RecordedEvent => {
  const found = byId.get(id);
  if (!found) throw new Error(`no event ${id} in the fixture`);
  return found;
};

/** How a LookupEvents wrapper disagrees with its record and where it is filed; empty when it agrees. */
function mismatches({ account, region, event }: RecordedEvent): string[] {
  const r = event.CloudTrailEvent;
  const found: string[] = [];
  const check = (what: string, wrapper: unknown, inRecord: unknown) => {
    if (wrapper !== inRecord) found.push(`${what}: ${String(wrapper)} != ${String(inRecord)}`);
  };
  check('EventId', event.EventId, r.eventID);
  check('EventTime', Date.parse(event.EventTime), Date.parse(r.eventTime));
  check('EventName', event.EventName, r.eventName);
  check('EventSource', event.EventSource, r.eventSource);
  check('ReadOnly', event.ReadOnly, String(r.readOnly));
  check('AccessKeyId', event.AccessKeyId, r.userIdentity?.accessKeyId);
  check('account', account, r.recipientAccountId);
  check('region', region, r.awsRegion);
  return found;
}

describe('the recorded CloudTrail fixture', () => {
  test('GIVEN the fixture WHEN loaded THEN every event id is a UUID, and no two are the same', () => {
    const ids = records.map((r) => r.event.EventId);
    expect(ids.filter((id) => !UUID.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(19);
  });

  test('GIVEN each record WHEN its LookupEvents wrapper is compared with its CloudTrail record THEN they agree', () => {
    expect(records.flatMap((r) => mismatches(r).map((m) => `${r.event.EventId} ${m}`))).toEqual([]);
  });

  test('refuses a record whose wrapper disagrees with its CloudTrail record', () => {
    const copy: RecordedEvent = JSON.parse(JSON.stringify(record(SESSIONS.B.callIds[1])));
    copy.event.CloudTrailEvent.eventTime = '2026-11-30T10:16:01Z';
    copy.event.CloudTrailEvent.userIdentity.accessKeyId = SESSIONS.A.keys[0];
    expect(mismatches({ ...copy, region: GLOBAL_REGION })).toEqual([
      'EventTime: 1796033760000 != 1796033761000',
      `AccessKeyId: ${SESSIONS.B.keys[0]} != ${SESSIONS.A.keys[0]}`,
      `region: ${GLOBAL_REGION} != ${TVM_REGION}`,
    ]);
  });

  test('GIVEN the records WHEN read in order THEN they are newest first, as LookupEvents answers', () => {
    const times = records.map((r) => Date.parse(r.event.EventTime));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  test('GIVEN each session WHEN its ids are looked up THEN they exist, newest first, and all is vends, calls and the hop copy', () => {
    for (const s of Object.values(SESSIONS)) {
      for (const id of s.allIds) expect(byId.has(id)).toBe(true);
      const order = (ids: readonly string[]) => ids.map((id) => records.indexOf(record(id)));
      for (const ids of [s.vendIds, s.callIds, s.allIds]) expect(order(ids)).toEqual([...order(ids)].sort((a, b) => a - b));
      const hop = s === SESSIONS.A ? [CHAINED_HOP.roleAccountCopyId] : [];
      expect([...s.allIds].sort()).toEqual([...s.vendIds, ...s.callIds, ...hop].sort());
    }
    const sessionIds = Object.values(SESSIONS).flatMap((s) => s.allIds);
    expect(new Set([...sessionIds, ...Object.values(NOISE_IDS)]).size).toBe(records.length);
  });

  test('GIVEN a vend WHEN read THEN the TVM assumed the profile role with the session\'s tag, name, SourceIdentity and new key', () => {
    for (const s of Object.values(SESSIONS)) {
      const vends = [...s.vendIds].reverse().map(record);
      expect(vends.map((v) => v.event.CloudTrailEvent.responseElements.credentials.accessKeyId)).toEqual(s.keys);
      expect(vends.map((v) => v.event.CloudTrailEvent.requestParameters.roleSessionName)).toEqual(s.roleSessionNames);
      for (const { account, region, event } of vends) {
        const r = event.CloudTrailEvent;
        expect([account, region, event.EventName, event.Username, event.AccessKeyId])
          .toEqual([HUB_ACCOUNT, TVM_REGION, 'AssumeRole', VEND_SESSION_NAME, VEND_CALLER_KEY]);
        expect(r.userIdentity.sessionContext.sessionIssuer.arn).toBe(VEND_ROLE_ARN);
        expect(r.requestParameters).toMatchObject({
          roleArn: PROFILE_ROLE_ARN,
          durationSeconds: 3600,
          sourceIdentity: s.sourceIdentity,
          tags: [{ key: 'SentinelSessionID', value: s.id }],
          transitiveTagKeys: ['SentinelSessionID'],
        });
        expect(r.responseElements.sourceIdentity).toBe(s.sourceIdentity);
        expect(event.Resources).toContainEqual({ ResourceType: 'AWS::IAM::AccessKey', ResourceName: r.responseElements.credentials.accessKeyId });
      }
    }
  });

  test('GIVEN a call made with a session\'s credentials WHEN read THEN it carries the session\'s SourceIdentity and one of its keys', () => {
    for (const s of Object.values(SESSIONS)) {
      const keys = s === SESSIONS.A ? [...s.keys, CHAINED_HOP.key] : s.keys;
      for (const id of s.callIds) {
        const { event } = record(id);
        const identity = event.CloudTrailEvent.userIdentity;
        expect(identity.sessionContext.sourceIdentity).toBe(s.sourceIdentity);
        expect(keys).toContain(event.AccessKeyId);
        expect(event.Username).toBe(identity.arn.split('/').pop());
      }
    }
    const others = records.filter((r) => !Object.values(SESSIONS).some((s) => s.callIds.includes(r.event.EventId)));
    expect(others.map((r) => r.event.CloudTrailEvent.userIdentity.sessionContext?.sourceIdentity).filter(Boolean)).toEqual([]);
  });

  test('GIVEN the chained hop WHEN read THEN each account has its copy of the one request, the role\'s without the caller\'s identity', () => {
    const caller = record(CHAINED_HOP.callerCopyId);
    const role = record(CHAINED_HOP.roleAccountCopyId);
    expect([caller.account, role.account]).toEqual([HUB_ACCOUNT, SPOKE_ACCOUNT]);
    expect(role.event.CloudTrailEvent.requestID).toBe(caller.event.CloudTrailEvent.requestID);
    expect(role.event.CloudTrailEvent.sharedEventID).toBe(caller.event.CloudTrailEvent.sharedEventID);
    expect(role.event.CloudTrailEvent.userIdentity).toEqual({
      type: 'AWSAccount', principalId: `AROAREADONLY0000EXAMPLE:${SESSIONS.A.roleSessionNames[0]}`, accountId: HUB_ACCOUNT,
    });
    expect(role.event.CloudTrailEvent.responseElements.sourceIdentity).toBe(SESSIONS.A.sourceIdentity);
    expect(caller.event.CloudTrailEvent.requestParameters.sourceIdentity).toBeUndefined();
  });

  test('GIVEN IAM and S3 ListBuckets calls WHEN read THEN they are recorded in us-east-1, the others in the TVM\'s region', () => {
    const global = records.filter((r) => r.event.EventSource === 'iam.amazonaws.com' || r.event.EventName === 'ListBuckets');
    expect(global.length).toBe(4);
    expect(records.filter((r) => r.region === GLOBAL_REGION)).toEqual(global);
    expect(records.filter((r) => r.region !== GLOBAL_REGION).every((r) => r.region === TVM_REGION)).toBe(true);
  });

  test('GIVEN every recorded session token WHEN read THEN it is the placeholder, never a real-looking token', () => {
    const tokens = records.map((r) => r.event.CloudTrailEvent.responseElements?.credentials?.sessionToken).filter(Boolean);
    expect(tokens.length).toBe(7);
    expect(new Set(tokens)).toEqual(new Set([FAKE_SESSION_TOKEN]));
  });

  test('GIVEN a fixture event WHEN made into an SDK event THEN its time is a Date and its record a JSON string', () => {
    const sdk = asSdkEvent(record(NOISE_IDS.mallory).event);
    expect(sdk.EventTime).toEqual(new Date('2026-11-30T10:40:00Z'));
    expect(JSON.parse(sdk.CloudTrailEvent!)).toMatchObject({ errorCode: 'AccessDenied', responseElements: null });
  });
});
