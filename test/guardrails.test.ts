// The guardrail SCP shipped in docs/guardrails/: what it lets principals of the TVM's account do to the TVM, evaluated
// by an IAM policy simulator with the tags the construct puts on its resources (read from the synthesized template).
import * as fs from 'fs';
import * as path from 'path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT, fullTvm, logicalIdOf, removeOutdirs } from './support/synth';
import { TvmTags } from '../src/shared/contract';

afterAll(removeOutdirs);

const SCP_FILE = path.join(__dirname, '..', 'docs', 'guardrails', 'tvm-account-scp.json');
const DEPLOY_ROLE = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`;
const FULL_ACCESS = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

let serviceName: string;
let scp: unknown;
let tagsOf: (logicalId: string) => Record<string, string>;
let ids: Record<string, string>;

beforeAll(() => {
  const full = fullTvm();
  serviceName = full.tvm.serviceName;
  const template = Template.fromStack(full.stack).toJSON();
  tagsOf = (id) => Object.fromEntries((template.Resources[id].Properties.Tags ?? []).map((t: any) => [t.Key, t.Value]));
  ids = {
    handler: logicalIdOf(full.tvm.handler),
    table: logicalIdOf(full.tvm.table),
    executionRole: logicalIdOf(full.tvm.executionRole),
    enforcerRole: logicalIdOf(full.tvm.enforcerRole!),
    protectedRole: logicalIdOf(full.protectedRole),
    ownedRole: logicalIdOf(full.ownedRole),
  };
  scp = JSON.parse(fs.readFileSync(SCP_FILE, 'utf8').replace(/<DEPLOYMENT_ROLE_ARN>/g, DEPLOY_ROLE).replace(/<SERVICE_NAME>/g, serviceName));
});

const RESOURCES = {
  handler: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:TvmStack-TvmHandler`,
  table: `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/TvmStack-TvmTable`,
  protectedRole: `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/svc/ReadOnly`,
};

/** The decision on one request by a principal with full access, under the SCP; tags as the template sets them. */
async function decide(principal: string, principalTags: Record<string, string>, action: string, resource: string,
  resourceTags: Record<string, string>): Promise<string> {
  const context: Record<string, string> = { 'aws:PrincipalArn': principal.replace(/:sts::(\d+):assumed-role\/([^/]+)\/.*/, ':iam::$1:role/$2') };
  for (const [k, v] of Object.entries(principalTags)) context[`aws:PrincipalTag/${k}`] = v;
  for (const [k, v] of Object.entries(resourceTags)) context[`aws:ResourceTag/${k}`] = v;
  const result = await runSimulation({
    request: { principal, action, resource: { resource, accountId: ACCOUNT }, contextVariables: context },
    identityPolicies: [{ name: 'full', policy: FULL_ACCESS }],
    serviceControlPolicies: [{ orgIdentifier: 'r-root', policies: [{ name: 'full', policy: FULL_ACCESS }, { name: 'tvm', policy: scp }] }],
    resourceControlPolicies: [],
  }, {});
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}

describe('GIVEN the construct\'s tags', () => {
  test('THEN every resource of the TVM, its profiles\' roles included, carries the service tag', () => {
    for (const id of Object.values(ids)) expect({ id, tag: tagsOf(id)[TvmTags.SERVICE] }).toEqual({ id, tag: serviceName });
  });

  test('THEN only the TVM\'s own function roles carry the runtime tag: a profile\'s role is not exempt', () => {
    expect(tagsOf(ids.executionRole)[TvmTags.RUNTIME]).toBe(serviceName);
    expect(tagsOf(ids.enforcerRole)[TvmTags.RUNTIME]).toBe(serviceName);
    expect(tagsOf(ids.protectedRole)[TvmTags.RUNTIME]).toBeUndefined();
    expect(tagsOf(ids.ownedRole)[TvmTags.RUNTIME]).toBeUndefined();
  });
});

describe('GIVEN the guardrail SCP in the TVM\'s account', () => {
  const ADMIN = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_AdministratorAccess_0123/jane`;

  test.each([
    ['invoke the vending function directly', 'lambda:InvokeFunction', 'handler'],
    ['change its code', 'lambda:UpdateFunctionCode', 'handler'],
    ['change its configuration (the digest, the table names)', 'lambda:UpdateFunctionConfiguration', 'handler'],
    ['untag it to escape the guardrail', 'lambda:UntagResource', 'handler'],
    ['un-revoke a session in the table', 'dynamodb:UpdateItem', 'table'],
    ['write the table', 'dynamodb:PutItem', 'table'],
    ['delete the revoked-sessions deny of a protected role', 'iam:DeleteRolePolicy', 'protectedRole'],
    ['rewrite a protected role\'s trust', 'iam:UpdateAssumeRolePolicy', 'protectedRole'],
  ] as const)('an administrator of the account cannot %s', async (_what, action, resource) => {
    const tags = tagsOf(ids[resource]);
    expect(await decide(ADMIN, {}, action, RESOURCES[resource], tags)).toBe('ExplicitlyDenied');
  });

  test('a protected role\'s own session (a stolen vended credential) cannot either, though the role carries the service tag', async () => {
    const stolen = `arn:aws:sts::${ACCOUNT}:assumed-role/ReadOnly/tvm-0123456789abcdef-req`;
    expect(await decide(stolen, tagsOf(ids.protectedRole), 'iam:DeleteRolePolicy', RESOURCES.protectedRole, tagsOf(ids.protectedRole)))
      .toBe('ExplicitlyDenied');
  });

  test('the deployment role and the TVM\'s own roles still do their work', async () => {
    expect(await decide(`${DEPLOY_ROLE.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/cfn`, {}, 'lambda:UpdateFunctionCode',
      RESOURCES.handler, tagsOf(ids.handler))).toBe('Allowed');
    const enforcer = `arn:aws:sts::${ACCOUNT}:assumed-role/TvmEnforcerRole/TvmStack-TvmEnforcer`;
    expect(await decide(enforcer, tagsOf(ids.enforcerRole), 'iam:PutRolePolicy', RESOURCES.protectedRole, tagsOf(ids.protectedRole)))
      .toBe('Allowed');
    const vending = `arn:aws:sts::${ACCOUNT}:assumed-role/TvmExecutionRole/TvmStack-TvmHandler`;
    expect(await decide(vending, tagsOf(ids.executionRole), 'dynamodb:UpdateItem', RESOURCES.table, tagsOf(ids.table))).toBe('Allowed');
  });

  test('nobody but the deployment role may hand themselves the exempting tag', async () => {
    const result = await runSimulation({
      request: {
        principal: ADMIN,
        action: 'iam:TagRole',
        resource: { resource: `arn:aws:iam::${ACCOUNT}:role/Mine`, accountId: ACCOUNT },
        contextVariables: {
          'aws:TagKeys': [TvmTags.RUNTIME],
          [`aws:RequestTag/${TvmTags.RUNTIME}`]: serviceName,
          'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123`,
        },
      },
      identityPolicies: [{ name: 'full', policy: FULL_ACCESS }],
      serviceControlPolicies: [{ orgIdentifier: 'r-root', policies: [{ name: 'full', policy: FULL_ACCESS }, { name: 'tvm', policy: scp }] }],
      resourceControlPolicies: [],
    }, {});
    expect(result.resultType === 'error' ? result.errors : result.overallResult).toBe('ExplicitlyDenied');
  });
});
