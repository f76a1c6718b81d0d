// A local STS endpoint speaking the query protocol, so the real SDK serializes (and signs) the real request.
import { createHash, randomBytes, randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { localRoleId } from '../../cli/local/accounts';
import { verifySigV4, type KnownKey } from '../../cli/local/verify';

export interface AssumeRoleCall {
  readonly roleArn: string;
  readonly roleSessionName: string;
  /** As sent, or STS's default 3600 when absent (NaN if not a number). */
  readonly durationSeconds: number;
  readonly sourceIdentity?: string;
  readonly externalId?: string;
  readonly policy?: string;
  readonly policyArns: string[];
  readonly tags: { Key: string; Value: string }[];
  readonly transitiveTagKeys: string[];
  /** The Authorization header: proves the request was SigV4-signed (never the secret). */
  readonly authorization?: string;
  /** Every form parameter as received, Action and Version included. */
  readonly raw: Record<string, string>;
}

export interface StsFault {
  readonly code: string;
  readonly message: string;
  /** HTTP status; 400 when absent (AccessDenied is 403 at the real STS). */
  readonly status?: number;
  /** Only AssumeRole of this role fails. @default every role */
  readonly roleArn?: string;
}

/** Credentials this STS issued (AssumeRole), and whose they are: an endpoint handed them can tell the account acting. */
export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  /** The assumed role. */
  readonly roleArn: string;
  /** The assumed role's account. */
  readonly account: string;
  readonly expiration: Date;
}

export interface LocalStsOptions {
  /** Latency added to every answer from the start (see delay()). */
  readonly delayMs?: number;
  /** The roles' MaxSessionDuration: a longer DurationSeconds is refused as STS does. Default 43200 (no role limit). */
  readonly maxSessionDurationSeconds?: number;
  /** The region GetCallerIdentity must be signed for. Default us-east-1. */
  readonly identityRegion?: string;
}

export interface LocalSts {
  /** http://127.0.0.1:port */
  readonly endpoint: string;
  /** Every AssumeRole received, in order, including the ones answered with an error. */
  readonly calls: AssumeRoleCall[];
  /** Every GetCallerIdentity received (identity proofs the handler sends), with the principal it answered for, if any. */
  readonly identityCalls: { readonly arn?: string; readonly status: number }[];
  /** Makes every following AssumeRole fail with this error, until cleared with undefined. */
  fail(fault: StsFault | undefined): void;
  /** Makes every following GetCallerIdentity fail with this error, until cleared with undefined. */
  failIdentity(fault: StsFault | undefined): void;
  /** Adds latency to every following AssumeRole answer; with `roleArn`, to that role's only (over the general latency). */
  delay(ms: number, roleArn?: string): void;
  /** The credentials this STS issued with this access key id, undefined for any other key. */
  issued(accessKeyId: string): IssuedCredentials | undefined;
  /**
   * Made-up credentials of a principal, known to this STS from now on: GetCallerIdentity signed with them answers this
   * ARN (the signature is verified, as STS does).
   */
  principal(arn: string): { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const NAME_PATTERN = /^[\w+=,.@-]*$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BASE64ISH = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const randomOf = (alphabet: string, n: number) => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function errorXml(code: string, message: string, status: number, requestId: string): string {
  return `<ErrorResponse xmlns="${NS}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${xmlEscape(code)}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}

/** Values of `Prefix.member.1`, `Prefix.member.2`, … (the query protocol's list encoding). */
function members(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.member.${i}`); i++) out.push(params.get(`${prefix}.member.${i}`)!);
  return out;
}

export function parseAssumeRole(params: URLSearchParams, authorization?: string): AssumeRoleCall {
  const tags: { Key: string; Value: string }[] = [];
  for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
    tags.push({ Key: params.get(`Tags.member.${i}.Key`)!, Value: params.get(`Tags.member.${i}.Value`) ?? '' });
  }
  const policyArns: string[] = [];
  for (let i = 1; params.has(`PolicyArns.member.${i}.arn`); i++) policyArns.push(params.get(`PolicyArns.member.${i}.arn`)!);
  const opt = (name: string) => params.get(name) ?? undefined;
  return {
    roleArn: params.get('RoleArn') ?? '',
    roleSessionName: params.get('RoleSessionName') ?? '',
    durationSeconds: params.has('DurationSeconds') ? Number(params.get('DurationSeconds')) : 3600,
    sourceIdentity: opt('SourceIdentity'),
    externalId: opt('ExternalId'),
    policy: opt('Policy'),
    policyArns,
    tags,
    transitiveTagKeys: members(params, 'TransitiveTagKeys'),
    authorization,
    raw: Object.fromEntries(params),
  };
}

