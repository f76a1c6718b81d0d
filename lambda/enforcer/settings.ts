import { Env } from '../../src/shared/contract';
import { readEventTarget } from '../events/settings';

/** The enforcer's settings, read once per container from the environment the construct sets. */
export interface EnforcerSettings {
  readonly tableName: string;
  /** The control table holding the deployed configuration. */
  readonly controlTableName: string;
  /** The deployed configuration's digest: any other configuration is refused. */
  readonly configDigest: string;
  /** This TVM's revoked-sessions policy name. */
  readonly policyName: string;
  /** The IAM path of this TVM's ProtectedRoles, when it has one. */
  readonly protectedRolePath?: string;
  /** The function's own stack (its id, an ARN): the only stack whose revocation-cleanup requests it obeys. */
  readonly stackId: string;
  /**
   * The spoke enforcement role's path and name (no leading slash), assumed in every other account whose roles it denies.
   * Absent: it writes only in its own account.
   */
  readonly spokeRole?: string;
  /**
   * The spoke accounts the hub knows (`SENTINEL_SPOKE_ACCOUNTS`): roles under the protected path there stay the enforcer's
   * to write after their profiles left the configuration. Absent when none.
   */
  readonly spokeAccounts?: readonly string[];
  /** The organization SCP it keeps (`p-…`), in organization mode. */
  readonly organizationPolicyId?: string;
  /** The TVM's name (`SENTINEL_TVM_NAME`), stamped on its events: unset, the enforcer emits none. */
  readonly tvmName?: string;
  /** The bus of its events (`SENTINEL_EVENT_BUS`): unset, the account's default bus. */
  readonly eventBus?: string;
}

/** IAM's policy names. */
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
/** IAM's paths, the root excepted: under `/` every role of the account would count as this TVM's. */
const ROLE_PATH = /^\/[\u0021-\u007e]+\/$/;
/** A role's path (no leading slash) and name, as it follows `:role/` in its ARN. */
const SPOKE_ROLE = /^([\u0021-\u002e\u0030-\u007e]+\/)*[\w+=,.@-]{1,64}$/;
/** An AWS account id. */
const ACCOUNT = /^\d{12}$/;
/** Organizations' policy ids. */
const POLICY_ID = /^p-[0-9a-zA-Z_]{8,128}$/;

/** Throws an error naming the variable when one is missing or malformed: a deployment defect, found at cold start. */
export function readEnforcerSettings(env: NodeJS.ProcessEnv): EnforcerSettings {
  const required = (name: string, what: string): string => {
    const value = env[name];
    if (!value) throw new Error(`environment variable ${name} is not set: it names ${what}`);
    return value;
  };
  const tableName = required(Env.TABLE_NAME, 'the session table');
  const controlTableName = required(Env.CONTROL_TABLE_NAME, 'the control table');
  const configDigest = required(Env.CONFIG_DIGEST, 'the deployed configuration\'s digest');
  const policyName = required(Env.REVOKED_POLICY_NAME, 'this TVM\'s revoked-sessions inline policy');
  const stackId = required(Env.STACK_ID, 'the function\'s own CloudFormation stack (its id)');
  if (!POLICY_NAME.test(policyName)) {
    throw new Error(`environment variable ${Env.REVOKED_POLICY_NAME} is "${policyName}": expected an IAM policy name ([\\w+=,.@-]{1,128})`);
  }
  const protectedRolePath = env[Env.PROTECTED_ROLE_PATH] || undefined;
  if (protectedRolePath !== undefined && (protectedRolePath.length > 512 || !ROLE_PATH.test(protectedRolePath))) {
    throw new Error(`environment variable ${Env.PROTECTED_ROLE_PATH} is "${protectedRolePath}": expected an IAM path such as /sentinel-tvm/MyTvm/ `
      + '(not the root path /)');
  }
  const spokeRole = env[Env.SPOKE_ROLE] || undefined;
  // An ARN is the likely mistake: IAM paths may hold colons, so the pattern alone lets it through.
  if (spokeRole !== undefined && (spokeRole.length > 576 || !SPOKE_ROLE.test(spokeRole) || spokeRole.startsWith('arn:'))) {
    throw new Error(`environment variable ${Env.SPOKE_ROLE} is "${spokeRole}": expected a role's path and name without a leading slash, `
      + 'such as sentinel-tvm-runtime/MyTvm/MyTvm-spoke-eu-west-1');
  }
  const spokeAccounts = readSpokeAccounts(env[Env.SPOKE_ACCOUNTS]);
  const organizationPolicyId = env[Env.ORGANIZATION_POLICY_ID] || undefined;
  if (organizationPolicyId !== undefined && !POLICY_ID.test(organizationPolicyId)) {
    throw new Error(`environment variable ${Env.ORGANIZATION_POLICY_ID} is "${organizationPolicyId}": expected an Organizations policy id (p-…)`);
  }
  const events = readEventTarget(env);
  return {
    tableName,
    controlTableName,
    configDigest,
    policyName,
    ...(protectedRolePath ? { protectedRolePath } : {}),
    stackId,
    ...(spokeRole ? { spokeRole } : {}),
    ...(spokeAccounts.length > 0 ? { spokeAccounts } : {}),
    ...(organizationPolicyId ? { organizationPolicyId } : {}),
    ...(events ? { tvmName: events.tvmName, ...(events.eventBus ? { eventBus: events.eventBus } : {}) } : {}),
  };
}

/** Comma-separated 12-digit account ids (blanks around them ignored); unset or empty: none. */
function readSpokeAccounts(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  const accounts = value.split(',').map((a) => a.trim());
  const bad = accounts.find((a) => !ACCOUNT.test(a));
  if (bad !== undefined) {
    throw new Error(`environment variable ${Env.SPOKE_ACCOUNTS} is "${value.slice(0, 200)}": "${bad.slice(0, 40)}" is not a 12-digit account id `
      + '(expected comma-separated account ids such as 444455556666,777788889999)');
  }
  return [...new Set(accounts)];
}
