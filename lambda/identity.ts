import type { VerifiedIdentity } from './auth/proof';
import { ApiError } from './errors';
import { formatSourceIdentity, Limits, SourceIdentityKinds, type SourceIdentityKind } from '../src/shared/contract';

/** The caller, as API Gateway's IAM authorizer established it. */
export interface Caller {
  /** Full principal ARN, e.g. arn:aws:sts::111122223333:assumed-role/Role/alice. */
  readonly arn: string;
  readonly accountId: string;
  readonly principalOrgId?: string;
  /** STS's unique id of the principal (`AIDA…`, `AROA…:<session>`), from the verified identity proof. */
  readonly principalId?: string;
  /** Last segment of the ARN: IAM user name, role session name, federated user or `root`. */
  readonly user: string;
  /**
   * The ARNs that principal patterns are matched against: the full ARN and, for an assumed role, its role ARN
   * (`arn:aws:iam::<account>:role/<name>`, as IAM's `aws:PrincipalArn`), so that a pattern naming a role covers
   * every session of it.
   */
  readonly matchArns: readonly string[];
}

// IAM users, roots, assumed roles, federated users (and roles, which reach here only through
// identity providers that report them). Paths are allowed for users and roles.
const CALLER_ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso(-[a-z])?|aws-eusc):(iam|sts)::(\d{12}):(root|user\/[\w+=,.@/-]{1,576}|role\/[\w+=,.@/-]{1,576}|assumed-role\/[\w+=,.@-]{1,64}\/[\w+=,.@-]{2,64}|federated-user\/[\w+=,.@-]{2,64})$/;

interface IamContext {
  readonly userArn?: unknown;
  readonly accountId?: unknown;
  readonly principalOrgId?: unknown;
}

/**
 * The caller of a request: the identity STS verified from the request's proof. When API Gateway's authorizer context is
 * present (every request that came through the API), it must name the same principal: a proof borrowed from another
 * request cannot be attached to someone else's signed call.
 */
export function verifiedCaller(identity: VerifiedIdentity, authorizer: IamContext | undefined | null): Caller {
  const caller = callerFrom({ userArn: identity.arn, accountId: identity.account });
  const seen = authorizer?.userArn;
  if (seen !== undefined && seen !== null && seen !== '' && seen !== identity.arn) {
    throw new ApiError('IAM_AUTH_REQUIRED', 'The identity proof was signed by another principal than the request.', {},
      'identity proof: signer differs from the API Gateway caller');
  }
  if (authorizer?.accountId !== undefined && authorizer.accountId !== null && authorizer.accountId !== identity.account) {
    throw new ApiError('INVALID_IDENTITY', 'The caller identity is inconsistent.');
  }
  return { ...caller, principalId: identity.userId };
}

/** Credentials a TVM vended: they must not buy a fresh session, whose id the revocation of theirs would not reach. */
const TVM_SESSION_NAME = /^tvm-[0-9a-f]{16}-/;

/**
 * Whether the caller is a session of a role this TVM vends (or may chain into), or any TVM-vended session (its
 * RoleSessionName `tvm-<sessionId>-…`): such credentials calling the TVM would launder a revocable session into a new one.
 * `roleArns` are the roles without their IAM path (a session ARN carries none; role names are unique in an account).
 */
export function isVendedSession(caller: Caller, roleArns: ReadonlySet<string>): boolean {
  const m = /^arn:[^:]+:sts::\d{12}:assumed-role\/[^/]+\/(.+)$/.exec(caller.arn);
  if (!m) return false;
  // matchArns holds the session's role as `arn:<p>:iam::<account>:role/<name>`, the form TvmConfig keeps its roles in.
  return TVM_SESSION_NAME.test(m[1]) || caller.matchArns.some((arn) => roleArns.has(arn));
}

/** Reads a caller from an ARN and account (the verified identity, or in tests an authorizer context). */
export function callerFrom(iam: IamContext | undefined | null): Caller {
  if (!iam || typeof iam !== 'object' || iam.userArn === undefined || iam.userArn === null || iam.userArn === '') {
    throw new ApiError('IAM_AUTH_REQUIRED', 'This API requires AWS SigV4 (IAM) authentication.');
  }
  const arn = iam.userArn;
  const match = typeof arn === 'string' ? CALLER_ARN.exec(arn) : null;
  if (!match || typeof arn !== 'string') {
    throw new ApiError('INVALID_IDENTITY', 'The caller identity is not a supported IAM principal.');
  }
  const account = match[4];
  if (iam.accountId !== undefined && iam.accountId !== null && iam.accountId !== account) {
    throw new ApiError('INVALID_IDENTITY', 'The caller identity is inconsistent.');
  }
  const segments = arn.split(':').slice(5).join(':').split('/');
  const orgId = typeof iam.principalOrgId === 'string' && iam.principalOrgId !== '' ? iam.principalOrgId : undefined;
  const matchArns = segments[0] === 'assumed-role' ? [arn, `arn:${match[1]}:iam::${account}:role/${segments[1]}`] : [arn];
  return { arn, accountId: account, principalOrgId: orgId, user: segments[segments.length - 1], matchArns };
}

const STS_NAME_DISALLOWED = /[^\w+=,.@-]/g;

/** Replaces characters STS refuses in names (`[\w+=,.@-]`) with `_`. */
export function stsSafe(value: string): string {
  return value.replace(STS_NAME_DISALLOWED, '_');
}

/** `sentinel.<sessionId>.<kind>.<user>`, within STS's SourceIdentity charset and 64 characters. */
export function sourceIdentityFor(sessionId: string, caller: Caller, kind: SourceIdentityKind = SourceIdentityKinds.STANDING): string {
  return formatSourceIdentity(sessionId, kind, caller.user);
}

/** `tvm-<sessionId>-<requestId8>`: in the assumed-role ARN and CloudTrail, mapping a caller back to its session. */
export function roleSessionNameFor(sessionId: string, requestId: string): string {
  const req = stsSafe(requestId).slice(0, 8).padEnd(2, '_');
  return `tvm-${sessionId}-${req}`.slice(0, Limits.ROLE_SESSION_NAME_MAX);
}
