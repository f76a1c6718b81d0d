// A stand-in for the TVM's `POST /introspect` on 127.0.0.1, strict where the real one is: it checks the SigV4 signature
// (as API Gateway does), the identity proof of the caller (the real IdentityVerifier, against the local STS) and that both
// have one signer, then answers per the contract from the sessions a test declares.
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { LocalSts } from './local-sts';
import { verifySigV4, type KnownKey } from '../../cli/local/verify';
import { IdentityVerifier } from '../../lambda/auth/proof';
import { IdentityProof, Introspection, type IntrospectionAnswer } from '../../src/shared/contract';

export const TVM_REGION = 'us-east-1';

/** A request the stand-in accepted (signature and proof valid). */
export interface IntrospectCall {
  readonly fields: Record<string, string>;
  /** The caller's own identity proof (its `x-sentinel-identity` header). */
  readonly proof: string;
  /** Who signed the request. */
  readonly signer: string;
}

export interface IntrospectionTvm {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly calls: IntrospectCall[];
  /** Why requests were refused (bad signature or proof), in order. */
  readonly refusals: string[];
  /** Active sessions by id: the answer's fields beyond `active` and `jti`. */
  readonly sessions: Map<string, Partial<IntrospectionAnswer>>;
  /** While true, the session store "fails": 503 STORE_UNAVAILABLE, or the fail_open answer. */
  storeDown: boolean;
  /** Answers every accepted request with this instead (faults). */
  override?: { readonly status: number; readonly body: unknown };
  /** Accepted requests wait for this before they are answered (requests in flight). */
  gate?: Promise<void>;
  /** Credentials of a principal (registered with the local STS too); a role session ARN may name a TVM session. */
  principal(arn: string): { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

const TVM_SESSION = /^arn:aws:sts::\d{12}:assumed-role\/[^/]+\/tvm-([0-9a-f]{16})-/;

/**
 * Starts the stand-in. `now` is its clock for signatures and proofs (the tests' injected clock); `audience` is the relying
 * party's audience that token proofs must name.
 */
export async function startIntrospectionTvm(sts: LocalSts, now: () => Date, audience: string): Promise<IntrospectionTvm> {
  const keys = new Map<string, KnownKey>();
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The TVM's own audience is its host; relying parties' proofs are checked by a verifier of their audience.
  const callers = new IdentityVerifier({ audiences: [host], region: TVM_REGION, endpoint: sts.endpoint, now });
  const tokens = new IdentityVerifier({ audiences: [audience], region: TVM_REGION, endpoint: sts.endpoint, now });

  const tvm: IntrospectionTvm = {
    url: `http://${host}/`,
    calls: [],
    refusals: [],
    sessions: new Map(),
    storeDown: false,
    principal(arn) {
      const creds = sts.principal(arn);
      keys.set(creds.accessKeyId, { secretAccessKey: creds.secretAccessKey, arn });
      return creds;
    },
    stop: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };

  const answerFor = async (fields: Record<string, string>): Promise<[number, unknown]> => {
    let arn: string | undefined = fields.token;
    if (fields.token_type_hint === 'identity_proof') {
      arn = await tokens.verify(fields.token).then((identity) => identity.arn, () => undefined);
      if (fields.audience !== audience) arn = undefined;
    }
    const sessionId = arn === undefined ? undefined : TVM_SESSION.exec(arn)?.[1];
    if (sessionId === undefined) return [200, { active: false }];
    if (tvm.storeDown) {
      return fields.on_store_failure === 'fail_open' ? [200, { active: true, jti: sessionId, store_unavailable: true }]
        : [503, { Code: 'STORE_UNAVAILABLE', Message: 'The session store is unavailable.', RequestId: 'req-503' }];
    }
    const session = tvm.sessions.get(sessionId);
    if (!session) return [200, { active: false }];
    return [200, { active: true, jti: sessionId, principal_arn: arn, token_type: fields.token_type_hint, iss: 'test-tvm', ...session }];
  };

  const handle = async (req: http.IncomingMessage, body: Buffer): Promise<[number, unknown]> => {
    const verified = await verifySigV4({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body },
      { service: 'execute-api', region: TVM_REGION, lookup: (id) => keys.get(id), now });
    if (!verified.ok) {
      tvm.refusals.push(`signature: ${verified.reason}`);
      return [403, { message: 'Forbidden' }];
    }
    const proof = req.headers[IdentityProof.HEADER];
    const identity = await callers.verify(typeof proof === 'string' ? proof : undefined).catch((err: { detail?: string }) => {
      tvm.refusals.push(`proof: ${err.detail}`);
      return undefined;
    });
    if (!identity || identity.arn !== verified.key.arn) {
      if (identity) tvm.refusals.push('proof: another signer');
      return [403, { Code: 'IAM_AUTH_REQUIRED', Message: 'This API requires an identity proof.', RequestId: 'req-403' }];
    }
    if (req.method !== 'POST' || req.url !== Introspection.PATH) return [404, { Code: 'NOT_FOUND', Message: 'No such route.' }];
    const fields = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    tvm.calls.push({ fields, proof: proof as string, signer: verified.key.arn });
    await tvm.gate;
    return tvm.override ? [tvm.override.status, tvm.override.body] : answerFor(fields);
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, Buffer.concat(chunks)).then(([status, body]) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
      }, () => res.destroy());
    });
  });
  return tvm;
}
