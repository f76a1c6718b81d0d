/**
 * The contract of gated access (approvals, break-glass, access windows) between the construct (src/) and the runtime
 * (lambda/), and the command (cli/). Like contract.ts it imports nothing: every name, limit and rule both sides must agree
 * on is written once, here.
 *
 * The model: an access request is a session item born `pending`; approval turns it `approved` with its window
 * (`expires_at`) fixed then; the requester's next vend activates it (`active`) in the same single conditional write that
 * continues any session; credentials never outlive the window; ending a grant early is a revocation, which the enforcer
 * turns into an IAM deny of the live credentials.
 */

import { arnParts, withoutRolePath } from './principal-patterns';

/** What kind of grant a gated session is (attribute {@link AccessAttr.GRANT_KIND}); absent on a standing session. */
export const GrantKinds = {
  /** Approved by people, or by an auto-approve rule of the profile. */
  APPROVAL: 'approval',
  /** Emergency access without an approver. */
  BREAK_GLASS: 'breakglass',
} as const;
export type GrantKind = (typeof GrantKinds)[keyof typeof GrantKinds];

/** Attributes of a gated session item, besides the session attributes of contract.ts (`Attr`). */
export const AccessAttr = {
  GRANT_KIND: 'grant_kind',
  /** The window's length asked for, seconds (≤ the policy's maximum). */
  REQUESTED_SECONDS: 'requested_seconds',
  /** Scheduled start (ISO), when asked for. */
  NOT_BEFORE: 'not_before',
  REASON: 'request_reason',
  TICKET: 'ticket_id',
  /** Approval deadline (ISO): `(not_before ?? created_at) + pendingTimeout`. */
  REQUEST_EXPIRES_AT: 'request_expires_at',
  /** The requester's person key ({@link personKeyKind}). */
  REQUESTER_PERSON: 'requester_person',
  /** Whether AWS, not the caller, chose the name in the requester's person key. */
  REQUESTER_VERIFIED: 'requester_verified',
  /** Digest of the profile's access policy and role when the request was made: a changed policy makes it stale. */
  POLICY_DIGEST: 'policy_digest',
  APPROVALS_REQUIRED: 'approvals_required',
  APPROVAL_COUNT: 'approval_count',
  /** Map: person hash → `{arn, person, at, comment?}`; `policy` for an auto-approval. */
  APPROVALS: 'approvals',
  APPROVED_AT: 'approved_at',
  /** HMAC of the grant's sealed fields (`k1.<base64url>`): nobody without the vending role's key can mint or widen it. */
  GRANT_MAC: 'grant_mac',
  /** HMAC of the request's fields, set when it is filed: approvals count only for a request the TVM wrote. */
  REQUEST_MAC: 'request_mac',
  /** First vend (ISO): a grant never activated had no credentials, so its end needs no deny. */
  ACTIVATED_AT: 'activated_at',
  DECIDED_BY: 'decided_by',
  DECIDED_AT: 'decided_at',
  DECISION_COMMENT: 'decision_comment',
  /** Why a grant ended early: a {@link RevokedKinds} value. */
  REVOKED_KIND: 'revoked_kind',
  /** `pending` while a break-glass session awaits its review. */
  REVIEW_STATE: 'review_state',
  REVIEW_DUE_AT: 'review_due_at',
  REVIEWED_BY: 'reviewed_by',
  REVIEWED_AT: 'reviewed_at',
  REVIEW_OUTCOME: 'review_outcome',
  REVIEW_NOTE: 'review_note',
} as const;

/** Values of {@link AccessAttr.REVOKED_KIND}. */
export const RevokedKinds = {
  ADMIN: 'admin',
  APPROVAL_WITHDRAWN: 'approval_withdrawn',
  OWNER_ENDED: 'owner_ended',
  ELIGIBILITY_REMOVED: 'eligibility_removed',
  INTEGRITY: 'integrity',
} as const;

