// The revocation enforcer: the bundled Lambda fed by DynamoDB Local's real stream, the policy it writes
// evaluated by an IAM policy simulator, and its logic (pruning, other tools' items, the role's real inline-policy
// budget and fallback, one policy per TVM, roles left from the configuration, chain roles, isolation, failures and their
// metric) against DynamoDB Local and a local IAM endpoint (IAM's per-role quota included) spoken to by the real
// @aws-sdk/client-iam.
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import {
  BatchWriteItemCommand, DynamoDBClient, PutItemCommand, QueryCommand, ScanCommand, UpdateItemCommand, type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { DynamoDBRecord } from 'aws-lambda';
import { startBundle, type BundleProcess } from './support/bundle-process';
import { createTableFromTemplate, endpoint, uniqueTableName } from './support/dynamodb-local';
import { startLocalIam, type IamCall, type LocalIam } from './support/local-iam';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { eventSourceFilter, openTableStream, type TableStream } from './support/streams';
import {
  ACCOUNT, ADMIN, BOB, createFixture, CREDENTIALS, event, resolveFragment, ROLE_ARNS, stsClient, type Fixture,
} from './support/tvm-fixture';
import { startLocalEventBridge, type LocalEventBridge } from '../cli/local/eventbridge';
import {
  ALL_ROLES, createEnforcer, enforce, EnforcementError, FALLBACK_LIVE_MS, triggerOf, type EnforcerConfig, type EnforcerDeps,
} from '../lambda/enforcer/enforce';
import { powertoolsEnforcerMetrics } from '../lambda/enforcer/metrics';
import {
  BUDGET_SAFETY_MARGIN_CHARS, fallbackPolicy, IAM_ROLE_INLINE_POLICIES_LIMIT, isoSeconds, listedIds, listPolicy, MAX_LISTED_IDS,
  POLICY_BUDGET_CHARS, policySize, roleBudget, VEND_IN_FLIGHT_MS,
} from '../lambda/enforcer/policy';
import { Env, type ProfileConfig, revokedSessionsPolicyName } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'enforcer.lambda', 'index.js');
/** This TVM's policy name (the unbundled enforcer's; the bundled one reads it from the synthesized environment). */
const POLICY = revokedSessionsPolicyName('test', 'us-east-1');
const READONLY = ROLE_ARNS.ReadOnly;
const DEPLOY = ROLE_ARNS.Deploy;
/** The IAM path of this TVM's ProtectedRoles. */
const PROTECTED_PATH = '/sentinel-tvm/test/';
/** A role of the account that is not one of this TVM's profiles. */
const OTHER_ROLE = `arn:aws:iam::${ACCOUNT}:role/SomeoneElsesRole`;
/** In the future, so that DynamoDB Local's TTL (real time) never interferes; the items written at T carry no ttl. */
const T = new Date('2036-01-25T14:30:00.000Z');
const SCHEDULE = { 'version': '0', 'source': 'aws.events', 'detail-type': 'Scheduled Event', 'detail': {} };

let fx: Fixture;
let sts: LocalSts;
let iam: LocalIam;
let stream: TableStream;
/** Lambda's filter criteria of the enforcer's event source mapping, from the synthesized template. */
let passesFilter: (r: DynamoDBRecord) => boolean;
/** The enforcer function's environment, from the synthesized template. */
let enforcerEnv: Record<string, string>;
let logs: { level: string; message: string; [k: string]: unknown }[];
/** What each run reported to the metrics: the names of its failed roles. */
let failures: string[][];

const ms = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000);
const iso = (d: Date) => d.toISOString();
const id = (n: number) => n.toString(16).padStart(16, '0');
const writes = () => iam.calls.filter((c) => c.action === 'PutRolePolicy' || c.action === 'DeleteRolePolicy');
const summarize = (calls: IamCall[]) => calls.map((c) => [c.action, c.roleName]);
const policyOf = (role: string) => iam.policy(role, POLICY);

