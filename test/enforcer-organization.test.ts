// The revocation enforcer's organization mode: the SCP it keeps (DescribePolicy, then UpdatePolicy only when the content
// differs) lists every live revoked session of the TVM, of any account, unenforced profiles' included, and falls back
// to a time condition past its size; the SCP's failure never stops the roles' denies. A local AWS Organizations speaks
// the JSON 1.1 protocol and checks the SigV4 signature; the SCP it ends up with is evaluated by an IAM policy simulator.
import * as path from 'path';
import { performance } from 'perf_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { startBundle, type BundleProcess } from './support/bundle-process';
import { createTableFromTemplate, endpoint, localDynamoClient, SESSION_TABLE_TEMPLATE, uniqueTableName } from './support/dynamodb-local';
import {
  emptyTable, enforcerDeps, HUB, HUB_CREDENTIALS, ms, PATH, POLICY, profile, putItems, REGION, revokedItems, roleIn, SCHEDULE, SPOKE_ROLE, T, TVM,
  type EnforcerRecords, type Item,
} from './support/enforcer-fixture';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { startLocalOrganizations, type LocalOrganizations } from './support/local-organizations';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { writeConfig } from '../lambda/config/provider';
import { enforce, EnforcementError, type EnforcerConfig, type EnforcerDeps } from '../lambda/enforcer/enforce';
import { powertoolsEnforcerMetrics } from '../lambda/enforcer/metrics';
import { organizationsClient } from '../lambda/enforcer/organization';
import {
  fallbackPolicy, listedIds, listPolicy, MAX_SCP_IDS, organizationPlaceholderPolicy, VEND_IN_FLIGHT_MS,
} from '../lambda/enforcer/policy';
import { spokeIamClients } from '../lambda/enforcer/spokes';
import { Attr, Env, SCP_MAX_CHARS, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

const B = '444455556666';
const D = '999988887777';
const HUB_ROLE = roleIn(HUB, 'hub-ReadOnly');
const B_ROLE = roleIn(B, 'b-Deploy');
/** A role of an account without a spoke, whose profile opted out: the SCP is the only deny its sessions get. */
const D_ROLE = roleIn(D, 'd-Legacy');
const SCP_ID = 'p-sentinel0test';
/** As CloudFormation created the SCP (the construct's deny-nothing content, pretty-printed). */
const DEPLOYED_SCP = JSON.stringify(SPOKE_PLACEHOLDER_POLICY, null, 2);
const TAG = 'aws:PrincipalTag/SentinelSessionID';

const CONFIG: EnforcerConfig = {
  profiles: new Map([profile('hub', HUB_ROLE), profile('b', B_ROLE), profile('d', D_ROLE, { unenforced: true })].map((p) => [p.name, p])),
};

let ddb: DynamoDBClient;
let tableName: string;
let sts: LocalSts;
let iam: LocalIam;
let org: LocalOrganizations;
let failures: EnforcerRecords['failures'];
let logs: EnforcerRecords['logs'];

const id = (n: number) => n.toString(16).padStart(16, '0');
const scp = () => org.policies.get(SCP_ID)!;
const operations = () => org.calls.map((c) => c.operation);

function deps(now: Date, more: Partial<EnforcerDeps> = {}): EnforcerDeps {
  return enforcerDeps({
    tableName,
    ddb,
    iam: new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 }),
    iamFor: spokeIamClients({
      sts: new STSClient({ region: REGION, endpoint: sts.endpoint, credentials: HUB_CREDENTIALS, maxAttempts: 1 }),
      spokeRole: SPOKE_ROLE,
      iamClient: (credentials) => new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials, maxAttempts: 1 }),
    }),
    organization: { policyId: SCP_ID, client: organizationsClient({ credentials: HUB_CREDENTIALS, endpoint: org.endpoint }) },
    config: CONFIG,
    failures,
    logs,
  }, now, more);
}
const revokedItem = revokedItems(CONFIG);
const put = (...items: Item[]) => putItems(ddb, tableName, items);

