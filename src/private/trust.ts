import { Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SESSION_TAG_KEY, SOURCE_IDENTITY_PREFIX } from '../shared/contract';

/** A session id is 16 hex digits; IAM's `?` matches one character, so the condition requires that length. */
const SESSION_ID_WILDCARD = '?'.repeat(16);
const ONLY_THE_SESSION_TAG = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [SESSION_TAG_KEY] } };

/**
 * One grant per STS action, because IAM only evaluates the condition keys that exist for each action;
 * a single combined statement denies all three.
 */
const SESSION_GRANTS = [
  {
    sid: 'SentinelTvmAssumeRole',
    action: 'sts:AssumeRole',
    conditions: {
      StringLike: { [`aws:RequestTag/${SESSION_TAG_KEY}`]: SESSION_ID_WILDCARD, 'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*` },
      ...ONLY_THE_SESSION_TAG,
    },
  },
  {
    sid: 'SentinelTvmTagSession',
    action: 'sts:TagSession',
    conditions: { StringLike: { [`aws:RequestTag/${SESSION_TAG_KEY}`]: SESSION_ID_WILDCARD }, ...ONLY_THE_SESSION_TAG },
  },
  {
    sid: 'SentinelTvmSetSourceIdentity',
    action: 'sts:SetSourceIdentity',
    conditions: { StringLike: { 'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*` } },
  },
];

/**
 * The trust statements of a protected role: the TVM's account, on condition that the caller is the TVM's execution
 * role (`aws:PrincipalArn`). Naming the role as the principal instead would make IAM check that it exists when the
 * trust policy is written (a protected role in a stack deployed before the TVM's would fail) and pin its unique id
 * (a re-created execution role would no longer be trusted). In the same account the execution role's own policy must
 * also allow the call, and it does only from the vending function (`onlyFromFunction`).
 */
export function trustStatements(tvmRoleArn: string, tvmAccount: string): iam.PolicyStatement[] {
  return SESSION_GRANTS.map((g) => new iam.PolicyStatement({
    sid: g.sid,
    principals: [new iam.AccountPrincipal(tvmAccount)],
    actions: [g.action],
    conditions: { ...structuredClone(g.conditions), ArnEquals: { 'aws:PrincipalArn': tvmRoleArn } },
  }));
}

/**
 * The same grants for the execution role's own policy (resources added per profile role): the session tag is then
 * required even on roles whose trust policy also trusts their account, so the TVM can never obtain an untagged credential.
 */
export function assumeStatements(): iam.PolicyStatement[] {
  return SESSION_GRANTS.map((g) => new iam.PolicyStatement({ actions: [g.action], conditions: structuredClone(g.conditions) }));
}

/**
 * Denies a function role these actions unless the call comes from that function's own code: Lambda sets
 * `lambda:SourceFunctionArn` on its execution role's credentials. A function someone else runs as this role (with
 * `iam:PassRole`) then cannot use them, even where a resource policy names the role (a protected role's trust does:
 * in one account, that alone would allow the call, so an Allow with a condition would not be enough).
 */
export function onlyFromFunction(functionArn: string, actions: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'OnlyFromItsOwnFunction',
    effect: iam.Effect.DENY,
    actions,
    resources: ['*'],
    conditions: { ArnNotEquals: { 'lambda:SourceFunctionArn': functionArn } },
  });
}

/**
 * A principal whose trust policy is exactly the three TVM statements. `iam.Role` lets an
 * `IAssumeRolePrincipal` write its own statements, which avoids the default unconditioned `sts:AssumeRole`.
 */
export class TvmTrustPrincipal extends iam.ArnPrincipal {
  constructor(private readonly tvmRoleArn: string, private readonly tvmAccount: string) {
    super(tvmRoleArn);
  }

  public addToAssumeRolePolicy(document: iam.PolicyDocument): void {
    document.addStatements(...trustStatements(this.tvmRoleArn, this.tvmAccount));
  }
}

/** Denies a profile's role `execute-api:Invoke` on its TVM's API: a vended credential must not buy a fresh session. */
export function noSelfVending(executeApiArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'SentinelTvmNoSelfVending',
    effect: iam.Effect.DENY,
    actions: ['execute-api:Invoke'],
    resources: [executeApiArn],
  });
}

/**
 * Denies a profile's role `sts:AssumeRole` but into its chain targets (any role when there are none): a revoked credential
 * must not escape into a role without the deny.
 */
export function noRoleChaining(chainTargetArns: string[], sid?: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    effect: iam.Effect.DENY,
    actions: ['sts:AssumeRole'],
    ...(chainTargetArns.length > 0 ? { notResources: chainTargetArns } : { resources: ['*'] }),
  });
}

/** The account of a TVM's execution role: from its ARN when literal, else the account of the TVM's stack. */
export function tvmAccountOf(executionRoleArn: string, stackAccount: string): string {
  return Token.isUnresolved(executionRoleArn) ? stackAccount : executionRoleArn.split(':')[4];
}

/** Marks the roles a `SentinelTvmSpoke` creates (bounded, under the TVM's path): the ones its enforcement role can write. */
export const SPOKE_ROLE_SYMBOL = Symbol.for('cdk-sentinel-tvm.SpokeProtectedRole');
