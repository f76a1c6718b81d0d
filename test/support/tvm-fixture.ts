// A TVM synthesized by the real construct, with its table created in DynamoDB Local from the synthesized
// template and its configuration items written from the synthesized custom resources: construct and runtime cannot drift.
import { GetItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { createTableFromTemplate, localDynamoClient, uniqueTableName } from './dynamodb-local';
import { localStsAt } from './local-sts';
import { chunkProfilesOf, substitute } from './synth';
import { identityProof } from '../../cli/proof';
import { IdentityVerifier } from '../../lambda/auth/proof';
import { handleConfigEvent, type ConfigEvent } from '../../lambda/config/provider';
import { createHandler, type HandlerDeps, type TvmEvent } from '../../lambda/handler';
import { readSettings } from '../../lambda/settings';
import { PrincipalPattern, ProtectedRole, SentinelTvm, type SentinelTvmProps } from '../../src';
import { ConfigResourceTypes, Env, IdentityProof } from '../../src/shared/contract';

/** An ARN pattern as the construct takes it. */
export const P = (pattern: string) => PrincipalPattern.fromArnPattern(pattern);

export const ACCOUNT = '111122223333';
export const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
export const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
export const SSO_CAROL = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/carol@example.com`;
export const ADMIN = `arn:aws:iam::${ACCOUNT}:role/SecurityOps`;
export const CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' };
/** The API host the fixture's TVM answers on (its template's Api, resolved): identity proofs name it. */
export const AUDIENCE = 'api123.execute-api.us-east-1.amazonaws.com';

/** Physical ARNs the test gives the roles the template references by GetAtt. */
export const ROLE_ARNS: Record<string, string> = {
  ReadOnly: `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly`,
  Deploy: `arn:aws:iam::${ACCOUNT}:role/tvm-test-Deploy`,
};

/** Synthesizes the TVM used by the runtime tests: profiles `readonly` (alice, SSO users) and `deploy` (bob, 30 min max). */
export function synthTvm(props: SentinelTvmProps = {}): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)], ...props });
  const readOnly = new ProtectedRole(stack, 'ReadOnly', { tvm });
  const deploy = new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() });
  tvm.addProfile('readonly', {
    role: readOnly,
    allowedPrincipals: [P(ALICE), P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_*/*`)],
  });
  tvm.addProfile('deploy', { role: deploy, allowedPrincipals: [P(BOB)], maxCredentialDuration: Duration.minutes(30) });
  return app.synth().getStackByName('Fixture').template;
}

/** Physical values of the fixture's resources: table names, and the digests the configuration writer answered. */
export interface Physical {
  readonly tableName: string;
  readonly controlTableName?: string;
  readonly configDigest?: string;
  /** The digest each configuration chunk answered, by logical id. */
  readonly chunkDigests?: Record<string, string>;
}

const PSEUDO: Record<string, string> = { 'AWS::Region': 'us-east-1', 'AWS::URLSuffix': 'amazonaws.com', 'AWS::AccountId': ACCOUNT, 'AWS::Partition': 'aws' };

