// Metrics, alarms, log level and tracing as the construct exposes them.
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DenialCode, SentinelTvm, SentinelTvmLogLevel } from '../src';
import { fullTvm, logicalIdOf, removeOutdirs } from './support/synth';

afterAll(removeOutdirs);

describe('GIVEN a TVM', () => {
  test('THEN its metrics read the namespace and service dimension its functions write', () => {
    const { tvm, stack } = fullTvm();
    const env = Template.fromStack(stack).toJSON().Resources[logicalIdOf(tvm.node.findChild('Handler'))].Properties.Environment.Variables;
    expect(env.POWERTOOLS_SERVICE_NAME).toBe(tvm.tvmName);
    expect(env.POWERTOOLS_LOG_LEVEL).toBe('INFO');
    for (const [metric, name, statistic] of [
      [tvm.metricVends(), 'Vends', 'Sum'],
      [tvm.metricDenials(), 'Denials', 'Sum'],
      [tvm.metricRevocations(), 'Revocations', 'Sum'],
      [tvm.metricStoreFailures(), 'StoreFailures', 'Sum'],
      [tvm.metricStsFailures(), 'StsFailures', 'Sum'],
      [tvm.metricEnforcementFailures(), 'EnforcementFailures', 'Sum'],
      [tvm.metricVendLatency(), 'VendLatency', 'p99'],
    ] as const) {
      expect(metric.namespace).toBe('SentinelTvm');
      expect(metric.metricName).toBe(name);
      expect(metric.statistic).toBe(statistic);
      expect(metric.period.toMinutes()).toBe(5);
      expect(metric.dimensions).toEqual({ service: tvm.tvmName });
    }
    expect(tvm.metricDenialsByCode(DenialCode.POLICY_DENY).dimensions).toEqual({ service: tvm.tvmName, Code: 'POLICY_DENY' });
    expect(tvm.metricHandlerErrors().namespace).toBe('AWS/Lambda');
    expect(tvm.metricHandlerErrors().metricName).toBe('Errors');
    expect(tvm.metricHandlerThrottles().metricName).toBe('Throttles');
    expect(tvm.metricEnforcerErrors().metricName).toBe('Errors');
    expect(tvm.metricApiServerErrors().metricName).toBe('5xx');
    expect(tvm.metricApiClientErrors().metricName).toBe('4xx');
    expect(tvm.metricApiLatency().metricName).toBe('Latency');
  });

  test('THEN two TVMs in a stack have different names', () => {
    const { tvm, stack } = fullTvm();
    const other = new SentinelTvm(stack, 'Other');
    expect(other.tvmName).not.toBe(tvm.tvmName);
  });

  test('THEN only the enforcement and tamper alarms exist unless asked, and addAlarms creates one per failure mode, notifying the topic', () => {
    Template.fromStack(fullTvm().stack).resourceCountIs('AWS::CloudWatch::Alarm', 2);
    const { tvm, stack } = fullTvm();
    const topic = new sns.Topic(stack, 'Pager');

    const alarms = tvm.addAlarms({
      alarmActions: [new cw_actions.SnsAction(topic)],
      okActions: [new cw_actions.SnsAction(topic)],
      stsFailuresThreshold: 3,
    });

    expect(Object.keys(alarms).filter((k) => (alarms as any)[k]).sort())
      .toEqual(['enforcerErrors', 'serverErrors', 'storeFailures', 'stsFailures', 'throttles']);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
    for (const metric of ['EnforcementFailures', 'TamperEvents']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric, AlarmActions: [{ Ref: logicalIdOf(topic) }], OKActions: [{ Ref: logicalIdOf(topic) }],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StsFailures',
      Namespace: 'SentinelTvm',
      Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'service', Value: tvm.tvmName }],
      AlarmActions: [{ Ref: logicalIdOf(topic) }],
      OKActions: [{ Ref: logicalIdOf(topic) }],
      TreatMissingData: 'notBreaching',
    });
    for (const name of ['StoreFailures', '5xx', 'Throttles', 'Errors']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: name });
    }
  });

  test('fails when an alarm threshold is below 1', () => {
    const { tvm } = fullTvm();
    expect(() => tvm.addAlarms({ serverErrorsThreshold: 0 })).toThrow(/ServerErrorsAlarm is 0: expected a number >= 1/);
  });

  test('THEN logLevel and tracing reach the vending, enforcer and events functions; tracing is off by default', () => {
    const quiet = Template.fromStack(fullTvm({ props: { logLevel: SentinelTvmLogLevel.WARN, tracing: lambda.Tracing.ACTIVE } }).stack);
    quiet.resourcePropertiesCountIs('AWS::Lambda::Function', {
      TracingConfig: { Mode: 'Active' }, Environment: { Variables: Match.objectLike({ POWERTOOLS_LOG_LEVEL: 'WARN' }) },
    }, 3);
    const plain = Template.fromStack(fullTvm().stack);
    plain.resourcePropertiesCountIs('AWS::Lambda::Function', { TracingConfig: Match.anyValue() }, 0);
  });

  test('THEN every log group has a retention', () => {
    const { stack } = fullTvm();
    const groups = Object.values(Template.fromStack(stack).findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(4);
    expect(groups.every((g: any) => g.Properties.RetentionInDays === 365)).toBe(true);
  });
});
