import type { AccessPolicyConfig, TextRuleConfig, TicketRuleConfig } from '../../src/shared/access';
import { AccessLimits } from '../../src/shared/access';
import type { ProfileConfig } from '../../src/shared/contract';
import { ApiError } from '../errors';
import type { Caller } from '../identity';
import { PrincipalMatcher } from '../match';
import type { Profile } from '../profiles';

/** A profile's access policy with its principal patterns compiled, once per profile and container. */
export interface CompiledAccess {
  readonly policy: AccessPolicyConfig;
  readonly approvers: PrincipalMatcher;
  readonly breakGlass: PrincipalMatcher;
  readonly reviewers: PrincipalMatcher;
  readonly autoApprove: readonly PrincipalMatcher[];
}

const compiled = new WeakMap<Profile, CompiledAccess>();

/** The profile's gates, compiled; undefined for a profile without any. */
export function accessOf(profile: Profile): CompiledAccess | undefined {
  const policy = profile.access;
  if (!policy) return undefined;
  let c = compiled.get(profile);
  if (!c) {
    c = {
      policy,
      approvers: new PrincipalMatcher(policy.approval?.approvers ?? []),
      breakGlass: new PrincipalMatcher(policy.breakGlass?.principals ?? []),
      reviewers: new PrincipalMatcher(policy.breakGlass?.reviewers ?? []),
      autoApprove: (policy.approval?.autoApprove ?? []).map((rule) => new PrincipalMatcher(rule.principals)),
    };
    compiled.set(profile, c);
  }
  return c;
}

/** Whether every use of the profile needs a grant (approval or break-glass): a gated profile has no standing access. */
export function isGated(profile: ProfileConfig): boolean {
  return profile.access?.approval !== undefined || profile.access?.breakGlass !== undefined;
}

export const matches = (m: PrincipalMatcher, caller: Caller) => m.matchesAny(caller.matchArns);

// C0 and C1 control characters, and the bidirectional overrides that make text read otherwise than it is.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A free text of the request (reason, comment, note): its rule's length, no control characters. */
export function text(value: unknown, rule: TextRuleConfig, field: string, missingCode: 'REASON_REQUIRED' | 'INVALID_REQUEST'): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (rule.required) throw new ApiError(missingCode, `A ${field} is required: at least ${rule.minLength} characters.`);
    return undefined;
  }
  if (typeof value !== 'string') throw new ApiError('INVALID_REQUEST', `The ${field} must be a string.`);
  const trimmed = value.trim();
  if (trimmed.length < rule.minLength || trimmed.length > rule.maxLength) {
    throw new ApiError(missingCode === 'REASON_REQUIRED' ? 'REASON_REQUIRED' : 'INVALID_REQUEST',
      `The ${field} must be ${rule.minLength} to ${rule.maxLength} characters.`);
  }
  if (CONTROL.test(trimmed)) throw new ApiError('INVALID_REQUEST', `The ${field} must not contain control characters.`);
  return trimmed;
}

/** A ticket id under the profile's rule. */
export function ticket(value: unknown, rule: TicketRuleConfig): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (rule.required) throw new ApiError('TICKET_REQUIRED', 'A ticket id is required for this profile.');
    return undefined;
  }
  if (rule.pattern === undefined) throw new ApiError('INVALID_TICKET', 'This profile takes no ticket id.');
  if (typeof value !== 'string' || value.length > AccessLimits.MAX_TICKET || !new RegExp(rule.pattern).test(value)) {
    throw new ApiError('INVALID_TICKET', `The ticket id must match ${rule.pattern} (at most ${AccessLimits.MAX_TICKET} characters).`);
  }
  return value;
}

/** A comment or note of an approver or reviewer: optional unless `required`, at most 256 characters. */
export function comment(value: unknown, field: string, required: boolean): string | undefined {
  return text(value, { required, minLength: required ? 1 : 0, maxLength: AccessLimits.MAX_COMMENT }, field, 'INVALID_REQUEST');
}

/** A JSON object body with only the allowed keys. */
export function body(raw: string | undefined, allowed: readonly string[]): Record<string, unknown> {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ApiError('INVALID_REQUEST', 'The body must be a JSON object.');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiError('INVALID_REQUEST', 'The body must be a JSON object.');
  const unknown = Object.keys(parsed).find((k) => !allowed.includes(k));
  if (unknown !== undefined) {
    throw new ApiError('INVALID_REQUEST', `Unknown field "${unknown.slice(0, 40)}": expected ${allowed.join(', ') || 'none'}.`);
  }
  return parsed as Record<string, unknown>;
}

/** OUTSIDE_ACCESS_WINDOW, with Retry-After to the next opening. */
export function outsideWindow(nextOpensAt: Date | undefined, now: Date): ApiError {
  const headers: Record<string, string> = {};
  if (nextOpensAt) headers['retry-after'] = String(Math.max(1, Math.ceil((nextOpensAt.getTime() - now.getTime()) / 1000)));
  return new ApiError('OUTSIDE_ACCESS_WINDOW',
    `This profile may not be used now${nextOpensAt ? `: its access window opens next at ${nextOpensAt.toISOString()}` : ''}.`, headers);
}
