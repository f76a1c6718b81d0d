// `sentinel-tvm local`: the whole chain on this machine. The real bundled vending Lambda, configured only through
// its environment (as the construct configures it), behind a SigV4-verifying front door, with DynamoDB Local and
// a local STS that enforces the protected roles' trust policy.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as os from 'os';
import * as path from 'path';
import { integerOption, parseArgs } from '../args';
import { CliError, ExitCode, usageError } from '../errors';
import { configProperties, handlerEnvironment, loadConfigFile, type LocalConfig } from './config';
import { ensureTable, freePort, localDynamoClient, startDynamoDbLocal, type RunningDynamoDb } from './dynamodb';
import { startFrontDoor, type FrontDoor, type Handler } from './front-door';
import { startLocalSts, type LocalSts } from './sts';
import { protectedRoleTrustPolicy } from './trust';
import type { KnownKey } from './verify';
import { writeConfig } from '../../lambda/config/provider';

export const READY_PREFIX = 'sentinel-tvm local: ready at ';
const DEFAULT_TABLE = 'sentinel-tvm-local-sessions';
const EXECUTION_ROLE_NAME = 'SentinelTvmLocalExecutionRole';
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'];

export interface LocalIo {
  readonly env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
}

/** The bundled vending handler, next to this command's bundle: assets/cli/sentinel-tvm/ → assets/lambda/vend.lambda/. */
export function handlerBundlePath(bundleDir: string = __dirname): string {
  return path.join(bundleDir, '..', '..', 'lambda', 'vend.lambda', 'index.js');
}

export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME ? path.resolve(env.XDG_DATA_HOME) : path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'sentinel-tvm', 'local');
}

/** The account the local TVM "lives" in: that of its first profile's role. */
function tvmAccount(config: LocalConfig): string {
  return config.profiles[0].roleArn.split(':')[4];
}

