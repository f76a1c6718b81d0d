// The configuration items against DynamoDB Local, written by the writer's own handler on the events CloudFormation
// sends (create, update, the cleanup's deletes, a rollback) and read by the functions' loadConfig: content-addressed
// chunks and manifest, checked on every read, and never deleted while a resource still holds them.
import { BatchGetItemCommand, DeleteItemCommand, GetItemCommand, PutItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient, uniqueTableName } from './support/dynamodb-local';
import { configEvent } from './support/tvm-fixture';
import { ensureTable } from '../cli/local/dynamodb';
import type { StackGuard } from '../lambda/aws/stack-guard';
import { chunkItemId, manifestItemId } from '../lambda/config/items';
import { handleConfigEvent, retryWhilePermissionsPropagate, type ConfigResult } from '../lambda/config/provider';
import { loadConfig } from '../lambda/profiles';
import { ConfigResourceTypes } from '../src/shared/contract';

const { MANIFEST, CHUNK } = ConfigResourceTypes;
const ACCOUNT = '123456789012';
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/SecurityOps`;

let ddb: DynamoDBClient;
let table: string;

beforeAll(async () => {
  ddb = localDynamoClient();
  table = uniqueTableName('config-items');
  await ensureTable(ddb, table, 'control');
});
afterAll(() => ddb.destroy());

/** A profile as CloudFormation passes it (numbers as strings). */
const profile = (name: string, principal = `arn:aws:iam::${ACCOUNT}:user/${name}`) => ({
  name,
  roleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/svc/Role-${name}`,
  allowedPrincipals: [principal],
  maxDurationSeconds: '3600',
  chainRoleArns: [],
});
const profiles = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => profile(`${prefix}${i}`));

/** The writer's stack, as CloudFormation reports it while it sends these events (an update's cleanup by default). */
const STACK_ID = configEvent('Create', 'Any', MANIFEST, {}).StackId;
let stackStatus: string | undefined;
beforeEach(() => { stackStatus = 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'; });
const guard: StackGuard = { stackId: STACK_ID, stackStatus: async () => stackStatus };

async function send(type: string, requestType: 'Create' | 'Update' | 'Delete', logicalId: string, properties: any,
  physical?: string): Promise<ConfigResult> {
  return handleConfigEvent(ddb, table, configEvent(requestType, logicalId, type, properties, physical), guard);
}

/** What a resource answered: its physical id and digest (a test fails here if the writer failed). */
async function ok(result: Promise<ConfigResult>): Promise<{ physical: string; digest: string }> {
  const r = await result;
  expect(r).toMatchObject({ status: 'SUCCESS' });
  return { physical: r.physicalResourceId, digest: r.digest! };
}

/** Deploys chunks (logical ids `<prefix>Chunk<i>`) and their manifest (`<prefix>Config`), as a stack's first deployment. */
async function deploy(chunks: any[][], prefix = 'A', admins = [ADMIN]) {
  const created = [];
  for (const [i, p] of chunks.entries()) created.push(await ok(send(CHUNK, 'Create', `${prefix}Chunk${i}`, { Profiles: p })));
  const manifest = await ok(send(MANIFEST, 'Create', `${prefix}Config`, { AdminPrincipals: admins, Chunks: created.map((c) => c.digest) }));
  return { chunks: created, manifest };
}

const exists = async (id: string) =>
  (await ddb.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))).Item !== undefined;
const names = async (digest: string) => [...(await loadConfig(ddb, table, digest)).profiles.keys()];

