import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { SESSION_TAG_KEY } from '../../src/shared/contract';

export interface AssumeRequest {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly sourceIdentity: string;
  readonly sessionId: string;
  readonly durationSeconds: number;
}

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** STS refused or failed; `throttled` when retrying later may help. */
export class StsError extends Error {
  constructor(public readonly errorName: string, public readonly detail: string, public readonly throttled: boolean) {
    super(`STS AssumeRole failed: ${errorName}`);
    this.name = 'StsError';
  }
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** AssumeRole with the session tag (transitive, so role chaining keeps it) and the SourceIdentity. */
export async function assumeRole(sts: STSClient, r: AssumeRequest): Promise<Credentials> {
  let out;
  try {
    out = await sts.send(new AssumeRoleCommand({
      RoleArn: r.roleArn,
      RoleSessionName: r.roleSessionName,
      SourceIdentity: r.sourceIdentity,
      DurationSeconds: r.durationSeconds,
      Tags: [{ Key: SESSION_TAG_KEY, Value: r.sessionId }],
      TransitiveTagKeys: [SESSION_TAG_KEY],
    }));
  } catch (err) {
    const e = err as Error & { Code?: string };
    const name = e?.name ?? 'Error';
    throw new StsError(name, e?.message ?? '', THROTTLING.has(name));
  }
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
    throw new StsError('IncompleteCredentials', 'AssumeRole returned no credentials', false);
  }
  return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
}
