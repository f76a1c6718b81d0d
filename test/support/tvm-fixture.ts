// A TVM synthesized by the real construct, with its table created in DynamoDB Local from the synthesized
// template and its config item written from the synthesized custom resource: construct and runtime cannot drift.
import { GetItemCommand, PutItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { createTableFromTemplate, localDynamoClient, uniqueTableName } from './dynamodb-local';
import { createHandler, type HandlerDeps, type TvmEvent } from '../../lambda/handler';
import { readSettings } from '../../lambda/settings';
import { ProtectedRole, SentinelTvm, type SentinelTvmProps } from '../../src';
import { Env } from '../../src/shared/contract';

export const ACCOUNT = '111122223333';
export const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
export const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
export const SSO_CAROL = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/carol@example.com`;
export const ADMIN = `arn:aws:iam::${ACCOUNT}:role/SecurityOps`;
export const CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' };

/** Physical ARNs the test gives the roles the template references by GetAtt. */
export const ROLE_ARNS: Record<string, string> = {
  ReadOnly: `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly`,
  Deploy: `arn:aws:iam::${ACCOUNT}:role/tvm-test-Deploy`,
};

/** Synthesizes the TVM used by the runtime tests: profiles `readonly` (alice, SSO users) and `deploy` (bob, 30 min max). */
export function synthTvm(props: SentinelTvmProps = {}): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [ADMIN], ...props });
  const readOnly = new ProtectedRole(stack, 'ReadOnly', { tvm });
  const deploy = new iam.Role(stack, 'Deploy', { assumedBy: new iam.AccountRootPrincipal() });
  tvm.addProfile('readonly', {
    role: readOnly,
    allowedPrincipals: [ALICE, `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_*/*`],
  });
  tvm.addProfile('deploy', { role: deploy, allowedPrincipals: [BOB], maxCredentialDuration: Duration.minutes(30) });
  return app.synth().getStackByName('Fixture').template;
}

/** Replaces Ref/GetAtt in a template fragment with the physical values the test chose. */
export function resolveFragment(template: any, value: any, tableName: string): any {
  const resources = template.Resources;
  const physical = (logicalId: string): string => {
    const r = resources[logicalId];
    if (r?.Type === 'AWS::DynamoDB::Table') return tableName;
    const role = Object.keys(ROLE_ARNS).find((k) => logicalId.startsWith(k));
    if (r?.Type === 'AWS::IAM::Role' && role) return ROLE_ARNS[role];
    return `arn:aws:iam::${ACCOUNT}:role/${logicalId}`;
  };
  const walk = (v: any): any => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      if ('Ref' in v) return physical(v.Ref);
      if ('Fn::GetAtt' in v) return physical(v['Fn::GetAtt'][0]);
      if ('Fn::Join' in v) return v['Fn::Join'][1].map(walk).join(v['Fn::Join'][0]);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value);
}

export function findResource(template: any, type: string): any {
  const found = Object.values(template.Resources).filter((r: any) => r.Type === type) as any[];
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

export interface Fixture {
  readonly template: any;
  readonly tableName: string;
  readonly ddb: DynamoDBClient;
  readonly env: Record<string, string>;
  /** Builds a handler on the fixture's table, with the synthesized Lambda's own environment. */
  handler(deps: Partial<HandlerDeps> & { sts: STSClient }): (event: TvmEvent) => Promise<any>;
  /** Every item of the table, sorted by id, for before/after comparisons. */
  items(): Promise<Record<string, any>[]>;
  /** One item as plain values (strongly consistent read), or undefined. */
  item(id: string): Promise<Record<string, any> | undefined>;
}

/** Creates the fixture's table in DynamoDB Local and writes the config item the deploy would write. */
export async function createFixture(props: SentinelTvmProps = {}, ddb: DynamoDBClient = localDynamoClient()): Promise<Fixture> {
  const template = synthTvm(props);
  const tableName = await createTableFromTemplate(template, uniqueTableName('tvm'), ddb);
  const call = JSON.parse(resolveFragment(template, findResource(template, 'Custom::AWS').Properties.Create, tableName));
  if (call.service !== 'DynamoDB' || call.action !== 'putItem') throw new Error('unexpected config custom resource');
  await ddb.send(new PutItemCommand(call.parameters));
  const vendFunction = Object.values(template.Resources)
    // The enforcer has the table name too; only the vending function has a store failure mode.
    .find((r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.STORE_FAILURE_MODE]) as any;
  const env = resolveFragment(template, vendFunction.Properties.Environment.Variables, tableName);
  const items = async () => {
    const out = await ddb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    return (out.Items ?? []).sort((a, b) => String(a.id.S).localeCompare(String(b.id.S)));
  };
  return {
    template,
    tableName,
    ddb,
    env,
    handler: (deps) => createHandler({ settings: readSettings(env), ddb, log: () => undefined, ...deps }),
    items,
    item: async (id) => {
      const out = await ddb.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: id } }, ConsistentRead: true }));
      return out.Item ? unmarshall(out.Item) : undefined;
    },
  };
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
