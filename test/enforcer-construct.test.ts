// The construct's side of revocation: the enforcer, its triggers and its permissions.
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { asArray, fullTvm, identityStatementsOf, IMPORTED_ROLE_ARN, logicalIdOf, removeOutdirs, type FullTvm } from './support/synth';
import { Env } from '../src/shared/contract';

afterAll(removeOutdirs);

describe('GIVEN a TVM with revocation of issued credentials (the default)', () => {
  let full: FullTvm;
  let template: Template;
  let json: any;
  beforeAll(() => {
    full = fullTvm();
    template = Template.fromStack(full.stack);
    json = template.toJSON();
  });

  test('THEN the enforcer runs alone (reserved concurrency 1) on Node.js 22 arm64, with the table name', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalIdOf(full.tvm.enforcerRole!), 'Arn'] },
      ReservedConcurrentExecutions: 1,
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: { Variables: Match.objectLike({ [Env.TABLE_NAME]: { Ref: logicalIdOf(full.tvm.table) } }) },
    });
  });

  test('THEN the table stream feeds it, filtered to changes into revoked', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(full.tvm.enforcer!) },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(full.tvm.table), 'StreamArn'] },
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
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIdOf(full.tvm.enforcer!), 'Arn'] } })],
    });
  });

  test('THEN its IAM permissions reach only the protected roles of this TVM', () => {
    const statements = identityStatementsOf(json, logicalIdOf(full.tvm.enforcerRole!));
    const iamStatements = statements.filter((s) => s.Effect === 'Allow' && asArray<string>(s.Action).some((a) => a.startsWith('iam:')));
    // And only from the enforcer's own code (lambda:SourceFunctionArn): a function someone else runs as this role cannot.
    expect(statements.filter((s) => s.Effect === 'Deny').map((s) => [s.Action, s.Condition.ArnNotEquals['lambda:SourceFunctionArn']]))
      .toEqual([[['iam:GetRolePolicy', 'iam:PutRolePolicy', 'iam:DeleteRolePolicy', 'iam:ListRolePolicies'],
        { 'Fn::GetAtt': [logicalIdOf(full.tvm.enforcer!), 'Arn'] }]]);
    for (const statement of iamStatements) {
      // Its own policy, and the list of the role's others (to know how much room is left for the deny).
      expect(asArray(statement.Action).sort()).toEqual(['iam:DeleteRolePolicy', 'iam:GetRolePolicy', 'iam:ListRolePolicies', 'iam:PutRolePolicy']);
    }
    expect(iamStatements.flatMap((st) => asArray(st.Resource))).toEqual([
      // The TVM's ProtectedRoles, by their path.
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::111122223333:role/sentinel-tvm/${full.tvm.serviceName}/*`]] },
      { 'Fn::GetAtt': [logicalIdOf(full.ownedRole as iam.Role), 'Arn'] },
      IMPORTED_ROLE_ARN,
    ]);
    // Nothing else may write IAM, and the only `*` is dynamodb:ListStreams, which has no resource-level permissions.
    const wildcards = statements.filter((s) => s.Effect === 'Allow' && asArray(s.Resource).includes('*'));
    expect(wildcards.flatMap((s) => asArray(s.Action))).toEqual(['dynamodb:ListStreams']);
  });

  test('THEN the vending function cannot write IAM policies', () => {
    const statements = identityStatementsOf(json, logicalIdOf(full.tvm.executionRole));
    expect(statements.flatMap((s) => asArray<string>(s.Action)).filter((a) => a.startsWith('iam:'))).toEqual([]);
  });
});

describe('GIVEN revokeIssuedCredentials: false', () => {
  test('THEN there is no enforcer, no stream trigger and no schedule', () => {
    const full = fullTvm({ props: { revokeIssuedCredentials: false } });
    const template = Template.fromStack(full.stack);
    expect(full.tvm.enforcer).toBeUndefined();
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.resourceCountIs('AWS::Events::Rule', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('iam:PutRolePolicy');
  });
});

describe('GIVEN tooling that works on the table directly', () => {
  test('grantReadSessions reads the session table and its indexes; grantRevokeSessions goes through the API, and nothing more', () => {
    const full = fullTvm();
    const reader = new iam.Role(full.stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    const revoker = new iam.Role(full.stack, 'Revoker', { assumedBy: new iam.AccountRootPrincipal() });
    full.tvm.grantReadSessions(reader);
    full.tvm.grantRevokeSessions(revoker);
    const json = Template.fromStack(full.stack).toJSON();
    const actions = (role: iam.Role) => identityStatementsOf(json, logicalIdOf(role)).flatMap((s) => asArray<string>(s.Action)).sort();
    expect(actions(reader)).toEqual(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:Scan']);
    expect([...new Set(actions(revoker))]).toEqual(['execute-api:Invoke']);
    const resources = identityStatementsOf(json, logicalIdOf(revoker)).flatMap((s) => asArray(s.Resource));
    expect(JSON.stringify(resources)).not.toContain('"*"');
  });
});
