// A Lambda function of local mode: a bundled handler (assets/lambda/<name>/index.js) in a worker thread with an
// environment of its own (nothing of this process's), as the construct configures the Lambda. The bundle is loaded once
// (a warm container); each invocation is bounded by the function's timeout, after which the container is dropped and
// the next invocation starts a cold one, as Lambda does.
import { randomUUID } from 'crypto';
import * as readline from 'readline';
import { Worker } from 'worker_threads';

export type LogLevel = 'INFO' | 'WARN' | 'ERROR';

/** What local mode knows of a bundled function it runs in a worker: its bundle, its environment, where it runs. */
export interface LocalFunctionOptions {
  /** The bundle, e.g. assets/lambda/events.lambda/index.js. */
  readonly bundle: string;
  /** The function's whole environment (nothing of this process's). */
  readonly env: Record<string, string>;
  readonly region: string;
  readonly account: string;
  readonly tableName: string;
}

export interface LambdaWorkerOptions {
  /** The bundled handler (its `handler` export). */
  readonly bundle: string;
  /** The function's whole environment. */
  readonly env: Record<string, string>;
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutMs: number;
  /** The function's own log lines (each at its Powertools level; anything else is a WARN), and lines about the worker. */
  readonly log: (line: string, level: LogLevel) => void;
  /** Load the bundle at once (a warm container), or on the first invocation (a cold start). @default true */
  readonly warm?: boolean;
}

/** What an invocation came to: the handler's answer, or why there is none (an error's name and message, a timeout). */
export type Invocation = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: string };

export interface LambdaWorker {
  invoke(event: unknown): Promise<Invocation>;
  stop(): Promise<void>;
}

// The worker: loads the bundle once, then runs one invocation per message and posts the handler's answer back.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
let handler;
let loadError;
try { handler = require(workerData.bundle).handler; } catch (err) { loadError = String(err && err.message || err); }
parentPort.on('message', async (m) => {
  if (loadError) return parentPort.postMessage({ id: m.id, ok: false, error: 'cannot load the function: ' + loadError });
  const context = {
    awsRequestId: m.id,
    functionName: workerData.functionName,
    invokedFunctionArn: workerData.functionArn,
    getRemainingTimeInMillis: () => Math.max(0, m.deadline - Date.now()),
  };
  try {
    const result = await handler(m.event, context);
    parentPort.postMessage({ id: m.id, ok: true, result: result === undefined ? undefined : JSON.parse(JSON.stringify(result)) });
  } catch (err) {
    const error = String(err && err.name || 'Error') + ': ' + String(err && err.message || err).slice(0, 500);
    parentPort.postMessage({ id: m.id, ok: false, error });
  }
});
`;

/** A function whose first invocation need not wait for the bundle to load, unless `warm` is false. */
export function startLambdaWorker(options: LambdaWorkerOptions): LambdaWorker {
  let worker: Worker | undefined;
  let stopped = false;

  const spawn = (): Worker => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      env: options.env,
      workerData: { bundle: options.bundle, functionName: options.functionName, functionArn: options.functionArn },
      stdout: true,
      stderr: true,
    });
    // Powertools writes JSON lines that start with their level; the function filters them by POWERTOOLS_LOG_LEVEL itself.
    const levelOf = (line: string) => /^\{"level":"(INFO|WARN|ERROR)"/.exec(line)?.[1] as LogLevel | undefined;
    for (const stream of [w.stdout, w.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => options.log(line, levelOf(line) ?? 'WARN'));
    }
    w.on('error', (err) => {
      options.log(`the worker of ${options.functionName} failed: ${err.message}`, 'ERROR');
      if (worker === w) worker = undefined;
    });
    w.on('exit', () => {
      if (worker === w) worker = undefined;
    });
    return w;
  };

  const invoke = (event: unknown): Promise<Invocation> => {
    if (stopped) return Promise.resolve({ ok: false, error: 'stopped' });
    const w = worker ?? (worker = spawn());
    const id = randomUUID();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (outcome: Invocation) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(outcome);
      };
      const onMessage = (m: { id: string; ok: boolean; result?: unknown; error?: string }) => {
        if (m.id === id) done(m.ok ? { ok: true, result: m.result } : { ok: false, error: m.error ?? 'Error' });
      };
      const onExit = (code: number) => done({ ok: false, error: `its worker exited (${code})` });
      w.on('message', onMessage);
      w.on('exit', onExit);
      timer = setTimeout(() => {
        if (worker === w) worker = undefined;
        void w.terminate();
        done({ ok: false, error: `timed out after ${options.timeoutMs / 1000} s` });
      }, options.timeoutMs);
      w.postMessage({ id, event, deadline: Date.now() + options.timeoutMs });
    });
  };

  if (options.warm ?? true) worker = spawn();
  return {
    invoke,
    stop: async () => {
      stopped = true;
      await worker?.terminate();
      worker = undefined;
    },
  };
}
