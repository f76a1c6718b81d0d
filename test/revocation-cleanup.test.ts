// Teardown that IAM's DeleteConflict never blocks: the enforcer function, as the Custom::SentinelTvmRevocationCleanup
// resource, deletes this TVM's revoked-sessions policy from its roles right before CloudFormation deletes them: on a
// stack deletion, and in an update's cleanup phase (the Delete of the replaced physical id), never during the update.
// Its runtime against a local IAM, DynamoDB Local (the lease, the recorded roles) and a local CloudFormation
// (DescribeStacks and the ResponseURL), the bundled function included; and the template that orders it between the
// triggers and the roles.
import * as path from 'path';
import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { startBundle, type BundleProcess } from './support/bundle-process';
import { createTableFromTemplate, endpoint, localDynamoClient, uniqueTableName } from './support/dynamodb-local';
import {
  ACCOUNT, enforcerStack, FOREIGN_ROLE_ARN, IMPORTED_ROLE_ARN, logicalId, POLICY_NAME, REGION, removeEnforcerOutdirs, type EnforcerStack,
} from './support/enforcer-stack';
import { startLocalCloudFormation, type LocalCloudFormation } from './support/local-cloudformation';
import { startLocalIam, type LocalIam } from './support/local-iam';
import { writeConfig } from '../lambda/config/provider';
import {
  CLEANUP_STACK_STATUSES, cleanupPhysicalId, createCleanupHandler, dynamoCleanupStore, type CleanupDeps, type CleanupEvent,
  type CleanupStore,
} from '../lambda/enforcer/cleanup';
import type { EnforcerConfig } from '../lambda/enforcer/enforce';
import { dynamoLease, LeaseBusyError } from '../lambda/enforcer/lease';
import {
  ENFORCER_LEASE_ITEM_ID, Env, REVOCATION_CLEANUP_ITEM_ID, REVOCATION_CLEANUP_RESOURCE_TYPE, revokedSessionsPolicyName,
} from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'enforcer.lambda', 'index.js');
const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/EnforcerStack/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9`;
const OTHER_STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/SomeoneElses/11111111-2222-3333-4444-555555555555`;
const CREDENTIALS = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local' };
/** A policy of the role's own, which the cleanup must never touch. */
const OWN_POLICY = 'DefaultPolicy';
/** The DynamoDB actions that write items. */
const TABLE_WRITE = /^dynamodb:(Put|Delete|Update|BatchWrite)/;
const DOC = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*' }] });
const ROLES = ['tvm-ReadOnly', 'tvm-Deploy', 'tvm-Audit'];
/** A role that IAM does not know (deleted out of band). */
const GONE_ROLE = 'tvm-Gone';
const LOGICAL_ID = 'EnforcerCleanup1A2B3C4D';
/** What the deployed resource lists by default, and its physical id. */
const LISTED = [...ROLES, GONE_ROLE];
const LISTED_ID = cleanupPhysicalId(POLICY_NAME, LISTED);

let es: EnforcerStack;
let iam: LocalIam;
let cfn: LocalCloudFormation;
let controlTableName: string;
let logs: { level: string; message: string; [k: string]: unknown }[];

beforeAll(async () => {
  es = enforcerStack();
  const ddb = localDynamoClient();
  controlTableName = await createTableFromTemplate(es.template, uniqueTableName('cleanupctl'), ddb, logicalId(es.controlTable));
  iam = await startLocalIam({ roles: ROLES });
  cfn = await startLocalCloudFormation();
});
afterAll(async () => {
  await iam?.stop();
  await cfn?.stop();
  removeEnforcerOutdirs();
});
beforeEach(async () => {
  logs = [];
  iam.fail(undefined);
  iam.calls.length = 0;
  cfn.describeCalls.length = 0;
  cfn.answers.length = 0;
  for (const [role, policies] of iam.roles) {
    policies.clear();
    policies.set(POLICY_NAME, DOC);
    policies.set(OWN_POLICY, DOC);
    if (role === 'tvm-Audit') policies.delete(POLICY_NAME); // never had a revoked session
  }
  cfn.setStatus(STACK_ID, 'DELETE_IN_PROGRESS');
  // Each test starts from a stack whose roles were never recorded, and with the lease free.
  const ddb = localDynamoClient();
  for (const id of [REVOCATION_CLEANUP_ITEM_ID, ENFORCER_LEASE_ITEM_ID]) {
    await ddb.send(new DeleteItemCommand({ TableName: controlTableName, Key: { id: { S: id } } }));
  }
});

