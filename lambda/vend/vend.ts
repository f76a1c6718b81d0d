import type { STSClient } from '@aws-sdk/client-sts';
import { assumeRole, StsError, type Credentials } from './assume';
import { Limits, Patterns } from '../../src/shared/contract';
import { isGated } from '../access/policy';
import { ApiError } from '../errors';
import { roleSessionNameFor, sourceIdentityFor, type Caller } from '../identity';
import type { TvmConfig } from '../profiles';
import { requireOpenWindow, usableKinds, vendGated, windowLimit, type GatedVend, type GateFacts } from './gated';
import { SessionStore, StoreError } from '../sessions/store';
import type { Settings } from '../settings';

/** Everything a vend needs, injected so that tests drive it with real local backends and a fixed clock. */
export interface VendContext {
  readonly settings: Settings;
  readonly store: SessionStore;
  readonly sts: STSClient;
  readonly config: () => Promise<TvmConfig>;
  readonly now: () => Date;
  readonly newSessionId: () => string;
  readonly serverInstanceId: string;
  /** Gated profiles' grants; without it, a vend on a gated profile is refused (never vended as standing access). */
  readonly gate?: GatedVend;
}

export interface VendRequest {
  readonly caller: Caller;
  readonly requestId: string;
  readonly query: Record<string, string | undefined>;
  readonly sessionHeader: string | undefined;
}

/** Facts for the decision log, filled in as the vend proceeds. */
export interface VendFacts extends GateFacts {
  profile?: string;
  sessionId?: string;
  newSession?: boolean;
  sourceIdentity?: string;
  durationSeconds?: number;
  requestCount?: number;
  storeFailure?: boolean;
  /** The store error's name and message (no secret). */
  storeError?: string;
  /** Under FAIL_OPEN, the session the caller asked to continue, which could not be checked. */
  continuedSessionId?: string;
  stsError?: string;
}

export interface VendResult {
  readonly sessionId: string;
  readonly credentials: Credentials;
  /** When the session ends, as recorded; unknown for a vend under FAIL_OPEN whose session could not be recorded or read. */
  readonly sessionExpiresAt?: Date;
}

const PROFILE = new RegExp(Patterns.PROFILE);
const SESSION_ID = new RegExp(Patterns.SESSION_ID);
const DEVICE_ID = new RegExp(Patterns.DEVICE_ID);
const VEND_PARAMS = new Set(['profile', 'duration', 'device_id']);
/** STS stamps Expiration from its own clock after our write: record a bound that cannot be below it. */
const EXPIRY_MARGIN_MS = 60_000;

interface VendInput {
  readonly profile: string;
  readonly duration?: number;
  readonly deviceId?: string;
  readonly sessionId?: string;
}

/** Step 2: input validation; nothing is read or written before it passes. */
export function parseVendInput(query: Record<string, string | undefined>, sessionHeader: string | undefined): VendInput {
  for (const key of Object.keys(query)) {
    if (!VEND_PARAMS.has(key)) {
      throw new ApiError('INVALID_REQUEST', `Unknown query parameter "${truncate(key)}": expected profile, duration, device_id.`);
    }
  }
  const profile = query.profile;
  if (profile === undefined || profile === '') {
    throw new ApiError('MISSING_PROFILE', 'The query parameter "profile" is required.');
  }
  if (!PROFILE.test(profile)) {
    throw new ApiError('INVALID_PROFILE', `The profile name must match ${Patterns.PROFILE}.`);
  }
  let duration: number | undefined;
  if (query.duration !== undefined) {
    duration = /^[0-9]{1,6}$/.test(query.duration) ? Number(query.duration) : NaN;
    if (!(duration >= Limits.MIN_CREDENTIAL_SECONDS && duration <= Limits.MAX_CREDENTIAL_SECONDS)) {
      throw new ApiError('INVALID_DURATION',
        `The duration must be whole seconds from ${Limits.MIN_CREDENTIAL_SECONDS} to the profile's maximum (at most ${Limits.MAX_CREDENTIAL_SECONDS}).`);
    }
  }
  const deviceId = query.device_id;
  if (deviceId !== undefined && !DEVICE_ID.test(deviceId)) {
    throw new ApiError('INVALID_DEVICE_ID', 'The device_id must be 64 lowercase hexadecimal characters.');
  }
  if (sessionHeader !== undefined && !SESSION_ID.test(sessionHeader)) {
    throw new ApiError('INVALID_SESSION_ID', 'The X-Sentinel-Session-Id header must be 16 lowercase hexadecimal characters.');
  }
  return { profile, duration, deviceId, sessionId: sessionHeader };
}

