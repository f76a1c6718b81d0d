// One IAM decision on synthesized policies, through an IAM policy simulator (@cloud-copilot/iam-simulate): identity
// policies, a resource policy and a permissions boundary, as IAM combines them.
import { runSimulation } from '@cloud-copilot/iam-simulate';

export type Context = Record<string, string | string[]>;

export interface Decision {
  readonly principal: string;
  readonly action: string;
  readonly resource: string;
  readonly resourceAccount: string;
  readonly identityPolicies: unknown[];
  readonly context?: Context;
  readonly resourcePolicy?: unknown;
  readonly boundary?: unknown;
}

/** The decision IAM makes on one request: 'Allowed', 'ImplicitlyDenied' or 'ExplicitlyDenied'. */
export async function decide(d: Decision): Promise<string> {
  const result = await runSimulation({
    request: {
      principal: d.principal, action: d.action, resource: { resource: d.resource, accountId: d.resourceAccount }, contextVariables: d.context ?? {},
    },
    identityPolicies: d.identityPolicies.map((policy, i) => ({ name: `p${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: d.resourcePolicy,
    permissionBoundaryPolicies: d.boundary ? [{ name: 'boundary', policy: d.boundary }] : undefined,
  }, {});
  if (result.resultType === 'error') throw new Error(`the simulation did not run: ${JSON.stringify(result.errors)}`);
  return result.overallResult;
}

/** The resources of a synthesized template of one type, with their logical ids. */
export const resourcesOf = (template: any, type: string): Array<[string, any]> =>
  Object.entries<any>(template.Resources).filter(([, r]) => r.Type === type);
