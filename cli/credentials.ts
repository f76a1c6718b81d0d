// credentials (credential_process), exec and env: one way to get credentials, through the cache.
//
// The cache keeps, per TVM URL, profile and signer, the session id and the last credentials (mode 0600, in a 0700
// directory of the user's). Credentials with more than the expiry window left are answered from it without a request
// (and without loading the AWS SDK); otherwise one process at a time vends (cli/lock.ts), continuing the cached
// session, and the others read what it wrote.
import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { failOn, refusalError, refusalOf } from './answer';
import { durationOption, integerOption, parseArgs, type OptionKinds, type ParsedArgs } from './args';
import {
  cacheFile, checkCacheDir, ensureCacheDir, isoTime, isToken, lockFileOf, readEntry, removeSession, signerOf, withoutCredentials, writeSession,
  type CachedCredentials, type CachedSession,
} from './cache';
import { CHAIN_VAR, chainKeyOf, CLIENT_OPTIONS, DEVICE_ID, printableError, profileOption, refuseSelfSigning, SESSION_ID, type Io } from './common';
import { CliError, ExitCode, usageError, type ExitCodeValue } from './errors';
import { humanSeconds, printable, printableJson, shellWord } from './format';
import { acquireLock, LOCK_TIMING } from './lock';
import { parseTvmUrl } from './url';
import { Limits, SESSION_HEADER } from '../src/shared/contract';

/** Credentials with less than this left are replaced (--expiry-window). */
export const DEFAULT_EXPIRY_WINDOW_SECONDS = 300;
/** A session with less than this left is announced on stderr, whatever --verbose says. */
export const SESSION_WARNING_SECONDS = 15 * 60;
/** exec and env hand over credentials that cannot be refreshed: under this, a warning. */
export const HANDOVER_WARNING_SECONDS = 10 * 60;
/** When the TVM cannot be reached, cached credentials of the same session with more than this left still serve. */
const FALLBACK_MIN_SECONDS = 60;
/** For this long after a vend found the TVM unavailable, other calls serve the same cached credentials without trying. */
const UNAVAILABLE_SHARE_SECONDS = 30;
/** Clocks of hosts sharing a cache directory are taken to agree within this (the lock's 10-s staleness assumes it too). */
const CLOCK_SKEW_SECONDS = 10;
/** The longest --wait-approval: a request waits at most a week for its approvals (the TVM's limit). */
const MAX_WAIT_APPROVAL_SECONDS = 7 * 24 * 3600;
/** A vend with these answers ends the cached grant: its id (and credentials) go, a new one needs a new request. */
const GRANT_ENDED = new Map([
  ['APPROVAL_DENIED', 'was denied'],
  ['REQUEST_CANCELLED', 'was cancelled'],
  ['REQUEST_EXPIRED', 'ended before it was used'],
  ['APPROVAL_INVALID', 'is not valid'],
  ['REQUEST_STALE', 'was approved for another role than the profile now names'],
]);

const CREDENTIAL_OPTIONS: OptionKinds = {
  ...CLIENT_OPTIONS,
  'profile': 'value',
  'duration': 'value',
  'new-session': 'flag',
  'device-id': 'value',
  'no-cache': 'flag',
  'expiry-window': 'value',
  'verbose': 'flag',
  'wait-approval': 'value',
};

/** Variables exec and env remove: they would point AWS clients elsewhere. */
const UNSET = ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SECURITY_TOKEN'];

interface Obtained {
  readonly credentials: CachedCredentials;
  readonly sessionId: string;
  readonly sessionExpiresAt?: string;
  readonly source: 'cache' | 'new' | 'continued' | 'fallback';
  /** Why cached credentials serve although they are in the expiry window (source 'fallback'). */
  readonly warning?: string;
}

interface Request {
  readonly profile: string;
  readonly url: URL;
  /** How to name this TVM and signer in a command line the user is told to run (`--url … [--region …]`). */
  readonly target: string;
  /** --wait-approval: how long a pending request is waited for, seconds. */
  readonly waitApproval?: number;
  readonly file: string;
  readonly duration?: number;
  readonly deviceId?: string;
  readonly windowSeconds: number;
  readonly noCache: boolean;
  readonly newSession: boolean;
  readonly verbose: boolean;
}

