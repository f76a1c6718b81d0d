import { CfnResource, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** A cdk-nag finding this library accepts on purpose, with the reason a reviewer reads. */
export interface NagAcknowledgement {
  /** A rule (`AwsSolutions-L1`) or one finding of a rule (`AwsSolutions-IAM4[Policy::arn:...]`). */
  readonly id: string;
  readonly reason: string;
}

/**
 * Records acknowledgements where both cdk-nag generations read them: CDK's `Validations` (cdk-nag 3)
 * and the `cdk_nag` resource metadata (cdk-nag 2), so users running either see only their own findings.
 */
export function acknowledgeNag(scope: IConstruct, acknowledgements: NagAcknowledgement[]): void {
  for (const ack of acknowledgements) {
    if (ack.id.split('::').length > 2) {
      // Findings on ARNs contain several `::`, which Validations.acknowledge() rejects before aws/aws-cdk#38787;
      // cdk-nag 3 reads this metadata key itself (cdklabs/cdk-nag#2359).
      scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [ack.id]: ack.reason }, { stackTrace: false });
    } else {
      Validations.of(scope).acknowledge(ack);
    }
  }
  const v2 = acknowledgements.map((a) => {
    const finding = /^([^[]+)\[(.*)\]$/.exec(a.id);
    return finding ? { id: finding[1], reason: a.reason, applies_to: [finding[2]] } : { id: a.id, reason: a.reason };
  });
  for (const child of scope.node.findAll()) {
    if (!CfnResource.isCfnResource(child)) continue;
    const existing = (child.getMetadata('cdk_nag') as { rules_to_suppress?: Array<{ id: string }> } | undefined)?.rules_to_suppress ?? [];
    const ids = new Set(existing.map((a) => a.id));
    const merged = [...existing, ...v2.filter((a) => !ids.has(a.id))];
    child.addMetadata('cdk_nag', { rules_to_suppress: merged });
  }
}
