// Local mode writes the session table, the config item and the handler's environment itself. GIVEN the example
// config, each must be exactly what the construct synthesizes from the same settings.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CfnResolver, chunkProfilesOf, newApp, removeOutdirs } from './support/synth';
import { resolveFragment } from './support/tvm-fixture';
import { localNames, LOCAL_TVM_NAME } from '../cli/local/accounts';
import { configProperties, handlerEnvironment, loadConfigFile, validateConfig, type LocalConfig } from '../cli/local/config';
import { tableDefinition } from '../cli/local/dynamodb';
import { enforcerEnvironment } from '../cli/local/enforcer';
import { eventsEnvironment } from '../cli/local/events';
import { canonicalProfiles, chunkDocument, chunkProfiles, configDigest, manifestDocument } from '../lambda/config/document';
import { PrincipalPattern, SentinelTvm, StoreFailureMode } from '../src';
import { ConfigChunking, ConfigResourceTypes, Env } from '../src/shared/contract';

// Built at run time, so that no string shaped like a real access key id is committed.
const REAL_LOOKING_KEY = ['AKIA', 'ABCDEFGHIJKLMNOP'].join('');

const EXAMPLE = path.join(__dirname, '..', 'examples', 'local', 'config.json');
const TABLE = 'local-sessions';
const example = () => JSON.parse(fs.readFileSync(EXAMPLE, 'utf8'));

/** The construct, given the same settings as the local config (roles imported by ARN, so they stay literal). */
function synthesizeFrom(config: LocalConfig): any {
  const app = newApp();
  const stack = new Stack(app, 'Local', { env: { account: config.tvmAccount, region: config.region } });
  const tvm = new SentinelTvm(stack, 'Tvm', {
    tvmName: LOCAL_TVM_NAME,
    adminPrincipals: config.adminPrincipals.map((a) => PrincipalPattern.fromArnPattern(a)),
    introspectionPrincipals: config.introspectionPrincipals.map((a) => PrincipalPattern.fromArnPattern(a)),
    sessionLifetime: Duration.seconds(config.sessionLifetimeSeconds),
    defaultCredentialDuration: Duration.seconds(config.defaultCredentialDurationSeconds),
    sessionRetention: Duration.seconds(config.sessionRetentionSeconds),
    storeFailureMode: StoreFailureMode[config.storeFailureMode],
    spokeAccounts: [...config.spokeAccounts],
  });
  for (const p of config.profiles) {
    // Local mode's roles trust the TVM alone, as a ProtectedRole does (cli/local/trust.ts), so no profile is `openTrust`:
    // the construct knows such a role by the TVM it names.
    const role = Object.assign(iam.Role.fromRoleArn(stack, `Role-${p.name}`, p.roleArn, { mutable: false }), { tvm });
    tvm.addProfile(p.name, {
      role,
      allowedPrincipals: p.allowedPrincipals.map((a) => PrincipalPattern.fromArnPattern(a)),
      maxCredentialDuration: Duration.seconds(p.maxDurationSeconds),
      ...(p.unenforced ? { issuedCredentialsSurviveRevocation: true } : {}),
    });
  }
  return app.synth().getStackByName('Local').template;
}

type WrittenConfig = { chunks: any[][]; adminPrincipals: string[]; introspectionPrincipals?: string[]; digest: string };

/**
 * What the construct's template gives the writer: each chunk's profiles (in the manifest's order), the manifest's
 * administrators and relying parties, resolved; and the configuration digest the writer would answer.
 */
function synthesizedConfig(template: any): WrittenConfig {
  const resolver = new CfnResolver(template);
  const [manifest] = Object.values<any>(template.Resources).filter((r) => r.Type === ConfigResourceTypes.MANIFEST);
  const chunks = manifest.Properties.Chunks.map((ref: any) => chunkProfilesOf(resolver.resolve(template.Resources[ref['Fn::GetAtt'][0]].Properties.Profiles)));
  const adminPrincipals = resolver.resolve(manifest.Properties.AdminPrincipals);
  const introspectionPrincipals = resolver.resolve(manifest.Properties.IntrospectionPrincipals);
  const digest = configDigest(manifestDocument({
    adminPrincipals, introspectionPrincipals, chunks: chunks.map((c: any[]) => configDigest(chunkDocument(c))),
  }));
  return { chunks, adminPrincipals, introspectionPrincipals, digest };
}

