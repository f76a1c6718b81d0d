import { Annotations, CfnElement, CfnResource, Stack } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, IConstruct } from 'constructs';

/**
 * AWS limits a deployment of this library can reach, checked at synth so that synth fails before CloudFormation, IAM
 * or Lambda would (deployability review e0fd653, findings 2, 3, 4, 9, 10).
 */
export const DeploymentLimits = {
  /** CloudFormation template body uploaded to S3: "1 MB"; CDK's own check and cfn-lint count it as 1,000,000 bytes. */
  TEMPLATE_BYTES: 1_000_000,
  /** CloudFormation resources per stack (hard). */
  RESOURCES_PER_STACK: 500,
  /** CloudFormation outputs per stack (hard); a cross-stack reference is an output of the referenced stack. */
  OUTPUTS_PER_STACK: 200,
  /**
   * Lambda's asynchronous payload, which a CloudFormation custom-resource request is: 256 KB. AWS raised it to 1 MB
   * in 2025, but the old limit is kept as the budget because some partitions may still enforce it.
   */
  CUSTOM_RESOURCE_REQUEST_BYTES: 262_144,
  /** Room in a custom-resource request for everything but the properties (presigned ResponseURL, StackId, ids...). */
  CUSTOM_RESOURCE_REQUEST_OVERHEAD_BYTES: 4_096,
  /** IAM role trust policy, non-whitespace characters: the default quota, which CloudFormation meets. */
  TRUST_POLICY_CHARS: 2_048,
  /** The most the trust-policy quota can be raised to. */
  TRUST_POLICY_CHARS_MAX: 4_096,
  /** Managed policies attached to one role: the default quota. */
  MANAGED_POLICIES_PER_ROLE: 10,
  /** The most the attached-managed-policy quota can be raised to. */
  MANAGED_POLICIES_PER_ROLE_MAX: 20,
  /** The aggregate of a role's inline policies, non-whitespace characters (not adjustable). */
  ROLE_INLINE_POLICY_CHARS: 10_240,
  /** One managed policy document, non-whitespace characters (not adjustable). */
  MANAGED_POLICY_CHARS: 6_144,
  /** A function's environment variables, as Lambda measures them: the JSON of the variable map (not adjustable). */
  LAMBDA_ENVIRONMENT_BYTES: 4_096,
} as const;

/**
 * Lengths that unresolved intrinsics take once CloudFormation resolves them: realistic, not worst case, so that a
 * synth-time estimate counts what AWS counts rather than the length of `{"Fn::GetAtt":[...]}`.
 */
export const ResolvedLengths = {
  /** `Fn::GetAtt`: mostly an ARN. */
  GET_ATT: 100,
  /** `Ref` of a resource or parameter: mostly a physical name. */
  REF: 64,
  /** `Ref` of a resource whose Ref is an ARN or URL (managed policy, SNS topic, SQS queue, state machine). */
  REF_ARN: 100,
  /** `Fn::ImportValue`: mostly an ARN. */
  IMPORT_VALUE: 100,
  /** Any other intrinsic. */
  OTHER: 64,
  PSEUDO: {
    'AWS::AccountId': 12,
    'AWS::Region': 14,
    'AWS::Partition': 10,
    'AWS::URLSuffix': 13,
    'AWS::StackName': 64,
    'AWS::StackId': 165,
  } as Record<string, number>,
} as const;

const REF_IS_ARN = new Set(['AWS::IAM::ManagedPolicy', 'AWS::SNS::Topic', 'AWS::SQS::Queue', 'AWS::StepFunctions::StateMachine']);

/** Custom resources of this library, whose requests are always checked. */
export const CUSTOM_RESOURCE_TYPE_PREFIX = 'Custom::SentinelTvm';

/** A synthesized CloudFormation template, intrinsics unresolved. */
export interface CfnTemplate {
  readonly Resources?: Record<string, CfnTemplateResource>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly [section: string]: unknown;
}

export interface CfnTemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
  readonly Metadata?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** Resources to check by logical id; whole-template checks and this library's custom resources come on top. */
