// `npm run bench`: figures of the vending path against local backends, measured in one run and printed as a table.
// Not a test: nothing here asserts; compare ratios, this machine is noisy.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { activityRows } from './activity';
import { clientCacheRows } from './client-cache';
import { countingProxy } from './counting-proxy';
import { eventRows } from './events';
import { gatedRows } from './gated';
import { introspectionRows } from './introspection';
import { timedRevocationRun } from './revocation-run';
import { IdentityVerifier, httpSend } from '../lambda/auth/proof';
import type { EnforcerDeps } from '../lambda/enforcer/enforce';
import { spokeIamClients } from '../lambda/enforcer/spokes';
import { createHandler } from '../lambda/handler';
import { PrincipalMatcher } from '../lambda/match';
import { readSettings } from '../lambda/settings';
import { revokedSessionsPolicyName, type ProfileConfig } from '../src/shared/contract';
import { cleanEnv, EXAMPLE_CONFIG, KEYS, removeTempDirs, startLocal } from '../test/support/cli';
import { sendRequest, signRequest } from '../test/support/cli-sign';
import { createTableFromTemplate, ENDPOINT_VAR, SESSION_TABLE_TEMPLATE, startDynamoDbLocal } from '../test/support/dynamodb-local';
import { startLocalIam } from '../test/support/local-iam';
import { startLocalSts, type LocalSts } from '../test/support/local-sts';
import { ALICE, AUDIENCE, CREDENTIALS, createFixture, event, proven } from '../test/support/tvm-fixture';

const ROOT = path.join(__dirname, '..');
const ASSETS = path.join(ROOT, 'assets');
const rows: [string, string, string][] = [];
const row = (what: string, value: string, note = '') => {
  rows.push([what, value, note]);
  process.stderr.write(`  ${what}: ${value}\n`);
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (v: number) => `${v.toFixed(2)} ms`;

/** Median of N fresh Node.js processes timing `require` of the given modules. */
function coldRequire(modules: string[], runs: number): number {
  const script = `const t=process.hrtime.bigint();${modules.map((m) => `require(${JSON.stringify(m)});`).join('')}`
    + 'process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))';
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(Number(execFileSync(process.execPath, ['-e', script], {
      cwd: ROOT,
      env: {
        ...process.env,
        AWS_REGION: 'us-east-1',
        SENTINEL_TABLE_NAME: 'bench',
        SENTINEL_CONTROL_TABLE_NAME: 'bench-control',
        SENTINEL_AUDIENCES: 'bench.example',
        NODE_OPTIONS: '',
      },
    }).toString()));
  }
  return percentile(times, 50);
}

