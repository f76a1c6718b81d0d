import { Logger } from '@aws-lambda-powertools/logger';
import { eventsClient } from './events/clients';
import { createEventsHandler, type EventsContext, type EventsLog, type StreamBatchResponse } from './events/handler';
import { powertoolsEventsFailed } from './events/metrics';
import { eventPublisher } from './events/publish';
import { readEventsFunctionSettings } from './events/settings';

// The events function: the session table's stream → EventBridge. Built once per container: settings, the EventBridge
// client, logger and metrics (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL).
const target = readEventsFunctionSettings(process.env);
const logger = new Logger({ logRecordOrder: ['level', 'message', 'timestamp', 'service'] });
const log: EventsLog = (level, message, fields) => {
  if (level === 'ERROR') logger.error(message, fields);
  else if (level === 'WARN') logger.warn(message, fields);
  else logger.info(message, fields);
};
const handle = createEventsHandler({
  target,
  publish: eventPublisher({ client: eventsClient() }),
  log,
  eventsFailed: powertoolsEventsFailed(),
});

export async function handler(event: unknown, context?: EventsContext): Promise<StreamBatchResponse> {
  return handle(event, context);
}
