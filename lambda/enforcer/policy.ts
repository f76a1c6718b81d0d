import { SESSION_TAG_KEY } from '../../src/shared/contract';

/** IAM's limit on all inline policies of one role together, in characters (whitespace not counted). */
export const IAM_ROLE_INLINE_POLICIES_LIMIT = 10_240;

/**
 * What the revoked-sessions policy may use of {@link IAM_ROLE_INLINE_POLICIES_LIMIT}: the rest (2,048 characters)
 * stays for the role's own inline policies. Past it, the role gets the fallback policy.
 */
export const POLICY_BUDGET_CHARS = 8_192;

/** Sid of the statement denying listed session ids. */
export const LIST_SID = 'SentinelRevokedSessions';
/** Sid of the fallback statement denying every credential issued before the latest revocation. */
export const FALLBACK_SID = 'SentinelRevokedSessionsIssuedBefore';

/**
 * Session ids that may go into the policy: the TVM's own ids are 16 lowercase hex digits; other tools' ids are
 * accepted when made only of characters that are inert in a policy condition value (no `$` policy variable,
 * no `*`/`?`, no quote or whitespace) and no longer than a session tag value the trust policy could let through.
 */
export const TVM_SESSION_ID = /^[0-9a-f]{16}$/;
export const SAFE_SESSION_ID = /^[A-Za-z0-9_.:/=+@-]{1,64}$/;

export function isSafeSessionId(id: string): boolean {
  return TVM_SESSION_ID.test(id) || SAFE_SESSION_ID.test(id);
}

/** The policy denying everything to the sessions tagged with these ids: compact JSON, ids sorted and distinct. */
export function listPolicy(ids: readonly string[]): string {
  const sorted = [...new Set(ids)].sort();
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{
      Sid: LIST_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringEquals: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: sorted } },
    }],
  });
}

/**
 * The fallback: deny every credential of the role issued before `issuedBefore` (rounded up to the whole second,
 * so that a revocation within a second is covered). Over-revokes, never under-revokes.
 */
export function fallbackPolicy(issuedBefore: Date): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{
      Sid: FALLBACK_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      // Only credentials that carry a session tag, i.e. the TVM's: other principals trusted by the role are left alone.
      Condition: {
        DateLessThan: { 'aws:TokenIssueTime': isoSeconds(issuedBefore) },
        Null: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: 'false' },
      },
    }],
  });
}

/** `2026-01-25T14:30:01Z`: the time rounded up to the next whole second. */
export function isoSeconds(d: Date): string {
  const ms = Math.ceil(d.getTime() / 1000) * 1000;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** How many 16-character session ids fit in a list policy within {@link POLICY_BUDGET_CHARS}. */
export const MAX_LISTED_IDS = ((): number => {
  const id = (i: number) => i.toString(16).padStart(16, '0');
  const empty = listPolicy([]).length;
  const perId = listPolicy([id(0), id(1)]).length - listPolicy([id(0)]).length;
  // The first id costs one character less (no comma).
  const n = Math.floor((POLICY_BUDGET_CHARS - empty + 1) / perId);
  if (listPolicy(Array.from({ length: n }, (_, i) => id(i))).length > POLICY_BUDGET_CHARS
    || listPolicy(Array.from({ length: n + 1 }, (_, i) => id(i))).length <= POLICY_BUDGET_CHARS) {
    throw new Error('MAX_LISTED_IDS is miscomputed');
  }
  return n;
})();

export type PolicyKind = 'list' | 'fallback';

export interface DesiredPolicy {
  readonly kind: PolicyKind;
  readonly document: string;
  /** Fallback only: the deny covers credentials issued before this (ISO 8601, whole seconds). */
  readonly issuedBefore?: string;
}

/**
 * The policy for a role's live revoked sessions, or undefined when there are none.
 * @param revokedAt the latest revocation time among them (used only by the fallback)
 */
export function desiredPolicy(ids: readonly string[], revokedAt: Date): DesiredPolicy | undefined {
  if (ids.length === 0) return undefined;
  const list = listPolicy(ids);
  if (list.length <= POLICY_BUDGET_CHARS) return { kind: 'list', document: list };
  return { kind: 'fallback', document: fallbackPolicy(revokedAt), issuedBefore: isoSeconds(revokedAt) };
}

/** A document in a form that ignores key order and whitespace, to compare what IAM holds with what is wanted. */
export function canonical(document: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(document)));
  } catch {
    return document;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** The session ids a list policy denies (empty for a fallback or foreign document). */
export function listedIds(document: string | undefined): string[] {
  if (!document) return [];
  try {
    const statements = JSON.parse(document).Statement;
    const values = (Array.isArray(statements) ? statements : [statements])
      .map((s: any) => s?.Condition?.StringEquals?.[`aws:PrincipalTag/${SESSION_TAG_KEY}`])
      .flatMap((v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]));
    return values.filter((v: unknown): v is string => typeof v === 'string');
  } catch {
    return [];
  }
}
