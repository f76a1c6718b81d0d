import * as fs from 'fs';
import { localNames } from './accounts';
import { canonicalProfiles, ConfigError } from '../../lambda/config/document';
import { callerFrom } from '../../lambda/identity';
import { countPersons, personPatternKind, type AccessPolicyConfig } from '../../src/shared/access';
import { Env, Limits, Patterns, StoreFailureModes, type ProfileConfig } from '../../src/shared/contract';
import { principalPatternProblem, type PrincipalPatternOptions } from '../../src/shared/principal-patterns';
import { CliError, ExitCode, usageError } from '../errors';

/** A principal of local mode: whoever signs with this access key is this ARN (as IAM would establish it). */
export interface LocalPrincipal {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly arn: string;
}

/** A role of the TVM's account that principals of other accounts assume to call the TVM (HTTP APIs have no resource policy). */
export interface CallerRole {
  readonly roleArn: string;
  /** aws:PrincipalArn patterns (IAM users and roles, any account) its trust policy allows. */
  readonly trusted: readonly string[];
}

/**
 * The local config file, validated: the construct's props in JSON (durations in seconds) plus the principals; a profile's
 * gates (`approval`, `breakGlass`, `accessWindows`) in the configuration's own shape (seconds, ARN patterns).
 */
export interface LocalConfig {
  readonly region: string;
  /** The account the TVM lives in (its execution role, enforcer and API). */
  readonly tvmAccount: string;
  /** Accounts emulated with a spoke (SentinelTvmSpoke): the enforcer writes its deny there through the spoke's enforcement role. */
  readonly spokeAccounts: readonly string[];
  readonly callerRoles: readonly CallerRole[];
  readonly principals: readonly LocalPrincipal[];
  readonly adminPrincipals: readonly string[];
  /** Relying parties that may call `POST /introspect` (besides the administrators). */
  readonly introspectionPrincipals: readonly string[];
  readonly profiles: readonly ProfileConfig[];
  readonly sessionLifetimeSeconds: number;
  readonly defaultCredentialDurationSeconds: number;
  readonly sessionRetentionSeconds: number;
  readonly storeFailureMode: 'FAIL_OPEN' | 'FAIL_CLOSED';
}

const TOP_KEYS = ['//', 'region', 'principals', 'adminPrincipals', 'introspectionPrincipals', 'profiles', 'sessionLifetime',
  'defaultCredentialDuration', 'sessionRetention', 'storeFailureMode', 'allowCallerChosenPrincipalNames', 'tvmAccount', 'spokeAccounts',
  'callerRoles'];
const PRINCIPAL_KEYS = ['//', 'secretAccessKey', 'arn'];
const PROFILE_KEYS = ['//', 'name', 'roleArn', 'allowedPrincipals', 'maxCredentialDuration', 'issuedCredentialsSurviveRevocation',
  'approval', 'breakGlass', 'accessWindows'];
const ACCOUNT = /^\d{12}$/;
/** What aws:PrincipalArn holds: an IAM user or role (its path included), or an account root. */
const PRINCIPAL_ARN = /^arn:[\w-]+:iam::\d{12}:(user\/|role\/|root$)/;
const IAM_ROLE = /^arn:[\w-]+:iam::\d{12}:role\//;
const SESSION_ARN = /^arn:[\w-]+:sts::(\d{12}):assumed-role\/([^/]+)\//;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
// The same syntax the construct accepts for principal patterns (src/private/validation.ts).
const ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const ACCESS_KEY_ID = /^[A-Z0-9]{8,128}$/;
/** Real AWS access key ids: local mode refuses them, so that nobody pastes a real secret into a local file. */
const REAL_ACCESS_KEY = /^(AKIA|ASIA|AIDA|AROA|ABIA|ACCA)[A-Z0-9]{16}$/;

class ConfigProblem extends Error {}

const fail = (what: string, expectation: string): never => {
  throw new ConfigProblem(`${what} ${expectation}`);
};
const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

