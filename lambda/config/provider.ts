import * as http from 'http';
import * as https from 'https';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { canonicalConfig, configDigest } from './document';
import { Attr, CONFIG_ITEM_ID, ConfigAttr } from '../../src/shared/contract';

/**
 * The deploy-time writer of the configuration: a CloudFormation custom resource of this TVM alone (not CDK's
 * stack-wide AwsCustomResource provider, whose role and function other resources share). It writes the canonical
 * document into the control table and returns its SHA-256 as `Digest`, which the deployment puts into the functions'
 * environment. Invoking it by hand can at most make the functions refuse to serve (the digests then differ); it cannot
 * make them trust another configuration.
 */

export interface ConfigEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: { readonly AdminPrincipals?: unknown; readonly Profiles?: unknown };
}

export interface ConfigResult {
  readonly status: 'SUCCESS' | 'FAILED';
  readonly digest?: string;
  readonly reason?: string;
}

/** The physical id of the config resource: one item, one id. */
export const CONFIG_PHYSICAL_ID = 'sentinel-tvm-config';

/** Writes the canonical document and its digest; returns the digest. */
export async function writeConfig(ddb: DynamoDBClient, controlTableName: string, properties: ConfigEvent['ResourceProperties']): Promise<string> {
  const document = canonicalConfig({ adminPrincipals: properties.AdminPrincipals, profiles: properties.Profiles });
  const digest = configDigest(document);
  await ddb.send(new PutItemCommand({
    TableName: controlTableName,
    Item: { [Attr.ID]: { S: CONFIG_ITEM_ID }, [ConfigAttr.DOCUMENT]: { S: document }, [ConfigAttr.DIGEST]: { S: digest } },
  }));
  return digest;
}

/** Handles one custom resource event; never throws (CloudFormation must always get an answer). */
export async function handleConfigEvent(ddb: DynamoDBClient, controlTableName: string, event: ConfigEvent): Promise<ConfigResult> {
  try {
    // Delete leaves the item: the functions that read it are deleted with it, and a rollback of a replacement
    // must not remove the configuration the old resource still serves.
    if (event.RequestType === 'Delete') return { status: 'SUCCESS' };
    return { status: 'SUCCESS', digest: await writeConfig(ddb, controlTableName, event.ResourceProperties ?? {}) };
  } catch (err) {
    const e = err as Error;
    return { status: 'FAILED', reason: `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 500)}` };
  }
}

/** The answer CloudFormation expects at the presigned ResponseURL. */
export function responseBody(event: ConfigEvent, result: ConfigResult): string {
  return JSON.stringify({
    Status: result.status,
    Reason: result.reason ?? 'OK',
    PhysicalResourceId: CONFIG_PHYSICAL_ID,
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
