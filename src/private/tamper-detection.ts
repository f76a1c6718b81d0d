import { Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { CLOUDTRAIL_DETAIL_TYPE } from '../shared/contract';

/** The IAM calls that change the deny policy, and the trust of a role. */
export const DENY_POLICY_CALLS = ['PutRolePolicy', 'DeleteRolePolicy'];
export const TRUST_POLICY_CALLS = ['UpdateAssumeRolePolicy'];
/** The Organizations calls that change or remove the SCP. */
export const ORGANIZATION_POLICY_CALLS = ['UpdatePolicy', 'DeletePolicy', 'DetachPolicy'];
/** The Organizations calls that can take accounts out of the SCP's reach without touching it. */
export const ORGANIZATION_REACH_CALLS = ['DisablePolicyType', 'MoveAccount', 'RemoveAccountFromOrganization'];
/** The CloudTrail calls that can blind tamper detection (EventBridge gets CloudTrail's events only while a trail logs). */
export const TRAIL_CALLS = ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'];
/** The STS calls that assume a role. */
export const ASSUME_ROLE_CALLS = ['AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity'];

export interface TvmTamperDetectionProps {
  /** The enforcer function: every rule's target (it judges, re-enforces and raises the alarm's metric). */
  readonly enforcer: lambda.IFunction;
  /** The enforcer's role unique id (`AROA…`): its own sessions' calls never reach it. */
  readonly enforcerRoleId: string;
  /** The vending function's role unique id: its AssumeRole calls are the TVM's. */
  readonly vendRoleId: string;
  readonly policyName: string;
  /** `/sentinel-tvm/<tvmName>/`. */
  readonly protectedRolePath: string;
  /** The organization SCP's id, in organization mode. */
  readonly organizationPolicyId?: string;
}

/**
 * Tamper detection: EventBridge rules on CloudTrail's management events, on the default bus of the TVM's region, that hand
 * the enforcer (1) any change of its deny policy, of a role's trust, or of its organization SCP, by anyone but the
 * enforcer itself, and (2) any AssumeRole of a protected role by anyone but the vending function. The patterns are coarse
 * where IAM names are not known at synth (a trust change of any role); the enforcer decides from the event and the
 * deployed configuration, and only then counts, alarms and re-enforces. The patterns name no account (a list of spoke
 * accounts would outgrow EventBridge's 2,048 characters): the default bus receives other accounts' events only where its
 * policy lets them, and the enforcer counts only those of its own account and its spokes'.
 *
 * IAM's and Organizations' events reach EventBridge in us-east-1 only: in another region these rules see them only when a
 * `SentinelTvmTamperForwarder` in us-east-1 forwards them (STS's regional AssumeRole events arrive in the region of the
 * endpoint, the TVM's for its own calls).
 */
export class TvmTamperDetection extends Construct {
  public readonly changeRule: events.Rule;
  public readonly assumeRoleRule: events.Rule;

  constructor(scope: Construct, id: string, props: TvmTamperDetectionProps) {
    super(scope, id);
    const partition = Stack.of(this).partition;
    const target = new targets.LambdaFunction(props.enforcer, { retryAttempts: 2 });
    const changes: Record<string, unknown>[] = [
      // IAM finds names without regard to case: so does the pattern.
      { eventSource: ['iam.amazonaws.com'], eventName: DENY_POLICY_CALLS, requestParameters: { policyName: [{ 'equals-ignore-case': props.policyName }] } },
      { eventSource: ['iam.amazonaws.com'], eventName: TRUST_POLICY_CALLS },
      { eventSource: ['cloudtrail.amazonaws.com'], eventName: TRAIL_CALLS },
    ];
    if (props.organizationPolicyId) {
      changes.push({
        eventSource: ['organizations.amazonaws.com'],
        eventName: ORGANIZATION_POLICY_CALLS,
        requestParameters: { policyId: [props.organizationPolicyId] },
      }, { eventSource: ['organizations.amazonaws.com'], eventName: ORGANIZATION_REACH_CALLS });
    }
    this.changeRule = new events.Rule(this, 'ChangeRule', {
      description: 'Sentinel TVM: its deny policy, a role\'s trust or its SCP changed (CloudTrail): re-enforce and alarm',
      eventPattern: {
        source: ['aws.iam', 'aws.cloudtrail', ...(props.organizationPolicyId ? ['aws.organizations'] : [])],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          $or: changes,
          // Not the enforcer's own writes (its sessions' principal id is `<role id>:<session>`): no run triggers another.
          // An identity without a principal id (an AWS service) is not the enforcer: `anything-but` alone would miss it.
          userIdentity: notPrincipal(props.enforcerRoleId),
        },
      },
      targets: [target],
    });
    this.assumeRoleRule = new events.Rule(this, 'AssumeRoleRule', {
      description: 'Sentinel TVM: a protected role assumed by a principal that is not the TVM (CloudTrail): alarm',
      eventPattern: {
        source: ['aws.sts'],
        detailType: [CLOUDTRAIL_DETAIL_TYPE],
        detail: {
          eventSource: ['sts.amazonaws.com'],
          eventName: ASSUME_ROLE_CALLS,
          requestParameters: {
            // The protected roles of every account: a profile's role that is not a ProtectedRole trusts others too.
            roleArn: [{ wildcard: `arn:${partition}:iam::*:role${props.protectedRolePath}*` }],
          },
          userIdentity: notPrincipal(props.vendRoleId),
        },
      },
      targets: [target],
    });
    // CloudTrail marks AssumeRole read-only, and EventBridge delivers read-only management events only to rules in this state.
    allManagementEvents(this.assumeRoleRule);
  }
}

