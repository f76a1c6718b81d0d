// The SIEM export: what the synthesized template subscribes, routes and grants, cdk-nag on it, and the subscription
// filter's pattern evaluated against the log lines the real handler writes (DynamoDB Local, local STS).
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Duration, Stack, type App } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { startLocalSts } from './support/local-sts';
import { acknowledgementsIn, describeViolations, findingsWithoutAcknowledgements } from './support/nag-check';
import { ACCOUNT, CfnResolver, REGION, asArray, identityStatementsOf, logicalIdOf, newApp, removeOutdirs } from './support/synth';
import { ALICE, createFixture, event, proven, stsClient, type Fixture } from './support/tvm-fixture';
import { IdentityVerifier } from '../lambda/auth/proof';
import { createHandler, type TvmEvent } from '../lambda/handler';
import { powertoolsSink } from '../lambda/observability';
import { readSettings } from '../lambda/settings';
import { DECISION_FILTER_PATTERN, SESSION_EVENT_INPUT_TEMPLATE, TvmSiemExport } from '../src/private/siem-export';
import { IdentityProof, Metrics as MetricNames, SessionEvents } from '../src/shared/contract';
import { SiemExport } from '../src/siem-export';

const TVM = 'MyTvm';
const PATTERN: events.EventPattern = {
  source: [SessionEvents.SOURCE],
  account: [ACCOUNT],
  detail: { tvmName: [TVM] },
};
const USER_STREAM_ARN = `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/splunk`;

interface Synthesized {
  readonly app: App;
  readonly siem: TvmSiemExport;
  readonly template: any;
  readonly resolver: CfnResolver;
  /** Logical id of the stand-in for the vending function's log group. */
  readonly logGroupId: string;
}

/** A stack with the vending function's log group (a stand-in) and a TvmSiemExport of `make`'s export, synthesized. */
function synthExport(make: (stack: Stack) => SiemExport, o: { eventBus?: boolean; logRetention?: logs.RetentionDays } = {}): Synthesized {
  const app = newApp();
  const stack = new Stack(app, 'TvmStack', { env: { account: ACCOUNT, region: REGION } });
  const logGroup = new logs.LogGroup(stack, 'VendLog');
  const siem = new TvmSiemExport(stack, 'Siem', {
    export: make(stack),
    decisionLogGroup: logGroup,
    sessionEventPattern: PATTERN,
    eventBus: o.eventBus ? new events.EventBus(stack, 'Bus') : undefined,
    tvmName: TVM,
    logRetention: o.logRetention,
  });
  const template = app.synth().getStackByName('TvmStack').template;
  return { app, siem, template, resolver: new CfnResolver(template), logGroupId: logicalIdOf(logGroup) };
}