async function main() {
  process.stderr.write(`bench: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node.js ${process.version}\n`);
  // `BENCH_ONLY=enforcer`: the enforcer's row alone (seconds, where the whole bench takes minutes).
  if (process.env.BENCH_ONLY === 'enforcer') return onlyEnforcer();
  // `BENCH_ONLY=introspection` or `events`: those rows alone.
  if (process.env.BENCH_ONLY === 'introspection' || process.env.BENCH_ONLY === 'events') return onlyRelyingParties(process.env.BENCH_ONLY);
  // `BENCH_ONLY=gated`: gated access alone (approvals, break-glass, access windows).
  if (process.env.BENCH_ONLY === 'gated') return onlyGated();
  // `BENCH_ONLY=activity`: sessions activity and tamper judgement alone (no DynamoDB needed).
  if (process.env.BENCH_ONLY === 'activity') {
    await activityRows({ row, percentile, ms });
    return printTable();
  }
  // 0. Principal matching worst case (review L4), first: it needs no backend.
  matchWorstCase();
  const db = await startDynamoDbLocal();
  process.env[ENDPOINT_VAR] = db.endpoint;
  const sts = await startLocalSts();
  const proxy = await countingProxy(db.endpoint);
  try {
    // 1. DynamoDB requests per vend, counted at the wire.
    const fx = await createFixture();
    const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint: proxy.endpoint, credentials: CREDENTIALS });
    const stsClient = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials: CREDENTIALS });
    const settings = readSettings(fx.env);
    const verifierFor = (send = httpSend) => new IdentityVerifier({ audiences: [AUDIENCE], region: 'us-east-1', endpoint: sts.endpoint, send });
    const handler = createHandler({ settings, ddb, sts: stsClient, log: () => undefined, verifier: verifierFor() });
    // A SigV4 signature is the same within one second: proofs signed seconds apart, as separate client runs make them.
    let signedAt = Date.now() - 60_000;
    const vendEvent = (headers: Record<string, string> = {}) =>
      proven(sts, event({ query: { profile: 'readonly' }, headers }), new Date(signedAt += 1000));
    proxy.take();
    const stsBefore = { assume: sts.calls.length, identity: sts.identityCalls.length };
    const first = JSON.parse((await handler(await vendEvent())).body).SessionId;
    const cold = proxy.take();
    await handler(await vendEvent());
    const warmNew = proxy.take();
    await handler(await vendEvent({ 'x-sentinel-session-id': first }));
    const continued = proxy.take();
    const freshSts = { assume: sts.calls.length - stsBefore.assume, identity: sts.identityCalls.length - stsBefore.identity };
    // The same proof twice (a client reusing its proof within 5 minutes): the second is answered from the verifier's cache.
    const reused = await vendEvent({ 'x-sentinel-session-id': first });
    await handler(reused);
    const beforeReuse = { assume: sts.calls.length, identity: sts.identityCalls.length };
    await handler(reused);
    row('STS requests per vend, fresh identity proof', `${(freshSts.identity + freshSts.assume) / 3}`,
      `${freshSts.identity / 3} GetCallerIdentity (the identity proof, review H1) + ${freshSts.assume / 3} AssumeRole`);
    row('STS requests per vend, reused proof', `${sts.identityCalls.length - beforeReuse.identity + sts.calls.length - beforeReuse.assume}`,
      'a proof is cached (per container) until it is 5 minutes old: only the AssumeRole');
    const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
    const describe = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ');
    row('DynamoDB requests, new session', String(total(warmNew)), `${describe(warmNew)} (target 1; Sentinel's Go TVM: 3)`);
    row('DynamoDB requests, continued session', String(total(continued)), `${describe(continued)} (target 1)`);
    row('DynamoDB requests, first vend of a container', String(total(cold)), `${describe(cold)}: the profile configuration (manifest, then its chunks), once`);

    // 2. Bundle sizes and cold module initialisation.
    for (const dir of fs.readdirSync(path.join(ASSETS, 'lambda'))) {
      const size = fs.statSync(path.join(ASSETS, 'lambda', dir, 'index.js')).size;
      row(`bundle ${dir}`, `${(size / 1024).toFixed(1)} KB`, dir.startsWith('vend') ? 'minified, SDK included (budget 345 KB)' : dir.startsWith('access') ? 'minified, IAM client included' : 'minified');
    }
    const runs = 15;
    const bundleInit = coldRequire([path.join(ASSETS, 'lambda', 'vend.lambda', 'index.js')], runs);
    const naiveInit = coldRequire(['@aws-sdk/client-dynamodb', '@aws-sdk/client-sts'], runs);
    row('cold init, vending bundle', ms(bundleInit), `median of ${runs} fresh processes`);
    row('cold init, naive require of both SDK clients', ms(naiveInit), `median of ${runs} fresh processes`);
    row('cold init ratio bundle / naive', (bundleInit / naiveInit).toFixed(2), 'target <= 0.6');
    // The bundle also constructs its two clients at load (Lambda best practice); the like-for-like baseline does too.
    const naiveWithClients = coldRequire(['./bench/naive-clients.js'], runs);
    row('cold init, naive require + constructing both clients', ms(naiveWithClients), `median of ${runs} fresh processes`);
    row('cold init ratio bundle / naive with clients', (bundleInit / naiveWithClients).toFixed(2), 'like for like');

    // 3. Warm handler overhead: handler time minus time inside DynamoDB and STS calls.
    let backend = 0;
    const timed = <T extends { send: (...a: any[]) => Promise<any> }>(client: T): T => {
      const send = client.send.bind(client);
      (client as any).send = async (...args: any[]) => {
        const t = performance.now();
        try {
          return await send(...args);
        } finally {
          backend += performance.now() - t;
        }
      };
      return client;
    };
    const direct = timed(new DynamoDBClient({ region: 'us-east-1', endpoint: db.endpoint, credentials: CREDENTIALS }));
    let identityMs = 0;
    const timedSend: typeof httpSend = async (r) => {
      const t = performance.now();
      try {
        return await httpSend(r);
      } finally {
        identityMs += performance.now() - t;
        backend += performance.now() - t;
      }
    };
    // A verifier without memory, so that every vend pays the GetCallerIdentity a fresh proof costs.
    const uncached = { verify: (header: string | undefined) => verifierFor(timedSend).verify(header) } as unknown as IdentityVerifier;
    const warm = createHandler({ settings, ddb: direct, sts: timed(stsClient), log: () => undefined, verifier: uncached });
    const id = JSON.parse((await warm(await vendEvent())).body).SessionId;
    const overhead: number[] = [];
    const ratios: number[] = [];
    const identity: number[] = [];
    const n = 2000;
    // Each vend verifies its proof with STS, as for a new credential_process run; signing is the client's work, done beforehand.
    const proof = await proven(sts, event({ userArn: ALICE, query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': id } }));
    const events = Array.from({ length: n + 200 }, () => proof);
    for (let i = 0; i < n + 200; i++) {
      backend = 0;
      identityMs = 0;
      const t = performance.now();
      const res = await warm(events[i]);
      const elapsed = performance.now() - t;
      if (res.statusCode !== 200) throw new Error(`vend failed: ${res.body}`);
      if (i < 200) continue; // warm-up
      overhead.push(elapsed - backend);
      ratios.push(elapsed / backend);
      identity.push(identityMs);
    }
    row('warm handler overhead p50', ms(percentile(overhead, 50)), `continued vends, n=${n} (target p50 <= 1 ms)`);
    row('warm handler overhead p99', ms(percentile(overhead, 99)), `n=${n}`);
    row('end-to-end / backend calls, p50', percentile(ratios, 50).toFixed(3), 'handler latency over the sum of its DynamoDB and STS calls');
    row('identity proof round trip p50 / p99', `${ms(percentile(identity, 50))} / ${ms(percentile(identity, 99))}`,
      'the GetCallerIdentity the handler sends per fresh proof (to the local STS: in AWS, an STS round trip in-region)');
    const verifier = verifierFor();
    const cachedProof = (await proven(sts, event({ userArn: ALICE }))).headers['x-sentinel-identity']!;
    await verifier.verify(cachedProof);
    const lookups: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const t = performance.now();
      await verifier.verify(cachedProof);
      lookups.push(performance.now() - t);
    }
    row('identity proof, cached, p50', `${(percentile(lookups, 50) * 1000).toFixed(1)} µs`,
      'a proof seen before in this container (parse, checks, SHA-256 lookup), n=5000');

    // 3a. Gated access: the gated vend beside a standing one, and the checks it adds.
    await gatedRows({ row, percentile, ms }, { sts, dynamodbEndpoint: db.endpoint, proxy });

    // 3b. The revocation enforcer in a spoke account (issue 12) against its own account.
    await enforcerAccountsRow(db.endpoint, sts);

    // 4. Throughput of `sentinel-tvm local` (separate process): signed continued vends at several concurrencies.
    await localThroughput(db.endpoint);

    // 5. The client's credential cache (issue 11): vends per AWS CLI call through credential_process, a cache hit's time.
    await clientCacheRows(db.endpoint, { row, percentile, ms });

    // 6. Introspection and the session verifier (issue 13): latency and requests per introspection, cache hit and miss.
    await introspectionRows({ row, percentile, ms }, { fx, sts, dynamodbEndpoint: db.endpoint, proxy });

    // 7. Session events (issue 13): no EventBridge request from a vend, the events function per batch, the enforcer's events.
    await eventRows({ row, percentile, ms }, { fx, sts, dynamodbEndpoint: db.endpoint, proxy });

    // 8. CloudTrail correlation and tamper detection (issue 14): sessions activity at LookupEvents' quota; a tamper judgement.
    await activityRows({ row, percentile, ms });
  } finally {
    await proxy.close();
    await sts.stop();
    await db.stop();
    removeTempDirs();
  }

  printTable();
}

