import { PageTokens } from './paging';
import { SessionStore, StoreError, type Item, type SessionQuery } from './store';
import { AccessAttr, RevokedKinds } from '../../src/shared/access';
import { Attr, Indexes, Limits, Paging, Patterns, Status } from '../../src/shared/contract';
import type { GrantWrites } from '../access/activation';
import { ApiError } from '../errors';
import type { Caller } from '../identity';
import type { TvmConfig } from '../profiles';

/** What session management needs, injected like the vend context. */
export interface ManageContext {
  readonly settings: { readonly retentionSeconds: number };
  /** Waits between the two sweeps of a block. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly store: SessionStore;
  readonly config: () => Promise<TvmConfig>;
  readonly now: () => Date;
  readonly pageTokens: () => Promise<PageTokens>;
  /** Gated sessions: ended early through their own transition. */
  readonly grants?: GrantWrites;
}

export interface ManageFacts {
  sessionId?: string;
  admin?: boolean;
  action?: string;
  /** A revocation that created the record of an unrecorded (FAIL_OPEN) session. */
  tombstone?: boolean;
  /** Until when the session's principal is blocked from starting sessions. */
  blockedUntil?: string;
  /** Other active sessions of a blocked principal, revoked with it. */
  alsoRevoked?: number;
}

/** Longest block of a principal an administrator can set with a revocation. */
export const MAX_BLOCK_SECONDS = 7 * 24 * 3600;
/** A block sweeps the principal's sessions twice, this long apart: the user index lags writes by well under a second. */
export const SWEEP_AGAIN_MS = 1000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const SESSION_ID = new RegExp(Patterns.SESSION_ID);
const PROFILE = new RegExp(Patterns.PROFILE);
const INDEX = Object.fromEntries(Indexes.map((i) => [i.partitionKey, i.name]));
const UNAVAILABLE = () => new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.');

/** Attributes a session view shows: the record, never anything secret (the table holds no secret). */
const VIEW_ATTRS = [
  Attr.ID, Attr.USER, Attr.PRINCIPAL_ARN, Attr.ACCOUNT_ID, Attr.PROFILE, Attr.ROLE_ARN, Attr.STATUS, Attr.STARTED_AT,
  Attr.LAST_ACCESS_AT, Attr.EXPIRES_AT, Attr.CREDENTIALS_EXPIRE_AT, Attr.REQUEST_COUNT, Attr.SOURCE_IDENTITY, Attr.DEVICE_ID,
  Attr.SERVER_INSTANCE_ID, Attr.CREATED_AT, Attr.UPDATED_AT, Attr.REVOKED_BY, Attr.REVOKED_REASON, Attr.REVOKED_AT, Attr.ENDED_AT,
  Attr.ENDED_REASON,
] as const;

/** A session as the API shows it, with `effective_status`: an active session past `expires_at` has ended. */
export function sessionView(item: Item, now: Date): Record<string, string | number> {
  const view: Record<string, string | number> = {};
  for (const name of VIEW_ATTRS) {
    const v = item[name];
    if (v?.S !== undefined) view[name] = v.S;
    else if (v?.N !== undefined) view[name] = Number(v.N);
  }
  const expired = view[Attr.STATUS] === Status.ACTIVE && String(view[Attr.EXPIRES_AT] ?? '') <= now.toISOString();
  view.effective_status = expired ? Status.EXPIRED : String(view[Attr.STATUS] ?? '');
  return view;
}

async function isAdmin(ctx: ManageContext, caller: Caller): Promise<boolean> {
  return (await ctx.config()).isAdmin(caller);
}

function sessionId(raw: string): string {
  if (!SESSION_ID.test(raw)) {
    throw new ApiError('INVALID_SESSION_ID', 'The session id must be 16 lowercase hexadecimal characters.');
  }
  return raw;
}

async function storeCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof StoreError) throw UNAVAILABLE();
    throw err;
  }
}

