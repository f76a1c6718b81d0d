import { GetItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteRolePolicyCommand, GetRolePolicyCommand, ListRolePoliciesCommand, PutRolePolicyCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { LeaseBusyError, leaseWaitMs, withLease, type EnforcerLease } from './lease';
import { ORGANIZATION_TARGET, type EnforcerMetrics } from './metrics';
import type { OrganizationPolicies } from './organization';
import {
  canonical, deniedBy, desiredPolicy, desiredScp, fallbackFor, isPlaceholder, isSafeSessionId, listedIds, listPolicy, MAX_LISTED_IDS, MAX_SCP_IDS,
  organizationPlaceholderPolicy, policySize, roleBudget, spokePlaceholderPolicy, type DesiredPolicy, type PolicyKind,
} from './policy';
import { isRejectedCredentials, type IamFor } from './spokes';
import {
  isCloudTrailEvent, judgeCloudTrailEvent, needsReenforcement, tamperDetected, type CloudTrailEventBridgeEvent, type TamperContext,
  type TamperDismissal, type TamperKind,
} from './tamper';
import { AccessAttr } from '../../src/shared/access';
import { Attr, EnforcementMechanisms, Env, Indexes, SCP_MAX_CHARS, Status, type ProfileConfig } from '../../src/shared/contract';
import {
  revocationEnforced, revocationEnforcementFailed, type EnforcedDeny, type EventEntry, type EventTarget, type FailedDeny,
} from '../events/entries';
import type { EventsFailedMetric } from '../events/metrics';
import type { EventPublisher } from '../events/publish';
import type { TvmConfig } from '../profiles';

/**
 * The revocation enforcer: for each affected protected role, recomputes from the session table the
 * revoked sessions whose credentials may still be live, and writes this TVM's revoked-sessions inline policy on the
 * role denying them, idempotently: a list of ids when it fits the role's remaining inline-policy room, else a fallback.
 * Roles of other accounts (spokes) are written with the credentials of their account's spoke enforcement role; each
 * account on its own, so that one account's failure or slowness never delays another's deny. In organization mode, the
 * organization SCP denies every live revoked session of this TVM as well.
 */

export type LogLevel = 'INFO' | 'WARN' | 'ERROR';
export type EnforcerLog = (level: LogLevel, message: string, fields: Record<string, unknown>) => void;

/** What the enforcer needs of the configuration ({@link TvmConfig} is one): the profiles' roles and the roles they chain into. */
export interface EnforcerConfig {
  readonly profiles: ReadonlyMap<string, ProfileConfig>;
}

export interface EnforcerDeps {
  readonly tableName: string;
  readonly ddb: DynamoDBClient;
  /** IAM in the enforcer's own {@link account}. */
  readonly iam: IAMClient;
  /**
   * IAM in another account, acting as its spoke enforcement role (`spokeIamClients`, `SENTINEL_SPOKE_ROLE`).
   * @default - none: the roles of other accounts fail (no spoke)
   */
  readonly iamFor?: IamFor;
  /** Organization mode: the SCP (`SENTINEL_ORGANIZATION_POLICY_ID`) also denies every live revoked session. @default - none */
  readonly organization?: { readonly policyId: string; readonly client: OrganizationPolicies };
  /**
   * This TVM's revoked-sessions policy name (`revokedSessionsPolicyName(serviceName, region)`): the only inline policy it reads
   * as its own, writes or deletes, so that two TVMs sharing a role never undo each other's deny. The role's other inline
   * policies are only read for their size.
   */
  readonly policyName: string;
  /**
   * The IAM path of this TVM's ProtectedRoles (`/sentinel-tvm/<serviceName>/`). A revoked session whose role is no
   * longer in the configuration (replaced, or its profile removed) is still denied on that role when it lies under this
   * path in {@link account}, in one of {@link spokeAccounts}, or in an account of a configured role: its credentials may
   * live. @default - only the configuration's roles
   */
  readonly protectedRolePath?: string;
  /**
   * The hub's spoke accounts (`SENTINEL_SPOKE_ACCOUNTS`): roles under {@link protectedRolePath} there are followed as in
   * the own account, even once no configured role is left in that account. @default - none
   */
  readonly spokeAccounts?: readonly string[];
  /**
   * The account the enforcer runs in, whose roles {@link iam} writes; every other account's through {@link iamFor}.
   * @default - the account of the Lambda context's function ARN; unknown, every role (with a readable ARN) is written with {@link iam}
   */
  readonly account?: string;
  /** This TVM's configuration, read on every run so that a changed role is seen (the entry point verifies it). */
  readonly loadConfig: () => Promise<EnforcerConfig>;
  /** Receives each run's failed roles (EMF metrics in Lambda). @default - nowhere */
  readonly metrics?: EnforcerMetrics;
  readonly now?: () => Date;
  readonly log?: EnforcerLog;
  /** Query page size (DynamoDB's 1 MB pages by default); tests make it small to cross pages. */
  readonly pageSize?: number;
  /** Roles processed at once in each account (accounts run side by side). @default 4 */
  readonly concurrency?: number;
  /**
   * Lets one run at a time read and write the policies ({@link createEnforcer} takes it before the configuration, the
   * table or any policy is read). @default - none: runs are not serialized
   */
  readonly lease?: EnforcerLease;
  /**
   * Session events of each run (`SENTINEL_TVM_NAME` set): `Revocation Enforced` for each session newly denied on a role (or
   * by the SCP), `Revocation Enforcement Failed` for each role (or the SCP) whose write failed. @default - no events
   */
  readonly events?: EnforcerEvents;
  /**
   * What tells tampering from the enforcer's own work, for the CloudTrail events the tamper rules deliver. @default - those
   * events are judged with the policy name and protected path only
   */
  readonly tamper?: TamperRoles | ((account: string | undefined) => TamperRoles);
  /** Counts each tampering finding by kind (`TamperEvents`). @default - nowhere */
  readonly tamperMetrics?: (kind: TamperKind) => void;
}

/**
 * Where the enforcer's events go. They are put at the end of a run, within {@link EnforcerEvents.timeoutMs}: what cannot be
 * put is logged and counted (`EventsFailed`), and never fails or holds up the run beyond that.
 */
/** Whose CloudTrail events are the TVM's own work (the rest of the tamper context comes from the other dependencies). */
export type TamperRoles = Pick<TamperContext, 'vendRoleArn' | 'enforcerRoleArns'>;

/** What a tamper rule's CloudTrail event led to. */
export interface TamperOutcome {
  /** The finding's kind, or why the event was not tampering. */
  readonly judged: TamperKind | TamperDismissal;
  /** `enforced`, `failed`, `deferred` (another run held the lease), or `not-needed` (nothing it writes changed, or no finding). */
  readonly reenforcement: 'enforced' | 'failed' | 'deferred' | 'not-needed';
}

export interface EnforcerEvents {
  readonly target: EventTarget;
  readonly publish: EventPublisher;
  /** @default - nowhere */
  readonly eventsFailed?: EventsFailedMetric;
  /** @default 3,000 */
  readonly timeoutMs?: number;
}

/** The events of a run: how many it had to put, and how many were not put. */
export interface EventsOutcome {
  readonly emitted: number;
  readonly failed: number;
}

/**
 * What happened to one role's policy: written as a list, written as the fallback, deleted, `cleared` (replaced by the
 * deny-nothing placeholder: a spoke account's role, whose template declares the policy), left as it was, failed, or
 * `gone`: a role no longer in the configuration that IAM no longer has (its credentials no longer work either).
 */
export type RoleMode = PolicyKind | 'deleted' | 'cleared' | 'unchanged' | 'gone' | 'failed';

export interface RoleOutcome {
  readonly role: string;
  /** The role's account (from its ARN). */
  readonly account?: string;
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

/** What happened to the organization SCP: written as a list or the fallback, `cleared` (the placeholder), unchanged, failed. */
export interface OrganizationOutcome {
  readonly policyId: string;
  /** Live revoked sessions of this TVM, of every role and account. */
  readonly ids: number;
  readonly mode: PolicyKind | 'cleared' | 'unchanged' | 'failed';
  /** The content in place after the run (`none`: the placeholder). */
  readonly policy?: PolicyKind | 'none';
  /** Fallback: credentials issued before this are denied. */
  readonly issuedBefore?: string;
  readonly error?: string;
}

export type Trigger = 'stream' | 'schedule' | 'tamper' | 'other';

export interface EnforcementSummary {
  readonly trigger: Trigger;
  /** Stream: how many records the event had. */
  readonly records?: number;
  /** Stream: records that named no live or expired revoked session of this TVM's roles (nothing to recompute for them). */
  readonly ignoredRecords?: number;
  /** Revoked items read from the table (all roles, live or not). */
  readonly revokedItems: number;
  readonly roles: RoleOutcome[];
  /** Organization mode, when the run had revocations to look at (every schedule). */
  readonly organization?: OrganizationOutcome;
  /** With {@link EnforcerDeps.events}: the run's events. */
  readonly events?: EventsOutcome;
  /** A CloudTrail event (trigger `tamper`): what the enforcer judged it, and how the re-enforcement it started went. */
  readonly tamper?: TamperOutcome;
  readonly skipped: {
    /** Ids that are not safe tag values. */
    readonly invalidIds: number;
    /**
     * Revoked sessions of roles neither in this TVM's configuration nor under its protected role path (in its own account,
     * a spoke account, or an account of a configured role).
     */
    readonly otherRoles: number;
    /** Revoked sessions whose role cannot be told. */
    readonly unknownRole: number;
    /** Revoked sessions whose credentials have all expired. */
    readonly expired: number;
    /**
     * Live revoked sessions of roles whose every profile is `unenforced` (revocation does not reach their issued
     * credentials): no role policy is written for them (the organization SCP, in that mode, still denies them).
     */
    readonly unenforced: number;
  };
  readonly durationMs: number;
}

/** Thrown when any role's policy (or the SCP) could not be written: the invocation fails, so that the stream batch is retried. */
export class EnforcementError extends Error {
  constructor(public readonly summary: EnforcementSummary) {
    const failed = summary.roles.filter((r) => r.mode === 'failed').map((r) => `${r.role} (${r.error})`);
    const org = summary.organization;
    const scp = org?.mode === 'failed' ? [`the organization SCP ${org.policyId} (${org.error})`] : [];
    super(`revoked-sessions policy not enforced on ${[...failed, ...scp].join(', ')}`);
    this.name = 'EnforcementError';
  }
}

/** How long the events of a run may take to put, by default: a few seconds, so that they never hold a run up for long. */
export const EVENTS_TIMEOUT_MS = 3_000;

/** Credentials of a revoked session with none of our expiry attributes (other tools) live at most this long after revocation. */
export const FALLBACK_LIVE_MS = 12 * 3600 * 1000;

const STATUS_INDEX = Indexes.find((i) => i.partitionKey === Attr.STATUS)!.name;
/** A role ARN: IAM's path (`/`, or `/` and any of \u0021-\u007E then `/`, at most 512) and the role's name. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\u0021-\u007e]{1,510}\/)?[\w+=,.@-]{1,64}$/;
const MAX_LOGGED_INVALID_IDS = 10;
const SKIP_COUNTER = { invalidId: 'invalidIds', otherRole: 'otherRoles', unknownRole: 'unknownRole', expired: 'expired' } as const;
/** Roles of another account when no spoke role is configured. */
const NO_SPOKE = 'NoSpoke';
/** A role whose ARN names no account the enforcer can read: never written, rather than written in the wrong account. */
const INVALID_ROLE_ARN = 'InvalidRoleArn';

type Item = Record<string, AttributeValue | undefined>;
const str = (item: Item, name: string): string | undefined => (typeof item[name]?.S === 'string' ? item[name]!.S : undefined);
const parse = (value: string | undefined): number => (value === undefined ? NaN : Date.parse(value));

/** The role name IAM's APIs take: the last segment of the role ARN (after its path). */
export function roleNameOf(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf('/') + 1);
}

/** The account of a role ARN, undefined when it is not one. */
export function accountOf(roleArn: string): string | undefined {
  return ROLE_ARN.exec(roleArn)?.[1];
}

/** The partition of an ARN (`aws`, `aws-cn`, …). */
const partitionOf = (arn: string): string => arn.split(':')[1] || 'aws';

/**
 * Whether a role ARN lies in `account` (or one of `accounts`) under the IAM path `path` (`/a/b/` covers `role/a/b/Name` and
 * `role/a/b/c/Name`, not `role/a/bc/Name`).
 */
export function isUnderPath(roleArn: string, path: string | undefined, account: string | ReadonlySet<string> | undefined): boolean {
  const m = ROLE_ARN.exec(roleArn);
  const inAccount = typeof account === 'string' ? m?.[1] === account : !!m && !!account?.has(m[1]);
  if (!path || !m || !inAccount) return false;
  const rolePath = roleArn.slice(roleArn.indexOf(':role/') + ':role'.length, roleArn.lastIndexOf('/') + 1);
  return rolePath.startsWith(path);
}

/**
 * The roles a revoked session of each configured role is denied on: the role, and every role the profiles using it may
 * chain into (the session tag is transitive, so chained credentials carry the revoked id).
 */
export function denyTargets(profiles: Iterable<ProfileConfig>): Map<string, string[]> {
  const targets = new Map<string, Set<string>>();
  for (const p of profiles) {
    const roles = targets.get(p.roleArn) ?? new Set([p.roleArn]);
    (p.chainRoleArns ?? []).forEach((chain) => roles.add(chain));
    targets.set(p.roleArn, roles);
  }
  return new Map([...targets].map(([role, roles]) => [role, [...roles]]));
}

/**
 * The roles whose every profile is `unenforced` (revocation does not reach their issued credentials): no deny is written
 * on them for their own sessions.
 */
export function unenforcedRoles(profiles: Iterable<ProfileConfig>): Set<string> {
  const enforced = new Set<string>();
  const opted = new Set<string>();
  for (const p of profiles) (p.unenforced ? opted : enforced).add(p.roleArn);
  return new Set([...opted].filter((role) => !enforced.has(role)));
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
  // A grant (approval, break-glass) never activated never had credentials: nothing to deny, however long its window.
  if (str(item, AccessAttr.GRANT_KIND) !== undefined && str(item, AccessAttr.ACTIVATED_AT) === undefined) return 0;
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

type LiveVerdict = { readonly kind: 'live'; readonly id: string; readonly role: string; readonly session: LiveSession };
type Verdict =
  | LiveVerdict
  | { readonly kind: 'expired'; readonly id: string; readonly role: string }
  | { readonly kind: 'invalidId' | 'otherRole' | 'unknownRole' | 'notRevoked'; readonly id?: string };

export async function enforce(deps: EnforcerDeps, event: unknown): Promise<EnforcementSummary> {
  const clock = deps.now ?? (() => new Date());
  const now = clock();
  const log = deps.log ?? (() => undefined);
  const started = Date.now();
  const config = await deps.loadConfig();
  const profiles = [...config.profiles.values()];
  const profileRoles = new Map(profiles.map((p) => [p.name, p.roleArn]));
  const tvmRoles = new Set(profileRoles.values());
  const unenforced = unenforcedRoles(profiles);
  const targets = denyTargets(profiles.filter((p) => !unenforced.has(p.roleArn)));
  /**
   * Where a session of this role is denied: a role outside the configuration (under the path) only on itself, a role
   * whose every profile is unenforced nowhere.
   */
  const targetsOf = (role: string): readonly string[] => (unenforced.has(role) ? [] : targets.get(role) ?? [role]);
  const configuredRoles = new Set([...targets.values()].flat());
  // A role left from the configuration is followed in the accounts this TVM writes in: its own, its spokes', its roles'.
  const pathAccounts = new Set([deps.account, ...deps.spokeAccounts ?? [], ...[...configuredRoles].map(accountOf)].filter((a): a is string => !!a));
  const skipped = { invalidIds: 0, otherRoles: 0, unknownRole: 0, expired: 0, unenforced: 0 };
  const invalidIds: string[] = [];

  const judge = (item: Item): Verdict => {
    const id = str(item, Attr.ID);
    if (str(item, Attr.STATUS) !== Status.REVOKED) return { kind: 'notRevoked', id };
    if (id === undefined || !isSafeSessionId(id)) return { kind: 'invalidId', id };
    const role = roleOfSession(item, profileRoles);
    if (!role) return { kind: 'unknownRole', id };
    // A role that left the configuration may still have live credentials; it is ours to write only under our path.
    if (!tvmRoles.has(role) && !isUnderPath(role, deps.protectedRolePath, pathAccounts)) return { kind: 'otherRole', id };
    const until = liveUntil(item);
    if (until <= now.getTime()) return { kind: 'expired', id, role };
    return { kind: 'live', id, role, session: { id, liveUntil: until, revokedAt: revokedAtOf(item) } };
  };
  const count = (v: Verdict) => {
    if (v.kind === 'notRevoked') return;
    if (v.kind === 'live') {
      if (unenforced.has(v.role)) skipped.unenforced += 1;
      return;
    }
    skipped[SKIP_COUNTER[v.kind]] += 1;
    if (v.kind === 'invalidId' && invalidIds.length < MAX_LOGGED_INVALID_IDS) invalidIds.push(String(v.id).slice(0, 80));
  };

  // Which roles: those of the records' revoked sessions, or all of this TVM's roles (and, below, those left from the config).
  const { trigger, records } = triggerOf(event);
  const affected = new Set<string>();
  const affect = (role: string) => targetsOf(role).forEach((r) => affected.add(r));
  /** Revoked sessions named by the records: confirmed from the table if the (eventually consistent) index lags. */
  const recordIds = new Set<string>();
  let ignoredRecords = 0;
  if (records) {
    for (const r of records) {
      const image = r.dynamodb?.NewImage;
      const v: Verdict = r.eventName === 'REMOVE' || !image ? { kind: 'notRevoked' } : judge(image);
      if (v.kind === 'live' || v.kind === 'expired') {
        affect(v.role);
        recordIds.add(v.id);
      } else {
        ignoredRecords += 1;
      }
    }
  } else {
    tvmRoles.forEach(affect);
  }
  // The SCP is recomputed by every schedule, and by a stream batch with a revocation of this TVM (unenforced ones too).
  const organization = deps.organization && (!records || recordIds.size > 0) ? deps.organization : undefined;

  // The table decides, never the record: every revoked session, all pages of the status index.
  const live: LiveVerdict[] = [];
  let revokedItems = 0;
  const seen = new Set<string>();
  if (affected.size > 0 || !records || organization) {
    for await (const item of revokedSessions(deps)) {
      revokedItems += 1;
      const v = judge(item);
      if (v.id !== undefined) seen.add(v.id);
      count(v);
      // The schedule also visits roles left from the configuration that revoked sessions name, expired ones included,
      // so that their deny is pruned once the credentials have expired.
      if (!records && (v.kind === 'live' || v.kind === 'expired')) affect(v.role);
      if (v.kind === 'live') live.push(v);
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
    if (v.kind === 'live') live.push(v);
  }
  const byRole = new Map<string, Map<string, LiveSession>>();
  for (const v of live) {
    for (const role of targetsOf(v.role)) {
      if (!affected.has(role)) continue;
      if (!byRole.has(role)) byRole.set(role, new Map());
      byRole.get(role)!.set(v.id, v.session);
    }
  }
  /** The role (or the SCP) each session was newly denied on this run, and when: `Revocation Enforced` events. */
  const enforced: EnforcedDeny[] = [];
  /** Each role's live revoked sessions as its enforcement knew them (those its policy listed included): for failure events. */
  const wanted = new Map<string, ReadonlyMap<string, LiveSession>>();
  /** The role of each live revoked session (the SCP's events name it). */
  const sessionRoles = new Map(live.map((v) => [v.id, v.role]));
  /** Records the sessions a write newly denies: those the document read before it did not deny already. */
  const newlyDenied = (held: string | undefined, sessions: LiveSession[], target: (s: LiveSession) => Omit<EnforcedDeny, 'enforcedAt'>) => {
    const enforcedAt = clock();
    const before = deniedBy(held);
    for (const s of sessions) if (!before(s)) enforced.push({ ...target(s), enforcedAt });
  };
  /** The latest revocation; unknown for any of them → now (the fallback then denies more, never less). */
  const latestRevocation = (sessions: LiveSession[]) =>
    new Date(sessions.reduce((latest, s) => Math.max(latest, Number.isNaN(s.revokedAt) ? now.getTime() : s.revokedAt), 0));

  /**
   * @param spoke a role of a spoke account: its template declares the policy, so "none" is the placeholder, not deletion
   * @param rejected receives the role when IAM refused the client's credentials
   */
  const enforceRole = async (role: string, iam: IAMClient, spoke: boolean, rejected?: Set<string>): Promise<RoleOutcome> => {
    const sessions = byRole.get(role) ?? new Map<string, LiveSession>();
    wanted.set(role, sessions);
    const account = accountOf(role);
    const { policyName } = deps;
    const deny = (s: LiveSession) => ({
      sessionId: s.id, roleArn: role, account: account ?? '', mechanism: EnforcementMechanisms.ROLE_POLICY, revokedAt: s.revokedAt,
    });
    try {
      const current = await getPolicy(iam, role, policyName);
      // The spoke template's placeholder denies nothing: it counts as no policy.
      const held = isPlaceholder(current) ? undefined : current;
      // An id leaving the policy is confirmed from the table first: the index may not show a revocation yet.
      for (const id of listedIds(held)) {
        if (sessions.has(id)) continue;
        const v = await confirm(id);
        if (v.kind === 'live' && targetsOf(v.role).includes(role)) sessions.set(id, v.session);
      }
      const liveSessions = [...sessions.values()];
      const base = { role, ...(account ? { account } : {}), ids: liveSessions.length };
      const outcome = (mode: RoleMode, p: DesiredPolicy): RoleOutcome =>
        ({ ...base, mode, policy: p.kind, ...(p.issuedBefore ? { issuedBefore: p.issuedBefore } : {}) });
      const inPlace = (p: DesiredPolicy) => held !== undefined && canonical(held) === canonical(p.document);
      if (liveSessions.length === 0) {
        if (held === undefined) return { ...base, mode: 'unchanged', policy: 'none' };
        if (spoke) {
          if (!await putPolicy(iam, role, policyName, spokePlaceholderPolicy())) return gone(role, base);
          return { ...base, mode: 'cleared', policy: 'none' };
        }
        await deletePolicy(iam, role, policyName);
        return { ...base, mode: 'deleted', policy: 'none' };
      }
      const ids = liveSessions.map((s) => s.id);
      // The list already in place was accepted by IAM beside the role's other policies: nothing to measure or write.
      const list: DesiredPolicy = { kind: 'list', document: listPolicy(ids) };
      if (inPlace(list)) return outcome('unchanged', list);

      // The room IAM leaves this policy: its limit minus what the role's other inline policies take.
      const otherChars = await otherPoliciesSize(iam, role, policyName);
      if (otherChars === undefined) return gone(role, base);
      const budgetChars = roleBudget(otherChars);
      const revokedAt = latestRevocation(liveSessions);
      const desired = desiredPolicy(ids, revokedAt, budgetChars)!;
      if (inPlace(desired)) return outcome('unchanged', desired);
      if (desired.kind === 'fallback') {
        log('WARN', 'revoked sessions exceed the policy budget: denying every credential of the role issued before the latest revocation', {
          role,
          ids: liveSessions.length,
          issuedBefore: desired.issuedBefore,
          budgetChars,
          otherPoliciesChars: otherChars,
          maxListedIds: MAX_LISTED_IDS,
        });
      }
      try {
        if (!await putPolicy(iam, role, policyName, desired.document)) return gone(role, base);
        newlyDenied(held, liveSessions, deny);
        return outcome(desired.kind, desired);
      } catch (err) {
        // Another inline policy of the role grew since it was measured (or IAM counts differently): the fallback is small.
        if (desired.kind !== 'list' || !isLimitExceeded(err)) throw err;
        const fallback = fallbackFor(revokedAt);
        log('WARN', 'IAM refused the list of revoked sessions (inline policies of the role over its limit): writing the fallback', {
          role,
          ids: liveSessions.length,
          issuedBefore: fallback.issuedBefore,
          budgetChars,
          otherPoliciesChars: otherChars,
          error: describe(err),
        });
        if (inPlace(fallback)) return outcome('unchanged', fallback);
        if (!await putPolicy(iam, role, policyName, fallback.document)) return gone(role, base);
        newlyDenied(held, liveSessions, deny);
        return outcome('fallback', fallback);
      }
    } catch (err) {
      if (isRejectedCredentials(err)) rejected?.add(role);
      return failedRole(role, sessions.size, describe(err));
    }
  };
  const failedRole = (role: string, ids: number, error: string): RoleOutcome => {
    const account = accountOf(role);
    return { role, ...(account ? { account } : {}), ids, mode: 'failed', error };
  };
  /**
   * The role does not exist. A role left from the configuration is then gone with its credentials; a configured role
   * (or chain role) must exist: loud.
   */
  const gone = (role: string, base: { role: string; account?: string; ids: number }): RoleOutcome => {
    if (!configuredRoles.has(role)) return { ...base, mode: 'gone', policy: 'none' };
    const where = base.account ? `account ${base.account}` : 'this account';
    return { ...base, mode: 'failed', error: `NoSuchEntity: the role ${roleNameOf(role)} of the configuration does not exist in ${where}` };
  };

  /**
   * One account's roles, on their own limiter: its client first (a spoke's role assumed, or taken from the cache); when
   * that fails, every role of the account fails with the error, and no other account waits for it.
   */
  const enforceAccount = async (account: string | undefined, roles: string[]): Promise<RoleOutcome[]> => {
    const fail = (error: string) => roles.map((role) => failedRole(role, byRole.get(role)?.size ?? 0, error));
    // Never guessed to be the own account: the hub's client would write the hub's role of the same name.
    if (account === undefined) {
      return fail(`${INVALID_ROLE_ARN}: not a role ARN whose account can be read (arn:<partition>:iam::<12-digit account>:role/<path><name>)`);
    }
    const concurrency = deps.concurrency ?? 4;
    if (deps.account === undefined || account === deps.account) return mapLimited(roles, concurrency, (role) => enforceRole(role, deps.iam, false));
    if (!deps.iamFor) {
      return fail(`${NO_SPOKE}: the role is in account ${account}, which has no spoke `
        + `of this TVM (${Env.SPOKE_ROLE} is not set): deploy a SentinelTvmSpoke in that account to deny its revoked sessions`);
    }
    const partition = partitionOf(roles[0]);
    let iam: IAMClient;
    try {
      iam = await deps.iamFor(account, partition);
    } catch (err) {
      return fail(describe(err));
    }
    const rejected = new Set<string>();
    const outcomes = await mapLimited(roles, concurrency, (role) => enforceRole(role, iam, true, rejected));
    if (rejected.size === 0) return outcomes;
    // IAM refused the (cached) credentials, which spokeIamClients then dropped: assumed again, those roles are retried
    // once in this run, rather than waiting for the next run (the stream's retry, or the schedule) to deny them.
    const again = [...rejected];
    log('WARN', 'IAM refused the spoke enforcement role\'s credentials: assuming it again and retrying the account\'s roles once', {
      account, roles: again.length, error: outcomes.find((o) => o.role === again[0])?.error,
    });
    let retried: RoleOutcome[];
    try {
      const fresh = await deps.iamFor(account, partition);
      retried = await mapLimited(again, concurrency, (role) => enforceRole(role, fresh, true));
    } catch (err) {
      retried = again.map((role) => failedRole(role, byRole.get(role)?.size ?? 0, describe(err)));
    }
    const byName = new Map(retried.map((o) => [o.role, o]));
    return outcomes.map((o) => byName.get(o.role) ?? o);
  };

  /**
   * The organization SCP: every live revoked session of this TVM, of any role and account. Roles whose profiles are all
   * unenforced are included: no role policy reaches their credentials, the SCP is the only deny they get.
   */
  let scpWanted: ReadonlyMap<string, LiveSession> = new Map();
  const enforceOrganization = async ({ policyId, client }: NonNullable<EnforcerDeps['organization']>): Promise<OrganizationOutcome> => {
    const sessions = new Map(live.map((v) => [v.id, v.session]));
    try {
      const current = await client.describePolicy(policyId);
      // Ids leaving the SCP are confirmed from the table first (the index may lag), several at a time: it lists hundreds.
      const leaving = listedIds(current).filter((id) => !sessions.has(id));
      for (const v of await mapLimited(leaving, 8, confirm)) {
        if (v.kind !== 'live') continue;
        sessions.set(v.id, v.session);
        sessionRoles.set(v.id, v.role);
      }
      const liveSessions = [...sessions.values()];
      const base = { policyId, ids: liveSessions.length };
      const desired = desiredScp(liveSessions.map((s) => s.id), latestRevocation(liveSessions));
      const document = desired?.document ?? organizationPlaceholderPolicy();
      const after = { policy: desired?.kind ?? 'none' as const, ...(desired?.issuedBefore ? { issuedBefore: desired.issuedBefore } : {}) };
      if (canonical(current) === canonical(document)) return { ...base, mode: 'unchanged', ...after };
      if (desired?.kind === 'fallback') {
        log('WARN', 'revoked sessions exceed the SCP\'s size: denying every TVM credential in the organization issued before the latest revocation', {
          policyId, ids: liveSessions.length, issuedBefore: desired.issuedBefore, maxChars: SCP_MAX_CHARS, maxScpIds: MAX_SCP_IDS,
        });
      }
      await client.updatePolicy(policyId, document);
      if (desired) {
        newlyDenied(isPlaceholder(current) ? undefined : current, liveSessions, (s) => ({
          sessionId: s.id,
          roleArn: sessionRoles.get(s.id) ?? '',
          account: ORGANIZATION_TARGET,
          mechanism: EnforcementMechanisms.ORGANIZATION_SCP,
          revokedAt: s.revokedAt,
        }));
      }
      return { ...base, mode: desired?.kind ?? 'cleared', ...after };
    } catch (err) {
      scpWanted = sessions;
      return { policyId, ids: sessions.size, mode: 'failed', error: describe(err) };
    }
  };

  // Each account on its own, and the SCP beside them: one that fails or is slow never stops or delays the others.
  const byAccount = new Map<string | undefined, string[]>();
  for (const role of [...affected].sort()) {
    const account = accountOf(role);
    byAccount.set(account, [...byAccount.get(account) ?? [], role]);
  }
  const [scp, ...perAccount] = await Promise.all([
    organization ? enforceOrganization(organization) : Promise.resolve(undefined),
    ...[...byAccount].map(([account, roles]) => enforceAccount(account, roles)),
  ]);
  const outcomes = perAccount.flat().sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0));

  if (invalidIds.length > 0) {
    log('WARN', 'revoked session ids skipped: not a safe session tag value', { count: skipped.invalidIds, ids: invalidIds });
  }
  let events: EventsOutcome | undefined;
  if (deps.events) {
    const failedAt = clock();
    const failures: FailedDeny[] = outcomes.filter((o) => o.mode === 'failed' && o.account).map((o) => ({
      roleArn: o.role,
      account: o.account!,
      mechanism: EnforcementMechanisms.ROLE_POLICY,
      sessionIds: [...(wanted.get(o.role) ?? byRole.get(o.role) ?? new Map()).keys()],
      error: errorName(o.error),
      failedAt,
    }));
    if (scp?.mode === 'failed') {
      // One per role of the sessions the SCP should deny: the SCP's events name the session's role.
      const byItsRole = new Map<string, string[]>();
      for (const id of scpWanted.keys()) {
        const role = sessionRoles.get(id);
        if (role) byItsRole.set(role, [...byItsRole.get(role) ?? [], id]);
      }
      for (const [role, ids] of [...byItsRole].sort()) {
        failures.push({
          roleArn: role,
          account: ORGANIZATION_TARGET,
          mechanism: EnforcementMechanisms.ORGANIZATION_SCP,
          sessionIds: ids,
          error: errorName(scp.error),
          failedAt,
        });
      }
    }
    events = await putRunEvents(deps.events, [
      ...enforced.map((d) => revocationEnforced(d, deps.events!.target)),
      ...failures.map((f) => revocationEnforcementFailed(f, deps.events!.target)),
    ], log);
  }
  const summary: EnforcementSummary = {
    trigger,
    ...(records ? { records: records.length, ignoredRecords } : {}),
    revokedItems,
    roles: outcomes,
    ...(scp ? { organization: scp } : {}),
    ...(events ? { events } : {}),
    skipped,
    durationMs: Date.now() - started,
  };
  const failed = outcomes.filter((o) => o.mode === 'failed');
  const failedAccounts: Record<string, number> = {};
  for (const o of failed) {
    const account = o.account ?? deps.account ?? 'unknown';
    failedAccounts[account] = (failedAccounts[account] ?? 0) + 1;
  }
  if (scp?.mode === 'failed') failedAccounts[ORGANIZATION_TARGET] = 1;
  // Every run reports its count, 0 included, so that an alarm on it has data rather than a gap.
  deps.metrics?.(failed.map((o) => roleNameOf(o.role)), failedAccounts);
  const anyFailed = failed.length > 0 || scp?.mode === 'failed';
  log(anyFailed ? 'ERROR' : 'INFO', 'revoked-sessions enforcement', { ...summary });
  if (anyFailed) throw new EnforcementError(summary);
  return summary;
}

/** The name (or code) of an error as {@link describe} wrote it: what precedes its first colon. */
function errorName(error: string | undefined): string {
  return (error ?? 'Error').split(':')[0].trim() || 'Error';
}

/**
 * Puts a run's events within their time, never throwing: what cannot be put is logged (session ids and error codes, never
 * a message) and counted. Events that cannot be written in their schema (another tool's session id) are left out.
 */
async function putRunEvents(events: EnforcerEvents, built: (EventEntry | undefined)[], log: EnforcerLog): Promise<EventsOutcome> {
  const entries = built.filter((e): e is EventEntry => e !== undefined);
  let failed = 0;
  try {
    if (entries.length > 0) {
      const result = await events.publish(entries, { timeoutMs: events.timeoutMs ?? EVENTS_TIMEOUT_MS });
      failed = result.failed.length;
      if (failed > 0) {
        log('ERROR', 'session events not put', {
          failed,
          emitted: entries.length,
          errors: result.errors,
          events: result.failed.slice(0, 20).map((i) => eventSummary(entries[i])),
        });
      }
    }
  } catch (err) {
    failed = entries.length;
    log('ERROR', 'session events not put', { failed, emitted: entries.length, errors: { [errorName(describe(err))]: failed } });
  }
  try {
    events.eventsFailed?.(failed);
  } catch {
    // A metric that cannot be written is no reason to fail a run.
  }
  return { emitted: entries.length, failed };
}

/** An event's type, session and role, for a log line. */
function eventSummary(entry: EventEntry): Record<string, unknown> {
  const detail = JSON.parse(entry.Detail ?? '{}');
  return {
    detailType: entry.DetailType, roleArn: detail.roleArn, account: detail.account, sessionId: detail.sessionId, sessions: detail.sessionIds?.length,
  };
}

/** The `Role` dimension of a run that failed before it reached any role (configuration or table unreadable, lease busy). */
export const ALL_ROLES = 'ALL';

/** What the enforcer reads of the Lambda context. */
export interface EnforcerContext {
  readonly invokedFunctionArn?: string;
  getRemainingTimeInMillis?(): number;
}

/**
 * The handler of the enforcer Lambda: one enforcement per invocation, holding the lease (when given) from before
 * anything is read until the last write; rejects when any role failed, or when the lease stayed busy too long.
 */
export function createEnforcer(deps: EnforcerDeps): (event: unknown, context?: EnforcerContext) => Promise<EnforcementSummary> {
  return async (event, context) => {
    const account = deps.account ?? context?.invokedFunctionArn?.split(':')[4];
    if (isCloudTrailEvent(event)) return onCloudTrailEvent(account ? { ...deps, account } : deps, event, context);
    try {
      return await withLease(deps.lease, leaseWaitMs(context), () => enforce(account ? { ...deps, account } : deps, event));
    } catch (err) {
      // Role failures were logged with the summary; anything else (config, table) is logged here, and counted as a
      // failure of every role: no deny was computed at all (a refused configuration stops revocation too), and the
      // alarm must not read the silence as health.
      if (!(err instanceof EnforcementError)) {
        deps.log?.('ERROR', 'revoked-sessions enforcement failed', { error: describe(err) });
        deps.metrics?.([ALL_ROLES]);
      }
      throw err;
    }
  };
}

/**
 * A tamper rule's CloudTrail event: judged from the event and the deployed configuration; a finding is counted, logged and
 * put as `Tamper Detected`, and when it touched what the enforcer writes, the denies are recomputed and rewritten at once
 * (a full run under the lease). A failed re-enforcement does not fail the invocation (EventBridge would deliver the event
 * again and count it twice): it is counted as an enforcement failure, and the 5-minute schedule tries again.
 */
async function onCloudTrailEvent(deps: EnforcerDeps, event: CloudTrailEventBridgeEvent, context?: EnforcerContext): Promise<EnforcementSummary> {
  const started = Date.now();
  const log = deps.log ?? (() => undefined);
  const clock = deps.now ?? (() => new Date());
  const config = await deps.loadConfig();
  const judged = judgeCloudTrailEvent(event, {
    ...(typeof deps.tamper === 'function' ? deps.tamper(deps.account) : deps.tamper),
    policyName: deps.policyName,
    ...(deps.protectedRolePath ? { protectedRolePath: deps.protectedRolePath } : {}),
    ...(deps.organization ? { organizationPolicyId: deps.organization.policyId } : {}),
    ...(deps.account ? { accounts: [deps.account, ...deps.spokeAccounts ?? []] } : {}),
  }, config.profiles.values());
  const quiet = {
    revokedItems: 0,
    roles: [],
    durationMs: 0,
    skipped: { invalidIds: 0, otherRoles: 0, unknownRole: 0, expired: 0, unenforced: 0 },
  };
  if (typeof judged === 'string') {
    log('INFO', 'CloudTrail event is not tampering', { judged, eventName: event.detail?.eventName, eventId: event.detail?.eventID });
    return { trigger: 'tamper', ...quiet, tamper: { judged, reenforcement: 'not-needed' }, durationMs: Date.now() - started };
  }
  deps.tamperMetrics?.(judged.kind);
  log('WARN', 'tamper detected', { ...judged });
  let summary: EnforcementSummary | undefined;
  let reenforcement: TamperOutcome['reenforcement'] = 'not-needed';
  if (needsReenforcement(judged)) {
    try {
      summary = await withLease(deps.lease, leaseWaitMs(context), () => enforce(deps, { source: 'sentinel-tvm.tamper' }));
      reenforcement = 'enforced';
    } catch (err) {
      reenforcement = 'failed';
      if (err instanceof EnforcementError) {
        summary = err.summary;
      } else if (err instanceof LeaseBusyError) {
        // Another run holds the lease (or many events came at once): the schedule rewrites within 5 minutes. Not a failure
        // of every role: counting it so would raise the enforcement alarm for a refused call anyone can make.
        reenforcement = 'deferred';
        log('WARN', 'tamper re-enforcement deferred: another run holds the lease', {});
      } else {
        log('ERROR', 'revoked-sessions enforcement failed', { error: describe(err) });
        deps.metrics?.([ALL_ROLES]);
      }
    }
  }
  const events = deps.events
    ? await putRunEvents(deps.events, [tamperDetected(judged, reenforcement, clock(), deps.events.target)], log)
    : undefined;
  return {
    ...(summary ?? quiet),
    trigger: 'tamper',
    ...(events ? { events } : {}),
    tamper: { judged: judged.kind, reenforcement },
    durationMs: Date.now() - started,
  };
}

async function* revokedSessions(deps: EnforcerDeps): AsyncGenerator<Item> {
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const out = await deps.ddb.send(new QueryCommand({
      TableName: deps.tableName,
      IndexName: STATUS_INDEX,
      KeyConditionExpression: '#status = :revoked',
      ProjectionExpression: '#id, #status, #profile, #role, #cexp, #exp, #rat, #uat, #gk, #act',
      ExpressionAttributeNames: {
        '#id': Attr.ID,
        '#status': Attr.STATUS,
        '#profile': Attr.PROFILE,
        '#role': Attr.ROLE_ARN,
        '#cexp': Attr.CREDENTIALS_EXPIRE_AT,
        '#exp': Attr.EXPIRES_AT,
        '#rat': Attr.REVOKED_AT,
        '#uat': Attr.UPDATED_AT,
        '#gk': AccessAttr.GRANT_KIND,
        '#act': AccessAttr.ACTIVATED_AT,
      },
      ExpressionAttributeValues: { ':revoked': { S: Status.REVOKED } },
      ExclusiveStartKey: startKey,
      Limit: deps.pageSize,
    }));
    yield* out.Items ?? [];
    startKey = out.LastEvaluatedKey;
  } while (startKey);
}

