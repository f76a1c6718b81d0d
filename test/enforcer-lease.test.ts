// One enforcer run at a time without reserved concurrency: the lease item in the control table (DynamoDB Local), and
// the race it prevents: runs that read the table and a role's policy, then write it, each fed another revocation.
import { randomBytes } from 'crypto';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { createTableFromTemplate, localDynamoClient, uniqueTableName } from './support/dynamodb-local';
import { ACCOUNT, enforcerStack, logicalId, POLICY_NAME, PROTECTED_ROLE_PATH, removeEnforcerOutdirs } from './support/enforcer-stack';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { ALL_ROLES, createEnforcer, type EnforcerConfig } from '../lambda/enforcer/enforce';
import {
  dynamoLease, INITIAL_BACKOFF_MS, LeaseBusyError, leaseWaitMs, MAX_BACKOFF_MS, WORK_RESERVE_MS, type EnforcerLease,
} from '../lambda/enforcer/lease';
import { listedIds } from '../lambda/enforcer/policy';
import { Attr, ENFORCER_LEASE_ITEM_ID, EnforcerTiming, LeaseAttr } from '../src/shared/contract';

const ROLE = `arn:aws:iam::${ACCOUNT}:role${PROTECTED_ROLE_PATH}lease-ReadOnly`;
const CONFIG: EnforcerConfig = {
  profiles: new Map([['readonly', {
    name: 'readonly',
    roleArn: ROLE,
    allowedPrincipals: [`arn:aws:iam::${ACCOUNT}:user/alice`],
    maxDurationSeconds: 3600,
  }]]),
};
const LEASE_MS = EnforcerTiming.LEASE_SECONDS * 1000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let ddb: DynamoDBClient;
let tableName: string;
let controlTableName: string;
let iam: LocalIam;
/** Session items the tests wrote, deleted before the next test. */
const written: string[] = [];

beforeAll(async () => {
  ddb = localDynamoClient();
  const es = enforcerStack();
  tableName = await createTableFromTemplate(es.template, uniqueTableName('lease'), ddb, logicalId(es.table));
  controlTableName = await createTableFromTemplate(es.template, uniqueTableName('leasectl'), ddb, logicalId(es.controlTable));
  iam = await startLocalIam({ roles: [ROLE] });
});
afterAll(async () => {
  await iam?.stop();
  removeEnforcerOutdirs();
});
beforeEach(async () => {
  await ddb.send(new DeleteItemCommand({ TableName: controlTableName, Key: { [Attr.ID]: { S: ENFORCER_LEASE_ITEM_ID } } }));
  for (const id of written.splice(0)) await ddb.send(new DeleteItemCommand({ TableName: tableName, Key: { [Attr.ID]: { S: id } } }));
  for (const policies of iam.roles.values()) policies.clear();
  iam.calls.length = 0;
});

async function leaseItem(): Promise<{ owner: string; expiresAt: number } | undefined> {
  const out = await ddb.send(new GetItemCommand({
    TableName: controlTableName, Key: { [Attr.ID]: { S: ENFORCER_LEASE_ITEM_ID } }, ConsistentRead: true,
  }));
  return out.Item && { owner: out.Item[LeaseAttr.OWNER].S!, expiresAt: Number(out.Item[LeaseAttr.EXPIRES_AT_MS].N) };
}

/** A clock that only the lease's own sleeps move: waits of 90 s take no time. */
function fakeTime(start: number) {
  const time = { now: start, sleeps: [] as number[] };
  return {
    time,
    clock: () => time.now,
    sleep: async (ms: number) => {
      time.sleeps.push(ms);
      time.now += ms;
    },
  };
}

