// The client's credential cache (issue 11), measured against `sentinel-tvm local`: how many vends the AWS CLI causes
// through credential_process with and without the cache, and what a cache hit adds to each credential_process run.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CLI_BUNDLE, cleanEnv, decisions, EXAMPLE_CONFIG, KEYS, startLocal, tempDir, type LocalMode } from '../test/support/cli';

export interface Figures {
  row(what: string, value: string, note?: string): void;
  percentile(values: number[], p: number): number;
  ms(v: number): string;
}

const CALLS = 100;
/** The --no-cache comparison costs two full vends per aws call: fewer calls keep the bench's added time near 4 minutes. */
const NO_CACHE_CALLS = 50;
/** Full vends for the ratio: each loads the AWS SDK and signs. */
const FULL_VENDS = 30;
const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const cliRow = (calls: number) => `AWS CLI, ${calls} get-caller-identity via credential_process`;

/** The AWS CLI's own executable, or undefined when it is not installed. */
function awsCli(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (!found || spawnSync(found, ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  // A pyenv shim runs bash and pyenv before Python (~0.15 s a call here): not part of the AWS CLI's own time.
  if (found.includes('/shims/')) {
    const real = spawnSync('pyenv', ['which', 'aws'], { encoding: 'utf8' });
    if (real.status === 0 && real.stdout.trim()) return real.stdout.trim();
  }
  return found;
}

interface Run {
  /** Wall time from spawn to exit, in ms. */
  readonly ms: number;
  readonly status: number | null;
  readonly stderr: string;
}

/**
 * Runs a child to completion, asynchronously: local mode's stdout (its decision lines) must keep being read meanwhile,
 * or its writes would block once the pipe is full.
 */
function run(file: string, args: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    child.once('error', reject);
    child.once('close', (status) => resolve({ ms: performance.now() - t, status, stderr }));
  });
}

/** The vends local mode has logged so far (a vend is a decision on path '/'), once its last lines are read. */
async function vends(local: LocalMode): Promise<number> {
  await new Promise((r) => setTimeout(r, 200));
  return decisions(local).filter((d) => d.path === '/').length;
}

export async function clientCacheRows(dynamodbEndpoint: string, f: Figures): Promise<void> {
  // Its own local mode, at the default log level: its decision lines count the vends.
  const local = await startLocal(['--config', EXAMPLE_CONFIG, '--dynamodb-endpoint', dynamodbEndpoint, '--table', `bench-client-${Date.now()}`],
    cleanEnv());
  try {
    const dir = tempDir('bench-client-cache-');
    const config = path.join(dir, 'config');
    const credentialsArgs = ['credentials', '--url', local.url, '--profile', 'prod-readonly', '--source-profile', 'alice'];
    const command = `"${process.execPath}" "${CLI_BUNDLE}" ${credentialsArgs.join(' ')}`;
    // Each credential_process run appends a line to its count file: one sh exec more per run (about a millisecond).
    const counted = (name: string, extra = '') => `sh -c 'echo >> ${path.join(dir, `${name}.count`)}; exec "$0" "$@"' ${command}${extra}`;
    fs.writeFileSync(config, [
      '[profile alice]', `aws_access_key_id = ${KEYS.alice.AWS_ACCESS_KEY_ID}`, `aws_secret_access_key = ${KEYS.alice.AWS_SECRET_ACCESS_KEY}`, '',
      '[profile tvm]', 'region = us-east-1', `credential_process = ${counted('cached')}`, '',
      '[profile tvm-no-cache]', 'region = us-east-1', `credential_process = ${counted('no-cache', ' --no-cache')}`, '',
    ].join('\n'));
    const envWith = (cache: string) => cleanEnv({ AWS_CONFIG_FILE: config, SENTINEL_TVM_CACHE_DIR: path.join(dir, cache) });
    const cachedEnv = envWith('cache');
    const noCacheEnv = envWith('cache-no-cache');
    const aws = awsCli();

    if (aws) await awsRow(f, local, aws, dir, 'tvm', cachedEnv, CALLS);
    else f.row(cliRow(CALLS), 'n/a', 'AWS CLI not installed');

    // Cache hits (the cache is warm: the AWS CLI calls above, or this first run) interleaved with bare Node.js starts,
    // so that both see the same machine load.
    const credentials = (env: Record<string, string>, more: string[] = []) => run(process.execPath, [CLI_BUNDLE, ...credentialsArgs, ...more], env);
    const vendsBefore = await vends(local);
    let failed = (await credentials(cachedEnv)).status === 0 ? 0 : 1;
    const hits: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      bare.push((await run(process.execPath, ['-e', '0'], cachedEnv)).ms);
      const hit = await credentials(cachedEnv);
      if (hit.status !== 0) failed++;
      hits.push(hit.ms);
    }
    const hitVends = await vends(local) - vendsBefore;

    if (aws) await awsRow(f, local, aws, dir, 'tvm-no-cache', noCacheEnv, NO_CACHE_CALLS);

    const full: number[] = [];
    for (let i = 0; i < FULL_VENDS; i++) {
      const vend = await credentials(noCacheEnv, ['--no-cache']);
      if (vend.status !== 0) failed++;
      full.push(vend.ms);
    }
    const [hit50, hit99, bare50, full50] = [f.percentile(hits, 50), f.percentile(hits, 99), f.percentile(bare, 50), f.percentile(full, 50)];
    f.row('credential_process cache hit, added time p50 / p99', `${f.ms(hit50)} / ${f.ms(hit99)}`,
      `wall time of \`node index.js credentials\`, n=${CALLS}, warm cache (${count(hitVends, 'vend')}); bare Node.js start (\`node -e 0\`) `
      + `p50 ${f.ms(bare50)}, so ${f.ms(hit50 - bare50)} over it; --no-cache (a full vend) p50 ${f.ms(full50)}, n=${FULL_VENDS}: `
      + `${(full50 / hit50).toFixed(1)}x a hit${failed ? `; ${failed} runs FAILED` : ''}`);
  } finally {
    await local.stop();
  }
}

/** `calls` consecutive `aws sts get-caller-identity` with the given profile, from an empty cache directory. */
async function awsRow(f: Figures, local: LocalMode, aws: string, dir: string, profile: string, env: Record<string, string>, calls: number) {
  const noCache = profile.endsWith('no-cache');
  const countFile = path.join(dir, `${noCache ? 'no-cache' : 'cached'}.count`);
  const before = await vends(local);
  const times: number[] = [];
  const failures: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const call = await run(aws, ['sts', 'get-caller-identity', '--profile', profile, '--endpoint-url', local.stsUrl, '--output', 'json'], env);
    times.push(call.ms);
    if (call.status !== 0) failures.push(call.stderr.trim().split('\n').pop() || `exit ${call.status}`);
  }
  const wall = (performance.now() - t0) / 1000;
  const vended = await vends(local) - before;
  const runs = fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8').split('\n').length - 1 : 0;
  const per100 = calls === 100 ? '' : ` (${((vended * 100) / calls).toFixed(0)} per 100)`;
  f.row(`${cliRow(calls)}${noCache ? ', --no-cache' : ''}`, `${count(vended, 'vend')} / ${calls} calls${per100}`,
    `${noCache ? 'fresh cache dir, --no-cache on the credential_process line' : 'empty cache at the start (target 1)'}; `
    + `${(runs / calls).toFixed(2)} credential_process runs per aws call (${runs}); wall ${wall.toFixed(1)} s, p50 ${f.ms(f.percentile(times, 50))} `
    + `per aws call${failures.length ? `; ${failures.length} calls FAILED, e.g. ${failures[0]}` : ''}`);
}
