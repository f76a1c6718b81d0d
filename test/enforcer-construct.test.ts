// The construct's side of revocation in a whole SentinelTvm: the enforcer, its triggers, its permissions, its lease and
// the revocation cleanup of the profiles' roles. (The building block alone is tested in revocation-cleanup.test.ts.)
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { RevocationEnforcement } from '../src';
import { asArray, fullTvm, identityStatementsOf, IMPORTED_ROLE_ARN, logicalIdOf, P, removeOutdirs, type FullTvm } from './support/synth';
import { ENFORCER_LEASE_ITEM_ID, Env, REVOCATION_CLEANUP_ITEM_ID, REVOCATION_CLEANUP_RESOURCE_TYPE } from '../src/shared/contract';

afterAll(removeOutdirs);

/** The enforcer function's logical id and resource: the function with this TVM's revoked-sessions policy name. */
function enforcerOf(json: any): [string, any] {
  const found = Object.entries<any>(json.Resources)
    .filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[Env.REVOKED_POLICY_NAME]);
  if (found.length !== 1) throw new Error(`expected one enforcer function, found ${found.length}`);
  return found[0];
}
const enforcerRoleOf = (json: any): string => enforcerOf(json)[1].Properties.Role['Fn::GetAtt'][0];
const resourcesOf = (json: any, type: string) => Object.entries<any>(json.Resources).filter(([, r]) => r.Type === type);

