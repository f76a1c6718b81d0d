// Gated access from the command line: requests and their approvals, break-glass and its review. And the wait for a
// decision, which `credentials --wait-approval` shares. Every value the TVM answers is shown made printable (reasons and
// comments are other people's text); --json prints the API's JSON.
import * as path from 'path';
import * as readline from 'readline';
import { durationOption, parseArgs, type ParsedArgs } from './args';
import { cacheFile, ensureCacheDir, lockFileOf, signerOf, writeSession } from './cache';
import { refusalError, refusalOf, type TvmClient } from './client';
import { check, clearCached, clientFor, send } from './commands';
import { CLIENT_OPTIONS, profileOption, sessionIdArg, type Io } from './common';
import { CliError, ExitCode, usageError, type ExitCodeValue } from './errors';
import { humanSeconds, keyValues, printable, printableJson, shellWord, table } from './format';
import { acquireLock } from './lock';
import { AccessLimits, GrantKinds, ReviewOutcomes, type GrantKind } from '../src/shared/access';
import { Status } from '../src/shared/contract';

/** Exit code of a request still pending when the wait ends (`request --wait --timeout`, `credentials --wait-approval`). */
export const EXIT_STILL_PENDING = 5 as number as ExitCodeValue;

/** How a wait polls `GET /requests/{id}`: every 5 s at first, backing off to 30 s, each interval ±20 % (tests shorten it). */
export const POLL_TIMING = { firstMs: 5_000, maxMs: 30_000, factor: 1.5, jitter: 0.2 };

/** Asks the user a question on the terminal; tests inject one. */
export interface Terminal {
  ask(question: string): Promise<string>;
}

/** The command's I/O, with the terminal to ask on: `null` for none; absent, stdin and stderr when both are terminals. */
export type AccessIo = Io & { readonly terminal?: Terminal | null };

const DEFAULT_TIMEOUT_SECONDS = 30 * 60;
const MAX_WAIT_SECONDS = 7 * 24 * 3600;
const STATUSES: readonly string[] = Object.values(Status);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function terminalOf(io: AccessIo): Terminal | undefined {
  if (io.terminal !== undefined) return io.terminal ?? undefined;
  return process.stdin.isTTY && process.stderr.isTTY ? stdinTerminal : undefined;
}

/** Questions on stderr, answers from stdin: stdout stays the command's output. Ctrl-C asks nothing more and sends nothing. */
const stdinTerminal: Terminal = {
  ask: (question) => new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    let answered = false;
    rl.on('SIGINT', () => {
      rl.close();
      reject(new CliError(ExitCode.USAGE, 'interrupted: nothing was sent'));
    });
    rl.on('close', () => { if (!answered) resolve(''); }); // end of input: no answer
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  }),
};

/** A yes on the terminal, or --yes; without a terminal --yes is required (checked before anything is sent). */
function needsConfirmation(a: ParsedArgs, io: AccessIo, command: string): Terminal | undefined {
  if (a.flags.has('yes')) return undefined;
  const terminal = terminalOf(io);
  if (!terminal) throw usageError(`\`${command}\` asks for confirmation, and there is no terminal to ask on: add --yes`);
  return terminal;
}

