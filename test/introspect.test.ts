// POST /introspect: the real handler on DynamoDB Local and the local STS. A relying party asks whether the session behind
// a caller it saw is still valid, by the caller's assumed-role ARN or by an identity proof the caller made for it.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { instrumentedDynamoClient } from './support/dynamodb-local';
import { startLocalSts } from './support/local-sts';
import { ACCOUNT, ALICE, AUDIENCE, BOB, createFixture, event, proven, ROLE_ARNS, stsClient, type Fixture } from './support/tvm-fixture';
import { validateConfig } from '../cli/local/config';
import { identityProof } from '../cli/proof';
import { IdentityVerifier } from '../lambda/auth/proof';
import { manifestDocument, parseManifest } from '../lambda/config/document';
import { writeConfig } from '../lambda/config/provider';
import { createHandler, type TvmEvent } from '../lambda/handler';
import { callerFrom } from '../lambda/identity';
import { InactiveSessions } from '../lambda/introspect/introspect';
import type { DecisionLog } from '../lambda/observability';
import { powertoolsSink } from '../lambda/observability';
import { loadConfig } from '../lambda/profiles';
import { readSettings, type Settings } from '../lambda/settings';
import { ConfigResourceTypes, Env, Introspection, Metrics } from '../src/shared/contract';

type Sts = Awaited<ReturnType<typeof startLocalSts>>;

// In the future, so that DynamoDB Local's TTL deletion (which runs on real time) leaves the items alone.
const T0 = new Date('2036-01-25T14:30:00.000Z');
const FORM = 'application/x-www-form-urlencoded';
/** The profile `readonly`'s role has an IAM path: a session ARN carries none, and the comparison ignores it. */
const READONLY_ROLE = `arn:aws:iam::${ACCOUNT}:role/protected/tvm-test-ReadOnly`;
const CHAIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/tvm-test-Chained`;
/** A relying party (a service of the app, named in introspectionPrincipals by its role). */
const ORDERS = `arn:aws:sts::${ACCOUNT}:assumed-role/OrdersService/orders-task-1`;
const ADMIN_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/SecurityOps/ops`;
const ORDERS_AUDIENCE = 'orders.example.com';

let fx: Fixture;
let sts: Sts;
let settings: Settings;
let clock: Date;
let logs: DecisionLog[];
/** Every DynamoDB command the handler's client sent, by name. */
let requests: string[];
/** When set, GetItem of the session table fails as an unreachable store would. */
let failGetItem: boolean;
let ddb: DynamoDBClient;
let handle: (e: TvmEvent) => Promise<any>;

const body = (res: any) => JSON.parse(res.body);

/** A client of the shared DynamoDB Local that counts its requests and, on demand, fails GetItem of the session table. */
const instrumentedClient = () => instrumentedDynamoClient({
  tableName: () => fx.tableName, record: (command) => requests.push(command), failGetItem: () => failGetItem,
});

/** A handler as one container: its own configuration cache, proof cache and memory of inactive sessions. */
function newHandler(): (e: TvmEvent) => Promise<any> {
  const verifier = new IdentityVerifier({ audiences: settings.audiences, region: settings.region, endpoint: sts.endpoint, now: () => clock });
  const h = createHandler({ settings, ddb, sts: stsClient(sts.endpoint), now: () => clock, log: (l) => logs.push(l), verifier });
  return async (e) => h(await proven(sts, e, clock));
}

function introspectEvent(fields: Record<string, string>, o: { userArn?: string; json?: boolean; contentType?: string } = {}): TvmEvent {
  const json = o.json ?? false;
  return event({
    method: 'POST',
    path: '/introspect',
    userArn: o.userArn ?? ORDERS,
    headers: { 'content-type': o.contentType ?? (json ? 'application/json' : `${FORM}; charset=utf-8`) },
    body: json ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
  });
}

