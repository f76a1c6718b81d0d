import { CustomResource, Duration, Lazy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ConfigFunction } from './config-function';
import { onlyFromFunction } from './trust';
import { CONFIG_ITEM_ID, Env, Limits } from '../shared/contract';

/** One profile as the configuration writer takes it (CloudFormation resolves the role ARNs). */
export interface ConfigProfile {
  readonly name: string;
  readonly roleArn: string;
  readonly allowedPrincipals: string[];
  readonly maxDurationSeconds: number;
  readonly chainRoleArns: string[];
}

export interface TvmConfigurationProps {
  readonly controlTable: dynamodb.ITable;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** IAM path of the TVM's own function roles. */
  readonly runtimeRolePath: string;
  /** The administrators' patterns, read at synth. */
  readonly admins: () => string[];
}

/**
 * The deployed configuration (profiles, administrators): written at deploy time by this TVM's own custom resource,
 * which answers its SHA-256. The functions get that digest in their environment and trust no other configuration.
 */
export class TvmConfiguration extends Construct {
  /** The digest of the deployed configuration (a deploy-time value). */
  public readonly digest: string;
  /** The writer function. */
  public readonly writer: lambda.Function;

  private readonly profiles: ConfigProfile[] = [];
  private readonly controlTable: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: TvmConfigurationProps) {
    super(scope, id);
    this.controlTable = props.controlTable;
    const role = new iam.Role(this, 'WriterRole', {
      path: props.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM configuration writer: writes the deployed configuration item of its control table',
    });
    const logGroup = new logs.LogGroup(this, 'WriterLogGroup', { retention: props.logRetention });
    logGroup.grantWrite(role);
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['dynamodb:PutItem'],
      resources: [props.controlTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [CONFIG_ITEM_ID] } },
    }));
    props.encryptionKey?.grantEncryptDecrypt(role);
    this.writer = new ConfigFunction(this, 'Writer', {
      description: 'Sentinel TVM: writes the deployed configuration and answers its digest',
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(60),
      role,
      logGroup,
      environment: { [Env.CONTROL_TABLE_NAME]: props.controlTable.tableName },
    });
    new iam.Policy(this, 'WriterOnly', {
      roles: [role],
      statements: [onlyFromFunction(this.writer.functionArn, ['dynamodb:PutItem'])],
    });
    const config = new CustomResource(this, 'Resource', {
      serviceToken: this.writer.functionArn,
      resourceType: 'Custom::SentinelTvmConfig',
      properties: {
        AdminPrincipals: Lazy.list({ produce: () => props.admins() }),
        Profiles: Lazy.any({ produce: () => this.renderProfiles(props.admins()) }),
      },
    });
    this.digest = config.getAttString('Digest');
  }

  /** Adds a profile (names are checked unique by the caller). */
  public addProfile(profile: ConfigProfile): void {
    this.profiles.push(profile);
  }

  /** Read access to the configuration items, for a function that loads the configuration. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem'],
      resourceArns: [this.controlTable.tableArn],
      conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [CONFIG_ITEM_ID] } },
    });
  }

  private renderProfiles(admins: string[]): unknown[] {
    const profiles = this.profiles.map((p) => ({
      name: p.name,
      roleArn: p.roleArn,
      allowedPrincipals: p.allowedPrincipals,
      maxDurationSeconds: p.maxDurationSeconds,
      chainRoleArns: p.chainRoleArns,
    }));
    const size = JSON.stringify(Stack.of(this).resolve({ profiles, admins })).length;
    if (size > Limits.MAX_CONFIG_BYTES) {
      throw new Error(`SentinelTvm profiles take ${size} bytes, over the ${Limits.MAX_CONFIG_BYTES} bytes one configuration holds`);
    }
    return profiles;
  }
}
