import { Duration, Token } from 'aws-cdk-lib';
import type { PrincipalPattern } from './principal-pattern';
import {
  AccessLimits, accessWindowProblem, ticketPatternProblem, type AccessWindowConfig, type TextRuleConfig, type TicketRuleConfig,
} from './shared/access';

/**
 * A day of the week, for access windows.
 *
 * @experimental
 */
export enum Weekday {
  /** @experimental */
  MONDAY = 'MONDAY',
  /** @experimental */
  TUESDAY = 'TUESDAY',
  /** @experimental */
  WEDNESDAY = 'WEDNESDAY',
  /** @experimental */
  THURSDAY = 'THURSDAY',
  /** @experimental */
  FRIDAY = 'FRIDAY',
  /** @experimental */
  SATURDAY = 'SATURDAY',
  /** @experimental */
  SUNDAY = 'SUNDAY',
}

/** ISO weekday numbers (1 = Monday … 7 = Sunday), as the configuration stores them. */
const ISO_WEEKDAY: Record<string, number> = {
  MONDAY: 1, TUESDAY: 2, WEDNESDAY: 3, THURSDAY: 4, FRIDAY: 5, SATURDAY: 6, SUNDAY: 7,
};

/**
 * Options of `TimeWindow.weekly`.
 *
 * @experimental
 */
export interface WeeklyWindowOptions {
  /**
   * The IANA time zone the times are read in, e.g. `Europe/Berlin` (daylight saving time included).
   *
   * @experimental
   */
  readonly timeZone: string;

  /**
   * The days the window opens on; a window crossing midnight belongs to the day it opens on.
   *
   * @experimental
   */
  readonly days: Weekday[];

  /**
   * When the window opens, `HH:MM` (00:00 to 23:59) on the zone's wall clock.
   *
   * @experimental
   */
  readonly start: string;

  /**
   * When the window closes, `HH:MM` (00:00 to 23:59), not `start`; earlier than `start` means the next day.
   *
   * @experimental
   */
  readonly end: string;
}

/** Throws unless a value is a literal string: a window, a rule or a pattern is checked at synth. */
function literalString(where: string, value: unknown): string {
  if (typeof value !== 'string') throw new Error(`${where}: expected a string, got ${value === null ? 'null' : typeof value}`);
  if (Token.isUnresolved(value)) throw new Error(`${where} must be a literal string, got a token: it is checked at synth`);
  return value;
}

/**
 * A time during which something is allowed: a profile's access windows, an auto-approve rule's hours.
 *
 * @experimental
 */
export class TimeWindow {
  /**
   * A window that opens every week on `days` at `start` and closes at `end`, in `timeZone`.
   *
   * It opens the first moment the zone's wall clock reads `start` on one of `days`, and closes the first moment after
   * that the wall clock reads `end` (a time a daylight-saving jump skips is reached at the jump).
   *
   * @experimental
   */
  public static weekly(options: WeeklyWindowOptions): TimeWindow {
    const factory = 'TimeWindow.weekly';
    if (!options || typeof options !== 'object') throw new Error(`${factory}: expected options with timeZone, days, start and end`);
    const timeZone = literalString(`${factory}: timeZone`, options.timeZone);
    if (!Array.isArray(options.days)) throw new Error(`${factory}: days: expected a list of Weekday values`);
    const days = options.days.map((day, i) => {
      const iso = typeof day === 'string' ? ISO_WEEKDAY[day] : undefined;
      if (iso === undefined) throw new Error(`${factory}: days[${i}] "${String(day)}": expected a Weekday (Weekday.MONDAY … Weekday.SUNDAY)`);
      return iso;
    });
    const window: AccessWindowConfig = {
      timeZone,
      days,
      start: literalString(`${factory}: start`, options.start),
      end: literalString(`${factory}: end`, options.end),
    };
    const problem = accessWindowProblem(window);
    if (problem) throw new Error(`${factory}: ${problem}`);
    return new TimeWindow({ ...window, days: [...days].sort((a, b) => a - b) });
  }

  private constructor(private readonly config: AccessWindowConfig) {}

  /**
   * The window as the configuration stores it (a copy).
   * @internal
   */
  public _render(): AccessWindowConfig {
    return { timeZone: this.config.timeZone, days: [...this.config.days], start: this.config.start, end: this.config.end };
  }
}

/**
 * Options of a `Justification`.
 *
 * @experimental
 */
export interface JustificationOptions {
  /**
   * The fewest characters a justification may have, at least 1.
   *
   * @default - 10, or maxLength when smaller
   * @experimental
   */
  readonly minLength?: number;

  /**
   * The most characters a justification may have, at most 512.
   *
   * @default 512
   * @experimental
   */
  readonly maxLength?: number;
}