export interface LimitTargets {
  readonly roles?: string[];
  readonly functions?: string[];
  /** Custom resources to check besides every `Custom::SentinelTvm*` one. */
  readonly customResources?: string[];
}

export interface LimitCheckOptions {
  /** How messages name the stack. @default 'the stack' */
  readonly stackLabel?: string;
  /** Indentation CDK writes the template with: 1, or undefined when the stack suppresses it. @default 1 */
  readonly indent?: number;
  /** Whole-template checks and custom-resource checks (off where another check of the same stack reports them). @default true */
  readonly stackChecks?: boolean;
  /** How messages name a resource. @default its `aws:cdk:path` metadata and logical id */
  readonly describe?: (logicalId: string) => string;
}

const NOT_A_VALUE = Symbol('AWS::NoValue');

/**
 * The value a template fragment takes once deployed, with every intrinsic replaced by a placeholder string of its
 * estimated resolved length ({@link ResolvedLengths}). `stringifyScalars` turns numbers and booleans into strings,
 * as CloudFormation does with custom-resource properties.
 */
export function estimateResolved(value: unknown, template: CfnTemplate = {}, stringifyScalars = false): unknown {
  const estimate = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(estimate).filter((x) => x !== NOT_A_VALUE);
    if (v === null || typeof v !== 'object') {
      return stringifyScalars && (typeof v === 'number' || typeof v === 'boolean') ? String(v) : v;
    }
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 1 && (entries[0][0] === 'Ref' || entries[0][0].startsWith('Fn::'))) {
      return intrinsic(entries[0][0], entries[0][1]);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) {
      const e = estimate(x);
      if (e !== NOT_A_VALUE) out[k] = e;
    }
    return out;
  };
  const text = (v: unknown): string => {
    const e = estimate(v);
    if (typeof e === 'string') return e;
    if (Array.isArray(e)) return e.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',');
    return e === NOT_A_VALUE ? '' : JSON.stringify(e);
  };
  const intrinsic = (fn: string, arg: any): unknown => {
    switch (fn) {
      case 'Ref': return ref(String(arg));
      case 'Fn::GetAtt': return placeholder(ResolvedLengths.GET_ATT);
      case 'Fn::ImportValue': return placeholder(ResolvedLengths.IMPORT_VALUE);
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown];
        const list = estimate(parts);
        return Array.isArray(list) ? list.map((p) => (typeof p === 'string' ? p : text(p))).join(separator) : text(list);
      }
      case 'Fn::Sub': return sub(arg);
      case 'Fn::If': {
        const [, whenTrue, whenFalse] = arg as [string, unknown, unknown];
        const [a, b] = [estimate(whenTrue), estimate(whenFalse)];
        return jsonLength(a) >= jsonLength(b) ? a : b;
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        if (Array.isArray(list) && typeof index !== 'object') return estimate(list[Number(index)]);
        return placeholder(ResolvedLengths.OTHER);
      }
      case 'Fn::Split': return [placeholder(ResolvedLengths.OTHER)];
      case 'Fn::GetAZs': return ['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(10)];
      case 'Fn::FindInMap': {
        const [map, top, second] = arg as unknown[];
        const found = [map, top, second].every((k) => typeof k === 'string')
          ? template.Mappings?.[map as string]?.[top as string]?.[second as string] : undefined;
        return found === undefined ? placeholder(ResolvedLengths.OTHER) : estimate(found);
      }
      case 'Fn::Base64': return placeholder(Math.ceil(Buffer.byteLength(text(arg)) / 3) * 4);
      case 'Fn::ToJsonString': return JSON.stringify(estimate(arg));
      case 'Fn::Length': return placeholder(3);
      default: return placeholder(ResolvedLengths.OTHER);
    }
  };
  const ref = (name: string): unknown => {
    if (name === 'AWS::NoValue') return NOT_A_VALUE;
    if (name in ResolvedLengths.PSEUDO) return placeholder(ResolvedLengths.PSEUDO[name]);
    if (name === 'AWS::NotificationARNs') return [];
    const type = template.Resources?.[name]?.Type;
    return placeholder(type && REF_IS_ARN.has(type) ? ResolvedLengths.REF_ARN : ResolvedLengths.REF);
  };
  const sub = (arg: unknown): string => {
    const [body, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
    return String(body).replace(/\$\{(!?)([^}]*)\}/g, (_match, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in vars) return text(vars[name]);
      if (name.startsWith('AWS::')) return text({ Ref: name });
      return name.includes('.') ? placeholder(ResolvedLengths.GET_ATT) : text({ Ref: name });
    });
  };
  const result = estimate(value);
  return result === NOT_A_VALUE ? undefined : result;
}