async function confirm(terminal: Terminal | undefined, question: string, declined: string): Promise<void> {
  if (!terminal) return;
  const answer = (await terminal.ask(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw usageError(`not confirmed: ${declined}`);
}

/** A free text of 1 to `max` characters (control characters are refused by the TVM, and shown escaped here). */
function textOption(name: string, raw: string | undefined, max: number, required: boolean): string | undefined {
  if (raw === undefined) {
    if (required) throw usageError(`--${name} is required: 1 to ${max} characters`);
    return undefined;
  }
  if (raw.trim() === '' || raw.length > max) throw usageError(`--${name}: expected 1 to ${max} characters`);
  return raw;
}

/** `--start`: an ISO 8601 time with its offset, e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00+01:00. */
function startOption(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const t = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(t)) throw usageError(`--start "${raw}": expected an ISO 8601 time with its offset, e.g. 2026-12-01T09:00:00Z`);
  return new Date(t).toISOString();
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const statusOf = (r: any): string => String(r?.effective_status ?? r?.status ?? '');
const approvalsOf = (r: any): any[] => (Array.isArray(r?.approvals) ? r.approvals : []);

/** The window a request asks for, or the one it was granted. */
function windowOf(r: any): string | undefined {
  const seconds = num(r.requested_seconds);
  const length = seconds === undefined ? undefined : humanSeconds(seconds);
  if (r.expires_at) return `until ${r.expires_at}${length ? ` (${length})` : ''}`;
  if (!length) return undefined;
  return r.not_before ? `${length} from ${r.not_before} (or from its approval, if later)` : `${length} from its approval`;
}

const countOf = (r: any) => `${num(r.approval_count) ?? 0} of ${num(r.approvals_required) ?? '?'}`;

/** A request (or break-glass session) as `key: value` lines. */
function requestLines(r: any, details: boolean): string {
  const breakGlass = r.grant_kind === GrantKinds.BREAK_GLASS;
  const status = statusOf(r);
  const entries: [string, unknown][] = [
    [breakGlass ? 'session' : 'request', r.id],
    ['kind', breakGlass ? 'break-glass' : undefined],
    ['requester', r.principal_arn],
    ['person', details && r.requester_person
      ? `${r.requester_person}${r.requester_verified ? '' : ' (not verified: its name was chosen by the caller)'}` : undefined],
    ['profile', r.profile],
    ['role', details ? r.role_arn : undefined],
    ['status', status],
    ['approvals', breakGlass ? undefined : countOf(r)],
    ['window', windowOf(r)],
    ['deadline', status === Status.PENDING ? r.request_expires_at : undefined],
    ['reason', r.request_reason],
    ['ticket', r.ticket_id],
    ['created', details ? r.created_at : undefined],
    ['decided by', r.decided_by ? `${r.decided_by}${r.decided_at ? ` at ${r.decided_at}` : ''}` : undefined],
    ['decision', r.decision_comment],
    ['revoked', r.revoked_kind],
    ['review due', r.review_state === 'pending' ? r.review_due_at : undefined],
    ['reviewed', r.review_outcome ? `${r.review_outcome} by ${r.reviewed_by} at ${r.reviewed_at}: ${r.review_note ?? ''}` : undefined],
    ['digest', details ? r.digest : undefined],
    ...approvalsOf(r).map((x, i): [string, unknown] => [`approval ${i + 1}`, approvalText(x)]),
  ];
  return keyValues(entries);
}

function approvalText(x: any): string {
  return `${x?.policy ? `the policy (${x.policy})` : x?.arn} at ${x?.at}${x?.comment ? `: ${x.comment}` : ''}`;
}

/**
 * Polls `GET /requests/{id}` until the request is no longer pending, or `timeoutMs` has passed; tells each new approval.
 * Failures of the TVM (exit 3, 429) do not end the wait; a refusal does.
 */
export async function awaitDecision(client: TvmClient, id: string, timeoutMs: number, report: (line: string) => void,
  seen = new Set<string>()): Promise<{ request: any; pending: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let interval = POLL_TIMING.firstMs;
  let last: any;
  let failing = false;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return { request: last, pending: true };
    const jitter = 1 + (Math.random() * 2 - 1) * POLL_TIMING.jitter;
    await sleep(Math.min(left, interval * jitter));
    interval = Math.min(POLL_TIMING.maxMs, interval * POLL_TIMING.factor);
    let res;
    try {
      res = await send(client, 'GET', `/requests/${id}`);
      if (res.status >= 500 || res.status === 429) throw refusalError(refusalOf(res));
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== ExitCode.SERVER) throw err;
      if (!failing) report(`${printable(err.message)}: still waiting`);
      failing = true;
      continue;
    }
    failing = false;
    check(res);
    last = res.json.Request ?? {};
    for (const x of approvalsOf(last)) {
      const key = `${x?.arn}\n${x?.at}`;
      if (seen.has(key)) continue;
      seen.add(key);
      report(printable(`request ${id}: approved by ${approvalText(x)} (${countOf(last)})`));
    }
    if (statusOf(last) !== Status.PENDING) return { request: last, pending: false };
  }
}

