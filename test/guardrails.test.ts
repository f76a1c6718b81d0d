// The guardrail SCP shipped in docs/guardrails/: what it lets principals of the TVM's account do to the TVM, evaluated
// by an IAM policy simulator with the tags the construct puts on its resources (read from the synthesized template).
import { Template } from 'aws-cdk-lib/assertions';
import { RevocationEnforcement } from '../src';
import { decideUnderScp, DEPLOY_ROLE, guardrailScp, guardrailScpText } from './support/guardrail-scp';
import { ACCOUNT, fullTvm, logicalIdOf, removeOutdirs } from './support/synth';
import { SCP_MAX_CHARS, TvmTags } from '../src/shared/contract';

afterAll(removeOutdirs);

let serviceName: string;
let scp: unknown;
let tagsOf: (logicalId: string) => Record<string, string>;
let pathOf: (logicalId: string) => string | undefined;
let ids: Record<string, string>;

beforeAll(() => {
  const full = fullTvm();
  serviceName = full.tvm.tvmName;
  const template = Template.fromStack(full.stack).toJSON();
  tagsOf = (id) => Object.fromEntries((template.Resources[id].Properties.Tags ?? []).map((t: any) => [t.Key, t.Value]));
  pathOf = (id) => template.Resources[id].Properties.Path;
  ids = {
    handler: logicalIdOf(full.tvm.node.findChild('Handler')),
    table: logicalIdOf(full.tvm.node.findChild('Table')),
    executionRole: logicalIdOf(full.tvm.node.findChild('ExecutionRole')),
    enforcerRole: logicalIdOf(full.tvm.node.findChild('Enforcer').node.findChild('Role')),
    protectedRole: logicalIdOf(full.protectedRole),
    ownedRole: logicalIdOf(full.ownedRole),
  };
  scp = guardrailScp(serviceName, full.stack.stackName);
});

const RESOURCES = {
  handler: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:TvmStack-TvmHandler`,
  table: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/TvmStack-TvmTable`,
  protectedRole: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/svc/ReadOnly`,
  executionRole: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/svc/TvmExecutionRole`,
};

/**
 * The decision on one request by a role session with full access, under the SCP; resource tags as the template sets
 * them. `roleArn` is the session's role with its path (IAM's aws:PrincipalArn), `tags` the role's tags (aws:PrincipalTag).
 */
async function decide(roleArn: string, principalTags: Record<string, string>, action: string, resource: string,
  resourceTags: Record<string, string>): Promise<string> {
  const principal = roleArn.replace(/:iam::(\d+):role\/(?:.*\/)?([^/]+)$/, ':sts::$1:assumed-role/$2/session');
  const context: Record<string, string> = { 'aws:PrincipalArn': roleArn };
  for (const [k, v] of Object.entries(principalTags)) context[`aws:PrincipalTag/${k}`] = v;
  for (const [k, v] of Object.entries(resourceTags)) context[`aws:ResourceTag/${k}`] = v;
  return decideUnderScp(scp, principal, action, resource, context);
}

describe('GIVEN the construct\'s tags', () => {
  test('THEN every resource of the TVM, its profiles\' roles included, carries the service tag', () => {
    for (const id of Object.values(ids)) expect({ id, tag: tagsOf(id)[TvmTags.SERVICE] }).toEqual({ id, tag: serviceName });
  });

  test('THEN only the TVM\'s own function roles live under the runtime path the SCP exempts; a profile\'s role does not', () => {
    expect(pathOf(ids.executionRole)).toBe(`/sentinel-tvm-runtime/${serviceName}/`);
    expect(pathOf(ids.enforcerRole)).toBe(`/sentinel-tvm-runtime/${serviceName}/`);
    expect(pathOf(ids.protectedRole)).toBe(`/sentinel-tvm/${serviceName}/`);
    expect(pathOf(ids.ownedRole)).toBeUndefined();
  });
});

