import { randomUUID } from 'crypto';
import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Attr, ENFORCER_LEASE_ITEM_ID, EnforcerTiming, LeaseAttr } from '../../src/shared/contract';

/**
 * One enforcer run at a time, without reserved concurrency: a lease item in the control table. Two runs that each read
 * the table and a role's policy, then write it, would otherwise race: A reads {R1}, B reads {R1, R2} and writes, then A
 * writes {R1}, and R2's credentials work again until the next run. A run takes the lease before it reads anything.
 */
export interface EnforcerLease {
  /**
   * Takes the lease, waiting at most `maxWaitMs` while another run holds it; resolves to the function that releases it.
   * Rejects with {@link LeaseBusyError} when the wait runs out first.
   */
  acquire(maxWaitMs: number): Promise<() => Promise<void>>;
}

/** The lease was still held when the run's time to wait ran out. */
export class LeaseBusyError extends Error {
  constructor(public readonly heldUntil: number | undefined) {
    super(`another enforcer run holds the lease${heldUntil === undefined ? '' : ` until ${new Date(heldUntil).toISOString()}`}: `
      + 'gave up waiting (a stream batch is retried; the schedule recomputes every role)');
    this.name = 'LeaseBusyError';
  }
}

export interface DynamoLeaseOptions {
  readonly ddb: DynamoDBClient;
  /** The control table. */
  readonly tableName: string;
  /** How long a hold lasts: longer than the function's timeout. @default EnforcerTiming.LEASE_SECONDS */
  readonly durationMs?: number;
  /** Epoch ms. Containers compare their own clocks (NTP-synchronized): the lease outlasts the timeout by 30 s. @default Date.now */
  readonly clock?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called when the release went wrong (the lease then lapses by itself). */
  readonly warn?: (message: string, fields: Record<string, unknown>) => void;
}

/** First wait after finding the lease held; doubled on each try, up to {@link MAX_BACKOFF_MS}. */
export const INITIAL_BACKOFF_MS = 50;
export const MAX_BACKOFF_MS = 1_000;

const sleeper = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isConditionFailed = (err: unknown) => (err as Error)?.name === 'ConditionalCheckFailedException';

/** The lease as a conditional PutItem (free or lapsed) and a conditional DeleteItem (still ours). */
export function dynamoLease(options: DynamoLeaseOptions): EnforcerLease {
  const { ddb, tableName } = options;
  const durationMs = options.durationMs ?? EnforcerTiming.LEASE_SECONDS * 1000;
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? sleeper;
  const key = { [Attr.ID]: { S: ENFORCER_LEASE_ITEM_ID } };

  const release = (owner: string) => async () => {
    try {
      await ddb.send(new DeleteItemCommand({
        TableName: tableName,
        Key: key,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': LeaseAttr.OWNER },
        ExpressionAttributeValues: { ':owner': { S: owner } },
      }));
    } catch (err) {
      // Not ours any more (it lapsed and another run took it) or DynamoDB failed: either way it lapses on its own.
      options.warn?.('enforcer lease not released', { owner, error: `${(err as Error)?.name}: ${(err as Error)?.message}` });
    }
  };

  return {
    acquire: async (maxWaitMs) => {
      const deadline = clock() + maxWaitMs;
      const owner = randomUUID();
      let backoff = INITIAL_BACKOFF_MS;
      for (;;) {
        const now = clock();
        try {
          await ddb.send(new PutItemCommand({
            TableName: tableName,
            Item: { ...key, [LeaseAttr.OWNER]: { S: owner }, [LeaseAttr.EXPIRES_AT_MS]: { N: String(now + durationMs) } },
            ConditionExpression: 'attribute_not_exists(#id) OR #exp < :now',
            ExpressionAttributeNames: { '#id': Attr.ID, '#exp': LeaseAttr.EXPIRES_AT_MS },
            ExpressionAttributeValues: { ':now': { N: String(now) } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }));
          return release(owner);
        } catch (err) {
          if (!isConditionFailed(err)) throw err;
          const heldUntil = Number((err as { Item?: Record<string, { N?: string }> }).Item?.[LeaseAttr.EXPIRES_AT_MS]?.N);
          const known = Number.isFinite(heldUntil) ? heldUntil : undefined;
          if (now >= deadline) throw new LeaseBusyError(known);
          // Never past the holder's expiry: a crashed holder costs at most the rest of its lease.
          const untilFree = known === undefined ? backoff : Math.max(0, known - now) + 1;
          await sleep(Math.max(1, Math.min(Math.round(backoff * (0.5 + Math.random() / 2)), untilFree, deadline - now)));
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    },
  };
}

/** What a run keeps of its time for the work itself (and, for a custom resource, its answer) after waiting for the lease. */
export const WORK_RESERVE_MS = 20_000;
/** The wait when the invocation tells no remaining time (tests, local runs). */
export const DEFAULT_WAIT_MS = (EnforcerTiming.TIMEOUT_SECONDS * 1000) - WORK_RESERVE_MS;

/** How long a run may wait for the lease: its remaining time minus {@link WORK_RESERVE_MS}. */
export function leaseWaitMs(context?: { getRemainingTimeInMillis?: () => number }): number {
  const remaining = context?.getRemainingTimeInMillis?.();
  return typeof remaining === 'number' ? Math.max(0, remaining - WORK_RESERVE_MS) : DEFAULT_WAIT_MS;
}

/** Runs `work` holding the lease, and releases it whatever happens; without a lease, just runs it. */
export async function withLease<T>(lease: EnforcerLease | undefined, maxWaitMs: number, work: () => Promise<T>): Promise<T> {
  if (!lease) return work();
  const release = await lease.acquire(maxWaitMs);
  try {
    return await work();
  } finally {
    await release();
  }
}