/** The cache entry of (URL, profile, signer) that `credentials` reads, pointed at a new grant: the next call continues it. */
async function cacheGrant(client: TvmClient, a: ParsedArgs, io: Io, profile: string, id: string, grant: GrantKind): Promise<void> {
  const file = cacheFile(client.url, profile, io.env, signerOf(a.values['source-profile'], io.env));
  try {
    ensureCacheDir(path.dirname(file)); // for the lock file
    // Under the entry's lock: a vend in flight would otherwise write its own session back after us.
    const lock = await acquireLock(lockFileOf(file), () => false);
    try {
      // Credentials of an earlier session are not this grant's: they go.
      writeSession(file, { url: client.url.href, profile, sessionId: id, updatedAt: new Date().toISOString(), grant });
    } finally {
      lock?.release();
    }
  } catch (err) {
    io.err(`sentinel-tvm: warning: ${id} is not in the session cache (\`credentials\` will not continue it): ${printable((err as Error).message)}\n`);
  }
}

/** How `credentials` is run for this TVM and profile, for the hints. */
function credentialsCommand(client: TvmClient, a: ParsedArgs, profile: string): string {
  return ['sentinel-tvm credentials', `--profile ${profile}`, `--url ${shellWord(client.url.href)}`,
    ...(a.values['source-profile'] !== undefined ? [`--source-profile ${shellWord(a.values['source-profile'])}`] : [])].join(' ');
}

/** What a decided request exits with: 0 approved (or in use), 1 denied, cancelled, expired or revoked. */
function exitFor(r: any): number {
  const status = statusOf(r);
  return status === Status.APPROVED || status === Status.ACTIVE || status === Status.PENDING ? ExitCode.OK : ExitCode.REFUSED;
}

function printJson(io: Io, value: unknown): void {
  io.out(`${printableJson(value, 2)}\n`);
}

/**
 * `sentinel-tvm request --profile P [--duration 2h] [--reason …] [--ticket …] [--start ISO] [--wait [--timeout 30m]]`:
 * asks for access to a gated profile; its id goes into the credentials cache, so that `credentials` continues it.
 */
