import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError, ExitCode } from './errors';
import { acquireLock, type LockEvents } from './lock';
import { readOwnFile } from './own-file';
import { GrantKinds, type GrantKind } from '../src/shared/access';
import { Patterns } from '../src/shared/contract';

/** Where sessions and their credentials are kept: `$SENTINEL_TVM_CACHE_DIR`, else `$XDG_CACHE_HOME/sentinel-tvm`, else `~/.cache/sentinel-tvm`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SENTINEL_TVM_CACHE_DIR) return path.resolve(env.SENTINEL_TVM_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'sentinel-tvm');
  return path.join(os.homedir(), '.cache', 'sentinel-tvm');
}

/**
 * Who signs the requests, as far as it can be told without resolving any credentials (a cache hit resolves none):
 * the profile (`--source-profile`, else AWS_PROFILE, for which the SDK skips the environment's keys) with the config and
 * credentials files it is read from; else the access key in the environment; else the default chain with every setting
 * that chooses its identity (files, web identity, container credentials). Calls that differ in any of them keep
 * different cache entries: credentials vended to one are not answered to another.
 */
export function signerOf(sourceProfile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME ?? os.homedir();
  // As the SDK reads them: a leading ~/ is the home directory, not a folder of the working directory.
  const file = (set: string | undefined, fallback: string) => path.resolve(set?.startsWith('~/') ? path.join(home, set.slice(2)) : set ?? fallback);
  const files = [
    file(env.AWS_CONFIG_FILE, path.join(home, '.aws', 'config')),
    file(env.AWS_SHARED_CREDENTIALS_FILE, path.join(home, '.aws', 'credentials')),
  ];
  const profile = sourceProfile ?? env.AWS_PROFILE;
  if (profile) return JSON.stringify(['profile', profile, ...files]);
  if (env.AWS_ACCESS_KEY_ID) return JSON.stringify(['key', env.AWS_ACCESS_KEY_ID]);
  return JSON.stringify(['default', ...files, ...['AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_SESSION_NAME',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'].map((k) => env[k] ?? '')]);
}

/** One file per TVM URL, profile and signer (see {@link signerOf}); the name is a digest of the three. */
export function cacheFile(url: URL, profile: string, env: NodeJS.ProcessEnv = process.env, signer = signerOf(undefined, env)): string {
  const key = `${url.origin}${url.pathname.replace(/\/+$/, '')}\n${profile}\n${signer}`;
  return path.join(cacheDir(env), `session-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
}

/** The lock file that lets one process at a time vend for a cache file (cli/lock.ts). */
export const lockFileOf = (file: string) => file.replace(/\.json$/, '.lock');

/** Credentials as the credential_process format has them. */
export interface CachedCredentials {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  /** ISO 8601 UTC. */
  readonly Expiration: string;
}

export interface CachedSession {
  readonly url: string;
  readonly profile: string;
  readonly sessionId: string;
  readonly updatedAt: string;
  /** When the session ends, as the TVM said (absent from older TVMs and FAIL_OPEN vends). */
  readonly sessionExpiresAt?: string;
  /** The last credentials vended, unless the cache is off (--no-cache) or they were cleared. */
  readonly credentials?: CachedCredentials;
  /** When a vend last found the TVM unavailable and these credentials served instead (see credentials.ts). */
  readonly unavailableSince?: string;
  /**
   * The session is a grant of a gated profile (`sentinel-tvm request` or `breakglass` wrote it): once it ends, revoked or
   * refused, its id goes too, as a new one needs a new request, never a silent new session.
   */
  readonly grant?: GrantKind;
}

/** Why something about the cache is refused: exit 4, the path and the fix in one line. */
const refused = (message: string) => new CliError(ExitCode.LOCAL, message);
const octal = (mode: number) => `0${(mode % 0o1000).toString(8).padStart(3, '0')}`;
/** Any permission for group or others (the low six bits of the mode). */
const openToOthers = (st: fs.Stats) => st.mode % 0o100 !== 0;
const errorText = (err: unknown) => (err as Error)?.message ?? String(err);

// Whoever can write the cache directory or a cache file chooses the session the next refresh continues: a planted id
// turns every refresh into SESSION_FORBIDDEN. So the directory and the files must be the user's own, closed to
// everyone else, and never symbolic links (a link would lead the reads and checks somewhere else).
// Without process.getuid (Windows) there are no POSIX owners or modes to check: only the symbolic-link checks apply.

/**
 * Checks the cache directory before it is used: it must be a directory, not a symbolic link, owned by the user,
 * with no permission for group or others. False if it does not exist yet; a CliError (exit 4) if it is refused.
 */
export function checkCacheDir(dir: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw refused(`cannot use the session cache directory ${dir}: ${errorText(err)}`);
  }
  if (st.isSymbolicLink()) {
    throw refused(`the session cache directory ${dir} is a symbolic link, which is never followed: `
      + 'set SENTINEL_TVM_CACHE_DIR to a directory of your own, not a link');
  }
  const yourOwn = 'set SENTINEL_TVM_CACHE_DIR to a directory of your own';
  if (!st.isDirectory()) throw refused(`the session cache directory ${dir} is not a directory: ${yourOwn}`);
  const uid = process.getuid?.();
  if (uid === undefined) return true;
  if (st.uid !== uid) {
    throw refused(`the session cache directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}): ${yourOwn}`);
  }
  if (openToOthers(st)) {
    throw refused(`the session cache directory ${dir} is open to group or others (mode ${octal(st.mode)}), `
      + `so its files may not be yours: \`chmod 700 ${dir}\``);
  }
  checkAncestors(dir, uid);
  return true;
}

