// Red team of relying parties and session events (issue 13): POST /introspect through the real handler (DynamoDB Local,
// the local STS), the verifier and the authorizer against the stand-in TVM, the events function's stream filter and the
// enforcer's events. Tests under "FINDING" fail while the weakness they demonstrate is there; the others confirm claims.
import * as fs from 'fs';
import * as path from 'path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { instrumentedDynamoClient } from './support/dynamodb-local';
import { startIntrospectionTvm, TVM_REGION, type IntrospectionTvm } from './support/introspection-tvm';
import { startLocalSts } from './support/local-sts';
import { eventSourceFilter, openTableStream, type TableStream } from './support/streams';
import { newApp, removeOutdirs } from './support/synth';
import { ACCOUNT, ADMIN, ALICE, AUDIENCE, BOB, createFixture, event, proven, ROLE_ARNS, stsClient, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import { IdentityVerifier } from '../lambda/auth/proof';
import { identityProof } from '../lambda/auth/sign';
import { authorize } from '../lambda/authorizer.lambda';
import { ConfigError } from '../lambda/config/document';
import { writeConfig } from '../lambda/config/provider';
import { createEnforcer } from '../lambda/enforcer/enforce';
import { sessionChange } from '../lambda/events/entries';
import { eventPublisher } from '../lambda/events/publish';
import { createHandler, type TvmEvent } from '../lambda/handler';
import type { DecisionLog } from '../lambda/observability';
import { readSettings, type Settings } from '../lambda/settings';
import { SessionVerifier } from '../lambda/verifier';
import { SentinelSessionAuthorizer, SentinelTvm } from '../src';
import { Env, IdentityProof, revokedSessionsPolicyName, SESSION_HEADER } from '../src/shared/contract';

type Sts = Awaited<ReturnType<typeof startLocalSts>>;

// In the future, so that DynamoDB Local's TTL deletion (which runs on real time) leaves the items alone.
const T0 = new Date('2036-01-25T14:30:00.000Z');
const READONLY_ROLE = `arn:aws:iam::${ACCOUNT}:role/protected/tvm-test-ReadOnly`;
/** The fixture's `deploy` role: a plain iam.Role that trusts the account root (the TVM's statements are added to it). */
const DEPLOY_ROLE = ROLE_ARNS.Deploy;
const CHAIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/tvm-test-Chained`;
const ORDERS = `arn:aws:sts::${ACCOUNT}:assumed-role/OrdersService/orders-task-1`;
const ORDERS_AUDIENCE = 'orders.example.com';
const FORM = 'application/x-www-form-urlencoded';
const sessionArn = (role: string, name: string, account = ACCOUNT, partition = 'aws') =>
  `arn:${partition}:sts::${account}:assumed-role/${role}/${name}`;

let fx: Fixture;
let sts: Sts;
let settings: Settings;
let clock: Date;
let logs: DecisionLog[];
let requests: string[];
let failGetItem: boolean;
let ddb: DynamoDBClient;
let handle: (e: TvmEvent) => Promise<any>;
let stream: TableStream;
let stub: IntrospectionTvm;
let eb: LocalEventBridge;
let delivered: DeliveredEvent[];

const body = (res: any) => JSON.parse(res.body);

/** A client of the shared DynamoDB Local that counts its requests and, on demand, fails GetItem of the session table. */
const instrumentedClient = () => instrumentedDynamoClient({
  tableName: () => fx.tableName, record: (command) => requests.push(command), failGetItem: () => failGetItem,
});

/** One container of the real handler; events get the proof of their authorizer's principal unless they carry one. */
function newHandler(): (e: TvmEvent) => Promise<any> {
  const verifier = new IdentityVerifier({ audiences: settings.audiences, region: settings.region, endpoint: sts.endpoint, now: () => clock });
  const h = createHandler({ settings, ddb, sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), verifier });
  return async (e) => {
    const carries = Object.keys(e.headers ?? {}).some((k) => k.toLowerCase() === IdentityProof.HEADER);
    return h(carries || !e.requestContext.authorizer ? e : await proven(sts, e, clock));
  };
}

async function introspect(fields: Record<string, string>, userArn = ORDERS) {
  requests = [];
  const res = await handle(event({
    method: 'POST', path: '/introspect', userArn, headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString(),
  }));
  return { res, answer: body(res), reads: requests.length, requests: [...requests] };
}

async function vendSession(profile: 'readonly' | 'deploy', userArn = profile === 'deploy' ? BOB : ALICE) {
  const res = await handle(event({ userArn, query: { profile } }));
  expect(res.statusCode).toBe(200);
  const call = sts.calls[sts.calls.length - 1];
  return { id: body(res).SessionId as string, arn: sessionArn(call.roleArn.split('/').pop()!, call.roleSessionName) };
}

const asAdmin = (method: string, p: string, b?: object) =>
  handle(event({ method, path: p, userArn: ADMIN, body: b ? JSON.stringify(b) : undefined, headers: { 'content-type': 'application/json' } }));
const proofOf = (arn: string, audience = ORDERS_AUDIENCE, at = clock) => identityProof(sts.principal(arn), 'us-east-1', audience, at);
/** A proof whose headers a test rewrites (signature left as it was: STS refuses it if a signed value changed). */
const rewritten = (proof: string, change: (h: Record<string, string>) => void) => {
  const doc = JSON.parse(Buffer.from(proof, 'base64').toString());
  change(doc.headers);
  return Buffer.from(JSON.stringify(doc)).toString('base64');
};

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
  const digest = await writeConfig(fx.ddb, fx.controlTableName, {
    AdminPrincipals: [ADMIN],
    IntrospectionPrincipals: [`arn:aws:iam::${ACCOUNT}:role/OrdersService`],
    Profiles: [
      { name: 'readonly', roleArn: READONLY_ROLE, allowedPrincipals: [ALICE], maxDurationSeconds: 3600, chainRoleArns: [CHAIN_ROLE] },
      // A plain iam.Role: the construct marks its profile openTrust (events-construct.test.ts checks it).
      { name: 'deploy', roleArn: DEPLOY_ROLE, allowedPrincipals: [BOB], maxDurationSeconds: 1800, openTrust: true },
    ],
  }, 'redteam-introspect');
  settings = readSettings({ ...fx.env, [Env.CONFIG_DIGEST]: digest });
  stream = await openTableStream(fx.ddb, fx.tableName);
  stub = await startIntrospectionTvm(sts, () => clock, ORDERS_AUDIENCE);
  eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: (e) => delivered.push(e) });
});
afterAll(async () => {
  stream?.close();
  removeOutdirs();
  await Promise.all([sts?.stop(), stub?.stop(), eb?.stop()]);
});
beforeEach(async () => {
  clock = T0;
  logs = [];
  requests = [];
  delivered = [];
  failGetItem = false;
  ddb = instrumentedClient();
  handle = newHandler();
  // Warm: the configuration is read once per container; the tests below count only their own requests.
  expect((await handle(event({ path: '/profiles', userArn: ORDERS }))).statusCode).toBe(200);
  stub.calls.length = 0;
  stub.refusals.length = 0;
  stub.sessions.clear();
  stub.override = undefined;
  stub.gate = undefined;
  stub.storeDown = false;
});

describe('red team, fixed: introspection', () => {
  test('GIVEN a profile role that trusts others than the TVM WHEN a tvm-<live id>-… session name the TVM never gave is '
    + 'introspected THEN it is inactive', async () => {
    // The fixture's deploy role is a plain iam.Role assumable by the account root: anyone in the account allowed
    // sts:AssumeRole on it picks the RoleSessionName (synth only warns, cdk-sentinel-tvm:roleTrustsOthers).
    const deployRole = Object.entries<any>(fx.template.Resources).find(([k, r]) => r.Type === 'AWS::IAM::Role' && k.startsWith('Deploy'))![1];
    const foreign = deployRole.Properties.AssumeRolePolicyDocument.Statement.filter((s: any) => !String(s.Sid ?? '').startsWith('SentinelTvm'));
    expect(foreign).toHaveLength(1);
    expect(foreign[0].Condition).toBeUndefined();
    const bob = await vendSession('deploy');
    // Session ids are no secret: CloudTrail, Session Started events and relying parties' logs carry them.
    const impostor = sessionArn('tvm-test-Deploy', `tvm-${bob.id}-impostor`);
    expect(impostor).not.toBe(bob.arn);

    const { answer } = await introspect({ token: await proofOf(impostor), audience: ORDERS_AUDIENCE });

    // Before the fix: {active: true, sub: bob, username: 'bob', profile: 'deploy', …}: the impostor is bob to every relying party.
    expect(answer).toEqual({ active: false });
  });

  test('GIVEN a new container WHEN it answers introspections THEN it reads its configuration once, and each introspection one session '
    + '(README, docs)', async () => {
    const { arn } = await vendSession('readonly');
    handle = newHandler();
    const first = await introspect({ token: arn });
    expect(first.answer.active).toBe(true);
    // The configuration (manifest, chunks) once per container, then the session's GetItem: what the README says.
    expect(first.requests).toEqual(['GetItemCommand', 'BatchGetItemCommand', 'GetItemCommand']);
    const second = await introspect({ token: arn });
    expect(second.requests).toEqual(['GetItemCommand']);
  });
});

describe('red team, fixed: the verifier and the authorizer', () => {
  const verifierWith = (o: Partial<ConstructorParameters<typeof SessionVerifier>[0]> = {}) => new SessionVerifier({
    tvmUrl: stub.url,
    region: TVM_REGION,
    audience: ORDERS_AUDIENCE,
    credentials: stub.principal(`arn:aws:iam::${ACCOUNT}:role/orders-api`),
    now: () => clock,
    ...o,
  });

  test('GIVEN a header anyone can send to the downstream API WHEN it is not a usable proof THEN the verifier answers inactive '
    + 'without asking the TVM', async () => {
    const verifier = verifierWith();
    const live = sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-req12345');
    const junk = [
      // What the authorizer lets through (base64 characters, under the length limit): a fresh one for every request.
      Buffer.from(`junk-${Math.random()}`).toString('base64').replace(/=+$/, ''),
      await identityProof(stub.principal(live), TVM_REGION, 'billing.example.com', clock),
      await identityProof(stub.principal(live), TVM_REGION, ORDERS_AUDIENCE, new Date(T0.getTime() - 600_000)),
    ];
    for (const proof of junk) expect((await verifier.checkIdentityProof(proof)).active).toBe(false);
    // Before the fix: one TVM request (a Lambda invocation, an STS call for a well-formed one) per distinct header, on the one
    // POST /introspect route every relying party shares.
    expect(stub.calls).toHaveLength(0);
  });

  test('GIVEN an active answer cached for longer than the session has left WHEN the session has ended THEN the cache is not used',
    async () => {
      const id = '0123456789abcdef';
      const arn = sessionArn('tvm-test-ReadOnly', `tvm-${id}-req12345`);
      stub.sessions.set(id, { exp: T0.getTime() / 1000 + 5, role_arn: READONLY_ROLE, profile: 'readonly', username: 'alice' });
      const verifier = verifierWith({ activeCacheSeconds: 300 });
      expect((await verifier.checkPrincipalArn(arn)).active).toBe(true);
      // Past its end the TVM answers inactive.
      stub.sessions.delete(id);
      clock = new Date(T0.getTime() + 10_000);
      // Before the fix: active, from the cache, for up to activeCacheSeconds after `exp`.
      expect((await verifier.checkPrincipalArn(arn)).active).toBe(false);
    });
});

describe('red team, fixed: the construct', () => {
  const mappingOfEvents = () => Object.values<any>(fx.template.Resources)
    .find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && String(r.Properties.FunctionName.Ref).startsWith('TvmEventsFunction')).Properties;

  test('GIVEN the events function\'s stream WHEN an event cannot be put THEN its record is not dropped before 6 hours (README)', () => {
    const mapping = mappingOfEvents();
    expect(mapping.MaximumRecordAgeInSeconds).toBe(6 * 3600);
    // Before the fix: 10 retries (seconds apart), then the record is dropped, with no on-failure destination.
    const unbounded = mapping.MaximumRetryAttempts === -1 || mapping.MaximumRetryAttempts === undefined;
    expect(unbounded || mapping.DestinationConfig?.OnFailure !== undefined).toBe(true);
  });

  test('GIVEN POST /introspect THEN it has a throttle bucket of its own, apart from vending', () => {
    const stage = Object.values<any>(fx.template.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage').Properties;
    expect(Object.keys(stage.RouteSettings ?? {})).toContain('POST /introspect');
  });

  test('GIVEN a SentinelSessionAuthorizer of an imported TVM THEN synth says the TVM\'s stack must name its role', () => {
    const stack = new Stack(newApp(), 'Downstream', { env: { account: ACCOUNT, region: 'us-east-1' } });
    const tvm = SentinelTvm.fromSentinelTvmAttributes(stack, 'Tvm', {
      url: 'https://api123.execute-api.us-east-1.amazonaws.com/',
      apiId: 'api123',
      tvmName: 'tvm',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/tvm/tvm-vend-us-east-1`,
    });
    new SentinelSessionAuthorizer(stack, 'Sessions', { tvm, audience: ORDERS_AUDIENCE });
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.anyValue()).map((w: any) => JSON.stringify(w.entry.data));
    // Before the fix: no warning; every request is then denied (403 POLICY_DENY from the TVM) until someone finds out why.
    expect(warnings.some((w) => /introspectionPrincipals/.test(w))).toBe(true);
  });
});

