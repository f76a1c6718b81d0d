// Red-team regression tests for the client's credential cache, its lock, exec and env: each finding of the review
// (signer confusion, terminal escapes and malformed secrets from the answer, an ended session's credentials served,
// waiters queuing behind a failing TVM, a revoke racing a vend, a writable parent, a trickling answer) has a test of the
// behaviour now in place; the tests named "held" are attacks that failed, kept so that they keep failing.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { KEYS, runCli, tempDir, type CliResult, type FakeAnswer } from './support/cli';
import { cachedEntry, HOUR, useFakeVending } from './support/fake-vend';
import { cacheFile, checkCacheDir, forgetSession, lockFileOf, readEntry, signerOf, writeSession, type CachedSession } from '../cli/cache';
import { TvmClient } from '../cli/client';
import { SESSION_HEADER } from '../src/shared/contract';

const SESSION = '0123456789abcdef';
const OTHER_SESSION = 'fedcba9876543210';
const NOBODY = 65534;
/** C0 (but newline), DEL and C1: what must never reach a terminal from the TVM's answer. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const asRoot = process.getuid?.() === 0 ? test : test.skip;

const fake = useFakeVending({ sessionId: SESSION });
const issued = (seconds = HOUR, sessionId = SESSION, extra: Record<string, unknown> = {}) => fake.issued({ seconds, sessionId, extra });
const refusal = (status: number, code: string): FakeAnswer => ({ status, body: { Code: code, Message: `${code} (fake)` } });
const run = (command: string, ...extra: string[]) => fake.run(command, ...extra);
const keyOf = (res: CliResult) => JSON.parse(res.stdout).AccessKeyId as string;
/** The access key id a request was signed with (SigV4 `Credential=<key>/...`). */
const signerKey = (req: { headers: http.IncomingHttpHeaders }) => /Credential=([^/]+)\//.exec(String(req.headers.authorization))?.[1];
const cached = (f: string, secondsLeft: number, extra: Partial<CachedSession> = {}) =>
  writeSession(f, cachedEntry(fake.tvm.url, SESSION, secondsLeft, extra));

describe('signer confusion: credentials vended to one identity answered to another', () => {
  // Finding 1 (medium where one OS user runs several AWS identities with a persistent cache, e.g. a self-hosted CI
  // runner; low otherwise). signerOf() names the signer by --source-profile, AWS_PROFILE or AWS_ACCESS_KEY_ID only.
  // Everything else the SDK's default chain reads to choose an identity is left out of the cache key: which credentials
  // and config files, a web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), container credentials. Two identities
  // then share one entry, and the second is answered the first one's protected-role credentials from the cache: the TVM
  // never checks that the second may use the profile, and its log attributes the use to the first.
  test('another credentials file, config file, web identity or container endpoint gets a cache entry of its own', () => {
    const url = new URL(fake.tvm.url);
    const base = { HOME: '/home/u' };
    const variants: Record<string, string>[] = [
      {},
      { AWS_SHARED_CREDENTIALS_FILE: '/work/project-a/credentials' },
      { AWS_SHARED_CREDENTIALS_FILE: '/work/project-b/credentials' },
      { AWS_CONFIG_FILE: '/work/project-b/config' },
      { AWS_ROLE_ARN: 'arn:aws:iam::111111111111:role/ci-repo-a', AWS_WEB_IDENTITY_TOKEN_FILE: '/tmp/token' },
      { AWS_ROLE_ARN: 'arn:aws:iam::111111111111:role/ci-repo-b', AWS_WEB_IDENTITY_TOKEN_FILE: '/tmp/token' },
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials/task-a' },
      // The same profile name in two config files: two signers too.
      { AWS_PROFILE: 'ci', AWS_CONFIG_FILE: '/work/project-a/config' },
      { AWS_PROFILE: 'ci', AWS_CONFIG_FILE: '/work/project-b/config' },
    ];
    // As requestOf() names the file.
    const files = new Set(variants.map((v) => cacheFile(url, 'p', { ...base, ...v }, signerOf(undefined, { ...base, ...v }))));
    expect(files.size).toBe(variants.length);
  });

  test('end to end: with another credentials file, the call is signed by its key, not answered with the first key\'s credentials', async () => {
    const home = tempDir('redteam-signer-');
    const credentialsFile = (name: string, key: string) => {
      const f = path.join(home, name);
      fs.writeFileSync(f, `[default]\naws_access_key_id = ${key}\naws_secret_access_key = not-a-real-secret\n`, { mode: 0o600 });
      return f;
    };
    const alice = { ...fake.env, AWS_SHARED_CREDENTIALS_FILE: credentialsFile('alice', 'AKIDALICEFILE') };
    const bob = { ...fake.env, AWS_SHARED_CREDENTIALS_FILE: credentialsFile('bob', 'AKIDBOBFILE') };

    const first = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], alice);
    const second = await runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bob);

    expect([first.code, second.code]).toEqual([0, 0]);
    expect(fake.tvm.requests.map(signerKey)[0]).toBe('AKIDALICEFILE');
    // Today: no request at all for bob, and bob holds the credentials vended to alice.
    expect(fake.tvm.requests.map(signerKey)).toEqual(['AKIDALICEFILE', 'AKIDBOBFILE']);
    expect(keyOf(second)).not.toBe(keyOf(first));
  });
});

