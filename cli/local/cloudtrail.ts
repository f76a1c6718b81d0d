// A local CloudTrail endpoint for local mode and tests: LookupEvents (event history) in the real AWS JSON 1.1 protocol, so
// that the real SDK client serializes, signs and parses the real requests and answers. It listens on 127.0.0.1 only and
// accepts any request that looks signed (nothing is checked against a secret): the access key of the credential scope
// names the account whose history is read, its region the region. It answers as CloudTrail does: one lookup attribute at
// most, an inclusive time range, the last 90 days only, newest first, 1 to 50 events a page, a token bound to the
// parameters it was issued for, and two calls a second per account and region.
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import type * as http from 'http';
import { performance } from 'perf_hooks';
import { serveLocal, type LocalEndpoint } from './http';

/** The target the SDK sends, and the one CloudTrail's API reference and older SDKs send: both name LookupEvents. */
export const LOOKUP_EVENTS_TARGETS = [
  'CloudTrail_20131101.LookupEvents',
  'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents',
] as const;
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** What a SigV4 Authorization header for CloudTrail looks like: the access key and region are read from its credential. */
const AUTHORIZATION = new RegExp('^AWS4-HMAC-SHA256 Credential=([^/\\s,]+)/\\d{8}/([a-z0-9-]+)/cloudtrail/aws4_request, ?'
  + 'SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$');
/** CloudTrail's error shapes are named in this namespace on the wire; the common (service framework) errors in coral's. */
const NS = 'com.amazonaws.cloudtrail.v20131101#';
/** LookupEvents: "limited to two per second, per account, per Region". */
export const LOOKUP_EVENTS_RATE_PER_SECOND = 2;
/** Event history holds the last 90 days. */
export const RETENTION_DAYS = 90;
export const MAX_RESULTS = 50;
const MAX_ATTRIBUTE_VALUE = 2000;
/** Issued page tokens remembered (oldest forgotten first): enough for any test or local session. */
const MAX_TOKENS = 10_000;
const DAY_MS = 24 * 3600 * 1000;

export const LOOKUP_ATTRIBUTE_KEYS = [
  'EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId',
] as const;
export type LookupAttributeKey = typeof LOOKUP_ATTRIBUTE_KEYS[number];

/** An event as LookupEvents answers it (the SDK's `Event`). */
export interface LookupEvent {
  readonly EventId: string;
  readonly EventName: string;
  readonly ReadOnly: 'true' | 'false';
  readonly AccessKeyId?: string;
  readonly EventTime: Date;
  readonly EventSource: string;
  readonly Username?: string;
  readonly Resources?: readonly { readonly ResourceType?: string; readonly ResourceName?: string }[];
  /** The whole CloudTrail record, as a JSON string. */
  readonly CloudTrailEvent: string;
}

/** An event of one account's history in one region. */
export interface StoredEvent {
  readonly account: string;
  readonly region: string;
  readonly event: LookupEvent;
}

/** One call received: what it asked and what it was answered (never a key, token or signature). */
export interface LookupEventsCall {
  /** The operation of the X-Amz-Target header (`LookupEvents`, or another one refused). */
  readonly operation: string;
  account?: string;
  region?: string;
  /** The number of lookup attributes sent, and the first one. */
  attributes?: number;
  attribute?: { readonly key: string; readonly value: string };
  startTime?: Date;
  endTime?: Date;
  eventCategory?: string;
  maxResults?: number;
  /** Whether the call carried a NextToken. */
  nextToken: boolean;
  status?: number;
  /** The error answered (its short name), if any. */
  error?: string;
  /** Events answered. */
  returned?: number;
}

export interface LocalCloudTrailOptions {
  /** Every account's event history (any order). */
  readonly events: readonly StoredEvent[];
  /** The account whose history a caller reads, from the access key it signed with; undefined: the key is unknown (403). */
  readonly accountOf: (accessKeyId: string) => string | undefined;
  /** Calls admitted per account and region in any one-second window. @default 2 (CloudTrail's LookupEvents quota) */
  readonly rateLimitPerSecond?: number;
  /** The time the 90 days of history are counted back from. @default the current time */
  readonly now?: () => Date;
  /**
   * The clock of the rate limit, in milliseconds (only differences are used). Separate from `now` so that a fixed `now`
   * does not throttle forever. @default performance.now
   */
  readonly clock?: () => number;
  readonly port?: number;
  /** One line per refused call (never a secret). */
  readonly log?: (line: string) => void;
}

export interface LocalCloudTrail extends LocalEndpoint {
  /** Every call received, in order, including those refused. */
  readonly calls: LookupEventsCall[];
}

