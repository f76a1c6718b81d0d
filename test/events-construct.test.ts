// Session events and introspection as the construct deploys them: the events function on the table's stream, the
// enforcer's bus, the rules of onSessionRevoked and its siblings, the notification topic, grantIntrospect and the
// downstream authorizer. What the runtime emits is tested in events.test.ts, enforcer-events.test.ts, introspect.test.ts.
import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IntrospectionFailureMode, SentinelSessionAuthorizer, SentinelTvm } from '../src';
import { eventSourceFilter } from './support/streams';
import { ACCOUNT, CfnResolver, configOf, fullTvm, logicalIdOf, P, REGION, removeOutdirs } from './support/synth';
import { AuthorizerEnv, Env, SessionEvents, SessionEventTypes } from '../src/shared/contract';
import { SESSION_STREAM_FILTERS } from '../src/shared/session-stream';

afterAll(removeOutdirs);

/** Every IAM statement of the policies attached to a role (inline, default and other AWS::IAM::Policy resources). */
function statementsOf(template: any, roleLogicalId: string): any[] {
  return Object.values(template.Resources as Record<string, any>)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: any) => x.Ref === roleLogicalId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

function functionOf(template: any, construct: { node: { defaultChild?: unknown } }): any {
  return template.Resources[logicalIdOf(construct)].Properties;
}

