import type { SessionCheck } from './index';
import { IdentityProof, Patterns } from '../../src/shared/contract';

/** What an introspection exchange came to: a check, or a failure the verifier throws (code and a message without secrets). */
export type Outcome =
  | { readonly ok: true; readonly check: SessionCheck }
  | { readonly ok: false; readonly code: string; readonly status?: number; readonly message: string };

const SESSION_ID = new RegExp(Patterns.SESSION_ID);
/** Error codes and request ids are echoed into messages and logs: only what they look like when the TVM sent them. */
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const REQUEST_ID = /^[\w=+/-]{1,100}$/;
const STRINGS = ['sub', 'username', 'profile', 'role_arn', 'principal_arn'] as const;
const NUMBERS = ['iat', 'exp', 'credentials_exp'] as const;

const badAnswer = (status: number, why: string): Outcome => ({ ok: false, code: 'TVM_BAD_ANSWER', status, message: `the TVM's answer ${why}` });
const epoch = (seconds: number | undefined) => (seconds === undefined ? undefined : new Date(seconds * 1000));

/**
 * Reads `POST /introspect`'s answer. `sessionId`: the session the token names (an ARN's), which an active answer must be
 * about. `failOpen`: whether a `store_unavailable` answer was asked for; otherwise it is the store failure it reports.
 */
export function outcomeOf(status: number, body: string, sessionId: string | undefined, failOpen: boolean): Outcome {
  let json: any;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (status !== 200) {
    const code = typeof json?.Code === 'string' && CODE.test(json.Code) ? json.Code : `HTTP_${status}`;
    const requestId = typeof json?.RequestId === 'string' && REQUEST_ID.test(json.RequestId) ? ` (request id ${json.RequestId})` : '';
    return { ok: false, code, status, message: `the TVM answered ${status} ${code}${requestId}` };
  }
  if (json === null || typeof json !== 'object' || typeof json.active !== 'boolean') return badAnswer(status, 'is not an introspection answer');
  if (!json.active) return { ok: true, check: { active: false, fromCache: false } };
  if (typeof json.jti !== 'string' || !SESSION_ID.test(json.jti)) return badAnswer(status, 'names no session id');
  if (sessionId !== undefined && json.jti !== sessionId) return badAnswer(status, 'is about another session');
  if (json.store_unavailable === true) {
    if (!failOpen) return { ok: false, code: 'STORE_UNAVAILABLE', status, message: 'the TVM could not read its session store' };
    return { ok: true, check: { active: true, sessionId: json.jti, storeUnavailable: true, fromCache: false } };
  }
  for (const name of STRINGS) if (json[name] !== undefined && typeof json[name] !== 'string') return badAnswer(status, `has a bad ${name}`);
  for (const name of NUMBERS) if (json[name] !== undefined && !Number.isFinite(json[name])) return badAnswer(status, `has a bad ${name}`);
  return {
    ok: true,
    check: {
      active: true,
      sessionId: json.jti,
      user: json.username,
      principalArn: json.principal_arn,
      profile: json.profile,
      roleArn: json.role_arn,
      expiresAt: epoch(json.exp),
      credentialsExpireAt: epoch(json.credentials_exp),
      fromCache: false,
    },
  };
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * When the TVM stops accepting a proof (its signing time plus {@link IdentityProof.MAX_AGE_SECONDS}), so that an active
 * answer about it is not reused past that; undefined when the proof does not say (the TVM answers such a proof inactive).
 */
export function proofDeadlineOf(proof: string): number | undefined {
  let headers: unknown;
  try {
    headers = JSON.parse(Buffer.from(proof, 'base64').toString('utf8'))?.headers;
  } catch {
    return undefined;
  }
  if (headers === null || typeof headers !== 'object') return undefined;
  const dates = Object.entries(headers).filter(([name]) => name.toLowerCase() === 'x-amz-date');
  const d = dates.length === 1 && typeof dates[0][1] === 'string' ? AMZ_DATE.exec(dates[0][1]) : null;
  return d ? Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]) + IdentityProof.MAX_AGE_SECONDS * 1000 : undefined;
}