export async function request(argv: readonly string[], io: AccessIo): Promise<number> {
  const a = parseArgs(argv, {
    ...CLIENT_OPTIONS, profile: 'value', duration: 'value', reason: 'value', ticket: 'value', start: 'value', wait: 'flag', timeout: 'value',
  }, [], 'sentinel-tvm request');
  const profile = profileOption(a.values.profile, true)!;
  const duration = durationOption('duration', a.values.duration, AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_APPROVAL_SECONDS);
  const wait = a.flags.has('wait');
  if (a.values.timeout !== undefined && !wait) throw usageError('--timeout is how long --wait waits: add --wait, or drop --timeout');
  const timeout = durationOption('timeout', a.values.timeout, 1, MAX_WAIT_SECONDS) ?? DEFAULT_TIMEOUT_SECONDS;
  let reason = textOption('reason', a.values.reason, AccessLimits.MAX_REASON, false);
  const ticket = textOption('ticket', a.values.ticket, AccessLimits.MAX_TICKET, false);
  const notBefore = startOption(a.values.start);
  const client = clientFor(a, io);
  const terminal = reason === undefined ? terminalOf(io) : undefined;
  if (terminal) {
    reason = (await terminal.ask(`Why do you need access to ${profile}? (the approvers read it) `)).trim() || undefined;
  }
  const res = await send(client, 'POST', '/requests', {
    body: {
      profile,
      ...(duration !== undefined ? { durationSeconds: duration } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(ticket !== undefined ? { ticket } : {}),
      ...(notBefore !== undefined ? { notBefore } : {}),
    },
  });
  let r: any;
  if (res.status >= 400) {
    const refusal = refusalOf(res);
    if (refusal.code === 'REASON_REQUIRED' && reason === undefined && !terminal) {
      throw usageError(`--reason is required for profile ${profile}: ${printable(refusal.message)}`);
    }
    const open = refusal.code === 'REQUEST_EXISTS' ? /\b[0-9a-f]{16}\b/.exec(refusal.message)?.[0] : undefined;
    if (!open) check(res);
    await cacheGrant(client, a, io, profile, open!, GrantKinds.APPROVAL);
    io.err(`sentinel-tvm: you have an open request for profile ${profile}: ${open}; it is in the session cache, so \`credentials\` continues it `
      + `(\`sentinel-tvm cancel ${open}\` withdraws it)\n`);
    if (!wait) return ExitCode.REFUSED;
    const current = await send(client, 'GET', `/requests/${open}`);
    check(current);
    r = current.json.Request ?? {};
  } else {
    check(res);
    r = res.json.Request ?? {};
    const id = String(r.id ?? '');
    if (!/^[0-9a-f]{16}$/.test(id)) throw new CliError(ExitCode.SERVER, 'the TVM answered a request without a valid id: is --url the TVM\'s API?');
    await cacheGrant(client, a, io, profile, id, GrantKinds.APPROVAL);
  }
  const id = String(r.id);
  const json = a.flags.has('json');
  if (!json) io.out(requestLines(r, false));
  io.err(`sentinel-tvm: ${statusOf(r) === Status.PENDING ? 'once it is approved, ' : ''}\`${credentialsCommand(client, a, profile)}\` `
    + 'continues it (it is in the session cache)\n');
  if (!wait || statusOf(r) !== Status.PENDING) {
    if (json) printJson(io, { Request: r });
    return exitFor(r);
  }
  const tell = (line: string) => (json ? io.err(`sentinel-tvm: ${line}\n`) : io.out(`${line}\n`));
  tell(`waiting up to ${humanSeconds(timeout)} for its approvals (${countOf(r)})...`);
  const seen = new Set(approvalsOf(r).map((x) => `${x?.arn}\n${x?.at}`));
  const waited = await awaitDecision(client, id, timeout * 1000, tell, seen);
  const final = waited.request ?? r;
  if (json) printJson(io, { Request: final });
  if (waited.pending) {
    io.err(`sentinel-tvm: request ${id} is still waiting for its approvals after ${humanSeconds(timeout)} (${countOf(final)}); `
      + `\`sentinel-tvm request --profile ${profile} --wait\` waits for it again\n`);
    return EXIT_STILL_PENDING;
  }
  const status = statusOf(final);
  if (!json) {
    const by = final.decided_by ? printable(` by ${final.decided_by}${final.decision_comment ? `: ${final.decision_comment}` : ''}`) : '';
    tell(status === Status.APPROVED || status === Status.ACTIVE ? `request ${id} is approved: window ${printable(windowOf(final) ?? '')}`
      : `request ${id} is ${printable(status)}${by}`);
  }
  return exitFor(final);
}

/** `sentinel-tvm requests list|get`. */
export async function requests(argv: readonly string[], io: AccessIo): Promise<number> {
  const [action, ...rest] = argv;
  switch (action) {
    case 'list': return listRequests(rest, io);
    case 'get': return getRequest(rest, io);
    case undefined: throw usageError('`sentinel-tvm requests` needs an action: list or get (see `sentinel-tvm requests --help`)');
    default: throw usageError(`unknown action "${action}" for \`sentinel-tvm requests\`: expected list or get`);
  }
}

async function listRequests(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, { ...CLIENT_OPTIONS, approvable: 'flag', mine: 'flag', profile: 'value', status: 'value' }, [],
    'sentinel-tvm requests list');
  if (a.flags.has('approvable') && a.flags.has('mine')) throw usageError('--approvable and --mine do not go together');
  const status = a.values.status;
  if (status !== undefined && !STATUSES.includes(status)) throw usageError(`--status "${status}": expected ${STATUSES.join(', ')}`);
  const profile = profileOption(a.values.profile, false);
  const res = await send(clientFor(a, io), 'GET', '/requests', {
    query: { scope: a.flags.has('approvable') ? 'approvable' : 'mine', profile, status },
  });
  check(res);
  if (a.flags.has('json')) {
    printJson(io, res.json);
    return ExitCode.OK;
  }
  const list: any[] = Array.isArray(res.json.Requests) ? res.json.Requests : [];
  if (list.length === 0) {
    io.err(`sentinel-tvm: no ${a.flags.has('approvable') ? 'requests you may approve' : 'requests'}\n`);
    return ExitCode.OK;
  }
  io.out(table(['REQUEST', 'KIND', 'USER', 'PROFILE', 'STATUS', 'APPROVALS', 'WINDOW', 'DEADLINE', 'ENDS', 'REASON'], list.map((r) => [
    r.id, r.grant_kind === GrantKinds.BREAK_GLASS ? 'break-glass' : 'request', r.user, r.profile, statusOf(r),
    r.grant_kind === GrantKinds.BREAK_GLASS ? '' : countOf(r), num(r.requested_seconds) === undefined ? '' : humanSeconds(r.requested_seconds),
    statusOf(r) === Status.PENDING ? r.request_expires_at : '', r.expires_at, r.request_reason,
  ])));
  return ExitCode.OK;
}

