// profiles and sessions: every call goes to the TVM (credentials, exec and env are in credentials.ts); proof: no call at all.
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { ACCESS_COMMANDS, type AccessIo } from './access-commands';
import { sessionsActivity } from './activity-command';
import { integerOption, parseArgs, type OptionKinds, type ParsedArgs } from './args';
import { forgetSession } from './cache';
import { failOn, oneLine, TvmClient, type TvmResponse } from './client';
import { CLIENT_OPTIONS, printableError, profileOption, sessionIdArg, type Io } from './common';
import { CliError, ExitCode, usageError } from './errors';
import { humanSeconds, keyValues, printable, printableJson, table } from './format';
import { identityProof } from './proof';
import { Introspection, Paging, Patterns, Limits, Status } from '../src/shared/contract';

export { chainKeyOf, credentialProcessOf, type Io } from './common';

export function clientFor(a: ParsedArgs, io: Io): TvmClient {
  return new TvmClient({
    url: a.values.url ?? io.env.SENTINEL_TVM_URL ?? '',
    region: a.values.region,
    sourceProfile: a.values['source-profile'],
    userAgent: io.userAgent,
  });
}

function printJson(io: Io, value: unknown): void {
  io.out(`${printableJson(value, 2)}\n`);
}

/** {@link TvmClient.request}, its error made printable. */
export function send(client: TvmClient, ...request: Parameters<TvmClient['request']>): Promise<TvmResponse> {
  return client.request(...request).catch((err: unknown) => { throw printableError(err); });
}

/** {@link failOn}, its error made printable. */
export function check(res: TvmResponse): void {
  try {
    failOn(res);
  } catch (err) {
    throw printableError(err);
  }
}

export async function profiles(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, CLIENT_OPTIONS, [], 'sentinel-tvm profiles');
  const res = await send(clientFor(a, io), 'GET', '/profiles');
  check(res);
  if (a.flags.has('json')) {
    printJson(io, res.json);
    return ExitCode.OK;
  }
  const list: { Name: string; MaxDurationSeconds: number }[] = res.json.Profiles ?? [];
  if (list.length === 0) {
    io.err('sentinel-tvm: no profile of this TVM allows you\n');
    return ExitCode.OK;
  }
  io.out(table(['PROFILE', 'MAX CREDENTIAL DURATION'], list.map((p) => [p.Name, `${humanSeconds(p.MaxDurationSeconds)} (${p.MaxDurationSeconds} s)`])));
  return ExitCode.OK;
}

const STATUSES: readonly string[] = Object.values(Status);

export async function sessions(argv: readonly string[], io: Io): Promise<number> {
  const [action, ...rest] = argv;
  switch (action) {
    case 'list': return listSessions(rest, io);
    case 'get': return showSession(rest, io, 'get');
    case 'end': return showSession(rest, io, 'end');
    case 'revoke': return showSession(rest, io, 'revoke');
    case 'activity': return sessionsActivity(rest, io, async (id, a) => {
      const res = await send(clientFor(a, io), 'GET', `/sessions/${id}`);
      check(res);
      return res.json.Session ?? {};
    });
    case undefined: throw usageError('`sentinel-tvm sessions` needs an action: list, get, end, revoke or activity (see `sentinel-tvm sessions --help`)');
    default: throw usageError(`unknown action "${action}" for \`sentinel-tvm sessions\`: expected list, get, end, revoke or activity`);
  }
}

async function listSessions(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, {
    ...CLIENT_OPTIONS, 'status': 'value', 'user': 'value', 'profile': 'value', 'limit': 'value', 'all': 'flag', 'next-token': 'value',
  }, [], 'sentinel-tvm sessions list');
  const status = a.values.status;
  if (status !== undefined && !STATUSES.includes(status)) throw usageError(`--status "${status}": expected ${STATUSES.join(', ')}`);
  const profile = profileOption(a.values.profile, false);
  const limit = integerOption('limit', a.values.limit, 1, Paging.MAX_LIMIT);
  if (a.flags.has('all') && a.values['next-token'] !== undefined) throw usageError('--all and --next-token do not go together');
  const client = clientFor(a, io);
  const all: any[] = [];
  let nextToken = a.values['next-token'];
  for (;;) {
    const res = await send(client, 'GET', '/sessions', {
      query: { status, user: a.values.user, profile, limit: limit?.toString(), nextToken },
    });
    check(res);
    all.push(...(res.json.Sessions ?? []));
    nextToken = res.json.NextToken;
    if (!a.flags.has('all') || !nextToken) break;
  }
  if (a.flags.has('json')) {
    printJson(io, { Sessions: all, ...(nextToken ? { NextToken: nextToken } : {}) });
    return ExitCode.OK;
  }
  if (all.length === 0) {io.err('sentinel-tvm: no sessions\n');} else {
    io.out(table(['SESSION', 'USER', 'PROFILE', 'STATUS', 'REQUESTS', 'STARTED', 'LAST ACCESS', 'EXPIRES'], all.map((s) => [
      s.id, s.user, s.profile, s.effective_status ?? s.status, s.request_count, s.started_at, s.last_access_at, s.expires_at,
    ])));
  }
  if (nextToken) io.err(`sentinel-tvm: more sessions: add --all, or --next-token ${printable(nextToken)}\n`);
  return ExitCode.OK;
}

