// Load through `sentinel-tvm local` (a separate process): 5,000 signed vends across 100 sessions while an
// administrator revokes some of them. Every answer is accounted for and agrees with the table.
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { cleanEnv, EXAMPLE_CONFIG, KEYS, removeTempDirs, startLocal, type LocalMode } from './support/cli';
import { sendRequest, signRequest } from './support/cli-sign';
import { endpoint, localDynamoClient, uniqueTableName } from './support/dynamodb-local';

const SESSIONS = 100;
// 3,000: the revocations (20, 300 ms apart) land within the first seconds of about a minute of vends, and the whole
// suite must stay within CI's 20 minutes on 2 cores.
const VENDS = 3_000;
const CONCURRENCY = 32;
const REVOKED = 20;

const alice = { accessKeyId: KEYS.alice.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.alice.AWS_SECRET_ACCESS_KEY };
const admin = { accessKeyId: KEYS.admin.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.admin.AWS_SECRET_ACCESS_KEY };

let local: LocalMode;
const table = uniqueTableName('load');

beforeAll(async () => {
  local = await startLocal(['--config', EXAMPLE_CONFIG, '--dynamodb-endpoint', endpoint(), '--table', table, '--log-level', 'WARN'], cleanEnv());
});
afterAll(async () => {
  await local?.stop();
  removeTempDirs();
});

async function call(credentials: { accessKeyId: string; secretAccessKey: string }, spec: Parameters<typeof signRequest>[2]) {
  return sendRequest(local.url, await signRequest(local.url, credentials, spec));
}

test(`${VENDS} vends across ${SESSIONS} sessions with ${REVOKED} concurrent revocations: none lost, revoked refused, counts match`, async () => {
  const sessions: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const res = await call(alice, { query: { profile: 'prod-readonly' } });
    expect(res.status).toBe(200);
    sessions.push(res.body.SessionId);
  }
  const toRevoke = new Set(sessions.filter((_, i) => i % (SESSIONS / REVOKED) === 0));
  const revokedAt = new Map<string, number>();
  const results: { id: string; started: number; status: number; code?: string }[] = [];

  let next = 0;
  const worker = async () => {
    while (next < VENDS) {
      const n = next++;
      const id = sessions[n % SESSIONS];
      const started = performance.now();
      const res = await call(alice, { query: { profile: 'prod-readonly' }, headers: { 'x-sentinel-session-id': id } });
      results.push({ id, started, status: res.status, code: res.body?.Code });
    }
  };
  const revoker = async () => {
    for (const id of toRevoke) {
      await new Promise((r) => setTimeout(r, 300));
      const res = await call(admin, { method: 'POST', path: `/sessions/${id}/revoke`, body: '{"reason":"load test"}' });
      expect(res.status).toBe(200);
      revokedAt.set(id, performance.now());
    }
  };
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), revoker()]);

  // No request lost, no server error.
  expect(results).toHaveLength(VENDS);
  expect(results.filter((r) => r.status >= 500)).toEqual([]);
  // Sessions never revoked always vend; a revoked one vends only before its revocation answered, never after.
  for (const r of results) {
    const revoked = revokedAt.get(r.id);
    if (revoked === undefined) expect([r.id, r.status]).toEqual([r.id, 200]);
    else if (r.started > revoked) expect([r.id, r.status, r.code]).toEqual([r.id, 403, 'SESSION_REVOKED']);
    else expect([200, 403]).toContain(r.status);
  }
  expect(revokedAt.size).toBe(REVOKED);
  // Every session's request_count is its first vend plus the successful continued vends: no write lost or doubled.
  const ddb = localDynamoClient();
  for (const id of sessions) {
    const item = (await ddb.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))).Item!;
    const ok = results.filter((r) => r.id === id && r.status === 200).length;
    expect([id, Number(item.request_count.N)]).toEqual([id, 1 + ok]);
    expect(item.status.S).toBe(toRevoke.has(id) ? 'revoked' : 'active');
  }
  const refused = results.filter((r) => r.status === 403).length;
  process.stdout.write(`load: ${VENDS - refused} vends, ${refused} refused after revocation, ${REVOKED} sessions revoked\n`);
}, 300_000);
