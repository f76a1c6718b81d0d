// The test matcher of EventBridge event patterns (test/support/event-pattern.ts), on the examples of the EventBridge user
// guide and of aws/event-ruler (the matcher EventBridge publishes), and on the rules of a synthesized TVM.
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { EventPatternError, matchesEventPattern, parsePattern, rulePatternsOf } from './support/event-pattern';
import { ACCOUNT, CfnResolver, fullTvm, logicalIdOf, newApp, REGION, removeOutdirs } from './support/synth';
import { SessionEvents, SessionEventTypes, type RevocationEnforcedDetail, type SessionRevokedDetail } from '../src/shared/contract';

/** The guide's EC2 state-change event. */
const EC2 = {
  'version': '0',
  'id': 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  'source': 'aws.ec2',
  'account': '012345679012',
  'time': '2017-10-02T16:24:49Z',
  'region': 'us-east-1',
  'resources': ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  'detail': { 'c-count': 5, 'd-count': 3, 'x-limit': 301.8, 'source-ip': '10.0.0.33', 'instance-id': 'i-000000aaaaaa00000', 'state': 'running' },
};

const withDetail = (detail: Record<string, unknown>) => ({ ...EC2, detail });
/** Whether `pattern` matches each of `details` (as the detail of the EC2 event). */
const onDetails = (pattern: unknown, ...details: Array<Record<string, unknown>>) => details.map((d) => matchesEventPattern(pattern, withDetail(d)));
const detail = (field: string, ...values: unknown[]) => ({ detail: { [field]: values } });

afterAll(() => removeOutdirs());

describe('GIVEN the guide\'s EC2 event and plain values', () => {
  test('THEN the guide\'s pattern matches: every field named must match, any value of a list may, other fields are ignored', () => {
    const pattern = {
      'detail-type': ['EC2 Instance State-change Notification'],
      'resources': ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
      'detail': { state: ['initializing', 'running'] },
    };
    expect(matchesEventPattern(pattern, EC2)).toBe(true);
    expect(matchesEventPattern({ ...pattern, detail: { state: ['initializing'] } }, EC2)).toBe(false);
    expect(matchesEventPattern({ ...pattern, source: ['aws.s3'] }, EC2)).toBe(false);
    // A field the event does not have never matches a value.
    expect(matchesEventPattern({ detail: { colour: ['running'] } }, EC2)).toBe(false);
  });

  test('THEN values compare with their JSON type: a number is not its string, null is not "" (null values page)', () => {
    expect(onDetails(detail('n', 5), { n: 5 }, { n: '5' }, { n: 5.0 })).toEqual([true, false, true]);
    expect(onDetails(detail('n', '5'), { n: 5 }, { n: '5' })).toEqual([false, true]);
    expect(onDetails(detail('x', 3.018e2), { x: 301.8 })).toEqual([true]);
    expect(onDetails(detail('v', ''), { v: '' }, { v: null })).toEqual([true, false]);
    expect(onDetails(detail('v', null), { v: '' }, { v: null }, {})).toEqual([false, true, false]);
    expect(onDetails(detail('b', true), { b: true }, { b: 'true' })).toEqual([true, false]);
  });

  test('THEN a pattern object matches a nested event object, never a leaf with the same name', () => {
    const pattern = { detail: { state: { name: ['running'] } } };
    expect(onDetails(pattern, { state: { name: 'running' } }, { state: 'running' }, { state: { name: 'stopped' } }))
      .toEqual([true, false, false]);
  });

  test('THEN the event is taken as the JSON PutEvents would send: undefined fields are absent', () => {
    expect(onDetails(detail('gone', { exists: false }), { gone: undefined })).toEqual([true]);
  });
});