/** Introspects and returns the answer with the DynamoDB requests it cost. */
async function introspect(fields: Record<string, string>, o: Parameters<typeof introspectEvent>[1] = {}) {
  requests = [];
  const res = await handle(introspectEvent(fields, o));
  return { res, answer: body(res), reads: requests.length };
}

/** Loads the configuration into the container (once per container), so that what follows counts only its own requests. */
async function warm(): Promise<void> {
  expect((await handle(event({ path: '/profiles', userArn: ORDERS }))).statusCode).toBe(200);
}

/** Vends a session of `profile` for ALICE; returns its id and its assumed-role ARN as the local STS answered it. */
async function vendSession(profile = 'readonly'): Promise<{ id: string; arn: string }> {
  const res = await handle(event({ userArn: ALICE, query: { profile } }));
  expect(res.statusCode).toBe(200);
  const call = sts.calls[sts.calls.length - 1];
  // The local STS answers AssumeRole with arn:aws:sts::<account>:assumed-role/<role name>/<session name>, as STS does.
  const [, , , , account, resource] = call.roleArn.split(':');
  return { id: body(res).SessionId, arn: `arn:aws:sts::${account}:assumed-role/${resource.split('/').pop()}/${call.roleSessionName}` };
}

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
  // The deployed configuration, plus what the construct's grantIntrospect would add: relying parties, and a chain target.
  const digest = await writeConfig(fx.ddb, fx.controlTableName, {
    AdminPrincipals: [`arn:aws:iam::${ACCOUNT}:role/SecurityOps`],
    IntrospectionPrincipals: [`arn:aws:iam::${ACCOUNT}:role/OrdersService`],
    Profiles: [
      { name: 'readonly', roleArn: READONLY_ROLE, allowedPrincipals: [ALICE], maxDurationSeconds: 3600, chainRoleArns: [CHAIN_ROLE] },
      { name: 'deploy', roleArn: ROLE_ARNS.Deploy, allowedPrincipals: [ALICE, BOB], maxDurationSeconds: 1800 },
    ],
  }, 'introspect-test');
  settings = readSettings({ ...fx.env, [Env.CONFIG_DIGEST]: digest });
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(() => {
  clock = T0;
  logs = [];
  requests = [];
  failGetItem = false;
  sts.failIdentity(undefined);
  ddb = instrumentedClient();
  handle = newHandler();
});

