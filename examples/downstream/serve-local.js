#!/usr/bin/env node
// Serves the downstream orders API of examples/downstream-api.ts on this machine, against a running `sentinel-tvm local`,
// as API Gateway's HTTP API runs it: each request to GET /orders goes first to the route's Lambda authorizer, the package's
// bundled one (assets/lambda/authorizer.lambda/index.js) in a worker thread with the environment SentinelSessionAuthorizer
// gives it (one warm container: its cache lives across requests), then, when authorized, to the backend (orders.js) with
// the authorizer's context. A request without the identity header is answered 401 without asking the authorizer, and one
// the authorizer refuses 403 {"message":"Forbidden"}, as API Gateway answers them. The relying party signs its
// introspection requests with its made-up keys from the local config (principal orders-authorizer).
//   node examples/downstream/serve-local.js --tvm-url http://127.0.0.1:PORT/ --sts-url http://127.0.0.1:PORT/ \
//     [--port N] [--audience orders.example.com] [--allowed-profiles prod-readonly] [--cache-seconds 30] \
//     [--config examples/local/config.json] [--principal ARN]
// The defaults are the settings of examples/downstream-api.ts.
// Prints "serve-local: orders API at http://127.0.0.1:PORT/" on stdout when ready; one line per request on stderr.
'use strict';
const { randomBytes } = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const readline = require('readline');
const { parseArgs } = require('util');
const { Worker } = require('worker_threads');
const orders = require('./orders');

const ROOT = path.join(__dirname, '..', '..');
const AUTHORIZER_BUNDLE = path.join(ROOT, 'assets', 'lambda', 'authorizer.lambda', 'index.js');
const IDENTITY_HEADER = 'x-sentinel-identity';
const ROUTE = { method: 'GET', path: '/orders' };
/** The authorizer function's timeout (SentinelSessionAuthorizer: 8 s, below API Gateway's 10 s). */
const AUTHORIZER_TIMEOUT_MS = 8_000;
const LOOPBACK_URL = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?$/;

function usage(message) {
  console.error(`serve-local: ${message}`);
  console.error('usage: node examples/downstream/serve-local.js --tvm-url URL --sts-url URL [--port N] [--audience NAME] '
    + '[--allowed-profiles A,B] [--cache-seconds N] [--config FILE] [--principal ARN]   (the URLs `sentinel-tvm local` prints)');
  process.exit(2);
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'tvm-url': { type: 'string' },
        'sts-url': { type: 'string' },
        'port': { type: 'string', default: '0' },
        'audience': { type: 'string', default: 'orders.example.com' },
        'allowed-profiles': { type: 'string', default: 'prod-readonly' },
        'cache-seconds': { type: 'string', default: '30' },
        'config': { type: 'string', default: path.join(ROOT, 'examples', 'local', 'config.json') },
        'principal': { type: 'string', default: 'arn:aws:iam::111122223333:user/orders-authorizer' },
      },
    }));
  } catch (err) {
    return usage(err.message);
  }
  for (const name of ['tvm-url', 'sts-url']) {
    const what = name === 'tvm-url' ? 'ready at' : 'STS at';
    if (!values[name] || !LOOPBACK_URL.test(values[name])) usage(`--${name} is required: the "${what}" URL sentinel-tvm local prints`);
  }
  if (!/^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}(,[A-Za-z0-9][A-Za-z0-9_.-]{0,63})*)?$/.test(values['allowed-profiles'])) {
    usage(`--allowed-profiles "${values['allowed-profiles']}": expected profile names separated by commas (empty: any profile)`);
  }
  for (const name of ['port', 'cache-seconds']) {
    if (!/^\d{1,5}$/.test(values[name])) usage(`--${name} "${values[name]}": expected a whole number`);
  }
  if (!fs.existsSync(AUTHORIZER_BUNDLE)) usage(`the bundled authorizer is missing at ${AUTHORIZER_BUNDLE}: build it with \`npx projen bundle\``);
  let config;
  try {
    config = JSON.parse(fs.readFileSync(values.config, 'utf8'));
  } catch (err) {
    return usage(`cannot read the local config ${values.config}: ${err.code || err.message}`);
  }
  // The relying party's made-up keys: the principal of the config with that ARN (never printed).
  const [accessKeyId, principal] = Object.entries(config.principals || {}).find(([, p]) => p && p.arn === values.principal) || [];
  if (!accessKeyId) usage(`no principal ${values.principal} in ${values.config}`);
  return {
    tvmUrl: values['tvm-url'],
    stsUrl: values['sts-url'].replace(/\/$/, ''),
    port: Number(values.port),
    audience: values.audience,
    allowedProfiles: values['allowed-profiles'],
    cacheSeconds: values['cache-seconds'],
    region: config.region || 'us-east-1',
    account: config.tvmAccount || '111122223333',
    principal: values.principal,
    key: { accessKeyId, secretAccessKey: principal.secretAccessKey },
  };
}

