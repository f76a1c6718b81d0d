// The session verifier for relying parties, bundled to assets/verifier/index.js (`require('cdk-sentinel-tvm/assets/verifier')`),
// its types written beside it by scripts/verifier-types.js: every public type is defined in this file.
import { createHash } from 'crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { outcomeOf, proofDeadlineOf, type Outcome } from './answer';
import { ExpiringCache } from './cache';
import { httpSend } from './http';
import {
  IdentityProof, Introspection, IntrospectionRequestFields as Field, IntrospectionStoreFailure, IntrospectionTokenTypes,
} from '../../src/shared/contract';
import { checkProofHeaders, parseProof, stsHostFor, type ProofExpectations } from '../auth/proof';
import { identityProof, signerFor } from '../auth/sign';

/** AWS credentials to sign introspection requests with. */
export interface VerifierCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** With temporary credentials (a Lambda function's role). */
  readonly sessionToken?: string;
}

/** One HTTP request to the TVM, as {@link SessionVerifierOptions.send} receives it. */
export interface VerifierHttpRequest {
  /** The full URL: the TVM's URL with `/introspect`. */
  readonly url: string;
  readonly method: 'POST';
  /** Signed headers (SigV4 and the identity proof): send them unchanged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Aborted when the verifier gives up waiting. */
  readonly signal: AbortSignal;
}

/** The TVM's answer, as {@link SessionVerifierOptions.send} returns it. */
export interface VerifierHttpResponse {
  readonly status: number;
  readonly body: string;
}

/** Sends one request and resolves with whatever the TVM answered (any status); rejects only when there is no answer. */
export type VerifierHttpSend = (request: VerifierHttpRequest) => Promise<VerifierHttpResponse>;

/** What to do when the TVM cannot read its session store. */
export type StoreFailureMode = 'fail_closed' | 'fail_open';

export interface SessionVerifierOptions {
  /** The TVM's URL (`tvm.url`), `https://…/`; `http://127.0.0.1:PORT/` (or localhost) for `sentinel-tvm local`. */
  readonly tvmUrl: string;
  /** The TVM's region: its STS executes identity proofs, so the verifier signs its own proof for that region. */
  readonly region: string;
  /**
   * This relying party's audience: the name (e.g. its host name) its callers put into their identity proofs
   * (`sentinel-tvm proof --audience …`). Required by {@link SessionVerifier.checkIdentityProof}.
   */
  readonly audience?: string;
  /**
   * How long an active answer is reused, in seconds (0: never). A session revoked meanwhile stays admitted here for up to
   * this long. Default 30 (`Introspection.DEFAULT_ACTIVE_CACHE_SECONDS` of the contract), at most 3600.
   */
  readonly activeCacheSeconds?: number;
  /**
   * `'fail_closed'` (default): while the TVM cannot read its session store, checks throw a {@link SessionVerifierError}
   * with code `STORE_UNAVAILABLE`. `'fail_open'`: they answer active with `storeUnavailable: true` and the session id only,
   * unless the TVM knows the session as inactive already. Neither answer is cached.
   */
  readonly onStoreFailure?: StoreFailureMode;
  /**
   * The credentials to sign with, or a function giving them (called for each request to the TVM). Default: the
   * environment's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read on each request so that a
   * Lambda function's rotated credentials are used.
   */
  readonly credentials?: VerifierCredentials | (() => Promise<VerifierCredentials>);
  /** How to send HTTP requests; default Node.js's `http`/`https`. For tests and proxies. */
  readonly send?: VerifierHttpSend;
  /** The clock (cache lifetimes and signing times). Default: the system clock. */
  readonly now?: () => Date;
  /** How many answers to cache at most (the oldest go first). Default 10,000; 0 caches nothing. */
  readonly cacheSize?: number;
  /** How long to wait for the TVM, in milliseconds. Default 3,000. */
  readonly timeoutMs?: number;
}

/** What the TVM said about a caller's session. */
export interface SessionCheck {
  /** Whether the caller holds credentials of a live TVM session: admit the request only when true. */
  readonly active: boolean;
  /** The session id (16 hexadecimal characters), when active. */
  readonly sessionId?: string;
  /** The user who started the session (the last segment of their ARN). */
  readonly user?: string;
  /** The caller the answer is about: the ARN checked, or what STS said of the proof. */
  readonly principalArn?: string;
  /** The TVM profile the session is of. */
  readonly profile?: string;
  /** The protected role the session's credentials are of. */
  readonly roleArn?: string;
  /** When the session ends: no credentials are vended for it after that. */
  readonly expiresAt?: Date;
  /** When the latest credentials vended for the session expire. */
  readonly credentialsExpireAt?: Date;
  /** `fail_open` only: the TVM could not read its store and admitted the session unchecked; only `sessionId` is known. */
  readonly storeUnavailable?: boolean;
  /** True when no request was made for this check: the answer was cached, or shared with a request in flight. */
  readonly fromCache: boolean;
}

