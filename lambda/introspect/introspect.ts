import {
  Attr, Introspection, IntrospectionRequestFields as Fields, IntrospectionStoreFailure, IntrospectionTokenTypes, Limits, Status,
  type IntrospectionAnswer,
} from '../../src/shared/contract';
import { arnParts, withoutRolePath } from '../../src/shared/principal-patterns';
import type { IdentityVerifier } from '../auth/proof';
import { ApiError } from '../errors';
import type { Caller } from '../identity';
import type { TvmConfig } from '../profiles';
import { StoreError, type Item, type SessionStore } from '../sessions/store';

/**
 * `POST /introspect` (RFC 7662 in spirit): a relying party asks whether the session behind a caller it saw is still
 * valid. The token is the caller's principal ARN, or an identity proof the caller made for the relying party, which the
 * TVM sends to STS itself. Only a `tvm-<id>-…` session of a profile's own role can be active (the TVM alone names those
 * sessions: the profiles' roles trust it only); anything else is inactive without reading the table. Otherwise one
 * strongly consistent GetItem decides.
 */

export interface IntrospectContext {
  readonly store: SessionStore;
  readonly config: () => Promise<TvmConfig>;
  /** Verifies identity proofs against STS; the same one that verifies callers (its cache is keyed by the proof). */
  readonly verifier: IdentityVerifier;
  readonly now: () => Date;
  /** The TVM's name: the answers' `iss`. */
  readonly tvmName: string;
  /** Sessions this container found inactive: they never become active again. */
  readonly inactive: InactiveSessions;
}

export interface IntrospectRequest {
  /** The request's `content-type` header. */
  readonly contentType: string | undefined;
  /** The body, decoded from base64 when API Gateway encoded it. */
  readonly body: string | undefined;
  readonly query: Record<string, string | undefined>;
}

/** Facts for the decision log: never the token, never the proof. */
export interface IntrospectFacts {
  tokenType?: string;
  active?: boolean;
  sessionId?: string;
  /** The audience a proof was checked against. */
  audience?: string;
  /** Why the answer is inactive (the answer itself never says). */
  inactiveReason?: string;
  storeFailure?: boolean;
  storeError?: string;
}

/** The ids of sessions found revoked, ended or past their end, most recent last; bounded, oldest forgotten first. */
export class InactiveSessions {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  public has(id: string): boolean {
    return this.ids.has(id);
  }

  public add(id: string): void {
    if (this.ids.has(id)) return;
    if (this.ids.size >= this.capacity) this.ids.delete(this.ids.values().next().value as string);
    this.ids.add(id);
  }
}

const FIELDS = new Set<string>(Object.values(Fields));
const TOKEN_TYPES = new Set<string>(Object.values(IntrospectionTokenTypes));
const STORE_FAILURE = new Set<string>(Object.values(IntrospectionStoreFailure));
const AUDIENCE = new RegExp(Introspection.AUDIENCE_PATTERN);
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
/** A field name safe to repeat in a message (a body sent as the wrong type could make its whole text a "name"). */
const NAME_LIKE = /^[A-Za-z0-9_.-]{1,64}$/;
/**
 * The RoleSessionName the vend gives (`roleSessionNameFor`: `tvm-<session id>-<request id, 2-8 characters>`) in the
 * assumed-role ARN STS reports for the session; the partitions `CALLER_ARN` knows.
 */
const SESSION_ARN = new RegExp('^arn:(aws|aws-cn|aws-us-gov|aws-iso(?:-[a-z])?|aws-eusc):sts::(\\d{12}):'
  + 'assumed-role/([\\w+=,.@-]{1,64})/(tvm-([0-9a-f]{16})-[\\w+=,.@-]+)$');

const INACTIVE: IntrospectionAnswer = { active: false };
const invalid = (message: string) => new ApiError('INVALID_REQUEST', message);

interface Parsed {
  readonly token: string;
  readonly tokenType: string;
  readonly audience?: string;
  readonly failOpen: boolean;
}

