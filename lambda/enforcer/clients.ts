import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import { boundedRequestHandler } from '../clients';

// Region, credentials and endpoints come from the standard SDK configuration (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_IAM, ...): that is how local mode and tests redirect them. The enforcer runs in the background
// (60 s timeout, retried by the stream): more attempts than the vending path, each still bounded.
const requestHandler = boundedRequestHandler(2_000, 5_000);

export function enforcerDynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: 3, requestHandler });
}

/**
 * IAM's global endpoint of the function's partition; IAM throttles writes, so the SDK retries with backoff. With
 * `credentials` (a spoke account's, from its enforcement role), the client acts in that account.
 */
export function enforcerIamClient(credentials?: AwsCredentialIdentity): IAMClient {
  return new IAMClient({ maxAttempts: 5, requestHandler, ...(credentials ? { credentials } : {}) });
}

/** The function's regional STS endpoint, to assume the spokes' enforcement roles. */
export function enforcerStsClient(): STSClient {
  return new STSClient({ maxAttempts: 3, requestHandler });
}

/** Reads the function's own stack status, to tell a real revocation-cleanup request from a forged one. */
export function enforcerCloudFormationClient(): CloudFormationClient {
  return new CloudFormationClient({ maxAttempts: 3, requestHandler });
}
