import * as fs from 'fs';
import { ENDPOINT_VAR } from './dynamodb-local';
import { GLOBAL_KEY, type GlobalDynamoDbLocal } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const started = (globalThis as any)[GLOBAL_KEY] as GlobalDynamoDbLocal | undefined;
  if (!started) return; // the endpoint was given from outside: not ours to stop
  delete (globalThis as any)[GLOBAL_KEY];
  process.removeListener('exit', started.onExit);
  await started.db.stop();
  fs.rmSync(started.stateFile, { force: true });
  if (process.env[ENDPOINT_VAR] === started.db.endpoint) delete process.env[ENDPOINT_VAR]; // a watch-mode rerun starts afresh
}