class CallError extends Error {
  constructor(public readonly status: number, public readonly type: string, message: string) {
    super(message);
  }

  /** The name the SDK reads (what follows the namespace). */
  get code(): string {
    return this.type.slice(this.type.indexOf('#') + 1);
  }
}

const invalid = (shape: string, message: string) => new CallError(400, `${NS}${shape}`, message);
const serialization = (message: string) => new CallError(400, 'com.amazon.coral.service#SerializationException', message);

/** Newest first; events of the same time by EventId, so that a page's position is a total order. */
function compareEvents(a: LookupEvent, b: LookupEvent): number {
  const dt = b.EventTime.getTime() - a.EventTime.getTime();
  if (dt !== 0) return dt;
  return a.EventId < b.EventId ? -1 : a.EventId > b.EventId ? 1 : 0;
}

function matches(e: LookupEvent, key: LookupAttributeKey, value: string): boolean {
  switch (key) {
    case 'ResourceType': return (e.Resources ?? []).some((r) => r.ResourceType === value);
    case 'ResourceName': return (e.Resources ?? []).some((r) => r.ResourceName === value);
    default: return e[key] === value;
  }
}

/** The event on the wire: EventTime in epoch seconds, Resources always present as CloudTrail writes it. */
function wireEvent(e: LookupEvent): Record<string, unknown> {
  return {
    EventId: e.EventId,
    EventName: e.EventName,
    ReadOnly: e.ReadOnly,
    ...(e.AccessKeyId !== undefined ? { AccessKeyId: e.AccessKeyId } : {}),
    EventTime: e.EventTime.getTime() / 1000,
    EventSource: e.EventSource,
    ...(e.Username !== undefined ? { Username: e.Username } : {}),
    Resources: (e.Resources ?? []).map((r) => ({
      ...(r.ResourceType !== undefined ? { ResourceType: r.ResourceType } : {}),
      ...(r.ResourceName !== undefined ? { ResourceName: r.ResourceName } : {}),
    })),
    CloudTrailEvent: e.CloudTrailEvent,
  };
}

/** A LookupEvents request, checked as CloudTrail checks it. */
interface Lookup {
  readonly attribute?: { readonly key: LookupAttributeKey; readonly value: string };
  readonly startMs?: number;
  readonly endMs?: number;
  readonly insight: boolean;
  readonly maxResults: number;
  readonly nextToken?: string;
}

const epochSeconds = (v: unknown, name: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw serialization(`${name} must be a timestamp in epoch seconds.`);
  return Math.round(v * 1000);
};

/** Records what a call asked, as far as it can be read (a refused call too). */
function describe(input: any, call: LookupEventsCall): void {
  if (!input || typeof input !== 'object') return;
  call.nextToken = typeof input.NextToken === 'string';
  const attrs = input.LookupAttributes;
  if (Array.isArray(attrs)) {
    call.attributes = attrs.length;
    const first = attrs[0];
    if (first && typeof first === 'object') call.attribute = { key: String(first.AttributeKey), value: String(first.AttributeValue) };
  }
  if (typeof input.StartTime === 'number') call.startTime = new Date(input.StartTime * 1000);
  if (typeof input.EndTime === 'number') call.endTime = new Date(input.EndTime * 1000);
  if (input.EventCategory !== undefined) call.eventCategory = String(input.EventCategory);
  if (typeof input.MaxResults === 'number') call.maxResults = input.MaxResults;
}

function parseLookup(input: any): Lookup {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw serialization('The body is not a JSON object.');
  const attrs = input.LookupAttributes ?? [];
  if (!Array.isArray(attrs)) throw serialization('LookupAttributes must be a list.');
  const first = attrs[0];
  const startMs = epochSeconds(input.StartTime, 'StartTime');
  const endMs = epochSeconds(input.EndTime, 'EndTime');
  if (attrs.length > 1) throw invalid('InvalidLookupAttributesException', 'You can specify only one lookup attribute.');
  let attribute: Lookup['attribute'];
  if (attrs.length === 1) {
    const key = first?.AttributeKey;
    const value = first?.AttributeValue;
    if (!(LOOKUP_ATTRIBUTE_KEYS as readonly unknown[]).includes(key)) {
      throw invalid('InvalidLookupAttributesException', `The lookup attribute key must be one of ${LOOKUP_ATTRIBUTE_KEYS.join(', ')}.`);
    }
    if (typeof value !== 'string' || value.length < 1 || value.length > MAX_ATTRIBUTE_VALUE) {
      throw invalid('InvalidLookupAttributesException', `The lookup attribute value must be 1 to ${MAX_ATTRIBUTE_VALUE} characters.`);
    }
    attribute = { key, value };
  }
  if (startMs !== undefined && endMs !== undefined && startMs > endMs) {
    throw invalid('InvalidTimeRangeException', 'The start time must be before or at the end time.');
  }
  if (input.EventCategory !== undefined && input.EventCategory !== 'insight') {
    throw invalid('InvalidEventCategoryException', 'The event category must be insight.');
  }
  const maxResults = input.MaxResults ?? MAX_RESULTS;
  if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > MAX_RESULTS) {
    throw invalid('InvalidMaxResultsException', `A max results value of ${String(maxResults).slice(0, 20)} is invalid. `
      + `Specify max results between 1 and ${MAX_RESULTS}.`);
  }
  const nextToken = input.NextToken;
  if (nextToken !== undefined && (typeof nextToken !== 'string' || nextToken === '')) {
    throw invalid('InvalidNextTokenException', 'The token is not valid.');
  }
  return { attribute, startMs, endMs, insight: input.EventCategory === 'insight', maxResults, nextToken };
}

