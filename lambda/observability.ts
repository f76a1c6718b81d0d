import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AccessFacts } from './access/requests';
import type { IntrospectFacts } from './introspect/introspect';
import type { ManageFacts } from './sessions/manage';
import type { VendFacts } from './vend/vend';
import { Introspection, Metrics as MetricNames } from '../src/shared/contract';

/** One decision per request: the facts a security reviewer needs, never a secret, token or signature. */
export interface DecisionLog extends VendFacts, ManageFacts, IntrospectFacts, AccessFacts {
  level: 'INFO' | 'WARN' | 'ERROR';
  message: 'decision';
  requestId: string;
  method: string;
  path: string;
  callerArn?: string;
  decision: 'ALLOW' | 'DENY' | 'ERROR';
  code?: string;
  status: number;
  latencyMs?: number;
  error?: string;
}

/** Where a decision goes: the log line and its metrics. */
export type DecisionSink = (entry: DecisionLog) => void;

/**
 * Powertools logger and metrics, once per container. Service name, log level and namespace come from
 * `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_LOG_LEVEL` and the contract; metrics are EMF lines in the log.
 */
export function powertoolsSink(): DecisionSink {
  const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });
  const metrics = new Metrics({ namespace: MetricNames.NAMESPACE });
  return (entry) => {
    const { level, message, ...attributes } = entry;
    // Every request is correlated by API Gateway's request id (also in the access log).
    const fields = { ...attributes, correlation_id: entry.requestId };
    if (level === 'ERROR') logger.error(message, fields);
    else if (level === 'WARN') logger.warn(message, fields);
    else logger.info(message, fields);
    emitMetrics(metrics, entry);
  };
}

function emitMetrics(metrics: Metrics, e: DecisionLog): void {
  const vend = e.path === '/' && (e.method === 'GET' || e.method === 'POST');
  if (vend && e.decision === 'ALLOW') metrics.addMetric(MetricNames.VENDS, MetricUnit.Count, 1);
  if (vend && e.latencyMs !== undefined) metrics.addMetric(MetricNames.VEND_LATENCY, MetricUnit.Milliseconds, e.latencyMs);
  if (e.decision === 'DENY') {
    metrics.addMetric(MetricNames.DENIALS, MetricUnit.Count, 1);
    // Per code as well, in its own EMF document (a second dimension set).
    metrics.singleMetric().addDimension(MetricNames.CODE_DIMENSION, e.code ?? 'UNKNOWN').addMetric(MetricNames.DENIALS, MetricUnit.Count, 1);
  }
  if (e.action === 'revoke' && e.decision === 'ALLOW') metrics.addMetric(MetricNames.REVOCATIONS, MetricUnit.Count, 1);
  if (e.path === Introspection.PATH && e.decision === 'ALLOW' && e.active !== undefined) {
    metrics.addMetric(MetricNames.INTROSPECTIONS, MetricUnit.Count, 1);
    metrics.singleMetric().addDimension(MetricNames.ACTIVE_DIMENSION, String(e.active)).addMetric(MetricNames.INTROSPECTIONS, MetricUnit.Count, 1);
  }
  if (e.storeFailure || e.code === 'STORE_UNAVAILABLE') metrics.addMetric(MetricNames.STORE_FAILURES, MetricUnit.Count, 1);
  if (e.stsError) metrics.addMetric(MetricNames.STS_FAILURES, MetricUnit.Count, 1);
  if (e.integrityFailure) metrics.addMetric(MetricNames.INTEGRITY_FAILURES, MetricUnit.Count, 1);
  if (e.decision === 'ALLOW' && e.action === 'request') metrics.addMetric(MetricNames.ACCESS_REQUESTS, MetricUnit.Count, 1);
  if (e.decision === 'ALLOW' && e.action === 'breakglass') metrics.addMetric(MetricNames.BREAK_GLASS_INVOCATIONS, MetricUnit.Count, 1);
  // Nothing to publish (e.g. an allowed GET /profiles): publishing would log Powertools' "No application metrics" warning.
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