function object(value: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail(where, `is ${show(value)}: expected an object`);
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) fail(`${where}.${k}`, `is not a known field: expected one of ${keys.filter((x) => x !== '//').join(', ')}`);
  }
  return obj;
}

function seconds(value: unknown, where: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(where, `is ${show(value)}: expected whole seconds from ${min} to ${max}`);
  }
  return value as number;
}

function patterns(value: unknown, where: string, allowEmpty: boolean, options: PrincipalPatternOptions): string[] {
  if (value === undefined && allowEmpty) return [];
  if (!Array.isArray(value)) return fail(where, `is ${show(value)}: expected a list of principal ARN patterns`);
  if (value.length === 0 && !allowEmpty) fail(where, 'is empty: expected at least one principal ARN pattern');
  value.forEach((p, i) => {
    const problem = principalPatternProblem(p, options);
    if (problem) fail(`${where}[${i}]`, `is ${show(p)}: ${problem}`);
  });
  return value as string[];
}

const USE_PERSONS = 'use an IAM user (arn:aws:iam::ACCOUNT:user/NAME) or an Identity Center permission set of the TVM\'s account '
  + '(arn:aws:sts::ACCOUNT:assumed-role/AWSReservedSSO_SET_*/USER)';

/** As the construct's synth check: a pattern of people who approve, break glass or review must name persons only. */
function personProblem(pattern: string, tvmAccount: string): string | undefined {
  const { kind, account } = personPatternKind(pattern);
  if (kind === 'wildAccount') {
    return `its partition, service and account must be literal, so that it names persons of a known account: ${USE_PERSONS}`;
  }
  if (kind === 'iamUser') return undefined;
  if (kind === 'identityCenter') {
    return account === tvmAccount ? undefined : `it is an Identity Center role of account ${account}, not the TVM's (${tvmAccount}): the TVM `
      + 'proves an Identity Center role with iam:GetRole, in its own account only';
  }
  return `it names no IAM user or Identity Center user, the only principals whose names AWS, not the caller, chooses: ${USE_PERSONS}`;
}

/**
 * A profile's gates from the file (`approval`, `breakGlass`, `accessWindows`), in the configuration's own shape, canonical
 * by the configuration writer's own code (so that local mode and a deployment read them alike), then checked as the
 * construct checks them at synth; undefined for a profile without gates.
 */
function accessPolicy(p: Record<string, unknown>, where: string, profile: ProfileConfig, tvmAccount: string,
  options: PrincipalPatternOptions): AccessPolicyConfig | undefined {
  if (p.approval === undefined && p.breakGlass === undefined && p.accessWindows === undefined) return undefined;
  const raw = {
    ...(p.approval !== undefined ? { approval: p.approval } : {}),
    ...(p.breakGlass !== undefined ? { breakGlass: p.breakGlass } : {}),
    ...(p.accessWindows !== undefined ? { windows: p.accessWindows } : {}),
  };
  let access: AccessPolicyConfig;
  try {
    access = canonicalProfiles([{ ...profile, access: raw }], 'profile')[0].access!;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The writer names `profile[0].access.<field>`; in the file they are the profile's own fields, `windows` as `accessWindows`.
    throw new ConfigProblem(err.message.replace(/^profile\[0\]\.access\.windows/, `${where}.accessWindows`).replace(/^profile\[0\]\.access/, where));
  }
  const persons = (list: readonly string[], at: string) => {
    patterns(list, at, false, options);
    list.forEach((pattern, i) => {
      const problem = personProblem(pattern, tvmAccount);
      if (problem) fail(`${at}[${i}]`, `is ${show(pattern)}: ${problem}`);
    });
  };
  const { approval, breakGlass } = access;
  if (approval) {
    persons(approval.approvers, `${where}.approval.approvers`);
    const matchable = countPersons(approval.approvers);
    if (matchable !== undefined && approval.minApprovals > matchable) {
      fail(`${where}.approval.minApprovals`, `is ${approval.minApprovals} but only ${matchable} approver${matchable === 1 ? '' : 's'} can ever `
        + 'match: nobody could approve');
    }
    approval.autoApprove.forEach((rule, i) => persons(rule.principals, `${where}.approval.autoApprove[${i}].principals`));
  }
  if (breakGlass) {
    persons(breakGlass.principals, `${where}.breakGlass.principals`);
    persons(breakGlass.reviewers, `${where}.breakGlass.reviewers`);
    if (!breakGlass.reason.required) {
      fail(`${where}.breakGlass.reason.required`, 'is false: break-glass always needs a reason, the review rests on it');
    }
  }
  return access;
}