/**
 * A check that could not be answered: the TVM could not be reached or did not answer in time, refused the verifier
 * (4xx: e.g. `POLICY_DENY` when this principal may not introspect), failed (5xx, `STORE_UNAVAILABLE`), or answered
 * something that is not an introspection answer. Deny the request. The message never holds a secret or a proof.
 */
export class SessionVerifierError extends Error {
  /**
   * `TVM_UNREACHABLE`, `TVM_TIMEOUT`, `TVM_BAD_ANSWER`, `NO_CREDENTIALS`, `NO_AUDIENCE`, or the TVM's error code
   * (`STORE_UNAVAILABLE`, `IAM_AUTH_REQUIRED`, `POLICY_DENY`, …), else `HTTP_<status>`.
   */
  public readonly code: string;
  /** The TVM's HTTP status, when it answered. */
  public readonly status?: number;

  constructor(code: string, message: string, status?: number) {
    super(message);
    this.name = 'SessionVerifierError';
    this.code = code;
    this.status = status;
  }
}

const TVM_SESSION_ARN = /^arn:[a-z-]+:sts::\d{12}:assumed-role\/[\w+=,.@-]{1,64}\/tvm-([0-9a-f]{16})-[\w+=,.@-]*$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const INACTIVE: SessionCheck = Object.freeze({ active: false, fromCache: false });
/** Own proofs are reused this long: the TVM accepts one for 5 minutes, and verifies it with STS only once. */
const OWN_PROOF_REUSE_MS = 4 * 60 * 1000;

/**
 * Asks a Sentinel TVM (`POST /introspect`) whether the callers of a relying party, a service downstream of the TVM, hold
 * credentials of a live session, and caches the answers: an active one for {@link SessionVerifierOptions.activeCacheSeconds},
 * an inactive one for an hour (a session never comes back, and no credentials it vended outlive that hour). Create one
 * per process (per Lambda container) and share it: concurrent checks of the same caller share one request.
 *
 * The verifier's own principal must be allowed to introspect (the TVM's `introspectionPrincipals` or `grantIntrospect`).
 *
 * @example
 * const { SessionVerifier } = require('cdk-sentinel-tvm/assets/verifier');
 * const verifier = new SessionVerifier({ tvmUrl: process.env.TVM_URL, region: 'eu-west-1', audience: 'orders.example.com' });
 * // The caller sent `x-sentinel-identity: $(sentinel-tvm proof --audience orders.example.com)`.
 * const check = await verifier.checkIdentityProof(request.headers['x-sentinel-identity']);
 * if (!check.active) return deny();
 */
export class SessionVerifier {
  /** The session id of a TVM-vended session's ARN (its role session name is `tvm-<16 hex>-…`), else undefined. */
  public static sessionIdOf(arn: string): string | undefined {
    return typeof arn === 'string' ? TVM_SESSION_ARN.exec(arn)?.[1] : undefined;
  }

  private readonly url: URL;
  private readonly region: string;
  private readonly audience?: string;
  private readonly activeCacheMs: number;
  private readonly failOpen: boolean;
  private readonly credentials: () => Promise<VerifierCredentials>;
  private readonly send: VerifierHttpSend;
  private readonly now: () => Date;
  private readonly timeoutMs: number;
  private readonly cache: ExpiringCache<SessionCheck>;
  private readonly inFlight = new Map<string, Promise<SessionCheck>>();
  private ownProof?: { readonly signer: string; readonly signedAt: number; readonly proof: Promise<string> };
  /** What a caller's proof must satisfy to be worth asking the TVM about (all but the time), fixed at construction. */
  private readonly proofExpectations: Omit<ProofExpectations, 'nowMs'>;

