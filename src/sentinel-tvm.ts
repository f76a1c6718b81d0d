import { Annotations, Aws, Duration, Fn, Lazy, Names, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, IConstruct } from 'constructs';
import { Approval, BreakGlass, TimeWindow } from './access';
import { AccessEventType, type AccessEventOptions } from './access-events';
import { PrincipalPattern } from './principal-pattern';
import { renderAccessPolicy } from './private/access-policy';
import { TvmConfiguration } from './private/configuration';
import { TvmEnforcer } from './private/enforcer';
import { TvmGatedAccess } from './private/gated-access';
import { ImportedSentinelTvm, protectedRolePathOf, validateTvmName } from './private/imported-tvm';
import { addDeploymentLimitChecks } from './private/limits';
import { acknowledgeNag } from './private/nag';
import { renderPrincipalPatterns } from './private/principals';
import { TvmSessionEvents } from './private/session-events';
import { TvmSiemExport } from './private/siem-export';
import { TvmTamperDetection } from './private/tamper-detection';
import { assumeStatements, noRoleChaining, noSelfVending, onlyFromFunction, SPOKE_ROLE_SYMBOL, trustStatements } from './private/trust';
import { validateDuration, validateProfileName } from './private/validation';
import { VendFunction } from './private/vend-function';
import { RevocationEnforcement } from './revocation';
import { AccessRoutes, GRANT_KEY_ITEM_ID, type AccessPolicyConfig } from './shared/access';
import {
  Attr, BLOCK_ITEM_PREFIX, Env, Indexes, Introspection, Limits, Metrics, revokedSessionsPolicyName, Routes, SESSION_TAG_KEY,
  SessionEvents, SessionEventTypes, SOURCE_IDENTITY_PREFIX, StoreFailureModes, TOKEN_KEY_ITEM_ID, TvmTags, vendRoleName,
} from './shared/contract';
import { SiemExport } from './siem-export';
import { ISentinelTvm, SentinelTvmAttributes, SentinelTvmBase } from './tvm-reference';

/**
 * What the TVM does when the session table cannot be reached while vending.
 */
export enum StoreFailureMode {
  /**
   * Vend anyway, with the session tag, and log and count the failure.
   *
   * Availability first. Such a vend has no record: its session id is only in the decision log, and an administrator
   * revokes it by id with the profile's name (`POST /sessions/{id}/revoke` with `profile`), which records it as revoked
   * so that the enforcer denies its credentials. Principal blocks are not checked while the table is down.
   */
  FAIL_OPEN = 'FAIL_OPEN',
  /** Answer 503 `STORE_UNAVAILABLE`: no credentials without a session record. */
  FAIL_CLOSED = 'FAIL_CLOSED',
}

/**
 * The least severe log level the TVM's functions write.
 */
export enum SentinelTvmLogLevel {
  /** Everything, including debugging detail. */
  DEBUG = 'DEBUG',
  /** One decision line per request, and warnings and errors. */
  INFO = 'INFO',
  /** Only failed dependencies (fail-open vends, STS errors) and errors. */
  WARN = 'WARN',
  /** Only errors. */
  ERROR = 'ERROR',
}

/**
 * Properties of a `SentinelTvm`.
 */
export interface SentinelTvmProps {
  /**
   * Name of this TVM: the `service` dimension of its metrics, its protected-role path `/sentinel-tvm/<tvmName>/`, and
   * part of the names of its roles and revoked-sessions policy. Changing it replaces those roles.
   *
   * @default - derived from the construct path (unique in the app, at most 40 characters)
   */
  readonly tvmName?: string;

  /**
   * The principals that may list, read, end and revoke any session, and block a principal.
   *
   * @default - no administrators: callers manage only their own sessions
   */
  readonly adminPrincipals?: PrincipalPattern[];

  /**
   * Relying parties: the principals that may ask whether a session is still valid (`POST /introspect`), e.g. a
   * downstream service's Lambda authorizer. `grantIntrospect` adds one of this app; administrators may too.
   *
   * @default - none besides those given `grantIntrospect` and the administrators
   * @experimental
   */
  readonly introspectionPrincipals?: PrincipalPattern[];

  /**
   * The event bus every session change goes to (`Session Started`, `Session Ended`, `Session Revoked`, `Revocation
   * Enforced`, `Revocation Enforcement Failed`; source `sentinel-tvm`). Subscribe with `onSessionRevoked` and its
   * siblings.
   *
   * @default - the account's default event bus
   * @experimental
   */
  readonly eventBus?: events.IEventBus;

  /**
   * A topic for people: each revocation, each deny the enforcer wrote for it, and each deny it could not write are
   * published to it as a line of text (subscribe an email address or a chat integration). The TVM only publishes: the
   * topic's encryption and subscriptions are yours (an encrypted topic's key must let EventBridge use it).
   *
   * @default - no notifications
   * @experimental
   */
  readonly notificationTopic?: sns.ITopic;

  /**
   * Tamper detection: EventBridge rules on CloudTrail's management events hand the enforcer every change of its
   * revoked-sessions deny policy, of a protected role's trust policy and of its organization SCP made by anyone but the
   * enforcer or CloudFormation, and every AssumeRole of a protected role by anyone but the TVM. The enforcer rewrites the
   * denies at once (for a change), puts a `Tamper Detected` event, and counts it (`TamperEvents`, which `tamperAlarm`
   * watches). IAM's and Organizations' events reach EventBridge in us-east-1 only: a TVM in another region needs a
   * `SentinelTvmTamperForwarder` in us-east-1 (synth warns without one).
   *
   * @default true when revocation reaches issued credentials (the enforcer exists); `true` without it is an error
   * @experimental
   */
  readonly tamperDetection?: boolean;

  /**
   * Exports the vending function's decision log lines and this TVM's session events (tamper findings included) for a
   * SIEM: to an S3 bucket through Firehose delivery streams the TVM creates (`SiemExport.toBucket`), or to your own
   * delivery stream (`SiemExport.toDeliveryStream`). Only decision lines and session events are exported, never another
   * log line, a secret or the session table: see docs/siem.md for the format.
   *
   * @default - no export
   * @experimental
   */
  readonly siemExport?: SiemExport;

  /**
   * Profiles of this TVM, as if each were added with `addProfile`.
   *
   * @default - none: add them with `addProfile`
   */
  readonly profiles?: ProfileProps[];

  /**
   * How long a session lasts from its first vend. Continued vends never return credentials that
   * outlive it; past it the client starts a new session.
   *
   * Between 15 minutes and 7 days.
   *
   * @default Duration.hours(12)
   */
  readonly sessionLifetime?: Duration;

  /**
   * Lifetime of vended credentials when the caller does not ask for one. Capped by the profile's
   * `maxCredentialDuration` and by the time left in the session.
   *
   * Between 15 minutes and 1 hour (the Lambda's AssumeRole is role chaining, which STS caps at 1 hour).
   *
   * @default Duration.minutes(15)
   */
  readonly defaultCredentialDuration?: Duration;

  /**
   * What to do when the session table fails while vending.
   *
   * @default StoreFailureMode.FAIL_OPEN
   */
  readonly storeFailureMode?: StoreFailureMode;

  /**
   * How far a revocation reaches: the credentials already issued too (a deny policy on each protected role, written by
   * an enforcer Lambda), or future vends only.
   *
   * @default RevocationEnforcement.roleDenyPolicy()
   */
  readonly revocation?: RevocationEnforcement;

  /**
   * How long a session record is kept after the session ends, for audit, before DynamoDB's TTL deletes it.
   *
   * @default Duration.days(30)
   */
  readonly sessionRetention?: Duration;

  /**
   * What happens to the TVM's stateful resources when they leave the stack: the session table, the control table
   * (configuration, principal blocks) and the log groups. For a throw-away stack, `RemovalPolicy.DESTROY`.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Customer managed KMS key for the session table.
   *
   * @default - the AWS managed key for DynamoDB (`aws/dynamodb`)
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Point-in-time recovery of the session table and the control table.
   *
   * @default - enabled, with DynamoDB's default recovery period (35 days)
   */
  readonly pointInTimeRecoverySpecification?: dynamodb.PointInTimeRecoverySpecification;

  /**
   * Retention of the handler's log group and of the API access log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Log level of the TVM's functions (`POWERTOOLS_LOG_LEVEL`). At `INFO`, every request writes one decision line.
   *
   * @default SentinelTvmLogLevel.INFO
   */
  readonly logLevel?: SentinelTvmLogLevel;

  /**
   * Instruction set of the TVM's functions. Their code is plain JavaScript for Node.js 22, so either works; choose
   * `lambda.Architecture.X86_64` in a Region where Lambda has no arm64.
   *
   * @default lambda.Architecture.ARM_64
   */
  readonly architecture?: lambda.Architecture;

  /**
   * AWS X-Ray tracing of the TVM's functions.
   *
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Throttling of each vending route (`GET /`, `POST /`, `GET /profiles`): API Gateway keeps one bucket per route, for
   * all callers of that route together. The session routes have buckets of their own (`sessionsThrottle`), so a flood
   * of vends cannot starve revocation.
   *
   * @default - 50 requests per second, bursts of 100
   */
  readonly throttle?: apigwv2.ThrottleSettings;

  /**
   * Throttling of each session route (`GET /sessions`, `GET|DELETE /sessions/{id}`, `POST /sessions/{id}/revoke`): one
   * bucket per route, apart from the vending routes'.
   *
   * @default - 10 requests per second, bursts of 20
   */
  readonly sessionsThrottle?: apigwv2.ThrottleSettings;

