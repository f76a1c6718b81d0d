// A local EventBridge endpoint for local mode and tests: PutEvents in the real AWS JSON 1.1 protocol
// (`X-Amz-Target: AWSEvents.PutEvents`), so that the real SDK client serializes, signs and parses the real requests and
// answers. It listens on 127.0.0.1 only and accepts any request that looks signed (nothing is checked against a secret).
// Each accepted entry becomes the event EventBridge would deliver (version, id, account, time, region, resources,
// detail), handed to a callback; faults can be injected for tests (the next calls, or entries).
import { randomUUID } from 'crypto';
import type * as http from 'http';
import { serveLocal, type LocalEndpoint } from './http';

const TARGET = 'AWSEvents.PutEvents';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** What a SigV4 Authorization header for EventBridge looks like (the region is read from its credential scope). */
const AUTHORIZATION = new RegExp('^AWS4-HMAC-SHA256 Credential=[^/\\s,]+/\\d{8}/([a-z0-9-]+)/events/aws4_request, ?'
  + 'SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$');
/** EventBridge: 1 to 10 entries a call. */
const MAX_ENTRIES = 10;
/** An event bus name, or its ARN. */
const BUS = /^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus\/)?([/.\-_A-Za-z0-9]{1,256})$/;

/** An event as EventBridge delivers it to a rule's target. */
export interface DeliveredEvent {
  readonly 'version': '0';
  readonly 'id': string;
  readonly 'detail-type': string;
  readonly 'source': string;
  readonly 'account': string;
  /** ISO 8601, whole seconds, as EventBridge writes it. */
  readonly 'time': string;
  readonly 'region': string;
  readonly 'resources': string[];
  readonly 'detail': Record<string, unknown>;
}

/** An entry as received (the SDK's PutEventsRequestEntry on the wire: `Time` in epoch seconds). */
export interface ReceivedEntry {
  readonly Source?: unknown;
  readonly DetailType?: unknown;
  readonly Detail?: unknown;
  readonly Resources?: unknown;
  readonly Time?: unknown;
  readonly EventBusName?: unknown;
  readonly TraceHeader?: unknown;
}

/** One PutEvents call: what it carried and what it was answered. */
export interface PutEventsCall {
  readonly entries: ReceivedEntry[];
  /** HTTP status of the answer. */
  status?: number;
  /** Entries answered with an ErrorCode (a failed call: all of them). */
  failed?: number;
  /** The Authorization header (proves the request was signed; never a secret). */
  readonly authorization?: string;
}

/** An error of the whole call: its HTTP status and `__type`. */
export interface CallFault {
  readonly code: string;
  readonly status: number;
  readonly message?: string;
}

export interface LocalEventBridgeOptions {
  /** Receives each accepted event and the name of its bus (`default` when the entry named none). */
  readonly onEvent: (event: DeliveredEvent, bus: string) => void;
  /** The account of delivered events. @default 123456789012 */
  readonly account?: string;
  /** The region of delivered events. @default the region the request was signed for */
  readonly region?: string;
  /** The buses that exist (names; `default` always does); an entry for another is refused as EventBridge does. @default any */
  readonly buses?: readonly string[];
  readonly port?: number;
  readonly now?: () => Date;
  /** One line per refused call or entry (never a secret). */
  readonly log?: (line: string) => void;
}

export interface LocalEventBridge extends LocalEndpoint {
  /** Every PutEvents call received, in order, including those answered with an error. */
  readonly calls: PutEventsCall[];
  /** Answers the next `count` calls with this error (default: 500 InternalException); 0 clears. */
  failCalls(count: number, fault?: CallFault): void;
  /**
   * Fails entries with this ErrorCode (default InternalFailure, which is retryable): the next `which` entries received, or
   * every entry for which `which` is true, until cleared with undefined.
   */
  failEntries(which: number | ((entry: ReceivedEntry) => boolean) | undefined, code?: string): void;
  /** Answers every following call this much later (0: at once). */
  delay(ms: number): void;
}

class CallError extends Error {
  constructor(public readonly status: number, public readonly code: string, message: string) {
    super(message);
  }
}