/** Validates a parsed config file; errors name the field, its value and what is expected. */
export function validateConfig(raw: unknown): LocalConfig {
  const top = object(raw, 'the config', TOP_KEYS);
  const region = top.region === undefined ? 'us-east-1' : top.region;
  if (typeof region !== 'string' || !REGION.test(region)) fail('region', `is ${show(region)}: expected an AWS region name like us-east-1`);

  const rawPrincipals = object(top.principals, 'principals', Object.keys(top.principals ?? {}));
  const principals: LocalPrincipal[] = Object.entries(rawPrincipals).filter(([k]) => k !== '//').map(([accessKeyId, value]) => {
    const where = `principals.${accessKeyId}`;
    if (!ACCESS_KEY_ID.test(accessKeyId)) fail(`principals key ${show(accessKeyId)}`, 'is not an access key id: expected 8-128 characters A-Z, 0-9');
    if (REAL_ACCESS_KEY.test(accessKeyId)) {
      fail(`principals key ${show(accessKeyId)}`, 'looks like a real AWS access key id: local mode takes made-up keys only, e.g. AKIDLOCALALICE');
    }
    const p = object(value, where, PRINCIPAL_KEYS);
    if (typeof p.secretAccessKey !== 'string' || p.secretAccessKey.length < 8) {
      fail(`${where}.secretAccessKey`, 'must be a string of at least 8 characters (a made-up secret)');
    }
    if (typeof p.arn !== 'string') return fail(`${where}.arn`, `is ${show(p.arn)}: expected the principal's ARN`);
    try {
      callerFrom({ userArn: p.arn });
    } catch {
      fail(`${where}.arn`, `is ${show(p.arn)}: expected an IAM user, assumed-role, federated-user or root ARN`);
    }
    // Whoever holds a role's credentials signs as a session of it: a role ARN would hand the key the role itself (the
    // enforcer's, say), which no one gets without assuming it.
    if (IAM_ROLE.test(p.arn)) {
      fail(`${where}.arn`, `is ${show(p.arn)}, a role: expected a principal that signs (an IAM user, a role session `
        + 'arn:aws:sts::111122223333:assumed-role/Role/name, a federated user or an account root); a role is used through its sessions');
    }
    return { accessKeyId, secretAccessKey: p.secretAccessKey as string, arn: p.arn as string };
  });
  if (principals.length === 0) fail('principals', 'is empty: expected at least one access key id → {secretAccessKey, arn}');

  const optIn = top.allowCallerChosenPrincipalNames ?? false;
  if (typeof optIn !== 'boolean') fail('allowCallerChosenPrincipalNames', `is ${show(optIn)}: expected true or false`);
  const patternOptions: PrincipalPatternOptions = { allowCallerChosenNames: optIn as boolean };
  const adminPrincipals = patterns(top.adminPrincipals, 'adminPrincipals', true, patternOptions);
  const introspectionPrincipals = patterns(top.introspectionPrincipals, 'introspectionPrincipals', true, patternOptions);
  if (!Array.isArray(top.profiles) || top.profiles.length === 0) {
    fail('profiles', `is ${show(top.profiles)}: expected a list of at least one profile`);
  }
  const rawProfiles = top.profiles as unknown[];
  if (rawProfiles.length > Limits.MAX_PROFILES) fail('profiles', `has ${rawProfiles.length} profiles: at most ${Limits.MAX_PROFILES}`);
  const names = new Set<string>();
  const profiles: ProfileConfig[] = rawProfiles.map((value, i) => {
    const where = `profiles[${i}]`;
    const p = object(value, where, PROFILE_KEYS);
    if (typeof p.name !== 'string' || !new RegExp(Patterns.PROFILE).test(p.name)) {
      fail(`${where}.name`, `is ${show(p.name)}: expected a profile name matching ${Patterns.PROFILE}`);
    }
    const name = p.name as string;
    if (names.has(name)) fail(`${where}.name`, `${show(name)} is defined twice: profile names must be unique`);
    names.add(name);
    if (typeof p.roleArn !== 'string' || !ROLE_ARN.test(p.roleArn)) {
      fail(`${where}.roleArn`, `is ${show(p.roleArn)}: expected a role ARN like arn:aws:iam::111122223333:role/ReadOnly`);
    }
    return {
      name,
      roleArn: p.roleArn as string,
      allowedPrincipals: patterns(p.allowedPrincipals, `${where}.allowedPrincipals`, false, patternOptions),
      maxDurationSeconds: seconds(p.maxCredentialDuration, `${where}.maxCredentialDuration`, Limits.MIN_CREDENTIAL_SECONDS,
        Limits.MAX_CREDENTIAL_SECONDS, Limits.MAX_CREDENTIAL_SECONDS),
    };
  });

  const tvmAccount = top.tvmAccount ?? profiles[0].roleArn.split(':')[4];
  if (typeof tvmAccount !== 'string' || !ACCOUNT.test(tvmAccount)) fail('tvmAccount', `is ${show(tvmAccount)}: expected a 12-digit account id`);
  const spokeAccounts = top.spokeAccounts ?? [];
  if (!Array.isArray(spokeAccounts)) fail('spokeAccounts', `is ${show(spokeAccounts)}: expected a list of 12-digit account ids`);
  (spokeAccounts as unknown[]).forEach((a, i) => {
    if (typeof a !== 'string' || !ACCOUNT.test(a)) fail(`spokeAccounts[${i}]`, `is ${show(a)}: expected a 12-digit account id`);
    if (a === tvmAccount) fail(`spokeAccounts[${i}]`, `is ${show(a)}, the TVM's own account: expected another account (the hub needs no spoke)`);
    if ((spokeAccounts as unknown[]).indexOf(a) !== i) fail(`spokeAccounts[${i}]`, `${show(a)} is listed twice: expected each account once`);
  });
  const spokes = spokeAccounts as string[];
  // The construct's synth check: revocation must reach issued credentials, or the profile says it does not.
  rawProfiles.forEach((value, i) => {
    const where = `profiles[${i}]`;
    const p = value as Record<string, unknown>;
    const optOut = p.issuedCredentialsSurviveRevocation ?? false;
    if (typeof optOut !== 'boolean') fail(`${where}.issuedCredentialsSurviveRevocation`, `is ${show(optOut)}: expected true or false`);
    const account = profiles[i].roleArn.split(':')[4];
    if (account !== tvmAccount && !spokes.includes(account) && !optOut) {
      fail(`${where}.roleArn`, `is ${show(profiles[i].roleArn)}: its account ${account} is neither the TVM's (${tvmAccount}) nor in spokeAccounts, `
        + 'so a revocation could not deny credentials already issued: add the account to spokeAccounts, or set '
        + `${where}.issuedCredentialsSurviveRevocation: true to accept that`);
    }
    if (optOut === true) profiles[i] = { ...profiles[i], unenforced: true };
    const access = accessPolicy(p, where, profiles[i], tvmAccount as string, patternOptions);
    if ((access?.approval || access?.breakGlass) && optOut === true) {
      fail(`${where}.issuedCredentialsSurviveRevocation`, 'is true, but a gated profile (approval, breakGlass) needs revocation to reach issued '
        + 'credentials, as withdrawing a grant must cut its credentials: remove it, as the construct requires');
    }
    if (access) profiles[i] = { ...profiles[i], access };
  });

  const rawCallers = object(top.callerRoles ?? {}, 'callerRoles', Object.keys(top.callerRoles ?? {}));
  const callerRoles: CallerRole[] = Object.entries(rawCallers).filter(([k]) => k !== '//').map(([roleArn, trusted]) => {
    const where = `callerRoles[${show(roleArn)}]`;
    if (!ROLE_ARN.test(roleArn)) {
      fail(`callerRoles key ${show(roleArn)}`, 'is not a role ARN: expected e.g. arn:aws:iam::111122223333:role/PartnerCaller');
    }
    if (roleArn.split(':')[4] !== tvmAccount) {
      fail(`callerRoles key ${show(roleArn)}`, `is in account ${roleArn.split(':')[4]}: expected a role of the TVM's account ${tvmAccount}, `
        + 'which principals of other accounts assume to call the TVM');
    }
    if (profiles.some((p) => p.roleArn === roleArn)) fail(`callerRoles key ${show(roleArn)}`, 'is a profile\'s role: expected a role of its own');
    if (!Array.isArray(trusted) || trusted.length === 0) return fail(where, `is ${show(trusted)}: expected a list of one principal ARN`);
    // The TVM sees a caller role's session name as the caller: several principals (or a pattern) could each take another's.
    const why = 'whoever may assume a caller role chooses its session name, so the principals it trusts would be indistinguishable '
      + 'to allowedPrincipals (one could name its session after another): give each principal a caller role of its own';
    if (trusted.length > 1) fail(where, `trusts ${trusted.length} principals: expected exactly one, as ${why}`);
    const t: unknown = trusted[0];
    if (typeof t === 'string' && /[*?]/.test(t)) {
      fail(`${where}[0]`, `is ${show(t)}, a pattern: expected one principal's ARN, without wildcards, as ${why}`);
    }
    const problem = principalPatternProblem(t, patternOptions) ?? (PRINCIPAL_ARN.test(t as string) ? undefined
      : 'expected an IAM user or role ARN (or an account root), what aws:PrincipalArn holds: a role session is matched by its role');
    if (problem) fail(`${where}[0]`, `is ${show(t)}: ${problem}`);
    return { roleArn, trusted: [t as string] };
  });

  // A session of a role local mode emulates comes from its local STS (through the role's trust), never from the config:
  // a principal declared as one would hold, say, the enforcer's or a spoke enforcement role's write without assuming it.
  const local = localNames({ tvmAccount: tvmAccount as string, region: region as string });
  // By account and name, as IAM knows a role (names are unique in an account whatever the case or path).
  const roleKey = (account: string, name: string) => `${account}/${name.toLowerCase()}`;
  const localRoles = new Map([...profiles.map((p) => p.roleArn), ...callerRoles.map((c) => c.roleArn), local.executionRoleArn,
    local.enforcerRoleArn, ...spokes.map(local.spokeRoleArn)].map((arn) => [roleKey(arn.split(':')[4], arn.split('/').pop()!), arn]));
  for (const p of principals) {
    const session = SESSION_ARN.exec(p.arn);
    const role = session && localRoles.get(roleKey(session[1], session[2]));
    if (role) {
      fail(`principals.${p.accessKeyId}.arn`, `is ${show(p.arn)}, a session of ${role}, a role local mode emulates: expected another principal, `
        + 'as its sessions are the local STS\'s to issue (assume the role there)');
    }
  }

  const mode = top.storeFailureMode ?? StoreFailureModes.FAIL_OPEN;
  if (mode !== StoreFailureModes.FAIL_OPEN && mode !== StoreFailureModes.FAIL_CLOSED) {
    fail('storeFailureMode', `is ${show(mode)}: expected FAIL_OPEN or FAIL_CLOSED`);
  }
  return {
    region: region as string,
    tvmAccount: tvmAccount as string,
    spokeAccounts: spokes,
    callerRoles,
    principals,
    adminPrincipals,
    introspectionPrincipals,
    profiles,
    sessionLifetimeSeconds: seconds(top.sessionLifetime, 'sessionLifetime', Limits.MIN_CREDENTIAL_SECONDS,
      Limits.MAX_SESSION_LIFETIME_SECONDS, Limits.DEFAULT_SESSION_LIFETIME_SECONDS),
    defaultCredentialDurationSeconds: seconds(top.defaultCredentialDuration, 'defaultCredentialDuration', Limits.MIN_CREDENTIAL_SECONDS,
      Limits.MAX_CREDENTIAL_SECONDS, Limits.DEFAULT_CREDENTIAL_SECONDS),
    sessionRetentionSeconds: seconds(top.sessionRetention, 'sessionRetention', 0, 365 * 24 * 3600, Limits.DEFAULT_RETENTION_SECONDS),
    storeFailureMode: mode as 'FAIL_OPEN' | 'FAIL_CLOSED',
  };
}

