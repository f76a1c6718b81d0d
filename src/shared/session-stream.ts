/**
 * Which changes of the session table's stream reach the events function: the filter criteria of its event source mapping
 * (Lambda's filter-pattern syntax), written once for the construct (which synthesizes them) and for local mode and the
 * tests (which evaluate them with {@link matchesStreamFilters}). Lambda takes 5 filters per event source mapping unless a
 * quota increase says otherwise: these are 5. A filter cannot compare two attributes, so each names the statuses before
 * and after it lets through. A continued vend (active → active, with nothing else changing that a filter names) matches
 * none: it never invokes the function.
 */
import { AccessAttr, REVIEW_PENDING } from './access';
import { Attr, Status } from './contract';

const status = (...values: string[]) => ({ [Attr.STATUS]: { S: values } });

export const SESSION_STREAM_FILTERS: readonly Record<string, unknown>[] = [
  // A session started, or was recorded as revoked right away (a tombstone of an unrecorded fail-open vend); a request was
  // filed (pending), or a grant was given at once (auto-approved, break-glass: approved).
  { eventName: ['INSERT'], dynamodb: { NewImage: status(Status.ACTIVE, Status.REVOKED, Status.PENDING, Status.APPROVED) } },
  // A session was revoked: an active one, or an ended one whose credentials may still live.
  { eventName: ['MODIFY'], dynamodb: { OldImage: { [Attr.STATUS]: { S: [{ 'anything-but': [Status.REVOKED] }] } }, NewImage: status(Status.REVOKED) } },
  // An active session ended.
  { eventName: ['MODIFY'], dynamodb: { OldImage: status(Status.ACTIVE), NewImage: status(Status.EXPIRED) } },
  // A request or a grant never used changed: one more approval (pending → pending), approved, denied, cancelled, expired,
  // activated by its first vend, withdrawn. Only gated items are ever pending or approved.
  { eventName: ['MODIFY'], dynamodb: { OldImage: status(Status.PENDING, Status.APPROVED) } },
  // A break-glass session was reviewed, whatever its status: its review state goes, its reviewer comes. A continued vend of
  // it before the review keeps the review state and has no reviewer; after it, it has no review state.
  {
    eventName: ['MODIFY'],
    dynamodb: {
      OldImage: { [AccessAttr.REVIEW_STATE]: { S: [REVIEW_PENDING] } },
      NewImage: { [AccessAttr.REVIEWED_AT]: { S: [{ exists: true }] } },
    },
  },
];

/**
 * Whether a stream record (as Lambda delivers it: `eventName`, `dynamodb.OldImage`/`NewImage`) passes any of the filter
 * patterns. Supports what these patterns use (lists of exact values, `anything-but`, `exists`); anything else throws
 * rather than guessing.
 */
export function matchesStreamFilters(patterns: readonly Record<string, unknown>[], record: unknown): boolean {
  return patterns.some((p) => matches(p, record));
}

function matches(pattern: Record<string, unknown>, value: any): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const v = value?.[key];
    if (Array.isArray(rule)) return rule.some((r) => matchesValue(r, v));
    if (rule && typeof rule === 'object') return v !== null && typeof v === 'object' && matches(rule as Record<string, unknown>, v);
    throw new Error(`unsupported filter rule ${JSON.stringify(rule)} for ${key}`);
  });
}

function matchesValue(rule: unknown, v: unknown): boolean {
  if (rule === null || typeof rule !== 'object') return v === rule;
  const [op, arg] = Object.entries(rule)[0];
  if (op === 'anything-but') return v !== undefined && !(Array.isArray(arg) ? arg : [arg]).includes(v);
  if (op === 'exists') return (v !== undefined) === arg;
  throw new Error(`unsupported filter operator ${op}`);
}
