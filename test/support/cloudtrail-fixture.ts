// The scenario of test/fixtures/cloudtrail/overlapping-sessions.json (CloudTrail events of overlapping sessions, a chained
// hop into a spoke account, and noise), named once here so that tests need no magic strings. The README next to the
// fixture says what each record shows and where its shape comes from.
import * as fs from 'fs';
import * as path from 'path';
import type { Event } from '@aws-sdk/client-cloudtrail';
import type { ActivityQuery } from '../../cli/activity';

export const CLOUDTRAIL_FIXTURE_FILE = path.join(__dirname, '..', 'fixtures', 'cloudtrail', 'overlapping-sessions.json');

/** One `Resources` entry of a LookupEvents event. */
export interface LookupResource {
  readonly ResourceType: string;
  readonly ResourceName: string;
}

/** A LookupEvents event as the fixture stores it: `EventTime` an ISO string, `CloudTrailEvent` the parsed record. */
export interface LookupEvent {
  readonly EventId: string;
  readonly EventName: string;
  readonly ReadOnly: 'true' | 'false';
  /** The caller's key (`userIdentity.accessKeyId`); absent when the record has none (another account's caller). */
  readonly AccessKeyId?: string;
  readonly EventTime: string;
  readonly EventSource: string;
  /** IAM user name, or the session name of a role session; absent for another account's caller. */
  readonly Username?: string;
  readonly Resources: readonly LookupResource[];
  readonly CloudTrailEvent: Record<string, any>;
}

/** A recorded event and where LookupEvents answers it (the account and region it is asked in). */
export interface RecordedEvent {
  readonly account: string;
  readonly region: string;
  readonly event: LookupEvent;
}

/** The fixture's records, newest first (as LookupEvents answers); a fresh copy on every call. */
export function loadCloudTrailFixture(): RecordedEvent[] {
  return JSON.parse(fs.readFileSync(CLOUDTRAIL_FIXTURE_FILE, 'utf8'));
}

/** The event as the SDK's LookupEvents returns it: `EventTime` a Date, `CloudTrailEvent` a JSON string. */
export function asSdkEvent(event: LookupEvent): Event {
  return {
    ...event,
    Resources: event.Resources.map((r) => ({ ...r })),
    EventTime: new Date(event.EventTime),
    CloudTrailEvent: JSON.stringify(event.CloudTrailEvent),
  };
}

/** The TVM's (hub) account, where it vends. */
export const HUB_ACCOUNT = '111122223333';
/** The spoke account of the chained hop. */
export const SPOKE_ACCOUNT = '444455556666';
/** The TVM's region: vends (regional STS), EC2, and the chained hop's calls are recorded here. */
export const TVM_REGION = 'eu-west-1';
/** Where IAM calls and the S3 ListBuckets calls of the scenario are recorded. */
export const GLOBAL_REGION = 'us-east-1';

/** The vending function's execution role, the caller of every vend. */
export const VEND_ROLE_ARN = `arn:aws:iam::${HUB_ACCOUNT}:role/sentinel-tvm-runtime/example/example-vend-eu-west-1`;
/** The session name of the vending function's credentials (its function name): the `Username` of every vend. */
export const VEND_SESSION_NAME = 'example-Handler886CB40B-AbCdEf123456';
/** The vending function's own key (the `AccessKeyId` of every vend). */
export const VEND_CALLER_KEY = 'ASIAEXAMPLEVENDFUNC1';
export const ENFORCER_ROLE_ARN = `arn:aws:iam::${HUB_ACCOUNT}:role/sentinel-tvm-runtime/example/example-enforce-eu-west-1`;
/** The profile role every session of the scenario gets. */
export const PROFILE_ROLE_ARN = `arn:aws:iam::${HUB_ACCOUNT}:role/sentinel-tvm/example/ReadOnly`;
export const PROFILE_ROLE_ID = 'AROAREADONLY0000EXAMPLE';
/** The spoke role session A chains into. */
export const DEPLOYER_ROLE_ARN = `arn:aws:iam::${SPOKE_ACCOUNT}:role/Deployer`;
export const CHAINED_SESSION_NAME = 'alice-deploy';
/** What every recorded `responseElements.credentials.sessionToken` is: a placeholder, never a real token. */
export const FAKE_SESSION_TOKEN = 'EXAMPLE-FAKE-SESSION-TOKEN-NOT-A-SECRET';

