import { SCP_MAX_CHARS, SESSION_TAG_KEY, SPOKE_PLACEHOLDER_POLICY } from '../../src/shared/contract';

/** IAM's limit on all inline policies of one role together, in characters (whitespace not counted). */
export const IAM_ROLE_INLINE_POLICIES_LIMIT = 10_240;

/**
 * The most a list policy may take of {@link IAM_ROLE_INLINE_POLICIES_LIMIT}, even on a role with room for more: the rest
 * (2,048 characters) stays free for the role's own inline policies to grow, so that a deployment adding a grant is not
 * refused because of revocations. Past it (or past the role's real budget, {@link roleBudget}), the role gets the fallback.
 */
export const POLICY_BUDGET_CHARS = 8_192;

/**
 * Kept free below IAM's limit when the budget is computed from the role's other inline policies: IAM may count a
 * document slightly differently from how it returns it (encoding, normalization). A list refused anyway falls back.
 */
export const BUDGET_SAFETY_MARGIN_CHARS = 100;

/**
 * How long after a revocation a vend that had already passed its session check may still call STS: the vending
 * function's timeout (15 s, set by the construct; keep them equal). Its credentials' `aws:TokenIssueTime` can fall that late, so the fallback denies
 * credentials issued up to this long after the latest revocation (over-revoking by as much), never fewer.
 */
export const VEND_IN_FLIGHT_MS = 15_000;

/** A policy's size as IAM counts it against {@link IAM_ROLE_INLINE_POLICIES_LIMIT}: whitespace not counted (UTF-8 bytes). */
export function policySize(document: string): number {
  return Buffer.byteLength(document.replace(/\s/g, ''), 'utf8');
}

/** What the revoked-sessions policy may take on a role whose other inline policies take `otherChars`. */
export function roleBudget(otherChars: number): number {
  return Math.min(POLICY_BUDGET_CHARS, IAM_ROLE_INLINE_POLICIES_LIMIT - otherChars - BUDGET_SAFETY_MARGIN_CHARS);
}

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

/**
 * How many 16-character session ids (the TVM's own) fit in a list policy of at most `limit` characters: computed from
 * the document itself, and checked (n fit, n + 1 do not), so that a change of the document's shape cannot go unnoticed.
 */
function maxListedWithin(limit: number, what: string): number {
  const id = (i: number) => i.toString(16).padStart(16, '0');
  const empty = listPolicy([]).length;
  const perId = listPolicy([id(0), id(1)]).length - listPolicy([id(0)]).length;
  // The first id costs one character less (no comma).
  const n = Math.floor((limit - empty + 1) / perId);
  if (listPolicy(Array.from({ length: n }, (_, i) => id(i))).length > limit
    || listPolicy(Array.from({ length: n + 1 }, (_, i) => id(i))).length <= limit) {
    throw new Error(`${what} is miscomputed`);
  }
  return n;
}

/** How many 16-character session ids fit in a list policy within {@link POLICY_BUDGET_CHARS}: the most any role lists. */
export const MAX_LISTED_IDS = maxListedWithin(POLICY_BUDGET_CHARS, 'MAX_LISTED_IDS');

/**
 * How many 16-character session ids the organization SCP lists within {@link SCP_MAX_CHARS} (whitespace counted, hence
 * compact JSON); past it, the SCP is the fallback.
 */
export const MAX_SCP_IDS = maxListedWithin(SCP_MAX_CHARS, 'MAX_SCP_IDS');

export type PolicyKind = 'list' | 'fallback';

export interface DesiredPolicy {
  readonly kind: PolicyKind;
  readonly document: string;
  /** Fallback only: the deny covers credentials issued before this (ISO 8601, whole seconds). */
  readonly issuedBefore?: string;
}

/**
 * The policy for a role's live revoked sessions, or undefined when there are none: the list when it fits `budgetChars`,
 * else the fallback.
 * @param revokedAt the latest revocation time among them (used only by the fallback)
 * @param budgetChars what the policy may take on the role ({@link roleBudget})
 */
export function desiredPolicy(ids: readonly string[], revokedAt: Date, budgetChars = POLICY_BUDGET_CHARS): DesiredPolicy | undefined {
  if (ids.length === 0) return undefined;
  const list = listPolicy(ids);
  if (policySize(list) <= Math.min(budgetChars, POLICY_BUDGET_CHARS)) return { kind: 'list', document: list };
  return fallbackFor(revokedAt);
}

