// A local IAM endpoint speaking the query protocol (the inline role policy actions), so that the real
// @aws-sdk/client-iam serializes (and signs) the real requests and parses real-shaped answers.
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { performance } from 'perf_hooks';

const NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
const API_VERSION = '2010-05-08';
/** IAM: all inline policies of one role together, whitespace not counted. */
export const ROLE_INLINE_POLICIES_LIMIT = 10_240;
const NAME = /^[\w+=,.@-]{1,128}$/;

export type IamAction = 'PutRolePolicy' | 'GetRolePolicy' | 'DeleteRolePolicy' | 'ListRolePolicies';

export interface IamCall {
  readonly action: string;
  readonly roleName?: string;
  readonly policyName?: string;
  /** PutRolePolicy: the document as received (decoded from the form). */
  readonly policyDocument?: string;
  /** `performance.now()` of this process when the request was complete, for latency measurements. */
  readonly at: number;
  /** Status code answered. */
  status?: number;
  /** The Authorization header: proves the request was SigV4-signed (never the secret). */
  readonly authorization?: string;
  readonly raw: Record<string, string>;
}

export interface IamFault {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
  /** Only these actions fail. @default all */
  readonly actions?: IamAction[];
  /** Only calls on this role fail. @default all roles */
  readonly roleName?: string;
}

