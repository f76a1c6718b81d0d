import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { boundedRequestHandler } from '../clients';

/**
 * EventBridge of the function's region (region, credentials and endpoint from the standard SDK configuration:
 * `AWS_ENDPOINT_URL_EVENTBRIDGE` in local mode and tests). Short timeouts: the publisher retries failed entries itself,
 * and the enforcer bounds the whole publication to a few seconds.
 */
export function eventsClient(): EventBridgeClient {
  return new EventBridgeClient({ maxAttempts: 2, requestHandler: boundedRequestHandler(1_000, 2_000) });
}
