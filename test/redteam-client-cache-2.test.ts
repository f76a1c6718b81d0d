// Second red-team review of the client's credential cache: attacks on the fixes of the first review (the shared
// `unavailableSince` mark, the ancestor check of the cache directory, forgetSession under the lock, isoTime, the wider
// signer key). Each finding (a fallback mark dated in the future, a chain of links through a writable directory, a
// shared primary group, a silent wait in sessions end, a time without offset, ~/ in file settings) has a test of the
// behaviour now in place; tests named "held" are attacks that failed, kept so that they keep failing.
import * as fs from 'fs';
import * as path from 'path';
import { KEYS, runCli, runInProcess, tempDir, type CliResult, type FakeAnswer } from './support/cli';
import { cachedEntry, HOUR, iso, useFakeVending } from './support/fake-vend';
import { cacheFile, checkCacheDir, forgetSession, isoTime, lockFileOf, readEntry, signerOf, writeSession, type CachedSession } from '../cli/cache';
import { LOCK_TIMING } from '../cli/lock';
import { SESSION_HEADER } from '../src/shared/contract';

const SESSION = '0123456789abcdef';
const fake = useFakeVending({ sessionId: SESSION });
const keyOf = (res: CliResult) => JSON.parse(res.stdout).AccessKeyId as string;
const cached = (f: string, secondsLeft: number, extra: Partial<CachedSession> = {}) =>
  writeSession(f, cachedEntry(fake.tvm.url, SESSION, secondsLeft, extra));
const down: FakeAnswer = { status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } };

describe('the shared unavailableSince mark', () => {
  // Finding A (low). usable() takes the mark as fresh when `-secondsLeft(since) < 30`, which holds for any mark in the
  // future. A mark written while the clock ran ahead (a clock stepped back by NTP, a dual-boot RTC in local time, a
  // host sharing the directory) then makes every call serve the in-window credentials as a "fallback" without asking
  // the TVM, with a warning that the TVM "was unavailable" at a time still to come, until they have a minute left:
  // up to --expiry-window minus 60 s (240 s by default, almost an hour with --expiry-window 3600).
  test('a mark dated in the future does not stop the next call from asking the TVM', async () => {
    cached(fake.file, 200, { unavailableSince: iso(HOUR) });
    const res = await fake.run('credentials');
    expect(res.code).toBe(0);
    expect(fake.tvm.requests).toHaveLength(1);
    expect(keyOf(res)).not.toBe('ASIACACHED');
  });

  test('held: a mark older than 30 s is ignored: the TVM is asked again, and a good answer removes the mark', async () => {
    cached(fake.file, 200, { unavailableSince: iso(-31) });
    const res = await fake.run('credentials');
    expect(res.code).toBe(0);
    expect(fake.tvm.requests).toHaveLength(1);
    expect(keyOf(res)).not.toBe('ASIACACHED');
    expect(readEntry(fake.file)?.unavailableSince).toBeUndefined();
  });

  test('held: a fresh mark never serves the credentials of a session that has ended, nor those with a minute or less left', async () => {
    cached(fake.file, 200, { unavailableSince: iso(0), sessionExpiresAt: iso(-1) });
    fake.next = () => down;
    const ended = await fake.run('credentials');
    expect(ended.code).toBe(3);
    expect(ended.stdout).not.toMatch('ASIACACHED');
    cached(fake.file, 60, { unavailableSince: iso(0) });
    const short = await fake.run('credentials');
    expect(short.code).toBe(3);
    expect(fake.tvm.requests).toHaveLength(2);
  });

  test('held: a failing TVM re-marks only a session it has not refused: after SESSION_REVOKED the mark serves nothing', async () => {
    cached(fake.file, 200, { unavailableSince: iso(-31) });
    fake.next = () => ({ status: 403, body: { Code: 'SESSION_REVOKED', Message: 'revoked (fake)' } });
    expect((await fake.run('credentials')).code).toBe(1);
    fake.next = () => down;
    const after = await fake.run('credentials');
    expect(after.code).toBe(3); // the TVM's failure, not the revoked session's credentials
    expect(after.stdout).toBe('');
  });

  test('held: `sessions revoke` on this machine drops a fresh mark with the credentials: the next call asks the TVM', async () => {
    cached(fake.file, 200, { unavailableSince: iso(0) });
    expect(await forgetSession(SESSION, 'revoked', fake.env)).toBe(1);
    expect(readEntry(fake.file)).toMatchObject({ sessionId: SESSION });
    expect(readEntry(fake.file)?.unavailableSince).toBeUndefined();
    fake.next = () => ({ status: 403, body: { Code: 'SESSION_REVOKED', Message: 'revoked (fake)' } });
    expect((await fake.run('credentials')).code).toBe(1);
    expect(fake.tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([SESSION]);
  });
});

describe('the ancestors of the cache directory', () => {
  const tree = () => {
    const base = tempDir('redteam2-anc-');
    const mk = (name: string, mode: number) => {
      const d = path.join(base, name);
      fs.mkdirSync(d);
      fs.chmodSync(d, mode); // the umask would drop bits
      return d;
    };
    return { base, mk };
  };

  // Finding B (low, hardening). checkAncestors() checks the path as written and the fully resolved path, not the
  // directories holding the intermediate links of a chain. With home/link -> shared/hop -> real, the directory
  // `shared` (open to everyone, not sticky) is never looked at, and whoever can write it re-points `hop` to a directory
  // of theirs: exactly the swap the check exists to prevent.
  test('a chain of symbolic links through a directory others may write is refused', () => {
    const { mk } = tree();
    const shared = mk('shared', 0o777);
    const home = mk('home', 0o700);
    const real = mk('real', 0o700);
    fs.symlinkSync(real, path.join(shared, 'hop'));
    fs.symlinkSync(path.join(shared, 'hop'), path.join(home, 'link'));
    const dir = path.join(home, 'link', 'cache');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(() => checkCacheDir(dir)).toThrow(/others can write/);
  });

  test('held: one link into a directory others may write is refused; a root-owned link to your own directory is fine', () => {
    const { mk } = tree();
    const shared = mk('shared', 0o777);
    const home = mk('home', 0o700);
    fs.mkdirSync(path.join(shared, 'real', 'cache'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(path.join(shared, 'real'), path.join(home, 'link'));
    expect(() => checkCacheDir(path.join(home, 'link', 'cache'))).toThrow(/others can write/);
    // HOME as a symbolic link (/home/u -> /data/u; macOS /var -> /private/var), the target 0755 and yours.
    const data = mk('data', 0o755);
    const var_ = path.join(data, 'folders', 'T');
    fs.mkdirSync(path.join(var_, 'sentinel-tvm'), { recursive: true, mode: 0o700 });
    fs.symlinkSync(data, path.join(home, 'var'));
    expect(checkCacheDir(path.join(home, 'var', 'folders', 'T', 'sentinel-tvm'))).toBe(true);
  });

  // Finding C (low, hardening). A parent writable by its group passes when that group is the user's PRIMARY group. That
  // is the user's own group only with user-private groups (Debian, Fedora); on macOS every local user's primary group
  // is `staff` (20), and openSUSE and older setups give everyone `users` (100): every other member can then swap the
  // cache directory. (OpenSSH accepts a group-writable path only when the group has no member but its owner.)
  // chown needs root: elsewhere the test would fail for that reason, not for the finding.
  (process.getuid?.() === 0 ? test : test.skip)('a parent writable by a primary group that others share (users, gid 100) is refused', () => {
    const { mk } = tree();
    const parent = mk('home', 0o775);
    const dir = path.join(parent, 'cache');
    fs.mkdirSync(dir, { mode: 0o700 });
    const uid = jest.spyOn(process, 'getuid').mockReturnValue(1000);
    const gid = jest.spyOn(process, 'getgid').mockReturnValue(100);
    try {
      fs.chownSync(parent, 1000, 100);
      fs.chownSync(dir, 1000, 100);
      expect(() => checkCacheDir(dir)).toThrow(/others can write|group/);
    } finally {
      uid.mockRestore();
      gid.mockRestore();
    }
  });
});

describe('sessions end and revoke: forgetSession under the entry\'s lock', () => {
  /** A lock file of another host whose clock runs ahead: neither gone (another host) nor stale (touched "later"). */
  const futureLock = () => {
    const lock = lockFileOf(fake.file);
    fs.writeFileSync(lock, JSON.stringify({ pid: 4_000_000, host: 'elsewhere.example', token: 'f'.repeat(32) }), { mode: 0o600 });
    const later = new Date(Date.now() + HOUR * 1000);
    fs.utimesSync(lock, later, later);
  };
  /** `sessions end` with the lock waits shortened (the real ones are 10 s and 45 s). */
  const endWithShortLock = async () => {
    const saved = { ...LOCK_TIMING };
    Object.assign(LOCK_TIMING, { staleMs: 1_000, maxWaitMs: 1_200 });
    fake.next = () => ({ status: 200, body: { Session: { SessionId: SESSION, Status: 'ENDED' } } });
    const started = Date.now();
    try {
      const res = await runInProcess(['sessions', 'end', SESSION, '--url', fake.tvm.url], fake.env);
      return { res, ms: Date.now() - started };
    } finally {
      Object.assign(LOCK_TIMING, saved);
    }
  };

  test('held: a lock that looks fresh forever delays `sessions end` by the waiters\' bound only, then the entry goes', async () => {
    cached(fake.file, HOUR);
    futureLock();
    const { res, ms } = await endWithShortLock();
    expect(res.code).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(1_200);
    expect(ms).toBeLessThan(4_000);
    expect(readEntry(fake.file)).toBeUndefined();
    expect(res.stderr).toMatch('its cached credentials on this machine are cleared');
  });

  // Finding D (low, usability). forgetSession() passes no events to acquireLock: `sessions end` / `revoke` wait for a
  // lock (up to 45 s per entry with a lock touched by a host whose clock runs ahead, 10 s for a frozen or remote holder)
  // without a word, after the TVM has already ended the session: it looks hung. `credentials --verbose` says why it waits.
  test('`sessions end` says why it waits for a cache lock', async () => {
    cached(fake.file, HOUR);
    futureLock();
    const { res } = await endWithShortLock();
    expect(res.stderr).toMatch(/wait/i);
  });

  test('held: a cache lock that is not a regular file does not fail `sessions end` after the TVM ended the session', async () => {
    cached(fake.file, HOUR);
    fs.mkdirSync(lockFileOf(fake.file));
    const { res } = await endWithShortLock();
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch('warning: the session cache was not cleared');
    expect(res.stderr).toMatch(`session ${SESSION} ended`);
  });
});

describe('isoTime', () => {
  test('held: every ISO 8601 form STS and the TVM give Expiration is read, normalised to the second in UTC; other forms are not', () => {
    for (const v of ['2026-01-25T14:30:00Z', '2026-01-25T14:30:00.000Z', '2026-01-25T14:30:00+00:00', '2026-01-25T16:30:00+02:00',
      '2026-01-25T14:30:00.123456Z']) {
      expect({ v, t: isoTime(v) }).toEqual({ v, t: '2026-01-25T14:30:00Z' });
    }
    for (const v of ['x 2026-01-25T14:30:00Z', '1700000000', '', 'now', 'a'.repeat(65), 'Sun, 25 Jan 2026 14:30:00 GMT']) {
      expect({ v, t: isoTime(v) }).toEqual({ v, t: undefined });
    }
  });

  // Finding E (low). A time without an offset ('2026-01-25T14:30:00', what Python's datetime.isoformat() gives for a naive
  // UTC time) is read by Date.parse as LOCAL time: west of UTC, credentials look hours longer-lived than they are and are
  // answered from the cache long after AWS stopped accepting them (every AWS call failing ExpiredToken); east of UTC, they
  // look expired and every call vends. Either way it is not "a time as ISO 8601 UTC": it should be refused (exit 3).
  test('an Expiration without an offset is refused, or read as UTC, never as the local time', async () => {
    const naive = iso(HOUR).replace(/Z$/, '');
    fake.next = () => fake.issued({ sessionId: SESSION, extra: { Expiration: naive } });
    // In a child: the time zone of this process cannot be changed from a test.
    const res = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], { ...fake.env, ...KEYS.alice, TZ: 'America/New_York' });
    if (res.code === 0) expect(JSON.parse(res.stdout).Expiration).toBe(`${naive}Z`);
    else expect(res.code).toBe(3);
  });
});

describe('the signer key and processes started together', () => {
  /** A HOME with a credentials file for profile `dev`; the files named as given (the SDK expands a leading ~/). */
  const profileEnv = (credentialsFile: string) => {
    const home = fake.env.HOME;
    const lines = '[dev]\naws_access_key_id = AKIDDEVFILE\naws_secret_access_key = not-a-real-secret\n';
    fs.writeFileSync(path.join(home, 'creds'), lines, { mode: 0o600 });
    return { ...fake.env, AWS_PROFILE: 'dev', AWS_SHARED_CREDENTIALS_FILE: credentialsFile };
  };

  test('held: eight processes signing with a profile of a credentials file, started together, make one vend', async () => {
    const env = profileEnv(path.join(fake.env.HOME, 'creds'));
    fake.next = () => new Promise((resolve) => setTimeout(() => resolve(fake.issued({ sessionId: SESSION })), 800));
    const results = await Promise.all(Array.from({ length: 8 }, () => runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], env)));
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    expect(new Set(results.map(keyOf)).size).toBe(1);
    expect(fake.tvm.requests).toHaveLength(1);
    expect(fs.existsSync(lockFileOf(cacheFile(new URL(fake.tvm.url), 'p', env, signerOf(undefined, env))))).toBe(false);
  }, 20_000);

  // Finding F (low, efficiency). signerOf() path.resolve()s AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE; the SDK
  // (and botocore) expand a leading `~/` instead. A `~/...` left unexpanded (a .env file, Docker --env, a CI `env:`
  // block, an IDE run configuration) makes the key depend on the working directory: the same signer gets one cache
  // entry, one session and one vend per directory it runs in, and commands of one script run in several directories
  // do not share a vend. Fix: expand `~/` (to the home the SDK uses) before resolving, in cache.ts signerOf().
  test('the same signer in two working directories shares one entry when its files are named with ~/', async () => {
    const env = profileEnv('~/creds');
    const first = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], env, { cwd: tempDir('redteam2-cwd-') });
    const second = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], env, { cwd: tempDir('redteam2-cwd-') });
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(fake.tvm.requests).toHaveLength(1);
  });
});