function printTable(): void {
  const width = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))];
  process.stdout.write(`\n| figure | value | note |\n|---|---|---|\n${rows.map(([a, b, c]) => `| ${a.padEnd(width[0])} | ${b.padEnd(width[1])} | ${c} |`).join('\n')}\n`);
}

async function onlyEnforcer(): Promise<void> {
  const db = await startDynamoDbLocal();
  const sts = await startLocalSts();
  try {
    await enforcerAccountsRow(db.endpoint, sts);
  } finally {
    await sts.stop();
    await db.stop();
  }
  printTable();
}

async function onlyGated(): Promise<void> {
  const db = await startDynamoDbLocal();
  process.env[ENDPOINT_VAR] = db.endpoint;
  const sts = await startLocalSts();
  const proxy = await countingProxy(db.endpoint);
  try {
    await gatedRows({ row, percentile, ms }, { sts, dynamodbEndpoint: db.endpoint, proxy });
  } finally {
    await proxy.close();
    await sts.stop();
    await db.stop();
  }
  printTable();
}

async function onlyRelyingParties(which: 'introspection' | 'events'): Promise<void> {
  const db = await startDynamoDbLocal();
  process.env[ENDPOINT_VAR] = db.endpoint;
  const sts = await startLocalSts();
  const proxy = await countingProxy(db.endpoint);
  try {
    const backends = { fx: await createFixture(), sts, dynamodbEndpoint: db.endpoint, proxy };
    if (which === 'introspection') await introspectionRows({ row, percentile, ms }, backends);
    else await eventRows({ row, percentile, ms }, backends);
  } finally {
    await proxy.close();
    await sts.stop();
    await db.stop();
  }
  printTable();
}

