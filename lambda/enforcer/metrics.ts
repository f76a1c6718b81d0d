import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Metrics as MetricNames } from '../../src/shared/contract';

/** Receives the names of the roles whose revoked-sessions deny could not be written in one run (empty when none). */
export type EnforcerMetrics = (failedRoles: readonly string[]) => void;

/**
 * `EnforcementFailures` as EMF lines on stdout (namespace and names from the contract, dimension `service` from
 * `POWERTOOLS_SERVICE_NAME`): the count of failed roles of every run, 0 included so that an alarm has data, and 1 per
 * failed role with the `Role` dimension as well. Roles that did not fail get no per-role line: each dimension value is a
 * custom metric of its own, and the total already carries the zeros.
 */
export function powertoolsEnforcerMetrics(options: { serviceName?: string } = {}): EnforcerMetrics {
  const metrics = new Metrics({ namespace: MetricNames.NAMESPACE, ...(options.serviceName ? { serviceName: options.serviceName } : {}) });
  return (failedRoles) => {
    metrics.addMetric(MetricNames.ENFORCEMENT_FAILURES, MetricUnit.Count, failedRoles.length);
    metrics.publishStoredMetrics();
    for (const role of new Set(failedRoles)) {
      // A document of its own per role: a second dimension set, as for Denials by code.
      metrics.singleMetric().addDimension(MetricNames.ROLE_DIMENSION, role).addMetric(MetricNames.ENFORCEMENT_FAILURES, MetricUnit.Count, 1);
    }
  };
}
