// The session verifier relying parties use (lambda/verifier, shipped as assets/verifier): it asks the TVM's
// `POST /introspect`, signed as every TVM request is, and caches answers as the contract says.
import { identityProof } from '../cli/proof';
import { startIntrospectionTvm, TVM_REGION, type IntrospectionTvm } from './support/introspection-tvm';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { SessionVerifier, SessionVerifierError, type SessionVerifierOptions } from '../lambda/verifier';
import { IdentityProof, Introspection } from '../src/shared/contract';

const ACCOUNT = '111122223333';
const AUDIENCE = 'orders.example.com';
const RELYING_PARTY = `arn:aws:iam::${ACCOUNT}:role/orders-api`;
const SESSION = '0123456789abcdef';
const OTHER_SESSION = 'fedcba9876543210';
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-${SESSION}-req12345`;
const OTHER_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/tvm-test-ReadOnly/tvm-${OTHER_SESSION}-req12345`;
const T0 = new Date('2036-01-25T14:30:00.000Z');
const ACTIVE = {
  sub: `arn:aws:iam::${ACCOUNT}:user/alice`,
  username: 'alice',
  profile: 'readonly',
  role_arn: `arn:aws:iam::${ACCOUNT}:role/tvm-test-ReadOnly`,
  iat: T0.getTime() / 1000 - 60,
  exp: T0.getTime() / 1000 + 12 * 3600,
  credentials_exp: T0.getTime() / 1000 + 900,
};

let sts: LocalSts;
let tvm: IntrospectionTvm;
let clock: Date;
let keys: { accessKeyId: string; secretAccessKey: string };

const later = (seconds: number) => { clock = new Date(T0.getTime() + seconds * 1000); };
const verifierWith = (o: Partial<SessionVerifierOptions> = {}) => new SessionVerifier({
  tvmUrl: tvm.url, region: TVM_REGION, audience: AUDIENCE, credentials: keys, now: () => clock, ...o,
});
/** A caller's proof for the relying party, signed now by the principal `arn`. */
const proofOf = (arn: string) => identityProof(tvm.principal(arn), TVM_REGION, AUDIENCE, clock);
const failureOf = (p: Promise<unknown>) =>
  p.then(() => { throw new Error('expected a SessionVerifierError'); }, (err: unknown) => err as SessionVerifierError);

beforeAll(async () => {
  sts = await startLocalSts();
  tvm = await startIntrospectionTvm(sts, () => clock, AUDIENCE);
  keys = tvm.principal(RELYING_PARTY);
});
afterAll(async () => {
  await tvm?.stop();
  await sts?.stop();
});
beforeEach(() => {
  clock = T0;
  tvm.calls.length = 0;
  tvm.refusals.length = 0;
  tvm.sessions.clear();
  tvm.sessions.set(SESSION, ACTIVE);
  tvm.storeDown = false;
  tvm.override = undefined;
  tvm.gate = undefined;
});
afterEach(() => {
  // Every request a test made was signed and proven as the TVM requires, unless the test says otherwise.
  expect(tvm.refusals).toEqual([]);
});