const secondsLeft = (iso: string, now = Date.now()) => Math.floor((Date.parse(iso) - now) / 1000);
/** The entry's session has ended (as the TVM said when it vended): its credentials never serve. */
const sessionEnded = (entry: CachedSession, now = Date.now()) =>
  entry.sessionExpiresAt !== undefined && secondsLeft(entry.sessionExpiresAt, now) <= 0;
const left = (seconds: number) => (seconds <= 0 ? 'now' : `in ${humanSeconds(seconds)}`);

function requestOf(a: ParsedArgs, io: Io): Request {
  const profile = profileOption(a.values.profile, true)!;
  const duration = integerOption('duration', a.values.duration, Limits.MIN_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS);
  const deviceId = a.values['device-id'];
  if (deviceId !== undefined && !DEVICE_ID.test(deviceId)) throw usageError('--device-id must be 64 lowercase hexadecimal characters');
  const windowSeconds = integerOption('expiry-window', a.values['expiry-window'], 0, Limits.MAX_CREDENTIAL_SECONDS) ?? DEFAULT_EXPIRY_WINDOW_SECONDS;
  const noCache = a.flags.has('no-cache');
  if (noCache && a.values['expiry-window'] !== undefined) throw usageError('--expiry-window has no effect with --no-cache: drop one of them');
  const url = parseTvmUrl(a.values.url ?? io.env.SENTINEL_TVM_URL);
  const sourceProfile = a.values['source-profile'];
  refuseSelfSigning(sourceProfile, io.env);
  const file = cacheFile(url, profile, io.env, signerOf(sourceProfile, io.env));
  const waitApproval = durationOption('wait-approval', a.values['wait-approval'], 1, MAX_WAIT_APPROVAL_SECONDS);
  const target = [`--url ${shellWord(url.href)}`, ...(a.values.region !== undefined ? [`--region ${shellWord(a.values.region)}`] : []),
    ...(sourceProfile !== undefined ? [`--source-profile ${shellWord(sourceProfile)}`] : [])].join(' ');
  return {
    profile,
    url,
    target,
    file,
    duration,
    deviceId,
    windowSeconds,
    noCache,
    newSession: a.flags.has('new-session'),
    verbose: a.flags.has('verbose'),
    waitApproval,
  };
}

/**
 * Cached credentials that may be answered as they are: with more than the expiry window left, or, shortly after a vend
 * found the TVM unavailable, with more than a minute left (so that processes started together do not each wait for
 * the same failure). Never those of a session that has ended.
 */
function usable(req: Request, entry: CachedSession | undefined, now = Date.now()): Obtained | undefined {
  if (req.noCache || req.newSession || !entry?.credentials || sessionEnded(entry, now)) return undefined;
  const credentialsLeft = secondsLeft(entry.credentials.Expiration, now);
  const base = { credentials: entry.credentials, sessionId: entry.sessionId, sessionExpiresAt: entry.sessionExpiresAt };
  if (credentialsLeft > req.windowSeconds) return { ...base, source: 'cache' };
  // A mark in the future (a clock stepped back, a host sharing the directory running fast) counts for nothing.
  const since = entry.unavailableSince;
  const markAge = since ? -secondsLeft(since, now) : undefined;
  if (markAge !== undefined && markAge > -CLOCK_SKEW_SECONDS && markAge < UNAVAILABLE_SHARE_SECONDS && credentialsLeft > FALLBACK_MIN_SECONDS) {
    return {
      ...base,
      source: 'fallback',
      warning: `the TVM was unavailable at ${since}; using the cached credentials of session `
      + `${entry.sessionId}, which expire ${left(credentialsLeft)}`,
    };
  }
  return undefined;
}

