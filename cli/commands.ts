import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { integerOption, parseArgs, type OptionKinds, type ParsedArgs } from './args';
import { cacheFile, checkCacheDir, readSession, writeSession } from './cache';
import { failOn, refusalError, refusalOf, TvmClient, type TvmResponse } from './client';
import { CliError, ExitCode, usageError } from './errors';
import { humanSeconds, keyValues, printable, printableJson, table } from './format';
import { Paging, Patterns, SESSION_HEADER, Limits, Status } from '../src/shared/contract';

/** Where a command writes, and the environment it reads (injectable for tests). */
export interface Io {
  readonly env: NodeJS.ProcessEnv;
  readonly userAgent?: string;
  out(text: string): void;
  err(text: string): void;
}

const PROFILE = new RegExp(Patterns.PROFILE);
const SESSION_ID = new RegExp(Patterns.SESSION_ID);
const DEVICE_ID = new RegExp(Patterns.DEVICE_ID);
const CLIENT_OPTIONS: OptionKinds = { 'url': 'value', 'region': 'value', 'source-profile': 'value', 'json': 'flag' };

/**
 * Guards against a credential chain that leads back to this very command (AWS_PROFILE naming the profile whose
 * credential_process is `sentinel-tvm credentials`): every nested call would start another one, without end.
 */
const CHAIN_VAR = 'SENTINEL_TVM_CREDENTIAL_CHAIN';
/** Names a TVM URL and profile in {@link CHAIN_VAR}: the tail of its cache file's digest. */
export const chainKeyOf = (cachePath: string) => path.basename(cachePath, '.json').slice(-16);

/** The credential_process of a profile of the AWS config file, if any (a minimal INI read: sections and keys). */
export function credentialProcessOf(profile: string, env: NodeJS.ProcessEnv): string | undefined {
  const file = env.AWS_CONFIG_FILE ?? path.join(os.homedir(), '.aws', 'config');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      const name = section[1].replace(/^profile\s+/, '');
      inside = name === profile;
      continue;
    }
    const kv = inside ? /^credential_process\s*=\s*(.*)$/.exec(line) : null;
    if (kv) return kv[1];
  }
  return undefined;
}

/**
 * The credential chain would run `sentinel-tvm credentials` again to get credentials to sign with: a profile whose
 * credentials come from the TVM cannot sign its own request to the TVM.
 */
function refuseSelfSigning(sourceProfile: string | undefined, env: NodeJS.ProcessEnv): void {
  const profile = sourceProfile ?? env.AWS_PROFILE;
  if (!profile) return;
  const command = credentialProcessOf(profile, env);
  if (command && /sentinel-tvm/.test(command) && /\bcredentials\b/.test(command)) {
    const via = sourceProfile ? `--source-profile ${profile}` : `AWS_PROFILE=${profile}`;
    throw usageError(`${via} gets its credentials from \`sentinel-tvm credentials\` itself, so it cannot sign requests to the TVM: `
      + 'pass --source-profile with the profile that holds your own credentials (or unset AWS_PROFILE for this command)');
  }
}

function clientFor(a: ParsedArgs, io: Io): TvmClient {
  return new TvmClient({
    url: a.values.url ?? io.env.SENTINEL_TVM_URL ?? '',
    region: a.values.region,
    sourceProfile: a.values['source-profile'],
    userAgent: io.userAgent,
  });
}

function profileOption(raw: string | undefined, required: boolean): string | undefined {
  if (raw === undefined) {
    if (required) throw usageError('--profile is required: the name of a TVM profile (`sentinel-tvm profiles` lists yours)');
    return undefined;
  }
  if (!PROFILE.test(raw)) throw usageError(`--profile "${raw}" is not a profile name: expected ${Patterns.PROFILE}`);
  return raw;
}

function sessionIdArg(raw: string): string {
  if (!SESSION_ID.test(raw)) throw usageError(`session id "${raw}" is not valid: expected 16 lowercase hexadecimal characters`);
  return raw;
}

function printJson(io: Io, value: unknown): void {
  io.out(`${printableJson(value, 2)}\n`);
}

/** The TVM's error code and message (or a peer's text in a network error) reach the terminal made printable. */
function printableError(err: unknown): unknown {
  return err instanceof CliError ? new CliError(err.exitCode, printable(err.message)) : err;
}

/** {@link TvmClient.request}, its error made printable. */
function send(client: TvmClient, ...request: Parameters<TvmClient['request']>): Promise<TvmResponse> {
  return client.request(...request).catch((err: unknown) => { throw printableError(err); });
}

/** {@link failOn}, its error made printable. */
function check(res: TvmResponse): void {
  try {
    failOn(res);
  } catch (err) {
    throw printableError(err);
  }
}

