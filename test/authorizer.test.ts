// The relying party's Lambda authorizer, as shipped (assets/lambda/authorizer.lambda/index.js), in a process of its own
// configured by its environment, against a stand-in TVM that checks every request as the real one does.
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { identityProof } from '../cli/proof';
import { startBundle, type BundleProcess } from './support/bundle-process';
import { startIntrospectionTvm, TVM_REGION, type IntrospectionTvm } from './support/introspection-tvm';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { AuthorizerEnv, IdentityProof } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'authorizer.lambda', 'index.js');
const ACCOUNT = '111122223333';
const AUDIENCE = 'orders.example.com';
const SESSION = '0123456789abcdef';
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-${SESSION}-req12345`;
const ENDED_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-fedcba9876543210-req12345`;
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly`;

let sts: LocalSts;
let tvm: IntrospectionTvm;
let authorizer: BundleProcess;
let env: Record<string, string>;
let requests = 0;

/** A payload 2.0 authorizer event for GET /orders, with the proof header when given. */
const eventWith = (proof?: string) => ({
  version: '2.0',
  type: 'REQUEST',
  routeArn: `arn:aws:execute-api:${TVM_REGION}:${ACCOUNT}:api123/$default/GET/orders`,
  identitySource: proof === undefined ? [] : [proof],
  routeKey: 'GET /orders',
  rawPath: '/orders',
  rawQueryString: '',
  headers: { host: AUDIENCE, ...(proof === undefined ? {} : { [IdentityProof.HEADER]: proof }) },
  requestContext: { requestId: `req-${++requests}`, http: { method: 'GET', path: '/orders' } },
});
/** The second the first proof is signed at; each later proof is signed one second earlier still. */
const FIRST_SIGNED = Math.floor(Date.now() / 1000) * 1000;
let signed = 0;
/**
 * A proof of its own each time: signing is deterministic to the second, and a proof another test made would be cached
 * already. The signing second counts down from a fixed start, so no two proofs share one however slowly tests run
 * (a second derived from the clock could meet an earlier test's); the oldest is a few dozen seconds old, far inside
 * the proof's five minutes.
 */
const proofOf = (arn: string, audience = AUDIENCE) =>
  identityProof(tvm.principal(arn), TVM_REGION, audience, new Date(FIRST_SIGNED - signed++ * 1000));
/** The decision line of the last request, once the authorizer's stdout has carried it over. */
async function lastDecision(p: BundleProcess = authorizer): Promise<any> {
  const requestId = `req-${requests}`;
  for (let waited = 0; waited < 2_000; waited += 5) {
    const line = p.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.requestId === requestId);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no decision line for ${requestId}`);
}

beforeAll(async () => {
  sts = await startLocalSts();
  tvm = await startIntrospectionTvm(sts, () => new Date(), AUDIENCE);
  const keys = tvm.principal(`arn:aws:sts::${ACCOUNT}:assumed-role/orders-authorizer/function`);
  env = {
    [AuthorizerEnv.TVM_URL]: tvm.url,
    [AuthorizerEnv.TVM_REGION]: TVM_REGION,
    [AuthorizerEnv.AUDIENCE]: AUDIENCE,
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
  };
  authorizer = await startBundle(BUNDLE, env);
});
afterAll(async () => {
  await authorizer?.stop();
  await tvm?.stop();
  await sts?.stop();
});
beforeEach(() => {
  tvm.calls.length = 0;
  tvm.sessions.clear();
  tvm.sessions.set(SESSION, { username: 'alice', profile: 'readonly', role_arn: ROLE_ARN, exp: Date.now() / 1000 + 3600 });
  tvm.storeDown = false;
});
afterEach(() => {
  expect(tvm.refusals).toEqual([]);
});

test('GIVEN a proof of a live session WHEN the authorizer runs THEN it allows, with the session in the context, and logs no proof',
  async () => {
    const proof = await proofOf(SESSION_ARN);
    const result = await authorizer.invoke(eventWith(proof));

    expect(result).toEqual({ isAuthorized: true, context: { sessionId: SESSION, user: 'alice', profile: 'readonly', roleArn: ROLE_ARN } });
    expect(await lastDecision()).toEqual({
      level: 'INFO', message: 'authorizer decision', requestId: `req-${requests}`, sessionId: SESSION, active: true, fromCache: false,
    });
    expect(tvm.calls).toHaveLength(1);
    expect(tvm.calls[0].fields).toMatchObject({ token: proof, audience: AUDIENCE, on_store_failure: 'fail_closed' });
    expect(authorizer.stdout()).not.toContain(proof.slice(0, 40));
  });

