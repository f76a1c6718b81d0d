// The client's credential cache (credentials, exec, env): when a call is answered from the cache, when it vends, what
// clears it, what the user is told, and the lock that lets processes started together share one vend. Against a fake
// TVM that answers what each test needs (expirations, refusals, failures, silence).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI_BUNDLE, KEYS, runCli, runInProcess, tempDir, type CliResult, type FakeAnswer } from './support/cli';
import { cachedEntry, HOUR, iso, useFakeVending } from './support/fake-vend';
import { cacheFile, lockFileOf, readEntry, signerOf, writeSession } from '../cli/cache';
import { acquireLock } from '../cli/lock';
import { SESSION_HEADER } from '../src/shared/contract';

const SESSION = '0123456789abcdef';
const fake = useFakeVending({ sessionId: SESSION });
const issued = (seconds = HOUR, sessionSeconds = 12 * HOUR, sessionId = SESSION) => fake.issued({ seconds, sessionSeconds, sessionId });
const refusal = (status: number, code: string): FakeAnswer => ({ status, body: { Code: code, Message: `${code} (fake)`, RequestId: 'r-1' } });
const run = (command: string, ...extra: string[]) => fake.run(command, ...extra);
const credentials = (...extra: string[]) => run('credentials', ...extra);
const keyOf = (res: CliResult) => JSON.parse(res.stdout).AccessKeyId as string;

