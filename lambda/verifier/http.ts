import * as http from 'http';
import * as https from 'https';
import type { VerifierHttpSend } from './index';

/** Introspection answers are a few hundred bytes: anything far larger is not the TVM. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One request with Node.js's own HTTP client (its global agents keep connections alive, so a warm container reuses its
 * TLS session to the TVM). The verifier aborts it through `signal` when its deadline passes.
 */
export const httpSend: VerifierHttpSend = ({ url, method, headers, body, signal }) => new Promise((resolve, reject) => {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const req = transport.request(target, { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal },
    (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(Object.assign(new Error('answer too large'), { code: 'E2BIG' }));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
  req.on('error', reject);
  req.end(body);
});