describe('what a hostile or broken TVM answer can do', () => {
  // Finding 2 (low). Date.parse accepts far more than ISO 8601: V8 skips parenthesised comments, so
  // "Jan 1 2020 (<ESC>]0;title<BEL>)" is a valid date. Expiration and SessionExpiresAt are only checked with Date.parse,
  // stored as they are, and printed raw by tell(): the session warning (printed without --verbose), the handover
  // warning of exec/env and the --verbose line put the TVM's control characters on the user's terminal.
  test('a SessionExpiresAt that is not ISO 8601 is ignored: no control character reaches the terminal or the cache', async () => {
    fake.next = () => issued(HOUR, SESSION, { SessionExpiresAt: 'Jan 1 2020 (\u001b]0;pwned\u0007\u001b[2J)' });
    const res = await run('credentials', '--verbose');
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch('the session at a time the TVM did not say');
    expect(res.stderr).not.toMatch(CONTROL);
    expect(readEntry(fake.file)?.sessionExpiresAt).toBeUndefined();
  });

  test('an Expiration that is not ISO 8601 is refused (exit 3): no control character reaches the terminal', async () => {
    fake.next = () => issued(HOUR, SESSION, { Expiration: `${new Date(Date.now() + 300_000).toUTCString()} (\u001b[31mforged\u001b[0m)` });
    const res = await run('env', '--verbose');
    expect(res).toMatchObject({ code: 3, stdout: '' });
    expect(res.stderr).toMatch('the TVM answered a malformed Expiration');
    expect(res.stderr).not.toMatch(CONTROL);
  });

  // Finding 3 (low). The credential fields are checked to be non-empty strings, nothing more. A NUL in one makes
  // exec's spawn() throw a TypeError whose message quotes the value, and main() prints it as an "unexpected" error:
  // the secret access key lands on stderr (a CI log), its control characters unescaped by printable().
  test('exec never prints the secret access key, whatever the answer holds', async () => {
    fake.next = () => issued(HOUR, SESSION, { SecretAccessKey: 'wJalrXUtnFEMI/SECRETVALUE\u0000\u001b[2J' });
    const res = await run('exec', '--', 'true');
    expect(res.stderr).not.toMatch('SECRETVALUE');
    expect(res.code).toBe(3); // a malformed answer: the TVM's fault (exit 3), named as such
  });

  test('held: a value with whitespace or newlines never reaches env\'s output: the answer is refused (exit 3)', async () => {
    const marker = path.join(tempDir('redteam-env-'), 'ran');
    fake.next = () => issued(HOUR, SESSION, { SecretAccessKey: `x'\n$(touch ${marker})\n\`touch ${marker}\`'"; touch ${marker}; '` });
    const res = await run('env');
    expect(res).toMatchObject({ code: 3, stdout: '' });
    expect(res.stderr).toMatch('the TVM answered a malformed SecretAccessKey');
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('held: env\'s export lines evaluate to inert strings whatever quotes and substitutions a value holds', async () => {
    const marker = path.join(tempDir('redteam-env-'), 'ran');
    const token = '\';touch${marker}#$(touch${marker})`touch${marker}`"';
    fake.next = () => issued(HOUR, SESSION, { Token: token });
    const res = await run('env');
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n').filter(Boolean).every((l) => /^(export [A-Z_]+='.*'|unset [A-Z_ ]+)$/.test(l))).toBe(true);
    const shell = spawnSync('sh', ['-c', 'eval "$1"; printf %s "$AWS_SESSION_TOKEN"', 'sh', res.stdout], { encoding: 'utf8' });
    expect(shell.status).toBe(0);
    expect(shell.stdout).toBe(token);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('held: a refusal\'s message reaches stderr made printable, and a malformed session id is never cached', async () => {
    fake.next = () => ({ status: 403, body: { Code: 'POLICY_DENY', Message: 'no \u001b[2J\u009b31m\u202e' } });
    const refused = await run('credentials');
    expect(refused.code).toBe(1);
    expect(refused.stderr).not.toMatch(CONTROL);
    fake.next = () => issued(HOUR, '../../etc/passwd');
    const bad = await run('credentials');
    expect(bad.code).toBe(3);
    expect(readEntry(fake.file)).toBeUndefined();
  });
});

describe('the fallback to cached credentials', () => {
  // Finding 4 (low). After SESSION_EXPIRED or SESSION_NOT_FOUND the command starts a new session, but keeps the old
  // entry, credentials included, as `entry`. If the new-session vend then fails (5xx, or a 429 that a new session's
  // transaction conflict or STS throttling gives), fallback() serves the credentials of the session the TVM has just
  // said is over, exit 0. README: "the TVM refuses (HTTP 4xx, exit 1): the refusal, never the cache".
  test('after SESSION_EXPIRED, a failing new-session vend does not serve the ended session\'s cached credentials', async () => {
    cached(fake.file, 200);
    const down: FakeAnswer = { status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } };
    fake.next = (req) => (req.headers[SESSION_HEADER] ? refusal(403, 'SESSION_EXPIRED') : down);
    const res = await run('credentials');
    expect(fake.tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([SESSION, undefined]);
    expect(res.stdout).not.toMatch('ASIACACHED');
    expect(res.code).toBe(3);
  });

  // The same entry is left in the cache when the new session is refused (PRINCIPAL_BLOCKED): a later call with a
  // smaller --expiry-window (or a later fallback) is answered the ended session's credentials without asking the TVM.
  test('after SESSION_NOT_FOUND and a refused new session, the old session\'s credentials are gone from the cache', async () => {
    cached(fake.file, 200);
    fake.next = (req) => (req.headers[SESSION_HEADER] ? refusal(404, 'SESSION_NOT_FOUND') : refusal(403, 'PRINCIPAL_BLOCKED'));
    expect((await run('credentials')).code).toBe(1);
    expect(readEntry(fake.file)?.credentials).toBeUndefined();
    const later = await run('credentials', '--expiry-window', '60');
    expect(later.stdout).not.toMatch('ASIACACHED');
  });

  // Finding 5 (low, availability). When the TVM is down or slow to fail, the holder serves the cached credentials
  // (fallback) but writes nothing, and the waiters' ready() wants credentials with more than the expiry window left,
  // which these are not (that is why a vend was needed). So each waiter in turn takes the lock and waits for its own
  // failure: N processes started together take N times the failure's time (up to 15 s each when unreachable, bounded
  // only by the waiters' maxWaitMs), where without the lock they would take it once.
  test('processes started together while the TVM fails each get the fallback in about one failure\'s time, not in turn', async () => {
    const bundleEnv = { ...fake.env, ...KEYS.alice };
    cached(cacheFile(new URL(fake.tvm.url), 'p', bundleEnv), 200);
    const delayMs = 1_200;
    fake.next = () => new Promise((resolve) => setTimeout(() => resolve({ status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } }), delayMs));
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 4 }, () => runCli(['credentials', '--url', fake.tvm.url, '--profile', 'p'], bundleEnv)));
    const elapsed = Date.now() - started;
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results.every((r) => keyOf(r) === 'ASIACACHED')).toBe(true);
    expect(elapsed).toBeLessThan(2.5 * delayMs);
  }, 20_000);

  test('held: in the bundle, an unreachable TVM (heavy.js\'s CliError, recognised by the entry bundle) falls back with a warning', async () => {
    const unreachable = 'http://127.0.0.1:1/';
    const bundleEnv = { ...fake.env, ...KEYS.alice };
    cached(cacheFile(new URL(unreachable), 'p', bundleEnv), 200);
    const res = await runCli(['credentials', '--url', unreachable, '--profile', 'p'], bundleEnv);
    expect(res.code).toBe(0);
    expect(keyOf(res)).toBe('ASIACACHED');
    expect(res.stderr).toMatch(/^sentinel-tvm: warning: cannot reach the TVM at http:\/\/127.0.0.1:1: .*; using the cached credentials/);
  });

  test('held: with --no-cache no file of the cache directory ever holds a secret (lock, temporary files included)', async () => {
    await run('credentials', '--no-cache');
    fake.next = () => refusal(403, 'SESSION_REVOKED');
    await run('credentials', '--no-cache');
    fake.next = () => ({ status: 503, body: { Code: 'STORE_UNAVAILABLE', Message: 'down' } });
    expect((await run('credentials', '--no-cache')).code).toBe(3);
    const dir = path.dirname(fake.file);
    const names = fs.readdirSync(dir);
    expect(names).toEqual([path.basename(fake.file)]);
    for (const name of names) expect(fs.readFileSync(path.join(dir, name), 'utf8')).not.toMatch(/secret-|token-/);
  });
});

