// The test infrastructure itself, exercised for real: DynamoDB Local, the local STS, the summary reporter.
import * as fs from 'fs';
import {
  ConditionalCheckFailedException, DescribeTableCommand, DescribeTimeToLiveCommand, GetItemCommand, ListTablesCommand, PutItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AssumeRoleCommand, ExpiredTokenException, RegionDisabledException, STSClient } from '@aws-sdk/client-sts';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import {
  createTableFromTemplate, endpoint, ENDPOINT_VAR, localDynamoClient, startPrivateDynamoDbLocal, uniqueTableName,
} from './support/dynamodb-local';
import globalSetup, { GLOBAL_KEY, STATE_DIR } from './support/global-setup';
import { startLocalSts, type LocalSts } from './support/local-sts';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SummaryReporter = require('./support/summary-reporter.js');

const ROLE_ARN = 'arn:aws:iam::111122223333:role/tvm-test-ReadOnly';
const CREDENTIALS = { accessKeyId: 'AKIDINFRATEST', secretAccessKey: 'infra-secret' };

/** A small synthesized table like the TVM's: two GSIs, TTL, a stream; a second table when asked. */
function tableTemplate(secondTable = false): any {
  const stack = new Stack(new App(), 'Infra');
  const table = new dynamodb.Table(stack, 'Sessions', {
    partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: 'ttl',
    stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
  });
  table.addGlobalSecondaryIndex({
    indexName: 'byUser',
    partitionKey: { name: 'user', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'startedAt', type: dynamodb.AttributeType.STRING },
  });
  table.addGlobalSecondaryIndex({
    indexName: 'byStatus',
    partitionKey: { name: 'status', type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.KEYS_ONLY,
  });
  if (secondTable) {
    new dynamodb.Table(stack, 'Other', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.NUMBER },
      billingMode: dynamodb.BillingMode.PROVISIONED, // billing is forced to on-demand locally
    });
  }
  return Template.fromStack(stack).toJSON();
}

