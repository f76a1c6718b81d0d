import type { GrantStore, Item } from './grants';
import { accessOf, isGated, matches } from './policy';
import { AccessAttr, GrantKinds, RevokedKinds } from '../../src/shared/access';
import { Attr, Indexes, Status } from '../../src/shared/contract';
import { callerFrom } from '../identity';
import type { Profile, TvmConfig } from '../profiles';

/**
 * The lifecycle sweep (scheduled, every few minutes): records what time already decided, and ends grants whose holder is
 * no longer eligible. It is hygiene for the records and their events, never the enforcement of a deadline: approval
 * re-checks the request's deadline, activation the grant's window, and every vend re-checks eligibility, so a late sweep
 * delays a record, not a decision.
 */
export interface LifecycleDeps {
  readonly grants: GrantStore;
  readonly config: () => Promise<TvmConfig>;
  readonly now: () => Date;
  /** Items read per index page. @default 100 */
  readonly pageSize?: number;
  /** Pages read per status (pending, approved) and per gated profile (active) in a sweep: a bound on one run's work. @default 200 */
  readonly maxPages?: number;
  /** Who the revocations name (`revoked_by`): the TVM's vending role (tvmRevoker). @default 'sentinel-tvm' */
  readonly revokedBy?: string;
}

export interface SweepResult {
  /** Pending requests past their deadline → expired. */
  readonly requestsExpired: number;
  /** Approved grants whose window ended unused → expired. */
  readonly grantsUnused: number;
  /** Active grants whose window ended → expired (their credentials ended with it). */
  readonly grantsEnded: number;
  /** Grants (and standing sessions of a profile now gated) whose holder is no longer eligible → revoked. */
  readonly eligibilityRevoked: number;
}

const STATUS_INDEX = Indexes.find((i) => i.partitionKey === Attr.STATUS)!.name;
const PROFILE_INDEX = Indexes.find((i) => i.partitionKey === Attr.PROFILE)!.name;
const iso = (d: Date) => d.toISOString();

/** Whether the item's holder may still hold it under the configuration now: its profile, role and patterns. */
export function stillEligible(item: Item, config: TvmConfig): boolean {
  const profile: Profile | undefined = config.profiles.get(item[Attr.PROFILE]?.S ?? '');
  if (!profile || item[Attr.ROLE_ARN]?.S !== profile.roleArn) return false;
  const kind = item[AccessAttr.GRANT_KIND]?.S;
  // A standing session of a profile that is now gated: T9 no longer continues it, and its credentials must end too.
  if (kind === undefined) return !isGated(profile);
  let caller;
  try {
    caller = callerFrom({ userArn: item[Attr.PRINCIPAL_ARN]?.S });
  } catch {
    return false;
  }
  const access = accessOf(profile);
  if (!access) return false;
  if (kind === GrantKinds.APPROVAL) return access.policy.approval !== undefined && matches(profile.matcher, caller);
  return access.policy.breakGlass !== undefined && matches(access.breakGlass, caller);
}

/** One sweep over pending, approved and active items (newest first, bounded per run). */
export async function sweep(deps: LifecycleDeps): Promise<SweepResult> {
  const config = await deps.config();
  const now = deps.now();
  const t = iso(now);
  const counts = { requestsExpired: 0, grantsUnused: 0, grantsEnded: 0, eligibilityRevoked: 0 };
  const all = async (index: string, key: { name: string; value: string }, filter: string | undefined, names: Record<string, string>,
    values: Item, visit: (item: Item) => Promise<void>) => {
    let startKey: Item | undefined;
    for (let page = 0; page < (deps.maxPages ?? 200); page++) {
      const p = await deps.grants.page(index, key, filter, names, values, deps.pageSize ?? 100, startKey);
      for (const item of p.items) await visit(item);
      startKey = p.lastKey;
      if (!startKey) return;
    }
  };
  // Only gated items are ever pending or approved: the status index holds just them.
  const each = (status: string, visit: (item: Item) => Promise<void>) =>
    all(STATUS_INDEX, { name: Attr.STATUS, value: status }, undefined, {}, {}, visit);
  const revoke = async (item: Item) => {
    const r = await deps.grants.end({
      id: item[Attr.ID]!.S!,
      by: deps.revokedBy ?? 'sentinel-tvm',
      kind: RevokedKinds.ELIGIBILITY_REMOVED,
      now,
      reason: 'no longer eligible under the deployed configuration',
      standingToo: item[AccessAttr.GRANT_KIND] === undefined,
    });
    if (!r.refused) counts.eligibilityRevoked += 1;
  };

  await each(Status.PENDING, async (item) => {
    if ((item[AccessAttr.REQUEST_EXPIRES_AT]?.S ?? '') > t) return;
    if (await deps.grants.expire(item[Attr.ID]!.S!, Status.PENDING, AccessAttr.REQUEST_EXPIRES_AT, 'request_timeout', now)) {
      counts.requestsExpired += 1;
    }
  });
  await each(Status.APPROVED, async (item) => {
    if ((item[Attr.EXPIRES_AT]?.S ?? '') <= t) {
      if (await deps.grants.expire(item[Attr.ID]!.S!, Status.APPROVED, Attr.EXPIRES_AT, 'not_used', now)) counts.grantsUnused += 1;
    } else if (!stillEligible(item, config)) {
      await revoke(item);
    }
  });
  // Active items are mostly standing sessions, of every profile: the gated profiles' own are read through the profile
  // index (a grant and a standing session of a profile that became gated are both there), however many others there are.
  for (const profile of [...config.profiles.values()].filter(isGated)) {
    await all(PROFILE_INDEX, { name: Attr.PROFILE, value: profile.name }, '#status = :active', { '#status': Attr.STATUS },
      { ':active': { S: Status.ACTIVE } }, async (item) => {
        const gated = item[AccessAttr.GRANT_KIND] !== undefined;
        if (gated && (item[Attr.EXPIRES_AT]?.S ?? '') <= t) {
          if (await deps.grants.expire(item[Attr.ID]!.S!, Status.ACTIVE, Attr.EXPIRES_AT, 'window_end', now)) counts.grantsEnded += 1;
        } else if (!stillEligible(item, config)) {
          await revoke(item);
        }
      });
  }
  return counts;
}

