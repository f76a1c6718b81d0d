import { AccessAttr, AccessLimits, GrantKinds, RevokedKinds } from '../../src/shared/access';
import { Attr, Limits, Status } from '../../src/shared/contract';
import type { GrantWrites, Item } from '../access/activation';
import { accessOf, matches, outsideWindow } from '../access/policy';
import { sealHolds } from '../access/seal';
import { accessWindowState, windowState } from '../access/windows';
import { ApiError } from '../errors';
import type { Caller } from '../identity';
import type { Profile } from '../profiles';
import { StoreError } from '../sessions/store';

/** Facts of a vend on a gated or windowed profile, for the decision log. */
export interface GateFacts {
  grantKind?: string;
  /** A gated item whose seal did not hold: written by someone else than the TVM (alarmed). */
  integrityFailure?: boolean;
  /** The access window's end capped the credentials. */
  windowCapped?: boolean;
}

/** What the access windows allow now: undefined when the profile has none (no limit). */
export interface WindowLimit {
  /** When the credentials must end by (the window's end minus STS's margin); undefined while no window is open. */
  readonly until?: Date;
  /** The next opening after the current window (or now), for Retry-After. */
  readonly nextOpensAt?: Date;
}

/**
 * The access windows' limit on credentials vended now: until the open windows close (minus STS's margin). A window closing
 * in less than the shortest credential lifetime counts as closed: STS cannot issue shorter credentials, and none may
 * outlive the window.
 */
export function windowLimit(profile: Profile, now: Date): WindowLimit | undefined {
  const windows = profile.access?.windows;
  let state;
  try {
    state = accessWindowState(windows, now);
  } catch (err) {
    // An unknown time zone on the runtime: a configuration error, never a silent fallback to UTC.
    throw new ApiError('ACCESS_CONFIGURATION_ERROR', 'The profile\'s access windows cannot be evaluated.', {}, String((err as Error).message));
  }
  if (!state) return undefined;
  if (!state.open) return { nextOpensAt: state.nextOpensAt };
  const until = new Date(state.closesAt!.getTime() - AccessLimits.STS_MARGIN_SECONDS * 1000);
  if (until.getTime() - now.getTime() < Limits.MIN_CREDENTIAL_SECONDS * 1000) {
    return { nextOpensAt: windowState(windows!, state.closesAt!).nextOpensAt };
  }
  return { until, nextOpensAt: undefined };
}

/** Refuses a vend outside the profile's access windows (standing profiles; gated ones decide per grant kind). */
export function requireOpenWindow(limit: WindowLimit | undefined, now: Date): void {
  if (limit && !limit.until) throw outsideWindow(limit.nextOpensAt, now);
}

/** The grant kinds the caller may use on a gated profile now: its patterns, and the access windows unless exempt. */
export function usableKinds(profile: Profile, caller: Caller, limit: WindowLimit | undefined): { kinds: string[]; eligible: string[] } {
  const access = accessOf(profile)!;
  const eligible: string[] = [];
  if (access.policy.approval && matches(profile.matcher, caller)) eligible.push(GrantKinds.APPROVAL);
  if (access.policy.breakGlass && matches(access.breakGlass, caller)) eligible.push(GrantKinds.BREAK_GLASS);
  const windowOpen = !limit || limit.until !== undefined;
  const kinds = eligible.filter((k) => windowOpen || (k === GrantKinds.BREAK_GLASS && access.policy.breakGlass!.ignoreAccessWindows));
  return { kinds, eligible };
}

export interface GatedVend {
  readonly grants: GrantWrites;
  readonly grantKey: () => Promise<Buffer>;
  readonly now: () => Date;
  /** Who revokes a grant whose seal does not hold: the TVM (tvmRevoker). */
  readonly revoker: string;
}

export interface GatedResult {
  readonly sessionId: string;
  readonly durationSeconds: number;
  readonly sessionExpiresAt: Date;
  readonly sourceIdentity: string;
}

/**
 * A vend on a gated profile: the single conditional write that activates an approved grant or continues an active one,
 * then the seal check on what was written, then credentials capped by the grant's window and the access windows. Never
 * fails open: on a gated profile the session item is the authority.
 */
export async function vendGated(g: GatedVend, profile: Profile, caller: Caller, sessionId: string | undefined, wanted: number,
  limit: WindowLimit | undefined, facts: GateFacts): Promise<GatedResult> {
  const now = g.now();
  const { kinds, eligible } = usableKinds(profile, caller, limit);
  if (eligible.length === 0) throw new ApiError('POLICY_DENY', 'You are not allowed to use this profile.');
  if (kinds.length === 0) throw outsideWindow(limit?.nextOpensAt, now);
  if (sessionId === undefined) throw approvalRequired(eligible, profile);
  const margin = AccessLimits.STS_MARGIN_SECONDS * 1000;
  let result;
  try {
    result = await g.grants.activate({
      id: sessionId,
      principalArn: caller.arn,
      principalId: caller.principalId,
      profile: profile.name,
      roleArn: profile.roleArn,
      kinds,
      now,
      mustLastUntil: new Date(now.getTime() + Limits.MIN_CREDENTIAL_SECONDS * 1000 + margin),
    });
  } catch (err) {
    if (err instanceof StoreError) throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.');
    throw err;
  }
  if (result.refused) throw refusal(result.old, caller, profile, kinds, eligible, limit, now);
  const item = result.item;
  const kind = item[AccessAttr.GRANT_KIND]?.S ?? '';
  facts.grantKind = kind;
  let key: Buffer;
  try {
    key = await g.grantKey();
  } catch {
    throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.');
  }
  if (!sealHolds(key, item)) {
    facts.integrityFailure = true;
    // A grant the TVM did not write: ended at once, so that the enforcer denies whatever credentials it had.
    await g.grants.end({ id: sessionId, by: g.revoker, kind: RevokedKinds.INTEGRITY, reason: 'grant seal did not verify', now })
      .catch(() => undefined);
    throw new ApiError('APPROVAL_INVALID', 'The grant is not valid.', {}, 'grant seal did not verify');
  }
  const expiresAt = new Date(item[Attr.EXPIRES_AT]?.S ?? 0);
  let until = expiresAt.getTime() - margin;
  const exempt = kind === GrantKinds.BREAK_GLASS && profile.access?.breakGlass?.ignoreAccessWindows;
  if (limit?.until && !exempt && limit.until.getTime() < until) {
    until = limit.until.getTime();
    facts.windowCapped = true;
  }
  const duration = Math.min(wanted, Math.floor((until - now.getTime()) / 1000));
  if (duration < Limits.MIN_CREDENTIAL_SECONDS) {
    throw new ApiError('SESSION_EXPIRED', 'The access window of this grant has ended: request access again.');
  }
  return { sessionId, durationSeconds: duration, sessionExpiresAt: expiresAt, sourceIdentity: item[Attr.SOURCE_IDENTITY]?.S ?? '' };
}

