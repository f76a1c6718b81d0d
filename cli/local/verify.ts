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
  /** aws:PrincipalArn: a role session's is its role's ARN with the role's path, which the session ARN lacks. */
  readonly principalArn?: string;
  /** Credentials of a role session: the role's ARN (with its path). */
  readonly roleArn?: string;
  /** Session tags (aws:PrincipalTag/…), those carried from a chained session included. */
  readonly tags?: readonly { readonly Key: string; readonly Value: string }[];
  /** The tag keys that pass on to a session this one chains into. */
  readonly transitiveTagKeys?: readonly string[];
  readonly sourceIdentity?: string;
  /** When the credentials were issued (aws:TokenIssueTime). */
  readonly issuedAt?: Date;
}

export interface ReceivedRequest {
  readonly method: string;
  /** The request target as received: path and query string, still encoded. */
  readonly url: string;
  /** `url` already parsed with {@link parseTarget}, so that the caller acts on exactly what was verified. */
  readonly target?: RequestTarget;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * A request target in the one reading both the signature check and whoever acts on the request use. Only targets
 * that SigV4 canonicalization maps back to one request are accepted: see {@link parseTarget}.
 */
export interface RequestTarget {
  /** The path as received, still percent-encoded: what the signature covers, and the payload 2.0 event's rawPath. */
  readonly rawPath: string;
  /** rawPath decoded (requestContext.http.path). */
  readonly path: string;
  /** The query string as received, without `?`. */
  readonly rawQueryString: string;
  /** The decoded query parameters, each name once; an own property even for a name like `__proto__`. */
  readonly query: Readonly<Record<string, string>>;
}

export type ParsedTarget = { readonly ok: true; readonly target: RequestTarget } | { readonly ok: false; readonly reason: string };

export interface VerifyOptions {
  readonly service: string;
  readonly region: string;
  readonly lookup: (accessKeyId: string) => KnownKey | undefined;
  readonly now?: () => Date;
  /** How far X-Amz-Date may be from now; AWS allows 5 minutes. */
  readonly maxSkewMs?: number;
}

export type Verified =
  | {
    readonly ok: true;
    readonly accessKeyId: string;
    readonly key: KnownKey;
    /** The target the signature was checked against. */
    readonly target: RequestTarget;
    /** Each signed header (lower-case name) with the value the signature covers: trimmed, inner whitespace runs as one space. */
    readonly signedHeaders: Readonly<Record<string, string>>;
  }
  | { readonly ok: false; readonly reason: string; readonly kind: RefusalKind };

/**
 * Why a signature was refused, for the STS error codes: missing, unknown or expired key, bad signature, stale time,
 * or a path or query string that could be read two ways.
 */
export type RefusalKind = 'MissingAuthenticationToken' | 'InvalidClientTokenId' | 'ExpiredToken' | 'SignatureDoesNotMatch' | 'IncompleteSignature'
  | 'MalformedQueryString';

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

const badTarget = (reason: string): ParsedTarget => ({ ok: false, reason });

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses a request target once, for the signature check and for the handler alike, and refuses what SigV4 would
 * read differently from the handler. The signer canonicalizes the path with empty, `.` and `..` segments removed,
 * so `//sessions` and `/x/../sessions` would verify with the signature for `/sessions`; `+` is a plus to SigV4 but a
 * space to form decoding (and to API Gateway, by some accounts); a repeated name is signed sorted but joined in the
 * order received. Clients that sign with the AWS SDKs send none of these.
 */
export function parseTarget(url: string): ParsedTarget {
  if (!url.startsWith('/')) return badTarget('The request target must be a path starting with "/", not a full URL.');
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQueryString = q < 0 ? '' : url.slice(q + 1);
  const path = decode(rawPath);
  if (path === undefined) return badTarget('The path is not validly percent-encoded.');
  if (rawPath.includes('//')) return badTarget('The path has an empty segment ("//"); send it in normal form.');
  for (const segment of rawPath.split('/')) {
    const decoded = decode(segment) ?? '';
    if (decoded === '.' || decoded === '..') return badTarget('The path has a "." or ".." segment; send it in normal form.');
    if (decoded.includes('/')) return badTarget('The path has an encoded "/" (%2F) inside a segment.');
  }
  if (rawQueryString.includes('+')) {
    return badTarget('The query string has a "+", which is read as a plus by SigV4 and as a space by form decoding: send %2B or %20.');
  }
  const query = new Map<string, string>();
  for (const pair of rawQueryString.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    if (name === undefined || value === undefined) return badTarget('The query string is not validly percent-encoded.');
    if (query.has(name)) return badTarget(`The query parameter "${name.slice(0, 50)}" is repeated.`);
    query.set(name, value);
  }
  return { ok: true, target: { rawPath, path, rawQueryString, query: Object.fromEntries(query) } };
}

/** A header value as SigV4 canonicalizes it. */
const canonicalValue = (value: string) => value.trim().replace(/\s+/g, ' ');

/** Checks a SigV4 (Authorization header) signature; the reasons are safe to show to the caller. */
export async function verifySigV4(req: ReceivedRequest, options: VerifyOptions): Promise<Verified> {
  const authorization = header(req.headers, 'authorization');
  const search = req.url.split(/\?(.*)/s, 2)[1] ?? '';
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
  const parsed: ParsedTarget = req.target ? { ok: true, target: req.target } : parseTarget(req.url);
  if (!parsed.ok) return refuse(parsed.reason, 'MalformedQueryString');
  const { target } = parsed;
  // The signer leaves X-Amz-Signature out of the canonical query: it could be added to a signed request unnoticed.
  if (Object.keys(target.query).some((name) => name.toLowerCase() === 'x-amz-signature')) {
    return refuse('A request signed in the Authorization header must not carry X-Amz-Signature in its query string.', 'IncompleteSignature');
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
    path: target.rawPath,
    query: { ...target.query },
    headers: signedOnly,
    body: req.body.length > 0 ? req.body : undefined,
  }), { signingDate, signableHeaders: new Set(signedHeaders) }) as HttpRequest;
  const again = AUTHORIZATION.exec(expected.headers.authorization ?? '');
  if (!again || again[5] !== signedHeaderList || !constantTimeEqual(again[6], signature)) {
    return refuse('The request signature we calculated does not match the signature you provided.');
  }
  const canonical: Record<string, string> = {};
  for (const h of signedHeaders) canonical[h] = canonicalValue(signedOnly[h]);
  return { ok: true, accessKeyId, key, target, signedHeaders: canonical };
}
