// 200 profiles: what a real organisation has. The configuration must reach the Lambda, the TVM's policies must
// stay within IAM's limits, and the handler must authorize the last profile like the first.
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ProtectedRole, SentinelTvm } from '../src';
import { startLocalSts } from './support/local-sts';
import { ACCOUNT, createFixtureFrom, event, stsClient } from './support/tvm-fixture';
import { CONFIG_ITEM_ID } from '../src/shared/contract';

const PROFILES = 200;
const user = (i: number) => `arn:aws:iam::${ACCOUNT}:user/user${i}`;

function synth200(): { template: any; tvm: SentinelTvm } {
  const app = new App({ context: { 'aws:cdk:disable-creation-stack-traces': true } });
  const stack = new Stack(app, 'Scale', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm', {});
  for (let i = 0; i < PROFILES; i++) {
    const role = new ProtectedRole(stack, `Role${i}`, { tvm });
    tvm.addProfile(`profile-${i}`, { role, allowedPrincipals: [user(i), `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Team${i}_*/*`] });
  }
  return { template: Template.fromStack(stack).toJSON(), tvm };
}

let synthesized: ReturnType<typeof synth200>;
beforeAll(() => {
  synthesized = synth200();
});

test('THEN the Lambda environment stays far below its 4 KB limit and the policies within IAM\'s (no managed-policy overflow)', () => {
  const { template } = synthesized;
  for (const fn of Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')) {
    expect(JSON.stringify(fn.Properties.Environment?.Variables ?? {}).length).toBeLessThan(1024);
  }
  expect(Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::IAM::ManagedPolicy')).toEqual([]);
  for (const policy of Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
    // IAM counts a role's inline policies together: 10,240 characters. Tokens render longer than the ARNs they become.
    expect(JSON.stringify(policy.Properties.PolicyDocument).length).toBeLessThan(10_240);
  }
});

test('THEN the handler reads all 200 profiles from the config item and authorizes each only for its own callers', async () => {
  const { template } = synthesized;
  const fx = await createFixtureFrom(template);
  const doc = JSON.parse(String((await fx.ddb.send(new GetItemCommand({ TableName: fx.controlTableName, Key: { id: { S: CONFIG_ITEM_ID } } })))
    .Item?.document.S));
  expect(doc.profiles).toHaveLength(PROFILES);
  const sts = await startLocalSts();
  try {
    const handle = fx.handler({ sts: stsClient(sts.endpoint), log: () => undefined });
    for (const i of [0, 137, PROFILES - 1]) {
      const ok = await handle(event({ userArn: user(i), query: { profile: `profile-${i}` } }));
      expect(ok.statusCode).toBe(200);
      const denied = await handle(event({ userArn: user(i), query: { profile: `profile-${(i + 1) % PROFILES}` } }));
      expect(JSON.parse(denied.body).Code).toBe('POLICY_DENY');
    }
    const listed = JSON.parse((await handle(event({ path: '/profiles', userArn: user(PROFILES - 1) }))).body);
    expect(listed.Profiles.map((p: any) => p.Name)).toEqual([`profile-${PROFILES - 1}`]);
    expect(sts.calls.map((c) => c.roleArn.split('/').pop()!.replace(/[0-9A-F]{8}$/, ''))).toEqual(['Role0', 'Role137', 'Role199']);
  } finally {
    await sts.stop();
  }
}, 60_000);
