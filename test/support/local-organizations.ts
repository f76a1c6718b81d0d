// A local AWS Organizations endpoint speaking the JSON 1.1 protocol (`X-Amz-Target: AWSOrganizationsV20161128.<Operation>`)
// for DescribePolicy and UpdatePolicy: requests must be SigV4-signed for service `organizations` in us-east-1 by a key it
// knows, as the real endpoint of the aws partition requires; any other operation is refused.
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { performance } from 'perf_hooks';
import { verifySigV4 } from '../../cli/local/verify';
import { SCP_MAX_CHARS } from '../../src/shared/contract';

const TARGET_PREFIX = 'AWSOrganizationsV20161128.';
const POLICY_ID = /^p-[0-9a-zA-Z_]{8,128}$/;
const CREDENTIAL = /Credential=([^/\s,]+)\//;

export interface OrganizationsCall {
  /** The operation named by X-Amz-Target (without its prefix). */
  readonly operation: string;
  readonly policyId?: string;
  /** UpdatePolicy: the content received. */
  readonly content?: string;
  readonly accessKeyId?: string;
  /** `performance.now()` when the request was complete. */
  readonly at: number;
  status?: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface OrganizationsFault {
  /** The exception name (`__type`): AccessDeniedException, TooManyRequestsException, PolicyNotFoundException, … */
  readonly code: string;
  readonly message: string;
  /** @default 400 */
  readonly status?: number;
  /** Only these operations fail. @default both */
  readonly operations?: ('DescribePolicy' | 'UpdatePolicy')[];
  /** Fails this many calls, then answers again. @default every call */
  readonly times?: number;
}

export interface LocalOrganizations {
  readonly endpoint: string;
  readonly calls: OrganizationsCall[];
  /** Policy id → content. */
  readonly policies: Map<string, string>;
  fail(fault: OrganizationsFault | undefined): void;
  delay(ms: number): void;
  stop(): Promise<void>;
}

export interface LocalOrganizationsOptions {
  /** The keys allowed to call (the management account's principals): access key id → secret. */
  readonly keys: Record<string, string>;
  /** Policies that exist: id → content. */
  readonly policies?: Record<string, string>;
}

export async function startLocalOrganizations(options: LocalOrganizationsOptions): Promise<LocalOrganizations> {
  const calls: OrganizationsCall[] = [];
  const policies = new Map(Object.entries(options.policies ?? {}));
  let fault: OrganizationsFault | undefined;
  let faultsLeft = Infinity;
  let latency = 0;

  class OrgError extends Error {
    constructor(public readonly code: string, message: string, public readonly status = 400) {
      super(message);
    }
  }

  const policyOf = (id: unknown) => {
    if (typeof id !== 'string' || !POLICY_ID.test(id)) {
      throw new OrgError('InvalidInputException', 'You provided a value that does not match the required pattern.');
    }
    if (!policies.has(id)) throw new OrgError('PolicyNotFoundException', 'We can\'t find a policy with the PolicyId that you specified.');
    return id;
  };
  const describe = (id: string) => ({
    PolicySummary: {
      Id: id,
      Arn: `arn:aws:organizations::111122223333:policy/o-exampleorgid/service_control_policy/${id}`,
      Name: 'SentinelRevokedSessions-test',
      Type: 'SERVICE_CONTROL_POLICY',
      AwsManaged: false,
    },
    Content: policies.get(id),
  });

  const perform = (operation: string, input: any): unknown => {
    switch (operation) {
      case 'DescribePolicy':
        return { Policy: describe(policyOf(input?.PolicyId)) };
      case 'UpdatePolicy': {
        const id = policyOf(input?.PolicyId);
        const content = input?.Content;
        if (content !== undefined) {
          if (typeof content !== 'string') throw new OrgError('InvalidInputException', 'Content must be a string.');
          // Organizations counts every character of an SCP, whitespace included.
          if (content.length > SCP_MAX_CHARS) {
            throw new OrgError('ConstraintViolationException', 'You have exceeded the maximum size of a policy (POLICY_CONTENT_LIMIT_EXCEEDED).');
          }
          let parsed: any;
          try {
            parsed = JSON.parse(content);
          } catch {
            throw new OrgError('MalformedPolicyDocumentException',
              'The provided policy document does not meet the requirements of the specified policy type.');
          }
          if (parsed?.Version !== '2012-10-17' || !Array.isArray(parsed.Statement) || parsed.Statement.length === 0) {
            throw new OrgError('MalformedPolicyDocumentException', 'The policy must have Version 2012-10-17 and at least one statement.');
          }
          policies.set(id, content);
        }
        return { Policy: describe(id) };
      }
      default:
        throw new OrgError('UnknownOperationException', `Unsupported operation ${operation}`);
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const bytes = Buffer.concat(chunks);
      const body = bytes.toString('utf8');
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
      let input: any;
      try {
        input = body ? JSON.parse(body) : {};
      } catch {
        input = undefined;
      }
      const call: OrganizationsCall = {
        operation,
        policyId: typeof input?.PolicyId === 'string' ? input.PolicyId : undefined,
        content: typeof input?.Content === 'string' ? input.Content : undefined,
        accessKeyId: CREDENTIAL.exec(req.headers.authorization ?? '')?.[1],
        at: performance.now(),
        headers: req.headers,
        body,
      };
      calls.push(call);
      const answer = (status: number, json: unknown) => setTimeout(() => {
        call.status = status;
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify(json));
      }, latency);
      const error = (e: OrgError) => answer(e.status, { __type: e.code, Message: e.message });

      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.1' || !target.startsWith(TARGET_PREFIX)) {
        return error(new OrgError('UnknownOperationException', 'expected POST, Content-Type application/x-amz-json-1.1 and X-Amz-Target'));
      }
      if (input === undefined) return error(new OrgError('SerializationException', 'the body is not JSON'));
      const verified = await verifySigV4({ method: 'POST', url: req.url ?? '/', headers: req.headers, body: bytes }, {
        service: 'organizations',
        region: 'us-east-1',
        lookup: (id) => (options.keys[id] === undefined ? undefined : { secretAccessKey: options.keys[id], arn: `key/${id}` }),
      });
      if (!verified.ok) {
        const code = verified.kind === 'InvalidClientTokenId' ? 'UnrecognizedClientException' : 'InvalidSignatureException';
        return error(new OrgError(code, verified.reason, 403));
      }
      const f = fault;
      if (f && faultsLeft > 0 && (!f.operations || f.operations.includes(operation as 'DescribePolicy'))) {
        faultsLeft -= 1;
        return error(new OrgError(f.code, f.message, f.status ?? 400));
      }
      try {
        return answer(200, perform(operation, input));
      } catch (err) {
        if (err instanceof OrgError) return error(err);
        return error(new OrgError('ServiceException', String(err), 500));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    policies,
    fail: (f) => {
      fault = f;
      faultsLeft = f?.times ?? Infinity;
    },
    delay: (ms) => { latency = ms; },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