/** The delivered `time`: EventBridge writes whole seconds. */
const deliveredTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function startLocalEventBridge(options: LocalEventBridgeOptions): Promise<LocalEventBridge> {
  const calls: PutEventsCall[] = [];
  const now = options.now ?? (() => new Date());
  const account = options.account ?? '123456789012';
  const buses = options.buses ? new Set(['default', ...options.buses]) : undefined;
  let callFaults = 0;
  let callFault: CallFault = { code: 'InternalException', status: 500 };
  let entryFaults: number | ((entry: ReceivedEntry) => boolean) | undefined;
  let entryCode = 'InternalFailure';
  let latencyMs = 0;
  /** Answers held back by {@link LocalEventBridge.delay}: dropped on stop. */
  const held = new Set<NodeJS.Timeout>();

  /** The entry's bus name; a bus that does not exist refuses the whole call. */
  const busOf = (entry: ReceivedEntry): string => {
    if (entry.EventBusName === undefined) return 'default';
    const m = typeof entry.EventBusName === 'string' ? BUS.exec(entry.EventBusName) : null;
    if (!m) throw new CallError(400, 'ValidationException', 'EventBusName is not a valid event bus name or ARN.');
    if (buses && !buses.has(m[2])) throw new CallError(400, 'ResourceNotFoundException', `Event bus ${m[2]} does not exist.`);
    return m[2];
  };

  /** The delivered event of an entry, or the entry's error code and message. */
  const deliver = (entry: ReceivedEntry, region: string): { event: DeliveredEvent } | { code: string; message: string } => {
    const { Source, DetailType, Detail, Resources, Time } = entry;
    if (typeof Source !== 'string' || Source === '') return { code: 'InvalidArgument', message: 'Parameter Source is not valid.' };
    if (typeof DetailType !== 'string' || DetailType === '') return { code: 'InvalidArgument', message: 'Parameter DetailType is not valid.' };
    if (Source.startsWith('aws.')) return { code: 'NotAuthorizedForSourceException', message: `Not authorized for the source ${Source}.` };
    let detail: unknown;
    try {
      detail = typeof Detail === 'string' ? JSON.parse(Detail) : undefined;
    } catch {
      detail = undefined;
    }
    if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return { code: 'MalformedDetail', message: 'Detail is malformed.' };
    if (Resources !== undefined && (!Array.isArray(Resources) || Resources.some((r) => typeof r !== 'string'))) {
      return { code: 'InvalidArgument', message: 'Parameter Resources is not valid.' };
    }
    if (Time !== undefined && (typeof Time !== 'number' || !Number.isFinite(Time))) {
      return { code: 'InvalidArgument', message: 'Parameter Time is not valid.' };
    }
    return {
      event: {
        'version': '0',
        'id': randomUUID(),
        'detail-type': DetailType,
        'source': Source,
        account,
        'time': deliveredTime(Time === undefined ? now() : new Date(Math.floor(Time) * 1000)),
        region,
        'resources': (Resources as string[] | undefined) ?? [],
        'detail': detail as Record<string, unknown>,
      },
    };
  };

  const injectedEntryFault = (entry: ReceivedEntry): boolean => {
    if (typeof entryFaults === 'function') return entryFaults(entry);
    if (typeof entryFaults === 'number' && entryFaults > 0) {
      entryFaults -= 1;
      return true;
    }
    return false;
  };

  const putEvents = (req: http.IncomingMessage, body: Buffer | undefined, call: { entries: ReceivedEntry[] }): unknown => {
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== TARGET) {
      throw new CallError(400, 'UnknownOperationException', `Only ${TARGET} (POST) is served by the local EventBridge.`);
    }
    const signed = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
    if (!signed || !req.headers['x-amz-date']) {
      throw new CallError(400, 'MissingAuthenticationTokenException', 'Request is missing Authentication Token');
    }
    if (!body) throw new CallError(413, 'RequestEntityTooLarge', 'The request is too large.');
    if (!String(req.headers['content-type'] ?? '').startsWith(CONTENT_TYPE)) {
      throw new CallError(400, 'SerializationException', `Content-Type must be ${CONTENT_TYPE}.`);
    }
    let input: any;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new CallError(400, 'SerializationException', 'The body is not JSON.');
    }
    const entries = input?.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      throw new CallError(400, 'ValidationException', '1 validation error detected: Value at \'entries\' failed to satisfy constraint: '
        + `Member must have length less than or equal to ${MAX_ENTRIES} and greater than or equal to 1`);
    }
    call.entries.push(...entries.map((e: unknown) => (e && typeof e === 'object' ? e as ReceivedEntry : {})));
    if (callFaults > 0) {
      callFaults -= 1;
      throw new CallError(callFault.status, callFault.code, callFault.message ?? 'An injected fault.');
    }
    const region = options.region ?? signed[1];
    const busNames = call.entries.map(busOf);
    const accepted: { event: DeliveredEvent; bus: string }[] = [];
    const results = call.entries.map((entry, i) => {
      if (injectedEntryFault(entry)) return { ErrorCode: entryCode, ErrorMessage: 'An injected fault.' };
      const out = deliver(entry, region);
      if ('code' in out) {
        options.log?.(`PutEvents: entry ${i} refused: ${out.code}`);
        return { ErrorCode: out.code, ErrorMessage: out.message };
      }
      accepted.push({ event: out.event, bus: busNames[i] });
      return { EventId: out.event.id };
    });
    // Handed over before the answer: once the SDK call returns, the caller's events have been seen.
    for (const { event, bus } of accepted) {
      try {
        options.onEvent(event, bus);
      } catch (err) {
        options.log?.(`PutEvents: the event callback failed: ${(err as Error)?.name ?? 'Error'}`);
      }
    }
    return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
  };

  const server = await serveLocal(options.port, (req, res, body) => {
    const call: PutEventsCall = { entries: [], authorization: req.headers.authorization };
    let status = 200;
    let answer: unknown;
    try {
      answer = putEvents(req, body, call);
      call.failed = (answer as { FailedEntryCount: number }).FailedEntryCount;
    } catch (err) {
      const e = err instanceof CallError ? err : new CallError(500, 'InternalException', 'internal error');
      options.log?.(`PutEvents: ${e.code}: ${e.message}`);
      status = e.status;
      answer = { __type: e.code, message: e.message };
      call.failed = call.entries.length;
    }
    call.status = status;
    if (req.headers['x-amz-target'] === TARGET) calls.push(call);
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(answer));
    };
    if (latencyMs === 0) return send();
    const timer = setTimeout(() => {
      held.delete(timer);
      send();
    }, latencyMs);
    held.add(timer);
  });
  return {
    ...server,
    stop: async () => {
      held.forEach((t) => clearTimeout(t));
      held.clear();
      await server.stop();
    },
    calls,
    failCalls: (count, fault) => {
      callFaults = Math.max(0, count);
      callFault = fault ?? { code: 'InternalException', status: 500 };
    },
    failEntries: (which, code = 'InternalFailure') => {
      entryFaults = which;
      entryCode = code;
    },
    delay: (ms) => { latencyMs = Math.max(0, ms); },
  };
}
