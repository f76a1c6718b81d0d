// DynamoDB Local has no authentication: whoever reaches its port can rewrite the session table and the TVM's config.
// Local mode, and the tests' own instance, must therefore listen on 127.0.0.1 only, and send no telemetry.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { STATE_DIR } from './support/global-setup';
import { CliError } from '../cli/errors';
import { localDynamoClient, startDynamoDbLocal, type RunningDynamoDb } from '../cli/local/dynamodb';

/** This machine's addresses other than loopback (link-local IPv6 needs a scope, which connect takes after `%`). */
function otherAddresses(): string[] {
  return Object.entries(os.networkInterfaces()).flatMap(([name, addrs]) => (addrs ?? [])
    .filter((a) => !a.internal)
    .map((a) => (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:') ? `${a.address}%${name}` : a.address)));
}

/** 'connected' or the error code of a TCP connection attempt. */
function connect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/**
 * Local addresses of listening TCP sockets, from `ss -ltnp`, on `port` or opened by process `pid` (any port: the JVM
 * must open no other listener either); undefined when ss is not installed.
 */
function ssListeners(port: number, pid: number | undefined): string[] | undefined {
  const ss = spawnSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  if (ss.error || ss.status !== 0) return undefined;
  return ss.stdout.split('\n').filter((line) => line.trim()).map((line) => ({ line, local: line.trim().split(/\s+/)[3] }))
    .filter(({ line, local }) => local.endsWith(`:${port}`) || (pid !== undefined && line.includes(`pid=${pid},`)))
    .map(({ local }) => local);
}

/** Local addresses (hex, as the kernel shows them) of listening TCP sockets on `port`, from /proc/net (Linux). */
function procListeners(port: number): string[] | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { return undefined; }
    for (const line of text.trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local.endsWith(`:${hexPort}`)) found.push(local.split(':')[0]);
    }
  }
  return found;
}
/** 127.0.0.1 in /proc/net/tcp, and as ::ffff:127.0.0.1 in /proc/net/tcp6 (both little-endian words). */
const PROC_LOOPBACK = ['0100007F', '0000000000000000FFFF00000100007F'];

/** Asserts that what listens on the endpoint's port answers on 127.0.0.1 and on no other address of this machine. */
async function expectLoopbackOnly(url: string, pid?: number): Promise<void> {
  const { hostname, port: p } = new URL(url);
  const port = Number(p);
  expect(hostname).toBe('127.0.0.1');

  const client = localDynamoClient(url, 'us-east-1');
  try {
    expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual(expect.any(Array));
  } finally {
    client.destroy();
  }
  expect(await connect('127.0.0.1', port)).toBe('connected');

  const others = otherAddresses();
  if (others.length === 0) {
    console.warn('this machine has no non-loopback address: the refusal from another address is not tested here');
  }
  for (const address of others) expect([address, await connect(address, port)]).toEqual([address, 'ECONNREFUSED']);

  const ss = ssListeners(port, pid);
  if (ss === undefined) console.warn('ss is not installed: the listener is checked through /proc/net only');
  else expect(ss.length > 0 && ss.every((local) => ['127.0.0.1', '[::ffff:127.0.0.1]'].includes(local.replace(/:\d+$/, '')))).toBe(true);
  const proc = procListeners(port);
  if (proc !== undefined) expect(proc.length > 0 && proc.every((local) => PROC_LOOPBACK.includes(local))).toBe(true);
}

describe('GIVEN DynamoDB Local started as `sentinel-tvm local` starts it (data in a directory)', () => {
  let dir: string;
  let db: RunningDynamoDb | undefined;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sentinel-tvm-loopback-'));
    db = await startDynamoDbLocal(path.join(dir, 'dynamodb'));
  });
  afterAll(async () => {
    await db?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('THEN it answers on 127.0.0.1, and a connection to the port on any other address of this machine is refused', async () => {
    await expectLoopbackOnly(db!.endpoint, db!.process.pid);
  });

  test('THEN it sends no telemetry (-disableTelemetry, and DDB_LOCAL_TELEMETRY=0 should a version ignore the flag)', () => {
    const pid = db!.process.pid!;
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('-disableTelemetry');
    expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('DDB_LOCAL_TELEMETRY=0');
  });
});

/** The instance jest's global setup started for this run (its state file is named by jest's pid), if it started one. */
function globalSetupInstance(): { endpoint: string; pid: number } | undefined {
  for (const pid of [process.ppid, process.pid]) {
    try {
      return JSON.parse(fs.readFileSync(path.join(STATE_DIR, `${pid}.json`), 'utf8'));
    } catch { /* not this process */ }
  }
  return undefined;
}
const globalInstance = globalSetupInstance();
// DYNAMODB_LOCAL_ENDPOINT given from outside: that instance, and where it listens, is not ours.
(globalInstance ? test : test.skip)('the tests\' own DynamoDB Local (jest\'s global setup) listens on 127.0.0.1 only, too', async () => {
  await expectLoopbackOnly(globalInstance!.endpoint, globalInstance!.pid);
});

test('fails closed, naming the fix, when the Java runtime cannot run the loopback launcher (no jdk.compiler module)', async () => {
  const before = process.env.JDK_JAVA_OPTIONS;
  // The java launcher reads JDK_JAVA_OPTIONS: this hides jdk.compiler as a runtime without it would.
  process.env.JDK_JAVA_OPTIONS = '--limit-modules java.se';
  let started: RunningDynamoDb | undefined;
  try {
    const err = await startDynamoDbLocal(undefined, 30_000).then((db) => { started = db; }, (e: unknown) => e);

    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toMatch(/lacks the jdk\.compiler module.*keeps DynamoDB Local on 127\.0\.0\.1.*--dynamodb-endpoint/);
  } finally {
    await started?.stop();
    if (before === undefined) delete process.env.JDK_JAVA_OPTIONS;
    else process.env.JDK_JAVA_OPTIONS = before;
  }
});