/** Characters of the compact JSON a fragment resolves to (how IAM counts a policy: without whitespace). */
export function resolvedJsonLength(value: unknown, template: CfnTemplate = {}): number {
  return jsonLength(estimateResolved(value, template));
}

/** The template's size in bytes as CDK writes it: JSON with `indent` (1, or undefined when the stack suppresses indentation). */
export function templateBodyBytes(template: CfnTemplate, indent?: number): number {
  return Buffer.byteLength(JSON.stringify(template, undefined, indent), 'utf8');
}

/** Every deployment-limit problem of a template; an empty list when it fits. */
export function deploymentLimitProblems(template: CfnTemplate, targets: LimitTargets, options: LimitCheckOptions = {}): string[] {
  const describe = options.describe ?? ((id: string) => describeResource(template, id));
  const problems: string[] = [];
  if (options.stackChecks ?? true) {
    problems.push(...templateSizeProblems(template, options));
    problems.push(...resourceCountProblems(template, options));
    problems.push(...outputCountProblems(template, options));
    const custom = Object.entries(template.Resources ?? {})
      .filter(([id, r]) => r.Type.startsWith(CUSTOM_RESOURCE_TYPE_PREFIX) || (targets.customResources ?? []).includes(id))
      .map(([id]) => id);
    for (const id of custom) problems.push(...customResourceRequestProblems(template, id, describe));
  }
  for (const id of unique(targets.roles ?? [])) {
    problems.push(...trustPolicyProblems(template, id, describe));
    problems.push(...managedPolicyCountProblems(template, id, describe));
    problems.push(...inlinePolicyProblems(template, id, describe));
    problems.push(...managedPolicySizeProblems(template, id, describe));
  }
  for (const id of unique(targets.functions ?? [])) problems.push(...lambdaEnvironmentProblems(template, id, describe));
  return problems;
}

export function templateSizeProblems(template: CfnTemplate, options: LimitCheckOptions = {}): string[] {
  const bytes = templateBodyBytes(template, 'indent' in options ? options.indent : 1);
  if (bytes <= DeploymentLimits.TEMPLATE_BYTES) return [];
  return [`${options.stackLabel ?? 'the stack'}: the template is ${n(bytes)} bytes, over CloudFormation's limit of `
    + `${n(DeploymentLimits.TEMPLATE_BYTES)} bytes (1 MB) for a template body. Move profiles' roles (about 3.4 KB of template `
    + 'each) or other resources to other stacks of the same account.'];
}

export function resourceCountProblems(template: CfnTemplate, options: LimitCheckOptions = {}): string[] {
  const count = Object.keys(template.Resources ?? {}).length;
  if (count <= DeploymentLimits.RESOURCES_PER_STACK) return [];
  return [`${options.stackLabel ?? 'the stack'}: the template has ${n(count)} resources, over CloudFormation's limit of `
    + `${n(DeploymentLimits.RESOURCES_PER_STACK)} resources per stack. Move profiles' roles or other resources to other stacks of `
    + 'the same account.'];
}

export function outputCountProblems(template: CfnTemplate, options: LimitCheckOptions = {}): string[] {
  const count = Object.keys(template.Outputs ?? {}).length;
  if (count <= DeploymentLimits.OUTPUTS_PER_STACK) return [];
  return [`${options.stackLabel ?? 'the stack'}: the template has ${n(count)} outputs, over CloudFormation's limit of `
    + `${n(DeploymentLimits.OUTPUTS_PER_STACK)} outputs per stack. Each role another stack's TVM uses exports its ARN and name: `
    + 'keep at most 100 profiles\' roles in one stack.'];
}

