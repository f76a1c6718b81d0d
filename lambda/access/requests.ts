import { createHash } from 'crypto';
import { GrantStore, guardId, type Item, type WriteResult } from './grants';
import { personHash, type Person } from './person';
import {
  accessOf, body, comment, matches, outsideWindow, text, ticket, type CompiledAccess,
} from './policy';
import {
  approvalSealOf, approvalsHold, policyDigest, requestDigest, requestSealHolds, requestSealOf, sealOf,
} from './seal';
import { accessWindowState } from './windows';
import {
  AccessAttr, AccessFields, AccessLimits, GrantKinds, REVIEW_PENDING, ReviewOutcomes, RevokedKinds,
} from '../../src/shared/access';
import { Attr, Indexes, Patterns, SourceIdentityKinds, Status, formatSourceIdentity } from '../../src/shared/contract';
import { ApiError } from '../errors';
import type { Caller } from '../identity';
import type { Profile, TvmConfig } from '../profiles';
import { blockId, StoreError } from '../sessions/store';

/** What the access routes need, injected like the vend context. */
export interface AccessContext {
  readonly grants: GrantStore;
  readonly config: () => Promise<TvmConfig>;
  readonly now: () => Date;
  readonly newSessionId: () => string;
  readonly personOf: (caller: Caller) => Promise<Person>;
  readonly grantKey: () => Promise<Buffer>;
  readonly retentionSeconds: number;
  readonly serverInstanceId: string;
}

/** Facts for the decision log. */
export interface AccessFacts {
  profile?: string;
  sessionId?: string;
  action?: string;
  grantKind?: string;
  /** The caller's person key: who, as far as AWS shows it (never a secret). */
  person?: string;
  personVerified?: boolean;
  approvalCount?: number;
  /** A request or approval whose seal did not hold: written by someone else than the TVM (alarmed). */
  integrityFailure?: boolean;
}

const PROFILE = new RegExp(Patterns.PROFILE);
const SESSION_ID = new RegExp(Patterns.SESSION_ID);
const USER_INDEX = Indexes.find((i) => i.partitionKey === Attr.USER)!.name;
const STATUS_INDEX = Indexes.find((i) => i.partitionKey === Attr.STATUS)!.name;
const REVIEW_INDEX = Indexes.find((i) => i.partitionKey === AccessAttr.REVIEW_STATE)?.name;
const iso = (d: Date) => d.toISOString();
const S = (value: string) => ({ S: value });
const N = (value: number) => ({ N: String(value) });
const UNAVAILABLE = () => new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.');
const NOT_FOUND = () => new ApiError('REQUEST_NOT_FOUND', 'No such request, or you may not see it.');
/** A request's approval write is retried this many times when another approval lands in between. */
const APPROVE_TRIES = 3;

async function stored<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof StoreError) throw UNAVAILABLE();
    throw err;
  }
}

function requestId(raw: string): string {
  if (!SESSION_ID.test(raw)) throw new ApiError('INVALID_SESSION_ID', 'The request id must be 16 lowercase hexadecimal characters.');
  return raw;
}

function profileName(value: unknown): string {
  if (typeof value !== 'string' || !PROFILE.test(value)) throw new ApiError('INVALID_PROFILE', `The profile name must match ${Patterns.PROFILE}.`);
  return value;
}

/** A window length asked for: whole seconds from 15 minutes to the policy's maximum, or the default. */
function windowSeconds(value: unknown, max: number, fallback: number): number {
  if (value === undefined || value === null) return Math.min(fallback, max);
  if (!Number.isInteger(value) || (value as number) < AccessLimits.MIN_WINDOW_SECONDS || (value as number) > max) {
    throw new ApiError('INVALID_DURATION', `durationSeconds must be whole seconds from ${AccessLimits.MIN_WINDOW_SECONDS} to ${max} for this profile.`);
  }
  return value as number;
}

/** The guard's key for a person on a profile: first 32 hex of SHA-256 of both. */
function guardHash(person: string, profile: string): string {
  return createHash('sha256').update(`${person}\n${profile}`, 'utf8').digest('hex').slice(0, 32);
}

/** The caller's person, recorded in the facts. */
async function personOf(ctx: AccessContext, caller: Caller, facts: AccessFacts): Promise<Person> {
  const person = await ctx.personOf(caller);
  facts.person = person.key;
  facts.personVerified = person.verified;
  return person;
}

function sourceIdentity(id: string, kind: string, caller: Caller): string {
  return formatSourceIdentity(id, kind === GrantKinds.BREAK_GLASS ? SourceIdentityKinds.BREAK_GLASS : SourceIdentityKinds.APPROVED, caller.user);
}

