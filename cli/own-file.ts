// Reading a file of the session cache (an entry, a lock) without being led elsewhere: a symbolic link as the last
// component is never followed, a FIFO never waited on, and the file is checked on its open descriptor before it is read.
import * as fs from 'fs';
import { CliError } from './errors';

// A flag the platform lacks is 0 (O_NOFOLLOW on Windows: there the file is lstat'ed before it is opened).
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

export interface OwnFileRefusals {
  /** The file is a symbolic link. */
  link(): CliError;
  /** The file cannot be opened (but for not existing). */
  unreadable(err: unknown): CliError;
}

/**
 * The file's text and status, or undefined if it does not exist. `check` sees the status of what was opened and throws
 * to refuse it (not a regular file, another owner...) before anything is read.
 */
export function readOwnFile(file: string, refusals: OwnFileRefusals, check: (st: fs.Stats) => void): { text: string; st: fs.Stats } | undefined {
  let fd: number;
  try {
    if (!O_NOFOLLOW && fs.lstatSync(file).isSymbolicLink()) throw refusals.link();
    // eslint-disable-next-line no-bitwise -- open(2) flags are a bit set
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (err instanceof CliError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // O_NOFOLLOW on a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD).
    if (code === 'ELOOP' || code === 'EMLINK') throw refusals.link();
    throw refusals.unreadable(err);
  }
  try {
    const st = fs.fstatSync(fd);
    check(st);
    return { text: fs.readFileSync(fd, 'utf8'), st };
  } finally {
    fs.closeSync(fd);
  }
}
