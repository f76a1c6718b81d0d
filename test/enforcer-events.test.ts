// The revocation enforcer's session events: `Revocation Enforced` once per session and role it newly denies (with the
// measured delay from the revoke to the IAM write), nothing on a rerun; `Revocation Enforcement Failed` per role (or the
// SCP) whose write failed. Sessions revoked through the real vending handler (DynamoDB Local, the local STS), denies
// written on a local IAM (and a local Organizations), events put with the real EventBridge client on the local
// EventBridge and validated against the package's JSON Schemas. Events never fail a run, and never hold it up for long.
import * as path from 'path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { startBundle } from './support/bundle-process';
import { endpoint } from './support/dynamodb-local';
import { emptyTable, ms, profile, putItems, revokedItems, SCHEDULE, T } from './support/enforcer-fixture';
import { eventValidator } from './support/event-schemas';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { startLocalOrganizations, type LocalOrganizations } from './support/local-organizations';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, BOB, createFixture, CREDENTIALS, event, resolveFragment, ROLE_ARNS, stsClient, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import {
  enforce, EnforcementError, EVENTS_TIMEOUT_MS, type EnforcerConfig, type EnforcerDeps, type EnforcerEvents,
} from '../lambda/enforcer/enforce';
import { organizationsClient } from '../lambda/enforcer/organization';
import { deniedBy, fallbackFor, fallbackPolicy, listPolicy, VEND_IN_FLIGHT_MS } from '../lambda/enforcer/policy';
import { readEnforcerSettings } from '../lambda/enforcer/settings';
import { eventPublisher } from '../lambda/events/publish';
import { Env, revokedSessionsPolicyName, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'enforcer.lambda', 'index.js');
const POLICY = revokedSessionsPolicyName('test', 'us-east-1');
const TVM_NAME = 'fixture-tvm';
const READONLY = ROLE_ARNS.ReadOnly;
const DEPLOY = ROLE_ARNS.Deploy;
/** A role the readonly profile's sessions may chain into: their deny is written there too. */
const CHAIN = `arn:aws:iam::${ACCOUNT}:role/tvm-test-Chain`;
const SCP_ID = 'p-sentinel0test';
const CONFIG: EnforcerConfig = {
  profiles: new Map([profile('readonly', READONLY, { chainRoleArns: [CHAIN] }), profile('deploy', DEPLOY)].map((p) => [p.name, p])),
};

let fx: Fixture;
let sts: LocalSts;
let iam: LocalIam;
let org: LocalOrganizations;
let eb: LocalEventBridge;
let client: EventBridgeClient;
let delivered: DeliveredEvent[];
let logs: { level: string; message: string; [k: string]: unknown }[];
let failedCounts: number[];
const validate = eventValidator();
const revokedItem = revokedItems(CONFIG);
const id = (n: number) => n.toString(16).padStart(16, '0');

/** The enforcer's events on the test's client (its retries do not pause: the pause is not what is tested). */
function events(more: Partial<EnforcerEvents> = {}): EnforcerEvents {
  return {
    target: { tvmName: TVM_NAME },
    publish: eventPublisher({ client, sleep: async () => undefined }),
    eventsFailed: (n) => failedCounts.push(n),
    ...more,
  };
}

/** The hub enforcer on the fixture's table and the local IAM, with events; the real clock unless `now` is given. */
function deps(more: Partial<EnforcerDeps> = {}): EnforcerDeps {
  return {
    tableName: fx.tableName,
    ddb: fx.ddb,
    iam: new IAMClient({ region: 'us-east-1', endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 }),
    policyName: POLICY,
    account: ACCOUNT,
    loadConfig: async () => CONFIG,
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    events: events(),
    ...more,
  };
}

