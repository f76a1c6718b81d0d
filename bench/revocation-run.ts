// One timed enforcer run, shared by the bench's sections: a new revoked session written, then the run its stream record triggers.
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { enforce, type EnforcementSummary, type EnforcerDeps } from '../lambda/enforcer/enforce';

/** Revokes session number `n` (its 16-hex id) of `roleArn` under `profile`, and times the run its stream record triggers. */
export async function timedRevocationRun(ddb: DynamoDBClient, tableName: string, n: number, profile: string, roleArn: string,
  deps: EnforcerDeps): Promise<{ ms: number; summary: EnforcementSummary }> {
  const now = new Date();
  const item = {
    id: { S: n.toString(16).padStart(16, '0') },
    profile: { S: profile },
    role_arn: { S: roleArn },
    status: { S: 'revoked' },
    created_at: { S: now.toISOString() },
    revoked_at: { S: now.toISOString() },
    credentials_expire_at: { S: new Date(now.getTime() + 3600_000).toISOString() },
  };
  await ddb.send(new PutItemCommand({ TableName: tableName, Item: item }));
  const t = performance.now();
  const summary = await enforce(deps, { Records: [{ eventName: 'MODIFY', dynamodb: { NewImage: item } }] });
  return { ms: performance.now() - t, summary };
}
