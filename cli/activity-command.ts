// `sentinel-tvm sessions activity <id>`: the command around cli/activity.ts (where the session's window and role come
// from, whose credentials read which account, and how the answer is printed).
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { cursorAfter, parseCursor, sessionActivity, type ActivityEvent, type ActivityResult, type LookupEvents } from './activity';
import { integerOption, parseArgs } from './args';
import { CLIENT_OPTIONS, sessionIdArg, type Io } from './common';
import { CliError, ExitCode, usageError } from './errors';
import { printable, printableJson, table } from './format';

/** LookupEvents keeps 90 days of management events. */
const RETENTION_MS = 90 * 24 * 3600_000;
/** Credentials chained at the end of a session live up to an hour after its last vended credentials expire. */
const AFTER_LAST_CREDENTIALS_MS = 3600_000;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const ROLE_PATH_NAME = /^([\u0021-\u002e\u0030-\u007e]+\/)*[\w+=,.@-]{1,64}$/;
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?[\w+=,.@-]{1,64}$/;
const DEFAULT_LIMIT = 50;
const DEFAULT_MAX_CALLS = 1000;
const ACCOUNT = /^\d{12}$/;
const TVM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
/** The reader role a spoke creates names its TVM: `sentinel-tvm-runtime/<name>/<name>-activity`. */
const SPOKE_READER_ROLE = /^sentinel-tvm-runtime\/([A-Za-z0-9][A-Za-z0-9_-]{0,39})\/\1-activity$/;

/** What the command needs of a session: `GET /sessions/{id}`'s answer, or the options that stand for it. */
export interface SessionWindow {
  readonly roleArn: string;
  readonly from: Date;
  readonly to: Date;
}

/** The window of a session record: from its start to an hour after its last credentials expire (or now, if sooner). */
export function windowOf(session: Record<string, unknown>, now: Date): SessionWindow {
  const roleArn = typeof session.role_arn === 'string' ? session.role_arn : '';
  const from = Date.parse(String(session.started_at ?? session.created_at ?? ''));
  const last = Date.parse(String(session.credentials_expire_at ?? session.expires_at ?? ''));
  if (!ROLE_ARN.test(roleArn) || !Number.isFinite(from)) {
    throw new CliError(ExitCode.LOCAL, 'the TVM\'s record of the session names no role or start: pass --role-arn and --from');
  }
  const to = Number.isFinite(last) ? Math.min(now.getTime(), last + AFTER_LAST_CREDENTIALS_MS) : now.getTime();
  return { roleArn, from: new Date(from), to: new Date(Math.max(to, from)) };
}

/** For tests: where CloudTrail is read instead of AWS (the real SDK is used either way). */
export interface ActivityDeps {
  readonly lookup?: LookupEvents;
  readonly ownAccount?: string;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
}

