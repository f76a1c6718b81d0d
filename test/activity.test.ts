// `sessions activity`: a session's CloudTrail events, followed by its keys through the real CloudTrail client and the
// local LookupEvents endpoint over recorded events of two overlapping sessions of one user on one role (they must not
// merge), a chained hop into a spoke account (it must be found), a session of the SourceIdentity format before the
// session id, and noise (another user's call in the same second, a refused AssumeRole that names another session).
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { checkBundle, cleanEnv, runCli, startFakeTvm, type FakeTvm } from './support/cli';
import {
  activityQuery, CHAINED_HOP, CLOUDTRAIL_FIXTURE_FILE, HUB_ACCOUNT, NOISE_IDS, PROFILE_ROLE_ARN, SESSIONS, SPOKE_ACCOUNT, TVM_REGION,
} from './support/cloudtrail-fixture';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { cursorAfter, parseCursor, sessionActivity, type LookupEvents } from '../cli/activity';
import { lookupEventsFromFile, startLocalCloudTrail, type LocalCloudTrail } from '../cli/local/cloudtrail';

/** The fixture's day; LookupEvents answers 90 days back from "now". */
const NOW = new Date('2026-11-30T12:00:00Z');
const KEYS: Record<string, { accessKeyId: string; secretAccessKey: string }> = {
  [HUB_ACCOUNT]: { accessKeyId: 'AKIDHUBRESPONDER', secretAccessKey: 'hub-secret' },
  [SPOKE_ACCOUNT]: { accessKeyId: 'AKIDSPOKEREADER', secretAccessKey: 'spoke-secret' },
};

let ct: LocalCloudTrail;
const clients = new Map<string, CloudTrailClient>();

/** The real CloudTrail client of each account and region, each signing with that account's credentials. */
function lookup(maxAttempts = 1): LookupEvents {
  return (account, region, input) => {
    const id = `${account}/${region}/${maxAttempts}`;
    let client = clients.get(id);
    if (!client) {
      client = new CloudTrailClient({ region, endpoint: ct.endpoint, credentials: KEYS[account], maxAttempts });
      clients.set(id, client);
    }
    return client.send(new LookupEventsCommand(input));
  };
}

const query = activityQuery;

beforeAll(async () => {
  ct = await startLocalCloudTrail({
    events: lookupEventsFromFile(CLOUDTRAIL_FIXTURE_FILE),
    accountOf: (key) => Object.entries(KEYS).find(([, k]) => k.accessKeyId === key)?.[0],
    now: () => NOW,
    // Far above the quota: pacing is tested on its own below.
    rateLimitPerSecond: 1000,
  });
});
afterAll(async () => {
  for (const c of clients.values()) c.destroy();
  await ct?.stop();
});

const fast = { lookup: lookup(), ratePerSecond: 1000, sleep: async () => undefined };

