// End to end, each part in its own process, as a user runs them: the `sentinel-tvm` client → `sentinel-tvm local`
// (front door verifying SigV4 → the real bundled vending Lambda → DynamoDB Local → the local STS), and the
// credential_process JSON consumed by real AWS clients (the SDK for JavaScript's fromProcess; the AWS CLI if installed).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { fromProcess } from '@aws-sdk/credential-providers';
import { cacheFile, signerOf } from '../cli/cache';
import { chainKeyOf } from '../cli/commands';
import { checkBundle, CLI_BUNDLE, cleanEnv, decisions, EXAMPLE_CONFIG, KEYS, removeTempDirs, runCli, startLocal, tempDir, type LocalMode } from './support/cli';
import { sendRequest, signRequest } from './support/cli-sign';
import { endpoint, uniqueTableName } from './support/dynamodb-local';

/** Permission bits of a file, as `ls -l` shows them (e.g. '600'). */
const modeOf = (file: string) => (fs.statSync(file).mode % 0o1000).toString(8);

type Who = keyof typeof KEYS;
const ALICE_KEY = { accessKeyId: KEYS.alice.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.alice.AWS_SECRET_ACCESS_KEY };
const ADMIN_KEY = { accessKeyId: KEYS.admin.AWS_ACCESS_KEY_ID, secretAccessKey: KEYS.admin.AWS_SECRET_ACCESS_KEY };

let local: LocalMode;
/** One cache directory per principal, as if each had their own machine. */
const caches: Record<string, string> = {};

beforeAll(async () => {
  checkBundle();
  local = await startLocal(['--config', EXAMPLE_CONFIG, '--dynamodb-endpoint', endpoint(), '--table', uniqueTableName('local-e2e')]);
});
afterAll(async () => {
  await local?.stop();
  removeTempDirs();
});

function envOf(who: Who | undefined, extra: Record<string, string> = {}): Record<string, string> {
  if (who) caches[who] ??= tempDir(`cache-${who}-`);
  return cleanEnv({ ...(who ? KEYS[who] : {}), ...(who ? { SENTINEL_TVM_CACHE_DIR: caches[who] } : {}), ...extra });
}
const cli = (who: Who | undefined, args: string[], extra: Record<string, string> = {}) => runCli(args, envOf(who, extra));
const vend = (who: Who, profile = 'prod-readonly', more: string[] = [], url = local.url) =>
  cli(who, ['credentials', '--url', url, '--profile', profile, ...more]);
const cacheFiles = (who: Who) => fs.readdirSync(caches[who]).filter((f) => f.endsWith('.json')).map((f) => path.join(caches[who], f));
const cachedIds = (who: Who) => cacheFiles(who).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')).sessionId as string);
const session = async (id: string, who: Who = 'admin') => JSON.parse((await cli(who, ['sessions', 'get', id, '--url', local.url, '--json'])).stdout).Session;
const freshCache = (who: Who) => {
  if (caches[who]) fs.rmSync(caches[who], { recursive: true, force: true });
  delete caches[who];
};