/** The steps of a vend (README, HTTP API): validate, authorize, record the session, AssumeRole. */
export async function vend(ctx: VendContext, req: VendRequest, facts: VendFacts): Promise<VendResult> {
  const input = parseVendInput(req.query, req.sessionHeader);
  facts.profile = input.profile;

  // Authorization data cannot fail open: an unreadable configuration is STORE_UNAVAILABLE whatever the mode.
  const config = await ctx.config();
  const named = config.profiles.get(input.profile);
  const gated = named !== undefined && isGated(named);
  const profile = gated ? named : config.authorize(input.profile, req.caller);
  if (!profile || (gated && usableKinds(profile, req.caller, undefined).eligible.length === 0)) {
    throw new ApiError('POLICY_DENY', 'You are not allowed to use this profile.');
  }
  if (input.duration !== undefined && input.duration > profile.maxDurationSeconds) {
    throw new ApiError('INVALID_DURATION', `The duration must be from ${Limits.MIN_CREDENTIAL_SECONDS} to ${profile.maxDurationSeconds} seconds for this profile.`);
  }
  let wanted = Math.min(input.duration ?? ctx.settings.defaultDurationSeconds, profile.maxDurationSeconds);

  const now = ctx.now();
  // Access windows: evaluated here, without I/O; a vend outside them changes nothing.
  const limit = windowLimit(profile, now);
  let sessionId: string;
  let duration: number;
  let recordedNew = false;
  let sessionExpiresAt: Date | undefined;
  let sourceIdentity: string | undefined;
  if (gated) {
    if (!ctx.gate) throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.', {}, 'no grant store');
    facts.newSession = false;
    const g = await vendGated(ctx.gate, profile, req.caller, input.sessionId, wanted, limit, facts);
    sessionId = g.sessionId;
    duration = g.durationSeconds;
    sessionExpiresAt = g.sessionExpiresAt;
    sourceIdentity = g.sourceIdentity;
  } else if (input.sessionId === undefined) {
    requireOpenWindow(limit, now);
    if (limit?.until) wanted = capTo(wanted, limit.until, now, facts);
    sessionId = ctx.newSessionId();
    facts.newSession = true;
    const lifetime = ctx.settings.sessionLifetimeSeconds;
    duration = Math.min(wanted, lifetime);
    const expiresAt = new Date(now.getTime() + lifetime * 1000);
    const newSession = (id: string) => ({
      id,
      user: req.caller.user,
      principalArn: req.caller.arn,
      principalId: req.caller.principalId,
      accountId: req.caller.accountId,
      profile: profile.name,
      roleArn: profile.roleArn,
      sourceIdentity: sourceIdentityFor(id, req.caller),
      deviceId: input.deviceId,
      serverInstanceId: ctx.serverInstanceId,
      now,
      expiresAt,
      credentialsExpireAt: new Date(now.getTime() + duration * 1000 + EXPIRY_MARGIN_MS),
      ttl: Math.floor(expiresAt.getTime() / 1000) + ctx.settings.retentionSeconds,
    });
    try {
      let created = await ctx.store.create(newSession(sessionId));
      // Two random 64-bit ids colliding is next to impossible; when it happens the new session gets another id, never
      // the existing one (which is someone else's).
      for (let retry = 0; created === 'collision' && retry < 2; retry++) {
        sessionId = ctx.newSessionId();
        created = await ctx.store.create(newSession(sessionId));
      }
      if (created === 'blocked') {
        throw new ApiError('PRINCIPAL_BLOCKED', 'An administrator has blocked you from starting sessions for now.');
      }
      if (created === 'collision') throw new ApiError('INTERNAL_ERROR', 'An internal error occurred.', {}, 'session id collided 3 times');
      if (created === 'conflict') {
        // The table answered (concurrent writes on the principal's block item): not a failure to vend unrecorded through.
        throw new ApiError('RATE_LIMITED', 'Too many requests; retry later.', { 'retry-after': '1' }, 'session write: transaction conflicts');
      }
      recordedNew = true;
      sessionExpiresAt = expiresAt;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      storeFailed(ctx, err, facts);
    }
  } else {
    requireOpenWindow(limit, now);
    if (limit?.until) wanted = capTo(wanted, limit.until, now, facts);
    sessionId = input.sessionId;
    facts.newSession = false;
    duration = wanted;
    try {
      const result = await ctx.store.continue({
        id: sessionId,
        principalArn: req.caller.arn,
        principalId: req.caller.principalId,
        profile: profile.name,
        roleArn: profile.roleArn,
        now,
        mustLastUntil: new Date(now.getTime() + Limits.MIN_CREDENTIAL_SECONDS * 1000),
        credentialsExpireAt: new Date(now.getTime() + wanted * 1000 + EXPIRY_MARGIN_MS),
      });
      if (!result.ok) {
        facts.sessionId = sessionId;
        throw refusal(result.refusal);
      }
      facts.requestCount = result.requestCount;
      sessionExpiresAt = result.expiresAt;
      // Credentials never outlive their session.
      duration = Math.min(wanted, Math.floor((result.expiresAt.getTime() - now.getTime()) / 1000));
      if (duration < Limits.MIN_CREDENTIAL_SECONDS) throw refusal('EXPIRED');
    } catch (err) {
      if (err instanceof ApiError) throw err;
      storeFailed(ctx, err, facts);
      // FAIL_OPEN: the presented session could not be checked, so it may not be the caller's. Vend under a new,
      // unrecorded id instead: nobody can have credentials attributed to someone else's session, and revoking a
      // session never stopped its principal from starting another one.
      facts.continuedSessionId = sessionId;
      sessionId = ctx.newSessionId();
      facts.newSession = true;
    }
  }
  facts.sessionId = sessionId;
  facts.durationSeconds = duration;
  // The session id is in it: every CloudTrail event of the credentials, chained hops included, names the session; a grant's
  // is the one sealed in its record, with its kind (approved, break-glass).
  sourceIdentity ??= sourceIdentityFor(sessionId, req.caller);
  facts.sourceIdentity = sourceIdentity;

  try {
    const credentials = await assumeRole(ctx.sts, {
      roleArn: profile.roleArn,
      roleSessionName: roleSessionNameFor(sessionId, req.requestId),
      sourceIdentity,
      sessionId,
      durationSeconds: duration,
    });
    return { sessionId, credentials, sessionExpiresAt };
  } catch (err) {
    const sts = err instanceof StsError ? err : new StsError('Error', String(err), false);
    facts.stsError = `${sts.errorName}: ${sts.detail}`;
    if (recordedNew) {
      // A failed first vend ends its session: no active session without credentials.
      await ctx.store.endFailedSession(sessionId, ctx.now(), `first vend failed: ${sts.errorName}`).catch(() => undefined);
    }
    if (sts.throttled) {
      throw new ApiError('RATE_LIMITED', 'Too many requests; retry later.', { 'retry-after': '1' });
    }
    throw new ApiError('CREDENTIAL_ERROR', 'The credentials could not be issued.');
  }
}