/**
 * On Update, CloudFormation sends ResourceProperties and OldResourceProperties in one asynchronous invocation, so
 * the request holds the properties twice (values as strings), plus the event's other fields.
 */
export function customResourceRequestProblems(template: CfnTemplate, logicalId: string, describe = defaultDescribe(template)): string[] {
  const resource = template.Resources?.[logicalId];
  if (!resource) return [];
  const properties = Buffer.byteLength(JSON.stringify(estimateResolved(resource.Properties ?? {}, template, true) ?? {}), 'utf8');
  const request = 2 * properties + DeploymentLimits.CUSTOM_RESOURCE_REQUEST_OVERHEAD_BYTES;
  if (request <= DeploymentLimits.CUSTOM_RESOURCE_REQUEST_BYTES) return [];
  return [`custom resource ${describe(logicalId)}: its Update request is about ${n(request)} bytes (2 x ${n(properties)} bytes of `
    + `resolved properties, old and new, + ${n(DeploymentLimits.CUSTOM_RESOURCE_REQUEST_OVERHEAD_BYTES)}), over the `
    + `${n(DeploymentLimits.CUSTOM_RESOURCE_REQUEST_BYTES)}-byte (256 KB) asynchronous Lambda payload budget: the first deploy `
    + 'could pass and the next change fail. Use fewer profiles or fewer allowed principals per profile, or split the profiles over '
    + 'several TVMs.'];
}

export function trustPolicyProblems(template: CfnTemplate, roleId: string, describe = defaultDescribe(template)): string[] {
  const document = template.Resources?.[roleId]?.Properties?.AssumeRolePolicyDocument;
  if (document === undefined) return [];
  const chars = resolvedJsonLength(document, template);
  if (chars <= DeploymentLimits.TRUST_POLICY_CHARS) return [];
  return [`role ${describe(roleId)}: its trust policy is about ${n(chars)} characters (resolved, without whitespace), over IAM's `
    + `default quota of ${n(DeploymentLimits.TRUST_POLICY_CHARS)} for a role trust policy, at which CloudFormation fails. The quota `
    + `can be raised to ${n(DeploymentLimits.TRUST_POLICY_CHARS_MAX)} (Service Quotas, "Role trust policy length") before `
    + 'deploying; otherwise trust fewer principals or statements, and do not let several TVMs trust one role.'];
}

export function managedPolicyCountProblems(template: CfnTemplate, roleId: string, describe = defaultDescribe(template)): string[] {
  const role = template.Resources?.[roleId];
  if (!role) return [];
  const listed = estimateResolved(role.Properties?.ManagedPolicyArns ?? [], template);
  const attached = managedPoliciesOf(template, roleId);
  // A ManagedPolicy both naming the role and listed by Ref in ManagedPolicyArns is attached once.
  const listedByRef = asArray(role.Properties?.ManagedPolicyArns).filter((a) => attached.includes(a?.Ref)).length;
  const count = (Array.isArray(listed) ? listed.length : 1) - listedByRef + attached.length;
  if (count <= DeploymentLimits.MANAGED_POLICIES_PER_ROLE) return [];
  return [`role ${describe(roleId)}: ${count} managed policies are attached to it (its ManagedPolicyArns and the managed policies `
    + `naming it, CDK's OverflowPolicy ones included), over IAM's default quota of ${DeploymentLimits.MANAGED_POLICIES_PER_ROLE} `
    + `per role; it can be raised to ${DeploymentLimits.MANAGED_POLICIES_PER_ROLE_MAX} at most. Use ProtectedRoles (covered by `
    + 'the TVM\'s IAM path) instead of roles named by ARN, or split the profiles over several TVMs.'];
}

