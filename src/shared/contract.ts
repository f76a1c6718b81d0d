/**
 * The contract between the construct (src/) and the runtime (lambda/).
 *
 * This module imports nothing but its sibling contract modules on purpose: the Lambda bundles import it, and the
 * construct imports it, so every name, limit and pattern the two sides must agree on is written exactly once.
 */
import { AccessAttr, AccessEventTypes, AccessRoutes, type AccessPolicyConfig } from './access';

/** The session tag stamped on every AssumeRole; protected roles require it. */
export const SESSION_TAG_KEY = 'SentinelSessionID';

/**
 * SourceIdentity prefix. The whole SourceIdentity is `sentinel.<sessionId>.<kind>.<user>` (STS forbids `:` in it): see
 * {@link formatSourceIdentity}. Before version 2 of the format it was `sentinel.<user>`.
 */
export const SOURCE_IDENTITY_PREFIX = 'sentinel.';

/**
 * What kind of grant a session is: the one-character slot of its SourceIdentity after the session id. Every session is
 * `s` (standing access) until approvals and break-glass exist; the slot is fixed so that a user named `b.alice` can never
 * look like a break-glass session.
 */
export const SourceIdentityKinds = {
  /** Standing access: the profile's policy allows the caller. */
  STANDING: 's',
  /** Access a person approved. */
  APPROVED: 'a',
  /** Emergency access without an approver. */
  BREAK_GLASS: 'b',
} as const;
export type SourceIdentityKind = typeof SourceIdentityKinds[keyof typeof SourceIdentityKinds];

/** A SourceIdentity of this TVM, read back (from CloudTrail's `sessionContext.sourceIdentity`, or a session record). */
export interface ParsedSourceIdentity {
  /** The session id; absent in the format before version 2 (`sentinel.<user>`). */
  readonly sessionId?: string;
  readonly kind?: SourceIdentityKind;
  /** The user, with characters STS refuses replaced by `_`, cut to fit 64 characters in all. */
  readonly user: string;
}

const SOURCE_IDENTITY_V2 = /^sentinel\.([0-9a-f]{16})\.([sab])\.([\w+=,.@-]+)$/;
const SOURCE_IDENTITY_V1 = /^sentinel\.([\w+=,.@-]+)$/;

/**
 * The SourceIdentity of a session: `sentinel.<sessionId>.<kind>.<user>`, 9 + 16 + 1 + 1 + 1 characters before the user,
 * whose first 36 characters follow (characters STS refuses, anything but `[\w+=,.@-]`, replaced by `_`). The session id
 * comes first so that it is never cut; its fixed position lets a reader split the value however the user is named.
 */
export function formatSourceIdentity(sessionId: string, kind: SourceIdentityKind, user: string): string {
  const safeUser = user.replace(/[^\w+=,.@-]/g, '_') || '_';
  return `${SOURCE_IDENTITY_PREFIX}${sessionId}.${kind}.${safeUser}`.slice(0, 64);
}

/** Reads a SourceIdentity this TVM set (either format), undefined for any other value. */
export function parseSourceIdentity(value: unknown): ParsedSourceIdentity | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  const v2 = SOURCE_IDENTITY_V2.exec(value);
  if (v2) return { sessionId: v2[1], kind: v2[2] as SourceIdentityKind, user: v2[3] };
  const v1 = SOURCE_IDENTITY_V1.exec(value);
  return v1 ? { user: v1[1] } : undefined;
}

/** Prefix of the inline policy that denies revoked sessions on each protected role. */
export const REVOKED_SESSIONS_POLICY_NAME = 'SentinelRevokedSessions';

/**
 * The revoked-sessions policy name of one TVM: the prefix, the TVM's service name and its region, so that two TVMs that
 * vend the same role (IAM is global: one app deployed to two regions has the same service name) each keep their own
 * policy and never overwrite or delete the other's. At most 64 + 24 + 1 + 1 + 16 characters (IAM allows 128).
 */
export function revokedSessionsPolicyName(serviceName: string, region: string): string {
  return `${REVOKED_SESSIONS_POLICY_NAME}-${serviceName}-${region}`;
}

/** The IAM path of a TVM's own function roles (vending, enforcer, configuration writer) and of its spokes' enforcement roles. */
export function runtimeRolePathOf(tvmName: string): string {
  return `/sentinel-tvm-runtime/${tvmName}/`;
}

/**
 * The name of a TVM's enforcer role (under {@link runtimeRolePathOf}): fixed, so that a spoke in another account names it
 * in its enforcement role's trust without a reference. At most 40 + 9 + 14 characters (IAM allows 64).
 */
export function vendRoleName(tvmName: string, region: string): string {
  return `${tvmName}-vend-${region}`;
}

/** The fixed name of a TVM's enforcer role (under {@link runtimeRolePathOf}). */
export function enforcerRoleName(tvmName: string, region: string): string {
  return `${tvmName}-enforce-${region}`;
}

/**
 * The name of the enforcement role a spoke creates in its account (under the hub's {@link runtimeRolePathOf}): the hub's
 * enforcer assumes `arn:<partition>:iam::<spoke account>:role/sentinel-tvm-runtime/<tvmName>/<this name>`.
 */
export function spokeEnforcementRoleName(tvmName: string, region: string): string {
  return `${tvmName}-spoke-${region}`;
}