const ofType = (template: any, type: string): [string, any][] => Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);
const only = (template: any, type: string): [string, any] => {
  const found = ofType(template, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
};
const streamsOf = (template: any) => ofType(template, 'AWS::KinesisFirehose::DeliveryStream');
const streamWithPrefix = (template: any, part: string) => {
  const found = streamsOf(template).filter(([, r]) => r.Properties.ExtendedS3DestinationConfiguration.Prefix.includes(part));
  if (found.length !== 1) throw new Error(`expected one stream writing to ${part}, found ${found.length}`);
  return found[0];
};
/** The service a role trusts, and the trust statement's condition. */
const trustOf = (role: any) => {
  const [statement] = role.Properties.AssumeRolePolicyDocument.Statement;
  return { service: statement.Principal.Service, condition: statement.Condition };
};
/** A role's identity statements, resolved to concrete values, as { actions, resources }. */
const grantsOf = (s: Synthesized, roleId: string) => identityStatementsOf(s.template, roleId).map((st) => ({
  effect: st.Effect,
  actions: asArray<string>(st.Action).sort(),
  resources: asArray(st.Resource).map((r) => s.resolver.resolve(r)).sort(),
  conditions: st.Condition,
}));
const PUT_RECORDS = ['firehose:PutRecord', 'firehose:PutRecordBatch'];
/** An Allow statement as grantsOf returns it (no condition). */
const allow = (actions: string[], resources: string[]) => ({ effect: 'Allow', actions, resources, conditions: undefined });

afterAll(removeOutdirs);

describe('GIVEN SiemExport.toBucket with its defaults', () => {
  let s: Synthesized;
  let bucketArn: string;

  beforeAll(() => {
    let bucket: s3.Bucket;
    s = synthExport((stack) => SiemExport.toBucket(bucket = new s3.Bucket(stack, 'Archive')));
    bucketArn = s.resolver.arn(logicalIdOf(bucket!));
  });

  test('THEN the subscription filter selects decision lines only, on the vending function\'s log group, into the decisions stream', () => {
    const [, filter] = only(s.template, 'AWS::Logs::SubscriptionFilter');
    expect(filter.Properties.FilterPattern)
      .toBe('{ ($.message = "decision") && (($.decision = "ALLOW") || ($.decision = "DENY") || ($.decision = "ERROR")) }');
    expect(filter.Properties.FilterPattern).toBe(DECISION_FILTER_PATTERN);
    expect(filter.Properties.LogGroupName).toEqual({ Ref: s.logGroupId });
    const [decisionsId] = streamWithPrefix(s.template, '/decisions/');
    expect(filter.Properties.DestinationArn).toEqual({ 'Fn::GetAtt': [decisionsId, 'Arn'] });
    expect(filter.Properties.FilterName).toBe(`sentinel-tvm-${TVM}-siem`);
  });

  test('THEN the rule matches the TVM\'s own session events on the default bus, and puts each as a JSON line on the events stream', () => {
    const [, rule] = only(s.template, 'AWS::Events::Rule');
    expect(rule.Properties.EventPattern).toEqual({ source: ['sentinel-tvm'], account: [ACCOUNT], detail: { tvmName: [TVM] } });
    expect(rule.Properties).not.toHaveProperty('EventBusName');
    const [eventsId] = streamWithPrefix(s.template, '/session-events/');
    expect(rule.Properties.Targets).toEqual([expect.objectContaining({
      Arn: { 'Fn::GetAtt': [eventsId, 'Arn'] },
      InputTransformer: { InputPathsMap: {}, InputTemplate: '<aws.events.event.json>\n' },
    })]);
    expect(SESSION_EVENT_INPUT_TEMPLATE.endsWith('\n')).toBe(true);
  });

  test('THEN the decisions stream decompresses CloudWatch Logs records, extracts the messages and ends each with a newline', () => {
    const [, stream] = streamWithPrefix(s.template, '/decisions/');
    const destination = stream.Properties.ExtendedS3DestinationConfiguration;
    expect(destination.ProcessingConfiguration).toEqual({
      Enabled: true,
      Processors: [
        { Type: 'Decompression', Parameters: [{ ParameterName: 'CompressionFormat', ParameterValue: 'GZIP' }] },
        { Type: 'CloudWatchLogProcessing', Parameters: [{ ParameterName: 'DataMessageExtraction', ParameterValue: 'true' }] },
        { Type: 'AppendDelimiterToRecord', Parameters: [] },
      ],
    });
  });

  test('THEN the events stream has no processor (decompression would refuse EventBridge\'s records; the rule adds the newline)', () => {
    const [, stream] = streamWithPrefix(s.template, '/session-events/');
    expect(stream.Properties.ExtendedS3DestinationConfiguration).not.toHaveProperty('ProcessingConfiguration');
  });

  test('THEN both streams write GZIP objects by day under sentinel-tvm/<tvmName>/, errors apart, encrypted, buffered 60 s', () => {
    const layout = streamsOf(s.template).map(([, r]) => {
      const d = r.Properties.ExtendedS3DestinationConfiguration;
      expect(s.resolver.resolve(d.BucketARN)).toBe(bucketArn);
      expect(d.CompressionFormat).toBe('GZIP');
      expect(d.BufferingHints.IntervalInSeconds).toBe(60);
      expect(d.CloudWatchLoggingOptions.Enabled).toBe(true);
      expect(r.Properties.DeliveryStreamType).toBe('DirectPut');
      expect(r.Properties.DeliveryStreamEncryptionConfigurationInput).toEqual({ KeyType: 'AWS_OWNED_CMK' });
      return [d.Prefix, d.ErrorOutputPrefix];
    });
    expect(layout.sort()).toEqual([
      ['sentinel-tvm/MyTvm/decisions/!{timestamp:yyyy/MM/dd}/',
        'sentinel-tvm/MyTvm/errors/decisions/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/'],
      ['sentinel-tvm/MyTvm/session-events/!{timestamp:yyyy/MM/dd}/',
        'sentinel-tvm/MyTvm/errors/session-events/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/'],
    ]);
    expect(s.siem.layout?.prefix).toBe('sentinel-tvm/MyTvm/');
  });

  test('THEN each role may do one thing: CloudWatch Logs and EventBridge put records on one stream each, Firehose writes under the prefix', () => {
    const roles = ofType(s.template, 'AWS::IAM::Role');
    const byService = Object.fromEntries(roles.map(([id, r]) => [trustOf(r).service, id]));
    expect(Object.keys(byService).sort()).toEqual(['events.amazonaws.com', 'firehose.amazonaws.com', 'logs.amazonaws.com']);
    expect(roles).toHaveLength(3);
    const arnOf = (id: string) => s.resolver.arn(id);
    const [decisionsId] = streamWithPrefix(s.template, '/decisions/');
    const [eventsId] = streamWithPrefix(s.template, '/session-events/');

    // CloudWatch Logs of this account and region only.
    const logsRole = s.template.Resources[byService['logs.amazonaws.com']];
    expect(s.resolver.resolve(trustOf(logsRole).condition)).toEqual({
      StringEquals: { 'aws:SourceAccount': ACCOUNT },
      ArnLike: { 'aws:SourceArn': `arn:aws:logs:${REGION}:${ACCOUNT}:*` },
    });
    expect(grantsOf(s, byService['logs.amazonaws.com'])).toEqual([
      allow(PUT_RECORDS, [arnOf(decisionsId)]),
    ]);
    expect(grantsOf(s, byService['events.amazonaws.com'])).toEqual([
      allow(PUT_RECORDS, [arnOf(eventsId)]),
    ]);

    const firehoseRole = s.template.Resources[byService['firehose.amazonaws.com']];
    expect(trustOf(firehoseRole).condition).toEqual({ StringEquals: { 'aws:SourceAccount': ACCOUNT } });
    const errorGroups = ofType(s.template, 'AWS::Logs::LogGroup').map(([id]) => id).filter((id) => id !== s.logGroupId);
    expect(errorGroups).toHaveLength(2);
    expect(grantsOf(s, byService['firehose.amazonaws.com'])).toEqual(expect.arrayContaining([
      allow(['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], [bucketArn]),
      allow(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], [`${bucketArn}/sentinel-tvm/MyTvm/*`]),
      ...errorGroups.map((id) => allow(['logs:CreateLogStream', 'logs:PutLogEvents'], [arnOf(id)])),
    ]));
    expect(grantsOf(s, byService['firehose.amazonaws.com'])).toHaveLength(4);
  });

  test('THEN no statement of the export has a wildcard action, a delete, or a resource of its own that is `*`', () => {
    const statements = ofType(s.template, 'AWS::IAM::Role').flatMap(([id]) => identityStatementsOf(s.template, id));
    expect(statements.length).toBeGreaterThan(0);
    const loose = statements.filter((st) => asArray<string>(st.Action).some((a) => a.includes('*') || /Delete/.test(a))
      || asArray(st.Resource).some((r) => r === '*'));
    expect(loose).toEqual([]);
  });

  test('THEN the decisions stream is never the rule\'s target, nor the events stream the subscription\'s destination', () => {
    const [decisionsId] = streamWithPrefix(s.template, '/decisions/');
    const [eventsId] = streamWithPrefix(s.template, '/session-events/');
    const [, rule] = only(s.template, 'AWS::Events::Rule');
    const [, filter] = only(s.template, 'AWS::Logs::SubscriptionFilter');
    expect(JSON.stringify(rule.Properties.Targets)).not.toContain(decisionsId);
    expect(JSON.stringify(filter.Properties)).not.toContain(eventsId);
  });

  test('THEN the streams wait for the Firehose role\'s policy, which Firehose checks when a stream is created', () => {
    const [policyId] = ofType(s.template, 'AWS::IAM::Policy')
      .find(([, p]) => p.Properties.Roles.some((r: any) => trustOf(s.template.Resources[r.Ref]).service === 'firehose.amazonaws.com'))!;
    for (const [, stream] of streamsOf(s.template)) expect(stream.DependsOn).toContain(policyId);
  });

  test('THEN the delivery error logs are kept one year', () => {
    const retention = ofType(s.template, 'AWS::Logs::LogGroup').filter(([id]) => id !== s.logGroupId).map(([, g]) => g.Properties.RetentionInDays);
    expect(retention).toEqual([365, 365]);
  });
});

describe('GIVEN SiemExport.toBucket with a prefix, a buffering interval, a stream key and a KMS-encrypted bucket, on a bus', () => {
  let s: Synthesized;
  let keyArn: string;
  let bucketKeyArn: string;

  beforeAll(() => {
    let key: kms.Key;
    let bucketKey: kms.Key;
    s = synthExport((stack) => {
      bucketKey = new kms.Key(stack, 'BucketKey', { enableKeyRotation: true });
      key = new kms.Key(stack, 'StreamKey', { enableKeyRotation: true });
      const bucket = new s3.Bucket(stack, 'Archive', { encryption: s3.BucketEncryption.KMS, encryptionKey: bucketKey });
      return SiemExport.toBucket(bucket, { prefix: 'siem/prod/', bufferingInterval: Duration.minutes(5), encryptionKey: key });
    }, { eventBus: true, logRetention: logs.RetentionDays.ONE_MONTH });
    keyArn = s.resolver.arn(logicalIdOf(key!));
    bucketKeyArn = s.resolver.arn(logicalIdOf(bucketKey!));
  });

  test('THEN the streams write under the prefix, buffer 300 s, and encrypt with the key', () => {
    for (const [, r] of streamsOf(s.template)) {
      const d = r.Properties.ExtendedS3DestinationConfiguration;
      expect(d.Prefix).toMatch(/^siem\/prod\/(decisions|session-events)\/!\{timestamp:yyyy\/MM\/dd\}\/$/);
      expect(d.ErrorOutputPrefix).toMatch(/^siem\/prod\/errors\//);
      expect(d.BufferingHints.IntervalInSeconds).toBe(300);
      expect(r.Properties.DeliveryStreamEncryptionConfigurationInput.KeyType).toBe('CUSTOMER_MANAGED_CMK');
      expect(s.resolver.resolve(r.Properties.DeliveryStreamEncryptionConfigurationInput.KeyARN)).toBe(keyArn);
    }
    const retention = ofType(s.template, 'AWS::Logs::LogGroup').filter(([id]) => id !== s.logGroupId).map(([, g]) => g.Properties.RetentionInDays);
    expect(retention).toEqual([30, 30]);
  });

  test('THEN Firehose may write objects under that prefix only, and encrypt them with the bucket\'s key', () => {
    // The bucket's writer (the streams' own roles, for their key, are CDK's).
    const [firehoseRoleId] = ofType(s.template, 'AWS::IAM::Role').find(([id, r]) => trustOf(r).service === 'firehose.amazonaws.com'
      && identityStatementsOf(s.template, id).some((st) => asArray<string>(st.Action).includes('s3:PutObject')))!;
    const grants = grantsOf(s, firehoseRoleId);
    const bucketArn = s.resolver.arn(only(s.template, 'AWS::S3::Bucket')[0]);
    expect(grants).toContainEqual(allow(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], [`${bucketArn}/siem/prod/*`]));
    expect(grants).toContainEqual(allow(['kms:Decrypt', 'kms:GenerateDataKey'], [bucketKeyArn]));
  });

  test('THEN the rule is on the TVM\'s bus', () => {
    const [, rule] = only(s.template, 'AWS::Events::Rule');
    expect(rule.Properties.EventBusName).toEqual({ Ref: only(s.template, 'AWS::Events::EventBus')[0] });
  });
});

describe('GIVEN SiemExport.toDeliveryStream (the user\'s own stream)', () => {
  let s: Synthesized;

  beforeAll(() => {
    s = synthExport((stack) => SiemExport.toDeliveryStream(firehose.DeliveryStream.fromDeliveryStreamArn(stack, 'Splunk', USER_STREAM_ARN)));
  });

  test('THEN the decision lines and the session events both go to it, and the TVM creates no stream and no bucket role', () => {
    expect(streamsOf(s.template)).toEqual([]);
    const [, filter] = only(s.template, 'AWS::Logs::SubscriptionFilter');
    expect(filter.Properties.FilterPattern).toBe(DECISION_FILTER_PATTERN);
    expect(s.resolver.resolve(filter.Properties.DestinationArn)).toBe(USER_STREAM_ARN);
    const [, rule] = only(s.template, 'AWS::Events::Rule');
    expect(rule.Properties.Targets).toEqual([expect.objectContaining({
      Arn: USER_STREAM_ARN, InputTransformer: { InputPathsMap: {}, InputTemplate: SESSION_EVENT_INPUT_TEMPLATE },
    })]);
    expect(s.siem.deliveryRole).toBeUndefined();
    expect(s.siem.layout).toBeUndefined();
  });

  test('THEN its two roles may only put records on that stream', () => {
    const roles = ofType(s.template, 'AWS::IAM::Role');
    expect(roles.map(([, r]) => trustOf(r).service).sort()).toEqual(['events.amazonaws.com', 'logs.amazonaws.com']);
    for (const [id] of roles) {
      expect(grantsOf(s, id)).toEqual([allow(PUT_RECORDS, [USER_STREAM_ARN])]);
    }
  });
});

describe('GIVEN options SiemExport.toBucket cannot honour', () => {
  const bucket = () => s3.Bucket.fromBucketName(new Stack(), 'B', 'archive');

  test.each([
    ['without a trailing slash', 'siem/prod'],
    ['starting with a slash', '/siem/'],
    ['with a Firehose expression', 'siem/!{timestamp:yyyy}/'],
    ['with a wildcard', 'siem/*/'],
    ['empty', ''],
    ['with an empty folder', 'siem//prod/'],
  ])('refuses a prefix %s', (_what, prefix) => {
    expect(() => SiemExport.toBucket(bucket(), { prefix })).toThrow(/SiemExport.toBucket: prefix .* (does not end|starts with|contains|is empty)/);
  });

  test('refuses a buffering interval over 900 seconds, and accepts 0 and 900', () => {
    expect(() => SiemExport.toBucket(bucket(), { bufferingInterval: Duration.seconds(901) }))
      .toThrow(/bufferingInterval is 901 seconds: expected 0 to 900/);
    expect(() => SiemExport.toBucket(bucket(), { bufferingInterval: Duration.seconds(0) })).not.toThrow();
    expect(() => SiemExport.toBucket(bucket(), { bufferingInterval: Duration.seconds(900) })).not.toThrow();
  });

  test('refuses a missing bucket or stream, and a construct without an export', () => {
    expect(() => SiemExport.toBucket(undefined as unknown as s3.IBucket)).toThrow(/bucket is required/);
    expect(() => SiemExport.toDeliveryStream(undefined as unknown as firehose.IDeliveryStream)).toThrow(/stream is required/);
    const stack = new Stack();
    expect(() => new TvmSiemExport(stack, 'Siem', {
      export: undefined as unknown as SiemExport, decisionLogGroup: new logs.LogGroup(stack, 'L'), sessionEventPattern: PATTERN, tvmName: TVM,
    })).toThrow(/use SiemExport.toBucket\(\) or SiemExport.toDeliveryStream\(\)/);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// cdk-nag

describe.each([
  ['toBucket, defaults', (stack: Stack) => SiemExport.toBucket(new s3.Bucket(stack, 'Archive')), true],
  ['toBucket, a stream key and an imported bucket', (stack: Stack) => SiemExport.toBucket(
    s3.Bucket.fromBucketName(stack, 'Archive', 'central-archive'),
    { encryptionKey: new kms.Key(stack, 'StreamKey', { enableKeyRotation: true }) }), true],
  ['toDeliveryStream', (stack: Stack) => SiemExport.toDeliveryStream(
    firehose.DeliveryStream.fromDeliveryStreamArn(stack, 'Splunk', USER_STREAM_ARN)), false],
] as const)('GIVEN a synthesized export (%s)', (_name, make, acknowledges) => {
  let s: Synthesized;
  beforeAll(() => { s = synthExport(make); });

  test('WHEN cdk-nag AwsSolutions checks the export THEN nothing is left unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(s.siem);
    expect(describeViolations(report)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('THEN every acknowledgement gives a reason and answers a finding cdk-nag really makes there', () => {
    const acks = acknowledgementsIn(s.siem);
    if (acknowledges) expect(acks.length).toBeGreaterThan(0);
    expect(acks.filter((a) => typeof a.reason !== 'string' || a.reason.trim().length < 10)).toEqual([]);
    const findings = findingsWithoutAcknowledgements(s.siem);
    const stale = acks.filter((a) => !findings.some((f) => (f.rule === a.id || f.rule.startsWith(`${a.id}[`))
      && (f.path === a.path || f.path.startsWith(`${a.path}/`)))).map((a) => `${a.id} at ${a.path}`);
    expect(stale).toEqual([]);
    // Not vacuous: with nothing acknowledged, cdk-nag does find what the acknowledgements answer.
    if (acknowledges) expect(findings.length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// The filter pattern against real log lines

type Expr = { op: '&&' | '||'; left: Expr; right: Expr } | { op: '='; path: string[]; value: string };

/**
 * CloudWatch Logs' JSON filter patterns, the subset the export uses: `{ … }` around `$.a.b = "text"` comparisons (a
 * string without wildcards), `&&`, `||` and parentheses. Anything else throws: a pattern the export starts to use
 * beyond it must be taught here first, not silently misread.
 */
function parsePattern(pattern: string): Expr {
  const m = /^\{(.*)\}$/s.exec(pattern.trim());
  if (!m) throw new Error(`not a JSON filter pattern: ${pattern}`);
  const tokens = m[1].match(/\s*(\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+|"(?:[^"\\]|\\.)*"|&&|\|\||\(|\)|=|\S+)/g)?.map((t) => t.trim()) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i++];
    if (t === undefined || (expected !== undefined && t !== expected)) {
      throw new Error(`unsupported filter pattern at ${JSON.stringify(t)}: ${pattern}`);
    }
    return t;
  };
  const primary = (): Expr => {
    if (peek() === '(') {
      take('(');
      const inner = or();
      take(')');
      return inner;
    }
    const selector = take();
    if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(selector)) throw new Error(`unsupported selector ${selector}: ${pattern}`);
    take('=');
    const literal = take();
    if (!/^"(?:[^"\\*]|\\.)*"$/.test(literal)) throw new Error(`unsupported value ${literal} (only a quoted string without *): ${pattern}`);
    return { op: '=', path: selector.split('.').slice(1), value: JSON.parse(literal) };
  };
  const and = (): Expr => {
    let left = primary();
    while (peek() === '&&') { take(); left = { op: '&&', left, right: primary() }; }
    return left;
  };
  const or = (): Expr => {
    let left = and();
    while (peek() === '||') { take(); left = { op: '||', left, right: and() }; }
    return left;
  };
  const expr = or();
  if (i !== tokens.length) throw new Error(`unsupported filter pattern at ${JSON.stringify(tokens[i])}: ${pattern}`);
  return expr;
}

/** Whether CloudWatch Logs would deliver this log event: JSON patterns match JSON objects only. */
function matchesPattern(pattern: string, message: string): boolean {
  const expr = parsePattern(pattern);
  let doc: unknown;
  try {
    doc = JSON.parse(message);
  } catch {
    return false;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const evaluate = (e: Expr): boolean => {
    if (e.op !== '=') return e.op === '&&' ? evaluate(e.left) && evaluate(e.right) : evaluate(e.left) || evaluate(e.right);
    const value = e.path.reduce<any>((v: any, key: string) => (v !== null && typeof v === 'object' ? v[key] : undefined), doc);
    return typeof value === 'string' && value === e.value;
  };
  return evaluate(expr);
}

describe('the filter pattern evaluator of this test', () => {
  test('matches string equality under && and ||, on JSON objects only', () => {
    const p = '{ ($.a = "x") && (($.b.c = "y") || ($.b.c = "z")) }';
    expect(matchesPattern(p, '{"a":"x","b":{"c":"z"}}')).toBe(true);
    expect(matchesPattern(p, '{"a":"x","b":{"c":"w"}}')).toBe(false);
    expect(matchesPattern(p, '{"a":"X","b":{"c":"y"}}')).toBe(false);
    expect(matchesPattern(p, '{"a":"x"}')).toBe(false);
    expect(matchesPattern(p, 'a x b y')).toBe(false);
    expect(matchesPattern('{ $.a = "1" }', '{"a":1}')).toBe(false);
  });

  test.each([
    ['!=', '{ $.a != "x" }'],
    ['a number', '{ $.a = 1 }'],
    ['a wildcard', '{ $.a = "x*" }'],
    ['EXISTS', '{ $.a EXISTS }'],
    ['a term pattern', 'ERROR'],
    ['an unclosed parenthesis', '{ ($.a = "x" }'],
  ])('refuses %s', (_what, pattern) => {
    expect(() => matchesPattern(pattern, '{"a":"x"}')).toThrow(/not a JSON filter pattern|unsupported/);
  });
});

describe('GIVEN the vending handler writing its log as Powertools does (DynamoDB Local, local STS)', () => {
  type Sts = Awaited<ReturnType<typeof startLocalSts>>;
  let fx: Fixture;
  let sts: Sts;
  /** Every line written to stdout and stderr while the handler served the requests. */
  let lines: string[];
  /** What the decisions stream gets: the lines the synthesized subscription filter selects. */
  let exported: string[];
  let secrets: { name: string; value: string }[];
  let requests: number;

  beforeAll(async () => {
    [fx, sts] = await Promise.all([createFixture(), startLocalSts()]);
    const settings = readSettings(fx.env);
    const clock = new Date('2036-01-25T14:30:00.000Z');
    const proofs: string[] = [];
    const out: string[] = [];
    const capture = (chunk: unknown) => {
      out.push(String(chunk));
      return true;
    };
    const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
    let vended: any;
    try {
      const verifier = new IdentityVerifier({ audiences: settings.audiences, region: settings.region, endpoint: sts.endpoint, now: () => clock });
      const handle = createHandler({ settings, ddb: fx.ddb, sts: stsClient(sts.endpoint), now: () => clock, log: powertoolsSink(), verifier });
      const call = async (e: TvmEvent) => {
        const withProof = await proven(sts, e, clock);
        proofs.push(withProof.headers[IdentityProof.HEADER]!);
        return handle(withProof);
      };
      const responses = [
        vended = await call(event({ query: { profile: 'readonly' } })), // ALLOW, with Vends and VendLatency metrics
        await call(event({ query: { profile: 'deploy' } })), // DENY: alice may not use it
        await call(event({ path: '/nowhere' })), // DENY: NOT_FOUND
        await call(event({ path: '/profiles' })), // ALLOW, no metric
      ];
      sts.fail({ code: 'InternalFailure', message: 'STS is down', status: 500 });
      responses.push(await call(event({ query: { profile: 'readonly' } }))); // STS failure
      sts.fail(undefined);
      requests = responses.length;
      // Lines of the same log that are not decisions: a Powertools warning (plain text), a Powertools line of another
      // message, and Lambda's own lines around each invocation.
      new Metrics({ namespace: MetricNames.NAMESPACE }).publishStoredMetrics();
      new Logger({ serviceName: TVM }).warn('configuration refused', { code: 'STORE_UNAVAILABLE' });
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    const platform = [
      'START RequestId: 8f5c1a2e-0b1d-4c3e-9f7a-1b2c3d4e5f60 Version: $LATEST',
      'END RequestId: 8f5c1a2e-0b1d-4c3e-9f7a-1b2c3d4e5f60',
      'REPORT RequestId: 8f5c1a2e-0b1d-4c3e-9f7a-1b2c3d4e5f60\tDuration: 41.20 ms\tBilled Duration: 42 ms\tMemory Size: 512 MB',
    ];
    lines = [...out.join('').split('\n').filter((l) => l.trim() !== ''), ...platform];
    const pattern = synthExport((stack) => SiemExport.toBucket(new s3.Bucket(stack, 'Archive'))).template;
    const [, filter] = only(pattern, 'AWS::Logs::SubscriptionFilter');
    exported = lines.filter((l) => matchesPattern(filter.Properties.FilterPattern, l));

    const credentials = JSON.parse(vended.body);
    secrets = [
      { name: 'the vended secret access key', value: credentials.SecretAccessKey },
      { name: 'the vended session token', value: credentials.Token },
      { name: 'the caller\'s own secret key (the proofs\' signing key)', value: sts.principal(ALICE).secretAccessKey },
      ...proofs.map((p, i) => ({ name: `identity proof ${i + 1}`, value: p })),
      // A proof is long: a part of it is as telling as the whole.
      ...proofs.map((p, i) => ({ name: `the middle of identity proof ${i + 1}`, value: p.slice(p.length / 2, p.length / 2 + 32) })),
    ];
  });

  afterAll(async () => {
    await sts?.stop();
  });

  test('WHEN the synthesized filter pattern is applied THEN every decision line is exported, one per request, and nothing else', () => {
    expect(exported).toHaveLength(requests);
    const decisions = exported.map((l) => JSON.parse(l));
    expect(decisions.every((d) => d.message === 'decision')).toBe(true);
    expect(new Set(decisions.map((d) => d.decision))).toEqual(new Set(['ALLOW', 'DENY', 'ERROR']));
    expect(decisions.map((d) => d.path)).toEqual(['/', '/', '/nowhere', '/profiles', '/']);
    // One JSON per line once Firehose appends the delimiter: no line break inside a decision.
    expect(exported.every((l) => !/[\r\n]/.test(l))).toBe(true);
  });

  test('THEN the lines left out are the metrics, the Powertools warning, other Powertools lines and Lambda\'s own lines', () => {
    const left = lines.filter((l) => !exported.includes(l));
    expect(left.some((l) => l.includes('"_aws"') && l.includes(MetricNames.VENDS))).toBe(true);
    expect(left.some((l) => l.includes('No application metrics to publish'))).toBe(true);
    expect(left.some((l) => l.includes('"message":"configuration refused"'))).toBe(true);
    expect(left.filter((l) => /^(START|END|REPORT) RequestId/.test(l))).toHaveLength(3);
    // A decision line is never among them.
    expect(left.filter((l) => l.includes('"message":"decision"'))).toEqual([]);
  });

  test('THEN no exported line holds a secret: vended credentials, the caller\'s key, identity proofs', () => {
    expect(secrets.every((s) => typeof s.value === 'string' && s.value.length >= 16)).toBe(true);
    const leaks = secrets.filter((s) => exported.some((l) => l.includes(s.value))).map((s) => s.name);
    expect(leaks).toEqual([]);
  });

  test('THEN a pattern that selected by message alone would still leave the other lines out, and a wrong value selects nothing', () => {
    expect(lines.filter((l) => matchesPattern('{ $.message = "decision" }', l))).toEqual(exported);
    expect(lines.filter((l) => matchesPattern('{ $.message = "Decision" }', l))).toEqual([]);
  });
});
