import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { stackStatusOf, type StackGuard } from './aws/stack-guard';
import { boundedRequestHandler, dynamoClient } from './clients';
import { handleConfigEvent, responseBody, retryWhilePermissionsPropagate, sendResponse, type ConfigEvent } from './config/provider';
import { Env } from '../src/shared/contract';

// The configuration writer (CloudFormation custom resources of this TVM): writes the configuration's chunks and its
// manifest into the control table and answers their digests. The table comes from the environment, never from the event.
const controlTableName = process.env[Env.CONTROL_TABLE_NAME];
if (!controlTableName) {
  throw new Error(`environment variable ${Env.CONTROL_TABLE_NAME} is not set: it names the control table`);
}
const stackId = process.env[Env.STACK_ID];
if (!stackId) {
  throw new Error(`environment variable ${Env.STACK_ID} is not set: it names the function's own CloudFormation stack (its id)`);
}
const ddb = dynamoClient();
// A Delete is obeyed only while the writer's own stack is in a status in which CloudFormation sends one.
const guard: StackGuard = {
  stackId,
  stackStatus: stackStatusOf(new CloudFormationClient({ maxAttempts: 3, requestHandler: boundedRequestHandler(2_000, 5_000) })),
};

export async function handler(event: ConfigEvent): Promise<void> {
  const result = await retryWhilePermissionsPropagate(() => handleConfigEvent(ddb, controlTableName!, event, guard));
  // No document in the log: it is the access policy; its digest is enough to compare with the functions' environment.
  (result.refused ? console.error : console.log)(JSON.stringify({
    level: result.refused ? 'ERROR' : 'INFO',
    requestType: event.RequestType,
    stackId: event.StackId,
    resourceType: event.ResourceType,
    logicalResourceId: event.LogicalResourceId,
    physicalResourceId: result.physicalResourceId,
    status: result.status,
    digest: result.digest,
    reason: result.reason,
    refused: result.refused,
  }));
  await sendResponse(event.ResponseURL, responseBody(event, result));
}
