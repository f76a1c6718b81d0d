// The client's building blocks, in process: argument parsing, URL and region rules, the session cache, tables.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { integerOption, parseArgs } from '../cli/args';
import { cacheDir, cacheFile, readSession, writeSession } from '../cli/cache';
import { parseTvmUrl, refusalOf, regionFor } from '../cli/client';
import { credentialProcessOf } from '../cli/commands';
import { humanSeconds, table } from '../cli/format';

/** Permission bits of a file, as `ls -l` shows them (e.g. '600'). */
const modeOf = (file: string) => (fs.statSync(file).mode % 0o1000).toString(8);

describe('parseArgs', () => {
  const kinds = { url: 'value', json: 'flag' } as const;
  test('reads values (both spellings), flags and positionals', () => {
    expect(parseArgs(['ID', '--url', 'u', '--json'], kinds, ['id'], 'c')).toEqual({ values: { url: 'u' }, flags: new Set(['json']), positionals: ['ID'] });
    expect(parseArgs(['--url=a=b'], kinds, [], 'c').values.url).toBe('a=b');
  });
  test.each<[string, string[], RegExp]>([
    ['an option is unknown', ['--uri', 'x'], /unknown option --uri for `c`/],
    ['a short option is unknown', ['-u'], /unknown option -u/],
    ['an option is repeated', ['--url', 'a', '--url', 'b'], /--url is given twice/],
    ['a value is missing', ['--url'], /--url needs a value/],
    ['a value is another option', ['--url', '--json'], /--url needs a value/],
    ['a flag gets a value', ['--json=yes'], /--json takes no value/],
    ['an argument is extra', ['ID', 'more'], /unexpected argument "more"/],
  ])('fails when %s', (_case, argv, message) => {
    expect(() => parseArgs(argv, kinds, ['id'].slice(0, argv.includes('ID') ? 1 : 0), 'c')).toThrow(message);
  });
  test('integerOption checks the range and names the option', () => {
    expect(integerOption('duration', '900', 900, 3600)).toBe(900);
    expect(() => integerOption('duration', '1e3', 900, 3600)).toThrow('--duration is "1e3": expected a whole number from 900 to 3600');
  });
});

describe('TVM URL and signing region', () => {
  test.each([
    ['https://abc123.execute-api.eu-west-1.amazonaws.com', undefined, 'eu-west-1'],
    ['https://abc123.execute-api.cn-north-1.amazonaws.com.cn/', undefined, 'cn-north-1'],
    ['https://tvm.example.com/', undefined, 'us-east-1'],
    ['https://abc123.execute-api.eu-west-1.amazonaws.com', 'us-west-2', 'us-west-2'],
    ['http://127.0.0.1:8080/', undefined, 'us-east-1'],
  ])('%s with --region %s signs for %s', (url, region, expected) => {
    expect(regionFor(parseTvmUrl(url), region)).toBe(expected);
  });
  test.each([
    ['http://tvm.example.com/', /plain http:\/\/ only to 127\.0\.0\.1 or localhost/],
    ['https://tvm.example.com/?x=1', /expected no query/],
    ['ftp://x', /expected https/],
    ['not a url', /is not a URL/],
  ])('refuses %s', (url, message) => {
    expect(() => parseTvmUrl(url)).toThrow(message);
  });
  test('an error answer reads as the TVM\'s code, or as the gateway\'s message', () => {
    expect(refusalOf({ status: 403, headers: {}, text: '', json: { Code: 'POLICY_DENY', Message: 'no', RequestId: 'r' } }))
      .toEqual({ code: 'POLICY_DENY', message: 'no', requestId: 'r', status: 403 });
    expect(refusalOf({ status: 403, headers: { 'apigw-requestid': 'g' }, text: '', json: { message: 'Forbidden' } }))
      .toEqual({ code: 'HTTP_403', message: 'Forbidden', requestId: 'g', status: 403 });
  });
});

describe('the session cache', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cache-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('lives in SENTINEL_TVM_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheDir({ SENTINEL_TVM_CACHE_DIR: '/a', XDG_CACHE_HOME: '/b' })).toBe('/a');
    expect(cacheDir({ XDG_CACHE_HOME: '/b' })).toBe('/b/sentinel-tvm');
    expect(cacheDir({})).toBe(path.join(os.homedir(), '.cache', 'sentinel-tvm'));
  });

  test('has one file per URL and profile; a trailing slash is the same URL', () => {
    const env = { SENTINEL_TVM_CACHE_DIR: dir };
    const f = (u: string, p: string) => cacheFile(new URL(u), p, env);
    expect(f('https://a.example.com', 'p')).toBe(f('https://a.example.com/', 'p'));
    expect(new Set([f('https://a.example.com', 'p'), f('https://b.example.com', 'p'), f('https://a.example.com', 'q'),
      f('https://a.example.com/base', 'p')]).size).toBe(4);
  });

  test('is written 0600 in a 0700 directory, replaced atomically, and a damaged file reads as no session', () => {
    const file = path.join(dir, 'sub', 'session-x.json');
    writeSession(file, { url: 'u', profile: 'p', sessionId: '0123456789abcdef', updatedAt: 'now' });
    writeSession(file, { url: 'u', profile: 'p', sessionId: 'fedcba9876543210', updatedAt: 'now' });
    expect(modeOf(file)).toBe('600');
    expect(modeOf(path.dirname(file))).toBe('700');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['session-x.json']);
    expect(readSession(file)).toBe('fedcba9876543210');
    fs.writeFileSync(file, '{"sessionId":"../../etc"}');
    expect(readSession(file)).toBeUndefined();
    fs.writeFileSync(file, 'garbage');
    expect(readSession(file)).toBeUndefined();
  });

  test('a profile\'s credential_process is read from the AWS config file', () => {
    const config = path.join(dir, 'config');
    fs.writeFileSync(config, '[default]\nregion = x\n[profile tvm]\ncredential_process = sentinel-tvm credentials --profile p\n[profile b]\n');
    expect(credentialProcessOf('tvm', { AWS_CONFIG_FILE: config })).toBe('sentinel-tvm credentials --profile p');
    expect(credentialProcessOf('b', { AWS_CONFIG_FILE: config })).toBeUndefined();
  });
});

test('tables align columns and show missing values as -', () => {
  expect(table(['A', 'LONGER'], [['x', undefined], ['yyyy', 2]])).toBe('A     LONGER\nx     -\nyyyy  2\n');
  expect([900, 3600, 5400, 59].map(humanSeconds)).toEqual(['15m', '1h', '1h30m', '59s']);
});
