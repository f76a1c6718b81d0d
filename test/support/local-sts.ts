// A local STS endpoint speaking the query protocol, so the real SDK serializes (and signs) the real request.
import { randomBytes, randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

export interface AssumeRoleCall {
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly durationSeconds: number;
  readonly sourceIdentity?: string;
  readonly tags: { Key: string; Value: string }[];
  readonly transitiveTagKeys: string[];
  /** The Authorization header: proves the request was SigV4-signed (never the secret). */
  readonly authorization?: string;
  readonly raw: Record<string, string>;
}

export interface StsFault {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
}

export interface LocalSts {
  readonly endpoint: string;
  readonly calls: AssumeRoleCall[];
  /** Makes every following call fail with this error, until cleared with undefined. */
  fail(fault: StsFault | undefined): void;
  /** Adds latency to every following answer. */
  delay(ms: number): void;
  stop(): Promise<void>;
}

const STS_NAME = /^[\w+=,.@-]{2,64}$/;
const alnum = (n: number) => randomBytes(n * 2).toString('base64').replace(/[^A-Z0-9]/g, '').slice(0, n).padEnd(n, 'X');
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function list(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.member.${i}`) || params.has(`${prefix}.member.${i}.Key`); i++) {
    out.push(params.get(`${prefix}.member.${i}`) ?? '');
  }
  return out;
}

function errorXml(code: string, message: string): string {
  const type = code === 'InternalFailure' ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${type}</Type><Code>${xmlEscape(code)}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

export async function startLocalSts(): Promise<LocalSts> {
  const calls: AssumeRoleCall[] = [];
  let fault: StsFault | undefined;
  let latency = 0;

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += String(d); });
    req.on('end', () => {
      const answer = (status: number, xml: string) => setTimeout(() => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(xml);
      }, latency);
      const params = new URLSearchParams(body);
      if (req.method !== 'POST' || params.get('Action') !== 'AssumeRole') {
        return answer(400, errorXml('InvalidAction', `Unsupported action ${params.get('Action')}`));
      }
      const tags = [];
      for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
        tags.push({ Key: params.get(`Tags.member.${i}.Key`)!, Value: params.get(`Tags.member.${i}.Value`) ?? '' });
      }
      const call: AssumeRoleCall = {
        roleArn: params.get('RoleArn') ?? '',
        roleSessionName: params.get('RoleSessionName') ?? '',
        durationSeconds: Number(params.get('DurationSeconds') ?? 3600),
        sourceIdentity: params.get('SourceIdentity') ?? undefined,
        tags,
        transitiveTagKeys: list(params, 'TransitiveTagKeys'),
        authorization: req.headers.authorization,
        raw: Object.fromEntries(params),
      };
      calls.push(call);
      if (fault) return answer(fault.status ?? 400, errorXml(fault.code, fault.message));
      if (!STS_NAME.test(call.roleSessionName)) {
        return answer(400, errorXml('ValidationError', 'RoleSessionName must satisfy [\\w+=,.@-]{2,64}'));
      }
      if (call.sourceIdentity !== undefined && !STS_NAME.test(call.sourceIdentity)) {
        return answer(400, errorXml('ValidationError', 'SourceIdentity must satisfy [\\w+=,.@-]{2,64}'));
      }
      if (!(call.durationSeconds >= 900 && call.durationSeconds <= 43200)) {
        return answer(400, errorXml('ValidationError', 'DurationSeconds must be between 900 and 43200'));
      }
      const account = call.roleArn.split(':')[4] ?? '000000000000';
      const roleName = call.roleArn.split('/').pop();
      const expiration = new Date(Date.now() + call.durationSeconds * 1000).toISOString();
      return answer(200, '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        + (call.sourceIdentity ? `<SourceIdentity>${xmlEscape(call.sourceIdentity)}</SourceIdentity>` : '')
        + `<AssumedRoleUser><AssumedRoleId>AROA${alnum(17)}:${xmlEscape(call.roleSessionName)}</AssumedRoleId>`
        + `<Arn>arn:aws:sts::${account}:assumed-role/${xmlEscape(roleName ?? '')}/${xmlEscape(call.roleSessionName)}</Arn></AssumedRoleUser>`
        + `<Credentials><AccessKeyId>ASIA${alnum(16)}</AccessKeyId><SecretAccessKey>${randomBytes(30).toString('base64')}</SecretAccessKey>`
        + `<SessionToken>${randomBytes(200).toString('base64')}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`
        + `<PackedPolicySize>6</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId>`
        + '</ResponseMetadata></AssumeRoleResponse>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    fail: (f) => { fault = f; },
    delay: (ms) => { latency = ms; },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