/** Values of {@link AccessAttr.REVIEW_OUTCOME}. */
export const ReviewOutcomes = {
  ACCEPTED: 'accepted',
  FLAGGED: 'flagged',
} as const;

/** The value of {@link AccessAttr.REVIEW_STATE} while a review is due. */
export const REVIEW_PENDING = 'pending';

/**
 * The break-glass guard: one control-table item per person and profile, `<prefix><first 32 hex of SHA-256(person \n
 * profile)>`. A break-glass start writes it in the same transaction as the session, so its cooldown and "review before the
 * next use" rules hold under any concurrency; no grant reaches the control table, so no table tooling can reset them.
 */
export const BREAK_GLASS_GUARD_PREFIX = '#sentinel-tvm-bg#';
export const GuardAttr = {
  LAST_INVOKED_AT: 'last_invoked_at',
  LAST_SESSION: 'last_session',
  /** The session id whose review is outstanding; absent when none is. */
  UNREVIEWED: 'unreviewed',
  COUNT: 'count',
} as const;

/**
 * The control-table item holding the random 32-byte key that seals grants (created on first use by the vending function,
 * as the page-token key): no grant of the construct reaches the control table, so a principal that may write sessions
 * (`grantRevokeSessions`, table tooling) cannot read it, and cannot mint or widen a grant.
 */
export const GRANT_KEY_ITEM_ID = '#sentinel-tvm-grant-key';
/** Attribute of {@link GRANT_KEY_ITEM_ID}: the key. */
export const GRANT_KEY_ATTR = 'key';
/** Version prefix of {@link AccessAttr.GRANT_MAC}. */
export const GRANT_MAC_VERSION = 'k1';

/** Identity Center's permission-set roles live under these paths (the second with the Region). */
export const IDENTITY_CENTER_ROLE_PATH_PREFIX = '/aws-reserved/sso.amazonaws.com/';

/** Days of an access window: ISO numbering, 1 = Monday … 7 = Sunday. */
export const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7] as const;

/**
 * A weekly access window in a time zone. `end` before `start` means the window crosses midnight and belongs to the day it
 * starts on. The window is open from the first moment the zone's wall clock reads `start` on one of `days` until the first
 * moment after it that the wall clock reads `end` (a time a daylight-saving jump skips is reached at the jump).
 */
export interface AccessWindowConfig {
  /** IANA time zone, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
  /** ISO weekdays (1 = Monday … 7 = Sunday), ascending, distinct. */
  readonly days: number[];
  /** `HH:MM`, 00:00–23:59. */
  readonly start: string;
  /** `HH:MM`, 00:00–23:59, not `start`. */
  readonly end: string;
}

/** A free-text rule: a justification, or a break-glass reason. */
export interface TextRuleConfig {
  readonly required: boolean;
  readonly minLength: number;
  readonly maxLength: number;
}

/** A ticket rule. No pattern: tickets are not taken. */
export interface TicketRuleConfig {
  readonly required: boolean;
  /** Anchored regular expression (`^…$`) a ticket id must match. */
  readonly pattern?: string;
}

/** An auto-approve rule: requests of these principals within these limits are approved by the policy. */
export interface AutoApproveConfig {
  readonly principals: string[];
  readonly maxSeconds: number;
  /** Auto-approval holds only while one of these windows is open (at the request); empty: always. */
  readonly during: AccessWindowConfig[];
}

/** A profile's approval policy. */
export interface ApprovalConfig {
  /** Principal patterns of the approvers; only verified persons among them may approve. */
  readonly approvers: string[];
  readonly minApprovals: number;
  /** Longest window a request may ask for, seconds. */
  readonly maxSeconds: number;
  /** The window when a request names none, seconds. */
  readonly defaultSeconds: number;
  /** How long a request waits for its approvals, from its (scheduled) start, seconds. */
  readonly pendingTimeoutSeconds: number;
  /** How far ahead a request may schedule its start, seconds; 0: no scheduled start. */
  readonly maxScheduleAheadSeconds: number;
  readonly justification: TextRuleConfig;
  readonly ticket: TicketRuleConfig;
  readonly autoApprove: AutoApproveConfig[];
  /** Who approves, as requesters are told (instead of the approvers' names). */
  readonly approversDescription?: string;
}

