import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Caller } from './identity';
import { PrincipalMatcher } from './match';
import { Attr, CONFIG_ITEM_ID, ConfigAttr, type ProfileConfig, ProfileAttr } from '../src/shared/contract';

/** A profile ready for authorization decisions. */
export interface Profile extends ProfileConfig {
  readonly matcher: PrincipalMatcher;
}

/** The deploy-time configuration: profiles and administrators. */
export class TvmConfig {
  public readonly profiles: ReadonlyMap<string, Profile>;
  public readonly admins: PrincipalMatcher;

  constructor(public readonly version: string | undefined, profiles: ProfileConfig[], adminPrincipals: string[]) {
    this.profiles = new Map(profiles.map((p) => [p.name, { ...p, matcher: new PrincipalMatcher(p.allowedPrincipals) }]));
    this.admins = new PrincipalMatcher(adminPrincipals);
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
}

/** Thrown when the config item is missing or malformed: a deployment defect, not a caller error. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads the config item written by the construct at deploy time (strongly consistent). */
export async function loadConfig(ddb: DynamoDBClient, tableName: string): Promise<TvmConfig> {
  const out = await ddb.send(new GetItemCommand({
    TableName: tableName,
    Key: { [Attr.ID]: { S: CONFIG_ITEM_ID } },
    ConsistentRead: true,
  }));
  const item = out.Item;
  if (!item) {
    throw new ConfigError(`config item ${CONFIG_ITEM_ID} is missing from table ${tableName}`);
  }
  const profiles = (item[ConfigAttr.PROFILES]?.L ?? []).map((entry, i) => parseProfile(entry, i));
  const admins = strings(item[ConfigAttr.ADMIN_PRINCIPALS], ConfigAttr.ADMIN_PRINCIPALS);
  return new TvmConfig(item[ConfigAttr.VERSION]?.S, profiles, admins);
}

function parseProfile(entry: AttributeValue, index: number): ProfileConfig {
  const m = entry.M;
  const name = m?.[ProfileAttr.NAME]?.S;
  const roleArn = m?.[ProfileAttr.ROLE_ARN]?.S;
  const max = Number(m?.[ProfileAttr.MAX_DURATION_SECONDS]?.N);
  if (!m || !name || !roleArn || !Number.isInteger(max)) {
    throw new ConfigError(`config item: profile #${index} is malformed`);
  }
  return { name, roleArn, maxDurationSeconds: max, allowedPrincipals: strings(m[ProfileAttr.ALLOWED_PRINCIPALS], `profile ${name}`) };
}

function strings(value: AttributeValue | undefined, what: string): string[] {
  const list = value?.L ?? [];
  return list.map((v) => {
    if (typeof v.S !== 'string') throw new ConfigError(`config item: ${what} holds a non-string`);
    return v.S;
  });
}
