import * as iam from 'aws-cdk-lib/aws-iam';
import { SESSION_TAG_KEY, SOURCE_IDENTITY_PREFIX } from '../shared/contract';

/** A session id is 16 hex digits; IAM's `?` matches one character, so the condition requires that length. */
const SESSION_ID_WILDCARD = '?'.repeat(16);

/**
 * The trust statements of a protected role (SPEC §6): one statement per STS action, because IAM only
 * evaluates the condition keys that exist for each action; a single combined statement denies all three.
 */
export function trustStatements(tvmRoleArn: string): iam.PolicyStatement[] {
  const principal = new iam.ArnPrincipal(tvmRoleArn);
  const onlyTheSessionTag = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [SESSION_TAG_KEY] } };
  return [
    new iam.PolicyStatement({
      sid: 'SentinelTvmAssumeRole',
      principals: [principal],
      actions: ['sts:AssumeRole'],
      conditions: {
        StringLike: {
          [`aws:RequestTag/${SESSION_TAG_KEY}`]: SESSION_ID_WILDCARD,
          'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*`,
        },
        ...onlyTheSessionTag,
      },
    }),
    new iam.PolicyStatement({
      sid: 'SentinelTvmTagSession',
      principals: [principal],
      actions: ['sts:TagSession'],
      conditions: {
        StringLike: { [`aws:RequestTag/${SESSION_TAG_KEY}`]: SESSION_ID_WILDCARD },
        ...onlyTheSessionTag,
      },
    }),
    new iam.PolicyStatement({
      sid: 'SentinelTvmSetSourceIdentity',
      principals: [principal],
      actions: ['sts:SetSourceIdentity'],
      conditions: { StringLike: { 'sts:SourceIdentity': `${SOURCE_IDENTITY_PREFIX}*` } },
    }),
  ];
}

/**
 * A principal whose trust policy is exactly the three TVM statements. `iam.Role` lets an
 * `IAssumeRolePrincipal` write its own statements, which avoids the default unconditioned `sts:AssumeRole`.
 */
export class TvmTrustPrincipal extends iam.ArnPrincipal {
  constructor(private readonly tvmRoleArn: string) {
    super(tvmRoleArn);
  }

  public addToAssumeRolePolicy(document: iam.PolicyDocument): void {
    document.addStatements(...trustStatements(this.tvmRoleArn));
  }
}