describe('GIVEN recorded CloudTrail events of two overlapping sessions of alice on one role, one with a chained hop', () => {
  test('WHEN session A is looked up THEN it gets exactly its vends, its calls, and the hop into the spoke, newest first', async () => {
    const result = await sessionActivity(query(SESSIONS.A), fast);

    expect(result.events.map((e) => e.eventId)).toEqual(SESSIONS.A.allIds);
    expect(result.keys).toEqual([
      { key: SESSIONS.A.keys[0], account: HUB_ACCOUNT, hop: 0, role: PROFILE_ROLE_ARN },
      { key: SESSIONS.A.keys[1], account: HUB_ACCOUNT, hop: 0, role: PROFILE_ROLE_ARN },
      { key: CHAINED_HOP.key, account: SPOKE_ACCOUNT, hop: 1, role: expect.stringContaining(`${SPOKE_ACCOUNT}:role/Deployer`) },
    ]);
    const byId = new Map(result.events.map((e) => [e.eventId, e]));
    // The hop: the call that made it (in the hub), its record in the spoke, and what the chained credentials did there.
    expect(byId.get(CHAINED_HOP.callerCopyId)).toMatchObject({ kind: 'call', hop: 0, account: HUB_ACCOUNT, assumedRole: expect.stringContaining('Deployer') });
    expect(byId.get(CHAINED_HOP.roleAccountCopyId)).toMatchObject({ kind: 'hop-record', hop: 1, account: SPOKE_ACCOUNT });
    const chained = result.events.filter((e) => e.accessKeyId === CHAINED_HOP.key);
    expect(chained.map((e) => e.eventName)).toEqual(['UpdateFunctionCode20150331v2', 'DescribeStacks']);
    expect(chained.every((e) => e.hop === 1 && e.account === SPOKE_ACCOUNT && e.sourceIdentity === SESSIONS.A.sourceIdentity)).toBe(true);
    expect(result.events.filter((e) => e.kind === 'vend').map((e) => e.eventId).sort()).toEqual([...SESSIONS.A.vendIds].sort());
    expect(result).toMatchObject({ unreadAccounts: [], truncated: false, mismatched: 0, throttled: 0 });
  });

  test('WHEN session B, overlapping A in time on the same role, is looked up THEN none of A\'s events (nor carol\'s) come with it', async () => {
    const b = await sessionActivity(query(SESSIONS.B), fast);
    expect(b.events.map((e) => e.eventId)).toEqual(SESSIONS.B.allIds);
    const a = await sessionActivity(query(SESSIONS.A), fast);
    expect(a.events.filter((e) => b.events.some((x) => x.eventId === e.eventId))).toEqual([]);
    for (const noise of Object.values(NOISE_IDS)) expect([...a.events, ...b.events].map((e) => e.eventId)).not.toContain(noise);
  });

  test('WHEN bob\'s session and a session of the earlier SourceIdentity format are looked up THEN each gets its own events', async () => {
    expect((await sessionActivity(query(SESSIONS.C), fast)).events.map((e) => e.eventId)).toEqual(SESSIONS.C.allIds);
    expect((await sessionActivity(query(SESSIONS.D), fast)).events.map((e) => e.eventId)).toEqual(SESSIONS.D.allIds);
  });

  test('WHEN the spoke cannot be read THEN the hop is named as unread, and the rest is there', async () => {
    const result = await sessionActivity(query(SESSIONS.A, { canRead: (account) => account === HUB_ACCOUNT }), fast);
    expect(result.unreadAccounts).toEqual([SPOKE_ACCOUNT]);
    expect(result.events.map((e) => e.eventId)).toEqual(SESSIONS.A.allIds.filter((id) => ![
      CHAINED_HOP.roleAccountCopyId, ...SESSIONS.A.callIds.slice(1, 3),
    ].includes(id)));
  });

  test('refuses to follow a look-alike vend: the session\'s name and tag on an AssumeRole the TVM did not make', async () => {
    const stored = lookupEventsFromFile(CLOUDTRAIL_FIXTURE_FILE);
    const vend = stored.find((s) => s.event.EventId === SESSIONS.B.vendIds[0])!;
    const record = JSON.parse(vend.event.CloudTrailEvent!);
    // mallory's own role trusts her with sts:TagSession: she asks for session B's session name, tag and SourceIdentity.
    record.userIdentity = {
      ...record.userIdentity,
      arn: `arn:aws:sts::${HUB_ACCOUNT}:assumed-role/Mallory/m`,
      sessionContext: {
        ...record.userIdentity.sessionContext, sessionIssuer: { ...record.userIdentity.sessionContext.sessionIssuer, arn: `arn:aws:iam::${HUB_ACCOUNT}:role/Mallory` },
      },
    };
    record.eventID = '00000000-0000-4000-8000-00000000f00d';
    record.responseElements.credentials.accessKeyId = 'ASIAEXAMPLELOOKALIKE';
    const call = stored.find((s) => s.event.EventId === SESSIONS.B.callIds[0])!;
    const callRecord = { ...JSON.parse(call.event.CloudTrailEvent!), eventID: '00000000-0000-4000-8000-00000000beef' };
    callRecord.userIdentity = { ...callRecord.userIdentity, accessKeyId: 'ASIAEXAMPLELOOKALIKE' };
    const forged = await startLocalCloudTrail({
      events: [...stored,
        { ...vend, event: { ...vend.event, EventId: record.eventID, CloudTrailEvent: JSON.stringify(record) } },
        { ...call, event: { ...call.event, EventId: callRecord.eventID, AccessKeyId: 'ASIAEXAMPLELOOKALIKE', CloudTrailEvent: JSON.stringify(callRecord) } }],
      accountOf: (key) => Object.entries(KEYS).find(([, k]) => k.accessKeyId === key)?.[0],
      now: () => NOW,
      rateLimitPerSecond: 1000,
    });
    try {
      const own = new Map<string, CloudTrailClient>();
      const result = await sessionActivity(query(SESSIONS.B), {
        ...fast,
        lookup: (account, region, input) => {
          let c = own.get(`${account}/${region}`);
          if (!c) own.set(`${account}/${region}`, c = new CloudTrailClient({ region, endpoint: forged.endpoint, credentials: KEYS[account], maxAttempts: 1 }));
          return c.send(new LookupEventsCommand(input));
        },
      });
      own.forEach((c) => c.destroy());
      expect(result.events.map((e) => e.eventId)).toEqual(SESSIONS.B.allIds);
      expect(result.keys.map((k) => k.key)).toEqual(SESSIONS.B.keys);
    } finally {
      await forged.stop();
    }
  });

  test('WHEN it is paged THEN the pages follow each other without a gap or a repeat', async () => {
    const all = (await sessionActivity(query(SESSIONS.A), fast)).events.map((e) => e.eventId);
    const seen: string[] = [];
    let before: string | undefined;
    for (let page = 0; page < 10; page++) {
      const result = await sessionActivity(query(SESSIONS.A, { ...(before ? { before: parseCursor(before)! } : {}) }), fast);
      const slice = result.events.slice(0, 4);
      seen.push(...slice.map((e) => e.eventId));
      if (result.events.length <= 4) break;
      before = cursorAfter(slice[slice.length - 1]);
    }
    expect(seen).toEqual(all);
  });

  test('WHEN it stops at maxCalls THEN it says the answer was cut, what was not read, and after when it is whole', async () => {
    const whole = await sessionActivity(query(SESSIONS.A), fast);
    const result = await sessionActivity(query(SESSIONS.A, { maxCalls: 3 }), fast);
    expect([result.truncated, result.calls]).toEqual([true, 3]);
    expect(result.incomplete.length).toBeGreaterThan(0);
    const after = (events: typeof whole.events) => events.filter((e) => e.time > result.completeAfter!).map((e) => e.eventId);
    expect(after(result.events)).toEqual(after(whole.events));
    expect(whole).toMatchObject({ truncated: false, incomplete: [] });
    expect(whole.completeAfter).toBeUndefined();
  });

  test('refuses a TVM account or name that is not one', async () => {
    await expect(sessionActivity(query(SESSIONS.A, { tvmAccount: '1111' }), fast)).rejects.toThrow(/not an account id/);
    await expect(sessionActivity(query(SESSIONS.A, { tvmName: 'a.*' }), fast)).rejects.toThrow(/not a TVM name/);
  });

  test('WHEN the window is outside the session THEN nothing is found, and the window is the one LookupEvents was asked', async () => {
    const before = ct.calls.length;
    const result = await sessionActivity(query(SESSIONS.A, { from: new Date('2026-11-29T00:00:00Z'), to: new Date('2026-11-29T23:00:00Z') }), fast);
    expect(result.events).toEqual([]);
    expect(ct.calls.slice(before).length).toBe(1);
  });

  test('refuses a session whose role is not a role ARN', async () => {
    await expect(sessionActivity(query(SESSIONS.A, { roleArn: 'ReadOnly' }), fast)).rejects.toThrow(/not a role ARN/);
  });
});

