import { Env, Limits, StoreFailureModes } from '../src/shared/contract';

/** The handler's settings, read once per container from the environment the construct sets. */
export interface Settings {
  readonly tableName: string;
  readonly configVersion: string | undefined;
  readonly sessionLifetimeSeconds: number;
  readonly defaultDurationSeconds: number;
  readonly retentionSeconds: number;
  readonly failOpen: boolean;
}

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const tableName = env[Env.TABLE_NAME];
  if (!tableName) {
    throw new Error(`environment variable ${Env.TABLE_NAME} is not set: it names the session table`);
  }
  const mode = env[Env.STORE_FAILURE_MODE] ?? StoreFailureModes.FAIL_OPEN;
  if (mode !== StoreFailureModes.FAIL_OPEN && mode !== StoreFailureModes.FAIL_CLOSED) {
    throw new Error(`environment variable ${Env.STORE_FAILURE_MODE} is "${mode}": expected FAIL_OPEN or FAIL_CLOSED`);
  }
  return {
    tableName,
    configVersion: env[Env.CONFIG_VERSION],
    sessionLifetimeSeconds: seconds(env, Env.SESSION_LIFETIME_SECONDS, Limits.DEFAULT_SESSION_LIFETIME_SECONDS),
    defaultDurationSeconds: seconds(env, Env.DEFAULT_DURATION_SECONDS, Limits.DEFAULT_CREDENTIAL_SECONDS),
    retentionSeconds: seconds(env, Env.RETENTION_SECONDS, Limits.DEFAULT_RETENTION_SECONDS),
    failOpen: mode === StoreFailureModes.FAIL_OPEN,
  };
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`environment variable ${name} is "${raw}": expected a whole number of seconds`);
  }
  return value;
}
