// Red team of `sessions activity` (cli/activity.ts): each test here was found as a hole, and now asserts the right answer,
// so that it fails if the hole comes back. The real CloudTrail client talks to the local
// LookupEvents endpoint (cli/local/cloudtrail.ts) serving the recorded events of test/fixtures/cloudtrail, some of them
// varied as the test says (the shapes are the recorded ones: the vend, a call, the role account's copy of a cross-account
// AssumeRole).
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import {
  activityQuery, CHAINED_HOP, CLOUDTRAIL_FIXTURE_FILE, GLOBAL_REGION, HUB_ACCOUNT, PROFILE_ROLE_ARN, SESSIONS, SPOKE_ACCOUNT, TVM_REGION,
} from './support/cloudtrail-fixture';
import { sessionActivity, type ActivityQuery, type LookupEvents } from '../cli/activity';
import { sessionsActivity } from '../cli/activity-command';
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

/** The spoke's reader role (it names the TVM: example). */
const READER = ['--reader-role', 'sentinel-tvm-runtime/example/example-activity'];

/** The command on `lookup`, as the hub's responder (its own account the hub), for session A's window unless told. */
async function command(lookup: LookupEvents, args: string[], id: string = SESSIONS.A.id) {
  let stdout = '';
  let stderr = '';
  const io = { env: {}, out: (t: string) => { stdout += t; }, err: (t: string) => { stderr += t; } };
  const argv = [id, '--region', TVM_REGION, ...(args.includes('--role-arn') ? [] : ['--role-arn', PROFILE_ROLE_ARN]),
    '--from', '2026-11-30T08:00:00Z', '--to', '2026-11-30T12:00:00Z', ...args];
  const code = await sessionsActivity(argv, io, async () => ({}), { lookup, ownAccount: HUB_ACCOUNT, now: () => NOW, sleep: async () => undefined });
  return { code, stdout, stderr };
}
const query = (more: Partial<ActivityQuery>): ActivityQuery => activityQuery(SESSIONS.A, more);