/** Credentials for `req`: from the cache, or vended by this process while it holds the lock, or by another. */
async function obtain(a: ParsedArgs, io: Io, req: Request): Promise<Obtained> {
  // Before anything is read or sent: a cache directory others could write is refused (exit 4); readEntry checks it.
  const dir = path.dirname(req.file);
  // --new-session reads nothing from the cache file (a bad one is then replaced, never written through).
  const peek = () => (req.newSession ? undefined : readEntry(req.file));
  if (req.newSession) checkCacheDir(dir);
  const first = usable(req, peek());
  if (first) return first;

  const chainKey = chainKeyOf(req.file);
  const chain = (process.env[CHAIN_VAR] ?? '').split(' ').filter(Boolean);
  if (chain.includes(chainKey)) {
    throw new CliError(ExitCode.LOCAL, `the AWS credentials to sign with lead back to \`sentinel-tvm credentials --profile ${req.profile}\` itself `
      + '(is AWS_PROFILE the profile whose credential_process this is?): pass --source-profile with a profile holding your own credentials');
  }
  // Child processes of the credential chain (another credential_process) inherit it.
  process.env[CHAIN_VAR] = [...chain, chainKey].join(' ');
  const inside = io.env.SENTINEL_TVM_SESSION_ID;
  if (inside && !a.values['source-profile'] && io.env.AWS_ACCESS_KEY_ID && !io.env.AWS_PROFILE) {
    throw usageError(`this runs inside \`sentinel-tvm exec\` (session ${printable(inside)}): the AWS credentials in the environment are a protected `
      + 'role\'s, which cannot sign requests to the TVM: pass --source-profile with a profile holding your own credentials');
  }

  ensureCacheDir(dir); // for the lock file
  const deadline = req.waitApproval === undefined ? undefined : Date.now() + req.waitApproval * 1000;
  for (;;) {
    const got = await underLock(a, io, req, peek, deadline !== undefined);
    if (!('pending' in got)) return got;
    // Waited for outside the lock: the other calls for this profile fail fast meanwhile, they do not queue behind it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { awaitDecision, clientFor } = require('./heavy') as typeof import('./heavy');
    const wait = Math.max(0, deadline! - Date.now());
    io.err(`sentinel-tvm: request ${got.pending} for profile ${req.profile} is waiting for its approvals: waiting up to `
      + `${humanSeconds(Math.ceil(wait / 1000))} (--wait-approval)\n`);
    const waited = await awaitDecision(clientFor(a, io), got.pending, wait, (line) => io.err(`sentinel-tvm: ${line}\n`));
    if (waited.pending) {
      throw new CliError(EXIT_STILL_PENDING, `request ${got.pending} is still waiting for its approvals after ${humanSeconds(req.waitApproval!)} `
        + `(${printable(waited.request?.approval_count ?? 0)} of ${printable(waited.request?.approvals_required ?? '?')}): credentials are vended `
        + 'once it is approved');
    }
    // Decided: the next vend answers for it (activates an approved grant, or says why not and clears it).
  }
}

/** A pending request the caller waits for (--wait-approval), its id. */
interface Pending {
  readonly pending: string;
}

/** Exit code of a request still pending at the end of --wait-approval (and of `request --wait` at its --timeout). */
const EXIT_STILL_PENDING = 5 as number as ExitCodeValue;

async function underLock(a: ParsedArgs, io: Io, req: Request, peek: () => CachedSession | undefined, wait: boolean): Promise<Obtained | Pending> {
  let done: Obtained | undefined;
  const lock = await acquireLock(lockFileOf(req.file), () => {
    done = usable(req, peek());
    return done !== undefined;
  }, {
    waiting: (pid) => verbose(io, req, `another sentinel-tvm${pid ? ` (pid ${pid})` : ''} is vending for this profile: waiting for it`),
    tookOver: (t) => verbose(io, req, {
      gone: `took over the cache lock of pid ${t.pid}, which is no longer running`,
      stale: `took over a cache lock nobody touched for ${humanSeconds(LOCK_TIMING.staleMs / 1000)}`,
      waited: `took over a cache lock after waiting ${humanSeconds(LOCK_TIMING.maxWaitMs / 1000)} for it, longer than any vend takes`,
    }[t.why]),
  });
  if (!lock) return done!;
  try {
    // Another process may have vended between our first read and the lock.
    const entry = peek();
    return usable(req, entry) ?? await vendAndCache(a, io, req, entry, wait);
  } finally {
    lock.release();
  }
}