describe('sessions end and revoke on this machine', () => {
  // Finding 6 (low). forgetSession() does not take the cache file's lock. A vend of the same session in flight when
  // `sessions revoke` runs writes its answer after the revoke has cleared the entry: the revoked session's credentials
  // are cached again and answered for up to --duration minus --expiry-window (with futureVendsOnly() they still work).
  // The TVM here answers the in-flight vend only after the clear, as one that vended just before the revocation does.
  test('a vend in flight when the session is revoked does not put its credentials back into the cache', async () => {
    cached(fake.file, 200);
    let cleared: Promise<unknown> = Promise.resolve();
    fake.next = () => {
      cleared = Promise.resolve(forgetSession(SESSION, 'revoked', fake.env));
      return issued();
    };
    const res = await run('credentials');
    await cleared;
    expect(res.code).toBe(0);
    expect(readEntry(fake.file)?.sessionId).toBe(SESSION);
    expect(readEntry(fake.file)?.credentials).toBeUndefined();
  });

  test('held: revoke clears every entry of that session (all signers), and no other session\'s', async () => {
    const other = cacheFile(new URL(fake.tvm.url), 'p', fake.env, signerOf('someone', {}));
    const unrelated = cacheFile(new URL(fake.tvm.url), 'q', fake.env);
    cached(fake.file, HOUR);
    cached(other, HOUR);
    cached(unrelated, HOUR, { sessionId: OTHER_SESSION });
    expect(await forgetSession(SESSION, 'revoked', fake.env)).toBe(2);
    expect([readEntry(fake.file)?.credentials, readEntry(other)?.credentials]).toEqual([undefined, undefined]);
    expect(readEntry(unrelated)?.credentials?.AccessKeyId).toBe('ASIACACHED');
    fake.next = () => refusal(403, 'SESSION_REVOKED');
    expect((await run('credentials')).code).toBe(1); // asked the TVM, told revoked: not quietly a new session
  });
});