/**
 * The name of the role a spoke creates (under {@link runtimeRolePathOf}) for `sentinel-tvm sessions activity`: it may only
 * read the account's CloudTrail event history (`--reader-role sentinel-tvm-runtime/<tvmName>/<tvmName>-activity`).
 */
export function activityReaderRoleName(tvmName: string): string {
  return `${tvmName}-activity`;
}

/** The IAM path of the permissions boundaries a spoke writes for its protected roles: the enforcement role writes only roles bounded so. */
export function spokeBoundaryPathOf(tvmName: string): string {
  return `/sentinel-tvm-boundary/${tvmName}/`;
}

/** Sid of the placeholder a spoke's template declares as each protected role's revoked-sessions policy. */
export const SPOKE_PLACEHOLDER_SID = 'SentinelNoRevokedSessions';

/**
 * The revoked-sessions policy a spoke's template declares on each of its protected roles (an `AWS::IAM::RolePolicy` with
 * the hub's policy name), so that CloudFormation deletes the policy, whatever the enforcer wrote into it, before the role
 * on a stack deletion (no custom resource: a spoke template has no assets). It denies nothing: no request has the tag
 * both absent and equal to a value. The enforcer writes it back instead of deleting the policy in a spoke account.
 * Never change it: CloudFormation would write it over a live deny on the next update.
 */
export const SPOKE_PLACEHOLDER_POLICY = {
  Version: '2012-10-17',
  Statement: [{
    Sid: SPOKE_PLACEHOLDER_SID,
    Effect: 'Deny',
    Action: '*',
    Resource: '*',
    Condition: { Null: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: 'true' }, StringEquals: { [`aws:PrincipalTag/${SESSION_TAG_KEY}`]: 'none' } },
  }],
} as const;

/** The name of the organization-wide SCP a TVM maintains (`RevocationEnforcement.organizationScp`). */
export function organizationPolicyName(tvmName: string, region: string): string {
  return `${REVOKED_SESSIONS_POLICY_NAME}-${tvmName}-${region}`;
}

/** Service control policies: at most this many characters, whitespace included (the enforcer writes compact JSON). */
export const SCP_MAX_CHARS = 5_120;

/**
 * Tags the construct puts on its resources, so that a service control policy can protect them
 * (docs/guardrails/tvm-account-scp.json): every resource of a TVM, its profiles' roles and chain targets included,
 * carries {@link TvmTags.SERVICE}. Nothing is exempted by a tag (tag keys compare without case in conditions, and a
 * principal's tags can be chosen): the SCP exempts the TVM's own roles by their IAM path.
 */
export const TvmTags = {
  SERVICE: 'sentinel-tvm:service',
} as const;

/** Session item attribute names, shared with Sentinel's tooling. */
export const Attr = {
  ID: 'id',
  USER: 'user',
  PROFILE: 'profile',
  STATUS: 'status',
  STARTED_AT: 'started_at',
  LAST_ACCESS_AT: 'last_access_at',
  EXPIRES_AT: 'expires_at',
  REQUEST_COUNT: 'request_count',
  SOURCE_IDENTITY: 'source_identity',
  DEVICE_ID: 'device_id',
  SERVER_INSTANCE_ID: 'server_instance_id',
  CREATED_AT: 'created_at',
  UPDATED_AT: 'updated_at',
  REVOKED_BY: 'revoked_by',
  REVOKED_REASON: 'revoked_reason',
  REVOKED_AT: 'revoked_at',
  ENDED_AT: 'ended_at',
  ENDED_REASON: 'ended_reason',
  TTL: 'ttl',
  PRINCIPAL_ARN: 'principal_arn',
  /** STS's unique id of the session's principal (AIDA…, AROA…:session), when the session was started with a verified identity. */
  PRINCIPAL_ID: 'principal_id',
  ACCOUNT_ID: 'account_id',
  ROLE_ARN: 'role_arn',
  CREDENTIALS_EXPIRE_AT: 'credentials_expire_at',
} as const;

/**
 * Global secondary indexes of the session table: name, partition key, sort key (projection ALL). `gsi-review` is sparse:
 * only break-glass sessions awaiting their review carry `review_state`.
 */
export const Indexes = [
  { name: 'gsi-user', partitionKey: Attr.USER, sortKey: Attr.CREATED_AT },
  { name: 'gsi-status', partitionKey: Attr.STATUS, sortKey: Attr.CREATED_AT },
  { name: 'gsi-profile', partitionKey: Attr.PROFILE, sortKey: Attr.CREATED_AT },
  { name: 'gsi-review', partitionKey: AccessAttr.REVIEW_STATE, sortKey: AccessAttr.REVIEW_DUE_AT },
] as const;

/**
 * Session status values. `revoked` and `expired` are terminal. A gated session (access.ts) is born `pending` (an access
 * request) or `approved`, and ends `denied` or `cancelled` too, both terminal; a standing session is only ever `active`,
 * `revoked` or `expired`.
 */
export const Status = {
  ACTIVE: 'active',
  REVOKED: 'revoked',
  EXPIRED: 'expired',
  PENDING: 'pending',
  APPROVED: 'approved',
  DENIED: 'denied',
  CANCELLED: 'cancelled',
} as const;
export type SessionStatus = (typeof Status)[keyof typeof Status];