async function showSession(argv: readonly string[], io: Io, action: 'get' | 'end' | 'revoke'): Promise<number> {
  const kinds: OptionKinds = action === 'revoke'
    ? { ...CLIENT_OPTIONS, 'reason': 'value', 'profile': 'value', 'block-principal-for': 'value' } : CLIENT_OPTIONS;
  const a = parseArgs(argv, kinds, ['id'], `sentinel-tvm sessions ${action}`);
  const id = sessionIdArg(a.positionals[0]);
  let body: unknown;
  if (action === 'revoke') {
    const reason = a.values.reason;
    if (reason === undefined || reason.trim() === '' || reason.length > Limits.MAX_REVOKE_REASON) {
      throw usageError(`--reason is required: why the session is revoked, 1 to ${Limits.MAX_REVOKE_REASON} characters`);
    }
    const profile = a.values.profile;
    if (profile !== undefined && !new RegExp(Patterns.PROFILE).test(profile)) throw usageError(`--profile "${profile}" is not a profile name`);
    const block = integerOption('block-principal-for', a.values['block-principal-for'], 60, 7 * 24 * 3600);
    body = { reason, ...(profile !== undefined ? { profile } : {}), ...(block !== undefined ? { blockPrincipalSeconds: block } : {}) };
  }
  const client = clientFor(a, io);
  const method = action === 'get' ? 'GET' : action === 'end' ? 'DELETE' : 'POST';
  const res = await send(client, method, `/sessions/${id}${action === 'revoke' ? '/revoke' : ''}`, { body });
  check(res);
  if (action !== 'get') await clearCached(id, action === 'end' ? 'ended' : 'revoked', io);
  if (a.flags.has('json')) {
    printJson(io, res.json);
    return ExitCode.OK;
  }
  const s = res.json.Session ?? {};
  if (action !== 'get') {
    io.err(`sentinel-tvm: session ${id} ${action === 'end' ? 'ended' : 'revoked'}\n`);
  }
  const blocked = res.json.Blocked;
  if (blocked) {
    io.err(printable(`sentinel-tvm: ${blocked.principal_arn} may start no session until ${blocked.until} `
      + `(${blocked.revoked_sessions} other active session(s) revoked)`) + '\n');
  }
  io.out(keyValues(Object.entries(s).map(([k, v]) => [k, v])));
  return ExitCode.OK;
}

/** The session's credentials cached on this machine go with it (the session is over either way). */
export async function clearCached(id: string, how: 'ended' | 'revoked', io: Io): Promise<void> {
  try {
    const n = await forgetSession(id, how, io.env, {
      waiting: (pid) => io.err(`sentinel-tvm: waiting for the session cache lock${pid ? ` of pid ${pid}` : ''} (a vend in flight) to clear `
        + 'the cached credentials\n'),
    });
    if (n > 0) io.err(`sentinel-tvm: session ${id}: its cached credentials on this machine are cleared\n`);
  } catch (err) {
    io.err(`sentinel-tvm: warning: the session cache was not cleared: ${printable((err as Error).message)}\n`);
  }
}

/** The gated-access commands (access-commands.ts): request, requests, approve, deny, cancel, withdraw, breakglass, reviews, review. */
export function access(command: string, argv: readonly string[], io: AccessIo): Promise<number> {
  const run = Object.prototype.hasOwnProperty.call(ACCESS_COMMANDS, command) ? ACCESS_COMMANDS[command] : undefined;
  if (!run) throw usageError(`unknown command "${command}"`);
  return run(argv, io);
}

/** `sentinel-tvm proof`: an identity proof for a relying party, made with the environment's or a profile's credentials. */
export async function proof(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, { audience: 'value', region: 'value', profile: 'value' }, [], 'sentinel-tvm proof');
  const audience = a.values.audience;
  if (audience === undefined) throw usageError('--audience is required: the audience of the service the proof is for (e.g. its host name)');
  if (!new RegExp(Introspection.AUDIENCE_PATTERN).test(audience)) {
    throw usageError(`--audience "${audience}": expected letters, digits and .:_- (e.g. a host name), at most 253 characters`);
  }
  const region = a.values.region ?? (io.env.AWS_REGION || io.env.AWS_DEFAULT_REGION);
  if (!region) throw usageError('--region is required (or set AWS_REGION): the TVM\'s region, whose STS checks the proof');
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw usageError(`--region "${region}" is not an AWS region name`);
  const profile = a.values.profile;
  const chain = fromNodeProviderChain(profile !== undefined ? { profile } : {});
  let signed: string;
  try {
    signed = await identityProof(await chain(), region, audience);
  } catch (err) {
    const source = profile !== undefined ? `AWS profile "${profile}"` : 'the environment or the default credential chain';
    throw new CliError(ExitCode.LOCAL, `no AWS credentials to sign with from ${source}: ${oneLine((err as Error)?.message ?? err)}`);
  }
  io.out(`${signed}\n`);
  return ExitCode.OK;
}
