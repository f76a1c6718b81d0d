// The gated-access commands and credential_process while a grant is pending, in process, against the real handler with
// the access routes (DynamoDB Local, identity proofs checked by the local STS), served over HTTP by local mode's front
// door, which checks each request's SigV4 signature as API Gateway would.
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { POLL_TIMING, type AccessIo, type Terminal } from '../cli/access-commands';
import { cacheFile, readEntry, writeSession } from '../cli/cache';
import { startFrontDoor, type FrontDoor } from '../cli/local/front-door';
import { main } from '../cli/sentinel-tvm';
import { accessRoutes } from '../lambda/access/routes';
import { IdentityVerifier } from '../lambda/auth/proof';
import { Approval, Approvers, BreakGlass, Justification, PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import { cleanEnv, removeTempDirs, runCli, type CliResult } from './support/cli';
import { sendRequest, signRequest } from './support/cli-sign';
import { localDynamoClient } from './support/dynamodb-local';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, ADMIN, createFixtureFrom, stsClient, type Fixture } from './support/tvm-fixture';

const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const PEOPLE = {
  alice: user('dev-alice'),
  walt: user('dev-walt'),
  dora: user('dev-dora'),
  tess: user('dev-tess'),
  dan: user('dev-dan'),
  hugo: user('dev-hugo'),
  bob: user('approver-bob'),
  carol: user('approver-carol'),
  dana: user('oncall-dana'),
  erin: user('security-erin'),
} as const;
type Who = keyof typeof PEOPLE;
const REASON = 'rotate the prod database password';
/** Clear the screen, a one-byte CSI, a carriage return, a bell and a newline: what a table writer could put in a reason. */
const HOSTILE = 'ok\u001b[2J\u009b31m\r\u0007\nfake line';
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function template(): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
  tvm.addProfile('prod', {
    role: new ProtectedRole(stack, 'ReadOnly', { tvm }),
    allowedPrincipals: [P(user('dev-*'))],
    approval: Approval.required({
      approvers: Approvers.principals([P(user('approver-*'))]),
      minApprovals: 2,
      maxDuration: Duration.hours(4),
      justification: Justification.required({ minLength: 10 }),
    }),
    breakGlass: BreakGlass.allow({
      principals: [P(PEOPLE.dana)],
      reviewers: Approvers.principals([P(PEOPLE.erin)]),
      reason: Justification.required({ minLength: 20 }),
      maxDuration: Duration.hours(1),
    }),
  });
  return app.synth().getStackByName('Fixture').template;
}

let sts: LocalSts;
let fx: Fixture;
let door: FrontDoor;
/** What reached the TVM, in order. */
const received: { method: string; path: string; arn: string }[] = [];
const keys = {} as Record<Who, { accessKeyId: string; secretAccessKey: string }>;
const envs = {} as Record<Who, Record<string, string>>;
const savedTiming = { ...POLL_TIMING };

beforeAll(async () => {
  sts = await startLocalSts();
  fx = await createFixtureFrom(template(), localDynamoClient());
  const byKey = new Map<string, { secretAccessKey: string; arn: string }>();
  for (const [who, arn] of Object.entries(PEOPLE) as [Who, string][]) {
    keys[who] = sts.principal(arn);
    byKey.set(keys[who].accessKeyId, { secretAccessKey: keys[who].secretAccessKey, arn });
    envs[who] = cleanEnv();
  }
  let handler: ((e: any) => Promise<any>) | undefined;
  door = await startFrontDoor({
    region: 'us-east-1',
    accountId: ACCOUNT,
    lookup: (id) => byKey.get(id),
    handler: (e: any) => {
      received.push({ method: e.requestContext.http.method, path: e.rawPath, arn: e.requestContext.authorizer.iam.userArn });
      // The TVM's audience is the front door's host, as in local mode.
      handler ??= fx.handler({
        sts: stsClient(sts.endpoint),
        routes: accessRoutes(async () => undefined, ACCOUNT),
        verifier: new IdentityVerifier({ audiences: [new URL(door.url).host], region: 'us-east-1', endpoint: sts.endpoint }),
      });
      return handler(e);
    },
  });
  // Waits poll every 5 s in real use.
  Object.assign(POLL_TIMING, { firstMs: 40, maxMs: 80 });
});
afterAll(async () => {
  Object.assign(POLL_TIMING, savedTiming);
  await door?.stop();
  await sts?.stop();
  removeTempDirs();
});

