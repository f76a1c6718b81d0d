import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { Introspection, Metrics } from './shared/contract';

/**
 * A TVM's error codes that count as denials (4xx answers): the `Code` dimension of its `Denials` metric.
 */
export enum DenialCode {
  /** 400: no profile was named. */
  MISSING_PROFILE = 'MISSING_PROFILE',
  /** 400: the profile name is malformed or unknown. */
  INVALID_PROFILE = 'INVALID_PROFILE',
  /** 400: the requested credential duration is out of range. */
  INVALID_DURATION = 'INVALID_DURATION',
  /** 400: the device id is malformed. */
  INVALID_DEVICE_ID = 'INVALID_DEVICE_ID',
  /** 400: the session id is malformed. */
  INVALID_SESSION_ID = 'INVALID_SESSION_ID',
  /** 400: the request is malformed. */
  INVALID_REQUEST = 'INVALID_REQUEST',
  /** 400: the identity proof is malformed. */
  INVALID_IDENTITY = 'INVALID_IDENTITY',
  /** 403: no valid SigV4 signature or identity proof. */
  IAM_AUTH_REQUIRED = 'IAM_AUTH_REQUIRED',
  /** 403: the caller may not use the profile. */
  POLICY_DENY = 'POLICY_DENY',
  /** 403: the session was revoked. */
  SESSION_REVOKED = 'SESSION_REVOKED',
  /** 403: the session's lifetime is over. */
  SESSION_EXPIRED = 'SESSION_EXPIRED',
  /** 403: the session belongs to someone else. */
  SESSION_FORBIDDEN = 'SESSION_FORBIDDEN',
  /** 403: an administrator blocked the caller. */
  PRINCIPAL_BLOCKED = 'PRINCIPAL_BLOCKED',
  /** 404: no such session. */
  SESSION_NOT_FOUND = 'SESSION_NOT_FOUND',
  /** 404: no such route. */
  NOT_FOUND = 'NOT_FOUND',
  /** 405: the route does not take that method. */
  METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED',
  /** 409: the session is not active. */
  SESSION_NOT_ACTIVE = 'SESSION_NOT_ACTIVE',
  /** 429: too many conflicting writes; retry. */
  RATE_LIMITED = 'RATE_LIMITED',
  /** 403: the profile needs an approved grant. @experimental */
  APPROVAL_REQUIRED = 'APPROVAL_REQUIRED',
  /** 403: the request awaits its approvals. @experimental */
  APPROVAL_PENDING = 'APPROVAL_PENDING',
  /** 403: the request was denied. @experimental */
  APPROVAL_DENIED = 'APPROVAL_DENIED',
  /** 403: a grant whose seal does not hold (written by someone else than the TVM). @experimental */
  APPROVAL_INVALID = 'APPROVAL_INVALID',
  /** 403: the request was cancelled. @experimental */
  REQUEST_CANCELLED = 'REQUEST_CANCELLED',
  /** 403: the request ended before it was used. @experimental */
  REQUEST_EXPIRED = 'REQUEST_EXPIRED',
  /** 403: the grant's scheduled start has not come. @experimental */
  NOT_YET_VALID = 'NOT_YET_VALID',
  /** 403: outside the profile's access windows. @experimental */
  OUTSIDE_ACCESS_WINDOW = 'OUTSIDE_ACCESS_WINDOW',
  /** 403: not an approver (or reviewer) of the profile. @experimental */
  APPROVER_NOT_ELIGIBLE = 'APPROVER_NOT_ELIGIBLE',
  /** 403: the identity cannot be tied to a person. @experimental */
  APPROVER_UNVERIFIED = 'APPROVER_UNVERIFIED',
  /** 403: a decision on one's own request. @experimental */
  SELF_APPROVAL_FORBIDDEN = 'SELF_APPROVAL_FORBIDDEN',
  /** 403: a review of one's own break-glass session. @experimental */
  SELF_REVIEW_FORBIDDEN = 'SELF_REVIEW_FORBIDDEN',
  /** 403: the caller may not break glass on the profile. @experimental */
  BREAK_GLASS_NOT_ALLOWED = 'BREAK_GLASS_NOT_ALLOWED',
  /** 429: break-glass within the cooldown. @experimental */
  BREAK_GLASS_COOLDOWN = 'BREAK_GLASS_COOLDOWN',
  /** 409: the previous break-glass awaits its review. @experimental */
  BREAK_GLASS_REVIEW_PENDING = 'BREAK_GLASS_REVIEW_PENDING',
  /** 400: a request on a profile that needs no approval. @experimental */
  APPROVAL_NOT_REQUIRED = 'APPROVAL_NOT_REQUIRED',
  /** 400: a missing or malformed reason. @experimental */
  REASON_REQUIRED = 'REASON_REQUIRED',
  /** 400: a missing ticket. @experimental */
  TICKET_REQUIRED = 'TICKET_REQUIRED',
  /** 400: a ticket not matching the policy. @experimental */
  INVALID_TICKET = 'INVALID_TICKET',
  /** 400: a malformed or too distant scheduled start. @experimental */
  INVALID_START = 'INVALID_START',
  /** 404: no such request, or one the caller may not see. @experimental */
  REQUEST_NOT_FOUND = 'REQUEST_NOT_FOUND',
  /** 409: the person has an open request on the profile. @experimental */
  REQUEST_EXISTS = 'REQUEST_EXISTS',
  /** 409: the request is no longer pending. @experimental */
  REQUEST_NOT_PENDING = 'REQUEST_NOT_PENDING',
  /** 409: the person approved already. @experimental */
  DUPLICATE_APPROVAL = 'DUPLICATE_APPROVAL',
  /** 409: the profile's policy or role changed since the request. @experimental */
  REQUEST_STALE = 'REQUEST_STALE',
  /** 409: no review pending. @experimental */
  REVIEW_NOT_PENDING = 'REVIEW_NOT_PENDING',
  /** 412: the request is not the one the approver was shown. @experimental */
  REQUEST_CHANGED = 'REQUEST_CHANGED',
}

