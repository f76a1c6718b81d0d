// Session events (issue 13): that a vend still makes no EventBridge request (the shipped vend bundle, its requests counted
// on the wire), the events function's cost per stream batch, and the enforcer's run with its events and without.
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import type { DynamoDBRecord } from 'aws-lambda';
import type { Figures } from './client-cache';
import { countingProxy, type CountingProxy } from './counting-proxy';
import type { Backends } from './introspection';
import { timedRevocationRun } from './revocation-run';
import { startLocalEventBridge, type LocalEventBridge } from '../cli/local/eventbridge';
import { boundedRequestHandler } from '../lambda/clients';
import type { EnforcerDeps, EnforcerEvents } from '../lambda/enforcer/enforce';
import { sessionChange, type StreamRecordLike } from '../lambda/events/entries';
import { createEventsHandler } from '../lambda/events/handler';
import { eventPublisher } from '../lambda/events/publish';
import { readEventsFunctionSettings, readEventTarget } from '../lambda/events/settings';
import { Env, revokedSessionsPolicyName, SESSION_HEADER, type ProfileConfig } from '../src/shared/contract';
import { startBundle } from '../test/support/bundle-process';
import { createTableFromTemplate, SESSION_TABLE_TEMPLATE } from '../test/support/dynamodb-local';
import { startLocalIam } from '../test/support/local-iam';
import { openTableStream } from '../test/support/streams';
import { ACCOUNT, ALICE, CREDENTIALS, event, proven } from '../test/support/tvm-fixture';

const REGION = 'us-east-1';
const VEND_BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');
const TVM_NAME = 'bench';
/** Users of the fixture's readonly profile (its SSO pattern): one new session each, for the stream's records. */
const ssoUser = (k: number) => `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/user${k}@example.com`;
const NEW_SESSIONS = 100;
const CONTINUED = 50;

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const perVend = (c: Record<string, number>, n: number) => Object.entries(c).map(([k, v]) => `${v / n} ${k}`).join(', ') || 'none';

export async function eventRows(f: Figures, b: Backends): Promise<void> {
  let delivered = 0;
  const eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: () => { delivered += 1; } });
  const ebProxy = await countingProxy(eb.endpoint);
  // As the functions' own client (lambda/events/clients.ts), pointed at the local EventBridge.
  const client = new EventBridgeClient({
    region: REGION, endpoint: eb.endpoint, credentials: CREDENTIALS, maxAttempts: 2, requestHandler: boundedRequestHandler(1_000, 2_000),
  });
  try {
    const records = await vendRow(f, b, ebProxy, eb);
    await eventsFunctionRow(f, client, eb, records, () => delivered);
    await enforcerEventsRow(f, b, client, eb);
  } finally {
    client.destroy();
    await ebProxy.close();
    await eb.stop();
  }
}

/**
 * The shipped vend bundle in its own process, with the environment the construct gives it plus an EventBridge endpoint
 * (`AWS_ENDPOINT_URL_EVENTBRIDGE`) it is not meant to use: every request it makes to DynamoDB, STS and EventBridge counted.
 * Returns the stream records of its new sessions.
 */
