import {
  QueryCommand, TransactionCanceledException, TransactWriteItemsCommand, type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { GrantWrites, type Item, type WriteResult } from './activation';
import {
  AccessAttr, BREAK_GLASS_GUARD_PREFIX, GrantKinds, GuardAttr, REVIEW_PENDING,
} from '../../src/shared/access';
import { Attr, BlockAttr, Status } from '../../src/shared/contract';
import { blockId, putIfAbsent, StoreError } from '../sessions/store';

export type { Item, WriteResult } from './activation';


const iso = (d: Date) => d.toISOString();
const S = (value: string): AttributeValue => ({ S: value });

/** An approval of a pending request: the n-th (guarded by the count read before), flipping it when it is the last. */
export interface Approve {
  readonly id: string;
  /** The approval count read: the write holds only if nobody approved in between. */
  readonly count: number;
  readonly personHash: string;
  readonly entry: Item;
  readonly approverPerson: string;
  readonly policyDigest: string;
  readonly now: Date;
  /** Set when this approval completes the quorum: the grant's window and seal. */
  readonly completes?: { readonly expiresAt: Date; readonly seal: string };
}

/** A decision by someone other than the requester (deny), or by the requester (cancel). */
export interface Decide {
  readonly id: string;
  readonly by: string;
  readonly now: Date;
  readonly comment?: string;
}

/** A break-glass start: the session and its person's guard, in one transaction (T3). */
export interface BreakGlassStart {
  readonly session: Item;
  readonly guardId: string;
  readonly now: Date;
  /** Uses before this instant block this one (`now - cooldown`); equal to `now` without a cooldown. */
  readonly cooldownStart: Date;
  readonly requireReview: boolean;
  /** The invoker's principal-block item (control table): a blocked principal cannot break glass. */
  readonly blockId: string;
}

export type BreakGlassResult = 'started' | 'guarded' | 'collision' | 'blocked';

/** A review of a break-glass session (T14): the session leaves the review queue, its person's guard is released. */
export interface Review {
  readonly id: string;
  readonly guardId: string;
  readonly reviewerArn: string;
  readonly reviewerPerson: string;
  readonly outcome: string;
  readonly note: string;
  readonly now: Date;
}

/** The guard item of a person's break-glass uses on a profile (control table), by its id. */
export function guardId(hash: string): string {
  return `${BREAK_GLASS_GUARD_PREFIX}${hash}`;
}

/**
 * Gated sessions in DynamoDB: every transition of the state machine is one conditional write (break-glass start and
 * review one transaction), and a failed condition returns the item as it was, so the caller says why without reading again.
 */
export class GrantStore extends GrantWrites {

  /** One session item, strongly consistent. */
  public async get(id: string): Promise<Item | undefined> {
    return this.getFrom(this.tableName, id);
  }

  /** Whether an administrator blocked the principal (its block item in the control table has not lapsed). */
  public async blocked(principalArn: string, now: Date): Promise<boolean> {
    const item = await this.getFrom(this.controlTableName, blockId(principalArn));
    return (item?.[BlockAttr.UNTIL]?.S ?? '') > now.toISOString();
  }

  /** A break-glass guard item (control table), strongly consistent. */
  public async guard(id: string): Promise<Item | undefined> {
    return this.getFrom(this.controlTableName, id);
  }

  /** T1, T2: a new request, pending or approved by the policy. `false` when the id is taken. */
  public async create(item: Item): Promise<boolean> {
    return putIfAbsent(this.ddb, this.tableName, item);
  }

  /**
   * The id of an open (pending) request of a person on a profile, if one is in the user's index since `since` (no open
   * request can be older). The index lags writes by well under a second: this bounds queue spam, it decides nothing.
   */
  public async openRequest(user: string, person: string, profile: string, since: Date, index: string): Promise<string | undefined> {
    let startKey: Item | undefined;
    for (let page = 0; page < 5; page++) {
      try {
        const out = await this.ddb.send(new QueryCommand({
          TableName: this.tableName,
          IndexName: index,
          KeyConditionExpression: '#user = :user AND #created >= :since',
          FilterExpression: '#person = :person AND #profile = :profile AND #status = :pending',
          ExpressionAttributeNames: {
            '#user': Attr.USER,
            '#created': Attr.CREATED_AT,
            '#person': AccessAttr.REQUESTER_PERSON,
            '#profile': Attr.PROFILE,
            '#status': Attr.STATUS,
          },
          ExpressionAttributeValues: {
            ':user': S(user), ':since': S(iso(since)), ':person': S(person), ':profile': S(profile), ':pending': S(Status.PENDING),
          },
          ScanIndexForward: false,
          ExclusiveStartKey: startKey,
        }));
        const found = out.Items?.[0]?.[Attr.ID]?.S;
        if (found) return found;
        startKey = out.LastEvaluatedKey;
        if (!startKey) return undefined;
      } catch (err) {
        throw new StoreError(err);
      }
    }
    return undefined;
  }

  /** T4, T5: one approval, guarded by the count read, the request still pending, in time, on the same policy, not the requester's. */
  public async approve(a: Approve): Promise<WriteResult> {
    const names: Record<string, string> = {
      '#status': Attr.STATUS,
      '#count': AccessAttr.APPROVAL_COUNT,
      '#approvals': AccessAttr.APPROVALS,
      '#k': a.personHash,
      '#rexp': AccessAttr.REQUEST_EXPIRES_AT,
      '#digest': AccessAttr.POLICY_DIGEST,
      '#person': AccessAttr.REQUESTER_PERSON,
      '#updated': Attr.UPDATED_AT,
      '#kind': AccessAttr.GRANT_KIND,
    };
    const values: Item = {
      ':pending': S(Status.PENDING),
      ':n': { N: String(a.count) },
      ':now': S(iso(a.now)),
      ':digest': S(a.policyDigest),
      ':approver': S(a.approverPerson),
      ':entry': { M: a.entry },
      ':one': { N: '1' },
      ':approval': S(GrantKinds.APPROVAL),
    };
    let set = 'SET #approvals.#k = :entry, #updated = :now';
    if (a.completes) {
      Object.assign(names, { '#approvedAt': AccessAttr.APPROVED_AT, '#expires': Attr.EXPIRES_AT, '#mac': AccessAttr.GRANT_MAC });
      Object.assign(values, { ':approved': S(Status.APPROVED), ':expires': S(iso(a.completes.expiresAt)), ':mac': S(a.completes.seal) });
      set += ', #status = :approved, #approvedAt = :now, #expires = :expires, #mac = :mac';
    }
    return this.update(a.id, `${set} ADD #count :one`,
      '#kind = :approval AND #status = :pending AND #count = :n AND attribute_not_exists(#approvals.#k) AND #rexp > :now '
      + 'AND #digest = :digest AND #person <> :approver', names, values);
  }

  /** T6: a pending request denied by someone who is not its requester. */
  public async deny(d: Decide & { readonly person: string }): Promise<WriteResult> {
    return this.update(d.id, 'SET #status = :denied, #by = :by, #at = :now, #comment = :comment, #updated = :now',
      '#kind = :approval AND #status = :pending AND #person <> :person', {
        '#status': Attr.STATUS,
        '#by': AccessAttr.DECIDED_BY,
        '#at': AccessAttr.DECIDED_AT,
        '#comment': AccessAttr.DECISION_COMMENT,
        '#updated': Attr.UPDATED_AT,
        '#person': AccessAttr.REQUESTER_PERSON,
        '#kind': AccessAttr.GRANT_KIND,
      }, {
        ':denied': S(Status.DENIED),
        ':by': S(d.by),
        ':now': S(iso(d.now)),
        ':comment': S(d.comment ?? ''),
        ':pending': S(Status.PENDING),
        ':person': S(d.person),
        ':approval': S(GrantKinds.APPROVAL),
      });
  }

  /** T7: the requester cancels a request of theirs that is pending, or approved and never used. */
  public async cancel(d: Decide): Promise<WriteResult> {
    return this.update(d.id, 'SET #status = :cancelled, #by = :by, #at = :now, #updated = :now',
      '#kind = :approval AND #owner = :by AND (#status = :pending OR #status = :approved) AND attribute_not_exists(#activated)', {
        '#status': Attr.STATUS,
        '#by': AccessAttr.DECIDED_BY,
        '#at': AccessAttr.DECIDED_AT,
        '#updated': Attr.UPDATED_AT,
        '#owner': Attr.PRINCIPAL_ARN,
        '#activated': AccessAttr.ACTIVATED_AT,
        '#kind': AccessAttr.GRANT_KIND,
      }, {
        ':cancelled': S(Status.CANCELLED),
        ':by': S(d.by),
        ':now': S(iso(d.now)),
        ':pending': S(Status.PENDING),
        ':approved': S(Status.APPROVED),
        ':approval': S(GrantKinds.APPROVAL),
      });
  }

  /**
   * T8, T12, T13 (the lifecycle sweep): a gated item whose deadline passed is recorded as expired — a pending request past
   * its approval deadline, an approved grant or an active one past its window. `false` when it changed meanwhile.
   */
  public async expire(id: string, from: string, deadline: string, reason: string, now: Date): Promise<boolean> {
    const result = await this.update(id, 'SET #status = :expired, #ended = :now, #reason = :reason, #updated = :now',
      'attribute_exists(#kind) AND #status = :from AND #deadline <= :now', {
        '#status': Attr.STATUS,
        '#ended': Attr.ENDED_AT,
        '#reason': Attr.ENDED_REASON,
        '#updated': Attr.UPDATED_AT,
        '#kind': AccessAttr.GRANT_KIND,
        '#deadline': deadline,
      }, { ':expired': S(Status.EXPIRED), ':now': S(now.toISOString()), ':reason': S(reason), ':from': S(from) });
    return !result.refused;
  }

  /** T3: a break-glass session and its person's guard (cooldown, review before the next use), atomically. */
  public async startBreakGlass(b: BreakGlassStart): Promise<BreakGlassResult> {
    const sessionId = b.session[Attr.ID]?.S ?? '';
    const names: Record<string, string> = {
      '#id': Attr.ID, '#last': GuardAttr.LAST_INVOKED_AT, '#session': GuardAttr.LAST_SESSION, '#count': GuardAttr.COUNT,
    };
    const values: Item = { ':now': S(iso(b.now)), ':cooldownStart': S(iso(b.cooldownStart)), ':session': S(sessionId), ':one': { N: '1' } };
    let set = 'SET #last = :now, #session = :session';
    let condition = 'attribute_not_exists(#id) OR (#last <= :cooldownStart';
    if (b.requireReview) {
      names['#unreviewed'] = GuardAttr.UNREVIEWED;
      set += ', #unreviewed = :session';
      condition += ' AND attribute_not_exists(#unreviewed)';
    }
    condition += ')';
    try {
      await this.ddb.send(new TransactWriteItemsCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: b.session,
              ConditionExpression: 'attribute_not_exists(#id)',
              ExpressionAttributeNames: { '#id': Attr.ID },
            },
          },
          {
            Update: {
              TableName: this.controlTableName,
              Key: { [Attr.ID]: S(b.guardId) },
              UpdateExpression: `${set} ADD #count :one`,
              ConditionExpression: condition,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            },
          },
          {
            ConditionCheck: {
              TableName: this.controlTableName,
              Key: { [Attr.ID]: S(b.blockId) },
              ConditionExpression: 'attribute_not_exists(#id) OR #until <= :now',
              ExpressionAttributeNames: { '#id': Attr.ID, '#until': BlockAttr.UNTIL },
              ExpressionAttributeValues: { ':now': S(b.now.toISOString()) },
            },
          },
        ],
      }));
      return 'started';
    } catch (err) {
      if (err instanceof TransactionCanceledException) {
        const [session, guard, block] = (err.CancellationReasons ?? []).map((r) => r.Code);
        if (block === 'ConditionalCheckFailed') return 'blocked';
        if (guard === 'ConditionalCheckFailed') return 'guarded';
        if (session === 'ConditionalCheckFailed') return 'collision';
      }
      throw new StoreError(err);
    }
  }

  /** T14: a break-glass session reviewed by someone other than its invoker; its person's guard no longer waits for it. */
  public async review(r: Review): Promise<boolean> {
    try {
      await this.ddb.send(new TransactWriteItemsCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.tableName,
              Key: { [Attr.ID]: S(r.id) },
              UpdateExpression: 'SET #by = :by, #at = :now, #outcome = :outcome, #note = :note, #updated = :now REMOVE #state',
              ConditionExpression: '#kind = :bg AND #state = :pending AND #person <> :reviewer',
              ExpressionAttributeNames: {
                '#by': AccessAttr.REVIEWED_BY,
                '#at': AccessAttr.REVIEWED_AT,
                '#outcome': AccessAttr.REVIEW_OUTCOME,
                '#note': AccessAttr.REVIEW_NOTE,
                '#updated': Attr.UPDATED_AT,
                '#state': AccessAttr.REVIEW_STATE,
                '#kind': AccessAttr.GRANT_KIND,
                '#person': AccessAttr.REQUESTER_PERSON,
              },
              ExpressionAttributeValues: {
                ':by': S(r.reviewerArn),
                ':now': S(iso(r.now)),
                ':outcome': S(r.outcome),
                ':note': S(r.note),
                ':bg': S(GrantKinds.BREAK_GLASS),
                ':pending': S(REVIEW_PENDING),
                ':reviewer': S(r.reviewerPerson),
              },
            },
          },
          {
            // Released only for this session: a guard that waits for another one (it cannot, but) stays as it is.
            Update: {
              TableName: this.controlTableName,
              Key: { [Attr.ID]: S(r.guardId) },
              UpdateExpression: 'REMOVE #unreviewed',
              ConditionExpression: 'attribute_not_exists(#unreviewed) OR #unreviewed = :id',
              ExpressionAttributeNames: { '#unreviewed': GuardAttr.UNREVIEWED },
              ExpressionAttributeValues: { ':id': S(r.id) },
            },
          },
        ],
      }));
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException && (err.CancellationReasons ?? []).some((c) => c.Code === 'ConditionalCheckFailed')) {
        return false;
      }
      throw new StoreError(err);
    }
  }

  /** One page of an index, newest first, with a filter. */
  public async page(index: string, key: { name: string; value: string }, filter: string | undefined, names: Record<string, string>,
    values: Item, limit: number, startKey?: Item): Promise<{ items: Item[]; lastKey?: Item }> {
    try {
      const out = await this.ddb.send(new QueryCommand({
        TableName: this.tableName,
        IndexName: index,
        KeyConditionExpression: '#pk = :pk',
        FilterExpression: filter,
        ExpressionAttributeNames: { ...names, '#pk': key.name },
        ExpressionAttributeValues: { ...values, ':pk': S(key.value) },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: startKey,
      }));
      return { items: out.Items ?? [], lastKey: out.LastEvaluatedKey };
    } catch (err) {
      throw new StoreError(err);
    }
  }
}
