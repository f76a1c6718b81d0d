// Amazon EventBridge event patterns, evaluated locally, so tests can say which events a synthesized rule lets through.
// Semantics follow the EventBridge user guide (event patterns, comparison operators, arrays, null values); where it is
// silent, AWS's open-source matcher (aws/event-ruler: JsonRuleCompiler for syntax, ACFinder for matching) decides, and
// the comment at that spot says so. Anything the matcher does not understand throws: a test never passes on a pattern
// it could not evaluate.

/** A pattern that is not one EventBridge (or this matcher) accepts. */
export class EventPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventPatternError';
  }
}

/** A leaf of an event: what a pattern's value list is compared with. */
type Leaf = string | number | boolean | null;
type Test = (leaf: Leaf) => boolean;

/** A field whose pattern is a list: any test passing on any leaf of the event's value matches. */
interface LeafCondition {
  readonly kind: 'leaf';
  readonly tests: readonly Test[];
  readonly existsTrue: boolean;
  readonly existsFalse: boolean;
}

/** An object of the pattern, `$or` already expanded: every field must match, all in one element of an event array. */
interface ObjectCondition {
  readonly kind: 'object';
  readonly fields: ReadonlyMap<string, Condition>;
}

type Condition = LeafCondition | ObjectCondition;

/**
 * Names event-ruler reserves (its Constants.RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP). EventBridge refuses them as field
 * names inside `$or` only; this matcher refuses them everywhere, since `"source": { "prefix": [...] }` is far more
 * likely a misplaced operator than a field named "prefix".
 */
const RESERVED = new Set([
  'exactly', 'equals-ignore-case', 'prefix', 'suffix', 'anything-but', 'exists', 'wildcard', 'numeric', 'cidr',
  '=', '<', '<=', '>', '>=', 'regex', 'not-wildcard', 'not-equals-ignore-case', 'date-after', 'date-on-or-after',
  'date-before', 'date-on-or-before', 'in-date-range', 'ip-address-in-range', 'ip-address-not-in-range',
]);

/** event-ruler's numeric range (ComparableNumber): outside it a pattern is refused and an event's number never matches. */
const NUMERIC_LIMIT = 5e9;

/** A parsed pattern: the `$or` branches, each a tree of fields; reusable across events. */
export class ParsedPattern {
  constructor(private readonly branches: readonly ObjectCondition[]) {}

  /** Whether EventBridge would deliver `event` (an event as PutEvents sends it: JSON) to a rule with this pattern. */
  public matches(event: unknown): boolean {
    const json = event === undefined ? undefined : JSON.parse(JSON.stringify(event));
    if (!isObject(json)) throw new TypeError(`an event is a JSON object, not ${describe(event)}`);
    return this.branches.some((branch) => matchObject(branch, json));
  }
}

/** Parses (and validates) an event pattern; throws {@link EventPatternError}, naming the place, on anything it cannot evaluate. */
export function parsePattern(pattern: unknown): ParsedPattern {
  const json = typeof pattern === 'string' ? parseJson(pattern) : pattern;
  if (!isObject(json)) throw new EventPatternError(`a pattern is a JSON object, not ${describe(json)}`);
  return new ParsedPattern(parseObject(json, '', false));
}

/** Whether an event matches an EventBridge event pattern (an object, its JSON, or a {@link ParsedPattern}). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return (pattern instanceof ParsedPattern ? pattern : parsePattern(pattern)).matches(event);
}

/** An `AWS::Events::Rule` of a template that has an event pattern. */
export interface RulePattern {
  readonly logicalId: string;
  /** The rule's `EventPattern`, intrinsics resolved, validated by {@link parsePattern}. */
  readonly pattern: Record<string, unknown>;
}

/**
 * The event pattern of every `AWS::Events::Rule` of a synthesized template (`Template.fromStack(stack).toJSON()`), in
 * template order; rules without one (schedules) are left out. `resolve` turns the pattern's intrinsics into values (e.g.
 * `(v) => new CfnResolver(template).resolve(v)`); by default any `Ref` or `Fn::*` throws, naming it and the rule.
 */
