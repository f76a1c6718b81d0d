// A local IAM endpoint (query protocol) for the enforcer: the inline role policy actions it uses, on the roles of the
// signing credentials' own account (as IAM's endpoint acts in the caller's account), for the TVM's enforcer role in the
// TVM's account and a spoke's enforcement role in that spoke's account only, on protected roles only. And GetRole for the
// execution role in the TVM's account (local mode's access function signs as it), on Identity Center's reserved path only,
// as the construct grants its access function.
import { randomUUID } from 'crypto';
import type { LocalAccounts, LocalRole } from './accounts';
import { answerQuery, QueryError, queryErrorXml, serveLocal, xml, type LocalEndpoint } from './http';
import { verifySigV4, type KnownKey } from './verify';
import { IDENTITY_CENTER_ROLE_PATH_PREFIX } from '../../src/shared/access';

const NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';
const NAME = /^[\w+=,.@-]{1,128}$/;
/** IAM: all inline policies of one role together, whitespace not counted. */
const ROLE_INLINE_POLICIES_LIMIT = 10_240;
const ACTIONS = ['GetRolePolicy', 'PutRolePolicy', 'DeleteRolePolicy', 'ListRolePolicies'];

export interface IamCallRecord {
  readonly action: string;
  /** The account acted in: the caller's. */
  readonly account: string;
  readonly roleName?: string;
  readonly policyName?: string;
  readonly caller: string;
  readonly status: number;
  readonly code?: string;
}

export interface LocalIamOptions {
  readonly region: string;
  readonly port?: number;
  readonly accounts: LocalAccounts;
  readonly lookup: (accessKeyId: string) => KnownKey | undefined;
  readonly now?: () => Date;
  /** Each call once answered (never a secret or a document). */
  readonly log?: (call: IamCallRecord) => void;
}

export type LocalIam = LocalEndpoint;