export async function sessionsActivity(
  argv: readonly string[], io: Io, session: (id: string, a: ReturnType<typeof parseArgs>) => Promise<Record<string, unknown>>,
  deps: ActivityDeps = {},
): Promise<number> {
  const a = parseArgs(argv, {
    ...CLIENT_OPTIONS,
    'regions': 'value',
    'limit': 'value',
    'next-token': 'value',
    'max-calls': 'value',
    'tvm-account': 'value',
    'tvm-name': 'value',
    'reader-role': 'value',
    'role-arn': 'value',
    'from': 'value',
    'to': 'value',
  }, ['id'], 'sentinel-tvm sessions activity');
  const id = sessionIdArg(a.positionals[0]);
  const now = deps.now?.() ?? new Date();
  const limit = integerOption('limit', a.values.limit, 1, 1000) ?? DEFAULT_LIMIT;
  const maxCalls = integerOption('max-calls', a.values['max-calls'], 1, 100_000) ?? DEFAULT_MAX_CALLS;
  const before = a.values['next-token'] === undefined ? undefined : parseCursor(a.values['next-token']);
  if (a.values['next-token'] !== undefined && !before) {
    throw usageError(`--next-token "${printable(a.values['next-token'])}" is not one this command printed`);
  }
  const readerRole = a.values['reader-role'];
  if (readerRole !== undefined && (!ROLE_PATH_NAME.test(readerRole) || readerRole.startsWith('arn:'))) {
    throw usageError(`--reader-role "${printable(readerRole)}": expected a role's path and name without a leading slash (e.g. `
      + 'sentinel-tvm-runtime/MyTvm/MyTvm-activity), assumed in each other account');
  }
  const tvmAccountOption = a.values['tvm-account'];
  if (tvmAccountOption !== undefined && !ACCOUNT.test(tvmAccountOption)) {
    throw usageError(`--tvm-account "${printable(tvmAccountOption)}" is not an account id (12 digits)`);
  }
  const tvmName = a.values['tvm-name'] ?? (readerRole === undefined ? undefined : SPOKE_READER_ROLE.exec(readerRole)?.[1]);
  if (tvmName !== undefined && !TVM_NAME.test(tvmName)) throw usageError(`--tvm-name "${printable(tvmName)}" is not a TVM name`);

  let window: SessionWindow;
  if (a.values['role-arn'] !== undefined || a.values.from !== undefined) {
    // Without the TVM: its record may be gone (retention) while CloudTrail still has the events.
    const roleArn = a.values['role-arn'] ?? '';
    if (!ROLE_ARN.test(roleArn)) throw usageError(`--role-arn "${printable(roleArn)}" is not a role ARN (with --from, it replaces the TVM's record)`);
    const from = Date.parse(a.values.from ?? '');
    const to = a.values.to === undefined ? now.getTime() : Date.parse(a.values.to);
    if (!Number.isFinite(from)) throw usageError('--from is required with --role-arn: when the session started (ISO 8601)');
    if (!Number.isFinite(to) || to < from) throw usageError('--to must be an ISO 8601 time after --from');
    window = { roleArn, from: new Date(from), to: new Date(Math.min(to, now.getTime())) };
  } else {
    if (a.values.to !== undefined) throw usageError('--to goes with --role-arn and --from');
    window = windowOf(await session(id, a), now);
  }
  const tvmRegion = a.values.region ?? regionOfUrl(a.values.url ?? io.env.SENTINEL_TVM_URL) ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  if (!tvmRegion || !REGION.test(tvmRegion)) throw usageError('--region is required: the TVM\'s region, where its AssumeRole calls are recorded');
  const regions = a.values.regions === undefined ? [...new Set([tvmRegion, 'us-east-1'])] : a.values.regions.split(',').map((r) => r.trim());
  const badRegion = regions.find((r) => !REGION.test(r));
  if (badRegion !== undefined || regions.length === 0) throw usageError(`--regions: "${printable(badRegion ?? '')}" is not a region name`);
  if (now.getTime() - window.from.getTime() > RETENTION_MS) {
    io.err('sentinel-tvm: warning: the session started more than 90 days ago: LookupEvents no longer has its first events; '
      + 'query the organization trail instead (queries/ in the package)\n');
  }

  const partition = ROLE_ARN.exec(window.roleArn)![1];
  const own = fromNodeProviderChain(a.values['source-profile'] ? { profile: a.values['source-profile'] } : {});
  const ownAccount = deps.ownAccount ?? await callerAccount(own, tvmRegion);
  const lookup = deps.lookup ?? cloudTrailLookup(own, ownAccount, readerRole, partition, tvmRegion);
  // The TVM's vends are recorded in its account: by default the caller's own (a responder of the hub).
  const tvmAccount = tvmAccountOption ?? ownAccount;
  const result = await sessionActivity({
    sessionId: id,
    roleArn: window.roleArn,
    tvmAccount,
    ...(tvmName !== undefined ? { tvmName } : {}),
    from: window.from,
    to: window.to,
    tvmRegion,
    regions,
    canRead: (account) => account === ownAccount || readerRole !== undefined,
    maxCalls,
    ...(before ? { before } : {}),
  }, { lookup, ...(deps.sleep ? { sleep: deps.sleep } : {}) }).catch((err: unknown) => {
    throw new CliError(ExitCode.LOCAL, `CloudTrail: ${printable((err as Error)?.name ?? 'Error')}: ${printable((err as Error)?.message ?? err)}`);
  });

  const page = result.events.slice(0, limit);
  const next = nextToken(result, page, limit, Math.min(window.to.getTime(), before?.time ?? Infinity));
  if (a.flags.has('json')) {
    io.out(`${printableJson({
      SessionId: id,
      Window: { From: window.from.toISOString(), To: window.to.toISOString() },
      Events: page.map(jsonOf),
      Keys: result.keys,
      UnreadAccounts: result.unreadAccounts,
      Regions: result.regions,
      Truncated: result.truncated,
      ...(result.completeAfter ? { CompleteAfter: result.completeAfter.toISOString() } : {}),
      Incomplete: result.incomplete.map((s) => ({ ...s, unreadFrom: s.unreadFrom.toISOString(), unreadTo: s.unreadTo.toISOString() })),
      ...(next ? { NextToken: next } : {}),
    }, 2)}\n`);
  } else if (page.length === 0) {
    io.err(`sentinel-tvm: no CloudTrail event of session ${id} between ${window.from.toISOString()} and ${window.to.toISOString()}\n`);
  } else {
    io.out(table(['TIME', 'ACCOUNT', 'REGION', 'HOP', 'EVENT', 'RESULT', 'CALLER', 'EVENT ID'], page.map((e) => [
      e.time.toISOString(), e.account, e.region, e.kind === 'vend' ? 'vend' : String(e.hop),
      `${e.eventSource.replace(/\.amazonaws\.com$/, '')}:${e.eventName}`,
      e.errorCode ?? 'ok', e.assumedRole ? `${e.caller} -> ${e.assumedRole}` : e.caller, e.eventId,
    ])));
  }
  for (const account of result.unreadAccounts) {
    io.err(account === tvmAccount
      ? `sentinel-tvm: warning: the TVM's account ${account} (--tvm-account), where its vends are recorded, was not read: `
        + `no key of the session could be followed: ${readerRole ? 'its reader role could not be used' : 'pass --reader-role to read it'}\n`
      : `sentinel-tvm: warning: the session's credentials reached account ${account}, which was not read: `
        + `${readerRole ? 'its reader role could not be used' : 'pass --reader-role to read it'}\n`);
  }
  if (result.truncated) {
    io.err(`sentinel-tvm: warning: stopped at ${maxCalls} LookupEvents calls (--max-calls) before reading everything: every event `
      + `after ${result.completeAfter!.toISOString()} is listed; events at or before it may be missing. Not read to the end:\n`);
    for (const s of result.incomplete) {
      const what = s.source === 'vends' ? `the TVM's vends of ${window.roleArn}`
        : s.source === 'key' ? `the calls of key ${s.key} (hop ${s.hop})` : `the record of a hop (hop ${s.hop})`;
      io.err(`  ${what} in ${s.account} ${s.region}, from ${s.unreadFrom.toISOString()} to ${s.unreadTo.toISOString()}\n`);
    }
    if (!next) io.err('sentinel-tvm: no page of older events can be listed within this budget: raise --max-calls\n');
  }
  if (next) io.err(`sentinel-tvm: more events: --next-token ${next}\n`);
  io.err(`sentinel-tvm: ${result.calls} LookupEvents call(s)${result.throttled ? `, ${result.throttled} throttled and retried` : ''} `
    + `in ${result.regions.join(', ')}: calls in other regions (and credentials obtained there) are not listed (--regions)\n`);
  return ExitCode.OK;
}