/**
 * A Sentinel TVM: one created in this app (`SentinelTvm`) or one deployed elsewhere and referenced by its attributes
 * (`SentinelTvm.fromSentinelTvmAttributes`).
 */
export interface ISentinelTvm extends IConstruct {
  /** URL of the API's `$default` stage, ending with `/`. */
  readonly url: string;
  /** Id of the HTTP API (the `execute-api` ARNs name it). */
  readonly apiId: string;
  /**
   * ARN of the vending function's role: the one principal protected roles trust. A formatted ARN (only the partition,
   * account and region are deploy-time values), so another stack naming it takes no reference on the TVM's stack.
   */
  readonly executionRoleArn: string;
  /** The TVM's name: the `service` dimension of its metrics, and part of its roles' paths and names. */
  readonly tvmName: string;
  /** IAM path of the TVM's `ProtectedRole`s (`/sentinel-tvm/<tvmName>/`). */
  readonly protectedRolePath: string;
  /** Name of the TVM's revoked-sessions inline policy on its roles. */
  readonly revokedSessionsPolicyName: string;

  /**
   * Grants `execute-api:Invoke` on the routes every caller needs: vend (`GET|POST /`), `GET /profiles`, and the
   * session routes for their own sessions. Not the revoke route.
   */
  grantInvoke(grantee: iam.IGrantable): iam.Grant;

  /**
   * Grants `execute-api:Invoke` on `POST /introspect`, for a relying party. The TVM answers only the principals its own
   * stack names: `introspectionPrincipals`, or `grantIntrospect` on the `SentinelTvm` itself (which does both).
   *
   * @experimental
   */
  grantIntrospect(grantee: iam.IGrantable): iam.Grant;

