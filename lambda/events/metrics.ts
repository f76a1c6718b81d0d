import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Metrics as MetricNames } from '../../src/shared/contract';

/** Receives how many events of a run or an invocation could not be put (0 included, so that an alarm has data). */
export type EventsFailedMetric = (failed: number) => void;

/** `EventsFailed` as an EMF line on stdout (namespace from the contract, dimension `service` from `POWERTOOLS_SERVICE_NAME`). */
export function powertoolsEventsFailed(): EventsFailedMetric {
  const metrics = new Metrics({ namespace: MetricNames.NAMESPACE });
  return (failed) => {
    metrics.addMetric(MetricNames.EVENTS_FAILED, MetricUnit.Count, failed);
    metrics.publishStoredMetrics();
  };
}