/** Reads and validates the config file; any problem is a usage error naming the file and the field. */
export function loadConfigFile(file: string): LocalConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw usageError(`config file ${file} is not JSON: ${(err as Error).message}`);
  }
  try {
    return validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigProblem) throw usageError(`config file ${file}: ${err.message}`);
    throw new CliError(ExitCode.LOCAL, String(err));
  }
}

/**
 * The configuration as the writer's `writeConfig` takes it, which splits it into chunks as the construct does: each chunk
 * then gets the properties the construct's chunk resource passes (CloudFormation's view: numbers as strings).
 */
export function configProperties(config: LocalConfig): { AdminPrincipals: string[]; IntrospectionPrincipals?: string[]; Profiles: unknown[] } {
  return {
    AdminPrincipals: [...config.adminPrincipals],
    // Only when there are some, as the construct passes it.
    ...(config.introspectionPrincipals.length > 0 ? { IntrospectionPrincipals: [...config.introspectionPrincipals] } : {}),
    Profiles: config.profiles.map((p) => ({
      name: p.name,
      roleArn: p.roleArn,
      allowedPrincipals: p.allowedPrincipals,
      maxDurationSeconds: String(p.maxDurationSeconds),
      chainRoleArns: p.chainRoleArns ?? [],
      // Only when set, as the construct writes it (CloudFormation's view: a string): others keep their digest.
      ...(p.unenforced ? { unenforced: 'true' } : {}),
      // Only when gated, as the construct writes it: the configuration's own shape.
      ...(p.access ? { access: p.access } : {}),
    })),
  };
}

/** Where the local TVM's tables are and how it is reached. */
export interface LocalDeployment {
  readonly tableName: string;
  readonly controlTableName: string;
  /** The configuration digest the configuration writer answered. */
  readonly configDigest: string;
  /** The front door's host names (`127.0.0.1:PORT`, `localhost:PORT`): identity proofs must name one. */
  readonly audiences: readonly string[];
}

/** The vending Lambda's environment, as the construct sets it. */
export function handlerEnvironment(config: LocalConfig, d: LocalDeployment): Record<string, string> {
  return {
    [Env.TABLE_NAME]: d.tableName,
    [Env.CONTROL_TABLE_NAME]: d.controlTableName,
    [Env.CONFIG_DIGEST]: d.configDigest,
    [Env.AUDIENCES]: d.audiences.join(','),
    [Env.SESSION_LIFETIME_SECONDS]: String(config.sessionLifetimeSeconds),
    [Env.DEFAULT_DURATION_SECONDS]: String(config.defaultCredentialDurationSeconds),
    [Env.RETENTION_SECONDS]: String(config.sessionRetentionSeconds),
    [Env.STORE_FAILURE_MODE]: config.storeFailureMode,
    [Env.TVM_ACCOUNT]: config.tvmAccount,
  };
}
