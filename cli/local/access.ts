// The access function of local mode: the real bundled access function (assets/lambda/access.lambda/index.js) in a worker
// thread with an environment of its own, as the construct deploys it once a profile is gated (approval or break-glass).
// It serves the access routes (requests, approvals, break-glass, reviews); the vending handler serves every other route.
import { LOCAL_TVM_NAME } from './accounts';
import type { Handler } from './front-door';
import { startLambdaWorker, type LogLevel } from './lambda-worker';
import { AccessRoutes } from '../../src/shared/access';
import { Env } from '../../src/shared/contract';

/** The route keys (`POST /requests`, …) that go to the access function. */
export const ACCESS_ROUTE_KEYS: ReadonlySet<string> = new Set(AccessRoutes.map((r) => `${r.method} ${r.path}`));

/** The construct's access function's timeout. */
const TIMEOUT_MS = 15_000;

/** Whether a profile makes the construct deploy the access function: the runtime's rule (an approval or break-glass policy). */
export { isGated } from '../../lambda/access/policy';

/**
 * The access function's `SENTINEL_*` environment, as the construct sets it: the vending function's without the store
 * failure mode (a grant never fails open), plus the TVM's account, where IAM GetRole proves Identity Center callers.
 */
export function accessEnvironment(vendEnvironment: Record<string, string>, tvmAccount: string): Record<string, string> {
  const { [Env.STORE_FAILURE_MODE]: _failOpenIsNotForGrants, ...environment } = vendEnvironment;
  return { ...environment, [Env.TVM_ACCOUNT]: tvmAccount };
}

export interface LocalAccessOptions {
  readonly bundle: string;
  /** The function's whole environment. */
  readonly env: Record<string, string>;
  readonly region: string;
  readonly account: string;
  /** The function's Powertools lines (its decision log among them), as they are. */
  readonly logLine: (line: string) => void;
  /** Anything else it writes, and local mode's lines about it. */
  readonly log: (line: string, level: LogLevel) => void;
}

export interface LocalAccess {
  /** Invokes the function with an API Gateway event; a failed invocation throws, which the front door answers 500. */
  readonly handler: Handler;
  stop(): Promise<void>;
}

/** A failed invocation (an unhandled error, a timeout), as Lambda reports it to API Gateway. */
export class AccessFunctionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessFunctionError';
  }
}

/** Starts the access function warm, as a container that has served a request. */
export function startLocalAccess(options: LocalAccessOptions): LocalAccess {
  const functionName = `${LOCAL_TVM_NAME}-access`;
  const fn = startLambdaWorker({
    bundle: options.bundle,
    env: options.env,
    functionName,
    functionArn: `arn:aws:lambda:${options.region}:${options.account}:function:${functionName}`,
    timeoutMs: TIMEOUT_MS,
    // Powertools writes one JSON object a line: printed as the in-process vending handler's are.
    log: (line, level) => (line.startsWith('{') ? options.logLine(line) : options.log(line, level)),
  });
  return {
    handler: async (event) => {
      const outcome = await fn.invoke(event);
      if (outcome.ok) return outcome.result;
      options.log(`the access function's invocation failed: ${outcome.error}`, 'ERROR');
      throw new AccessFunctionError(outcome.error);
    },
    stop: () => fn.stop(),
  };
}