/** Vends a session through the real vending handler and revokes it as an administrator; its id. */
async function vendAndRevoke(profileName: 'readonly' | 'deploy'): Promise<string> {
  const handle = fx.handler({ sts: stsClient(sts.endpoint) });
  const vended = await handle(event({ query: { profile: profileName }, ...(profileName === 'deploy' ? { userArn: BOB } : {}) }));
  if (vended.statusCode !== 200) throw new Error(`vend failed: ${vended.body}`);
  const sessionId = JSON.parse(vended.body).SessionId;
  const revoked = await handle(event({ method: 'POST', path: `/sessions/${sessionId}/revoke`, userArn: ADMIN, body: '{"reason":"test"}' }));
  if (revoked.statusCode !== 200) throw new Error(`revoke failed: ${revoked.body}`);
  return sessionId;
}

const detailsOf = (type: string) => delivered.filter((e) => e['detail-type'] === type).map((e) => e.detail as Record<string, any>);
const enforced = () => detailsOf('Revocation Enforced');
const failedEvents = () => detailsOf('Revocation Enforcement Failed');
const pairs = () => enforced().map((d) => [d.sessionId, d.roleArn, d.mechanism]).sort();
/** An inline policy of the role's own that takes exactly `chars` characters as IAM counts them. */
function ownPolicyOf(chars: number): string {
  const doc = (sid: string) => ({ Version: '2012-10-17', Statement: [{ Sid: sid, Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] });
  return JSON.stringify(doc('x'.repeat(chars - JSON.stringify(doc('')).length)));
}

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
  iam = await startLocalIam({ roles: [READONLY, DEPLOY, CHAIN] });
  org = await startLocalOrganizations({ keys: { [CREDENTIALS.accessKeyId]: CREDENTIALS.secretAccessKey } });
  eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: (e) => delivered.push(e) });
  client = new EventBridgeClient({ region: 'us-east-1', endpoint: eb.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
});
afterAll(async () => {
  client?.destroy();
  await Promise.all([sts?.stop(), iam?.stop(), org?.stop(), eb?.stop()]);
});
beforeEach(async () => {
  delivered = [];
  logs = [];
  failedCounts = [];
  await emptyTable(fx.ddb, fx.tableName);
  for (const policies of iam.roles.values()) policies.clear();
  iam.fail(undefined);
  org.policies.set(SCP_ID, JSON.stringify(SPOKE_PLACEHOLDER_POLICY, null, 2));
  org.fail(undefined);
  eb.calls.length = 0;
  eb.failCalls(0);
  eb.delay(0);
});
afterEach(() => {
  for (const e of delivered) expect([e['detail-type'], validate(e)]).toEqual([e['detail-type'], []]);
});