  /** @throws Error naming the option when an option is invalid. */
  constructor(options: SessionVerifierOptions) {
    this.url = tvmUrlOf(options.tvmUrl);
    if (typeof options.region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) {
      throw new Error(`SessionVerifier: region "${options.region}" is not an AWS region name`);
    }
    this.region = options.region;
    if (options.audience !== undefined && !new RegExp(Introspection.AUDIENCE_PATTERN).test(options.audience)) {
      throw new Error(`SessionVerifier: audience "${options.audience}" does not match ${Introspection.AUDIENCE_PATTERN}`);
    }
    this.audience = options.audience?.toLowerCase();
    this.activeCacheMs = 1000 * bounded('activeCacheSeconds', options.activeCacheSeconds, Introspection.DEFAULT_ACTIVE_CACHE_SECONDS,
      Introspection.INACTIVE_CACHE_SECONDS);
    const mode = options.onStoreFailure ?? IntrospectionStoreFailure.FAIL_CLOSED;
    if (mode !== IntrospectionStoreFailure.FAIL_CLOSED && mode !== IntrospectionStoreFailure.FAIL_OPEN) {
      throw new Error(`SessionVerifier: onStoreFailure "${mode}": expected fail_closed or fail_open`);
    }
    this.failOpen = mode === IntrospectionStoreFailure.FAIL_OPEN;
    const given = options.credentials;
    this.credentials = typeof given === 'function' ? given : given ? async () => given : environmentCredentials;
    this.send = options.send ?? httpSend;
    this.now = options.now ?? (() => new Date());
    this.timeoutMs = bounded('timeoutMs', options.timeoutMs, 3_000, 60_000, 1);
    this.cache = new ExpiringCache(bounded('cacheSize', options.cacheSize, 10_000, 10_000_000));
    this.proofExpectations = {
      host: stsHostFor(this.region), region: this.region, ownAudiences: new Set([this.url.host.toLowerCase()]), expectedAudience: this.audience,
    };
  }

  /**
   * Whether the principal ARN a caller was authenticated as (e.g. `requestContext.identity.userArn` behind an IAM
   * authorizer) is a live TVM session. An ARN that is not of a TVM-vended session is inactive, without asking the TVM.
   * @throws SessionVerifierError when the TVM could not answer.
   */
  public checkPrincipalArn(arn: string): Promise<SessionCheck> {
    const sessionId = SessionVerifier.sessionIdOf(arn);
    if (sessionId === undefined) return Promise.resolve(INACTIVE);
    // Keyed by the whole ARN (its session id included): each of a session's role session names is asked about once.
    return this.cached(arn)
      ?? this.ask(arn, { [Field.TOKEN]: arn, [Field.TOKEN_TYPE_HINT]: IntrospectionTokenTypes.PRINCIPAL_ARN }, sessionId, undefined);
  }

  /**
   * Whether the signer of an identity proof (the `x-sentinel-identity` header a caller made with `sentinel-tvm proof
   * --audience <this audience>`) holds credentials of a live TVM session. The TVM sends the proof to STS and refuses one
   * made for another audience or more than 5 minutes old; an active answer is not reused past that age either.
   * @throws SessionVerifierError when the TVM could not answer, or with code `NO_AUDIENCE` when the verifier has no audience.
   */
  public checkIdentityProof(proof: string): Promise<SessionCheck> {
    if (this.audience === undefined) {
      return Promise.reject(new SessionVerifierError('NO_AUDIENCE', 'SessionVerifier: checking identity proofs needs the audience option'));
    }
    if (typeof proof !== 'string' || proof === '' || proof.length > IdentityProof.MAX_LENGTH) return Promise.resolve(INACTIVE);
    const key = `proof:${createHash('sha256').update(proof).digest('hex')}`;
    const cached = this.cached(key);
    if (cached !== undefined) return cached;
    // What can be checked here is checked here: a header anyone can send (junk, another audience, too old) costs the TVM
    // nothing.
    if (!this.plausible(proof)) return Promise.resolve(INACTIVE);
    const fields = { [Field.TOKEN]: proof, [Field.TOKEN_TYPE_HINT]: IntrospectionTokenTypes.IDENTITY_PROOF, [Field.AUDIENCE]: this.audience };
    return this.ask(key, fields, undefined, proofDeadlineOf(proof) ?? 0);
  }

  /** Whether the TVM could answer a proof active: its shape, host and region, audience (this one, not the TVM's) and age. */
  private plausible(proof: string): boolean {
    try {
      checkProofHeaders(parseProof(proof), { ...this.proofExpectations, nowMs: this.now().getTime() });
      return true;
    } catch {
      return false;
    }
  }

  /** The cached answer, or the one of the request in flight for the same key (the hot path: nothing else is computed). */
  private cached(key: string): Promise<SessionCheck> | undefined {
    const hit = this.cache.get(key, this.now().getTime());
    if (hit !== undefined) return Promise.resolve(hit);
    return this.inFlight.get(key)?.then((check) => ({ ...check, fromCache: true }));
  }