/** The attributes every gated session is born with. */
function baseItem(ctx: AccessContext, caller: Caller, person: Person, profile: Profile, id: string, kind: string, now: Date,
  ttlFrom: Date): Item {
  const item: Item = {
    [Attr.ID]: S(id),
    [Attr.USER]: S(caller.user),
    [Attr.PRINCIPAL_ARN]: S(caller.arn),
    [Attr.ACCOUNT_ID]: S(caller.accountId),
    [Attr.PROFILE]: S(profile.name),
    [Attr.ROLE_ARN]: S(profile.roleArn),
    [Attr.CREATED_AT]: S(iso(now)),
    [Attr.UPDATED_AT]: S(iso(now)),
    [Attr.REQUEST_COUNT]: N(0),
    [Attr.SOURCE_IDENTITY]: S(sourceIdentity(id, kind, caller)),
    [Attr.SERVER_INSTANCE_ID]: S(ctx.serverInstanceId),
    [Attr.TTL]: N(Math.floor(ttlFrom.getTime() / 1000) + ctx.retentionSeconds),
    [AccessAttr.GRANT_KIND]: S(kind),
    [AccessAttr.REQUESTER_PERSON]: S(person.key),
    [AccessAttr.REQUESTER_VERIFIED]: { BOOL: person.verified },
    [AccessAttr.POLICY_DIGEST]: S(policyDigest(profile)),
    [AccessAttr.APPROVAL_COUNT]: N(0),
    [AccessAttr.APPROVALS]: { M: {} },
  };
  if (caller.principalId) item[Attr.PRINCIPAL_ID] = S(caller.principalId);
  return item;
}

/** A request or grant as the API shows it: the record (no secret is in it), approvals as a list, and its digest. */
export function requestView(item: Item, now: Date): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(item)) {
    if (name === AccessAttr.APPROVALS || name === AccessAttr.GRANT_MAC || name === Attr.TTL) continue;
    if (v.S !== undefined) view[name] = v.S;
    else if (v.N !== undefined) view[name] = Number(v.N);
    else if (v.BOOL !== undefined) view[name] = v.BOOL;
  }
  view.approvals = Object.values(item[AccessAttr.APPROVALS]?.M ?? {}).map((a) => ({
    arn: a.M?.arn?.S, at: a.M?.at?.S, ...(a.M?.comment?.S ? { comment: a.M.comment.S } : {}), ...(a.M?.policy?.S ? { policy: a.M.policy.S } : {}),
  }));
  view.effective_status = effectiveStatus(item, now);
  view.digest = requestDigest(item);
  return view;
}

/** The status a reader should go by: a pending request past its deadline, or a grant past its window, has ended. */
export function effectiveStatus(item: Item, now: Date): string {
  const status = item[Attr.STATUS]?.S ?? '';
  const t = iso(now);
  if (status === Status.PENDING && (item[AccessAttr.REQUEST_EXPIRES_AT]?.S ?? '') <= t) return Status.EXPIRED;
  if ((status === Status.APPROVED || status === Status.ACTIVE) && (item[Attr.EXPIRES_AT]?.S ?? '') <= t) return Status.EXPIRED;
  return status;
}

/** The policy of a gated profile the caller may use, or the same refusal as an unknown profile. */
async function gatedProfile(ctx: AccessContext, name: string): Promise<{ profile: Profile; access: CompiledAccess } | undefined> {
  const profile = (await ctx.config()).profiles.get(name);
  const access = profile && accessOf(profile);
  return profile && access ? { profile, access } : undefined;
}

