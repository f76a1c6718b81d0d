// POST /introspect and the session verifier (issue 13), measured as the vend rows are: the real handler on DynamoDB Local
// (its requests counted on the wire) and the local STS; the verifier's shipped bundle against the real handler behind the
// local front door (SigV4 checked), over a real HTTP round trip.
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';
import type { Figures } from './client-cache';
import type { CountingProxy } from './counting-proxy';
import { startFrontDoor } from '../cli/local/front-door';
import { identityProof } from '../cli/proof';
import { IdentityVerifier } from '../lambda/auth/proof';
import { writeConfig } from '../lambda/config/provider';
import { createHandler, type TvmEvent } from '../lambda/handler';
import { readSettings, type Settings } from '../lambda/settings';
import type * as VerifierModule from '../lambda/verifier';
import { Env, IdentityProof, SESSION_HEADER } from '../src/shared/contract';
import type { LocalSts } from '../test/support/local-sts';
import { ACCOUNT, ALICE, AUDIENCE, CREDENTIALS, deployedConfig, event, type Fixture } from '../test/support/tvm-fixture';

export interface Backends {
  readonly fx: Fixture;
  readonly sts: LocalSts;
  /** DynamoDB Local itself, for timings. */
  readonly dynamodbEndpoint: string;
  /** DynamoDB Local behind the counting proxy, for counts. */
  readonly proxy: CountingProxy;
}

const REGION = 'us-east-1';
const VERIFIER_BUNDLE = path.join(__dirname, '..', 'assets', 'verifier', 'index.js');
/** A relying party: a service's role session, named in the configuration's introspection principals by its role. */
const RELYING_PARTY = `arn:aws:sts::${ACCOUNT}:assumed-role/OrdersService/orders-task-1`;
const RP_AUDIENCE = 'orders.example.com';
const FORM = 'application/x-www-form-urlencoded';
const N = 300;
const WARMUP = 50;
/** Proofs of one signer differ only from one second to the next: each signer signs this many, a second apart. */
const PROOFS_PER_SIGNER = 150;

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const describe = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;

