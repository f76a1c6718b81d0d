import * as fs from 'fs';
import * as path from 'path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { IConstruct } from 'constructs';
import { PrincipalPattern, ProtectedRole, SentinelTvm, StoreFailureMode } from '../src';
import {
  ACCOUNT, ADMIN, ALICE, BOB, CfnResolver, IMPORTED_ROLE_ARN, P, REGION, SSO_READONLY,
  asArray, configOf, fullTvm, iamWildcardMatch, identityStatementsOf, logicalIdOf, newApp, removeOutdirs, type FullTvm,
} from './support/synth';
import { AccessRoutes } from '../src/shared/access';
import { CONFIG_ITEM_PREFIX, ConfigResourceTypes, Env, Indexes, Routes } from '../src/shared/contract';

const BUNDLE = path.join(__dirname, '..', 'assets', 'lambda', 'vend.lambda', 'index.js');

/**
 * The trust statements of the README (security model), written out literally so that the contract module cannot drift from
 * them: the TVM's account as principal, on condition that the caller is the TVM's execution role.
 */
function specTrustStatements(principal: unknown, executionRoleArn: unknown): any[] {
  const isTheTvm = { ArnEquals: { 'aws:PrincipalArn': executionRoleArn } };
  return [
    {
      Sid: 'SentinelTvmAssumeRole',
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: 'sts:AssumeRole',
      Condition: {
        'StringLike': { 'aws:RequestTag/SentinelSessionID': '????????????????', 'sts:SourceIdentity': 'sentinel.*' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['SentinelSessionID'] },
        ...isTheTvm,
      },
    },
    {
      Sid: 'SentinelTvmTagSession',
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: 'sts:TagSession',
      Condition: {
        'StringLike': { 'aws:RequestTag/SentinelSessionID': '????????????????' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['SentinelSessionID'] },
        ...isTheTvm,
      },
    },
    {
      Sid: 'SentinelTvmSetSourceIdentity',
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: 'sts:SetSourceIdentity',
      Condition: { StringLike: { 'sts:SourceIdentity': 'sentinel.*' }, ...isTheTvm },
    },
  ];
}

/** Resources of a type, as [logicalId, resource] pairs. */
function resourcesOf(template: any, type: string): Array<[string, any]> {
  return Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);
}

/** A building block of the TVM, through its escape hatch (its construct id). */
function part(tvm: SentinelTvm, id: 'Table' | 'ControlTable' | 'Api' | 'Handler' | 'ExecutionRole' | 'Enforcer' | 'Config'): IConstruct {
  return tvm.node.findChild(id);
}

/** The one resource behind a construct. */
function resourceOf(template: any, construct: Parameters<typeof logicalIdOf>[0]): any {
  const resource = template.Resources[logicalIdOf(construct)];
  if (!resource) throw new Error(`no resource ${logicalIdOf(construct)} in the template`);
  return resource;
}

/** The vending function's environment variables. */
function envOf(full: FullTvm, template = Template.fromStack(full.stack).toJSON()): Record<string, any> {
  return resourceOf(template, part(full.tvm, 'Handler')).Properties.Environment.Variables;
}

/** The configuration manifest custom resource of a TVM, as [logicalId, resource]. */
function configResourceOf(template: any, tvmId = 'Tvm'): [string, any] {
  const found = resourcesOf(template, ConfigResourceTypes.MANIFEST).filter(([id]) => id.startsWith(`${tvmId}Config`));
  if (found.length !== 1) throw new Error(`expected one ${ConfigResourceTypes.MANIFEST} ${tvmId}Config*, found ${found.length}`);
  return found[0];
}

/** The configuration document the writer makes of the manifest and its chunks, as a deployment would resolve them. */
function configDocument(template: any, tvmId = 'Tvm', resolver = new CfnResolver(template)): any {
  return configOf(template, resolver, tvmId);
}

/** The environment variables of the vending function (the enforcer's are its own). */
const VENDING_ENV = [Env.TABLE_NAME, Env.CONTROL_TABLE_NAME, Env.CONFIG_DIGEST, Env.AUDIENCES, Env.SESSION_LIFETIME_SECONDS,
  Env.DEFAULT_DURATION_SECONDS, Env.RETENTION_SECONDS, Env.STORE_FAILURE_MODE];

afterAll(removeOutdirs);