/**
 * The configuration in the control table: content-addressed items, written at deploy time, read once per container.
 *
 * Profiles do not fit Lambda's 4 KB environment, and 1,000 of them do not fit one custom-resource request (CloudFormation
 * sends the properties twice on an update, and Lambda takes 256 KB), so the construct splits them into chunks
 * ({@link ConfigChunking}). Item `<prefix>chunk#<SHA-256 of its document>` holds a chunk, a list of {@link ProfileConfig};
 * item `<prefix><digest>` holds the manifest ({@link ConfigManifest}), which lists the chunks' SHA-256s. The digest, the
 * manifest's SHA-256, is what the functions get in their environment, and it fixes every chunk too. Content addressing
 * lets an old and a new configuration coexist during a deployment; CloudFormation deletes the old items in its cleanup.
 */
export const CONFIG_ITEM_PREFIX = '#sentinel-tvm-config#';

/**
 * Attributes of a configuration item: `document`, its canonical JSON, and `held_by`, the custom resources (logical ids)
 * that wrote it: two resources with the same content share one item, which goes when the last of them lets it go.
 */
export const ConfigAttr = {
  DOCUMENT: 'document',
  HELD_BY: 'held_by',
} as const;

/** The custom resources that write the configuration: the manifest, whose `Digest` the functions get, and its chunks. */
export const ConfigResourceTypes = {
  MANIFEST: 'Custom::SentinelTvmConfig',
  CHUNK: 'Custom::SentinelTvmConfigChunk',
} as const;

/** Version of {@link ConfigManifest} and {@link ConfigDocument}. */
export const CONFIG_DOCUMENT_VERSION = 2;

/** The manifest: canonical JSON, keys in this order. */
export interface ConfigManifest {
  readonly version: number;
  readonly adminPrincipals: string[];
  /** Relying parties that may call `POST /introspect` (patterns, as `adminPrincipals`); omitted when there are none. */
  readonly introspectionPrincipals?: string[];
  /** SHA-256 (hex) of each chunk's document, in order. */
  readonly chunks: string[];
}

/** The configuration as the functions see it: the manifest's administrators and its chunks' profiles, in order. */
export interface ConfigDocument {
  readonly version: number;
  readonly adminPrincipals: string[];
  readonly introspectionPrincipals?: string[];
  readonly profiles: ProfileConfig[];
}

/**
 * How profiles are split into chunks, by the construct at synth and by local mode alike (the same settings give the
 * same digest). A profile's size is the length of its canonical JSON (the construct adds 100 per unresolved token).
 * A chunk ends after a profile whose name hashes to a boundary (about one name in `BOUNDARY_EVERY`), so that adding or
 * removing a profile rewrites its own chunk rather than every chunk after it; and before a profile that would take it
 * past `BUDGET_BYTES`, so that a chunk's update request (its properties twice) stays far below Lambda's 256 KB.
 */
export const ConfigChunking = {
  BUDGET_BYTES: 48_000,
  BOUNDARY_EVERY: 32,
  /** The most one profile may take: a chunk of it alone, twice in an update request, stays below 256 KB. */
  MAX_PROFILE_BYTES: 100_000,
} as const;

/** Whether a profile of `profileBytes` starts a new chunk after the current one (`chunkBytes`, last profile `lastName`). */
export function startsConfigChunk(chunkBytes: number, lastName: string | undefined, profileBytes: number): boolean {
  if (lastName === undefined) return true;
  // A polynomial hash modulo a prime: stable, well spread, no import (it decides chunk sizes, nothing about security).
  let hash = 7;
  for (let i = 0; i < lastName.length; i++) hash = (hash * 31 + lastName.charCodeAt(i)) % 2_147_483_647;
  return hash % ConfigChunking.BOUNDARY_EVERY === 0 || chunkBytes + profileBytes > ConfigChunking.BUDGET_BYTES;
}

/** One profile as the runtime sees it. */
export interface ProfileConfig {
  readonly name: string;
  /** ARN of the protected role. */
  readonly roleArn: string;
  /** IAM-style wildcard patterns on the caller's full ARN. */
  readonly allowedPrincipals: string[];
  /** Upper bound of credential lifetime, seconds (900..3600). */
  readonly maxDurationSeconds: number;
  /**
   * Roles that sessions of this profile's role may chain into (`sts:AssumeRole` from the vended credentials).
   * The session tag is transitive, so the enforcer writes the revoked-sessions deny on these roles too.
   */
  readonly chainRoleArns?: string[];
  /**
   * The profile opted out of revocation reaching issued credentials (`issuedCredentialsSurviveRevocation`): the enforcer
   * writes no deny for its role, e.g. a role of an account without a spoke. Revocation still refuses future vends.
   */
  readonly unenforced?: boolean;
  /**
   * The profile's role is not a `ProtectedRole` of the TVM (a plain role of the app, or an imported one): principals other
   * than the TVM may be able to assume it and choose a session name like the TVM's (`tvm-<id>-…`), so introspection never
   * answers active for its sessions.
   */
  readonly openTrust?: boolean;
  /** The profile's gates: approvals, break-glass, access windows (access.ts). Absent: standing access, as before. */
  readonly access?: AccessPolicyConfig;
}

