// `sentinel-tvm proof` (the bundled command): an identity proof for a relying party, which STS accepts as its signer's.
import * as fs from 'fs';
import { checkBundle, cleanEnv, removeTempDirs, runCli } from './support/cli';
import { startLocalSts, type LocalSts } from './support/local-sts';
import { IdentityVerifier } from '../lambda/auth/proof';
import { IdentityProof } from '../src/shared/contract';

const AUDIENCE = 'orders.example.com';
const SESSION_ARN = 'arn:aws:sts::111122223333:assumed-role/tvm-test-ReadOnly/tvm-0123456789abcdef-req12345';
const DEVELOPER = 'arn:aws:iam::111122223333:user/dev';

let sts: LocalSts;

/** What STS says of a proof, checked as a relying party's TVM does: audience, host, region, age, then STS itself. */
const signerOf = (proof: string, audience = AUDIENCE) =>
  new IdentityVerifier({ audiences: [audience], region: 'us-east-1', endpoint: sts.endpoint }).verify(proof).then((i) => i.arn);
const envOf = (arn: string, extra: Record<string, string> = {}) => {
  const keys = sts.principal(arn);
  return cleanEnv({ AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_REGION: 'us-east-1', ...extra });
};

beforeAll(async () => {
  checkBundle();
  sts = await startLocalSts();
});
afterAll(async () => {
  await sts?.stop();
  removeTempDirs();
});

test('GIVEN a session\'s credentials in the environment WHEN proof runs THEN it prints one proof STS accepts as that session', async () => {
  const res = await runCli(['proof', '--audience', AUDIENCE], envOf(SESSION_ARN));

  expect(res).toMatchObject({ code: 0, stderr: '' });
  expect(res.stdout).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
  const proof = res.stdout.trim();
  const headers = JSON.parse(Buffer.from(proof, 'base64').toString('utf8')).headers;
  expect(headers[IdentityProof.AUDIENCE_HEADER]).toBe(AUDIENCE);
  expect(headers.authorization).toMatch(/\/us-east-1\/sts\/aws4_request, SignedHeaders=[^,]*x-sentinel-tvm-audience/);
  expect(await signerOf(proof)).toBe(SESSION_ARN);
  expect(sts.identityCalls.at(-1)).toEqual({ arn: SESSION_ARN, status: 200 });
});

test('GIVEN a proof for one audience WHEN another service checks it THEN it is refused', async () => {
  const res = await runCli(['proof', '--audience', AUDIENCE], envOf(SESSION_ARN));

  await expect(signerOf(res.stdout.trim(), 'billing.example.com')).rejects.toMatchObject({ code: 'IAM_AUTH_REQUIRED' });
});

test('GIVEN --profile and --region WHEN proof runs THEN it signs with that AWS profile for that region', async () => {
  const keys = sts.principal(DEVELOPER);
  const env = cleanEnv({ AWS_REGION: 'eu-west-1' });
  fs.writeFileSync(env.AWS_SHARED_CREDENTIALS_FILE,
    `[dev]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`);
  const res = await runCli(['proof', '--audience', AUDIENCE, '--profile', 'dev', '--region', 'us-east-1'], env);

  expect(res.code).toBe(0);
  expect(await signerOf(res.stdout.trim())).toBe(DEVELOPER);
});

test.each<[string, string[], Record<string, string>, number, RegExp]>([
  ['a missing --audience', ['proof'], {}, 2, /--audience is required/],
  ['an audience with a space', ['proof', '--audience', 'orders example'], {}, 2, /--audience "orders example"/],
  ['no region', ['proof', '--audience', AUDIENCE], { AWS_REGION: '' }, 2, /--region is required \(or set AWS_REGION\)/],
  ['a region that is not one', ['proof', '--audience', AUDIENCE, '--region', 'Europe'], {}, 2, /--region "Europe" is not an AWS region/],
  ['an unknown AWS profile', ['proof', '--audience', AUDIENCE, '--profile', 'nobody'], {}, 4,
    /no AWS credentials to sign with from AWS profile "nobody"/],
])('refuses %s, printing no proof', async (_case, args, extra, code, message) => {
  const res = await runCli(args, envOf(DEVELOPER, extra));

  expect(res.code).toBe(code);
  expect(res.stdout).toBe('');
  expect(res.stderr).toMatch(message);
});

test('refuses to sign without credentials: exit 4', async () => {
  const res = await runCli(['proof', '--audience', AUDIENCE], cleanEnv({ AWS_REGION: 'us-east-1' }));

  expect(res.code).toBe(4);
  expect(res.stdout).toBe('');
  expect(res.stderr).toMatch(/^sentinel-tvm: no AWS credentials to sign with from the environment or the default credential chain/);
});

test('proof --help tells what the proof is for, and the command is listed', async () => {
  const help = await runCli(['proof', '--help'], cleanEnv());
  const main = await runCli(['--help'], cleanEnv());

  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: sentinel-tvm proof --audience NAME');
  expect(main.stdout).toContain('sentinel-tvm proof --audience NAME');
});
