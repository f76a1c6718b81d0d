// The emulated accounts of local mode: every role the local STS and IAM know, with its trust policy and its inline
// policies, and the decision of a caller's identity policies. Local roles have no grants of their own: each starts
// from an Allow of everything, so that only denies (the enforcer's) decide, as they are what local mode shows.
import type { LocalConfig } from './config';
import {
  callerRoleTrustPolicy, evaluateIdentity, principalArnOf, protectedRoleTrustPolicy, spokeEnforcementTrustPolicy,
  type Context, type IdentityDecision, type PolicyDocument,
} from './trust';
import type { KnownKey } from './verify';
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

export type RoleKind = 'protected' | 'caller' | 'execution' | 'enforcer' | 'spoke-enforcement';

export interface LocalRole {
  readonly arn: string;
  readonly account: string;
  readonly name: string;
  /** `/` or `/a/b/`. */
  readonly path: string;
  readonly kind: RoleKind;
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
  }

  private add(arn: string, kind: RoleKind, trust: PolicyDocument, policies: readonly (readonly [string, string])[] = []): void {
    const m = ROLE_ARN.exec(arn)!;
    const key = `${m[2]}/${m[4]}`;
    if (this.roles.has(key)) return; // two profiles of one role
    this.roles.set(key, { arn, account: m[2], name: m[4], path: m[3], kind, trust, policies: new Map(policies) });
  }

  all(): LocalRole[] {
    return [...this.roles.values()];
  }

  role(account: string, name: string): LocalRole | undefined {
    return this.roles.get(`${account}/${name}`);
  }

  /** The trust policies, by role ARN: what the local STS lets assume. */
  trustPolicies(): Map<string, PolicyDocument> {
    return new Map(this.all().filter((r) => r.kind !== 'execution' && r.kind !== 'enforcer').map((r) => [r.arn, r.trust]));
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