describe('checkPrincipalArn', () => {
  test('GIVEN an active session WHEN its ARN is checked THEN the TVM\'s facts come back, asked with a signed, proven request', async () => {
    const check = await verifierWith().checkPrincipalArn(SESSION_ARN);

    expect(check).toEqual({
      active: true,
      sessionId: SESSION,
      user: 'alice',
      principalArn: SESSION_ARN,
      profile: 'readonly',
      roleArn: ACTIVE.role_arn,
      expiresAt: new Date((ACTIVE.exp) * 1000),
      credentialsExpireAt: new Date(ACTIVE.credentials_exp * 1000),
      fromCache: false,
    });
    expect(tvm.calls).toEqual([{
      fields: { token: SESSION_ARN, token_type_hint: 'principal_arn', on_store_failure: 'fail_closed' },
      proof: expect.any(String),
      signer: RELYING_PARTY,
    }]);
  });

  test('GIVEN an active answer WHEN the ARN is checked again THEN it is reused for 30 seconds, and asked again after', async () => {
    const verifier = verifierWith();
    await verifier.checkPrincipalArn(SESSION_ARN);
    later(Introspection.DEFAULT_ACTIVE_CACHE_SECONDS - 1);
    const cached = await verifier.checkPrincipalArn(SESSION_ARN);
    expect(tvm.calls).toHaveLength(1);
    tvm.sessions.delete(SESSION); // revoked meanwhile
    later(Introspection.DEFAULT_ACTIVE_CACHE_SECONDS);
    const fresh = await verifier.checkPrincipalArn(SESSION_ARN);

    expect(cached).toMatchObject({ active: true, sessionId: SESSION, fromCache: true });
    expect(fresh).toEqual({ active: false, fromCache: false });
    expect(tvm.calls).toHaveLength(2);
  });

  test('GIVEN an inactive answer WHEN the ARN is checked within the hour THEN the TVM is not asked again', async () => {
    const verifier = verifierWith();
    expect(await verifier.checkPrincipalArn(OTHER_ARN)).toEqual({ active: false, fromCache: false });
    tvm.sessions.set(OTHER_SESSION, ACTIVE); // an inactive session never comes back: this must not be seen
    later(Introspection.INACTIVE_CACHE_SECONDS - 1);

    expect(await verifier.checkPrincipalArn(OTHER_ARN)).toEqual({ active: false, fromCache: true });
    expect(tvm.calls).toHaveLength(1);
    later(Introspection.INACTIVE_CACHE_SECONDS);
    expect((await verifier.checkPrincipalArn(OTHER_ARN)).fromCache).toBe(false);
    expect(tvm.calls).toHaveLength(2);
  });

  test('GIVEN activeCacheSeconds 0 WHEN an active ARN is checked twice THEN the TVM is asked twice', async () => {
    const verifier = verifierWith({ activeCacheSeconds: 0 });
    await verifier.checkPrincipalArn(SESSION_ARN);
    await verifier.checkPrincipalArn(SESSION_ARN);

    expect(tvm.calls).toHaveLength(2);
  });

  test('GIVEN cacheSize 1 WHEN two sessions alternate THEN the older answer is forgotten first', async () => {
    tvm.sessions.set(OTHER_SESSION, ACTIVE);
    const verifier = verifierWith({ cacheSize: 1 });
    for (const arn of [SESSION_ARN, OTHER_ARN, OTHER_ARN, SESSION_ARN]) await verifier.checkPrincipalArn(arn);

    expect(tvm.calls.map((c) => c.fields.token)).toEqual([SESSION_ARN, OTHER_ARN, SESSION_ARN]);
  });

  test.each([
    ['an IAM user', `arn:aws:iam::${ACCOUNT}:user/alice`],
    ['a role session not named by a TVM', `arn:aws:sts::${ACCOUNT}:assumed-role/ReadOnly/alice`],
    ['a session name with a short id', `arn:aws:sts::${ACCOUNT}:assumed-role/ReadOnly/tvm-0123456789abcde-req`],
    ['not an ARN', 'tvm-0123456789abcdef-req'],
  ])('GIVEN %s WHEN checked THEN it is inactive without a call', async (_case, arn) => {
    expect(await verifierWith().checkPrincipalArn(arn)).toEqual({ active: false, fromCache: false });
    expect(tvm.calls).toHaveLength(0);
  });

  test('sessionIdOf reads the id of a TVM session\'s ARN only', () => {
    expect(SessionVerifier.sessionIdOf(SESSION_ARN)).toBe(SESSION);
    expect(SessionVerifier.sessionIdOf(`arn:aws-cn:sts::${ACCOUNT}:assumed-role/R/tvm-${SESSION}-ab`)).toBe(SESSION);
    expect(SessionVerifier.sessionIdOf(`arn:aws:iam::${ACCOUNT}:role/tvm-${SESSION}-ab`)).toBeUndefined();
    expect(SessionVerifier.sessionIdOf(undefined as unknown as string)).toBeUndefined();
  });

  test('fails when the TVM answers active about another session than the ARN\'s: TVM_BAD_ANSWER', async () => {
    tvm.override = { status: 200, body: { active: true, jti: OTHER_SESSION } };
    const err = await failureOf(verifierWith().checkPrincipalArn(SESSION_ARN));

    expect(err).toBeInstanceOf(SessionVerifierError);
    expect(err.code).toBe('TVM_BAD_ANSWER');
  });
});