  /** A metric of this TVM in the `SentinelTvm` namespace, with its `service` dimension. Sum over 5 minutes. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Credentials vended (new and continued sessions). Sum over 5 minutes. */
  metricVends(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Requests refused with a 4xx code, all codes together. Sum over 5 minutes. */
  metricDenials(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Requests refused with one code. Sum over 5 minutes. */
  metricDenialsByCode(code: DenialCode, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Sessions revoked through the API. Sum over 5 minutes. */
  metricRevocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Session store failures: fail-open vends and `STORE_UNAVAILABLE` answers. Sum over 5 minutes. */
  metricStoreFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Access requests filed (gated profiles). Sum over 5 minutes. @experimental */
  metricAccessRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Break-glass sessions started. Sum over 5 minutes. @experimental */
  metricBreakGlassInvocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Grants whose seal did not verify (each is revoked at once). Sum over 5 minutes. @experimental */
  metricIntegrityFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** AssumeRole calls that STS refused or that failed. Sum over 5 minutes. */
  metricStsFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Roles whose revoked-sessions deny the enforcer could not write in a run. Sum over 5 minutes. */
  metricEnforcementFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Time to answer a vend, in the handler, milliseconds. p99 over 5 minutes. */
  metricVendLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /**
   * Introspection answers, active and inactive together. Sum over 5 minutes.
   *
   * @experimental
   */
  metricIntrospections(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}

/**
 * What names a TVM deployed elsewhere (another stack, account or app). Every value is printed by the TVM's stack
 * (`tvm.url`, `tvm.apiId`, `tvm.executionRoleArn`, `tvm.tvmName`, `tvm.revokedSessionsPolicyName`).
 */
export interface SentinelTvmAttributes {
  /** URL of the API's `$default` stage, ending with `/`. */
  readonly url: string;
  /** Id of the HTTP API. */
  readonly apiId: string;
  /** ARN of the TVM's execution role (`tvm.executionRoleArn`). */
  readonly executionRoleArn: string;
  /** The TVM's name (`tvm.tvmName`). */
  readonly tvmName: string;
  /**
   * Name of the TVM's revoked-sessions inline policy.
   *
   * @default - `SentinelRevokedSessions-<tvmName>-<region of the execution role's stack>`
   */
  readonly revokedSessionsPolicyName?: string;
}

/**
 * What every TVM offers, whether created in this app or imported: its grants and its metrics.
 */
export abstract class SentinelTvmBase extends Construct implements ISentinelTvm {
  public abstract readonly url: string;
  public abstract readonly apiId: string;
  public abstract readonly executionRoleArn: string;
  public abstract readonly tvmName: string;
  public abstract readonly protectedRolePath: string;
  public abstract readonly revokedSessionsPolicyName: string;

  /**
   * Grants `execute-api:Invoke` on the routes every caller needs: vend (`GET|POST /`), `GET /profiles`, the session
   * routes for their own sessions (`GET /sessions`, `GET|DELETE /sessions/{id}`), and the routes of gated access
   * (requests, approvals, break-glass, reviews), where the handler decides who may do what. Not the revoke route. A
   * grantee in another account gets a warning (`cdk-sentinel-tvm:crossAccountInvoke`): HTTP APIs have no resource
   * policy, so such a grant can never work.
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this._grantRoutes(grantee, [
      ['GET', '/'], ['POST', '/'], ['GET', '/profiles'], ['GET', '/sessions'], ['GET', '/sessions/*'], ['DELETE', '/sessions/*'],
      ['GET', '/requests'], ['POST', '/requests'], ['GET', '/requests/*'], ['POST', '/requests/*/*'], ['POST', '/breakglass'],
      ['GET', '/reviews'], ['POST', '/sessions/*/review'],
    ]);
  }

  /**
   * Grants `execute-api:Invoke` on `POST /introspect`, for a relying party. On an imported TVM this is the IAM half only:
   * the TVM's own stack must name the grantee in `introspectionPrincipals` (on a `SentinelTvm`, `grantIntrospect` does
   * both). A grantee in another account gets the `cdk-sentinel-tvm:crossAccountInvoke` warning.
   *
   * @experimental
   */
  public grantIntrospect(grantee: iam.IGrantable): iam.Grant {
    return this._grantRoutes(grantee, [['POST', Introspection.PATH]]);
  }

  /**
   * A metric of this TVM in the `SentinelTvm` namespace, with its `service` dimension. Sum over 5 minutes unless
   * `props` says otherwise.
   *
   * @param metricName one of Vends, Denials, Revocations, StoreFailures, StsFailures, VendLatency, EnforcementFailures
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: Metrics.NAMESPACE,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { ...props?.dimensionsMap, [Metrics.SERVICE_DIMENSION]: this.tvmName },
    });
  }

  /** Credentials vended (new and continued sessions). Sum over 5 minutes. */
  public metricVends(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.VENDS, props);
  }

