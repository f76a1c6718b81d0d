// `sentinel-tvm sessions activity <id>`: what a session did, from CloudTrail's LookupEvents (management events, 90 days).
//
// LookupEvents filters on one attribute and knows nothing of SourceIdentity, so the session is followed by its keys:
//  1. the vends: AssumeRole events of the session's role (ResourceName = the role ARN), in the TVM's account and region
//     (where its call is recorded with its identity, whatever the role's account), that the TVM's vending role made for
//     this session (its tag, or its SourceIdentity, and its RoleSessionName `tvm-<id>-…`) and that succeeded: each gave
//     one access key;
//  2. each key's events (AccessKeyId = the key), in every region asked, in the account of the key's role;
//  3. each successful AssumeRole among them is a chained hop: its new key is followed the same way, in the account of
//     the role it assumed (when that account can be read), and the hop's record in that account is added.
// A key belongs to one set of credentials only, so two sessions of one user on one role, overlapping in time, never
// merge, and a chained hop is found whatever session name it chose. Calls stay within CloudTrail's quota: at most
// `ratePerSecond` calls a second per account and region, and a throttled call is retried after a growing pause. A budget
// of calls bounds the whole (anyone may fill the role's history with refused AssumeRoles): pages are read newest first
// across all sources, so a cut answer lists every event after a time it names, and names the sources not read to the end.
// Calls are looked for in the regions asked only: credentials used (or chained through STS) only elsewhere are not found.
import type { LookupEventsCommandInput, LookupEventsCommandOutput } from '@aws-sdk/client-cloudtrail';
import { parseSourceIdentity, SESSION_TAG_KEY } from '../src/shared/contract';

/** One LookupEvents call in one account and region (a client of that account's credentials). */
export type LookupEvents = (account: string, region: string, input: LookupEventsCommandInput) => Promise<LookupEventsCommandOutput>;

export interface ActivityQuery {
  readonly sessionId: string;
  /** The session's role (its account is where its credentials act). */
  readonly roleArn: string;
  /** The TVM's account: its vends are recorded there with the vending role as the caller. */
  readonly tvmAccount: string;
  /** The TVM's name, when known: only its own vending role's calls are vends (else any TVM's in `tvmAccount`). */
  readonly tvmName?: string;
  /** The window: from the session's start to when its last credentials expired (or now). */
  readonly from: Date;
  readonly to: Date;
  /** Where the TVM vends (its STS calls are recorded in its region). */
  readonly tvmRegion: string;
  /** Where the session's calls are looked for. */
  readonly regions: readonly string[];
  /** Whether an account's events can be read (the caller's own, or one whose reader role it may assume). */
  readonly canRead: (account: string) => boolean;
  /** At most this many LookupEvents calls, retries included (the answer says what was not read). */
  readonly maxCalls: number;
  /** Only events before this one (the previous page's last), newest first. */
  readonly before?: ActivityCursor;
}

export interface ActivityCursor {
  readonly time: number;
  readonly account: string;
  readonly eventId: string;
}

/** A source of events not read to the end (the call budget ran out): its events from `unreadFrom` to `unreadTo` are missing. */
export interface IncompleteSource {
  /** The vend lookup, a key's calls, or the record of a hop in the assumed role's account. */
  readonly source: 'vends' | 'key' | 'hop-record';
  readonly account: string;
  readonly region: string;
  readonly key?: string;
  readonly hop: number;
  readonly unreadFrom: Date;
  readonly unreadTo: Date;
}

/** What an event is to the session. */
export type ActivityKind = 'vend' | 'call' | 'hop-record';

export interface ActivityEvent {
  readonly time: Date;
  readonly account: string;
  readonly region: string;
  readonly eventId: string;
  readonly eventSource: string;
  readonly eventName: string;
  readonly kind: ActivityKind;
  /** 0: the session's own credentials; 1: credentials it assumed; 2: assumed by those… */
  readonly hop: number;
  /** Who called: the ARN (a vend: the TVM's role session). */
  readonly caller: string;
  readonly accessKeyId?: string;
  readonly readOnly?: boolean;
  readonly errorCode?: string;
  /** The SourceIdentity CloudTrail recorded for the caller, when it did. */
  readonly sourceIdentity?: string;
  /** A chained hop: the role it assumed. */
  readonly assumedRole?: string;
}