/** A whole number in [min, max], literal. */
function wholeNumber(where: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Token.isUnresolved(value) || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${where} is ${String(value)}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

/**
 * Whether a free-text reason (an access request's justification, a break-glass reason) must be given, and its length.
 *
 * @experimental
 */
export class Justification {
  /**
   * A reason must be given, of `minLength` to `maxLength` characters.
   *
   * @experimental
   */
  public static required(options?: JustificationOptions): Justification {
    return new Justification(Justification.build('Justification.required', true, options));
  }

  /**
   * A reason may be given; when it is, it has `minLength` to `maxLength` characters.
   *
   * @experimental
   */
  public static optional(options?: JustificationOptions): Justification {
    return new Justification(Justification.build('Justification.optional', false, options));
  }

  private static build(factory: string, required: boolean, options: JustificationOptions | undefined): TextRuleConfig {
    const maxLength = wholeNumber(`${factory}: maxLength`, options?.maxLength, AccessLimits.MAX_REASON, 1, AccessLimits.MAX_REASON);
    const minLength = wholeNumber(`${factory}: minLength`, options?.minLength, Math.min(10, maxLength), 1, maxLength);
    return { required, minLength, maxLength };
  }

  private constructor(private readonly rule: TextRuleConfig) {}

  /**
   * The rule as the configuration stores it.
   * @internal
   */
  public _render(): TextRuleConfig {
    return { required: this.rule.required, minLength: this.rule.minLength, maxLength: this.rule.maxLength };
  }
}

/**
 * Whether a ticket id (a change or incident number) must be given, and its format.
 *
 * @experimental
 */
export class TicketRequirement {
  /**
   * Tickets are not taken.
   *
   * @experimental
   */
  public static none(): TicketRequirement {
    return new TicketRequirement({ required: false });
  }

  /**
   * A ticket id may be given; when it is, it matches `pattern`.
   *
   * @param pattern a regular expression anchored with `^` and `$`, at most 200 characters, e.g. `^(INC|CHG)-[0-9]{3,8}$`
   * @experimental
   */
  public static optional(pattern: string): TicketRequirement {
    return new TicketRequirement({ required: false, pattern: TicketRequirement.checked('TicketRequirement.optional', pattern) });
  }

  /**
   * A ticket id must be given, and match `pattern`.
   *
   * @param pattern a regular expression anchored with `^` and `$`, at most 200 characters, e.g. `^(INC|CHG)-[0-9]{3,8}$`
   * @experimental
   */
  public static matching(pattern: string): TicketRequirement {
    return new TicketRequirement({ required: true, pattern: TicketRequirement.checked('TicketRequirement.matching', pattern) });
  }

  private static checked(factory: string, pattern: string): string {
    const value = literalString(`${factory}: pattern`, pattern);
    const problem = ticketPatternProblem(value);
    if (problem) throw new Error(`${factory}: pattern "${value.slice(0, 60)}" ${problem}`);
    return value;
  }

  private constructor(private readonly rule: TicketRuleConfig) {}

  /**
   * The rule as the configuration stores it.
   * @internal
   */
  public _render(): TicketRuleConfig {
    return { required: this.rule.required, ...(this.rule.pattern !== undefined ? { pattern: this.rule.pattern } : {}) };
  }
}

/**
 * Who may approve access requests, or review break-glass sessions.
 *
 * @experimental
 */
export class Approvers {
  /**
   * The persons these patterns match: IAM users (`PrincipalPattern.iamUser`) or Identity Center users of a permission set
   * (`PrincipalPattern.identityCenterPermissionSet`, in the TVM's account), whose names AWS, not the caller, chooses.
   * Nobody approves their own request, whatever the patterns.
   *
   * @experimental
   */
  public static principals(patterns: PrincipalPattern[]): Approvers {
    return new Approvers(Array.isArray(patterns) ? [...patterns] : patterns);
  }

  /** @internal */
  public readonly _patterns: PrincipalPattern[];

  private constructor(patterns: PrincipalPattern[]) {
    this._patterns = patterns;
  }
}

/**
 * Options of `AutoApprove.forPrincipals`.
 *
 * @experimental
 */
export interface AutoApproveOptions {
  /**
   * The longest window a request may ask for and still be approved by this rule; at most the approval's `maxDuration`.
   *
   * @default - the approval's maxDuration
   * @experimental
   */
  readonly maxDuration?: Duration;

  /**
   * The rule approves only requests made while one of these windows is open.
   *
   * @default - at any time
   * @experimental
   */
  readonly during?: TimeWindow[];
}

/**
 * A rule by which the approval policy approves a request itself: the only form of self-approval, recorded and announced
 * as an approval.
 *
 * @experimental
 */
export class AutoApprove {
  /**
   * Requests of these principals are approved at once when all the rule's conditions hold (justification and ticket
   * are checked as for any request).
   *
   * @experimental
   */
  public static forPrincipals(principals: PrincipalPattern[], options?: AutoApproveOptions): AutoApprove {
    return new AutoApprove(Array.isArray(principals) ? [...principals] : principals, options ?? {});
  }

  /** @internal */
  public readonly _principals: PrincipalPattern[];
  /** @internal */
  public readonly _options: AutoApproveOptions;

  private constructor(principals: PrincipalPattern[], options: AutoApproveOptions) {
    this._principals = principals;
    this._options = options;
  }
}

/**
 * Options of `Approval.required`.
 *
 * @experimental
 */
export interface ApprovalOptions {
  /**
   * Who may approve a request.
   *
   * @experimental
   */
  readonly approvers: Approvers;

  /**
   * How many distinct approvers a request needs (1 to 5). The first deny of an approver ends it.
   *
   * @default 1
   * @experimental
   */
  readonly minApprovals?: number;

  /**
   * The longest window a request may ask for, in whole minutes, from 15 minutes to 7 days. Credentials inside it are
   * still at most the profile's `maxCredentialDuration` each, and never outlive it.
   *
   * @default Duration.hours(1)
   * @experimental
   */
  readonly maxDuration?: Duration;

  /**
   * The window of a request that names none, at most `maxDuration`.
   *
   * @default - 1 hour, or maxDuration when shorter
   * @experimental
   */
  readonly defaultDuration?: Duration;

  /**
   * How long a request waits for its approvals, from its (scheduled) start, from 5 minutes to 7 days.
   *
   * @default Duration.hours(24)
   * @experimental
   */
  readonly pendingTimeout?: Duration;

  /**
   * How far ahead a request may schedule its start, at most 30 days.
   *
   * @default - no scheduled start: the window starts at approval
   * @experimental
   */
  readonly maxScheduleAhead?: Duration;

  /**
   * Whether a request must say why.
   *
   * @default Justification.required()
   * @experimental
   */
  readonly justification?: Justification;

  /**
   * Whether a request must name a ticket.
   *
   * @default TicketRequirement.none()
   * @experimental
   */
  readonly ticket?: TicketRequirement;

  /**
   * Rules by which requests are approved without an approver.
   *
   * @default - none: every request waits for approvers
   * @experimental
   */
  readonly autoApprove?: AutoApprove[];

  /**
   * Who approves, as requesters are told instead of the approvers' names (at most 200 characters, no control
   * characters), e.g. `Platform leads (#platform-oncall)`.
   *
   * @default - requesters are not told who approves
   * @experimental
   */
  readonly approversDescription?: string;
}

/**
 * A profile's approval policy: every use of the profile needs a window approved by others (or break-glass). One policy
 * may be shared by several profiles.
 *
 * @experimental
 */
export class Approval {
  /**
   * Every use of the profile needs an approved request.
   *
   * @experimental
   */
  public static required(options: ApprovalOptions): Approval {
    return new Approval(options);
  }

  /** @internal */
  public readonly _options: ApprovalOptions;

  private constructor(options: ApprovalOptions) {
    this._options = options;
  }
}

/**
 * Options of `BreakGlass.allow`.
 *
 * @experimental
 */
export interface BreakGlassOptions {
  /**
   * Who may break glass: IAM users or Identity Center users (persons whose names AWS chooses), as for `Approvers`.
   *
   * @experimental
   */
  readonly principals: PrincipalPattern[];

  /**
   * The longest break-glass window, in whole minutes, from 15 minutes to 12 hours.
   *
   * @default Duration.hours(1)
   * @experimental
   */
  readonly maxDuration?: Duration;

  /**
   * The reason an invoker must give: break-glass always needs one.
   *
   * @default Justification.required({ minLength: 20 })
   * @experimental
   */
  readonly reason?: Justification;

  /**
   * Whether an invoker must name a ticket.
   *
   * @default TicketRequirement.none()
   * @experimental
   */
  readonly ticket?: TicketRequirement;

  /**
   * The least time between two uses by one person on the profile, at most 30 days.
   *
   * @default Duration.seconds(0), none
   * @experimental
   */
  readonly cooldown?: Duration;

  /**
   * A person's next break-glass waits until their previous one has been reviewed.
   *
   * @default true
   * @experimental
   */
  readonly requireReviewBeforeNext?: boolean;

  /**
   * When a break-glass session's review is due, from 1 hour to 30 days after it started.
   *
   * @default Duration.days(2)
   * @experimental
   */
  readonly reviewWithin?: Duration;

  /**
   * Who reviews break-glass sessions (never the invoker). Required when the profile has no `approval`.
   *
   * @default - the profile's approvers
   * @experimental
   */
  readonly reviewers?: Approvers;

  /**
   * Break-glass sessions may be used outside the profile's `accessWindows`.
   *
   * @default false
   * @experimental
   */
  readonly ignoreAccessWindows?: boolean;
}

/**
 * Emergency access without an approver: a short window with a mandatory reason, a cooldown, notifications and a review.
 *
 * @experimental
 */
export class BreakGlass {
  /**
   * These principals may open a break-glass window on the profile.
   *
   * @experimental
   */
  public static allow(options: BreakGlassOptions): BreakGlass {
    return new BreakGlass(options);
  }

  /** @internal */
  public readonly _options: BreakGlassOptions;

  private constructor(options: BreakGlassOptions) {
    this._options = options;
  }
}
