// H1: identity comes from a proof the handler verifies with STS itself, never from the event alone. Someone who can
// invoke the function directly, with any requestContext they like, still cannot act as anyone but themselves.
import { identityProof } from '../cli/proof';
import { startLocalSts } from './support/local-sts';
import { ADMIN, ALICE, AUDIENCE, BOB, createFixture, event, stsClient, type Fixture } from './support/tvm-fixture';
import { IdentityVerifier, parseProof } from '../lambda/auth/proof';
import { IdentityProof } from '../src/shared/contract';

type Sts = Awaited<ReturnType<typeof startLocalSts>>;

const MALLORY = 'arn:aws:iam::111122223333:user/mallory';
const T0 = new Date('2036-01-25T14:30:00.000Z');
let fx: Fixture;
let sts: Sts;
let clock: Date;
let handle: (e: any) => Promise<any>;

const body = (res: any) => JSON.parse(res.body);
const proofFor = (arn: string, o: { audience?: string; region?: string; at?: Date } = {}) =>
  identityProof(sts.principal(arn), o.region ?? 'us-east-1', o.audience ?? AUDIENCE, o.at ?? clock);
const withProof = (proof: string, opts: Parameters<typeof event>[0]) => {
  const e: any = event(opts);
  e.headers = { ...e.headers, [IdentityProof.HEADER]: proof };
  return e;
};

beforeAll(async () => {
  fx = await createFixture();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
});
beforeEach(() => {
  clock = T0;
  sts.calls.length = 0;
  sts.identityCalls.length = 0;
  sts.failIdentity(undefined);
  handle = fx.handler({ sts: stsClient(sts.endpoint), now: () => clock, proofs: false });
});

