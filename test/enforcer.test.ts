// The revocation enforcer (SPEC §7): the bundled Lambda fed by DynamoDB Local's real stream, the policy it writes
// evaluated by an IAM policy simulator, and its logic (pruning, other tools' items, size fallback, isolation,
// failures) against DynamoDB Local and a local IAM endpoint spoken to by the real @aws-sdk/client-iam.
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
import { endpoint } from './support/dynamodb-local';
import { startLocalIam, type IamCall, type LocalIam } from './support/local-iam';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { eventSourceFilter, openTableStream, type TableStream } from './support/streams';
import {
  ACCOUNT, ADMIN, BOB, createFixture, CREDENTIALS, event, findResource, resolveFragment, ROLE_ARNS, stsClient, type Fixture,
} from './support/tvm-fixture';
import { enforce, EnforcementError, FALLBACK_LIVE_MS, triggerOf, type EnforcerDeps } from '../lambda/enforcer/enforce';
import {
  fallbackPolicy, IAM_ROLE_INLINE_POLICIES_LIMIT, isoSeconds, listedIds, listPolicy, MAX_LISTED_IDS, POLICY_BUDGET_CHARS,
} from '../lambda/enforcer/policy';
import { CONFIG_ITEM_ID, Env, REVOKED_SESSIONS_POLICY_NAME } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'enforcer.lambda', 'index.js');
const POLICY = REVOKED_SESSIONS_POLICY_NAME;
const READONLY = ROLE_ARNS.ReadOnly;
const DEPLOY = ROLE_ARNS.Deploy;
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

const ms = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000);
const iso = (d: Date) => d.toISOString();
const id = (n: number) => n.toString(16).padStart(16, '0');
const writes = () => iam.calls.filter((c) => c.action === 'PutRolePolicy' || c.action === 'DeleteRolePolicy');
const summarize = (calls: IamCall[]) => calls.map((c) => [c.action, c.roleName]);
const policyOf = (role: string) => iam.policy(role, POLICY);