/** What local mode writes for the same config: its chunks (the writer's own split) and the configuration digest. */
function localConfig(config: LocalConfig): WrittenConfig {
  const props = configProperties(config);
  const chunks = chunkProfiles(canonicalProfiles(props.Profiles));
  const chunkDigests = chunks.map((c) => configDigest(chunkDocument(c)));
  const digest = configDigest(manifestDocument({
    adminPrincipals: props.AdminPrincipals, introspectionPrincipals: props.IntrospectionPrincipals, chunks: chunkDigests,
  }));
  return { chunks, adminPrincipals: props.AdminPrincipals, introspectionPrincipals: props.IntrospectionPrincipals, digest };
}

afterAll(removeOutdirs);

describe('GIVEN examples/local/config.json and the construct synthesized from the same settings', () => {
  let config: LocalConfig;
  let template: any;
  beforeAll(() => {
    config = loadConfigFile(EXAMPLE);
    template = synthesizeFrom(config);
  });

  test('THEN local mode writes the chunks, administrators and relying parties the construct\'s custom resources write, and so the same '
    + 'digest', () => {
    const local = localConfig(config);
    const synthesized = synthesizedConfig(template);
    expect(local.chunks).toEqual(synthesized.chunks.map((c) => canonicalProfiles(c)));
    expect(local.adminPrincipals).toEqual(synthesized.adminPrincipals);
    expect(local.introspectionPrincipals).toEqual(['arn:aws:iam::111122223333:user/orders-authorizer']);
    expect(local.introspectionPrincipals).toEqual(synthesized.introspectionPrincipals);
    expect(local.digest).toBe(synthesized.digest);
    // CloudFormation passes numbers to a custom resource as strings, as local mode does.
    expect(configProperties(config).Profiles[0]).toMatchObject({ maxDurationSeconds: String(config.profiles[0].maxDurationSeconds) });
  });

  test('THEN the handler gets the environment the construct gives the vending Lambda', () => {
    const fn = Object.values(template.Resources)
      .find((r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.STORE_FAILURE_MODE]) as any;
    const physical = { tableName: TABLE, controlTableName: `${TABLE}-control`, configDigest: 'the-digest' };
    const synthesized = resolveFragment(template, fn.Properties.Environment.Variables, physical);
    const local = handlerEnvironment(config, { ...physical, audiences: ['api123.execute-api.us-east-1.amazonaws.com'] });
    const contract = Object.fromEntries(Object.keys(local).map((k) => [k, synthesized[k]]));
    expect(Object.keys(synthesized).filter((k) => k.startsWith('SENTINEL_')).sort()).toEqual(Object.keys(local).sort());
    expect(local).toEqual(contract);
  });

  test('THEN the enforcer gets the environment the construct gives the enforcer Lambda (the same TVM name)', () => {
    const fn = Object.values(template.Resources)
      .find((r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.REVOKED_POLICY_NAME]) as any;
    const physical = { tableName: TABLE, controlTableName: `${TABLE}-control`, configDigest: 'the-digest' };
    const synthesized = resolveFragment(template, fn.Properties.Environment.Variables, physical);
    const local = enforcerEnvironment(localNames(config), { ...physical, stackId: synthesized[Env.STACK_ID], spokeAccounts: config.spokeAccounts });
    expect(Object.fromEntries(Object.entries(synthesized).filter(([k]) => k.startsWith('SENTINEL_')))).toEqual(local);
  });

  test('THEN the events function gets the environment the construct gives the events Lambda (the same TVM name, the default bus)', () => {
    const fn = Object.values(template.Resources).find((r: any) => r.Type === 'AWS::Lambda::Function'
      && r.Properties.Environment?.Variables?.[Env.TVM_NAME] && !r.Properties.Environment.Variables[Env.REVOKED_POLICY_NAME]) as any;
    const synthesized = resolveFragment(template, fn.Properties.Environment.Variables, { tableName: TABLE });
    expect(Object.fromEntries(Object.entries(synthesized).filter(([k]) => k.startsWith('SENTINEL_')))).toEqual(eventsEnvironment());
  });

  test('THEN the session table has the synthesized key, indexes, stream and TTL', () => {
    const p = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::DynamoDB::Table' && r.Properties.StreamSpecification).Properties;
    const def = tableDefinition(TABLE);
    const byName = (a: any, b: any) => String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName));
    expect(def.KeySchema).toEqual(p.KeySchema);
    expect([...def.AttributeDefinitions!].sort(byName)).toEqual([...p.AttributeDefinitions].sort(byName));
    expect([...def.GlobalSecondaryIndexes!].sort(byName))
      .toEqual(p.GlobalSecondaryIndexes.map((g: any) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection })).sort(byName));
    expect(def.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: p.StreamSpecification.StreamViewType });
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  test('THEN no access key id in it looks like a real one', () => {
    expect(fs.readFileSync(EXAMPLE, 'utf8')).not.toMatch(/(AKIA|ASIA)[0-9A-Z]{16}/);
  });
});

