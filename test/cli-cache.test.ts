// L7: the session cache is never followed through a symbolic link, nor trusted when someone else could have written it.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { cleanEnv, removeTempDirs, runInProcess, startFakeTvm, tempDir, type FakeTvm } from './support/cli';
import { cacheFile, readSession, writeSession } from '../cli/cache';
import { SESSION_HEADER } from '../src/shared/contract';

const NOBODY = 65534;
const OLD_ID = '0123456789abcdef';
const NEW_ID = 'fedcba9876543210';
const entry = (sessionId: string) => ({ url: 'u', profile: 'p', sessionId, updatedAt: 'now' });
/** Permission bits, as `ls -l` shows them (e.g. '600'). */
const modeOf = (p: string) => (fs.lstatSync(p).mode % 0o1000).toString(8);
/** Ownership and modes are POSIX only, and another owner needs root to set up (this test machine runs as root). */
const asRoot = process.getuid?.() === 0 ? test : test.skip;

let tvm: FakeTvm;
beforeAll(async () => {
  tvm = await startFakeTvm(() => ({
    status: 200,
    body: { AccessKeyId: 'AKID', SecretAccessKey: 's', Token: 't', Expiration: '2030-01-01T00:00:00Z', SessionId: NEW_ID },
  }));
});
afterAll(async () => { await tvm.close(); removeTempDirs(); });

/** A home of its own per test; `cache` is where SENTINEL_TVM_CACHE_DIR points, `file` the cache file of the fake TVM's profile p. */
let env: Record<string, string>;
let cache: string;
let file: string;
beforeEach(() => {
  tvm.requests.length = 0;
  env = cleanEnv();
  cache = env.SENTINEL_TVM_CACHE_DIR;
  file = cacheFile(new URL(tvm.url), 'p', env);
});

const credentials = (...extra: string[]) => runInProcess(['credentials', '--url', tvm.url, '--profile', 'p', ...extra], env);

/** The command exits 4 with one line naming the path and what is wrong, and sends nothing. */
async function expectRefused(message: RegExp, ...extra: string[]): Promise<void> {
  const res = await credentials(...extra);
  expect(res.stderr).toMatch(message);
  expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(res.code).toBe(4);
  expect(res.stdout).toBe('');
  expect(tvm.requests).toHaveLength(0);
}

