// Local mode with gated profiles (examples/local/gated.json): the config file's gates are the configuration's own shape,
// written as the construct writes them; the bundled access function serves the access routes in a worker of its own,
// proving an Identity Center approver with GetRole at the local IAM; a withdrawn grant's credentials, vended before the
// withdrawal, are refused once the enforcer wrote its deny; break-glass waits for the review of the previous use.
import * as fs from 'fs';
import * as path from 'path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { checkBundle, decisions, removeTempDirs, ROOT, startLocal, tempDir, type LocalMode } from './support/cli';
import { sendRequest, signRequest, type Credentials } from './support/cli-sign';
import { endpoint, uniqueTableName } from './support/dynamodb-local';
import { CfnResolver, chunkProfilesOf, newApp, removeOutdirs } from './support/synth';
import { accessEnvironment, isGated } from '../cli/local/access';
import { localRoleId } from '../cli/local/accounts';
import { configProperties, handlerEnvironment, validateConfig } from '../cli/local/config';
import { canonicalProfiles, chunkDocument, chunkProfiles, configDigest, manifestDocument } from '../lambda/config/document';
import {
  Approval, Approvers, BreakGlass, Justification, PrincipalPattern, SentinelTvm, TicketRequirement, TimeWindow, Weekday,
} from '../src';
import { ConfigResourceTypes, Env } from '../src/shared/contract';

const GATED = path.join(ROOT, 'examples', 'local', 'gated.json');
const PLAIN = path.join(ROOT, 'examples', 'local', 'config.json');
const TVM = '111122223333';
const gated = () => JSON.parse(fs.readFileSync(GATED, 'utf8'));
const P = (arn: string) => PrincipalPattern.fromArnPattern(arn);
const user = (name: string) => `arn:aws:iam::${TVM}:user/${name}`;
const keysOf = (name: string): Credentials => ({
  accessKeyId: `AKIDLOCAL${name.toUpperCase()}`, secretAccessKey: `local-${name}-secret-not-a-real-key`,
});
const [ALICE, BOB, CAROL, DANA, ERIN] = ['alice', 'bob', 'carol', 'dana', 'erin'].map(keysOf);
const CAROL_ARN = `arn:aws:sts::${TVM}:assumed-role/AWSReservedSSO_Approvers_0123456789abcdef/carol@example.com`;

afterAll(() => {
  removeOutdirs();
  removeTempDirs();
});