/** Credentials of a windowed profile end with the window (its end minus STS's margin, at least the shortest lifetime). */
function capTo(wanted: number, until: Date, now: Date, facts: VendFacts): number {
  const left = Math.floor((until.getTime() - now.getTime()) / 1000);
  if (left < wanted) facts.windowCapped = true;
  return Math.min(wanted, left);
}

function storeFailed(ctx: VendContext, err: unknown, facts: VendFacts): void {
  if (!(err instanceof StoreError)) throw err;
  facts.storeFailure = true;
  const cause = err.cause as Error | undefined;
  facts.storeError = `${cause?.name ?? 'Error'}: ${String(cause?.message ?? '').slice(0, 300)}`;
  if (!ctx.settings.failOpen) {
    throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.');
  }
  // FAIL_OPEN: vend with the session tag anyway; the credentials stay revocable at IAM level.
}

function refusal(kind: 'NOT_FOUND' | 'FORBIDDEN' | 'REVOKED' | 'EXPIRED'): ApiError {
  switch (kind) {
    case 'NOT_FOUND': return new ApiError('SESSION_NOT_FOUND', 'The session does not exist.');
    case 'FORBIDDEN': return new ApiError('SESSION_FORBIDDEN', 'The session belongs to another principal or profile.');
    case 'REVOKED': return new ApiError('SESSION_REVOKED', 'The session has been revoked.');
    case 'EXPIRED': return new ApiError('SESSION_EXPIRED', 'The session has ended; start a new one.');
  }
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