/** Environment variables of the vending Lambda. */
export const Env = {
  TABLE_NAME: 'SENTINEL_TABLE_NAME',
  /** The control table: the deployed configuration, the page-token key and principal blocks; no grant reaches it. */
  CONTROL_TABLE_NAME: 'SENTINEL_CONTROL_TABLE_NAME',
  /**
   * SHA-256 of the configuration document as the deployment wrote it (the config provider's `Digest`). The runtime
   * refuses a configuration whose digest differs; a changed configuration changes it, which replaces warm containers.
   */
  CONFIG_DIGEST: 'SENTINEL_CONFIG_DIGEST',
  /** Comma-separated audiences an identity proof may name: the API's host names. */
  AUDIENCES: 'SENTINEL_AUDIENCES',
  SESSION_LIFETIME_SECONDS: 'SENTINEL_SESSION_LIFETIME_SECONDS',
  DEFAULT_DURATION_SECONDS: 'SENTINEL_DEFAULT_DURATION_SECONDS',
  RETENTION_SECONDS: 'SENTINEL_RETENTION_SECONDS',
  STORE_FAILURE_MODE: 'SENTINEL_STORE_FAILURE_MODE',
  /** Enforcer: the name of this TVM's revoked-sessions inline policy (one per TVM, so two TVMs never undo each other). */
  REVOKED_POLICY_NAME: 'SENTINEL_REVOKED_POLICY_NAME',
  /** Enforcer: the IAM path of this TVM's ProtectedRoles, whose roles it may write even after they leave the configuration. */
  PROTECTED_ROLE_PATH: 'SENTINEL_PROTECTED_ROLE_PATH',
  /** Enforcer: the id (ARN) of its own stack: a revocation-cleanup request is obeyed only when it comes from that stack. */
  STACK_ID: 'SENTINEL_STACK_ID',
  /**
   * Enforcer: the spoke enforcement role's path and name (`sentinel-tvm-runtime/<tvmName>/<tvmName>-spoke-<region>`), which
   * it assumes in each other account whose roles it denies. Unset: it writes only in its own account.
   */
  SPOKE_ROLE: 'SENTINEL_SPOKE_ROLE',
  /**
   * Enforcer: the spoke accounts the hub knows (comma-separated 12-digit ids, from `spokeAccounts`, `addSpokeAccount` and
   * the spokes of its app). Roles under the protected path in these accounts stay the enforcer's to write after their
   * profiles left the configuration, as in its own account.
   */
  SPOKE_ACCOUNTS: 'SENTINEL_SPOKE_ACCOUNTS',
  /** Enforcer: the id (`p-…`) of the organization-wide SCP it keeps (`RevocationEnforcement.organizationScp`). */
  ORGANIZATION_POLICY_ID: 'SENTINEL_ORGANIZATION_POLICY_ID',
  /**
   * Events function and enforcer: the event bus (name or ARN) their session events go to ({@link SessionEvents}). Unset:
   * the account's default bus.
   */
  EVENT_BUS: 'SENTINEL_EVENT_BUS',
  /** Events function and enforcer: the TVM's name, stamped on every event (`detail.tvmName`). */
  TVM_NAME: 'SENTINEL_TVM_NAME',
  /**
   * Vending and access functions: the TVM's account (12 digits). The access function proves Identity Center callers of
   * this account as persons through IAM GetRole (approvals, break-glass, reviews; unset: only IAM users are), and the TVM's
   * own revocations (a broken grant seal, the lifecycle sweep) name its vending role in this account.
   */
  TVM_ACCOUNT: 'SENTINEL_TVM_ACCOUNT',
} as const;

/** Environment variables of a relying party's Lambda authorizer (lambda/authorizer.lambda.ts), built on the session verifier. */
export const AuthorizerEnv = {
  /** The TVM's URL (`tvm.url`). Required. */
  TVM_URL: 'SENTINEL_TVM_URL',
  /** The TVM's region (its STS executes the identity proofs). Required. */
  TVM_REGION: 'SENTINEL_TVM_REGION',
  /** The relying party's audience: callers' identity proofs must name it. Required. */
  AUDIENCE: 'SENTINEL_AUDIENCE',
  /** Seconds an active answer is reused (default {@link Introspection.DEFAULT_ACTIVE_CACHE_SECONDS}; 0: never). */
  ACTIVE_CACHE_SECONDS: 'SENTINEL_ACTIVE_CACHE_SECONDS',
  /** `fail_closed` (default) or `fail_open` ({@link IntrospectionStoreFailure}). */
  ON_STORE_FAILURE: 'SENTINEL_ON_STORE_FAILURE',
  /** Comma-separated profile names whose sessions the authorizer admits; unset or empty: a live session of any profile. */
  ALLOWED_PROFILES: 'SENTINEL_ALLOWED_PROFILES',
} as const;

/**
 * The control-table item that lets one revocation enforcer run at a time (no reserved concurrency, which low-quota
 * accounts refuse): a run writes it when it is free or expired, and deletes it when done.
 */
export const ENFORCER_LEASE_ITEM_ID = '#sentinel-tvm-enforcer-lease';
/** Attributes of {@link ENFORCER_LEASE_ITEM_ID}: the holding run, and when its hold lapses (epoch milliseconds). */
export const LeaseAttr = {
  OWNER: 'owner',
  EXPIRES_AT_MS: 'expires_at_ms',
} as const;
/**
 * The enforcer function's timeout, and how long a lease holds: longer, so that a run never outlives its lease, and a
 * crashed run blocks the others for at most that long.
 */
export const EnforcerTiming = {
  TIMEOUT_SECONDS: 60,
  LEASE_SECONDS: 90,
} as const;
/**
 * The custom resource, served by the enforcer function, that deletes this TVM's revoked-sessions policy from its roles
 * before CloudFormation deletes them (IAM refuses to delete a role that has inline policies). Properties: `RoleNames`
 * (role names, no path) and `PolicyName`.
 */
