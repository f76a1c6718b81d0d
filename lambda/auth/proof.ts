import { createHash } from 'crypto';
import * as http from 'http';
import * as https from 'https';
import { IdentityProof } from '../../src/shared/contract';
import { ApiError } from '../errors';

/**
 * The caller's identity, proven independently of the event: the request carries a SigV4-signed
 * `sts:GetCallerIdentity` request (its headers), which the handler sends to STS itself. Only the holder of the
 * caller's credentials can sign it, so someone who can invoke the function directly, with a forged
 * `requestContext.authorizer.iam`, still cannot act as anyone but themselves. The signed request names this TVM
 * (header `x-sentinel-tvm-audience`, covered by the signature), so a proof made for another TVM, or for any other
 * service that verifies GetCallerIdentity, is refused here.
 */

export interface VerifiedIdentity {
  /** The principal's ARN as STS reports it (an assumed role's session ARN, a user's ARN with its path). */
  readonly arn: string;
  /** STS's unique id of the principal: `AIDA…` for users, `AROA…:<session>` for role sessions. */
  readonly userId: string;
  readonly account: string;
}

/** An HTTP exchange with STS; injected in tests to count calls or inject faults. */
export type StsSend = (request: { url: URL; headers: Record<string, string>; body: string }) => Promise<{ status: number; body: string }>;

export interface VerifierOptions {
  /** The host names this TVM answers on; a proof must name one of them. */
  readonly audiences: readonly string[];
  /** The function's region: the proof must be signed for this region's STS. */
  readonly region: string;
  /** Where to send the proof: `AWS_ENDPOINT_URL_STS`, else STS's regional endpoint. */
  readonly endpoint?: string;
  readonly now?: () => Date;
  readonly send?: StsSend;
  /** Verified proofs remembered (until they are too old to be accepted anyway). */
  readonly cacheSize?: number;
}

/** Headers a proof may carry: anything else is refused rather than forwarded to STS. */
const PROOF_HEADERS = new Set(['host', 'x-amz-date', 'authorization', 'x-amz-security-token', 'content-type', 'x-amz-content-sha256',
  IdentityProof.AUDIENCE_HEADER]);
const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=[^/\s,]+\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const STS_TIMEOUTS = { connectMs: 1_000, requestMs: 2_000, attempts: 2 } as const;

/** STS's regional host name for a region (the China partition has its own domain). */
export function stsHostFor(region: string): string {
  return `sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

const refused = (detail: string) =>
  new ApiError('IAM_AUTH_REQUIRED', 'This API requires an identity proof signed by the caller (use the sentinel-tvm client).', {},
    `identity proof: ${detail}`);

/** Checks proofs; one instance per container (it keeps a small cache of verified proofs). */
export class IdentityVerifier {
  private readonly cache = new Map<string, { identity: VerifiedIdentity; until: number }>();
  private readonly now: () => Date;
  private readonly send: StsSend;
  private readonly host: string;
  private readonly endpoint: URL;
  private readonly audiences: ReadonlySet<string>;

  constructor(private readonly options: VerifierOptions) {
    if (options.audiences.length === 0) throw new Error('IdentityVerifier: no audience configured');
    this.now = options.now ?? (() => new Date());
    this.send = options.send ?? httpSend;
    this.host = stsHostFor(options.region);
    this.endpoint = new URL(options.endpoint ?? `https://${this.host}/`);
    this.audiences = new Set(options.audiences.map((a) => a.toLowerCase()));
  }

  /**
   * The proven identity, or an ApiError: 403 `IAM_AUTH_REQUIRED` for a missing or refused proof, 502 when STS fails.
   *
   * @param audience instead of this TVM's audiences, the one audience the proof must name: a proof a caller made for a
   * relying party (`POST /introspect`). It must not be one of this TVM's, or a relying party could hand the TVM a proof
   * it was given, and introspection would lend it proofs that were only ever meant for the TVM.
   */
  public async verify(header: string | undefined, audience?: string): Promise<VerifiedIdentity> {
    if (header === undefined || header === '') throw refused('missing');
    if (header.length > IdentityProof.MAX_LENGTH) throw refused('too long');
    const headers = parseProof(header);
    const date = this.check(headers, audience?.toLowerCase());
    const key = createHash('sha256').update(header).digest('hex');
    const nowMs = this.now().getTime();
    const cached = this.cache.get(key);
    if (cached && cached.until > nowMs) return cached.identity;
    const identity = await this.callSts(headers);
    this.remember(key, identity, date + IdentityProof.MAX_AGE_SECONDS * 1000, nowMs);
    return identity;
  }

  /** Everything that can be checked without STS; returns the proof's signing time (epoch ms). */
  private check(headers: Record<string, string>, expectedAudience: string | undefined): number {
    return checkProofHeaders(headers, {
      host: this.host, region: this.options.region, ownAudiences: this.audiences, expectedAudience, nowMs: this.now().getTime(),
    });
  }

  private async callSts(headers: Record<string, string>): Promise<VerifiedIdentity> {
    const body = IdentityProof.BODY;
    let answer: { status: number; body: string } | undefined;
    let failure: unknown;
    for (let attempt = 0; attempt < STS_TIMEOUTS.attempts && !answer; attempt++) {
      try {
        const res = await this.send({ url: this.endpoint, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body });
        if (res.status >= 500) failure = new Error(`STS answered ${res.status}`);
        else answer = res;
      } catch (err) {
        failure = err;
      }
    }
    if (!answer) {
      const e = failure as Error | undefined;
      throw new ApiError('CREDENTIAL_ERROR', 'The caller identity could not be verified.', {},
        `identity proof: STS unavailable: ${e?.name ?? 'Error'}: ${String(e?.message ?? '').slice(0, 200)}`);
    }
    if (answer.status !== 200) throw refused(`STS refused it (${answer.status} ${xmlValue(answer.body, 'Code') ?? 'no code'})`);
    const arn = xmlValue(answer.body, 'Arn');
    const userId = xmlValue(answer.body, 'UserId');
    const account = xmlValue(answer.body, 'Account');
    if (!arn || !userId || !account) throw refused('STS answered without an identity');
    return { arn, userId, account };
  }

  private remember(key: string, identity: VerifiedIdentity, until: number, nowMs: number): void {
    for (const [k, v] of this.cache) {
      if (this.cache.size < (this.options.cacheSize ?? 1000) && v.until > nowMs) break;
      this.cache.delete(k);
    }
    this.cache.set(key, { identity, until });
  }
}