describe('the session cache', () => {
  test('a cache directory made by the command is 0700, its files 0600, and the next call continues the session', async () => {
    expect(readSession(file)).toBeUndefined(); // no directory yet: no session, nothing refused
    const first = await credentials();
    expect(first.code).toBe(0);
    expect(modeOf(cache)).toBe('700');
    expect(modeOf(file)).toBe('600');
    expect(readSession(file)).toBe(NEW_ID);
    expect((await credentials()).code).toBe(0); // answered from the cache: no request
    expect((await credentials('--no-cache')).code).toBe(0);
    expect(tvm.requests.map((r) => r.headers[SESSION_HEADER])).toEqual([undefined, NEW_ID]);
  });

  test('fails when the cache directory is a symbolic link, even to a directory of the user\'s', async () => {
    const real = tempDir('cache-real-');
    writeSession(path.join(real, path.basename(file)), entry(OLD_ID));
    fs.symlinkSync(real, cache);
    expect(() => readSession(file)).toThrow(`the session cache directory ${cache} is a symbolic link`);
    expect(() => writeSession(path.join(cache, 'session-other.json'), entry(OLD_ID))).toThrow(/is a symbolic link/);
    await expectRefused(new RegExp(`^sentinel-tvm: the session cache directory ${cache} is a symbolic link, which is never followed`));
    await expectRefused(/is a symbolic link/, '--new-session');
    expect(fs.readdirSync(real)).toEqual([path.basename(file)]);
  });

  test('fails when the cache file is a symbolic link, even to a file of the user\'s', async () => {
    const elsewhere = path.join(tempDir('cache-elsewhere-'), 'session.json');
    writeSession(elsewhere, entry(OLD_ID));
    fs.mkdirSync(cache, { mode: 0o700 });
    fs.symlinkSync(elsewhere, file);
    expect(() => readSession(file)).toThrow(`the session cache file ${file} is a symbolic link, which is never followed: delete it (\`rm ${file}\`)`);
    await expectRefused(new RegExp(`the session cache file ${file} is a symbolic link`));
    // --new-session does not read it; the write replaces the link and never writes through it.
    expect((await credentials('--new-session')).code).toBe(0);
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(readSession(file)).toBe(NEW_ID);
    expect(readSession(elsewhere)).toBe(OLD_ID);
  });

  // Not only writable ones: a directory wider than 0700 is refused, naming the fix, rather than quietly narrowed.
  test.each(['770', '775', '777', '755', '750'])('fails when the cache directory is open to group or others (mode %s)', async (mode) => {
    writeSession(file, entry(OLD_ID));
    fs.chmodSync(cache, parseInt(mode, 8));
    const message = `the session cache directory ${cache} is open to group or others (mode 0${mode}), so its files may not be yours: `
      + `\`chmod 700 ${cache}\``;
    expect(() => readSession(file)).toThrow(message);
    expect(() => writeSession(file, entry(NEW_ID))).toThrow(message);
    await expectRefused(/is open to group or others/);
    await expectRefused(/is open to group or others/, '--new-session');
    fs.chmodSync(cache, 0o700);
    expect(readSession(file)).toBe(OLD_ID);
  });

  test.each(['644', '640', '604', '660', '666'])('fails when the cache file is open to group or others (mode %s)', async (mode) => {
    writeSession(file, entry(OLD_ID));
    fs.chmodSync(file, parseInt(mode, 8));
    expect(() => readSession(file)).toThrow(`the session cache file ${file} is open to group or others (mode 0${mode}): `
      + `delete it (\`rm ${file}\`): the next call starts a new session`);
    await expectRefused(/the session cache file .* is open to group or others/);
  });

  asRoot('fails when the cache file belongs to another user', async () => {
    writeSession(file, entry(OLD_ID));
    fs.chownSync(file, NOBODY, NOBODY);
    expect(fs.statSync(file).uid).toBe(NOBODY);
    expect(() => readSession(file)).toThrow(`the session cache file ${file} belongs to uid ${NOBODY}, not to you (uid ${process.getuid!()})`);
    await expectRefused(new RegExp(`belongs to uid ${NOBODY}`));
  });

  asRoot('fails when the cache directory belongs to another user', async () => {
    writeSession(file, entry(OLD_ID));
    fs.chownSync(cache, NOBODY, NOBODY);
    expect(() => readSession(file)).toThrow(`the session cache directory ${cache} belongs to uid ${NOBODY}, not to you`);
    expect(() => writeSession(file, entry(NEW_ID))).toThrow(/belongs to uid/);
    await expectRefused(/the session cache directory .* belongs to uid 65534/, '--new-session');
  });

  test('fails when the cache file is not a regular file, without waiting on a FIFO', async () => {
    fs.mkdirSync(cache, { mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', file]);
    // A reader that waits on the FIFO would block this thread; another one opens and closes its writing end after a
    // while, so such a reader gets an empty file and the test fails instead of hanging.
    const unblock = new Worker(`setTimeout(() => { const fs = require('fs'); try { fs.closeSync(fs.openSync(${JSON.stringify(file)},
      fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); } catch {} }, 2000);`, { eval: true });
    try {
      expect(() => readSession(file)).toThrow(`the session cache file ${file} is not a regular file`);
    } finally {
      await unblock.terminate();
    }
    fs.rmSync(file);
    fs.mkdirSync(file, { mode: 0o700 });
    expect(() => readSession(file)).toThrow('is not a regular file');
  });

  test('fails when the cache directory is not a directory', async () => {
    fs.writeFileSync(cache, '', { mode: 0o600 });
    expect(() => readSession(file)).toThrow(`the session cache directory ${cache} is not a directory`);
    await expectRefused(/is not a directory/);
  });
});