/** `sentinel-tvm ARGS --url <front door>` in this process, signed as `who`, with a terminal or none. */
async function cli(who: Who, args: readonly string[], tty: Terminal | null = null): Promise<CliResult> {
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: keys[who].accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys[who].secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  let stdout = '';
  let stderr = '';
  try {
    const io: AccessIo = { env: envs[who], out: (t) => { stdout += t; }, err: (t) => { stderr += t; }, terminal: tty };
    return { code: await main([...args, '--url', door.url], io), stdout, stderr };
  } finally {
    // `credentials` records itself in SENTINEL_TVM_CREDENTIAL_CHAIN: the next run must not see it.
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** A signed call to the TVM as `who`, outside the command (while a command waits). */
async function api(who: Who, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const signed = await signRequest(door.url, keys[who], { method, path, body: body === undefined ? undefined : JSON.stringify(body) });
  return sendRequest(door.url, signed);
}

const fileOf = (who: Who) => cacheFile(new URL(door.url), 'prod', envs[who]);
const cached = (who: Who) => readEntry(fileOf(who));

/** Resolves once `f` returns a value (polled), or fails after 10 s. */
async function until<T>(f: () => T | undefined): Promise<T> {
  for (const start = Date.now(); Date.now() - start < 10_000; await new Promise((r) => setTimeout(r, 20))) {
    const v = f();
    if (v !== undefined) return v;
  }
  throw new Error('timed out');
}

/** A terminal answering `answers` in turn, recording the questions. */
function terminal(...answers: string[]): Terminal & { questions: string[] } {
  const questions: string[] = [];
  return { questions, ask: async (q) => { questions.push(q); return answers.shift() ?? ''; } };
}

const since = () => received.length;
const sentSince = (mark: number) => received.slice(mark);

describe('GIVEN a profile that needs two approvals, and a requester without a grant', () => {
  let id: string;

  test('WHEN credential_process runs THEN it exits 1 at once with one block naming the request command, asking nothing', async () => {
    const res = await cli('alice', ['credentials', '--profile', 'prod']);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toContain('APPROVAL_REQUIRED');
    expect(res.stderr).toContain(`sentinel-tvm request --profile prod --reason "…" --url ${door.url}`);
    // Alice may not break glass: the TVM's message does not offer it, so neither does the command.
    expect(res.stderr).not.toMatch(/breakglass/);
    expect(cached('alice')).toBeUndefined();
  });

  test('refuses a request without --reason and without a terminal when the profile requires one: exit 2, nothing filed', async () => {
    const res = await cli('alice', ['request', '--profile', 'prod']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^sentinel-tvm: --reason is required for profile prod: .*at least 10 characters/);
    expect((await api('alice', 'GET', '/requests')).body.Requests).toEqual([]);
    expect(cached('alice')).toBeUndefined();
  });

  test('WHEN she requests THEN the request is printed, and its id is in the credentials cache', async () => {
    const res = await cli('alice', ['request', '--profile', 'prod', '--duration', '2h', '--reason', REASON]);
    expect(res.code).toBe(0);
    id = /request: +([0-9a-f]{16})/.exec(res.stdout)![1];
    expect(res.stdout).toMatch(/status: +pending/);
    expect(res.stdout).toMatch(/approvals: +0 of 2/);
    expect(res.stdout).toMatch(/window: +2h from its approval/);
    expect(res.stdout).toMatch(/deadline: +\d{4}-/);
    expect(cached('alice')).toMatchObject({ sessionId: id, grant: 'approval' });
    expect(await fx.item(id)).toMatchObject({ status: 'pending', requested_seconds: 7200, request_reason: REASON });
  });

  test('WHEN the bundled command shows it THEN the entry bundle dispatches to heavy.js, and approve refuses a missing --yes', async () => {
    const env = { ...cleanEnv(), AWS_ACCESS_KEY_ID: keys.bob.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.bob.secretAccessKey };
    const shown = await runCli(['requests', 'get', id, '--url', door.url], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`request: +${id}\n`));
    expect(shown.stdout).toMatch(/digest: +[0-9a-f]{16}/);
    const mark = since();
    expect(await runCli(['approve', id, '--url', door.url], env)).toMatchObject({ code: 2, stdout: '' });
    expect(sentSince(mark)).toEqual([]);
  });

  test('WHEN credential_process runs while it waits THEN it fails fast with APPROVAL_PENDING, naming the request', async () => {
    const mark = since();
    const started = Date.now();
    const res = await cli('alice', ['credentials', '--profile', 'prod']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toContain('APPROVAL_PENDING');
    expect(res.stderr).toContain(`sentinel-tvm requests get ${id}`);
    expect(sentSince(mark).map((r) => r.path)).toEqual(['/']);
    expect(cached('alice')?.sessionId).toBe(id);
  });

  test('refuses to approve without --yes when there is no terminal: exit 2, and nothing is sent', async () => {
    const mark = since();
    const res = await cli('bob', ['approve', id]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/add --yes/);
    expect(sentSince(mark)).toEqual([]);
    expect(await fx.item(id)).toMatchObject({ approval_count: 0 });
  });

  test('WHEN two approvers approve (--yes) THEN each sees the request first, and the second approval approves it', async () => {
    const first = await cli('bob', ['approve', id, '--comment', 'ok for the rotation', '--yes']);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`requester: ${PEOPLE.alice}`);
    expect(first.stderr).toMatch(new RegExp(`reason: +${REASON}`));
    expect(first.stderr).toMatch(/role: +arn:aws:iam::/);
    expect(first.stderr).toMatch(/your approval is recorded \(1 of 2\)/);
    const second = await cli('carol', ['approve', id, '--yes']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/status: +approved/);
    expect(second.stdout).toContain(`${PEOPLE.bob} at `);
    expect(await fx.item(id)).toMatchObject({ status: 'approved', approval_count: 2 });
  });

  test('WHEN credential_process runs again THEN it activates the grant and prints its credentials', async () => {
    const res = await cli('alice', ['credentials', '--profile', 'prod']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ Version: 1, AccessKeyId: expect.any(String) });
    expect(await fx.item(id)).toMatchObject({ status: 'active', request_count: 1 });
    expect(cached('alice')).toMatchObject({ sessionId: id, grant: 'approval', credentials: expect.any(Object) });
  });

  test('WHEN its window has ended THEN one new vend learns that a new grant is needed, the cache is cleared, and no loop', async () => {
    const ended = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    // Time passes: the window ends, on the TVM and in the cache.
    await fx.ddb.send(new UpdateItemCommand({
      TableName: fx.tableName, Key: { id: { S: id } }, UpdateExpression: 'SET expires_at = :t', ExpressionAttributeValues: { ':t': { S: ended } },
    }));
    writeSession(fileOf('alice'), { ...cached('alice')!, sessionExpiresAt: ended });
    const mark = since();
    const res = await cli('alice', ['credentials', '--profile', 'prod']);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toContain(`your access window for profile prod ended at ${ended} (session ${id}): request access again.`);
    expect(res.stderr).toContain('sentinel-tvm request --profile prod --reason "…"');
    expect(res.stderr).not.toMatch(/starting a new session/);
    expect(sentSince(mark).map((r) => r.path)).toEqual(['/', '/']);
    expect(cached('alice')).toBeUndefined();
  });
});