function iamClient(): IAMClient {
  return new IAMClient({ region: 'us-east-1', endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
}

/** A configuration of profiles (name → role, and the roles it may chain into). */
function configOf(profiles: Record<string, string | { role: string; chain: string[] }>): EnforcerConfig {
  const profile = (name: string, p: string | { role: string; chain: string[] }): ProfileConfig => ({
    name,
    roleArn: typeof p === 'string' ? p : p.role,
    allowedPrincipals: [ADMIN],
    maxDurationSeconds: 3600,
    ...(typeof p === 'string' ? {} : { chainRoleArns: p.chain }),
  });
  return { profiles: new Map(Object.entries(profiles).map(([name, p]) => [name, profile(name, p)])) };
}

/** The fixture's profiles, as the deployment configures them. */
const CONFIG = configOf({ readonly: READONLY, deploy: DEPLOY });

function deps(now: Date | (() => Date), more: Partial<EnforcerDeps> = {}): EnforcerDeps {
  return {
    tableName: fx.tableName,
    ddb: fx.ddb,
    iam: iamClient(),
    policyName: POLICY,
    protectedRolePath: PROTECTED_PATH,
    account: ACCOUNT,
    loadConfig: async () => CONFIG,
    metrics: (roles) => failures.push([...roles]),
    now: typeof now === 'function' ? now : () => now,
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    ...more,
  };
}

/** An IAM client that calls `before` with each command before sending it (to change IAM's state in between, or fail). */
function iamClientWith(before: (command: any) => void | Promise<void>): IAMClient {
  const client = iamClient();
  const send = client.send.bind(client);
  (client as any).send = async (command: any) => {
    await before(command);
    return send(command);
  };
  return client;
}

/** An inline policy of the role's own that takes exactly `chars` characters as IAM counts them; `pretty` adds whitespace. */
function ownPolicyOf(chars: number, pretty = false): string {
  const doc = (sid: string) => ({ Version: '2012-10-17', Statement: [{ Sid: sid, Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] });
  const document = doc('x'.repeat(chars - JSON.stringify(doc('')).length));
  return pretty ? JSON.stringify(document, null, 2) : JSON.stringify(document);
}

/** A revoked session as this TVM records it (role_arn, credentials_expire_at, revoked_at). */
function revokedItem(sessionId: string, o: { role?: string; revokedAt?: Date; credentialsExpireAt?: Date } = {}): Record<string, AttributeValue> {
  const revokedAt = o.revokedAt ?? T;
  return {
    id: { S: sessionId },
    user: { S: 'alice' },
    profile: { S: o.role === DEPLOY ? 'deploy' : 'readonly' },
    role_arn: { S: o.role ?? READONLY },
    status: { S: 'revoked' },
    created_at: { S: iso(ms(revokedAt, -5)) },
    updated_at: { S: iso(revokedAt) },
    revoked_at: { S: iso(revokedAt) },
    revoked_by: { S: ADMIN },
    revoked_reason: { S: 'test' },
    expires_at: { S: iso(ms(revokedAt, 12 * 60)) },
    credentials_expire_at: { S: iso(o.credentialsExpireAt ?? ms(revokedAt, 15)) },
  };
}

async function put(...items: Record<string, AttributeValue>[]): Promise<void> {
  const chunks = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  for (let i = 0; i < chunks.length; i += 8) {
    await Promise.all(chunks.slice(i, i + 8).map(async (chunk) => {
      let request: any = { [fx.tableName]: chunk.map((Item) => ({ PutRequest: { Item } })) };
      while (request && Object.keys(request).length) {
        request = (await fx.ddb.send(new BatchWriteItemCommand({ RequestItems: request }))).UnprocessedItems;
      }
    }));
  }
}

/** Removes every session (the configuration lives in the control table), so that each test starts from an empty table and stream position. */
async function clearSessions(): Promise<void> {
  let startKey: Record<string, AttributeValue> | undefined;
  const keys: string[] = [];
  do {
    const out = await fx.ddb.send(new ScanCommand({ TableName: fx.tableName, ProjectionExpression: 'id', ExclusiveStartKey: startKey }));
    keys.push(...(out.Items ?? []).map((i) => i.id.S!));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  for (let i = 0; i < keys.length; i += 25) {
    await fx.ddb.send(new BatchWriteItemCommand({
      RequestItems: { [fx.tableName]: keys.slice(i, i + 25).map((k) => ({ DeleteRequest: { Key: { id: { S: k } } } })) },
    }));
  }
}

/** Vends a new session through the real vending handler (local STS); returns its id. */
async function vend(profile: 'readonly' | 'deploy'): Promise<string> {
  const handle = fx.handler({ sts: stsClient(sts.endpoint) });
  const res = await handle(event({ query: { profile }, ...(profile === 'deploy' ? { userArn: BOB } : {}) }));
  if (res.statusCode !== 200) throw new Error(`vend failed: ${res.body}`);
  return JSON.parse(res.body).SessionId;
}

/** Revokes as any tool may: one conditional UpdateItem active → revoked. Returns `performance.now()` at the send. */
async function revoke(sessionId: string): Promise<number> {
  const at = performance.now();
  const now = { S: new Date().toISOString() };
  await fx.ddb.send(new UpdateItemCommand({
    TableName: fx.tableName,
    Key: { id: { S: sessionId } },
    UpdateExpression: 'SET #status = :revoked, #by = :by, #at = :now, #reason = :reason, #updated = :now',
    ConditionExpression: '#status = :active',
    ExpressionAttributeNames: {
      '#status': 'status',
      '#by': 'revoked_by',
      '#at': 'revoked_at',
      '#reason': 'revoked_reason',
      '#updated': 'updated_at',
    },
    ExpressionAttributeValues: {
      ':revoked': { S: 'revoked' },
      ':active': { S: 'active' },
      ':by': { S: ADMIN },
      ':reason': { S: 'compromised laptop' },
      ':now': now,
    },
  }));
  return at;
}

/** The records of the stream since the last read that Lambda's filter would deliver, as a stream event. */
async function streamEvent(): Promise<{ Records: DynamoDBRecord[] }> {
  return { Records: (await stream.read()).filter(passesFilter) };
}

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
  iam = await startLocalIam({ roles: [READONLY, DEPLOY, OTHER_ROLE] });
  // DynamoDB Local refuses (TrimmedDataAccessException) the iterator it handed out at the end of a shard that had no
  // record yet, and the session table starts empty: one item first (clearSessions removes it).
  await fx.ddb.send(new PutItemCommand({ TableName: fx.tableName, Item: { id: { S: 'stream-primer' } } }));
  stream = await openTableStream(fx.ddb, fx.tableName);
  // The enforcer's trigger (the events function reads the stream too).
  const mapping = Object.values(fx.template.Resources as Record<string, any>).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping'
    && String(r.Properties.FunctionName.Ref).includes('Enforcer'));
  passesFilter = eventSourceFilter(mapping.Properties.FilterCriteria.Filters);
  const enforcerFn = fx.template.Resources[mapping.Properties.FunctionName.Ref];
  enforcerEnv = resolveFragment(fx.template, enforcerFn.Properties.Environment.Variables, fx);
});
afterAll(async () => {
  stream?.close();
  await sts?.stop();
  await iam?.stop();
});
beforeEach(async () => {
  logs = [];
  failures = [];
  await clearSessions();
  await stream.skip();
  iam.fail(undefined);
  iam.calls.length = 0;
  for (const policies of iam.roles.values()) policies.clear();
});

describe('GIVEN the revoked-sessions policy documents', () => {
  test('THEN the list policy is compact JSON denying everything to the sorted, distinct session ids', () => {
    expect(listPolicy(['bbbbbbbbbbbbbbbb', 'aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'])).toBe(
      '{"Version":"2012-10-17","Statement":[{"Sid":"SentinelRevokedSessions","Effect":"Deny","Action":"*","Resource":"*",'
      + '"Condition":{"StringEquals":{"aws:PrincipalTag/SentinelSessionID":["aaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbb"]}}}]}');
  });

  test(`THEN ${MAX_LISTED_IDS} ids fit in the ${POLICY_BUDGET_CHARS}-character budget and one more does not`, () => {
    const ids = Array.from({ length: MAX_LISTED_IDS + 1 }, (_, i) => id(i));
    expect(MAX_LISTED_IDS).toBe(421);
    expect(listPolicy(ids.slice(0, MAX_LISTED_IDS)).length).toBeLessThanOrEqual(POLICY_BUDGET_CHARS);
    expect(listPolicy(ids).length).toBeGreaterThan(POLICY_BUDGET_CHARS);
    // The budget leaves a fifth of IAM's per-role limit to the role's own inline policies.
    expect(IAM_ROLE_INLINE_POLICIES_LIMIT - POLICY_BUDGET_CHARS).toBe(2048);
  });

  test('THEN the fallback denies credentials issued before the revocation, rounded up to the whole second', () => {
    expect(isoSeconds(new Date('2036-01-25T14:30:00.001Z'))).toBe('2036-01-25T14:30:01Z');
    expect(isoSeconds(new Date('2036-01-25T14:30:00.000Z'))).toBe('2036-01-25T14:30:00Z');
    expect(JSON.parse(fallbackPolicy(new Date('2036-01-25T14:30:00.250Z'))).Statement).toEqual([{
      Sid: 'SentinelRevokedSessionsIssuedBefore',
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: {
        DateLessThan: { 'aws:TokenIssueTime': '2036-01-25T14:30:01Z' },
        Null: { 'aws:PrincipalTag/SentinelSessionID': 'false' },
      },
    }]);
  });

  test.each<[string, string, unknown]>([
    ['a stream event', 'stream', { Records: [{ eventName: 'MODIFY', dynamodb: {} }] }],
    ['an EventBridge schedule', 'schedule', SCHEDULE],
    ['an empty object (all roles)', 'other', {}],
    ['records that are not stream records (all roles)', 'other', { Records: [{ Sns: {} }] }],
    ['nothing (all roles)', 'other', undefined],
  ])('THEN %s is recognised as %s', (_name, trigger, e) => {
    expect(triggerOf(e).trigger).toBe(trigger);
  });
});

describe('GIVEN the bundled enforcer, fed by the real stream of DynamoDB Local', () => {
  let bundle: BundleProcess;
  let bus: LocalEventBridge;
  beforeAll(async () => {
    bus = await startLocalEventBridge({ onEvent: () => undefined });
    // A separate Node.js process with the synthesized environment and the standard SDK variables only.
    bundle = await startBundle(BUNDLE, {
      ...enforcerEnv,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
      AWS_ENDPOINT_URL_IAM: iam.endpoint,
      // Its events go to a local EventBridge (what they hold is tested in enforcer-events.test.ts).
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.endpoint,
    });
  });
  afterAll(async () => {
    await bundle?.stop();
    await bus?.stop();
  });
  const stdoutLines = () => bundle.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const runLines = () => stdoutLines().filter((l) => l.message === 'revoked-sessions enforcement');
  /** EMF documents of EnforcementFailures: [value, dimension names, Role or Account]. */
  const failureMetrics = () => stdoutLines().filter((l) => 'EnforcementFailures' in l)
    .map((m) => [m.EnforcementFailures, m._aws.CloudWatchMetrics[0].Dimensions[0].join(','), m.Role ?? m.Account]);
  /** The bundled enforcer's policy: the name the construct gives it. */
  const bundlePolicyOf = (role: string) => iam.policy(role, enforcerEnv[Env.REVOKED_POLICY_NAME]);

  test('THEN it was built from the enforcer entry point and reads its table and policy name from the synthesized environment', () => {
    expect(fs.readFileSync(BUNDLE, 'utf8')).toContain(Env.REVOKED_POLICY_NAME);
    expect(enforcerEnv[Env.TABLE_NAME]).toBe(fx.tableName);
    expect(enforcerEnv[Env.REVOKED_POLICY_NAME]).toBe(revokedSessionsPolicyName(enforcerEnv.POWERTOOLS_SERVICE_NAME, 'us-east-1'));
    expect(enforcerEnv[Env.PROTECTED_ROLE_PATH]).toBe(`/sentinel-tvm/${enforcerEnv.POWERTOOLS_SERVICE_NAME}/`);
  });

  test('WHEN a vended session is revoked by a conditional UpdateItem THEN PutRolePolicy denies exactly that id on its role', async () => {
    const [revoked, kept] = [await vend('readonly'), await vend('readonly')];
    const deploySession = await vend('deploy');
    const runsBefore = runLines().length;

    const revokeAt = await revoke(revoked);
    const streamed = await streamEvent();
    const readMs = performance.now() - revokeAt;
    await bundle.invoke(streamed);
    const firstWrite = iam.calls.find((c) => c.action === 'PutRolePolicy');
    const coldMs = firstWrite!.at - revokeAt;

    // Only the revocation passes the construct's filter (the three vends were INSERTs of active sessions).
    expect(streamed.Records.map((r) => [r.eventName, r.dynamodb?.NewImage?.id.S])).toEqual([['MODIFY', revoked]]);
    // Its own policy read, the role's inline policies listed (the budget), the list written.
    expect(summarize(iam.calls)).toEqual([
      ['GetRolePolicy', 'tvm-test-ReadOnly'], ['ListRolePolicies', 'tvm-test-ReadOnly'], ['PutRolePolicy', 'tvm-test-ReadOnly'],
    ]);
    expect(listedIds(bundlePolicyOf(READONLY))).toEqual([revoked]);
    expect(bundlePolicyOf(READONLY)).toBe(listPolicy([revoked]));
    expect(listedIds(bundlePolicyOf(READONLY))).not.toContain(kept);
    expect(bundlePolicyOf(DEPLOY)).toBeUndefined();
    expect(deploySession).toMatch(/^[0-9a-f]{16}$/);
    expect(firstWrite!.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    const run = runLines().slice(runsBefore);
    expect(run).toHaveLength(1);
    expect(run[0]).toMatchObject({ level: 'INFO', trigger: 'stream', records: 1, roles: [{ role: READONLY, ids: 1, mode: 'list' }] });
    expect(run[0].service).toBe(enforcerEnv.POWERTOOLS_SERVICE_NAME);
    expect(bundle.stdout()).not.toMatch(/ASIA|SecretAccessKey|SessionToken|local-secret/);
    // Every run reports its failed roles, 0 included, in the SentinelTvm namespace with the service dimension.
    expect(failureMetrics()).toContainEqual([0, 'service', undefined]);
    expect(stdoutLines().filter((l) => 'EnforcementFailures' in l).every((m) => m._aws.CloudWatchMetrics[0].Namespace === 'SentinelTvm'
      && m.service === enforcerEnv.POWERTOOLS_SERVICE_NAME)).toBe(true);

    // A second revocation, the container warm.
    iam.calls.length = 0;
    const revokeAt2 = await revoke(kept);
    const streamed2 = await streamEvent();
    const readMs2 = performance.now() - revokeAt2;
    await bundle.invoke(streamed2);
    const warmMs = iam.calls.find((c) => c.action === 'PutRolePolicy')!.at - revokeAt2;
    expect(listedIds(bundlePolicyOf(READONLY))).toEqual([revoked, kept].sort());
    console.log('revoke UpdateItem -> PutRolePolicy received by local IAM (stream read by the test + bundled enforcer): '
      + `first invocation ${coldMs.toFixed(1)} ms (of which UpdateItem + stream read ${readMs.toFixed(1)} ms), `
      + `second ${warmMs.toFixed(1)} ms (${readMs2.toFixed(1)} ms)`);
    expect(warmMs).toBeLessThan(5_000);
  });

  test('WHEN the same records are delivered again (a stream retry) THEN nothing is rewritten', async () => {
    const session = await vend('readonly');
    await revoke(session);
    const records = await streamEvent();
    await bundle.invoke(records);
    iam.calls.length = 0;

    const second = await bundle.invoke(records);

    expect(summarize(iam.calls)).toEqual([['GetRolePolicy', 'tvm-test-ReadOnly']]);
    expect(second.roles).toEqual([{ role: READONLY, account: ACCOUNT, ids: 1, mode: 'unchanged', policy: 'list' }]);
  });

  test('WHEN the schedule invokes it THEN every role of the config is recomputed, and an unchanged one is not rewritten', async () => {
    const session = await vend('deploy');
    await revoke(session);
    await bundle.invoke(await streamEvent());
    iam.calls.length = 0;

    const result = await bundle.invoke(SCHEDULE);

    expect(summarize(iam.calls).sort()).toEqual([['GetRolePolicy', 'tvm-test-Deploy'], ['GetRolePolicy', 'tvm-test-ReadOnly']]);
    expect(result.trigger).toBe('schedule');
    expect(result.roles.map((r: any) => [r.role, r.mode, r.ids])).toEqual([[DEPLOY, 'unchanged', 1], [READONLY, 'unchanged', 0]]);
  });

  test('fails when IAM refuses the write: the invocation rejects, so that Lambda retries the stream batch', async () => {
    const session = await vend('readonly');
    await revoke(session);
    iam.fail({ code: 'AccessDenied', message: 'not authorized to perform iam:PutRolePolicy', status: 403, actions: ['PutRolePolicy'] });

    const metricsBefore = failureMetrics().length;
    await expect(bundle.invoke(await streamEvent())).rejects.toThrow(/tvm-test-ReadOnly.*AccessDenied/s);
    expect(bundlePolicyOf(READONLY)).toBeUndefined();
    expect(failureMetrics().slice(metricsBefore)).toEqual([
      [1, 'service', undefined], [1, 'service,Role', 'tvm-test-ReadOnly'], [1, 'service,Account', ACCOUNT],
    ]);
    // (Powertools writes WARN and ERROR lines to stderr; the ERROR summary line is checked on the unbundled enforcer below.)
  });
});

describe('GIVEN the policy the enforcer wrote, evaluated by an IAM policy simulator', () => {
  /** Everything allowed by the role's own permissions: only the revoked-sessions policy can deny. */
  const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

  /** @param sessionId the credentials' session tag; undefined for credentials without one (not vended by the TVM) */
  async function decide(policy: string, sessionId: string | undefined, context: Record<string, string> = {}): Promise<string> {
    const tag: Record<string, string> = sessionId === undefined ? {} : { 'aws:PrincipalTag/SentinelSessionID': sessionId };
    const result = await runSimulation({
      request: {
        principal: `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-${sessionId ?? 'other'}-AbCdEfGh`,
        action: 's3:GetObject',
        resource: { resource: 'arn:aws:s3:::example-bucket/report.csv', accountId: ACCOUNT },
        contextVariables: { ...tag, ...context },
      },
      identityPolicies: [{ name: 'own', policy: ALLOW_ALL }, { name: POLICY, policy: JSON.parse(policy) }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, {});
    if (result.resultType === 'error') throw new Error(`the simulation did not run: ${JSON.stringify(result.errors)}`);
    return result.overallResult;
  }

  test('WHEN a revoked session\'s credentials make a request THEN it is explicitly denied, and another session is allowed', async () => {
    const revoked = 'a1b2c3d4e5f60718';
    await put(revokedItem(revoked), revokedItem('0000000000000001', { credentialsExpireAt: ms(T, -1) }));
    await enforce(deps(T), SCHEDULE);
    const policy = policyOf(READONLY)!;

    expect(listedIds(policy)).toEqual([revoked]);
    expect(await decide(policy, revoked)).toBe('ExplicitlyDenied');
    expect(await decide(policy, 'ffffffffffffffff')).toBe('Allowed');
    // The pruned (expired) session is no longer named.
    expect(await decide(policy, '0000000000000001')).toBe('Allowed');
  });

  test('WHEN the fallback is in place THEN credentials issued before the latest revocation (+15 s) are denied, later ones allowed', async () => {
    const items = Array.from({ length: MAX_LISTED_IDS + 1 }, (_, i) => revokedItem(id(i), { revokedAt: ms(T, -(i % 10)) }));
    await put(...items);
    await enforce(deps(T), SCHEDULE);
    const policy = policyOf(READONLY)!;

    expect(JSON.parse(policy).Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2036-01-25T14:30:15Z' },
      Null: { 'aws:PrincipalTag/SentinelSessionID': 'false' },
    });
    expect(await decide(policy, id(1), { 'aws:TokenIssueTime': '2036-01-25T14:29:59Z' })).toBe('ExplicitlyDenied');
    // Over-revokes: a session that was never revoked, issued before the revocation, is denied too.
    expect(await decide(policy, 'ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:00:00Z' })).toBe('ExplicitlyDenied');
    expect(await decide(policy, 'ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:30:15Z' })).toBe('Allowed');
    // Credentials the TVM did not vend (no session tag) are left alone, whenever they were issued.
    expect(await decide(policy, undefined, { 'aws:TokenIssueTime': '2036-01-25T14:00:00Z' })).toBe('Allowed');
  });

  test('WHEN the fallback is written THEN the credentials of a vend in flight at the revocation (STS called seconds later) are denied', async () => {
    // The vend passed its session check just before the revocation at T; its STS call, within the vending function's
    // 15 s timeout, issued the credentials at T + 14 s.
    const items = Array.from({ length: MAX_LISTED_IDS + 1 }, (_, i) => revokedItem(id(i), { revokedAt: ms(T, -(i % 10)) }));
    await put(...items);

    const summary = await enforce(deps(ms(T, 1)), SCHEDULE);
    const policy = policyOf(READONLY)!;

    expect(VEND_IN_FLIGHT_MS).toBe(15_000);
    expect(summary.roles.find((r) => r.role === READONLY)).toMatchObject({ mode: 'fallback', issuedBefore: '2036-01-25T14:30:15Z' });
    expect(await decide(policy, id(0), { 'aws:TokenIssueTime': '2036-01-25T14:30:14Z' })).toBe('ExplicitlyDenied');
    // A vend that started after the in-flight window is allowed.
    expect(await decide(policy, 'ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:30:16Z' })).toBe('Allowed');
  });
});