describe('red team, fixed: session events', () => {
  test('GIVEN an ended session whose credentials live WHEN an administrator revokes it THEN the events function gets the record',
    async () => {
      const { id } = await vendSession('readonly');
      expect((await handle(event({ method: 'DELETE', path: `/sessions/${id}`, userArn: ALICE }))).statusCode).toBe(200);
      await stream.skip();
      expect((await asAdmin('POST', `/sessions/${id}/revoke`, { reason: 'laptop stolen' })).statusCode).toBe(200);
      const [record] = (await stream.read()).filter((r) => r.dynamodb?.Keys?.id?.S === id);
      expect(record.dynamodb?.OldImage?.status?.S).toBe('expired');
      // The function means to emit it (README: "Session Revoked … it was revoked (also by a principal block …)") …
      expect(sessionChange(record as any, { tvmName: 'x' })).toMatchObject({ kind: 'event', detailType: 'Session Revoked' });
      // … but its event source mapping only lets active → revoked through: Lambda never invokes it for this one.
      expect(eventSourceFilter(mappingOfEventsFilters())(record)).toBe(true);
    });

  test('GIVEN revoked sessions WHEN an enforcer run fails before any role (its configuration refused) THEN no event names a role, '
    + 'and EnforcementFailures counts Role ALL, whose alarm fires (README: Session events)', async () => {
    const counted: string[] = [];
    const { id } = await vendSession('readonly');
    expect((await asAdmin('POST', `/sessions/${id}/revoke`, { reason: 'x' })).statusCode).toBe(200);
    const client = new EventBridgeClient({
      region: 'us-east-1',
      endpoint: eb.endpoint,
      credentials: { accessKeyId: 'AKIDRT', secretAccessKey: 's' },
      maxAttempts: 1,
    });
    const run = createEnforcer({
      tableName: fx.tableName,
      ddb: fx.ddb,
      iam: new IAMClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'AKIDRT', secretAccessKey: 's' } }),
      policyName: revokedSessionsPolicyName('test', 'us-east-1'),
      account: ACCOUNT,
      // What a rewritten configuration item does to every run (README "A rewritten configuration authorizes nothing").
      loadConfig: async () => { throw new ConfigError('config item digest 00 is not the deployed ff'); },
      events: { target: { tvmName: 'fixture-tvm' }, publish: eventPublisher({ client, sleep: async () => undefined }) },
      metrics: (roles: string[]) => { counted.push(...roles); },
    } as any);
    try {
      await expect(run({ 'source': 'aws.events', 'detail-type': 'Scheduled Event' })).rejects.toThrow(ConfigError);
    } finally {
      client.destroy();
    }
    // No role is known to name: the metric (Role ALL) and EnforcementFailuresAlarm say so, not an event.
    expect(delivered.map((e) => e['detail-type'])).not.toContain('Revocation Enforcement Failed');
    expect(counted).toEqual(['ALL']);
  });

  function mappingOfEventsFilters(): { Pattern: string }[] {
    return Object.values<any>(fx.template.Resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping'
      && String(r.Properties.FunctionName.Ref).startsWith('TvmEventsFunction')).Properties.FilterCriteria.Filters;
  }
});

