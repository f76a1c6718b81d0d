import { Annotations, Aws, Duration, Fn, Lazy, Names, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { TvmConfiguration } from './private/configuration';
import { TvmEnforcer } from './private/enforcer';
import { acknowledgeNag } from './private/nag';
import { assumeStatements, onlyFromFunction, trustStatements } from './private/trust';
import { validateDuration, validatePrincipalPatterns, validateProfileName } from './private/validation';
import { VendFunction } from './private/vend-function';
import {
  Attr, BLOCK_ITEM_PREFIX, Env, Indexes, Limits, Metrics, revokedSessionsPolicyName, Routes, SESSION_TAG_KEY,
  StoreFailureModes, TOKEN_KEY_ITEM_ID, TvmTags,
} from './shared/contract';

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
export enum TvmLogLevel {
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
 * Properties of a {@link SentinelTvm}.
 */
export interface SentinelTvmProps {
  /**
   * ARN patterns (IAM wildcards `*` and `?`, matched against the caller's full ARN) of the principals
   * that may list, read, end and revoke any session.
   *
   * @default - no administrators: callers manage only their own sessions
   */
  readonly adminPrincipals?: string[];

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
   * Make revocation deny credentials already issued: an enforcer Lambda, fed by the table's stream and run
   * every 5 minutes, keeps an inline policy `SentinelRevokedSessions` on each protected role that denies the
   * revoked sessions' tags until their credentials expire. When false, revocation only refuses future vends.
   *
   * @default true
   */
  readonly revokeIssuedCredentials?: boolean;

  /**
   * How long a session record is kept after the session ends, for audit, before DynamoDB's TTL deletes it.
   *
   * @default Duration.days(30)
   */
  readonly sessionRetention?: Duration;

  /**
   * What happens to the session table when it leaves the stack.
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
   * Point-in-time recovery of the session table.
   *
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;

  /**
   * Retention of the handler's log group and of the API access log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Log level of the TVM's functions (`POWERTOOLS_LOG_LEVEL`). At `INFO`, every request writes one decision line.
   *
   * @default TvmLogLevel.INFO
   */
  readonly logLevel?: TvmLogLevel;

  /**
   * Active AWS X-Ray tracing of the TVM's functions.
   *
   * @default false
   */
  readonly tracing?: boolean;

  /**
   * Steady-state request rate limit of the vending routes (`GET|POST /` and `GET /profiles`), requests per second,
   * for all their callers together. The session routes have their own limits, so a flood of vends cannot starve
   * revocation.
   *
   * @default 50
   */
  readonly throttlingRateLimit?: number;

  /**
   * Burst limit of the vending routes, requests, for all their callers together.
   *
   * @default 100
   */
  readonly throttlingBurstLimit?: number;

  /**
   * Steady-state request rate limit of each session route (`GET /sessions`, `GET|DELETE /sessions/{id}`, and
   * `POST /sessions/{id}/revoke`, which only administrators may call), requests per second: each route has a bucket
   * of its own, apart from the vending routes'.
   *
   * @default 10
   */
  readonly sessionsThrottlingRateLimit?: number;

  /**
   * Burst limit of each session route, requests.
   *
   * @default 20
   */
  readonly sessionsThrottlingBurstLimit?: number;

  /**
   * Accept principal patterns that pin only names a caller chooses: a wildcard partition, service or account, a
   * federated user's name (chosen by whoever calls `GetFederationToken`), or an assumed-role session name under a
   * wildcard role (chosen by whoever calls `AssumeRole`). Anyone able to mint such a name then matches.
   *
   * @default false
   */
  readonly allowCallerChosenPrincipalNames?: boolean;
}

/**
 * Options of a profile added with {@link SentinelTvm.addProfile}.
 */
export interface ProfileOptions {
  /**
   * The protected role vended for this profile.
   *
   * An `iam.Role` of this app (a {@link ProtectedRole} or a plain `iam.Role`) gets the TVM trust
   * statements added; an imported role gets a synth warning that prints the statements to add.
   */
  readonly role: iam.IRole;

  /**
   * ARN patterns of the callers allowed to use this profile, matched against the caller's full ARN
   * with IAM wildcards (`*` any characters, `?` one character), e.g.
   * `arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_*` + `/*`.
   */
  readonly allowedPrincipals: string[];

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
}

/**
 * Options of {@link SentinelTvm.addAlarms}. Each alarm fires when its metric reaches the threshold in one period.
 */
export interface TvmAlarmOptions {
  /**
   * Topic notified when an alarm fires and when it recovers.
   *
   * @default - no notification
   */
  readonly topic?: sns.ITopic;

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
}

interface Profile {
  readonly name: string;
  readonly roleArn: string;
  readonly allowedPrincipals: string[];
  readonly maxDurationSeconds: number;
  readonly chainRoleArns: string[];
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
 */
export class SentinelTvm extends Construct {
  /** The session tag key stamped on every AssumeRole and required by the protected roles' trust policy. */
  public static readonly SESSION_TAG_KEY = SESSION_TAG_KEY;

  /** The session table. */
  public readonly table: dynamodb.Table;
  /** The HTTP API; every route requires SigV4 (AWS_IAM). */
  public readonly api: apigwv2.HttpApi;
  /** The vending Lambda function. */
  public readonly handler: lambda.Function;
  /** The role the vending Lambda runs as: the only principal the protected roles trust. */
  public readonly executionRole: iam.Role;
  /** The handler's log group. */
  public readonly logGroup: logs.LogGroup;
  /** The API's access log group. */
  public readonly accessLogGroup: logs.LogGroup;
  /** The URL of the API's `$default` stage, ending with `/`. */
  public readonly url: string;
  /**
   * The service name of this TVM's logs and metrics: the `service` dimension of its `SentinelTvm` metrics,
   * unique per TVM so that two TVMs in one account are told apart.
   */
  public readonly serviceName: string;
  /**
   * The IAM path of this TVM's {@link ProtectedRole}s (`/sentinel-tvm/<serviceName>/`). The TVM's own policies
   * name the path once instead of every role, so they stay small with hundreds of profiles.
   */
  public readonly protectedRolePath: string;
  /**
   * The IAM path of this TVM's own function roles (`/sentinel-tvm-runtime/<serviceName>/`): the vending function's, the
   * enforcer's and the configuration writer's. The guardrail SCP exempts this path and lets no one else create or pass
   * roles under it.
   */
  public readonly runtimeRolePath: string;
  /** The revocation enforcer, when `revokeIssuedCredentials` is on. */
  public readonly enforcer?: lambda.Function;
  /** The enforcer's role, when `revokeIssuedCredentials` is on. */
  public readonly enforcerRole?: iam.Role;
  /**
   * The name of this TVM's revoked-sessions inline policy on its roles (`SentinelRevokedSessions-<serviceName>-<region>`):
   * one per TVM, so that two TVMs vending the same role (IAM is global: the same app in two regions too) never overwrite
   * or delete each other's deny.
   */
  public readonly revokedSessionsPolicyName: string;
  /**
   * Fires when the enforcer could not write a role's deny (its `EnforcementFailures` metric): revoked credentials may
   * still work on that role. Created whenever revocation of issued credentials is on, without `addAlarms`.
   */
  public readonly enforcementFailuresAlarm?: cloudwatch.Alarm;

  private readonly profiles = new Map<string, Profile>();
  private readonly adminPrincipals: string[];
  private readonly allowCallerChosenNames: boolean;
  private readonly trustedRoles = new Set<iam.IRole>();
  private readonly roleArnsGranted = new Set<string>();
  private readonly deniedRoles = new Set<iam.IRole>();
  private readonly controlTable: dynamodb.Table;
  private stsStatements?: iam.PolicyStatement[];
  private readonly assumePolicy: iam.Policy;
  private readonly configuration: TvmConfiguration;
  private readonly enforcerConstruct?: TvmEnforcer;

  constructor(scope: Construct, id: string, props: SentinelTvmProps = {}) {
    super(scope, id);

    this.allowCallerChosenNames = props.allowCallerChosenPrincipalNames ?? false;
    validatePrincipalPatterns('adminPrincipals', props.adminPrincipals, true, { allowCallerChosenNames: this.allowCallerChosenNames });
    this.adminPrincipals = [...(props.adminPrincipals ?? [])];
    const lifetime = validateDuration('sessionLifetime', props.sessionLifetime, Limits.MIN_CREDENTIAL_SECONDS,
      Limits.MAX_SESSION_LIFETIME_SECONDS) ?? Limits.DEFAULT_SESSION_LIFETIME_SECONDS;
    const defaultDuration = validateDuration('defaultCredentialDuration', props.defaultCredentialDuration,
      Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS) ?? Limits.DEFAULT_CREDENTIAL_SECONDS;
    const retention = validateDuration('sessionRetention', props.sessionRetention, 0, 365 * 24 * 3600)
      ?? Limits.DEFAULT_RETENTION_SECONDS;
    const rateLimit = validatePositive('throttlingRateLimit', props.throttlingRateLimit) ?? 50;
    const burstLimit = validatePositive('throttlingBurstLimit', props.throttlingBurstLimit) ?? 100;
    const sessionsRateLimit = validatePositive('sessionsThrottlingRateLimit', props.sessionsThrottlingRateLimit) ?? 10;
    const sessionsBurstLimit = validatePositive('sessionsThrottlingBurstLimit', props.sessionsThrottlingBurstLimit) ?? 20;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;

    this.serviceName = Names.uniqueResourceName(this, { maxLength: 64 });
    this.protectedRolePath = `/sentinel-tvm/${this.serviceName}/`;
    this.revokedSessionsPolicyName = revokedSessionsPolicyName(this.serviceName, Stack.of(this).region);
    const observability = {
      POWERTOOLS_SERVICE_NAME: this.serviceName,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? TvmLogLevel.INFO,
    };
    const tracing = props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED;
    const encryption = props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: Attr.ID, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: Attr.TTL,
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      encryption,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
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
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    // The TVM's own function roles live under a path of their own: the guardrail SCP exempts exactly that path.
    this.runtimeRolePath = `/sentinel-tvm-runtime/${this.serviceName}/`;
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      path: this.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM vending function: the only principal its protected roles trust',
    });
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: logRetention });
    this.logGroup.grantWrite(this.executionRole);
    // The table and its named indexes, no wildcard: the handler queries only the contract's indexes.
    this.executionRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [this.table.tableArn, ...Indexes.map((index) => `${this.table.tableArn}/index/${index.name}`)],
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
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [TOKEN_KEY_ITEM_ID, `${BLOCK_ITEM_PREFIX}*`] } },
    }));
    props.encryptionKey?.grantEncryptDecrypt(this.executionRole);

    this.configuration = new TvmConfiguration(this, 'Config', {
      controlTable: this.controlTable,
      encryptionKey: props.encryptionKey,
      logRetention,
      runtimeRolePath: this.runtimeRolePath,
      admins: () => this.adminPrincipals,
    });
    const configDigest = this.configuration.digest;

    this.handler = new VendFunction(this, 'Handler', {
      description: 'Sentinel TVM: vends session-tagged credentials of protected roles',
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      // Above the worst case of the SDK clients' timeouts (lambda/clients.ts), below API Gateway's 30 s.
      timeout: Duration.seconds(15),
      role: this.executionRole,
      logGroup: this.logGroup,
      environment: {
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
        ...observability,
      },
      tracing,
    });

    // The execution role may assume profile roles only from the vending function's own code: a function someone else
    // runs as this role (iam:PassRole) cannot mint credentials. A policy of its own: the function depends on the role's
    // default policy, and this one names the function.
    this.assumePolicy = new iam.Policy(this, 'AssumePolicy', {
      roles: [this.executionRole],
      statements: [onlyFromFunction(this.handler.functionArn, ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'])],
    });

    // Under /aws/vendedlogs/: API Gateway then does not add the group to the account's CloudWatch Logs resource policy,
    // whose 5,120 characters every other deployment would eat into. The group is retained on delete, so its name ends
    // with this stack's unique id: a stack deployed again after a destroy does not collide with the old group.
    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: logRetention,
      logGroupName: Fn.join('', ['/aws/vendedlogs/apigateway/', this.serviceName, '-', Fn.select(2, Fn.split('/', Aws.STACK_ID))]),
    });
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
      throttle: { rateLimit, burstLimit },
      // Who called which route, and why API Gateway refused: forensics that do not rely on the function's own log.
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup), format: AccessLogFormat.custom(ACCESS_LOG_FORMAT) },
    });
    // Each session route gets a bucket of its own: vend traffic (or a flood of it) never throttles revocation.
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
    for (const route of Routes.filter((r) => r.path.startsWith('/sessions'))) {
      routeSettings[`${route.method} ${route.path}`] = { ThrottlingRateLimit: sessionsRateLimit, ThrottlingBurstLimit: sessionsBurstLimit };
    }
    (stage.node.defaultChild as apigwv2.CfnStage).routeSettings = routeSettings;
    const integration = new HttpLambdaIntegration('Handler', this.handler, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    for (const route of Routes) {
      this.api.addRoutes({ path: route.path, methods: [route.method as apigwv2.HttpMethod], integration });
    }
    // Everything else reaches the handler too, so that unknown paths get the JSON error contract.
    new apigwv2.HttpRoute(this, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: apigwv2.HttpRouteKey.DEFAULT,
      integration,
      authorizer: new HttpIamAuthorizer(),
    });
    this.url = stage.url;

    if (props.revokeIssuedCredentials ?? true) {
      this.enforcerConstruct = new TvmEnforcer(this, 'Enforcer', {
        table: this.table,
        controlTable: this.controlTable,
        configuration: this.configuration,
        encryptionKey: props.encryptionKey,
        logRetention,
        runtimeRolePath: this.runtimeRolePath,
        protectedRoleArnPattern: this.protectedRoleArnPattern(),
        protectedRolePath: this.protectedRolePath,
        policyName: this.revokedSessionsPolicyName,
        observability,
        tracing,
      });
      this.enforcer = this.enforcerConstruct.function;
      this.enforcerRole = this.enforcerConstruct.role;
      // A role on which no deny can be written is loud whether or not anyone called addAlarms().
      this.enforcementFailuresAlarm = new cloudwatch.Alarm(this, 'EnforcementFailuresAlarm', {
        metric: this.metricEnforcementFailures(),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Sentinel TVM ${this.node.path}: the enforcer could not write a revoked-sessions deny: `
          + 'revoked credentials may still work on that role (see the enforcer log, and the metric by Role)',
      });
    }

    // Every resource of this TVM is marked for the account's guardrail SCP.
    Tags.of(this).add(TvmTags.SERVICE, this.serviceName);
    this.acknowledgeNagFindings();
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
    validatePrincipalPatterns(`${prop}.allowedPrincipals`, options.allowedPrincipals, false,
      { allowCallerChosenNames: this.allowCallerChosenNames });
    const maxDurationSeconds = validateDuration(`${prop}.maxCredentialDuration`, options.maxCredentialDuration,
      Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS) ?? Limits.MAX_CREDENTIAL_SECONDS;
    const chainTargets = options.allowRoleChainingTo ?? [];
    chainTargets.forEach((target, i) => this.checkSameAccount(`${prop}.allowRoleChainingTo[${i}]`, target));

    const profile = {
      name,
      roleArn: options.role.roleArn,
      allowedPrincipals: [...options.allowedPrincipals],
      maxDurationSeconds,
      chainRoleArns: chainTargets.map((t) => t.roleArn),
    };
    this.profiles.set(name, profile);
    this.configuration.addProfile(profile);
    this.trust(options.role);
    this.confine(options.role, chainTargets);
    if (iam.Role.isRole(options.role)) Tags.of(options.role).add(TvmTags.SERVICE, this.serviceName);
    // Roles under this TVM's path are covered by one wildcard; any other role is named.
    this.grantAssume(this.isUnderPath(options.role) ? this.protectedRoleArnPattern() : options.role.roleArn);
    for (const target of chainTargets) {
      if (!this.isUnderPath(target)) this.grantEnforce(target.roleArn);
      // A chain target is a second hop: it may not chain further, and it is marked for the guardrail SCP.
      this.confine(target, []);
      if (iam.Role.isRole(target)) Tags.of(target).add(TvmTags.SERVICE, this.serviceName);
    }
  }

  /**
   * Grants `execute-api:Invoke` on the routes every caller needs: vend (`GET|POST /`), `GET /profiles`, and the session
   * routes for their own sessions (`GET /sessions`, `GET|DELETE /sessions/{id}`). Not the revoke route: see
   * {@link grantRevokeSessions}.
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [
        this.api.arnForExecuteApi('GET', '/', '$default'),
        this.api.arnForExecuteApi('POST', '/', '$default'),
        this.api.arnForExecuteApi('GET', '/profiles', '$default'),
        this.api.arnForExecuteApi('GET', '/sessions', '$default'),
        this.api.arnForExecuteApi('GET', '/sessions/*', '$default'),
        this.api.arnForExecuteApi('DELETE', '/sessions/*', '$default'),
      ],
    });
  }

  /**
   * Grants reading the session table (records and indexes) to tooling that works on the table directly. The table
   * holds no secret and nothing that decides access: the configuration and the page-token key live elsewhere.
   */
  public grantReadSessions(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:DescribeTable'],
      resourceArns: [this.table.tableArn, ...Indexes.map((index) => `${this.table.tableArn}/index/${index.name}`)],
    });
    this.table.encryptionKey?.grantDecrypt(grantee);
    return grant;
  }

  /**
   * Makes the grantee an administrator of this TVM's sessions through its API: it may list, read, end and revoke any
   * session (`POST /sessions/{id}/revoke`, the `sentinel-tvm sessions revoke` command), as `adminPrincipals` may. The
   * grantee must be an IAM role (every session of it) or user of this app. No table write is granted: a table writer
   * could un-revoke a session or re-own it, an API caller cannot.
   */
  public grantRevokeSessions(grantee: iam.IGrantable): iam.Grant {
    const principal = grantee.grantPrincipal as { roleArn?: string; userArn?: string };
    const arn = principal.roleArn ?? principal.userArn;
    if (arn === undefined) {
      throw new Error(`grantRevokeSessions: the grantee ${Construct.isConstruct(grantee) ? grantee.node.path : String(grantee)} is `
        + 'not an IAM role or user, whose ARN could name it an administrator');
    }
    this.adminPrincipals.push(arn);
    this.grantInvoke(grantee);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: [this.api.arnForExecuteApi('POST', '/sessions/*/revoke', '$default')],
    });
  }

  /**
   * A metric of this TVM in the `SentinelTvm` namespace, with its `service` dimension.
   *
   * @param metricName one of Vends, Denials, Revocations, StoreFailures, StsFailures, VendLatency
   * @default - Sum over 5 minutes
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: Metrics.NAMESPACE,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { ...props?.dimensionsMap, [Metrics.SERVICE_DIMENSION]: this.serviceName },
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

  /**
   * Requests refused with one error code (e.g. `POLICY_DENY`, `SESSION_REVOKED`). Sum over 5 minutes.
   */
  public metricDenialsByCode(code: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
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

  /** Time to answer a vend, in the handler, milliseconds. p99 over 5 minutes. */
  public metricVendLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(Metrics.VEND_LATENCY, { statistic: cloudwatch.Stats.p(99), ...props });
  }

  /** Failed invocations of the vending function (crashes, timeouts; answered errors are not counted). Sum over 5 minutes. */
  public metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
  }

  /** Throttled invocations of the vending function. Sum over 5 minutes. */
  public metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handler.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), ...props });
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
   * Creates the recommended alarms: STS failures, store failures, API 5xx, throttles of the vending function and,
   * when revocation of issued credentials is on, enforcer errors. The topic is also told of the enforcement-failures
   * alarm, which exists without this call; nothing else is created unless this is called.
   *
   * @returns the alarms created
   */
  public addAlarms(options: TvmAlarmOptions = {}): cloudwatch.Alarm[] {
    const period = options.period ?? Duration.minutes(5);
    const defs: Array<[string, cloudwatch.IMetric, number, string]> = [
      ['StsFailuresAlarm', this.metricStsFailures({ period }), options.stsFailuresThreshold ?? 1,
        'STS refused or failed AssumeRole: check the decision log (stsError) and the protected roles\' trust policies'],
      ['StoreFailuresAlarm', this.metricStoreFailures({ period }), options.storeFailuresThreshold ?? 1,
        'The session table failed: vends were made without a record (FAIL_OPEN) or refused (FAIL_CLOSED)'],
      ['ServerErrorsAlarm', this.metricApiServerErrors({ period }), options.serverErrorsThreshold ?? 1,
        'The TVM answered 5xx'],
      ['ThrottlesAlarm', this.metricThrottles({ period }), options.throttlesThreshold ?? 1,
        'The vending function was throttled'],
    ];
    if (this.enforcer) {
      defs.push(['EnforcerErrorsAlarm', this.enforcer.metricErrors({ statistic: cloudwatch.Stats.SUM, period }), 1,
        'The revocation enforcer failed: revoked sessions\' issued credentials may not be denied yet']);
    }
    const created = defs.map(([id, metric, threshold, description]) => {
      if (!Number.isFinite(threshold) || threshold < 1) {
        throw new Error(`addAlarms: the threshold of ${id} is ${threshold}: expected a number >= 1`);
      }
      const alarm = new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Sentinel TVM ${this.node.path}: ${description}`,
      });
      if (options.topic) {
        alarm.addAlarmAction(new cwActions.SnsAction(options.topic));
        alarm.addOkAction(new cwActions.SnsAction(options.topic));
      }
      return alarm;
    });
    // The enforcement alarm exists without addAlarms; the topic is told of it too.
    if (options.topic && this.enforcementFailuresAlarm) {
      this.enforcementFailuresAlarm.addAlarmAction(new cwActions.SnsAction(options.topic));
      this.enforcementFailuresAlarm.addOkAction(new cwActions.SnsAction(options.topic));
    }
    return created;
  }

  /** Names of the profiles defined so far. */
  public get profileNames(): string[] {
    return [...this.profiles.keys()];
  }

  private trust(role: iam.IRole): void {
    if (this.trustedRoles.has(role)) return;
    this.trustedRoles.add(role);
    const statements = trustStatements(this.executionRole.roleArn);
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
    const rendered = JSON.stringify(statements.map((s) => s.toStatementJson()), (_k, v) =>
      typeof v === 'string' && Token.isUnresolved(v) ? '<TVM execution role ARN: tvm.executionRole.roleArn>' : v);
    Annotations.of(this).addWarningV2('cdk-sentinel-tvm:importedRole',
      `Role ${Token.isUnresolved(role.roleArn) ? role.node.path : role.roleArn} is not owned by this app, so its trust policy cannot be changed here. ` +
      `Add these statements to its trust policy, or the TVM cannot assume it: ${rendered}`);
  }

  private grantAssume(roleArn: string): void {
    if (this.roleArnsGranted.has(roleArn)) return;
    this.roleArnsGranted.add(roleArn);
    if (!this.stsStatements || this.stsStatements[0].resources.length >= ROLE_ARNS_PER_STATEMENT) {
      this.stsStatements = assumeStatements();
      this.assumePolicy.addStatements(...this.stsStatements);
    }
    this.stsStatements.forEach((s) => s.addResources(roleArn));
    if (roleArn !== this.protectedRoleArnPattern()) this.grantEnforce(roleArn);
  }

  private grantEnforce(roleArn: string): void {
    this.enforcerConstruct?.grantEnforce(roleArn);
  }

  /**
   * A profile's role may not call this TVM (a vended credential must not buy a fresh session) and may assume no role
   * but the named chain targets (a revoked credential must not escape into a role without the deny). For a role of
   * this app the denies are added to it; for an imported role, a warning prints them.
   */
  private confine(role: iam.IRole, chainTargets: iam.IRole[]): void {
    const denies = [
      new iam.PolicyStatement({
        sid: 'SentinelTvmNoSelfVending',
        effect: iam.Effect.DENY,
        actions: ['execute-api:Invoke'],
        resources: [this.api.arnForExecuteApi('*', '/*', '*')],
      }),
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['sts:AssumeRole'],
        ...(chainTargets.length > 0 ? { notResources: chainTargets.map((t) => t.roleArn) } : { resources: ['*'] }),
      }),
    ];
    if (iam.Role.isRole(role)) {
      if (!this.deniedRoles.has(role)) {
        this.deniedRoles.add(role);
        role.addToPrincipalPolicy(denies[0]);
      }
      // One statement per profile: a role several profiles use may chain only into the targets they all name.
      role.addToPrincipalPolicy(denies[1]);
      return;
    }
    const rendered = JSON.stringify(denies.map((d) => d.toStatementJson()), (_k, v) =>
      typeof v === 'string' && Token.isUnresolved(v) ? '<deploy-time value>' : v);
    Annotations.of(this).addWarningV2('cdk-sentinel-tvm:importedRoleConfinement',
      `Role ${Token.isUnresolved(role.roleArn) ? role.node.path : role.roleArn} is not owned by this app: add these statements to its `
      + `identity policies so that its sessions can neither call the TVM nor chain into roles without the revocation deny: ${rendered}`);
  }

  private checkSameAccount(prop: string, role: iam.IRole): void {
    const account = Stack.of(this).account;
    const roleAccount = role.roleArn.split(':')[4];
    if (!Token.isUnresolved(role.roleArn) && !Token.isUnresolved(account) && roleAccount !== account) {
      throw new Error(`${prop} is ${role.roleArn}, in account ${roleAccount}: the enforcer writes revocation denies only in this TVM's `
        + `account (${account}), so a revoked session could keep working there`);
    }
  }

  private isUnderPath(role: iam.IRole): boolean {
    return isProtectedRoleOf(role, this) && (role as iam.Role & { path?: string }).path === this.protectedRolePath;
  }

  private protectedRoleArnPattern(): string {
    return Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${this.protectedRolePath.slice(1)}*` });
  }

  private acknowledgeNagFindings(): void {
    for (const fn of [this.handler, this.enforcer, this.configuration.writer]) {
      if (!fn) continue;
      acknowledgeNag(fn, [{
        id: 'AwsSolutions-L1',
        reason: 'The function is bundled for and tested on nodejs22.x (esbuild target node22); its runtime moves with this library.',
      }]);
    }
    if (this.enforcerRole) {
      acknowledgeNag(this.enforcerRole, [{
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'dynamodb:ListStreams, added by the stream event source, has no resource-level permissions.',
      }]);
    }
    // The wildcard is the TVM's own role path: it names this TVM's ProtectedRoles and nothing else.
    const account = Token.isUnresolved(Stack.of(this).account) ? '<AWS::AccountId>' : Stack.of(this).account;
    const pathFinding = `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${account}:role${this.protectedRolePath}*]`;
    for (const role of [this.assumePolicy, this.enforcerRole]) {
      if (!role) continue;
      acknowledgeNag(role, [{
        id: pathFinding,
        reason: 'The wildcard is this TVM\'s own IAM path: it covers its ProtectedRoles (which only this TVM trusts), and keeps the '
          + 'policy within IAM\'s size limits with hundreds of profiles.',
      }]);
    }
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
  return (role as { readonly tvm?: unknown }).tvm === tvm;
}