describe('GIVEN a configuration deployed as three chunks and a manifest', () => {
  test('THEN the functions load it as one configuration, profiles in the manifest\'s order, with its administrators', async () => {
    const { manifest } = await deploy([profiles('a', 3), profiles('b', 2), profiles('c', 1)]);

    const config = await loadConfig(ddb, table, manifest.digest);

    expect([...config.profiles.keys()]).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'c0']);
    expect(config.profiles.get('b1')).toMatchObject({ roleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/svc/Role-b1`, maxDurationSeconds: 3600 });
    expect(config.isAdmin({ matchArns: [ADMIN] } as any)).toBe(true);
    expect(config.digest).toBe(manifest.digest);
    expect(manifest.physical).toBe(`sentinel-tvm-config-${manifest.digest}`);
  });

  test('fails when a chunk the manifest lists is missing', async () => {
    const { chunks, manifest } = await deploy([profiles('m', 2), profiles('n', 2)], 'Missing');
    await ddb.send(new DeleteItemCommand({ TableName: table, Key: { id: { S: chunkItemId(chunks[1].digest) } } }));

    await expect(loadConfig(ddb, table, manifest.digest)).rejects.toThrow(/^config chunk #sentinel-tvm-config#chunk#[0-9a-f]{64} is missing from table/);
  });

  test('fails when a chunk was altered in the table (a principal added), naming the digests', async () => {
    const { chunks, manifest } = await deploy([profiles('t', 2)], 'Tampered');
    const altered = JSON.stringify([{ ...profile('t0'), maxDurationSeconds: 3600, allowedPrincipals: ['arn:aws:iam::999999999999:user/mallory'] }, {
      ...profile('t1'), maxDurationSeconds: 3600,
    }]);
    await ddb.send(new PutItemCommand({ TableName: table, Item: { id: { S: chunkItemId(chunks[0].digest) }, document: { S: altered } } }));

    await expect(loadConfig(ddb, table, manifest.digest)).rejects.toThrow(/^config chunk digest [0-9a-f]{16}… is not the listed [0-9a-f]{16}…/);
  });

  test('fails when the manifest was altered in the table (an administrator added)', async () => {
    const { manifest } = await deploy([profiles('u', 1)], 'TamperedManifest');
    const item = (await ddb.send(new GetItemCommand({ TableName: table, Key: { id: { S: manifestItemId(manifest.digest) } } }))).Item!;
    const doc = JSON.parse(item.document.S!);
    doc.adminPrincipals.push('arn:aws:iam::999999999999:user/mallory');
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...item, document: { S: JSON.stringify(doc) } } }));

    await expect(loadConfig(ddb, table, manifest.digest)).rejects.toThrow(/^config item digest [0-9a-f]{16}… is not the deployed/);
  });

  test('fails when no manifest has the deployed digest', async () => {
    await expect(loadConfig(ddb, table, 'f'.repeat(64))).rejects.toThrow(/^config item #sentinel-tvm-config#f{64} is missing from table/);
  });
});

describe('GIVEN a manifest whose chunks are not a valid configuration', () => {
  test('fails to create it when a chunk it lists is not in the table, and writes nothing (the deployment stops there)', async () => {
    const result = await send(MANIFEST, 'Create', 'Orphan', { AdminPrincipals: [ADMIN], Chunks: ['0'.repeat(64)] });

    expect(result).toMatchObject({ status: 'FAILED', physicalResourceId: expect.stringMatching(/^sentinel-tvm-config-failed-/) });
    expect(result.reason).toMatch(/config chunk .* is missing/);
    expect(result.digest).toBeUndefined();
  });

  test('fails to create it when two of its chunks define the same profile', async () => {
    const one = await ok(send(CHUNK, 'Create', 'DupChunk0', { Profiles: [profile('dup')] }));
    const two = await ok(send(CHUNK, 'Create', 'DupChunk1', { Profiles: [profile('dup', `arn:aws:iam::${ACCOUNT}:user/other`)] }));

    const result = await send(MANIFEST, 'Create', 'DupConfig', { AdminPrincipals: [], Chunks: [one.digest, two.digest] });

    expect(result.status).toBe('FAILED');
    expect(result.reason).toMatch(/profiles\[1\]\.name "dup": defined twice/);
  });

  test('fails to create a chunk of malformed profiles, with a physical id that names no item; its Delete then succeeds', async () => {
    const failed = await send(CHUNK, 'Create', 'BadChunk', { Profiles: [{ name: 'x', roleArn: 'not-an-arn' }] });
    expect(failed).toMatchObject({ status: 'FAILED', reason: expect.stringMatching(/roleArn: expected a role ARN/) });

    expect(await send(CHUNK, 'Delete', 'BadChunk', { Profiles: [] }, failed.physicalResourceId)).toMatchObject({ status: 'SUCCESS' });
  });
});

describe('GIVEN a deployed configuration WHEN a deployment changes one profile', () => {
  test('THEN both configurations load during the deployment, and the cleanup deletes the old chunk and manifest only', async () => {
    const before = await deploy([profiles('d', 2), profiles('e', 2)], 'Upd');
    // The update: one chunk gets new content (a new physical id), the manifest the new list.
    const changed = await ok(send(CHUNK, 'Update', 'UpdChunk1', { Profiles: [profile('e0', `arn:aws:iam::${ACCOUNT}:user/zoe`), profile('e1')] },
      before.chunks[1].physical));
    const after = await ok(send(MANIFEST, 'Update', 'UpdConfig', { AdminPrincipals: [ADMIN], Chunks: [before.chunks[0].digest, changed.digest] },
      before.manifest.physical));
    expect(changed.physical).not.toBe(before.chunks[1].physical);
    expect(after.physical).not.toBe(before.manifest.physical);
    // No refusal window: containers of the old and of the new function both find their configuration.
    expect((await loadConfig(ddb, table, before.manifest.digest)).profiles.get('e0')?.allowedPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:user/e0`]);
    expect((await loadConfig(ddb, table, after.digest)).profiles.get('e0')?.allowedPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:user/zoe`]);

    // The cleanup: CloudFormation deletes the replaced physical ids.
    await ok(send(CHUNK, 'Delete', 'UpdChunk1', {}, before.chunks[1].physical));
    await ok(send(MANIFEST, 'Delete', 'UpdConfig', {}, before.manifest.physical));

    expect(await names(after.digest)).toEqual(['d0', 'd1', 'e0', 'e1']);
    await expect(loadConfig(ddb, table, before.manifest.digest)).rejects.toThrow(/is missing/);
    expect(await exists(chunkItemId(before.chunks[1].digest))).toBe(false);
    expect(await exists(chunkItemId(before.chunks[0].digest))).toBe(true);
  });

  test('THEN a rollback leaves the old configuration loadable and deletes the new items', async () => {
    const before = await deploy([profiles('r', 2), profiles('s', 2)], 'Rb');
    const changed = await ok(send(CHUNK, 'Update', 'RbChunk0', { Profiles: profiles('r', 3) }, before.chunks[0].physical));
    const after = await ok(send(MANIFEST, 'Update', 'RbConfig', { AdminPrincipals: [ADMIN], Chunks: [changed.digest, before.chunks[1].digest] },
      before.manifest.physical));
    // A later resource fails: CloudFormation updates these back, in reverse order, then deletes the new physical ids.
    expect(await ok(send(MANIFEST, 'Update', 'RbConfig', { AdminPrincipals: [ADMIN], Chunks: before.chunks.map((c) => c.digest) }, after.physical)))
      .toEqual(before.manifest);
    expect(await ok(send(CHUNK, 'Update', 'RbChunk0', { Profiles: profiles('r', 2) }, changed.physical))).toEqual(before.chunks[0]);
    await ok(send(MANIFEST, 'Delete', 'RbConfig', {}, after.physical));
    await ok(send(CHUNK, 'Delete', 'RbChunk0', {}, changed.physical));

    expect(await names(before.manifest.digest)).toEqual(['r0', 'r1', 's0', 's1']);
    expect(await exists(manifestItemId(after.digest))).toBe(false);
    expect(await exists(chunkItemId(changed.digest))).toBe(false);
  });

  test('THEN a failed update keeps its physical id (no replacement, so nothing is deleted)', async () => {
    const before = await deploy([profiles('f', 1)], 'Fail');
    const failed = await send(CHUNK, 'Update', 'FailChunk0', { Profiles: [{ ...profile('f0'), maxDurationSeconds: '7200' }] }, before.chunks[0].physical);

    expect(failed).toMatchObject({ status: 'FAILED', physicalResourceId: before.chunks[0].physical });
    expect(await names(before.manifest.digest)).toEqual(['f0']);
  });
});

describe('GIVEN two resources that hold the same content (a TVM moved in the construct tree: new logical ids, same items)', () => {
  test('THEN deleting the old resources leaves the items the new ones hold, and the last Delete removes them', async () => {
    const old = await deploy([profiles('h', 2)], 'OldPath');
    const moved = await deploy([profiles('h', 2)], 'NewPath');
    expect(moved).toEqual(old);

    await ok(send(CHUNK, 'Delete', 'OldPathChunk0', {}, old.chunks[0].physical));
    await ok(send(MANIFEST, 'Delete', 'OldPathConfig', {}, old.manifest.physical));
    expect(await names(moved.manifest.digest)).toEqual(['h0', 'h1']);

    await ok(send(MANIFEST, 'Delete', 'NewPathConfig', {}, moved.manifest.physical));
    await ok(send(CHUNK, 'Delete', 'NewPathChunk0', {}, moved.chunks[0].physical));
    expect(await exists(manifestItemId(moved.manifest.digest))).toBe(false);
    expect(await exists(chunkItemId(moved.chunks[0].digest))).toBe(false);
  });

  test('THEN a Delete repeated (a retried event) succeeds and removes nothing a live resource holds', async () => {
    const live = await deploy([profiles('k', 1)], 'Live');
    const gone = await deploy([profiles('k', 1)], 'Gone');
    for (let i = 0; i < 2; i++) {
      expect(await send(CHUNK, 'Delete', 'GoneChunk0', {}, gone.chunks[0].physical)).toMatchObject({ status: 'SUCCESS', reason: 'item kept' });
    }
    expect(await names(live.manifest.digest)).toEqual(['k0']);
  });
});

describe('GIVEN 1,000 profiles in 250 chunks', () => {
  const many = Array.from({ length: 250 }, (_, c) => profiles(`c${c}-`, 4));
  let digest: string;
  beforeAll(async () => {
    digest = (await deploy(many, 'Many')).manifest.digest;
  }, 120_000);

  /** A client whose BatchGetItem answers at most `serve` keys a request, the others left unprocessed, as DynamoDB may. */
  const partial = (serve: number, requests: number[]): DynamoDBClient => ({
    send: async (command: any) => {
      if (!(command instanceof BatchGetItemCommand)) return ddb.send(command);
      const [name, request] = Object.entries(command.input.RequestItems!)[0];
      requests.push(request.Keys!.length);
      const served = request.Keys!.slice(0, serve);
      const out = served.length ? await ddb.send(new BatchGetItemCommand({ RequestItems: { [name]: { ...request, Keys: served } } })) : {};
      const rest = request.Keys!.slice(serve);
      return { ...out, UnprocessedKeys: rest.length ? { [name]: { ...request, Keys: rest } } : {} };
    },
  }) as unknown as DynamoDBClient;

  test('THEN they load in order, 100 keys a BatchGetItem, keys left unprocessed asked again', async () => {
    const requests: number[] = [];

    const config = await loadConfig(partial(60, requests), table, digest);

    expect(config.profiles.size).toBe(1000);
    expect([...config.profiles.keys()].slice(0, 5)).toEqual(['c0-0', 'c0-1', 'c0-2', 'c0-3', 'c1-0']);
    expect([...config.profiles.keys()].pop()).toBe('c249-3');
    expect(requests).toEqual([100, 40, 100, 40, 50]);
  });

  test('fails when DynamoDB keeps leaving keys unprocessed', async () => {
    await expect(loadConfig(partial(0, []), table, digest)).rejects.toThrow(/BatchGetItem left 100 configuration items unprocessed after 8 rounds/);
  }, 20_000);
});

test('every item the writer wrote is a configuration item (its key starts with the prefix its IAM grant is limited to)', async () => {
  const out = await ddb.send(new ScanCommand({ TableName: table, ProjectionExpression: 'id' }));
  expect(out.Items!.length).toBeGreaterThan(0);
  for (const item of out.Items!) expect(item.id.S).toMatch(/^#sentinel-tvm-config#(chunk#)?[0-9a-f]{64}$/);
});

describe('GIVEN a first deployment, where IAM has not yet applied the writer role\'s new policy everywhere', () => {
  const denied: ConfigResult = { status: 'FAILED', physicalResourceId: 'x', reason: 'AccessDeniedException: not authorized to perform dynamodb:UpdateItem' };
  const written: ConfigResult = { status: 'SUCCESS', physicalResourceId: 'y', digest: 'd' };

  test('THEN an AccessDeniedException is retried after growing waits until the write succeeds', async () => {
    const answers = [denied, denied, written];
    const waits: number[] = [];
    const result = await retryWhilePermissionsPropagate(async () => answers.shift()!, async (ms) => { waits.push(ms); });
    expect(result).toBe(written);
    expect(waits).toEqual([2_000, 4_000]);
  });

  test('fails (answers the last failure) when access stays denied for 30 s, and never retries other failures', async () => {
    let calls = 0;
    expect(await retryWhilePermissionsPropagate(async () => { calls++; return denied; }, async () => undefined)).toBe(denied);
    expect(calls).toBe(5);
    const invalid: ConfigResult = { status: 'FAILED', physicalResourceId: 'x', reason: 'ConfigError: bad profile' };
    calls = 0;
    expect(await retryWhilePermissionsPropagate(async () => { calls++; return invalid; }, async () => undefined)).toBe(invalid);
    expect(calls).toBe(1);
  });
});

describe('GIVEN a Delete, which takes a configuration away from the functions', () => {
  test.each<[string, string, string]>([
    ['the stack is being deleted', 'DELETE_IN_PROGRESS', 'Obeyed1'],
    ['an update is cleaning up', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'Obeyed2'],
    ['a rollback is cleaning up', 'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS', 'Obeyed3'],
  ])('WHEN %s THEN the writer obeys it', async (_what, status, prefix) => {
    const { manifest } = await deploy([[profile('guarded')]], prefix);
    stackStatus = status;

    const result = await send(MANIFEST, 'Delete', `${prefix}Config`, {}, manifest.physical);

    expect(result.status).toBe('SUCCESS');
    expect(result.refused).toBeUndefined();
    expect(await exists(manifestItemId(manifest.digest))).toBe(false);
  });

  test.each<[string, string | undefined, string | undefined]>([
    ['fails when the stack is at rest (UPDATE_COMPLETE)', 'UPDATE_COMPLETE', undefined],
    ['fails when the request names another stack', 'DELETE_IN_PROGRESS', STACK_ID.replace('Fixture', 'Elsewhere')],
    ['fails when the stack does not exist', undefined, undefined],
  ])('%s: the Delete is refused, answers SUCCESS, and the configuration stays', async (_what, status, stackId) => {
    const { manifest } = await deploy([[profile('kept')]], 'Refused');
    stackStatus = status;

    const event = { ...configEvent('Delete', 'RefusedConfig', MANIFEST, {}, manifest.physical), StackId: stackId ?? STACK_ID };
    const result = await handleConfigEvent(ddb, table, event, guard);

    expect(result).toMatchObject({ status: 'SUCCESS', physicalResourceId: manifest.physical, refused: expect.any(String) });
    await expect(names(manifest.digest)).resolves.toEqual(['kept']);
  });

  test('fails when the stack\'s status cannot be read, or no stack is given: nothing is deleted', async () => {
    const { manifest } = await deploy([[profile('unread')]], 'Unread');
    const event = configEvent('Delete', 'UnreadConfig', MANIFEST, {}, manifest.physical);
    const broken: StackGuard = { stackId: STACK_ID, stackStatus: async () => { throw new Error('Throttling'); } };

    const results = [await handleConfigEvent(ddb, table, event, broken), await handleConfigEvent(ddb, table, event)];

    expect(results.map((r) => [r.status, r.refused])).toEqual([
      ['SUCCESS', expect.stringMatching(/status cannot be read/)], ['SUCCESS', expect.stringMatching(/no stack/)],
    ]);
    await expect(names(manifest.digest)).resolves.toEqual(['unread']);
  });
});
