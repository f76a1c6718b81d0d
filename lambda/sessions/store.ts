import {
  ConditionalCheckFailedException, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { Attr, Status } from '../../src/shared/contract';

type Item = Record<string, AttributeValue>;

/** What a new session records (SPEC §4). */
export interface NewSession {
  readonly id: string;
  readonly user: string;
  readonly principalArn: string;
  readonly accountId: string;
  readonly profile: string;
  readonly roleArn: string;
  readonly sourceIdentity: string;
  readonly deviceId?: string;
  readonly serverInstanceId: string;
  readonly now: Date;
  readonly expiresAt: Date;
  /** Upper bound of the Expiration STS will stamp on the credentials about to be vended. */
  readonly credentialsExpireAt: Date;
  readonly ttl: number;
}

/** What continuing a session must check and touch. */
export interface ContinueSession {
  readonly id: string;
  readonly principalArn: string;
  readonly profile: string;
  readonly now: Date;
  /** The session must last at least until then (now + the shortest credential lifetime). */
  readonly mustLastUntil: Date;
  readonly credentialsExpireAt: Date;
}

/** Why a continued session was refused, decided from the item DynamoDB returned with the failed condition. */
export type ContinueRefusal = 'NOT_FOUND' | 'FORBIDDEN' | 'REVOKED' | 'EXPIRED';

export type ContinueResult =
  | { readonly ok: true; readonly expiresAt: Date; readonly requestCount: number }
  | { readonly ok: false; readonly refusal: ContinueRefusal };

/** An error of the store itself (unreachable, throttled, misconfigured), as opposed to a refused condition. */
export class StoreError extends Error {
  constructor(public readonly cause: unknown) {
    super(`session store failed: ${(cause as Error)?.name ?? 'Error'}`);
    this.name = 'StoreError';
  }
}

const iso = (d: Date) => d.toISOString();

/** Session records in DynamoDB: exactly one request per vend, every transition one conditional write. */
export class SessionStore {
  constructor(private readonly ddb: DynamoDBClient, private readonly tableName: string) {}

  /** Writes a new active session; `attribute_not_exists(id)` guards against an id collision. */
  public async create(s: NewSession): Promise<void> {
    const item: Item = {
      [Attr.ID]: { S: s.id },
      [Attr.USER]: { S: s.user },
      [Attr.PRINCIPAL_ARN]: { S: s.principalArn },
      [Attr.ACCOUNT_ID]: { S: s.accountId },
      [Attr.PROFILE]: { S: s.profile },
      [Attr.ROLE_ARN]: { S: s.roleArn },
      [Attr.STATUS]: { S: Status.ACTIVE },
      [Attr.STARTED_AT]: { S: iso(s.now) },
      [Attr.LAST_ACCESS_AT]: { S: iso(s.now) },
      [Attr.CREATED_AT]: { S: iso(s.now) },
      [Attr.UPDATED_AT]: { S: iso(s.now) },
      [Attr.EXPIRES_AT]: { S: iso(s.expiresAt) },
      [Attr.CREDENTIALS_EXPIRE_AT]: { S: iso(s.credentialsExpireAt) },
      [Attr.REQUEST_COUNT]: { N: '1' },
      [Attr.SOURCE_IDENTITY]: { S: s.sourceIdentity },
      [Attr.SERVER_INSTANCE_ID]: { S: s.serverInstanceId },
      [Attr.TTL]: { N: String(s.ttl) },
    };
    if (s.deviceId) item[Attr.DEVICE_ID] = { S: s.deviceId };
    try {
      await this.ddb.send(new PutItemCommand({
        TableName: this.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(#id)',
        ExpressionAttributeNames: { '#id': Attr.ID },
      }));
    } catch (err) {
      throw new StoreError(err);
    }
  }

  /**
   * Checks and touches a session in one conditional UpdateItem: active, owned by the caller, same profile,
   * lasting long enough. On a failed condition, the old item (returned by DynamoDB) tells why.
   */
  public async continue(c: ContinueSession): Promise<ContinueResult> {
    try {
      return await this.touch(c, true);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        const refusal = classify(err.Item, c);
        if (refusal) return { ok: false, refusal };
        // Only the credentials_expire_at guard failed: an earlier vend of this session outlives this one.
        // Touch without lowering it (rare: a shorter duration asked for while longer credentials live).
        try {
          return await this.touch(c, false);
        } catch (again) {
          if (again instanceof ConditionalCheckFailedException) {
            return { ok: false, refusal: classify(again.Item, c) ?? 'EXPIRED' };
          }
          throw new StoreError(again);
        }
      }
      throw new StoreError(err);
    }
  }

  /** Ends a session whose first vend failed, so that no `active` session exists without credentials. */
  public async endFailedSession(id: string, now: Date, reason: string): Promise<void> {
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [Attr.ID]: { S: id } },
        UpdateExpression: 'SET #status = :expired, #ended = :now, #updated = :now, #reason = :reason REMOVE #cexp',
        ConditionExpression: '#status = :active',
        ExpressionAttributeNames: {
          '#status': Attr.STATUS,
          '#ended': Attr.ENDED_AT,
          '#updated': Attr.UPDATED_AT,
          '#reason': Attr.ENDED_REASON,
          '#cexp': Attr.CREDENTIALS_EXPIRE_AT,
        },
        ExpressionAttributeValues: {
          ':expired': { S: Status.EXPIRED }, ':active': { S: Status.ACTIVE }, ':now': { S: iso(now) }, ':reason': { S: reason },
        },
      }));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return; // revoked meanwhile: terminal already
      throw new StoreError(err);
    }
  }

  private async touch(c: ContinueSession, raiseCredentialsExpiry: boolean): Promise<ContinueResult> {
    const names: Record<string, string> = {
      '#id': Attr.ID,
      '#status': Attr.STATUS,
      '#owner': Attr.PRINCIPAL_ARN,
      '#profile': Attr.PROFILE,
      '#expires': Attr.EXPIRES_AT,
      '#last': Attr.LAST_ACCESS_AT,
      '#updated': Attr.UPDATED_AT,
      '#count': Attr.REQUEST_COUNT,
    };
    const values: Item = {
      ':active': { S: Status.ACTIVE },
      ':owner': { S: c.principalArn },
      ':profile': { S: c.profile },
      ':until': { S: iso(c.mustLastUntil) },
      ':now': { S: iso(c.now) },
      ':one': { N: '1' },
    };
    let set = 'SET #last = :now, #updated = :now';
    let condition = 'attribute_exists(#id) AND #status = :active AND #owner = :owner AND #profile = :profile AND #expires > :until';
    if (raiseCredentialsExpiry) {
      names['#cexp'] = Attr.CREDENTIALS_EXPIRE_AT;
      values[':cexp'] = { S: iso(c.credentialsExpireAt) };
      set += ', #cexp = :cexp';
      condition += ' AND (attribute_not_exists(#cexp) OR #cexp <= :cexp)';
    }
    const out = await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: { [Attr.ID]: { S: c.id } },
      UpdateExpression: `${set} ADD #count :one`,
      ConditionExpression: condition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    }));
    const item = out.Attributes ?? {};
    return {
      ok: true,
      expiresAt: new Date(item[Attr.EXPIRES_AT]?.S ?? iso(c.mustLastUntil)),
      requestCount: Number(item[Attr.REQUEST_COUNT]?.N ?? '0'),
    };
  }
}

/** Why the condition failed, or undefined when only the credentials_expire_at guard did. */
function classify(item: Item | undefined, c: ContinueSession): ContinueRefusal | undefined {
  if (!item || !item[Attr.ID]) return 'NOT_FOUND';
  // Ownership first: a stranger learns nothing about someone else's session.
  if (item[Attr.PRINCIPAL_ARN]?.S !== c.principalArn) return 'FORBIDDEN';
  const status = item[Attr.STATUS]?.S;
  if (status === Status.REVOKED) return 'REVOKED';
  if (status !== Status.ACTIVE) return 'EXPIRED';
  if (item[Attr.PROFILE]?.S !== c.profile) return 'FORBIDDEN';
  if (!((item[Attr.EXPIRES_AT]?.S ?? '') > iso(c.mustLastUntil))) return 'EXPIRED';
  return undefined;
}