describe('sentinel-tvm credentials', () => {
  beforeEach(() => freshCache('alice'));

  test('prints credential_process JSON, caches the session and its credentials (0600 in 0700), answers the next call from the cache, '
    + 'and --no-cache continues the session', async () => {
    const first = await vend('alice');

    expect(first.code).toBe(0);
    const creds = JSON.parse(first.stdout);
    expect(Object.keys(creds)).toEqual(['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration']);
    expect(creds).toMatchObject({ Version: 1, AccessKeyId: expect.stringMatching(/^ASIA/), Expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:]{8}Z$/) });
    expect(first.stderr).toBe('');
    const [file] = cacheFiles('alice');
    expect(modeOf(file)).toBe('600');
    expect(modeOf(path.dirname(file))).toBe('700');
    const cached = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(Object.keys(cached).sort()).toEqual(['credentials', 'profile', 'sessionExpiresAt', 'sessionId', 'updatedAt', 'url']);
    expect(cached.credentials).toEqual({
      AccessKeyId: creds.AccessKeyId, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken, Expiration: creds.Expiration,
    });
    const [id] = cachedIds('alice');
    const vends = () => decisions(local).filter((d) => d.sessionId === id && d.path === '/').map((d) => [d.newSession, d.decision, d.sourceIdentity]);

    const second = await vend('alice');

    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual(creds);
    expect(vends()).toEqual([[true, 'ALLOW', `sentinel.${id}.s.alice`]]);

    const third = await vend('alice', 'prod-readonly', ['--no-cache']);

    expect(third.code).toBe(0);
    expect(JSON.parse(third.stdout).AccessKeyId).not.toBe(creds.AccessKeyId);
    expect(cachedIds('alice')).toEqual([id]);
    // --no-cache keeps the session id and writes no credentials.
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).credentials).toBeUndefined();
    expect(await session(id)).toMatchObject({ id, user: 'alice', profile: 'prod-readonly', status: 'active', request_count: 2 });
    // The handler saw a new, then a continued session, and STS was called with the session tag both times.
    expect(vends()).toEqual([[true, 'ALLOW', `sentinel.${id}.s.alice`], [false, 'ALLOW', `sentinel.${id}.s.alice`]]);
  });

  test('keeps one cache file per URL and per profile', async () => {
    const port = new URL(local.url).port;
    await vend('alice');
    await vend('alice', 'prod-readonly', [], `http://localhost:${port}/`);
    await vend('alice', 'prod-readonly', ['--duration', '1800']);

    const ids = cachedIds('alice');
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    freshCache('bob');
    expect((await vend('bob', 'deploy')).code).toBe(0);
    expect(cacheFiles('bob')).toHaveLength(1);
    expect(path.basename(cacheFiles('bob')[0])).not.toBe(path.basename(cacheFiles('alice')[0]));
  });

  test('sessions end clears the session\'s cached credentials, so the next call starts a new session', async () => {
    await vend('alice');
    const [ended] = cachedIds('alice');

    const end = await cli('alice', ['sessions', 'end', ended, '--url', local.url]);

    expect(end.code).toBe(0);
    expect(end.stderr).toMatch(`session ${ended}: its cached credentials on this machine are cleared`);
    expect(cacheFiles('alice')).toEqual([]);
    expect((await vend('alice')).code).toBe(0);
    expect(cachedIds('alice')[0]).not.toBe(ended);
  });

  test('starts a new session when the cached one has ended elsewhere (SESSION_EXPIRED) or is unknown (SESSION_NOT_FOUND)', async () => {
    await vend('alice');
    const [ended] = cachedIds('alice');
    // Ended by an administrator, on another machine: alice's cache still has the session and its credentials.
    expect((await cli('admin', ['sessions', 'end', ended, '--url', local.url])).code).toBe(0);

    const afterEnd = await vend('alice', 'prod-readonly', ['--no-cache']);

    expect(afterEnd.code).toBe(0);
    expect(afterEnd.stderr).toMatch(`session ${ended} has ended: starting a new session`);
    const [renewed] = cachedIds('alice');
    expect(renewed).not.toBe(ended);

    fs.writeFileSync(cacheFiles('alice')[0], JSON.stringify({ sessionId: '00000000deadbeef' }));
    const afterUnknown = await vend('alice');
    expect(afterUnknown.code).toBe(0);
    expect(afterUnknown.stderr).toMatch('is unknown to the TVM: starting a new session');
    expect(cachedIds('alice')[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(cachedIds('alice')[0]).not.toBe('00000000deadbeef');
  });

  test('a revocation reaches the cache at the next vend: SESSION_REVOKED (exit 1) clears the cached credentials and is reported until '
    + '--new-session', async () => {
    const issued = JSON.parse((await vend('alice')).stdout);
    const [id] = cachedIds('alice');
    const revoke = await cli('admin', ['sessions', 'revoke', id, '--reason', 'laptop stolen', '--url', local.url]);
    expect(revoke.code).toBe(0);
    expect(revoke.stderr).toMatch(`session ${id} revoked`);
    // On alice's machine the credentials are still cached and still answered: nothing told it yet (in AWS, IAM denies
    // them under RevocationEnforcement.roleDenyPolicy). The next vend is refused, and they are gone.
    expect(JSON.parse((await vend('alice')).stdout).AccessKeyId).toBe(issued.AccessKeyId);

    const refused = await vend('alice', 'prod-readonly', ['--no-cache']);

    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^sentinel-tvm: SESSION_REVOKED: .*\(request id \S+\)\n.*--new-session starts a new one/);
    expect(cachedIds('alice')).toEqual([id]);
    expect(JSON.parse(fs.readFileSync(cacheFiles('alice')[0], 'utf8')).credentials).toBeUndefined();
    const again = await vend('alice');
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toMatch(/^sentinel-tvm: SESSION_REVOKED: /);
    const fresh = await vend('alice', 'prod-readonly', ['--new-session']);
    expect(fresh.code).toBe(0);
    expect(cachedIds('alice')[0]).not.toBe(id);
  });

  test('sessions revoke run on the machine that cached the session clears its credentials at once', async () => {
    await vend('alice');
    const [id] = cachedIds('alice');
    // The administrator's command, run where alice's cache is.
    const revoke = await cli('admin', ['sessions', 'revoke', id, '--reason', 'done', '--url', local.url], { SENTINEL_TVM_CACHE_DIR: caches.alice });

    expect(revoke.code).toBe(0);
    expect(revoke.stderr).toMatch(`session ${id}: its cached credentials on this machine are cleared`);
    const refused = await vend('alice');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^sentinel-tvm: SESSION_REVOKED: /);
  });

  test('fails with exit 1 and POLICY_DENY for a profile the caller may not use, and caches nothing', async () => {
    const res = await vend('alice', 'deploy');
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(/^sentinel-tvm: POLICY_DENY: /);
    expect(cacheFiles('alice')).toEqual([]);
  });

  test('fails cleanly when the credential chain leads back to itself (AWS_PROFILE naming its own profile)', async () => {
    const dir = tempDir('loop-');
    const config = path.join(dir, 'config');
    fs.writeFileSync(config, `[profile tvm]\ncredential_process = "${process.execPath}" "${CLI_BUNDLE}" credentials --url ${local.url} --profile prod-readonly\n`);
    const res = await runCli(['credentials', '--url', local.url, '--profile', 'prod-readonly'],
      cleanEnv({ AWS_CONFIG_FILE: config, AWS_PROFILE: 'tvm', SENTINEL_TVM_CACHE_DIR: path.join(dir, 'cache') }));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch('AWS_PROFILE=tvm gets its credentials from `sentinel-tvm credentials` itself');
    // Should the config file escape that check, the nested call still stops at once instead of recursing.
    const nestedEnv = cleanEnv(KEYS.alice);
    const chainKey = chainKeyOf(cacheFile(new URL(local.url), 'prod-readonly', nestedEnv, signerOf('alice', nestedEnv)));
    const nested = await runCli(['credentials', '--url', local.url, '--profile', 'prod-readonly', '--source-profile', 'alice'],
      { ...nestedEnv, SENTINEL_TVM_CREDENTIAL_CHAIN: `0000 ${chainKey}` });
    expect(nested.code).toBe(4);
    expect(nested.stderr).toMatch('lead back to `sentinel-tvm credentials --profile prod-readonly` itself');
  });
});

