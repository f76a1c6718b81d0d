// The emulated accounts of local mode: every role the local STS and IAM know, with its trust policy and its inline
// policies, and the decision of a caller's identity policies. Local roles have no grants of their own: each starts
// from an Allow of everything, so that only denies (the enforcer's) decide, as they are what local mode shows.
import { createHash } from 'crypto';
import type { LocalConfig } from './config';
import {
  callerRoleTrustPolicy, evaluateIdentity, principalArnOf, protectedRoleTrustPolicy, spokeEnforcementTrustPolicy,
  type Context, type IdentityDecision, type PolicyDocument,
} from './trust';
import type { KnownKey } from './verify';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../../src/shared/access';
import {
  enforcerRoleName, revokedSessionsPolicyName, runtimeRolePathOf, SPOKE_PLACEHOLDER_POLICY, spokeEnforcementRoleName,
} from '../../src/shared/contract';

/** The name local mode's TVM has, as `new SentinelTvm(...)` gets one: its enforcer role, policy name and paths follow from it. */
export const LOCAL_TVM_NAME = 'sentinel-tvm-local';
const EXECUTION_ROLE_NAME = 'SentinelTvmLocalExecutionRole';

/** The names of the local TVM's roles and policies, in the construct's scheme (src/shared/contract.ts). */
export interface LocalNames {
  readonly tvmAccount: string;
  readonly executionRoleArn: string;
  /** The hub enforcer role: fixed name under the runtime path, so that spokes trust it by name. */
  readonly enforcerRoleArn: string;
  /** `SENTINEL_SPOKE_ROLE`: the spoke enforcement role's path and name, without the leading slash. */
  readonly spokeRole: string;
  /** The revoked-sessions inline policy name. */
  readonly policyName: string;
  /** The IAM path of the TVM's protected roles: a role under it is the enforcer's to write even when left from the configuration. */
  readonly protectedRolePath: string;
  spokeRoleArn(account: string): string;
}

export function localNames(config: Pick<LocalConfig, 'tvmAccount' | 'region'>): LocalNames {
  const account = config.tvmAccount;
  const runtimePath = runtimeRolePathOf(LOCAL_TVM_NAME);
  const spokeRole = `${runtimePath.slice(1)}${spokeEnforcementRoleName(LOCAL_TVM_NAME, config.region)}`;
  return {
    tvmAccount: account,
    executionRoleArn: `arn:aws:iam::${account}:role/${EXECUTION_ROLE_NAME}`,
    enforcerRoleArn: `arn:aws:iam::${account}:role${runtimePath}${enforcerRoleName(LOCAL_TVM_NAME, config.region)}`,
    spokeRole,
    policyName: revokedSessionsPolicyName(LOCAL_TVM_NAME, config.region),
    protectedRolePath: `/sentinel-tvm/${LOCAL_TVM_NAME}/`,
    spokeRoleArn: (a) => `arn:aws:iam::${a}:role/${spokeRole}`,
  };
}

/** `identity-center`: a permission set's role, whose sessions are principals of the config (Identity Center signs them in). */
export type RoleKind = 'protected' | 'caller' | 'execution' | 'enforcer' | 'spoke-enforcement' | 'identity-center';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** `<prefix>` and 17 base32 characters of SHA-256 of the input: the shape of IAM's unique ids. */
const uniqueId = (prefix: string, input: string) =>
  prefix + Array.from(createHash('sha256').update(input).digest().subarray(0, 17), (b) => BASE32[b % 32]).join('');

/**
 * A local role's unique id (`AROA…`): fixed by the account and name, as a real one is fixed when the role is created, and
 * another for each time the role is created again (`generation`). Not the path: a session ARN, which has none, gives it too.
 */
export function localRoleId(account: string, roleName: string, generation = 0): string {
  return uniqueId('AROA', `${account}:role:${roleName}:${generation}`);
}