  /**
   * Throttling of `POST /introspect`, relying parties' checks of sessions: a bucket of its own (API Gateway keeps one per
   * route), apart from the vending and session routes', so that a downstream service under load is throttled on its own.
   * Verifiers cache answers, so a relying party asks about each session at most about twice a minute.
   *
   * @default - 50 requests per second, bursts of 100
   * @experimental
   */
  readonly introspectionThrottle?: apigwv2.ThrottleSettings;

  /**
   * Accept principal patterns that pin only names a caller chooses: a wildcard partition, service or account, a
   * federated user's name (chosen by whoever calls `GetFederationToken`), or an assumed-role session name under a
   * wildcard role (chosen by whoever calls `AssumeRole`). Anyone able to mint such a name then matches.
   *
   * @default false
   */
  readonly allowCallerChosenPrincipalNames?: boolean;

  /**
   * Accounts with a `SentinelTvmSpoke` of this TVM that this app does not define (e.g. one deployed as a StackSet): the
   * enforcer may assume their enforcement role, and profiles may name their roles. A spoke of this app registers its
   * account itself.
   *
   * @default - only the accounts of this app's spokes
   * @experimental
   */
  readonly spokeAccounts?: string[];
}

/**
 * Options of a profile added with `SentinelTvm.addProfile`.
 */
export interface ProfileOptions {
  /**
   * The protected role vended for this profile.
   *
   * An `iam.Role` of this app (a `ProtectedRole` or a plain `iam.Role`, in this stack or another of the same account)
   * gets the TVM trust statements added; a role from `ProtectedRole.fromProtectedRoleArn` is trusted as it is; any other
   * imported role gets a synth warning that prints the statements to add. A role of another account needs a
   * `SentinelTvmSpoke` there (use its `addProtectedRole`) while revocation reaches issued credentials, unless
   * `issuedCredentialsSurviveRevocation` is set.
   */
  readonly role: iam.IRole;

  /**
   * The callers allowed to use this profile, e.g. `PrincipalPattern.identityCenterPermissionSet('111122223333', 'ReadOnly')`.
   */
  readonly allowedPrincipals: PrincipalPattern[];

  /**
   * Longest lifetime of credentials vended for this profile. Between 15 minutes and 1 hour.
   *
   * @default Duration.hours(1)
   */
  readonly maxCredentialDuration?: Duration;

  /**
   * Roles that sessions of this profile's role may assume (role chaining), in this TVM's account. The session tag is
   * transitive, so the chained sessions carry it, and the enforcer writes the revoked-sessions deny on these roles
   * too. Any other `sts:AssumeRole` is denied to the profile's role (for a role of this app; an imported role gets a
   * synth warning instead): a revoked credential cannot escape into a role that carries no deny.
   *
   * @default - none: the profile's role may not assume any role
   */
  readonly allowRoleChainingTo?: iam.IRole[];

  /**
   * Let revocation leave this profile's issued credentials working until they expire (at most `maxCredentialDuration`):
   * the enforcer writes no deny on its role. Revocation still refuses the session's future vends. Meant for a role in an
   * account without a `SentinelTvmSpoke`, which synth otherwise refuses while revocation reaches issued credentials.
   *
   * @default false
   * @experimental
   */
  readonly issuedCredentialsSurviveRevocation?: boolean;

  /**
   * Every use of the profile needs a window approved by `approvers` (an access request), or break-glass: its
   * allowed principals have no standing access through it. Credentials never outlive the approved window, and
   * withdrawing a grant revokes them, so the profile may not set `issuedCredentialsSurviveRevocation`.
   *
   * @default - no approval: the allowed principals use the profile whenever they ask (standing access)
   * @experimental
   */
  readonly approval?: Approval;

  /**
   * Emergency access without an approver for `breakGlass.principals`: a short window with a mandatory reason, a
   * cooldown, and a review afterwards. On a profile without `approval` it adds only the reason and the review (synth warns).
   *
   * @default - no break-glass
   * @experimental
   */
  readonly breakGlass?: BreakGlass;

  /**
   * The profile is usable only while one of these windows is open, by sessions of every kind (standing, approved,
   * break-glass unless `breakGlass.ignoreAccessWindows`): vends outside are refused, and credentials end when the window
   * closes.
   *
   * @default - usable at any time
   * @experimental
   */
  readonly accessWindows?: TimeWindow[];
}

/**
 * A profile declared in `SentinelTvmProps.profiles`.
 */
export interface ProfileProps extends ProfileOptions {
  /** The profile name callers ask for (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`). */
  readonly name: string;
}

/**
 * Options of `SentinelTvm.addAlarms`. Each alarm fires when its metric reaches the threshold in one period.
 */
export interface SentinelTvmAlarmOptions {
  /**
   * Actions run when an alarm fires, e.g. `new cloudwatch_actions.SnsAction(topic)`.
   *
   * @default - no action
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];

  /**
   * Actions run when an alarm recovers.
   *
   * @default - no action
   */
  readonly okActions?: cloudwatch.IAlarmAction[];

  /**
   * Period of every alarm.
   *
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;

  /**
   * STS failures (refused or failed AssumeRole) per period that fire the alarm.
   *
   * @default 1
   */
  readonly stsFailuresThreshold?: number;

  /**
   * Session store failures per period that fire the alarm (each one is a fail-open vend or a 503).
   *
   * @default 1
   */
  readonly storeFailuresThreshold?: number;

  /**
   * API 5xx answers per period that fire the alarm.
   *
   * @default 1
   */
  readonly serverErrorsThreshold?: number;

  /**
   * Throttled invocations of the vending function per period that fire the alarm.
   *
   * @default 1
   */
  readonly throttlesThreshold?: number;

  /**
   * Failed enforcer invocations per period that fire the alarm.
   *
   * @default 1
   */
  readonly enforcerErrorsThreshold?: number;
}

/**
 * The alarms `SentinelTvm.addAlarms` created.
 */
export interface SentinelTvmAlarms {
  /** STS refused or failed AssumeRole. */
  readonly stsFailures: cloudwatch.Alarm;
  /** The session table failed. */
  readonly storeFailures: cloudwatch.Alarm;
  /** The API answered 5xx. */
  readonly serverErrors: cloudwatch.Alarm;
  /** The vending function was throttled. */
  readonly throttles: cloudwatch.Alarm;
  /**
   * The revocation enforcer failed.
   *
   * @default - absent when `revocation` is `RevocationEnforcement.futureVendsOnly()`
   */
  readonly enforcerErrors?: cloudwatch.Alarm;
}

interface Profile {
  readonly name: string;
  readonly roleArn: string;
  readonly allowedPrincipals: string[];
  readonly maxDurationSeconds: number;
  readonly chainRoleArns: string[];
  readonly unenforced: boolean;
  /** Not a ProtectedRole of this TVM: introspection never answers active for its sessions (others may choose their names). */
  readonly openTrust: boolean;
  /** The profile's gates; absent for a standing profile. */
  readonly access?: AccessPolicyConfig;
  /** The role and the chain targets, for the synth-time account checks (not part of the configuration). */
  readonly role: iam.IRole;
  readonly chainTargets: iam.IRole[];
}

/** One JSON line per request in the API's access log. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  callerArn: '$context.identity.userArn',
  accountId: '$context.identity.accountId',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  authError: '$context.authorizer.error',
  error: '$context.error.message',
  integrationError: '$context.integrationErrorMessage',
  latencyMs: '$context.responseLatency',
});

/** ARNs per IAM statement, so that CDK can split a large policy across documents. */
const ROLE_ARNS_PER_STATEMENT = 25;

/**
 * A Token Vending Machine: an IAM-authenticated HTTP API whose Lambda vends short-lived credentials of
 * protected roles, tracks each session in DynamoDB and tags every AssumeRole with the session id.
 *
 * Its building blocks (tables, API, functions, roles) are not properties: each can widen the trust boundary (a
 * writer of the tables, an invoker of the function, a policy added to the execution role). They stay reachable as
 * escape hatches through their construct ids (`tvm.node.findChild('Handler')`), which the README lists.
 */
export class SentinelTvm extends SentinelTvmBase {
  /** The session tag key stamped on every AssumeRole and required by the protected roles' trust policy. */
  public static readonly SESSION_TAG_KEY = SESSION_TAG_KEY;
  /**
   * The prefix of the SourceIdentity the TVM sets on every AssumeRole, for downstream conditions: the whole value is
   * `sentinel.<sessionId>.<kind>.<user>` (`sentinel.<id>.*` matches one session).
   */
  public static readonly SOURCE_IDENTITY_PREFIX = SOURCE_IDENTITY_PREFIX;

  /**
   * A TVM deployed elsewhere (another stack, app or account), named by its attributes: protected roles, grantees and
   * dashboards there can use it without a reference to its stack.
   *
   * @experimental
   */
  public static fromSentinelTvmAttributes(scope: Construct, id: string, attrs: SentinelTvmAttributes): ISentinelTvm {
    return new ImportedSentinelTvm(scope, id, attrs);
  }

  /** Whether `x` is a `SentinelTvm` (of any copy of this library). */
  public static isSentinelTvm(x: unknown): x is SentinelTvm {
    return x !== null && typeof x === 'object' && SENTINEL_TVM_SYMBOL in (x as object);
  }

