import { createHash, createHmac, timingSafeEqual } from 'crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { AccessAttr, GRANT_MAC_VERSION } from '../../src/shared/access';
import { Attr, type ProfileConfig } from '../../src/shared/contract';

type Item = Record<string, AttributeValue>;

/**
 * A grant's seal: an HMAC, under a key only the vending function reads, of every field that decides what a grant gives
 * and to whom. Whoever may write the session table without that key cannot create a grant, lengthen its window, move it
 * to another principal, profile or role, or add an approver: the vend verifies the seal on the item it just wrote. What
 * it cannot cover is the status (a vend activates a grant in a blind single write), so a writer can set a revoked grant
 * back to active with its old seal; its sealed window still bounds it, and the enforcer's deny stays written for it.
 */
const SEALED: readonly string[] = [
  Attr.ID, Attr.PRINCIPAL_ARN, Attr.PRINCIPAL_ID, AccessAttr.REQUESTER_PERSON, Attr.PROFILE, Attr.ROLE_ARN, AccessAttr.GRANT_KIND,
  AccessAttr.REQUESTED_SECONDS, AccessAttr.NOT_BEFORE, AccessAttr.APPROVED_AT, Attr.EXPIRES_AT, AccessAttr.POLICY_DIGEST,
  Attr.SOURCE_IDENTITY,
];

/** The sealed fields of an item, in a fixed order, with the approvers' keys sorted: the bytes the seal is over. */
function sealedBytes(item: Item): string {
  const fields = SEALED.map((name) => {
    const v = item[name];
    return v?.S ?? v?.N ?? null;
  });
  const approvals = Object.keys(item[AccessAttr.APPROVALS]?.M ?? {}).sort();
  return JSON.stringify([fields, approvals]);
}

/** `k1.<base64url HMAC-SHA256>` of the item's sealed fields. */
export function sealOf(key: Buffer, item: Item): string {
  return `${GRANT_MAC_VERSION}.${createHmac('sha256', key).update(sealedBytes(item), 'utf8').digest('base64url')}`;
}

/** Whether the item's seal is the one the key gives its sealed fields (constant time). */
export function sealHolds(key: Buffer, item: Item): boolean {
  const seal = item[AccessAttr.GRANT_MAC]?.S;
  if (typeof seal !== 'string') return false;
  const expected = Buffer.from(sealOf(key, item));
  const actual = Buffer.from(seal);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** First 16 hex of SHA-256 of a canonical JSON value. */
function digest16(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value), 'utf8').digest('hex').slice(0, 16);
}

/**
 * Digest of what a profile's approval policy decides, its role included: a request filed under another policy (or for
 * another role) is stale when approved, and a grant approved for another role is not vended on this one.
 */
export function policyDigest(profile: ProfileConfig): string {
  return digest16({ roleArn: profile.roleArn, approval: profile.access?.approval ?? null, breakGlass: profile.access?.breakGlass ?? null });
}

/**
 * Digest of a request as an approver is shown it (who, what, how long, why): `expectedDigest` on approval refuses a request
 * other than the one the approver read.
 */
export function requestDigest(item: Item): string {
  const names = [
    Attr.ID, Attr.PRINCIPAL_ARN, Attr.PROFILE, Attr.ROLE_ARN, AccessAttr.REQUESTED_SECONDS, AccessAttr.NOT_BEFORE, AccessAttr.REASON,
    AccessAttr.TICKET, AccessAttr.POLICY_DIGEST,
  ];
  return digest16(names.map((name) => item[name]?.S ?? item[name]?.N ?? null));
}
