import { Annotations, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { isSpokeRoleUnderConstruction, selfConfinement } from './private/imported-tvm';
import { trustStatements, TvmTrustPrincipal, tvmAccountOf } from './private/trust';
import { SentinelTvm } from './sentinel-tvm';
import { ISentinelTvm } from './tvm-reference';

/**
 * Properties of a `ProtectedRole`.
 */
export interface ProtectedRoleProps {
  /**
   * The TVM that vends this role: the only principal its trust policy allows. A TVM of this app, or one imported with
   * `SentinelTvm.fromSentinelTvmAttributes`.
   */
  readonly tvm: ISentinelTvm;

  /**
   * Name of the role. A fixed name lets other stacks and accounts write the role's ARN literally; the stack then
   * needs `CAPABILITY_NAMED_IAM` (the CDK CLI passes it).
   *
   * @default - a name CloudFormation generates
   */
  readonly roleName?: string;

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
   * @default - the TVM's `protectedRolePath`, `/sentinel-tvm/<tvmName>/`
   */
  readonly path?: string;
}

/**
 * A protected role: a role only its TVM can assume.
 */
export interface IProtectedRole extends iam.IRole {
  /** The TVM this role trusts. */
  readonly tvm: ISentinelTvm;
}

/**
 * An IAM role that only a `SentinelTvm` can assume, and only with a session tag and a `sentinel.` SourceIdentity: no
 * credential for it exists without a session record.
 *
 * Its trust policy has one statement for each of `sts:AssumeRole`, `sts:TagSession` and `sts:SetSourceIdentity`,
 * because IAM evaluates only the condition keys that belong to each action. Synth fails if anything else is added to it,
 * or if its path is changed after construction (e.g. by a property injector).
 *
 * It is an `iam.Role`: the inherited `ProtectedRole.fromRoleArn`, `fromRoleName` and `fromLookup` return plain roles;
 * use `fromProtectedRoleArn` for a protected role defined elsewhere. There is no `maxSessionDuration`: the TVM's
 * credentials are role chaining, which STS caps at one hour.
 */
export class ProtectedRole extends iam.Role implements IProtectedRole {
  /**
   * A protected role defined in another stack, app or account: `addProfile` trusts it as it is, without the warning an
   * imported role gets.
   */
  public static fromProtectedRoleArn(scope: Construct, id: string, roleArn: string, tvm: ISentinelTvm): IProtectedRole {
    const role = iam.Role.fromRoleArn(scope, id, roleArn, { mutable: false });
    Object.defineProperty(role, 'tvm', { value: tvm, enumerable: true });
    return role as IProtectedRole;
  }

  /** A protected role of this account named by its name (and path, if any: `path/name`). */
  public static fromProtectedRoleName(scope: Construct, id: string, roleName: string, tvm: ISentinelTvm): IProtectedRole {
    const arn = Stack.of(scope).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: roleName });
    return ProtectedRole.fromProtectedRoleArn(scope, id, arn, tvm);
  }

  /** Whether `x` is a `ProtectedRole` (of any copy of this library). */
  public static isProtectedRole(x: unknown): x is ProtectedRole {
    return x !== null && typeof x === 'object' && PROTECTED_ROLE_SYMBOL in (x as object);
  }

  /** The TVM this role trusts. */
  public readonly tvm: ISentinelTvm;
  /** The IAM path of the role. */
  public readonly path: string;

  constructor(scope: Construct, id: string, props: ProtectedRoleProps) {
    if (!props?.tvm) {
      throw new Error(`ProtectedRole ${id}: tvm is required`);
    }
    const path = props.path ?? props.tvm.protectedRolePath;
    // Read before super(): a spoke's role is confined by the spoke's managed policy, which its enforcement role cannot change.
    const confinedBySpoke = isSpokeRoleUnderConstruction(scope, id);
    const account = tvmAccountOf(props.tvm.executionRoleArn, Stack.of(props.tvm).account);
    super(scope, id, {
      assumedBy: new TvmTrustPrincipal(props.tvm.executionRoleArn, account),
      roleName: props.roleName,
      description: props.description,
      managedPolicies: props.managedPolicies,
      inlinePolicies: props.inlinePolicies,
      permissionsBoundary: props.permissionsBoundary,
      path,
    });
    Object.defineProperty(this, PROTECTED_ROLE_SYMBOL, { value: true });
    this.tvm = props.tvm;
    this.path = path;

    // An environment-agnostic TVM stack: `${AWS::AccountId}` in the execution role's ARN resolves in this role's stack.
    const tvmStack = Stack.of(props.tvm);
    if (Token.isUnresolved(props.tvm.executionRoleArn) && tvmStack !== Stack.of(this) && Token.isUnresolved(tvmStack.account)) {
      Annotations.of(this).addWarningV2('cdk-sentinel-tvm:tvmAccountUnknown',
        `ProtectedRole ${this.node.path}: the stack of its TVM ${props.tvm.node.path} has no account (environment-agnostic), so the `
        + 'execution role ARN its trust names takes the account of this role\'s stack: deploy both stacks to the same account, or '
        + 'give the stacks an env');
    }
    // A TVM of another app, or of another account, cannot attach its confinement policies to this role: the role confines
    // itself (it may not call the TVM, nor assume any role: a revoked credential cannot escape into a role without the deny).
    const ownAccount = Stack.of(this).account;
    const otherAccount = !Token.isUnresolved(tvmStack.account) && !Token.isUnresolved(ownAccount) && tvmStack.account !== ownAccount;
    if (!confinedBySpoke && (!SentinelTvm.isSentinelTvm(props.tvm) || otherAccount)) {
      selfConfinement(this, props.tvm, account, SentinelTvm.isSentinelTvm(props.tvm)).forEach((st) => this.addToPrincipalPolicy(st));
    }

    // The invariant: the trust policy is exactly the TVM's statements, and the path is the one the TVM's policies cover.
    // Checked at synth, after anything (user code, property injectors) could have changed the role.
    const ours = trustStatements(props.tvm.executionRoleArn, account).map((st) => st.sid);
    this.node.addValidation({
      validate: () => {
        const errors: string[] = [];
        const statements = (Stack.of(this).resolve(this.assumeRolePolicy?.toJSON()) as { Statement?: Array<{ Sid?: string }> })
          ?.Statement ?? [];
        const foreign = statements.filter((st) => !ours.includes(st.Sid));
        if (foreign.length > 0) {
          errors.push(`ProtectedRole ${this.node.path}: its trust policy has ${foreign.length} statement(s) not added by the TVM `
            + `(Sid ${foreign.map((st) => st.Sid ?? '<none>').join(', ')}): a protected role trusts only its TVM; use iam.Role for a role `
            + 'others may assume');
        }
        const cfnPath = (this.node.defaultChild as iam.CfnRole).path;
        if (cfnPath !== undefined && !Token.isUnresolved(cfnPath) && cfnPath !== path) {
          errors.push(`ProtectedRole ${this.node.path}: its path was changed to ${cfnPath} after construction (e.g. by a property `
            + `injector), but its TVM's policies cover ${path}: set the path with the path prop`);
        }
        return errors;
      },
    });
  }
}

const PROTECTED_ROLE_SYMBOL = Symbol.for('cdk-sentinel-tvm.ProtectedRole');

