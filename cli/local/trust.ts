// The protected roles' trust policy and a small IAM evaluator for it: enough of IAM's policy logic for
// trust policies (principals, actions, string and Null conditions with set operators), checked against an IAM
// simulator on the statements the construct synthesizes (test/local-trust.test.ts).
import { SESSION_TAG_KEY, SOURCE_IDENTITY_PREFIX } from '../../src/shared/contract';

export type ContextValue = string | readonly string[];
export type Context = Record<string, ContextValue>;
export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: '*' | { readonly AWS: string | readonly string[] };
  readonly Action: string | readonly string[];
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly PolicyStatement[];
}

/**
 * The three statements `ProtectedRole` synthesizes, for a TVM execution role (src/private/trust.ts): the role's account,
 * on condition that the caller is the role (`aws:PrincipalArn`).
 */
export function protectedRoleTrustPolicy(executionRoleArn: string): PolicyDocument {
  const tag = `aws:RequestTag/${SESSION_TAG_KEY}`;
  const sessionId = '?'.repeat(16);
  const onlyTheTag = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [SESSION_TAG_KEY] } };
  const [, partition, , , account] = executionRoleArn.split(':');
  const principal = { AWS: `arn:${partition}:iam::${account}:root` };
  const isTheTvm = { ArnEquals: { 'aws:PrincipalArn': executionRoleArn } };
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'SentinelTvmAssumeRole',
        Effect: 'Allow',
        Principal: principal,
        Action: 'sts:AssumeRole',
        Condition: { StringLike: { [tag]: sessionId, 'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*` }, ...onlyTheTag, ...isTheTvm },
      },
      {
        Sid: 'SentinelTvmTagSession',
        Effect: 'Allow',
        Principal: principal,
        Action: 'sts:TagSession',
        Condition: { StringLike: { [tag]: sessionId }, ...onlyTheTag, ...isTheTvm },
      },
      {
        Sid: 'SentinelTvmSetSourceIdentity',
        Effect: 'Allow',
        Principal: principal,
        Action: 'sts:SetSourceIdentity',
        Condition: { StringLike: { 'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*` }, ...isTheTvm },
      },
    ],
  };
}

/** The condition keys STS sets for each action it authorizes (an action never sees the others' keys). */
const ACTION_KEYS: Record<string, (key: string) => boolean> = {
  'sts:assumerole': (k) => k.startsWith('aws:requesttag/') || ['aws:tagkeys', 'sts:sourceidentity', 'sts:transitivetagkeys',
    'sts:rolesessionname'].includes(k),
  'sts:tagsession': (k) => k.startsWith('aws:requesttag/') || ['aws:tagkeys', 'sts:transitivetagkeys'].includes(k),
  'sts:setsourceidentity': (k) => k === 'sts:sourceidentity',
};
const GLOBAL_KEYS = new Set(['aws:principalarn', 'aws:principalaccount', 'aws:principaltype', 'aws:username', 'aws:userid']);

const list = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v as T]);
const wildcard = (pattern: string, flags = '') =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, `s${flags}`);

/** IAM's ArnEquals/ArnLike: the six `:`-separated parts of the ARN match one by one, with wildcards. */
function arnMatches(pattern: string, arn: string): boolean {
  const parts = (value: string) => {
    const split = value.split(':');
    return split.length < 6 ? undefined : [...split.slice(0, 5), split.slice(5).join(':')];
  };
  const [p, a] = [parts(pattern), parts(arn)];
  return !!p && !!a && p.every((part, i) => wildcard(part).test(a[i]));
}

/**
 * IAM's aws:PrincipalArn of a caller: a role session's is its role's ARN. A session ARN carries no path, so a role
 * under a path needs its ARN given (local mode's execution role has none).
 */
