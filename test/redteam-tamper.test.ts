// Red team of tamper detection (src/private/tamper-detection.ts, lambda/enforcer/tamper.ts, onCloudTrailEvent): each
// test here PASSES while the hole it names is open, asserting the current (wrong) outcome; the fix turns its expectation
// around. Recorded CloudTrail events (test/fixtures/cloudtrail/tamper-events.json), varied as each test says, go through
// the synthesized rules' patterns (the EventBridge matcher) and the real enforcer (DynamoDB Local, the local IAM, the
// local EventBridge, the real lease).
import * as fs from 'fs';
import * as path from 'path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { emptyTable, profile, putItems, revokedItems } from './support/enforcer-fixture';
import { matchesEventPattern, rulePatternsOf } from './support/event-pattern';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { CfnResolver, logicalIdOf, newApp, P, removeOutdirs } from './support/synth';
import { createFixture, CREDENTIALS, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import { createEnforcer, type EnforcerConfig, type EnforcerDeps } from '../lambda/enforcer/enforce';
import { dynamoLease } from '../lambda/enforcer/lease';
import { judgeCloudTrailEvent } from '../lambda/enforcer/tamper';
import { eventPublisher } from '../lambda/events/publish';
import { ProtectedRole, RevocationEnforcement, SentinelTvm } from '../src';
import { revokedSessionsPolicyName, SPOKE_PLACEHOLDER_POLICY } from '../src/shared/contract';

const HUB = '111122223333';
const SPOKE = '444455556666';
const REGION = 'us-east-1';
const POLICY = revokedSessionsPolicyName('test', REGION);
const HUB_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm/test/hub-ReadOnly`;
const ENFORCER_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/test/test-enforce-${REGION}`;
const VEND_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/test/test-vend-${REGION}`;
const ROLE_IDS = { enforcer: 'AROAENFORCER0EXAMPLE1', vend: 'AROAVENDFUNC0EXAMPLE1' };
const RECORDED: Record<string, any> = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'cloudtrail', 'tamper-events.json'), 'utf8'));
const CONFIG: EnforcerConfig = { profiles: new Map([['readonly', profile('readonly', HUB_ROLE)]]) };
const CONTEXT = {
  policyName: POLICY, protectedRolePath: '/sentinel-tvm/test/', vendRoleArn: VEND_ROLE, accounts: [HUB, SPOKE], enforcerRoleArns: [ENFORCER_ROLE],
};

/** A recorded event, changed by `edit` (a deep copy: the recording stays as it is). */
function recorded(name: string, edit: (detail: any) => void = () => undefined): any {
  const event = JSON.parse(JSON.stringify(RECORDED[name]));
  expect(event).toBeDefined();
  edit(event.detail);
  return event;
}

/** The tamper rules' patterns of the recorded events' hub TVM (and every rule's, for "no rule at all"). */
function patternsOf(organization = false): { change: unknown; assumeRole: unknown; all: unknown[] } {
  const app: App = newApp();
  const stack = new Stack(app, 'Hub', { env: { account: HUB, region: REGION } });
  const tvm = new SentinelTvm(stack, 'Tvm', {
    tvmName: 'test',
    adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)],
    spokeAccounts: [SPOKE],
    ...(organization ? { revocation: RevocationEnforcement.organizationScp({ targetIds: ['ou-ab12-abcdefgh'] }) } : {}),
  });
  const role = new ProtectedRole(stack, 'ReadOnly', { tvm, roleName: 'hub-ReadOnly' });
  tvm.addProfile('readonly', { role, allowedPrincipals: [P(`arn:aws:iam::${HUB}:user/alice`)] });
  const template = Template.fromStack(stack).toJSON();
  const enforcer = tvm.node.findChild('Enforcer');
  const overrides: Record<string, string> = {
    [`${logicalIdOf(enforcer.node.findChild('Role'))}.RoleId`]: ROLE_IDS.enforcer,
    [`${logicalIdOf(tvm.node.findChild('ExecutionRole'))}.RoleId`]: ROLE_IDS.vend,
  };
  const scp = enforcer.node.tryFindChild('OrganizationPolicy');
  if (scp) overrides[`${logicalIdOf(scp as any)}.Id`] = 'p-abcdefgh12';
  const resolver = new CfnResolver(template, overrides);
  const rules = rulePatternsOf(template, (v) => resolver.resolve(v));
  const find = (part: string) => rules.find((r) => r.logicalId.includes('TamperDetection') && r.logicalId.includes(part))!.pattern;
  return { change: find('ChangeRule'), assumeRole: find('AssumeRoleRule'), all: rules.map((r) => r.pattern) };
}

describe('GIVEN the synthesized tamper rules and varied recorded events', () => {
  let p: ReturnType<typeof patternsOf>;
  beforeAll(() => {
    p = patternsOf();
  });
  afterAll(removeOutdirs);

  test('LIMIT (README): WHEN a protected role is assumed by an ARN without its IAM path THEN no rule takes it, though the enforcer '
    + 'would call it foreign-assume-role', () => {
    // STS finds a role by name in its account (the enforcer's own comment: "STS takes a role ARN without its path too").
    const event = recorded('assume-by-admin-succeeded', (d) => {
      d.requestParameters.roleArn = `arn:aws:iam::${HUB}:role/hub-ReadOnly`;
    });
    expect(matchesEventPattern(p.assumeRole, RECORDED['assume-by-admin-succeeded'])).toBe(true);
    expect(p.all.filter((pattern) => matchesEventPattern(pattern, event))).toEqual([]);
    expect(judgeCloudTrailEvent(event, CONTEXT, CONFIG.profiles.values())).toMatchObject({ kind: 'foreign-assume-role' });
  });

  test('WHEN an AWS service assumes a protected role (its identity has no principalId) THEN the AssumeRole rule takes it '
    + '(`anything-but` alone never matches a missing field)', () => {
    // E.g. after a trust change that let lambda.amazonaws.com in: the function's role sessions are then invisible.
    const event = recorded('assume-by-admin-succeeded', (d) => {
      d.userIdentity = { type: 'AWSService', invokedBy: 'lambda.amazonaws.com' };
    });
    expect(p.all.filter((pattern) => matchesEventPattern(pattern, event))).toEqual([p.assumeRole]);
    expect(judgeCloudTrailEvent(event, CONTEXT, CONFIG.profiles.values())).toMatchObject({ kind: 'foreign-assume-role' });
  });

  test('WHEN the deny is deleted by its name in another case (IAM finds names without regard to case) THEN the rule takes it and '
    + 'the enforcer counts it', () => {
    const event = recorded('deny-deleted-by-iam-user', (d) => {
      d.requestParameters.policyName = POLICY.toLowerCase();
    });
    expect(p.all.filter((pattern) => matchesEventPattern(pattern, event))).toEqual([p.change]);
    expect(judgeCloudTrailEvent(event, CONTEXT, CONFIG.profiles.values())).toMatchObject({ kind: 'deny-policy' });
    // queries/tamper.logs-insights matches this very name: `(?i)^SentinelRevokedSessions-`.
    expect(fs.readFileSync(path.join(__dirname, '..', 'queries', 'tamper.logs-insights'), 'utf8')).toContain('(?i)^SentinelRevokedSessions-');
    // The same for a trust change naming the protected role in another case: it reaches the enforcer, which dismisses it.
    const trust = recorded('trust-changed-by-admin', (d) => {
      d.requestParameters.roleName = 'HUB-READONLY';
    });
    expect(matchesEventPattern(p.change, trust)).toBe(true);
    expect(judgeCloudTrailEvent(trust, CONTEXT, CONFIG.profiles.values())).toMatchObject({ kind: 'trust-policy' });
  });

  test('WHEN organization mode\'s SCP is neutralized without touching it (MoveAccount out of the target OU, '
    + 'DisablePolicyType on the root) THEN the rule takes it and the enforcer counts it; the management account\'s record is a LIMIT', () => {
    const org = patternsOf(true);
    const call = (eventName: string, requestParameters: Record<string, string>) => recorded('deny-deleted-by-iam-user', (d) => {
      d.eventSource = 'organizations.amazonaws.com';
      d.eventName = eventName;
      d.requestParameters = requestParameters;
    });
    const update = { ...call('UpdatePolicy', { policyId: 'p-abcdefgh12' }), source: 'aws.organizations' };
    // The control: a change of the SCP itself is taken.
    expect(matchesEventPattern(org.change, update)).toBe(true);
    for (const event of [
      call('MoveAccount', { accountId: SPOKE, sourceParentId: 'ou-ab12-abcdefgh', destinationParentId: 'r-ab12' }),
      call('DisablePolicyType', { rootId: 'r-ab12', policyType: 'SERVICE_CONTROL_POLICY' }),
    ]) {
      expect(org.all.filter((pattern) => matchesEventPattern(pattern, { ...event, source: 'aws.organizations' }))).toEqual([org.change]);
      expect(judgeCloudTrailEvent({ ...event, source: 'aws.organizations' }, { ...CONTEXT, organizationPolicyId: 'p-abcdefgh12' },
        CONFIG.profiles.values())).toMatchObject({ kind: 'organization-policy' });
    }
    // The hub in a delegated administrator account (as the trust boundary advises): an UpdatePolicy made in the management
    // account is recorded there; forwarded to the hub, the enforcer still dismisses it, as none of its accounts'.
    const fromManagement = { ...update, account: '999988887777', detail: { ...update.detail, recipientAccountId: '999988887777' } };
    const orgContext = { ...CONTEXT, organizationPolicyId: 'p-abcdefgh12' };
    expect(judgeCloudTrailEvent(fromManagement, orgContext, CONFIG.profiles.values())).toBe('other-account');
  });
});

describe('GIVEN the enforcer, a revoked session denied on a protected role, and varied recorded events', () => {
  let fx: Fixture;
  let iam: LocalIam;
  let eb: LocalEventBridge;
  let client: EventBridgeClient;
  let delivered: DeliveredEvent[];
  let kinds: string[];
  let failures: string[][];
  const SESSION = 'a1a1a1a1a1a1a1a1';

  function deps(more: Partial<EnforcerDeps> = {}): EnforcerDeps {
    return {
      tableName: fx.tableName,
      ddb: fx.ddb,
      iam: new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 }),
      policyName: POLICY,
      protectedRolePath: '/sentinel-tvm/test/',
      account: HUB,
      spokeAccounts: [SPOKE],
      loadConfig: async () => CONFIG,
      events: { target: { tvmName: 'test' }, publish: eventPublisher({ client, sleep: async () => undefined }) },
      tamper: { vendRoleArn: VEND_ROLE, enforcerRoleArns: [ENFORCER_ROLE] },
      tamperMetrics: (kind) => kinds.push(kind),
      metrics: (failed) => failures.push([...failed]),
      ...more,
    };
  }
  const denyOnRole = () => iam.roles.get('hub-ReadOnly')?.get(POLICY);
  const tamperEvents = () => delivered.filter((e) => e['detail-type'] === 'Tamper Detected');
  const roleCalls = (from: number) => iam.calls.slice(from).filter((c) => ['PutRolePolicy', 'DeleteRolePolicy', 'GetRolePolicy'].includes(c.action));

  beforeAll(async () => {
    fx = await createFixture();
    iam = await startLocalIam({ roles: [HUB_ROLE] });
    eb = await startLocalEventBridge({ account: HUB, onEvent: (e) => delivered.push(e) });
    client = new EventBridgeClient({ region: REGION, endpoint: eb.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
  });
  afterAll(async () => {
    client?.destroy();
    await Promise.all([iam?.stop(), eb?.stop()]);
  });
  beforeEach(async () => {
    delivered = [];
    kinds = [];
    failures = [];
    await emptyTable(fx.ddb, fx.tableName);
    for (const policies of iam.roles.values()) policies.clear();
    const now = new Date();
    await putItems(fx.ddb, fx.tableName, [revokedItems(CONFIG)(SESSION, HUB_ROLE, {
      revokedAt: new Date(now.getTime() - 60_000), credentialsExpireAt: new Date(now.getTime() + 14 * 60_000),
    })]);
    await createEnforcer(deps())({ source: 'aws.events' });
    expect(denyOnRole()).toContain(SESSION);
    delivered = [];
    kinds = [];
    failures = [];
  });

  test('WHEN mallory deletes the deny through a CloudFormation stack of her own THEN the enforcer rewrites it, counts it and puts '
    + 'Tamper Detected (only a spoke\'s deny-nothing placeholder is CloudFormation\'s own)', async () => {
    // Without a service role CloudFormation calls IAM with her own credentials; CloudTrail adds invokedBy. No stack of the
    // TVM's hub account declares this policy (the enforcer writes it), so no deployment of the TVM makes such a call.
    const event = recorded('deny-deleted-by-iam-user', (d) => {
      d.userIdentity.invokedBy = 'cloudformation.amazonaws.com';
    });
    expect(matchesEventPattern(patternsOf().change, event)).toBe(true);
    iam.roles.get('hub-ReadOnly')!.delete(POLICY);
    const summary = await createEnforcer(deps())(event);
    expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'enforced' });
    expect(denyOnRole()).toContain(SESSION);
    expect(kinds).toEqual(['deny-policy']);
    expect(tamperEvents()).toHaveLength(1);
    // A spoke's stack writing the placeholder it declares is CloudFormation's own work.
    const placeholder = recorded('deny-overwritten-by-admin', (d) => {
      d.userIdentity.invokedBy = 'cloudformation.amazonaws.com';
      d.requestParameters.policyDocument = JSON.stringify(SPOKE_PLACEHOLDER_POLICY);
    });
    expect(judgeCloudTrailEvent(placeholder, CONTEXT, CONFIG.profiles.values())).toBe('cloudformation');
  });

  test('WHEN anyone is refused DeleteRolePolicy on the deny (nothing changed) THEN the attempt is reported, but starts no '
    + 'enforcement run', async () => {
    const event = recorded('deny-deleted-by-iam-user', (d) => {
      d.errorCode = 'AccessDenied';
      d.errorMessage = 'User: arn:aws:iam::111122223333:user/mallory is not authorized to perform: iam:DeleteRolePolicy';
    });
    const before = iam.calls.length;
    const summary = await createEnforcer(deps())(event);
    expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'not-needed' });
    expect(kinds).toEqual(['deny-policy']);
    expect(roleCalls(before)).toEqual([]);
    expect((tamperEvents()[0].detail as any).errorCode).toBe('AccessDenied');
    // LIMIT (README): the same event delivered again (at least once) is counted again.
    await createEnforcer(deps())(event);
    expect(kinds).toEqual(['deny-policy', 'deny-policy']);
  });

  test('WHEN a deletion arrives while another run holds the lease THEN the rewrite is deferred to the schedule, and no '
    + 'enforcement failure of every role is counted', async () => {
    const lease = dynamoLease({ ddb: fx.ddb, tableName: fx.controlTableName, sleep: async () => undefined });
    const release = await lease.acquire(0);
    try {
      const event = recorded('deny-deleted-by-iam-user', () => undefined);
      // Twenty seconds left: no time to wait for the lease (WORK_RESERVE_MS).
      const summary = await createEnforcer(deps({ lease }))(event, { getRemainingTimeInMillis: () => 20_000 });
      expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'deferred' });
      expect(failures).toEqual([]);
      expect(kinds).toEqual(['deny-policy']);
    } finally {
      await release();
    }
  });
});