export interface ActivityResult {
  /** Newest first. */
  readonly events: ActivityEvent[];
  /** The keys followed: the session's, then its hops'. */
  readonly keys: { readonly key: string; readonly account: string; readonly hop: number; readonly role: string }[];
  /** Accounts the session's credentials reached that could not be read (their events are missing). */
  readonly unreadAccounts: string[];
  /** Not complete: the call budget ran out before every source was read (`incomplete`). */
  readonly truncated: boolean;
  readonly incomplete: IncompleteSource[];
  /** When truncated: every event after this time is listed; events at or before it may be missing. */
  readonly completeAfter?: Date;
  /** The regions searched: calls elsewhere are not listed. */
  readonly regions: string[];
  /** Events dropped because CloudTrail recorded another session's SourceIdentity for them (never expected). */
  readonly mismatched: number;
  readonly calls: number;
  readonly throttled: number;
}

export interface ActivityOptions {
  readonly lookup: LookupEvents;
  /** @default 2 (CloudTrail's LookupEvents quota per account and region) */
  readonly ratePerSecond?: number;
  /** Retries of a throttled call. @default 5 */
  readonly retries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** LookupEvents answers at most 50 events a call. */
const PAGE = 50;
/** Vends recorded this long before the session's start still count (clocks, and the record's own time). */
const VEND_SLACK_MS = 5 * 60_000;
/** A chained credential's lifetime when its record gives no expiration (STS caps chained sessions at an hour). */
const HOP_LIFETIME_MS = 3600_000;
/** An unread vend may start a key used up to 12 hours later (AssumeRole's longest session), and its hops an hour more. */
const VEND_REVEALS_MS = 12 * 3600_000 + HOP_LIFETIME_MS;
/** The quota's second, and a tenth more for the calls' uneven delays. */
const PACING_WINDOW_MS = 1100;
/** The two records of a cross-account AssumeRole are this close in time. */
const HOP_RECORD_WINDOW_MS = 60_000;
const ASSUME_CALLS = new Set(['AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity']);
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?[\w+=,.@-]{1,64}$/;
const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** As the construct validates `tvmName`. */
const TVM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

/**
 * The TVM's vending role in its region, in its account: `<runtime path><tvmName>-vend-<region>` (its name fixed by the
 * construct); any TVM name when it is not known. Arguments are validated (no regular expression characters).
 */
function vendRoleOf(partition: string, account: string, tvmName: string | undefined, region: string): RegExp {
  const name = tvmName === undefined ? '([A-Za-z0-9][A-Za-z0-9_-]{0,39})' : `(${tvmName})`;
  return new RegExp(`^arn:${partition}:iam::${account}:role/sentinel-tvm-runtime/${name}/\\1-vend-${region}$`);
}

interface Followed {
  readonly key: string;
  readonly account: string;
  readonly hop: number;
  readonly role: string;
  readonly from: number;
  readonly to: number;
}

/** One paged LookupEvents query, read newest first. */
interface Source {
  readonly what: IncompleteSource['source'];
  readonly account: string;
  readonly region: string;
  readonly key?: string;
  readonly hop: number;
  readonly attribute: { AttributeKey: 'AccessKeyId' | 'ResourceName' | 'EventName'; AttributeValue: string };
  readonly start: number;
  readonly end: number;
  /** How much later than its unread pages' events the events they lead to may be (the keys they name). */
  readonly reveals: number;
  readonly onRecord: (record: Recorded) => void;
  /** The oldest time read: its unread events are at or before it. */
  frontier: number;
  token?: string;
}

/** The events of a session, newest first, as described at the top of this file. */
export async function sessionActivity(q: ActivityQuery, o: ActivityOptions): Promise<ActivityResult> {
  const parsedRole = ROLE_ARN.exec(q.roleArn);
  if (!parsedRole) throw new Error(`the session's role "${q.roleArn}" is not a role ARN`);
  const [, partition, roleAccount] = parsedRole;
  if (!ACCOUNT.test(q.tvmAccount)) throw new Error(`the TVM's account "${q.tvmAccount}" is not an account id`);
  if (q.tvmName !== undefined && !TVM_NAME.test(q.tvmName)) throw new Error(`"${q.tvmName}" is not a TVM name`);
  if (!REGION.test(q.tvmRegion)) throw new Error(`"${q.tvmRegion}" is not a region name`);
  const paced = pacedLookup(o, q.maxCalls);
  const vendIssuer = vendRoleOf(partition, q.tvmAccount, q.tvmName, q.tvmRegion);
  const to = Math.min(q.to.getTime(), q.before?.time ?? Infinity);
  const events = new Map<string, ActivityEvent>();
  const unread = new Set<string>();
  const followed: Followed[] = [];
  const seenKeys = new Set<string>();
  const pending: Source[] = [];
  let mismatched = 0;
  const add = (e: ActivityEvent) => {
    if (!q.before || isBefore(e, q.before)) events.set(`${e.account}/${e.eventId}`, e);
  };
  const source = (s: Omit<Source, 'frontier' | 'token'>) => {
    if (s.start <= s.end) pending.push({ ...s, frontier: s.end });
  };

  // A key's events, in every region asked, in the account of its role; chained hops add keys as they are found.
  const follow = (f: Followed) => {
    if (seenKeys.has(f.key)) return;
    seenKeys.add(f.key);
    if (!q.canRead(f.account)) {
      unread.add(f.account);
      return;
    }
    followed.push(f);
    for (const region of q.regions) {
      source({
        what: 'key',
        account: f.account,
        region,
        key: f.key,
        hop: f.hop,
        start: f.from,
        end: Math.min(f.to, to),
        reveals: HOP_LIFETIME_MS,
        attribute: { AttributeKey: 'AccessKeyId', AttributeValue: f.key },
        onRecord: (record) => onCall(f, region, record),
      });
    }
  };
  const onCall = (f: Followed, region: string, record: Recorded) => {
    const ct = record.ct;
    const recorded = parseSourceIdentity(ct.userIdentity?.sessionContext?.sourceIdentity);
    if (recorded?.sessionId && recorded.sessionId !== q.sessionId) {
      mismatched++;
      return;
    }
    const hopRole = ASSUME_CALLS.has(ct.eventName) && !ct.errorCode && typeof ct.requestParameters?.roleArn === 'string'
      ? ct.requestParameters.roleArn as string : undefined;
    add(toEvent(record, f.account, region, 'call', f.hop, hopRole));
    const next = ct.responseElements?.credentials?.accessKeyId;
    const nextAccount = hopRole ? ROLE_ARN.exec(hopRole)?.[2] : undefined;
    if (typeof next !== 'string' || !hopRole || !nextAccount || seenKeys.has(next)) return;
    follow({ key: next, account: nextAccount, hop: f.hop + 1, role: hopRole, from: record.time, to: expirationOf(ct, record.time) });
    // The hop's record in the assumed role's account (its caller there is the other account: no key to look up by).
    if (nextAccount !== f.account && q.canRead(nextAccount)) {
      source({
        what: 'hop-record',
        account: nextAccount,
        region,
        hop: f.hop + 1,
        reveals: 0,
        start: record.time - HOP_RECORD_WINDOW_MS,
        end: record.time + HOP_RECORD_WINDOW_MS,
        attribute: { AttributeKey: 'EventName', AttributeValue: ct.eventName },
        onRecord: (copy) => {
          if (copy.ct.requestID === ct.requestID && copy.ct.eventID !== ct.eventID) {
            add(toEvent(copy, nextAccount, region, 'hop-record', f.hop + 1, hopRole));
          }
        },
      });
    }
  };

  // The vends, in the TVM's account: there its own call is recorded with its identity (the vending role); the copy in a
  // role's other account names only the TVM's account as the caller.
  if (!q.canRead(q.tvmAccount)) {
    unread.add(q.tvmAccount);
  } else {
    source({
      what: 'vends',
      account: q.tvmAccount,
      region: q.tvmRegion,
      hop: 0,
      start: q.from.getTime() - VEND_SLACK_MS,
      end: to,
      reveals: VEND_REVEALS_MS,
      attribute: { AttributeKey: 'ResourceName', AttributeValue: q.roleArn },
      onRecord: (record) => {
        const ct = record.ct;
        // Refused and foreign AssumeRoles of the role are skipped here, without a call more: only the budget bounds their pages.
        if (!ASSUME_CALLS.has(ct.eventName) || ct.errorCode || !isVendOf(ct, q.sessionId, vendIssuer)) return;
        const key = ct.responseElements?.credentials?.accessKeyId;
        if (typeof key !== 'string') return;
        add(toEvent(record, q.tvmAccount, q.tvmRegion, 'vend', 0));
        follow({ key, account: roleAccount, hop: 0, role: q.roleArn, from: record.time, to: expirationOf(ct, record.time) });
      },
    });
  }

  // Newest first across sources: the next page read is always of the source that may still hide the newest event, so
  // that when the budget runs out, everything after the newest time any unread page may hold is listed.
  while (pending.length > 0) {
    const s = pending.reduce((best, x) => (potential(x, to) > potential(best, to) ? x : best));
    let out: LookupEventsCommandOutput;
    try {
      out = await paced(s.account, s.region, {
        LookupAttributes: [s.attribute],
        StartTime: new Date(s.start),
        EndTime: new Date(s.end),
        MaxResults: PAGE,
        ...(s.token ? { NextToken: s.token } : {}),
      });
    } catch (err) {
      if (err instanceof OverBudget) break;
      throw err;
    }
    for (const record of recordsOf(out)) {
      s.frontier = Math.min(s.frontier, record.time);
      s.onRecord(record);
    }
    s.token = out.NextToken;
    if (!s.token) pending.splice(pending.indexOf(s), 1);
  }

  const truncated = pending.length > 0;
  const completeAfter = truncated ? Math.max(...pending.map((s) => potential(s, to))) : undefined;
  return {
    events: [...events.values()].sort(newestFirst),
    keys: [...followed].sort((x, y) => x.hop - y.hop || x.from - y.from).map(({ key, account, hop, role }) => ({ key, account, hop, role })),
    unreadAccounts: [...unread].sort(),
    truncated,
    incomplete: pending.map((s) => ({
      source: s.what,
      account: s.account,
      region: s.region,
      ...(s.key ? { key: s.key } : {}),
      hop: s.hop,
      unreadFrom: new Date(s.start),
      unreadTo: new Date(s.frontier),
    })),
    ...(completeAfter !== undefined ? { completeAfter: new Date(completeAfter) } : {}),
    regions: [...q.regions],
    mismatched,
    calls: paced.calls(),
    throttled: paced.throttled(),
  };
}

/** The newest time of an event a source may still lead to: its unread pages', or those of the keys they may name. */
function potential(s: Source, to: number): number {
  return Math.min(to, s.frontier + s.reveals);
}

/**
 * Whether an AssumeRole is the TVM's vend of this session: made by the TVM's vending role, in the TVM's account
 * (`/sentinel-tvm-runtime/<name>/<name>-vend-<region>`, which no one else can hold where the guardrail SCP applies; the
 * name pinned when known: another TVM's, or a look-alike, is not this one), with the session's tag (else its
 * SourceIdentity) and RoleSessionName. Anyone can ask STS for such a session name and tag on a role that trusts them;
 * only the TVM's own calls start the session's keys.
 */
function isVendOf(ct: any, sessionId: string, vendIssuer: RegExp): boolean {
  const issuer = ct.userIdentity?.sessionContext?.sessionIssuer?.arn;
  if (typeof issuer !== 'string' || !vendIssuer.test(issuer)) return false;
  const p = ct.requestParameters ?? {};
  if (typeof p.roleSessionName !== 'string' || !p.roleSessionName.startsWith(`tvm-${sessionId}-`)) return false;
  const tags: unknown[] = Array.isArray(p.tags) ? p.tags : [];
  const tagged = tags.some((t: any) => (t?.key ?? t?.Key) === SESSION_TAG_KEY && (t?.value ?? t?.Value) === sessionId);
  return tagged || parseSourceIdentity(p.sourceIdentity)?.sessionId === sessionId;
}

/** When the credentials an AssumeRole gave expire (`responseElements.credentials.expiration`), else an hour later. */
function expirationOf(ct: any, at: number): number {
  const parsed = Date.parse(ct.responseElements?.credentials?.expiration ?? '');
  return Number.isFinite(parsed) && parsed > at ? parsed : at + HOP_LIFETIME_MS;
}

interface Recorded {
  readonly time: number;
  readonly ct: any;
  readonly eventId: string;
}

function toEvent(r: Recorded, account: string, region: string, kind: ActivityKind, hop: number, assumedRole?: string): ActivityEvent {
  const ct = r.ct;
  const identity = ct.userIdentity ?? {};
  return {
    time: new Date(r.time),
    account,
    region: typeof ct.awsRegion === 'string' ? ct.awsRegion : region,
    eventId: r.eventId,
    eventSource: String(ct.eventSource ?? ''),
    eventName: String(ct.eventName ?? ''),
    kind,
    hop,
    caller: String(identity.arn ?? identity.principalId ?? identity.type ?? ''),
    ...(typeof identity.accessKeyId === 'string' && identity.accessKeyId ? { accessKeyId: identity.accessKeyId } : {}),
    ...(typeof ct.readOnly === 'boolean' ? { readOnly: ct.readOnly } : {}),
    ...(typeof ct.errorCode === 'string' ? { errorCode: ct.errorCode } : {}),
    ...(typeof identity.sessionContext?.sourceIdentity === 'string' ? { sourceIdentity: identity.sessionContext.sourceIdentity } : {}),
    ...(assumedRole ? { assumedRole } : {}),
  };
}

/** Newest first; ties by account and event id, so that pages never repeat or skip an event. */
export function newestFirst(a: ActivityEvent, b: ActivityEvent): number {
  return b.time.getTime() - a.time.getTime() || a.account.localeCompare(b.account) || a.eventId.localeCompare(b.eventId);
}

function isBefore(e: ActivityEvent, cursor: ActivityCursor): boolean {
  return newestFirst({ ...e }, { ...e, time: new Date(cursor.time), account: cursor.account, eventId: cursor.eventId }) > 0;
}

/** The cursor of the page after `e`: `<epoch ms>.<account>.<event id>`, printable. */
export function cursorAfter(e: ActivityEvent): string {
  return `${e.time.getTime()}.${e.account}.${e.eventId}`;
}

export function parseCursor(value: string): ActivityCursor | undefined {
  const m = /^(\d{1,15})\.(\d{12})\.([\w-]{1,128})$/.exec(value);
  return m ? { time: Number(m[1]), account: m[2], eventId: m[3] } : undefined;
}

function* recordsOf(out: LookupEventsCommandOutput): Generator<Recorded> {
  for (const e of out.Events ?? []) {
    let ct: any;
    try {
      ct = JSON.parse(e.CloudTrailEvent ?? '{}');
    } catch {
      continue;
    }
    yield { time: e.EventTime?.getTime() ?? Date.parse(ct.eventTime), ct, eventId: e.EventId ?? ct.eventID };
  }
}

interface Paced extends LookupEvents {
  calls(): number;
  throttled(): number;
}

/** The call budget is spent: the call was not made. */
class OverBudget extends Error {}

/**
 * Calls at most `ratePerSecond` a second per account and region, retries throttled calls after a growing pause, and makes
 * no call (retries included) past `budget`.
 */
function pacedLookup(o: ActivityOptions, budget: number): Paced {
  const rate = o.ratePerSecond ?? 2;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const last = new Map<string, number[]>();
  let calls = 0;
  let throttled = 0;
  const wait = async (slot: string) => {
    const times = last.get(slot) ?? [];
    // No more than `rate` calls in any second: wait until the oldest of the last `rate` is a second old, and a margin
    // more (calls do not reach CloudTrail with the same delay they leave with).
    if (times.length >= rate) {
      const pause = times[times.length - rate] + PACING_WINDOW_MS - now();
      if (pause > 0) await sleep(pause);
    }
    times.push(now());
    last.set(slot, times.slice(-rate));
  };
  const fn = (async (account, region, input) => {
    for (let attempt = 0; ; attempt++) {
      if (calls >= budget) throw new OverBudget();
      await wait(`${account}/${region}`);
      calls++;
      try {
        return await o.lookup(account, region, input);
      } catch (err) {
        const name = (err as Error)?.name;
        if ((name !== 'ThrottlingException' && name !== 'TooManyRequestsException') || attempt >= (o.retries ?? 5)) throw err;
        throttled++;
        await sleep(Math.min(8000, 500 * 2 ** attempt));
      }
    }
  }) as Paced;
  fn.calls = () => calls;
  fn.throttled = () => throttled;
  return fn;
}