describe('GIVEN a session the TVM vended, introspected by its assumed-role ARN', () => {
  test('THEN it is active with the session\'s facts, for one strongly consistent GetItem', async () => {
    const { id, arn } = await vendSession();
    const item = (await fx.item(id))!;

    const { res, answer, reads } = await introspect({ token: arn });

    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(answer).toEqual({
      active: true,
      jti: id,
      sub: ALICE,
      username: 'alice',
      profile: 'readonly',
      role_arn: READONLY_ROLE,
      principal_arn: arn,
      iat: T0.getTime() / 1000,
      exp: Date.parse(item.expires_at) / 1000,
      credentials_exp: Date.parse(item.credentials_expire_at) / 1000,
      token_type: 'principal_arn',
      iss: settings.tvmName,
    });
    expect(arn).toMatch(new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-${id}-`));
    expect(settings.tvmName).toBe(fx.env.POWERTOOLS_SERVICE_NAME);
    expect(reads).toBe(1);
    expect(requests).toEqual(['GetItemCommand']);
  });

  test('THEN a JSON body, with the type hint, gets the same answer', async () => {
    const { arn } = await vendSession();
    const form = (await introspect({ token: arn })).answer;

    const { answer, reads } = await introspect({ token: arn, token_type_hint: 'principal_arn' }, { json: true });

    expect(answer).toEqual(form);
    expect(reads).toBe(1);
  });

  test('THEN an administrator may introspect too', async () => {
    const { arn } = await vendSession();
    expect((await introspect({ token: arn }, { userArn: ADMIN_SESSION })).answer.active).toBe(true);
  });

  test('WHEN an administrator revoked it THEN it is inactive, and nothing more is said', async () => {
    const { id, arn } = await vendSession();
    const revoked = await handle(event({
      method: 'POST',
      path: `/sessions/${id}/revoke`,
      userArn: ADMIN_SESSION,
      body: JSON.stringify({ reason: 'leaked' }),
      headers: { 'content-type': 'application/json' },
    }));
    expect(revoked.statusCode).toBe(200);

    const { res, answer, reads } = await introspect({ token: arn });

    expect(res.statusCode).toBe(200);
    expect(answer).toEqual({ active: false });
    expect(reads).toBe(1);
  });

  test('WHEN its owner ended it (DELETE) THEN it is inactive', async () => {
    const { id, arn } = await vendSession();
    expect((await handle(event({ method: 'DELETE', path: `/sessions/${id}`, userArn: ALICE }))).statusCode).toBe(200);

    expect((await introspect({ token: arn })).answer).toEqual({ active: false });
  });

  test('WHEN its lifetime has passed THEN it is inactive, though its record still says active', async () => {
    const { id, arn } = await vendSession();
    expect((await introspect({ token: arn })).answer.active).toBe(true);
    const item = (await fx.item(id))!;

    clock = new Date(Date.parse(item.expires_at));

    expect((await introspect({ token: arn })).answer).toEqual({ active: false });
    expect((await fx.item(id))!.status).toBe('active');
  });

  test('WHEN the container found it inactive once THEN it answers inactive again without reading', async () => {
    const { id, arn } = await vendSession();
    await handle(event({ method: 'DELETE', path: `/sessions/${id}`, userArn: ALICE }));
    expect((await introspect({ token: arn })).reads).toBe(1);

    const again = await introspect({ token: arn });

    expect(again.answer).toEqual({ active: false });
    expect(again.reads).toBe(0);
  });
});

describe('GIVEN an ARN that is not a TVM session of a profile\'s own role', () => {
  beforeEach(warm);
  const sessionOf = (role: string, name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${name}`;

  test.each([
    ['a session name that is not the TVM\'s', sessionOf('tvm-test-ReadOnly', 'alice')],
    ['a TVM-like name with an id that is not 16 hex', sessionOf('tvm-test-ReadOnly', 'tvm-0123456789ABCDEF-req')],
    // Whoever may assume a chain target chooses its session name: it proves nothing about the TVM.
    ['a chain target\'s session', sessionOf('tvm-test-Chained', 'tvm-0123456789abcdef-req12345')],
    ['a role of no profile', sessionOf('SomeOtherRole', 'tvm-0123456789abcdef-req12345')],
    ['the profile\'s role in another account', 'arn:aws:sts::444455556666:assumed-role/tvm-test-ReadOnly/tvm-0123456789abcdef-req'],
    ['the role itself', READONLY_ROLE],
    ['an IAM user', ALICE],
    ['a malformed ARN', 'arn:aws:sts::1111:assumed-role/tvm-test-ReadOnly/tvm-0123456789abcdef-x'],
    ['a session name over 64 characters', sessionOf('tvm-test-ReadOnly', `tvm-0123456789abcdef-${'x'.repeat(44)}`)],
  ])('WHEN it is %s THEN it is inactive without any DynamoDB request', async (_what, token) => {
    const { res, answer, reads } = await introspect({ token });

    expect(res.statusCode).toBe(200);
    expect(answer).toEqual({ active: false });
    expect(reads).toBe(0);
  });

  test('WHEN a vended session\'s ARN names a chain target THEN it is inactive, though the id is a live session', async () => {
    const { id } = await vendSession();
    const { answer, reads } = await introspect({ token: sessionOf('tvm-test-Chained', `tvm-${id}-req12345`) });
    expect(answer).toEqual({ active: false });
    expect(reads).toBe(0);
  });

  test('WHEN the id is well formed but unknown THEN it is inactive, after the one read that says so', async () => {
    const { answer, reads } = await introspect({ token: sessionOf('tvm-test-ReadOnly', 'tvm-0123456789abcdef-req12345') });
    expect(answer).toEqual({ active: false });
    expect(reads).toBe(1);
  });

  test('WHEN the session is another profile\'s role than the ARN names THEN it is inactive', async () => {
    const { id } = await vendSession('deploy');
    const { answer, reads } = await introspect({ token: sessionOf('tvm-test-ReadOnly', `tvm-${id}-req12345`) });
    expect(answer).toEqual({ active: false });
    expect(reads).toBe(1);
  });
});

describe('GIVEN an identity proof the session\'s caller made for the relying party', () => {
  const proofOf = async (arn: string, audience: string) => identityProof(sts.principal(arn), 'us-east-1', audience, clock);

  test('THEN, for the relying party\'s audience, it is active with the audience, STS\'s ARN and one read', async () => {
    const { id, arn } = await vendSession();
    const proof = await proofOf(arn, ORDERS_AUDIENCE);

    const { answer, reads } = await introspect({ token: proof, audience: ORDERS_AUDIENCE });

    expect(answer).toMatchObject({ active: true, jti: id, principal_arn: arn, aud: ORDERS_AUDIENCE, token_type: 'identity_proof', sub: ALICE });
    expect(reads).toBe(1);
    expect(sts.identityCalls.some((c) => c.arn === arn && c.status === 200)).toBe(true);
  });

  test('THEN the audience compares without case', async () => {
    const { arn } = await vendSession();
    const proof = await proofOf(arn, ORDERS_AUDIENCE);
    const { answer } = await introspect({ token: proof, audience: 'Orders.Example.COM', token_type_hint: 'identity_proof' }, { json: true });
    expect(answer.active).toBe(true);
  });

  test('WHEN another relying party presents it (billing.example.com) THEN it is inactive, without reading the table', async () => {
    const { arn } = await vendSession();
    const proof = await proofOf(arn, ORDERS_AUDIENCE);

    const { answer, reads } = await introspect({ token: proof, audience: 'billing.example.com' });

    expect(answer).toEqual({ active: false });
    expect(reads).toBe(0);
  });

  test('WHEN the proof names the TVM itself THEN it is inactive, even for a relying party that claims that audience', async () => {
    const { arn } = await vendSession();
    const proof = await proofOf(arn, AUDIENCE);

    const { answer, reads } = await introspect({ token: proof, audience: AUDIENCE });

    expect(answer).toEqual({ active: false });
    expect(reads).toBe(0);
  });

  test('WHEN the proof is too old, malformed or refused by STS THEN it is inactive', async () => {
    const { arn } = await vendSession();
    const old = identityProof(sts.principal(arn), 'us-east-1', ORDERS_AUDIENCE, new Date(clock.getTime() - 301_000));
    // A signature STS refuses.
    const { headers } = JSON.parse(Buffer.from(await proofOf(arn, ORDERS_AUDIENCE), 'base64').toString());
    headers.authorization = headers.authorization.replace(/.$/, (c: string) => (c === '0' ? '1' : '0'));
    const forged = Buffer.from(JSON.stringify({ v: 1, headers })).toString('base64');

    for (const token of [await old, 'not-a-proof', forged]) {
      expect((await introspect({ token, audience: ORDERS_AUDIENCE })).answer).toEqual({ active: false });
    }
  });

  test('WHEN the session was revoked THEN its proof is inactive too', async () => {
    const { id, arn } = await vendSession();
    await handle(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn: ADMIN_SESSION, body: JSON.stringify({ reason: 'x' }) }));
    const { answer } = await introspect({ token: await proofOf(arn, ORDERS_AUDIENCE), audience: ORDERS_AUDIENCE });
    expect(answer).toEqual({ active: false });
  });

  test('fails with 502 CREDENTIAL_ERROR when STS cannot verify the proof', async () => {
    const { arn } = await vendSession();
    const proof = await proofOf(arn, ORDERS_AUDIENCE);
    // The relying party's own proof, signed at the same instant, is in the container's cache already.
    await introspect({ token: arn });
    sts.failIdentity({ code: 'InternalFailure', message: 'unavailable', status: 500 });

    const { res, reads } = await introspect({ token: proof, audience: ORDERS_AUDIENCE });

    expect(res.statusCode).toBe(502);
    expect(body(res).Code).toBe('CREDENTIAL_ERROR');
    expect(reads).toBe(0);
  });

  test('refuses a proof without an audience: 400 naming the field', async () => {
    const { arn } = await vendSession();
    const { res } = await introspect({ token: await proofOf(arn, ORDERS_AUDIENCE) });
    expect(res.statusCode).toBe(400);
    expect(body(res)).toMatchObject({ Code: 'INVALID_REQUEST', Message: expect.stringContaining('audience') });
  });
});

describe('GIVEN the session table fails on the read', () => {
  test('WHEN the relying party says nothing THEN it fails closed: 503 STORE_UNAVAILABLE', async () => {
    const { arn } = await vendSession();
    failGetItem = true;

    const { res } = await introspect({ token: arn });

    expect(res.statusCode).toBe(503);
    expect(body(res).Code).toBe('STORE_UNAVAILABLE');
    expect(logs[logs.length - 1]).toMatchObject({ storeFailure: true, code: 'STORE_UNAVAILABLE', tokenType: 'principal_arn' });
  });

  test('WHEN it asks to fail open THEN the session is active with store_unavailable and the id alone', async () => {
    const { id, arn } = await vendSession();
    failGetItem = true;

    const { res, answer } = await introspect({ token: arn, on_store_failure: 'fail_open' });

    expect(res.statusCode).toBe(200);
    expect(answer).toEqual({ active: true, jti: id, store_unavailable: true, token_type: 'principal_arn', iss: settings.tvmName });
    expect(logs[logs.length - 1]).toMatchObject({ level: 'WARN', decision: 'ALLOW', storeFailure: true, active: true, sessionId: id });
  });

  test('WHEN it asks to fail open for a session this container saw revoked THEN it stays inactive', async () => {
    const { id, arn } = await vendSession();
    await handle(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn: ADMIN_SESSION, body: JSON.stringify({ reason: 'x' }) }));
    expect((await introspect({ token: arn })).answer).toEqual({ active: false });
    failGetItem = true;

    const { answer, reads } = await introspect({ token: arn, on_store_failure: 'fail_open' });

    expect(answer).toEqual({ active: false });
    expect(reads).toBe(0);
    // Another container, which never saw it, fails open.
    handle = newHandler();
    expect((await introspect({ token: arn, on_store_failure: 'fail_open' })).answer).toMatchObject({ active: true, store_unavailable: true });
  });
});

