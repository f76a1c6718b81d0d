import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { ApiError } from './errors';

export type HttpResponse = Exclude<APIGatewayProxyResultV2, string> & { statusCode: number; headers: Record<string, string>; body: string };

const BASE_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The error contract: `{"Code","Message","RequestId"}`, never an internal detail. */
export function errorResponse(err: ApiError, requestId: string): HttpResponse {
  return json(err.status, { Code: err.code, Message: err.message, RequestId: requestId }, err.headers);
}
