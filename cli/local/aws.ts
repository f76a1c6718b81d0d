// One AWS-style call for local mode: S3 ListBuckets (`GET /`, SigV4 for s3), decided by the caller's identity policies
// as IAM would decide `s3:ListAllMyBuckets`: so that credentials issued before a revocation can be seen refused once the
// enforcer's deny is on their role, in the TVM's account and in a spoke's.
import { createHash, randomBytes, randomUUID } from 'crypto';
import { explicitDenyMessage, type LocalAccounts } from './accounts';
import { serveLocal, xml, type LocalEndpoint } from './http';
import { verifySigV4, type KnownKey, type RefusalKind } from './verify';

export const LIST_BUCKETS_ACTION = 's3:ListAllMyBuckets';

export interface LocalAwsOptions {
  readonly region: string;
  readonly port?: number;
  readonly accounts: LocalAccounts;
  readonly lookup: (accessKeyId: string) => KnownKey | undefined;
  readonly now?: () => Date;
  /** One line per refusal (never a secret). */
  readonly log?: (line: string) => void;
}

export type LocalAws = LocalEndpoint;

/** S3's error codes for what the signature check refused. */
const S3_CODES: Record<RefusalKind, [number, string]> = {
  MissingAuthenticationToken: [403, 'AccessDenied'],
  InvalidClientTokenId: [403, 'InvalidAccessKeyId'],
  ExpiredToken: [400, 'ExpiredToken'],
  SignatureDoesNotMatch: [403, 'SignatureDoesNotMatch'],
  IncompleteSignature: [400, 'AuthorizationHeaderMalformed'],
  MalformedQueryString: [400, 'InvalidRequest'],
};

export async function startLocalAws(options: LocalAwsOptions): Promise<LocalAws> {
  const now = options.now ?? (() => new Date());
  return serveLocal(options.port, async (req, res, body) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const answer = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId, 'x-amz-id-2': randomUUID() });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`);
    };
    const error = (status: number, code: string, message: string) =>
      answer(status, `<Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message><RequestId>${requestId}</RequestId></Error>`);
    if (!body) return error(400, 'MaxMessageLengthExceeded', 'Your request was too big.');
    const verified = await verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      { service: 's3', region: options.region, lookup: options.lookup, now });
    if (!verified.ok) {
      options.log?.(`${verified.kind}: ${verified.reason}`);
      const [status, code] = S3_CODES[verified.kind];
      return error(status, code, verified.reason);
    }
    if (req.method !== 'GET' || verified.target.path !== '/' || verified.target.rawQueryString !== '') {
      return error(501, 'NotImplemented', 'Local mode answers only ListBuckets (GET /).');
    }
    const { key } = verified;
    const decision = options.accounts.decide(key, LIST_BUCKETS_ACTION, '*', now());
    if (decision.decision !== 'Allowed') {
      const message = decision.decision === 'ExplicitlyDenied' ? explicitDenyMessage(key.arn, LIST_BUCKETS_ACTION, '*')
        : `User: ${key.arn} is not authorized to perform: ${LIST_BUCKETS_ACTION} `
          + `because no identity-based policy allows the ${LIST_BUCKETS_ACTION} action`;
      options.log?.(`AccessDenied: ${LIST_BUCKETS_ACTION} by ${key.arn}${decision.deniedBy ? ` (statement ${decision.deniedBy})` : ''}`);
      return error(403, 'AccessDenied', message);
    }
    const owner = createHash('sha256').update(key.arn.split(':')[4]).digest('hex');
    return answer(200, '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
      + `<Owner><ID>${owner}</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>`);
  });
}