describe('GIVEN sessions revoked through the vending handler', () => {
  test('WHEN the enforcer denies them THEN one Revocation Enforced per session and role, with the measured delay; a rerun emits none', async () => {
    const [r1, r2, d1] = [await vendAndRevoke('readonly'), await vendAndRevoke('readonly'), await vendAndRevoke('deploy')];

    const summary = await enforce(deps(), SCHEDULE);

    expect(pairs()).toEqual([
      [r1, CHAIN, 'role-policy'], [r1, READONLY, 'role-policy'], [r2, CHAIN, 'role-policy'], [r2, READONLY, 'role-policy'],
      [d1, DEPLOY, 'role-policy'],
    ].sort());
    expect(summary.events).toEqual({ emitted: 5, failed: 0 });
    expect(failedCounts).toEqual([0]);
    for (const d of enforced()) {
      const item = (await fx.item(d.sessionId))!;
      expect(d).toMatchObject({ version: 1, tvmName: TVM_NAME, account: ACCOUNT, revokedAt: item.revoked_at });
      // The write returned after the revoke, within the few seconds this test takes.
      expect(d.delayMs).toBe(Date.parse(d.enforcedAt) - Date.parse(d.revokedAt));
      expect(d.delayMs).toBeGreaterThanOrEqual(0);
      expect(d.delayMs).toBeLessThan(15_000);
    }
    expect(delivered.every((e) => e.resources.length === 1 && e.resources[0] === e.detail.roleArn)).toBe(true);

    // Every 5 minutes the schedule finds the same denies in place: nothing new to say.
    delivered = [];
    expect((await enforce(deps(), SCHEDULE)).events).toEqual({ emitted: 0, failed: 0 });
    expect(delivered).toEqual([]);

    // A later revocation: only its own session is newly denied (the list already held the others).
    const r3 = await vendAndRevoke('readonly');
    expect((await enforce(deps(), SCHEDULE)).events).toEqual({ emitted: 2, failed: 0 });
    expect(pairs()).toEqual([[r3, CHAIN, 'role-policy'], [r3, READONLY, 'role-policy']]);
    expect(failedCounts).toEqual([0, 0, 0]);
  });

  test('fails when a role\'s write is refused: Enforcement Failed names its sessions and the error\'s code; the others are enforced', async () => {
    const [r1, d1, d2] = [await vendAndRevoke('readonly'), await vendAndRevoke('deploy'), await vendAndRevoke('deploy')];
    iam.fail({
      code: 'AccessDenied',
      message: 'not authorized to perform iam:PutRolePolicy',
      status: 403,
      actions: ['PutRolePolicy'],
      roleName: 'tvm-test-Deploy',
    });

    const error = await enforce(deps(), SCHEDULE).catch((e) => e);

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.events).toEqual({ emitted: 3, failed: 0 });
    expect(pairs()).toEqual([[r1, CHAIN, 'role-policy'], [r1, READONLY, 'role-policy']]);
    expect(failedEvents()).toEqual([{
      version: 1,
      tvmName: TVM_NAME,
      roleArn: DEPLOY,
      account: ACCOUNT,
      mechanism: 'role-policy',
      sessionIds: [d1, d2].sort(),
      truncated: false,
      error: 'AccessDenied',
      failedAt: expect.any(String),
    }]);
    // The code only: the message may name more than the role.
    expect(JSON.stringify(failedEvents())).not.toContain('not authorized');
  });
});

describe('GIVEN revoked sessions and a role with little room left for the deny', () => {
  const NOW = ms(T, 1);
  test('WHEN the fallback is written THEN its sessions are enforced; a later revocation it does not cover is enforced alone', async () => {
    // 9,950 characters of the role's own: the list of one id (205) exceeds the budget, the fallback (257) fits IAM's quota.
    iam.policiesOf(READONLY)!.set('own', ownPolicyOf(9_950));
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(1), READONLY), revokedItem(id(2), READONLY, { revokedAt: ms(T, -1) })]);

    await enforce(deps({ now: () => NOW }), SCHEDULE);

    expect(iam.policy(READONLY, POLICY)).toBe(fallbackPolicy(new Date(T.getTime() + VEND_IN_FLIGHT_MS)));
    expect(pairs()).toEqual([
      [id(1), CHAIN, 'role-policy'], [id(1), READONLY, 'role-policy'], [id(2), CHAIN, 'role-policy'], [id(2), READONLY, 'role-policy'],
    ]);
    expect(enforced().find((d) => d.sessionId === id(1) && d.roleArn === READONLY)).toMatchObject({
      revokedAt: T.toISOString(), enforcedAt: NOW.toISOString(), delayMs: 60_000,
    });

    delivered = [];
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(3), READONLY, { revokedAt: ms(T, 0.5) })]);
    await enforce(deps({ now: () => NOW }), SCHEDULE);

    // The fallback moved to the new revocation: only id 3 was not denied before (on the chain role, the list grew by it).
    expect(iam.policy(READONLY, POLICY)).toBe(fallbackPolicy(new Date(ms(T, 0.5).getTime() + VEND_IN_FLIGHT_MS)));
    expect(pairs()).toEqual([[id(3), CHAIN, 'role-policy'], [id(3), READONLY, 'role-policy']]);
  });

  test('THEN a document denies what it lists, and what its fallback covers with the vends in flight, nothing else', () => {
    const at = (minutes: number) => ({ id: id(minutes + 100), revokedAt: ms(T, minutes).getTime() });
    const fallback = deniedBy(fallbackFor(T).document);
    expect([fallback(at(-10)), fallback(at(0)), fallback({ ...at(0), revokedAt: T.getTime() + 1 }), fallback({ ...at(0), revokedAt: NaN })])
      .toEqual([true, true, false, false]);
    const list = deniedBy(listPolicy([id(1)]));
    expect([list({ id: id(1), revokedAt: NaN }), list({ id: id(2), revokedAt: T.getTime() })]).toEqual([true, false]);
    expect(deniedBy(undefined)({ id: id(1), revokedAt: 0 })).toBe(false);
    expect(deniedBy(JSON.stringify(SPOKE_PLACEHOLDER_POLICY))({ id: id(1), revokedAt: 0 })).toBe(false);
  });
});

