import { DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';

/**
 * Tells a custom-resource request CloudFormation sends from one anyone able to invoke the function could send: it must
 * name the function's own stack (the construct passes `AWS::StackId`), and that stack must be, now, in a status in which
 * CloudFormation sends such a request. It narrows a forged request to the windows of a real operation; the handlers
 * decide what is safe inside them.
 */

export type CustomResourceRequestType = 'Create' | 'Update' | 'Delete';

/** The function's own stack, and how to read its status. */
export interface StackGuard {
  /** The function's own stack id (`AWS::StackId`). */
  readonly stackId: string;
  /** The stack's status now (DescribeStacks): {@link stackStatusOf}. */
  readonly stackStatus: (stackId: string) => Promise<string | undefined>;
}

/**
 * The stack statuses in which CloudFormation sends each request to a resource: a creation, or an update adding the
 * resource; an update, or its rollback; a stack deletion, an update's cleanup of a removed or replaced resource, a
 * rollback (of an update, or of a creation) deleting what it had created.
 */
export const CUSTOM_RESOURCE_STACK_STATUSES: Record<CustomResourceRequestType, readonly string[]> = {
  Create: ['CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS'],
  Update: ['UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS'],
  Delete: [
    'DELETE_IN_PROGRESS',
    'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS',
    'UPDATE_ROLLBACK_IN_PROGRESS',
    'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS',
    'ROLLBACK_IN_PROGRESS',
  ],
};

/** DescribeStacks on the stack id: its status, or undefined when it has none. */
export function stackStatusOf(cfn: CloudFormationClient): (stackId: string) => Promise<string | undefined> {
  return async (stackId) => (await cfn.send(new DescribeStacksCommand({ StackName: stackId }))).Stacks?.[0]?.StackStatus;
}

/** The stack's status when CloudFormation could be sending this request now; otherwise why it is refused. */
export async function checkStackRequest(guard: StackGuard, event: { readonly RequestType: string; readonly StackId: string }):
Promise<{ readonly stackStatus: string } | { readonly refused: string }> {
  if (event.StackId !== guard.stackId) return { refused: 'the request names another stack than the function\'s own' };
  const allowed = CUSTOM_RESOURCE_STACK_STATUSES[event.RequestType as CustomResourceRequestType];
  if (!allowed) return { refused: `unknown request type ${String(event.RequestType).slice(0, 40)}` };
  let stackStatus: string | undefined;
  try {
    stackStatus = await guard.stackStatus(guard.stackId);
  } catch (err) {
    const e = err as Error;
    return { refused: `the stack's status cannot be read (${e?.name ?? 'Error'}: ${String(e?.message ?? err).slice(0, 300)})` };
  }
  if (!stackStatus || !allowed.includes(stackStatus)) {
    return { refused: `CloudFormation sends no ${event.RequestType} while the stack is ${stackStatus ?? 'in no status'}` };
  }
  return { stackStatus };
}
