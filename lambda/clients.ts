import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STSClient } from '@aws-sdk/client-sts';

// Region, credentials and endpoints come from the standard SDK configuration (AWS_REGION,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_STS, ...): that is how local mode and tests redirect them.
// Timeouts stay well inside the function's 10 s and API Gateway's 30 s, so a slow backend gets a clean answer.
const requestHandler = { connectionTimeout: 1_000, requestTimeout: 3_000 };

export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: 2, requestHandler });
}

/** STS's regional endpoint of the function's region (the SDK v3 default). */
export function stsClient(): STSClient {
  return new STSClient({ maxAttempts: 2, requestHandler });
}