/** POST /requests: a request for access to a gated profile, pending its approvals or approved by an auto-approve rule. */
export async function createRequest(ctx: AccessContext, caller: Caller, raw: string | undefined, facts: AccessFacts) {
  facts.action = 'request';
  const b = body(raw, [AccessFields.PROFILE, AccessFields.DURATION_SECONDS, AccessFields.REASON, AccessFields.TICKET, AccessFields.NOT_BEFORE]);
  const name = profileName(b[AccessFields.PROFILE]);
  facts.profile = name;
  const found = await gatedProfile(ctx, name);
  if (!found || !matches(found.profile.matcher, caller)) throw new ApiError('POLICY_DENY', 'You are not allowed to use this profile.');
  const approval = found.access.policy.approval;
  if (!approval) throw new ApiError('APPROVAL_NOT_REQUIRED', 'This profile needs no approval: ask for credentials directly.');
  const seconds = windowSeconds(b[AccessFields.DURATION_SECONDS], approval.maxSeconds, approval.defaultSeconds);
  const reason = text(b[AccessFields.REASON], approval.justification, 'reason', 'REASON_REQUIRED');
  const ticketId = ticket(b[AccessFields.TICKET], approval.ticket);
  const now = ctx.now();
  const notBefore = startOf(b[AccessFields.NOT_BEFORE], now, approval.maxScheduleAheadSeconds);
  const person = await personOf(ctx, caller, facts);
  if (await stored(() => ctx.grants.blocked(caller.arn, now))) throw blockedError();

  const start = notBefore ?? now;
  const deadline = new Date(start.getTime() + approval.pendingTimeoutSeconds * 1000);
  // No open request can have been created before this.
  const since = new Date(now.getTime() - (approval.pendingTimeoutSeconds + approval.maxScheduleAheadSeconds) * 1000);
  const open = await stored(() => ctx.grants.openRequest(caller.user, person.key, name, since, USER_INDEX));
  if (open) {
    throw new ApiError('REQUEST_EXISTS', `You have an open request for this profile: ${open}. Cancel it, or wait for its decision.`);
  }

  // Auto-approval is for verified persons only (as synth requires of its patterns), for a window that starts now (its
  // `during` hours are checked now), within the rule's own maximum.
  const auto = !person.verified || notBefore ? -1 : approval.autoApprove.findIndex((rule, i) => matches(found.access.autoApprove[i], caller)
    && seconds <= rule.maxSeconds && (rule.during.length === 0 || accessWindowState(rule.during, now)?.open === true));
  const windowEnd = new Date(start.getTime() + seconds * 1000);
  const item = (id: string): Item => {
    const it = baseItem(ctx, caller, person, found.profile, id, GrantKinds.APPROVAL, now,
      new Date(Math.max(deadline.getTime(), windowEnd.getTime())));
    it[Attr.STATUS] = S(Status.PENDING);
    it[AccessAttr.REQUESTED_SECONDS] = N(seconds);
    it[AccessAttr.REQUEST_EXPIRES_AT] = S(iso(deadline));
    it[AccessAttr.APPROVALS_REQUIRED] = N(approval.minApprovals);
    if (notBefore) it[AccessAttr.NOT_BEFORE] = S(iso(notBefore));
    if (reason !== undefined) it[AccessAttr.REASON] = S(reason);
    if (ticketId !== undefined) it[AccessAttr.TICKET] = S(ticketId);
    return it;
  };
  let id = ctx.newSessionId();
  let it = item(id);
  const key = await stored(() => ctx.grantKey());
  for (let attempt = 0; ; attempt++) {
    it[AccessAttr.REQUEST_MAC] = S(requestSealOf(key, it));
    if (auto >= 0) {
      it[Attr.STATUS] = S(Status.APPROVED);
      it[AccessAttr.APPROVED_AT] = S(iso(now));
      it[Attr.EXPIRES_AT] = S(iso(windowEnd));
      it[AccessAttr.APPROVALS] = { M: { policy: { M: { arn: S(`policy:autoApprove[${auto}]`), at: S(iso(now)), policy: S(`autoApprove[${auto}]`) } } } };
      it[AccessAttr.GRANT_MAC] = S(sealOf(key, it));
    }
    if (await stored(() => ctx.grants.create(it))) break;
    if (attempt >= 2) throw new ApiError('INTERNAL_ERROR', 'An internal error occurred.', {}, 'request id collided 3 times');
    id = ctx.newSessionId();
    it = item(id);
  }
  facts.sessionId = id;
  facts.grantKind = GrantKinds.APPROVAL;
  return { Request: requestView(it, now) };
}

