// The `sentinel-tvm` command: client of a deployed TVM (credential_process, profiles, sessions) and local mode.
// Bundled by esbuild into assets/cli/sentinel-tvm/index.js, the package's `bin`: nothing else to install.
import type { Io } from './common';
import { credentials, env, exec } from './credentials';
import { CliError, ExitCode } from './errors';
import { printable } from './format';
import { HELP } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on use; bundled apart (heavy.ts)
const heavy = () => require('./heavy') as typeof import('./heavy');
/** Gated access (cli/access-commands.ts): requests, approvals, break-glass, reviews. */
const ACCESS = ['request', 'requests', 'approve', 'deny', 'cancel', 'withdraw', 'breakglass', 'reviews', 'review'];
// profiles, sessions, proof and local load the AWS SDK and local mode when they run: a credential cache hit loads neither.
const COMMANDS: Record<string, (argv: readonly string[], io: Io) => Promise<number>> = {
  credentials,
  exec,
  env,
  profiles: (argv, io) => heavy().profiles(argv, io),
  sessions: (argv, io) => heavy().sessions(argv, io),
  proof: (argv, io) => heavy().proof(argv, io),
  ...Object.fromEntries(ACCESS.map((name) => [name, (argv: readonly string[], io: Io) => heavy().access(name, argv, io)])),
  local: (argv, io) => heavy().runLocal(argv, io),
};

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    (command === undefined ? io.err : io.out)(HELP.main);
    return command === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (command === 'help') {
    const topic = rest[0] ?? 'main';
    if (!HELP[topic]) return usage(io, `no help on "${topic}": commands are ${Object.keys(COMMANDS).join(', ')}`);
    io.out(HELP[topic]);
    return ExitCode.OK;
  }
  const run = COMMANDS[command];
  if (!run) return usage(io, `unknown command "${command}": expected ${Object.keys(COMMANDS).join(', ')} (see sentinel-tvm --help)`);
  // exec's own command may take --help: only what comes before its `--` is ours.
  const ours = command === 'exec' && rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (ours.includes('--help') || ours.includes('-h')) {
    io.out(HELP[command]);
    return ExitCode.OK;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`sentinel-tvm: ${err.message}\n`);
      return err.exitCode;
    }
    // Never a stack trace with request details: name and message only.
    io.err(`sentinel-tvm: unexpected ${printable((err as Error)?.name ?? 'error')}: ${printable((err as Error)?.message ?? String(err))}\n`);
    return ExitCode.LOCAL;
  }
}

function usage(io: Io, message: string): number {
  io.err(`sentinel-tvm: ${message}\n`);
  return ExitCode.USAGE;
}

if (require.main === module) {
  // The AWS SDK inside this bundle is pinned by the package: its Node.js support warning is not actionable by the
  // user, and would only clutter credential_process output. An explicit setting is respected.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const io: Io = {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    env: process.env,
    userAgent: 'sentinel-tvm',
  };
  main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
    // Local mode has stopped what it started; SDK clients' idle sockets must not keep the process alive.
    if (process.argv[2] === 'local') setImmediate(() => process.exit(code));
  }, (err) => {
    process.stderr.write(`sentinel-tvm: ${String(err)}\n`);
    process.exitCode = ExitCode.LOCAL;
  });
}
