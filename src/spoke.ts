import { Annotations, CfnResource, IResolveContext, Lazy, PhysicalName, Stack, Tags, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { apiRegionOf, constructSpokeRole, selfConfinement } from './private/imported-tvm';
import { addDeploymentLimitChecks, DeploymentLimits, resolvedJsonLength } from './private/limits';
import { acknowledgeNag } from './private/nag';
import { tamperForwardingRule } from './private/tamper-detection';
import { SPOKE_ROLE_SYMBOL, tvmAccountOf } from './private/trust';
import { ProtectedRole } from './protected-role';
import { SentinelTvm } from './sentinel-tvm';
import {
  activityReaderRoleName, enforcerRoleName, runtimeRolePathOf, spokeBoundaryPathOf, spokeEnforcementRoleName, SPOKE_PLACEHOLDER_POLICY, TvmTags,
} from './shared/contract';
import { ISentinelTvm } from './tvm-reference';

/**
 * Properties of a `SentinelTvmSpoke`.
 *
 * @experimental
 */
export interface SentinelTvmSpokeProps {
  /**
   * The hub: the TVM whose enforcer denies revoked sessions in this spoke's account. A `SentinelTvm` of this app in a
   * stack of another account (its stack needs an `env`), or `SentinelTvm.fromSentinelTvmAttributes` (e.g. in a StackSet).
   *
   * @experimental
   */
  readonly tvm: ISentinelTvm;

  /**
   * Who may read this account's CloudTrail event history for `sentinel-tvm sessions activity` (incident responders, e.g.
   * a role of the hub's account): the spoke creates a role named `<tvmName>-activity` under `/sentinel-tvm-runtime/<tvmName>/`
   * that they may assume, allowed `cloudtrail:LookupEvents` only (`--reader-role
   * sentinel-tvm-runtime/<tvmName>/<tvmName>-activity`).
   *
   * @default - no reader role: `sessions activity` cannot read this account
   * @experimental
   */
  readonly activityReaders?: iam.IPrincipal[];

  /**
   * Forward this account's CloudTrail events of tamper detection (writes of the deny policy by anyone but the spoke's
   * enforcement role, trust changes, AssumeRole calls of protected roles) to the hub's default event bus, where the hub's
   * tamper rules and enforcer judge them. IAM's events reach EventBridge in us-east-1 only: the spoke's stack must be in
   * us-east-1 (synth refuses another region; an environment-agnostic stack asserts it at deployment). The hub's stack
   * lets its spoke accounts put events on its default bus.
   *
   * @default false
   * @experimental
   */
  readonly forwardTamperEvents?: boolean;
}

/**
 * Properties of a protected role added with `SentinelTvmSpoke.addProtectedRole`. Its path is the hub's
 * `protectedRolePath`, and it trusts the hub's execution role only.
 *
 * @experimental
 */
export interface SpokeProtectedRoleProps {
  /**
   * Name of the role. The hub's stack names the role by its ARN: a name CloudFormation generates serves a hub of this app,
   * a fixed one lets another app (the hub of a StackSet spoke) write the ARN literally.
   *
   * @default - a name generated at synth when a hub of this app names the role, else by CloudFormation
   * @experimental
   */
  readonly roleName?: string;

  /**
   * A description of the role.
   *
   * @default - no description
   * @experimental
   */
  readonly description?: string;

  /**
   * Managed policies attached to the role. Without `permissionsBoundary`, each must be an `iam.ManagedPolicy` of this
   * stack: the boundary the spoke writes copies their statements.
   *
   * @default - none
   * @experimental
   */
  readonly managedPolicies?: iam.IManagedPolicy[];

  /**
   * Inline policies of the role.
   *
   * @default - none
   * @experimental
   */
  readonly inlinePolicies?: { [name: string]: iam.PolicyDocument };

  /**
   * Permissions boundary of the role: the most any policy on it can allow, including one written with a stolen credential
   * of the spoke's enforcement role (which may write and delete inline policies on roles with this boundary). Keep it as
   * narrow as the role's own grants: ideally one of the role's managed policies (synth warns otherwise). Such a credential
   * can also delete the role's inline policies, their Deny statements included: with this property, put denies in managed
   * policies (the spoke's own confinement is one, so it holds).
   *
   * @default - a managed policy the spoke writes under `/sentinel-tvm-boundary/<tvmName>/`, whose statements are the Allow
   * and Deny statements of the role's grants at synth (inline policies, `iam.Policy`s attached to it, `iam.ManagedPolicy`s
   * of this stack, the spoke's confinement), grants added after `addProtectedRole` included: a Deny in a boundary denies,
   * so no inline policy written or deleted on the role lifts one
   * @experimental
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;
}

/** A protected role of the spoke and what it needs checked at synth. */
interface SpokeRole {
  readonly id: string;
  readonly role: ProtectedRole;
  /** The boundary the spoke writes, absent when the user gave one. */
  readonly boundary?: iam.CfnManagedPolicy;
  /** The boundary's ARN, which the role must keep. */
  readonly boundaryArn: string;
  /** The role's name when the user gave it literally (another stack may name the role by it). */
  readonly literalName?: string;
}

/** A policy resource of another stack, and the roles it names, resolved in its stack. */
interface RolePolicyElsewhere {
  readonly policy: CfnResource;
  readonly roles: unknown[];
}

/** Statement of the boundary of a role without any Allow: its sessions may do nothing. */
const NO_GRANTS = { Sid: 'SentinelTvmNoGrants', Effect: 'Deny', Action: '*', Resource: '*' };
/** What the enforcement role may read on the protected roles: the deny policy, and the others' sizes. */
const READ_ACTIONS = ['iam:GetRolePolicy', 'iam:ListRolePolicies'];
/** What it may write, on bounded protected roles only: the deny policy (IAM has no condition on a policy's name). */
const WRITE_ACTIONS = ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'];

/**
 * The part of a Sentinel TVM that lives in each workload account (account B) whose roles a TVM of another account (the
 * hub, account A) vends: the protected roles of that account, and an enforcement role that only the hub's enforcer may
 * assume, to write the revoked-sessions deny on them.
 *
 * Its template is self-contained (no assets, no custom resources, no lookups, no reference to the hub's stack), so it can
 * be deployed as a CloudFormation StackSet, environment-agnostic, with the hub from `SentinelTvm.fromSentinelTvmAttributes`
 * and the spoke accounts listed in the hub's `spokeAccounts`.
 *
 * The enforcement role may only read, write and delete inline policies of roles under the hub's protected-role path that
 * carry one of the spoke's permissions boundaries, which it cannot change: IAM cannot restrict `PutRolePolicy` to a policy
 * name or content, so a stolen enforcement credential could write an Allow, and the boundary caps what it can add.
 *
 * @experimental
 */
export class SentinelTvmSpoke extends Construct {
  /**
   * Whether `x` is a `SentinelTvmSpoke` (of any copy of this library).
   *
   * @experimental
   */
  public static isSentinelTvmSpoke(x: unknown): x is SentinelTvmSpoke {
    return x !== null && typeof x === 'object' && SPOKE_SYMBOL in (x as object);
  }

  /**
   * ARN of the enforcement role (`/sentinel-tvm-runtime/<tvmName>/<tvmName>-spoke-<hub region>`), which the hub's
   * enforcer assumes.
   *
   * @experimental
   */
  public readonly enforcementRoleArn: string;
  /**
   * The role `sentinel-tvm sessions activity --reader-role` assumes to read this account's CloudTrail.
   *
   * @default - none, without `activityReaders`
   * @experimental
   */
  public readonly activityReaderRoleArn?: string;

  private readonly tvm: ISentinelTvm;
  private readonly hubAccount: string;
  private readonly enforcementRole: iam.Role;
  private readonly roles: SpokeRole[] = [];
  /** The denies every role of this spoke carries, created with the first role. */
  private confinement?: iam.ManagedPolicy;

  /** Boundaries the user gave, which the enforcement role's writes accept too. */
  private readonly userBoundaryArns = new Set<string>();

  constructor(scope: Construct, id: string, props: SentinelTvmSpokeProps) {
    super(scope, id);
    Object.defineProperty(this, SPOKE_SYMBOL, { value: true });
    if (!props?.tvm) {
      throw new Error(`SentinelTvmSpoke ${this.node.path}: tvm is required (the hub TVM: a SentinelTvm of this app, or `
        + 'SentinelTvm.fromSentinelTvmAttributes)');
    }
    const tvm = props.tvm;
    this.tvm = tvm;
    const stack = Stack.of(this);
    const tvmStack = Stack.of(tvm);
    // Literal values only: a token of the hub's stack would be a reference to another account's stack.
    const hubAccount = tvmAccountOf(tvm.executionRoleArn, tvmStack.account);
    const hubRegion = apiRegionOf(tvm.url) ?? tvmStack.region;
    this.hubAccount = hubAccount;
    const fix = 'give the hub\'s stack an env (account and region), or name the hub with SentinelTvm.fromSentinelTvmAttributes';
    if (Token.isUnresolved(hubAccount)) {
      throw new Error(`SentinelTvmSpoke ${this.node.path}: tvm ${tvm.node.path} has no account known at synth, which the spoke `
        + `names in its enforcement role's trust: ${fix} (with a literal executionRoleArn)`);
    }
    if (Token.isUnresolved(hubRegion) && tvmStack !== stack) {
      throw new Error(`SentinelTvmSpoke ${this.node.path}: tvm ${tvm.node.path} has no Region known at synth, which names its `
        + `enforcer role: ${fix} (with a literal url)`);
    }
    if (!Token.isUnresolved(stack.account) && stack.account === hubAccount) {
      throw new Error(`SentinelTvmSpoke ${this.node.path}: tvm ${tvm.node.path} is in this spoke's account ${hubAccount}, where its `
        + 'enforcer writes the denies itself: a spoke is for another account; use a ProtectedRole here');
    }

    const tvmName = tvm.tvmName;
    const runtimePath = runtimeRolePathOf(tvmName);
    const enforcerArn = stack.formatArn({
      service: 'iam',
      region: '',
      account: hubAccount,
      resource: 'role',
      resourceName: `${runtimePath.slice(1)}${enforcerRoleName(tvmName, hubRegion)}`,
    });
    const roleName = spokeEnforcementRoleName(tvmName, hubRegion);
    // The enforcement role's name is fixed: one spoke per hub and account.
    if (!Token.isUnresolved(stack.account)) {
      const spokes = spokesOf(this);
      const key = `${stack.account}/${runtimePath}${roleName}`;
      const other = spokes.get(key);
      if (other) {
        throw new Error(`SentinelTvmSpoke ${this.node.path}: account ${stack.account} already has a spoke of the TVM ${tvmName}, `
          + `${other.node.path}, whose enforcement role has the same fixed name: add the roles to that spoke`);
      }
      spokes.set(key, this);
    }
    const protectedRoles = stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${tvm.protectedRolePath.slice(1)}*` });
    const spokeBoundaries = stack.formatArn({
      service: 'iam', region: '', resource: 'policy', resourceName: `${spokeBoundaryPathOf(tvmName).slice(1)}*`,
    });
    this.enforcementRole = new iam.Role(this, 'EnforcementRole', {
      roleName,
      path: runtimePath,
      // The hub's account, on condition that the caller is its enforcer role (as a ProtectedRole trusts the execution role:
      // IAM does not require the role to exist, and a re-created enforcer role is trusted again).
      assumedBy: new iam.AccountPrincipal(hubAccount).withConditions({ ArnEquals: { 'aws:PrincipalArn': enforcerArn } }),
      description: `Sentinel TVM ${tvmName}: the hub's enforcer writes the revoked-sessions deny on this account's protected roles`,
      inlinePolicies: {
        RevokedSessionsDeny: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'ReadProtectedRolePolicies', actions: READ_ACTIONS, resources: [protectedRoles] }),
            new iam.PolicyStatement({
              sid: 'WriteBoundedProtectedRolePolicies',
              actions: WRITE_ACTIONS,
              resources: [protectedRoles],
              conditions: {
                StringLike: { 'iam:PermissionsBoundary': Lazy.list({ produce: () => [spokeBoundaries, ...this.userBoundaryArns] }) },
              },
            }),
          ],
        }),
      },
    });
    this.enforcementRoleArn = stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: `${runtimePath.slice(1)}${roleName}` });
    if (props.forwardTamperEvents) {
      tamperForwardingRule(this, 'TamperForwarding', {
        what: `SentinelTvmSpoke ${this.node.path}: forwardTamperEvents`,
        policyName: tvm.revokedSessionsPolicyName,
        protectedRolePath: tvm.protectedRolePath,
        tvmRegion: hubRegion,
        tvmAccount: hubAccount,
        exceptRoleId: this.enforcementRole.roleId,
      });
    }
    if (props.activityReaders !== undefined) {
      if (props.activityReaders.length === 0) {
        throw new Error(`SentinelTvmSpoke ${this.node.path}: activityReaders is empty: name who may read this account's CloudTrail, or leave it out`);
      }
      const reader = new iam.Role(this, 'ActivityReaderRole', {
        roleName: activityReaderRoleName(tvmName),
        path: runtimePath,
        assumedBy: new iam.CompositePrincipal(...props.activityReaders),
        description: `Sentinel TVM ${tvmName}: reads this account's CloudTrail event history for sentinel-tvm sessions activity`,
        inlinePolicies: {
          LookupEvents: new iam.PolicyDocument({
            // LookupEvents has no resource-level permission.
            statements: [new iam.PolicyStatement({ sid: 'LookupEvents', actions: ['cloudtrail:LookupEvents'], resources: ['*'] })],
          }),
        },
      });
      this.activityReaderRoleArn = reader.roleArn;
      acknowledgeNag(reader, [{
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'cloudtrail:LookupEvents supports no resource-level permission: its Resource must be *. The role may do nothing else.',
      }]);
    }

    // A hub of this app learns of its spoke's account (a StackSet's accounts are listed in the hub's spokeAccounts).
    if (SentinelTvm.isSentinelTvm(tvm) && !Token.isUnresolved(stack.account)) tvm.addSpokeAccount(stack.account);

    Tags.of(this).add(TvmTags.SERVICE, tvmName);
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    acknowledgeNag(this.enforcementRole, [{
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${account}:role${tvm.protectedRolePath}*]`,
      reason: 'The wildcard is the TVM\'s protected-role path in this account; the writes are further limited to roles carrying one of the '
        + 'spoke\'s permissions boundaries, which cap what any policy written on them can allow.',
    }]);
    this.node.addValidation({ validate: () => this.validateRoles() });
    addDeploymentLimitChecks(this, { roles: () => [this.enforcementRole, ...this.roles.map((r) => r.role)], functions: () => [] });
  }

  /**
   * A protected role of this account for the hub TVM: it trusts only the hub's execution role (with the session tag and
   * SourceIdentity), may neither call the hub nor assume any role (the spoke's managed policy `Confinement`, which the
   * enforcement role cannot change, says so), has a permissions boundary, and declares the hub's
   * revoked-sessions policy as a deny-nothing placeholder (so that a stack deletion deletes whatever the enforcer wrote
   * before the role). Name it in a profile of the hub: `tvm.addProfile(name, { role, ... })`.
   *
   * @param id the construct id of the role
   * @param props the role's name, description, policies and permissions boundary
   * @experimental
   */
  public addProtectedRole(id: string, props: SpokeProtectedRoleProps = {}): ProtectedRole {
    const role = constructSpokeRole(this, id, () => new ProtectedRole(this, id, {
      tvm: this.tvm,
      path: this.tvm.protectedRolePath,
      roleName: props.roleName ?? PhysicalName.GENERATE_IF_NEEDED,
      description: props.description,
      managedPolicies: props.managedPolicies,
      inlinePolicies: props.inlinePolicies,
      permissionsBoundary: props.permissionsBoundary,
    }));
    Object.defineProperty(role, SPOKE_ROLE_SYMBOL, { value: true });
    // A spoke is always in another account than its hub: its roles confine themselves even when this stack's account is
    // unknown (a StackSet), which ProtectedRole cannot tell for a hub of this app. In a managed policy: the enforcement
    // role may write and delete the role's inline policies, and could otherwise lift the confinement.
    role.addManagedPolicy(this.confinementPolicy());
    let boundary: iam.CfnManagedPolicy | undefined;
    let boundaryArn: string;
    if (props.permissionsBoundary) {
      boundaryArn = props.permissionsBoundary.managedPolicyArn;
      this.userBoundaryArns.add(boundaryArn);
    } else {
      // The document is rendered at synth, so that grants added to the role after this call are in it.
      boundary = new iam.CfnManagedPolicy(role, 'Boundary', {
        path: spokeBoundaryPathOf(this.tvm.tvmName),
        description: `Sentinel TVM ${this.tvm.tvmName}: permissions boundary of a protected role (its own grants and denies at synth)`,
        policyDocument: Lazy.uncachedAny({
          produce: (context: IResolveContext) => boundaryDocument(grantsOf(role, this.tvm.revokedSessionsPolicyName, (v) => context.resolve(v))),
        }),
      });
      boundaryArn = boundary.ref;
      (role.node.defaultChild as iam.CfnRole).permissionsBoundary = boundaryArn;
      (role as { permissionsBoundary?: iam.IManagedPolicy }).permissionsBoundary =
        iam.ManagedPolicy.fromManagedPolicyArn(role, 'BoundaryArn', boundaryArn);
    }
    // Declared in the template, so that CloudFormation deletes the policy (whatever the enforcer wrote into it) before the
    // role: IAM refuses to delete a role with inline policies, and the spoke has no custom resource to do it.
    new iam.CfnRolePolicy(role, 'RevokedSessionsPolicy', {
      roleName: role.roleName,
      policyName: this.tvm.revokedSessionsPolicyName,
      policyDocument: JSON.parse(JSON.stringify(SPOKE_PLACEHOLDER_POLICY)),
    });
    const literalName = props.roleName !== undefined && !Token.isUnresolved(props.roleName) ? props.roleName : undefined;
    this.roles.push({ id, role, boundary, boundaryArn, literalName });
    return role;
  }

  /** The spoke's confinement: its roles may not call the hub, nor assume any role (a revoked credential must not escape). */
  private confinementPolicy(): iam.ManagedPolicy {
    this.confinement ??= new iam.ManagedPolicy(this, 'Confinement', {
      description: `Sentinel TVM ${this.tvm.tvmName}: the spoke's protected roles may not call the hub TVM, nor assume any role`,
      statements: selfConfinement(this, this.tvm, this.hubAccount, SentinelTvm.isSentinelTvm(this.tvm)),
    });
    return this.confinement;
  }

  private validateRoles(): string[] {
    const stack = Stack.of(this);
    const resolve = (v: unknown) => stack.resolve(v);
    const errors: string[] = [];
    const grantsElsewhere = this.rolePoliciesOfOtherStacks();
    for (const { id, role, boundary, boundaryArn, literalName } of this.roles) {
      const prop = `SentinelTvmSpoke ${this.node.path}: addProtectedRole(${JSON.stringify(id)})`;
      const actual = resolve((role.node.defaultChild as iam.CfnRole).permissionsBoundary);
      if (JSON.stringify(actual) !== JSON.stringify(resolve(boundaryArn))) {
        errors.push(`${prop}: the role's permissions boundary was changed after addProtectedRole (e.g. by PermissionsBoundary.of or a `
          + 'property injector): the spoke\'s enforcement role writes only roles with the boundary it knows; set it with permissionsBoundary');
      }
      if (!boundary) {
        this.warnIfBoundaryIsNotAGrant(prop, role, boundaryArn);
        continue;
      }
      this.warnOfGrantsInOtherStacks(prop, role, literalName, grantsElsewhere);
      const grants = grantsOf(role, this.tvm.revokedSessionsPolicyName, resolve);
      for (const arn of grants.foreignManagedPolicies) {
        errors.push(`${prop}: managed policy ${describeArn(arn)} is not an iam.ManagedPolicy of this stack (AWS managed, imported, or `
          + 'of another stack): the permissions boundary the spoke writes copies the role\'s grants and cannot read it. Give '
          + 'permissionsBoundary (a policy allowing at most what the role may do), or use an iam.ManagedPolicy of this stack');
      }
      const document = boundaryDocument(grants);
      const roleId = resolve((role.node.defaultChild as iam.CfnRole).logicalId);
      if (JSON.stringify(document).includes(`"${roleId}"`)) {
        errors.push(`${prop}: a grant of the role names the role itself, which its permissions boundary cannot (CloudFormation would `
          + 'find a circular dependency): give permissionsBoundary');
      }
      const chars = resolvedJsonLength(document);
      if (chars > DeploymentLimits.MANAGED_POLICY_CHARS) {
        errors.push(`${prop}: the permissions boundary copying the role's grants is about ${chars} characters (resolved, without `
          + `whitespace), over IAM's ${DeploymentLimits.MANAGED_POLICY_CHARS} for a managed policy: give permissionsBoundary, or `
          + 'merge the role\'s statements');
      }
    }
    return errors;
  }

  /**
   * A boundary the user gave that is not one of the role's managed policies may allow more than the role's grants: a
   * stolen enforcement credential may write an inline Allow up to it.
   */
  private warnIfBoundaryIsNotAGrant(prop: string, role: ProtectedRole, boundaryArn: string): void {
    const stack = Stack.of(this);
    const arn = JSON.stringify(stack.resolve(boundaryArn));
    if (managedPolicyArnsOf(role, (v) => stack.resolve(v)).includes(arn)) return;
    Annotations.of(role).addWarningV2('cdk-sentinel-tvm:spokeBoundaryWiderThanGrants',
      `${prop}: its permissionsBoundary ${describeArn(stack.resolve(boundaryArn))} is not one of the role's managed policies, so it may `
      + 'allow more than the role\'s grants: a stolen credential of the spoke\'s enforcement role may write an inline Allow on the role up '
      + 'to that boundary, and delete its inline denies. Use one of the role\'s managed policies as the boundary, or leave '
      + 'permissionsBoundary unset (the spoke writes one from the role\'s grants); put denies in managed policies');
  }

  /** The policies of the app's other stacks of this spoke's account, with the roles they name (resolved in their stack). */
  private rolePoliciesOfOtherStacks(): RolePolicyElsewhere[] {
    const home = Stack.of(this);
    if (Token.isUnresolved(home.account)) return [];
    const found: RolePolicyElsewhere[] = [];
    for (const c of this.node.root.node.findAll()) {
      if (!CfnResource.isCfnResource(c)) continue;
      const stack = Stack.of(c);
      if (stack === home || stack.account !== home.account) continue;
      const roles = c.cfnResourceType === 'AWS::IAM::RolePolicy' ? [(c as iam.CfnRolePolicy).roleName]
        : ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(c.cfnResourceType) ? (c as iam.CfnPolicy).roles : undefined;
      if (roles !== undefined) found.push({ policy: c, roles: asArray(stack.resolve(roles)) });
    }
    return found;
  }

  /**
   * A policy of another stack of this account that grants the role: the boundary the spoke writes copies the grants of the
   * role's own stack only, so that grant does not take effect. Roles are matched by literal name, or by the export of the
   * role's name (a cross-stack reference).
   */
  private warnOfGrantsInOtherStacks(prop: string, role: ProtectedRole, literalName: string | undefined,
    policies: RolePolicyElsewhere[]): void {
    const roleId = Stack.of(this).resolve((role.node.defaultChild as iam.CfnRole).logicalId);
    const namesRole = (entry: unknown) => (literalName !== undefined && entry === literalName)
      || JSON.stringify((entry as { 'Fn::ImportValue'?: unknown })?.['Fn::ImportValue'] ?? '').includes(`ExportsOutputRef${roleId}`);
    for (const { policy, roles } of policies) {
      if (!roles.some(namesRole)) continue;
      Annotations.of(role).addWarningV2('cdk-sentinel-tvm:spokeGrantOutsideBoundary',
        `${prop}: ${policy.node.path} (${policy.cfnResourceType}, in stack ${Stack.of(policy).node.path}) grants the role, but the `
        + 'permissions boundary the spoke writes copies only the grants of the role\'s own stack: that grant does not take effect. '
        + 'Grant it in the role\'s stack, or give permissionsBoundary');
    }
  }
}

