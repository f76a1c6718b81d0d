// Tamper detection: recorded CloudTrail events (as EventBridge delivers them) against the patterns of the rules the
// construct synthesizes, and against the real enforcer (DynamoDB Local, a local IAM, the local EventBridge with the real
// SDK clients): a deleted deny policy is rewritten at once and alarmed, an AssumeRole of a protected role by anyone but
// the TVM is alarmed, and the enforcer's own writes, CloudFormation's and unrelated calls are neither.
import * as fs from 'fs';
import * as path from 'path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { emptyTable, profile, putItems, revokedItems } from './support/enforcer-fixture';
import { matchesEventPattern, rulePatternsOf } from './support/event-pattern';
import { eventValidator } from './support/event-schemas';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { CfnResolver, logicalIdOf, newApp, P, removeOutdirs } from './support/synth';
import { createFixture, CREDENTIALS, type Fixture } from './support/tvm-fixture';
import { startLocalEventBridge, type DeliveredEvent, type LocalEventBridge } from '../cli/local/eventbridge';
import { createEnforcer, type EnforcerConfig, type EnforcerDeps, type EnforcementSummary } from '../lambda/enforcer/enforce';
import { eventPublisher } from '../lambda/events/publish';
import { ProtectedRole, SentinelTvm, SentinelTvmSpoke, SentinelTvmTamperForwarder } from '../src';
import { revokedSessionsPolicyName } from '../src/shared/contract';

const HUB = '111122223333';
const SPOKE = '444455556666';
const REGION = 'us-east-1';
const POLICY = revokedSessionsPolicyName('test', REGION);
const HUB_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm/test/hub-ReadOnly`;
const SPOKE_ROLE = `arn:aws:iam::${SPOKE}:role/sentinel-tvm/test/b-Deploy`;
const ENFORCER_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/test/test-enforce-${REGION}`;
const SPOKE_ENFORCER_ROLE = `arn:aws:iam::${SPOKE}:role/sentinel-tvm-runtime/test/test-spoke-${REGION}`;
const VEND_ROLE = `arn:aws:iam::${HUB}:role/sentinel-tvm-runtime/test/test-vend-${REGION}`;
/** The roles' unique ids in the recorded events. */
const ROLE_IDS = { enforcer: 'AROAENFORCER0EXAMPLE1', vend: 'AROAVENDFUNC0EXAMPLE1' };
const RECORDED: Record<string, any> = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'cloudtrail', 'tamper-events.json'), 'utf8'));
const CONFIG: EnforcerConfig = {
  profiles: new Map([profile('readonly', HUB_ROLE), profile('deploy', SPOKE_ROLE)].map((p) => [p.name, p])),
};

/** The hub TVM of the recorded events (name `test`, us-east-1, one spoke account), synthesized. */
function hubStack(app: App = newApp()): { stack: Stack; tvm: SentinelTvm } {
  const stack = new Stack(app, 'Hub', { env: { account: HUB, region: REGION } });
  const tvm = new SentinelTvm(stack, 'Tvm', {
    tvmName: 'test',
    adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)],
    spokeAccounts: [SPOKE],
  });
  const role = new ProtectedRole(stack, 'ReadOnly', { tvm, roleName: 'hub-ReadOnly' });
  tvm.addProfile('readonly', { role, allowedPrincipals: [P(`arn:aws:iam::${HUB}:user/alice`)] });
  return { stack, tvm };
}

/** The tamper rules' patterns, their intrinsics resolved with the recorded events' role ids. */
function tamperPatterns(): { change: unknown; assumeRole: unknown } {
  const { stack, tvm } = hubStack();
  const template = Template.fromStack(stack).toJSON();
  const enforcerRole = logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Role'));
  const vendRole = logicalIdOf(tvm.node.findChild('ExecutionRole'));
  const resolver = new CfnResolver(template, { [`${enforcerRole}.RoleId`]: ROLE_IDS.enforcer, [`${vendRole}.RoleId`]: ROLE_IDS.vend });
  const rules = rulePatternsOf(template, (v) => resolver.resolve(v));
  const find = (part: string) => {
    const found = rules.filter((r) => r.logicalId.includes('TamperDetection') && r.logicalId.includes(part));
    expect(found).toHaveLength(1);
    return found[0].pattern;
  };
  return { change: find('ChangeRule'), assumeRole: find('AssumeRoleRule') };
}

