// The CloudTrail query templates shipped in queries/: their placeholders against their README, and the conditions
// that decide which events belong to a session, read out of the templates and run with JS RegExp (on the subset of
// regular expressions Logs Insights, Athena and JS share), against the contract's SourceIdentity format and against
// recorded CloudTrail events of overlapping sessions.
import * as fs from 'fs';
import * as path from 'path';
import * as fc from 'fast-check';
import { roleSessionNameFor } from '../lambda/identity';
import { CHAINED_HOP, loadCloudTrailFixture, NOISE_IDS, SESSIONS } from './support/cloudtrail-fixture';
import {
  formatSourceIdentity, parseSourceIdentity, REVOKED_SESSIONS_POLICY_NAME, revokedSessionsPolicyName, SourceIdentityKinds,
  type SourceIdentityKind,
} from '../src/shared/contract';

const QUERIES = path.join(__dirname, '..', 'queries');
const ENGINES = ['logs-insights', 'athena'] as const;
type Engine = typeof ENGINES[number];
const TEMPLATES = ['session-activity', 'user-sessions', 'tamper'] as const;
type Template = typeof TEMPLATES[number];

const fileOf = (template: Template, engine: Engine) => `${template}.${engine === 'athena' ? 'athena.sql' : 'logs-insights'}`;
const read = (file: string) => fs.readFileSync(path.join(QUERIES, file), 'utf8');
const textOf = (template: Template, engine: Engine) => read(fileOf(template, engine));
const placeholdersIn = (text: string) => new Set([...text.matchAll(/\{\{([^{}]*)\}\}/g)].map((m) => m[1]));

/** A regular expression a template marks: the one literal on the line after a comment line naming the marker. */
interface Marked {
  readonly source: string;
  readonly re: RegExp;
  /** The line that holds it (Athena names the column it extracts there: `'…', 1) AS session_id`). */
  readonly line: string;
}

