import type { IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';

/**
 * IAM clients of the spoke accounts: each acts with the credentials of that account's spoke enforcement role
 * (`SENTINEL_SPOKE_ROLE`), assumed once and kept across warm invocations until shortly before they expire, or until IAM
 * refuses them.
 */

/** The session name of the enforcer in a spoke account (its CloudTrail shows it). */
export const SPOKE_SESSION_NAME = 'sentinel-tvm-enforcer';
/** STS's shortest session: a run takes seconds, and a stolen credential should not outlive it by much. */
export const SPOKE_SESSION_SECONDS = 900;
/** Credentials are assumed again this long before they expire, so that none expires in the middle of a run (60 s). */
export const SPOKE_CREDENTIALS_MARGIN_MS = 5 * 60_000;

/** The IAM client acting in `account` (of `partition`, e.g. `aws`). Rejects with {@link SpokeAssumeError}. */
export type IamFor = (account: string, partition: string) => Promise<IAMClient>;

export interface SpokeClientsOptions {
  /** The function's STS client (its own credentials). */
  readonly sts: STSClient;
  /** The spoke enforcement role's path and name, without a leading slash (`SENTINEL_SPOKE_ROLE`). */
  readonly spokeRole: string;
  /** Builds an IAM client acting with these credentials. */
  readonly iamClient: (credentials: AwsCredentialIdentity) => IAMClient;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

/** The spoke enforcement role of an account. */
export function spokeRoleArn(partition: string, account: string, spokeRole: string): string {
  return `arn:${partition}:iam::${account}:role/${spokeRole}`;
}

/** The spoke enforcement role could not be assumed: every role of that account fails with it. */
export class SpokeAssumeError extends Error {
  constructor(public readonly roleArn: string, cause: unknown) {
    const e = cause as Error;
    super(`spoke enforcement role ${roleArn} not assumed (is the account a spoke of this TVM, its SentinelTvmSpoke deployed?): `
      + `${String(e?.message ?? cause).slice(0, 300)}`);
    // The STS error's name (AccessDenied, RegionDisabledException, …) tells what went wrong.
    this.name = e?.name ?? 'Error';
  }
}

/**
 * Errors by which IAM (or STS) refuses the credentials themselves: the spoke's enforcement role was deleted and created
 * again (a StackSet update), its sessions were revoked, or they expired early. AccessDenied may also be a real permission
 * problem: assuming once more costs one AssumeRole per account and run, and the retry then fails the same way.
 */
const REJECTED_CREDENTIALS = new Set([
  'InvalidClientTokenId', 'ExpiredToken', 'ExpiredTokenException', 'UnrecognizedClientException', 'AccessDenied', 'AccessDeniedException',
]);

/** Whether the error is IAM (or STS) refusing the caller's credentials (see {@link REJECTED_CREDENTIALS}). */
export function isRejectedCredentials(err: unknown): boolean {
  const e = err as { name?: unknown; Code?: unknown } | undefined;
  return REJECTED_CREDENTIALS.has(String(e?.name)) || REJECTED_CREDENTIALS.has(String(e?.Code));
}

interface Cached {
  readonly client: Promise<IAMClient>;
  /** Epoch ms after which the client is not used any more (Infinity while the assume is in flight). */
  expiresAt: number;
}

/**
 * One IAM client per spoke account, cached: concurrent callers share one AssumeRole, a failed one is not kept (the
 * next run tries again), and a client is replaced {@link SPOKE_CREDENTIALS_MARGIN_MS} before its credentials expire,
 * or as soon as IAM refuses its credentials ({@link isRejectedCredentials}): the next caller assumes the role again.
 */
export function spokeIamClients(options: SpokeClientsOptions): IamFor {
  const clock = options.clock ?? Date.now;
  const cache = new Map<string, Cached>();
  return (account, partition) => {
    const key = `${partition}:${account}`;
    const hit = cache.get(key);
    if (hit && clock() < hit.expiresAt) return hit.client;
    const roleArn = spokeRoleArn(partition, account, options.spokeRole);
    const entry: { client?: Promise<IAMClient>; expiresAt: number } = { expiresAt: Infinity };
    entry.client = (async () => {
      let credentials: AwsCredentialIdentity;
      try {
        const out = await options.sts.send(new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: SPOKE_SESSION_NAME,
          DurationSeconds: SPOKE_SESSION_SECONDS,
        }));
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('STS answered no credentials');
        credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
      } catch (err) {
        if (cache.get(key) === entry) cache.delete(key);
        throw new SpokeAssumeError(roleArn, err);
      }
      const expiration = credentials.expiration?.getTime() ?? clock() + SPOKE_SESSION_SECONDS * 1000;
      entry.expiresAt = expiration - SPOKE_CREDENTIALS_MARGIN_MS;
      const client = options.iamClient(credentials);
      // Dropped only while it is still this entry: a late refusal of old credentials must not drop fresh ones.
      const drop = () => { if (cache.get(key) === entry) cache.delete(key); };
      const send = client.send.bind(client) as (...args: unknown[]) => unknown;
      (client as { send: unknown }).send = (...args: unknown[]) => {
        const out = send(...args);
        return out instanceof Promise ? out.catch((err: unknown) => {
          if (isRejectedCredentials(err)) drop();
          throw err;
        }) : out;
      };
      return client;
    })();
    cache.set(key, entry as Cached);
    return entry.client;
  };
}