/** `notBefore`: an ISO time within the policy's schedule-ahead limit; a time already past means now. */
function startOf(value: unknown, now: Date, aheadSeconds: number): Date | undefined {
  if (value === undefined || value === null) return undefined;
  if (aheadSeconds === 0) throw new ApiError('INVALID_START', 'This profile takes no scheduled start.');
  const t = typeof value === 'string' && value.length <= 40 ? new Date(value) : new Date(NaN);
  if (Number.isNaN(t.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(String(value))) {
    throw new ApiError('INVALID_START', 'notBefore must be an ISO 8601 time, e.g. 2026-12-01T09:00:00Z.');
  }
  if (t.getTime() > now.getTime() + aheadSeconds * 1000) {
    throw new ApiError('INVALID_START', `notBefore may be at most ${Math.floor(aheadSeconds / 3600)} hours ahead.`);
  }
  return t.getTime() <= now.getTime() ? undefined : t;
}

/** Who the caller is to a request: its requester, an eligible approver, an administrator, or nobody who may see it. */
async function roleIn(ctx: AccessContext, caller: Caller, item: Item) {
  const config = await ctx.config();
  const profile = config.profiles.get(item[Attr.PROFILE]?.S ?? '');
  const access = profile && accessOf(profile);
  const kind = item[AccessAttr.GRANT_KIND]?.S;
  return {
    profile,
    access,
    requester: item[Attr.PRINCIPAL_ARN]?.S === caller.arn,
    approver: !!access && kind === GrantKinds.APPROVAL && matches(access.approvers, caller),
    reviewer: !!access && kind === GrantKinds.BREAK_GLASS && matches(access.reviewers, caller),
    admin: config.isAdmin(caller),
  };
}

/** GET /requests/{id}: its requester, its eligible approvers or reviewers, administrators. */
export async function getRequest(ctx: AccessContext, caller: Caller, rawId: string, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  const item = await stored(() => ctx.grants.get(id));
  if (!item || !item[AccessAttr.GRANT_KIND]) throw NOT_FOUND();
  const r = await roleIn(ctx, caller, item);
  if (!r.requester && !r.approver && !r.reviewer && !r.admin) throw NOT_FOUND();
  // An approver or reviewer reads requests (reasons, tickets) as a verified person only, as they decide on them.
  if (!r.requester && !r.admin && !(await personOf(ctx, caller, facts)).verified) throw NOT_FOUND();
  return { Request: requestView(item, ctx.now()) };
}

const LIST_PARAMS = new Set(['scope', 'profile', 'status', 'limit']);

/**
 * GET /requests?scope=mine|approvable: the caller's own requests and grants (`mine`, the default), or the pending requests
 * the caller may approve, their own left out (`approvable`). Newest first, at most `limit` (50).
 */
export async function listRequests(ctx: AccessContext, caller: Caller, query: Record<string, string | undefined>, facts: AccessFacts) {
  for (const k of Object.keys(query)) {
    if (!LIST_PARAMS.has(k)) throw new ApiError('INVALID_REQUEST', 'Unknown query parameter: expected scope, profile, status, limit.');
  }
  const scope = query.scope ?? 'mine';
  if (scope !== 'mine' && scope !== 'approvable') throw new ApiError('INVALID_REQUEST', 'scope must be mine or approvable.');
  if (query.profile !== undefined) profileName(query.profile);
  if (query.status !== undefined && !(Object.values(Status) as string[]).includes(query.status)) {
    throw new ApiError('INVALID_REQUEST', `status must be one of ${Object.values(Status).join(', ')}.`);
  }
  const limit = query.limit === undefined ? 50 : /^[0-9]{1,3}$/.test(query.limit) ? Number(query.limit) : NaN;
  if (!(limit >= 1 && limit <= 100)) throw new ApiError('INVALID_REQUEST', 'limit must be 1 to 100.');
  facts.action = `list-${scope}`;
  const now = ctx.now();
  const out: Item[] = [];
  if (scope === 'mine') {
    const names: Record<string, string> = { '#owner': Attr.PRINCIPAL_ARN, '#kind': AccessAttr.GRANT_KIND };
    const values: Item = { ':owner': S(caller.arn) };
    let filter = '#owner = :owner AND attribute_exists(#kind)';
    if (query.profile) {
      names['#profile'] = Attr.PROFILE;
      values[':profile'] = S(query.profile);
      filter += ' AND #profile = :profile';
    }
    if (query.status) {
      names['#status'] = Attr.STATUS;
      values[':status'] = S(query.status);
      filter += ' AND #status = :status';
    }
    await pages(ctx, USER_INDEX, caller.user, filter, names, values, limit, out, () => true);
  } else {
    const person = await personOf(ctx, caller, facts);
    if (!person.verified) return { Requests: [] };
    const config = await ctx.config();
    const mayApprove = (item: Item) => {
      const profile = config.profiles.get(item[Attr.PROFILE]?.S ?? '');
      const access = profile && accessOf(profile);
      return !!access && matches(access.approvers, caller) && item[AccessAttr.REQUESTER_PERSON]?.S !== person.key
        && (query.profile === undefined || item[Attr.PROFILE]?.S === query.profile) && effectiveStatus(item, now) === Status.PENDING;
    };
    await pages(ctx, STATUS_INDEX, Status.PENDING, '#kind = :approval', { '#kind': AccessAttr.GRANT_KIND },
      { ':approval': S(GrantKinds.APPROVAL) }, limit, out, mayApprove);
  }
  return { Requests: out.map((item) => requestView(item, now)) };
}

/** Reads up to five index pages, keeping the items `keep` accepts, until `limit` are kept. */
async function pages(ctx: AccessContext, index: string, key: string, filter: string | undefined, names: Record<string, string>, values: Item,
  limit: number, out: Item[], keep: (item: Item) => boolean): Promise<void> {
  const keyName = index === USER_INDEX ? Attr.USER : index === STATUS_INDEX ? Attr.STATUS : AccessAttr.REVIEW_STATE;
  let startKey: Item | undefined;
  for (let page = 0; page < 5 && out.length < limit; page++) {
    const p = await stored(() => ctx.grants.page(index, { name: keyName, value: key }, filter, names, values, 100, startKey));
    for (const item of p.items) if (out.length < limit && keep(item)) out.push(item);
    startKey = p.lastKey;
    if (!startKey) return;
  }
}

/** The approver's checks that need no write: a verified person, eligible, not the requester. */
async function approverOf(ctx: AccessContext, caller: Caller, item: Item, facts: AccessFacts) {
  const r = await roleIn(ctx, caller, item);
  if (!r.approver) {
    if (r.requester || r.admin) throw new ApiError('APPROVER_NOT_ELIGIBLE', 'You are not an approver of this profile.');
    throw NOT_FOUND();
  }
  const person = await personOf(ctx, caller, facts);
  if (!person.verified) {
    throw new ApiError('APPROVER_UNVERIFIED',
      'Approvals must come from an IAM user or an Identity Center user of the TVM\'s account: this identity cannot be tied to a person.');
  }
  // The same person by key (an Identity Center user through any permission set), or by user name: an IAM user, an
  // Identity Center user and a role session named alike are taken for one person. A false match can only refuse.
  if (person.key === item[AccessAttr.REQUESTER_PERSON]?.S || nameOf(caller.arn) === nameOf(item[Attr.PRINCIPAL_ARN]?.S ?? '')) {
    throw new ApiError('SELF_APPROVAL_FORBIDDEN', 'You cannot decide on your own request, whichever role you use.');
  }
  return { ...r, person, profile: r.profile!, access: r.access! };
}

function blockedError(): ApiError {
  return new ApiError('PRINCIPAL_BLOCKED', 'An administrator has blocked you from starting sessions for now.');
}

/** The user name in a principal ARN (an IAM user's, an Identity Center user's, a role session's), without case. */
function nameOf(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1).toLowerCase();
}