/** A local IAM user's unique id (`AIDA…`), by account and name. */
export function localUserId(account: string, userName: string): string {
  return uniqueId('AIDA', `${account}:user:${userName}`);
}

/** Identity Center's name for a permission set's role: `AWSReservedSSO_<permission set>_<16 hex>`. */
const IDENTITY_CENTER_ROLE = /^AWSReservedSSO_[\w+=,.@-]+_[0-9a-f]{16}$/i;

export interface LocalRole {
  readonly arn: string;
  readonly account: string;
  readonly name: string;
  /** `/` or `/a/b/`. */
  readonly path: string;
  readonly kind: RoleKind;
  /** IAM's unique id of the role (`AROA…`): what `AROA…:<session>` of its sessions' GetCallerIdentity UserId starts with. */
  readonly roleId: string;
  readonly createdAt: Date;
  readonly trust: PolicyDocument;
  /** Inline policies by name, as JSON documents (what the local IAM stores). */
  readonly policies: Map<string, string>;
}

const ALLOW_ALL: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
const ROLE_ARN = /^arn:([\w-]+):iam::(\d{12}):role(\/(?:[^/]+\/)*)([^/]+)$/;
const SESSION_ARN = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;

/** Every role of the emulated accounts, by account and name (names are unique in an account, whatever the path). */
export class LocalAccounts {
  readonly names: LocalNames;
  private readonly roles = new Map<string, LocalRole>();
  private readonly generations = new Map<string, number>();

  constructor(readonly config: LocalConfig) {
    this.names = localNames(config);
    const n = this.names;
    const protectedTrust = protectedRoleTrustPolicy(n.executionRoleArn);
    for (const p of config.profiles) {
      const account = p.roleArn.split(':')[4];
      const spoke = config.spokeAccounts.includes(account);
      // A spoke's template declares the deny-nothing placeholder as the role's revoked-sessions policy.
      const policies = spoke ? [[n.policyName, JSON.stringify(SPOKE_PLACEHOLDER_POLICY)] as const] : [];
      this.add(p.roleArn, 'protected', protectedTrust, policies);
    }
    for (const c of config.callerRoles) this.add(c.roleArn, 'caller', callerRoleTrustPolicy(c.trusted));
    // Nobody assumes these two locally: local mode holds their sessions' keys itself.
    this.add(n.executionRoleArn, 'execution', { Version: '2012-10-17', Statement: [] });
    this.add(n.enforcerRoleArn, 'enforcer', { Version: '2012-10-17', Statement: [] });
    const spokeTrust = spokeEnforcementTrustPolicy(n.enforcerRoleArn);
    for (const account of config.spokeAccounts) this.add(n.spokeRoleArn(account), 'spoke-enforcement', spokeTrust);
    // Principals that are sessions of a permission set's role: Identity Center created that role under its reserved path,
    // which is what the TVM checks (with the role's id) before it takes the session name for a user name.
    for (const p of config.principals) {
      const session = SESSION_ARN.exec(p.arn);
      if (!session || !IDENTITY_CENTER_ROLE.test(session[3])) continue;
      const arn = `arn:${session[1]}:iam::${session[2]}:role${IDENTITY_CENTER_ROLE_PATH_PREFIX}${session[3]}`;
      // Identity Center assumes it with SAML; nobody does locally.
      this.add(arn, 'identity-center', { Version: '2012-10-17', Statement: [] });
    }
  }

  private add(arn: string, kind: RoleKind, trust: PolicyDocument, policies: readonly (readonly [string, string])[] = []): void {
    const m = ROLE_ARN.exec(arn)!;
    const key = `${m[2]}/${m[4]}`;
    if (this.roles.has(key)) return; // two profiles of one role
    const roleId = localRoleId(m[2], m[4], this.generations.get(key) ?? 0);
    this.roles.set(key, { arn, account: m[2], name: m[4], path: m[3], kind, roleId, createdAt: new Date(), trust, policies: new Map(policies) });
  }