describe('GIVEN sessions activity and the recorded CloudTrail events', () => {
  test('WHEN the call budget cuts the answer THEN the newest events are kept (a chained write, an IAM call), and it says '
    + 'after when the answer is whole and which sources were not read to the end', async () => {
    const lookup = await trailOf(fixture());
    const whole = await sessionActivity(query({}), { lookup, ...fast });
    // One call short: a key's unread page may hide an hour of later events (a hop it made), so the last read is the
    // oldest source (the hop's record in the spoke).
    const cut = await sessionActivity(query({ maxCalls: whole.calls - 1 }), { lookup, ...fast });

    expect([cut.truncated, cut.calls]).toEqual([true, whole.calls - 1]);
    const after = cut.completeAfter!.getTime();
    // Everything after the time it names is there, the newest included: the session's last call (iam ListRoles) and the
    // chained hop's write in the spoke (lambda UpdateFunctionCode).
    const newer = (events: typeof whole.events) => events.filter((e) => e.time.getTime() > after).map((e) => e.eventId);
    expect(newer(cut.events)).toEqual(newer(whole.events));
    expect(newer(cut.events).slice(0, 3)).toEqual(SESSIONS.A.allIds.slice(0, 3));
    expect(cut.events.map((e) => e.eventName)).toEqual(expect.arrayContaining(['ListRoles', 'UpdateFunctionCode20150331v2']));
    // What was not read to the end is named, with the part of its window that was not read.
    expect(cut.incomplete.length).toBeGreaterThan(0);
    for (const s of cut.incomplete) expect(s.unreadTo.getTime()).toBeLessThanOrEqual(after);
    expect(whole.events.filter((e) => e.time.getTime() <= after).length).toBeGreaterThan(0);
  });

  test('WHEN the command runs out of calls THEN stderr says after when the answer is whole and what was not read, never '
    + '"older events are not listed"', async () => {
    const lookup = await trailOf(fixture());
    const budget = String((await sessionActivity(query({}), { lookup, ...fast })).calls - 1);
    const out = await command(lookup, ['--max-calls', budget, ...READER]);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(new RegExp('stopped at \\d+ LookupEvents calls \\(--max-calls\\) before reading everything: '
      + 'every event after \\S+Z is listed; events at or before it may be missing'));
    expect(out.stderr).toMatch(/^ {2}the (calls of key ASIA\w+ \(hop \d\)|TVM's vends of|record of a hop).* in \d{12} [a-z0-9-]+, from \S+ to \S+$/m);
    expect(out.stderr).not.toMatch(/older events are not listed/);
    const json = JSON.parse((await command(lookup, ['--max-calls', budget, '--json', ...READER])).stdout);
    expect(json).toMatchObject({ Truncated: true, CompleteAfter: expect.any(String) });
    expect(json.Incomplete[0]).toMatchObject({
      source: expect.any(String), account: expect.stringMatching(/^\d{12}$/), unreadTo: expect.any(String),
    });
    // The next page starts where the answer stops being whole, and from there it is whole again.
    const next = await command(lookup, ['--json', ...READER, '--next-token', json.NextToken]);
    const all = JSON.parse((await command(lookup, ['--json', ...READER])).stdout).Events.map((e: any) => e.eventId);
    expect(all).toEqual(SESSIONS.A.allIds);
    const listed = [...json.Events.map((e: any) => e.eventId), ...JSON.parse(next.stdout).Events.map((e: any) => e.eventId)];
    expect(all.every((id: string) => listed.includes(id))).toBe(true);
  });

  test('WHEN the profile role is in a spoke account THEN the vend is found in the TVM\'s account and the key followed in the spoke', async () => {
    // A session e5… of a profile whose role is in the spoke: the TVM vends it with a cross-account AssumeRole, recorded in
    // the hub (the caller's copy, with the vending role as issuer) and in the spoke (the role account's copy, whose caller
    // is the hub account: no sessionContext), as the recorded hop into the spoke is; then the session calls in the spoke.
    const id = 'e5e5e5e5e5e5e5e5';
    const role = `arn:aws:iam::${SPOKE_ACCOUNT}:role/sentinel-tvm/example/Deploy`;
    const key = 'ASIAEXAMPLESESSE0001';
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
      const principalId = 'AROAVENDROLE0EXAMPLE1:example-Handler886CB40B-AbCdEf123456';
      ct.userIdentity = { ...JSON.parse(hopCopy.event.CloudTrailEvent).userIdentity, principalId };
    }, { Resources: resources, AccessKeyId: undefined, Username: undefined });
    const call = variant(byId(events, SESSIONS.B.callIds[1]), { account: SPOKE_ACCOUNT }, '0e5e5e5e-0000-4000-8000-00000000000c', (ct) => {
      ct.userIdentity.accessKeyId = key;
      ct.userIdentity.arn = `arn:aws:sts::${SPOKE_ACCOUNT}:assumed-role/Deploy/tvm-${id}-Ab12Cd34`;
      ct.userIdentity.sessionContext.sourceIdentity = `sentinel.${id}.s.alice`;
    }, { AccessKeyId: key });
    const lookup = await trailOf([...events, callerCopy, roleCopy, call]);

    const result = await sessionActivity(query({ sessionId: id, roleArn: role }), { lookup, ...fast });
    // The vend: the hub's copy (the role account's copy names only the hub as its caller); the call: in the spoke.
    expect(result.events.map((e) => [e.eventId, e.kind, e.account])).toEqual([
      [call.event.EventId, 'call', SPOKE_ACCOUNT], [callerCopy.event.EventId, 'vend', HUB_ACCOUNT],
    ]);
    expect(result).toMatchObject({ keys: [{ key, account: SPOKE_ACCOUNT, hop: 0, role }], unreadAccounts: [], truncated: false });
    // The TVM's account must be readable: else it says so, and follows nothing.
    const blind = await sessionActivity(query({ sessionId: id, roleArn: role, canRead: (a) => a === SPOKE_ACCOUNT }), { lookup, ...fast });
    expect(blind).toMatchObject({ events: [], keys: [], unreadAccounts: [HUB_ACCOUNT] });
    // The command looks in the caller's own account by default, or in --tvm-account.
    const own = await command(lookup, ['--role-arn', role, '--json', ...READER], id);
    expect(JSON.parse(own.stdout).Events.map((e: any) => e.eventId)).toEqual([call.event.EventId, callerCopy.event.EventId]);
    const other = await command(lookup, ['--role-arn', role, '--json', ...READER, '--tvm-account', SPOKE_ACCOUNT], id);
    expect(JSON.parse(other.stdout).Events).toEqual([]);
  });

  test('WHEN the session chains through the STS endpoint of a region not asked THEN stderr names the regions searched and '
    + 'says calls elsewhere are not listed (a documented limit)', async () => {
    const events = fixture();
    const hubCopy = byId(events, CHAINED_HOP.callerCopyId);
    // The same hop as recorded, but through sts.ap-southeast-2 (recorded there), as a caller can choose.
    const moved = events.map((s) => (s.event.EventId === hubCopy.event.EventId
      ? variant(s, { region: 'ap-southeast-2' }, s.event.EventId, () => undefined) : s));
    const lookup = await trailOf(moved);
    const result = await sessionActivity(query({}), { lookup, ...fast });
    expect(result.keys.map((k) => k.key)).not.toContain(CHAINED_HOP.key);
    expect(result.events.some((e) => e.eventName === 'UpdateFunctionCode20150331v2')).toBe(false);
    expect(result.regions).toEqual([TVM_REGION, GLOBAL_REGION]);
    const out = await command(lookup, []);
    expect(out.stderr).toMatch(new RegExp(`LookupEvents call\\(s\\) in ${TVM_REGION}, ${GLOBAL_REGION}: `
      + 'calls in other regions .*are not listed \\(--regions\\)'));
    // Asked in that region too, the hop and its calls are found: the data is whole, only the default regions miss it.
    const asked = await sessionActivity(query({ regions: [TVM_REGION, GLOBAL_REGION, 'ap-southeast-2'] }), { lookup, ...fast });
    expect(asked.keys.map((k) => k.key)).toContain(CHAINED_HOP.key);
    expect(asked.events.some((e) => e.eventName === 'UpdateFunctionCode20150331v2')).toBe(true);
  });

  test('WHEN anyone floods the role with refused AssumeRole calls THEN the call budget stops the vend lookup, and says so', async () => {
    // Refused attempts name the role (ResourceName), as mallory's recorded one does; anyone may make them, from any account.
    const events = fixture();
    const refused = events.find((s) => JSON.parse(s.event.CloudTrailEvent).errorCode === 'AccessDenied')!;
    const flood = Array.from({ length: 1000 }, (_, i) => variant(refused, {}, `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      () => undefined, { EventTime: new Date(Date.parse('2026-11-30T10:30:00Z') + i * 1000) }));
    const lookup = await trailOf([...events, ...flood]);
    let calls = 0;
    const counted: LookupEvents = (account, region, input) => {
      calls++;
      return lookup(account, region, input);
    };
    const result = await sessionActivity(query({ sessionId: SESSIONS.B.id, maxCalls: 5 }), { lookup: counted, ...fast });
    // 1,000 records of someone else's refused calls would cost 20 more pages: the budget stops at 5.
    expect([calls, result.calls, result.truncated]).toEqual([5, 5, true]);
    expect(result.incomplete).toEqual([expect.objectContaining({ source: 'vends', account: HUB_ACCOUNT, region: TVM_REGION })]);
    expect(result.events).toEqual([]);
    const out = await command(counted, ['--max-calls', '5'], SESSIONS.B.id);
    expect(out.stderr).toContain(`the TVM's vends of ${PROFILE_ROLE_ARN} in ${HUB_ACCOUNT} ${TVM_REGION}`);
    expect(out.stderr).toContain('raise --max-calls');
    // With budget enough, the flood is paged through (the refused calls are skipped without a call more) and B is whole.
    const whole = await sessionActivity(query({ sessionId: SESSIONS.B.id }), { lookup, ...fast });
    expect(whole.events.map((e) => e.eventId)).toEqual(SESSIONS.B.allIds);
  });

  test('refuses a look-alike "vending role" of another TVM name, or in another account, that vends the session\'s name and tag', async () => {
    // An insider who may create roles outside this TVM's paths makes sentinel-tvm-runtime/evil/evil-vend-eu-west-1 and, on a
    // role that trusts it (an openTrust profile role, or its own), asks for session B's name, tag and SourceIdentity.
    const events = fixture();
    const vend = byId(events, SESSIONS.B.vendIds[0]);
    const lookalike = variant(vend, {}, '00000000-0000-4000-8000-0000000e7e11', (ct) => {
      ct.userIdentity.arn = `arn:aws:sts::${HUB_ACCOUNT}:assumed-role/evil-vend-eu-west-1/m`;
      ct.userIdentity.sessionContext.sessionIssuer.arn = `arn:aws:iam::${HUB_ACCOUNT}:role/sentinel-tvm-runtime/evil/evil-vend-eu-west-1`;
      ct.responseElements.credentials.accessKeyId = 'ASIAEXAMPLELOOKALIKE';
    }, {
      Resources: [{ ResourceType: 'AWS::IAM::AccessKey', ResourceName: 'ASIAEXAMPLELOOKALIKE' },
        { ResourceType: 'AWS::IAM::Role', ResourceName: PROFILE_ROLE_ARN }],
    });
    const call = variant(byId(events, SESSIONS.B.callIds[1]), {}, '00000000-0000-4000-8000-0000000e7e12', (ct) => {
      ct.userIdentity.accessKeyId = 'ASIAEXAMPLELOOKALIKE';
      // Her session has no SourceIdentity of its own: nothing contradicts the attribution.
      delete ct.userIdentity.sessionContext.sourceIdentity;
      ct.eventName = 'DeleteBucket';
    }, { AccessKeyId: 'ASIAEXAMPLELOOKALIKE', EventName: 'DeleteBucket' });
    // The same, by a role of this TVM's name and path in another account (the guardrail SCP does not reach it).
    const elsewhere = variant(lookalike, {}, '00000000-0000-4000-8000-0000000e7e13', (ct) => {
      ct.userIdentity.sessionContext.sessionIssuer.arn = `arn:aws:iam::${SPOKE_ACCOUNT}:role/sentinel-tvm-runtime/example/example-vend-eu-west-1`;
    });
    const lookup = await trailOf([...events, lookalike, elsewhere, call]);

    // Known by its name (--tvm-name, or the name in a spoke's reader role): only its own vending role vends.
    const named = await sessionActivity(query({ sessionId: SESSIONS.B.id, tvmName: 'example' }), { lookup, ...fast });
    expect(named.keys.map((k) => k.key)).toEqual(SESSIONS.B.keys);
    expect(named.events.map((e) => e.eventId)).toEqual(SESSIONS.B.allIds);
    const out = await command(lookup, ['--json', ...READER], SESSIONS.B.id);
    expect(JSON.parse(out.stdout).Keys.map((k: any) => k.key)).toEqual(SESSIONS.B.keys);
    // Unnamed, the vending role is still pinned to the TVM's account: the other account's look-alike is refused, while
    // another TVM's in the TVM's own account (where the guardrail SCP keeps its path) is accepted: pass --tvm-name.
    const unnamed = await sessionActivity(query({ sessionId: SESSIONS.B.id }), { lookup, ...fast });
    expect(unnamed.events.map((e) => e.eventId)).not.toContain('00000000-0000-4000-8000-0000000e7e13');
    expect(unnamed.events.map((e) => e.eventId)).toContain('00000000-0000-4000-8000-0000000e7e11');
  });
});
