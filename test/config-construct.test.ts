// The configuration's custom resources as synthesized: chunks of profiles as compact `Fn::Sub` JSON, a manifest of
// their digests, the IAM that writes and reads them, and the synth-time check of a profile too large for one request.
import { Aws, CfnParameter, Duration, Stack, Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { canonicalProfiles, chunkDocument } from '../lambda/config/document';
import { PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import {
  ACCOUNT, ADMIN, ALICE, BOB, CfnResolver, P, REGION, asArray, chunkProfilesOf, configOf, iamWildcardMatch, newApp, removeOutdirs, substitute,
} from './support/synth';
import { subJson } from '../src/private/configuration';
import { BLOCK_ITEM_PREFIX, CONFIG_ITEM_PREFIX, ConfigResourceTypes, ENFORCER_LEASE_ITEM_ID, Env, TOKEN_KEY_ITEM_ID } from '../src/shared/contract';

afterAll(removeOutdirs);

const resourcesOf = (template: any, type: string): [string, any][] => Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);

describe('GIVEN a TVM whose profiles use a ProtectedRole of its stack, a role of another stack and an imported role', () => {
  let template: any;
  let other: any;
  let resolver: CfnResolver;
  beforeAll(() => {
    const app = newApp();
    const roles = new Stack(app, 'Roles', { env: { account: ACCOUNT, region: REGION } });
    const shared = new iam.Role(roles, 'Shared', { assumedBy: new iam.AccountRootPrincipal() });
    const stack = new Stack(app, 'TvmStack', { env: { account: ACCOUNT, region: REGION } });
    const tvm = new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
    const readOnly = new ProtectedRole(stack, 'ReadOnly', { tvm });
    tvm.addProfile('readonly', { role: readOnly, allowedPrincipals: [PrincipalPattern.iamUser(ACCOUNT, 'alice')] });
    tvm.addProfile('shared', { role: shared, allowedPrincipals: [P(BOB)], maxCredentialDuration: Duration.minutes(30) });
    tvm.addProfile('imported', {
      role: iam.Role.fromRoleArn(stack, 'Imported', `arn:aws:iam::${ACCOUNT}:role/Imported`, { mutable: false }),
      allowedPrincipals: [P(ALICE)],
    });
    const assembly = app.synth();
    template = assembly.getStackByName('TvmStack').template;
    other = assembly.getStackByName('Roles').template;
    resolver = new CfnResolver(template);
  });

  test('THEN one chunk holds the three profiles as one Fn::Sub: this stack\'s role and the partition inline, the other stack\'s role imported', () => {
    const [[, chunk]] = resourcesOf(template, ConfigResourceTypes.CHUNK);
    const [text, variables] = chunk.Properties.Profiles['Fn::Sub'];
    expect(text).toContain('"roleArn":"${ReadOnly');
    expect(text).toContain('"arn:${AWS::Partition}:iam::111122223333:user/alice"');
    expect(Object.values(variables)).toEqual([{ 'Fn::ImportValue': expect.stringMatching(/^Roles:ExportsOutputFnGetAttShared/) }]);
    const exported = Object.values<any>(other.Outputs).map((o) => o.Value);
    expect(exported).toContainEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Shared/), 'Arn'] });
  });

  test('THEN resolved, the chunk is the JSON list of the profiles, which the writer takes as it is', () => {
    const importedArn = 'arn:aws:iam::111122223333:role/roles-Shared-1A2B3C';
    const resolveWithImport = (v: unknown): any => {
      if (v && typeof v === 'object' && 'Fn::ImportValue' in v) return importedArn;
      return resolver.resolve(v);
    };
    const [[, chunk]] = resourcesOf(template, ConfigResourceTypes.CHUNK);
    const profiles = chunkProfilesOf(substitute(chunk.Properties.Profiles['Fn::Sub'], resolveWithImport));

    expect(canonicalProfiles(profiles).map((p) => [p.name, p.roleArn, p.allowedPrincipals, p.maxDurationSeconds])).toEqual([
      ['readonly', resolver.arn(Object.keys(template.Resources).find((id) => /^ReadOnly[0-9A-F]{8}$/.test(id))!), [ALICE], 3600],
      ['shared', importedArn, [BOB], 1800],
      ['imported', `arn:aws:iam::${ACCOUNT}:role/Imported`, [ALICE], 3600],
    ]);
    expect(() => chunkDocument(JSON.stringify(profiles))).not.toThrow();
  });

  test('THEN the manifest lists the chunk by its Digest, with the administrators, and the functions get the manifest\'s Digest', () => {
    const [[chunkId]] = resourcesOf(template, ConfigResourceTypes.CHUNK);
    const [[manifestId, manifest]] = resourcesOf(template, ConfigResourceTypes.MANIFEST);
    expect(manifest.Properties.Chunks).toEqual([{ 'Fn::GetAtt': [chunkId, 'Digest'] }]);
    expect(resolver.resolve(manifest.Properties.AdminPrincipals)).toEqual([ADMIN]);
    const digests = resourcesOf(template, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Environment?.Variables?.SENTINEL_CONFIG_DIGEST)
      .filter((d) => d !== undefined);
    expect(digests.length).toBeGreaterThanOrEqual(1);
    for (const d of digests) expect(d).toEqual({ 'Fn::GetAtt': [manifestId, 'Digest'] });
  });

  test('THEN the functions that load the configuration may only read its items (GetItem, BatchGetItem), and only the writer writes them', () => {
    const statements = Object.values<any>(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .filter((s: any) => s.Effect === 'Allow' && JSON.stringify(s.Condition ?? {}).includes(CONFIG_ITEM_PREFIX));
    const actions = statements.map((s: any) => asArray<string>(s.Action).sort());
    const reads = ['dynamodb:BatchGetItem', 'dynamodb:GetItem'];
    // The execution role and the enforcer read; the writer also updates and deletes.
    expect(actions.filter((a) => JSON.stringify(a) === JSON.stringify(reads))).toHaveLength(2);
    expect(actions.filter((a) => JSON.stringify(a) !== JSON.stringify(reads))).toEqual([['dynamodb:BatchGetItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem']]);
    for (const s of statements) expect(s.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${CONFIG_ITEM_PREFIX}*`] } });
    // The prefix reaches no other item of the control table.
    for (const id of [TOKEN_KEY_ITEM_ID, ENFORCER_LEASE_ITEM_ID, `${BLOCK_ITEM_PREFIX}${ALICE}`]) {
      expect(iamWildcardMatch(`${CONFIG_ITEM_PREFIX}*`, id)).toBe(false);
    }
  });

  test('THEN the writer knows its own stack and may read only that stack\'s status, from its own code only: a Delete is obeyed '
    + 'only while CloudFormation could be sending it', () => {
    const [[, manifest]] = resourcesOf(template, ConfigResourceTypes.MANIFEST);
    const writerId = manifest.Properties.ServiceToken['Fn::GetAtt'][0];
    const writer = template.Resources[writerId];
    expect(writer.Properties.Environment.Variables[Env.STACK_ID]).toEqual({ Ref: 'AWS::StackId' });
    const roleId = writer.Properties.Role['Fn::GetAtt'][0];
    const statements = Object.values<any>(template.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((ref: any) => ref.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement);
    expect(statements.filter((st: any) => st.Effect === 'Allow' && asArray<string>(st.Action).some((x) => x.startsWith('cloudformation:'))))
      .toEqual([{ Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } }]);
    const deny = statements.find((st: any) => st.Effect === 'Deny');
    expect(deny.Action).toContain('cloudformation:DescribeStacks');
    expect(deny.Condition).toEqual({ ArnNotEquals: { 'lambda:SourceFunctionArn': { 'Fn::GetAtt': [writerId, 'Arn'] } } });
  });
});

describe('GIVEN a TVM without profiles', () => {
  test('THEN it has no chunk, and its manifest lists none', () => {
    const stack = new Stack(newApp(), 'Empty', { env: { account: ACCOUNT, region: REGION } });
    new SentinelTvm(stack, 'Tvm', { adminPrincipals: [P(ADMIN)] });
    const template = Template.fromStack(stack).toJSON();

    expect(resourcesOf(template, ConfigResourceTypes.CHUNK)).toEqual([]);
    expect(configOf(template, new CfnResolver(template))).toEqual({ version: 2, adminPrincipals: [ADMIN], profiles: [] });
  });
});

describe('GIVEN a profile too large for one custom-resource request', () => {
  test('fails at synth, naming the profile and what to do', () => {
    const stack = new Stack(newApp(), 'Big', { env: { account: ACCOUNT, region: REGION } });
    const tvm = new SentinelTvm(stack, 'Tvm');
    const role = new ProtectedRole(stack, 'R', { tvm });
    tvm.addProfile('small', { role, allowedPrincipals: [P(ALICE)] });
    const many = Array.from({ length: 2500 }, (_, i) => PrincipalPattern.iamUser(ACCOUNT, `engineer-number-${i}`));
    tvm.addProfile('everyone', { role, allowedPrincipals: many });

    expect(() => Template.fromStack(stack)).toThrow(/addProfile\("everyone"\): the profile takes about \d+ bytes of configuration, over the 100000 one profile may take/);
  });
});

describe('subJson (a value as the JSON text of one Fn::Sub)', () => {
  const render = (value: unknown) => {
    const stack = new Stack(newApp(), 'Sub', { env: { account: ACCOUNT, region: REGION } });
    const parameter = new CfnParameter(stack, 'Name');
    const rendered = stack.resolve(subJson(stack, typeof value === 'function' ? value(parameter) : value));
    // The value CloudFormation makes of it (pseudo parameters only).
    const back = () => JSON.parse(typeof rendered === 'string' ? rendered : substitute(rendered['Fn::Sub'], (v) => new CfnResolver({ Resources: {} }).resolve(v)));
    return { rendered, back };
  };

  test('a value without tokens stays plain JSON', () => {
    expect(render({ a: ['x'], b: 1 }).rendered).toBe('{"a":["x"],"b":1}');
  });

  test('a literal `${` is escaped, and comes back as it was', () => {
    const value = { text: 'a ${literal} and "quotes" \\ here' };
    const { rendered, back } = render(() => ({ ...value, region: Aws.REGION }));
    expect(rendered['Fn::Sub']).toContain('${!literal}');
    expect(back()).toEqual({ ...value, region: REGION });
  });

  test('a parameter of the stack is inline, and a number token becomes a string of its value', () => {
    const { rendered } = render((p: CfnParameter) => ({ name: p.valueAsString, seconds: Token.asNumber(p.value) }));
    expect(rendered).toEqual({ 'Fn::Sub': '{"name":"${Name}","seconds":"${Name}"}' });
  });
});