/** The decision on a request of a principal with full access in a member account, under the SCP the enforcer keeps. */
async function decide(sessionId: string | undefined, context: Record<string, string> = {}): Promise<string> {
  const full = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  const result = await runSimulation({
    request: {
      principal: `arn:aws:sts::${D}:assumed-role/d-Legacy/tvm-${sessionId ?? 'other'}`,
      action: 's3:GetObject',
      resource: { resource: 'arn:aws:s3:::example-bucket/report.csv', accountId: D },
      contextVariables: { ...(sessionId ? { [TAG]: sessionId } : {}), ...context },
    },
    identityPolicies: [{ name: 'full', policy: full }],
    serviceControlPolicies: [{ orgIdentifier: 'r-root', policies: [{ name: 'full', policy: full }, { name: 'tvm', policy: JSON.parse(scp()) }] }],
    resourceControlPolicies: [],
  }, {});
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}

beforeAll(async () => {
  ddb = localDynamoClient();
  tableName = await createTableFromTemplate(SESSION_TABLE_TEMPLATE, uniqueTableName('organization'), ddb, 'Sessions');
  sts = await startLocalSts();
  iam = await startLocalIam({ roles: [HUB_ROLE, B_ROLE], account: HUB, issued: (k) => sts.issued(k) });
  org = await startLocalOrganizations({ keys: { [HUB_CREDENTIALS.accessKeyId]: HUB_CREDENTIALS.secretAccessKey } });
});
afterAll(async () => {
  await Promise.all([sts?.stop(), iam?.stop(), org?.stop()]);
});
beforeEach(async () => {
  logs = [];
  failures = [];
  await emptyTable(ddb, tableName);
  for (const roles of iam.accounts.values()) for (const policies of roles.values()) policies.clear();
  iam.policiesOf(B_ROLE)!.set(POLICY, JSON.stringify(SPOKE_PLACEHOLDER_POLICY));
  iam.calls.length = 0;
  org.policies.set(SCP_ID, DEPLOYED_SCP);
  org.calls.length = 0;
  org.fail(undefined);
  org.delay(0);
});
afterEach(() => {
  // The enforcer makes these two calls on its own policy, and no other.
  expect(org.calls.filter((c) => !['DescribePolicy', 'UpdatePolicy'].includes(c.operation) || c.policyId !== SCP_ID)).toEqual([]);
});