/**
 * Whoever can write a directory above the cache directory can swap the cache directory for one of theirs between our
 * checks and our reads (as OpenSSH's StrictModes reasons). So every directory on the way to it, following each symbolic
 * link one step at a time (the directories holding the links included), must be root's or yours, and not writable by
 * others unless sticky (/tmp), nor by its group unless that group is yours alone; and every link on the way, root's or
 * yours.
 */
function checkAncestors(dir: string, uid: number): void {
  const fail = (what: string) => refused(`the session cache directory ${dir} is under ${what}: they could swap the cache for `
    + 'theirs; set SENTINEL_TVM_CACHE_DIR to a directory of your own');
  let links = 0;
  const visit = (target: string): void => {
    const abs = path.resolve(target);
    let cur = path.parse(abs).root;
    const parts = abs.slice(cur.length).split(path.sep).filter(Boolean);
    for (let i = 0; ; i++) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(cur);
      } catch (err) {
        throw refused(`cannot use the session cache directory ${dir}: ${errorText(err)}`);
      }
      if (st.uid !== 0 && st.uid !== uid) throw fail(`${cur}, which belongs to uid ${st.uid}`);
      if (st.isSymbolicLink()) {
        if (++links > 40) throw refused(`cannot use the session cache directory ${dir}: too many symbolic links`);
        visit(path.join(path.resolve(path.dirname(cur), fs.readlinkSync(cur)), ...parts.slice(i)));
        return;
      }
      const mode = st.mode;
      /* eslint-disable no-bitwise -- permission bits */
      const sticky = (mode & 0o1000) !== 0;
      if ((mode & 0o002) !== 0 && !sticky) throw fail(`${cur}, which others can write (mode ${octal(mode)})`);
      if ((mode & 0o020) !== 0 && !sticky && !groupIsYoursAlone(st.gid, uid)) {
        throw fail(`${cur}, which its group (gid ${st.gid}) can write and which is not yours alone (mode ${octal(mode)}): \`chmod g-w ${cur}\``);
      }
      /* eslint-enable no-bitwise */
      if (i >= parts.length) return;
      cur = path.join(cur, parts[i]);
    }
  };
  visit(path.dirname(path.resolve(dir)));
}

/**
 * A group is yours alone when it is named after you and nobody else is in it, as a member or by primary group (a user
 * private group). Read from /etc/group and /etc/passwd; when they say otherwise or cannot be read, it is not.
 */
function groupIsYoursAlone(gid: number, uid: number): boolean {
  try {
    const users = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4);
    const me = users.find((f) => Number(f[2]) === uid)?.[0];
    const group = fs.readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f.length >= 4 && Number(f[2]) === gid);
    if (!me || !group || group[0] !== me) return false;
    const members = group[3].split(',').map((m) => m.trim()).filter(Boolean);
    return members.every((m) => m === me) && users.every((f) => Number(f[3]) !== gid || f[0] === me);
  } catch {
    return false;
  }
}

/** Refuses a cache file that is not a regular file of the user's, closed to group and others. */
function checkCacheFile(file: string, st: fs.Stats): void {
  const remove = `delete it (\`rm ${file}\`): the next call starts a new session`;
  if (!st.isFile()) throw refused(`the session cache file ${file} is not a regular file: ${remove}`);
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (st.uid !== uid) throw refused(`the session cache file ${file} belongs to uid ${st.uid}, not to you (uid ${uid}): ${remove}`);
  if (openToOthers(st)) throw refused(`the session cache file ${file} is open to group or others (mode ${octal(st.mode)}): ${remove}`);
}

const SESSION_ID = new RegExp(Patterns.SESSION_ID);

/**
 * The cache entry, or undefined if there is none (a damaged file counts as none; damaged credentials as none). A cache
 * directory or file that someone else could have written is refused (CliError, exit 4), never read.
 */
