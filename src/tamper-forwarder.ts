import { Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { IAM_EVENTS_REGION, tamperForwardingRule } from './private/tamper-detection';
import { tvmAccountOf } from './private/trust';
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
    if (!Token.isUnresolved(tvmRegion) && tvmRegion === IAM_EVENTS_REGION) {
      throw new Error(`SentinelTvmTamperForwarder: tvm is in ${IAM_EVENTS_REGION} already, where its own rules receive IAM's events: `
        + 'no forwarder is needed');
    }
    if (!Token.isUnresolved(stack.account) && !Token.isUnresolved(tvmAccount) && stack.account !== tvmAccount) {
      throw new Error(`SentinelTvmTamperForwarder: its stack is in account ${stack.account}, tvm in ${tvmAccount}: put it in the `
        + 'TVM\'s account (a spoke forwards its own with SentinelTvmSpoke\'s forwardTamperEvents)');
    }
    this.rule = tamperForwardingRule(this, 'Rule', {
      what: 'SentinelTvmTamperForwarder',
      policyName: tvm.revokedSessionsPolicyName,
      protectedRolePath: tvm.protectedRolePath,
      tvmRegion,
      tvmAccount,
    });
    if (tvm instanceof SentinelTvmBase && '_addTamperForwarder' in tvm) (tvm as unknown as { _addTamperForwarder(): void })._addTamperForwarder();
  }
}
