// The local stand-in for API Gateway's HTTP API with AWS_IAM authorization on every route: SigV4 is verified
// first, then the payload 2.0 event (with requestContext.authorizer.iam) goes to the real bundled handler.
import { createHash, randomBytes } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { parseTarget, verifySigV4, type KnownKey, type RequestTarget } from './verify';
import { Routes } from '../../src/shared/contract';

export type Handler = (event: unknown, context: unknown) => Promise<any>;

export interface FrontDoorOptions {
  readonly region: string;
  /** The account the API lives in (requestContext.accountId). */
  readonly accountId: string;
  readonly port?: number;
  readonly lookup: (accessKeyId: string) => KnownKey | undefined;
  readonly handler: Handler;
  /**
   * What IAM decides after the signature (API Gateway asks it for execute-api:Invoke): a refusal's message, answered
   * `403 {"message"}`, or undefined to go on. @default - every verified caller goes on
   */
  readonly authorize?: (key: KnownKey, request: { method: string; path: string }) => string | undefined;
  readonly now?: () => Date;
  /** API Gateway gives up on an integration after 30 s. */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface FrontDoor {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** HTTP APIs take payloads up to 10 MB; the TVM needs far less. */
const MAX_BODY = 1024 * 1024;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const ROUTES = Routes.map((r) => ({
  key: `${r.method} ${r.path}`,
  method: r.method as string,
  pattern: new RegExp(`^${r.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
}));

/** API Gateway's request id style: 16 characters ending in `=`. */
const requestId = () => `${randomBytes(11).toString('base64').replace(/[+/]/g, 'A').slice(0, 15)}=`;
const two = (n: number) => String(n).padStart(2, '0');
const clfTime = (d: Date) =>
  `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
/** A stable, made-up unique id of a principal (IAM's AIDA…/AROA… ids). */
const principalId = (arn: string) => {
  const id = createHash('sha256').update(arn).digest('hex').slice(0, 17).toUpperCase();
  const session = /:assumed-role\/[^/]+\/(.+)$/.exec(arn);
  return session ? `AROA${id}:${session[1]}` : `AIDA${id}`;
};

function json(res: http.ServerResponse, status: number, body: unknown, id: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'apigw-requestid': id });
  res.end(JSON.stringify(body));
}

/** A request as its signature was verified. */
export interface VerifiedRequest {
  readonly method: string;
  readonly target: RequestTarget;
  /** All headers as received. */
  readonly headers: http.IncomingHttpHeaders;
  /** The signed ones, with the values the signature covers. */
  readonly signedHeaders: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly sourceIp: string;
}

/**
 * The payload 2.0 event API Gateway would send for this verified request, built from what the signature was checked
 * against: the parsed target, and the signed headers with the values the signature covers. Unsigned headers pass
 * through as received, as API Gateway passes them.
 */
export function buildEvent(req: VerifiedRequest, iam: { accessKeyId: string; userArn: string }, id: string, apiAccount: string,
  now: Date): Record<string, unknown> {
  const { rawPath, path, rawQueryString, query } = req.target;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  Object.assign(headers, req.signedHeaders);
  const route = ROUTES.find((r) => r.method === req.method && r.pattern.test(path));
  const pathParameters = route ? route.pattern.exec(path)?.groups : undefined;
  const text = !headers['content-type'] || /json|text|x-www-form-urlencoded|xml/i.test(headers['content-type']);
  const host = headers.host ?? 'localhost';
  const callerId = principalId(iam.userArn);
  return {
    version: '2.0',
    routeKey: route?.key ?? '$default',
    rawPath,
    rawQueryString,
    ...(headers.cookie ? { cookies: headers.cookie.split(/;\s*/) } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: { ...query } } : {}),
    ...(pathParameters && Object.keys(pathParameters).length ? { pathParameters: { ...pathParameters } } : {}),
    requestContext: {
      accountId: apiAccount,
      apiId: 'local',
      authorizer: {
        iam: {
          accessKey: iam.accessKeyId,
          accountId: iam.userArn.split(':')[4],
          callerId,
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: iam.userArn,
          userId: callerId,
        },
      },
      domainName: host,
      domainPrefix: host.split('.')[0],
      http: { method: req.method, path, protocol: 'HTTP/1.1', sourceIp: req.sourceIp, userAgent: headers['user-agent'] ?? '' },
      requestId: id,
      routeKey: route?.key ?? '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(req.body.length ? { body: text ? req.body.toString('utf8') : req.body.toString('base64'), isBase64Encoded: !text } : { isBase64Encoded: false }),
  };
}

export async function startFrontDoor(options: FrontDoorOptions): Promise<FrontDoor> {
  const now = options.now ?? (() => new Date());
  const server = http.createServer((req, res) => {
    const id = requestId();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => void (async () => {
      if (size > MAX_BODY) return json(res, 413, { message: 'Request Entity Too Large' }, id);
      const url = req.url ?? '/';
      // Parsed once: the signature is checked against this target and the handler gets this target, nothing re-read.
      const parsed = parseTarget(url);
      if (!parsed.ok) {
        options.log?.(`400 ${req.method} ${url.split('?')[0].slice(0, 200)}: ${parsed.reason}`);
        return json(res, 400, { message: `Bad Request: ${parsed.reason}` }, id);
      }
      const received = { method: req.method ?? 'GET', url, target: parsed.target, headers: req.headers, body: Buffer.concat(chunks) };
      // As API Gateway serves only its own domain: a request signed for another host is not for this API.
      const port = (server.address() as AddressInfo).port;
      const host = String(req.headers.host ?? '').toLowerCase();
      const verified = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host)
        ? await verifySigV4(received, { service: 'execute-api', region: options.region, lookup: options.lookup, now })
        : { ok: false as const, reason: `The request is for host ${host.slice(0, 100) || '(none)'}, not this API.` };
      if (!verified.ok) {
        options.log?.(`403 ${received.method} ${received.url.split('?')[0]}: ${verified.reason}`);
        return json(res, 403, { Code: 'IAM_AUTH_REQUIRED', Message: verified.reason, RequestId: id }, id);
      }
      const refusal = options.authorize?.(verified.key, { method: received.method, path: verified.target.path });
      if (refusal !== undefined) {
        options.log?.(`403 ${received.method} ${received.url.split('?')[0]}: ${refusal}`);
        return json(res, 403, { message: refusal }, id);
      }
      let event: Record<string, unknown>;
      try {
        event = buildEvent({
          ...received, target: verified.target, signedHeaders: verified.signedHeaders, sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        }, { accessKeyId: verified.accessKeyId, userArn: verified.key.arn }, id, options.accountId, now());
      } catch {
        return json(res, 400, { message: 'Bad Request' }, id);
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), options.timeoutMs ?? 30_000); });
      let result: any;
      try {
        result = await Promise.race([options.handler(event, { awsRequestId: id, functionName: 'sentinel-tvm-local' }), timeout]);
      } catch (err) {
        options.log?.(`500 ${received.method} ${received.url.split('?')[0]}: the handler threw ${(err as Error)?.name ?? 'an error'}`);
        return json(res, 500, { message: 'Internal Server Error' }, id);
      } finally {
        clearTimeout(timer);
      }
      if (result === 'timeout') return json(res, 503, { message: 'Service Unavailable' }, id);
      if (!result || typeof result !== 'object' || typeof result.statusCode !== 'number') {
        // Payload 2.0 without a status code: API Gateway answers 200 with the value as JSON.
        return json(res, 200, result ?? null, id);
      }
      const headers: Record<string, string | string[]> = { ...(result.headers ?? {}), 'apigw-requestid': id };
      if (Array.isArray(result.cookies) && result.cookies.length) headers['set-cookie'] = result.cookies;
      res.writeHead(result.statusCode, headers);
      res.end(result.body === undefined ? '' : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8'));
    })().catch(() => {
      if (!res.headersSent) json(res, 500, { message: 'Internal Server Error' }, id);
      else res.destroy();
    }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
