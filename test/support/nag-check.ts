// What the cdk-nag tests share: the acknowledgements a construct tree records, and cdk-nag's findings with and without them.
import { PolicyValidationPluginReport, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** One acknowledgement recorded in the construct tree (CDK `Validations`, which cdk-nag 3 reads). */
export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: unknown;
}

export function acknowledgementsIn(scope: IConstruct): Acknowledgement[] {
  return scope.node.findAll().flatMap((c) => c.node.metadata
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.entries(m.data as Record<string, unknown>)
      .map(([id, reason]) => ({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason }))));
}

/** Violations as one line each, so that a failing expectation prints what to fix and where. */
export function describeViolations(report: PolicyValidationPluginReport): string[] {
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}: ${v.description}`));
}

/** What cdk-nag would report if nothing were acknowledged. */
export function unacknowledgedReport(scope: IConstruct): PolicyValidationPluginReport {
  const pack = new AwsSolutionsChecks();
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(scope);
}

/** The findings cdk-nag would report if nothing were acknowledged: each rule and construct path. */
export function findingsWithoutAcknowledgements(scope: IConstruct): { rule: string; path: string }[] {
  return unacknowledgedReport(scope).violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })));
}