describe('GIVEN request --wait and credentials --wait-approval', () => {
  test('WHEN the request is approved while request --wait polls THEN each approval is printed and it exits 0', async () => {
    const run = cli('walt', ['request', '--profile', 'prod', '--reason', REASON, '--wait', '--timeout', '30s']);
    const id = await until(() => cached('walt')?.sessionId);
    expect((await api('bob', 'POST', `/requests/${id}/approve`, { comment: 'go' })).status).toBe(200);
    expect((await api('carol', 'POST', `/requests/${id}/approve`)).status).toBe(200);
    const res = await run;
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`request ${id}: approved by ${PEOPLE.bob}`);
    expect(res.stdout).toContain(`request ${id}: approved by ${PEOPLE.carol}`);
    expect(res.stdout).toMatch(new RegExp(`request ${id} is approved: window until `));
  });

  test('WHEN nobody approves before --timeout THEN request --wait exits 5, and a second request is refused naming the open one', async () => {
    const started = Date.now();
    const res = await cli('walt', ['request', '--profile', 'prod', '--reason', REASON, '--wait', '--timeout', '1s']);
    expect(res.code).toBe(5);
    expect(Date.now() - started).toBeLessThan(5_000);
    const id = cached('walt')!.sessionId;
    expect(res.stderr).toContain(`request ${id} is still waiting for its approvals after 1s (0 of 2)`);

    const again = await cli('walt', ['request', '--profile', 'prod', '--reason', REASON]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`you have an open request for profile prod: ${id}`);
    expect(cached('walt')?.sessionId).toBe(id);

    // With --wait, the open request is the one waited on.
    const mark = since();
    const waiting = cli('walt', ['request', '--profile', 'prod', '--reason', REASON, '--wait']);
    await until(() => (sentSince(mark).some((r) => r.path === `/requests/${id}`) ? true : undefined));
    await api('bob', 'POST', `/requests/${id}/approve`);
    await api('carol', 'POST', `/requests/${id}/approve`);
    const approved = await waiting;
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`request ${id} is approved`);
  });

  test('WHEN credential_process waits (--wait-approval) THEN it vends once the request is approved', async () => {
    expect((await cli('tess', ['request', '--profile', 'prod', '--reason', REASON])).code).toBe(0);
    const id = cached('tess')!.sessionId;
    const run = cli('tess', ['credentials', '--profile', 'prod', '--wait-approval', '30s']);
    // It waits outside the cache lock, polling the request.
    await until(() => (received.some((r) => r.path === `/requests/${id}` && r.arn === PEOPLE.tess) ? true : undefined));
    await api('bob', 'POST', `/requests/${id}/approve`);
    await api('carol', 'POST', `/requests/${id}/approve`);
    const res = await run;
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).AccessKeyId).toEqual(expect.any(String));
    expect(res.stderr).toContain(`request ${id} for profile prod is waiting for its approvals: waiting up to 30s`);
    expect(await fx.item(id)).toMatchObject({ status: 'active' });
  });

  test('WHEN nobody approves within --wait-approval THEN credential_process exits 5 and keeps the request cached', async () => {
    await cli('dora', ['request', '--profile', 'prod', '--reason', REASON]);
    const id = cached('dora')!.sessionId;
    const res = await cli('dora', ['credentials', '--profile', 'prod', '--wait-approval', '1s']);
    expect(res).toMatchObject({ code: 5, stdout: '' });
    expect(res.stderr).toContain(`request ${id} is still waiting for its approvals after 1s (0 of 2)`);
    expect(cached('dora')?.sessionId).toBe(id);
  });
});