describe('GIVEN the organization SCP', () => {
  const NOW = ms(T, 1);
  const withScp = () => deps({
    now: () => NOW,
    organization: { policyId: SCP_ID, client: organizationsClient({ credentials: CREDENTIALS, endpoint: org.endpoint, maxAttempts: 1 }) },
  });

  test('WHEN it lists a revoked session THEN Revocation Enforced names the organization and the session\'s role; a rerun none', async () => {
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(1), DEPLOY)]);

    await enforce(withScp(), SCHEDULE);

    expect(pairs()).toEqual([[id(1), DEPLOY, 'organization-scp'], [id(1), DEPLOY, 'role-policy']]);
    expect(enforced().find((d) => d.mechanism === 'organization-scp')).toMatchObject({ account: 'organization', delayMs: 60_000 });
    delivered = [];
    expect((await enforce(withScp(), SCHEDULE)).events).toEqual({ emitted: 0, failed: 0 });

    // Another revocation: the SCP is written again, and names only the new session as newly denied.
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(2), DEPLOY)]);
    await enforce(withScp(), SCHEDULE);
    expect(pairs()).toEqual([[id(2), DEPLOY, 'organization-scp'], [id(2), DEPLOY, 'role-policy']]);
  });

  test('fails when the SCP\'s update is refused: Revocation Enforcement Failed per role of its sessions, account organization', async () => {
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(1), DEPLOY), revokedItem(id(2), READONLY), revokedItem(id(3), READONLY)]);
    org.fail({ code: 'AccessDeniedException', message: 'You don\'t have permissions to access this resource.', operations: ['UpdatePolicy'] });

    await expect(enforce(withScp(), SCHEDULE)).rejects.toThrow(EnforcementError);

    expect(failedEvents().map((d) => [d.roleArn, d.account, d.mechanism, d.sessionIds, d.error])).toEqual([
      [DEPLOY, 'organization', 'organization-scp', [id(1)], 'AccessDeniedException'],
      [READONLY, 'organization', 'organization-scp', [id(2), id(3)], 'AccessDeniedException'],
    ]);
    // The roles' denies were written all the same, and said so.
    expect(pairs().filter((p) => p[2] === 'role-policy')).toHaveLength(5);
  });
});

