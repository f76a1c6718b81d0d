import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TvmConfiguration } from './configuration';
import { EnforcerFunction } from './enforcer-function';
import { onlyFromFunction } from './trust';
import { Attr, Env, Indexes, Status } from '../shared/contract';

/** ARNs per IAM statement, so that CDK can split a large policy across documents. */
const ROLE_ARNS_PER_STATEMENT = 25;
/** What the enforcer may do on a role: its own policy (IAM has no condition on a policy's name), and list the others to size it. */
const ENFORCER_ROLE_ACTIONS = ['iam:GetRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:ListRolePolicies'];

export interface TvmEnforcerProps {
  readonly table: dynamodb.ITable;
  readonly controlTable: dynamodb.ITable;
  readonly configuration: TvmConfiguration;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly runtimeRolePath: string;
  /** The TVM's ProtectedRoles, by path: `arn:…:role/sentinel-tvm/<service>/*`. */
  readonly protectedRoleArnPattern: string;
  readonly protectedRolePath: string;
  readonly policyName: string;
  readonly observability: Record<string, string>;
  readonly tracing: lambda.Tracing;
}

/**
 * The revocation enforcer: fed by the session table's stream and run every 5 minutes, it keeps this TVM's inline deny
 * policy on each protected role, denying the revoked sessions' tags until their credentials expire.
 */
export class TvmEnforcer extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  private statement?: iam.PolicyStatement;

  constructor(scope: Construct, id: string, props: TvmEnforcerProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      path: props.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM revocation enforcer: writes the revoked-sessions deny policy of its protected roles',
    });
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });
    logGroup.grantWrite(this.role);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:Query'],
      resources: [props.table.tableArn, `${props.table.tableArn}/index/${Indexes.find((i) => i.partitionKey === Attr.STATUS)!.name}`],
    }));
    props.configuration.grantRead(this.role);
    // Roles under this TVM's path stay writable after they leave the configuration (a replaced ProtectedRole's
    // sessions may still hold live credentials).
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ENFORCER_ROLE_ACTIONS,
      resources: [props.protectedRoleArnPattern],
    }));
    props.encryptionKey?.grantDecrypt(this.role);
    this.function = new EnforcerFunction(this, 'Function', {
      description: 'Sentinel TVM: denies the credentials of revoked sessions on the protected roles',
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(60),
      // One writer per role policy: concurrent runs would race on PutRolePolicy.
      reservedConcurrentExecutions: 1,
      role: this.role,
      logGroup,
      environment: {
        [Env.TABLE_NAME]: props.table.tableName,
        [Env.CONTROL_TABLE_NAME]: props.controlTable.tableName,
        [Env.CONFIG_DIGEST]: props.configuration.digest,
        [Env.REVOKED_POLICY_NAME]: props.policyName,
        [Env.PROTECTED_ROLE_PATH]: props.protectedRolePath,
        ...props.observability,
      },
      tracing: props.tracing,
    });
    // Only changes into `revoked`: inserted as revoked (other tools), or active -> revoked.
    const revoked = { status: { S: lambda.FilterRule.isEqual(Status.REVOKED) } };
    this.function.addEventSource(new DynamoEventSource(props.table, {
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      bisectBatchOnError: true,
      retryAttempts: 3,
      maxRecordAge: Duration.hours(1),
      filters: [
        lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.isEqual('INSERT'), dynamodb: { NewImage: revoked } }),
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual('MODIFY'),
          dynamodb: { NewImage: revoked, OldImage: { status: { S: lambda.FilterRule.notEquals(Status.REVOKED) } } },
        }),
      ],
    }));
    // The schedule prunes expired ids and repairs anything a failed stream batch missed.
    new events.Rule(this, 'Schedule', {
      description: 'Sentinel TVM: recompute the revoked-sessions deny policies',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 2 })],
    });
    new iam.Policy(this, 'OnlyFromFunction', {
      roles: [this.role],
      statements: [onlyFromFunction(this.function.functionArn, ENFORCER_ROLE_ACTIONS)],
    });
  }

  /** The enforcer may read, write and delete role policies on this role (the TVM's path is granted already). */
  public grantEnforce(roleArn: string): void {
    if (!this.statement || this.statement.resources.length >= ROLE_ARNS_PER_STATEMENT) {
      this.statement = new iam.PolicyStatement({ actions: ENFORCER_ROLE_ACTIONS });
      this.role.addToPrincipalPolicy(this.statement);
    }
    if (!this.statement.resources.includes(roleArn)) this.statement.addResources(roleArn);
  }
}
