// Hand-made SigV4 requests, to send exactly what a test wants (a replayed, tampered or badly signed request).
import * as http from 'http';
import { HttpRequest } from '@smithy/protocol-http';
import { identityProof } from '../../cli/proof';
import { encodeRfc3986, signerFor } from '../../cli/signing';
import { IdentityProof } from '../../src/shared/contract';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface RequestSpec {
  readonly method?: string;
  readonly path?: string;
  readonly query?: Record<string, string>;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

export interface SignOptions {
  readonly date?: Date;
  readonly service?: string;
  readonly region?: string;
  /** Add and sign x-amz-content-sha256 (as the AWS SDK for JavaScript does). @default true */
  readonly checksum?: boolean;
  /** Add the identity proof the TVM requires, signed with the same credentials (as the sentinel-tvm client does). @default true */
  readonly proof?: boolean;
}

/** A request to `baseUrl` signed for execute-api in us-east-1 (unless told otherwise). */
export async function signRequest(baseUrl: string, credentials: Credentials, r: RequestSpec, o: SignOptions = {}): Promise<HttpRequest> {
  const url = new URL(baseUrl);
  const request = new HttpRequest({
    method: r.method ?? 'GET',
    hostname: url.hostname,
    port: Number(url.port),
    path: r.path ?? '/',
    query: r.query ?? {},
    headers: {
      host: url.host,
      ...(r.body ? { 'content-type': 'application/json' } : {}),
      ...(o.proof ?? (o.service ?? 'execute-api') === 'execute-api'
        ? { [IdentityProof.HEADER]: await identityProof(credentials, o.region ?? 'us-east-1', url.host, o.date ?? new Date()) } : {}),
      ...r.headers,
    },
    body: r.body,
  });
  return signerFor(o.service ?? 'execute-api', o.region ?? 'us-east-1', credentials, o.checksum ?? true)
    .sign(request, { signingDate: o.date ?? new Date() }) as Promise<HttpRequest>;
}

export interface SendOverrides {
  readonly body?: string;
  readonly path?: string;
  readonly query?: Record<string, string>;
  readonly dropHeaders?: readonly string[];
}

/** Sends a signed request as it is, or with another body, path or query than it was signed for. */
export function sendRequest(baseUrl: string, signed: HttpRequest, o: SendOverrides = {}): Promise<{ status: number; body: any }> {
  const query = o.query ?? (signed.query as Record<string, string>);
  const search = Object.entries(query).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
  const headers = { ...signed.headers };
  for (const h of o.dropHeaders ?? []) delete headers[h];
  const body = o.body ?? signed.body;
  const target = `${baseUrl.replace(/\/$/, '')}${o.path ?? signed.path}${search ? `?${search}` : ''}`;
  return new Promise((resolve, reject) => {
    const req = http.request(target, { method: signed.method, headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += String(d); });
      res.on('end', () => {
        let parsed: any = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch { /* not JSON: keep the text */ }
        resolve({ status: res.statusCode!, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
