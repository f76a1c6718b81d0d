// A local STS endpoint (query protocol) for local mode. It verifies SigV4 signatures, and issues credentials for
// a role only when that role's trust policy allows all of STS's authorizations of the call, and the caller's own
// policies do not deny it sts:AssumeRole. Issued credentials remember their session tags (transitive ones carried on
// chaining), source identity and issue time, which identity policies see.
import { randomBytes, randomUUID } from 'crypto';
import { localRoleId, localUserId } from './accounts';
import { answerQuery, QueryError, queryErrorXml, serveLocal, xml, type LocalEndpoint } from './http';
import { authorizeAssumeRole, principalArnOf, type Decision, type IdentityDecision, type PolicyDocument } from './trust';
import { verifySigV4, type KnownKey } from './verify';

export interface LocalStsOptions {
  readonly region: string;
  readonly port?: number;
  /** Keys known to this STS (the TVM's own, the principals'); credentials it issues are added as it issues them. */
  readonly keys: ReadonlyMap<string, KnownKey>;
  /** Each role's trust policy, by role ARN (with its path); roles not listed cannot be assumed. */
  readonly roles: ReadonlyMap<string, PolicyDocument>;
  /** The caller's identity policies on an action: an explicit deny refuses the call. @default - nothing denied */
  readonly authorize?: (caller: KnownKey, action: string, resource: string) => IdentityDecision;
  readonly now?: () => Date;
  /** A role's unique id (`AROA…`), by account and name, for its sessions' ids. @default - {@link localRoleId} */
  readonly roleIdOf?: (account: string, roleName: string) => string;
  /** One line per refused call (never a secret). */
  readonly log?: (line: string) => void;
}

export interface LocalSts extends LocalEndpoint {
  /** Every credential issued so far, by access key id. */
  readonly issued: ReadonlyMap<string, KnownKey>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const STS_NAME = /^[\w+=,.@-]{2,64}$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
const alnum = (n: number) => {
  let out = '';
  while (out.length < n) out += randomBytes(n * 2).toString('base64').replace(/[^A-Z0-9]/g, '');
  return out.slice(0, n);
};

function members(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 1; params.has(`${prefix}.member.${i}`); i++) out.push(params.get(`${prefix}.member.${i}`)!);
  return out;
}