function iamClient(): IAMClient {
  return new IAMClient({ region: REGION, endpoint: iam.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
}

const store = (): CleanupStore => dynamoCleanupStore({ ddb: localDynamoClient(), tableName: controlTableName });
const lease = () => dynamoLease({ ddb: localDynamoClient(), tableName: controlTableName });

/** The request CloudFormation sends (the properties as the construct renders them: role names, the policy name). */
function request(type: CleanupEvent['RequestType'], o: Partial<CleanupEvent> = {}): CleanupEvent {
  return {
    RequestType: type,
    ResponseURL: cfn.responseUrl(),
    StackId: STACK_ID,
    RequestId: `req-${Math.random().toString(16).slice(2)}`,
    LogicalResourceId: LOGICAL_ID,
    ResourceType: REVOCATION_CLEANUP_RESOURCE_TYPE,
    ...(type === 'Create' ? {} : { PhysicalResourceId: LISTED_ID }),
    ResourceProperties: { RoleNames: LISTED, PolicyName: POLICY_NAME },
    ...o,
  };
}

/** An Update from one list to another, as CloudFormation sends it (the physical id it holds is the old list's). */
function update(from: string[], to: string[], o: Partial<CleanupEvent> = {}): CleanupEvent {
  return request('Update', {
    PhysicalResourceId: cleanupPhysicalId(POLICY_NAME, from),
    ResourceProperties: { RoleNames: to, PolicyName: POLICY_NAME },
    OldResourceProperties: { RoleNames: from, PolicyName: POLICY_NAME },
    ...o,
  });
}

/** The Delete CloudFormation sends for a resource that listed these roles. */
function deleteOf(roles: string[], o: Partial<CleanupEvent> = {}): CleanupEvent {
  return request('Delete', {
    PhysicalResourceId: cleanupPhysicalId(POLICY_NAME, roles),
    ResourceProperties: { RoleNames: roles, PolicyName: POLICY_NAME },
    ...o,
  });
}

/** The deployed configuration's roles (the function's digest): profile roles, the second of each pair chained. */
let deployedRoles: string[] = [];
beforeEach(() => { deployedRoles = []; });
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/${name}`;
function deployedConfig(): EnforcerConfig {
  const profiles = deployedRoles.map((r, i) => ({
    name: `p${i}`, roleArn: roleArn(r), allowedPrincipals: [], maxDurationSeconds: 3600, chainRoleArns: [] as string[],
  }));
  // The last role chained from the first profile: a chain role is protected too.
  if (profiles.length > 1) profiles[0].chainRoleArns.push(profiles.pop()!.roleArn);
  return { profiles: new Map(profiles.map((p) => [p.name, p])) };
}

/** The cleanup handler as the entry point builds it, on the local CloudFormation's DescribeStacks and DynamoDB Local. */
function cleanup(more: Partial<CleanupDeps> & { send?: (url: string, body: string) => Promise<void> } = {}) {
  return createCleanupHandler({
    iam: iamClient(),
    stackId: STACK_ID,
    stackStatus: async (id) => {
      cfn.describeCalls.push(id);
      return statusOf(id);
    },
    store: store(),
    policyName: POLICY_NAME,
    loadConfig: async () => deployedConfig(),
    log: (level, message, fields) => logs.push({ level, message, ...fields }),
    ...more,
  });
}
let statusOf = (_id: string): string | undefined => 'DELETE_IN_PROGRESS';
beforeEach(() => { statusOf = () => 'DELETE_IN_PROGRESS'; });
const during = (status: string) => { statusOf = () => status; };

const remaining = (role: string) => [...(iam.roles.get(role)?.keys() ?? [])].sort();
const deletes = () => iam.calls.filter((c) => c.action === 'DeleteRolePolicy').map((c) => [c.roleName, c.policyName]);
const WITH_POLICY = [OWN_POLICY, POLICY_NAME].sort();

describe('GIVEN the stack is being deleted', () => {
  test('WHEN CloudFormation sends Delete THEN the policy goes from every listed role, their own policies stay, and it answers SUCCESS', async () => {
    // Recorded as still listed: a stack deletion strips them all the same, every role goes.
    during('UPDATE_IN_PROGRESS');
    await cleanup()(update(LISTED, LISTED));
    during('DELETE_IN_PROGRESS');
    cfn.describeCalls.length = 0;
    cfn.answers.length = 0;

    const event = request('Delete');
    const result = await cleanup()(event);

    for (const role of ROLES) expect(remaining(role)).toEqual([OWN_POLICY]);
    // A role without the policy, and a role IAM no longer has (NoSuchEntity), are fine.
    expect(result).toMatchObject({ status: 'SUCCESS', deleted: ['tvm-Deploy', 'tvm-ReadOnly'], absent: ['tvm-Audit', GONE_ROLE], failed: [] });
    expect(cfn.answers).toEqual([{
      path: expect.stringMatching(/^\/cloudformation-custom-resource-response\//),
      body: {
        Status: 'SUCCESS',
        Reason: 'OK',
        PhysicalResourceId: LISTED_ID,
        StackId: STACK_ID,
        RequestId: event.RequestId,
        LogicalResourceId: event.LogicalResourceId,
        Data: {},
      },
    }]);
    expect(cfn.describeCalls).toEqual([STACK_ID]);
  });

  test('WHEN a creation rolls back (ROLLBACK_IN_PROGRESS) THEN the policy goes from every listed role too: the whole stack goes', async () => {
    during('CREATE_IN_PROGRESS');
    await cleanup()(request('Create'));
    during('ROLLBACK_IN_PROGRESS');

    const result = await cleanup()(request('Delete'));

    expect(result.deleted).toEqual(['tvm-Deploy', 'tvm-ReadOnly']);
    for (const role of ROLES) expect(remaining(role)).toEqual([OWN_POLICY]);
  });

  test('WHEN an enforcer run holds the lease THEN the cleanup waits for it, so that the run cannot write the policy again after', async () => {
    const release = await lease().acquire(0);
    const pending = cleanup({ lease: lease() })(request('Delete'));
    await new Promise((r) => setTimeout(r, 300));
    // The run's last write, while it still holds the lease.
    iam.roles.get('tvm-Audit')!.set(POLICY_NAME, DOC);
    expect(deletes()).toEqual([]);
    await release();

    const result = await pending;
    expect(result.deleted).toEqual(['tvm-Audit', 'tvm-Deploy', 'tvm-ReadOnly']);
    for (const role of ROLES) expect(remaining(role)).toEqual([OWN_POLICY]);
    expect(cfn.answers.map((a) => a.body.Status)).toEqual(['SUCCESS']);
    // The triggers are gone before a stack deletion's cleanup: the lease is released at once.
    await expect(lease().acquire(0)).resolves.toEqual(expect.any(Function));
  });

  test('WHEN the lease stays held (a crashed run) THEN the cleanup deletes without it rather than block the teardown, and says so', async () => {
    await lease().acquire(0); // never released

    // 20.2 s left: 200 ms to wait, the rest kept for the deletes and the answer.
    const handler = cleanup({ lease: lease() });
    const result = await handler(request('Delete'), { getRemainingTimeInMillis: () => 20_200 });

    expect(result.status).toBe('SUCCESS');
    for (const role of ROLES) expect(remaining(role)).toEqual([OWN_POLICY]);
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['WARN', expect.stringMatching(/without the enforcer lease/)]);
  });

  test('WHEN IAM refuses a delete THEN the answer is still SUCCESS (a FAILED deletion only stops there), naming the role', async () => {
    iam.fail({ code: 'AccessDenied', message: 'not authorized', status: 403, actions: ['DeleteRolePolicy'], roleName: 'tvm-Deploy' });

    const result = await cleanup()(request('Delete'));

    expect(result.status).toBe('SUCCESS');
    expect(result.failed).toEqual([expect.stringMatching(/^tvm-Deploy \(AccessDenied/)]);
    expect(cfn.answers[0].body.Reason).toMatch(/tvm-Deploy/);
    expect(remaining('tvm-ReadOnly')).toEqual([OWN_POLICY]);
    expect(logs.map((l) => l.level)).toContain('ERROR');
  });
});

describe('GIVEN an update of the stack', () => {
  const OLD = ['tvm-ReadOnly', 'tvm-Deploy', GONE_ROLE];
  const NEW = ['tvm-ReadOnly'];
  beforeEach(() => during('UPDATE_IN_PROGRESS'));

  test('WHEN an Update removes roles THEN nothing is deleted yet, and it answers the new list\'s physical id (a replacement)', async () => {
    const result = await cleanup()(update(OLD, NEW));

    expect(deletes()).toEqual([]);
    for (const role of ['tvm-ReadOnly', 'tvm-Deploy']) expect(remaining(role)).toEqual(WITH_POLICY);
    expect(result).toMatchObject({ status: 'SUCCESS', physicalResourceId: cleanupPhysicalId(POLICY_NAME, NEW) });
    expect(result.physicalResourceId).not.toBe(cleanupPhysicalId(POLICY_NAME, OLD));
    expect(cfn.answers[0].body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: cleanupPhysicalId(POLICY_NAME, NEW) });
  });

  test('WHEN the cleanup phase then deletes the old physical id THEN the policy goes from exactly the removed roles, '
    + 'even after an enforcer run wrote it again in between', async () => {
    await cleanup()(update(OLD, NEW));
    deployedRoles = NEW;
    // A run between the update and its cleanup: the enforcer still denies revoked sessions on a role that left.
    iam.roles.get('tvm-Deploy')!.set(POLICY_NAME, DOC);
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(deleteOf(OLD));

    expect(result).toMatchObject({ status: 'SUCCESS', deleted: ['tvm-Deploy'], absent: [GONE_ROLE], kept: ['tvm-ReadOnly'], failed: [] });
    // Tried on the removed roles only (the one IAM no longer has included), never on the role that stays.
    expect(deletes().sort()).toEqual([['tvm-Deploy', POLICY_NAME], [GONE_ROLE, POLICY_NAME]]);
    expect(remaining('tvm-Deploy')).toEqual([OWN_POLICY]);
    expect(remaining('tvm-ReadOnly')).toEqual(WITH_POLICY);
    // A Delete answers the physical id it was sent.
    expect(cfn.answers[1].body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: cleanupPhysicalId(POLICY_NAME, OLD) });
  });

  test('WHEN the update rolls back THEN the rollback Update strips nothing, and the Delete of the new id strips the roles only it had', async () => {
    const oldList = ['tvm-ReadOnly'];
    const newList = ['tvm-ReadOnly', 'tvm-Deploy'];
    const forward = await cleanup()(update(oldList, newList));
    deployedRoles = newList;
    during('UPDATE_ROLLBACK_IN_PROGRESS');
    const back = await cleanup()(update(newList, oldList));
    expect(deletes()).toEqual([]);
    expect([forward.physicalResourceId, back.physicalResourceId])
      .toEqual([cleanupPhysicalId(POLICY_NAME, newList), cleanupPhysicalId(POLICY_NAME, oldList)]);
    // The rollback restored the function's environment: the old configuration's digest.
    deployedRoles = oldList;
    during('UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(deleteOf(newList));

    expect(result).toMatchObject({ deleted: ['tvm-Deploy'], kept: ['tvm-ReadOnly'] });
    expect(remaining('tvm-Deploy')).toEqual([OWN_POLICY]);
    expect(remaining('tvm-ReadOnly')).toEqual(WITH_POLICY);
  });

  test('WHEN the list is unchanged (another order, a duplicate) THEN the physical id stays: no replacement, no Delete follows', async () => {
    const result = await cleanup()(update(OLD, [...OLD].reverse().concat('tvm-Deploy')));

    expect(result.physicalResourceId).toBe(cleanupPhysicalId(POLICY_NAME, OLD));
    expect(cfn.answers[0].body.PhysicalResourceId).toBe(cleanupPhysicalId(POLICY_NAME, OLD));
    expect(deletes()).toEqual([]);
  });

  test('WHEN the policy name changed (the TVM renamed) THEN the Delete naming the old name is refused: the enforcer obeys only '
    + 'its own policy name (a same-named TVM of another region shares its role path)', async () => {
    const oldName = revokedSessionsPolicyName('OldName', REGION);
    iam.roles.get('tvm-ReadOnly')!.set(oldName, DOC);
    const renamed = await cleanup()(update(NEW, NEW, {
      PhysicalResourceId: cleanupPhysicalId(oldName, NEW),
      OldResourceProperties: { RoleNames: NEW, PolicyName: oldName },
    }));
    expect(renamed.physicalResourceId).toBe(cleanupPhysicalId(POLICY_NAME, NEW));
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(request('Delete', {
      PhysicalResourceId: cleanupPhysicalId(oldName, NEW),
      ResourceProperties: { RoleNames: NEW, PolicyName: oldName },
    }));

    expect(result.refused).toMatch(/PolicyName is not this TVM's/);
    expect(deletes()).toEqual([]);
  });

  test('WHEN a resource goes whose roles the deployed configuration no longer uses THEN the Delete of the id it holds strips '
    + 'every listed role, and its record goes', async () => {
    await cleanup()(update(LISTED, OLD));
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(deleteOf(OLD));

    expect(result).toMatchObject({ deleted: ['tvm-Deploy', 'tvm-ReadOnly'], kept: [] });
    // Nothing recorded is left to spare roles in a later cleanup.
    await expect(store().read()).resolves.toEqual({});
  });

  test('WHEN the TVM leaves a stack that stays (its last configuration still uses the roles) THEN nothing is stripped: the '
    + 'request cannot be told from a forged one, so the roles keep their deny and fail their own deletion', async () => {
    await cleanup()(update(LISTED, OLD));
    deployedRoles = OLD;
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(deleteOf(OLD));

    expect(result).toMatchObject({ status: 'SUCCESS', deleted: [], refused: expect.stringMatching(/deployed configuration still uses/) });
    expect(deletes()).toEqual([]);
    expect(Object.keys(await store().read())).toEqual([LOGICAL_ID]);
  });

  test('WHEN the resource moves to another logical id with the same list THEN the old one\'s Delete strips nothing', async () => {
    await cleanup()(update(LISTED, OLD));
    deployedRoles = OLD;
    // The new logical id gets a Create with the same list: the same physical id as the old resource.
    const created = await cleanup()(request('Create', {
      LogicalResourceId: 'TvmEnforcerCleanup99AA88BB',
      ResourceProperties: { RoleNames: OLD, PolicyName: POLICY_NAME },
    }));
    expect(created.physicalResourceId).toBe(cleanupPhysicalId(POLICY_NAME, OLD));
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup()(deleteOf(OLD));

    expect(result).toMatchObject({ deleted: [], kept: [...OLD].sort() });
    expect(deletes()).toEqual([]);
  });

  test('WHEN the cleanup phase strips roles THEN the enforcer lease stays held until it lapses: no run writes the policy again '
    + 'before the roles go', async () => {
    await cleanup()(update(OLD, NEW));
    deployedRoles = NEW;
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    await cleanup({ lease: lease() })(deleteOf(OLD));

    expect(remaining('tvm-Deploy')).toEqual([OWN_POLICY]);
    await expect(lease().acquire(0)).rejects.toBeInstanceOf(LeaseBusyError);
  });

  test('WHEN CloudFormation sends Create THEN it checks the stack, records the roles, deletes nothing, and answers '
    + 'the list\'s physical id', async () => {
    during('CREATE_IN_PROGRESS');

    const result = await cleanup()(request('Create'));

    expect(result.status).toBe('SUCCESS');
    expect(iam.calls).toEqual([]);
    expect(cfn.describeCalls).toEqual([STACK_ID]);
    expect(cfn.answers[0].body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: LISTED_ID });
    await expect(store().read()).resolves.toEqual({
      [LOGICAL_ID]: { physicalResourceId: LISTED_ID, policyName: POLICY_NAME, roleNames: [...LISTED].sort() },
    });
  });

  test('fails when the roles cannot be recorded during a forward update: FAILED, so that CloudFormation rolls the update back', async () => {
    const broken: CleanupStore = { read: async () => ({}), write: async () => { throw new Error('ProvisionedThroughputExceededException'); } };

    const result = await cleanup({ store: broken })(update(OLD, NEW));

    expect(result.status).toBe('FAILED');
    expect(cfn.answers[0].body).toMatchObject({ Status: 'FAILED', Reason: expect.stringMatching(/could not be recorded/) });
  });

  test('WHEN the same failure happens during the rollback THEN the answer is SUCCESS: a failed rollback helps no one', async () => {
    during('UPDATE_ROLLBACK_IN_PROGRESS');
    const broken: CleanupStore = { read: async () => ({}), write: async () => { throw new Error('ProvisionedThroughputExceededException'); } };

    const result = await cleanup({ store: broken })(update(NEW, OLD));

    expect(result.status).toBe('SUCCESS');
    expect(logs.map((l) => l.level)).toContain('ERROR');
  });

  test('WHEN the recorded roles cannot be read in the cleanup phase THEN nothing is deleted: a protected role never loses its deny', async () => {
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');
    const broken: CleanupStore = { read: async () => { throw new Error('AccessDeniedException'); }, write: async () => undefined };

    const result = await cleanup({ store: broken })(deleteOf(OLD));

    expect(result).toMatchObject({ status: 'SUCCESS', deleted: [] });
    expect(deletes()).toEqual([]);
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['ERROR', expect.stringMatching(/cannot be read/)]);
  });

  test('WHEN the deployed configuration cannot be loaded in the cleanup phase THEN nothing is deleted: its roles are unknown', async () => {
    await cleanup()(update(OLD, NEW));
    during('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    const result = await cleanup({ loadConfig: async () => { throw new Error('ConfigError: digest mismatch'); } })(deleteOf(OLD));

    expect(result).toMatchObject({ status: 'SUCCESS', deleted: [], kept: [...OLD].sort() });
    expect(deletes()).toEqual([]);
    expect(logs.map((l) => [l.level, l.message])).toContainEqual(['ERROR', expect.stringMatching(/configuration cannot be loaded: nothing deleted/)]);
  });

  test('WHEN the stack is being deleted THEN the configuration is not consulted: every listed role goes with it', async () => {
    deployedRoles = LISTED;
    during('DELETE_IN_PROGRESS');

    const result = await cleanup({ loadConfig: async () => { throw new Error('never called'); } })(request('Delete'));

    expect(result.deleted).toEqual(['tvm-Deploy', 'tvm-ReadOnly']);
  });
});

describe('GIVEN a request that is not CloudFormation working on this stack (anyone able to invoke the function)', () => {
  test.each<[string, Partial<CleanupEvent>, string | undefined]>([
    ['it names another stack', { StackId: OTHER_STACK_ID }, 'DELETE_IN_PROGRESS'],
    ['the stack is at rest (UPDATE_COMPLETE)', {}, 'UPDATE_COMPLETE'],
    ['the stack is being created', {}, 'CREATE_IN_PROGRESS'],
    ['the stack does not exist', {}, undefined],
    ['it names a policy that is not a revoked-sessions policy',
      { ResourceProperties: { RoleNames: ROLES, PolicyName: OWN_POLICY } }, 'DELETE_IN_PROGRESS'],
    ['it names another TVM\'s revoked-sessions policy',
      { ResourceProperties: { RoleNames: ROLES, PolicyName: revokedSessionsPolicyName('OtherTvm', REGION) } }, 'DELETE_IN_PROGRESS'],
    ['it is another resource type', { ResourceType: 'Custom::Anything' }, 'DELETE_IN_PROGRESS'],
  ])('WHEN %s THEN nothing is deleted, the refusal is logged as an error, and the answer is SUCCESS', async (_what, o, status) => {
    statusOf = () => status;

    const result = await cleanup()(request('Delete', o));

    expect(deletes()).toEqual([]);
    for (const role of ['tvm-ReadOnly', 'tvm-Deploy']) expect(remaining(role)).toEqual(WITH_POLICY);
    expect(result.refused).toBeDefined();
    expect(logs.map((l) => [l.level, l.message])).toEqual([['ERROR', 'revocation cleanup request refused: nothing done']]);
    // A FAILED answer would block a real deletion; the sender of a forged request learns nothing from either.
    expect(cfn.answers.map((a) => a.body.Status)).toEqual(['SUCCESS']);
  });

  test('WHEN an Update or a Create arrives while the stack is at rest THEN nothing is recorded: a later cleanup spares no forged list', async () => {
    during('UPDATE_COMPLETE');

    const results = [await cleanup()(update(LISTED, [])), await cleanup()(request('Create', { LogicalResourceId: 'Forged' }))];

    expect(results.map((r) => r.refused)).toEqual([expect.stringMatching(/no Update while/), expect.stringMatching(/no Create while/)]);
    await expect(store().read()).resolves.toEqual({});
  });

  test('WHEN an Update arrives while the stack is being deleted THEN it is refused: CloudFormation sends only Deletes then', async () => {
    const result = await cleanup()(update(ROLES, []));

    expect(result.refused).toMatch(/no Update while the stack is DELETE_IN_PROGRESS/);
    expect(deletes()).toEqual([]);
  });

  test('THEN each request is obeyed only in the statuses CloudFormation sends it in', () => {
    expect(CLEANUP_STACK_STATUSES).toEqual({
      Create: ['CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS'],
      Update: ['UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS'],
      Delete: ['DELETE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS',
        'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'],
    });
  });

  test('fails when the answer cannot be sent: the invocation rejects, so that Lambda retries the request', async () => {
    const result = cleanup({ send: async () => { throw new Error('ResponseURL answered 403'); } })(request('Delete'));

    await expect(result).rejects.toThrow(/ResponseURL answered 403/);
  });
});

describe('GIVEN the bundled enforcer function with its synthesized environment', () => {
  let bundle: BundleProcess;
  beforeAll(async () => {
    const fn = Object.values(es.template.Resources).find((r: any) => r.Type === 'AWS::Lambda::Function'
      && r.Properties.Environment?.Variables?.[Env.STACK_ID]) as any;
    const physical: Record<string, string> = {
      [logicalId(es.table)]: 'sessions-not-used',
      [logicalId(es.controlTable)]: controlTableName,
      'AWS::StackId': STACK_ID,
    };
    const env = Object.fromEntries(Object.entries(fn.Properties.Environment.Variables as Record<string, any>)
      .map(([k, v]) => [k, typeof v === 'string' ? v : physical[v.Ref]]));
    // The deployed configuration, written as the deployment does: tvm-ReadOnly is its profile's role.
    const digest = await writeConfig(localDynamoClient(), controlTableName, {
      AdminPrincipals: [`arn:aws:iam::${ACCOUNT}:role/SecurityOps`],
      Profiles: [{
        name: 'readonly',
        roleArn: roleArn('tvm-ReadOnly'),
        allowedPrincipals: [`arn:aws:iam::${ACCOUNT}:user/alice`],
        maxDurationSeconds: 3600,
        chainRoleArns: [],
      }],
    });
    cfn.setStatus(STACK_ID, 'DELETE_IN_PROGRESS');
    bundle = await startBundle(BUNDLE, {
      ...env,
      [Env.CONFIG_DIGEST]: digest,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint(),
      AWS_ENDPOINT_URL_IAM: iam.endpoint,
      AWS_ENDPOINT_URL_CLOUDFORMATION: cfn.endpoint,
    });
  });
  afterAll(async () => {
    await bundle?.stop();
  });

  test('WHEN CloudFormation sends Delete THEN it checks its stack with DescribeStacks, deletes the policy under the lease, and answers', async () => {
    cfn.setStatus(STACK_ID, 'DELETE_IN_PROGRESS');

    await bundle.invoke(request('Delete'));

    expect(cfn.describeCalls).toEqual([STACK_ID]);
    for (const role of ROLES) expect(remaining(role)).toEqual([OWN_POLICY]);
    expect(cfn.answers.map((a) => a.body.Status)).toEqual(['SUCCESS']);
    expect(bundle.stdout()).toContain('"message":"revocation cleanup"');
  });

  test('WHEN an update removes a role THEN the Update records the list in the control table, and the cleanup-phase Delete strips '
    + 'that role only', async () => {
    cfn.setStatus(STACK_ID, 'UPDATE_IN_PROGRESS');
    await bundle.invoke(update(LISTED, ['tvm-ReadOnly']));
    const item = await localDynamoClient().send(new GetItemCommand({ TableName: controlTableName, Key: { id: { S: REVOCATION_CLEANUP_ITEM_ID } } }));
    expect(item.Item).toBeDefined();
    expect(deletes()).toEqual([]);
    cfn.setStatus(STACK_ID, 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');

    await bundle.invoke(deleteOf(LISTED));

    expect(deletes()).toEqual(expect.arrayContaining([['tvm-Deploy', POLICY_NAME]]));
    expect(deletes().map(([role]) => role)).not.toContain('tvm-ReadOnly');
    expect(remaining('tvm-ReadOnly')).toEqual(WITH_POLICY);
    expect(cfn.answers.map((a) => a.body.PhysicalResourceId)).toEqual([cleanupPhysicalId(POLICY_NAME, ['tvm-ReadOnly']), LISTED_ID]);
  });

  test('WHEN a forged Delete arrives while the stack is at rest THEN nothing is deleted, and the answer is SUCCESS', async () => {
    cfn.setStatus(STACK_ID, 'UPDATE_COMPLETE');

    await bundle.invoke(request('Delete'));

    expect(deletes()).toEqual([]);
    expect(remaining('tvm-ReadOnly')).toEqual(WITH_POLICY);
    expect(cfn.answers.map((a) => a.body.Status)).toEqual(['SUCCESS']);
  });
});

describe('GIVEN the synthesized enforcer', () => {
  let template: Template;
  let json: any;
  beforeAll(() => {
    template = Template.fromJSON(es.template);
    json = es.template;
  });
  const resourcesOf = (type: string) => Object.entries(json.Resources as Record<string, any>).filter(([, r]) => r.Type === type);
  const enforcerStatements = () => {
    const roleId = logicalId(es.enforcer.role);
    return Object.values(json.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement);
  };
  const actionsOf = (s: any): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

  test('THEN the cleanup resource is served by the enforcer function and lists each role the app owns once, by name', () => {
    const [[, cleanupResource]] = resourcesOf(REVOCATION_CLEANUP_RESOURCE_TYPE);
    expect(cleanupResource.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [logicalId(es.enforcer.function), 'Arn'] },
      RoleNames: [{ Ref: logicalId(es.underPath) }, { Ref: logicalId(es.owned) }],
      PolicyName: POLICY_NAME,
    });
    // An imported role is deleted by no stack here, and keeps its deny; a role of another account is out of reach.
    expect(JSON.stringify(cleanupResource)).not.toContain(IMPORTED_ROLE_ARN.split('/').pop());
    expect(JSON.stringify(cleanupResource)).not.toContain(FOREIGN_ROLE_ARN.split('/').pop());
  });

  test('THEN the stream mapping and the schedule depend on the cleanup: deleted before it runs, so no run can follow it', () => {
    const cleanupId = resourcesOf(REVOCATION_CLEANUP_RESOURCE_TYPE)[0][0];
    const triggers = [...resourcesOf('AWS::Lambda::EventSourceMapping'), ...resourcesOf('AWS::Events::Rule')];
    expect(triggers).toHaveLength(2);
    for (const [, trigger] of triggers) expect(trigger.DependsOn).toContain(cleanupId);
  });

  test('THEN the cleanup runs before the roles and the enforcer\'s permissions go (it depends on them), and the graph has no cycle', () => {
    const cleanupId = resourcesOf(REVOCATION_CLEANUP_RESOURCE_TYPE)[0][0];
    const deps = dependencies(json);
    const reach = reachable(deps, cleanupId);
    expect(reach).toEqual(expect.arrayContaining([
      logicalId(es.underPath), logicalId(es.owned), logicalId(es.enforcer.function), logicalId(es.enforcer.role),
      // The DefaultPolicy that grants iam:DeleteRolePolicy and the lease.
      ...Object.entries(json.Resources as Record<string, any>)
        .filter(([, r]) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r).includes('iam:DeleteRolePolicy') && r.Properties.PolicyDocument
          .Statement.some((s: any) => s.Effect === 'Allow')).map(([id]) => id),
      logicalId(es.controlTable),
    ]));
    for (const id of Object.keys(json.Resources)) expect(reachable(deps, id)).not.toContain(id);
  });

  test('THEN the enforcer has no reserved concurrency (low-quota accounts refuse it), and a timeout shorter than the lease', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(es.enforcer.role), 'Arn'] },
      Timeout: 60,
      ReservedConcurrentExecutions: Match.absent(),
      Environment: { Variables: Match.objectLike({ [Env.STACK_ID]: { Ref: 'AWS::StackId' } }) },
    });
  });

  test('THEN it may write only the lease item and the recorded roles of the control table, and describe only its own stack', () => {
    const writes = enforcerStatements().filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => TABLE_WRITE.test(a)));
    expect(writes).toEqual([{
      Effect: 'Allow',
      Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
      Resource: { 'Fn::GetAtt': [logicalId(es.controlTable), 'Arn'] },
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [ENFORCER_LEASE_ITEM_ID] } },
    }, {
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Resource: { 'Fn::GetAtt': [logicalId(es.controlTable), 'Arn'] },
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [REVOCATION_CLEANUP_ITEM_ID] } },
    }]);
    const stack = enforcerStatements().filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('cloudformation:')));
    expect(stack).toEqual([{ Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } }]);
  });

  test('THEN the lease, the stack read, the role policies, the spokes and its events are usable only from the enforcer\'s own code', () => {
    const denies = enforcerStatements().filter((s) => s.Effect === 'Deny');
    expect(denies).toEqual([expect.objectContaining({
      Action: ['iam:GetRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:ListRolePolicies',
        'dynamodb:PutItem', 'dynamodb:DeleteItem', 'cloudformation:DescribeStacks', 'sts:AssumeRole', 'events:PutEvents'],
      Condition: { ArnNotEquals: { 'lambda:SourceFunctionArn': { 'Fn::GetAtt': [logicalId(es.enforcer.function), 'Arn'] } } },
    })]);
  });

  test('THEN with a customer managed key the enforcer may encrypt (the lease item) as well as decrypt', () => {
    const withKey = enforcerStack({ encryptionKey: true });
    const roleId = logicalId(withKey.enforcer.role);
    const kmsActions = Object.values(withKey.template.Resources as Record<string, any>)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement).flatMap(actionsOf).filter((a: string) => a.startsWith('kms:'));
    expect(kmsActions).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*']));
  });

  test('WHEN no role was added THEN the cleanup lists none', () => {
    const empty = enforcerStack({ noRoles: true });
    const [, cleanupResource] = Object.entries(empty.template.Resources as Record<string, any>)
      .find(([, r]) => r.Type === REVOCATION_CLEANUP_RESOURCE_TYPE)!;
    expect(cleanupResource.Properties.RoleNames).toEqual([]);
  });
});

/** Each resource's dependencies: Ref, Fn::GetAtt and DependsOn. */
function dependencies(template: any): Map<string, Set<string>> {
  const ids = new Set(Object.keys(template.Resources));
  const deps = new Map<string, Set<string>>();
  const walk = (v: any, into: Set<string>) => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, into));
    if (!v || typeof v !== 'object') return;
    if (typeof v.Ref === 'string' && ids.has(v.Ref)) into.add(v.Ref);
    if (Array.isArray(v['Fn::GetAtt']) && ids.has(v['Fn::GetAtt'][0])) into.add(v['Fn::GetAtt'][0]);
    Object.values(v).forEach((x) => walk(x, into));
  };
  for (const [id, r] of Object.entries(template.Resources as Record<string, any>)) {
    const into = new Set<string>([r.DependsOn ?? []].flat());
    walk(r.Properties, into);
    deps.set(id, into);
  }
  return deps;
}

function reachable(deps: Map<string, Set<string>>, from: string): string[] {
  const seen = new Set<string>();
  const stack = [...(deps.get(from) ?? [])];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(deps.get(id) ?? []));
  }
  return [...seen];
}
