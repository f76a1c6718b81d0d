// `sentinel-tvm sessions activity <id>`: what a session did, from CloudTrail's LookupEvents (management events, 90 days).
//
// LookupEvents filters on one attribute and knows nothing of SourceIdentity, so the session is followed by its keys:
//  1. the vends: AssumeRole events of the session's role (ResourceName = the role ARN), in the TVM's region, that the
//     TVM made for this session (its tag, or its SourceIdentity, and its RoleSessionName `tvm-<id>-…`) and that
//     succeeded: each gave one access key;
//  2. each key's events (AccessKeyId = the key), in every region asked, in the account of the key's role;
//  3. each successful AssumeRole among them is a chained hop: its new key is followed the same way, in the account of
//     the role it assumed (when that account can be read), and the hop's record in that account is added.
// A key belongs to one set of credentials only, so two sessions of one user on one role, overlapping in time, never
// merge, and a chained hop is found whatever session name it chose. Calls stay within CloudTrail's quota: at most
// `ratePerSecond` calls a second per account and region, and a throttled call is retried after a growing pause.
import type { LookupEventsCommandInput, LookupEventsCommandOutput } from '@aws-sdk/client-cloudtrail';
import { parseSourceIdentity, SESSION_TAG_KEY } from '../src/shared/contract';

/** One LookupEvents call in one account and region (a client of that account's credentials). */
export type LookupEvents = (account: string, region: string, input: LookupEventsCommandInput) => Promise<LookupEventsCommandOutput>;

export interface ActivityQuery {
  readonly sessionId: string;
  /** The session's role (its account is where its credentials act). */
  readonly roleArn: string;
  /** The window: from the session's start to when its last credentials expired (or now). */
  readonly from: Date;
  readonly to: Date;
  /** Where the TVM vends (its STS calls are recorded in its region). */
  readonly tvmRegion: string;
  /** Where the session's calls are looked for. */
  readonly regions: readonly string[];
  /** Whether an account's events can be read (the caller's own, or one whose reader role it may assume). */
  readonly canRead: (account: string) => boolean;
  /** Stop collecting past this many events (the answer says it was cut). */
  readonly maxEvents: number;
  /** Only events before this one (the previous page's last), newest first. */
  readonly before?: ActivityCursor;
}

export interface ActivityCursor {
  readonly time: number;
  readonly account: string;
  readonly eventId: string;
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
  /** The collection stopped at `maxEvents`. */
  readonly truncated: boolean;
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
/** The quota's second, and a tenth more for the calls' uneven delays. */
const PACING_WINDOW_MS = 1100;
/** The two records of a cross-account AssumeRole are this close in time. */
const HOP_RECORD_WINDOW_MS = 60_000;
const ASSUME_CALLS = new Set(['AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity']);
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:.*\/)?[\w+=,.@-]{1,64}$/;
/** A TVM's vending role in a region: `<runtime path><tvmName>-vend-<region>` (its name fixed by the construct). */
const vendRoleOf = (region: string) => new RegExp(`^arn:aws[a-z-]*:iam::\\d{12}:role/sentinel-tvm-runtime/([A-Za-z0-9_-]+)/\\1-vend-${region}$`);

interface Followed {
  readonly key: string;
  readonly account: string;
  readonly hop: number;
  readonly role: string;
  readonly from: number;
  readonly to: number;
}

