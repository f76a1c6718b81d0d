import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { noRoleChaining, noSelfVending, tvmAccountOf } from './trust';
import { revokedSessionsPolicyName } from '../shared/contract';
import { ISentinelTvm, SentinelTvmAttributes, SentinelTvmBase } from '../tvm-reference';

/** A TVM deployed elsewhere, named by its attributes. */
export class ImportedSentinelTvm extends SentinelTvmBase {
  public readonly url: string;
  public readonly apiId: string;
  public readonly executionRoleArn: string;
  public readonly tvmName: string;
  public readonly protectedRolePath: string;
  public readonly revokedSessionsPolicyName: string;

  constructor(scope: Construct, id: string, attrs: SentinelTvmAttributes) {
    super(scope, id);
    const required = { url: attrs.url, apiId: attrs.apiId, executionRoleArn: attrs.executionRoleArn, tvmName: attrs.tvmName };
    for (const [prop, value] of Object.entries(required)) {
      if (typeof value !== 'string' || value.length === 0) {
        throw new Error(`fromSentinelTvmAttributes: ${prop} is required, got ${JSON.stringify(value)}`);
      }
    }
    if (!Token.isUnresolved(attrs.url) && !/^https:\/\/[^/]+\/$/.test(attrs.url)) {
      throw new Error(`fromSentinelTvmAttributes: url ${JSON.stringify(attrs.url)} is not the TVM's URL: expected https://<host>/`);
    }
    // No wildcard: the trust's ArnEquals matches `*` and `?` as ArnLike does, and would trust every role they cover.
    if (!Token.isUnresolved(attrs.executionRoleArn) && !/^arn:[a-z-]+:iam::[0-9]{12}:role\/[\w+=,.@/-]+$/.test(attrs.executionRoleArn)) {
      throw new Error(`fromSentinelTvmAttributes: executionRoleArn ${JSON.stringify(attrs.executionRoleArn)} is not a role ARN `
        + '(arn:<partition>:iam::<account>:role/<path><name>, no wildcard)');
    }
    validateTvmName('fromSentinelTvmAttributes: tvmName', attrs.tvmName);
    this.url = attrs.url;
    this.apiId = attrs.apiId;
    this.executionRoleArn = attrs.executionRoleArn;
    this.tvmName = attrs.tvmName;
    this.protectedRolePath = protectedRolePathOf(attrs.tvmName);
    this.revokedSessionsPolicyName = attrs.revokedSessionsPolicyName ?? revokedSessionsPolicyName(attrs.tvmName, this._apiRegion());
  }

  /** @internal */
  protected _apiRegion(): string {
    return apiRegionOf(this.url) ?? Stack.of(this).region;
  }

  /** @internal */
  protected _apiAccount(): string {
    return tvmAccountOf(this.executionRoleArn, Stack.of(this).account);
  }
}

/** The Region in a TVM's execute-api URL, when it is literal. */
export function apiRegionOf(url: string): string | undefined {
  return Token.isUnresolved(url) ? undefined : /^https:\/\/[^.]+\.execute-api\.([a-z0-9-]+)\./.exec(url)?.[1];
}

/** The IAM path of a TVM's protected roles. */
export function protectedRolePathOf(tvmName: string): string {
  return `/sentinel-tvm/${tvmName}/`;
}

/** A TVM name: a literal, in IAM paths and role names. */
export function validateTvmName(prop: string, name: string): void {
  if (Token.isUnresolved(name)) {
    throw new Error(`${prop} must be a literal string, got a token: it names the TVM's roles and metrics`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(name)) {
    throw new Error(`${prop} ${JSON.stringify(name)} is not a valid TVM name: expected 1 to 40 of A-Z a-z 0-9 _ - , starting with `
      + 'a letter or digit');
  }
}

/** The role a `SentinelTvmSpoke` is constructing: the spoke confines it with a managed policy, not inline statements. */
let spokeRoleUnderConstruction: { readonly scope: IConstruct; readonly id: string } | undefined;

/**
 * Runs `build`, the construction of a spoke's role `id` in `scope`: {@link isSpokeRoleUnderConstruction} tells the
 * ProtectedRole constructor to leave its confinement to the spoke.
 */
export function constructSpokeRole<T>(scope: IConstruct, id: string, build: () => T): T {
  const previous = spokeRoleUnderConstruction;
  spokeRoleUnderConstruction = { scope, id };
  try {
    return build();
  } finally {
    spokeRoleUnderConstruction = previous;
  }
}

/** Whether the role `id` of `scope` is a spoke's role under construction (see {@link constructSpokeRole}). */
export function isSpokeRoleUnderConstruction(scope: IConstruct, id: string): boolean {
  return spokeRoleUnderConstruction?.scope === scope && spokeRoleUnderConstruction.id === id;
}

/**
 * The denies a protected role gets when its TVM cannot attach them (a TVM of another app, or of another account): no
 * `execute-api:Invoke` on the TVM, no `sts:AssumeRole` at all. `scope` is in the role's stack. `tvmOfThisApp`: the TVM is
 * a `SentinelTvm` of this app in another account, whose API id would be a reference CloudFormation cannot resolve
 * across accounts: the deny then covers every HTTP API's `$default` stage (the TVM's only one; REST API stage names
 * cannot start with `$`) in the TVM's account and Region.
 */
export function selfConfinement(scope: IConstruct, tvm: ISentinelTvm, tvmAccount: string, tvmOfThisApp: boolean): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const tvmStack = Stack.of(tvm);
  const api = tvmOfThisApp
    ? { region: Token.isUnresolved(tvmStack.region) ? '*' : tvmStack.region, resource: '*', resourceName: '$default/*' }
    : { region: apiRegionOf(tvm.url) ?? stack.region, resource: tvm.apiId, resourceName: '*' };
  return [
    noSelfVending(stack.formatArn({ service: 'execute-api', account: tvmAccount, ...api })),
    noRoleChaining([], 'SentinelTvmNoRoleChaining'),
  ];
}
