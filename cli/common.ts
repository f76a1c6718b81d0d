// What the commands share, without the AWS SDK: the credential commands' cache hits load nothing heavier.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { OptionKinds } from './args';
import { CliError, usageError } from './errors';
import { printable } from './format';
import { Patterns } from '../src/shared/contract';

/** Where a command writes, and the environment it reads (injectable for tests). */
export interface Io {
  readonly env: NodeJS.ProcessEnv;
  readonly userAgent?: string;
  out(text: string): void;
  err(text: string): void;
}

export const PROFILE = new RegExp(Patterns.PROFILE);
export const SESSION_ID = new RegExp(Patterns.SESSION_ID);
export const DEVICE_ID = new RegExp(Patterns.DEVICE_ID);
export const CLIENT_OPTIONS: OptionKinds = { 'url': 'value', 'region': 'value', 'source-profile': 'value', 'json': 'flag' };

/**
 * Guards against a credential chain that leads back to this very command (AWS_PROFILE naming the profile whose
 * credential_process is `sentinel-tvm credentials`): every nested call would start another one, without end.
 */
export const CHAIN_VAR = 'SENTINEL_TVM_CREDENTIAL_CHAIN';
/** Names a TVM URL and profile in {@link CHAIN_VAR}: the tail of its cache file's digest. */
export const chainKeyOf = (cachePath: string) => path.basename(cachePath, '.json').slice(-16);

/** The credential_process of a profile of the AWS config file, if any (a minimal INI read: sections and keys). */
export function credentialProcessOf(profile: string, env: NodeJS.ProcessEnv): string | undefined {
  const file = env.AWS_CONFIG_FILE ?? path.join(os.homedir(), '.aws', 'config');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      const name = section[1].replace(/^profile\s+/, '');
      inside = name === profile;
      continue;
    }
    const kv = inside ? /^credential_process\s*=\s*(.*)$/.exec(line) : null;
    if (kv) return kv[1];
  }
  return undefined;
}

/**
 * The credential chain would run `sentinel-tvm credentials` again to get credentials to sign with: a profile whose
 * credentials come from the TVM cannot sign its own request to the TVM.
 */
export function refuseSelfSigning(sourceProfile: string | undefined, env: NodeJS.ProcessEnv): void {
  const profile = sourceProfile ?? env.AWS_PROFILE;
  if (!profile) return;
  const command = credentialProcessOf(profile, env);
  if (command && /sentinel-tvm/.test(command) && /\bcredentials\b/.test(command)) {
    const via = sourceProfile ? `--source-profile ${profile}` : `AWS_PROFILE=${profile}`;
    throw usageError(`${via} gets its credentials from \`sentinel-tvm credentials\` itself, so it cannot sign requests to the TVM: `
      + 'pass --source-profile with the profile that holds your own credentials (or unset AWS_PROFILE for this command)');
  }
}

export function profileOption(raw: string | undefined, required: boolean): string | undefined {
  if (raw === undefined) {
    if (required) throw usageError('--profile is required: the name of a TVM profile (`sentinel-tvm profiles` lists yours)');
    return undefined;
  }
  if (!PROFILE.test(raw)) throw usageError(`--profile "${raw}" is not a profile name: expected ${Patterns.PROFILE}`);
  return raw;
}

export function sessionIdArg(raw: string): string {
  if (!SESSION_ID.test(raw)) throw usageError(`session id "${raw}" is not valid: expected 16 lowercase hexadecimal characters`);
  return raw;
}

/** The TVM's error code and message (or a peer's text in a network error) reach the terminal made printable. */
export function printableError(err: unknown): unknown {
  return err instanceof CliError ? new CliError(err.exitCode, printable(err.message)) : err;
}

