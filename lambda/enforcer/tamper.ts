import { CLOUDTRAIL_DETAIL_TYPE, SessionEvents, SessionEventTypes, SPOKE_PLACEHOLDER_POLICY, TamperKinds, type ProfileConfig, type TamperDetectedDetail } from '../../src/shared/contract';
import { entryOf, type EventEntry, type EventTarget } from '../events/entries';

// Tamper detection: EventBridge rules on CloudTrail's management events hand the enforcer what may undo revocation
// (its deny policy changed or deleted, a protected role's trust changed, the organization SCP changed) and AssumeRole
// calls of protected roles by anyone but the TVM. The rules' patterns already leave out the enforcer's own writes; this
// module decides again from the event itself (a pattern is not a proof), so that the alarm counts only what it should.

export type TamperKind = typeof TamperKinds[keyof typeof TamperKinds];

/** What the enforcer knows that tells tampering from its own work. */
export interface TamperContext {
  /** This TVM's revoked-sessions policy name. */
  readonly policyName: string;
  /** The IAM path of this TVM's ProtectedRoles. */
  readonly protectedRolePath?: string;
  /** The organization SCP's id, in organization mode. */
  readonly organizationPolicyId?: string;
  /** The vending function's role ARN: its AssumeRole calls are the TVM's. */
  readonly vendRoleArn?: string;
  /** The accounts whose events count: the enforcer's and its spokes'. @default - any */
  readonly accounts?: readonly string[];
  /** Role ARNs (path included) whose sessions are the enforcer's own: the hub's role and the spokes' enforcement roles. */
  readonly enforcerRoleArns?: readonly string[];
}

/** A CloudTrail event the enforcer judged tampering: the facts its `Tamper Detected` event carries. */
export type TamperFinding = Omit<TamperDetectedDetail, 'version' | 'tvmName' | 'kind' | 'reenforcement' | 'detectedAt'> & {
  readonly kind: TamperKind;
};

/** Why a CloudTrail event was not tampering (for the log line). */
export type TamperDismissal = 'not-cloudtrail' | 'other-account' | 'own-write' | 'cloudformation' | 'tvm' | 'other-policy' | 'other-role' | 'other-call';

interface CloudTrailIdentity {
  readonly type?: unknown;
  readonly arn?: unknown;
  readonly principalId?: unknown;
  readonly accountId?: unknown;
  readonly invokedBy?: unknown;
  readonly sessionContext?: { readonly sessionIssuer?: { readonly arn?: unknown } };
}

interface CloudTrailDetail {
  readonly eventSource?: unknown;
  readonly eventName?: unknown;
  readonly eventID?: unknown;
  readonly eventTime?: unknown;
  readonly awsRegion?: unknown;
  readonly recipientAccountId?: unknown;
  readonly errorCode?: unknown;
  readonly userIdentity?: CloudTrailIdentity;
  readonly requestParameters?: Record<string, unknown> | null;
}

/** An EventBridge event of CloudTrail (`AWS API Call via CloudTrail`). */
export interface CloudTrailEventBridgeEvent {
  readonly 'source'?: unknown;
  readonly 'detail-type'?: unknown;
  readonly 'account'?: unknown;
  readonly 'region'?: unknown;
  readonly 'detail'?: CloudTrailDetail;
}

const SOURCES = new Set(['aws.iam', 'aws.sts', 'aws.organizations', 'aws.cloudtrail']);
const DENY_POLICY_CALLS = new Set(['PutRolePolicy', 'DeleteRolePolicy']);
const ORGANIZATION_CALLS = new Set(['UpdatePolicy', 'DeletePolicy', 'DetachPolicy']);
/** Organizations calls that can take accounts out of the SCP's reach without touching it. */
const ORGANIZATION_REACH_CALLS = new Set(['DisablePolicyType', 'MoveAccount', 'RemoveAccountFromOrganization']);
/** CloudTrail calls that can blind tamper detection (it sees CloudTrail's events only while a trail logs). */
const TRAIL_CALLS = new Set(['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors']);
const ASSUME_CALLS = new Set(['AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity']);
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/((?:[\u0021-\u007e]{1,510}\/)?)([\w+=,.@-]{1,64})$/;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Whether an invocation event is a CloudTrail event EventBridge delivered (from a tamper rule). */
export function isCloudTrailEvent(event: unknown): event is CloudTrailEventBridgeEvent {
  const e = event as CloudTrailEventBridgeEvent | null | undefined;
  return !!e && typeof e === 'object' && e['detail-type'] === CLOUDTRAIL_DETAIL_TYPE && SOURCES.has(e.source as string)
    && !!e.detail && typeof e.detail === 'object';
}