export async function introspectionRows(f: Figures, b: Backends): Promise<void> {
  const { fx, sts } = b;
  // The deployed configuration plus a relying party, as `grantIntrospect` would add it.
  const digest = await writeConfig(fx.ddb, fx.controlTableName, {
    ...deployedConfig(fx.template, fx),
    IntrospectionPrincipals: [`arn:aws:iam::${ACCOUNT}:role/OrdersService`],
  }, 'bench-introspect');
  const settings = readSettings({ ...fx.env, [Env.CONFIG_DIGEST]: digest });
  const stsClient = new STSClient({ region: REGION, endpoint: sts.endpoint, credentials: CREDENTIALS });
  const direct = new DynamoDBClient({ region: REGION, endpoint: b.dynamodbEndpoint, credentials: CREDENTIALS });
  const counted = new DynamoDBClient({ region: REGION, endpoint: b.proxy.endpoint, credentials: CREDENTIALS });
  /** One container: its own configuration, proof cache and memory of inactive sessions. */
  const container = (ddb: DynamoDBClient, s: Settings = settings) => createHandler({
    settings: s,
    ddb,
    sts: stsClient,
    log: () => undefined,
    verifier: new IdentityVerifier({ audiences: s.audiences, region: REGION, endpoint: sts.endpoint }),
  });

  // The callers' own proofs for the TVM, reused as a client reuses its proof within 5 minutes: what differs between the
  // rows below is the route's own work, not the caller's GetCallerIdentity.
  const rpProof = await identityProof(sts.principal(RELYING_PARTY), REGION, AUDIENCE, new Date());
  const aliceProof = await identityProof(sts.principal(ALICE), REGION, AUDIENCE, new Date());
  const introspectEvent = (fields: Record<string, string>): TvmEvent => event({
    method: 'POST',
    path: '/introspect',
    userArn: RELYING_PARTY,
    headers: { 'content-type': FORM, [IdentityProof.HEADER]: rpProof },
    body: new URLSearchParams(fields).toString(),
  });
  const vendEvent = (sessionId?: string): TvmEvent => event({
    userArn: ALICE,
    query: { profile: 'readonly' },
    headers: { [IdentityProof.HEADER]: aliceProof, ...(sessionId ? { [SESSION_HEADER]: sessionId } : {}) },
  });

  // A live session and the assumed-role ARN STS gave its credentials (the local STS answers as STS does).
  const counting = container(counted);
  const vended = await counting(vendEvent());
  if (vended.statusCode !== 200) throw new Error(`vend failed: ${vended.body}`);
  const sessionId = JSON.parse(vended.body).SessionId as string;
  const call = sts.calls[sts.calls.length - 1];
  const roleName = call.roleArn.split('/').pop();
  const sessionArn = `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${call.roleSessionName}`;
  // Every role session name a session's vends give (`tvm-<id>-<request id>`) is that session: more signers of its proofs.
  const sessionSigner = (k: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/tvm-${sessionId}-${k}`;
  const notProfileRole = `arn:aws:sts::${ACCOUNT}:assumed-role/SomeOtherRole/tvm-${sessionId}-x`;
  let batch = 0;
  /** Distinct proofs for the relying party of the live session, all within the TVM's 5 minutes while the bench uses them. */
  const freshProofs = async (count: number): Promise<string[]> => {
    const at = Date.now() - 120_000;
    const label = `b${++batch}`;
    return Promise.all(Array.from({ length: count }, (_, i) => identityProof(
      sts.principal(sessionSigner(`${label}s${Math.floor(i / PROOFS_PER_SIGNER)}`)), REGION, RP_AUDIENCE,
      new Date(at + (i % PROOFS_PER_SIGNER) * 1000))));
  };
  const reusedProof = (await freshProofs(1))[0];

  // 1. Requests per introspection, on the wire.
  const expectAnswer = async (res: Promise<any>, active: boolean) => {
    const r = await res;
    if (r.statusCode !== 200 || JSON.parse(r.body).active !== active) throw new Error(`introspection answered ${r.statusCode} ${r.body}`);
  };
  await expectAnswer(counting(introspectEvent({ token: sessionArn })), true);
  // The reused proof has been seen once (its one GetCallerIdentity), as by a relying party that checked it before.
  await expectAnswer(counting(introspectEvent({ token: reusedProof, audience: RP_AUDIENCE })), true);
  const perCall = async (calls: number, run: (i: number) => Promise<void>) => {
    b.proxy.take();
    const before = { identity: sts.identityCalls.length, assume: sts.calls.length };
    for (let i = 0; i < calls; i++) await run(i);
    const dynamo = Object.fromEntries(Object.entries(b.proxy.take()).map(([op, n]) => [op, n / calls]));
    return { dynamo, identity: (sts.identityCalls.length - before.identity) / calls, assume: (sts.calls.length - before.assume) / calls };
  };
  const countCalls = 20;
  const countProofs = await freshProofs(countCalls);
  const arnCost = await perCall(countCalls, () => expectAnswer(counting(introspectEvent({ token: sessionArn })), true));
  const otherCost = await perCall(countCalls, () => expectAnswer(counting(introspectEvent({ token: notProfileRole })), false));
  const freshCost = await perCall(countCalls, (i) => expectAnswer(counting(introspectEvent({ token: countProofs[i], audience: RP_AUDIENCE })), true));
  const reusedCost = await perCall(countCalls, () => expectAnswer(counting(introspectEvent({ token: reusedProof, audience: RP_AUDIENCE })), true));
  const vendCost = await perCall(countCalls, async () => {
    if ((await counting(vendEvent(sessionId))).statusCode !== 200) throw new Error('continued vend failed');
  });
  const stsOf = (c: typeof arnCost) => `${c.identity + c.assume} STS${c.identity ? ` (${c.identity} GetCallerIdentity)` : ''}`;
  f.row('DynamoDB requests per introspection, live session ARN', String(total(arnCost.dynamo)),
    `${describe(arnCost.dynamo)}, ${stsOf(arnCost)} (target 1); a continued vend: ${describe(vendCost.dynamo)} + 1 AssumeRole; n=${countCalls}`);
  f.row('DynamoDB requests per introspection, ARN of no profile\'s role', String(total(otherCost.dynamo)),
    `${describe(otherCost.dynamo)}, ${stsOf(otherCost)}: inactive without a read (target 0); a tvm-<id>- session name of another role`);
  f.row('requests per introspection, identity proof, fresh / reused', `${total(freshCost.dynamo)} DynamoDB + ${freshCost.identity} STS / `
    + `${total(reusedCost.dynamo)} DynamoDB + ${reusedCost.identity} STS`,
  `${describe(freshCost.dynamo)} + GetCallerIdentity of the token; a proof seen within its 5 minutes is not sent to STS again; n=${countCalls}`);

  // 2. Warm latency, interleaved so that noise hits all four alike; DynamoDB Local directly (no proxy hop).
  const warm = container(direct);
  await expectAnswer(warm(introspectEvent({ token: sessionArn })), true);
  const proofs = await freshProofs(N + WARMUP);
  const times = { arn: [] as number[], fresh: [] as number[], reused: [] as number[], vend: [] as number[] };
  const timed = async (into: number[], i: number, run: () => Promise<void>) => {
    const t = performance.now();
    await run();
    if (i >= WARMUP) into.push(performance.now() - t);
  };
  for (let i = 0; i < N + WARMUP; i++) {
    await timed(times.arn, i, () => expectAnswer(warm(introspectEvent({ token: sessionArn })), true));
    await timed(times.fresh, i, () => expectAnswer(warm(introspectEvent({ token: proofs[i], audience: RP_AUDIENCE })), true));
    await timed(times.reused, i, () => expectAnswer(warm(introspectEvent({ token: reusedProof, audience: RP_AUDIENCE })), true));
    await timed(times.vend, i, async () => {
      if ((await warm(vendEvent(sessionId))).statusCode !== 200) throw new Error('continued vend failed');
    });
  }
  const p50 = (v: number[]) => f.percentile(v, 50);
  const both = (v: number[]) => `${f.ms(p50(v))} / ${f.ms(f.percentile(v, 99))}`;
  const relative = (v: number[]) => `${(p50(v) / p50(times.vend)).toFixed(2)} × a warm continued vend's p50`;
  f.row('introspection, session ARN, warm p50 / p99', both(times.arn), `n=${N}, through the handler; ${relative(times.arn)}`);
  f.row('introspection, identity proof (fresh), warm p50 / p99', both(times.fresh),
    `n=${N}, a new proof per call (its GetCallerIdentity to the local STS included); ${relative(times.fresh)}`);
  f.row('introspection, identity proof (reused), warm p50 / p99', both(times.reused), `n=${N}, the same proof each call; ${relative(times.reused)}`);
  f.row('warm continued vend p50 / p99, same run', both(times.vend),
    `n=${N}, interleaved with the introspections above (1 UpdateItem + 1 AssumeRole; the callers' proofs reused alike)`);

  await verifierRows(f, b, settings, { sessionArn, freshProofs });
  counted.destroy();
  direct.destroy();
}

/**
 * The verifier's cost: a cache hit (nothing but the lookup), and a miss, which is one POST /introspect to the real handler
 * behind the local front door (the stand-in for API Gateway: SigV4 verified, then the payload 2.0 event).
 */
async function verifierRows(f: Figures, b: Backends, settings: Settings,
  s: { sessionArn: string; freshProofs: (n: number) => Promise<string[]> }): Promise<void> {
  // The shipped bundle, as relying parties load it (`require('cdk-sentinel-tvm/assets/verifier')`).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SessionVerifier } = require(VERIFIER_BUNDLE) as typeof VerifierModule;
  const rp = b.sts.principal(RELYING_PARTY);
  let handler: ((e: TvmEvent) => Promise<any>) | undefined;
  const door = await startFrontDoor({
    region: REGION,
    accountId: ACCOUNT,
    lookup: (id) => (id === rp.accessKeyId ? { secretAccessKey: rp.secretAccessKey, arn: RELYING_PARTY } : undefined),
    handler: (e) => handler!(e as TvmEvent),
  });
  const direct = new DynamoDBClient({ region: REGION, endpoint: b.dynamodbEndpoint, credentials: CREDENTIALS });
  try {
    // The TVM's audience is its host: the verifier's own proof names it.
    const s2 = { ...settings, audiences: [new URL(door.url).host] };
    handler = createHandler({
      settings: s2,
      ddb: direct,
      sts: new STSClient({ region: REGION, endpoint: b.sts.endpoint, credentials: CREDENTIALS }),
      log: () => undefined,
      verifier: new IdentityVerifier({ audiences: s2.audiences, region: REGION, endpoint: b.sts.endpoint }),
    });
    const verifier = (more: Partial<VerifierModule.SessionVerifierOptions> = {}) =>
      new SessionVerifier({ tvmUrl: door.url, region: REGION, audience: RP_AUDIENCE, credentials: rp, ...more });
    const active = async (check: Promise<VerifierModule.SessionCheck>, fromCache: boolean) => {
      const c = await check;
      if (!c.active || c.fromCache !== fromCache) throw new Error(`verifier: active ${c.active}, fromCache ${c.fromCache}`);
    };

    // Hits: one miss fills the cache, then each check is a lookup.
    const hitRuns = 20_000;
    const cached = verifier();
    const proof = (await s.freshProofs(1))[0];
    await active(cached.checkPrincipalArn(s.sessionArn), false);
    await active(cached.checkIdentityProof(proof), false);
    const hits = { arn: [] as number[], proof: [] as number[] };
    for (let i = 0; i < hitRuns; i++) {
      let t = performance.now();
      await active(cached.checkPrincipalArn(s.sessionArn), true);
      hits.arn.push(performance.now() - t);
      t = performance.now();
      await active(cached.checkIdentityProof(proof), true);
      hits.proof.push(performance.now() - t);
    }

    // Misses: nothing cached (activeCacheSeconds 0), so that every check is a request; the verifier's own proof is reused.
    const uncached = verifier({ activeCacheSeconds: 0 });
    const proofs = await s.freshProofs(N + WARMUP);
    const misses = { arn: [] as number[], proof: [] as number[] };
    for (let i = 0; i < N + WARMUP; i++) {
      let t = performance.now();
      await active(uncached.checkPrincipalArn(s.sessionArn), false);
      if (i >= WARMUP) misses.arn.push(performance.now() - t);
      t = performance.now();
      await active(uncached.checkIdentityProof(proofs[i]), false);
      if (i >= WARMUP) misses.proof.push(performance.now() - t);
    }
    const p50 = (v: number[]) => f.percentile(v, 50);
    f.row('verifier cache hit p50, checkPrincipalArn / checkIdentityProof', `${us(p50(hits.arn))} / ${us(p50(hits.proof))}`,
      `assets/verifier, n=${hitRuns} each (the proof's: its SHA-256 and the lookup)`);
    f.row('verifier miss p50 / p99, principal ARN', `${f.ms(p50(misses.arn))} / ${f.ms(f.percentile(misses.arn, 99))}`,
      `n=${N}: sign, POST /introspect over HTTP to the local front door (SigV4 verified), the real handler, 1 GetItem`);
    f.row('verifier miss p50 / p99, identity proof (fresh)', `${f.ms(p50(misses.proof))} / ${f.ms(f.percentile(misses.proof, 99))}`,
      `n=${N}: as above, and the TVM sends the proof to the local STS`);
    f.row('verifier miss / hit, p50', `${(p50(misses.arn) / p50(hits.arn)).toFixed(0)} / ${(p50(misses.proof) / p50(hits.proof)).toFixed(0)}`,
      'principal ARN / identity proof: what the cache saves per check (in AWS a miss also crosses the network to API Gateway)');
  } finally {
    await door.stop();
    direct.destroy();
  }
}