/** A request that is no longer pending, said precisely. */
function notPending(item: Item, now: Date): ApiError {
  const status = effectiveStatus(item, now);
  return new ApiError('REQUEST_NOT_PENDING', `The request is ${status}: it can no longer be decided.`);
}

/**
 * POST /requests/{id}/approve: one approval by an eligible, verified approver who is not the requester (as a person);
 * the last one needed approves the grant, fixing its window from now (or its scheduled start) and sealing it.
 */
export async function approveRequest(ctx: AccessContext, caller: Caller, rawId: string, raw: string | undefined, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  facts.action = 'approve';
  const b = body(raw, [AccessFields.COMMENT, AccessFields.EXPECTED_DIGEST]);
  const note = comment(b[AccessFields.COMMENT], 'comment', false);
  const expected = b[AccessFields.EXPECTED_DIGEST];
  if (expected !== undefined && (typeof expected !== 'string' || !/^[0-9a-f]{16}$/.test(expected))) {
    throw new ApiError('INVALID_REQUEST', 'expectedDigest must be the 16 hexadecimal characters the request shows as its digest.');
  }
  for (let attempt = 1; ; attempt++) {
    const item = await stored(() => ctx.grants.get(id));
    if (!item || item[AccessAttr.GRANT_KIND]?.S !== GrantKinds.APPROVAL) throw NOT_FOUND();
    const a = await approverOf(ctx, caller, item, facts);
    facts.profile = a.profile.name;
    const now = ctx.now();
    if (item[Attr.STATUS]?.S !== Status.PENDING || effectiveStatus(item, now) !== Status.PENDING) throw notPending(item, now);
    const approval = a.access.policy.approval;
    if (!approval || item[AccessAttr.POLICY_DIGEST]?.S !== policyDigest(a.profile)) {
      throw new ApiError('REQUEST_STALE', 'The profile\'s access policy changed since the request was made: the requester must ask again.');
    }
    if (expected !== undefined && expected !== requestDigest(item)) {
      throw new ApiError('REQUEST_CHANGED', 'The request is not the one you were shown: read it again before deciding.');
    }
    const hash = personHash(a.person.key);
    const approvedBy = Object.values(item[AccessAttr.APPROVALS]?.M ?? {}).map((e) => nameOf(e.M?.arn?.S ?? ''));
    if (item[AccessAttr.APPROVALS]?.M?.[hash] || approvedBy.includes(nameOf(caller.arn))) {
      throw new ApiError('DUPLICATE_APPROVAL', 'You have approved this request already.');
    }
    // Only what the TVM wrote counts: the request as filed, and each approval recorded so far.
    const key = await stored(() => ctx.grantKey());
    if (!requestSealHolds(key, item) || !approvalsHold(key, item)) {
      facts.integrityFailure = true;
      throw new ApiError('APPROVAL_INVALID', 'The request is not valid.', {}, 'request or approval seal did not verify');
    }
    const count = Object.keys(item[AccessAttr.APPROVALS]?.M ?? {}).length;
    // The quorum and the longest window of the policy now (its digest is the request's: they are the request's too).
    const required = approval.minApprovals;
    const entry: Item = { arn: S(caller.arn), person: S(a.person.key), at: S(iso(now)), ...(note ? { comment: S(note) } : {}) };
    entry.mac = S(approvalSealOf(key, id, hash, entry));
    let completes: { expiresAt: Date; seal: string } | undefined;
    if (count + 1 >= required) {
      const notBefore = item[AccessAttr.NOT_BEFORE]?.S;
      const start = Math.max(now.getTime(), notBefore ? Date.parse(notBefore) : 0);
      const seconds = Math.min(Number(item[AccessAttr.REQUESTED_SECONDS]?.N ?? '0'), approval.maxSeconds);
      const expiresAt = new Date(start + seconds * 1000);
      // The seal is over the item as this write leaves it.
      const after: Item = {
        ...item,
        [AccessAttr.APPROVED_AT]: S(iso(now)),
        [Attr.EXPIRES_AT]: S(iso(expiresAt)),
        [AccessAttr.APPROVALS]: { M: { ...item[AccessAttr.APPROVALS]?.M, [hash]: { M: entry } } },
      };
      completes = { expiresAt, seal: sealOf(key, after) };
    }
    const result = await stored(() => ctx.grants.approve({
      id, count, personHash: hash, entry, approverPerson: a.person.key, policyDigest: policyDigest(a.profile), now, completes,
    }));
    if (!result.refused) {
      facts.approvalCount = count + 1;
      return { Request: requestView(result.item, now) };
    }
    // Another approval, a decision or a deadline landed in between: read again and say which.
    if (attempt >= APPROVE_TRIES) throw new ApiError('RATE_LIMITED', 'The request is changing too fast; retry.', { 'retry-after': '1' });
  }
}

