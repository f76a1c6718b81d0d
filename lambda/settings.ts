import { Env, runtimeRolePathOf, vendRoleName, Limits, StoreFailureModes } from '../src/shared/contract';

/** The handler's settings, read once per container from the environment the construct sets. */
export interface Settings {
  readonly tableName: string;
  /** The control table: configuration, page-token key, principal blocks. */
  readonly controlTableName: string;
  /** The deployed configuration's digest; the runtime refuses any other configuration. */
  readonly configDigest: string | undefined;
  /** Host names an identity proof may name (this TVM's API). */
  readonly audiences: string[];
  /** The function's region: identity proofs are sent to this region's STS. */
  readonly region: string;
  /** Where STS is reached (`AWS_ENDPOINT_URL_STS`: local mode and tests), else STS's regional endpoint. */
  readonly stsEndpoint?: string;
  readonly sessionLifetimeSeconds: number;
  readonly defaultDurationSeconds: number;
  readonly retentionSeconds: number;
  readonly failOpen: boolean;
  /** The TVM's name (`POWERTOOLS_SERVICE_NAME`, else `SENTINEL_TVM_NAME`): the issuer of introspection answers. */
  readonly tvmName: string;
  /** The TVM's account, where IAM GetRole proves Identity Center callers; undefined: none is proven that way. */
  readonly tvmAccount?: string;
}

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const tableName = env[Env.TABLE_NAME];
  if (!tableName) {
    throw new Error(`environment variable ${Env.TABLE_NAME} is not set: it names the session table`);
  }
  const controlTableName = env[Env.CONTROL_TABLE_NAME];
  if (!controlTableName) {
    throw new Error(`environment variable ${Env.CONTROL_TABLE_NAME} is not set: it names the control table`);
  }
  const audiences = (env[Env.AUDIENCES] ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  if (audiences.length === 0) {
    throw new Error(`environment variable ${Env.AUDIENCES} is not set: it lists the API host names identity proofs must name`);
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('environment variable AWS_REGION is not set');
  const mode = env[Env.STORE_FAILURE_MODE] ?? StoreFailureModes.FAIL_OPEN;
  if (mode !== StoreFailureModes.FAIL_OPEN && mode !== StoreFailureModes.FAIL_CLOSED) {
    throw new Error(`environment variable ${Env.STORE_FAILURE_MODE} is "${mode}": expected FAIL_OPEN or FAIL_CLOSED`);
  }
  return {
    tableName,
    controlTableName,
    configDigest: env[Env.CONFIG_DIGEST],
    audiences,
    region,
    stsEndpoint: env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || undefined,
    sessionLifetimeSeconds: seconds(env, Env.SESSION_LIFETIME_SECONDS, Limits.DEFAULT_SESSION_LIFETIME_SECONDS),
    defaultDurationSeconds: seconds(env, Env.DEFAULT_DURATION_SECONDS, Limits.DEFAULT_CREDENTIAL_SECONDS),
    retentionSeconds: seconds(env, Env.RETENTION_SECONDS, Limits.DEFAULT_RETENTION_SECONDS),
    failOpen: mode === StoreFailureModes.FAIL_OPEN,
    tvmName: env.POWERTOOLS_SERVICE_NAME || env[Env.TVM_NAME] || 'sentinel-tvm',
    ...(/^\d{12}$/.test(env[Env.TVM_ACCOUNT] ?? '') ? { tvmAccount: env[Env.TVM_ACCOUNT] } : {}),
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

/**
 * Who revokes when the TVM itself does (a broken grant seal, the lifecycle sweep): the vending role, which has a fixed name,
 * as a principal ARN (`revoked_by` is one, and `Session Revoked` requires one). `sentinel-tvm` when the account is unknown.
 */
export function tvmRevoker(settings: Settings): string {
  if (!settings.tvmAccount) return 'sentinel-tvm';
  const partition = settings.region.startsWith('cn-') ? 'aws-cn' : settings.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return `arn:${partition}:iam::${settings.tvmAccount}:role${runtimeRolePathOf(settings.tvmName)}${vendRoleName(settings.tvmName, settings.region)}`;
}
