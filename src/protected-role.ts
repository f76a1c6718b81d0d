import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TvmTrustPrincipal } from './private/trust';
import { SentinelTvm } from './sentinel-tvm';

/**
 * Properties of a {@link ProtectedRole}.
 */
export interface ProtectedRoleProps {
  /** The TVM that vends this role: the only principal its trust policy allows. */
  readonly tvm: SentinelTvm;

  /**
   * A description of the role.
   *
   * @default - no description
   */
  readonly description?: string;

  /**
   * Managed policies attached to the role.
   *
   * @default - none
   */
  readonly managedPolicies?: iam.IManagedPolicy[];

  /**
   * Inline policies of the role.
   *
   * @default - none
   */
  readonly inlinePolicies?: { [name: string]: iam.PolicyDocument };

  /**
   * Permissions boundary of the role.
   *
   * @default - no permissions boundary
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;

  /**
   * Path of the role. Under the default, the TVM's policies cover the role through its path, without naming it.
   *
   * @default - the TVM's `protectedRolePath`, `/sentinel-tvm/<serviceName>/`
   */
  readonly path?: string;

  /**
   * Maximum session duration of the role. The TVM's credentials are role chaining, which STS caps
   * at one hour whatever this says.
   *
   * @default Duration.hours(1)
   */
  readonly maxSessionDuration?: Duration;
}

/**
 * An IAM role that only a {@link SentinelTvm} can assume, and only with a session tag and a
 * `sentinel.` SourceIdentity: no credential for it exists without a session record.
 *
 * Its trust policy has one statement for each of `sts:AssumeRole`, `sts:TagSession` and
 * `sts:SetSourceIdentity`, because IAM evaluates only the condition keys that belong to each action.
 */
export class ProtectedRole extends iam.Role {
  /** The TVM this role trusts. */
  public readonly tvm: SentinelTvm;
  /** The IAM path of the role. */
  public readonly path: string;

  constructor(scope: Construct, id: string, props: ProtectedRoleProps) {
    if (!props?.tvm) {
      throw new Error(`ProtectedRole ${id}: tvm is required`);
    }
    super(scope, id, {
      assumedBy: new TvmTrustPrincipal(props.tvm.executionRole.roleArn),
      description: props.description,
      managedPolicies: props.managedPolicies,
      inlinePolicies: props.inlinePolicies,
      permissionsBoundary: props.permissionsBoundary,
      path: props.path ?? props.tvm.protectedRolePath,
      maxSessionDuration: props.maxSessionDuration,
    });
    this.tvm = props.tvm;
    this.path = props.path ?? props.tvm.protectedRolePath;
  }
}
