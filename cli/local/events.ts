// The session events function of local mode: the real bundled events function (assets/lambda/events.lambda/index.js) in a
// worker thread, fed by DynamoDB Local's real stream of the session table, read with the DynamoDB Streams API as Lambda's
// event source mapping reads it (the construct's: starting at LATEST, batches of up to 100, its filter criteria, failed
// records named in batchItemFailures delivered again from the first of them, the records after them waiting, until a
// record is 6 hours old).
import { DescribeTableCommand, UpdateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand, type _Record as StreamRecord, type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { LOCAL_TVM_NAME } from './accounts';
import { LOCAL_DYNAMODB_CREDENTIALS } from './dynamodb';
import { startLambdaWorker, type LocalFunctionOptions, type LogLevel } from './lambda-worker';
import { Env } from '../../src/shared/contract';
import { matchesStreamFilters, SESSION_STREAM_FILTERS } from '../../src/shared/session-stream';
import { CliError, ExitCode } from '../errors';

/** The events function's `SENTINEL_*` environment, as the construct sets it: the TVM's name; no bus, so the default bus. */
export function eventsEnvironment(): Record<string, string> {
  return { [Env.TVM_NAME]: LOCAL_TVM_NAME };
}

/** The construct's event source mapping (src/private/session-events.ts). */
export const EventSourceMapping = {
  BATCH_SIZE: 100,
  /** No retry limit: a record is delivered again until it is this old (maxRecordAge). */
  MAX_RECORD_AGE_MS: 6 * 3600 * 1000,
  TIMEOUT_MS: 30_000,
  /** The longest pause between two deliveries of a failed batch. */
  MAX_BACKOFF_MS: 5_000,
  /** How often local mode reads the stream. */
  POLL_MS: 250,
} as const;

export interface LocalEventsOptions extends LocalFunctionOptions {
  /** DynamoDB (Local), for the table's stream. */
  readonly ddb: DynamoDBClient;
  readonly endpoint: string;
  readonly log: (line: string, level: LogLevel) => void;
  /** @default EventSourceMapping.POLL_MS */
  readonly pollMs?: number;
  /** @default EventSourceMapping.MAX_RECORD_AGE_MS */
  readonly maxRecordAgeMs?: number;
}

export interface LocalEvents {
  readonly streamArn: string;
  stop(): Promise<void>;
}

/** A record as Lambda's event source mapping delivers it (epoch seconds, `eventSourceARN`). */
type LambdaRecord = Record<string, any> & { dynamodb: { SequenceNumber?: string; [field: string]: unknown } };

/** Whether a record passes the construct's filter criteria (src/shared/session-stream.ts): Lambda drops the others. */
export function passesFilters(record: Pick<StreamRecord, 'eventName' | 'dynamodb'>): boolean {
  return matchesStreamFilters(SESSION_STREAM_FILTERS, record);
}

/** The session table's stream ARN; a table without a stream (one an older version made) gets one, as the construct declares it. */
async function sessionStreamOf(ddb: DynamoDBClient, tableName: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const table = (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
    const spec = table?.StreamSpecification;
    if (spec?.StreamEnabled && table?.LatestStreamArn) {
      if (spec.StreamViewType !== 'NEW_AND_OLD_IMAGES') {
        throw new CliError(ExitCode.LOCAL, `table ${tableName} has a ${spec.StreamViewType} stream: the session events need NEW_AND_OLD_IMAGES `
          + '(choose another --table)');
      }
      return table.LatestStreamArn;
    }
    if (attempt === 0) {
      await ddb.send(new UpdateTableCommand({
        TableName: tableName, StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }));
    } else if (attempt > 50) {
      throw new CliError(ExitCode.LOCAL, `table ${tableName} has no stream after enabling it`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads the stream from now on and starts the function; resolves once nothing written after it can be missed. */
export async function startLocalEvents(options: LocalEventsOptions): Promise<LocalEvents> {
  const functionName = 'sentinel-tvm-local-events';
  const streamArn = await sessionStreamOf(options.ddb, options.tableName);
  const streams = new DynamoDBStreamsClient({
    region: options.region, endpoint: options.endpoint, credentials: LOCAL_DYNAMODB_CREDENTIALS, maxAttempts: 2,
  });
  /** Per shard: the iterator to go on from, the last sequence number read, and whether it is drained (closed). */
  const shards = new Map<string, { iterator?: string; last?: string; done: boolean }>();
  let queue: LambdaRecord[] = [];
  /**
   * When each queued record was read: its age, as DynamoDB Local dates records to the minute only (AWS to the second),
   * which would make a fresh record look a minute old.
   */
  const readAt = new WeakMap<LambdaRecord, number>();
  let attempts = 0;
  let retryAt = 0;
  let lastProblem: string | undefined;
  let stopped = false;

  const listShards = async (): Promise<Shard[]> => {
    const all: Shard[] = [];
    let start: string | undefined;
    do {
      const out = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }));
      all.push(...out.StreamDescription?.Shards ?? []);
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    // Parents first, so that the changes of one item keep their order across a shard split.
    return all.sort((a, b) => (a.SequenceNumberRange?.StartingSequenceNumber ?? '')
      .localeCompare(b.SequenceNumberRange?.StartingSequenceNumber ?? '', undefined, { numeric: true }));
  };
  const iteratorOf = async (shardId: string, type: 'LATEST' | 'TRIM_HORIZON' | 'AFTER_SEQUENCE_NUMBER', after?: string) =>
    (await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: type, SequenceNumber: after })))
      .ShardIterator;

  // Starting position LATEST, as the construct's mapping: an open shard from now on, closed ones not at all.
  for (const shard of await listShards()) {
    const id = shard.ShardId!;
    if (shard.SequenceNumberRange?.EndingSequenceNumber) shards.set(id, { done: true });
    else shards.set(id, { iterator: await iteratorOf(id, 'LATEST'), done: false });
  }

  const read = async (): Promise<void> => {
    for (const shard of await listShards()) {
      const id = shard.ShardId!;
      // A shard that appeared since: all of it.
      let state = shards.get(id);
      if (!state) shards.set(id, state = { iterator: await iteratorOf(id, 'TRIM_HORIZON'), done: false });
      while (!state.done && state.iterator) {
        let out;
        try {
          out = await streams.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }));
        } catch (err) {
          const name = (err as Error).name;
          if (name !== 'ExpiredIteratorException' && name !== 'TrimmedDataAccessException') throw err;
          state.iterator = state.last ? await iteratorOf(id, 'AFTER_SEQUENCE_NUMBER', state.last) : await iteratorOf(id, 'TRIM_HORIZON');
          continue;
        }
        const records = out.Records ?? [];
        if (records.length) state.last = records[records.length - 1].dynamodb?.SequenceNumber ?? state.last;
        const now = Date.now();
        for (const r of records.filter(passesFilters)) {
          const record = lambdaRecord(r, streamArn, options.region);
          readAt.set(record, now);
          queue.push(record);
        }
        state.iterator = out.NextShardIterator;
        if (!state.iterator) state.done = true;
        if (records.length === 0) break; // an open shard always has a next iterator: its end, for now
      }
    }
  };

  const fn = startLambdaWorker({
    bundle: options.bundle,
    env: options.env,
    functionName,
    timeoutMs: EventSourceMapping.TIMEOUT_MS,
    log: options.log,
    // Loaded on the first change, not beside the other functions while local mode starts: an event can wait that long.
    warm: false,
    functionArn: `arn:aws:lambda:${options.region}:${options.account}:function:${functionName}`,
  });

  /** The batch's first record to deliver again: -1 when none, 0 for all (a failed invocation, an identifier not of the batch). */
  const firstFailed = (batch: LambdaRecord[], result: unknown): number => {
    const failures = (result as { batchItemFailures?: unknown } | undefined)?.batchItemFailures;
    if (!Array.isArray(failures) || failures.length === 0) return -1;
    const indexes = failures.map((f) => batch.findIndex((r) => r.dynamodb.SequenceNumber === (f as { itemIdentifier?: unknown })?.itemIdentifier));
    return indexes.some((i) => i < 0) ? 0 : Math.min(...indexes);
  };

  const maxAgeMs = options.maxRecordAgeMs ?? EventSourceMapping.MAX_RECORD_AGE_MS;
  /** Drops the records at the front that are too old to deliver, as Lambda does past maxRecordAge. */
  const dropExpired = () => {
    const now = Date.now();
    const fresh = queue.findIndex((r) => now - (readAt.get(r) ?? now) <= maxAgeMs);
    const count = fresh < 0 ? queue.length : fresh;
    if (count === 0) return;
    options.log(`events function: ${count} stream record(s) older than ${maxAgeMs / 1000} s skipped, never delivered: sequence numbers `
      + `${queue.slice(0, count).map((r) => r.dynamodb.SequenceNumber).join(', ')}`, 'ERROR');
    queue = queue.slice(count);
    attempts = 0;
  };

  const deliver = async (): Promise<void> => {
    while (!stopped && Date.now() >= retryAt) {
      dropExpired();
      if (queue.length === 0) return;
      const batch = queue.slice(0, EventSourceMapping.BATCH_SIZE);
      const outcome = await fn.invoke({ Records: batch });
      const from = outcome.ok ? firstFailed(batch, outcome.result) : 0;
      if (from < 0) {
        queue = queue.slice(batch.length);
        attempts = 0;
        continue;
      }
      attempts += 1;
      const why = outcome.ok ? `it reported ${batch.length - from} record(s) failed` : `its invocation failed: ${outcome.error}`;
      // The records after them wait: a shard's records are delivered in order.
      options.log(`events function: ${why}; delivering them again (retry ${attempts})`, 'WARN');
      queue = queue.slice(from);
      retryAt = Date.now() + Math.min(EventSourceMapping.MAX_BACKOFF_MS, attempts * (options.pollMs ?? EventSourceMapping.POLL_MS));
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const poll = () => {
    polling = (async () => {
      try {
        await read();
        if (lastProblem) options.log('the session table\'s stream is read again', 'INFO');
        lastProblem = undefined;
      } catch (err) {
        // Said once per kind of problem, not every poll.
        const problem = `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300);
        if (problem !== lastProblem) options.log(`cannot read the session table's stream: ${problem}`, 'WARN');
        lastProblem = problem;
      }
      await deliver();
    })().finally(() => {
      if (!stopped) timer = setTimeout(poll, options.pollMs ?? EventSourceMapping.POLL_MS);
    });
  };
  timer = setTimeout(poll, options.pollMs ?? EventSourceMapping.POLL_MS);

  return {
    streamArn,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await polling.catch(() => undefined);
      await fn.stop();
      streams.destroy();
    },
  };
}

function lambdaRecord(r: StreamRecord, streamArn: string, region: string): LambdaRecord {
  const d = r.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime;
  return {
    eventID: r.eventID,
    eventName: r.eventName,
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      Keys: d.Keys,
      ...(d.NewImage ? { NewImage: d.NewImage } : {}),
      ...(d.OldImage ? { OldImage: d.OldImage } : {}),
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType,
    },
    eventSourceARN: streamArn,
  };
}
