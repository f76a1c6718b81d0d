// The public API settled before 1.0 (issue 15): imported TVMs, type guards, tvmName, the profiles prop, alarms and
// metrics, grants, ProtectedRole's invariants, removalPolicy and throttle validation, as a user of the construct sees them.
import { App, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  DenialCode, PrincipalPattern, ProtectedRole, RevocationEnforcement, SentinelTvm, type SentinelTvmAttributes, type SentinelTvmProps,
} from '../src';
import {
  ACCOUNT, ALICE, BOB, CfnResolver, P, REGION, asArray, configOf, fullTvm, iamWildcardMatch, identityStatementsOf, logicalIdOf, newApp,
  removeOutdirs,
} from './support/synth';
import { ErrorCodes, Metrics, Routes } from '../src/shared/contract';

afterAll(removeOutdirs);

const OTHER_ACCOUNT = '444455556666';
const ENV = { account: ACCOUNT, region: REGION };

/** The attributes a TVM deployed in OTHER_ACCOUNT, us-west-2, prints. */
const ATTRS: SentinelTvmAttributes = {
  url: 'https://abc123defg.execute-api.us-west-2.amazonaws.com/',
  apiId: 'abc123defg',
  executionRoleArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/sentinel-tvm-runtime/central/central-vend-us-west-2`,
  tvmName: 'central',
};

function newStack(id = 'Stack', env: { account: string; region: string } | undefined = ENV): Stack {
  return new Stack(newApp(), id, { env });
}

function newTvm(props: SentinelTvmProps = {}, stack = newStack()): SentinelTvm {
  return new SentinelTvm(stack, 'Tvm', props);
}

const resourcesOf = (template: any, type: string): Array<[string, any]> =>
  Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);

describe('GIVEN a TVM deployed elsewhere, imported with fromSentinelTvmAttributes', () => {
  test('THEN a ProtectedRole trusts its account, on condition that the caller is its execution role, under its path', () => {
    const stack = newStack('Spoke');
    const tvm = SentinelTvm.fromSentinelTvmAttributes(stack, 'Central', ATTRS);
    const role = new ProtectedRole(stack, 'ReadOnly', { tvm });

    const template = Template.fromStack(stack).toJSON();
    const resolver = new CfnResolver(template);
    const props = template.Resources[logicalIdOf(role)].Properties;
    expect(props.Path).toBe('/sentinel-tvm/central/');
    const statements = resolver.resolve(props.AssumeRolePolicyDocument.Statement);
    expect(statements.map((s: any) => s.Sid).sort()).toEqual(['SentinelTvmAssumeRole', 'SentinelTvmSetSourceIdentity', 'SentinelTvmTagSession']);
    for (const statement of statements) {
      expect(statement.Principal).toEqual({ AWS: `arn:aws:iam::${OTHER_ACCOUNT}:root` });
      expect(statement.Condition.ArnEquals).toEqual({ 'aws:PrincipalArn': ATTRS.executionRoleArn });
    }
    expect(tvm.protectedRolePath).toBe('/sentinel-tvm/central/');
    expect(tvm.revokedSessionsPolicyName).toBe('SentinelRevokedSessions-central-us-west-2');
    expect(role.tvm).toBe(tvm);
  });

  test('THEN grantInvoke names the caller routes of its API, in its region and account, and not the revoke route', () => {
    const stack = newStack('Caller', { account: OTHER_ACCOUNT, region: 'eu-west-1' });
    const tvm = SentinelTvm.fromSentinelTvmAttributes(stack, 'Central', ATTRS);
    const caller = new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });

    expect(tvm.grantInvoke(caller).success).toBe(true);

    const template = Template.fromStack(stack).toJSON();
    const patterns: string[] = new CfnResolver(template).resolve(identityStatementsOf(template, logicalIdOf(caller)))
      .flatMap((s: any) => asArray<string>(s.Resource));
    const route = (method: string, path: string) =>
      `arn:aws:execute-api:us-west-2:${OTHER_ACCOUNT}:abc123defg/$default/${method}${path.replace('{id}', '0123456789abcdef')}`;
    for (const r of Routes) {
      const allowed = patterns.some((p) => iamWildcardMatch(p, route(r.method, r.path)));
      expect({ route: `${r.method} ${r.path}`, allowed }).toEqual({ route: `${r.method} ${r.path}`, allowed: !r.path.endsWith('/revoke') && r.path !== '/introspect' });
    }
    expect(patterns.every((p) => p.startsWith(`arn:aws:execute-api:us-west-2:${OTHER_ACCOUNT}:abc123defg/$default/`))).toBe(true);
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('crossAccountInvoke'));
  });

  test('THEN its metrics carry its name, like those of a TVM of this app', () => {
    const tvm = SentinelTvm.fromSentinelTvmAttributes(newStack(), 'Central', ATTRS);
    expect(tvm.metricVends().dimensions).toEqual({ [Metrics.SERVICE_DIMENSION]: 'central' });
    expect(tvm.metricDenialsByCode(DenialCode.SESSION_REVOKED).dimensions)
      .toEqual({ [Metrics.SERVICE_DIMENSION]: 'central', [Metrics.CODE_DIMENSION]: 'SESSION_REVOKED' });
  });

  test('THEN a revokedSessionsPolicyName given with the attributes is kept', () => {
    const tvm = SentinelTvm.fromSentinelTvmAttributes(newStack(), 'Central', { ...ATTRS, revokedSessionsPolicyName: 'Custom' });
    expect(tvm.revokedSessionsPolicyName).toBe('Custom');
  });

  test('THEN deploy-time attributes are accepted (e.g. read from SSM parameters)', () => {
    const stack = newStack();
    const token = (name: string) => Token.asString({ Ref: name });
    expect(() => SentinelTvm.fromSentinelTvmAttributes(stack, 'Central', {
      url: token('Url'), apiId: token('ApiId'), executionRoleArn: token('RoleArn'), tvmName: 'central',
    })).not.toThrow();
  });

  test.each<[string, Partial<SentinelTvmAttributes>, RegExp]>([
    ['the url is not https', { url: 'http://abc123defg.execute-api.us-west-2.amazonaws.com/' }, /url "http:\/\/abc123defg/],
    ['the url has a path', { url: 'https://abc123defg.execute-api.us-west-2.amazonaws.com/prod/' }, /url "https:.*\/prod\/"/],
    ['the url is empty', { url: '' }, /url is required/],
    ['the apiId is empty', { apiId: '' }, /apiId is required/],
    ['the executionRoleArn is not a role ARN', { executionRoleArn: `arn:aws:iam::${OTHER_ACCOUNT}:user/central` },
      /executionRoleArn "arn:aws:iam::\d+:user/],
    ['the executionRoleArn has a 5-digit account', { executionRoleArn: 'arn:aws:iam::12345:role/x' }, /executionRoleArn "arn:aws:iam::12345/],
    ['the tvmName has a space', { tvmName: 'has space' }, /tvmName "has space" is not a valid TVM name/],
    ['the tvmName is missing', { tvmName: undefined }, /tvmName is required/],
  ])('fails when %s, naming the attribute', (_case, change, message) => {
    expect(() => SentinelTvm.fromSentinelTvmAttributes(newStack(), 'Central', { ...ATTRS, ...change } as SentinelTvmAttributes))
      .toThrow(message);
  });
});

describe('GIVEN the type guards', () => {
  test('THEN isSentinelTvm and isProtectedRole recognize their own kind only', () => {
    const stack = newStack();
    const tvm = newTvm({}, stack);
    const imported = SentinelTvm.fromSentinelTvmAttributes(stack, 'Imported', ATTRS);
    const role = new ProtectedRole(stack, 'ReadOnly', { tvm });
    const plain = new iam.Role(stack, 'Plain', { assumedBy: new iam.AccountRootPrincipal() });
    const byArn = ProtectedRole.fromProtectedRoleArn(stack, 'ByArn', `arn:aws:iam::${ACCOUNT}:role/x`, tvm);

    expect([tvm, imported, role, null, undefined, {}].map((x) => SentinelTvm.isSentinelTvm(x))).toEqual([true, false, false, false, false, false]);
    expect([role, plain, byArn, tvm, null, {}].map((x) => ProtectedRole.isProtectedRole(x))).toEqual([true, false, false, false, false, false]);
  });

  test('THEN the SourceIdentity prefix and session tag key are published for downstream conditions', () => {
    expect(SentinelTvm.SOURCE_IDENTITY_PREFIX).toBe('sentinel.');
    expect(SentinelTvm.SESSION_TAG_KEY).toBe('SentinelSessionID');
  });
});

describe('GIVEN tvmName', () => {
  test('THEN a given name names the metrics, the paths, the execution role and the revoked-sessions policy', () => {
    const tvm = newTvm({ tvmName: 'payments_prod-1' });
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    expect(tvm.tvmName).toBe('payments_prod-1');
    expect(tvm.protectedRolePath).toBe('/sentinel-tvm/payments_prod-1/');
    expect(tvm.revokedSessionsPolicyName).toBe(`SentinelRevokedSessions-payments_prod-1-${REGION}`);
    expect(template.Resources[logicalIdOf(tvm.node.findChild('ExecutionRole'))].Properties.RoleName).toBe(`payments_prod-1-vend-${REGION}`);
    expect(tvm.metricVends().dimensions).toEqual({ service: 'payments_prod-1' });
  });

  test('THEN the default is derived from the construct path: a valid name, different for TVMs of the same id in two stacks', () => {
    const app = newApp();
    const deep = new Stack(app, 'AVeryLongStackNameForAPlatformTeamThatLikesLongNames', { env: ENV });
    const a = new SentinelTvm(deep, 'TokenVendingMachineWithAnEvenLongerConstructId');
    const b = new SentinelTvm(new Stack(app, 'Other', { env: ENV }), 'TokenVendingMachineWithAnEvenLongerConstructId');
    for (const name of [a.tvmName, b.tvmName]) expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/);
    expect(a.tvmName).not.toBe(b.tvmName);
  });

  test.each([
    ['it is empty', ''],
    ['it has a space', 'has space'],
    ['it has 41 characters', 'n'.repeat(41)],
    ['it starts with a dash', '-leading'],
    ['it has a slash (it is part of an IAM path)', 'a/b'],
    ['it has a dot', 'a.b'],
  ])('fails when %s, naming tvmName', (_case, name) => {
    const quoted = JSON.stringify(name).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(() => newTvm({ tvmName: name })).toThrow(new RegExp(`tvmName ${quoted} is not a valid`));
  });

  test('fails when tvmName is a deploy-time value, naming tvmName', () => {
    expect(() => newTvm({ tvmName: Token.asString({ Ref: 'Name' }) })).toThrow(/tvmName must be a literal string/);
  });

  test('accepts 40 characters', () => {
    expect(newTvm({ tvmName: 'n'.repeat(40) }).tvmName).toBe('n'.repeat(40));
  });
});

describe('GIVEN profiles declared in the props', () => {
  test('THEN the TVM deploys exactly what the same profiles added with addProfile deploy', () => {
    const build = (declare: boolean) => {
      const stack = newStack();
      const readOnly = new iam.Role(stack, 'ReadOnly', { assumedBy: new iam.AccountRootPrincipal() });
      const deploy = new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() });
      const profiles = [
        { name: 'readonly', role: readOnly, allowedPrincipals: [P(ALICE)] },
        { name: 'deploy', role: deploy, allowedPrincipals: [PrincipalPattern.iamUser(ACCOUNT, 'bob')], allowRoleChainingTo: [readOnly] },
      ];
      const tvm = new SentinelTvm(stack, 'Tvm', { tvmName: 'same', ...(declare ? { profiles } : {}) });
      if (!declare) profiles.forEach(({ name, ...options }) => tvm.addProfile(name, options));
      return { tvm, template: Template.fromStack(stack).toJSON() };
    };
    const declared = build(true);
    const added = build(false);
    expect(declared.tvm.profileNames).toEqual(['readonly', 'deploy']);
    expect(declared.template).toEqual(added.template);
    expect(configOf(declared.template, new CfnResolver(declared.template)).profiles.map((p) => p.name)).toEqual(['readonly', 'deploy']);
  });

  test('fails when a declared profile has no name', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.AccountRootPrincipal() });
    expect(() => new SentinelTvm(stack, 'Tvm', { profiles: [{ role, allowedPrincipals: [P(ALICE)] } as any] }))
      .toThrow(/profiles\[0\]: name is required/);
  });

  test('fails when a declared profile is invalid, naming it', () => {
    const stack = newStack();
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.AccountRootPrincipal() });
    expect(() => new SentinelTvm(stack, 'Tvm', { profiles: [{ name: 'ok', role, allowedPrincipals: [] }] }))
      .toThrow(/addProfile\("ok"\)\.allowedPrincipals must name at least one/);
  });
});

describe('GIVEN revocation', () => {
  test('THEN by default (roleDenyPolicy) an enforcer and its alarm exist, and enforcerRoleArn names its role', () => {
    const tvm = newTvm();
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const enforcer = tvm.node.findChild('Enforcer');
    expect(template.Resources[logicalIdOf(enforcer.node.findChild('Function'))].Type).toBe('AWS::Lambda::Function');
    expect(Stack.of(tvm).resolve(tvm.enforcerRoleArn)).toEqual({ 'Fn::GetAtt': [logicalIdOf(enforcer.node.findChild('Role')), 'Arn'] });
    expect(tvm.enforcementFailuresAlarm).toBeDefined();
    expect(RevocationEnforcement.roleDenyPolicy().mode).toBe('ROLE_DENY_POLICY');
  });

  test('WHEN it is futureVendsOnly THEN no enforcer, no enforcer role, no alarm: revocation only refuses future vends', () => {
    const tvm = newTvm({ revocation: RevocationEnforcement.futureVendsOnly() });
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    expect(tvm.node.tryFindChild('Enforcer')).toBeUndefined();
    expect(tvm.enforcerRoleArn).toBeUndefined();
    expect(tvm.enforcementFailuresAlarm).toBeUndefined();
    expect(resourcesOf(template, 'AWS::Lambda::Function').map(([id]) => id).filter((id) => /Enforcer/.test(id))).toEqual([]);
    expect(resourcesOf(template, 'AWS::CloudWatch::Alarm')).toEqual([]);
    expect(resourcesOf(template, 'AWS::Events::Rule')).toEqual([]);
    expect(RevocationEnforcement.futureVendsOnly().mode).toBe('FUTURE_VENDS_ONLY');
  });

  test('fails when a profile\'s role is in another account while revocation reaches issued credentials (the enforcer writes '
    + 'denies in its own account only); futureVendsOnly accepts it', () => {
    const foreign = (tvm: SentinelTvm) => iam.Role.fromRoleArn(Stack.of(tvm), 'Foreign', `arn:aws:iam::${OTHER_ACCOUNT}:role/Reader`);
    const denying = newTvm();
    denying.addProfile('reader', { role: foreign(denying), allowedPrincipals: [P(ALICE)] });
    expect(() => Template.fromStack(Stack.of(denying)))
      .toThrow(new RegExp(`addProfile\\("reader"\\)\\.role is arn:aws:iam::${OTHER_ACCOUNT}:role/Reader, in account ${OTHER_ACCOUNT}.*futureVendsOnly`));
    const futureOnly = newTvm({ revocation: RevocationEnforcement.futureVendsOnly() });
    expect(() => futureOnly.addProfile('reader', { role: foreign(futureOnly), allowedPrincipals: [P(ALICE)] })).not.toThrow();
  });
});

describe('GIVEN addAlarms', () => {
  const actionsOf = (template: any, id: string) => {
    const p = template.Resources[id].Properties;
    return { alarm: p.AlarmActions, ok: p.OKActions };
  };

  test('THEN it returns the alarms by name, each on its metric, with the actions on every alarm and on the enforcement alarm', () => {
    const stack = newStack();
    const tvm = newTvm({}, stack);
    const pager = new sns.Topic(stack, 'Pager');
    const recovered = new sns.Topic(stack, 'Recovered');

    const alarms = tvm.addAlarms({
      alarmActions: [new cw_actions.SnsAction(pager)],
      okActions: [new cw_actions.SnsAction(recovered)],
    });

    const template = Template.fromStack(stack).toJSON();
    const expected = { alarm: [{ Ref: logicalIdOf(pager) }], ok: [{ Ref: logicalIdOf(recovered) }] };
    const metricOf = (alarm: any) => {
      const p = template.Resources[logicalIdOf(alarm)].Properties;
      return [p.Namespace, p.MetricName];
    };
    expect(metricOf(alarms.stsFailures)).toEqual(['SentinelTvm', 'StsFailures']);
    expect(metricOf(alarms.storeFailures)).toEqual(['SentinelTvm', 'StoreFailures']);
    expect(metricOf(alarms.serverErrors)).toEqual(['AWS/ApiGateway', '5xx']);
    expect(metricOf(alarms.throttles)).toEqual(['AWS/Lambda', 'Throttles']);
    expect(metricOf(alarms.enforcerErrors!)).toEqual(['AWS/Lambda', 'Errors']);
    const all = [alarms.stsFailures, alarms.storeFailures, alarms.serverErrors, alarms.throttles, alarms.enforcerErrors!,
      tvm.enforcementFailuresAlarm!, tvm.tamperAlarm!];
    for (const alarm of all) {
      const id = logicalIdOf(alarm as any);
      expect({ id, actions: actionsOf(template, id) }).toEqual({ id, actions: expected });
    }
    expect(resourcesOf(template, 'AWS::CloudWatch::Alarm')).toHaveLength(7);
  });

  test('THEN the period and thresholds apply to the alarms it creates', () => {
    const tvm = newTvm();
    const alarms = tvm.addAlarms({ period: Duration.minutes(1), throttlesThreshold: 5, enforcerErrorsThreshold: 2 });
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const props = (alarm: any) => template.Resources[logicalIdOf(alarm)].Properties;
    expect(props(alarms.throttles)).toMatchObject({ Period: 60, Threshold: 5 });
    expect(props(alarms.enforcerErrors)).toMatchObject({ Period: 60, Threshold: 2 });
    expect(props(alarms.stsFailures)).toMatchObject({ Period: 60, Threshold: 1 });
  });

  test('WHEN revocation is futureVendsOnly THEN there is no enforcer alarm', () => {
    const alarms = newTvm({ revocation: RevocationEnforcement.futureVendsOnly() }).addAlarms();
    expect(alarms.enforcerErrors).toBeUndefined();
    expect(alarms.stsFailures).toBeDefined();
  });

  test('fails when addAlarms is called a second time, naming the TVM', () => {
    const tvm = newTvm();
    tvm.addAlarms();
    expect(() => tvm.addAlarms()).toThrow(/addAlarms was already called on Stack\/Tvm/);
  });
});

describe('GIVEN the metrics', () => {
  test('THEN the function and API metrics name this TVM\'s own function and API', () => {
    const stack = newStack();
    const tvm = newTvm({}, stack);
    const handler = logicalIdOf(tvm.node.findChild('Handler'));
    const enforcer = logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Function'));
    const api = logicalIdOf(tvm.node.findChild('Api'));
    const dims = (metric: { dimensions?: Record<string, unknown> }) => stack.resolve(metric.dimensions);
    expect(dims(tvm.metricHandlerErrors())).toEqual({ FunctionName: { Ref: handler } });
    expect(dims(tvm.metricHandlerThrottles())).toEqual({ FunctionName: { Ref: handler } });
    expect(dims(tvm.metricEnforcerErrors())).toEqual({ FunctionName: { Ref: enforcer } });
    for (const metric of [tvm.metricApiClientErrors(), tvm.metricApiServerErrors(), tvm.metricApiLatency()]) {
      expect(dims(metric)).toEqual({ ApiId: { Ref: api } });
    }
    expect([tvm.metricHandlerErrors(), tvm.metricHandlerThrottles(), tvm.metricEnforcerErrors()].map((m) => [m.namespace, m.metricName, m.statistic]))
      .toEqual([['AWS/Lambda', 'Errors', 'Sum'], ['AWS/Lambda', 'Throttles', 'Sum'], ['AWS/Lambda', 'Errors', 'Sum']]);
    expect(tvm.metricApiLatency().statistic).toBe('p99');
  });

  test('THEN metricDenialsByCode adds the Code dimension to the Denials metric, and props are kept', () => {
    const tvm = newTvm();
    const metric = tvm.metricDenialsByCode(DenialCode.PRINCIPAL_BLOCKED, { period: Duration.minutes(1), dimensionsMap: { Extra: 'x' } });
    expect(metric.metricName).toBe(Metrics.DENIALS);
    expect(metric.dimensions).toEqual({ service: tvm.tvmName, Code: 'PRINCIPAL_BLOCKED', Extra: 'x' });
    expect(metric.period.toSeconds()).toBe(60);
  });

  test('THEN a props dimension cannot replace the TVM\'s service dimension', () => {
    const tvm = newTvm();
    expect(tvm.metricVends({ dimensionsMap: { service: 'someone-else' } }).dimensions).toEqual({ service: tvm.tvmName });
  });

  test('THEN DenialCode is exactly the 4xx error codes of the HTTP API', () => {
    const fourXx = Object.entries(ErrorCodes).filter(([, status]) => status >= 400 && status < 500).map(([code]) => code).sort();
    expect(Object.values(DenialCode).sort()).toEqual(fourXx);
    for (const [key, value] of Object.entries(DenialCode)) expect(key).toBe(value);
  });
});

describe('GIVEN grants', () => {
  test('WHEN grantInvoke is given a role of another account THEN a warning says HTTP APIs refuse it', () => {
    const app = newApp();
    const tvm = new SentinelTvm(new Stack(app, 'Tvm', { env: ENV }), 'Tvm');
    const elsewhere = new Stack(app, 'Elsewhere', { env: { account: OTHER_ACCOUNT, region: REGION } });
    const caller = new iam.Role(elsewhere, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });

    tvm.grantInvoke(caller);

    const warnings = Annotations.fromStack(elsewhere).findWarning('/Elsewhere/Caller', Match.stringLikeRegexp('crossAccountInvoke'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].entry.data).toMatch(new RegExp(`Elsewhere/Caller is in account ${OTHER_ACCOUNT}, the TVM Tvm/Tvm in ${ACCOUNT}`));
  });

  test('WHEN grantInvoke is given a role of the same account, or of an environment-agnostic stack, THEN there is no warning', () => {
    for (const stack of [newStack('Same'), newStack('Agnostic', undefined)]) {
      const tvm = new SentinelTvm(stack, 'Tvm');
      tvm.grantInvoke(new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() }));
      expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('crossAccountInvoke'))).toEqual([]);
    }
  });

  test('WHEN grantManageSessions is given a role and a user THEN both are administrators and may call the revoke route', () => {
    const stack = newStack();
    const tvm = newTvm({ adminPrincipals: [P(ALICE)] }, stack);
    const ops = new iam.Role(stack, 'Ops', { assumedBy: new iam.AccountRootPrincipal() });
    const oncall = new iam.User(stack, 'Oncall');

    for (const grantee of [ops, oncall]) expect(tvm.grantManageSessions(grantee).success).toBe(true);

    const template = Template.fromStack(stack).toJSON();
    const resolver = new CfnResolver(template);
    expect(configOf(template, resolver).adminPrincipals).toEqual([ALICE, resolver.arn(logicalIdOf(ops)), resolver.arn(logicalIdOf(oncall))]);
    const apiId = resolver.ref(logicalIdOf(tvm.node.findChild('Api')));
    const revoke = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/$default/POST/sessions/0123456789abcdef/revoke`;
    const users = resourcesOf(template, 'AWS::IAM::Policy').filter(([, r]) => (r.Properties.Users ?? []).length > 0);
    const userPatterns = users.flatMap(([, r]) => resolver.resolve(r.Properties.PolicyDocument.Statement))
      .flatMap((s: any) => asArray<string>(s.Resource));
    const rolePatterns = resolver.resolve(identityStatementsOf(template, logicalIdOf(ops))).flatMap((s: any) => asArray<string>(s.Resource));
    for (const patterns of [rolePatterns, userPatterns]) expect(patterns.some((p: string) => iamWildcardMatch(p, revoke))).toBe(true);
  });

  test('WHEN grantReadSessions is given a grantee and the table has a customer key THEN the grant includes decrypting with it', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const tvm = newTvm({ encryptionKey: key }, stack);
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });

    expect(tvm.grantReadSessions(reader).success).toBe(true);

    const statements = identityStatementsOf(Template.fromStack(stack).toJSON(), logicalIdOf(reader));
    const kmsStatements = statements.filter((s) => asArray<string>(s.Action).includes('kms:Decrypt'));
    expect(kmsStatements.flatMap((s) => asArray(s.Resource))).toEqual([{ 'Fn::GetAtt': [logicalIdOf(key), 'Arn'] }]);
    expect(statements.flatMap((s) => asArray<string>(s.Action)).filter((a) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
  });
});