async function vendAndCache(a: ParsedArgs, io: Io, req: Request, cachedEntry: CachedSession | undefined, wait: boolean): Promise<Obtained | Pending> {
  let entry = cachedEntry;
  // The AWS SDK is loaded only now (heavy.ts): a cache hit never needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { clientFor, send } = require('./heavy') as typeof import('./heavy');
  const client = clientFor(a, io);
  const cached = req.newSession ? undefined : entry?.sessionId;
  const vend = (sessionId: string | undefined) => send(client, 'GET', '/', {
    query: { profile: req.profile, duration: req.duration?.toString(), device_id: req.deviceId },
    headers: sessionId ? { [SESSION_HEADER]: sessionId } : {},
  });
  let res;
  try {
    res = await vend(cached);
  } catch (err) {
    // Unreachable (exit 3): cached credentials may serve. Anything else (no credentials to sign with...) is reported.
    if (err instanceof CliError && err.exitCode === ExitCode.SERVER) return fallback(io, req, entry, err);
    throw err;
  }
  if (cached && res.status >= 400) {
    const code = refusalOf(res).code;
    if (code === 'SESSION_EXPIRED' || code === 'SESSION_NOT_FOUND') {
      // A grant's end is told once the new vend says whether the profile still needs one (APPROVAL_REQUIRED, below).
      if (!entry?.grant) {
        io.err(`sentinel-tvm: session ${cached} ${code === 'SESSION_EXPIRED' ? 'has ended' : 'is unknown to the TVM'}: starting a new session\n`);
      }
      // The session is over: its credentials neither serve as a fallback nor stay cached, whatever the next vend does.
      if (entry?.credentials) {
        entry = withoutCredentials(entry);
        rewrite(io, req, entry);
      }
      const ended = entry;
      res = await vend(undefined);
      // The profile is gated: no session starts without a new grant. One retry, then this, never a loop.
      if (res.status >= 400 && refusalOf(res).code === 'APPROVAL_REQUIRED') {
        forget(io, req);
        const at = ended?.sessionExpiresAt;
        throw new CliError(ExitCode.REFUSED, approvalBlock(req, refusalOf(res).message, ended?.grant && code === 'SESSION_EXPIRED'
          ? `your access window for profile ${req.profile} ended${at ? ` at ${at}` : ''} (session ${cached}): request access again.`
          : `session ${cached} is over, and profile ${req.profile} needs an approved grant for a new one: request access.`));
      }
    } else if (GRANT_ENDED.has(code) || (entry?.grant && code === 'SESSION_REVOKED')) {
      // A grant that is over is forgotten: the next call asks for a grant again instead of repeating this refusal.
      forget(io, req);
      const refusal = printable(refusalError(refusalOf(res)).message);
      const how = GRANT_ENDED.get(code) ?? 'was revoked';
      throw new CliError(ExitCode.REFUSED, `${refusal}\nsentinel-tvm: ${entry?.grant === 'breakglass' ? 'break-glass session' : 'request'} ${cached} `
        + `of profile ${req.profile} ${how}; it is cleared from the cache (\`sentinel-tvm requests get ${cached}\` tells who and why). `
        + `To ask again:\n  sentinel-tvm request --profile ${req.profile} --reason "…" ${req.target}`);
    } else if (code === 'APPROVAL_PENDING') {
      if (wait) return { pending: cached };
      const refusal = printable(refusalError(refusalOf(res)).message);
      throw new CliError(ExitCode.REFUSED, `${refusal}\nsentinel-tvm: request ${cached} for profile ${req.profile} is waiting for its approvals: `
        + `credentials are vended once it is approved (\`sentinel-tvm requests get ${cached}\` shows it; --wait-approval DURATION waits for it)`);
    } else if (code === 'SESSION_REVOKED' || code === 'SESSION_FORBIDDEN') {
      // Its credentials go; its id stays, so that every call says so until --new-session.
      if (entry?.credentials) rewrite(io, req, withoutCredentials(entry));
      const why = code === 'SESSION_REVOKED' ? `session ${cached} was revoked` : `session ${cached} belongs to another principal`;
      const refusal = printable(refusalError(refusalOf(res)).message);
      throw new CliError(ExitCode.REFUSED, `${refusal}\nsentinel-tvm: ${why}; --new-session starts a new one`);
    }
  }
  if (res.status >= 400 && refusalOf(res).code === 'APPROVAL_REQUIRED') {
    // A gated profile (or a standing session of a profile that is now gated): whatever is cached of it goes.
    if (entry) forget(io, req);
    throw new CliError(ExitCode.REFUSED, `${printable(refusalError(refusalOf(res)).message)}\nsentinel-tvm: `
      + approvalBlock(req, refusalOf(res).message, `profile ${req.profile} needs an approved grant before credentials are vended.`));
  }
  try {
    failOn(res);
  } catch (err) {
    // A failure of the TVM, or its throttling: not a refusal of this session, so its cached credentials may serve.
    if (res.status >= 500 || res.status === 429) return fallback(io, req, entry, printableError(err) as CliError);
    throw printableError(err);
  }
  const c = res.json;
  for (const field of ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration', 'SessionId']) {
    if (typeof c[field] !== 'string' || c[field] === '') {
      throw new CliError(ExitCode.SERVER, `the TVM's answer lacks ${field}: is --url the TVM's API?`);
    }
  }
  // Nothing from the answer reaches a file, a shell line or a terminal unless it has the form AWS gives it.
  for (const field of ['AccessKeyId', 'SecretAccessKey', 'Token']) {
    if (!isToken(c[field])) throw new CliError(ExitCode.SERVER, `the TVM answered a malformed ${field} (not printable ASCII)`);
  }
  if (!SESSION_ID.test(c.SessionId)) throw new CliError(ExitCode.SERVER, 'the TVM answered a malformed session id');
  const expiration = isoTime(c.Expiration);
  if (!expiration) throw new CliError(ExitCode.SERVER, 'the TVM answered a malformed Expiration');
  const sessionExpiresAt = isoTime(c.SessionExpiresAt);
  const vended: CachedCredentials = {
    AccessKeyId: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.Token, Expiration: expiration,
  };
  rewrite(io, req, {
    url: req.url.href,
    profile: req.profile,
    sessionId: c.SessionId,
    updatedAt: new Date().toISOString(),
    ...(sessionExpiresAt ? { sessionExpiresAt } : {}),
    ...(req.noCache ? {} : { credentials: vended }),
    ...(entry?.grant && entry.sessionId === c.SessionId ? { grant: entry.grant } : {}),
  });
  if (!req.noCache && secondsLeft(expiration) <= req.windowSeconds) {
    verbose(io, req, `these credentials last ${humanSeconds(Math.max(0, secondsLeft(expiration)))}, no more than the expiry window `
      + `(${req.windowSeconds} s): the next call vends again (a longer --duration, or a shorter --expiry-window, lets them be reused)`);
  }
  return { credentials: vended, sessionId: c.SessionId, sessionExpiresAt, source: cached && c.SessionId === cached ? 'continued' : 'new' };
}

