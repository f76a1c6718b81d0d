import { GetItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteRolePolicyCommand, GetRolePolicyCommand, PutRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import {
  canonical, desiredPolicy, isSafeSessionId, listedIds, MAX_LISTED_IDS, POLICY_BUDGET_CHARS, type PolicyKind,
} from './policy';
import { Attr, Indexes, REVOKED_SESSIONS_POLICY_NAME, Status } from '../../src/shared/contract';
import { loadConfig } from '../profiles';

/**
 * The revocation enforcer (SPEC §7): for each affected protected role, recomputes from the session table the
 * revoked sessions whose credentials may still be live, and writes the role's `SentinelRevokedSessions` inline
 * policy denying them, idempotently.
 */

export type LogLevel = 'INFO' | 'WARN' | 'ERROR';
export type EnforcerLog = (level: LogLevel, message: string, fields: Record<string, unknown>) => void;

export interface EnforcerDeps {
  readonly tableName: string;
  readonly ddb: DynamoDBClient;
  readonly iam: IAMClient;
  readonly now?: () => Date;
  readonly log?: EnforcerLog;
  /** Query page size (DynamoDB's 1 MB pages by default); tests make it small to cross pages. */
  readonly pageSize?: number;
  /** Roles processed at once. @default 4 */
  readonly concurrency?: number;
}

/** What happened to one role's policy: written as a list, written as the fallback, deleted, left as it was, or failed. */
export type RoleMode = PolicyKind | 'deleted' | 'unchanged' | 'failed';

export interface RoleOutcome {
  readonly role: string;
  /** Live revoked sessions of the role. */
  readonly ids: number;
  readonly mode: RoleMode;
  /** The policy in place after the run. */
  readonly policy?: PolicyKind | 'none';
  /** Fallback: credentials issued before this are denied. */
  readonly issuedBefore?: string;
  /** Error name and message (never credentials). */
  readonly error?: string;
}

export type Trigger = 'stream' | 'schedule' | 'other';

export interface EnforcementSummary {
  readonly trigger: Trigger;
  /** Stream: how many records the event had. */
  readonly records?: number;
  /** Stream: records that named no live or expired revoked session of this TVM's roles (nothing to recompute for them). */
  readonly ignoredRecords?: number;
  /** Revoked items read from the table (all roles, live or not). */
  readonly revokedItems: number;
  readonly roles: RoleOutcome[];
  readonly skipped: {
    /** Ids that are not safe tag values. */
    readonly invalidIds: number;
    /** Revoked sessions of roles outside this TVM's configuration. */
    readonly otherRoles: number;
    /** Revoked sessions whose role cannot be told. */
    readonly unknownRole: number;
    /** Revoked sessions whose credentials have all expired. */
    readonly expired: number;
  };
  readonly durationMs: number;
}

/** Thrown when any role's policy could not be written: the invocation fails, so that the stream batch is retried. */
export class EnforcementError extends Error {
  constructor(public readonly summary: EnforcementSummary) {
    super(`revoked-sessions policy not enforced on ${summary.roles.filter((r) => r.mode === 'failed')
      .map((r) => `${r.role} (${r.error})`).join(', ')}`);
    this.name = 'EnforcementError';
  }
}

/** Credentials of a revoked session with none of our expiry attributes (other tools) live at most this long after revocation. */
export const FALLBACK_LIVE_MS = 12 * 3600 * 1000;

const STATUS_INDEX = Indexes.find((i) => i.partitionKey === Attr.STATUS)!.name;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const MAX_LOGGED_INVALID_IDS = 10;
const SKIP_COUNTER = { invalidId: 'invalidIds', otherRole: 'otherRoles', unknownRole: 'unknownRole', expired: 'expired' } as const;

type Item = Record<string, AttributeValue | undefined>;
const str = (item: Item, name: string): string | undefined => (typeof item[name]?.S === 'string' ? item[name]!.S : undefined);
const parse = (value: string | undefined): number => (value === undefined ? NaN : Date.parse(value));

/** The role name IAM's APIs take: the last segment of the role ARN (after its path). */
export function roleNameOf(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf('/') + 1);
}

