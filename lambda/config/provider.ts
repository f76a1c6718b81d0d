import * as http from 'http';
import * as https from 'https';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError, assembleConfig, canonicalProfiles, chunkDocument, chunkProfiles, configDigest, manifestDocument, parseManifest } from './document';
import { chunkItemId, holdItem, manifestItemId, readChunks, releaseItem } from './items';
import { ConfigResourceTypes } from '../../src/shared/contract';
import { checkStackRequest, type StackGuard } from '../aws/stack-guard';

/**
 * The deploy-time writer of the configuration: CloudFormation custom resources of this TVM alone (not CDK's stack-wide
 * AwsCustomResource provider, whose role and function other resources share). Each chunk resource writes its profiles
 * under their SHA-256 and answers it as `Digest`; the manifest resource checks that its chunks are there and make a valid
 * configuration, writes the list of their digests, and answers the manifest's SHA-256 as `Digest`, which the deployment
 * puts into the functions' environment. A physical id names the content, so CloudFormation deletes the old items once a
 * deployment has replaced them, and the items of a rolled-back deployment. Invoking the writer by hand cannot make the
 * functions trust another configuration. A Delete is obeyed only when it names the writer's own stack while that stack
 * is in a status in which CloudFormation sends one (the revocation cleanup's check): a forged Delete of the live
 * manifest would otherwise take every function down (503, enforcer runs failing). A refused Delete answers SUCCESS and
 * does nothing: a FAILED answer would only block a real deletion.
 */

export interface ConfigEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly ResourceType: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: {
    /** Manifest: the administrators' patterns. */
    readonly AdminPrincipals?: unknown;
    /** Manifest: the relying parties' patterns (`POST /introspect`); absent or empty when there are none. */
    readonly IntrospectionPrincipals?: unknown;
    /** Manifest: the chunks' digests, in order. */
    readonly Chunks?: unknown;
    /** Chunk: its profiles, a list or the JSON of one (the construct passes a `Fn::Sub` of the JSON). */
    readonly Profiles?: unknown;
  };
}

export interface ConfigResult {
  readonly status: 'SUCCESS' | 'FAILED';
  readonly physicalResourceId: string;
  readonly digest?: string;
  readonly reason?: string;
  /** Why a Delete was not obeyed. */
  readonly refused?: string;
}

/** Physical ids name the content: a changed configuration is a replacement, whose old items CloudFormation deletes. */
const MANIFEST_PHYSICAL_PREFIX = 'sentinel-tvm-config-';
const CHUNK_PHYSICAL_PREFIX = 'sentinel-tvm-config-chunk-';
const PHYSICAL_ID = /^sentinel-tvm-config-(chunk-)?([0-9a-f]{64})$/;

/** Writes a chunk's profiles, held by `holder`; returns the chunk's digest. */
export async function writeChunk(ddb: DynamoDBClient, table: string, profiles: unknown, holder: string): Promise<string> {
  const document = chunkDocument(profiles);
  const digest = configDigest(document);
  await holdItem(ddb, table, chunkItemId(digest), document, holder);
  return digest;
}

/**
 * Writes the manifest, held by `holder`, once its chunks are in the table and make a valid configuration (a deployment
 * fails here rather than its functions at their first request); returns the configuration digest.
 */
export async function writeManifest(ddb: DynamoDBClient, table: string,
  properties: { AdminPrincipals?: unknown; IntrospectionPrincipals?: unknown; Chunks?: unknown }, holder: string): Promise<string> {
  const document = manifestDocument({
    adminPrincipals: properties.AdminPrincipals, introspectionPrincipals: properties.IntrospectionPrincipals, chunks: properties.Chunks,
  });
  const manifest = parseManifest(document);
  assembleConfig(manifest, await readChunks(ddb, table, manifest));
  const digest = configDigest(document);
  await holdItem(ddb, table, manifestItemId(digest), document, holder);
  return digest;
}

/**
 * Writes a whole configuration as the deployment would (chunks split by the construct's rule, then the manifest):
 * for local mode and tests. Returns the configuration digest.
 */
export async function writeConfig(ddb: DynamoDBClient, table: string,
  properties: { AdminPrincipals?: unknown; IntrospectionPrincipals?: unknown; Profiles?: unknown }, holder = 'local'): Promise<string> {
  const chunks = chunkProfiles(canonicalProfiles(properties.Profiles));
  const digests: string[] = [];
  for (const [i, profiles] of chunks.entries()) digests.push(await writeChunk(ddb, table, profiles, `${holder}-chunk-${i}`));
  return writeManifest(ddb, table,
    { AdminPrincipals: properties.AdminPrincipals, IntrospectionPrincipals: properties.IntrospectionPrincipals, Chunks: digests }, holder);
}