describe('GIVEN a denied request', () => {
  test('WHEN credential_process runs THEN the cached id is cleared with the reason, and the next call asks for a grant again', async () => {
    expect((await cli('dan', ['request', '--profile', 'prod', '--reason', REASON])).code).toBe(0);
    const id = cached('dan')!.sessionId;
    const denied = await cli('bob', ['deny', id, '--comment', 'not during the release freeze']);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toMatch(/status: +denied/);
    expect(denied.stdout).toMatch(/decision: +not during the release freeze/);

    const res = await cli('dan', ['credentials', '--profile', 'prod']);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toContain('APPROVAL_DENIED');
    expect(res.stderr).toContain(`request ${id} of profile prod was denied; it is cleared from the cache`);
    expect(cached('dan')).toBeUndefined();
    expect((await cli('dan', ['credentials', '--profile', 'prod'])).stderr).toContain('APPROVAL_REQUIRED');
  });
});

describe('GIVEN a request on a terminal', () => {
  test('WHEN --reason is missing THEN it is asked for; and approve asks before it approves, sending nothing on a no', async () => {
    const asked = terminal(REASON);
    const res = await cli('tess', ['request', '--profile', 'prod'], asked);
    // Tess's earlier grant is in use: a new request is allowed.
    expect(res.code).toBe(0);
    expect(asked.questions).toEqual(['Why do you need access to prod? (the approvers read it) ']);
    const id = cached('tess')!.sessionId;
    expect(await fx.item(id)).toMatchObject({ request_reason: REASON });

    const no = terminal('n');
    const mark = since();
    const declined = await cli('bob', ['approve', id], no);
    expect(declined.code).toBe(2);
    expect(no.questions[0]).toMatch(new RegExp(`^Approve ${PEOPLE.tess}'s access to prod \\(1h from its approval\\)\\? \\[y/N\\] $`));
    expect(sentSince(mark).map((r) => `${r.method} ${r.path}`)).toEqual([`GET /requests/${id}`]);
    expect((await cli('bob', ['approve', id], terminal('y'))).code).toBe(0);
    expect(await fx.item(id)).toMatchObject({ approval_count: 1 });
  });
});