describe('GIVEN a ProtectedRole', () => {
  test('fails at synth when a statement is added to its trust policy: a protected role trusts only its TVM', () => {
    const stack = newStack();
    const role = new ProtectedRole(stack, 'ReadOnly', { tvm: newTvm({}, stack) });
    role.assumeRolePolicy!.addStatements(new iam.PolicyStatement({
      sid: 'Backdoor',
      actions: ['sts:AssumeRole'],
      principals: [new iam.AccountRootPrincipal()],
    }));
    expect(() => App.of(stack)!.synth())
      .toThrow(/ProtectedRole Stack\/ReadOnly: its trust policy has 1 statement\(s\) not added by the TVM \(Sid Backdoor\)/);
  });

  test('fails at synth when its path is overridden after construction (e.g. by a property injector)', () => {
    const stack = newStack();
    const role = new ProtectedRole(stack, 'ReadOnly', { tvm: newTvm({}, stack) });
    (role.node.defaultChild as iam.CfnRole).path = '/elsewhere/';
    expect(() => App.of(stack)!.synth()).toThrow(/ProtectedRole Stack\/ReadOnly: its path was changed to \/elsewhere\//);
  });

  test('THEN an untouched ProtectedRole synthesizes, with its name when given one', () => {
    const stack = newStack();
    const tvm = newTvm({}, stack);
    const role = new ProtectedRole(stack, 'ReadOnly', { tvm, roleName: 'prod-readonly' });
    tvm.addProfile('readonly', { role, allowedPrincipals: [P(BOB)] });
    expect(() => App.of(stack)!.synth()).not.toThrow();
    expect(Template.fromStack(stack).toJSON().Resources[logicalIdOf(role)].Properties.RoleName).toBe('prod-readonly');
  });

  test('fails when it has no tvm', () => {
    expect(() => new ProtectedRole(newStack(), 'R', {} as any)).toThrow(/ProtectedRole R: tvm is required/);
  });

  test('WHEN a protected role of another stack or app is named with fromProtectedRoleArn THEN addProfile trusts it without the imported-role '
    + 'warning', () => {
    const stack = newStack();
    const tvm = newTvm({}, stack);
    const arn = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/${tvm.tvmName}/elsewhere`;
    const role = ProtectedRole.fromProtectedRoleArn(stack, 'Elsewhere', arn, tvm);
    expect(role.tvm).toBe(tvm);
    tvm.addProfile('elsewhere', { role, allowedPrincipals: [P(ALICE)] });
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('importedRole\\]'))).toEqual([]);
    const byName = ProtectedRole.fromProtectedRoleName(stack, 'ByName', 'team/other', tvm);
    expect(stack.resolve(byName.roleArn)).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${ACCOUNT}:role/team/other`]] });
  });
});