function approvalRequired(eligible: string[], profile: Profile): ApiError {
  const may = [
    eligible.includes(GrantKinds.APPROVAL) ? 'request access (sentinel-tvm request)' : undefined,
    eligible.includes(GrantKinds.BREAK_GLASS) ? 'break glass in an emergency (sentinel-tvm breakglass)' : undefined,
  ].filter(Boolean).join(', or ');
  // Who approves, as the policy describes them (written by the deployment, checked for control characters at synth).
  const who = profile.access?.approval?.approversDescription;
  return new ApiError('APPROVAL_REQUIRED', `This profile needs an approved grant: ${may}.${who ? ` Approvers: ${who}.` : ''}`);
}

/** Why the vend's write was refused, from the item as it was (no second read). */
function refusal(old: Item | undefined, caller: Caller, profile: Profile, kinds: string[], eligible: string[], limit: WindowLimit | undefined,
  now: Date): ApiError {
  if (!old) return new ApiError('SESSION_NOT_FOUND', 'The session does not exist.');
  // Ownership first: a stranger learns nothing about someone else's grant.
  if (old[Attr.PRINCIPAL_ARN]?.S !== caller.arn) return new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal or profile.');
  const pid = old[Attr.PRINCIPAL_ID]?.S;
  if (pid !== undefined && pid !== (caller.principalId ?? '')) return new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal or profile.');
  if (old[Attr.PROFILE]?.S !== profile.name) return new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal or profile.');
  const kind = old[AccessAttr.GRANT_KIND]?.S;
  // A standing session of a profile that is now gated: it cannot continue, a grant is needed.
  if (kind === undefined) return approvalRequired(eligible, profile);
  const status = old[Attr.STATUS]?.S;
  const t = now.toISOString();
  switch (status) {
    case Status.PENDING:
      return new ApiError('APPROVAL_PENDING', `The request is waiting for approval: ${old[AccessAttr.APPROVAL_COUNT]?.N ?? '0'} of `
        + `${old[AccessAttr.APPROVALS_REQUIRED]?.N ?? '?'} approvals, requested at ${old[Attr.CREATED_AT]?.S ?? '?'}, `
        + `deadline ${old[AccessAttr.REQUEST_EXPIRES_AT]?.S ?? '?'}.`, { 'retry-after': '30' });
    case Status.DENIED: {
      // The approver's comment (at most 256 characters, no control characters: checked when it was written).
      const comment = old[AccessAttr.DECISION_COMMENT]?.S;
      return new ApiError('APPROVAL_DENIED', `The request was denied${comment ? `: ${comment}` : ''}.`);
    }
    case Status.CANCELLED: return new ApiError('REQUEST_CANCELLED', 'The request was cancelled.');
    case Status.REVOKED: return new ApiError('SESSION_REVOKED', 'The session has been revoked.');
    case Status.EXPIRED:
      return old[AccessAttr.ACTIVATED_AT]
        ? new ApiError('SESSION_EXPIRED', 'The access window of this grant has ended: request access again.')
        : new ApiError('REQUEST_EXPIRED', 'The request ended before it was used: request access again.');
    default:
  }
  if (old[Attr.ROLE_ARN]?.S !== profile.roleArn) {
    return new ApiError('REQUEST_STALE', 'The profile now names another role than the grant was approved for: request access again.');
  }
  if (!kinds.includes(kind)) {
    return eligible.includes(kind) ? outsideWindow(limit?.nextOpensAt, now) : new ApiError('POLICY_DENY', 'You are not allowed to use this profile.');
  }
  const notBefore = old[AccessAttr.NOT_BEFORE]?.S;
  if (status === Status.APPROVED && notBefore && notBefore > t) {
    const wait = Math.max(1, Math.ceil((Date.parse(notBefore) - now.getTime()) / 1000));
    return new ApiError('NOT_YET_VALID', `The grant starts at ${notBefore}.`, { 'retry-after': String(wait) });
  }
  return old[AccessAttr.ACTIVATED_AT]
    ? new ApiError('SESSION_EXPIRED', 'The access window of this grant has ended: request access again.')
    : new ApiError('REQUEST_EXPIRED', 'The grant\'s window ended before it was used: request access again.');
}