export function principalArnOf(caller: string): string {
  const session = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(caller);
  return session ? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}` : caller;
}

/** `arn:aws:sts::123:assumed-role/Name/session` is a session of `arn:aws:iam::123:role[/path]/Name`. */
function principalMatches(policyPrincipal: string, caller: string): boolean {
  if (policyPrincipal === '*' || policyPrincipal === caller) return true;
  const account = caller.split(':')[4];
  if (policyPrincipal === account || policyPrincipal === `arn:${caller.split(':')[1]}:iam::${account}:root`) return true;
  const session = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(caller);
  const role = /^arn:([\w-]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(policyPrincipal);
  return !!session && !!role && session[1] === role[1] && session[2] === role[2] && session[3] === role[3];
}

function statementPrincipalMatches(s: PolicyStatement, caller: string): boolean {
  if (s.Principal === undefined) return false;
  if (s.Principal === '*') return true;
  return list(s.Principal.AWS).some((p) => principalMatches(p, caller));
}

function lookup(context: Context, key: string): readonly string[] | undefined {
  const k = key.toLowerCase();
  for (const [name, value] of Object.entries(context)) if (name.toLowerCase() === k) return list(value);
  return undefined;
}

/** One condition operator on one key, as IAM evaluates it (missing keys included). */
function conditionHolds(operator: string, key: string, policyValues: readonly string[], context: Context): boolean {
  let op = operator;
  let set: 'ForAllValues' | 'ForAnyValue' | undefined;
  const prefix = /^(ForAllValues|ForAnyValue):(.+)$/.exec(op);
  if (prefix) {
    set = prefix[1] as 'ForAllValues' | 'ForAnyValue';
    op = prefix[2];
  }
  const ifExists = op.endsWith('IfExists');
  if (ifExists) op = op.slice(0, -'IfExists'.length);
  const values = lookup(context, key);
  if (op === 'Null') {
    const wantsMissing = policyValues.some((v) => v === 'true');
    return wantsMissing === (values === undefined || values.length === 0);
  }
  const negated = op.startsWith('StringNot') || op.startsWith('ArnNot');
  const base = negated ? op.replace('StringNot', 'String').replace('ArnNot', 'Arn') : op;
  let match: (value: string) => boolean;
  switch (base) {
    case 'ArnEquals':
    case 'ArnLike': match = (v) => policyValues.some((p) => arnMatches(p, v)); break;
    case 'StringEquals': match = (v) => policyValues.includes(v); break;
    case 'StringEqualsIgnoreCase': match = (v) => policyValues.some((p) => p.toLowerCase() === v.toLowerCase()); break;
    case 'StringLike': match = (v) => policyValues.some((p) => wildcard(p).test(v)); break;
    // An operator this evaluator does not know never grants: fail closed.
    default: return false;
  }
  const test = negated ? (v: string) => !match(v) : match;
  if (set === 'ForAllValues') return (values ?? []).every(test);
  if (set === 'ForAnyValue') return (values ?? []).some(test);
  if (values === undefined || values.length === 0) return ifExists || negated;
  return values.some(test);
}

function statementApplies(s: PolicyStatement, caller: string, action: string, context: Context): boolean {
  if (!statementPrincipalMatches(s, caller)) return false;
  if (!list(s.Action).some((a) => wildcard(a, 'i').test(action))) return false;
  return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, values]) => conditionHolds(operator, key, list(values), context)));
}

/** IAM's decision on one action of a principal against a resource policy (deny wins, then allow, else implicit deny). */
export function evaluate(policy: PolicyDocument, caller: string, action: string, context: Context): Decision {
  const statements = list(policy.Statement).filter((s) => statementApplies(s, caller, action, context));
  if (statements.some((s) => s.Effect === 'Deny')) return 'ExplicitlyDenied';
  return statements.some((s) => s.Effect === 'Allow') ? 'Allowed' : 'ImplicitlyDenied';
}

export interface AssumeRoleRequest {
  readonly tags: readonly { readonly Key: string; readonly Value: string }[];
  readonly transitiveTagKeys: readonly string[];
  readonly sourceIdentity?: string;
  readonly roleSessionName: string;
}

/**
 * The request context of an AssumeRole call, restricted to the keys STS sets for `action`. `principalArn` is the
 * caller's aws:PrincipalArn, for a session of a role with a path.
 */
export function contextFor(action: string, caller: string, call: AssumeRoleRequest, principalArn = principalArnOf(caller)): Context {
  const full: Context = {
    'aws:PrincipalArn': principalArn,
    'aws:PrincipalAccount': caller.split(':')[4],
    'sts:RoleSessionName': call.roleSessionName,
  };
  for (const t of call.tags) full[`aws:RequestTag/${t.Key}`] = t.Value;
  if (call.tags.length > 0) full['aws:TagKeys'] = call.tags.map((t) => t.Key);
  if (call.transitiveTagKeys.length > 0) full['sts:TransitiveTagKeys'] = [...call.transitiveTagKeys];
  if (call.sourceIdentity !== undefined) full['sts:SourceIdentity'] = call.sourceIdentity;
  const allowed = ACTION_KEYS[action.toLowerCase()] ?? (() => false);
  return Object.fromEntries(Object.entries(full).filter(([k]) => GLOBAL_KEYS.has(k.toLowerCase()) || allowed(k.toLowerCase())));
}

/**
 * The authorizations STS makes for AssumeRole: `sts:AssumeRole` always, `sts:TagSession` when tags are passed,
 * `sts:SetSourceIdentity` when a source identity is; each must be allowed by the role's trust policy.
 */
export function authorizeAssumeRole(policy: PolicyDocument, caller: string, call: AssumeRoleRequest,
  principalArn = principalArnOf(caller)): Record<string, Decision> {
  const actions = ['sts:AssumeRole'];
  if (call.tags.length > 0 || call.transitiveTagKeys.length > 0) actions.push('sts:TagSession');
  if (call.sourceIdentity !== undefined) actions.push('sts:SetSourceIdentity');
  return Object.fromEntries(actions.map((a) => [a, evaluate(policy, caller, a, contextFor(a, caller, call, principalArn))]));
}