describe('GIVEN removalPolicy DESTROY', () => {
  test('THEN both tables and every log group of the TVM are deleted with the stack', () => {
    const tvm = newTvm({ removalPolicy: RemovalPolicy.DESTROY });
    const template = Template.fromStack(Stack.of(tvm)).toJSON();
    const stateful = [...resourcesOf(template, 'AWS::DynamoDB::Table'), ...resourcesOf(template, 'AWS::Logs::LogGroup')];
    expect(stateful.length).toBeGreaterThanOrEqual(2 + 4); // the tables; the vending, access, enforcer and writer logs
    for (const [id, resource] of stateful) {
      expect({ id, deletion: resource.DeletionPolicy, replace: resource.UpdateReplacePolicy }).toEqual({ id, deletion: 'Delete', replace: 'Delete' });
    }
  });

  test('THEN by default both tables and every log group are retained', () => {
    const template = Template.fromStack(Stack.of(newTvm())).toJSON();
    for (const [id, resource] of [...resourcesOf(template, 'AWS::DynamoDB::Table'), ...resourcesOf(template, 'AWS::Logs::LogGroup')]) {
      expect({ id, deletion: resource.DeletionPolicy }).toEqual({ id, deletion: 'Retain' });
    }
  });
});

describe('GIVEN throttle settings', () => {
  test.each<[string, SentinelTvmProps, RegExp]>([
    ['throttle.rateLimit is 0', { throttle: { rateLimit: 0 } }, /^throttle\.rateLimit is 0: expected a positive number/],
    ['throttle.burstLimit is negative', { throttle: { burstLimit: -1 } }, /^throttle\.burstLimit is -1/],
    ['sessionsThrottle.rateLimit is 0', { sessionsThrottle: { rateLimit: 0 } }, /^sessionsThrottle\.rateLimit is 0/],
    ['sessionsThrottle.burstLimit is not a number', { sessionsThrottle: { burstLimit: Number.NaN } }, /^sessionsThrottle\.burstLimit is NaN/],
  ])('fails when %s, naming the prop', (_case, props, message) => {
    expect(() => newTvm(props)).toThrow(message);
  });
});