export const REVOCATION_CLEANUP_RESOURCE_TYPE = 'Custom::SentinelTvmRevocationCleanup';
/**
 * The control-table item in which the revocation cleanup keeps the roles each of its live resources declared last (a
 * Create or an Update writes them): a Delete of a replaced resource spares the roles still declared.
 */
export const REVOCATION_CLEANUP_ITEM_ID = '#sentinel-tvm-revocation-cleanup';
/** Attribute of {@link REVOCATION_CLEANUP_ITEM_ID}: JSON, by logical id, of `{ physicalResourceId, policyName, roleNames }`. */
export const REVOCATION_CLEANUP_DECLARATIONS_ATTR = 'declarations';

/** Values of {@link Env.STORE_FAILURE_MODE}. */
export const StoreFailureModes = {
  FAIL_OPEN: 'FAIL_OPEN',
  FAIL_CLOSED: 'FAIL_CLOSED',
} as const;

/** Routes of the HTTP API (all AWS_IAM). */
export const Routes = [
  { method: 'GET', path: '/' },
  { method: 'POST', path: '/' },
  { method: 'GET', path: '/profiles' },
  { method: 'GET', path: '/sessions' },
  { method: 'GET', path: '/sessions/{id}' },
  { method: 'DELETE', path: '/sessions/{id}' },
  { method: 'POST', path: '/sessions/{id}/revoke' },
  { method: 'POST', path: '/introspect' },
  ...AccessRoutes,
] as const;

/**
 * Introspection (`POST /introspect`), shaped after OAuth 2.0 token introspection (RFC 7662): a relying party (a service
 * downstream of the TVM that the TVM names in `introspectionPrincipals` or `grantIntrospect`) asks whether the session
 * behind a caller it saw is still valid. The body is `application/x-www-form-urlencoded` (as RFC 7662) or JSON, with
 * the fields of {@link IntrospectionRequestFields}. The answer is {@link IntrospectionAnswer}.
 */
export const Introspection = {
  PATH: '/introspect',
  /** Largest accepted body, in bytes (a proof is at most {@link IdentityProof.MAX_LENGTH} characters). */
  MAX_BODY_BYTES: 16_384,
  /**
   * What an audience may look like: a host name, optionally with a port, or any short name of the relying party's choosing.
   * Compared without case.
   */
  AUDIENCE_PATTERN: '^[A-Za-z0-9][A-Za-z0-9.:_-]{0,252}$',
  /** How long a verifier caches an active answer by default (seconds). */
  DEFAULT_ACTIVE_CACHE_SECONDS: 30,
  /**
   * How long a verifier caches an inactive answer: until any credentials it could have seen have expired (a TVM vends
   * at most {@link Limits.MAX_CREDENTIAL_SECONDS}). An inactive session never becomes active again.
   */
  INACTIVE_CACHE_SECONDS: 3600,
} as const;

/** The request fields of `POST /introspect`. */
export const IntrospectionRequestFields = {
  /** The caller's principal ARN as the relying party saw it, or an identity proof (base64) the caller made for the relying party. */
  TOKEN: 'token',
  /** `principal_arn` or `identity_proof` ({@link IntrospectionTokenTypes}); optional: an ARN starts with `arn:`. */
  TOKEN_TYPE_HINT: 'token_type_hint',
  /** Required with an identity proof: the relying party's own audience, which the proof's signed audience header must name. */
  AUDIENCE: 'audience',
  /** `fail_closed` (default) or `fail_open` ({@link IntrospectionStoreFailure}): what to answer when the session store fails. */
  ON_STORE_FAILURE: 'on_store_failure',
} as const;

/** Values of {@link IntrospectionRequestFields.TOKEN_TYPE_HINT}. */
export const IntrospectionTokenTypes = {
  PRINCIPAL_ARN: 'principal_arn',
  IDENTITY_PROOF: 'identity_proof',
} as const;

/**
 * Values of {@link IntrospectionRequestFields.ON_STORE_FAILURE}. `fail_closed`: the TVM answers 503 `STORE_UNAVAILABLE`
 * (a verifier refuses the request and caches nothing). `fail_open`: 200 with `active: true`, `store_unavailable: true`
 * and only the session id (a verifier admits the request and caches nothing), unless the container knows the session
 * as inactive already.
 */
export const IntrospectionStoreFailure = {
  FAIL_CLOSED: 'fail_closed',
  FAIL_OPEN: 'fail_open',
} as const;

/**
 * The answer of `POST /introspect` (200). Inactive: `{ "active": false }` and nothing more, whatever the reason (unknown,
 * ended, revoked, expired, not a session of a profile's role, a proof for another audience). Active: the session's facts,
 * RFC 7662 names where one fits.
 */