async function fetchRequest(client: TvmClient, id: string): Promise<any> {
  const res = await send(client, 'GET', `/requests/${id}`);
  check(res);
  return res.json.Request ?? {};
}

async function getRequest(argv: readonly string[], io: Io): Promise<number> {
  const a = parseArgs(argv, CLIENT_OPTIONS, ['id'], 'sentinel-tvm requests get');
  const id = sessionIdArg(a.positionals[0]);
  const client = clientFor(a, io);
  const res = await send(client, 'GET', `/requests/${id}`);
  check(res);
  if (a.flags.has('json')) printJson(io, res.json);
  else io.out(requestLines(res.json.Request ?? {}, true));
  return ExitCode.OK;
}

/** A decision's answer: the API's JSON, or the request as it now is. */
function decided(io: Io, a: ParsedArgs, json: any, line: string): number {
  if (a.flags.has('json')) {
    printJson(io, json);
  } else {
    io.err(`sentinel-tvm: ${printable(line)}\n`);
    io.out(requestLines(json.Request ?? {}, false));
  }
  return ExitCode.OK;
}

/** `sentinel-tvm approve ID [--comment …] [--yes]`: shows the request, asks, and approves exactly what was shown. */
export async function approve(argv: readonly string[], io: AccessIo): Promise<number> {
  const a = parseArgs(argv, { ...CLIENT_OPTIONS, comment: 'value', yes: 'flag' }, ['id'], 'sentinel-tvm approve');
  const id = sessionIdArg(a.positionals[0]);
  const comment = textOption('comment', a.values.comment, AccessLimits.MAX_COMMENT, false);
  const terminal = needsConfirmation(a, io, 'sentinel-tvm approve');
  const client = clientFor(a, io);
  const r = await fetchRequest(client, id);
  // Shown on stderr, with the question: stdout is the answer (the request as approved, or its JSON).
  io.err(`sentinel-tvm: request to approve:\n${requestLines(r, true)}`);
  if (statusOf(r) !== Status.PENDING) {
    throw new CliError(ExitCode.REFUSED, `request ${id} is ${printable(statusOf(r))}: it can no longer be approved (nothing was sent)`);
  }
  const digest = String(r.digest ?? '');
  if (!/^[0-9a-f]{16}$/.test(digest)) throw new CliError(ExitCode.SERVER, 'the TVM answered a request without its digest: is --url the TVM\'s API?');
  await confirm(terminal, printable(`Approve ${r.principal_arn}'s access to ${r.profile} (${windowOf(r) ?? 'the default window'})?`),
    'nothing was approved');
  const res = await send(client, 'POST', `/requests/${id}/approve`, {
    body: { expectedDigest: digest, ...(comment !== undefined ? { comment } : {}) },
  });
  if (res.status >= 400 && refusalOf(res).code === 'REQUEST_CHANGED') {
    throw new CliError(ExitCode.REFUSED, `${printable(refusalError(refusalOf(res)).message)}\nsentinel-tvm: request ${id} changed after it was `
      + 'shown: nothing was approved; run `sentinel-tvm approve` again to see it as it is now');
  }
  check(res);
  const after = res.json.Request ?? {};
  const line = statusOf(after) === Status.PENDING
    ? `request ${id}: your approval is recorded (${countOf(after)}): it waits for more`
    : `request ${id} is ${statusOf(after)} (${countOf(after)}): window ${windowOf(after) ?? ''}`;
  return decided(io, a, res.json, line);
}

