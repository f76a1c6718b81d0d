import { GrantStore } from './access/grants';
import { iamGetRole } from './access/iam';
import { sweep, type SweepResult } from './access/lifecycle';
import { accessRoutes } from './access/routes';
import { dynamoClient, stsClient } from './clients';
import { createHandler, type TvmEvent } from './handler';
import type { HttpResponse } from './http';
import { loadConfig, type TvmConfig } from './profiles';
import { readSettings, tvmRevoker } from './settings';

const settings = readSettings(process.env);
const ddb = dynamoClient();

// The access function: requests, approvals, break-glass and reviews (the vending function's routes stay with it). Built
// once per container, like the vending function, plus the IAM client that proves Identity Center callers as persons.
const api = createHandler({
  settings,
  ddb,
  sts: stsClient(),
  routes: accessRoutes(iamGetRole(), settings.tvmAccount),
});

const grants = new GrantStore(ddb, settings.tableName, settings.controlTableName);
let config: Promise<TvmConfig> | undefined;

/** EventBridge's scheduled event: the lifecycle sweep. It decides nothing a request could not (see lifecycle.ts). */
interface ScheduledEvent {
  readonly 'source'?: string;
  readonly 'detail-type'?: string;
}

export async function handler(event: TvmEvent | ScheduledEvent): Promise<HttpResponse | SweepResult> {
  if ((event as ScheduledEvent)['detail-type'] === 'Scheduled Event') {
    config ??= loadConfig(ddb, settings.controlTableName, settings.configDigest).catch((err) => {
      config = undefined;
      throw err;
    });
    const result = await sweep({ grants, config: () => config!, now: () => new Date(), revokedBy: tvmRevoker(settings) });
    console.log(JSON.stringify({ level: 'INFO', message: 'lifecycle sweep', ...result }));
    return result;
  }
  return api(event as TvmEvent);
}