/** An inline policy of the role as IAM holds it (URL-decoded), undefined when there is none. */
async function getPolicy(iam: IAMClient, role: string, policyName: string): Promise<string | undefined> {
  try {
    const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleNameOf(role), PolicyName: policyName }));
    return out.PolicyDocument === undefined ? undefined : decodeURIComponent(out.PolicyDocument);
  } catch (err) {
    if (isNoSuchEntity(err)) return undefined;
    throw err;
  }
}

/** Writes the policy; false when the role does not exist. */
async function putPolicy(iam: IAMClient, role: string, policyName: string, document: string): Promise<boolean> {
  try {
    await iam.send(new PutRolePolicyCommand({ RoleName: roleNameOf(role), PolicyName: policyName, PolicyDocument: document }));
    return true;
  } catch (err) {
    if (isNoSuchEntity(err)) return false;
    throw err;
  }
}

async function deletePolicy(iam: IAMClient, role: string, policyName: string): Promise<void> {
  try {
    await iam.send(new DeleteRolePolicyCommand({ RoleName: roleNameOf(role), PolicyName: policyName }));
  } catch (err) {
    if (!isNoSuchEntity(err)) throw err; // deleted meanwhile: the outcome wanted
  }
}

/**
 * What the role's other inline policies take of IAM's per-role limit (whitespace not counted), undefined when the role
 * does not exist. Other policies, other TVMs' revoked-sessions policies included, are read for their size only.
 */
