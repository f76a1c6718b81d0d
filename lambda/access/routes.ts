import { GrantStore } from './grants';
import { PersonResolver, type GetRole } from './person';
import {
  approveRequest, breakGlass, cancelRequest, createRequest, denyRequest, getRequest, listRequests, listReviews, reviewSession,
  withdrawRequest, type AccessContext,
} from './requests';
import { ApiError } from '../errors';
import { bodyOf, describe, queryOf, type RouteModule, type SharedContext, type TvmEvent } from '../handler';
import { json } from '../http';
import type { Caller } from '../identity';

const ROUTES = [
  { pattern: /^\/requests$/, methods: ['GET', 'POST'] },
  { pattern: /^\/requests\/[^/]+$/, methods: ['GET'] },
  { pattern: /^\/requests\/[^/]+\/(approve|deny|cancel|withdraw)$/, methods: ['POST'] },
  { pattern: /^\/breakglass$/, methods: ['POST'] },
  { pattern: /^\/reviews$/, methods: ['GET'] },
  { pattern: /^\/sessions\/[^/]+\/review$/, methods: ['POST'] },
] as const;

const DECISIONS = { approve: approveRequest, deny: denyRequest, cancel: cancelRequest, withdraw: withdrawRequest } as const;

function noQuery(event: TvmEvent): void {
  if (Object.keys(queryOf(event)).length > 0) throw new ApiError('INVALID_REQUEST', 'This resource takes no query parameters.');
}

/**
 * The access function's routes: requests, approvals, break-glass and reviews. Only this function may call IAM GetRole
 * (to prove Identity Center callers as persons); the vending function never needs to.
 *
 * @param getRole IAM GetRole in the TVM's account
 * @param tvmAccount the TVM's account; undefined: only IAM users are proven persons
 */
export function accessRoutes(getRole: GetRole, tvmAccount: string | undefined): RouteModule {
  let persons: PersonResolver | undefined;
  let context: AccessContext | undefined;
  const contextOf = (shared: SharedContext): AccessContext => {
    if (context) return context;
    persons = new PersonResolver({ tvmAccount, getRole: tvmAccount ? getRole : async () => undefined, now: shared.now });
    const resolver = persons;
    context = {
      grants: new GrantStore(shared.ddb, shared.settings.tableName, shared.settings.controlTableName),
      config: shared.config,
      now: shared.now,
      newSessionId: shared.newSessionId,
      grantKey: shared.grantKey,
      retentionSeconds: shared.settings.retentionSeconds,
      serverInstanceId: shared.serverInstanceId,
      personOf: async (caller: Caller) => {
        try {
          return await resolver.personOf(caller);
        } catch (err) {
          // IAM could not answer: never "unverified", which would refuse a real approver for a transient fault.
          throw new ApiError('STORE_UNAVAILABLE', 'The credential service is temporarily unavailable.', {}, `person: ${describe(err)}`);
        }
      },
    };
    return context;
  };
  return {
    routes: ROUTES,
    async handle(shared, caller, method, path, event, facts) {
      const ctx = contextOf(shared);
      const [, first, id, action] = path.split('/');
      if (first === 'requests' && id === undefined) {
        if (method === 'GET') return json(200, await listRequests(ctx, caller, queryOf(event), facts));
        noQuery(event);
        return json(201, await createRequest(ctx, caller, bodyOf(event), facts));
      }
      if (first === 'requests' && action === undefined) {
        noQuery(event);
        return json(200, await getRequest(ctx, caller, id, facts));
      }
      if (first === 'requests') {
        noQuery(event);
        return json(200, await DECISIONS[action as keyof typeof DECISIONS](ctx, caller, id, bodyOf(event), facts));
      }
      if (first === 'breakglass') {
        noQuery(event);
        return json(201, await breakGlass(ctx, caller, bodyOf(event), facts));
      }
      if (first === 'reviews') return json(200, await listReviews(ctx, caller, queryOf(event), facts));
      noQuery(event);
      return json(200, await reviewSession(ctx, caller, id, bodyOf(event), facts));
    },
  };
}