/**
 * One enforcement run fed one revocation record, on a role of the enforcer's own account and on a role of a spoke account
 * (its enforcement role's credentials cached, or assumed first: a cold container, or every 10 minutes), against
 * DynamoDB Local, the local STS and the multi-account local IAM. Runs interleaved, so that noise hits all three alike.
 */
async function enforcerAccountsRow(dynamodbEndpoint: string, sts: LocalSts): Promise<void> {
  const hub = '111122223333';
  const spoke = '444455556666';
  const rolePath = '/sentinel-tvm/bench/';
  const ownRole = `arn:aws:iam::${hub}:role${rolePath}bench-Own`;
  const spokeRole = `arn:aws:iam::${spoke}:role${rolePath}bench-Spoke`;
  const iam = await startLocalIam({ roles: [ownRole, spokeRole], account: hub, issued: (id) => sts.issued(id) });
  const ddb = new DynamoDBClient({ region: 'us-east-1', endpoint: dynamodbEndpoint, credentials: CREDENTIALS });
  const table = await createTableFromTemplate(SESSION_TABLE_TEMPLATE, `bench-enforcer-${Date.now()}`, ddb, 'Sessions');
  const profiles = new Map([['own', ownRole], ['spoke', spokeRole]].map(([name, roleArn]): [string, ProfileConfig] =>
    [name, { name, roleArn, allowedPrincipals: [`arn:aws:iam::${hub}:user/alice`], maxDurationSeconds: 3600 }]));
  const stsClient = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials: CREDENTIALS });
  const spokeClients = () => spokeIamClients({
    sts: stsClient,
    spokeRole: 'sentinel-tvm-runtime/bench/bench-spoke-us-east-1',
    iamClient: (credentials) => new IAMClient({ region: 'us-east-1', endpoint: iam.endpoint, credentials }),
  });
  const deps = (iamFor = spokeClients()): EnforcerDeps => ({
    tableName: table,
    ddb,
    iam: new IAMClient({ region: 'us-east-1', endpoint: iam.endpoint, credentials: CREDENTIALS }),
    iamFor,
    policyName: revokedSessionsPolicyName('bench', 'us-east-1'),
    protectedRolePath: rolePath,
    account: hub,
    loadConfig: async () => ({ profiles }),
  });
  const warmDeps = deps();
  let n = 0;
  /** Revokes a new session of the role, and times the run its stream record triggers. */
  const run = async (role: string, d: EnforcerDeps): Promise<number> =>
    (await timedRevocationRun(ddb, table, ++n, role === ownRole ? 'own' : 'spoke', role, d)).ms;
  const times = { own: [] as number[], cached: [] as number[], assumed: [] as number[] };
  const runs = 40;
  try {
    await run(ownRole, warmDeps);
    await run(spokeRole, warmDeps);
    for (let i = 0; i < runs; i++) {
      times.own.push(await run(ownRole, warmDeps));
      times.cached.push(await run(spokeRole, warmDeps));
      times.assumed.push(await run(spokeRole, deps()));
    }
  } finally {
    await iam.stop();
    ddb.destroy();
  }
  const p50 = (v: number[]) => percentile(v, 50);
  row('enforcer run, own account / spoke / spoke + AssumeRole, p50',
    `${ms(p50(times.own))} / ${ms(p50(times.cached))} / ${ms(p50(times.assumed))}`,
    'one revocation record, one role (GetRolePolicy, ListRolePolicies, PutRolePolicy); spoke: its enforcement role\'s credentials cached, '
    + `or assumed first (a cold container, then every 10 minutes); local endpoints, n=${runs} each`);
}