/**
 * Handles one custom resource event; never throws (CloudFormation must always get an answer). Without a `guard` (the
 * writer's stack), every Delete is refused.
 */
export async function handleConfigEvent(ddb: DynamoDBClient, table: string, event: ConfigEvent, guard?: StackGuard): Promise<ConfigResult> {
  try {
    if (event.RequestType === 'Delete') {
      const stack = guard ? await checkStackRequest(guard, event) : { refused: 'no stack to check the request against' };
      if ('refused' in stack) {
        const physicalResourceId = event.PhysicalResourceId ?? failedId(event);
        return { status: 'SUCCESS', physicalResourceId, reason: `refused: ${stack.refused}`.slice(0, 500), refused: stack.refused };
      }
      return await deleteItem(ddb, table, event);
    }
    const properties = event.ResourceProperties ?? {};
    switch (event.ResourceType) {
      case ConfigResourceTypes.CHUNK: {
        const digest = await writeChunk(ddb, table, properties.Profiles, event.LogicalResourceId);
        return { status: 'SUCCESS', physicalResourceId: `${CHUNK_PHYSICAL_PREFIX}${digest}`, digest };
      }
      case ConfigResourceTypes.MANIFEST: {
        const digest = await writeManifest(ddb, table, properties, event.LogicalResourceId);
        return { status: 'SUCCESS', physicalResourceId: `${MANIFEST_PHYSICAL_PREFIX}${digest}`, digest };
      }
      default:
        throw new ConfigError(`resource type ${String(event.ResourceType).slice(0, 80)}: expected ${Object.values(ConfigResourceTypes).join(' or ')}`);
    }
  } catch (err) {
    const e = err as Error;
    // A failed Update keeps its physical id (no replacement); a failed Create gets one that names no item.
    return { status: 'FAILED', physicalResourceId: event.PhysicalResourceId ?? failedId(event), reason: `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 500)}` };
  }
}

/**
 * Retries a result that failed on `AccessDeniedException`: on a first deployment the writer runs seconds after its role's
 * policy was created, and IAM takes a few seconds to apply a new policy everywhere. Waits 2, 4, 8 and 16 s (30 s of the
 * function's 60), then answers the last result.
 */
export async function retryWhilePermissionsPropagate(attempt: () => Promise<ConfigResult>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  delaysMs = [2_000, 4_000, 8_000, 16_000]): Promise<ConfigResult> {
  let result = await attempt();
  for (const delay of delaysMs) {
    if (result.status !== 'FAILED' || !result.reason?.startsWith('AccessDeniedException')) return result;
    await sleep(delay);
    result = await attempt();
  }
  return result;
}

/**
 * Lets go of the item a physical id names. Never fails: an item left behind is inert (no function trusts a digest it
 * was not deployed with), while a failed Delete would stop a stack's deletion.
 */
async function deleteItem(ddb: DynamoDBClient, table: string, event: ConfigEvent): Promise<ConfigResult> {
  const physicalResourceId = event.PhysicalResourceId ?? failedId(event);
  // Any other physical id names no item: a failed Create's.
  const match = PHYSICAL_ID.exec(physicalResourceId);
  if (!match) return { status: 'SUCCESS', physicalResourceId };
  const id = match[1] ? chunkItemId(match[2]) : manifestItemId(match[2]);
  try {
    return { status: 'SUCCESS', physicalResourceId, reason: `item ${await releaseItem(ddb, table, id, event.LogicalResourceId)}` };
  } catch (err) {
    const e = err as Error;
    return { status: 'SUCCESS', physicalResourceId, reason: `item left in place: ${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)}` };
  }
}

function failedId(event: ConfigEvent): string {
  return `sentinel-tvm-config-failed-${String(event.RequestId).slice(0, 64)}`;
}

/** The answer CloudFormation expects at the presigned ResponseURL. */
export function responseBody(event: ConfigEvent, result: ConfigResult): string {
  return JSON.stringify({
    Status: result.status,
    Reason: result.reason ?? 'OK',
    PhysicalResourceId: result.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: result.digest ? { Digest: result.digest } : {},
  });
}

/** PUTs the answer to the ResponseURL (a presigned S3 URL; plain http only in tests). */
export function sendResponse(responseUrl: string, body: string, timeoutMs = 10_000): Promise<void> {
  const url = new URL(responseUrl);
  const client = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method: 'PUT',
      headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`ResponseURL answered ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('ResponseURL timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