/** `deny ID --comment …`, `cancel ID`, `withdraw ID --reason …`. */
async function decide(argv: readonly string[], io: Io, action: 'deny' | 'cancel' | 'withdraw'): Promise<number> {
  const field = action === 'deny' ? 'comment' : action === 'withdraw' ? 'reason' : undefined;
  const a = parseArgs(argv, field ? { ...CLIENT_OPTIONS, [field]: 'value' } : CLIENT_OPTIONS, ['id'], `sentinel-tvm ${action}`);
  const id = sessionIdArg(a.positionals[0]);
  const text = field ? textOption(field, a.values[field], AccessLimits.MAX_COMMENT, true) : undefined;
  const res = await send(clientFor(a, io), 'POST', `/requests/${id}/${action}`, { body: field ? { [field]: text } : undefined });
  check(res);
  const status = statusOf(res.json.Request);
  // A cancelled request of this machine's cache is of no more use: the next `credentials` asks for a grant again.
  if (action === 'cancel') await clearCached(id, 'ended', io);
  return decided(io, a, res.json, `request ${id} is ${status}${action === 'withdraw' && status === Status.REVOKED
    ? ': its credentials are denied as the revocation reaches the enforcer' : ''}`);
}

export const deny = (argv: readonly string[], io: AccessIo) => decide(argv, io, 'deny');
export const cancel = (argv: readonly string[], io: AccessIo) => decide(argv, io, 'cancel');
export const withdraw = (argv: readonly string[], io: AccessIo) => decide(argv, io, 'withdraw');

