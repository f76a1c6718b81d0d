import { Aws, CfnElement, CustomResource, Duration, IResolvable, Lazy, Stack, StringConcat, Token, Tokenization } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ConfigFunction } from './config-function';
import { onlyFromFunction } from './trust';
import type { AccessPolicyConfig } from '../shared/access';
import { CONFIG_ITEM_PREFIX, ConfigChunking, ConfigResourceTypes, Env, startsConfigChunk } from '../shared/contract';

/** One profile as the configuration writer takes it (CloudFormation resolves the role ARNs). */
export interface ConfigProfile {
  readonly name: string;
  readonly roleArn: string;
  readonly allowedPrincipals: string[];
  readonly maxDurationSeconds: number;
  readonly chainRoleArns: string[];
  /** The profile opted out of revocation reaching issued credentials: the enforcer writes no deny for its role. */
  readonly unenforced?: boolean;
  /** The role is no ProtectedRole of the TVM: others may assume it, so introspection never answers for its sessions. */
  readonly openTrust?: boolean;
  /** The profile's gates (approvals, break-glass, access windows); absent for a standing profile. */
  readonly access?: AccessPolicyConfig;
}

export interface TvmConfigurationProps {
  readonly controlTable: dynamodb.ITable;
  readonly encryptionKey?: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  /** IAM path of the TVM's own function roles. */
  readonly runtimeRolePath: string;
  /** The administrators' patterns, read at synth. */
  readonly admins: () => string[];
  /** The relying parties' patterns (`POST /introspect`), read at synth; none when absent. */
  readonly introspectors?: () => string[];
  /** Instruction set of the writer function. */
  readonly architecture: lambda.Architecture;
}

/** What an unresolved token is counted as, on top of its own JSON: a GetAtt or Ref renders shorter than the ARN it becomes. */
const TOKEN_PADDING = 100;

/** The writer's actions on the control table, all limited to the configuration items. */
const WRITER_ACTIONS = ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:BatchGetItem'];
const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem'];
/** The writer obeys a Delete only while its own stack is in a status in which CloudFormation sends one. */
const STACK_ACTIONS = ['cloudformation:DescribeStacks'];

/** A chunk of profiles and the custom resource that writes it. */
interface ConfigChunk {
  readonly resource: CustomResource;
  readonly profiles: ConfigProfile[];
  /** Estimated size of the profiles once CloudFormation resolves them. */
  bytes: number;
}

/**
 * The deployed configuration (profiles, administrators): written at deploy time by this TVM's own custom resources,
 * chunks of profiles (`Custom::SentinelTvmConfigChunk`, split by {@link startsConfigChunk} as profiles are added) and a
 * manifest (`Custom::SentinelTvmConfig`) listing the chunks' digests, which answers its own SHA-256. The functions get
 * that digest in their environment and trust no other configuration. No request carries more than a chunk, so 1,000
 * profiles deploy and update within Lambda's 256 KB asynchronous payload.
 */
export class TvmConfiguration extends Construct {
  /** The digest of the deployed configuration (a deploy-time value). */
  public readonly digest: string;
  /** The writer function. */
  public readonly writer: lambda.Function;

  private readonly chunks: ConfigChunk[] = [];
  private readonly controlTable: dynamodb.ITable;
  private readonly leadingKeys: Record<string, Record<string, string[]>>;

