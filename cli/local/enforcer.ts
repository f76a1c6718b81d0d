// The revocation enforcer of local mode: the real bundled enforcer (assets/lambda/enforcer.lambda/index.js) in a worker
// thread with an environment of its own, as the construct configures the Lambda. Local mode stands in for what invokes
// it in AWS: the session table's stream (a record of a revoked session, after the API answered the revocation) and
// the schedule. One invocation at a time, records that queue meanwhile going as one batch, as a stream delivers them.
import { randomUUID } from 'crypto';
import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LOCAL_TVM_NAME, type LocalNames } from './accounts';
import { startLambdaWorker, type LocalFunctionOptions } from './lambda-worker';
import { Attr, EnforcerTiming, Env } from '../../src/shared/contract';

/** Where the enforcer's tables are. */
export interface EnforcerDeployment {
  readonly tableName: string;
  readonly controlTableName: string;
  readonly configDigest: string;
  /** The function's own stack (an ARN). */
  readonly stackId: string;
  /** The spoke accounts of the config. */
  readonly spokeAccounts: readonly string[];
}

/** The enforcer Lambda's `SENTINEL_*` environment, as the construct sets it. */
export function enforcerEnvironment(names: LocalNames, d: EnforcerDeployment): Record<string, string> {
  return {
    [Env.TABLE_NAME]: d.tableName,
    [Env.CONTROL_TABLE_NAME]: d.controlTableName,
    [Env.CONFIG_DIGEST]: d.configDigest,
    [Env.REVOKED_POLICY_NAME]: names.policyName,
    [Env.PROTECTED_ROLE_PATH]: names.protectedRolePath,
    [Env.STACK_ID]: d.stackId,
    [Env.SPOKE_ROLE]: names.spokeRole,
    // As the construct sets it: sorted, distinct, comma-separated (empty when none).
    [Env.SPOKE_ACCOUNTS]: [...new Set(d.spokeAccounts)].sort().join(','),
    // Its events name the TVM; no bus given: the account's default bus (local mode's EventBridge).
    [Env.TVM_NAME]: LOCAL_TVM_NAME,
  };
}

export interface LocalEnforcerOptions extends LocalFunctionOptions {
  /** Reads the revoked session's item for the stream record. */
  readonly ddb: DynamoDBClient;
  /** The enforcer's own log lines, and local mode's lines about its invocations. */
  readonly log: (line: string, level: 'INFO' | 'WARN' | 'ERROR') => void;
}

export interface LocalEnforcer {
  /** A stream record of this session's item, as the table's stream would deliver after a revocation. */
  revoked(sessionId: string): void;
  /** A schedule-shaped invocation (EventBridge), coalesced with one already waiting. */
  schedule(): void;
  stop(): Promise<void>;
}

type Item = Record<string, AttributeValue>;
type Job = { kind: 'stream'; items: Item[] } | { kind: 'schedule' };

const TIMEOUT_MS = EnforcerTiming.TIMEOUT_SECONDS * 1000;

export function startLocalEnforcer(options: LocalEnforcerOptions): LocalEnforcer {
  const functionName = 'sentinel-tvm-local-enforcer';
  const functionArn = `arn:aws:lambda:${options.region}:${options.account}:function:${functionName}`;
  let waiting: Job[] = [];
  let running: Promise<void> | undefined;
  let stopped = false;
  // Warm at once: the first revocation does not wait for the bundle to load.
  const fn = startLambdaWorker({ bundle: options.bundle, env: options.env, functionName, functionArn, timeoutMs: TIMEOUT_MS, log: options.log });

  const eventOf = (job: Job): unknown => {
    const time = new Date();
    if (job.kind === 'schedule') {
      return {
        'version': '0',
        'id': randomUUID(),
        'detail-type': 'Scheduled Event',
        'source': 'aws.events',
        'account': options.account,
        'time': time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        'region': options.region,
        'resources': [`arn:aws:events:${options.region}:${options.account}:rule/${functionName}-schedule`],
        'detail': {},
      };
    }
    const streamArn = `arn:aws:dynamodb:${options.region}:${options.account}:table/${options.tableName}/stream/local`;
    return {
      Records: job.items.map((item, i) => ({
        eventID: randomUUID().replace(/-/g, ''),
        eventName: 'MODIFY',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: options.region,
        dynamodb: {
          ApproximateCreationDateTime: Math.floor(time.getTime() / 1000),
          Keys: { [Attr.ID]: item[Attr.ID] },
          NewImage: item,
          SequenceNumber: String(time.getTime() * 1000 + i),
          SizeBytes: JSON.stringify(item).length,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
        eventSourceARN: streamArn,
      })),
    };
  };

  const pump = () => {
    if (running || stopped) return;
    if (waiting.length === 0) return;
    // Stream records waiting together go as one batch; a schedule after them.
    const streams = waiting.filter((j): j is Extract<Job, { kind: 'stream' }> => j.kind === 'stream');
    const job: Job = streams.length > 0 ? { kind: 'stream', items: streams.flatMap((j) => j.items) } : waiting[0];
    waiting = streams.length > 0 ? waiting.filter((j) => j.kind !== 'stream') : waiting.slice(1);
    running = (async () => {
      const outcome = await fn.invoke(eventOf(job));
      // A failed stream batch is retried in AWS; here the schedule recomputes every role. Local mode goes on either way.
      if (!outcome.ok) {
        options.log(`the enforcer's ${job.kind} invocation failed: ${outcome.error}${job.kind === 'stream' ? ' (the schedule will retry)' : ''}`, 'WARN');
      }
    })().finally(() => {
      running = undefined;
      pump();
    });
  };

  return {
    revoked: (sessionId) => {
      void (async () => {
        try {
          const key = { [Attr.ID]: { S: sessionId } };
          const out = await options.ddb.send(new GetItemCommand({ TableName: options.tableName, Key: key, ConsistentRead: true }));
          if (!out.Item) return;
          waiting.push({ kind: 'stream', items: [out.Item] });
          pump();
        } catch (err) {
          options.log(`cannot read session ${sessionId} for the enforcer's stream record: ${(err as Error).name}: ${(err as Error).message}`, 'WARN');
        }
      })();
    },
    schedule: () => {
      if (!waiting.some((j) => j.kind === 'schedule')) waiting.push({ kind: 'schedule' });
      pump();
    },
    stop: async () => {
      stopped = true;
      waiting = [];
      await fn.stop();
    },
  };
}
