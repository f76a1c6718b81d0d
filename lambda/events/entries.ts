import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { AccessAttr } from '../../src/shared/access';
import {
  Attr, EnforcementMechanisms, Patterns, SessionEvents, SessionEventTypes, Status,
  type RevocationEnforcedDetail, type RevocationEnforcementFailedDetail, type SessionEndedDetail, type SessionRevokedDetail,
  type SessionStartedDetail,
} from '../../src/shared/contract';

/**
 * Session events as PutEvents entries: the pure mapping from a session table stream record (the events function) and the
 * builders of the enforcer's events. Every entry they make satisfies the JSON Schema the package ships for its
 * detail-type (schemas/events/): a change whose item lacks a field the schema requires is skipped and said why, rather
 * than put as an event that consumers validating it would refuse.
 */

export type EventEntry = PutEventsRequestEntry;

/** What the runtime checks of each field, as the schemas do (schemas/events/*.json). */
export const EventPatterns = {
  SESSION_ID: new RegExp(Patterns.SESSION_ID),
  ACCOUNT: /^[0-9]{12}$/,
  ROLE_ARN: /^arn:aws[a-z-]*:iam::[0-9]{12}:role\/[!-~]+$/,
  /** The principals the TVM sees (IAM users and roots, role sessions, federated users). */
  PRINCIPAL_ARN: /^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[!-~]+$/,
  SOURCE_IDENTITY: new RegExp(`^${Patterns.STS_NAME_CHARS}{2,64}$`),
  /** ISO 8601 in UTC, as the runtime stores times (`Date.toISOString()`). */
  TIME: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/,
  /** An error's name or code: never its message. */
  ERROR: /^[A-Za-z][A-Za-z0-9_.]{0,127}$/,
  /** The construct's TVM names. */
  TVM_NAME: /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/,
} as const;

/** The `account` of events about the organization SCP (the other values are 12-digit accounts). */
export const ORGANIZATION_ACCOUNT = 'organization';

/** `Revocation Enforcement Failed` lists at most this many session ids (`truncated` says there were more). */
export const MAX_FAILED_SESSION_IDS = 100;

/** Where the events go: the TVM named on each, and its bus (undefined: the account's default bus). */
export interface EventTarget {
  readonly tvmName: string;
  readonly eventBus?: string;
}

/** A stream record as Lambda delivers it (only what the mapping reads). */
export interface StreamRecordLike {
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly NewImage?: Image;
    readonly OldImage?: Image;
    readonly SequenceNumber?: string;
  };
}
/** An attribute of a stream record's image (what the mapping reads of it). */
export interface AttributeLike {
  readonly S?: string;
  readonly N?: string;
  readonly BOOL?: boolean;
  readonly M?: Image;
}
export type Image = Record<string, AttributeLike | undefined>;

/**
 * What a stream record comes to: one event; nothing (not a session, no status change, a continuation, a TTL removal); or
 * skipped: a transition of a session whose item lacks, or has malformed, fields the event needs (`invalid` names them).
 */
export type SessionChange =
  | { readonly kind: 'event'; readonly sessionId: string; readonly detailType: string; readonly entry: EventEntry }
  | { readonly kind: 'none' }
  | { readonly kind: 'skipped'; readonly sessionId?: string; readonly detailType: string; readonly invalid: string[] };

export const str = (image: Image | undefined, name: string): string | undefined => {
  const value = image?.[name]?.S;
  return typeof value === 'string' ? value : undefined;
};

