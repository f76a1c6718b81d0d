import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';

// Region, credentials and endpoints come from the standard SDK configuration (AWS_REGION,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_STS, ...): that is how local mode and tests redirect them.
// Timeouts keep a vend's worst case (2 attempts at DynamoDB, then 2 at STS: about 8.5 s) inside the function's
// 15 s and API Gateway's 30 s, so a slow backend gets the TVM's own error answer, never a gateway timeout.
export const CLIENT_TIMEOUTS = { connectionTimeout: 1_000, requestTimeout: 2_000, maxAttempts: 2 } as const;

/**
 * Request handler options with timeouts that fire: without throwOnRequestTimeout, the SDK only logs a warning when
 * requestTimeout passes and keeps waiting for as long as the backend does.
 */
export function boundedRequestHandler(connectionTimeout: number, requestTimeout: number) {
  return { connectionTimeout, requestTimeout, throwOnRequestTimeout: true };
}
const requestHandler = boundedRequestHandler(CLIENT_TIMEOUTS.connectionTimeout, CLIENT_TIMEOUTS.requestTimeout);

export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: CLIENT_TIMEOUTS.maxAttempts, requestHandler });
}

/** STS's regional endpoint of the function's region (the SDK v3 default). */
export function stsClient(): STSClient {
  return new STSClient({ maxAttempts: CLIENT_TIMEOUTS.maxAttempts, requestHandler });
}

