import {
  ConditionalCheckFailedException, GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AccessAttr, GRANT_KEY_ATTR, GRANT_KEY_ITEM_ID } from '../../src/shared/access';
import { Attr, Status } from '../../src/shared/contract';
import { randomKeyItem, StoreError } from '../sessions/store';

export type Item = Record<string, AttributeValue>;

const iso = (d: Date) => d.toISOString();
const S = (value: string): AttributeValue => ({ S: value });

/** A failed condition: the item as it was (DynamoDB returns it with the failure), undefined when there was none. */
export interface Refused {
  readonly refused: true;
  readonly old?: Item;
}
export type Written = { readonly refused: false; readonly item: Item };
export type WriteResult = Written | Refused;

/** A gated session's early end: withdrawn, revoked, ended by its owner, eligibility removed, or a broken seal. */
export interface EndGrant {
  readonly id: string;
  readonly by: string;
  readonly kind: string;
  readonly reason: string;
  readonly now: Date;
  /** Only the owner's own session (T11). */
  readonly owner?: string;
  /** A standing session too (one of a profile that has become gated), not only a grant. */
  readonly standingToo?: boolean;
}

/** The vend's write on a gated session: activate an approved grant, or continue an active one (T9). */
export interface Activate {
  readonly id: string;
  readonly principalArn: string;
  readonly principalId?: string;
  readonly profile: string;
  readonly roleArn: string;
  /** The grant kinds this caller may use on this profile now (its patterns and the access windows decide). */
  readonly kinds: readonly string[];
  readonly now: Date;
  readonly mustLastUntil: Date;
}

/**
 * The writes on gated sessions that the vending function makes (activate, end early) and the sealing key: what the vend
 * path needs, apart from the access function's transitions (GrantStore), so that the vending bundle stays small.
 */
export class GrantWrites {
  constructor(protected readonly ddb: DynamoDBClient, protected readonly tableName: string, protected readonly controlTableName: string) {}

  /** The key that seals grants: created once, at random, by the first container that needs it (control table). */
  public async grantKey(): Promise<Buffer> {
    return randomKeyItem(this.ddb, this.controlTableName, GRANT_KEY_ITEM_ID, GRANT_KEY_ATTR);
  }

  /**
   * T10, T11: an approved or active gated session revoked (withdrawn, by an administrator, by its owner, eligibility
   * removed, a broken seal). An active one's credentials are then denied by the enforcer; an approved one never had any.
   */
  public async end(e: EndGrant): Promise<WriteResult> {
    const names: Record<string, string> = {
      '#status': Attr.STATUS,
      '#kind': AccessAttr.GRANT_KIND,
      '#by': Attr.REVOKED_BY,
      '#at': Attr.REVOKED_AT,
      '#reason': Attr.REVOKED_REASON,
      '#rkind': AccessAttr.REVOKED_KIND,
      '#updated': Attr.UPDATED_AT,
    };
    const values: Item = {
      ':revoked': S(Status.REVOKED),
      ':by': S(e.by),
      ':now': S(iso(e.now)),
      ':reason': S(e.reason),
      ':rkind': S(e.kind),
      ':approved': S(Status.APPROVED),
      ':active': S(Status.ACTIVE),
    };
    let condition = e.standingToo ? '#status = :approved OR #status = :active' : 'attribute_exists(#kind) AND (#status = :approved OR #status = :active)';
    if (e.standingToo) delete names['#kind'];
    if (e.owner !== undefined) {
      names['#owner'] = Attr.PRINCIPAL_ARN;
      values[':owner'] = S(e.owner);
      condition = `(${condition}) AND #owner = :owner`;
    }
    return this.update(e.id, 'SET #status = :revoked, #by = :by, #at = :now, #reason = :reason, #rkind = :rkind, #updated = :now',
      condition, names, values);
  }