describe('GIVEN arrays in events', () => {
  test('THEN an event array matches when it shares a value with the pattern\'s list (arrays page)', () => {
    const pattern = {
      resources: [
        'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
      ],
    };
    const event = (...resources: string[]) => ({ ...EC2, resources });
    expect(matchesEventPattern(pattern, event('arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x', pattern.resources[0]))).toBe(true);
    expect(matchesEventPattern(pattern, event('arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f'))).toBe(false);
    expect(matchesEventPattern(pattern, event())).toBe(false);
  });

  test('THEN an object pattern matches within one element of an array of objects, never across two (event-ruler)', () => {
    const employees = [
      [{ firstName: 'John', lastName: 'Doe', ids: [1234, 1000, 9999] }, { firstName: 'Anna', lastName: 'Smith' }],
      [{ firstName: 'Peter', lastName: 'Jones', ids: [] }],
    ];
    const m = (pattern: unknown) => matchesEventPattern(pattern, { employees });
    expect(m({ employees: { firstName: ['Anna'] } })).toBe(true);
    expect(m({ employees: { firstName: ['John'], ids: [1000] } })).toBe(true);
    expect(m({ employees: { firstName: ['Anna'], ids: [{ exists: false }] } })).toBe(true);
    expect(m({ employees: { firstName: ['Anna'], lastName: ['Jones'] } })).toBe(false);
    expect(m({ employees: { firstName: ['Anna'], ids: [1000] } })).toBe(false);
    expect(m({ employees: { firstName: ['Anna'], ids: [{ exists: true }] } })).toBe(false);
    expect(m({ employees: ['b'] })).toBe(false);
  });
});

describe('GIVEN string operators', () => {
  test('THEN prefix matches the start of a string, and only of a string', () => {
    expect(matchesEventPattern({ time: [{ prefix: '2017-10-02' }] }, EC2)).toBe(true);
    expect(matchesEventPattern({ time: [{ prefix: '2017-10-03' }] }, EC2)).toBe(false);
    expect(onDetails(detail('n', { prefix: '12' }), { n: '123' }, { n: 123 })).toEqual([true, false]);
  });

  test('THEN prefix with equals-ignore-case ignores the case of the start', () => {
    const pattern = detail('service', { prefix: { 'equals-ignore-case': 'EventB' } });
    expect(onDetails(pattern, { service: 'eventbridge' }, { service: 'EVENTBRIDGE' }, { service: 'xeventb' })).toEqual([true, true, false]);
  });

  test('THEN suffix matches the end, with or without equals-ignore-case', () => {
    expect(onDetails(detail('FileName', { suffix: '.png' }), { FileName: 'a.png' }, { FileName: 'a.PNG' })).toEqual([true, false]);
    expect(onDetails(detail('FileName', { suffix: { 'equals-ignore-case': '.png' } }), { FileName: 'a.PNG' }, { FileName: 'png.a' }))
      .toEqual([true, false]);
  });

  test('THEN equals-ignore-case matches the whole string in any case', () => {
    expect(onDetails(detail('name', { 'equals-ignore-case': 'alice' }), { name: 'ALICE' }, { name: 'Alice ' }, { name: 1 }))
      .toEqual([true, false, false]);
  });

  test('THEN wildcard: * is any run of characters, \\* an asterisk, \\\\ a backslash', () => {
    expect(onDetails(detail('s', { wildcard: 'Simple*Service' }), { s: 'SimpleService' }, { s: 'Simple Queue Service' }, { s: 'SimpleServices' }))
      .toEqual([true, true, false]);
    expect(onDetails(detail('s', { wildcard: '*bc' }, { wildcard: 'xy*' }), { s: 'abcbc' }, { s: 'xy' }, { s: 'bcx' })).toEqual([true, true, false]);
    expect(onDetails(detail('s', { wildcard: 'a\\*b' }), { s: 'a*b' }, { s: 'axb' })).toEqual([true, false]);
    expect(onDetails(detail('s', { wildcard: 'a\\\\*' }), { s: 'a\\tail' }, { s: 'atail' })).toEqual([true, false]);
    // Regular-expression characters are literal.
    expect(onDetails(detail('s', { wildcard: 'a.c' }), { s: 'a.c' }, { s: 'abc' })).toEqual([true, false]);
  });
});

