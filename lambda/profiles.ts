import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError } from './config/document';
import { readConfig } from './config/items';
import type { Caller } from './identity';
import { PrincipalMatcher } from './match';
import type { ProfileConfig } from '../src/shared/contract';
import { arnParts, withoutRolePath } from '../src/shared/principal-patterns';

export { ConfigError } from './config/document';

/** A role ARN without its IAM path (the matcher's rule, shared), as a session's role appears in `Caller.matchArns`. */
function withoutPath(roleArn: string): string {
  const parts = arnParts(roleArn);
  return parts ? [...parts.slice(0, 5), withoutRolePath(parts[5])].join(':') : roleArn;
}

/** A profile ready for authorization decisions. */
export interface Profile extends ProfileConfig {
  readonly matcher: PrincipalMatcher;
}

/** The deploy-time configuration: profiles and administrators. */
export class TvmConfig {
  public readonly profiles: ReadonlyMap<string, Profile>;
  public readonly admins: PrincipalMatcher;
  /**
   * Every role a session of this TVM can hold (the profiles' roles and the roles they may chain into), without its IAM
   * path, as a session's role appears in `Caller.matchArns`: one lookup per request.
   */
  public readonly sessionRoleArns: ReadonlySet<string>;
  /**
   * The profiles' own roles (not the roles they may chain into), without their IAM path, that trust only the TVM
   * (`ProtectedRole`s: no profile marks them `openTrust`): only the TVM names sessions of these, so only their
   * `tvm-<id>-…` sessions can be introspected as active.
   */
  public readonly profileRoleArns: ReadonlySet<string>;
  /** Relying parties that may call `POST /introspect` (besides administrators). */
  public readonly introspectors: PrincipalMatcher;

  constructor(public readonly digest: string | undefined, profiles: ProfileConfig[], adminPrincipals: string[],
    introspectionPrincipals: string[] = []) {
    this.profiles = new Map(profiles.map((p) => [p.name, { ...p, matcher: new PrincipalMatcher(p.allowedPrincipals) }]));
    this.admins = new PrincipalMatcher(adminPrincipals);
    this.introspectors = new PrincipalMatcher(introspectionPrincipals);
    this.sessionRoleArns = new Set(profiles.flatMap((p) => [p.roleArn, ...(p.chainRoleArns ?? [])]).map(withoutPath));
    const open = new Set(profiles.filter((p) => p.openTrust).map((p) => withoutPath(p.roleArn)));
    this.profileRoleArns = new Set(profiles.map((p) => withoutPath(p.roleArn)).filter((arn) => !open.has(arn)));
  }

  /** The profile if it exists and the caller may use it; unknown and forbidden look the same to callers. */
  public authorize(profileName: string, caller: Caller): Profile | undefined {
    const profile = this.profiles.get(profileName);
    return profile && profile.matcher.matchesAny(caller.matchArns) ? profile : undefined;
  }

  public profilesFor(caller: Caller): Profile[] {
    return [...this.profiles.values()].filter((p) => p.matcher.matchesAny(caller.matchArns));
  }

  public isAdmin(caller: Caller): boolean {
    return this.admins.matchesAny(caller.matchArns);
  }

  /** A relying party of this TVM: a caller matching `introspectionPrincipals` or `adminPrincipals`. */
  public isIntrospector(caller: Caller): boolean {
    return this.introspectors.matchesAny(caller.matchArns) || this.isAdmin(caller);
  }
}

/**
 * Reads the configuration the deployment wrote into the control table (strongly consistent: one GetItem for the
 * manifest, one BatchGetItem for its chunks) and trusts it only when the manifest's SHA-256 equals `expectedDigest`, the
 * digest the deployment gave the function, and each chunk's equals the one the manifest lists: a configuration written
 * by anyone else (a table writer, a hand-made custom resource event) or left over from another deployment is refused.
 */
export async function loadConfig(ddb: DynamoDBClient, controlTableName: string, expectedDigest: string | undefined): Promise<TvmConfig> {
  if (!expectedDigest) {
    throw new ConfigError('no deployed configuration digest (SENTINEL_CONFIG_DIGEST): refusing to authorize from an unverified configuration');
  }
  const doc = await readConfig(ddb, controlTableName, expectedDigest);
  return new TvmConfig(expectedDigest, doc.profiles, doc.adminPrincipals, doc.introspectionPrincipals ?? []);
}