export async function introspect(ctx: IntrospectContext, caller: Caller, req: IntrospectRequest,
  facts: IntrospectFacts): Promise<IntrospectionAnswer> {
  const config = await ctx.config();
  if (!config.isIntrospector(caller)) {
    throw new ApiError('POLICY_DENY', 'The caller is not a relying party of this TVM.', {}, 'introspect: not a relying party');
  }
  const input = parseIntrospection(req);
  facts.tokenType = input.tokenType;
  facts.audience = input.audience;
  const answer = await decide(ctx, config, input, facts);
  facts.active = answer.active;
  return answer;
}

async function decide(ctx: IntrospectContext, config: TvmConfig, input: Parsed, facts: IntrospectFacts): Promise<IntrospectionAnswer> {
  const inactive = (reason: string) => {
    facts.inactiveReason = reason;
    return INACTIVE;
  };
  let principalArn = input.token;
  if (input.tokenType === IntrospectionTokenTypes.IDENTITY_PROOF) {
    try {
      principalArn = (await ctx.verifier.verify(input.token, input.audience)).arn;
    } catch (err) {
      // A refused proof is an inactive token; STS being unreachable stays 502, as for the caller's own proof.
      if (err instanceof ApiError && err.code === 'IAM_AUTH_REQUIRED') return inactive(err.detail ?? 'identity proof refused');
      throw err;
    }
  }
  const m = SESSION_ARN.exec(principalArn);
  if (!m || m[4].length > Limits.ROLE_SESSION_NAME_MAX) return inactive('not a session the TVM names');
  const [, partition, account, roleName, , id] = m;
  facts.sessionId = id;
  const roleArn = `arn:${partition}:iam::${account}:role/${roleName}`;
  // Chain targets do not count: whoever may assume them chooses the session name.
  if (!config.profileRoleArns.has(roleArn)) return inactive('not a session of a profile\'s role');
  if (ctx.inactive.has(id)) return inactive('known inactive');

  const iss = ctx.tvmName;
  const tokenType = input.tokenType;
  let item: Item | undefined;
  try {
    item = await ctx.store.get(id);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    const cause = err.cause as Error | undefined;
    facts.storeFailure = true;
    facts.storeError = `${cause?.name ?? 'Error'}: ${String(cause?.message ?? '').slice(0, 300)}`;
    if (!input.failOpen) {
      throw new ApiError('STORE_UNAVAILABLE', 'The session store is temporarily unavailable.', {}, `introspect: ${facts.storeError}`);
    }
    return { active: true, jti: id, store_unavailable: true, token_type: tokenType, iss };
  }
  if (!item) return inactive('unknown session');
  const now = ctx.now().getTime();
  const status = item[Attr.STATUS]?.S;
  const expiresAtMs = Date.parse(item[Attr.EXPIRES_AT]?.S ?? '');
  const terminal = status === Status.REVOKED || status === Status.EXPIRED;
  if (terminal || expiresAtMs <= now) {
    ctx.inactive.add(id);
    return inactive(terminal ? status : 'past its end');
  }
  const expiresAt = epochSeconds(item[Attr.EXPIRES_AT]?.S);
  if (status !== Status.ACTIVE || expiresAt === undefined) return inactive('not an active record');
  if (!sameRole(item[Attr.ROLE_ARN]?.S, roleArn)) return inactive('the record names another role');
  const sub = item[Attr.PRINCIPAL_ARN]?.S;
  return {
    active: true,
    jti: id,
    sub,
    username: item[Attr.USER]?.S ?? sub?.split('/').pop(),
    profile: item[Attr.PROFILE]?.S,
    role_arn: item[Attr.ROLE_ARN]?.S,
    principal_arn: principalArn,
    iat: epochSeconds(item[Attr.STARTED_AT]?.S ?? item[Attr.CREATED_AT]?.S),
    exp: expiresAt,
    credentials_exp: epochSeconds(item[Attr.CREDENTIALS_EXPIRE_AT]?.S),
    ...(tokenType === IntrospectionTokenTypes.IDENTITY_PROOF ? { aud: input.audience } : {}),
    token_type: tokenType,
    iss,
  };
}