export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const issued = new Map<string, KnownKey>();
  const now = options.now ?? (() => new Date());
  const lookup = (id: string) => options.keys.get(id) ?? issued.get(id);
  const roleIdOf = options.roleIdOf ?? ((account: string, roleName: string) => localRoleId(account, roleName));

  const assumeRole = (callerKey: KnownKey, params: URLSearchParams): string => {
    const caller = callerKey.arn;
    const roleArn = params.get('RoleArn') ?? '';
    const roleSessionName = params.get('RoleSessionName') ?? '';
    const sourceIdentity = params.get('SourceIdentity') ?? undefined;
    const durationSeconds = Number(params.get('DurationSeconds') ?? 3600);
    const tags: { Key: string; Value: string }[] = [];
    for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
      tags.push({ Key: params.get(`Tags.member.${i}.Key`)!, Value: params.get(`Tags.member.${i}.Value`) ?? '' });
    }
    const transitiveTagKeys = members(params, 'TransitiveTagKeys');
    if (!STS_NAME.test(roleSessionName)) throw new QueryError(400, 'ValidationError', 'RoleSessionName must satisfy [\\w+=,.@-]{2,64}');
    if (sourceIdentity !== undefined && (!STS_NAME.test(sourceIdentity) || sourceIdentity.toLowerCase().startsWith('aws:'))) {
      throw new QueryError(400, 'ValidationError', 'SourceIdentity must satisfy [\\w+=,.@-]{2,64} and not start with aws:');
    }
    if (tags.length > 50 || tags.some((t) => !TAG_KEY.test(t.Key) || !TAG_VALUE.test(t.Value))) {
      throw new QueryError(400, 'ValidationError', 'Tags must be at most 50 valid keys and values');
    }
    if (transitiveTagKeys.some((k) => !tags.some((t) => t.Key === k))) {
      throw new QueryError(400, 'InvalidParameterValue', 'TransitiveTagKeys must name tags of this request');
    }
    // Credentials of an assumed role assuming another role are role chaining: STS caps them at one hour.
    if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 3600) {
      throw new QueryError(400, 'ValidationError', 'DurationSeconds must be from 900 to 3600 (role chaining caps credentials at one hour)');
    }
    // A session's own policies first: a revoked one (the enforcer's Deny on its role) cannot chain out.
    const own = options.authorize?.(callerKey, 'sts:AssumeRole', roleArn);
    if (own?.decision === 'ExplicitlyDenied') {
      options.log?.(`AccessDenied: AssumeRole of ${roleArn || '(none)'} by ${caller}: sts:AssumeRole denied by its own policy (${own.deniedBy})`);
      throw new QueryError(403, 'AccessDenied',
        `User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${roleArn} with an explicit deny in an identity-based policy`);
    }
    // Role chaining: the caller's transitive tags and source identity pass on, and cannot be changed.
    const carried = (callerKey.tags ?? []).filter((t) => (callerKey.transitiveTagKeys ?? []).includes(t.Key));
    const clash = carried.find((c) => tags.some((t) => t.Key.toLowerCase() === c.Key.toLowerCase()));
    if (clash) {
      throw new QueryError(400, 'InvalidParameterValue', `Tag key ${clash.Key} is a transitive tag of the calling session: it cannot be set again`);
    }
    if (callerKey.sourceIdentity !== undefined && sourceIdentity !== undefined && sourceIdentity !== callerKey.sourceIdentity) {
      throw new QueryError(403, 'AccessDenied', 'The source identity of the calling session cannot be changed');
    }
    const allTags = [...carried, ...tags];
    const allTransitive = [...new Set([...carried.map((t) => t.Key), ...transitiveTagKeys])];
    const identity = sourceIdentity ?? callerKey.sourceIdentity;
    const policy = options.roles.get(roleArn);
    const decisions: Record<string, Decision> = policy
      ? authorizeAssumeRole(policy, caller, { tags: allTags, transitiveTagKeys, sourceIdentity: identity, roleSessionName },
        callerKey.principalArn ?? principalArnOf(caller))
      : { 'sts:AssumeRole': 'ImplicitlyDenied' };
    const denied = Object.entries(decisions).filter(([, d]) => d !== 'Allowed');
    if (denied.length > 0) {
      options.log?.(`AccessDenied: AssumeRole of ${roleArn || '(none)'} by ${caller}: `
        + `${policy ? denied.map(([a, d]) => `${a} ${d}`).join(', ') : 'not a role it knows'}`);
      throw new QueryError(403, 'AccessDenied', `User: ${caller} is not authorized to perform: ${denied[0][0]} on resource: ${roleArn}`);
    }
    const account = roleArn.split(':')[4];
    const roleName = roleArn.split('/').pop()!;
    const arn = `arn:${roleArn.split(':')[1]}:sts::${account}:assumed-role/${roleName}/${roleSessionName}`;
    const accessKeyId = `ASIA${alnum(16)}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const sessionToken = randomBytes(160).toString('base64');
    const issuedAt = new Date(Math.floor(now().getTime() / 1000) * 1000);
    const expiration = new Date(issuedAt.getTime() + durationSeconds * 1000);
    issued.set(accessKeyId, {
      secretAccessKey,
      sessionToken,
      arn,
      expiration,
      principalArn: roleArn,
      roleArn,
      tags: allTags,
      transitiveTagKeys: allTransitive,
      ...(identity !== undefined ? { sourceIdentity: identity } : {}),
      issuedAt,
    });
    const roleId = roleIdOf(account, roleName);
    return `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult>`
      + (identity ? `<SourceIdentity>${xml(identity)}</SourceIdentity>` : '')
      + `<AssumedRoleUser><AssumedRoleId>${roleId}:${xml(roleSessionName)}</AssumedRoleId><Arn>${xml(arn)}</Arn></AssumedRoleUser>`
      + `<Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${xml(secretAccessKey)}</SecretAccessKey>`
      + `<SessionToken>${xml(sessionToken)}</SessionToken><Expiration>${expiration.toISOString()}</Expiration></Credentials>`
      + `<PackedPolicySize>${allTags.length ? 6 : 0}</PackedPolicySize></AssumeRoleResult>`
      + `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`;
  };

  /** STS's UserId: `AROA…:<session>` of a role session, `AIDA…` of a user, `<account>:<name>` of a federated user. */
  const userIdOf = (arn: string, accessKeyId: string): string => {
    const [, , , , account, resource = ''] = arn.split(':');
    const [type, ...rest] = resource.split('/');
    if (type === 'assumed-role') return `${roleIdOf(account, rest[0])}:${rest[rest.length - 1]}`;
    if (type === 'user') return localUserId(account, rest[rest.length - 1]);
    if (type === 'federated-user') return `${account}:${rest[rest.length - 1]}`;
    return resource === 'root' ? account : accessKeyId;
  };

  const getCallerIdentity = (key: KnownKey, accessKeyId: string): string => {
    const account = key.arn.split(':')[4];
    return `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${xml(key.arn)}</Arn>`
      + `<UserId>${xml(userIdOf(key.arn, accessKeyId))}</UserId><Account>${account}</Account></GetCallerIdentityResult>`
      + `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
  };

  const server = await serveLocal(options.port, async (req, res, body) => {
    try {
      if (!body) throw new QueryError(413, 'RequestEntityTooLarge', 'The request is too large');
      const verified = await verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
        { service: 'sts', region: options.region, lookup, now });
      if (!verified.ok) {
        options.log?.(`${verified.kind}: ${verified.reason}`);
        throw new QueryError(403, verified.kind, verified.reason);
      }
      const search = (req.url ?? '').split('?')[1] ?? '';
      const params = new URLSearchParams(req.method === 'POST' ? body.toString('utf8') : search);
      switch (params.get('Action')) {
        case 'AssumeRole': return answerQuery(res, 200, assumeRole(verified.key, params));
        case 'GetCallerIdentity': return answerQuery(res, 200, getCallerIdentity(verified.key, verified.accessKeyId));
        default: throw new QueryError(400, 'InvalidAction', `Action ${params.get('Action')} is not supported by the local STS`);
      }
    } catch (err) {
      const e = err instanceof QueryError ? err : new QueryError(500, 'InternalFailure', 'internal error');
      answerQuery(res, e.status, queryErrorXml(NS, e, 'Sender'));
    }
  });
  return { ...server, issued };
}