/** `sentinel-tvm breakglass --profile P --reason … [--ticket …] [--duration 30m] [--yes]`: emergency access, told and confirmed. */
export async function breakglass(argv: readonly string[], io: AccessIo): Promise<number> {
  const a = parseArgs(argv, { ...CLIENT_OPTIONS, profile: 'value', reason: 'value', ticket: 'value', duration: 'value', yes: 'flag' }, [],
    'sentinel-tvm breakglass');
  const profile = profileOption(a.values.profile, true)!;
  const reason = textOption('reason', a.values.reason, AccessLimits.MAX_REASON, true)!;
  const ticket = textOption('ticket', a.values.ticket, AccessLimits.MAX_TICKET, false);
  const duration = durationOption('duration', a.values.duration, AccessLimits.MIN_WINDOW_SECONDS, AccessLimits.MAX_BREAK_GLASS_SECONDS);
  const terminal = needsConfirmation(a, io, 'sentinel-tvm breakglass');
  const client = clientFor(a, io);
  io.err(`sentinel-tvm: break-glass gives you credentials of profile ${profile} at once, without an approver:\n`
    + '  - the profile\'s approvers and security are notified;\n'
    + '  - the session is marked as break-glass in CloudTrail (the SourceIdentity of its credentials);\n'
    + '  - it must be reviewed by a reviewer of the profile, who may flag it, before your next break-glass on this profile.\n');
  await confirm(terminal, `Break glass on ${profile} now?`, 'nothing was sent');
  const res = await send(client, 'POST', '/breakglass', {
    body: { profile, reason, ...(ticket !== undefined ? { ticket } : {}), ...(duration !== undefined ? { durationSeconds: duration } : {}) },
  });
  check(res);
  const r = res.json.Request ?? {};
  const id = String(r.id ?? '');
  if (!/^[0-9a-f]{16}$/.test(id)) throw new CliError(ExitCode.SERVER, 'the TVM answered a session without a valid id: is --url the TVM\'s API?');
  await cacheGrant(client, a, io, profile, id, GrantKinds.BREAK_GLASS);
  if (a.flags.has('json')) printJson(io, res.json);
  else io.out(requestLines(r, false));
  io.err(`sentinel-tvm: \`${credentialsCommand(client, a, profile)}\` now vends its credentials (it is in the session cache)\n`);
  return ExitCode.OK;
}

/** `sentinel-tvm reviews list [--overdue]`. */
export async function reviews(argv: readonly string[], io: AccessIo): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined) throw usageError('`sentinel-tvm reviews` needs an action: list (see `sentinel-tvm reviews --help`)');
  if (action !== 'list') throw usageError(`unknown action "${action}" for \`sentinel-tvm reviews\`: expected list`);
  const a = parseArgs(rest, { ...CLIENT_OPTIONS, overdue: 'flag' }, [], 'sentinel-tvm reviews list');
  const res = await send(clientFor(a, io), 'GET', '/reviews', { query: { status: a.flags.has('overdue') ? 'overdue' : 'pending' } });
  check(res);
  if (a.flags.has('json')) {
    printJson(io, res.json);
    return ExitCode.OK;
  }
  const list: any[] = Array.isArray(res.json.Reviews) ? res.json.Reviews : [];
  if (list.length === 0) {
    io.err(`sentinel-tvm: no ${a.flags.has('overdue') ? 'overdue ' : ''}reviews\n`);
    return ExitCode.OK;
  }
  io.out(table(['SESSION', 'USER', 'PROFILE', 'STATUS', 'STARTED', 'ENDS', 'REVIEW DUE', 'REASON'], list.map((r) => [
    r.id, r.user, r.profile, statusOf(r), r.created_at, r.expires_at, r.review_due_at, r.request_reason,
  ])));
  return ExitCode.OK;
}

/** `sentinel-tvm review ID --outcome accepted|flagged --note …`: closes a break-glass session's review. */
export async function review(argv: readonly string[], io: AccessIo): Promise<number> {
  const a = parseArgs(argv, { ...CLIENT_OPTIONS, outcome: 'value', note: 'value' }, ['id'], 'sentinel-tvm review');
  const id = sessionIdArg(a.positionals[0]);
  const outcomes: readonly string[] = Object.values(ReviewOutcomes);
  const outcome = a.values.outcome;
  if (outcome === undefined || !outcomes.includes(outcome)) throw usageError(`--outcome is required: ${outcomes.join(' or ')}`);
  const note = textOption('note', a.values.note, AccessLimits.MAX_COMMENT, true);
  const res = await send(clientFor(a, io), 'POST', `/sessions/${id}/review`, { body: { outcome, note } });
  check(res);
  return decided(io, a, res.json, `break-glass session ${id} is reviewed: ${outcome}`);
}

/** The gated-access commands, by name (sentinel-tvm.ts dispatches them through heavy.ts). */
export const ACCESS_COMMANDS: Record<string, (argv: readonly string[], io: AccessIo) => Promise<number>> = {
  request, requests, approve, deny, cancel, withdraw, breakglass, reviews, review,
};