/** Runs until SIGINT or SIGTERM; resolves with the exit code once everything it started has stopped. */
export async function runLocal(argv: readonly string[], io: LocalIo): Promise<number> {
  const a = parseArgs(argv, {
    'config': 'value',
    'port': 'value',
    'sts-port': 'value',
    'data-dir': 'value',
    'dynamodb-endpoint': 'value',
    'table': 'value',
    'log-level': 'value',
  }, [], 'sentinel-tvm local');
  if (!a.values.config) throw usageError('--config FILE is required: principals, profiles and settings (see examples/local/config.json)');
  const port = integerOption('port', a.values.port, 0, 65535) ?? 0;
  const stsPort = integerOption('sts-port', a.values['sts-port'], 0, 65535) ?? 0;
  const table = a.values.table ?? DEFAULT_TABLE;
  if (!/^[a-zA-Z0-9_.-]{3,255}$/.test(table)) throw usageError(`--table "${table}" is not a DynamoDB table name`);
  const logLevel = (a.values['log-level'] ?? 'INFO').toUpperCase();
  if (!LOG_LEVELS.includes(logLevel)) throw usageError(`--log-level "${a.values['log-level']}": expected one of ${LOG_LEVELS.join(', ')}`);
  const ddbEndpoint = a.values['dynamodb-endpoint'];
  if (ddbEndpoint !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(ddbEndpoint)) {
    throw usageError(`--dynamodb-endpoint "${ddbEndpoint}": expected a URL like http://127.0.0.1:8000`);
  }
  if (ddbEndpoint !== undefined && a.values['data-dir'] !== undefined) {
    throw usageError('--data-dir and --dynamodb-endpoint do not go together: the data lives with that endpoint');
  }
  const config = loadConfigFile(path.resolve(a.values.config));
  const handlerPath = handlerBundlePath();
  if (!fs.existsSync(handlerPath)) {
    throw new CliError(ExitCode.LOCAL, `the bundled vending handler is missing at ${handlerPath}: build it with \`npx projen bundle\``);
  }
  const say = (line: string) => io.err(`sentinel-tvm local: ${line}\n`);

  const started: { stop(): Promise<void> }[] = [];
  let dynamo: RunningDynamoDb | undefined;
  const killJava = () => dynamo?.kill();
  process.once('exit', killJava);
  const stopAll = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
    process.removeListener('exit', killJava);
  };
  // Signals that arrive while starting stop the start, too.
  let signalled: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled = signal;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkSignal = () => {
    if (signalled) throw new CliError(ExitCode.OK, `stopped by ${signalled}`);
  };

  try {
    let endpoint = ddbEndpoint?.replace(/\/$/, '');
    if (!endpoint) {
      const dataDir = path.resolve(a.values['data-dir'] ?? defaultDataDir(io.env));
      say(`starting DynamoDB Local (data in ${path.join(dataDir, 'dynamodb')})`);
      dynamo = await startDynamoDbLocal(path.join(dataDir, 'dynamodb'));
      started.push(dynamo);
      endpoint = dynamo.endpoint;
      say(`DynamoDB Local (java pid ${dynamo.process.pid}) at ${endpoint}`);
    }
    checkSignal();
    const ddb = localDynamoClient(endpoint, config.region);
    const controlTable = `${table}-control`;
    let configDigest: string;
    try {
      const state = await ensureTable(ddb, table);
      await ensureTable(ddb, controlTable, 'control');
      // The configuration goes through the construct's own configuration writer, digest included.
      configDigest = await writeConfig(ddb, controlTable, configProperties(config));
      say(`session table ${table} (${state}) and control table ${controlTable} at ${endpoint}`);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(ExitCode.LOCAL, `cannot prepare the tables ${table}, ${controlTable} at ${endpoint}: ${(err as Error).name}: ${(err as Error).message}`);
    } finally {
      ddb.destroy();
    }
    checkSignal();

    // The TVM's own credentials: made up for this run, known only to this process and its local STS.
    const account = tvmAccount(config);
    const tvmKey = { accessKeyId: `AKIDLOCALTVM${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
    const executionRoleArn = `arn:aws:iam::${account}:role/${EXECUTION_ROLE_NAME}`;
    const keys = new Map<string, KnownKey>([
      [tvmKey.accessKeyId, { secretAccessKey: tvmKey.secretAccessKey, arn: `arn:aws:sts::${account}:assumed-role/${EXECUTION_ROLE_NAME}/sentinel-tvm-local` }],
      ...config.principals.map((p) => [p.accessKeyId, { secretAccessKey: p.secretAccessKey, arn: p.arn }] as [string, KnownKey]),
    ]);
    const sts: LocalSts = await startLocalSts({
      region: config.region,
      port: stsPort,
      keys,
      roles: new Map(config.profiles.map((p) => [p.roleArn, protectedRoleTrustPolicy(executionRoleArn)])),
      log: (line) => say(`sts: ${line}`),
    });
    started.push(sts);

    // The front door's port is fixed first: identity proofs name its host, and the handler learns it at load time.
    const doorPort = port || await freePort();
    // The handler reads its configuration once, at load time, from the environment, as in Lambda.
    Object.assign(process.env, {
      ...handlerEnvironment(config, {
        tableName: table, controlTableName: controlTable, configDigest, audiences: [`127.0.0.1:${doorPort}`, `localhost:${doorPort}`],
      }),
      AWS_REGION: config.region,
      AWS_DEFAULT_REGION: config.region,
      AWS_ACCESS_KEY_ID: tvmKey.accessKeyId,
      AWS_SECRET_ACCESS_KEY: tvmKey.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      POWERTOOLS_SERVICE_NAME: 'sentinel-tvm-local',
      POWERTOOLS_LOG_LEVEL: logLevel,
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    for (const name of ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) delete process.env[name];
    let handler: Handler;
    try {
      handler = createRequire(__filename)(handlerPath).handler;
    } catch (err) {
      throw new CliError(ExitCode.LOCAL, `cannot load the vending handler ${handlerPath}: ${(err as Error).message}`);
    }
    if (typeof handler !== 'function') throw new CliError(ExitCode.LOCAL, `${handlerPath} exports no handler function`);

    const principalKeys = new Map(config.principals.map((p) => [p.accessKeyId, keys.get(p.accessKeyId)!]));
    const door: FrontDoor = await startFrontDoor({
      region: config.region,
      accountId: account,
      port: doorPort,
      // Principals of the config file and credentials vended by the local STS may call, as IAM principals could.
      lookup: (id) => principalKeys.get(id) ?? sts.issued.get(id),
      handler,
      log: (line) => say(line),
    });
    started.push(door);

    say(`protected roles: ${config.profiles.map((p) => p.roleArn).join(', ')}`);
    for (const p of config.principals) say(`principal ${p.accessKeyId} is ${p.arn}`);
    say(`profiles: ${config.profiles.map((p) => p.name).join(', ')}; signing region ${config.region}`);
    checkSignal();
    // Machine-readable lines on stdout, the ready line last: whoever waits for it has both URLs.
    io.out(`sentinel-tvm local: STS at ${sts.endpoint}/\n`);
    io.out(`${READY_PREFIX}${door.url}\n`);

    // Run until told to stop, or until DynamoDB Local dies under us.
    const javaDied = await new Promise<boolean>((resolve) => {
      wake = () => resolve(false);
      if (signalled) resolve(false);
      dynamo?.process.once('exit', () => resolve(!signalled));
    });
    if (javaDied) throw new CliError(ExitCode.LOCAL, 'DynamoDB Local exited unexpectedly');
    say(`stopping (${signalled})`);
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.OK) {
      say(err.message);
      return ExitCode.OK;
    }
    throw err;
  } finally {
    await stopAll();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