describe('GIVEN the lease item in the control table', () => {
  test('WHEN it is free THEN a run takes it at once for longer than the function may run, and its release frees it', async () => {
    const started = Date.now();
    const release = await dynamoLease({ ddb, tableName: controlTableName }).acquire(0);

    const held = await leaseItem();
    expect(held?.expiresAt).toBeGreaterThanOrEqual(started + LEASE_MS);
    // A live holder can never outlive its lease: the function is stopped first.
    expect(EnforcerTiming.LEASE_SECONDS).toBeGreaterThan(EnforcerTiming.TIMEOUT_SECONDS);
    await release();
    expect(await leaseItem()).toBeUndefined();
  });

  test('WHEN another run holds it THEN a run waits, backing off, and takes it once it is released', async () => {
    const holder = await dynamoLease({ ddb, tableName: controlTableName }).acquire(0);
    const sleeps: number[] = [];
    const waiter = dynamoLease({ ddb, tableName: controlTableName, sleep: (ms) => { sleeps.push(ms); return sleep(ms); } }).acquire(10_000);
    await sleep(400);
    expect(sleeps.length).toBeGreaterThan(1);
    const released = Date.now();
    await holder();

    const release = await waiter;
    expect(Date.now() - released).toBeLessThan(MAX_BACKOFF_MS + 500);
    expect(sleeps[0]).toBeLessThanOrEqual(INITIAL_BACKOFF_MS);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    // Backing off: later waits are longer than the first (jitter keeps each within half of its step).
    expect(sleeps[sleeps.length - 1]).toBeGreaterThan(sleeps[0]);
    await release();
  });

  test('fails when the holder keeps it longer than the run may wait: LeaseBusyError, and the holder keeps its lease', async () => {
    const release = await dynamoLease({ ddb, tableName: controlTableName }).acquire(0);
    const held = await leaseItem();

    const error = await dynamoLease({ ddb, tableName: controlTableName }).acquire(300).catch((e) => e);

    expect(error).toBeInstanceOf(LeaseBusyError);
    expect(error.heldUntil).toBe(held!.expiresAt);
    expect(await leaseItem()).toEqual(held);
    await release();
  });

  test('WHEN its holder crashed (nothing released) THEN the next run waits until the lease lapses, no longer, and takes it', async () => {
    const t0 = Date.now();
    const crashed = fakeTime(t0);
    await dynamoLease({ ddb, tableName: controlTableName, clock: crashed.clock }).acquire(0); // never released
    const next = fakeTime(t0 + 10_000);

    const release = await dynamoLease({ ddb, tableName: controlTableName, clock: next.clock, sleep: next.sleep }).acquire(LEASE_MS);

    // Taken the first millisecond the crashed run's lease lapsed: its expiry + 1 (the condition is strict).
    expect(next.time.now).toBe(t0 + LEASE_MS + 1);
    expect(next.time.sleeps.reduce((a, b) => a + b, 0)).toBe(LEASE_MS + 1 - 10_000);
    expect((await leaseItem())?.expiresAt).toBe(t0 + LEASE_MS + 1 + LEASE_MS);
    await release();
  });

  test('WHEN the lease lapsed long ago THEN a run takes it over at once, and the old holder\'s late release leaves it alone', async () => {
    const t0 = Date.now();
    const warnings: string[] = [];
    const oldRelease = await dynamoLease({ ddb, tableName: controlTableName, clock: () => t0, warn: (m) => warnings.push(m) }).acquire(0);
    const later = fakeTime(t0 + LEASE_MS + 5_000);

    const release = await dynamoLease({ ddb, tableName: controlTableName, clock: later.clock, sleep: later.sleep }).acquire(0);
    const taken = await leaseItem();
    await oldRelease();

    expect(later.time.sleeps).toEqual([]);
    expect(await leaseItem()).toEqual(taken);
    expect(warnings).toEqual(['enforcer lease not released']);
    await release();
    expect(await leaseItem()).toBeUndefined();
  });

  test('THEN a run waits for it at most its remaining time minus what the work needs', () => {
    expect(leaseWaitMs({ getRemainingTimeInMillis: () => 59_000 })).toBe(59_000 - WORK_RESERVE_MS);
    expect(leaseWaitMs({ getRemainingTimeInMillis: () => 5_000 })).toBe(0);
    expect(leaseWaitMs(undefined)).toBe(EnforcerTiming.TIMEOUT_SECONDS * 1000 - WORK_RESERVE_MS);
  });
});