describe('GIVEN anything-but', () => {
  test('THEN it matches any value but the ones given: a string, a number, a list of either', () => {
    expect(onDetails(detail('state', { 'anything-but': 'initializing' }), { state: 'running' }, { state: 'initializing' })).toEqual([true, false]);
    expect(onDetails(detail('x', { 'anything-but': 123 }), { x: 124 }, { x: 123 })).toEqual([true, false]);
    const states = detail('state', { 'anything-but': ['stopped', 'overloaded'] });
    expect(onDetails(states, { state: 'running' }, { state: 'stopped' }, { state: 'overloaded' })).toEqual([true, false, false]);
    expect(onDetails(detail('x', { 'anything-but': [100, 200, 300] }), { x: 301.8 }, { x: 200 })).toEqual([true, false]);
  });

  test('THEN a value of another type passes: "444" is not one of the numbers 111, 222, 333 (event-ruler)', () => {
    expect(onDetails(detail('b', { 'anything-but': [111, 222, 333] }), { b: '444' }, { b: '111' }, { b: 111 })).toEqual([true, true, false]);
    expect(onDetails(detail('b', { 'anything-but': 'x' }), { b: null }, { b: true })).toEqual([true, true]);
  });

  test('THEN it takes prefix, suffix, equals-ignore-case and wildcard, each a string or a list', () => {
    expect(onDetails(detail('Region', { 'anything-but': { prefix: 'us-' } }), { Region: 'eu-west-1' }, { Region: 'us-east-1' }))
      .toEqual([true, false]);
    expect(onDetails(detail('FileName', { 'anything-but': { suffix: ['.png', '.jpg'] } }), { FileName: 'a.gif' }, { FileName: 'a.jpg' }))
      .toEqual([true, false]);
    expect(onDetails(detail('state', { 'anything-but': { 'equals-ignore-case': 'initializing' } }), { state: 'run' }, { state: 'INITIALIZING' }))
      .toEqual([true, false]);
    expect(onDetails(detail('FilePath', { 'anything-but': { wildcard: '*/lib/*' } }), { FilePath: '/usr/bin/x' }, { FilePath: '/usr/lib/x' }))
      .toEqual([true, false]);
  });

  test('THEN a missing field, or one that is an object, never matches it: only exists: false looks at absence (event-ruler ACFinder)', () => {
    const pattern = detail('state', { 'anything-but': 'initializing' });
    expect(onDetails(pattern, {}, { state: { name: 'running' } }, { state: [] })).toEqual([false, false, false]);
    expect(onDetails(detail('state', { 'anything-but': 'initializing' }, { exists: false }), {})).toEqual([true]);
  });

  test('THEN on an event array it matches when any element is not excluded', () => {
    const pattern = detail('tags', { 'anything-but': 'banned' });
    expect(onDetails(pattern, { tags: ['banned', 'ok'] }, { tags: ['banned'] })).toEqual([true, false]);
  });
});

describe('GIVEN exists', () => {
  test('THEN exists: true needs a leaf, exists: false matches its absence', () => {
    const present = detail('c-count', { exists: true });
    const absent = detail('c-count', { exists: false });
    expect(matchesEventPattern(present, EC2)).toBe(true);
    expect(matchesEventPattern(absent, EC2)).toBe(false);
    expect(onDetails(absent, { state: ['initializing', 'running'] })).toEqual([true]);
    expect(onDetails(present, { 'c-count': null }, { 'c-count': [0] })).toEqual([true, true]);
  });

  test('THEN an object is not a leaf: exists: false matches it, exists: true does not (the guide\'s c-count example)', () => {
    const event = { 'state': ['initializing', 'running'], 'c-count': { c1: 100 } };
    expect(onDetails(detail('c-count', { exists: false }), event, { 'c-count': [] }, { 'c-count': [{ c1: 1 }] })).toEqual([true, true, true]);
    expect(onDetails(detail('c-count', { exists: true }), event, { 'c-count': [] })).toEqual([false, false]);
  });

  test('THEN exists: false under an absent parent object matches', () => {
    expect(matchesEventPattern({ detail: { inner: { x: [{ exists: false }] } } }, EC2)).toBe(true);
    expect(matchesEventPattern({ detail: { inner: { x: [{ exists: true }] } } }, EC2)).toBe(false);
  });
});

