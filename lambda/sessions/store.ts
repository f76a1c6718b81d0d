import { randomBytes } from 'crypto';
import {
  ConditionalCheckFailedException, GetItemCommand, PutItemCommand, QueryCommand, TransactionCanceledException, TransactWriteItemsCommand,
  UpdateItemCommand, type AttributeValue, type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AccessAttr } from '../../src/shared/access';
import { Attr, BLOCK_ITEM_PREFIX, BlockAttr, Status, TOKEN_KEY_ATTR, TOKEN_KEY_ITEM_ID } from '../../src/shared/contract';

export type Item = Record<string, AttributeValue>;

/** An end or a revocation of a session by its owner or an administrator. */
export interface Transition {
  readonly id: string;
  readonly to: 'expired' | 'revoked';
  readonly callerArn: string;
  /** Administrators may act on any session; others only on their own. */
  readonly admin: boolean;
  readonly now: Date;
  readonly reason?: string;
}

export type TransitionResult =
  | { readonly ok: true; readonly item: Item }
  | { readonly ok: false; readonly refusal: 'NOT_FOUND' | 'FORBIDDEN' | 'NOT_ACTIVE'; readonly item?: Item };

/** A revoked record for a session id the table does not know (a FAIL_OPEN vend), so that the enforcer denies it. */
export interface Tombstone {
  readonly id: string;
  readonly profile: string;
  readonly roleArn: string;
  readonly callerArn: string;
  readonly reason: string;
  readonly now: Date;
  /** Until when credentials of that id may be live: the longest credential lifetime from now. */
  readonly credentialsExpireAt: Date;
  readonly ttl: number;
}

/** A principal barred from starting sessions until a time (the stolen-laptop case). */
export interface Block {
  readonly principalArn: string;
  readonly until: Date;
  readonly callerArn: string;
  readonly reason: string;
  readonly sessionId: string;
}

export interface SessionQuery {
  readonly index: string;
  readonly keyName: string;
  readonly keyValue: string;
  /** Attribute name → required value, applied as a filter. */
  readonly filters: Record<string, string>;
  readonly limit: number;
  readonly startKey?: Item;
}

/** What a new session records. */
export interface NewSession {
  readonly id: string;
  readonly user: string;
  readonly principalArn: string;
  /** STS's unique id of the caller (AIDA…, AROA…:session): ownership survives only the same principal, not a namesake. */
  readonly principalId?: string;
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
  readonly principalId?: string;
  readonly profile: string;
  /** The profile's role now: a session started on another role cannot continue on this one. */
  readonly roleArn: string;
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

/**
 * What became of a new session's write. `conflict`: DynamoDB kept cancelling the transaction because another one was
 * touching the same principal's block item at the time; the table answered, so this is no store failure to fail open on.
 */
export type CreateResult = 'created' | 'blocked' | 'collision' | 'conflict';

/** Attempts of a write that DynamoDB cancels for a concurrent transaction on the same item (the SDK does not retry them). */
const CONFLICT_ATTEMPTS = 4;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a write again, after a short jittered pause, while DynamoDB answers `conflict`, up to {@link CONFLICT_ATTEMPTS} times. */
async function untilNoConflict<T>(once: () => Promise<T | 'conflict'>): Promise<T | 'conflict'> {
  for (let attempt = 1; ; attempt++) {
    const result = await once();
    if (result !== 'conflict' || attempt >= CONFLICT_ATTEMPTS) return result;
    await pause(10 * attempt + Math.floor(Math.random() * 20));
  }
}

/** Session records in DynamoDB: exactly one request per vend, every transition one conditional write. */
export class SessionStore {
  constructor(private readonly ddb: DynamoDBClient, private readonly tableName: string, private readonly controlTableName: string) {}

  /**
   * Writes a new active session in one transaction that also checks that its principal is not blocked (a block item
   * in the control table): still one request per vend. `attribute_not_exists(id)` guards against an id collision.
   */
  public async create(s: NewSession): Promise<CreateResult> {
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
    if (s.principalId) item[Attr.PRINCIPAL_ID] = { S: s.principalId };
    return untilNoConflict(() => this.createOnce(s, item));
  }