/** IAM sums a role's inline policies: its `Policies` and every `AWS::IAM::Policy` naming it. */
export function inlinePolicyProblems(template: CfnTemplate, roleId: string, describe = defaultDescribe(template)): string[] {
  const role = template.Resources?.[roleId];
  if (!role) return [];
  const documents = [
    ...asArray(role.Properties?.Policies).map((p) => p?.PolicyDocument),
    ...Object.values(template.Resources ?? {})
      .filter((r) => r.Type === 'AWS::IAM::Policy' && namesRole(r.Properties?.Roles, roleId))
      .map((r) => r.Properties?.PolicyDocument),
  ].filter((d) => d !== undefined);
  const chars = documents.reduce((sum: number, d) => sum + resolvedJsonLength(d, template), 0);
  if (chars <= DeploymentLimits.ROLE_INLINE_POLICY_CHARS) return [];
  return [`role ${describe(roleId)}: its inline policies total about ${n(chars)} characters (resolved, without whitespace), over `
    + `IAM's limit of ${n(DeploymentLimits.ROLE_INLINE_POLICY_CHARS)} for the inline policies of a role. Use ProtectedRoles `
    + '(covered by the TVM\'s IAM path) instead of roles named by ARN, or move statements to managed policies.'];
}

/** The managed policies attached to a role, each against IAM's managed-policy size limit. */
export function managedPolicySizeProblems(template: CfnTemplate, roleId: string, describe = defaultDescribe(template)): string[] {
  const role = template.Resources?.[roleId];
  if (!role) return [];
  const listed = asArray(role.Properties?.ManagedPolicyArns).map((a) => a?.Ref)
    .filter((id) => typeof id === 'string' && template.Resources?.[id]?.Type === 'AWS::IAM::ManagedPolicy');
  const problems: string[] = [];
  for (const id of unique([...managedPoliciesOf(template, roleId), ...listed])) {
    const chars = resolvedJsonLength(template.Resources?.[id]?.Properties?.PolicyDocument, template);
    if (chars <= DeploymentLimits.MANAGED_POLICY_CHARS) continue;
    problems.push(`managed policy ${describe(id)} (attached to role ${describe(roleId)}): its document is about ${n(chars)} characters `
      + `(resolved, without whitespace), over IAM's limit of ${n(DeploymentLimits.MANAGED_POLICY_CHARS)} for a managed policy. `
      + 'Split its statements over more policies, or use ProtectedRoles (covered by the TVM\'s IAM path) instead of roles named by ARN.');
  }
  return problems;
}

/** Lambda measures the JSON of the variable map ("String measured: {...}" in its error), keys, values and punctuation. */
export function lambdaEnvironmentProblems(template: CfnTemplate, functionId: string, describe = defaultDescribe(template)): string[] {
  const variables = template.Resources?.[functionId]?.Properties?.Environment?.Variables;
  if (variables === undefined) return [];
  const bytes = Buffer.byteLength(JSON.stringify(estimateResolved(variables, template, true) ?? {}), 'utf8');
  if (bytes <= DeploymentLimits.LAMBDA_ENVIRONMENT_BYTES) return [];
  return [`function ${describe(functionId)}: its environment variables take about ${n(bytes)} bytes (resolved), over Lambda's `
    + `limit of ${n(DeploymentLimits.LAMBDA_ENVIRONMENT_BYTES)} bytes (4 KB) for a function's environment. Shorten the variables, `
    + 'or move large values out of the environment (e.g. into SSM Parameter Store or the control table).'];
}

/** The logical ids of the `AWS::IAM::ManagedPolicy` resources whose `Roles` name the role. */
function managedPoliciesOf(template: CfnTemplate, roleId: string): string[] {
  return Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy' && namesRole(r.Properties?.Roles, roleId))
    .map(([id]) => id);
}

function namesRole(roles: unknown, roleId: string): boolean {
  return asArray(roles).some((r) => r?.Ref === roleId);
}

function describeResource(template: CfnTemplate, logicalId: string): string {
  const path = template.Resources?.[logicalId]?.Metadata?.['aws:cdk:path'];
  return typeof path === 'string' ? `${path} (${logicalId})` : logicalId;
}

function defaultDescribe(template: CfnTemplate): (logicalId: string) => string {
  return (id) => describeResource(template, id);
}

function placeholder(length: number): string {
  return 'x'.repeat(Math.max(0, length));
}

function jsonLength(value: unknown): number {
  return value === undefined || typeof value === 'symbol' ? 0 : JSON.stringify(value).length;
}

function asArray(value: unknown): any[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}