/** POST /requests/{id}/deny: an eligible approver ends a pending request; the comment is required. */
export async function denyRequest(ctx: AccessContext, caller: Caller, rawId: string, raw: string | undefined, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  facts.action = 'deny';
  const b = body(raw, [AccessFields.COMMENT]);
  const note = comment(b[AccessFields.COMMENT], 'comment', true);
  const item = await stored(() => ctx.grants.get(id));
  if (!item || item[AccessAttr.GRANT_KIND]?.S !== GrantKinds.APPROVAL) throw NOT_FOUND();
  const a = await approverOf(ctx, caller, item, facts);
  facts.profile = a.profile.name;
  const now = ctx.now();
  const result = await stored(() => ctx.grants.deny({ id, by: caller.arn, now, comment: note, person: a.person.key }));
  if (result.refused) throw notPending(result.old ?? item, now);
  return { Request: requestView(result.item, now) };
}

/** POST /requests/{id}/cancel: the requester withdraws their own request, pending or approved and never used. */
export async function cancelRequest(ctx: AccessContext, caller: Caller, rawId: string, raw: string | undefined, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  facts.action = 'cancel';
  body(raw, []);
  const now = ctx.now();
  const result = await stored(() => ctx.grants.cancel({ id, by: caller.arn, now }));
  if (!result.refused) return { Request: requestView(result.item, now) };
  const old = result.old;
  if (!old || old[AccessAttr.GRANT_KIND]?.S !== GrantKinds.APPROVAL || old[Attr.PRINCIPAL_ARN]?.S !== caller.arn) throw NOT_FOUND();
  if (old[AccessAttr.ACTIVATED_AT]) {
    throw new ApiError('REQUEST_NOT_PENDING', 'The grant is in use: end it with DELETE /sessions/{id}, which also cuts its credentials.');
  }
  throw notPending(old, now);
}

/**
 * POST /requests/{id}/withdraw: an eligible approver (or an administrator) ends a grant early. A pending request is denied;
 * an approved or active grant is revoked, which the enforcer turns into a deny of any credentials it had.
 */