describe('sentinel-tvm credentials as credential_process of real AWS clients', () => {
  let dir: string;
  let config: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = tempDir('aws-config-');
    config = path.join(dir, 'config');
    env = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'), SENTINEL_TVM_CACHE_DIR: path.join(dir, 'cache') };
    const command = `"${process.execPath}" "${CLI_BUNDLE}" credentials --url ${local.url} --profile prod-readonly --source-profile alice`;
    // alice's own (made-up) keys sign the TVM requests; the `tvm` profile gets its credentials from the TVM. Jest's
    // process.env does not reach child processes, so the SDK's profile passes the environment on the command line.
    fs.writeFileSync(config, [
      '[profile alice]', `aws_access_key_id = ${ALICE_KEY.accessKeyId}`, `aws_secret_access_key = ${ALICE_KEY.secretAccessKey}`, '',
      '[profile tvm]', 'region = us-east-1', `credential_process = ${command}`, '',
      '[profile tvm-sdk]', 'region = us-east-1',
      `credential_process = env ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} AWS_EC2_METADATA_DISABLED=true ${command}`, '',
    ].join('\n'));
  });
  const cachedId = () => {
    const files = fs.readdirSync(path.join(dir, 'cache'));
    expect(files).toHaveLength(1);
    return JSON.parse(fs.readFileSync(path.join(dir, 'cache', files[0]), 'utf8')).sessionId as string;
  };

  test('the AWS SDK for JavaScript (fromProcess) gets credentials, and its next refresh is answered from the cache', async () => {
    const provider = fromProcess({ profile: 'tvm-sdk', configFilepath: config });

    const first = await provider();
    const id = cachedId();
    const refreshed = await provider();

    expect(first).toMatchObject({ accessKeyId: expect.stringMatching(/^ASIA/), sessionToken: expect.any(String), expiration: expect.any(Date) });
    expect(refreshed.accessKeyId).toBe(first.accessKeyId);
    expect(cachedId()).toBe(id);
    expect(await session(id)).toMatchObject({ request_count: 1, status: 'active' });
    // The credentials are the protected role's, from the local STS, named after the session.
    const sts = new STSClient({ region: 'us-east-1', endpoint: local.stsUrl, credentials: provider });
    const me = await sts.send(new GetCallerIdentityCommand({}));
    expect(me.Arn).toMatch(new RegExp(`^arn:aws:sts::111122223333:assumed-role/ReadOnly/tvm-${id}-`));
    expect(await session(id)).toMatchObject({ request_count: 1 });
  });

  // CI installs the AWS CLI (scripts/setup.sh) and must run these: skipped only on a machine without it, outside CI.
  const hasAwsCli = spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
  const withAwsCli = hasAwsCli || process.env.CI ? test : test.skip;
  const awsEnv = (cache: string) => ({ PATH: process.env.PATH!, HOME: dir, AWS_EC2_METADATA_DISABLED: 'true', ...env, SENTINEL_TVM_CACHE_DIR: cache });
  const awsArgs = () => ['sts', 'get-caller-identity', '--profile', 'tvm', '--endpoint-url', local.stsUrl, '--output', 'json'];

  /** The vends of a session in local mode's decision log, once it has been read (it arrives on a pipe, a little late). */
  const vendsOf = async (id: string) => {
    const of = () => decisions(local).filter((d) => d.sessionId === id && d.path === '/');
    for (let i = 0; i < 100 && of().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    return of();
  };

  withAwsCli('the AWS CLI gets credentials through credential_process, and its next run is answered from the cache', async () => {
    const cache = path.join(tempDir('aws-cli-cache-'), 'cache');
    const aws = () => spawnSync('aws', awsArgs(), { env: awsEnv(cache), encoding: 'utf8', timeout: 30_000 });

    const first = aws();
    const second = aws();

    expect([first.status, first.stderr]).toEqual([0, '']);
    expect(second.status).toBe(0);
    const [id] = fs.readdirSync(cache).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(cache, f), 'utf8')).sessionId);
    const arns = [first, second].map((run) => JSON.parse(run.stdout).Arn);
    expect(arns[0]).toMatch(new RegExp(`^arn:aws:sts::111122223333:assumed-role/ReadOnly/tvm-${id}-`));
    // The same credentials (so the same role session name), from one vend.
    expect(arns[1]).toBe(arns[0]);
    expect(await vendsOf(id)).toHaveLength(1);
  });

  withAwsCli('eight AWS CLI commands started at once with an empty cache start one session with one vend', async () => {
    const cache = path.join(tempDir('aws-cli-cache-'), 'cache');
    await new Promise((r) => setTimeout(r, 200)); // the log of earlier tests, read
    const before = decisions(local).filter((d) => d.path === '/').length;
    const runs = await Promise.all(Array.from({ length: 8 }, () => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('aws', awsArgs(), { env: awsEnv(cache) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += String(d); });
      child.stderr.on('data', (d) => { stderr += String(d); });
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    })));

    expect(runs.map((r) => [r.code, r.stderr])).toEqual(Array(8).fill([0, '']));
    const sessions = new Set(runs.map((r) => /\/tvm-([0-9a-f]{16})-/.exec(JSON.parse(r.stdout).Arn)?.[1]));
    expect(sessions.size).toBe(1);
    const [id] = [...sessions];
    const vends = await vendsOf(id!);
    expect(vends).toHaveLength(1);
    expect(vends[0]).toMatchObject({ decision: 'ALLOW', newSession: true });
    // And no other session was started meanwhile.
    expect(decisions(local).filter((d) => d.path === '/').length - before).toBe(1);
  });
});

