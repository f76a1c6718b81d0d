// L6: whatever the command prints that came from the TVM or its table reaches the terminal without control characters.
import * as fs from 'fs';
import { cleanEnv, removeTempDirs, runInProcess, startFakeTvm, type FakeAnswer, type FakeRequest, type FakeTvm } from './support/cli';
import { cacheFile, writeSession } from '../cli/cache';
import { keyValues, printable, printableJson, table } from '../cli/format';

/** Clear the screen (ESC [2J), a one-byte CSI (U+009B), a carriage return, a bell, a backspace, DEL and a newline. */
const HOSTILE = 'a\u001b[2Jb\u009b31mc\rd\u0007e\bf\u007fg\nh';
const SHOWN = 'a\\x1b[2Jb\\x9b31mc\\x0dd\\x07e\\x08f\\x7fg\\x0ah';
/** Any control character but the newline the command itself ends its lines with. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const SESSION_ID = '0123456789abcdef';

/** The text is safe for a terminal and shows the hostile value, escaped. */
function expectShown(text: string): void {
  expect(text).not.toMatch(CONTROL);
  expect(text).toContain(SHOWN);
}

describe('values are made printable', () => {
  test('control characters become visible \\xHH escapes; other text is kept', () => {
    expect(printable(HOSTILE)).toBe(SHOWN);
    expect(printable('revoked: laptop stolen — é ✓')).toBe('revoked: laptop stolen — é ✓');
    expect(printable(42)).toBe('42');
  });

  test('invisible format characters (bidi overrides, zero-width) become visible too: a reason cannot read as something else', () => {
    expect(printable('ok\u202egnirts\u2066x\u2069\u200by')).toBe('ok\\u{202e}gnirts\\u{2066}x\\u{2069}\\u{200b}y');
  });

  test('tables and key: value lines escape every cell and key, and align on the escaped text', () => {
    expect(table(['A', 'B'], [[HOSTILE, 1]])).toBe(`A${' '.repeat(SHOWN.length + 1)}B\n${SHOWN}  1\n`);
    const kv = keyValues([['revoked_reason', HOSTILE], ['k\u001b[1m', 'v']]);
    expect(kv).toBe(`revoked_reason: ${SHOWN}\nk\\x1b[1m:       v\n`);
  });

  test('JSON escapes DEL and C1 as well, and still parses to the same value', () => {
    const value = { Reason: HOSTILE, Nested: [HOSTILE] };
    const text = printableJson(value, 2);
    expect(text).not.toMatch(CONTROL);
    expect(text).toContain('\\u009b31m');
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('the command prints the TVM\'s answers made printable', () => {
  let tvm: FakeTvm;
  let answer: (req: FakeRequest) => FakeAnswer;
  beforeAll(async () => { tvm = await startFakeTvm((req) => answer(req)); });
  afterAll(async () => { await tvm.close(); removeTempDirs(); });

  const session = {
    'id': SESSION_ID,
    'user': HOSTILE,
    'profile': 'p',
    'status': 'revoked',
    'revoked_reason': HOSTILE,
    'ended_reason': HOSTILE,
    'x\u001b]0;title\u0007': 'a key from the table',
  };

  test('profiles: the table, and --json', async () => {
    answer = () => ({ status: 200, body: { Profiles: [{ Name: HOSTILE, MaxDurationSeconds: 3600 }] } });
    const res = await runInProcess(['profiles', '--url', tvm.url]);
    expect(res.code).toBe(0);
    expectShown(res.stdout);
    const json = await runInProcess(['profiles', '--url', tvm.url, '--json']);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).Profiles[0].Name).toBe(HOSTILE);
  });

  test('sessions list: the table and the next-token hint on stderr', async () => {
    answer = () => ({ status: 200, body: { Sessions: [session], NextToken: HOSTILE } });
    const res = await runInProcess(['sessions', 'list', '--url', tvm.url]);
    expect(res.code).toBe(0);
    expectShown(res.stdout);
    expectShown(res.stderr);
  });

  test.each(['get', 'end', 'revoke'])('sessions %s: revoked_reason, ended_reason and the keys themselves', async (action) => {
    answer = () => ({ status: 200, body: { Session: session } });
    const res = await runInProcess(['sessions', action, SESSION_ID, '--url', tvm.url, ...(action === 'revoke' ? ['--reason', 'r'] : [])]);
    expect(res.code).toBe(0);
    expectShown(res.stdout);
    expect(res.stdout).toContain('x\\x1b]0;title\\x07:');
    const json = await runInProcess(['sessions', action, SESSION_ID, '--url', tvm.url, '--json', ...(action === 'revoke' ? ['--reason', 'r'] : [])]);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).Session).toEqual(session);
  });

  test.each<[string, FakeAnswer, number]>([
    ['the TVM\'s code, message and request id', { status: 403, body: { Code: `POLICY_DENY${HOSTILE}`, Message: HOSTILE, RequestId: HOSTILE } }, 1],
    ['the gateway\'s message', { status: 403, body: { message: HOSTILE } }, 1],
    ['a body that is not JSON', { status: 502, body: `<html>${HOSTILE}</html>` }, 3],
  ])('an error shows %s on stderr made printable', async (_case, refusal, exit) => {
    answer = () => refusal;
    for (const args of [['profiles'], ['sessions', 'list'], ['sessions', 'get', SESSION_ID], ['credentials', '--profile', 'p']]) {
      const res = await runInProcess([...args, '--url', tvm.url]);
      expect(res.code).toBe(exit);
      expect(res.stdout).toBe('');
      expect(res.stderr).not.toMatch(CONTROL);
      // A newline from the TVM cannot start a line of its own that looks like the command's.
      expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  test('credentials: a revoked cached session shows the TVM\'s message made printable, then the command\'s own hint', async () => {
    const env = cleanEnv();
    writeSession(cacheFile(new URL(tvm.url), 'p', env), { url: tvm.url, profile: 'p', sessionId: SESSION_ID, updatedAt: 'now' });
    answer = () => ({ status: 403, body: { Code: 'SESSION_REVOKED', Message: HOSTILE } });
    const res = await runInProcess(['credentials', '--url', tvm.url, '--profile', 'p'], env);
    expect(res.code).toBe(1);
    expectShown(res.stderr);
    expect(res.stderr.trimEnd().split('\n')).toEqual([
      `sentinel-tvm: SESSION_REVOKED: ${SHOWN}`,
      `sentinel-tvm: session ${SESSION_ID} was revoked; --new-session starts a new one`,
    ]);
  });

  test('credentials: an answer whose credentials are not printable ASCII is refused (exit 3): nothing is printed or cached', async () => {
    const creds = { AccessKeyId: `AKID${HOSTILE}`, SecretAccessKey: 's', Token: 't', Expiration: '2030-01-01T00:00:00Z', SessionId: SESSION_ID };
    answer = () => ({ status: 200, body: creds });
    const env = cleanEnv();
    const res = await runInProcess(['credentials', '--url', tvm.url, '--profile', 'p'], env);
    expect(res).toMatchObject({ code: 3, stdout: '' });
    expect(res.stderr).toBe('sentinel-tvm: the TVM answered a malformed AccessKeyId (not printable ASCII)\n');
    expect(fs.existsSync(env.SENTINEL_TVM_CACHE_DIR) ? fs.readdirSync(env.SENTINEL_TVM_CACHE_DIR) : []).toEqual([]);
  });
});