  /** A pending request ended by an administrator's principal block: denied, with the block's reason. */
  public async denyPending(id: string, by: string, reason: string, now: Date): Promise<WriteResult> {
    return this.update(id, 'SET #status = :denied, #by = :by, #at = :now, #comment = :reason, #updated = :now', '#status = :pending', {
      '#status': Attr.STATUS,
      '#by': AccessAttr.DECIDED_BY,
      '#at': AccessAttr.DECIDED_AT,
      '#comment': AccessAttr.DECISION_COMMENT,
      '#updated': Attr.UPDATED_AT,
    }, { ':denied': S(Status.DENIED), ':by': S(by), ':now': S(iso(now)), ':reason': S(reason), ':pending': S(Status.PENDING) });
  }

  /**
   * T9, the vend's single write on a gated session: an approved grant whose start has come is activated, an active one
   * continued; the same principal (and unique id), profile and role; a grant kind this caller may use now; a window that
   * lasts long enough. The window itself was fixed at approval, so activation needs no other read.
   */
  public async activate(c: Activate): Promise<WriteResult> {
    const names: Record<string, string> = {
      '#id': Attr.ID,
      '#status': Attr.STATUS,
      '#owner': Attr.PRINCIPAL_ARN,
      '#pid': Attr.PRINCIPAL_ID,
      '#profile': Attr.PROFILE,
      '#role': Attr.ROLE_ARN,
      '#kind': AccessAttr.GRANT_KIND,
      '#expires': Attr.EXPIRES_AT,
      '#nb': AccessAttr.NOT_BEFORE,
      '#activated': AccessAttr.ACTIVATED_AT,
      '#last': Attr.LAST_ACCESS_AT,
      '#updated': Attr.UPDATED_AT,
      '#count': Attr.REQUEST_COUNT,
      '#cexp': Attr.CREDENTIALS_EXPIRE_AT,
      '#started': Attr.STARTED_AT,
    };
    const values: Item = {
      ':active': S(Status.ACTIVE),
      ':approved': S(Status.APPROVED),
      ':owner': S(c.principalArn),
      ':pid': S(c.principalId ?? ''),
      ':profile': S(c.profile),
      ':role': S(c.roleArn),
      ':until': S(iso(c.mustLastUntil)),
      ':now': S(iso(c.now)),
      ':one': { N: '1' },
    };
    const kinds = c.kinds.map((k, i) => {
      values[`:k${i}`] = S(k);
      return `#kind = :k${i}`;
    });
    if (kinds.length === 0) return { refused: true };
    return this.update(c.id,
      'SET #status = :active, #activated = if_not_exists(#activated, :now), #started = if_not_exists(#started, :now), '
      // Credentials of a grant end with its window at the latest: its end bounds them, whatever duration each vend asks for.
      + '#last = :now, #updated = :now, #cexp = #expires ADD #count :one',
      'attribute_exists(#id) AND #owner = :owner AND (attribute_not_exists(#pid) OR #pid = :pid) AND #profile = :profile '
      + `AND #role = :role AND (${kinds.join(' OR ')}) AND #expires > :until `
      + 'AND (#status = :active OR (#status = :approved AND (attribute_not_exists(#nb) OR #nb <= :now)))', names, values);
  }

  protected async update(id: string, update: string, condition: string, names: Record<string, string>, values: Item): Promise<WriteResult> {
    try {
      const out = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [Attr.ID]: S(id) },
        UpdateExpression: update,
        ConditionExpression: `attribute_exists(#id) AND (${condition})`,
        ExpressionAttributeNames: { ...names, '#id': Attr.ID },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { refused: false, item: out.Attributes ?? {} };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return { refused: true, old: err.Item?.[Attr.ID] ? err.Item : undefined };
      throw new StoreError(err);
    }
  }

  protected async getFrom(tableName: string, id: string): Promise<Item | undefined> {
    try {
      const out = await this.ddb.send(new GetItemCommand({ TableName: tableName, Key: { [Attr.ID]: S(id) }, ConsistentRead: true }));
      return out.Item;
    } catch (err) {
      throw new StoreError(err);
    }
  }
}
