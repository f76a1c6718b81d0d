import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { EventEntry } from './entries';
import { SessionEvents } from '../../src/shared/contract';

/** What the publisher needs of the EventBridge client (the SDK's, created once per container). */
export type EventsClient = Pick<EventBridgeClient, 'send'>;

export interface PublisherOptions {
  readonly client: EventsClient;
  /** Attempts of each entry whose failure is worth another (the entry's retryable error, or the call's). @default 3 */
  readonly attempts?: number;
  /** The first retry's pause; each next one doubles it (with jitter). @default 100 */
  readonly backoffMs?: number;
  /** PutEvents calls in flight at once. @default 4 */
  readonly concurrency?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface PublishResult {
  /** Entries EventBridge accepted. */
  readonly put: number;
  /** Indexes, in the entries given, of those it did not accept (in order). */
  readonly failed: number[];
  /** The failed entries' error codes (their last attempt's), counted: the call's error name, the entry's ErrorCode, or `Timeout`. */
  readonly errors: Record<string, number>;
}

/** Puts entries; never throws. `timeoutMs` bounds the whole: what is not put by then counts as failed (`Timeout`). */
export type EventPublisher = (entries: readonly EventEntry[], options?: { readonly timeoutMs?: number }) => Promise<PublishResult>;

/** Entry errors EventBridge documents as retryable; the others (access, malformed detail) fail the same way again. */
const RETRYABLE_ENTRY_ERRORS = new Set(['InternalFailure', 'ThrottlingException']);
const TIMEOUT = 'Timeout';

/** An error's name, as a code (never its message); a plain `Error` of the network says its code (`ENOTFOUND`, `ECONNREFUSED`). */
export function errorCode(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown };
  const valid = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z][A-Za-z0-9_.]{0,127}$/.test(v);
  if (valid(e?.name) && e.name !== 'Error') return e.name;
  return valid(e?.code) ? e.code : 'Error';
}

/** A failed call worth another attempt: throttling, EventBridge's own failures, the network; not a refusal of the request. */
function retryableCall(err: unknown): boolean {
  const e = err as { name?: string; $fault?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (e?.$retryable || e?.$fault === 'server') return true;
  if (e?.name === 'ThrottlingException' || e?.$metadata?.httpStatusCode === 429) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
}

/**
 * PutEvents, at most {@link SessionEvents.MAX_ENTRIES_PER_CALL} entries a call, a few calls side by side; the entries that
 * fail retryably (their own error, or the whole call's) are sent again, up to `attempts`, after a short pause.
 */
export function eventPublisher(options: PublisherOptions): EventPublisher {
  const attempts = Math.max(1, options.attempts ?? 3);
  const backoffMs = options.backoffMs ?? 100;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  return async (entries, { timeoutMs } = {}) => {
    const abort = new AbortController();
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => abort.abort(), Math.max(0, timeoutMs));
    const sleep = (ms: number) => (options.sleep ? options.sleep(ms) : abortableSleep(ms, abort.signal));
    const codes = new Map<number, string>();
    const failed = new Set<number>();

    const sendBatch = async (batch: number[]): Promise<void> => {
      let pending = batch;
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (abort.signal.aborted) {
          pending.forEach((i) => { codes.set(i, TIMEOUT); failed.add(i); });
          return;
        }
        const retry: number[] = [];
        try {
          const out = await options.client.send(new PutEventsCommand({ Entries: pending.map((i) => entries[i]) }), { abortSignal: abort.signal });
          const results = out.Entries ?? [];
          pending.forEach((index, k) => {
            const result = results[k];
            if (result?.EventId && !result.ErrorCode) return;
            // No result for an entry at all: EventBridge's fault, worth another attempt.
            const code = result?.ErrorCode ?? 'InternalFailure';
            codes.set(index, code);
            if (RETRYABLE_ENTRY_ERRORS.has(code)) retry.push(index);
            else failed.add(index);
          });
        } catch (err) {
          const code = abort.signal.aborted ? TIMEOUT : errorCode(err);
          pending.forEach((i) => codes.set(i, code));
          if (!abort.signal.aborted && retryableCall(err)) retry.push(...pending);
          else pending.forEach((i) => failed.add(i));
        }
        if (retry.length > 0 && attempt < attempts) {
          await sleep(Math.round(backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)));
          pending = retry;
        } else {
          retry.forEach((i) => failed.add(i));
          pending = [];
        }
      }
    };

    const batches: number[][] = [];
    for (let i = 0; i < entries.length; i += SessionEvents.MAX_ENTRIES_PER_CALL) {
      batches.push(Array.from({ length: Math.min(SessionEvents.MAX_ENTRIES_PER_CALL, entries.length - i) }, (_, k) => i + k));
    }
    try {
      let next = 0;
      const worker = async () => {
        while (next < batches.length) await sendBatch(batches[next++]);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
    } finally {
      if (timer) clearTimeout(timer);
    }
    const failedIndexes = [...failed].sort((a, b) => a - b);
    const errors: Record<string, number> = {};
    for (const i of failedIndexes) {
      const code = codes.get(i) ?? 'Error';
      errors[code] = (errors[code] ?? 0) + 1;
    }
    return { put: entries.length - failedIndexes.length, failed: failedIndexes, errors };
  };
}

/** A pause that ends early when the publication's time is up. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
