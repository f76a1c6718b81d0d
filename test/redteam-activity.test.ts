// Red team of `sessions activity` (cli/activity.ts): each test here PASSES while the hole it names is open, and asserts
// the current (wrong) answer; the fix turns its expectation around. The real CloudTrail client talks to the local
// LookupEvents endpoint (cli/local/cloudtrail.ts) serving the recorded events of test/fixtures/cloudtrail, some of them
// varied as the test says (the shapes are the recorded ones: the vend, a call, the role account's copy of a cross-account
// AssumeRole).
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import {
  CHAINED_HOP, CLOUDTRAIL_FIXTURE_FILE, GLOBAL_REGION, HUB_ACCOUNT, PROFILE_ROLE_ARN, SESSIONS, SPOKE_ACCOUNT, TVM_REGION,
} from './support/cloudtrail-fixture';
import { sessionActivity, type ActivityQuery, type LookupEvents } from '../cli/activity';
import { lookupEventsFromFile, startLocalCloudTrail, type LocalCloudTrail, type StoredEvent } from '../cli/local/cloudtrail';

const NOW = new Date('2026-11-30T12:00:00Z');
const KEYS: Record<string, { accessKeyId: string; secretAccessKey: string }> = {
  [HUB_ACCOUNT]: { accessKeyId: 'AKIDHUBRESPONDER', secretAccessKey: 'hub-secret' },
  [SPOKE_ACCOUNT]: { accessKeyId: 'AKIDSPOKEREADER', secretAccessKey: 'spoke-secret' },
};
const servers: LocalCloudTrail[] = [];
const clients: CloudTrailClient[] = [];

/** A local CloudTrail serving `events`, and a LookupEvents of the real client on it (each account signing with its key). */
async function trailOf(events: StoredEvent[]): Promise<LookupEvents> {
  const ct = await startLocalCloudTrail({
    events,
    accountOf: (key) => Object.entries(KEYS).find(([, k]) => k.accessKeyId === key)?.[0],
    now: () => NOW,
    rateLimitPerSecond: 1000,
  });
  servers.push(ct);
  const own = new Map<string, CloudTrailClient>();
  return (account, region, input) => {
    let c = own.get(`${account}/${region}`);
    if (!c) {
      own.set(`${account}/${region}`, c = new CloudTrailClient({ region, endpoint: ct.endpoint, credentials: KEYS[account], maxAttempts: 1 }));
      clients.push(c);
    }
    return c.send(new LookupEventsCommand(input));
  };
}

afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await Promise.all(servers.map((s) => s.stop()));
});

const fixture = () => lookupEventsFromFile(CLOUDTRAIL_FIXTURE_FILE);
const byId = (events: StoredEvent[], id: string) => events.find((s) => s.event.EventId === id)!;

/** A copy of a recorded event, elsewhere or changed: `edit` changes its CloudTrail record, `event` its LookupEvents fields. */
function variant(s: StoredEvent, where: Partial<Pick<StoredEvent, 'account' | 'region'>>, eventId: string,
  edit: (ct: any) => void, event: Record<string, unknown> = {}): StoredEvent {
  const ct = JSON.parse(s.event.CloudTrailEvent);
  ct.eventID = eventId;
  edit(ct);
  if (where.region) ct.awsRegion = where.region;
  if (where.account) ct.recipientAccountId = where.account;
  return { ...s, ...where, event: { ...s.event, EventId: eventId, CloudTrailEvent: JSON.stringify(ct), ...event } as StoredEvent['event'] };
}

const fast = { ratePerSecond: 1000, sleep: async () => undefined };
function query(more: Partial<ActivityQuery>): ActivityQuery {
  return {
    sessionId: SESSIONS.A.id,
    roleArn: PROFILE_ROLE_ARN,
    from: new Date('2026-11-30T08:00:00Z'),
    to: new Date('2026-11-30T12:00:00Z'),
    tvmRegion: TVM_REGION,
    regions: [TVM_REGION, GLOBAL_REGION],
    canRead: () => true,
    maxEvents: 1000,
    ...more,
  };
}

