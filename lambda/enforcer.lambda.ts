import { Logger } from '@aws-lambda-powertools/logger';
import { enforcerDynamoClient, enforcerIamClient } from './enforcer/clients';
import { createEnforcer } from './enforcer/enforce';
import { Env } from '../src/shared/contract';

// The revocation enforcer (SPEC §7): stream records of revocations and a schedule invoke it.
// Built once per container: table name, SDK clients, logger (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL).
const tableName = process.env[Env.TABLE_NAME];
if (!tableName) {
  throw new Error(`environment variable ${Env.TABLE_NAME} is not set: it names the session table`);
}
const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });

export const handler = createEnforcer({
  tableName,
  ddb: enforcerDynamoClient(),
  iam: enforcerIamClient(),
  log: (level, message, fields) => {
    if (level === 'ERROR') logger.error(message, fields);
    else if (level === 'WARN') logger.warn(message, fields);
    else logger.info(message, fields);
  },
});