describe('GIVEN a whole TVM app', () => {
  test('THEN it synthesizes, and grantInvoke warns nobody in the same account', () => {
    const full = fullTvm();
    full.tvm.grantInvoke(full.ownedRole);
    expect(() => full.app.synth()).not.toThrow();
    expect(Annotations.fromStack(full.stack).findWarning('*', Match.stringLikeRegexp('crossAccountInvoke'))).toEqual([]);
  });
});

describe('GIVEN the architecture prop', () => {
  test('THEN every function of the TVM runs on arm64 by default, and on x86_64 when asked (a Region without arm64)', () => {
    const byDefault = Template.fromStack(Stack.of(newTvm())).toJSON();
    const x86 = Template.fromStack(Stack.of(newTvm({ architecture: lambda.Architecture.X86_64 }))).toJSON();
    const architectures = (template: any) => resourcesOf(template, 'AWS::Lambda::Function')
      .filter(([, fn]) => String(fn.Properties.Runtime).startsWith('nodejs22'))
      .map(([, fn]) => fn.Properties.Architectures);
    expect(architectures(byDefault)).toHaveLength(4); // vending, enforcer, configuration writer, events
    expect(new Set(architectures(byDefault).map(String))).toEqual(new Set(['arm64']));
    expect(new Set(architectures(x86).map(String))).toEqual(new Set(['x86_64']));
  });
});