/** The region where IAM's and Organizations' CloudTrail events reach EventBridge. */
export const IAM_EVENTS_REGION = 'us-east-1';

export interface TamperForwardingProps {
  /** Who is forwarding, for messages. */
  readonly what: string;
  readonly policyName: string;
  readonly protectedRolePath: string;
  /** The TVM's region and account: its default bus receives the events. */
  readonly tvmRegion: string;
  readonly tvmAccount: string;
  /** A role whose own sessions' events are not forwarded (a spoke's enforcement role, by its unique id). @default - none */
  readonly exceptRoleId?: string;
}

/**
 * A rule in us-east-1 that forwards the CloudTrail events of tamper detection to the TVM's default bus: writes of its deny
 * policy, trust changes, Organizations policy changes, and AssumeRole calls of its protected roles. Coarse (the TVM's
 * rules and enforcer decide); it refuses a stack of another region, and asserts us-east-1 at deployment when the
 * stack's region is unknown at synth.
 */
export function tamperForwardingRule(scope: Construct, id: string, props: TamperForwardingProps): events.Rule {
  const stack = Stack.of(scope);
  if (!Token.isUnresolved(stack.region) && stack.region !== IAM_EVENTS_REGION) {
    throw new Error(`${props.what}: its stack is in ${stack.region}; it must be in ${IAM_EVENTS_REGION}, the only region where `
      + 'EventBridge receives IAM\'s and Organizations\' CloudTrail events');
  }
  if (Token.isUnresolved(stack.region)) {
    new CfnRule(scope, `${id}OnlyInUsEast1`, {
      assertions: [{
        assert: Fn.conditionEquals(Aws.REGION, IAM_EVENTS_REGION),
        assertDescription: `${props.what} must be deployed in ${IAM_EVENTS_REGION}`,
      }],
    });
  }
  const bus = events.EventBus.fromEventBusArn(scope, `${id}TvmBus`,
    stack.formatArn({ service: 'events', region: props.tvmRegion, account: props.tvmAccount, resource: 'event-bus', resourceName: 'default' }));
  const rule = new events.Rule(scope, id, {
    description: 'Sentinel TVM: forwards the IAM, Organizations, CloudTrail and STS events of tamper detection to the TVM\'s region',
    eventPattern: {
      source: ['aws.iam', 'aws.organizations', 'aws.sts', 'aws.cloudtrail'],
      detailType: [CLOUDTRAIL_DETAIL_TYPE],
      detail: {
        $or: [
          { eventSource: ['iam.amazonaws.com'], eventName: DENY_POLICY_CALLS, requestParameters: { policyName: [{ 'equals-ignore-case': props.policyName }] } },
          { eventSource: ['iam.amazonaws.com'], eventName: TRUST_POLICY_CALLS },
          { eventSource: ['organizations.amazonaws.com'], eventName: [...ORGANIZATION_POLICY_CALLS, ...ORGANIZATION_REACH_CALLS] },
          { eventSource: ['cloudtrail.amazonaws.com'], eventName: TRAIL_CALLS },
          {
            eventSource: ['sts.amazonaws.com'],
            eventName: ASSUME_ROLE_CALLS,
            requestParameters: { roleArn: [{ wildcard: `arn:${stack.partition}:iam::*:role${props.protectedRolePath}*` }] },
          },
        ],
        ...(props.exceptRoleId ? { userIdentity: notPrincipal(props.exceptRoleId) } : {}),
      },
    },
    targets: [new targets.EventBus(bus)],
  });
  allManagementEvents(rule);
  return rule;
}

/** Any identity but a session of this role (by its unique id): one without a principal id included. */
function notPrincipal(roleId: string): Record<string, unknown> {
  return { principalId: [{ 'anything-but': { prefix: `${roleId}:` } }, { exists: false }] };
}

/** The rule receives read-only management events too (AssumeRole is one). */
function allManagementEvents(rule: events.Rule): void {
  (rule.node.defaultChild as events.CfnRule).addPropertyOverride('State', 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS');
}