/**
 * Judges a CloudTrail event: a finding, or why it is none. The enforcer's own sessions and calls CloudFormation made (a
 * deployment) are never tampering; a trust change counts only on a role a profile vends (by name, in its account) or under
 * the protected path of a profile's account; an AssumeRole only of such a role, by anyone but the vending function.
 */
export function judgeCloudTrailEvent(
  event: CloudTrailEventBridgeEvent, context: TamperContext, profiles: Iterable<ProfileConfig>,
): TamperFinding | TamperDismissal {
  if (!isCloudTrailEvent(event)) return 'not-cloudtrail';
  const d = event.detail!;
  const name = str(d.eventName) ?? '';
  const id = d.userIdentity ?? {};
  const issuer = str(id.sessionContext?.sessionIssuer?.arn);
  const account = str(d.recipientAccountId) ?? str(event.account) ?? '';
  const params = d.requestParameters ?? {};
  if (context.accounts && !context.accounts.includes(account)) return 'other-account';
  if (issuer && (context.enforcerRoleArns ?? []).includes(issuer)) return 'own-write';
  const byCloudFormation = str(id.invokedBy) === 'cloudformation.amazonaws.com';
  const finding = (kind: TamperKind, role?: string): TamperFinding => ({
    kind,
    eventId: str(d.eventID) ?? '',
    eventName: name,
    eventSource: str(d.eventSource) ?? '',
    eventTime: str(d.eventTime) ?? '',
    account,
    region: str(d.awsRegion) ?? str(event.region) ?? '',
    actor: str(id.arn) ?? issuer ?? str(id.principalId) ?? str(id.invokedBy) ?? 'unknown',
    actorType: str(id.type) ?? 'unknown',
    ...(role ? { role } : {}),
    ...(str(d.errorCode) ? { errorCode: str(d.errorCode) } : {}),
  });
  const roles = vendedRoles(profiles);
  // IAM names are unique without regard to case, and its calls find them so: compare them lower-cased.
  if (event.source === 'aws.iam' && DENY_POLICY_CALLS.has(name)) {
    if (String(params.policyName ?? '').toLowerCase() !== context.policyName.toLowerCase()) return 'other-policy';
    // No stack of the TVM declares its deny but a spoke's, as the deny-nothing placeholder: only that is CloudFormation's
    // own work. Anyone may route a change through a stack of their own (CloudFormation calls IAM with their credentials).
    if (byCloudFormation && name === 'PutRolePolicy' && isPlaceholder(params.policyDocument)) return 'cloudformation';
    return finding(TamperKinds.DENY_POLICY, str(params.roleName));
  }
  if (event.source === 'aws.iam' && name === 'UpdateAssumeRolePolicy') {
    const roleName = str(params.roleName)?.toLowerCase();
    if (!roleName || !roles.names.has(`${account}/${roleName}`)) return 'other-role';
    // A deployment of the stack writes the trust the construct renders (a trust change through a stack of someone
    // else's is a limit the README states).
    return byCloudFormation ? 'cloudformation' : finding(TamperKinds.TRUST_POLICY, str(params.roleName));
  }
  if (event.source === 'aws.organizations' && ORGANIZATION_CALLS.has(name)) {
    const policyId = str(params.policyId);
    return policyId && policyId === context.organizationPolicyId ? finding(TamperKinds.ORGANIZATION_POLICY, policyId) : 'other-policy';
  }
  if (event.source === 'aws.organizations' && ORGANIZATION_REACH_CALLS.has(name)) {
    if (!context.organizationPolicyId) return 'other-policy';
    if (name === 'DisablePolicyType' && params.policyType !== 'SERVICE_CONTROL_POLICY') return 'other-policy';
    return finding(TamperKinds.ORGANIZATION_POLICY, str(params.accountId) ?? str(params.rootId));
  }
  if (event.source === 'aws.cloudtrail' && TRAIL_CALLS.has(name)) {
    return finding(TamperKinds.TRAIL, str(params.name));
  }
  if (event.source === 'aws.sts' && ASSUME_CALLS.has(name)) {
    const roleArn = str(params.roleArn) ?? '';
    if (!isProtected(roleArn, roles, context.protectedRolePath)) return 'other-role';
    if (context.vendRoleArn && issuer === context.vendRoleArn) return 'tvm';
    // Across accounts, the role's account may record the caller without its session issuer: its principal id then
    // starts with the vending role's unique id, which the enforcer does not know; such events of the TVM's own account
    // are judged by that account's record, which has the issuer.
    if (!issuer && context.vendRoleArn && str(id.accountId) === accountOfRole(context.vendRoleArn) && str(id.type) === 'AWSAccount') return 'tvm';
    return finding(TamperKinds.FOREIGN_ASSUME_ROLE, roleArn);
  }
  return 'other-call';
}