describe('GIVEN revoked sessions of roles in the hub, a spoke and an account revocation does not reach', () => {
  test('WHEN the schedule runs THEN the SCP lists every one of them, compact, and denies their credentials anywhere', async () => {
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE), revokedItem('b0b0b0b0b0b0b0b0', B_ROLE), revokedItem('d0d0d0d0d0d0d0d0', D_ROLE));

    const summary = await enforce(deps(T), SCHEDULE);

    expect(operations()).toEqual(['DescribePolicy', 'UpdatePolicy']);
    expect(scp()).toBe(listPolicy(['a0a0a0a0a0a0a0a0', 'b0b0b0b0b0b0b0b0', 'd0d0d0d0d0d0d0d0']));
    expect(summary.organization).toEqual({ policyId: SCP_ID, ids: 3, mode: 'list', policy: 'list' });
    // The roles get their own denies; the unenforced role none.
    expect(summary.roles.map((r) => [r.role, r.mode])).toEqual([[HUB_ROLE, 'list'], [B_ROLE, 'list']]);
    expect(summary.skipped.unenforced).toBe(1);
    // Signed for Organizations in us-east-1 with the function's own credentials (the local endpoint checked it).
    const update = org.calls[1];
    expect(update.headers['x-amz-target']).toBe('AWSOrganizationsV20161128.UpdatePolicy');
    expect(update.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(update.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDHUBENFORCER\/\d{8}\/us-east-1\/organizations\/aws4_request, /);
    expect(JSON.parse(update.body)).toEqual({ PolicyId: SCP_ID, Content: scp() });
    expect(await decide('d0d0d0d0d0d0d0d0')).toBe('ExplicitlyDenied');
    expect(await decide('ffffffffffffffff')).toBe('Allowed');
    expect(await decide(undefined)).toBe('Allowed');
  });

  test('WHEN nothing changed since THEN the SCP is only described, not updated', async () => {
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE), revokedItem('d0d0d0d0d0d0d0d0', D_ROLE));
    await enforce(deps(T), SCHEDULE);
    // Organizations may return it reformatted: compared canonically.
    org.policies.set(SCP_ID, JSON.stringify(JSON.parse(scp()), null, 4));
    org.calls.length = 0;

    const summary = await enforce(deps(T), SCHEDULE);

    expect(operations()).toEqual(['DescribePolicy']);
    expect(summary.organization).toEqual({ policyId: SCP_ID, ids: 2, mode: 'unchanged', policy: 'list' });
  });

  test('WHEN a stream record revokes a session of the unenforced role THEN the SCP alone is written', async () => {
    const item = revokedItem('d1d1d1d1d1d1d1d1', D_ROLE);
    await put(item);

    const summary = await enforce(deps(T), { Records: [{ eventName: 'MODIFY', dynamodb: { NewImage: item } }] });

    expect(summary.roles).toEqual([]);
    expect(iam.calls).toEqual([]);
    expect(listedIds(scp())).toEqual(['d1d1d1d1d1d1d1d1']);
    // A batch without a revocation of this TVM does not look at the SCP.
    org.calls.length = 0;
    const active = { ...item, [Attr.STATUS]: { S: 'active' } };
    await enforce(deps(T), { Records: [{ eventName: 'INSERT', dynamodb: { NewImage: active } }] });
    expect(org.calls).toEqual([]);
  });

  test('WHEN their credentials expire THEN the SCP is the deny-nothing placeholder again', async () => {
    await put(revokedItem('d0d0d0d0d0d0d0d0', D_ROLE, { credentialsExpireAt: ms(T, 10) }));
    await enforce(deps(T), SCHEDULE);
    expect(listedIds(scp())).toEqual(['d0d0d0d0d0d0d0d0']);

    const summary = await enforce(deps(ms(T, 10)), SCHEDULE);

    expect(summary.organization).toEqual({ policyId: SCP_ID, ids: 0, mode: 'cleared', policy: 'none' });
    expect(scp()).toBe(organizationPlaceholderPolicy());
    expect(JSON.parse(scp())).toEqual(SPOKE_PLACEHOLDER_POLICY);
    expect(await decide('d0d0d0d0d0d0d0d0')).toBe('Allowed');
  });
});

