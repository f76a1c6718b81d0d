import * as http from 'http';
import * as https from 'https';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { CliError, ExitCode, usageError } from './errors';
import { identityProof } from './proof';
import { encodeRfc3986, signerFor } from './signing';
import { IdentityProof } from '../src/shared/contract';

/** `https://<api-id>.execute-api.<region>.amazonaws.com[.cn]`: the region is in the host name. */
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
export const DEFAULT_REGION = 'us-east-1';

export interface TvmClientOptions {
  readonly url: string;
  /** Signing region; by default from an execute-api host name, else us-east-1. */
  readonly region?: string;
  /** A profile of the AWS configuration to sign with, instead of the default credential chain. */
  readonly sourceProfile?: string;
  /** For tests: credentials to sign with. */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly timeoutMs?: number;
  readonly userAgent?: string;
}

export interface TvmResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, or undefined if the body was not JSON. */
  readonly json: any;
  readonly text: string;
}

export interface RequestOptions {
  readonly query?: Record<string, string | undefined>;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

/** The TVM's base URL, checked: https, or plain http only to this machine (local mode). */
export function parseTvmUrl(raw: string | undefined): URL {
  if (!raw) throw usageError('--url is required (or set SENTINEL_TVM_URL): the TVM API URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url "${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw usageError(`--url "${raw}": expected https:// (plain http:// only to 127.0.0.1 or localhost, for local mode)`);
  }
  if (url.search || url.hash || url.username || url.password) throw usageError(`--url "${raw}": expected no query, fragment or user info`);
  return url;
}

/** The signing region: `--region`, else the region of an execute-api host name, else us-east-1. */
export function regionFor(url: URL, region?: string): string {
  if (region !== undefined) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw usageError(`--region "${region}" is not an AWS region name`);
    return region;
  }
  return EXECUTE_API_HOST.exec(url.hostname)?.[1] ?? DEFAULT_REGION;
}

/** Calls the TVM's HTTP API with SigV4 (service execute-api). */
export class TvmClient {
  public readonly url: URL;
  public readonly region: string;
  private readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(options: TvmClientOptions) {
    this.url = parseTvmUrl(options.url);
    this.region = regionFor(this.url, options.region);
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.userAgent = options.userAgent ?? 'sentinel-tvm';
    if (options.credentials) {
      this.credentials = options.credentials;
    } else {
      const chain = fromNodeProviderChain(options.sourceProfile ? { profile: options.sourceProfile } : {});
      this.credentials = async () => {
        try {
          return await chain();
        } catch (err) {
          const source = options.sourceProfile ? `profile "${options.sourceProfile}"` : 'the default credential chain';
          throw new CliError(ExitCode.LOCAL, `no AWS credentials to sign with from ${source}: ${oneLine((err as Error)?.message ?? err)}`);
        }
      };
    }
  }

  /** Sends a signed request; any HTTP status resolves (the caller decides), a network failure throws exit code 3. */
  public async request(method: string, path: string, options: RequestOptions = {}): Promise<TvmResponse> {
    const base = this.url.pathname.replace(/\/+$/, '');
    const fullPath = `${base}${path}`;
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) query[k] = v;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      host: this.url.host,
      accept: 'application/json',
      // Proves who signs, independently of API Gateway's context (the TVM sends it to STS); covered by the signature.
      [IdentityProof.HEADER]: await identityProof(this.credentials, this.region, this.url.host),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    };
    const unsigned = new HttpRequest({
      method,
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port ? Number(this.url.port) : undefined,
      path: fullPath,
      query,
      headers,
      body,
    });
    const signed = await signerFor('execute-api', this.region, this.credentials).sign(unsigned) as HttpRequest;
    const search = Object.entries(query).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
    const target = `${fullPath}${search ? `?${search}` : ''}`;
    return this.send(method, target, { ...signed.headers, 'user-agent': this.userAgent }, body);
  }

  private send(method: string, target: string, headers: Record<string, string>, body: string | undefined): Promise<TvmResponse> {
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request({
        method,
        hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
        port: this.url.port || undefined,
        path: target,
        headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers,
        timeout: this.timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(unreachable(this.url, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(unreachable(this.url, err)));
      req.end(body);
    });
  }
}

function unreachable(url: URL, err: Error & { code?: string }): CliError {
  return new CliError(ExitCode.SERVER, `cannot reach the TVM at ${url.origin}: ${err.code ?? ''} ${oneLine(err.message)}`.replace(/ +/g, ' '));
}

export function oneLine(value: unknown): string {
  return String(value).replace(/\s+/g, ' ').trim().slice(0, 500);
}

/** An error answer as the command reports it: the TVM's code and message, or what the gateway said. */
export interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly requestId?: string;
  readonly status: number;
}

export function refusalOf(res: TvmResponse): Refusal {
  const j = res.json;
  if (j && typeof j === 'object' && typeof j.Code === 'string') {
    return { code: j.Code, message: String(j.Message ?? ''), requestId: j.RequestId, status: res.status };
  }
  // API Gateway's own answers (missing or bad signature, throttling, timeouts) are {"message": "..."}.
  const gatewayMessage = j && typeof j === 'object' && typeof j.message === 'string' ? j.message : oneLine(res.text).slice(0, 200);
  const requestId = res.headers['apigw-requestid'];
  return { code: `HTTP_${res.status}`, message: gatewayMessage || 'no message', requestId: typeof requestId === 'string' ? requestId : undefined, status: res.status };
}

/** Throws the CliError for a non-2xx answer: 4xx is a refusal (exit 1), anything else a server error (exit 3). */
export function failOn(res: TvmResponse): void {
  if (res.status >= 200 && res.status < 300) {
    if (res.json === undefined || typeof res.json !== 'object') {
      throw new CliError(ExitCode.SERVER, `the TVM answered HTTP ${res.status} with a body that is not JSON: is --url the TVM's API?`);
    }
    return;
  }
  throw refusalError(refusalOf(res));
}

export function refusalError(r: Refusal): CliError {
  const exit = r.status >= 400 && r.status < 500 ? ExitCode.REFUSED : ExitCode.SERVER;
  return new CliError(exit, `${r.code}: ${r.message}${r.requestId ? ` (request id ${r.requestId})` : ''}`);
}
