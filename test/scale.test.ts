// 1,000 profiles, the supported maximum: two principals each, in many accounts, on 50 shared ProtectedRoles. The
// configuration must deploy and update within CloudFormation's and Lambda's limits (no custom-resource request over
// 256 KB), a change must touch only its own chunk, the TVM's policies must stay within IAM's limits, and the handler
// must authorize the last profile like the first.
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { chunkDocument, configDigest, manifestDocument } from '../lambda/config/document';
import { PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import { startLocalSts } from './support/local-sts';
import { CfnResolver, chunkProfilesOf } from './support/synth';
import { createFixtureFrom, event, stsClient } from './support/tvm-fixture';
import { ConfigResourceTypes, Limits } from '../src/shared/contract';

const PROFILES = Limits.MAX_PROFILES;
const ROLES = 50;
/** Lambda's asynchronous payload in the partitions that still have the old limit; a custom-resource request is one. */
const REQUEST_LIMIT = 256 * 1024;
/** What a request carries besides the properties: the presigned ResponseURL, the stack, request and resource ids. */
const REQUEST_OVERHEAD = 4 * 1024;

/** Realistic 12-digit accounts, 40 of them. */
const account = (i: number) => String(210987654321 + (i % 40) * 1_000_003);
const user = (i: number) => `arn:aws:iam::${account(i)}:user/user${i}`;
const name = (i: number) => `team-${String(i).padStart(4, '0')}-readonly`;

interface Scale {
  readonly template: any;
  readonly chunkIds: string[];
}

/** The TVM with `PROFILES` profiles; `change` may alter profile i's principals, `skip` leave profile i out. */
function synth(options: { change?: number; skip?: number } = {}): Scale {
  const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
  const stack = new Stack(app, 'Scale', { env: { account: '123456789012', region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', {});
  const roles = Array.from({ length: ROLES }, (_, r) => new ProtectedRole(stack, `Role${r}`, { tvm }));
  for (let i = 0; i < PROFILES; i++) {
    if (i === options.skip) continue;
    tvm.addProfile(name(i), {
      role: roles[i % ROLES],
      allowedPrincipals: [
        PrincipalPattern.iamUser(account(i), i === options.change ? `changed${i}` : `user${i}`),
        PrincipalPattern.identityCenterPermissionSet(account(i + 7), `Team${i}ReadOnly`),
      ],
    });
  }
  const template = Template.fromStack(stack).toJSON();
  const chunkIds = Object.keys(template.Resources).filter((id) => template.Resources[id].Type === ConfigResourceTypes.CHUNK);
  return { template, chunkIds };
}

/** The values a deployment gives the template: ProtectedRole ARNs as long as real ones (path, stack prefix, suffix). */
function resolverOf(template: any): CfnResolver {
  const roles = Object.keys(template.Resources).filter((id) => /^Role\d+[0-9A-F]{8}$/.test(id));
  const overrides = Object.fromEntries(roles.map((id) => [id, `arn:aws:iam::123456789012:role/sentinel-tvm/Scale-Tvm-0A1B2C3D/Scale-${id}-Q1W2E3R4T5Y6`]));
  return new CfnResolver(template, overrides);
}

/** The properties CloudFormation sends a custom resource: resolved, numbers as strings, the service token included. */
function requestProperties(resolver: CfnResolver, resource: any): string {
  return JSON.stringify(resolver.resolve(resource.Properties), (_k, v) => (typeof v === 'number' ? String(v) : v));
}

/** The digests a deployment of the template answers: each chunk's from its resolved profiles, then the manifest's. */
function deployedDigests(scale: Scale): { chunks: Record<string, string>; manifest: string } {
  const resolver = resolverOf(scale.template);
  const chunks = Object.fromEntries(scale.chunkIds.map((id) =>
    [id, configDigest(chunkDocument(resolver.resolve(scale.template.Resources[id].Properties.Profiles)))]));
  const [manifest] = Object.values<any>(scale.template.Resources).filter((r) => r.Type === ConfigResourceTypes.MANIFEST);
  return {
    chunks,
    manifest: configDigest(manifestDocument({
      adminPrincipals: resolver.resolve(manifest.Properties.AdminPrincipals),
      chunks: manifest.Properties.Chunks.map((ref: any) => chunks[ref['Fn::GetAtt'][0]]),
    })),
  };
}

let base: Scale;
beforeAll(() => {
  base = synth();
});

describe(`GIVEN ${PROFILES} profiles with two principals each, on ${ROLES} ProtectedRoles`, () => {
  test('THEN every custom-resource Update request (old and new properties) stays below Lambda\'s 256 KB, and the template below 1 MB', () => {
    const resolver = resolverOf(base.template);
    const requests = Object.entries<any>(base.template.Resources)
      .filter(([, r]) => r.Type.startsWith('Custom::'))
      .map(([id, r]) => ({ id, bytes: 2 * Buffer.byteLength(requestProperties(resolver, r)) + REQUEST_OVERHEAD }));
    const largest = requests.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    // CDK writes templates with an indent of 1.
    const templateBytes = Buffer.byteLength(JSON.stringify(base.template, undefined, 1));
    console.log(`scale: ${PROFILES} profiles on ${ROLES} roles: template ${templateBytes} bytes, ${Object.keys(base.template.Resources).length} resources, `
      + `${base.chunkIds.length} configuration chunks; largest custom-resource Update request ${largest.bytes} bytes (${largest.id})`);

    expect(base.chunkIds.length).toBeGreaterThan(1);
    expect(requests.filter((r) => r.bytes > REQUEST_LIMIT)).toEqual([]);
    expect(templateBytes).toBeLessThan(1_000_000);
    expect(Object.keys(base.template.Resources).length).toBeLessThan(500);
  });

  test('THEN the chunks hold every profile once, in order, and the manifest lists every chunk', () => {
    const resolver = resolverOf(base.template);
    const [manifest] = Object.values<any>(base.template.Resources).filter((r) => r.Type === ConfigResourceTypes.MANIFEST);
    const listed = manifest.Properties.Chunks.map((ref: any) => ref['Fn::GetAtt'][0]);
    expect([...listed].sort()).toEqual([...base.chunkIds].sort());
    const profilesOf = (id: string) => chunkProfilesOf(resolver.resolve(base.template.Resources[id].Properties.Profiles));
    const names = listed.flatMap((id: string) => profilesOf(id).map((p: any) => p.name));
    expect(names).toEqual(Array.from({ length: PROFILES }, (_, i) => name(i)));
  });

  test('THEN changing one profile changes one chunk\'s properties, and at deploy time that chunk\'s digest and the manifest\'s only', () => {
    const changed = synth({ change: 500 });

    expect(changed.chunkIds).toEqual(base.chunkIds);
    const differing = base.chunkIds.filter((id) =>
      JSON.stringify(base.template.Resources[id].Properties) !== JSON.stringify(changed.template.Resources[id].Properties));
    expect(differing).toHaveLength(1);
    // Everything else in the template is the same: the manifest lists the chunks by their Digest attribute.
    const others = (s: Scale) => Object.entries<any>(s.template.Resources).filter(([id]) => id !== differing[0]);
    expect(JSON.stringify(others(changed))).toBe(JSON.stringify(others(base)));
    const before = deployedDigests(base);
    const after = deployedDigests(changed);
    expect(base.chunkIds.filter((id) => before.chunks[id] !== after.chunks[id])).toEqual(differing);
    expect(after.manifest).not.toBe(before.manifest);
  });

  test('THEN removing a profile rewrites its own chunk, not every chunk after it', () => {
    const removed = synth({ skip: 100 });

    const same = removed.chunkIds.filter((id) => base.chunkIds.includes(id)
      && JSON.stringify(base.template.Resources[id].Properties) === JSON.stringify(removed.template.Resources[id].Properties));
    // Its chunk changes (or, when it was a chunk's first or last profile, that chunk and a neighbour).
    expect(same.length).toBeGreaterThanOrEqual(base.chunkIds.length - 2);
  });

  test('THEN the Lambda environments stay far below 4 KB and the policies within IAM\'s limits (no managed-policy overflow)', () => {
    const resources = Object.values<any>(base.template.Resources);
    for (const fn of resources.filter((r) => r.Type === 'AWS::Lambda::Function')) {
      expect(JSON.stringify(fn.Properties.Environment?.Variables ?? {}).length).toBeLessThan(1024);
    }
    expect(resources.filter((r) => r.Type === 'AWS::IAM::ManagedPolicy')).toEqual([]);
    for (const policy of resources.filter((r) => r.Type === 'AWS::IAM::Policy')) {
      // IAM counts a role's inline policies together: 10,240 characters. Tokens render longer than the ARNs they become.
      expect(JSON.stringify(policy.Properties.PolicyDocument).length).toBeLessThan(10_240);
    }
  });

  test(`THEN the writer deploys them and the handler reads all ${PROFILES}, authorizing each only for its own callers`, async () => {
    const fx = await createFixtureFrom(base.template);
    const sts = await startLocalSts();
    try {
      const handle = fx.handler({ sts: stsClient(sts.endpoint), log: () => undefined });
      for (const i of [0, 499, PROFILES - 1]) {
        const allowed = await handle(event({ userArn: user(i), query: { profile: name(i) } }));
        expect(allowed.statusCode).toBe(200);
        const denied = await handle(event({ userArn: user(i), query: { profile: name((i + 1) % PROFILES) } }));
        expect(JSON.parse(denied.body).Code).toBe('POLICY_DENY');
      }
      const listed = JSON.parse((await handle(event({ path: '/profiles', userArn: user(PROFILES - 1) }))).body);
      expect(listed.Profiles.map((p: any) => p.Name)).toEqual([name(PROFILES - 1)]);
      expect(sts.calls.map((c) => c.roleArn.split('/').pop()!.replace(/[0-9A-F]{8}$/, ''))).toEqual(['Role0', 'Role49', 'Role49']);
    } finally {
      await sts.stop();
    }
  }, 120_000);
});

describe(`GIVEN ${PROFILES} profiles on ${PROFILES} ProtectedRoles, in ten stacks of 100 roles beside the TVM's stack`, () => {
  test('THEN the app synthesizes (every deployment limit checked), the TVM\'s stack stays below 1 MB and each roles stack '
    + 'holds CloudFormation\'s 200 outputs at most', () => {
    const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
    const env = { account: '210987654321', region: 'eu-west-1' };
    const tvmStack = new Stack(app, 'Tvm', { env });
    const tvm = new SentinelTvm(tvmStack, 'Tvm', { tvmName: 'scale' });
    const rolesStacks = Array.from({ length: PROFILES / 100 }, (_, s) => new Stack(app, `Roles${s}`, { env }));
    for (let i = 0; i < PROFILES; i++) {
      const role = new ProtectedRole(rolesStacks[Math.floor(i / 100)], `Role${i}`, { tvm });
      tvm.addProfile(name(i), { role, allowedPrincipals: [PrincipalPattern.fromArnPattern(user(i))] });
    }

    const assembly = app.synth();
    const tvmTemplate = assembly.getStackByName('Tvm').template;
    const rolesTemplate = assembly.getStackByName('Roles0').template;
    const bytes = (template: unknown) => JSON.stringify(template, undefined, 1).length;
    console.log(`scale: ${PROFILES} profiles on ${PROFILES} roles in 10 stacks: the TVM's stack ${bytes(tvmTemplate)} bytes, `
      + `a roles stack ${bytes(rolesTemplate)} bytes and ${Object.keys(rolesTemplate.Outputs ?? {}).length} outputs`);
    expect(bytes(tvmTemplate)).toBeLessThan(1_000_000);
    expect(Object.keys(rolesTemplate.Outputs ?? {}).length).toBeLessThanOrEqual(200);
  }, 300_000);
});