  private async createOnce(s: NewSession, item: Item): Promise<CreateResult> {
    try {
      await this.ddb.send(new TransactWriteItemsCommand({
        TransactItems: [
          {
            ConditionCheck: {
              TableName: this.controlTableName,
              Key: { [Attr.ID]: { S: blockId(s.principalArn) } },
              ConditionExpression: 'attribute_not_exists(#id) OR #until <= :now',
              ExpressionAttributeNames: { '#id': Attr.ID, '#until': BlockAttr.UNTIL },
              ExpressionAttributeValues: { ':now': { S: iso(s.now) } },
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: item,
              ConditionExpression: 'attribute_not_exists(#id)',
              ExpressionAttributeNames: { '#id': Attr.ID },
            },
          },
        ],
      }));
      return 'created';
    } catch (err) {
      if (err instanceof TransactionCanceledException) {
        const [block, put] = (err.CancellationReasons ?? []).map((r) => r.Code);
        if (block === 'ConditionalCheckFailed') return 'blocked';
        if (put === 'ConditionalCheckFailed') return 'collision';
        if (block === 'TransactionConflict' || put === 'TransactionConflict') return 'conflict';
      }
      throw new StoreError(err);
    }
  }

  /** Writes a revoked record for an id the table does not have; undefined when the id exists. */
  public async tombstone(t: Tombstone): Promise<Item | undefined> {
    const item: Item = {
      [Attr.ID]: { S: t.id },
      [Attr.PROFILE]: { S: t.profile },
      [Attr.ROLE_ARN]: { S: t.roleArn },
      [Attr.STATUS]: { S: Status.REVOKED },
      [Attr.CREATED_AT]: { S: iso(t.now) },
      [Attr.UPDATED_AT]: { S: iso(t.now) },
      [Attr.REVOKED_AT]: { S: iso(t.now) },
      [Attr.REVOKED_BY]: { S: t.callerArn },
      [Attr.REVOKED_REASON]: { S: t.reason },
      [Attr.CREDENTIALS_EXPIRE_AT]: { S: iso(t.credentialsExpireAt) },
      [Attr.EXPIRES_AT]: { S: iso(t.credentialsExpireAt) },
      [Attr.TTL]: { N: String(t.ttl) },
    };
    return await putIfAbsent(this.ddb, this.tableName, item) ? item : undefined;
  }

  /** Blocks a principal from starting sessions until `until`; an existing longer block stands. */
  public async block(b: Block): Promise<void> {
    // New sessions of the principal check this item in transactions: a write may meet one in flight.
    if (await untilNoConflict(() => this.blockOnce(b)) === 'conflict') {
      throw new StoreError(new Error('TransactionConflictException: the block item stayed busy'));
    }
  }

  private async blockOnce(b: Block): Promise<'written' | 'conflict'> {
    try {
      await this.ddb.send(new PutItemCommand({
        TableName: this.controlTableName,
        Item: {
          [Attr.ID]: { S: blockId(b.principalArn) },
          [BlockAttr.UNTIL]: { S: iso(b.until) },
          [BlockAttr.BY]: { S: b.callerArn },
          [BlockAttr.REASON]: { S: b.reason },
          [BlockAttr.SESSION]: { S: b.sessionId },
          [BlockAttr.TTL]: { N: String(Math.ceil(b.until.getTime() / 1000) + 86_400) },
        },
        ConditionExpression: 'attribute_not_exists(#id) OR #until < :until',
        ExpressionAttributeNames: { '#id': Attr.ID, '#until': BlockAttr.UNTIL },
        ExpressionAttributeValues: { ':until': { S: iso(b.until) } },
      }));
      return 'written';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return 'written'; // a longer block stands
      if ((err as Error)?.name === 'TransactionConflictException') return 'conflict';
      throw new StoreError(err);
    }
  }