/**
 * The role of a session: `role_arn`; else the role of its `profile` in the configuration; else `profile` itself
 * when it is a role ARN (Sentinel records the role ARN as the profile).
 */
export function roleOfSession(item: Item, profileRoles: ReadonlyMap<string, string>): string | undefined {
  const roleArn = str(item, Attr.ROLE_ARN);
  if (roleArn) return roleArn;
  const profile = str(item, Attr.PROFILE);
  if (!profile) return undefined;
  return profileRoles.get(profile) ?? (ROLE_ARN.test(profile) ? profile : undefined);
}

/**
 * Until when credentials of a revoked session may be used (epoch ms): `credentials_expire_at`, else `expires_at`
 * (credentials never outlive their session), else the revocation (`revoked_at`, else `updated_at`) + 12 h.
 * Infinity when no timestamp can be read: kept in the policy rather than risk an under-revocation.
 */
export function liveUntil(item: Item): number {
  for (const name of [Attr.CREDENTIALS_EXPIRE_AT, Attr.EXPIRES_AT]) {
    const at = parse(str(item, name));
    if (!Number.isNaN(at)) return at;
  }
  const revoked = revokedAtOf(item);
  return Number.isNaN(revoked) ? Infinity : revoked + FALLBACK_LIVE_MS;
}

/** When the session was revoked (epoch ms), NaN when unknown. */
export function revokedAtOf(item: Item): number {
  const at = parse(str(item, Attr.REVOKED_AT));
  return Number.isNaN(at) ? parse(str(item, Attr.UPDATED_AT)) : at;
}

interface StreamRecordLike {
  readonly eventName?: string;
  readonly dynamodb?: { readonly NewImage?: Item; readonly OldImage?: Item };
}

/** A DynamoDB stream event (every record has a `dynamodb` part), a schedule (EventBridge), or anything else. */
export function triggerOf(event: unknown): { trigger: Trigger; records?: StreamRecordLike[] } {
  const e = event as { Records?: unknown; source?: unknown } | null | undefined;
  const records = e?.Records;
  if (Array.isArray(records) && records.length > 0
    && records.every((r) => r && typeof r === 'object' && r.dynamodb && typeof r.dynamodb === 'object')) {
    return { trigger: 'stream', records: records as StreamRecordLike[] };
  }
  return { trigger: e?.source === 'aws.events' ? 'schedule' : 'other' };
}

interface LiveSession {
  readonly id: string;
  readonly liveUntil: number;
  readonly revokedAt: number;
}

type Verdict =
  | { readonly kind: 'live'; readonly id: string; readonly role: string; readonly session: LiveSession }
  | { readonly kind: 'invalidId' | 'otherRole' | 'unknownRole' | 'expired' | 'notRevoked'; readonly id?: string };