export async function withdrawRequest(ctx: AccessContext, caller: Caller, rawId: string, raw: string | undefined, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  facts.action = 'withdraw';
  const b = body(raw, [AccessFields.REASON]);
  const reason = comment(b[AccessFields.REASON], 'reason', true)!;
  const item = await stored(() => ctx.grants.get(id));
  if (!item || !item[AccessAttr.GRANT_KIND]) throw NOT_FOUND();
  const r = await roleIn(ctx, caller, item);
  if (!r.admin) await approverOf(ctx, caller, item, facts);
  facts.profile = item[Attr.PROFILE]?.S;
  const now = ctx.now();
  let result: WriteResult;
  if (item[Attr.STATUS]?.S === Status.PENDING) {
    const person = await personOf(ctx, caller, facts);
    result = await stored(() => ctx.grants.deny({ id, by: caller.arn, now, comment: reason, person: person.key }));
  } else {
    result = await stored(() => ctx.grants.end({
      id, by: caller.arn, now, reason, kind: r.admin && !r.approver ? RevokedKinds.ADMIN : RevokedKinds.APPROVAL_WITHDRAWN,
    }));
  }
  if (result.refused) throw notPending(result.old ?? item, now);
  return { Request: requestView(result.item, now) };
}

/**
 * POST /breakglass: emergency access for an eligible, verified person, without an approver, with a reason; one transaction
 * with the person's guard holds the cooldown and "review before the next use" under any concurrency.
 */
export async function breakGlass(ctx: AccessContext, caller: Caller, raw: string | undefined, facts: AccessFacts) {
  facts.action = 'breakglass';
  const b = body(raw, [AccessFields.PROFILE, AccessFields.DURATION_SECONDS, AccessFields.REASON, AccessFields.TICKET]);
  const name = profileName(b[AccessFields.PROFILE]);
  facts.profile = name;
  const found = await gatedProfile(ctx, name);
  const policy = found?.access.policy.breakGlass;
  // Unknown profiles answer the same: nothing is enumerated.
  if (!found || !policy || !matches(found.access.breakGlass, caller)) {
    throw new ApiError('BREAK_GLASS_NOT_ALLOWED', 'You may not break glass on this profile.');
  }
  const seconds = windowSeconds(b[AccessFields.DURATION_SECONDS], policy.maxSeconds, policy.maxSeconds);
  const reason = text(b[AccessFields.REASON], policy.reason, 'reason', 'REASON_REQUIRED');
  const ticketId = ticket(b[AccessFields.TICKET], policy.ticket);
  const now = ctx.now();
  if (!policy.ignoreAccessWindows) {
    const w = accessWindowState(found.access.policy.windows, now);
    if (w && !w.open) throw outsideWindow(w.nextOpensAt, now);
  }
  const person = await personOf(ctx, caller, facts);
  if (!person.verified) {
    throw new ApiError('APPROVER_UNVERIFIED',
      'Break-glass must come from an IAM user or an Identity Center user of the TVM\'s account: this identity cannot be tied to a person.');
  }
  const key = await stored(() => ctx.grantKey());
  const expiresAt = new Date(now.getTime() + seconds * 1000);
  const guard = guardId(guardHash(person.key, name));
  for (let attempt = 0; ; attempt++) {
    const id = ctx.newSessionId();
    const it = baseItem(ctx, caller, person, found.profile, id, GrantKinds.BREAK_GLASS, now, expiresAt);
    it[Attr.STATUS] = S(Status.APPROVED);
    it[AccessAttr.REQUESTED_SECONDS] = N(seconds);
    it[AccessAttr.APPROVED_AT] = S(iso(now));
    it[Attr.EXPIRES_AT] = S(iso(expiresAt));
    it[AccessAttr.REVIEW_STATE] = S(REVIEW_PENDING);
    it[AccessAttr.REVIEW_DUE_AT] = S(iso(new Date(now.getTime() + policy.reviewWithinSeconds * 1000)));
    if (reason !== undefined) it[AccessAttr.REASON] = S(reason);
    if (ticketId !== undefined) it[AccessAttr.TICKET] = S(ticketId);
    it[AccessAttr.GRANT_MAC] = S(sealOf(key, it));
    const result = await stored(() => ctx.grants.startBreakGlass({
      session: it,
      guardId: guard,
      now,
      cooldownStart: new Date(now.getTime() - policy.cooldownSeconds * 1000),
      requireReview: policy.requireReviewBeforeNext,
      blockId: blockId(caller.arn),
    }));
    if (result === 'blocked') throw blockedError();
    if (result === 'started') {
      facts.sessionId = id;
      facts.grantKind = GrantKinds.BREAK_GLASS;
      return { Request: requestView(it, now) };
    }
    if (result === 'guarded') throw await guardRefusal(ctx, guard, policy.cooldownSeconds, now);
    if (attempt >= 2) throw new ApiError('INTERNAL_ERROR', 'An internal error occurred.', {}, 'break-glass id collided 3 times');
  }
}

