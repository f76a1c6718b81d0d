// Shared by the construct, cdk-nag and trust-policy tests: one "full" TVM app, and a resolver that turns the
// CloudFormation intrinsics of a synthesized template into the concrete values a deployment would give them.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnElement, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { canonicalConfig } from '../../lambda/config/document';
import { PrincipalPattern, ProtectedRole, SentinelTvm, type SentinelTvmProps } from '../../src';
import { ConfigResourceTypes, type ConfigDocument } from '../../src/shared/contract';

/** An ARN pattern as the construct takes it. */
export const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const ADMIN = `arn:aws:iam::${ACCOUNT}:role/SecurityOps`;
export const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
export const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
export const SSO_READONLY = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_*/*`;
export const IMPORTED_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/ExternallyManaged`;

/** A TVM with one profile per kind of role: a ProtectedRole, an owned iam.Role, an imported role. */
export interface FullTvm {
  readonly app: App;
  readonly stack: Stack;
  readonly tvm: SentinelTvm;
  readonly protectedRole: ProtectedRole;
  readonly ownedRole: iam.Role;
  readonly importedRole: iam.IRole;
}

export interface FullTvmOptions {
  /** Props of the SentinelTvm (or a function of the stack, for props that are constructs); `adminPrincipals` defaults to [ADMIN]. */
  readonly props?: SentinelTvmProps | ((stack: Stack) => SentinelTvmProps);
}

/** The full TVM app; its cloud assembly goes to a temporary directory that {@link removeOutdirs} deletes. */
export function fullTvm(options: FullTvmOptions = {}): FullTvm {
  const app = newApp();
  const stack = new Stack(app, 'TvmStack', { env: { account: ACCOUNT, region: REGION } });
  const props = typeof options.props === 'function' ? options.props(stack) : options.props;
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)], ...props });
  const protectedRole = new ProtectedRole(stack, 'ReadOnly', { tvm, description: 'read-only access, vended by the TVM' });
  const ownedRole = new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() });
  const importedRole = iam.Role.fromRoleArn(stack, 'Imported', IMPORTED_ROLE_ARN);
  tvm.addProfile('prod-readonly', {
    role: protectedRole,
    allowedPrincipals: [P(ALICE), P(SSO_READONLY)],
    maxCredentialDuration: Duration.hours(1),
  });
  tvm.addProfile('deploy', { role: ownedRole, allowedPrincipals: [P(BOB)], maxCredentialDuration: Duration.minutes(30) });
  tvm.addProfile('external', { role: importedRole, allowedPrincipals: [P(ALICE)], maxCredentialDuration: Duration.minutes(15) });
  return { app, stack, tvm, protectedRole, ownedRole, importedRole };
}

const outdirs: string[] = [];

/** An App writing to a fresh temporary directory (no creation stack traces, so messages stay short). */
export function newApp(): App {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'tvm-cdk-out-'));
  outdirs.push(outdir);
  return new App({ outdir, context: { 'aws:cdk:disable-creation-stack-traces': true } });
}

