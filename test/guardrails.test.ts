// The guardrail SCP shipped in docs/guardrails/: what it lets principals of the TVM's account do to the TVM, evaluated
// by an IAM policy simulator with the tags the construct puts on its resources (read from the synthesized template).
import { Template } from 'aws-cdk-lib/assertions';
import { decideUnderScp, DEPLOY_ROLE, guardrailScp } from './support/guardrail-scp';
import { ACCOUNT, fullTvm, logicalIdOf, removeOutdirs } from './support/synth';
import { TvmTags } from '../src/shared/contract';

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
