import { Logger } from '@aws-lambda-powertools/logger';
import { enforcerDynamoClient, enforcerIamClient } from './enforcer/clients';
import { createEnforcer } from './enforcer/enforce';
import { powertoolsEnforcerMetrics } from './enforcer/metrics';
import { readEnforcerSettings } from './enforcer/settings';
import { loadConfig } from './profiles';

// The revocation enforcer: stream records of revocations and a schedule invoke it.
// Built once per container: settings, SDK clients, logger and metrics (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL).
const settings = readEnforcerSettings(process.env);
const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });
const ddb = enforcerDynamoClient();

export const handler = createEnforcer({
  tableName: settings.tableName,
  ddb,
  iam: enforcerIamClient(),
  policyName: settings.policyName,
  protectedRolePath: settings.protectedRolePath,
  // Read on every run, not cached: a role replaced in the configuration must be followed at once.
  loadConfig: () => loadConfig(ddb, settings.controlTableName, settings.configDigest),
  metrics: powertoolsEnforcerMetrics(),
  log: (level, message, fields) => {
    if (level === 'ERROR') logger.error(message, fields);
    else if (level === 'WARN') logger.warn(message, fields);
    else logger.info(message, fields);
  },
});