/** A session of the scenario and the ids of its events, each list newest first (ties in fixture order). */
export interface FixtureSession {
  readonly id: string;
  readonly user: string;
  /** What its events' `userIdentity.sessionContext.sourceIdentity` is (D: the format before the session id). */
  readonly sourceIdentity: string;
  /** The session's vended keys, in vend order. */
  readonly keys: readonly string[];
  /** The RoleSessionName of each vend, in vend order. */
  readonly roleSessionNames: readonly string[];
  /** The TVM's AssumeRole events that vended the session's credentials. */
  readonly vendIds: readonly string[];
  /** Events made with the session's credentials, chained hop included: each carries the session's SourceIdentity. */
  readonly callIds: readonly string[];
  /** Vends, calls, and the chained hop's copy in the role's account (whose caller is another account: no SourceIdentity). */
  readonly allIds: readonly string[];
}

const A: FixtureSession = {
  id: 'a1a1a1a1a1a1a1a1',
  user: 'alice',
  sourceIdentity: 'sentinel.a1a1a1a1a1a1a1a1.s.alice',
  keys: ['ASIAEXAMPLESESSA0001', 'ASIAEXAMPLESESSA0002'],
  roleSessionNames: ['tvm-a1a1a1a1a1a1a1a1-Kx3fZgHo', 'tvm-a1a1a1a1a1a1a1a1-Lm9QaT2w'],
  vendIds: ['7028fa09-a269-456d-ba15-5bb9538a0869', '703cd149-67a3-4a0e-a5c6-e820e917ae7c'],
  callIds: [
    '3c686b2c-43b0-453d-a7d6-9eac38932c2e', // 10:55 iam ListRoles (key 2, us-east-1)
    '8868bb3a-f9ba-4d56-be37-faf45c458563', // 10:25 lambda UpdateFunctionCode20150331v2 (chained, spoke)
    'aba61d36-4aa4-4946-ba26-f66838455f76', // 10:22 cloudformation DescribeStacks (chained, spoke)
    'bdceca94-20fa-490c-9195-7e5e6607a15d', // 10:20 sts AssumeRole into the spoke, the hub's copy
    '9d00d060-9b77-47ea-9a6e-b93341472c6a', // 10:10 ec2 DescribeInstances
    'd82c5f1d-b830-4df0-bded-0e42693334b9', // 10:05 s3 ListBuckets (us-east-1)
  ],
  allIds: [
    '3c686b2c-43b0-453d-a7d6-9eac38932c2e',
    '7028fa09-a269-456d-ba15-5bb9538a0869',
    '8868bb3a-f9ba-4d56-be37-faf45c458563',
    'aba61d36-4aa4-4946-ba26-f66838455f76',
    'bdceca94-20fa-490c-9195-7e5e6607a15d',
    'c7cd33f9-5801-4910-bf8a-348ce28e33ca',
    '9d00d060-9b77-47ea-9a6e-b93341472c6a',
    'd82c5f1d-b830-4df0-bded-0e42693334b9',
    '703cd149-67a3-4a0e-a5c6-e820e917ae7c',
  ],
};

const B: FixtureSession = {
  id: 'b2b2b2b2b2b2b2b2',
  user: 'alice',
  sourceIdentity: 'sentinel.b2b2b2b2b2b2b2b2.s.alice',
  keys: ['ASIAEXAMPLESESSB0001'],
  roleSessionNames: ['tvm-b2b2b2b2b2b2b2b2-Pq7RtY1u'],
  vendIds: ['92634ba8-2d31-46e4-838e-f0efb37c7a18'],
  callIds: [
    'ac9df084-6df2-4bcc-b034-b3afe940defc', // 10:30 s3 ListBuckets (us-east-1)
    '44282e35-7f1d-4c45-a9b0-0870aeb58454', // 10:16 ec2 DescribeInstances (the same second as carol's)
  ],
  allIds: ['ac9df084-6df2-4bcc-b034-b3afe940defc', '44282e35-7f1d-4c45-a9b0-0870aeb58454', '92634ba8-2d31-46e4-838e-f0efb37c7a18'],
};