async function vendRow(f: Figures, b: Backends, ebProxy: CountingProxy, eb: LocalEventBridge): Promise<DynamoDBRecord[]> {
  const stream = await openTableStream(b.fx.ddb, b.fx.tableName, b.dynamodbEndpoint);
  const bundle = await startBundle(VEND_BUNDLE, {
    ...b.fx.env,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: b.proxy.endpoint,
    AWS_ENDPOINT_URL_STS: b.sts.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: ebProxy.endpoint,
  });
  try {
    const vend = async (e: Parameters<typeof event>[0], at: Date) => {
      const res = await bundle.invoke(await proven(b.sts, event(e), at));
      if (res.statusCode !== 200) throw new Error(`bundle vend failed: ${res.body}`);
      return JSON.parse(res.body).SessionId as string;
    };
    // The container's first vend reads the configuration: not counted.
    const first = await vend({ query: { profile: 'readonly' } }, new Date(Date.now() - 60_000));
    await stream.skip();
    b.proxy.take();
    ebProxy.take();
    const ebCalls = eb.calls.length;
    const sts = () => ({ identity: b.sts.identityCalls.length, assume: b.sts.calls.length });
    const stsDelta = (before: ReturnType<typeof sts>, n: number) => {
      const now = sts();
      return `${(now.identity - before.identity + now.assume - before.assume) / n} (${(now.identity - before.identity) / n} GetCallerIdentity + `
        + `${(now.assume - before.assume) / n} AssumeRole)`;
    };
    // New sessions: each by another user, so that each proof is fresh (a SigV4 signature changes per second and per key).
    let before = sts();
    const at = new Date();
    for (let k = 0; k < NEW_SESSIONS; k++) await vend({ userArn: ssoUser(k), query: { profile: 'readonly' } }, at);
    const newDynamo = b.proxy.take();
    const newSts = stsDelta(before, NEW_SESSIONS);
    // Continued vends of one session, each with a fresh proof signed a second after the previous one.
    before = sts();
    const start = Date.now() - CONTINUED * 1000;
    for (let i = 0; i < CONTINUED; i++) {
      await vend({ query: { profile: 'readonly' }, headers: { [SESSION_HEADER]: first } }, new Date(start + i * 1000));
    }
    const continuedDynamo = b.proxy.take();
    const continuedSts = stsDelta(before, CONTINUED);
    const events = ebProxy.take();
    f.row('EventBridge requests per vend, shipped vend bundle', `${total(events) / (NEW_SESSIONS + CONTINUED)}`,
      `${NEW_SESSIONS} new + ${CONTINUED} continued vends (fresh proofs), AWS_ENDPOINT_URL_EVENTBRIDGE set to a counting local EventBridge `
      + `(${eb.calls.length - ebCalls} PutEvents); per vend, new: ${perVend(newDynamo, NEW_SESSIONS)} + STS ${newSts}; `
      + `continued: ${perVend(continuedDynamo, CONTINUED)} + STS ${continuedSts}: as before events (the rows above)`);
  } finally {
    await bundle.stop();
  }
  const records = (await stream.read()).filter((r) => r.eventName === 'INSERT');
  stream.close();
  return records;
}

/** The events function's handler (the entry point's, without its log line and metric) on real stream records of new sessions. */
async function eventsFunctionRow(f: Figures, client: EventBridgeClient, eb: LocalEventBridge, records: DynamoDBRecord[],
  delivered: () => number): Promise<void> {
  const target = readEventsFunctionSettings({ [Env.TVM_NAME]: TVM_NAME });
  if (records.length < NEW_SESSIONS || records.some((r) => sessionChange(r as StreamRecordLike, target).kind !== 'event')) {
    throw new Error(`expected ${NEW_SESSIONS} records of new sessions, each a Session Started event; got ${records.length}`);
  }
  const handle = createEventsHandler({ target, publish: eventPublisher({ client }) });
  const sizes = [1, NEW_SESSIONS];
  const runs = 50;
  const warmup = 5;
  const times = new Map(sizes.map((n) => [n, [] as number[]]));
  const calls = new Map(sizes.map((n) => [n, 0]));
  for (let i = 0; i < runs + warmup; i++) {
    for (const n of sizes) {
      const callsBefore = eb.calls.length;
      const deliveredBefore = delivered();
      const t = performance.now();
      const out = await handle({ Records: records.slice(0, n) });
      const elapsed = performance.now() - t;
      if (out.batchItemFailures.length > 0 || delivered() - deliveredBefore !== n) throw new Error(`events function: ${JSON.stringify(out)}`);
      if (i < warmup) continue;
      times.get(n)!.push(elapsed);
      calls.set(n, calls.get(n)! + eb.calls.length - callsBefore);
    }
  }
  for (const n of sizes) {
    const v = times.get(n)!;
    f.row(`events function, batch of ${n} record${n === 1 ? '' : 's'}, p50 / p99`, `${f.ms(f.percentile(v, 50))} / ${f.ms(f.percentile(v, 99))}`,
      `${calls.get(n)! / runs} PutEvents per batch (at most 10 entries a call, 4 calls in flight); ${n} Session Started; `
      + `local EventBridge, n=${runs}`);
  }
}