describe('GIVEN more live revoked sessions than one SCP lists', () => {
  test(`THEN ${MAX_SCP_IDS} ids fit in ${SCP_MAX_CHARS} characters and one more does not`, () => {
    const ids = Array.from({ length: MAX_SCP_IDS + 1 }, (_, i) => id(i));
    expect(listPolicy(ids.slice(0, MAX_SCP_IDS)).length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    expect(listPolicy(ids).length).toBeGreaterThan(SCP_MAX_CHARS);
    console.log(`MAX_SCP_IDS = ${MAX_SCP_IDS} (an SCP of ${listPolicy(ids.slice(0, MAX_SCP_IDS)).length} characters)`);
  });

  test.each([
    [MAX_SCP_IDS, 'list'],
    [MAX_SCP_IDS + 1, 'fallback'],
  ])('WHEN there are %i THEN the SCP is the %s, within Organizations\' size', async (n, kind) => {
    // Spread over the hub's role and the unenforced one, revoked over the last minutes; the latest at T + 0.4 s.
    await put(...Array.from({ length: n }, (_, i) => revokedItem(id(i), i % 2 ? D_ROLE : HUB_ROLE,
      { revokedAt: new Date(T.getTime() + 400 - (i % 7) * 60_000), credentialsExpireAt: ms(T, 30) })));

    const summary = await enforce(deps(ms(T, 1)), SCHEDULE);

    expect(summary.organization).toMatchObject({ ids: n, mode: kind, policy: kind });
    expect(scp().length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    if (kind === 'list') {
      expect(listedIds(scp())).toHaveLength(n);
      return;
    }
    // The latest revocation, plus the vends in flight, rounded up to the whole second.
    expect(scp()).toBe(fallbackPolicy(new Date(T.getTime() + 400 + VEND_IN_FLIGHT_MS)));
    expect(summary.organization!.issuedBefore).toBe('2036-01-25T14:30:16Z');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: expect.stringMatching(/SCP's size/), maxScpIds: MAX_SCP_IDS }));
    expect(await decide(id(1), { 'aws:TokenIssueTime': '2036-01-25T14:30:15Z' })).toBe('ExplicitlyDenied');
    expect(await decide('ffffffffffffffff', { 'aws:TokenIssueTime': '2036-01-25T14:30:16Z' })).toBe('Allowed');
    // Credentials without the session tag (not vended by a TVM) are never denied by it.
    expect(await decide(undefined, { 'aws:TokenIssueTime': '2036-01-25T14:00:00Z' })).toBe('Allowed');
  });
});

describe('GIVEN Organizations failing or slow', () => {
  test('fails when UpdatePolicy is refused: the roles are still written, and EnforcementFailures counts Account=organization', async () => {
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE), revokedItem('b0b0b0b0b0b0b0b0', B_ROLE));
    org.fail({ code: 'AccessDeniedException', message: 'You don\'t have permissions to access this resource.', operations: ['UpdatePolicy'] });
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => { out.push(String(chunk)); return true; });
    let error: EnforcementError;
    try {
      error = (await enforce(deps(T, { metrics: powertoolsEnforcerMetrics({ serviceName: 'sentinel-test' }) }), SCHEDULE)
        .catch((e) => e)) as EnforcementError;
    } finally {
      spy.mockRestore();
    }

    expect(error).toBeInstanceOf(EnforcementError);
    expect(error.summary.organization).toEqual({
      policyId: SCP_ID, ids: 2, mode: 'failed', error: 'AccessDeniedException: You don\'t have permissions to access this resource.',
    });
    expect(error.message).toMatch(new RegExp(`organization SCP ${SCP_ID} \\(AccessDeniedException`));
    expect(error.summary.roles.map((r) => [r.role, r.mode])).toEqual([[HUB_ROLE, 'list'], [B_ROLE, 'list']]);
    expect(listedIds(iam.policy(B_ROLE, POLICY))).toEqual(['b0b0b0b0b0b0b0b0']);
    expect(scp()).toBe(DEPLOYED_SCP);
    const emf = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l._aws);
    expect(emf.map((m) => [m.EnforcementFailures, m._aws.CloudWatchMetrics[0].Dimensions[0].join(','), m.Account])).toEqual([
      [1, 'service', undefined], [1, 'service,Account', 'organization'],
    ]);
  });

  test('WHEN Organizations answers slowly THEN the roles\' denies are written without waiting for it', async () => {
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE));
    org.delay(1_500);

    const started = performance.now();
    await enforce(deps(T), SCHEDULE);

    const write = iam.calls.find((c) => c.action === 'PutRolePolicy')!;
    expect(write.at - started).toBeLessThan(1_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(listedIds(scp())).toEqual(['a0a0a0a0a0a0a0a0']);
  });

  test('WHEN Organizations throttles once THEN the call is retried', async () => {
    await put(revokedItem('d0d0d0d0d0d0d0d0', D_ROLE));
    org.fail({ code: 'TooManyRequestsException', message: 'Rate exceeded', times: 1 });

    const summary = await enforce(deps(T), SCHEDULE);

    expect(org.calls.map((c) => [c.operation, c.status])).toEqual([['DescribePolicy', 400], ['DescribePolicy', 200], ['UpdatePolicy', 200]]);
    expect(summary.organization).toMatchObject({ mode: 'list' });
  });

  test('fails when the signature does not check: Organizations refuses, nothing is updated', async () => {
    await put(revokedItem('d0d0d0d0d0d0d0d0', D_ROLE));
    const wrong = organizationsClient({ credentials: { ...HUB_CREDENTIALS, secretAccessKey: 'not-the-secret' }, endpoint: org.endpoint });

    const error = (await enforce(deps(T, { organization: { policyId: SCP_ID, client: wrong } }), SCHEDULE).catch((e) => e)) as EnforcementError;

    expect(error.summary.organization).toMatchObject({ mode: 'failed', error: expect.stringMatching(/^InvalidSignatureException/) });
    expect(operations()).toEqual(['DescribePolicy']);
    expect(failures).toEqual([{ roles: [], accounts: { organization: 1 } }]);
  });
});

