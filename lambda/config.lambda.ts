import { dynamoClient } from './clients';
import { handleConfigEvent, responseBody, retryWhilePermissionsPropagate, sendResponse, type ConfigEvent } from './config/provider';
import { Env } from '../src/shared/contract';

// The configuration writer (CloudFormation custom resources of this TVM): writes the configuration's chunks and its
// manifest into the control table and answers their digests. The table comes from the environment, never from the event.
const controlTableName = process.env[Env.CONTROL_TABLE_NAME];
if (!controlTableName) {
  throw new Error(`environment variable ${Env.CONTROL_TABLE_NAME} is not set: it names the control table`);
}
const ddb = dynamoClient();

export async function handler(event: ConfigEvent): Promise<void> {
  const result = await retryWhilePermissionsPropagate(() => handleConfigEvent(ddb, controlTableName!, event));
  // No document in the log: it is the access policy; its digest is enough to compare with the functions' environment.
  console.log(JSON.stringify({
    requestType: event.RequestType,
    resourceType: event.ResourceType,
    logicalResourceId: event.LogicalResourceId,
    physicalResourceId: result.physicalResourceId,
    status: result.status,
    digest: result.digest,
    reason: result.reason,
  }));
  await sendResponse(event.ResponseURL, responseBody(event, result));
}