describe('sentinel-tvm profiles and sessions', () => {
  test('profiles lists what the caller may use, as a table or JSON', async () => {
    const table = await cli('alice', ['profiles', '--url', local.url]);
    expect(table).toMatchObject({ code: 0, stdout: 'PROFILE        MAX CREDENTIAL DURATION\nprod-readonly  1h (3600 s)\n' });
    const json = await cli('bob', ['profiles', '--url', local.url, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ Profiles: [{ Name: 'deploy', MaxDurationSeconds: 1800 }] });
  });

  test('sessions list shows the caller\'s own sessions; an administrator pages through anyone\'s with --all', async () => {
    freshCache('bob');
    for (let i = 0; i < 3; i++) expect((await vend('bob', 'deploy', ['--new-session'])).code).toBe(0);

    const own = await cli('bob', ['sessions', 'list', '--url', local.url]);
    expect(own.code).toBe(0);
    const lines = own.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SESSION\s+USER\s+PROFILE\s+STATUS\s+REQUESTS\s+STARTED\s+LAST ACCESS\s+EXPIRES$/);
    expect(lines.slice(1).every((l) => /^[0-9a-f]{16}\s+bob\s+deploy\s+active\s+1\s/.test(l))).toBe(true);
    expect(lines.length - 1).toBeGreaterThanOrEqual(3);

    const page = await cli('admin', ['sessions', 'list', '--url', local.url, '--user', 'bob', '--limit', '1', '--json']);
    const first = JSON.parse(page.stdout);
    expect(first.Sessions).toHaveLength(1);
    expect(first.NextToken).toEqual(expect.any(String));
    const all = JSON.parse((await cli('admin', ['sessions', 'list', '--url', local.url, '--user', 'bob', '--limit', '1', '--all', '--json'])).stdout);
    expect(all.Sessions.length).toBe(lines.length - 1);
    expect(all.NextToken).toBeUndefined();
    const next = await cli('admin', ['sessions', 'list', '--url', local.url, '--user', 'bob', '--limit', '1', '--next-token', first.NextToken, '--json']);
    expect(JSON.parse(next.stdout).Sessions[0].id).toBe(all.Sessions[1].id);
    const table = await cli('admin', ['sessions', 'list', '--url', local.url, '--user', 'bob', '--limit', '1']);
    expect(table.stderr).toMatch(/more sessions: add --all, or --next-token \S+/);
  });

  test('sessions get, end and revoke answer as tables or JSON, and refusals exit 1 with the TVM\'s code', async () => {
    freshCache('bob');
    await vend('bob', 'deploy');
    const [id] = cachedIds('bob');

    const get = await cli('bob', ['sessions', 'get', id, '--url', local.url]);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(new RegExp(`^id:\\s+${id}\n`));
    expect(get.stdout).toMatch(/\nstatus:\s+active\n/);
    expect(get.stdout).not.toMatch(/ASIA|SecretAccessKey|Token/);

    const forbidden = await cli('alice', ['sessions', 'get', id, '--url', local.url]);
    expect([forbidden.code, forbidden.stderr]).toEqual([1, expect.stringMatching(/^sentinel-tvm: SESSION_FORBIDDEN: /)]);
    const notAdmin = await cli('bob', ['sessions', 'revoke', id, '--reason', 'mine', '--url', local.url]);
    expect([notAdmin.code, notAdmin.stderr]).toEqual([1, expect.stringMatching(/^sentinel-tvm: POLICY_DENY: /)]);

    const end = await cli('bob', ['sessions', 'end', id, '--url', local.url, '--json']);
    expect(end.code).toBe(0);
    expect(JSON.parse(end.stdout).Session).toMatchObject({ id, status: 'expired', ended_reason: 'ended by its owner' });
    // An ended session whose credentials may still be live can be revoked (they are then denied); only once.
    const revoked = await cli('admin', ['sessions', 'revoke', id, '--reason', 'leaked', '--url', local.url]);
    expect([revoked.code, revoked.stderr]).toEqual([0, `sentinel-tvm: session ${id} revoked\n`]);
    const again = await cli('admin', ['sessions', 'revoke', id, '--reason', 'too late', '--url', local.url]);
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/^sentinel-tvm: SESSION_NOT_ACTIVE: /)]);
    const missing = await cli('bob', ['sessions', 'get', '0000000000000000', '--url', local.url]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^sentinel-tvm: SESSION_NOT_FOUND: /)]);
  });

  test('sessions revoke --profile records an unrecorded id as revoked; --block-principal-for bars its principal', async () => {
    const unrecorded = await cli('admin', ['sessions', 'revoke', 'abcdef0123456789', '--reason', 'vended while the table was down',
      '--profile', 'prod-readonly', '--url', local.url, '--json']);
    expect(unrecorded.code).toBe(0);
    expect(JSON.parse(unrecorded.stdout).Session).toMatchObject({ id: 'abcdef0123456789', status: 'revoked', profile: 'prod-readonly' });

    freshCache('bob');
    await vend('bob', 'deploy');
    const [id] = cachedIds('bob');
    const blocked = await cli('admin', ['sessions', 'revoke', id, '--reason', 'laptop stolen', '--block-principal-for', '600', '--url', local.url]);
    expect(blocked.code).toBe(0);
    expect(blocked.stderr).toMatch(/user\/bob may start no session until \S+ \(\d+ other active session\(s\) revoked\)/);
    const refused = await cli('bob', ['credentials', '--profile', 'deploy', '--new-session', '--url', local.url]);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/PRINCIPAL_BLOCKED/)]);
    const usage = await cli('admin', ['sessions', 'revoke', id, '--reason', 'x', '--block-principal-for', '5', '--url', local.url]);
    expect(usage.code).toBe(2);
  });
});