describe('GIVEN a TVM with revocation of issued credentials (the default)', () => {
  let full: FullTvm;
  let template: Template;
  let json: any;
  beforeAll(() => {
    full = fullTvm();
    template = Template.fromStack(full.stack);
    json = template.toJSON();
  });

  test('THEN the enforcer runs on Node.js 22 arm64 with the table name and its stack id, and reserves no concurrency', () => {
    const [, fn] = enforcerOf(json);
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 60,
      Environment: { Variables: expect.objectContaining({ [Env.STACK_ID]: { Ref: 'AWS::StackId' } }) },
    });
    // Accounts with a low concurrency quota refuse any reservation: the lease serializes the runs instead.
    expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(JSON.stringify(json)).not.toContain('ReservedConcurrentExecutions');
    expect(fn.Properties.Environment.Variables[Env.TABLE_NAME]).toEqual({ Ref: expect.stringMatching(/^TvmTable/) });
  });

  test('THEN the table stream feeds it, filtered to changes into revoked', () => {
    const [fnId] = enforcerOf(json);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TvmTable'), 'StreamArn'] },
      BisectBatchOnFunctionError: true,
      FilterCriteria: {
        Filters: [
          { Pattern: JSON.stringify({ eventName: ['INSERT'], dynamodb: { NewImage: { status: { S: ['revoked'] } } } }) },
          {
            Pattern: JSON.stringify({
              eventName: ['MODIFY'],
              dynamodb: { NewImage: { status: { S: ['revoked'] } }, OldImage: { status: { S: [{ 'anything-but': ['revoked'] }] } } },
            }),
          },
        ],
      },
    });
  });

  test('THEN a schedule runs it every 5 minutes to prune', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [enforcerOf(json)[0], 'Arn'] } })],
    });
  });

  test('THEN the revocation cleanup lists every profile role of this account once, and the triggers are deleted before it runs', () => {
    const cleanups = resourcesOf(json, REVOCATION_CLEANUP_RESOURCE_TYPE);
    expect(cleanups).toHaveLength(1);
    const [cleanupId, cleanup] = cleanups[0];
    expect(cleanup.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [enforcerOf(json)[0], 'Arn'] },
      // An imported role is deleted by no stack here: it keeps its deny.
      RoleNames: [{ Ref: logicalIdOf(full.protectedRole) }, { Ref: logicalIdOf(full.ownedRole) }],
      PolicyName: full.tvm.revokedSessionsPolicyName,
    });
    // The enforcer's triggers (the events function's stream trigger is not the enforcer's: it may stay until the end).
    const triggers = [...resourcesOf(json, 'AWS::Lambda::EventSourceMapping'), ...resourcesOf(json, 'AWS::Events::Rule')]
      .filter(([, r]) => JSON.stringify(r).includes(enforcerOf(json)[0]));
    // The stream, the schedule and the two tamper-detection rules.
    expect(triggers.map(([, r]) => asArray(r.DependsOn).includes(cleanupId))).toEqual([true, true, true, true]);
  });

  test('THEN a chain target gets the cleanup too (the enforcer writes the deny there as well)', () => {
    const app = fullTvm({
      props: (stack) => ({
        profiles: [{
          name: 'chained',
          role: new iam.Role(stack, 'Hop', { assumedBy: new iam.AccountRootPrincipal() }),
          allowedPrincipals: [P('arn:aws:iam::111122223333:user/carol')],
          allowRoleChainingTo: [new iam.Role(stack, 'Target', { assumedBy: new iam.AccountRootPrincipal() })],
        }],
      }),
    });
    const appJson = Template.fromStack(app.stack).toJSON();
    const [[, cleanup]] = resourcesOf(appJson, REVOCATION_CLEANUP_RESOURCE_TYPE);
    const names = JSON.stringify(cleanup.Properties.RoleNames);
    expect(names).toMatch(/"Ref":"Hop[0-9A-F]{8}"/);
    expect(names).toMatch(/"Ref":"Target[0-9A-F]{8}"/);
  });

  test('THEN its IAM permissions reach only the protected roles of this TVM, the lease item and its own stack', () => {
    const statements = identityStatementsOf(json, enforcerRoleOf(json));
    const iamStatements = statements.filter((s) => s.Effect === 'Allow' && asArray<string>(s.Action).some((a) => a.startsWith('iam:')));
    // And only from the enforcer's own code (lambda:SourceFunctionArn): a function someone else runs as this role cannot.
    expect(statements.filter((s) => s.Effect === 'Deny').map((s) => [s.Action, s.Condition.ArnNotEquals['lambda:SourceFunctionArn']]))
      .toEqual([[['iam:GetRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:ListRolePolicies',
        'dynamodb:PutItem', 'dynamodb:DeleteItem', 'cloudformation:DescribeStacks', 'sts:AssumeRole', 'events:PutEvents'],
      { 'Fn::GetAtt': [enforcerOf(json)[0], 'Arn'] }]]);
    for (const statement of iamStatements) {
      // Its own policy, and the list of the role's others (to know how much room is left for the deny).
      expect(asArray(statement.Action).sort()).toEqual(['iam:DeleteRolePolicy', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:PutRolePolicy']);
    }
    expect(iamStatements.flatMap((st) => asArray(st.Resource))).toEqual([
      // The TVM's ProtectedRoles, by their path.
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::111122223333:role${full.tvm.protectedRolePath}*`]] },
      { 'Fn::GetAtt': [logicalIdOf(full.ownedRole), 'Arn'] },
      IMPORTED_ROLE_ARN,
    ]);
    // Writes to the control table: the lease item and the revocation cleanup's recorded roles only.
    const tableWrite = /^dynamodb:(Put|Delete|Update|BatchWrite)/;
    const writes = statements.filter((s) => s.Effect === 'Allow' && asArray<string>(s.Action).some((a) => tableWrite.test(a)));
    expect(writes).toEqual([{
      Effect: 'Allow',
      Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^TvmControlTable/), 'Arn'] },
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [ENFORCER_LEASE_ITEM_ID] } },
    }, {
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^TvmControlTable/), 'Arn'] },
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [REVOCATION_CLEANUP_ITEM_ID] } },
    }]);
    expect(statements.filter((s) => asArray<string>(s.Action).some((a) => a.startsWith('cloudformation:'))
      && s.Effect === 'Allow')).toEqual([{ Effect: 'Allow', Action: 'cloudformation:DescribeStacks', Resource: { Ref: 'AWS::StackId' } }]);
    // Nothing else may write IAM, and the only `*` is dynamodb:ListStreams, which has no resource-level permissions.
    const wildcards = statements.filter((s) => s.Effect === 'Allow' && asArray(s.Resource).includes('*'));
    expect(wildcards.flatMap((s) => asArray(s.Action))).toEqual(['dynamodb:ListStreams']);
  });

  test('THEN the vending function cannot write IAM policies', () => {
    const vendRole = Object.values<any>(json.Resources).find((r) => r.Type === 'AWS::Lambda::Function'
      && r.Properties.Environment?.Variables?.[Env.STORE_FAILURE_MODE]).Properties.Role['Fn::GetAtt'][0];
    const statements = identityStatementsOf(json, vendRole);
    expect(statements.flatMap((s) => asArray<string>(s.Action)).filter((a) => a.startsWith('iam:'))).toEqual([]);
  });
});

describe('GIVEN revocation of future vends only', () => {
  test('THEN there is no enforcer, no stream trigger, no schedule and no cleanup', () => {
    const full = fullTvm({ props: { revocation: RevocationEnforcement.futureVendsOnly() } });
    const template = Template.fromStack(full.stack);
    expect(full.tvm.enforcerRoleArn).toBeUndefined();
    // The events function's stream trigger only: no enforcer reads the stream.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: Match.stringLikeRegexp('^TvmEventsFunction') },
    });
    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs(REVOCATION_CLEANUP_RESOURCE_TYPE, 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('iam:PutRolePolicy');
  });
});

describe('GIVEN tooling that works on the table directly', () => {
  test('grantReadSessions reads the session table and its indexes; grantManageSessions goes through the API, and nothing more', () => {
    const full = fullTvm();
    const reader = new iam.Role(full.stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    const revoker = new iam.Role(full.stack, 'Revoker', { assumedBy: new iam.AccountRootPrincipal() });
    full.tvm.grantReadSessions(reader);
    full.tvm.grantManageSessions(revoker);
    const json = Template.fromStack(full.stack).toJSON();
    const actions = (role: iam.Role) => identityStatementsOf(json, logicalIdOf(role)).flatMap((s) => asArray<string>(s.Action)).sort();
    expect(actions(reader)).toEqual(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan']);
    expect([...new Set(actions(revoker))]).toEqual(['execute-api:Invoke']);
    const resources = identityStatementsOf(json, logicalIdOf(revoker)).flatMap((s) => asArray(s.Resource));
    expect(JSON.stringify(resources)).not.toContain('"*"');
  });
});