/** What a proof's headers are checked against, before anything is sent to STS. */
export interface ProofExpectations {
  /** STS's host in the TVM's region. */
  readonly host: string;
  readonly region: string;
  /** The TVM's own audiences (lower case). */
  readonly ownAudiences: ReadonlySet<string>;
  /** A relying party's audience (lower case): the proof must name it, and it must not be one of the TVM's. Absent: one of the TVM's. */
  readonly expectedAudience?: string;
  readonly nowMs: number;
}

/**
 * Everything about a proof that can be checked without STS (host, audience, signature scope and covered headers, age);
 * returns its signing time (epoch ms), or throws the refusal. The TVM runs it before STS; a relying party's verifier runs
 * it before asking the TVM, so that a header anyone can send costs the TVM nothing.
 */
export function checkProofHeaders(headers: Record<string, string>, expect: ProofExpectations): number {
  if ((headers.host ?? '').toLowerCase() !== expect.host) throw refused(`signed for host ${String(headers.host).slice(0, 80)}, not ${expect.host}`);
  const audience = (headers[IdentityProof.AUDIENCE_HEADER] ?? '').toLowerCase();
  if (expect.expectedAudience === undefined) {
    if (!expect.ownAudiences.has(audience)) throw refused(`audience ${audience.slice(0, 100) || '(none)'} is not this TVM`);
  } else if (audience !== expect.expectedAudience || expect.ownAudiences.has(audience)) {
    throw refused(`audience ${audience.slice(0, 100) || '(none)'} is not the relying party's or is this TVM's`);
  }
  const auth = AUTHORIZATION.exec(headers.authorization ?? '');
  if (!auth) throw refused('no AWS4-HMAC-SHA256 authorization');
  const [, scopeDate, region, service, signedList] = auth;
  if (service !== 'sts' || region !== expect.region) throw refused(`signed for ${service} in ${region}`);
  const signed = new Set(signedList.split(';'));
  for (const h of ['host', 'x-amz-date', IdentityProof.AUDIENCE_HEADER]) {
    if (!signed.has(h)) throw refused(`the signature does not cover ${h}`);
  }
  if (headers['x-amz-security-token'] !== undefined && !signed.has('x-amz-security-token')) {
    throw refused('the signature does not cover x-amz-security-token');
  }
  const d = AMZ_DATE.exec(headers['x-amz-date'] ?? '');
  if (!d || headers['x-amz-date'].slice(0, 8) !== scopeDate) throw refused('bad x-amz-date');
  const date = Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]);
  // Old by at most 5 minutes; ahead by at most a minute of clock skew (a proof dated later would live longer).
  const age = expect.nowMs - date;
  if (age > IdentityProof.MAX_AGE_SECONDS * 1000 || -age > IdentityProof.MAX_FUTURE_SECONDS * 1000) throw refused('too old or in the future');
  return date;
}

/** The proof header's headers, lower-cased; refuses anything that is not exactly that. */
export function parseProof(header: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    throw refused('not base64 JSON');
  }
  const p = parsed as { v?: unknown; headers?: unknown } | null;
  if (!p || typeof p !== 'object' || p.v !== 1 || !p.headers || typeof p.headers !== 'object' || Array.isArray(p.headers)) {
    throw refused('not a version 1 proof');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(p.headers as Record<string, unknown>)) {
    const lower = name.toLowerCase();
    if (!PROOF_HEADERS.has(lower) || typeof value !== 'string' || /[\r\n]/.test(value) || lower in headers) {
      throw refused(`header ${lower.slice(0, 40)} is not allowed`);
    }
    headers[lower] = value;
  }
  return headers;
}

function xmlValue(body: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
  return m?.[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * One POST to STS with the proof's own headers (their Host included), bounded as the SDK clients are: a connection
 * within 1 s, then an answer within 2 s.
 */
export const httpSend: StsSend = ({ url, headers, body }) => new Promise((resolve, reject) => {
  const client = url.protocol === 'http:' ? http : https;
  const req = client.request({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port || undefined,
    path: url.pathname || '/',
    method: 'POST',
    headers,
    // The proof's Host is STS's own name; for an https endpoint, SNI and certificate checks use the URL's host.
    servername: url.hostname,
  }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 65536) }));
    res.on('error', reject);
  });
  let timer = setTimeout(() => req.destroy(new Error('STS connection timed out')), STS_TIMEOUTS.connectMs);
  req.on('socket', (socket) => {
    const answerWithin = () => {
      clearTimeout(timer);
      timer = setTimeout(() => req.destroy(new Error('STS request timed out')), STS_TIMEOUTS.requestMs);
    };
    if (!socket.connecting) answerWithin();
    else socket.once('connect', answerWithin);
  });
  req.on('close', () => clearTimeout(timer));
  req.on('error', reject);
  req.end(body);
});