/** GET /sessions/{id}: the owner or an administrator. */
export async function getSession(ctx: ManageContext, caller: Caller, rawId: string, facts: ManageFacts) {
  const id = sessionId(rawId);
  facts.sessionId = id;
  const admin = await isAdmin(ctx, caller);
  facts.admin = admin;
  const item = await storeCall(() => ctx.store.get(id));
  if (!item) throw new ApiError('SESSION_NOT_FOUND', 'The session does not exist.');
  if (!admin && item[Attr.PRINCIPAL_ARN]?.S !== caller.arn) {
    throw new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal.');
  }
  return { Session: sessionView(item, ctx.now()) };
}

/**
 * DELETE /sessions/{id} (owner or admin: active → expired) and POST /sessions/{id}/revoke (admin: active, or ended with
 * credentials still live → revoked). A revocation may also name the `profile` of an id the table does not know (a vend
 * made under FAIL_OPEN while the table was down: the id is in the decision log), which records it as revoked so that
 * its credentials are denied; and `blockPrincipalSeconds`, which stops the session's principal from starting sessions
 * for that long and revokes its other active sessions (the stolen-laptop case).
 */
export async function changeSession(ctx: ManageContext, caller: Caller, rawId: string, revoke: boolean, body: string | undefined,
  facts: ManageFacts) {
  const id = sessionId(rawId);
  facts.sessionId = id;
  facts.action = revoke ? 'revoke' : 'end';
  const config = await ctx.config();
  const admin = config.isAdmin(caller);
  facts.admin = admin;
  let request: RevokeRequest;
  if (revoke) {
    if (!admin) throw new ApiError('POLICY_DENY', 'Only administrators may revoke sessions.');
    request = revokeRequest(body);
  } else {
    if (body !== undefined && body.trim() !== '') throw new ApiError('INVALID_REQUEST', 'This request takes no body.');
    request = { reason: admin ? `ended by ${caller.arn}` : 'ended by its owner' };
  }
  const tombstoneRole = request.profile === undefined ? undefined : config.profiles.get(request.profile)?.roleArn;
  if (request.profile !== undefined && tombstoneRole === undefined) {
    throw new ApiError('INVALID_PROFILE', 'No profile of that name: the profile of an unrecorded session names its role.');
  }
  const now = ctx.now();
  const result = await storeCall(() => ctx.store.transition({
    id, to: revoke ? Status.REVOKED : Status.EXPIRED, callerArn: caller.arn, admin, now, reason: request.reason,
  }));
  let item: Item;
  const grant = !result.ok && result.refusal === 'NOT_ACTIVE' && result.item?.[AccessAttr.GRANT_KIND] !== undefined && ctx.grants;
  if (grant && request.blockPrincipalSeconds === undefined) {
    // A grant (approval, break-glass) ended early by its owner or an administrator is revoked, approved-but-unused included:
    // its credentials, if it had any, are then denied like any revoked session's.
    const ended = await storeCall(() => grant.end({
      id,
      by: caller.arn,
      now,
      reason: request.reason,
      kind: admin ? RevokedKinds.ADMIN : RevokedKinds.OWNER_ENDED,
      ...(admin ? {} : { owner: caller.arn }),
    }));
    if (ended.refused) throw new ApiError('SESSION_NOT_ACTIVE', 'The session has already ended or been revoked.');
    facts.action = 'revoke';
    return { Session: sessionView(ended.item, now) };
  }
  if (result.ok) {
    item = result.item;
  } else if (result.refusal === 'NOT_ACTIVE' && request.blockPrincipalSeconds !== undefined && result.item?.[Attr.STATUS]?.S === Status.REVOKED) {
    // Revoked already (perhaps before anyone knew the identity was stolen): the block still applies to its principal.
    item = result.item;
  } else if (result.refusal === 'NOT_FOUND' && tombstoneRole !== undefined && request.profile !== undefined) {
    if (request.blockPrincipalSeconds !== undefined) {
      throw new ApiError('INVALID_REQUEST', 'An unrecorded session has no known principal to block.');
    }
    const credentialsExpireAt = new Date(now.getTime() + (Limits.MAX_CREDENTIAL_SECONDS + 60) * 1000);
    const written = await storeCall(() => ctx.store.tombstone({
      id,
      profile: request.profile!,
      roleArn: tombstoneRole,
      callerArn: caller.arn,
      reason: request.reason,
      now,
      credentialsExpireAt,
      ttl: Math.floor(credentialsExpireAt.getTime() / 1000) + ctx.settings.retentionSeconds,
    }));
    // Written meanwhile by a late vend: revoke that record instead.
    if (!written) return changeSession(ctx, caller, rawId, revoke, body, facts);
    facts.tombstone = true;
    item = written;
  } else {
    switch (result.refusal) {
      case 'NOT_FOUND': throw new ApiError('SESSION_NOT_FOUND', 'The session does not exist.');
      case 'FORBIDDEN': throw new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal.');
      case 'NOT_ACTIVE': throw new ApiError('SESSION_NOT_ACTIVE', 'The session has already ended or been revoked.');
    }
  }
  const out: Record<string, unknown> = { Session: sessionView(item, now) };
  if (request.blockPrincipalSeconds !== undefined) {
    const principal = item[Attr.PRINCIPAL_ARN]?.S;
    const user = item[Attr.USER]?.S;
    if (!principal || !user) throw new ApiError('INVALID_REQUEST', 'The session has no known principal to block.');
    const until = new Date(now.getTime() + request.blockPrincipalSeconds * 1000);
    // Block first, then revoke: a session started in between is caught by the sweep, one started after by the block.
    // The sweep reads an index, which lags writes a little: it runs again a moment later for sessions it could not see.
    await storeCall(() => ctx.store.block({ principalArn: principal, until, callerArn: caller.arn, reason: request.reason, sessionId: id }));
    let revoked = 0;
    const done = new Set([id]);
    for (const wait of [0, SWEEP_AGAIN_MS]) {
      if (wait > 0) await (ctx.sleep ?? sleep)(wait);
      const live = await storeCall(() => ctx.store.liveSessionsOf(user, principal, INDEX[Attr.USER], ctx.now()));
      for (const other of live.filter((s) => !done.has(s))) {
        done.add(other);
        const reason = `${request.reason} (principal blocked)`;
        const r = await storeCall(() => ctx.store.transition({
          id: other, to: Status.REVOKED, callerArn: caller.arn, admin: true, now: ctx.now(), reason,
        }));
        if (r.ok) {revoked += 1;} else if (r.refusal === 'NOT_ACTIVE' && r.item?.[AccessAttr.GRANT_KIND] !== undefined && ctx.grants) {
          // A grant approved and not yet used is revoked; a request still pending is denied.
          const grants = ctx.grants;
          const ended = r.item[Attr.STATUS]?.S === Status.PENDING
            ? await storeCall(() => grants.denyPending(other, caller.arn, reason, ctx.now()))
            : await storeCall(() => grants.end({ id: other, by: caller.arn, kind: RevokedKinds.ADMIN, reason, now: ctx.now() }));
          if (!ended.refused) revoked += 1;
        }
      }
    }
    facts.blockedUntil = until.toISOString();
    facts.alsoRevoked = revoked;
    out.Blocked = { principal_arn: principal, until: until.toISOString(), revoked_sessions: revoked };
  }
  return out;
}