describe('GIVEN a caller that is not a relying party', () => {
  test('refuses it: 403 POLICY_DENY, and reads no session', async () => {
    const { arn } = await vendSession();
    const { res, reads } = await introspect({ token: arn }, { userArn: BOB });
    expect(res.statusCode).toBe(403);
    expect(body(res)).toMatchObject({ Code: 'POLICY_DENY', Message: 'The caller is not a relying party of this TVM.' });
    expect(reads).toBe(0);
  });

  test('refuses a session the TVM vended, even of a relying party\'s pattern', async () => {
    const { arn } = await vendSession();
    const { res } = await introspect({ token: arn }, { userArn: arn });
    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe('POLICY_DENY');
  });
});

describe('GIVEN a request that is not as documented', () => {
  beforeEach(warm);
  const TOKEN = `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-0123456789abcdef-req12345`;
  const refused = async (e: TvmEvent, field: string) => {
    requests = [];
    const res = await handle(e);
    expect(res.statusCode).toBe(400);
    expect(body(res).Code).toBe('INVALID_REQUEST');
    expect(body(res).Message).toContain(field);
    expect(requests).toEqual([]);
  };
  const raw = (b: string, contentType = FORM, query?: Record<string, string>) =>
    event({ method: 'POST', path: '/introspect', userArn: ORDERS, headers: { 'Content-Type': contentType }, body: b, query });

  test('refuses another content type, or none', async () => {
    await refused(raw(`token=${TOKEN}`, 'text/plain'), 'content-type');
    await refused(event({ method: 'POST', path: '/introspect', userArn: ORDERS, body: `token=${TOKEN}` }), 'content-type');
  });

  test('refuses a body over the limit', async () => {
    await refused(raw(`token=${TOKEN}&audience=${'a'.repeat(Introspection.MAX_BODY_BYTES)}`), `${Introspection.MAX_BODY_BYTES}`);
  });

  test('refuses unknown and repeated fields, form and JSON alike', async () => {
    await refused(raw(`token=${TOKEN}&scope=all`), 'scope');
    await refused(raw(`token=${TOKEN}&token=${TOKEN}`), 'token');
    await refused(raw(JSON.stringify({ token: TOKEN, client_id: 'x' }), 'application/json'), 'client_id');
    await refused(raw(`{"token":"${TOKEN}", "token" : "${TOKEN}"}`, 'application/json'), 'token');
    await refused(raw(JSON.stringify({ token: TOKEN, on_store_failure: true }), 'application/json'), 'on_store_failure');
  });

  test('refuses a missing token, a bad hint, audience or failure mode, and query parameters', async () => {
    await refused(raw(''), 'token');
    await refused(raw(JSON.stringify({ token: '' }), 'application/json'), 'token');
    await refused(raw(`token=${TOKEN}&token_type_hint=access_token`), 'token_type_hint');
    await refused(raw(`token=${TOKEN}&audience=${encodeURIComponent('orders example')}`), 'audience');
    await refused(raw(`token=${TOKEN}&on_store_failure=maybe`), 'on_store_failure');
    await refused(raw(`token=${TOKEN}`, FORM, { token: TOKEN }), 'query');
    await refused(raw('[1,2]', 'application/json'), 'JSON object');
  });

  test('does not repeat a body sent as the wrong type in its message', async () => {
    const res = await handle(raw(JSON.stringify({ token: TOKEN })));
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain(TOKEN);
  });

  test('answers 405 for another method', async () => {
    const res = await handle(event({ method: 'GET', path: '/introspect', userArn: ORDERS }));
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });
});

