import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Metrics as MetricNames } from '../../src/shared/contract';
import { ORGANIZATION_ACCOUNT } from '../events/entries';

/** The `Account` dimension's value for the organization SCP (the other values are 12-digit accounts), as its events' `account`. */
export const ORGANIZATION_TARGET = ORGANIZATION_ACCOUNT;

/**
 * Receives one run's failures (none included): the names of the roles whose revoked-sessions deny could not be written,
 * and, by account, how many of that account's roles failed ({@link ORGANIZATION_TARGET}: 1 when the SCP failed).
 */
export type EnforcerMetrics = (failedRoles: readonly string[], failedAccounts?: Readonly<Record<string, number>>) => void;

/**
 * `EnforcementFailures` as EMF lines on stdout (namespace and names from the contract, dimension `service` from
 * `POWERTOOLS_SERVICE_NAME`): the count of failed targets of every run (roles, and the SCP), 0 included so that an alarm
 * has data; 1 per failed role with the `Role` dimension; per failed account, its count with the `Account` dimension.
 * Roles and accounts that did not fail get no line: each dimension value is a custom metric of its own, and the total
 * already carries the zeros.
 */
export function powertoolsEnforcerMetrics(options: { serviceName?: string } = {}): EnforcerMetrics {
  const metrics = new Metrics({ namespace: MetricNames.NAMESPACE, ...(options.serviceName ? { serviceName: options.serviceName } : {}) });
  return (failedRoles, failedAccounts = {}) => {
    const total = failedRoles.length + (failedAccounts[ORGANIZATION_TARGET] ?? 0);
    metrics.addMetric(MetricNames.ENFORCEMENT_FAILURES, MetricUnit.Count, total);
    metrics.publishStoredMetrics();
    for (const role of new Set(failedRoles)) {
      // A document of its own per role: a second dimension set, as for Denials by code.
      metrics.singleMetric().addDimension(MetricNames.ROLE_DIMENSION, role).addMetric(MetricNames.ENFORCEMENT_FAILURES, MetricUnit.Count, 1);
    }
    for (const [account, count] of Object.entries(failedAccounts)) {
      if (count <= 0) continue;
      metrics.singleMetric().addDimension(MetricNames.ACCOUNT_DIMENSION, account)
        .addMetric(MetricNames.ENFORCEMENT_FAILURES, MetricUnit.Count, count);
    }
  };
}

/** `TamperEvents`: 1 per CloudTrail event judged tampering, with the `Kind` dimension, and 1 in the total (the alarm's metric). */
export function powertoolsTamperMetrics(options: { serviceName?: string } = {}): (kind: string) => void {
  const metrics = new Metrics({ namespace: MetricNames.NAMESPACE, ...(options.serviceName ? { serviceName: options.serviceName } : {}) });
  return (kind) => {
    metrics.addMetric(MetricNames.TAMPER_EVENTS, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    metrics.singleMetric().addDimension(MetricNames.KIND_DIMENSION, kind).addMetric(MetricNames.TAMPER_EVENTS, MetricUnit.Count, 1);
  };
}
