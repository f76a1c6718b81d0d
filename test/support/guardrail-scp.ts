// The guardrail SCP shipped in docs/guardrails/, as the tests evaluate it: its placeholders filled for a synthesized
// TVM, and one request decided by an IAM policy simulator for a principal with full access under it.
import * as fs from 'fs';
import * as path from 'path';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { ACCOUNT } from './synth';

const SCP_FILE = path.join(__dirname, '..', '..', 'docs', 'guardrails', 'tvm-account-scp.json');
export const DEPLOY_ROLE = `arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`;
const FULL_ACCESS = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

/** The SCP file's text for a TVM named `serviceName` in stack `stackName` (its API id: abc123), deployed by {@link DEPLOY_ROLE}. */
export function guardrailScpText(serviceName: string, stackName: string): string {
  return fs.readFileSync(SCP_FILE, 'utf8').replace(/<DEPLOYMENT_ROLE_ARN>/g, DEPLOY_ROLE).replace(/<SERVICE_NAME>/g, serviceName)
    .replace(/<TVM_STACK_NAME>/g, stackName).replace(/<API_ID>/g, 'abc123');
}

/** The SCP for a TVM named `serviceName` in stack `stackName` (its API id: abc123), deployed by {@link DEPLOY_ROLE}. */
export function guardrailScp(serviceName: string, stackName: string): unknown {
  return JSON.parse(guardrailScpText(serviceName, stackName));
}

/** The overall decision on `action` on `resource` by `principal`, whose identity policy allows everything, under `scp`. */
export async function decideUnderScp(scp: unknown, principal: string, action: string, resource: string,
  context: Record<string, string>): Promise<string> {
  const result = await runSimulation({
    request: { principal, action, resource: { resource, accountId: ACCOUNT }, contextVariables: context },
    identityPolicies: [{ name: 'full', policy: FULL_ACCESS }],
    serviceControlPolicies: [{ orgIdentifier: 'r-root', policies: [{ name: 'full', policy: FULL_ACCESS }, { name: 'tvm', policy: scp }] }],
    resourceControlPolicies: [],
  }, {});
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}
