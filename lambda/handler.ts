import { randomBytes } from 'crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { STSClient } from '@aws-sdk/client-sts';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { GrantWrites } from './access/activation';
import type { AccessFacts } from './access/requests';
import { IdentityVerifier } from './auth/proof';
import { ApiError } from './errors';
import { errorResponse, json, type HttpResponse } from './http';
import { isVendedSession, verifiedCaller, type Caller } from './identity';
import { InactiveSessions, introspect, type IntrospectFacts } from './introspect/introspect';
import { powertoolsSink, type DecisionLog, type DecisionSink } from './observability';
import { loadConfig, type TvmConfig } from './profiles';
import { changeSession, getSession, listSessions, type ManageFacts } from './sessions/manage';
import { PageTokens } from './sessions/paging';
import { SessionStore } from './sessions/store';
import { tvmRevoker, type Settings } from './settings';
import { vend, type VendFacts } from './vend/vend';
import { IdentityProof, SESSION_HEADER } from '../src/shared/contract';

export type TvmEvent = APIGatewayProxyEventV2WithIAMAuthorizer;

/** What the handler is built from: one set per container. */
export interface HandlerDeps {
  readonly settings: Settings;
  readonly ddb: DynamoDBClient;
  readonly sts: STSClient;
  readonly now?: () => Date;
  readonly newSessionId?: () => string;
  /** Where each request's decision goes (log line and metrics); Powertools by default. */
  readonly log?: DecisionSink;
  /** Checks identity proofs; by default against STS in the settings' region (or its endpoint). */
  readonly verifier?: IdentityVerifier;
  /** More routes: the access function's (requests, approvals, break-glass, reviews). @default - none */
  readonly routes?: RouteModule;
}

type Route = 'vend' | 'profiles' | 'sessions' | 'introspect';

const ROUTES: { pattern: RegExp; route: Route; methods: string[] }[] = [
  { pattern: /^\/$/, route: 'vend', methods: ['GET', 'POST'] },
  { pattern: /^\/profiles$/, route: 'profiles', methods: ['GET'] },
  { pattern: /^\/sessions$/, route: 'sessions', methods: ['GET'] },
  { pattern: /^\/sessions\/[^/]+$/, route: 'sessions', methods: ['GET', 'DELETE'] },
  { pattern: /^\/sessions\/[^/]+\/revoke$/, route: 'sessions', methods: ['POST'] },
  { pattern: /^\/introspect$/, route: 'introspect', methods: ['POST'] },
];

export type Facts = VendFacts & ManageFacts & IntrospectFacts & AccessFacts;

/** What every route of a handler shares, built once per container. */
export interface SharedContext {
  readonly settings: Settings;
  readonly config: () => Promise<TvmConfig>;
  readonly now: () => Date;
  readonly newSessionId: () => string;
  readonly serverInstanceId: string;
  readonly ddb: DynamoDBClient;
  /** The key that seals grants (control table), read once per container. */
  readonly grantKey: () => Promise<Buffer>;
}

/** Routes another entry point adds to the handler (the access function's), with their use cases. */
export interface RouteModule {
  readonly routes: readonly { readonly pattern: RegExp; readonly methods: readonly string[] }[];
  handle(shared: SharedContext, caller: Caller, method: string, path: string, event: TvmEvent, facts: Facts): Promise<HttpResponse>;
}