// The authorizer's container: loads the bundle once, then one invocation per message.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('worker_threads');
let handler;
let loadError;
try { handler = require(workerData.bundle).handler; } catch (err) { loadError = String(err && err.message || err); }
parentPort.on('message', async (m) => {
  if (loadError) return parentPort.postMessage({ id: m.id, error: 'cannot load the authorizer: ' + loadError });
  try {
    parentPort.postMessage({ id: m.id, result: await handler(m.event, { awsRequestId: m.id, functionName: 'orders-authorizer' }) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.name || 'Error') });
  }
});
`;

/** The authorizer Lambda: its environment as SentinelSessionAuthorizer sets it, plus the relying party's credentials. */
function startAuthorizer(o) {
  const env = {
    SENTINEL_TVM_URL: o.tvmUrl,
    SENTINEL_TVM_REGION: o.region,
    SENTINEL_AUDIENCE: o.audience,
    SENTINEL_ACTIVE_CACHE_SECONDS: o.cacheSeconds,
    SENTINEL_ON_STORE_FAILURE: 'fail_closed',
    ...(o.allowedProfiles ? { SENTINEL_ALLOWED_PROFILES: o.allowedProfiles } : {}),
    AWS_REGION: o.region,
    AWS_DEFAULT_REGION: o.region,
    AWS_ACCESS_KEY_ID: o.key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.key.secretAccessKey,
    AWS_ENDPOINT_URL_STS: o.stsUrl,
    // Anything else goes nowhere rather than to AWS; nothing of this machine's AWS configuration.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  let worker;
  const spawn = () => {
    const w = new Worker(WORKER_SOURCE, { eval: true, env, workerData: { bundle: AUTHORIZER_BUNDLE }, stdout: true, stderr: true });
    for (const stream of [w.stdout, w.stderr]) {
      readline.createInterface({ input: stream }).on('line', (l) => console.error(`serve-local: authorizer: ${l}`));
    }
    w.on('exit', () => { if (worker === w) worker = undefined; });
    w.on('error', (err) => console.error(`serve-local: the authorizer's worker failed: ${err.message}`));
    return w;
  };
  worker = spawn();
  let n = 0;
  return {
    invoke: (event) => new Promise((resolve) => {
      const w = worker || (worker = spawn());
      const id = String(++n);
      const timer = setTimeout(() => {
        // As Lambda: a timed-out container is dropped.
        if (worker === w) worker = undefined;
        void w.terminate();
        finish({ error: 'timed out' });
      }, AUTHORIZER_TIMEOUT_MS);
      const onMessage = (m) => { if (m.id === id) finish(m); };
      const onExit = () => finish({ error: 'its worker exited' });
      function finish(m) {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(m);
      }
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.postMessage({ id, event });
    }),
    stop: () => worker && worker.terminate(),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n) => String(n).padStart(2, '0');