const SPOKE_SYMBOL = Symbol.for('cdk-sentinel-tvm.SentinelTvmSpoke');
const SPOKES = new WeakMap<IConstruct, Map<string, SentinelTvmSpoke>>();

/** The spokes of an app with a known account, by account and enforcement role. */
function spokesOf(spoke: SentinelTvmSpoke): Map<string, SentinelTvmSpoke> {
  let spokes = SPOKES.get(spoke.node.root);
  if (!spokes) {
    spokes = new Map();
    SPOKES.set(spoke.node.root, spokes);
  }
  return spokes;
}

/** A role's grants as its template declares them: its statements, and the managed policies whose content is unknown. */
interface Grants {
  readonly allows: Array<Record<string, unknown>>;
  readonly denies: Array<Record<string, unknown>>;
  readonly foreignManagedPolicies: unknown[];
}

/**
 * The grants of a role of the stack, resolved: its inline policies, the `AWS::IAM::Policy`, `AWS::IAM::RolePolicy` and
 * `AWS::IAM::ManagedPolicy` resources of its stack that name it, and the managed policies of its stack it lists. A
 * managed policy it lists that the stack does not define (AWS managed, imported) is returned apart. The revoked-sessions
 * policy (`revokedPolicyName`: the placeholder, then what the enforcer writes) is no grant of the role.
 */
