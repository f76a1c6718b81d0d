#!/usr/bin/env node
// One AWS call against `sentinel-tvm local`'s AWS endpoint (the "AWS at" URL it prints): S3 ListBuckets, signed with
// SigV4 with the credentials of this environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), as
// `sentinel-tvm exec` or credential_process gives them. Prints one line; exit 0 when allowed, 1 when refused.
//   node scripts/local-call.js http://127.0.0.1:PORT/
'use strict';
const http = require('http');
const { Hash } = require('@smithy/hash-node');
const { HttpRequest } = require('@smithy/protocol-http');
const { SignatureV4 } = require('@smithy/signature-v4');

const ACTION = 's3:ListAllMyBuckets';

async function main() {
  const target = process.argv[2];
  if (!target || !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?$/.test(target)) {
    console.error('usage: node scripts/local-call.js http://127.0.0.1:PORT/ (the "AWS at" URL of sentinel-tvm local)');
    return 2;
  }
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env;
  if (!accessKeyId || !secretAccessKey) {
    console.error('local-call: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (e.g. run it under sentinel-tvm exec)');
    return 2;
  }
  const url = new URL(target);
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  const signer = new SignatureV4({
    service: 's3', region, credentials: { accessKeyId, secretAccessKey, sessionToken }, sha256: Hash.bind(null, 'sha256'),
    // S3 signs its path as is, and the payload's hash rides in x-amz-content-sha256.
    uriEscapePath: false, applyChecksum: true,
  });
  const signed = await signer.sign(new HttpRequest({
    protocol: 'http:', method: 'GET', hostname: url.hostname, port: Number(url.port) || 80, path: '/', headers: { host: url.host },
  }));
  const { status, body } = await new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port || 80, method: 'GET', path: '/', headers: signed.headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.end();
  });
  if (status === 200) {
    console.log(`${ACTION}: allowed`);
    return 0;
  }
  const tag = (name) => (new RegExp(`<${name}>([^<]*)</${name}>`).exec(body) || [])[1];
  const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  console.log(`${ACTION}: ${tag('Code') || `HTTP ${status}`} (${unescape(tag('Message') || body.slice(0, 200))})`);
  return 1;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`local-call: ${err.message}`);
  process.exitCode = 3;
});