describe('GIVEN sessions activity and the recorded CloudTrail events', () => {
  test('HOLE: WHEN --max-events cuts the answer THEN the newest events are the ones dropped (a chained write, an IAM call), '
    + 'while the warning says "older events are not listed"', async () => {
    const lookup = await trailOf(fixture());
    const whole = await sessionActivity(query({}), { lookup, ...fast });
    const cut = await sessionActivity(query({ maxEvents: 6 }), { lookup, ...fast });

    const newest6 = whole.events.slice(0, 6).map((e) => e.eventId);
    expect(cut.truncated).toBe(true);
    // What a reader expects of a cut answer (the 6 newest) is not what it gets:
    expect(cut.events.map((e) => e.eventId)).not.toEqual(newest6);
    const missing = whole.events.filter((e) => !cut.events.some((c) => c.eventId === e.eventId)).map((e) => e.eventName);
    // Dropped: the session's newest call (iam ListRoles, us-east-1) and everything its chained hop did in the spoke,
    // including the one write (lambda UpdateFunctionCode) ...
    expect(missing.sort()).toEqual(['DescribeStacks', 'ListRoles', 'UpdateFunctionCode20150331v2']);
    // ... while the session's oldest read (s3 ListBuckets at 10:05) is kept.
    expect(cut.events.map((e) => e.eventName)).toContain('ListBuckets');
    // The hop's key is still followed (collected keys), but none of its events made it into the answer.
    expect(cut.events.some((e) => e.accessKeyId === CHAINED_HOP.key)).toBe(false);
  });

  test('HOLE: WHEN the profile role is in a spoke account THEN no vend is found: the session has no event and no warning', async () => {
    // A session e5… of a profile whose role is in the spoke: the TVM vends it with a cross-account AssumeRole, recorded in
    // the hub (the caller's copy, with the vending role as issuer) and in the spoke (the role account's copy, whose caller
    // is the hub account: no sessionContext), as the recorded hop into the spoke is; then the session calls in the spoke.
    const id = 'e5e5e5e5e5e5e5e5';
    const role = `arn:aws:iam::${SPOKE_ACCOUNT}:role/sentinel-tvm/example/Deploy`;
    const key = 'ASIAEEEESESSIONE0001';
    const events = fixture();
    const vendB = byId(events, SESSIONS.B.vendIds[0]);
    const hopCopy = byId(events, CHAINED_HOP.roleAccountCopyId);
    const asSpokeVend = (ct: any) => {
      ct.requestParameters.roleArn = role;
      ct.requestParameters.roleSessionName = `tvm-${id}-Ab12Cd34`;
      ct.requestParameters.tags = [{ key: 'SentinelSessionID', value: id }];
      ct.requestParameters.sourceIdentity = `sentinel.${id}.s.alice`;
      ct.responseElements.credentials.accessKeyId = key;
      ct.responseElements.sourceIdentity = `sentinel.${id}.s.alice`;
      ct.requestID = '0e5e5e5e-0000-4000-8000-000000000001';
    };
    const resources = [{ ResourceType: 'AWS::IAM::AccessKey', ResourceName: key }, { ResourceType: 'AWS::IAM::Role', ResourceName: role }];
    const callerCopy = variant(vendB, {}, '0e5e5e5e-0000-4000-8000-00000000000a', asSpokeVend, { Resources: resources });
    const roleCopy = variant(vendB, { account: SPOKE_ACCOUNT }, '0e5e5e5e-0000-4000-8000-00000000000b', (ct) => {
      asSpokeVend(ct);
      ct.userIdentity = { ...JSON.parse(hopCopy.event.CloudTrailEvent).userIdentity, principalId: 'AROAVENDROLE0EXAMPLE1:example-Handler886CB40B-AbCdEf123456' };
    }, { Resources: resources, AccessKeyId: undefined, Username: undefined });
    const call = variant(byId(events, SESSIONS.B.callIds[1]), { account: SPOKE_ACCOUNT }, '0e5e5e5e-0000-4000-8000-00000000000c', (ct) => {
      ct.userIdentity.accessKeyId = key;
      ct.userIdentity.arn = `arn:aws:sts::${SPOKE_ACCOUNT}:assumed-role/Deploy/tvm-${id}-Ab12Cd34`;
      ct.userIdentity.sessionContext.sourceIdentity = `sentinel.${id}.s.alice`;
    }, { AccessKeyId: key });
    const lookup = await trailOf([...events, callerCopy, roleCopy, call]);

    const result = await sessionActivity(query({ sessionId: id, roleArn: role }), { lookup, ...fast });
    // Neither the vend (its only copy with the vending role as issuer is in the hub, which is not asked) nor the call.
    expect(result).toMatchObject({ events: [], keys: [], unreadAccounts: [], truncated: false });
  });

  test('HOLE: WHEN the session chains through the STS endpoint of a region not asked THEN the hop and all it did are missing, '
    + 'with no warning', async () => {
    const events = fixture();
    const hubCopy = byId(events, CHAINED_HOP.callerCopyId);
    // The same hop as recorded, but through sts.ap-southeast-2 (recorded there), as a caller can choose.
    const moved = events.map((s) => (s.event.EventId === hubCopy.event.EventId
      ? variant(s, { region: 'ap-southeast-2' }, s.event.EventId, () => undefined) : s));
    const lookup = await trailOf(moved);
    const result = await sessionActivity(query({}), { lookup, ...fast });
    expect(result.keys.map((k) => k.key)).not.toContain(CHAINED_HOP.key);
    expect(result.events.some((e) => e.eventName === 'UpdateFunctionCode20150331v2')).toBe(false);
    expect(result.unreadAccounts).toEqual([]);
  });

  test('HOLE: WHEN a look-alike "vending role" of another TVM name vends the session\'s name and tag THEN its key\'s calls '
    + 'are attributed to the session', async () => {
    // An insider who may create roles outside this TVM's paths makes sentinel-tvm-runtime/evil/evil-vend-eu-west-1 and, on a
    // role that trusts it (an openTrust profile role, or its own), asks for session B's name, tag and SourceIdentity.
    const events = fixture();
    const vend = byId(events, SESSIONS.B.vendIds[0]);
    const lookalike = variant(vend, {}, '00000000-0000-4000-8000-0000000e7e11', (ct) => {
      ct.userIdentity.arn = `arn:aws:sts::${HUB_ACCOUNT}:assumed-role/evil-vend-eu-west-1/m`;
      ct.userIdentity.sessionContext.sessionIssuer.arn = `arn:aws:iam::${HUB_ACCOUNT}:role/sentinel-tvm-runtime/evil/evil-vend-eu-west-1`;
      ct.responseElements.credentials.accessKeyId = 'ASIAMALLORYLOOKALIKE';
    }, { Resources: [{ ResourceType: 'AWS::IAM::AccessKey', ResourceName: 'ASIAMALLORYLOOKALIKE' },
      { ResourceType: 'AWS::IAM::Role', ResourceName: PROFILE_ROLE_ARN }] });
    const call = variant(byId(events, SESSIONS.B.callIds[1]), {}, '00000000-0000-4000-8000-0000000e7e12', (ct) => {
      ct.userIdentity.accessKeyId = 'ASIAMALLORYLOOKALIKE';
      // Her session has no SourceIdentity of its own: nothing contradicts the attribution.
      delete ct.userIdentity.sessionContext.sourceIdentity;
      ct.eventName = 'DeleteBucket';
    }, { AccessKeyId: 'ASIAMALLORYLOOKALIKE', EventName: 'DeleteBucket' });
    const lookup = await trailOf([...events, lookalike, call]);

    const result = await sessionActivity(query({ sessionId: SESSIONS.B.id }), { lookup, ...fast });
    expect(result.keys.map((k) => k.key)).toContain('ASIAMALLORYLOOKALIKE');
    expect(result.events.find((e) => e.eventId === '00000000-0000-4000-8000-0000000e7e12')).toMatchObject({ eventName: 'DeleteBucket', hop: 0 });
  });
});