describe('checkIdentityProof', () => {
  test('GIVEN a caller\'s proof for this audience WHEN checked THEN the TVM gets it with the audience, and answers for its signer',
    async () => {
      const proof = await proofOf(SESSION_ARN);
      const check = await verifierWith().checkIdentityProof(proof);

      expect(check).toMatchObject({ active: true, sessionId: SESSION, principalArn: SESSION_ARN, user: 'alice', fromCache: false });
      expect(tvm.calls[0].fields).toEqual({ token: proof, token_type_hint: 'identity_proof', audience: AUDIENCE, on_store_failure: 'fail_closed' });
    });

  test('GIVEN a proof checked once WHEN the same proof comes again THEN the answer is cached; another proof is asked', async () => {
    const verifier = verifierWith();
    const proof = await proofOf(SESSION_ARN);
    await verifier.checkIdentityProof(proof);
    later(20);
    const again = await verifier.checkIdentityProof(proof);
    const another = await verifier.checkIdentityProof(await proofOf(SESSION_ARN));

    expect(again.fromCache).toBe(true);
    expect(another.fromCache).toBe(false);
    expect(tvm.calls).toHaveLength(2);
  });

  test('GIVEN an active answer about a proof WHEN the proof is over 5 minutes old THEN the answer is not reused', async () => {
    const verifier = verifierWith();
    const proof = await proofOf(SESSION_ARN);
    later(IdentityProof.MAX_AGE_SECONDS - 10);
    expect((await verifier.checkIdentityProof(proof)).active).toBe(true);
    later(IdentityProof.MAX_AGE_SECONDS + 5);
    // Too old for the TVM to accept: inactive, decided here without asking it again.
    expect(await verifier.checkIdentityProof(proof)).toEqual({ active: false, fromCache: false });
    expect(tvm.calls).toHaveLength(1);
  });

  test('GIVEN a proof for another audience WHEN checked THEN it is inactive', async () => {
    const proof = await identityProof(tvm.principal(SESSION_ARN), TVM_REGION, 'billing.example.com', clock);

    expect((await verifierWith().checkIdentityProof(proof)).active).toBe(false);
  });

  test.each([['empty', ''], ['too long', 'A'.repeat(8193)]])('GIVEN a proof that is %s THEN it is inactive without a call', async (_c, proof) => {
    expect(await verifierWith().checkIdentityProof(proof)).toEqual({ active: false, fromCache: false });
    expect(tvm.calls).toHaveLength(0);
  });

  test('refuses to check a proof without an audience: NO_AUDIENCE, nothing sent', async () => {
    const err = await failureOf(verifierWith({ audience: undefined }).checkIdentityProof(await proofOf(SESSION_ARN)));

    expect(err.code).toBe('NO_AUDIENCE');
    expect(tvm.calls).toHaveLength(0);
  });
});

