import { Aws, CustomResource, Duration, Lazy, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as organizations from 'aws-cdk-lib/aws-organizations';
import { Construct } from 'constructs';
import { EnforcerFunction } from './enforcer-function';
import { eventBusArnOf, eventBusEnvironment } from './session-events';
import { onlyFromFunction } from './trust';
import {
  Attr, ENFORCER_LEASE_ITEM_ID, enforcerRoleName, EnforcerTiming, Env, Indexes, organizationPolicyName, REVOCATION_CLEANUP_ITEM_ID,
  REVOCATION_CLEANUP_RESOURCE_TYPE, spokeEnforcementRoleName, SPOKE_PLACEHOLDER_POLICY, Status,
} from '../shared/contract';

/** ARNs per IAM statement, so that CDK can split a large policy across documents. */
const ROLE_ARNS_PER_STATEMENT = 25;
/** What the enforcer may do on a role: its own policy (IAM has no condition on a policy's name), and list the others to size it. */
const ENFORCER_ROLE_ACTIONS = ['iam:GetRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:ListRolePolicies'];
/** The lease item that lets one run at a time write the policies. */
const LEASE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'];
/** The item in which the revocation cleanup records the roles its resources list. */
const CLEANUP_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'];
/** The revocation cleanup checks that a request comes from CloudFormation working on this stack. */
const STACK_ACTIONS = ['cloudformation:DescribeStacks'];
/** The spokes' enforcement roles, one per other account whose roles it denies. */
const SPOKE_ACTIONS = ['sts:AssumeRole'];
/** `Revocation Enforced` and `Revocation Enforcement Failed`, on the TVM's event bus. */
const EVENT_ACTIONS = ['events:PutEvents'];
/** The organization-wide SCP: read it to compare, write it when it differs; never attach, detach, create or delete. */
const ORGANIZATION_ACTIONS = ['organizations:DescribePolicy', 'organizations:UpdatePolicy'];

/** What the enforcer needs of the deployed configuration (`TvmConfiguration` is one). */
export interface EnforcerConfiguration {
  /** The deployed configuration's digest (a deploy-time value). */
  readonly digest: string;
  /** Read access to the configuration, for a function that loads it. */
  grantRead(grantee: iam.IGrantable): iam.Grant;
}

export interface TvmEnforcerProps {
  readonly table: dynamodb.ITable;
  readonly controlTable: dynamodb.ITable;
  readonly configuration: EnforcerConfiguration;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly runtimeRolePath: string;
  /** The TVM's name: the enforcer role's fixed name, and its spokes' enforcement role name, derive from it. */
  readonly tvmName: string;
  /** The targets of the organization-wide SCP, in organization mode. */
  readonly organizationTargetIds?: string[];
  /** The TVM's ProtectedRoles, by path: `arn:…:role/sentinel-tvm/<service>/*`. */
  readonly protectedRoleArnPattern: string;
  readonly protectedRolePath: string;
  readonly policyName: string;
  readonly observability: Record<string, string>;
  readonly tracing: lambda.Tracing;
  /** Instruction set of the enforcer function. */
  readonly architecture: lambda.Architecture;
  /** Where its events go; the account's default bus when absent. */
  readonly eventBus?: events.IEventBus;
}

/**
 * The revocation enforcer: fed by the session table's stream and run every 5 minutes, it keeps this TVM's inline deny
 * policy on each protected role, denying the revoked sessions' tags until their credentials expire. Its runs take a
 * lease in the control table, one at a time. The same function serves the revocation cleanup custom resource, which
 * deletes the policy from the roles before CloudFormation deletes them.
 */
export class TvmEnforcer extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  /** Deletes the policy from the roles added with {@link addRole} right before CloudFormation deletes them. */
  public readonly cleanup: CustomResource;
  /** The organization-wide SCP, in organization mode. */
  public readonly organizationPolicy?: organizations.CfnPolicy;
  private statement?: iam.PolicyStatement;
  private spokeStatement?: iam.PolicyStatement;
  private readonly spokeRole: string;
  private readonly roleNames: string[] = [];
  private readonly spokeAccounts = new Set<string>();

  constructor(scope: Construct, id: string, props: TvmEnforcerProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    // A fixed name: a spoke in another account names it in its enforcement role's trust without a reference.
    this.role = new iam.Role(this, 'Role', {
      roleName: enforcerRoleName(props.tvmName, region),
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
    // The lease, and nothing else of the control table: the configuration stays out of the enforcer's reach.
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: LEASE_ACTIONS,
      resources: [props.controlTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [ENFORCER_LEASE_ITEM_ID] } },
    }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: CLEANUP_ITEM_ACTIONS,
      resources: [props.controlTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [REVOCATION_CLEANUP_ITEM_ID] } },
    }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: STACK_ACTIONS, resources: [Aws.STACK_ID] }));
    // Roles under this TVM's path stay writable after they leave the configuration (a replaced ProtectedRole's
    // sessions may still hold live credentials).
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ENFORCER_ROLE_ACTIONS,
      resources: [props.protectedRoleArnPattern],
    }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: EVENT_ACTIONS, resources: [eventBusArnOf(this, props.eventBus)] }));
    // Decrypt for the stream and the reads, encrypt for the lease item.
    props.encryptionKey?.grantEncryptDecrypt(this.role);
    this.spokeRole = `${props.runtimeRolePath.slice(1)}${spokeEnforcementRoleName(props.tvmName, region)}`;
    if (props.organizationTargetIds) {
      this.organizationPolicy = new organizations.CfnPolicy(this, 'OrganizationPolicy', {
        name: organizationPolicyName(props.tvmName, region),
        type: 'SERVICE_CONTROL_POLICY',
        description: `Sentinel TVM ${props.tvmName}: denies revoked sessions' credentials; written by its enforcer`,
        // The deny-nothing placeholder: the enforcer writes the live content, and this stays the same on every synth so that
        // CloudFormation rewrites the policy only when its other properties change.
        content: JSON.parse(JSON.stringify(SPOKE_PLACEHOLDER_POLICY)),
        targetIds: props.organizationTargetIds,
      });
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ORGANIZATION_ACTIONS,
        resources: [this.organizationPolicy.attrArn],
      }));
    }
    this.function = new EnforcerFunction(this, 'Function', {
      description: 'Sentinel TVM: denies the credentials of revoked sessions on the protected roles',
      architecture: props.architecture,
      memorySize: 256,
      // Shorter than the lease (EnforcerTiming): a run never outlives its hold. No reserved concurrency: the lease
      // serializes the runs, and accounts with a low concurrency quota refuse to reserve any.
      timeout: Duration.seconds(EnforcerTiming.TIMEOUT_SECONDS),
      role: this.role,
      logGroup,
      environment: {
        [Env.TABLE_NAME]: props.table.tableName,
        [Env.CONTROL_TABLE_NAME]: props.controlTable.tableName,
        [Env.CONFIG_DIGEST]: props.configuration.digest,
        [Env.REVOKED_POLICY_NAME]: props.policyName,
        [Env.PROTECTED_ROLE_PATH]: props.protectedRolePath,
        [Env.STACK_ID]: Aws.STACK_ID,
        // Always set: the enforcer assumes it only in the accounts of roles outside its own.
        [Env.SPOKE_ROLE]: this.spokeRole,
        // Where roles under the protected path stay the enforcer's to write once their profiles left the configuration.
        [Env.SPOKE_ACCOUNTS]: Lazy.string({ produce: () => [...this.spokeAccounts].sort().join(',') }),
        ...(this.organizationPolicy ? { [Env.ORGANIZATION_POLICY_ID]: this.organizationPolicy.attrId } : {}),
        // Each deny it writes, and each it cannot, is an event.
        [Env.TVM_NAME]: props.tvmName,
        ...eventBusEnvironment(props.eventBus),
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
    const schedule = new events.Rule(this, 'Schedule', {
      description: 'Sentinel TVM: recompute the revoked-sessions deny policies',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 2 })],
    });
    new iam.Policy(this, 'OnlyFromFunction', {
      roles: [this.role],
      statements: [onlyFromFunction(this.function.functionArn, [...ENFORCER_ROLE_ACTIONS, ...LEASE_ACTIONS, ...STACK_ACTIONS,
        ...SPOKE_ACTIONS, ...EVENT_ACTIONS, ...(this.organizationPolicy ? ORGANIZATION_ACTIONS : [])])],
    });
    this.cleanup = new CustomResource(this, 'Cleanup', {
      serviceToken: this.function.functionArn,
      resourceType: REVOCATION_CLEANUP_RESOURCE_TYPE,
      properties: {
        RoleNames: Lazy.list({ produce: () => this.distinctRoleNames() }),
        PolicyName: props.policyName,
      },
    });
    // CloudFormation deletes dependents first: on a stack deletion the triggers go, then the cleanup runs, then the
    // roles (which the cleanup references) and the function go. Nothing is left to start a run after the cleanup.
    const mappings = this.function.node.children.filter((c): c is lambda.EventSourceMapping => c instanceof lambda.EventSourceMapping);
    for (const trigger of [...mappings, schedule]) trigger.node.addDependency(this.cleanup);
  }

  /**
   * A role on which the enforcer writes the policy: the cleanup deletes it from the role before CloudFormation deletes
   * the role. Only a role the app owns (an `iam.Role`, a `ProtectedRole`, in any stack of this account) is listed: an
   * imported role is deleted by no stack here, and stripping its deny would let revoked credentials work there again
   * (nobody writes it back once the enforcer is gone). A role of another account is left out: the enforcer cannot
   * write there either.
   */
  public addRole(role: iam.IRole): void {
    if (!iam.Role.isRole(role)) return;
    const account = Stack.of(this).account;
    if (!Token.isUnresolved(role.env.account) && !Token.isUnresolved(account) && role.env.account !== account) return;
    this.roleNames.push(role.roleName);
  }

  /** The enforcer may read, write and delete role policies on this role (the TVM's path is granted already). */
  public grantEnforce(roleArn: string): void {
    if (!this.statement || this.statement.resources.length >= ROLE_ARNS_PER_STATEMENT) {
      this.statement = new iam.PolicyStatement({ actions: ENFORCER_ROLE_ACTIONS });
      this.role.addToPrincipalPolicy(this.statement);
    }
    if (!this.statement.resources.includes(roleArn)) this.statement.addResources(roleArn);
  }

  /**
   * The enforcer may assume the enforcement role of the spoke in `account` (created with the first spoke: no statement, and
   * no empty Resource list, without spokes). One statement per 25 accounts, so that CDK can spread many spokes over
   * managed policies (one statement cannot be split, and 100 ARNs are over a managed policy's 6,144 characters).
   */
  public addSpokeAccount(account: string): void {
    if (this.spokeAccounts.has(account)) return;
    this.spokeAccounts.add(account);
    const arn = Stack.of(this).formatArn({ service: 'iam', region: '', account, resource: 'role', resourceName: this.spokeRole });
    if (!this.spokeStatement || this.spokeStatement.resources.length >= ROLE_ARNS_PER_STATEMENT) {
      this.spokeStatement = new iam.PolicyStatement({ actions: SPOKE_ACTIONS });
      this.role.addToPrincipalPolicy(this.spokeStatement);
    }
    this.spokeStatement.addResources(arn);
  }

  /** The roles' names, each once: two tokens may name the same role, so they are compared resolved. */
  private distinctRoleNames(): string[] {
    const seen = new Map<string, string>();
    for (const name of this.roleNames) {
      const key = JSON.stringify(Stack.of(this).resolve(name));
      if (!seen.has(key)) seen.set(key, name);
    }
    return [...seen.values()];
  }
}