describe('GIVEN a TVM with a ProtectedRole, an owned iam.Role and an imported role as profiles', () => {
  let full: FullTvm;
  let template: any;
  let resolver: CfnResolver;

  beforeAll(() => {
    full = fullTvm();
    template = Template.fromStack(full.stack).toJSON();
    resolver = new CfnResolver(template);
  });

  describe('THEN the session table', () => {
    test('is keyed by id (string), on demand, with TTL on `ttl` and a NEW_AND_OLD_IMAGES stream', () => {
      const table = resourceOf(template, part(full.tvm, 'Table')).Properties;
      expect(table.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
      expect(table.AttributeDefinitions).toContainEqual({ AttributeName: 'id', AttributeType: 'S' });
      expect(table.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.ProvisionedThroughput).toBeUndefined();
      expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
      expect(table.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    });

    test('is encrypted at rest and has point-in-time recovery', () => {
      const table = resourceOf(template, part(full.tvm, 'Table')).Properties;
      expect(table.SSESpecification).toEqual({ SSEEnabled: true });
      expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    });

    test('is retained when it leaves the stack or is replaced', () => {
      const table = resourceOf(template, part(full.tvm, 'Table'));
      expect(table.DeletionPolicy).toBe('Retain');
      expect(table.UpdateReplacePolicy).toBe('Retain');
    });

    test('has exactly the contract GSIs, each with projection ALL and string keys', () => {
      const table = resourceOf(template, part(full.tvm, 'Table')).Properties;
      const gsis = table.GlobalSecondaryIndexes.map((g: any) => ({
        name: g.IndexName,
        partitionKey: g.KeySchema.find((k: any) => k.KeyType === 'HASH').AttributeName,
        sortKey: g.KeySchema.find((k: any) => k.KeyType === 'RANGE').AttributeName,
        projection: g.Projection,
      }));
      expect(gsis).toEqual(Indexes.map((i) => ({ ...i, projection: { ProjectionType: 'ALL' } })));
      for (const index of Indexes) {
        expect(table.AttributeDefinitions).toContainEqual({ AttributeName: index.partitionKey, AttributeType: 'S' });
        expect(table.AttributeDefinitions).toContainEqual({ AttributeName: index.sortKey, AttributeType: 'S' });
      }
    });
  });

  describe('THEN the vending function', () => {
    test('runs index.handler on nodejs22.x, arm64, as the execution role', () => {
      const fn = resourceOf(template, part(full.tvm, 'Handler')).Properties;
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
      expect(fn.Handler).toBe('index.handler');
      expect(fn.Role).toEqual({ 'Fn::GetAtt': [logicalIdOf(part(full.tvm, 'ExecutionRole')), 'Arn'] });
    });

    test('gets every contract variable: its own table, FAIL_OPEN, 12 h sessions, 15 min credentials, 30 days retention', () => {
      const env = envOf(full, template);
      expect(Object.keys(env)).toEqual(expect.arrayContaining(VENDING_ENV));
      expect(env[Env.TABLE_NAME]).toEqual({ Ref: logicalIdOf(part(full.tvm, 'Table')) });
      const [controlId] = resourcesOf(template, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('TvmControlTable'))!;
      expect(env[Env.CONTROL_TABLE_NAME]).toEqual({ Ref: controlId });
      // Identity proofs must name the API's own host.
      expect(resolver.resolve(env[Env.AUDIENCES])).toBe(`physical-${logicalIdOf(part(full.tvm, 'Api'))}.execute-api.${REGION}.amazonaws.com`);
      expect(env[Env.STORE_FAILURE_MODE]).toBe('FAIL_OPEN');
      expect(env[Env.SESSION_LIFETIME_SECONDS]).toBe(String(12 * 3600));
      expect(env[Env.DEFAULT_DURATION_SECONDS]).toBe(String(15 * 60));
      expect(env[Env.RETENTION_SECONDS]).toBe(String(30 * 24 * 3600));
    });

    test('logs to its own log group, which expires after one year', () => {
      const fn = resourceOf(template, part(full.tvm, 'Handler')).Properties;
      expect(fn.LoggingConfig.LogGroup).toEqual({ Ref: logicalIdOf(full.tvm.logGroup) });
      expect(resourceOf(template, full.tvm.logGroup).Properties.RetentionInDays).toBe(365);
    });

    test('trusts only the configuration digest the deployment wrote (so it is deployed after it, and replaced when it changes)', () => {
      const [configId] = configResourceOf(template);
      expect(envOf(full, template)[Env.CONFIG_DIGEST]).toEqual({ 'Fn::GetAtt': [configId, 'Digest'] });
    });
  });

  describe('THEN the HTTP API', () => {
    test('has exactly the contract routes plus $default', () => {
      const routeKeys = resourcesOf(template, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey).sort();
      // Without a gated profile, the access routes are not there (the access function is created with the first).
      const core = Routes.filter((r) => !AccessRoutes.some((a) => a.path === r.path && a.method === r.method));
      expect(routeKeys).toEqual([...core.map((r) => `${r.method} ${r.path}`), '$default'].sort());
    });

    test('requires SigV4 (AWS_IAM) on every route', () => {
      const routes = resourcesOf(template, 'AWS::ApiGatewayV2::Route');
      expect(routes.length).toBeGreaterThan(0);
      for (const [, route] of routes) {
        expect({ route: route.Properties.RouteKey, auth: route.Properties.AuthorizationType })
          .toEqual({ route: route.Properties.RouteKey, auth: 'AWS_IAM' });
      }
    });

    test('sends every route to the vending function with payload format 2.0', () => {
      const handlerArn = { 'Fn::GetAtt': [logicalIdOf(part(full.tvm, 'Handler')), 'Arn'] };
      for (const [, route] of resourcesOf(template, 'AWS::ApiGatewayV2::Route')) {
        const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref;
        const integration = template.Resources[integrationId].Properties;
        expect(integration).toMatchObject({ IntegrationType: 'AWS_PROXY', IntegrationUri: handlerArn, PayloadFormatVersion: '2.0' });
      }
    });

    test('serves the $default stage with auto-deploy, access logs kept one year, and throttling (50 rps, burst 100)', () => {
      const stages = resourcesOf(template, 'AWS::ApiGatewayV2::Stage');
      expect(stages).toHaveLength(1);
      const stage = stages[0][1].Properties;
      expect(stage.StageName).toBe('$default');
      expect(stage.AutoDeploy).toBe(true);
      expect(stage.ApiId).toEqual({ Ref: logicalIdOf(part(full.tvm, 'Api')) });
      expect(stage.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [logicalIdOf(full.tvm.accessLogGroup), 'Arn'] });
      const format = JSON.parse(stage.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        routeKey: '$context.routeKey',
        path: '$context.path',
        callerArn: '$context.identity.userArn',
        authError: '$context.authorizer.error',
        status: '$context.status',
      });
      expect(resourceOf(template, full.tvm.accessLogGroup).Properties.RetentionInDays).toBe(365);
      expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    });

    test('logs access under /aws/vendedlogs/ (no entry in the account\'s Logs resource policy), named per TVM and stack', () => {
      const name = resolver.resolve(resourceOf(template, full.tvm.accessLogGroup).Properties.LogGroupName);
      expect(name).toMatch(new RegExp(`^/aws/vendedlogs/apigateway/${full.tvm.tvmName}-`));
    });

    test('exposes the $default stage URL', () => {
      expect(resolver.resolve(full.stack.resolve(full.tvm.url)))
        .toBe(`https://physical-${logicalIdOf(part(full.tvm, 'Api'))}.execute-api.${REGION}.amazonaws.com/`);
    });
  });

  describe('THEN the execution role', () => {
    const STS_ACTIONS = ['sts:AssumeRole', 'sts:SetSourceIdentity', 'sts:TagSession'];

    test('is assumable by Lambda only', () => {
      const role = resourceOf(template, part(full.tvm, 'ExecutionRole')).Properties;
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    });

    test('has a fixed name under the runtime path, so executionRoleArn is known without a reference to the stack', () => {
      const role = resourceOf(template, part(full.tvm, 'ExecutionRole')).Properties;
      const name = `${full.tvm.tvmName}-vend-${REGION}`;
      expect(role.RoleName).toBe(name);
      expect(role.Path).toBe(`/sentinel-tvm-runtime/${full.tvm.tvmName}/`);
      expect(resolver.resolve(full.stack.resolve(full.tvm.executionRoleArn)))
        .toBe(`arn:aws:iam::${ACCOUNT}:role/sentinel-tvm-runtime/${full.tvm.tvmName}/${name}`);
      expect(JSON.stringify(full.stack.resolve(full.tvm.executionRoleArn))).not.toMatch(/GetAtt|"Ref":"(?!AWS::)/);
    });

    test('may assume, tag and set the source identity of exactly the three profile roles, never `*`', () => {
      const statements = identityStatementsOf(template, logicalIdOf(part(full.tvm, 'ExecutionRole')))
        .filter((s) => s.Effect === 'Allow' && asArray<string>(s.Action).some((a) => a.startsWith('sts:')));
      const actionsByRole = new Map<string, Set<string>>();
      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow');
        for (const resource of asArray(statement.Resource).map((r) => resolver.resolve(r))) {
          const actions = actionsByRole.get(resource) ?? new Set<string>();
          asArray<string>(statement.Action).forEach((a) => actions.add(a));
          actionsByRole.set(resource, actions);
        }
      }
      // ProtectedRoles live under the TVM's path, which the policy names once (hundreds of roles stay in one line).
      const protectedRoles = `arn:aws:iam::${ACCOUNT}:role/sentinel-tvm/${full.tvm.tvmName}/*`;
      const expectedRoles = [protectedRoles, resolver.arn(logicalIdOf(full.ownedRole)), IMPORTED_ROLE_ARN];
      expect([...actionsByRole.keys()].sort()).toEqual(expectedRoles.sort());
      expect(resourceOf(template, full.protectedRole).Properties.Path).toBe(`/sentinel-tvm/${full.tvm.tvmName}/`);
      expect(iamWildcardMatch(protectedRoles, `arn:aws:iam::${ACCOUNT}:role${full.protectedRole.path}Stack-ReadOnly-ABC123`)).toBe(true);
      for (const [roleArn, actions] of actionsByRole) {
        expect({ roleArn, actions: [...actions].sort() }).toEqual({ roleArn, actions: STS_ACTIONS });
      }
    });

    test('reaches DynamoDB only on its own tables and the session table\'s indexes', () => {
      const tableArn = resolver.arn(logicalIdOf(part(full.tvm, 'Table')));
      const [controlId] = resourcesOf(template, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('TvmControlTable'))!;
      const controlArn = resolver.arn(controlId);
      const allowed = [tableArn, controlArn, ...Indexes.map((i) => `${tableArn}/index/${i.name}`)];
      const statements = identityStatementsOf(template, logicalIdOf(part(full.tvm, 'ExecutionRole')))
        .filter((s) => asArray<string>(s.Action).some((a) => a.startsWith('dynamodb:')));
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(asArray<string>(statement.Action)).not.toContain('dynamodb:*');
        const resources = asArray(statement.Resource).map((r) => resolver.resolve(r));
        for (const resource of resources) expect(allowed).toContain(resource);
      }
    });

    test('may write the control table only at the page-token and grant-sealing keys and principal blocks, never the configuration', () => {
      const [controlId] = resourcesOf(template, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('TvmControlTable'))!;
      const controlArn = resolver.arn(controlId);
      const writes = identityStatementsOf(template, logicalIdOf(part(full.tvm, 'ExecutionRole')))
        .filter((s) => asArray(s.Resource).map((r) => resolver.resolve(r)).includes(controlArn))
        .filter((s) => asArray<string>(s.Action).some((a) => /Put|Update|Delete|Write/.test(a)));
      expect(writes).toEqual([{
        Action: 'dynamodb:PutItem',
        Effect: 'Allow',
        Resource: expect.anything(),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['#sentinel-tvm-token-key', '#sentinel-tvm-grant-key', 'block#*'] } },
      }]);
      expect(iamWildcardMatch('block#*', `${CONFIG_ITEM_PREFIX}0123abcd`)).toBe(false);
    });

    test('has no Allow on resource `*`; its only `*` denies STS to any code but the vending function\'s', () => {
      const statements = identityStatementsOf(template, logicalIdOf(part(full.tvm, 'ExecutionRole')));
      expect(statements.filter((s) => s.Effect === 'Allow' && asArray(s.Resource).includes('*'))).toEqual([]);
      expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([{
        Sid: 'OnlyFromItsOwnFunction',
        Effect: 'Deny',
        Action: ['sts:AssumeRole', 'sts:TagSession', 'sts:SetSourceIdentity'],
        Resource: '*',
        Condition: { ArnNotEquals: { 'lambda:SourceFunctionArn': { 'Fn::GetAtt': [logicalIdOf(part(full.tvm, 'Handler')), 'Arn'] } } },
      }]);
    });
  });

  describe('THEN the protected roles\' trust', () => {
    const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
    const bySid = (a: any, b: any): number => String(a.Sid).localeCompare(String(b.Sid));
    const executionRoleArn = (): string => resolver.resolve(full.stack.resolve(full.tvm.executionRoleArn));

    test('the ProtectedRole trusts exactly the three statements of the README security model: the account, if the caller is the '
      + 'execution role', () => {
      const doc = resolver.resolve(resourceOf(template, full.protectedRole).Properties.AssumeRolePolicyDocument);
      expect(doc.Statement.slice().sort(bySid)).toEqual(specTrustStatements(ROOT, executionRoleArn()).sort(bySid));
    });

    test('the owned iam.Role keeps its own statement and gains the three', () => {
      const doc = resolver.resolve(resourceOf(template, full.ownedRole).Properties.AssumeRolePolicyDocument);
      expect(doc.Statement[0]).toEqual({ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: ROOT } });
      expect(doc.Statement.slice(1).sort(bySid)).toEqual(specTrustStatements(ROOT, executionRoleArn()).sort(bySid));
    });

    test('the imported role cannot be changed: a synth warning on the role prints the three statements to add', () => {
      const warnings = Annotations.fromStack(full.stack)
        .findWarning('/TvmStack/Imported', Match.stringLikeRegexp('role/ExternallyManaged is not owned by this app, so its trust policy'));
      expect(warnings).toHaveLength(1);
      const message: string = warnings[0].entry.data as string;
      expect(message).toContain('[ack: cdk-sentinel-tvm:importedRole]');
      const printed = JSON.parse(message.slice(message.indexOf('[{'), message.lastIndexOf('}]') + 2));
      // The deploy-time parts (the partition) are named rather than printed as tokens.
      expect(printed.sort(bySid)).toEqual(specTrustStatements(expect.any(String), expect.stringContaining('executionRoleArn'))
        .sort(bySid));
      expect(message).not.toContain('${Token[');
    });

    test('the owned role that also trusts its account is named in a warning (L5); the ProtectedRole is not', () => {
      const warnings = Annotations.fromStack(full.stack).findWarning('*', Match.anyValue()).map((w) => w.entry.data as string);
      expect(warnings).toHaveLength(4);
      expect(warnings).toEqual(expect.arrayContaining([
        // The stack is in eu-west-1 and no forwarder sends it IAM's us-east-1 events.
        expect.stringContaining('[ack: cdk-sentinel-tvm:tamperForwarderMissing]'),
        expect.stringContaining('role/ExternallyManaged is not owned by this app: add these statements to its identity policies'),
        expect.stringContaining('role/ExternallyManaged is not owned by this app, so its trust policy cannot be changed'),
        expect.stringMatching(/^Role TvmStack\/Deploy is a profile's role but its trust policy has 1 statement\(s\) besides the TVM's/),
      ]));
      expect(warnings.join('\n')).not.toContain('ReadOnly');
    });
  });

  describe('THEN the configuration written at deploy time', () => {
    test('is written by this TVM\'s own writer function (not the stack-wide AwsCustomResource provider)', () => {
      const [, resource] = configResourceOf(template);
      const writerId = resource.Properties.ServiceToken['Fn::GetAtt'][0];
      expect(template.Resources[writerId].Type).toBe('AWS::Lambda::Function');
      expect(writerId).toMatch(/^TvmConfigWriter/);
      expect(logicalIdOf(part(full.tvm, 'Config').node.findChild('Writer'))).toBe(writerId);
      const chunks = resourcesOf(template, ConfigResourceTypes.CHUNK);
      expect(chunks.length).toBeGreaterThan(0);
      for (const [, chunk] of chunks) expect(chunk.Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [writerId, 'Arn'] });
      expect(resourcesOf(template, 'Custom::AWS')).toEqual([]);
    });

    test('the writer may write only the configuration items, into the control table', () => {
      const [, resource] = configResourceOf(template);
      const writer = template.Resources[resource.Properties.ServiceToken['Fn::GetAtt'][0]];
      const roleId = writer.Properties.Role['Fn::GetAtt'][0];
      const [controlId] = resourcesOf(template, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('TvmControlTable'))!;
      // And only from the writer's own code: a function someone else runs as this role cannot write the configuration.
      const writerArn = { 'Fn::GetAtt': [resource.Properties.ServiceToken['Fn::GetAtt'][0], 'Arn'] };
      const writes = ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
      const denies = identityStatementsOf(template, roleId).filter((st) => st.Effect === 'Deny');
      expect(denies).toEqual([{
        Sid: 'OnlyFromItsOwnFunction',
        Effect: 'Deny',
        Action: expect.arrayContaining(writes),
        Resource: '*',
        Condition: { ArnNotEquals: { 'lambda:SourceFunctionArn': writerArn } },
      }]);
      const dynamo = identityStatementsOf(template, roleId)
        .filter((st) => st.Effect === 'Allow' && asArray<string>(st.Action).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo).toEqual([{
        Action: expect.arrayContaining(writes),
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [controlId, 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${CONFIG_ITEM_PREFIX}*`] } },
      }]);
      // No write outside the configuration items: not the page-token key, not a principal block.
      const actions = dynamo.flatMap((st) => asArray<string>(st.Action));
      expect(actions.filter((a) => !/Get|Update|Delete/.test(a))).toEqual([]);
      expect(iamWildcardMatch(`${CONFIG_ITEM_PREFIX}*`, '#sentinel-tvm-token-key')).toBe(false);
      expect(iamWildcardMatch(`${CONFIG_ITEM_PREFIX}*`, 'block#arn:aws:iam::111122223333:user/alice')).toBe(false);
    });

    test('holds the admins and every profile with its role ARN, allowed principals and max duration', () => {
      const doc = configDocument(template);
      expect(doc.adminPrincipals).toEqual([ADMIN]);
      // A role that is no ProtectedRole may be assumed by others: its sessions are never introspected as active (openTrust).
      const profile = (name: string, roleArn: string, principals: string[], seconds: number, openTrust = false): any => ({
        name, roleArn, allowedPrincipals: principals, maxDurationSeconds: seconds, chainRoleArns: [], ...(openTrust ? { openTrust } : {}),
      });
      expect([...doc.profiles].sort((a: any, b: any) => a.name.localeCompare(b.name))).toEqual([
        profile('deploy', resolver.arn(logicalIdOf(full.ownedRole)), [BOB], 1800, true),
        profile('external', IMPORTED_ROLE_ARN, [ALICE], 900, true),
        profile('prod-readonly', resolver.arn(logicalIdOf(full.protectedRole)), [ALICE, SSO_READONLY], 3600),
      ]);
    });
  });
});

describe('GIVEN the Lambda bundle built into assets/', () => {
  test('WHEN the app synthesizes THEN the function\'s code asset is exactly that bundle', () => {
    expect(fs.existsSync(BUNDLE)).toBe(true);
    const full = fullTvm();
    const assembly = full.app.synth();
    const fn = resourceOf(assembly.getStackByName('TvmStack').template, part(full.tvm, 'Handler')).Properties;
    const hash = String(fn.Code.S3Key).replace(/\.zip$/, '');
    const manifestFile = fs.readdirSync(assembly.directory).find((f) => f.endsWith('.assets.json'))!;
    const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, manifestFile), 'utf8'));
    const asset = manifest.files[hash];
    expect(asset.source.packaging).toBe('zip');
    const staged = path.join(assembly.directory, asset.source.path, 'index.js');
    expect(fs.existsSync(staged)).toBe(true);
    expect(fs.readFileSync(staged).equals(fs.readFileSync(BUNDLE))).toBe(true);
  });
});

describe('GIVEN props that change the defaults', () => {
  test('WHEN storeFailureMode is FAIL_CLOSED THEN the function is told FAIL_CLOSED', () => {
    const full = fullTvm({ props: { storeFailureMode: StoreFailureMode.FAIL_CLOSED } });
    expect(envOf(full)[Env.STORE_FAILURE_MODE]).toBe('FAIL_CLOSED');
  });

  test('WHEN lifetime, default duration and retention are set THEN the function gets them in seconds', () => {
    const full = fullTvm({
      props: { sessionLifetime: Duration.hours(8), defaultCredentialDuration: Duration.minutes(30), sessionRetention: Duration.days(90) },
    });
    const env = envOf(full);
    expect(env[Env.SESSION_LIFETIME_SECONDS]).toBe('28800');
    expect(env[Env.DEFAULT_DURATION_SECONDS]).toBe('1800');
    expect(env[Env.RETENTION_SECONDS]).toBe('7776000');
  });

  test('WHEN removalPolicy is DESTROY THEN the table is deleted with the stack', () => {
    const full = fullTvm({ props: { removalPolicy: RemovalPolicy.DESTROY } });
    const table = resourceOf(Template.fromStack(full.stack).toJSON(), part(full.tvm, 'Table'));
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.UpdateReplacePolicy).toBe('Delete');
  });

  test('WHEN point-in-time recovery is disabled THEN neither table has it', () => {
    const full = fullTvm({ props: { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: false } } });
    const template = Template.fromStack(full.stack).toJSON();
    for (const id of ['Table', 'ControlTable'] as const) {
      const table = resourceOf(template, part(full.tvm, id)).Properties;
      expect({ id, pitr: table.PointInTimeRecoverySpecification }).toEqual({ id, pitr: { PointInTimeRecoveryEnabled: false } });
    }
  });

  test('WHEN a recovery period is given THEN both tables keep that many days', () => {
    const full = fullTvm({ props: { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true, recoveryPeriodInDays: 7 } } });
    const template = Template.fromStack(full.stack).toJSON();
    for (const id of ['Table', 'ControlTable'] as const) {
      expect(resourceOf(template, part(full.tvm, id)).Properties.PointInTimeRecoverySpecification)
        .toEqual({ PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 7 });
    }
  });

  test('WHEN an encryptionKey is given THEN the table uses it and the execution role may use it', () => {
    let key!: kms.Key;
    const full = fullTvm({ props: (stack) => ({ encryptionKey: (key = new kms.Key(stack, 'Key', { enableKeyRotation: true })) }) });
    const template = Template.fromStack(full.stack).toJSON();
    const keyArn = { 'Fn::GetAtt': [logicalIdOf(key), 'Arn'] };
    expect(resourceOf(template, part(full.tvm, 'Table')).Properties.SSESpecification)
      .toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn });
    const kmsStatements = identityStatementsOf(template, logicalIdOf(part(full.tvm, 'ExecutionRole')))
      .filter((s) => asArray<string>(s.Action).some((a) => a.startsWith('kms:')));
    expect(kmsStatements.length).toBeGreaterThan(0);
    const actions = kmsStatements.flatMap((s) => asArray<string>(s.Action));
    expect(actions).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*']));
    for (const statement of kmsStatements) expect(asArray(statement.Resource)).toEqual([keyArn]);
  });

  test('WHEN logRetention is one month THEN the handler and access logs expire after 30 days', () => {
    const full = fullTvm({ props: { logRetention: logs.RetentionDays.ONE_MONTH } });
    const template = Template.fromStack(full.stack).toJSON();
    expect(resourceOf(template, full.tvm.logGroup).Properties.RetentionInDays).toBe(30);
    expect(resourceOf(template, full.tvm.accessLogGroup).Properties.RetentionInDays).toBe(30);
  });

  test('WHEN throttle is set THEN the $default stage applies it to the vending routes', () => {
    const full = fullTvm({ props: { throttle: { rateLimit: 5, burstLimit: 10 } } });
    const stage = resourcesOf(Template.fromStack(full.stack).toJSON(), 'AWS::ApiGatewayV2::Stage')[0][1].Properties;
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 });
  });

  test('WHEN only the rate of sessionsThrottle is set THEN every session route takes it, with the default burst', () => {
    const full = fullTvm({ props: { sessionsThrottle: { rateLimit: 2 } } });
    const stage = resourcesOf(Template.fromStack(full.stack).toJSON(), 'AWS::ApiGatewayV2::Stage')[0][1].Properties;
    const { ['POST /introspect']: introspect, ...sessions } = stage.RouteSettings;
    // The access routes (the review route among them) get their buckets with the first gated profile.
    const core = Routes.filter((r) => !AccessRoutes.some((a) => a.path === r.path && a.method === r.method));
    expect(Object.keys(sessions).sort()).toEqual(core.filter((r) => r.path.startsWith('/sessions'))
      .map((r) => `${r.method} ${r.path}`).sort());
    for (const settings of Object.values(sessions)) expect(settings).toEqual({ ThrottlingRateLimit: 2, ThrottlingBurstLimit: 20 });
    expect(introspect).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
  });
});

describe('GIVEN a change of the configuration', () => {
  /** What CloudFormation sends the writer: the manifest's and every chunk's properties. */
  const propertiesOf = (full: FullTvm): unknown => {
    const template = Template.fromStack(full.stack).toJSON();
    return [ConfigResourceTypes.MANIFEST, ConfigResourceTypes.CHUNK]
      .flatMap((type) => resourcesOf(template, type)).map(([id, r]) => [id, r.Properties]);
  };

  test('WHEN the same app is synthesized twice THEN the writer\'s properties are the same (nothing is redeployed)', () => {
    expect(propertiesOf(fullTvm())).toEqual(propertiesOf(fullTvm()));
  });

  test('WHEN a profile is added, or only its allowed principals change, THEN the properties change: CloudFormation rewrites the '
    + 'configuration, whose new digest replaces the functions\' containers', () => {
    const withAudit = (principal: string) => {
      const full = fullTvm();
      full.tvm.addProfile('audit', { role: full.ownedRole, allowedPrincipals: [P(principal)] });
      return propertiesOf(full);
    };
    expect(withAudit(ADMIN)).not.toEqual(propertiesOf(fullTvm()));
    expect(withAudit(ADMIN)).not.toEqual(withAudit(BOB));
  });
});

describe('GIVEN a CI role', () => {
  test('WHEN grantInvoke is called THEN it may invoke every route of the $default stage but revoke and introspect, and nothing else', () => {
    const full = fullTvm();
    const ci = new iam.Role(full.stack, 'Ci', { assumedBy: new iam.AccountRootPrincipal() });
    const grant = full.tvm.grantInvoke(ci);
    expect(grant.success).toBe(true);
    const template = Template.fromStack(full.stack).toJSON();
    const resolver = new CfnResolver(template);
    const statements = identityStatementsOf(template, logicalIdOf(ci));
    expect(statements.map((s) => s.Action)).toEqual(['execute-api:Invoke']);
    const patterns = statements.flatMap((s) => asArray(s.Resource)).map((r) => resolver.resolve(r));
    const apiId = resolver.ref(logicalIdOf(part(full.tvm, 'Api')));
    const arn = (apiIdOrOther: string, stage: string, method: string, p: string): string =>
      `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiIdOrOther}/${stage}/${method}${p}`;
    const allows = (target: string): boolean => patterns.some((p) => iamWildcardMatch(p, target));
    for (const route of Routes) {
      const concrete = route.path.replace('{id}', '0123456789abcdef');
      expect({ route: `${route.method} ${concrete}`, allowed: allows(arn(apiId, '$default', route.method, concrete)) })
        .toEqual({ route: `${route.method} ${concrete}`, allowed: !concrete.endsWith('/revoke') && concrete !== '/introspect' });
    }
    expect(allows(arn('otherapi123', '$default', 'GET', '/'))).toBe(false);
    expect(allows(arn(apiId, 'prod', 'GET', '/'))).toBe(false);
  });
});

describe('GIVEN two TVMs in one stack', () => {
  let template: any;
  let a: SentinelTvm;
  let b: SentinelTvm;
  let stack: Stack;

  beforeAll(() => {
    stack = new Stack(newApp(), 'Two', { env: { account: ACCOUNT, region: REGION } });
    a = new SentinelTvm(stack, 'TvmA');
    b = new SentinelTvm(stack, 'TvmB');
    a.addProfile('readonly', { role: new ProtectedRole(stack, 'RoleA', { tvm: a }), allowedPrincipals: [P(ALICE)] });
    b.addProfile('readonly', { role: new ProtectedRole(stack, 'RoleB', { tvm: b }), allowedPrincipals: [P(BOB)] });
    template = Template.fromStack(stack).toJSON();
  });

  test('THEN each has its own tables, function, execution role and API', () => {
    expect(resourcesOf(template, 'AWS::DynamoDB::Table')).toHaveLength(4);
    expect(resourcesOf(template, 'AWS::ApiGatewayV2::Api')).toHaveLength(2);
    for (const id of ['Table', 'Handler', 'ExecutionRole'] as const) {
      expect(logicalIdOf(part(a, id))).not.toBe(logicalIdOf(part(b, id)));
    }
    const envA = resourceOf(template, part(a, 'Handler')).Properties.Environment.Variables;
    const envB = resourceOf(template, part(b, 'Handler')).Properties.Environment.Variables;
    expect(envA[Env.TABLE_NAME]).toEqual({ Ref: logicalIdOf(part(a, 'Table')) });
    expect(envB[Env.TABLE_NAME]).toEqual({ Ref: logicalIdOf(part(b, 'Table')) });
    expect(a.tvmName).not.toBe(b.tvmName);
  });

  test('THEN each writes its own configuration, with its own writer and control table', () => {
    for (const [tvm, id, principal] of [[a, 'TvmA', ALICE], [b, 'TvmB', BOB]] as const) {
      expect(configDocument(template, id).profiles[0].allowedPrincipals).toEqual([principal]);
      const writer = template.Resources[configResourceOf(template, id)[1].Properties.ServiceToken['Fn::GetAtt'][0]];
      const control = writer.Properties.Environment.Variables[Env.CONTROL_TABLE_NAME].Ref;
      expect(control).toMatch(new RegExp(`^${id}ControlTable`));
      expect(resourceOf(template, part(tvm, 'Handler')).Properties.Environment.Variables[Env.CONTROL_TABLE_NAME]).toEqual({ Ref: control });
    }
  });

  test('THEN no physical name is hard-coded but the execution roles\', each named after its own TVM, so nothing clashes on deploy', () => {
    const named: Record<string, string> = {
      'AWS::DynamoDB::Table': 'TableName',
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::IAM::Role': 'RoleName',
      'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
      'AWS::Logs::LogGroup': 'LogGroupName',
    };
    // The access log groups are named (under /aws/vendedlogs/), but each name ends with its own stack's unique id.
    const stackUnique = (name: unknown) => JSON.stringify(name).includes('{"Fn::Split":["/",{"Ref":"AWS::StackId"}]}');
    const hardCoded = Object.entries<any>(template.Resources)
      .filter(([, r]) => named[r.Type] && r.Properties?.[named[r.Type]] !== undefined && !stackUnique(r.Properties[named[r.Type]]))
      .map(([id, r]) => `${id}.${named[r.Type]}=${JSON.stringify(r.Properties[named[r.Type]])}`);
    // The execution and enforcer roles have fixed names (protected roles and spokes elsewhere name them), unique per TVM name and region.
    expect(hardCoded.sort()).toEqual([a, b].flatMap((tvm) => [
      `${logicalIdOf(part(tvm, 'ExecutionRole'))}.RoleName=${JSON.stringify(`${tvm.tvmName}-vend-${REGION}`)}`,
      `${logicalIdOf(tvm.node.findChild('Enforcer').node.findChild('Role') as any)}.RoleName=${JSON.stringify(`${tvm.tvmName}-enforce-${REGION}`)}`,
    ]).sort());
  });
});

describe('GIVEN invalid props', () => {
  const role = (stack: Stack): iam.Role => new iam.Role(stack, 'Role', { assumedBy: new iam.AccountRootPrincipal() });
  const newTvm = (props = {}): { stack: Stack; tvm: SentinelTvm } => {
    const stack = new Stack(newApp(), 'Invalid');
    return { stack, tvm: new SentinelTvm(stack, 'Tvm', props) };
  };
  /** `allowedPrincipals` as ARN patterns, wrapped when the profile is added (a malformed one fails there). */
  const addProfile = (name: string, options: { allowedPrincipals?: string[]; maxCredentialDuration?: Duration } = {}) => () => {
    const { stack, tvm } = newTvm();
    tvm.addProfile(name, { role: role(stack), ...options, allowedPrincipals: (options.allowedPrincipals ?? [ALICE]).map(P) });
  };
  const withPrincipals = (allowedPrincipals: string[]) => addProfile('prod', { allowedPrincipals });
  const maxDuration = (maxCredentialDuration: Duration) => addProfile('prod', { maxCredentialDuration });
  const construct = (props: object) => () => newTvm(props);
  const withAdmins = (patterns: string[]) => () => newTvm({ adminPrincipals: patterns.map(P) });

  test.each([
    ['the profile name has a space', addProfile('has space'), /profile name "has space"/],
    ['the profile name starts with a dash', addProfile('-leading'), /profile name "-leading"/],
    ['the profile name has 65 characters', addProfile('p'.repeat(65)), new RegExp(`profile name "${'p'.repeat(65)}"`)],
    ['the profile name is empty', addProfile(''), /profile name ""/],
    ['allowedPrincipals is empty', withPrincipals([]), /allowedPrincipals must name at least one/],
    ['an allowed principal is not an ARN', withPrincipals(['alice']), /pattern "alice" is not valid/],
    ['an allowed principal is an S3 ARN', withPrincipals(['arn:aws:s3:::bucket']), /pattern "arn:aws:s3:::bucket" is not valid/],
    ['an allowed principal has a 5-digit account', withPrincipals(['arn:aws:iam::12345:user/x']), /"arn:aws:iam::12345:user\/x" is not valid/],
    ['an allowed principal is a bare wildcard', withPrincipals([`arn:aws:iam::${ACCOUNT}:*`]), /"arn:aws:iam::\d{12}:\*" is not valid/],
    ['the second allowed principal is a federated user (a name the caller chooses)',
      withPrincipals([ALICE, `arn:aws:sts::${ACCOUNT}:federated-user/bob`]), /allowedPrincipals\[1\] "arn:aws:sts::\d{12}:federated-user\/bob"/],
    ['an allowed principal has a wildcard account', withPrincipals(['arn:aws:iam::*:user/alice']), /allowedPrincipals\[0\] "arn:aws:iam::\*:user/],
    ['maxCredentialDuration is 10 minutes', maxDuration(Duration.minutes(10)), /maxCredentialDuration is 10 minutes/],
    ['maxCredentialDuration is 2 hours', maxDuration(Duration.hours(2)), /maxCredentialDuration is 2 hours/],
    ['defaultCredentialDuration is 5 minutes', construct({ defaultCredentialDuration: Duration.minutes(5) }), /defaultCredentialDuration is 5 min/],
    ['defaultCredentialDuration is 2 hours', construct({ defaultCredentialDuration: Duration.hours(2) }), /defaultCredentialDuration is 2 hours/],
    ['sessionLifetime is 1 minute', construct({ sessionLifetime: Duration.minutes(1) }), /sessionLifetime is 1 minute/],
    ['sessionLifetime is 30 days', construct({ sessionLifetime: Duration.days(30) }), /sessionLifetime is 30 days/],
    ['the throttle rate is 0', construct({ throttle: { rateLimit: 0 } }), /throttle\.rateLimit is 0/],
    ['the throttle rate is negative', construct({ throttle: { rateLimit: -5 } }), /throttle\.rateLimit is -5/],
    ['the throttle burst is 0', construct({ throttle: { burstLimit: 0 } }), /throttle\.burstLimit is 0/],
    ['an admin principal is not an ARN', withAdmins(['bob']), /pattern "bob" is not valid/],
    ['an admin principal is a bare wildcard', withAdmins([`arn:aws:sts::${ACCOUNT}:*`]), /"arn:aws:sts::\d{12}:\*" is not valid/],
    ['an admin principal is a federated user', withAdmins([`arn:aws:sts::${ACCOUNT}:federated-user/ops`]), /adminPrincipals\[0\] "arn:aws:sts::/],
    ['an admin principal is a string (a JavaScript caller of the old API)', construct({ adminPrincipals: [ADMIN] }),
      /adminPrincipals\[0\] "arn:aws:iam::\d{12}:role\/SecurityOps": expected a PrincipalPattern/],
  ])('fails when %s', (_case, act, message) => {
    expect(act).toThrow(message);
  });

  test('fails when an allowed principal is a string (a JavaScript caller of the old API), naming the profile and index', () => {
    const { stack, tvm } = newTvm();
    expect(() => tvm.addProfile('prod', { role: role(stack), allowedPrincipals: [P(ALICE), BOB as unknown as PrincipalPattern] }))
      .toThrow(/addProfile\("prod"\)\.allowedPrincipals\[1\] "arn:aws:iam::\d{12}:user\/bob": expected a PrincipalPattern/);
  });

  test('fails when a profile name is used twice', () => {
    const { stack, tvm } = newTvm();
    const r = role(stack);
    tvm.addProfile('prod', { role: r, allowedPrincipals: [P(ALICE)] });
    expect(() => tvm.addProfile('prod', { role: r, allowedPrincipals: [P(BOB)] })).toThrow(/profile name "prod" is already defined/);
  });

  test('accepts the edges of every range: 64-character and dotted names, SSO wildcards, 15 min..1 h credentials, 7-day sessions', () => {
    const { stack, tvm } = newTvm({
      sessionLifetime: Duration.days(7),
      defaultCredentialDuration: Duration.hours(1),
      adminPrincipals: [P(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_SecurityOps_*/*`)],
    });
    const r = role(stack);
    expect(() => {
      tvm.addProfile('p'.repeat(64), { role: r, allowedPrincipals: [P(ALICE)], maxCredentialDuration: Duration.minutes(15) });
      tvm.addProfile('team_a.prod-1', {
        role: r,
        allowedPrincipals: [
          P(SSO_READONLY),
          P(`arn:aws:iam::${ACCOUNT}:user/ci-?`),
          PrincipalPattern.identityCenterPermissionSet(ACCOUNT, 'Ops', 'alice'),
        ],
      });
    }).not.toThrow();
    expect(tvm.profileNames).toEqual(['p'.repeat(64), 'team_a.prod-1']);
  });
});
