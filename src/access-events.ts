import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';

/**
 * The access events of a TVM (requests, approvals, grants, break-glass): their `detail-type`s.
 *
 * @experimental
 */
export enum AccessEventType {
  /** A request was filed and waits for its approvals. */
  REQUESTED = 'Access Requested',
  /** An approval that did not complete the quorum. */
  APPROVAL_RECORDED = 'Access Approval Recorded',
  /** A request was approved, by its last approver or by an auto-approve rule. */
  APPROVED = 'Access Approved',
  /** An approver denied a pending request. */
  DENIED = 'Access Denied',
  /** The requester cancelled a request. */
  REQUEST_CANCELLED = 'Access Request Cancelled',
  /** A pending request reached its approval deadline. */
  REQUEST_EXPIRED = 'Access Request Expired',
  /** A grant's first vend. */
  ACTIVATED = 'Access Activated',
  /** A grant's window ended. */
  ENDED = 'Access Ended',
  /** A grant ended early: withdrawn, revoked, its holder no longer eligible, or a broken seal. */
  WITHDRAWN = 'Access Withdrawn',
  /** Someone broke glass. */
  BREAK_GLASS_INVOKED = 'Break Glass Invoked',
  /** A break-glass session was reviewed. */
  BREAK_GLASS_REVIEWED = 'Break Glass Reviewed',
}

/**
 * Options of `SentinelTvm.onAccessEvent`.
 *
 * @experimental
 */
export interface AccessEventOptions extends events.OnEventOptions {
  /**
   * Only the events of these profiles: route each profile's requests to the channel of the people who approve them.
   *
   * @default - every profile
   */
  readonly profiles?: string[];

  /**
   * Only these events.
   *
   * @default - every access event
   */
  readonly eventTypes?: AccessEventType[];
}

/**
 * Targets that tell people of access events, without the TVM holding any chat token: an SNS topic that AWS Chatbot (Amazon
 * Q Developer in chat applications) or people subscribe to.
 *
 * @experimental
 */
export class AccessNotifications {
  /**
   * AWS Chatbot's custom-notification format on `topic`: the event's `detail.display` (title, description and the next
   * steps with the exact `sentinel-tvm` command), which the TVM renders with every text someone else wrote escaped, so that
   * it reads as text and never becomes a link; one chat thread per request (`threadId` is the request's id).
   */
  public static chatbot(topic: sns.ITopic): events.IRuleTarget {
    const field = (path: string) => events.EventField.fromPath(`$.detail.${path}`);
    return new targets.SnsTopic(topic, {
      message: events.RuleTargetInput.fromObject({
        version: '1.0',
        source: 'custom',
        content: {
          textType: 'client-markdown',
          title: field('display.title'),
          description: field('display.description'),
          nextSteps: field('display.nextSteps'),
        },
        metadata: { threadId: field('sessionId') },
      }),
    });
  }

  /** One line of text on `topic` (for e-mail): the event's title and description, as the TVM rendered them. */
  public static text(topic: sns.ITopic): events.IRuleTarget {
    const field = (path: string) => events.EventField.fromPath(`$.detail.${path}`);
    return new targets.SnsTopic(topic, {
      message: events.RuleTargetInput.fromText(`${field('display.title')}: ${field('display.description')}`),
    });
  }

  private constructor() {}
}