describe('GIVEN enforcer runs started while others are still writing, each fed a different revocation', () => {
  const N = 4;

  /** A revoked session of the role, as the table holds it (created_at puts it in the status index). */
  function revokedItem(id: string) {
    const now = Date.now();
    return {
      [Attr.ID]: { S: id },
      [Attr.ROLE_ARN]: { S: ROLE },
      [Attr.PROFILE]: { S: 'readonly' },
      [Attr.STATUS]: { S: 'revoked' },
      [Attr.CREATED_AT]: { S: new Date(now - 60_000).toISOString() },
      [Attr.REVOKED_AT]: { S: new Date(now).toISOString() },
      [Attr.CREDENTIALS_EXPIRE_AT]: { S: new Date(now + 3_600_000).toISOString() },
    };
  }

  /** A DynamoDB client that says when its run has read the table, or found the lease held (it then waits). */
  function watched(progressed: () => void): DynamoDBClient {
    const client = localDynamoClient();
    const send = client.send.bind(client);
    (client as any).send = async (command: any) => {
      try {
        const out = await send(command);
        if (command instanceof QueryCommand) progressed();
        return out;
      } catch (err) {
        if (command instanceof PutItemCommand && (err as Error).name === 'ConditionalCheckFailedException') progressed();
        throw err;
      }
    };
    return client;
  }

  /** An IAM client that waits `ms` after each GetRolePolicy: the window between reading a role's policy and writing it. */
  function slowIam(ms: number): IAMClient {
    const client = new IAMClient({
      region: 'us-east-1', endpoint: iam.endpoint, credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' }, maxAttempts: 1,
    });
    const send = client.send.bind(client);
    (client as any).send = async (command: any) => {
      try {
        return await send(command);
      } finally {
        if (command instanceof GetRolePolicyCommand) await sleep(ms);
      }
    };
    return client;
  }

  /** Positions of the PutRolePolicy calls that another run's call separates from their own GetRolePolicy. */
  function writesAfterAnotherRunsRead(): number[] {
    const sequence = iam.calls.filter((c) => c.action === 'GetRolePolicy' || c.action === 'PutRolePolicy').map((c) => c.action);
    return sequence.flatMap((a, k) => (a === 'PutRolePolicy' && sequence[k - 1] !== 'GetRolePolicy' ? [k] : []));
  }

  /**
   * Revokes a session, starts a run fed its record, waits until that run has read the table (or waits for the lease),
   * and goes on. The first run takes long between reading the role's policy and writing it.
   */
  async function race(leaseOf: (ddb: DynamoDBClient) => EnforcerLease | undefined) {
    const ids = Array.from({ length: N }, () => randomBytes(8).toString('hex'));
    const runs: Promise<unknown>[] = [];
    for (const [i, id] of ids.entries()) {
      await ddb.send(new PutItemCommand({ TableName: tableName, Item: revokedItem(id) }));
      written.push(id);
      let progressed!: () => void;
      const ready = new Promise<void>((resolve) => { progressed = resolve; });
      const runDdb = watched(() => progressed());
      const handler = createEnforcer({
        tableName,
        ddb: runDdb,
        iam: slowIam(i === 0 ? 1_500 : 50),
        policyName: POLICY_NAME,
        protectedRolePath: PROTECTED_ROLE_PATH,
        account: ACCOUNT,
        loadConfig: async () => CONFIG,
        lease: leaseOf(runDdb),
      });
      const record = { eventName: 'INSERT', dynamodb: { NewImage: revokedItem(id) } };
      const run = handler({ Records: [record] }, { getRemainingTimeInMillis: () => 60_000 });
      runs.push(run);
      await Promise.race([ready, run.catch(() => undefined)]);
    }
    const outcomes = await Promise.allSettled(runs);
    return { ids, listed: listedIds(iam.policy(ROLE, POLICY_NAME)), outcomes };
  }

  test('WHEN they hold the lease THEN the policy denies every revoked session, and the lease is free again', async () => {
    const { ids, listed, outcomes } = await race((runDdb) => dynamoLease({ ddb: runDdb, tableName: controlTableName }));

    expect(outcomes.map((o) => o.status)).toEqual(Array(N).fill('fulfilled'));
    expect(listed).toEqual([...ids].sort());
    expect(await leaseItem()).toBeUndefined();
    // One run at a time: every write directly follows its own run's read of the policy.
    expect(writesAfterAnotherRunsRead()).toEqual([]);
  });

  test('fails when the lease stays held longer than the run may wait: nothing read or written, every role counted', async () => {
    const release = await dynamoLease({ ddb, tableName: controlTableName }).acquire(0);
    const failed: string[][] = [];
    let configRead = false;
    const handler = createEnforcer({
      tableName,
      ddb,
      iam: slowIam(0),
      policyName: POLICY_NAME,
      account: ACCOUNT,
      loadConfig: async () => { configRead = true; return CONFIG; },
      metrics: (roles) => failed.push([...roles]),
      lease: dynamoLease({ ddb, tableName: controlTableName }),
    });

    // 20.3 s left: 300 ms to wait, the rest kept for the work.
    await expect(handler({ source: 'aws.events' }, { getRemainingTimeInMillis: () => WORK_RESERVE_MS + 300 })).rejects.toThrow(LeaseBusyError);
    expect(configRead).toBe(false);
    expect(iam.calls).toEqual([]);
    expect(failed).toEqual([[ALL_ROLES]]);
    await release();
  });

  test('fails when the lease is disabled: a run that read the table early writes last, and revoked sessions go missing', async () => {
    const { ids, listed, outcomes } = await race(() => undefined);

    expect(outcomes.map((o) => o.status)).toEqual(Array(N).fill('fulfilled'));
    // The first run saw only the first revocation, and wrote after the others.
    expect(listed).toEqual([ids[0]]);
    expect(writesAfterAnotherRunsRead().length).toBeGreaterThan(0);
  });
});
