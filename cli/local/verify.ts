// SigV4 verification for the local front door and the local STS: re-sign the received request with the secret of
// the access key it names and compare signatures in constant time; the body is bound by its hash.
import { timingSafeEqual } from 'crypto';
import type { IncomingHttpHeaders } from 'http';
import { HttpRequest } from '@smithy/protocol-http';
import { sha256Hex, signerFor } from '../signing';

/** The secret behind an access key id, and who it is. */
export interface KnownKey {
  readonly secretAccessKey: string;
  /** Credentials vended by the local STS carry a token, which must come with them. */
  readonly sessionToken?: string;
  /** The principal's ARN (what API Gateway puts into requestContext.authorizer.iam.userArn). */
  readonly arn: string;
  /** Temporary credentials stop working at this time. */
  readonly expiration?: Date;
}

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received: path and query string, still encoded. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface VerifyOptions {
  readonly service: string;
  readonly region: string;
  readonly lookup: (accessKeyId: string) => KnownKey | undefined;
  readonly now?: () => Date;
  /** How far X-Amz-Date may be from now; AWS allows 5 minutes. */
  readonly maxSkewMs?: number;
}

export type Verified =
  | { readonly ok: true; readonly accessKeyId: string; readonly key: KnownKey }
  | { readonly ok: false; readonly reason: string; readonly kind: RefusalKind };

/** Why a signature was refused, for the STS error codes: missing, unknown or expired key, bad signature, stale time. */
export type RefusalKind = 'MissingAuthenticationToken' | 'InvalidClientTokenId' | 'ExpiredToken' | 'SignatureDoesNotMatch' | 'IncompleteSignature';

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
export const MAX_SKEW_MS = 5 * 60 * 1000;

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};
const refuse = (reason: string, kind: RefusalKind = 'SignatureDoesNotMatch'): Verified => ({ ok: false, reason, kind });

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Splits `a=1&b=2&a=3` into decoded keys and values (no `+` as space: SigV4 signs RFC 3986 encodings). */
export function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (!search) return query;
  for (const pair of search.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return query;
}

/** Checks a SigV4 (Authorization header) signature; the reasons are safe to show to the caller. */
export async function verifySigV4(req: ReceivedRequest, options: VerifyOptions): Promise<Verified> {
  const authorization = header(req.headers, 'authorization');
  const [path, search = ''] = req.url.split(/\?(.*)/s, 2);
  if (!authorization) {
    if (/(^|&)X-Amz-Signature=/i.test(search)) {
      return refuse('Query-string (presigned) signatures are not supported here: sign the Authorization header.', 'IncompleteSignature');
    }
    return refuse('Missing Authentication Token: the request must be signed with AWS Signature Version 4.', 'MissingAuthenticationToken');
  }
  const m = AUTHORIZATION.exec(authorization.trim());
  if (!m) return refuse('The Authorization header is not an AWS4-HMAC-SHA256 signature.', 'IncompleteSignature');
  const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = m;
  const amzDate = header(req.headers, 'x-amz-date');
  const d = amzDate ? AMZ_DATE.exec(amzDate) : null;
  if (!amzDate || !d) return refuse('The request must carry X-Amz-Date (YYYYMMDDTHHMMSSZ).', 'IncompleteSignature');
  if (amzDate.slice(0, 8) !== scopeDate) return refuse('The credential scope date does not match X-Amz-Date.');
  const signingDate = new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]));
  const now = (options.now ?? (() => new Date()))();
  const skew = options.maxSkewMs ?? MAX_SKEW_MS;
  if (Number.isNaN(signingDate.getTime()) || Math.abs(now.getTime() - signingDate.getTime()) > skew) {
    return refuse(`Signature expired: the request time ${amzDate} is more than ${Math.round(skew / 60000)} minutes away from the server time.`);
  }
  if (service !== options.service) return refuse(`The credential scope names service ${service}: expected ${options.service}.`);
  if (region !== options.region) return refuse(`The credential scope names region ${region}: expected ${options.region}.`);
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    return refuse('The signature must cover the host and x-amz-date headers.', 'IncompleteSignature');
  }
  for (const h of signedHeaders) {
    if (header(req.headers, h) === undefined) return refuse(`The signed header ${h} is missing from the request.`, 'IncompleteSignature');
  }
  const key = options.lookup(accessKeyId);
  if (!key) return refuse('The security token included in the request is invalid.', 'InvalidClientTokenId');
  const token = header(req.headers, 'x-amz-security-token');
  if (key.sessionToken !== undefined || token !== undefined) {
    if (token === undefined || key.sessionToken === undefined || !constantTimeEqual(token, key.sessionToken)
      || !signedHeaders.includes('x-amz-security-token')) {
      return refuse('The security token included in the request is invalid.', 'InvalidClientTokenId');
    }
  }
  if (key.expiration && key.expiration.getTime() <= now.getTime()) return refuse('The security token included in the request is expired.', 'ExpiredToken');
  // The signature covers the payload hash; a hash header that does not match the body would let a body be replaced.
  const bodyHash = sha256Hex(req.body);
  const claimed = header(req.headers, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed !== bodyHash) {
    return refuse('The provided x-amz-content-sha256 header does not match the hash of the body.');
  }
  let query: Record<string, string | string[]>;
  try {
    query = parseQuery(search);
  } catch {
    return refuse('The query string is not validly percent-encoded.', 'IncompleteSignature');
  }
  const signedOnly: Record<string, string> = {};
  for (const h of signedHeaders) signedOnly[h] = header(req.headers, h)!;
  const expected = await signerFor(service, region, {
    accessKeyId,
    secretAccessKey: key.secretAccessKey,
    sessionToken: key.sessionToken,
  }, false).sign(new HttpRequest({
    method: req.method,
    hostname: signedOnly.host,
    path,
    query,
    headers: signedOnly,
    body: req.body.length > 0 ? req.body : undefined,
  }), { signingDate, signableHeaders: new Set(signedHeaders) }) as HttpRequest;
  const again = AUTHORIZATION.exec(expected.headers.authorization ?? '');
  if (!again || again[5] !== signedHeaderList || !constantTimeEqual(again[6], signature)) {
    return refuse('The request signature we calculated does not match the signature you provided.');
  }
  return { ok: true, accessKeyId, key };
}