/** API Gateway's request time: 12/Mar/2020:19:03:58 +0000. */
const clfTime = (d) => `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:`
  + `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
const requestId = () => `${randomBytes(11).toString('base64').replace(/[+/]/g, 'A').slice(0, 15)}=`;

/** The request as API Gateway gives it to Lambda (payload 2.0): headers lower-cased, repeated ones comma-joined. */
function requestOf(req, o, id, now) {
  const url = new URL(req.url || '/', 'http://localhost');
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const host = headers.host || 'localhost';
  return {
    routeKey: `${ROUTE.method} ${ROUTE.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(headers.cookie ? { cookies: headers.cookie.split(/;\s*/) } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: o.account,
      apiId: 'orders-local',
      domainName: host,
      domainPrefix: host.split('.')[0],
      http: {
        method: req.method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: req.socket.remoteAddress || '127.0.0.1',
        userAgent: headers['user-agent'] || '',
      },
      requestId: id,
      routeKey: `${ROUTE.method} ${ROUTE.path}`,
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
  };
}

function answer(res, status, body, id, headers = { 'content-type': 'application/json' }) {
  res.writeHead(status, { ...headers, 'apigw-requestid': id });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function main() {
  const o = options();
  const authorizer = startAuthorizer(o);
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => void (async () => {
      const id = requestId();
      const started = Date.now();
      const line = (status, more = '') => console.error(`serve-local: ${req.method} ${(req.url || '/').split('?')[0]} ${status}${more}`);
      const request = requestOf(req, o, id, new Date());
      if (req.method !== ROUTE.method || request.rawPath !== ROUTE.path) {
        line(404);
        return answer(res, 404, { message: 'Not Found' }, id);
      }
      // The route's identity source: API Gateway refuses a request without it before any authorizer runs.
      const proof = request.headers[IDENTITY_HEADER];
      if (!proof) {
        line(401, ` (no ${IDENTITY_HEADER} header)`);
        return answer(res, 401, { message: 'Unauthorized' }, id);
      }
      const event = {
        version: '2.0',
        type: 'REQUEST',
        routeArn: `arn:aws:execute-api:${o.region}:${o.account}:orders-local/$default/${ROUTE.method}${ROUTE.path}`,
        identitySource: [proof],
        ...request,
      };
      const decision = await authorizer.invoke(event);
      const ms = ` (authorizer ${Date.now() - started} ms)`;
      if (decision.error) {
        line(500, `${ms}: the authorizer failed: ${decision.error}`);
        return answer(res, 500, { message: 'Internal Server Error' }, id);
      }
      if (!decision.result || decision.result.isAuthorized !== true) {
        line(403, ms);
        return answer(res, 403, { message: 'Forbidden' }, id);
      }
      const context = decision.result.context || {};
      let result;
      try {
        result = await orders.handler({ version: '2.0', ...request, requestContext: { ...request.requestContext, authorizer: { lambda: context } } });
      } catch (err) {
        line(500, `${ms}: the backend threw ${err && err.name}`);
        return answer(res, 500, { message: 'Internal Server Error' }, id);
      }
      line(result && result.statusCode || 200, `${ms}, session ${context.sessionId}`);
      if (!result || typeof result.statusCode !== 'number') return answer(res, 200, result === undefined ? null : result, id);
      return answer(res, result.statusCode, result.body || '', id, result.headers || {});
    })().catch(() => {
      if (!res.headersSent) answer(res, 500, { message: 'Internal Server Error' }, requestId());
    }));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', resolve);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close();
    Promise.resolve(authorizer.stop()).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.error(`serve-local: GET ${ROUTE.path} through the bundled Sentinel session authorizer (audience ${o.audience}, profiles `
    + `${o.allowedProfiles || 'any'}, active answers cached ${o.cacheSeconds} s), introspecting at ${o.tvmUrl} as ${o.principal}`);
  console.log(`serve-local: orders API at http://127.0.0.1:${server.address().port}/`);
}

main().catch((err) => {
  console.error(`serve-local: ${err.message}`);
  process.exit(1);
});
