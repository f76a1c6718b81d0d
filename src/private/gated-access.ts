import { Duration, Stack } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AccessFunction } from './access-function';
import { acknowledgeNag } from './nag';
import { AccessRoutes, BREAK_GLASS_GUARD_PREFIX, GRANT_KEY_ITEM_ID, IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../shared/access';
import { Indexes, TOKEN_KEY_ITEM_ID } from '../shared/contract';

export interface TvmGatedAccessProps {
  readonly api: apigwv2.HttpApi;
  readonly table: dynamodb.ITable;
  readonly controlTable: dynamodb.ITable;
  /** Grants reading the deployed configuration. */
  readonly grantConfigRead: (grantee: iam.IGrantable) => void;
  /** The vending function's environment: the access function reads the same settings. */
  readonly environment: Record<string, string>;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly runtimeRolePath: string;
  readonly tracing: lambda.Tracing;
  readonly architecture: lambda.Architecture;
  /** The account in nag reasons' resource ids (`<AWS::AccountId>` when not literal). */
  readonly nagAccount: string;
}

/**
 * The access function, present when a profile is gated: requests, approvals, break-glass and reviews, on API routes of
 * their own. Only its role may read Identity Center's roles (iam:GetRole, to prove approvers and break-glass invokers as
 * persons) and write break-glass guards; the vending function keeps none of that, and its bundle stays small.
 */
export class TvmGatedAccess extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TvmGatedAccessProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      path: props.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM access function: access requests, approvals, break-glass and reviews',
    });
    const logGroup = new logs.LogGroup(this, 'LogGroup', { retention: props.logRetention });
    logGroup.grantWrite(this.role);
    props.encryptionKey?.grantEncryptDecrypt(this.role);
    props.grantConfigRead(this.role);
    // Sessions: requests and grants are session items; the lists query the contract's indexes.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [props.table.tableArn],
    }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: Indexes.map((index) => `${props.table.tableArn}/index/${index.name}`),
    }));
    // Control table: read the configuration and the keys; write only the keys (created on first use) and break-glass guards.
    // Reads, and the condition check of a break-glass start on the invoker's principal block.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem'],
      resources: [props.controlTable.tableArn],
    }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resources: [props.controlTable.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [TOKEN_KEY_ITEM_ID, GRANT_KEY_ITEM_ID, `${BREAK_GLASS_GUARD_PREFIX}*`] },
      },
    }));
    const path = IDENTITY_CENTER_ROLE_PATH_PREFIX.slice(1);
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:GetRole'],
      resources: [Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${path}*` })],
    }));
    acknowledgeNag(this.role, [
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${props.nagAccount}:role/${path}*]`,
        reason: 'iam:GetRole on the path IAM Identity Center creates its permission-set roles under: the access function reads a '
          + 'role there to prove that an approver, reviewer or break-glass invoker is a person working as it; it reads no other '
          + 'role and writes none.',
      },
    ]);
    this.function = new AccessFunction(this, 'Function', {
      description: 'Sentinel TVM: access requests, approvals, break-glass and reviews',
      architecture: props.architecture,
      memorySize: 512,
      timeout: Duration.seconds(15),
      role: this.role,
      logGroup,
      environment: props.environment,
      tracing: props.tracing,
    });
    acknowledgeNag(this.function, [{
      id: 'AwsSolutions-L1',
      reason: 'The function is bundled for and tested on nodejs22.x (esbuild target node22); its runtime moves with this library.',
    }]);
    // The lifecycle sweep: records expired requests and grants, and revokes grants whose holder is no longer eligible.
    new events.Rule(this, 'Lifecycle', {
      description: 'Sentinel TVM: the gated-access lifecycle sweep (expired requests and grants, eligibility removed)',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0 })],
    });
    const integration = new HttpLambdaIntegration('Integration', this.function, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    for (const route of AccessRoutes) {
      props.api.addRoutes({ path: route.path, methods: [route.method as apigwv2.HttpMethod], integration });
    }
  }
}