export function rulePatternsOf(template: any, resolve: (value: unknown) => unknown = refuseIntrinsics): RulePattern[] {
  const resources = Object.entries<any>(template?.Resources ?? {});
  return resources
    .filter(([, r]) => r?.Type === 'AWS::Events::Rule' && r.Properties?.EventPattern !== undefined)
    .map(([logicalId, r]) => {
      try {
        let pattern = resolve(r.Properties.EventPattern);
        // CloudFormation takes the pattern as an object or as its JSON.
        if (typeof pattern === 'string') pattern = parseJson(pattern);
        refuseIntrinsics(pattern);
        parsePattern(pattern);
        return { logicalId, pattern: pattern as Record<string, unknown> };
      } catch (err) {
        throw new EventPatternError(`AWS::Events::Rule ${logicalId}: ${(err as Error).message}`);
      }
    });
}

/** Throws on the first `Ref` / `Fn::*` in `value`, naming it and where it is; returns `value` otherwise. */
function refuseIntrinsics(value: unknown, at = ''): unknown {
  if (Array.isArray(value)) {
    value.forEach((v, i) => refuseIntrinsics(v, `${at}[${i}]`));
  } else if (isObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'Ref' || key.startsWith('Fn::')) {
        throw new EventPatternError(`unresolved ${key} ${JSON.stringify(v)} at ${at || '(root)'}; pass a resolver`);
      }
      refuseIntrinsics(v, join(at, key));
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------------
// Parsing

/**
 * An object of the pattern as its `$or` branches (disjunctive form, as event-ruler compiles it): each branch is the
 * object's plain fields merged with one alternative of each `$or`.
 */
function parseObject(obj: Record<string, unknown>, at: string, inOr: boolean): ObjectCondition[] {
  const keys = Object.keys(obj);
  if (keys.length === 0) throw new EventPatternError(`${at || 'the pattern'}: empty objects are not allowed`);
  let branches: ObjectCondition[] = [{ kind: 'object', fields: new Map() }];
  for (const key of keys) {
    const value = obj[key];
    const here = join(at, key);
    if (key === '$or') {
      const alternatives = parseOr(value, here);
      branches = branches.flatMap((b) => alternatives.map((alt) => merge(b, alt, at)));
      continue;
    }
    if (RESERVED.has(key)) {
      throw new EventPatternError(`${here}: "${key}" is an operator, not a field name${inOr ? ' (refused inside $or)' : ''}; `
        + 'operators go inside the value list, e.g. [{ "prefix": "x" }]');
    }
    let alternatives: Condition[];
    if (Array.isArray(value)) alternatives = [parseLeaf(value, here)];
    else if (isObject(value)) alternatives = parseObject(value, here, inOr);
    else throw new EventPatternError(`${here}: must be an object or an array, not ${describe(value)}`);
    const under = (c: Condition): ObjectCondition => ({ kind: 'object', fields: new Map([[key, c]]) });
    branches = branches.flatMap((b) => alternatives.map((alt) => merge(b, under(alt), at)));
  }
  return branches;
}

/** `$or`: an array of at least two objects (event-ruler JsonRuleCompiler.parseIntoOrRelationship). */
function parseOr(value: unknown, at: string): ObjectCondition[] {
  if (!Array.isArray(value)) throw new EventPatternError(`${at}: must be an array of objects, not ${describe(value)}`);
  if (value.length < 2) throw new EventPatternError(`${at}: needs at least 2 objects, has ${value.length}`);
  return value.flatMap((alt, i) => {
    if (!isObject(alt)) throw new EventPatternError(`${at}[${i}]: must be an object, not ${describe(alt)}`);
    return parseObject(alt, `${at}[${i}]`, true);
  });
}

/** Two branches at one level, fields of both; a field given twice (as two lists, or a list and an object) is refused. */
function merge(a: ObjectCondition, b: ObjectCondition, at: string): ObjectCondition {
  const fields = new Map(a.fields);
  for (const [key, cond] of b.fields) {
    const existing = fields.get(key);
    if (!existing) {
      fields.set(key, cond);
    } else if (existing.kind === 'object' && cond.kind === 'object') {
      fields.set(key, merge(existing, cond, join(at, key)));
    } else {
      // event-ruler lets the later list override the earlier one: a silent surprise a test should not rely on.
      throw new EventPatternError(`${join(at, key)}: the field is given twice (once outside $or, or in two nested $or)`);
    }
  }
  return { kind: 'object', fields };
}

/** A field's list of values and operators. */
function parseLeaf(list: unknown[], at: string): LeafCondition {
  if (list.length === 0) throw new EventPatternError(`${at}: empty arrays are not allowed`);
  const tests: Test[] = [];
  let existsTrue = false;
  let existsFalse = false;
  list.forEach((item, i) => {
    const here = `${at}[${i}]`;
    if (item === null || typeof item === 'string' || typeof item === 'boolean') {
      tests.push((leaf) => leaf === item);
    } else if (typeof item === 'number') {
      checkFinite(item, here);
      tests.push((leaf) => leaf === item);
    } else if (isObject(item)) {
      const [op, arg] = single(item, here);
      if (op === 'exists') {
        if (typeof arg !== 'boolean') throw new EventPatternError(`${here}.exists: must be true or false, not ${describe(arg)}`);
        if (arg) existsTrue = true; else existsFalse = true;
      } else {
        tests.push(parseOperator(op, arg, `${here}.${op}`));
      }
    } else {
      throw new EventPatternError(`${here}: must be a string, number, true, false, null or an operator object, not ${describe(item)}`);
    }
  });
  return { kind: 'leaf', tests, existsTrue, existsFalse };
}

/** A value operator (every one but `exists`), as a test of one leaf. */
function parseOperator(op: string, arg: unknown, at: string): Test {
  switch (op) {
    case 'prefix':
    case 'suffix': {
      const fn = op === 'prefix' ? startsWith : endsWith;
      if (isObject(arg)) {
        const [inner, value] = single(arg, at);
        if (inner !== 'equals-ignore-case') throw new EventPatternError(`${at}: only { "equals-ignore-case": … } may be nested, not "${inner}"`);
        const s = str(value, `${at}.${inner}`).toLowerCase();
        return (leaf) => typeof leaf === 'string' && fn(leaf.toLowerCase(), s);
      }
      const s = str(arg, at);
      return (leaf) => typeof leaf === 'string' && fn(leaf, s);
    }
    case 'equals-ignore-case': {
      const s = str(arg, at);
      return (leaf) => typeof leaf === 'string' && sameIgnoringCase(leaf, s);
    }
    case 'wildcard': {
      const re = wildcard(str(arg, at), at);
      return (leaf) => typeof leaf === 'string' && re.test(leaf);
    }
    case 'numeric': return numeric(arg, at);
    case 'cidr': return cidr(arg, at);
    case 'anything-but': return anythingBut(arg, at);
    default:
      throw new EventPatternError(`${at}: unknown operator "${op}"`);
  }
}

/**
 * `anything-but`: a string or number, a list of only strings or only numbers, or one of `prefix`, `suffix`,
 * `equals-ignore-case`, `wildcard` (a string or a list of strings). It matches any leaf the excluded values do not, so
 * a leaf of another type matches (event-ruler RulerTest: `"444"` passes `anything-but [111, 222, 333]`). A missing
 * field never matches: only `exists: false` looks at absent fields (event-ruler ACFinder; the guide is silent).
 */
function anythingBut(arg: unknown, at: string): Test {
  if (isObject(arg)) {
    const [inner, value] = single(arg, at);
    if (!['prefix', 'suffix', 'equals-ignore-case', 'wildcard'].includes(inner)) {
      throw new EventPatternError(`${at}: unsupported anything-but operator "${inner}"`);
    }
    const here = `${at}.${inner}`;
    const values = (Array.isArray(value) ? value : [value]).map((v, i) => str(v, Array.isArray(value) ? `${here}[${i}]` : here));
    if (values.length === 0) throw new EventPatternError(`${here}: empty arrays are not allowed`);
    let excluded: (s: string) => boolean;
    switch (inner) {
      case 'prefix':
      case 'suffix': {
        if (values.some((v) => v === '')) throw new EventPatternError(`${here}: an empty ${inner} is not allowed`);
        const fn = inner === 'prefix' ? startsWith : endsWith;
        excluded = (s) => values.some((v) => fn(s, v));
        break;
      }
      case 'equals-ignore-case':
        excluded = (s) => values.some((v) => sameIgnoringCase(s, v));
        break;
      default: {
        const res = values.map((v) => wildcard(v, here));
        excluded = (s) => res.some((re) => re.test(s));
      }
    }
    return (leaf) => !(typeof leaf === 'string' && excluded(leaf));
  }
  const values = Array.isArray(arg) ? arg : [arg];
  if (values.length === 0) throw new EventPatternError(`${at}: empty arrays are not allowed`);
  const strings = values.every((v) => typeof v === 'string');
  const numbers = values.every((v) => typeof v === 'number');
  if (!strings && !numbers) {
    throw new EventPatternError(`${at}: must be a string, a number, or a list of only strings or only numbers, not ${JSON.stringify(arg)}`);
  }
  if (numbers) values.forEach((v) => checkNumericRange(v as number, at));
  const set = new Set<Leaf>(values as Leaf[]);
  const type = strings ? 'string' : 'number';
  return (leaf) => !(typeof leaf === type && set.has(leaf));
}

/** `numeric`: `["=", n]`, `[">" | ">=", n]`, `["<" | "<=", n]`, or a lower bound then an upper one (JsonRuleCompiler). */
function numeric(arg: unknown, at: string): Test {
  if (!Array.isArray(arg)) throw new EventPatternError(`${at}: must be an array, not ${describe(arg)}`);
  const bound = (i: number): number => {
    const n = arg[i];
    if (typeof n !== 'number') throw new EventPatternError(`${at}[${i}]: must be a number, not ${describe(n)}`);
    checkNumericRange(n, `${at}[${i}]`);
    return n;
  };
  const [op, , op2] = arg;
  let lo = -Infinity; let loOpen = true; let hi = Infinity; let hiOpen = true;
  if (op === '=' && arg.length === 2) {
    lo = bound(1); hi = lo; loOpen = false; hiOpen = false;
  } else if ((op === '<' || op === '<=') && arg.length === 2) {
    hi = bound(1); hiOpen = op === '<';
  } else if ((op === '>' || op === '>=') && (arg.length === 2 || (arg.length === 4 && (op2 === '<' || op2 === '<=')))) {
    lo = bound(1); loOpen = op === '>';
    if (arg.length === 4) {
      hi = bound(3); hiOpen = op2 === '<';
      if (lo >= hi) throw new EventPatternError(`${at}: the lower bound ${lo} must be below the upper bound ${hi}`);
    }
  } else {
    throw new EventPatternError(`${at}: ${JSON.stringify(arg)} is not ["=", n], [">"|">="|"<"|"<=", n] or [">"|">=", n, "<"|"<=", m]`);
  }
  return (leaf) => typeof leaf === 'number' && Math.abs(leaf) <= NUMERIC_LIMIT
    && (loOpen ? leaf > lo : leaf >= lo) && (hiOpen ? leaf < hi : leaf <= hi);
}

/** `cidr`: an IPv4 or IPv6 block; a leaf matches when it is an address of the same family inside it. */
function cidr(arg: unknown, at: string): Test {
  const text = str(arg, at);
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : parseIp(text.slice(0, slash));
  const prefix = slash < 0 ? NaN : Number(text.slice(slash + 1));
  if (!address || !/^\d{1,3}$/.test(text.slice(slash + 1)) || prefix > address.bits) {
    throw new EventPatternError(`${at}: ${JSON.stringify(text)} is not an IPv4 or IPv6 CIDR block`);
  }
  const size = 2n ** BigInt(address.bits - prefix);
  const network = address.value / size;
  return (leaf) => {
    const ip = typeof leaf === 'string' ? parseIp(leaf) : undefined;
    return ip !== undefined && ip.bits === address.bits && ip.value / size === network;
  };
}

/** `wildcard`: `*` is any run of characters, `\*` an asterisk, `\\` a backslash; `**` and other escapes are refused (event-ruler). */
function wildcard(pattern: string, at: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[++i];
      if (next !== '*' && next !== '\\') throw new EventPatternError(`${at}: ${JSON.stringify(pattern)}: only \\* and \\\\ may be escaped`);
      source += `\\${next}`;
    } else if (c === '*') {
      if (pattern[i + 1] === '*') throw new EventPatternError(`${at}: ${JSON.stringify(pattern)}: consecutive wildcards are not allowed`);
      source += '.*';
    } else {
      source += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

// ---------------------------------------------------------------------------------------------------------------------
// Matching

/**
 * An object condition against an event value. When the value is an array, the whole condition must hold in one of its
 * objects (the guide: arrays match when any element does; event-ruler's rulesForJSONEvent: never combine fields from
 * two elements of one array). A value that is not an object leaves every field missing, so `exists: false` still holds.
 */
function matchObject(cond: ObjectCondition, value: unknown): boolean {
  const objects = Array.isArray(value) ? flatten(value).filter(isObject) : isObject(value) ? [value] : [];
  const candidates = objects.length > 0 ? objects : [{}];
  return candidates.some((obj) => [...cond.fields].every(([key, c]) => {
    const v = Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
    return c.kind === 'object' ? matchObject(c, v) : matchLeaf(c, v);
  }));
}

/**
 * A list against an event value. Leaves are strings, numbers, booleans and null, alone or in (nested) arrays; an object
 * is not a leaf, so a field whose value is an object, an empty array or an array of objects is as absent for `exists`
 * (the guide: exists matching only works on leaf nodes) and matches no value operator.
 */
function matchLeaf(cond: LeafCondition, value: unknown): boolean {
  const leaves = (Array.isArray(value) ? flatten(value) : [value]).filter(isLeaf);
  if (leaves.length === 0) return cond.existsFalse;
  return cond.existsTrue || leaves.some((leaf) => cond.tests.some((test) => test(leaf)));
}

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

function flatten(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? flatten(v) : [v]));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isLeaf(value: unknown): value is Leaf {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The only key of an operator object and its value. */
function single(obj: Record<string, unknown>, at: string): [string, unknown] {
  const entries = Object.entries(obj);
  if (entries.length !== 1) throw new EventPatternError(`${at}: an operator object has exactly one key, not ${entries.length}`);
  return entries[0];
}

function str(value: unknown, at: string): string {
  if (typeof value !== 'string') throw new EventPatternError(`${at}: must be a string, not ${describe(value)}`);
  return value;
}

function checkFinite(n: number, at: string): void {
  if (!Number.isFinite(n)) throw new EventPatternError(`${at}: ${n} is not a JSON number`);
}

function checkNumericRange(n: number, at: string): void {
  checkFinite(n, at);
  if (Math.abs(n) > NUMERIC_LIMIT) throw new EventPatternError(`${at}: ${n} is outside numeric matching's range (±${NUMERIC_LIMIT})`);
}

function startsWith(s: string, p: string): boolean { return s.startsWith(p); }
function endsWith(s: string, p: string): boolean { return s.endsWith(p); }

function sameIgnoringCase(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || a.toUpperCase() === b.toUpperCase();
}

/** An IPv4 (32 bits) or IPv6 (128 bits) address as a number, or undefined when `text` is neither. */
function parseIp(text: string): { bits: number; value: bigint } | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? { bits: 32, value: parts.reduce((acc, p) => acc * 256n + BigInt(p), 0n) } : undefined;
  }
  if (!/^[0-9a-fA-F:]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return { bits: 128, value: all.reduce((acc, g) => acc * 65536n + BigInt(parseInt(g, 16)), 0n) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EventPatternError(`the pattern is not JSON: ${(err as Error).message}`);
  }
}

function join(at: string, key: string): string {
  return at ? `${at}.${key}` : key;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : `${typeof value} ${JSON.stringify(value)}`;
}