/** Deletes the cloud assemblies of the apps made by {@link newApp}; call it in `afterAll`. */
export function removeOutdirs(): void {
  for (const dir of outdirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** The logical id CloudFormation knows a construct's resource by. */
export function logicalIdOf(construct: CfnElement | { node: { defaultChild?: unknown } }): string {
  const element = (construct instanceof CfnElement ? construct : construct.node.defaultChild) as CfnElement;
  if (!element) throw new Error('construct has no CloudFormation resource');
  return Stack.of(element).resolve(element.logicalId);
}

/**
 * Resolves Ref, Fn::GetAtt and Fn::Join of a template fragment to concrete values: pseudo parameters from
 * ACCOUNT/REGION, `Ref` to a fake physical name, `Fn::GetAtt ... Arn` to a fake ARN of the right service
 * (or to `overrides[logicalId]` when given). Any other intrinsic throws, so a test never reads a half-resolved value.
 */
export class CfnResolver {
  constructor(private readonly template: any, private readonly overrides: Record<string, string> = {}) {}

  /** The physical name a `Ref` to this resource resolves to. */
  public ref(logicalId: string): string {
    switch (logicalId) {
      case 'AWS::Partition': return 'aws';
      case 'AWS::Region': return REGION;
      case 'AWS::AccountId': return ACCOUNT;
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::StackName': return 'TvmStack';
      case 'AWS::StackId': return `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/TvmStack/11111111-2222-3333-4444-555555555555`;
      default:
        this.type(logicalId);
        return `physical-${logicalId}`;
    }
  }

  /** The ARN a `Fn::GetAtt [logicalId, Arn]` resolves to. */
  public arn(logicalId: string): string {
    if (this.overrides[logicalId]) return this.overrides[logicalId];
    const type = this.type(logicalId);
    switch (type) {
      case 'AWS::IAM::Role': return `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;
      case 'AWS::DynamoDB::Table': return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/physical-${logicalId}`;
      case 'AWS::Logs::LogGroup': return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:physical-${logicalId}:*`;
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:physical-${logicalId}`;
      case 'AWS::KMS::Key': return `arn:aws:kms:${REGION}:${ACCOUNT}:key/physical-${logicalId}`;
      default: return `arn:aws:${type.split('::')[1].toLowerCase()}:${REGION}:${ACCOUNT}:physical-${logicalId}`;
    }
  }

  public resolve(value: unknown): any {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0] as [string, any];
      if (key === 'Ref') return this.ref(arg);
      if (key === 'Fn::GetAtt') {
        // A configuration resource's digest: SHA-256 in hex, as long as the real one.
        if (arg[1] === 'Digest') return createHash('sha256').update(String(arg[0])).digest('hex');
        if (arg[1] === 'StreamArn') return `${this.arn(arg[0])}/stream/2036-01-01T00:00:00.000`;
        if (this.overrides[`${arg[0]}.${arg[1]}`]) return this.overrides[`${arg[0]}.${arg[1]}`];
        if (arg[1] !== 'Arn') throw new Error(`CfnResolver: no fake value for Fn::GetAtt ${arg.join('.')}`);
        return this.arn(arg[0]);
      }
      if (key === 'Fn::Join') return (arg[1] as unknown[]).map((part) => this.resolve(part)).join(arg[0]);
      if (key === 'Fn::Sub') return substitute(arg, (v) => this.resolve(v));
      if (key === 'Fn::Split') return String(this.resolve(arg[1])).split(arg[0]);
      if (key === 'Fn::Select') return this.resolve(arg[1])[Number(arg[0])];
      if (key.startsWith('Fn::')) throw new Error(`CfnResolver: ${key} is not supported`);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  private type(logicalId: string): string {
    const resource = this.template.Resources?.[logicalId];
    if (!resource) throw new Error(`CfnResolver: the template has no resource ${logicalId}`);
    return resource.Type;
  }
}

/**
 * The configuration a TVM's template deploys, as the functions see it: its manifest's administrators and the profiles
 * of the chunks it lists, in order, resolved by `resolver` (the document `canonicalConfig` makes). `tvmId` picks the
 * TVM when the stack has several.
 */
export function configOf(template: any, resolver: CfnResolver, tvmId = 'Tvm'): ConfigDocument {
  const resources = Object.entries<any>(template.Resources);
  const manifests = resources.filter(([id, r]) => r.Type === ConfigResourceTypes.MANIFEST && id.startsWith(`${tvmId}Config`));
  if (manifests.length !== 1) throw new Error(`expected one ${ConfigResourceTypes.MANIFEST} ${tvmId}Config*, found ${manifests.length}`);
  const manifest = manifests[0][1].Properties;
  const profiles = (manifest.Chunks ?? []).flatMap((ref: any) => {
    const chunk = template.Resources[ref['Fn::GetAtt'][0]];
    if (chunk?.Type !== ConfigResourceTypes.CHUNK) throw new Error(`the manifest lists ${JSON.stringify(ref)}, not a ${ConfigResourceTypes.CHUNK}`);
    return chunkProfilesOf(resolver.resolve(chunk.Properties.Profiles));
  });
  return JSON.parse(canonicalConfig({
    adminPrincipals: resolver.resolve(manifest.AdminPrincipals),
    introspectionPrincipals: resolver.resolve(manifest.IntrospectionPrincipals),
    profiles,
  }));
}

/**
 * A `Fn::Sub` with its `${Name}`, `${Resource.Attribute}` and `${!Literal}` replaced: names and attributes through
 * `resolve` (as `Ref` and `Fn::GetAtt`), variables through `resolve` of their value.
 */
export function substitute(arg: string | [string, Record<string, unknown>], resolve: (value: unknown) => any): string {
  const [text, variables] = Array.isArray(arg) ? arg : [arg, {} as Record<string, unknown>];
  return text.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in variables) return String(resolve(variables[name]));
    const dot = name.indexOf('.');
    return String(resolve(dot < 0 ? { Ref: name } : { 'Fn::GetAtt': [name.slice(0, dot), name.slice(dot + 1)] }));
  });
}

/** A chunk's `Profiles`, resolved: the construct passes the JSON of the list (a `Fn::Sub`), local mode the list. */
export function chunkProfilesOf(resolved: unknown): any[] {
  return typeof resolved === 'string' ? JSON.parse(resolved) : resolved as any[];
}

/** IAM-style wildcard match (`*` any run of characters, `?` one character), case-sensitive. */
export function iamWildcardMatch(pattern: string, value: string): boolean {
  const source = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 's').test(value);
}

/** Every statement of every identity policy attached to a role: its inline `Policies` and `AWS::IAM::Policy` resources. */
export function identityStatementsOf(template: any, roleLogicalId: string): any[] {
  const resources = template.Resources as Record<string, any>;
  const inline = (resources[roleLogicalId]?.Properties?.Policies ?? []).flatMap((p: any) => p.PolicyDocument.Statement);
  const attached = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: any) => x.Ref === roleLogicalId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
  return [...inline, ...attached];
}

/** `Action` / `Resource` of a statement as an array. */
export function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
