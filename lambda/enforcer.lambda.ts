import { Logger } from '@aws-lambda-powertools/logger';
import { stackStatusOf } from './aws/stack-guard';
import { createCleanupHandler, dynamoCleanupStore, isCustomResourceEvent } from './enforcer/cleanup';
import { enforcerCloudFormationClient, enforcerDynamoClient, enforcerIamClient, enforcerStsClient } from './enforcer/clients';
import { createEnforcer, type EnforcerContext, type EnforcerLog } from './enforcer/enforce';
import { dynamoLease } from './enforcer/lease';
import { powertoolsEnforcerMetrics, powertoolsTamperMetrics } from './enforcer/metrics';
import { organizationsClient, partitionOfRegion } from './enforcer/organization';
import { readEnforcerSettings } from './enforcer/settings';
import { spokeIamClients } from './enforcer/spokes';
import { eventsClient } from './events/clients';
import { powertoolsEventsFailed } from './events/metrics';
import { eventPublisher } from './events/publish';
import { loadConfig } from './profiles';
import { enforcerRoleName, vendRoleName } from '../src/shared/contract';

// The revocation enforcer: stream records of revocations and a schedule invoke it; CloudFormation invokes it as the
// revocation cleanup resource. Built once per container: settings, SDK clients, logger and metrics
// (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL).
const settings = readEnforcerSettings(process.env);
const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });
const ddb = enforcerDynamoClient();
const iam = enforcerIamClient();
// Spoke accounts' clients are cached here, across warm invocations, until shortly before their credentials expire.
const iamFor = settings.spokeRole
  ? spokeIamClients({ sts: enforcerStsClient(), spokeRole: settings.spokeRole, iamClient: enforcerIamClient })
  : undefined;
// The function's own credentials (the SDK's chain, as the IAM client resolves it); Organizations' endpoint of its partition.
const organization = settings.organizationPolicyId
  ? {
    policyId: settings.organizationPolicyId,
    client: organizationsClient({ credentials: () => iam.config.credentials(), partition: partitionOfRegion(process.env.AWS_REGION) }),
  }
  : undefined;
const log: EnforcerLog = (level, message, fields) => {
  if (level === 'ERROR') logger.error(message, fields);
  else if (level === 'WARN') logger.warn(message, fields);
  else logger.info(message, fields);
};
// Session events (the construct always names the TVM): put at the end of each run, within a few seconds.
const events = settings.tvmName
  ? {
    target: { tvmName: settings.tvmName, ...(settings.eventBus ? { eventBus: settings.eventBus } : {}) },
    publish: eventPublisher({ client: eventsClient() }),
    eventsFailed: powertoolsEventsFailed(),
  }
  : undefined;
// One run at a time, in every container: the lease item in the control table.
const lease = dynamoLease({ ddb, tableName: settings.controlTableName, warn: (message, fields) => log('WARN', message, fields) });

// Read on every use, not cached: a role replaced in the configuration must be followed at once.
const deployedConfig = () => loadConfig(ddb, settings.controlTableName, settings.configDigest);

const enforce = createEnforcer({
  tableName: settings.tableName,
  ddb,
  iam,
  ...(iamFor ? { iamFor } : {}),
  ...(organization ? { organization } : {}),
  policyName: settings.policyName,
  protectedRolePath: settings.protectedRolePath,
  ...(settings.spokeAccounts ? { spokeAccounts: settings.spokeAccounts } : {}),
  loadConfig: deployedConfig,
  metrics: powertoolsEnforcerMetrics(),
  log,
  lease,
  ...(events ? { events } : {}),
  tamper: tvmRoles,
  tamperMetrics: powertoolsTamperMetrics(),
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

/**
 * The roles whose CloudTrail events are the TVM's own work, from their fixed names (no more environment: it holds the
 * spoke list): the vending function's role, the enforcer's own, and each spoke's enforcement role, all under the runtime
 * path that `SENTINEL_SPOKE_ROLE` begins with, in the function's account (from its ARN, known at the first invocation).
 */
function tvmRoles(account: string | undefined): { vendRoleArn?: string; enforcerRoleArns?: string[] } {
  const region = process.env.AWS_REGION;
  if (!settings.spokeRole || !settings.tvmName || !region || !account) return {};
  const path = settings.spokeRole.slice(0, settings.spokeRole.lastIndexOf('/') + 1);
  const partition = partitionOfRegion(region);
  const arn = (acct: string, name: string) => `arn:${partition}:iam::${acct}:role/${name}`;
  return {
    vendRoleArn: arn(account, `${path}${vendRoleName(settings.tvmName, region)}`),
    enforcerRoleArns: [arn(account, `${path}${enforcerRoleName(settings.tvmName, region)}`),
      ...(settings.spokeAccounts ?? []).map((a) => arn(a, settings.spokeRole!))],
  };
}

export async function handler(event: unknown, context?: EnforcerContext): Promise<unknown> {
  return isCustomResourceEvent(event) ? cleanup(event, context) : enforce(event, context);
}
