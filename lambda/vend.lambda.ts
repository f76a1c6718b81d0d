import { dynamoClient, stsClient } from './clients';
import { createHandler } from './handler';
import { readSettings } from './settings';

// Built once per container: settings, SDK clients, the cached profile configuration.
export const handler = createHandler({
  settings: readSettings(process.env),
  ddb: dynamoClient(),
  sts: stsClient(),
});