describe('GIVEN CloudTrail\'s quota of two LookupEvents calls a second per account and region', () => {
  let strict: LocalCloudTrail;
  beforeAll(async () => {
    strict = await startLocalCloudTrail({
      events: lookupEventsFromFile(CLOUDTRAIL_FIXTURE_FILE),
      accountOf: (key) => Object.entries(KEYS).find(([, k]) => k.accessKeyId === key)?.[0],
      now: () => NOW,
      rateLimitPerSecond: 2,
    });
  });
  afterAll(() => strict?.stop());

  const strictLookup = (): LookupEvents => {
    const own = new Map<string, CloudTrailClient>();
    return (account, region, input) => {
      let c = own.get(`${account}/${region}`);
      if (!c) own.set(`${account}/${region}`, c = new CloudTrailClient({ region, endpoint: strict.endpoint, credentials: KEYS[account], maxAttempts: 1 }));
      return c.send(new LookupEventsCommand(input));
    };
  };

  test('WHEN the command paces itself at the quota THEN it is never throttled, and the answer is whole', async () => {
    const result = await sessionActivity(query(SESSIONS.A), { lookup: strictLookup() });
    expect(result.throttled).toBe(0);
    expect(strict.calls.filter((c) => c.status !== 200)).toEqual([]);
    expect(result.events.map((e) => e.eventId)).toEqual(SESSIONS.A.allIds);
  });

  test('WHEN it calls faster than the quota THEN the throttled calls are retried after a pause, and the answer is still whole', async () => {
    const result = await sessionActivity(query(SESSIONS.A), { lookup: strictLookup(), ratePerSecond: 50 });
    expect(result.throttled).toBeGreaterThan(0);
    expect(result.events.map((e) => e.eventId)).toEqual(SESSIONS.A.allIds);
  });
});

