import * as http from 'http';
import * as https from 'https';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * The two AWS Organizations calls the enforcer makes on its SCP, DescribePolicy and UpdatePolicy, and no other: a small
 * client of Organizations' JSON 1.1 protocol signed with SigV4 (the SDK's Organizations client is not a dependency; two
 * calls do not justify it in the bundle).
 */
export interface OrganizationPolicies {
  /** The policy's content as Organizations holds it. */
  describePolicy(policyId: string): Promise<string>;
  /** Replaces the policy's content (name, description and targets unchanged). */
  updatePolicy(policyId: string, content: string): Promise<void>;
}

export interface OrganizationsClientOptions {
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The function's partition (`aws`, `aws-cn`, `aws-us-gov`): Organizations has one endpoint in each. @default aws */
  readonly partition?: string;
  /** @default AWS_ENDPOINT_URL_ORGANIZATIONS (the SDKs' variable: local mode, tests), else the partition's endpoint */
  readonly endpoint?: string;
  /** @default 2,000 */
  readonly connectionTimeoutMs?: number;
  /** @default 5,000 */
  readonly requestTimeoutMs?: number;
  /** Attempts of a throttled or failed call. @default 3 */
  readonly maxAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Organizations' endpoint and signing region in each partition (a global service, served from one region). */
const PARTITIONS: Record<string, { readonly endpoint: string; readonly region: string }> = {
  'aws': { endpoint: 'https://organizations.us-east-1.amazonaws.com', region: 'us-east-1' },
  'aws-cn': { endpoint: 'https://organizations.cn-northwest-1.amazonaws.com.cn', region: 'cn-northwest-1' },
  'aws-us-gov': { endpoint: 'https://organizations.us-gov-west-1.amazonaws.com', region: 'us-gov-west-1' },
};

/** The partition of a region (`cn-north-1` → `aws-cn`), for the Organizations endpoint. */
export function partitionOfRegion(region: string | undefined): string {
  if (region?.startsWith('cn-')) return 'aws-cn';
  if (region?.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

const TARGET_PREFIX = 'AWSOrganizationsV20161128';
/** Errors worth another attempt: throttling, a concurrent change of the same policy, Organizations' own failures. */
const RETRYABLE = new Set(['TooManyRequestsException', 'ConcurrentModificationException', 'ServiceException', 'ThrottlingException']);
const MAX_RESPONSE_BYTES = 1_000_000;

/** An error Organizations answered (its `__type`), or a transport failure (`TimeoutError`, `NetworkingError`). */
export class OrganizationsError extends Error {
  constructor(name: string, message: string, public readonly status?: number) {
    super(message);
    this.name = name;
  }
}

export function organizationsClient(options: OrganizationsClientOptions): OrganizationPolicies {
  const partition = options.partition ?? 'aws';
  const known = PARTITIONS[partition];
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_ORGANIZATIONS ?? known?.endpoint;
  const region = known?.region ?? 'us-east-1';
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const signer = new SignatureV4({
    service: 'organizations', region, credentials: options.credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: true,
  });

  const once = async (operation: string, input: Record<string, unknown>): Promise<any> => {
    if (!endpoint) {
      throw new OrganizationsError('ConfigError', `no Organizations endpoint is known in partition ${partition}: set AWS_ENDPOINT_URL_ORGANIZATIONS`);
    }
    const url = new URL(endpoint);
    const body = JSON.stringify(input);
    const request = new HttpRequest({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      method: 'POST',
      path: url.pathname || '/',
      headers: {
        'host': url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `${TARGET_PREFIX}.${operation}`,
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    });
    const signed = await signer.sign(request) as HttpRequest;
    const { status, text } = await send(url, signed, body, options.connectionTimeoutMs ?? 2_000, options.requestTimeoutMs ?? 5_000);
    let parsed: any = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      if (status === 200) throw new OrganizationsError('SerializationError', 'Organizations answered a body that is not JSON', status);
    }
    if (status === 200) return parsed;
    // `__type` may be namespaced (`com.amazonaws…#PolicyNotFoundException`) or carry a suffix after `:`.
    const type = String(parsed.__type ?? (status >= 500 ? 'ServiceException' : 'UnknownError')).split('#').pop()!.split(':')[0];
    throw new OrganizationsError(type, String(parsed.Message ?? parsed.message ?? `HTTP ${status}`).slice(0, 500), status);
  };

  const call = async (operation: string, input: Record<string, unknown>): Promise<any> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(operation, input);
      } catch (err) {
        const e = err as OrganizationsError;
        const retryable = RETRYABLE.has(e.name) || (e.status ?? 0) >= 500 || e.name === 'TimeoutError' || e.name === 'NetworkingError';
        if (!retryable || attempt >= maxAttempts) throw err;
        await sleep(Math.round(100 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)));
      }
    }
  };

  return {
    describePolicy: async (policyId) => {
      const out = await call('DescribePolicy', { PolicyId: policyId });
      const content = out?.Policy?.Content;
      if (typeof content !== 'string') throw new OrganizationsError('SerializationError', `DescribePolicy answered no content for ${policyId}`);
      return content;
    },
    updatePolicy: async (policyId, content) => {
      await call('UpdatePolicy', { PolicyId: policyId, Content: content });
    },
  };
}

/** Sends a signed request; resolves to the status and body, rejects on a transport failure or a timeout. */
function send(url: URL, signed: HttpRequest, body: string, connectionTimeoutMs: number,
  requestTimeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'http:' ? http : https;
    const req = transport.request({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port || undefined,
      method: 'POST',
      path: signed.path,
      headers: signed.headers,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new OrganizationsError('NetworkingError', 'Organizations answered too large a body'));
        else chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new OrganizationsError('NetworkingError', err.message)));
    });
    const timeout = (what: string, ms: number) => () => req.destroy(new OrganizationsError('TimeoutError', `${what} Organizations in ${ms} ms`));
    const connect = setTimeout(timeout('no connection to', connectionTimeoutMs), connectionTimeoutMs);
    req.on('socket', (socket) => {
      const connected = () => clearTimeout(connect);
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
    req.setTimeout(requestTimeoutMs, timeout('no answer from', requestTimeoutMs));
    req.on('error', (err) => {
      clearTimeout(connect);
      reject(err instanceof OrganizationsError ? err : new OrganizationsError('NetworkingError', err.message));
    });
    req.on('close', () => clearTimeout(connect));
    req.end(body);
  });
}