interface RevokeRequest {
  readonly reason: string;
  readonly profile?: string;
  readonly blockPrincipalSeconds?: number;
}

const REVOKE_KEYS = new Set(['reason', 'profile', 'blockPrincipalSeconds']);

function revokeRequest(body: string | undefined): RevokeRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    throw new ApiError('INVALID_REQUEST', 'The body must be JSON: {"reason": "..."}.');
  }
  const obj = parsed as Record<string, unknown>;
  if (!obj || typeof obj !== 'object' || Array.isArray(obj) || Object.keys(obj).some((k) => !REVOKE_KEYS.has(k))) {
    throw new ApiError('INVALID_REQUEST', 'The body must be JSON: {"reason": "...", "profile"?: "...", "blockPrincipalSeconds"?: n}.');
  }
  const reason = obj.reason;
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > Limits.MAX_REVOKE_REASON) {
    throw new ApiError('INVALID_REQUEST', `The reason must be 1 to ${Limits.MAX_REVOKE_REASON} characters.`);
  }
  const profile = obj.profile;
  if (profile !== undefined && (typeof profile !== 'string' || !PROFILE.test(profile))) {
    throw new ApiError('INVALID_PROFILE', `The profile name must match ${Patterns.PROFILE}.`);
  }
  const block = obj.blockPrincipalSeconds;
  if (block !== undefined && !(Number.isInteger(block) && (block as number) >= 60 && (block as number) <= MAX_BLOCK_SECONDS)) {
    throw new ApiError('INVALID_REQUEST', `blockPrincipalSeconds must be whole seconds from 60 to ${MAX_BLOCK_SECONDS}.`);
  }
  return { reason, profile: profile as string | undefined, blockPrincipalSeconds: block as number | undefined };
}