describe('GIVEN break-glass on the profile', () => {
  test('refuses break-glass without --yes when there is no terminal: exit 2, nothing sent', async () => {
    const mark = since();
    const res = await cli('dana', ['breakglass', '--profile', 'prod', '--reason', 'prod is down and nobody can approve']);
    expect(res.code).toBe(2);
    expect(sentSince(mark)).toEqual([]);
  });

  test('WHEN dana breaks glass (--yes) THEN she is told what happens, gets credentials, and erin reviews it', async () => {
    const res = await cli('dana', ['breakglass', '--profile', 'prod', '--reason', 'prod is down and nobody can approve', '--yes']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/approvers and security are notified/);
    expect(res.stderr).toMatch(/marked as break-glass in CloudTrail/);
    expect(res.stderr).toMatch(/must be reviewed .* before your next break-glass/);
    const id = /session: +([0-9a-f]{16})/.exec(res.stdout)![1];
    expect(res.stdout).toMatch(/review due: +\d{4}-/);
    expect(cached('dana')).toMatchObject({ sessionId: id, grant: 'breakglass' });
    expect((await cli('dana', ['credentials', '--profile', 'prod'])).code).toBe(0);

    const list = await cli('erin', ['reviews', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^SESSION +USER +PROFILE +STATUS +STARTED +ENDS +REVIEW DUE +REASON$/);
    expect(list.stdout).toContain(id);
    const reviewed = await cli('erin', ['review', id, '--outcome', 'accepted', '--note', 'justified outage']);
    expect(reviewed.code).toBe(0);
    expect(reviewed.stdout).toMatch(/reviewed: +accepted by .*security-erin/);
    expect((await cli('erin', ['reviews', 'list'])).stderr).toBe('sentinel-tvm: no reviews\n');
  });
});

describe('GIVEN a reason holding control characters (written into the table)', () => {
  test('WHEN an approver lists the requests THEN the table shows them escaped, and --json is the API\'s JSON', async () => {
    expect((await cli('hugo', ['request', '--profile', 'prod', '--reason', REASON])).code).toBe(0);
    const id = cached('hugo')!.sessionId;
    await fx.ddb.send(new UpdateItemCommand({
      TableName: fx.tableName,
      Key: { id: { S: id } },
      UpdateExpression: 'SET request_reason = :r',
      ExpressionAttributeValues: { ':r': { S: HOSTILE } },
    }));
    const res = await cli('carol', ['requests', 'list', '--approvable']);
    expect(res.code).toBe(0);
    expect(res.stdout).not.toMatch(CONTROL);
    expect(res.stdout).toContain('ok\\x1b[2J\\x9b31m\\x0d\\x07\\x0afake line');
    // One line per request: the newline in the reason starts none.
    expect(res.stdout.split('\n').filter((l) => l.includes(id))).toHaveLength(1);
    const json = await cli('carol', ['requests', 'list', '--approvable', '--json']);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).Requests.find((r: any) => r.id === id).request_reason).toBe(HOSTILE);
    const got = await cli('carol', ['requests', 'get', id]);
    expect(got.stdout).not.toMatch(CONTROL);
    expect(got.stdout).toMatch(/reason: +ok\\x1b\[2J/);
  });
});