  /** The URL of the API's `$default` stage, ending with `/`. */
  public readonly url: string;
  /** Id of the HTTP API. */
  public readonly apiId: string;
  /**
   * ARN of the role the vending function runs as: the one principal protected roles trust. It is formatted from the
   * role's fixed name (`<tvmName>-vend-<region>`, under `runtimeRolePath`), so stacks and accounts can name it without
   * a reference to this stack.
   */
  public readonly executionRoleArn: string;
  /**
   * ARN of the revocation enforcer's role.
   *
   * @default - none, when `revocation` is `RevocationEnforcement.futureVendsOnly()`
   */
  public readonly enforcerRoleArn?: string;
  /** Name of the session table (read it with `grantReadSessions`). */
  public readonly sessionTableName: string;
  /** The vending function's log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The API's access log group (one JSON line per request, with the caller's ARN and API Gateway's refusals). */
  public readonly accessLogGroup: logs.ILogGroup;
  /** The TVM's name: the `service` dimension of its metrics, and part of its roles' paths and names. */
  public readonly tvmName: string;
  /**
   * The IAM path of this TVM's `ProtectedRole`s (`/sentinel-tvm/<tvmName>/`). The TVM's own policies name the path
   * once instead of every role, so they stay small with hundreds of profiles.
   */
  public readonly protectedRolePath: string;
  /**
   * The IAM path of this TVM's own function roles (`/sentinel-tvm-runtime/<tvmName>/`): the vending function's, the
   * enforcer's and the configuration writer's. The guardrail SCP exempts this path and lets no one else create or pass
   * roles under it.
   */
  public readonly runtimeRolePath: string;
  /**
   * The name of this TVM's revoked-sessions inline policy on its roles (`SentinelRevokedSessions-<tvmName>-<region>`):
   * one per TVM, so that two TVMs never overwrite or delete each other's deny.
   */
  public readonly revokedSessionsPolicyName: string;
  /**
   * Fires when the enforcer could not write a role's deny (its `EnforcementFailures` metric): revoked credentials may
   * still work on that role. Created whenever revocation reaches issued credentials, without `addAlarms`.
   *
   * @default - none, when `revocation` is `RevocationEnforcement.futureVendsOnly()`
   */
  public readonly enforcementFailuresAlarm?: cloudwatch.IAlarm;
  /**
   * Fires when the enforcer judged a CloudTrail event tampering (`TamperEvents`): see `tamperDetection`. `addAlarms`
   * adds its actions to it.
   *
   * @default - none, without tamper detection
   * @experimental
   */
  public readonly tamperAlarm?: cloudwatch.IAlarm;

  /**
   * Fires when someone breaks glass (`BreakGlassInvocations` ≥ 1 in 5 minutes); present once a profile has break-glass or
   * approval, without `addAlarms` (whose actions it gets too).
   *
   * @experimental
   */
  public breakGlassAlarm?: cloudwatch.IAlarm;

  /**
   * Fires when a grant whose seal does not hold is presented (`IntegrityFailures` ≥ 1): someone wrote the session table.
   * Present once a profile is gated, without `addAlarms` (whose actions it gets too).
   *
   * @experimental
   */
  public integrityAlarm?: cloudwatch.IAlarm;

  private readonly table: dynamodb.Table;
  private readonly api: apigwv2.HttpApi;
  private readonly handler: lambda.Function;
  private readonly executionRole: iam.Role;
  private readonly enforcer?: TvmEnforcer;
  private readonly profiles = new Map<string, Profile>();
  private readonly adminPrincipals: string[];
  private readonly introspectionPrincipals: string[];
  private readonly allowCallerChosenNames: boolean;
  private readonly eventBus?: events.IEventBus;
  private readonly sessionEvents: TvmSessionEvents;
  private readonly trustedRoles = new Set<iam.IRole>();
  private readonly roleArnsGranted = new Set<string>();
  private readonly confinedRoles = new Set<iam.IRole>();
  private readonly chainPolicies = new Map<iam.IRole, iam.Policy>();
  private readonly spokeAccounts = new Set<string>();
  private tamperForwarders = 0;
  private tamperDetection = false;
  private readonly controlTable: dynamodb.Table;
  private readonly configuration: TvmConfiguration;
  private stsStatements?: iam.PolicyStatement[];
  private alarms?: SentinelTvmAlarms;
  /** The access function (requests, approvals, break-glass), created with the first gated profile. */
  private gatedAccess?: TvmGatedAccess;
  private readonly createGatedAccess: () => TvmGatedAccess;