describe('GIVEN revoked sessions whose credentials expire (pruning by the schedule)', () => {
  const A = 'aaaaaaaaaaaaaaaa';
  const B = 'bbbbbbbbbbbbbbbb';

  test('WHEN now passes a session\'s live-until THEN its id is removed, the policy deleted when none is left, and nothing rewritten', async () => {
    await put(revokedItem(A, { credentialsExpireAt: ms(T, 10) }), revokedItem(B, { credentialsExpireAt: ms(T, 30) }));

    const atT = await enforce(deps(T), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([A, B]);
    expect(atT.roles.find((r) => r.role === READONLY)).toEqual({ role: READONLY, account: ACCOUNT, ids: 2, mode: 'list', policy: 'list' });

    iam.calls.length = 0;
    await enforce(deps(ms(T, 20)), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([B]);
    expect(summarize(writes())).toEqual([['PutRolePolicy', 'tvm-test-ReadOnly']]);

    iam.calls.length = 0;
    const unchanged = await enforce(deps(ms(T, 25)), SCHEDULE);
    expect(writes()).toEqual([]);
    expect(unchanged.roles.map((r) => r.mode)).toEqual(['unchanged', 'unchanged']);

    iam.calls.length = 0;
    const after = await enforce(deps(ms(T, 30)), SCHEDULE); // live-until is exclusive: expired at exactly T+30
    expect(policyOf(READONLY)).toBeUndefined();
    expect(summarize(writes())).toEqual([['DeleteRolePolicy', 'tvm-test-ReadOnly']]);
    expect(after.roles.find((r) => r.role === READONLY)).toMatchObject({ ids: 0, mode: 'deleted' });
    expect(after.skipped.expired).toBe(2);

    iam.calls.length = 0;
    await enforce(deps(ms(T, 40)), SCHEDULE);
    expect(writes()).toEqual([]);
  });

  test.each<[string, Record<string, AttributeValue>, Date]>([
    ['credentials_expire_at', { credentials_expire_at: { S: iso(ms(T, 15)) }, expires_at: { S: iso(ms(T, 600)) } }, ms(T, 15)],
    ['expires_at when credentials_expire_at is absent', { expires_at: { S: iso(ms(T, 45)) } }, ms(T, 45)],
    ['revoked_at + 12 h when neither is there', { revoked_at: { S: iso(T) }, updated_at: { S: iso(ms(T, 60)) } }, ms(T, 12 * 60)],
    ['updated_at + 12 h without revoked_at', { updated_at: { S: iso(T) } }, ms(T, 12 * 60)],
  ])('WHEN the item has %s THEN the session is denied until then and pruned after', async (_name, attrs, until) => {
    // created_at: the status index's sort key, without which an item is not in the index.
    const item = { id: { S: A }, status: { S: 'revoked' }, profile: { S: 'readonly' }, created_at: { S: iso(ms(T, -60)) }, ...attrs };
    await put(item);

    await enforce(deps(new Date(until.getTime() - 1)), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([A]);
    await enforce(deps(until), SCHEDULE);
    expect(policyOf(READONLY)).toBeUndefined();
    expect(FALLBACK_LIVE_MS).toBe(12 * 3600 * 1000);
  });

  test('WHEN the revoked sessions span many query pages THEN all of them are read', async () => {
    await put(...Array.from({ length: 60 }, (_, i) => revokedItem(id(i))));
    await enforce(deps(T, { pageSize: 7 }), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toHaveLength(60);
  });

  test('WHEN the status index does not show a revocation yet THEN the stream record is confirmed from the table, and a listed id kept', async () => {
    // DynamoDB's GSIs are eventually consistent: hide the session from Query as a lagging index would.
    await put(revokedItem(A), revokedItem(B));
    const lagging = new DynamoDBClient({ region: 'us-east-1', endpoint: endpoint(), credentials: CREDENTIALS });
    const send = lagging.send.bind(lagging);
    (lagging as any).send = async (command: any) => {
      const out: any = await send(command);
      if (command instanceof QueryCommand) out.Items = (out.Items ?? []).filter((i: any) => i.id.S !== A);
      return out;
    };
    const record = { eventName: 'MODIFY', dynamodb: { NewImage: revokedItem(A), OldImage: { ...revokedItem(A), status: { S: 'active' } } } };

    await enforce(deps(T, { ddb: lagging }), { Records: [record] });
    expect(listedIds(policyOf(READONLY))).toEqual([A, B]);

    // A later scheduled run through the same lagging index does not drop A: ids leaving the policy are confirmed first.
    iam.calls.length = 0;
    await enforce(deps(T, { ddb: lagging }), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([A, B]);
    expect(writes()).toEqual([]);
    lagging.destroy();
  });
});

describe('GIVEN a revocation written by Sentinel\'s own tooling (profile = the role ARN, none of this TVM\'s attributes)', () => {
  /** Without created_at (the brief's minimal form), the item is not in the status index (created_at is its sort key). */
  const sentinelItem = (sessionId: string, profile: string, updatedAt: Date, createdAt?: Date): Record<string, AttributeValue> => ({
    ...(createdAt ? { created_at: { S: iso(createdAt) } } : {}),
    id: { S: sessionId },
    user: { S: 'carol' },
    profile: { S: profile },
    status: { S: 'revoked' },
    revoked_by: { S: 'arn:aws:iam::111122223333:user/secops' },
    revoked_reason: { S: 'revoked with sentinel CLI' },
    updated_at: { S: iso(updatedAt) },
  });

  test('WHEN it reaches the stream THEN the role named by its profile denies it, until 12 h after the revocation', async () => {
    const sessionId = 'c0ffee00c0ffee00';
    const revokedAt = new Date();
    await fx.ddb.send(new PutItemCommand({ TableName: fx.tableName, Item: sentinelItem(sessionId, DEPLOY, revokedAt) }));
    const records = await streamEvent();

    const summary = await enforce(deps(() => new Date()), records);

    expect(records.Records.map((r) => r.eventName)).toEqual(['INSERT']);
    expect(summary.roles).toEqual([{ role: DEPLOY, account: ACCOUNT, ids: 1, mode: 'list', policy: 'list' }]);
    expect(listedIds(policyOf(DEPLOY))).toEqual([sessionId]);
    expect(policyOf(READONLY)).toBeUndefined();

    // The item has no created_at, so the status index does not show it: the schedule keeps it all the same
    // (an id leaves the policy only once the table confirms it may), and prunes it 12 h after the revocation.
    iam.calls.length = 0;
    await enforce(deps(new Date(revokedAt.getTime() + FALLBACK_LIVE_MS - 1)), SCHEDULE);
    expect(writes()).toEqual([]);
    expect(listedIds(policyOf(DEPLOY))).toEqual([sessionId]);
    await enforce(deps(new Date(revokedAt.getTime() + FALLBACK_LIVE_MS)), SCHEDULE);
    expect(policyOf(DEPLOY)).toBeUndefined();
  });

  test('WHEN it carries created_at (so the status index shows it) THEN the schedule alone enforces it', async () => {
    await put(sentinelItem('c0ffee00c0ffee01', DEPLOY, T, ms(T, -30)));

    const summary = await enforce(deps(T), SCHEDULE);

    expect(summary.roles.find((r) => r.role === DEPLOY)).toEqual({ role: DEPLOY, account: ACCOUNT, ids: 1, mode: 'list', policy: 'list' });
    expect(listedIds(policyOf(DEPLOY))).toEqual(['c0ffee00c0ffee01']);
  });

  test('WHEN its profile is a role outside this TVM\'s config THEN that role is never touched', async () => {
    await put(sentinelItem('0123456789abcdef', OTHER_ROLE, T, ms(T, -30)));

    const record = { eventName: 'INSERT', dynamodb: { NewImage: sentinelItem('0123456789abcdef', OTHER_ROLE, T) } };
    const onStream = await enforce(deps(T), { Records: [record] });
    const scheduled = await enforce(deps(T), SCHEDULE);

    expect(iam.calls.filter((c) => c.roleName === 'SomeoneElsesRole')).toEqual([]);
    expect(onStream.roles).toEqual([]);
    expect(onStream.ignoredRecords).toBe(1);
    expect(scheduled.skipped.otherRoles).toBe(1);
    expect(writes()).toEqual([]);
  });
});

describe('GIVEN many revoked sessions with live credentials on one role', () => {
  /** An inline policy of the role's own, as large as it can be with the whole budget left (1,948 characters). */
  const ownPolicy = ownPolicyOf(IAM_ROLE_INLINE_POLICIES_LIMIT - POLICY_BUDGET_CHARS - BUDGET_SAFETY_MARGIN_CHARS);

  test('WHEN there are 2,000 THEN the role gets the DateLessThan fallback within the budget, and a WARN says so', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicy);
    const items = Array.from({ length: 2000 }, (_, i) => revokedItem(id(i), {
      revokedAt: new Date(T.getTime() - i * 1000 + 400),
      credentialsExpireAt: ms(T, 60),
    }));
    await put(...items, revokedItem('dddddddddddddddd', { role: DEPLOY }));

    const summary = await enforce(deps(ms(T, 1), { pageSize: 500 }), SCHEDULE);

    const policy = policyOf(READONLY)!;
    // The latest revocation (T + 0.4 s) and the in-flight window (15 s), rounded up to the whole second.
    expect(policy).toBe(fallbackPolicy(new Date(T.getTime() + 400 + VEND_IN_FLIGHT_MS)));
    expect(JSON.parse(policy).Statement[0].Condition.DateLessThan['aws:TokenIssueTime']).toBe('2036-01-25T14:30:16Z');
    expect(policy.length).toBeLessThanOrEqual(POLICY_BUDGET_CHARS);
    expect(ownPolicy.length).toBe(1948);
    expect(ownPolicy.length + policy.length).toBeLessThanOrEqual(IAM_ROLE_INLINE_POLICIES_LIMIT);
    expect(summary.roles).toEqual([
      { role: DEPLOY, account: ACCOUNT, ids: 1, mode: 'list', policy: 'list' },
      { role: READONLY, account: ACCOUNT, ids: 2000, mode: 'fallback', policy: 'fallback', issuedBefore: '2036-01-25T14:30:16Z' },
    ]);
    expect(logs.filter((l) => l.level === 'WARN')).toEqual([expect.objectContaining({
      message: expect.stringMatching(/budget.*issued before the latest revocation/),
      role: READONLY,
      ids: 2000,
      budgetChars: POLICY_BUDGET_CHARS,
    })]);
    // The other role keeps its list.
    expect(listedIds(policyOf(DEPLOY))).toEqual(['dddddddddddddddd']);
  });

  test.each<[number, string]>([
    [MAX_LISTED_IDS - 1, 'list'],
    [MAX_LISTED_IDS, 'list'],
    [MAX_LISTED_IDS + 1, 'fallback'],
  ])('WHEN there are %i THEN the policy is a %s within the budget (IAM accepts it beside the role\'s own)', async (n, kind) => {
    expect(roleBudget(policySize(ownPolicy))).toBe(POLICY_BUDGET_CHARS);
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicy);
    const ids = Array.from({ length: n }, (_, i) => id(i * 7919));
    await put(...ids.map((i) => revokedItem(i)));

    const summary = await enforce(deps(T, { pageSize: 100 }), SCHEDULE);

    const policy = policyOf(READONLY)!;
    expect(summary.roles.find((r) => r.role === READONLY)).toMatchObject({ ids: n, mode: kind });
    expect(policy.length).toBeLessThanOrEqual(POLICY_BUDGET_CHARS);
    expect(listedIds(policy)).toEqual(kind === 'list' ? [...ids].sort() : []);
  });
});

describe('GIVEN revocations on several roles, inside and outside this TVM', () => {
  test('WHEN a session of one role is revoked THEN only that role is read and written', async () => {
    const deploySession = await vend('deploy');
    await vend('readonly');
    await revoke(deploySession);

    await enforce(deps(() => new Date()), await streamEvent());

    expect(iam.calls.map((c) => c.roleName)).toEqual(['tvm-test-Deploy', 'tvm-test-Deploy', 'tvm-test-Deploy']);
    expect(listedIds(policyOf(DEPLOY))).toEqual([deploySession]);
    expect(policyOf(READONLY)).toBeUndefined();
  });

  test('WHEN a revoked session names a role outside the config THEN no call names that role, on the stream or the schedule', async () => {
    await put(revokedItem('1111111111111111', { role: OTHER_ROLE }), revokedItem('2222222222222222'));

    const record = { eventName: 'MODIFY', dynamodb: { NewImage: revokedItem('1111111111111111', { role: OTHER_ROLE }) } };
    const fromStream = await enforce(deps(T), { Records: [record] });
    const scheduled = await enforce(deps(T), SCHEDULE);

    expect(iam.calls.filter((c) => c.roleName === 'SomeoneElsesRole')).toEqual([]);
    expect(fromStream.roles).toEqual([]);
    expect(scheduled.skipped.otherRoles).toBe(1);
    expect(listedIds(policyOf(READONLY))).toEqual(['2222222222222222']);
  });

  test('WHEN a revoked id is not a safe tag value THEN it is logged and skipped, the others enforced', async () => {
    const hostile = ['"]}},{"Effect":"Allow', '${aws:username}', 'a*', 'x'.repeat(65)];
    await put(...hostile.map((h) => revokedItem(h)), revokedItem('3333333333333333'), revokedItem('Sentinel.Session-42'));

    const summary = await enforce(deps(T), SCHEDULE);

    expect(listedIds(policyOf(READONLY))).toEqual(['3333333333333333', 'Sentinel.Session-42']);
    expect(summary.skipped.invalidIds).toBe(hostile.length);
    expect(logs.find((l) => l.level === 'WARN')).toMatchObject({ count: hostile.length, ids: expect.arrayContaining(['${aws:username}']) });
  });

  test('WHEN stream records are not revocations THEN nothing is read from IAM', async () => {
    const active = { ...revokedItem('4444444444444444'), status: { S: 'active' } };
    const summary = await enforce(deps(T), { Records: [{ eventName: 'INSERT', dynamodb: { NewImage: active } }] });
    expect(iam.calls).toEqual([]);
    expect(summary).toMatchObject({ trigger: 'stream', records: 1, ignoredRecords: 1, roles: [] });
  });
});

describe('GIVEN failures of IAM or of the table', () => {
  test('fails when IAM refuses the write on one role: the run rejects, and the other role is still written', async () => {
    await put(revokedItem('5555555555555555'), revokedItem('6666666666666666', { role: DEPLOY }));
    iam.fail({ code: 'Throttling', message: 'Rate exceeded', status: 400, roleName: 'tvm-test-ReadOnly', actions: ['PutRolePolicy'] });

    const run = enforce(deps(T), SCHEDULE);

    await expect(run).rejects.toThrow(EnforcementError);
    const error = (await run.catch((e) => e)) as EnforcementError;
    expect(error.summary.roles.map((r) => [r.role, r.mode])).toEqual([[DEPLOY, 'list'], [READONLY, 'failed']]);
    expect(error.message).toMatch(/tvm-test-ReadOnly.*Throttling/);
    expect(listedIds(policyOf(DEPLOY))).toEqual(['6666666666666666']);
    expect(logs.pop()).toMatchObject({ level: 'ERROR', message: 'revoked-sessions enforcement' });
    expect(failures).toEqual([['tvm-test-ReadOnly']]);
  });

  test('fails when one role cannot even be read: the other role is still written', async () => {
    await put(revokedItem('5555555555555555'), revokedItem('6666666666666666', { role: DEPLOY }));
    iam.fail({ code: 'AccessDenied', message: 'denied', status: 403, roleName: 'tvm-test-ReadOnly' });

    const error = (await enforce(deps(T), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.roles.map((r) => [r.role, r.mode])).toEqual([[DEPLOY, 'list'], [READONLY, 'failed']]);
    expect(listedIds(policyOf(DEPLOY))).toEqual(['6666666666666666']);
    expect(failures).toEqual([['tvm-test-ReadOnly']]);
  });

  test('fails when IAM cannot be read (GetRolePolicy AccessDenied): nothing is written blind', async () => {
    await put(revokedItem('7777777777777777'));
    iam.fail({ code: 'AccessDenied', message: 'denied', status: 403, actions: ['GetRolePolicy'] });

    await expect(enforce(deps(T), SCHEDULE)).rejects.toThrow(/AccessDenied/);
    expect(writes()).toEqual([]);
  });

  test('fails when deleting a stale policy fails', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set(POLICY, listPolicy(['8888888888888888']));
    iam.fail({ code: 'ServiceFailure', message: 'internal', status: 500, actions: ['DeleteRolePolicy'] });

    await expect(enforce(deps(T), SCHEDULE)).rejects.toThrow(/ServiceFailure/);
    expect(policyOf(READONLY)).toBe(listPolicy(['8888888888888888']));
  });

  test('fails when the session table (or the configuration) cannot be read', async () => {
    await expect(enforce(deps(T, { tableName: 'no-such-table' }), SCHEDULE)).rejects.toThrow(/ResourceNotFound|non-existent table/);
    const refused = async () => { throw new Error('ConfigError: config item digest is not the deployed one'); };
    await expect(enforce(deps(T, { loadConfig: refused }), SCHEDULE)).rejects.toThrow(/ConfigError/);
    expect(iam.calls).toEqual([]);
  });
});

describe('GIVEN a role whose other inline policies leave less room than the list needs (IAM: 10,240 characters per role)', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => id(i));
  const refusedWrites = () => iam.calls.filter((c) => c.action === 'PutRolePolicy' && c.status !== 200);

  test.each<[string, number, 'list' | 'fallback', string[]]>([
    ['one of 2,066 characters', MAX_LISTED_IDS, 'fallback', [ownPolicyOf(2066)]],
    ['one of 6,018 characters', 250, 'fallback', [ownPolicyOf(6018)]],
    ['one of 9,518 characters', 40, 'fallback', [ownPolicyOf(9518)]],
    ['two of 5,000 and 4,518 characters', 40, 'fallback', [ownPolicyOf(5000), ownPolicyOf(4518)]],
    ['one of 9,518 characters', 1, 'list', [ownPolicyOf(9518)]],
    ['one of 9,518 characters with whitespace (IAM does not count it)', 1, 'list', [ownPolicyOf(9518, true)]],
  ])('WHEN the role has %s and %i revoked sessions THEN the %s is written beside them, first time', async (_name, n, kind, own) => {
    own.forEach((doc, i) => iam.roles.get('tvm-test-ReadOnly')!.set(`OwnPolicy${i}`, doc));
    await put(...ids(n).map((i) => revokedItem(i)));

    const summary = await enforce(deps(T), SCHEDULE);

    expect(summary.roles.find((r) => r.role === READONLY)).toMatchObject({ ids: n, mode: kind, policy: kind });
    const policy = policyOf(READONLY)!;
    expect(listedIds(policy)).toEqual(kind === 'list' ? ids(n) : []);
    // The role's own policies are untouched, and all of them together are within IAM's limit.
    own.forEach((doc, i) => expect(iam.policy(READONLY, `OwnPolicy${i}`)).toBe(doc));
    expect([...own, policy].reduce((sum, doc) => sum + policySize(doc), 0)).toBeLessThanOrEqual(IAM_ROLE_INLINE_POLICIES_LIMIT);
    // The budget was measured, so IAM never had to refuse a write.
    expect(iam.calls.filter((c) => c.action === 'ListRolePolicies').map((c) => c.roleName)).toEqual(['tvm-test-ReadOnly']);
    expect(iam.calls.filter((c) => c.action === 'GetRolePolicy' && c.policyName !== POLICY).map((c) => c.policyName))
      .toEqual(own.map((_, i) => `OwnPolicy${i}`));
    expect(refusedWrites()).toEqual([]);
    expect(failures).toEqual([[]]);
  });

  test('WHEN another inline policy grows between the measurement and the write THEN IAM\'s LimitExceeded is answered with the fallback', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicyOf(1000));
    await put(...ids(40).map((i) => revokedItem(i)));
    // A deployment adds grants to the role's own policy just before the enforcer writes.
    const growing = iamClientWith((command) => {
      if (command.constructor.name === 'PutRolePolicyCommand') iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicyOf(9518));
    });

    const summary = await enforce(deps(T, { iam: growing }), SCHEDULE);

    expect(refusedWrites().map((c) => [c.status, listedIds(c.policyDocument).length])).toEqual([[409, 40]]);
    expect(summary.roles.find((r) => r.role === READONLY)).toEqual({
      role: READONLY, account: ACCOUNT, ids: 40, mode: 'fallback', policy: 'fallback', issuedBefore: '2036-01-25T14:30:15Z',
    });
    expect(policyOf(READONLY)).toBe(fallbackPolicy(new Date(T.getTime() + VEND_IN_FLIGHT_MS)));
    expect(logs.find((l) => l.level === 'WARN')).toMatchObject({
      message: expect.stringMatching(/IAM refused the list.*fallback/), role: READONLY, error: expect.stringMatching(/^LimitExceeded/),
    });
    expect(failures).toEqual([[]]);

    // The next run measures the grown policy, and leaves the fallback in place.
    iam.calls.length = 0;
    const next = await enforce(deps(T), SCHEDULE);
    expect(writes()).toEqual([]);
    expect(next.roles.find((r) => r.role === READONLY)).toMatchObject({ mode: 'unchanged', policy: 'fallback' });
  });

  test.each(['LimitExceeded', 'LimitExceededException'])('WHEN IAM refuses the list with an error named %s THEN the fallback follows', async (n) => {
    await put(...ids(3).map((i) => revokedItem(i)));
    let refused = 0;
    const refusing = iamClientWith((command) => {
      if (command.constructor.name === 'PutRolePolicyCommand' && refused++ === 0) {
        throw Object.assign(new Error('Maximum policy size of 10240 bytes exceeded'), { name: n });
      }
    });

    const summary = await enforce(deps(T, { iam: refusing }), SCHEDULE);

    expect(refused).toBe(2);
    expect(summary.roles.find((r) => r.role === READONLY)).toMatchObject({ mode: 'fallback' });
    expect(policyOf(READONLY)).toBe(fallbackPolicy(new Date(T.getTime() + VEND_IN_FLIGHT_MS)));
  });

  test('fails when not even the fallback fits: that role is failed and counted by EnforcementFailures, the other role is written', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicyOf(10_100));
    await put(revokedItem('5555555555555555'), revokedItem('6666666666666666', { role: DEPLOY }));

    const error = (await enforce(deps(T), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.roles).toEqual([
      { role: DEPLOY, account: ACCOUNT, ids: 1, mode: 'list', policy: 'list' },
      { role: READONLY, account: ACCOUNT, ids: 1, mode: 'failed', error: expect.stringMatching(/^LimitExceeded.*10240/) },
    ]);
    expect(refusedWrites().map((c) => [c.roleName, c.status])).toEqual([['tvm-test-ReadOnly', 409]]);
    expect(policyOf(READONLY)).toBeUndefined();
    expect(listedIds(policyOf(DEPLOY))).toEqual(['6666666666666666']);
    expect(failures).toEqual([['tvm-test-ReadOnly']]);
    expect(logs.pop()).toMatchObject({ level: 'ERROR', message: 'revoked-sessions enforcement' });
  });

  test('WHEN reported to Powertools THEN EnforcementFailures is an EMF metric: every run\'s count, 0 included, 1 per failed role, and by account', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicyOf(10_100));
    const out: string[] = [];
    const capture = (chunk: any) => { out.push(String(chunk)); return true; };
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    try {
      const metrics = powertoolsEnforcerMetrics({ serviceName: 'sentinel-test' });
      await enforce(deps(T, { metrics }), SCHEDULE);
      await put(revokedItem('5555555555555555'));
      await enforce(deps(T, { metrics }), SCHEDULE).catch(() => undefined);
    } finally {
      spy.mockRestore();
    }

    const emf = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l._aws);
    expect(emf.map((m) => [m.EnforcementFailures, m._aws.CloudWatchMetrics[0].Dimensions, m.service, m.Role ?? m.Account])).toEqual([
      [0, [['service']], 'sentinel-test', undefined],
      [1, [['service']], 'sentinel-test', undefined],
      [1, [['service', 'Role']], 'sentinel-test', 'tvm-test-ReadOnly'],
      [1, [['service', 'Account']], 'sentinel-test', ACCOUNT],
    ]);
    expect(emf.every((m) => m._aws.CloudWatchMetrics[0].Namespace === 'SentinelTvm'
      && m._aws.CloudWatchMetrics[0].Metrics[0].Name === 'EnforcementFailures')).toBe(true);
  });
});

