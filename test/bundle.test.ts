// The shipped artifact itself: assets/lambda/vend.lambda/index.js, as Lambda would load it,
// configured only through the environment the construct synthesizes plus the standard SDK variables.
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { startBundle } from './support/bundle-process';
import { endpoint } from './support/dynamodb-local';
import { startLocalSts } from './support/local-sts';
import { CREDENTIALS, createFixture, event, proven, ROLE_ARNS, type Fixture } from './support/tvm-fixture';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');

let fx: Fixture;
let sts: Awaited<ReturnType<typeof startLocalSts>>;
/** An event as API Gateway would pass it, with the identity proof the client sends. */
const provenEvent = (o: Parameters<typeof event>[0]) => proven(sts, event(o));

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});

test('the bundle inlines its dependencies: no require of the AWS SDK or any other package at run time', () => {
  const code = fs.readFileSync(BUNDLE, 'utf8');
  const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
  const external = required.filter((m) => !m.startsWith('node:') && !NODE_BUILTINS.has(m.split('/')[0]) && !OPTIONAL.has(m));
  expect(external).toEqual([]);
});

// 300 KB until the trust-boundary work: the identity proof's verifier, the one-request transaction that also checks
// principal blocks, and the configuration digest added about 12 KB. 320 KB until gated access: activating a grant in the
// vend's one write, checking its seal and the access windows added about 23 KB. Everything else of gated access (requests,
// approvals, break-glass, and the IAM client that proves persons, about 120 KB) is in the access function's bundle.
test('the vending bundle stays within its 345 KB budget (minified, SDK included)', () => {
  expect(fs.statSync(BUNDLE).size).toBeLessThanOrEqual(345 * 1024);
});

test('the bundled handler vends through the real SDK clients, configured by the environment alone', async () => {
  // A separate Node.js process, with only the environment Lambda would give it.
  const bundle = await startBundle(BUNDLE, {
    ...fx.env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
    AWS_ENDPOINT_URL_STS: sts.endpoint,
  });
  try {
    const first = await bundle.invoke(await provenEvent({ query: { profile: 'readonly' } }));
    const id = JSON.parse(first.body).SessionId;
    const second = await bundle.invoke(await provenEvent({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    const denied = await bundle.invoke(await provenEvent({ query: { profile: 'deploy' } }));

    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(JSON.parse(denied.body).Code).toBe('POLICY_DENY');
    expect(sts.calls.map((c) => [c.roleArn, c.tags[0].Value])).toEqual([[ROLE_ARNS.ReadOnly, id], [ROLE_ARNS.ReadOnly, id]]);
    const items = await fx.items();
    expect(items.find((i) => i.id.S === id)?.request_count.N).toBe('2');

    // Powertools writes the decision lines and the EMF metrics to stdout.
    const lines = bundle.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const decisions = lines.filter((l) => l.message === 'decision');
    const emf = lines.filter((l) => l._aws);
    expect(decisions.map((d) => [d.level, d.decision, d.code])).toEqual([
      ['INFO', 'ALLOW', undefined], ['INFO', 'ALLOW', undefined], ['INFO', 'DENY', 'POLICY_DENY'],
    ]);
    expect(decisions[0]).toMatchObject({ service: fx.env.POWERTOOLS_SERVICE_NAME, correlation_id: expect.any(String), sessionId: id });
    // EMF: two vends, one denial (total and by code), in the SentinelTvm namespace with the service dimension.
    const dimensionsOf = (name: string) => emf.filter((m) => name in m).map((m) => m._aws.CloudWatchMetrics[0].Dimensions);
    expect(dimensionsOf('Vends')).toHaveLength(2);
    expect(dimensionsOf('Denials').map((d) => d[0].join(',')).sort()).toEqual(['service', 'service,Code']);
    expect(emf.every((m) => m._aws.CloudWatchMetrics[0].Namespace === 'SentinelTvm' && m.service === fx.env.POWERTOOLS_SERVICE_NAME))
      .toBe(true);
  } finally {
    await bundle.stop();
  }
});

const NODE_BUILTINS = new Set(builtinModules);
// Named only inside an SDK error message that tells users how to install the optional CRT signer.
const OPTIONAL = new Set(['@aws-sdk/signature-v4-crt']);