export interface LocalIam {
  readonly endpoint: string;
  readonly calls: IamCall[];
  /** Role name → policy name → document. Roles must exist (see `createRole`) or IAM answers NoSuchEntity. */
  readonly roles: Map<string, Map<string, string>>;
  createRole(roleArnOrName: string): void;
  /** The inline policy as stored, or undefined. */
  policy(roleArnOrName: string, policyName: string): string | undefined;
  /** Makes every following matching call fail with this error, until cleared with undefined. */
  fail(fault: IamFault | undefined): void;
  /** Adds latency to every following answer. */
  delay(ms: number): void;
  stop(): Promise<void>;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const roleNameOf = (arnOrName: string) => arnOrName.split('/').pop() ?? arnOrName;
/** IAM counts policy size without whitespace. */
const policySize = (doc: string) => doc.replace(/\s/g, '').length;

function errorXml(code: string, message: string): string {
  const type = code === 'ServiceFailure' ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>${type}</Type><Code>${xmlEscape(code)}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

function okXml(action: string, result = ''): string {
  const body = result ? `<${action}Result>${result}</${action}Result>` : '';
  return `<${action}Response xmlns="${NAMESPACE}">${body}<ResponseMetadata><RequestId>${randomUUID()}</RequestId>`
    + `</ResponseMetadata></${action}Response>`;
}

class IamError extends Error {
  constructor(public readonly code: string, message: string, public readonly status: number) {
    super(message);
  }
}

export async function startLocalIam(options: { roles?: string[] } = {}): Promise<LocalIam> {
  const calls: IamCall[] = [];
  const roles = new Map<string, Map<string, string>>();
  let fault: IamFault | undefined;
  let latency = 0;
  const createRole = (arnOrName: string) => {
    if (!roles.has(roleNameOf(arnOrName))) roles.set(roleNameOf(arnOrName), new Map());
  };
  (options.roles ?? []).forEach(createRole);

  const roleOf = (name: string | undefined) => {
    if (!name || !NAME.test(name)) throw new IamError('ValidationError', 'RoleName must satisfy [\\w+=,.@-]{1,128}', 400);
    const role = roles.get(name);
    if (!role) throw new IamError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
    return role;
  };
  const policyNameOf = (name: string | undefined) => {
    if (!name || !NAME.test(name)) throw new IamError('ValidationError', 'PolicyName must satisfy [\\w+=,.@-]{1,128}', 400);
    return name;
  };

  const perform = (action: string, p: URLSearchParams): string => {
    switch (action) {
      case 'PutRolePolicy': {
        const role = roleOf(p.get('RoleName') ?? undefined);
        const name = policyNameOf(p.get('PolicyName') ?? undefined);
        const doc = p.get('PolicyDocument') ?? '';
        let parsed: any;
        try {
          parsed = JSON.parse(doc);
        } catch {
          throw new IamError('MalformedPolicyDocument', 'Syntax errors in policy.', 400);
        }
        if (parsed?.Version !== '2012-10-17' || !Array.isArray(parsed.Statement) || parsed.Statement.length === 0) {
          throw new IamError('MalformedPolicyDocument', 'The policy must have Version 2012-10-17 and at least one statement.', 400);
        }
        let total = policySize(doc);
        for (const [other, otherDoc] of role) if (other !== name) total += policySize(otherDoc);
        if (total > ROLE_INLINE_POLICIES_LIMIT) {
          const message = `Maximum policy size of ${ROLE_INLINE_POLICIES_LIMIT} bytes exceeded for role ${p.get('RoleName')}`;
          throw new IamError('LimitExceeded', message, 409);
        }
        role.set(name, doc);
        return okXml(action);
      }
      case 'GetRolePolicy': {
        const roleName = p.get('RoleName') ?? undefined;
        const role = roleOf(roleName);
        const name = policyNameOf(p.get('PolicyName') ?? undefined);
        const doc = role.get(name);
        if (doc === undefined) throw new IamError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
        // Real IAM returns the document URL-encoded (RFC 3986).
        return okXml(action, `<PolicyName>${xmlEscape(name)}</PolicyName><RoleName>${xmlEscape(roleName!)}</RoleName>`
          + `<PolicyDocument>${xmlEscape(encodeURIComponent(doc))}</PolicyDocument>`);
      }
      case 'DeleteRolePolicy': {
        const role = roleOf(p.get('RoleName') ?? undefined);
        const name = policyNameOf(p.get('PolicyName') ?? undefined);
        if (!role.delete(name)) throw new IamError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
        return okXml(action);
      }
      case 'ListRolePolicies': {
        const role = roleOf(p.get('RoleName') ?? undefined);
        const members = [...role.keys()].sort().map((n) => `<member>${xmlEscape(n)}</member>`).join('');
        return okXml(action, `<PolicyNames>${members}</PolicyNames><IsTruncated>false</IsTruncated>`);
      }
      default:
        throw new IamError('InvalidAction', `Unsupported action ${action}`, 400);
    }
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += String(d); });
    req.on('end', () => {
      const params = new URLSearchParams(body);
      const action = params.get('Action') ?? '';
      const call: IamCall = {
        action,
        roleName: params.get('RoleName') ?? undefined,
        policyName: params.get('PolicyName') ?? undefined,
        policyDocument: params.get('PolicyDocument') ?? undefined,
        at: performance.now(),
        authorization: req.headers.authorization,
        raw: Object.fromEntries(params),
      };
      calls.push(call);
      const answer = (status: number, xml: string) => setTimeout(() => {
        call.status = status;
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
        res.end(xml);
      }, latency);
      if (req.method !== 'POST' || params.get('Version') !== API_VERSION) {
        return answer(400, errorXml('InvalidAction', `expected POST with Version=${API_VERSION}`));
      }
      const f = fault;
      if (f && (!f.actions || f.actions.includes(action as IamAction)) && (!f.roleName || f.roleName === call.roleName)) {
        return answer(f.status ?? 400, errorXml(f.code, f.message));
      }
      try {
        return answer(200, perform(action, params));
      } catch (err) {
        if (!(err instanceof IamError)) return answer(500, errorXml('ServiceFailure', String(err)));
        return answer(err.status, errorXml(err.code, err.message));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    roles,
    createRole,
    policy: (arnOrName, policyName) => roles.get(roleNameOf(arnOrName))?.get(policyName),
    fail: (f) => { fault = f; },
    delay: (ms) => { latency = ms; },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
