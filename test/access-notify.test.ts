// Access events for people, per profile, without a chat token: `onAccessEvent` and `AccessNotifications.chatbot`,
// evaluated on the synthesized rule (EventBridge's pattern semantics, test/support/event-pattern.ts) and its input
// transformer, applied as EventBridge applies it to an event the events function renders (hostile text included).
import { App, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { accessDisplay } from '../lambda/events/display';
import {
  AccessEventType, AccessNotifications, Approval, Approvers, PrincipalPattern, ProtectedRole, SentinelTvm,
} from '../src';
import { matchesEventPattern } from './support/event-pattern';
import { AccessEventTypes, type AccessEventDetail } from '../src/shared/access';
import { SessionEvents } from '../src/shared/contract';

const ACCOUNT = '111122223333';

function synth() {
  const app = new App();
  const stack = new Stack(app, 'S', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const tvm = new SentinelTvm(stack, 'Tvm');
  for (const name of ['prod-admin', 'billing-admin']) {
    tvm.addProfile(name, {
      role: new ProtectedRole(stack, `R-${name}`, { tvm }),
      allowedPrincipals: [PrincipalPattern.iamUser(ACCOUNT, 'alice')],
      approval: Approval.required({ approvers: Approvers.principals([PrincipalPattern.iamUser(ACCOUNT, 'bob')]) }),
    });
  }
  tvm.onAccessEvent('ProdChannel', {
    profiles: ['prod-admin'],
    eventTypes: [AccessEventType.REQUESTED, AccessEventType.BREAK_GLASS_INVOKED],
    target: AccessNotifications.chatbot(new sns.Topic(stack, 'Chat')),
  });
  const template = app.synth().getStackByName('S').template;
  const rule = Object.values<any>(template.Resources).find((r) => r.Type === 'AWS::Events::Rule' && r.Properties.Targets?.[0]?.InputTransformer);
  return { rule: rule.Properties, tvmName: tvm.tvmName };
}

/** An access event as the events function puts it, its `display` rendered from its detail. */
function accessEvent(detailType: string, profile: string, tvmName: string, reason: string) {
  const detail: Omit<AccessEventDetail, 'display'> = {
    version: SessionEvents.VERSION,
    tvmName,
    sessionId: '0123456789abcdef',
    profile,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/Admin`,
    grantKind: 'approval',
    status: 'pending',
    principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
    user: 'alice',
    requesterPerson: `iam-user:${ACCOUNT}:AIDAEXAMPLE`,
    requesterVerified: true,
    window: { requestedSeconds: 3600, notBefore: '', approvedAt: '', expiresAt: '', requestExpiresAt: '2026-12-08T10:00:00.000Z' },
    reason,
    ticket: '',
    approvals: { count: 0, required: 1, approvedBy: [] },
    changedAt: '2026-12-07T10:00:00.000Z',
  };
  return {
    'source': SessionEvents.SOURCE,
    'account': ACCOUNT,
    'detail-type': detailType,
    'detail': { ...detail, display: accessDisplay(detailType, detail) },
  };
}

/** EventBridge's input transformer: each `<name>` replaced by the JSON of the value its path selects. */
function transform(transformer: { InputPathsMap: Record<string, string>; InputTemplate: string }, event: any): string {
  let out = transformer.InputTemplate;
  for (const [name, path] of Object.entries(transformer.InputPathsMap)) {
    const value = path.replace(/^\$\./, '').split('.').reduce((v: any, k) => v?.[k], event);
    out = out.split(`<${name}>`).join(JSON.stringify(value));
  }
  return out;
}

describe('GIVEN a rule for one profile\'s requests, to AWS Chatbot', () => {
  const { rule, tvmName } = synth();

  test('THEN it matches that profile\'s requests and break-glass, and nothing of another profile or another TVM', () => {
    const pattern = rule.EventPattern;
    const hostile = 'fine';
    expect(matchesEventPattern(pattern, accessEvent(AccessEventTypes.ACCESS_REQUESTED, 'prod-admin', tvmName, hostile))).toBe(true);
    expect(matchesEventPattern(pattern, accessEvent(AccessEventTypes.BREAK_GLASS_INVOKED, 'prod-admin', tvmName, hostile))).toBe(true);
    expect(matchesEventPattern(pattern, accessEvent(AccessEventTypes.ACCESS_REQUESTED, 'billing-admin', tvmName, hostile))).toBe(false);
    expect(matchesEventPattern(pattern, accessEvent(AccessEventTypes.ACCESS_APPROVED, 'prod-admin', tvmName, hostile))).toBe(false);
    expect(matchesEventPattern(pattern, accessEvent(AccessEventTypes.ACCESS_REQUESTED, 'prod-admin', 'other-tvm', hostile))).toBe(false);
  });

  test('WHEN a requester writes links, quotes and control characters THEN the message is valid Chatbot JSON, and the text is inert', () => {
    const hostile = 'urgent <https://evil.example|approve here> [click](https://evil.example) "}],"x":"\u0007\u202e';
    const message = transform(rule.Targets[0].InputTransformer, accessEvent(AccessEventTypes.ACCESS_REQUESTED, 'prod-admin', tvmName, hostile));
    const parsed = JSON.parse(message);
    expect(parsed).toMatchObject({ version: '1.0', source: 'custom', content: { textType: 'client-markdown' }, metadata: { threadId: '0123456789abcdef' } });
    expect(Object.keys(parsed)).toEqual(['version', 'source', 'content', 'metadata']);
    expect(parsed.content.nextSteps.join(' ')).toContain('sentinel-tvm approve 0123456789abcdef');
    const text = `${parsed.content.title} ${parsed.content.description}`;
    expect(text).not.toMatch(/https?:\/\//);
    expect(text).not.toMatch(/<[^>]*\|/);
    expect(text).not.toMatch(/\]\(/);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  test('THEN the enum of access event types is the runtime\'s list', () => {
    expect(Object.values(AccessEventType).sort()).toEqual(Object.values(AccessEventTypes).sort());
  });
});
