// The protected roles' trust policy and a small IAM evaluator: enough of IAM's policy logic for trust policies
// (principals, actions, string, ARN, date and Null conditions with set operators), checked against an IAM simulator
// on the statements the construct synthesizes (test/local-trust.test.ts), and for the identity policies of local
// roles (the enforcer's deny: actions, resources, aws:PrincipalTag and aws:TokenIssueTime conditions).
import { SESSION_TAG_KEY, SOURCE_IDENTITY_PREFIX } from '../../src/shared/contract';

export type ContextValue = string | readonly string[];
export type Context = Record<string, ContextValue>;
export type Decision = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: '*' | { readonly AWS: string | readonly string[] };
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  /** Identity policies only: trust policies name no resource (the role is the resource). */
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
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

/**
 * A spoke's enforcement role trust (the SentinelTvmSpoke construct's shape): the hub account, on condition that the caller
 * is the hub's enforcer role (`aws:PrincipalArn`, with its path), as the ProtectedRole trust names the execution role.
 */
export function spokeEnforcementTrustPolicy(enforcerRoleArn: string): PolicyDocument {
  const [, partition, , , account] = enforcerRoleArn.split(':');
  return {
    Version: '2012-10-17',
    Statement: [{
      Effect: 'Allow',
      Principal: { AWS: `arn:${partition}:iam::${account}:root` },
      Action: 'sts:AssumeRole',
      Condition: { ArnEquals: { 'aws:PrincipalArn': enforcerRoleArn } },
    }],
  };
}

/**
 * The trust of a caller role of the TVM's account: the accounts of `trusted` (aws:PrincipalArn patterns of IAM users and
 * roles), on condition that the caller matches one. An IAM user named exactly must name the session after itself
 * (`sts:RoleSessionName`, as `${aws:username}` does in AWS): the session name is the user name the TVM sees, and a
 * pattern like `assumed-role/CallerRole/*` in a profile would otherwise let the user pick anyone's. The pin keeps only the
 * user from other names: local mode's config gives a caller role one principal, as any other it trusted could take the user's.
 */
export function callerRoleTrustPolicy(trusted: readonly string[]): PolicyDocument {
  const rootOf = (arn: string) => `arn:${arn.split(':')[1]}:iam::${arn.split(':')[4]}:root`;
  const accounts = [...new Set(trusted.map(rootOf))];
  const principal = { AWS: accounts.length === 1 ? accounts[0] : accounts };
  const namedUsers = trusted.filter((t) => /^arn:[\w-]+:iam::\d{12}:user\/(?:[^*?]*\/)?[^/*?]+$/.test(t));
  const others = trusted.filter((t) => !namedUsers.includes(t));
  const statements: PolicyStatement[] = [
    ...namedUsers.map((user): PolicyStatement => ({
      Effect: 'Allow',
      Principal: principal,
      Action: 'sts:AssumeRole',
      Condition: { ArnEquals: { 'aws:PrincipalArn': user }, StringEquals: { 'sts:RoleSessionName': user.split('/').pop()! } },
    })),
    ...(others.length
      ? [{ Effect: 'Allow', Principal: principal, Action: 'sts:AssumeRole', Condition: { ArnLike: { 'aws:PrincipalArn': others } } } as const]
      : []),
    // Tags and a source identity the caller brings along (transitive ones of a chained session) pass.
    {
      Effect: 'Allow',
      Principal: principal,
      Action: ['sts:TagSession', 'sts:SetSourceIdentity'],
      Condition: { ArnLike: { 'aws:PrincipalArn': [...trusted] } },
    },
  ];
  return { Version: '2012-10-17', Statement: statements };
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

/** A date condition value: ISO 8601, or epoch seconds as IAM also accepts; NaN when neither. */
function dateOf(value: string): number {
  return /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
}

const DATE_TESTS: Record<string, (context: number, policy: number) => boolean> = {
  DateEquals: (c, p) => c === p,
  DateLessThan: (c, p) => c < p,
  DateLessThanEquals: (c, p) => c <= p,
  DateGreaterThan: (c, p) => c > p,
  DateGreaterThanEquals: (c, p) => c >= p,
};

/**
 * One condition operator on one key, as IAM evaluates it (missing keys included); undefined when this evaluator does
 * not know the operator (or cannot read a policy date), for the caller to fail closed.
 */
export function conditionHolds(operator: string, key: string, policyValues: readonly string[], context: Context): boolean | undefined {
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
  const negated = op.startsWith('StringNot') || op.startsWith('ArnNot') || op === 'DateNotEquals';
  const base = negated ? op.replace('StringNot', 'String').replace('ArnNot', 'Arn').replace('DateNot', 'Date') : op;
  let match: (value: string) => boolean;
  switch (base) {
    case 'ArnEquals':
    case 'ArnLike': match = (v) => policyValues.some((p) => arnMatches(p, v)); break;
    case 'StringEquals': match = (v) => policyValues.includes(v); break;
    case 'StringEqualsIgnoreCase': match = (v) => policyValues.some((p) => p.toLowerCase() === v.toLowerCase()); break;
    case 'StringLike': match = (v) => policyValues.some((p) => wildcard(p).test(v)); break;
    case 'Bool': match = (v) => policyValues.some((p) => p.toLowerCase() === v.toLowerCase()); break;
    default: {
      const compare = DATE_TESTS[base];
      const dates = policyValues.map(dateOf);
      if (!compare || dates.some(Number.isNaN)) return undefined;
      match = (v) => {
        const at = dateOf(v);
        return !Number.isNaN(at) && dates.some((p) => compare(at, p));
      };
    }
  }
  const test = negated ? (v: string) => !match(v) : match;
  if (set === 'ForAllValues') return (values ?? []).every(test);
  if (set === 'ForAnyValue') return (values ?? []).some(test);
  if (values === undefined || values.length === 0) return ifExists || negated;
  return values.some(test);
}

/**
 * Whether all of a statement's conditions hold. An operator this evaluator does not know fails closed whichever the
 * effect: it never lets an Allow grant, and it makes a Deny apply (denying more is the safe error for a deny).
 */
function conditionsHold(s: PolicyStatement, context: Context): boolean {
  return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, values]) => conditionHolds(operator, key, list(values), context) ?? s.Effect === 'Deny'));
}

