import { CfnResource, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** A cdk-nag finding this library accepts on purpose, with the reason a reviewer reads. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

/**
 * Records acknowledgements where both cdk-nag generations read them: CDK's `Validations` (cdk-nag 3)
 * and the `cdk_nag` resource metadata (cdk-nag 2), so users running either see only their own findings.
 */
export function acknowledgeNag(scope: IConstruct, acknowledgements: NagAcknowledgement[]): void {
  Validations.of(scope).acknowledge(...acknowledgements);
  for (const child of scope.node.findAll()) {
    if (!CfnResource.isCfnResource(child)) continue;
    const existing = (child.getMetadata('cdk_nag') as { rules_to_suppress?: NagAcknowledgement[] } | undefined)?.rules_to_suppress ?? [];
    const ids = new Set(existing.map((a) => a.id));
    const merged = [...existing, ...acknowledgements.filter((a) => !ids.has(a.id))];
    child.addMetadata('cdk_nag', { rules_to_suppress: merged });
  }
}
