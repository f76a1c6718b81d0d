// The local front door stands in for API Gateway's AWS_IAM authorization: a request reaches the handler only with a
// valid SigV4 signature of a known principal, over the body it carries, made within 5 minutes of the server's clock.
import * as http from 'http';
import { HttpRequest } from '@smithy/protocol-http';
import { sendRequest, signRequest, type Credentials, type RequestSpec, type SendOverrides, type SignOptions } from './support/cli-sign';
import { startFrontDoor, type FrontDoor } from '../cli/local/front-door';
import { verifySigV4, type KnownKey } from '../cli/local/verify';
import { signerFor } from '../cli/signing';

const ALICE = { accessKeyId: 'AKIDLOCALALICE', secretAccessKey: 'local-alice-secret-not-real' };
const TEMP = { accessKeyId: 'ASIALOCALTEMP0001', secretAccessKey: 'temp-secret-not-real', sessionToken: 'token-not-real+/=' };
const KEYS = new Map<string, KnownKey>([
  [ALICE.accessKeyId, { secretAccessKey: ALICE.secretAccessKey, arn: 'arn:aws:iam::111122223333:user/alice' }],
  [TEMP.accessKeyId, {
    secretAccessKey: TEMP.secretAccessKey, sessionToken: TEMP.sessionToken, arn: 'arn:aws:sts::111122223333:assumed-role/ReadOnly/tvm-x',
  }],
]);

let door: FrontDoor;
let events: any[];
let fail: boolean;

beforeAll(async () => {
  door = await startFrontDoor({
    region: 'us-east-1',
    accountId: '111122223333',
    lookup: (id) => KEYS.get(id),
    handler: async (event: any) => {
      events.push(event);
      if (fail) throw new Error('boom');
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true }) };
    },
  });
});
afterAll(() => door?.stop());
beforeEach(() => {
  events = [];
  fail = false;
});

const sign = (r: RequestSpec, o: SignOptions & { credentials?: Credentials } = {}) => signRequest(door.url, o.credentials ?? ALICE, r, o);
const send = (signed: HttpRequest, o: SendOverrides = {}) => sendRequest(door.url, signed, o);

/** Sends a signed request's method, headers and body to a request target written byte for byte, as a relay could. */
function sendRaw(target: string, signed: HttpRequest, headers: Record<string, string> = signed.headers): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: door.port, method: signed.method, path: target, headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += String(d); });
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(signed.body);
  });
}

describe('GIVEN a request signed with SigV4 by a principal of the config', () => {
  test('THEN the handler gets the payload 2.0 event with the IAM context API Gateway would add', async () => {
    const res = await send(await sign({ path: '/sessions', query: { user: 'carol@example.com', status: 'active' } }));

    expect(res).toEqual({ status: 200, body: { ok: true } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      version: '2.0',
      routeKey: 'GET /sessions',
      rawPath: '/sessions',
      queryStringParameters: { user: 'carol@example.com', status: 'active' },
      requestContext: {
        accountId: '111122223333',
        stage: '$default',
        http: { method: 'GET', path: '/sessions', sourceIp: '127.0.0.1' },
        authorizer: { iam: { accessKey: ALICE.accessKeyId, accountId: '111122223333', userArn: 'arn:aws:iam::111122223333:user/alice' } },
        requestId: expect.stringMatching(/^[A-Za-z0-9]{15}=$/),
      },
    });
  });

  test('THEN a body, a path parameter and characters that need encoding are verified and passed on', async () => {
    const res = await send(await sign({ method: 'POST', path: '/sessions/0123456789abcdef/revoke', query: { 'a b': 'ü/+*' }, body: '{"reason":"lost ü"}' }));
    expect(res.status).toBe(200);
    expect(events[0]).toMatchObject({
      routeKey: 'POST /sessions/{id}/revoke',
      pathParameters: { id: '0123456789abcdef' },
      body: '{"reason":"lost ü"}',
      isBase64Encoded: false,
      queryStringParameters: { 'a b': 'ü/+*' },
    });
  });

  test('THEN temporary credentials with their session token are accepted', async () => {
    const res = await send(await sign({}, { credentials: TEMP }));
    expect(res.status).toBe(200);
    expect(events[0].requestContext.authorizer.iam.userArn).toBe('arn:aws:sts::111122223333:assumed-role/ReadOnly/tvm-x');
  });

  test('THEN a request signed 4 minutes ago is still accepted (inside the clock skew window)', async () => {
    expect((await send(await sign({}, { date: new Date(Date.now() - 4 * 60_000) }))).status).toBe(200);
  });

  test('THEN a handler failure is API Gateway\'s 500, without details', async () => {
    fail = true;
    expect(await send(await sign({}))).toEqual({ status: 500, body: { message: 'Internal Server Error' } });
  });
});

