// The runnable downstream example: examples/downstream-api.ts synthesizes an HTTP API whose route is guarded by
// SentinelSessionAuthorizer; examples/downstream/serve-local.js serves that API on this machine with the bundled authorizer,
// against `sentinel-tvm local`. End to end, each part in its own process: alice's real vended credentials (from local
// mode's STS) sign her identity proof; the relying party admits her live session and refuses it once revoked; the
// session events local mode prints and writes are validated against the schemas the package ships. And local mode's
// events function honours batchItemFailures and the maximum record age as Lambda's event source mapping does.
import { execFileSync, spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { checkBundle, cleanEnv, EXAMPLE_CONFIG, KEYS, removeTempDirs, ROOT, runCli, startLocal, tempDir, type LocalMode } from './support/cli';
import { localDynamoClient, endpoint, uniqueTableName } from './support/dynamodb-local';
import { eventValidator } from './support/event-schemas';
import { CfnResolver, configOf } from './support/synth';
import { ensureTable } from '../cli/local/dynamodb';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge, type ReceivedEntry } from '../cli/local/eventbridge';
import { eventsEnvironment, startLocalEvents, type LocalEvents } from '../cli/local/events';
import { AuthorizerEnv, IdentityProof, SessionEventTypes } from '../src/shared/contract';

const AUDIENCE = 'orders.example.com';
const ACCOUNT = '111122223333';
const READONLY = `arn:aws:iam::${ACCOUNT}:role/ReadOnly`;
type Template = { Resources: Record<string, { Type: string; Properties?: any }> };

describe('GIVEN examples/downstream-api.ts, synthesized as `cdk synth` would', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'downstream-api-'));
  let template: Template;
  const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('ts-node/dist/bin'), '-P', 'test/tsconfig.json', 'examples/downstream-api.ts'], {
      cwd: ROOT,
      env: { ...process.env, CDK_OUTDIR: out, TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: 'pipe',
    });
    template = JSON.parse(fs.readFileSync(path.join(out, 'SentinelTvmDownstream.template.json'), 'utf8'));
  }, 60_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  /** The orders API's GET /orders route, its authorizer and the authorizer's function. */
  const ordersRoute = () => {
    const [[, route]] = resources('AWS::ApiGatewayV2::Route').filter(([, r]) => r.Properties.RouteKey === 'GET /orders');
    const authorizer = template.Resources[route.Properties.AuthorizerId?.Ref];
    const fnId = authorizer?.Properties.AuthorizerUri['Fn::Join'][1].find((p: any) => p['Fn::GetAtt'])['Fn::GetAtt'][0];
    return { route, authorizer, fnId, fn: template.Resources[fnId] };
  };

  test('THEN GET /orders of the orders API is guarded by the session authorizer: the identity header, no API Gateway caching', () => {
    const { route, authorizer, fn } = ordersRoute();
    const [[apiId, api]] = resources('AWS::ApiGatewayV2::Api').filter(([, r]) => r.Properties.Name === 'orders');
    expect(route.Properties).toMatchObject({ ApiId: { Ref: apiId }, AuthorizationType: 'CUSTOM' });
    expect(api.Properties.ProtocolType).toBe('HTTP');
    expect(authorizer).toMatchObject({
      Type: 'AWS::ApiGatewayV2::Authorizer',
      Properties: {
        ApiId: { Ref: apiId },
        AuthorizerType: 'REQUEST',
        AuthorizerPayloadFormatVersion: '2.0',
        EnableSimpleResponses: true,
        IdentitySource: [`$request.header.${IdentityProof.HEADER}`],
        AuthorizerResultTtlInSeconds: 0,
      },
    });
    expect(fn.Type).toBe('AWS::Lambda::Function');
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [AuthorizerEnv.AUDIENCE]: AUDIENCE,
      [AuthorizerEnv.ACTIVE_CACHE_SECONDS]: '30',
      [AuthorizerEnv.ON_STORE_FAILURE]: 'fail_closed',
      [AuthorizerEnv.ALLOWED_PROFILES]: 'prod-readonly',
    });
    // The TVM's URL: its API, in this stack.
    expect(JSON.stringify(fn.Properties.Environment.Variables[AuthorizerEnv.TVM_URL])).toMatch(/"Ref":"TvmApi[0-9A-F]+"/);
  });

  test('THEN the TVM\'s configuration names the authorizer\'s role as a relying party, and no other', () => {
    const { fn } = ordersRoute();
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const resolver = new CfnResolver(template);
    expect(template.Resources[roleId].Type).toBe('AWS::IAM::Role');
    expect(configOf(template, resolver).introspectionPrincipals).toEqual([resolver.arn(roleId)]);
  });

  test('THEN the route\'s backend is examples/downstream/orders.js alone (serve-local.js stays out of the asset)', () => {
    const { route } = ordersRoute();
    const integration = template.Resources[route.Properties.Target['Fn::Join'][1][1].Ref];
    const backendId = integration.Properties.IntegrationUri['Fn::GetAtt'][0];
    const backend = template.Resources[backendId];
    expect(backend.Properties).toMatchObject({ Handler: 'orders.handler', Runtime: 'nodejs22.x' });
    const assets = JSON.parse(fs.readFileSync(path.join(out, 'SentinelTvmDownstream.assets.json'), 'utf8'));
    const asset = assets.files[backend.Properties.Code.S3Key.replace(/\.zip$/, '')];
    expect(asset.source.packaging).toBe('zip');
    expect(fs.readdirSync(path.join(out, asset.source.path))).toEqual(['orders.js']);
  });
});