describe('answered from the cache', () => {
  test('until the credentials have less than the expiry window left (default 300 s), then vended again in the same session', async () => {
    fake.next = () => issued(330);
    const first = await credentials();
    const second = await credentials();
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(keyOf(second)).toBe(keyOf(first));
    expect(fake.tvm.requests).toHaveLength(1);

    // 330 s left is not more than a 400 s window: vended again, continuing the cached session.
    const wider = await credentials('--expiry-window', '400');

    expect(keyOf(wider)).not.toBe(keyOf(first));
    expect(fake.tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([undefined, SESSION]);
  });

  test('never when the credentials have no more than the window left as they are vended (--duration 900 with --expiry-window 900)', async () => {
    fake.next = () => issued(900);
    await credentials('--expiry-window', '900');
    await credentials('--expiry-window', '900');
    expect(fake.tvm.requests).toHaveLength(2);
    const told = await credentials('--expiry-window', '900', '--verbose');
    expect(told.stderr).toMatch(/no more than the expiry window \(900 s\): the next call vends again/);
  });

  test('not once the cached session has ended, even if its credentials have not', async () => {
    writeSession(fake.file, {
      url: fake.tvm.url,
      profile: 'p',
      sessionId: SESSION,
      updatedAt: 'x',
      sessionExpiresAt: iso(-1),
      credentials: { AccessKeyId: 'ASIAOLD', SecretAccessKey: 's', SessionToken: 't', Expiration: iso(HOUR) },
    });
    expect(keyOf(await credentials())).not.toBe('ASIAOLD');
    expect(fake.tvm.requests).toHaveLength(1);
  });

  test('--no-cache vends every call, continuing the session, and writes no credentials (and removes cached ones)', async () => {
    await credentials();
    expect(readEntry(fake.file)?.credentials).toBeDefined();

    await credentials('--no-cache');
    await credentials('--no-cache');

    expect(fake.tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([undefined, SESSION, SESSION]);
    expect(readEntry(fake.file)).toMatchObject({ sessionId: SESSION });
    expect(readEntry(fake.file)?.credentials).toBeUndefined();
    expect(fs.readFileSync(fake.file, 'utf8')).not.toContain('secret-');
    const both = await credentials('--no-cache', '--expiry-window', '60');
    expect(both).toMatchObject({ code: 2, stdout: '' });
    expect(both.stderr).toMatch('--expiry-window has no effect with --no-cache');
  });

  test('--new-session starts a new session whatever is cached', async () => {
    await credentials();
    fake.next = () => issued(HOUR, 12 * HOUR, 'fedcba9876543210');
    const fresh = await credentials('--new-session');
    expect(fresh.code).toBe(0);
    expect(fake.tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([undefined, undefined]);
    expect(readEntry(fake.file)?.sessionId).toBe('fedcba9876543210');
  });

  test('is kept apart per signer: another --source-profile or another access key in the environment does not get these credentials', () => {
    const url = new URL(fake.tvm.url);
    const files = new Set([
      cacheFile(url, 'p', {}, signerOf(undefined, {})),
      cacheFile(url, 'p', {}, signerOf('alice', {})),
      cacheFile(url, 'p', {}, signerOf('bob', {})),
      cacheFile(url, 'p', {}, signerOf(undefined, { AWS_ACCESS_KEY_ID: 'AKIDONE' })),
      cacheFile(url, 'p', {}, signerOf(undefined, { AWS_ACCESS_KEY_ID: 'AKIDTWO' })),
    ]);
    expect(files.size).toBe(5);
    // AWS_PROFILE wins over keys in the environment, as in the AWS SDK's default chain.
    expect(signerOf(undefined, { AWS_PROFILE: 'alice', AWS_ACCESS_KEY_ID: 'AKIDONE' })).toBe(signerOf('alice', {}));
  });
  test('a cache hit loads only the entry bundle: it answers with heavy.js (the AWS SDK, signing) absent', async () => {
    const bundleEnv = { ...fake.env, ...KEYS.alice };
    writeSession(cacheFile(new URL(fake.tvm.url), 'p', bundleEnv), cachedEntry(fake.tvm.url, SESSION, HOUR));
    const lone = path.join(tempDir('entry-only-'), 'index.js');
    fs.copyFileSync(CLI_BUNDLE, lone);

    const hit = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bundleEnv, { bundle: lone });
    const miss = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p', '--no-cache'], bundleEnv, { bundle: lone });

    expect(hit.code).toBe(0);
    expect(keyOf(hit)).toBe('ASIACACHED');
    // To vend it needs heavy.js: the test would pass vacuously if the copy could vend.
    expect(miss.code).not.toBe(0);
    expect(miss.stderr).toMatch(/heavy/);
  });
});

describe('when the TVM refuses or fails', () => {
  const cached = (secondsLeft: number) => writeSession(fake.file, cachedEntry(fake.tvm.url, SESSION, secondsLeft));

  test.each(['SESSION_REVOKED', 'SESSION_FORBIDDEN'])('%s clears the cached credentials, keeps the session id, and exits 1', async (code) => {
    cached(200);
    fake.next = () => refusal(403, code);

    const res = await credentials();

    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(new RegExp(`^sentinel-tvm: ${code}: `));
    expect(readEntry(fake.file)).toMatchObject({ sessionId: SESSION });
    expect(readEntry(fake.file)?.credentials).toBeUndefined();
  });

  test('a failed, throttling or unreachable TVM leaves the session\'s cached credentials in use while they have more than a minute left', async () => {
    cached(200);
    fake.next = () => ({ status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } });

    const res = await credentials();

    expect(res.code).toBe(0);
    expect(keyOf(res)).toBe('ASIACACHED');
    expect(res.stderr).toMatch(/^sentinel-tvm: warning: STORE_UNAVAILABLE: down; using the cached credentials of session 0123456789abcdef, which expire in 3m/);
    expect(readEntry(fake.file)?.credentials?.AccessKeyId).toBe('ASIACACHED');
    // For 30 s the next calls do not try again: they serve the same, saying so (processes waiting behind the first).
    const shared = await credentials();
    expect(keyOf(shared)).toBe('ASIACACHED');
    expect(shared.stderr).toMatch(/^sentinel-tvm: warning: the TVM was unavailable at \S+Z; using the cached credentials of session 0123456789abcdef/);
    expect(fake.tvm.requests).toHaveLength(1);

    cached(200);
    fake.next = () => ({ status: 429, body: { Code: 'RATE_LIMITED', Message: 'slow down' } });
    const throttled = await credentials();
    expect(throttled.code).toBe(0);
    expect(throttled.stderr).toMatch(/^sentinel-tvm: warning: RATE_LIMITED: slow down; using the cached credentials/);

    fake.next = () => ({ status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } });
    cached(50);
    const late = await credentials();
    expect(late).toMatchObject({ code: 3, stdout: '' });
    // Unreachable: the same.
    fake.file = cacheFile(new URL('http://127.0.0.1:1/'), 'p', fake.env);
    cached(200);
    const unreachable = await runInProcess(['credentials', '--url', 'http://127.0.0.1:1/', '--profile', 'p'], fake.env);
    expect(unreachable.code).toBe(0);
    expect(unreachable.stderr).toMatch(/^sentinel-tvm: warning: cannot reach the TVM at http:\/\/127.0.0.1:1: .*; using the cached credentials/);
  });

  test('a refusal never falls back to cached credentials', async () => {
    cached(200);
    fake.next = () => refusal(403, 'POLICY_DENY');
    const res = await credentials();
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(/^sentinel-tvm: POLICY_DENY: /);
  });
});

