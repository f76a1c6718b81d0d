// What the TVM answered, read without the AWS SDK: the credential cache's fast path imports this, not client.ts.
import type * as http from 'http';
import { CliError, ExitCode } from './errors';

export interface TvmResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, or undefined if the body was not JSON. */
  readonly json: any;
  readonly text: string;
}

export function oneLine(value: unknown): string {
  return String(value).replace(/\s+/g, ' ').trim().slice(0, 500);
}

/** An error answer as the command reports it: the TVM's code and message, or what the gateway said. */
export interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly requestId?: string;
  readonly status: number;
}

export function refusalOf(res: TvmResponse): Refusal {
  const j = res.json;
  if (j && typeof j === 'object' && typeof j.Code === 'string') {
    return { code: j.Code, message: String(j.Message ?? ''), requestId: j.RequestId, status: res.status };
  }
  // API Gateway's own answers (missing or bad signature, throttling, timeouts) are {"message": "..."}.
  const gatewayMessage = j && typeof j === 'object' && typeof j.message === 'string' ? j.message : oneLine(res.text).slice(0, 200);
  const requestId = res.headers['apigw-requestid'];
  return { code: `HTTP_${res.status}`, message: gatewayMessage || 'no message', requestId: typeof requestId === 'string' ? requestId : undefined, status: res.status };
}

/** Throws the CliError for a non-2xx answer: 4xx is a refusal (exit 1), anything else a server error (exit 3). */
export function failOn(res: TvmResponse): void {
  if (res.status >= 200 && res.status < 300) {
    if (res.json === undefined || typeof res.json !== 'object') {
      throw new CliError(ExitCode.SERVER, `the TVM answered HTTP ${res.status} with a body that is not JSON: is --url the TVM's API?`);
    }
    return;
  }
  throw refusalError(refusalOf(res));
}

export function refusalError(r: Refusal): CliError {
  const exit = r.status >= 400 && r.status < 500 ? ExitCode.REFUSED : ExitCode.SERVER;
  return new CliError(exit, `${r.code}: ${r.message}${r.requestId ? ` (request id ${r.requestId})` : ''}`);
}