export async function credentials(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, {
    ...CLIENT_OPTIONS, 'profile': 'value', 'duration': 'value', 'new-session': 'flag', 'device-id': 'value',
  }, [], 'sentinel-tvm credentials');
  if (a.flags.has('json')) throw usageError('`credentials` always prints JSON (the credential_process format): drop --json');
  const profile = profileOption(a.values.profile, true)!;
  const duration = integerOption('duration', a.values.duration, Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS);
  const deviceId = a.values['device-id'];
  if (deviceId !== undefined && !DEVICE_ID.test(deviceId)) throw usageError('--device-id must be 64 lowercase hexadecimal characters');
  const client = clientFor(a, io);
  refuseSelfSigning(a.values['source-profile'], io.env);
  const file = cacheFile(client.url, profile, io.env);

  const chainKey = chainKeyOf(file);
  const chain = (process.env[CHAIN_VAR] ?? '').split(' ').filter(Boolean);
  if (chain.includes(chainKey)) {
    throw new CliError(ExitCode.LOCAL, `the AWS credentials to sign with lead back to \`sentinel-tvm credentials --profile ${profile}\` itself `
      + '(is AWS_PROFILE the profile whose credential_process this is?): pass --source-profile with a profile holding your own credentials');
  }
  // Child processes of the credential chain (another credential_process) inherit it.
  process.env[CHAIN_VAR] = [...chain, chainKey].join(' ');

  // Before anything is sent, even when --new-session will not read it: a cache others could write is refused (exit 4).
  checkCacheDir(path.dirname(file));
  const cached = a.flags.has('new-session') ? undefined : readSession(file);
  const vend = (sessionId: string | undefined): Promise<TvmResponse> => send(client, 'GET', '/', {
    query: { profile, duration: duration?.toString(), device_id: deviceId },
    headers: sessionId ? { [SESSION_HEADER]: sessionId } : {},
  });
  let res = await vend(cached);
  if (cached && res.status >= 400) {
    const code = refusalOf(res).code;
    if (code === 'SESSION_EXPIRED' || code === 'SESSION_NOT_FOUND') {
      io.err(`sentinel-tvm: session ${cached} ${code === 'SESSION_EXPIRED' ? 'has ended' : 'is unknown to the TVM'}: starting a new session\n`);
      res = await vend(undefined);
    } else if (code === 'SESSION_REVOKED' || code === 'SESSION_FORBIDDEN') {
      const why = code === 'SESSION_REVOKED' ? `session ${cached} was revoked` : `session ${cached} belongs to another principal`;
      const refusal = printable(refusalError(refusalOf(res)).message);
      throw new CliError(ExitCode.REFUSED, `${refusal}\nsentinel-tvm: ${why}; --new-session starts a new one`);
    }
  }
  check(res);
  const c = res.json;
  for (const field of ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration', 'SessionId']) {
    if (typeof c[field] !== 'string' || c[field] === '') {
      throw new CliError(ExitCode.SERVER, `the TVM's answer lacks ${field}: is --url the TVM's API?`);
    }
  }
  if (!SESSION_ID.test(c.SessionId)) throw new CliError(ExitCode.SERVER, 'the TVM answered a malformed session id');
  try {
    writeSession(file, { url: client.url.href, profile, sessionId: c.SessionId, updatedAt: new Date().toISOString() });
  } catch (err) {
    // The credentials are good; only the next call cannot continue this session.
    io.err(`sentinel-tvm: warning: ${(err as Error).message}\n`);
  }
  io.out(`${printableJson({
    Version: 1,
    AccessKeyId: c.AccessKeyId,
    SecretAccessKey: c.SecretAccessKey,
    SessionToken: c.Token,
    Expiration: c.Expiration,
  })}\n`);
  return ExitCode.OK;
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
    case undefined: throw usageError('`sentinel-tvm sessions` needs an action: list, get, end or revoke (see `sentinel-tvm sessions --help`)');
    default: throw usageError(`unknown action "${action}" for \`sentinel-tvm sessions\`: expected list, get, end or revoke`);
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
  if (a.flags.has('json')) {
    printJson(io, res.json);
    return ExitCode.OK;
  }
  const s = res.json.Session ?? {};
  if (action !== 'get') io.err(`sentinel-tvm: session ${id} ${action === 'end' ? 'ended' : 'revoked'}\n`);
  const blocked = res.json.Blocked;
  if (blocked) {
    io.err(printable(`sentinel-tvm: ${blocked.principal_arn} may start no session until ${blocked.until} `
      + `(${blocked.revoked_sessions} other active session(s) revoked)`) + '\n');
  }
  io.out(keyValues(Object.entries(s).map(([k, v]) => [k, v])));
  return ExitCode.OK;
}