/** `node examples/downstream/serve-local.js …`, once it has printed its URL. */
interface ServedApi {
  readonly url: string;
  readonly process: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

async function serveLocal(local: LocalMode, args: string[]): Promise<ServedApi> {
  const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'downstream', 'serve-local.js'), '--tvm-url', local.url,
    '--sts-url', local.stsUrl, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += String(d); });
  child.stderr!.on('data', (d) => { stderr += String(d); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve-local.js was not ready within 10 s:\n${stderr}`)), 10_000);
    child.stdout!.on('data', () => {
      const m = /^serve-local: orders API at (http:\/\/\S+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then(() => reject(new Error(`serve-local.js exited before it was ready:\n${stderr}`)));
  });
  return {
    url,
    process: child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** GET /orders with an identity proof (none: no header). */
async function getOrders(url: string, proof?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}orders`, { headers: proof === undefined ? {} : { [IdentityProof.HEADER]: proof } });
  return { status: res.status, body: await res.json() };
}

describe('GIVEN sentinel-tvm local and the orders API served by serve-local.js (active answers never cached)', () => {
  let local: LocalMode;
  let api: ServedApi;
  let eventsFile: string;
  const validate = eventValidator();
  beforeAll(async () => {
    checkBundle();
    eventsFile = path.join(tempDir('downstream-events-'), 'events.jsonl');
    local = await startLocal(['--config', EXAMPLE_CONFIG, '--dynamodb-endpoint', endpoint(), '--table', uniqueTableName('downstream'),
      '--events-file', eventsFile, '--enforce-every', '3600']);
    api = await serveLocal(local, ['--cache-seconds', '0']);
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    await local?.stop();
    removeTempDirs();
  });

  const alice = (extra: Record<string, string> = {}) => cleanEnv({ ...KEYS.alice, ...extra });
  /** An identity proof for `audience`, signed with these credentials by `sentinel-tvm proof`. */
  const proofWith = async (env: Record<string, string>, audience: string) => {
    const res = await runCli(['proof', '--audience', audience, '--region', 'us-east-1'], env);
    expect([res.code, res.stderr]).toEqual([0, '']);
    return res.stdout.trim();
  };
  /** Waits until `done` holds (or 5 s): output arrives on pipes a little after the answers it goes with. */
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  };
  /** The events local mode wrote, by the time `done` holds of them (or 10 s). */
  const eventsWritten = async (done: (events: DeliveredEvent[]) => boolean): Promise<DeliveredEvent[]> => {
    const read = () => fs.readFileSync(eventsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DeliveredEvent);
    for (let i = 0; i < 200 && !done(read()); i++) await new Promise((r) => setTimeout(r, 50));
    return read();
  };

  test('THEN local mode prints the EventBridge URL before its ready line', () => {
    expect(local.stdout()).toMatch(/^sentinel-tvm local: EventBridge at http:\/\/127\.0\.0\.1:\d+\/\nsentinel-tvm local: ready at /m);
  });

  /** A session of the profile, started with the principal's keys: its id, and an environment with its vended credentials. */
  const sessionOf = async (who: 'alice' | 'bob', profile: string): Promise<{ id: string; vended: Record<string, string> }> => {
    const cache = tempDir(`${who}-cache-`);
    const vend = await runCli(['credentials', '--url', local.url, '--profile', profile], cleanEnv({ ...KEYS[who], SENTINEL_TVM_CACHE_DIR: cache }));
    expect(vend.code).toBe(0);
    const creds = JSON.parse(vend.stdout);
    const [file] = fs.readdirSync(cache).filter((f) => f.endsWith('.json'));
    const id = JSON.parse(fs.readFileSync(path.join(cache, file), 'utf8')).sessionId as string;
    const vended = cleanEnv({
      AWS_ACCESS_KEY_ID: creds.AccessKeyId, AWS_SECRET_ACCESS_KEY: creds.SecretAccessKey, AWS_SESSION_TOKEN: creds.SessionToken,
    });
    return { id, vended };
  };

  test('alice\'s live session is admitted with a proof from her vended credentials; refused for another audience, without a '
    + 'session, of another profile, and once revoked; the events name her session', async () => {
    const { id, vended } = await sessionOf('alice', 'prod-readonly');
    // Her vended credentials (the local STS issued them) sign the proof: the TVM has the local STS execute it.
    const proof = await proofWith(vended, AUDIENCE);

    const admitted = await getOrders(api.url, proof);

    expect(admitted).toEqual({
      status: 200,
      body: { message: 'orders of alice', caller: { user: 'alice', sessionId: id, profile: 'prod-readonly', roleArn: READONLY }, orders: [] },
    });
    // A proof of the same session for another service, her own IAM user's proof (no session), none at all.
    expect(await getOrders(api.url, await proofWith(vended, 'billing.example.com'))).toEqual({ status: 403, body: { message: 'Forbidden' } });
    expect(await getOrders(api.url, await proofWith(alice(), AUDIENCE))).toEqual({ status: 403, body: { message: 'Forbidden' } });
    expect(await getOrders(api.url)).toEqual({ status: 401, body: { message: 'Unauthorized' } });
    // A live session of a profile the API does not admit (allowedProfiles).
    const bob = await sessionOf('bob', 'deploy');
    expect(await getOrders(api.url, await proofWith(bob.vended, AUDIENCE))).toEqual({ status: 403, body: { message: 'Forbidden' } });
    expect(await getOrders(api.url, proof)).toMatchObject({ status: 200 });

    const revoke = await runCli(['sessions', 'revoke', id, '--reason', 'laptop stolen', '--url', local.url], cleanEnv(KEYS.admin));
    expect(revoke.code).toBe(0);

    expect(await getOrders(api.url, proof)).toEqual({ status: 403, body: { message: 'Forbidden' } });
    expect(await getOrders(api.url, await proofWith(vended, AUDIENCE))).toEqual({ status: 403, body: { message: 'Forbidden' } });
    // The bundled authorizer decided each: asked the TVM every time (cache 0), active only before the revoke.
    const decisionLines = () => api.stderr().split('\n').filter((l) => l.startsWith('serve-local: authorizer: {'));
    await until(() => decisionLines().length >= 7);
    const decisions = decisionLines().map((l) => JSON.parse(l.slice('serve-local: authorizer: '.length)));
    expect(decisions.map((d) => [d.message, d.active, d.fromCache, d.sessionId, d.error])).toEqual([
      ['authorizer decision', true, false, id, undefined],
      ['authorizer decision', false, false, undefined, undefined],
      ['authorizer decision', false, false, undefined, undefined],
      ['authorizer decision', true, false, bob.id, 'PROFILE_NOT_ALLOWED'],
      ['authorizer decision', true, false, id, undefined],
      ['authorizer decision', false, false, undefined, undefined],
      ['authorizer decision', false, false, undefined, undefined],
    ]);

    const types = [SessionEventTypes.SESSION_STARTED, SessionEventTypes.SESSION_REVOKED, SessionEventTypes.REVOCATION_ENFORCED];
    const ofSession = (events: DeliveredEvent[]) => events.filter((e) => e.detail.sessionId === id);
    const events = ofSession(await eventsWritten((all) => types.every((t) => ofSession(all).some((e) => e['detail-type'] === t))));
    expect(events.map((e) => e['detail-type']).sort()).toEqual([...types].sort());
    for (const e of events) expect([e['detail-type'], validate(e)]).toEqual([e['detail-type'], []]);
    const byType = Object.fromEntries(events.map((e) => [e['detail-type'], e]));
    expect(byType[SessionEventTypes.SESSION_STARTED]).toMatchObject({
      source: 'sentinel-tvm',
      account: ACCOUNT,
      region: 'us-east-1',
      detail: { tvmName: 'sentinel-tvm-local', user: 'alice', profile: 'prod-readonly', roleArn: READONLY },
    });
    expect(byType[SessionEventTypes.SESSION_REVOKED].detail).toMatchObject({
      reason: 'laptop stolen', revokedBy: expect.stringMatching(/SecurityOps\/jane$/),
    });
    expect(byType[SessionEventTypes.REVOCATION_ENFORCED].detail).toMatchObject({
      roleArn: READONLY, account: ACCOUNT, mechanism: 'role-policy', delayMs: expect.any(Number),
    });
    // Each is printed on stderr, one line, its detail exactly as written.
    for (const e of events) {
      const prefix = `sentinel-tvm local: event: ${e['detail-type']} `;
      const lineOf = () => local.stderr().split('\n').find((l) => l.startsWith(prefix) && l.includes(`"sessionId":"${id}"`));
      await until(() => lineOf() !== undefined);
      const line = lineOf();
      expect(JSON.parse(line!.slice(prefix.length))).toEqual(e.detail);
    }
  }, 30_000);
});

