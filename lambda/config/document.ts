import { createHash } from 'crypto';
import { CONFIG_DOCUMENT_VERSION, Limits, type ConfigDocument, type ProfileConfig } from '../../src/shared/contract';

/**
 * The configuration document, one canonical form for every writer (the deploy-time provider, local mode, tests) and
 * for the reader: the digest of these exact bytes is what the deployment hands the functions, so a document written
 * by anyone else, or a stale one, is detected rather than trusted.
 */

/** Thrown when the configuration is missing, malformed, or not the deployed one: a deployment defect or tampering. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** SHA-256 (hex) of a configuration document's bytes. */
export function configDigest(document: string): string {
  return createHash('sha256').update(document, 'utf8').digest('hex');
}

/**
 * Builds the canonical document from loosely typed input, e.g. custom resource properties, where CloudFormation turns
 * numbers into strings. Throws {@link ConfigError} naming what is wrong.
 */
export function canonicalConfig(input: { adminPrincipals?: unknown; profiles?: unknown }): string {
  const admins = stringList(input.adminPrincipals ?? [], 'adminPrincipals');
  if (!Array.isArray(input.profiles)) throw new ConfigError('profiles: expected a list');
  if (input.profiles.length > Limits.MAX_PROFILES) throw new ConfigError(`profiles: at most ${Limits.MAX_PROFILES}`);
  const names = new Set<string>();
  const profiles: ProfileConfig[] = input.profiles.map((raw: unknown, i: number) => {
    const p = raw as Record<string, unknown> | null;
    if (!p || typeof p !== 'object') throw new ConfigError(`profiles[${i}]: expected an object`);
    const name = p.name;
    const roleArn = p.roleArn;
    if (typeof name !== 'string' || name === '') throw new ConfigError(`profiles[${i}].name: expected a string`);
    if (names.has(name)) throw new ConfigError(`profiles[${i}].name "${name}": defined twice`);
    names.add(name);
    if (typeof roleArn !== 'string' || !roleArn.startsWith('arn:')) throw new ConfigError(`profiles[${i}].roleArn: expected a role ARN`);
    const max = Number(p.maxDurationSeconds);
    if (!Number.isInteger(max) || max < Limits.MIN_CREDENTIAL_SECONDS || max > Limits.MAX_CREDENTIAL_SECONDS) {
      throw new ConfigError(`profiles[${i}].maxDurationSeconds: expected whole seconds from ${Limits.MIN_CREDENTIAL_SECONDS} to ${Limits.MAX_CREDENTIAL_SECONDS}`);
    }
    // Keys in a fixed order: the digest is over bytes.
    return {
      name,
      roleArn,
      allowedPrincipals: stringList(p.allowedPrincipals, `profiles[${i}].allowedPrincipals`),
      maxDurationSeconds: max,
      chainRoleArns: stringList(p.chainRoleArns ?? [], `profiles[${i}].chainRoleArns`),
    };
  });
  const doc: ConfigDocument = { version: CONFIG_DOCUMENT_VERSION, adminPrincipals: admins, profiles };
  const json = JSON.stringify(doc);
  if (Buffer.byteLength(json) > Limits.MAX_CONFIG_BYTES) {
    throw new ConfigError(`the configuration takes ${Buffer.byteLength(json)} bytes, over the ${Limits.MAX_CONFIG_BYTES} one item holds`);
  }
  return json;
}

/** Parses a document whose digest has been checked; its shape is checked again (defence in depth, cheap). */
export function parseConfig(document: string): ConfigDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(document);
  } catch {
    throw new ConfigError('the configuration document is not JSON');
  }
  const doc = raw as Partial<ConfigDocument> | null;
  if (!doc || doc.version !== CONFIG_DOCUMENT_VERSION) {
    throw new ConfigError(`the configuration document has version ${String(doc?.version)}: expected ${CONFIG_DOCUMENT_VERSION}`);
  }
  if (canonicalConfig(doc) !== document) throw new ConfigError('the configuration document is not in canonical form');
  return doc as ConfigDocument;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ConfigError(`${what}: expected a list of strings`);
  return [...value] as string[];
}
