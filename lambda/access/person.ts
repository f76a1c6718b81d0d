// Person keys: which human stands behind a caller, as far as AWS (not the caller) vouches for it. Approvals, break-glass
// and reviews need a verified person, and separation of duties compares persons, never ARNs.
import { createHash } from 'crypto';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX, PersonKinds } from '../../src/shared/access';
import type { Caller } from '../identity';

export interface Person {
  /** `<kind>:…` ({@link PersonKinds}), or `iam-user-name:<account>:<name>` for a user whose unique id is unknown. */
  readonly key: string;
  /** Whether AWS, not the caller, chose the name in the key. */
  readonly verified: boolean;
}

export interface RoleFacts {
  readonly path: string;
  readonly roleId: string;
}

/** IAM GetRole in the TVM's account; undefined when the role does not exist or may not be read (AccessDenied). */
export type GetRole = (roleName: string) => Promise<RoleFacts | undefined>;

/** IAM could not answer (unreachable, throttled, failed): the caller answers 503, never "unverified". */
export class PersonLookupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PersonLookupError';
  }
}

/** First 16 hex of SHA-256 of a person key: the key of an approval in the `approvals` map. */
export function personHash(personKey: string): string {
  return createHash('sha256').update(personKey, 'utf8').digest('hex').slice(0, 16);
}

/** A permission set's role, as Identity Center names it (the name alone proves nothing: anyone may create one). */
const IDENTITY_CENTER_ROLE_NAME = /^AWSReservedSSO_[\w+=,.@-]+_[0-9a-f]{16}$/i;
const ROLE_ID = /^AROA[A-Z0-9]+$/;
const USER_ID = /^AIDA[A-Z0-9]+$/;
const DEFAULT_CACHE_SECONDS = 300;
/** Role names remembered at most; only roles of the TVM's account named like Identity Center's reach the cache. */
const MAX_CACHED_ROLES = 1000;

interface CachedRole {
  readonly facts: Promise<RoleFacts | undefined>;
  /** Epoch ms; Infinity while the lookup is in flight. */
  until: number;
}

export interface PersonResolverOptions {
  /** The account the TVM (and its execution role, which may GetRole) lives in; undefined: no Identity Center caller is proven. */
  readonly tvmAccount?: string;
  readonly getRole: GetRole;
  readonly now: () => Date;
  /** How long a GetRole answer (a role or none) is reused. @default 300 */
  readonly cacheSeconds?: number;
}

/** Person keys of callers; GetRole answers are cached per role name for the container's life, `cacheSeconds` each. */
export class PersonResolver {
  private readonly tvmAccount: string | undefined;
  private readonly getRole: GetRole;
  private readonly now: () => Date;
  private readonly cacheMs: number;
  private readonly roles = new Map<string, CachedRole>();

  constructor(options: PersonResolverOptions) {
    const seconds = options.cacheSeconds ?? DEFAULT_CACHE_SECONDS;
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`cacheSeconds is ${seconds}: expected 0 or more seconds`);
    if (options.tvmAccount !== undefined && !/^\d{12}$/.test(options.tvmAccount)) {
      throw new Error(`tvmAccount "${options.tvmAccount}" is not a 12-digit account id`);
    }
    this.tvmAccount = options.tvmAccount;
    this.getRole = options.getRole;
    this.now = options.now;
    this.cacheMs = seconds * 1000;
  }

  async personOf(caller: Caller): Promise<Person> {
    const account = caller.accountId;
    const resource = caller.arn.split(':').slice(5).join(':');
    const segments = resource.split('/');
    const unverified = (key: string): Person => ({ key, verified: false });

    if (resource === 'root') return unverified(`${PersonKinds.ROOT}:${account}`);
    if (segments[0] === 'federated-user') return unverified(`${PersonKinds.FEDERATED}:${account}:${caller.user}`);
    if (segments[0] === 'user') {
      const id = caller.principalId;
      // The unique id, not the name: a user deleted and created again under the name is someone else.
      if (id !== undefined && USER_ID.test(id)) return { key: `${PersonKinds.IAM_USER}:${account}:${id}`, verified: true };
      return unverified(`iam-user-name:${account}:${caller.user}`);
    }
    // A role itself (some identity providers report one), or anything else: no session to attribute.
    if (segments[0] !== 'assumed-role' || segments.length !== 3) {
      return unverified(`${PersonKinds.ROLE_SESSION}:${account}:${segments[segments.length - 1]}`);
    }

    // An assumed-role session: `assumed-role/<role>/<session>`, its principal id `AROA…:<session>`.
    const roleName = segments[1];
    const session = caller.user;
    const [roleId, idSession] = splitOnce(caller.principalId ?? '', ':');
    const provenId = ROLE_ID.test(roleId) && idSession === session ? roleId : undefined;
    const roleKey = `${PersonKinds.ROLE_SESSION}:${account}:${provenId ?? roleName}:${session}`;
    if (provenId === undefined || this.tvmAccount === undefined || account !== this.tvmAccount || !IDENTITY_CENTER_ROLE_NAME.test(roleName)) {
      return unverified(roleKey);
    }
    const facts = await this.roleFacts(roleName);
    // The reserved path (no one but Identity Center creates roles there), and the very role of the session: a role
    // deleted and created again under the name has another id.
    if (!facts || !facts.path.startsWith(IDENTITY_CENTER_ROLE_PATH_PREFIX) || facts.roleId !== provenId) return unverified(roleKey);
    // Identity Center puts the user name in the session name. Folding case can only merge two people, never split one.
    return { key: `${PersonKinds.IDENTITY_CENTER}:${session.toLowerCase()}`, verified: true };
  }

  private roleFacts(roleName: string): Promise<RoleFacts | undefined> {
    const now = this.now().getTime();
    const cached = this.roles.get(roleName);
    if (cached && cached.until > now) return cached.facts;
    if (cached) this.roles.delete(roleName);
    if (this.roles.size >= MAX_CACHED_ROLES) this.evict(now);
    // Concurrent callers share one lookup; a failure is not remembered, so the next call asks again.
    const facts = (async () => this.getRole(roleName))().catch((err: unknown) => {
      throw err instanceof PersonLookupError ? err : new PersonLookupError(`IAM GetRole of ${roleName} failed`, { cause: err });
    });
    const entry: CachedRole = { facts, until: Infinity };
    this.roles.set(roleName, entry);
    facts.then(() => {
      entry.until = this.now().getTime() + this.cacheMs;
    }, () => {
      if (this.roles.get(roleName) === entry) this.roles.delete(roleName);
    });
    return facts;
  }

  private evict(now: number): void {
    for (const [name, entry] of this.roles) if (entry.until <= now) this.roles.delete(name);
    // Still full: the oldest answer goes (Map keeps insertion order).
    if (this.roles.size >= MAX_CACHED_ROLES) this.roles.delete(this.roles.keys().next().value!);
  }
}

function splitOnce(value: string, separator: string): [string, string | undefined] {
  const i = value.indexOf(separator);
  return i < 0 ? [value, undefined] : [value.slice(0, i), value.slice(i + 1)];
}
