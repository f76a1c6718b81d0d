// Gated access on the construct side: the public API of approvals, break-glass and access windows, the synth-time checks
// (each naming the prop, the value and the expectation), the configuration a profile renders into, the IAM it adds, and
// the configuration reader's canonical form of it.
import { App, Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, canonicalProfiles, chunkDocument, configDigest } from '../lambda/config/document';
import {
  Approval, Approvers, AutoApprove, BreakGlass, Justification, PrincipalPattern, ProtectedRole, RevocationEnforcement, SentinelTvm,
  TicketRequirement, TimeWindow, Weekday, type ProfileOptions, type SentinelTvmProps,
} from '../src';
import { acknowledgementsIn, describeViolations, findingsWithoutAcknowledgements } from './support/nag-check';
import { ACCOUNT, ADMIN, CfnResolver, P, REGION, asArray, configOf, identityStatementsOf, logicalIdOf, newApp, removeOutdirs } from './support/synth';
import { AccessRoutes, type AccessPolicyConfig } from '../src/shared/access';

afterAll(removeOutdirs);

const OTHER_ACCOUNT = '444455556666';
const ENV = { account: ACCOUNT, region: REGION };
const user = (name: string, account = ACCOUNT) => PrincipalPattern.iamUser(account, name);
const idc = (permissionSet: string, userName?: string, account = ACCOUNT) =>
  PrincipalPattern.identityCenterPermissionSet(account, permissionSet, userName);
/** An Identity Center permission set's role as the configuration holds it (the partition resolved). */
const IDC = (permissionSet: string) => `arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_${permissionSet}_????????????????`;
const USER = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const DEVELOPERS = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Developers_*/*`;
const GET_ROLE_RESOURCE = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*`;
/** The partition token a factory's pattern starts with, in a message. */
const PARTITION_TOKEN = 'arn:\\$\\{Token\\[AWS\\.Partition\\.\\d+\\]\\}';
const MONDAYS = TimeWindow.weekly({ timeZone: 'UTC', days: [Weekday.MONDAY], start: '08:00', end: '18:00' });

interface TestTvm {
  readonly app: App;
  readonly stack: Stack;
  readonly tvm: SentinelTvm;
}

function newTvm(props: SentinelTvmProps = {}, env: { account?: string; region?: string } | undefined = ENV): TestTvm {
  const app = newApp();
  const stack = new Stack(app, 'TvmStack', { env });
  return { app, stack, tvm: new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)], ...props }) };
}

let profiles = 0;
/** Adds a profile with a ProtectedRole of its own; `options` may override any option. */
function addProfile(t: TestTvm, name: string, options: Partial<ProfileOptions>): void {
  const role = new ProtectedRole(t.stack, `Role${profiles++}`, { tvm: t.tvm });
  t.tvm.addProfile(name, { role, allowedPrincipals: [P(DEVELOPERS)], ...options });
}