/** Replaces Ref/GetAtt in a template fragment with the physical values the test chose. */
export function resolveFragment(template: any, value: any, names: string | Physical): any {
  const resources = template.Resources;
  const p: Physical = typeof names === 'string' ? { tableName: names } : names;
  const physical = (logicalId: string, attribute?: string): string => {
    const r = resources[logicalId];
    if (logicalId in PSEUDO) return PSEUDO[logicalId];
    if (r?.Type === 'AWS::DynamoDB::Table') return r.Properties?.StreamSpecification ? p.tableName : p.controlTableName ?? p.tableName;
    if (r?.Type === ConfigResourceTypes.MANIFEST && attribute === 'Digest') return p.configDigest ?? 'no-digest';
    if (r?.Type === ConfigResourceTypes.CHUNK && attribute === 'Digest') return p.chunkDigests?.[logicalId] ?? 'no-digest';
    if (r?.Type === 'AWS::ApiGatewayV2::Api') return 'api123';
    const role = Object.keys(ROLE_ARNS).find((k) => logicalId.startsWith(k));
    if (r?.Type === 'AWS::IAM::Role' && role) return ROLE_ARNS[role];
    return `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;
  };
  const walk = (v: any): any => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      if ('Ref' in v) return physical(v.Ref);
      if ('Fn::GetAtt' in v) return physical(v['Fn::GetAtt'][0], v['Fn::GetAtt'][1]);
      if ('Fn::Join' in v) return v['Fn::Join'][1].map(walk).join(v['Fn::Join'][0]);
      if ('Fn::Sub' in v) return substitute(v['Fn::Sub'], walk);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value);
}

/**
 * The deploy of the configuration: the writer's own code, on the Create events CloudFormation would send it (each
 * chunk, then the manifest with the chunks' digests). Returns the configuration digest; writing it again is harmless.
 */
export async function deployConfig(template: any, ddb: DynamoDBClient, names: Physical): Promise<string> {
  const create = async (logicalId: string, physical: Physical): Promise<string> => {
    const resource = template.Resources[logicalId];
    const result = await handleConfigEvent(ddb, names.controlTableName!,
      configEvent('Create', logicalId, resource.Type, resolveFragment(template, resource.Properties, physical)));
    if (result.status !== 'SUCCESS' || !result.digest) throw new Error(`${logicalId}: ${result.reason}`);
    return result.digest;
  };
  const chunkDigests: Record<string, string> = {};
  for (const [id] of resourcesOfType(template, ConfigResourceTypes.CHUNK)) chunkDigests[id] = await create(id, names);
  const manifests = resourcesOfType(template, ConfigResourceTypes.MANIFEST);
  if (manifests.length !== 1) throw new Error(`expected one ${ConfigResourceTypes.MANIFEST}, found ${manifests.length}`);
  return create(manifests[0][0], { ...names, chunkDigests });
}

/** The configuration a template deploys, as the whole-configuration writer's properties (`writeConfig`), resolved. */
export function deployedConfig(template: any, names: Physical): { AdminPrincipals: string[]; Profiles: any[] } {
  const [[, manifest]] = resourcesOfType(template, ConfigResourceTypes.MANIFEST);
  const chunks = resourcesOfType(template, ConfigResourceTypes.CHUNK);
  // The manifest lists its chunks in order, by their Digest attribute.
  const profiles = manifest.Properties.Chunks.flatMap((ref: any) => {
    const chunk = chunks.find(([id]) => id === ref['Fn::GetAtt'][0])![1];
    return chunkProfilesOf(resolveFragment(template, chunk.Properties.Profiles, names));
  });
  return { AdminPrincipals: resolveFragment(template, manifest.Properties.AdminPrincipals, names), Profiles: profiles };
}

let configRequests = 0;

/** A CloudFormation event for the configuration writer. */
export function configEvent(requestType: ConfigEvent['RequestType'], logicalId: string, resourceType: string, properties: any,
  physicalResourceId?: string): ConfigEvent {
  return {
    RequestType: requestType,
    ResponseURL: 'http://127.0.0.1:9/unused',
    StackId: `arn:aws:cloudformation:us-east-1:${ACCOUNT}:stack/Fixture/11111111-2222-3333-4444-555555555555`,
    RequestId: `config-request-${++configRequests}`,
    ResourceType: resourceType,
    LogicalResourceId: logicalId,
    PhysicalResourceId: physicalResourceId,
    ResourceProperties: properties,
  };
}

function resourcesOfType(template: any, type: string): [string, any][] {
  return Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);
}

export function findResource(template: any, type: string): any {
  const found = Object.values(template.Resources).filter((r: any) => r.Type === type) as any[];
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

export interface Fixture {
  readonly template: any;
  readonly tableName: string;
  readonly controlTableName: string;
  /** The digest the configuration writer answered (the functions' SENTINEL_CONFIG_DIGEST). */
  readonly configDigest: string;
  readonly ddb: DynamoDBClient;
  readonly env: Record<string, string>;
  /**
   * Builds a handler on the fixture's tables, with the synthesized Lambda's own environment. Identity proofs are
   * checked against the local STS behind `deps.sts`; unless `proofs` is false, each event gets a proof signed by its
   * authorizer's principal (made-up keys that STS knows), as the sentinel-tvm client would send it.
   */
  handler(deps: Partial<HandlerDeps> & { sts: STSClient; proofs?: boolean }): (event: TvmEvent) => Promise<any>;
  /** Every item of the table, sorted by id, for before/after comparisons. */
  items(): Promise<Record<string, any>[]>;
  /** One item as plain values (strongly consistent read), or undefined. */
  item(id: string): Promise<Record<string, any> | undefined>;
}

/** Creates the fixture's tables in DynamoDB Local and writes the configuration items the deploy would write. */
export async function createFixture(props: SentinelTvmProps = {}, ddb: DynamoDBClient = localDynamoClient()): Promise<Fixture> {
  const template = synthTvm(props);
  return createFixtureFrom(template, ddb);
}

/** The fixture of any synthesized template with one TVM. */
export async function createFixtureFrom(template: any, ddb: DynamoDBClient = localDynamoClient()): Promise<Fixture> {
  const tables = Object.entries(template.Resources).filter(([, r]: [string, any]) => r.Type === 'AWS::DynamoDB::Table') as [string, any][];
  const sessionsId = tables.find(([, r]) => r.Properties?.StreamSpecification)![0];
  const controlId = tables.find(([, r]) => !r.Properties?.StreamSpecification)![0];
  const tableName = await createTableFromTemplate(template, uniqueTableName('tvm'), ddb, sessionsId);
  const controlTableName = await createTableFromTemplate(template, uniqueTableName('tvmctl'), ddb, controlId);
  const configDigest = await deployConfig(template, ddb, { tableName, controlTableName });
  const vendFunction = Object.values(template.Resources)
    // The enforcer has the table name too; only the vending function has a store failure mode.
    .find((r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.STORE_FAILURE_MODE]) as any;
  // Lambda's runtime sets AWS_REGION; the template does not.
  const env = {
    ...resolveFragment(template, vendFunction.Properties.Environment.Variables, { tableName, controlTableName, configDigest }),
    AWS_REGION: 'us-east-1',
  };
  const items = async () => {
    const out = await ddb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    return (out.Items ?? []).sort((a, b) => String(a.id.S).localeCompare(String(b.id.S)));
  };
  return {
    template,
    tableName,
    controlTableName,
    configDigest,
    ddb,
    env,
    handler: (deps) => withProofs(env, ddb, deps),
    items,
    item: async (id) => {
      const out = await ddb.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: id } }, ConsistentRead: true }));
      return out.Item ? unmarshall(out.Item) : undefined;
    },
  };
}

/** A handler whose identity proofs go to the local STS behind `deps.sts`, and events that carry proofs. */
function withProofs(env: Record<string, string>, ddb: DynamoDBClient, deps: Partial<HandlerDeps> & { sts: STSClient; proofs?: boolean }) {
  const settings = readSettings(env);
  const now = deps.now ?? (() => new Date());
  let handler: ((e: TvmEvent) => Promise<any>) | undefined;
  let endpoint: string | undefined;
  return async (incoming: TvmEvent) => {
    let proofed = incoming;
    if (!handler) {
      const e = await (deps.sts.config.endpoint as unknown as () => Promise<{ protocol: string; hostname: string; port?: number }>)();
      endpoint = `${e.protocol}//${e.hostname}${e.port ? `:${e.port}` : ''}`;
      const verifier = deps.verifier ?? new IdentityVerifier({ audiences: settings.audiences, region: settings.region, endpoint, now });
      handler = createHandler({ settings, ddb, log: () => undefined, ...deps, verifier });
    }
    const arn = incoming?.requestContext?.authorizer?.iam?.userArn;
    if (deps.proofs !== false && typeof arn === 'string' && !headerValue(incoming, IdentityProof.HEADER)) {
      const sts = localStsAt(endpoint!);
      if (!sts) throw new Error(`no local STS at ${endpoint}: start one with startLocalSts()`);
      proofed = { ...incoming, headers: { ...incoming.headers, [IdentityProof.HEADER]: await identityProof(sts.principal(arn), 'us-east-1', AUDIENCE, now()) } };
    }
    return handler(proofed);
  };
}