describe('GIVEN a TVM', () => {
  test('THEN an events function reads the session table\'s stream, only status changes, and reports failed records one by one', () => {
    const { tvm, stack } = fullTvm();
    const template = Template.fromStack(stack).toJSON();
    const fn = tvm.node.findChild('Events').node.findChild('Function') as lambda.Function;
    const mappings = Object.values(template.Resources as Record<string, any>).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping'
      && r.Properties.FunctionName.Ref === logicalIdOf(fn));
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0].Properties;
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    // Retried until the record is 6 hours old (no attempt limit): an EventBridge outage loses nothing shorter.
    expect(mapping.MaximumRetryAttempts).toBeUndefined();
    expect(mapping.MaximumRecordAgeInSeconds).toBe(6 * 3600);
    expect(mapping.EventSourceArn['Fn::GetAtt'][0]).toBe(logicalIdOf(tvm.node.findChild('Table') as any));
    // A continued vend writes active over active: no filter lets it through. The filters as Lambda applies them, on a
    // record that changes only the status (access-events.test.ts applies them to the records of gated items).
    // The filters local mode applies are the very ones synthesized: one source (src/shared/session-stream.ts).
    expect(mapping.FilterCriteria.Filters.map((f: { Pattern: string }) => JSON.parse(f.Pattern))).toEqual(SESSION_STREAM_FILTERS);
    const passes = eventSourceFilter(mapping.FilterCriteria.Filters);
    const matches = (eventName: string, oldStatus: string | undefined, newStatus: string) => passes({
      eventName: eventName as 'INSERT' | 'MODIFY',
      dynamodb: { NewImage: { status: { S: newStatus } }, ...(oldStatus === undefined ? {} : { OldImage: { status: { S: oldStatus } } }) },
    });
    expect(matches('INSERT', undefined, 'active')).toBe(true);
    expect(matches('INSERT', undefined, 'revoked')).toBe(true);
    expect(matches('MODIFY', 'active', 'revoked')).toBe(true);
    expect(matches('MODIFY', 'active', 'expired')).toBe(true);
    // An ended session whose credentials may live can still be revoked: that is a revocation too.
    expect(matches('MODIFY', 'expired', 'revoked')).toBe(true);
    expect(matches('MODIFY', 'expired', 'expired')).toBe(false);
    expect(matches('MODIFY', 'active', 'active')).toBe(false);
    expect(matches('MODIFY', 'revoked', 'revoked')).toBe(false);
    expect(functionOf(template, fn).Environment.Variables[Env.TVM_NAME]).toBe(tvm.tvmName);
    expect(functionOf(template, fn).Runtime).toBe('nodejs22.x');
  });

  test('THEN the events function and the enforcer may put events on the account\'s default bus, and the vending function may not', () => {
    const { tvm, stack } = fullTvm();
    const template = Template.fromStack(stack).toJSON();
    const defaultBus = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:events:${REGION}:${ACCOUNT}:event-bus/default`]] };
    for (const role of [tvm.node.findChild('Events').node.findChild('Role'), tvm.node.findChild('Enforcer').node.findChild('Role')]) {
      const puts = statementsOf(template, logicalIdOf(role as any)).filter((s) => [s.Action].flat().includes('events:PutEvents'));
      expect(puts.filter((s) => s.Effect === 'Allow').map((s) => s.Resource)).toEqual([defaultBus]);
      // Only from its own function: a function someone else runs as the role cannot put events as the TVM.
      expect(puts.filter((s) => s.Effect === 'Deny')).toHaveLength(1);
    }
    const vendStatements = statementsOf(template, logicalIdOf(tvm.node.findChild('ExecutionRole') as any));
    expect(JSON.stringify(vendStatements)).not.toContain('events:');
    const vendEnv = functionOf(template, tvm.node.findChild('Handler') as any).Environment.Variables;
    expect(Object.keys(vendEnv)).not.toContain(Env.EVENT_BUS);
    const enforcerEnv = functionOf(template, tvm.node.findChild('Enforcer').node.findChild('Function') as any).Environment.Variables;
    expect(enforcerEnv[Env.TVM_NAME]).toBe(tvm.tvmName);
    expect(Object.keys(enforcerEnv)).not.toContain(Env.EVENT_BUS);
  });

  test('THEN with eventBus, the events go to that bus, and the rules of onSessionRevoked listen there', () => {
    let bus!: events.EventBus;
    const { tvm, stack } = fullTvm({ props: (s) => ({ eventBus: (bus = new events.EventBus(s, 'Bus')) }) });
    const rule = tvm.onSessionRevoked('Revoked', { target: new targets.SqsQueue(new sqs.Queue(stack, 'Queue')) });
    const template = Template.fromStack(stack).toJSON();
    const busArn = { 'Fn::GetAtt': [logicalIdOf(bus), 'Arn'] };
    for (const fn of [tvm.node.findChild('Events').node.findChild('Function'), tvm.node.findChild('Enforcer').node.findChild('Function')]) {
      expect(functionOf(template, fn as any).Environment.Variables[Env.EVENT_BUS]).toEqual(busArn);
    }
    const ruleProps = template.Resources[logicalIdOf(rule)].Properties;
    expect(ruleProps.EventBusName).toEqual({ Ref: logicalIdOf(bus) });
    expect(ruleProps.Targets).toHaveLength(1);
  });

  test('THEN each on* helper matches its detail-type, this TVM\'s name and the version this library emits, and nothing else', () => {
    const { tvm, stack } = fullTvm();
    const other = new SentinelTvm(stack, 'Other');
    const rules: Array<[events.Rule, string]> = [
      [tvm.onSessionStarted('Started'), SessionEventTypes.SESSION_STARTED],
      [tvm.onSessionEnded('Ended'), SessionEventTypes.SESSION_ENDED],
      [tvm.onSessionRevoked('Revoked', { description: 'page someone' }), SessionEventTypes.SESSION_REVOKED],
      [tvm.onRevocationEnforced('Enforced'), SessionEventTypes.REVOCATION_ENFORCED],
      [tvm.onRevocationEnforcementFailed('Failed'), SessionEventTypes.REVOCATION_ENFORCEMENT_FAILED],
      [other.onSessionRevoked('Revoked'), SessionEventTypes.SESSION_REVOKED],
    ];
    const template = Template.fromStack(stack).toJSON();
    for (const [rule, detailType] of rules) {
      const props = template.Resources[logicalIdOf(rule)].Properties;
      const owner = rule.node.scope === other ? other : tvm;
      expect(props.EventPattern).toEqual({
        'source': [SessionEvents.SOURCE],
        'account': [ACCOUNT],
        'detail-type': [detailType],
        'detail': { tvmName: [owner.tvmName], version: [SessionEvents.VERSION] },
      });
      expect(props.EventBusName).toBeUndefined();
    }
    expect(template.Resources[logicalIdOf(rules[2][0])].Properties.Description).toBe('page someone');
  });

  test('THEN a rule narrowed with eventPattern keeps the TVM\'s own filters', () => {
    const { tvm, stack } = fullTvm();
    const rule = tvm.onRevocationEnforced('Slow', { eventPattern: { detail: { delayMs: [{ numeric: ['>', 60000] }] } } });
    const pattern = Template.fromStack(stack).toJSON().Resources[logicalIdOf(rule)].Properties.EventPattern;
    expect(pattern.detail).toEqual({ tvmName: [tvm.tvmName], version: [SessionEvents.VERSION], delayMs: [{ numeric: ['>', 60000] }] });
  });

  test('THEN notificationTopic gets a line of text per revocation, written deny and unwritten deny', () => {
    let topic!: sns.Topic;
    const { stack } = fullTvm({ props: (s) => ({ notificationTopic: (topic = new sns.Topic(s, 'People')) }) });
    const template = Template.fromStack(stack);
    const rules = Object.values(template.findResources('AWS::Events::Rule'))
      .filter((r: any) => (r.Properties.Targets ?? []).some((t: any) => t.Arn.Ref === logicalIdOf(topic)));
    expect(rules.map((r: any) => r.Properties.EventPattern['detail-type'][0]).sort()).toEqual([
      SessionEventTypes.REVOCATION_ENFORCED, SessionEventTypes.REVOCATION_ENFORCEMENT_FAILED, SessionEventTypes.SESSION_REVOKED,
      SessionEventTypes.TAMPER_DETECTED,
    ].sort());
    const revoked = rules.find((r: any) => r.Properties.EventPattern['detail-type'][0] === SessionEventTypes.SESSION_REVOKED) as any;
    const transformer = revoked.Properties.Targets[0].InputTransformer;
    expect(transformer.InputPathsMap).toMatchObject({ 'detail-sessionId': '$.detail.sessionId', 'detail-revokedBy': '$.detail.revokedBy' });
    expect(transformer.InputTemplate).toContain('was revoked by <detail-revokedBy>');
    // EventBridge may publish to the topic.
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: 'sns:Publish' })]) },
    });
  });

  test('THEN without notificationTopic there is no rule at all besides the enforcer\'s schedule', () => {
    const { stack } = fullTvm();
    const rules = Object.values(Template.fromStack(stack).findResources('AWS::Events::Rule')) as any[];
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(5 minutes)']);
  });
});

describe('GIVEN a relying party', () => {
  test('THEN only profiles of a ProtectedRole can be introspected as active: a plain or imported role may be assumed by others', () => {
    const { app, stack } = fullTvm();
    const template = app.synth().getStackByName(stack.stackName).template;
    const profiles = configOf(template, new CfnResolver(template)).profiles;
    expect(Object.fromEntries(profiles.map((p) => [p.name, p.openTrust === true])))
      .toEqual({ 'prod-readonly': false, 'deploy': true, 'external': true });
  });

  test('THEN POST /introspect has a throttle bucket of its own (introspectionThrottle), apart from vending and the session routes', () => {
    const { tvm, stack } = fullTvm({ props: { introspectionThrottle: { rateLimit: 200, burstLimit: 400 } } });
    const stage = Template.fromStack(stack).toJSON().Resources[logicalIdOf(tvm.node.findChild('DefaultStage') as any)].Properties;
    expect(stage.RouteSettings['POST /introspect']).toEqual({ ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 });
    expect(stage.RouteSettings['POST /sessions/{id}/revoke']).toEqual({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 });
    const byDefault = fullTvm();
    const plain = Template.fromStack(byDefault.stack).toJSON().Resources[logicalIdOf(byDefault.tvm.node.findChild('DefaultStage') as any)];
    expect(plain.Properties.RouteSettings['POST /introspect']).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
  });

  test('THEN grantIntrospect lets its role call POST /introspect and names it in the deployed configuration', () => {
    const { tvm, stack, app } = fullTvm();
    const role = new iam.Role(stack, 'Orders', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    tvm.grantIntrospect(role);
    tvm.grantIntrospect(role);
    const template = app.synth().getStackByName(stack.stackName).template;
    const invoke = statementsOf(template, logicalIdOf(role)).filter((s) => s.Action === 'execute-api:Invoke');
    expect(invoke).toHaveLength(1);
    expect(JSON.stringify(invoke[0].Resource)).toContain('/$default/POST/introspect');
    const resolver = new CfnResolver(template, { [logicalIdOf(role)]: `arn:aws:iam::${ACCOUNT}:role/orders` });
    expect(configOf(template, resolver).introspectionPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:role/orders`]);
  });

  test('THEN introspectionPrincipals are in the configuration, and the manifest has none without them', () => {
    const withThem = fullTvm({ props: { introspectionPrincipals: [P(`arn:aws:iam::${ACCOUNT}:role/billing`)] } });
    let template = withThem.app.synth().getStackByName(withThem.stack.stackName).template;
    expect(configOf(template, new CfnResolver(template, {})).introspectionPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:role/billing`]);
    const without = fullTvm();
    template = without.app.synth().getStackByName(without.stack.stackName).template;
    expect(configOf(template, new CfnResolver(template, {})).introspectionPrincipals ?? []).toEqual([]);
  });

  test('fails when introspectionPrincipals has a pattern that matches names callers choose', () => {
    expect(() => fullTvm({ props: { introspectionPrincipals: [P('arn:aws:sts::*:assumed-role/*/*')] } }))
      .toThrow(/introspectionPrincipals\[0\]/);
  });

  test('fails when grantIntrospect is given a principal without an ARN to name', () => {
    const { tvm } = fullTvm();
    expect(() => tvm.grantIntrospect(new iam.AnyPrincipal() as any)).toThrow(/grantIntrospect: .*not an IAM role or user/);
  });
});

describe('GIVEN a downstream HTTP API with a SentinelSessionAuthorizer', () => {
  function downstream(props: Partial<ConstructorParameters<typeof SentinelSessionAuthorizer>[2]> = {}) {
    const built = fullTvm();
    const authorizer = new SentinelSessionAuthorizer(built.stack, 'Sessions', { tvm: built.tvm, audience: 'orders.example.com', ...props });
    const api = new apigwv2.HttpApi(built.stack, 'Orders');
    const backend = new lambda.Function(built.stack, 'Backend', {
      runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
    api.addRoutes({
      path: '/orders',
      methods: [apigwv2.HttpMethod.GET],
      integration: new HttpLambdaIntegration('Backend', backend),
      authorizer: authorizer.httpAuthorizer,
    });
    return { ...built, authorizer, template: built.app.synth().getStackByName(built.stack.stackName).template };
  }

  test('THEN the route uses a Lambda authorizer on the identity proof header, without API Gateway caching, and the TVM answers it', () => {
    const { authorizer, tvm, template } = downstream();
    const [auth] = Object.values(template.Resources as Record<string, any>).filter((r) => r.Type === 'AWS::ApiGatewayV2::Authorizer');
    expect(auth.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.x-sentinel-identity'],
      AuthorizerResultTtlInSeconds: 0,
      AuthorizerPayloadFormatVersion: '2.0',
    });
    const fn = functionOf(template, authorizer.function as lambda.Function);
    expect(fn.Runtime).toBe('nodejs22.x');
    expect(fn.Environment.Variables).toMatchObject({
      [AuthorizerEnv.AUDIENCE]: 'orders.example.com',
      [AuthorizerEnv.TVM_REGION]: REGION,
      [AuthorizerEnv.ACTIVE_CACHE_SECONDS]: '30',
      [AuthorizerEnv.ON_STORE_FAILURE]: 'fail_closed',
    });
    const roleId = logicalIdOf((authorizer.function as lambda.Function).role as iam.Role);
    const resolver = new CfnResolver(template, { [roleId]: `arn:aws:iam::${ACCOUNT}:role/orders-authorizer` });
    expect(configOf(template, resolver).introspectionPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:role/orders-authorizer`]);
    expect(Stack.of(tvm).resolve(tvm.url)).toBeDefined();
  });

  test('THEN activeCacheTtl and failureMode reach the function', () => {
    const { authorizer, template } = downstream({ activeCacheTtl: Duration.seconds(0), failureMode: IntrospectionFailureMode.FAIL_OPEN });
    expect(functionOf(template, authorizer.function as lambda.Function).Environment.Variables).toMatchObject({
      [AuthorizerEnv.ACTIVE_CACHE_SECONDS]: '0', [AuthorizerEnv.ON_STORE_FAILURE]: 'fail_open',
    });
  });

  test('THEN allowedProfiles reach the function, and a session of another profile is refused there', () => {
    const { authorizer, template } = downstream({ allowedProfiles: ['prod-readonly', 'deploy'] });
    expect(functionOf(template, authorizer.function as lambda.Function).Environment.Variables[AuthorizerEnv.ALLOWED_PROFILES])
      .toBe('prod-readonly,deploy');
    const plain = downstream();
    expect(Object.keys(functionOf(plain.template, plain.authorizer.function as lambda.Function).Environment.Variables))
      .not.toContain(AuthorizerEnv.ALLOWED_PROFILES);
  });

  test('THEN for an imported TVM, synth warns that its stack must list the authorizer\'s role, and for a TVM of the app it does not', () => {
    const { stack } = fullTvm();
    const imported = SentinelTvm.fromSentinelTvmAttributes(stack, 'OtherTvm', {
      url: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/',
      apiId: 'abc123defg',
      executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/other/other-vend-eu-west-1`,
      tvmName: 'other',
    });
    new SentinelSessionAuthorizer(stack, 'ForImported', { tvm: imported, audience: 'billing.example.com' });
    Annotations.fromStack(stack).hasWarning('/TvmStack/ForImported', Match.stringLikeRegexp('introspectionPrincipals'));
    const own = downstream();
    Annotations.fromStack(own.stack).hasNoWarning('*', Match.stringLikeRegexp('introspectionPrincipalNotListed'));
  });

  test.each([
    ['allowedProfiles', { allowedProfiles: ['orders readonly'] }, /allowedProfiles\[0\] is "orders readonly"/],
    ['audience', { audience: 'orders example' }, /audience is "orders example"/],
    ['audience', { audience: '' }, /audience is ""/],
    ['activeCacheTtl', { activeCacheTtl: Duration.minutes(6) }, /activeCacheTtl is 6 minutes: expected between 0 seconds and 5 minutes/],
  ])('fails when %s is out of range', (_prop, props, message) => {
    expect(() => downstream(props as any)).toThrow(message);
  });
});