  constructor(scope: Construct, id: string, props: SentinelTvmProps = {}) {
    super(scope, id);
    Object.defineProperty(this, SENTINEL_TVM_SYMBOL, { value: true });

    this.allowCallerChosenNames = props.allowCallerChosenPrincipalNames ?? false;
    this.adminPrincipals = renderPrincipalPatterns('adminPrincipals', props.adminPrincipals, true, { allowCallerChosenNames: this.allowCallerChosenNames });
    this.introspectionPrincipals = renderPrincipalPatterns('introspectionPrincipals', props.introspectionPrincipals, true,
      { allowCallerChosenNames: this.allowCallerChosenNames });
    this.eventBus = props.eventBus;
    const lifetime = validateDuration('sessionLifetime', props.sessionLifetime, Limits.MIN_CREDENTIAL_SECONDS,
      Limits.MAX_SESSION_LIFETIME_SECONDS) ?? Limits.DEFAULT_SESSION_LIFETIME_SECONDS;
    const defaultDuration = validateDuration('defaultCredentialDuration', props.defaultCredentialDuration,
      Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS) ?? Limits.DEFAULT_CREDENTIAL_SECONDS;
    const retention = validateDuration('sessionRetention', props.sessionRetention, 0, 365 * 24 * 3600)
      ?? Limits.DEFAULT_RETENTION_SECONDS;
    const throttle = validateThrottle('throttle', props.throttle, 50, 100);
    const sessionsThrottle = validateThrottle('sessionsThrottle', props.sessionsThrottle, 10, 20);
    const introspectionThrottle = validateThrottle('introspectionThrottle', props.introspectionThrottle, 50, 100);
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const pointInTimeRecoverySpecification = props.pointInTimeRecoverySpecification ?? { pointInTimeRecoveryEnabled: true };

    if (props.tvmName !== undefined) validateTvmName('tvmName', props.tvmName);
    this.tvmName = props.tvmName ?? Names.uniqueResourceName(this, { maxLength: 40 });
    this.protectedRolePath = protectedRolePathOf(this.tvmName);
    this.revokedSessionsPolicyName = revokedSessionsPolicyName(this.tvmName, Stack.of(this).region);
    const observability = {
      POWERTOOLS_SERVICE_NAME: this.tvmName,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? SentinelTvmLogLevel.INFO,
    };
    const tracing = props.tracing ?? lambda.Tracing.DISABLED;
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const encryption = props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: Attr.ID, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: Attr.TTL,
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      encryption,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification,
      removalPolicy,
    });
    this.sessionTableName = this.table.tableName;
    for (const index of Indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    // What decides who may do what (the deployed configuration), the page-token key and principal blocks live apart
    // from the sessions: no grant this construct hands out reaches this table.
    this.controlTable = new dynamodb.Table(this, 'ControlTable', {
      partitionKey: { name: Attr.ID, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: Attr.TTL,
      encryption,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification,
      removalPolicy,
    });

    // The TVM's own function roles live under a path of their own: the guardrail SCP exempts exactly that path.
    this.runtimeRolePath = `/sentinel-tvm-runtime/${this.tvmName}/`;
    // A fixed name (IAM names are global to the account, hence the region), so that protected roles in other stacks and
    // accounts name this role without a reference to this stack. At most 40 + 6 + 14 characters: IAM allows 64.
    const executionRoleName = vendRoleName(this.tvmName, Stack.of(this).region);
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      roleName: executionRoleName,
      path: this.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM vending function: the only principal its protected roles trust',
    });
    this.executionRoleArn = Stack.of(this).formatArn({
      service: 'iam',
      region: '',
      resource: 'role',
      resourceName: `${this.runtimeRolePath.slice(1)}${executionRoleName}`,
    });
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: logRetention, removalPolicy });
    logGroup.grantWrite(this.executionRole);
    this.logGroup = logGroup;
    // The table, and queries of its named indexes (no wildcard: the handler queries only the contract's indexes).
    this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [this.table.tableArn],
    }));
    this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: Indexes.map((index) => `${this.table.tableArn}/index/${index.name}`),
    }));
    // The control table: read the configuration; write only the page-token key and principal blocks, never the
    // configuration (a compromised function could then at most make itself refuse to serve: the digest would differ).
    this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem'],
      resources: [this.controlTable.tableArn],
    }));
    this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:PutItem'],
      resources: [this.controlTable.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [TOKEN_KEY_ITEM_ID, GRANT_KEY_ITEM_ID, `${BLOCK_ITEM_PREFIX}*`] } },
    }));
    props.encryptionKey?.grantEncryptDecrypt(this.executionRole);

    this.configuration = new TvmConfiguration(this, 'Config', {
      controlTable: this.controlTable,
      encryptionKey: props.encryptionKey,
      logRetention,
      runtimeRolePath: this.runtimeRolePath,
      admins: () => this.adminPrincipals,
      introspectors: () => this.introspectionPrincipals,
      architecture,
    });
    const configDigest = this.configuration.digest;
    this.configuration.grantRead(this.executionRole);

    const vendEnvironment: Record<string, string> = {
      [Env.TABLE_NAME]: this.table.tableName,
      [Env.CONTROL_TABLE_NAME]: this.controlTable.tableName,
      [Env.CONFIG_DIGEST]: configDigest,
      // The API's own host name: identity proofs must name it. A lazy value: the API is created below.
      [Env.AUDIENCES]: Lazy.string({ produce: () => `${this.api.apiId}.execute-api.${Stack.of(this).region}.${Stack.of(this).urlSuffix}` }),
      [Env.SESSION_LIFETIME_SECONDS]: String(lifetime),
      [Env.DEFAULT_DURATION_SECONDS]: String(defaultDuration),
      [Env.RETENTION_SECONDS]: String(retention),
      [Env.STORE_FAILURE_MODE]: (props.storeFailureMode ?? StoreFailureMode.FAIL_OPEN) === StoreFailureMode.FAIL_CLOSED
        ? StoreFailureModes.FAIL_CLOSED : StoreFailureModes.FAIL_OPEN,
      // Names the TVM's own revocations (a broken grant seal) by its vending role; proves Identity Center persons there.
      [Env.TVM_ACCOUNT]: Stack.of(this).account,
      ...observability,
    };
    this.handler = new VendFunction(this, 'Handler', {
      description: 'Sentinel TVM: vends session-tagged credentials of protected roles',
      architecture,
      memorySize: 512,
      // Above the worst case of the SDK clients' timeouts (lambda/clients.ts), below API Gateway's 30 s.
      timeout: Duration.seconds(15),
      role: this.executionRole,
      logGroup,
      environment: vendEnvironment,
      tracing,
    });

    // The execution role may assume profile roles only from the vending function's own code: a function someone else
    // runs as this role (iam:PassRole) cannot mint credentials. A policy of its own: the function depends on the role's
    // default policy, and this one names the function.
    new iam.Policy(this, 'AssumePolicy', {
      roles: [this.executionRole],
      statements: [onlyFromFunction(this.handler.functionArn, ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'])],
    });

    // Under /aws/vendedlogs/: API Gateway then does not add the group to the account's CloudWatch Logs resource policy,
    // whose 5,120 characters every other deployment would eat into. The group is retained on delete, so its name ends
    // with this stack's unique id: a stack deployed again after a destroy does not collide with the old group.
    const accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: logRetention,
      removalPolicy,
      logGroupName: Fn.join('', ['/aws/vendedlogs/apigateway/', this.tvmName, '-', Fn.select(2, Fn.split('/', Aws.STACK_ID))]),
    });
    this.accessLogGroup = accessLogGroup;
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: Names.uniqueResourceName(this, { maxLength: 128 }),
      description: 'Sentinel TVM: IAM-authenticated credential vending',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    const stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      // Who called which route, and why API Gateway refused: forensics that do not rely on the function's own log.
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogGroup), format: AccessLogFormat.custom(ACCESS_LOG_FORMAT) },
    });
    // Each session route gets a bucket of its own: vend traffic (or a flood of it) never throttles revocation.
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    const coreRoutes = Routes.filter((r) => !AccessRoutes.some((a) => a.method === r.method && a.path === r.path));
    for (const route of coreRoutes.filter((r) => r.path.startsWith('/sessions'))) {
      routeSettings[`${route.method} ${route.path}`] = {
        ThrottlingRateLimit: sessionsThrottle.rateLimit!,
        ThrottlingBurstLimit: sessionsThrottle.burstLimit!,
      };
    }
    // Relying parties' checks too: whatever a downstream service forwards reaches no other route's bucket.
    routeSettings[`POST ${Introspection.PATH}`] = {
      ThrottlingRateLimit: introspectionThrottle.rateLimit!,
      ThrottlingBurstLimit: introspectionThrottle.burstLimit!,
    };
    (stage.node.defaultChild as apigwv2.CfnStage).routeSettings = routeSettings;
    const integration = new HttpLambdaIntegration('Handler', this.handler, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    // The access routes go to the access function, created with the first gated profile (addProfile).
    for (const route of coreRoutes) {
      this.api.addRoutes({ path: route.path, methods: [route.method as apigwv2.HttpMethod], integration });
    }
    this.createGatedAccess = () => {
      // Requests, approvals and break-glass get buckets of their own: a flood of vends never starves an approval.
      for (const route of AccessRoutes) {
        routeSettings[`${route.method} ${route.path}`] = {
          ThrottlingRateLimit: sessionsThrottle.rateLimit!,
          ThrottlingBurstLimit: sessionsThrottle.burstLimit!,
        };
      }
      const { [Env.STORE_FAILURE_MODE]: _failOpenIsNotForGrants, ...environment } = vendEnvironment;
      return new TvmGatedAccess(this, 'Access', {
        api: this.api,
        table: this.table,
        controlTable: this.controlTable,
        grantConfigRead: (grantee) => this.configuration.grantRead(grantee),
        // Identity Center users of this account are proven persons through IAM GetRole there.
        environment,
        encryptionKey: props.encryptionKey,
        logRetention,
        runtimeRolePath: this.runtimeRolePath,
        tracing,
        architecture,
        nagAccount: this.nagAccount(),
      });
    };
    // Everything else reaches the handler too, so that unknown paths get the JSON error contract.
    new apigwv2.HttpRoute(this, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: apigwv2.HttpRouteKey.DEFAULT,
      integration,
      authorizer: new HttpIamAuthorizer(),
    });
    this.url = stage.url;
    this.apiId = this.api.apiId;

    if ((props.revocation ?? RevocationEnforcement.roleDenyPolicy())._deniesIssuedCredentials) {
      this.enforcer = new TvmEnforcer(this, 'Enforcer', {
        table: this.table,
        controlTable: this.controlTable,
        configuration: this.configuration,
        encryptionKey: props.encryptionKey,
        logRetention,
        runtimeRolePath: this.runtimeRolePath,
        tvmName: this.tvmName,
        organizationTargetIds: (props.revocation ?? RevocationEnforcement.roleDenyPolicy())._organizationScp?.targetIds,
        protectedRoleArnPattern: this.protectedRoleArnPattern(),
        protectedRolePath: this.protectedRolePath,
        policyName: this.revokedSessionsPolicyName,
        observability,
        tracing,
        architecture,
        eventBus: props.eventBus,
      });
      this.enforcerRoleArn = this.enforcer.role.roleArn;
      // A role on which no deny can be written is loud whether or not anyone called addAlarms().
      this.enforcementFailuresAlarm = new cloudwatch.Alarm(this, 'EnforcementFailuresAlarm', {
        metric: this.metricEnforcementFailures(),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Sentinel TVM ${this.node.path}: the enforcer could not write a revoked-sessions deny: `
          + 'revoked credentials may still work on that role (see the enforcer log, and the metric by Role and by Account)',
      });
    }
    if (this.enforcer && props.tamperDetection !== false) {
      const organizationPolicy = this.enforcer.organizationPolicy;
      const tamper = new TvmTamperDetection(this, 'TamperDetection', {
        enforcer: this.enforcer.function,
        enforcerRoleId: this.enforcer.role.roleId,
        vendRoleId: this.executionRole.roleId,
        policyName: this.revokedSessionsPolicyName,
        protectedRolePath: this.protectedRolePath,
        ...(organizationPolicy ? { organizationPolicyId: organizationPolicy.attrId } : {}),
      });
      // Like the enforcer's other triggers: deleted before the cleanup runs, so nothing starts a run after it.
      for (const rule of [tamper.changeRule, tamper.assumeRoleRule]) rule.node.addDependency(this.enforcer.cleanup);
      this.tamperDetection = true;
      this.tamperAlarm = new cloudwatch.Alarm(this, 'TamperAlarm', {
        metric: this.metricTamperEvents(),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Sentinel TVM ${this.node.path}: someone other than the enforcer or CloudFormation changed the `
          + 'revoked-sessions deny, a protected role\'s trust or the SCP, or assumed a protected role without the TVM (see the '
          + 'Tamper Detected event and the enforcer log; the enforcer rewrote the denies at once)',
      });
      this.node.addValidation({ validate: () => this.validateTamperRegion() });
    } else if (props.tamperDetection === true) {
      throw new Error('tamperDetection: true needs the revocation enforcer, which revocation: RevocationEnforcement.futureVendsOnly() '
        + 'does not deploy');
    }
    // Session changes reach EventBridge from the table's stream: the vending function makes no request for them.
    this.sessionEvents = new TvmSessionEvents(this, 'Events', {
      table: this.table,
      eventBus: props.eventBus,
      encryptionKey: props.encryptionKey,
      logRetention,
      runtimeRolePath: this.runtimeRolePath,
      tvmName: this.tvmName,
      observability,
      tracing,
      architecture,
    });
    if (props.notificationTopic) this.notifyPeople(props.notificationTopic);
    if (props.siemExport) {
      new TvmSiemExport(this, 'SiemExport', {
        export: props.siemExport,
        decisionLogGroup: logGroup,
        sessionEventPattern: { source: [SessionEvents.SOURCE], account: [Stack.of(this).account], detail: { tvmName: [this.tvmName] } },
        eventBus: props.eventBus,
        tvmName: this.tvmName,
        logRetention,
      });
    }
    (props.spokeAccounts ?? []).forEach((account, i) => this.addSpokeAccountAs(`spokeAccounts[${i}]`, account));
    // Spokes and profiles may come in any order: a role of another account is checked once all are known.
    this.node.addValidation({ validate: () => this.validateAccounts() });

    // Every resource of this TVM is marked for the account's guardrail SCP.
    Tags.of(this).add(TvmTags.SERVICE, this.tvmName);
    // Every log group of the TVM follows removalPolicy (the building blocks create theirs with the default).
    for (const child of this.node.findAll()) {
      if (child instanceof logs.LogGroup) child.applyRemovalPolicy(removalPolicy);
    }
    this.acknowledgeNagFindings();
    // AWS's limits (template and policy sizes, managed policies per role, custom-resource requests, environment) are
    // checked at synth, so that a deployment never fails on them half-way.
    addDeploymentLimitChecks(this, {
      roles: () => [...new Set([this.executionRole, this.configuration.writer.role!, this.sessionEvents.role,
        ...(this.enforcer ? [this.enforcer.role] : []), ...(this.gatedAccess ? [this.gatedAccess.role] : []),
        ...this.trustedRoles, ...this.confinedRoles])],
      functions: () => [this.handler, this.configuration.writer, this.sessionEvents.function, ...(this.enforcer ? [this.enforcer.function] : []),
        ...(this.gatedAccess ? [this.gatedAccess.function] : [])],
    });

    for (const [i, profile] of (props.profiles ?? []).entries()) {
      if (!profile || typeof profile.name !== 'string') {
        throw new Error(`profiles[${i}]: name is required`);
      }
      this.addProfile(profile.name, profile);
    }
  }

  /**
   * Makes a protected role available to callers under a profile name.
   *
   * @param name the profile name callers ask for (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
   * @param options the role, who may use it, and its credential lifetime
   */
  public addProfile(name: string, options: ProfileOptions): void {
    const prop = `addProfile(${JSON.stringify(name)})`;
    validateProfileName('profile name', name);
    if (this.profiles.has(name)) {
      throw new Error(`profile name "${name}" is already defined on this SentinelTvm: profile names must be unique`);
    }
    if (this.profiles.size >= Limits.MAX_PROFILES) {
      throw new Error(`${prop}: a SentinelTvm holds at most ${Limits.MAX_PROFILES} profiles`);
    }
    if (!options.role) {
      throw new Error(`${prop}: role is required`);
    }
    const allowedPrincipals = renderPrincipalPatterns(`${prop}.allowedPrincipals`, options.allowedPrincipals, false,
      { allowCallerChosenNames: this.allowCallerChosenNames });
    const maxDurationSeconds = validateDuration(`${prop}.maxCredentialDuration`, options.maxCredentialDuration,
      Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS) ?? Limits.MAX_CREDENTIAL_SECONDS;
    const access = renderAccessPolicy(prop, options, {
      scope: this,
      allowCallerChosenNames: this.allowCallerChosenNames,
      revokesIssuedCredentials: this.enforcer !== undefined,
    });
    const chainTargets = options.allowRoleChainingTo ?? [];
    if (access && chainTargets.length > 0) {
      // STS lets a chained session last up to an hour whatever is left of the credentials it was assumed with.
      throw new Error(`${prop}.allowRoleChainingTo: a profile with approval, breakGlass or accessWindows cannot allow role chaining: `
        + 'a session chained from its credentials could last up to an hour past the end of the grant\'s or the access window');
    }
    const roleAccount = this.otherAccountOf(options.role);
    if (SPOKE_ROLE_SYMBOL in options.role && Token.isUnresolved(options.role.env.account)) {
      throw new Error(`${prop}.role is ${options.role.node.path}, a role of a SentinelTvmSpoke whose stack has no account (environment-`
        + 'agnostic): this TVM cannot name a role of an unknown account. Give the spoke\'s stack an env, or name the role with '
        + 'ProtectedRole.fromProtectedRoleArn and its literal ARN');
    }
    // A role of another account confines itself (a spoke's ProtectedRole may assume no role), and the enforcer writes no
    // deny on chain targets there: the organization-wide SCP is what reaches chained sessions.
    if (roleAccount !== undefined && chainTargets.length > 0) {
      throw new Error(`${prop}.allowRoleChainingTo: the profile's role is in account ${roleAccount}, not this TVM's `
        + `(${Stack.of(this).account}): role chaining from a role of another account is not supported; `
        + 'RevocationEnforcement.organizationScp() denies revoked sessions in every account, chained ones included');
    }
    chainTargets.forEach((target, i) => {
      const account = this.otherAccountOf(target);
      if (account !== undefined) {
        throw new Error(`${prop}.allowRoleChainingTo[${i}] is ${describeRole(target)}, in account ${account}: a chain target must be a `
          + `role of this TVM's account (${Stack.of(this).account}), whose deny the enforcer writes and whose own chaining the TVM `
          + 'confines; chaining into another account is not supported');
      }
      // An environment-agnostic TVM cannot tell whether a literal account is its own: refused, as it would be with an env
      // when it is another (a revoked session would chain out of the deny's reach); the fixes cost little.
      const literal = literalAccountOf(target);
      if (literal !== undefined && Token.isUnresolved(Stack.of(this).account)) {
        throw new Error(`${prop}.allowRoleChainingTo[${i}] is ${describeRole(target)}, in account ${literal}, and this TVM's stack has no `
          + 'account (environment-agnostic): synth cannot check that it is the TVM\'s account, as a chain target must be (chaining into '
          + 'another account is not supported). Give the TVM\'s stack an env, or name the target without a literal account '
          + '(e.g. iam.Role.fromRoleName)');
      }
    });

    const profile: Profile = {
      name,
      roleArn: options.role.roleArn,
      allowedPrincipals,
      maxDurationSeconds,
      chainRoleArns: chainTargets.map((t) => t.roleArn),
      unenforced: options.issuedCredentialsSurviveRevocation === true,
      openTrust: !isProtectedRoleOf(options.role, this),
      ...(access ? { access } : {}),
      role: options.role,
      chainTargets,
    };
    // Trust first: it refuses a role another TVM uses, before anything of this profile is recorded.
    this.trust(prop, options.role);
    this.profiles.set(name, profile);
    this.configuration.addProfile(profile);
    if (access?.approval || access?.breakGlass) this.gatedAccess ??= this.createGatedAccessWithAlarms();
    this.confine(options.role, chainTargets);
    if (iam.Role.isRole(options.role)) Tags.of(options.role).add(TvmTags.SERVICE, this.tvmName);
    // Roles under this TVM's path are covered by one wildcard per account; any other role is named.
    this.grantAssume(this.isUnderPath(options.role) ? this.protectedRoleArnPattern(roleAccount) : options.role.roleArn,
      roleAccount === undefined);
    // The revocation cleanup deletes the deny from these roles before CloudFormation deletes them (DeleteConflict).
    [options.role, ...chainTargets].forEach((r) => this.enforcer?.addRole(r));
    for (const target of chainTargets) {
      if (!this.isUnderPath(target)) this.grantEnforce(target.roleArn);
      // A chain target is a second hop: it may not chain further, and it is marked for the guardrail SCP.
      this.confine(target, []);
      if (iam.Role.isRole(target)) Tags.of(target).add(TvmTags.SERVICE, this.tvmName);
    }
  }

  /**
   * Registers an account with a `SentinelTvmSpoke` of this TVM: the enforcer may assume its enforcement role, and
   * profiles may name roles of that account. A spoke of this app calls it itself; list a StackSet's accounts in
   * `spokeAccounts`. Adding an account twice is harmless.
   *
   * @param account the spoke's 12-digit account id
   * @experimental
   */
  public addSpokeAccount(account: string): void {
    this.addSpokeAccountAs(`addSpokeAccount(${JSON.stringify(account)})`, account);
  }

  /**
   * Grants reading the session table (records and indexes) to tooling that works on the table directly. The table
   * holds no secret and nothing that decides access: the configuration, the page-token key and principal blocks live
   * in another table no grant reaches.
   */
  public grantReadSessions(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
      resourceArns: [this.table.tableArn, ...Indexes.map((index) => `${this.table.tableArn}/index/${index.name}`)],
    });
    const key = this.table.encryptionKey?.grantDecrypt(grantee);
    return key ? grant.combine(key) : grant;
  }

  /**
   * Makes the grantee an administrator of this TVM's sessions through its API: it may list, read, end and revoke any
   * session (`POST /sessions/{id}/revoke`, the `sentinel-tvm sessions revoke` command) and block a principal, as
   * `adminPrincipals` may. The grantee must be an IAM role (every session of it) or user of this app. No table write
   * is granted: a table writer could un-revoke a session or re-own it, an API caller cannot.
   */
  public grantManageSessions(grantee: iam.IGrantable): iam.Grant {
    const principal = grantee.grantPrincipal as { roleArn?: string; userArn?: string };
    const arn = principal.roleArn ?? principal.userArn;
    if (arn === undefined) {
      throw new Error(`grantManageSessions: the grantee ${Construct.isConstruct(grantee) ? grantee.node.path : String(grantee)} is `
        + 'not an IAM role or user, whose ARN could name it an administrator');
    }
    this.adminPrincipals.push(arn);
    return this.grantInvoke(grantee).combine(this._grantRoutes(grantee, [['POST', '/sessions/*/revoke']]));
  }

  /**
   * Makes the grantee a relying party of this TVM: it may ask whether the session behind a caller it saw is still valid
   * (`POST /introspect`, RFC 7662-shaped), e.g. the Lambda authorizer of a downstream API (`SentinelSessionAuthorizer` does
   * this itself). The grantee must be an IAM role (every session of it) or user of this app, in the TVM's account (HTTP
   * APIs admit no other account). It learns a session's user, profile, role and expiry, nothing more.
   *
   * @experimental
   */
  public grantIntrospect(grantee: iam.IGrantable): iam.Grant {
    const principal = grantee.grantPrincipal as { roleArn?: string; userArn?: string };
    const arn = principal.roleArn ?? principal.userArn;
    if (arn === undefined) {
      throw new Error(`grantIntrospect: the grantee ${Construct.isConstruct(grantee) ? grantee.node.path : String(grantee)} is `
        + 'not an IAM role or user, whose ARN could name it a relying party');
    }
    if (!this.introspectionPrincipals.includes(arn)) this.introspectionPrincipals.push(arn);
    return super.grantIntrospect(grantee);
  }

  /**
   * A rule matching this TVM's `Session Started` events (version 1) on its event bus: a session's first credentials are
   * about to be vended. Give `options.target`, or add targets to the rule.
   *
   * @experimental
   */
  public onSessionStarted(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.SESSION_STARTED, options);
  }

  /**
   * A rule matching this TVM's `Session Ended` events (version 1): ended by its owner or an administrator, or a failed start.
   *
   * @experimental
   */
  public onSessionEnded(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.SESSION_ENDED, options);
  }

  /**
   * A rule matching this TVM's `Session Revoked` events (version 1).
   *
   * @experimental
   */
  public onSessionRevoked(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.SESSION_REVOKED, options);
  }

  /**
   * A rule matching this TVM's `Revocation Enforced` events (version 1): the enforcer wrote a revoked session's deny on a
   * role (or the organization's SCP); `detail.delayMs` is the time from the revoke to the write.
   *
   * @experimental
   */
  public onRevocationEnforced(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.REVOCATION_ENFORCED, options);
  }

  /**
   * A rule matching this TVM's `Revocation Enforcement Failed` events (version 1): the enforcer could not write a role's
   * deny in a run; revoked credentials may still work on that role until a later run writes it.
   *
   * @experimental
   */
  public onRevocationEnforcementFailed(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.REVOCATION_ENFORCEMENT_FAILED, options);
  }

  /**
   * A rule matching this TVM's `Tamper Detected` events (version 1): someone other than the enforcer or CloudFormation
   * changed the deny policy, a protected role's trust or the SCP, or assumed a protected role without the TVM.
   *
   * @experimental
   */
  public onTamperDetected(id: string, options: events.OnEventOptions = {}): events.Rule {
    return this.onSessionEvent(id, SessionEventTypes.TAMPER_DETECTED, options);
  }

  /**
   * CloudTrail events the enforcer judged tampering. Sum over 5 minutes; `metricTamperEvents({ dimensionsMap: { Kind:
   * 'deny-policy' } })` is one kind's (`deny-policy`, `trust-policy`, `organization-policy`, `foreign-assume-role`).
   *
   * @experimental
   */
  public metricTamperEvents(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.TAMPER_EVENTS, props);
  }

  /**
   * Records a forwarder of IAM's us-east-1 CloudTrail events to this TVM's region (a `SentinelTvmTamperForwarder` does it).
   *
   * @internal
   */
  public _addTamperForwarder(): void {
    this.tamperForwarders++;
  }

  /** Failed invocations of the vending function (crashes, timeouts; answered errors are not counted). Sum over 5 minutes. */
  public metricHandlerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
  }

  /** Throttled invocations of the vending function. Sum over 5 minutes. */
  public metricHandlerThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
  }

  /**
   * Failed invocations of the revocation enforcer. Sum over 5 minutes. With `RevocationEnforcement.futureVendsOnly()`
   * there is no enforcer: the metric is then always empty.
   */
  public metricEnforcerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'Errors',
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { ...props?.dimensionsMap, FunctionName: this.enforcer?.function.functionName ?? `${this.tvmName}-no-enforcer` },
    });
  }

  /** API answers with a 4xx status (API Gateway's `4xx`). Sum over 5 minutes. */
  public metricApiClientErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricClientError({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
  }

  /** API answers with a 5xx status (API Gateway's `5xx`). Sum over 5 minutes. */
  public metricApiServerErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricServerError({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
  }

  /** End-to-end latency of the API (API Gateway's `Latency`), milliseconds. p99 over 5 minutes. */
  public metricApiLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.api.metricLatency({ statistic: cloudwatch.Stats.p(99), period: Duration.minutes(5), ...props });
  }

  /**
   * Creates the recommended alarms: STS failures, store failures, API 5xx, throttles of the vending function and, when
   * revocation reaches issued credentials, enforcer errors. The actions are also added to `enforcementFailuresAlarm` and
   * `tamperAlarm`, which exist without this call. Call it once.
   */
  public addAlarms(options: SentinelTvmAlarmOptions = {}): SentinelTvmAlarms {
    if (this.alarms) {
      throw new Error(`addAlarms was already called on ${this.node.path}: call it once, with every action`);
    }
    const period = options.period ?? Duration.minutes(5);
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number | undefined, description: string): cloudwatch.Alarm => {
      const value = threshold ?? 1;
      if (!Number.isFinite(value) || value < 1) {
        throw new Error(`addAlarms: the threshold of ${id} is ${value}: expected a number >= 1`);
      }
      const created = new cloudwatch.Alarm(this, id, {
        metric,
        threshold: value,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Sentinel TVM ${this.node.path}: ${description}`,
      });
      created.addAlarmAction(...(options.alarmActions ?? []));
      created.addOkAction(...(options.okActions ?? []));
      return created;
    };
    this.alarms = {
      stsFailures: alarm('StsFailuresAlarm', this.metricStsFailures({ period }), options.stsFailuresThreshold,
        'STS refused or failed AssumeRole: check the decision log (stsError) and the protected roles\' trust policies'),
      storeFailures: alarm('StoreFailuresAlarm', this.metricStoreFailures({ period }), options.storeFailuresThreshold,
        'The session table failed: vends were made without a record (FAIL_OPEN) or refused (FAIL_CLOSED)'),
      serverErrors: alarm('ServerErrorsAlarm', this.metricApiServerErrors({ period }), options.serverErrorsThreshold,
        'The TVM answered 5xx'),
      throttles: alarm('ThrottlesAlarm', this.metricHandlerThrottles({ period }), options.throttlesThreshold,
        'The vending function was throttled'),
      enforcerErrors: this.enforcer
        ? alarm('EnforcerErrorsAlarm', this.metricEnforcerErrors({ period }), options.enforcerErrorsThreshold,
          'The revocation enforcer failed: revoked sessions\' issued credentials may not be denied yet')
        : undefined,
    };
    // The enforcement alarm exists without addAlarms; the actions are told of it too.
    for (const own of [this.enforcementFailuresAlarm, this.tamperAlarm, this.breakGlassAlarm, this.integrityAlarm]) {
      if (!(own instanceof cloudwatch.Alarm)) continue;
      own.addAlarmAction(...(options.alarmActions ?? []));
      own.addOkAction(...(options.okActions ?? []));
    }
    return this.alarms;
  }

  /**
   * A rule matching this TVM's access events (requests, approvals, grants, break-glass; version 1), optionally of some
   * profiles and event types only: route each profile's requests to the people who approve them, e.g. with
   * `target: AccessNotifications.chatbot(topic)`.
   *
   * @experimental
   */
  public onAccessEvent(id: string, options: AccessEventOptions = {}): events.Rule {
    const types = options.eventTypes ?? Object.values(AccessEventType);
    const rule = this.onSessionEvent(id, types[0], options);
    rule.addEventPattern({
      detailType: [...types],
      ...(options.profiles ? { detail: { profile: [...options.profiles] } } : {}),
    });
    return rule;
  }

  /** Names of the profiles defined so far. */
  public get profileNames(): string[] {
    return [...this.profiles.keys()];
  }

  /** A rule on this TVM's bus for one detail-type of its events, in the version this library emits. */
  private onSessionEvent(id: string, detailType: string, options: events.OnEventOptions): events.Rule {
    const rule = new events.Rule(this, id, {
      eventBus: this.eventBus,
      description: options.description,
      ruleName: options.ruleName,
      crossStackScope: options.crossStackScope,
    });
    rule.addEventPattern({
      source: [SessionEvents.SOURCE],
      // The TVM's own account: on a bus that admits other accounts' events, theirs never match.
      account: [Stack.of(this).account],
      detailType: [detailType],
      detail: { tvmName: [this.tvmName], version: [SessionEvents.VERSION] },
    });
    rule.addEventPattern(options.eventPattern);
    if (options.target) rule.addTarget(options.target);
    return rule;
  }

  /** One line of text per revocation, written deny and unwritten deny, for people subscribed to `topic`. */
  private notifyPeople(topic: sns.ITopic): void {
    const f = (path: string) => events.EventField.fromPath(`$.detail.${path}`);
    const tvm = `Sentinel TVM ${this.tvmName}`;
    this.onSessionRevoked('NotifyRevoked', {
      description: `${tvm}: tells people of each revocation`,
      target: new targets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromText(`${tvm}: session ${f('sessionId')} of ${f('principalArn')} (profile ${f('profile')}) `
          + `was revoked by ${f('revokedBy')} at ${f('revokedAt')}: ${f('reason')}`),
      }),
    });
    this.onRevocationEnforced('NotifyEnforced', {
      description: `${tvm}: tells people when a revocation took effect on a role`,
      target: new targets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromText(`${tvm}: the revocation of session ${f('sessionId')} took effect on ${f('roleArn')} `
          + `(${f('mechanism')}) ${f('delayMs')} ms after the revoke`),
      }),
    });
    this.onRevocationEnforcementFailed('NotifyEnforcementFailed', {
      description: `${tvm}: tells people when a revocation deny could not be written`,
      target: new targets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromText(`${tvm}: the revoked-sessions deny could not be written on ${f('roleArn')} in `
          + `${f('account')} (${f('error')}): revoked credentials may still work there; the enforcer retries every 5 minutes`),
      }),
    });
    if (this.tamperAlarm) {
      this.onTamperDetected('NotifyTamper', {
        description: `${tvm}: tells people when someone changed what revocation relies on, or assumed a protected role without the TVM`,
        target: new targets.SnsTopic(topic, {
          message: events.RuleTargetInput.fromText(`${tvm}: TAMPERING (${f('kind')}): ${f('actor')} called ${f('eventName')} on `
            + `${f('role')} in ${f('account')} at ${f('eventTime')} (CloudTrail event ${f('eventId')}); re-enforcement: ${f('reenforcement')}`),
        }),
      });
    }
  }

  private trust(prop: string, role: iam.IRole): void {
    if (this.trustedRoles.has(role)) return;
    this.claim(prop, role);
    this.trustedRoles.add(role);
    const statements = trustStatements(this.executionRoleArn, Stack.of(this).account);
    if (isProtectedRoleOf(role, this)) return; // built with these statements already
    if (iam.Role.isRole(role) && role.assumeRolePolicy) {
      const document = role.assumeRolePolicy;
      document.addStatements(...statements);
      // Anyone else the role trusts gets its credentials without a session record: say so (checked at synth, when
      // every statement has been added).
      this.node.addValidation({
        validate: () => {
          const json = Stack.of(this).resolve(document.toJSON()) as { Statement?: Array<{ Sid?: string }> };
          const others = (json.Statement ?? []).filter((st) => !statements.some((ours) => ours.sid === st.Sid)).length;
          if (others > 0) {
            Annotations.of(role).addWarningV2('cdk-sentinel-tvm:roleTrustsOthers',
              `Role ${role.node.path} is a profile's role but its trust policy has ${others} statement(s) besides the TVM's: whoever they `
              + 'trust gets its credentials without a session record, and revocation cannot deny them. Use a ProtectedRole, or '
              + 'remove the other statements.');
          }
          return [];
        },
      });
      return;
    }
    const rendered = JSON.stringify(statements.map((s) => s.toStatementJson()), (_k, v) => {
      if (typeof v !== 'string' || !Token.isUnresolved(v)) return v;
      return v === this.executionRoleArn ? '<tvm.executionRoleArn>' : '<arn:<partition>:iam::<TVM account>:root>';
    });
    Annotations.of(role).addWarningV2('cdk-sentinel-tvm:importedRole',
      `Role ${Token.isUnresolved(role.roleArn) ? role.node.path : role.roleArn} is not owned by this app, so its trust policy cannot be changed here. ` +
      `Add these statements to its trust policy, or the TVM cannot assume it: ${rendered}`);
  }

  private grantAssume(roleArn: string, enforceHere: boolean): void {
    if (this.roleArnsGranted.has(roleArn)) return;
    this.roleArnsGranted.add(roleArn);
    if (!this.stsStatements || this.stsStatements[0].resources.length >= ROLE_ARNS_PER_STATEMENT) {
      this.stsStatements = assumeStatements();
      // In the role's default policy, which CDK splits into managed policies when it outgrows an inline one.
      this.stsStatements.forEach((st) => this.executionRole.addToPrincipalPolicy(st));
    }
    this.stsStatements.forEach((s) => s.addResources(roleArn));
    if (roleArn.includes(`:role${this.protectedRolePath}*`)) {
      this.acknowledgePathWildcard(this.executionRole, enforceHere ? this.nagAccount() : roleArn.split(':')[4]);
    }
    // In another account the spoke's enforcement role writes the deny, not this account's enforcer.
    if (enforceHere && roleArn !== this.protectedRoleArnPattern()) this.grantEnforce(roleArn);
  }

  /**
   * The access function, and the alarms that exist with gated access without `addAlarms`: a break-glass use and a forged
   * grant each call for a person at once.
   */
  private createGatedAccessWithAlarms(): TvmGatedAccess {
    const gated = this.createGatedAccess();
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) => new cloudwatch.Alarm(this, id, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Sentinel TVM ${this.node.path}: ${description}`,
    });
    this.breakGlassAlarm = alarm('BreakGlassAlarm', this.metricBreakGlassInvocations(),
      'someone broke glass (see the decision log and the Break Glass Invoked event); the session must be reviewed');
    this.integrityAlarm = alarm('IntegrityAlarm', this.metricIntegrityFailures(),
      'a grant the TVM did not write was presented (someone wrote the session table): it was revoked; find the writer');
    return gated;
  }

  private grantEnforce(roleArn: string): void {
    this.enforcer?.grantEnforce(roleArn);
  }

  /**
   * A role serves one TVM: two would add the same trust statements, and each one's enforcer would keep its own deny on
   * it. Refused at synth, by object and by literal ARN, across the app.
   */
  private claim(prop: string, role: iam.IRole): void {
    const claims = claimsOf(this);
    const keys: unknown[] = [role];
    if (!Token.isUnresolved(role.roleArn)) keys.push(role.roleArn);
    for (const key of keys) {
      const owner = claims.get(key);
      if (owner && owner !== this) {
        throw new Error(`${prop}: role ${Token.isUnresolved(role.roleArn) ? role.node.path : role.roleArn} is already a role of the TVM `
          + `${owner.node.path}: a role serves one TVM (their trust statements and revocation denies would collide); give ${this.node.path} a `
          + 'role of its own');
      }
    }
    const otherTvm = (role as { tvm?: ISentinelTvm }).tvm;
    if (otherTvm && !isProtectedRoleOf(role, this)) {
      throw new Error(`${prop}: role ${role.node.path} is a ProtectedRole of the TVM ${otherTvm.node.path}, which alone it trusts: give `
        + `${this.node.path} a ProtectedRole of its own`);
    }
    keys.forEach((key) => claims.set(key, this));
  }

  /**
   * A profile's role may not call this TVM (a vended credential must not buy a fresh session) and may assume no role
   * but the named chain targets (a revoked credential must not escape into a role without the deny). For a role of
   * this app the denies are a policy in this TVM's scope attached to the role: a role in another stack then takes no
   * reference on this stack. For an imported role, a warning prints them.
   */
  private confine(role: iam.IRole, chainTargets: iam.IRole[]): void {
    const chainDeny = noRoleChaining(chainTargets.map((t) => t.roleArn));
    const otherAccount = this.otherAccountOf(role) !== undefined;
    // A ProtectedRole of another account confines itself: a policy of this account cannot be attached to it.
    if (otherAccount && isProtectedRoleOf(role, this)) return;
    if (iam.Role.isRole(role) && !otherAccount) {
      // Two policies every confined role shares (its name in their Roles list is all a role adds to the template), and
      // one of its own for a role whose profiles name chain targets: one statement per profile, so a role several
      // profiles use may chain only into the targets they all name (and into none if one of them names none).
      if (!this.confinedRoles.has(role)) {
        this.confinedRoles.add(role);
        this.sharedConfinement('NoSelfVending', this.noSelfVending()).attachToRole(role);
      }
      if (chainTargets.length === 0) {
        this.sharedConfinement('NoRoleChaining', chainDeny).attachToRole(role);
        return;
      }
      let own = this.chainPolicies.get(role);
      if (!own) {
        own = new iam.Policy(this, `ChainOnly${this.chainPolicies.size}`, { roles: [role] });
        this.chainPolicies.set(role, own);
      }
      own.addStatements(chainDeny);
      return;
    }
    const rendered = JSON.stringify([this.noSelfVending(), chainDeny].map((d) => d.toStatementJson()), (_k, v) =>
      typeof v === 'string' && Token.isUnresolved(v) ? '<deploy-time value>' : v);
    Annotations.of(role).addWarningV2('cdk-sentinel-tvm:importedRoleConfinement',
      `Role ${describeRole(role)} is ${otherAccount ? 'in another account than the TVM' : 'not owned by this app'}: add these `
      + 'statements to its identity policies so that its sessions can neither call the TVM nor chain into roles without the '
      + `revocation deny: ${rendered}`);
  }

  private sharedConfinement(id: string, statement: iam.PolicyStatement): iam.Policy {
    return (this.node.tryFindChild(id) as iam.Policy | undefined) ?? new iam.Policy(this, id, { statements: [statement] });
  }

  private noSelfVending(): iam.PolicyStatement {
    return noSelfVending(this.api.arnForExecuteApi('*', '/*', '*'));
  }

  private addSpokeAccountAs(prop: string, account: string): void {
    if (typeof account !== 'string' || Token.isUnresolved(account) || !/^[0-9]{12}$/.test(account)) {
      throw new Error(`${prop}: ${JSON.stringify(Token.isUnresolved(account) ? '<token>' : account)} is not an account id: expected 12 `
        + 'digits, literally (profiles\' roles are checked against it at synth)');
    }
    const own = Stack.of(this).account;
    if (!Token.isUnresolved(own) && account === own) {
      throw new Error(`${prop}: ${account} is this TVM's own account, where its enforcer writes the denies itself: a spoke is for `
        + 'another account');
    }
    if (this.spokeAccounts.has(account)) return;
    this.spokeAccounts.add(account);
    // Spokes forward their accounts' tamper events (forwardTamperEvents) to this region's default bus.
    if (this.tamperDetection && !this.node.tryFindChild('SpokeTamperEvents')) {
      new events.CfnEventBusPolicy(this, 'SpokeTamperEvents', {
        eventBusName: 'default',
        statementId: `sentinel-tvm-${this.tvmName}-spokes`,
        statement: {
          Sid: `sentinel-tvm-${this.tvmName}-spokes`,
          Effect: 'Allow',
          Principal: { AWS: Lazy.list({ produce: () => [...this.spokeAccounts].sort().map((a) => `arn:${Aws.PARTITION}:iam::${a}:root`) }) },
          Action: 'events:PutEvents',
          Resource: `arn:${Aws.PARTITION}:events:${Stack.of(this).region}:${Stack.of(this).account}:event-bus/default`,
        },
      });
    }
    this.enforcer?.addSpokeAccount(account);
  }

  /** The role's account when it is known and not this TVM's (both literal); undefined otherwise. */
  private otherAccountOf(role: iam.IRole): string | undefined {
    const own = Stack.of(this).account;
    const account = Token.isUnresolved(role.roleArn) ? role.env.account : role.roleArn.split(':')[4];
    if (account === undefined || Token.isUnresolved(account) || Token.isUnresolved(own) || account === own) return undefined;
    return account;
  }

  /**
   * While revocation reaches issued credentials, a profile's role in another account needs a spoke there (the enforcer
   * writes its deny through the spoke's enforcement role), or the profile's explicit opt-out. A role whose account synth
   * cannot compare with this TVM's is warned about.
   */
  private validateAccounts(): string[] {
    if (!this.enforcer) return [];
    const errors: string[] = [];
    for (const profile of this.profiles.values()) {
      if (profile.unenforced) continue;
      const prop = `addProfile(${JSON.stringify(profile.name)}).role`;
      const account = this.otherAccountOf(profile.role);
      if (account === undefined) {
        this.warnIfAccountUnchecked(prop, profile.role, false);
        profile.chainTargets.forEach((t, i) =>
          this.warnIfAccountUnchecked(`addProfile(${JSON.stringify(profile.name)}).allowRoleChainingTo[${i}]`, t, true));
        continue;
      }
      if (!this.spokeAccounts.has(account)) {
        errors.push(`${prop} is ${describeRole(profile.role)}, in account ${account}, which has no spoke of this TVM: the enforcer `
          + `could not deny revoked sessions' issued credentials there. Deploy a SentinelTvmSpoke in ${account} and use its `
          + `addProtectedRole(); or list ${account} in spokeAccounts (a spoke deployed elsewhere, e.g. a StackSet); or set `
          + 'issuedCredentialsSurviveRevocation: true on the profile; or use revocation: RevocationEnforcement.futureVendsOnly()');
        continue;
      }
      // The spoke's enforcement role writes only roles under this TVM's path that carry a spoke permissions boundary: on any
      // other role revoked credentials would keep working, which the profile must say it accepts.
      const arn = profile.role.roleArn;
      const spokeMade = SPOKE_ROLE_SYMBOL in profile.role;
      const importedUnderPath = !iam.Role.isRole(profile.role) && !Token.isUnresolved(arn)
        && arn.split(':').slice(5).join(':').startsWith(`role${this.protectedRolePath}`);
      if (!spokeMade && !importedUnderPath) {
        errors.push(`${prop} is ${describeRole(profile.role)}, in the spoke account ${account}, but not a role of `
          + `SentinelTvmSpoke.addProtectedRole(): the spoke's enforcement role writes denies only on roles under ${this.protectedRolePath} `
          + 'with a spoke permissions boundary, so it cannot write this one and revoked sessions\' issued credentials would keep '
          + 'working on it. Use the spoke\'s addProtectedRole(), or set issuedCredentialsSurviveRevocation: true on the profile');
      }
    }
    return errors;
  }

  /**
   * Warns of a role whose account synth cannot compare with this TVM's: a literal account while this TVM's is unknown
   * (environment-agnostic stack), or a deploy-time ARN (a parameter, an import) of an imported role. If it is another
   * account without a spoke, the enforcer cannot write its deny there.
   */
  private warnIfAccountUnchecked(prop: string, role: iam.IRole, chainTarget: boolean): void {
    const literal = literalAccountOf(role);
    let why: string;
    let check: string;
    if (literal !== undefined) {
      if (!Token.isUnresolved(Stack.of(this).account) || this.spokeAccounts.has(literal)) return;
      why = `in account ${literal}, and this TVM's stack has no account (environment-agnostic): synth cannot tell whether that is the `
        + 'TVM\'s account';
      check = 'Give the TVM\'s stack an env to have it checked';
    } else {
      if (iam.Role.isRole(role)) return; // a role of this app: its stack's env decides
      const account = Stack.of(role).resolve(Token.isUnresolved(role.roleArn) ? role.env.account : role.roleArn.split(':')[4]);
      // `${AWS::AccountId}` of the TVM's own stack is its account.
      if (Stack.of(role) === Stack.of(this) && JSON.stringify(account) === JSON.stringify({ Ref: 'AWS::AccountId' })) return;
      why = 'whose account cannot be checked at synth (a deploy-time value: a parameter, an import)';
      check = 'Name the role by a literal ARN to have it checked';
    }
    const fix = chainTarget
      ? 'A chain target must be in the TVM\'s account: in another one the enforcer cannot deny revoked sessions chained into it'
      : 'If it is another account, the enforcer can deny revoked sessions\' issued credentials there only through a SentinelTvmSpoke '
        + 'of that account (list the account in spokeAccounts); otherwise set issuedCredentialsSurviveRevocation: true on the profile';
    Annotations.of(role).addWarningV2('cdk-sentinel-tvm:roleAccountUnchecked', `${prop} is ${describeRole(role)}, ${why}. ${fix}. ${check}`);
  }

  private isUnderPath(role: iam.IRole): boolean {
    return isProtectedRoleOf(role, this) && (role as iam.Role & { path?: string }).path === this.protectedRolePath;
  }

  /** This TVM's ProtectedRoles in its own account, or in `account`. */
  /** IAM's events reach EventBridge in us-east-1 only: elsewhere the tamper rules see them only when forwarded. */
  private validateTamperRegion(): string[] {
    const region = Stack.of(this).region;
    if (!Token.isUnresolved(region) && region !== 'us-east-1' && this.tamperForwarders === 0) {
      Annotations.of(this).addWarningV2('cdk-sentinel-tvm:tamperForwarderMissing',
        `tamperDetection: this TVM is in ${region}, but IAM's and Organizations' CloudTrail events reach EventBridge in us-east-1 only: `
        + 'add a SentinelTvmTamperForwarder to a us-east-1 stack of this account (new SentinelTvmTamperForwarder(stack, id, { tvm })), '
        + 'or changes of the deny policy and of trust policies go unseen (AssumeRole calls in this region are seen)');
    }
    return [];
  }

  private protectedRoleArnPattern(account?: string): string {
    return Stack.of(this).formatArn({ service: 'iam', region: '', account, resource: 'role', resourceName: `${this.protectedRolePath.slice(1)}*` });
  }

  private acknowledgeNagFindings(): void {
    for (const fn of [this.handler, this.enforcer?.function, this.configuration.writer, this.sessionEvents.function]) {
      if (!fn) continue;
      acknowledgeNag(fn, [{
        id: 'AwsSolutions-L1',
        reason: 'The function is bundled for and tested on nodejs22.x (esbuild target node22); its runtime moves with this library.',
      }]);
    }
    for (const role of [this.enforcer?.role, this.sessionEvents.role]) {
      if (!role) continue;
      acknowledgeNag(role, [{
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams, added by the stream event source, has no resource-level permissions.',
      }]);
    }
    // The wildcard is the TVM's own role path: it names this TVM's ProtectedRoles and nothing else. The execution role's is
    // acknowledged where it is granted (grantAssume), in whichever accounts it is.
    if (this.enforcer) this.acknowledgePathWildcard(this.enforcer.role, this.nagAccount());
  }

  /** This TVM's account as cdk-nag writes it in a finding. */
  private nagAccount(): string {
    return Token.isUnresolved(Stack.of(this).account) ? '<AWS::AccountId>' : Stack.of(this).account;
  }

  /** The cdk-nag finding on this TVM's protected-role path in `account` (its own, or a spoke's). */
  private acknowledgePathWildcard(role: iam.Role, account: string): void {
    acknowledgeNag(role, [{
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${account}:role${this.protectedRolePath}*]`,
      reason: 'The wildcard is this TVM\'s own IAM path: it covers its ProtectedRoles (which only this TVM trusts), and keeps the '
        + 'policy within IAM\'s size limits with hundreds of profiles.',
    }]);
  }
}

function validatePositive(prop: string, value: number | undefined): number | undefined {
  if (value === undefined || Token.isUnresolved(value)) return value;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${prop} is ${value}: expected a positive number`);
  }
  return value;
}

/** Structural check instead of `instanceof`, which fails across copies of this library. */
function isProtectedRoleOf(role: iam.IRole, tvm: SentinelTvm): boolean {
  const trusted = (role as { readonly tvm?: ISentinelTvm }).tvm;
  return trusted === tvm || (trusted !== undefined && trusted.executionRoleArn === tvm.executionRoleArn);
}

/** A role's account when literal (from its ARN, or its env), else undefined. */
function literalAccountOf(role: iam.IRole): string | undefined {
  const account = Token.isUnresolved(role.roleArn) ? role.env.account : role.roleArn.split(':')[4];
  return account !== undefined && !Token.isUnresolved(account) && /^[0-9]{12}$/.test(account) ? account : undefined;
}

/** A role's ARN when literal, else its construct path. */
function describeRole(role: iam.IRole): string {
  return Token.isUnresolved(role.roleArn) ? role.node.path : role.roleArn;
}

const SENTINEL_TVM_SYMBOL = Symbol.for('cdk-sentinel-tvm.SentinelTvm');
const CLAIMS = new WeakMap<IConstruct, Map<unknown, SentinelTvm>>();

/** The roles claimed by the TVMs of an app. */
function claimsOf(tvm: SentinelTvm): Map<unknown, SentinelTvm> {
  const root = tvm.node.root;
  let claims = CLAIMS.get(root);
  if (!claims) {
    claims = new Map();
    CLAIMS.set(root, claims);
  }
  return claims;
}

/** Throttle settings, defaulted, with positive numbers. */
function validateThrottle(prop: string, value: apigwv2.ThrottleSettings | undefined, rate: number, burst: number): apigwv2.ThrottleSettings {
  return {
    rateLimit: validatePositive(`${prop}.rateLimit`, value?.rateLimit) ?? rate,
    burstLimit: validatePositive(`${prop}.burstLimit`, value?.burstLimit) ?? burst,
  };
}
