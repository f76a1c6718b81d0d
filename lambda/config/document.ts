import { createHash } from 'crypto';
import {
  AccessLimits, accessWindowProblem, CONTROL_CHARACTERS, ticketPatternProblem, type AccessPolicyConfig, type AccessWindowConfig,
} from '../../src/shared/access';
import {
  CONFIG_DOCUMENT_VERSION, Limits, startsConfigChunk, type ConfigDocument, type ConfigManifest, type ProfileConfig,
} from '../../src/shared/contract';
import { principalPatternProblem } from '../../src/shared/principal-patterns';

/**
 * The configuration documents, one canonical form for every writer (the deploy-time provider, local mode, tests) and
 * for the reader: the manifest's digest is what the deployment hands the functions, and it lists each chunk's digest,
 * so a document written by anyone else, or a stale one, is detected rather than trusted.
 */

/** Thrown when the configuration is missing, malformed, or not the deployed one: a deployment defect or tampering. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** SHA-256 (hex) of a document's bytes: the manifest's is the configuration digest, a chunk's names its item. */
export function configDigest(document: string): string {
  return createHash('sha256').update(document, 'utf8').digest('hex');
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Canonical profiles from loosely typed input, e.g. custom resource properties, where CloudFormation turns numbers into
 * strings. Throws {@link ConfigError} naming what is wrong.
 */
export function canonicalProfiles(input: unknown, what = 'profiles'): ProfileConfig[] {
  if (!Array.isArray(input)) throw new ConfigError(`${what}: expected a list`);
  if (input.length > Limits.MAX_PROFILES) throw new ConfigError(`${what}: at most ${Limits.MAX_PROFILES}`);
  const names = new Set<string>();
  return input.map((raw: unknown, i: number) => {
    const p = raw as Record<string, unknown> | null;
    if (!p || typeof p !== 'object') throw new ConfigError(`${what}[${i}]: expected an object`);
    const name = p.name;
    const roleArn = p.roleArn;
    if (typeof name !== 'string' || name === '') throw new ConfigError(`${what}[${i}].name: expected a string`);
    if (names.has(name)) throw new ConfigError(`${what}[${i}].name "${name}": defined twice`);
    names.add(name);
    if (typeof roleArn !== 'string' || !roleArn.startsWith('arn:')) throw new ConfigError(`${what}[${i}].roleArn: expected a role ARN`);
    const max = Number(p.maxDurationSeconds);
    if (!Number.isInteger(max) || max < Limits.MIN_CREDENTIAL_SECONDS || max > Limits.MAX_CREDENTIAL_SECONDS) {
      throw new ConfigError(`${what}[${i}].maxDurationSeconds: expected whole seconds from ${Limits.MIN_CREDENTIAL_SECONDS} to ${Limits.MAX_CREDENTIAL_SECONDS}`);
    }
    const chainRoleArns = stringList(p.chainRoleArns ?? [], `${what}[${i}].chainRoleArns`);
    if (p.access !== undefined && chainRoleArns.length > 0) {
      // A chained session may last an hour past the credentials it was assumed with, so past the grant's window.
      throw new ConfigError(`${what}[${i}].chainRoleArns: a profile with access gates cannot allow role chaining`);
    }
    // Keys in a fixed order: digests are over bytes.
    return {
      name,
      roleArn,
      allowedPrincipals: stringList(p.allowedPrincipals, `${what}[${i}].allowedPrincipals`),
      maxDurationSeconds: max,
      chainRoleArns,
      // Only when set (CloudFormation passes booleans as strings): configurations without it keep their digest.
      ...(p.unenforced === true || p.unenforced === 'true' ? { unenforced: true } : {}),
      ...(p.openTrust === true || p.openTrust === 'true' ? { openTrust: true } : {}),
      ...(p.access !== undefined ? { access: canonicalAccess(p.access, `${what}[${i}].access`, {}, {}) as AccessPolicyConfig } : {}),
    };
  });
}


/**
 * Checks one value and gives its canonical form. `done` holds the fields of its object already checked, `outer` those of
 * the object around it, so that a bound can be another field (defaultSeconds ≤ maxSeconds).
 */
type Field = (raw: unknown, what: string, done: Record<string, any>, outer: Record<string, any>) => unknown;

type Bound = number | ((done: Record<string, any>, outer: Record<string, any>) => number);

/** A whole number in [min, max] (max may be a field checked before), from a number or the string CloudFormation made of it. */
const whole = (min: number, max: Bound): Field => (raw, what, done, outer) => {
  const top = typeof max === 'number' ? max : max(done, outer);
  const n = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > top) {
    throw new ConfigError(`${what}: expected a whole number from ${min} to ${top}`);
  }
  return n;
};

/** A boolean, from a boolean or the string CloudFormation made of it. */
const flag: Field = (raw, what) => {
  if (raw === true || raw === 'true' || raw === false || raw === 'false') return raw === true || raw === 'true';
  throw new ConfigError(`${what}: expected true or false`);
};