export async function enforce(deps: EnforcerDeps, event: unknown): Promise<EnforcementSummary> {
  const now = (deps.now ?? (() => new Date()))();
  const log = deps.log ?? (() => undefined);
  const started = Date.now();
  const config = await loadConfig(deps.ddb, deps.tableName);
  const profileRoles = new Map([...config.profiles.values()].map((p) => [p.name, p.roleArn]));
  const tvmRoles = new Set(profileRoles.values());
  const skipped = { invalidIds: 0, otherRoles: 0, unknownRole: 0, expired: 0 };
  const invalidIds: string[] = [];

  const judge = (item: Item): Verdict => {
    const id = str(item, Attr.ID);
    if (str(item, Attr.STATUS) !== Status.REVOKED) return { kind: 'notRevoked', id };
    if (id === undefined || !isSafeSessionId(id)) return { kind: 'invalidId', id };
    const role = roleOfSession(item, profileRoles);
    if (!role) return { kind: 'unknownRole', id };
    if (!tvmRoles.has(role)) return { kind: 'otherRole', id };
    const until = liveUntil(item);
    if (until <= now.getTime()) return { kind: 'expired', id };
    return { kind: 'live', id, role, session: { id, liveUntil: until, revokedAt: revokedAtOf(item) } };
  };
  const count = (v: Verdict) => {
    if (v.kind === 'live' || v.kind === 'notRevoked') return;
    skipped[SKIP_COUNTER[v.kind]] += 1;
    if (v.kind === 'invalidId' && invalidIds.length < MAX_LOGGED_INVALID_IDS) invalidIds.push(String(v.id).slice(0, 80));
  };

  // Which roles: those of the records' revoked sessions, or all of this TVM's roles.
  const { trigger, records } = triggerOf(event);
  const affected = new Set<string>();
  /** Revoked sessions named by the records: confirmed from the table if the (eventually consistent) index lags. */
  const recordIds = new Set<string>();
  let ignoredRecords = 0;
  if (records) {
    for (const r of records) {
      const image = r.dynamodb?.NewImage;
      const v: Verdict = r.eventName === 'REMOVE' || !image ? { kind: 'notRevoked' } : judge(image);
      if (v.kind === 'live' || v.kind === 'expired') {
        affected.add(roleOfSession(image!, profileRoles)!);
        recordIds.add(str(image!, Attr.ID)!);
      } else {
        ignoredRecords += 1;
      }
    }
  } else {
    tvmRoles.forEach((r) => affected.add(r));
  }

  // The table decides, never the record: every revoked session, all pages of the status index.
  const byRole = new Map<string, Map<string, LiveSession>>();
  const add = (role: string, s: LiveSession) => {
    if (!byRole.has(role)) byRole.set(role, new Map());
    byRole.get(role)!.set(s.id, s);
  };
  let revokedItems = 0;
  const seen = new Set<string>();
  if (affected.size > 0) {
    for await (const item of revokedSessions(deps)) {
      revokedItems += 1;
      const v = judge(item);
      if (v.id !== undefined) seen.add(v.id);
      count(v);
      if (v.kind === 'live' && affected.has(v.role)) add(v.role, v.session);
    }
  }
  const confirm = async (id: string): Promise<Verdict> => {
    const out = await deps.ddb.send(new GetItemCommand({ TableName: deps.tableName, Key: { [Attr.ID]: { S: id } }, ConsistentRead: true }));
    return out.Item ? judge(out.Item) : { kind: 'notRevoked', id };
  };
  for (const id of recordIds) {
    if (seen.has(id)) continue;
    const v = await confirm(id);
    count(v);
    if (v.kind === 'live' && affected.has(v.role)) add(v.role, v.session);
  }

  const enforceRole = async (role: string): Promise<RoleOutcome> => {
    const sessions = byRole.get(role) ?? new Map<string, LiveSession>();
    try {
      const current = await getPolicy(deps.iam, role);
      // An id leaving the policy is confirmed from the table first: the index may not show a revocation yet.
      for (const id of listedIds(current)) {
        if (sessions.has(id)) continue;
        const v = await confirm(id);
        if (v.kind === 'live' && v.role === role) sessions.set(id, v.session);
      }
      const live = [...sessions.values()];
      // The latest revocation; unknown for any of them → now (denies more, never less).
      const revokedAt = live.reduce((latest, s) => Math.max(latest, Number.isNaN(s.revokedAt) ? now.getTime() : s.revokedAt), 0);
      const desired = desiredPolicy(live.map((s) => s.id), new Date(revokedAt));
      const base = { role, ids: live.length };
      if (!desired) {
        if (current === undefined) return { ...base, mode: 'unchanged', policy: 'none' };
        await deletePolicy(deps.iam, role);
        return { ...base, mode: 'deleted', policy: 'none' };
      }
      const fallback = desired.kind === 'fallback' ? { issuedBefore: desired.issuedBefore } : {};
      if (current !== undefined && canonical(current) === canonical(desired.document)) {
        return { ...base, mode: 'unchanged', policy: desired.kind, ...fallback };
      }
      if (desired.kind === 'fallback') {
        log('WARN', 'revoked sessions exceed the policy budget: denying every credential of the role issued before the latest revocation', {
          role,
          ids: live.length,
          issuedBefore: desired.issuedBefore,
          budgetChars: POLICY_BUDGET_CHARS,
          maxListedIds: MAX_LISTED_IDS,
        });
      }
      await deps.iam.send(new PutRolePolicyCommand({
        RoleName: roleNameOf(role),
        PolicyName: REVOKED_SESSIONS_POLICY_NAME,
        PolicyDocument: desired.document,
      }));
      return { ...base, mode: desired.kind, policy: desired.kind, ...fallback };
    } catch (err) {
      return { role, ids: sessions.size, mode: 'failed', error: describe(err) };
    }
  };
  const outcomes = await mapLimited([...affected].sort(), deps.concurrency ?? 4, enforceRole);

  if (invalidIds.length > 0) {
    log('WARN', 'revoked session ids skipped: not a safe session tag value', { count: skipped.invalidIds, ids: invalidIds });
  }
  const summary: EnforcementSummary = {
    trigger,
    ...(records ? { records: records.length, ignoredRecords } : {}),
    revokedItems,
    roles: outcomes,
    skipped,
    durationMs: Date.now() - started,
  };
  const failed = outcomes.some((o) => o.mode === 'failed');
  log(failed ? 'ERROR' : 'INFO', 'revoked-sessions enforcement', { ...summary });
  if (failed) throw new EnforcementError(summary);
  return summary;
}