/** The event with an identity proof signed by its authorizer's principal, for a handler whose STS is `sts` (shipped bundles). */
export async function proven(sts: { principal(arn: string): { accessKeyId: string; secretAccessKey: string } }, e: TvmEvent,
  at: Date = new Date()): Promise<TvmEvent> {
  const arn = e.requestContext.authorizer.iam.userArn;
  return { ...e, headers: { ...e.headers, [IdentityProof.HEADER]: await identityProof(sts.principal(arn), 'us-east-1', AUDIENCE, at) } };
}

function headerValue(e: TvmEvent, name: string): string | undefined {
  return Object.entries(e?.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
}

export function stsClient(endpoint: string): STSClient {
  return new STSClient({ region: 'us-east-1', endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
}

export interface EventOptions {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  userArn?: string | null;
  accountId?: string;
  requestId?: string;
  body?: string;
}

let requestCounter = 0;

/** An API Gateway HTTP API (payload 2.0) event with the IAM authorizer context. */
export function event(o: EventOptions = {}): TvmEvent {
  const method = o.method ?? 'GET';
  const path = o.path ?? '/';
  const userArn = o.userArn === undefined ? ALICE : o.userArn;
  const requestId = o.requestId ?? `Req${String(++requestCounter).padStart(5, '0')}AbC=`;
  const iamContext = userArn === null ? undefined : {
    accessKey: 'AKIDEXAMPLE',
    accountId: o.accountId ?? userArn.split(':')[4],
    callerId: 'AIDEXAMPLE',
    cognitoIdentity: null,
    principalOrgId: null,
    userArn,
    userId: 'AIDEXAMPLE',
  };
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(o.query ?? {}).toString(),
    queryStringParameters: o.query,
    headers: o.headers ?? {},
    body: o.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'api123',
      domainName: 'api123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'api123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'test' },
      requestId,
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '',
      timeEpoch: 0,
      authorizer: iamContext ? { iam: iamContext } : undefined,
    },
  } as unknown as TvmEvent;
}

/** DynamoDB's typed JSON to plain values (S, N, BOOL, L, M), for readable assertions. */
export function unmarshall(item: Record<string, any>): Record<string, any> {
  const value = (v: any): any => {
    if ('S' in v) return v.S;
    if ('N' in v) return Number(v.N);
    if ('BOOL' in v) return v.BOOL;
    if ('L' in v) return v.L.map(value);
    if ('M' in v) return unmarshall(v.M);
    if ('NULL' in v) return null;
    throw new Error(`unsupported attribute ${JSON.stringify(v)}`);
  };
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, value(v)]));
}
