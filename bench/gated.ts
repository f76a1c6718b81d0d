// Gated access (approvals, break-glass, access windows): what it adds to a vend, measured as the vend rows are. The real
// handler on DynamoDB Local (its requests counted on the wire) and the local STS; a standing and a gated profile of the
// same TVM, vended interleaved so that noise hits both alike; and the two checks a gated vend adds, alone.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { Figures } from './client-cache';
import type { CountingProxy } from './counting-proxy';
import { accessRoutes } from '../lambda/access/routes';
import { sealHolds, sealOf } from '../lambda/access/seal';
import { windowState } from '../lambda/access/windows';
import { IdentityVerifier } from '../lambda/auth/proof';
import { createHandler, type TvmEvent } from '../lambda/handler';
import { readSettings } from '../lambda/settings';
import { Approval, Approvers, PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import type { AccessWindowConfig } from '../src/shared/access';
import type { LocalSts } from '../test/support/local-sts';
import { ACCOUNT, AUDIENCE, CREDENTIALS, createFixtureFrom, event, proven } from '../test/support/tvm-fixture';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const APPROVER = (n: number) => `arn:aws:iam::${ACCOUNT}:user/approver-${n}`;
const N = 1000;
const WARMUP = 100;

/** A TVM with a standing and a gated profile on two roles, both with one access window open all week. */
function template(): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(`arn:aws:iam::${ACCOUNT}:role/SecurityOps`)] });
  tvm.addProfile('standing', { role: new ProtectedRole(stack, 'ReadOnly', { tvm }), allowedPrincipals: [P(ALICE)] });
  tvm.addProfile('gated', {
    role: new ProtectedRole(stack, 'Deploy', { tvm }),
    allowedPrincipals: [P(ALICE)],
    approval: Approval.required({ approvers: Approvers.principals([P(APPROVER(0).replace('approver-0', 'approver-*'))]), maxDuration: Duration.hours(8) }),
  });
  return app.synth().getStackByName('Fixture').template;
}

const WINDOWS: AccessWindowConfig[] = [
  { timeZone: 'Europe/Berlin', days: [1, 2, 3, 4, 5], start: '07:00', end: '20:00' },
  { timeZone: 'America/New_York', days: [1, 2, 3, 4, 5], start: '22:00', end: '06:00' },
];

