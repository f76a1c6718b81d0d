// Runs the bundled `sentinel-tvm` command (assets/cli/sentinel-tvm/index.js) as separate processes: the client
// commands, and `local` mode as a long-running server the tests talk to over HTTP. And, in process, the client
// commands against a stand-in TVM that answers whatever a test needs.
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../cli/sentinel-tvm';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI_BUNDLE = path.join(ROOT, 'assets', 'cli', 'sentinel-tvm', 'index.js');
export const EXAMPLE_CONFIG = path.join(ROOT, 'examples', 'local', 'config.json');

/** The principals of examples/local/config.json. */
export const KEYS = {
  alice: { AWS_ACCESS_KEY_ID: 'AKIDLOCALALICE', AWS_SECRET_ACCESS_KEY: 'local-alice-secret-not-a-real-key' },
  bob: { AWS_ACCESS_KEY_ID: 'AKIDLOCALBOB', AWS_SECRET_ACCESS_KEY: 'local-bob-secret-not-a-real-key' },
  admin: { AWS_ACCESS_KEY_ID: 'AKIDLOCALADMIN', AWS_SECRET_ACCESS_KEY: 'local-admin-secret-not-a-real-key' },
} as const;

/** Fails early, with the fix, when the bundle is missing or older than the sources it is built from. */
export function checkBundle(): void {
  if (!fs.existsSync(CLI_BUNDLE)) throw new Error(`${CLI_BUNDLE} is missing: run \`npx projen bundle\` first`);
  const built = fs.statSync(CLI_BUNDLE).mtimeMs;
  const sources = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const stale = sources(path.join(ROOT, 'cli')).filter((f) => fs.statSync(f).mtimeMs > built);
  if (stale.length) throw new Error(`${CLI_BUNDLE} is older than ${stale.map((f) => path.relative(ROOT, f)).join(', ')}: run \`npx projen bundle\``);
}

/** A temporary directory removed by {@link removeTempDirs}. */
const tempDirs: string[] = [];
export function tempDir(prefix = 'sentinel-tvm-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * A clean environment for a child: no AWS settings of the machine running the tests (no config files, no IMDS),
 * Node.js on PATH, and what the test adds.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const home = tempDir('sentinel-tvm-home-');
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: home,
    AWS_CONFIG_FILE: path.join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    SENTINEL_TVM_CACHE_DIR: path.join(home, 'cache'),
    ...extra,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <bundle> ...args` to completion. */
export function runCli(args: readonly string[], env: Record<string, string>, options: { cwd?: string; bundle?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bundle ?? CLI_BUNDLE, ...args], { env, cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += String(d); });
    child.stderr.on('data', (d) => { stderr += String(d); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface LocalMode {
  /** The front door, e.g. http://127.0.0.1:PORT/ */
  readonly url: string;
  /** The local STS, e.g. http://127.0.0.1:PORT */
  readonly stsUrl: string;
  readonly process: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM (or the given signal); resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `sentinel-tvm local` and waits for its ready line. */
export async function startLocal(args: readonly string[], env: Record<string, string> = cleanEnv(), timeoutMs = 45_000): Promise<LocalMode> {
  const child = spawn(process.execPath, [CLI_BUNDLE, 'local', ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += String(d); });
  child.stderr!.on('data', (d) => { stderr += String(d); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const code = await exit;
    process.removeListener('exit', killOnExit);
    return code;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sentinel-tvm local was not ready within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    const check = () => {
      const m = /sentinel-tvm local: ready at (http:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sentinel-tvm local exited with ${code} before it was ready:\n${stderr}`));
    });
  }).catch(async (err) => {
    await stop('SIGKILL');
    throw err;
  });
  const sts = /sentinel-tvm local: STS at (http:\/\/[0-9.:]+)/.exec(stdout);
  return { url, stsUrl: sts ? sts[1] : '', process: child, stdout: () => stdout, stderr: () => stderr, stop };
}

/** The decision log lines local mode printed (the handler's JSON lines on stdout). */
export function decisions(local: LocalMode): any[] {
  return local.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.message === 'decision');
}

/** A request a {@link FakeTvm} received. */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** What a {@link FakeTvm} answers: JSON, or raw text when `body` is a string. */
export interface FakeAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A stand-in for the TVM's API on 127.0.0.1 (plain http is accepted there): any answer, including hostile ones. */
export interface FakeTvm {
  readonly url: string;
  readonly requests: FakeRequest[];
  close(): Promise<void>;
}

/** `answer` may be late (a promise): a TVM that is slow, or never answers. */
export async function startFakeTvm(answer: (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>): Promise<FakeTvm> {
  const requests: FakeRequest[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers };
      requests.push(received);
      void Promise.resolve(answer(received)).then(({ status, body }) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' }).end(text);
      }, () => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // requests left unanswered on purpose
    }),
  };
}

/**
 * Runs the command in this process (`main`, as the bundle does), signing with throwaway keys: its exit code and
 * everything it wrote. The SDK's credential chain reads process.env, so the keys are set there for the run only.
 */
export async function runInProcess(args: readonly string[], env: Record<string, string> = cleanEnv()): Promise<CliResult> {
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret-not-a-real-key', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  delete process.env.AWS_SESSION_TOKEN;
  let stdout = '';
  let stderr = '';
  try {
    const code = await main(args, { env, out: (t) => { stdout += t; }, err: (t) => { stderr += t; } });
    return { code, stdout, stderr };
  } finally {
    // `credentials` records itself in SENTINEL_TVM_CREDENTIAL_CHAIN: a second run in this process must not see it.
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}
