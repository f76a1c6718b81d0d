// Red team: the configuration writer (lambda/config/provider.ts) obeys a Delete from anyone who can invoke it, whatever
// the stack is doing: no StackId or stack-status check, unlike the revocation cleanup. The holder (the manifest's logical
// id) and the physical id (`sentinel-tvm-config-<digest>`, the digest being in the functions' environment) are readable
// by anyone who may read the template or the function configuration. One such request deletes the deployed
// configuration: the API answers 503 everywhere and the enforcer fails every run (no revocation is denied anew) until a
// deployment that changes the configuration writes it again. DynamoDB Local; the writer's own handler.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient, uniqueTableName } from './support/dynamodb-local';
import { configEvent } from './support/tvm-fixture';
import { ensureTable } from '../cli/local/dynamodb';
import type { StackGuard } from '../lambda/aws/stack-guard';
import { handleConfigEvent } from '../lambda/config/provider';
import { loadConfig } from '../lambda/profiles';
import { ConfigResourceTypes } from '../src/shared/contract';

const ACCOUNT = '111122223333';
/** The logical ids as CDK derives them from the construct path: predictable, and printed in the template. */
const MANIFEST_ID = 'TvmConfig5D3C2B1A';
const CHUNK_ID = 'TvmConfigChunkreadonly9F8E7D6C';

let ddb: DynamoDBClient;
let table: string;
/** The writer's own stack, as DescribeStacks reports it: at rest, as almost always. */
const atRest: StackGuard = {
  stackId: configEvent('Create', 'Any', ConfigResourceTypes.MANIFEST, {}).StackId,
  stackStatus: async () => 'UPDATE_COMPLETE',
};

beforeAll(async () => {
  ddb = localDynamoClient();
  table = uniqueTableName('redteam-config');
  await ensureTable(ddb, table, 'control');
});
afterAll(() => ddb.destroy());

/** The first deployment: a chunk and its manifest, as CloudFormation creates them. */
async function deploy(): Promise<string> {
  const profiles = [{
    name: 'readonly',
    roleArn: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/prod/ReadOnly`,
    allowedPrincipals: [`arn:aws:iam::${ACCOUNT}:user/alice`],
    maxDurationSeconds: '3600',
    chainRoleArns: [],
  }];
  const chunk = await handleConfigEvent(ddb, table, configEvent('Create', CHUNK_ID, ConfigResourceTypes.CHUNK, { Profiles: profiles }));
  const manifest = await handleConfigEvent(ddb, table, configEvent('Create', MANIFEST_ID, ConfigResourceTypes.MANIFEST,
    { AdminPrincipals: [`arn:aws:iam::${ACCOUNT}:role/SecurityOps`], Chunks: [chunk.digest] }));
  expect([chunk.status, manifest.status]).toEqual(['SUCCESS', 'SUCCESS']);
  return manifest.digest!;
}

describe('GIVEN a deployed configuration and a stack at rest', () => {
  test('fails when a hand-made Delete (logical id and physical id read from the template) deletes the deployed configuration',
    async () => {
      const digest = await deploy();
      await expect(loadConfig(ddb, table, digest)).resolves.toBeDefined();

      // WHEN someone who may invoke the writer sends the Delete CloudFormation would send when the manifest is replaced.
      const forged = configEvent('Delete', MANIFEST_ID, ConfigResourceTypes.MANIFEST, {}, `sentinel-tvm-config-${digest}`);
      const answer = await handleConfigEvent(ddb, table, forged, atRest);

      // THEN it is refused (the stack is not deleting or cleaning up): otherwise the item would be deleted and every
      // function that loads the configuration would refuse to serve.
      await expect(loadConfig(ddb, table, digest)).resolves.toBeDefined();
      expect(answer.reason).not.toBe('item deleted');
    });
});