const C: FixtureSession = {
  id: 'c3c3c3c3c3c3c3c3',
  user: 'bob',
  sourceIdentity: 'sentinel.c3c3c3c3c3c3c3c3.s.bob',
  keys: ['ASIAEXAMPLESESSC0001'],
  roleSessionNames: ['tvm-c3c3c3c3c3c3c3c3-Zc4VbN8m'],
  vendIds: ['14bc0289-f672-44f7-9759-6b098ae3c448'],
  callIds: ['1f42e86f-c8b6-45d3-97ee-71e087eacd62'], // 10:13 ec2 DescribeVpcs
  allIds: ['1f42e86f-c8b6-45d3-97ee-71e087eacd62', '14bc0289-f672-44f7-9759-6b098ae3c448'],
};

/** Vended before the SourceIdentity carried the session id: only its key and session name tie its events to it. */
const D: FixtureSession = {
  id: 'd4d4d4d4d4d4d4d4',
  user: 'alice',
  sourceIdentity: 'sentinel.alice',
  keys: ['ASIAEXAMPLESESSD0001'],
  roleSessionNames: ['tvm-d4d4d4d4d4d4d4d4-Hd2JkL5s'],
  vendIds: ['53eaf3e7-2c7a-4e75-ae84-4872e78ad21e'],
  callIds: ['e1150913-0b72-4d6f-b121-3f85a08bee17'], // 09:05 ec2 DescribeInstances
  allIds: ['e1150913-0b72-4d6f-b121-3f85a08bee17', '53eaf3e7-2c7a-4e75-ae84-4872e78ad21e'],
};

export const SESSIONS = { A, B, C, D } as const;

/** Session A's hop into the spoke: one request, two records (same requestID and sharedEventID). */
export const CHAINED_HOP = {
  /** The chained credentials' key. */
  key: 'ASIAEXAMPLECHAINA001',
  /** Recorded in the hub (the caller's account), with the caller's full identity and SourceIdentity. */
  callerCopyId: 'bdceca94-20fa-490c-9195-7e5e6607a15d',
  /** Recorded in the spoke (the role's account): `userIdentity` is `AWSAccount`, so no key, user name, or SourceIdentity. */
  roleAccountCopyId: 'c7cd33f9-5801-4910-bf8a-348ce28e33ca',
} as const;

/** Events of no session. */
export const NOISE_IDS = {
  /** IAM user carol's DescribeInstances at 10:16 in eu-west-1, the same second and name as session B's. */
  carol: '062d8aae-e0fe-4fac-b3ee-1fa9d22747c2',
  /** mallory's refused AssumeRole of the profile role, asking for session B's session name prefix and SourceIdentity. */
  mallory: '79b84e0a-4c55-402e-b402-977b12ea9d10',
  /** The enforcer's PutRolePolicy on the profile role (us-east-1). */
  enforcer: 'ab62580c-918e-4444-ba4f-6b19d8f3e474',
} as const;

/** `sessions activity`'s query for a session of the scenario: the TVM's account and region, its day, both regions. */
export function activityQuery(session: FixtureSession, more: Partial<ActivityQuery> = {}): ActivityQuery {
  return {
    sessionId: session.id,
    roleArn: PROFILE_ROLE_ARN,
    tvmAccount: HUB_ACCOUNT,
    from: new Date('2026-11-30T08:00:00Z'),
    to: new Date('2026-11-30T12:00:00Z'),
    tvmRegion: TVM_REGION,
    regions: [TVM_REGION, GLOBAL_REGION],
    canRead: () => true,
    maxCalls: 1000,
    ...more,
  };
}