/** The handler of the enforcer Lambda: one enforcement per invocation; rejects when any role failed. */
export function createEnforcer(deps: EnforcerDeps): (event: unknown) => Promise<EnforcementSummary> {
  return async (event) => {
    try {
      return await enforce(deps, event);
    } catch (err) {
      // Role failures were logged with the summary; anything else (config, table) is logged here.
      if (!(err instanceof EnforcementError)) deps.log?.('ERROR', 'revoked-sessions enforcement failed', { error: describe(err) });
      throw err;
    }
  };
}

async function* revokedSessions(deps: EnforcerDeps): AsyncGenerator<Item> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const out = await deps.ddb.send(new QueryCommand({
      TableName: deps.tableName,
      IndexName: STATUS_INDEX,
      KeyConditionExpression: '#status = :revoked',
      ProjectionExpression: '#id, #status, #profile, #role, #cexp, #exp, #rat, #uat',
      ExpressionAttributeNames: {
        '#id': Attr.ID,
        '#status': Attr.STATUS,
        '#profile': Attr.PROFILE,
        '#role': Attr.ROLE_ARN,
        '#cexp': Attr.CREDENTIALS_EXPIRE_AT,
        '#exp': Attr.EXPIRES_AT,
        '#rat': Attr.REVOKED_AT,
        '#uat': Attr.UPDATED_AT,
      },
      ExpressionAttributeValues: { ':revoked': { S: Status.REVOKED } },
      ExclusiveStartKey: startKey,
      Limit: deps.pageSize,
    }));
    yield* out.Items ?? [];
    startKey = out.LastEvaluatedKey;
  } while (startKey);
}

/** The role's revoked-sessions policy as IAM holds it (URL-decoded), undefined when there is none. */
async function getPolicy(iam: IAMClient, role: string): Promise<string | undefined> {
  try {
    const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleNameOf(role), PolicyName: REVOKED_SESSIONS_POLICY_NAME }));
    return out.PolicyDocument === undefined ? undefined : decodeURIComponent(out.PolicyDocument);
  } catch (err) {
    if (isNoSuchEntity(err)) return undefined;
    throw err;
  }
}

async function deletePolicy(iam: IAMClient, role: string): Promise<void> {
  try {
    await iam.send(new DeleteRolePolicyCommand({ RoleName: roleNameOf(role), PolicyName: REVOKED_SESSIONS_POLICY_NAME }));
  } catch (err) {
    if (!isNoSuchEntity(err)) throw err; // deleted meanwhile: the outcome wanted
  }
}

const isNoSuchEntity = (err: unknown) => (err as Error)?.name === 'NoSuchEntityException' || (err as Error)?.name === 'NoSuchEntity';

function describe(err: unknown): string {
  const e = err as Error;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)}`;
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