describe('GIVEN the tamper rules of a synthesized TVM and recorded CloudTrail events', () => {
  let patterns: { change: unknown; assumeRole: unknown };
  beforeAll(() => {
    patterns = tamperPatterns();
  });
  afterAll(removeOutdirs);

  test.each([
    // [recorded event, the rule that takes it (none: no rule does)]
    ['deny-deleted-by-iam-user', 'change'],
    ['deny-overwritten-by-admin', 'change'],
    ['deny-written-by-enforcer', 'none'],
    ['other-policy-written', 'none'],
    ['trust-changed-by-admin', 'change'],
    // A trust change of any role reaches the enforcer (role names are not all known at synth); it judges them.
    ['trust-changed-by-cloudformation', 'change'],
    ['trust-changed-on-unrelated-role', 'change'],
    ['assume-by-tvm', 'none'],
    ['assume-by-iam-user-denied', 'assumeRole'],
    ['assume-by-admin-succeeded', 'assumeRole'],
    ['assume-of-unrelated-role', 'none'],
    ['spoke-deny-deleted', 'change'],
    // The spoke's enforcement role: its writes arrive only when a spoke forwards them; the enforcer dismisses them.
    ['spoke-deny-written-by-spoke-enforcer', 'change'],
    // No account in the patterns (a list of spokes would outgrow EventBridge's 2,048 characters): the enforcer judges it.
    ['unknown-account-deny-deleted', 'change'],
  ])('WHEN %s arrives THEN it reaches the enforcer through: %s', (name, rule) => {
    const event = RECORDED[name];
    expect(event).toBeDefined();
    const taken = Object.entries(patterns).filter(([, pattern]) => matchesEventPattern(pattern, event)).map(([k]) => k);
    expect(taken).toEqual(rule === 'none' ? [] : [rule]);
  });

  test('THEN the rules target the enforcer, and the alarm watches its TamperEvents metric', () => {
    const { stack, tvm } = hubStack();
    const template = Template.fromStack(stack);
    const enforcer = logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Function'));
    const tamperRules = Object.entries(template.toJSON().Resources as Record<string, any>)
      .filter(([id, r]) => r.Type === 'AWS::Events::Rule' && id.includes('TamperDetection'));
    expect(tamperRules).toHaveLength(2);
    for (const [, r] of tamperRules) {
      expect(r.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [enforcer, 'Arn'] } })]);
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'TamperEvents', Namespace: 'SentinelTvm', Threshold: 1, Dimensions: [{ Name: 'service', Value: 'test' }],
    });
    expect(tvm.tamperAlarm).toBeDefined();
  });

  test('THEN a TVM outside us-east-1 warns until a forwarder in us-east-1 sends it IAM\'s events', () => {
    const app = newApp();
    const stack = new Stack(app, 'Hub', { env: { account: HUB, region: 'eu-west-1' } });
    const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: 'test', adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)] });
    app.synth();
    Annotations.fromStack(stack).hasWarning('/Hub/Tvm', Match.stringLikeRegexp('us-east-1 only'));

    const app2 = newApp();
    const stack2 = new Stack(app2, 'Hub', { env: { account: HUB, region: 'eu-west-1' } });
    const tvm2 = new SentinelTvm(stack2, 'Tvm', { tvmName: 'test', adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)] });
    const east = new Stack(app2, 'East', { env: { account: HUB, region: 'us-east-1' } });
    const forwarder = new SentinelTvmTamperForwarder(east, 'Forwarder', { tvm: tvm2 });
    app2.synth();
    Annotations.fromStack(stack2).hasNoWarning('/Hub/Tvm', Match.stringLikeRegexp('us-east-1 only'));
    const template = Template.fromStack(east).toJSON();
    const rule = template.Resources[logicalIdOf(forwarder.rule)];
    expect(new CfnResolver(template).resolve(rule.Properties.Targets[0].Arn)).toBe(`arn:aws:events:eu-west-1:${HUB}:event-bus/default`);
    // It forwards the recorded tampering (and the TVM's rules there decide), not unrelated calls.
    const pattern = new CfnResolver(template).resolve(rule.Properties.EventPattern);
    // That TVM's deny policy is named for its own region.
    const deleted = JSON.parse(JSON.stringify(RECORDED['deny-deleted-by-iam-user']));
    deleted.detail.requestParameters.policyName = tvm2.revokedSessionsPolicyName;
    expect(matchesEventPattern(pattern, deleted)).toBe(true);
    expect(matchesEventPattern(pattern, RECORDED['deny-deleted-by-iam-user'])).toBe(false);
    expect(matchesEventPattern(pattern, RECORDED['assume-by-iam-user-denied'])).toBe(true);
    expect(matchesEventPattern(pattern, RECORDED['other-policy-written'])).toBe(false);
    expect(matchesEventPattern(pattern, RECORDED['assume-of-unrelated-role'])).toBe(false);
    expect(tvm).toBeDefined();
  });

  test('THEN every rule pattern stays within EventBridge\'s default 2,048 characters, with 200 spoke accounts (none is listed in them)', () => {
    const app = newApp();
    const stack = new Stack(app, 'Hub', { env: { account: HUB, region: REGION } });
    const spokes = Array.from({ length: 200 }, (_, i) => String(200000000000 + i));
    new SentinelTvm(stack, 'Tvm', { tvmName: 'example', adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)], spokeAccounts: spokes });
    const template = Template.fromStack(stack).toJSON();
    const sizes = Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern)
      .map((r) => JSON.stringify(new CfnResolver(template, Object.fromEntries(Object.keys(template.Resources).map((id) => [`${id}.RoleId`, 'AROA0123456789EXAMPLE'])))
        .resolve(r.Properties.EventPattern)).length);
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    expect(sizes.filter((n) => n > 2048)).toEqual([]);
  });

  test('THEN a spoke in us-east-1 forwards its account\'s tampering (not its enforcement role\'s writes) to the hub, whose bus admits it', () => {
    const app = newApp();
    const { stack: hub, tvm } = hubStack(app);
    const spokeStack = new Stack(app, 'Spoke', { env: { account: SPOKE, region: 'us-east-1' } });
    const spoke = new SentinelTvmSpoke(spokeStack, 'Spoke', { tvm, forwardTamperEvents: true });
    const template = Template.fromStack(spokeStack).toJSON();
    const enforcementRole = Object.entries<any>(template.Resources)
      .find(([, r]) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName === `test-spoke-${REGION}`)![0];
    const resolver = new CfnResolver(template, { [`${enforcementRole}.RoleId`]: 'AROASPOKEENF0EXAMPLE1' });
    const [rule] = rulePatternsOf(template, (v) => resolver.resolve(v));
    const ruleResource = template.Resources[rule.logicalId];
    expect(resolver.resolve(ruleResource.Properties.Targets[0].Arn)).toBe(`arn:aws:events:${REGION}:${HUB}:event-bus/default`);
    expect(matchesEventPattern(rule.pattern, RECORDED['spoke-deny-deleted'])).toBe(true);
    expect(matchesEventPattern(rule.pattern, RECORDED['spoke-deny-written-by-spoke-enforcer'])).toBe(false);
    // The hub's default bus lets the spoke's account put events on it.
    Template.fromStack(hub).hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: 'default',
      Statement: Match.objectLike({ Action: 'events:PutEvents', Principal: { AWS: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${SPOKE}:root`]] }] } }),
    });
    expect(spoke).toBeDefined();
    expect(() => new SentinelTvmSpoke(new Stack(app, 'West', { env: { account: '777788889999', region: 'eu-west-1' } }), 'Spoke', {
      tvm, forwardTamperEvents: true,
    })).toThrow(/forwardTamperEvents: its stack is in eu-west-1; it must be in us-east-1/);
  });

  test('refuses a forwarder outside us-east-1, and tamperDetection: true without the enforcer', () => {
    const app = newApp();
    const { tvm } = hubStack(app);
    const west = new Stack(app, 'West', { env: { account: HUB, region: 'eu-west-1' } });
    // A TVM in us-east-1 needs none; a forwarder anywhere but us-east-1 receives nothing to forward.
    expect(() => new SentinelTvmTamperForwarder(west, 'F', { tvm })).toThrow(/tvm is in us-east-1 already/);
    const westTvm = new SentinelTvm(west, 'Tvm', { tvmName: 'west', adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)] });
    expect(() => new SentinelTvmTamperForwarder(west, 'F2', { tvm: westTvm })).toThrow(/its stack is in eu-west-1; it must be in us-east-1/);
    const stack = new Stack(newApp(), 'S', { env: { account: HUB, region: 'eu-west-1' } });
    const { RevocationEnforcement } = jest.requireActual('../src');
    expect(() => new SentinelTvm(stack, 'Tvm', {
      adminPrincipals: [P(`arn:aws:iam::${HUB}:role/SecurityOps`)], revocation: RevocationEnforcement.futureVendsOnly(), tamperDetection: true,
    })).toThrow(/^tamperDetection: true needs the revocation enforcer/);
  });
});

describe('GIVEN the enforcer, a revoked session denied on a protected role, and recorded CloudTrail events', () => {
  let fx: Fixture;
  let iam: LocalIam;
  let eb: LocalEventBridge;
  let client: EventBridgeClient;
  let delivered: DeliveredEvent[];
  let kinds: string[];
  let logs: { level: string; message: string; [k: string]: unknown }[];
  const validate = eventValidator();
  const SESSION = 'a1a1a1a1a1a1a1a1';

  function deps(): EnforcerDeps {
    return {
      tableName: fx.tableName,
      ddb: fx.ddb,
      iam: new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 }),
      policyName: POLICY,
      protectedRolePath: '/sentinel-tvm/test/',
      account: HUB,
      spokeAccounts: [SPOKE],
      loadConfig: async () => ({ profiles: new Map([...CONFIG.profiles].filter(([, p]) => p.roleArn === HUB_ROLE)) }),
      log: (level, message, fields) => logs.push({ level, message, ...fields }),
      events: { target: { tvmName: 'test' }, publish: eventPublisher({ client, sleep: async () => undefined }) },
      tamper: { vendRoleArn: VEND_ROLE, enforcerRoleArns: [ENFORCER_ROLE, SPOKE_ENFORCER_ROLE] },
      tamperMetrics: (kind) => kinds.push(kind),
    };
  }
  const denyOnRole = () => iam.roles.get('hub-ReadOnly')?.get(POLICY);
  const tamperEvents = () => delivered.filter((e) => e['detail-type'] === 'Tamper Detected').map((e) => e.detail as Record<string, any>);

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
    logs = [];
    await emptyTable(fx.ddb, fx.tableName);
    for (const policies of iam.roles.values()) policies.clear();
    iam.fail(undefined);
    // A session revoked a minute ago, whose credentials live 14 more minutes: its deny is on the role.
    const now = new Date();
    await putItems(fx.ddb, fx.tableName, [revokedItems(CONFIG)(SESSION, HUB_ROLE, {
      revokedAt: new Date(now.getTime() - 60_000), credentialsExpireAt: new Date(now.getTime() + 14 * 60_000),
    })]);
    await createEnforcer(deps())({ source: 'aws.events' });
    expect(denyOnRole()).toContain(SESSION);
  });
  afterEach(() => {
    for (const e of delivered) expect([e['detail-type'], validate(e)]).toEqual([e['detail-type'], []]);
  });

  test('WHEN someone deletes the deny policy THEN the enforcer rewrites it at once, counts it and puts Tamper Detected', async () => {
    iam.roles.get('hub-ReadOnly')!.delete(POLICY); // what mallory's DeleteRolePolicy did
    const summary: EnforcementSummary = await createEnforcer(deps())(RECORDED['deny-deleted-by-iam-user']);

    expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'enforced' });
    expect(denyOnRole()).toContain(SESSION);
    expect(kinds).toEqual(['deny-policy']);
    expect(tamperEvents()).toEqual([expect.objectContaining({
      kind: 'deny-policy',
      eventName: 'DeleteRolePolicy',
      actor: `arn:aws:iam::${HUB}:user/mallory`,
      actorType: 'IAMUser',
      role: 'hub-ReadOnly',
      account: HUB,
      region: REGION,
      reenforcement: 'enforced',
      eventId: RECORDED['deny-deleted-by-iam-user'].detail.eventID,
    })]);
    expect(logs.some((l) => l.level === 'WARN' && l.message === 'tamper detected')).toBe(true);
  });

  test('WHEN someone overwrites the deny with a deny of nothing THEN the list is written back', async () => {
    iam.roles.get('hub-ReadOnly')!.set(POLICY, RECORDED['deny-overwritten-by-admin'].detail.requestParameters.policyDocument);
    const summary = await createEnforcer(deps())(RECORDED['deny-overwritten-by-admin']);
    expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'enforced' });
    expect(denyOnRole()).toContain(SESSION);
    expect(kinds).toEqual(['deny-policy']);
  });

  test('WHEN a protected role\'s trust is changed by an administrator THEN it is tampering (re-enforced, alarmed)', async () => {
    const summary = await createEnforcer(deps())(RECORDED['trust-changed-by-admin']);
    expect(summary.tamper).toEqual({ judged: 'trust-policy', reenforcement: 'enforced' });
    expect(kinds).toEqual(['trust-policy']);
    expect(tamperEvents()[0]).toMatchObject({ kind: 'trust-policy', role: 'hub-ReadOnly', actorType: 'AssumedRole' });
  });

  test('WHEN someone but the TVM assumes a protected role (even in vain) THEN it is alarmed, and nothing is rewritten', async () => {
    const writes = iam.calls.length;
    for (const name of ['assume-by-iam-user-denied', 'assume-by-admin-succeeded']) {
      const summary = await createEnforcer(deps())(RECORDED[name]);
      expect(summary.tamper).toEqual({ judged: 'foreign-assume-role', reenforcement: 'not-needed' });
    }
    expect(kinds).toEqual(['foreign-assume-role', 'foreign-assume-role']);
    expect(tamperEvents().map((d) => [d.actor, d.errorCode])).toEqual([
      [`arn:aws:iam::${HUB}:user/mallory`, 'AccessDenied'],
      [`arn:aws:sts::${HUB}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/dave@example.com`, undefined],
    ]);
    expect(iam.calls.slice(writes).filter((c) => c.action !== 'GetRolePolicy' && c.action !== 'ListRolePolicies')).toEqual([]);
  });

  test.each([
    ['deny-written-by-enforcer', 'own-write'],
    ['spoke-deny-written-by-spoke-enforcer', 'own-write'],
    ['trust-changed-by-cloudformation', 'cloudformation'],
    ['trust-changed-on-unrelated-role', 'other-role'],
    ['other-policy-written', 'other-policy'],
    ['assume-by-tvm', 'tvm'],
    ['assume-of-unrelated-role', 'other-role'],
    ['unknown-account-deny-deleted', 'other-account'],
  ])('WHEN %s reaches it THEN it is not tampering (%s): no count, no event, no run', async (name, judged) => {
    const writes = iam.calls.length;
    const summary = await createEnforcer(deps())(RECORDED[name]);
    expect(summary.tamper).toEqual({ judged, reenforcement: 'not-needed' });
    expect(kinds).toEqual([]);
    expect(tamperEvents()).toEqual([]);
    expect(iam.calls.length).toBe(writes);
  });

  test('WHEN the re-enforcement fails THEN the event says so and the invocation does not fail (no double count on a retry)', async () => {
    iam.roles.get('hub-ReadOnly')!.delete(POLICY);
    iam.fail({ code: 'AccessDenied', message: 'not authorized', status: 403, actions: ['PutRolePolicy'] });
    try {
      const summary = await createEnforcer(deps())(RECORDED['deny-deleted-by-iam-user']);
      expect(summary.tamper).toEqual({ judged: 'deny-policy', reenforcement: 'failed' });
    } finally {
      iam.fail(undefined);
    }
    expect(kinds).toEqual(['deny-policy']);
    expect(tamperEvents()[0]).toMatchObject({ reenforcement: 'failed' });
  });
});