export interface IntrospectionAnswer {
  readonly active: boolean;
  /** The session id (RFC 7662 `jti`: the session is the token's identity). */
  readonly jti?: string;
  /** The principal that started the session: its ARN as the TVM saw it. */
  readonly sub?: string;
  /** The user: last segment of `sub` (IAM user name, role session name). */
  readonly username?: string;
  readonly profile?: string;
  /** The protected role the session's credentials are of. */
  readonly role_arn?: string;
  /** The caller ARN the answer is about (the token's, or what STS said of the proof). */
  readonly principal_arn?: string;
  /** When the session started (epoch seconds). */
  readonly iat?: number;
  /** When the session ends (epoch seconds): no credentials are vended for it after that. */
  readonly exp?: number;
  /** Latest expiry of the credentials vended for the session so far (epoch seconds). */
  readonly credentials_exp?: number;
  /** The proof's audience, for an identity proof. */
  readonly aud?: string;
  /** `principal_arn` or `identity_proof`: what the token was. */
  readonly token_type?: string;
  /** The TVM that answered (its name). */
  readonly iss?: string;
  /** `fail_open` only: the store could not be read; `jti` is all the TVM knows. */
  readonly store_unavailable?: boolean;
}

/**
 * Events of sessions, on EventBridge (the account's default bus, or the `eventBus` the TVM was given). `source` is
 * {@link SessionEvents.SOURCE}, `detail-type` one of {@link SessionEventTypes}, `detail.version` the version of the
 * detail's schema ({@link SessionEvents.VERSION}; a change that could break a consumer is a new version), and
 * `detail.tvmName` the TVM's name, so that rules of two TVMs on one bus never cross. The package ships a JSON Schema
 * of each (`schemas/events/<kebab-case detail-type>.v<version>.json`).
 */
export const SessionEvents = {
  SOURCE: 'sentinel-tvm',
  VERSION: 1,
  /** PutEvents takes at most 10 entries per call. */
  MAX_ENTRIES_PER_CALL: 10,
} as const;

/** `detail-type` of each event. */
export const SessionEventTypes = {
  /** A session started: its first credentials are about to be vended. Emitted by the events function (session table stream). */
  SESSION_STARTED: 'Session Started',
  /** A session ended: by its owner or an administrator (`DELETE /sessions/{id}`), or because its first AssumeRole failed. */
  SESSION_ENDED: 'Session Ended',
  /** A session was revoked (`POST /sessions/{id}/revoke`, a principal block, a tombstone for an unrecorded session). */
  SESSION_REVOKED: 'Session Revoked',
  /** The enforcer wrote a revoked session's deny on a role (or the organization's SCP): one event per session, role and account. */
  REVOCATION_ENFORCED: 'Revocation Enforced',
  /** The enforcer could not write a role's deny (or the SCP) in a run: one event per role and account, listing the sessions. */
  REVOCATION_ENFORCEMENT_FAILED: 'Revocation Enforcement Failed',
  /**
   * Someone other than the enforcer or CloudFormation changed what revocation relies on (the deny policy, a protected
   * role's trust, the organization SCP), or assumed a protected role without being the TVM: from CloudTrail, by the enforcer.
   */
  TAMPER_DETECTED: 'Tamper Detected',
  /** Gated access: requests, approvals, grants, break-glass (access.ts). */
  ...AccessEventTypes,
} as const;

/** `detail-type` of the CloudTrail management events EventBridge delivers. */
export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/** What a `Tamper Detected` event is about (also the `Kind` dimension of `TamperEvents`). */
export const TamperKinds = {
  /** `PutRolePolicy` or `DeleteRolePolicy` of this TVM's revoked-sessions policy. */
  DENY_POLICY: 'deny-policy',
  /** `UpdateAssumeRolePolicy` of a role a profile vends. */
  TRUST_POLICY: 'trust-policy',
  /**
   * `UpdatePolicy`, `DeletePolicy` or `DetachPolicy` of the organization-wide SCP; `DisablePolicyType` of SCPs,
   * `MoveAccount` or `RemoveAccountFromOrganization` (which can take an account out of its reach).
   */
  ORGANIZATION_POLICY: 'organization-policy',
  /** An `AssumeRole*` of a protected role by a principal that is not the TVM's vending function (whether or not it succeeded). */
  FOREIGN_ASSUME_ROLE: 'foreign-assume-role',
  /** `StopLogging`, `DeleteTrail`, `UpdateTrail` or `PutEventSelectors`: tamper detection sees nothing without a logging trail. */
  TRAIL: 'trail',
} as const;

/** Detail of `Tamper Detected`. */
export interface TamperDetectedDetail extends SessionEventBase {
  readonly kind: string;
  /** The CloudTrail event: its id, name, source, time, account and region. */
  readonly eventId: string;
  readonly eventName: string;
  readonly eventSource: string;
  readonly eventTime: string;
  readonly account: string;
  readonly region: string;
  /** Who did it: the principal's ARN (or its principal id when CloudTrail gives no ARN), and its CloudTrail type. */
  readonly actor: string;
  readonly actorType: string;
  /** The role concerned (name, or ARN for an AssumeRole), when there is one. */
  readonly role?: string;
  /** CloudTrail's errorCode when the call failed (an attempt is reported too). */
  readonly errorCode?: string;
  /**
   * Whether the enforcer recomputed and rewrote the denies at once, and how that went: `enforced`, `failed`, `deferred`
   * (another run held the lease: the schedule rewrites within 5 minutes), `not-needed` (an AssumeRole, a trail change, or
   * a refused call: nothing changed that it writes).
   */
  readonly reenforcement: string;
  readonly detectedAt: string;
}

/** Fields every event's detail has. */
export interface SessionEventBase {
  readonly version: number;
  readonly tvmName: string;
}