describe('what the user is told', () => {
  test('--verbose says on stderr where the credentials come from and how long they and the session last; stdout stays the JSON', async () => {
    fake.next = () => issued(HOUR, 5 * HOUR);
    const vended = await credentials('--verbose');
    const hit = await credentials('--verbose');

    expect(vended.stderr).toMatch(/^sentinel-tvm: profile p, session 0123456789abcdef: credentials vended in a new session; they expire in (59m5\ds|1h) \(\S+Z\), the session ends in 4h59m5\ds \(\S+Z\)\n$/);
    expect(hit.stderr).toMatch(/credentials from the cache; they expire in 59m5\ds/);
    for (const res of [vended, hit]) {
      expect(Object.keys(JSON.parse(res.stdout))).toEqual(['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
      expect(res.stderr).not.toMatch(/secret-|token-/);
    }
    expect((await credentials()).stderr).toBe('');
  });

  test('a session with under 15 minutes left is announced on stderr without --verbose; one with more is not', async () => {
    fake.next = () => issued(600, 14 * 60);
    const soon = await credentials();
    expect(soon.code).toBe(0);
    expect(soon.stderr).toMatch(/^sentinel-tvm: warning: session 0123456789abcdef ends in 1[34]m\d+s \(\S+\), and no credentials outlive it: .*--new-session/);
    // Answered from the cache too.
    expect((await credentials()).stderr).toMatch(/warning: session 0123456789abcdef ends in/);
    fake.next = () => issued(600, 16 * 60);
    expect((await credentials('--new-session')).stderr).toBe('');
  });
});

describe('sentinel-tvm exec and env', () => {
  test('exec runs the command with the credentials in its environment, without AWS_PROFILE, and passes its exit code through', async () => {
    fake.env = { ...fake.env, AWS_PROFILE: 'someone-else', AWS_DEFAULT_PROFILE: 'x' };
    fake.file = cacheFile(new URL(fake.tvm.url), 'p', fake.env);
    const script = 'printf "%s|%s|%s|%s|%s|%s|%s" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN" "$AWS_CREDENTIAL_EXPIRATION" '
      + '"$SENTINEL_TVM_SESSION_ID" "${AWS_PROFILE-unset}" "${AWS_DEFAULT_PROFILE-unset}" >&2; exit 7';
    const res = await run('exec', '--', 'sh', '-c', 'exit 7');

    expect(res.code).toBe(7);
    const entry = readEntry(fake.file)!;
    expect(entry.credentials).toBeDefined();
    // The child's stderr is the terminal's (inherited), not captured here: run it again through the bundle to read it.
    const child = await runCli(['exec', '--url', fake.tvm.url, '--profile', 'p', '--', 'sh', '-c', script], { ...fake.env, ...KEYS.alice });
    expect(child.code).toBe(7);
    const c = entry.credentials!;
    expect(child.stderr).toBe([c.AccessKeyId, c.SecretAccessKey, c.SessionToken, c.Expiration, SESSION, 'unset', 'unset'].join('|'));
    expect(fake.tvm.requests).toHaveLength(1); // one vend for both: the same cache
  });

  test('exec: options after -- are the command\'s (--help included); a missing command is 127; a signal is 128 + its number', async () => {
    const help = await runCli(['exec', '--url', fake.tvm.url, '--profile', 'p', '--', 'sh', '-c', 'echo "$0 $1"', '--help'], { ...fake.env, ...KEYS.alice });
    expect(help).toMatchObject({ code: 0, stdout: '--help \n' });
    const missing = await run('exec', '--', 'no-such-command-sentinel');
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch('cannot run no-such-command-sentinel: command not found');
    const killed = await run('exec', '--', 'sh', '-c', 'kill -TERM $$');
    expect(killed.code).toBe(128 + os.constants.signals.SIGTERM);
    const none = await run('exec');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch('needs a command after --');
  });

  test('exec passes a signal it receives to the command, and exits with the command\'s code', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'assets', 'cli', 'sentinel-tvm', 'index.js'), 'exec', '--url', fake.tvm.url,
      '--profile', 'p', '--', 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { env: { ...fake.env, ...KEYS.alice } });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(42);
  });

  test('env prints export lines a POSIX shell evaluates to the same values, then unsets AWS_PROFILE', async () => {
    fake.next = () => ({ ...issued(), body: { ...(issued().body as object), SecretAccessKey: 'it\'s$(not)`run`"quoted"' } });
    const res = await run('env');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^export AWS_ACCESS_KEY_ID='ASIAFAKE\d+'\n/);
    expect(res.stdout).toMatch(/\nunset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SECURITY_TOKEN\n$/);
    const shell = spawnSync('sh', ['-c', 'AWS_PROFILE=x; eval "$1"; printf \'%s|%s\' "$AWS_SECRET_ACCESS_KEY" "${AWS_PROFILE-unset}"', 'sh', res.stdout],
      { encoding: 'utf8' });
    expect(shell.stdout).toBe('it\'s$(not)`run`"quoted"|unset');
  });

  test('exec and env warn that credentials with under 10 minutes left cannot be refreshed inside; credentials does not', async () => {
    fake.next = () => issued(900);
    expect((await run('env', '--expiry-window', '0')).stderr).toBe('');
    fake.next = () => issued(500);
    const soon = await run('env', '--new-session');
    expect(soon.stderr).toMatch(/warning: these credentials expire in 8m\d+s .* cannot be refreshed inside the command/);
    expect((await credentials('--expiry-window', '0')).stderr).toBe('');
  });

  test('inside exec, a vend that would sign with the protected role\'s credentials from the environment is refused with the fix', async () => {
    const inside = { ...fake.env, SENTINEL_TVM_SESSION_ID: SESSION, AWS_ACCESS_KEY_ID: 'ASIAFROMEXEC', AWS_SECRET_ACCESS_KEY: 'x' };
    const res = await runInProcess(['credentials', '--url', fake.tvm.url, '--profile', 'p'], inside);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch('this runs inside `sentinel-tvm exec` (session 0123456789abcdef)');
    expect(res.stderr).toMatch('pass --source-profile');
    expect(fake.tvm.requests).toHaveLength(0);
  });
});