function grantsOf(role: iam.Role, revokedPolicyName: string, resolve: (value: unknown) => any): Grants {
  const stack = Stack.of(role);
  const cfnRole = role.node.defaultChild as iam.CfnRole;
  const self = JSON.stringify(resolve(role.roleName));
  const namesRole = (value: unknown) => asArray(resolve(value)).some((r) => JSON.stringify(r) === self);
  const documents: unknown[] = asArray(resolve(cfnRole.policies)).filter((p) => p?.policyName !== revokedPolicyName).map((p) => p?.policyDocument);
  const listed = asArray(resolve(cfnRole.managedPolicyArns)).map((a) => JSON.stringify(a));
  const found = new Set<string>();
  for (const c of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(c) || Stack.of(c) !== stack) continue;
    if (c.cfnResourceType === 'AWS::IAM::Policy' && namesRole((c as iam.CfnPolicy).roles)) {
      documents.push(resolve((c as iam.CfnPolicy).policyDocument));
    } else if (c.cfnResourceType === 'AWS::IAM::RolePolicy' && namesRole([(c as iam.CfnRolePolicy).roleName])) {
      if (resolve((c as iam.CfnRolePolicy).policyName) !== revokedPolicyName) documents.push(resolve((c as iam.CfnRolePolicy).policyDocument));
    } else if (c.cfnResourceType === 'AWS::IAM::ManagedPolicy') {
      const policy = c as iam.CfnManagedPolicy;
      const arn = JSON.stringify(resolve(policy.ref));
      if (listed.includes(arn) || namesRole(policy.roles)) {
        found.add(arn);
        documents.push(resolve(policy.policyDocument));
      }
    }
  }
  const seen = new Set<string>();
  const allows: Array<Record<string, unknown>> = [];
  const denies: Array<Record<string, unknown>> = [];
  for (const statement of documents.flatMap((d) => asArray((d as { Statement?: unknown })?.Statement))) {
    if (statement?.Effect !== 'Allow' && statement?.Effect !== 'Deny') continue;
    // Sids may repeat across the role's policies, and IAM wants them unique in one policy: they name nothing here.
    const { Sid: _sid, ...rest } = statement as Record<string, unknown>;
    const key = JSON.stringify(rest);
    if (seen.has(key)) continue;
    seen.add(key);
    (rest.Effect === 'Allow' ? allows : denies).push(rest);
  }
  return { allows, denies, foreignManagedPolicies: listed.filter((a) => !found.has(a)).map((a) => JSON.parse(a)) };
}

