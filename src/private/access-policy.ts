import { Annotations, Duration, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { renderPrincipalPatterns } from './principals';
import { Justification, TicketRequirement, type Approval, type Approvers, type BreakGlass, type TimeWindow } from '../access';
import type { PrincipalPattern } from '../principal-pattern';
import {
  AccessLimits, CONTROL_CHARACTERS, countPersons, personPatternKind, type AccessPolicyConfig, type AccessWindowConfig,
  type ApprovalConfig, type BreakGlassConfig, type TextRuleConfig, type TicketRuleConfig,
} from '../shared/access';
import { arnParts } from '../shared/principal-patterns';

/** A profile's gates as `addProfile` takes them. */
export interface AccessPolicyInput {
  readonly approval?: Approval;
  readonly breakGlass?: BreakGlass;
  readonly accessWindows?: TimeWindow[];
  readonly issuedCredentialsSurviveRevocation?: boolean;
}

/** What rendering needs of the TVM. */
export interface AccessContext {
  /** The TVM: warnings go on it, and Identity Center accounts are compared with its stack's. */
  readonly scope: Construct;
  readonly allowCallerChosenNames: boolean;
  /** Whether revocation reaches issued credentials on this TVM at all (it deploys the enforcer). */
  readonly revokesIssuedCredentials: boolean;
}

// C0, DEL and C1: a description is shown to requesters as it is.

/**
 * A profile's gates as the configuration stores them (keys in the contract's order), checked against the TVM; undefined
 * for a profile without gates, whose configuration, and so the digest, stays as it was. Throws naming the prop path,
 * the value and the expectation.
 */
export function renderAccessPolicy(prop: string, input: AccessPolicyInput, context: AccessContext): AccessPolicyConfig | undefined {
  const { approval, breakGlass, accessWindows } = input;
  if (approval === undefined && breakGlass === undefined && accessWindows === undefined) return undefined;
  if (approval !== undefined || breakGlass !== undefined) {
    const gate = `${prop}.${approval !== undefined ? 'approval' : 'breakGlass'}`;
    if (input.issuedCredentialsSurviveRevocation === true) {
      throw new Error(`${gate}: the profile sets issuedCredentialsSurviveRevocation, but a gated profile needs revocation to reach `
        + 'issued credentials (withdrawing a grant must cut its credentials): remove issuedCredentialsSurviveRevocation');
    }
    if (!context.revokesIssuedCredentials) {
      throw new Error(`${gate}: this TVM's revocation is RevocationEnforcement.futureVendsOnly(), but a gated profile needs revocation `
        + 'to reach issued credentials (withdrawing a grant must cut its credentials): use RevocationEnforcement.roleDenyPolicy()');
    }
  }
  const approvalConfig = approval === undefined ? undefined : renderApproval(`${prop}.approval`, approval, context);
  const breakGlassConfig = breakGlass === undefined ? undefined
    : renderBreakGlass(`${prop}.breakGlass`, breakGlass, approvalConfig, context);
  if (breakGlass !== undefined && approval === undefined) {
    Annotations.of(context.scope).addWarningV2('cdk-sentinel-tvm:breakGlassOnStandingProfile',
      `${prop}.breakGlass: the profile has no approval, so its allowedPrincipals use it at any time without one; break-glass adds `
      + 'only a reason, notifications and a review. Add approval: Approval.required(...) to make break-glass the exception');
  }
  return {
    ...(approvalConfig ? { approval: approvalConfig } : {}),
    ...(breakGlassConfig ? { breakGlass: breakGlassConfig } : {}),
    ...(accessWindows !== undefined ? { windows: renderWindows(`${prop}.accessWindows`, accessWindows) } : {}),
  };
}

function renderApproval(prop: string, approval: Approval, context: AccessContext): ApprovalConfig {
  const options = approval?._options;
  if (!options || typeof options !== 'object') throw new Error(`${prop}: expected an Approval, e.g. Approval.required({ approvers: ... })`);
  const approvers = persons(`${prop}.approvers`, approversOf(`${prop}.approvers`, options.approvers), 'an approval', context);
  const minApprovals = wholeNumber(`${prop}.minApprovals`, options.minApprovals, 1, 1, AccessLimits.MAX_MIN_APPROVALS);
  const matchable = countPersons(approvers);
  if (matchable !== undefined && minApprovals > matchable) {
    throw new Error(`${prop}.minApprovals is ${minApprovals} but only ${matchable} approver${matchable === 1 ? '' : 's'} can ever match: `
      + 'nobody could approve');
  }
  const maxSeconds = minutes(`${prop}.maxDuration`, options.maxDuration, AccessLimits.DEFAULT_APPROVAL_SECONDS,
    AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_APPROVAL_SECONDS);
  const defaultSeconds = minutes(`${prop}.defaultDuration`, options.defaultDuration,
    Math.min(AccessLimits.DEFAULT_APPROVAL_SECONDS, maxSeconds), AccessLimits.MIN_WINDOW_SECONDS, maxSeconds, 'maxDuration');
  const pendingTimeoutSeconds = minutes(`${prop}.pendingTimeout`, options.pendingTimeout, AccessLimits.DEFAULT_PENDING_TIMEOUT_SECONDS,
    AccessLimits.MIN_PENDING_TIMEOUT_SECONDS, AccessLimits.MAX_PENDING_TIMEOUT_SECONDS);
  const maxScheduleAheadSeconds = minutes(`${prop}.maxScheduleAhead`, options.maxScheduleAhead, 0, 0, AccessLimits.MAX_SCHEDULE_AHEAD_SECONDS);
  const justification = textRule(`${prop}.justification`, options.justification ?? Justification.required());
  const ticket = ticketRule(`${prop}.ticket`, options.ticket);
  const rules = options.autoApprove ?? [];
  if (!Array.isArray(rules)) throw new Error(`${prop}.autoApprove: expected a list of AutoApprove`);
  const autoApprove = rules.map((rule, i) => {
    const at = `${prop}.autoApprove[${i}]`;
    if (!rule || !Array.isArray(rule._principals)) throw new Error(`${at}: expected an AutoApprove, e.g. AutoApprove.forPrincipals([...])`);
    return {
      principals: persons(`${at}.principals`, rule._principals, 'an auto-approval', context),
      maxSeconds: minutes(`${at}.maxDuration`, rule._options.maxDuration, maxSeconds, AccessLimits.MIN_WINDOW_SECONDS, maxSeconds,
        'the approval\'s maxDuration'),
      during: rule._options.during === undefined ? [] : renderWindows(`${at}.during`, rule._options.during),
    };
  });
  const description = options.approversDescription === undefined ? undefined
    : approversDescription(`${prop}.approversDescription`, options.approversDescription);
  return {
    approvers,
    minApprovals,
    maxSeconds,
    defaultSeconds,
    pendingTimeoutSeconds,
    maxScheduleAheadSeconds,
    justification,
    ticket,
    autoApprove,
    ...(description !== undefined ? { approversDescription: description } : {}),
  };
}

function renderBreakGlass(prop: string, breakGlass: BreakGlass, approval: ApprovalConfig | undefined, context: AccessContext): BreakGlassConfig {
  const options = breakGlass?._options;
  if (!options || typeof options !== 'object') throw new Error(`${prop}: expected a BreakGlass, e.g. BreakGlass.allow({ principals: [...] })`);
  const principals = persons(`${prop}.principals`, options.principals, 'a break-glass', context);
  const maxSeconds = minutes(`${prop}.maxDuration`, options.maxDuration, AccessLimits.DEFAULT_BREAK_GLASS_SECONDS,
    AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_BREAK_GLASS_SECONDS);
  const reason = textRule(`${prop}.reason`, options.reason ?? Justification.required({ minLength: AccessLimits.DEFAULT_BREAK_GLASS_MIN_REASON }));
  // The reason is what the review and the notifications rest on.
  if (!reason.required) {
    throw new Error(`${prop}.reason is Justification.optional(): break-glass always needs a reason, the review rests on it; `
      + 'use Justification.required()');
  }
  const ticket = ticketRule(`${prop}.ticket`, options.ticket);
  const cooldownSeconds = minutes(`${prop}.cooldown`, options.cooldown, 0, 0, AccessLimits.MAX_COOLDOWN_SECONDS);
  const requireReviewBeforeNext = flag(`${prop}.requireReviewBeforeNext`, options.requireReviewBeforeNext, true);
  const reviewWithinSeconds = minutes(`${prop}.reviewWithin`, options.reviewWithin, AccessLimits.DEFAULT_REVIEW_WITHIN_SECONDS,
    AccessLimits.MIN_REVIEW_WITHIN_SECONDS, AccessLimits.MAX_REVIEW_WITHIN_SECONDS);
  let reviewers: string[];
  if (options.reviewers !== undefined) {
    reviewers = persons(`${prop}.reviewers`, approversOf(`${prop}.reviewers`, options.reviewers), 'a review', context);
  } else if (approval !== undefined) {
    reviewers = [...approval.approvers];
  } else {
    throw new Error(`${prop}.reviewers is not set and the profile has no approval, whose approvers would review: nobody could review `
      + 'its break-glass sessions; set reviewers: Approvers.principals([...])');
  }
  return {
    principals,
    maxSeconds,
    reason,
    ticket,
    cooldownSeconds,
    requireReviewBeforeNext,
    reviewWithinSeconds,
    reviewers,
    ignoreAccessWindows: flag(`${prop}.ignoreAccessWindows`, options.ignoreAccessWindows, false),
  };
}

function approversOf(prop: string, approvers: Approvers | undefined): PrincipalPattern[] | undefined {
  if (approvers === undefined) return undefined;
  if (!approvers || !Array.isArray(approvers._patterns)) throw new Error(`${prop}: expected Approvers, e.g. Approvers.principals([...])`);
  return approvers._patterns;
}

/**
 * Principal patterns that must name persons: the TVM's pattern rules, and each able to match only identities whose name
 * AWS chose (an IAM user; an Identity Center permission set's role, proven in the TVM's account).
 */
function persons(prop: string, patterns: PrincipalPattern[] | undefined, act: string, context: AccessContext): string[] {
  const rendered = renderPrincipalPatterns(prop, patterns, false, { allowCallerChosenNames: context.allowCallerChosenNames });
  patterns!.forEach((principal, i) => {
    const problem = personProblem(principal, act, Stack.of(context.scope));
    if (problem) throw new Error(`${prop}[${i}] "${principal.pattern}": ${problem}`);
  });
  return rendered;
}

const USE_PERSONS = 'use an IAM user (PrincipalPattern.iamUser) or an Identity Center permission set (PrincipalPattern.identityCenterPermissionSet)';

function personProblem(principal: PrincipalPattern, act: string, stack: Stack): string | undefined {
  const factory = principal._personFactory;
  // The factories checked their literal parts; their deploy-time values are names, never the kind of principal.
  if (factory === 'iamUser') return undefined;
  const parts = arnParts(principal.pattern);
  if (factory === 'identityCenterPermissionSet') return identityCenterAccountProblem(parts![4], stack);
  if (Token.isUnresolved(principal.pattern) || !parts) {
    return `it is known only at deploy time, so synth cannot tell that it names a person, as ${act} must be tied to one: ${USE_PERSONS}`;
  }
  const { kind, account } = personPatternKind(principal.pattern);
  if (kind === 'wildAccount') {
    const [, partition, service, , acct] = parts;
    const wild = Object.entries({ partition, service, account: acct }).filter(([, value]) => /[*?]/.test(value));
    return `its ${wild.map(([part, value]) => `${part} "${value}"`).join(' and ')} ${wild.length > 1 ? 'are' : 'is'} not literal, so it `
      + `cannot name a person of a known account, as ${act} must be tied to one: ${USE_PERSONS}`;
  }
  if (kind === 'iamUser') return undefined;
  if (kind === 'identityCenter') return identityCenterAccountProblem(account!, stack);
  if (kind === 'roleSession') {
    return `session names of this role are chosen by the caller, so ${act} could not be tied to a person; ${USE_PERSONS}`;
  }
  return `it names no IAM user or Identity Center user, the only principals whose names AWS, not the caller, chooses, so ${act} `
    + `could not be tied to a person; ${USE_PERSONS}`;
}

/** The TVM proves an Identity Center role with iam:GetRole, which reads its own account only. */
function identityCenterAccountProblem(account: string, stack: Stack): string | undefined {
  const own = stack.account;
  let literal = account;
  if (Token.isUnresolved(account)) {
    const resolved: unknown = stack.resolve(account);
    const ref = resolved && typeof resolved === 'object' ? resolved as Record<string, unknown> : undefined;
    if (ref && Object.keys(ref).length === 1 && ref.Ref === 'AWS::AccountId') return undefined;
    if (typeof resolved !== 'string') {
      return 'it is an Identity Center role whose account is a deploy-time value synth cannot compare with this TVM\'s: the TVM proves '
        + 'an Identity Center role with iam:GetRole, in its own account only; name the TVM\'s account (e.g. Stack.of(tvm).account)';
    }
    literal = resolved;
  }
  if (Token.isUnresolved(own)) {
    return `it is an Identity Center role of account ${literal}, and this TVM's stack has no account (environment-agnostic): synth `
      + 'cannot check that it is the TVM\'s account, the only one in which the TVM can prove an Identity Center role (iam:GetRole). '
      + 'Give the TVM\'s stack an env, or name the account as Stack.of(tvm).account';
  }
  if (literal !== own) {
    return `it is an Identity Center role of account ${literal}, not this TVM's (${own}): the TVM proves an Identity Center role with `
      + 'iam:GetRole, in its own account only; use the permission set assigned in the TVM\'s account, or an IAM user';
  }
  return undefined;
}

function renderWindows(prop: string, windows: TimeWindow[]): AccessWindowConfig[] {
  if (!Array.isArray(windows) || windows.length === 0) {
    throw new Error(`${prop}: expected at least one TimeWindow, got none; leave it out for no restriction in time`);
  }
  return windows.map((window, i) => {
    if (!window || typeof window._render !== 'function') throw new Error(`${prop}[${i}]: expected a TimeWindow, e.g. TimeWindow.weekly({...})`);
    return window._render();
  });
}

function textRule(prop: string, justification: Justification): TextRuleConfig {
  if (!justification || typeof justification._render !== 'function') {
    throw new Error(`${prop}: expected a Justification, e.g. Justification.required()`);
  }
  return justification._render();
}

function ticketRule(prop: string, ticket: TicketRequirement | undefined): TicketRuleConfig {
  const rule = ticket ?? TicketRequirement.none();
  if (!rule || typeof rule._render !== 'function') throw new Error(`${prop}: expected a TicketRequirement, e.g. TicketRequirement.none()`);
  return rule._render();
}

function approversDescription(prop: string, value: string): string {
  if (typeof value !== 'string' || Token.isUnresolved(value)) throw new Error(`${prop}: expected a literal string`);
  if (value.length === 0 || value.length > AccessLimits.MAX_DESCRIPTION || CONTROL_CHARACTERS.test(value)) {
    throw new Error(`${prop} "${value.slice(0, 40)}" (${value.length} characters): expected 1 to ${AccessLimits.MAX_DESCRIPTION} characters `
      + 'without control characters');
  }
  return value;
}

function flag(prop: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new Error(`${prop} is ${String(value)}: expected true or false`);
  return value;
}

function wholeNumber(prop: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Token.isUnresolved(value) || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${prop} is ${String(value)}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

const human = (seconds: number) => (seconds === 0 ? '0 minutes' : Duration.seconds(seconds).toHumanString());

/** A literal Duration of whole minutes in [min, max], in seconds; `maxName` names a max that is another prop. */
function minutes(prop: string, value: Duration | undefined, fallback: number, min: number, max: number, maxName?: string): number {
  if (value === undefined) return fallback;
  if (!value || typeof value.toSeconds !== 'function') throw new Error(`${prop}: expected a Duration, e.g. Duration.hours(1)`);
  if (value.isUnresolved()) throw new Error(`${prop} must be a literal Duration, got a token`);
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds % 60 !== 0 || seconds < min || seconds > max) {
    throw new Error(`${prop} is ${value.toHumanString()}: expected whole minutes from ${human(min)} to `
      + `${maxName ? `${maxName} (${human(max)})` : human(max)}`);
  }
  return seconds;
}
