// `sessions activity` (issue 14): LookupEvents calls and wall time for one session, paced at CloudTrail's quota (2 calls a
// second per account and region) against the local LookupEvents endpoint, which throttles as CloudTrail does; and what
// the enforcer spends judging a tamper rule's CloudTrail event against a large configuration.
import { performance } from 'perf_hooks';
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import type { Figures } from './client-cache';
import { sessionActivity, type LookupEvents } from '../cli/activity';
import { startLocalCloudTrail, type StoredEvent } from '../cli/local/cloudtrail';
import { judgeCloudTrailEvent } from '../lambda/enforcer/tamper';
import { formatSourceIdentity, type ProfileConfig } from '../src/shared/contract';

const HUB = '111122223333';
const REGIONS = ['eu-west-1', 'us-east-1'];
const ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm/bench/ReadOnly`;
const VEND_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/bench/bench-vend-eu-west-1`;
const SESSION = '0123456789abcdef';
const KEYS = { accessKeyId: 'AKIDBENCHRESPONDER', secretAccessKey: 'bench-secret' };

/** A LookupEvents event of the hub. */
function stored(region: string, id: string, at: Date, name: string, key: string | undefined, record: Record<string, unknown>): StoredEvent {
  return {
    account: HUB,
    region,
    event: {
      EventId: id,
      EventName: name,
      ReadOnly: 'true',
      EventTime: at,
      EventSource: 'ec2.amazonaws.com',
      Resources: [],
      ...(key ? { AccessKeyId: key } : {}),
      CloudTrailEvent: JSON.stringify({ eventID: id, eventName: name, eventTime: at.toISOString(), awsRegion: region, ...record }),
    },
  };
}

/** A session of `vends` vends, each key making `callsPerKey` calls spread over the regions, amid `noise` other events. */
function scenario(vends: number, callsPerKey: number, noise: number): StoredEvent[] {
  const start = Date.parse('2026-11-30T08:00:00Z');
  const events: StoredEvent[] = [];
  const sourceIdentity = formatSourceIdentity(SESSION, 's', 'alice');
  for (let v = 0; v < vends; v++) {
    const at = start + v * 3600_000;
    const key = `ASIAEXAMPLEK${String(v).padStart(8, '0')}`;
    const vend = stored('eu-west-1', `vend-${v}`, new Date(at), 'AssumeRole', 'ASIAEXAMPLEBENCHTVM1', {
      userIdentity: { type: 'AssumedRole', sessionContext: { sessionIssuer: { arn: VEND_ROLE } } },
      requestParameters: { roleArn: ROLE, roleSessionName: `tvm-${SESSION}-req${v}`, sourceIdentity, tags: [{ key: 'SentinelSessionID', value: SESSION }] },
      responseElements: { credentials: { accessKeyId: key, expiration: new Date(at + 3600_000).toISOString() } },
    });
    // LookupEvents finds a vend by the role it names (ResourceName).
    events.push({ ...vend, event: { ...vend.event, Resources: [{ ResourceType: 'AWS::IAM::Role', ResourceName: ROLE }] } });
    for (let c = 0; c < callsPerKey; c++) {
      const region = REGIONS[c % REGIONS.length];
      events.push(stored(region, `call-${v}-${c}`, new Date(at + 60_000 + c * 1000), 'DescribeInstances', key,
        { userIdentity: { type: 'AssumedRole', accessKeyId: key, sessionContext: { sourceIdentity } } }));
    }
  }
  for (let n = 0; n < noise; n++) {
    events.push(stored(REGIONS[n % 2], `noise-${n}`, new Date(start + n * 7000), 'DescribeInstances', `ASIAEXAMPLEN${String(n).padStart(8, '0')}`,
      { userIdentity: { type: 'AssumedRole' } }));
  }
  return events;
}

export async function activityRows(f: Figures): Promise<void> {
  const vends = 10;
  const callsPerKey = 120;
  const trail = await startLocalCloudTrail({
    events: scenario(vends, callsPerKey, 5000),
    accountOf: (key) => (key === KEYS.accessKeyId ? HUB : undefined),
    now: () => new Date('2026-12-01T00:00:00Z'),
    rateLimitPerSecond: 2,
  });
  const clients = new Map<string, CloudTrailClient>();
  const lookup: LookupEvents = (_account, region, input) => {
    let c = clients.get(region);
    if (!c) clients.set(region, c = new CloudTrailClient({ region, endpoint: trail.endpoint, credentials: KEYS, maxAttempts: 1 }));
    return c.send(new LookupEventsCommand(input));
  };
  try {
    const query = {
      sessionId: SESSION,
      roleArn: ROLE,
      from: new Date('2026-11-30T08:00:00Z'),
      to: new Date('2026-11-30T20:00:00Z'),
      tvmRegion: 'eu-west-1',
      regions: REGIONS,
      canRead: () => true,
      maxCalls: 100_000,
      tvmAccount: HUB,
    };
    const started = performance.now();
    const result = await sessionActivity(query, { lookup });
    const seconds = (performance.now() - started) / 1000;
    if (result.events.length !== vends * (callsPerKey + 1)) throw new Error(`activity found ${result.events.length} events`);
    f.row('sessions activity: LookupEvents calls, a session of 10 vends x 120 calls in 2 regions', String(result.calls),
      `${result.events.length} events among 5,000 others; 1 for the vends, then per key and region ${Math.ceil(callsPerKey / REGIONS.length / 50)} pages of 50`);
    f.row('sessions activity: wall time at CloudTrail\'s quota (2 calls/s per account and region)', `${seconds.toFixed(1)} s`,
      `${result.throttled} throttled; ${(result.calls / seconds).toFixed(2)} calls/s over both regions`);
  } finally {
    for (const c of clients.values()) c.destroy();
    await trail.stop();
  }

  // The enforcer's judgement of one CloudTrail event (a trust change of a role no profile vends: the most work).
  const profiles: ProfileConfig[] = Array.from({ length: 1000 }, (_, i) => ({
    name: `p${i}`, roleArn: `arn:aws:iam::${HUB}:role/sentinel-tvm/bench/R${i}`, allowedPrincipals: [], maxDurationSeconds: 3600,
  }));
  const event = {
    'source': 'aws.iam',
    'detail-type': 'AWS API Call via CloudTrail',
    'account': HUB,
    'detail': { eventName: 'UpdateAssumeRolePolicy', recipientAccountId: HUB, requestParameters: { roleName: 'Other' }, userIdentity: { type: 'IAMUser' } },
  };
  const N = 2000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) judgeCloudTrailEvent(event, { policyName: 'x', accounts: [HUB] }, profiles);
  f.row('tamper: the enforcer judges one CloudTrail event, 1,000 profiles', `${((performance.now() - t0) * 1000 / N).toFixed(0)} µs`,
    `n=${N}; a finding then costs one enforcement run (see the enforcer rows) and one PutEvents`);
}