async function otherPoliciesSize(iam: IAMClient, role: string, policyName: string): Promise<number | undefined> {
  const names: string[] = [];
  let marker: string | undefined;
  try {
    do {
      const out = await iam.send(new ListRolePoliciesCommand({ RoleName: roleNameOf(role), Marker: marker }));
      names.push(...(out.PolicyNames ?? []));
      marker = out.IsTruncated ? out.Marker : undefined;
    } while (marker);
  } catch (err) {
    if (isNoSuchEntity(err)) return undefined;
    throw err;
  }
  let size = 0;
  for (const name of names.filter((n) => n !== policyName)) {
    const document = await getPolicy(iam, role, name); // undefined: deleted since listed
    size += document === undefined ? 0 : policySize(document);
  }
  return size;
}

/** IAM's answer for a role, or a role's policy, that does not exist. */
export const isNoSuchEntity = (err: unknown) => (err as Error)?.name === 'NoSuchEntityException' || (err as Error)?.name === 'NoSuchEntity';
/** IAM's per-role inline policy quota: the SDK names the error `LimitExceededException`, the wire code is `LimitExceeded`. */
const isLimitExceeded = (err: unknown) => (err as Error)?.name === 'LimitExceededException' || (err as Error)?.name === 'LimitExceeded';

/** An error's name and message, short, for logs (never credentials). */
export function describe(err: unknown): string {
  const e = err as Error;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)}`;
}

/** `fn` on each item, at most `limit` at a time; the results in order. */
export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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