/** Detail of `Session Started`. Times are ISO 8601 (UTC, milliseconds as stored). */
export interface SessionStartedDetail extends SessionEventBase {
  readonly sessionId: string;
  readonly user: string;
  readonly principalArn: string;
  readonly accountId: string;
  readonly profile: string;
  readonly roleArn: string;
  readonly sourceIdentity: string;
  readonly startedAt: string;
  readonly expiresAt: string;
}

/** Detail of `Session Ended`. */
export interface SessionEndedDetail extends SessionEventBase {
  readonly sessionId: string;
  readonly user: string;
  readonly principalArn: string;
  readonly profile: string;
  readonly roleArn: string;
  readonly endedAt: string;
  readonly reason: string;
}

/** Detail of `Session Revoked`. */
export interface SessionRevokedDetail extends SessionEventBase {
  readonly sessionId: string;
  readonly user: string;
  readonly principalArn: string;
  readonly profile: string;
  readonly roleArn: string;
  readonly revokedAt: string;
  readonly revokedBy: string;
  readonly reason: string;
}

/** Where a deny is written: a role's inline policy, or the organization-wide SCP. */
export const EnforcementMechanisms = {
  ROLE_POLICY: 'role-policy',
  ORGANIZATION_SCP: 'organization-scp',
} as const;

/** Detail of `Revocation Enforced`. */
export interface RevocationEnforcedDetail extends SessionEventBase {
  readonly sessionId: string;
  /** The role the deny was written on (the session's role, or a role it may chain into). */
  readonly roleArn: string;
  /** The role's account (12 digits), or `organization` for the SCP. */
  readonly account: string;
  /** `role-policy` or `organization-scp`. */
  readonly mechanism: string;
  readonly revokedAt: string;
  /** When the IAM (or Organizations) write returned. */
  readonly enforcedAt: string;
  /** `enforcedAt` − `revokedAt`, milliseconds: the measured delay from the revoke to the deny. */
  readonly delayMs: number;
}

/** Detail of `Revocation Enforcement Failed`. */
export interface RevocationEnforcementFailedDetail extends SessionEventBase {
  readonly roleArn: string;
  readonly account: string;
  readonly mechanism: string;
  /** The revoked sessions whose deny should be on the role and may not be (at most 100; `truncated` says there were more). */
  readonly sessionIds: string[];
  readonly truncated: boolean;
  /** The error's name or code (never its message: it may name more than the role). */
  readonly error: string;
  readonly failedAt: string;
}

/** Request header that continues a session; also set on every vend response. */
export const SESSION_HEADER = 'x-sentinel-session-id';

/** Limits and input syntax. */
export const Limits = {
  /** STS refuses shorter credentials. */
  MIN_CREDENTIAL_SECONDS: 900,
  /** A Lambda's AssumeRole is role chaining: STS caps it at one hour. */
  MAX_CREDENTIAL_SECONDS: 3600,
  DEFAULT_CREDENTIAL_SECONDS: 900,
  DEFAULT_SESSION_LIFETIME_SECONDS: 12 * 3600,
  MAX_SESSION_LIFETIME_SECONDS: 7 * 24 * 3600,
  DEFAULT_RETENTION_SECONDS: 30 * 24 * 3600,
  /** STS: SourceIdentity 2–64 characters of `[\w+=,.@-]`. */
  SOURCE_IDENTITY_MAX: 64,
  /** STS: RoleSessionName 2–64 characters of `[\w+=,.@-]`. */
  ROLE_SESSION_NAME_MAX: 64,
  MAX_REVOKE_REASON: 256,
  MAX_PROFILES: 1000,
  /** A DynamoDB item is at most 400 KB; keep each configuration item (the manifest, a chunk) well inside it. */
  MAX_CONFIG_BYTES: 350_000,
} as const;

export const Patterns = {
  PROFILE: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  SESSION_ID: '^[0-9a-f]{16}$',
  DEVICE_ID: '^[0-9a-f]{64}$',
  /** Characters STS allows in SourceIdentity and RoleSessionName. */
  STS_NAME_CHARS: '[\\w+=,.@-]',
} as const;