/** At least one principal pattern, checked for its format only: whether it names a person was decided at synth, with the TVM's options. */
const principals: Field = (raw, what) => {
  const patterns = stringList(raw, what);
  if (patterns.length === 0) throw new ConfigError(`${what}: expected at least one principal pattern`);
  const bad = patterns.findIndex((p) => principalPatternProblem(p, { allowCallerChosenNames: true }) !== undefined);
  if (bad >= 0) throw new ConfigError(`${what}[${bad}]: expected a principal ARN pattern`);
  return patterns;
};

const text = (test: (value: string) => string | undefined): Field => (raw, what) => {
  const problem = typeof raw === 'string' ? test(raw) : 'expected a string';
  if (problem) throw new ConfigError(`${what}: ${problem}`);
  return raw;
};

/**
 * An object of exactly these fields, in this order (`?` ends an optional one's name), then `check`ed whole. An unknown key
 * is refused rather than dropped: a misspelt gate must never leave a profile open.
 */
function object(fields: Record<string, Field>, check?: (value: Record<string, any>) => string | undefined): Field {
  const names = Object.keys(fields).map((k) => k.replace('?', ''));
  return (raw, what, _done, outer) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${what}: expected an object`);
    const unknown = Object.keys(raw).find((k) => !names.includes(k));
    if (unknown !== undefined) throw new ConfigError(`${what}: unknown key "${unknown.slice(0, 40)}"`);
    const value: Record<string, any> = {};
    for (const [key, field] of Object.entries(fields)) {
      const name = key.replace('?', '');
      const given = (raw as Record<string, unknown>)[name];
      if (given !== undefined || name === key) value[name] = field(given, `${what}.${name}`, value, outer);
    }
    const problem = check?.(value);
    if (problem) throw new ConfigError(`${what}: ${problem}`);
    return value;
  };
}

/** A list of at least `atLeast` items; an item's outer object is the list's. */
const listOf = (item: Field, atLeast: number): Field => (raw, what, done) => {
  if (!Array.isArray(raw) || raw.length < atLeast) throw new ConfigError(`${what}: expected a list of at least ${atLeast}`);
  return raw.map((v, i) => item(v, `${what}[${i}]`, {}, done));
};

const textRule = object({ required: flag, minLength: whole(1, AccessLimits.MAX_REASON), maxLength: whole(1, AccessLimits.MAX_REASON) },
  (t) => (t.minLength > t.maxLength ? 'minLength is over maxLength' : undefined));
const ticketRule = object({ 'required': flag, 'pattern?': text(ticketPatternProblem) },
  (t) => (t.required && t.pattern === undefined ? 'a required ticket needs a pattern' : undefined));
const anyText = text(() => undefined);
const accessWindow = object({ timeZone: anyText, days: listOf(whole(1, 7), 1), start: anyText, end: anyText }, (w) => {
  const problem = accessWindowProblem(w as AccessWindowConfig);
  // Days ascending: the canonical form of a set.
  w.days.sort((a: number, b: number) => a - b);
  return problem;
});

/** A profile's gates in canonical form: keys in the contract's order, each rule checked as the construct checks it. */
const canonicalAccess = object({
  'approval?': object({
    'approvers': principals,
    'minApprovals': whole(1, AccessLimits.MAX_MIN_APPROVALS),
    'maxSeconds': whole(AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_APPROVAL_SECONDS),
    'defaultSeconds': whole(AccessLimits.MIN_WINDOW_SECONDS, (a) => a.maxSeconds),
    'pendingTimeoutSeconds': whole(AccessLimits.MIN_PENDING_TIMEOUT_SECONDS, AccessLimits.MAX_PENDING_TIMEOUT_SECONDS),
    'maxScheduleAheadSeconds': whole(0, AccessLimits.MAX_SCHEDULE_AHEAD_SECONDS),
    'justification': textRule,
    'ticket': ticketRule,
    'autoApprove': listOf(object({
      principals,
      maxSeconds: whole(AccessLimits.MIN_WINDOW_SECONDS, (_rule, approval) => approval.maxSeconds),
      during: listOf(accessWindow, 0),
    }), 0),
    'approversDescription?': text((d) => (d.length === 0 || d.length > AccessLimits.MAX_DESCRIPTION || CONTROL_CHARACTERS.test(d)
      ? `expected 1 to ${AccessLimits.MAX_DESCRIPTION} characters without control characters` : undefined)),
  }),
  'breakGlass?': object({
    principals,
    maxSeconds: whole(AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_BREAK_GLASS_SECONDS),
    reason: textRule,
    ticket: ticketRule,
    cooldownSeconds: whole(0, AccessLimits.MAX_COOLDOWN_SECONDS),
    requireReviewBeforeNext: flag,
    reviewWithinSeconds: whole(AccessLimits.MIN_REVIEW_WITHIN_SECONDS, AccessLimits.MAX_REVIEW_WITHIN_SECONDS),
    reviewers: principals,
    ignoreAccessWindows: flag,
  }),
  'windows?': listOf(accessWindow, 1),
}, (a) => (Object.keys(a).length === 0 ? 'expected approval, breakGlass or windows' : undefined));

/** A chunk's canonical document, from its profiles: a list, or the JSON of one (the construct's chunks pass a `Fn::Sub` of it). */
export function chunkDocument(profiles: unknown): string {
  const list = typeof profiles === 'string' ? parse(profiles, 'chunk') : profiles;
  return sized(JSON.stringify(canonicalProfiles(list)), 'a configuration chunk');
}

/** The manifest's canonical document, from loosely typed input (the custom resource's properties). */
export function manifestDocument(input: { adminPrincipals?: unknown; introspectionPrincipals?: unknown; chunks?: unknown }): string {
  const chunks = stringList(input.chunks ?? [], 'chunks');
  const bad = chunks.findIndex((c) => !SHA256.test(c));
  if (bad >= 0) throw new ConfigError(`chunks[${bad}]: expected a SHA-256 in hex`);
  const manifest: ConfigManifest = {
    version: CONFIG_DOCUMENT_VERSION,
    adminPrincipals: stringList(input.adminPrincipals ?? [], 'adminPrincipals'),
    ...introspectors(input.introspectionPrincipals),
    chunks,
  };
  return sized(JSON.stringify(manifest), 'the configuration manifest');
}

/** `introspectionPrincipals` only when there are some: a configuration without relying parties keeps its digest. */
function introspectors(value: unknown): { introspectionPrincipals?: string[] } {
  const list = stringList(value ?? [], 'introspectionPrincipals');
  return list.length > 0 ? { introspectionPrincipals: list } : {};
}

/** Parses a manifest whose digest has been checked; its shape is checked again (defence in depth, cheap). */
export function parseManifest(document: string): ConfigManifest {
  const doc = parse(document, 'manifest') as Partial<ConfigManifest> | null;
  if (!doc || doc.version !== CONFIG_DOCUMENT_VERSION) {
    throw new ConfigError(`the configuration manifest has version ${String(doc?.version)}: expected ${CONFIG_DOCUMENT_VERSION}`);
  }
  if (manifestDocument(doc) !== document) throw new ConfigError('the configuration manifest is not in canonical form');
  return doc as ConfigManifest;
}

/** Parses a chunk whose digest has been checked. */
export function parseChunk(document: string): ProfileConfig[] {
  const profiles = parse(document, 'chunk');
  if (chunkDocument(profiles) !== document) throw new ConfigError('a configuration chunk is not in canonical form');
  return profiles as ProfileConfig[];
}

/**
 * The configuration the functions see: the manifest's administrators and its chunks' profiles in order, checked as a
 * whole (profile names unique across chunks, at most {@link Limits.MAX_PROFILES}).
 */
export function assembleConfig(manifest: ConfigManifest, chunks: ProfileConfig[][]): ConfigDocument {
  const profiles = canonicalProfiles(chunks.flat());
  return {
    version: CONFIG_DOCUMENT_VERSION, adminPrincipals: manifest.adminPrincipals, ...introspectors(manifest.introspectionPrincipals), profiles,
  };
}

/**
 * The configuration as one canonical JSON document, from loosely typed input: what the functions see, for comparing
 * configurations whole (tests, local mode against the construct).
 */
export function canonicalConfig(input: { adminPrincipals?: unknown; introspectionPrincipals?: unknown; profiles?: unknown }): string {
  const doc: ConfigDocument = {
    version: CONFIG_DOCUMENT_VERSION,
    adminPrincipals: stringList(input.adminPrincipals ?? [], 'adminPrincipals'),
    ...introspectors(input.introspectionPrincipals),
    profiles: canonicalProfiles(input.profiles),
  };
  return JSON.stringify(doc);
}

/** Splits canonical profiles into chunks by the rule the construct applies at synth ({@link startsConfigChunk}). */
export function chunkProfiles(profiles: ProfileConfig[]): ProfileConfig[][] {
  const chunks: ProfileConfig[][] = [];
  let bytes = 0;
  for (const profile of profiles) {
    const size = Buffer.byteLength(JSON.stringify(profile));
    const current = chunks[chunks.length - 1];
    if (startsConfigChunk(bytes, current?.[current.length - 1].name, size)) {
      chunks.push([profile]);
      bytes = size;
    } else {
      current.push(profile);
      bytes += size;
    }
  }
  return chunks;
}

function parse(document: string, what: string): unknown {
  try {
    return JSON.parse(document);
  } catch {
    throw new ConfigError(`the configuration ${what} is not JSON`);
  }
}

function sized(json: string, what: string): string {
  const bytes = Buffer.byteLength(json);
  if (bytes > Limits.MAX_CONFIG_BYTES) throw new ConfigError(`${what} takes ${bytes} bytes, over the ${Limits.MAX_CONFIG_BYTES} one item holds`);
  return json;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ConfigError(`${what}: expected a list of strings`);
  return [...value] as string[];
}
