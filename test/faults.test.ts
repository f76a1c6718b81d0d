// Slow and failing dependencies against the shipped bundle, with its real SDK clients and their real timeouts.
import * as path from 'path';
import { StoreFailureMode } from '../src';
import { startBundle, type BundleProcess } from './support/bundle-process';
import { startDelayProxy, type DelayProxy } from './support/delay-proxy';
import { endpoint } from './support/dynamodb-local';
import { startLocalSts } from './support/local-sts';
import { CREDENTIALS, createFixture, event, proven, type Fixture } from './support/tvm-fixture';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');
/** The function's timeout (src/sentinel-tvm.ts): every answer must come well before it. */
const FUNCTION_TIMEOUT_MS = 15_000;

let sts: Awaited<ReturnType<typeof startLocalSts>>;
/** An event as API Gateway would pass it, with the identity proof the client sends. */
const provenEvent = (o: Parameters<typeof event>[0]) => proven(sts, event(o));
let ddbProxy: DelayProxy;
const running: BundleProcess[] = [];

beforeAll(async () => {
  sts = await startLocalSts();
  ddbProxy = await startDelayProxy(endpoint());
});
afterEach(async () => {
  sts.fail(undefined);
  sts.delay(0);
  ddbProxy.delay(0);
  await Promise.all(running.splice(0).map((b) => b.stop()));
});
afterAll(async () => {
  await ddbProxy?.stop();
  await sts?.stop();
});

async function bundleFor(fx: Fixture): Promise<BundleProcess> {
  const b = await startBundle(BUNDLE, {
    ...fx.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: ddbProxy.endpoint,
    AWS_ENDPOINT_URL_STS: sts.endpoint,
  });
  running.push(b);
  // Warm: the profile configuration is read once per container.
  expect((await b.invoke(await provenEvent({ path: '/profiles' }))).statusCode).toBe(200);
  return b;
}

async function timed(b: BundleProcess, e: unknown): Promise<{ res: any; ms: number }> {
  const t = Date.now();
  const res = await b.invoke(e);
  return { res, ms: Date.now() - t };
}

describe('GIVEN STS misbehaving', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture();
  });

  test.each([
    ['AccessDenied', 403, 502, 'CREDENTIAL_ERROR'],
    ['RegionDisabledException', 403, 502, 'CREDENTIAL_ERROR'],
    ['ExpiredTokenException', 400, 502, 'CREDENTIAL_ERROR'],
    ['Throttling', 400, 429, 'RATE_LIMITED'],
  ])('%s answers the documented code, and the new session is ended, not left active', async (code, stsStatus, status, apiCode) => {
    const b = await bundleFor(fx);
    sts.fail({ code, message: `${code} from the test`, status: stsStatus });

    const { res } = await timed(b, await provenEvent({ query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body).Code).toBe(apiCode);
    const id = sts.calls[sts.calls.length - 1].tags[0].Value;
    const item = (await fx.items()).find((i) => i.id.S === id);
    expect(item?.status.S).toBe('expired');
  }, 30_000);

  test('a hanging STS is cut off by the client timeout: 502 well inside the function timeout', async () => {
    const b = await bundleFor(fx);
    sts.delay(20_000);

    const { res, ms } = await timed(b, await provenEvent({ query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(502);
    expect(JSON.parse(res.body).Code).toBe('CREDENTIAL_ERROR');
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS / 2);
  }, 40_000);
});

describe('GIVEN a hanging session table', () => {
  test('FAIL_CLOSED answers 503 within the timeouts and vends nothing', async () => {
    const fx = await createFixture({ storeFailureMode: StoreFailureMode.FAIL_CLOSED });
    const b = await bundleFor(fx);
    const before = sts.calls.length;
    ddbProxy.delay(20_000);

    const { res, ms } = await timed(b, await provenEvent({ query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body).Code).toBe('STORE_UNAVAILABLE');
    expect(sts.calls.length).toBe(before);
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS / 2);
  }, 40_000);

  test('FAIL_OPEN vends with the session tag within the timeouts', async () => {
    const fx = await createFixture();
    const b = await bundleFor(fx);
    ddbProxy.delay(20_000);

    const { res, ms } = await timed(b, await provenEvent({ query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body);
    expect(sts.calls[sts.calls.length - 1].tags).toEqual([{ Key: 'SentinelSessionID', Value: body.SessionId }]);
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS / 2);
  }, 40_000);
});