export function createHandler(deps: HandlerDeps): (event: TvmEvent) => Promise<HttpResponse> {
  const now = deps.now ?? (() => new Date());
  const newSessionId = deps.newSessionId ?? (() => randomBytes(8).toString('hex'));
  const log = deps.log ?? powertoolsSink();
  const store = new SessionStore(deps.ddb, deps.settings.tableName, deps.settings.controlTableName);
  const serverInstanceId = randomBytes(8).toString('hex');
  const verifier = deps.verifier ?? new IdentityVerifier({
    audiences: deps.settings.audiences, region: deps.settings.region, endpoint: deps.settings.stsEndpoint, now,
  });

  // Read once per container (a changed configuration changes the digest in the environment, so new containers read
  // it); a failed or refused read is retried by the next request.
  let configPromise: Promise<TvmConfig> | undefined;
  const config = () => {
    configPromise ??= loadConfig(deps.ddb, deps.settings.controlTableName, deps.settings.configDigest).catch((err) => {
      configPromise = undefined;
      throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.', {}, `config: ${describe(err)}`);
    });
    return configPromise;
  };
  let tokensPromise: Promise<PageTokens> | undefined;
  const pageTokens = () => {
    tokensPromise ??= store.tokenKey().then((key) => new PageTokens(key)).catch((err) => {
      tokensPromise = undefined;
      throw err;
    });
    return tokensPromise;
  };
  const grants = new GrantWrites(deps.ddb, deps.settings.tableName, deps.settings.controlTableName);
  let grantKeyPromise: Promise<Buffer> | undefined;
  const grantKey = () => {
    grantKeyPromise ??= grants.grantKey().catch((err) => {
      grantKeyPromise = undefined;
      throw err;
    });
    return grantKeyPromise;
  };
  const gate = { grants, grantKey, now, revoker: tvmRevoker(deps.settings) };
  const ctx = { settings: deps.settings, store, sts: deps.sts, config, now, newSessionId, serverInstanceId, pageTokens, gate, grants };
  const shared: SharedContext = { settings: deps.settings, config, now, newSessionId, serverInstanceId, ddb: deps.ddb, grantKey };
  const introspection = { store, config, verifier, now, tvmName: deps.settings.tvmName, inactive: new InactiveSessions() };

  return async (event: TvmEvent) => {
    const started = Date.now();
    const requestId = String(event?.requestContext?.requestId ?? 'unknown');
    const method = String(event?.requestContext?.http?.method ?? '').toUpperCase();
    const path = normalizePath(event?.rawPath ?? event?.requestContext?.http?.path);
    const facts: Facts = {};
    const entry: DecisionLog = { level: 'INFO', message: 'decision', requestId, method, path, decision: 'ALLOW', status: 200 };
    let response: HttpResponse;
    try {
      // Identity is what STS says of the request's proof, never the event alone: a direct invocation of the function
      // with a forged authorizer context proves nothing.
      const identity = await verifier.verify(headerOf(event, IdentityProof.HEADER));
      const caller = verifiedCaller(identity, event?.requestContext?.authorizer?.iam);
      entry.callerArn = caller.arn;
      if (isVendedSession(caller, (await config()).sessionRoleArns)) {
        throw new ApiError('POLICY_DENY', 'Credentials vended by a TVM cannot call the TVM.', {}, 'caller is a TVM-vended session');
      }
      response = await route(caller, method, path, event, requestId, facts);
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError('INTERNAL_ERROR', 'An internal error occurred.');
      if (!(err instanceof ApiError)) {
        entry.level = 'ERROR';
        entry.error = describe(err);
      } else if (apiError.detail) {
        entry.level = 'ERROR';
        entry.error = apiError.detail;
      }
      entry.decision = apiError.status >= 500 ? 'ERROR' : 'DENY';
      entry.code = apiError.code;
      response = errorResponse(apiError, requestId);
    }
    entry.status = response.statusCode;
    if (facts.storeFailure || facts.stsError) entry.level = entry.level === 'ERROR' ? 'ERROR' : 'WARN';
    Object.assign(entry, facts);
    entry.latencyMs = Date.now() - started;
    log(entry);
    return response;
  };

  async function route(caller: Caller, method: string, path: string, event: TvmEvent, requestId: string, facts: Facts) {
    const extra = deps.routes?.routes.filter((r) => r.pattern.test(path)) ?? [];
    if (extra.length > 0) {
      if (!extra.some((m) => m.methods.includes(method))) {
        throw new ApiError('METHOD_NOT_ALLOWED', `Method ${method.slice(0, 10)} is not allowed here.`,
          { allow: extra.flatMap((m) => m.methods).join(', ') });
      }
      return deps.routes!.handle(shared, caller, method, path, event, facts);
    }
    const match = ROUTES.filter((r) => r.pattern.test(path));
    if (match.length === 0) {
      throw new ApiError('NOT_FOUND', 'No such resource.');
    }
    const r = match.find((m) => m.methods.includes(method));
    if (!r) {
      throw new ApiError('METHOD_NOT_ALLOWED', `Method ${method.slice(0, 10)} is not allowed here.`,
        { allow: match.flatMap((m) => m.methods).join(', ') });
    }
    switch (r.route) {
      case 'vend': {
        const result = await vend(ctx, {
          caller, requestId, query: queryOf(event), sessionHeader: headerOf(event, SESSION_HEADER),
        }, facts);
        const c = result.credentials;
        return json(200, {
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: isoSeconds(c.expiration),
          SessionId: result.sessionId,
          ...(result.sessionExpiresAt ? { SessionExpiresAt: isoSeconds(result.sessionExpiresAt) } : {}),
        }, { [SESSION_HEADER]: result.sessionId });
      }
      case 'profiles': {
        if (Object.keys(queryOf(event)).length > 0) {
          throw new ApiError('INVALID_REQUEST', 'This resource takes no query parameters.');
        }
        const cfg = await config();
        return json(200, {
          Profiles: cfg.profilesFor(caller).map((p) => ({ Name: p.name, MaxDurationSeconds: p.maxDurationSeconds })),
        });
      }
      case 'sessions': {
        const [, , id, action] = path.split('/');
        if (id === undefined) return json(200, await listSessions(ctx, caller, queryOf(event), facts));
        if (Object.keys(queryOf(event)).length > 0) {
          throw new ApiError('INVALID_REQUEST', 'This resource takes no query parameters.');
        }
        if (method === 'GET') return json(200, await getSession(ctx, caller, id, facts));
        return json(200, await changeSession(ctx, caller, id, action === 'revoke', bodyOf(event), facts));
      }
      case 'introspect':
        return json(200, await introspect(introspection, caller, {
          contentType: headerOf(event, 'content-type'), body: bodyOf(event), query: queryOf(event),
        }, facts));
    }
  }
}

/** An error's name and message for the log: SDK and configuration errors carry no secret. */
export function describe(err: unknown): string {
  const e = err as Error | undefined;
  return `${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)}`;
}

/** `/sessions/` and `/sessions` are the same resource; the root stays `/`. */
function normalizePath(raw: unknown): string {
  const p = typeof raw === 'string' && raw.startsWith('/') ? raw : '/';
  return p.length > 1 ? p.replace(/\/+$/, '') || '/' : p;
}

export function queryOf(event: TvmEvent): Record<string, string | undefined> {
  const q = event?.queryStringParameters;
  return q && typeof q === 'object' ? { ...q } : {};
}

export function bodyOf(event: TvmEvent): string | undefined {
  if (event?.body === undefined || event.body === null) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

function headerOf(event: TvmEvent, name: string): string | undefined {
  const headers = event?.headers ?? {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return v;
  }
  return undefined;
}

/** An ISO 8601 time to the second, as STS writes it. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
