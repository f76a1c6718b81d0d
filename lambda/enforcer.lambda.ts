import { Logger } from '@aws-lambda-powertools/logger';
import { stackStatusOf } from './aws/stack-guard';
import { createCleanupHandler, dynamoCleanupStore, isCustomResourceEvent } from './enforcer/cleanup';
import { enforcerCloudFormationClient, enforcerDynamoClient, enforcerIamClient } from './enforcer/clients';
import { createEnforcer, type EnforcerContext, type EnforcerLog } from './enforcer/enforce';
import { dynamoLease } from './enforcer/lease';
import { powertoolsEnforcerMetrics } from './enforcer/metrics';
import { readEnforcerSettings } from './enforcer/settings';
import { loadConfig } from './profiles';

// The revocation enforcer: stream records of revocations and a schedule invoke it; CloudFormation invokes it as the
// revocation cleanup resource. Built once per container: settings, SDK clients, logger and metrics
// (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL).
const settings = readEnforcerSettings(process.env);
const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });
const ddb = enforcerDynamoClient();
const iam = enforcerIamClient();
const log: EnforcerLog = (level, message, fields) => {
  if (level === 'ERROR') logger.error(message, fields);
  else if (level === 'WARN') logger.warn(message, fields);
  else logger.info(message, fields);
};
// One run at a time, in every container: the lease item in the control table.
const lease = dynamoLease({ ddb, tableName: settings.controlTableName, warn: (message, fields) => log('WARN', message, fields) });

// Read on every use, not cached: a role replaced in the configuration must be followed at once.
const deployedConfig = () => loadConfig(ddb, settings.controlTableName, settings.configDigest);

const enforce = createEnforcer({
  tableName: settings.tableName,
  ddb,
  iam,
  policyName: settings.policyName,
  protectedRolePath: settings.protectedRolePath,
  loadConfig: deployedConfig,
  metrics: powertoolsEnforcerMetrics(),
  log,
  lease,
});

const cleanup = createCleanupHandler({
  iam,
  stackId: settings.stackId,
  stackStatus: stackStatusOf(enforcerCloudFormationClient()),
  policyName: settings.policyName,
  // Its roles keep their deny outside a whole-stack deletion, whatever a Delete lists.
  loadConfig: deployedConfig,
  store: dynamoCleanupStore({ ddb, tableName: settings.controlTableName }),
  lease,
  log,
});

export async function handler(event: unknown, context?: EnforcerContext): Promise<unknown> {
  return isCustomResourceEvent(event) ? cleanup(event, context) : enforce(event, context);
}