describe('GIVEN two TVMs whose profiles share a role (one revoked-sessions policy each)', () => {
  const OTHER_POLICY = revokedSessionsPolicyName('other-tvm', 'us-east-1');
  let otherTable: string;
  beforeAll(async () => {
    // A second session table of the same schema: the session table of the template (the one with the status index).
    const resources = fx.template.Resources;
    const sessionTable = Object.keys(resources).find((k) => resources[k].Type === 'AWS::DynamoDB::Table'
      && resources[k].Properties.GlobalSecondaryIndexes?.some((i: any) => i.IndexName === 'gsi-status'));
    otherTable = await createTableFromTemplate(fx.template, uniqueTableName('tvm-other'), fx.ddb, sessionTable);
  });
  const other = (now: Date) => deps(now, { tableName: otherTable, policyName: OTHER_POLICY });

  test('WHEN each revokes and prunes its own sessions THEN neither rewrites nor deletes the other\'s deny', async () => {
    const A = 'aaaaaaaaaaaaaaaa';
    const B = 'bbbbbbbbbbbbbbbb';
    await put(revokedItem(A, { credentialsExpireAt: ms(T, 10) }));

    // This TVM denies A; the other, with nothing revoked, leaves that deny alone.
    await enforce(deps(T), SCHEDULE);
    const otherRun = await enforce(other(T), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([A]);
    expect(otherRun.roles.find((r) => r.role === READONLY)).toMatchObject({ mode: 'unchanged', policy: 'none' });

    // The other TVM revokes B on the same role: its own policy, counting this TVM's in the role's budget.
    await fx.ddb.send(new PutItemCommand({ TableName: otherTable, Item: revokedItem(B, { credentialsExpireAt: ms(T, 30) }) }));
    await enforce(other(T), SCHEDULE);
    expect(listedIds(iam.policy(READONLY, OTHER_POLICY))).toEqual([B]);
    expect(listedIds(policyOf(READONLY))).toEqual([A]);

    // A's credentials expire: this TVM deletes its policy only; B stays denied.
    await enforce(deps(ms(T, 20)), SCHEDULE);
    await enforce(other(ms(T, 20)), SCHEDULE);
    expect(policyOf(READONLY)).toBeUndefined();
    expect(listedIds(iam.policy(READONLY, OTHER_POLICY))).toEqual([B]);

    // Every write and delete named the writer's own policy: this TVM's calls never named the other's, and vice versa.
    const written = writes().map((c) => [c.action, c.policyName]);
    expect(written).toEqual([['PutRolePolicy', POLICY], ['PutRolePolicy', OTHER_POLICY], ['DeleteRolePolicy', POLICY]]);
  });
});

describe('GIVEN a revoked session whose role left the configuration (replaced, or its profile removed)', () => {
  /** The replaced role: under this TVM's protected role path, no longer a role of any profile. */
  const OLD_ROLE = `arn:aws:iam::${ACCOUNT}:role${PROTECTED_PATH}tvm-test-OldReadOnly`;
  /** A replaced role that has since been deleted. */
  const DELETED_ROLE = `arn:aws:iam::${ACCOUNT}:role${PROTECTED_PATH}tvm-test-Deleted`;
  /** Roles outside the path: a look-alike path, and the same path in another account. */
  const NEAR_ROLE = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/test-other/tvm-test-NearMiss`;
  const FOREIGN_ROLE = `arn:aws:iam::999999999999:role${PROTECTED_PATH}tvm-test-Foreign`;
  beforeAll(() => [OLD_ROLE, NEAR_ROLE, FOREIGN_ROLE].forEach((r) => iam.createRole(r)));
  const record = (item: Record<string, AttributeValue>) => ({ eventName: 'MODIFY', dynamodb: { NewImage: item } });

  test('WHEN the role lies under this TVM\'s protected role path THEN it is denied there, on the stream and the schedule, and pruned', async () => {
    const item = revokedItem('0123456789abcdef', { role: OLD_ROLE });
    await put(item);

    const onStream = await enforce(deps(T), { Records: [record(item)] });
    expect(onStream.roles).toEqual([{ role: OLD_ROLE, account: ACCOUNT, ids: 1, mode: 'list', policy: 'list' }]);
    expect(listedIds(policyOf(OLD_ROLE))).toEqual(['0123456789abcdef']);

    iam.roles.get('tvm-test-OldReadOnly')!.clear();
    const scheduled = await enforce(deps(T), SCHEDULE);
    expect(scheduled.roles.find((r) => r.role === OLD_ROLE)).toMatchObject({ mode: 'list' });
    expect(scheduled.skipped.otherRoles).toBe(0);

    // Its credentials expire: the schedule still visits the role, and removes the deny.
    const pruned = await enforce(deps(ms(T, 15)), SCHEDULE);
    expect(pruned.roles.find((r) => r.role === OLD_ROLE)).toMatchObject({ ids: 0, mode: 'deleted' });
    expect(policyOf(OLD_ROLE)).toBeUndefined();
  });

  test('WHEN that role no longer exists THEN its outcome is gone, not a failure', async () => {
    const item = revokedItem('0123456789abcdef', { role: DELETED_ROLE });
    await put(item);

    const onStream = await enforce(deps(T), { Records: [record(item)] });
    const scheduled = await enforce(deps(T), SCHEDULE);

    expect(onStream.roles).toEqual([{ role: DELETED_ROLE, account: ACCOUNT, ids: 1, mode: 'gone', policy: 'none' }]);
    expect(scheduled.roles.find((r) => r.role === DELETED_ROLE)).toMatchObject({ mode: 'gone' });
    expect(failures).toEqual([[], []]);
  });

  test('WHEN the role lies outside the path, or in another account, THEN no call names it', async () => {
    const items = [revokedItem('1111111111111111', { role: NEAR_ROLE }), revokedItem('2222222222222222', { role: FOREIGN_ROLE })];
    await put(...items);

    const onStream = await enforce(deps(T), { Records: items.map(record) });
    const scheduled = await enforce(deps(T), SCHEDULE);

    expect(iam.calls.filter((c) => c.roleName === 'tvm-test-NearMiss' || c.roleName === 'tvm-test-Foreign')).toEqual([]);
    expect(onStream).toMatchObject({ roles: [], ignoredRecords: 2 });
    expect(scheduled.skipped.otherRoles).toBe(2);
    // Without a protected role path, a role left from the configuration is not followed at all.
    await put(revokedItem('3333333333333333', { role: OLD_ROLE }));
    const noPath = await enforce(deps(T, { protectedRolePath: undefined }), SCHEDULE);
    expect(noPath.skipped.otherRoles).toBe(3);
    expect(policyOf(OLD_ROLE)).toBeUndefined();
  });

  test('fails when a role of the configuration does not exist (it may be another account\'s, out of reach): loud, not gone', async () => {
    const GHOST = `arn:aws:iam::${ACCOUNT}:role/tvm-test-Ghost`;
    const config = configOf({ readonly: READONLY, deploy: DEPLOY, ghost: GHOST });
    await put({ ...revokedItem('4444444444444444', { role: GHOST }), profile: { S: 'ghost' } });

    const error = (await enforce(deps(T, { loadConfig: async () => config }), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error.summary.roles.find((r) => r.role === GHOST)).toMatchObject({ mode: 'failed', error: expect.stringMatching(/^NoSuchEntity/) });
    expect(failures).toEqual([['tvm-test-Ghost']]);
  });
});

describe('GIVEN profiles whose role may chain into other roles (the session tag is transitive)', () => {
  const SHARED_CHAIN = `arn:aws:iam::${ACCOUNT}:role/tvm-test-ChainShared`;
  const DEPLOY_CHAIN = `arn:aws:iam::${ACCOUNT}:role/tvm-test-ChainDeploy`;
  const config = configOf({
    readonly: { role: READONLY, chain: [SHARED_CHAIN] },
    deploy: { role: DEPLOY, chain: [SHARED_CHAIN, DEPLOY_CHAIN] },
  });
  beforeAll(() => [SHARED_CHAIN, DEPLOY_CHAIN].forEach((r) => iam.createRole(r)));
  const chained = (now: Date) => deps(now, { loadConfig: async () => config });

  test('WHEN a session is revoked THEN it is denied on its role and on every chain role of the profiles using that role, then pruned', async () => {
    const R = 'aaaaaaaaaaaaaaaa';
    const D = 'dddddddddddddddd';
    await put(revokedItem(R, { credentialsExpireAt: ms(T, 10) }), revokedItem(D, { role: DEPLOY, credentialsExpireAt: ms(T, 30) }));

    const onStream = await enforce(chained(T), { Records: [{ eventName: 'MODIFY', dynamodb: { NewImage: revokedItem(R) } }] });
    expect(onStream.roles.map((r) => [r.role, r.mode])).toEqual([[SHARED_CHAIN, 'list'], [READONLY, 'list']]);
    // The table decides: the shared chain role also gets the deploy session revoked earlier.
    expect(listedIds(policyOf(SHARED_CHAIN))).toEqual([R, D]);
    expect(listedIds(policyOf(READONLY))).toEqual([R]);

    await enforce(chained(T), SCHEDULE);
    expect(listedIds(policyOf(DEPLOY))).toEqual([D]);
    expect(listedIds(policyOf(DEPLOY_CHAIN))).toEqual([D]);
    expect(listedIds(policyOf(READONLY))).toEqual([R]);

    // R's credentials expire: it leaves every policy that named it.
    await enforce(chained(ms(T, 20)), SCHEDULE);
    expect(policyOf(READONLY)).toBeUndefined();
    expect(listedIds(policyOf(SHARED_CHAIN))).toEqual([D]);
    expect(listedIds(policyOf(DEPLOY_CHAIN))).toEqual([D]);
  });
});

describe('GIVEN a configuration the enforcer refuses (tampered with, or missing)', () => {
  test('WHEN it runs THEN it fails, and EnforcementFailures counts every role (the alarm cannot read the silence as health)', async () => {
    const run = createEnforcer(deps(T, { loadConfig: async () => { throw new Error('config item digest 0123… is not the deployed 4567…'); } }));

    await expect(run(SCHEDULE)).rejects.toThrow(/not the deployed/);

    expect(failures).toEqual([[ALL_ROLES]]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'revoked-sessions enforcement failed' }));
  });
});