const actionMatches = (s: PolicyStatement, action: string) => (s.NotAction !== undefined
  ? !list(s.NotAction).some((a) => wildcard(a, 'i').test(action))
  : list(s.Action).some((a) => wildcard(a, 'i').test(action)));

function statementApplies(s: PolicyStatement, caller: string, action: string, context: Context): boolean {
  if (!statementPrincipalMatches(s, caller)) return false;
  return actionMatches(s, action) && conditionsHold(s, context);
}

/** IAM's decision on one action of a principal against a resource policy (deny wins, then allow, else implicit deny). */
export function evaluate(policy: PolicyDocument, caller: string, action: string, context: Context): Decision {
  const statements = list(policy.Statement).filter((s) => statementApplies(s, caller, action, context));
  if (statements.some((s) => s.Effect === 'Deny')) return 'ExplicitlyDenied';
  return statements.some((s) => s.Effect === 'Allow') ? 'Allowed' : 'ImplicitlyDenied';
}

/** An identity policy's decision, and the Sid of the statement that decided it when it was a Deny. */
export interface IdentityDecision {
  readonly decision: Decision;
  readonly deniedBy?: string;
}

/**
 * IAM's decision on one action against a resource by a principal's identity policies (the principal is implied):
 * deny wins, then allow, else implicit deny. A resource matches as ArnLike does; `*` matches any.
 */
export function evaluateIdentity(policies: readonly PolicyDocument[], action: string, resource: string, context: Context): IdentityDecision {
  const resourceMatches = (s: PolicyStatement) => (s.NotResource !== undefined
    ? !list(s.NotResource).some((r) => r === '*' || arnMatches(r, resource))
    : list(s.Resource).some((r) => r === '*' || arnMatches(r, resource)));
  const statements = policies.flatMap((p) => list(p.Statement))
    .filter((s) => actionMatches(s, action) && resourceMatches(s) && conditionsHold(s, context));
  const deny = statements.find((s) => s.Effect === 'Deny');
  if (deny) return { decision: 'ExplicitlyDenied', deniedBy: deny.Sid ?? '(no Sid)' };
  return { decision: statements.some((s) => s.Effect === 'Allow') ? 'Allowed' : 'ImplicitlyDenied' };
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