/** The fallback for sessions revoked at the latest at `revokedAt`: it also covers vends in flight ({@link VEND_IN_FLIGHT_MS}). */
export function fallbackFor(revokedAt: Date): DesiredPolicy {
  const issuedBefore = new Date(revokedAt.getTime() + VEND_IN_FLIGHT_MS);
  return { kind: 'fallback', document: fallbackPolicy(issuedBefore), issuedBefore: isoSeconds(issuedBefore) };
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

/**
 * The session ids a list policy denies: those of its {@link LIST_SID} statement only (empty for a fallback, the
 * placeholder or a foreign document), so that no other statement's value is ever taken for a revoked session.
 */
export function listedIds(document: string | undefined): string[] {
  if (!document) return [];
  try {
    const statements = JSON.parse(document).Statement;
    const values = (Array.isArray(statements) ? statements : [statements])
      .filter((s: any) => s?.Sid === LIST_SID)
      .map((s: any) => s?.Condition?.StringEquals?.[`aws:PrincipalTag/${SESSION_TAG_KEY}`])
      .flatMap((v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]));
    return values.filter((v: unknown): v is string => typeof v === 'string');
  } catch {
    return [];
  }
}

/**
 * The spoke template's placeholder (it denies nothing), compact: what the enforcer writes back on a spoke account's role
 * once none of its revoked sessions is live, since that template declares the policy (CloudFormation deletes it).
 */
export function spokePlaceholderPolicy(): string {
  return JSON.stringify(SPOKE_PLACEHOLDER_POLICY);
}

/**
 * The organization SCP's content when no revoked session is live: the same deny-nothing document as the spoke
 * placeholder (no request has the session tag both absent and equal to a value), compact. An SCP cannot be deleted
 * while attached, nor be empty: the deny-nothing document stands for "none".
 */
export function organizationPlaceholderPolicy(): string {
  return JSON.stringify(SPOKE_PLACEHOLDER_POLICY);
}

/** Whether a document is the deny-nothing placeholder (in any whitespace or key order): it counts as no policy. */
export function isPlaceholder(document: string | undefined): boolean {
  return document !== undefined && canonical(document) === canonical(spokePlaceholderPolicy());
}

/**
 * The organization SCP for these live revoked sessions: the list while it fits {@link SCP_MAX_CHARS} (every character
 * counted), else the fallback; the placeholder when there are none.
 * @param revokedAt the latest revocation time among them (used only by the fallback)
 */
export function desiredScp(ids: readonly string[], revokedAt: Date): DesiredPolicy | undefined {
  if (ids.length === 0) return undefined;
  const list = listPolicy(ids);
  if (list.length <= SCP_MAX_CHARS) return { kind: 'list', document: list };
  return fallbackFor(revokedAt);
}

/**
 * Until when (epoch ms) a fallback document denies credentials (its {@link FALLBACK_SID} statement's `aws:TokenIssueTime`),
 * undefined for a list, the placeholder or a foreign document.
 */
export function fallbackIssuedBefore(document: string | undefined): number | undefined {
  if (!document) return undefined;
  try {
    const statements = JSON.parse(document).Statement;
    const fallback = (Array.isArray(statements) ? statements : [statements]).find((s: any) => s?.Sid === FALLBACK_SID);
    const at = Date.parse(fallback?.Condition?.DateLessThan?.['aws:TokenIssueTime']);
    return Number.isNaN(at) ? undefined : at;
  } catch {
    return undefined;
  }
}

/**
 * Which revoked sessions a document already denies: those it lists, or, a fallback, those whose revocation it covers (with
 * the vends in flight then, as {@link fallbackFor} makes it). Unknown revocation time: only a listed id counts.
 */
export function deniedBy(document: string | undefined): (session: { readonly id: string; readonly revokedAt: number }) => boolean {
  const listed = new Set(listedIds(document));
  const issuedBefore = fallbackIssuedBefore(document);
  return (session) => listed.has(session.id)
    || (issuedBefore !== undefined && Number.isFinite(session.revokedAt) && session.revokedAt + VEND_IN_FLIGHT_MS <= issuedBefore);
}
