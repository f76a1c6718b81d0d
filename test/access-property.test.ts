// Random sequences of requests, approvals (by any principal, the requester's other identity included), denials,
// cancellations, withdrawals, vends, sweeps and clock steps, against the real handler on DynamoDB Local. After each step
// the invariants of gated access must hold:
//   I1 credentials only for a grant holding its required approvals by distinct verified persons other than the requester;
//   I2 no credentials outlive the grant's window;
//   I3 a terminal state never changes;
//   I5 the approval count is the number of distinct approvers, the requester never among them.
import { App, Duration, Stack } from 'aws-cdk-lib';
import fc from 'fast-check';
import { localDynamoClient } from './support/dynamodb-local';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { ACCOUNT, createFixtureFrom, event, stsClient, type Fixture } from './support/tvm-fixture';
import { localRoleId } from '../cli/local/accounts';
import { GrantStore } from '../lambda/access/grants';
import { sweep } from '../lambda/access/lifecycle';
import type { GetRole } from '../lambda/access/person';
import { accessRoutes } from '../lambda/access/routes';
import { loadConfig } from '../lambda/profiles';
import { Approval, Approvers, Justification, PrincipalPattern, ProtectedRole, SentinelTvm } from '../src';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../src/shared/access';

const SSO = (set: string, name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_${set}_0123456789abcdef/${name}`;
/** The requester, and the same person through an approvers' permission set. */
const ALICE = SSO('Developers', 'alice');
const ALICE_AS_APPROVER = SSO('Approvers', 'Alice');
const BOB = SSO('Approvers', 'bob');
const CAROL = `arn:aws:iam::${ACCOUNT}:user/approver-carol`;
/** Matches the approver patterns, but its session name is its caller's choice: never a verified person. */
const IMPOSTOR = `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_ffffffffffffffff/carol`;
const APPROVERS = [ALICE_AS_APPROVER, BOB, CAROL, IMPOSTOR];
const TERMINAL = new Set(['denied', 'cancelled', 'expired', 'revoked']);
const seed = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

const getRole: GetRole = async (name) => (name.startsWith('AWSReservedSSO_')
  ? { path: name.includes('ffffffff') ? '/' : IDENTITY_CENTER_ROLE_PATH_PREFIX, roleId: localRoleId(ACCOUNT, name) } : undefined);

function template(): any {
  const app = new App();
  const stack = new Stack(app, 'Fixture', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm');
  tvm.addProfile('prod', {
    role: new ProtectedRole(stack, 'ReadOnly', { tvm }),
    allowedPrincipals: [PrincipalPattern.fromArnPattern(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Developers_*/*`)],
    approval: Approval.required({
      approvers: Approvers.principals([
        PrincipalPattern.fromArnPattern(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Approvers_*/*`),
        PrincipalPattern.iamUser(ACCOUNT, 'approver-carol'),
      ]),
      minApprovals: 2,
      maxDuration: Duration.hours(2),
      pendingTimeout: Duration.hours(1),
      justification: Justification.optional(),
    }),
  });
  return app.synth().getStackByName('Fixture').template;
}

type Op =
  | { kind: 'request'; seconds: number }
  | { kind: 'approve' | 'deny' | 'withdraw'; who: number; target: number }
  | { kind: 'cancel' | 'vend' | 'end'; target: number }
  | { kind: 'sweep' }
  | { kind: 'wait'; minutes: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('request' as const), seconds: fc.constantFrom(900, 1800, 3600, 7200) }),
  fc.record({ kind: fc.constantFrom('approve' as const, 'deny' as const, 'withdraw' as const), who: fc.nat(APPROVERS.length - 1), target: fc.nat(3) }),
  fc.record({ kind: fc.constantFrom('approve' as const), who: fc.nat(APPROVERS.length - 1), target: fc.nat(3) }),
  fc.record({ kind: fc.constantFrom('cancel' as const, 'vend' as const, 'vend' as const, 'end' as const), target: fc.nat(3) }),
  fc.record({ kind: fc.constant('sweep' as const) }),
  fc.record({ kind: fc.constant('wait' as const), minutes: fc.constantFrom(5, 20, 45, 70) }),
);

let sts: LocalSts;
let fx: Fixture;
let clock = Date.parse('2026-12-07T10:00:00Z');
const now = () => new Date(clock);
let handler: (e: any) => Promise<any>;

beforeAll(async () => {
  sts = await startLocalSts();
  fx = await createFixtureFrom(template(), localDynamoClient());
  handler = fx.handler({ sts: stsClient(sts.endpoint), routes: accessRoutes(getRole, ACCOUNT), now });
});
afterAll(async () => {
  await sts?.stop();
});

const call = async (userArn: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {},
  query?: Record<string, string>) => {
  const res = await handler(event({ userArn, method, path, query, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  return { status: res.statusCode as number, body: JSON.parse(res.body) };
};

test('GIVEN random sequences of every operation THEN the invariants of gated access hold after each step', async () => {
  const config = await loadConfig(localDynamoClient(), fx.controlTableName, fx.configDigest);
  const grants = new GrantStore(localDynamoClient(), fx.tableName, fx.controlTableName);
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 18 }), async (ops) => {
    clock += 24 * 3600_000; // each run on a day of its own: its requests are not another run's
    const ids: string[] = [];
    const terminal = new Map<string, string>();
    for (const o of ops) {
      const id = 'target' in o ? ids[o.target % Math.max(ids.length, 1)] : undefined;
      switch (o.kind) {
        case 'request': {
          const r = await call(ALICE, 'POST', '/requests', { profile: 'prod', durationSeconds: o.seconds });
          if (r.status === 201) ids.push(r.body.Request.id);
          break;
        }
        case 'approve': case 'deny': case 'withdraw':
          if (id) await call(APPROVERS[o.who], 'POST', `/requests/${id}/${o.kind}`, o.kind === 'approve' ? {} : { [o.kind === 'deny' ? 'comment' : 'reason']: 'no' });
          break;
        case 'cancel':
          if (id) await call(ALICE, 'POST', `/requests/${id}/cancel`);
          break;
        case 'end':
          if (id) await call(ALICE, 'DELETE', `/sessions/${id}`);
          break;
        case 'vend': {
          if (!id) break;
          const before = sts.calls.length;
          const r = await call(ALICE, 'GET', '/', undefined, { 'x-sentinel-session-id': id }, { profile: 'prod' });
          const item = (await fx.item(id))!;
          if (r.status === 200) {
            // I1: a grant with its quorum of distinct verified persons, the requester not among them.
            const approvals = Object.values<any>(item.approvals);
            expect(approvals.length).toBeGreaterThanOrEqual(2);
            expect(new Set(approvals.map((a) => a.person)).size).toBe(approvals.length);
            for (const a of approvals) {
              expect(a.person).not.toBe(item.requester_person);
              expect(a.arn).not.toBe(IMPOSTOR);
            }
            // I2: the credentials end before the window does.
            const assumed = sts.calls.slice(before).find((c) => c.roleSessionName.includes(id))!;
            expect(clock + assumed.durationSeconds * 1000).toBeLessThanOrEqual(Date.parse(item.expires_at));
          } else {
            expect(sts.calls.slice(before).filter((c) => c.roleSessionName.includes(id))).toEqual([]);
          }
          break;
        }
        case 'sweep':
          await sweep({ grants, config: async () => config, now });
          break;
        case 'wait':
          clock += o.minutes * 60_000;
          break;
      }
      for (const known of ids) {
        const item = (await fx.item(known))!;
        // I3: terminal states are final.
        if (terminal.has(known)) expect(item.status).toBe(terminal.get(known));
        else if (TERMINAL.has(item.status)) terminal.set(known, item.status);
        // I5: the count is the approvals recorded, the requester never among them.
        expect(item.approval_count).toBe(Object.keys(item.approvals).length);
        expect(Object.values<any>(item.approvals).some((a) => a.person === item.requester_person)).toBe(false);
      }
    }
  }), { numRuns: 15, ...seed });
}, 120_000);