/** A profile's break-glass policy. */
export interface BreakGlassConfig {
  /** Principal patterns of who may break glass; only verified persons among them may. */
  readonly principals: string[];
  readonly maxSeconds: number;
  readonly reason: TextRuleConfig;
  readonly ticket: TicketRuleConfig;
  /** The least time between two uses by one person on one profile, seconds; 0: none. */
  readonly cooldownSeconds: number;
  /** A person's next use waits until their previous one is reviewed. */
  readonly requireReviewBeforeNext: boolean;
  readonly reviewWithinSeconds: number;
  /** Principal patterns of the reviewers (verified persons, never the invoker). */
  readonly reviewers: string[];
  /** Break-glass sessions may be used outside the profile's access windows. */
  readonly ignoreAccessWindows: boolean;
}

/** A profile's gates, in its configuration ({@link ProfileConfig.access} of contract.ts). */
export interface AccessPolicyConfig {
  /** Every use of the profile needs an approved grant (or break-glass). */
  readonly approval?: ApprovalConfig;
  readonly breakGlass?: BreakGlassConfig;
  /** Sessions of every kind may be used only while one of these is open. */
  readonly windows?: AccessWindowConfig[];
}

/** Limits of gated access. */
export const AccessLimits = {
  MIN_WINDOW_SECONDS: 15 * 60,
  MAX_APPROVAL_SECONDS: 7 * 24 * 3600,
  DEFAULT_APPROVAL_SECONDS: 3600,
  MAX_BREAK_GLASS_SECONDS: 12 * 3600,
  DEFAULT_BREAK_GLASS_SECONDS: 3600,
  MIN_PENDING_TIMEOUT_SECONDS: 5 * 60,
  MAX_PENDING_TIMEOUT_SECONDS: 7 * 24 * 3600,
  DEFAULT_PENDING_TIMEOUT_SECONDS: 24 * 3600,
  MAX_SCHEDULE_AHEAD_SECONDS: 30 * 24 * 3600,
  MAX_MIN_APPROVALS: 5,
  DEFAULT_REVIEW_WITHIN_SECONDS: 2 * 24 * 3600,
  MIN_REVIEW_WITHIN_SECONDS: 3600,
  MAX_REVIEW_WITHIN_SECONDS: 30 * 24 * 3600,
  MAX_COOLDOWN_SECONDS: 30 * 24 * 3600,
  /** A break-glass reason's default minimum length: it stands in for an approver. */
  DEFAULT_BREAK_GLASS_MIN_REASON: 20,
  MAX_REASON: 512,
  MAX_TICKET: 64,
  MAX_COMMENT: 256,
  MAX_TICKET_PATTERN: 200,
  MAX_DESCRIPTION: 200,
  /**
   * STS stamps `Expiration` from its own clock, after the handler's: credentials of a gated session end this long before
   * the window, so that none outlives it.
   */
  STS_MARGIN_SECONDS: 30,
} as const;

/** HTTP routes of gated access (all AWS_IAM, all behind the identity proof). */
export const AccessRoutes = [
  { method: 'POST', path: '/requests' },
  { method: 'GET', path: '/requests' },
  { method: 'GET', path: '/requests/{id}' },
  { method: 'POST', path: '/requests/{id}/approve' },
  { method: 'POST', path: '/requests/{id}/deny' },
  { method: 'POST', path: '/requests/{id}/cancel' },
  { method: 'POST', path: '/requests/{id}/withdraw' },
  { method: 'POST', path: '/breakglass' },
  { method: 'GET', path: '/reviews' },
  { method: 'POST', path: '/sessions/{id}/review' },
] as const;

