// The revocation enforcer's building block alone (src/private/enforcer.ts) in a stack of its own: its template for the
// construct tests, and its tables and environment for the runtime tests, without the rest of SentinelTvm.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { TvmEnforcer } from '../../src/private/enforcer';
import { Attr, Indexes, revokedSessionsPolicyName } from '../../src/shared/contract';

export const ACCOUNT = '111122223333';
export const REGION = 'us-east-1';
export const TVM_NAME = 'EnforcerTest';
export const POLICY_NAME = revokedSessionsPolicyName(TVM_NAME, REGION);
export const PROTECTED_ROLE_PATH = `/sentinel-tvm/${TVM_NAME}/`;
/** A role of the account that the app does not own. */
export const IMPORTED_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/team/ExternallyManaged`;
/** A role of another account: the enforcer cannot write there, so the cleanup leaves it out. */
export const FOREIGN_ROLE_ARN = 'arn:aws:iam::444455556666:role/ElsewhereManaged';

export interface EnforcerStack {
  readonly stack: Stack;
  readonly enforcer: TvmEnforcer;
  readonly table: dynamodb.Table;
  readonly controlTable: dynamodb.Table;
  /** A role under the TVM's path, and one outside it, both owned by the app. */
  readonly underPath: iam.Role;
  readonly owned: iam.Role;
  readonly template: any;
}

export interface EnforcerStackOptions {
  /** A customer managed key for the tables. */
  readonly encryptionKey?: boolean;
  /** Adds no role to the cleanup. */
  readonly noRoles?: boolean;
}

const outdirs: string[] = [];

/** Synthesizes the enforcer with its two tables and roles added as SentinelTvm adds them (twice, to show dedup). */
export function enforcerStack(options: EnforcerStackOptions = {}): EnforcerStack {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'tvm-enforcer-out-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:disable-creation-stack-traces': true } });
  const stack = new Stack(app, 'EnforcerStack', { env: { account: ACCOUNT, region: REGION } });
  const encryptionKey = options.encryptionKey ? new kms.Key(stack, 'Key') : undefined;
  const encryption = encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED;
  const table = new dynamodb.Table(stack, 'Table', {
    partitionKey: { name: Attr.ID, type: dynamodb.AttributeType.STRING },
    stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    encryption,
    encryptionKey,
  });
  for (const index of Indexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
    });
  }
  const controlTable = new dynamodb.Table(stack, 'ControlTable', {
    partitionKey: { name: Attr.ID, type: dynamodb.AttributeType.STRING },
    encryption,
    encryptionKey,
  });
  // The configuration building block is another's; the enforcer needs only its digest and read grant.
  const configuration = {
    digest: 'deployed-digest',
    grantRead: (grantee: iam.IGrantable) => iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem'],
      resourceArns: [controlTable.tableArn],
    }),
  };
  const enforcer = new TvmEnforcer(stack, 'Enforcer', {
    table,
    controlTable,
    configuration,
    encryptionKey,
    logRetention: logs.RetentionDays.ONE_WEEK,
    runtimeRolePath: `/sentinel-tvm-runtime/${TVM_NAME}/`,
    tvmName: TVM_NAME,
    protectedRoleArnPattern: stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${PROTECTED_ROLE_PATH.slice(1)}*` }),
    protectedRolePath: PROTECTED_ROLE_PATH,
    policyName: POLICY_NAME,
    observability: { POWERTOOLS_SERVICE_NAME: TVM_NAME },
    tracing: lambda.Tracing.DISABLED,
    architecture: lambda.Architecture.ARM_64,
  });
  const underPath = new iam.Role(stack, 'ReadOnly', { assumedBy: new iam.AccountRootPrincipal(), path: PROTECTED_ROLE_PATH });
  const owned = new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() });
  if (!options.noRoles) {
    enforcer.addRole(underPath);
    enforcer.addRole(owned);
    enforcer.addRole(iam.Role.fromRoleArn(stack, 'Imported', IMPORTED_ROLE_ARN));
    enforcer.addRole(iam.Role.fromRoleArn(stack, 'Foreign', FOREIGN_ROLE_ARN));
    // The same roles again: a chain target shared by two profiles, the same imported role twice.
    enforcer.addRole(owned);
    enforcer.addRole(iam.Role.fromRoleArn(stack, 'ImportedAgain', IMPORTED_ROLE_ARN));
    enforcer.grantEnforce(owned.roleArn);
    enforcer.grantEnforce(IMPORTED_ROLE_ARN);
  }
  const template = app.synth().getStackByName('EnforcerStack').template;
  return { stack, enforcer, table, controlTable, underPath, owned, template };
}

/** Deletes the cloud assemblies; call it in `afterAll`. */
export function removeEnforcerOutdirs(): void {
  for (const dir of outdirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** The logical id of a construct's resource. */
export function logicalId(construct: CfnElement | { node: { defaultChild?: unknown } }): string {
  const element = (construct instanceof CfnElement ? construct : construct.node.defaultChild) as CfnElement;
  return Stack.of(element).resolve(element.logicalId);
}
