// IAM GetRole for the access function: only it bundles the IAM client (the vending function never calls IAM).
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { PersonLookupError, type GetRole } from './person';
import { boundedRequestHandler, CLIENT_TIMEOUTS } from '../clients';

/** Answers that say "not a role this function may vouch for": the execution role may read the reserved path only. */
const NOT_READABLE = new Set(['NoSuchEntityException', 'NoSuchEntity', 'AccessDenied', 'AccessDeniedException']);

/** GetRole through the SDK: NoSuchEntity and AccessDenied are undefined, any other failure a {@link PersonLookupError}. */
export function iamGetRole(iam: IAMClient = defaultIamClient()): GetRole {
  return async (roleName) => {
    let out;
    try {
      out = await iam.send(new GetRoleCommand({ RoleName: roleName }));
    } catch (err) {
      const name = (err as Error)?.name ?? 'Error';
      if (NOT_READABLE.has(name)) return undefined;
      // The name only: the SDK's message can echo the request.
      throw new PersonLookupError(`IAM GetRole of ${roleName} failed: ${name}`, { cause: err });
    }
    const { Path: path, RoleId: roleId } = out.Role ?? {};
    if (!path || !roleId) throw new PersonLookupError(`IAM GetRole of ${roleName} answered without the role's path or id`);
    return { path, roleId };
  };
}


/** IAM (global), with the TVM's timeouts. */
function defaultIamClient(): IAMClient {
  return new IAMClient({
    maxAttempts: CLIENT_TIMEOUTS.maxAttempts,
    requestHandler: boundedRequestHandler(CLIENT_TIMEOUTS.connectionTimeout, CLIENT_TIMEOUTS.requestTimeout),
  });
}