/**
 * `err` says the TVM could not be reached, failed (exit 3) or throttled (429): credentials of the cached session that
 * are still good for more than a minute serve, with a warning, as an AWS client would keep using what it holds; the
 * entry says so for {@link UNAVAILABLE_SHARE_SECONDS}, for the processes waiting behind this one. Otherwise `err` is
 * thrown. A refusal never comes here, and a session that has ended never falls back.
 */
function fallback(io: Io, req: Request, entry: CachedSession | undefined, err: CliError): Obtained {
  const c = entry?.credentials;
  if (req.noCache || req.newSession || !entry || !c || sessionEnded(entry) || secondsLeft(c.Expiration) <= FALLBACK_MIN_SECONDS) {
    throw err;
  }
  rewrite(io, req, { ...entry, unavailableSince: isoTime(new Date().toISOString()) });
  return {
    credentials: c,
    sessionId: entry.sessionId,
    sessionExpiresAt: entry.sessionExpiresAt,
    source: 'fallback',
    warning: `${err.message}; using the cached credentials of session ${entry.sessionId}, which expire ${left(secondsLeft(c.Expiration))}`,
  };
}

/**
 * What to do about APPROVAL_REQUIRED, in one block (never a prompt: a credential process has no terminal): the command that
 * asks for access, and break-glass when the TVM's message says the caller may break glass.
 */