describe('GIVEN a local config of 400 profiles (chunks ended by name and by size) and the construct synthesized from the same settings', () => {
  test('THEN local mode splits them into the construct\'s chunks, and so writes the same configuration digest', () => {
    const raw = example();
    // Every fifth profile has 200 principals (about 9 KB): some chunks end at the size budget, not at a name.
    raw.profiles = Array.from({ length: 400 }, (_, i) => ({
      name: `team-${i}`,
      roleArn: `arn:aws:iam::111122223333:role/Team${i % 20}`,
      allowedPrincipals: Array.from({ length: i % 5 === 0 ? 200 : 2 }, (__, j) => `arn:aws:iam::111122223333:user/user${i}-${j}`),
      maxCredentialDuration: 900 + (i % 4) * 900,
    }));
    const config = validateConfig(raw);

    const synthesized = synthesizedConfig(synthesizeFrom(config));
    const local = localConfig(config);

    const bytes = (chunk: any[]) => Buffer.byteLength(JSON.stringify(canonicalProfiles(chunk)));
    expect(synthesized.chunks.filter((c) => bytes(c) > ConfigChunking.BUDGET_BYTES * 0.8).length).toBeGreaterThan(3);
    expect(local.chunks.map((c) => c.map((p) => p.name))).toEqual(synthesized.chunks.map((c) => c.map((p: any) => p.name)));
    expect(local.digest).toBe(synthesized.digest);
  });
});