describe('the cache directory and the lock: what another user or a stray file can do', () => {
  // Finding 7 (low, hardening). Only the cache directory itself is checked. Whoever can write its parent (a parent
  // open to group or others, not sticky) can rename the checked directory away and put a link or a directory of theirs
  // in its place between checkCacheDir() and the open or rename that follows (O_NOFOLLOW covers the last component
  // only): reads and writes then go through a directory they control. OpenSSH's StrictModes refuses such parents.
  test('a cache directory whose parent others may write (and that is not sticky) is refused', () => {
    const parent = tempDir('redteam-parent-');
    fs.chmodSync(parent, 0o777);
    const dir = path.join(parent, 'cache');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(() => checkCacheDir(dir)).toThrow(/parent|others/);
  });

  test('held: a sticky world-writable parent (/tmp) is fine, and a directory planted there by another user is refused', () => {
    const parent = tempDir('redteam-sticky-');
    fs.chmodSync(parent, 0o1777);
    const dir = path.join(parent, 'cache');
    fs.mkdirSync(dir, { mode: 0o700 });
    expect(checkCacheDir(dir)).toBe(true);
    if (process.getuid?.() === 0) {
      fs.chownSync(dir, NOBODY, NOBODY);
      expect(() => checkCacheDir(dir)).toThrow(`belongs to uid ${NOBODY}`);
    }
  });

  asRoot('held: a lock file that is a FIFO or a directory fails at once (exit 4), and another user\'s cache file is never answered', async () => {
    const lock = lockFileOf(fake.file);
    fs.mkdirSync(path.dirname(fake.file), { recursive: true, mode: 0o700 });
    const planted: Array<[string, () => void]> = [
      ['fifo', () => spawnSync('mkfifo', ['-m', '600', lock])],
      ['directory', () => fs.mkdirSync(lock)],
    ];
    for (const [what, plant] of planted) {
      plant();
      const started = Date.now();
      const res = await run('credentials');
      expect({ what, code: res.code }).toEqual({ what, code: 4 });
      expect(res.stderr).toMatch(`the session cache lock ${lock} is not a regular file`);
      expect(Date.now() - started).toBeLessThan(3_000);
      fs.rmSync(lock, { recursive: true, force: true });
    }
    // A cache file of another user's, with credentials that would be usable: refused, never answered.
    cached(fake.file, HOUR);
    fs.chownSync(fake.file, NOBODY, NOBODY);
    const res = await run('credentials');
    expect(res.code).toBe(4);
    expect(res.stdout).toBe('');
    expect(fake.tvm.requests).toHaveLength(0);
  });

  test('held: exec hands the command neither the credential-chain variable nor the signer\'s own keys', async () => {
    const bundleEnv = { ...fake.env, ...KEYS.alice, SENTINEL_TVM_CREDENTIAL_CHAIN: 'deadbeefdeadbeef', AWS_SECURITY_TOKEN: 'old' };
    const script = 'printf "%s|%s|%s" "${SENTINEL_TVM_CREDENTIAL_CHAIN-unset}" "$AWS_SECRET_ACCESS_KEY" "${AWS_SECURITY_TOKEN-unset}" >&2';
    const res = await runCli(['exec', '--url', fake.tvm.url, '--profile', 'p', '--', 'sh', '-c', script], bundleEnv);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('unset|secret-1|unset');
    expect(res.stderr).not.toMatch(KEYS.alice.AWS_SECRET_ACCESS_KEY);
  });
});

describe('the request itself', () => {
  // Finding 8 (low). TvmClient's timeout is Node's socket idle timeout: an answer that trickles in (one byte now and
  // then) never trips it, so a holder of the lock (a credential_process the AWS CLI waits on) can hang for as long as
  // the peer likes. Waiters are now bounded by maxWaitMs, the holder is not. An overall deadline is wanted.
  test('a request whose answer trickles in fails within its timeout', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      const drip = setInterval(() => res.write(' '), 100);
      setTimeout(() => { clearInterval(drip); res.end('}'); }, 2_500);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new TvmClient({ url: `http://127.0.0.1:${port}/`, timeoutMs: 400, credentials: { accessKeyId: 'AKID', secretAccessKey: 's' } });
      const started = Date.now();
      const outcome = await client.request('GET', '/').then(() => 'answered', () => 'failed');
      expect({ outcome, fast: Date.now() - started < 1_500 }).toEqual({ outcome: 'failed', fast: true });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
