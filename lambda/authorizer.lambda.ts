// A relying party's API Gateway HTTP API Lambda authorizer (payload 2.0, simple responses): it admits a request when the
// identity proof in its `x-sentinel-identity` header is of a live TVM session, as the TVM answers (lambda/verifier).
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { SessionVerifier, SessionVerifierError, type StoreFailureMode } from './verifier';
import { AuthorizerEnv, IdentityProof, Introspection, IntrospectionStoreFailure } from '../src/shared/contract';

export interface AuthorizerResult {
  readonly isAuthorized: boolean;
  /** Passed to the integration as `$context.authorizer.<name>` (only on an allow). */
  readonly context?: Record<string, string | boolean>;
}

/** One JSON line per decision: never the proof. */
interface DecisionLine {
  /** WARN when the TVM could not answer (the request is denied either way). */
  readonly level: 'INFO' | 'WARN';
  readonly message: 'authorizer decision';
  readonly requestId?: string;
  readonly sessionId?: string;
  readonly active: boolean;
  readonly fromCache: boolean;
  readonly storeUnavailable?: true;
  readonly error?: string;
}

/** The profiles whose sessions are admitted (`SENTINEL_ALLOWED_PROFILES`), or undefined for any. */
export function allowedProfilesFromEnv(env: NodeJS.ProcessEnv): ReadonlySet<string> | undefined {
  const names = (env[AuthorizerEnv.ALLOWED_PROFILES] ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  return names.length > 0 ? new Set(names) : undefined;
}

/** The verifier of this container, from the environment the construct sets; read once, with the variable named on error. */
export function verifierFromEnv(env: NodeJS.ProcessEnv): SessionVerifier {
  const required = (name: string, what: string) => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set: it names ${what}`);
    return value;
  };
  const rawTtl = env[AuthorizerEnv.ACTIVE_CACHE_SECONDS];
  const ttl = rawTtl === undefined || rawTtl === '' ? Introspection.DEFAULT_ACTIVE_CACHE_SECONDS : Number(rawTtl);
  if (!Number.isInteger(ttl) || ttl < 0) {
    throw new Error(`environment variable ${AuthorizerEnv.ACTIVE_CACHE_SECONDS} is "${rawTtl}": expected a whole number of seconds`);
  }
  const mode = env[AuthorizerEnv.ON_STORE_FAILURE] || IntrospectionStoreFailure.FAIL_CLOSED;
  if (mode !== IntrospectionStoreFailure.FAIL_CLOSED && mode !== IntrospectionStoreFailure.FAIL_OPEN) {
    throw new Error(`environment variable ${AuthorizerEnv.ON_STORE_FAILURE} is "${mode}": expected fail_closed or fail_open`);
  }
  return new SessionVerifier({
    tvmUrl: required(AuthorizerEnv.TVM_URL, 'the TVM\'s URL'),
    region: required(AuthorizerEnv.TVM_REGION, 'the TVM\'s region'),
    audience: required(AuthorizerEnv.AUDIENCE, 'the audience callers\' identity proofs must name'),
    activeCacheSeconds: ttl,
    onStoreFailure: mode as StoreFailureMode,
  });
}

/** The caller's proof: the one header (payload 2.0 lower-cases names; a repeated header arrives comma-joined, and is refused). */
function proofOf(event: APIGatewayRequestAuthorizerEventV2): string | undefined {
  const headers = event?.headers ?? {};
  const value = headers[IdentityProof.HEADER] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === IdentityProof.HEADER)?.[1];
  return typeof value === 'string' && /^[A-Za-z0-9+/]+=*$/.test(value) && value.length <= IdentityProof.MAX_LENGTH ? value : undefined;
}

/** Decides one request; `log` gets the decision line. Errors of any kind deny. */
export async function authorize(verifier: SessionVerifier, event: APIGatewayRequestAuthorizerEventV2,
  log: (line: DecisionLine) => void, allowedProfiles?: ReadonlySet<string>): Promise<AuthorizerResult> {
  const requestId = typeof event?.requestContext?.requestId === 'string' ? event.requestContext.requestId : undefined;
  const proof = proofOf(event);
  if (proof === undefined) {
    log({ level: 'INFO', message: 'authorizer decision', requestId, active: false, fromCache: false, error: 'MISSING_PROOF' });
    return { isAuthorized: false };
  }
  try {
    const check = await verifier.checkIdentityProof(proof);
    // A session of another profile is refused; so is any session while the store is down, when profiles are restricted (its
    // profile is unknown then).
    const otherProfile = check.active && allowedProfiles !== undefined && (check.profile === undefined || !allowedProfiles.has(check.profile));
    log({
      level: 'INFO',
      message: 'authorizer decision',
      requestId,
      sessionId: check.sessionId,
      active: check.active,
      fromCache: check.fromCache,
      ...(check.storeUnavailable ? { storeUnavailable: true } : {}),
      ...(otherProfile ? { error: 'PROFILE_NOT_ALLOWED' } : {}),
    });
    if (!check.active || otherProfile) return { isAuthorized: false };
    const context: Record<string, string | boolean> = {};
    for (const [name, value] of Object.entries({ sessionId: check.sessionId, user: check.user, profile: check.profile, roleArn: check.roleArn })) {
      if (value !== undefined) context[name] = value;
    }
    if (check.storeUnavailable) context.storeUnavailable = true;
    return { isAuthorized: true, context };
  } catch (err) {
    const code = err instanceof SessionVerifierError ? err.code : 'UNEXPECTED';
    log({ level: 'WARN', message: 'authorizer decision', requestId, active: false, fromCache: false, error: code });
    return { isAuthorized: false };
  }
}

let verifier: SessionVerifier | undefined;
let allowedProfiles: ReadonlySet<string> | undefined;
const writeLine = (line: DecisionLine) => process.stdout.write(`${JSON.stringify(line)}\n`);

export const handler = async (event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerResult> => {
  if (!verifier) {
    allowedProfiles = allowedProfilesFromEnv(process.env);
    verifier = verifierFromEnv(process.env);
  }
  return authorize(verifier, event, writeLine, allowedProfiles);
};