/** Why the guard refused: an unreviewed previous use (409, named), or the cooldown (429 with Retry-After). */
async function guardRefusal(ctx: AccessContext, id: string, cooldownSeconds: number, now: Date): Promise<ApiError> {
  const guard = await stored(() => ctx.grants.guard(id));
  const unreviewed = guard?.unreviewed?.S;
  if (unreviewed) {
    return new ApiError('BREAK_GLASS_REVIEW_PENDING', `Your previous break-glass session ${unreviewed} must be reviewed before the next one.`);
  }
  const last = Date.parse(guard?.last_invoked_at?.S ?? '');
  const wait = Number.isNaN(last) ? cooldownSeconds : Math.max(1, Math.ceil((last + cooldownSeconds * 1000 - now.getTime()) / 1000));
  return new ApiError('BREAK_GLASS_COOLDOWN', `Break-glass was used on this profile recently: wait ${wait} s.`, { 'retry-after': String(wait) });
}

/** GET /reviews: break-glass sessions awaiting review that the caller may review (`status=overdue`: past their due time). */
export async function listReviews(ctx: AccessContext, caller: Caller, query: Record<string, string | undefined>, facts: AccessFacts) {
  for (const k of Object.keys(query)) if (k !== 'status') throw new ApiError('INVALID_REQUEST', 'Unknown query parameter: expected status.');
  const status = query.status ?? 'pending';
  if (status !== 'pending' && status !== 'overdue') throw new ApiError('INVALID_REQUEST', 'status must be pending or overdue.');
  facts.action = 'list-reviews';
  if (!REVIEW_INDEX) throw UNAVAILABLE();
  const config = await ctx.config();
  const person = await personOf(ctx, caller, facts);
  const now = ctx.now();
  const out: Item[] = [];
  const admin = config.isAdmin(caller);
  if (!admin && !person.verified) return { Reviews: [] };
  await pages(ctx, REVIEW_INDEX, REVIEW_PENDING, undefined, {}, {}, 100, out, (item) => {
    const profile = config.profiles.get(item[Attr.PROFILE]?.S ?? '');
    const access = profile && accessOf(profile);
    const mine = item[AccessAttr.REQUESTER_PERSON]?.S === person.key;
    const may = admin || (!!access && matches(access.reviewers, caller) && !mine);
    return may && (status === 'pending' || (item[AccessAttr.REVIEW_DUE_AT]?.S ?? '') <= iso(now));
  });
  return { Reviews: out.map((item) => requestView(item, now)) };
}

/** POST /sessions/{id}/review: a reviewer who did not invoke it closes a break-glass session's review. */
export async function reviewSession(ctx: AccessContext, caller: Caller, rawId: string, raw: string | undefined, facts: AccessFacts) {
  const id = requestId(rawId);
  facts.sessionId = id;
  facts.action = 'review';
  const b = body(raw, [AccessFields.OUTCOME, AccessFields.NOTE]);
  const outcome = b[AccessFields.OUTCOME];
  if (outcome !== ReviewOutcomes.ACCEPTED && outcome !== ReviewOutcomes.FLAGGED) {
    throw new ApiError('INVALID_REQUEST', 'outcome must be accepted or flagged.');
  }
  const note = comment(b[AccessFields.NOTE], 'note', true)!;
  const item = await stored(() => ctx.grants.get(id));
  if (!item || item[AccessAttr.GRANT_KIND]?.S !== GrantKinds.BREAK_GLASS) throw NOT_FOUND();
  const r = await roleIn(ctx, caller, item);
  if (!r.reviewer) {
    if (r.requester || r.admin) throw new ApiError('APPROVER_NOT_ELIGIBLE', 'You are not a reviewer of this profile.');
    throw NOT_FOUND();
  }
  const person = await personOf(ctx, caller, facts);
  if (!person.verified) {
    throw new ApiError('APPROVER_UNVERIFIED', 'Reviews must come from an IAM user or an Identity Center user of the TVM\'s account.');
  }
  const requester = item[AccessAttr.REQUESTER_PERSON]?.S ?? '';
  if (person.key === requester) throw new ApiError('SELF_REVIEW_FORBIDDEN', 'You cannot review your own break-glass session.');
  const profile = item[Attr.PROFILE]?.S ?? '';
  facts.profile = profile;
  const now = ctx.now();
  const done = await stored(() => ctx.grants.review({
    id, guardId: guardId(guardHash(requester, profile)), reviewerArn: caller.arn, reviewerPerson: person.key, outcome, note, now,
  }));
  if (!done) throw new ApiError('REVIEW_NOT_PENDING', 'The session has no review pending.');
  const after = await stored(() => ctx.grants.get(id));
  return { Request: requestView(after ?? item, now) };
}