  /**
   * The ids of a principal's sessions whose credentials may be live: active ones, and ended ones whose credentials have
   * not expired yet (all pages of its user's index, filtered by the full ARN).
   */
  public async liveSessionsOf(user: string, principalArn: string, index: string, now: Date): Promise<string[]> {
    const ids: string[] = [];
    let startKey: Item | undefined;
    do {
      try {
        const out = await this.ddb.send(new QueryCommand({
          TableName: this.tableName,
          IndexName: index,
          KeyConditionExpression: '#user = :user',
          // Grants too: approved ones not yet used, and requests still pending, are ended with the principal's sessions.
          FilterExpression: '#owner = :owner AND (#status IN (:active, :approved, :pending) OR (#status = :expired AND #cexp > :now))',
          ExpressionAttributeNames: {
            '#user': Attr.USER, '#owner': Attr.PRINCIPAL_ARN, '#status': Attr.STATUS, '#cexp': Attr.CREDENTIALS_EXPIRE_AT,
          },
          ExpressionAttributeValues: {
            ':user': { S: user },
            ':owner': { S: principalArn },
            ':active': { S: Status.ACTIVE },
            ':approved': { S: Status.APPROVED },
            ':pending': { S: Status.PENDING },
            ':expired': { S: Status.EXPIRED },
            ':now': { S: iso(now) },
          },
          ExclusiveStartKey: startKey,
        }));
        ids.push(...(out.Items ?? []).map((i) => i[Attr.ID]?.S).filter((id): id is string => id !== undefined));
        startKey = out.LastEvaluatedKey;
      } catch (err) {
        throw new StoreError(err);
      }
    } while (startKey);
    return ids;
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

  /** Reads one session item, strongly consistent. */
  public async get(id: string): Promise<Item | undefined> {
    return this.getFrom(this.tableName, id);
  }

  private async getFrom(tableName: string, id: string): Promise<Item | undefined> {
    try {
      const out = await this.ddb.send(new GetItemCommand({ TableName: tableName, Key: { [Attr.ID]: { S: id } }, ConsistentRead: true }));
      return out.Item;
    } catch (err) {
      throw new StoreError(err);
    }
  }

  /**
   * Ends or revokes a session in one conditional UpdateItem: it must be active and, unless the caller is an
   * administrator, the caller's. On a failed condition, the old item tells why.
   */
  public async transition(t: Transition): Promise<TransitionResult> {
    const names: Record<string, string> = { '#id': Attr.ID, '#status': Attr.STATUS, '#updated': Attr.UPDATED_AT };
    const values: Item = { ':active': { S: Status.ACTIVE }, ':to': { S: t.to }, ':now': { S: iso(t.now) } };
    let set = 'SET #status = :to, #updated = :now';
    if (t.to === Status.REVOKED) {
      Object.assign(names, { '#by': Attr.REVOKED_BY, '#reason': Attr.REVOKED_REASON, '#at': Attr.REVOKED_AT });
      Object.assign(values, { ':by': { S: t.callerArn }, ':reason': { S: t.reason ?? '' } });
      set += ', #by = :by, #reason = :reason, #at = :now';
    } else {
      Object.assign(names, { '#at': Attr.ENDED_AT, '#reason': Attr.ENDED_REASON });
      values[':reason'] = { S: t.reason ?? '' };
      set += ', #at = :now, #reason = :reason';
    }
    let condition = 'attribute_exists(#id) AND #status = :active';
    if (t.to === Status.EXPIRED) {
      // A grant ended early is revoked (its credentials denied), never merely expired: GrantWrites.end.
      names['#gk'] = AccessAttr.GRANT_KIND;
      condition += ' AND attribute_not_exists(#gk)';
    }
    if (t.to === Status.REVOKED) {
      // An ended session whose credentials may still be live can be revoked too: its credentials are then denied.
      names['#cexp'] = Attr.CREDENTIALS_EXPIRE_AT;
      values[':expired'] = { S: Status.EXPIRED };
      condition = 'attribute_exists(#id) AND (#status = :active OR (#status = :expired AND #cexp > :now))';
    }
    if (!t.admin) {
      names['#owner'] = Attr.PRINCIPAL_ARN;
      values[':caller'] = { S: t.callerArn };
      condition += ' AND #owner = :caller';
    }
    try {
      const out = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [Attr.ID]: { S: t.id } },
        UpdateExpression: set,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { ok: true, item: out.Attributes ?? {} };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw new StoreError(err);
      const old = err.Item;
      if (!old || !old[Attr.ID]) return { ok: false, refusal: 'NOT_FOUND' };
      if (!t.admin && old[Attr.PRINCIPAL_ARN]?.S !== t.callerArn) return { ok: false, refusal: 'FORBIDDEN' };
      return { ok: false, refusal: 'NOT_ACTIVE', item: old };
    }
  }