  constructor(scope: Construct, id: string, props: TvmConfigurationProps) {
    super(scope, id);
    this.controlTable = props.controlTable;
    this.leadingKeys = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${CONFIG_ITEM_PREFIX}*`] } };
    const role = new iam.Role(this, 'WriterRole', {
      path: props.runtimeRolePath,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Sentinel TVM configuration writer: writes the deployed configuration items of its control table',
    });
    const logGroup = new logs.LogGroup(this, 'WriterLogGroup', { retention: props.logRetention });
    logGroup.grantWrite(role);
    // Writes and deletes its items; reads the chunks back before it answers the manifest's digest.
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: WRITER_ACTIONS,
      resources: [props.controlTable.tableArn],
      conditions: this.leadingKeys,
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: STACK_ACTIONS, resources: [Aws.STACK_ID] }));
    props.encryptionKey?.grantEncryptDecrypt(role);
    this.writer = new ConfigFunction(this, 'Writer', {
      description: 'Sentinel TVM: writes the deployed configuration and answers its digest',
      architecture: props.architecture,
      memorySize: 256,
      timeout: Duration.seconds(60),
      role,
      logGroup,
      environment: { [Env.CONTROL_TABLE_NAME]: props.controlTable.tableName, [Env.STACK_ID]: Aws.STACK_ID },
    });
    new iam.Policy(this, 'WriterOnly', {
      roles: [role],
      statements: [onlyFromFunction(this.writer.functionArn, [...WRITER_ACTIONS, ...STACK_ACTIONS])],
    });
    const manifest = new CustomResource(this, 'Resource', {
      serviceToken: this.writer.functionArn,
      resourceType: ConfigResourceTypes.MANIFEST,
      properties: {
        AdminPrincipals: Lazy.list({ produce: () => props.admins() }),
        // Omitted when empty, as the manifest omits it: configurations without relying parties keep their digest and template.
        IntrospectionPrincipals: Lazy.list({ produce: () => props.introspectors?.() ?? [] }, { omitEmpty: true }),
        Chunks: Lazy.list({ produce: () => this.chunks.map((c) => c.resource.getAttString('Digest')) }),
      },
    });
    this.digest = manifest.getAttString('Digest');
    this.node.addValidation({ validate: () => this.validateChunks() });
  }

  /** Adds a profile (names are checked unique by the caller), to the last chunk or to a new one. */
  public addProfile(profile: ConfigProfile): void {
    const value: ConfigProfile = {
      name: profile.name,
      roleArn: profile.roleArn,
      allowedPrincipals: profile.allowedPrincipals,
      maxDurationSeconds: profile.maxDurationSeconds,
      chainRoleArns: profile.chainRoleArns,
      // Only when set: the other profiles' documents, and so the digests, stay as they were.
      ...(profile.unenforced === true ? { unenforced: true } : {}),
      ...(profile.openTrust === true ? { openTrust: true } : {}),
      ...(profile.access !== undefined ? { access: profile.access } : {}),
    };
    const bytes = this.estimateBytes(value);
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || startsConfigChunk(chunk.bytes, chunk.profiles[chunk.profiles.length - 1].name, bytes)) {
      const profiles: ConfigProfile[] = [];
      // Named after its first profile: a chunk keeps its logical id when a chunk before it is split or merged.
      const resource = new CustomResource(this, `Chunk-${profile.name}`, {
        serviceToken: this.writer.functionArn,
        resourceType: ConfigResourceTypes.CHUNK,
        properties: { Profiles: Lazy.any({ produce: () => subJson(this, profiles) }) },
      });
      chunk = { resource, profiles, bytes: 0 };
      this.chunks.push(chunk);
    }
    chunk.profiles.push(value);
    chunk.bytes += bytes;
  }

  /** Read access to the configuration items, for a function that loads the configuration. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: READ_ACTIONS,
      resourceArns: [this.controlTable.tableArn],
      conditions: this.leadingKeys,
    });
  }

  /** The size of a value once CloudFormation resolves it, estimated from its resolved JSON with tokens padded. */
  private estimateBytes(value: unknown): number {
    const json = JSON.stringify(Stack.of(this).resolve(value));
    const tokens = json.match(/\{"(Ref|Fn::[A-Za-z]+)":/g)?.length ?? 0;
    return Buffer.byteLength(json) + TOKEN_PADDING * tokens;
  }

  private validateChunks(): string[] {
    // A chunk grows past its budget only with a single profile in it.
    return this.chunks.filter((c) => c.bytes > ConfigChunking.MAX_PROFILE_BYTES).map((c) =>
      `addProfile(${JSON.stringify(c.profiles[0].name)}): the profile takes about ${c.bytes} bytes of configuration, over the `
      + `${ConfigChunking.MAX_PROFILE_BYTES} one profile may take (CloudFormation sends it twice in one update request, which Lambda `
      + 'limits to 256 KB): give it fewer allowedPrincipals, or split it into several profiles');
  }
}

/**
 * The JSON of a value as one `Fn::Sub` string, each token a `${...}`: a chunk of 32 profiles is then one string in the
 * template instead of nested objects and a `Fn::Join` per ARN, about a third of the size, which keeps 1,000 profiles
 * well within CloudFormation's 1 MB template. A `Ref`/`GetAtt` of this stack is written inline; any other token (a
 * reference to another stack, say) becomes a variable of the `Fn::Sub`, so CDK still sees and resolves it.
 */
export function subJson(scope: Construct, value: unknown): unknown {
  const stack = Stack.of(scope);
  const tokens: IResolvable[] = [];
  // NUL marks where a token goes: no literal of a configuration has one, and JSON escapes it.
  const mark = (token: IResolvable) => `\u0000${tokens.push(token) - 1}\u0000`;
  const json = JSON.stringify(value, (_key, v) => {
    if (typeof v === 'string' && Token.isUnresolved(v)) return Tokenization.reverseString(v).mapTokens({ mapToken: mark }).join(new StringConcat());
    // A number token becomes a string, which the writer takes as CloudFormation passes numbers.
    if (typeof v === 'number' && Token.isUnresolved(v)) return mark(Tokenization.reverseNumber(v)!);
    return v;
  });
  if (tokens.length === 0) return json;
  const local = new Set(stack.node.findAll()
    .filter((c): c is CfnElement => CfnElement.isCfnElement(c) && Stack.of(c) === stack)
    .map((e) => stack.resolve(e.logicalId)));
  const variables: Record<string, string> = {};
  const placeholders = new Map<IResolvable, string>();
  const placeholder = (token: IResolvable): string => {
    let text = placeholders.get(token);
    if (text === undefined) {
      const r = stack.resolve(token);
      const ref = r && typeof r === 'object' && Object.keys(r).length === 1 ? r : undefined;
      if (typeof ref?.Ref === 'string' && (ref.Ref.startsWith('AWS::') || local.has(ref.Ref))) {
        text = `\${${ref.Ref}}`;
      } else if (Array.isArray(ref?.['Fn::GetAtt']) && local.has(ref['Fn::GetAtt'][0]) && typeof ref['Fn::GetAtt'][1] === 'string') {
        text = `\${${ref['Fn::GetAtt'][0]}.${ref['Fn::GetAtt'][1]}}`;
      } else {
        const name = `V${Object.keys(variables).length}`;
        variables[name] = Token.asString(token);
        text = `\${${name}}`;
      }
      placeholders.set(token, text);
    }
    return text;
  };
  // `${!` is Fn::Sub's literal `${`.
  const text = json.replace(/\$\{/g, '${!').replace(/\\u0000(\d+)\\u0000/g, (_m, i: string) => placeholder(tokens[Number(i)]));
  return { 'Fn::Sub': Object.keys(variables).length > 0 ? [text, variables] : text };
}