/**
 * One enforcement run fed one revocation record on a role of its own account, with its events (`SENTINEL_TVM_NAME` set: one
 * `Revocation Enforced`, put at the end of the run) and without (unset), interleaved; each on its own role, so that both
 * roles' deny policies grow alike.
 */
async function enforcerEventsRow(f: Figures, b: Backends, client: EventBridgeClient, eb: LocalEventBridge): Promise<void> {
  const rolePath = '/sentinel-tvm/bench/';
  const roles = { with: `arn:aws:iam::${ACCOUNT}:role${rolePath}bench-Events`, without: `arn:aws:iam::${ACCOUNT}:role${rolePath}bench-NoEvents` };
  const iam = await startLocalIam({ roles: Object.values(roles), account: ACCOUNT });
  const ddb = new DynamoDBClient({ region: REGION, endpoint: b.dynamodbEndpoint, credentials: CREDENTIALS });
  const table = await createTableFromTemplate(SESSION_TABLE_TEMPLATE, `bench-events-${Date.now()}`, ddb, 'Sessions');
  const profiles = new Map(Object.entries(roles).map(([name, roleArn]): [string, ProfileConfig] =>
    [name, { name, roleArn, allowedPrincipals: [ALICE], maxDurationSeconds: 3600 }]));
  const eventsFor = (env: Record<string, string>): EnforcerEvents | undefined => {
    // As the entry point decides: events only when the TVM is named.
    const target = readEventTarget(env);
    return target ? { target, publish: eventPublisher({ client }) } : undefined;
  };
  const deps = (events: EnforcerEvents | undefined): EnforcerDeps => ({
    tableName: table,
    ddb,
    iam: new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: CREDENTIALS }),
    policyName: revokedSessionsPolicyName('bench', REGION),
    protectedRolePath: rolePath,
    account: ACCOUNT,
    loadConfig: async () => ({ profiles }),
    ...(events ? { events } : {}),
  });
  const withEvents = deps(eventsFor({ [Env.TVM_NAME]: TVM_NAME }));
  const without = deps(eventsFor({}));
  if (!withEvents.events || without.events) throw new Error('SENTINEL_TVM_NAME did not decide the events');
  let n = 0;
  const run = async (profile: 'with' | 'without', d: EnforcerDeps): Promise<number> => {
    const { ms, summary } = await timedRevocationRun(ddb, table, ++n, profile, roles[profile], d);
    if (d.events && summary.events?.emitted !== 1) throw new Error(`enforcer events: ${JSON.stringify(summary.events)}`);
    return ms;
  };
  const runs = 40;
  const times = { with: [] as number[], without: [] as number[] };
  let putCalls = 0;
  try {
    await run('with', withEvents);
    await run('without', without);
    for (let i = 0; i < runs; i++) {
      const before = eb.calls.length;
      times.with.push(await run('with', withEvents));
      putCalls += eb.calls.length - before;
      times.without.push(await run('without', without));
    }
  } finally {
    await iam.stop();
    ddb.destroy();
  }
  const p50 = (v: number[]) => f.percentile(v, 50);
  const ratio = (p50(times.with) / p50(times.without)).toFixed(2);
  f.row('enforcer run with events / without, p50', `${f.ms(p50(times.with))} / ${f.ms(p50(times.without))} = ${ratio}`,
    `one revocation record, own account; SENTINEL_TVM_NAME set: 1 Revocation Enforced, ${putCalls / runs} PutEvents per run `
    + `(local EventBridge); unset: none; n=${runs} each, interleaved`);
}