  /** One page of a GSI, newest first. */
  public async query(q: SessionQuery): Promise<{ items: Item[]; lastKey?: Item }> {
    const names: Record<string, string> = { '#k': q.keyName };
    const values: Item = { ':k': { S: q.keyValue } };
    const filters = Object.entries(q.filters).map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:f${i}`] = { S: value };
      return `#f${i} = :f${i}`;
    });
    try {
      const out = await this.ddb.send(new QueryCommand({
        TableName: this.tableName,
        IndexName: q.index,
        KeyConditionExpression: '#k = :k',
        FilterExpression: filters.length ? filters.join(' AND ') : undefined,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: q.limit,
        ExclusiveStartKey: q.startKey,
      }));
      return { items: out.Items ?? [], lastKey: out.LastEvaluatedKey };
    } catch (err) {
      throw new StoreError(err);
    }
  }

  /** The key that signs page tokens: created once, at random, by the first container that needs it. */
  public async tokenKey(): Promise<Buffer> {
    // In the control table: no grant of the construct reads it, so session readers cannot forge page tokens.
    return randomKeyItem(this.ddb, this.controlTableName, TOKEN_KEY_ITEM_ID, TOKEN_KEY_ATTR);
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
      '#role': Attr.ROLE_ARN,
      '#pid': Attr.PRINCIPAL_ID,
    };
    const values: Item = {
      ':active': { S: Status.ACTIVE },
      ':owner': { S: c.principalArn },
      ':pid': { S: c.principalId ?? '' },
      ':profile': { S: c.profile },
      ':role': { S: c.roleArn },
      ':until': { S: iso(c.mustLastUntil) },
      ':now': { S: iso(c.now) },
      ':one': { N: '1' },
    };
    let set = 'SET #last = :now, #updated = :now';
    // The same principal (its unique id, when recorded: a deleted and recreated namesake is another principal), the same
    // profile, and the same role: a profile moved to another role starts new sessions, so that every credential of a
    // session is of the role its record names, and revocation denies it where it lives.
    // A standing session only: a grant (approval, break-glass) continues through its own write (GrantWrites.activate),
    // never as standing access of a profile that is no longer gated.
    names['#gk'] = AccessAttr.GRANT_KIND;
    let condition = 'attribute_exists(#id) AND #status = :active AND #owner = :owner AND (attribute_not_exists(#pid) OR #pid = :pid) '
      + 'AND #profile = :profile AND #role = :role AND #expires > :until AND attribute_not_exists(#gk)';
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
  if (item[Attr.PRINCIPAL_ID]?.S !== undefined && item[Attr.PRINCIPAL_ID]?.S !== (c.principalId ?? '')) return 'FORBIDDEN';
  if (item[AccessAttr.GRANT_KIND] !== undefined) return 'FORBIDDEN';
  const status = item[Attr.STATUS]?.S;
  if (status === Status.REVOKED) return 'REVOKED';
  if (status !== Status.ACTIVE) return 'EXPIRED';
  if (item[Attr.PROFILE]?.S !== c.profile) return 'FORBIDDEN';
  if (item[Attr.ROLE_ARN]?.S !== c.roleArn) return 'EXPIRED';
  if (!((item[Attr.EXPIRES_AT]?.S ?? '') > iso(c.mustLastUntil))) return 'EXPIRED';
  return undefined;
}

/** The control-table item that blocks a principal from starting sessions (and requests, grants, break-glass). */
export function blockId(principalArn: string): string {
  return `${BLOCK_ITEM_PREFIX}${principalArn}`;
}

/** Writes an item unless its id exists: `false` when it does. */
export async function putIfAbsent(ddb: DynamoDBClient, tableName: string, item: Item): Promise<boolean> {
  try {
    await ddb.send(new PutItemCommand({
      TableName: tableName,
      Item: item,
      ConditionExpression: 'attribute_not_exists(#id)',
      ExpressionAttributeNames: { '#id': Attr.ID },
    }));
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw new StoreError(err);
  }
}

/**
 * A random 32-byte key kept in a control-table item, created by the first container that needs it (a concurrent creator
 * loses the conditional write and reads the winner's): the page-token key, the grant-sealing key.
 */
export async function randomKeyItem(ddb: DynamoDBClient, controlTableName: string, itemId: string, attr: string): Promise<Buffer> {
  const read = async () => {
    try {
      const out = await ddb.send(new GetItemCommand({ TableName: controlTableName, Key: { [Attr.ID]: { S: itemId } }, ConsistentRead: true }));
      return out.Item?.[attr]?.B;
    } catch (err) {
      throw new StoreError(err);
    }
  };
  const existing = await read();
  if (existing) return Buffer.from(existing);
  await putIfAbsent(ddb, controlTableName, { [Attr.ID]: { S: itemId }, [attr]: { B: randomBytes(32) } });
  const created = await read();
  if (!created) throw new StoreError(new Error(`${itemId} missing after creation`));
  return Buffer.from(created);
}