describe('a direct invocation with a forged authorizer context', () => {
  test('fails without a proof: 403 IAM_AUTH_REQUIRED, nothing written, nothing assumed', async () => {
    const before = await fx.items();
    const res = await handle(event({ userArn: ALICE, query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
    expect(sts.calls).toHaveLength(0);
    expect(await fx.items()).toEqual(before);
  });

  test('fails when the proof is the attacker\'s own: the signer must be the principal the context names', async () => {
    const res = await handle(withProof(await proofFor(MALLORY), { userArn: ALICE, query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(403);
    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
    expect(sts.calls).toHaveLength(0);
  });

  test('without any authorizer context, the caller is whoever signed the proof: mallory gets no profile of alice', async () => {
    const res = await handle(withProof(await proofFor(MALLORY), { userArn: null, query: { profile: 'readonly' } }));

    expect(body(res).Code).toBe('POLICY_DENY');
    expect(sts.calls).toHaveLength(0);
  });

  test('cannot act as an administrator: revoking and listing as the admin need the admin\'s signature', async () => {
    const vended = body(await handle(withProof(await proofFor(ALICE), { query: { profile: 'readonly' } })));
    const revoke = await handle(withProof(await proofFor(BOB), {
      userArn: ADMIN, method: 'POST', path: `/sessions/${vended.SessionId}/revoke`, body: '{"reason":"forged"}',
    }));
    const list = await handle(withProof(await proofFor(BOB), { userArn: null, path: '/sessions', query: { status: 'active' } }));

    expect(body(revoke).Code).toBe('IAM_AUTH_REQUIRED');
    expect((await fx.item(vended.SessionId))?.status).toBe('active');
    // Bob, as himself, sees only his own sessions (none).
    expect(body(list).Sessions).toEqual([]);
  });
});

describe('a proof is bound to this TVM, to STS of its region, and to a short time', () => {
  test.each([
    ['another TVM\'s audience', { audience: 'other123.execute-api.us-east-1.amazonaws.com' }],
    ['another region\'s STS', { region: 'eu-west-1' }],
    ['a time more than 5 minutes ago', { at: new Date(T0.getTime() - 301_000) }],
    ['a time more than a minute ahead (it would live longer)', { at: new Date(T0.getTime() + 61_000) }],
  ])('fails for %s, before STS is asked', async (_what, o) => {
    const res = await handle(withProof(await proofFor(ALICE, o), { query: { profile: 'readonly' } }));

    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
    expect(sts.identityCalls).toHaveLength(0);
    expect(sts.calls).toHaveLength(0);
  });

  test('fails when the audience is rewritten after signing: STS refuses the signature', async () => {
    const decoded = JSON.parse(Buffer.from(await proofFor(ALICE, { audience: 'other123.execute-api.us-east-1.amazonaws.com' }), 'base64')
      .toString('utf8'));
    decoded.headers[IdentityProof.AUDIENCE_HEADER] = AUDIENCE;
    const res = await handle(withProof(Buffer.from(JSON.stringify(decoded)).toString('base64'), { query: { profile: 'readonly' } }));

    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
    expect(sts.identityCalls).toEqual([{ arn: undefined, status: 403 }]);
    expect(sts.calls).toHaveLength(0);
  });

  test('fails when the proof carries a header it may not (nothing unexpected is forwarded to STS)', async () => {
    const decoded = JSON.parse(Buffer.from(await proofFor(ALICE), 'base64').toString('utf8'));
    decoded.headers['x-forwarded-host'] = 'evil.example';
    const res = await handle(withProof(Buffer.from(JSON.stringify(decoded)).toString('base64'), { query: { profile: 'readonly' } }));

    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
    expect(sts.identityCalls).toHaveLength(0);
  });

  test.each([['not base64 JSON', '%%%'], ['too long', 'A'.repeat(IdentityProof.MAX_LENGTH + 1)], ['an empty object', 'e30=']])(
    'fails for a proof that is %s', async (_what, proof) => {
      const res = await handle(withProof(proof, { query: { profile: 'readonly' } }));
      expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
      expect(sts.identityCalls).toHaveLength(0);
    });
});

test('a proof signed a few seconds ahead (clock skew) is accepted', async () => {
  const res = await handle(withProof(await proofFor(ALICE, { at: new Date(T0.getTime() + 30_000) }), { query: { profile: 'readonly' } }));
  expect(res.statusCode).toBe(200);
});

describe('verifying costs one STS call per proof', () => {
  test('a vend with a fresh proof calls GetCallerIdentity once; the same proof again is answered from the cache', async () => {
    const proof = await proofFor(ALICE);
    const first = await handle(withProof(proof, { query: { profile: 'readonly' } }));
    const second = await handle(withProof(proof, { query: { profile: 'readonly' }, headers: { 'x-sentinel-session-id': body(first).SessionId } }));

    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(sts.identityCalls).toEqual([{ arn: ALICE, status: 200 }]);
  });

  test('a cached proof stops being accepted once it is too old', async () => {
    const proof = await proofFor(ALICE);
    expect((await handle(withProof(proof, { query: { profile: 'readonly' } }))).statusCode).toBe(200);
    clock = new Date(T0.getTime() + 301_000);
    const res = await handle(withProof(proof, { query: { profile: 'readonly' } }));
    expect(body(res).Code).toBe('IAM_AUTH_REQUIRED');
  });

  test('fails with 502 CREDENTIAL_ERROR when STS cannot answer, and vends nothing', async () => {
    sts.failIdentity({ code: 'InternalFailure', message: 'boom', status: 500 });
    const res = await handle(withProof(await proofFor(ALICE), { query: { profile: 'readonly' } }));

    expect(res.statusCode).toBe(502);
    expect(body(res).Code).toBe('CREDENTIAL_ERROR');
    expect(sts.identityCalls).toHaveLength(2); // one retry
    expect(sts.calls).toHaveLength(0);
  });
});

describe('the proof the client builds', () => {
  test('signs host, date, audience and token, for STS of the region, and nothing the verifier refuses', async () => {
    const proof = await identityProof({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 's', sessionToken: 'tok' }, 'eu-west-1', 'Api.Example:443', T0);
    const headers = parseProof(proof);

    expect(headers.host).toBe('sts.eu-west-1.amazonaws.com');
    expect(headers[IdentityProof.AUDIENCE_HEADER]).toBe('api.example:443');
    expect(headers.authorization).toMatch(/SignedHeaders=[^,]*host[^,]*x-amz-date[^,]*x-amz-security-token[^,]*x-sentinel-tvm-audience/);
    expect(headers['x-amz-security-token']).toBe('tok');
  });

  test('China regions sign for STS\'s .amazonaws.com.cn host', async () => {
    const headers = parseProof(await identityProof({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 's' }, 'cn-north-1', AUDIENCE, T0));
    expect(headers.host).toBe('sts.cn-north-1.amazonaws.com.cn');
  });

  test('an IdentityVerifier without audiences is a configuration error', () => {
    expect(() => new IdentityVerifier({ audiences: [], region: 'us-east-1' })).toThrow(/no audience/);
  });
});
