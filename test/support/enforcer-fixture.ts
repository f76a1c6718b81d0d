// What the enforcer's tests against local endpoints (enforcer-accounts, enforcer-organization) share: the hub TVM they
// enforce for, revoked sessions as the TVM records them, written to and cleared from DynamoDB Local, and the enforcer's
// dependencies around each test's own clients, so that both files run the enforcer the same way.
import { BatchWriteItemCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LocalIam } from './local-iam';
import type { LocalSts } from './local-sts';
import type { EnforcerConfig, EnforcerDeps } from '../../lambda/enforcer/enforce';
import { Attr, revokedSessionsPolicyName, runtimeRolePathOf, SPOKE_PLACEHOLDER_POLICY, spokeEnforcementRoleName, type ProfileConfig } from '../../src/shared/contract';

export const TVM = 'test';
export const REGION = 'us-east-1';
export const POLICY = revokedSessionsPolicyName(TVM, REGION);
export const PATH = `/sentinel-tvm/${TVM}/`;
/** `SENTINEL_SPOKE_ROLE` as the construct sets it. */
export const SPOKE_ROLE = `${runtimeRolePathOf(TVM).slice(1)}${spokeEnforcementRoleName(TVM, REGION)}`;
export const HUB = '111122223333';
/** The hub enforcer's own credentials: the local IAM does not know them, so they act in its default account, the hub's. */
export const HUB_CREDENTIALS = { accessKeyId: 'AKIDHUBENFORCER', secretAccessKey: 'hub-secret' };
export const T = new Date('2036-01-25T14:30:00.000Z');
export const SCHEDULE = { source: 'aws.events' };

export const roleIn = (account: string, name: string) => `arn:aws:iam::${account}:role${PATH}${name}`;
/** Two spoke accounts, and roles of the hub and of them. */
export const B = '444455556666';
export const C = '777788889999';
export const spokeOf = (account: string) => `arn:aws:iam::${account}:role/${SPOKE_ROLE}`;
export const HUB_ROLE = roleIn(HUB, 'hub-ReadOnly');
export const B_DEPLOY = roleIn(B, 'b-Deploy');
export const C_ROLE = roleIn(C, 'c-ReadOnly');
/** As CloudFormation declared it on each spoke role (whitespace and all). */
export const DECLARED_PLACEHOLDER = JSON.stringify(SPOKE_PLACEHOLDER_POLICY, null, 2);
export const ms = (d: Date, minutes: number) => new Date(d.getTime() + minutes * 60_000);
const iso = (d: Date) => d.toISOString();

export function profile(name: string, roleArn: string, more: Partial<ProfileConfig> = {}): ProfileConfig {
  return { name, roleArn, allowedPrincipals: [`arn:aws:iam::${HUB}:user/alice`], maxDurationSeconds: 3600, ...more };
}

export type Item = Record<string, AttributeValue>;
export interface RevokedOptions {
  readonly revokedAt?: Date;
  readonly credentialsExpireAt?: Date;
}

/** Makes revoked sessions as the TVM records them, each of the profile of `config` with its role ('gone' when none has it). */
export function revokedItems(config: EnforcerConfig): (sessionId: string, role: string, o?: RevokedOptions) => Item {
  return (sessionId, role, o = {}) => {
    const revokedAt = o.revokedAt ?? T;
    const name = [...config.profiles.values()].find((p) => p.roleArn === role)?.name ?? 'gone';
    return {
      [Attr.ID]: { S: sessionId },
      [Attr.USER]: { S: 'alice' },
      [Attr.PROFILE]: { S: name },
      [Attr.ROLE_ARN]: { S: role },
      [Attr.STATUS]: { S: 'revoked' },
      [Attr.CREATED_AT]: { S: iso(ms(revokedAt, -5)) },
      [Attr.UPDATED_AT]: { S: iso(revokedAt) },
      [Attr.REVOKED_AT]: { S: iso(revokedAt) },
      [Attr.EXPIRES_AT]: { S: iso(ms(revokedAt, 12 * 60)) },
      [Attr.CREDENTIALS_EXPIRE_AT]: { S: iso(o.credentialsExpireAt ?? ms(revokedAt, 15)) },
    };
  };
}

/** Writes the items, 25 a batch (BatchWriteItem's most), until DynamoDB has processed them all. */
export async function putItems(ddb: DynamoDBClient, tableName: string, items: Item[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    let request: any = { [tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) };
    while (request && Object.keys(request).length) request = (await ddb.send(new BatchWriteItemCommand({ RequestItems: request }))).UnprocessedItems;
  }
}

/** Deletes every item: each test starts from an empty table without waiting for a new one to be created. */
export async function emptyTable(ddb: DynamoDBClient, tableName: string): Promise<void> {
  const keys = (await ddb.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'id' }))).Items ?? [];
  for (let i = 0; i < keys.length; i += 25) {
    await ddb.send(new BatchWriteItemCommand({
      RequestItems: { [tableName]: keys.slice(i, i + 25).map((k) => ({ DeleteRequest: { Key: { id: k.id } } })) },
    }));
  }
}

/** What a test reads of the enforcer's runs besides their summaries. */
export interface EnforcerRecords {
  readonly failures: { roles: string[]; accounts: Record<string, number> }[];
  readonly logs: { level: string; message: string; [k: string]: unknown }[];
}

export interface EnforcerFixture extends EnforcerRecords, Pick<EnforcerDeps, 'tableName' | 'ddb' | 'iam' | 'iamFor' | 'organization'> {
  readonly config: EnforcerConfig;
}

/** The hub enforcer's dependencies at `now`: the test's clients and configuration, its failures and logs recorded; `more` last. */
export function enforcerDeps(fixture: EnforcerFixture, now: Date, more: Partial<EnforcerDeps> = {}): EnforcerDeps {
  const { config, failures, logs, ...clients } = fixture;
  return {
    ...clients,
    policyName: POLICY,
    protectedRolePath: PATH,
    account: HUB,
    loadConfig: async () => config,
    metrics: (roles, accounts = {}) => failures.push({ roles: [...roles], accounts: { ...accounts } }),
    now: () => now,
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    ...more,
  };
}

/**
 * Between tests: no inline policy anywhere but the placeholder the spoke template declares on each of `spokeRoles`, no
 * call recorded, no fault.
 */
export function resetEndpoints(iam: LocalIam, sts: LocalSts, spokeRoles: readonly string[]): void {
  for (const roles of iam.accounts.values()) for (const policies of roles.values()) policies.clear();
  for (const role of spokeRoles) iam.policiesOf(role)!.set(POLICY, DECLARED_PLACEHOLDER);
  iam.calls.length = 0;
  iam.fail(undefined);
  sts.calls.length = 0;
  sts.fail(undefined);
}
