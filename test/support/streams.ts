// Reads DynamoDB Local's stream of a table with the real DynamoDB Streams API, and hands back records shaped
// like those of a Lambda DynamoDB stream event; applies an event source mapping's filter criteria as Lambda would.
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand, type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { endpoint } from './dynamodb-local';
import { matchesStreamFilters } from '../../src/shared/session-stream';

const FAKE_CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' };
const REGION = 'us-east-1';

export interface TableStream {
  readonly streamArn: string;
  /** Records written since the previous call (the first call: since the stream began), in order per shard. */
  read(): Promise<DynamoDBRecord[]>;
  /** Forgets everything written so far: the next `read()` returns only newer records. */
  skip(): Promise<void>;
  close(): void;
}

export async function openTableStream(ddb: DynamoDBClient, tableName: string, url: string = endpoint()): Promise<TableStream> {
  const table = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream`);
  const client = new DynamoDBStreamsClient({ region: REGION, endpoint: url, credentials: FAKE_CREDENTIALS, maxAttempts: 3 });
  /** Shard id → the iterator to continue from (undefined once a closed shard is drained). */
  const iterators = new Map<string, string | undefined>();

  const read = async (): Promise<DynamoDBRecord[]> => {
    const shards = [];
    let start: string | undefined;
    do {
      const out = await client.send(new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }));
      shards.push(...out.StreamDescription?.Shards ?? []);
      start = out.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    // Parents first, so that the order of changes to one item is kept across a shard split.
    const ordered = shards.sort((a, b) => (a.SequenceNumberRange?.StartingSequenceNumber ?? '')
      .localeCompare(b.SequenceNumberRange?.StartingSequenceNumber ?? '', undefined, { numeric: true }));
    const records: DynamoDBRecord[] = [];
    for (const shard of ordered) {
      const id = shard.ShardId!;
      if (!iterators.has(id)) {
        const it = await client.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: id, ShardIteratorType: 'TRIM_HORIZON' }));
        iterators.set(id, it.ShardIterator);
      }
      let iterator = iterators.get(id);
      while (iterator) {
        const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        records.push(...(out.Records ?? []).map((r) => lambdaRecord(r, streamArn)));
        iterator = out.NextShardIterator;
        iterators.set(id, iterator);
        if (!out.Records?.length) break; // an open shard always has a next iterator: stop at its end for now
      }
    }
    return records;
  };
  return {
    streamArn,
    read,
    skip: async () => { await read(); },
    close: () => client.destroy(),
  };
}

/** The record as Lambda's event source mapping delivers it (epoch seconds, `eventSourceARN`). */
function lambdaRecord(r: StreamRecord, streamArn: string): DynamoDBRecord {
  const d = r.dynamodb ?? {};
  const created = d.ApproximateCreationDateTime;
  return {
    eventID: r.eventID,
    eventName: r.eventName as DynamoDBRecord['eventName'],
    eventVersion: r.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: r.awsRegion ?? REGION,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      Keys: d.Keys as any,
      ...(d.NewImage ? { NewImage: d.NewImage as any } : {}),
      ...(d.OldImage ? { OldImage: d.OldImage as any } : {}),
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType as any,
    },
    eventSourceARN: streamArn,
  };
}

/**
 * The filter criteria of an AWS::Lambda::EventSourceMapping (a template's `FilterCriteria.Filters[].Pattern`),
 * as a predicate on records: a record passes when any pattern matches. Supports what event patterns of stream
 * filters use here (lists of exact values, `anything-but`, `exists`); anything else throws rather than guessing.
 */
export function eventSourceFilter(filters: { Pattern: string }[]): (record: DynamoDBRecord) => boolean {
  const patterns = filters.map((f) => JSON.parse(f.Pattern));
  return (record) => matchesStreamFilters(patterns, record);
}
