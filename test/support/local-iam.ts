// A local IAM endpoint speaking the query protocol (the inline role policy actions), so that the real
// @aws-sdk/client-iam serializes (and signs) the real requests and parses real-shaped answers. Several accounts: each
// has its own roles, and a request acts in the account of the key that signed it (credentials a local STS issued, whose
// signature is then checked), else in the default account.
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { performance } from 'perf_hooks';
import type { IssuedCredentials } from './local-sts';
import { verifySigV4 } from '../../cli/local/verify';

const NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
const API_VERSION = '2010-05-08';
/** IAM: all inline policies of one role together, whitespace not counted. */
export const ROLE_INLINE_POLICIES_LIMIT = 10_240;
const NAME = /^[\w+=,.@-]{1,128}$/;
/** The account of requests signed with a key this endpoint does not know (the fixtures' account). */
export const DEFAULT_IAM_ACCOUNT = '111122223333';
const CREDENTIAL = /Credential=([^/\s,]+)\/\d{8}\/([^/\s,]+)\//;

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
  /** The access key id that signed the request. */
  readonly accessKeyId?: string;
  /** The account the request acted in: the signing key's. */
  readonly account: string;
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
  /** Only calls acting in this account fail. @default all accounts */
  readonly account?: string;
}

export interface LocalIamOptions {
  /** Roles to create: a name goes to the default account, an ARN to its own account. */
  readonly roles?: string[];
  /** @default DEFAULT_IAM_ACCOUNT */
  readonly account?: string;
  /**
   * Credentials a local STS issued (`sts.issued`): a request signed with them acts in the assumed role's account, and its
   * signature is checked as IAM does. Other keys act in the default account, unchecked.
   */
  readonly issued?: (accessKeyId: string) => IssuedCredentials | undefined;
}

export interface LocalIam {
  readonly endpoint: string;
  readonly calls: IamCall[];
  /** The default account's roles: role name → policy name → document. Roles must exist (see `createRole`) or IAM answers NoSuchEntity. */
  readonly roles: Map<string, Map<string, string>>;
  /** Every account's roles, the default account's included. */
  readonly accounts: Map<string, Map<string, Map<string, string>>>;
  readonly defaultAccount: string;
  /** Creates a role: a name in the default account, an ARN in its own account. */
  createRole(roleArnOrName: string): void;
  /** The inline policy as stored (an ARN's role in its account, a name's in the default one), or undefined. */
  policy(roleArnOrName: string, policyName: string): string | undefined;
  /** The role's inline policies (an ARN's role in its account), undefined when the role does not exist. */
  policiesOf(roleArnOrName: string): Map<string, string> | undefined;
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

function policyNameOf(name: string | undefined): string {
  if (!name || !NAME.test(name)) throw new IamError('ValidationError', 'PolicyName must satisfy [\\w+=,.@-]{1,128}', 400);
  return name;
}

export async function startLocalIam(options: LocalIamOptions = {}): Promise<LocalIam> {
  const calls: IamCall[] = [];
  const defaultAccount = options.account ?? DEFAULT_IAM_ACCOUNT;
  const roles = new Map<string, Map<string, string>>();
  const accounts = new Map([[defaultAccount, roles]]);
  let fault: IamFault | undefined;
  let latency = 0;
  /** The roles of an ARN's account (a name: the default account's), created on first use. */
  const storeOf = (arnOrName: string) => {
    const account = /^arn:[^:]+:iam::(\d{12}):role\//.exec(arnOrName)?.[1] ?? defaultAccount;
    if (!accounts.has(account)) accounts.set(account, new Map());
    return accounts.get(account)!;
  };
  const createRole = (arnOrName: string) => {
    const store = storeOf(arnOrName);
    if (!store.has(roleNameOf(arnOrName))) store.set(roleNameOf(arnOrName), new Map());
  };
  (options.roles ?? []).forEach(createRole);

  const perform = (action: string, p: URLSearchParams, account: string): string => {
    const store = accounts.get(account) ?? new Map<string, Map<string, string>>();
    const roleOf = (name: string | undefined) => {
      if (!name || !NAME.test(name)) throw new IamError('ValidationError', 'RoleName must satisfy [\\w+=,.@-]{1,128}', 400);
      const role = store.get(name);
      if (!role) throw new IamError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
      return role;
    };
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

  /**
   * Checks the signature of a request signed with credentials the STS issued (as IAM does): undefined when it holds (or
   * the key is not one of those), else the error IAM answers.
   */
  const refusal = async (req: http.IncomingMessage, body: Buffer, key: IssuedCredentials | undefined, region: string) => {
    if (!key) return undefined;
    const verified = await verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body }, {
      service: 'iam',
      region,
      lookup: (id) => (id === key.accessKeyId
        ? { secretAccessKey: key.secretAccessKey, sessionToken: key.sessionToken, arn: key.roleArn, expiration: key.expiration }
        : undefined),
    });
    return verified.ok ? undefined : new IamError(verified.kind, verified.reason, 403);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const bytes = Buffer.concat(chunks);
      const params = new URLSearchParams(bytes.toString('utf8'));
      const action = params.get('Action') ?? '';
      // The signing key tells the account: one the STS issued acts in its role's account, any other in the default one.
      const signing = CREDENTIAL.exec(req.headers.authorization ?? '');
      const key = signing ? options.issued?.(signing[1]) : undefined;
      const call: IamCall = {
        action,
        roleName: params.get('RoleName') ?? undefined,
        policyName: params.get('PolicyName') ?? undefined,
        policyDocument: params.get('PolicyDocument') ?? undefined,
        at: performance.now(),
        authorization: req.headers.authorization,
        accessKeyId: signing?.[1],
        account: key?.account ?? defaultAccount,
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
      const refused = key
        ? await refusal(req, bytes, key, signing![2]).catch((err) => new IamError('ServiceFailure', String(err), 500))
        : undefined;
      if (refused) return answer(refused.status, errorXml(refused.code, refused.message));
      const f = fault;
      if (f && (!f.actions || f.actions.includes(action as IamAction)) && (!f.roleName || f.roleName === call.roleName)
        && (!f.account || f.account === call.account)) {
        return answer(f.status ?? 400, errorXml(f.code, f.message));
      }
      try {
        return answer(200, perform(action, params, call.account));
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
    accounts,
    defaultAccount,
    createRole,
    policy: (arnOrName, policyName) => storeOf(arnOrName).get(roleNameOf(arnOrName))?.get(policyName),
    policiesOf: (arnOrName) => storeOf(arnOrName).get(roleNameOf(arnOrName)),
    fail: (f) => { fault = f; },
    delay: (ms) => { latency = ms; },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