describe('DynamoDB Local', () => {
  let ddb: DynamoDBClient;
  let tableName: string;

  beforeAll(async () => {
    ddb = localDynamoClient();
    tableName = await createTableFromTemplate(tableTemplate(), uniqueTableName('infra'), ddb);
  });

  afterAll(() => ddb?.destroy());

  test('GIVEN a synthesized table WHEN created from the template THEN it has the GSIs, TTL enabled and a stream ARN', async () => {
    const { Table: t } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));

    expect(t?.TableStatus).toBe('ACTIVE');
    expect(t?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(t?.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.IndexStatus, g.Projection?.ProjectionType]).sort()).toEqual([
      ['byStatus', 'ACTIVE', 'KEYS_ONLY'],
      ['byUser', 'ACTIVE', 'ALL'],
    ]);
    expect(t?.GlobalSecondaryIndexes?.find((g) => g.IndexName === 'byUser')?.KeySchema).toEqual([
      { AttributeName: 'user', KeyType: 'HASH' }, { AttributeName: 'startedAt', KeyType: 'RANGE' },
    ]);
    expect(t?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(t?.LatestStreamArn).toMatch(new RegExp(`^arn:aws:dynamodb:.*:table/${tableName}/stream/`));
    expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });
  });

  test('GIVEN an item WHEN a conditional PutItem fails with ALL_OLD THEN the exception carries the old item', async () => {
    const old = { id: { S: 'session-1' }, status: { S: 'REVOKED' }, count: { N: '3' } };
    await ddb.send(new PutItemCommand({ TableName: tableName, Item: old }));

    const put = ddb.send(new PutItemCommand({
      TableName: tableName,
      Item: { id: { S: 'session-1' }, status: { S: 'ACTIVE' } },
      ConditionExpression: '#s = :active',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':active': { S: 'ACTIVE' } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    }));

    const err = await put.then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect(err.Item).toEqual(old);
    const now = await ddb.send(new GetItemCommand({ TableName: tableName, Key: { id: { S: 'session-1' } }, ConsistentRead: true }));
    expect(now.Item).toEqual(old);
  });

  test('GIVEN a template with two tables WHEN no logical id is given THEN it refuses; WHEN one is given THEN that table', async () => {
    const template = tableTemplate(true);
    const otherId = Object.keys(template.Resources).find((id) => id.startsWith('Other'))!;

    await expect(createTableFromTemplate(template, uniqueTableName('two'), ddb)).rejects.toThrow(/found 2 .*pass its logical id/);
    const name = await createTableFromTemplate(template, uniqueTableName('two'), ddb, otherId);

    const { Table: t } = await ddb.send(new DescribeTableCommand({ TableName: name }));
    expect(t?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(t?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t?.StreamSpecification?.StreamEnabled ?? false).toBe(false);
    await expect(createTableFromTemplate(template, uniqueTableName('two'), ddb, 'Nope')).rejects.toThrow(/Nope is not an AWS::DynamoDB::Table/);
  });

  test('GIVEN any prefix WHEN naming tables THEN names are fresh and valid for DynamoDB', () => {
    const names = [uniqueTableName('a b/c'), uniqueTableName('a b/c'), uniqueTableName('')];
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(n).toMatch(/^[a-zA-Z0-9_.-]{3,255}$/);
  });

  test('GIVEN no endpoint in the environment WHEN endpoint() is called THEN a clear error names the variable', () => {
    const saved = process.env[ENDPOINT_VAR];
    delete process.env[ENDPOINT_VAR];
    try {
      expect(() => endpoint()).toThrow(/DYNAMODB_LOCAL_ENDPOINT is not set.*globalSetup/);
    } finally {
      process.env[ENDPOINT_VAR] = saved;
    }
    expect(endpoint()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('GIVEN DYNAMODB_LOCAL_ENDPOINT is set WHEN the global setup runs THEN it starts nothing', async () => {
    const before = process.env[ENDPOINT_VAR];
    const started = (globalThis as any)[GLOBAL_KEY]; // visible here only when jest runs in band
    const stateFiles = () => (fs.existsSync(STATE_DIR) ? fs.readdirSync(STATE_DIR).sort() : []);
    const files = stateFiles();

    await globalSetup();

    expect(process.env[ENDPOINT_VAR]).toBe(before);
    expect((globalThis as any)[GLOBAL_KEY]).toBe(started);
    expect(stateFiles()).toEqual(files);
  });

  test('GIVEN a private instance WHEN it is stopped mid-test THEN its requests fail and the shared one still answers', async () => {
    const priv = await startPrivateDynamoDbLocal();
    const client = localDynamoClient(priv.endpoint, 1);
    try {
      expect(priv.endpoint).not.toBe(endpoint());
      await client.send(new ListTablesCommand({}));

      await priv.stop();

      await expect(client.send(new ListTablesCommand({}))).rejects.toThrow(/ECONNREFUSED|socket|connect/i);
      await expect(ddb.send(new ListTablesCommand({}))).resolves.toBeDefined();
      await priv.stop(); // idempotent
    } finally {
      client.destroy();
      await priv.stop();
    }
  });
});

describe('local STS', () => {
  let sts: LocalSts;
  let client: STSClient;

  beforeAll(async () => {
    sts = await startLocalSts();
    client = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
  });

  afterAll(async () => {
    client?.destroy();
    await sts?.stop();
  });

  beforeEach(() => {
    sts.calls.length = 0;
    sts.fail(undefined);
    sts.delay(0);
  });

  const assume = (input: Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]> = {}, c: STSClient = client) =>
    c.send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'tvm-0123456789abcdef-Req00001', ...input }));
  const errorOf = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e) => e);

  test('GIVEN the SDK STS client WHEN it assumes a role with tags THEN it gets credentials and the call is recorded', async () => {
    const before = Date.now();
    const out = await assume({
      DurationSeconds: 900,
      SourceIdentity: 'sentinel.alice',
      ExternalId: 'ext-1',
      Tags: [{ Key: 'SentinelSessionID', Value: '0123456789abcdef' }, { Key: 'team', Value: 'ops' }],
      TransitiveTagKeys: ['SentinelSessionID'],
    });

    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(out.Credentials?.SecretAccessKey).toHaveLength(40);
    expect(out.Credentials?.SessionToken?.length).toBeGreaterThan(100);
    expect(out.Credentials?.Expiration).toBeInstanceOf(Date);
    expect(out.Credentials!.Expiration!.getTime() - before).toBeGreaterThanOrEqual(900_000 - 1000);
    expect(out.Credentials!.Expiration!.getTime() - Date.now()).toBeLessThanOrEqual(900_000);
    expect(out.AssumedRoleUser?.Arn).toBe('arn:aws:sts::111122223333:assumed-role/tvm-test-ReadOnly/tvm-0123456789abcdef-Req00001');
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z0-9]{17}:tvm-0123456789abcdef-Req00001$/);
    expect(out.SourceIdentity).toBe('sentinel.alice');
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    expect(sts.calls).toHaveLength(1);
    expect(sts.calls[0]).toMatchObject({
      roleArn: ROLE_ARN,
      roleSessionName: 'tvm-0123456789abcdef-Req00001',
      durationSeconds: 900,
      sourceIdentity: 'sentinel.alice',
      externalId: 'ext-1',
      tags: [{ Key: 'SentinelSessionID', Value: '0123456789abcdef' }, { Key: 'team', Value: 'ops' }],
      transitiveTagKeys: ['SentinelSessionID'],
    });
    expect(sts.calls[0].raw).toMatchObject({ 'Action': 'AssumeRole', 'Version': '2011-06-15', 'Tags.member.2.Key': 'team' });
    expect(sts.calls[0].authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDINFRATEST\/\d{8}\/us-east-1\/sts\/aws4_request, /);
  });

  test('GIVEN no DurationSeconds WHEN assuming THEN the call records STS\'s default of one hour', async () => {
    const out = await assume();
    expect(sts.calls[0].durationSeconds).toBe(3600);
    expect(sts.calls[0].raw.DurationSeconds).toBeUndefined();
    expect(out.PackedPolicySize).toBeUndefined(); // no tags, no policy: nothing packed
    expect(out.SourceIdentity).toBeUndefined();
  });

  test('GIVEN an injected AccessDenied WHEN assuming THEN it surfaces as an exception named AccessDenied, until cleared', async () => {
    sts.fail({ code: 'AccessDenied', message: 'User: x is not authorized to perform: sts:AssumeRole', status: 403 });

    const err = await errorOf(assume());
    const again = await errorOf(assume());
    sts.fail(undefined);
    const ok = await assume();

    expect(err.name).toBe('AccessDenied');
    expect(err.message).toBe('User: x is not authorized to perform: sts:AssumeRole');
    expect(err.$metadata.httpStatusCode).toBe(403);
    expect(err.$fault).toBe('client');
    expect(again.name).toBe('AccessDenied');
    expect(ok.Credentials?.AccessKeyId).toBeDefined();
    expect(sts.calls).toHaveLength(3); // refused calls are recorded too
  });

  test('GIVEN injected modeled STS errors WHEN assuming THEN the SDK raises its own exception classes', async () => {
    sts.fail({ code: 'ExpiredTokenException', message: 'The security token included in the request is expired' });
    const expired = await errorOf(assume());
    sts.fail({ code: 'RegionDisabledException', message: 'STS is not activated in this region', status: 403 });
    const disabled = await errorOf(assume());

    expect(expired).toBeInstanceOf(ExpiredTokenException);
    expect(expired.name).toBe('ExpiredTokenException');
    expect(disabled).toBeInstanceOf(RegionDisabledException);
    expect(disabled.$metadata.httpStatusCode).toBe(403);
  });

  test('GIVEN an injected Throttling WHEN the SDK retries THEN every attempt reaches STS and the last error surfaces', async () => {
    const retrying = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials: CREDENTIALS, maxAttempts: 2 });
    sts.fail({ code: 'Throttling', message: 'Rate exceeded', status: 400 });
    try {
      const err = await errorOf(assume({}, retrying));
      expect(err.name).toBe('Throttling');
      expect(err.$metadata.attempts).toBe(2);
      expect(sts.calls).toHaveLength(2);
    } finally {
      retrying.destroy();
    }
  });

  test('GIVEN a SourceIdentity with ":" WHEN assuming THEN STS refuses it with a ValidationError in its own words', async () => {
    const err = await errorOf(assume({ SourceIdentity: 'sentinel:alice' }));

    expect(err.name).toBe('ValidationError');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toBe("1 validation error detected: Value 'sentinel:alice' at 'sourceIdentity' failed to satisfy constraint: "
      + 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
    expect(sts.calls[0].sourceIdentity).toBe('sentinel:alice');
  });

  test.each([
    ['a one-character RoleSessionName', { RoleSessionName: 'a' }, /at 'roleSessionName' .*greater than or equal to 2/],
    ['a 65-character RoleSessionName', { RoleSessionName: 'x'.repeat(65) }, /at 'roleSessionName' .*less than or equal to 64/],
    ['a RoleSessionName with a space', { RoleSessionName: 'tvm session' }, /at 'roleSessionName' .*regular expression/],
    ['a 65-character SourceIdentity', { SourceIdentity: 's'.repeat(65) }, /at 'sourceIdentity' .*less than or equal to 64/],
    ['DurationSeconds 899', { DurationSeconds: 899 }, /Value '899' at 'durationSeconds' .*greater than or equal to 900/],
    ['DurationSeconds 43201', { DurationSeconds: 43201 }, /Value '43201' at 'durationSeconds' .*less than or equal to 43200/],
  ])('GIVEN %s WHEN assuming THEN ValidationError', async (_what, input, message) => {
    const err = await errorOf(assume(input));
    expect(err.name).toBe('ValidationError');
    expect(err.message).toMatch(/^1 validation error detected: /);
    expect(err.message).toMatch(message);
  });

  test('GIVEN several invalid parameters WHEN assuming THEN one ValidationError lists them all', async () => {
    const err = await errorOf(assume({ RoleSessionName: 'a:b', DurationSeconds: 60 }));
    expect(err.name).toBe('ValidationError');
    expect(err.message).toMatch(/^2 validation errors detected: Value 'a:b' at 'roleSessionName'.*; Value '60' at 'durationSeconds'/);
  });

  test('GIVEN the bounds 900 and 43200 seconds and 2/64-character names WHEN assuming THEN STS accepts them', async () => {
    await assume({ DurationSeconds: 900, RoleSessionName: 'ab', SourceIdentity: 'x'.repeat(64) });
    await assume({ DurationSeconds: 43200, RoleSessionName: `a+=,.@-_${'9'.repeat(56)}` });
    expect(sts.calls.map((c) => c.durationSeconds)).toEqual([900, 43200]);
  });

  test('GIVEN tag keys differing only in case WHEN assuming THEN STS refuses the duplicate', async () => {
    const err = await errorOf(assume({ Tags: [{ Key: 'Team', Value: 'a' }, { Key: 'team', Value: 'b' }] }));
    expect(err.name).toBe('InvalidParameterValue');
  });

  test('GIVEN a role MaxSessionDuration WHEN a longer duration is asked THEN STS refuses it', async () => {
    const short = await startLocalSts({ maxSessionDurationSeconds: 3600 });
    const c = new STSClient({ region: 'us-east-1', endpoint: short.endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
    try {
      await expect(assume({ DurationSeconds: 3600 }, c)).resolves.toBeDefined();
      const err = await errorOf(assume({ DurationSeconds: 3601 }, c));
      expect(err.name).toBe('ValidationError');
      expect(err.message).toMatch(/exceeds the MaxSessionDuration/);
    } finally {
      c.destroy();
      await short.stop();
    }
  });

  test('GIVEN a delay WHEN assuming THEN the answer comes no sooner', async () => {
    sts.delay(150);
    const start = Date.now();
    await assume();
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
  });

  test('GIVEN another action WHEN it is posted THEN STS answers InvalidAction and records nothing', async () => {
    const res = await fetch(`${sts.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetSessionToken&Version=2011-06-15',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/<Code>InvalidAction<\/Code>/);
    expect(sts.calls).toHaveLength(0);
  });
});

describe('summary reporter', () => {
  const base = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, numRuntimeErrorTestSuites: 0, testResults: [] };

  test('GIVEN passing, failing, skipped and todo tests WHEN the run ends THEN one line counts them', () => {
    const line = SummaryReporter.summarize({ ...base, numPassedTests: 7, numFailedTests: 2, numPendingTests: 1, numTodoTests: 2 });
    expect(line).toBe('jest: 7 passed, 2 failed, 3 skipped');
  });

  test('GIVEN a suite that failed to compile WHEN the run ends THEN it counts as failed, never "0 failed"', () => {
    const line = SummaryReporter.summarize({
      ...base,
      numPassedTests: 4,
      numRuntimeErrorTestSuites: 1,
      testResults: [
        { numFailingTests: 0, failureMessage: null },
        { numFailingTests: 0, failureMessage: 'Test suite failed to run: TS2304', testExecError: { message: 'TS2304' } },
      ],
    });
    expect(line).toBe('jest: 4 passed, 1 failed, 0 skipped');
  });

  test('GIVEN the reporter WHEN the run completes THEN the line is printed alone on its own line', () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      new SummaryReporter({}, {}).onRunComplete(new Set(), { ...base, numPassedTests: 1 });
      expect(write).toHaveBeenCalledWith('\njest: 1 passed, 0 failed, 0 skipped\n');
    } finally {
      write.mockRestore();
    }
  });
});
