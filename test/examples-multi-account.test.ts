// The README's hub-and-spoke walkthrough, as a user runs it: examples/multi-account.ts synthesizes to a hub and two spoke
// templates that deploy independently, and the StackSet variant's template needs nothing from its accounts.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, BootstraplessSynthesizer, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SentinelTvm, SentinelTvmSpoke } from '../src';

const ROOT = path.join(__dirname, '..');
type Template = { Parameters?: Record<string, unknown>; Rules?: unknown; Resources: Record<string, { Type: string; Properties?: any }> };

describe('GIVEN examples/multi-account.ts, synthesized as `cdk synth` would', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'multi-account-'));
  let manifest: { artifacts: Record<string, { type: string; dependencies?: string[] }> };
  const template = (name: string): Template => JSON.parse(fs.readFileSync(path.join(out, `${name}.template.json`), 'utf8'));
  beforeAll(() => {
    execFileSync(process.execPath, [require.resolve('ts-node/dist/bin'), '-P', 'test/tsconfig.json', 'examples/multi-account.ts'], {
      cwd: ROOT,
      env: { ...process.env, CDK_OUTDIR: out, TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: 'pipe',
    });
    manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  }, 60_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('THEN it makes a hub and one spoke per workload account, none depending on another (deploy in any order)', () => {
    const stacks = Object.entries(manifest.artifacts).filter(([, a]) => a.type === 'aws:cloudformation:stack');
    expect(stacks.map(([id]) => id).sort()).toEqual(['SentinelTvmHub', 'SentinelTvmSpoke-analytics', 'SentinelTvmSpoke-payments']);
    for (const [id, artifact] of stacks) {
      expect((artifact.dependencies ?? []).filter((d) => !d.endsWith('.assets'))).toEqual([]);
      expect(JSON.stringify(template(id))).not.toContain('Fn::ImportValue');
    }
  });

  test('THEN each spoke template holds IAM only: its enforcement role, a protected role, its boundary, its confinement, the placeholder', () => {
    for (const team of ['payments', 'analytics']) {
      const types = Object.values(template(`SentinelTvmSpoke-${team}`).Resources).map((r) => r.Type).sort();
      expect(types).toEqual(['AWS::IAM::ManagedPolicy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::Role', 'AWS::IAM::Role', 'AWS::IAM::RolePolicy']);
    }
  });

  test('THEN the hub vends each spoke role by the name the spoke gives it, and its enforcer may assume each spoke', () => {
    const hub = JSON.stringify(template('SentinelTvmHub'));
    for (const [team, account] of [['payments', '444455556666'], ['analytics', '777788889999']]) {
      const spoke = template(`SentinelTvmSpoke-${team}`);
      const role = Object.values(spoke.Resources).find((r) => r.Type === 'AWS::IAM::Role' && r.Properties.Path === '/sentinel-tvm/org-tvm/')!;
      expect(hub).toContain(`:iam::${account}:role/sentinel-tvm/org-tvm/${role.Properties.RoleName}`);
      expect(hub).toContain(`:iam::${account}:role/sentinel-tvm-runtime/org-tvm/org-tvm-spoke-eu-west-1`);
    }
  });
});

describe('GIVEN the README\'s StackSet variant: an environment-agnostic spoke with the bootstrapless synthesizer', () => {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'stackset-')) });
  const stack = new Stack(app, 'Spoke', { synthesizer: new BootstraplessSynthesizer() });
  const hub = SentinelTvm.fromSentinelTvmAttributes(stack, 'Hub', {
    url: 'https://abc123.execute-api.eu-west-1.amazonaws.com/',
    apiId: 'abc123',
    executionRoleArn: 'arn:aws:iam::111122223333:role/sentinel-tvm-runtime/org-tvm/org-tvm-vend-eu-west-1',
    tvmName: 'org-tvm',
  });
  new SentinelTvmSpoke(stack, 'Spoke', { tvm: hub }).addProtectedRole('Reader', {
    roleName: 'org-reader',
    managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess')],
    permissionsBoundary: iam.ManagedPolicy.fromAwsManagedPolicyName('ReadOnlyAccess'),
  });
  const assembly = app.synth();
  const artifact = assembly.getStackByName('Spoke');
  const template = artifact.template as Template;

  test('THEN its template has no parameter, no rule and no asset: any account of an OU can deploy it as it is', () => {
    expect(template.Parameters ?? {}).toEqual({});
    expect(template.Rules).toBeUndefined();
    expect(artifact.assets).toEqual([]);
    expect(new Set(Object.values(template.Resources).map((r) => r.Type))).toEqual(new Set(['AWS::IAM::Role', 'AWS::IAM::RolePolicy', 'AWS::IAM::ManagedPolicy']));
  });

  test('THEN the role the hub names literally is where the README says, bounded by the boundary given', () => {
    const role = Object.values(template.Resources).find((r) => r.Properties?.RoleName === 'org-reader')!;
    expect(role.Properties.Path).toBe('/sentinel-tvm/org-tvm/');
    expect(JSON.stringify(role.Properties.PermissionsBoundary)).toContain(':iam::aws:policy/ReadOnlyAccess');
  });
});
