// Protected roles in a stack of their own (issue 10 item 3, deployability review finding 3): the roles stack must take
// no reference on the TVM's stack, so that it can be deployed before it, and the app must not make a dependency cycle.
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ProtectedRole, SentinelTvm } from '../src';
import { ACCOUNT, ALICE, BOB, CfnResolver, P, REGION, newApp, removeOutdirs } from './support/synth';

/** The execution role of the TVM named `central`, with the pseudo parameters of support/synth. */
const EXECUTION_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/central/central-vend-${REGION}`;

afterAll(removeOutdirs);

/** Calls `visit` on every intrinsic-function key of a template fragment (`Ref`, `Fn::GetAtt`, `Fn::ImportValue`, ...). */
function intrinsicsOf(fragment: unknown, keys: string[], visit: (key: string, inner: unknown) => void): void {
  if (Array.isArray(fragment)) {
    fragment.forEach((v) => intrinsicsOf(v, keys, visit));
  } else if (fragment && typeof fragment === 'object') {
    for (const [key, inner] of Object.entries(fragment)) {
      if (keys.includes(key)) visit(key, inner);
      else intrinsicsOf(inner, keys, visit);
    }
  }
}

/** Every `Fn::ImportValue` in a template, as the export names it imports. */
function importsOf(template: unknown): string[] {
  const found: string[] = [];
  intrinsicsOf(template, ['Fn::ImportValue'], (_key, inner) => found.push(JSON.stringify(inner)));
  return found;
}

/** Every `Ref` and `Fn::GetAtt` target in a fragment. */
function referencesOf(fragment: unknown): string[] {
  const found: string[] = [];
  intrinsicsOf(fragment, ['Ref', 'Fn::GetAtt'], (key, inner) => found.push(key === 'Ref' ? String(inner) : String((inner as string[])[0])));
  return found;
}

interface TwoStacks {
  readonly app: App;
  readonly tvmStack: Stack;
  readonly rolesStack: Stack;
  readonly tvm: SentinelTvm;
  readonly named: ProtectedRole;
  readonly unnamed: ProtectedRole;
  readonly plain: iam.Role;
}

/** A TVM stack and a roles stack: a named and an unnamed ProtectedRole and a plain iam.Role, all profiles of the TVM. */
function twoStacks(env?: { account: string; region: string }): TwoStacks {
  const app = newApp();
  const tvmStack = new Stack(app, 'TvmStack', { env });
  const rolesStack = new Stack(app, 'RolesStack', { env });
  const tvm = new SentinelTvm(tvmStack, 'Tvm', { tvmName: 'central' });
  const named = new ProtectedRole(rolesStack, 'Named', { tvm, roleName: 'prod-readonly' });
  const unnamed = new ProtectedRole(rolesStack, 'Unnamed', { tvm });
  const plain = new iam.Role(rolesStack, 'Plain', { assumedBy: new iam.AccountRootPrincipal() });
  tvm.addProfile('named', { role: named, allowedPrincipals: [P(ALICE)] });
  tvm.addProfile('unnamed', { role: unnamed, allowedPrincipals: [P(ALICE)] });
  tvm.addProfile('plain', { role: plain, allowedPrincipals: [P(BOB)] });
  return { app, tvmStack, rolesStack, tvm, named, unnamed, plain };
}

describe.each([
  ['with an account and region', { account: ACCOUNT, region: REGION }],
  ['environment-agnostic', undefined],
])('GIVEN a TVM stack and a roles stack %s, the roles being the TVM\'s profiles', (_env, env) => {
  let stacks: TwoStacks;
  let tvmTemplate: any;
  let rolesTemplate: any;

  beforeAll(() => {
    stacks = twoStacks(env);
    // Throws on a dependency cycle between the stacks.
    const assembly = stacks.app.synth();
    tvmTemplate = assembly.getStackByName('TvmStack').template;
    rolesTemplate = assembly.getStackByName('RolesStack').template;
  });

  test('THEN the roles stack imports nothing: it takes no reference on the TVM\'s stack, and deploys first', () => {
    expect(importsOf(rolesTemplate)).toEqual([]);
    expect(stacks.rolesStack.dependencies).toEqual([]);
  });

  test('THEN the TVM stack imports from the roles stack (the roles\' ARNs for its configuration and policies)', () => {
    expect(importsOf(tvmTemplate).length).toBeGreaterThan(0);
    expect(stacks.tvmStack.dependencies).toEqual([stacks.rolesStack]);
  });

  test('THEN each role\'s trust names the TVM\'s execution role by its fixed name, built from pseudo parameters only', () => {
    const resources = rolesTemplate.Resources as Record<string, any>;
    const roles = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
    expect(roles).toHaveLength(3);
    for (const [id, role] of roles) {
      const statements: any[] = role.Properties.AssumeRolePolicyDocument.Statement;
      const tvmStatements = statements.filter((s) => String(s.Sid).startsWith('SentinelTvm'));
      expect({ id, sids: tvmStatements.map((s) => s.Sid).sort() })
        .toEqual({ id, sids: ['SentinelTvmAssumeRole', 'SentinelTvmSetSourceIdentity', 'SentinelTvmTagSession'] });
      for (const statement of tvmStatements) {
        const executionRoleArn = statement.Condition.ArnEquals['aws:PrincipalArn'];
        const refs = referencesOf(executionRoleArn);
        expect({ id, refs: refs.filter((r) => !r.startsWith('AWS::')) }).toEqual({ id, refs: [] });
        expect(new CfnResolver(rolesTemplate).resolve(executionRoleArn)).toBe(EXECUTION_ROLE_ARN);
      }
    }
  });

  test('THEN that ARN is the execution role\'s own: its fixed name and path in the TVM stack', () => {
    const resolver = new CfnResolver(tvmTemplate);
    const execution = Object.values<any>(tvmTemplate.Resources).filter((r) => r.Type === 'AWS::IAM::Role' && r.Properties.RoleName)
      .filter((r) => !resolver.resolve(r.Properties.RoleName).includes('-enforce-'));
    expect(execution.map((r) => `arn:aws:iam::${ACCOUNT}:role${r.Properties.Path}${resolver.resolve(r.Properties.RoleName)}`))
      .toEqual([EXECUTION_ROLE_ARN]);
  });

  test('THEN the named ProtectedRole keeps its name, under the TVM\'s path', () => {
    const resources = rolesTemplate.Resources as Record<string, any>;
    const named = Object.values(resources).find((r) => r.Properties?.RoleName === 'prod-readonly');
    expect(named?.Properties.Path).toBe('/sentinel-tvm/central/');
  });

  test('THEN the roles\' confinement (no call to the TVM, no role chaining) is policies of the TVM\'s stack attached to them', () => {
    const policies = Object.values<any>(tvmTemplate.Resources).filter((r) => r.Type === 'AWS::IAM::Policy');
    const roleIds = Object.entries<any>(rolesTemplate.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role').map(([id]) => id);
    for (const roleId of roleIds) {
      // The TVM stack names the role through the roles stack's export of its name.
      const attached = policies.filter((p) => importsOf(p.Properties.Roles).some((name) => name.includes(`ExportsOutputRef${roleId}`)));
      const statements = attached.flatMap((p) => p.Properties.PolicyDocument.Statement);
      const denied = (action: string) => statements.some((st: any) => st.Effect === 'Deny' && [st.Action].flat().includes(action));
      expect({ roleId, invoke: denied('execute-api:Invoke'), assume: denied('sts:AssumeRole') })
        .toEqual({ roleId, invoke: true, assume: true });
    }
    expect(Object.values<any>(rolesTemplate.Resources).filter((r) => r.Type === 'AWS::IAM::Policy')).toEqual([]);
  });
});

describe('GIVEN two TVMs of one app', () => {
  const twoTvms = () => {
    const app = newApp();
    const env = { account: ACCOUNT, region: REGION };
    const a = new SentinelTvm(new Stack(app, 'StackA', { env }), 'TvmA');
    const b = new SentinelTvm(new Stack(app, 'StackB', { env }), 'TvmB');
    const roles = new Stack(app, 'Roles', { env });
    return { a, b, roles };
  };

  test('fails when a role already used by one TVM is added to the other, naming both TVMs', () => {
    const { a, b, roles } = twoTvms();
    const shared = new iam.Role(roles, 'Shared', { assumedBy: new iam.AccountRootPrincipal() });
    a.addProfile('ops', { role: shared, allowedPrincipals: [P(ALICE)] });
    expect(() => b.addProfile('ops', { role: shared, allowedPrincipals: [P(ALICE)] }))
      .toThrow(/Roles\/Shared is already a role of the TVM StackA\/TvmA.*StackB\/TvmB/);
  });

  test('fails when the same role is named by its literal ARN in both TVMs', () => {
    const { a, b, roles } = twoTvms();
    const arn = `arn:aws:iam::${ACCOUNT}:role/Shared`;
    a.addProfile('ops', { role: iam.Role.fromRoleArn(roles, 'ForA', arn), allowedPrincipals: [P(ALICE)] });
    expect(() => b.addProfile('ops', { role: iam.Role.fromRoleArn(roles, 'ForB', arn), allowedPrincipals: [P(ALICE)] }))
      .toThrow(/role arn:aws:iam::111122223333:role\/Shared is already a role of the TVM StackA\/TvmA/);
  });

  test('fails when a ProtectedRole of one TVM is added to the other, naming both TVMs', () => {
    const { a, b, roles } = twoTvms();
    const ofA = new ProtectedRole(roles, 'OfA', { tvm: a });
    expect(() => b.addProfile('ops', { role: ofA, allowedPrincipals: [P(ALICE)] }))
      .toThrow(/Roles\/OfA is a ProtectedRole of the TVM StackA\/TvmA.*StackB\/TvmB/);
  });

  test('THEN one TVM may use a role twice, in two profiles', () => {
    const { a, roles } = twoTvms();
    const role = new ProtectedRole(roles, 'OfA', { tvm: a });
    a.addProfile('one', { role, allowedPrincipals: [P(ALICE)] });
    expect(() => a.addProfile('two', { role, allowedPrincipals: [P(BOB)] })).not.toThrow();
  });
});