/**
 * The token of the page after `page`. A cut answer (`truncated`) is complete only after `completeAfter`: past it, the next
 * page starts there again (it may repeat events, never skip one); none when that would not go back in time (`to`).
 */
function nextToken(result: ActivityResult, page: ActivityEvent[], limit: number, to: number): string | undefined {
  const last = page[page.length - 1];
  const complete = result.completeAfter?.getTime();
  if (complete === undefined) return result.events.length > limit ? cursorAfter(last) : undefined;
  if (result.events.length > limit && last.time.getTime() > complete) return cursorAfter(last);
  // Every event at `complete` sorts after this cursor (no account is 000000000000).
  return complete < to ? `${complete}.000000000000.0` : undefined;
}

function jsonOf(e: ActivityEvent): Record<string, unknown> {
  return { ...e, time: e.time.toISOString() };
}

function regionOfUrl(url: string | undefined): string | undefined {
  return url ? /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(url)?.[1] : undefined;
}

async function callerAccount(credentials: AwsCredentialIdentityProvider, region: string): Promise<string> {
  const sts = new STSClient({ region, credentials });
  try {
    const out = await sts.send(new GetCallerIdentityCommand({}));
    if (!out.Account) throw new Error('no account in the answer');
    return out.Account;
  } catch (err) {
    throw new CliError(ExitCode.LOCAL, `no AWS credentials to read CloudTrail with: ${printable((err as Error)?.message ?? err)}`);
  } finally {
    sts.destroy();
  }
}

/** The caller's own credentials in its account; the reader role (when given) in every other account. */
function cloudTrailLookup(
  own: AwsCredentialIdentityProvider, ownAccount: string, readerRole: string | undefined, partition: string, stsRegion: string,
): LookupEvents {
  const clients = new Map<string, CloudTrailClient>();
  return (account, region, input) => {
    const key = `${account}/${region}`;
    let client = clients.get(key);
    if (!client) {
      const credentials = account === ownAccount ? own : fromTemporaryCredentials({
        masterCredentials: own,
        params: { RoleArn: `arn:${partition}:iam::${account}:role/${readerRole}`, RoleSessionName: 'sentinel-tvm-activity', DurationSeconds: 900 },
        // STS of the TVM's region, whichever region is read.
        clientConfig: { region: stsRegion },
      });
      // Our own pacing and retries: the SDK's would hide the throttling we count.
      client = new CloudTrailClient({ region, credentials, maxAttempts: 1 });
      clients.set(key, client);
    }
    return client.send(new LookupEventsCommand(input));
  };
}