describe('exit codes', () => {
  test.each<[string, string[], RegExp]>([
    ['no --profile', ['credentials', '--url', 'http://127.0.0.1:9/'], /--profile is required/],
    ['no --url', ['profiles'], /--url is required/],
    ['a duration out of range', ['credentials', '--url', 'http://127.0.0.1:9/', '--profile', 'p', '--duration', '60'], /--duration is "60"/],
    ['an unknown option', ['sessions', 'list', '--url', 'http://127.0.0.1:9/', '--stat', 'active'], /unknown option --stat/],
    ['a malformed session id', ['sessions', 'get', 'xyz', '--url', 'http://127.0.0.1:9/'], /session id "xyz" is not valid/],
    ['revoke without a reason', ['sessions', 'revoke', '0123456789abcdef', '--url', 'http://127.0.0.1:9/'], /--reason is required/],
    ['plain http to another host', ['profiles', '--url', 'http://example.com/'], /plain http:\/\/ only to 127\.0\.0\.1/],
    ['an unknown command', ['vend'], /unknown command "vend"/],
  ])('2 for a usage error: %s, and nothing is sent', async (_case, args, message) => {
    const res = await cli('alice', args);
    expect([res.code, res.stdout]).toEqual([2, '']);
    expect(res.stderr).toMatch(message);
  });

  test('3 when the TVM cannot be reached, answers 5xx, or is not the TVM', async () => {
    const unreachable = await cli('alice', ['profiles', '--url', 'http://127.0.0.1:9/']);
    expect([unreachable.code, unreachable.stderr]).toEqual([3, expect.stringMatching(/cannot reach the TVM at http:\/\/127\.0\.0\.1:9: ECONNREFUSED/)]);
    const answers = [
      [502, '{"Code":"CREDENTIAL_ERROR","Message":"The credentials could not be issued.","RequestId":"r1"}'],
      [503, '{"message":"Service Unavailable"}'],
      [200, '<html>not the TVM</html>'],
    ] as const;
    let n = 0;
    const server = http.createServer((_req, res) => {
      const [status, body] = answers[n++];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const results = [];
      for (let i = 0; i < answers.length; i++) results.push(await cli('alice', ['profiles', '--url', url]));
      expect(results.map((r) => [r.code, r.stderr.trim()])).toEqual([
        [3, 'sentinel-tvm: CREDENTIAL_ERROR: The credentials could not be issued. (request id r1)'],
        [3, 'sentinel-tvm: HTTP_503: Service Unavailable'],
        [3, 'sentinel-tvm: the TVM answered HTTP 200 with a body that is not JSON: is --url the TVM\'s API?'],
      ]);
    } finally {
      server.close();
    }
  });

  test('4 when there are no AWS credentials to sign with', async () => {
    const res = await cli(undefined, ['profiles', '--url', local.url]);
    expect([res.code, res.stderr]).toEqual([4, expect.stringMatching(/^sentinel-tvm: no AWS credentials to sign with from the default credential chain/)]);
  });

  test('--help of every command documents the exit codes', async () => {
    for (const args of [['--help'], ['credentials', '--help'], ['profiles', '-h'], ['sessions', '--help'], ['local', '--help'], ['help', 'sessions']]) {
      const res = await cli(undefined, args);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/Exit codes:\n  0  success\n  1 .*\n  2 .*\n  3 .*\n  4 /);
    }
  });
});