/** The managed policies attached to a role (its list, and those of its stack naming it), resolved, as JSON. */
function managedPolicyArnsOf(role: iam.Role, resolve: (value: unknown) => any): string[] {
  const stack = Stack.of(role);
  const self = JSON.stringify(resolve(role.roleName));
  const arns = asArray(resolve((role.node.defaultChild as iam.CfnRole).managedPolicyArns)).map((a) => JSON.stringify(a));
  for (const c of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(c) || Stack.of(c) !== stack || c.cfnResourceType !== 'AWS::IAM::ManagedPolicy') continue;
    const policy = c as iam.CfnManagedPolicy;
    if (asArray(resolve(policy.roles)).some((r) => JSON.stringify(r) === self)) arns.push(JSON.stringify(resolve(policy.ref)));
  }
  return arns;
}

/**
 * The boundary: the role's Allows cap what any policy written on it can add, and its Denies (a Deny in a boundary denies)
 * hold when its inline policies are rewritten or deleted. Without an Allow, one Deny of everything says it all.
 */
function boundaryDocument(grants: Grants): unknown {
  return { Version: '2012-10-17', Statement: grants.allows.length > 0 ? [...grants.allows, ...grants.denies] : [NO_GRANTS] };
}

/** An ARN as a message shows it: pseudo parameters as `<AWS::Partition>`. */
function describeArn(arn: unknown): string {
  if (typeof arn === 'string') return arn;
  const join = (arn as { 'Fn::Join'?: [string, unknown[]] })?.['Fn::Join'];
  if (!join) return JSON.stringify(arn);
  return join[1].map((part) => (typeof part === 'string' ? part : `<${(part as { Ref?: string })?.Ref ?? JSON.stringify(part)}>`)).join(join[0]);
}

function asArray(value: unknown): any[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}