describe('config validation', () => {
  test('defaults are the construct\'s defaults', () => {
    const c = validateConfig({
      principals: { AKIDLOCALX: { secretAccessKey: 'not-a-secret', arn: 'arn:aws:iam::111122223333:user/x' } },
      profiles: [{ name: 'p', roleArn: 'arn:aws:iam::111122223333:role/R', allowedPrincipals: ['arn:aws:iam::111122223333:user/x'] }],
    });
    expect(c).toMatchObject({
      region: 'us-east-1',
      adminPrincipals: [],
      sessionLifetimeSeconds: 43200,
      defaultCredentialDurationSeconds: 900,
      sessionRetentionSeconds: 30 * 24 * 3600,
      storeFailureMode: 'FAIL_OPEN',
      profiles: [{ maxDurationSeconds: 3600 }],
    });
  });

  const names = localNames({ tvmAccount: '111122223333', region: 'us-east-1' });
  const LOCAL_ROLES = {
    'enforcer': names.enforcerRoleArn,
    'spoke enforcement': names.spokeRoleArn('444455556666'),
    'execution': names.executionRoleArn,
    'caller': 'arn:aws:iam::111122223333:role/PartnerCaller',
    'spoke\'s protected': 'arn:aws:iam::444455556666:role/sentinel-tvm/sentinel-tvm-local/ReadOnly',
  };
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const set = (mutate: (c: any) => void) => {
    const c = example();
    mutate(c);
    return c;
  };
  test.each<[string, (c: any) => void, RegExp]>([
    ['a field is unknown', (c) => { c.profile = []; }, /^the config\.profile is not a known field: expected one of region, principals/],
    ['a profile field is misspelt', (c) => { c.profiles[0].maxDuration = 900; }, /^profiles\[0\]\.maxDuration is not a known field/],
    ['a duration is out of range', (c) => { c.profiles[1].maxCredentialDuration = 7200; },
      /^profiles\[1\]\.maxCredentialDuration is 7200: expected whole seconds from 900 to 3600$/],
    ['a duration is not a number', (c) => { c.sessionLifetime = '12h'; }, /^sessionLifetime is "12h": expected whole seconds/],
    ['a profile name is invalid', (c) => { c.profiles[0].name = 'arn:aws:iam::1:role/x'; }, /^profiles\[0\]\.name is "arn:aws:iam::1:role\/x": expected a profile name/],
    ['two profiles share a name', (c) => { c.profiles[1].name = 'prod-readonly'; }, /^profiles\[1\]\.name "prod-readonly" is defined twice/],
    ['a role ARN is malformed', (c) => { c.profiles[0].roleArn = 'ReadOnly'; }, /^profiles\[0\]\.roleArn is "ReadOnly": expected a role ARN/],
    ['allowedPrincipals is empty', (c) => { c.profiles[0].allowedPrincipals = []; }, /^profiles\[0\]\.allowedPrincipals is empty/],
    ['a principal pattern is malformed', (c) => { c.profiles[0].allowedPrincipals = ['alice']; },
      /^profiles\[0\]\.allowedPrincipals\[0\] is "alice": expected a principal ARN pattern/],
    ['a pattern matches everyone', (c) => { c.adminPrincipals = ['arn:aws:iam::111122223333:*']; }, /^adminPrincipals\[0\] .* matches every principal/],
    ['an access key id looks real', (c) => { c.principals[REAL_LOOKING_KEY] = c.principals.AKIDLOCALALICE; },
      new RegExp(`^principals key "${REAL_LOOKING_KEY}" looks like a real AWS access key id`)],
    ['a principal ARN is not a principal', (c) => { c.principals.AKIDLOCALALICE.arn = 'arn:aws:s3:::bucket'; },
      /^principals\.AKIDLOCALALICE\.arn is "arn:aws:s3:::bucket": expected an IAM user, assumed-role, federated-user or root ARN$/],
    ['a principal ARN is a role', (c) => { c.principals.AKIDLOCALALICE.arn = 'arn:aws:iam::111122223333:role/SecurityOps'; },
      /^principals\.AKIDLOCALALICE\.arn is "arn:aws:iam::111122223333:role\/SecurityOps", a role: expected a principal that signs/],
    // A session of a role local mode emulates is the local STS's to issue: declared, it would skip the role's trust.
    ...Object.entries(LOCAL_ROLES).map(([kind, role]): [string, (c: any) => void, RegExp] => {
      const session = `arn:aws:sts::${role.split(':')[4]}:assumed-role/${role.split('/').pop()}/someone`;
      return [`a principal ARN is a session of the ${kind} role`, (c) => { c.principals.AKIDLOCALALICE.arn = session; },
        new RegExp(`^principals\\.AKIDLOCALALICE\\.arn is "${escape(session)}", a session of ${escape(role)}, a role local mode emulates`)];
    }),
    ['a secret is missing', (c) => { delete c.principals.AKIDLOCALBOB.secretAccessKey; }, /^principals\.AKIDLOCALBOB\.secretAccessKey must be a string/],
    ['the store failure mode is unknown', (c) => { c.storeFailureMode = 'OPEN'; }, /^storeFailureMode is "OPEN": expected FAIL_OPEN or FAIL_CLOSED$/],
    ['there are no profiles', (c) => { c.profiles = []; }, /^profiles is \[\]: expected a list of at least one profile$/],
    ['the region is not a region', (c) => { c.region = 'local'; }, /^region is "local": expected an AWS region name/],
  ])('fails when %s, naming the field', (_case, mutate, message) => {
    expect(() => validateConfig(set(mutate))).toThrow(message);
  });

  test('fails when the file is not JSON, naming the file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'bad.json');
    fs.writeFileSync(file, '{ "profiles": [ }');
    expect(() => loadConfigFile(file)).toThrow(new RegExp(`^config file ${file.replace(/[.\\/]/g, '\\$&')} is not JSON`));
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});
