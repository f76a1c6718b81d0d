// The bench's wire counter, shared by its sections.
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface CountingProxy {
  readonly endpoint: string;
  /** Requests by operation (`X-Amz-Target`'s last part) since the previous call. */
  take(): Record<string, number>;
  close(): Promise<void>;
}

/** An HTTP proxy in front of a local AWS endpoint (DynamoDB Local, EventBridge) that counts requests by operation: the wire, not the SDK. */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const counts = new Map<string, number>();
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const op = String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop()!;
    counts.set(op, (counts.get(op) ?? 0) + 1);
    const fwd = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => {
      const snapshot = Object.fromEntries(counts);
      counts.clear();
      return snapshot;
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