export function readEntry(file: string): CachedSession | undefined {
  if (!checkCacheDir(path.dirname(file))) return undefined;
  const read = readOwnFile(file, {
    link: () => refused(`the session cache file ${file} is a symbolic link, which is never followed: delete it (\`rm ${file}\`)`),
    unreadable: (err) => refused(`cannot read the session cache file ${file}: ${errorText(err)}`),
  }, (st) => checkCacheFile(file, st));
  if (!read) return undefined;
  let entry: any;
  try {
    entry = JSON.parse(read.text);
  } catch {
    return undefined;
  }
  if (typeof entry?.sessionId !== 'string' || !SESSION_ID.test(entry.sessionId)) return undefined;
  const c = entry.credentials;
  const credentialsOk = c && ['AccessKeyId', 'SecretAccessKey', 'SessionToken'].every((k) => isToken(c[k])) && isoTime(c.Expiration);
  const ends = isoTime(entry.sessionExpiresAt);
  const unavailableSince = isoTime(entry.unavailableSince);
  const grant = (Object.values(GrantKinds) as unknown[]).includes(entry.grant) ? entry.grant as GrantKind : undefined;
  return {
    url: String(entry.url ?? ''),
    profile: String(entry.profile ?? ''),
    sessionId: entry.sessionId,
    updatedAt: String(entry.updatedAt ?? ''),
    ...(ends ? { sessionExpiresAt: ends } : {}),
    ...(credentialsOk ? { credentials: { ...(c as CachedCredentials), Expiration: isoTime(c.Expiration)! } } : {}),
    ...(unavailableSince ? { unavailableSince } : {}),
    ...(grant ? { grant } : {}),
  };
}

/** A credential field as AWS issues them: printable ASCII, no space (nothing that can drive a terminal or a shell). */
export const isToken = (v: unknown): v is string => typeof v === 'string' && /^[\x21-\x7e]{1,4096}$/.test(v);

/** ISO 8601 with an explicit offset, as STS and the TVM write times: without one, Date.parse would read local time. */
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

/**
 * A time as ISO 8601 UTC to the second, or undefined: only ISO 8601 with an offset (Date.parse alone also skips text
 * in parentheses, which must not travel on to a terminal, and reads a time without offset as local time).
 */
export function isoTime(v: unknown): string | undefined {
  if (typeof v !== 'string' || !ISO_8601.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The cached session id, or undefined (see {@link readEntry}). */
export function readSession(file: string): string | undefined {
  return readEntry(file)?.sessionId;
}

/** Creates the cache directory (0700) if it does not exist yet, and checks it as {@link checkCacheDir} does. */
export function ensureCacheDir(dir: string): void {
  if (checkCacheDir(dir)) return;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw refused(`cannot create the session cache directory ${dir}: ${errorText(err)}`);
  }
  checkCacheDir(dir);
}

/**
 * Writes the entry atomically, mode 0600 in a 0700 directory (it holds credentials, unless the cache is off):
 * a new temporary file (O_EXCL: never an existing file or link), then a rename over the old one (which replaces a link,
 * never follows it). The directory is checked as {@link readSession} checks it.
 */
export function writeSession(file: string, entry: CachedSession): void {
  const dir = path.dirname(file);
  ensureCacheDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(entry)}\n`, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true }); // it may hold credentials
    throw refused(`cannot write the session cache ${file}: ${errorText(err)}`);
  }
}

/** The entry with its credentials (and the unavailability mark that only concerns them) gone, updated now. */
export function withoutCredentials(entry: CachedSession): CachedSession {
  const { credentials: _dropped, unavailableSince: _theirs, ...rest } = entry;
  return { ...rest, updatedAt: new Date().toISOString() };
}

export function removeSession(file: string): void {
  fs.rmSync(file, { force: true });
}

/**
 * After `sessions end` or `sessions revoke` from this machine: every cache entry of that session loses its credentials.
 * An ended session's entry goes altogether (the next call starts a new session); a revoked one keeps its id, so that
 * the next call asks the TVM and reports SESSION_REVOKED instead of quietly starting another session. Returns how many
 * entries were changed.
 */
export async function forgetSession(sessionId: string, how: 'ended' | 'revoked', env: NodeJS.ProcessEnv = process.env,
  events: LockEvents = {}): Promise<number> {
  const dir = cacheDir(env);
  if (!checkCacheDir(dir)) return 0;
  let changed = 0;
  for (const name of fs.readdirSync(dir)) {
    if (!/^session-[0-9a-f]{32}\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    let entry: CachedSession | undefined;
    try {
      entry = readEntry(file);
    } catch {
      continue; // refused files are reported by the command that uses them
    }
    if (entry?.sessionId !== sessionId) continue;
    // Under the entry's lock: a vend of this session in flight would otherwise write its credentials back after us.
    const lock = await acquireLock(lockFileOf(file), () => false, events);
    try {
      const now = readEntry(file);
      if (now?.sessionId !== sessionId) continue;
      if (how === 'ended') {
        removeSession(file);
      } else {
        writeSession(file, withoutCredentials(now));
      }
      changed++;
    } finally {
      lock?.release();
    }
  }
  return changed;
}