/** STS's own checks, in its wording ("N validation errors detected: Value 'x' at 'field' failed to satisfy …"). */
export function validateAssumeRole(call: AssumeRoleCall, maxSessionDurationSeconds = 43200): StsFault | undefined {
  const problems: string[] = [];
  const check = (value: string | undefined, field: string, constraint: string, ok: boolean) => {
    if (!ok) problems.push(`Value ${value === undefined ? 'null' : `'${value}'`} at '${field}' failed to satisfy constraint: ${constraint}`);
  };
  const name = (value: string | undefined, field: string, required: boolean) => {
    if (value === undefined) return check(value, field, 'Member must not be null', !required);
    check(value, field, 'Member must have length greater than or equal to 2', value.length >= 2);
    check(value, field, 'Member must have length less than or equal to 64', value.length <= 64);
    check(value, field, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*', NAME_PATTERN.test(value));
  };
  const roleArn = call.raw.RoleArn;
  if (roleArn === undefined) check(roleArn, 'roleArn', 'Member must not be null', false);
  else check(roleArn, 'roleArn', 'Member must have length greater than or equal to 20', roleArn.length >= 20);
  name(call.raw.RoleSessionName, 'roleSessionName', true);
  name(call.sourceIdentity, 'sourceIdentity', false);
  const d = call.durationSeconds;
  check(call.raw.DurationSeconds, 'durationSeconds', 'Member must have value greater than or equal to 900', !(d < 900) && !Number.isNaN(d));
  check(call.raw.DurationSeconds, 'durationSeconds', 'Member must have value less than or equal to 43200', !(d > 43200));
  check(`[${call.tags.map((t) => t.Key).join(', ')}]`, 'tags', 'Member must have length less than or equal to 50', call.tags.length <= 50);
  call.tags.forEach((t, i) => {
    check(t.Key, `tags.${i + 1}.member.key`, 'Member must have length less than or equal to 128', t.Key.length <= 128);
    check(t.Key, `tags.${i + 1}.member.key`, 'Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+', TAG_KEY.test(t.Key));
    check(t.Value, `tags.${i + 1}.member.value`, 'Member must have length less than or equal to 256', t.Value.length <= 256);
    check(t.Value, `tags.${i + 1}.member.value`, 'Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*',
      TAG_VALUE.test(t.Value));
  });
  if (problems.length > 0) {
    const n = problems.length;
    return { code: 'ValidationError', status: 400, message: `${n} validation error${n > 1 ? 's' : ''} detected: ${problems.join('; ')}` };
  }
  const keys = call.tags.map((t) => t.Key.toLowerCase());
  if (new Set(keys).size !== keys.length) {
    return {
      code: 'InvalidParameterValue',
      status: 400,
      message: 'Duplicate tag keys found. Please note that Tag keys are case insensitive.',
    };
  }
  if (d > maxSessionDurationSeconds) {
    return {
      code: 'ValidationError',
      status: 400,
      message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
    };
  }
  return undefined;
}

function successXml(call: AssumeRoleCall, requestId: string, issue: (c: IssuedCredentials) => void): string {
  const [, , , , account = '000000000000', resource = ''] = call.roleArn.split(':');
  const roleName = resource.split('/').pop() ?? '';
  // A role's id is stable: derive it from the ARN, as the real one is fixed at role creation.
  const roleId = `AROA${Array.from(createHash('sha256').update(call.roleArn).digest().subarray(0, 17), (b) => UPPER_ALNUM[b % 36]).join('')}`;
  const expiresAt = new Date(Date.now() + call.durationSeconds * 1000);
  const expiration = expiresAt.toISOString();
  const credentials: IssuedCredentials = {
    accessKeyId: `ASIA${randomOf(UPPER_ALNUM, 16)}`,
    secretAccessKey: randomOf(BASE64ISH, 40),
    sessionToken: randomBytes(300).toString('base64'),
    roleArn: call.roleArn,
    account,
    expiration: expiresAt,
  };
  issue(credentials);
  const packed = call.policy !== undefined || call.policyArns.length > 0 || call.tags.length > 0;
  const packedSize = Math.max(1, Math.ceil((100 * (JSON.stringify(call.tags).length + (call.policy?.length ?? 0))) / 2048));
  return `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult>`
    + (call.sourceIdentity !== undefined ? `<SourceIdentity>${xmlEscape(call.sourceIdentity)}</SourceIdentity>` : '')
    + `<AssumedRoleUser><AssumedRoleId>${roleId}:${xmlEscape(call.roleSessionName)}</AssumedRoleId>`
    + `<Arn>arn:aws:sts::${xmlEscape(account)}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(call.roleSessionName)}</Arn>`
    + '</AssumedRoleUser>'
    + `<Credentials><AccessKeyId>${credentials.accessKeyId}</AccessKeyId><SecretAccessKey>${credentials.secretAccessKey}</SecretAccessKey>`
    + `<SessionToken>${credentials.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`
    + (packed ? `<PackedPolicySize>${packedSize}</PackedPolicySize>` : '')
    + `</AssumeRoleResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></AssumeRoleResponse>`;
}

/** Running local STSes by endpoint, so that a fixture handed only an STS client can sign proofs this STS accepts. */
const running = new Map<string, LocalSts>();

export function localStsAt(endpoint: string): LocalSts | undefined {
  return running.get(endpoint.replace(/\/$/, ''));
}

export async function startLocalSts(options: LocalStsOptions = {}): Promise<LocalSts> {
  const calls: AssumeRoleCall[] = [];
  const identityCalls: { arn?: string; status: number }[] = [];
  const keys = new Map<string, KnownKey>();
  let fault: StsFault | undefined;
  let identityFault: StsFault | undefined;
  let latency = options.delayMs ?? 0;
  const roleLatency = new Map<string, number>();
  const issued = new Map<string, IssuedCredentials>();
  const principal = (arn: string) => {
    const h = createHash('sha256').update(arn).digest('hex').toUpperCase();
    const creds = { accessKeyId: `AKIDTEST${h.slice(0, 12)}`, secretAccessKey: `secret-${h.slice(12, 40).toLowerCase()}` };
    keys.set(creds.accessKeyId, { secretAccessKey: creds.secretAccessKey, arn });
    return creds;
  };
  const callerIdentity = async (req: http.IncomingMessage, body: Buffer, requestId: string): Promise<[number, string]> => {
    if (identityFault) {
      const status = identityFault.status ?? 400;
      return [status, errorXml(identityFault.code, identityFault.message, status, requestId)];
    }
    // The time window is the handler's to check (tests run on a fixed clock); the signature is checked here, as STS does.
    const verified = await verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body },
      { service: 'sts', region: options.identityRegion ?? 'us-east-1', lookup: (id) => keys.get(id), maxSkewMs: Number.MAX_SAFE_INTEGER });
    if (!verified.ok) return [403, errorXml(verified.kind, verified.reason, 403, requestId)];
    const arn = verified.key.arn;
    // As STS answers: a role session's UserId is its role's unique id and the session name (the local accounts' ids).
    const session = /^arn:[^:]+:sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
    const userId = session ? `${localRoleId(session[1], session[2])}:${session[3]}` : `AIDA${verified.accessKeyId.slice(8)}`;
    return [200, `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${xmlEscape(arn)}</Arn>`
      + `<UserId>${xmlEscape(userId)}</UserId><Account>${arn.split(':')[4]}</Account></GetCallerIdentityResult>`
      + `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`];
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const requestId = randomUUID();
      let extra = 0;
      const answer = (status: number, xml: string) => setTimeout(() => {
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
        res.end(xml);
      }, latency + extra);
      const refuse = (f: StsFault) => answer(f.status ?? 400, errorXml(f.code, f.message, f.status ?? 400, requestId));
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = params.get('Action');
      if (req.method === 'POST' && action === 'GetCallerIdentity') {
        void callerIdentity(req, Buffer.concat(chunks), requestId).then(([status, xml]) => {
          identityCalls.push({ arn: status === 200 ? /<Arn>([^<]*)<\/Arn>/.exec(xml)?.[1] : undefined, status });
          res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
          res.end(xml);
        });
        return;
      }
      if (req.method !== 'POST' || action !== 'AssumeRole') {
        return refuse({ code: 'InvalidAction', message: `Could not find operation ${action} for version ${params.get('Version')}` });
      }
      const call = parseAssumeRole(params, req.headers.authorization);
      calls.push(call);
      extra = roleLatency.get(call.roleArn) ?? 0;
      // An injected fault wins over validation: the test asked for exactly that answer.
      const injected = fault && (!fault.roleArn || fault.roleArn === call.roleArn) ? fault : undefined;
      const refusal = injected ?? validateAssumeRole(call, options.maxSessionDurationSeconds);
      if (refusal) return refuse(refusal);
      return answer(200, successXml(call, requestId, (c) => issued.set(c.accessKeyId, c)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const sts: LocalSts = {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    identityCalls,
    fail: (f) => { fault = f; },
    failIdentity: (f) => { identityFault = f; },
    principal,
    delay: (ms, roleArn) => {
      if (roleArn === undefined) latency = ms;
      else roleLatency.set(roleArn, ms);
    },
    issued: (accessKeyId) => issued.get(accessKeyId),
    stop: () => new Promise<void>((resolve) => {
      running.delete(`http://127.0.0.1:${port}`);
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections(); // the SDK keeps connections alive; close() alone would wait for them
    }),
  };
  running.set(sts.endpoint, sts);
  return sts;
}
