import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError, ExitCode } from './errors';
import { Patterns } from '../src/shared/contract';

/** Where session ids are kept: `$SENTINEL_TVM_CACHE_DIR`, else `$XDG_CACHE_HOME/sentinel-tvm`, else `~/.cache/sentinel-tvm`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SENTINEL_TVM_CACHE_DIR) return path.resolve(env.SENTINEL_TVM_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'sentinel-tvm');
  return path.join(os.homedir(), '.cache', 'sentinel-tvm');
}

/** One file per TVM URL and profile. The file holds the session id only: never a credential. */
export function cacheFile(url: URL, profile: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = `${url.origin}${url.pathname.replace(/\/+$/, '')}\n${profile}`;
  return path.join(cacheDir(env), `session-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
}

export interface CachedSession {
  readonly url: string;
  readonly profile: string;
  readonly sessionId: string;
  readonly updatedAt: string;
}

const SESSION_ID = new RegExp(Patterns.SESSION_ID);

/** The cached session id, or undefined if there is none (a damaged file counts as none). */
export function readSession(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const id = (JSON.parse(text) as CachedSession).sessionId;
    return typeof id === 'string' && SESSION_ID.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the session id atomically, mode 0600 in a 0700 directory (session ids are not secrets, but they are the user's). */
export function writeSession(file: string, entry: CachedSession): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
    fs.writeFileSync(tmp, `${JSON.stringify(entry)}\n`, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    throw new CliError(ExitCode.LOCAL, `cannot write the session cache ${file}: ${(err as Error).message}`);
  }
}

export function removeSession(file: string): void {
  fs.rmSync(file, { force: true });
}