test('GIVEN the same proof again WHEN the authorizer runs THEN the cached answer allows without asking the TVM', async () => {
  const proof = await proofOf(SESSION_ARN);
  await authorizer.invoke(eventWith(proof));
  const again = await authorizer.invoke(eventWith(proof));

  expect(again.isAuthorized).toBe(true);
  expect(await lastDecision()).toMatchObject({ sessionId: SESSION, active: true, fromCache: true });
  expect(tvm.calls).toHaveLength(1);
});

test.each([
  // The TVM answers inactive.
  ['an ended session\'s proof', () => proofOf(ENDED_ARN), 1],
  // Refused before the TVM is asked: a proof that names another audience cannot be active here.
  ['a proof made for another service', () => proofOf(SESSION_ARN, 'billing.example.com'), 0],
])('GIVEN %s WHEN the authorizer runs THEN it denies', async (_case, make, asked) => {
  const result = await authorizer.invoke(eventWith(await make()));

  expect(result).toEqual({ isAuthorized: false });
  expect(await lastDecision()).toMatchObject({ active: false, fromCache: false });
  expect(tvm.calls).toHaveLength(asked);
});

test.each([
  ['no proof', undefined],
  ['a proof that is not base64', 'not a proof!'],
  ['a proof over 8,192 characters', 'A'.repeat(IdentityProof.MAX_LENGTH + 1)],
])('GIVEN %s WHEN the authorizer runs THEN it denies without asking the TVM', async (_case, proof) => {
  const result = await authorizer.invoke(eventWith(proof));

  expect(result).toEqual({ isAuthorized: false });
  expect(await lastDecision()).toMatchObject({ active: false, error: 'MISSING_PROOF' });
  expect(tvm.calls).toHaveLength(0);
});

test('GIVEN the TVM\'s store is down (fail_closed) WHEN the authorizer runs THEN it denies and logs STORE_UNAVAILABLE', async () => {
  tvm.storeDown = true;
  const result = await authorizer.invoke(eventWith(await proofOf(SESSION_ARN)));

  expect(result).toEqual({ isAuthorized: false });
  expect(await lastDecision()).toMatchObject({ level: 'WARN', active: false, error: 'STORE_UNAVAILABLE' });
});

test('GIVEN the TVM cannot be reached WHEN the authorizer runs THEN it denies and logs TVM_UNREACHABLE', async () => {
  // A port that was free a moment ago: nothing listens on it.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const down = await startBundle(BUNDLE, { ...env, [AuthorizerEnv.TVM_URL]: `http://127.0.0.1:${port}/` });
  try {
    const result = await down.invoke(eventWith(await proofOf(SESSION_ARN)));

    expect(result).toEqual({ isAuthorized: false });
    expect(await lastDecision(down)).toMatchObject({ level: 'WARN', active: false, fromCache: false, error: 'TVM_UNREACHABLE' });
  } finally {
    await down.stop();
  }
});

test('fails when its configuration is incomplete: the error names the missing variable', async () => {
  const { [AuthorizerEnv.AUDIENCE]: _omitted, ...partial } = env;
  const broken = await startBundle(BUNDLE, partial);
  try {
    await expect(broken.invoke(eventWith(await proofOf(SESSION_ARN)))).rejects.toThrow(/SENTINEL_AUDIENCE is not set/);
  } finally {
    await broken.stop();
  }
});

test('GIVEN allowed profiles WHEN a live session of another profile calls THEN the authorizer denies it, and admits one of theirs', async () => {
  const strict = await startBundle(BUNDLE, { ...env, [AuthorizerEnv.ALLOWED_PROFILES]: 'deploy, billing' });
  const lenient = await startBundle(BUNDLE, { ...env, [AuthorizerEnv.ALLOWED_PROFILES]: 'billing,readonly' });
  try {
    // The live session is of profile readonly.
    expect(await strict.invoke(eventWith(await proofOf(SESSION_ARN)))).toEqual({ isAuthorized: false });
    const decision = strict.stdout().trim().split('\n').map((l) => JSON.parse(l)).pop();
    expect(decision).toMatchObject({ active: true, error: 'PROFILE_NOT_ALLOWED', sessionId: SESSION });
    expect((await lenient.invoke(eventWith(await proofOf(SESSION_ARN)))).isAuthorized).toBe(true);
  } finally {
    await strict.stop();
    await lenient.stop();
  }
});