/** The event of a session table stream record, if it is one: a pure function of the record. */
export function sessionChange(record: StreamRecordLike, target: EventTarget): SessionChange {
  const image = record.dynamodb?.NewImage;
  if ((record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') || !image) return { kind: 'none' };
  const id = str(image, Attr.ID);
  // Configuration, lease and other control items start with `#`: never sessions.
  if (id === undefined || id.startsWith('#')) return { kind: 'none' };
  const status = str(image, Attr.STATUS);
  const before = record.eventName === 'INSERT' ? undefined : str(record.dynamodb?.OldImage, Attr.STATUS);
  if (status === before) return { kind: 'none' };
  if (record.eventName === 'INSERT' && status === Status.ACTIVE) return started(id, image, target);
  // A grant's first vend (approved → active) starts its session: its first credentials are about to be vended, as for an
  // INSERT of a standing session. Its request and approval (INSERT pending or approved) are no session start.
  if (before === Status.APPROVED && status === Status.ACTIVE && str(image, AccessAttr.GRANT_KIND) !== undefined) return started(id, image, target);
  // Revoked: an active session, an ended one whose credentials may live, or a tombstone (an INSERT) for an unrecorded id.
  if (status === Status.REVOKED) return revoked(id, image, target);
  if (record.eventName === 'MODIFY' && before === Status.ACTIVE && status === Status.EXPIRED) return ended(id, image, target);
  return { kind: 'none' };
}

/**
 * Reads the image's attributes into the detail's fields, each checked against its pattern; collects those that fail.
 * `optional`: absent reads as empty, which the schema allows for that field.
 */
function reader(image: Image) {
  const invalid: string[] = [];
  const field = (name: string, pattern?: RegExp, optional = false): string => {
    const value = str(image, name) ?? (optional ? '' : undefined);
    if (value === undefined || (pattern && !(optional && value === '') && !pattern.test(value))) {
      invalid.push(name);
      return '';
    }
    return value;
  };
  return { invalid, field };
}

function started(id: string, image: Image, target: EventTarget): SessionChange {
  const { invalid, field } = reader(image);
  const detail: SessionStartedDetail = {
    ...base(target),
    sessionId: field(Attr.ID, EventPatterns.SESSION_ID),
    user: field(Attr.USER, /./),
    principalArn: field(Attr.PRINCIPAL_ARN, EventPatterns.PRINCIPAL_ARN),
    accountId: field(Attr.ACCOUNT_ID, EventPatterns.ACCOUNT),
    profile: field(Attr.PROFILE, /./),
    roleArn: field(Attr.ROLE_ARN, EventPatterns.ROLE_ARN),
    sourceIdentity: field(Attr.SOURCE_IDENTITY, EventPatterns.SOURCE_IDENTITY),
    startedAt: field(Attr.STARTED_AT, EventPatterns.TIME),
    expiresAt: field(Attr.EXPIRES_AT, EventPatterns.TIME),
  };
  return change(id, SessionEventTypes.SESSION_STARTED, invalid, detail, detail.startedAt, target);
}

function ended(id: string, image: Image, target: EventTarget): SessionChange {
  const { invalid, field } = reader(image);
  const detail: SessionEndedDetail = {
    ...base(target),
    sessionId: field(Attr.ID, EventPatterns.SESSION_ID),
    user: field(Attr.USER, /./),
    principalArn: field(Attr.PRINCIPAL_ARN, EventPatterns.PRINCIPAL_ARN),
    profile: field(Attr.PROFILE, /./),
    roleArn: field(Attr.ROLE_ARN, EventPatterns.ROLE_ARN),
    endedAt: field(Attr.ENDED_AT, EventPatterns.TIME),
    reason: field(Attr.ENDED_REASON, undefined, true),
  };
  return change(id, SessionEventTypes.SESSION_ENDED, invalid, detail, detail.endedAt, target);
}

function revoked(id: string, image: Image, target: EventTarget): SessionChange {
  const { invalid, field } = reader(image);
  const detail: SessionRevokedDetail = {
    ...base(target),
    sessionId: field(Attr.ID, EventPatterns.SESSION_ID),
    // A tombstone's principal is unknown (the session was never recorded): empty, as the schema allows.
    user: field(Attr.USER, undefined, true),
    principalArn: field(Attr.PRINCIPAL_ARN, EventPatterns.PRINCIPAL_ARN, true),
    profile: field(Attr.PROFILE, /./),
    roleArn: field(Attr.ROLE_ARN, EventPatterns.ROLE_ARN),
    revokedAt: field(Attr.REVOKED_AT, EventPatterns.TIME),
    revokedBy: field(Attr.REVOKED_BY, EventPatterns.PRINCIPAL_ARN),
    reason: field(Attr.REVOKED_REASON, undefined, true),
  };
  return change(id, SessionEventTypes.SESSION_REVOKED, invalid, detail, detail.revokedAt, target);
}

function change(id: string, detailType: string, invalid: string[], detail: SessionStartedDetail | SessionEndedDetail | SessionRevokedDetail,
  at: string, target: EventTarget): SessionChange {
  const sessionId = EventPatterns.SESSION_ID.test(id) ? id : undefined;
  if (invalid.length > 0) return { kind: 'skipped', ...(sessionId ? { sessionId } : {}), detailType, invalid };
  return { kind: 'event', sessionId: id, detailType, entry: entryOf(detailType, detail, new Date(at), [detail.roleArn], target) };
}

const base = (target: EventTarget) => ({ version: SessionEvents.VERSION, tvmName: target.tvmName });

/** A PutEvents entry: the contract's source, the detail as JSON, on the target's bus (none named: the default bus). */
export function entryOf(detailType: string, detail: object, time: Date, resources: string[], target: EventTarget): EventEntry {
  return {
    Source: SessionEvents.SOURCE,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    Time: time,
    Resources: resources,
    ...(target.eventBus ? { EventBusName: target.eventBus } : {}),
  };
}

/** A deny the enforcer wrote for a session: the role (or the session's role, for the SCP), and when the write returned. */
export interface EnforcedDeny {
  readonly sessionId: string;
  readonly roleArn: string;
  /** The role's account, or `organization`. */
  readonly account: string;
  readonly mechanism: string;
  /** Epoch milliseconds. */
  readonly revokedAt: number;
  readonly enforcedAt: Date;
}

/** `Revocation Enforced`, or undefined when a field cannot satisfy the schema (another tool's session id, an unknown time). */
export function revocationEnforced(d: EnforcedDeny, target: EventTarget): EventEntry | undefined {
  if (!EventPatterns.SESSION_ID.test(d.sessionId) || !EventPatterns.ROLE_ARN.test(d.roleArn) || !Number.isFinite(d.revokedAt)) return undefined;
  if (!validTarget(d.account, d.mechanism)) return undefined;
  const detail: RevocationEnforcedDetail = {
    ...base(target),
    sessionId: d.sessionId,
    roleArn: d.roleArn,
    account: d.account,
    mechanism: d.mechanism,
    revokedAt: new Date(d.revokedAt).toISOString(),
    enforcedAt: d.enforcedAt.toISOString(),
    delayMs: Math.round(d.enforcedAt.getTime() - d.revokedAt),
  };
  return entryOf(SessionEventTypes.REVOCATION_ENFORCED, detail, d.enforcedAt, [d.roleArn], target);
}

/** A deny the enforcer could not write in a run. */
export interface FailedDeny {
  readonly roleArn: string;
  readonly account: string;
  readonly mechanism: string;
  /** The revoked sessions whose deny should be there (other tools' ids are left out: the event names this TVM's sessions). */
  readonly sessionIds: readonly string[];
  /** The error's name or code. */
  readonly error: string;
  readonly failedAt: Date;
}

/** `Revocation Enforcement Failed`, or undefined when the role cannot be named (not a role ARN). */
export function revocationEnforcementFailed(d: FailedDeny, target: EventTarget): EventEntry | undefined {
  if (!EventPatterns.ROLE_ARN.test(d.roleArn) || !validTarget(d.account, d.mechanism)) return undefined;
  const ids = [...new Set(d.sessionIds.filter((id) => EventPatterns.SESSION_ID.test(id)))].sort();
  const detail: RevocationEnforcementFailedDetail = {
    ...base(target),
    roleArn: d.roleArn,
    account: d.account,
    mechanism: d.mechanism,
    sessionIds: ids.slice(0, MAX_FAILED_SESSION_IDS),
    truncated: ids.length > MAX_FAILED_SESSION_IDS,
    error: EventPatterns.ERROR.test(d.error) ? d.error : 'Error',
    failedAt: d.failedAt.toISOString(),
  };
  return entryOf(SessionEventTypes.REVOCATION_ENFORCEMENT_FAILED, detail, d.failedAt, [d.roleArn], target);
}

/** A role's account with the role-policy mechanism, or `organization` with the SCP's. */
function validTarget(account: string, mechanism: string): boolean {
  if (mechanism === EnforcementMechanisms.ORGANIZATION_SCP) return account === ORGANIZATION_ACCOUNT;
  return mechanism === EnforcementMechanisms.ROLE_POLICY && EventPatterns.ACCOUNT.test(account);
}