function approvalBlock(req: Request, message: string, headline: string): string {
  const mayRequest = /sentinel-tvm request/.test(message) || !/breakglass/.test(message);
  const lines = [headline];
  if (mayRequest) {
    lines.push('Ask for access (the approvers are told), then run this again once it is approved:',
      `  sentinel-tvm request --profile ${req.profile} --reason "…" ${req.target}`);
  }
  if (/breakglass/.test(message)) {
    lines.push(`${mayRequest ? 'In an emergency you may break glass instead' : 'You may break glass in an emergency'} (approvers and security are `
      + 'notified, and the session must be reviewed):', `  sentinel-tvm breakglass --profile ${req.profile} --reason "…" ${req.target}`);
  }
  // The first line follows main's own `sentinel-tvm: `.
  return lines.map((l, i) => (l.startsWith('  ') || i === 0 ? l : `sentinel-tvm: ${l}`)).join('\n');
}

/** The cache entry goes: the session id with its credentials (the caller holds the entry's lock). */
function forget(io: Io, req: Request): void {
  try {
    removeSession(req.file);
  } catch (err) {
    io.err(`sentinel-tvm: warning: the session cache was not cleared: ${printable((err as Error).message)}\n`);
  }
}

function rewrite(io: Io, req: Request, entry: CachedSession): void {
  try {
    writeSession(req.file, entry);
  } catch (err) {
    // The credentials are good; only the next call cannot reuse them or continue this session.
    io.err(`sentinel-tvm: warning: ${(err as Error).message}\n`);
  }
}

function verbose(io: Io, req: Request, message: string): void {
  if (req.verbose) io.err(`sentinel-tvm: ${message}\n`);
}

/** What the user is told on stderr: with --verbose, where the credentials come from and how long they and the session last. */
function tell(io: Io, req: Request, got: Obtained, handover: boolean): void {
  const now = Date.now();
  const credentialsLeft = secondsLeft(got.credentials.Expiration, now);
  const sessionLeft = got.sessionExpiresAt ? secondsLeft(got.sessionExpiresAt, now) : undefined;
  if (got.warning) io.err(`sentinel-tvm: warning: ${printable(got.warning)}\n`);
  const from = {
    cache: 'from the cache', fallback: 'from the cache', new: 'vended in a new session', continued: 'vended, continuing the session',
  }[got.source];
  verbose(io, req, `profile ${req.profile}, session ${got.sessionId}: credentials ${from}; they expire ${left(credentialsLeft)} `
    + `(${got.credentials.Expiration}), the session ${sessionLeft === undefined ? 'at a time the TVM did not say' : `ends ${left(sessionLeft)} (${got.sessionExpiresAt})`}`);
  if (sessionLeft !== undefined && sessionLeft < SESSION_WARNING_SECONDS) {
    io.err(`sentinel-tvm: warning: session ${got.sessionId} ends ${left(sessionLeft)} (${got.sessionExpiresAt}), and no credentials outlive it: `
      + 'work that needs longer should start a new session now (--new-session)\n');
  }
  if (handover && credentialsLeft < HANDOVER_WARNING_SECONDS) {
    io.err(`sentinel-tvm: warning: these credentials expire ${left(credentialsLeft)} (${got.credentials.Expiration}) and cannot be refreshed `
      + 'inside the command: for longer, --duration (up to the profile\'s maximum), or --expiry-window to replace credentials with less time left\n');
  }
}