/** The literals of a line: `/…/` in Logs Insights, `'…'` in SQL. */
function literalsOf(line: string, engine: Engine): string[] {
  return engine === 'athena'
    ? [...line.matchAll(/'((?:''|[^'])*)'/g)].map((m) => m[1].replace(/''/g, '\''))
    : [...line.matchAll(/\/((?:\\.|[^/\\])+)\//g)].map((m) => m[1]);
}

/** JS RegExp of a literal; a leading `(?i)` (both engines' inline flag, which JS lacks) becomes the `i` flag. */
function compile(source: string): RegExp {
  const insensitive = source.startsWith('(?i)');
  return new RegExp(insensitive ? source.slice(4) : source, insensitive ? 'i' : '');
}

function marked(template: Template, engine: Engine, marker: string): Marked[] {
  const lines = textOf(template, engine).split('\n');
  const comment = engine === 'athena' ? '--' : '#';
  const found: Marked[] = [];
  lines.forEach((line, i) => {
    if (!new RegExp(`^\\s*${comment} ${marker}\\b`).test(line)) return;
    const next = lines[i + 1] ?? '';
    const literals = literalsOf(next, engine);
    if (literals.length !== 1) throw new Error(`${fileOf(template, engine)}:${i + 2}: ${literals.length} literals after ${marker}`);
    found.push({ source: literals[0], re: compile(literals[0]), line: next });
  });
  return found;
}

/** The one regular expression a template marks so, however many lines repeat it. */
function markedOnce(template: Template, engine: Engine, marker: string): Marked[] {
  const all = marked(template, engine, marker);
  expect(all.length).toBeGreaterThan(0);
  expect(new Set(all.map((m) => m.source)).size).toBe(1);
  return all;
}

/** The same expression in both engines: Logs Insights escapes `/` and names its groups, Athena numbers them. */
const common = (source: string) => source.replace(/\\\//g, '/').replace(/\(\?<[A-Za-z]+>/g, '(');

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * What a marked expression extracts into a column, as the template does: Logs Insights by the group's name, Athena by
 * the group number of the `regexp_extract(…, '…', N) AS column` the line ends.
 */
function extractor(all: Marked[], engine: Engine, column: string): (value: string | undefined) => string | undefined {
  if (engine === 'logs-insights') {
    const m = all.find((x) => x.source.includes(`(?<${column}>`));
    if (!m) throw new Error(`no group ${column}`);
    return (value) => (value === undefined ? undefined : m.re.exec(value)?.groups?.[column]);
  }
  for (const m of all) {
    const pick = /',\s*(\d+)\)\s+AS\s+(\w+)/.exec(m.line);
    if (pick && camel(pick[2]) === column) {
      const group = Number(pick[1]);
      return (value) => (value === undefined ? undefined : m.re.exec(value)?.[group]);
    }
  }
  throw new Error(`no column ${column}`);
}

/** A template's filter, whitespace folded: the emulations below mirror exactly these conditions. */
const FILTERS: Record<Engine, Record<Exclude<Template, 'tamper'>, string[]>> = {
  'logs-insights': {
    'session-activity': [
      '(sessionId = "{{sessionId}}" and (ispresent(userIdentity.sessionContext.sourceIdentity) or ispresent(vendRole)))',
      'or (callerSessionId = "{{sessionId}}" and userIdentity.sessionContext.sourceIdentity like /^sentinel\\./)',
      'or (vendSessionId = "{{sessionId}}" and ispresent(vendRole))',
    ],
    'user-sessions': [
      'filter sessionUser = "{{user}}" and (ispresent(userIdentity.sessionContext.sourceIdentity) or ispresent(vendRole))',
      'by sessionId, sessionKind',
    ],
  },
  'athena': {
    'session-activity': [
      'WHERE (session_id = \'{{sessionId}}\' AND (caller_source_identity IS NOT NULL OR by_tvm))',
      'OR (caller_session_id = \'{{sessionId}}\' AND caller_source_identity LIKE \'sentinel.%\')',
      'OR (vend_session_id = \'{{sessionId}}\' AND by_tvm)',
    ],
    'user-sessions': [
      'WHERE session_user = \'{{user}}\' AND (caller_source_identity IS NOT NULL OR by_tvm)',
      'GROUP BY session_id, session_kind',
    ],
  },
};
const folded = (text: string) => text.replace(/\s+/g, ' ');

/** The parts of a CloudTrail record the templates read. */
interface TrailRecord {
  readonly eventID: string;
  readonly eventSource: string;
  readonly eventName: string;
  readonly recipientAccountId: string;
  readonly userIdentity?: {
    readonly arn?: string;
    readonly sessionContext?: {
      readonly sourceIdentity?: string;
      readonly sessionIssuer?: { readonly arn?: string };
    };
  };
  readonly requestParameters?: {
    readonly sourceIdentity?: string;
    readonly roleSessionName?: string;
    readonly policyName?: string;
  } | null;
}

/** One engine's session conditions, read out of its templates. */
class SessionConditions {
  readonly sessionId: (v: string | undefined) => string | undefined;
  readonly sessionUser: (v: string | undefined) => string | undefined;
  readonly sessionKind: (v: string | undefined) => string | undefined;
  readonly byTvm: RegExp;
  readonly callerSessionId: (v: string | undefined) => string | undefined;
  readonly vendSessionId: (v: string | undefined) => string | undefined;

  constructor(readonly engine: Engine) {
    const users = markedOnce('user-sessions', engine, 'session-match');
    this.sessionId = extractor(markedOnce('session-activity', engine, 'session-match'), engine, 'sessionId');
    this.sessionUser = extractor(users, engine, 'sessionUser');
    this.sessionKind = extractor(users, engine, 'sessionKind');
    this.byTvm = markedOnce('session-activity', engine, 'vend-match')[0].re;
    const legacy = marked('session-activity', engine, 'legacy-match');
    this.callerSessionId = extractor(legacy, engine, 'callerSessionId');
    this.vendSessionId = extractor(legacy, engine, 'vendSessionId');
  }

  private facts(r: TrailRecord) {
    const callerSourceIdentity = r.userIdentity?.sessionContext?.sourceIdentity;
    return {
      callerSourceIdentity,
      sourceIdentity: callerSourceIdentity ?? r.requestParameters?.sourceIdentity ?? undefined,
      byTvm: this.byTvm.test(r.userIdentity?.sessionContext?.sessionIssuer?.arn ?? ''),
    };
  }

  /** session-activity's filter. */
  inSession(r: TrailRecord, id: string): boolean {
    const f = this.facts(r);
    return (this.sessionId(f.sourceIdentity) === id && (f.callerSourceIdentity !== undefined || f.byTvm))
      || (this.callerSessionId(r.userIdentity?.arn) === id && /^sentinel\./.test(f.callerSourceIdentity ?? ''))
      || (this.vendSessionId(r.requestParameters?.roleSessionName ?? undefined) === id && f.byTvm);
  }

  /** user-sessions' filter and grouping: the number of events of each session id. */
  sessionsOf(records: readonly TrailRecord[], user: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of records) {
      const f = this.facts(r);
      if (this.sessionUser(f.sourceIdentity) !== user || !(f.callerSourceIdentity !== undefined || f.byTvm)) continue;
      const key = `${this.sessionId(f.sourceIdentity)}.${this.sessionKind(f.sourceIdentity)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

const HEX = '0123456789abcdef';
const sessionIdArb = fc.string({ unit: fc.constantFrom(...HEX), minLength: 16, maxLength: 16 });
const kindArb = fc.constantFrom<SourceIdentityKind>(...Object.values(SourceIdentityKinds));
const STS_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-';
const stsNameArb = (max: number) => fc.string({ unit: fc.constantFrom(...STS_CHARS), minLength: 1, maxLength: max });
/** A caller's last ARN segment, before the TVM makes it fit: any text, STS's characters, and names that look like parts. */
const rawUserArb = fc.oneof(fc.string({ maxLength: 70 }), stsNameArb(70),
  fc.constantFrom('alice', 'b.alice', 'a1a1a1a1a1a1a1a1.s.alice', 'alice@example.com', 'alice smith', ''));

describe('GIVEN the query templates and queries/README.md', () => {
  test('WHEN their placeholders are listed THEN each one a template uses is documented, and each documented one is used', () => {
    const used = new Set<string>();
    for (const t of TEMPLATES) for (const e of ENGINES) placeholdersIn(textOf(t, e)).forEach((p) => used.add(p));
    const documented = placeholdersIn(read('README.md'));
    expect([...used].sort()).toEqual([...documented].sort());
    expect([...used].sort()).toEqual(['endTime', 'sessionId', 'startTime', 'table', 'user']);
  });

  test.each(TEMPLATES)('WHEN %s is read THEN each engine has it, the Athena one reads {{table}} in the period only', (t) => {
    for (const e of ENGINES) expect(textOf(t, e).length).toBeGreaterThan(0);
    const sql = folded(textOf(t, 'athena'));
    expect(sql).toContain('FROM {{table}}');
    expect(sql).toContain('WHERE "timestamp" BETWEEN date_format(from_iso8601_timestamp(\'{{startTime}}\') - INTERVAL \'1\' DAY');
    expect(sql).toContain('AND from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp(\'{{startTime}}\') '
      + 'AND from_iso8601_timestamp(\'{{endTime}}\')');
  });

  test('WHEN their files are listed THEN there is nothing else in queries/', () => {
    const expected = ['README.md', ...TEMPLATES.flatMap((t) => ENGINES.map((e) => fileOf(t, e)))];
    expect(fs.readdirSync(QUERIES).sort()).toEqual(expected.sort());
  });
});

describe('GIVEN the conditions the templates mark', () => {
  const MARKERS: Array<[Template, string]> = [
    ['session-activity', 'session-match'], ['session-activity', 'vend-match'], ['session-activity', 'legacy-match'],
    ['user-sessions', 'session-match'], ['user-sessions', 'vend-match'],
    ['tamper', 'tamper-match'], ['tamper', 'runtime-match'],
  ];

  test.each(MARKERS)('WHEN %s marks %s THEN both engines have the same expressions, in the subset they share with JS', (t, marker) => {
    const [li, sql] = ENGINES.map((e) => marked(t, e, marker));
    expect(li.length).toBeGreaterThan(0);
    expect([...new Set(li.map((m) => common(m.source)))]).toEqual([...new Set(sql.map((m) => common(m.source)))]);
    for (const m of [...li, ...sql]) {
      // No lookaround, back reference, class shorthand, lazy quantifier, or inline flag but a leading (?i).
      expect(m.source).not.toMatch(/\(\?[=!]|\(\?<[=!]|\\[1-9dDwWsSbBpPk]|[+*?}]\?/);
      expect(m.source.replace(/^\(\?i\)/, '')).not.toMatch(/\(\?[a-z]/);
    }
  });

  test('WHEN the session templates parse a SourceIdentity THEN they use one expression', () => {
    const all = TEMPLATES.filter((t) => t !== 'tamper').flatMap((t) => ENGINES.flatMap((e) => marked(t, e, 'session-match')));
    expect(new Set(all.map((m) => common(m.source))).size).toBe(1);
  });

  test.each(ENGINES)('WHEN %s filters THEN its filters are those the emulation here mirrors', (engine) => {
    for (const t of ['session-activity', 'user-sessions'] as const) {
      for (const part of FILTERS[engine][t]) expect(folded(textOf(t, engine))).toContain(part);
    }
  });
});

describe.each(ENGINES)('GIVEN the %s session conditions', (engine) => {
  const c = new SessionConditions(engine);

  test('WHEN a vend sets the SourceIdentity of any session, kind and user THEN the session id, kind and user are read back '
    + 'as the contract reads them, and no other session id', () => {
    fc.assert(fc.property(sessionIdArb, sessionIdArb, kindArb, rawUserArb, (id, other, kind, user) => {
      const value = formatSourceIdentity(id, kind, user);
      const parsed = parseSourceIdentity(value)!;
      expect(c.sessionId(value)).toBe(id);
      expect(c.sessionKind(value)).toBe(kind);
      expect(c.sessionUser(value)).toBe(parsed.user);
      const record: TrailRecord = {
        eventID: 'e',
        eventSource: 'ec2.amazonaws.com',
        eventName: 'DescribeInstances',
        recipientAccountId: '111122223333',
        userIdentity: { sessionContext: { sourceIdentity: value } },
      };
      expect(c.inSession(record, id)).toBe(true);
      expect(c.inSession(record, other)).toBe(other === id);
    }), { numRuns: 300 });
  });

  test('WHEN any value of up to 64 characters is read THEN the template and the contract agree on its session and user', () => {
    const chunk = fc.oneof(fc.constant('sentinel.'), sessionIdArb, fc.constantFrom('.', 's', 'a', 'b', 'x', '.s.', '.b.'),
      stsNameArb(6), fc.constantFrom('A', 'F', ' ', ':', 'é', '\n', '/'));
    // Near misses of the format too: each part right or slightly wrong, and something after the user or not.
    const nearArb = fc.tuple(fc.constantFrom('sentinel.', 'sentinel', 'sentinel:', 'Sentinel.'),
      fc.oneof(sessionIdArb, sessionIdArb.map((x) => x.slice(1)), sessionIdArb.map((x) => `${x}0`), sessionIdArb.map((x) => x.toUpperCase())),
      fc.constantFrom('.s.', '.a.', '.b.', '.x.', '.s', '.S.', 's.'), stsNameArb(12),
      fc.constantFrom('', '', ' ', ':', '/x', 'é')).map((parts) => parts.join(''));
    const valueArb = fc.oneof(fc.array(chunk, { maxLength: 8 }).map((parts) => parts.join('')), nearArb).filter((v) => v.length <= 64);
    fc.assert(fc.property(valueArb, (value) => {
      const parsed = parseSourceIdentity(value);
      expect(c.sessionId(value)).toBe(parsed?.sessionId);
      if (parsed?.sessionId !== undefined) expect(c.sessionUser(value)).toBe(parsed.user);
    }), { numRuns: 500 });
  });

  test('refuses the SourceIdentity of an old session (sentinel.<user>) for any session', () => {
    fc.assert(fc.property(stsNameArb(55), sessionIdArb, (user, id) => {
      // Only an old user named like a new value's tail would read as one; the TVM never made such values for its ids.
      fc.pre(!/^[0-9a-f]{16}\.[sab]\./.test(user));
      expect(c.sessionId(`sentinel.${user}`)).toBeUndefined();
      const record: TrailRecord = {
        eventID: 'e',
        eventSource: 'ec2.amazonaws.com',
        eventName: 'DescribeInstances',
        recipientAccountId: '111122223333',
        userIdentity: { sessionContext: { sourceIdentity: `sentinel.${user}` } },
      };
      expect(c.inSession(record, id)).toBe(false);
    }), { numRuns: 300 });
  });

  test.each([
    'sentinel.alice', 'sentinel.4f1c2a9b0d3e5f67', 'sentinel.4f1c2a9b0d3e5f67.s', 'sentinel.4f1c2a9b0d3e5f67.s.',
    'sentinel.4F1C2A9B0D3E5F67.s.alice', 'sentinel.4f1c2a9b0d3e5f6.s.alice', 'sentinel.4f1c2a9b0d3e5f678.s.alice',
    'sentinel.4f1c2a9b0d3e5f67.x.alice', 'sentinel.4f1c2a9b0d3e5f67.S.alice', 'xsentinel.4f1c2a9b0d3e5f67.s.alice',
    'Sentinel.4f1c2a9b0d3e5f67.s.alice', 'sentinel:4f1c2a9b0d3e5f67.s.alice', 'sentinel.4f1c2a9b0d3e5f67.s.alice smith',
    'sentinel.4f1c2a9b0d3e5f67.s.alice:x',
  ])('refuses %j as a session\'s SourceIdentity', (value) => {
    expect(c.sessionId(value)).toBeUndefined();
    expect(parseSourceIdentity(value)?.sessionId).toBeUndefined();
  });

  test('WHEN a user\'s sessions are asked for THEN the user is compared whole: never a user whose name starts or ends the same', () => {
    const id = '4f1c2a9b0d3e5f67';
    for (const other of ['alice2', 'xalice', 'alice.x', 'x.alice', 'b.alice', 'Alice', 'ALICE', 'alic', 'lice', 'alice_', '_alice']) {
      const value = formatSourceIdentity(id, 's', other);
      expect(c.sessionUser(value)).toBe(other);
      expect(c.sessionUser(value) === 'alice').toBe(false);
    }
    expect(c.sessionUser(formatSourceIdentity(id, 'b', 'alice'))).toBe('alice');
    fc.assert(fc.property(sessionIdArb, kindArb, rawUserArb, rawUserArb, (sid, kind, user, other) => {
      const mine = parseSourceIdentity(formatSourceIdentity(sid, kind, user))!.user;
      const theirs = parseSourceIdentity(formatSourceIdentity(sid, kind, other))!.user;
      expect(c.sessionUser(formatSourceIdentity(sid, kind, other)) === mine).toBe(theirs === mine);
    }), { numRuns: 300 });
  });

  test('WHEN a session vended before the id was in the SourceIdentity is asked for THEN its RoleSessionName finds it, '
    + 'in the session\'s calls and the TVM\'s AssumeRole, and no other session', () => {
    const partitionArb = fc.constantFrom('aws', 'aws-cn', 'aws-us-gov');
    const accountArb = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 12, maxLength: 12 });
    fc.assert(fc.property(sessionIdArb, sessionIdArb, fc.string({ maxLength: 40 }), partitionArb, accountArb, stsNameArb(64),
      (id, other, requestId, partition, account, role) => {
        const name = roleSessionNameFor(id, requestId);
        const arn = `arn:${partition}:sts::${account}:assumed-role/${role}/${name}`;
        expect(c.callerSessionId(arn)).toBe(id);
        expect(c.vendSessionId(name)).toBe(id);
        expect(c.callerSessionId(arn.replace(id, other)) === id).toBe(other === id);
      }), { numRuns: 300 });
    const id = '4f1c2a9b0d3e5f67';
    for (const arn of [`arn:aws:iam::111122223333:user/tvm-${id}-abcd`, `arn:aws:sts::111122223333:assumed-role/R/xtvm-${id}-ab`,
      `arn:aws:sts::111122223333:assumed-role/R/tvm-${id}-abcdefghi`, `arn:aws:sts::111122223333:assumed-role/R/tvm-${id.toUpperCase()}-ab`,
      `arn:aws:sts::111122223333:assumed-role/R/tvm-${id}`, `arn:aws:sts::111122223333:federated-user/tvm-${id}-ab`]) {
      expect(c.callerSessionId(arn)).toBeUndefined();
    }
    for (const name of [`alice-tvm-${id}-ab`, `tvm-${id}-a`, `tvm-${id}-abc def`, `tvm-${id}`]) expect(c.vendSessionId(name)).toBeUndefined();
  });

  test('WHEN an AssumeRole request carries a session\'s SourceIdentity THEN only the TVM\'s vending role makes it a vend', () => {
    const tvmArb = fc.tuple(fc.constantFrom(...STS_CHARS.slice(0, 62)),
      fc.string({ unit: fc.constantFrom(...STS_CHARS.slice(0, 62), '_', '-'), maxLength: 39 })).map(([a, b]) => a + b);
    const regionArb = fc.constantFrom('eu-west-1', 'us-east-1', 'us-gov-west-1', 'ap-southeast-3', 'cn-north-1');
    fc.assert(fc.property(tvmArb, regionArb, (tvm, region) => {
      // Without a back reference (not every engine has one) the role name is not tied to the path's TVM name: a TVM
      // named `x-vend-y` would have its other roles count too; they are the TVM's own roles all the same.
      fc.pre(!tvm.includes('-vend-'));
      expect(c.byTvm.test(`arn:aws:iam::111122223333:role/sentinel-tvm-runtime/${tvm}/${tvm}-vend-${region}`)).toBe(true);
      expect(c.byTvm.test(`arn:aws:iam::111122223333:role/sentinel-tvm-runtime/${tvm}/${tvm}-enforce-${region}`)).toBe(false);
      expect(c.byTvm.test(`arn:aws:iam::111122223333:role/sentinel-tvm/${tvm}/${tvm}-vend-${region}`)).toBe(false);
      expect(c.byTvm.test(`arn:aws:iam::111122223333:role/${tvm}-vend-${region}`)).toBe(false);
      expect(c.byTvm.test(`arn:aws:iam::111122223333:role/x/sentinel-tvm-runtime/${tvm}/${tvm}-vend-${region}/y`)).toBe(false);
    }));
  });

  describe('AND the CloudTrail records of overlapping sessions, a chained hop into another account, and noise', () => {
    const records: TrailRecord[] = loadCloudTrailFixture().map((r) => r.event.CloudTrailEvent as TrailRecord);
    const noise: string[] = Object.values(NOISE_IDS);

    test.each(Object.entries(SESSIONS))('WHEN session-activity asks for session %s THEN it lists its vends, calls and hops, '
      + 'but the role account\'s copy of a hop', (_, session) => {
      const selected = records.filter((r) => c.inSession(r, session.id)).map((r) => r.eventID);
      expect(selected).toEqual(session.allIds.filter((x) => x !== CHAINED_HOP.roleAccountCopyId));
      for (const x of noise) expect(selected).not.toContain(x);
    });

    test('WHEN user-sessions asks for a user THEN each of that user\'s sessions since the change is one row', () => {
      const { A, B, C } = SESSIONS;
      expect(c.sessionsOf(records, 'alice')).toEqual({ [`${A.id}.s`]: A.allIds.length - 1, [`${B.id}.s`]: B.allIds.length });
      expect(c.sessionsOf(records, 'bob')).toEqual({ [`${C.id}.s`]: C.allIds.length });
      expect(c.sessionsOf(records, 'alic')).toEqual({});
      expect(c.sessionsOf(records, 'mallory')).toEqual({});
    });
  });
});

describe.each(ENGINES)('GIVEN the %s tamper conditions', (engine) => {
  const [policy] = markedOnce('tamper', engine, 'tamper-match');
  const [runtime] = markedOnce('tamper', engine, 'runtime-match');

  test('WHEN a TVM\'s revoked-sessions deny is written, in any case THEN it is listed; another policy is not', () => {
    expect(policy.source).toContain(`${REVOKED_SESSIONS_POLICY_NAME}-`);
    fc.assert(fc.property(stsNameArb(40), fc.constantFrom('eu-west-1', 'us-east-1', 'us-gov-west-1'), (tvm, region) => {
      const name = revokedSessionsPolicyName(tvm, region);
      expect(policy.re.test(name)).toBe(true);
      expect(policy.re.test(name.toLowerCase())).toBe(true);
      expect(policy.re.test(name.toUpperCase())).toBe(true);
      expect(policy.re.test(`x${name}`)).toBe(false);
    }));
    for (const name of [REVOKED_SESSIONS_POLICY_NAME, `${REVOKED_SESSIONS_POLICY_NAME}X-a`, 'AppPolicy', 'SentinelRevoked-a']) {
      expect(policy.re.test(name)).toBe(false);
    }
  });

  test('WHEN an actor is one of the TVM\'s own roles THEN its name is shown; a protected role is not one', () => {
    const pick = engine === 'athena' ? (v: string) => runtime.re.exec(v)?.[1] : (v: string) => runtime.re.exec(v)?.groups?.tvmRuntimeRole;
    expect(pick('arn:aws:iam::111122223333:role/sentinel-tvm-runtime/example/example-enforce-eu-west-1'))
      .toBe('example/example-enforce-eu-west-1');
    expect(pick('arn:aws:iam::111122223333:role/sentinel-tvm/example/ReadOnly')).toBeUndefined();
    expect(pick('arn:aws:iam::111122223333:role/sentinel-tvm-runtime/example')).toBeUndefined();
  });

  test('WHEN the recorded events are read THEN the enforcer\'s write of the deny is listed, and no session\'s event', () => {
    const text = folded(textOf('tamper', engine));
    const names = ['PutRolePolicy', 'DeleteRolePolicy', 'UpdateAssumeRolePolicy'];
    for (const n of names) expect(text).toContain(engine === 'athena' ? `'${n}'` : `eventName = "${n}"`);
    const records = loadCloudTrailFixture().map((r) => r.event.CloudTrailEvent as TrailRecord);
    const selected = records.filter((r) => r.eventSource === 'iam.amazonaws.com' && names.includes(r.eventName)
      && (r.eventName === 'UpdateAssumeRolePolicy' || policy.re.test(r.requestParameters?.policyName ?? ''))).map((r) => r.eventID);
    expect(selected).toContain(NOISE_IDS.enforcer);
    for (const s of Object.values(SESSIONS)) for (const x of s.allIds) expect(selected).not.toContain(x);
  });
});
