import { Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import {
  ASSUME_ROLE_CALLS, DENY_POLICY_CALLS, ORGANIZATION_POLICY_CALLS, TRUST_POLICY_CALLS,
} from './private/tamper-detection';
import { tvmAccountOf } from './private/trust';
import { CLOUDTRAIL_DETAIL_TYPE } from './shared/contract';
import { ISentinelTvm, SentinelTvmBase } from './tvm-reference';

/**
 * Properties of a `SentinelTvmTamperForwarder`.
 *
 * @experimental
 */
export interface SentinelTvmTamperForwarderProps {
  /** The TVM whose tamper detection receives the events: in this account, in a region other than us-east-1. */
  readonly tvm: ISentinelTvm;
}

/** The region where IAM's and Organizations' CloudTrail events reach EventBridge. */
const IAM_EVENTS_REGION = 'us-east-1';

/**
 * Forwards the CloudTrail events a TVM's tamper detection needs from us-east-1, the only region where EventBridge receives
 * IAM's and Organizations' events, to the default event bus of the TVM's region: changes of its deny policy, of any role's
 * trust, of the Organizations SCP, and AssumeRole calls (STS's global endpoint records in us-east-1) of its protected
 * roles. Put it in a stack of the TVM's account in us-east-1. The TVM's rules there decide what is tampering.
 *
 * @experimental
 */
export class SentinelTvmTamperForwarder extends Construct {
  /** The rule in us-east-1 that forwards the events. */
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: SentinelTvmTamperForwarderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const tvm = props.tvm;
    const tvmRegion = (tvm as SentinelTvmBase)._region();
    const tvmAccount = tvmAccountOf(tvm.executionRoleArn, Stack.of(tvm).account);
    if (!Token.isUnresolved(stack.region) && stack.region !== IAM_EVENTS_REGION) {
      throw new Error(`SentinelTvmTamperForwarder: its stack is in ${stack.region}; it must be in ${IAM_EVENTS_REGION}, the only region `
        + 'where EventBridge receives IAM\'s and Organizations\' CloudTrail events');
    }
    if (!Token.isUnresolved(tvmRegion) && tvmRegion === IAM_EVENTS_REGION) {
      throw new Error(`SentinelTvmTamperForwarder: tvm is in ${IAM_EVENTS_REGION} already, where its own rules receive IAM's events: `
        + 'no forwarder is needed');
    }
    if (!Token.isUnresolved(stack.account) && !Token.isUnresolved(tvmAccount) && stack.account !== tvmAccount) {
      throw new Error(`SentinelTvmTamperForwarder: its stack is in account ${stack.account}, tvm in ${tvmAccount}: put it in the `
        + 'TVM\'s account (events of spoke accounts are not forwarded by this construct)');
    }
    if (Token.isUnresolved(stack.region)) {
      // An environment-agnostic stack: CloudFormation refuses to deploy it anywhere else.
      new CfnRule(this, 'OnlyInUsEast1', {
        assertions: [{
          assert: Fn.conditionEquals(Aws.REGION, IAM_EVENTS_REGION),
          assertDescription: `SentinelTvmTamperForwarder must be deployed in ${IAM_EVENTS_REGION}`,
        }],
      });
    }
    const hubBus = events.EventBus.fromEventBusArn(this, 'TvmBus',
      stack.formatArn({ service: 'events', region: tvmRegion, account: tvmAccount, resource: 'event-bus', resourceName: 'default' }));
    this.rule = new events.Rule(this, 'Rule', {
      description: `Sentinel TVM ${tvm.tvmName}: forwards IAM, Organizations and STS events of tamper detection to the TVM's region`,
      eventPattern: {
        source: ['aws.iam', 'aws.organizations', 'aws.sts'],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          $or: [
            { eventSource: ['iam.amazonaws.com'], eventName: DENY_POLICY_CALLS, requestParameters: { policyName: [tvm.revokedSessionsPolicyName] } },
            { eventSource: ['iam.amazonaws.com'], eventName: TRUST_POLICY_CALLS },
            { eventSource: ['organizations.amazonaws.com'], eventName: ORGANIZATION_POLICY_CALLS },
            {
              eventSource: ['sts.amazonaws.com'],
              eventName: ASSUME_ROLE_CALLS,
              requestParameters: { roleArn: [{ wildcard: `arn:${stack.partition}:iam::*:role${tvm.protectedRolePath}*` }] },
            },
          ],
        },
      },
      targets: [new targets.EventBus(hubBus)],
    });
    if (tvm instanceof SentinelTvmBase && '_addTamperForwarder' in tvm) (tvm as unknown as { _addTamperForwarder(): void })._addTamperForwarder();
  }
}