export interface DeploymentLimitCheckOptions {
  /** The roles whose trust, inline and managed policies to check (read at validation, after every profile is added). */
  readonly roles: () => iam.IRole[];
  /** The functions whose environment to check. */
  readonly functions: () => lambda.IFunction[];
}

/** The first scope that registered checks in each stack: it alone reports that stack's whole-template problems. */
const firstScopeOf = new WeakMap<Stack, IConstruct>();

/**
 * Fails synth (a construct validation) when a stack holding the scope, one of the roles or one of the functions would
 * exceed a deployment limit. Imported roles and functions (no CloudFormation resource) are skipped.
 */
export function addDeploymentLimitChecks(scope: Construct, options: DeploymentLimitCheckOptions): void {
  const home = Stack.of(scope);
  if (!firstScopeOf.has(home)) firstScopeOf.set(home, scope);
  scope.node.addValidation({ validate: () => validateDeploymentLimits(scope, options) });
}

function validateDeploymentLimits(scope: Construct, options: DeploymentLimitCheckOptions): string[] {
  const targets = new Map<Stack, { roles: string[]; functions: string[] }>();
  const targetsOf = (stack: Stack) => {
    if (!targets.has(stack)) targets.set(stack, { roles: [], functions: [] });
    return targets.get(stack)!;
  };
  targetsOf(Stack.of(scope));
  const add = (construct: IConstruct, type: string, into: 'roles' | 'functions') => {
    const resource = construct.node.defaultChild;
    if (!resource || !CfnResource.isCfnResource(resource) || resource.cfnResourceType !== type) return;
    const stack = Stack.of(resource);
    targetsOf(stack)[into].push(stack.resolve(resource.logicalId));
  };
  for (const role of options.roles()) add(role, 'AWS::IAM::Role', 'roles');
  for (const fn of options.functions()) add(fn, 'AWS::Lambda::Function', 'functions');

  const problems: string[] = [];
  for (const [stack, t] of targets) {
    const { supported, template } = renderStackTemplate(stack);
    if (!supported) {
      Annotations.of(scope).addWarningV2('cdk-sentinel-tvm:deploymentLimitsUnchecked', 'Deployment limits (template size, IAM '
        + 'policy sizes, Lambda environment) were not checked: this aws-cdk-lib has no Stack._toCloudFormation().');
      continue;
    }
    if (template === undefined) continue;
    const owner = firstScopeOf.get(stack);
    const paths = logicalIdPaths(stack);
    problems.push(...deploymentLimitProblems(template, t, {
      stackLabel: `stack ${stack.node.path}`,
      indent: (stack as unknown as { _suppressTemplateIndentation?: boolean })._suppressTemplateIndentation ? undefined : 1,
      stackChecks: owner === undefined || owner === scope,
      describe: (id) => (paths.has(id) ? `${paths.get(id)} (${id})` : describeResource(template, id)),
    }));
  }
  return problems;
}

/** A stack's template as synth renders it; `supported` is false when this aws-cdk-lib cannot render it here. */
export interface RenderedTemplate {
  readonly supported: boolean;
  /** Undefined when rendering failed: synth reports the cause itself. */
  readonly template?: CfnTemplate;
}

/**
 * The template synth will write for a stack. `_toCloudFormation()` is internal, but it is what synth itself calls
 * (`Stack._synthesizeTemplate`); validation runs after aspects and prepare, so the tree is final and rendering it
 * twice gives the same template.
 */
export function renderStackTemplate(stack: Stack): RenderedTemplate {
  const render = (stack as unknown as { _toCloudFormation?: () => CfnTemplate })._toCloudFormation;
  if (typeof render !== 'function') return { supported: false };
  try {
    return { supported: true, template: render.call(stack) };
  } catch {
    return { supported: true };
  }
}

function logicalIdPaths(stack: Stack): Map<string, string> {
  const paths = new Map<string, string>();
  for (const c of stack.node.findAll()) {
    if (CfnElement.isCfnElement(c) && Stack.of(c) === stack) paths.set(stack.resolve(c.logicalId), c.node.path);
  }
  return paths;
}