/** Error codes of the HTTP API and their HTTP status. */
export const ErrorCodes = {
  MISSING_PROFILE: 400,
  INVALID_PROFILE: 400,
  INVALID_DURATION: 400,
  INVALID_DEVICE_ID: 400,
  INVALID_SESSION_ID: 400,
  INVALID_REQUEST: 400,
  INVALID_IDENTITY: 400,
  IAM_AUTH_REQUIRED: 403,
  POLICY_DENY: 403,
  SESSION_REVOKED: 403,
  SESSION_EXPIRED: 403,
  SESSION_FORBIDDEN: 403,
  SESSION_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PRINCIPAL_BLOCKED: 403,
  SESSION_NOT_ACTIVE: 409,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  CREDENTIAL_ERROR: 502,
  STORE_UNAVAILABLE: 503,
  // Gated access (access.ts).
  APPROVAL_REQUIRED: 403,
  APPROVAL_PENDING: 403,
  APPROVAL_DENIED: 403,
  APPROVAL_INVALID: 403,
  REQUEST_CANCELLED: 403,
  REQUEST_EXPIRED: 403,
  NOT_YET_VALID: 403,
  OUTSIDE_ACCESS_WINDOW: 403,
  APPROVER_NOT_ELIGIBLE: 403,
  APPROVER_UNVERIFIED: 403,
  SELF_APPROVAL_FORBIDDEN: 403,
  SELF_REVIEW_FORBIDDEN: 403,
  BREAK_GLASS_NOT_ALLOWED: 403,
  BREAK_GLASS_COOLDOWN: 429,
  BREAK_GLASS_REVIEW_PENDING: 409,
  APPROVAL_NOT_REQUIRED: 400,
  REASON_REQUIRED: 400,
  TICKET_REQUIRED: 400,
  INVALID_TICKET: 400,
  INVALID_START: 400,
  REQUEST_NOT_FOUND: 404,
  REQUEST_EXISTS: 409,
  REQUEST_NOT_PENDING: 409,
  DUPLICATE_APPROVAL: 409,
  REQUEST_STALE: 409,
  REVIEW_NOT_PENDING: 409,
  REQUEST_CHANGED: 412,
  ACCESS_CONFIGURATION_ERROR: 503,
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

/** CloudWatch metrics (EMF) written by the runtime and read by the construct's `metric*()` methods. */
export const Metrics = {
  NAMESPACE: 'SentinelTvm',
  VENDS: 'Vends',
  DENIALS: 'Denials',
  REVOCATIONS: 'Revocations',
  STORE_FAILURES: 'StoreFailures',
  STS_FAILURES: 'StsFailures',
  VEND_LATENCY: 'VendLatency',
  /** Introspection answers (dimension `Active`: `true` or `false`, besides the total). */
  INTROSPECTIONS: 'Introspections',
  /** Dimension of {@link Metrics.INTROSPECTIONS}. */
  ACTIVE_DIMENSION: 'Active',
  /** Events that could not be put on the bus (the events function and the enforcer; never a vend). */
  EVENTS_FAILED: 'EventsFailed',
  /** Enforcer: CloudTrail events it judged tampering (dimension `service`, and `Kind`: a {@link TamperKinds} value). */
  TAMPER_EVENTS: 'TamperEvents',
  /** Dimension of {@link Metrics.TAMPER_EVENTS}. */
  KIND_DIMENSION: 'Kind',
  /** Enforcer: roles whose revoked-sessions deny could not be written in a run (dimension `service`, and `Role`). */
  ENFORCEMENT_FAILURES: 'EnforcementFailures',
  /** Dimension of {@link Metrics.ENFORCEMENT_FAILURES} naming the role. */
  ROLE_DIMENSION: 'Role',
  /**
   * Dimension of {@link Metrics.ENFORCEMENT_FAILURES} naming the account (12 digits) whose roles' deny could not be written;
   * `organization` for the organization-wide SCP.
   */
  ACCOUNT_DIMENSION: 'Account',
  /** Dimension every metric has: the TVM's service name (`POWERTOOLS_SERVICE_NAME`). */
  SERVICE_DIMENSION: 'service',
  /** Second dimension of `Denials`, besides the total. */
  CODE_DIMENSION: 'Code',
  /** Access requests filed (dimension `service`, and `Profile`). */
  ACCESS_REQUESTS: 'AccessRequests',
  /** Break-glass sessions started (dimension `service`, and `Profile`). */
  BREAK_GLASS_INVOCATIONS: 'BreakGlassInvocations',
  /** Gated sessions whose seal did not verify (a grant written by someone else than the TVM). */
  INTEGRITY_FAILURES: 'IntegrityFailures',
  /** Dimension of the access metrics naming the profile. */
  PROFILE_DIMENSION: 'Profile',
} as const;

/** The control-table item holding the random key that signs `nextToken`s of `GET /sessions` (created on first use). */
export const TOKEN_KEY_ITEM_ID = '#sentinel-tvm-token-key';

/** Control-table items that block a principal from starting sessions: `block#<principal ARN>`, attribute `until`. */
export const BLOCK_ITEM_PREFIX = 'block#';
/** Attributes of a block item. */
export const BlockAttr = {
  UNTIL: 'until',
  BY: 'blocked_by',
  REASON: 'reason',
  SESSION: 'session_id',
  /** Epoch seconds: DynamoDB's TTL removes the item some time after it has lapsed. */
  TTL: 'ttl',
} as const;

/**
 * The identity proof every request carries (header {@link IDENTITY_PROOF_HEADER}): a SigV4-signed
 * `sts:GetCallerIdentity` request that the handler sends to STS itself, so identity never depends on the event alone.
 */
export const IdentityProof = {
  /** Request header: base64 of `{"v":1,"headers":{…}}`, the signed STS request's headers. */
  HEADER: 'x-sentinel-identity',
  /** Signed header of the STS request naming the TVM it is for (its API host), so a proof cannot be replayed elsewhere. */
  AUDIENCE_HEADER: 'x-sentinel-tvm-audience',
  /** The body of the signed STS request. */
  BODY: 'Action=GetCallerIdentity&Version=2011-06-15',
  CONTENT_TYPE: 'application/x-www-form-urlencoded; charset=utf-8',
  /** How old the proof's X-Amz-Date may be. */
  MAX_AGE_SECONDS: 300,
  /** How far in the future the proof's X-Amz-Date may be (clock skew). */
  MAX_FUTURE_SECONDS: 60,
  /** Largest accepted header value, in characters. */
  MAX_LENGTH: 8192,
} as const;
/** Attribute of {@link TOKEN_KEY_ITEM_ID} with the key, base64. */
export const TOKEN_KEY_ATTR = 'key';

/** Paging of `GET /sessions`. */
export const Paging = {
  DEFAULT_LIMIT: 50,
  MAX_LIMIT: 100,
} as const;