describe('GIVEN the bundled command, the local STS and the recorded CloudTrail', () => {
  let sts: LocalSts;
  let trail: LocalCloudTrail;
  let tvm: FakeTvm;
  let env: Record<string, string>;
  const READER = 'sentinel-tvm-runtime/example/example-activity';

  beforeAll(async () => {
    checkBundle();
    sts = await startLocalSts({ identityRegion: TVM_REGION });
    const responder = sts.principal(`arn:aws:iam::${HUB_ACCOUNT}:user/responder`);
    trail = await startLocalCloudTrail({
      events: lookupEventsFromFile(CLOUDTRAIL_FIXTURE_FILE),
      // The responder reads the hub; the reader role's credentials (issued by the local STS) read their own account.
      accountOf: (key) => (key === responder.accessKeyId ? HUB_ACCOUNT : sts.issued(key)?.account),
      now: () => NOW,
    });
    // The TVM's record of session A, as `GET /sessions/{id}` answers it.
    tvm = await startFakeTvm((req) => (req.path === `/sessions/${SESSIONS.A.id}`
      ? { status: 200, body: { Session: { id: SESSIONS.A.id, role_arn: PROFILE_ROLE_ARN, started_at: '2026-11-30T10:00:00.000Z', credentials_expire_at: '2026-11-30T11:51:05.000Z' } } }
      : { status: 404, body: { error: { code: 'SESSION_NOT_FOUND', message: 'no such session' } } }));
    env = {
      ...cleanEnv(),
      AWS_ACCESS_KEY_ID: responder.accessKeyId,
      AWS_SECRET_ACCESS_KEY: responder.secretAccessKey,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_CLOUDTRAIL: trail.endpoint,
      AWS_REGION: TVM_REGION,
      SENTINEL_TVM_URL: tvm.url,
    };
  });
  afterAll(async () => {
    await Promise.all([sts?.stop(), trail?.stop(), tvm?.close()]);
  });

  test('WHEN asked with a reader role THEN it prints the session\'s events in both accounts, newest first, and pages', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // CloudTrail's second to itself
    const calls = trail.calls.length;
    const first = await runCli(['sessions', 'activity', SESSIONS.A.id, '--region', TVM_REGION, '--reader-role', READER, '--limit', '5', '--json'], env);
    expect([first.code, first.stderr]).toEqual([0, expect.stringContaining('more events: --next-token ')]);
    const page1 = JSON.parse(first.stdout);
    expect(page1.Events.map((e: any) => e.eventId)).toEqual(SESSIONS.A.allIds.slice(0, 5));
    expect(page1.UnreadAccounts).toEqual([]);
    // The reader role was assumed in the spoke, by the responder.
    expect(sts.calls.some((c) => c.roleArn === `arn:aws:iam::${SPOKE_ACCOUNT}:role/${READER}`)).toBe(true);
    // No call was throttled: the command kept to CloudTrail's 2 calls a second.
    expect(trail.calls.slice(calls).filter((c) => c.status !== 200)).toEqual([]);

    const second = await runCli(['sessions', 'activity', SESSIONS.A.id, '--region', TVM_REGION, '--reader-role', READER, '--limit', '5',
      '--json', '--next-token', page1.NextToken], env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).Events.map((e: any) => e.eventId)).toEqual(SESSIONS.A.allIds.slice(5));
    expect(second.stderr).not.toContain('more events');
  });

  test('WHEN asked without a reader role THEN the table has the hub\'s events and it names the spoke it could not read', async () => {
    const out = await runCli(['sessions', 'activity', SESSIONS.A.id, '--region', TVM_REGION], env);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n')[0]).toMatch(/^TIME\s+ACCOUNT\s+REGION\s+HOP\s+EVENT\s+RESULT\s+CALLER\s+EVENT ID/);
    expect(out.stdout).toContain('sts:AssumeRole');
    expect(out.stdout).not.toContain('UpdateFunctionCode');
    expect(out.stderr).toContain(`reached account ${SPOKE_ACCOUNT}, which was not read: pass --reader-role`);
    // Nothing secret of the recorded AssumeRole answers reaches the terminal.
    expect(out.stdout + out.stderr).not.toMatch(/sessionToken|FAKE-SESSION-TOKEN/i);
  });

  test('WHEN the TVM no longer has the record THEN --role-arn and --from stand for it', async () => {
    const out = await runCli(['sessions', 'activity', SESSIONS.B.id, '--region', TVM_REGION, '--json', '--role-arn', PROFILE_ROLE_ARN,
      '--from', '2026-11-30T10:15:00Z', '--to', '2026-11-30T12:00:00Z'], env);
    // The calls of the test before may still fill CloudTrail's second: throttled calls are retried, and said so.
    expect([out.code, out.stderr]).toEqual([0, expect.stringMatching(/^sentinel-tvm: \d+ LookupEvents call\(s\)/)]);
    expect(JSON.parse(out.stdout).Events.map((e: any) => e.eventId)).toEqual(SESSIONS.B.allIds);
  });

  test.each([
    [['--next-token', 'x'], /--next-token "x" is not one this command printed/],
    [['--role-arn', 'ReadOnly', '--from', '2026-11-30T10:00:00Z'], /--role-arn "ReadOnly" is not a role ARN/],
    [['--role-arn', PROFILE_ROLE_ARN], /--from is required with --role-arn/],
    [['--reader-role', 'arn:aws:iam::1:role/x'], /--reader-role .*expected a role's path and name/],
    [['--regions', 'eu-west-1,mars'], /--regions: "mars" is not a region name/],
    [['--tvm-account', '1234'], /--tvm-account "1234" is not an account id/],
    [['--tvm-name', 'a/b'], /--tvm-name "a\/b" is not a TVM name/],
    [['--max-calls', '0'], /--max-calls/],
    [['--max-events', '10'], /max-events/],
  ])('refuses bad input %j with a usage error, before any call', async (args, message) => {
    const calls = trail.calls.length;
    const out = await runCli(['sessions', 'activity', SESSIONS.A.id, '--region', TVM_REGION, ...args], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(message);
    expect(trail.calls.length).toBe(calls);
  });
});
