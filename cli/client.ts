import * as http from 'http';
import * as https from 'https';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { oneLine, type TvmResponse } from './answer';
import { CliError, ExitCode } from './errors';
import { identityProof } from './proof';
import { encodeRfc3986, signerFor } from './signing';
import { parseTvmUrl, regionFor } from './url';
import { IdentityProof } from '../src/shared/contract';

// The light parts live apart so that a credential cache hit never loads the AWS SDK; re-exported for callers.
export { failOn, oneLine, refusalError, refusalOf, type Refusal, type TvmResponse } from './answer';
export { DEFAULT_REGION, parseTvmUrl, regionFor } from './url';

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


export interface RequestOptions {
  readonly query?: Record<string, string | undefined>;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

/** The TVM's answers are small (a page of sessions is the largest): anything far beyond is not the TVM. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

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
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(Object.assign(new Error(`an answer over ${MAX_ANSWER_BYTES} bytes`), { code: 'E2BIG' }));
          else chunks.push(c);
        });
        res.on('error', (err) => reject(unreachable(this.url, err)));
        res.on('end', () => {
          clearTimeout(deadline);
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
      // The socket timeout above is per idle period: an answer trickling a byte at a time would never trip it.
      const deadline = setTimeout(() => req.destroy(Object.assign(new Error(`no complete answer within ${this.timeoutMs} ms`),
        { code: 'ETIMEDOUT' })), this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(deadline);
        reject(unreachable(this.url, err));
      });
      req.end(body);
    });
  }
}

function unreachable(url: URL, err: Error & { code?: string }): CliError {
  return new CliError(ExitCode.SERVER, `cannot reach the TVM at ${url.origin}: ${err.code ?? ''} ${oneLine(err.message)}`.replace(/ +/g, ' '));
}