function iamClient(): IAMClient {
  return new IAMClient({ region: 'us-east-1', endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
}

function deps(now: Date | (() => Date), more: Partial<EnforcerDeps> = {}): EnforcerDeps {
  return {
    tableName: fx.tableName,
    ddb: fx.ddb,
    iam: iamClient(),
    now: typeof now === 'function' ? now : () => now,
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    ...more,
  };
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

/** Removes every session (the config item stays), so that each test starts from an empty table and stream position. */
async function clearSessions(): Promise<void> {
  let startKey: Record<string, AttributeValue> | undefined;
  const keys: string[] = [];
  do {
    const out = await fx.ddb.send(new ScanCommand({ TableName: fx.tableName, ProjectionExpression: 'id', ExclusiveStartKey: startKey }));
    keys.push(...(out.Items ?? []).map((i) => i.id.S!).filter((k) => k !== CONFIG_ITEM_ID));
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
  stream = await openTableStream(fx.ddb, fx.tableName);
  const mapping = findResource(fx.template, 'AWS::Lambda::EventSourceMapping');
  passesFilter = eventSourceFilter(mapping.Properties.FilterCriteria.Filters);
  const enforcerFn = fx.template.Resources[mapping.Properties.FunctionName.Ref];
  enforcerEnv = resolveFragment(fx.template, enforcerFn.Properties.Environment.Variables, fx.tableName);
});
afterAll(async () => {
  stream?.close();
  await sts?.stop();
  await iam?.stop();
});
beforeEach(async () => {
  logs = [];
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
  beforeAll(async () => {
    // A separate Node.js process with the synthesized environment and the standard SDK variables only.
    bundle = await startBundle(BUNDLE, {
      ...enforcerEnv,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
      AWS_ENDPOINT_URL_IAM: iam.endpoint,
    });
  });
  afterAll(async () => {
    await bundle?.stop();
  });
  const runLines = () => bundle.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((l) => l.message === 'revoked-sessions enforcement');

  test('THEN it was built from the enforcer entry point and reads its table from the synthesized environment', () => {
    expect(fs.readFileSync(BUNDLE, 'utf8')).toContain(POLICY);
    expect(enforcerEnv[Env.TABLE_NAME]).toBe(fx.tableName);
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
    expect(summarize(iam.calls)).toEqual([['GetRolePolicy', 'tvm-test-ReadOnly'], ['PutRolePolicy', 'tvm-test-ReadOnly']]);
    expect(listedIds(policyOf(READONLY))).toEqual([revoked]);
    expect(policyOf(READONLY)).toBe(listPolicy([revoked]));
    expect(listedIds(policyOf(READONLY))).not.toContain(kept);
    expect(policyOf(DEPLOY)).toBeUndefined();
    expect(deploySession).toMatch(/^[0-9a-f]{16}$/);
    expect(firstWrite!.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    const run = runLines().slice(runsBefore);
    expect(run).toHaveLength(1);
    expect(run[0]).toMatchObject({ level: 'INFO', trigger: 'stream', records: 1, roles: [{ role: READONLY, ids: 1, mode: 'list' }] });
    expect(run[0].service).toBe(enforcerEnv.POWERTOOLS_SERVICE_NAME);
    expect(bundle.stdout()).not.toMatch(/ASIA|SecretAccessKey|SessionToken|local-secret/);

    // A second revocation, the container warm.
    iam.calls.length = 0;
    const revokeAt2 = await revoke(kept);
    const streamed2 = await streamEvent();
    const readMs2 = performance.now() - revokeAt2;
    await bundle.invoke(streamed2);
    const warmMs = iam.calls.find((c) => c.action === 'PutRolePolicy')!.at - revokeAt2;
    expect(listedIds(policyOf(READONLY))).toEqual([revoked, kept].sort());
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
    expect(second.roles).toEqual([{ role: READONLY, ids: 1, mode: 'unchanged', policy: 'list' }]);
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

    await expect(bundle.invoke(await streamEvent())).rejects.toThrow(/tvm-test-ReadOnly.*AccessDenied/s);
    expect(policyOf(READONLY)).toBeUndefined();
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

  test('WHEN the fallback is in place THEN credentials issued before the latest revocation are denied, later ones allowed', async () => {
    const items = Array.from({ length: MAX_LISTED_IDS + 1 }, (_, i) => revokedItem(id(i), { revokedAt: ms(T, -(i % 10)) }));
    await put(...items);
    await enforce(deps(T), SCHEDULE);
    const policy = policyOf(READONLY)!;

    expect(JSON.parse(policy).Statement[0].Condition).toEqual({
      DateLessThan: { 'aws:TokenIssueTime': '2036-01-25T14:30:00Z' },
      Null: { 'aws:PrincipalTag/SentinelSessionID': 'false' },
    });
    expect(await decide(policy, id(1), { 'aws:TokenIssueTime': '2036-01-25T14:29:59Z' })).toBe('ExplicitlyDenied');
    // Over-revokes: a session that was never revoked, issued before the revocation, is denied too.
    expect(await decide(policy, 'ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:00:00Z' })).toBe('ExplicitlyDenied');
    expect(await decide(policy, 'ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:30:01Z' })).toBe('Allowed');
    // Credentials the TVM did not vend (no session tag) are left alone, whenever they were issued.
    expect(await decide(policy, undefined, { 'aws:TokenIssueTime': '2036-01-25T14:00:00Z' })).toBe('Allowed');
  });
});

describe('GIVEN revoked sessions whose credentials expire (pruning by the schedule)', () => {
  const A = 'aaaaaaaaaaaaaaaa';
  const B = 'bbbbbbbbbbbbbbbb';

  test('WHEN now passes a session\'s live-until THEN its id is removed, the policy deleted when none is left, and nothing rewritten', async () => {
    await put(revokedItem(A, { credentialsExpireAt: ms(T, 10) }), revokedItem(B, { credentialsExpireAt: ms(T, 30) }));

    const atT = await enforce(deps(T), SCHEDULE);
    expect(listedIds(policyOf(READONLY))).toEqual([A, B]);
    expect(atT.roles.find((r) => r.role === READONLY)).toEqual({ role: READONLY, ids: 2, mode: 'list', policy: 'list' });

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
    expect(summary.roles).toEqual([{ role: DEPLOY, ids: 1, mode: 'list', policy: 'list' }]);
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

    expect(summary.roles.find((r) => r.role === DEPLOY)).toEqual({ role: DEPLOY, ids: 1, mode: 'list', policy: 'list' });
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
  /** An inline policy of the role's own, exactly as large as the budget leaves room for (2,048 characters). */
  const ownPolicy = (() => {
    const statement = (sid: string) => ({ Sid: sid, Effect: 'Allow', Action: 's3:GetObject', Resource: '*' });
    const doc = (sid: string) => JSON.stringify({ Version: '2012-10-17', Statement: [statement(sid)] });
    return doc('x'.repeat(IAM_ROLE_INLINE_POLICIES_LIMIT - POLICY_BUDGET_CHARS - doc('').length));
  })();

  test('WHEN there are 2,000 THEN the role gets the DateLessThan fallback within the budget, and a WARN says so', async () => {
    iam.roles.get('tvm-test-ReadOnly')!.set('OwnPolicy', ownPolicy);
    const items = Array.from({ length: 2000 }, (_, i) => revokedItem(id(i), {
      revokedAt: new Date(T.getTime() - i * 1000 + 400),
      credentialsExpireAt: ms(T, 60),
    }));
    await put(...items, revokedItem('dddddddddddddddd', { role: DEPLOY }));

    const summary = await enforce(deps(ms(T, 1), { pageSize: 500 }), SCHEDULE);

    const policy = policyOf(READONLY)!;
    expect(policy).toBe(fallbackPolicy(new Date(T.getTime() + 400)));
    expect(JSON.parse(policy).Statement[0].Condition.DateLessThan['aws:TokenIssueTime']).toBe('2036-01-25T14:30:01Z');
    expect(policy.length).toBeLessThanOrEqual(POLICY_BUDGET_CHARS);
    expect(ownPolicy.length).toBe(IAM_ROLE_INLINE_POLICIES_LIMIT - POLICY_BUDGET_CHARS);
    expect(ownPolicy.length + policy.length).toBeLessThanOrEqual(IAM_ROLE_INLINE_POLICIES_LIMIT);
    expect(summary.roles).toEqual([
      { role: DEPLOY, ids: 1, mode: 'list', policy: 'list' },
      { role: READONLY, ids: 2000, mode: 'fallback', policy: 'fallback', issuedBefore: '2036-01-25T14:30:01Z' },
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

    expect(iam.calls.map((c) => c.roleName)).toEqual(['tvm-test-Deploy', 'tvm-test-Deploy']);
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

  test('fails when the session table (or its config item) cannot be read', async () => {
    await expect(enforce(deps(T, { tableName: 'no-such-table' }), SCHEDULE)).rejects.toThrow(/ResourceNotFound|non-existent table/);
    expect(iam.calls).toEqual([]);
  });
});