describe('store failures and errors are never cached', () => {
  test('GIVEN fail_open and a store outage WHEN checked twice THEN active with storeUnavailable, asked both times', async () => {
    tvm.storeDown = true;
    const verifier = verifierWith({ onStoreFailure: 'fail_open' });
    const first = await verifier.checkPrincipalArn(SESSION_ARN);
    const second = await verifier.checkPrincipalArn(SESSION_ARN);

    expect(first).toEqual({ active: true, sessionId: SESSION, storeUnavailable: true, fromCache: false });
    expect(second.fromCache).toBe(false);
    expect(tvm.calls.map((c) => c.fields.on_store_failure)).toEqual(['fail_open', 'fail_open']);
  });

  test('fails when the store is down under fail_closed: STORE_UNAVAILABLE (503), and the next check asks again', async () => {
    tvm.storeDown = true;
    const verifier = verifierWith();
    const err = await failureOf(verifier.checkPrincipalArn(SESSION_ARN));
    tvm.storeDown = false;
    const after = await verifier.checkPrincipalArn(SESSION_ARN);

    expect(err).toMatchObject({ name: 'SessionVerifierError', code: 'STORE_UNAVAILABLE', status: 503 });
    expect(err.message).toContain('req-503');
    expect(after).toMatchObject({ active: true, fromCache: false });
    expect(tvm.calls).toHaveLength(2);
  });

  test('fails when a fail_closed verifier gets a store_unavailable answer: it is the store failure, not an admission', async () => {
    tvm.override = { status: 200, body: { active: true, jti: SESSION, store_unavailable: true } };

    expect((await failureOf(verifierWith().checkPrincipalArn(SESSION_ARN))).code).toBe('STORE_UNAVAILABLE');
  });

  test.each<[string, { status: number; body: unknown }, string]>([
    ['a refusal', { status: 403, body: { Code: 'POLICY_DENY', Message: 'no', RequestId: 'r1' } }, 'POLICY_DENY'],
    ['a gateway error', { status: 502, body: '<html>Bad Gateway</html>' }, 'HTTP_502'],
    ['an answer that is not introspection', { status: 200, body: { Sessions: [] } }, 'TVM_BAD_ANSWER'],
    ['a hostile error code', { status: 500, body: { Code: 'X\nforged log line' } }, 'HTTP_500'],
  ])('fails on %s, with its code, and asks again next time', async (_case, answer, code) => {
    tvm.override = answer;
    const verifier = verifierWith();
    expect((await failureOf(verifier.checkPrincipalArn(SESSION_ARN))).code).toBe(code);
    tvm.override = undefined;

    expect((await verifier.checkPrincipalArn(SESSION_ARN)).active).toBe(true);
    expect(tvm.calls).toHaveLength(2);
  });

  test('fails with TVM_TIMEOUT when the TVM does not answer in time', async () => {
    tvm.gate = new Promise(() => undefined);
    const started = Date.now();
    const err = await failureOf(verifierWith({ timeoutMs: 200 }).checkPrincipalArn(SESSION_ARN));

    expect(err.code).toBe('TVM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('fails with TVM_UNREACHABLE when nothing listens', async () => {
    const err = await failureOf(verifierWith({ tvmUrl: 'http://127.0.0.1:1/' }).checkPrincipalArn(SESSION_ARN));

    expect(err.code).toBe('TVM_UNREACHABLE');
  });

  test('fails with HTTP_403 when the signature is not the signer\'s (the stand-in checks it, as API Gateway does)', async () => {
    const err = await failureOf(verifierWith({ credentials: { ...keys, secretAccessKey: 'wrong-secret' } }).checkPrincipalArn(SESSION_ARN));

    expect(err.code).toBe('HTTP_403');
    expect(tvm.refusals).toEqual([expect.stringMatching(/^signature: The request signature we calculated does not match/)]);
    tvm.refusals.length = 0;
  });

  test('fails with NO_CREDENTIALS when there is nothing to sign with', async () => {
    const err = await failureOf(verifierWith({ credentials: async () => { throw new Error(`leaked ${keys.secretAccessKey}`); } })
      .checkPrincipalArn(SESSION_ARN));

    expect(err.code).toBe('NO_CREDENTIALS');
    expect(err.message).not.toContain(keys.secretAccessKey);
  });

  test('no error message or stack holds a secret, a signature or a proof', async () => {
    const proof = await proofOf(SESSION_ARN);
    const errors: SessionVerifierError[] = [];
    tvm.storeDown = true;
    errors.push(await failureOf(verifierWith().checkIdentityProof(proof)));
    tvm.storeDown = false;
    tvm.override = { status: 403, body: { Code: 'POLICY_DENY', Message: `echo ${proof}`, RequestId: 'r1' } };
    errors.push(await failureOf(verifierWith().checkIdentityProof(proof)));
    tvm.override = { status: 200, body: `not json ${proof}` };
    errors.push(await failureOf(verifierWith().checkIdentityProof(proof)));
    tvm.override = undefined;
    errors.push(await failureOf(verifierWith({ send: async () => { throw new Error(`socket said ${proof}`); } }).checkIdentityProof(proof)));
    const own = tvm.calls[0].proof;

    expect(errors.map((e) => e.code)).toEqual(['STORE_UNAVAILABLE', 'POLICY_DENY', 'TVM_BAD_ANSWER', 'TVM_UNREACHABLE']);
    for (const e of errors) {
      const text = `${e.message}\n${e.stack}\n${JSON.stringify(e)}`;
      for (const secret of [keys.secretAccessKey, proof, own, 'Signature=', proof.slice(20, 60)]) expect(text).not.toContain(secret);
    }
  });
});

describe('requests', () => {
  test('GIVEN concurrent checks of one caller WHEN none is cached THEN they share one request', async () => {
    let open!: () => void;
    tvm.gate = new Promise((resolve) => { open = resolve; });
    const verifier = verifierWith();
    const proof = await proofOf(SESSION_ARN);
    const checks = Promise.all([
      ...Array.from({ length: 5 }, () => verifier.checkPrincipalArn(SESSION_ARN)),
      ...Array.from({ length: 3 }, () => verifier.checkIdentityProof(proof)),
    ]);
    await new Promise((r) => setTimeout(r, 100));
    open();
    const results = await checks;

    expect(tvm.calls).toHaveLength(2);
    expect(results.every((c) => c.active && c.sessionId === SESSION)).toBe(true);
    expect(results.filter((c) => !c.fromCache)).toHaveLength(2);
  });

  test('GIVEN one verifier WHEN it asks over 4 minutes THEN it signs its own proof once, and again after', async () => {
    // Keys of its own: a proof signed earlier with the same key and time would be the same proof, known to the TVM already.
    const verifier = verifierWith({ activeCacheSeconds: 0, credentials: tvm.principal(`arn:aws:iam::${ACCOUNT}:role/orders-api-2`) });
    const stsCalls = sts.identityCalls.length;
    for (const at of [0, 60, 120, 239]) {
      later(at);
      await verifier.checkPrincipalArn(SESSION_ARN);
    }
    later(240);
    await verifier.checkPrincipalArn(SESSION_ARN);

    const proofs = tvm.calls.map((c) => c.proof);
    expect(new Set(proofs.slice(0, 4)).size).toBe(1);
    expect(proofs[4]).not.toBe(proofs[0]);
    // The TVM verifies each of its proofs with STS once.
    expect(sts.identityCalls.length - stsCalls).toBe(2);
  });

  test('GIVEN rotated credentials WHEN the verifier asks THEN it signs with them and proves itself anew', async () => {
    let current = keys;
    const verifier = verifierWith({ activeCacheSeconds: 0, credentials: async () => current });
    await verifier.checkPrincipalArn(SESSION_ARN);
    current = tvm.principal(`arn:aws:sts::${ACCOUNT}:assumed-role/orders-api/rotated`);
    await verifier.checkPrincipalArn(SESSION_ARN);

    expect(tvm.calls.map((c) => c.signer)).toEqual([RELYING_PARTY, `arn:aws:sts::${ACCOUNT}:assumed-role/orders-api/rotated`]);
    expect(tvm.calls[0].proof).not.toBe(tvm.calls[1].proof);
  });

  test('the TVM URL keeps its base path', async () => {
    const seen: string[] = [];
    const verifier = verifierWith({
      tvmUrl: 'https://tvm.example.com/prod/',
      send: async (r) => {
        seen.push(r.url);
        return { status: 200, body: '{"active":false}' };
      },
    });
    await verifier.checkPrincipalArn(SESSION_ARN);

    expect(seen).toEqual(['https://tvm.example.com/prod/introspect']);
  });

  test.each<[string, Partial<SessionVerifierOptions>, RegExp]>([
    ['a plain http URL to another host', { tvmUrl: 'http://tvm.example.com/' }, /expected https/],
    ['a region that is not one', { region: 'Europe' }, /region "Europe"/],
    ['an audience with a space', { audience: 'orders example' }, /audience "orders example"/],
    ['a negative cache time', { activeCacheSeconds: -1 }, /activeCacheSeconds is -1/],
    ['an unknown store failure mode', { onStoreFailure: 'ignore' as 'fail_open' }, /onStoreFailure "ignore"/],
  ])('refuses %s', (_case, options, message) => {
    expect(() => verifierWith(options)).toThrow(message);
  });
});