describe('GIVEN EventBridge failing', () => {
  const NOW = ms(T, 1);
  beforeEach(async () => {
    await putItems(fx.ddb, fx.tableName, [revokedItem(id(1), READONLY), revokedItem(id(2), DEPLOY)]);
  });

  test('WHEN it answers too late THEN the run ends within the events\' time, its denies written, the events logged and counted', async () => {
    eb.delay(10_000);
    const started = Date.now();

    const summary = await enforce(deps({ now: () => NOW, events: events({ timeoutMs: 500 }) }), SCHEDULE);

    expect(Date.now() - started).toBeLessThan(2_500);
    expect(summary.roles.map((r) => r.mode)).toEqual(['list', 'list', 'list']);
    expect(summary.events).toEqual({ emitted: 3, failed: 3 });
    expect(failedCounts).toEqual([3]);
    expect(logs.find((l) => l.message === 'session events not put')).toMatchObject({ level: 'ERROR', failed: 3, errors: { Timeout: 3 } });
    expect(EVENTS_TIMEOUT_MS).toBeLessThanOrEqual(5_000);
  });

  test('WHEN it is down THEN the run succeeds all the same, and the events not put are counted', async () => {
    eb.failCalls(Infinity);

    const summary = await enforce(deps({ now: () => NOW }), SCHEDULE);

    expect(summary.events).toEqual({ emitted: 3, failed: 3 });
    expect(failedCounts).toEqual([3]);
    const line = logs.find((l) => l.message === 'session events not put')!;
    expect(line).toMatchObject({ errors: { InternalException: 3 } });
    expect((line.events as any[]).map((e) => e.sessionId).sort()).toEqual([id(1), id(1), id(2)]);
  });

  test('WHEN the enforcer has no events configured THEN it puts none and its summary says nothing of them', async () => {
    const summary = await enforce(deps({ now: () => NOW, events: undefined }), SCHEDULE);
    expect(summary.events).toBeUndefined();
    expect(eb.calls).toEqual([]);
  });
});

describe('GIVEN the enforcer\'s settings', () => {
  const ENV = {
    [Env.TABLE_NAME]: 'sessions',
    [Env.CONTROL_TABLE_NAME]: 'control',
    [Env.CONFIG_DIGEST]: 'a'.repeat(64),
    [Env.REVOKED_POLICY_NAME]: POLICY,
    [Env.STACK_ID]: 'arn:aws:cloudformation:us-east-1:111122223333:stack/MyStack/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9',
  };
  test('THEN the TVM name and the bus are read when set, and absent otherwise (no events)', () => {
    expect(readEnforcerSettings({ ...ENV, [Env.TVM_NAME]: 'MyTvm', [Env.EVENT_BUS]: 'security' }))
      .toMatchObject({ tvmName: 'MyTvm', eventBus: 'security' });
    expect(readEnforcerSettings({ ...ENV, [Env.TVM_NAME]: 'MyTvm' })).not.toHaveProperty('eventBus');
    expect(readEnforcerSettings(ENV)).not.toHaveProperty('tvmName');
  });

  test('fails when the bus is malformed, naming the variable', () => {
    expect(() => readEnforcerSettings({ ...ENV, [Env.TVM_NAME]: 'MyTvm', [Env.EVENT_BUS]: 'no spaces' }))
      .toThrow(/SENTINEL_EVENT_BUS is "no spaces"/);
  });
});

describe('GIVEN the bundled enforcer with its TVM\'s name', () => {
  test('WHEN a run denies a revoked session THEN it puts Revocation Enforced through the SDK configuration of its environment', async () => {
    const fn: any = Object.values(fx.template.Resources)
      .find((r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.REVOKED_POLICY_NAME]);
    const env = resolveFragment(fx.template, fn.Properties.Environment.Variables, fx);
    const bundle = await startBundle(BUNDLE, {
      ...env,
      [Env.TVM_NAME]: TVM_NAME,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
      AWS_ENDPOINT_URL_IAM: iam.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eb.endpoint,
    });
    try {
      const r1 = await vendAndRevoke('readonly');
      const summary = await bundle.invoke(SCHEDULE);

      expect(summary.events).toEqual({ emitted: 1, failed: 0 });
      expect(pairs()).toEqual([[r1, READONLY, 'role-policy']]);
      const emf = bundle.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => 'EventsFailed' in l);
      expect(emf).toMatchObject({ EventsFailed: 0, service: env.POWERTOOLS_SERVICE_NAME });
    } finally {
      await bundle.stop();
    }
  });
});
