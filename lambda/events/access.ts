import { accessDisplay } from './display';
import {
  entryOf, EventPatterns, sessionChange, str, type EventTarget, type Image, type SessionChange, type StreamRecordLike,
} from './entries';
import {
  AccessAttr, AccessEventTypes, AccessLimits, GrantKinds, REVIEW_PENDING, ReviewOutcomes, RevokedKinds,
  type AccessApprovalsDetail, type AccessEventDetail, type AccessWindowDetail,
} from '../../src/shared/access';
import { Attr, Patterns, SessionEvents, Status } from '../../src/shared/contract';

/**
 * The access events of a stream record: the pure mapping from a change of a gated session item (one with `grant_kind`)
 * to `Access …` and `Break Glass …` events (src/shared/access.ts). As for the session events, an item that lacks a field
 * the event's schema requires, or has a malformed one, is skipped and said why, never put as an event consumers would
 * refuse. Free texts are cut to the API's own limits, so that an item written by someone else cannot make an entry
 * larger than PutEvents takes.
 */

/** Who ends a grant when no person does (a broken seal, eligibility removed): the TVM itself. */
export const TVM_ACTOR = 'sentinel-tvm';

/** Approvals an event names at most (the API allows {@link AccessLimits.MAX_MIN_APPROVALS}). */
const MAX_APPROVERS = 10;
const PROFILE = new RegExp(Patterns.PROFILE);
const KINDS: readonly string[] = Object.values(GrantKinds);
const OUTCOMES: readonly string[] = Object.values(ReviewOutcomes);
const REVOKED_KINDS: readonly string[] = Object.values(RevokedKinds);
/** The grant kinds each event is about: requests and approvals are of approval grants, reviews of break-glass. */
const KINDS_OF: Record<string, readonly string[]> = {
  [AccessEventTypes.ACCESS_REQUESTED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.ACCESS_APPROVAL_RECORDED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.ACCESS_APPROVED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.ACCESS_DENIED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.ACCESS_REQUEST_CANCELLED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.ACCESS_REQUEST_EXPIRED]: [GrantKinds.APPROVAL],
  [AccessEventTypes.BREAK_GLASS_INVOKED]: [GrantKinds.BREAK_GLASS],
  [AccessEventTypes.BREAK_GLASS_REVIEWED]: [GrantKinds.BREAK_GLASS],
};
/** An approval's `arn`: a principal, or an auto-approve rule of the profile's policy. */
const APPROVER = new RegExp(`${EventPatterns.PRINCIPAL_ARN.source}|^policy:autoApprove\\[[0-9]{1,3}\\]$`);

/** Every event of a stream record, access events first: what the events function puts for it. */
export function recordChanges(record: StreamRecordLike, target: EventTarget): SessionChange[] {
  return [...accessChanges(record, target), sessionChange(record, target)].filter((c) => c.kind !== 'none');
}