function ok(action: string, result = ''): string {
  return `<${action}Response xmlns="${NAMESPACE}">${result ? `<${action}Result>${result}</${action}Result>` : ''}`
    + `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
}

export async function startLocalIam(options: LocalIamOptions): Promise<LocalIam> {
  const { accounts } = options;
  const names = accounts.names;
  const now = options.now ?? (() => new Date());

  /** Who may call, and where: the hub enforcer in the TVM's account, a spoke's enforcement role in its own. */
  const mayEnforce = (key: KnownKey, account: string) => {
    const principal = accounts.principalArnOf(key);
    return (account === names.tvmAccount && principal === names.enforcerRoleArn)
      || (accounts.config.spokeAccounts.includes(account) && principal === names.spokeRoleArn(account));
  };
  /** The enforcer's roles: those of the configuration and any under the protected path; never the runtime's own. */
  const writable = (role: LocalRole) => role.kind === 'protected' || role.path.startsWith(names.protectedRolePath);

  /**
   * The execution role's grant: iam:GetRole on `role/aws-reserved/sso.amazonaws.com/*` of its own account. A role that
   * does not exist has no path to match, so it is AccessDenied too, as its ARN is then `role/<name>`.
   */
  const getRole = (key: KnownKey, account: string, role: LocalRole | undefined, resource: string): string => {
    const allowed = account === names.tvmAccount && accounts.principalArnOf(key) === names.executionRoleArn;
    if (!allowed || !role || !role.path.startsWith(IDENTITY_CENTER_ROLE_PATH_PREFIX)) {
      throw new QueryError(403, 'AccessDenied', `User: ${key.arn} is not authorized to perform: iam:GetRole on resource: ${resource}`);
    }
    const created = role.createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
    // IAM returns the trust policy URL-encoded, as it does inline policies.
    return ok('GetRole', `<Role><Path>${xml(role.path)}</Path><RoleName>${xml(role.name)}</RoleName><RoleId>${role.roleId}</RoleId>`
      + `<Arn>${xml(role.arn)}</Arn><CreateDate>${created}</CreateDate>`
      + `<AssumeRolePolicyDocument>${xml(encodeURIComponent(JSON.stringify(role.trust)))}</AssumeRolePolicyDocument>`
      + '<MaxSessionDuration>3600</MaxSessionDuration><RoleLastUsed/></Role>');
  };

  const perform = (key: KnownKey, action: string, p: URLSearchParams): string => {
    const account = key.arn.split(':')[4];
    const roleName = p.get('RoleName') ?? '';
    if (!ACTIONS.includes(action) && action !== 'GetRole') {
      throw new QueryError(400, 'InvalidAction', `Action ${action} is not supported by the local IAM`);
    }
    if (!NAME.test(roleName)) throw new QueryError(400, 'ValidationError', 'RoleName must satisfy [\\w+=,.@-]{1,128}');
    const role = accounts.role(account, roleName);
    const resource = role?.arn ?? `arn:aws:iam::${account}:role/${roleName}`;
    if (action === 'GetRole') return getRole(key, account, role, resource);
    if (!mayEnforce(key, account) || (role && !writable(role))) {
      throw new QueryError(403, 'AccessDenied', `User: ${key.arn} is not authorized to perform: iam:${action} on resource: ${resource}`);
    }
    if (!role) throw new QueryError(404, 'NoSuchEntity', `The role with name ${roleName} cannot be found.`);
    if (action === 'ListRolePolicies') {
      const members = [...role.policies.keys()].sort().map((n) => `<member>${xml(n)}</member>`).join('');
      return ok(action, `<PolicyNames>${members}</PolicyNames><IsTruncated>false</IsTruncated>`);
    }
    const policyName = p.get('PolicyName') ?? '';
    if (!NAME.test(policyName)) throw new QueryError(400, 'ValidationError', 'PolicyName must satisfy [\\w+=,.@-]{1,128}');
    const missing = () => new QueryError(404, 'NoSuchEntity', `The role policy with name ${policyName} cannot be found.`);
    switch (action) {
      case 'GetRolePolicy': {
        const document = role.policies.get(policyName);
        if (document === undefined) throw missing();
        // IAM returns the document URL-encoded.
        return ok(action, `<PolicyName>${xml(policyName)}</PolicyName><RoleName>${xml(role.name)}</RoleName>`
          + `<PolicyDocument>${xml(encodeURIComponent(document))}</PolicyDocument>`);
      }
      case 'DeleteRolePolicy':
        if (!role.policies.delete(policyName)) throw missing();
        return ok(action);
      default: {
        const document = p.get('PolicyDocument') ?? '';
        let parsed: any;
        try {
          parsed = JSON.parse(document);
        } catch {
          throw new QueryError(400, 'MalformedPolicyDocument', 'Syntax errors in policy.');
        }
        if (parsed?.Version !== '2012-10-17' || !Array.isArray(parsed.Statement) || parsed.Statement.length === 0) {
          throw new QueryError(400, 'MalformedPolicyDocument', 'The policy must have Version 2012-10-17 and at least one statement.');
        }
        const size = (d: string) => d.replace(/\s/g, '').length;
        const total = [...role.policies].filter(([n]) => n !== policyName).reduce((sum, [, d]) => sum + size(d), size(document));
        if (total > ROLE_INLINE_POLICIES_LIMIT) {
          throw new QueryError(409, 'LimitExceeded', `Maximum policy size of ${ROLE_INLINE_POLICIES_LIMIT} bytes exceeded for role ${role.name}`);
        }
        role.policies.set(policyName, document);
        return ok(action);
      }
    }
  };

  return serveLocal(options.port, async (req, res, body) => {
    const params = new URLSearchParams(req.method === 'POST' ? (body?.toString('utf8') ?? '') : (req.url ?? '').split('?')[1] ?? '');
    const action = params.get('Action') ?? '';
    let key: KnownKey | undefined;
    const answer = (status: number, text: string, code?: string) => {
      answerQuery(res, status, text);
      if (key) {
        options.log?.({
          action,
          account: key.arn.split(':')[4],
          roleName: params.get('RoleName') ?? undefined,
          policyName: params.get('PolicyName') ?? undefined,
          caller: key.arn,
          status,
          ...(code ? { code } : {}),
        });
      }
    };
    try {
      if (!body) throw new QueryError(413, 'RequestEntityTooLarge', 'The request is too large');
      // IAM is global: the SDK signs for us-east-1, or for its own region when given an endpoint URL.
      const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
      const region = scope === 'us-east-1' ? scope : options.region;
      const verified = await verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
        { service: 'iam', region, lookup: options.lookup, now });
      if (!verified.ok) throw new QueryError(403, verified.kind, verified.reason);
      key = verified.key;
      answer(200, perform(verified.key, action, params));
    } catch (err) {
      const e = err instanceof QueryError ? err : new QueryError(500, 'ServiceFailure', 'internal error');
      answer(e.status, queryErrorXml(NAMESPACE, e, e.status >= 500 ? 'Receiver' : 'Sender'), e.code);
    }
  });
}
