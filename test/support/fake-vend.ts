// A fake TVM that vends made-up credentials, for the client's cache tests: each answer gets new keys, so that an answer
// reused from the cache is told from a new vend; a fresh environment (and cache) per test.
import { cleanEnv, removeTempDirs, runInProcess, startFakeTvm, type CliResult, type FakeAnswer, type FakeRequest, type FakeTvm } from './cli';
import { cacheFile, type CachedSession } from '../../cli/cache';

export const HOUR = 3600;
export const iso = (secondsFromNow: number) => new Date(Date.now() + secondsFromNow * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface VendAnswer {
  readonly seconds?: number;
  readonly sessionSeconds?: number;
  readonly sessionId: string;
  readonly extra?: Record<string, unknown>;
}

export interface FakeVending {
  readonly tvm: FakeTvm;
  /** The environment of the current test (its own HOME and cache directory). */
  env: Record<string, string>;
  /** The cache file of profile `p` of the fake TVM, for `env`. */
  file: string;
  /** Vends answered in the current test. */
  readonly vends: number;
  /** What the fake TVM answers next (by default: {@link FakeVending.issued} with the defaults). */
  next: (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;
  issued(answer: VendAnswer): FakeAnswer;
  /** `sentinel-tvm COMMAND --url <fake> --profile p ...extra`, in this process. */
  run(command: string, ...extra: string[]): Promise<CliResult>;
}

/** Starts the fake TVM for the file (beforeAll/afterAll) and resets it before each test. */
export function useFakeVending(defaults: VendAnswer): FakeVending {
  const state = {
    tvm: undefined as unknown as FakeTvm,
    env: {} as Record<string, string>,
    file: '',
    vends: 0,
    next: (() => undefined) as unknown as FakeVending['next'],
    issued({ seconds = HOUR, sessionSeconds = 12 * HOUR, sessionId, extra = {} }: VendAnswer): FakeAnswer {
      const n = ++state.vends;
      return {
        status: 200,
        body: {
          AccessKeyId: `ASIAFAKE${String(n).padStart(8, '0')}`,
          SecretAccessKey: `secret-${n}`,
          Token: `token-${n}`,
          Expiration: iso(seconds),
          SessionId: sessionId,
          SessionExpiresAt: iso(sessionSeconds),
          ...extra,
        },
      };
    },
    run: (command: string, ...extra: string[]) => runInProcess([command, '--url', state.tvm.url, '--profile', 'p', ...extra], state.env),
  };
  beforeAll(async () => {
    state.tvm = await startFakeTvm((req) => state.next(req));
  });
  afterAll(async () => {
    await state.tvm.close();
    removeTempDirs();
  });
  beforeEach(() => {
    state.tvm.requests.length = 0;
    state.vends = 0;
    state.next = () => state.issued(defaults);
    state.env = cleanEnv();
    state.file = cacheFile(new URL(state.tvm.url), 'p', state.env);
  });
  return state;
}

/** A cache entry of session `sessionId` whose credentials (key ASIACACHED) have `secondsLeft` left. */
export function cachedEntry(url: string, sessionId: string, secondsLeft: number, extra: Partial<CachedSession> = {}): CachedSession {
  return {
    url,
    profile: 'p',
    sessionId,
    updatedAt: 'x',
    sessionExpiresAt: iso(12 * HOUR),
    credentials: { AccessKeyId: 'ASIACACHED', SecretAccessKey: 'cached-secret', SessionToken: 't', Expiration: iso(secondsLeft) },
    ...extra,
  };
}