describe('fails with 403 IAM_AUTH_REQUIRED, and the handler is never called, when', () => {
  const BODY = '{"reason":"laptop stolen"}';
  test.each<[string, () => Promise<{ status: number; body: any }>, RegExp]>([
    ['the request is not signed', async () => send(new HttpRequest({ method: 'GET', path: '/', query: {}, headers: { host: new URL(door.url).host } })),
      /Missing Authentication Token/],
    ['the secret is wrong', async () => send(await sign({}, { credentials: { ...ALICE, secretAccessKey: 'guess' } })), /signature .* does not match/],
    ['the access key is unknown', async () => send(await sign({}, { credentials: { accessKeyId: 'AKIDLOCALMALLORY', secretAccessKey: 'x' } })),
      /security token .* is invalid/],
    ['the request is replayed after the 5-minute window', async () => send(await sign({}, { date: new Date(Date.now() - 6 * 60_000) })),
      /Signature expired/],
    ['the request is dated 6 minutes ahead', async () => send(await sign({}, { date: new Date(Date.now() + 6 * 60_000) })), /Signature expired/],
    ['the body is replaced (x-amz-content-sha256 signed)', async () => send(await sign({ method: 'POST', path: '/x', body: BODY }),
      { body: '{"reason":"nothing to see"}' }), /x-amz-content-sha256 .* does not match/],
    ['the body is replaced (no x-amz-content-sha256)', async () => send(await sign({ method: 'POST', path: '/x', body: BODY }, { checksum: false }),
      { body: '{"reason":"nothing to see"}' }), /signature .* does not match/],
    ['the query is changed', async () => send(await sign({ query: { profile: 'readonly' } }), { query: { profile: 'admin' } }), /signature .* does not match/],
    ['the path is changed', async () => send(await sign({ path: '/sessions/0123456789abcdef' }), { path: '/sessions/fedcba9876543210' }),
      /signature .* does not match/],
    ['a signed header is changed', async () => {
      const signed = await sign({ headers: { 'x-sentinel-session-id': '0123456789abcdef' } });
      return send(new HttpRequest({ ...signed, headers: { ...signed.headers, 'x-sentinel-session-id': 'fedcba9876543210' } }));
    }, /signature .* does not match/],
    ['the session token is left out', async () => send(await sign({}, { credentials: TEMP }), { dropHeaders: ['x-amz-security-token'] }),
      /security token|signed header x-amz-security-token/],
    ['the signature is for another service', async () => send(await sign({}, { service: 's3' })), /service s3: expected execute-api/],
    ['the request is signed for another host', async () => send(await sign({ headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com' } })),
      /is for host abc123\.execute-api\.us-east-1\.amazonaws\.com, not this API/],
    ['the signature is for another region', async () => send(await sign({}, { region: 'eu-west-1' })), /region eu-west-1: expected us-east-1/],
  ])('%s', async (_case, attempt, message) => {
    const res = await attempt();
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ Code: 'IAM_AUTH_REQUIRED', Message: expect.stringMatching(message), RequestId: expect.any(String) });
    expect(events).toEqual([]);
  });
});

describe('GIVEN a request target the signature and the handler could read differently (rewritten on the way, or not in normal form)', () => {
  const signedRepeated = async () => signerFor('execute-api', 'us-east-1', ALICE).sign(new HttpRequest({
    method: 'GET', hostname: '127.0.0.1', port: door.port, path: '/sessions', query: { user: ['a', 'b'] }, headers: { host: new URL(door.url).host },
  })) as Promise<HttpRequest>;
  test.each<[string, () => Promise<HttpRequest>, () => string, number, RegExp]>([
    // SigV4 reads a raw "+" as a plus, form decoding as a space: the signature for "a+b" must not let the handler see "a b".
    ['a "+" sent for the "%2B" that was signed', () => sign({ path: '/sessions', query: { user: 'a+b' } }), () => '/sessions?user=a+b', 400,
      /"\+".*send %2B or %20/],
    // The signer drops dot and empty segments before signing, so these would verify with the signature for /sessions.
    ['/x/../sessions for the signed /sessions', () => sign({ path: '/sessions' }), () => '/x/../sessions', 400, /"\." or "\.\." segment/],
    ['//sessions for the signed /sessions', () => sign({ path: '/sessions' }), () => '//sessions', 400, /empty segment/],
    ['/sessions/. for the signed /sessions', () => sign({ path: '/sessions' }), () => '/sessions/.', 400, /"\." or "\.\." segment/],
    ['an encoded dot segment, even signed as sent', () => sign({ path: '/x/%2E%2E/sessions' }), () => '/x/%2E%2E/sessions', 400,
      /"\." or "\.\." segment/],
    ['an encoded slash inside a segment, even signed as sent', () => sign({ path: '/sessions%2F0123456789abcdef' }),
      () => '/sessions%2F0123456789abcdef', 400, /encoded "\/"/],
    // Repeated values are signed sorted but would reach the handler joined in the order received.
    ['a repeated parameter, reordered', signedRepeated, () => '/sessions?user=b&user=a', 400, /"user" is repeated/],
    // The signer leaves X-Amz-Signature out of the canonical query string.
    ['X-Amz-Signature added to the query', () => sign({ path: '/sessions' }), () => '/sessions?X-Amz-Signature=0', 403, /X-Amz-Signature/],
    ['a full URL as the request target', () => sign({ path: '/sessions' }), () => `${door.url}sessions`, 400, /not a full URL/],
  ])('%s: refused, and the handler is never called', async (_case, signed, target, status, message) => {
    const res = await sendRaw(target(), await signed());

    expect(res.status).toBe(status);
    expect(res.body.message ?? res.body.Message).toMatch(message);
    expect(events).toEqual([]);
  });

  test('a "+" and a space sent percent-encoded, as signed, reach the handler as "+" and " "', async () => {
    const signed = await sign({ path: '/sessions', query: { user: 'a+b c' } });

    const res = await sendRaw('/sessions?user=a%2Bb%20c', signed);

    expect(res.status).toBe(200);
    expect(events[0]).toMatchObject({ rawPath: '/sessions', rawQueryString: 'user=a%2Bb%20c', queryStringParameters: { user: 'a+b c' } });
  });

  test('a signed header gets to the handler with the value the signature covers, not extra whitespace added on the way', async () => {
    const signed = await sign({ path: '/sessions', headers: { 'x-sentinel-session-id': 'a b' } });

    const res = await sendRaw('/sessions', signed, { ...signed.headers, 'x-sentinel-session-id': 'a \t  b' });

    expect(res.status).toBe(200);
    expect(events[0].headers['x-sentinel-session-id']).toBe('a b');
  });
});

describe('verifySigV4 on a raw target (as the local STS calls it)', () => {
  test('fails with MalformedQueryString when the query string has a "+", and verifies the same request sent with %2B', async () => {
    const host = '127.0.0.1:1';
    const now = new Date();
    const signed = await signerFor('sts', 'us-east-1', ALICE).sign(new HttpRequest({
      method: 'GET', hostname: '127.0.0.1', port: 1, path: '/', query: { Action: 'GetCallerIdentity', x: 'a+b' }, headers: { host },
    }), { signingDate: now }) as HttpRequest;
    const check = (url: string) => verifySigV4({ method: 'GET', url, headers: signed.headers, body: Buffer.alloc(0) },
      { service: 'sts', region: 'us-east-1', lookup: (id) => KEYS.get(id), now: () => now });

    expect(await check('/?Action=GetCallerIdentity&x=a+b')).toMatchObject({ ok: false, kind: 'MalformedQueryString' });
    expect(await check('/?Action=GetCallerIdentity&x=a%2Bb'))
      .toMatchObject({ ok: true, target: { query: { Action: 'GetCallerIdentity', x: 'a+b' } } });
  });
});