describe('CONFIRMED: only a live session of a profile\'s own role is active', () => {
  test.each([
    ['another partition', () => sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-req', ACCOUNT, 'aws-us-gov')],
    ['an upper-case partition', () => sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-req', ACCOUNT, 'AWS')],
    ['the role name in another case', () => sessionArn('tvm-test-readonly', 'tvm-0123456789abcdef-req')],
    ['the role\'s path in the ARN', () => sessionArn('protected/tvm-test-ReadOnly', 'tvm-0123456789abcdef-req')],
    ['full-width digits in the id', () => sessionArn('tvm-test-ReadOnly', 'tvm-０１２３４５６７８９abcdef-req')],
    ['a Cyrillic т in tvm-', () => sessionArn('tvm-test-ReadOnly', '\u0442vm-0123456789abcdef-req')],
    ['a trailing newline', () => `${sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-req')}\n`],
    ['a 65-character session name', () => sessionArn('tvm-test-ReadOnly', `tvm-0123456789abcdef-${'x'.repeat(44)}`)],
    ['a chain target\'s session', () => sessionArn('tvm-test-Chained', 'tvm-0123456789abcdef-req')],
    ['a federated user named like a session', () => `arn:aws:sts::${ACCOUNT}:federated-user/tvm-0123456789abcdef-req`],
  ])('WHEN the ARN has %s THEN it is inactive without a read, even when the store fails open', async (_what, arn) => {
    failGetItem = true;
    const { res, answer, reads } = await introspect({ token: arn(), token_type_hint: 'principal_arn', on_store_failure: 'fail_open' });
    expect([res.statusCode, answer, reads]).toEqual([200, { active: false }, 0]);
  });

  test('GIVEN a live session WHEN its name is exactly 64 characters THEN one read answers it, as for a shorter name', async () => {
    const { id } = await vendSession('readonly');
    const name = `tvm-${id}-${'x'.repeat(43)}`;
    expect(name).toHaveLength(64);
    const { answer, reads } = await introspect({ token: sessionArn('tvm-test-ReadOnly', name) });
    expect([answer.active, answer.jti, reads]).toEqual([true, id, 1]);
  });

  test('GIVEN a session revoked, ended, past its end or a tombstone THEN the answer is {"active":false} and nothing else', async () => {
    const revoked = await vendSession('readonly');
    expect((await asAdmin('POST', `/sessions/${revoked.id}/revoke`, { reason: 'x' })).statusCode).toBe(200);
    const ended = await vendSession('readonly');
    expect((await handle(event({ method: 'DELETE', path: `/sessions/${ended.id}`, userArn: ALICE }))).statusCode).toBe(200);
    const tombstone = 'feedfacecafebeef';
    expect((await asAdmin('POST', `/sessions/${tombstone}/revoke`, { reason: 'unrecorded', profile: 'readonly' })).statusCode).toBe(200);
    const lapsed = await vendSession('readonly');
    for (const arn of [revoked.arn, ended.arn, sessionArn('tvm-test-ReadOnly', `tvm-${tombstone}-req`)]) {
      const { res } = await introspect({ token: arn });
      expect(res.body).toBe('{"active":false}');
    }
    clock = new Date(Date.parse((await fx.item(lapsed.id))!.expires_at));
    expect((await introspect({ token: lapsed.arn })).res.body).toBe('{"active":false}');
  });

  test('GIVEN the relying party\'s own proof as the token THEN it is inactive', async () => {
    const { answer } = await introspect({ token: await proofOf(ORDERS), audience: ORDERS_AUDIENCE });
    expect(answer).toEqual({ active: false });
  });
});

describe('CONFIRMED: proofs are bound to their audience and their age', () => {
  test('GIVEN a proof verified for orders (in the container\'s cache) WHEN billing or the TVM\'s own check gets it THEN it is refused',
    async () => {
      const { id, arn } = await vendSession('readonly');
      const proof = await proofOf(arn);
      expect((await introspect({ token: proof, audience: ORDERS_AUDIENCE })).answer).toMatchObject({ active: true, jti: id });

      expect((await introspect({ token: proof, audience: 'billing.example.com' }))).toMatchObject({ answer: { active: false }, reads: 0 });
      // The caller's own proof to the TVM: through API Gateway (signer mismatch) and by direct invocation (wrong audience).
      for (const userArn of [arn, null]) {
        const res = await handle(event({ path: '/profiles', userArn, headers: { [IdentityProof.HEADER]: proof } }));
        expect([res.statusCode, body(res).Code]).toEqual([403, 'IAM_AUTH_REQUIRED']);
      }
    });

  test('GIVEN a proof made for the TVM WHEN presented for the TVM\'s host with a port, a trailing dot or in capitals THEN inactive',
    async () => {
      const { arn } = await vendSession('readonly');
      const forTvm = await proofOf(arn, AUDIENCE);
      for (const audience of [AUDIENCE, AUDIENCE.toUpperCase(), `${AUDIENCE}:443`, `${AUDIENCE}.`]) {
        expect((await introspect({ token: forTvm, audience })).answer).toEqual({ active: false });
      }
      // Nor does a variant of the TVM's host, signed as such, pass as a proof made for the TVM.
      const variant = await proofOf(arn, `${AUDIENCE}:443`);
      const res = await handle(event({ path: '/profiles', userArn: arn, headers: { [IdentityProof.HEADER]: variant } }));
      expect(res.statusCode).toBe(403);
    });

  test('GIVEN a proof with an extra header, padded audience or another host THEN inactive, and STS is not asked', async () => {
    const { arn } = await vendSession('readonly');
    const proof = await proofOf(arn);
    const before = sts.identityCalls.length;
    const variants = [
      rewritten(proof, (h) => { h['x-forwarded-for'] = '10.0.0.1'; }),
      rewritten(proof, (h) => { h[IdentityProof.AUDIENCE_HEADER] = ` ${ORDERS_AUDIENCE}`; }),
      rewritten(proof, (h) => { h.host = 'sts.amazonaws.com'; }),
      rewritten(proof, (h) => { h.Host = h.host; }),
    ];
    for (const token of variants) expect((await introspect({ token, audience: ORDERS_AUDIENCE })).answer).toEqual({ active: false });
    expect(sts.identityCalls.length).toBe(before);
  });

  test('GIVEN a proof the container verified WHEN it is over 5 minutes old THEN it is inactive, cache or not', async () => {
    const { arn } = await vendSession('readonly');
    const proof = await proofOf(arn);
    expect((await introspect({ token: proof, audience: ORDERS_AUDIENCE })).answer.active).toBe(true);
    clock = new Date(T0.getTime() + 301_000);
    expect((await introspect({ token: proof, audience: ORDERS_AUDIENCE })).answer).toEqual({ active: false });
  });
});

describe('CONFIRMED: who may ask, and what leaks', () => {
  test('GIVEN a direct invocation WHEN the authorizer context names the relying party but the proof is Bob\'s THEN 403', async () => {
    const forged = event({ method: 'POST', path: '/introspect', userArn: ORDERS, headers: { 'content-type': FORM }, body: 'token=x' });
    const withBobsProof = { ...forged, headers: { ...forged.headers, [IdentityProof.HEADER]: await proofOf(BOB, AUDIENCE) } };
    const res = await handle(withBobsProof);
    expect([res.statusCode, body(res).Code]).toEqual([403, 'IAM_AUTH_REQUIRED']);
    // Without a context, Bob acts as Bob: not a relying party.
    const asBob = await handle({ ...withBobsProof, requestContext: { ...withBobsProof.requestContext, authorizer: undefined } } as any);
    expect([asBob.statusCode, body(asBob).Code]).toEqual([403, 'POLICY_DENY']);
  });

  test('GIVEN refused, active and inactive introspections THEN no log line or error holds a token, a proof or a signature', async () => {
    const { arn } = await vendSession('readonly');
    const proof = await proofOf(arn);
    const bad = rewritten(proof, (h) => { h.authorization = h.authorization.replace(/.$/, (c) => (c === '0' ? '1' : '0')); });
    logs = [];
    const answers = [
      await introspect({ token: proof, audience: ORDERS_AUDIENCE }),
      await introspect({ token: bad, audience: ORDERS_AUDIENCE }),
      await introspect({ token: arn }),
      await introspect({ token: proof, audience: ORDERS_AUDIENCE }, BOB),
    ];
    expect(answers.map((a) => a.res.statusCode)).toEqual([200, 200, 200, 403]);
    const text = JSON.stringify(logs) + answers.map((a) => a.res.body).join('');
    const signature = /Signature=([0-9a-f]{64})/.exec(JSON.parse(Buffer.from(proof, 'base64').toString()).headers.authorization)![1];
    for (const secret of [proof.slice(0, 40), signature, 'Signature=']) expect(text).not.toContain(secret);
    // The token (an ARN's session name) is in the answer's principal_arn, never in the log.
    expect(JSON.stringify(logs)).not.toContain(arn.split('/').pop()!);
  });
});

describe('CONFIRMED: the verifier and the authorizer deny on anything but an active answer', () => {
  const rp = () => new SessionVerifier({
    tvmUrl: stub.url,
    region: TVM_REGION,
    audience: ORDERS_AUDIENCE,
    credentials: stub.principal(`arn:aws:iam::${ACCOUNT}:role/orders-rt`),
    now: () => clock,
    timeoutMs: 300,
  });
  const authorizerEvent = (proof: string) => ({ headers: { [IdentityProof.HEADER]: proof }, requestContext: { requestId: 'r1' } }) as any;

  test('GIVEN concurrent checks of two callers WHEN one is live and one is not THEN each gets its own answer', async () => {
    stub.sessions.set('0123456789abcdef', { username: 'alice' });
    let open!: () => void;
    stub.gate = new Promise((r) => { open = r; });
    const live = await identityProof(stub.principal(sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-a')), TVM_REGION, ORDERS_AUDIENCE, clock);
    const dead = await identityProof(stub.principal(sessionArn('tvm-test-ReadOnly', 'tvm-fedcba9876543210-b')), TVM_REGION, ORDERS_AUDIENCE, clock);
    const verifier = rp();
    const checks = Promise.all([live, dead, live, dead].map((p) => verifier.checkIdentityProof(p)));
    await new Promise((r) => setTimeout(r, 50));
    open();
    expect((await checks).map((c) => [c.active, c.sessionId])).toEqual([
      [true, '0123456789abcdef'], [false, undefined], [true, '0123456789abcdef'], [false, undefined],
    ]);
  });

  test.each([
    ['a 500', { status: 500, body: { Code: 'INTERNAL_ERROR' } }],
    ['a 200 that is not JSON', { status: 200, body: 'active: true' }],
    ['an active answer without a session id', { status: 200, body: { active: true } }],
    ['store_unavailable to a fail_closed verifier', { status: 200, body: { active: true, jti: '0123456789abcdef', store_unavailable: true } }],
  ])('GIVEN %s THEN the authorizer denies', async (_what, override) => {
    stub.override = override;
    const proof = await identityProof(stub.principal(sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-c')), TVM_REGION, ORDERS_AUDIENCE, clock);
    expect(await authorize(rp(), authorizerEvent(proof), () => undefined)).toEqual({ isAuthorized: false });
  });

  test('GIVEN a TVM that does not answer THEN the authorizer denies within the timeout; an allow\'s context holds no proof', async () => {
    stub.gate = new Promise(() => undefined);
    const proof = await identityProof(stub.principal(sessionArn('tvm-test-ReadOnly', 'tvm-0123456789abcdef-d')), TVM_REGION, ORDERS_AUDIENCE, clock);
    const started = Date.now();
    expect(await authorize(rp(), authorizerEvent(proof), () => undefined)).toEqual({ isAuthorized: false });
    expect(Date.now() - started).toBeLessThan(2_000);
    stub.gate = undefined;
    stub.sessions.set('0123456789abcdef', { username: 'alice', profile: 'readonly' });
    const allowed = await authorize(rp(), authorizerEvent(proof), () => undefined);
    expect(allowed.isAuthorized).toBe(true);
    expect(JSON.stringify(allowed.context)).not.toContain(proof.slice(0, 20));
    // Any live session of any profile is admitted: the API's integration must check `profile` itself.
    expect(allowed.context).toMatchObject({ sessionId: '0123456789abcdef', profile: 'readonly' });
  });
});

describe('CONFIRMED: a vend makes no request for events', () => {
  test('the vending bundle holds no EventBridge client, and a continued vend is not a session event', async () => {
    const bundle = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');
    expect(fs.readFileSync(bundle, 'utf8')).not.toMatch(/PutEvents|eventbridge/i);
    const { id } = await vendSession('readonly');
    await stream.skip();
    const res = await handle(event({ userArn: ALICE, query: { profile: 'readonly' }, headers: { [SESSION_HEADER]: id } }));
    expect(res.statusCode).toBe(200);
    const records = (await stream.read()).filter((r) => r.dynamodb?.Keys?.id?.S === id);
    expect(records.length).toBeGreaterThan(0);
    expect(records.map((r) => sessionChange(r as any, { tvmName: 'x' }).kind)).toEqual(records.map(() => 'none'));
  });
});
