// `sentinel-tvm local`: the whole chain on this machine. The real bundled vending Lambda, configured only through
// its environment (as the construct configures it), behind a SigV4-verifying front door, with DynamoDB Local, a local
// STS that enforces each role's trust policy across the emulated accounts, a local IAM, the real bundled revocation
// enforcer writing its deny there, and one AWS-style call (S3 ListBuckets) decided by the caller's role policies. The real
// bundled events function reads the session table's stream and puts the session events on a local EventBridge, which
// prints each and appends it to a file. With a gated profile, the real bundled access function serves the access routes.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { createRequire } from 'module';
import * as os from 'os';
import * as path from 'path';
import { integerOption, parseArgs } from '../args';
import { CliError, ExitCode, usageError } from '../errors';
import { accessEnvironment, ACCESS_ROUTE_KEYS, isGated, startLocalAccess, type LocalAccess } from './access';
import { explicitDenyMessage, LocalAccounts, LOCAL_TVM_NAME } from './accounts';
import { startLocalAws } from './aws';
import { configProperties, handlerEnvironment, loadConfigFile } from './config';
import { ensureTable, freePort, localDynamoClient, startDynamoDbLocal, type RunningDynamoDb } from './dynamodb';
import { enforcerEnvironment, startLocalEnforcer, type LocalEnforcer } from './enforcer';
import { startLocalEventBridge, type DeliveredEvent } from './eventbridge';
import { eventsEnvironment, startLocalEvents } from './events';
import { startFrontDoor, type FrontDoor, type Handler } from './front-door';
import { startLocalIam } from './iam';
import { startLocalSts, type LocalSts } from './sts';
import type { KnownKey } from './verify';
import { writeConfig } from '../../lambda/config/provider';

export const READY_PREFIX = 'sentinel-tvm local: ready at ';
const DEFAULT_TABLE = 'sentinel-tvm-local-sessions';
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'];
const DEFAULT_ENFORCE_EVERY_SECONDS = 60;
const REVOKE_ROUTE = 'POST /sessions/{id}/revoke';
/** Routes that can end a grant early as a revocation (owner_ended, approval_withdrawn), when the answer says so. */
const GRANT_END_ROUTES: Readonly<Record<string, 'Session' | 'Request'>> = {
  'DELETE /sessions/{id}': 'Session',
  'POST /requests/{id}/withdraw': 'Request',
};

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

/** The bundled enforcer, beside the vending handler. */
export function enforcerBundlePath(bundleDir: string = __dirname): string {
  return path.join(bundleDir, '..', '..', 'lambda', 'enforcer.lambda', 'index.js');
}

/** The bundled access function (requests, approvals, break-glass, reviews), beside the vending handler. */
export function accessBundlePath(bundleDir: string = __dirname): string {
  return path.join(bundleDir, '..', '..', 'lambda', 'access.lambda', 'index.js');
}

/** Whether an answer of a grant-ending route says the grant is now revoked (its credentials, if any, are to be denied). */
function endedAsRevoked(result: any, wrapper: 'Session' | 'Request'): boolean {
  try {
    return JSON.parse(String(result?.body ?? ''))?.[wrapper]?.status === 'revoked';
  } catch {
    return false;
  }
}

/** The bundled session events function, beside the vending handler. */
export function eventsBundlePath(bundleDir: string = __dirname): string {
  return path.join(bundleDir, '..', '..', 'lambda', 'events.lambda', 'index.js');
}

/** One line of local mode's output for a delivered event: its detail-type and its detail, compact. */
export function eventLine(event: DeliveredEvent): string {
  return `event: ${event['detail-type']} ${JSON.stringify(event.detail)}`;
}

/**
 * What a Lambda function of local mode gets besides its own variables: its role's made-up credentials, the endpoints
 * given, any other service nowhere rather than AWS, and nothing of this machine's AWS configuration.
 */
