import { iamGetRole } from './access/iam';
import { accessRoutes } from './access/routes';
import { dynamoClient, stsClient } from './clients';
import { createHandler } from './handler';
import { readSettings } from './settings';

const settings = readSettings(process.env);

// The access function: requests, approvals, break-glass and reviews (the vending function's routes stay with it). Built
// once per container, like the vending function, plus the IAM client that proves Identity Center callers as persons.
export const handler = createHandler({
  settings,
  ddb: dynamoClient(),
  sts: stsClient(),
  routes: accessRoutes(iamGetRole(), settings.tvmAccount),
});
