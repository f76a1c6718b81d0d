// One DynamoDB Local for the whole jest run; workers inherit its endpoint through the environment.
import * as fs from 'fs';
import * as path from 'path';
import { ENDPOINT_VAR, isDynamoDbLocalProcess, killDynamoDbLocal, startDynamoDbLocal, type RunningDynamoDbLocal } from './dynamodb-local';

/** One file per jest run (named by the jest pid): concurrent runs in one checkout must not kill each other's instance. */
export const STATE_DIR = path.join(__dirname, '..', '..', '.tmp', 'dynamodb-local');
export const GLOBAL_KEY = '__DYNAMODB_LOCAL__';

export interface GlobalDynamoDbLocal {
  readonly db: RunningDynamoDbLocal;
  readonly stateFile: string;
  readonly onExit: () => void;
}

interface StateFile { readonly owner: number; readonly pid: number; readonly endpoint: string }

const alive = (pid: number) => {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
};

/** Kills instances left by runs that died without their teardown (SIGKILL, OOM): their owner is gone. */
export function cleanOrphans(): void {
  let files: string[] = [];
  try { files = fs.readdirSync(STATE_DIR).filter((f) => f.endsWith('.json')); } catch { return; }
  for (const f of files) {
    const file = path.join(STATE_DIR, f);
    try {
      const state = JSON.parse(fs.readFileSync(file, 'utf8')) as StateFile;
      if (alive(state.owner)) continue;
      if (isDynamoDbLocalProcess(state.pid)) killDynamoDbLocal(state.pid);
    } catch { /* unreadable: drop it */ }
    fs.rmSync(file, { force: true });
  }
}

export default async function globalSetup(): Promise<void> {
  if (process.env[ENDPOINT_VAR]) return; // an instance given from outside: start nothing
  cleanOrphans();
  const db = await startDynamoDbLocal();
  // If jest exits without running the teardown (bail, uncaught error), still take the JVM down with it.
  const onExit = () => killDynamoDbLocal(db.process.pid!);
  process.once('exit', onExit);
  const stateFile = path.join(STATE_DIR, `${process.pid}.json`);
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(stateFile, JSON.stringify({ owner: process.pid, pid: db.process.pid!, endpoint: db.endpoint } satisfies StateFile));
  process.env[ENDPOINT_VAR] = db.endpoint;
  (globalThis as any)[GLOBAL_KEY] = { db, stateFile, onExit } satisfies GlobalDynamoDbLocal;
}
