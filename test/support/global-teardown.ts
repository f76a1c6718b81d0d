import * as fs from 'fs';
import { PID_FILE } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const db = (globalThis as any).__DYNAMODB_LOCAL__;
  if (!db) return;
  await db.stop();
  fs.rmSync(PID_FILE, { force: true });
}
