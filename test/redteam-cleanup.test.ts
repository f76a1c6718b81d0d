// Red team: the revocation cleanup (lambda/enforcer/cleanup.ts) obeys any request that names its own stack while the
// stack is in a status CloudFormation could send it in. Every deployment of the TVM's stack passes through
// UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, so whoever can invoke the enforcer function (lambda:InvokeFunction, without the
// guardrail SCP) can fire hand-made Deletes until one lands in that window. Each test below asserts what should hold
// (it failed before the fix). IAM is a stub that enforces the enforcer's own grants (its TVM's path, and the roles named to it).
import type { IAMClient } from '@aws-sdk/client-iam';
import {
  cleanupPhysicalId, handleCleanup, type CleanupDeclarations, type CleanupDeps, type CleanupEvent, type CleanupStore,
} from '../lambda/enforcer/cleanup';
import type { EnforcerConfig } from '../lambda/enforcer/enforce';
import { REVOCATION_CLEANUP_RESOURCE_TYPE, revokedSessionsPolicyName } from '../src/shared/contract';

const ACCOUNT = '111122223333';
const STACK_ID = `arn:aws:cloudformation:eu-west-1:${ACCOUNT}:stack/TvmStack/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9`;
/** The TVM's name is a literal the app sets; the same app deployed to two regions has the same one. */
const TVM_NAME = 'prod';
const POLICY = revokedSessionsPolicyName(TVM_NAME, 'eu-west-1');
/** The same-named TVM of the same app in us-east-1: its roles share the IAM path /sentinel-tvm/prod/. */
const OTHER_REGION_POLICY = revokedSessionsPolicyName(TVM_NAME, 'us-east-1');
/** The app's roles, which the cleanup resource lists (ProtectedRoles under the TVM's path). */
const LISTED = ['prod-ReadOnly', 'prod-Admin'];
/** A profile's imported role: the enforcer writes its deny (it is named to the enforcer), the cleanup does not list it. */
const IMPORTED = 'ExternallyManaged';
/** A ProtectedRole of the us-east-1 TVM: under the same path, so the eu-west-1 enforcer's path grant reaches it. */
const OTHER_REGION_ROLE = 'prod-ReadOnly-us';
const LOGICAL_ID = 'TvmEnforcerCleanup1A2B3C4D';

/** Role name -> its inline policies; which roles the enforcer role may touch (by path, or named). */
let roles: Map<string, Set<string>>;
let deleted: Array<[string, string]>;

function fakeIam(): IAMClient {
  const grantedTo = new Set([...LISTED, IMPORTED, OTHER_REGION_ROLE]);
  return {
    send: async (command: { input: { RoleName: string; PolicyName: string } }) => {
      const { RoleName, PolicyName } = command.input;
      if (!grantedTo.has(RoleName)) throw Object.assign(new Error('not authorized'), { name: 'AccessDenied' });
      const policies = roles.get(RoleName);
      if (!policies?.delete(PolicyName)) throw Object.assign(new Error('no such policy'), { name: 'NoSuchEntityException' });
      deleted.push([RoleName, PolicyName]);
      return {};
    },
  } as unknown as IAMClient;
}

let declarations: CleanupDeclarations;
const store: CleanupStore = {
  read: async () => structuredClone(declarations),
  write: async (d) => { declarations = structuredClone(d); },
};

let status: string;
/** The deployed configuration (the enforcer's digest): the listed roles (one chained) and the imported role are its profiles'. */
const roleArn = (name: string, path = '/sentinel-tvm/prod/') => `arn:aws:iam::${ACCOUNT}:role${path}${name}`;
const profile = (name: string, arn: string, chainRoleArns: string[] = []) =>
  ({ name, roleArn: arn, allowedPrincipals: [], maxDurationSeconds: 3600, chainRoleArns });
const deployed: EnforcerConfig = {
  profiles: new Map([
    ['readonly', profile('readonly', roleArn('prod-ReadOnly'), [roleArn('prod-Admin')])],
    ['external', profile('external', roleArn(IMPORTED, '/'))],
  ]),
};
const deps = (): CleanupDeps => ({
  iam: fakeIam(),
  stackId: STACK_ID,
  stackStatus: async () => status,
  store,
  policyName: POLICY,
  loadConfig: async () => deployed,
});

function request(type: CleanupEvent['RequestType'], o: Partial<CleanupEvent> = {}): CleanupEvent {
  return {
    RequestType: type,
    ResponseURL: 'https://attacker.example/ignored',
    StackId: STACK_ID,
    RequestId: 'forged',
    LogicalResourceId: LOGICAL_ID,
    ResourceType: REVOCATION_CLEANUP_RESOURCE_TYPE,
    ResourceProperties: { RoleNames: LISTED, PolicyName: POLICY },
    ...o,
  };
}

const withDeny = () => [...roles].filter(([, p]) => p.has(POLICY) || p.has(OTHER_REGION_POLICY)).map(([r]) => r).sort();

beforeEach(async () => {
  deleted = [];
  declarations = {};
  roles = new Map([
    ...LISTED.map((r): [string, Set<string>] => [r, new Set([POLICY, 'DefaultPolicy'])]),
    [IMPORTED, new Set([POLICY])],
    [OTHER_REGION_ROLE, new Set([OTHER_REGION_POLICY])],
  ]);
  // GIVEN the stack was created: CloudFormation's Create recorded the roles the resource lists.
  status = 'CREATE_IN_PROGRESS';
  const created = await handleCleanup(deps(), request('Create'), 0);
  expect([created.status, created.refused]).toEqual(['SUCCESS', undefined]);
  // WHEN a later, unrelated update of the stack reaches its cleanup phase (every update passes through it).
  status = 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS';
});

describe('GIVEN anyone able to invoke the enforcer function, during an ordinary update\'s cleanup phase', () => {
  test('fails when a forged Delete of the live resource (its logical id, and the physical id anyone can compute from the role '
    + 'names) strips the deny from every role the TVM still protects', async () => {
    const forged = request('Delete', { PhysicalResourceId: cleanupPhysicalId(POLICY, LISTED) });

    const result = await handleCleanup(deps(), forged, 0);

    // Today: both still-protected roles lose their deny, and the live declaration is erased, so later Deletes strip too.
    expect({ deleted, refused: result.refused !== undefined }).toEqual({ deleted: [], refused: true });
    expect(withDeny()).toEqual([IMPORTED, OTHER_REGION_ROLE, ...LISTED].sort());
    expect(Object.keys(declarations)).toEqual([LOGICAL_ID]);
  });

  /** A Delete of a cleanup resource that no stack declares, naming roles and a policy of the forger's choosing. */
  const forgedDelete = (roleNames: string[], policyName: string) => request('Delete', {
    LogicalResourceId: 'Forged', PhysicalResourceId: 'anything', ResourceProperties: { RoleNames: roleNames, PolicyName: policyName },
  });

  test('fails when a forged Delete of a made-up resource strips the deny from a profile\'s imported role, which no cleanup '
    + 'resource lists (nothing declared protects it)', async () => {
    const forged = forgedDelete([IMPORTED], POLICY);

    await handleCleanup(deps(), forged, 0);

    expect(deleted).toEqual([]);
  });

  test('fails when a forged Delete names the same-named TVM\'s policy of another region: the cleanup does not compare the '
    + 'policy name with its own, and this enforcer\'s grant on /sentinel-tvm/prod/* reaches that TVM\'s roles', async () => {
    const forged = forgedDelete([OTHER_REGION_ROLE], OTHER_REGION_POLICY);

    await handleCleanup(deps(), forged, 0);

    expect(deleted).toEqual([]);
  });
});
