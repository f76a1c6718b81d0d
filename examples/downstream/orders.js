// The backend of the downstream orders API (examples/downstream-api.ts): it answers who called, from what the Sentinel
// session authorizer put in the request's context (payload 2.0: `requestContext.authorizer.lambda`). Requests reach it
// only when the authorizer admitted them: the caller held credentials of a live TVM session.
'use strict';

exports.handler = async (event) => {
  const caller = (event && event.requestContext && event.requestContext.authorizer && event.requestContext.authorizer.lambda) || {};
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: `orders of ${caller.user}`,
      caller: { user: caller.user, sessionId: caller.sessionId, profile: caller.profile, roleArn: caller.roleArn },
      orders: [],
    }),
  };
};
