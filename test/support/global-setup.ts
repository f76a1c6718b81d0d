// One DynamoDB Local for the whole jest run; workers inherit its endpoint through the environment.
import * as fs from 'fs';
import * as path from 'path';
import { ENDPOINT_VAR, startDynamoDbLocal } from './dynamodb-local';

export const PID_FILE = path.join(__dirname, '..', '..', '.tmp', 'dynamodb-local.pid');

export default async function globalSetup(): Promise<void> {
  if (process.env[ENDPOINT_VAR]) return; // an instance given from outside
  // A crashed earlier run may have left one behind.
  try {
    process.kill(-Number(fs.readFileSync(PID_FILE, 'utf8')), 'SIGKILL');
  } catch { /* none */ }
  const db = await startDynamoDbLocal();
  process.env[ENDPOINT_VAR] = db.endpoint;
  (globalThis as any).__DYNAMODB_LOCAL__ = db;
  fs.mkdirSync(path.dirname(PID_FILE), { recursive: true });
  fs.writeFileSync(PID_FILE, String(db.process.pid));
}