describe('one vend for processes started together: the lock', () => {
  const bundleEnv = () => ({ ...fake.env, ...KEYS.alice });
  const lock = () => lockFileOf(cacheFile(new URL(fake.tvm.url), 'p', bundleEnv()));

  test('six processes that find the same stale lock break it once between them: one vend', async () => {
    fs.mkdirSync(path.dirname(lock()), { recursive: true, mode: 0o700 });
    fs.writeFileSync(lock(), JSON.stringify({ pid: 1, host: 'another-host', token: 'stale' }), { mode: 0o600 });
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lock(), old, old);
    fake.next = () => new Promise((resolve) => setTimeout(() => resolve(issued()), 500));

    const results = await Promise.all(Array.from({ length: 6 }, () => runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bundleEnv())));

    expect(results.map((r) => r.code)).toEqual(Array(6).fill(0));
    expect(new Set(results.map(keyOf)).size).toBe(1);
    expect(fake.tvm.requests).toHaveLength(1);
  });

  test('a holder removes only a lock with its own token: one taken over meanwhile stays', async () => {
    const lockFile = path.join(tempDir('lock-'), 'x.lock');
    const held = await acquireLock(lockFile, () => false);
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 1, host: 'another-host', token: 'someone-else' }), { mode: 0o600 });

    held!.release();

    expect(JSON.parse(fs.readFileSync(lockFile, 'utf8')).token).toBe('someone-else');
  });

  test('eight processes started at once with an empty cache make one vend and share its credentials', async () => {
    fake.next = () => new Promise((resolve) => setTimeout(() => resolve(issued()), 300));
    const results = await Promise.all(Array.from({ length: 8 }, () => runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bundleEnv())));
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    expect(new Set(results.map(keyOf)).size).toBe(1);
    expect(fake.tvm.requests).toHaveLength(1);
    expect(fs.existsSync(lock())).toBe(false);
  });

  test('a holder killed while it vends does not hold the lock: the next process takes it over at once (its pid is gone)', async () => {
    fake.next = () => new Promise(() => undefined); // never answers
    const holder = spawn(process.execPath, [path.join(__dirname, '..', 'assets', 'cli', 'sentinel-tvm', 'index.js'), 'credentials', '--url', fake.tvm.url,
      '--profile', 'p'], { env: bundleEnv(), stdio: 'ignore' });
    await waitFor(() => fs.existsSync(lock()) && fake.tvm.requests.length === 1);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(fs.existsSync(lock())).toBe(true); // left behind
    fake.next = () => issued();

    const started = Date.now();
    const res = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p', '--verbose'], bundleEnv());

    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(`took over the cache lock of pid ${holder.pid}, which is no longer running`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fs.existsSync(lock())).toBe(false);
  });

  test('a frozen holder (SIGSTOP) loses the lock once it has not touched it for 10 s; a waiter told so vends', async () => {
    fake.next = () => new Promise(() => undefined);
    const holder = spawn(process.execPath, [path.join(__dirname, '..', 'assets', 'cli', 'sentinel-tvm', 'index.js'), 'credentials', '--url', fake.tvm.url,
      '--profile', 'p'], { env: bundleEnv(), stdio: 'ignore' });
    try {
      await waitFor(() => fs.existsSync(lock()) && fake.tvm.requests.length === 1);
      holder.kill('SIGSTOP');
      fake.next = () => issued();
      const started = Date.now();

      const res = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p', '--verbose'], bundleEnv());

      const waited = Date.now() - started;
      expect(res.code).toBe(0);
      expect(res.stderr).toMatch(`another sentinel-tvm (pid ${holder.pid}) is vending for this profile: waiting for it`);
      expect(res.stderr).toMatch('took over a cache lock nobody touched for 10s');
      expect(waited).toBeGreaterThan(8_000);
      expect(waited).toBeLessThan(14_000);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 30_000);

  test('a waiter leaves as soon as the holder has written fresh credentials, without vending', async () => {
    // A live holder on another host (its pid cannot be checked), touching its lock.
    fs.mkdirSync(path.dirname(lock()), { recursive: true, mode: 0o700 });
    fs.writeFileSync(lock(), JSON.stringify({ pid: 1, host: 'another-host', token: 'x' }), { mode: 0o600 });
    const waiter = runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p', '--verbose'], bundleEnv());
    await new Promise((r) => setTimeout(r, 1_000));
    writeSession(cacheFile(new URL(fake.tvm.url), 'p', bundleEnv()), {
      url: fake.tvm.url,
      profile: 'p',
      sessionId: SESSION,
      updatedAt: 'x',
      credentials: { AccessKeyId: 'ASIAFROMHOLDER', SecretAccessKey: 's', SessionToken: 't', Expiration: iso(HOUR) },
    });

    const res = await waiter;

    expect(res.code).toBe(0);
    expect(keyOf(res)).toBe('ASIAFROMHOLDER');
    expect(res.stderr).toMatch('another sentinel-tvm (pid 1) is vending for this profile: waiting for it');
    expect(fake.tvm.requests).toHaveLength(0);
    expect(fs.existsSync(lock())).toBe(true); // not ours to remove
  });

  test('a waiter waits for one lock at most maxWaitMs, even when its file looks touched in the future (a clock ahead)', async () => {
    const lockFile = path.join(tempDir('lock-'), 'x.lock');
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 1, host: 'another-host', token: 'ahead' }), { mode: 0o600 });
    const ahead = new Date(Date.now() + HOUR * 1000);
    fs.utimesSync(lockFile, ahead, ahead);
    const timing = { heartbeatMs: 50, staleMs: 300, pollMs: 10, maxWaitMs: 600 };
    const seen: string[] = [];
    const started = Date.now();

    const held = await acquireLock(lockFile, () => false, { tookOver: (t) => seen.push(t.why) }, timing);

    expect(held).toBeDefined();
    expect(seen).toEqual(['waited']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    held!.release();
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  test.each([0, -1, 1.5])('a lock file claiming pid %s of this host is not judged gone (kill(2) would name a process group)', async (pid) => {
    const lockFile = path.join(tempDir('lock-'), 'x.lock');
    fs.writeFileSync(lockFile, JSON.stringify({ pid, host: os.hostname(), token: 't' }), { mode: 0o600 });
    const seen: string[] = [];
    const held = await acquireLock(lockFile, () => false, { tookOver: (t) => seen.push(t.why) },
      { heartbeatMs: 50, staleMs: 200, pollMs: 10, maxWaitMs: 5_000 });
    expect(seen).toEqual(['stale']);
    held!.release();
  });

  test('fails when the lock file is a symbolic link, and never follows it', async () => {
    fs.mkdirSync(path.dirname(lock()), { recursive: true, mode: 0o700 });
    const target = path.join(tempDir('lock-target-'), 'elsewhere');
    fs.writeFileSync(target, 'keep');
    fs.symlinkSync(target, lock());
    const res = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bundleEnv());
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(`the session cache lock ${lock()} is a symbolic link, which is never followed`);
    expect(fs.readFileSync(target, 'utf8')).toBe('keep');
    expect(fake.tvm.requests).toHaveLength(0);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