async function localThroughput(dynamodbEndpoint: string): Promise<void> {
  const local = await startLocal(['--config', EXAMPLE_CONFIG, '--dynamodb-endpoint', dynamodbEndpoint, '--table', `bench-${Date.now()}`,
    '--log-level', 'WARN'], cleanEnv());
  const alice = { accessKeyId: KEYS.alice.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.alice.AWS_SECRET_ACCESS_KEY };
  const vend = async (sessionId?: string) => {
    const signed = await signRequest(local.url, alice, {
      query: { profile: 'prod-readonly' },
      headers: sessionId ? { 'x-sentinel-session-id': sessionId } : {},
    });
    const res = await sendRequest(local.url, signed);
    if (res.status !== 200) throw new Error(`local vend failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.SessionId as string;
  };
  try {
    for (const concurrency of [1, 8, 32]) {
      const sessions = await Promise.all(Array.from({ length: concurrency }, () => vend()));
      const perWorker = Math.ceil(1200 / concurrency);
      const latencies: number[] = [];
      const t0 = performance.now();
      await Promise.all(sessions.map(async (id) => {
        for (let i = 0; i < perWorker; i++) {
          const t = performance.now();
          await vend(id);
          latencies.push(performance.now() - t);
        }
      }));
      const seconds = (performance.now() - t0) / 1000;
      row(`local mode, concurrency ${concurrency}`, `${(latencies.length / seconds).toFixed(0)} vends/s`,
        `p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, n=${latencies.length}, signed, continued sessions`);
    }
    const status = fs.readFileSync(`/proc/${local.process.pid}/status`, 'utf8');
    const peak = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    row('local mode peak RSS', peak ? `${(Number(peak) / 1024).toFixed(0)} MB` : 'n/a',
      'front door, handler and local STS in one Node.js process (VmHWM)');
  } finally {
    await local.stop();
  }
}

function matchWorstCase(): void {
  const matcher = new PrincipalMatcher(['arn:aws:iam::111122223333:user/*/*/*/*/*/*/alice']);
  const arn = `arn:aws:iam::111122223333:user/${'a/'.repeat(250)}bob`;
  const runs = 20000;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    if (matcher.matches(arn)) throw new Error('the L4 pattern matched bob');
    times.push(performance.now() - t);
  }
  row('principal match, L4 worst case', `${(percentile(times, 50) * 1000).toFixed(1)} µs`,
    `user/*/*/*/*/*/*/alice against a ${arn.length}-character user ARN, median of ${runs} (the old regexes took seconds, review L4)`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