describe('the local front door, as a separate process, refuses what API Gateway would', () => {
  test.each<[string, () => Promise<{ status: number; body: any }>, RegExp]>([
    ['a request without a signature', async () => sendRequest(local.url, await signRequest(local.url, ALICE_KEY, { path: '/profiles' }),
      { dropHeaders: ['authorization'] }), /Missing Authentication Token/],
    ['a bad signature', async () => sendRequest(local.url, await signRequest(local.url, { ...ALICE_KEY, secretAccessKey: 'guessed' }, { path: '/profiles' })),
      /signature we calculated does not match/],
    ['a request replayed after the 5-minute clock skew window', async () => sendRequest(local.url,
      await signRequest(local.url, ALICE_KEY, { query: { profile: 'prod-readonly' } }, { date: new Date(Date.now() - 6 * 60_000) })), /Signature expired/],
    ['a revocation whose body was tampered with', async () => sendRequest(local.url,
      await signRequest(local.url, ADMIN_KEY, { method: 'POST', path: '/sessions/0123456789abcdef/revoke', body: '{"reason":"a"}' }),
      { body: '{"reason":"b"}' }), /x-amz-content-sha256 .* does not match/],
  ])('403 IAM_AUTH_REQUIRED for %s', async (_case, attempt, message) => {
    const res = await attempt();
    expect(res).toEqual({ status: 403, body: { Code: 'IAM_AUTH_REQUIRED', Message: expect.stringMatching(message), RequestId: expect.any(String) } });
  });

  test('the same request, correctly signed, is served', async () => {
    const res = await sendRequest(local.url, await signRequest(local.url, ALICE_KEY, { path: '/profiles' }));
    expect(res).toEqual({ status: 200, body: { Profiles: [{ Name: 'prod-readonly', MaxDurationSeconds: 3600 }] } });
  });
});