/** The access events of a stream record: none for anything but a gated session item's transition. */
export function accessChanges(record: StreamRecordLike, target: EventTarget): SessionChange[] {
  const image = record.dynamodb?.NewImage;
  if ((record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') || !image) return [];
  const id = str(image, Attr.ID);
  const kind = str(image, AccessAttr.GRANT_KIND);
  if (id === undefined || id.startsWith('#') || kind === undefined) return [];
  const old = record.eventName === 'MODIFY' ? record.dynamodb?.OldImage : undefined;
  return transitions(record.eventName, old, image, kind).map((type) => build(type, id, old, image, target));
}

/** The access event types of a change of a gated item. */
function transitions(eventName: string, old: Image | undefined, image: Image, kind: string): string[] {
  const status = str(image, Attr.STATUS);
  if (eventName === 'INSERT') {
    if (status === Status.PENDING) return [AccessEventTypes.ACCESS_REQUESTED];
    if (status !== Status.APPROVED) return [];
    return [kind === GrantKinds.BREAK_GLASS ? AccessEventTypes.BREAK_GLASS_INVOKED : AccessEventTypes.ACCESS_APPROVED];
  }
  const before = str(old, Attr.STATUS);
  const types: string[] = [];
  const from = (...statuses: string[]) => before !== undefined && statuses.includes(before);
  if (before === status) {
    // Only an approval changes a pending request and keeps it pending: the count goes up.
    if (status === Status.PENDING && num(image, AccessAttr.APPROVAL_COUNT) > num(old, AccessAttr.APPROVAL_COUNT)) {
      types.push(AccessEventTypes.ACCESS_APPROVAL_RECORDED);
    }
  } else if (status === Status.APPROVED && from(Status.PENDING)) {
    types.push(AccessEventTypes.ACCESS_APPROVED);
  } else if (status === Status.DENIED && from(Status.PENDING)) {
    types.push(AccessEventTypes.ACCESS_DENIED);
  } else if (status === Status.CANCELLED && from(Status.PENDING, Status.APPROVED)) {
    types.push(AccessEventTypes.ACCESS_REQUEST_CANCELLED);
  } else if (status === Status.EXPIRED && from(Status.PENDING)) {
    types.push(AccessEventTypes.ACCESS_REQUEST_EXPIRED);
  } else if (status === Status.ACTIVE && from(Status.APPROVED)) {
    types.push(AccessEventTypes.ACCESS_ACTIVATED);
  } else if (status === Status.EXPIRED && from(Status.APPROVED, Status.ACTIVE)) {
    types.push(AccessEventTypes.ACCESS_ENDED);
  } else if (status === Status.REVOKED && from(Status.PENDING, Status.APPROVED, Status.ACTIVE)) {
    types.push(AccessEventTypes.ACCESS_WITHDRAWN);
  }
  // A review removes the break-glass session's review state and changes nothing else: whatever its status is.
  if (str(old, AccessAttr.REVIEW_STATE) === REVIEW_PENDING && image[AccessAttr.REVIEW_STATE] === undefined) {
    types.push(AccessEventTypes.BREAK_GLASS_REVIEWED);
  }
  return types;
}

/** A number attribute (absent: 0; malformed: NaN, which no check passes). */
function num(image: Image | undefined, name: string): number {
  const value = image?.[name]?.N;
  return value === undefined ? 0 : /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
}

/** Reads the item's attributes into a detail's fields, each checked as its schema does; collects those that fail. */
function reader(image: Image) {
  const invalid: string[] = [];
  const bad = <T>(name: string, empty: T): T => {
    if (!invalid.includes(name)) invalid.push(name);
    return empty;
  };
  /** A string: required when it has a pattern and is not `optional`; absent reads as empty when optional. */
  const text = (name: string, pattern?: RegExp, optional = false): string => {
    const value = str(image, name);
    if (value === undefined) return optional ? '' : bad(name, '');
    return pattern && !pattern.test(value) ? bad(name, '') : value;
  };
  /** A free text, cut to the API's limit for it. */
  const free = (name: string, max: number): string => Array.from(str(image, name) ?? '').slice(0, max).join('');
  const count = (name: string): number => {
    const n = num(image, name);
    return Number.isInteger(n) ? n : bad(name, 0);
  };
  return { invalid, bad, text, free, count };
}

/** The approvals map as a list: the approvers' `arn` and `at`, in the order they approved. */
function approvalsOf(image: Image | undefined): { key: string; arn: string; at: string; comment: string }[] {
  return Object.entries(image?.[AccessAttr.APPROVALS]?.M ?? {}).map(([key, v]) => ({
    key,
    arn: v?.M?.arn?.S ?? '',
    at: v?.M?.at?.S ?? '',
    comment: Array.from(v?.M?.comment?.S ?? '').slice(0, AccessLimits.MAX_COMMENT).join(''),
  })).sort((a, b) => a.at.localeCompare(b.at) || a.arn.localeCompare(b.arn));
}

/** The access event of one transition of a gated item. */
function build(detailType: string, id: string, old: Image | undefined, image: Image, target: EventTarget): SessionChange {
  const r = reader(image);
  const { text, free, count, bad } = r;
  const time = (name: string, optional = true) => text(name, EventPatterns.TIME, optional);
  const list = approvalsOf(image);
  if (list.length > MAX_APPROVERS || list.some((a) => !APPROVER.test(a.arn) || !EventPatterns.TIME.test(a.at))) bad(AccessAttr.APPROVALS, 0);
  const kind = text(AccessAttr.GRANT_KIND);
  if (!(KINDS_OF[detailType] ?? KINDS).includes(kind)) bad(AccessAttr.GRANT_KIND, '');
  const window: AccessWindowDetail = {
    requestedSeconds: count(AccessAttr.REQUESTED_SECONDS),
    notBefore: time(AccessAttr.NOT_BEFORE),
    approvedAt: time(AccessAttr.APPROVED_AT),
    expiresAt: time(Attr.EXPIRES_AT),
    requestExpiresAt: time(AccessAttr.REQUEST_EXPIRES_AT),
  };
  const approvals: AccessApprovalsDetail = {
    count: count(AccessAttr.APPROVAL_COUNT),
    required: count(AccessAttr.APPROVALS_REQUIRED),
    approvedBy: list.slice(0, MAX_APPROVERS).map((a) => a.arn),
  };
  const common: Omit<AccessEventDetail, 'changedAt' | 'display'> = {
    version: SessionEvents.VERSION,
    tvmName: target.tvmName,
    sessionId: text(Attr.ID, EventPatterns.SESSION_ID),
    profile: text(Attr.PROFILE, PROFILE),
    roleArn: text(Attr.ROLE_ARN, EventPatterns.ROLE_ARN),
    grantKind: kind,
    status: text(Attr.STATUS, /./),
    principalArn: text(Attr.PRINCIPAL_ARN, EventPatterns.PRINCIPAL_ARN),
    user: free(Attr.USER, 64),
    requesterPerson: free(AccessAttr.REQUESTER_PERSON, 200),
    requesterVerified: image[AccessAttr.REQUESTER_VERIFIED]?.BOOL === true,
    window,
    reason: free(AccessAttr.REASON, AccessLimits.MAX_REASON),
    ticket: free(AccessAttr.TICKET, AccessLimits.MAX_TICKET),
    approvals,
  };
  const by = (name: string) => text(name, EventPatterns.PRINCIPAL_ARN);
  let changedAt: string;
  let extra: Record<string, unknown> = {};
  switch (detailType) {
    case AccessEventTypes.ACCESS_REQUESTED:
    case AccessEventTypes.BREAK_GLASS_INVOKED:
      changedAt = time(Attr.CREATED_AT, false);
      if (detailType === AccessEventTypes.BREAK_GLASS_INVOKED) extra = { reviewDueAt: time(AccessAttr.REVIEW_DUE_AT) };
      break;
    case AccessEventTypes.ACCESS_APPROVAL_RECORDED:
    case AccessEventTypes.ACCESS_APPROVED: {
      // The approval this write added (an INSERT: the auto-approve rule's); none means nobody approved through the TVM.
      const before = new Set(approvalsOf(old).map((a) => a.key));
      const added = list.filter((a) => !before.has(a.key));
      if (added.length !== 1) bad(AccessAttr.APPROVALS, 0);
      const approval = added[0] ?? { arn: '', at: '', comment: '' };
      const auto = old === undefined;
      changedAt = detailType === AccessEventTypes.ACCESS_APPROVED ? time(AccessAttr.APPROVED_AT, false) : approval.at;
      extra = { approver: approval.arn, comment: approval.comment };
      if (detailType === AccessEventTypes.ACCESS_APPROVED) extra.autoApproved = auto;
      break;
    }
    case AccessEventTypes.ACCESS_DENIED:
    case AccessEventTypes.ACCESS_REQUEST_CANCELLED:
      changedAt = time(AccessAttr.DECIDED_AT, false);
      extra = { decidedBy: by(AccessAttr.DECIDED_BY) };
      if (detailType === AccessEventTypes.ACCESS_DENIED) extra.comment = free(AccessAttr.DECISION_COMMENT, AccessLimits.MAX_COMMENT);
      break;
    case AccessEventTypes.ACCESS_REQUEST_EXPIRED:
      changedAt = time(Attr.ENDED_AT, false);
      extra = { endedReason: free(Attr.ENDED_REASON, 64) };
      break;
    case AccessEventTypes.ACCESS_ACTIVATED:
      changedAt = time(AccessAttr.ACTIVATED_AT, false);
      extra = { activatedAt: changedAt, sourceIdentity: text(Attr.SOURCE_IDENTITY, EventPatterns.SOURCE_IDENTITY) };
      break;
    case AccessEventTypes.ACCESS_ENDED:
      changedAt = time(Attr.ENDED_AT, false);
      extra = { endedReason: free(Attr.ENDED_REASON, 64), activatedAt: time(AccessAttr.ACTIVATED_AT) };
      break;
    case AccessEventTypes.ACCESS_WITHDRAWN: {
      changedAt = time(Attr.REVOKED_AT, false);
      const revokedBy = str(image, Attr.REVOKED_BY) === TVM_ACTOR ? TVM_ACTOR : by(Attr.REVOKED_BY);
      const revokedKind = text(AccessAttr.REVOKED_KIND, undefined, true);
      if (revokedKind !== '' && !REVOKED_KINDS.includes(revokedKind)) bad(AccessAttr.REVOKED_KIND, '');
      extra = {
        revokedBy, revokedKind, comment: free(Attr.REVOKED_REASON, AccessLimits.MAX_COMMENT), activatedAt: time(AccessAttr.ACTIVATED_AT),
      };
      break;
    }
    default: {
      // Break Glass Reviewed.
      changedAt = time(AccessAttr.REVIEWED_AT, false);
      const outcome = text(AccessAttr.REVIEW_OUTCOME);
      if (!OUTCOMES.includes(outcome)) bad(AccessAttr.REVIEW_OUTCOME, '');
      extra = { reviewedBy: by(AccessAttr.REVIEWED_BY), outcome, note: free(AccessAttr.REVIEW_NOTE, AccessLimits.MAX_COMMENT) };
    }
  }
  if (!EventPatterns.TIME.test(changedAt)) bad('changed_at', '');
  const sessionId = EventPatterns.SESSION_ID.test(id) ? id : undefined;
  if (r.invalid.length > 0) return { kind: 'skipped', ...(sessionId ? { sessionId } : {}), detailType, invalid: r.invalid };
  const bare = { ...common, ...extra, changedAt };
  const detail = { ...bare, display: accessDisplay(detailType, bare) };
  return { kind: 'event', sessionId: id, detailType, entry: entryOf(detailType, detail, new Date(changedAt), [common.roleArn], target) };
}