function functionEnvironment(region: string, key: { accessKeyId: string; known: KnownKey }, endpoints: Record<string, string>,
  service: string, logLevel: string): Record<string, string> {
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.known.secretAccessKey,
    AWS_SESSION_TOKEN: key.known.sessionToken!,
    ...endpoints,
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(os.tmpdir(), 'sentinel-tvm-local-no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(os.tmpdir(), 'sentinel-tvm-local-no-aws-credentials'),
    POWERTOOLS_SERVICE_NAME: service,
    POWERTOOLS_LOG_LEVEL: logLevel,
    POWERTOOLS_METRICS_DISABLED: 'true',
    // Lambda runs it on a newer Node.js than local mode may: the SDK's warning about this one is not the function's.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Made-up credentials of a role session that this process holds for itself (a Lambda's), known to the local STS and IAM. */
function sessionKey(account: string, roleArn: string, sessionName: string): { accessKeyId: string; known: KnownKey } {
  const roleName = roleArn.split('/').pop();
  return {
    accessKeyId: `ASIALOCAL${randomBytes(6).toString('hex').toUpperCase()}`,
    known: {
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(60).toString('base64'),
      arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`,
      principalArn: roleArn,
      roleArn,
      issuedAt: new Date(),
    },
  };
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
    'enforce-every': 'value',
    'events-file': 'value',
  }, [], 'sentinel-tvm local');
  if (!a.values.config) throw usageError('--config FILE is required: principals, profiles and settings (see examples/local/config.json)');
  const port = integerOption('port', a.values.port, 0, 65535) ?? 0;
  const stsPort = integerOption('sts-port', a.values['sts-port'], 0, 65535) ?? 0;
  const table = a.values.table ?? DEFAULT_TABLE;
  if (!/^[a-zA-Z0-9_.-]{3,255}$/.test(table)) throw usageError(`--table "${table}" is not a DynamoDB table name`);
  const logLevel = (a.values['log-level'] ?? 'INFO').toUpperCase();
  if (!LOG_LEVELS.includes(logLevel)) throw usageError(`--log-level "${a.values['log-level']}": expected one of ${LOG_LEVELS.join(', ')}`);
  const enforceEvery = integerOption('enforce-every', a.values['enforce-every'], 1, 86400) ?? DEFAULT_ENFORCE_EVERY_SECONDS;
  const ddbEndpoint = a.values['dynamodb-endpoint'];
  if (ddbEndpoint !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(ddbEndpoint)) {
    throw usageError(`--dynamodb-endpoint "${ddbEndpoint}": expected a URL like http://127.0.0.1:8000`);
  }
  if (ddbEndpoint !== undefined && a.values['data-dir'] !== undefined) {
    throw usageError('--data-dir and --dynamodb-endpoint do not go together: the data lives with that endpoint');
  }
  const config = loadConfigFile(path.resolve(a.values.config));
  const dataDir = path.resolve(a.values['data-dir'] ?? defaultDataDir(io.env));
  const eventsFile = path.resolve(a.values['events-file'] ?? path.join(dataDir, 'events.jsonl'));
  const handlerPath = handlerBundlePath();
  const enforcerPath = enforcerBundlePath();
  const eventsPath = eventsBundlePath();
  const accessPath = accessBundlePath();
  const gated = config.profiles.filter(isGated).map((p) => p.name);
  const bundles = [['vending handler', handlerPath], ['enforcer', enforcerPath], ['events function', eventsPath]];
  if (gated.length > 0) bundles.push(['access function', accessPath]);
  for (const [what, file] of bundles) {
    if (!fs.existsSync(file)) throw new CliError(ExitCode.LOCAL, `the bundled ${what} is missing at ${file}: build it with \`npx projen bundle\``);
  }
  const say = (line: string) => io.err(`sentinel-tvm local: ${line}\n`);
  /** A line of the running emulation, shown at --log-level or finer. */
  const sayAt = (level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR', line: string) => {
    if (LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(logLevel)) say(line);
  };

  const started: { stop(): Promise<void> }[] = [];
  let dynamo: RunningDynamoDb | undefined;
  let eventsStarting: Promise<void> | undefined;
  const killJava = () => dynamo?.kill();
  process.once('exit', killJava);
  const stopAll = async () => {
    // A start still under way joins `started` first, so that it is stopped too.
    await eventsStarting?.catch(() => undefined);
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

    // The TVM's own credentials and its enforcer's: made up for this run, known only to this process, its STS and IAM.
    const accounts = new LocalAccounts(config);
    const names = accounts.names;
    const account = names.tvmAccount;
    const tvmKey = sessionKey(account, names.executionRoleArn, LOCAL_TVM_NAME);
    const enforcerKey = sessionKey(account, names.enforcerRoleArn, `${LOCAL_TVM_NAME}-enforcer`);
    // The access function signs as the execution role too: the local IAM grants that role GetRole on Identity Center's path
    // (the construct gives the access function a role of its own; here one role stands for both).
    const accessKey = sessionKey(account, names.executionRoleArn, `${LOCAL_TVM_NAME}-access`);
    const keys = new Map<string, KnownKey>([
      [tvmKey.accessKeyId, tvmKey.known],
      [enforcerKey.accessKeyId, enforcerKey.known],
      ...(gated.length > 0 ? [[accessKey.accessKeyId, accessKey.known] as [string, KnownKey]] : []),
      ...config.principals.map((p) => [p.accessKeyId, { secretAccessKey: p.secretAccessKey, arn: p.arn }] as [string, KnownKey]),
    ]);
    const sts: LocalSts = await startLocalSts({
      region: config.region,
      port: stsPort,
      keys,
      roles: accounts.trustPolicies(),
      authorize: (caller, action, resource) => accounts.decide(caller, action, resource),
      // Sessions' UserId (`AROA…:<session>`) carries their role's id, which the access function compares with GetRole's.
      roleIdOf: (roleAccount, roleName) => accounts.roleIdOf(roleAccount, roleName),
      log: (line) => say(`sts: ${line}`),
    });
    started.push(sts);
    const lookup = (id: string) => keys.get(id) ?? sts.issued.get(id);
    const iam = await startLocalIam({
      region: config.region,
      accounts,
      lookup,
      // Writes (and refusals) are what shows where a deny went, and who wrote it.
      log: (c) => sayAt(c.action.startsWith('Get') || c.action.startsWith('List') ? (c.status === 200 || c.status === 404 ? 'DEBUG' : 'WARN') : 'INFO',
        `iam: ${c.action} ${c.roleName ?? '(no role)'}${c.policyName ? ` ${c.policyName}` : ''} in ${c.account} by ${c.caller}: ${c.status}`
        + `${c.code ? ` ${c.code}` : ''}`),
    });
    started.push(iam);
    const aws = await startLocalAws({ region: config.region, accounts, lookup, log: (line) => sayAt('INFO', `aws: ${line}`) });
    started.push(aws);

    // The account's default bus: each event the events function or the enforcer puts is printed and appended to the file.
    try {
      fs.mkdirSync(path.dirname(eventsFile), { recursive: true, mode: 0o700 });
      fs.appendFileSync(eventsFile, '', { mode: 0o600 });
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new CliError(ExitCode.LOCAL, `cannot write the events file ${eventsFile}: ${why}`);
    }
    let eventsFileFailed = false;
    const eventBridge = await startLocalEventBridge({
      account,
      region: config.region,
      log: (line) => sayAt('WARN', `eventbridge: ${line}`),
      onEvent: (event) => {
        sayAt('INFO', eventLine(event));
        try {
          fs.appendFileSync(eventsFile, `${JSON.stringify(event)}\n`);
        } catch (err) {
          const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          if (!eventsFileFailed) say(`cannot append to the events file ${eventsFile}: ${why}`);
          eventsFileFailed = true;
        }
      },
    });
    started.push(eventBridge);

    // The enforcer, with the environment the construct gives its Lambda and nothing of this process's.
    const enforcerDdb = localDynamoClient(endpoint, config.region);
    started.push({ stop: async () => enforcerDdb.destroy() });
    const enforcer: LocalEnforcer = startLocalEnforcer({
      bundle: enforcerPath,
      region: config.region,
      account,
      tableName: table,
      ddb: enforcerDdb,
      log: (line, level) => sayAt(level, `enforcer: ${line}`),
      env: {
        ...enforcerEnvironment(names, {
          tableName: table,
          controlTableName: controlTable,
          configDigest,
          stackId: `arn:aws:cloudformation:${config.region}:${account}:stack/${LOCAL_TVM_NAME}/00000000-0000-4000-8000-000000000000`,
          spokeAccounts: config.spokeAccounts,
        }),
        ...functionEnvironment(config.region, enforcerKey, {
          AWS_ENDPOINT_URL_DYNAMODB: endpoint,
          AWS_ENDPOINT_URL_IAM: iam.endpoint,
          AWS_ENDPOINT_URL_STS: sts.endpoint,
          AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
        }, `${LOCAL_TVM_NAME}-enforcer`, logLevel),
      },
    });
    started.push(enforcer);
    // A first run at once: a restart on the same data enforces what the table holds without waiting for the schedule.
    enforcer.schedule();
    const timer = setInterval(() => enforcer.schedule(), enforceEvery * 1000);
    started.push({ stop: async () => clearInterval(timer) });

    // The events function on the session table's stream, with the environment the construct gives its Lambda.
    const eventsDdb = localDynamoClient(endpoint, config.region);
    started.push({ stop: async () => eventsDdb.destroy() });
    const eventsKey = sessionKey(account, `arn:aws:iam::${account}:role/sentinel-tvm-runtime/${LOCAL_TVM_NAME}/events`, `${LOCAL_TVM_NAME}-events`);
    // Its stream is opened while the handler loads; awaited before the front door opens, so that no change is missed.
    eventsStarting = startLocalEvents({
      bundle: eventsPath,
      region: config.region,
      account,
      tableName: table,
      ddb: eventsDdb,
      endpoint,
      log: (line, level) => sayAt(level, `events: ${line}`),
      env: {
        ...eventsEnvironment(),
        ...functionEnvironment(config.region, eventsKey, { AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint },
          `${LOCAL_TVM_NAME}-events`, logLevel),
      },
    }).then((events) => {
      started.push(events);
    }, (err) => {
      if (err instanceof CliError) throw err;
      throw new CliError(ExitCode.LOCAL, `cannot read the stream of the session table ${table} at ${endpoint}: `
        + `${(err as Error).name}: ${(err as Error).message}`);
    });
    // Awaited below; a failure of the start meanwhile must not also report it as unhandled.
    eventsStarting.catch(() => undefined);

    // The front door's port is fixed first: identity proofs name its host, and the handler learns it at load time.
    const doorPort = port || await freePort();
    const vendEnvironment = handlerEnvironment(config, {
      tableName: table, controlTableName: controlTable, configDigest, audiences: [`127.0.0.1:${doorPort}`, `localhost:${doorPort}`],
    });
    // The access function, as the construct deploys it with the first gated profile: its own environment and worker.
    let access: LocalAccess | undefined;
    if (gated.length > 0) {
      access = startLocalAccess({
        bundle: accessPath,
        region: config.region,
        account,
        env: {
          ...accessEnvironment(vendEnvironment, account),
          ...functionEnvironment(config.region, accessKey, {
            AWS_ENDPOINT_URL_DYNAMODB: endpoint,
            AWS_ENDPOINT_URL_STS: sts.endpoint,
            AWS_ENDPOINT_URL_IAM: iam.endpoint,
          }, LOCAL_TVM_NAME, logLevel),
        },
        // Its decision log goes where the vending handler's goes: stdout.
        logLine: (line) => io.out(`${line}\n`),
        log: (line, level) => sayAt(level, `access: ${line}`),
      });
      started.push(access);
    }
    // The handler reads its configuration once, at load time, from the environment, as in Lambda.
    Object.assign(process.env, {
      ...vendEnvironment,
      AWS_REGION: config.region,
      AWS_DEFAULT_REGION: config.region,
      AWS_ACCESS_KEY_ID: tvmKey.accessKeyId,
      AWS_SECRET_ACCESS_KEY: tvmKey.known.secretAccessKey,
      AWS_SESSION_TOKEN: tvmKey.known.sessionToken!,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_STS: sts.endpoint,
      POWERTOOLS_SERVICE_NAME: 'sentinel-tvm-local',
      POWERTOOLS_LOG_LEVEL: logLevel,
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    for (const name of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) delete process.env[name];
    let vend: Handler;
    try {
      vend = createRequire(__filename)(handlerPath).handler;
    } catch (err) {
      throw new CliError(ExitCode.LOCAL, `cannot load the vending handler ${handlerPath}: ${(err as Error).message}`);
    }
    if (typeof vend !== 'function') throw new CliError(ExitCode.LOCAL, `${handlerPath} exports no handler function`);
    // The access routes go to the access function when there is one (as the construct routes them); all else to the handler.
    // Standing in for the session table's stream: a revocation the API accepted reaches the enforcer at once.
    const handler: Handler = async (event: any, context) => {
      const routeKey = String(event?.routeKey ?? '');
      const result = access && ACCESS_ROUTE_KEYS.has(routeKey) ? await access.handler(event, context) : await vend(event, context);
      const id = event?.pathParameters?.id;
      if (result?.statusCode !== 200 || typeof id !== 'string') return result;
      if (routeKey === REVOKE_ROUTE) {
        enforcer.revoked(id);
        // Blocking the principal revoked its other sessions too: their records would follow on the stream.
        if (/"revoked_sessions":[1-9]/.test(String(result.body ?? ''))) enforcer.schedule();
      } else if (GRANT_END_ROUTES[routeKey] && endedAsRevoked(result, GRANT_END_ROUTES[routeKey])) {
        enforcer.revoked(id);
      }
      return result;
    };

    await eventsStarting;

    const principalKeys = new Map(config.principals.map((p) => [p.accessKeyId, keys.get(p.accessKeyId)!]));
    const door: FrontDoor = await startFrontDoor({
      region: config.region,
      accountId: account,
      port: doorPort,
      // Principals of the config file and credentials vended by the local STS may call, as IAM principals could.
      lookup: (id) => principalKeys.get(id) ?? sts.issued.get(id),
      handler,
      authorize: (key, request) => {
        const resource = `arn:aws:execute-api:${config.region}:${account}:local/$default/${request.method}${request.path}`;
        const callerAccount = key.arn.split(':')[4];
        // An HTTP API has no resource policy to let another account in: IAM refuses a caller of another account.
        if (callerAccount !== account) {
          return `User: ${key.arn} is not authorized to perform: execute-api:Invoke on resource: ${resource}: the API is in account ${account}, `
            + `and an HTTP API has no resource policy to admit account ${callerAccount}; assume a caller role of account ${account} instead`;
        }
        if (accounts.decide(key, 'execute-api:Invoke', resource).decision === 'ExplicitlyDenied') {
          return explicitDenyMessage(key.arn, 'execute-api:Invoke', resource);
        }
        return undefined;
      },
      log: (line) => say(line),
    });
    started.push(door);

    say(`TVM account ${account}${config.spokeAccounts.length ? `; spoke accounts ${config.spokeAccounts.join(', ')}` : ''}`);
    say(`protected roles: ${config.profiles.map((p) => `${p.roleArn}${p.unenforced ? ' (issued credentials survive revocation)' : ''}`).join(', ')}`);
    for (const c of config.callerRoles) say(`caller role ${c.roleArn} trusts ${c.trusted.join(', ')}`);
    say(`enforcer ${names.enforcerRoleArn}: after each revocation and every ${enforceEvery} s; `
      + 'local roles have no grants of their own (everything is allowed but what their inline policies deny)');
    say(`session events: the events function reads the session table's stream; each event is printed here and appended to ${eventsFile}`);
    if (config.introspectionPrincipals.length > 0) say(`relying parties (POST /introspect): ${config.introspectionPrincipals.join(', ')}`);
    for (const p of config.principals) say(`principal ${p.accessKeyId} is ${p.arn}`);
    say(`profiles: ${config.profiles.map((p) => p.name).join(', ')}; signing region ${config.region}`);
    if (gated.length > 0) {
      say(`access function (requests, approvals, break-glass, reviews) for the gated profiles ${gated.join(', ')}; it proves Identity Center `
        + `callers with GetRole at the local IAM as ${names.executionRoleArn}`);
    }
    checkSignal();
    // Machine-readable lines on stdout, the ready line last: whoever waits for it has both URLs.
    io.out(`sentinel-tvm local: STS at ${sts.endpoint}/\n`);
    io.out(`sentinel-tvm local: IAM at ${iam.endpoint}/\n`);
    io.out(`sentinel-tvm local: AWS at ${aws.endpoint}/\n`);
    io.out(`sentinel-tvm local: EventBridge at ${eventBridge.endpoint}/\n`);
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