describe('GIVEN numeric and cidr', () => {
  test('THEN the guide\'s numeric pattern matches only when every range holds, on JSON numbers only', () => {
    const pattern = {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    };
    expect(matchesEventPattern(pattern, EC2)).toBe(true);
    expect(matchesEventPattern(pattern, withDetail({ ...EC2.detail, 'c-count': 6 }))).toBe(false);
    expect(matchesEventPattern(pattern, withDetail({ ...EC2.detail, 'c-count': 0 }))).toBe(false);
    expect(matchesEventPattern(pattern, withDetail({ ...EC2.detail, 'c-count': '5' }))).toBe(false);
  });

  test('THEN bounds are open or closed as written', () => {
    const values = [59999, 60000, 60001].map((delayMs) => ({ delayMs }));
    expect(onDetails(detail('delayMs', { numeric: ['>', 60000] }), ...values)).toEqual([false, false, true]);
    expect(onDetails(detail('delayMs', { numeric: ['>=', 60000] }), ...values)).toEqual([false, true, true]);
    expect(onDetails(detail('delayMs', { numeric: ['<=', 60000] }), ...values)).toEqual([true, true, false]);
    expect(onDetails(detail('delayMs', { numeric: ['>=', 59999, '<', 60001] }), ...values)).toEqual([true, true, false]);
  });

  test('THEN cidr matches IPv4 and IPv6 addresses inside the block, of strings only', () => {
    const v4 = detail('source-ip', { cidr: '10.0.0.0/24' });
    expect(matchesEventPattern(v4, EC2)).toBe(true);
    expect(onDetails(v4, { 'source-ip': '10.0.0.255' }, { 'source-ip': '10.0.1.0' }, { 'source-ip': 'x' }, { 'source-ip': '::1' }))
      .toEqual([true, false, false, false]);
    const v6 = detail('ip', { cidr: '2001:db8::/32' });
    expect(onDetails(v6, { ip: '2001:db8:0:1::42' }, { ip: '2001:db9::1' }, { ip: '10.0.0.1' })).toEqual([true, false, false]);
  });
});

describe('GIVEN $or', () => {
  const cw = { source: 'aws.cloudwatch', metricName: 'NetworkIn', namespace: 'AWS/EC2', metricType: 'MetricType', scope: 'Other' };

  test('THEN $or is an OR of its objects, ANDed with the fields beside it (event-ruler README)', () => {
    const pattern = {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    };
    expect(matchesEventPattern(pattern, cw)).toBe(true);
    expect(matchesEventPattern(pattern, { ...cw, namespace: 'AWS/S3' })).toBe(false);
    expect(matchesEventPattern(pattern, { ...cw, namespace: 'AWS/S3', metricName: 'ReadLatency' })).toBe(true);
    expect(matchesEventPattern(pattern, { ...cw, source: 'aws.ec2' })).toBe(false);
  });

  test('THEN $or at two levels are both needed, and an alternative may itself be an AND with a nested $or', () => {
    const parallel = {
      $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
      detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }] },
    };
    expect(matchesEventPattern(parallel, { ...cw, detail: { source: 'aws.cloudwatch' } })).toBe(true);
    expect(matchesEventPattern(parallel, { ...cw, detail: { source: 'aws.ec2' } })).toBe(false);
    const nested = {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['CPUUtilization', 'ReadLatency'] },
        { metricType: ['MetricType'], namespace: ['AWS/EC2', 'AWS/ES'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
        { scope: ['Service'] },
      ],
    };
    expect(matchesEventPattern(nested, { ...cw, spaceId: 1000 })).toBe(true);
    expect(matchesEventPattern(nested, cw)).toBe(false);
    expect(matchesEventPattern(nested, { ...cw, scope: 'Service' })).toBe(true);
  });

  test('THEN fields of an $or alternative and of the pattern beside it must hold in one element of an event array', () => {
    const pattern = { d: { name: ['alice'] }, $or: [{ d: { status: ['active'] } }, { d: { role: ['admin'] } }] };
    expect(matchesEventPattern(pattern, { d: [{ name: 'alice', status: 'active' }] })).toBe(true);
    expect(matchesEventPattern(pattern, { d: [{ name: 'alice' }, { status: 'active' }] })).toBe(false);
  });
});