  /**
   * Deletes the role and creates it again under the same name, path and trust, as IAM would: a new role id, no inline
   * policies. Sessions issued before keep the old id in their UserId, which no longer matches the role's.
   */
  recreateRole(account: string, name: string): LocalRole {
    const key = `${account}/${name}`;
    const old = this.roles.get(key);
    if (!old) throw new Error(`no local role ${name} in account ${account}`);
    this.roles.delete(key);
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    this.add(old.arn, old.kind, old.trust);
    return this.roles.get(key)!;
  }

  /** The role id of a role (by account and name) as the local STS reports it in its sessions' UserId. */
  roleIdOf(account: string, name: string): string {
    return this.role(account, name)?.roleId ?? localRoleId(account, name);
  }

  all(): LocalRole[] {
    return [...this.roles.values()];
  }

  role(account: string, name: string): LocalRole | undefined {
    return this.roles.get(`${account}/${name}`);
  }

  /** The trust policies, by role ARN: what the local STS lets assume. */
  trustPolicies(): Map<string, PolicyDocument> {
    const assumable = (r: LocalRole) => r.kind !== 'execution' && r.kind !== 'enforcer' && r.kind !== 'identity-center';
    return new Map(this.all().filter(assumable).map((r) => [r.arn, r.trust]));
  }

  /** The role a key's credentials are a session of, if it is a local role. */
  roleOf(key: KnownKey): LocalRole | undefined {
    const arn = key.roleArn ?? key.arn;
    const role = ROLE_ARN.exec(arn);
    if (role) return this.role(role[2], role[4]);
    const session = SESSION_ARN.exec(arn);
    return session ? this.role(session[2], session[3]) : undefined;
  }

  /** aws:PrincipalArn of a caller: a session's role ARN with its path when the role is a local one. */
  principalArnOf(key: KnownKey): string {
    return key.principalArn ?? this.roleOf(key)?.arn ?? principalArnOf(key.arn);
  }

  /** The request context IAM gives identity policies for a call with these credentials. */
  contextOf(key: KnownKey, now: Date): Context {
    const session = SESSION_ARN.test(key.arn);
    const context: Context = {
      'aws:PrincipalArn': this.principalArnOf(key),
      'aws:PrincipalAccount': key.arn.split(':')[4],
      'aws:PrincipalType': session ? 'AssumedRole' : key.arn.includes(':user/') ? 'User' : 'Account',
      'aws:CurrentTime': now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    };
    for (const t of key.tags ?? []) context[`aws:PrincipalTag/${t.Key}`] = t.Value;
    if (key.issuedAt) context['aws:TokenIssueTime'] = key.issuedAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (key.sourceIdentity) context['aws:SourceIdentity'] = key.sourceIdentity;
    return context;
  }

  /**
   * The caller's identity policies on `action`: an Allow of everything (local roles have no grants of their own, and IAM
   * users none modelled), then its role's inline policies, the enforcer's deny among them.
   */
  decide(key: KnownKey, action: string, resource: string, now: Date = new Date()): IdentityDecision {
    const role = this.roleOf(key);
    const documents: PolicyDocument[] = [ALLOW_ALL];
    for (const [name, document] of role?.policies ?? []) {
      try {
        documents.push(JSON.parse(document));
      } catch {
        // The local IAM stores only parsed documents; a broken one denies everything rather than nothing.
        documents.push({ Version: '2012-10-17', Statement: [{ Sid: name, Effect: 'Deny', Action: '*', Resource: '*' }] });
      }
    }
    return evaluateIdentity(documents, action, resource, this.contextOf(key, now));
  }
}

/** IAM's words for a refusal by an identity policy's Deny. */
export function explicitDenyMessage(caller: string, action: string, resource: string): string {
  return `User: ${caller} is not authorized to perform: ${action} on resource: ${resource} with an explicit deny in an identity-based policy`;
}