/** The request's fields: form (RFC 7662) or JSON, each known field at most once, string values; else 400 naming the field. */
export function parseIntrospection(req: IntrospectRequest): Parsed {
  // A token in the query string would land in access logs.
  if (Object.keys(req.query).length > 0) throw invalid('This resource takes no query parameters: send the fields in the body.');
  const mediaType = (req.contentType ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== FORM && mediaType !== JSON_TYPE) {
    throw invalid(`The content-type must be ${FORM} or ${JSON_TYPE}.`);
  }
  const body = req.body ?? '';
  if (Buffer.byteLength(body) > Introspection.MAX_BODY_BYTES) throw invalid(`The body is over ${Introspection.MAX_BODY_BYTES} bytes.`);
  const fields = mediaType === FORM ? formFields(body) : jsonFields(body);
  const token = fields.get(Fields.TOKEN);
  if (token === undefined || token === '') throw invalid(`The field ${Fields.TOKEN} is required.`);
  const hint = fields.get(Fields.TOKEN_TYPE_HINT);
  if (hint !== undefined && !TOKEN_TYPES.has(hint)) {
    throw invalid(`The field ${Fields.TOKEN_TYPE_HINT} must be ${[...TOKEN_TYPES].join(' or ')}.`);
  }
  const tokenType = hint ?? (token.startsWith('arn:') ? IntrospectionTokenTypes.PRINCIPAL_ARN : IntrospectionTokenTypes.IDENTITY_PROOF);
  const audience = fields.get(Fields.AUDIENCE);
  if (audience !== undefined && !AUDIENCE.test(audience)) {
    throw invalid(`The field ${Fields.AUDIENCE} must be a host name or a short name (${Introspection.AUDIENCE_PATTERN}).`);
  }
  if (audience === undefined && tokenType === IntrospectionTokenTypes.IDENTITY_PROOF) {
    throw invalid(`The field ${Fields.AUDIENCE} is required with an identity proof.`);
  }
  const onFailure = fields.get(Fields.ON_STORE_FAILURE);
  if (onFailure !== undefined && !STORE_FAILURE.has(onFailure)) {
    throw invalid(`The field ${Fields.ON_STORE_FAILURE} must be ${[...STORE_FAILURE].join(' or ')}.`);
  }
  return { token, tokenType, audience, failOpen: onFailure === IntrospectionStoreFailure.FAIL_OPEN };
}

function formFields(body: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) add(fields, name, value);
  return fields;
}

function jsonFields(body: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw invalid('The body is not JSON.');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('The body must be a JSON object.');
  const fields = new Map<string, string>();
  // JSON.parse keeps the last of a repeated key: the raw text tells whether one was repeated.
  for (const name of topLevelKeys(body)) {
    const value = (parsed as Record<string, unknown>)[name];
    if (typeof value !== 'string' && FIELDS.has(name)) throw invalid(`The field ${name} must be a string.`);
    add(fields, name, value as string);
  }
  return fields;
}

function add(fields: Map<string, string>, name: string, value: string): void {
  if (!FIELDS.has(name)) {
    throw invalid(NAME_LIKE.test(name) ? `Unknown field ${name}: expected ${[...FIELDS].join(', ')}.`
      : `Unknown field: expected ${[...FIELDS].join(', ')}.`);
  }
  if (fields.has(name)) throw invalid(`The field ${name} is given more than once.`);
  fields.set(name, value);
}

/** The keys of a JSON object's own members, repeats included, from text JSON.parse accepted. */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      let next = end + 1;
      while (next < text.length && ' \t\r\n'.includes(text[next])) next++;
      if (depth === 1 && text[next] === ':') keys.push(JSON.parse(text.slice(i, end + 1)) as string);
      i = end;
    } else if (c === '{' || c === '[') {
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
    }
  }
  return keys;
}

/** Same account and role name (a session ARN carries no path; names are unique in an account). */
function sameRole(recorded: string | undefined, roleArn: string): boolean {
  const parts = recorded === undefined ? undefined : arnParts(recorded);
  return parts !== undefined && [...parts.slice(0, 5), withoutRolePath(parts[5])].join(':') === roleArn;
}

function epochSeconds(iso: string | undefined): number | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}