/** The three commands' common start: options read, credentials obtained, the user told. `--json` is none of theirs. */
async function start(argv: readonly string[], io: Io, command: 'credentials' | 'env' | 'exec', noJson: string) {
  const a = parseArgs(argv, CREDENTIAL_OPTIONS, [], `sentinel-tvm ${command}`);
  if (a.flags.has('json')) throw usageError(noJson);
  const req = requestOf(a, io);
  const got = await obtain(a, io, req);
  tell(io, req, got, command !== 'credentials');
  return { req, got };
}

export async function credentials(argv: readonly string[], io: Io): Promise<number> {
  const { got } = await start(argv, io, 'credentials', '`credentials` always prints JSON (the credential_process format): drop --json');
  const c = got.credentials;
  io.out(`${printableJson({ Version: 1, AccessKeyId: c.AccessKeyId, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expiration })}\n`);
  return ExitCode.OK;
}

/** The variables exec sets and env prints. */
function variablesOf(req: Request, got: Obtained): Record<string, string> {
  const c = got.credentials;
  return {
    AWS_ACCESS_KEY_ID: c.AccessKeyId,
    AWS_SECRET_ACCESS_KEY: c.SecretAccessKey,
    AWS_SESSION_TOKEN: c.SessionToken,
    AWS_CREDENTIAL_EXPIRATION: c.Expiration,
    SENTINEL_TVM_PROFILE: req.profile,
    SENTINEL_TVM_SESSION_ID: got.sessionId,
  };
}

/** `sentinel-tvm env`: export lines for a POSIX shell (`eval "$(sentinel-tvm env --profile NAME)"`). */
export async function env(argv: readonly string[], io: Io): Promise<number> {
  const { req, got } = await start(argv, io, 'env', '`env` prints shell export lines: drop --json (`credentials` prints JSON)');
  const quote = (v: string) => `'${v.replace(/'/g, '\'\\\'\'')}'`;
  const lines = Object.entries(variablesOf(req, got)).map(([k, v]) => `export ${k}=${quote(printable(v))}`);
  io.out(`${lines.join('\n')}\nunset ${UNSET.join(' ')}\n`);
  return ExitCode.OK;
}

/** `sentinel-tvm exec --profile NAME -- COMMAND [ARGS...]`: runs the command with the credentials in its environment. */
export async function exec(argv: readonly string[], io: Io): Promise<number> {
  const split = argv.indexOf('--');
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (command.length === 0) throw usageError('`sentinel-tvm exec` needs a command after --: sentinel-tvm exec --profile NAME -- COMMAND [ARGS...]');
  const { req, got } = await start(argv.slice(0, split), io, 'exec', '`exec` takes no --json');
  const childEnv: NodeJS.ProcessEnv = { ...io.env, ...variablesOf(req, got) };
  // The command's own credential_process calls are not part of this chain (cli/common.ts).
  for (const k of [...UNSET, CHAIN_VAR]) delete childEnv[k];
  return run(command, childEnv, io);
}

/** Runs the command as a child with the terminal; its exit code (128 + signal number when killed) is returned. */
function run(command: readonly string[], childEnv: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env: childEnv });
    // Signals sent to this process reach the command, which decides how to end; its exit code is ours.
    // Ctrl-C and Ctrl-\\ reach the whole foreground process group from the terminal, the command included: passed on
    // again they would arrive twice (a second Ctrl-C means "stop now" to some tools). This process only outlives them.
    const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
    const fromTerminal: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];
    const forward = (signal: NodeJS.Signals) => { child.kill(signal); };
    const ignore = () => undefined;
    for (const s of forwarded) process.on(s, forward);
    for (const s of fromTerminal) process.on(s, ignore);
    const done = (code: number) => {
      for (const s of forwarded) process.removeListener(s, forward);
      for (const s of fromTerminal) process.removeListener(s, ignore);
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const notFound = err.code === 'ENOENT';
      io.err(`sentinel-tvm: cannot run ${printable(command[0])}: ${notFound ? 'command not found' : printable(err.message)}\n`);
      done(notFound ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      done(code ?? 128 + (signal ? os.constants.signals[signal] ?? 0 : 0));
    });
  });
}