/** The message `addProfile` throws with, or undefined. */
function addProfileError(t: TestTvm, name: string, options: Partial<ProfileOptions>): string | undefined {
  try {
    addProfile(t, name, options);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

const approvedBy = (...patterns: PrincipalPattern[]) => Approval.required({ approvers: Approvers.principals(patterns) });

describe('GIVEN the factories of gated access', () => {
  const weekly = (overrides: Record<string, unknown>) => () => TimeWindow.weekly({
    timeZone: 'Europe/Berlin', days: [Weekday.MONDAY], start: '07:00', end: '20:00', ...overrides,
  });

  test.each([
    ['fails when the time zone is not an IANA zone', { timeZone: 'Europe/Berln' },
      'TimeWindow.weekly: timeZone "Europe/Berln" is not an IANA time zone'],
    ['fails when a weekday is listed twice', { days: [Weekday.MONDAY, Weekday.FRIDAY, Weekday.MONDAY] },
      'TimeWindow.weekly: days: a weekday is listed twice'],
    ['fails when no weekday is listed', { days: [] }, 'TimeWindow.weekly: days: expected at least one weekday'],
    ['fails when a day is no Weekday', { days: ['FUNDAY'] },
      'TimeWindow.weekly: days[0] "FUNDAY": expected a Weekday (Weekday.MONDAY … Weekday.SUNDAY)'],
    ['fails when start is not HH:MM', { start: '7:00' }, 'TimeWindow.weekly: start "7:00": expected HH:MM from 00:00 to 23:59'],
    ['fails when end is past 23:59', { end: '24:00' }, 'TimeWindow.weekly: end "24:00": expected HH:MM from 00:00 to 23:59'],
    ['fails when start and end are equal', { end: '07:00' }, 'TimeWindow.weekly: start and end are both 07:00: a window must have a length'],
  ])('WHEN TimeWindow.weekly is called THEN it %s', (_name, overrides, message) => {
    expect(weekly(overrides)).toThrow(message);
  });

  test('WHEN a window crosses midnight in a zone with a 30-minute offset THEN it is accepted', () => {
    expect(weekly({ timeZone: 'Asia/Kolkata', start: '22:30', end: '06:00' })).not.toThrow();
  });

  test.each([
    ['fails when maxLength is over 512', () => Justification.required({ maxLength: 513 }),
      'Justification.required: maxLength is 513: expected a whole number from 1 to 512'],
    ['fails when minLength is 0', () => Justification.optional({ minLength: 0 }),
      'Justification.optional: minLength is 0: expected a whole number from 1 to 512'],
    ['fails when minLength exceeds maxLength', () => Justification.required({ minLength: 40, maxLength: 30 }),
      'Justification.required: minLength is 40: expected a whole number from 1 to 30'],
    ['fails when minLength is not whole', () => Justification.required({ minLength: 10.5 }), 'Justification.required: minLength is 10.5'],
    ['fails when a ticket pattern is not anchored', () => TicketRequirement.matching('INC-[0-9]+'),
      'TicketRequirement.matching: pattern "INC-[0-9]+" must be anchored: start with ^ and end with $'],
    ['fails when a ticket pattern does not compile', () => TicketRequirement.optional('^(INC$'),
      'TicketRequirement.optional: pattern "^(INC$" is not a valid regular expression'],
    ['fails when a ticket pattern is over 200 characters', () => TicketRequirement.matching(`^${'a'.repeat(200)}$`),
      'is 202 characters: at most 200'],
  ])('WHEN a rule is made THEN it %s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('GIVEN a TVM in account 111122223333', () => {
  let t: TestTvm;
  beforeAll(() => {
    t = newTvm();
  });
  const appRole = (id: string) => new iam.Role(t.stack, id, { assumedBy: new iam.AccountRootPrincipal() });

  const bg = (overrides: Record<string, unknown> = {}) => BreakGlass.allow({
    principals: [idc('SRE')], reviewers: Approvers.principals([idc('Security')]), ...overrides,
  });
  const approval = (overrides: Record<string, unknown>) => Approval.required({ approvers: Approvers.principals([idc('Approvers')]), ...overrides });
  const ROLE_SESSIONS = 'session names of this role are chosen by the caller, so ';
  const USE = 'use an IAM user (PrincipalPattern.iamUser) or an Identity Center permission set (PrincipalPattern.identityCenterPermissionSet)';

  // [why it fails, the profile's options, the message after `addProfile("<name>")`]
  const rows: Array<[string, () => Partial<ProfileOptions>, string | RegExp]> = [
    ['fails when a profile with approval sets issuedCredentialsSurviveRevocation',
      () => ({ approval: approval({}), issuedCredentialsSurviveRevocation: true }),
      '.approval: the profile sets issuedCredentialsSurviveRevocation, but a gated profile needs revocation to reach issued credentials'],
    ['fails when a profile with break-glass sets issuedCredentialsSurviveRevocation',
      () => ({ breakGlass: bg(), issuedCredentialsSurviveRevocation: true }), '.breakGlass: the profile sets issuedCredentialsSurviveRevocation'],
    ['refuses an approver that is a role whose session names its callers choose',
      () => ({ approval: approvedBy(P(`arn:aws:sts::${ACCOUNT}:assumed-role/Approvers/*`)) }),
      `.approval.approvers[0] "arn:aws:sts::${ACCOUNT}:assumed-role/Approvers/*": ${ROLE_SESSIONS}an approval could not be tied to a person; ${USE}`],
    ['refuses an approver that is every session of a plain role', () => ({ approval: approvedBy(P(`arn:aws:iam::${ACCOUNT}:role/Approvers`)) }),
      `.approval.approvers[0] "arn:aws:iam::${ACCOUNT}:role/Approvers": ${ROLE_SESSIONS}`],
    ['refuses an approver that is the account root', () => ({ approval: approvedBy(P(`arn:aws:iam::${ACCOUNT}:root`)) }),
      '.approval.approvers[0] "arn:aws:iam::111122223333:root": it names no IAM user or Identity Center user'],
    ['refuses an approver known only at deploy time that no person factory made',
      () => ({ approval: approvedBy(PrincipalPattern.roleSessions(appRole(`Approvers${profiles}`))) }),
      new RegExp('\\.approval\\.approvers\\[0\\] "\\$\\{Token\\[TOKEN\\.\\d+\\]\\}": '
        + 'it is known only at deploy time, so synth cannot tell that it names a person, as an approval')],
    ['refuses an Identity Center approver of another account (iam:GetRole proves roles of the TVM\'s account only)',
      () => ({ approval: approvedBy(idc('Approvers', undefined, OTHER_ACCOUNT)) }),
      new RegExp(`\\.approval\\.approvers\\[0\\] "${PARTITION_TOKEN}:iam::444455556666:role/AWSReservedSSO_Approvers_\\?{16}": `
        + 'it is an Identity Center role of account 444455556666, not this TVM\'s \\(111122223333\\): the TVM proves')],
    ['refuses an Identity Center approver of another account written as an ARN pattern',
      () => ({ approval: approvedBy(P(`arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_0123456789abcdef/*`)) }),
      `.approval.approvers[0] "arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_0123456789abcdef/*": `
      + 'it is an Identity Center role '
      + `of account ${OTHER_ACCOUNT}, not this TVM's (${ACCOUNT})`],
    ['refuses a break-glass principal that is not a person',
      () => ({ breakGlass: bg({ principals: [P(`arn:aws:sts::${ACCOUNT}:assumed-role/Oncall/*`)] }) }),
      `.breakGlass.principals[0] "arn:aws:sts::${ACCOUNT}:assumed-role/Oncall/*": ${ROLE_SESSIONS}a break-glass could not be tied to a person`],
    ['refuses a reviewer that is not a person',
      () => ({ breakGlass: bg({ reviewers: Approvers.principals([P(`arn:aws:iam::${ACCOUNT}:role/Security`)]) }) }),
      `.breakGlass.reviewers[0] "arn:aws:iam::${ACCOUNT}:role/Security": ${ROLE_SESSIONS}a review could not be tied to a person`],
    ['refuses an Identity Center reviewer of another account',
      () => ({ breakGlass: bg({ reviewers: Approvers.principals([idc('Security', 'sam', OTHER_ACCOUNT)]) }) }),
      new RegExp(`\\.breakGlass\\.reviewers\\[0\\] "${PARTITION_TOKEN}:sts::444455556666:assumed-role/AWSReservedSSO_Security_\\?{16}/sam": `
        + 'it is an Identity Center role of account 444455556666')],
    ['refuses an auto-approve principal that is not a person',
      () => ({ approval: approval({ autoApprove: [AutoApprove.forPrincipals([P(`arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/*`)])] }) }),
      `.approval.autoApprove[0].principals[0] "arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/*": ${ROLE_SESSIONS}an auto-approval could not`],
    ['fails when approvers name nobody', () => ({ approval: approvedBy() }),
      '.approval.approvers must name at least one principal ARN pattern, got none'],
    ['fails when minApprovals exceeds the persons the approvers can match',
      () => ({ approval: Approval.required({ approvers: Approvers.principals([user('carol')]), minApprovals: 2 }) }),
      '.approval.minApprovals is 2 but only 1 approver can ever match: nobody could approve'],
    ['fails when two approvers are one Identity Center user in two permission sets',
      () => ({ approval: Approval.required({ approvers: Approvers.principals([idc('Leads', 'carol'), idc('Admins', 'carol')]), minApprovals: 2 }) }),
      '.approval.minApprovals is 2 but only 1 approver can ever match: nobody could approve'],
    ['fails when minApprovals is over 5', () => ({ approval: approval({ minApprovals: 6 }) }),
      '.approval.minApprovals is 6: expected a whole number from 1 to 5'],
    ['fails when maxDuration is over 7 days', () => ({ approval: approval({ maxDuration: Duration.days(8) }) }),
      '.approval.maxDuration is 8 days: expected whole minutes from 15 minutes to 7 days'],
    ['fails when maxDuration is not whole minutes', () => ({ approval: approval({ maxDuration: Duration.seconds(930) }) }),
      '.approval.maxDuration is 15 minutes 30 seconds: expected whole minutes from 15 minutes to 7 days'],
    ['fails when defaultDuration is over maxDuration', () => ({ approval: approval({ defaultDuration: Duration.hours(2) }) }),
      '.approval.defaultDuration is 2 hours: expected whole minutes from 15 minutes to maxDuration (1 hour)'],
    ['fails when pendingTimeout is under 5 minutes', () => ({ approval: approval({ pendingTimeout: Duration.minutes(1) }) }),
      '.approval.pendingTimeout is 1 minute: expected whole minutes from 5 minutes to 7 days'],
    ['fails when maxScheduleAhead is over 30 days', () => ({ approval: approval({ maxScheduleAhead: Duration.days(31) }) }),
      '.approval.maxScheduleAhead is 31 days: expected whole minutes from 0 minutes to 30 days'],
    ['fails when an auto-approve rule allows more than the approval',
      () => ({ approval: approval({ autoApprove: [AutoApprove.forPrincipals([user('dave')], { maxDuration: Duration.hours(2) })] }) }),
      '.approval.autoApprove[0].maxDuration is 2 hours: expected whole minutes from 15 minutes to the approval\'s maxDuration (1 hour)'],
    ['fails when an auto-approve rule has an empty list of windows',
      () => ({ approval: approval({ autoApprove: [AutoApprove.forPrincipals([user('dave')], { during: [] })] }) }),
      '.approval.autoApprove[0].during: expected at least one TimeWindow, got none; leave it out for no restriction in time'],
    ['fails when approversDescription has a control character', () => ({ approval: approval({ approversDescription: 'Leads\n#oncall' }) }),
      '.approval.approversDescription "Leads\n#oncall" (13 characters): expected 1 to 200 characters without control characters'],
    ['fails when approversDescription is over 200 characters', () => ({ approval: approval({ approversDescription: 'x'.repeat(201) }) }),
      '(201 characters): expected 1 to 200 characters'],
    ['fails when a JavaScript caller passes a plain object as approval', () => ({ approval: { approvers: [] } as unknown as Approval }),
      '.approval: expected an Approval, e.g. Approval.required({ approvers: ... })'],
    ['fails when accessWindows is an empty list', () => ({ accessWindows: [] }),
      '.accessWindows: expected at least one TimeWindow, got none; leave it out for no restriction in time'],
    ['fails when break-glass maxDuration is over 12 hours', () => ({ breakGlass: bg({ maxDuration: Duration.hours(13) }) }),
      '.breakGlass.maxDuration is 13 hours: expected whole minutes from 15 minutes to 12 hours'],
    ['fails when the cooldown is over 30 days', () => ({ breakGlass: bg({ cooldown: Duration.days(31) }) }),
      '.breakGlass.cooldown is 31 days: expected whole minutes from 0 minutes to 30 days'],
    ['fails when the review is due within less than an hour', () => ({ breakGlass: bg({ reviewWithin: Duration.minutes(30) }) }),
      '.breakGlass.reviewWithin is 30 minutes: expected whole minutes from 1 hour to 30 days'],
    ['refuses a break-glass whose reason is optional', () => ({ breakGlass: bg({ reason: Justification.optional() }) }),
      '.breakGlass.reason is Justification.optional(): break-glass always needs a reason'],
    ['fails when break-glass on a profile without approval names no reviewers', () => ({ breakGlass: bg({ reviewers: undefined }) }),
      '.breakGlass.reviewers is not set and the profile has no approval, whose approvers would review: nobody could review'],
  ];

  test.each(rows)('WHEN addProfile is called THEN it %s, naming the prop', (_name, options, message) => {
    const name = `p${profiles}`;
    const error = addProfileError(t, name, options());
    expect(error).toBeDefined();
    expect(error!.startsWith(`addProfile("${name}")`)).toBe(true);
    if (typeof message === 'string') expect(error).toContain(message);
    else expect(error).toMatch(message);
  });

  test.each<[string, () => Partial<ProfileOptions>]>([
    ['an IAM user of another account (STS\'s unique id proves it)', () => ({ approval: approvedBy(user('carol', OTHER_ACCOUNT)) })],
    ['every IAM user of the account, as an ARN pattern', () => ({ approval: approvedBy(P(`arn:aws:iam::${ACCOUNT}:user/*`)) })],
    ['an Identity Center permission set\'s role with its path', () => ({
      approval: approvedBy(P(`arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Leads_0123456789abcdef`)),
    })],
    ['two approvers for two approvals', () => ({
      approval: Approval.required({ approvers: Approvers.principals([user('carol'), idc('Leads', 'dan')]), minApprovals: 2 }),
    })],
    ['three approvals of any IAM user', () => ({
      approval: Approval.required({ approvers: Approvers.principals([P(`arn:aws:iam::${ACCOUNT}:user/*`)]), minApprovals: 3 }),
    })],
    ['a deploy-time user name of an Identity Center user', () => ({ approval: approvedBy(idc('Leads', Aws.STACK_NAME)) })],
  ])('WHEN an approver is %s THEN addProfile accepts it', (_name, options) => {
    expect(addProfileError(t, `ok${profiles}`, options())).toBeUndefined();
  });
});

describe('GIVEN TVMs whose settings decide what a gated profile may be', () => {
  test('WHEN the TVM\'s revocation is futureVendsOnly THEN a profile with approval fails: withdrawing a grant could not cut its credentials', () => {
    const t = newTvm({ revocation: RevocationEnforcement.futureVendsOnly() });
    expect(addProfileError(t, 'gated', { approval: approvedBy(user('carol')) })).toMatch(
      /^addProfile\("gated"\)\.approval: this TVM's revocation is RevocationEnforcement\.futureVendsOnly\(\), but a gated profile needs/);
    expect(addProfileError(t, 'windowed', { accessWindows: [MONDAYS] })).toBeUndefined();
  });

  test('WHEN the TVM accepts caller-chosen names THEN approvers must still name persons of a literal account', () => {
    const t = newTvm({ allowCallerChosenPrincipalNames: true });
    expect(addProfileError(t, 'a', { approval: approvedBy(P('arn:aws:iam::*:user/alice')) })).toContain(
      'addProfile("a").approval.approvers[0] "arn:aws:iam::*:user/alice": its account "*" is not literal, '
      + 'so it cannot name a person of a known account');
    expect(addProfileError(t, 'b', { approval: approvedBy(P(`arn:aws:sts::${ACCOUNT}:federated-user/alice`)) })).toContain(
      'addProfile("b").approval.approvers[0] "arn:aws:sts::111122223333:federated-user/alice": it names no IAM user or Identity Center user');
    expect(addProfileError(t, 'c', { approval: approvedBy(P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_*/alice`)) })).toBeUndefined();
  });

  test('WHEN the TVM\'s stack has no account THEN a literal Identity Center account fails, and the stack\'s own account is accepted', () => {
    const t = newTvm({}, {});
    expect(addProfileError(t, 'a', { approval: approvedBy(idc('Leads')) })).toContain(
      'it is an Identity Center role of account 111122223333, and this TVM\'s stack has no account (environment-agnostic)');
    expect(addProfileError(t, 'b', { approval: approvedBy(idc('Leads', undefined, Stack.of(t.tvm).account), user('carol')) })).toBeUndefined();
  });
});

const BUSINESS_HOURS = { timeZone: 'Europe/Berlin', days: [1, 3, 5], start: '07:00', end: '20:00' };
const NIGHT = { timeZone: 'Asia/Kolkata', days: [7], start: '22:30', end: '06:00' };

/** What `prod-admin` renders into: every option set. */
const PROD_ADMIN_ACCESS: AccessPolicyConfig = {
  approval: {
    approvers: [IDC('ProdApprovers'), USER('carol')],
    minApprovals: 2,
    maxSeconds: 4 * 3600,
    defaultSeconds: 90 * 60,
    pendingTimeoutSeconds: 8 * 3600,
    maxScheduleAheadSeconds: 7 * 86400,
    justification: { required: true, minLength: 15, maxLength: 300 },
    ticket: { required: true, pattern: '^(INC|CHG)-[0-9]{3,8}$' },
    autoApprove: [
      { principals: [IDC('OnCall')], maxSeconds: 3600, during: [BUSINESS_HOURS] },
      { principals: [USER('dave')], maxSeconds: 4 * 3600, during: [] },
    ],
    approversDescription: 'Platform leads (#platform-oncall)',
  },
  breakGlass: {
    principals: [IDC('SRE')],
    maxSeconds: 2 * 3600,
    reason: { required: true, minLength: 30, maxLength: 512 },
    ticket: { required: false, pattern: '^INC-[0-9]+$' },
    cooldownSeconds: 12 * 3600,
    requireReviewBeforeNext: false,
    reviewWithinSeconds: 3 * 86400,
    reviewers: [IDC('Security')],
    ignoreAccessWindows: true,
  },
  windows: [BUSINESS_HOURS, NIGHT],
};

/** Every number and boolean as a string, as CloudFormation passes custom resource properties. */
function stringified(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(stringified);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stringified(v)]));
  return value;
}

describe('GIVEN a TVM with a profile using every option, profiles sharing one approval, a break-glass-only and an ungated profile', () => {
  let gated: TestTvm;
  let template: any;
  let byName: Map<string, any>;
  let prodApproval: Approval;

  beforeAll(() => {
    gated = newTvm();
    const businessHours = TimeWindow.weekly({
      timeZone: 'Europe/Berlin', days: [Weekday.FRIDAY, Weekday.MONDAY, Weekday.WEDNESDAY], start: '07:00', end: '20:00',
    });
    prodApproval = Approval.required({
      approvers: Approvers.principals([idc('ProdApprovers'), user('carol')]),
      approversDescription: 'Platform leads (#platform-oncall)',
      minApprovals: 2,
      maxDuration: Duration.hours(4),
      defaultDuration: Duration.minutes(90),
      pendingTimeout: Duration.hours(8),
      maxScheduleAhead: Duration.days(7),
      justification: Justification.required({ minLength: 15, maxLength: 300 }),
      ticket: TicketRequirement.matching('^(INC|CHG)-[0-9]{3,8}$'),
      autoApprove: [
        AutoApprove.forPrincipals([idc('OnCall')], { maxDuration: Duration.hours(1), during: [businessHours] }),
        AutoApprove.forPrincipals([user('dave')]),
      ],
    });
    addProfile(gated, 'prod-admin', {
      approval: prodApproval,
      breakGlass: BreakGlass.allow({
        principals: [idc('SRE')],
        maxDuration: Duration.hours(2),
        reason: Justification.required({ minLength: 30 }),
        ticket: TicketRequirement.optional('^INC-[0-9]+$'),
        cooldown: Duration.hours(12),
        requireReviewBeforeNext: false,
        reviewWithin: Duration.days(3),
        reviewers: Approvers.principals([idc('Security')]),
        ignoreAccessWindows: true,
      }),
      accessWindows: [businessHours, TimeWindow.weekly({ timeZone: 'Asia/Kolkata', days: [Weekday.SUNDAY], start: '22:30', end: '06:00' })],
    });
    addProfile(gated, 'prod-deploy', { approval: prodApproval });
    addProfile(gated, 'qa', {
      approval: Approval.required({ approvers: Approvers.principals([user('erin')]), maxDuration: Duration.minutes(30) }),
      breakGlass: BreakGlass.allow({ principals: [user('frank')] }),
    });
    addProfile(gated, 'oncall', { breakGlass: BreakGlass.allow({ principals: [user('frank')], reviewers: Approvers.principals([user('erin')]) }) });
    addProfile(gated, 'readonly', {});
    template = gated.app.synth().getStackByName('TvmStack').template;
    byName = new Map(configOf(template, new CfnResolver(template)).profiles.map((p) => [p.name, p]));
  });

  test('THEN the profile with every option renders into the contract\'s shape, keys in its order, days ascending', () => {
    const access = byName.get('prod-admin').access;
    expect(access).toEqual(PROD_ADMIN_ACCESS);
    expect(JSON.stringify(access)).toBe(JSON.stringify(PROD_ADMIN_ACCESS));
  });

  test('THEN one Approval shared by two profiles renders into both', () => {
    expect(byName.get('prod-deploy').access).toEqual({ approval: PROD_ADMIN_ACCESS.approval });
  });

  test('THEN unset options render their defaults: break-glass reviewers are the approvers, the default window at most maxDuration', () => {
    expect(byName.get('qa').access).toEqual({
      approval: {
        approvers: [USER('erin')],
        minApprovals: 1,
        maxSeconds: 1800,
        defaultSeconds: 1800,
        pendingTimeoutSeconds: 86400,
        maxScheduleAheadSeconds: 0,
        justification: { required: true, minLength: 10, maxLength: 512 },
        ticket: { required: false },
        autoApprove: [],
      },
      breakGlass: {
        principals: [USER('frank')],
        maxSeconds: 3600,
        reason: { required: true, minLength: 20, maxLength: 512 },
        ticket: { required: false },
        cooldownSeconds: 0,
        requireReviewBeforeNext: true,
        reviewWithinSeconds: 2 * 86400,
        reviewers: [USER('erin')],
        ignoreAccessWindows: false,
      },
    });
  });

  test('THEN a profile without gates has no access key at all', () => {
    expect(Object.keys(byName.get('readonly'))).toEqual(['name', 'roleArn', 'allowedPrincipals', 'maxDurationSeconds', 'chainRoleArns']);
  });

  test('THEN break-glass on a standing profile is a synth warning with its id, naming the profile; on a gated one, none', () => {
    const warnings = gated.tvm.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
    const standing = warnings.filter((w) => w.includes('cdk-sentinel-tvm:breakGlassOnStandingProfile'));
    expect(standing).toEqual([expect.stringContaining('addProfile("oncall").breakGlass: the profile has no approval')]);
  });

  test('THEN only the access function may iam:GetRole, on Identity Center\'s role path of its account, in one statement', () => {
    const accessRole = logicalIdOf(gated.tvm.node.findChild('Access').node.findChild('Role') as iam.Role);
    const resolver = new CfnResolver(template);
    const getRole = (roleId: string) => identityStatementsOf(template, roleId).filter((s) => asArray(s.Action).includes('iam:GetRole'));
    expect(getRole(accessRole).map((s) => resolver.resolve(s))).toEqual([{ Effect: 'Allow', Action: 'iam:GetRole', Resource: GET_ROLE_RESOURCE }]);
    const others = Object.entries<any>(template.Resources).filter(([id, r]) => r.Type === 'AWS::IAM::Role' && id !== accessRole);
    expect(others.flatMap(([id]) => getRole(id))).toEqual([]);
  });

  test('THEN the access routes, and only they, go to the access function, each with a throttle bucket of its own', () => {
    const accessFn = logicalIdOf(gated.tvm.node.findChild('Access').node.findChild('Function') as any);
    const integrations = Object.entries<any>(template.Resources).filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Integration');
    const target = (integrationId: string) => JSON.stringify(template.Resources[integrationId].Properties.IntegrationUri);
    const routes = Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    const toAccess = routes.filter((r) => target(r.Properties.Target['Fn::Join'][1][1].Ref).includes(accessFn)).map((r) => r.Properties.RouteKey);
    expect(toAccess.sort()).toEqual(AccessRoutes.map((r) => `${r.method} ${r.path}`).sort());
    expect(integrations.length).toBe(2);
    const stage = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage');
    for (const r of AccessRoutes) expect(stage.Properties.RouteSettings[`${r.method} ${r.path}`]).toBeDefined();
  });

  test('THEN cdk-nag finds nothing unacknowledged, and the GetRole acknowledgement answers a finding it really makes', () => {
    const report = new AwsSolutionsChecks().validateScope(gated.app);
    expect(describeViolations(report)).toEqual([]);
    const ack = acknowledgementsIn(gated.app).filter((a) => a.id.includes('aws-reserved/sso.amazonaws.com'));
    expect(ack.map((a) => a.id)).toEqual([`AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*]`]);
    expect(findingsWithoutAcknowledgements(gated.app)).toContainEqual({ rule: ack[0].id, path: expect.stringContaining(ack[0].path) });
  });

  test('WHEN the reader canonicalizes the rendered profiles, or them with CloudFormation\'s strings THEN it gives them back as they were', () => {
    const rendered = [...byName.values()];
    expect(JSON.stringify(canonicalProfiles(rendered))).toBe(JSON.stringify(rendered));
    expect(JSON.stringify(canonicalProfiles(stringified(rendered)))).toBe(JSON.stringify(rendered));
    expect(chunkDocument(JSON.stringify(rendered))).toBe(JSON.stringify(rendered));
  });
});

describe('GIVEN the same TVM without gated profiles, and with one', () => {
  const statementsOf = (withGate: boolean): unknown[] => {
    const t = newTvm();
    addProfile(t, 'readonly', {});
    addProfile(t, 'office-hours', { accessWindows: [MONDAYS] });
    if (withGate) addProfile(t, 'admin', { approval: approvedBy(user('carol')) });
    const template = t.app.synth().getStackByName('TvmStack').template;
    expect(JSON.stringify(template).includes('"iam:GetRole"')).toBe(withGate);
    return identityStatementsOf(template, logicalIdOf(t.tvm.node.findChild('ExecutionRole') as iam.Role));
  };

  test('THEN access windows alone grant nothing, and a gate adds nothing to the vending role but the grant key', () => {
    const without = statementsOf(false);
    const withGate = statementsOf(true);
    expect(withGate).toEqual(without);
  });
});

describe('GIVEN the configuration reader (canonicalProfiles)', () => {
  const profile = (access: unknown) => ({
    name: 'prod-admin',
    roleArn: `arn:aws:iam::${ACCOUNT}:role/Admin`,
    allowedPrincipals: [DEVELOPERS],
    maxDurationSeconds: 3600,
    chainRoleArns: [],
    access,
  });
  const UNGATED = '[{"name":"prod-readonly","roleArn":"arn:aws:iam::111122223333:role/ReadOnly","allowedPrincipals":'
    + '["arn:aws:iam::111122223333:user/alice"],"maxDurationSeconds":3600,"chainRoleArns":[],"openTrust":true}]';

  test('WHEN a chunk has no gated profile THEN its document and digest are those of the version before gated access', () => {
    const document = chunkDocument([{
      name: 'prod-readonly',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/ReadOnly`,
      allowedPrincipals: [USER('alice')],
      maxDurationSeconds: '3600',
      chainRoleArns: [],
      unenforced: 'false',
      openTrust: 'true',
    }]);
    expect(document).toBe(UNGATED);
    expect(configDigest(document)).toBe('cdf19c83ea38e1037d63178dc703623c13ece235fddff1faa5f0a8482b49d1c3');
  });

  test('WHEN a window lists its days out of order THEN the canonical form lists them ascending', () => {
    const [p] = canonicalProfiles([profile({ windows: [{ ...NIGHT, days: ['5', 1] }] })]);
    expect(p.access).toEqual({ windows: [{ ...NIGHT, days: [1, 5] }] });
  });

  const edit = (change: (a: any) => void) => {
    const access = JSON.parse(JSON.stringify(PROD_ADMIN_ACCESS));
    change(access);
    return access;
  };
  test.each<[string, unknown, string]>([
    ['fails when access is empty', {}, 'profiles[0].access: expected approval, breakGlass or windows'],
    ['fails when access is null', null, 'profiles[0].access: expected an object'],
    ['refuses an unknown key rather than drop a gate', edit((a) => { a.windowz = a.windows; delete a.windows; }),
      'profiles[0].access: unknown key "windowz"'],
    ['refuses an unknown key of the approval', edit((a) => { a.approval.selfApproval = true; }),
      'profiles[0].access.approval: unknown key "selfApproval"'],
    ['fails when the approvers are missing', edit((a) => { delete a.approval.approvers; }),
      'profiles[0].access.approval.approvers: expected a list of strings'],
    ['fails when an approver is no ARN pattern', edit((a) => { a.approval.approvers = ['alice']; }),
      'profiles[0].access.approval.approvers[0]: expected a principal ARN pattern'],
    ['fails when minApprovals is 0', edit((a) => { a.approval.minApprovals = '0'; }),
      'profiles[0].access.approval.minApprovals: expected a whole number from 1 to 5'],
    ['fails when maxSeconds is over 7 days', edit((a) => { a.approval.maxSeconds = 604801; }),
      'profiles[0].access.approval.maxSeconds: expected a whole number from 900 to 604800'],
    ['fails when defaultSeconds is over maxSeconds', edit((a) => { a.approval.defaultSeconds = 4 * 3600 + 60; }),
      'approval.defaultSeconds: expected a whole number from 900 to 14400'],
    ['fails when an auto-approve rule allows more than the approval', edit((a) => { a.approval.autoApprove[0].maxSeconds = 5 * 3600; }),
      'profiles[0].access.approval.autoApprove[0].maxSeconds: expected a whole number from 900 to 14400'],
    ['fails when a required ticket has no pattern', edit((a) => { delete a.approval.ticket.pattern; }),
      'profiles[0].access.approval.ticket: a required ticket needs a pattern'],
    ['fails when a ticket pattern is not anchored', edit((a) => { a.breakGlass.ticket.pattern = 'INC-[0-9]+'; }),
      'profiles[0].access.breakGlass.ticket.pattern: must be anchored'],
    ['fails when a justification\'s minLength is over its maxLength', edit((a) => { a.approval.justification.minLength = 301; }),
      'profiles[0].access.approval.justification: minLength is over maxLength'],
    ['fails when approversDescription has a control character', edit((a) => { a.approval.approversDescription = 'a\u0007b'; }),
      'profiles[0].access.approval.approversDescription: expected 1 to 200 characters without control characters'],
    ['fails when a window\'s zone is unknown', edit((a) => { a.windows[0].timeZone = 'Europe/Berln'; }),
      'profiles[0].access.windows[0]: timeZone "Europe/Berln" is not an IANA time zone'],
    ['fails when a window lists a day twice', edit((a) => { a.windows[1].days = [7, 7]; }),
      'profiles[0].access.windows[1]: days: a weekday is listed twice'],
    ['fails when windows is empty', edit((a) => { a.windows = []; }), 'profiles[0].access.windows: expected a list of at least 1'],
    ['fails when a boolean is neither true nor false', edit((a) => { a.breakGlass.requireReviewBeforeNext = 'yes'; }),
      'profiles[0].access.breakGlass.requireReviewBeforeNext: expected true or false'],
    ['fails when the cooldown is negative', edit((a) => { a.breakGlass.cooldownSeconds = -1; }),
      'profiles[0].access.breakGlass.cooldownSeconds: expected a whole number from 0 to 2592000'],
    ['fails when break-glass names no reviewers', edit((a) => { a.breakGlass.reviewers = []; }),
      'profiles[0].access.breakGlass.reviewers: expected at least one principal pattern'],
  ])('WHEN access is malformed THEN canonicalProfiles %s, naming the path', (_name, access, message) => {
    expect(() => canonicalProfiles([profile(access)])).toThrow(ConfigError);
    expect(() => canonicalProfiles([profile(access)])).toThrow(message);
  });
});

describe('GIVEN a gated TVM and an ungated one', () => {
  test('THEN only the gated one has the break-glass and integrity alarms, on their metrics, without addAlarms', () => {
    const alarmsOf = (withGate: boolean) => {
      const t = newTvm();
      addProfile(t, 'readonly', {});
      if (withGate) addProfile(t, 'admin', { approval: approvedBy(user('carol')) });
      const template = t.app.synth().getStackByName('TvmStack').template;
      return Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties)
        .filter((p) => ['BreakGlassInvocations', 'IntegrityFailures'].includes(p.MetricName))
        .map((p) => ({ metric: p.MetricName, threshold: p.Threshold, namespace: p.Namespace }));
    };
    expect(alarmsOf(false)).toEqual([]);
    expect(alarmsOf(true)).toEqual([
      { metric: 'BreakGlassInvocations', threshold: 1, namespace: 'SentinelTvm' },
      { metric: 'IntegrityFailures', threshold: 1, namespace: 'SentinelTvm' },
    ]);
  });
});

describe('GIVEN a gated profile that chains into another role', () => {
  test('THEN addProfile fails, naming allowRoleChainingTo: a chained session could outlive the window', () => {
    const t = newTvm();
    const target = new iam.Role(t.stack, 'Target', { assumedBy: new iam.AccountRootPrincipal() });
    expect(() => addProfile(t, 'admin', { approval: approvedBy(user('carol')), allowRoleChainingTo: [target] }))
      .toThrow(/addProfile\("admin"\)\.allowRoleChainingTo: a profile with approval, breakGlass or accessWindows cannot allow role chaining/);
    expect(() => canonicalProfiles([{
      name: 'x',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/X`,
      allowedPrincipals: [],
      maxDurationSeconds: 3600,
      chainRoleArns: [`arn:aws:iam::${ACCOUNT}:role/Y`],
      access: { windows: [{ timeZone: 'UTC', days: [1], start: '09:00', end: '17:00' }] },
    }])).toThrow(/chainRoleArns: a profile with access gates cannot allow role chaining/);
  });
});