describe('GIVEN the guardrail SCP in the TVM\'s account', () => {
  const ADMIN = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123`;
  const runtime = (name: string) => `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/${serviceName}/${name}`;

  test.each([
    ['invoke the vending function directly', 'lambda:InvokeFunction', 'handler'],
    ['change its code', 'lambda:UpdateFunctionCode', 'handler'],
    ['change its configuration (the digest, the table names)', 'lambda:UpdateFunctionConfiguration', 'handler'],
    ['untag it to escape the guardrail', 'lambda:UntagResource', 'handler'],
    ['un-revoke a session in the table', 'dynamodb:UpdateItem', 'table'],
    ['write the table', 'dynamodb:PutItem', 'table'],
    ['open the table to another account with a resource policy', 'dynamodb:PutResourcePolicy', 'table'],
    ['delete the revoked-sessions deny of a protected role', 'iam:DeleteRolePolicy', 'protectedRole'],
    ['rewrite a protected role\'s trust', 'iam:UpdateAssumeRolePolicy', 'protectedRole'],
    ['pass a TVM role to a function of their own', 'iam:PassRole', 'executionRole'],
  ] as const)('an administrator of the account cannot %s', async (_what, action, resource) => {
    expect(await decide(ADMIN, {}, action, RESOURCES[resource], tagsOf(ids[resource]))).toBe('ExplicitlyDenied');
  });

  test('nobody but the deployment role may create a role under the TVM\'s paths (to be exempt, or to be trusted)', async () => {
    for (const rolePath of [`sentinel-tvm-runtime/${serviceName}/Mine`, `sentinel-tvm/${serviceName}/Mine`]) {
      expect(await decide(ADMIN, {}, 'iam:CreateRole', `arn:aws:iam::${ACCOUNT}:role/${rolePath}`, {})).toBe('ExplicitlyDenied');
    }
  });

  test('a principal tag cannot exempt anyone: the exemption is the runtime path (tag keys compare without case)', async () => {
    const tagged = { 'sentinel-tvm:service': serviceName, 'SENTINEL-TVM:RUNTIME': serviceName, 'sentinel-tvm:runtime': serviceName };
    expect(await decide(ADMIN, tagged, 'lambda:UpdateFunctionCode', RESOURCES.handler, tagsOf(ids.handler))).toBe('ExplicitlyDenied');
  });

  test('a protected role\'s own session (a stolen vended credential) cannot either, though the role carries the service tag', async () => {
    const stolen = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/${serviceName}/ReadOnly`;
    expect(await decide(stolen, tagsOf(ids.protectedRole), 'iam:DeleteRolePolicy', RESOURCES.protectedRole, tagsOf(ids.protectedRole)))
      .toBe('ExplicitlyDenied');
  });

  test('the deployment role and the TVM\'s own roles still do their work', async () => {
    expect(await decide(DEPLOY_ROLE, {}, 'lambda:UpdateFunctionCode', RESOURCES.handler, tagsOf(ids.handler))).toBe('Allowed');
    expect(await decide(DEPLOY_ROLE, {}, 'iam:PassRole', RESOURCES.executionRole, tagsOf(ids.executionRole))).toBe('Allowed');
    expect(await decide(runtime('TvmEnforcerRole'), {}, 'iam:PutRolePolicy', RESOURCES.protectedRole, tagsOf(ids.protectedRole)))
      .toBe('Allowed');
    expect(await decide(runtime('TvmExecutionRole'), {}, 'dynamodb:UpdateItem', RESOURCES.table, tagsOf(ids.table))).toBe('Allowed');
  });

  test('another TVM\'s runtime roles are not exempt from this one\'s guardrail', async () => {
    const other = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/OtherTvm/TvmEnforcerRole`;
    expect(await decide(other, {}, 'iam:DeleteRolePolicy', RESOURCES.protectedRole, tagsOf(ids.protectedRole))).toBe('ExplicitlyDenied');
  });
});

describe('GIVEN the guardrail SCP and a TVM in organization mode (its own SCP, which its enforcer rewrites)', () => {
  const SCP_ARN = `arn:aws:organizations::${ACCOUNT}:policy/o-exampleorgid/service_control_policy/p-sentinel01`;
  let scpTags: Record<string, string>;
  let name: string;

  beforeAll(() => {
    const full = fullTvm({ props: { revocation: RevocationEnforcement.organizationScp({ targetIds: ['r-ab12'] }) } });
    name = full.tvm.tvmName;
    const template = Template.fromStack(full.stack).toJSON();
    const [id] = Object.entries<any>(template.Resources).find(([, r]) => r.Type === 'AWS::Organizations::Policy')!;
    scpTags = Object.fromEntries((template.Resources[id].Properties.Tags ?? []).map((t: any) => [t.Key, t.Value]));
  });

  const decideOnScp = (roleArn: string, action: string) => decideUnderScp(guardrailScp(name, 'TvmStack'),
    roleArn.replace(/:iam::(\d+):role\/(?:.*\/)?([^/]+)$/, ':sts::$1:assumed-role/$2/session'), action, SCP_ARN,
    { 'aws:PrincipalArn': roleArn, ...Object.fromEntries(Object.entries(scpTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v])) });

  test('THEN the TVM\'s SCP carries the service tag the guardrail keys on', () => {
    expect(scpTags[TvmTags.SERVICE]).toBe(name);
  });

  test.each([
    ['rewrite it (e.g. to deny nothing, or everything)', 'organizations:UpdatePolicy'],
    ['detach it from its targets', 'organizations:DetachPolicy'],
    ['delete it', 'organizations:DeletePolicy'],
    ['attach it elsewhere', 'organizations:AttachPolicy'],
    ['untag it to escape the guardrail', 'organizations:UntagResource'],
    ['tag it', 'organizations:TagResource'],
  ])('THEN an administrator of the account cannot %s', async (_what, action) => {
    const admin = `arn:aws:iam::${ACCOUNT}:role/PolicyAdmin`;
    expect(await decideOnScp(admin, action)).toBe('ExplicitlyDenied');
  });

  test('THEN the TVM\'s enforcer still updates it, and the deployment role still manages it; another TVM\'s enforcer may not', async () => {
    expect(await decideOnScp(`arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/${name}/${name}-enforce-eu-west-1`,
      'organizations:UpdatePolicy')).toBe('Allowed');
    for (const action of ['organizations:UpdatePolicy', 'organizations:DetachPolicy', 'organizations:DeletePolicy']) {
      expect(await decideOnScp(DEPLOY_ROLE, action)).toBe('Allowed');
    }
    expect(await decideOnScp(`arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/other/other-enforce-eu-west-1`,
      'organizations:UpdatePolicy')).toBe('ExplicitlyDenied');
  });
});

describe('GIVEN the guardrail SCP filled in for a long deployment role ARN and the longest TVM name', () => {
  test('THEN it stays within an SCP\'s 5,120 characters, whitespace included (as the file is pasted)', () => {
    const text = guardrailScpText('t'.repeat(40), 'a-long-tvm-stack-name-of-forty-characters');
    expect(text.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
  });
});