/** The construct given the gates of gated.json through its own props: what its custom resources write. */
function synthesized(): { chunks: any[][]; digest: string } {
  const app = newApp();
  const stack = new Stack(app, 'Local', { env: { account: TVM, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: 'sentinel-tvm-local', adminPrincipals: [P(`arn:aws:iam::${TVM}:role/SecurityOps`)] });
  const role = (id: string, name: string) =>
    Object.assign(iam.Role.fromRoleArn(stack, id, `arn:aws:iam::${TVM}:role/${name}`, { mutable: false }), { tvm });
  tvm.addProfile('prod-admin', {
    role: role('ProdAdmin', 'ProdAdmin'),
    allowedPrincipals: [P(user('alice'))],
    maxCredentialDuration: Duration.hours(1),
    approval: Approval.required({
      approvers: Approvers.principals([P(user('bob')), P(`arn:aws:sts::${TVM}:assumed-role/AWSReservedSSO_Approvers_*/*`)]),
      minApprovals: 2,
      maxDuration: Duration.hours(4),
      justification: Justification.required({ minLength: 10 }),
      ticket: TicketRequirement.none(),
    }),
    breakGlass: BreakGlass.allow({
      principals: [P(user('dana'))],
      reason: Justification.required({ minLength: 20 }),
      cooldown: Duration.hours(1),
      reviewers: Approvers.principals([P(user('erin'))]),
    }),
  });
  tvm.addProfile('reports', {
    role: role('ReadOnly', 'ReadOnly'),
    allowedPrincipals: [P(user('alice'))],
    maxCredentialDuration: Duration.hours(1),
    accessWindows: [TimeWindow.weekly({
      timeZone: 'Europe/Berlin',
      days: [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY],
      start: '08:00',
      end: '18:00',
    })],
  });
  const template = app.synth().getStackByName('Local').template;
  const resolver = new CfnResolver(template);
  const [manifest] = Object.values<any>(template.Resources).filter((r) => r.Type === ConfigResourceTypes.MANIFEST);
  const chunks = manifest.Properties.Chunks.map((ref: any) =>
    chunkProfilesOf(resolver.resolve(template.Resources[ref['Fn::GetAtt'][0]].Properties.Profiles)));
  const digest = configDigest(manifestDocument({
    adminPrincipals: resolver.resolve(manifest.Properties.AdminPrincipals), chunks: chunks.map((c: any[]) => configDigest(chunkDocument(c))),
  }));
  return { chunks: chunks.map((c: any[]) => canonicalProfiles(c)), digest };
}

describe('GIVEN examples/local/gated.json', () => {
  test('THEN local mode writes the gates the construct writes for the same props, and so the same configuration digest', () => {
    const props = configProperties(validateConfig(gated()));
    const chunks = chunkProfiles(canonicalProfiles(props.Profiles));
    const digest = configDigest(manifestDocument({
      adminPrincipals: props.AdminPrincipals, chunks: chunks.map((c) => configDigest(chunkDocument(c))),
    }));
    const construct = synthesized();
    expect(chunks).toEqual(construct.chunks);
    expect(chunks[0][0].access?.approval?.minApprovals).toBe(2);
    expect(chunks[0][1].access?.windows).toEqual([{ timeZone: 'Europe/Berlin', days: [1, 2, 3, 4, 5], start: '08:00', end: '18:00' }]);
    expect(digest).toBe(construct.digest);
  });

  test('THEN the access function gets the vending function\'s environment without the store failure mode, plus the TVM\'s account', () => {
    const config = validateConfig(gated());
    const vend = handlerEnvironment(config, { tableName: 't', controlTableName: 't-control', configDigest: 'd', audiences: ['127.0.0.1:1'] });
    const access = accessEnvironment(vend, TVM);
    expect(access[Env.STORE_FAILURE_MODE]).toBeUndefined();
    expect(access).toEqual({ ...Object.fromEntries(Object.entries(vend).filter(([k]) => k !== Env.STORE_FAILURE_MODE)), [Env.TVM_ACCOUNT]: TVM });
    // Only gated profiles (approval or break-glass) bring the access function; access windows alone do not, as in the construct.
    expect(config.profiles.filter(isGated).map((p) => p.name)).toEqual(['prod-admin']);
    expect(validateConfig(JSON.parse(fs.readFileSync(PLAIN, 'utf8'))).profiles.filter(isGated)).toEqual([]);
  });

  const set = (mutate: (c: any) => void) => {
    const c = gated();
    mutate(c);
    return c;
  };
  test.each<[string, (c: any) => void, RegExp]>([
    ['an approval misses a field', (c) => { delete c.profiles[0].approval.maxSeconds; },
      /^profiles\[0\]\.approval\.maxSeconds: expected a whole number from 900 to 604800$/],
    ['an approval has an unknown field (a misspelt gate never leaves a profile open)', (c) => { c.profiles[0].approval.minApproval = 1; },
      /^profiles\[0\]\.approval: unknown key "minApproval"$/],
    ['an access window names no time zone', (c) => { c.profiles[1].accessWindows[0].timeZone = 'Mars/Olympus'; },
      /^profiles\[1\]\.accessWindows\[0\]: timeZone "Mars\/Olympus" is not an IANA time zone$/],
    ['an approver is a role session whose name its caller chose', (c) => {
      c.profiles[0].approval.approvers[0] = `arn:aws:sts::${TVM}:assumed-role/Ops/*`;
    },
    /^profiles\[0\]\.approval\.approvers\[0\] is ".*": it names no IAM user or Identity Center user/],
    ['an Identity Center approver is of another account', (c) => {
      c.profiles[0].approval.approvers[1] = 'arn:aws:sts::444455556666:assumed-role/AWSReservedSSO_Approvers_*/*';
    }, /^profiles\[0\]\.approval\.approvers\[1\] .* not the TVM's \(111122223333\)/],
    ['fewer approvers can match than minApprovals', (c) => { c.profiles[0].approval.approvers = [user('bob')]; },
      /^profiles\[0\]\.approval\.minApprovals is 2 but only 1 approver can ever match/],
    ['a break-glass reason is optional', (c) => { c.profiles[0].breakGlass.reason.required = false; },
      /^profiles\[0\]\.breakGlass\.reason\.required is false: break-glass always needs a reason/],
    ['a gated profile lets issued credentials survive revocation', (c) => { c.profiles[0].issuedCredentialsSurviveRevocation = true; },
      /^profiles\[0\]\.issuedCredentialsSurviveRevocation is true, but a gated profile/],
  ])('fails when %s, naming the field', (_case, mutate, message) => {
    expect(() => validateConfig(set(mutate))).toThrow(message);
  });
});

describe('GIVEN sentinel-tvm local with a gated profile', () => {
  let local: LocalMode;
  let awsUrl: string;

  beforeAll(async () => {
    checkBundle();
    // No cooldown: the second break-glass is refused for its missing review alone, and a review lets the next one through.
    const config = set0(gated());
    const file = path.join(tempDir('local-access-'), 'gated.json');
    fs.writeFileSync(file, JSON.stringify(config));
    // The schedule stays out of the way: what is measured is the stream stand-in, run after the withdrawal.
    local = await startLocal(['--config', file, '--dynamodb-endpoint', endpoint(), '--table', uniqueTableName('local-access'),
      '--enforce-every', '3600']);
    awsUrl = /sentinel-tvm local: AWS at (http:\/\/\S+)/.exec(local.stdout())![1];
  });
  afterAll(async () => {
    await local?.stop();
  });

  function set0(c: any): any {
    c.profiles[0].breakGlass.cooldownSeconds = 0;
    return c;
  }

  const call = async (who: Credentials, method: string, p: string, body?: unknown, headers: Record<string, string> = {},
    query: Record<string, string> = {}) => sendRequest(local.url, await signRequest(local.url, who,
    { method, path: p, query, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));
  const vend = (who: Credentials, grant: string) => call(who, 'GET', '/', undefined, { 'x-sentinel-session-id': grant }, { profile: 'prod-admin' });
  const credentialsOf = (b: any): Credentials => ({ accessKeyId: b.AccessKeyId, secretAccessKey: b.SecretAccessKey, sessionToken: b.Token });
  /** S3 ListBuckets at local mode's AWS endpoint, decided by the caller's role policies (the enforcer's deny among them). */
  const listBuckets = async (c: Credentials) => {
    const res = await sendRequest(awsUrl, await signRequest(awsUrl, c, { path: '/' }, { service: 's3' }));
    return { status: res.status, body: String(res.body) };
  };
  /** The decision log line of a request, once the function that served it has printed it. */
  const decisionOf = async (match: (d: any) => boolean) => {
    for (let waited = 0; waited < 3000; waited += 25) {
      const found = decisions(local).filter(match);
      if (found.length > 0) return found[found.length - 1];
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('no such decision log line');
  };

  test('THEN it says it runs the access function, and the access routes answer through it', async () => {
    expect(local.stderr()).toMatch(/access function \(requests, approvals, break-glass, reviews\) for the gated profiles prod-admin/);
    const res = await call(ALICE, 'GET', '/requests');
    expect(res).toEqual({ status: 200, body: { Requests: [] } });
  });

  test('WHEN alice requests, two approvers (an IAM user, an Identity Center user) approve, and one withdraws THEN her pending vend is '
    + 'refused, her approved vend carries the approval, and its credentials are refused once the enforcer wrote the deny', async () => {
    const requested = await call(ALICE, 'POST', '/requests', { profile: 'prod-admin', reason: 'rotate the prod database password' });
    expect(requested.status).toBe(201);
    const id: string = requested.body.Request.id;
    expect(requested.body.Request).toMatchObject({ status: 'pending', approvals_required: 2, requester_verified: true });
    // The access function's decisions are printed as the vending handler's are.
    expect(await decisionOf((d) => d.path === '/requests' && d.sessionId === id)).toMatchObject({ method: 'POST', status: 201, action: 'request' });

    const pending = await vend(ALICE, id);
    expect([pending.status, pending.body.Code]).toEqual([403, 'APPROVAL_PENDING']);

    const first = await call(BOB, 'POST', `/requests/${id}/approve`, { comment: 'ok' });
    expect([first.status, first.body.Request?.status, first.body.Request?.approval_count]).toEqual([200, 'pending', 1]);
    // carol is proven a person: the local STS answers her AROA…:<session> UserId, and GetRole shows the reserved path and that id.
    const me = await new STSClient({ region: 'us-east-1', endpoint: local.stsUrl, credentials: CAROL, maxAttempts: 1 })
      .send(new GetCallerIdentityCommand({}));
    expect(me).toMatchObject({ Arn: CAROL_ARN, UserId: `${localRoleId(TVM, 'AWSReservedSSO_Approvers_0123456789abcdef')}:carol@example.com` });
    const second = await call(CAROL, 'POST', `/requests/${id}/approve`);
    expect([second.status, second.body.Request?.status]).toEqual([200, 'approved']);
    expect(await decisionOf((d) => d.callerArn === CAROL_ARN && d.action === 'approve'))
      .toMatchObject({ person: 'idc:carol@example.com', personVerified: true, status: 200 });

    const vended = await vend(ALICE, id);
    expect(vended.status).toBe(200);
    expect(vended.body.SessionId).toBe(id);
    expect(await decisionOf((d) => d.path === '/' && d.sessionId === id && d.status === 200))
      .toMatchObject({ sourceIdentity: `sentinel.${id}.a.alice` });
    const credentials = credentialsOf(vended.body);
    expect(await listBuckets(credentials)).toMatchObject({ status: 200 });

    const sent = performance.now();
    const withdrawn = await call(BOB, 'POST', `/requests/${id}/withdraw`, { reason: 'the change window was cancelled' });
    expect([withdrawn.status, withdrawn.body.Request?.status, withdrawn.body.Request?.revoked_kind]).toEqual([200, 'revoked', 'approval_withdrawn']);
    let refused: { status: number; body: string };
    for (;;) {
      refused = await listBuckets(credentials);
      if (refused.status !== 200 || performance.now() - sent > 5000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // eslint-disable-next-line no-console
    console.log(`withdrawal-to-refusal in local mode: ${(performance.now() - sent).toFixed(0)} ms`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/AccessDenied.*with an explicit deny in an identity-based policy/s);
    // Written by the enforcer, which local mode invoked with the withdrawn grant's record, as the table's stream would.
    const enforcer = `arn:aws:sts::${TVM}:assumed-role/sentinel-tvm-local-enforce`;
    expect(local.stderr()).toMatch(new RegExp(`iam: PutRolePolicy ProdAdmin \\S+ in ${TVM} by ${enforcer}`));
    // A withdrawn grant vends no more.
    expect((await vend(ALICE, id)).status).toBe(403);
  });

  test('WHEN dana breaks glass twice THEN the second is refused until erin reviews the first, and the next is then allowed', async () => {
    const reason = { profile: 'prod-admin', reason: 'the payment service is down and on-call needs access' };
    const first = await call(DANA, 'POST', '/breakglass', reason);
    expect([first.status, first.body.Request?.status, first.body.Request?.review_state]).toEqual([201, 'approved', 'pending']);
    const id: string = first.body.Request.id;
    const used = await vend(DANA, id);
    expect(used.status).toBe(200);
    expect(await decisionOf((d) => d.path === '/' && d.sessionId === id && d.status === 200))
      .toMatchObject({ sourceIdentity: `sentinel.${id}.b.dana` });

    const again = await call(DANA, 'POST', '/breakglass', reason);
    expect([again.status, again.body.Code]).toEqual([409, 'BREAK_GLASS_REVIEW_PENDING']);
    expect(again.body.Message).toContain(id);
    // Nobody reviews their own use.
    const own = await call(DANA, 'POST', `/sessions/${id}/review`, { outcome: 'accepted', note: 'fine' });
    expect([own.status, own.body.Code]).toEqual([403, 'APPROVER_NOT_ELIGIBLE']);

    const reviewed = await call(ERIN, 'POST', `/sessions/${id}/review`, { outcome: 'accepted', note: 'incident INC-42' });
    expect([reviewed.status, reviewed.body.Request?.review_outcome]).toEqual([200, 'accepted']);
    const next = await call(DANA, 'POST', '/breakglass', reason);
    expect(next.status).toBe(201);
  });
});
