// One vend at a time per cache file: processes started together (eight `aws` commands in a script) share one session
// and one vend instead of starting one each. A lock file beside the cache file, created with O_EXCL; its holder
// touches it while it works. A holder that died (its process is gone) or stopped touching it (frozen, killed on
// another host sharing the directory) loses it: a crashed process cannot hold it for longer than `staleMs`.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import { CliError, ExitCode } from './errors';
import { readOwnFile } from './own-file';

export interface LockTiming {
  /** How often a holder touches its lock file. */
  readonly heartbeatMs: number;
  /** A lock file not touched for this long is stale, whoever holds it. */
  readonly staleMs: number;
  /** How often a waiter looks again. */
  readonly pollMs: number;
  /**
   * The longest a waiter waits, whatever the lock file says: longer than any vend takes (two requests of at most 15 s),
   * so that a lock touched by a host whose clock is ahead, or kept alive by a stuck holder, cannot hold waiters forever.
   */
  readonly maxWaitMs: number;
}

export const LOCK_TIMING: LockTiming = { heartbeatMs: 1_000, staleMs: 10_000, pollMs: 40, maxWaitMs: 45_000 };

/** What a lock file holds: who holds it, and a token only the holder knows in advance. */
interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

/** Why a waiter took a lock over, for --verbose. */
export type Takeover = { readonly pid: number; readonly why: 'gone' | 'stale' | 'waited' };

export interface LockEvents {
  /** Called once, when the lock is held by another process and this one starts waiting. */
  waiting?(holderPid: number): void;
  /** Called when a dead or stale holder's lock is taken over. */
  tookOver?(t: Takeover): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readHolder(file: string): { holder?: Holder; mtimeMs: number } | undefined {
  const read = readOwnFile(file, {
    link: () => lockRefused(file, 'is a symbolic link, which is never followed'),
    unreadable: (err) => lockRefused(file, `cannot be read: ${(err as Error).message}`),
  }, (st) => {
    if (!st.isFile()) throw lockRefused(file, 'is not a regular file');
  });
  if (!read) return undefined;
  let holder: Holder | undefined;
  try {
    const h = JSON.parse(read.text);
    if (typeof h?.pid === 'number' && typeof h.host === 'string' && typeof h.token === 'string') holder = h;
  } catch {
    // Being written (created, not yet filled) or damaged: only its age counts.
  }
  return { holder, mtimeMs: read.st.mtimeMs };
}

const lockRefused = (file: string, what: string) =>
  new CliError(ExitCode.LOCAL, `the session cache lock ${file} ${what}: delete it (\`rm ${file}\`)`);

/** Whether a process of this host is gone. Another host's processes cannot be seen: only the lock's age tells. */
function isGone(holder: Holder): boolean {
  if (holder.host !== os.hostname()) return false;
  // 0 and negative numbers name process groups to kill(2): not a holder that can be checked.
  if (!Number.isInteger(holder.pid) || holder.pid <= 0 || holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes a lock file only if it is still the one that was judged dead or stale. It is first renamed aside (only one
 * of several waiters can rename one file), then its token is compared: had a live holder created a new lock in the
 * meantime, the file is put back where it was (link fails if yet another lock has appeared: then that one stands).
 */
function breakLock(file: string, judged: Holder | undefined): void {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else broke or released it first
  }
  let taken: Holder | undefined;
  try {
    taken = readHolder(aside)?.holder;
  } catch {
    taken = undefined;
  }
  if (judged && taken && taken.token !== judged.token) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Another lock exists now: that one stands.
    }
  }
  fs.rmSync(aside, { force: true });
}

export interface HeldLock {
  release(): void;
}

/**
 * Waits until this process holds the lock, or until `ready()` says the work is done (another process did it: then
 * undefined). `ready` is called before each wait, so that waiters leave as soon as the holder has written the cache.
 */
export async function acquireLock(file: string, ready: () => boolean, events: LockEvents = {},
  timing: LockTiming = LOCK_TIMING): Promise<HeldLock | undefined> {
  const me: Holder = { pid: process.pid, host: os.hostname(), token: randomBytes(16).toString('hex') };
  let announced = false;
  // How long this very lock (by its token) has been waited for: a new holder starts the count again.
  let waitingFor: { token?: string; since: number } | undefined; // performance.now(): a clock that never jumps
  for (;;) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CliError(ExitCode.LOCAL, `cannot create the session cache lock ${file}: ${(err as Error).message}`);
      }
    }
    if (fd !== undefined) {
      try {
        fs.writeSync(fd, JSON.stringify(me));
      } finally {
        fs.closeSync(fd);
      }
      return hold(file, me, timing);
    }
    if (ready()) return undefined;
    const seen = readHolder(file);
    if (seen === undefined) continue; // released between our attempt and the read
    const age = Date.now() - seen.mtimeMs;
    if (!waitingFor || waitingFor.token !== seen.holder?.token) waitingFor = { token: seen.holder?.token, since: performance.now() };
    if (seen.holder && isGone(seen.holder)) {
      events.tookOver?.({ pid: seen.holder.pid, why: 'gone' });
      breakLock(file, seen.holder);
      continue;
    }
    if (age > timing.staleMs || performance.now() - waitingFor.since > timing.maxWaitMs) {
      events.tookOver?.({ pid: seen.holder?.pid ?? 0, why: age > timing.staleMs ? 'stale' : 'waited' });
      breakLock(file, seen.holder);
      continue;
    }
    if (!announced) {
      announced = true;
      events.waiting?.(seen.holder?.pid ?? 0);
    }
    await sleep(timing.pollMs * (0.75 + Math.random() / 2));
  }
}

function hold(file: string, me: Holder, timing: LockTiming): HeldLock {
  const beat = setInterval(() => {
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch {
      // Broken by a waiter that judged us stale: nothing to keep alive.
    }
  }, timing.heartbeatMs);
  beat.unref();
  return {
    release() {
      clearInterval(beat);
      // Only our own lock: after a takeover, the file may be another holder's.
      try {
        if (readHolder(file)?.holder?.token === me.token) fs.rmSync(file, { force: true });
      } catch {
        // Unreadable now: leave it; it goes stale.
      }
    },
  };
}