  /** Requests refused with a 4xx code, all codes together. Sum over 5 minutes. */
  public metricDenials(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.DENIALS, props);
  }

  /** Requests refused with one code (e.g. `DenialCode.POLICY_DENY`). Sum over 5 minutes. */
  public metricDenialsByCode(code: DenialCode, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.DENIALS, { ...props, dimensionsMap: { ...props?.dimensionsMap, [Metrics.CODE_DIMENSION]: code } });
  }

  /** Sessions revoked through the API. Sum over 5 minutes. */
  public metricRevocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.REVOCATIONS, props);
  }

  /** Session store failures: fail-open vends and `STORE_UNAVAILABLE` answers. Sum over 5 minutes. */
  public metricStoreFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.STORE_FAILURES, props);
  }

  /** Access requests filed (gated profiles). Sum over 5 minutes. @experimental */
  public metricAccessRequests(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.ACCESS_REQUESTS, props);
  }

  /** Break-glass sessions started. Sum over 5 minutes. @experimental */
  public metricBreakGlassInvocations(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.BREAK_GLASS_INVOCATIONS, props);
  }

  /**
   * Grants whose seal did not verify: written by someone else than the TVM (each is revoked at once). Sum over 5 minutes.
   *
   * @experimental
   */
  public metricIntegrityFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.INTEGRITY_FAILURES, props);
  }

  /** AssumeRole calls that STS refused or that failed. Sum over 5 minutes. */
  public metricStsFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.STS_FAILURES, props);
  }

  /**
   * Roles whose revoked-sessions deny the enforcer could not write in a run (after trying the smaller fallback). Sum
   * over 5 minutes. `metricEnforcementFailures({ dimensionsMap: { Role: '<role name>' } })` is one role's.
   */
  public metricEnforcementFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.ENFORCEMENT_FAILURES, props);
  }

  /**
   * Roles of one account whose revoked-sessions deny the enforcer could not write in a run (e.g. it could not assume that
   * account's spoke enforcement role). Sum over 5 minutes.
   *
   * @param accountId the 12-digit account id, or `organization` for the organization-wide SCP (not `account`: `props` has
   *   one, the account the metric is read from)
   * @experimental
   */
  public metricEnforcementFailuresByAccount(accountId: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (!Token.isUnresolved(accountId) && !/^([0-9]{12}|organization)$/.test(accountId)) {
      throw new Error(`metricEnforcementFailuresByAccount: accountId is ${JSON.stringify(accountId)}: expected a 12-digit account id, `
        + 'or "organization" for the organization-wide SCP');
    }
    return this.metric(Metrics.ENFORCEMENT_FAILURES, {
      ...props,
      dimensionsMap: { ...props?.dimensionsMap, [Metrics.ACCOUNT_DIMENSION]: accountId },
    });
  }

  /**
   * Introspection answers (`POST /introspect`), active and inactive together; `metricIntrospections({ dimensionsMap:
   * { Active: 'false' } })` counts the inactive ones. Sum over 5 minutes.
   *
   * @experimental
   */
  public metricIntrospections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.INTROSPECTIONS, props);
  }

  /** Time to answer a vend, in the handler, milliseconds. p99 over 5 minutes. */
  public metricVendLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.VEND_LATENCY, { statistic: cloudwatch.Stats.p(99), ...props });
  }

  /**
   * `execute-api:Invoke` on `[method, path]` routes of the `$default` stage.
   * @internal
   */
  protected _grantRoutes(grantee: iam.IGrantable, routes: Array<[string, string]>): iam.Grant {
    this.warnIfCrossAccount(grantee);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: routes.map(([method, path]) => Stack.of(this).formatArn({
        service: 'execute-api',
        region: this._apiRegion(),
        account: this._apiAccount(),
        resource: this.apiId,
        resourceName: `$default/${method}${path}`,
      })),
    });
  }

  /**
   * Region of the API, for constructs of this library that call it.
   * @internal
   */
  public _region(): string {
    return this._apiRegion();
  }

  /**
   * Region of the API.
   * @internal
   */
  protected _apiRegion(): string {
    return Stack.of(this).region;
  }

  /**
   * Account of the API.
   * @internal
   */
  protected _apiAccount(): string {
    return Stack.of(this).account;
  }

  private warnIfCrossAccount(grantee: iam.IGrantable): void {
    const granteeAccount = grantee.grantPrincipal.principalAccount;
    const tvmAccount = this._apiAccount();
    if (granteeAccount === undefined || Token.isUnresolved(granteeAccount) || Token.isUnresolved(tvmAccount)) return;
    if (granteeAccount === tvmAccount) return;
    const scope = Construct.isConstruct(grantee) ? grantee : this;
    Annotations.of(scope).addWarningV2('cdk-sentinel-tvm:crossAccountInvoke',
      `${scope.node.path} is in account ${granteeAccount}, the TVM ${this.node.path} in ${tvmAccount}: HTTP APIs have no resource `
      + `policy, so API Gateway refuses callers of other accounts whatever their own policy grants; call the TVM from ${tvmAccount}`);
  }
}