/** Rows: DynamoDB requests and handler overhead of a gated vend next to a standing one, and the added checks' cost. */
export async function gatedRows(f: Figures, backends: { sts: LocalSts; dynamodbEndpoint: string; proxy: CountingProxy }): Promise<void> {
  const { row, percentile } = f;
  const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;

  // 1. The two checks alone: access windows (2 windows, 2 zones) and the grant's seal.
  const t0 = Date.parse('2026-12-07T10:00:00Z');
  for (let i = 0; i < 2000; i++) windowState(WINDOWS, new Date(t0 + i * 37_000));
  const windowTimes: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const at = new Date(t0 + (i % 5000) * 61_000);
    const t = performance.now();
    windowState(WINDOWS, at);
    windowTimes.push(performance.now() - t);
  }
  row('access window check p50 / p99', `${us(percentile(windowTimes, 50))} / ${us(percentile(windowTimes, 99))}`,
    '2 weekly windows in 2 zones (one overnight), n=20000, formatters cached per zone');
  const key = Buffer.alloc(32, 7);
  const item: Record<string, any> = {
    id: { S: '0123456789abcdef' },
    principal_arn: { S: ALICE },
    principal_id: { S: 'AIDAEXAMPLEALICE00000' },
    requester_person: { S: 'iam-user:111122223333:AIDAEXAMPLEALICE00000' },
    profile: { S: 'gated' },
    role_arn: { S: `arn:aws:iam::${ACCOUNT}:role/tvm-test-Deploy` },
    grant_kind: { S: 'approval' },
    requested_seconds: { N: '3600' },
    approved_at: { S: '2026-12-07T10:00:00.000Z' },
    expires_at: { S: '2026-12-07T11:00:00.000Z' },
    policy_digest: { S: '0123456789abcdef' },
    source_identity: { S: 'sentinel.0123456789abcdef.a.alice' },
    approvals: { M: { a1b2c3d4e5f60718: { M: { arn: { S: APPROVER(1) } } }, b1b2c3d4e5f60718: { M: { arn: { S: APPROVER(2) } } } } },
  };
  item.grant_mac = { S: sealOf(key, item) };
  const sealTimes: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t = performance.now();
    if (!sealHolds(key, item)) throw new Error('the seal did not hold');
    sealTimes.push(performance.now() - t);
  }
  row('grant seal check p50 / p99', `${us(percentile(sealTimes, 50))} / ${us(percentile(sealTimes, 99))}`,
    'HMAC-SHA256 over the sealed fields of a 2-approval grant, constant-time compare, n=20000');

  // 2. Requests per vend, counted at the wire; then handler overhead, standing and gated interleaved.
  const fx = await createFixtureFrom(template(), new DynamoDBClient({ region: 'us-east-1', endpoint: backends.dynamodbEndpoint, credentials: CREDENTIALS }));
  const settings = readSettings(fx.env);
  const sts = new STSClient({ region: 'us-east-1', endpoint: backends.sts.endpoint, credentials: CREDENTIALS });
  const verifier = new IdentityVerifier({ audiences: [AUDIENCE], region: 'us-east-1', endpoint: backends.sts.endpoint });
  const routes = accessRoutes(async () => undefined, ACCOUNT);
  const counted = createHandler({
    settings,
    ddb: new DynamoDBClient({ region: 'us-east-1', endpoint: backends.proxy.endpoint, credentials: CREDENTIALS }),
    sts,
    log: () => undefined,
    verifier,
    routes,
  });
  let signedAt = Date.now() - 120_000;
  const signed = (e: TvmEvent) => proven(backends.sts, e, new Date(signedAt += 1000));
  const send = async (h: typeof counted, e: TvmEvent) => {
    const res = await h(await signed(e));
    if (res.statusCode >= 300) throw new Error(`${e.rawPath} answered ${res.statusCode}: ${res.body}`);
    return JSON.parse(res.body);
  };
  const standingId = (await send(counted, event({ userArn: ALICE, query: { profile: 'standing' } }))).SessionId;
  const request = await send(counted, event({ userArn: ALICE, method: 'POST', path: '/requests', body: JSON.stringify({ profile: 'gated', durationSeconds: 8 * 3600, reason: 'bench the gated vend path' }) }));
  const grantId = request.Request.id;
  // The first approval of a container also reads (or creates) the sealing key; the second shows the steady state.
  await send(counted, event({ userArn: APPROVER(1), method: 'POST', path: `/requests/${grantId}/approve` }));
  const second = await send(counted, event({ userArn: ALICE, method: 'POST', path: '/requests', body: JSON.stringify({ profile: 'gated', durationSeconds: 8 * 3600, reason: 'bench the gated vend path again' }) }));
  backends.proxy.take();
  await send(counted, event({ userArn: APPROVER(2), method: 'POST', path: `/requests/${second.Request.id}/approve` }));
  const approve = backends.proxy.take();
  const vendOf = (profile: string, id: string) => event({ userArn: ALICE, query: { profile }, headers: { 'x-sentinel-session-id': id } });
  await send(counted, vendOf('gated', grantId));
  const activation = backends.proxy.take();
  await send(counted, vendOf('gated', grantId));
  const continuation = backends.proxy.take();
  await send(counted, vendOf('standing', standingId));
  const standing = backends.proxy.take();
  const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  const describe = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ');
  row('DynamoDB requests, gated vend (activation)', String(total(activation)), `${describe(activation)} (target 1; the seal key is read once per container)`);
  row('DynamoDB requests, gated vend (continued)', String(total(continuation)), `${describe(continuation)} (target 1)`);
  row('DynamoDB requests, standing vend beside it', String(total(standing)), `${describe(standing)} (unchanged: 1)`);
  row('DynamoDB requests, approval', String(total(approve)), `${describe(approve)}: a consistent read, then one conditional write`);

  let backend = 0;
  const timed = <T extends { send: (...a: any[]) => Promise<any> }>(client: T): T => {
    const original = client.send.bind(client);
    (client as any).send = async (...args: any[]) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        backend += performance.now() - t;
      }
    };
    return client;
  };
  const warm = createHandler({
    settings,
    ddb: timed(new DynamoDBClient({ region: 'us-east-1', endpoint: backends.dynamodbEndpoint, credentials: CREDENTIALS })),
    sts: timed(sts),
    log: () => undefined,
    verifier,
    routes,
  });
  // One proof each, reused (cached by the verifier): the overhead measured is the handler's, not STS's.
  const proofs = { standing: await signed(vendOf('standing', standingId)), gated: await signed(vendOf('gated', grantId)) };
  const overhead: Record<'standing' | 'gated', number[]> = { standing: [], gated: [] };
  for (let i = 0; i < N + WARMUP; i++) {
    for (const kind of ['standing', 'gated'] as const) {
      backend = 0;
      const t = performance.now();
      const res = await warm(proofs[kind]);
      const elapsed = performance.now() - t;
      if (res.statusCode !== 200) throw new Error(`${kind} vend failed: ${res.body}`);
      if (i >= WARMUP) overhead[kind].push(elapsed - backend);
    }
  }
  const p = (kind: 'standing' | 'gated', q: number) => percentile(overhead[kind], q);
  row('warm handler overhead, standing profile p50 / p99', `${f.ms(p('standing', 50))} / ${f.ms(p('standing', 99))}`,
    `continued vends, n=${N}, interleaved with the gated ones`);
  row('warm handler overhead, gated profile p50 / p99', `${f.ms(p('gated', 50))} / ${f.ms(p('gated', 99))}`,
    `continued vends of an approved grant, n=${N}: seal check, windows, the grant's write`);
  row('gated / standing overhead, p50', (p('gated', 50) / p('standing', 50)).toFixed(2), 'the same run');
}
