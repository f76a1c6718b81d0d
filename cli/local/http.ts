// What local mode's AWS-style endpoints (S3, IAM, STS) share: a server on the loopback address only, each request's body
// read up to a cap (past it only counted, so that each endpoint refuses it in its own service's words), the query
// protocol's answers, and a stop that does not wait for the SDK's keep-alive connections to close.
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

/** The largest request body read: these endpoints take small forms, never uploads. */
export const MAX_BODY_BYTES = 64 * 1024;

export const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface LocalEndpoint {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Answers a request once its body is read; `body` is undefined when it was larger than {@link MAX_BODY_BYTES}. */
export type LocalHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined) => void | Promise<void>;

/** Serves `handle` on 127.0.0.1, on `port` or else a free one. The handler answers every request, errors included. */
export async function serveLocal(port: number | undefined, handle: LocalHandler): Promise<LocalEndpoint> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => void handle(req, res, size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? 0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** An error of a query-protocol service (IAM, STS): its HTTP status, code and message. */
export class QueryError extends Error {
  constructor(public readonly status: number, public readonly code: string, message: string) {
    super(message);
  }
}

/** A query-protocol answer: XML, with the request id header the SDK reads. */
export function answerQuery(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
  res.end(body);
}

/** A query-protocol error document, as the SDK parses it (`type` says whose fault: the caller's or the service's). */
export function queryErrorXml(namespace: string, e: QueryError, type: 'Sender' | 'Receiver'): string {
  return `<ErrorResponse xmlns="${namespace}"><Error><Type>${type}</Type><Code>${xml(e.code)}</Code>`
    + `<Message>${xml(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}