/** The events of a session, newest first, as described at the top of this file. */
export async function sessionActivity(q: ActivityQuery, o: ActivityOptions): Promise<ActivityResult> {
  const paced = pacedLookup(o);
  const roleAccount = ROLE_ARN.exec(q.roleArn)?.[1];
  if (!roleAccount) throw new Error(`the session's role "${q.roleArn}" is not a role ARN`);
  const to = Math.min(q.to.getTime(), q.before?.time ?? Infinity);
  const events = new Map<string, ActivityEvent>();
  const unread = new Set<string>();
  let truncated = false;
  let mismatched = 0;
  const add = (e: ActivityEvent): boolean => {
    if (q.before && !isBefore(e, q.before)) return true;
    if (events.size >= q.maxEvents) {
      truncated = true;
      return false;
    }
    events.set(`${e.account}/${e.eventId}`, e);
    return true;
  };

  // 1. The vends, in the role's account (which records the TVM's AssumeRole as the caller's account does).
  const vendAccount = q.canRead(roleAccount) ? roleAccount : undefined;
  const followed: Followed[] = [];
  if (!vendAccount) unread.add(roleAccount);
  if (vendAccount) {
    for await (const record of paged(paced, vendAccount, q.tvmRegion, {
      LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: q.roleArn }],
      StartTime: new Date(q.from.getTime() - VEND_SLACK_MS),
      EndTime: new Date(to),
    })) {
      const ct = record.ct;
      if (!ASSUME_CALLS.has(ct.eventName) || ct.errorCode || !isVendOf(ct, q.sessionId, q.tvmRegion)) continue;
      const key = ct.responseElements?.credentials?.accessKeyId;
      if (typeof key !== 'string') continue;
      if (!add(toEvent(record, vendAccount, q.tvmRegion, 'vend', 0))) break;
      followed.push({ key, account: roleAccount, hop: 0, role: q.roleArn, from: record.time, to: expirationOf(ct, record.time) });
    }
  }

  // In vend order (LookupEvents answers newest first).
  followed.sort((x, y) => x.from - y.from);
  // 2 and 3. Each key's events in every region; chained hops add keys as they are found.
  const seenKeys = new Set(followed.map((f) => f.key));
  for (let i = 0; i < followed.length && !truncated; i++) {
    const f = followed[i];
    for (const region of q.regions) {
      for await (const record of paged(paced, f.account, region, {
        LookupAttributes: [{ AttributeKey: 'AccessKeyId', AttributeValue: f.key }],
        StartTime: new Date(f.from),
        EndTime: new Date(Math.min(f.to, to)),
      })) {
        const ct = record.ct;
        const recorded = parseSourceIdentity(ct.userIdentity?.sessionContext?.sourceIdentity);
        if (recorded?.sessionId && recorded.sessionId !== q.sessionId) {
          mismatched++;
          continue;
        }
        const hopRole = ASSUME_CALLS.has(ct.eventName) && !ct.errorCode ? ct.requestParameters?.roleArn : undefined;
        if (!add(toEvent(record, f.account, region, 'call', f.hop, typeof hopRole === 'string' ? hopRole : undefined))) break;
        const next = ct.responseElements?.credentials?.accessKeyId;
        const nextAccount = typeof hopRole === 'string' ? ROLE_ARN.exec(hopRole)?.[1] : undefined;
        if (typeof next !== 'string' || !nextAccount || seenKeys.has(next)) continue;
        seenKeys.add(next);
        if (!q.canRead(nextAccount)) {
          unread.add(nextAccount);
          continue;
        }
        const hop = { key: next, account: nextAccount, hop: f.hop + 1, role: hopRole as string };
        followed.push({ ...hop, from: record.time, to: expirationOf(ct, record.time) });
        // The hop's record in the assumed role's account (its caller there is the other account: no key to look up by).
        if (nextAccount !== f.account) {
          for await (const copy of paged(paced, nextAccount, region, {
            LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: ct.eventName }],
            StartTime: new Date(record.time - HOP_RECORD_WINDOW_MS),
            EndTime: new Date(record.time + HOP_RECORD_WINDOW_MS),
          })) {
            if (copy.ct.requestID !== ct.requestID || copy.ct.eventID === ct.eventID) continue;
            add(toEvent(copy, nextAccount, region, 'hop-record', f.hop + 1, hopRole as string));
          }
        }
      }
    }
  }
  return {
    events: [...events.values()].sort(newestFirst),
    keys: followed.map(({ key, account, hop, role }) => ({ key, account, hop, role })),
    unreadAccounts: [...unread].sort(),
    truncated,
    mismatched,
    calls: paced.calls(),
    throttled: paced.throttled(),
  };
}

/**
 * Whether an AssumeRole is the TVM's vend of this session: made by a TVM's vending role (`/sentinel-tvm-runtime/<name>/
 * <name>-vend-<region>`, which no one else can hold where the guardrail SCP applies), with the session's tag (else its
 * SourceIdentity) and RoleSessionName. Anyone can ask STS for such a session name and tag on a role that trusts them;
 * only the TVM's own calls start the session's keys.
 */
function isVendOf(ct: any, sessionId: string, tvmRegion: string): boolean {
  const issuer = ct.userIdentity?.sessionContext?.sessionIssuer?.arn;
  if (typeof issuer !== 'string' || !vendRoleOf(tvmRegion).test(issuer)) return false;
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

async function* paged(lookup: LookupEvents, account: string, region: string, input: LookupEventsCommandInput): AsyncGenerator<Recorded> {
  let token: string | undefined;
  do {
    const out = await lookup(account, region, { ...input, MaxResults: PAGE, ...(token ? { NextToken: token } : {}) });
    for (const e of out.Events ?? []) {
      let ct: any;
      try {
        ct = JSON.parse(e.CloudTrailEvent ?? '{}');
      } catch {
        continue;
      }
      yield { time: e.EventTime?.getTime() ?? Date.parse(ct.eventTime), ct, eventId: e.EventId ?? ct.eventID };
    }
    token = out.NextToken;
  } while (token);
}

interface Paced extends LookupEvents {
  calls(): number;
  throttled(): number;
}

/** Calls at most `ratePerSecond` a second per account and region, and retries throttled calls after a growing pause. */
function pacedLookup(o: ActivityOptions): Paced {
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
