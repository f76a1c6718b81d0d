import { createHash, createHmac, timingSafeEqual } from 'crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { AccessAttr, GRANT_MAC_VERSION } from '../../src/shared/access';
import { Attr, type ProfileConfig } from '../../src/shared/contract';

type Item = Record<string, AttributeValue>;

/**
 * A grant's seal: an HMAC, under a key only the vending function reads, of every field that decides what a grant gives
 * and to whom. Whoever may write the session table without that key cannot create a grant, lengthen its window, move it
 * to another principal, profile or role, or add an approver: the vend verifies the seal on the item it just wrote. What
 * it cannot cover is the status and what the vend writes at each use (a vend activates a grant in a blind single write),
 * so a writer can set a revoked grant back to active with its old seal (its sealed window still bounds it), or remove what
 * tells the enforcer it had credentials: undoing a revocation stays a table writer's power, as for any session.
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

/**
 * A request's seal, set when it is filed: who asks (ARN, unique id, person), for what (profile, role, kind, window asked
 * for, scheduled start), why (reason, ticket), under which policy (digest, quorum) and until when. Approval counts nothing
 * for a request whose seal does not hold: a table writer cannot lower its quorum, lengthen it, or hand it to someone else
 * before the approvers see it.
 */
const REQUEST_SEALED: readonly string[] = [
  Attr.ID, Attr.PRINCIPAL_ARN, Attr.PRINCIPAL_ID, AccessAttr.REQUESTER_PERSON, Attr.PROFILE, Attr.ROLE_ARN, AccessAttr.GRANT_KIND,
  AccessAttr.REQUESTED_SECONDS, AccessAttr.NOT_BEFORE, AccessAttr.REASON, AccessAttr.TICKET, AccessAttr.APPROVALS_REQUIRED,
  AccessAttr.POLICY_DIGEST, AccessAttr.REQUEST_EXPIRES_AT, Attr.SOURCE_IDENTITY,
];

const mac = (key: Buffer, bytes: string) => `${GRANT_MAC_VERSION}.${createHmac('sha256', key).update(bytes, 'utf8').digest('base64url')}`;
const same = (a: string | undefined, b: string) => a !== undefined && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The request's seal (attribute `request_mac`). */
export function requestSealOf(key: Buffer, item: Item): string {
  return mac(key, JSON.stringify(['request', REQUEST_SEALED.map((name) => item[name]?.S ?? item[name]?.N ?? null)]));
}

/** Whether the request's seal holds. */
export function requestSealHolds(key: Buffer, item: Item): boolean {
  return same(item[AccessAttr.REQUEST_MAC]?.S, requestSealOf(key, item));
}

/** One approval's seal: this request, this person, this approver, at this time. */
export function approvalSealOf(key: Buffer, requestId: string, personHash: string, entry: Item): string {
  return mac(key, JSON.stringify(['approval', requestId, personHash, entry.person?.S ?? null, entry.arn?.S ?? null, entry.at?.S ?? null]));
}

/** Whether every approval recorded on the item is one the TVM wrote, and the count says how many there are. */
export function approvalsHold(key: Buffer, item: Item): boolean {
  const entries = Object.entries(item[AccessAttr.APPROVALS]?.M ?? {});
  if (Number(item[AccessAttr.APPROVAL_COUNT]?.N ?? '-1') !== entries.length) return false;
  return entries.every(([hash, value]) => value.M !== undefined
    && same(value.M.mac?.S, approvalSealOf(key, item[Attr.ID]?.S ?? '', hash, value.M)));
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