/** Where a token resumes: after this event, for exactly these parameters. */
interface Cursor {
  readonly params: string;
  readonly after: LookupEvent;
}

export async function startLocalCloudTrail(options: LocalCloudTrailOptions): Promise<LocalCloudTrail> {
  const calls: LookupEventsCall[] = [];
  const now = options.now ?? (() => new Date());
  const clock = options.clock ?? (() => performance.now());
  const limit = options.rateLimitPerSecond ?? LOOKUP_EVENTS_RATE_PER_SECOND;
  const history = [...options.events].sort((a, b) => compareEvents(a.event, b.event));
  /** Admission times of the last second's calls, by account and region. */
  const admitted = new Map<string, number[]>();
  const tokens = new Map<string, Cursor>();

  const admit = (account: string, region: string) => {
    const key = `${account}/${region}`;
    const t = clock();
    const recent = (admitted.get(key) ?? []).filter((at) => at > t - 1000);
    if (recent.length >= limit) {
      admitted.set(key, recent);
      throw new CallError(400, 'com.amazon.coral.availability#ThrottlingException', 'Rate exceeded');
    }
    recent.push(t);
    admitted.set(key, recent);
  };

  const issueToken = (cursor: Cursor): string => {
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, cursor);
    if (tokens.size > MAX_TOKENS) tokens.delete(tokens.keys().next().value!);
    return token;
  };

  const lookupEvents = (account: string, region: string, input: unknown, call: LookupEventsCall) => {
    const q = parseLookup(input);
    // What a token is bound to: the caller's history and every parameter but the page size, which may change between pages.
    const params = JSON.stringify([account, region, q.attribute?.key, q.attribute?.value, q.startMs, q.endMs, q.insight]);
    let after: LookupEvent | undefined;
    if (q.nextToken !== undefined) {
      const cursor = tokens.get(q.nextToken);
      if (!cursor || cursor.params !== params) {
        throw invalid('InvalidNextTokenException', 'The token is not valid, or was issued for other parameters.');
      }
      after = cursor.after;
    }
    // Only management events are held: Insights events are never found.
    if (q.insight) return { Events: [] };
    const oldest = now().getTime() - RETENTION_DAYS * DAY_MS;
    const found: LookupEvent[] = [];
    let more = false;
    for (const s of history) {
      const e = s.event;
      const t = e.EventTime.getTime();
      if (s.account !== account || s.region !== region || t < oldest) continue;
      if ((q.startMs !== undefined && t < q.startMs) || (q.endMs !== undefined && t > q.endMs)) continue;
      if (q.attribute && !matches(e, q.attribute.key, q.attribute.value)) continue;
      if (after && compareEvents(e, after) <= 0) continue;
      if (found.length === q.maxResults) {
        more = true;
        break;
      }
      found.push(e);
    }
    call.returned = found.length;
    return {
      Events: found.map(wireEvent),
      ...(more ? { NextToken: issueToken({ params, after: found[found.length - 1] }) } : {}),
    };
  };

  /** The call's answer; `input` is the body read as JSON (undefined: none, or not JSON). */
  const answer = (req: http.IncomingMessage, body: Buffer | undefined, input: unknown, call: LookupEventsCall): unknown => {
    if (req.method !== 'POST' || !(LOOKUP_EVENTS_TARGETS as readonly string[]).includes(String(req.headers['x-amz-target']))) {
      throw new CallError(400, 'com.amazon.coral.service#UnknownOperationException', 'Only LookupEvents (POST) is served by the local CloudTrail.');
    }
    const signed = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
    if (!signed || !req.headers['x-amz-date']) {
      throw new CallError(400, 'com.amazon.coral.service#MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    const region = signed[2];
    call.region = region;
    const account = options.accountOf(signed[1]);
    if (!account) {
      throw new CallError(403, 'com.amazon.coral.service#UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    call.account = account;
    admit(account, region);
    if (!body) throw new CallError(413, 'com.amazon.coral.service#RequestEntityTooLarge', 'The request is too large.');
    if (!String(req.headers['content-type'] ?? '').startsWith(CONTENT_TYPE)) {
      throw serialization(`Content-Type must be ${CONTENT_TYPE}.`);
    }
    if (input === undefined) throw serialization('The body is not JSON.');
    return lookupEvents(account, region, input, call);
  };

  const server = await serveLocal(options.port, (req, res, body) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const call: LookupEventsCall = { operation: target.slice(target.lastIndexOf('.') + 1), nextToken: false };
    let input: unknown;
    try {
      input = body ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      input = undefined;
    }
    describe(input, call);
    let status = 200;
    let out: unknown;
    try {
      out = answer(req, body, input, call);
    } catch (err) {
      const e = err instanceof CallError ? err : new CallError(500, 'com.amazon.coral.service#InternalFailure', 'internal error');
      options.log?.(`LookupEvents: ${call.account ?? '-'}/${call.region ?? '-'}: ${e.code}: ${e.message}`);
      status = e.status;
      call.error = e.code;
      out = { __type: e.type, message: e.message };
    }
    call.status = status;
    calls.push(call);
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(out));
  });
  return { ...server, calls };
}

/** A fixture file's entry: `CloudTrailEvent` may be the record itself, `EventTime` an ISO 8601 string. */
type FixtureEntry = { account?: unknown; region?: unknown; event?: Record<string, unknown> };

/**
 * Reads stored events from a JSON file holding an array of `{ account, region, event }`, where `event.CloudTrailEvent`
 * may be an object (stringified here, as LookupEvents answers it) and `event.EventTime` an ISO 8601 string.
 */
export function lookupEventsFromFile(file: string): StoredEvent[] {
  let entries: unknown;
  try {
    entries = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a readable JSON file (${(err as Error).message})`);
  }
  if (!Array.isArray(entries)) throw new Error(`${file}: expected an array of { account, region, event }`);
  return entries.map((raw: FixtureEntry, i) => {
    const where = `${file}: entry ${i}`;
    const e = raw?.event;
    if (typeof raw?.account !== 'string' || !/^\d{12}$/.test(raw.account)) throw new Error(`${where}: account must be 12 digits`);
    if (typeof raw.region !== 'string' || !/^[a-z0-9-]+$/.test(raw.region)) throw new Error(`${where}: region is missing`);
    if (!e || typeof e !== 'object') throw new Error(`${where}: event is missing`);
    for (const k of ['EventId', 'EventName', 'EventSource'] as const) {
      if (typeof e[k] !== 'string' || e[k] === '') throw new Error(`${where}: event.${k} must be a string`);
    }
    if (e.ReadOnly !== 'true' && e.ReadOnly !== 'false') throw new Error(`${where}: event.ReadOnly must be "true" or "false"`);
    const time = new Date(e.EventTime as string);
    if (typeof e.EventTime !== 'string' || Number.isNaN(time.getTime())) throw new Error(`${where}: event.EventTime must be ISO 8601`);
    const record = e.CloudTrailEvent;
    if (record === undefined || record === null) throw new Error(`${where}: event.CloudTrailEvent is missing`);
    if (e.Resources !== undefined && !Array.isArray(e.Resources)) throw new Error(`${where}: event.Resources must be a list`);
    for (const k of ['Username', 'AccessKeyId'] as const) {
      if (e[k] !== undefined && typeof e[k] !== 'string') throw new Error(`${where}: event.${k} must be a string`);
    }
    const event: LookupEvent = {
      EventId: e.EventId as string,
      EventName: e.EventName as string,
      ReadOnly: e.ReadOnly,
      ...(e.AccessKeyId !== undefined ? { AccessKeyId: e.AccessKeyId as string } : {}),
      EventTime: time,
      EventSource: e.EventSource as string,
      ...(e.Username !== undefined ? { Username: e.Username as string } : {}),
      ...(e.Resources !== undefined ? { Resources: e.Resources as LookupEvent['Resources'] } : {}),
      CloudTrailEvent: typeof record === 'string' ? record : JSON.stringify(record),
    };
    return { account: raw.account, region: raw.region, event };
  });
}