describe('GIVEN a pattern the matcher cannot evaluate', () => {
  const refused: Array<[string, unknown, RegExp]> = [
    ['a non-object', ['source'], /a pattern is a JSON object/],
    ['an empty object', { detail: {} }, /detail: empty objects/],
    ['an empty list', { source: [] }, /source: empty arrays/],
    ['a value outside a list', { source: 'aws.ec2' }, /source: must be an object or an array/],
    ['a list in a list', { source: [['aws.ec2']] }, /source\[0\]: must be a string, number/],
    ['an unknown operator', { source: [{ contains: 'ec2' }] }, /source\[0\]\.contains: unknown operator "contains"/],
    ['an operator with two keys', { source: [{ prefix: 'a', suffix: 'b' }] }, /exactly one key, not 2/],
    ['a misplaced operator (no list)', { source: { prefix: ['aws.'] } }, /source\.prefix: "prefix" is an operator/],
    ['prefix of a number', { source: [{ prefix: 1 }] }, /source\[0\]\.prefix: must be a string/],
    ['prefix with another nested operator', { source: [{ prefix: { wildcard: 'a*' } }] }, /only \{ "equals-ignore-case"/],
    ['exists that is not a boolean', { source: [{ exists: 'yes' }] }, /must be true or false/],
    ['anything-but of mixed types', { x: [{ 'anything-but': ['a', 1] }] }, /only strings or only numbers/],
    ['anything-but of null', { x: [{ 'anything-but': null }] }, /only strings or only numbers/],
    ['anything-but of an empty prefix', { x: [{ 'anything-but': { prefix: '' } }] }, /an empty prefix is not allowed/],
    ['anything-but of exists', { x: [{ 'anything-but': { exists: true } }] }, /unsupported anything-but operator "exists"/],
    ['numeric with an unknown operator', { x: [{ numeric: ['!=', 1] }] }, /is not \["="/],
    ['numeric with the upper bound first', { x: [{ numeric: ['<', 10, '>', 0] }] }, /is not \["="/],
    ['numeric with an empty range', { x: [{ numeric: ['>', 10, '<', 10] }] }, /lower bound 10 must be below the upper bound 10/],
    ['numeric with a string bound', { x: [{ numeric: ['>', '10'] }] }, /x\[0\]\.numeric\[1\]: must be a number/],
    ['numeric beyond its range', { x: [{ numeric: ['<', 6e9] }] }, /outside numeric matching's range/],
    ['a cidr that is not a block', { ip: [{ cidr: '10.0.0.1' }] }, /not an IPv4 or IPv6 CIDR block/],
    ['a cidr prefix too long', { ip: [{ cidr: '10.0.0.0/33' }] }, /not an IPv4 or IPv6 CIDR block/],
    ['consecutive wildcards', { s: [{ wildcard: 'a**' }] }, /consecutive wildcards/],
    ['an escape of another character', { s: [{ wildcard: 'a\\b' }] }, /only \\\* and \\\\ may be escaped/],
    ['$or that is not a list', { $or: { a: ['x'] } }, /\$or: must be an array of objects/],
    ['$or of one object', { $or: [{ a: ['x'] }] }, /\$or: needs at least 2 objects/],
    ['$or of a non-object', { $or: [{ a: ['x'] }, ['b']] }, /\$or\[1\]: must be an object/],
    ['an operator name inside $or', { $or: [{ numeric: [1] }, { prefix: ['a'] }] }, /refused inside \$or/],
    ['a field given both beside and inside $or', { a: ['x'], $or: [{ a: ['y'] }, { b: ['z'] }] }, /a: the field is given twice/],
    ['a pattern that is not JSON', '{"source": [', /the pattern is not JSON/],
  ];

  test.each(refused)('refuses %s', (_name, pattern, message) => {
    expect(() => parsePattern(pattern)).toThrow(EventPatternError);
    expect(() => matchesEventPattern(pattern, EC2)).toThrow(message);
  });

  test('refuses an event that is not an object', () => {
    expect(() => matchesEventPattern({ source: ['aws.ec2'] }, ['aws.ec2'])).toThrow(/an event is a JSON object/);
    expect(() => matchesEventPattern({ source: ['aws.ec2'] }, undefined)).toThrow(/an event is a JSON object/);
  });

  test('THEN the pattern\'s JSON text is accepted, and a parsed pattern is reusable', () => {
    const parsed = parsePattern('{"source": ["aws.ec2"]}');
    expect(matchesEventPattern(parsed, EC2)).toBe(true);
    expect(parsed.matches({ ...EC2, source: 'aws.s3' })).toBe(false);
  });
});

describe('GIVEN a synthesized template', () => {
  const revokedDetail = (tvmName: string): SessionRevokedDetail => ({
    version: SessionEvents.VERSION,
    tvmName,
    sessionId: 'sess-1',
    user: 'alice',
    principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
    profile: 'prod-readonly',
    roleArn: `arn:aws:iam::${ACCOUNT}:role/ReadOnly`,
    revokedAt: '2036-01-01T00:00:00.000Z',
    revokedBy: `arn:aws:iam::${ACCOUNT}:role/SecurityOps`,
    reason: 'test',
  });
  const envelope = (detailType: string, body: object, account = ACCOUNT) => ({
    'version': '0',
    'id': '11111111-2222-3333-4444-555555555555',
    'detail-type': detailType,
    'source': SessionEvents.SOURCE,
    'account': account,
    'time': '2036-01-01T00:00:00Z',
    'region': REGION,
    'resources': [],
    'detail': body,
  });

  test('THEN rulePatternsOf lists each rule\'s pattern, and the TVM\'s rules take its own events and no one else\'s', () => {
    const { tvm, stack } = fullTvm();
    const revoked = tvm.onSessionRevoked('Revoked');
    const slow = tvm.onRevocationEnforced('Slow', { eventPattern: { detail: { delayMs: [{ numeric: ['>', 60000] }] } } });
    const template = Template.fromStack(stack).toJSON();
    const resolver = new CfnResolver(template);
    // CfnResolver has no fake for a role's RoleId (rules that spare a role's own sessions use it): one here.
    const roleIds = (_key: string, v: any) => (v?.['Fn::GetAtt']?.[1] === 'RoleId' ? `AROA${v['Fn::GetAtt'][0]}` : v);
    const rules = rulePatternsOf(template, (v) => resolver.resolve(JSON.parse(JSON.stringify(v), roleIds)));
    const ids = rules.map((r) => r.logicalId);
    expect(ids).toEqual(expect.arrayContaining([logicalIdOf(revoked), logicalIdOf(slow)]));
    // A schedule has no pattern: it is not listed.
    const schedules = Object.entries<any>(template.Resources).filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties.ScheduleExpression);
    expect(schedules.length).toBeGreaterThan(0);
    for (const [id] of schedules) expect(ids).not.toContain(id);
    const patternOf = (rule: events.Rule) => rules.find((r) => r.logicalId === logicalIdOf(rule))!.pattern;

    const event = envelope(SessionEventTypes.SESSION_REVOKED, revokedDetail(tvm.tvmName));
    expect(matchesEventPattern(patternOf(revoked), event)).toBe(true);
    expect(matchesEventPattern(patternOf(revoked), envelope(SessionEventTypes.SESSION_REVOKED, revokedDetail('another-tvm')))).toBe(false);
    const otherAccount = envelope(SessionEventTypes.SESSION_REVOKED, revokedDetail(tvm.tvmName), '444455556666');
    expect(matchesEventPattern(patternOf(revoked), otherAccount)).toBe(false);
    expect(matchesEventPattern(patternOf(revoked), envelope(SessionEventTypes.SESSION_ENDED, revokedDetail(tvm.tvmName)))).toBe(false);
    expect(matchesEventPattern(patternOf(revoked), { ...event, detail: { ...event.detail, version: SessionEvents.VERSION + 1 } })).toBe(false);

    const enforced = (delayMs: number): RevocationEnforcedDetail => ({
      version: SessionEvents.VERSION,
      tvmName: tvm.tvmName,
      sessionId: 'sess-1',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/ReadOnly`,
      account: ACCOUNT,
      mechanism: 'role-policy',
      revokedAt: '2036-01-01T00:00:00.000Z',
      enforcedAt: '2036-01-01T00:01:00.000Z',
      delayMs,
    });
    expect([60000, 60001].map((ms) => matchesEventPattern(patternOf(slow), envelope(SessionEventTypes.REVOCATION_ENFORCED, enforced(ms)))))
      .toEqual([false, true]);
  });

  test('THEN intrinsics are resolved by the resolver given, and a pattern given as JSON text is parsed', () => {
    const stack = new Stack(newApp(), 'Plain');
    const rule = new events.Rule(stack, 'Rule', { eventPattern: { source: ['app'], account: [stack.account] } });
    // CloudFormation also takes the pattern as its JSON text (the L1 construct's validation refuses it: overridden).
    const raw = new events.CfnRule(stack, 'Raw', { eventPattern: { source: ['placeholder'] } });
    raw.addPropertyOverride('EventPattern', JSON.stringify({ source: ['raw'] }));
    new events.Rule(stack, 'Schedule', { schedule: events.Schedule.rate(Duration.minutes(5)) });
    const template = Template.fromStack(stack).toJSON();
    const resolver = new CfnResolver(template);
    expect(rulePatternsOf(template, (v) => resolver.resolve(v))).toEqual([
      { logicalId: logicalIdOf(rule), pattern: { source: ['app'], account: [ACCOUNT] } },
      { logicalId: logicalIdOf(raw), pattern: { source: ['raw'] } },
    ]);
  });

  test('fails when an intrinsic is left unresolved, naming it and the rule', () => {
    const stack = new Stack(newApp(), 'Plain');
    const rule = new events.Rule(stack, 'Rule', { eventPattern: { source: ['app'], account: [stack.account] } });
    const template = Template.fromStack(stack).toJSON();
    expect(() => rulePatternsOf(template)).toThrow(`AWS::Events::Rule ${logicalIdOf(rule)}: unresolved Ref "AWS::AccountId" at account[0]`);
    // A resolver that leaves one is caught too.
    expect(() => rulePatternsOf(template, (v) => v)).toThrow(/unresolved Ref "AWS::AccountId"/);
  });

  test('fails when a rule\'s pattern is malformed, naming the rule', () => {
    const stack = new Stack(newApp(), 'Plain');
    const raw = new events.CfnRule(stack, 'Raw', { eventPattern: { source: 'app' } });
    expect(() => rulePatternsOf(Template.fromStack(stack).toJSON()))
      .toThrow(`AWS::Events::Rule ${logicalIdOf(raw)}: source: must be an object or an array`);
  });
});
