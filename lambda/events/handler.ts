import { recordChanges } from './access';
import type { EventTarget, StreamRecordLike } from './entries';
import type { EventsFailedMetric } from './metrics';
import { errorCode, type EventPublisher, type PublishResult } from './publish';

export type EventsLogLevel = 'INFO' | 'WARN' | 'ERROR';
export type EventsLog = (level: EventsLogLevel, message: string, fields: Record<string, unknown>) => void;

export interface EventsHandlerDeps {
  readonly target: EventTarget;
  readonly publish: EventPublisher;
  readonly log?: EventsLog;
  /** Receives each invocation's count of events not put. @default - nowhere */
  readonly eventsFailed?: EventsFailedMetric;
}

/** The answer Lambda reads with ReportBatchItemFailures: it retries the stream from the first record named. */
export interface StreamBatchResponse {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

export interface EventsContext {
  getRemainingTimeInMillis?(): number;
}

/** Records named in a log line, at most: ids and counts, never whole items. */
const MAX_LOGGED = 20;
/** Left of the invocation's time when the publication stops, so that the answer still reaches Lambda. */
const RESERVE_MS = 2_000;

/**
 * The events function: the session table's stream records (INSERT and MODIFY) → their events (none, one, or an access
 * event and a session event) → PutEvents. It never throws for an event that could not be put: it names that record's
 * sequence number, so that Lambda delivers the stream again from there (at least once; a consumer may see an event twice,
 * never lose one while the stream holds it).
 */
export function createEventsHandler(deps: EventsHandlerDeps) {
  const log = deps.log ?? (() => undefined);
  return async (event: unknown, context?: EventsContext): Promise<StreamBatchResponse> => {
    const maybe = (event as { Records?: unknown } | null | undefined)?.Records;
    const records: StreamRecordLike[] = Array.isArray(maybe) ? maybe : [];
    // A record may come to more than one event (a grant's first vend: Access Activated and Session Started).
    const changes = records.flatMap((record, index) => recordChanges(record ?? {}, deps.target).map((c) => ({ index, c })));
    const events = changes.flatMap(({ index, c }) => (c.kind === 'event' ? [{ index, change: c }] : []));
    const skipped = changes.flatMap(({ c }) => (c.kind === 'skipped' ? [c] : []));
    if (skipped.length > 0) {
      log('WARN', 'session changes without an event: their items lack fields the event needs, or have malformed ones', {
        count: skipped.length,
        changes: skipped.slice(0, MAX_LOGGED).map((s) => ({
          sessionId: s.sessionId ?? '(not a session id of this TVM)', detailType: s.detailType, invalid: s.invalid,
        })),
      });
    }
    const remaining = context?.getRemainingTimeInMillis?.();
    const timeoutMs = remaining === undefined ? undefined : Math.max(1_000, remaining - RESERVE_MS);
    let result: PublishResult = { put: 0, failed: [], errors: {} };
    if (events.length > 0) {
      try {
        result = await deps.publish(events.map((e) => e.change.entry), { timeoutMs });
      } catch (err) {
        // The publisher does not throw; were it to, every event counts as not put, and the stream delivers them again.
        result = { put: 0, failed: events.map((_, i) => i), errors: { [errorCode(err)]: events.length } };
      }
    }
    const failedRecords = result.failed.map((i) => ({ record: records[events[i].index], sessionId: events[i].change.sessionId }));
    // A record without its sequence number cannot be named: an empty identifier makes Lambda retry the whole batch.
    const identifiers = [...new Set(failedRecords.map((f) => f.record?.dynamodb?.SequenceNumber ?? ''))];
    try {
      deps.eventsFailed?.(result.failed.length);
    } catch {
      // A metric that cannot be written is no reason to have the batch delivered again.
    }
    log(result.failed.length > 0 ? 'ERROR' : 'INFO', 'session events', {
      records: records.length,
      events: events.length,
      put: result.put,
      failed: result.failed.length,
      skipped: skipped.length,
      ...(result.failed.length > 0 ? {
        errors: result.errors,
        failedSessions: failedRecords.slice(0, MAX_LOGGED).map((f) => f.sessionId),
      } : {}),
    });
    return { batchItemFailures: identifiers.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
