import {
  BatchGetItemCommand, ConditionalCheckFailedException, DeleteItemCommand, GetItemCommand, UpdateItemCommand,
  type AttributeValue, type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ConfigError, assembleConfig, configDigest, parseChunk, parseManifest } from './document';
import { Attr, CONFIG_ITEM_PREFIX, ConfigAttr, type ConfigDocument, type ConfigManifest, type ProfileConfig } from '../../src/shared/contract';

/**
 * Every read and write of the configuration items of the control table: content-addressed, so an item's key is the
 * SHA-256 of its document, and a reader checks the document against the key before it trusts it.
 */

/** Key of the manifest whose SHA-256 is `digest`. */
export const manifestItemId = (digest: string): string => `${CONFIG_ITEM_PREFIX}${digest}`;
/** Key of the chunk whose SHA-256 is `digest`. */
export const chunkItemId = (digest: string): string => `${CONFIG_ITEM_PREFIX}chunk#${digest}`;

/** BatchGetItem takes at most 100 keys. */
const BATCH_KEYS = 100;
/** Rounds for keys DynamoDB leaves unprocessed (throttling, or a response over 16 MB), with doubling waits from 25 ms. */
const BATCH_ROUNDS = 8;

/**
 * Writes a document under its key and records `holder` (a custom resource's logical id) as one of its holders: the same
 * content written by two resources is one item, held by both.
 */
export async function holdItem(ddb: DynamoDBClient, table: string, id: string, document: string, holder: string): Promise<void> {
  await ddb.send(new UpdateItemCommand({
    TableName: table,
    Key: { [Attr.ID]: { S: id } },
    UpdateExpression: 'SET #doc = :doc ADD #held :holder',
    ExpressionAttributeNames: { '#doc': ConfigAttr.DOCUMENT, '#held': ConfigAttr.HELD_BY },
    ExpressionAttributeValues: { ':doc': { S: document }, ':holder': { SS: [holder] } },
  }));
}

/**
 * Removes `holder` from an item's holders, and deletes the item once no one holds it: CloudFormation deletes the old
 * physical id of a resource whose content changed, and that content may still be another resource's (or, after a
 * rollback, this one's again under another logical id). Returns what became of the item.
 */
export async function releaseItem(ddb: DynamoDBClient, table: string, id: string, holder: string): Promise<'deleted' | 'kept' | 'absent'> {
  const key = { [Attr.ID]: { S: id } };
  let left: Record<string, AttributeValue> | undefined;
  try {
    const out = await ddb.send(new UpdateItemCommand({
      TableName: table,
      Key: key,
      UpdateExpression: 'DELETE #held :holder',
      // Without the condition an update would create the item; a repeated Delete finds it gone.
      ConditionExpression: 'attribute_exists(#id)',
      ExpressionAttributeNames: { '#held': ConfigAttr.HELD_BY, '#id': Attr.ID },
      ExpressionAttributeValues: { ':holder': { SS: [holder] } },
      ReturnValues: 'ALL_NEW',
    }));
    left = out.Attributes;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return 'absent';
    throw err;
  }
  if (left?.[ConfigAttr.HELD_BY]?.SS?.length) return 'kept';
  try {
    // A resource may take hold of the item between the two requests: it is deleted only if still held by none.
    await ddb.send(new DeleteItemCommand({
      TableName: table,
      Key: key,
      ConditionExpression: 'attribute_not_exists(#held)',
      ExpressionAttributeNames: { '#held': ConfigAttr.HELD_BY },
    }));
    return 'deleted';
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return 'kept';
    throw err;
  }
}

/**
 * Reads the configuration whose manifest digest is `digest` (strongly consistent), checking the manifest against the
 * digest and each chunk against the digest the manifest lists: a missing or altered item is refused.
 */
export async function readConfig(ddb: DynamoDBClient, table: string, digest: string): Promise<ConfigDocument> {
  const id = manifestItemId(digest);
  const out = await ddb.send(new GetItemCommand({ TableName: table, Key: { [Attr.ID]: { S: id } }, ConsistentRead: true }));
  const document = out.Item?.[ConfigAttr.DOCUMENT]?.S;
  if (document === undefined) throw new ConfigError(`config item ${id} is missing from table ${table}`);
  const actual = configDigest(document);
  if (actual !== digest) {
    throw new ConfigError(`config item digest ${actual.slice(0, 16)}… is not the deployed ${digest.slice(0, 16)}…: `
      + 'the item was changed outside the deployment');
  }
  const manifest = parseManifest(document);
  return assembleConfig(manifest, await readChunks(ddb, table, manifest));
}

/** The manifest's chunks, in its order, each checked against the digest the manifest lists for it. */
export async function readChunks(ddb: DynamoDBClient, table: string, manifest: ConfigManifest): Promise<ProfileConfig[][]> {
  const documents = await batchGet(ddb, table, [...new Set(manifest.chunks)].map(chunkItemId));
  return manifest.chunks.map((digest) => {
    const id = chunkItemId(digest);
    const document = documents.get(id);
    if (document === undefined) throw new ConfigError(`config chunk ${id} is missing from table ${table}`);
    const actual = configDigest(document);
    if (actual !== digest) {
      throw new ConfigError(`config chunk digest ${actual.slice(0, 16)}… is not the listed ${digest.slice(0, 16)}…: `
        + 'the item was changed outside the deployment');
    }
    return parseChunk(document);
  });
}

/** The documents of the items with these keys (absent ones left out): BatchGetItem, strongly consistent, in rounds. */
async function batchGet(ddb: DynamoDBClient, table: string, ids: string[]): Promise<Map<string, string>> {
  const documents = new Map<string, string>();
  for (let i = 0; i < ids.length; i += BATCH_KEYS) {
    let keys: Record<string, AttributeValue>[] = ids.slice(i, i + BATCH_KEYS).map((id) => ({ [Attr.ID]: { S: id } }));
    for (let round = 0; keys.length > 0; round++) {
      if (round === BATCH_ROUNDS) throw new Error(`BatchGetItem left ${keys.length} configuration items unprocessed after ${BATCH_ROUNDS} rounds`);
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** (round - 1)));
      const out = await ddb.send(new BatchGetItemCommand({
        RequestItems: { [table]: { Keys: keys, ConsistentRead: true, ProjectionExpression: '#id, #doc', ExpressionAttributeNames: { '#id': Attr.ID, '#doc': ConfigAttr.DOCUMENT } } },
      }));
      for (const item of out.Responses?.[table] ?? []) {
        const id = item[Attr.ID]?.S;
        const document = item[ConfigAttr.DOCUMENT]?.S;
        if (id !== undefined && document !== undefined) documents.set(id, document);
      }
      keys = out.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  }
  return documents;
}
