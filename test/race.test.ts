// Revocation racing continued vends: DynamoDB's conditional writes decide, nothing else.
import { startLocalSts } from './support/local-sts';
import { ADMIN, createFixture, event, stsClient, type Fixture } from './support/tvm-fixture';

let fx: Fixture;
let sts: Awaited<ReturnType<typeof startLocalSts>>;

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});

test('50 concurrent continued vends while an administrator revokes: none succeeds after the revoke answers, counts match', async () => {
  const handle = fx.handler({ sts: stsClient(sts.endpoint) });
  const first = await handle(event({ query: { profile: 'readonly' } }));
  const id = JSON.parse(first.body).SessionId;
  sts.delay(5); // widen the window between the session check and the answer

  let revokedAt = Infinity;
  const vends = Array.from({ length: 50 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i % 10)); // spread the starts around the revocation
    const started = performance.now();
    const res = await handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    return { started, status: res.statusCode, code: res.statusCode === 200 ? 'OK' : JSON.parse(res.body).Code };
  });
  const revocation = (async () => {
    await new Promise((r) => setTimeout(r, 4));
    const res = await handle(event({ method: 'POST', path: `/sessions/${id}/revoke`, userArn: ADMIN, body: '{"reason":"race"}' }));
    revokedAt = performance.now();
    return res;
  })();
  const [results, revoke] = await Promise.all([Promise.all(vends), revocation]);
  const after = await Promise.all(Array.from({ length: 10 }, () =>
    handle(event({ query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }))));

  expect(revoke.statusCode).toBe(200);
  expect(results.every((r) => r.status === 200 || r.code === 'SESSION_REVOKED')).toBe(true);
  expect(results.filter((r) => r.started > revokedAt && r.status === 200)).toEqual([]);
  expect(after.map((r) => JSON.parse(r.body).Code)).toEqual(Array(10).fill('SESSION_REVOKED'));
  const successes = results.filter((r) => r.status === 200).length;
  const item = await fx.item(id);
  expect(item?.request_count).toBe(1 + successes);
  expect(item?.status).toBe('revoked');
  // How the race went this time (both outcomes usually occur).
  process.stdout.write(`race: ${successes} vends before the revocation, ${50 - successes} refused\n`);
}, 60_000);