  /** A new request, shared until answered; `until`: no active answer is reused past it (epoch ms). */
  private ask(key: string, fields: Record<string, string>, sessionId: string | undefined, until: number | undefined): Promise<SessionCheck> {
    const request = this.introspect(fields, sessionId).then((check) => {
      this.remember(key, check, until);
      return check;
    }).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, request);
    return request;
  }

  private remember(key: string, check: SessionCheck, until: number | undefined): void {
    if (check.storeUnavailable) return;
    const nowMs = this.now().getTime();
    // An active answer is never reused past the session's end, nor past the proof's age limit.
    const lapse = check.active ? Math.min(nowMs + this.activeCacheMs, until ?? Infinity, check.expiresAt?.getTime() ?? Infinity)
      : nowMs + Introspection.INACTIVE_CACHE_SECONDS * 1000;
    if (lapse > nowMs) this.cache.set(key, Object.freeze({ ...check, fromCache: true }), lapse);
  }

  private async introspect(fields: Record<string, string>, sessionId: string | undefined): Promise<SessionCheck> {
    const credentials = await this.signingCredentials();
    const signingDate = this.now();
    const body = new URLSearchParams({ ...fields, [Field.ON_STORE_FAILURE]: this.failOpen ? 'fail_open' : 'fail_closed' }).toString();
    const path = `${this.url.pathname.replace(/\/+$/, '')}${Introspection.PATH}`;
    let signed: HttpRequest;
    try {
      signed = await signerFor('execute-api', this.region, credentials).sign(new HttpRequest({
        method: 'POST',
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port ? Number(this.url.port) : undefined,
        path,
        headers: {
          'host': this.url.host,
          'accept': 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
          [IdentityProof.HEADER]: await this.ownProofOf(credentials, signingDate),
        },
        body,
      }), { signingDate }) as HttpRequest;
    } catch (err) {
      throw new SessionVerifierError('NO_CREDENTIALS', `SessionVerifier: the credentials could not sign (${errorName(err)})`);
    }
    const answer = await this.sendWithin({ url: `${this.url.origin}${path}`, method: 'POST', headers: signed.headers, body });
    const outcome: Outcome = outcomeOf(answer.status, answer.body, sessionId, this.failOpen);
    if (!outcome.ok) throw new SessionVerifierError(outcome.code, `SessionVerifier: ${outcome.message}`, outcome.status);
    return outcome.check;
  }

  /** This verifier's own identity proof for the TVM, signed once and reused for up to 4 minutes (per signing key). */
  private ownProofOf(credentials: VerifierCredentials, signingDate: Date): Promise<string> {
    const signer = `${credentials.accessKeyId}\n${credentials.sessionToken ?? ''}`;
    const at = signingDate.getTime();
    const own = this.ownProof;
    if (own && own.signer === signer && at >= own.signedAt && at - own.signedAt < OWN_PROOF_REUSE_MS) return own.proof;
    const proof = identityProof(credentials, this.region, this.url.host, signingDate);
    this.ownProof = { signer, signedAt: at, proof };
    proof.catch(() => {
      if (this.ownProof?.proof === proof) this.ownProof = undefined;
    });
    return proof;
  }

  private async signingCredentials(): Promise<VerifierCredentials> {
    let credentials: VerifierCredentials | undefined;
    try {
      credentials = await this.credentials();
    } catch (err) {
      throw new SessionVerifierError('NO_CREDENTIALS', `SessionVerifier: no AWS credentials to sign with (${errorName(err)})`);
    }
    if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
      throw new SessionVerifierError('NO_CREDENTIALS', 'SessionVerifier: no AWS credentials to sign with');
    }
    return credentials;
  }

  private async sendWithin(request: Omit<VerifierHttpRequest, 'signal'>): Promise<VerifierHttpResponse> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new SessionVerifierError('TVM_TIMEOUT', `SessionVerifier: no answer from the TVM at ${this.url.origin} within ${this.timeoutMs} ms`));
        abort.abort();
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([this.send({ ...request, signal: abort.signal }), deadline]);
    } catch (err) {
      if (err instanceof SessionVerifierError) throw err;
      throw new SessionVerifierError('TVM_UNREACHABLE', `SessionVerifier: cannot reach the TVM at ${this.url.origin} (${errorName(err)})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function environmentCredentials(): Promise<VerifierCredentials> {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
  if (!accessKeyId || !secretAccessKey) throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** An error's code or name only: an injected client's message could quote what it was sent. */
function errorName(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | undefined;
  const name = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  return /^[\w.-]{1,64}$/.test(name) ? name : 'Error';
}

function tvmUrlOf(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`SessionVerifier: tvmUrl "${raw}" is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new Error(`SessionVerifier: tvmUrl "${raw}": expected https:// (plain http:// only to 127.0.0.1 or localhost)`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new Error(`SessionVerifier: tvmUrl "${raw}": expected no query, fragment or user info`);
  }
  return url;
}

function bounded(name: string, value: number | undefined, fallback: number, max: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`SessionVerifier: ${name} is ${value}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