describe('GIVEN local mode\'s events function on a session table\'s stream, and an EventBridge that fails some entries', () => {
  const BUNDLE = path.join(ROOT, 'assets', 'lambda', 'events.lambda', 'index.js');
  let ddb: DynamoDBClient;
  let table: string;
  let eb: LocalEventBridge;
  let events: LocalEvents;
  let delivered: DeliveredEvent[];
  /** Local mode's lines about the function (not the function's own JSON lines). */
  let logs: { line: string; level: string }[];
  /** Entries failed until the predicate says otherwise, with a code the publisher does not retry itself. */
  let failing: (entry: ReceivedEntry) => boolean;
  beforeAll(async () => {
    ddb = localDynamoClient();
    table = uniqueTableName('local-events');
    await ensureTable(ddb, table);
    delivered = [];
    logs = [];
    failing = () => false;
    eb = await startLocalEventBridge({ account: ACCOUNT, onEvent: (e) => delivered.push(e) });
    eb.failEntries((entry) => failing(entry), 'AccessDeniedException');
    events = await startLocalEvents({
      bundle: BUNDLE,
      region: 'us-east-1',
      account: ACCOUNT,
      tableName: table,
      ddb,
      endpoint: endpoint(),
      pollMs: 20,
      maxRecordAgeMs: 2_500,
      log: (line, level) => {
        if (!line.startsWith('{')) logs.push({ line, level });
      },
      env: {
        ...eventsEnvironment(),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDLOCALEVENTS',
        AWS_SECRET_ACCESS_KEY: 'local-events-not-a-secret',
        AWS_ENDPOINT_URL_EVENTBRIDGE: eb.endpoint,
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_EC2_METADATA_DISABLED: 'true',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'WARN',
      },
    });
  }, 30_000);
  afterAll(async () => {
    await events?.stop();
    await eb?.stop();
    ddb?.destroy();
  });

  let n = 0;
  /** A session started (its item written as the vending function writes it); its id. */
  const start = async (): Promise<string> => {
    const id = `${'ab'.repeat(7)}${(++n).toString(16).padStart(2, '0')}`;
    const at = new Date().toISOString();
    const s = (v: string) => ({ S: v });
    await ddb.send(new PutItemCommand({
      TableName: table,
      Item: {
        id: s(id),
        user: s('alice'),
        principal_arn: s(`arn:aws:iam::${ACCOUNT}:user/alice`),
        account_id: s(ACCOUNT),
        profile: s('prod-readonly'),
        role_arn: s(READONLY),
        source_identity: s('sentinel.alice'),
        status: s('active'),
        started_at: s(at),
        expires_at: s(at),
        created_at: s(at),
      },
    }));
    return id;
  };
  const startedOf = (id: string) => delivered.filter((e) => e.detail.sessionId === id && e['detail-type'] === SessionEventTypes.SESSION_STARTED);
  const waitFor = async (done: () => boolean) => {
    for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
  };
  const detailOf = (entry: ReceivedEntry) => JSON.parse(String(entry.Detail ?? '{}'));

  test('WHEN an entry fails once THEN its record is delivered again and the event arrives', async () => {
    let failures = 0;
    failing = (entry) => detailOf(entry).sessionId?.endsWith('01') && failures++ === 0;

    const id = await start();

    await waitFor(() => startedOf(id).length > 0);
    expect(startedOf(id)).toHaveLength(1);
    expect(failures).toBe(2);
    expect(logs.filter((l) => l.level === 'WARN').map((l) => l.line)).toEqual(expect.arrayContaining([
      'events function: it reported 1 record(s) failed; delivering them again (retry 1)',
    ]));
  });

  test('WHEN an entry keeps failing THEN its record is delivered again until it is older than the maximum record age, then skipped; '
    + 'the records after it arrive', async () => {
    let failures = 0;
    failing = (entry) => {
      const failed = detailOf(entry).sessionId?.endsWith('02');
      if (failed) failures++;
      return failed;
    };
    const stuck = await start();
    const behind = await start();

    await waitFor(() => logs.some((l) => l.level === 'ERROR'));
    const after = await start();
    await waitFor(() => startedOf(after).length > 0);

    expect(startedOf(stuck)).toEqual([]);
    expect(failures).toBeGreaterThan(2);
    expect(logs.filter((l) => l.level === 'ERROR').map((l) => l.line)).toEqual([
      // The record behind it may have aged out with it.
      expect.stringMatching(/^events function: [12] stream record\(s\) older than 2\.5 s skipped, never delivered: sequence numbers \d+(, \d+)?$/),
    ]);
    // At least once: a record delivered with a failed one before it comes again with it.
    expect(startedOf(behind).length).toBeGreaterThan(0);
    expect(startedOf(after)).toHaveLength(1);
  });
});