interface VendedRoles {
  /** `<account>/<role name>` of every role a profile vends (roles a TVM vends are protected: their trust is its only door). */
  readonly names: ReadonlySet<string>;
  readonly arns: ReadonlySet<string>;
  readonly accounts: ReadonlySet<string>;
}

function vendedRoles(profiles: Iterable<ProfileConfig>): VendedRoles {
  const names = new Set<string>();
  const arns = new Set<string>();
  const accounts = new Set<string>();
  for (const p of profiles) {
    // A profile whose role trusts others too (openTrust) is not one whose trust or AssumeRole calls are the TVM's alone.
    if (p.openTrust) continue;
    const m = ROLE_ARN.exec(p.roleArn);
    if (!m) continue;
    names.add(`${m[1]}/${m[3].toLowerCase()}`);
    arns.add(p.roleArn);
    accounts.add(m[1]);
  }
  return { names, arns, accounts };
}

/** A role a profile vends, or one under the protected path in a profile role's account (a replaced ProtectedRole). */
function isProtected(roleArn: string, roles: VendedRoles, path: string | undefined): boolean {
  if (roles.arns.has(roleArn)) return true;
  const m = ROLE_ARN.exec(roleArn);
  if (!m) return false;
  // Match the name in its account too (a role ARN written otherwise, another case).
  if (roles.names.has(`${m[1]}/${m[3].toLowerCase()}`)) return true;
  return !!path && roles.accounts.has(m[1]) && `/${m[2]}`.startsWith(path);
}

function accountOfRole(arn: string): string | undefined {
  return ROLE_ARN.exec(arn)?.[1];
}

/**
 * Whether a finding calls for recomputing the denies at once: not for an AssumeRole or a trail change (nothing the
 * enforcer writes), nor for a refused call (nothing changed).
 */
export function needsReenforcement(finding: TamperFinding): boolean {
  return finding.kind !== TamperKinds.FOREIGN_ASSUME_ROLE && finding.kind !== TamperKinds.TRAIL && !finding.errorCode;
}

/** Whether a policy document (as CloudTrail records it: JSON, perhaps URL-encoded) is the spoke's deny-nothing placeholder. */
function isPlaceholder(document: unknown): boolean {
  if (typeof document !== 'string') return false;
  try {
    const text = document.startsWith('%7B') ? decodeURIComponent(document) : document;
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(SPOKE_PLACEHOLDER_POLICY);
  } catch {
    return false;
  }
}

/** `Tamper Detected`. */
export function tamperDetected(finding: TamperFinding, reenforcement: string, at: Date, target: EventTarget): EventEntry {
  const detail: TamperDetectedDetail = {
    version: SessionEvents.VERSION,
    tvmName: target.tvmName,
    kind: finding.kind,
    eventId: finding.eventId,
    eventName: finding.eventName,
    eventSource: finding.eventSource,
    eventTime: finding.eventTime,
    account: finding.account,
    region: finding.region,
    actor: finding.actor.slice(0, 2048),
    actorType: finding.actorType,
    ...(finding.role ? { role: finding.role } : {}),
    ...(finding.errorCode ? { errorCode: finding.errorCode.slice(0, 128) } : {}),
    reenforcement,
    detectedAt: at.toISOString(),
  };
  return entryOf(SessionEventTypes.TAMPER_DETECTED, detail, at, [], target);
}
