// The shipped artifact itself: assets/lambda/vend.lambda/index.js, as Lambda would load it,
// configured only through the environment the construct synthesizes plus the standard SDK variables.
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { endpoint } from './support/dynamodb-local';
import { startLocalSts } from './support/local-sts';
import { CREDENTIALS, createFixture, event, ROLE_ARNS, type Fixture } from './support/tvm-fixture';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');

let fx: Fixture;
let sts: Awaited<ReturnType<typeof startLocalSts>>;
const saved = { ...process.env };

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  process.env = saved;
  await sts?.stop();
});

test('the bundle inlines its dependencies: no require of the AWS SDK or any other package at run time', () => {
  const code = fs.readFileSync(BUNDLE, 'utf8');
  const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
  const external = required.filter((m) => !m.startsWith('node:') && !NODE_BUILTINS.has(m.split('/')[0]) && !OPTIONAL.has(m));
  expect(external).toEqual([]);
});

test('the bundled handler vends through the real SDK clients, configured by the environment alone', async () => {
  process.env = {
    ...saved,
    ...fx.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
    AWS_ENDPOINT_URL_STS: sts.endpoint,
  };
  let handler: (e: unknown) => Promise<any> = async () => undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- load the artifact as Lambda does
    handler = require(BUNDLE).handler;
  });
  const logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);

  const first = await handler(event({ query: { profile: 'readonly' } }));
  const id = JSON.parse(first.body).SessionId;
  const second = await handler(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
  const denied = await handler(event({ query: { profile: 'deploy' } }));

  const logLines = logSpy.mock.calls.length;
  logSpy.mockRestore();
  expect(first.statusCode).toBe(200);
  expect(second.statusCode).toBe(200);
  expect(JSON.parse(denied.body).Code).toBe('POLICY_DENY');
  expect(sts.calls.map((c) => [c.roleArn, c.tags[0].Value])).toEqual([[ROLE_ARNS.ReadOnly, id], [ROLE_ARNS.ReadOnly, id]]);
  const items = await fx.items();
  expect(items.find((i) => i.id.S === id)?.request_count.N).toBe('2');
  expect(logLines).toBe(3);
});

const NODE_BUILTINS = new Set(builtinModules);
// Named only inside an SDK error message that tells users how to install the optional CRT signer.
const OPTIONAL = new Set(['@aws-sdk/signature-v4-crt']);