describe('the decision log and metrics', () => {
  test('log the token type, the answer and the session id, never the token or the proof', async () => {
    const { id, arn } = await vendSession();
    const proof = await identityProof(sts.principal(arn), 'us-east-1', ORDERS_AUDIENCE, clock);
    logs = [];
    await introspect({ token: arn });
    await introspect({ token: proof, audience: ORDERS_AUDIENCE });

    expect(logs.map((l) => [l.path, l.decision, l.tokenType, l.active, l.sessionId])).toEqual([
      ['/introspect', 'ALLOW', 'principal_arn', true, id],
      ['/introspect', 'ALLOW', 'identity_proof', true, id],
    ]);
    const text = JSON.stringify(logs);
    expect(text).not.toContain(arn.split('/').pop());
    expect(text).not.toContain(proof.slice(0, 40));
  });

  test('count Introspections, in total and by Active', async () => {
    const out: string[] = [];
    const capture = (chunk: any) => {
      out.push(String(chunk));
      return true;
    };
    const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
    try {
      const sink = powertoolsSink();
      const verifier = new IdentityVerifier({ audiences: settings.audiences, region: settings.region, endpoint: sts.endpoint, now: () => clock });
      const h = createHandler({ settings, ddb, sts: stsClient(sts.endpoint), now: () => clock, log: sink, verifier });
      const { arn } = await vendSession();
      await h(await proven(sts, introspectEvent({ token: arn }), clock));
      await h(await proven(sts, introspectEvent({ token: ALICE }), clock));
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    const json = (l: string) => {
      try {
        return JSON.parse(l);
      } catch {
        return {};
      }
    };
    const emf = out.join('').split('\n').map(json).filter((l) => l._aws);
    const counted = (d: any) => d.Metrics.some((x: any) => x.Name === Metrics.INTROSPECTIONS);
    const introspections = emf.flatMap((m) => m._aws.CloudWatchMetrics.filter(counted)
      .map((d: any) => [d.Dimensions[0].includes(Metrics.ACTIVE_DIMENSION) ? String(m[Metrics.ACTIVE_DIMENSION]) : 'total', m.Introspections]));
    expect(introspections.sort()).toEqual([['false', 1], ['total', 1], ['total', 1], ['true', 1]].sort());
  });
});

describe('the configuration of relying parties', () => {
  const chunks = ['a'.repeat(64)];

  test('GIVEN none THEN the manifest is the one without them: existing digests stay the same', () => {
    const without = manifestDocument({ adminPrincipals: ['arn:aws:iam::111122223333:role/SecurityOps'], chunks });
    expect(manifestDocument({ adminPrincipals: ['arn:aws:iam::111122223333:role/SecurityOps'], introspectionPrincipals: [], chunks }))
      .toBe(without);
    expect(without).not.toContain('introspection');
    // Nor does the construct pass the property.
    const manifest = Object.values<any>(fx.template.Resources).find((r) => r.Type === ConfigResourceTypes.MANIFEST);
    expect(manifest.Properties).not.toHaveProperty('IntrospectionPrincipals');
  });

  test('GIVEN some THEN the manifest lists them between administrators and chunks, and the runtime reads them', async () => {
    const doc = manifestDocument({ adminPrincipals: [], introspectionPrincipals: [`arn:aws:iam::${ACCOUNT}:role/OrdersService`], chunks });
    expect(Object.keys(JSON.parse(doc))).toEqual(['version', 'adminPrincipals', 'introspectionPrincipals', 'chunks']);
    expect(parseManifest(doc).introspectionPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:role/OrdersService`]);
    const config = await loadConfig(fx.ddb, fx.controlTableName, settings.configDigest);
    expect(config.isIntrospector(callerFrom({ userArn: ORDERS }))).toBe(true);
    expect(config.isIntrospector(callerFrom({ userArn: ADMIN_SESSION }))).toBe(true);
    expect(config.isIntrospector(callerFrom({ userArn: BOB }))).toBe(false);
  });

  test('local mode takes introspectionPrincipals, validated like adminPrincipals', () => {
    const base = {
      principals: { AKIDLOCALALICE: { secretAccessKey: 'local-secret-alice', arn: ALICE } },
      profiles: [{ name: 'readonly', roleArn: `arn:aws:iam::${ACCOUNT}:role/ReadOnly`, allowedPrincipals: [ALICE] }],
    };
    expect(validateConfig(base).introspectionPrincipals).toEqual([]);
    expect(validateConfig({ ...base, introspectionPrincipals: [`arn:aws:iam::${ACCOUNT}:role/OrdersService`] }).introspectionPrincipals)
      .toEqual([`arn:aws:iam::${ACCOUNT}:role/OrdersService`]);
    expect(() => validateConfig({ ...base, introspectionPrincipals: ['arn:aws:iam::*:role/*'] })).toThrow(/introspectionPrincipals\[0\]/);
    expect(() => validateConfig({ ...base, introspectionPrincipals: 'x' })).toThrow(/introspectionPrincipals/);
  });
});

test('the memory of inactive sessions is bounded, forgetting the oldest first', () => {
  const memory = new InactiveSessions(3);
  ['a', 'b', 'c', 'd'].forEach((id) => memory.add(id));
  expect(['a', 'b', 'c', 'd'].map((id) => memory.has(id))).toEqual([false, true, true, true]);
});