const LIST_PARAMS = new Set(['status', 'user', 'profile', 'limit', 'nextToken']);
const STATUSES = new Set<string>(Object.values(Status));

/**
 * GET /sessions, newest first. Callers see their own sessions (filters `status`, `profile`); administrators any
 * (filters `status`, `user`, `profile`; without filters, the active sessions).
 */
export async function listSessions(ctx: ManageContext, caller: Caller, query: Record<string, string | undefined>, facts: ManageFacts) {
  for (const key of Object.keys(query)) {
    if (!LIST_PARAMS.has(key)) throw new ApiError('INVALID_REQUEST', 'Unknown query parameter: expected status, user, profile, limit, nextToken.');
  }
  const { status, user, profile, nextToken } = query;
  if (status !== undefined && !STATUSES.has(status)) throw new ApiError('INVALID_REQUEST', 'status must be active, revoked or expired.');
  if (profile !== undefined && !PROFILE.test(profile)) throw new ApiError('INVALID_PROFILE', `The profile name must match ${Patterns.PROFILE}.`);
  if (user !== undefined && (user.length === 0 || user.length > 128)) throw new ApiError('INVALID_REQUEST', 'user must be 1 to 128 characters.');
  const limit = query.limit === undefined ? Paging.DEFAULT_LIMIT : /^[0-9]{1,3}$/.test(query.limit) ? Number(query.limit) : NaN;
  if (!(limit >= 1 && limit <= Paging.MAX_LIMIT)) throw new ApiError('INVALID_REQUEST', `limit must be 1 to ${Paging.MAX_LIMIT}.`);

  const admin = await isAdmin(ctx, caller);
  facts.admin = admin;
  let q: Omit<SessionQuery, 'limit' | 'startKey'>;
  const filters: Record<string, string> = {};
  if (!admin) {
    if (user !== undefined && user !== caller.user) {
      throw new ApiError('SESSION_FORBIDDEN', 'Only administrators may list the sessions of other users.');
    }
    // `user` is a name, not unique across accounts or roles: the principal ARN decides ownership.
    filters[Attr.PRINCIPAL_ARN] = caller.arn;
    if (status) filters[Attr.STATUS] = status;
    if (profile) filters[Attr.PROFILE] = profile;
    q = { index: INDEX[Attr.USER], keyName: Attr.USER, keyValue: caller.user, filters };
  } else if (user !== undefined) {
    if (status) filters[Attr.STATUS] = status;
    if (profile) filters[Attr.PROFILE] = profile;
    q = { index: INDEX[Attr.USER], keyName: Attr.USER, keyValue: user, filters };
  } else if (profile !== undefined) {
    if (status) filters[Attr.STATUS] = status;
    q = { index: INDEX[Attr.PROFILE], keyName: Attr.PROFILE, keyValue: profile, filters };
  } else {
    q = { index: INDEX[Attr.STATUS], keyName: Attr.STATUS, keyValue: status ?? Status.ACTIVE, filters };
  }
  // A token is valid only for the same query by the same caller.
  const queryId = JSON.stringify([caller.arn, q.index, q.keyValue, q.filters]);
  const tokens = await storeCall(() => ctx.pageTokens());
  const startKey = nextToken === undefined ? undefined : tokens.decode(nextToken, queryId);
  const page = await storeCall(() => ctx.store.query({ ...q, limit, startKey }));
  const now = ctx.now();
  return {
    Sessions: page.items.map((item) => sessionView(item, now)),
    ...(page.lastKey ? { NextToken: tokens.encode(page.lastKey, queryId) } : {}),
  };
}