describe('GIVEN the bundled enforcer with the SCP and a spoke role in its environment', () => {
  const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'enforcer.lambda', 'index.js');
  let bundle: BundleProcess;
  beforeAll(async () => {
    const controlTable = await createTableFromTemplate({
      Resources: {
        Control: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            KeySchema: [{ AttributeName: Attr.ID, KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: Attr.ID, AttributeType: 'S' }],
          },
        },
      },
    }, uniqueTableName('organization-control'), ddb, 'Control');
    // Without the spoke's role: the bundle runner's context has no function ARN, so the bundle cannot tell its own account
    // (the spoke path is the unbundled tests' and enforcer-accounts').
    const profiles = [...CONFIG.profiles.values()].filter((p) => p.roleArn !== B_ROLE);
    const digest = await writeConfig(ddb, controlTable, { AdminPrincipals: [`arn:aws:iam::${HUB}:role/SecurityOps`], Profiles: profiles });
    // The standard SDK variables only: region, the function's credentials, and the endpoints of the local services.
    bundle = await startBundle(BUNDLE, {
      [Env.TABLE_NAME]: tableName,
      [Env.CONTROL_TABLE_NAME]: controlTable,
      [Env.CONFIG_DIGEST]: digest,
      [Env.REVOKED_POLICY_NAME]: POLICY,
      [Env.STACK_ID]: `arn:aws:cloudformation:${REGION}:${HUB}:stack/Hub/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9`,
      [Env.PROTECTED_ROLE_PATH]: PATH,
      [Env.SPOKE_ROLE]: SPOKE_ROLE,
      [Env.ORGANIZATION_POLICY_ID]: SCP_ID,
      POWERTOOLS_SERVICE_NAME: TVM,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: HUB_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: HUB_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
      AWS_ENDPOINT_URL_IAM: iam.endpoint,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      AWS_ENDPOINT_URL_ORGANIZATIONS: org.endpoint,
    });
  });
  afterAll(async () => {
    await bundle?.stop();
  });

  test('WHEN the schedule invokes it THEN it keeps the SCP with its own credentials, beside the role\'s deny', async () => {
    await put(revokedItem('a0a0a0a0a0a0a0a0', HUB_ROLE), revokedItem('d0d0d0d0d0d0d0d0', D_ROLE));

    const summary = await bundle.invoke(SCHEDULE);

    expect(summary.organization).toEqual({ policyId: SCP_ID, ids: 2, mode: 'list', policy: 'list' });
    expect(scp()).toBe(listPolicy(['a0a0a0a0a0a0a0a0', 'd0d0d0d0d0d0d0d0']));
    expect(org.calls.map((c) => [c.operation, c.accessKeyId, c.status])).toEqual([
      ['DescribePolicy', HUB_CREDENTIALS.accessKeyId, 200], ['UpdatePolicy', HUB_CREDENTIALS.accessKeyId, 200],
    ]);
    expect(summary.roles.find((r: { role: string }) => r.role === HUB_ROLE)).toMatchObject({ mode: 'list' });
    expect(listedIds(iam.policy(HUB_ROLE, POLICY))).toEqual(['a0a0a0a0a0a0a0a0']);
    expect(summary.skipped.unenforced).toBe(1);
    expect(bundle.stdout()).not.toMatch(/hub-secret/);
  });
});