/** Fields of the JSON bodies of the access routes. */
export const AccessFields = {
  PROFILE: 'profile',
  DURATION_SECONDS: 'durationSeconds',
  REASON: 'reason',
  TICKET: 'ticket',
  NOT_BEFORE: 'notBefore',
  COMMENT: 'comment',
  /** The request digest the approver was shown ({@link requestDigest}): approving another request is refused. */
  EXPECTED_DIGEST: 'expectedDigest',
  OUTCOME: 'outcome',
  NOTE: 'note',
} as const;

/** How far a person key can be trusted to name a person. */
export const PersonKinds = {
  /** An IAM user, by its unique id: AWS chose it. */
  IAM_USER: 'iam-user',
  /** An Identity Center user, by the user name AWS put in the session name of a proven permission-set role. */
  IDENTITY_CENTER: 'idc',
  /** Any other role session: its name was chosen by whoever assumed the role. */
  ROLE_SESSION: 'role',
  FEDERATED: 'fed',
  ROOT: 'root',
} as const;

/** The kind of a person key (`<kind>:…`). */
export function personKeyKind(personKey: string): string {
  return personKey.slice(0, personKey.indexOf(':'));
}

const HH_MM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** C0 and C1 control characters: refused in every free text of the configuration and of requests. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/** Whether the platform knows the IANA zone (no allow-list: ICU's list misses `UTC` and `Asia/Kolkata`, which work). */
export function isTimeZone(zone: string): boolean {
  if (typeof zone !== 'string' || zone === '' || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with an access window, naming the field; undefined when it is valid. */
export function accessWindowProblem(w: AccessWindowConfig): string | undefined {
  if (!isTimeZone(w.timeZone)) return `timeZone "${String(w.timeZone).slice(0, 64)}" is not an IANA time zone`;
  if (!Array.isArray(w.days) || w.days.length === 0) return 'days: expected at least one weekday';
  if (w.days.some((d) => !WEEKDAYS.includes(d as typeof WEEKDAYS[number]))) return 'days: expected weekdays 1 (Monday) to 7 (Sunday)';
  if (new Set(w.days).size !== w.days.length) return 'days: a weekday is listed twice';
  if (!HH_MM.test(w.start)) return `start "${String(w.start).slice(0, 10)}": expected HH:MM from 00:00 to 23:59`;
  if (!HH_MM.test(w.end)) return `end "${String(w.end).slice(0, 10)}": expected HH:MM from 00:00 to 23:59`;
  if (w.start === w.end) return `start and end are both ${w.start}: a window must have a length`;
  return undefined;
}

/** What is wrong with a ticket pattern; undefined when it is valid: anchored, at most 200 characters, compiles. */
export function ticketPatternProblem(pattern: string): string | undefined {
  if (pattern.length > AccessLimits.MAX_TICKET_PATTERN) return `is ${pattern.length} characters: at most ${AccessLimits.MAX_TICKET_PATTERN}`;
  if (!pattern.startsWith('^') || !pattern.endsWith('$')) return 'must be anchored: start with ^ and end with $';
  try {
    new RegExp(pattern);
  } catch {
    return 'is not a valid regular expression';
  }
  return undefined;
}

const WILDCARD = /[*?]/;
const IDENTITY_CENTER_ROLE = 'AWSReservedSSO_';

/** See {@link personPatternKind}. */
export interface PersonPatternKind {
  readonly kind: 'iamUser' | 'identityCenter' | 'wildAccount' | 'roleSession' | 'other';
  readonly account?: string;
}

/**
 * What a principal pattern of people who approve, break glass or review can name: IAM users, Identity Center users of
 * `account`, a pattern whose partition, service or account is not literal (`wildAccount`), sessions of another role (whose
 * names their callers choose), or something else. Only the first two are persons AWS vouches for.
 */
export function personPatternKind(pattern: string): PersonPatternKind {
  const parts = arnParts(pattern);
  if (!parts) return { kind: 'other' };
  const [, partition, service, , account, resource] = parts;
  if (WILDCARD.test(`${partition}:${service}:${account}`)) return { kind: 'wildAccount' };
  if (service === 'iam' && resource.startsWith('user/')) return { kind: 'iamUser', account };
  if ((service === 'iam' && withoutRolePath(resource).startsWith(`role/${IDENTITY_CENTER_ROLE}`))
    || (service === 'sts' && resource.startsWith(`assumed-role/${IDENTITY_CENTER_ROLE}`))) return { kind: 'identityCenter', account };
  if (resource.startsWith('role/') || resource.startsWith('assumed-role/')) return { kind: 'roleSession', account };
  return { kind: 'other', account };
}

/**
 * How many persons the patterns can ever match (each an IAM user by its literal ARN, or an Identity Center user by the
 * session name Identity Center sets to the user's name); undefined when one pattern can match several.
 */
export function countPersons(patterns: readonly string[]): number | undefined {
  const found = new Set<string>();
  for (const pattern of patterns) {
    const resource = arnParts(pattern)?.[5];
    if (resource === undefined) return undefined;
    if (resource.startsWith('user/') && !WILDCARD.test(pattern)) {
      found.add(`user ${pattern}`);
      continue;
    }
    const session = resource.startsWith(`assumed-role/${IDENTITY_CENTER_ROLE}`) ? resource.split('/')[2] : undefined;
    if (session === undefined || WILDCARD.test(session) || resource.split('/').length !== 3) return undefined;
    found.add(`idc ${session}`);
  }
  return found.size;
}

/**
 * `detail-type` of the events of gated access: on the session events' bus, with their source and envelope, one JSON Schema
 * each (schemas/events/), `detail.version` 1. Put by the events function from the session table's stream, so every event
 * has a write behind it. The session events still come too: `Session Started` when a grant is first used, `Session Revoked`
 * when one is withdrawn, `Session Ended` when an active one's window ends.
 */
export const AccessEventTypes = {
  /** A request was filed and waits for its approvals (created `pending`). */
  ACCESS_REQUESTED: 'Access Requested',
  /** An approval that did not complete the quorum (`pending` → `pending`, the count up by one). */
  ACCESS_APPROVAL_RECORDED: 'Access Approval Recorded',
  /** A request was approved: by its last approver (`pending` → `approved`), or at once by an auto-approve rule. */
  ACCESS_APPROVED: 'Access Approved',
  /** An approver denied a pending request (also a pending request withdrawn). */
  ACCESS_DENIED: 'Access Denied',
  /** The requester cancelled a request, pending or approved and never used. */
  ACCESS_REQUEST_CANCELLED: 'Access Request Cancelled',
  /** A pending request reached its approval deadline (`pending` → `expired`). */
  ACCESS_REQUEST_EXPIRED: 'Access Request Expired',
  /** A grant's first vend (`approved` → `active`): its first credentials are about to be issued. */
  ACCESS_ACTIVATED: 'Access Activated',
  /** A grant's window ended (`active` or `approved` → `expired`): its credentials ended with it. */
  ACCESS_ENDED: 'Access Ended',
  /** A grant ended early (`approved` or `active` → `revoked`, with its `revokedKind`); an active one's credentials are denied. */
  ACCESS_WITHDRAWN: 'Access Withdrawn',
  /** Someone broke glass: a grant without an approver, to be reviewed. */
  BREAK_GLASS_INVOKED: 'Break Glass Invoked',
  /** A break-glass session's review was recorded (its `review_state` removed). */
  BREAK_GLASS_REVIEWED: 'Break Glass Reviewed',
} as const;

/** A grant's window as the access events carry it. Times ISO 8601 (UTC, as stored); empty while not set. */
export interface AccessWindowDetail {
  readonly requestedSeconds: number;
  readonly notBefore: string;
  readonly approvedAt: string;
  readonly expiresAt: string;
  /** The approval deadline; empty for break-glass. */
  readonly requestExpiresAt: string;
}

/** A grant's approvals as the access events carry them. */
export interface AccessApprovalsDetail {
  readonly count: number;
  readonly required: number;
  /** Who approved, in the order they did: principal ARNs, `policy:autoApprove[<i>]` for an auto-approve rule. */
  readonly approvedBy: string[];
}

/**
 * Text for a chat message (AWS Chatbot's custom notifications, `client-markdown`), rendered by the events function so that
 * a rule's input transformer only copies it. Every text someone other than the TVM wrote (reasons, tickets, comments,
 * names, ARNs) is in inline code, at most 300 characters, without control or invisible characters, `<`, `>`, `&`, `[`,
 * `]`, `@`, backticks, quotes or backslashes, and with `://` broken: it can neither become a link or a mention, nor end
 * its code span, nor break a JSON template it is copied into, quoted or not.
 */
export interface AccessDisplay {
  readonly title: string;
  readonly description: string;
  /** What to do next, e.g. the exact command an approver runs. */
  readonly nextSteps: string[];
}

/** Fields every access event's detail has. */
export interface AccessEventDetail {
  readonly version: number;
  readonly tvmName: string;
  /** The request's (and the session's) id. */
  readonly sessionId: string;
  readonly profile: string;
  readonly roleArn: string;
  /** A {@link GrantKinds} value. */
  readonly grantKind: string;
  /** The item's status after the change. */
  readonly status: string;
  /** The requester. */
  readonly principalArn: string;
  readonly user: string;
  /** The requester's person key ({@link personKeyKind}), and whether AWS, not the caller, chose its name. */
  readonly requesterPerson: string;
  readonly requesterVerified: boolean;
  readonly window: AccessWindowDetail;
  /** The requester's justification and ticket; empty when none. */
  readonly reason: string;
  readonly ticket: string;
  readonly approvals: AccessApprovalsDetail;
  /** When the change happened. */
  readonly changedAt: string;
  readonly display: AccessDisplay;
}

/** Detail of `Access Approval Recorded`: who approved, with their comment (empty when none). */
export interface AccessApprovalRecordedDetail extends AccessEventDetail {
  readonly approver: string;
  readonly comment: string;
}

/** Detail of `Access Approved`: the approval that completed it (the rule, for an auto-approval). */
export interface AccessApprovedDetail extends AccessApprovalRecordedDetail {
  readonly autoApproved: boolean;
}

/** Detail of `Access Denied`. */
export interface AccessDeniedDetail extends AccessEventDetail {
  readonly decidedBy: string;
  readonly comment: string;
}

/** Detail of `Access Request Cancelled`. */
export interface AccessRequestCancelledDetail extends AccessEventDetail {
  readonly decidedBy: string;
}

/** Detail of `Access Request Expired`. */
export interface AccessRequestExpiredDetail extends AccessEventDetail {
  readonly endedReason: string;
}

/** Detail of `Access Activated`. */
export interface AccessActivatedDetail extends AccessEventDetail {
  readonly activatedAt: string;
  readonly sourceIdentity: string;
}

/** Detail of `Access Ended`: `activatedAt` is empty for a grant never used. */
export interface AccessEndedDetail extends AccessEventDetail {
  readonly endedReason: string;
  readonly activatedAt: string;
}

/**
 * Detail of `Access Withdrawn`: `revokedKind` is a {@link RevokedKinds} value, empty when the grant was revoked through the
 * session routes (`POST /sessions/{id}/revoke`), which record none; `activatedAt` is empty for a grant never used (no
 * credentials to deny).
 */
export interface AccessWithdrawnDetail extends AccessEventDetail {
  readonly revokedBy: string;
  readonly revokedKind: string;
  readonly comment: string;
  readonly activatedAt: string;
}

/** Detail of `Break Glass Invoked`. */
export interface BreakGlassInvokedDetail extends AccessEventDetail {
  readonly reviewDueAt: string;
}

/** Detail of `Break Glass Reviewed`: `outcome` a {@link ReviewOutcomes} value. */
export interface BreakGlassReviewedDetail extends AccessEventDetail {
  readonly reviewedBy: string;
  readonly outcome: string;
  readonly note: string;
}
